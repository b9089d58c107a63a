/*
 * A MariaDB -> PostgreSQL stream follows a failover to a native replica
 * by GTID, and back, without losing or applying twice a single change.
 *
 * This suite starts two MariaDB servers of its own with the harness: a
 * primary P (server_id 1) and R (server_id 2, log_slave_updates), a
 * replica of P by GTID (MASTER_USE_GTID=slave_pos). Own servers, not the
 * harness's shared one: that binlog carries the other suites'
 * transactions while they run, which a replica would have to apply too.
 * P rotates its binlog three times before any work, so the same
 * transactions sit at other files and offsets on R: a resume by file and
 * offset would start from a file R does not have, and binlog positions
 * of R would compare as earlier than a checkpoint taken on P.
 *
 * The stream (the same stream id throughout) runs in five legs:
 *  1. on P with an event limit that falls inside a 301-event transaction:
 *     the checkpoint is inside that transaction and holds its GTID;
 *  2. on P again (same server: resumes inside the transaction), more
 *     transactions, then a graceful stop;
 *  3. while it is stopped: inserts, updates, deletes and a large
 *     transaction on P, replicated to R;
 *  4. on R (the failover: resumes after the checkpoint's GTID on another
 *     server) with an event limit inside the large transaction;
 *  5. on P (failing back: resumes inside a transaction whose checkpoint
 *     was taken on R), more transactions;
 *  6, 7. on P with transactions in GTID domains 0 and 1, stopped and
 *     resumed on the same server;
 * and last, the stream on R, whose binlog then has two domains: refused.
 * Every transaction ends with one row in an insert-only `ledger`; a
 * trigger on the target counts how many times each ledger row is written.
 * At the end the target equals P value for value, every ledger row
 * written after leg 1 was written exactly once, and none of leg 1 again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define STREAM_ID "2GtidFailoverStream00000001"

static char setup_error[1024];
static char dirs[2][512]; /* 0: primary, 1: replica */
static int ports[2];
static char db[64], dst_db[64];

static void setup(void)
{
	static const char *const extra[2] = {"--server-id=1",
	                                     "--server-id=2 --log-slave-updates"};
	const char *tmp = getenv("DBS_TEST_TMPDIR");

	itest_name(db, sizeof db, "fo_src");
	itest_name(dst_db, sizeof dst_db, "fo_dst");
	if (!getenv("DBS_HARNESS_SERVERS") || !tmp || !tmp[0] || !getenv("DBS_TEST_PG_URI")) {
		snprintf(setup_error, sizeof setup_error,
		         "DBS_HARNESS_SERVERS, DBS_TEST_TMPDIR or DBS_TEST_PG_URI is not set: run "
		         "the integration suite through scripts/test");
		return;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(dirs[i], sizeof dirs[i], "%s/failover_%ld_%c", tmp, (long)getpid(),
		         i ? 'r' : 'p');
		if (itest_harness("start", dirs[i], "mysql", NULL, extra[i]) != 0) {
			snprintf(setup_error, sizeof setup_error,
			         "starting a MariaDB in %.400s failed: see its output above", dirs[i]);
			dirs[i][0] = '\0';
			return;
		}
		char port[16] = "";
		ports[i] = itest_harness_env(dirs[i], "DBS_TEST_MYSQL_PORT", port, sizeof port)
		               ? atoi(port)
		               : 0;
		if (ports[i] <= 0) {
			snprintf(setup_error, sizeof setup_error, "no DBS_TEST_MYSQL_PORT in %.400s/env",
			         dirs[i]);
			return;
		}
	}
}

static void teardown(void)
{
	itest_pg_drop_db(dst_db);
	for (int i = 0; i < 2; i++)
		if (dirs[i][0])
			itest_harness("stop", dirs[i], NULL, NULL, NULL);
}

