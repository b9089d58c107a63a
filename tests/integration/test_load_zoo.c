/*
 * Mode convert at size, in the four directions: 500,000 rows over four
 * tables per source (DBS_LOAD_ZOO_ROWS scales it), one of them a type zoo
 * (every common type of the engine, with edge values in its first rows:
 * minimums, maximums, NULLs, empty strings, awkward text and bytes, nested
 * JSON), a parent and a child table joined by a foreign key, and a table
 * with a two-column key. verify (the library call behind dbs-cli verify)
 * finds no difference, the edge rows compare value for value, and the
 * target has the secondary indexes and the foreign key. Prints each
 * direction's time and rate (informative: timings never fail a test).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

enum { PG = 0, MY = 1 };

typedef struct zoo_case {
	int src, dst;
	char src_db[64], dst_db[64];
} zoo_case;

static zoo_case dirs[4];
static unsigned long zoo_rows, parent_rows, child_rows, pair_rows;

static void setup(void)
{
	static const char *const tags[4] = {"lz_pp", "lz_mp", "lz_pm", "lz_mm"};
	char tag[32];
	const char *env = getenv("DBS_LOAD_ZOO_ROWS");
	unsigned long total = env ? strtoul(env, NULL, 10) : 500000;
	if (total < 1000)
		total = 1000;
	zoo_rows = total * 2 / 5;
	parent_rows = total / 10;
	child_rows = total * 2 / 5;
	pair_rows = total - zoo_rows - parent_rows - child_rows;
	for (int i = 0; i < 4; i++) {
		dirs[i].src = i == 0 || i == 2 ? PG : MY;
		dirs[i].dst = i < 2 ? PG : MY;
		snprintf(tag, sizeof tag, "%s_src", tags[i]);
		itest_name(dirs[i].src_db, sizeof dirs[i].src_db, tag);
		snprintf(tag, sizeof tag, "%s_dst", tags[i]);
		itest_name(dirs[i].dst_db, sizeof dirs[i].dst_db, tag);
	}
}

static void teardown(void)
{
	if (getenv("DBS_LOAD_ZOO_KEEP"))
		return;
	for (int i = 0; i < 4; i++) {
		itest_pg_drop_db(dirs[i].src_db);
		itest_pg_drop_db(dirs[i].dst_db);
		itest_my_drop_db(dirs[i].src_db);
		itest_my_drop_db(dirs[i].dst_db);
	}
}

/* ---- MySQL source ---- */

static const char my_zoo_ddl[] =
	"CREATE TABLE zoo (id BIGINT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, "
	"miu MEDIUMINT UNSIGNED, i INT, biu BIGINT UNSIGNED, dec30 DECIMAL(30,10), f FLOAT, "
	"d DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), "
	"y YEAR, b1 BIT(1), b64 BIT(64), bin BINARY(4), vb VARBINARY(16), bl BLOB, "
	"emo VARCHAR(64) CHARACTER SET utf8mb4, lat VARCHAR(32) CHARACTER SET latin1, tx TEXT, "
	"j JSON, e ENUM('a','b c','\xc3\xbc'), st SET('x','y','z'), g GEOMETRY NULL, "
	"KEY zoo_dtm (dtm), UNIQUE KEY zoo_vb (vb)) ENGINE=InnoDB";

