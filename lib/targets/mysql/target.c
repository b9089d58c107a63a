/*
 * MySQL/MariaDB target: applies batches with Connector/C through the
 * SQL-target skeleton (lib/sql/target.h), which holds the checkpoint, the
 * open source transactions (docs/transactions.md), the retry of a lost
 * connection, the row-by-row replay and the dead letters. This file is
 * the session and the dialect's part of the skeleton; statements.c turns
 * a batch into SQL text and tables.c creates tables. Tables are created
 * before the transaction starts, or from a second session when one is
 * open, because MySQL DDL commits the session's open transaction.
 *
 * The connection string is the go-sql-driver DSN, read by the parser the
 * MySQL source shares (lib/sql/mysql_dsn.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/checkpoint.h"
#include "sql/value_text.h"
#include "targets/mysql/my_target.h"

/* Upper bound of one COM_QUERY when the server allows more: bigger packets
 * buy nothing once a round trip carries thousands of rows. */
#define PACKET_CAP (4u * 1024u * 1024u)
#define CONNECT_TIMEOUT_S 10u
/* Seconds a read or write on the connection may wait. */
#define IO_TIMEOUT_S 600u

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Errors the client library raises itself (server gone, lost, refused,
 * a broken packet): Connector/C numbers them 2000-2999 and 5000-5999.
 * Server errors are below 2000 or from 3000 (MySQL 8, MariaDB 4000+). */
int dbs__myt_client_errno(unsigned no)
{
	return (no >= 2000 && no <= 2999) || (no >= 5000 && no <= 5999);
}

/*
 * Whether server error `no` (SQLSTATE `state`) is about the row's values:
 * SQLSTATE classes 22 (data exception) and 23 (integrity constraint), and
 * the strict-mode and constraint errors MySQL files under other states.
 */
static int data_errno(unsigned no, const char *state)
{
	switch (no) {
	case 1048: /* column cannot be null */
	case 1062: /* duplicate entry */
	case 1169: /* unique constraint */
	case 1216: case 1217: case 1451: case 1452: /* foreign key */
	case 1264: /* out of range */
	case 1265: /* data truncated (ENUM, SET) */
	case 1292: /* incorrect date/time value */
	case 1300: /* invalid character string */
	case 1366: /* incorrect value for a column (integer, string encoding) */
	case 1367: /* illegal value */
	case 1406: /* data too long */
	case 1411: /* incorrect value for a function */
	case 1557: case 1586: case 1761: case 1762: /* duplicate keys */
	case 1644: /* a trigger that signals */
	case 1690: /* value out of range */
	case 3140: /* invalid JSON (MySQL) */
	case 3819: /* check constraint (MySQL) */
	case 4025: /* check constraint (MariaDB) */
		return 1;
	default:
		return state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
	}
}

