/*
 * limits.numberOfEvents and limits.elapsedTime, PostgreSQL → PostgreSQL:
 * both nodes stop at the limit with the matching status, and the target
 * holds exactly what was counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static char ev_src[64], ev_dst[64], ev_slot[64], ev_pub[64];
static char tm_src[64], tm_dst[64], tm_slot[64], tm_pub[64];

static void setup(void)
{
	itest_name(ev_src, sizeof ev_src, "ev_src");
	itest_name(ev_dst, sizeof ev_dst, "ev_dst");
	itest_name(ev_slot, sizeof ev_slot, "ev_slot");
	itest_name(ev_pub, sizeof ev_pub, "ev_pub");
	itest_name(tm_src, sizeof tm_src, "tm_src");
	itest_name(tm_dst, sizeof tm_dst, "tm_dst");
	itest_name(tm_slot, sizeof tm_slot, "tm_slot");
	itest_name(tm_pub, sizeof tm_pub, "tm_pub");
}

/* Runs in the parent (unchecked fixture), even after a failed test. */
static void teardown(void)
{
	itest_pg_drop_slot(ev_slot);
	itest_pg_drop_slot(tm_slot);
	itest_pg_drop_publication(ev_src, ev_pub);
	itest_pg_drop_publication(tm_src, tm_pub);
	itest_pg_drop_db(ev_src);
	itest_pg_drop_db(ev_dst);
	itest_pg_drop_db(tm_src);
	itest_pg_drop_db(tm_dst);
}

static PGconn *prepare(const char *src_db, const char *dst_db)
{
	PGconn *src;

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE items (id int PRIMARY KEY, name text, "
	                   "price numeric(10,2))");
	return src;
}

static void make_config(char *buf, size_t size, const char *src_db, const char *dst_db,
                        const char *slot, const char *pub, int events, int seconds)
{
	char src_uri[512], dst_uri[512];
	int n;

	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	n = snprintf(buf, size,
	             "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	             "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	             "\"filter\": {\"tables\": [{\"name\": \"items\", "
	             "\"operations\": [\"insert\", \"update\", \"delete\"]}]}}, "
	             "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	             "\"limits\": {\"numberOfEvents\": %d, \"elapsedTime\": %d}}",
	             src_uri, slot, pub, dst_uri, events, seconds);
	ck_assert(n > 0 && (size_t)n < size);
}

START_TEST(event_limit)
{
	char config[4096], buf[2048];
	PGconn *src, *dst;
	dbs_stream *s;
	dbs_stat st;
	int k, rc;

	src = prepare(ev_src, ev_dst);
	make_config(config, sizeof config, ev_src, ev_dst, ev_slot, ev_pub, 1000, 0);
	s = itest_stream_start(config);

	/* 1,500 inserts in transactions of 300: the limit falls inside the
	 * fourth transaction, so the target must stop in the middle of it. */
	for (k = 0; k < 5; k++) {
		char sql[256];

		snprintf(sql, sizeof sql,
		         "INSERT INTO items SELECT g, 'item ' || g, g * 0.25 "
		         "FROM generate_series(%d, %d) g",
		         k * 300 + 1, k * 300 + 300);
		itest_pg_exec(src, sql);
	}

	rc = dbs_stream_wait(s, 60000);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(rc == 0, "stream did not end within 60 s: %s", buf);
	ck_assert_msg(st.source.status == DBS_STATUS_EVENT_LIMIT_REACHED &&
	                      st.target.status == DBS_STATUS_EVENT_LIMIT_REACHED,
	              "both nodes must be EVENT_LIMIT_REACHED: %s", buf);
	ck_assert_msg(st.source.counter == 1000 && st.target.counter == 1000,
	              "both counters must be 1000: %s", buf);

	/* Stopping an ended stream changes nothing. */
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	ck_assert_int_eq(st.source.status, DBS_STATUS_EVENT_LIMIT_REACHED);
	ck_assert_int_eq(st.target.status, DBS_STATUS_EVENT_LIMIT_REACHED);
	dbs_stream_free(s);

	dst = itest_pg_connect(ev_dst);
	ck_assert_uint_eq(itest_pg_count(dst, "items"), 1000);
	ck_assert_uint_eq(itest_pg_count(dst, "items WHERE id <= 1000"), 1000);
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

START_TEST(time_limit)
{
	char config[4096], buf[2048];
	PGconn *src, *dst;
	dbs_stream *s;
	dbs_stat st;
	int64_t t0, t1;
	int rc;

	src = prepare(tm_src, tm_dst);
	make_config(config, sizeof config, tm_src, tm_dst, tm_slot, tm_pub, 0, 2);
	t0 = itest_now_ms();
	s = itest_stream_start(config);
	itest_pg_exec(src, "INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series(1, 10) g");

	/* Only the lower bound is exact; the upper one is generous so a
	 * loaded machine cannot make this fail. */
	rc = dbs_stream_wait(s, 30000);
	t1 = itest_now_ms();
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(rc == 0, "stream did not end within 30 s: %s", buf);
	ck_assert_msg(t1 - t0 >= 1900 && t1 - t0 <= 30000,
	              "elapsedTime 2 ended the stream after %lld ms: %s", (long long)(t1 - t0), buf);
	ck_assert_msg(st.source.status == DBS_STATUS_TIME_LIMIT_REACHED &&
	                      st.target.status == DBS_STATUS_TIME_LIMIT_REACHED,
	              "both nodes must be TIME_LIMIT_REACHED: %s", buf);
	ck_assert_msg(st.source.counter == 10 && st.target.counter == 10,
	              "the 10 inserts made inside the limit must be counted: %s", buf);
	dbs_stream_free(s);

	dst = itest_pg_connect(tm_dst);
	ck_assert_uint_eq(itest_pg_count(dst, "items"), 10);
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_limits");
	TCase *tc = tcase_create("limits");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 140);
	tcase_add_test(tc, event_limit);
	tcase_add_test(tc, time_limit);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
