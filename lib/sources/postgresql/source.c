/*
 * PostgreSQL source: logical replication with pgoutput (protocol version 2,
 * streaming on) over a libpq replication connection.
 *
 * Two connections: `repl` (replication=database) carries the COPY stream;
 * `sql` is an ordinary session for setup and for reading a relation's
 * catalog once per Relation message (never per event).
 *
 * Positions. Every event of a transaction has pos.txn = its commit LSN and
 * pos.event = its 1-based index among the transaction's emitted events.
 * Only the last event of a transaction has txn_end = 1 and pos.resume =
 * the commit's end LSN; earlier ones have resume = 0. To know which event
 * is last, a batch that is full is emitted only when the next event
 * arrives, and the batch is emitted at every Commit, so a batch holds
 * events of one transaction only.
 *
 * Images. INSERT: after. UPDATE: after = new tuple; before = the old tuple
 * when the server sends one ('K': key columns only, the others NULL; 'O':
 * the whole old row), else before = NULL: the key did not change, and the
 * after image's key columns identify the row. DELETE: before = key or old
 * row. A TOASTed value the server did not send is DBS_VALUE_UNCHANGED.
 *
 * Streamed transactions (streaming 'on'): the changes of a large
 * in-progress transaction arrive in stream blocks before it commits. They
 * are buffered in memory per top-level xid and emitted at Stream Commit
 * with the commit's positions, or dropped at Stream Abort (only the
 * subtransaction's changes when subxid != xid). Each transaction keeps at
 * most STREAM_MEMORY_MAX bytes in memory; beyond, its messages go to an
 * unlinked temporary file (in $TMPDIR, else /tmp), read back in order at
 * Stream Commit: the memory of a source does not grow with the size of
 * the transactions it reads.
 *
 * TRUNCATE is not replicated: a publication this source creates publishes
 * insert, update and delete only; Truncate messages from an existing
 * publication that includes it are ignored with a warning.
 *
 * Confirmation. ack() records the resume LSN of acked transaction ends;
 * run() reports it as write/flush/apply in standby status updates. When
 * every emitted event is acked and no transaction is open, the end of the
 * last transaction that produced no event (filtered out) or the
 * keepalive's WAL end is confirmed instead, so an idle or filtered source
 * does not make the server keep WAL forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/ssl.h>

#include <dbstreams/sys/buf.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/postgresql/pg_source.h"
#include "sql/settings.h"

/* libpq's message without its trailing newline. */
void dbs__pgs_pq_err(char *err, size_t errlen, const char *what, PGconn *conn)
{
	const char *m = conn ? PQerrorMessage(conn) : "out of memory";
	size_t n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	if (n == 0) /* a walsender ending at shutdown leaves no message */
		dbs_fmt(err, errlen, "%s: the server closed the connection", what);
	else
		dbs_fmt(err, errlen, "%s: %.*s", what, (int)n, m);
}

/* ---- ops ---- */

static void pg_close(dbs_source *src);