/* "<where>: <server message> (error N)" on one line. */
void dbs__myt_error(my_target *t, char *err, size_t errlen, const char *where)
{
	const char *msg = t->conn ? mysql_error(t->conn) : "no connection";
	unsigned no = t->conn ? mysql_errno(t->conn) : 0;
	t->common.data_error =
	    t->conn && no && !dbs__myt_client_errno(no) && data_errno(no, mysql_sqlstate(t->conn));
	dbs_fmt(t->common.err_code, sizeof t->common.err_code, "%u", no);
	dbs_fmt(t->common.err_msg, sizeof t->common.err_msg, "%s", msg && msg[0] ? msg : "unknown error");
	for (char *p = t->common.err_msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	/* Client errors (server gone, lost, refused), shutdown in progress
	 * (1053), a killed connection (MariaDB 1927, MySQL 3169) and MySQL's
	 * disconnect of an idle client (4031) say the session is gone, not
	 * the row. */
	if (!t->conn || dbs__myt_client_errno(no) || no == 1053 || no == 1927 || no == 3169 || no == 4031)
		t->common.lost = 1;
	dbs_fmt(err, errlen, "%s%s%s (error %u)", where ? where : "", where ? ": " : "",
	         msg && msg[0] ? msg : "unknown error", no);
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/* Run statements whose results carry nothing we need. */
int dbs__myt_exec(my_target *t, const char *sql, size_t len, const char *where, char *err,
                  size_t errlen)
{
	int rc = DBS_ETARGET;
	if (mysql_real_query(t->conn, sql, (unsigned long)len)) {
		dbs__myt_error(t, err, errlen, where);
		goto done;
	}
	for (;;) {
		MYSQL_RES *res = mysql_store_result(t->conn);
		if (res)
			mysql_free_result(res);
		int st = mysql_next_result(t->conn);
		if (st < 0)
			break;
		if (st > 0) {
			dbs__myt_error(t, err, errlen, where);
			goto done;
		}
	}
	rc = 0;
done:
	return rc;
}

int dbs__myt_exec_str(my_target *t, const char *sql, const char *where, char *err, size_t errlen)
{
	return dbs__myt_exec(t, sql, strlen(sql), where, err, errlen);
}

/* ------------------------------------------------------------------ */
/* The session                                                         */
/* ------------------------------------------------------------------ */

static my_target *my_of(dbs_sqltarget *common)
{
	return (my_target *)common;
}

/*
 * Strict, so an unfit value is an error rather than a cut; backslash an
 * ordinary byte so literals only double quotes; zero dates allowed
 * (no NO_ZERO_DATE / NO_ZERO_IN_DATE) so a MySQL source's '0000-00-00'
 * arrives unchanged; 0 into an AUTO_INCREMENT column stays 0. UTC, so
 * TIMESTAMP columns take and give instants as the events carry them.
 */
static const char session_sql[] =
	"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION,"
	"NO_AUTO_VALUE_ON_ZERO,ERROR_FOR_DIVISION_BY_ZERO', time_zone = '+00:00', autocommit = 1, "
	"character_set_client = utf8mb4, character_set_connection = utf8mb4, "
	"character_set_results = utf8mb4";

static int connect_server(my_target *t, dbs_mysql_tls tls, char *err, size_t errlen)
{
	const dbs_sql_target_settings *c = t->common.settings;
	if (t->conn)
		mysql_close(t->conn);
	if (!(t->conn = mysql_init(NULL))) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	dbs__myt_load_setup(t);
	unsigned timeout = CONNECT_TIMEOUT_S;
	mysql_optionsv(t->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_optionsv(t->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* A server that stops answering fails the apply instead of hanging
	 * the target thread past any stop request. */
	unsigned io_timeout = IO_TIMEOUT_S;
	mysql_optionsv(t->conn, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
	mysql_optionsv(t->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
	if (tls != DBS_MYSQL_TLS_OFF) {
		my_bool enforce = 1, verify = tls == DBS_MYSQL_TLS_VERIFY;
		mysql_ssl_set(t->conn, c->ssl_key, c->ssl_cert, c->ssl_ca, NULL, NULL);
		mysql_optionsv(t->conn, MYSQL_OPT_SSL_ENFORCE, &enforce);
		mysql_optionsv(t->conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	}
	if (!mysql_real_connect(t->conn, t->dsn.socket ? NULL : t->dsn.host, t->dsn.user,
	                        t->dsn.password, NULL, t->dsn.socket ? 0 : t->dsn.port,
	                        t->dsn.socket, CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS)) {
		dbs__myt_error(t, err, errlen, "connecting to the target");
		return DBS_ETARGET;
	}
	return 0;
}

/* A checkpoint table made before positions carried a GTID gains the
 * column (MySQL has no ADD COLUMN IF NOT EXISTS: a stream opening at the
 * same time may add it first, error 1060). */
static int checkpoint_add_gtid(my_target *t, char *err, size_t errlen)
{
	static const char q[] = "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
	                        "DATABASE() AND TABLE_NAME = '" DBS_CHECKPOINT_TABLE
	                        "' AND COLUMN_NAME = '" DBS_CHECKPOINT_GTID_COLUMN "'";
	MYSQL_RES *res = NULL;
	if (mysql_real_query(t->conn, q, sizeof q - 1) || !(res = mysql_store_result(t->conn))) {
		dbs__myt_error(t, err, errlen, "reading the columns of " DBS_CHECKPOINT_TABLE);
		return DBS_ETARGET;
	}
	int has = mysql_num_rows(res) > 0;
	mysql_free_result(res);
	if (has)
		return 0;
	dbs_buf_reset(&t->tmp);
	if (dbs__checkpoint_add_gtid_sql(&t->tmp, DBS_DIALECT_MYSQL)) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if (mysql_real_query(t->conn, t->tmp.data, (unsigned long)t->tmp.len) &&
	    mysql_errno(t->conn) != 1060) {
		dbs__myt_error(t, err, errlen, "adding the gtid column to " DBS_CHECKPOINT_TABLE);
		return DBS_ETARGET;
	}
	return 0;
}

/* Settings and database of a new session. */
static int session_setup(my_target *t, char *err, size_t errlen)
{
	int rc;
	if ((rc = dbs__myt_exec_str(t, session_sql, "session settings", err, errlen)))
		return rc;
	if (mysql_select_db(t->conn, t->dsn.database)) {
		dbs__myt_error(t, err, errlen, "selecting the database");
		return DBS_ETARGET;
	}
	return 0;
}

/* A new session in place of a lost one, with the settings and database
 * of the first. */
static int my_reconnect(dbs_sqltarget *common, char *err, size_t errlen)
{
	my_target *t = my_of(common);
	int rc = connect_server(t, t->tls, err, errlen);
	if (rc) {
		t->common.lost = 1;
		return rc;
	}
	return session_setup(t, err, errlen);
}

static int my_exec(dbs_sqltarget *common, const char *sql, const char *where, char *err,
                   size_t errlen)
{
	return dbs__myt_exec_str(my_of(common), sql, where, err, errlen);
}

static int my_select_row(dbs_sqltarget *common, const char *sql, const char *where,
                         dbs_buf *store, const char **fields, unsigned n, int *found, char *err,
                         size_t errlen)
{
	my_target *t = my_of(common);
	int rc = DBS_ETARGET;
	size_t off[16];
	MYSQL_RES *res = NULL;
	*found = 0;
	if (n > 16 || mysql_real_query(t->conn, sql, (unsigned long)strlen(sql)) ||
	    !(res = mysql_store_result(t->conn)) || mysql_num_fields(res) < n) {
		dbs__myt_error(t, err, errlen, where);
		goto done;
	}
	rc = 0;
	MYSQL_ROW row = mysql_fetch_row(res);
	unsigned long *lens = row ? mysql_fetch_lengths(res) : NULL;
	if (!row)
		goto done;
	dbs_buf_reset(store);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		off[i] = store->len;
		if (row[i])
			rc = dbs_buf_append(store, row[i], (size_t)lens[i] + 1);
	}
	if (rc) {
		dbs_fmt(err, errlen, "out of memory");
		goto done;
	}
	for (unsigned i = 0; i < n; i++)
		fields[i] = row[i] ? store->data + off[i] : NULL;
	*found = 1;
done:
	if (res)
		mysql_free_result(res);
	return rc;
}

/* Quote options.deadLetterTable ("t" in the connection's database, or
 * "db.t") and create it when missing. */
static int my_dead_letter_table(dbs_sqltarget *common, const char *name, dbs_buf *qname,
                                char *err, size_t errlen)
{
	my_target *t = my_of(common);
	const char *dot = strchr(name, '.');
	char db[64];
	dbs_buf *b = &t->tmp;
	dbs_fmt(db, sizeof db, "%.*s", dot ? (int)(dot - name) : 0, name);
	dbs_buf_reset(b);
	if (dbs__myt_ident(qname, dot ? db : t->dsn.database) || dbs_buf_append_char(qname, '.') ||
	    dbs__myt_ident(qname, dot ? dot + 1 : name) ||
	    dbs__sqltarget_dead_letter_ddl(b, DBS_DIALECT_MYSQL, qname->data)) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	return dbs__myt_exec(t, b->data, b->len, "creating the dead-letter table", err, errlen);
}

/* ------------------------------------------------------------------ */
/* Batches: the dialect's part of the skeleton                         */
/* ------------------------------------------------------------------ */

/* The tables of the batch's events, created first: before the
 * transaction starts, or, inside one, from a second session (MySQL DDL
 * would commit it; tables.c). */
static int tables_first(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	my_table *tb;
	int rc = 0;
	for (uint32_t i = 0, n = dbs_batch_count(batch); i < n && rc == 0; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (!dbs__sqltarget_skipped(&t->common, ev))
			rc = dbs__myt_table_get(t, ev->table, &tb, err, errlen);
	}
	return rc;
}

static int add_event(my_target *t, const dbs_batch *batch, uint32_t *i, my_table *tb,
                     int segment, char *err, size_t errlen)
{
	const dbs_event *ev = dbs_batch_event(batch, *i);
	if (ev->op == DBS_OP_INSERT && ev->after)
		return segment ? dbs__myt_add_insert_segment(t, batch, i, err, errlen)
		               : dbs__myt_add_insert(t, batch, *i, tb, err, errlen);
	t->run_rows = t->run_rows_txn = 0; /* the run of inserts ends */
	if ((ev->op == DBS_OP_UPDATE && ev->after) || ev->op == DBS_OP_DELETE)
		return dbs__myt_add_change(t, batch, *i, tb, err, errlen);
	dbs_fmt(err, errlen, "table %s: event %u has op %u without its row image", tb->qname,
	         (unsigned)*i, (unsigned)ev->op);
	return DBS_EINTERNAL;
}

static int my_write(dbs_sqltarget *common, const dbs_batch *batch, char *err, size_t errlen)
{
	my_target *t = my_of(common);
	uint32_t n = dbs_batch_count(batch);
	my_table *tb = NULL;
	int rc;
	t->apply_no++;
	if ((rc = tables_first(t, batch, err, errlen)))
		return rc;
	t->common.data_error = 0; /* an index left out above is only a warning */
	/* Grouped, the packet may still hold the statements of earlier
	 * batches (my_hold), the last one still taking rows. */
	if (!t->common.open) {
		dbs__myt_packet_reset(t);
		if ((rc = dbs_buf_append_str(&t->sql, "START TRANSACTION")) ||
		    (rc = dbs__myt_stmt_push(t, NULL, 0, 0, "starting the transaction"))) {
			dbs_fmt(err, errlen, "out of memory");
			return rc;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (dbs__sqltarget_skipped(&t->common, ev))
			continue;
		if ((rc = dbs__myt_table_get(t, ev->table, &tb, err, errlen)) ||
		    (rc = add_event(t, batch, &i, tb, 1, err, errlen)))
			return rc;
	}
	return 0;
}

/* Append the checkpoint upsert and COMMIT to the packet, and send it. */
static int my_commit(dbs_sqltarget *common, const dbs_batch *batch, const dbs_position *last,
                     uint64_t seq, const char *pos, char *err, size_t errlen)
{
	my_target *t = my_of(common);
	int rc;
	/* Without a batch the packet holds what a grouped transaction left
	 * unsent, or nothing. */
	if ((rc = dbs__myt_close_open(t, batch, err, errlen)))
		return rc;
	if ((rc = dbs__myt_sep(t)) ||
	    (rc = dbs__checkpoint_upsert_sql(&t->sql, DBS_DIALECT_MYSQL, t->common.stream_literal,
	                                     last, seq, pos)) ||
	    (rc = dbs__myt_stmt_push(t, NULL, 0, 0, "writing the checkpoint")) ||
	    (rc = dbs_buf_append_str(&t->sql, ";COMMIT")) ||
	    (rc = dbs__myt_stmt_push(t, NULL, 0, 0, "commit"))) {
		dbs_fmt(err, errlen, "out of memory");
		return rc;
	}
	return dbs__myt_flush(t, batch, err, errlen);
}

/* The transaction stays open: end the statement taking rows, send.
 * Grouped, nothing waits for the server between batches: the packet is
 * sent when it is full, or with the commit, and a multi-row statement
 * goes on with the next batch's rows. */
static int my_hold(dbs_sqltarget *common, const dbs_batch *batch, char *err, size_t errlen)
{
	my_target *t = my_of(common);
	if (dbs__sqltarget_grouping(common))
		return 0;
	int rc = dbs__myt_close_open(t, batch, err, errlen);
	return rc ? rc : dbs__myt_flush(t, batch, err, errlen);
}

/* The failed packet's later statements never ran; what ran is undone. */
static void my_rollback(dbs_sqltarget *common)
{
	my_target *t = my_of(common);
	if (t->conn) {
		char ignore[64];
		dbs__myt_exec_str(t, "ROLLBACK", "rollback", ignore, sizeof ignore);
	}
	dbs__myt_packet_reset(t);
}

static int my_rows_begin(dbs_sqltarget *common, const dbs_batch *batch, char *err, size_t errlen)
{
	return tables_first(my_of(common), batch, err, errlen);
}

static int my_row_table(dbs_sqltarget *common, const dbs_event *ev, void **table, char *err,
                        size_t errlen)
{
	my_table *tb = NULL;
	int rc = dbs__myt_table_get(my_of(common), ev->table, &tb, err, errlen);
	*table = tb;
	return rc;
}

static int my_row_apply(dbs_sqltarget *common, const dbs_batch *batch, uint32_t i, void *table,
                        char *err, size_t errlen)
{
	my_target *t = my_of(common);
	dbs__myt_packet_reset(t);
	t->rows_one_by_one = 1; /* each row's own statement names it */
	int rc = add_event(t, batch, &i, table, 0, err, errlen);
	t->rows_one_by_one = 0;
	if (rc == 0)
		rc = dbs__myt_close_open(t, batch, err, errlen);
	if (rc == 0)
		rc = dbs__myt_flush(t, batch, err, errlen);
	dbs__myt_packet_reset(t);
	return rc;
}

static const char *my_row_label(dbs_sqltarget *common, void *table, const dbs_event *ev)
{
	my_target *t = my_of(common);
	my_table *tb = table;
	char key[ERR_KEY_MAX + 16];
	dbs__myt_key_text(t, tb, ev, key, sizeof key);
	dbs_buf_reset(&t->label);
	if (dbs_buf_appendf(&t->label, "%s, key %s", tb->qname, key))
		return tb->qname;
	return t->label.data;
}

static const dbs_sqltarget_ops my_dialect = {
	.what = "mysql target",
	.dialect = DBS_DIALECT_MYSQL,
	.begin_sql = "START TRANSACTION",
	.release_savepoints = 0,
	.exec = my_exec,
	.select_row = my_select_row,
	.write = my_write,
	.commit = my_commit,
	.hold = my_hold,
	.rollback = my_rollback,
	.committed = NULL,
	.rows_begin = my_rows_begin,
	.row_table = my_row_table,
	.row_apply = my_row_apply,
	.row_label = my_row_label,
	.schema = dbs__myt_schema,
	.reconnect = my_reconnect,
	.dead_letter_table = my_dead_letter_table,
	.load = &dbs__myt_load_main,
};

/* ------------------------------------------------------------------ */
/* Vtable                                                              */
/* ------------------------------------------------------------------ */

static void my_close(dbs_target *base)
{
	my_target *t = (my_target *)base;
	if (!t)
		return;
	if (t->conn)
		mysql_close(t->conn);
	for (size_t i = 0; i < t->ntables; i++)
		dbs__myt_table_free(t->tables[i]);
	free(t->tables);
	free(t->stmts);
	free(t->done);
	free(t->pend);
	dbs__mysql_dsn_free(&t->dsn);
	dbs_buf_free(&t->sql);
	dbs_buf_free(&t->row);
	dbs_buf_free(&t->tmp);
	dbs_buf_free(&t->label);
	dbs_buf_free(&t->load);
	dbs_buf_free(&t->load_value);
	dbs_buf_free(&t->load_sql);
	dbs__sqltarget_release(&t->common);
	free(t);
}

/* The server's packet limit, less room for the packet header and a
 * statement's tail. */
static int read_packet_limit(my_target *t, char *err, size_t errlen)
{
	MYSQL_RES *res = NULL;
	if (mysql_real_query(t->conn, "SELECT @@max_allowed_packet", 27) ||
	    !(res = mysql_store_result(t->conn))) {
		dbs__myt_error(t, err, errlen, "reading max_allowed_packet");
		return DBS_ETARGET;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	unsigned long long map = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	t->packet_limit = map > 65536 ? (size_t)(map - 16384) : (size_t)(map / 4 * 3);
	if (t->packet_limit < 512)
		t->packet_limit = 512;
	if (t->packet_limit > PACKET_CAP)
		t->packet_limit = PACKET_CAP;
	return 0;
}

int dbs__myt_session_new(my_target **out, const my_target *like, unsigned *server_errno,
                         char *err, size_t errlen)
{
	int rc;
	my_target *t = calloc(1, sizeof *t);
	*out = NULL;
	if (server_errno)
		*server_errno = 0;
	if (!t) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	dbs__sqltarget_init(&t->common, &dbs__mysql_target_ops, &my_dialect, like->common.config,
	                    like->common.host);
	t->collation = like->collation;
	t->tls = like->tls;
	/* Its records name the stream as the main session's do. */
	if (!(t->common.stream_literal = strdup(like->common.stream_literal))) {
		my_close(&t->common.base);
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if ((rc = dbs__mysql_dsn_parse(&t->dsn, like->common.config->connection, err, errlen)) ||
	    (rc = connect_server(t, t->tls, err, errlen)) || (rc = session_setup(t, err, errlen)) ||
	    (rc = read_packet_limit(t, err, errlen))) {
		if (server_errno && t->conn && !dbs__myt_client_errno(mysql_errno(t->conn)))
			*server_errno = mysql_errno(t->conn);
		my_close(&t->common.base);
		return rc;
	}
	*out = t;
	return 0;
}

void dbs__myt_session_free(my_target *t)
{
	my_close(t ? &t->common.base : NULL);
}

static int my_open(dbs_target **out, const dbs_target_config *config, const dbs_host *host,
                   dbs_position *checkpoint, char *err, size_t errlen)
{
	int rc = DBS_EINVAL;
	my_target *t = NULL;
	if (out)
		*out = NULL;
	if (!out || !config || !host || !checkpoint || !host->stream_id || !config->connection) {
		dbs_fmt(err, errlen, "mysql target: missing connection, stream id or output");
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(t = calloc(1, sizeof *t))) {
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	dbs__sqltarget_init(&t->common, &dbs__mysql_target_ops, &my_dialect, config, host);
	if ((rc = dbs__mysql_dsn_parse(&t->dsn, config->connection, err, errlen)))
		goto fail;
	if (!t->dsn.database || !t->dsn.database[0]) {
		rc = DBS_ECONFIG;
		dbs_fmt(err, errlen, "mysql target: the connection names no database "
		         "(user:password@tcp(host:port)/dbname)");
		goto fail;
	}
	dbs_mysql_tls tls = t->dsn.tls;
	const dbs_sql_target_settings *ts = t->common.settings;
	if (tls == DBS_MYSQL_TLS_OFF && (ts->ssl_ca || ts->ssl_cert || ts->ssl_key))
		tls = DBS_MYSQL_TLS_VERIFY; /* certificates given: the user wants TLS */
	rc = connect_server(t, tls, err, errlen);
	if (rc && tls == DBS_MYSQL_TLS_PREFERRED) {
		tls = DBS_MYSQL_TLS_OFF;
		rc = connect_server(t, tls, err, errlen);
	}
	if (rc)
		goto fail;
	t->tls = tls;

	const char *info = mysql_get_server_info(t->conn);
	unsigned long ver = mysql_get_server_version(t->conn);
	/* Binary, no-pad: keys that differ in case, accents or trailing
	 * spaces stay distinct rows, as they are in PostgreSQL. */
	if (info && strstr(info, "MariaDB"))
		t->collation = "utf8mb4_nopad_bin";
	else if (ver >= 80000)
		t->collation = "utf8mb4_0900_bin";
	else
		t->collation = "utf8mb4_bin";

	dbs_buf *b = &t->tmp;
	dbs_buf_reset(b);
	if (dbs_buf_append_str(b, "CREATE DATABASE IF NOT EXISTS ") ||
	    dbs__myt_ident(b, t->dsn.database) ||
	    dbs_buf_appendf(b, " CHARACTER SET utf8mb4 COLLATE %s", t->collation)) {
		rc = DBS_ENOMEM;
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = dbs__myt_exec_str(t, session_sql, "session settings", err, errlen)) ||
	    (rc = dbs__myt_exec(t, b->data, b->len, "creating the database", err, errlen)) ||
	    (rc = session_setup(t, err, errlen)))
		goto fail;
	dbs_buf_reset(b);
	if (dbs__checkpoint_ddl(b, DBS_DIALECT_MYSQL)) {
		rc = DBS_ENOMEM;
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = dbs__myt_exec(t, b->data, b->len, "creating " DBS_CHECKPOINT_TABLE, err,
	                        errlen)) ||
	    (rc = checkpoint_add_gtid(t, err, errlen)) ||
	    (rc = read_packet_limit(t, err, errlen)) ||
	    (rc = dbs__sqltarget_start(&t->common, checkpoint, err, errlen)))
		goto fail;
	*out = &t->common.base;
	return 0;
fail:
	my_close(t ? &t->common.base : NULL);
	return rc;
}

const dbs_target_ops dbs__mysql_target_ops = {
	.version = DBS_TARGET_OPS_VERSION,
	.name = "mysql",
	.open = my_open,
	.apply = dbs__sqltarget_apply,
	.close = my_close,
	.flush = dbs__sqltarget_flush,
	.keep_checkpoint = dbs__sqltarget_keep_checkpoint,
	.options = dbs__sql_target_options,
	.noptions = DBS_SQL_TARGET_NOPTIONS,
	.settings_size = sizeof(dbs_sql_target_settings),
	.default_schema = NULL,
	.load = &dbs__myt_load_ops,
};
