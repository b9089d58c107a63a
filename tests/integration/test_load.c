/*
 * Mode convert (the initial load alone) in the four directions: tables
 * with an integer key split in chunks, a composite key, a text key and no
 * key (one chunk each), a foreign key and secondary indexes made after
 * the data; verify finds no difference, the target's catalog has the
 * indexes and the foreign key, the stat counts every row and chunk.
 * Then what a user gets wrong, each refused before anything is written:
 * a query that is not a SELECT or reads another table, a table that does
 * not exist, a non-empty target table, a source user without SELECT; and
 * what target.options.writeMode, noCreateTables and noCreateIndexes do,
 * a custom query, and limits.numberOfEvents cutting a chunk that a second
 * run of the same stream finishes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

enum { PG = 0, MY = 1 };

#define ROWS 20000
#define CHUNK_ROWS "3000"

typedef struct load_case {
	int src, dst;
	char src_db[64], dst_db[64];
} load_case;

static load_case dirs[4];
static char my_db[64], pg_db[64], my_dst[64], pg_dst[64], role[64];

static void setup(void)
{
	static const char *const tags[4] = {"ld_pp", "ld_mp", "ld_pm", "ld_mm"};
	char tag[32];
	for (int i = 0; i < 4; i++) {
		dirs[i].src = i == 0 || i == 2 ? PG : MY;
		dirs[i].dst = i < 2 ? PG : MY;
		snprintf(tag, sizeof tag, "%s_src", tags[i]);
		itest_name(dirs[i].src_db, sizeof dirs[i].src_db, tag);
		snprintf(tag, sizeof tag, "%s_dst", tags[i]);
		itest_name(dirs[i].dst_db, sizeof dirs[i].dst_db, tag);
	}
	itest_name(my_db, sizeof my_db, "ldx_my");
	itest_name(pg_db, sizeof pg_db, "ldx_pg");
	itest_name(my_dst, sizeof my_dst, "ldx_mdst");
	itest_name(pg_dst, sizeof pg_dst, "ldx_pdst");
	itest_name(role, sizeof role, "ldx_role");
}

static void teardown(void)
{
	for (int i = 0; i < 4; i++) {
		itest_pg_drop_db(dirs[i].src_db);
		itest_pg_drop_db(dirs[i].dst_db);
		itest_my_drop_db(dirs[i].src_db);
		itest_my_drop_db(dirs[i].dst_db);
	}
	itest_pg_drop_db(pg_db);
	itest_pg_drop_db(pg_dst);
	itest_my_drop_db(my_db);
	itest_my_drop_db(my_dst);
	itest_pg_drop_role(role);
	MYSQL *m = itest_my_connect(NULL);
	char sql[256];
	snprintf(sql, sizeof sql, "DROP USER IF EXISTS '%s'@'%%'", role);
	mysql_query(m, sql);
	mysql_close(m);
}

/* ---- the source tables ---- */