static int pg_open(dbs_source **out, const dbs_source_config *config, const dbs_host *host,
                   const dbs_position *resume, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	PGresult *res = NULL;
	pg_source *s = NULL;
	const char *slot, *pub;

	*out = NULL;
	if (!config || !config->connection) {
		dbs_fmt(err, errlen, "postgresql source: no connection string");
		rc = DBS_EINVAL;
		goto fail;
	}
	const dbs_sql_source_settings *ss =
	    config->settings ? config->settings : &dbs__sql_source_defaults;
	slot = ss->replication_slot_name ? ss->replication_slot_name
	                                 : dbs__sql_source_defaults.replication_slot_name;
	pub = ss->publication_name ? ss->publication_name : dbs__sql_source_defaults.publication_name;
	s = calloc(1, sizeof *s);
	if (!s)
		goto fail;
	s->base.ops = &dbs__postgresql_source_ops;
	s->host = host;
	s->bundle = config->data_bundle_size ? config->data_bundle_size : 100;
	atomic_init(&s->acked, 0);
	atomic_init(&s->emit_since_ns, 0);
	s->config = config;
	s->slot = slot;
	s->pub = pub;
	if (pthread_mutex_init(&s->repl_lock, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&s->ka_cond, NULL) != 0) {
		pthread_mutex_destroy(&s->repl_lock);
		goto fail;
	}
	s->sync_ready = 1;
	if (dbs__sql_filter_init(&s->filter, config, "public") != 0)
		goto fail;

	rc = DBS_ESOURCE;
	s->sql = dbs__pgs_connect(config, 0);
	if (PQstatus(s->sql) != CONNECTION_OK) {
		dbs__pgs_pq_err(err, errlen, "connecting to PostgreSQL", s->sql);
		goto fail;
	}
	if (!dbs__pgs_exec_ok(s->sql, "SHOW wal_level", PGRES_TUPLES_OK, &res)) {
		dbs__pgs_pq_err(err, errlen, "SHOW wal_level", s->sql);
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0) {
		dbs_fmt(err, errlen,
		         "PostgreSQL has wal_level=%s; logical replication needs wal_level=logical "
		         "(set it in postgresql.conf and restart the server)",
		         PQgetvalue(res, 0, 0));
		goto fail;
	}
	s->keepalive_ns = KEEPALIVE_NS;
	PQclear(res);
	res = NULL;
	if (dbs__pgs_exec_ok(s->sql,
	            "SELECT setting::bigint FROM pg_settings WHERE name = "
	            "'wal_sender_timeout'",
	            PGRES_TUPLES_OK, &res) &&
	    PQntuples(res) == 1) {
		long long ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (ms > 0 && ms * 1000000LL / 3 < s->keepalive_ns)
			s->keepalive_ns = ms * 1000000LL / 3;
		if (s->keepalive_ns < KEEPALIVE_MIN_NS)
			s->keepalive_ns = KEEPALIVE_MIN_NS;
	}
	rc = dbs__pgs_setup_publication(s, pub, err, errlen);
	if (rc != 0)
		goto fail;
	/* Before the slot, whose start it describes when the slot is new. */
	if ((rc = dbs__pgs_baseline_load(s, err, errlen)) != 0 ||
	    (rc = dbs__pgs_history_open(s, resume, err, errlen)) != 0)
		goto fail;
	uint64_t from = resume ? resume->resume : 0;
	if (from)
		atomic_store_explicit(&s->acked, from, memory_order_relaxed);
	/* A checkpoint inside a transaction (resume 0) starts at the slot's
	 * confirmed position, which never passes what the target committed;
	 * it is still a resume, so a dropped slot is reported. */
	if (config->initial_load && !resume)
		rc = dbs__pgs_export_slot(s, slot, err, errlen);
	else
		rc = dbs__pgs_setup_slot(s, slot, resume != NULL, from, err, errlen);
	if (rc == DBS_ENOTFOUND)
		rc = DBS_ESOURCE;
	if (rc != 0)
		goto fail;
	rc = DBS_ESOURCE;
	if (resume && dbs__pgs_wait_slot_free(s, slot)) {
		dbs_fmt(err, errlen, "stopped while waiting for replication slot \"%s\"", slot);
		goto fail;
	}
	if (!s->repl)
		s->repl = dbs__pgs_connect(config, 1);
	if (PQstatus(s->repl) != CONNECTION_OK) {
		dbs__pgs_pq_err(err, errlen, "opening replication connection", s->repl);
		goto fail;
	}
	/* The load runs between open and run: a walsender left streaming
	 * that long would time out, and an exported snapshot dies with the
	 * connection's next command. */
	s->start_lsn = from;
	if (config->initial_load)
		s->deferred = 1;
	else if ((rc = dbs__pgs_start_replication(s, slot, pub, from, err, errlen)) != 0)
		goto fail;
	*out = &s->base;
	rc = 0;
	s = NULL;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	PQclear(res);
	if (s)
		pg_close(&s->base);
	return rc;
}

/*
 * Keepalive thread: while the run thread is blocked in emit() (a full
 * hub) it reads nothing, and the walsender drops a client that has not
 * replied for wal_sender_timeout. A status update repeating the last
 * confirmed position keeps the session alive without confirming more;
 * the server's own messages stay unread in the socket (the walsender
 * waits for room and keeps reading our replies meanwhile).
 */
