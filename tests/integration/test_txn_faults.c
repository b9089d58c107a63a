/*
 * A source transaction larger than one batch, and the target database
 * restarted while it is applied:
 *   - while the target applies the transaction, a reader of the target sees
 *     none of it (the transaction is committed only with its last batch);
 *   - the restart kills the target's open transaction with every batch it
 *     held; the stream resumes from the target's checkpoint by itself (the
 *     source reads the transaction again), stays RUNNING, and verify then
 *     finds zero differences: nothing lost, nothing applied twice.
 * Both ways: MySQL -> PostgreSQL (PostgreSQL restarted) and PostgreSQL ->
 * MySQL (MariaDB killed and started again).
 *
 * Restarting a server would disturb other suites, so this suite starts a
 * server set of its own (PostgreSQL and MariaDB) with tests/harness/servers
 * and stops it at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>


#include "itest.h"

/* Rows of the large transaction: 3,000 batches of the default 100. */
#define BIG_ROWS 300000
/* Rows committed before it, which the target holds from the start. */
#define SMALL_ROWS 10
/* Updates in the large transaction after its inserts, then deletes. */
#define BIG_UPDATES 1000
#define BIG_DELETES 1000

#define ID_MY_PG "2TxnFaultMyPgTargetRestart1"
#define ID_PG_MY "2TxnFaultPgMyTargetRestart1"

static char set_dir[512];
static char setup_error[1024];
static int resumed_lines; /* the core's "resumed from the checkpoint" log lines */

/* Start the suite's own servers and point the itest helpers at them. */
static void start_set(void)
{
	static const char *const keys[] = {"DBS_TEST_PG_PORT", "DBS_TEST_PG_URI",
	                                   "DBS_TEST_MYSQL_PORT", "DBS_TEST_MYSQL_SOCKET"};
	const char *tmp = getenv("TMPDIR");

	snprintf(set_dir, sizeof set_dir, "%s/dbs-txnf-%ld", tmp ? tmp : "/tmp", (long)getpid());
	if (itest_harness("start", set_dir, "pg", "mysql", NULL) != 0) {
		snprintf(setup_error, sizeof setup_error,
		         "could not start servers in %.400s with %.300s (run through scripts/test)",
		         set_dir, getenv("DBS_HARNESS_SERVERS") ? getenv("DBS_HARNESS_SERVERS")
		                                                : "(DBS_HARNESS_SERVERS unset)");
		return;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char value[512];
		if (!itest_harness_env(set_dir, keys[i], value, sizeof value)) {
			snprintf(setup_error, sizeof setup_error, "no %s in %.400s/env", keys[i], set_dir);
			return;
		}
		setenv(keys[i], value, 1);
	}
	setenv("DBS_TEST_PG_HOST", "127.0.0.1", 1);
	setenv("DBS_TEST_PG_USER", "postgres", 1);
	setenv("DBS_TEST_MYSQL_HOST", "127.0.0.1", 1);
	setenv("DBS_TEST_MYSQL_USER", "root", 1);
}

static void check_setup(void)
{
	ck_assert_msg(setup_error[0] == '\0', "%s", setup_error);
}

static void restart(const char *what)
{
	int64_t t0 = itest_now_ms();
	int rc = itest_harness("restart", set_dir, what, NULL, NULL);

	ck_assert_msg(rc == 0, "restarting %s failed (%d)", what, rc);
	fprintf(stderr, "txn faults: restarted %s in %lld ms\n", what,
	        (long long)(itest_now_ms() - t0));
}

static void log_line(dbs_log_level level, const char *line, void *user_data)
{
	(void)user_data;
	if (strstr(line, "resumed from the checkpoint"))
		__atomic_add_fetch(&resumed_lines, 1, __ATOMIC_SEQ_CST);
	if (level <= DBS_LOG_WARN || strstr(line, "resumed from the checkpoint"))
		fprintf(stderr, "stream: %s\n", line);
}

static dbs_stream *stream_start_id(const char *config, const char *id)
{
	return itest_stream_start_logged(config, id, log_line, DBS_LOG_INFO);
}


/* Rows of the target table a reader sees now (-1: no table yet). */
typedef int64_t (*target_count_fn)(const char *db, const char *schema);

static int64_t pg_target_count(const char *db, const char *schema)
{
	char sql[256], *v;
	PGconn *c = itest_pg_connect(db);
	int64_t n = -1;

	snprintf(sql, sizeof sql, "SELECT to_regclass('\"%s\".t') IS NOT NULL", schema);
	v = itest_pg_value(c, sql);
	if (v && strcmp(v, "t") == 0) {
		free(v);
		snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\".t", schema);
		v = itest_pg_value(c, sql);
		n = v ? atoll(v) : -1;
	}
	free(v);
	PQfinish(c);
	return n;
}