static const char *const my_ddl[] = {
	"CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, UNIQUE KEY "
	"parent_name (name)) ENGINE=InnoDB",
	"CREATE TABLE child (id BIGINT PRIMARY KEY, parent_id INT NOT NULL, amount "
	"DECIMAL(12,2), at DATETIME(6), ts TIMESTAMP(3) NULL, note TEXT, raw VARBINARY(16), "
	"flag TINYINT(1), e ENUM('a','b'), j JSON, KEY child_amount (amount), CONSTRAINT "
	"child_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE) "
	"ENGINE=InnoDB",
	"CREATE TABLE pairs (a INT, b BIGINT UNSIGNED, v VARCHAR(20), PRIMARY KEY (a, b)) "
	"ENGINE=InnoDB",
	"CREATE TABLE words (w VARCHAR(30) PRIMARY KEY, n INT) ENGINE=InnoDB",
	"CREATE TABLE loose (x INT, y TEXT) ENGINE=InnoDB",
	"INSERT INTO parent SELECT seq, CONCAT('parent ', seq) FROM seq_1_to_500",
	"INSERT INTO child SELECT seq, 1 + seq % 500, seq / 3, '2024-02-29 12:34:56.123456' + "
	"INTERVAL seq SECOND, IF(seq % 5 = 0, NULL, '2001-02-03 04:05:06.789' + INTERVAL seq "
	"MINUTE), IF(seq % 7 = 0, NULL, CONCAT('note\\t', seq, '\\n\xc3\xa9')), UNHEX(LPAD(HEX(seq), 8, "
	"'0')), seq % 2, IF(seq % 3, 'a', 'b'), JSON_OBJECT('k', seq, 's', 'x\"y') FROM "
	"seq_1_to_20000",
	"INSERT INTO pairs SELECT CAST(seq % 10 AS SIGNED) - 5, seq, CONCAT('v', seq) FROM seq_1_to_7000",
	"INSERT INTO words SELECT CONCAT('w', seq), seq FROM seq_1_to_300",
	"INSERT INTO loose VALUES (1, 'a'), (1, 'a'), (NULL, NULL)",
};

static const char *const pg_ddl[] = {
	"CREATE TABLE parent (id int PRIMARY KEY, name varchar(40) NOT NULL)",
	"CREATE UNIQUE INDEX parent_name ON parent (name)",
	"CREATE TABLE child (id bigint PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id) "
	"ON DELETE CASCADE, amount numeric(12,2), at timestamp(6), ts timestamptz(3), note text, "
	"raw bytea, flag boolean, e text, j jsonb)",
	"CREATE INDEX child_amount ON child (amount)",
	"CREATE TABLE pairs (a int, b bigint, v varchar(20), PRIMARY KEY (a, b))",
	"CREATE TABLE words (w varchar(30) PRIMARY KEY, n int)",
	"CREATE TABLE loose (x int, y text)",
	"INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, 500) g",
	"INSERT INTO child SELECT g, 1 + g % 500, round(g / 3.0, 2), '2024-02-29 "
	"12:34:56.123456'::timestamp + g * interval '1 second', CASE WHEN g % 5 = 0 THEN NULL "
	"ELSE '2001-02-03 04:05:06.789+00'::timestamptz + g * interval '1 minute' END, CASE WHEN "
	"g % 7 = 0 THEN NULL ELSE E'note\\t' || g || E'\\n\\u00e9' END, "
	"decode(lpad(to_hex(g), 8, '0'), 'hex'), g % 2 = 1, CASE WHEN g % 3 = 0 THEN 'b' ELSE 'a' "
	"END, jsonb_build_object('k', g, 's', 'x\"y') FROM generate_series(1, 20000) g",
	"INSERT INTO pairs SELECT g % 10 - 5, g, 'v' || g FROM generate_series(1, 7000) g",
	"INSERT INTO words SELECT 'w' || g, g FROM generate_series(1, 300) g",
	"INSERT INTO loose VALUES (1, 'a'), (1, 'a'), (NULL, NULL)",
};

static void source_fill(int engine, const char *db)
{
	if (engine == MY) {
		itest_my_create_db(db);
		MYSQL *m = itest_my_connect(db);
		for (size_t i = 0; i < sizeof my_ddl / sizeof my_ddl[0]; i++)
			itest_my_exec(m, my_ddl[i]);
		mysql_close(m);
	} else {
		itest_pg_create_db(db);
		PGconn *p = itest_pg_connect(db);
		for (size_t i = 0; i < sizeof pg_ddl / sizeof pg_ddl[0]; i++)
			itest_pg_exec(p, pg_ddl[i]);
		PQfinish(p);
	}
}

static void conn_of(char *buf, size_t size, int engine, const char *db)
{
	if (engine == MY)
		itest_my_dsn(buf, size, db);
	else
		itest_pg_uri(buf, size, db, NULL, NULL, 0);
}

