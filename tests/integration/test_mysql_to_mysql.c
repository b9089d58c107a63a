/*
 * MySQL/MariaDB → MySQL/MariaDB through the public API: 50,000 inserts,
 * 10,000 updates and 5,000 deletes over three tables of the common MySQL
 * types in multi-row transactions, then one INSERT … SELECT of 100,000
 * rows in one transaction, into another database of the same server (so
 * the source must not capture what its own target writes). Both sides are
 * read back in a canonical text per column and compared value for value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

static char src_db[64], dst_db[64];

/* The configuration of a stream of src_db's tables `names`
 * (comma-separated, unqualified) into dst_db, default settings, as the
 * harness's user or with the target DSN `dst` (NULL: the harness's). */
static void stream_config(char *config, size_t size, const char *names, const char *dst)
{
	char src_dsn[512], dst_dsn[512], list[512] = "";
	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	if (dst)
		snprintf(dst_dsn, sizeof dst_dsn, "%s", dst);
	else
		itest_my_dsn(dst_dsn, sizeof dst_dsn, dst_db);
	char copy[256];
	snprintf(copy, sizeof copy, "%s", names);
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(list);
		snprintf(list + len, sizeof list - len, "%s{\"name\": \"%s.%s\"}", len ? ", " : "",
		         src_db, t);
	}
	int n = snprintf(config, size,
	                 "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	                 "\"filter\": {\"tables\": [%s]}}, "
	                 "\"target\": {\"type\": \"mysql\", \"connection\": \"%s\"}, "
	                 "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	                 src_dsn, list, dst_dsn);
	ck_assert(n > 0 && (size_t)n < size);
}

/* The stream `id` (NULL: a new one) of stream_config's; its warnings to
 * `log` (NULL: none). */
static dbs_stream *start_stream_to(const char *names, dbs_log_fn log, const char *id,
                                   const char *dst)
{
	char config[2048];
	stream_config(config, sizeof config, names, dst);
	return itest_stream_start_logged(config, id, log, DBS_LOG_WARN);
}

static dbs_stream *start_stream_id(const char *names, dbs_log_fn log, const char *id)
{
	return start_stream_to(names, log, id, NULL);
}

static dbs_stream *start_stream(const char *names, dbs_log_fn log)
{
	return start_stream_id(names, log, NULL);
}

/* Empty source and target databases, a session on each. */
static void open_databases(MYSQL **src, MYSQL **dst)
{
	itest_my_create_db(src_db);
	itest_my_create_db(dst_db);
	*src = itest_my_connect(src_db);
	*dst = itest_my_connect(dst_db);
}

static uint64_t com_load(MYSQL *conn)
{
	char *v = itest_my_value(conn, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
	                               "WHERE VARIABLE_NAME = 'COM_LOAD'");
	ck_assert_ptr_nonnull(v);
	uint64_t n = strtoull(v, NULL, 10);
	free(v);
	return n;
}

/* Wait until `table` of the target holds `rows` rows (the target's event
 * counter counts a grouped transaction's rows before it commits). */
static void wait_rows(MYSQL *dst, const char *table, uint64_t rows)
{
	int64_t deadline = itest_now_ms() + 120000;
	char there[256];
	uint64_t n = 0;
	snprintf(there, sizeof there,
	         "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '%s'",
	         table);
	while ((itest_my_count(dst, there) == 0 || (n = itest_my_count(dst, table)) != rows) &&
	       itest_now_ms() < deadline)
		usleep(100 * 1000);
	ck_assert_msg(n == rows, "%s: %llu rows, waited for %llu", table, (unsigned long long)n,
	              (unsigned long long)rows);
}

static const char *const tables[] = {"t1", "t2", "t3"};

static void setup(void)
{
	itest_name(src_db, sizeof src_db, "m2m_src");
	itest_name(dst_db, sizeof dst_db, "m2m_dst");
}

static void teardown(void)
{
	itest_my_drop_db(src_db);
	itest_my_drop_db(dst_db);
}

