/*
 * dbs_verify_run: compare a stream's source tables with its target tables.
 *
 * Both sides are read as text in key order, a chunk of keys at a time
 * (keyset pagination: WHERE key > last ORDER BY key LIMIT n on the source,
 * the same key range on the target). Every value is canonicalised here in
 * C so that values the type mapping (docs/type-mapping.md) carries across
 * engines print equally, each row is encoded as length-prefixed canonical
 * values, and each side's chunk gets a SHA-256 digest. Only chunks whose
 * digests differ are compared row by row.
 *
 * Key ranges mean the same set on both sides for numbers, dates and
 * binary-ordered strings. Where the engines order keys differently (text
 * keys under different collations) a row can fall into another chunk on
 * one side: such rows are held as "missing" / "extra" candidates and
 * matched by key at the end of the table, so they are reported as what
 * they are.
 *
 * This is a tool, not the per-event path: allocations per chunk and per
 * JSON value are fine here.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <openssl/evp.h>

#include <dbstreams/verify.h>

#include "core/core.h"
#include "sources/mysql/dsn.h"
#include "targets/sqlmap.h"
#include "targets/value_text.h"

#define ERR_MAX 1024
#define CHUNK_DEFAULT 1000u
#define CHUNK_MAX 1000000u
/* Missing/extra candidates held for matching at the end of a table;
 * beyond this they are counted as found, without the cross-chunk match. */
#define PENDING_MAX 200000u
#define CHECKPOINT_TABLE "dbstreams_checkpoint"

/* How a column's values are made comparable. */
enum canon {
	K_TEXT = 0,   /* as is */
	K_TEXT_RTRIM, /* blank-padded character(n): trailing spaces dropped */
	K_NUM,        /* exact decimal: no leading/trailing zeros, -0 is 0 */
	K_FLOAT4,     /* parsed as a 4-byte float, printed with 9 digits */
	K_FLOAT8,     /* parsed as a double, printed with 17 digits */
	K_BOOL,       /* 1 / 0 */
	K_BIT,        /* 0/1 digits */
	K_DATETIME,   /* YYYY-MM-DD HH:MM:SS.ffffff, no zone */
	K_TIMESTAMP,  /* YYYY-MM-DDTHH:MM:SS.ffffffZ, converted to UTC */
	K_TIME,       /* [-]H:MM:SS.ffffff, a signed duration */
	K_BYTES,      /* lower-case hex */
	K_JSON,       /* parsed and printed with sorted keys */
	K_UUID        /* lower case */
};

/* ------------------------------------------------------------------ */
/* Report storage                                                      */
/* ------------------------------------------------------------------ */

typedef struct pool_block {
	struct pool_block *next;
	size_t used, cap;
	_Alignas(max_align_t) unsigned char data[];
} pool_block;

typedef struct report_priv {
	dbs_verify_report pub; /* first: the public pointer is this struct */
	pool_block *blocks;
	dbs_verify_table *tables;
	size_t cap_tables;
} report_priv;

static void *pool_alloc(report_priv *r, size_t size)
{
	size_t align = _Alignof(max_align_t);
	void *p = NULL;
	if (size > SIZE_MAX - align)
		goto out;
	size = (size + align - 1) / align * align;
	if (!r->blocks || r->blocks->cap - r->blocks->used < size) {
		size_t cap = size > 65536 ? size : 65536;
		pool_block *b = malloc(sizeof *b + cap);
		if (!b)
			goto out;
		b->next = r->blocks;
		b->used = 0;
		b->cap = cap;
		r->blocks = b;
	}
	p = r->blocks->data + r->blocks->used;
	r->blocks->used += size;
out:
	return p;
}

