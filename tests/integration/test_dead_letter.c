/*
 * Rows the target rejects for their data, into a PostgreSQL and a MySQL
 * target (from both sources; the target tables are made beforehand with
 * what the source does not have: a CHECK constraint and a foreign key
 * from another table).
 *
 * Without target.options.deadLetterTable a rejected insert (in a COPY or
 * multi-row run), update or delete fails the stream with the table, the
 * row's key and the database's message, and nothing of its transaction is
 * applied. With it, every good row is applied value for value and every
 * rejected row is in the dead-letter table exactly once, with its key,
 * images, error code and message, also when the stream stops in the
 * middle of a transaction and a new stream with the same id replays that
 * transaction from its start. Values dbstreams itself refuses (a MySQL
 * zero date for PostgreSQL, NaN for a MySQL decimal) go there too.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

enum { TGT_PG = 0, TGT_MY = 1 };
enum { SRC_PG = 0, SRC_MY = 1 };
enum { BAD_INSERT = 0, BAD_UPDATE = 1, BAD_DELETE = 2, NCASES = 3 };

/* Per loop index: failure tests 0..5, dead-letter tests 6..9, refused
 * values 10..11. */
#define NRUNS 12

static char src_db[NRUNS][64], dst_db[NRUNS][64], slot[NRUNS][64], pub[NRUNS][64];

/* WARN lines about rejected rows, and those naming the table and key. */
static atomic_int rejected_lines, rejected_named;

static void setup(void)
{
	for (int i = 0; i < NRUNS; i++) {
		char tag[32];

		snprintf(tag, sizeof tag, "dl%d_src", i);
		itest_name(src_db[i], sizeof src_db[i], tag);
		snprintf(tag, sizeof tag, "dl%d_dst", i);
		itest_name(dst_db[i], sizeof dst_db[i], tag);
		snprintf(tag, sizeof tag, "dl%d_slot", i);
		itest_name(slot[i], sizeof slot[i], tag);
		snprintf(tag, sizeof tag, "dl%d_pub", i);
		itest_name(pub[i], sizeof pub[i], tag);
	}
}

static void teardown(void)
{
	for (int i = 0; i < NRUNS; i++) {
		itest_pg_drop_slot(slot[i]);
		itest_pg_drop_publication(src_db[i], pub[i]);
		itest_pg_drop_db(src_db[i]);
		itest_pg_drop_db(dst_db[i]);
		itest_my_drop_db(dst_db[i]);
		itest_my_drop_db(src_db[i]);
	}
}

static void log_line(dbs_log_level level, const char *line, void *user_data)
{
	(void)user_data;
	if (level <= DBS_LOG_WARN && strstr(line, "row rejected")) {
		atomic_fetch_add(&rejected_lines, 1);
		if ((strstr(line, ".t (id=") || strstr(line, "`.`t`, key (id=")) &&
		    strstr(line, "written to"))
			atomic_fetch_add(&rejected_named, 1);
	} else if (level <= DBS_LOG_WARN)
		fprintf(stderr, "stream: %s\n", line);
}

static dbs_stream *start(const char *config, const char *id)
{
	dbs_stream_options opts = DBS_STREAM_OPTIONS_INIT;
	dbs_stream *s = NULL;
	int rc;

	opts.stream_id = id;
	opts.log = log_line;
	opts.log_level = DBS_LOG_WARN;
	rc = dbs_stream_create(&s, config, strlen(config), &opts);
	ck_assert_msg(rc == 0 && s, "dbs_stream_create: %d %s\nconfig: %s", rc, dbs_error_last(),
	              config);
	return s;
}

