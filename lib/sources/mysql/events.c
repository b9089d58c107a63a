/*
 * MySQL source: transactions and row events into batches, with their
 * positions and GTIDs, and the source lag.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/mysql/my_source.h"

/* ---- emitting ---- */

static int emit_batch(my_source *s, char *err, size_t errlen)
{
	int rc = 0;
	if (s->batch && dbs_batch_count(s->batch) > 0) {
		dbs_batch *b = s->batch;
		s->batch = NULL;
		int r = s->emit(b, s->emit_data);
		if (r == 1) {
			s->stop = 1;
		} else if (r < 0) {
			dbs_fmt(err, errlen, "the hub refused a batch (%d)", r);
			rc = DBS_EHUB;
		}
	}
	return rc;
}

/* The event's place in the transaction being read, and its commit time. */
static void stamp_event(my_source *s, dbs_event *ev)
{
	ev->commit_time_us = s->commit_time_us;
	ev->pos.txn = s->txn_pos;
	ev->pos.event = ++s->nevents;
	ev->pos.gtid_domain = s->gtid_domain;
	ev->pos.gtid_server = s->gtid_server;
	ev->pos.gtid_seq = s->gtid_seq;
}

static int new_event(my_source *s, table_entry *e, dbs_op op, dbs_event **out, char *err,
                     size_t errlen)
{
	int rc = 0;
	/* A full batch leaves only now: its last event is not the commit's.
	 * A schema event stays alone in its batch. */
	if (s->batch && (dbs_batch_count(s->batch) >= s->bundle ||
	                 (dbs_batch_count(s->batch) > 0 &&
	                  dbs_batch_event(s->batch, 0)->op == DBS_OP_SCHEMA))) {
		rc = emit_batch(s, err, errlen);
		if (rc != 0)
			goto fail;
	}
	rc = DBS_ENOMEM;
	if ((!s->batch && dbs_batch_new(&s->batch, s->bundle) != 0) ||
	    dbs_batch_add(s->batch, op, e->table, out) != 0) {
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	stamp_event(s, *out);
	rc = 0;
fail:
	return rc;
}

/* Emit the events held: a schema event goes alone in its batch. */
int dbs__mys_emit_pending(my_source *s, char *err, size_t errlen)
{
	return emit_batch(s, err, errlen);
}

/* A schema event for `table`, alone in a new batch at the next position
 * of the transaction; what was held is emitted first. */
int dbs__mys_schema_event(my_source *s, const dbs_table *table, dbs_event **out, char *err,
                          size_t errlen)
{
	int rc = emit_batch(s, err, errlen);
	if (rc != 0 || s->stop)
		return rc;
	rc = DBS_ENOMEM;
	if ((!s->batch && dbs_batch_new(&s->batch, 1) != 0) ||
	    dbs_batch_add(s->batch, DBS_OP_SCHEMA, table, out) != 0) {
		dbs_fmt(err, errlen, "out of memory");
		return rc;
	}
	stamp_event(s, *out);
	return 0;
}

int dbs__mys_txn_begin(my_source *s, uint64_t pos, uint32_t timestamp, char *err, size_t errlen)
{
	int rc = 0;
	if (s->in_txn && s->batch && dbs_batch_count(s->batch) > 0) {
		/* A transaction without its COMMIT/XID (an event kind this source
		 * does not know ended it): everything before this one is durable
		 * in the binlog, so it ends here rather than merge into the next. */
		dbs_log(s->host, DBS_LOG_WARN,
		     "mysql source: transaction at %s.%06" PRIu64 ":%" PRIu64
		     " ended without COMMIT",
		     s->base_name, s->txn_pos >> 32, s->txn_pos & 0xffffffffu);
		rc = dbs__mys_txn_end(s, pos, 0, err, errlen);
	}
	s->in_txn = 1;
	s->txn_pos = pos;
	s->nevents = 0;
	s->gtid_seq = 0; /* the GTID event sets it after this */
	s->commit_time_us = (int64_t)timestamp * 1000000;
	return rc;
}

/* Size of binlog file `file_no` if this source saw it end; 0 if not. */
static uint64_t file_size(const my_source *s, uint64_t file_no)
{
	for (unsigned i = 0; i < FILE_SIZES; i++)
		if (s->file_sizes[i].size && s->file_sizes[i].file_no == file_no)
			return s->file_sizes[i].size;
	return 0;
}

/* Binlog bytes from `from` to `to` (file_no << 32 | offset). Across files
 * it adds the sizes this source saw at rotation; a file it did not see
 * end counts from its start only, so the figure is then a lower bound. */
static uint64_t binlog_distance(const my_source *s, uint64_t from, uint64_t to)
{
	if (to <= from)
		return 0;
	uint64_t ff = from >> 32, tf = to >> 32;
	if (ff == tf)
		return to - from;
	uint64_t bytes = to & 0xffffffffu;
	uint64_t size = file_size(s, ff);
	if (size > (from & 0xffffffffu))
		bytes += size - (from & 0xffffffffu);
	for (uint64_t f = ff + 1; f < tf && f - ff <= FILE_SIZES; f++)
		bytes += file_size(s, f);
	return bytes;
}

/* Report how far the confirmed position is behind the server's end:
 * when every emitted transaction is acked, what was skipped since counts
 * as confirmed too. */
void dbs__mys_report_lag(my_source *s)
{
	uint64_t acked = atomic_load(&s->acked);
	uint64_t done = acked;
	if (acked >= s->emitted && s->restart.resume > done)
		done = s->restart.resume;
	dbs_report_source_lag(s->host, binlog_distance(s, done, s->server_end));
}

int dbs__mys_txn_end(my_source *s, uint64_t end_pos, uint64_t xid, char *err, size_t errlen)
{
	int rc = 0;
	if (s->batch && dbs_batch_count(s->batch) > 0) {
		uint32_t n = dbs_batch_count(s->batch);
		for (uint32_t i = 0; i < n; i++)
			dbs_batch_event(s->batch, i)->xid = xid;
		dbs_event *last = dbs_batch_event(s->batch, n - 1);
		last->pos.txn_end = 1;
		last->pos.resume = end_pos;
		s->emitted = end_pos;
		/* Before emit may wait on a full hub: a target that blocks
		 * shows as a growing lag. */
		dbs__mys_report_lag(s);
		rc = emit_batch(s, err, errlen);
	}
	if (end_pos) {
		s->restart = (dbs_position){.txn = s->txn_pos, .resume = end_pos, .txn_end = 1,
		                            .gtid_domain = s->gtid_domain,
		                            .gtid_server = s->gtid_server,
		                            .gtid_seq = s->gtid_seq};
	}
	s->in_txn = 0;
	s->standalone = 0;
	dbs__mys_report_lag(s); /* a skipped transaction counts as confirmed */
	return rc;
}

int dbs__mys_on_rows(my_source *s, const dbs_mysql_rows *rows, uint64_t start, uint32_t timestamp,
                     char *err, size_t errlen)
{
	int rc = DBS_EPROTO;
	table_entry *e = dbs__mys_entry_find(s, rows->table_id);
	if (!e) {
		dbs_fmt(err, errlen, "rows event for table id %" PRIu64 " without a TABLE_MAP",
		         rows->table_id);
		goto fail;
	}
	rc = 0;
	if (!(e->operations & (1u << rows->op)))
		goto fail;
	if (!s->in_txn) { /* rows outside any BEGIN: the statement is its own transaction */
		rc = dbs__mys_txn_begin(s, start, timestamp, err, errlen);
		if (rc != 0)
			goto fail;
	}
	size_t off = 0;
	while (off < rows->len && rc == 0 && !s->stop) {
		dbs_event *ev;
		rc = new_event(s, e, rows->op, &ev, err, errlen);
		if (rc != 0 || s->stop)
			break;
		rc = dbs__mysql_row_decode(&e->tm, rows, &off, ev->before, ev->after, s->batch,
		                           &s->scratch, err, errlen);
		for (uint32_t i = 0; rc == 0 && i < e->tm.ncols; i++) {
			if (!e->is_json[i])
				continue;
			if (ev->before && ev->before[i].kind == DBS_VALUE_TEXT)
				ev->before[i].kind = DBS_VALUE_JSON;
			if (ev->after && ev->after[i].kind == DBS_VALUE_TEXT)
				ev->after[i].kind = DBS_VALUE_JSON;
		}
	}
fail:
	return rc;
}

/*
 * The GTID of the transaction that begins. Positions compare by sequence
 * number within a domain, so one going backwards would make a target skip
 * it as applied already: fail instead (MariaDB logs them in order unless
 * gtid_strict_mode is off and replication fed it out of order).
 */
int dbs__mys_on_gtid(my_source *s, uint32_t domain, uint32_t server, uint64_t seq, char *err,
                     size_t errlen)
{
	if (s->expect_seq && domain == s->expect_domain) {
		if (server != s->expect_server || seq != s->expect_seq) {
			dbs_fmt(err, errlen,
			         "the checkpoint is inside transaction GTID %" PRIu32 "-%" PRIu32
			         "-%" PRIu64 ", but on this server the transaction after %" PRIu32
			         "-%" PRIu32 "-%" PRIu64 " is %" PRIu32 "-%" PRIu32 "-%" PRIu64
			         ": resume on the server the stream was reading from, or re-create "
			         "the stream with a fresh copy of the data",
			         s->expect_domain, s->expect_server, s->expect_seq, s->expect_domain,
			         s->expect_server, s->expect_seq - 1, domain, server, seq);
			return DBS_ESOURCE;
		}
		s->expect_seq = 0;
	}
	struct gtid_seen *e = NULL;
	for (size_t i = 0; i < s->nseen; i++)
		if (s->seen[i].domain == domain)
			e = &s->seen[i];
	if (e && seq <= e->seq) {
		dbs_fmt(err, errlen,
		         "GTID %" PRIu32 "-%" PRIu32 "-%" PRIu64 " follows sequence number %" PRIu64
		         " of the same domain in the binlog; positions are ordered by GTID, so "
		         "sequence numbers must grow: run SET GLOBAL gtid_strict_mode=ON on the "
		         "source server (and set it in my.cnf)",
		         domain, server, seq, e->seq);
		return DBS_ESOURCE;
	}
	if (!e) {
		if (dbs_array_reserve((void **)&s->seen, &s->seen_cap, s->nseen + 1,
		                      sizeof *s->seen)) {
			dbs_fmt(err, errlen, "out of memory");
			return DBS_ENOMEM;
		}
		e = &s->seen[s->nseen++];
		e->domain = domain;
	}
	e->seq = seq;
	s->gtid_domain = domain;
	s->gtid_server = server;
	s->gtid_seq = seq;
	return 0;
}

static uint64_t file_number(const char *name, size_t len)
{
	size_t i = len;
	while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
		i--;
	uint64_t n = 0;
	for (size_t k = i; k < len && n < UINT32_MAX; k++)
		n = n * 10 + (uint64_t)(name[k] - '0');
	return n;
}

void dbs__mys_set_base_name(my_source *s, const char *name, size_t len)
{
	size_t i = len;
	while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
		i--;
	if (i > 0 && name[i - 1] == '.')
		i--;
	if (i < sizeof s->base_name)
		dbs_fmt(s->base_name, sizeof s->base_name, "%.*s", (int)i, name);
	s->file_no = file_number(name, len);
}