/* Edge values first (ids 1-4), then generated rows. */
static const char *const my_zoo_edges[] = {
	"INSERT INTO zoo VALUES (1, -128, 0, -32768, 0, -2147483648, 0, "
	"-99999999999999999999.9999999999, -3.40282e38, -1.7976931348623157e308, '1000-01-01', "
	"'1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '-838:59:59.000000', 1901, "
	"b'0', b'0', X'00000000', X'', X'00', '\xf0\x9f\x98\x80', '\xc3\xa0\xc3\xa9 \xc3\xbf', '', "
	"'{}', 'a', '', ST_GeomFromText('POINT(0 0)'))",
	"INSERT INTO zoo VALUES (2, 127, 255, 32767, 16777215, 2147483647, 18446744073709551615, "
	"99999999999999999999.9999999999, 3.40282e38, 1.7976931348623157e308, '9999-12-31', "
	"'9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59.000000', 2155, "
	"b'1', b'1111111111111111111111111111111111111111111111111111111111111111', X'00FF00FF', "
	"X'000102FF00', X'00FF000000FF', 'emoji \xf0\x9f\x9a\x80 "
	"\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7', "
	"'\xc3\x91" "and\xc3\xba', 'tab\\t nl\\n quote'' dq\" bs\\\\ end', "
	"'{\"k\": [1, 2.5, -0.0001, true, false, null, \"\xc3\xbc \xf0\x9f\x98\x80\", "
	"{\"n\": {\"m\": []}}], \"e\": \"\"}', 'b c', 'x,y,z', "
	"ST_GeomFromText('POINT(-180.5 90.25)'))",
	"INSERT INTO zoo (id, vb) VALUES (3, X'03')",
	"INSERT INTO zoo VALUES (4, 0, 0, 0, 0, 0, 0, 0.0000000001, 1.17549e-38, "
	"2.2250738585072014e-308, '2024-02-29', '2024-02-29 12:34:56.789012', "
	"'2024-02-29 12:34:56.789012', '-00:00:00.500000', 2000, b'1', "
	"b'1000000000000000000000000000000000000000000000000000000000000001', X'01020300', X'04', "
	"'', 'plain', '', NULL, '[1, [2, [3, {\"\xe2\x82\xac\": \"\xe2\x82\xac\"}]]]', "
	"'\xc3\xbc', 'x,z', NULL)",
};

static void my_fill(const char *db)
{
	char sql[4096];
	itest_my_create_db(db);
	MYSQL *m = itest_my_connect(db);
	itest_my_exec(m, my_zoo_ddl);
	for (size_t i = 0; i < sizeof my_zoo_edges / sizeof my_zoo_edges[0]; i++)
		itest_my_exec(m, my_zoo_edges[i]);
	snprintf(sql, sizeof sql,
	         "INSERT INTO zoo SELECT seq + 10, CAST(seq %% 256 AS SIGNED) - 128, seq %% 256, "
	         "CAST(seq %% 65536 AS SIGNED) - 32768, seq %% 16777216, CAST(seq AS SIGNED) * "
	         "IF(seq %% 2, 1, -1), seq * 1000003, seq / 7, seq / 3, seq / 11, '2000-01-01' + "
	         "INTERVAL (seq %% 3650) DAY, '2001-01-01 00:00:00' + INTERVAL seq SECOND + "
	         "INTERVAL (seq %% 1000000) MICROSECOND, IF(seq %% 9 = 0, NULL, '1999-12-31 "
	         "23:00:00' + INTERVAL seq MINUTE), SEC_TO_TIME((CAST(seq AS SIGNED) %% 6000000) - "
	         "3000000), 1901 + seq %% 255, seq %% 2, seq * 2654435761, UNHEX(LPAD(HEX(seq "
	         "%% 4294967296), 8, '0')), UNHEX(LPAD(HEX(seq), 16, '0')), IF(seq %% 5 = 0, NULL, "
	         "REPEAT(UNHEX(HEX(seq)), seq %% 5)), CONCAT('r', seq, ' \xe2\x82\xac'), "
	         "CONCAT('\xc3\xa9t\xc3\xa9 ', seq %% 100), IF(seq %% 7 = 0, NULL, "
	         "CONCAT('line\\n', seq, '\\ttab')), JSON_OBJECT('n', seq, 'a', JSON_ARRAY(seq, "
	         "'x')), ELT(1 + seq %% 3, 'a', 'b c', '\xc3\xbc'), ELT(1 + seq %% 4, '', 'x', 'y,z', "
	         "'x,y,z'), IF(seq %% 3 = 0, ST_GeomFromText(CONCAT('POINT(', seq %% 90, ' ', "
	         "seq %% 45, ')')), NULL) FROM seq_1_to_%lu",
	         zoo_rows - 4);
	itest_my_exec(m, sql);
	itest_my_exec(m, "CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, "
	                 "UNIQUE KEY parent_name (name)) ENGINE=InnoDB");
	snprintf(sql, sizeof sql, "INSERT INTO parent SELECT seq, CONCAT('parent ', seq) FROM "
	                          "seq_1_to_%lu", parent_rows);
	itest_my_exec(m, sql);
	itest_my_exec(m, "CREATE TABLE child (id BIGINT PRIMARY KEY, parent_id INT NOT NULL, "
	                 "amount DECIMAL(12,2), KEY child_amount (amount), CONSTRAINT "
	                 "child_parent FOREIGN KEY (parent_id) REFERENCES parent (id)) "
	                 "ENGINE=InnoDB");
	snprintf(sql, sizeof sql, "INSERT INTO child SELECT seq, 1 + seq %% %lu, seq / 3 FROM "
	                          "seq_1_to_%lu", parent_rows, child_rows);
	itest_my_exec(m, sql);
	itest_my_exec(m, "CREATE TABLE pairs (a INT, b BIGINT UNSIGNED, v VARCHAR(20), PRIMARY "
	                 "KEY (a, b)) ENGINE=InnoDB");
	snprintf(sql, sizeof sql, "INSERT INTO pairs SELECT CAST(seq %% 10 AS SIGNED) - 5, seq, "
	                          "CONCAT('v', seq) FROM seq_1_to_%lu", pair_rows);
	itest_my_exec(m, sql);
	mysql_close(m);
}