static void *keepalive_main(void *arg)
{
	pg_source *s = arg;
	pthread_mutex_lock(&s->repl_lock);
	while (!s->ka_quit) {
		struct timespec until;
		/* 200 ms: fine enough for the shortest period, cheap when idle. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->ka_cond, &s->repl_lock, &until);
		if (s->ka_quit)
			break;
		int64_t since = atomic_load_explicit(&s->emit_since_ns, memory_order_acquire);
		int64_t now = dbs_time_monotonic_ns();
		if (!since || now - since < s->keepalive_ns ||
		    now - s->last_status_ns < s->keepalive_ns || !s->repl ||
		    PQstatus(s->repl) != CONNECTION_OK)
			continue;
		uint8_t msg[DBS_PGO_STATUS_LEN];
		dbs__pgo_status_encode(msg, s->sent_flush, s->sent_flush, s->sent_flush,
		                       dbs_time_now_ns() / 1000 - DBS_PGO_EPOCH_OFFSET_US, 0);
		/* A failure shows again on the run thread's next read. */
		if (PQputCopyData(s->repl, (const char *)msg, sizeof msg) == 1 &&
		    PQflush(s->repl) >= 0)
			s->last_status_ns = now;
	}
	pthread_mutex_unlock(&s->repl_lock);
	return NULL;
}

/* Forget what was decoded but not emitted: the server sends it again. */
static void decoding_reset(pg_source *s)
{
	if (s->batch)
		dbs_batch_reset(s->batch);
	dbs__pgs_undo_apply(s);
	s->in_txn = 0;
	s->in_stream = 0;
	s->nevents = 0;
	for (size_t i = 0; i < s->nstreams; i++)
		dbs__pgs_stream_txn_free(&s->streams[i]);
	s->nstreams = 0;
}

/*
 * After the replication connection was lost (err says how): connect
 * again with backoff and START_REPLICATION from the last position the
 * target committed. The slot keeps everything after it; transactions
 * emitted but not yet acked come again with the same positions (commit
 * LSN, index among the emitted events), so the target's checkpoint skips
 * them. 0 when replicating again or stopping, negative when giving up or
 * when the slot is gone.
 */
static int reconnect(pg_source *s, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	char cause[DBS_ERRMSG_MAX];
	int64_t lost_at = dbs_time_monotonic_ns();
	int delay = DBS_RECONNECT_FIRST_DELAY_MS;
	unsigned attempt = 0;
	dbs_fmt(cause, sizeof cause, "%s", err);
	decoding_reset(s);
	for (;;) {
		dbs_report_connection_lost(s->host, cause);
		if (dbs_reconnect_expired(s->host, lost_at)) {
			dbs_reconnect_give_up_text(err, errlen, s->host, "postgresql source",
			                            attempt, cause);
			rc = DBS_ESOURCE;
			goto done;
		}
		attempt++;
		dbs_log(s->host, DBS_LOG_WARN, "connection lost (%s); reconnect attempt %u in %d ms", cause,
		     attempt, delay);
		if (dbs_sleep_unless_stopping(s->host, delay)) {
			rc = 0;
			goto done;
		}
		delay = dbs_backoff_next(delay);
		pthread_mutex_lock(&s->repl_lock);
		PQfinish(s->repl);
		s->repl = NULL;
		pthread_mutex_unlock(&s->repl_lock);
		PQfinish(s->sql);
		s->sql = dbs__pgs_connect(s->config, 0);
		if (PQstatus(s->sql) != CONNECTION_OK) {
			dbs__pgs_pq_err(cause, sizeof cause, "connecting to PostgreSQL", s->sql);
			continue;
		}
		uint64_t from = atomic_load_explicit(&s->acked, memory_order_acquire);
		pthread_mutex_lock(&s->repl_lock);
		if (s->sent_flush > from)
			from = s->sent_flush;
		pthread_mutex_unlock(&s->repl_lock);
		rc = dbs__pgs_setup_slot(s, s->slot, 1, from, cause, sizeof cause);
		if (rc == DBS_ENOTFOUND) {
			dbs_fmt(err, errlen, "%s", cause);
			rc = DBS_ESOURCE;
			goto done;
		}
		if (rc)
			continue;
		PGconn *repl = dbs__pgs_connect(s->config, 1);
		pthread_mutex_lock(&s->repl_lock);
		s->repl = repl;
		pthread_mutex_unlock(&s->repl_lock);
		if (PQstatus(s->repl) != CONNECTION_OK) {
			dbs__pgs_pq_err(cause, sizeof cause, "opening replication connection", s->repl);
			continue;
		}
		if (dbs__pgs_start_replication(s, s->slot, s->pub, from, cause, sizeof cause))
			continue;
		dbs_log(s->host, DBS_LOG_INFO, "reconnected after %u attempts; replicating again from %X/%X",
		     attempt, (unsigned)(from >> 32), (unsigned)from);
		dbs_report_connection_restored(s->host);
		rc = 0;
		goto done;
	}
done:
	return rc;
}