/* Root on server `i` (0 primary, 1 replica), in `database` (NULL: none). */
static MYSQL *server_connect(int i, const char *database)
{
	MYSQL *m;
	unsigned proto = MYSQL_PROTOCOL_TCP;

	ck_assert_msg(setup_error[0] == '\0', "%s", setup_error);
	m = mysql_init(NULL);
	ck_assert_ptr_nonnull(m);
	mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!mysql_real_connect(m, "127.0.0.1", "root", "", database, (unsigned)ports[i], NULL, 0))
		ck_abort_msg("connecting to MariaDB %s on port %d: %s", i ? "replica" : "primary",
		             ports[i], mysql_error(m));
	itest_my_exec(m, "SET time_zone = '+00:00'");
	return m;
}

/* The stream's configuration with its source on server `i`. */
static void config_for(char *buf, size_t size, int i, unsigned events_limit)
{
	char dst_uri[512];
	int n;

	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	n = snprintf(buf, size,
	             "{\"source\": {\"type\": \"mysql\", "
	             "\"connection\": \"root:@tcp(127.0.0.1:%d)/%s\", "
	             "\"filter\": {\"tables\": [{\"name\": \"acct\"}, {\"name\": \"ledger\"}]}}, "
	             "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	             "\"limits\": {\"numberOfEvents\": %u}}",
	             ports[i], db, dst_uri, events_limit);
	ck_assert(n > 0 && (size_t)n < size);
}

/* Where each leg's source starts, for the log of a failed run. */
static void log_line(dbs_log_level level, const char *line, void *user_data)
{
	(void)user_data;
	if (level <= DBS_LOG_WARN || strstr(line, "binlog"))
		fprintf(stderr, "stream: %s\n", line);
}

static dbs_stream *stream_on(int i, unsigned events_limit, int must_start)
{
	char config[2048];
	dbs_stream_options opts = DBS_STREAM_OPTIONS_INIT;
	dbs_stream *s = NULL;
	dbs_stat st;
	char buf[2048];

	config_for(config, sizeof config, i, events_limit);
	opts.stream_id = STREAM_ID;
	opts.log = log_line;
	opts.log_level = DBS_LOG_INFO;
	ck_assert_msg(dbs_stream_create(&s, config, strlen(config), &opts) == 0 && s,
	              "dbs_stream_create: %s", dbs_error_last());
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(!must_start || st.source.status == DBS_STATUS_READY ||
	                  st.source.status == DBS_STATUS_RUNNING,
	              "the stream on the %s must start: %s", i ? "replica" : "primary", buf);
	return s;
}

static int next_ledger = 1, next_acct = 1;

/*
 * One transaction on the primary of kind `kind` (0 inserts, 1 updates,
 * 2 deletes, 3 all three), ending with its ledger row. Returns the row
 * events it wrote.
 */
static uint64_t write_txn(MYSQL *p, int kind)
{
	char sql[512];
	uint64_t events = 0;
	int a = next_acct;

	itest_my_exec(p, "BEGIN");
	if (kind == 0 || kind == 3) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO acct VALUES (%d, 'owner %d', %d.25, 'first', "
		         "'2026-01-02 03:04:05.000006'), (%d, 'owner %d', -%d.50, NULL, NULL)",
		         a, a, a, a + 1, a + 1, a);
		events += itest_my_exec_count(p, sql);
		next_acct += 2;
	}
	if (kind == 1 || kind == 3) {
		/* Every row listed changes, so each is one row event. */
		snprintf(sql, sizeof sql,
		         "UPDATE acct SET balance = balance + 1, note = CONCAT('upd ', id, ' by %d'), "
		         "updated = '2026-05-06 07:08:09.123456' WHERE id IN (%d, %d, %d)",
		         next_ledger, a - 1, a - 3, a - 5);
		events += itest_my_exec_count(p, sql);
	}
	if (kind == 2 || kind == 3) {
		snprintf(sql, sizeof sql, "DELETE FROM acct WHERE id IN (%d, %d)", a - 2, a - 7);
		events += itest_my_exec_count(p, sql);
	}
	snprintf(sql, sizeof sql, "INSERT INTO ledger VALUES (%d, %d, %.2f)", next_ledger,
	         kind, next_ledger * 1.5);
	events += itest_my_exec_count(p, sql);
	next_ledger++;
	itest_my_exec(p, "COMMIT");
	return events;
}

/* One transaction of `rows` inserts and an update of 50 rows, then its
 * ledger row: rows + 51 events. */