/* The stream's configuration; `dlq` and `limit` may be NULL / 0. */
static void config_for(char *buf, size_t size, int run, int source, int target, const char *dlq,
                       uint64_t limit)
{
	char src[512], src_part[1024], dst[512], options[256] = "";
	int n;

	if (source == SRC_PG) {
		itest_pg_uri(src, sizeof src, src_db[run], NULL, NULL, 0);
		n = snprintf(src_part, sizeof src_part,
		             "\"type\": \"postgresql\", \"connection\": \"%s\", \"settings\": "
		             "{\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
		             "\"filter\": {\"tables\": [{\"name\": \"t\"}]}",
		             src, slot[run], pub[run]);
	} else {
		itest_my_dsn(src, sizeof src, src_db[run]);
		n = snprintf(src_part, sizeof src_part,
		             "\"type\": \"mysql\", \"connection\": \"%s\", "
		             "\"filter\": {\"tables\": [{\"name\": \"%s.t\"}]}",
		             src, src_db[run]);
	}
	ck_assert(n > 0 && (size_t)n < sizeof src_part);
	if (target == TGT_PG)
		itest_pg_uri(dst, sizeof dst, dst_db[run], NULL, NULL, 0);
	else
		itest_my_dsn(dst, sizeof dst, dst_db[run]);
	if (dlq)
		snprintf(options, sizeof options, ", \"options\": {\"deadLetterTable\": \"%s\"}",
		         dlq);
	n = snprintf(buf, size,
	             "{\"source\": {%s}, \"target\": {\"type\": \"%s\", \"connection\": "
	             "\"%s\"%s}, \"limits\": {\"numberOfEvents\": %llu, \"elapsedTime\": 0}}",
	             src_part, target == TGT_PG ? "postgresql" : "mysql", dst, options,
	             (unsigned long long)limit);
	ck_assert(n > 0 && (size_t)n < size);
}

/*
 * Source table t (no constraint) and the target's own t, which refuses a
 * negative v (constraint v_nonneg) and holds row 14, which target table
 * pin refers to: deleting row 14 breaks pin's foreign key. A PostgreSQL
 * target keeps the source's schema: public, or the MySQL database's name.
 */
static void make_tables(int run, int source, int target)
{
	PGconn *pg;
	MYSQL *my;
	char sql[1024];

	if (source == SRC_PG) {
		itest_pg_create_db(src_db[run]);
		pg = itest_pg_connect(src_db[run]);
		itest_pg_exec(pg, "CREATE TABLE t (id int PRIMARY KEY, v int, w text)");
		PQfinish(pg);
	} else {
		itest_my_create_db(src_db[run]);
		my = itest_my_connect(src_db[run]);
		itest_my_exec(my, "CREATE TABLE t (id int PRIMARY KEY, v int, w text)");
		mysql_close(my);
	}
	if (target == TGT_PG) {
		const char *schema = source == SRC_PG ? "public" : src_db[run];

		itest_pg_create_db(dst_db[run]);
		pg = itest_pg_connect(dst_db[run]);
		snprintf(sql, sizeof sql,
		         "CREATE SCHEMA IF NOT EXISTS \"%s\"; SET search_path TO \"%s\"; "
		         "CREATE TABLE t (id int PRIMARY KEY, v int CONSTRAINT v_nonneg "
		         "CHECK (v >= 0), w text); "
		         "CREATE TABLE pin (id int PRIMARY KEY REFERENCES t (id)); "
		         "INSERT INTO t VALUES (14, 14, 'row 14'); INSERT INTO pin VALUES (14)",
		         schema, schema);
		itest_pg_exec(pg, sql);
		PQfinish(pg);
	} else {
		itest_my_create_db(dst_db[run]);
		my = itest_my_connect(dst_db[run]);
		itest_my_exec(my, "CREATE TABLE t (id int PRIMARY KEY, v int, w text, "
		                  "CONSTRAINT v_nonneg CHECK (v >= 0)) ENGINE=InnoDB");
		itest_my_exec(my,
		              "CREATE TABLE pin (id int PRIMARY KEY, CONSTRAINT pin_t FOREIGN KEY "
		              "(id) REFERENCES t (id)) ENGINE=InnoDB");
		itest_my_exec(my, "INSERT INTO t VALUES (14, 14, 'row 14')");
		itest_my_exec(my, "INSERT INTO pin VALUES (14)");
		mysql_close(my);
	}
}

