/*
 * The type zoo: one table per engine holding each type's edge values
 * (minimums, maximums, the smallest steps, empty versus NULL, awkward
 * text, bytes with zeros, nested unicode JSON, every ENUM and SET member),
 * replicated in all four directions. Both sides are read back in one
 * canonical text per column and compared value for value.
 *
 * Values MySQL cannot hold (PostgreSQL NaN and infinities) must fail the
 * stream with a message naming the value, never arrive changed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "itest.h"

/* Databases, slots and publications of one direction. */
typedef struct names {
	char src[64], dst[64], slot[64], pub[64];
} names;

#define NONFINITE_CASES 4

static names pp, pm, mp, mm, zd, up, nf[NONFINITE_CASES];

static void names_make(names *n, const char *tag)
{
	char t[32];

	snprintf(t, sizeof t, "%s_src", tag);
	itest_name(n->src, sizeof n->src, t);
	snprintf(t, sizeof t, "%s_dst", tag);
	itest_name(n->dst, sizeof n->dst, t);
	snprintf(t, sizeof t, "%s_slot", tag);
	itest_name(n->slot, sizeof n->slot, t);
	snprintf(t, sizeof t, "%s_pub", tag);
	itest_name(n->pub, sizeof n->pub, t);
}

/* Unchecked fixture: runs in the parent, so the teardown still frees
 * slots when a test failed. */
static void setup(void)
{
	char tag[16];
	int k;

	names_make(&pp, "zpp");
	names_make(&pm, "zpm");
	names_make(&mp, "zmp");
	names_make(&mm, "zmm");
	names_make(&zd, "zzd");
	names_make(&up, "zup");
	for (k = 0; k < NONFINITE_CASES; k++) {
		snprintf(tag, sizeof tag, "znf%d", k);
		names_make(&nf[k], tag);
	}
}

static void names_drop(const names *n)
{
	itest_pg_drop_slot(n->slot);
	itest_pg_drop_publication(n->src, n->pub);
	itest_pg_drop_db(n->src);
	itest_pg_drop_db(n->dst);
	itest_my_drop_db(n->src);
	itest_my_drop_db(n->dst);
}

static void teardown(void)
{
	int k;

	names_drop(&pp);
	names_drop(&pm);
	names_drop(&mp);
	names_drop(&mm);
	names_drop(&zd);
	names_drop(&up);
	for (k = 0; k < NONFINITE_CASES; k++)
		names_drop(&nf[k]);
}

/* ------------------------------------------------------------------ */
/* Stream configurations                                               */
/* ------------------------------------------------------------------ */

static void target_conn(char *buf, size_t size, int target_mysql, const char *db)
{
	if (target_mysql)
		itest_my_dsn(buf, size, db);
	else
		itest_pg_uri(buf, size, db, NULL, NULL, 0);
}

/* A stream of `table` (and `table2` unless NULL) from a PostgreSQL source. */
static dbs_stream *start_from_pg(const names *n, const char *table, const char *table2,
                                 int target_mysql)
{
	char src_uri[512], dst[512], config[4096];
	dbs_stream *s;
	dbs_stat st;
	char buf[2048];
	int len;

	itest_pg_uri(src_uri, sizeof src_uri, n->src, NULL, NULL, 0);
	target_conn(dst, sizeof dst, target_mysql, n->dst);
	len = snprintf(config, sizeof config,
	               "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	               "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	               "\"filter\": {\"tables\": [{\"name\": \"%s\"}%s%s%s]}}, "
	               "\"target\": {\"type\": \"%s\", \"connection\": \"%s\"}}",
	               src_uri, n->slot, n->pub, table, table2 ? ", {\"name\": \"" : "",
	               table2 ? table2 : "", table2 ? "\"}" : "",
	               target_mysql ? "mysql" : "postgresql", dst);
	ck_assert(len > 0 && (size_t)len < sizeof config);
	s = itest_stream_start(config);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_READY && st.target.status == DBS_STATUS_READY,
	              "after create both nodes must be READY: %s", buf);
	return s;
}

