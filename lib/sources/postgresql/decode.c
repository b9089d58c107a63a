/*
 * PostgreSQL source: pgoutput messages into batches. Changes become
 * events with their positions; a streamed transaction (streaming 'on')
 * is buffered, spilling to a temporary file past a limit, and replayed
 * at its commit; status updates confirm what the target committed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/postgresql/pg_source.h"

/* ---- events ---- */

static int fill_row(pg_source *s, dbs_value *row, const dbs_table *t, const dbs_pgo_tuple *tup,
                    char *err, size_t errlen)
{
	int rc = DBS_EPROTO;
	dbs_pgo_iter it;
	dbs_pgo_column c;
	uint32_t i = 0;

	if (tup->ncols != t->ncolumns) {
		dbs_fmt(err, errlen, "%s.%s: tuple has %u columns, relation has %u", t->schema,
		         t->name, tup->ncols, t->ncolumns);
		goto fail;
	}
	rc = DBS_ENOMEM;
	dbs__pgo_tuple_iter(&it, tup);
	while (dbs__pgo_tuple_next(&it, &c)) {
		dbs_value *v = &row[i++];
		switch (c.kind) {
		case DBS_PGO_COL_TEXT:
		case DBS_PGO_COL_BINARY:
			if (dbs_batch_set_bytes(s->batch, v,
			                        c.kind == DBS_PGO_COL_TEXT ? DBS_VALUE_TEXT
			                                                   : DBS_VALUE_BYTES,
			                        c.data, c.len) != 0) {
				dbs_fmt(err, errlen, "out of memory");
				goto fail;
			}
			break;
		case DBS_PGO_COL_UNCHANGED: v->kind = DBS_VALUE_UNCHANGED; break;
		default: v->kind = DBS_VALUE_NULL; break;
		}
	}
	rc = 0;
fail:
	return rc;
}

/* Hand the pending batch to the stream; sets s->stop when it wants no more. */
static int emit_batch(pg_source *s, char *err, size_t errlen)
{
	int rc = 0;
	if (!s->batch || dbs_batch_count(s->batch) == 0)
		goto done;
	const dbs_position *last = dbs_batch_last(s->batch);
	uint64_t resume = last->txn_end ? last->resume : 0;
	dbs_batch *b = s->batch;
	s->batch = NULL; /* the core owns it now, whatever emit returns */
	atomic_store_explicit(&s->emit_since_ns, dbs_time_monotonic_ns(), memory_order_release);
	rc = s->emit(b, s->emit_data);
	atomic_store_explicit(&s->emit_since_ns, 0, memory_order_release);
	/* The schema events it holds are gone: their old definitions too. */
	if (rc >= 0)
		dbs__pgs_undo_clear(s);
	if (rc == 1) {
		s->stop = 1;
		rc = 0;
	} else if (rc < 0) {
		dbs_fmt(err, errlen, "emit failed (%d)", rc);
	} else if (resume) {
		s->emitted_resume = resume;
	}
done:
	return rc;
}

/*
 * Event numbers inside a transaction: the k-th change message (a row or a
 * TRUNCATE, whether captured or not) is number 16k, and what it holds
 * beyond one event and the schema changes found after it, before the
 * next, are 16k + 1 … 16k + 15. The numbers of the rows thus never depend
 * on the schema events around them: a restart that no longer sees a
 * definition change (the first Relation of a relation in a session is
 * nothing to compare with) gives every row the number it had, and the
 * target's checkpoint skips exactly what it applied.
 */
#define EVENT_STEP 16u

/* The number of the next event: a new change message's, or one more
 * after the last (`change` 0). */