/* Rows of the target's t, "id|v|w", ordered by id. */
static itest_rows *target_rows(int run, int source, int target)
{
	itest_rows *r;
	char sql[512];

	if (target == TGT_PG) {
		PGconn *pg = itest_pg_connect(dst_db[run]);
		snprintf(sql, sizeof sql, "SELECT id::text, v::text, w FROM \"%s\".t ORDER BY t.id",
		         source == SRC_PG ? "public" : src_db[run]);
		r = itest_pg_rows(pg, sql);
		PQfinish(pg);
	} else {
		MYSQL *my = itest_my_connect(dst_db[run]);
		r = itest_my_rows(my,
		                  "SELECT CAST(id AS CHAR), CAST(v AS CHAR), w FROM t ORDER BY id");
		mysql_close(my);
	}
	return r;
}

/* ---- without a dead-letter table: the stream fails, naming the row ---- */

/*
 * Good rows in one transaction, then a multi-row transaction with one bad
 * row of the kind `bad`: an insert in a 100-row run (COPY / multi-row
 * INSERT), an update among 50, a delete among 20.
 */
START_TEST(rejected_row_fails_the_stream)
{
	int run = _i, target = _i / NCASES, bad = _i % NCASES;
	char config[4096], buf[4096], key[32], quoted[32];
	const char *db_words, *table_words;
	PGconn *src;
	dbs_stream *s;
	dbs_stat st;
	itest_rows *r;

	make_tables(run, SRC_PG, target);
	config_for(config, sizeof config, run, SRC_PG, target, NULL, 0);
	s = start(config, NULL);
	src = itest_pg_connect(src_db[run]);
	itest_pg_exec(src, "INSERT INTO t SELECT g, g, 'row ' || g FROM generate_series(1, 60) g");
	switch (bad) {
	case BAD_INSERT:
		itest_pg_exec(src,
		              "INSERT INTO t SELECT g, CASE WHEN g = 150 THEN -150 ELSE g END, "
		              "'row ' || g FROM generate_series(101, 200) g");
		snprintf(key, sizeof key, "id=150");
		break;
	case BAD_UPDATE:
		itest_pg_exec(src, "UPDATE t SET v = CASE WHEN id = 40 THEN -1 ELSE v + 1 END "
		                   "WHERE id BETWEEN 11 AND 60");
		snprintf(key, sizeof key, "id=40");
		break;
	default:
		itest_pg_exec(src, "DELETE FROM t WHERE id BETWEEN 1 AND 20");
		snprintf(key, sizeof key, "id=14");
		break;
	}
	itest_wait_node_status(s, 1, DBS_STATUS_FAILED, 60, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED, "the target must fail: %s", buf);
	/* The table, the row's key and the database's own words. */
	if (bad == BAD_DELETE) {
		db_words = target == TGT_PG ? "violates foreign key constraint"
		                            : "foreign key constraint fails";
	} else {
		db_words = target == TGT_PG ? "violates check constraint \"v_nonneg\"" : "v_nonneg";
	}
	table_words = target == TGT_PG ? "public.t (" : "`.`t`";
	ck_assert_msg(strstr(st.target.message, table_words) != NULL, "no table in: %s", buf);
	/* MySQL's key shows the value as the literal it sent. */
	snprintf(quoted, sizeof quoted, "%.*s'%s'", (int)(strchr(key, '=') - key + 1), key,
	         strchr(key, '=') + 1);
	ck_assert_msg(strstr(st.target.message, key) != NULL ||
	                  (target == TGT_MY && strstr(st.target.message, quoted) != NULL),
	              "no key %s in: %s", key, buf);
	ck_assert_msg(strstr(st.target.message, db_words) != NULL, "no \"%s\" in: %s", db_words,
	              buf);
	dbs_stream_stop(s);
	dbs_stream_free(s);

	/* The good transaction is in, nothing of the failed one. */
	r = target_rows(run, SRC_PG, target);
	ck_assert_uint_eq(r->nrows, 60);
	for (size_t i = 0; i < r->nrows; i++) {
		long id = atol(r->cells[i * 3]);
		ck_assert_str_eq(r->cells[i * 3 + 1], r->cells[i * 3]);
		ck_assert_msg(id >= 1 && id <= 60, "row %ld of the failed transaction applied", id);
	}
	itest_rows_free(r);
	PQfinish(src);
}
END_TEST

