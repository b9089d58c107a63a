/*
 * PostgreSQL target: applies batches with libpq through the SQL-target
 * skeleton (lib/sql/target.h), which holds the checkpoint, the open
 * source transactions (docs/transactions.md), the retry of a lost
 * connection, the row-by-row replay and the dead letters. This file is
 * the session and the dialect's part of the skeleton; the statements live
 * in tables.c, copy.c and pipeline.c.
 *
 * Inserts go in runs (consecutive inserts into one table) by COPY
 * (copy.c); updates and deletes through prepared statements in pipeline
 * mode (pipeline.c). Values travel as text (COPY text format or text
 * parameters) formatted into one buffer reused by every apply. When the
 * core groups source transactions into one commit, runs and the pipeline
 * go on across batches and nothing waits for the server between them
 * (grouped.c): what one statement carries does not depend on the hub's
 * batch size.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/checkpoint.h"
#include "sql/value_text.h"
#include "targets/postgresql/pg_target.h"

/* Seconds a (re)connect attempt may wait for the server: a cut network
 * must not block the target thread past its stop checks for long. */
#define CONNECT_TIMEOUT_TEXT "10"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Copy `msg` into err with line breaks folded, so stat shows one line. */
void dbs__pgt_oneline(char *err, size_t errlen, size_t at, const char *msg)
{
	if (errlen == 0 || at >= errlen - 1)
		return;
	size_t o = at;
	int space = 0;
	for (const char *p = msg; *p && o < errlen - 1; p++) {
		char c = *p;
		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c == ' ' && (space || o == at))
			continue;
		space = c == ' ';
		err[o++] = c;
	}
	while (o > at && err[o - 1] == ' ')
		o--;
	err[o] = '\0';
}

/*
 * "<where>: <database message>". The message is the server's error
 * (severity, primary text, detail) when `res` carries one, else libpq's
 * connection message.
 */
void dbs__pgt_error(pg_target *t, const PGresult *res, char *err, size_t errlen,
                    const char *where)
{
	char msg[DBS_ERRMSG_MAX];
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (primary) {
		const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		dbs_fmt(msg, sizeof msg, "%s: %s%s%s", sev ? sev : "ERROR", primary,
		         detail ? " DETAIL: " : "", detail ? detail : "");
	} else {
		const char *m = res ? PQresultErrorMessage(res) : "";
		if (!m[0])
			m = t->conn ? PQerrorMessage(t->conn) : "no connection";
		if (!m[0])
			m = "unexpected result from the server";
		dbs_fmt(msg, sizeof msg, "%s", m);
	}
	/* Class 08 (connection exception) and 57P (operator intervention:
	 * shutdown, crash recovery) say the session is gone, not the row;
	 * a dropped database (57P04) does not come back by reconnecting. */
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	/* Class 22 (data exception: out of range, invalid input, too long),
	 * 23 (integrity constraint: not-null, foreign key, unique, check),
	 * 54000 (a value too large for an index entry) and P0001 (a trigger
	 * that raises) are about the row's values; anything else is not. */
	t->common.data_error = state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
	                          strcmp(state, "54000") == 0 || strcmp(state, "P0001") == 0);
	dbs_fmt(t->common.err_code, sizeof t->common.err_code, "%s", state ? state : "");
	dbs__pgt_oneline(t->common.err_msg, sizeof t->common.err_msg, 0, msg);
	if ((t->conn && PQstatus(t->conn) == CONNECTION_BAD) ||
	    (state && (strncmp(state, "08", 2) == 0 ||
	               (strncmp(state, "57P", 3) == 0 && strcmp(state, "57P04") != 0))))
		t->common.lost = 1;
	size_t at = 0;
	if (where && where[0] && errlen > 0) {
		dbs_fmt(err, errlen, "%s: ", where);
		at = strlen(err);
	}
	dbs__pgt_oneline(err, errlen, at, msg);
}

