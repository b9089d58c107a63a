/*
 * Secondary indexes in the four directions: a source table with a unique
 * index, a two-column index, an index on a long text column and (MySQL
 * source) a FULLTEXT index; the target's catalog must show them as
 * docs/type-mapping.md says. A table configured with noCreateIndexes gets
 * its primary key only; a table that already exists at the target is left
 * as it is; with noCreateTables a pre-created target table keeps exactly
 * its own indexes. PostgreSQL -> PostgreSQL and MySQL -> MySQL run their
 * first stream through the NATS hub, whose messages carry the indexes.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

enum { PG = 0, MY = 1 };

typedef struct idx_case {
	int src, dst;
	char src_db[64], dst_db[64], dst2_db[64];
	char slot[64], pub[64], slot2[64], pub2[64];
	PGconn *pg_src, *pg_dst;
	MYSQL *my_src, *my_dst;
} idx_case;

static idx_case cases[4];

/* The stream's log lines (called from the source and target threads). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[65536];
static size_t log_len;

static void log_line(dbs_log_level level, const char *message, void *user_data)
{
	(void)level;
	(void)user_data;
	pthread_mutex_lock(&log_mu);
	int n = snprintf(log_text + log_len, sizeof log_text - log_len, "%s\n", message);
	if (n > 0 && (size_t)n < sizeof log_text - log_len)
		log_len += (size_t)n;
	pthread_mutex_unlock(&log_mu);
}

static void expect_log(const char *want)
{
	pthread_mutex_lock(&log_mu);
	int found = strstr(log_text, want) != NULL;
	pthread_mutex_unlock(&log_mu);
	ck_assert_msg(found, "no log line with \"%s\" in:\n%s", want, log_text);
}

static dbs_stream *stream_start(const char *config)
{
	dbs_stream_options opts = DBS_STREAM_OPTIONS_INIT;
	dbs_stream *s = NULL;
	opts.log = log_line;
	opts.log_level = DBS_LOG_DEBUG;
	int rc = dbs_stream_create(&s, config, strlen(config), &opts);
	ck_assert_msg(rc == 0, "dbs_stream_create: %d (%s): %s", rc, dbs_strerror(rc),
	              dbs_error_last());
	return s;
}

/* Unchecked fixture: the teardown runs in the parent even when a test
 * failed, so slots, publications and databases never stay behind. */
static void setup(void)
{
	static const char *const tags[4] = {"ix_pp", "ix_mp", "ix_pm", "ix_mm"};
	for (int i = 0; i < 4; i++) {
		idx_case *c = &cases[i];
		char tag[32];
		c->src = i == 0 || i == 2 ? PG : MY;
		c->dst = i < 2 ? PG : MY;
		snprintf(tag, sizeof tag, "%s_src", tags[i]);
		itest_name(c->src_db, sizeof c->src_db, tag);
		snprintf(tag, sizeof tag, "%s_dst", tags[i]);
		itest_name(c->dst_db, sizeof c->dst_db, tag);
		snprintf(tag, sizeof tag, "%s_dst2", tags[i]);
		itest_name(c->dst2_db, sizeof c->dst2_db, tag);
		snprintf(tag, sizeof tag, "%s_slot", tags[i]);
		itest_name(c->slot, sizeof c->slot, tag);
		snprintf(tag, sizeof tag, "%s_pub", tags[i]);
		itest_name(c->pub, sizeof c->pub, tag);
		snprintf(tag, sizeof tag, "%s_slot2", tags[i]);
		itest_name(c->slot2, sizeof c->slot2, tag);
		snprintf(tag, sizeof tag, "%s_pub2", tags[i]);
		itest_name(c->pub2, sizeof c->pub2, tag);
	}
}

