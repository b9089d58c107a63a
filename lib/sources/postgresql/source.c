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

static int exec_ok(PGconn *c, const char *sql, ExecStatusType want, PGresult **out)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == want;
	if (out && ok)
		*out = r;
	else
		PQclear(r);
	return ok;
}

/*
 * The walsender's `options`: the user's own (from the connection string,
 * e.g. "-c logical_decoding_work_mem=64kB") followed by ours, so ours win
 * where both set a value. NULL on allocation failure; free().
 */
static char *session_options(const char *connection)
{
	PQconninfoOption *opts = PQconninfoParse(connection, NULL);
	const char *user = NULL;
	char *out = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val && o->val[0])
			user = o->val;
	size_t need = (user ? strlen(user) + 1 : 0) + sizeof SESSION_OPTIONS;
	out = malloc(need);
	if (out) {
		int n = snprintf(out, need, "%s%s%s", user ? user : "", user ? " " : "",
		                 SESSION_OPTIONS);
		if (n < 0 || (size_t)n >= need) {
			free(out);
			out = NULL;
		}
	}
	PQconninfoFree(opts);
	return out;
}

uint64_t dbs__pgs_lsn_parse(const char *text)
{
	unsigned hi = 0, lo = 0;
	if (!text || sscanf(text, "%X/%X", &hi, &lo) != 2)
		return 0;
	return (uint64_t)hi << 32 | lo;
}

/* NULL only when libpq could not allocate; check PQstatus otherwise. */
PGconn *dbs__pgs_connect(const dbs_source_config *config, int replication)
{
	const char *keys[8], *vals[8];
	char *options = NULL;
	PGconn *conn = NULL;
	int n = 0;
	keys[n] = "dbname";
	vals[n++] = config->connection;
	if (replication) {
		options = session_options(config->connection);
		if (!options)
			return NULL;
		keys[n] = "replication";
		vals[n++] = "database";
		keys[n] = "options";
		vals[n++] = options;
	}
	const dbs_sql_source_settings *ss =
	    config->settings ? config->settings : &dbs__sql_source_defaults;
	if (ss->ssl_ca) {
		keys[n] = "sslrootcert";
		vals[n++] = ss->ssl_ca;
	}
	if (ss->ssl_cert) {
		keys[n] = "sslcert";
		vals[n++] = ss->ssl_cert;
	}
	if (ss->ssl_key) {
		keys[n] = "sslkey";
		vals[n++] = ss->ssl_key;
	}
	keys[n] = NULL;
	vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 1);
	free(options);
	return conn;
}

/* A filtered table an existing publication does not cover never sends a
 * change: say so at open rather than stay silent. */
static void warn_unpublished(pg_source *s, const char *pub)
{
	for (uint32_t i = 0; i < s->filter.n; i++) {
		const char *params[3] = {pub, s->filter.entries[i].schema, s->filter.entries[i].name};
		PGresult *res =
		    PQexecParams(s->sql,
		                 "SELECT 1 FROM pg_publication_tables WHERE pubname = $1"
		                 " AND schemaname = $2 AND tablename = $3",
		                 3, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0)
			dbs_log(s->host, DBS_LOG_WARN,
			     "publication \"%s\" does not publish %s.%s: its changes will not be "
			     "captured",
			     pub, s->filter.entries[i].schema, s->filter.entries[i].name);
		PQclear(res);
	}
}