/* A convert configuration; `source_extra` and `target_options` are JSON
 * members (or ""). */
static void config_of(char *buf, size_t size, int src, const char *src_conn,
                      const char *source_extra, int dst, const char *dst_conn,
                      const char *target_options, const char *extra)
{
	int n = snprintf(buf, size,
	                 "{\"source\": {\"type\": \"%s\", \"mode\": \"convert\", \"connection\": "
	                 "\"%s\"%s%s}, \"target\": {\"type\": \"%s\", \"connection\": \"%s\", "
	                 "\"options\": {%s}}, \"load\": {\"chunkRows\": " CHUNK_ROWS
	                 ", \"workers\": 3}%s%s}",
	                 src == MY ? "mysql" : "postgresql", src_conn, source_extra[0] ? ", " : "",
	                 source_extra, dst == MY ? "mysql" : "postgresql", dst_conn, target_options,
	                 extra[0] ? ", " : "", extra);
	ck_assert(n > 0 && (size_t)n < size);
}

/* Run a convert to its end; returns its final stat. */
static void run_to_end(const char *config, const char *id, dbs_stat *st, int timeout_s)
{
	dbs_stream *s = itest_stream_start_logged(config, id, NULL, DBS_LOG_INFO);
	ck_assert_msg(dbs_stream_wait(s, timeout_s * 1000) == 0, "the convert did not end in %d s",
	              timeout_s);
	itest_stat(s, st);
	dbs_stream_free(s);
}

static void expect_finished(const dbs_stat *st, uint64_t rows)
{
	char buf[2048];
	itest_stat_format(buf, sizeof buf, st);
	ck_assert_msg(st->source.status == DBS_STATUS_FINISHED &&
	                  st->target.status == DBS_STATUS_FINISHED,
	              "expected FINISHED: %s", buf);
	ck_assert_msg(st->load.phase == DBS_LOAD_PHASE_DONE, "load phase %d: %s", st->load.phase,
	              buf);
	/* The nodes count this run's rows, the load every run's. */
	ck_assert_msg(st->load.rows == rows && st->target.counter == st->load.rows_this_run,
	              "expected %llu rows, the load counts %llu (%llu this run): %s",
	              (unsigned long long)rows, (unsigned long long)st->load.rows,
	              (unsigned long long)st->load.rows_this_run, buf);
	ck_assert_uint_eq(st->load.chunks, st->load.chunks_done);
	ck_assert_uint_eq(st->load.tables, st->load.tables_done);
}

/* ---- the four directions ---- */

#define TOTAL_ROWS (500 + ROWS + 7000 + 300 + 3)

