/*
 * A source or target that cannot be opened: the stream is still created,
 * the node reports INIT FAILED with the database's own message, and
 * nothing crashes or leaks (the suite runs under ASan via scripts/test).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

static char src_db[64], dst_db[64], slot[64], pub[64], role[64];

static void setup(void)
{
	itest_name(src_db, sizeof src_db, "if_src");
	itest_name(dst_db, sizeof dst_db, "if_dst");
	itest_name(slot, sizeof slot, "if_slot");
	itest_name(pub, sizeof pub, "if_pub");
	itest_name(role, sizeof role, "if_pw");
}

/* Runs in the parent (unchecked fixture), even after a failed test. */
static void teardown(void)
{
	itest_pg_drop_slot(slot);
	itest_pg_drop_publication(src_db, pub);
	itest_pg_drop_db(src_db);
	itest_pg_drop_db(dst_db);
	itest_pg_drop_role(role);
}

/* A loopback port nothing listens on: bound, then released. */
static int closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Databases, a table to publish, and a role that must give its password
 * (the harness makes members of dbs_password_users use scram-sha-256). */
static void prepare(void)
{
	PGconn *conn;
	char sql[256];

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	conn = itest_pg_connect(src_db);
	itest_pg_exec(conn, "CREATE TABLE items (id int PRIMARY KEY, name text)");
	PQfinish(conn);
	conn = itest_pg_connect("postgres");
	snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s", role);
	itest_pg_exec(conn, sql);
	snprintf(sql, sizeof sql,
	         "CREATE ROLE %s LOGIN SUPERUSER REPLICATION PASSWORD 'right-password' "
	         "IN ROLE dbs_password_users",
	         role);
	itest_pg_exec(conn, sql);
	PQfinish(conn);
}

/*
 * Start a stream from `src_uri` to `dst_uri`, expect the node (source when
 * `target_node` is 0) to report INIT FAILED with `fragment` in its message.
 */
static void expect_init_failed(const char *src_uri, const char *dst_uri, int target_node,
                               const char *fragment)
{
	char config[4096], buf[2048];
	dbs_stream *s;
	dbs_stat st;
	const dbs_node_stat *node;
	int n;

	n = snprintf(config, sizeof config,
	             "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	             "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	             "\"filter\": {\"tables\": [{\"name\": \"items\"}]}}, "
	             "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	             src_uri, slot, pub, dst_uri);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	s = itest_stream_start(config);
	itest_wait_node_status(s, target_node, DBS_STATUS_INIT_FAILED, 30, &st);
	itest_stat_format(buf, sizeof buf, &st);
	node = target_node ? &st.target : &st.source;
	ck_assert_msg(node->status == DBS_STATUS_INIT_FAILED, "%s must be INIT FAILED: %s",
	              target_node ? "target" : "source", buf);
	ck_assert_msg(strstr(node->message, fragment) != NULL,
	              "%s message must carry the database's \"%s\": %s",
	              target_node ? "target" : "source", fragment, buf);
	ck_assert_str_eq(dbs_status_name(node->status), "INIT FAILED");

	/* The stream as a whole ends: stop and wait return promptly. */
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	ck_assert_int_eq(dbs_stream_wait(s, 10000), 0);
	itest_stat(s, &st);
	node = target_node ? &st.target : &st.source;
	ck_assert_int_eq(node->status, DBS_STATUS_INIT_FAILED);
	dbs_stream_free(s);
	/* A failed stream must not hold on to a replication slot. */
	itest_pg_drop_slot(slot);
}

START_TEST(source_connection_refused)
{
	char src[512], dst[512];

	prepare();
	itest_pg_uri(src, sizeof src, src_db, NULL, NULL, closed_port());
	itest_pg_uri(dst, sizeof dst, dst_db, NULL, NULL, 0);
	expect_init_failed(src, dst, 0, "Connection refused");
}
END_TEST

START_TEST(source_wrong_password)
{
	char src[512], dst[512];

	prepare();
	itest_pg_uri(src, sizeof src, src_db, role, "wrong-password", 0);
	itest_pg_uri(dst, sizeof dst, dst_db, NULL, NULL, 0);
	expect_init_failed(src, dst, 0, "password authentication failed");
}
END_TEST

START_TEST(source_missing_database)
{
	char src[512], dst[512];

	prepare();
	itest_pg_uri(src, sizeof src, "dbs_it_no_such_database", NULL, NULL, 0);
	itest_pg_uri(dst, sizeof dst, dst_db, NULL, NULL, 0);
	expect_init_failed(src, dst, 0, "does not exist");
}
END_TEST

START_TEST(target_connection_refused)
{
	char src[512], dst[512];

	prepare();
	itest_pg_uri(src, sizeof src, src_db, NULL, NULL, 0);
	itest_pg_uri(dst, sizeof dst, dst_db, NULL, NULL, closed_port());
	expect_init_failed(src, dst, 1, "Connection refused");
}
END_TEST

START_TEST(target_wrong_password)
{
	char src[512], dst[512];

	prepare();
	itest_pg_uri(src, sizeof src, src_db, NULL, NULL, 0);
	itest_pg_uri(dst, sizeof dst, dst_db, role, "wrong-password", 0);
	expect_init_failed(src, dst, 1, "password authentication failed");
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_init_failures");
	TCase *tc = tcase_create("init_failures");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 55);
	tcase_add_test(tc, source_connection_refused);
	tcase_add_test(tc, source_wrong_password);
	tcase_add_test(tc, source_missing_database);
	tcase_add_test(tc, target_connection_refused);
	tcase_add_test(tc, target_wrong_password);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
