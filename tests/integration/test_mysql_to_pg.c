/*
 * MySQL/MariaDB → PostgreSQL through the public API: 50,000 inserts,
 * 10,000 updates and 5,000 deletes over three tables of the common MySQL
 * types in multi-row transactions, then one INSERT … SELECT of 100,000
 * rows in one transaction. Both sides are read back in a canonical text
 * per column and compared value for value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static char src_db[64], dst_db[64];

static const char *const tables[] = {"t1", "t2", "t3"};

static void setup(void)
{
	itest_name(src_db, sizeof src_db, "m2p_src");
	itest_name(dst_db, sizeof dst_db, "m2p_dst");
}

static void teardown(void)
{
	itest_my_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

START_TEST(mysql_to_pg_all_types)
{
	char src_dsn[512], dst_uri[512], config[4096], sql[2048], buf[2048];
	MYSQL *src;
	PGconn *dst;
	dbs_stream *s;
	dbs_stat st;
	uint64_t events = 0;
	size_t i;
	int n;

	itest_my_create_db(src_db);
	itest_pg_create_db(dst_db);
	src = itest_my_connect(src_db);
	itest_my_workload_tables(src);
	/* A checkpoint table as versions without GTIDs made it: the target
	 * adds the column. */
	dst = itest_pg_connect(dst_db);
	itest_pg_exec(dst, "CREATE TABLE dbstreams_checkpoint (stream_id text PRIMARY KEY, "
	                   "txn numeric(20,0) NOT NULL, resume numeric(20,0) NOT NULL, event "
	                   "bigint NOT NULL, txn_end bigint NOT NULL, hub_seq numeric(20,0) NOT "
	                   "NULL, position text NOT NULL, updated_at timestamptz NOT NULL DEFAULT "
	                   "now())");
	PQfinish(dst);

	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	/* Tables named with their database: other suites write tables of the
	 * same names into other databases of the same server. */
	n = snprintf(config, sizeof config,
	             "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	             "\"filter\": {\"tables\": ["
	             "{\"name\": \"%s.t1\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"%s.t2\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"%s.t3\"}]}}, "
	             "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	             "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	             src_dsn, src_db, src_db, src_db, dst_uri);
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

	dst = itest_pg_connect(dst_db);
	for (i = 0; i < 3; i++) {
		itest_rows *a, *b;

		itest_my_workload_sql_my(sql, sizeof sql, tables[i]);
		a = itest_my_rows(src, sql);
		itest_my_workload_sql_pg(sql, sizeof sql, src_db, tables[i]);
		b = itest_pg_rows(dst, sql);
		itest_rows_compare(a, b, itest_my_workload_modes, dst, tables[i]);
		itest_rows_free(a);
		itest_rows_free(b);
	}
	/* The old key of the changed primary key is gone. */
	snprintf(sql, sizeof sql, "\"%s\".t2 WHERE id BETWEEN 49001 AND 49010", src_db);
	ck_assert_uint_eq(itest_pg_count(dst, sql), 0);
	snprintf(sql, sizeof sql, "\"%s\".t2 WHERE id BETWEEN 1049001 AND 1049010", src_db);
	ck_assert_uint_eq(itest_pg_count(dst, sql), 10);
	snprintf(sql, sizeof sql, "\"%s\".t1 WHERE id BETWEEN 200001 AND 300000", src_db);
	ck_assert_uint_eq(itest_pg_count(dst, sql), 100000);
	/* The checkpoint, in the table made without a gtid column, holds the
	 * GTID of the last transaction applied. */
	char *ck_gtid = itest_pg_value(dst, "SELECT gtid FROM dbstreams_checkpoint");
	ck_assert_msg(ck_gtid && strcmp(ck_gtid, last_gtid) == 0,
	              "the checkpoint's gtid is %s, the last transaction's %s",
	              ck_gtid ? ck_gtid : "NULL", last_gtid);
	free(ck_gtid);
	free(last_gtid);

	PQfinish(dst);
	mysql_close(src);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_mysql_to_pg");
	TCase *tc = tcase_create("mysql_to_pg");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 290);
	tcase_add_test(tc, mysql_to_pg_all_types);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