/* ---- with a dead-letter table ---- */

/*
 * T1: 300 inserts, those with id % 17 = 0 negative (17 rejected).
 * T2: 60 updates (v + 1000 where id % 5 = 0; three find no row) and 13
 *     bad ones (v = -1 where id % 23 = 0).
 * T3: 42 deletes (id % 7 = 0), row 14's refused by pin's foreign key.
 * T4: 10 more inserts (ids 311..320: none a multiple of 17).
 */
#define DL_EVENTS 425u

static void dl_workload(int run, int source)
{
	if (source == SRC_PG) {
		PGconn *pg = itest_pg_connect(src_db[run]);
		itest_pg_exec(pg,
		              "INSERT INTO t SELECT g, CASE WHEN g % 17 = 0 THEN -g ELSE g END, "
		              "'row ' || g FROM generate_series(1, 300) g");
		itest_pg_exec(pg, "BEGIN; UPDATE t SET v = v + 1000 WHERE id % 5 = 0; "
		                  "UPDATE t SET v = -1 WHERE id % 23 = 0; COMMIT");
		itest_pg_exec(pg, "DELETE FROM t WHERE id % 7 = 0");
		itest_pg_exec(pg, "INSERT INTO t SELECT g, g, 'row ' || g "
		                  "FROM generate_series(311, 320) g");
		PQfinish(pg);
	} else {
		MYSQL *my = itest_my_connect(src_db[run]);
		itest_my_exec(my, "INSERT INTO t SELECT seq, IF(seq % 17 = 0, -seq, seq), "
		                  "CONCAT('row ', seq) FROM seq_1_to_300");
		itest_my_exec(my, "START TRANSACTION");
		itest_my_exec(my, "UPDATE t SET v = v + 1000 WHERE id % 5 = 0");
		itest_my_exec(my, "UPDATE t SET v = -1 WHERE id % 23 = 0");
		itest_my_exec(my, "COMMIT");
		itest_my_exec(my, "DELETE FROM t WHERE id % 7 = 0");
		itest_my_exec(my, "INSERT INTO t SELECT seq, seq, CONCAT('row ', seq) "
		                  "FROM seq_311_to_320");
		mysql_close(my);
	}
}

/* What the target must hold, read from the source: its rows but the
 * rejected inserts, the value before the rejected update, and row 14
 * whose delete failed. */
static itest_rows *expected_rows(int run, int source)
{
	static const char pg_sql[] =
	    "SELECT id::text, v::text, w FROM (SELECT id, CASE WHEN id % 23 = 0 THEN CASE WHEN "
	    "id % 5 = 0 THEN id + 1000 ELSE id END ELSE v END AS v, w FROM t WHERE id % 17 <> 0 "
	    "UNION ALL SELECT 14, 14, 'row 14') x ORDER BY x.id";
	static const char my_sql[] =
	    "SELECT CAST(id AS CHAR), CAST(v2 AS CHAR), w FROM (SELECT id, CASE WHEN id % 23 = 0 "
	    "THEN CASE WHEN id % 5 = 0 THEN id + 1000 ELSE id END ELSE v END AS v2, w FROM t "
	    "WHERE id % 17 <> 0 UNION ALL SELECT 14, 14, 'row 14') x ORDER BY x.id";
	itest_rows *r;

	if (source == SRC_PG) {
		PGconn *pg = itest_pg_connect(src_db[run]);
		r = itest_pg_rows(pg, pg_sql);
		PQfinish(pg);
	} else {
		MYSQL *my = itest_my_connect(src_db[run]);
		r = itest_my_rows(my, my_sql);
		mysql_close(my);
	}
	return r;
}