/* ---- PostgreSQL source ---- */

static const char *const pg_zoo_sql[] = {
	"CREATE TABLE zoo (id bigint PRIMARY KEY, si smallint, i integer, bi bigint, "
	"n38 numeric(38,10), n numeric, r real, d double precision, t text, b bytea, j jsonb, "
	"ts timestamp(6), tstz timestamptz, dt date, tm time, iv interval, u uuid, ia int[], "
	"ta text[], bo boolean, vc varchar(20), ch char(5))",
	"CREATE INDEX zoo_ts ON zoo (ts)",
	"CREATE UNIQUE INDEX zoo_vc ON zoo (vc)",
	"INSERT INTO zoo VALUES (1, -32768, -2147483648, -9223372036854775808, "
	"-9999999999999999999999999999.9999999999, -123456789012345678901234567890.123456789, "
	"-3.4028235e38, -1.7976931348623157e308, E'tab\\t nl\\n cr\\r bs\\\\ q'' dq\" "
	"\\u00a0 \\u200b', '\\x00'::bytea, '{\"\": \"\", \"a\": {\"b\": [[[]]]}}', "
	"'0001-01-01 00:00:00', '0001-01-01 00:00:00+00', '0001-01-01', '00:00:00', "
	"'-178000000 years', '00000000-0000-0000-0000-000000000000', '{}', '{}', false, 'e1', "
	"'a')",
	"INSERT INTO zoo VALUES (2, 32767, 2147483647, 9223372036854775807, "
	"9999999999999999999999999999.9999999999, "
	"12345678901234567890123456789012345.123456789012345678901234567890, 3.4028235e38, 1.7976931348623157e308, "
	"E'\\u65e5\\u672c\\u8a9e \\U0001F600 e\\u0301', (SELECT string_agg(set_byte('\\x00'::bytea, "
	"0, g), ''::bytea ORDER BY g) FROM generate_series(0, 255) g), "
	"E'{\"k\": [1, 2.5, -0.0001, true, null, \"\\u00fc \\U0001F600\"], \"esc\": "
	"\"\\\\\"\\\\\\\\/\\\\b\\\\t\"}', '9999-12-31 23:59:59.999999', "
	"'9999-12-31 23:59:59.999999+00', '9999-12-31', '23:59:59.999999', "
	"'1 year 2 mons 3 days 04:05:06.789012', 'ffffffff-ffff-ffff-ffff-ffffffffffff', "
	"'{2147483647,-2147483648,NULL,0}', E'{\"a\",\"b,c\",\"d\\\\\"e\",NULL,\"\",\"{x}\"}', "
	"true, 'e2', 'abcde')",
	"INSERT INTO zoo (id, vc) VALUES (3, 'e3')",
	"INSERT INTO zoo VALUES (4, 0, 0, 0, 0.0000000001, 0, 1.17549435e-38, "
	"2.2250738585072014e-308, '', '\\x'::bytea, '[]', '1970-01-01 00:00:00.000001', "
	"'1969-12-31 23:59:59.999999+00', '1970-01-01', '24:00:00', '00:00:00', "
	"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{1,2},{3,4}}', '{\"x\"}', false, 'e4', '')",
};