START_TEST(convert_four_directions)
{
	load_case *c = &dirs[_i];
	char src[512], dst[512], config[4096], *v;
	dbs_stat st;
	source_fill(c->src, c->src_db);
	if (c->dst == PG)
		itest_pg_create_db(c->dst_db);
	else
		itest_my_drop_db(c->dst_db);
	conn_of(src, sizeof src, c->src, c->src_db);
	conn_of(dst, sizeof dst, c->dst, c->dst_db);
	config_of(config, sizeof config, c->src, src, "", c->dst, dst, "", "");
	run_to_end(config, NULL, &st, 240);
	expect_finished(&st, TOTAL_ROWS);
	/* child: 20000 rows in chunks of 3000 */
	ck_assert_uint_eq(st.load.chunks, 7 + 3 + 1 + 1 + 1);
	ck_assert_uint_eq(itest_verify_differences(config), 0);

	/* The secondary indexes and the foreign key came after the rows. */
	const char *schema = c->src == MY ? c->src_db : "public";
	if (c->dst == PG) {
		PGconn *p = itest_pg_connect(c->dst_db);
		char sql[512];
		snprintf(sql, sizeof sql,
		         "SELECT count(*) FROM pg_indexes WHERE schemaname = '%s' AND "
		         "indexdef LIKE '%%(amount)%%'", schema);
		v = itest_pg_value(p, sql);
		ck_assert_str_eq(v, "1");
		free(v);
		snprintf(sql, sizeof sql,
		         "SELECT count(*) FROM pg_indexes WHERE schemaname = '%s' AND "
		         "indexdef LIKE 'CREATE UNIQUE INDEX %%(name)%%'", schema);
		v = itest_pg_value(p, sql);
		ck_assert_str_eq(v, "1");
		free(v);
		snprintf(sql, sizeof sql,
		         "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' AND "
		         "conrelid = '\"%s\".child'::regclass", schema);
		v = itest_pg_value(p, sql);
		ck_assert_ptr_nonnull(v);
		ck_assert_msg(strstr(v, "FOREIGN KEY (parent_id) REFERENCES") && strstr(v, "parent(id)") &&
		                  strstr(v, "ON DELETE CASCADE"),
		              "foreign key: %s", v);
		free(v);
		PQfinish(p);
	} else {
		MYSQL *m = itest_my_connect(c->dst_db);
		v = itest_my_value(m, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE "
		                      "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'child' AND "
		                      "COLUMN_NAME = 'amount'");
		ck_assert_str_eq(v, "1");
		free(v);
		v = itest_my_value(m, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE "
		                      "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'parent' AND "
		                      "COLUMN_NAME = 'name' AND NON_UNIQUE = 0");
		ck_assert_str_eq(v, "1");
		free(v);
		v = itest_my_value(m, "SELECT CONCAT(r.REFERENCED_TABLE_NAME, ' ', r.DELETE_RULE) FROM "
		                      "information_schema.REFERENTIAL_CONSTRAINTS r WHERE "
		                      "r.CONSTRAINT_SCHEMA = DATABASE() AND r.TABLE_NAME = 'child'");
		ck_assert_ptr_nonnull(v);
		ck_assert_str_eq(v, "parent CASCADE");
		free(v);
		mysql_close(m);
	}
	/* The same stream again: its records say it is done. */
	char id[28];
	strcpy(id, st.stream_id);
	run_to_end(config, id, &st, 60);
	ck_assert_int_eq(st.source.status, DBS_STATUS_FINISHED);
	ck_assert_uint_eq(st.load.rows, TOTAL_ROWS);
	ck_assert_uint_eq(st.load.rows_this_run, 0);
	ck_assert_uint_eq(itest_verify_differences(config), 0);
}
END_TEST

/* ---- refused before anything is written ---- */

static void expect_init_failed(const char *config, int target_node, const char *want)
{
	dbs_stream *s = itest_stream_start(config);
	dbs_stat st;
	char buf[2048];
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	const dbs_node_stat *bad = target_node ? &st.target : &st.source;
	ck_assert_msg(bad->status == DBS_STATUS_INIT_FAILED, "expected %s INIT FAILED: %s",
	              target_node ? "target" : "source", buf);
	ck_assert_msg(strstr(bad->message, want), "expected \"%s\" in: %s", want, buf);
	dbs_stream_free(s);
}

/* The PostgreSQL target holds no table of the load (only the checkpoint
 * and records tables the target keeps for itself). */
static void expect_pg_untouched(const char *db, const char *schema)
{
	PGconn *p = itest_pg_connect(db);
	char sql[256];
	snprintf(sql, sizeof sql,
	         "SELECT count(*) FROM pg_tables WHERE schemaname = '%s' AND tablename NOT LIKE "
	         "'dbstreams_%%'",
	         schema);
	char *v = itest_pg_value(p, sql);
	ck_assert_msg(strcmp(v, "0") == 0, "%s tables were made in %s.%s", v, db, schema);
	free(v);
	PQfinish(p);
}