static void teardown(void)
{
	for (int i = 0; i < 4; i++) {
		idx_case *c = &cases[i];
		if (c->src == PG) {
			itest_pg_drop_slot(c->slot);
			itest_pg_drop_slot(c->slot2);
			itest_pg_drop_publication(c->src_db, c->pub);
			itest_pg_drop_publication(c->src_db, c->pub2);
			itest_pg_drop_db(c->src_db);
		} else {
			itest_my_drop_db(c->src_db);
		}
		if (c->dst == PG) {
			itest_pg_drop_db(c->dst_db);
			itest_pg_drop_db(c->dst2_db);
		} else {
			itest_my_drop_db(c->dst_db);
			itest_my_drop_db(c->dst2_db);
		}
	}
}

static void sqlf(PGconn *pg, MYSQL *my, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void sqlf(PGconn *pg, MYSQL *my, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && (size_t)n < sizeof sql, "SQL too long");
	if (pg)
		itest_pg_exec(pg, sql);
	else
		itest_my_exec(my, sql);
}

static void src_sql(idx_case *c, const char *sql)
{
	sqlf(c->pg_src, c->pg_src ? NULL : c->my_src, "%s", sql);
}

/* The source tables. Index names are the engine's usual ones: unique per
 * schema in PostgreSQL, per table in MySQL (so the PostgreSQL target
 * prefixes them with the table name). */
static void create_source(idx_case *c)
{
	if (c->src == PG) {
		itest_pg_create_db(c->src_db);
		c->pg_src = itest_pg_connect(c->src_db);
		src_sql(c,
		        "CREATE TABLE items (id int PRIMARY KEY, code varchar(40) NOT NULL, a int, "
		        "b int, title varchar(200), body text, tag text)");
		src_sql(c, "CREATE UNIQUE INDEX items_code_uq ON items (code)");
		src_sql(c, "CREATE UNIQUE INDEX items_tag_uq ON items (tag)");
		src_sql(c, "CREATE INDEX items_ab ON items (a, b)");
		src_sql(c, "CREATE INDEX items_body ON items (body)");
		/* Not replicated: an expression and a partial index. */
		src_sql(c, "CREATE INDEX items_lower ON items (lower(title))");
		src_sql(c, "CREATE INDEX items_part ON items (b) WHERE b > 0");
		src_sql(c, "CREATE TABLE plain (id int PRIMARY KEY, k int, s varchar(20))");
		src_sql(c, "CREATE INDEX plain_k ON plain (k)");
		src_sql(c, "CREATE TABLE existing (id int PRIMARY KEY, k int)");
		src_sql(c, "CREATE INDEX existing_k ON existing (k)");
		/* More indexes than a MySQL table may have (64 keys). */
		src_sql(c, "CREATE TABLE many (id int PRIMARY KEY, k int)");
		for (int i = 1; i <= 65; i++) {
			char sql[96];
			snprintf(sql, sizeof sql, "CREATE INDEX many_k%d ON many (k)", i);
			src_sql(c, sql);
		}
	} else {
		itest_my_create_db(c->src_db);
		c->my_src = itest_my_connect(c->src_db);
		src_sql(c,
		        "CREATE TABLE items (id int PRIMARY KEY, code varchar(40) NOT NULL, a int, "
		        "b int, title varchar(200), body text, tag text, "
		        "UNIQUE KEY code_uq (code), UNIQUE KEY tag_uq (tag(50)), KEY ab (a, b), "
		        "KEY bodyp (body(100)), "
		        "KEY idx_with_a_rather_long_name_that_goes_on_and_on_past_the_limit (b), "
		        "FULLTEXT KEY ft (title, body)) ENGINE=InnoDB");
		src_sql(c,
		        "CREATE TABLE plain (id int PRIMARY KEY, k int, s varchar(20), KEY k (k))");
		src_sql(c, "CREATE TABLE existing (id int PRIMARY KEY, k int, KEY k (k))");
	}
}

/* Where the target puts the source's tables: PostgreSQL → PostgreSQL
 * keeps the schema, MySQL → PostgreSQL uses the source database's name as
 * the schema, a MySQL target writes into its DSN's database. */
static const char *dst_schema(const idx_case *c)
{
	return c->dst == MY ? NULL : c->src == PG ? "public" : c->src_db;
}

