/* The table of initial-load records, and the load's calls on a SQL
 * target's main session (load.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sql/load.h"
#include "sql/value_text.h"

/* Key bounds are integers joined by commas: short. */
static const struct column {
	const char *name;
	const char *pg, *my;
} columns[] = {
	{"stream_id", "text NOT NULL", "varchar(64) NOT NULL"},
	{"table_name", "text NOT NULL", "varchar(512) NOT NULL"},
	{"chunk", "bigint NOT NULL", "bigint NOT NULL"},
	{"state", "text NOT NULL", "varchar(16) NOT NULL"},
	{"lo", "text", "varchar(1024) NULL"},
	{"hi", "text", "varchar(1024) NULL"},
	{"source_position", "numeric(20,0) NOT NULL", "bigint unsigned NOT NULL"},
	{"row_count", "bigint NOT NULL", "bigint unsigned NOT NULL"},
	{"updated_at", "timestamptz NOT NULL DEFAULT now()", "datetime(6) NOT NULL"},
};

#define NCOLUMNS (sizeof columns / sizeof columns[0])

int dbs__load_records_ddl(dbs_buf *out, dbs_dialect d)
{
	int my = d == DBS_DIALECT_MYSQL;
	int rc = dbs_buf_append_str(out, "CREATE TABLE IF NOT EXISTS " DBS_LOAD_TABLE " (");
	for (size_t i = 0; i < NCOLUMNS && !rc; i++)
		rc = dbs_buf_appendf(out, "%s %s, ", columns[i].name, my ? columns[i].my : columns[i].pg);
	if (!rc)
		rc = dbs_buf_append_str(out, "PRIMARY KEY (stream_id, table_name, chunk))");
	if (!rc && my)
		rc = dbs_buf_append_str(out, " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
	return rc;
}

int dbs__load_records_select_sql(dbs_buf *out, const char *stream_literal)
{
	return dbs_buf_appendf(out,
	                       "SELECT table_name, chunk, state, lo, hi, source_position, row_count "
	                       "FROM " DBS_LOAD_TABLE " WHERE stream_id = %s "
	                       "ORDER BY table_name, chunk",
	                       stream_literal);
}

int dbs__load_record_parse(dbs_load_record *rec, const char *const f[7], char *err,
                           size_t errlen)
{
	char *end = NULL;
	memset(rec, 0, sizeof *rec);
	if (!f[0] || !f[1] || !f[2] || !f[5] || !f[6])
		goto bad;
	rec->table = f[0];
	errno = 0;
	long long chunk = strtoll(f[1], &end, 10);
	if (errno || *end)
		goto bad;
	rec->chunk = chunk;
	rec->state = f[2];
	rec->lo = f[3];
	rec->hi = f[4];
	rec->position = strtoull(f[5], &end, 10);
	if (errno || *end)
		goto bad;
	rec->rows = strtoull(f[6], &end, 10);
	if (errno || *end)
		goto bad;
	return 0;
bad:
	dbs_fmt(err, errlen, DBS_LOAD_TABLE " holds a malformed row (table \"%.128s\", chunk %.24s)",
	        f[0] ? f[0] : "", f[1] ? f[1] : "");
	return DBS_ETARGET;
}

static int text_or_null(dbs_buf *b, const char *s)
{
	return s ? dbs__sql_append_literal(b, s, strlen(s)) : dbs_buf_append_str(b, "NULL");
}

int dbs__load_records_upsert_sql(dbs_buf *out, dbs_dialect d, const char *stream_literal,
                         const dbs_load_record *r, uint32_t n)
{
	int my = d == DBS_DIALECT_MYSQL;
	int rc = dbs_buf_append_str(out, "INSERT INTO " DBS_LOAD_TABLE " (");
	for (size_t i = 0; i < NCOLUMNS && !rc; i++)
		rc = dbs_buf_appendf(out, "%s%s", i ? ", " : "", columns[i].name);
	if (!rc)
		rc = dbs_buf_append_str(out, ") VALUES ");
	for (uint32_t i = 0; i < n && !rc; i++) {
		if ((rc = dbs_buf_appendf(out, "%s(%s, ", i ? ", " : "", stream_literal)) ||
		    (rc = text_or_null(out, r[i].table ? r[i].table : "")) ||
		    (rc = dbs_buf_appendf(out, ", %" PRId64 ", ", r[i].chunk)) ||
		    (rc = text_or_null(out, r[i].state ? r[i].state : "")) ||
		    (rc = dbs_buf_append_str(out, ", ")) || (rc = text_or_null(out, r[i].lo)) ||
		    (rc = dbs_buf_append_str(out, ", ")) || (rc = text_or_null(out, r[i].hi)))
			break;
		rc = dbs_buf_appendf(out, ", %" PRIu64 ", %" PRIu64 ", %s)", r[i].position, r[i].rows,
		                     my ? "UTC_TIMESTAMP(6)" : "now()");
	}
	if (!rc)
		rc = dbs_buf_append_str(out, my ? " ON DUPLICATE KEY UPDATE"
		                                : " ON CONFLICT (stream_id, table_name, chunk) DO "
		                                  "UPDATE SET");
	for (size_t i = 3; i < NCOLUMNS && !rc; i++)
		rc = dbs_buf_appendf(out, my ? "%s %s=VALUES(%s)" : "%s %s = EXCLUDED.%s",
		                     i > 3 ? "," : "", columns[i].name, columns[i].name);
	return rc;
}

/* ---- the main session, again after a lost connection ---- */

/* One call of a main-session method, its arguments kept for a retry. */
typedef struct main_call {
	dbs_sqltarget *t;
	int what;
	dbs_load_record_fn fn;
	void *data;
	const dbs_load_table *table;
	int resumed;
	unsigned parts;
	const dbs_load_record *recs;
	uint32_t n;
} main_call;

enum { CALL_RECORDS, CALL_CHECK, CALL_PREPARE, CALL_FINISH, CALL_STORE };

static int call_attempt(void *ctx, char *err, size_t errlen)
{
	main_call *c = ctx;
	const dbs_sqlload_ops *ops = c->t->ops->load;
	dbs_target *base = &c->t->base;
	c->t->lost = 0;
	switch (c->what) {
	case CALL_RECORDS: return ops->records(base, c->fn, c->data, err, errlen);
	case CALL_CHECK: return ops->check(base, c->table, c->resumed, err, errlen);
	case CALL_PREPARE: return ops->prepare(base, c->table, c->recs, c->n, err, errlen);
	case CALL_FINISH: return ops->finish(base, c->table, c->parts, err, errlen);
	default: return ops->store(base, c->recs, c->n, err, errlen);
	}
}

/* A new session in place of the lost one (the SQL skeleton's reconnect). */
static int call_restore(void *ctx, char *err, size_t errlen)
{
	main_call *c = ctx;
	c->t->lost = 0;
	return c->t->ops->reconnect(c->t, err, errlen);
}

/* The main session sits idle while the writers copy: a server restarted
 * meanwhile is found here, and the call is made again on a new session
 * (each is idempotent), with the reconnect policy. */
static int main_run(main_call *c, char *err, size_t errlen)
{
	return dbs_retry_lost(c->t->host, c->t->ops->what, &c->t->lost, call_attempt, call_restore,
	                      c, err, errlen);
}

int dbs__sqlload_records(dbs_target *base, dbs_load_record_fn fn, void *data, char *err,
                         size_t errlen)
{
	main_call c = {.t = (dbs_sqltarget *)base, .what = CALL_RECORDS, .fn = fn, .data = data};
	return main_run(&c, err, errlen);
}

int dbs__sqlload_check(dbs_target *base, const dbs_load_table *table, int resumed, char *err,
                       size_t errlen)
{
	main_call c = {.t = (dbs_sqltarget *)base, .what = CALL_CHECK, .table = table,
	               .resumed = resumed};
	return main_run(&c, err, errlen);
}

int dbs__sqlload_prepare(dbs_target *base, const dbs_load_table *table,
                         const dbs_load_record *recs, uint32_t n, char *err, size_t errlen)
{
	main_call c = {.t = (dbs_sqltarget *)base, .what = CALL_PREPARE, .table = table,
	               .recs = recs, .n = n};
	return main_run(&c, err, errlen);
}

int dbs__sqlload_finish(dbs_target *base, const dbs_load_table *table, unsigned what, char *err,
                        size_t errlen)
{
	main_call c = {.t = (dbs_sqltarget *)base, .what = CALL_FINISH, .table = table,
	               .parts = what};
	return main_run(&c, err, errlen);
}

int dbs__sqlload_store(dbs_target *base, const dbs_load_record *recs, uint32_t n, char *err,
                       size_t errlen)
{
	main_call c = {.t = (dbs_sqltarget *)base, .what = CALL_STORE, .recs = recs, .n = n};
	return main_run(&c, err, errlen);
}