static int next_event(pg_source *s, int change, uint32_t *out, char *err, size_t errlen)
{
	if (change) {
		if (s->nchanges >= UINT32_MAX / EVENT_STEP - 1) {
			dbs_fmt(err, errlen,
			        "a transaction of more than %u changes (commit LSN %X/%X): its events "
			        "cannot be numbered",
			        UINT32_MAX / EVENT_STEP - 1, (unsigned)(s->commit_lsn >> 32),
			        (unsigned)s->commit_lsn);
			return DBS_ESOURCE;
		}
		s->nchanges++;
		s->nsub = 0;
	} else if (++s->nsub >= EVENT_STEP) {
		dbs_fmt(err, errlen,
		        "more than %u schema changes between two changes of a transaction (commit "
		        "LSN %X/%X)",
		        EVENT_STEP - 1, (unsigned)(s->commit_lsn >> 32), (unsigned)s->commit_lsn);
		return DBS_ESOURCE;
	}
	*out = s->nchanges * EVENT_STEP + s->nsub;
	return 0;
}

/* A pending schema event leaves before the next event: it does not end
 * the transaction. */
static int schema_pending(const pg_source *s)
{
	uint32_t n = s->batch ? dbs_batch_count(s->batch) : 0;
	return n && dbs_batch_event(s->batch, n - 1)->op == DBS_OP_SCHEMA;
}

/* The schema event `se` as event `number`, alone in `b`. */
static int schema_add(pg_source *s, dbs_batch *b, const dbs_table *table,
                      const dbs_schema_event *se, uint32_t number, char *err, size_t errlen)
{
	dbs_event *ev;
	int rc;
	/* What the batch holds so far is followed by this event: it leaves. */
	if (s->batch && dbs_batch_count(s->batch)) {
		if ((rc = emit_batch(s, err, errlen)) != 0 || s->stop)
			goto fail;
	}
	dbs_batch_free(s->batch);
	s->batch = NULL;
	if ((rc = dbs_batch_add(b, DBS_OP_SCHEMA, table, &ev)) != 0) {
		dbs_fmt(err, errlen, "%s", dbs_error_last());
		goto fail;
	}
	ev->schema = se;
	ev->commit_time_us = s->commit_time_us;
	ev->xid = s->xid;
	ev->pos.txn = s->commit_lsn;
	ev->pos.event = number;
	s->nevents++;
	s->batch = b;
	dbs_log(s->host, DBS_LOG_INFO, "%s.%s: %s", table->schema, table->name,
	        se->statement ? se->statement : "schema change");
	return 0;
fail:
	dbs_batch_free(b);
	return rc;
}

int dbs__pgs_schema_add(pg_source *s, dbs_batch *b, const dbs_table *table,
                        const dbs_schema_event *se, char *err, size_t errlen)
{
	uint32_t number;
	int rc = next_event(s, 0, &number, err, errlen);
	if (rc != 0) {
		dbs_batch_free(b);
		return rc;
	}
	return schema_add(s, b, table, se, number, err, errlen);
}

/* TRUNCATE of the captured relations among the message's. */
static int add_truncate(pg_source *s, const dbs_pgo_msg *m, char *err, size_t errlen)
{
	int rc, first = 1;
	for (uint32_t i = 0; i < m->u.truncate.nrelids; i++) {
		const uint8_t *p = m->u.truncate.relids + 4 * (size_t)i;
		uint32_t relid = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		rel_entry *e = dbs__pgs_rel_find(s, relid);
		if (!e || !e->operations)
			continue;
		uint32_t number;
		if ((rc = next_event(s, first, &number, err, errlen)) != 0)
			return rc;
		first = 0;
		dbs_batch *b;
		dbs_schema_change *c;
		dbs_schema_event *se;
		char *stmt;
		if (dbs_batch_new(&b, 1) != 0 || !(c = dbs_batch_alloc(b, sizeof *c)) ||
		    !(se = dbs_batch_alloc(b, sizeof *se)) ||
		    !(stmt = dbs_batch_alloc(b, 2 * NAMEDATALEN_MAX + 64))) {
			dbs_batch_free(b);
			dbs_fmt(err, errlen, "out of memory");
			return DBS_ENOMEM;
		}
		memset(c, 0, sizeof *c);
		c->kind = DBS_SCHEMA_TRUNCATE_TABLE;
		dbs_fmt(stmt, 2 * NAMEDATALEN_MAX + 64, "TRUNCATE %s.%s%s", e->table->schema,
		        e->table->name, m->u.truncate.options & 2 ? " RESTART IDENTITY" : "");
		se->statement = stmt;
		se->nchanges = 1;
		se->changes = c;
		if ((rc = schema_add(s, b, e->table, se, number, err, errlen)) != 0 || s->stop)
			return rc;
	}
	/* No relation of the stream: the message still takes its number. */
	if (first) {
		uint32_t number;
		return next_event(s, 1, &number, err, errlen);
	}
	return 0;
}