static uint64_t write_big_txn(MYSQL *p, int rows)
{
	char sql[512];
	uint64_t events = 0;

	itest_my_exec(p, "BEGIN");
	snprintf(sql, sizeof sql,
	         "INSERT INTO acct SELECT %d + seq, CONCAT('bulk ', seq), seq / 4, REPEAT('x', seq), "
	         "NULL FROM seq_1_to_%d",
	         next_acct - 1, rows);
	events += itest_my_exec_count(p, sql);
	snprintf(sql, sizeof sql,
	         "UPDATE acct SET balance = balance - 3 WHERE id BETWEEN %d AND %d", next_acct,
	         next_acct + 49);
	events += itest_my_exec_count(p, sql);
	next_acct += rows;
	snprintf(sql, sizeof sql, "INSERT INTO ledger VALUES (%d, 9, %.2f)", next_ledger,
	         next_ledger * 1.5);
	events += itest_my_exec_count(p, sql);
	next_ledger++;
	itest_my_exec(p, "COMMIT");
	ck_assert_uint_eq(events, (uint64_t)rows + 51);
	return events;
}

static uint64_t count_of(MYSQL *m, const char *sql)
{
	char *v = itest_my_value(m, sql);
	uint64_t n = v ? strtoull(v, NULL, 10) : 0;
	free(v);
	return n;
}

static uint64_t pg_count_of(PGconn *c, const char *sql)
{
	char *v = itest_pg_value(c, sql);
	uint64_t n = v ? strtoull(v, NULL, 10) : 0;
	free(v);
	return n;
}

/* Wait until the target holds every ledger row of the primary: a
 * transaction's ledger row is its last change. */
static void wait_caught_up(dbs_stream *s, MYSQL *p, PGconn *dst, int timeout_s)
{
	char sql[256], buf[2048];
	uint64_t want = count_of(p, "SELECT COUNT(*) FROM ledger"), got = 0;
	int64_t end = itest_now_ms() + timeout_s * 1000;
	dbs_stat st;

	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM \"%s\".ledger", db);
	for (;;) {
		got = pg_count_of(dst, sql);
		itest_stat(s, &st);
		if (got == want)
			return;
		itest_stat_format(buf, sizeof buf, &st);
		ck_assert_msg(st.source.status <= DBS_STATUS_RUNNING &&
		                  st.target.status <= DBS_STATUS_RUNNING,
		              "the stream ended with %llu of %llu ledger rows: %s",
		              (unsigned long long)got, (unsigned long long)want, buf);
		ck_assert_msg(itest_now_ms() < end, "%llu of %llu ledger rows after %d s: %s",
		              (unsigned long long)got, (unsigned long long)want, timeout_s, buf);
		usleep(100 * 1000);
	}
}

/* Run to its event limit: both nodes EVENT_LIMIT_REACHED at `events`. */
static void wait_limit(dbs_stream *s, uint64_t events)
{
	char buf[2048];
	dbs_stat st;
	int rc = dbs_stream_wait(s, 60000);

	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(rc == 0, "the stream did not reach its limit within 60 s: %s", buf);
	ck_assert_msg(st.source.status == DBS_STATUS_EVENT_LIMIT_REACHED &&
	                  st.target.status == DBS_STATUS_EVENT_LIMIT_REACHED &&
	                  st.target.counter == events,
	              "expected EVENT_LIMIT_REACHED at %llu events: %s",
	              (unsigned long long)events, buf);
}

static void stop_stream(dbs_stream *s)
{
	char buf[2048];
	dbs_stat st;

	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_STOPPED &&
	                  st.target.status == DBS_STATUS_STOPPED,
	              "after stop both nodes must be STOPPED: %s", buf);
	dbs_stream_free(s);
}

