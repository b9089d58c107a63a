/* The table of initial-load records (load.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

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
