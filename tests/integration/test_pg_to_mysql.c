/*
 * PostgreSQL → MySQL/MariaDB through the public API: the common types
 * mapped across dialects, NULLs, a TOASTed column left untouched by an
 * update, and 65,000 changes in multi-row transactions. Both sides are
 * read back in a canonical text per column and compared value for value.
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
	itest_name(src_db, sizeof src_db, "p2m_src");
	itest_name(dst_db, sizeof dst_db, "p2m_dst");
	itest_name(slot, sizeof slot, "p2m_slot");
	itest_name(pub, sizeof pub, "p2m_pub");
}

static void teardown(void)
{
	itest_pg_drop_slot(slot);
	itest_pg_drop_publication(src_db, pub);
	itest_pg_drop_db(src_db);
	itest_my_drop_db(dst_db);
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
		     "ts timestamptz, d date, u uuid, ia int[])",
		     tables[i]);
	itest_pg_exec(conn, "CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL, "
	                    "n int NOT NULL)");
}

/* Rows [lo, hi] into `table`: NULLs and edge values at different strides.
 * Only values MySQL holds exactly (no NaN, infinities or BC dates: the
 * type zoo checks that those fail the stream). */
static void insert_rows(PGconn *conn, uint64_t *count, const char *table, long lo, long hi)
{
	sqlf(conn, count,
	     "INSERT INTO %s SELECT g, "
	     "CASE WHEN g %% 11 = 0 THEN NULL WHEN g %% 10 = 0 THEN '' ELSE 'row ' || g || "
	     "E' \\u017elu\\u0165ou\\u010dk\\u00fd \\u65e5\\u672c \\U0001F680 \"q\" '' \\\\ tab\\t nl\\n "
	     "cr\\r end' END, "
	     "CASE WHEN g %% 13 = 0 THEN NULL WHEN g %% 7 = 0 "
	     "THEN -1234567890123456789012345678.0123456789 "
	     "WHEN g %% 9 = 0 THEN 9999999999999999999999999999.9999999999 "
	     "ELSE (g * 1234.0123456789)::numeric(38,10) END, "
	     "CASE g %% 5 WHEN 0 THEN 9223372036854775807 WHEN 1 THEN -9223372036854775808 "
	     "WHEN 2 THEN NULL ELSE g * 1000003 END, "
	     "CASE WHEN g %% 17 = 0 THEN 1.7976931348623157e308 WHEN g %% 19 = 0 THEN -4.9e-324 "
	     "WHEN g %% 23 = 0 THEN NULL WHEN g %% 27 = 0 THEN -0.0::float8 "
	     "ELSE g / 3.0::float8 * 1e-5 END, "
	     "CASE WHEN g %% 29 = 0 THEN NULL ELSE g %% 3 = 0 END, "
	     "CASE WHEN g %% 31 = 0 THEN NULL "
	     "ELSE '\\x0000'::bytea || decode(md5(g::text), 'hex') || '\\x00ff0000'::bytea END, "
	     "CASE WHEN g %% 37 = 0 THEN NULL ELSE jsonb_build_object('id', g, "
	     "'name', E'\\u00fcn\\u00efc\\u00f8d\\u00e9 ' || g, 'nested', jsonb_build_object("
	     "'arr', jsonb_build_array(1, 'two', NULL, true, 3.5, jsonb_build_array()), "
	     "'emoji', E'\\U0001F600', 'deep', jsonb_build_object('a', jsonb_build_object("
	     "'b', jsonb_build_array(jsonb_build_object('c', 1e-7))))), "
	     "'esc', E'quote \" backslash \\\\ nl \\n tab \\t') END, "
	     "CASE WHEN g %% 41 = 0 THEN NULL ELSE '2000-01-01 00:00:00.123456+00'::timestamptz "
	     "+ g * interval '37 minutes 1.000001 seconds' END, "
	     "CASE WHEN g %% 43 = 0 THEN NULL WHEN g %% 47 = 0 THEN '0001-01-01'::date "
	     "WHEN g %% 49 = 0 THEN '9999-12-31'::date "
	     "ELSE date '1999-12-31' + (g %% 20000)::int END, "
	     "CASE WHEN g %% 53 = 0 THEN NULL ELSE md5(g::text)::uuid END, "
	     "CASE WHEN g %% 59 = 0 THEN NULL WHEN g %% 58 = 0 THEN '{}'::int[] "
	     "ELSE ARRAY[g::int, -(g::int), NULL, 2147483647, -2147483648] END "
	     "FROM generate_series(%ld::bigint, %ld::bigint) g",
	     table, lo, hi);
}

