/*
 * Cross-dialect type mapping: one rule table drives the column types a
 * target creates and docs/type-mapping.md. The values are converted in
 * sqlmap_value.c.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/civil.h"
#include "sql/sqlmap.h"

/* When a rule applies, beyond its type name. */
enum {
	C_ANY = 0,
	C_SIGNED,    /* MySQL integer without UNSIGNED */
	C_UNSIGNED,
	C_BIT1,      /* BIT(1) */
	C_PREC_FITS, /* precision given, fits decimal(65,30) */
	C_PREC,      /* precision given (wider than decimal(65,30)) */
	C_NO_PREC,
	C_LEN_LE,    /* length given and at most `limit` */
	C_ARRAY      /* PostgreSQL array of anything */
};

/*
 * One mapping. Rules are tried in order and the first whose dialect, name
 * and condition match wins; each dialect ends with a catch-all.
 * Placeholders in `target`: %P precision, %S scale, %L length, %F
 * fractional-second digits, %C the CHECK clause of an ENUM.
 */
typedef struct sqlmap_rule {
	uint8_t from;       /* dbs_dialect of the source */
	uint8_t cls;        /* dbs_sqlclass: how values are written */
	uint8_t cond;
	int32_t limit;      /* for C_LEN_LE */
	const char *names;  /* '|'-separated base spellings; "*" matches any */
	const char *target; /* type in the other dialect */
	const char *doc;    /* the source type as the documentation names it */
	const char *note;
} sqlmap_rule;

#define MY DBS_DIALECT_MYSQL
#define PG DBS_DIALECT_POSTGRESQL

