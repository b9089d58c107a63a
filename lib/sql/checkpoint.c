/* The checkpoint table's one definition (checkpoint.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/position.h>

#include "sql/checkpoint.h"

/* Unsigned 64-bit values need numeric(20,0) in PostgreSQL: bigint stops
 * at 2^63. */
static const struct column {
	const char *name;
	const char *pg, *my;
} columns[] = {
	{"stream_id", "text PRIMARY KEY", "varchar(64) NOT NULL PRIMARY KEY"},
	{"txn", "numeric(20,0) NOT NULL", "bigint unsigned NOT NULL"},
	{"resume", "numeric(20,0) NOT NULL", "bigint unsigned NOT NULL"},
	{"event", "bigint NOT NULL", "bigint NOT NULL"},
	{"txn_end", "bigint NOT NULL", "bigint NOT NULL"},
	{"hub_seq", "numeric(20,0) NOT NULL", "bigint unsigned NOT NULL"},
	{"position", "text NOT NULL", "varchar(255) NOT NULL"},
	{"updated_at", "timestamptz NOT NULL DEFAULT now()", "datetime(6) NOT NULL"},
	/* MariaDB GTID of the position, "0-1-42"; NULL without one */
	{DBS_CHECKPOINT_GTID_COLUMN, "text", "varchar(64) NULL"},
};

#define NCOLUMNS (sizeof columns / sizeof columns[0])

static const char *type_in(const struct column *c, dbs_dialect d)
{
	return d == DBS_DIALECT_MYSQL ? c->my : c->pg;
}

int dbs__checkpoint_ddl(dbs_buf *out, dbs_dialect d)
{
	int rc = dbs_buf_append_str(out, "CREATE TABLE IF NOT EXISTS " DBS_CHECKPOINT_TABLE " (");
	for (size_t i = 0; i < NCOLUMNS && !rc; i++)
		rc = dbs_buf_appendf(out, "%s%s %s", i ? ", " : "", columns[i].name,
		                     type_in(&columns[i], d));
	if (!rc)
		rc = dbs_buf_append_str(out, d == DBS_DIALECT_MYSQL
		                                     ? ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
		                                     : ")");
	return rc;
}

int dbs__checkpoint_add_gtid_sql(dbs_buf *out, dbs_dialect d)
{
	/* PostgreSQL's IF NOT EXISTS keeps two streams opening at once apart;
	 * MySQL has none (the caller takes error 1060 as done). */
	return dbs_buf_appendf(out, "ALTER TABLE " DBS_CHECKPOINT_TABLE " ADD COLUMN %s%s %s",
	                       d == DBS_DIALECT_MYSQL ? "" : "IF NOT EXISTS ",
	                       DBS_CHECKPOINT_GTID_COLUMN, type_in(&columns[NCOLUMNS - 1], d));
}

int dbs__checkpoint_select_sql(dbs_buf *out, const char *stream_literal)
{
	return dbs_buf_appendf(out,
	                       "SELECT txn, resume, event, txn_end, " DBS_CHECKPOINT_GTID_COLUMN
	                       " FROM " DBS_CHECKPOINT_TABLE " WHERE stream_id = %s",
	                       stream_literal);
}

int dbs__checkpoint_parse(dbs_position *out, const char *const f[5], const char *stream_id,
                          char *err, size_t errlen)
{
	dbs_position pos;
	memset(&pos, 0, sizeof pos);
	if (!f[0] || !f[1] || !f[2] || !f[3]) {
		dbs_fmt(err, errlen, DBS_CHECKPOINT_TABLE " row of stream %s has NULLs", stream_id);
		return DBS_ETARGET;
	}
	errno = 0;
	pos.txn = strtoull(f[0], NULL, 10);
	pos.resume = strtoull(f[1], NULL, 10);
	unsigned long long ev = strtoull(f[2], NULL, 10);
	unsigned long long end = strtoull(f[3], NULL, 10);
	if (errno || ev > UINT32_MAX || end > UINT32_MAX) {
		dbs_fmt(err, errlen, DBS_CHECKPOINT_TABLE " row of stream %s is out of range",
		         stream_id);
		return DBS_ETARGET;
	}
	pos.event = (uint32_t)ev;
	pos.txn_end = (uint32_t)end;
	if (f[4] && f[4][0] &&
	    dbs_gtid_parse(f[4], strlen(f[4]), &pos.gtid_domain, &pos.gtid_server,
	                    &pos.gtid_seq) != 0) {
		dbs_fmt(err, errlen,
		         DBS_CHECKPOINT_TABLE " row of stream %s has a malformed gtid \"%.64s\"",
		         stream_id, f[4]);
		return DBS_ETARGET;
	}
	*out = pos;
	return 0;
}

int dbs__checkpoint_upsert_sql(dbs_buf *out, dbs_dialect d, const char *stream_literal,
                               const dbs_position *last, uint64_t seq, const char *pos_text)
{
	int my = d == DBS_DIALECT_MYSQL;
	char gtid[48], gtid_sql[52] = "NULL";
	if (last->gtid_seq && dbs_gtid_text(gtid, sizeof gtid, last) == 0)
		dbs_fmt(gtid_sql, sizeof gtid_sql, "'%s'", gtid);
	int rc = dbs_buf_appendf(
	    out,
	    "INSERT INTO " DBS_CHECKPOINT_TABLE " (stream_id, txn, resume, event, txn_end, hub_seq, "
	    "position, " DBS_CHECKPOINT_GTID_COLUMN ", updated_at) VALUES (%s, %" PRIu64
	    ", %" PRIu64 ", %" PRIu32 ", %" PRIu32 ", %" PRIu64 ", '%s', %s, %s) %s",
	    stream_literal, last->txn, last->resume, last->event, last->txn_end, seq, pos_text,
	    gtid_sql, my ? "UTC_TIMESTAMP(6)" : "now()",
	    my ? "ON DUPLICATE KEY UPDATE" : "ON CONFLICT (stream_id) DO UPDATE SET");
	for (size_t i = 1; i < NCOLUMNS && !rc; i++)
		rc = dbs_buf_appendf(out, my ? "%s %s=VALUES(%s)" : "%s %s = EXCLUDED.%s",
		                     i > 1 ? "," : "", columns[i].name, columns[i].name);
	return rc;
}
