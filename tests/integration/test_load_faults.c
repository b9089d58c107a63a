/*
 * A copy that loses a database connection goes on from its committed
 * chunks: the target's PostgreSQL restarted while a MariaDB table is
 * copied into it, and the source's PostgreSQL restarted while its table
 * is copied into MariaDB. The stream stays RUNNING, counts the reconnect,
 * ends FINISHED, and verify finds no difference. Starts a server set of
 * its own with the harness, so the restarts disturb no other suite.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define ROWS 200000

static char dir[512], setup_error[1024];
static char my_db[64], pg_db[64];

static void start_set(void)
{
	const char *tmp = getenv("TMPDIR");
	char port[16], sock[256], uri[256];
	snprintf(dir, sizeof dir, "%s/dbs-lfaults-%ld", tmp ? tmp : "/tmp", (long)getpid());
	if (itest_harness("start", dir, "pg", "mysql", NULL) != 0) {
		snprintf(setup_error, sizeof setup_error, "could not start servers in %.400s", dir);
		return;
	}
	if (itest_harness_env(dir, "DBS_TEST_PG_PORT", port, sizeof port)) {
		setenv("DBS_TEST_PG_PORT", port, 1);
		snprintf(uri, sizeof uri, "postgresql://postgres@127.0.0.1:%s/postgres", port);
		setenv("DBS_TEST_PG_URI", uri, 1);
	}
	if (itest_harness_env(dir, "DBS_TEST_MYSQL_PORT", port, sizeof port))
		setenv("DBS_TEST_MYSQL_PORT", port, 1);
	if (itest_harness_env(dir, "DBS_TEST_MYSQL_SOCKET", sock, sizeof sock))
		setenv("DBS_TEST_MYSQL_SOCKET", sock, 1);
	setenv("DBS_TEST_PG_HOST", "127.0.0.1", 1);
	setenv("DBS_TEST_PG_USER", "postgres", 1);
	setenv("DBS_TEST_MYSQL_HOST", "127.0.0.1", 1);
	setenv("DBS_TEST_MYSQL_USER", "root", 1);
	itest_name(my_db, sizeof my_db, "lf_my");
	itest_name(pg_db, sizeof pg_db, "lf_pg");
}

static void stop_set(void)
{
	if (dir[0])
		itest_harness("stop", dir, NULL, NULL, NULL);
}

static void log_line(dbs_log_level level, const char *message, void *data)
{
	(void)data;
	if (level <= DBS_LOG_WARN)
		fprintf(stderr, "# %s\n", message);
}

/* Run the convert `config`, restarting `which` ("pg" or "mysql") once
 * `chunks` chunks are committed; returns the final stat. */
static void run_with_restart(const char *config, const char *which, uint64_t chunks,
                             dbs_stat *st)
{
	char buf[2048];
	dbs_stream *s = itest_stream_start_logged(config, NULL, log_line, DBS_LOG_INFO);
	int64_t until = itest_now_ms() + 120000;
	for (;;) {
		itest_stat(s, st);
		if (st->load.chunks_done >= chunks || dbs_status_is_terminal(st->target.status))
			break;
		ck_assert_msg(itest_now_ms() < until, "no chunk committed in 120 s");
		usleep(20000);
	}
	itest_stat_format(buf, sizeof buf, st);
	ck_assert_msg(st->target.status == DBS_STATUS_RUNNING && st->load.chunks_done < st->load.chunks,
	              "the copy must still run when the server restarts: %s", buf);
	ck_assert_int_eq(itest_harness("restart", dir, which, NULL, NULL), 0);
	ck_assert_msg(dbs_stream_wait(s, 300000) == 0, "the convert did not end");
	itest_stat(s, st);
	dbs_stream_free(s);
}

static void expect_done(const dbs_stat *st, const char *config)
{
	char buf[2048];
	itest_stat_format(buf, sizeof buf, st);
	ck_assert_msg(st->source.status == DBS_STATUS_FINISHED &&
	                  st->target.status == DBS_STATUS_FINISHED && st->load.rows == ROWS,
	              "expected FINISHED with %d rows: %s", ROWS, buf);
	ck_assert_uint_eq(itest_verify_differences(config), 0);
}

START_TEST(target_restarted)
{
	char src[256], dst[256], config[2048];
	dbs_stat st;
	ck_assert_msg(!setup_error[0], "%s", setup_error);
	itest_my_create_db(my_db);
	MYSQL *m = itest_my_connect(my_db);
	itest_my_exec(m, "CREATE TABLE items (id BIGINT PRIMARY KEY, v VARCHAR(40), n DOUBLE)");
	itest_my_exec(m, "INSERT INTO items SELECT seq, CONCAT('item ', seq), seq / 7 FROM "
	                 "seq_1_to_200000");
	mysql_close(m);
	itest_pg_create_db(pg_db);
	itest_my_dsn(src, sizeof src, my_db);
	itest_pg_uri(dst, sizeof dst, pg_db, NULL, NULL, 0);
	snprintf(config, sizeof config,
	         "{\"source\": {\"type\": \"mysql\", \"mode\": \"convert\", \"connection\": \"%s\"}, "
	         "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	         "\"load\": {\"chunkRows\": 10000, \"workers\": 2}}",
	         src, dst);
	run_with_restart(config, "pg", 2, &st);
	expect_done(&st, config);
	ck_assert_msg(st.target_conn.reconnects > 0, "the target's reconnect is not counted");
}
END_TEST

START_TEST(source_restarted)
{
	char src[256], dst[256], config[2048];
	dbs_stat st;
	ck_assert_msg(!setup_error[0], "%s", setup_error);
	itest_pg_drop_db(pg_db);
	itest_pg_create_db(pg_db);
	PGconn *p = itest_pg_connect(pg_db);
	itest_pg_exec(p, "CREATE TABLE items (id bigint PRIMARY KEY, v varchar(40), n double "
	                 "precision)");
	itest_pg_exec(p, "INSERT INTO items SELECT g, 'item ' || g, g / 7.0 FROM "
	                 "generate_series(1, 200000) g");
	PQfinish(p);
	itest_my_drop_db(my_db);
	itest_pg_uri(src, sizeof src, pg_db, NULL, NULL, 0);
	itest_my_dsn(dst, sizeof dst, my_db);
	snprintf(config, sizeof config,
	         "{\"source\": {\"type\": \"postgresql\", \"mode\": \"convert\", \"connection\": "
	         "\"%s\"}, \"target\": {\"type\": \"mysql\", \"connection\": \"%s\"}, "
	         "\"load\": {\"chunkRows\": 10000, \"workers\": 2}}",
	         src, dst);
	run_with_restart(config, "pg", 2, &st);
	expect_done(&st, config);
	ck_assert_msg(st.source_conn.reconnects > 0, "the source's reconnect is not counted");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("load_faults");
	TCase *tc = tcase_create("restarts");
	tcase_add_unchecked_fixture(tc, start_set, stop_set);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, target_restarted);
	tcase_add_test(tc, source_restarted);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