static const sqlmap_rule rules[] = {
	/* ---- MySQL / MariaDB → PostgreSQL ---- */
	{MY, DBS_SQL_INT, C_ANY, 0, "tinyint|bool|boolean", "smallint", "TINYINT, TINYINT UNSIGNED",
	 "-128..255 fits; PostgreSQL has no one-byte integer"},
	{MY, DBS_SQL_INT, C_SIGNED, 0, "smallint", "smallint", "SMALLINT", ""},
	{MY, DBS_SQL_INT, C_UNSIGNED, 0, "smallint", "integer", "SMALLINT UNSIGNED", "up to 65535"},
	{MY, DBS_SQL_INT, C_ANY, 0, "mediumint", "integer", "MEDIUMINT [UNSIGNED]", ""},
	{MY, DBS_SQL_INT, C_SIGNED, 0, "int|integer", "integer", "INT", ""},
	{MY, DBS_SQL_INT, C_UNSIGNED, 0, "int|integer", "bigint", "INT UNSIGNED", "up to 4294967295"},
	{MY, DBS_SQL_INT, C_SIGNED, 0, "bigint", "bigint", "BIGINT", ""},
	{MY, DBS_SQL_INT, C_UNSIGNED, 0, "bigint", "numeric(20,0)", "BIGINT UNSIGNED",
	 "18446744073709551615 has 20 digits; bigint stops at 2^63-1"},
	{MY, DBS_SQL_DECIMAL, C_ANY, 0, "decimal|numeric|dec|fixed", "numeric(%P,%S)",
	 "DECIMAL(p,s) [UNSIGNED]", "exact, up to DECIMAL(65,30); DECIMAL alone is (10,0)"},
	{MY, DBS_SQL_FLOAT, C_ANY, 0, "float", "real", "FLOAT", "4-byte IEEE float both sides"},
	{MY, DBS_SQL_FLOAT, C_ANY, 0, "double|real|double precision", "double precision", "DOUBLE",
	 "values travel with 17 significant digits: the same double comes back"},
	{MY, DBS_SQL_DATE, C_ANY, 0, "date", "date", "DATE",
	 "zero dates ('0000-00-00', '2024-00-10') follow the zero-date policy; year 0 is 1 BC"},
	{MY, DBS_SQL_DATETIME, C_ANY, 0, "datetime", "timestamp(%F)", "DATETIME(n)",
	 "wall-clock time, no zone on either side; zero dates follow the policy"},
	{MY, DBS_SQL_TIMESTAMP, C_ANY, 0, "timestamp", "timestamp(%F) with time zone", "TIMESTAMP(n)",
	 "the binlog holds the UTC instant; it arrives and is written as UTC"},
	{MY, DBS_SQL_TIME, C_ANY, 0, "time", "interval", "TIME(n)",
	 "TIME is a signed duration up to ±838:59:59.999999; PostgreSQL time is a time of day "
	 "(00:00..24:00, no sign), so only interval holds every value"},
	{MY, DBS_SQL_YEAR, C_ANY, 0, "year", "smallint", "YEAR", "0 and 1901..2155"},
	{MY, DBS_SQL_STRING, C_ANY, 0, "char|varchar|character|character varying|nchar|nvarchar",
	 "character varying(%L)", "CHAR(n), VARCHAR(n)",
	 "n counts characters on both sides; MySQL CHAR drops trailing spaces when read, so "
	 "varchar holds exactly what MySQL returns"},
	{MY, DBS_SQL_STRING, C_ANY, 0, "tinytext|text|mediumtext|longtext|long varchar|long",
	 "text", "TINYTEXT, TEXT, MEDIUMTEXT, LONGTEXT", "converted to UTF-8 from the column's charset"},
	{MY, DBS_SQL_BINARY, C_ANY, 0,
	 "binary|varbinary|tinyblob|blob|mediumblob|longblob|long varbinary", "bytea",
	 "BINARY(n), VARBINARY(n), TINYBLOB..LONGBLOB", "bytes as stored, zero bytes included"},
	{MY, DBS_SQL_BIT, C_BIT1, 0, "bit", "boolean", "BIT(1)", "0/1 as false/true"},
	{MY, DBS_SQL_BIT, C_ANY, 0, "bit", "bit varying(%L)", "BIT(n)",
	 "written with all n digits, leading zeros included"},
	{MY, DBS_SQL_ENUM, C_ANY, 0, "enum", "text%C", "ENUM('a',…)",
	 "a CHECK keeps the members; the value is the member's string"},
	{MY, DBS_SQL_SET, C_ANY, 0, "set", "text", "SET('a',…)",
	 "members comma-separated in definition order, as MySQL shows them ('a,c'); the empty "
	 "set is ''"},
	{MY, DBS_SQL_JSON, C_ANY, 0, "json", "jsonb", "JSON",
	 "jsonb drops insignificant whitespace and orders keys; every value is kept (a string "
	 "holding \\u0000 is refused by jsonb: the batch fails)"},
	{MY, DBS_SQL_GEOMETRY, C_ANY, 0,
	 "geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|"
	 "geometrycollection|geomcollection",
	 "bytea", "GEOMETRY and its subtypes", "the WKB (ST_AsBinary); the SRID is dropped"},
	{MY, DBS_SQL_OTHER, C_ANY, 0, "*", "text", "anything else", "its text form"},

	/* ---- PostgreSQL → MySQL / MariaDB ---- */
	{PG, DBS_SQL_INT, C_ANY, 0, "smallint", "smallint", "smallint", ""},
	{PG, DBS_SQL_INT, C_ANY, 0, "integer", "int", "integer", ""},
	{PG, DBS_SQL_INT, C_ANY, 0, "bigint", "bigint", "bigint", ""},
	{PG, DBS_SQL_DECIMAL, C_PREC_FITS, 0, "numeric", "decimal(%P,%S)", "numeric(p,s), p ≤ 65, s ≤ 30",
	 "NaN and ±Infinity fail the batch (MySQL has no such value)"},
	{PG, DBS_SQL_DECIMAL, C_PREC, 0, "numeric", "longtext", "numeric(p,s), p > 65 or s > 30",
	 "wider than any MySQL DECIMAL: kept as its exact text"},
	{PG, DBS_SQL_NUMERIC, C_NO_PREC, 0, "numeric", "decimal(65,30)", "numeric",
	 "a value with more than 35 integer or 30 fraction digits (trailing zeros aside), NaN or "
	 "±Infinity fails the batch; to keep such values create the column as longtext and set "
	 "noCreateTables"},
	{PG, DBS_SQL_FLOAT, C_ANY, 0, "real", "float", "real", "NaN and ±Infinity fail the batch"},
	{PG, DBS_SQL_FLOAT, C_ANY, 0, "double precision", "double", "double precision",
	 "NaN and ±Infinity fail the batch"},
	{PG, DBS_SQL_BOOL, C_ANY, 0, "boolean", "tinyint(1)", "boolean", "t/f as 1/0"},
	{PG, DBS_SQL_STRING, C_ANY, 0, "text|name|citext", "longtext", "text",
	 "as a primary-key column: varchar(768) (InnoDB keys hold 3072 bytes)"},
	{PG, DBS_SQL_STRING, C_LEN_LE, 16383, "character varying", "varchar(%L)",
	 "character varying(n), n ≤ 16383", "n counts characters on both sides"},
	{PG, DBS_SQL_STRING, C_ANY, 0, "character varying", "longtext",
	 "character varying, or n > 16383", ""},
	{PG, DBS_SQL_STRING, C_LEN_LE, 255, "character", "char(%L)", "character(n), n ≤ 255",
	 "MySQL drops the trailing pad spaces when read; PostgreSQL ignores them in comparisons"},
	{PG, DBS_SQL_STRING, C_ANY, 0, "character", "longtext", "character(n), n > 255",
	 "the padded text"},
	{PG, DBS_SQL_STRING, C_ANY, 0, "\"char\"", "char(1)", "\"char\"", ""},
	{PG, DBS_SQL_BINARY, C_ANY, 0, "bytea", "longblob", "bytea",
	 "as a primary-key column: varbinary(3072)"},
	{PG, DBS_SQL_DATE, C_ANY, 0, "date", "date", "date",
	 "BC dates, years after 9999 and ±infinity fail the batch"},
	{PG, DBS_SQL_DATETIME, C_ANY, 0, "timestamp without time zone|timestamp", "datetime(6)",
	 "timestamp(n)", "wall-clock; BC, years after 9999 and ±infinity fail the batch"},
	{PG, DBS_SQL_TIMESTAMP, C_ANY, 0, "timestamp with time zone|timestamptz", "datetime(6)",
	 "timestamp(n) with time zone",
	 "converted to UTC from the offset the source writes; the column holds UTC wall-clock "
	 "time (datetime, unlike TIMESTAMP, is not limited to 1970..2038)"},
	{PG, DBS_SQL_TIME, C_ANY, 0, "time without time zone|time", "time(6)", "time(n)", ""},
	{PG, DBS_SQL_TIMETZ, C_ANY, 0, "time with time zone|timetz", "varchar(32)",
	 "time(n) with time zone", "its text form with the offset ('12:00:00+02')"},
	{PG, DBS_SQL_INTERVAL, C_ANY, 0, "interval", "varchar(100)", "interval",
	 "its text form, in the source's IntervalStyle"},
	{PG, DBS_SQL_UUID, C_ANY, 0, "uuid", "char(36)", "uuid", "lower-case text form"},
	{PG, DBS_SQL_JSON, C_ANY, 0, "json|jsonb", "json", "json, jsonb",
	 "MariaDB's JSON is longtext with a json_valid check"},
	{PG, DBS_SQL_ARRAY, C_ARRAY, 0, "*", "json", "any array (integer[], text[], …)",
	 "a JSON array, nested per dimension; numbers stay numbers, booleans become "
	 "true/false, NULL becomes null, other elements strings; non-default lower bounds are "
	 "dropped"},
	{PG, DBS_SQL_OTHER, C_ANY, 0, "inet|cidr|macaddr|macaddr8", "varchar(64)",
	 "inet, cidr, macaddr, macaddr8", "text form"},
	{PG, DBS_SQL_BIT, C_LEN_LE, 64, "bit", "bit(%L)", "bit(n), n ≤ 64", "written as b'…'"},
	{PG, DBS_SQL_VARBIT, C_LEN_LE, 16383, "bit varying", "varchar(%L)", "bit varying(n)",
	 "the 0/1 text: MySQL BIT would lose the length"},
	{PG, DBS_SQL_OTHER, C_ANY, 0, "money", "varchar(64)", "money",
	 "text form (it carries the source's lc_monetary format)"},
	{PG, DBS_SQL_OTHER, C_ANY, 0, "*", "longtext", "anything else",
	 "text form: xml, tsvector, ranges, geometric types, enums, domains, composites"},
};