static int add_change(pg_source *s, const dbs_pgo_msg *m, char *err, size_t errlen)
{
	int rc = DBS_EPROTO;
	dbs_op op = m->kind == DBS_PGO_INSERT   ? DBS_OP_INSERT
	            : m->kind == DBS_PGO_UPDATE ? DBS_OP_UPDATE
	                                        : DBS_OP_DELETE;
	rel_entry *e = dbs__pgs_rel_find(s, m->u.change.relid);
	dbs_event *ev;

	if (!e) {
		dbs_fmt(err, errlen, "change for relation %u before its Relation message",
		         m->u.change.relid);
		goto fail;
	}
	uint32_t number;
	if ((rc = next_event(s, 1, &number, err, errlen)) != 0)
		goto fail;
	if (!(e->operations & (1u << op)))
		goto fail;
	/* A full batch leaves only now that a later event of the same
	 * transaction exists: its last event is not the transaction's last.
	 * So does a schema event, alone in its batch. */
	if (s->batch && (dbs_batch_count(s->batch) >= s->bundle || schema_pending(s))) {
		rc = emit_batch(s, err, errlen);
		if (rc != 0 || s->stop)
			goto fail;
	}
	rc = DBS_ENOMEM;
	if (!s->batch && dbs_batch_new(&s->batch, s->bundle) != 0) {
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	if (dbs_batch_add(s->batch, op, e->table, &ev) != 0) {
		dbs_fmt(err, errlen, "%s", dbs_error_last());
		goto fail;
	}
	ev->commit_time_us = s->commit_time_us;
	ev->xid = s->xid;
	ev->pos.txn = s->commit_lsn;
	ev->pos.event = number;
	s->nevents++;
	rc = 0;
	if (op != DBS_OP_DELETE)
		rc = fill_row(s, ev->after, e->table, &m->u.change.new_tuple, err, errlen);
	if (rc == 0 && op != DBS_OP_INSERT) {
		if (m->u.change.old_kind)
			rc = fill_row(s, ev->before, e->table, &m->u.change.old_tuple, err, errlen);
		else
			ev->before = NULL; /* no old image sent: the key did not change */
	}
fail:
	return rc;
}

static void report_lag(pg_source *s);

int dbs__pgs_txn_end(pg_source *s, uint64_t end_lsn, char *err, size_t errlen)
{
	if (s->batch && dbs_batch_count(s->batch)) {
		dbs_event *last = dbs_batch_event(s->batch, dbs_batch_count(s->batch) - 1);
		last->pos.txn_end = 1;
		last->pos.resume = end_lsn;
	} else if (s->nevents == 0) {
		s->idle_lsn = end_lsn;
	}
	s->in_txn = 0;
	/* Once per transaction, before emit may wait on a full hub: a target
	 * that blocks shows as a growing lag. */
	report_lag(s);
	return emit_batch(s, err, errlen);
}

/* ---- streamed transactions ---- */

static stream_txn *stream_find(pg_source *s, uint32_t xid, int create)
{
	for (size_t i = 0; i < s->nstreams; i++)
		if (s->streams[i].xid == xid)
			return &s->streams[i];
	if (!create)
		return NULL;
	if (dbs_array_reserve((void **)&s->streams, &s->streams_cap, s->nstreams + 1,
	                      sizeof *s->streams))
		return NULL;
	stream_txn *t = &s->streams[s->nstreams++];
	memset(t, 0, sizeof *t);
	t->xid = xid;
	return t;
}

void dbs__pgs_stream_txn_free(stream_txn *t)
{
	dbs_buf_free(&t->mem);
	if (t->spill)
		fclose(t->spill);
}

static void stream_drop(pg_source *s, stream_txn *t)
{
	dbs__pgs_stream_txn_free(t);
	*t = s->streams[--s->nstreams];
}

/* A new unlinked temporary file for spilled records; NULL and errno. */
static FILE *spill_file(void)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		/* A file system without O_TMPFILE: name it, then unlink it. */
		char path[4096];
		if (snprintf(path, sizeof path, "%s/dbstreams-txn-XXXXXX", dir) >= (int)sizeof path) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		fd = mkstemp(path);
		if (fd < 0)
			return NULL;
		unlink(path);
	}
	FILE *f = fdopen(fd, "w+b");
	if (!f)
		close(fd);
	return f;
}