START_TEST(mysql_to_mysql_all_types)
{
	char src_dsn[512], dst_dsn[512], config[4096], sql[2048], buf[2048];
	MYSQL *src, *dst;
	PGconn *pg;
	dbs_stream *s;
	dbs_stat st;
	uint64_t events = 0;
	size_t i;
	int n;

	itest_my_create_db(src_db);
	itest_my_create_db(dst_db);
	src = itest_my_connect(src_db);
	itest_my_workload_tables(src);
	/* A checkpoint table as versions without GTIDs made it: the target
	 * adds the column. */
	dst = itest_my_connect(dst_db);
	itest_my_exec(dst, "CREATE TABLE dbstreams_checkpoint (stream_id varchar(64) NOT NULL "
	                   "PRIMARY KEY, txn bigint unsigned NOT NULL, resume bigint unsigned NOT "
	                   "NULL, event bigint NOT NULL, txn_end bigint NOT NULL, hub_seq bigint "
	                   "unsigned NOT NULL, position varchar(255) NOT NULL, updated_at "
	                   "datetime(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
	mysql_close(dst);

	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_my_dsn(dst_dsn, sizeof dst_dsn, dst_db);
	/* Tables named with their database: other suites write tables of the
	 * same names into other databases of the same server. */
	n = snprintf(config, sizeof config,
	             "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	             "\"filter\": {\"tables\": ["
	             "{\"name\": \"%s.t1\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"%s.t2\", \"operations\": [\"insert\", \"update\", \"delete\"]}, "
	             "{\"name\": \"%s.t3\"}]}}, "
	             "\"target\": {\"type\": \"mysql\", \"connection\": \"%s\"}, "
	             "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	             src_dsn, src_db, src_db, src_db, dst_dsn);
	ck_assert(n > 0 && (size_t)n < sizeof config);

	s = itest_stream_start(config);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_READY && st.target.status == DBS_STATUS_READY,
	              "after create both nodes must be READY: %s", buf);

	itest_my_workload_run(src, &events);
	ck_assert_uint_eq(events, 165260);
	/* The GTID of the workload's last transaction, its INSERT ... SELECT. */
	char *last_gtid = itest_my_value(src, "SELECT @@last_gtid");
	ck_assert_ptr_nonnull(last_gtid);

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
	pg = itest_pg_connect("postgres"); /* compares JSON documents */
	for (i = 0; i < 3; i++) {
		itest_rows *a, *b;

		itest_my_workload_sql_my(sql, sizeof sql, tables[i]);
		a = itest_my_rows(src, sql);
		b = itest_my_rows(dst, sql);
		itest_rows_compare(a, b, itest_my_workload_modes, pg, tables[i]);
		itest_rows_free(a);
		itest_rows_free(b);
	}
	/* The old key of the changed primary key is gone. */
	ck_assert_uint_eq(itest_my_count(dst, "t2 WHERE id BETWEEN 49001 AND 49010"), 0);
	ck_assert_uint_eq(itest_my_count(dst, "t2 WHERE id BETWEEN 1049001 AND 1049010"), 10);
	ck_assert_uint_eq(itest_my_count(dst, "t1 WHERE id BETWEEN 200001 AND 300000"), 100000);
	/* Nothing the target wrote came back through the source. */
	ck_assert_uint_eq(itest_my_count(src, "t1"), itest_my_count(dst, "t1"));
	/* The checkpoint, in the table made without a gtid column, holds the
	 * GTID of the last transaction applied. */
	char *ck_gtid = itest_my_value(dst, "SELECT gtid FROM dbstreams_checkpoint");
	ck_assert_msg(ck_gtid && strcmp(ck_gtid, last_gtid) == 0,
	              "the checkpoint's gtid is %s, the last transaction's %s",
	              ck_gtid ? ck_gtid : "NULL", last_gtid);
	free(ck_gtid);
	free(last_gtid);

	PQfinish(pg);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

/*
 * Long runs of inserts into one table go as LOAD DATA LOCAL. 20,000 rows
 * of every type that path takes, with the bytes its text form escapes
 * (tab, newline, backslash, NUL, "\\N"), in one source transaction,
 * arrive value for value; a second table whose target already holds a
 * row of a key the source inserts ends with the source's row (LOAD DATA
 * LOCAL would skip it: the rows go again as INSERT … ON DUPLICATE KEY
 * UPDATE).
 */
START_TEST(long_insert_runs_arrive_whole)
{
	MYSQL *src, *dst;
	dbs_stream *s;
	dbs_stat st;
	char buf[2048];

	open_databases(&src, &dst);
	itest_my_exec(src, "CREATE TABLE lt (id BIGINT PRIMARY KEY, txt TEXT, num DECIMAL(38,10), "
	                   "big BIGINT, ubig BIGINT UNSIGNED, dbl DOUBLE, flt FLOAT, flag BOOLEAN, "
	                   "doc JSON, ts TIMESTAMP(6) NULL DEFAULT NULL, dt DATETIME(6), d DATE, "
	                   "tm TIME(6), e ENUM('red','green','blue'), st SET('a','b','c'), y YEAR, "
	                   "lat VARCHAR(64) CHARACTER SET latin1, ch CHAR(10)) ENGINE=InnoDB");
	itest_my_exec(src, "CREATE TABLE dup (id BIGINT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB");
	itest_my_exec(dst, "CREATE TABLE dup (id BIGINT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB");
	itest_my_exec(dst, "INSERT INTO dup VALUES (3000, 'old')");
	s = start_stream("lt,dup", NULL);
	uint64_t loads = com_load(dst);

	uint64_t events = 0;
	itest_my_exec(src, "START TRANSACTION");
	events += itest_my_exec_count(
		src,
		"INSERT INTO lt SELECT seq, "
		"CASE seq % 9 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN CONCAT('t\tab ', seq) "
		"WHEN 3 THEN CONCAT('n\nl\r ', seq) WHEN 4 THEN CONCAT('b\\s \\N \\t ', seq) "
		"WHEN 5 THEN CONCAT('nul ', CHAR(0), ' ', seq) WHEN 6 THEN '\\N' "
		"WHEN 7 THEN CONCAT('q '' \" \xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd \xf0\x9f\x9a\x80 ', seq) "
		"ELSE REPEAT('x', seq % 300) END, "
		"CASE WHEN seq % 13 = 0 THEN NULL ELSE seq * -1234.0123456789 END, "
		"CASE seq % 5 WHEN 0 THEN 9223372036854775807 WHEN 1 THEN -9223372036854775808 "
		"ELSE seq END, "
		"CASE seq % 3 WHEN 0 THEN 18446744073709551615 WHEN 1 THEN NULL ELSE seq END, "
		"CASE WHEN seq % 17 = 0 THEN -1.7976931348623157e308 ELSE seq / 3e0 * 1e-5 END, "
		"seq / 7e0, seq % 2 = 0, "
		"CASE WHEN seq % 37 = 0 THEN NULL ELSE JSON_OBJECT('id', seq, 's', 'a\tb\\c') END, "
		"TIMESTAMPADD(MICROSECOND, seq * 2220000001, '2000-01-01 00:00:00.123456'), "
		"CASE WHEN seq % 45 = 0 THEN '9999-12-31 23:59:59.999999' "
		"ELSE TIMESTAMPADD(SECOND, seq * 86401, '1000-01-01 00:00:00.000001') END, "
		"CASE WHEN seq % 43 = 0 THEN '0000-00-00' ELSE DATE('1970-01-01') + INTERVAL seq DAY END, "
		"CASE WHEN seq % 2 = 0 THEN '-838:59:59.000000' ELSE SEC_TO_TIME(seq) END, "
		"ELT(1 + seq % 3, 'red', 'green', 'blue'), "
		"CASE seq % 4 WHEN 0 THEN '' WHEN 1 THEN 'a' ELSE 'a,c' END, 1901 + seq % 255, "
		"CONCAT('caf\xc3\xa9 ', seq), IF(seq % 2, 'c', NULL) FROM seq_1_to_20000");
	events += itest_my_exec_count(src, "INSERT INTO dup SELECT seq, CONCAT('new ', seq) "
	                                   "FROM seq_1_to_5000");
	itest_my_exec(src, "COMMIT");
	ck_assert_uint_eq(events, 25000);

	itest_wait_target_counter(s, events, 240);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.counter == events, "expected %llu events: %s",
	              (unsigned long long)events, buf);
	dbs_stream_free(s);

	/* Both tables went the LOAD DATA way (the second one undone and sent
	 * again as INSERT). */
	ck_assert_msg(com_load(dst) >= loads + 2, "LOAD DATA ran %llu times",
	              (unsigned long long)(com_load(dst) - loads));
	static const char q[] =
		"SELECT id, HEX(txt), num, big, ubig, dbl, flt, flag, doc, ts, dt, d, tm, e, st, y, "
		"lat, HEX(ch) FROM lt ORDER BY id";
	itest_rows *a = itest_my_rows(src, q), *b = itest_my_rows(dst, q);
	ck_assert_uint_eq(b->nrows, 20000);
	itest_rows_compare(a, b, "", NULL, "lt");
	itest_rows_free(a);
	itest_rows_free(b);
	a = itest_my_rows(src, "SELECT id, v FROM dup ORDER BY id");
	b = itest_my_rows(dst, "SELECT id, v FROM dup ORDER BY id");
	ck_assert_uint_eq(b->nrows, 5000);
	itest_rows_compare(a, b, "", NULL, "dup");
	itest_rows_free(a);
	itest_rows_free(b);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

/*
 * Table `narrow` with extra columns `pad` (may be empty), its `v` a
 * VARCHAR(64) at the source and a VARCHAR(5) at the target, filled by
 * `insert` with one value too long: the stream fails naming the row by
 * `key`, and nothing of its transaction is in the target.
 */
static void value_too_long_fails(const char *pad, const char *insert, const char *key)
{
	MYSQL *src, *dst;
	dbs_stream *s;
	dbs_stat st;
	char buf[2048], sql[256];

	open_databases(&src, &dst);
	snprintf(sql, sizeof sql,
	         "CREATE TABLE narrow (id BIGINT PRIMARY KEY%s, v VARCHAR(64)) ENGINE=InnoDB", pad);
	itest_my_exec(src, sql);
	snprintf(sql, sizeof sql,
	         "CREATE TABLE narrow (id BIGINT PRIMARY KEY%s, v VARCHAR(5)) ENGINE=InnoDB", pad);
	itest_my_exec(dst, sql);
	s = start_stream("narrow", NULL);
	itest_my_exec(src, insert);
	itest_wait_node_status(s, 1, DBS_STATUS_FAILED, 120, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED && strstr(st.target.message, "too long"),
	              "a value too long for the target must fail the stream: %s", buf);
	ck_assert_msg(strstr(st.target.message, key), "the failure must name the row: %s", buf);
	dbs_stream_stop(s);
	dbs_stream_free(s);
	ck_assert_uint_eq(itest_my_count(dst, "narrow"), 0);
	mysql_close(dst);
	mysql_close(src);
}

/*
 * A value the target column cannot hold, in a long run of inserts:
 * LOAD DATA LOCAL would cut it with a warning; the stream fails naming
 * it, and nothing of its transaction is in the target.
 */
START_TEST(long_insert_run_value_too_long_fails)
{
	value_too_long_fails("", "INSERT INTO narrow SELECT seq, IF(seq = 4000, 'much too long', "
	                         "'ok') FROM seq_1_to_5000",
	                     "id=4000");
}
END_TEST

/*
 * A run of inserts longer than one LOAD DATA statement (about 4 MB) goes
 * on as LOAD DATA from one statement to the next. 16,000 rows of 1 KB in
 * one source transaction, with rows of another table amid them and two
 * keys the target already holds (each in a statement that is undone and
 * sent again as INSERT), arrive value for value. Then transactions of
 * 1,000 rows each, applied one by one, go as LOAD DATA too: the run of
 * inserts goes on across commits.
 */
START_TEST(long_insert_runs_span_statements)
{
	MYSQL *src, *dst;
	dbs_stream *s;

	open_databases(&src, &dst);
	itest_my_exec(src, "CREATE TABLE w (id BIGINT PRIMARY KEY, pad TEXT, v VARCHAR(64)) "
	                   "ENGINE=InnoDB");
	itest_my_exec(src, "CREATE TABLE z (id BIGINT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB");
	itest_my_exec(dst, "CREATE TABLE w (id BIGINT PRIMARY KEY, pad TEXT, v VARCHAR(64)) "
	                   "ENGINE=InnoDB");
	itest_my_exec(dst, "INSERT INTO w VALUES (3000, 'old', 'old'), (12000, 'old', 'old')");
	s = start_stream("w,z", NULL);
	uint64_t loads = com_load(dst), events = 0;
	itest_my_exec(src, "START TRANSACTION");
	events += itest_my_exec_count(src, "INSERT INTO w SELECT seq, REPEAT(CHAR(65 + seq % 26), "
	                                   "1000), CONCAT('v\t', seq) FROM seq_1_to_8000");
	events += itest_my_exec_count(src, "INSERT INTO z SELECT seq, CONCAT('z', seq) "
	                                   "FROM seq_1_to_10");
	events += itest_my_exec_count(src, "INSERT INTO w SELECT seq, REPEAT(CHAR(65 + seq % 26), "
	                                   "1000), CONCAT('v\n', seq) FROM seq_8001_to_16000");
	itest_my_exec(src, "COMMIT");
	itest_wait_target_counter(s, events, 240);
	wait_rows(dst, "w", 16000);
	/* Rows 2,001-8,000 and 10,001-16,000: at least four statements, two
	 * of them undone and sent again as INSERT. */
	uint64_t big = com_load(dst) - loads;
	ck_assert_msg(big >= 4, "LOAD DATA ran %llu times", (unsigned long long)big);
	for (int k = 0; k < 3; k++) {
		char sql[256];
		snprintf(sql, sizeof sql,
		         "INSERT INTO w SELECT 100000 + %d * 1000 + seq, 'small', 'txn' "
		         "FROM seq_1_to_1000",
		         k);
		events += itest_my_exec_count(src, sql);
		wait_rows(dst, "w", 16000 + 1000 * (uint64_t)(k + 1));
	}
	uint64_t small = com_load(dst) - loads - big;
	ck_assert_msg(small == 3, "3 transactions of 1,000 rows after a long run: LOAD DATA ran %llu "
	              "times", (unsigned long long)small);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	static const char *const q[] = {"SELECT id, pad, v FROM w ORDER BY id",
	                                "SELECT id, v FROM z ORDER BY id"};
	for (int k = 0; k < 2; k++) {
		itest_rows *a = itest_my_rows(src, q[k]), *b = itest_my_rows(dst, q[k]);
		ck_assert_uint_eq(b->nrows, k ? 10 : 19000);
		itest_rows_compare(a, b, "", NULL, k ? "z" : "w");
		itest_rows_free(a);
		itest_rows_free(b);
	}
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

/*
 * A value the target cannot hold in the first of several LOAD DATA
 * statements: the stream fails naming the row (the replay, one batch of
 * 100 rows at a time, sends that row's batch as LOAD DATA too, and its
 * INSERT names the row by its line), and nothing of its transaction is in
 * the target.
 */
START_TEST(long_insert_run_value_too_long_fails_mid_run)
{
	value_too_long_fails(", pad TEXT",
	                     "INSERT INTO narrow SELECT seq, REPEAT('p', 1000), IF(seq = 2050, "
	                     "'much too long', 'ok') FROM seq_1_to_12000",
	                     "id=2050");
}
END_TEST

/* A table of the target counting its commits: a trigger on the
 * checkpoint table, whose row every commit updates, notes the GTID of
 * the last transaction the writing session committed before this one. */
static void count_commits(MYSQL *dst)
{
	itest_my_exec(dst, "CREATE TABLE commits (n INT AUTO_INCREMENT PRIMARY KEY, "
	                   "after_gtid VARCHAR(64))");
	itest_my_exec(dst, "CREATE TRIGGER count_commits AFTER UPDATE ON dbstreams_checkpoint "
	                   "FOR EACH ROW INSERT INTO commits VALUES (NULL, @@last_gtid)");
}

/*
 * A stream started again, its tables already at the target, and a source
 * transaction spanning several batches whose second table first appears
 * in a later batch: the table is new to the session but exists, so no
 * part of the transaction is committed early. A trigger on the checkpoint
 * table counts the target's commits: one for the one source transaction.
 */
START_TEST(restart_keeps_a_transaction_whole)
{
	MYSQL *src, *dst;
	dbs_stream *s;

	open_databases(&src, &dst);
	itest_my_exec(src, "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB");
	itest_my_exec(src, "CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB");
	s = start_stream("a,b", NULL);
	itest_my_exec(src, "INSERT INTO a VALUES (1, 'first')");
	itest_my_exec(src, "INSERT INTO b VALUES (1, 'first')");
	wait_rows(dst, "b", 1);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	char id[64];
	snprintf(id, sizeof id, "%s", dbs_stream_id(s));
	dbs_stream_free(s);
	count_commits(dst);
	itest_my_exec(src, "START TRANSACTION");
	itest_my_exec(src, "INSERT INTO a SELECT seq, CONCAT('a', seq) FROM seq_2_to_500");
	itest_my_exec(src, "INSERT INTO b VALUES (2, 'last')");
	itest_my_exec(src, "COMMIT");
	s = start_stream_id("a,b", NULL, id);
	wait_rows(dst, "b", 2);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	ck_assert_uint_eq(itest_my_count(dst, "a"), 500);
	ck_assert_uint_eq(itest_my_count(dst, "commits"), 1);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

/*
 * Tables a and b at the source, a running stream of both into the target
 * (as the user of DSN `dst_dsn`; NULL: the harness's), a first row that
 * makes a at the target, the commit counter, then one source transaction
 * spanning several batches: 499 rows of 300 bytes into a (more than the
 * target holds back before sending, so its transaction is open at the
 * server), then `b_rows` rows into b, which the target does not have
 * yet, some of them updated and the last deleted. A trigger on a notes,
 * as the commit counter does, the GTID the session last committed (an
 * implicit commit between a's rows and the checkpoint shows as two), after
 * a consistent read, which gives the open transaction a snapshot older
 * than b (writing into b is not refused for it). Returns once b holds the
 * rows, the stream stopped.
 */
static void transaction_meets_a_new_table(MYSQL *src, MYSQL *dst, const char *dst_dsn,
                                          dbs_log_fn log, int b_rows)
{
	char sql[128];
	itest_my_exec(src, "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(400)) ENGINE=InnoDB");
	itest_my_exec(src, "CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(64), KEY (v)) "
	                   "ENGINE=InnoDB");
	dbs_stream *s = start_stream_to("a,b", log, NULL, dst_dsn);
	itest_my_exec(src, "INSERT INTO a VALUES (1, 'first')");
	wait_rows(dst, "a", 1);
	count_commits(dst);
	itest_my_exec(dst, "CREATE TABLE a_gtid (after_gtid VARCHAR(64))");
	itest_my_exec(dst, "CREATE TRIGGER a_gtid AFTER INSERT ON a FOR EACH ROW BEGIN "
	                   "SET @seen = (SELECT COUNT(*) FROM a_gtid); "
	                   "INSERT INTO a_gtid VALUES (@@last_gtid); END");
	itest_my_exec(src, "START TRANSACTION");
	itest_my_exec(src, "INSERT INTO a SELECT seq, CONCAT(REPEAT('a', 296), LPAD(seq, 4, '0')) "
	                   "FROM seq_2_to_500");
	snprintf(sql, sizeof sql, "INSERT INTO b SELECT seq, CONCAT('b', seq) FROM seq_1_to_%d",
	         b_rows);
	itest_my_exec(src, sql);
	itest_my_exec(src, "UPDATE b SET v = CONCAT(v, ' changed') WHERE id <= 5");
	snprintf(sql, sizeof sql, "DELETE FROM b WHERE id = %d", b_rows);
	itest_my_exec(src, sql);
	itest_my_exec(src, "COMMIT");
	wait_rows(dst, "b", (uint64_t)b_rows - 1);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	for (int k = 0; k < 2; k++) {
		const char *q = k ? "SELECT id, v FROM b ORDER BY id" : "SELECT id, v FROM a ORDER BY id";
		itest_rows *x = itest_my_rows(src, q);
		itest_rows *y = itest_my_rows(dst, q);
		itest_rows_compare(x, y, "", NULL, k ? "b" : "a");
		itest_rows_free(x);
		itest_rows_free(y);
	}
	/* The new table has its index, made by whichever session made it. */
	ck_assert_uint_eq(itest_my_count(dst, "information_schema.STATISTICS WHERE TABLE_SCHEMA = "
	                                      "DATABASE() AND TABLE_NAME = 'b' AND INDEX_NAME <> "
	                                      "'PRIMARY'"),
	                  1);
}

/*
 * A running stream meets a table missing at the target in a later batch
 * of a source transaction: the target creates it from a second session
 * (MySQL DDL commits the session's open transaction), so the transaction
 * is committed once, whole, its rows into the new table included (past
 * 2,000 of them as LOAD DATA).
 */
START_TEST(new_table_keeps_a_transaction_whole)
{
	MYSQL *src, *dst;

	open_databases(&src, &dst);
	transaction_meets_a_new_table(src, dst, NULL, NULL, 3000);
	ck_assert_uint_eq(itest_my_count(dst, "commits"), 1);
	ck_assert_uint_eq(itest_my_count(dst, "a_gtid"), 499);
	ck_assert_uint_eq(itest_my_count(dst, "(SELECT after_gtid FROM a_gtid UNION SELECT "
	                                      "after_gtid FROM commits) AS g"),
	                  1);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

static int second_session_warnings;

static void count_second_session(dbs_log_level level, const char *message, void *user_data)
{
	(void)user_data;
	if (level == DBS_LOG_WARN && strstr(message, "a second session was refused"))
		__atomic_add_fetch(&second_session_warnings, 1, __ATOMIC_SEQ_CST);
}

/*
 * The same with a target user allowed one connection: the second session
 * is refused, so the part applied so far is committed before the table is
 * created (two commits), the log says so, and every row arrives.
 */
START_TEST(new_table_without_a_second_session)
{
	MYSQL *src, *dst;
	char user[64], sql[512], dsn[512];

	open_databases(&src, &dst);
	itest_name(user, sizeof user, "m2m_one");
	snprintf(sql, sizeof sql, "DROP USER IF EXISTS '%s'@'%%'", user);
	itest_my_exec(dst, sql);
	snprintf(sql, sizeof sql,
	         "CREATE USER '%s'@'%%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 1", user);
	itest_my_exec(dst, sql);
	snprintf(sql, sizeof sql, "GRANT ALL ON %s.* TO '%s'@'%%'", dst_db, user);
	itest_my_exec(dst, sql);
	snprintf(dsn, sizeof dsn, "%s:pw@tcp(%s:%s)/%s", user, itest_env("DBS_TEST_MYSQL_HOST"),
	         itest_env("DBS_TEST_MYSQL_PORT"), dst_db);
	transaction_meets_a_new_table(src, dst, dsn, count_second_session, 2);
	ck_assert_uint_eq(itest_my_count(dst, "commits"), 2);
	/* a's rows, the early commit's checkpoint, then the implicit commit
	 * of CREATE TABLE before the last checkpoint. */
	ck_assert_uint_eq(itest_my_count(dst, "(SELECT after_gtid FROM a_gtid UNION SELECT "
	                                      "after_gtid FROM commits) AS g"),
	                  2);
	ck_assert_int_eq(__atomic_load_n(&second_session_warnings, __ATOMIC_SEQ_CST), 1);
	snprintf(sql, sizeof sql, "DROP USER '%s'@'%%'", user);
	itest_my_exec(dst, sql);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

/*
 * The stream killed right after it created a table at the target: started
 * again, it finds the table with its secondary indexes, made in the same
 * statement (a table that exists is left as it is, so an index made after
 * it would never be made), and every row.
 */
START_TEST(killed_after_creating_a_table)
{
	MYSQL *src, *dst;
	char config[2048], id[64];
	int status = 0;

	open_databases(&src, &dst);
	itest_my_exec(src, "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB");
	itest_my_exec(src, "CREATE TABLE k (id INT PRIMARY KEY, v VARCHAR(64), w INT, KEY kv (v), "
	                   "UNIQUE KEY kw (w)) ENGINE=InnoDB");
	dbs_stream *s = start_stream("a,k", NULL);
	itest_my_exec(src, "INSERT INTO a VALUES (1, 'first')");
	wait_rows(dst, "a", 1);
	snprintf(id, sizeof id, "%s", dbs_stream_id(s));
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	itest_my_exec(src, "INSERT INTO k SELECT seq, CONCAT('k', seq), seq FROM seq_1_to_100");
	stream_config(config, sizeof config, "a,k", NULL);
	pid_t pid = itest_part_spawn(config, id, DBS_PART_ALL, 0, "mysqlt.table_created:1");
	ck_assert_int_eq(itest_wait_exit(pid, 120, &status), 0);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	              "the stream did not die at mysqlt.table_created (a build without "
	              "-Dfault_injection=true has no such point)");
	s = start_stream_id("a,k", NULL, id);
	wait_rows(dst, "k", 100);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	ck_assert_uint_eq(itest_my_count(dst, "information_schema.STATISTICS WHERE TABLE_SCHEMA = "
	                                      "DATABASE() AND TABLE_NAME = 'k' AND INDEX_NAME IN "
	                                      "('kv', 'kw')"),
	                  2);
	itest_rows *x = itest_my_rows(src, "SELECT id, v, w FROM k ORDER BY id");
	itest_rows *y = itest_my_rows(dst, "SELECT id, v, w FROM k ORDER BY id");
	itest_rows_compare(x, y, "", NULL, "k");
	itest_rows_free(x);
	itest_rows_free(y);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

static int refused_warnings;

static void count_refused(dbs_log_level level, const char *message, void *user_data)
{
	(void)level;
	(void)user_data;
	if (strstr(message, "refuses LOAD DATA LOCAL"))
		__atomic_add_fetch(&refused_warnings, 1, __ATOMIC_SEQ_CST);
}

/*
 * A target server with local_infile off refuses LOAD DATA LOCAL: the
 * rows go as INSERT statements, all of them arrive, and the log says so
 * once.
 */
START_TEST(long_insert_runs_without_local_infile)
{
	MYSQL *src, *dst;
	dbs_stream *s;

	open_databases(&src, &dst);
	itest_my_exec(src, "CREATE TABLE r (id BIGINT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB");
	s = start_stream("r", count_refused);
	/* The harness's server, shared with other suites: on again below. */
	itest_my_exec(dst, "SET GLOBAL local_infile = 0");
	for (int k = 0; k < 2; k++) {
		char sql[256];
		snprintf(sql, sizeof sql,
		         "INSERT INTO r SELECT %d * 10000 + seq, CONCAT('v', seq) FROM seq_1_to_5000",
		         k);
		itest_my_exec(src, sql);
	}
	/* Committed, not only counted: the rows gathered for LOAD DATA are
	 * sent at the commit. */
	wait_rows(dst, "r", 10000);
	itest_my_exec(dst, "SET GLOBAL local_infile = 1");
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	ck_assert_int_eq(__atomic_load_n(&refused_warnings, __ATOMIC_SEQ_CST), 1);
	itest_rows *a = itest_my_rows(src, "SELECT id, v FROM r ORDER BY id");
	itest_rows *b = itest_my_rows(dst, "SELECT id, v FROM r ORDER BY id");
	ck_assert_uint_eq(b->nrows, 10000);
	itest_rows_compare(a, b, "", NULL, "r");
	itest_rows_free(a);
	itest_rows_free(b);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

/*
 * Small transactions that delete and write the same keys, in two tables
 * (an OLTP load: updates, a delete and an insert of the deleted key,
 * and keys written and deleted again within a few transactions): the
 * target, which holds each table's deletes and writes and sends them as
 * one DELETE and one INSERT, ends with the source's rows.
 */
START_TEST(small_transactions_rewriting_keys)
{
	MYSQL *src, *dst;
	dbs_stream *s;

	open_databases(&src, &dst);
	for (int t = 1; t <= 2; t++) {
		char sql[256];
		snprintf(sql, sizeof sql,
		         "CREATE TABLE o%d (id INT PRIMARY KEY, k INT NOT NULL, c VARCHAR(64), "
		         "KEY (k)) ENGINE=InnoDB",
		         t);
		itest_my_exec(src, sql);
		snprintf(sql, sizeof sql,
		         "INSERT INTO o%d SELECT seq, seq, CONCAT('c', seq) FROM seq_1_to_500", t);
		itest_my_exec(src, sql);
	}
	s = start_stream("o1,o2", NULL);
	itest_my_exec(src,
	              "BEGIN NOT ATOMIC FOR i IN 1..1500 DO "
	              "START TRANSACTION; "
	              "UPDATE o1 SET k = k + 1 WHERE id = 1 + i * 7 % 500; "
	              "UPDATE o2 SET c = CONCAT('u', i) WHERE id = 1 + i * 11 % 500; "
	              "DELETE FROM o1 WHERE id = 1 + i * 13 % 500; "
	              "INSERT INTO o1 VALUES (1 + i * 13 % 500, i, CONCAT('n', i)); "
	              "COMMIT; "
	              "START TRANSACTION; "
	              "INSERT INTO o2 VALUES (1000 + i % 50, i, 'w') "
	              "ON DUPLICATE KEY UPDATE c = CONCAT('w', i); "
	              "COMMIT; "
	              "IF i % 3 = 0 THEN DELETE FROM o2 WHERE id = 1000 + i % 50; END IF; "
	              "IF i % 5 = 0 THEN DELETE FROM o1 WHERE id = 1 + i * 17 % 500; "
	              "INSERT INTO o1 VALUES (1 + i * 17 % 500, -i, NULL); "
	              "UPDATE o1 SET c = 'last' WHERE id = 1 + i * 17 % 500; END IF; "
	              "END FOR; END");
	/* Wait for the target to hold what the source holds. */
	int64_t deadline = itest_now_ms() + 120000;
	static const char q1[] = "SELECT id, k, c FROM o1 ORDER BY id";
	static const char q2[] = "SELECT id, k, c FROM o2 ORDER BY id";
	for (;;) {
		char *sum_src = itest_my_value(src, "SELECT CONCAT((SELECT COUNT(*) FROM o1), '/', "
		                                    "(SELECT SUM(k) FROM o1), '/', (SELECT COUNT(*) "
		                                    "FROM o2), '/', (SELECT SUM(k) FROM o2))");
		char sql[512];
		snprintf(sql, sizeof sql,
		         "SELECT CONCAT((SELECT COUNT(*) FROM o1), '/', (SELECT SUM(k) FROM o1), '/', "
		         "(SELECT COUNT(*) FROM o2), '/', (SELECT SUM(k) FROM o2))");
		char *sum_dst = NULL;
		if (itest_my_count(dst, "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
		                        "AND TABLE_NAME IN ('o1', 'o2')") == 2)
			sum_dst = itest_my_value(dst, sql);
		int same = sum_src && sum_dst && strcmp(sum_src, sum_dst) == 0;
		free(sum_src);
		free(sum_dst);
		if (same || itest_now_ms() > deadline)
			break;
		usleep(200 * 1000);
	}
	dbs_stat st;
	char buf[2048];
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_RUNNING, "the stream must still run: %s", buf);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	itest_rows *a = itest_my_rows(src, q1), *b = itest_my_rows(dst, q1);
	itest_rows_compare(a, b, "", NULL, "o1");
	itest_rows_free(a);
	itest_rows_free(b);
	a = itest_my_rows(src, q2);
	b = itest_my_rows(dst, q2);
	itest_rows_compare(a, b, "", NULL, "o2");
	itest_rows_free(a);
	itest_rows_free(b);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

/*
 * Target tables with triggers (made by hand at the target, writing each
 * row change into an audit table): their changes keep the source's order,
 * across the two tables and within each. Each transaction inserts into
 * both tables and deletes what the one before inserted.
 */
START_TEST(triggers_see_the_source_order)
{
	MYSQL *src, *dst;
	dbs_stream *s;
	char sql[512];

	open_databases(&src, &dst);
	itest_my_exec(dst, "CREATE TABLE audit (n INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(32)) "
	                   "ENGINE=InnoDB");
	static const char *const names[] = {"ta", "tb"};
	for (int k = 0; k < 2; k++) {
		snprintf(sql, sizeof sql, "CREATE TABLE %s (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
		         names[k]);
		itest_my_exec(src, sql);
		itest_my_exec(dst, sql);
		snprintf(sql, sizeof sql,
		         "CREATE TRIGGER %s_ins AFTER INSERT ON %s FOR EACH ROW "
		         "INSERT INTO audit (what) VALUES (CONCAT('%s+', NEW.id))",
		         names[k], names[k], names[k]);
		itest_my_exec(dst, sql);
		snprintf(sql, sizeof sql,
		         "CREATE TRIGGER %s_del AFTER DELETE ON %s FOR EACH ROW "
		         "INSERT INTO audit (what) VALUES (CONCAT('%s-', OLD.id))",
		         names[k], names[k], names[k]);
		itest_my_exec(dst, sql);
	}
	s = start_stream("ta,tb", NULL);
	enum { N = 300 };
	itest_my_exec(src, "BEGIN NOT ATOMIC FOR i IN 1..300 DO "
	                   "START TRANSACTION; "
	                   "INSERT INTO ta VALUES (i, i); INSERT INTO tb VALUES (i, i); "
	                   "DELETE FROM ta WHERE id = i - 1; DELETE FROM tb WHERE id = i - 1; "
	                   "COMMIT; END FOR; END");
	int64_t deadline = itest_now_ms() + 120000;
	while (itest_my_count(dst, "audit") < 4 * N - 2 && itest_now_ms() < deadline)
		usleep(200 * 1000);
	dbs_stat st;
	char buf[2048];
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_RUNNING, "the stream must still run: %s", buf);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	itest_rows *a = itest_my_rows(dst, "SELECT n, what FROM audit ORDER BY n");
	ck_assert_uint_eq(a->nrows, 4 * N - 2);
	size_t r = 0;
	for (int i = 1; i <= N; i++) {
		char want[4][32];
		int nw = 0;
		snprintf(want[nw++], sizeof want[0], "ta+%d", i);
		snprintf(want[nw++], sizeof want[0], "tb+%d", i);
		if (i > 1) {
			snprintf(want[nw++], sizeof want[0], "ta-%d", i - 1);
			snprintf(want[nw++], sizeof want[0], "tb-%d", i - 1);
		}
		for (int w = 0; w < nw; w++, r++)
			ck_assert_msg(strcmp(a->cells[r * a->ncols + 1], want[w]) == 0,
			              "change %zu the triggers saw: %s, the source's: %s", r + 1,
			              a->cells[r * a->ncols + 1], want[w]);
	}
	itest_rows_free(a);
	mysql_close(dst);
	mysql_close(src);
}
END_TEST

int main(int argc, char **argv)
{
	int part_rc = itest_part_main(argc, argv);
	if (part_rc >= 0)
		return part_rc;
	Suite *suite = suite_create("integration_mysql_to_mysql");
	TCase *tc = tcase_create("mysql_to_mysql");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 290);
	tcase_add_test(tc, mysql_to_mysql_all_types);
	tcase_add_test(tc, long_insert_runs_arrive_whole);
	tcase_add_test(tc, long_insert_run_value_too_long_fails);
	tcase_add_test(tc, long_insert_runs_span_statements);
	tcase_add_test(tc, restart_keeps_a_transaction_whole);
	tcase_add_test(tc, new_table_keeps_a_transaction_whole);
	tcase_add_test(tc, new_table_without_a_second_session);
	tcase_add_test(tc, killed_after_creating_a_table);
	tcase_add_test(tc, long_insert_run_value_too_long_fails_mid_run);
	tcase_add_test(tc, long_insert_runs_without_local_infile);
	tcase_add_test(tc, small_transactions_rewriting_keys);
	tcase_add_test(tc, triggers_see_the_source_order);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