#define NRULES (sizeof rules / sizeof rules[0])

/* ------------------------------------------------------------------ */
/* Parsing type names                                                  */
/* ------------------------------------------------------------------ */

#define BASE_MAX 64
/* InnoDB's longest index key (DYNAMIC rows, 16 KiB pages). */
#define KEY_BYTES 3072

/* Does `name` appear in the '|'-separated list? */
static int name_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;
	if (strcmp(list, "*") == 0)
		return 1;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t m = bar ? (size_t)(bar - p) : strlen(p);
		if (m == n && memcmp(p, name, n) == 0)
			return 1;
		if (!bar)
			break;
		p = bar + 1;
	}
	return 0;
}

/* Parse "n" or "n,m" (spaces allowed); -1 where absent. */
static void parse_numbers(const char *s, uint32_t len, int32_t *a, int32_t *b)
{
	int32_t v[2] = {-1, -1};
	int k = 0;
	for (uint32_t i = 0; i < len && k < 2; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isdigit(c)) {
			int32_t x = v[k] < 0 ? 0 : v[k];
			if (x > 100000000) /* absurd: leave as is, never overflow */
				continue;
			v[k] = x * 10 + (c - '0');
		} else if (c == '-' && v[k] < 0) {
			/* negative scale (PostgreSQL 15 numeric(p,-s)) */
			v[k] = INT32_MIN;
		} else if (c == ',') {
			k++;
		} else if (c != ' ') {
			v[0] = v[1] = -1;
			break;
		}
	}
	/* INT32_MIN marked a '-' prefix; fold it into the digits. */
	for (int i = 0; i < 2; i++)
		if (v[i] < -1)
			v[i] = -2; /* any negative scale: treat as "does not fit" */
	*a = v[0];
	*b = v[1];
}