START_TEST(refusals)
{
	char src[512], dst[512], config[4096], sql[512];
	source_fill(MY, my_db);
	source_fill(PG, pg_db);
	itest_pg_create_db(pg_dst);
	conn_of(dst, sizeof dst, PG, pg_dst);

	/* A query that is not a SELECT: the configuration itself. */
	conn_of(src, sizeof src, MY, my_db);
	config_of(config, sizeof config, MY, src,
	          "\"filter\": {\"tables\": [{\"name\": \"parent\", \"query\": \"UPDATE parent SET "
	          "name = 'x'\"}]}",
	          PG, dst, "", "");
	dbs_stream *s = NULL;
	ck_assert_int_eq(dbs_config_validate(config, strlen(config)), DBS_ECONFIG);
	ck_assert_msg(strstr(dbs_error_last(), "source.filter.tables[0].query") &&
	                  strstr(dbs_error_last(), "is not a SELECT"),
	              "%s", dbs_error_last());
	ck_assert_int_eq(dbs_stream_create(&s, config, strlen(config), NULL), DBS_ECONFIG);

	/* A query that reads another table, on each source engine. */
	config_of(config, sizeof config, MY, src,
	          "\"filter\": {\"tables\": [{\"name\": \"parent\"}, {\"name\": \"child\", "
	          "\"query\": \"SELECT c.* FROM child c JOIN parent p ON p.id = c.parent_id WHERE "
	          "p.name > 'p'\"}]}",
	          PG, dst, "", "");
	expect_init_failed(config, 0, "source.filter.tables[1].query: it reads 2 tables");
	conn_of(src, sizeof src, PG, pg_db);
	config_of(config, sizeof config, PG, src,
	          "\"filter\": {\"tables\": [{\"name\": \"child\", \"query\": \"SELECT * FROM "
	          "child WHERE parent_id IN (SELECT id FROM parent WHERE name > 'p')\"}]}",
	          PG, dst, "", "");
	expect_init_failed(config, 0, "source.filter.tables[0].query: it reads");
	config_of(config, sizeof config, PG, src,
	          "\"filter\": {\"tables\": [{\"name\": \"child\", \"query\": \"SELECT * FROM "
	          "parent\"}]}",
	          PG, dst, "", "");
	expect_init_failed(config, 0, "source.filter.tables[0].query: it reads table parent");

	/* A table that does not exist, named by its place in the filter. */
	config_of(config, sizeof config, PG, src,
	          "\"filter\": {\"tables\": [{\"name\": \"parent\"}, {\"name\": \"nope\"}]}", PG,
	          dst, "", "");
	expect_init_failed(config, 0, "source.filter.tables[1].name: public.nope does not exist");
	conn_of(src, sizeof src, MY, my_db);
	config_of(config, sizeof config, MY, src,
	          "\"filter\": {\"tables\": [{\"name\": \"nope\"}]}", PG, dst, "", "");
	snprintf(sql, sizeof sql, "source.filter.tables[0].name: %s.nope does not exist", my_db);
	expect_init_failed(config, 0, sql);
	expect_pg_untouched(pg_dst, my_db);
	expect_pg_untouched(pg_dst, "public");

	/* A source user without SELECT on one of the tables. */
	MYSQL *m = itest_my_connect(NULL);
	snprintf(sql, sizeof sql, "CREATE USER '%s'@'%%' IDENTIFIED BY 'pw'", role);
	itest_my_exec(m, sql);
	snprintf(sql, sizeof sql, "GRANT SELECT ON `%s`.parent TO '%s'@'%%'", my_db, role);
	itest_my_exec(m, sql);
	mysql_close(m);
	snprintf(src, sizeof src, "%s:pw@tcp(%s:%s)/%s", role, itest_env("DBS_TEST_MYSQL_HOST"),
	         itest_env("DBS_TEST_MYSQL_PORT"), my_db);
	config_of(config, sizeof config, MY, src,
	          "\"filter\": {\"tables\": [{\"name\": \"parent\"}, {\"name\": \"child\"}]}", PG,
	          dst, "", "");
	snprintf(sql, sizeof sql, "GRANT SELECT ON `%s`.`child` TO '%s'", my_db, role);
	expect_init_failed(config, 0, sql);
	PGconn *p = itest_pg_connect(pg_db);
	snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN", role);
	itest_pg_exec(p, sql);
	snprintf(sql, sizeof sql, "GRANT SELECT ON parent TO %s", role);
	itest_pg_exec(p, sql);
	PQfinish(p);
	itest_pg_uri(src, sizeof src, pg_db, role, NULL, 0);
	config_of(config, sizeof config, PG, src,
	          "\"filter\": {\"tables\": [{\"name\": \"parent\"}, {\"name\": \"child\"}]}", PG,
	          dst, "", "");
	snprintf(sql, sizeof sql, "GRANT SELECT ON \"public\".\"child\" TO %s", role);
	expect_init_failed(config, 0, sql);
	expect_pg_untouched(pg_dst, my_db);
	expect_pg_untouched(pg_dst, "public");

	/* A target table that holds rows, without writeMode. */
	p = itest_pg_connect(pg_dst);
	itest_pg_exec(p, "CREATE TABLE words (w varchar(30) PRIMARY KEY, n int)");
	itest_pg_exec(p, "INSERT INTO words VALUES ('keep', -1)");
	PQfinish(p);
	conn_of(src, sizeof src, PG, pg_db);
	config_of(config, sizeof config, PG, src,
	          "\"filter\": {\"tables\": [{\"name\": \"parent\"}, {\"name\": \"words\"}]}", PG,
	          dst, "", "");
	expect_init_failed(config, 1, "target table \"public\".\"words\" already holds rows");
	p = itest_pg_connect(pg_dst);
	ck_assert_uint_eq(itest_pg_count(p, "words"), 1);
	char *v = itest_pg_value(p, "SELECT count(*) FROM pg_tables WHERE tablename = 'parent'");
	ck_assert_str_eq(v, "0");
	free(v);
	PQfinish(p);
}
END_TEST