static void spill_error(char *err, size_t errlen, const char *what)
{
	const char *dir = getenv("TMPDIR");
	dbs_fmt(err, errlen, "%s a streamed transaction's spill file in %s: %s", what,
	         dir && *dir ? dir : "/tmp", strerror(errno));
}

/* Move the memory part to the end of the spill file. */
static int stream_spill(stream_txn *t, char *err, size_t errlen)
{
	if (!t->spill && !(t->spill = spill_file())) {
		spill_error(err, errlen, "creating");
		return DBS_EIO;
	}
	if (t->mem.len && fwrite(t->mem.data, 1, t->mem.len, t->spill) != t->mem.len) {
		spill_error(err, errlen, "writing");
		return DBS_EIO;
	}
	t->spilled += t->mem.len;
	dbs_buf_reset(&t->mem);
	return 0;
}

static int stream_keep(stream_txn *t, uint32_t subxid, const uint8_t *msg, size_t len,
                       char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	if (len > UINT32_MAX || len > SIZE_MAX - 8 - t->mem.len)
		goto fail;
	if (t->mem.len && t->mem.len + 8 + len > STREAM_MEMORY_MAX &&
	    (rc = stream_spill(t, err, errlen)) != 0)
		return rc;
	rc = DBS_ENOMEM;
	uint32_t hdr[2] = {subxid, (uint32_t)len};
	if (dbs_buf_reserve(&t->mem, 8 + len) || dbs_buf_append(&t->mem, hdr, sizeof hdr) ||
	    dbs_buf_append(&t->mem, msg, len))
		goto fail;
	return 0;
fail:
	dbs_fmt(err, errlen, "out of memory buffering a streamed transaction");
	return rc;
}

/* Read the next spilled record into s->spill_rec: 1 and its header, 0 at
 * the end, negative on a read failure. */
static int spill_next(pg_source *s, FILE *f, uint32_t hdr[2], char *err, size_t errlen)
{
	size_t got = fread(hdr, 1, 2 * sizeof hdr[0], f);
	if (got == 0 && feof(f))
		return 0;
	if (got != 2 * sizeof hdr[0])
		goto fail;
	dbs_buf_reset(&s->spill_rec);
	if (dbs_buf_reserve(&s->spill_rec, hdr[1])) {
		dbs_fmt(err, errlen, "out of memory reading a streamed transaction");
		return DBS_ENOMEM;
	}
	if (hdr[1] && fread(s->spill_rec.data, 1, hdr[1], f) != hdr[1])
		goto fail;
	return 1;
fail:
	if (!ferror(f))
		errno = EIO;
	spill_error(err, errlen, "reading");
	return DBS_EIO;
}