static int rule_matches(const sqlmap_rule *r, const dbs_sqltype *t, const char *base,
                        int is_array)
{
	if (r->from != t->dialect)
		return 0;
	if (r->cond == C_ARRAY)
		return is_array;
	if (is_array)
		return 0;
	if (!name_in(r->names, base))
		return 0;
	switch (r->cond) {
	case C_SIGNED: return !t->is_unsigned;
	case C_UNSIGNED: return t->is_unsigned;
	case C_BIT1: return t->len == 1 || t->len < 0;
	case C_PREC_FITS:
		return t->prec > 0 && t->prec <= 65 && t->scale >= -1 && t->scale <= 30 &&
		       t->scale <= t->prec;
	case C_PREC: return t->prec > 0;
	case C_NO_PREC: return t->prec < 0;
	case C_LEN_LE: return t->len >= 0 && t->len <= r->limit;
	default: return 1;
	}
}

/* The rule for a base type name (element types of arrays use this too). */
static const sqlmap_rule *rule_find(const dbs_sqltype *t, const char *base, int is_array)
{
	const sqlmap_rule *found = NULL;
	for (size_t i = 0; i < NRULES && !found; i++)
		if (rule_matches(&rules[i], t, base, is_array))
			found = &rules[i];
	return found;
}

void dbs__sqlmap_parse(const dbs_table *def, const dbs_column *col, dbs_sqltype *out)
{
	char base[BASE_MAX + 1];
	size_t blen = 0;
	int is_array = 0, overflow = 0;
	const char *s = col->type_name ? col->type_name : "";

	memset(out, 0, sizeof *out);
	out->dialect = def->dialect;
	out->len = out->prec = out->scale = out->fsp = -1;
	out->column = col->name ? col->name : "";
	out->type_name = s;
	out->is_unsigned = (col->flags & DBS_COLUMN_UNSIGNED) != 0;
	out->is_key = (col->flags & DBS_COLUMN_KEY) != 0;

	/* Base name: lower case, the first parenthesised group taken out as
	 * the arguments, "unsigned"/"zerofill" words and "[]" noted. */
	for (size_t i = 0; s[i];) {
		char c = s[i];
		if (c == '(' && !out->args) {
			size_t j = i + 1;
			int quoted = 0;
			while (s[j] && (quoted || s[j] != ')')) {
				if (s[j] == '\'')
					quoted = !quoted; /* '' toggles twice: stays right */
				j++;
			}
			out->args = s + i + 1;
			out->args_len = (uint32_t)(j - i - 1);
			i = s[j] ? j + 1 : j;
			continue;
		}
		if (c == '[') {
			is_array = 1;
			while (s[i] && s[i] != ']')
				i++;
			if (s[i])
				i++;
			continue;
		}
		if (c == ' ' || c == '\t') {
			if (blen > 0 && base[blen - 1] != ' ' && blen < BASE_MAX)
				base[blen++] = ' ';
			i++;
			continue;
		}
		if (blen < BASE_MAX)
			base[blen++] = (char)tolower((unsigned char)c);
		else
			overflow = 1;
		i++;
	}
	while (blen > 0 && base[blen - 1] == ' ')
		blen--;
	base[blen] = '\0';

	/* MySQL attribute words after the type. */
	static const char *const words[] = {" unsigned", " signed", " zerofill"};
	for (int again = 1; again;) {
		again = 0;
		for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
			size_t wl = strlen(words[w]);
			if (blen >= wl && memcmp(base + blen - wl, words[w], wl) == 0) {
				if (w == 0)
					out->is_unsigned = 1;
				blen -= wl;
				base[blen] = '\0';
				again = 1;
			}
		}
	}
	if (overflow)
		base[0] = '\0'; /* no rule names anything this long */

	const char *name = base;
	if (out->args && out->args_len) {
		int32_t a, b;
		parse_numbers(out->args, out->args_len, &a, &b);
		if (strstr(base, "time") || strcmp(base, "datetime") == 0 ||
		    strcmp(base, "timestamp") == 0)
			out->fsp = a;
		else if (strstr(base, "decimal") || strstr(base, "numeric") || strcmp(base, "dec") == 0 ||
		         strcmp(base, "fixed") == 0 || strcmp(base, "float") == 0 ||
		         strcmp(base, "double") == 0 || strcmp(base, "real") == 0)
			out->prec = a, out->scale = b < 0 ? (b == -2 ? -2 : 0) : b;
		else
			out->len = a;
	}
	/* MySQL's DECIMAL without arguments is DECIMAL(10,0). */
	if (out->dialect == DBS_DIALECT_MYSQL && out->prec < 0 &&
	    (strcmp(base, "decimal") == 0 || strcmp(base, "numeric") == 0 ||
	     strcmp(base, "dec") == 0 || strcmp(base, "fixed") == 0))
		out->prec = 10, out->scale = 0;
	if (out->scale == -2)
		out->prec = out->prec > 0 ? out->prec : 1, out->scale = 99; /* never fits */

	const sqlmap_rule *r = rule_find(out, name, is_array);
	if (r && r->cls == DBS_SQL_ARRAY) {
		dbs_sqltype elem = *out;
		const sqlmap_rule *er = rule_find(&elem, name, 0);
		out->elem = er ? er->cls : DBS_SQL_OTHER;
	}
	out->rule = r;
	out->cls = r ? r->cls : DBS_SQL_OTHER;
}

