/*
 * MySQL/MariaDB schema statements, as the text of a binlog Query event.
 *
 * dbs__mysql_ddl_parse reads one statement (the bytes the server logged,
 * and the event's current database) and says one of three things:
 *
 *   DBS_MYSQL_DDL_NONE         not a change to a table's schema: BEGIN,
 *                              COMMIT, SAVEPOINT, GRANT, users, views,
 *                              routines, triggers, sequences, databases
 *                              created or altered, ANALYZE/OPTIMIZE,
 *                              temporary tables (not in a ROW binlog);
 *   DBS_MYSQL_DDL_CHANGES      a table schema statement, as a list of
 *                              changes in the order the server applies
 *                              them (possibly empty: ENGINE=, COMMENT,
 *                              ALGORITHM, ORDER BY... change nothing a
 *                              replica holds);
 *   DBS_MYSQL_DDL_UNSUPPORTED  a statement that changes tables, or may,
 *                              which this parser cannot interpret or
 *                              which cannot be replicated (DROP
 *                              PARTITION, system versioning, a data
 *                              change logged as a statement, anything
 *                              unrecognised): `why` says what, at which
 *                              byte. The stream stops before it.
 *
 * What is read: comments (slash-star, "-- ", "#"), MySQL's executable
 * comments (slash-star-bang with an optional version, and MariaDB's
 * slash-star-M-bang) whose content counts whatever the version (the source
 * server executed it if it logged it); backquoted identifiers with doubled
 * backquotes; 'strings' and "strings" with backslash escapes and doubled
 * quotes (flags: ANSI_QUOTES makes "..." an identifier,
 * NO_BACKSLASH_ESCAPES keeps backslashes); schema-qualified names; MariaDB's
 * IF [NOT] EXISTS forms.
 *
 * Names are kept as written, without quotes (doubled backquotes undone);
 * a table without a schema gets the event's database. Column and index
 * names compare case-insensitively (dbs__mysql_ddl_name_eq), table names as
 * the server's lower_case_table_names says (the caller's concern).
 *
 * Bounded: one pass over the bytes, no recursion (parenthesised
 * expressions are skipped by counting), every name and list in one arena
 * freed with the result. Any byte sequence is accepted as input.
 */
#ifndef DBS_MYSQL_DDL_H
#define DBS_MYSQL_DDL_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/sys/buf.h>

/* sql_mode bits that change how the text is read (Query event status). */
#define DBS_MYSQL_DDL_ANSI_QUOTES 0x1u
#define DBS_MYSQL_DDL_NO_BACKSLASH_ESCAPES 0x2u
#define DBS_MYSQL_DDL_REAL_AS_FLOAT 0x4u /* REAL is FLOAT, not DOUBLE */
/* MariaDB's Oracle syntax: its schema statements are UNSUPPORTED (DATE is
 * DATETIME there, VARCHAR2 and NUMBER are types...) */
#define DBS_MYSQL_DDL_ORACLE 0x8u

typedef enum dbs_mysql_ddl_class {
	DBS_MYSQL_DDL_NONE = 0,
	DBS_MYSQL_DDL_CHANGES,
	DBS_MYSQL_DDL_UNSUPPORTED
} dbs_mysql_ddl_class;

/* A column type: canonical lower-case name and its parameters. */
typedef struct dbs_mysql_type {
	const char *name; /* "int", "varchar", "decimal", "enum", ... */
	int32_t len;      /* length, precision or bits; -1: not given */
	int32_t scale;    /* decimals, fractional seconds; -1: not given */
	uint8_t is_unsigned;
	uint8_t zerofill;
	uint8_t binary;        /* CHAR(n) BINARY: the binary collation */
	const char *charset;   /* CHARACTER SET / CHARSET; NULL: the table's */
	const char *collation; /* COLLATE; NULL: the charset's default */
	const char **members;  /* ENUM / SET members, unquoted */
	uint32_t nmembers;
} dbs_mysql_type;

typedef enum dbs_mysql_default_kind {
	DBS_MYSQL_DEFAULT_NONE = 0, /* no DEFAULT clause */
	DBS_MYSQL_DEFAULT_NULL,
	DBS_MYSQL_DEFAULT_STRING, /* text: the unescaped value */
	DBS_MYSQL_DEFAULT_NUMBER, /* text: as written, sign included */
	DBS_MYSQL_DEFAULT_EXPR    /* text: as written (current_timestamp(3), (1 + 2), uuid()) */
} dbs_mysql_default_kind;

typedef struct dbs_mysql_default {
	dbs_mysql_default_kind kind;
	const char *text;
	size_t len;
} dbs_mysql_default;

