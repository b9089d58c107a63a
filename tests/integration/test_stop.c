/*
 * Stopping and freeing, PostgreSQL → PostgreSQL: a stop while changes are
 * in flight applies what was captured and nothing else; freeing a running
 * stream stops it; two streams run side by side from one database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static char src_db[64], dst_a[64], dst_b[64], slot_a[64], slot_b[64], pub_a[64], pub_b[64];

static void setup(void)
{
	itest_name(src_db, sizeof src_db, "st_src");
	itest_name(dst_a, sizeof dst_a, "st_dst_a");
	itest_name(dst_b, sizeof dst_b, "st_dst_b");
	itest_name(slot_a, sizeof slot_a, "st_slot_a");
	itest_name(slot_b, sizeof slot_b, "st_slot_b");
	itest_name(pub_a, sizeof pub_a, "st_pub_a");
	itest_name(pub_b, sizeof pub_b, "st_pub_b");
}

/* Runs in the parent (unchecked fixture), even after a failed test. */
static void teardown(void)
{
	itest_pg_drop_slot(slot_a);
	itest_pg_drop_slot(slot_b);
	itest_pg_drop_publication(src_db, pub_a);
	itest_pg_drop_publication(src_db, pub_b);
	itest_pg_drop_db(src_db);
	itest_pg_drop_db(dst_a);
	itest_pg_drop_db(dst_b);
}

static PGconn *prepare(void)
{
	PGconn *src;

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_a);
	itest_pg_create_db(dst_b);
	src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE items (id int PRIMARY KEY, name text, "
	                   "price numeric(10,2))");
	return src;
}

static dbs_stream *start(const char *dst_db, const char *slot, const char *pub)
{
	char src_uri[512], dst_uri[512], config[4096];
	int n;

	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	n = snprintf(config, sizeof config,
	             "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	             "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	             "\"filter\": {\"tables\": [{\"name\": \"items\"}]}}, "
	             "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	             src_uri, slot, pub, dst_uri);
	ck_assert(n > 0 && (size_t)n < sizeof config);
	return itest_stream_start(config);
}

static void insert_items(PGconn *src, int from, int to)
{
	char sql[256];

	snprintf(sql, sizeof sql,
	         "INSERT INTO items SELECT g, 'item ' || g, g * 0.5 FROM generate_series(%d, %d) g",
	         from, to);
	itest_pg_exec(src, sql);
}

START_TEST(stop_while_in_flight)
{
	char buf[2048];
	PGconn *src, *dst;
	dbs_stream *s;
	dbs_stat st;
	uint64_t n;
	int k;

	src = prepare();
	s = start(dst_a, slot_a, pub_a);
	for (k = 0; k < 20; k++)
		insert_items(src, k * 1000 + 1, k * 1000 + 1000);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_STOPPED &&
	                      st.target.status == DBS_STATUS_STOPPED,
	              "after stop both nodes must be STOPPED: %s", buf);
	ck_assert_msg(st.target.counter == st.source.counter && st.source.counter <= 20000,
	              "stop applies every captured event and no other: %s", buf);
	dbs_stream_free(s);

	/* What was applied is a prefix of the source's commit order. */
	n = st.target.counter;
	dst = itest_pg_connect(dst_a);
	if (n > 0) {
		char where[64];

		snprintf(where, sizeof where, "items WHERE id <= %llu", (unsigned long long)n);
		ck_assert_uint_eq(itest_pg_count(dst, "items"), n);
		ck_assert_uint_eq(itest_pg_count(dst, where), n);
	}
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

START_TEST(free_running_stream)
{
	PGconn *src;
	dbs_stream *s;

	src = prepare();
	s = start(dst_a, slot_a, pub_a);
	insert_items(src, 1, 100);
	itest_wait_target_counter(s, 100, 60);
	/* No stop: free must stop the stream and release everything. */
	dbs_stream_free(s);
	PQfinish(src);
}
END_TEST

START_TEST(two_streams_one_source)
{
	PGconn *src, *dst;
	dbs_stream *a, *b;
	dbs_stat st;
	char buf[2048];

	src = prepare();
	a = start(dst_a, slot_a, pub_a);
	b = start(dst_b, slot_b, pub_b);
	ck_assert_str_ne(dbs_stream_id(a), dbs_stream_id(b));
	insert_items(src, 1, 1000);
	itest_pg_exec(src, "UPDATE items SET price = price + 1 WHERE id % 10 = 0");
	itest_pg_exec(src, "DELETE FROM items WHERE id % 100 = 1");
	itest_wait_target_counter(a, 1110, 60);
	itest_wait_target_counter(b, 1110, 60);
	ck_assert_int_eq(dbs_stream_stop(a), 0);
	ck_assert_int_eq(dbs_stream_stop(b), 0);
	itest_stat(a, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.counter == 1110 && st.target.counter == 1110, "stream a: %s", buf);
	itest_stat(b, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.counter == 1110 && st.target.counter == 1110, "stream b: %s", buf);
	dbs_stream_free(a);
	dbs_stream_free(b);

	dst = itest_pg_connect(dst_a);
	itest_pg_compare_table(src, dst, "items", "id");
	PQfinish(dst);
	dst = itest_pg_connect(dst_b);
	itest_pg_compare_table(src, dst, "items", "id");
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_stop");
	TCase *tc = tcase_create("stop");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, stop_while_in_flight);
	tcase_add_test(tc, free_running_stream);
	tcase_add_test(tc, two_streams_one_source);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