/* Bytes of the replication connection that OpenSSL has read from the
 * socket but libpq has not yet been given: poll() cannot see them. */
static int repl_has_pending(PGconn *repl)
{
	SSL *ssl = PQsslInUse(repl) ? PQsslStruct(repl, "OpenSSL") : NULL;
	return ssl && SSL_has_pending(ssl);
}

/* Read the stream until a stop, a failure (err, negative) or a lost
 * connection (err, 1). */
static int read_stream(pg_source *s, char *err, size_t errlen)
{
	int rc = 0;
	char *buf = NULL;
	/* Set once a read found no whole message: only then is waiting in
	 * poll() worth its system call. A busy stream never polls. */
	int read_empty = 0;
	/* Messages since the last wait. A source that keeps pace with its
	 * walsender would otherwise wake for every message, a few system calls
	 * each: after a wait that brought messages, the next one is a short
	 * sleep instead of poll(), so what arrives meanwhile is read together.
	 * An idle stream still wakes in poll() at its first message. */
	unsigned since_wait = 0;
	while (!s->stop && !(s->host && s->host->stopping && s->host->stopping(s->host))) {
		int64_t now = dbs_time_monotonic_ns();
		pthread_mutex_lock(&s->repl_lock);
		if (now - s->last_status_ns >= STATUS_INTERVAL_NS &&
		    dbs__pgs_send_status(s, now, err, errlen) != 0)
			rc = 1;
		int n = rc ? 0 : PQgetCopyData(s->repl, &buf, 1);
		int pending = n == 0 && !rc ? PQflush(s->repl) : 0;
		int fd = PQsocket(s->repl);
		int wait = n == 0 && !rc && read_empty && !repl_has_pending(s->repl);
		pthread_mutex_unlock(&s->repl_lock);
		if (rc)
			break;
		if (n == 0) {
			/* A status update libpq could not send at once is still queued. */
			struct pollfd pfd = {fd, (short)(POLLIN | (pending > 0 ? POLLOUT : 0)), 0};
			if (wait && since_wait > 0) {
				struct timespec gather = {0, GATHER_NS};
				nanosleep(&gather, NULL);
				wait = 0;
				since_wait = 0;
			} else if (wait) {
				since_wait = 0;
			}
			if (wait && poll(&pfd, 1, POLL_MS) < 0 && errno != EINTR) {
				dbs_fmt(err, errlen, "poll: %s", strerror(errno));
				rc = DBS_EIO;
				break;
			}
			read_empty = 1;
			pthread_mutex_lock(&s->repl_lock);
			if (PQconsumeInput(s->repl) != 1) {
				dbs__pgs_pq_err(err, errlen, "reading replication stream", s->repl);
				rc = 1;
			}
			pthread_mutex_unlock(&s->repl_lock);
			if (rc)
				break;
			continue;
		}
		if (n < 0) {
			/* -1: the server ended the COPY; its result says why. A
			 * walsender that ends the stream (shutdown, timeout,
			 * termination) is a lost connection too. */
			pthread_mutex_lock(&s->repl_lock);
			PGresult *res = PQgetResult(s->repl);
			if (res && PQresultStatus(res) == PGRES_FATAL_ERROR &&
			    PQresultErrorMessage(res)[0])
				dbs_fmt(err, errlen, "replication stream ended: %s",
				         PQresultErrorMessage(res));
			else
				dbs__pgs_pq_err(err, errlen, "replication stream ended", s->repl);
			pthread_mutex_unlock(&s->repl_lock);
			PQclear(res);
			rc = 1;
			break;
		}
		read_empty = 0;
		since_wait++;
		dbs_pgo_frame f;
		rc = dbs__pgo_frame_decode(&f, (const uint8_t *)buf, (size_t)n, err, errlen);
		if (rc == 0 && f.wal_end > s->wal_end)
			s->wal_end = f.wal_end;
		if (rc == 0 && f.kind == 'w')
			rc = dbs__pgs_handle(s, f.data, f.len, s->in_stream, err, errlen);
		else if (rc == 0 && f.kind == 'k') {
			if (!s->in_txn && !s->in_stream && s->nstreams == 0 &&
			    f.wal_end > s->idle_lsn)
				s->idle_lsn = f.wal_end;
			if (f.reply_requested) {
				pthread_mutex_lock(&s->repl_lock);
				if (dbs__pgs_send_status(s, dbs_time_monotonic_ns(), err, errlen) != 0)
					rc = 1;
				pthread_mutex_unlock(&s->repl_lock);
			}
		}
		PQfreemem(buf);
		buf = NULL;
		if (rc != 0)
			break;
	}
	return rc;
}