static void update_rows(PGconn *conn, uint64_t *count, const char *table, long lo, long hi)
{
	sqlf(conn, count,
	     "UPDATE %s SET "
	     "txt = CASE WHEN txt IS NULL THEN E'was null \\u2713' ELSE txt || ' upd' END, "
	     "num = CASE WHEN num IS NULL THEN 0.0000000001 WHEN num > 0 THEN num - 1 "
	     "ELSE num + 1 END, "
	     "big = CASE WHEN id %% 4 = 0 THEN NULL ELSE coalesce(big, 0) / 2 END, "
	     "flag = NOT flag, "
	     "doc = CASE WHEN doc IS NULL THEN '{\"was\": \"null\"}' "
	     "ELSE doc || jsonb_build_object('u', jsonb_build_array(1, "
	     "jsonb_build_object('x', E'\\u00ff'))) END, "
	     "ia = ia || 7, "
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

/* One canonical text per column, the same on both engines: the key first. */
static const char pg_canon[] =
	"SELECT id::text, txt, num::text, big::text, dbl::text, "
	"CASE WHEN flag THEN '1' WHEN NOT flag THEN '0' END, encode(bin, 'hex'), doc::text, "
	"to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), to_char(d, 'YYYY-MM-DD'), "
	"u::text, array_to_json(ia)::text FROM %s t ORDER BY t.id";
static const char my_canon[] =
	"SELECT CAST(id AS CHAR), txt, CAST(num AS CHAR), CAST(big AS CHAR), dbl, "
	"CAST(flag AS CHAR), LOWER(HEX(bin)), doc, "
	"DATE_FORMAT(ts, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), DATE_FORMAT(d, '%%Y-%%m-%%d'), u, ia "
	"FROM %s t ORDER BY t.id";
/* id txt num big dbl flag bin doc ts d u ia */
static const char canon_modes[] = "ssssdssjsssj";

static void compare_table(PGconn *src, MYSQL *dst, const char *table)
{
	char sql[1024];
	itest_rows *a, *b;

	ck_assert_int_lt(snprintf(sql, sizeof sql, pg_canon, table), (int)sizeof sql);
	a = itest_pg_rows(src, sql);
	ck_assert_int_lt(snprintf(sql, sizeof sql, my_canon, table), (int)sizeof sql);
	b = itest_my_rows(dst, sql);
	itest_rows_compare(a, b, canon_modes, src, table);
	itest_rows_free(a);
	itest_rows_free(b);
}

START_TEST(pg_to_mysql_all_types)
{
	char src_uri[512], dst_dsn[512], config[4096];
	PGconn *src;
	MYSQL *dst;
	dbs_stream *s;
	dbs_stat st;
	char buf[2048];
	uint64_t events = 0;
	size_t i;
	itest_rows *a, *b;
	int n;

	itest_pg_create_db(src_db);
	itest_my_drop_db(dst_db);
	src = itest_pg_connect(src_db);
	create_tables(src);

	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_my_dsn(dst_dsn, sizeof dst_dsn, dst_db);
	n = snprintf(config, sizeof config,
	             "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	             "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	             "\"filter\": {\"tables\": ["
	             "{\"name\": \"t1\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"t2\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"public.t3\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"docs\"}]}}, "
	             "\"target\": {\"type\": \"mysql\", \"connection\": \"%s\"}, "
	             "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	             src_uri, slot, pub, dst_dsn);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	s = itest_stream_start(config);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_READY && st.target.status == DBS_STATUS_READY,
	              "after create both nodes must be READY: %s", buf);

	run_workload(src, &events);
	run_toast_workload(src, &events);
	ck_assert_uint_eq(events, 65272);

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
	for (i = 0; i < 3; i++)
		compare_table(src, dst, tables[i]);

	/* The untouched TOAST values are intact, byte for byte. */
	a = itest_pg_rows(src, "SELECT id::text, md5(body), length(body)::text, n::text "
	                       "FROM docs t ORDER BY t.id");
	b = itest_my_rows(dst, "SELECT CAST(id AS CHAR), MD5(body), CHAR_LENGTH(body), n "
	                       "FROM docs t ORDER BY t.id");
	ck_assert_uint_eq(a->nrows, 5);
	itest_rows_compare(a, b, "", NULL, "docs");
	itest_rows_free(a);
	itest_rows_free(b);
	/* The old key of the changed primary key is gone. */
	ck_assert_uint_eq(itest_my_count(dst, "t2 WHERE id BETWEEN 49001 AND 49010"), 0);
	ck_assert_uint_eq(itest_my_count(dst, "t2 WHERE id BETWEEN 1049001 AND 1049010"), 10);

	mysql_close(dst);
	PQfinish(src);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_pg_to_mysql");
	TCase *tc = tcase_create("pg_to_mysql");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, pg_to_mysql_all_types);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