static void create_target_db(idx_case *c, const char *db)
{
	if (c->dst == PG) {
		itest_pg_create_db(db);
		c->pg_dst = itest_pg_connect(db);
		if (c->src == MY)
			sqlf(c->pg_dst, NULL, "CREATE SCHEMA \"%s\"", c->src_db);
	} else {
		itest_my_create_db(db);
		c->my_dst = itest_my_connect(db);
	}
}

static void close_target(idx_case *c)
{
	if (c->pg_dst)
		PQfinish(c->pg_dst);
	if (c->my_dst)
		mysql_close(c->my_dst);
	c->pg_dst = NULL;
	c->my_dst = NULL;
}

/* A pre-made target table: the primary key and nothing else. */
static void precreate(idx_case *c, const char *table, const char *columns)
{
	if (c->dst == PG)
		sqlf(c->pg_dst, NULL, "CREATE TABLE \"%s\".%s (%s)", dst_schema(c), table, columns);
	else
		sqlf(NULL, c->my_dst, "CREATE TABLE %s (%s)", table, columns);
}

/* The target's indexes of `table`, sorted: "name U|N [type] columns[(prefix)]". */
static char *dst_indexes(idx_case *c, const char *db, const char *table)
{
	char sql[2048];
	char *v;
	if (c->dst == PG) {
		snprintf(sql, sizeof sql,
		         "SELECT coalesce(string_agg(indexname || CASE WHEN indexdef LIKE "
		         "'CREATE UNIQUE%%' THEN ' U ' ELSE ' N ' END || "
		         "substring(indexdef from '\\((.*)\\)$'), '; ' ORDER BY indexname), '') "
		         "FROM pg_indexes WHERE schemaname = '%s' AND tablename = '%s'",
		         dst_schema(c), table);
		v = itest_pg_value(c->pg_dst, sql);
	} else {
		snprintf(sql, sizeof sql,
		         "SELECT coalesce(GROUP_CONCAT(x ORDER BY x SEPARATOR '; '), '') FROM ("
		         "SELECT CONCAT(INDEX_NAME, IF(MIN(NON_UNIQUE) = 0, ' U ', ' N '), "
		         "MIN(INDEX_TYPE), ' ', GROUP_CONCAT(CONCAT(COLUMN_NAME, "
		         "IF(SUB_PART IS NULL, '', CONCAT('(', SUB_PART, ')'))) "
		         "ORDER BY SEQ_IN_INDEX)) AS x "
		         "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '%s' "
		         "AND TABLE_NAME = '%s' GROUP BY INDEX_NAME) q",
		         db, table);
		v = itest_my_value(c->my_dst, sql);
	}
	ck_assert_ptr_nonnull(v);
	return v;
}

static void expect_indexes(idx_case *c, const char *db, const char *table, const char *want)
{
	char *got = dst_indexes(c, db, table);
	ck_assert_msg(strcmp(got, want) == 0, "%s.%s indexes:\n  got  %s\n  want %s", db, table,
	              got, want);
	free(got);
}

static uint64_t dst_count(idx_case *c, const char *table)
{
	char t[256];
	if (c->dst == PG) {
		snprintf(t, sizeof t, "\"%s\".%s", dst_schema(c), table);
		return itest_pg_count(c->pg_dst, t);
	}
	return itest_my_count(c->my_dst, table);
}

