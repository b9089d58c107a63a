/*
 * A MySQL/MariaDB source refuses a server it cannot replicate from
 * correctly, and says which setting to change: binlog_format=STATEMENT,
 * binlog_row_image=MINIMAL, a user without the replication grants. The
 * stream is still created; its source reports INIT FAILED with a message
 * naming the setting or the GRANT.
 *
 * The harness's shared MariaDB must stay as other suites expect it, so this
 * suite starts a MariaDB of its own with tests/harness/servers
 * (DBS_HARNESS_MYSQL_EXTRA="--binlog-format=STATEMENT") and stops it at the
 * end. The target is a database on the harness's PostgreSQL.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

/* Written by the parent's unchecked fixture, read by the forked tests. */
static char setup_error[1024];
static char servers_dir[512];
static int my_port;
static char src_db[64], dst_db[64], user[64], monitor_user[64];
static const char password[] = "settings-Pw-9f3a";

static void setup(void)
{
	const char *harness = getenv("DBS_HARNESS_SERVERS");
	const char *tmp = getenv("DBS_TEST_TMPDIR");
	int n;

	itest_name(src_db, sizeof src_db, "set_src");
	itest_name(dst_db, sizeof dst_db, "set_dst");
	itest_name(user, sizeof user, "noprivs");
	itest_name(monitor_user, sizeof monitor_user, "monitor");
	if (!harness || !harness[0] || !tmp || !tmp[0] || !getenv("DBS_TEST_PG_URI")) {
		snprintf(setup_error, sizeof setup_error,
		         "DBS_HARNESS_SERVERS, DBS_TEST_TMPDIR or DBS_TEST_PG_URI is not set: run "
		         "the integration suite through scripts/test (meson sets "
		         "DBS_HARNESS_SERVERS)");
		return;
	}
	n = snprintf(servers_dir, sizeof servers_dir, "%s/mysql_settings_%ld", tmp, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof servers_dir) {
		snprintf(setup_error, sizeof setup_error, "DBS_TEST_TMPDIR is too long");
		return;
	}
	if (itest_harness("start", servers_dir, "mysql", NULL, "--binlog-format=STATEMENT") != 0) {
		snprintf(setup_error, sizeof setup_error,
		         "%s start %s mysql (binlog_format=STATEMENT) failed: see its output above",
		         harness, servers_dir);
		servers_dir[0] = '\0';
		return;
	}
	char port[16] = "";
	my_port = itest_harness_env(servers_dir, "DBS_TEST_MYSQL_PORT", port, sizeof port)
	              ? atoi(port)
	              : 0;
	if (my_port <= 0)
		snprintf(setup_error, sizeof setup_error, "no DBS_TEST_MYSQL_PORT in %s/env",
		         servers_dir);
}

/* Runs in the parent (unchecked fixture), even after a failed test. */
static void teardown(void)
{
	const char *harness = getenv("DBS_HARNESS_SERVERS");

	itest_pg_drop_db(dst_db);
	if (servers_dir[0] && harness)
		itest_harness("stop", servers_dir, NULL, NULL, NULL);
}

/* Root on this suite's own MariaDB, in `db` (NULL: none). */
static MYSQL *own_connect(const char *db)
{
	MYSQL *m;
	unsigned proto = MYSQL_PROTOCOL_TCP;

	ck_assert_msg(setup_error[0] == '\0', "%s", setup_error);
	m = mysql_init(NULL);
	ck_assert_ptr_nonnull(m);
	mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!mysql_real_connect(m, "127.0.0.1", "root", "", db, (unsigned)my_port, NULL, 0))
		ck_abort_msg("connecting to this suite's MariaDB on port %d: %s", my_port,
		             mysql_error(m));
	return m;
}

/* The source database with one table, the target database, and a user
 * that may read the table but lacks the replication grants. */
static void prepare(const char *format, const char *image)
{
	MYSQL *m = own_connect(NULL);
	char sql[512];

	snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS %s", src_db);
	itest_my_exec(m, sql);
	snprintf(sql, sizeof sql,
	         "CREATE TABLE IF NOT EXISTS %s.products (id int PRIMARY KEY, name varchar(64))",
	         src_db);
	itest_my_exec(m, sql);
	snprintf(sql, sizeof sql, "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'", user,
	         password);
	itest_my_exec(m, sql);
	snprintf(sql, sizeof sql, "GRANT SELECT ON %s.* TO '%s'@'%%'", src_db, user);
	itest_my_exec(m, sql);
	/* May read the binlog position, not the binlog itself. */
	snprintf(sql, sizeof sql, "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'",
	         monitor_user, password);
	itest_my_exec(m, sql);
	snprintf(sql, sizeof sql, "GRANT SELECT ON %s.* TO '%s'@'%%'", src_db, monitor_user);
	itest_my_exec(m, sql);
	snprintf(sql, sizeof sql, "GRANT REPLICATION CLIENT ON *.* TO '%s'@'%%'", monitor_user);
	itest_my_exec(m, sql);
	/* Each test sets what it needs, so their order does not matter; new
	 * sessions (the stream's) see the global values. */
	snprintf(sql, sizeof sql, "SET GLOBAL binlog_format = '%s'", format);
	itest_my_exec(m, sql);
	snprintf(sql, sizeof sql, "SET GLOBAL binlog_row_image = '%s'", image);
	itest_my_exec(m, sql);
	mysql_close(m);
	itest_pg_drop_db(dst_db);
	itest_pg_create_db(dst_db);
}