/* ---- writeMode, noCreateTables, noCreateIndexes, a custom query ---- */

START_TEST(write_modes)
{
	char src[512], dst[512], config[4096];
	dbs_stat st;
	source_fill(PG, pg_db);
	itest_my_drop_db(my_dst);
	itest_my_create_db(my_dst);
	MYSQL *m = itest_my_connect(my_dst);
	itest_my_exec(m, "CREATE TABLE words (w VARCHAR(30) PRIMARY KEY, n INT)");
	itest_my_exec(m, "INSERT INTO words VALUES ('w1', -1), ('zz', -2)");
	conn_of(src, sizeof src, PG, pg_db);
	conn_of(dst, sizeof dst, MY, my_dst);
	const char *words = "\"filter\": {\"tables\": [{\"name\": \"words\"}]}";

	/* upsert: the source's rows replace those of the same key. */
	config_of(config, sizeof config, PG, src, words, MY, dst, "\"writeMode\": \"upsert\"", "");
	run_to_end(config, NULL, &st, 120);
	expect_finished(&st, 300);
	ck_assert_uint_eq(itest_my_count(m, "words"), 301);
	char *v = itest_my_value(m, "SELECT n FROM words WHERE w = 'w1'");
	ck_assert_str_eq(v, "1");
	free(v);

	/* append: next to them; a row of the same key fails the load. */
	itest_my_exec(m, "DELETE FROM words WHERE w <> 'zz'");
	config_of(config, sizeof config, PG, src, words, MY, dst, "\"writeMode\": \"append\"", "");
	run_to_end(config, NULL, &st, 120);
	expect_finished(&st, 300);
	ck_assert_uint_eq(itest_my_count(m, "words"), 301);
	itest_my_exec(m, "DELETE FROM words WHERE w <> 'w5'");
	run_to_end(config, NULL, &st, 120);
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED && strstr(st.target.message, "Duplicate"),
	              "append over an existing key must fail: %s", st.target.message);

	/* truncate_and_load: emptied first. */
	itest_my_exec(m, "INSERT INTO words VALUES ('only-here', 0)");
	config_of(config, sizeof config, PG, src, words, MY, dst,
	          "\"writeMode\": \"truncate_and_load\"", "");
	run_to_end(config, NULL, &st, 120);
	expect_finished(&st, 300);
	ck_assert_uint_eq(itest_my_count(m, "words"), 300);
	ck_assert_uint_eq(itest_verify_differences(config), 0);

	/* noCreateTables: a table the target lacks is refused, by name. */
	config_of(config, sizeof config, PG, src,
	          "\"filter\": {\"tables\": [{\"name\": \"parent\"}]}", MY, dst,
	          "\"noCreateTables\": true", "");
	expect_init_failed(config, 1, "does not exist, and target.options.noCreateTables");

	/* noCreateIndexes and a custom query: only the rows it selects, and
	 * only the primary key. */
	config_of(config, sizeof config, PG, src,
	          "\"filter\": {\"tables\": [{\"name\": \"parent\", \"query\": \"SELECT id, name "
	          "FROM parent WHERE id <= 100\"}]}",
	          MY, dst, "\"tables\": [{\"name\": \"parent\", \"noCreateIndexes\": true}]", "");
	run_to_end(config, NULL, &st, 120);
	expect_finished(&st, 100);
	ck_assert_uint_eq(itest_my_count(m, "parent"), 100);
	v = itest_my_value(m, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE "
	                      "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'parent' AND INDEX_NAME "
	                      "<> 'PRIMARY'");
	ck_assert_str_eq(v, "0");
	free(v);
	mysql_close(m);
}
END_TEST

