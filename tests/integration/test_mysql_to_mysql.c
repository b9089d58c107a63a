/*
 * MySQL/MariaDB → MySQL/MariaDB through the public API: 50,000 inserts,
 * 10,000 updates and 5,000 deletes over three tables of the common MySQL
 * types in multi-row transactions, then one INSERT … SELECT of 100,000
 * rows in one transaction, into another database of the same server (so
 * the source must not capture what its own target writes). Both sides are
 * read back in a canonical text per column and compared value for value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static char src_db[64], dst_db[64];

static const char *const tables[] = {"t1", "t2", "t3"};

static void setup(void)
{
	itest_name(src_db, sizeof src_db, "m2m_src");
	itest_name(dst_db, sizeof dst_db, "m2m_dst");
}

static void teardown(void)
{
	itest_my_drop_db(src_db);
	itest_my_drop_db(dst_db);
}

START_TEST(mysql_to_mysql_all_types)
{
	char src_dsn[512], dst_dsn[512], config[4096], sql[2048], buf[2048];
	MYSQL *src, *dst;
	PGconn *pg;
	dbs_stream *s;
	dbs_stat st;
	uint64_t events = 0;
	size_t i;
	int n;

	itest_my_create_db(src_db);
	itest_my_create_db(dst_db);
	src = itest_my_connect(src_db);
	itest_my_workload_tables(src);
	/* A checkpoint table as versions without GTIDs made it: the target
	 * adds the column. */
	dst = itest_my_connect(dst_db);
	itest_my_exec(dst, "CREATE TABLE dbstreams_checkpoint (stream_id varchar(64) NOT NULL "
	                   "PRIMARY KEY, txn bigint unsigned NOT NULL, resume bigint unsigned NOT "
	                   "NULL, event bigint NOT NULL, txn_end bigint NOT NULL, hub_seq bigint "
	                   "unsigned NOT NULL, position varchar(255) NOT NULL, updated_at "
	                   "datetime(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
	mysql_close(dst);

	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_my_dsn(dst_dsn, sizeof dst_dsn, dst_db);
	/* Tables named with their database: other suites write tables of the
	 * same names into other databases of the same server. */
	n = snprintf(config, sizeof config,
	             "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	             "\"filter\": {\"tables\": ["
	             "{\"name\": \"%s.t1\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"%s.t2\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"%s.t3\"}]}}, "
	             "\"target\": {\"type\": \"mysql\", \"connection\": \"%s\"}, "
	             "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	             src_dsn, src_db, src_db, src_db, dst_dsn);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	s = itest_stream_start(config);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_READY && st.target.status == DBS_STATUS_READY,
	              "after create both nodes must be READY: %s", buf);

	itest_my_workload_run(src, &events);
	ck_assert_uint_eq(events, 165260);
	/* The GTID of the workload's last transaction, its INSERT ... SELECT. */
	char *last_gtid = itest_my_value(src, "SELECT @@last_gtid");
	ck_assert_ptr_nonnull(last_gtid);

	itest_wait_target_counter(s, events, 240);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.counter == events && st.target.counter == events,
	              "expected %llu events on both nodes: %s", (unsigned long long)events, buf);
	ck_assert_msg(st.source.status == DBS_STATUS_STOPPED &&
	                      st.target.status == DBS_STATUS_STOPPED,
	              "after stop both nodes must be STOPPED: %s", buf);
	dbs_stream_free(s);

	dst = itest_my_connect(dst_db);
	pg = itest_pg_connect("postgres"); /* compares JSON documents */
	for (i = 0; i < 3; i++) {
		itest_rows *a, *b;

		itest_my_workload_sql_my(sql, sizeof sql, tables[i]);
		a = itest_my_rows(src, sql);
		b = itest_my_rows(dst, sql);
		itest_rows_compare(a, b, itest_my_workload_modes, pg, tables[i]);
		itest_rows_free(a);
		itest_rows_free(b);
	}
	/* The old key of the changed primary key is gone. */
	ck_assert_uint_eq(itest_my_count(dst, "t2 WHERE id BETWEEN 49001 AND 49010"), 0);
	ck_assert_uint_eq(itest_my_count(dst, "t2 WHERE id BETWEEN 1049001 AND 1049010"), 10);
	ck_assert_uint_eq(itest_my_count(dst, "t1 WHERE id BETWEEN 200001 AND 300000"), 100000);
	/* Nothing the target wrote came back through the source. */
	ck_assert_uint_eq(itest_my_count(src, "t1"), itest_my_count(dst, "t1"));
	/* The checkpoint, in the table made without a gtid column, holds the
	 * GTID of the last transaction applied. */
	char *ck_gtid = itest_my_value(dst, "SELECT gtid FROM dbstreams_checkpoint");
	ck_assert_msg(ck_gtid && strcmp(ck_gtid, last_gtid) == 0,
	              "the checkpoint's gtid is %s, the last transaction's %s",
	              ck_gtid ? ck_gtid : "NULL", last_gtid);
	free(ck_gtid);
	free(last_gtid);

	PQfinish(pg);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_mysql_to_mysql");
	TCase *tc = tcase_create("mysql_to_mysql");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 290);
	tcase_add_test(tc, mysql_to_mysql_all_types);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
