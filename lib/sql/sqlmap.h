/*
 * Cross-dialect type mapping and value conversion for the SQL targets
 * (and verify, which compares what they wrote).
 *
 * One rule table (sqlmap.c) says, for a column type of a source dialect,
 * which type of the other dialect holds every value exactly and how a
 * value is written into it. The same table renders the tables of
 * docs/type-mapping.md (dbs__sqlmap_doc), and a unit test keeps the two
 * equal, so the documentation cannot drift from the code.
 *
 * Nothing here allocates per value: output goes into a caller's reusable
 * dbs_buf. Nothing here talks to a server.
 */
#ifndef DBS_SQL_SQLMAP_H
#define DBS_SQL_SQLMAP_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>

#include "sql/value_text.h"

/*
 * What to do with a MySQL zero or partial-zero date ('0000-00-00',
 * '2024-00-10', '2024-01-00 12:00:00') bound for PostgreSQL, which has no
 * such value. Proposed configuration key: target.options.zeroDates =
 * "fail" | "null" | "-infinity".
 */
typedef enum dbs_zero_date_policy {
	DBS_ZERO_DATE_FAIL = 0,     /* default: the batch fails, naming the value */
	DBS_ZERO_DATE_NULL,         /* written as NULL (NOT NULL columns still fail) */
	DBS_ZERO_DATE_NEG_INFINITY  /* written as '-infinity' */
} dbs_zero_date_policy;

/* How a source column's values are written (one per family of types). */
typedef enum dbs_sqlclass {
	DBS_SQL_OTHER = 0, /* text form as is (strings, inet, uuid, …) */
	DBS_SQL_BOOL,
	DBS_SQL_INT,
	DBS_SQL_DECIMAL,   /* exact decimal with precision */
	DBS_SQL_NUMERIC,   /* PostgreSQL numeric without precision */
	DBS_SQL_FLOAT,
	DBS_SQL_DATE,
	DBS_SQL_TIME,
	DBS_SQL_TIMETZ,
	DBS_SQL_DATETIME,  /* wall clock: MySQL DATETIME, PostgreSQL timestamp */
	DBS_SQL_TIMESTAMP, /* instant: MySQL TIMESTAMP, PostgreSQL timestamptz */
	DBS_SQL_INTERVAL,
	DBS_SQL_YEAR,
	DBS_SQL_STRING,    /* character data */
	DBS_SQL_BINARY,    /* byte strings: BLOB, BINARY, bytea */
	DBS_SQL_BIT,
	DBS_SQL_VARBIT,    /* PostgreSQL bit varying */
	DBS_SQL_ENUM,
	DBS_SQL_SET,
	DBS_SQL_JSON,
	DBS_SQL_GEOMETRY,
	DBS_SQL_UUID,
	DBS_SQL_ARRAY      /* PostgreSQL array; elem says of what */
} dbs_sqlclass;

/*
 * A source column type, parsed from dbs_column.type_name. `args` points
 * into the column's type_name (the table must stay referenced while this
 * is used).
 */
typedef struct dbs_sqltype {
	const void *rule;       /* the matching rule of the table (never NULL) */
	dbs_dialect dialect;    /* the source's */
	uint8_t cls;            /* dbs_sqlclass */
	uint8_t elem;           /* element class for DBS_SQL_ARRAY */
	uint8_t is_unsigned;
	uint8_t is_key;
	int32_t key_len;        /* MySQL: width of a long key column (0: alone) */
	int32_t len;            /* character length, byte length or bits; -1 none */
	int32_t prec, scale;    /* -1 none */
	int32_t fsp;            /* fractional-second digits; -1 none */
	const char *args;       /* inside the first parentheses: enum('a','b') */
	uint32_t args_len;
	const char *column;     /* column name (for CHECK clauses and messages) */
	const char *type_name;  /* as the source spelled it */
} dbs_sqltype;

/*
 * Parse column `col` of `def`. Never fails: a type no rule knows gets the
 * catch-all rule of its dialect (text form into a text column).
 */
void dbs__sqlmap_parse(const dbs_table *def, const dbs_column *col, dbs_sqltype *out);

/* The type its rule maps `t` to in the other dialect, as the rule table
 * spells it ("float", "boolean", "numeric(%P,%S)"). */
const char *dbs__sqlmap_rule_target(const dbs_sqltype *t);

/*
 * Append the column type to create in `target` for `t` (same dialect: the
 * source's spelling as is). For PostgreSQL a MySQL ENUM becomes
 * `text CHECK ("col" IN (…))`. For MySQL, key columns whose mapped type
 * cannot be an index key (longtext, longblob) become varchar(768) /
 * varbinary(3072) (narrower when the key has several columns: see
 * dbs__sqlmap_key_widths). DBS_EINVAL when the source gave no type name
 * to copy (same dialect); DBS_ENOMEM on allocation failure.
 */
int dbs__sqlmap_target_type(dbs_buf *out, const dbs_sqltype *t, dbs_dialect target);

/*
 * Share InnoDB's 3072-byte key among the key columns of one table that
 * map to longtext/longblob (PostgreSQL text, bytea): sets their key_len
 * so the primary key fits beside the other key columns. Call once after
 * parsing every column of the table, before dbs__sqlmap_target_type.
 */
void dbs__sqlmap_key_widths(dbs_sqltype *types, uint32_t n);

/*
 * How a MySQL secondary index names column `t` (its type as
 * dbs__sqlmap_target_type creates it), when the index's columns may use
 * `budget` bytes of InnoDB's 3072-byte key between them: 0 when the
 * whole column fits; a prefix length (characters for text, bytes for
 * binary) for TEXT/BLOB columns and character or binary columns wider
 * than the budget; -1 when MySQL cannot put it in a plain index (JSON,
 * geometry). DBS_ENOMEM is returned as -2.
 */
int32_t dbs__sqlmap_index_prefix(const dbs_sqltype *t, int32_t budget);

/*
 * Append `v`, a value of source column `t`, as a MySQL SQL literal for a
 * session with sql_mode NO_BACKSLASH_ESCAPES and time_zone '+00:00'
 * (strings in single quotes with quotes doubled, bytes as X'…', NULL as
 * NULL). PostgreSQL text forms are converted as the column type says
 * (booleans, bytea hex, timestamptz to UTC, arrays to JSON, bit strings).
 * Values MySQL cannot hold (infinity, NaN, BC dates, years past 9999,
 * numeric beyond decimal(65,30)) fail with DBS_EINVAL and a message in
 * err naming the value; DBS_ENOMEM when the buffer cannot grow.
 * DBS_VALUE_UNCHANGED is DBS_EINVAL: the caller leaves such columns out.
 */
int dbs__sqlmap_value_mysql(dbs_buf *out, const dbs_sqltype *t, const dbs_value *v,
                            char *err, size_t errlen);

/*
 * Append `v`, a value of MySQL source column `t`, in the PostgreSQL text
 * input form for the mapped type (flags as dbs__value_text_pg: COPY
 * escaping). Adds what value_text does not know: zero dates by `policy`,
 * BIT(1) as t/f, BIT(n) as an n-digit bit string. Sets *is_null when the
 * policy turned the value into NULL (nothing appended, unless COPY flags
 * ask for \N). DBS_EINVAL with err for a refused value.
 */
int dbs__sqlmap_value_pg(dbs_buf *out, const dbs_sqltype *t, const dbs_value *v,
                         dbs_zero_date_policy policy, unsigned flags, int *is_null,
                         char *err, size_t errlen);

/* Append the mapping tables (both directions) as Markdown. */
int dbs__sqlmap_doc(dbs_buf *out);

#endif