static dbs_stream *start_from_mysql(const names *n, const char *table, int target_mysql)
{
	char src_dsn[512], dst[512], config[4096];
	dbs_stream *s;
	dbs_stat st;
	char buf[2048];
	int len;

	itest_my_dsn(src_dsn, sizeof src_dsn, n->src);
	target_conn(dst, sizeof dst, target_mysql, n->dst);
	/* The table is named with its database: a MySQL → MySQL stream on one
	 * server must not capture what its own target writes. */
	len = snprintf(config, sizeof config,
	               "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	               "\"filter\": {\"tables\": [{\"name\": \"%s.%s\", "
	               "\"operations\": [\"insert\", \"update\", \"delete\"]}]}}, "
	               "\"target\": {\"type\": \"%s\", \"connection\": \"%s\"}}",
	               src_dsn, n->src, table, target_mysql ? "mysql" : "postgresql", dst);
	ck_assert(len > 0 && (size_t)len < sizeof config);
	s = itest_stream_start(config);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_READY && st.target.status == DBS_STATUS_READY,
	              "after create both nodes must be READY: %s", buf);
	return s;
}

static void finish(dbs_stream *s, uint64_t events)
{
	dbs_stat st;
	char buf[2048];

	itest_wait_target_counter(s, events, 120);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.counter == events && st.target.counter == events &&
	                      st.target.status == DBS_STATUS_STOPPED,
	              "expected %llu events and STOPPED: %s", (unsigned long long)events, buf);
	dbs_stream_free(s);
}

/* ------------------------------------------------------------------ */
/* The PostgreSQL zoo                                                  */
/* ------------------------------------------------------------------ */

static const char pg_zoo_ddl[] =
	"CREATE TABLE zoo (id int PRIMARY KEY, si smallint, i integer, bi bigint, "
	"n38 numeric(38,10), n numeric, r real, d double precision, t text, b bytea, j jsonb, "
	"ts timestamp(6), tstz timestamptz, dt date, tm time, iv interval, u uuid, ia int[], "
	"ta text[], bo boolean)";

/* Every value here has an exact home on MySQL too (see the nonfinite test
 * for those that do not). */
static const char *const pg_zoo_rows[] = {
	/* minimums */
	"INSERT INTO zoo VALUES (1, -32768, -2147483648, -9223372036854775808, "
	"-9999999999999999999999999999.9999999999, "
	"-99999999999999999999999999999999999.999999999999999999999999999999, "
	"-3.4028235e38, -1.7976931348623157e308, "
	"E'tab\\t nl\\n cr\\r bs\\\\ q'' dq\" \\x01 \\x7f nbsp\\u00a0 zw\\u200b ls\\u2028 "
	"bom\\ufeff repl\\ufffd', "
	"'\\x00'::bytea, '{\"\": \"\", \"a\": {\"b\": {\"c\": {\"d\": [[[]]]}}}}', "
	"'0001-01-01 00:00:00', '0001-01-01 00:00:00+00', '0001-01-01', '00:00:00', "
	"'-178000000 years', '00000000-0000-0000-0000-000000000000', '{}', '{}', false)",
	/* maximums */
	"INSERT INTO zoo VALUES (2, 32767, 2147483647, 9223372036854775807, "
	"9999999999999999999999999999.9999999999, "
	"99999999999999999999999999999999999.999999999999999999999999999999, "
	"3.4028235e38, 1.7976931348623157e308, "
	"E'\\u017elu\\u0165ou\\u010dk\\u00fd k\\u016f\\u0148 \\u65e5\\u672c\\u8a9e "
	"\\u0627\\u0644\\u0639\\u0631\\u0628\\u064a\\u0629 \\U0001F600\\U0001F44D\\U0001F3FD "
	"\\U0001F468\\u200D\\U0001F469\\u200D\\U0001F467 e\\u0301', "
	"(SELECT string_agg(set_byte('\\x00'::bytea, 0, g), ''::bytea ORDER BY g) "
	"FROM generate_series(0, 255) g), "
	"E'{\"k\": [1, 2.5, -0.0001, 1e300, true, false, null, \"\\u00fc\\u00e9 \\U0001F600\", "
	"{\"x\": {}}], \"esc\": \"\\\\\"\\\\\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t\\\\u0001\"}', "
	"'9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', '9999-12-31', "
	"'23:59:59.999999', '1 year 2 mons 3 days 04:05:06.789012', "
	"'ffffffff-ffff-ffff-ffff-ffffffffffff', '{2147483647,-2147483648,NULL,0}', "
	"E'{\"a\",\"b,c\",\"d\\\\\"e\",NULL,\"\",\"back\\\\\\\\slash\",\"{x}\",\"NULL\","
	"\"\\u00fc\\U0001F600\"}', true)",
	/* the smallest steps and zeros */
	"INSERT INTO zoo VALUES (3, 0, 0, 0, 0.0000000001, 0.000000000000000000000000000001, "
	"1.17549435e-38, 2.2250738585072014e-308, '', '\\x'::bytea, '[]', "
	"'1970-01-01 00:00:00.000001', '1969-12-31 23:59:59.999999+00', '1970-01-01', "
	"'24:00:00', '00:00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{1,2},{3,4}}', "
	"'{\"x\"}', false)",
	/* NULL in every column */
	"INSERT INTO zoo (id) VALUES (4)",
	/* negative zero, a value changed by an update, JSON scalars */
	"INSERT INTO zoo VALUES (5, -1, -1, -1, -0.0000000001, -0.5, '-0', '-0', ' ', "
	"'\\x00000000'::bytea, '\"\\u00fc\"', '2024-02-29 12:34:56.789012', "
	"'2024-02-29 12:34:56.789012+05:30', '2024-02-29', '12:34:56.789012', "
	"'-1 days -00:00:00.000001', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12', '{NULL}', "
	"'{NULL,\"\"}', true)",
	"UPDATE zoo SET t = t || ' updated', bo = NOT bo, n = n * 2 WHERE id = 5",
};
#define PG_ZOO_EVENTS 6