typedef enum dbs_mysql_place {
	DBS_MYSQL_PLACE_END = 0,
	DBS_MYSQL_PLACE_FIRST,
	DBS_MYSQL_PLACE_AFTER
} dbs_mysql_place;

typedef struct dbs_mysql_coldef {
	const char *name;
	dbs_mysql_type type;
	int8_t nullable; /* 1 NULL, 0 NOT NULL, -1 not said (nullable,
	                    unless the column is in the primary key) */
	uint8_t auto_increment;
	uint8_t primary_key;   /* PRIMARY KEY (or KEY) on the column itself */
	uint8_t unique;        /* UNIQUE on the column itself */
	uint8_t generated;     /* AS (expr): computed, not written by rows */
	uint8_t on_update_now; /* ON UPDATE CURRENT_TIMESTAMP */
	dbs_mysql_default def;
	const char *comment;
	dbs_mysql_place place;
	const char *after; /* PLACE_AFTER */
} dbs_mysql_coldef;

typedef struct dbs_mysql_tref {
	const char *schema; /* the qualifier, or the event's database */
	const char *name;
} dbs_mysql_tref;

typedef enum dbs_mysql_index_kind {
	DBS_MYSQL_INDEX_PLAIN = 0,
	DBS_MYSQL_INDEX_UNIQUE,
	DBS_MYSQL_INDEX_PRIMARY,
	DBS_MYSQL_INDEX_FULLTEXT,
	DBS_MYSQL_INDEX_SPATIAL,
	DBS_MYSQL_INDEX_FOREIGN,
	DBS_MYSQL_INDEX_CHECK
} dbs_mysql_index_kind;

typedef struct dbs_mysql_keypart {
	const char *column; /* NULL for an expression part ((expr)) */
	int32_t prefix;     /* col(n); -1: the whole column */
	uint8_t desc;
} dbs_mysql_keypart;

typedef struct dbs_mysql_index {
	dbs_mysql_index_kind kind;
	const char *name; /* index or constraint name; NULL: the server names it */
	dbs_mysql_keypart *parts;
	uint32_t nparts;
	dbs_mysql_tref ref; /* FOREIGN: the referenced table */
	const char **ref_columns;
	uint32_t nref_columns;
} dbs_mysql_index;

typedef enum dbs_mysql_ddl_kind {
	DBS_MYSQL_ADD_COLUMN = 1, /* col (with its place); a PRIMARY KEY or UNIQUE on the
	                             column follows as its own ADD_INDEX (so with MODIFY) */
	DBS_MYSQL_DROP_COLUMN,    /* column */
	DBS_MYSQL_RENAME_COLUMN,  /* column -> new_name */
	DBS_MYSQL_MODIFY_COLUMN,  /* column gets col (CHANGE: col->name may differ) */
	DBS_MYSQL_SET_DEFAULT,    /* column, def */
	DBS_MYSQL_DROP_DEFAULT,   /* column */
	DBS_MYSQL_ADD_INDEX,      /* index: plain, unique, primary, fulltext,
	                             spatial, foreign key or check */
	DBS_MYSQL_DROP_INDEX,     /* name: an index or key (`PRIMARY` is DROP_PRIMARY_KEY) */
	DBS_MYSQL_DROP_PRIMARY_KEY,
	DBS_MYSQL_DROP_FOREIGN_KEY,    /* name */
	DBS_MYSQL_DROP_CONSTRAINT,     /* name (a check, or any constraint) */
	DBS_MYSQL_RENAME_INDEX,        /* name -> new_name */
	DBS_MYSQL_CONVERT_CHARSET,     /* charset, collation: every text column */
	DBS_MYSQL_RENAME_TABLE,        /* table -> new_table */
	DBS_MYSQL_CREATE_TABLE,        /* table, columns, indexes */
	DBS_MYSQL_CREATE_TABLE_LIKE,   /* table, like */
	DBS_MYSQL_CREATE_TABLE_SELECT, /* table (columns: those listed), rows follow */
	DBS_MYSQL_DROP_TABLE,          /* table */
	DBS_MYSQL_TRUNCATE_TABLE,      /* table */
	DBS_MYSQL_DROP_SCHEMA          /* table.schema: every table in it */
} dbs_mysql_ddl_kind;