static int setup_publication(pg_source *s, const char *pub, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	PGresult *res = NULL;
	char *qpub = NULL;
	dbs_buf sql = DBS_BUF_INIT;
	const char *params[1] = {pub};

	res =
	    PQexecParams(s->sql,
	                 "SELECT p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete,"
	                 " p.pubtruncate, (SELECT string_agg(schemaname || '.' || tablename, ', ')"
	                 "  FROM pg_publication_tables t WHERE t.pubname = p.pubname)"
	                 " FROM pg_publication p WHERE p.pubname = $1",
	                 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "reading publication", s->sql);
		goto fail;
	}
	if (PQntuples(res) == 1) {
		dbs_log(s->host, DBS_LOG_INFO,
		     "using existing publication \"%s\": %s; insert=%s update=%s delete=%s "
		     "truncate=%s",
		     pub, PQgetvalue(res, 0, 0)[0] == 't' ? "all tables" : PQgetvalue(res, 0, 5),
		     PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
		     PQgetvalue(res, 0, 4));
		warn_unpublished(s, pub);
		rc = 0;
		goto fail;
	}
	qpub = PQescapeIdentifier(s->sql, pub, strlen(pub));
	if (!qpub) {
		dbs__pgs_pq_err(err, errlen, "publication name", s->sql);
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (dbs__pgs_arr_put(&sql, "CREATE PUBLICATION ", 19, 0) ||
	    dbs__pgs_arr_put(&sql, qpub, strlen(qpub), 0))
		goto fail;
	if (s->filter.n == 0) {
		if (dbs__pgs_arr_put(&sql, " FOR ALL TABLES", 15, 0))
			goto fail;
	}
	for (uint32_t i = 0; i < s->filter.n; i++) {
		char *qs =
		    PQescapeIdentifier(s->sql, s->filter.entries[i].schema, strlen(s->filter.entries[i].schema));
		char *qn = PQescapeIdentifier(s->sql, s->filter.entries[i].name,
		                              strlen(s->filter.entries[i].name));
		const char *sep = i ? ", " : " FOR TABLE ";
		int bad = !qs || !qn || dbs__pgs_arr_put(&sql, sep, strlen(sep), 0) ||
		          dbs__pgs_arr_put(&sql, qs, strlen(qs), 0) ||
		          dbs__pgs_arr_put(&sql, ".", 1, 0) ||
		          dbs__pgs_arr_put(&sql, qn, strlen(qn), 0);
		PQfreemem(qs);
		PQfreemem(qn);
		if (bad)
			goto fail;
	}
	const char *with = " WITH (publish = 'insert, update, delete, truncate')";
	if (dbs__pgs_arr_put(&sql, with, strlen(with), 0))
		goto fail;
	rc = DBS_ESOURCE;
	if (!exec_ok(s->sql, sql.data, PGRES_COMMAND_OK, NULL)) {
		dbs__pgs_pq_err(err, errlen, "creating publication", s->sql);
		goto fail;
	}
	dbs_log(s->host, DBS_LOG_INFO, "created publication \"%s\"", pub);
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	PQclear(res);
	PQfreemem(qpub);
	dbs_buf_free(&sql);
	return rc;
}

/*
 * The slot, created when missing unless the stream resumes from `from`
 * (`resuming`): then the changes between `from` and now are gone with the
 * dropped slot, and a new slot would silently skip them.
 */
static int setup_slot(pg_source *s, const char *slot, int resuming, uint64_t from, char *err,
                      size_t errlen)
{
	int rc = DBS_ESOURCE;
	const char *params[1] = {slot};
	PGresult *res = PQexecParams(s->sql,
	                             "SELECT plugin, database = current_database()"
	                             " FROM pg_replication_slots WHERE slot_name = $1",
	                             1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "reading replication slots", s->sql);
		goto fail;
	}
	if (PQntuples(res) == 1) {
		if (strcmp(PQgetvalue(res, 0, 0), "pgoutput") != 0 ||
		    PQgetvalue(res, 0, 1)[0] != 't') {
			dbs_fmt(
			    err, errlen,
			    "replication slot \"%s\" exists but is not a pgoutput slot of this "
			    "database (plugin %s)",
			    slot, PQgetvalue(res, 0, 0));
			goto fail;
		}
		dbs_log(s->host, DBS_LOG_INFO, "using existing replication slot \"%s\"", slot);
		rc = 0;
		goto fail;
	}
	if (resuming) {
		rc = DBS_ENOTFOUND;
		dbs_fmt(
		    err, errlen,
		    "replication slot \"%s\" was dropped: the changes since position %X/%X that "
		    "this stream had not applied are lost and cannot be read again. Re-create "
		    "the stream with a fresh copy of the data (a new stream id over emptied "
		    "target tables); a new slot is not created silently",
		    slot, (unsigned)(from >> 32), (unsigned)from);
		goto fail;
	}
	PQclear(res);
	res = PQexecParams(s->sql, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", 1,
	                   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "creating replication slot", s->sql);
		goto fail;
	}
	dbs_log(s->host, DBS_LOG_INFO, "created replication slot \"%s\"", slot);
	rc = 0;