/* Run statements that return no rows; fills err on failure. */
int dbs__pgt_exec(pg_target *t, const char *sql, const char *where, char *err,
                  size_t errlen)
{
	int rc = DBS_ETARGET;
	PGresult *res = PQexec(t->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		dbs__pgt_error(t, res, err, errlen, where);
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The session                                                         */
/* ------------------------------------------------------------------ */

static pg_target *pg_of(dbs_sqltarget *common)
{
	return (pg_target *)common;
}

/* Settings that make values read back in one canonical form; notices of
 * IF NOT EXISTS are noise, warnings still reach the log. */
static const char session_sql[] =
	"SET client_encoding TO 'UTF8'; SET DateStyle TO 'ISO'; SET TimeZone TO 'UTC'; "
	"SET extra_float_digits TO 3; SET standard_conforming_strings TO on; "
	"SET bytea_output TO 'hex'; SET IntervalStyle TO 'postgres'; "
	"SET client_min_messages TO warning";

/* libpq prints notices to stderr by default; the library never prints. */
static void forward_notice(void *arg, const char *message)
{
	const pg_target *t = arg;
	size_t n = strlen(message);
	while (n && (message[n - 1] == '\n' || message[n - 1] == ' '))
		n--;
	if (t->common.host->log && n <= INT32_MAX)
		t->common.host->log(t->common.host, DBS_LOG_WARN, "postgresql target: %.*s", (int)n,
		                    message);
}

/* A new session with the user's connection string and TLS files. */
static PGconn *connect_target(const dbs_target_config *config,
                              const dbs_sql_target_settings *settings)
{
	const char *keys[7], *vals[7];
	int k = 0;
	/* Before dbname, so a connect_timeout in the user's string wins. */
	keys[k] = "connect_timeout", vals[k++] = CONNECT_TIMEOUT_TEXT;
	/* dbname first: it expands the user's URI or key=value string; the
	 * TLS files of the settings, when given, override what it says. */
	keys[k] = "dbname", vals[k++] = config->connection;
	if (settings->ssl_ca && settings->ssl_ca[0])
		keys[k] = "sslrootcert", vals[k++] = settings->ssl_ca;
	if (settings->ssl_cert && settings->ssl_cert[0])
		keys[k] = "sslcert", vals[k++] = settings->ssl_cert;
	if (settings->ssl_key && settings->ssl_key[0])
		keys[k] = "sslkey", vals[k++] = settings->ssl_key;
	/* Names the session in pg_stat_activity unless the user named it. */
	keys[k] = "fallback_application_name", vals[k++] = "dbstreams";
	keys[k] = NULL, vals[k] = NULL;
	return PQconnectdbParams(keys, vals, 1);
}

/* A new session: connected, notices forwarded, settings made. */
static int session_open(pg_target *t, const char *where, char *err, size_t errlen)
{
	PGconn *conn = connect_target(t->common.config, t->common.settings);
	if (!conn) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if (t->conn)
		PQfinish(t->conn);
	t->conn = conn;
	if (PQstatus(t->conn) != CONNECTION_OK) {
		dbs__pgt_error(t, NULL, err, errlen, where);
		return DBS_ETARGET;
	}
	PQsetNoticeProcessor(t->conn, forward_notice, t);
	return dbs__pgt_exec(t, session_sql, "session settings", err, errlen);
}

/*
 * A new session in place of a lost one: what lived in the old session
 * (prepared statements, TEMP staging tables, settings) is made again on
 * demand. A fresh connection rather than PQreset: nothing of the old
 * one's pipeline or COPY state can leak into the new session.
 */
static int pg_reconnect(dbs_sqltarget *common, char *err, size_t errlen)
{
	pg_target *t = pg_of(common);
	dbs__pgt_abort_grouped(t, 1);
	for (size_t i = 0; i < t->ntables; i++) {
		pg_table *tb = t->tables[i];
		tb->stage_ready = 0;
		for (size_t j = 0; j < tb->nstmts; j++)
			tb->stmts[j].state = STMT_NONE;
	}
	return session_open(t, "reconnecting to the target", err, errlen);
}

static int pg_exec(dbs_sqltarget *common, const char *sql, const char *where, char *err,
                   size_t errlen)
{
	return dbs__pgt_exec(pg_of(common), sql, where, err, errlen);
}

static int pg_select_row(dbs_sqltarget *common, const char *sql, const char *where,
                         dbs_buf *store, const char **fields, unsigned n, int *found, char *err,
                         size_t errlen)
{
	pg_target *t = pg_of(common);
	int rc = DBS_ETARGET;
	size_t off[16];
	PGresult *res = PQexec(t->conn, sql);
	*found = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || n > 16 || (unsigned)PQnfields(res) < n) {
		dbs__pgt_error(t, res, err, errlen, where);
		goto done;
	}
	rc = 0;
	if (PQntuples(res) < 1)
		goto done;
	dbs_buf_reset(store);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		off[i] = store->len;
		if (!PQgetisnull(res, 0, (int)i))
			rc = dbs_buf_append(store, PQgetvalue(res, 0, (int)i),
			                    (size_t)PQgetlength(res, 0, (int)i) + 1);
	}
	if (rc) {
		dbs_fmt(err, errlen, "out of memory");
		goto done;
	}
	for (unsigned i = 0; i < n; i++)
		fields[i] = PQgetisnull(res, 0, (int)i) ? NULL : store->data + off[i];
	*found = 1;
done:
	PQclear(res);
	return rc;
}