static void stream_config(idx_case *c, char *buf, size_t size, const char *dst_db, const char *slot,
                          const char *pub, const char *tables, const char *options, int nats)
{
	char src_conn[512], dst_conn[512], settings[512] = "", hub[512] = "";
	int n;
	if (c->src == PG) {
		itest_pg_uri(src_conn, sizeof src_conn, c->src_db, NULL, NULL, 0);
		snprintf(settings, sizeof settings,
		         "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": "
		         "\"%s\"}, ",
		         slot, pub);
	} else {
		itest_my_dsn(src_conn, sizeof src_conn, c->src_db);
	}
	if (c->dst == PG)
		itest_pg_uri(dst_conn, sizeof dst_conn, dst_db, NULL, NULL, 0);
	else
		itest_my_dsn(dst_conn, sizeof dst_conn, dst_db);
	if (nats)
		snprintf(hub, sizeof hub, "\"hub\": {\"type\": \"nats\", \"url\": \"%s\"}, ",
		         itest_env("DBS_TEST_NATS_URL"));
	n = snprintf(buf, size,
	             "{\"source\": {\"type\": \"%s\", \"connection\": \"%s\", %s"
	             "\"filter\": {\"tables\": [%s]}}, "
	             "\"target\": {\"type\": \"%s\", \"connection\": \"%s\", \"options\": %s}, %s"
	             "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	             c->src == PG ? "postgresql" : "mysql", src_conn, settings, tables,
	             c->dst == PG ? "postgresql" : "mysql", dst_conn, options, hub);
	ck_assert(n > 0 && (size_t)n < size);
}

/* A filter entry for `table`: "db.t" for MySQL (other suites use the same
 * table names in other databases), "t" for PostgreSQL. */
static void filter_name(const idx_case *c, char *buf, size_t size, const char *table)
{
	if (c->src == MY)
		snprintf(buf, size, "{\"name\": \"%s.%s\"}", c->src_db, table);
	else
		snprintf(buf, size, "{\"name\": \"%s\"}", table);
}

/* The expected target indexes of `items`, per direction. */
static const char *want_items(const idx_case *c)
{
	if (c->src == PG && c->dst == PG)
		return "items_ab N a, b; items_body N body; items_code_uq U code; items_pkey U id; "
		       "items_tag_uq U tag";
	if (c->src == MY && c->dst == PG)
		/* 63 bytes: cut, with a hash of the whole name. */
		return "items_ab N a, b; items_code_uq U code; "
		       "items_idx_with_a_rather_long_name_that_goes_on_and_on__9abc2ced N b; "
		       "items_pkey U id";
	/* A non-unique index over text is indexed by a prefix in MySQL; a
	 * unique one whole, which MariaDB keeps as a hash. */
	if (c->src == PG)
		return "items_ab N BTREE a,b; items_body N BTREE body(768); "
		       "items_code_uq U BTREE code; items_tag_uq U HASH tag; PRIMARY U BTREE id";
	return "ab N BTREE a,b; bodyp N BTREE body(768); code_uq U BTREE code; "
	       "ft N FULLTEXT title,body; "
	       "idx_with_a_rather_long_name_that_goes_on_and_on_past_the_limit N BTREE b; "
	       "PRIMARY U BTREE id; tag_uq U HASH tag";
}

static const char *want_pk(const idx_case *c, const char *table)
{
	static char buf[64];
	if (c->dst == PG)
		snprintf(buf, sizeof buf, "%s_pkey U id", table);
	else
		snprintf(buf, sizeof buf, "PRIMARY U BTREE id");
	return buf;
}