static int pg_run(dbs_source *src, dbs_emit_fn emit, void *emit_data, char *err, size_t errlen)
{
	pg_source *s = (pg_source *)src;
	int rc = 0;
	pthread_t ka;
	int ka_started = 0;

	s->emit = emit;
	s->emit_data = emit_data;
	s->stop = 0;
	if (s->deferred) {
		s->deferred = 0;
		/* The snapshot is no longer needed once replication starts. */
		free(s->export_name);
		s->export_name = NULL;
		pthread_mutex_lock(&s->repl_lock);
		rc = dbs__pgs_start_replication(s, s->slot, s->pub, s->start_lsn, err, errlen);
		pthread_mutex_unlock(&s->repl_lock);
		if (rc != 0 && (rc = reconnect(s, err, errlen)) != 0)
			return rc;
	}
	pthread_mutex_lock(&s->repl_lock);
	s->ka_quit = 0;
	pthread_mutex_unlock(&s->repl_lock);
	if (pthread_create(&ka, NULL, keepalive_main, s) != 0) {
		dbs_fmt(err, errlen, "postgresql source: cannot start the keepalive thread");
		rc = DBS_ENOMEM;
		goto done;
	}
	ka_started = 1;
	while ((rc = read_stream(s, err, errlen)) == 1) {
		if ((rc = reconnect(s, err, errlen)) != 0)
			break;
	}
done:
	if (ka_started) {
		pthread_mutex_lock(&s->repl_lock);
		s->ka_quit = 1;
		pthread_cond_signal(&s->ka_cond);
		pthread_mutex_unlock(&s->repl_lock);
		pthread_join(ka, NULL);
	}
	/* A stop leaves the unfinished transaction unemitted: it was not
	 * confirmed, so the slot delivers it again on restart. */
	if (s->batch)
		dbs_batch_reset(s->batch);
	s->in_txn = 0;
	return rc;
}

static void pg_ack(dbs_source *src, const dbs_position *pos)
{
	pg_source *s = (pg_source *)src;
	if (!pos || !pos->txn_end || !pos->resume)
		return;
	uint64_t cur = atomic_load_explicit(&s->acked, memory_order_relaxed);
	while (pos->resume > cur &&
	       !atomic_compare_exchange_weak_explicit(&s->acked, &cur, pos->resume,
	                                              memory_order_release, memory_order_relaxed))
		;
}

static void pg_close(dbs_source *src)
{
	pg_source *s = (pg_source *)src;
	if (!s)
		return;
	if (s->repl && PQstatus(s->repl) == CONNECTION_OK) {
		/* Best effort: tell the server what the target has before leaving. */
		char ignore[64];
		dbs__pgs_send_status(s, dbs_time_monotonic_ns(), ignore, sizeof ignore);
	}
	PQfinish(s->repl);
	PQfinish(s->sql);
	if (s->sync_ready) {
		pthread_cond_destroy(&s->ka_cond);
		pthread_mutex_destroy(&s->repl_lock);
	}
	dbs__pgs_undo_clear(s);
	free(s->undo);
	dbs__pgs_baseline_free(s);
	dbs__pgs_history_free(s);
	for (size_t i = 0; i < s->nrels; i++) {
		dbs_table_unref(s->rels[i].table);
		free(s->rels[i].attnums);
	}
	free(s->rels);
	for (size_t i = 0; i < s->nstreams; i++)
		dbs__pgs_stream_txn_free(&s->streams[i]);
	free(s->streams);
	dbs_buf_free(&s->spill_rec);
	dbs__sql_filter_free(&s->filter);
	dbs_batch_free(s->batch);
	free(s->export_name);
	free(s);
}

const dbs_source_ops dbs__postgresql_source_ops = {
    .version = DBS_SOURCE_OPS_VERSION,
    .name = "postgresql",
    .open = pg_open,
    .run = pg_run,
    .ack = pg_ack,
    .close = pg_close,
    .options = dbs__sql_source_options,
    .noptions = DBS_SQL_SOURCE_NOPTIONS,
    .settings_size = sizeof(dbs_sql_source_settings),
    .default_schema = "public",
    .snapshot = &dbs__postgresql_snapshot_ops,
};