/* The checkpoint table, created under the lock of table creation when
 * missing (writers sharing a stream start together and would collide);
 * one made before positions carried a GTID gains the column. */
static int checkpoint_table(pg_target *t, char *err, size_t errlen)
{
	int rc, exists = 0, schema_exists = 0;
	PGresult *res = NULL;
	if ((rc = dbs__pgt_relation_exists(t, DBS_CHECKPOINT_TABLE, NULL, &exists, &schema_exists,
	                                   DBS_CHECKPOINT_TABLE, err, errlen)))
		return rc;
	dbs_buf_reset(&t->sql);
	if (!exists) {
		if (dbs__checkpoint_ddl(&t->sql, DBS_DIALECT_POSTGRESQL))
			goto oom;
		if ((rc = dbs__pgt_exec(t, "BEGIN; SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY ")",
		                        "creating " DBS_CHECKPOINT_TABLE, err, errlen)) ||
		    (rc = dbs__pgt_exec(t, t->sql.data, "creating " DBS_CHECKPOINT_TABLE, err,
		                        errlen)))
			return rc;
		return dbs__pgt_exec(t, "COMMIT", "creating " DBS_CHECKPOINT_TABLE, err, errlen);
	}
	res = PQexec(t->conn, "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('"
	                      DBS_CHECKPOINT_TABLE "') AND attname = '" DBS_CHECKPOINT_GTID_COLUMN
	                      "' AND NOT attisdropped");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgt_error(t, res, err, errlen, "reading the columns of " DBS_CHECKPOINT_TABLE);
		rc = DBS_ETARGET;
	} else if (PQntuples(res) == 0) {
		if (dbs__checkpoint_add_gtid_sql(&t->sql, DBS_DIALECT_POSTGRESQL)) {
			PQclear(res);
			goto oom;
		}
		rc = dbs__pgt_exec(t, t->sql.data, "adding the gtid column to " DBS_CHECKPOINT_TABLE,
		                   err, errlen);
	}
	PQclear(res);
	return rc;
oom:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* Quote options.deadLetterTable ("t" or "schema.t") and create it (and
 * its schema) when missing. */