typedef struct dbs_mysql_ddl_change {
	dbs_mysql_ddl_kind kind;
	dbs_mysql_tref table;      /* the table changed (its name before a rename) */
	const char *column;        /* the column's name before the change */
	const char *name;          /* index or constraint */
	const char *new_name;      /* RENAME_COLUMN, RENAME_INDEX */
	dbs_mysql_coldef *col;     /* ADD_COLUMN, MODIFY_COLUMN */
	dbs_mysql_default def;     /* SET_DEFAULT */
	dbs_mysql_index *index;    /* ADD_INDEX */
	dbs_mysql_tref new_table;  /* RENAME_TABLE */
	dbs_mysql_tref like;       /* CREATE_TABLE_LIKE */
	dbs_mysql_coldef *columns; /* CREATE_TABLE(_SELECT) */
	uint32_t ncolumns;
	dbs_mysql_index *indexes; /* CREATE_TABLE(_SELECT), PRIMARY first
	                             (also when declared on a column) */
	uint32_t nindexes;
	const char *charset, *collation; /* CONVERT_CHARSET */
	uint8_t if_exists;               /* IF EXISTS: absent is no error */
	uint8_t if_not_exists;           /* IF NOT EXISTS: present is no error */
	uint8_t or_replace;              /* CREATE OR REPLACE: drops the old one */
} dbs_mysql_ddl_change;

typedef struct dbs_mysql_ddl {
	dbs_mysql_ddl_class cls;
	dbs_mysql_ddl_change *changes;
	uint32_t nchanges;
	char why[256]; /* UNSUPPORTED: what, and the byte offset */
	size_t offset; /* UNSUPPORTED: where in the statement */
	void *arena_;  /* every string and list above */
} dbs_mysql_ddl;

/*
 * Parse `sql` (len bytes, no NUL needed) logged with current database `db`
 * (db_len bytes; may be empty). On 0, *out is a result to free with
 * dbs__mysql_ddl_free, whatever its class. DBS_ENOMEM (*out NULL) is the
 * only error: malformed text is UNSUPPORTED, never a failure.
 */
int dbs__mysql_ddl_parse(dbs_mysql_ddl **out, const char *sql, size_t len, const char *db,
                         size_t db_len, unsigned flags);
void dbs__mysql_ddl_free(dbs_mysql_ddl *ddl);

/*
 * The flags for dbs__mysql_ddl_parse from a Query event's status variables
 * (the bytes between the fixed header and the database name): the
 * sql_mode the statement ran under (Q_SQL_MODE_CODE). 0, or DBS_ENOTFOUND
 * when the event carries no sql_mode (then *flags is 0: the default mode).
 */
int dbs__mysql_ddl_flags(const uint8_t *status, size_t len, unsigned *flags);

/*
 * Parse a column type as information_schema.COLUMNS.COLUMN_TYPE shows it
 * ("varchar(20)", "int(10) unsigned", "enum('a','b')"), so a column's
 * current type compares with a statement's. On 0, *out is a result of
 * class CHANGES holding one ADD_COLUMN (table and column names "") whose
 * col->type is the type; on a
 * text that is not a type, UNSUPPORTED. DBS_ENOMEM otherwise.
 */
int dbs__mysql_type_parse(dbs_mysql_ddl **out, const char *text, size_t len);

/* Column and index names: equal ignoring ASCII case, as the server compares them. */
int dbs__mysql_ddl_name_eq(const char *a, const char *b);

/* How a column's type changes, for the apply side. */
typedef enum dbs_mysql_change_class {
	DBS_MYSQL_CHANGE_SAME = 0, /* every value reads the same */
	DBS_MYSQL_CHANGE_WIDENS,   /* every old value fits the new type unchanged */
	DBS_MYSQL_CHANGE_NARROWS   /* a value may not fit, or change: not safe */
} dbs_mysql_change_class;

/*
 * Types: varchar/char/binary/varbinary length up, the TEXT and BLOB
 * families up (VARCHAR(n) into TEXT when 4n bytes fit), integers up
 * (unsigned into a signed type only when strictly wider), DECIMAL
 * precision up with the scale kept, FLOAT to DOUBLE, BIT(n) up,
 * fractional seconds up, ENUM/SET members only appended. Display widths
 * and collations do not count; two explicit different charsets narrow.
 * Anything else that differs narrows.
 */
dbs_mysql_change_class dbs__mysql_type_change(const dbs_mysql_type *from, const dbs_mysql_type *to);
/* The type's, and NOT NULL dropped widens, NOT NULL added narrows
 * (nullable -1 counts as NULL). */
dbs_mysql_change_class dbs__mysql_column_change(const dbs_mysql_coldef *from,
                                                const dbs_mysql_coldef *to);

/*
 * The result as text, one change a line ("ADD COLUMN `s`.`t` `c` int
 * NOT NULL DEFAULT 0 AFTER `b`"), for messages and tests. 0, or DBS_ENOMEM.
 */
int dbs__mysql_ddl_describe(const dbs_mysql_ddl *ddl, dbs_buf *out);
const char *dbs__mysql_ddl_kind_name(dbs_mysql_ddl_kind kind);

#endif