/* Dead letters as "op|id|code|message|v after|table|stream", ordered. */
static itest_rows *dead_letters(int run, int target)
{
	itest_rows *r;

	if (target == TGT_PG) {
		PGconn *pg = itest_pg_connect(dst_db[run]);
		r = itest_pg_rows(pg,
		                  "SELECT operation, row_key->>'id', error_code, error_message, "
		                  "coalesce(row_after->>'v', ''), source_table, stream_id "
		                  "FROM ops.rejected ORDER BY operation, (row_key->>'id')::int");
		PQfinish(pg);
	} else {
		MYSQL *my = itest_my_connect(dst_db[run]);
		r = itest_my_rows(
		    my, "SELECT operation, JSON_VALUE(row_key, '$.id'), error_code, "
		        "error_message, COALESCE(JSON_VALUE(row_after, '$.v'), ''), "
		        "source_table, stream_id FROM rejected "
		        "ORDER BY operation, CAST(JSON_VALUE(row_key, '$.id') AS INTEGER)");
		mysql_close(my);
	}
	return r;
}

static void check_dead_letters(int run, int source, int target, const char *id)
{
	char table[96];
	itest_rows *r = dead_letters(run, target);
	size_t k = 0;
	const char *check_code = target == TGT_PG ? "23514" : "4025";
	const char *fk_code = target == TGT_PG ? "23503" : "1451";

	ck_assert_uint_eq(r->nrows, 1 + 17 + 13);
	/* "delete" < "insert" < "update" */
	ck_assert_str_eq(r->cells[0], "delete");
	ck_assert_str_eq(r->cells[1], "14");
	ck_assert_str_eq(r->cells[2], fk_code);
	ck_assert_msg(strstr(r->cells[3], "foreign key") != NULL, "message: %s", r->cells[3]);
	for (k = 1; k < r->nrows; k++) {
		char **row = r->cells + k * r->ncols;
		int insert = k <= 17;
		char want[16];

		snprintf(want, sizeof want, "%zu", insert ? 17 * k : 23 * (k - 17));
		ck_assert_str_eq(row[0], insert ? "insert" : "update");
		ck_assert_str_eq(row[1], want);
		ck_assert_str_eq(row[2], check_code);
		ck_assert_msg(strstr(row[3], "v_nonneg") != NULL, "message: %s", row[3]);
		if (insert) {
			char v[24];
			snprintf(v, sizeof v, "-%s", want);
			ck_assert_str_eq(row[4], v);
		} else {
			ck_assert_str_eq(row[4], "-1");
		}
	}
	snprintf(table, sizeof table, "%s.t", source == SRC_PG ? "public" : src_db[run]);
	for (k = 0; k < r->nrows; k++) {
		ck_assert_str_eq(r->cells[k * r->ncols + 5], table);
		ck_assert_str_eq(r->cells[k * r->ncols + 6], id);
	}
	itest_rows_free(r);
}

/*
 * PostgreSQL and MySQL sources into both targets. The first stream stops
 * after 150 events, in the middle of T1 (8 of its rejected rows already
 * written); a second stream with the same id replays T1 from its start,
 * skips what the first one committed, and writes the rest.
 */