/* What only PostgreSQL holds: PostgreSQL → PostgreSQL keeps it exactly. */
static const char pg_nonfinite_ddl[] =
	"CREATE TABLE nonfinite (id int PRIMARY KEY, r real, d double precision, n numeric, "
	"ts timestamp, tstz timestamptz, dt date)";
static const char pg_nonfinite_rows[] =
	"INSERT INTO nonfinite VALUES "
	"(1, 'NaN', 'NaN', 'NaN', 'infinity', 'infinity', 'infinity'), "
	"(2, 'Infinity', 'Infinity', 'Infinity', '-infinity', '-infinity', '-infinity'), "
	"(3, '-Infinity', '-Infinity', '-Infinity', '4713-01-01 00:00:00 BC', "
	"'0044-03-15 12:00:00.000001+00 BC', '4713-01-01 BC')";

static const char pg_zoo_pg_canon[] =
	"SELECT z.id::text, si::text, i::text, bi::text, n38::text, n::text, r::float8::text, "
	"d::text, t, encode(b, 'hex'), j::text, to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US'), "
	"to_char(tstz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), to_char(dt, 'YYYY-MM-DD'), "
	"extract(epoch FROM tm)::text, iv::text, u::text, array_to_json(ia)::text, "
	"array_to_json(ta)::text, CASE WHEN bo THEN '1' WHEN NOT bo THEN '0' END "
	"FROM zoo z ORDER BY z.id";
static const char pg_zoo_my_canon[] =
	"SELECT CAST(z.id AS CHAR), si, i, bi, n38, n, CAST(r AS DOUBLE), d, t, LOWER(HEX(b)), j, "
	"DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(tstz, '%Y-%m-%d %H:%i:%s.%f'), "
	"DATE_FORMAT(dt, '%Y-%m-%d'), "
	"IF(tm < 0, -1, 1) * (HOUR(tm) * 3600 + MINUTE(tm) * 60 + SECOND(tm) + "
	"MICROSECOND(tm) * 0.000001), iv, u, ia, ta, bo FROM zoo z ORDER BY z.id";
/* id si i bi n38 n r d t b j ts tstz dt tm iv u ia ta bo */
static const char pg_zoo_modes[] = "ssssnnddssjsssdssjjs";