static int64_t my_target_count(const char *db, const char *schema)
{
	char sql[256], *v;
	MYSQL *c = itest_my_connect(db);
	int64_t n = -1;

	(void)schema;
	snprintf(sql, sizeof sql,
	         "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s' "
	         "AND TABLE_NAME = 't'",
	         db);
	v = itest_my_value(c, sql);
	if (v && strcmp(v, "0") != 0) {
		free(v);
		v = itest_my_value(c, "SELECT COUNT(*) FROM t");
		n = v ? atoll(v) : -1;
	}
	free(v);
	mysql_close(c);
	return n;
}

/*
 * The stream runs; `big` has just committed the large transaction. Wait
 * until the target is inside it (its counter past the small rows by a few
 * batches), check a reader of the target sees none of it, restart the
 * target database (`what`), and wait until the stream caught up by itself
 * with verify finding zero differences.
 */
static void restart_inside_transaction(dbs_stream *s, const char *config, const char *what,
                                       target_count_fn count, const char *dst_db,
                                       const char *schema, uint64_t events)
{
	char buf[2048];
	dbs_stat st;
	int64_t deadline = itest_now_ms() + 120 * 1000;
	uint64_t diffs = UINT64_MAX;

	for (;;) {
		itest_stat(s, &st);
		itest_stat_format(buf, sizeof buf, &st);
		ck_assert_msg(st.target.status == DBS_STATUS_RUNNING,
		              "the target ended before the transaction: %s", buf);
		if (st.target.counter >= SMALL_ROWS + 500)
			break;
		ck_assert_msg(itest_now_ms() < deadline, "the target never began the transaction: %s",
		              buf);
		usleep(20 * 1000);
	}
	int64_t seen = count(dst_db, schema);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	/* The check below means something only inside the transaction. */
	ck_assert_msg(st.target.counter < events,
	              "the target applied the whole transaction before it could be restarted "
	              "inside it: %s",
	              buf);
	ck_assert_msg(seen == SMALL_ROWS,
	              "a reader of the target saw %lld rows while the transaction was applied "
	              "(%llu events in): only the %d committed before it may be visible",
	              (long long)seen, (unsigned long long)st.target.counter, SMALL_ROWS);
	fprintf(stderr, "txn faults: %s target at %llu of %llu events, readers see %lld rows\n",
	        what, (unsigned long long)st.target.counter, (unsigned long long)events,
	        (long long)seen);

	restart(what);

	itest_wait_target_counter(s, events, 240);
	deadline = itest_now_ms() + 120 * 1000;
	for (;;) {
		itest_stat(s, &st);
		itest_stat_format(buf, sizeof buf, &st);
		ck_assert_msg(st.source.status == DBS_STATUS_RUNNING &&
		                  st.target.status == DBS_STATUS_RUNNING,
		              "the stream must stay RUNNING through the restart: %s", buf);
		diffs = itest_verify_differences(config);
		if (diffs == 0 || itest_now_ms() > deadline)
			break;
		usleep(500 * 1000);
	}
	ck_assert_msg(diffs == 0, "verify still finds %llu differences: %s",
	              (unsigned long long)diffs, buf);
	ck_assert_msg(__atomic_load_n(&resumed_lines, __ATOMIC_SEQ_CST) >= 1,
	              "the stream did not resume from the checkpoint after the restart: %s", buf);
	ck_assert_int_eq(count(dst_db, schema), SMALL_ROWS + BIG_ROWS - BIG_DELETES);
	/* The outage shows in the stat as a reconnect of the target, over. */
	itest_stat(s, &st);
	ck_assert_msg(st.target_conn.reconnects >= 1 && !st.target_conn.reconnecting,
	              "the stat must show the target's reconnect (%llu, reconnecting %d, %s)",
	              (unsigned long long)st.target_conn.reconnects, st.target_conn.reconnecting,
	              st.target_conn.last_error);
	fprintf(stderr, "txn faults: caught up: %s\n", buf);
}