/* Drop the records of an aborted subtransaction, keeping the others in order. */
static int stream_forget_subxact(pg_source *s, stream_txn *t, uint32_t subxid, char *err,
                                 size_t errlen)
{
	size_t r = 0, w = 0;
	while (r < t->mem.len) {
		uint32_t hdr[2];
		memcpy(hdr, t->mem.data + r, sizeof hdr);
		size_t rec = 8 + (size_t)hdr[1];
		if (hdr[0] != subxid) {
			if (w != r)
				memmove(t->mem.data + w, t->mem.data + r, rec);
			w += rec;
		}
		r += rec;
	}
	t->mem.len = w;
	if (t->mem.data)
		t->mem.data[w] = '\0';
	if (!t->spill)
		return 0;
	/* The spilled part is copied without those records to a new file. */
	FILE *kept = spill_file();
	int rc;
	uint32_t hdr[2];
	if (!kept) {
		spill_error(err, errlen, "creating");
		return DBS_EIO;
	}
	uint64_t kept_bytes = 0;
	if (fflush(t->spill) != 0 || fseek(t->spill, 0, SEEK_SET) != 0) {
		spill_error(err, errlen, "rewinding");
		rc = DBS_EIO;
		goto done;
	}
	while ((rc = spill_next(s, t->spill, hdr, err, errlen)) == 1) {
		if (hdr[0] == subxid)
			continue;
		if (fwrite(hdr, 1, sizeof hdr, kept) != sizeof hdr ||
		    fwrite(s->spill_rec.data, 1, hdr[1], kept) != hdr[1]) {
			spill_error(err, errlen, "writing");
			rc = DBS_EIO;
			goto done;
		}
		kept_bytes += 8 + (uint64_t)hdr[1];
	}
done:
	if (rc == 0) {
		fclose(t->spill);
		t->spill = kept;
		t->spilled = kept_bytes;
	} else {
		fclose(kept);
	}
	return rc;
}

static int stream_commit(pg_source *s, const dbs_pgo_msg *m, char *err, size_t errlen)
{
	int rc = 0;
	stream_txn *t = stream_find(s, m->u.stream_commit.xid, 0);

	s->in_txn = 1;
	s->commit_lsn = m->u.stream_commit.commit_lsn;
	s->commit_time_us = m->u.stream_commit.commit_time + DBS_PGO_EPOCH_OFFSET_US;
	s->xid = m->u.stream_commit.xid;
	s->nevents = 0;
	s->nchanges = s->nsub = 0;
	if (t) {
		dbs_log(s->host, DBS_LOG_DEBUG,
		     "streamed transaction %u committed: %" PRIu64 " bytes spilled, %zu in memory",
		     t->xid, t->spilled, t->mem.len);
		if (t->spill) {
			uint32_t hdr[2];
			if (fflush(t->spill) != 0 || fseek(t->spill, 0, SEEK_SET) != 0) {
				spill_error(err, errlen, "rewinding");
				rc = DBS_EIO;
			}
			while (rc == 0 && !s->stop &&
			       (rc = spill_next(s, t->spill, hdr, err, errlen)) == 1)
				rc = dbs__pgs_handle(s, (const uint8_t *)s->spill_rec.data, hdr[1], 2, err, errlen);
		}
		for (size_t at = 0; at < t->mem.len && rc == 0 && !s->stop;) {
			uint32_t hdr[2];
			memcpy(hdr, t->mem.data + at, sizeof hdr);
			rc = dbs__pgs_handle(s, (const uint8_t *)t->mem.data + at + 8, hdr[1], 2, err, errlen);
			at += 8 + (size_t)hdr[1];
		}
		stream_drop(s, t);
	}
	if (rc == 0 && !s->stop)
		rc = dbs__pgs_txn_end(s, m->u.stream_commit.end_lsn, err, errlen);
	return rc;
}

/* ---- one message ---- */

/*
 * in_stream: 0 outside stream blocks, 1 inside one (buffer changes),
 * 2 replaying a buffered message at Stream Commit (apply it now).
 */
