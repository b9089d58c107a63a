/*
 * MySQL source: its connections, and the binlog dump (COM_BINLOG_DUMP
 * through mariadb_rpl_*) started from a file position or a GTID state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/position.h>

#include "sources/mysql/my_source.h"

/* ---- connections ---- */

int dbs__mys_connect(my_source *s, MYSQL **out, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	MYSQL *m = mysql_init(NULL);
	if (!m) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	unsigned ct = CONNECT_TIMEOUT_S, rt = READ_TIMEOUT_S;
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &rt);
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!s->dsn.socket) {
		/* tcp(localhost) is TCP, not the client's default socket. */
		unsigned proto = MYSQL_PROTOCOL_TCP;
		mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
	}
	if (s->dsn.tls != DBS_MYSQL_TLS_OFF) {
		my_bool enforce = s->dsn.tls != DBS_MYSQL_TLS_PREFERRED;
		my_bool verify = s->dsn.tls == DBS_MYSQL_TLS_VERIFY;
		mysql_ssl_set(m, s->ssl_key, s->ssl_cert, s->ssl_ca, NULL, NULL);
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &enforce);
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	} else {
		my_bool no = 0;
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &no);
	}
	if (!mysql_real_connect(m, s->dsn.host, s->dsn.user, s->dsn.password,
	                        s->dsn.database[0] ? s->dsn.database : NULL, s->dsn.port,
	                        s->dsn.socket, 0)) {
		if (s->dsn.socket)
			dbs_fmt(err, errlen, "connecting to %s: %s", s->dsn.socket,
			         mysql_error(m));
		else
			dbs_fmt(err, errlen, "connecting to %s:%u: %s", s->dsn.host, s->dsn.port,
			         mysql_error(m));
		mysql_close(m);
		goto fail;
	}
	/* Connector/C 3.3 falls back to plain text when certificate checks
	 * are off and the server has no TLS: tls=skip-verify must not. */
	if ((s->dsn.tls == DBS_MYSQL_TLS_VERIFY || s->dsn.tls == DBS_MYSQL_TLS_SKIP_VERIFY) &&
	    !mysql_get_ssl_cipher(m)) {
		dbs_fmt(
		    err, errlen,
		    "the connection string asks for TLS (tls=%s) but the server at %s does not "
		    "offer it (start it with ssl_cert/ssl_key, or use tls=preferred)",
		    s->dsn.tls == DBS_MYSQL_TLS_VERIFY ? "true" : "skip-verify",
		    s->dsn.socket ? s->dsn.socket : s->dsn.host);
		mysql_close(m);
		goto fail;
	}
	*out = m;
	rc = 0;
fail:
	return rc;
}