static char *pool_strn(report_priv *r, const char *s, size_t n)
{
	char *d = n < SIZE_MAX ? pool_alloc(r, n + 1) : NULL;
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static char *pool_str(report_priv *r, const char *s)
{
	return pool_strn(r, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

typedef struct vconn {
	dbs_dialect dialect;
	const char *label; /* "source" / "target", for messages */
	int code;          /* DBS_ESOURCE or DBS_ETARGET */
	PGconn *pg;
	MYSQL *my;
	dbs_mysql_dsn dsn;
	const char *pg_db; /* current_database() of a PostgreSQL side */
	char *pg_db_buf;
} vconn;

typedef struct vres {
	PGresult *pg;
	MYSQL_RES *my;
	MYSQL_ROW row;
	unsigned long *lens;
	size_t nrows, ncols, cur;
	int started;
} vres;

static void vres_clear(vres *r)
{
	if (r->pg)
		PQclear(r->pg);
	if (r->my)
		mysql_free_result(r->my);
	memset(r, 0, sizeof *r);
}

static int vq(vconn *c, const char *sql, vres *r, char *err, size_t errlen)
{
	int rc = c->code;
	memset(r, 0, sizeof *r);
	if (c->pg) {
		r->pg = PQexec(c->pg, sql);
		ExecStatusType st = r->pg ? PQresultStatus(r->pg) : PGRES_FATAL_ERROR;
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			dbs__fmt(err, errlen, "%s: %s (%.200s)", c->label,
			         r->pg ? PQresultErrorMessage(r->pg) : PQerrorMessage(c->pg), sql);
			goto fail;
		}
		r->nrows = (size_t)PQntuples(r->pg);
		r->ncols = (size_t)PQnfields(r->pg);
	} else {
		if (mysql_real_query(c->my, sql, strlen(sql))) {
			dbs__fmt(err, errlen, "%s: %s (%.200s)", c->label, mysql_error(c->my), sql);
			goto fail;
		}
		r->my = mysql_store_result(c->my);
		if (!r->my && mysql_field_count(c->my) != 0) {
			dbs__fmt(err, errlen, "%s: %s (%.200s)", c->label, mysql_error(c->my), sql);
			goto fail;
		}
		if (r->my) {
			r->nrows = (size_t)mysql_num_rows(r->my);
			r->ncols = mysql_num_fields(r->my);
		}
	}
	rc = 0;
fail:
	if (rc)
		vres_clear(r);
	return rc;
}

/* Advance to the next row; 1 when there is one. */
static int vres_next(vres *r)
{
	if (r->pg) {
		if (r->started)
			r->cur++;
		r->started = 1;
		return r->cur < r->nrows;
	}
	if (!r->my)
		return 0;
	r->row = mysql_fetch_row(r->my);
	r->lens = r->row ? mysql_fetch_lengths(r->my) : NULL;
	return r->row != NULL;
}

/* The current row's column `i`; NULL for SQL NULL. */
static const char *vres_get(const vres *r, size_t i, size_t *len)
{
	if (r->pg) {
		if (PQgetisnull(r->pg, (int)r->cur, (int)i))
			return NULL;
		*len = (size_t)PQgetlength(r->pg, (int)r->cur, (int)i);
		return PQgetvalue(r->pg, (int)r->cur, (int)i);
	}
	if (!r->row[i])
		return NULL;
	*len = r->lens[i];
	return r->row[i];
}

static int vexec(vconn *c, const char *sql, char *err, size_t errlen)
{
	vres r;
	int rc = vq(c, sql, &r, err, errlen);
	vres_clear(&r);
	return rc;
}

static void vconn_close(vconn *c)
{
	if (c->pg)
		PQfinish(c->pg);
	if (c->my)
		mysql_close(c->my);
	dbs__mysql_dsn_free(&c->dsn);
	free(c->pg_db_buf);
	c->pg = NULL;
	c->my = NULL;
	c->pg_db_buf = NULL;
}

/*
 * Open one side read-only in a snapshot, with the settings that make the
 * text forms predictable: UTC, ISO dates, hex bytea, shortest exact floats.
 */
static int vconn_open(vconn *c, const char *type, const char *connection, const char *ssl_ca,
                      const char *ssl_cert, const char *ssl_key, char *err, size_t errlen)
{
	int rc = DBS_ECONFIG;
	if (!type || !connection) {
		dbs__fmt(err, errlen, "%s: no type or connection", c->label);
		goto fail;
	}
	if (strcmp(type, "postgresql") == 0 || strcmp(type, "postgres") == 0) {
		const char *keys[6], *vals[6];
		int k = 0;
		c->dialect = DBS_DIALECT_POSTGRESQL;
		keys[k] = "dbname", vals[k++] = connection;
		if (ssl_ca && ssl_ca[0])
			keys[k] = "sslrootcert", vals[k++] = ssl_ca;
		if (ssl_cert && ssl_cert[0])
			keys[k] = "sslcert", vals[k++] = ssl_cert;
		if (ssl_key && ssl_key[0])
			keys[k] = "sslkey", vals[k++] = ssl_key;
		keys[k] = "fallback_application_name", vals[k++] = "dbstreams-verify";
		keys[k] = NULL, vals[k] = NULL;
		rc = DBS_ENOMEM;
		if (!(c->pg = PQconnectdbParams(keys, vals, 1))) {
			dbs__fmt(err, errlen, "out of memory");
			goto fail;
		}
		rc = c->code;
		if (PQstatus(c->pg) != CONNECTION_OK) {
			dbs__fmt(err, errlen, "%s: connecting: %s", c->label,
			         PQerrorMessage(c->pg));
			goto fail;
		}
		if ((rc = vexec(c,
		                "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
		                "SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; "
		                "SET bytea_output = 'hex'; SET standard_conforming_strings = on; "
		                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		                err, errlen)))
			goto fail;
		const char *db = PQdb(c->pg);
		if (!(c->pg_db_buf = strdup(db ? db : ""))) {
			rc = DBS_ENOMEM;
			goto fail;
		}
		c->pg_db = c->pg_db_buf;
	} else if (strcmp(type, "mysql") == 0 || strcmp(type, "mariadb") == 0) {
		c->dialect = DBS_DIALECT_MYSQL;
		if ((rc = dbs__mysql_dsn_parse(&c->dsn, connection, err, errlen)))
			goto fail;
		rc = DBS_ENOMEM;
		if (!(c->my = mysql_init(NULL))) {
			dbs__fmt(err, errlen, "out of memory");
			goto fail;
		}
		unsigned timeout = 10;
		mysql_optionsv(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
		mysql_optionsv(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
		if (c->dsn.tls != DBS_MYSQL_TLS_OFF || ssl_ca || ssl_cert || ssl_key) {
			my_bool enforce = c->dsn.tls != DBS_MYSQL_TLS_PREFERRED;
			my_bool verify = c->dsn.tls == DBS_MYSQL_TLS_VERIFY ||
			                 (c->dsn.tls == DBS_MYSQL_TLS_OFF && ssl_ca);
			mysql_ssl_set(c->my, ssl_key, ssl_cert, ssl_ca, NULL, NULL);
			mysql_optionsv(c->my, MYSQL_OPT_SSL_ENFORCE, &enforce);
			mysql_optionsv(c->my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
		}
		rc = c->code;
		if (!mysql_real_connect(c->my, c->dsn.socket ? NULL : c->dsn.host, c->dsn.user,
		                        c->dsn.password, NULL, c->dsn.socket ? 0 : c->dsn.port,
		                        c->dsn.socket, 0)) {
			dbs__fmt(err, errlen, "%s: connecting: %s", c->label, mysql_error(c->my));
			goto fail;
		}
		/* Quotes doubled are the only escaping the literals below use. */
		if ((rc = vexec(c, "SET time_zone = '+00:00'", err, errlen)) ||
		    (rc = vexec(
		         c, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION'",
		         err, errlen)) ||
		    (rc = vexec(c, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err,
		                errlen)) ||
		    (rc = vexec(c, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", err,
		                errlen)))
			goto fail;
	} else {
		dbs__fmt(err, errlen, "%s: verify supports postgresql and mysql, not \"%s\"",
		         c->label, type);
		goto fail;
	}
	rc = 0;
fail:
	return rc;
}

static int append_ident(dbs_textbuf *b, dbs_dialect d, const char *ident)
{
	if (d == DBS_DIALECT_POSTGRESQL)
		return dbs__textbuf_append_ident(b, ident);
	int rc = dbs__textbuf_append_char(b, '`');
	for (const char *p = ident; !rc && *p; p++)
		rc =
		    (*p == '`' ? dbs__textbuf_append(b, "``", 2) : dbs__textbuf_append_char(b, *p));
	return rc ? rc : dbs__textbuf_append_char(b, '`');
}

static int append_qname(dbs_textbuf *b, dbs_dialect d, const char *schema, const char *name)
{
	int rc = append_ident(b, d, schema);
	if (!rc)
		rc = dbs__textbuf_append_char(b, '.');
	return rc ? rc : append_ident(b, d, name);
}

/* ------------------------------------------------------------------ */
/* Table definitions                                                   */
/* ------------------------------------------------------------------ */

typedef struct vcol {
	char *name, *type;
	dbs_sqltype st; /* points into name and type */
} vcol;

typedef struct vtabdef {
	int exists;
	vcol *cols;
	uint32_t ncols;
	uint32_t *keys; /* column indices in key order */
	uint32_t nkeys;
} vtabdef;

static void tabdef_free(vtabdef *t)
{
	for (uint32_t i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].type);
	}
	free(t->cols);
	free(t->keys);
	memset(t, 0, sizeof *t);
}

static int sql_literal(dbs_textbuf *b, const char *s)
{
	return dbs__textbuf_append_literal(b, s, strlen(s));
}

/* Columns and primary key of schema.name; t->exists = 0 when absent. */
static int tabdef_load(vconn *c, const char *schema, const char *name, vtabdef *t, char *err,
                       size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_textbuf q = {0};
	vres r = {0};
	memset(t, 0, sizeof *t);
	if (c->dialect == DBS_DIALECT_POSTGRESQL) {
		dbs_textbuf rel = {0};
		int bad =
		    dbs__textbuf_append_ident(&rel, schema) ||
		    dbs__textbuf_append_char(&rel, '.') || dbs__textbuf_append_ident(&rel, name) ||
		    dbs__textbuf_append_str(&q, "SELECT a.attname, format_type(a.atttypid, "
		                                "a.atttypmod), coalesce(array_position("
		                                "i.indkey::int2[], a.attnum) - "
		                                "array_lower(i.indkey::int2[], 1) + 1, 0) "
		                                "FROM pg_attribute a "
		                                "LEFT JOIN pg_index i ON i.indrelid = a.attrelid "
		                                "AND i.indisprimary "
		                                "WHERE a.attrelid = to_regclass(") ||
		    dbs__textbuf_append_literal(&q, rel.data, rel.len) ||
		    dbs__textbuf_append_str(&q, ") AND a.attnum > 0 AND NOT a.attisdropped "
		                                "ORDER BY a.attnum");
		dbs__textbuf_free(&rel);
		if (bad)
			goto fail;
	} else {
		/* MariaDB's JSON is longtext with a json_valid check: call it json. */
		if (dbs__textbuf_append_str(
		        &q, "SELECT COLUMN_NAME, IF(COLUMN_TYPE = 'longtext' AND "
		            "EXISTS (SELECT 1 FROM information_schema."
		            "CHECK_CONSTRAINTS cc WHERE cc.CONSTRAINT_SCHEMA = "
		            "c.TABLE_SCHEMA AND cc.TABLE_NAME = c.TABLE_NAME AND "
		            "cc.CHECK_CLAUSE = CONCAT('json_valid(`', "
		            "c.COLUMN_NAME, '`)')), 'json', COLUMN_TYPE), "
		            "coalesce((SELECT k.ORDINAL_POSITION FROM "
		            "information_schema.KEY_COLUMN_USAGE k WHERE "
		            "k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = "
		            "c.TABLE_NAME AND k.COLUMN_NAME = c.COLUMN_NAME AND "
		            "k.CONSTRAINT_NAME = 'PRIMARY'), 0) "
		            "FROM information_schema.COLUMNS c WHERE TABLE_SCHEMA = ") ||
		    sql_literal(&q, schema) || dbs__textbuf_append_str(&q, " AND TABLE_NAME = ") ||
		    sql_literal(&q, name) ||
		    dbs__textbuf_append_str(&q, " ORDER BY ORDINAL_POSITION"))
			goto fail;
	}
	if ((rc = vq(c, q.data, &r, err, errlen)))
		goto fail;
	rc = DBS_ENOMEM;
	if (r.nrows == 0) {
		rc = 0;
		goto fail;
	}
	if (r.nrows > UINT32_MAX || !(t->cols = calloc(r.nrows, sizeof *t->cols)) ||
	    !(t->keys = calloc(r.nrows, sizeof *t->keys)))
		goto fail;
	t->exists = 1;
	while (vres_next(&r)) {
		size_t ln = 0, lt = 0, lk = 0;
		const char *n = vres_get(&r, 0, &ln), *ty = vres_get(&r, 1, &lt);
		const char *kp = vres_get(&r, 2, &lk);
		vcol *col = &t->cols[t->ncols];
		if (!(col->name = strndup(n ? n : "", n ? ln : 0)) ||
		    !(col->type = strndup(ty ? ty : "", ty ? lt : 0)))
			goto fail;
		long pos = kp ? strtol(kp, NULL, 10) : 0;
		if (pos > 0 && (size_t)pos <= r.nrows) {
			t->keys[pos - 1] = t->ncols;
			if ((uint32_t)pos > t->nkeys)
				t->nkeys = (uint32_t)pos;
		}
		dbs_table def;
		dbs_column dc;
		memset(&def, 0, sizeof def);
		memset(&dc, 0, sizeof dc);
		def.dialect = c->dialect;
		def.schema = schema;
		def.name = name;
		dc.name = col->name;
		dc.type_name = col->type;
		dc.type_mod = -1;
		dc.flags = pos > 0 ? DBS_COLUMN_KEY : 0;
		dbs__sqlmap_parse(&def, &dc, &col->st);
		t->ncols++;
	}
	rc = 0;
fail:
	vres_clear(&r);
	dbs__textbuf_free(&q);
	if (rc)
		tabdef_free(t);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Canonical text                                                      */
/* ------------------------------------------------------------------ */

static int canon_of(const dbs_sqltype *st)
{
	const char *ty = st->type_name ? st->type_name : "";
	switch (st->cls) {
	case DBS_SQL_INT:
	case DBS_SQL_DECIMAL:
	case DBS_SQL_NUMERIC:
	case DBS_SQL_YEAR: return K_NUM;
	case DBS_SQL_FLOAT:
		if ((st->dialect == DBS_DIALECT_MYSQL && strncasecmp(ty, "float", 5) == 0) ||
		    (st->dialect == DBS_DIALECT_POSTGRESQL && strcmp(ty, "real") == 0))
			return K_FLOAT4;
		return K_FLOAT8;
	case DBS_SQL_BOOL: return K_BOOL;
	case DBS_SQL_TIME: return K_TIME;
	case DBS_SQL_DATETIME: return K_DATETIME;
	case DBS_SQL_TIMESTAMP: return K_TIMESTAMP;
	case DBS_SQL_STRING:
		if (st->dialect == DBS_DIALECT_POSTGRESQL &&
		    (strncmp(ty, "character(", 10) == 0 || strcmp(ty, "character") == 0 ||
		     strcmp(ty, "bpchar") == 0))
			return K_TEXT_RTRIM;
		return K_TEXT;
	case DBS_SQL_BINARY:
	case DBS_SQL_GEOMETRY: return K_BYTES;
	case DBS_SQL_BIT: return st->dialect == DBS_DIALECT_MYSQL && st->len <= 1 ? K_BOOL : K_BIT;
	case DBS_SQL_JSON:
	case DBS_SQL_ARRAY: return K_JSON;
	case DBS_SQL_UUID: return K_UUID;
	default: return K_TEXT;
	}
}

/* The select-list expression that reads column `col` of one side as text
 * the canonicaliser of kind `k` understands. */
static int append_expr(dbs_textbuf *b, dbs_dialect d, const vcol *col, int k)
{
	int rc;
	const dbs_sqltype *st = &col->st;
	if (d == DBS_DIALECT_POSTGRESQL) {
		if (st->cls == DBS_SQL_BINARY) {
			if (!(rc = dbs__textbuf_append_str(b, "encode(")) &&
			    !(rc = append_ident(b, d, col->name)))
				rc = dbs__textbuf_append_str(b, ", 'hex')");
		} else if (st->cls == DBS_SQL_ARRAY) {
			if (!(rc = dbs__textbuf_append_str(b, "array_to_json(")) &&
			    !(rc = append_ident(b, d, col->name)))
				rc = dbs__textbuf_append_str(b, ")::text");
		} else if (st->cls == DBS_SQL_INTERVAL && k == K_TIME) {
			/* A MySQL TIME kept as interval: its length in seconds. */
			if (!(rc = dbs__textbuf_append_str(b, "extract(epoch from ")) &&
			    !(rc = append_ident(b, d, col->name)))
				rc = dbs__textbuf_append_str(b, ")::text");
		} else {
			rc = append_ident(b, d, col->name);
		}
		return rc;
	}
	if (st->cls == DBS_SQL_BINARY || st->cls == DBS_SQL_GEOMETRY ||
	    (k == K_BYTES && st->cls != DBS_SQL_STRING)) {
		if (!(rc = dbs__textbuf_append_str(b, "HEX(")) &&
		    !(rc = append_ident(b, d, col->name)))
			rc = dbs__textbuf_append_char(b, ')');
	} else if (st->cls == DBS_SQL_BIT && k == K_BIT) {
		if (!(rc = dbs__textbuf_append_str(b, "LPAD(BIN(")) &&
		    !(rc = append_ident(b, d, col->name)))
			rc = dbs__textbuf_appendf(b, "), %d, '0')", st->len > 0 ? (int)st->len : 1);
	} else if (st->cls == DBS_SQL_BIT) {
		if (!(rc = append_ident(b, d, col->name)))
			rc = dbs__textbuf_append_str(b, "+0");
	} else if (st->cls == DBS_SQL_FLOAT && k == K_FLOAT4) {
		/* MySQL prints FLOAT with 6 digits; as a double it is exact. */
		if (!(rc = append_ident(b, d, col->name)))
			rc = dbs__textbuf_append_str(b, "+0e0");
	} else {
		rc = append_ident(b, d, col->name);
	}
	return rc;
}

/* Exact decimal: sign, integer digits without leading zeros, fraction
 * without trailing zeros; "-0.00" is "0". Anything else stays as is. */
static int canon_num(dbs_textbuf *b, const char *s, size_t n)
{
	size_t i = 0, ib, ie, fb, fe;
	int neg = 0;
	while (i < n && s[i] == ' ')
		i++;
	while (n > i && s[n - 1] == ' ')
		n--;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	ib = i;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	ie = i;
	fb = fe = i;
	if (i < n && s[i] == '.') {
		fb = ++i;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		fe = i;
	}
	if (i != n || (ie == ib && fe == fb))
		return dbs__textbuf_append(b, s, n);
	while (ib < ie && s[ib] == '0')
		ib++;
	while (fe > fb && s[fe - 1] == '0')
		fe--;
	int rc = 0;
	if (neg && (ib < ie || fb < fe))
		rc = dbs__textbuf_append_char(b, '-');
	if (!rc)
		rc = ib < ie ? dbs__textbuf_append(b, s + ib, ie - ib)
		             : dbs__textbuf_append_char(b, '0');
	if (!rc && fb < fe && !(rc = dbs__textbuf_append_char(b, '.')))
		rc = dbs__textbuf_append(b, s + fb, fe - fb);
	return rc;
}

static int canon_float(dbs_textbuf *b, const char *s, size_t n, int four)
{
	char tmp[128];
	char *end = NULL;
	if (n == 0 || n >= sizeof tmp)
		return dbs__textbuf_append(b, s, n);
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	double d = strtod(tmp, &end);
	if (*end != '\0' || !isfinite(d))
		return dbs__textbuf_append(b, s, n);
	if (d == 0)
		d = 0; /* -0 prints as 0 */
	if (four)
		return dbs__textbuf_appendf(b, "%.9g", (double)(float)d);
	return dbs__textbuf_appendf(b, "%.17g", d);
}

static int canon_bool(dbs_textbuf *b, const char *s, size_t n)
{
	static const char *const yes[] = {"t", "true", "1", "y", "yes", "on"};
	static const char *const no[] = {"f", "false", "0", "n", "no", "off"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0)
			return dbs__textbuf_append_char(b, '1');
		if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0)
			return dbs__textbuf_append_char(b, '0');
	}
	return dbs__textbuf_append(b, s, n);
}

/* Read `w` digits (exactly) at s[*i]. */
static int digits(const char *s, size_t n, size_t *i, int w, long *out)
{
	long v = 0;
	for (int k = 0; k < w; k++) {
		if (*i >= n || !isdigit((unsigned char)s[*i]))
			return -1;
		v = v * 10 + (s[(*i)++] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Fraction digits after '.', scaled to microseconds (extra digits cut). */
static void fraction(const char *s, size_t n, size_t *i, long *usec)
{
	long v = 0;
	int k = 0;
	*usec = 0;
	if (*i < n && s[*i] == '.') {
		(*i)++;
		while (*i < n && isdigit((unsigned char)s[*i])) {
			if (k < 6)
				v = v * 10 + (s[*i] - '0'), k++;
			(*i)++;
		}
		while (k++ < 6)
			v *= 10;
		*usec = v;
	}
}

/*
 * "YYYY-MM-DD[ T]HH:MM:SS[.f][zone]" to the canonical form. With
 * `instant`, a zone (Z, ±HH, ±HH:MM, ±HHMM, ±HH:MM:SS) is applied and the
 * result is UTC with a Z; a value without one is taken as UTC. Anything
 * else (infinity, BC, zero dates) stays as is.
 */
static int canon_datetime(dbs_textbuf *b, const char *s, size_t n, int instant)
{
	size_t i = 0;
	long y, mo, d, h, mi, se, us, oh = 0, om = 0, os = 0;
	int sign = 0;
	if (digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' || digits(s, n, &i, 2, &mo) ||
	    i >= n || s[i++] != '-' || digits(s, n, &i, 2, &d) || i >= n ||
	    (s[i] != ' ' && s[i] != 'T') || (++i, digits(s, n, &i, 2, &h)) || i >= n ||
	    s[i++] != ':' || digits(s, n, &i, 2, &mi) || i >= n || s[i++] != ':' ||
	    digits(s, n, &i, 2, &se))
		return dbs__textbuf_append(b, s, n);
	fraction(s, n, &i, &us);
	if (i < n && s[i] == 'Z') {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		sign = s[i++] == '-' ? -1 : 1;
		if (digits(s, n, &i, 2, &oh))
			return dbs__textbuf_append(b, s, n);
		if (i < n && s[i] == ':')
			i++;
		if (i < n && digits(s, n, &i, 2, &om))
			return dbs__textbuf_append(b, s, n);
		if (i < n && s[i] == ':')
			i++;
		if (i < n && digits(s, n, &i, 2, &os))
			return dbs__textbuf_append(b, s, n);
	}
	if (i != n || mo < 1 || mo > 12 || d < 1 || d > 31 || (sign && !instant))
		return dbs__textbuf_append(b, s, n);
	if (!instant)
		return dbs__textbuf_appendf(b, "%04ld-%02ld-%02ld %02ld:%02ld:%02ld.%06ld", y, mo,
		                            d, h, mi, se, us);
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	               se - (int64_t)sign * (oh * 3600 + om * 60 + os);
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400, yy;
	unsigned mm, dd;
	civil_from_days(days, &yy, &mm, &dd);
	return dbs__textbuf_appendf(b, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06ldZ",
	                            (long long)yy, mm, dd, (long long)(rem / 3600),
	                            (long long)(rem / 60 % 60), (long long)(rem % 60), us);
}

/* "[-]H:MM:SS[.f]" (MySQL TIME, PostgreSQL time) or "[-]seconds[.f]"
 * (an interval's epoch) to "[-]H:MM:SS.ffffff". */
static int canon_time(dbs_textbuf *b, const char *s, size_t n)
{
	size_t i = 0;
	int neg = 0;
	long long h = 0, total;
	long mi = 0, se = 0, us = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	size_t start = i;
	while (i < n && isdigit((unsigned char)s[i]) && i - start < 12)
		h = h * 10 + (s[i++] - '0');
	if (i == start)
		return dbs__textbuf_append(b, s, n);
	if (i < n && s[i] == ':') {
		i++;
		if (digits(s, n, &i, 2, &mi) || i >= n || s[i++] != ':' || digits(s, n, &i, 2, &se))
			return dbs__textbuf_append(b, s, n);
		fraction(s, n, &i, &us);
		total = h * 3600 + mi * 60 + se;
	} else {
		fraction(s, n, &i, &us);
		total = h;
	}
	if (i != n)
		return dbs__textbuf_append(b, s, n);
	if (total == 0 && us == 0)
		neg = 0;
	return dbs__textbuf_appendf(b, "%s%lld:%02lld:%02lld.%06ld", neg ? "-" : "", total / 3600,
	                            total / 60 % 60, total % 60, us);
}

static int canon_lower(dbs_textbuf *b, const char *s, size_t n)
{
	int rc = dbs__textbuf_reserve(b, n);
	if (!rc) {
		for (size_t i = 0; i < n; i++)
			b->data[b->len + i] = (char)tolower((unsigned char)s[i]);
		b->len += n;
		b->data[b->len] = '\0';
	}
	return rc;
}

static int json_key_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* Sort every object's members by key, recursively (stable for equal keys). */
static int json_sort(cJSON *node)
{
	int rc = 0;
	for (cJSON *c = node->child; c && !rc; c = c->next)
		rc = json_sort(c);
	if (rc || !cJSON_IsObject(node) || !node->child)
		return rc;
	size_t n = 0;
	for (cJSON *c = node->child; c; c = c->next)
		n++;
	cJSON **v = malloc(n * sizeof *v);
	if (!v)
		return DBS_ENOMEM;
	n = 0;
	for (cJSON *c = node->child; c; c = c->next)
		v[n++] = c;
	/* Insertion sort keeps duplicates in order and objects are small. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && json_key_cmp(&v[j - 1], &v[j]) > 0; j--) {
			cJSON *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		v[i]->prev = i ? v[i - 1] : v[n - 1]; /* cJSON: child->prev is the tail */
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	}
	node->child = v[0];
	free(v);
	return 0;
}

static int canon_json(dbs_textbuf *b, const char *s, size_t n)
{
	int rc;
	cJSON *j = cJSON_ParseWithLength(s, n);
	char *p = NULL;
	if (!j)
		return dbs__textbuf_append(b, s, n);
	if ((rc = json_sort(j)))
		goto out;
	if (!(p = cJSON_PrintUnformatted(j))) {
		rc = DBS_ENOMEM;
		goto out;
	}
	rc = dbs__textbuf_append_str(b, p);
out:
	cJSON_free(p);
	cJSON_Delete(j);
	return rc;
}

static int canon_value(dbs_textbuf *b, int k, const char *s, size_t n)
{
	switch (k) {
	case K_TEXT_RTRIM:
		while (n > 0 && s[n - 1] == ' ')
			n--;
		return dbs__textbuf_append(b, s, n);
	case K_NUM: return canon_num(b, s, n);
	case K_FLOAT4:
	case K_FLOAT8: return canon_float(b, s, n, k == K_FLOAT4);
	case K_BOOL: return canon_bool(b, s, n);
	case K_DATETIME:
	case K_TIMESTAMP: return canon_datetime(b, s, n, k == K_TIMESTAMP);
	case K_TIME: return canon_time(b, s, n);
	case K_BYTES:
	case K_UUID: return canon_lower(b, s, n);
	case K_JSON: return canon_json(b, s, n);
	default: return dbs__textbuf_append(b, s, n);
	}
}

/* ------------------------------------------------------------------ */
/* Rows: length-prefixed canonical values, key columns first           */
/* ------------------------------------------------------------------ */

typedef struct vrow {
	const char *p;
	size_t off;
	uint32_t len, keylen;
} vrow;

typedef struct vchunk {
	dbs_textbuf buf;
	vrow *rows;
	size_t n, cap;
} vchunk;

static void chunk_reset(vchunk *c)
{
	dbs__textbuf_reset(&c->buf);
	c->n = 0;
}

static void chunk_free(vchunk *c)
{
	dbs__textbuf_free(&c->buf);
	free(c->rows);
	memset(c, 0, sizeof *c);
}

/* Decode value `i` of an encoded row; returns 0 for NULL, 1 for a value. */
static int row_value(const char *p, uint32_t len, uint32_t i, const char **v, uint32_t *vlen)
{
	uint32_t off = 0;
	for (;;) {
		uint32_t l;
		if (off + 5 > len)
			return *v = NULL, *vlen = 0, 0;
		memcpy(&l, p + off + 1, 4);
		if (i == 0) {
			*v = p + off + 5;
			*vlen = l;
			return p[off] != 0;
		}
		off += 5 + l;
		i--;
	}
}

typedef struct plan_col {
	uint32_t s, t; /* column index in the source and target definitions */
	int canon;
} plan_col;

/* Read every row of `r` into `c`, canonicalised; `nkey` leading columns
 * are the key (all of them when nkey == ncols). */
static int chunk_fill(vchunk *c, vres *r, const plan_col *plan, uint32_t ncols, uint32_t nkey)
{
	int rc = 0;
	while (!rc && vres_next(r)) {
		size_t start = c->buf.len, keyend = start;
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 1024;
			vrow *nr =
			    cap < SIZE_MAX / sizeof *nr ? realloc(c->rows, cap * sizeof *nr) : NULL;
			if (!nr)
				return DBS_ENOMEM;
			c->rows = nr;
			c->cap = cap;
		}
		for (uint32_t j = 0; j < ncols && !rc; j++) {
			size_t len = 0, at = c->buf.len;
			const char *v = vres_get(r, j, &len);
			char hdr[5] = {v != NULL, 0, 0, 0, 0};
			if ((rc = dbs__textbuf_append(&c->buf, hdr, 5)))
				break;
			if (v && (rc = canon_value(&c->buf, plan[j].canon, v, len)))
				break;
			size_t vl = c->buf.len - at - 5;
			if (vl > UINT32_MAX)
				return DBS_ENOMEM;
			uint32_t l32 = (uint32_t)vl;
			memcpy(c->buf.data + at + 1, &l32, 4);
			if (j + 1 == nkey)
				keyend = c->buf.len;
		}
		if (rc)
			break;
		if (c->buf.len - start > UINT32_MAX)
			return DBS_ENOMEM;
		vrow *row = &c->rows[c->n++];
		row->off = start;
		row->len = (uint32_t)(c->buf.len - start);
		row->keylen = (uint32_t)(keyend - start);
	}
	/* The buffer no longer moves: point the rows into it. */
	for (size_t i = 0; i < c->n; i++)
		c->rows[i].p = c->buf.data + c->rows[i].off;
	return rc;
}

static int key_cmp(const vrow *a, const vrow *b)
{
	uint32_t n = a->keylen < b->keylen ? a->keylen : b->keylen;
	int c = memcmp(a->p, b->p, n);
	return c ? c : (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

static int row_cmp_key(const void *x, const void *y)
{
	return key_cmp(x, y);
}

static int row_cmp_full(const void *x, const void *y)
{
	const vrow *a = x, *b = y;
	uint32_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void sort_rows(vchunk *c, int (*cmp)(const void *, const void *))
{
	if (c->n > 1)
		qsort(c->rows, c->n, sizeof *c->rows, cmp);
}

static int chunk_digest(EVP_MD_CTX *md, const vchunk *c, unsigned char out[EVP_MAX_MD_SIZE])
{
	unsigned int olen = 0;
	if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		return DBS_EINTERNAL;
	for (size_t i = 0; i < c->n; i++)
		if (!EVP_DigestUpdate(md, c->rows[i].p, c->rows[i].len))
			return DBS_EINTERNAL;
	return EVP_DigestFinal_ex(md, out, &olen) ? 0 : DBS_EINTERNAL;
}

/* ------------------------------------------------------------------ */
/* Per-table state                                                     */
/* ------------------------------------------------------------------ */

typedef struct pending {
	int kind;
	char *row;
	uint32_t len, keylen;
} pending;

typedef struct vtable_run {
	report_priv *rep;
	dbs_verify_table *out;
	const dbs_verify_options *opts;
	const plan_col *plan;
	uint32_t ncols, nkey;
	const char *const *names; /* source column names, in the report's pool */
	dbs_verify_diff *diffs;
	size_t ndiffs, cap_diffs;
	pending *pend;
	size_t npend, cap_pend;
} vtable_run;

/* Count a difference and list it while there is room. `cols` are plan
 * indices of the differing columns (CHANGED). */
static int diff_add(vtable_run *t, int kind, const vrow *row, const uint32_t *cols, uint32_t ncols)
{
	if (kind == DBS_VERIFY_MISSING)
		t->out->missing++;
	else if (kind == DBS_VERIFY_EXTRA)
		t->out->extra++;
	else
		t->out->changed++;
	if (t->ndiffs >= t->opts->max_diffs)
		return 0;
	if (t->ndiffs == t->cap_diffs) {
		size_t cap = t->cap_diffs ? t->cap_diffs * 2 : 16;
		dbs_verify_diff *nd = realloc(t->diffs, cap * sizeof *nd);
		if (!nd)
			return DBS_ENOMEM;
		t->diffs = nd;
		t->cap_diffs = cap;
	}
	const char **key = pool_alloc(t->rep, (t->nkey ? t->nkey : 1) * sizeof *key);
	const char **names = pool_alloc(t->rep, (ncols ? ncols : 1) * sizeof *names);
	if (!key || !names)
		return DBS_ENOMEM;
	for (uint32_t i = 0; i < t->nkey; i++) {
		const char *v;
		uint32_t vl;
		key[i] = NULL;
		if (row_value(row->p, row->keylen, i, &v, &vl) &&
		    !(key[i] = pool_strn(t->rep, v, vl)))
			return DBS_ENOMEM;
	}
	for (uint32_t i = 0; i < ncols; i++)
		names[i] = t->names[t->plan[cols[i]].s];
	dbs_verify_diff *d = &t->diffs[t->ndiffs++];
	d->kind = (dbs_verify_diff_kind)kind;
	d->key = key;
	d->columns = names;
	d->ncolumns = ncols;
	return 0;
}

/* Both rows have the key: list the columns whose values differ. */
static int compare_rows(vtable_run *t, const vrow *s, const vrow *g)
{
	uint32_t *cols = NULL, n = 0;
	int rc = 0;
	if (s->len == g->len && memcmp(s->p, g->p, s->len) == 0)
		return 0;
	if (!(cols = malloc(t->ncols * sizeof *cols)))
		return DBS_ENOMEM;
	for (uint32_t j = t->nkey; j < t->ncols; j++) {
		const char *a, *b;
		uint32_t al, bl;
		int an = row_value(s->p, s->len, j, &a, &al),
		    bn = row_value(g->p, g->len, j, &b, &bl);
		if (an != bn || al != bl || (al && memcmp(a, b, al) != 0))
			cols[n++] = j;
	}
	if (n)
		rc = diff_add(t, DBS_VERIFY_CHANGED, s, cols, n);
	free(cols);
	return rc;
}

static int pending_add(vtable_run *t, int kind, const vrow *row)
{
	if (t->npend >= PENDING_MAX)
		return diff_add(t, kind, row, NULL, 0);
	if (t->npend == t->cap_pend) {
		size_t cap = t->cap_pend ? t->cap_pend * 2 : 64;
		pending *np = realloc(t->pend, cap * sizeof *np);
		if (!np)
			return DBS_ENOMEM;
		t->pend = np;
		t->cap_pend = cap;
	}
	pending *p = &t->pend[t->npend];
	if (!(p->row = malloc(row->len ? row->len : 1)))
		return DBS_ENOMEM;
	memcpy(p->row, row->p, row->len);
	p->kind = kind;
	p->len = row->len;
	p->keylen = row->keylen;
	t->npend++;
	return 0;
}

static int pending_cmp(const void *x, const void *y)
{
	const pending *a = x, *b = y;
	vrow ra = {a->row, 0, a->len, a->keylen}, rb = {b->row, 0, b->len, b->keylen};
	int c = key_cmp(&ra, &rb);
	return c ? c : a->kind - b->kind;
}

/* Match missing and extra rows of the same key found in different chunks. */
static int pending_settle(vtable_run *t)
{
	int rc = 0;
	if (t->npend > 1)
		qsort(t->pend, t->npend, sizeof *t->pend, pending_cmp);
	for (size_t i = 0; i < t->npend && !rc;) {
		pending *a = &t->pend[i];
		vrow ra = {a->row, 0, a->len, a->keylen};
		if (i + 1 < t->npend) {
			pending *b = &t->pend[i + 1];
			vrow rb = {b->row, 0, b->len, b->keylen};
			if (key_cmp(&ra, &rb) == 0 && a->kind == DBS_VERIFY_MISSING &&
			    b->kind == DBS_VERIFY_EXTRA) {
				rc = compare_rows(t, &ra, &rb);
				i += 2;
				continue;
			}
		}
		rc = diff_add(t, a->kind, &ra, NULL, 0);
		i++;
	}
	for (size_t i = 0; i < t->npend; i++)
		free(t->pend[i].row);
	t->npend = 0;
	return rc;
}

/* Row-by-row comparison of a chunk whose digests differ (both sorted). */
static int chunk_merge(vtable_run *t, const vchunk *s, const vchunk *g, int multiset)
{
	size_t i = 0, j = 0;
	int rc = 0;
	while (!rc && (i < s->n || j < g->n)) {
		int c;
		if (i < s->n && j < g->n)
			c = multiset ? row_cmp_full(&s->rows[i], &g->rows[j])
			             : key_cmp(&s->rows[i], &g->rows[j]);
		else
			c = i < s->n ? -1 : 1;
		if (c < 0) {
			rc = multiset ? diff_add(t, DBS_VERIFY_MISSING, &s->rows[i], NULL, 0)
			              : pending_add(t, DBS_VERIFY_MISSING, &s->rows[i]);
			i++;
		} else if (c > 0) {
			rc = multiset ? diff_add(t, DBS_VERIFY_EXTRA, &g->rows[j], NULL, 0)
			              : pending_add(t, DBS_VERIFY_EXTRA, &g->rows[j]);
			j++;
		} else {
			if (!multiset)
				rc = compare_rows(t, &s->rows[i], &g->rows[j]);
			i++, j++;
		}
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

static int is_plain_number(const char *v, uint32_t n)
{
	uint32_t i = 0, d = 0;
	if (i < n && v[i] == '-')
		i++;
	for (; i < n && (isdigit((unsigned char)v[i]) || v[i] == '.' || v[i] == 'e' ||
	                 v[i] == 'E' || v[i] == '+' || v[i] == '-');
	     i++)
		d += isdigit((unsigned char)v[i]) != 0;
	return n > 0 && i == n && d > 0;
}

/* A canonical key value as a literal the side's column type accepts. */
static int append_key_literal(dbs_textbuf *b, dbs_dialect d, int k, const char *v, uint32_t n)
{
	int my = d == DBS_DIALECT_MYSQL;
	if (!v)
		return dbs__textbuf_append_str(b, "NULL");
	if ((k == K_NUM || k == K_FLOAT4 || k == K_FLOAT8 || k == K_BOOL) && my &&
	    is_plain_number(v, n))
		return dbs__textbuf_append(b, v, n);
	if (k == K_BYTES) {
		int rc = dbs__textbuf_append_str(b, my ? "X'" : "'\\x");
		if (!rc)
			rc = dbs__textbuf_append(b, v, n);
		return rc ? rc : dbs__textbuf_append_char(b, '\'');
	}
	if (k == K_TIMESTAMP && my && n == 27 && v[10] == 'T' && v[26] == 'Z') {
		char tmp[27];
		memcpy(tmp, v, 26);
		tmp[10] = ' ';
		return dbs__textbuf_append_literal(b, tmp, 26);
	}
	return dbs__textbuf_append_literal(b, v, n);
}

/*
 * Keyset condition on the key columns against the encoded key `key`:
 * op ">" or "<=". PostgreSQL compares rows; MySQL gets the expanded form
 * its range optimiser reads.
 */
static int append_key_cond(dbs_textbuf *b, dbs_dialect d, const vtabdef *def, const uint32_t *kidx,
                           const plan_col *plan, uint32_t nkey, const vrow *key, int greater)
{
	int rc = 0;
	if (d == DBS_DIALECT_POSTGRESQL || nkey == 1) {
		rc = dbs__textbuf_append_char(b, '(');
		for (uint32_t i = 0; i < nkey && !rc; i++)
			if (!(rc = i ? dbs__textbuf_append_str(b, ", ") : 0))
				rc = append_ident(b, d, def->cols[kidx[i]].name);
		if (!rc)
			rc = dbs__textbuf_append_str(b, greater ? ") > (" : ") <= (");
		for (uint32_t i = 0; i < nkey && !rc; i++) {
			const char *v;
			uint32_t vl;
			if (!(rc = i ? dbs__textbuf_append_str(b, ", ") : 0)) {
				int nn = row_value(key->p, key->keylen, i, &v, &vl);
				rc = append_key_literal(b, d, plan[i].canon, nn ? v : NULL, vl);
			}
		}
		return rc ? rc : dbs__textbuf_append_char(b, ')');
	}
	/* (k1 > v1 OR (k1 = v1 AND (k2 > v2 OR ...))) */
	for (uint32_t i = 0; i < nkey && !rc; i++) {
		const char *v;
		uint32_t vl;
		int nn = row_value(key->p, key->keylen, i, &v, &vl);
		int last = i + 1 == nkey;
		const char *op = greater ? " > " : (last ? " <= " : " < ");
		if ((rc = dbs__textbuf_append_char(b, '(')) ||
		    (rc = append_ident(b, d, def->cols[kidx[i]].name)) ||
		    (rc = dbs__textbuf_append_str(b, op)) ||
		    (rc = append_key_literal(b, d, plan[i].canon, nn ? v : NULL, vl)))
			break;
		if (last)
			break;
		if ((rc = dbs__textbuf_append_str(b, " OR (")) ||
		    (rc = append_ident(b, d, def->cols[kidx[i]].name)) ||
		    (rc = dbs__textbuf_append_str(b, " = ")) ||
		    (rc = append_key_literal(b, d, plan[i].canon, nn ? v : NULL, vl)) ||
		    (rc = dbs__textbuf_append_str(b, " AND ")))
			break;
	}
	for (uint32_t i = 0; i < nkey && !rc; i++)
		rc = dbs__textbuf_append_str(b, i + 1 == nkey ? ")" : "))");
	return rc;
}

typedef struct side_q {
	vconn *c;
	const vtabdef *def;
	const char *schema, *name;
	uint32_t *kidx; /* key column indices in def, key order */
	int is_target;
} side_q;

static int build_select(dbs_textbuf *b, const side_q *sq, const plan_col *plan, uint32_t ncols,
                        uint32_t nkey, int ordered, const vrow *lo, const vrow *hi, uint32_t limit)
{
	dbs_dialect d = sq->c->dialect;
	int rc = dbs__textbuf_append_str(b, "SELECT ");
	for (uint32_t j = 0; j < ncols && !rc; j++) {
		const vcol *col = &sq->def->cols[sq->is_target ? plan[j].t : plan[j].s];
		if (!(rc = j ? dbs__textbuf_append_str(b, ", ") : 0))
			rc = append_expr(b, d, col, plan[j].canon);
	}
	if (!rc && !(rc = dbs__textbuf_append_str(b, " FROM ")))
		rc = append_qname(b, d, sq->schema, sq->name);
	if (!rc && (lo || hi))
		rc = dbs__textbuf_append_str(b, " WHERE ");
	if (!rc && lo)
		rc = append_key_cond(b, d, sq->def, sq->kidx, plan, nkey, lo, 1);
	if (!rc && lo && hi)
		rc = dbs__textbuf_append_str(b, " AND ");
	if (!rc && hi)
		rc = append_key_cond(b, d, sq->def, sq->kidx, plan, nkey, hi, 0);
	if (!rc && ordered) {
		rc = dbs__textbuf_append_str(b, " ORDER BY ");
		for (uint32_t i = 0; i < nkey && !rc; i++)
			if (!(rc = i ? dbs__textbuf_append_str(b, ", ") : 0))
				rc = append_ident(b, d, sq->def->cols[sq->kidx[i]].name);
	}
	if (!rc && limit)
		rc = dbs__textbuf_appendf(b, " LIMIT %u", limit);
	return rc;
}

static int fetch_chunk(const side_q *sq, const plan_col *plan, uint32_t ncols, uint32_t nkey,
                       int ordered, const vrow *lo, const vrow *hi, uint32_t limit, vchunk *out,
                       char *err, size_t errlen)
{
	dbs_textbuf q = {0};
	vres r = {0};
	int rc;
	chunk_reset(out);
	if ((rc = build_select(&q, sq, plan, ncols, nkey, ordered, lo, hi, limit)))
		goto out;
	if ((rc = vq(sq->c, q.data, &r, err, errlen)))
		goto out;
	if ((rc = chunk_fill(out, &r, plan, ncols, ordered ? nkey : ncols)))
		dbs__fmt(err, errlen, "out of memory");
out:
	vres_clear(&r);
	dbs__textbuf_free(&q);
	return rc;
}

/* Copy the key of `row` into `keep` (so the next fetch can reuse buffers). */
static int key_keep(dbs_textbuf *keep, vrow *dst, const vrow *row)
{
	dbs__textbuf_reset(keep);
	int rc = dbs__textbuf_append(keep, row->p, row->keylen);
	if (!rc) {
		dst->p = keep->data;
		dst->off = 0;
		dst->len = dst->keylen = row->keylen;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* One table                                                           */
/* ------------------------------------------------------------------ */

typedef struct vpair {
	char *s_schema, *s_name, *t_schema, *t_name;
} vpair;

static int verify_table(report_priv *rep, const dbs_verify_options *opts, vconn *src, vconn *tgt,
                        const vpair *pair, dbs_verify_table *out, EVP_MD_CTX *md, char *err,
                        size_t errlen)
{
	int rc;
	vtabdef sd = {0}, td = {0};
	plan_col *plan = NULL;
	uint32_t *skidx = NULL, *tkidx = NULL, ncols = 0, nkey = 0;
	vchunk S = {0}, T = {0};
	dbs_textbuf lo_buf = {0}, hi_buf = {0};
	const char **missing_cols = NULL, **pnames = NULL;
	char note[512] = "";
	vtable_run run;
	memset(&run, 0, sizeof run);

	rc = DBS_ENOMEM;
	if (!(out->source_schema = pool_str(rep, pair->s_schema)) ||
	    !(out->source_name = pool_str(rep, pair->s_name)) ||
	    !(out->target_schema = pool_str(rep, pair->t_schema)) ||
	    !(out->target_name = pool_str(rep, pair->t_name)))
		goto fail;
	if ((rc = tabdef_load(src, pair->s_schema, pair->s_name, &sd, err, errlen)) ||
	    (rc = tabdef_load(tgt, pair->t_schema, pair->t_name, &td, err, errlen)))
		goto fail;
	if (!sd.exists) {
		rc = DBS_ESOURCE;
		dbs__fmt(err, errlen, "source table %s.%s does not exist", pair->s_schema,
		         pair->s_name);
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(plan = calloc(sd.ncols, sizeof *plan)) ||
	    !(skidx = calloc(sd.ncols, sizeof *skidx)) ||
	    !(tkidx = calloc(sd.ncols, sizeof *tkidx)) ||
	    !(missing_cols = pool_alloc(rep, sd.ncols * sizeof *missing_cols)))
		goto fail;
	/* Names the report keeps must outlive the definitions. */
	if (!(pnames = pool_alloc(rep, sd.ncols * sizeof *pnames)))
		goto fail;
	for (uint32_t i = 0; i < sd.ncols; i++)
		if (!(pnames[i] = pool_str(rep, sd.cols[i].name)))
			goto fail;
	out->has_primary_key = sd.nkeys > 0;
	out->target_exists = td.exists;

	/* Plan: key columns first, in key order; then the other columns the
	 * target has. A source column the target lacks is a difference. */
	int key_missing = 0;
	uint32_t nk = sd.nkeys ? sd.nkeys : 0;
	for (uint32_t pass = 0; pass < 2; pass++) {
		for (uint32_t x = 0; x < (pass == 0 ? nk : sd.ncols); x++) {
			uint32_t i = pass == 0 ? sd.keys[x] : x;
			int is_key = 0;
			for (uint32_t y = 0; y < nk; y++)
				is_key |= sd.keys[y] == i;
			if (pass == 1 && is_key)
				continue;
			uint32_t ti = UINT32_MAX;
			for (uint32_t y = 0; y < td.ncols && ti == UINT32_MAX; y++)
				if (strcmp(td.cols[y].name, sd.cols[i].name) == 0)
					ti = y;
			for (uint32_t y = 0; y < td.ncols && ti == UINT32_MAX; y++)
				if (strcasecmp(td.cols[y].name, sd.cols[i].name) == 0)
					ti = y;
			if (ti == UINT32_MAX) {
				if (td.exists) {
					missing_cols[out->nmissing_columns++] = pnames[i];
					if (pass == 0)
						key_missing = 1;
					if (pass == 1)
						continue;
				}
				ti = 0; /* never read: the target is not queried */
			}
			plan[ncols].s = i;
			plan[ncols].t = ti;
			plan[ncols].canon = canon_of(&sd.cols[i].st);
			/* JSON on either side (a text column of the other) compares as JSON. */
			if (td.exists && ti < td.ncols && canon_of(&td.cols[ti].st) == K_JSON &&
			    plan[ncols].canon == K_TEXT)
				plan[ncols].canon = K_JSON;
			if (pass == 0) {
				skidx[nkey] = i;
				tkidx[nkey] = ti;
				nkey++;
			}
			ncols++;
		}
	}
	out->missing_columns = missing_cols;

	int target_usable = td.exists && !key_missing;
	if (!td.exists)
		dbs__fmt(note, sizeof note, "target table %s.%s does not exist", pair->t_schema,
		         pair->t_name);
	else if (key_missing)
		dbs__fmt(note, sizeof note,
		         "the target table lacks a key column: every row counts as missing");

	run.rep = rep;
	run.out = out;
	run.opts = opts;
	run.plan = plan;
	run.ncols = ncols;
	run.names = pnames;

	side_q sq = {src, &sd, pair->s_schema, pair->s_name, skidx, 0};
	side_q tq = {tgt, &td, pair->t_schema, pair->t_name, tkidx, 1};
	unsigned char ds[EVP_MAX_MD_SIZE], dt[EVP_MAX_MD_SIZE];

	if (nkey == 0) {
		/* No primary key: the whole row is the identity. */
		if (!note[0])
			dbs__fmt(note, sizeof note,
			         "no primary key: compared as multisets of rows");
		run.nkey = ncols;
		const char **kc = pool_alloc(rep, (ncols ? ncols : 1) * sizeof *kc);
		if (!kc)
			goto fail;
		for (uint32_t j = 0; j < ncols; j++)
			kc[j] = pnames[plan[j].s];
		out->key_columns = kc;
		out->nkey_columns = ncols;
		if ((rc = fetch_chunk(&sq, plan, ncols, 0, 0, NULL, NULL, 0, &S, err, errlen)))
			goto fail;
		if (target_usable &&
		    (rc = fetch_chunk(&tq, plan, ncols, 0, 0, NULL, NULL, 0, &T, err, errlen)))
			goto fail;
		for (size_t i = 0; i < S.n; i++)
			S.rows[i].keylen = S.rows[i].len;
		for (size_t i = 0; i < T.n; i++)
			T.rows[i].keylen = T.rows[i].len;
		sort_rows(&S, row_cmp_full);
		sort_rows(&T, row_cmp_full);
		out->source_rows = S.n;
		out->target_rows = T.n;
		out->chunks = 1;
		if ((rc = chunk_digest(md, &S, ds)) || (rc = chunk_digest(md, &T, dt)))
			goto fail;
		if (S.n != T.n || memcmp(ds, dt, 32) != 0) {
			out->chunks_differing = 1;
			if ((rc = chunk_merge(&run, &S, &T, 1)))
				goto fail;
		}
	} else {
		run.nkey = nkey;
		const char **kc = pool_alloc(rep, nkey * sizeof *kc);
		if (!kc)
			goto fail;
		for (uint32_t j = 0; j < nkey; j++)
			kc[j] = pnames[skidx[j]];
		out->key_columns = kc;
		out->nkey_columns = nkey;
		vrow lo = {0}, hi = {0};
		int have_lo = 0;
		for (;;) {
			if ((rc = fetch_chunk(&sq, plan, ncols, nkey, 1, have_lo ? &lo : NULL, NULL,
			                      opts->chunk_size, &S, err, errlen)))
				goto fail;
			if (S.n == 0) {
				/* Past the source's last key: whatever the target has is extra. */
				while (target_usable) {
					if ((rc = fetch_chunk(&tq, plan, ncols, nkey, 1,
					                      have_lo ? &lo : NULL, NULL,
					                      opts->chunk_size, &T, err, errlen)))
						goto fail;
					if (T.n == 0)
						break;
					out->chunks++;
					out->chunks_differing++;
					out->target_rows += T.n;
					if ((rc = key_keep(&lo_buf, &lo, &T.rows[T.n - 1])))
						goto fail;
					have_lo = 1;
					chunk_reset(&S);
					if ((rc = chunk_merge(&run, &S, &T, 0)))
						goto fail;
				}
				break;
			}
			rc = DBS_ENOMEM;
			if (key_keep(&hi_buf, &hi, &S.rows[S.n - 1]))
				goto fail;
			if (target_usable) {
				if ((rc = fetch_chunk(&tq, plan, ncols, nkey, 1,
				                      have_lo ? &lo : NULL, &hi, 0, &T, err,
				                      errlen)))
					goto fail;
			} else {
				chunk_reset(&T);
			}
			out->chunks++;
			out->source_rows += S.n;
			out->target_rows += T.n;
			sort_rows(&S, row_cmp_key);
			sort_rows(&T, row_cmp_key);
			if ((rc = chunk_digest(md, &S, ds)) || (rc = chunk_digest(md, &T, dt)))
				goto fail;
			if (S.n != T.n || memcmp(ds, dt, 32) != 0) {
				out->chunks_differing++;
				if ((rc = chunk_merge(&run, &S, &T, 0)))
					goto fail;
			}
			/* hi becomes the next lower bound. */
			dbs_textbuf sw = lo_buf;
			lo_buf = hi_buf;
			hi_buf = sw;
			lo = hi;
			lo.p = lo_buf.data;
			have_lo = 1;
			if (S.n < opts->chunk_size && !target_usable)
				break;
		}
		if ((rc = pending_settle(&run)))
			goto fail;
	}
	if (!(out->note = pool_str(rep, note))) {
		rc = DBS_ENOMEM;
		goto fail;
	}
	if (run.ndiffs) {
		dbs_verify_diff *d = pool_alloc(rep, run.ndiffs * sizeof *d);
		if (!d) {
			rc = DBS_ENOMEM;
			goto fail;
		}
		memcpy(d, run.diffs, run.ndiffs * sizeof *d);
		out->diffs = d;
		out->ndiffs = run.ndiffs;
	}
	rc = 0;
fail:
	if (rc == DBS_ENOMEM && !err[0])
		dbs__fmt(err, errlen, "out of memory");
	for (size_t i = 0; i < run.npend; i++)
		free(run.pend[i].row);
	free(run.pend);
	free(run.diffs);
	chunk_free(&S);
	chunk_free(&T);
	dbs__textbuf_free(&lo_buf);
	dbs__textbuf_free(&hi_buf);
	free(plan);
	free(skidx);
	free(tkidx);
	tabdef_free(&sd);
	tabdef_free(&td);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Which tables                                                        */
/* ------------------------------------------------------------------ */

typedef struct vlist {
	vpair *v;
	size_t n, cap;
} vlist;

static void vlist_free(vlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].s_schema);
		free(l->v[i].s_name);
		free(l->v[i].t_schema);
		free(l->v[i].t_name);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* Add source table schema.name with the name the target gives it. */
static int vlist_add(vlist *l, const vconn *tgt, const char *schema, size_t sl, const char *name,
                     size_t nl)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		vpair *nv = realloc(l->v, cap * sizeof *nv);
		if (!nv)
			return DBS_ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	vpair *p = &l->v[l->n];
	/* The PostgreSQL target keeps schema.table; the MySQL target puts
	 * every table into the database its connection names. */
	const char *ts = tgt->dialect == DBS_DIALECT_MYSQL ? tgt->dsn.database : NULL;
	p->s_schema = strndup(schema, sl);
	p->s_name = strndup(name, nl);
	p->t_schema = ts ? strdup(ts) : strndup(schema, sl);
	p->t_name = strndup(name, nl);
	if (!p->s_schema || !p->s_name || !p->t_schema || !p->t_name) {
		free(p->s_schema);
		free(p->s_name);
		free(p->t_schema);
		free(p->t_name);
		return DBS_ENOMEM;
	}
	l->n++;
	return 0;
}

/* "t" / "s.t" as the source resolves filter names. */
static void split_name(const vconn *src, const char *n, const char **schema, size_t *sl,
                       const char **name)
{
	const char *dot = strchr(n, '.');
	if (dot) {
		*schema = n;
		*sl = (size_t)(dot - n);
		*name = dot + 1;
	} else {
		*schema = src->dialect == DBS_DIALECT_MYSQL ? src->dsn.database : "public";
		*sl = strlen(*schema);
		*name = n;
	}
}

static int list_tables(const dbs_config *cfg, vconn *src, vconn *tgt, vlist *l, char *err,
                       size_t errlen)
{
	int rc = 0;
	vres r = {0};
	dbs_textbuf q = {0};
	const dbs_source_config *sc = &cfg->source;
	if (sc->ntables) {
		for (uint32_t i = 0; i < sc->ntables && !rc; i++) {
			const char *schema, *name;
			size_t sl;
			split_name(src, sc->tables[i].name ? sc->tables[i].name : "", &schema, &sl,
			           &name);
			rc = vlist_add(l, tgt, schema, sl, name, strlen(name));
		}
		goto out;
	}
	rc = DBS_ENOMEM;
	if (src->dialect == DBS_DIALECT_POSTGRESQL) {
		const char *pub =
		    sc->publication_name ? sc->publication_name : "dbconvert-publication";
		if (dbs__textbuf_append_str(
		        &q, "SELECT schemaname, tablename FROM "
		            "pg_publication_tables WHERE tablename <> '" CHECKPOINT_TABLE
		            "' AND pubname = ") ||
		    sql_literal(&q, pub) || dbs__textbuf_append_str(&q, " ORDER BY 1, 2"))
			goto out;
		if ((rc = vq(src, q.data, &r, err, errlen)))
			goto out;
		if (r.nrows == 0) {
			/* No publication yet: the one the source would make publishes all. */
			vres_clear(&r);
			if ((rc = vq(
			         src,
			         "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
			         "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
			         "AND NOT c.relispartition "
			         "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
			         "AND n.nspname NOT LIKE 'pg\\_%' "
			         "AND c.relname <> '" CHECKPOINT_TABLE "' ORDER BY 1, 2",
			         &r, err, errlen)))
				goto out;
		}
	} else {
		if (dbs__textbuf_append_str(
		        &q, "SELECT TABLE_SCHEMA, TABLE_NAME FROM "
		            "information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
		            "AND TABLE_NAME <> '" CHECKPOINT_TABLE "' AND "))
			goto out;
		if (src->dsn.database[0]) {
			if (dbs__textbuf_append_str(&q, "TABLE_SCHEMA = ") ||
			    sql_literal(&q, src->dsn.database))
				goto out;
		} else if (dbs__textbuf_append_str(&q,
		                                   "TABLE_SCHEMA NOT IN ('mysql', 'sys', "
		                                   "'performance_schema', 'information_schema')")) {
			goto out;
		}
		if (dbs__textbuf_append_str(&q, " ORDER BY 1, 2"))
			goto out;
		if ((rc = vq(src, q.data, &r, err, errlen)))
			goto out;
	}
	rc = 0;
	while (!rc && vres_next(&r)) {
		size_t sl = 0, nl = 0;
		const char *s = vres_get(&r, 0, &sl), *n = vres_get(&r, 1, &nl);
		if (s && n)
			rc = vlist_add(l, tgt, s, sl, n, nl);
	}
out:
	vres_clear(&r);
	dbs__textbuf_free(&q);
	return rc;
}

/* Keep only the tables opts->tables names; DBS_ENOTFOUND for a stranger. */
static int list_subset(vlist *l, const vconn *src, const dbs_verify_options *opts, char *err,
                       size_t errlen)
{
	int rc = 0;
	char *keep = NULL;
	if (!opts->tables || opts->ntables == 0)
		return 0;
	if (!(keep = calloc(l->n ? l->n : 1, 1)))
		return DBS_ENOMEM;
	for (size_t i = 0; i < opts->ntables && !rc; i++) {
		const char *schema, *name;
		size_t sl;
		int found = 0;
		split_name(src, opts->tables[i] ? opts->tables[i] : "", &schema, &sl, &name);
		for (size_t j = 0; j < l->n; j++)
			if (strlen(l->v[j].s_schema) == sl &&
			    strncmp(l->v[j].s_schema, schema, sl) == 0 &&
			    strcmp(l->v[j].s_name, name) == 0)
				keep[j] = 1, found = 1;
		if (!found) {
			rc = DBS_ENOTFOUND;
			dbs__fmt(err, errlen, "table \"%s\" is not among the stream's tables",
			         opts->tables[i] ? opts->tables[i] : "");
		}
	}
	if (!rc) {
		size_t w = 0;
		for (size_t j = 0; j < l->n; j++) {
			if (keep[j]) {
				l->v[w++] = l->v[j];
			} else {
				free(l->v[j].s_schema);
				free(l->v[j].s_name);
				free(l->v[j].t_schema);
				free(l->v[j].t_name);
			}
		}
		l->n = w;
	}
	free(keep);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

DBS_API const char *dbs_verify_diff_kind_name(dbs_verify_diff_kind kind)
{
	switch (kind) {
	case DBS_VERIFY_MISSING: return "missing";
	case DBS_VERIFY_EXTRA: return "extra";
	case DBS_VERIFY_CHANGED: return "changed";
	default: return "unknown";
	}
}

DBS_API void dbs_verify_report_free(dbs_verify_report *report)
{
	report_priv *r = (report_priv *)report;
	if (!r)
		return;
	while (r->blocks) {
		pool_block *b = r->blocks;
		r->blocks = b->next;
		free(b);
	}
	free(r->tables);
	free(r);
}

DBS_API int dbs_verify_run(dbs_verify_report **out, const char *config, size_t len,
                           const dbs_verify_options *opts)
{
	int rc = DBS_EINVAL;
	char err[ERR_MAX] = "";
	dbs_config *cfg = NULL;
	report_priv *rep = NULL;
	vconn src = {0}, tgt = {0};
	vlist tables = {0};
	EVP_MD_CTX *md = NULL;
	dbs_verify_options o = DBS_VERIFY_OPTIONS_INIT;
	int64_t t0 = dbs__monotonic_ns();

	if (out)
		*out = NULL;
	if (!out || !config) {
		dbs__fmt(err, sizeof err, "dbs_verify_run: NULL argument");
		goto fail;
	}
	if (opts) {
		if (opts->version < 1 || opts->version > DBS_VERIFY_OPTIONS_VERSION) {
			dbs__fmt(err, sizeof err, "dbs_verify_run: unknown options version %u",
			         opts->version);
			goto fail;
		}
		o = *opts;
	}
	if (o.chunk_size == 0)
		o.chunk_size = CHUNK_DEFAULT;
	if (o.chunk_size > CHUNK_MAX) {
		dbs__fmt(err, sizeof err, "dbs_verify_run: chunk size %u is over %u", o.chunk_size,
		         CHUNK_MAX);
		goto fail;
	}
	if ((rc = dbs__config_parse(&cfg, config, len, err, sizeof err)))
		goto fail;
	src.label = "source";
	src.code = DBS_ESOURCE;
	tgt.label = "target";
	tgt.code = DBS_ETARGET;
	if ((rc = vconn_open(&src, cfg->source.type, cfg->source.connection, cfg->source.ssl_ca,
	                     cfg->source.ssl_cert, cfg->source.ssl_key, err, sizeof err)) ||
	    (rc = vconn_open(&tgt, cfg->target.type, cfg->target.connection, cfg->target.ssl_ca,
	                     cfg->target.ssl_cert, cfg->target.ssl_key, err, sizeof err)))
		goto fail;
	if (tgt.dialect == DBS_DIALECT_MYSQL && !tgt.dsn.database[0]) {
		rc = DBS_ECONFIG;
		dbs__fmt(err, sizeof err, "target: the MySQL connection names no database");
		goto fail;
	}
	if ((rc = list_tables(cfg, &src, &tgt, &tables, err, sizeof err)) ||
	    (rc = list_subset(&tables, &src, &o, err, sizeof err)))
		goto fail;
	rc = DBS_ENOMEM;
	if (!(rep = calloc(1, sizeof *rep)) || !(md = EVP_MD_CTX_new()) ||
	    !(rep->tables = calloc(tables.n ? tables.n : 1, sizeof *rep->tables)))
		goto fail;
	rep->pub.version = 1;
	rep->pub.tables = rep->tables;
	for (size_t i = 0; i < tables.n; i++) {
		dbs_verify_table *t = &rep->tables[i];
		if ((rc = verify_table(rep, &o, &src, &tgt, &tables.v[i], t, md, err, sizeof err)))
			goto fail;
		rep->pub.ntables++;
		rep->pub.differences += t->missing + t->extra + t->changed + t->nmissing_columns;
	}
	rep->pub.elapsed_ns = dbs__monotonic_ns() - t0;
	*out = &rep->pub;
	rep = NULL;
	rc = 0;
fail:
	if (rc == DBS_ENOMEM && !err[0])
		dbs__fmt(err, sizeof err, "out of memory");
	EVP_MD_CTX_free(md);
	dbs_verify_report_free(rep ? &rep->pub : NULL);
	vlist_free(&tables);
	vconn_close(&src);
	vconn_close(&tgt);
	if (rc && cfg) {
		const char *conns[] = {cfg->source.connection, cfg->target.connection};
		dbs__scrub_secrets(err, sizeof err, conns, 2);
	}
	dbs__config_free(cfg);
	if (rc) {
		/* libpq messages end with a newline. */
		size_t el = strlen(err);
		while (el > 0 && (err[el - 1] == '\n' || err[el - 1] == ' '))
			err[--el] = '\0';
		dbs__error_set(rc, "%s", err);
	} else
		dbs__error_clear();
	return rc;
}