static void pg_fill(const char *db)
{
	char sql[4096];
	itest_pg_create_db(db);
	PGconn *p = itest_pg_connect(db);
	for (size_t i = 0; i < sizeof pg_zoo_sql / sizeof pg_zoo_sql[0]; i++)
		itest_pg_exec(p, pg_zoo_sql[i]);
	snprintf(sql, sizeof sql,
	         "INSERT INTO zoo SELECT g + 10, (g %% 65536 - 32768)::smallint, g * (1 - 2 * (g "
	         "%% 2)), g::bigint * 1000003, g / 7.0, g::numeric / 13, g / 3.0, g / 11.0, "
	         "CASE WHEN g %% 7 = 0 THEN NULL ELSE E'line\\n' || g || E'\\ttab \\u20ac' END, "
	         "CASE WHEN g %% 5 = 0 THEN NULL ELSE decode(lpad(to_hex(g), 8, '0'), 'hex') END, "
	         "jsonb_build_object('n', g, 'a', jsonb_build_array(g, 'x')), '2001-01-01'::timestamp "
	         "+ g * interval '1 second 1 microsecond', CASE WHEN g %% 9 = 0 THEN NULL ELSE "
	         "'1999-12-31 23:00:00+00'::timestamptz + g * interval '1 minute' END, "
	         "'2000-01-01'::date + g %% 3650, '00:00:00'::time + g * interval '1.5 second', "
	         "g * interval '1 hour 1 microsecond', md5(g::text)::uuid, ARRAY[g, -g], "
	         "ARRAY['t' || g, NULL], g %% 2 = 0, 'v' || g, (g %% 1000)::text FROM "
	         "generate_series(1, %lu) g",
	         zoo_rows - 4);
	itest_pg_exec(p, sql);
	itest_pg_exec(p, "CREATE TABLE parent (id int PRIMARY KEY, name varchar(40) NOT NULL)");
	itest_pg_exec(p, "CREATE UNIQUE INDEX parent_name ON parent (name)");
	snprintf(sql, sizeof sql, "INSERT INTO parent SELECT g, 'parent ' || g FROM "
	                          "generate_series(1, %lu) g", parent_rows);
	itest_pg_exec(p, sql);
	itest_pg_exec(p, "CREATE TABLE child (id bigint PRIMARY KEY, parent_id int NOT NULL "
	                 "REFERENCES parent (id), amount numeric(12,2))");
	itest_pg_exec(p, "CREATE INDEX child_amount ON child (amount)");
	snprintf(sql, sizeof sql, "INSERT INTO child SELECT g, 1 + g %% %lu, round(g / 3.0, 2) "
	                          "FROM generate_series(1, %lu) g", parent_rows, child_rows);
	itest_pg_exec(p, sql);
	itest_pg_exec(p, "CREATE TABLE pairs (a int, b bigint, v varchar(20), PRIMARY KEY (a, b))");
	snprintf(sql, sizeof sql, "INSERT INTO pairs SELECT g %% 10 - 5, g, 'v' || g FROM "
	                          "generate_series(1, %lu) g", pair_rows);
	itest_pg_exec(p, sql);
	PQfinish(p);
}

/* ---- the edge rows, value for value ---- */

/* Canonical text of zoo ids 1-4 on each side (as the type zoo suite reads
 * them: key first, ordered by key). */
static const char my_edges_my[] =
	"SELECT CAST(id AS CHAR), ti, tiu, si, miu, i, biu, dec30, CAST(f AS DOUBLE), d, "
	"DATE_FORMAT(dt, '%Y-%m-%d'), DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f'), "
	"DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), IF(tm < 0, -1, 1) * (HOUR(tm) * 3600 + "
	"MINUTE(tm) * 60 + SECOND(tm) + MICROSECOND(tm) * 0.000001), y + 0, CAST(b1 + 0 AS CHAR), "
	"LPAD(BIN(b64 + 0), 64, '0'), LOWER(HEX(bin)), LOWER(HEX(vb)), LOWER(HEX(bl)), emo, lat, "
	"tx, j, e, st, LOWER(HEX(ST_AsBinary(g))) FROM zoo WHERE id <= 4 ORDER BY id";