/* The checkpoint row: gtid, txn, txn_end (new strings). */
static void checkpoint_of(PGconn *dst, char **gtid, uint64_t *txn, int *txn_end)
{
	char *v;

	*gtid = itest_pg_value(dst, "SELECT gtid FROM dbstreams_checkpoint WHERE stream_id = '"
	                            STREAM_ID "'");
	v = itest_pg_value(dst, "SELECT txn::text FROM dbstreams_checkpoint WHERE stream_id = '"
	                        STREAM_ID "'");
	ck_assert_ptr_nonnull(v);
	*txn = strtoull(v, NULL, 10);
	free(v);
	v = itest_pg_value(dst, "SELECT txn_end::text FROM dbstreams_checkpoint WHERE "
	                        "stream_id = '" STREAM_ID "'");
	ck_assert_ptr_nonnull(v);
	*txn_end = atoi(v);
	free(v);
}

/* Server `m`'s binlog at file number and offset of `txn` does not hold
 * `gtid`: resuming there by file and offset would be wrong. */
static void assert_elsewhere(MYSQL *m, uint64_t txn, const char *gtid, const char *what)
{
	char sql[256];
	MYSQL_RES *res;
	MYSQL_ROW row;

	snprintf(sql, sizeof sql, "SHOW BINLOG EVENTS IN 'binlog.%06u' FROM %u LIMIT 1",
	         (unsigned)(txn >> 32), (unsigned)(txn & 0xffffffffu));
	if (mysql_query(m, sql) != 0)
		return; /* no such file or offset there */
	res = mysql_store_result(m);
	row = res ? mysql_fetch_row(res) : NULL;
	ck_assert_msg(!row || mysql_num_fields(res) < 6 || !row[5] || !strstr(row[5], gtid),
	              "the %s holds GTID %s at the same binlog file and offset as the "
	              "checkpoint: this scenario would not tell a GTID resume from a file+pos "
	              "one",
	              what, gtid);
	if (res)
		mysql_free_result(res);
}

static void wait_replica(MYSQL *p, MYSQL *r)
{
	char *want = itest_my_value(p, "SELECT @@gtid_binlog_pos"), *got = NULL;
	int64_t end = itest_now_ms() + 60000;

	ck_assert_ptr_nonnull(want);
	for (;;) {
		free(got);
		got = itest_my_value(r, "SELECT @@gtid_slave_pos");
		if (got && strcmp(got, want) == 0)
			break;
		if (itest_now_ms() > end) {
			char *io = itest_my_value(r, "SELECT @@gtid_io_pos");
			ck_abort_msg("the replica is at %s (io %s), the primary at %s after 60 s",
			             got ? got : "NULL", io ? io : "NULL", want);
		}
		usleep(100 * 1000);
	}
	free(got);
	free(want);
}

static void compare_all(MYSQL *p, PGconn *dst)
{
	char sql[512];
	itest_rows *a, *b;

	a = itest_my_rows(p, "SELECT id, owner, balance, note, "
	                     "DATE_FORMAT(updated, '%Y-%m-%d %H:%i:%s.%f') FROM acct ORDER BY id");
	snprintf(sql, sizeof sql,
	         "SELECT id, owner, balance, note, to_char(updated, 'YYYY-MM-DD HH24:MI:SS.US') "
	         "FROM \"%s\".acct ORDER BY id",
	         db);
	b = itest_pg_rows(dst, sql);
	itest_rows_compare(a, b, "ssns", dst, "acct");
	itest_rows_free(a);
	itest_rows_free(b);
	a = itest_my_rows(p, "SELECT id, kind, amount FROM ledger ORDER BY id");
	snprintf(sql, sizeof sql, "SELECT id, kind, amount FROM \"%s\".ledger ORDER BY id", db);
	b = itest_pg_rows(dst, sql);
	itest_rows_compare(a, b, "ssn", dst, "ledger");
	itest_rows_free(a);
	itest_rows_free(b);
}