const char *dbs__sqlmap_rule_target(const dbs_sqltype *t)
{
	return ((const sqlmap_rule *)t->rule)->target;
}

/* ------------------------------------------------------------------ */
/* Target types                                                        */
/* ------------------------------------------------------------------ */

/*
 * Copy an ENUM's member list "'a','b''c'" as PostgreSQL literals (the
 * quoting rules agree: '' inside, backslash an ordinary byte with
 * standard_conforming_strings). DBS_EINVAL when the list is not such a
 * list.
 */
static int append_enum_check(dbs_buf *out, const dbs_sqltype *t)
{
	const char *s = t->args;
	uint32_t n = t->args_len, i = 0;
	int rc;
	if (!s || n == 0)
		return DBS_EINVAL;
	if ((rc = dbs_buf_append_str(out, " CHECK (")) ||
	    (rc = dbs__sql_append_ident(out, t->column)) ||
	    (rc = dbs_buf_append_str(out, " IN (")))
		return rc;
	for (;;) {
		while (i < n && s[i] == ' ')
			i++;
		if (i >= n || s[i] != '\'')
			return DBS_EINVAL;
		uint32_t start = i++;
		for (;;) {
			if (i >= n)
				return DBS_EINVAL;
			if (s[i] == '\'') {
				if (i + 1 < n && s[i + 1] == '\'') {
					i += 2;
					continue;
				}
				break;
			}
			i++;
		}
		i++;
		if ((rc = dbs_buf_append(out, s + start, i - start)))
			return rc;
		while (i < n && s[i] == ' ')
			i++;
		if (i >= n)
			break;
		if (s[i] != ',')
			return DBS_EINVAL;
		i++;
		if ((rc = dbs_buf_append(out, ", ", 2)))
			return rc;
	}
	return dbs_buf_append_str(out, "))");
}

