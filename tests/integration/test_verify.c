/*
 * dbs_verify_run against real servers: table pairs prepared by hand with
 * the types the targets would create (docs/type-mapping.md) and equal data
 * of many types give zero differences; then one row deleted, one value
 * changed and one row added in the target give exactly those three keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/verify.h>

#include "itest.h"

#define CHUNK 100

/* ---- report checks ---- */

static const dbs_verify_table *find_table(const dbs_verify_report *r, const char *name)
{
	for (size_t i = 0; i < r->ntables; i++)
		if (strcmp(r->tables[i].source_name, name) == 0)
			return &r->tables[i];
	ck_abort_msg("table %s not in the report", name);
	return NULL;
}

static dbs_verify_report *run_verify(const char *config, uint32_t chunk)
{
	dbs_verify_options opts = DBS_VERIFY_OPTIONS_INIT;
	dbs_verify_report *r = NULL;
	int64_t t0 = itest_now_ms();
	opts.chunk_size = chunk;
	opts.max_diffs = 50;
	int rc = dbs_verify_run(&r, config, strlen(config), &opts);
	ck_assert_msg(rc == 0, "dbs_verify_run: %d %s", rc, dbs_error_last());
	ck_assert_ptr_nonnull(r);
	for (size_t i = 0; i < r->ntables; i++) {
		const dbs_verify_table *t = &r->tables[i];
		fprintf(stderr,
		        "verify %s.%s: source %llu rows, target %llu rows, %llu chunks (%llu "
		        "differing), missing %llu extra %llu changed %llu %s\n",
		        t->source_schema, t->source_name, (unsigned long long)t->source_rows,
		        (unsigned long long)t->target_rows, (unsigned long long)t->chunks,
		        (unsigned long long)t->chunks_differing, (unsigned long long)t->missing,
		        (unsigned long long)t->extra, (unsigned long long)t->changed, t->note);
		for (size_t k = 0; k < t->ndiffs; k++) {
			fprintf(stderr, "  %s %s=%s", dbs_verify_diff_kind_name(t->diffs[k].kind),
			        t->key_columns[0],
			        t->diffs[k].key[0] ? t->diffs[k].key[0] : "NULL");
			for (uint32_t c = 0; c < t->diffs[k].ncolumns; c++)
				fprintf(stderr, " %s", t->diffs[k].columns[c]);
			fprintf(stderr, "\n");
		}
	}
	fprintf(stderr, "verify took %lld ms\n", (long long)(itest_now_ms() - t0));
	return r;
}

static void expect_equal(const dbs_verify_table *t, uint64_t rows)
{
	ck_assert_msg(t->missing == 0 && t->extra == 0 && t->changed == 0 &&
	                  t->nmissing_columns == 0,
	              "%s: missing %llu extra %llu changed %llu (first: %s)", t->source_name,
	              (unsigned long long)t->missing, (unsigned long long)t->extra,
	              (unsigned long long)t->changed,
	              t->ndiffs ? (t->diffs[0].ncolumns ? t->diffs[0].columns[0] : "key") : "-");
	ck_assert_uint_eq(t->source_rows, rows);
	ck_assert_uint_eq(t->target_rows, rows);
	ck_assert_uint_eq(t->chunks_differing, 0);
}

/* Exactly: key `missing` missing, `changed` changed in column `col`, `extra` extra. */
static void expect_three(const dbs_verify_table *t, const char *missing, const char *changed,
                         const char *col, const char *extra)
{
	int seen = 0;
	ck_assert_uint_eq(t->missing, 1);
	ck_assert_uint_eq(t->extra, 1);
	ck_assert_uint_eq(t->changed, 1);
	ck_assert_uint_eq(t->ndiffs, 3);
	for (size_t i = 0; i < t->ndiffs; i++) {
		const dbs_verify_diff *d = &t->diffs[i];
		ck_assert_ptr_nonnull(d->key[0]);
		if (d->kind == DBS_VERIFY_MISSING) {
			ck_assert_str_eq(d->key[0], missing);
			seen |= 1;
		} else if (d->kind == DBS_VERIFY_CHANGED) {
			ck_assert_str_eq(d->key[0], changed);
			ck_assert_uint_eq(d->ncolumns, 1);
			ck_assert_str_eq(d->columns[0], col);
			seen |= 2;
		} else if (d->kind == DBS_VERIFY_EXTRA) {
			ck_assert_str_eq(d->key[0], extra);
			seen |= 4;
		}
	}
	ck_assert_int_eq(seen, 7);
}