fail:
	PQclear(res);
	return rc;
}

static int start_replication(pg_source *s, const char *slot, const char *pub, uint64_t lsn,
                             char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	char *qslot = NULL, *qnames = NULL, *cmd = NULL;
	dbs_buf names = DBS_BUF_INIT;

	/* publication_names is a list of identifiers inside a string literal. */
	if (dbs__pgs_arr_put(&names, "\"", 1, 0))
		goto fail;
	for (const char *p = pub; *p; p++)
		if (dbs__pgs_arr_put(&names, p, 1, 0) ||
		    (*p == '"' && dbs__pgs_arr_put(&names, p, 1, 0)))
			goto fail;
	if (dbs__pgs_arr_put(&names, "\"", 1, 0))
		goto fail;
	qslot = PQescapeIdentifier(s->repl, slot, strlen(slot));
	qnames = PQescapeLiteral(s->repl, names.data, names.len);
	if (!qslot || !qnames) {
		dbs__pgs_pq_err(err, errlen, "quoting START_REPLICATION arguments", s->repl);
		rc = DBS_ESOURCE;
		goto fail;
	}
	size_t need = strlen(qslot) + strlen(qnames) + 160;
	cmd = malloc(need);
	if (!cmd)
		goto fail;
	int n = snprintf(cmd, need,
	                 "START_REPLICATION SLOT %s LOGICAL %X/%X (proto_version '2', "
	                 "publication_names %s, streaming 'on')",
	                 qslot, (unsigned)(lsn >> 32), (unsigned)lsn, qnames);
	if (n < 0 || (size_t)n >= need)
		goto fail;
	rc = DBS_ESOURCE;
	if (!exec_ok(s->repl, cmd, PGRES_COPY_BOTH, NULL)) {
		dbs__pgs_pq_err(err, errlen, "starting replication", s->repl);
		goto fail;
	}
	if (PQsetnonblocking(s->repl, 1) != 0) {
		dbs__pgs_pq_err(err, errlen, "replication connection", s->repl);
		goto fail;
	}
	/* The walsender flushes every message as a TLS record of its own, and
	 * OpenSSL reads a record in two recv() calls: reading ahead takes many
	 * records per call. Bytes read ahead are invisible to poll(), so the
	 * read loop asks OpenSSL before it waits (repl_has_pending). From here
	 * on libpq never waits on this connection: it is nonblocking, and the
	 * stream ends by PQfinish or by the server closing it. */
	SSL *ssl = PQsslInUse(s->repl) ? PQsslStruct(s->repl, "OpenSSL") : NULL;
	if (ssl)
		SSL_set_read_ahead(ssl, 1);
	dbs_log(s->host, DBS_LOG_INFO, "replicating from slot \"%s\" at %X/%X", slot,
	        (unsigned)(lsn >> 32), (unsigned)lsn);
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	PQfreemem(qslot);
	PQfreemem(qnames);
	dbs_buf_free(&names);
	free(cmd);
	return rc;
}

/*
 * The slot of a stream that copies the existing rows first: when missing,
 * made on the replication connection with its snapshot exported, so the
 * copy reads exactly what precedes the slot's consistent point. The
 * connection then stays idle until run starts replicating (the snapshot
 * lives until its next command). An existing slot (a stream created again
 * over its own slot) is used as it is, without a snapshot.
 */