START_TEST(stream_follows_failover_by_gtid)
{
	char sql[1024], *gtid, *pos, *big_gtid;
	MYSQL *p, *r;
	PGconn *dst;
	dbs_stream *s;
	uint64_t events = 0, txn;
	int txn_end, leg1_last;

	ck_assert_msg(setup_error[0] == '\0', "%s", setup_error);
	p = server_connect(0, NULL);
	r = server_connect(1, NULL);
	snprintf(sql, sizeof sql,
	         "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %d, "
	         "MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos",
	         ports[0]);
	itest_my_exec(r, sql);
	itest_my_exec(r, "START SLAVE");
	/* Rotated three times: P's files and offsets are not R's. */
	for (int i = 0; i < 3; i++)
		itest_my_exec(p, "FLUSH BINARY LOGS");
	snprintf(sql, sizeof sql, "CREATE DATABASE %s CHARACTER SET utf8mb4", db);
	itest_my_exec(p, sql);
	snprintf(sql, sizeof sql, "USE %s", db);
	itest_my_exec(p, sql);
	itest_my_exec(p, "CREATE TABLE acct (id INT PRIMARY KEY, owner VARCHAR(40) NOT NULL, "
	                 "balance DECIMAL(12,2) NOT NULL, note TEXT NULL, updated DATETIME(6) NULL)");
	itest_my_exec(p, "CREATE TABLE ledger (id BIGINT PRIMARY KEY, kind INT NOT NULL, "
	                 "amount DECIMAL(12,2) NOT NULL)");
	itest_pg_create_db(dst_db);
	dst = itest_pg_connect(dst_db);

	/* Leg 1, on P: ten transactions of three inserts, then one of 301
	 * events; the limit stops the stream at its 150th. */
	s = stream_on(0, 30 + 150, 1);
	for (int i = 0; i < 10; i++)
		events += write_txn(p, 0);
	ck_assert_uint_eq(events, 30);
	write_big_txn(p, 250);
	wait_limit(s, 180);
	dbs_stream_free(s);
	/* The large transaction's ledger row (its last change) is not there
	 * yet: ledger rows 1..10 are. */
	snprintf(sql, sizeof sql, "SELECT COALESCE(MAX(id), 0) FROM \"%s\".ledger", db);
	leg1_last = (int)pg_count_of(dst, sql);
	ck_assert_int_eq(leg1_last, 10);
	checkpoint_of(dst, &gtid, &txn, &txn_end);
	pos = itest_my_value(p, "SELECT @@gtid_binlog_pos");
	ck_assert_msg(gtid && pos && strcmp(gtid, pos) == 0 && txn_end == 0,
	              "the checkpoint inside the large transaction must hold its GTID %s: "
	              "gtid %s, txn_end %d",
	              pos ? pos : "NULL", gtid ? gtid : "NULL", txn_end);
	free(gtid);
	free(pos);

	/* From now on, count how often each ledger row is written. */
	snprintf(sql, sizeof sql,
	         "CREATE TABLE applied (id bigint PRIMARY KEY, n int NOT NULL); "
	         "CREATE FUNCTION count_applied() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
	         "INSERT INTO applied VALUES (NEW.id, 1) ON CONFLICT (id) DO UPDATE SET n = "
	         "applied.n + 1; RETURN NULL; END $$; "
	         "CREATE TRIGGER count_applied AFTER INSERT OR UPDATE ON \"%s\".ledger "
	         "FOR EACH ROW EXECUTE FUNCTION count_applied()",
	         db);
	itest_pg_exec(dst, sql);

	/* Leg 2, on P again: the rest of the large transaction, and more. */
	s = stream_on(0, 0, 1);
	for (int i = 0; i < 8; i++)
		write_txn(p, i % 4);
	wait_caught_up(s, p, dst, 60);
	stop_stream(s);
	compare_all(p, dst);

	/* Leg 3, stopped: more changes on P, replicated to R. The stream
	 * will read all of them; the limit of leg 4 falls at the 100th event
	 * of the large transaction. */
	events = 0;
	for (int i = 0; i < 16; i++)
		events += write_txn(p, (i + 1) % 4);
	write_big_txn(p, 200);
	big_gtid = itest_my_value(p, "SELECT @@gtid_binlog_pos");
	write_txn(p, 3);
	write_txn(p, 0);
	wait_replica(p, r);
	checkpoint_of(dst, &gtid, &txn, &txn_end);
	ck_assert_msg(gtid && txn_end == 1, "leg 2 must end with a whole transaction's GTID");
	assert_elsewhere(r, txn, gtid, "replica");
	free(gtid);

	/* Leg 4, on R: the failover. */
	s = stream_on(1, (unsigned)events + 100, 1);
	wait_limit(s, events + 100);
	dbs_stream_free(s);
	checkpoint_of(dst, &gtid, &txn, &txn_end);
	ck_assert_msg(gtid && big_gtid && strcmp(gtid, big_gtid) == 0 && txn_end == 0,
	              "on the replica the checkpoint must be inside transaction %s: gtid %s, "
	              "txn_end %d",
	              big_gtid ? big_gtid : "NULL", gtid ? gtid : "NULL", txn_end);
	assert_elsewhere(p, txn, gtid, "primary");
	free(gtid);
	free(big_gtid);

	/* Leg 5, back on P: resumes inside the transaction R stopped in. */
	s = stream_on(0, 0, 1);
	for (int i = 0; i < 4; i++)
		write_txn(p, i % 4);
	wait_caught_up(s, p, dst, 60);
	stop_stream(s);
	compare_all(p, dst);
	checkpoint_of(dst, &gtid, &txn, &txn_end);
	pos = itest_my_value(p, "SELECT @@gtid_binlog_pos");
	ck_assert_msg(gtid && pos && strcmp(gtid, pos) == 0 && txn_end == 1,
	              "the checkpoint must hold the last GTID %s: %s", pos ? pos : "NULL",
	              gtid ? gtid : "NULL");
	free(gtid);
	free(pos);

	/* Legs 6 and 7, on P with a second domain: transactions of domains 1
	 * and 0 while the stream runs and while it is stopped. Resuming on
	 * the same server takes its whole GTID state at the checkpoint, so
	 * neither domain is read again or skipped. */
	itest_my_exec(p, "SET SESSION gtid_domain_id = 1");
	s = stream_on(0, 0, 1);
	for (int i = 0; i < 4; i++)
		write_txn(p, i % 4);
	itest_my_exec(p, "SET SESSION gtid_domain_id = 0");
	write_txn(p, 3);
	wait_caught_up(s, p, dst, 60);
	stop_stream(s);
	for (int i = 0; i < 6; i++) {
		itest_my_exec(p, i % 2 ? "SET SESSION gtid_domain_id = 0"
		                       : "SET SESSION gtid_domain_id = 1");
		write_txn(p, i % 4);
	}
	s = stream_on(0, 0, 1);
	wait_caught_up(s, p, dst, 60);
	stop_stream(s);
	compare_all(p, dst);
	itest_my_exec(p, "SET SESSION gtid_domain_id = 0");

	/* Each ledger row written after leg 1 was written once, none of leg 1
	 * was written again. */
	snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM applied WHERE id <= %d", leg1_last);
	ck_assert_uint_eq(pg_count_of(dst, sql), 0);
	ck_assert_uint_eq(pg_count_of(dst, "SELECT COUNT(*) FROM applied WHERE n <> 1"), 0);
	ck_assert_uint_eq(pg_count_of(dst, "SELECT COUNT(*) FROM applied"),
	                  (uint64_t)(next_ledger - 1 - leg1_last));

	/* Another server whose binlog has a second domain: the checkpoint's
	 * GTID names one domain only, so the source refuses rather than guess
	 * where to resume in the other. */
	{
		dbs_stat st;
		char buf[2048];

		itest_my_exec(r, "SET SESSION gtid_domain_id = 1");
		itest_my_exec(r, "CREATE DATABASE fo_other_domain");
		itest_my_exec(r, "CREATE TABLE fo_other_domain.t (id INT PRIMARY KEY)");
		itest_my_exec(r, "INSERT INTO fo_other_domain.t VALUES (1)");
		s = stream_on(1, 0, 0);
		itest_wait_node_status(s, 0, DBS_STATUS_INIT_FAILED, 30, &st);
		itest_stat_format(buf, sizeof buf, &st);
		ck_assert_msg(strstr(st.source.message, "also has domain") != NULL,
		              "the source must refuse a second domain: %s", buf);
		fprintf(stderr, "failover: two domains: %s\n", st.source.message);
		dbs_stream_stop(s);
		dbs_stream_free(s);
	}
	mysql_close(r);
	PQfinish(dst);
	mysql_close(p);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_mysql_failover");
	TCase *tc = tcase_create("failover");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 290);
	tcase_add_test(tc, stream_follows_failover_by_gtid);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
