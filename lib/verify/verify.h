/*
 * What the files of verify share (lib/verify, library-internal): one
 * side's connection and results, table definitions, canonical rows in
 * chunks, and the list of tables to compare. verify.c holds the method
 * (see its opening comment); db.c talks to the servers, canon.c makes
 * values comparable, tables.c finds the stream's tables.
 */
#ifndef DBS_VERIFY_VERIFY_H
#define DBS_VERIFY_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libpq-fe.h>
#include <mysql.h>
#include <openssl/evp.h>

#include <dbstreams/verify.h>
#include <dbstreams/sys/buf.h>

#include "core/core.h"
#include "sql/mysql_dsn.h"
#include "sql/settings.h"
#include "sql/sqlmap.h"
#include "sql/value_text.h"

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

/* ---- one side's connection (db.c) ---- */

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

/*
 * Open one side read-only in a snapshot, with the settings that make the
 * text forms predictable: UTC, ISO dates, hex bytea, shortest exact floats.
 */
int dbs__vconn_open(vconn *c, const char *type, const char *connection, const char *ssl_ca,
                    const char *ssl_cert, const char *ssl_key, char *err, size_t errlen);
void dbs__vconn_close(vconn *c);

/* Run `sql`; on failure c->code with the server's message in err. */
int dbs__vquery(vconn *c, const char *sql, vres *r, char *err, size_t errlen);
/* Advance to the next row; 1 when there is one. */
int dbs__vres_next(vres *r);
/* The current row's column `i`; NULL for SQL NULL. */
const char *dbs__vres_get(const vres *r, size_t i, size_t *len);
void dbs__vres_clear(vres *r);

static inline int sql_literal(dbs_buf *b, const char *s)
{
	return dbs__sql_append_literal(b, s, strlen(s));
}

/* ---- table definitions (db.c) ---- */

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

/* Columns and primary key of schema.name; t->exists = 0 when absent. */
int dbs__vtabdef_load(vconn *c, const char *schema, const char *name, vtabdef *t, char *err,
                      size_t errlen);
void dbs__vtabdef_free(vtabdef *t);

/* ---- rows: length-prefixed canonical values, key columns first (canon.c) ---- */

typedef struct vrow {
	const char *p;
	size_t off;
	uint32_t len, keylen;
} vrow;

typedef struct vchunk {
	dbs_buf buf;
	vrow *rows;
	size_t n, cap;
} vchunk;

typedef struct plan_col {
	uint32_t s, t; /* column index in the source and target definitions */
	int canon;
} plan_col;

/* The canonical form (enum canon) of a column's values. */
int dbs__vcanon_of(const dbs_sqltype *st);
/* The select-list expression that reads column `col` of one side as text
 * the canonicaliser of kind `k` understands. */
int dbs__vcanon_expr(dbs_buf *b, dbs_dialect d, const vcol *col, int k);

void dbs__vchunk_reset(vchunk *c);
void dbs__vchunk_free(vchunk *c);
/* Read every row of `r` into `c`, canonicalised; `nkey` leading columns
 * are the key (all of them when nkey == ncols). */
int dbs__vchunk_fill(vchunk *c, vres *r, const plan_col *plan, uint32_t ncols, uint32_t nkey);
/* Decode value `i` of an encoded row; returns 0 for NULL, 1 for a value. */
int dbs__vrow_value(const char *p, uint32_t len, uint32_t i, const char **v, uint32_t *vlen);
/* Orders of rows: by key, and by the whole row (tables without a key). */
int dbs__vkey_cmp(const vrow *a, const vrow *b);
int dbs__vrow_cmp_key(const void *x, const void *y);
int dbs__vrow_cmp_full(const void *x, const void *y);
void dbs__vchunk_sort(vchunk *c, int (*cmp)(const void *, const void *));
/* SHA-256 over the chunk's rows in their order. */
int dbs__vchunk_digest(EVP_MD_CTX *md, const vchunk *c, unsigned char out[EVP_MAX_MD_SIZE]);

/* ---- queries (db.c) ---- */

typedef struct side_q {
	vconn *c;
	const vtabdef *def;
	const char *schema, *name;
	uint32_t *kidx; /* key column indices in def, key order */
	int is_target;
} side_q;

/* One chunk of a side: rows with keys in (lo, hi] (either may be NULL),
 * in key order when `ordered`, at most `limit` (0: all). */
int dbs__vchunk_fetch(const side_q *sq, const plan_col *plan, uint32_t ncols, uint32_t nkey,
                      int ordered, const vrow *lo, const vrow *hi, uint32_t limit, vchunk *out,
                      char *err, size_t errlen);
/* Copy the key of `row` into `keep` (so the next fetch can reuse buffers). */
int dbs__vkey_keep(dbs_buf *keep, vrow *dst, const vrow *row);

/* ---- which tables (tables.c) ---- */

typedef struct vpair {
	char *s_schema, *s_name, *t_schema, *t_name;
} vpair;

typedef struct vlist {
	vpair *v;
	size_t n, cap;
} vlist;

/* The tables the stream `cfg` carries, each with the name its target
 * gives it: the filter's, or those the source publishes. */
int dbs__vlist_tables(const dbs_config *cfg, vconn *src, vconn *tgt, vlist *l, char *err,
                      size_t errlen);
/* Keep only the tables opts->tables names; DBS_ENOTFOUND for a stranger. */
int dbs__vlist_subset(vlist *l, const vconn *src, const dbs_verify_options *opts, char *err,
                      size_t errlen);
void dbs__vlist_free(vlist *l);

#endif