static const char my_edges_pg[] =
	"SELECT id::text, ti::text, tiu::text, si::text, miu::text, i::text, biu::text, "
	"dec30::text, f::float8::text, d::text, to_char(dt, 'YYYY-MM-DD'), "
	"to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US'), to_char(ts AT TIME ZONE 'UTC', "
	"'YYYY-MM-DD HH24:MI:SS.US'), extract(epoch FROM tm)::text, y::text, CASE WHEN b1 THEN "
	"'1' WHEN NOT b1 THEN '0' END, b64::text, encode(bin, 'hex'), encode(vb, 'hex'), "
	"encode(bl, 'hex'), emo, lat, tx, j::text, e, st, encode(g, 'hex') FROM \"%s\".zoo "
	"WHERE id <= 4 ORDER BY id";
static const char my_edges_modes[] = "sssssssnddsssdsssssssssjsss";

static const char pg_edges_pg[] =
	"SELECT id::text, si::text, i::text, bi::text, n38::text, n::text, r::float8::text, "
	"d::text, t, encode(b, 'hex'), j::text, to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US'), "
	"to_char(tstz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), to_char(dt, "
	"'YYYY-MM-DD'), extract(epoch FROM tm)::text, iv::text, u::text, "
	"array_to_json(ia)::text, array_to_json(ta)::text, CASE WHEN bo THEN '1' WHEN NOT bo "
	"THEN '0' END, vc, rtrim(ch) FROM zoo WHERE id <= 4 ORDER BY id";
static const char pg_edges_my[] =
	"SELECT CAST(id AS CHAR), si, i, bi, n38, n, CAST(r AS DOUBLE), d, t, LOWER(HEX(b)), j, "
	"DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(tstz, '%Y-%m-%d %H:%i:%s.%f'), "
	"DATE_FORMAT(dt, '%Y-%m-%d'), IF(tm < 0, -1, 1) * (HOUR(tm) * 3600 + MINUTE(tm) * 60 + "
	"SECOND(tm) + MICROSECOND(tm) * 0.000001), iv, u, ia, ta, bo, vc, ch FROM zoo WHERE id "
	"<= 4 ORDER BY id";
static const char pg_edges_modes[] = "ssssnnddssjsssdssjjsss";

static void compare_edges(const zoo_case *c)
{
	char sql[2048];
	itest_rows *a, *b;
	PGconn *pg = itest_pg_connect(c->dst == PG ? c->dst_db : "postgres");
	if (c->src == MY) {
		MYSQL *src = itest_my_connect(c->src_db);
		a = itest_my_rows(src, my_edges_my);
		if (c->dst == PG) {
			snprintf(sql, sizeof sql, my_edges_pg, c->src_db);
			b = itest_pg_rows(pg, sql);
		} else {
			MYSQL *dst = itest_my_connect(c->dst_db);
			b = itest_my_rows(dst, my_edges_my);
			mysql_close(dst);
		}
		mysql_close(src);
		ck_assert_uint_eq(a->nrows, 4);
		itest_rows_compare(a, b, my_edges_modes, pg, "zoo edges from MySQL");
	} else {
		PGconn *src = itest_pg_connect(c->src_db);
		a = itest_pg_rows(src, pg_edges_pg);
		if (c->dst == PG) {
			b = itest_pg_rows(pg, pg_edges_pg);
		} else {
			MYSQL *dst = itest_my_connect(c->dst_db);
			b = itest_my_rows(dst, pg_edges_my);
			mysql_close(dst);
		}
		ck_assert_uint_eq(a->nrows, 4);
		itest_rows_compare(a, b, pg_edges_modes, src, "zoo edges from PostgreSQL");
		PQfinish(src);
	}
	itest_rows_free(a);
	itest_rows_free(b);
	PQfinish(pg);
}