/* limits.numberOfEvents cuts a chunk: the rows up to the limit are
 * committed, the rest planned; the same stream created again copies
 * exactly the rest. */
START_TEST(event_limit_then_resume)
{
	char src[512], dst[512], config[4096], id[28];
	dbs_stat st;
	source_fill(MY, my_db);
	itest_pg_drop_db(pg_dst);
	itest_pg_create_db(pg_dst);
	conn_of(src, sizeof src, MY, my_db);
	conn_of(dst, sizeof dst, PG, pg_dst);
	const char *child = "\"filter\": {\"tables\": [{\"name\": \"child\"}]}";
	config_of(config, sizeof config, MY, src, child, PG, dst, "",
	          "\"limits\": {\"numberOfEvents\": 4500}");
	run_to_end(config, NULL, &st, 120);
	ck_assert_int_eq(st.target.status, DBS_STATUS_EVENT_LIMIT_REACHED);
	ck_assert_uint_eq(st.load.rows, 4500);
	strcpy(id, st.stream_id);
	PGconn *p = itest_pg_connect(pg_dst);
	char table[128];
	snprintf(table, sizeof table, "\"%s\".child", my_db);
	ck_assert_uint_eq(itest_pg_count(p, table), 4500);
	config_of(config, sizeof config, MY, src, child, PG, dst, "", "");
	run_to_end(config, id, &st, 120);
	expect_finished(&st, ROWS);
	ck_assert_uint_eq(st.load.rows_this_run, ROWS - 4500);
	ck_assert_uint_eq(itest_pg_count(p, table), ROWS);
	ck_assert_uint_eq(itest_verify_differences(config), 0);
	PQfinish(p);
}
END_TEST

static Suite *load_suite(void)
{
	Suite *s = suite_create("load");
	TCase *tc = tcase_create("convert");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, convert_four_directions, 0, 4);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, write_modes);
	tcase_add_test(tc, event_limit_then_resume);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(load_suite());
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