int dbs__pgs_handle(pg_source *s, const uint8_t *buf, size_t len, int in_stream, char *err,
                    size_t errlen)
{
	dbs_pgo_msg m;
	stream_txn *t;
	int rc = dbs__pgo_decode(&m, buf, len, in_stream != 0, err, errlen);
	if (rc != 0)
		goto done;

	if (in_stream == 1 &&
	    (m.kind == DBS_PGO_RELATION || m.kind == DBS_PGO_TYPE || m.kind == DBS_PGO_INSERT ||
	     m.kind == DBS_PGO_UPDATE || m.kind == DBS_PGO_DELETE || m.kind == DBS_PGO_TRUNCATE)) {
		/* Schema messages are sent once per top-level transaction even
		 * if the subtransaction that needed them aborts: never drop them. */
		uint32_t sub = (m.kind == DBS_PGO_RELATION || m.kind == DBS_PGO_TYPE) ? 0 : m.xid;
		t = stream_find(s, s->stream_xid, 1);
		if (!t) {
			dbs_fmt(err, errlen, "out of memory buffering a streamed transaction");
			rc = DBS_ENOMEM;
		} else {
			rc = stream_keep(t, sub, buf, len, err, errlen);
		}
		goto done;
	}

	switch (m.kind) {
	case DBS_PGO_BEGIN:
		s->in_txn = 1;
		s->commit_lsn = m.u.begin.final_lsn;
		s->commit_time_us = m.u.begin.commit_time + DBS_PGO_EPOCH_OFFSET_US;
		s->xid = m.u.begin.xid;
		s->nevents = 0;
		s->nchanges = s->nsub = 0;
		break;
	case DBS_PGO_COMMIT: rc = dbs__pgs_txn_end(s, m.u.commit.end_lsn, err, errlen); break;
	case DBS_PGO_RELATION: rc = dbs__pgs_rel_update(s, &m, err, errlen); break;
	case DBS_PGO_INSERT:
	case DBS_PGO_UPDATE:
	case DBS_PGO_DELETE:
		if (!s->in_txn) {
			dbs_fmt(err, errlen, "change outside a transaction");
			rc = DBS_EPROTO;
			break;
		}
		rc = add_change(s, &m, err, errlen);
		break;
	case DBS_PGO_TRUNCATE:
		if (!s->in_txn) {
			dbs_fmt(err, errlen, "change outside a transaction");
			rc = DBS_EPROTO;
			break;
		}
		rc = add_truncate(s, &m, err, errlen);
		break;
	case DBS_PGO_STREAM_START:
		s->in_stream = 1;
		s->stream_xid = m.u.stream_start.xid;
		break;
	case DBS_PGO_STREAM_STOP: s->in_stream = 0; break;
	case DBS_PGO_STREAM_COMMIT: rc = stream_commit(s, &m, err, errlen); break;
	case DBS_PGO_STREAM_ABORT:
		t = stream_find(s, m.u.stream_abort.xid, 0);
		dbs_log(s->host, DBS_LOG_DEBUG, "streamed transaction %u aborted (subtransaction %u)",
		     m.u.stream_abort.xid, m.u.stream_abort.subxid);
		if (t && m.u.stream_abort.subxid == m.u.stream_abort.xid)
			stream_drop(s, t);
		else if (t)
			rc = stream_forget_subxact(s, t, m.u.stream_abort.subxid, err, errlen);
		break;
	default: /* Origin, Type, Message: nothing to replicate */ break;
	}
done:
	return rc;
}

/* ---- feedback ---- */

/* The position the slot may be confirmed up to. sent_flush is read
 * without repl_lock: only the run thread writes it. */
static uint64_t confirmable(pg_source *s)
{
	uint64_t acked = atomic_load_explicit(&s->acked, memory_order_acquire);
	uint64_t flush = acked;

	/* Nothing emitted is waiting for the target: what produced no event
	 * can be confirmed too. */
	if (acked >= s->emitted_resume && s->idle_lsn > flush)
		flush = s->idle_lsn;
	if (flush < s->sent_flush)
		flush = s->sent_flush;
	return flush;
}

/* What the slot holds back: everything the server has past the position
 * this stream confirms. */
static void report_lag(pg_source *s)
{
	uint64_t flush = confirmable(s);
	dbs_report_source_lag(s->host, s->wal_end > flush ? s->wal_end - flush : 0);
}

int dbs__pgs_send_status(pg_source *s, int64_t now, char *err, size_t errlen)
{
	int rc = 0;
	uint8_t msg[DBS_PGO_STATUS_LEN];
	uint64_t flush = confirmable(s);

	dbs__pgo_status_encode(msg, flush, flush, flush,
	                       dbs_time_now_ns() / 1000 - DBS_PGO_EPOCH_OFFSET_US, 0);
	if (PQputCopyData(s->repl, (const char *)msg, sizeof msg) != 1 || PQflush(s->repl) < 0) {
		dbs__pgs_pq_err(err, errlen, "sending standby status update", s->repl);
		rc = DBS_ESOURCE;
	} else {
		s->sent_flush = flush;
		s->last_status_ns = now;
	}
	report_lag(s);
	return rc;
}
