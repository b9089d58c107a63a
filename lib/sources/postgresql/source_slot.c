/*
 * PostgreSQL source: the sessions it opens, the publication and the
 * replication slot it sets up (at open, and again after a lost
 * connection), the slot that exports a snapshot for an initial load, and
 * START_REPLICATION. Apart from source.c, which opens the source with
 * these and holds the read loop, so that each reads on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/ssl.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/postgresql/pg_source.h"
#include "sql/settings.h"

/* ---- sessions ---- */

int dbs__pgs_exec_ok(PGconn *c, const char *sql, ExecStatusType want, PGresult **out)
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

/* ---- publication ---- */

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

int dbs__pgs_setup_publication(pg_source *s, const char *pub, char *err, size_t errlen)
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
	if (!dbs__pgs_exec_ok(s->sql, sql.data, PGRES_COMMAND_OK, NULL)) {
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

/* ---- replication slot ---- */

/*
 * The slot, created when missing unless the stream resumes from `from`
 * (`resuming`): then the changes between `from` and now are gone with the
 * dropped slot, and a new slot would silently skip them.
 */
int dbs__pgs_setup_slot(pg_source *s, const char *slot, int resuming, uint64_t from, char *err,
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

int dbs__pgs_start_replication(pg_source *s, const char *slot, const char *pub, uint64_t lsn,
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
	if (!dbs__pgs_exec_ok(s->repl, cmd, PGRES_COPY_BOTH, NULL)) {
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
	 * read loop asks OpenSSL before it waits (repl_has_pending, source.c).
	 * From here on libpq waits on this connection only for the result
	 * after the server ended the COPY, which a logical walsender does
	 * only as it exits, closing the socket; otherwise the connection is
	 * nonblocking and ends by PQfinish. */
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
int dbs__pgs_export_slot(pg_source *s, const char *slot, char *err, size_t errlen)
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
		return dbs__pgs_setup_slot(s, slot, 0, 0, err, errlen);
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
int dbs__pgs_wait_slot_free(pg_source *s, const char *slot)
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
