/*
 * PostgreSQL → PostgreSQL through the public API: every common type, NULLs,
 * a TOASTed column left untouched by an update, and 65,000 changes in
 * multi-row transactions; the target must end up equal row for row.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static char src_db[64], dst_db[64], slot[64], pub[64];

static const char *const tables[] = {"t1", "t2", "t3"};

/* Unchecked fixture: runs in the parent process, so the teardown still
 * runs (and frees the slot) when the test itself failed. */
static void setup(void)
{
	itest_name(src_db, sizeof src_db, "pg_src");
	itest_name(dst_db, sizeof dst_db, "pg_dst");
	itest_name(slot, sizeof slot, "pg_slot");
	itest_name(pub, sizeof pub, "pg_pub");
}

static void teardown(void)
{
	itest_pg_drop_slot(slot);
	itest_pg_drop_publication(src_db, pub);
	itest_pg_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

static void sqlf(PGconn *conn, uint64_t *count, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sqlf(PGconn *conn, uint64_t *count, const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && (size_t)n < sizeof sql, "SQL too long");
	if (count != NULL)
		*count += itest_pg_exec_count(conn, sql);
	else
		itest_pg_exec(conn, sql);
}

static void create_tables(PGconn *conn)
{
	size_t i;

	for (i = 0; i < 3; i++)
		sqlf(conn, NULL,
		     "CREATE TABLE %s (id bigint PRIMARY KEY, txt text, num numeric(38,10), "
		     "big bigint, dbl double precision, flag boolean, bin bytea, doc jsonb, "
		     "ts timestamptz, d date, u uuid, ia int[], ta text[])",
		     tables[i]);
	itest_pg_exec(conn, "CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL, "
	                    "n int NOT NULL)");
}

/* Rows [lo, hi] into `table`; every column gets NULLs and edge values at
 * different strides so most rows mix them differently. */
static void insert_rows(PGconn *conn, uint64_t *count, const char *table, long lo, long hi)
{
	sqlf(conn, count,
	     "INSERT INTO %s SELECT g, "
	     "CASE WHEN g %% 11 = 0 THEN NULL ELSE 'row ' || g || "
	     "E' \\u017elu\\u0165ou\\u010dk\\u00fd \\u65e5\\u672c \\U0001F680 \"q\" '' \\\\ tab\\t nl\\n end' END, "
	     "CASE WHEN g %% 13 = 0 THEN NULL WHEN g %% 7 = 0 "
	     "THEN -1234567890123456789012345678.0123456789 "
	     "ELSE (g * 1234.0123456789)::numeric(38,10) END, "
	     "CASE g %% 5 WHEN 0 THEN 9223372036854775807 WHEN 1 THEN -9223372036854775808 "
	     "WHEN 2 THEN NULL ELSE g * 1000003 END, "
	     "CASE WHEN g %% 17 = 0 THEN 'NaN'::float8 WHEN g %% 19 = 0 THEN '-Infinity'::float8 "
	     "WHEN g %% 23 = 0 THEN NULL ELSE g / 3.0::float8 * 1e-5 END, "
	     "CASE WHEN g %% 29 = 0 THEN NULL ELSE g %% 3 = 0 END, "
	     "CASE WHEN g %% 31 = 0 THEN NULL "
	     "ELSE decode(md5(g::text), 'hex') || '\\x00ff0000'::bytea END, "
	     "CASE WHEN g %% 37 = 0 THEN NULL ELSE jsonb_build_object('id', g, "
	     "'name', E'\\u00fcn\\u00efc\\u00f8d\\u00e9 ' || g, 'nested', jsonb_build_object("
	     "'arr', jsonb_build_array(1, 'two', NULL, true, 3.5), 'emoji', E'\\U0001F600'), "
	     "'esc', E'quote \" backslash \\\\ nl \\n') END, "
	     "CASE WHEN g %% 41 = 0 THEN NULL ELSE '2000-01-01 00:00:00.123456+00'::timestamptz "
	     "+ g * interval '37 minutes 1.000001 seconds' END, "
	     "CASE WHEN g %% 43 = 0 THEN NULL WHEN g %% 47 = 0 THEN '0044-03-15 BC'::date "
	     "ELSE date '1999-12-31' + (g %% 20000)::int END, "
	     "CASE WHEN g %% 53 = 0 THEN NULL ELSE md5(g::text)::uuid END, "
	     "CASE WHEN g %% 59 = 0 THEN NULL ELSE ARRAY[g::int, -(g::int), NULL, 2147483647] END, "
	     "CASE WHEN g %% 61 = 0 THEN NULL ELSE ARRAY['a', 'b,c', 'd\"e', NULL, "
	     "E'\\u00fcn\\u00ef' || g, '', E'back\\\\slash', '{x}'] END "
	     "FROM generate_series(%ld::bigint, %ld::bigint) g",
	     table, lo, hi);
}

static void update_rows(PGconn *conn, uint64_t *count, const char *table, long lo, long hi)
{
	sqlf(conn, count,
	     "UPDATE %s SET "
	     "txt = CASE WHEN txt IS NULL THEN E'was null \\u2713' ELSE txt || ' upd' END, "
	     "num = CASE WHEN num IS NULL THEN 0.0000000001 ELSE num + 1 END, "
	     "big = CASE WHEN id %% 4 = 0 THEN NULL ELSE coalesce(big, 0) / 2 END, "
	     "flag = NOT flag, "
	     "doc = CASE WHEN doc IS NULL THEN '{\"was\": \"null\"}' "
	     "ELSE doc || jsonb_build_object('u', jsonb_build_array(1, "
	     "jsonb_build_object('x', E'\\u00ff'))) END, "
	     "ia = ia || 7, ta = array_append(ta, 'upd'), "
	     "ts = ts + interval '1 microsecond', "
	     "bin = CASE WHEN id %% 6 = 0 THEN '\\x'::bytea ELSE bin END "
	     "WHERE id BETWEEN %ld AND %ld",
	     table, lo, hi);
}

static void run_workload(PGconn *src, uint64_t *events)
{
	long k;
	size_t i;

	/* 50,000 inserts: 50 transactions of 1000 rows, each over two tables. */
	for (k = 0; k < 50; k++) {
		itest_pg_exec(src, "BEGIN");
		insert_rows(src, events, tables[k % 3], k * 1000 + 1, k * 1000 + 500);
		insert_rows(src, events, tables[(k + 1) % 3], k * 1000 + 501, k * 1000 + 1000);
		itest_pg_exec(src, "COMMIT");
	}
	ck_assert_uint_eq(*events, 50000);

	/* 10,000 updates: 10 transactions of 1000 rows over all three tables. */
	for (k = 0; k < 10; k++) {
		itest_pg_exec(src, "BEGIN");
		for (i = 0; i < 3; i++)
			update_rows(src, events, tables[i], k * 5000 + 1, k * 5000 + 1000);
		itest_pg_exec(src, "COMMIT");
	}
	/* A primary key change: the old key must disappear from the target. */
	sqlf(src, events, "UPDATE t2 SET id = id + 1000000 WHERE id BETWEEN 49001 AND 49010");
	ck_assert_uint_eq(*events, 60010);

	/* 5,000 deletes, half of them of rows updated above. */
	for (k = 0; k < 5; k++) {
		itest_pg_exec(src, "BEGIN");
		for (i = 0; i < 3; i++)
			sqlf(src, events, "DELETE FROM %s WHERE id BETWEEN %ld AND %ld", tables[i],
			     k * 10000 + 501, k * 10000 + 1500);
		itest_pg_exec(src, "COMMIT");
	}
	ck_assert_uint_eq(*events, 65010);

	/* Insert, update and delete the same rows inside one transaction. */
	itest_pg_exec(src, "BEGIN");
	insert_rows(src, events, "t3", 60001, 60100);
	update_rows(src, events, "t3", 60001, 60100);
	sqlf(src, events, "DELETE FROM t3 WHERE id BETWEEN 60051 AND 60100");
	itest_pg_exec(src, "COMMIT");
	ck_assert_uint_eq(*events, 65260);
}

/* Five rows of ~100 kB incompressible text, then updates that leave it
 * alone: the source sends "unchanged TOAST" and the target must keep it. */
static void run_toast_workload(PGconn *src, uint64_t *events)
{
	sqlf(src, events,
	     "INSERT INTO docs SELECT i, (SELECT string_agg(md5(i || ':' || s), '') "
	     "FROM generate_series(1, 3200) s), 0 FROM generate_series(1, 5) i");
	sqlf(src, events, "UPDATE docs SET n = n + 1");
	sqlf(src, events, "UPDATE docs SET body = body || 'x', n = n + 1 WHERE id = 3");
	sqlf(src, events, "UPDATE docs SET n = n + 1 WHERE id = 3");
}

START_TEST(pg_to_pg_all_types)
{
	char src_uri[512], dst_uri[512], config[4096];
	PGconn *src, *dst;
	dbs_stream *s;
	dbs_stat st;
	char buf[2048];
	uint64_t events = 0;
	size_t i;
	char *v;
	int n;

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	src = itest_pg_connect(src_db);
	create_tables(src);

	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	n = snprintf(config, sizeof config,
	             "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	             "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	             "\"filter\": {\"tables\": ["
	             "{\"name\": \"t1\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"t2\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"public.t3\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"docs\"}]}}, "
	             "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	             "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	             src_uri, slot, pub, dst_uri);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	s = itest_stream_start(config);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_READY && st.target.status == DBS_STATUS_READY,
	              "after create both nodes must be READY: %s", buf);

	run_workload(src, &events);
	run_toast_workload(src, &events);
	ck_assert_uint_eq(events, 65272);

	itest_wait_target_counter(s, events, 120);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.counter == events && st.target.counter == events,
	              "expected %llu events on both nodes: %s", (unsigned long long)events, buf);
	ck_assert_msg(st.source.status == DBS_STATUS_STOPPED &&
	                      st.target.status == DBS_STATUS_STOPPED,
	              "after stop both nodes must be STOPPED: %s", buf);
	ck_assert_msg(st.source.started_ns > 0 && st.target.started_ns > 0, "started unset: %s",
	              buf);
	dbs_stream_free(s);

	dst = itest_pg_connect(dst_db);
	for (i = 0; i < 3; i++)
		itest_pg_compare_table(src, dst, tables[i], "id");
	itest_pg_compare_table(src, dst, "docs", "id");

	/* Spelled out as well: the untouched TOAST values are intact. */
	v = itest_pg_value(dst, "SELECT count(*) FROM docs WHERE length(body) >= 102400 "
	                        "AND n = CASE WHEN id = 3 THEN 3 ELSE 1 END");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "5");
	free(v);
	v = itest_pg_value(dst, "SELECT md5(string_agg(body, '' ORDER BY id)) FROM docs");
	{
		char *w = itest_pg_value(src, "SELECT md5(string_agg(body, '' ORDER BY id)) FROM docs");

		ck_assert_ptr_nonnull(v);
		ck_assert_ptr_nonnull(w);
		ck_assert_str_eq(v, w);
		free(w);
	}
	free(v);
	/* The old key of the changed primary key is gone. */
	ck_assert_uint_eq(itest_pg_count(dst, "t2 WHERE id BETWEEN 49001 AND 49010"), 0);
	ck_assert_uint_eq(itest_pg_count(dst, "t2 WHERE id BETWEEN 1049001 AND 1049010"), 10);

	PQfinish(dst);
	PQfinish(src);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_pg_to_pg");
	TCase *tc = tcase_create("pg_to_pg");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, pg_to_pg_all_types);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