static int pg_dead_letter_table(dbs_sqltarget *common, const char *name, dbs_buf *qname,
                                char *err, size_t errlen)
{
	pg_target *t = pg_of(common);
	int rc;
	const char *dot = strchr(name, '.');
	char schema[64] = "";
	int exists = 0, schema_exists = 0;
	dbs_buf *s = &t->sql;
	if (dot) {
		dbs_fmt(schema, sizeof schema, "%.*s", (int)(dot - name), name);
		if (dbs__sql_append_ident(qname, schema) || dbs_buf_append_char(qname, '.'))
			goto oom;
	}
	if (dbs__sql_append_ident(qname, dot ? dot + 1 : name))
		goto oom;
	if ((rc = dbs__pgt_relation_exists(t, qname->data, dot ? schema : NULL, &exists,
	                                   &schema_exists, "the dead-letter table", err, errlen)) ||
	    exists)
		return rc;
	/* Under the lock of table creation: writers sharing a stream start
	 * together and would collide. */
	if ((rc = dbs__pgt_exec(t, "BEGIN; SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY ")",
	                        "creating the dead-letter table", err, errlen)) ||
	    (rc = dbs__pgt_relation_exists(t, qname->data, dot ? schema : NULL, &exists,
	                                   &schema_exists, "the dead-letter table", err, errlen)))
		return rc;
	dbs_buf_reset(s);
	if (!exists && dot && !schema_exists &&
	    (dbs_buf_append_str(s, "CREATE SCHEMA IF NOT EXISTS ") ||
	     dbs__sql_append_ident(s, schema) || dbs_buf_append_str(s, "; ")))
		goto oom;
	if (!exists && (dbs__sqltarget_dead_letter_ddl(s, DBS_DIALECT_POSTGRESQL, qname->data) ||
	                dbs_buf_append_str(s, "; ")))
		goto oom;
	if (dbs_buf_append_str(s, "COMMIT"))
		goto oom;
	return dbs__pgt_exec(t, s->data, "creating the dead-letter table", err, errlen);
oom:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Batches: the dialect's part of the skeleton                         */
/* ------------------------------------------------------------------ */

/* A new transaction: what it creates is numbered, so that a rollback can
 * forget it. A failure that could not roll back may have left one open. */
int dbs__pgt_txn_start(pg_target *t, int begin, char *err, size_t errlen)
{
	t->txn_no++;
	t->missed[0] = t->missed[1] = 0;
	t->savepoints = 0;
	if (PQtransactionStatus(t->conn) == PQTRANS_INERROR ||
	    PQtransactionStatus(t->conn) == PQTRANS_INTRANS)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	return begin ? dbs__pgt_exec(t, "BEGIN", "begin", err, errlen) : 0;
}