/* One row of one query; values copied into `vals` (NULL for SQL NULL). */
int dbs__mys_query_row(MYSQL *m, const char *sql, unsigned nvals, char **vals, char *err,
                       size_t errlen)
{
	int rc = DBS_ESOURCE;
	MYSQL_RES *res = NULL;
	for (unsigned i = 0; i < nvals; i++)
		vals[i] = NULL;
	if (mysql_query(m, sql) != 0 || !(res = mysql_store_result(m))) {
		dbs_fmt(err, errlen, "%s: %s", sql, mysql_error(m));
		goto fail;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	if (!row || mysql_num_fields(res) < nvals) {
		dbs_fmt(err, errlen, "%s: no result", sql);
		goto fail;
	}
	unsigned long *lens = mysql_fetch_lengths(res);
	for (unsigned i = 0; i < nvals; i++) {
		if (row[i] && !(vals[i] = strndup(row[i], lens[i]))) {
			rc = DBS_ENOMEM;
			dbs_fmt(err, errlen, "out of memory");
			goto fail;
		}
	}
	rc = 0;
fail:
	if (rc != 0)
		for (unsigned i = 0; i < nvals; i++) {
			free(vals[i]);
			vals[i] = NULL;
		}
	if (res)
		mysql_free_result(res);
	return rc;
}

int dbs__mys_exec(MYSQL *m, const char *sql, char *err, size_t errlen)
{
	if (mysql_query(m, sql) != 0) {
		dbs_fmt(err, errlen, "%s: %s", sql, mysql_error(m));
		return DBS_ESOURCE;
	}
	MYSQL_RES *r = mysql_store_result(m);
	if (r)
		mysql_free_result(r);
	return 0;
}

/* ---- the dump connection ---- */

void dbs__mys_dump_close(my_source *s)
{
	if (s->ev) {
		mariadb_free_rpl_event(s->ev);
		s->ev = NULL;
	}
	if (s->rpl) {
		mariadb_rpl_close(s->rpl);
		s->rpl = NULL;
	}
	if (s->repl) {
		mysql_close(s->repl);
		s->repl = NULL;
	}
}

/* Error 1236 saying the requested binlog file is no longer there. */
static int binlog_purged(unsigned e, const char *msg)
{
	return e == 1236 && msg &&
	       (strstr(msg, "Could not find first log file") || strstr(msg, "purged") ||
	        strstr(msg, "could not find next log") || strstr(msg, "Could not open log file"));
}

/*
 * The binlog the stream must resume from was purged: say where it had to
 * resume, what the server still has, and what to do. DBS_ENOTFOUND, so
 * no reconnect loop retries it.
 */
static int purged_error(my_source *s, const char *where, const char *msg, char *err,
                        size_t errlen)
{
	MYSQL *m = NULL;
	char *oldest = NULL, ignore[DBS_ERRMSG_MAX];
	if (dbs__mys_connect(s, &m, ignore, sizeof ignore) == 0)
		dbs__mys_query_row(m, "SHOW BINARY LOGS", 1, &oldest, ignore, sizeof ignore);
	dbs_fmt(err, errlen,
	         "the binlog this stream needs was purged: it must resume %s but the oldest "
	         "binlog the server still has is %s (server: %s). The changes in between are lost "
	         "to this stream: re-create it with a fresh copy of the data (a new stream id over "
	         "emptied target tables), and keep binlogs longer than a stream may stay stopped "
	         "(binlog_expire_logs_seconds)",
	         where, oldest ? oldest : "unknown", msg ? msg : "");
	free(oldest);
	if (m)
		mysql_close(m);
	return DBS_ENOTFOUND;
}

/* Why the server refused to start the dump, in words that say what to do. */
static int dump_refused(my_source *s, const char *where, const char *gtid_state, char *err,
                        size_t errlen)
{
	unsigned e = mysql_errno(s->repl);
	const char *msg = mysql_error(s->repl);
	if (binlog_purged(e, msg))
		return purged_error(s, where, msg, err, errlen);
	if (e == 1227 || e == 1045 || e == 1044) {
		dbs_fmt(err, errlen,
		         "reading the binlog was refused (%s): grant the privilege with "
		         "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'",
		         msg, s->dsn.user);
	} else if (gtid_state && e == 1236) {
		/* Not a connection problem: retrying cannot help. */
		dbs_fmt(err, errlen,
		         "this server cannot start the binlog %s (server: %s): its binlog does "
		         "not hold the stream's last transaction. Point the source at a server that "
		         "replicated it (a replica with log_slave_updates, caught up), or re-create "
		         "the stream with a fresh copy of the data",
		         where, msg);
		return DBS_ENOTFOUND;
	} else {
		dbs_fmt(err, errlen, "starting the binlog dump %s: %s", where, msg);
	}
	return DBS_ESOURCE;
}

/*
 * Start the dump at binlog position `at` (file number << 32 | offset), or,
 * when `gtid_state` is not NULL, after the MariaDB GTID state it holds
 * (the file name then comes with the first ROTATE event).
 */
static int dump_open(my_source *s, uint64_t at, const char *gtid_state, char *err, size_t errlen)
{
	int rc = dbs__mys_connect(s, &s->repl, err, errlen);
	if (rc != 0)
		return rc;
	rc = DBS_ESOURCE;
	if (dbs__mys_exec(s->repl, "SET @master_binlog_checksum = @@global.binlog_checksum", err,
	                  errlen) ||
	    dbs__mys_exec(s->repl, "SET @mariadb_slave_capability = 4", err, errlen) ||
	    dbs__mys_exec(s->repl, "SET @master_heartbeat_period = " HEARTBEAT_NS, err, errlen))
		goto fail;
	char file[300], where[400];
	unsigned long start = (unsigned long)(at & 0xffffffffu);
	if (start < 4)
		start = 4;
	if (gtid_state) {
		char q[600], esc[2 * 200 + 1];
		size_t n = strlen(gtid_state);
		if (n > 200) {
			dbs_fmt(err, errlen, "GTID state too long: %.64s...", gtid_state);
			goto fail;
		}
		mysql_real_escape_string(s->repl, esc, gtid_state, (unsigned long)n);
		dbs_fmt(q, sizeof q, "SET @slave_connect_state = '%s'", esc);
		if (dbs__mys_exec(s->repl, q, err, errlen))
			goto fail;
		file[0] = '\0';
		start = 4;
		dbs_fmt(where, sizeof where, "after GTID %s", gtid_state[0] ? gtid_state : "(none)");
	} else {
		dbs_fmt(file, sizeof file, "%s.%06" PRIu64, s->base_name, at >> 32);
		dbs_fmt(where, sizeof where, "at %s:%lu", file, start);
	}
	s->rpl = mariadb_rpl_init(s->repl);
	if (!s->rpl) {
		dbs_fmt(err, errlen, "mariadb_rpl_init failed");
		goto fail;
	}
	mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FILENAME, file, strlen(file));
	mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_START, start);
	mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_SERVER_ID, s->replica_id);
	mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FLAGS, 0);
	/* The server checks privileges and the start position only when it
	 * starts sending: read the first event now so open() reports them. */
	if (mariadb_rpl_open(s->rpl) != 0 || !(s->ev = mariadb_rpl_fetch(s->rpl, NULL))) {
		rc = dump_refused(s, where, gtid_state, err, errlen);
		goto fail;
	}
	s->pending = 1;
	s->nseen = 0;
	if (!gtid_state)
		s->file_no = at >> 32;
	dbs_fmt(s->start_desc, sizeof s->start_desc, "%s", where);
	return 0;