static void run_case(int which)
{
	idx_case *c = &cases[which];
	char config[4096], tables[1280], f1[256], f2[256], f3[256], f4[256], options[2048];

	create_source(c);
	create_target_db(c, c->dst_db);
	/* Already there: left as it is, without the source's index. */
	precreate(c, "existing", "id int PRIMARY KEY, k int");

	filter_name(c, f1, sizeof f1, "items");
	filter_name(c, f2, sizeof f2, "plain");
	filter_name(c, f3, sizeof f3, "existing");
	filter_name(c, f4, sizeof f4, "many");
	snprintf(tables, sizeof tables, "%s, %s, %s%s%s", f1, f2, f3, c->src == PG ? ", " : "",
	         c->src == PG ? f4 : "");
	/* noCreateIndexes by "schema.table" for a MySQL source into
	 * PostgreSQL and PostgreSQL into MySQL, by bare name otherwise. */
	snprintf(options, sizeof options,
	         "{\"tables\": [{\"name\": \"%s%s%s\", \"noCreateIndexes\": true}]}",
	         which == 1   ? c->src_db
	         : which == 2 ? "public"
	                      : "",
	         which == 1 || which == 2 ? "." : "", "plain");
	stream_config(c, config, sizeof config, c->dst_db, c->slot, c->pub, tables, options,
	              c->src == c->dst);

	dbs_stream *s = stream_start(config);
	src_sql(c, "INSERT INTO items VALUES (1, 'a1', 1, 2, 'first title', 'first body', 't1'), "
	           "(2, 'a2', 1, 3, 'second', 'x', 't2')");
	src_sql(c, "INSERT INTO plain VALUES (1, 10, 's')");
	src_sql(c, "INSERT INTO existing VALUES (1, 10)");
	if (c->src == PG)
		src_sql(c, "INSERT INTO many VALUES (1, 10)");
	itest_wait_target_counter(s, c->src == PG ? 5 : 4, 60);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);

	if (c->src == PG) {
		expect_log("index items_lower not replicated (an expression index)");
		expect_log("index items_part not replicated (a partial index)");
	} else {
		expect_log("index bodyp uses a 100-character prefix of column body");
	}
	if (c->src == MY && c->dst == PG) {
		expect_log("FULLTEXT index ft not created");
		/* Prefix and hash indexes over TEXT: values may outgrow a btree entry. */
		expect_log("index bodyp not created (MySQL column body is indexed by a prefix");
		expect_log("index tag_uq not created (MySQL column tag is indexed by a prefix");
	}
	ck_assert_uint_eq(dst_count(c, "items"), 2);
	ck_assert_uint_eq(dst_count(c, "plain"), 1);
	ck_assert_uint_eq(dst_count(c, "existing"), 1);
	if (c->src == PG && c->dst == MY) {
		/* The table with its indexes in one statement is refused: the
		 * table alone, then each index, those past the limit left out. */
		expect_log("creating the table alone, then its indexes one by one");
		expect_log("not created: creating an index: Too many keys");
		ck_assert_uint_eq(dst_count(c, "many"), 1);
		char *got = dst_indexes(c, c->dst_db, "many");
		ck_assert_msg(strstr(got, "many_k1 ") && strstr(got, "many_k60 "), "many: %s", got);
		free(got);
	}
	expect_indexes(c, c->dst_db, "items", want_items(c));
	expect_indexes(c, c->dst_db, "plain", want_pk(c, "plain"));
	expect_indexes(c, c->dst_db, "existing", want_pk(c, "existing"));
	close_target(c);

	/* noCreateTables: the pre-made table keeps its own structure. */
	create_target_db(c, c->dst2_db);
	precreate(c, "items",
	          "id int PRIMARY KEY, code varchar(40) NOT NULL, a int, b int, "
	          "title varchar(200), body text, tag text");
	snprintf(tables, sizeof tables, "%s", f1);
	stream_config(c, config, sizeof config, c->dst2_db, c->slot2, c->pub2, tables,
	              "{\"noCreateTables\": true}", 0);
	s = stream_start(config);
	src_sql(c, "INSERT INTO items VALUES (3, 'a3', 5, 6, 'third', 'y', 't3')");
	itest_wait_target_counter(s, 1, 60);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	ck_assert_uint_eq(dst_count(c, "items"), 1);
	expect_indexes(c, c->dst2_db, "items", want_pk(c, "items"));
	close_target(c);

	if (c->pg_src)
		PQfinish(c->pg_src);
	if (c->my_src)
		mysql_close(c->my_src);
	c->pg_src = NULL;
	c->my_src = NULL;
}

START_TEST(indexes_pg_to_pg)
{
	run_case(0);
}
END_TEST

START_TEST(indexes_mysql_to_pg)
{
	run_case(1);
}
END_TEST

START_TEST(indexes_pg_to_mysql)
{
	run_case(2);
}
END_TEST

START_TEST(indexes_mysql_to_mysql)
{
	run_case(3);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_indexes");
	TCase *tc = tcase_create("indexes");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, indexes_pg_to_pg);
	tcase_add_test(tc, indexes_mysql_to_pg);
	tcase_add_test(tc, indexes_pg_to_mysql);
	tcase_add_test(tc, indexes_mysql_to_mysql);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