static int pg_write(dbs_sqltarget *common, const dbs_batch *batch, char *err, size_t errlen)
{
	pg_target *t = pg_of(common);
	int rc;
	uint32_t i = 0, n = dbs_batch_count(batch);
	t->apply_no++;
	if (dbs__sqltarget_grouping(&t->common)) {
		/* BEGIN goes with the first statement (grouped.c). */
		if (!t->common.open && (rc = dbs__pgt_txn_start(t, 0, err, errlen)))
			return rc;
		return dbs__pgt_write_grouped(t, batch, err, errlen);
	}
	if (!t->common.open && (rc = dbs__pgt_txn_start(t, 1, err, errlen)))
		return rc;
	while (i < n) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (dbs__sqltarget_skipped(&t->common, ev)) {
			i++;
			continue;
		}
		pg_table *tb;
		if ((rc = dbs__pgt_table_lookup(t, ev->table, &tb, err, errlen)) ||
		    (rc = dbs__pgt_table_ensure(t, tb, ev->table, err, errlen)))
			return rc;
		if (ev->op == DBS_OP_INSERT &&
		    dbs__pgt_insert_run_length(t, batch, i, COPY_MIN_ROWS) >= COPY_MIN_ROWS)
			rc = dbs__pgt_insert_run(t, batch, &i, tb, err, errlen);
		else
			rc = dbs__pgt_change_run(t, batch, &i, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

/* Upsert the checkpoint row and COMMIT in one round trip. */
static int pg_commit(dbs_sqltarget *common, const dbs_batch *batch, const dbs_position *last,
                     uint64_t seq, const char *pos, char *err, size_t errlen)
{
	pg_target *t = pg_of(common);
	int rc = DBS_ENOMEM;
	PGresult *res = NULL;
	dbs_buf *s = &t->sql;
	(void)batch;
	if (t->g.active)
		return dbs__pgt_commit_grouped(t, last, seq, pos, err, errlen);
	dbs_buf_reset(s);
	if (dbs__checkpoint_upsert_sql(s, DBS_DIALECT_POSTGRESQL, t->common.stream_literal, last,
	                               seq, pos) ||
	    dbs_buf_append_str(s, "; COMMIT")) {
		dbs_fmt(err, errlen, "out of memory");
		goto done;
	}
	rc = DBS_ETARGET;
	res = PQexec(t->conn, s->data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		dbs__pgt_error(t, res, err, errlen, "commit");
		goto done;
	}
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		dbs_fmt(err, errlen, "commit: the server rolled the transaction back (%s)",
		         PQcmdStatus(res));
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

static void pg_rollback(dbs_sqltarget *common)
{
	pg_target *t = pg_of(common);
	dbs__pgt_abort_grouped(t, 0);
	if (t->conn && PQstatus(t->conn) == CONNECTION_OK &&
	    PQpipelineStatus(t->conn) == PQ_PIPELINE_OFF &&
	    (PQtransactionStatus(t->conn) == PQTRANS_INERROR ||
	     PQtransactionStatus(t->conn) == PQTRANS_INTRANS))
		PQclear(PQexec(t->conn, "ROLLBACK"));
	dbs__pgt_tables_rollback(t);
}

/* The session's caches keep what the transaction made, and rows that
 * were missing are told. */
static void pg_committed(dbs_sqltarget *common)
{
	pg_target *t = pg_of(common);
	dbs__pgt_tables_committed(t);
	if ((t->missed[0] || t->missed[1]) && t->common.host->log)
		t->common.host->log(t->common.host, DBS_LOG_WARN,
		                    "postgresql target: %" PRIu64 " updates and %" PRIu64
		                    " deletes found no row: the target differs from the source",
		                    t->missed[0], t->missed[1]);
}

static int pg_rows_begin(dbs_sqltarget *common, const dbs_batch *batch, char *err, size_t errlen)
{
	(void)batch;
	return dbs__pgt_txn_start(pg_of(common), 0, err, errlen);
}

static int pg_row_table(dbs_sqltarget *common, const dbs_event *ev, void **table, char *err,
                        size_t errlen)
{
	pg_target *t = pg_of(common);
	pg_table *tb = NULL;
	int rc = dbs__pgt_table_lookup(t, ev->table, &tb, err, errlen);
	if (!rc)
		rc = dbs__pgt_table_ensure(t, tb, ev->table, err, errlen);
	*table = tb;
	return rc;
}

static int pg_row_apply(dbs_sqltarget *common, const dbs_batch *batch, uint32_t i, void *table,
                        char *err, size_t errlen)
{
	return dbs__pgt_apply_row(pg_of(common), table, dbs_batch_event(batch, i), err, errlen);
}

static const char *pg_row_label(dbs_sqltarget *common, void *table, const dbs_event *ev)
{
	return dbs__pgt_event_label(pg_of(common), table, ev);
}

static const dbs_sqltarget_ops pg_dialect = {
	.what = "postgresql target",
	.dialect = DBS_DIALECT_POSTGRESQL,
	.begin_sql = "BEGIN",
	.release_savepoints = 1,
	.exec = pg_exec,
	.select_row = pg_select_row,
	.write = pg_write,
	.commit = pg_commit,
	.hold = NULL,
	.rollback = pg_rollback,
	.committed = pg_committed,
	.rows_begin = pg_rows_begin,
	.row_table = pg_row_table,
	.row_apply = pg_row_apply,
	.row_label = pg_row_label,
	.schema = dbs__pgt_schema,
	.reconnect = pg_reconnect,
	.dead_letter_table = pg_dead_letter_table,
	.load = &dbs__pgt_load_main,
};

/* ------------------------------------------------------------------ */
/* Vtable                                                              */
/* ------------------------------------------------------------------ */

static void pg_close(dbs_target *base)
{
	pg_target *t = (pg_target *)base;
	if (!t)
		return;
	if (t->conn)
		PQfinish(t->conn);
	for (size_t i = 0; i < t->ntables; i++)
		dbs__pgt_table_free(t->tables[i]);
	free(t->tables);
	dbs_buf_free(&t->buf);
	dbs_buf_free(&t->sql);
	dbs_buf_free(&t->errbuf);
	free(t->param_off);
	free(t->params);
	free(t->mask);
	free(t->pending);
	dbs_buf_free(&t->g.vals);
	dbs_buf_free(&t->g.kept);
	free(t->g.run_keys);
	free(t->g.off);
	dbs__sqltarget_release(&t->common);
	free(t);
}

int dbs__pgt_session_new(pg_target **out, const pg_target *like, char *err, size_t errlen)
{
	int rc;
	pg_target *t = calloc(1, sizeof *t);
	*out = NULL;
	if (!t) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	dbs__sqltarget_init(&t->common, &dbs__postgresql_target_ops, &pg_dialect,
	                    like->common.config, like->common.host);
	t->zero_dates = like->zero_dates;
	t->txn_no = 1;
	/* Its records name the stream as the main session's do. */
	if (!(t->common.stream_literal = strdup(like->common.stream_literal))) {
		pg_close(&t->common.base);
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if ((rc = session_open(t, "connecting to the target", err, errlen))) {
		pg_close(&t->common.base);
		return rc;
	}
	*out = t;
	return 0;
}

void dbs__pgt_session_free(pg_target *t)
{
	pg_close(t ? &t->common.base : NULL);
}

static int pg_open(dbs_target **out, const dbs_target_config *config, const dbs_host *host,
                   dbs_position *checkpoint, char *err, size_t errlen)
{
	int rc = DBS_EINVAL;
	pg_target *t = NULL;
	if (out)
		*out = NULL;
	if (!out || !config || !host || !checkpoint || !host->stream_id || !config->connection) {
		dbs_fmt(err, errlen, "postgresql target: missing connection, stream id or output");
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(t = calloc(1, sizeof *t))) {
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	dbs__sqltarget_init(&t->common, &dbs__postgresql_target_ops, &pg_dialect, config, host);
	const char *zd = t->common.settings->zero_dates;
	t->zero_dates = !zd || strcmp(zd, "fail") == 0 ? DBS_ZERO_DATE_FAIL
	                : strcmp(zd, "null") == 0      ? DBS_ZERO_DATE_NULL
	                                               : DBS_ZERO_DATE_NEG_INFINITY;
	t->txn_no = 1;
	if ((rc = session_open(t, "connecting to the target", err, errlen)) ||
	    (rc = checkpoint_table(t, err, errlen)) ||
	    (rc = dbs__sqltarget_start(&t->common, checkpoint, err, errlen)))
		goto fail;
	*out = &t->common.base;
	return 0;
fail:
	pg_close(t ? &t->common.base : NULL);
	return rc;
}

const dbs_target_ops dbs__postgresql_target_ops = {
	.version = DBS_TARGET_OPS_VERSION,
	.name = "postgresql",
	.open = pg_open,
	.apply = dbs__sqltarget_apply,
	.close = pg_close,
	.flush = dbs__sqltarget_flush,
	.keep_checkpoint = dbs__sqltarget_keep_checkpoint,
	.options = dbs__sql_target_options,
	.noptions = DBS_SQL_TARGET_NOPTIONS,
	.settings_size = sizeof(dbs_sql_target_settings),
	.default_schema = "public",
	.load = &dbs__pgt_load_ops,
};