static int export_slot(pg_source *s, const char *slot, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	PGresult *res = NULL;
	char *qslot = NULL, *cmd = NULL;
	const char *params[1] = {slot};
	res = PQexecParams(s->sql, "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", 1,
	                   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "reading replication slots", s->sql);
		goto fail;
	}
	if (PQntuples(res) > 0) {
		PQclear(res);
		return setup_slot(s, slot, 0, 0, err, errlen);
	}
	PQclear(res);
	res = NULL;
	s->repl = dbs__pgs_connect(s->config, 1);
	if (PQstatus(s->repl) != CONNECTION_OK) {
		dbs__pgs_pq_err(err, errlen, "opening replication connection", s->repl);
		goto fail;
	}
	qslot = PQescapeIdentifier(s->repl, slot, strlen(slot));
	size_t need = (qslot ? strlen(qslot) : 0) + 96;
	if (!qslot || !(cmd = malloc(need))) {
		rc = DBS_ENOMEM;
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(cmd, need, "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'export')", qslot);
	res = PQexec(s->repl, cmd);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 3) {
		dbs__pgs_pq_err(err, errlen, "creating replication slot", s->repl);
		goto fail;
	}
	s->export_lsn = dbs__pgs_lsn_parse(PQgetvalue(res, 0, 1));
	if (!(s->export_name = strdup(PQgetvalue(res, 0, 2)))) {
		rc = DBS_ENOMEM;
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	dbs_log(s->host, DBS_LOG_INFO,
	        "created replication slot \"%s\" at %s with snapshot %s for the initial load", slot,
	        PQgetvalue(res, 0, 1), s->export_name);
	rc = 0;
fail:
	PQclear(res);
	PQfreemem(qslot);
	free(cmd);
	return rc;
}

/* How long open() waits for a slot that another session still holds. */
#define SLOT_BUSY_WAIT_MS 15000

/*
 * A process of this stream that was killed leaves its walsender holding
 * the slot until the server notices the closed connection: wait for that
 * (up to SLOT_BUSY_WAIT_MS) rather than fail the resumed stream at once.
 * A slot still held afterwards makes START_REPLICATION fail with the
 * server's own message. Returns nonzero when the stream is stopping.
 */
static int wait_slot_free(pg_source *s, const char *slot)
{
	const char *params[1] = {slot};
	int64_t start = dbs_time_monotonic_ns();
	int logged = 0;
	for (;;) {
		PGresult *res = PQexecParams(s->sql,
		                             "SELECT active_pid FROM pg_replication_slots"
		                             " WHERE slot_name = $1 AND active",
		                             1, NULL, params, NULL, NULL, 0);
		int busy = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		if (busy && !logged) {
			dbs_log(s->host, DBS_LOG_WARN,
			     "replication slot \"%s\" is held by server process %s (a previous run of "
			     "this stream?); waiting up to %d s for it to be released",
			     slot, PQgetvalue(res, 0, 0), SLOT_BUSY_WAIT_MS / 1000);
			logged = 1;
		}
		PQclear(res);
		if (!busy || (dbs_time_monotonic_ns() - start) / 1000000 >= SLOT_BUSY_WAIT_MS)
			return 0;
		if (dbs_sleep_unless_stopping(s->host, 100))
			return 1;
	}
}

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
	if (!exec_ok(s->sql, "SHOW wal_level", PGRES_TUPLES_OK, &res)) {
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
	if (exec_ok(s->sql,
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
	rc = setup_publication(s, pub, err, errlen);
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
		rc = export_slot(s, slot, err, errlen);
	else
		rc = setup_slot(s, slot, resume != NULL, from, err, errlen);
	if (rc == DBS_ENOTFOUND)
		rc = DBS_ESOURCE;
	if (rc != 0)
		goto fail;
	rc = DBS_ESOURCE;
	if (resume && wait_slot_free(s, slot)) {
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
	else if ((rc = start_replication(s, slot, pub, from, err, errlen)) != 0)
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
		rc = setup_slot(s, s->slot, 1, from, cause, sizeof cause);
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
		if (start_replication(s, s->slot, s->pub, from, cause, sizeof cause))
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
		rc = start_replication(s, s->slot, s->pub, s->start_lsn, err, errlen);
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