fail:
	dbs__mys_dump_close(s);
	return rc;
}

/* Nonzero when `word` occurs in `text` with no digit or '-' next to it. */
static int has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
		char before = p == text ? ' ' : p[-1], after = p[n];
		if (!(before >= '0' && before <= '9') && before != '-' &&
		    !(after >= '0' && after <= '9') && after != '-')
			return 1;
	}
	return 0;
}

/* Each domain-server-seq of a comma-separated GTID list, in turn: 1 and
 * the next one, or 0 at the end. Malformed entries are skipped. */
static int state_next(const char **p, uint32_t *domain, uint32_t *server, uint64_t *seq)
{
	while (*p && **p) {
		const char *at = *p, *comma = strchr(at, ',');
		size_t len = comma ? (size_t)(comma - at) : strlen(at);
		*p = comma ? comma + 1 : NULL;
		while (len && *at == ' ')
			at++, len--;
		if (dbs_gtid_parse(at, len, domain, server, seq) == 0)
			return 1;
	}
	return 0;
}

/*
 * Start the dump at `at` (see "GTIDs" at the top). DBS_ENOTFOUND when the
 * server cannot serve it (purged, another history, other domains):
 * retrying would not help.
 */
int dbs__mys_dump_start(my_source *s, const dbs_position *at, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	uint64_t filepos = at->resume ? at->resume : at->txn;
	char *v[6] = {0}, *here = NULL, *binlog_state = NULL;
	char gtid[48], state[64], q[800], esc[600], file[300], ignore[DBS_ERRMSG_MAX];
	char why[DBS_ERRMSG_MAX / 2] = "it holds another event there";
	int inside = !at->resume; /* a checkpoint inside a transaction: read it again */
	uint32_t d, sv;
	uint64_t n;
	const char *p;
	s->expect_seq = 0;
	if (!s->mariadb || !at->gtid_seq || dbs_gtid_text(gtid, sizeof gtid, at) != 0)
		return dump_open(s, filepos, NULL, err, errlen);

	/* The server the position was read from has our GTID event at its
	 * recorded offset (an error, such as a missing file, means not): its
	 * state there covers every domain. */
	dbs_fmt(file, sizeof file, "%s.%06" PRIu64, s->base_name, at->txn >> 32);
	mysql_real_escape_string(s->sql, esc, file, (unsigned long)strlen(file));
	dbs_fmt(q, sizeof q, "SHOW BINLOG EVENTS IN '%s' FROM %" PRIu64 " LIMIT 1", esc,
	         at->txn & 0xffffffffu);
	if (dbs__mys_query_row(s->sql, q, 6, v, ignore, sizeof ignore) != 0)
		dbs_fmt(why, sizeof why, "%s", ignore);
	else if (v[2] && strcmp(v[2], "Gtid") == 0 && v[3] &&
	         strtoul(v[3], NULL, 10) == at->gtid_server && v[5] && has_word(v[5], gtid)) {
		dbs_fmt(file, sizeof file, "%s.%06" PRIu64, s->base_name, filepos >> 32);
		mysql_real_escape_string(s->sql, esc, file, (unsigned long)strlen(file));
		dbs_fmt(q, sizeof q, "SELECT BINLOG_GTID_POS('%s', %" PRIu64 ")", esc,
		         filepos & 0xffffffffu);
		int ours = inside;
		if (dbs__mys_query_row(s->sql, q, 1, &here, ignore, sizeof ignore) == 0 && here)
			for (p = here; !ours && state_next(&p, &d, &sv, &n);)
				ours = d == at->gtid_domain && sv == at->gtid_server &&
				       n == at->gtid_seq;
		if (here && ours) {
			rc = dump_open(s, 0, here, err, errlen);
			goto done;
		}
		dbs_fmt(why, sizeof why, "BINLOG_GTID_POS gives %.200s", here ? here : ignore);
	}

	/* Another server: the recorded GTID is the whole state only when the
	 * server's binlog has no other domain. */
	if ((rc = dbs__mys_query_row(s->sql, "SELECT @@global.gtid_binlog_state", 1, &binlog_state, err,
	                    errlen)) != 0)
		goto done;
	for (p = binlog_state; state_next(&p, &d, &sv, &n);) {
		if (d == at->gtid_domain)
			continue;
		dbs_fmt(err, errlen,
		         "the stream resumes after GTID %s, of domain %" PRIu32
		         " only, on a server whose binlog also has domain %" PRIu32
		         " (gtid_binlog_state %.200s), and its binlog at the file and offset the "
		         "checkpoint recorded (%s:%" PRIu64 ") is not where that GTID is (%s): "
		         "where to resume in the other domains is unknown. Resume on the server "
		         "the stream was reading from, or re-create the stream with a fresh copy "
		         "of the data",
		         gtid, at->gtid_domain, d, binlog_state, file, at->txn & 0xffffffffu, why);
		rc = DBS_ENOTFOUND;
		goto done;
	}
	if (!inside) {
		rc = dump_open(s, 0, gtid, err, errlen);
		goto done;
	}
	/* Read the transaction again: start after the one before it, which
	 * with one writer is seq - 1 of the same server; the first GTID the
	 * server sends must then be ours. */
	if (at->gtid_seq > 1)
		dbs_fmt(state, sizeof state, "%" PRIu32 "-%" PRIu32 "-%" PRIu64, at->gtid_domain,
		         at->gtid_server, at->gtid_seq - 1);
	else
		state[0] = '\0';
	rc = dump_open(s, 0, state, err, errlen);
	if (rc == 0) {
		s->expect_domain = at->gtid_domain;
		s->expect_server = at->gtid_server;
		s->expect_seq = at->gtid_seq;
	}
done:
	for (int i = 0; i < 6; i++)
		free(v[i]);
	free(here);
	free(binlog_state);
	return rc;
}