/* The target's secondary indexes (table, column, unique) and foreign key. */
static void check_structure(const zoo_case *c)
{
	char sql[1024], *v;
	const char *schema = c->src == MY ? c->src_db : "public";
	const struct {
		const char *table, *column;
		int unique;
	} want[] = {
		{"zoo", c->src == MY ? "dtm" : "ts", 0},
		{"zoo", c->src == MY ? "vb" : "vc", 1},
		{"parent", "name", 1},
		{"child", "amount", 0},
	};
	PGconn *p = c->dst == PG ? itest_pg_connect(c->dst_db) : NULL;
	MYSQL *m = c->dst == MY ? itest_my_connect(c->dst_db) : NULL;
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
		if (p) {
			snprintf(sql, sizeof sql,
			         "SELECT count(*) FROM pg_indexes WHERE schemaname = '%s' AND tablename = "
			         "'%s' AND indexdef LIKE 'CREATE %sINDEX %% (%s)'",
			         schema, want[k].table, want[k].unique ? "UNIQUE " : "", want[k].column);
			v = itest_pg_value(p, sql);
		} else {
			snprintf(sql, sizeof sql,
			         "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
			         "DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s' AND INDEX_NAME "
			         "<> 'PRIMARY' AND NON_UNIQUE = %d",
			         want[k].table, want[k].column, !want[k].unique);
			v = itest_my_value(m, sql);
		}
		ck_assert_msg(v && strcmp(v, "1") == 0, "no %sindex on %s(%s) at the target",
		              want[k].unique ? "unique " : "", want[k].table, want[k].column);
		free(v);
	}
	if (p) {
		snprintf(sql, sizeof sql,
		         "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = "
		         "'\"%s\".child'::regclass AND confrelid = '\"%s\".parent'::regclass",
		         schema, schema);
		v = itest_pg_value(p, sql);
	} else {
		v = itest_my_value(m, "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS "
		                      "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'child' "
		                      "AND REFERENCED_TABLE_NAME = 'parent'");
	}
	ck_assert_msg(v && strcmp(v, "1") == 0, "no foreign key child -> parent at the target");
	free(v);
	if (p)
		PQfinish(p);
	if (m)
		mysql_close(m);
}

START_TEST(convert_zoo)
{
	zoo_case *c = &dirs[_i];
	char src[512], dst[512], config[2048], buf[2048];
	unsigned long total = zoo_rows + parent_rows + child_rows + pair_rows;
	if (c->src == MY)
		my_fill(c->src_db);
	else
		pg_fill(c->src_db);
	if (c->dst == PG) {
		itest_pg_create_db(c->dst_db);
		itest_pg_uri(dst, sizeof dst, c->dst_db, NULL, NULL, 0);
	} else {
		itest_my_drop_db(c->dst_db);
		itest_my_dsn(dst, sizeof dst, c->dst_db);
	}
	if (c->src == MY)
		itest_my_dsn(src, sizeof src, c->src_db);
	else
		itest_pg_uri(src, sizeof src, c->src_db, NULL, NULL, 0);
	snprintf(config, sizeof config,
	         "{\"source\": {\"type\": \"%s\", \"mode\": \"convert\", \"connection\": \"%s\"}, "
	         "\"target\": {\"type\": \"%s\", \"connection\": \"%s\"}}",
	         c->src == MY ? "mysql" : "postgresql", src, c->dst == MY ? "mysql" : "postgresql",
	         dst);
	int64_t t0 = itest_now_ms();
	dbs_stream *s = itest_stream_start(config);
	ck_assert_msg(dbs_stream_wait(s, 600000) == 0, "the convert did not end in 600 s");
	int64_t ms = itest_now_ms() - t0;
	dbs_stat st;
	itest_stat(s, &st);
	dbs_stream_free(s);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_FINISHED &&
	                  st.target.status == DBS_STATUS_FINISHED && st.load.rows == total,
	              "expected FINISHED with %lu rows: %s", total, buf);
	printf("%s -> %s: %lu rows in %lld ms (%.0f rows/s), %llu chunks\n",
	       c->src == MY ? "mysql" : "postgresql", c->dst == MY ? "mysql" : "postgresql", total,
	       (long long)ms, ms ? (double)total * 1000.0 / (double)ms : 0.0,
	       (unsigned long long)st.load.chunks);
	ck_assert_uint_eq(itest_verify_differences(config), 0);
	compare_edges(c);
	check_structure(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("load_zoo");
	TCase *tc = tcase_create("four directions");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 900);
	tcase_add_loop_test(tc, convert_zoo, 0, 4);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