static int append_template(dbs_buf *out, const sqlmap_rule *r, const dbs_sqltype *t)
{
	int rc = 0;
	for (const char *p = r->target; *p && rc == 0; p++) {
		if (*p != '%' || !p[1]) {
			rc = dbs_buf_append_char(out, *p);
			continue;
		}
		p++;
		switch (*p) {
		case 'P': rc = dbs_buf_appendf(out, "%" PRId32, t->prec > 0 ? t->prec : 10); break;
		case 'S': rc = dbs_buf_appendf(out, "%" PRId32, t->scale > 0 ? t->scale : 0); break;
		case 'L': rc = dbs_buf_appendf(out, "%" PRId32, t->len > 0 ? t->len : 1); break;
		case 'F':
			rc = dbs_buf_appendf(out, "%" PRId32,
			                          t->fsp >= 0 && t->fsp <= 6 ? t->fsp : 0);
			break;
		case 'C':
			rc = append_enum_check(out, t);
			break;
		default:
			rc = dbs_buf_append_char(out, *p);
			break;
		}
	}
	return rc;
}

/* Bytes one key column of a mapped MySQL type takes in an InnoDB key
 * (utf8mb4: 4 per character); a generous 32 for fixed-size types. */
static int64_t key_bytes(const dbs_sqltype *t)
{
	const sqlmap_rule *r = t->rule;
	if (!r || t->dialect != DBS_DIALECT_POSTGRESQL)
		return 32;
	const char *open = strchr(r->target, '(');
	if (strstr(r->target, "char(") && open) {
		int64_t n = strstr(r->target, "%L") ? (t->len > 0 ? t->len : 1) : atol(open + 1);
		return 4 * n;
	}
	return 32;
}

static int is_long_key(const dbs_sqltype *t)
{
	const sqlmap_rule *r = t->rule;
	return t->is_key && r && t->dialect == DBS_DIALECT_POSTGRESQL &&
	       (strcmp(r->target, "longtext") == 0 || strcmp(r->target, "longblob") == 0);
}

void dbs__sqlmap_key_widths(dbs_sqltype *types, uint32_t n)
{
	int64_t budget = KEY_BYTES;
	uint32_t nlong = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (is_long_key(&types[i]))
			nlong++;
		else if (types[i].is_key)
			budget -= key_bytes(&types[i]);
	}
	if (nlong == 0)
		return;
	int64_t each = budget / (int64_t)nlong;
	if (each < 4)
		each = 4; /* no room: the server will say the key is too long */
	for (uint32_t i = 0; i < n; i++) {
		if (!is_long_key(&types[i]))
			continue;
		int text = strcmp(((const sqlmap_rule *)types[i].rule)->target, "longtext") == 0;
		types[i].key_len = (int32_t)(text ? each / 4 : each);
	}
}

int dbs__sqlmap_target_type(dbs_buf *out, const dbs_sqltype *t, dbs_dialect target)
{
	const sqlmap_rule *r = t->rule;
	if (target == t->dialect || !r) {
		if (!t->type_name[0])
			return DBS_EINVAL; /* nothing to copy: the caller names the column */
		return dbs_buf_append_str(out, t->type_name);
	}
	/* An index key cannot be a whole longtext/longblob: the widest
	 * column InnoDB indexes whole (3072 bytes). Longer values fail with
	 * the server's "data too long", never a silent cut. */
	if (target == DBS_DIALECT_MYSQL && t->is_key && strcmp(r->target, "longtext") == 0)
		return dbs_buf_appendf(out, "varchar(%" PRId32 ")",
		                            t->key_len > 0 ? t->key_len : KEY_BYTES / 4);
	if (target == DBS_DIALECT_MYSQL && t->is_key && strcmp(r->target, "longblob") == 0)
		return dbs_buf_appendf(out, "varbinary(%" PRId32 ")",
		                            t->key_len > 0 ? t->key_len : KEY_BYTES);
	size_t mark = out->len;
	int rc = append_template(out, r, t);
	if (rc == DBS_EINVAL) {
		/* An ENUM whose member list we cannot read: text without CHECK. */
		out->len = mark;
		out->data[mark] = '\0';
		rc = dbs_buf_append_str(out, "text");
	}
	return rc;
}