/* ---- PostgreSQL -> PostgreSQL ---- */

static const char pg_zoo_ddl[] =
    "CREATE TABLE zoo (id bigint PRIMARY KEY, i integer, s smallint, n numeric(12,4), "
    "f4 real, f8 double precision, b boolean, t text, vc varchar(20), ch char(5), d date, "
    "ts timestamp(6), tstz timestamptz, tm time, iv interval, by bytea, j jsonb, js json, "
    "ia integer[], ta text[], u uuid, bt bit(5), vb bit varying(8), ip inet)";

static const char pg_zoo_rows[] =
    "INSERT INTO zoo VALUES "
    "(1, 42, 7, 12.5, 1.1, 0.1, true, 'héllo', 'v', 'ab', '2024-02-29', "
    " '2024-01-01 12:00:00.5', '2024-01-01 01:30:00+05:30', '12:34:56.789', "
    " '1 day 02:03:04', '\\xdeadbeef', '{\"b\": 1, \"a\": [1, 2.50, \"x\"]}', "
    " '{\"b\": 1, \"a\": 2}', '{1,2,3}', '{\"a\",\"b c\"}', "
    " 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', B'10101', B'101', '10.0.0.1'), "
    "(2, -7, -1, -0.0000, -2.5, 1e300, false, '', '', 'x', '1999-12-31', "
    " '1970-01-01 00:00:00', '2038-01-19 03:14:08+00', '00:00:00', '-3 hours', '\\x', "
    " '[]', '{}', '{}', '{}', '00000000-0000-0000-0000-000000000000', B'00000', B'', "
    " '::1'), "
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
    "(4, 2147483647, 32767, 99999999.9999, 3.4e38, -1.5e-300, true, 'it''s ünïcode ✓', "
    " 'twenty chars exactly', 'abcde', '0001-01-01', '9999-12-31 23:59:59.999999', "
    " '2000-02-29 23:59:59.999999-08', '23:59:59.999999', '-1 years -2 mons +3 days', "
    " '\\x00ff', '{\"n\": {\"z\": [], \"y\": {}}, \"m\": null}', '[1, {\"k\": true}]', "
    " '{{1,2},{3,4}}', '{\"it''s\",NULL}', 'ffffffff-ffff-ffff-ffff-ffffffffffff', "
    " B'11111', B'11110000', '192.168.1.0/24')";