START_TEST(dead_letter_table)
{
	int run = 2 * NCASES + _i, source = _i / 2, target = _i % 2;
	const char *dlq = target == TGT_PG ? "ops.rejected" : "rejected";
	char config[4096], buf[4096], id[32];
	dbs_stream *s;
	dbs_stat st;
	itest_rows *a, *b;
	itest_rows *r;

	make_tables(run, source, target);
	atomic_store(&rejected_lines, 0);
	atomic_store(&rejected_named, 0);
	config_for(config, sizeof config, run, source, target, dlq, 150);
	s = start(config, NULL);
	snprintf(id, sizeof id, "%s", dbs_stream_id(s));
	dl_workload(run, source);
	itest_wait_node_status(s, 1, DBS_STATUS_EVENT_LIMIT_REACHED, 60, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_EVENT_LIMIT_REACHED &&
	                  st.target.counter == 150,
	              "the first stream must stop at 150 events: %s", buf);
	ck_assert_uint_eq(st.target_dead_letters, 8);
	dbs_stream_stop(s);
	dbs_stream_free(s);
	r = dead_letters(run, target);
	ck_assert_uint_eq(r->nrows, 8); /* ids 17 .. 136 */
	itest_rows_free(r);
	ck_assert_int_eq(atomic_load(&rejected_lines), 8);

	/* The same stream again: T1 comes again from its first event. */
	config_for(config, sizeof config, run, source, target, dlq, 0);
	s = start(config, id);
	itest_wait_target_counter(s, DL_EVENTS, 90);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_STOPPED && st.target.counter == DL_EVENTS,
	              "the second stream must replay T1 and apply the rest: %s", buf);
	ck_assert_uint_eq(st.target_dead_letters, 31 - 8);
	dbs_stream_free(s);
	ck_assert_int_eq(atomic_load(&rejected_lines), 31);
	ck_assert_int_eq(atomic_load(&rejected_named), 31);

	a = expected_rows(run, source);
	b = target_rows(run, source, target);
	/* Deleted rows 119 and 238 were never in the target. */
	ck_assert_uint_eq(a->nrows, 310 - 42 - (17 - 2) + 1);
	itest_rows_compare(a, b, "", NULL, "t with rejected rows left out");
	itest_rows_free(a);
	itest_rows_free(b);
	check_dead_letters(run, source, target, id);
}
END_TEST

/* ---- values refused before they reach the database ---- */

/*
 * MySQL -> PostgreSQL with a zero date (zeroDates "fail"), PostgreSQL ->
 * MySQL with a NaN numeric: 40 inserts in one transaction (a COPY run /
 * one multi-row INSERT), row 20 refused, the other 39 applied.
 */