static void pg_zoo_fill(PGconn *src)
{
	size_t i;

	for (i = 0; i < sizeof pg_zoo_rows / sizeof pg_zoo_rows[0]; i++)
		itest_pg_exec(src, pg_zoo_rows[i]);
}

START_TEST(zoo_pg_to_pg)
{
	PGconn *src, *dst;
	dbs_stream *s;
	itest_rows *a, *b;

	itest_pg_create_db(pp.src);
	itest_pg_create_db(pp.dst);
	src = itest_pg_connect(pp.src);
	itest_pg_exec(src, pg_zoo_ddl);
	itest_pg_exec(src, pg_nonfinite_ddl);
	s = start_from_pg(&pp, "zoo", "nonfinite", 0);
	pg_zoo_fill(src);
	itest_pg_exec(src, pg_nonfinite_rows);
	finish(s, PG_ZOO_EVENTS + 3);

	dst = itest_pg_connect(pp.dst);
	a = itest_pg_rows(src, pg_zoo_pg_canon);
	b = itest_pg_rows(dst, pg_zoo_pg_canon);
	ck_assert_uint_eq(a->nrows, 5);
	itest_rows_compare(a, b, pg_zoo_modes, src, "zoo PG -> PG");
	itest_rows_free(a);
	itest_rows_free(b);
	/* Same engine: the row text (types included) is identical as well. */
	itest_pg_compare_table(src, dst, "zoo", "id");
	itest_pg_compare_table(src, dst, "nonfinite", "id");
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

START_TEST(zoo_pg_to_mysql)
{
	PGconn *src;
	MYSQL *dst;
	dbs_stream *s;
	itest_rows *a, *b;

	itest_pg_create_db(pm.src);
	itest_my_drop_db(pm.dst);
	src = itest_pg_connect(pm.src);
	itest_pg_exec(src, pg_zoo_ddl);
	s = start_from_pg(&pm, "zoo", NULL, 1);
	pg_zoo_fill(src);
	finish(s, PG_ZOO_EVENTS);

	dst = itest_my_connect(pm.dst);
	a = itest_pg_rows(src, pg_zoo_pg_canon);
	b = itest_my_rows(dst, pg_zoo_my_canon);
	ck_assert_uint_eq(a->nrows, 5);
	itest_rows_compare(a, b, pg_zoo_modes, src, "zoo PG -> MySQL");
	itest_rows_free(a);
	itest_rows_free(b);
	mysql_close(dst);
	PQfinish(src);
}
END_TEST

/* ------------------------------------------------------------------ */
/* PostgreSQL values MySQL cannot hold                                 */
/* ------------------------------------------------------------------ */

static const struct {
	const char *type, *value, *expect;
} nonfinite[NONFINITE_CASES] = {
	{"double precision", "NaN", "nan"},
	{"double precision", "-Infinity", "infinity"},
	{"real", "Infinity", "infinity"},
	{"numeric", "NaN", "nan"},
};

static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

START_TEST(pg_nonfinite_to_mysql_fails)
{
	const names *n = &nf[_i];
	PGconn *src;
	MYSQL *dst;
	dbs_stream *s;
	dbs_stat st;
	char sql[512], buf[2048], *v;

	itest_pg_create_db(n->src);
	itest_my_drop_db(n->dst);
	src = itest_pg_connect(n->src);
	snprintf(sql, sizeof sql, "CREATE TABLE nf (id int PRIMARY KEY, v %s)",
	         nonfinite[_i].type);
	itest_pg_exec(src, sql);
	s = start_from_pg(n, "nf", NULL, 1);
	/* A finite row first: it must arrive; the stream stops at the next. */
	itest_pg_exec(src, "INSERT INTO nf VALUES (1, 1.5)");
	snprintf(sql, sizeof sql, "INSERT INTO nf VALUES (2, '%s')", nonfinite[_i].value);
	itest_pg_exec(src, sql);

	itest_wait_node_status(s, 1, DBS_STATUS_FAILED, 60, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED,
	              "%s '%s' into MySQL must fail the stream: %s", nonfinite[_i].type,
	              nonfinite[_i].value, buf);
	ck_assert_msg(contains_ci(st.target.message, nonfinite[_i].expect),
	              "the failure must name the value %s: %s", nonfinite[_i].value, buf);
	ck_assert_msg(contains_ci(st.target.message, "column v"),
	              "the failure must name the column: %s", buf);
	dbs_stream_stop(s);
	dbs_stream_free(s);

	/* Nothing arrived changed: row 2 is absent (row 1 may or may not be
	 * there, depending on whether both rode in one batch). */
	dst = itest_my_connect(NULL);
	snprintf(sql, sizeof sql,
	         "SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s' "
	         "AND table_name = 'nf'",
	         n->dst);
	v = itest_my_value(dst, sql);
	ck_assert_ptr_nonnull(v);
	if (strcmp(v, "1") == 0) {
		free(v);
		snprintf(sql, sizeof sql, "SELECT count(*) FROM `%s`.nf WHERE id = 2", n->dst);
		v = itest_my_value(dst, sql);
		ck_assert_ptr_nonnull(v);
		ck_assert_msg(strcmp(v, "0") == 0, "%s '%s' arrived as something else",
		              nonfinite[_i].type, nonfinite[_i].value);
	}
	free(v);
	mysql_close(dst);
	PQfinish(src);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The MySQL zoo                                                       */
/* ------------------------------------------------------------------ */

static const char my_zoo_ddl[] =
	"CREATE TABLE zoo (id INT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, "
	"siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, "
	"bi BIGINT, biu BIGINT UNSIGNED, dec65 DECIMAL(65,30), f FLOAT, d DOUBLE, dt DATE, "
	"dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR, b1 BIT(1), "
	"b64 BIT(64), bin BINARY(4), vb VARBINARY(16), bl BLOB, "
	"emo VARCHAR(64) CHARACTER SET utf8mb4, lat VARCHAR(32) CHARACTER SET latin1, "
	"s VARCHAR(16), tx TEXT, j JSON, e ENUM('a','b c','\xc3\xbc'), st SET('x','y','z'), "
	"g GEOMETRY) ENGINE=InnoDB";

static const char *const my_zoo_rows[] = {
	/* minimums */
	"INSERT INTO zoo VALUES (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, "
	"-9223372036854775808, 0, "
	"-99999999999999999999999999999999999.999999999999999999999999999999, -3.40282e38, "
	"-1.7976931348623157e308, '1000-01-01', '1000-01-01 00:00:00.000000', "
	"'1970-01-01 00:00:01.000000', '-838:59:59.000000', 1901, b'0', b'0', X'00000000', X'', "
	"X'00', '\xf0\x9f\x98\x80', '\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc \xc3\xbf', '', '', "
	"'{}', 'a', '', ST_GeomFromText('POINT(0 0)'))",
	/* maximums */
	"INSERT INTO zoo VALUES (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, "
	"4294967295, 9223372036854775807, 18446744073709551615, "
	"99999999999999999999999999999999999.999999999999999999999999999999, 3.40282e38, "
	"1.7976931348623157e308, '9999-12-31', '9999-12-31 23:59:59.999999', "
	"'2038-01-19 03:14:07.999999', '838:59:59.000000', 2155, b'1', "
	"b'1111111111111111111111111111111111111111111111111111111111111111', X'00FF00FF', "
	"X'000102FF00', X'00FF000000FF', "
	"'\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd emoji \xf0\x9f\x9a\x80 "
	"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7', "
	"'\xc3\x91" "and\xc3\xba" " fa\xc3\xa7" "ade', 'x', 'tab\\t nl\\n quote'' dq\" end', "
	"'{\"k\": [1, 2.5, -0.0001, true, false, null, \"\xc3\xbc\xc3\xa9 \xf0\x9f\x98\x80\", "
	"{\"n\": {\"m\": []}}], \"e\": \"\"}', 'b c', 'x,y,z', "
	"ST_GeomFromText('POINT(-180.5 90.25)'))",
	/* zeros and the smallest steps; NULL next to the empty strings of row 1 */
	"INSERT INTO zoo VALUES (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
	"0.000000000000000000000000000001, 1.17549e-38, 2.2250738585072014e-308, '2024-02-29', "
	"'2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012', '-00:00:00.500000', 0, b'1', "
	"b'1000000000000000000000000000000000000000000000000000000000000001', X'01020300', X'FF', "
	"X'', 'plain', '', NULL, NULL, 'null', '\xc3\xbc', 'y', "
	"ST_GeomFromText('POINT(1.5 -2.5)'))",
	/* NULL in every column */
	"INSERT INTO zoo (id) VALUES (4)",
	/* the remaining SET combination, and an update */
	"INSERT INTO zoo (id, e, st, tm, j) VALUES (5, 'b c', 'x,z', '12:00:00.000001', "
	"'[1, [2, [3, {\"\xe2\x82\xac\": \"\xe2\x82\xac\"}]]]')",
	"UPDATE zoo SET st = 'y,z', dec65 = -0.000000000000000000000000000001, "
	"emo = CONCAT(emo, '!') WHERE id IN (3, 5)",
};
#define MY_ZOO_EVENTS 7

/* 0 id, 1-10 integers, 11 dec65, 12 f, 13 d, 14 dt, 15 dtm, 16 ts, 17 tm,
 * 18 y, 19 b1, 20 b64, 21 bin, 22 vb, 23 bl, 24 emo, 25 lat, 26 s, 27 tx,
 * 28 j, 29 e, 30 st, 31 g */
static const char my_zoo_modes[] = "sssssssssss" "ndd" "sss" "d" "ssssssssss" "j" "sss";

static const char my_zoo_my_canon[] =
	"SELECT CAST(z.id AS CHAR), ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dec65, "
	"CAST(f AS DOUBLE), d, DATE_FORMAT(dt, '%Y-%m-%d'), "
	"DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), "
	"IF(tm < 0, -1, 1) * (HOUR(tm) * 3600 + MINUTE(tm) * 60 + SECOND(tm) + "
	"MICROSECOND(tm) * 0.000001), y + 0, CAST(b1 + 0 AS CHAR), LPAD(BIN(b64 + 0), 64, '0'), "
	"LOWER(HEX(bin)), LOWER(HEX(vb)), LOWER(HEX(bl)), emo, lat, s, tx, j, e, st, "
	"LOWER(HEX(ST_AsBinary(g))) FROM zoo z ORDER BY z.id";
static const char my_zoo_pg_canon[] =
	"SELECT z.id::text, ti::text, tiu::text, si::text, siu::text, mi::text, miu::text, "
	"i::text, iu::text, bi::text, biu::text, dec65::text, f::float8::text, d::text, "
	"to_char(dt, 'YYYY-MM-DD'), to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US'), "
	"to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
	"extract(epoch FROM tm)::text, y::text, CASE WHEN b1 THEN '1' WHEN NOT b1 THEN '0' END, "
	"b64::text, encode(bin, 'hex'), encode(vb, 'hex'), encode(bl, 'hex'), emo, lat, s, tx, "
	"j::text, e, st, encode(g, 'hex') FROM \"%s\".zoo z ORDER BY z.id";

static void my_zoo_fill(MYSQL *src)
{
	size_t i;

	for (i = 0; i < sizeof my_zoo_rows / sizeof my_zoo_rows[0]; i++)
		itest_my_exec(src, my_zoo_rows[i]);
}

static MYSQL *my_zoo_source(const names *n)
{
	MYSQL *src;

	itest_my_create_db(n->src);
	src = itest_my_connect(n->src);
	itest_my_exec(src, my_zoo_ddl);
	return src;
}

START_TEST(zoo_mysql_to_pg)
{
	MYSQL *src;
	PGconn *dst;
	dbs_stream *s;
	itest_rows *a, *b;
	char sql[2048];

	src = my_zoo_source(&mp);
	itest_pg_create_db(mp.dst);
	s = start_from_mysql(&mp, "zoo", 0);
	my_zoo_fill(src);
	finish(s, MY_ZOO_EVENTS);

	dst = itest_pg_connect(mp.dst);
	a = itest_my_rows(src, my_zoo_my_canon);
	ck_assert_int_lt(snprintf(sql, sizeof sql, my_zoo_pg_canon, mp.src), (int)sizeof sql);
	b = itest_pg_rows(dst, sql);
	ck_assert_uint_eq(a->nrows, 5);
	itest_rows_compare(a, b, my_zoo_modes, dst, "zoo MySQL -> PG");
	itest_rows_free(a);
	itest_rows_free(b);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

START_TEST(zoo_mysql_to_mysql)
{
	MYSQL *src, *dst;
	PGconn *pg;
	dbs_stream *s;
	itest_rows *a, *b;

	src = my_zoo_source(&mm);
	itest_my_drop_db(mm.dst);
	s = start_from_mysql(&mm, "zoo", 1);
	my_zoo_fill(src);
	finish(s, MY_ZOO_EVENTS);

	dst = itest_my_connect(mm.dst);
	pg = itest_pg_connect("postgres"); /* compares JSON documents */
	a = itest_my_rows(src, my_zoo_my_canon);
	b = itest_my_rows(dst, my_zoo_my_canon);
	ck_assert_uint_eq(a->nrows, 5);
	itest_rows_compare(a, b, my_zoo_modes, pg, "zoo MySQL -> MySQL");
	itest_rows_free(a);
	itest_rows_free(b);
	/* Same engine: the column types are the source's own. */
	{
		char sql[512], *ta, *tb;

		snprintf(sql, sizeof sql,
		         "SELECT GROUP_CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE ORDER BY ORDINAL_POSITION) "
		         "FROM information_schema.columns WHERE table_schema = '%s' "
		         "AND table_name = 'zoo'",
		         mm.src);
		ta = itest_my_value(src, sql);
		snprintf(sql, sizeof sql,
		         "SELECT GROUP_CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE ORDER BY ORDINAL_POSITION) "
		         "FROM information_schema.columns WHERE table_schema = '%s' "
		         "AND table_name = 'zoo'",
		         mm.dst);
		tb = itest_my_value(dst, sql);
		ck_assert_ptr_nonnull(ta);
		ck_assert_ptr_nonnull(tb);
		ck_assert_str_eq(ta, tb);
		free(ta);
		free(tb);
	}
	PQfinish(pg);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

/*
 * A MySQL zero date has no PostgreSQL value. Under the default policy
 * (target.options.zeroDates "fail") the stream must stop naming the
 * value, never write something else.
 */
START_TEST(mysql_zero_date_to_pg_fails)
{
	MYSQL *src;
	PGconn *dst;
	dbs_stream *s;
	dbs_stat st;
	char buf[2048], sql[512], *v;

	itest_my_create_db(zd.src);
	itest_pg_create_db(zd.dst);
	src = itest_my_connect(zd.src);
	itest_my_exec(src, "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'");
	itest_my_exec(src, "CREATE TABLE zd (id INT PRIMARY KEY, d DATE, dt DATETIME(6))");
	s = start_from_mysql(&zd, "zd", 0);
	itest_my_exec(src, "INSERT INTO zd VALUES (1, '2024-01-01', '2024-01-01 00:00:00')");
	itest_my_exec(src, "INSERT INTO zd VALUES (2, '0000-00-00', '2024-00-10 12:00:00')");

	itest_wait_node_status(s, 1, DBS_STATUS_FAILED, 60, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED,
	              "a zero date into PostgreSQL must fail the stream: %s", buf);
	ck_assert_msg(strstr(st.target.message, "0000-00-00") != NULL &&
	                      contains_ci(st.target.message, "column d"),
	              "the failure must name the column and the value: %s", buf);
	dbs_stream_stop(s);
	dbs_stream_free(s);

	dst = itest_pg_connect(zd.dst);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\".zd WHERE id = 2", zd.src);
	v = itest_pg_value(dst, sql);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "0");
	free(v);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

/*
 * Rows a MySQL source inserts that the PostgreSQL target already holds
 * (a replay, or a target filled beforehand): the direct COPY meets the key
 * and the run goes through the staging table's upsert, which must convert
 * values exactly as the direct path does. Short runs take the pipelined
 * single-row upsert instead: both are exercised.
 */
START_TEST(mysql_to_pg_upsert_existing_rows)
{
	MYSQL *src;
	PGconn *dst;
	dbs_stream *s;
	itest_rows *a, *b;
	char sql[1024];
	static const char my_canon[] =
		"SELECT CAST(u.id AS CHAR), v, LPAD(BIN(b + 0), 5, '0'), DATE_FORMAT(d, '%Y-%m-%d'), "
		"LOWER(HEX(x)), CAST(n AS CHAR) FROM up u ORDER BY u.id";
	static const char pg_canon[] =
		"SELECT u.id::text, v, b::text, to_char(d, 'YYYY-MM-DD'), encode(x, 'hex'), n::text "
		"FROM \"%s\".up u ORDER BY u.id";

	itest_my_create_db(up.src);
	itest_pg_create_db(up.dst);
	src = itest_my_connect(up.src);
	itest_my_exec(src, "CREATE TABLE up (id INT PRIMARY KEY, v VARCHAR(10), b BIT(5), d DATE, "
	                   "x VARBINARY(8), n BIGINT UNSIGNED)");
	dst = itest_pg_connect(up.dst);
	/* The mapped table (docs/type-mapping.md), holding other values under
	 * the same keys. */
	snprintf(sql, sizeof sql,
	         "CREATE SCHEMA \"%s\"; CREATE TABLE \"%s\".up (id integer PRIMARY KEY, "
	         "v character varying(10), b bit varying(5), d date, x bytea, n numeric(20,0)); "
	         "INSERT INTO \"%s\".up SELECT g, 'old', '1'::varbit, '2000-01-01', '\\xff', 1 "
	         "FROM generate_series(1, 210) g",
	         up.src, up.src, up.src);
	itest_pg_exec(dst, sql);
	s = start_from_mysql(&up, "up", 0);
	itest_my_exec(src, "INSERT INTO up SELECT seq, CONCAT('v', seq), seq % 32, "
	                   "DATE_ADD('2024-02-28', INTERVAL seq DAY), CONCAT(X'00', CHAR(seq % 256)), "
	                   "18446744073709551615 - seq FROM seq_1_to_200");
	itest_my_exec(src, "INSERT INTO up VALUES (201, '', b'11111', '1000-01-01', X'', 0), "
	                   "(202, NULL, NULL, NULL, NULL, NULL)");
	itest_my_exec(src, "INSERT INTO up VALUES (205, 'five', b'00001', '9999-12-31', X'0000', 5)");
	finish(s, 203);

	a = itest_my_rows(src, my_canon);
	snprintf(sql, sizeof sql, pg_canon, up.src);
	b = itest_pg_rows(dst, sql);
	/* Rows 203, 204 and 206..210 were never in the source. */
	ck_assert_uint_eq(b->nrows, 210);
	ck_assert_uint_eq(a->nrows, 203);
	itest_rows_free(b);
	snprintf(sql, sizeof sql, "SELECT u.id::text, v, b::text, to_char(d, 'YYYY-MM-DD'), "
	         "encode(x, 'hex'), n::text FROM \"%s\".up u WHERE id <= 202 OR id = 205 "
	         "ORDER BY u.id", up.src);
	b = itest_pg_rows(dst, sql);
	itest_rows_compare(a, b, "", NULL, "up MySQL -> PG over existing rows");
	itest_rows_free(a);
	itest_rows_free(b);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_type_zoo");
	TCase *tc = tcase_create("type_zoo");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, zoo_pg_to_pg);
	tcase_add_test(tc, zoo_pg_to_mysql);
	tcase_add_loop_test(tc, pg_nonfinite_to_mysql_fails, 0, NONFINITE_CASES);
	tcase_add_test(tc, zoo_mysql_to_pg);
	tcase_add_test(tc, zoo_mysql_to_mysql);
	tcase_add_test(tc, mysql_zero_date_to_pg_fails);
	tcase_add_test(tc, mysql_to_pg_upsert_existing_rows);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