static void pg_to_pg(void)
{
	char src_db[64], dst_db[64], src_uri[512], dst_uri[512], config[2048];
	PGconn *src, *dst;
	dbs_verify_report *r;

	itest_name(src_db, sizeof src_db, "vfy_src");
	itest_name(dst_db, sizeof dst_db, "vfy_dst");
	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	src = itest_pg_connect(src_db);
	dst = itest_pg_connect(dst_db);
	PGconn *both[2] = {src, dst};
	for (int k = 0; k < 2; k++) {
		itest_pg_exec(both[k], pg_zoo_ddl);
		itest_pg_exec(both[k], pg_zoo_rows);
		itest_pg_exec(both[k],
		              "INSERT INTO zoo (id, i, t, n) SELECT g, g, 'row ' || g, g * 0.25 "
		              "FROM generate_series(10, 1000) g");
		itest_pg_exec(both[k], "CREATE TABLE nokey (a integer, b text)");
		itest_pg_exec(both[k],
		              "INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (2, NULL), (3, 'y')");
		itest_pg_exec(both[k], "CREATE SCHEMA other");
		itest_pg_exec(both[k], "CREATE TABLE other.pair (k1 integer, k2 text, v numeric, "
		                       "PRIMARY KEY (k1, k2))");
		itest_pg_exec(both[k], "INSERT INTO other.pair SELECT g / 10, 'k' || (g % 10), g "
		                       "FROM generate_series(0, 499) g");
	}
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int n = snprintf(config, sizeof config,
	                 "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	                 "\"filter\": {\"tables\": [{\"name\": \"zoo\"}, {\"name\": \"nokey\"}, "
	                 "{\"name\": \"other.pair\"}]}}, "
	                 "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	                 src_uri, dst_uri);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	r = run_verify(config, CHUNK);
	ck_assert_uint_eq(r->ntables, 3);
	expect_equal(find_table(r, "zoo"), 995);
	expect_equal(find_table(r, "nokey"), 4);
	expect_equal(find_table(r, "pair"), 500);
	ck_assert(!find_table(r, "nokey")->has_primary_key);
	ck_assert_uint_eq(find_table(r, "pair")->nkey_columns, 2);
	ck_assert_uint_eq(find_table(r, "zoo")->chunks, 10);
	ck_assert_uint_eq(r->differences, 0);
	dbs_verify_report_free(r);

	itest_pg_exec(dst, "DELETE FROM zoo WHERE id = 3");
	itest_pg_exec(dst, "UPDATE zoo SET tstz = tstz + interval '1 microsecond' WHERE id = 1");
	itest_pg_exec(dst, "INSERT INTO zoo (id, t) VALUES (5000, 'extra')");
	itest_pg_exec(dst, "INSERT INTO nokey VALUES (1, 'x')");
	itest_pg_exec(dst, "UPDATE other.pair SET v = v + 1 WHERE k1 = 7 AND k2 = 'k3'");
	r = run_verify(config, CHUNK);
	expect_three(find_table(r, "zoo"), "3", "1", "tstz", "5000");
	const dbs_verify_table *nk = find_table(r, "nokey");
	ck_assert_uint_eq(nk->extra, 1);
	ck_assert_uint_eq(nk->missing, 0);
	const dbs_verify_table *pr = find_table(r, "pair");
	ck_assert_uint_eq(pr->changed, 1);
	ck_assert_uint_eq(pr->ndiffs, 1);
	ck_assert_str_eq(pr->diffs[0].key[0], "7");
	ck_assert_str_eq(pr->diffs[0].key[1], "k3");
	ck_assert_str_eq(pr->diffs[0].columns[0], "v");
	ck_assert_uint_eq(r->differences, 5);
	dbs_verify_report_free(r);

	PQfinish(src);
	PQfinish(dst);
	itest_pg_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

START_TEST(verify_pg_to_pg)
{
	pg_to_pg();
}
END_TEST

/* ---- PostgreSQL -> MySQL ---- */

/* The types the MySQL target creates for pg_zoo_ddl. */
static const char my_zoo_ddl[] =
    "CREATE TABLE zoo (id bigint PRIMARY KEY, i int, s smallint, n decimal(12,4), "
    "f4 float, f8 double, b tinyint(1), t longtext, vc varchar(20), ch char(5), d date, "
    "ts datetime(6), tstz datetime(6), tm time(6), iv varchar(100), `by` longblob, j json, "
    "js json, ia json, ta json, u char(36), bt bit(5), vb varchar(8), ip varchar(64)) "
    "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin";

/* pg_zoo_rows as the MySQL target writes them. */
static const char my_zoo_rows[] =
    "INSERT INTO zoo VALUES "
    "(1, 42, 7, 12.5, 1.1, 0.1, 1, 'héllo', 'v', 'ab', '2024-02-29', "
    " '2024-01-01 12:00:00.500000', '2023-12-31 20:00:00', '12:34:56.789', "
    " '1 day 02:03:04', X'deadbeef', '{\"b\":1,\"a\":[1,2.50,\"x\"]}', "
    " '{\"b\": 1, \"a\": 2}', '[1,2,3]', '[\"a\",\"b c\"]', "
    " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', b'10101', '101', '10.0.0.1'), "
    "(2, -7, -1, 0, -2.5, 1e300, 0, '', '', 'x', '1999-12-31', "
    " '1970-01-01 00:00:00', '2038-01-19 03:14:08', '00:00:00', '-03:00:00', X'', "
    " '[]', '{}', '[]', '[]', '00000000-0000-0000-0000-000000000000', b'00000', '', "
    " '::1'), "
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
    "(4, 2147483647, 32767, 99999999.9999, 3.4e38, -1.5e-300, 1, 'it''s ünïcode ✓', "
    " 'twenty chars exactly', 'abcde', '0001-01-01', '9999-12-31 23:59:59.999999', "
    " '2000-03-01 07:59:59.999999', '23:59:59.999999', '-1 years -2 mons +3 days', "
    " X'00ff', '{\"m\":null,\"n\":{\"y\":{},\"z\":[]}}', '[1,{\"k\":true}]', "
    " '[[1,2],[3,4]]', '[\"it''s\",null]', 'ffffffff-ffff-ffff-ffff-ffffffffffff', "
    " b'11111', '11110000', '192.168.1.0/24')";

static void pg_to_mysql(void)
{
	char src_db[64], dst_db[64], src_uri[512], dst_dsn[512], config[2048];
	PGconn *src;
	MYSQL *dst;
	dbs_verify_report *r;

	itest_name(src_db, sizeof src_db, "vfy_pm_src");
	itest_name(dst_db, sizeof dst_db, "vfy_pm_dst");
	itest_pg_create_db(src_db);
	itest_my_create_db(dst_db);
	src = itest_pg_connect(src_db);
	dst = itest_my_connect(dst_db);
	itest_pg_exec(src, pg_zoo_ddl);
	itest_pg_exec(src, pg_zoo_rows);
	itest_pg_exec(src, "INSERT INTO zoo (id, i, t, n) SELECT g, g, 'row ' || g, g * 0.25 "
	                   "FROM generate_series(10, 1000) g");
	itest_my_exec(dst, my_zoo_ddl);
	itest_my_exec(dst, my_zoo_rows);
	itest_my_exec(dst, "INSERT INTO zoo (id, i, t, n) WITH RECURSIVE s(g) AS (SELECT 10 "
	                   "UNION ALL SELECT g + 1 FROM s WHERE g < 1000) "
	                   "SELECT g, g, CONCAT('row ', g), g * 0.25 FROM s");
	/* 50,000 rows to show chunking (the time is printed, not asserted). */
	itest_pg_exec(src, "CREATE TABLE big (id integer PRIMARY KEY, v text, x numeric(10,2), "
	                   "at timestamptz)");
	itest_pg_exec(src, "INSERT INTO big SELECT g, md5(g::text), g / 7.0, "
	                   "'2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second' "
	                   "FROM generate_series(1, 50000) g");
	itest_my_exec(dst, "SET SESSION max_recursive_iterations = 100000");
	itest_my_exec(dst, "CREATE TABLE big (id int PRIMARY KEY, v longtext, x decimal(10,2), "
	                   "at datetime(6))");
	itest_my_exec(dst,
	              "INSERT INTO big WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL "
	              "SELECT g + 1 FROM s WHERE g < 50000) SELECT g, md5(g), ROUND(g / 7.0, 2), "
	              "TIMESTAMPADD(SECOND, g, '2024-01-01 00:00:00') FROM s");

	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_my_dsn(dst_dsn, sizeof dst_dsn, dst_db);
	int n = snprintf(config, sizeof config,
	                 "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	                 "\"filter\": {\"tables\": [{\"name\": \"zoo\"}, {\"name\": \"big\"}]}}, "
	                 "\"target\": {\"type\": \"mysql\", \"connection\": \"%s\"}}",
	                 src_uri, dst_dsn);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	r = run_verify(config, CHUNK);
	expect_equal(find_table(r, "zoo"), 995);
	expect_equal(find_table(r, "big"), 50000);
	ck_assert_uint_eq(find_table(r, "big")->chunks, 500);
	dbs_verify_report_free(r);
	fprintf(stderr, "50,000 rows PG -> MySQL, chunks of 1000:\n");
	r = run_verify(config, 1000);
	expect_equal(find_table(r, "big"), 50000);
	dbs_verify_report_free(r);

	itest_my_exec(dst, "DELETE FROM zoo WHERE id = 2");
	itest_my_exec(dst, "UPDATE zoo SET j = '{\"a\":[1,2.5,\"x\"],\"b\":2}' WHERE id = 1");
	itest_my_exec(dst, "INSERT INTO zoo (id, t) VALUES (1001, 'extra')");
	itest_my_exec(dst, "UPDATE big SET v = 'changed' WHERE id = 25000");
	r = run_verify(config, CHUNK);
	expect_three(find_table(r, "zoo"), "2", "1", "j", "1001");
	const dbs_verify_table *b = find_table(r, "big");
	ck_assert_uint_eq(b->changed, 1);
	ck_assert_uint_eq(b->chunks_differing, 1);
	ck_assert_str_eq(b->diffs[0].key[0], "25000");
	dbs_verify_report_free(r);

	PQfinish(src);
	mysql_close(dst);
	itest_pg_drop_db(src_db);
	itest_my_drop_db(dst_db);
}

START_TEST(verify_pg_to_mysql)
{
	pg_to_mysql();
}
END_TEST

/* ---- MySQL -> PostgreSQL ---- */

static const char my_src_ddl[] =
    "CREATE TABLE zoo (id int unsigned PRIMARY KEY, ti tinyint, bu bigint unsigned, "
    "dc decimal(10,3), fl float, db double, d date, dt datetime(6), ts timestamp(6) NULL, "
    "tm time(6), yr year, vc varchar(30), tx text, bn varbinary(16), b1 bit(1), b8 bit(8), "
    "e enum('a','b'), st set('x','y','z'), j json)";

static const char my_src_rows[] =
    "INSERT INTO zoo VALUES "
    "(1, -128, 18446744073709551615, 1234567.125, 3.14159, 2.718281828459045, '2024-02-29', "
    " '2024-01-01 12:00:00.000001', '2024-06-01 10:00:00.5', '-838:59:59', 2024, "
    " 'héllo wörld', 'long text', X'00ff10', b'1', b'00001111', 'b', 'x,z', "
    " '{\"z\": 1, \"a\": {\"c\": [1, 2], \"b\": null}}'), "
    "(2, 0, 0, -0.000, -0.0, 0, '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01', "
    " '00:00:00', 1901, '', '', X'', b'0', b'00000000', 'a', '', '[]'), "
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    " NULL, NULL, NULL, NULL), "
    "(4, 127, 9223372036854775808, -9999999.999, -1e-10, -1.7976931348623157e308, "
    " '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', "
    " '100:00:00.5', 2155, 'Ünïcödé ✓', 'it''s', X'ffff', b'1', b'11111111', 'a', 'x,y,z', "
    " '[1.50, \"s\", true, null, {\"k\": []}]')";

/* The types the PostgreSQL target creates for my_src_ddl. */
static const char pg_dst_ddl[] =
    "CREATE TABLE %s.zoo (id bigint PRIMARY KEY, ti smallint, bu numeric(20,0), "
    "dc numeric(10,3), fl real, db double precision, d date, dt timestamp(6), "
    "ts timestamp(6) with time zone, tm interval, yr smallint, vc varchar(30), tx text, "
    "bn bytea, b1 boolean, b8 bit varying(8), e text CHECK (e IN ('a', 'b')), st text, "
    "j jsonb)";

static const char pg_dst_rows[] =
    "INSERT INTO %s.zoo VALUES "
    "(1, -128, 18446744073709551615, 1234567.125, 3.14159, 2.718281828459045, '2024-02-29', "
    " '2024-01-01 12:00:00.000001', '2024-06-01 10:00:00.5+00', '-838:59:59', 2024, "
    " 'héllo wörld', 'long text', '\\x00ff10', true, B'00001111', 'b', 'x,z', "
    " '{\"z\": 1, \"a\": {\"c\": [1, 2], \"b\": null}}'), "
    "(2, 0, 0, 0.000, 0, 0, '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01+00', "
    " '0', 1901, '', '', '\\x', false, B'00000000', 'a', '', '[]'), "
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    " NULL, NULL, NULL, NULL), "
    "(4, 127, 9223372036854775808, -9999999.999, -1e-10, -1.7976931348623157e308, "
    " '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999+00', "
    " '100:00:00.5', 2155, 'Ünïcödé ✓', 'it''s', '\\xffff', true, B'11111111', 'a', "
    " 'x,y,z', '[1.50, \"s\", true, null, {\"k\": []}]')";

static void mysql_to_pg(void)
{
	char src_db[64], dst_db[64], src_dsn[512], dst_uri[512], config[2048], sql[2048];
	MYSQL *src;
	PGconn *dst;
	dbs_verify_report *r;

	itest_name(src_db, sizeof src_db, "vfy_mp_src");
	itest_name(dst_db, sizeof dst_db, "vfy_mp_dst");
	itest_my_create_db(src_db);
	itest_pg_create_db(dst_db);
	src = itest_my_connect(src_db);
	dst = itest_pg_connect(dst_db);
	itest_my_exec(src, my_src_ddl);
	itest_my_exec(src, my_src_rows);
	itest_my_exec(src, "INSERT INTO zoo (id, vc, dc, ts) WITH RECURSIVE s(g) AS (SELECT 10 "
	                   "UNION ALL SELECT g + 1 FROM s WHERE g < 1000) "
	                   "SELECT g, CONCAT('r', g), g / 8, FROM_UNIXTIME(g * 1000) FROM s");
	/* A two-column key whose text part orders differently on the two sides
	 * (MySQL's case-insensitive collation, PostgreSQL's C order): rows
	 * cross chunk boundaries and must still match. */
	itest_my_exec(src,
	              "CREATE TABLE pair (k1 int, k2 varchar(10), v int, PRIMARY KEY (k1, k2))");
	itest_my_exec(src, "INSERT INTO pair WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL "
	                   "SELECT g + 1 FROM s WHERE g < 299) "
	                   "SELECT g DIV 3, ELT(g MOD 3 + 1, 'a', 'B', 'c'), g FROM s");
	/* The PostgreSQL target keeps the MySQL database's name as the schema. */
	snprintf(sql, sizeof sql, "CREATE SCHEMA %s", src_db);
	itest_pg_exec(dst, sql);
	snprintf(sql, sizeof sql, pg_dst_ddl, src_db);
	itest_pg_exec(dst, sql);
	snprintf(sql, sizeof sql, pg_dst_rows, src_db);
	itest_pg_exec(dst, sql);
	snprintf(sql, sizeof sql,
	         "INSERT INTO %s.zoo (id, vc, dc, ts) SELECT g, 'r' || g, round(g / 8.0, 3), "
	         "to_timestamp(g * 1000) FROM generate_series(10, 1000) g",
	         src_db);
	itest_pg_exec(dst, sql);

	snprintf(
	    sql, sizeof sql,
	    "CREATE TABLE %s.pair (k1 integer, k2 varchar(10), v integer, PRIMARY KEY (k1, k2))",
	    src_db);
	itest_pg_exec(dst, sql);
	snprintf(sql, sizeof sql,
	         "INSERT INTO %s.pair SELECT g / 3, (ARRAY['a', 'B', 'c'])[g %% 3 + 1], g "
	         "FROM generate_series(0, 299) g",
	         src_db);
	itest_pg_exec(dst, sql);

	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	/* No filter: every table of the DSN's database. */
	int n = snprintf(config, sizeof config,
	                 "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\"}, "
	                 "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	                 src_dsn, dst_uri);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	r = run_verify(config, CHUNK);
	ck_assert_uint_eq(r->ntables, 2);
	expect_equal(find_table(r, "zoo"), 995);
	const dbs_verify_table *p = find_table(r, "pair");
	ck_assert_uint_eq(p->source_rows, 300);
	ck_assert_uint_eq(p->target_rows, 300);
	ck_assert_uint_eq(p->missing + p->extra + p->changed, 0);
	dbs_verify_report_free(r);

	snprintf(sql, sizeof sql, "UPDATE %s.pair SET v = -1 WHERE k1 = 33 AND k2 = 'B'", src_db);
	itest_pg_exec(dst, sql);
	r = run_verify(config, CHUNK);
	p = find_table(r, "pair");
	ck_assert_uint_eq(p->changed, 1);
	ck_assert_uint_eq(p->missing + p->extra, 0);
	ck_assert_str_eq(p->diffs[0].key[0], "33");
	ck_assert_str_eq(p->diffs[0].key[1], "B");
	dbs_verify_report_free(r);
	snprintf(sql, sizeof sql, "DROP TABLE %s.pair", src_db);
	itest_pg_exec(dst, sql);

	snprintf(sql, sizeof sql, "DELETE FROM %s.zoo WHERE id = 4", src_db);
	itest_pg_exec(dst, sql);
	snprintf(sql, sizeof sql, "UPDATE %s.zoo SET tm = '-838:59:58' WHERE id = 1", src_db);
	itest_pg_exec(dst, sql);
	snprintf(sql, sizeof sql, "INSERT INTO %s.zoo (id) VALUES (4294967295)", src_db);
	itest_pg_exec(dst, sql);
	r = run_verify(config, CHUNK);
	expect_three(find_table(r, "zoo"), "4", "1", "tm", "4294967295");
	dbs_verify_report_free(r);

	/* A target table that does not exist: every row is missing. */
	snprintf(sql, sizeof sql, "DROP TABLE %s.zoo", src_db);
	itest_pg_exec(dst, sql);
	r = run_verify(config, CHUNK);
	ck_assert(!find_table(r, "zoo")->target_exists);
	ck_assert_uint_eq(find_table(r, "pair")->missing, 300);
	ck_assert_uint_eq(find_table(r, "zoo")->missing, 995);
	dbs_verify_report_free(r);

	mysql_close(src);
	PQfinish(dst);
	itest_my_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

START_TEST(verify_mysql_to_pg)
{
	mysql_to_pg();
}
END_TEST

/* ---- MySQL -> MySQL, and the table subset ---- */

static void mysql_to_mysql(void)
{
	char src_db[64], dst_db[64], src_dsn[512], dst_dsn[512], config[2048];
	MYSQL *src, *dst;
	dbs_verify_report *r = NULL;

	itest_name(src_db, sizeof src_db, "vfy_mm_src");
	itest_name(dst_db, sizeof dst_db, "vfy_mm_dst");
	itest_my_create_db(src_db);
	itest_my_create_db(dst_db);
	src = itest_my_connect(src_db);
	dst = itest_my_connect(dst_db);
	MYSQL *both[2] = {src, dst};
	for (int k = 0; k < 2; k++) {
		itest_my_exec(both[k], my_src_ddl);
		itest_my_exec(both[k], my_src_rows);
		itest_my_exec(both[k], "CREATE TABLE other (id int PRIMARY KEY)");
		itest_my_exec(both[k], "INSERT INTO other VALUES (1), (2)");
	}
	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_my_dsn(dst_dsn, sizeof dst_dsn, dst_db);
	int n = snprintf(config, sizeof config,
	                 "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\"}, "
	                 "\"target\": {\"type\": \"mysql\", \"connection\": \"%s\"}}",
	                 src_dsn, dst_dsn);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	r = run_verify(config, 2);
	ck_assert_uint_eq(r->ntables, 2);
	expect_equal(find_table(r, "zoo"), 4);
	expect_equal(find_table(r, "other"), 2);
	dbs_verify_report_free(r);

	itest_my_exec(dst, "DELETE FROM zoo WHERE id = 2");
	itest_my_exec(dst, "UPDATE zoo SET b8 = b'00001110' WHERE id = 1");
	itest_my_exec(dst, "INSERT INTO zoo (id) VALUES (7)");
	itest_my_exec(dst, "DELETE FROM other");

	/* Only the tables asked for; an unknown one is refused. */
	const char *only[] = {"zoo"};
	dbs_verify_options opts = DBS_VERIFY_OPTIONS_INIT;
	opts.chunk_size = 2;
	opts.tables = only;
	opts.ntables = 1;
	ck_assert_int_eq(dbs_verify_run(&r, config, strlen(config), &opts), 0);
	ck_assert_uint_eq(r->ntables, 1);
	expect_three(&r->tables[0], "2", "1", "b8", "7");
	ck_assert_uint_eq(r->differences, 3);
	dbs_verify_report_free(r);
	r = NULL;
	const char *unknown[] = {"nope"};
	opts.tables = unknown;
	ck_assert_int_eq(dbs_verify_run(&r, config, strlen(config), &opts), DBS_ENOTFOUND);
	ck_assert_ptr_null(r);

	mysql_close(src);
	mysql_close(dst);
	itest_my_drop_db(src_db);
	itest_my_drop_db(dst_db);
}

START_TEST(verify_mysql_to_mysql)
{
	mysql_to_mysql();
}
END_TEST

START_TEST(verify_bad_config)
{
	dbs_verify_report *r = NULL;
	const char *bad = "{\"source\": {\"type\": \"postgresql\"}}";
	int rc = dbs_verify_run(&r, bad, strlen(bad), NULL);
	ck_assert_int_eq(rc, DBS_ECONFIG);
	ck_assert_ptr_null(r);
	ck_assert(dbs_error_last()[0] != '\0');
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_verify");
	TCase *tc = tcase_create("verify");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, verify_bad_config);
	tcase_add_test(tc, verify_pg_to_pg);
	tcase_add_test(tc, verify_pg_to_mysql);
	tcase_add_test(tc, verify_mysql_to_pg);
	tcase_add_test(tc, verify_mysql_to_mysql);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