int32_t dbs__sqlmap_index_prefix(const dbs_sqltype *t, int32_t budget)
{
	int32_t rc = -2;
	dbs_buf b = {0};
	char type[BASE_MAX];
	size_t n = 0;
	if (budget < 4)
		budget = 4;
	if (dbs__sqlmap_target_type(&b, t, DBS_DIALECT_MYSQL) == DBS_ENOMEM)
		goto done;
	/* The base name, lower case: "varchar(255)" -> "varchar". */
	for (const char *p = b.data ? b.data : "";
	     *p && *p != '(' && *p != ' ' && n + 1 < sizeof type; p++)
		type[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	type[n] = '\0';
	const char *open = b.data ? strchr(b.data, '(') : NULL;
	long len = open ? atol(open + 1) : 0;
	if (t->cls == DBS_SQL_GEOMETRY || strcmp(type, "json") == 0)
		rc = -1;
	else if (n >= 4 && strcmp(type + n - 4, "text") == 0)
		rc = budget / 4;
	else if (n >= 4 && strcmp(type + n - 4, "blob") == 0)
		rc = budget;
	else if ((strcmp(type, "varchar") == 0 || strcmp(type, "char") == 0) && len * 4 > budget)
		rc = budget / 4;
	else if ((strcmp(type, "varbinary") == 0 || strcmp(type, "binary") == 0) && len > budget)
		rc = budget;
	else
		rc = 0;
done:
	dbs_buf_free(&b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Documentation                                                       */
/* ------------------------------------------------------------------ */

static int doc_target(dbs_buf *out, const char *tpl)
{
	int rc = 0;
	for (const char *p = tpl; *p && rc == 0; p++) {
		if (*p != '%' || !p[1]) {
			rc = dbs_buf_append_char(out, *p);
			continue;
		}
		p++;
		switch (*p) {
		case 'P': rc = dbs_buf_append_char(out, 'p'); break;
		case 'S': rc = dbs_buf_append_char(out, 's'); break;
		case 'L': rc = dbs_buf_append_char(out, 'n'); break;
		case 'F': rc = dbs_buf_append_char(out, 'n'); break;
		case 'C': rc = dbs_buf_append_str(out, " CHECK (col IN (members))"); break;
		default: rc = dbs_buf_append_char(out, *p); break;
		}
	}
	return rc;
}

int dbs__sqlmap_doc(dbs_buf *out)
{
	int rc = 0;
	for (int dir = 0; dir < 2 && rc == 0; dir++) {
		uint8_t from = dir == 0 ? MY : PG;
		rc = dbs_buf_append_str(out, dir == 0
		                                      ? "### MySQL / MariaDB → PostgreSQL\n\n"
		                                        "| MySQL type | PostgreSQL type | why / notes |\n"
		                                        "|---|---|---|\n"
		                                      : "### PostgreSQL → MySQL / MariaDB\n\n"
		                                        "| PostgreSQL type | MySQL type | why / notes |\n"
		                                        "|---|---|---|\n");
		for (size_t i = 0; i < NRULES && rc == 0; i++) {
			const sqlmap_rule *r = &rules[i];
			if (r->from != from)
				continue;
			if ((rc = dbs_buf_appendf(out, "| %s | `", r->doc)) ||
			    (rc = doc_target(out, r->target)) ||
			    (rc = dbs_buf_appendf(out, "` | %s |\n", r->note)))
				break;
		}
		if (rc == 0 && dir == 0)
			rc = dbs_buf_append_char(out, '\n');
	}
	return rc;
}