/*
 * A stream from this suite's MariaDB as `who` (NULL: root) must leave its
 * source INIT FAILED with every fragment in the message, and never show
 * the password.
 */
static void expect_source_init_failed(const char *who, const char *const *fragments)
{
	char config[2048], dst[512], buf[2048];
	dbs_stream *s;
	dbs_stat st;
	int n;

	itest_pg_uri(dst, sizeof dst, dst_db, NULL, NULL, 0);
	n = snprintf(config, sizeof config,
	             "{\"source\": {\"type\": \"mysql\", "
	             "\"connection\": \"%s:%s@tcp(127.0.0.1:%d)/%s\", "
	             "\"filter\": {\"tables\": [{\"name\": \"products\", "
	             "\"operations\": [\"insert\", \"update\", \"delete\"]}]}}, "
	             "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	             "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	             who ? who : "root", who ? password : "", my_port, src_db, dst);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	s = itest_stream_start(config);
	itest_wait_node_status(s, 0, DBS_STATUS_INIT_FAILED, 30, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_INIT_FAILED, "source must be INIT FAILED: %s",
	              buf);
	for (; *fragments; fragments++)
		ck_assert_msg(strstr(st.source.message, *fragments) != NULL,
		              "the source's message must name \"%s\": %s", *fragments, buf);
	ck_assert_msg(strstr(buf, password) == NULL, "the password shows in the stat: %s", buf);
	ck_assert_str_eq(dbs_status_name(st.source.status), "INIT FAILED");

	ck_assert_int_eq(dbs_stream_stop(s), 0);
	ck_assert_int_eq(dbs_stream_wait(s, 10000), 0);
	itest_stat(s, &st);
	ck_assert_int_eq(st.source.status, DBS_STATUS_INIT_FAILED);
	dbs_stream_free(s);
}

START_TEST(binlog_format_statement)
{
	static const char *const frag[] = {"binlog_format=ROW", "STATEMENT", NULL};
	MYSQL *m;
	char *v;

	prepare("STATEMENT", "FULL");
	/* The server was started that way: the harness's extra options work. */
	m = own_connect(NULL);
	v = itest_my_value(m, "SELECT @@global.binlog_format");
	ck_assert_str_eq(v, "STATEMENT");
	free(v);
	mysql_close(m);
	expect_source_init_failed(NULL, frag);
}
END_TEST

START_TEST(binlog_format_mixed)
{
	static const char *const frag[] = {"binlog_format=ROW", "MIXED", NULL};

	prepare("MIXED", "FULL");
	expect_source_init_failed(NULL, frag);
}
END_TEST

START_TEST(binlog_row_image_minimal)
{
	static const char *const frag[] = {"binlog_row_image=FULL", "MINIMAL", NULL};

	prepare("ROW", "MINIMAL");
	expect_source_init_failed(NULL, frag);
}
END_TEST

START_TEST(binlog_row_image_noblob)
{
	static const char *const frag[] = {"binlog_row_image=FULL", "NOBLOB", NULL};

	prepare("ROW", "NOBLOB");
	expect_source_init_failed(NULL, frag);
}
END_TEST

START_TEST(user_without_replication_grants)
{
	static const char *const frag[] = {"GRANT REPLICATION SLAVE", NULL};

	prepare("ROW", "FULL");
	expect_source_init_failed(user, frag);
}
END_TEST

START_TEST(user_without_replication_slave)
{
	static const char *const frag[] = {"GRANT REPLICATION SLAVE", NULL};

	prepare("ROW", "FULL");
	expect_source_init_failed(monitor_user, frag);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_mysql_settings");
	TCase *tc = tcase_create("mysql_settings");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, binlog_format_statement);
	tcase_add_test(tc, binlog_format_mixed);
	tcase_add_test(tc, binlog_row_image_minimal);
	tcase_add_test(tc, binlog_row_image_noblob);
	tcase_add_test(tc, user_without_replication_grants);
	tcase_add_test(tc, user_without_replication_slave);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