START_TEST(refused_value_dead_letter)
{
	int run = 2 * NCASES + 4 + _i, target = _i == 0 ? TGT_PG : TGT_MY;
	char src[512], dst[512], config[4096];
	dbs_stream *s;
	itest_rows *a, *b, *r;
	int n;

	if (target == TGT_PG) {
		MYSQL *my;

		itest_my_create_db(src_db[run]);
		itest_pg_create_db(dst_db[run]);
		itest_my_dsn(src, sizeof src, src_db[run]);
		itest_pg_uri(dst, sizeof dst, dst_db[run], NULL, NULL, 0);
		my = itest_my_connect(src_db[run]);
		itest_my_exec(my, "CREATE TABLE r (id int PRIMARY KEY, d date)");
		n = snprintf(config, sizeof config,
		             "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
		             "\"filter\": {\"tables\": [{\"name\": \"%s.r\"}]}}, "
		             "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
		             "\"options\": {\"deadLetterTable\": \"rejected\"}}}",
		             src, src_db[run], dst);
		ck_assert(n > 0 && (size_t)n < sizeof config);
		s = start(config, NULL);
		itest_my_exec(my, "INSERT INTO r SELECT seq, CASE WHEN seq = 20 THEN '0000-00-00' "
		                  "ELSE DATE_ADD('2024-01-01', INTERVAL seq DAY) END "
		                  "FROM seq_1_to_40");
		a = itest_my_rows(my, "SELECT CAST(id AS CHAR), DATE_FORMAT(d, '%Y-%m-%d') FROM r "
		                      "WHERE id <> 20 ORDER BY id");
		mysql_close(my);
	} else {
		PGconn *pg;

		itest_pg_create_db(src_db[run]);
		itest_my_create_db(dst_db[run]);
		itest_pg_uri(src, sizeof src, src_db[run], NULL, NULL, 0);
		itest_my_dsn(dst, sizeof dst, dst_db[run]);
		pg = itest_pg_connect(src_db[run]);
		itest_pg_exec(pg, "CREATE TABLE r (id int PRIMARY KEY, d numeric)");
		n = snprintf(config, sizeof config,
		             "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
		             "\"settings\": {\"replicationSlotName\": \"%s\", "
		             "\"publicationName\": \"%s\"}, "
		             "\"filter\": {\"tables\": [{\"name\": \"r\"}]}}, "
		             "\"target\": {\"type\": \"mysql\", \"connection\": \"%s\", "
		             "\"options\": {\"deadLetterTable\": \"%s.rejected\"}}}",
		             src, slot[run], pub[run], dst, dst_db[run]);
		ck_assert(n > 0 && (size_t)n < sizeof config);
		s = start(config, NULL);
		itest_pg_exec(pg, "INSERT INTO r SELECT g, CASE WHEN g = 20 THEN 'NaN' "
		                  "ELSE g * 1.5 END FROM generate_series(1, 40) g");
		a = itest_pg_rows(pg,
		                  "SELECT id::text, d::text FROM r WHERE id <> 20 ORDER BY r.id");
		PQfinish(pg);
	}
	itest_wait_target_counter(s, 40, 60);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);

	if (target == TGT_PG) {
		PGconn *pg = itest_pg_connect(dst_db[run]);
		char sql[512];

		snprintf(sql, sizeof sql,
		         "SELECT id::text, to_char(d, 'YYYY-MM-DD') FROM \"%s\".r ORDER BY r.id",
		         src_db[run]);
		b = itest_pg_rows(pg, sql);
		r = itest_pg_rows(pg, "SELECT operation, row_key::text, error_code, error_message, "
		                      "row_after->>'d' FROM rejected");
		PQfinish(pg);
	} else {
		MYSQL *my = itest_my_connect(dst_db[run]);

		b = itest_my_rows(my,
		                  "SELECT CAST(id AS CHAR), CAST(d AS CHAR) FROM r ORDER BY id");
		r = itest_my_rows(my, "SELECT operation, row_key, error_code, error_message, "
		                      "JSON_VALUE(row_after, '$.d') FROM rejected");
		mysql_close(my);
	}
	ck_assert_uint_eq(a->nrows, 39);
	itest_rows_compare(a, b, target == TGT_PG ? "" : "sn", NULL, "r without row 20");
	ck_assert_uint_eq(r->nrows, 1);
	ck_assert_str_eq(r->cells[0], "insert");
	ck_assert_str_eq(r->cells[1], target == TGT_PG ? "{\"id\": 20}" : "{\"id\":20}");
	ck_assert_str_eq(r->cells[2], "value");
	ck_assert_str_eq(r->cells[4], target == TGT_PG ? "0000-00-00" : "NaN");
	ck_assert_msg(strstr(r->cells[3], r->cells[4]) != NULL, "message: %s", r->cells[3]);
	itest_rows_free(a);
	itest_rows_free(b);
	itest_rows_free(r);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_dead_letter");
	TCase *tc = tcase_create("dead_letter");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_loop_test(tc, rejected_row_fails_the_stream, 0, 2 * NCASES);
	tcase_add_loop_test(tc, dead_letter_table, 0, 4);
	tcase_add_loop_test(tc, refused_value_dead_letter, 0, 2);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