START_TEST(mysql_to_pg_target_restarted_inside_transaction)
{
	char src_db[64], dst_db[64], src[256], dst[512], config[2048], sql[256];
	uint64_t events = 0;
	MYSQL *c;
	dbs_stream *s;

	check_setup();
	__atomic_store_n(&resumed_lines, 0, __ATOMIC_SEQ_CST);
	itest_name(src_db, sizeof src_db, "tfm_src");
	itest_name(dst_db, sizeof dst_db, "tfm_dst");
	itest_my_create_db(src_db);
	itest_pg_create_db(dst_db);
	c = itest_my_connect(src_db);
	itest_my_exec(c, "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(200), n int)");
	itest_my_dsn(src, sizeof src, src_db);
	itest_pg_uri(dst, sizeof dst, dst_db, NULL, NULL, 0);
	snprintf(config, sizeof config,
	         "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	         "\"filter\": {\"tables\": [{\"name\": \"%s.t\"}]}}, "
	         "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	         src, src_db, dst);

	s = stream_start_id(config, ID_MY_PG);
	events += itest_my_exec_count(c, "INSERT INTO t SELECT seq, CONCAT('small ', seq), seq "
	                                 "FROM seq_1_to_10");
	itest_wait_target_counter(s, events, 60);
	itest_my_exec(c, "START TRANSACTION");
	snprintf(sql, sizeof sql,
	         "INSERT INTO t SELECT seq, CONCAT('big ', seq), seq FROM seq_%d_to_%d",
	         SMALL_ROWS + 1, SMALL_ROWS + BIG_ROWS);
	events += itest_my_exec_count(c, sql);
	snprintf(sql, sizeof sql, "UPDATE t SET n = -n WHERE id BETWEEN %d AND %d", SMALL_ROWS + 1,
	         SMALL_ROWS + BIG_UPDATES);
	events += itest_my_exec_count(c, sql);
	snprintf(sql, sizeof sql, "DELETE FROM t WHERE id > %d", SMALL_ROWS + BIG_ROWS - BIG_DELETES);
	events += itest_my_exec_count(c, sql);
	itest_my_exec(c, "COMMIT");
	ck_assert_uint_eq(events, SMALL_ROWS + BIG_ROWS + BIG_UPDATES + BIG_DELETES);

	restart_inside_transaction(s, config, "pg", pg_target_count, dst_db, src_db, events);

	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	mysql_close(c);
	itest_my_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}
END_TEST

START_TEST(pg_to_mysql_target_restarted_inside_transaction)
{
	char src_db[64], dst_db[64], slot[64], pub[64], src[512], dst[256], config[2048], sql[256];
	uint64_t events = 0;
	PGconn *c;
	dbs_stream *s;

	check_setup();
	__atomic_store_n(&resumed_lines, 0, __ATOMIC_SEQ_CST);
	itest_name(src_db, sizeof src_db, "tfp_src");
	itest_name(dst_db, sizeof dst_db, "tfp_dst");
	itest_name(slot, sizeof slot, "tfp_slot");
	itest_name(pub, sizeof pub, "tfp_pub");
	itest_pg_create_db(src_db);
	itest_my_create_db(dst_db);
	c = itest_pg_connect(src_db);
	itest_pg_exec(c, "CREATE TABLE t (id bigint PRIMARY KEY, v text, n int)");
	itest_pg_uri(src, sizeof src, src_db, NULL, NULL, 0);
	itest_my_dsn(dst, sizeof dst, dst_db);
	snprintf(config, sizeof config,
	         "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	         "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	         "\"filter\": {\"tables\": [{\"name\": \"t\"}]}}, "
	         "\"target\": {\"type\": \"mysql\", \"connection\": \"%s\"}}",
	         src, slot, pub, dst);

	s = stream_start_id(config, ID_PG_MY);
	events += itest_pg_exec_count(c, "INSERT INTO t SELECT g, 'small ' || g, g "
	                                 "FROM generate_series(1, 10) g");
	itest_wait_target_counter(s, events, 60);
	itest_pg_exec(c, "BEGIN");
	snprintf(sql, sizeof sql,
	         "INSERT INTO t SELECT g, 'big ' || g, g FROM generate_series(%d, %d) g",
	         SMALL_ROWS + 1, SMALL_ROWS + BIG_ROWS);
	events += itest_pg_exec_count(c, sql);
	snprintf(sql, sizeof sql, "UPDATE t SET n = -n WHERE id BETWEEN %d AND %d", SMALL_ROWS + 1,
	         SMALL_ROWS + BIG_UPDATES);
	events += itest_pg_exec_count(c, sql);
	snprintf(sql, sizeof sql, "DELETE FROM t WHERE id > %d", SMALL_ROWS + BIG_ROWS - BIG_DELETES);
	events += itest_pg_exec_count(c, sql);
	itest_pg_exec(c, "COMMIT");
	ck_assert_uint_eq(events, SMALL_ROWS + BIG_ROWS + BIG_UPDATES + BIG_DELETES);

	restart_inside_transaction(s, config, "mysql", my_target_count, dst_db, NULL, events);

	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	PQfinish(c);
	itest_pg_drop_slot(slot);
	itest_pg_drop_publication(src_db, pub);
	itest_pg_drop_db(src_db);
	itest_my_drop_db(dst_db);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_txn_faults");
	TCase *tc = tcase_create("txn_faults");
	SRunner *sr;
	int failed;

	start_set();
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, mysql_to_pg_target_restarted_inside_transaction);
	tcase_add_test(tc, pg_to_mysql_target_restarted_inside_transaction);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (set_dir[0])
		itest_harness("stop", set_dir, NULL, NULL, NULL);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
