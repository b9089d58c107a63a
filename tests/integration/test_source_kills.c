/*
 * A MySQL source killed (SIGKILL) at the moments that decide where it
 * resumes, and stalls made visible:
 *   - one process (memory hub) killed before the target committed
 *     anything: started again, it must resume where the first run
 *     started, not at the binlog's end;
 *   - a NATS source part killed before any writer acknowledged anything
 *     (no writer running yet): the same;
 *   - killed by fault injection right after a publish, after the writers'
 *     acknowledgements moved but before the resume position is kept,
 *     right after it is kept, and inside a transaction larger than one
 *     batch: each time the next part resumes and nothing is lost;
 *   - a writer stopped with SIGSTOP: the source part's stat reports the
 *     stream stalled within stallAfter, and not any more once the writer
 *     continues;
 *   - one process, the target blocked by a lock: stalled, then moving.
 * Every source transaction ends with a row of an insert-only ledger; a
 * trigger on the target counts how often each ledger row is written, so
 * the target must equal the source and hold every ledger row exactly once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static char src_db[64], dst_db[64];
static char stream_id[28];
static int next_ledger = 1;
static long next_item = 1;

static void setup(void)
{
	itest_name(src_db, sizeof src_db, "nk_src");
	itest_name(dst_db, sizeof dst_db, "nk_dst");
	next_ledger = 1;
	next_item = 1;
	stream_id[0] = '\0';
}

static void teardown(void)
{
	itest_my_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void fail_with_logs(const char *what, const char *detail)
{
	if (stream_id[0])
		itest_part_logs_dump(stream_id, 1);
	ck_abort_msg("%s: %s", what, detail);
}

/* Source tables, and the target's ledger with the counting trigger (the
 * target reuses a table that exists). */
static MYSQL *prepare(PGconn **dst)
{
	char sql[1024];
	itest_my_create_db(src_db);
	itest_pg_create_db(dst_db);
	MYSQL *src = itest_my_connect(src_db);
	itest_my_exec(src, "CREATE TABLE items (id bigint PRIMARY KEY, txt varchar(100), n int)");
	itest_my_exec(src, "CREATE TABLE ledger (id bigint PRIMARY KEY, kind int)");
	itest_my_exec(src, "SET SESSION max_recursive_iterations = 1000000");
	*dst = itest_pg_connect(dst_db);
	snprintf(sql, sizeof sql,
	         "CREATE SCHEMA \"%s\"; "
	         "CREATE TABLE \"%s\".ledger (id bigint PRIMARY KEY, kind integer); "
	         "CREATE TABLE applied (id bigint PRIMARY KEY, n int NOT NULL); "
	         "CREATE FUNCTION count_applied() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
	         "INSERT INTO applied VALUES (NEW.id, 1) ON CONFLICT (id) DO UPDATE SET n = "
	         "applied.n + 1; RETURN NULL; END $$; "
	         "CREATE TRIGGER count_applied AFTER INSERT OR UPDATE ON \"%s\".ledger "
	         "FOR EACH ROW EXECUTE FUNCTION count_applied()",
	         src_db, src_db, src_db);
	itest_pg_exec(*dst, sql);
	return src;
}

static void config_for(char *buf, size_t size, const char *hub, unsigned stall_after_s)
{
	char src_dsn[512], dst_uri[512];
	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int n = snprintf(buf, size,
	                 "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	                 "\"filter\": {\"tables\": [{\"name\": \"items\"}, {\"name\": \"ledger\"}]}}, "
	                 "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                 "\"stallAfter\": %u%s}",
	                 src_dsn, dst_uri, stall_after_s, hub);
	ck_assert(n > 0 && (size_t)n < size);
}

static void nats_config(char *buf, size_t size, unsigned stall_after_s)
{
	char hub[256];
	snprintf(hub, sizeof hub, ", \"hub\": {\"type\": \"nats\", \"url\": \"%s\"}",
	         itest_env("DBS_TEST_NATS_URL"));
	config_for(buf, size, hub, stall_after_s);
}

/* One source transaction: `rows` new items (one in three then updated,
 * one in seven deleted), ended by its ledger row. */
static void write_txn(MYSQL *src, long rows)
{
	char sql[1024];
	long first = next_item, last = next_item + rows - 1;
	next_item += rows;
	itest_my_exec(src, "START TRANSACTION");
	snprintf(sql, sizeof sql,
	         "INSERT INTO items WITH RECURSIVE g(i) AS (SELECT %ld UNION ALL SELECT i + 1 FROM "
	         "g WHERE i < %ld) SELECT i, CONCAT('row ', i), i FROM g",
	         first, last);
	itest_my_exec(src, sql);
	snprintf(sql, sizeof sql,
	         "UPDATE items SET txt = CONCAT(txt, ' upd'), n = -n WHERE id BETWEEN %ld AND %ld "
	         "AND id %% 3 = 0",
	         first, last);
	itest_my_exec(src, sql);
	snprintf(sql, sizeof sql, "DELETE FROM items WHERE id BETWEEN %ld AND %ld AND id %% 7 = 0",
	         first, last);
	itest_my_exec(src, sql);
	snprintf(sql, sizeof sql, "INSERT INTO ledger VALUES (%d, %ld)", next_ledger++, rows);
	itest_my_exec(src, sql);
	itest_my_exec(src, "COMMIT");
}

/* `count` transactions of `rows` rows each. */
static void write_txns(MYSQL *src, int count, long rows)
{
	for (int i = 0; i < count; i++)
		write_txn(src, rows);
}

static void my_digest(MYSQL *src, char *out, size_t size)
{
	char *v = itest_my_value(src, "SELECT CONCAT(COUNT(*), ':', COALESCE(MD5(GROUP_CONCAT("
	                              "CONCAT_WS(',', id, txt, n) ORDER BY id SEPARATOR '|')), ''))"
	                              " FROM items");
	snprintf(out, size, "%s", v ? v : "");
	free(v);
}

static void pg_digest(PGconn *dst, char *out, size_t size)
{
	char sql[512];
	snprintf(sql, sizeof sql,
	         "SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(',', id, txt, n), "
	         "'|' ORDER BY id)), '') FROM \"%s\".items",
	         src_db);
	PGresult *r = PQexec(dst, sql);
	out[0] = '\0';
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* Until the target's items equal the source's; fails (with the parts'
 * logs) once the target has stood still for 60 s past `timeout_s`, or as
 * soon as the source part says the stream stalled. */
static void wait_equal(MYSQL *src, PGconn *dst, int timeout_s)
{
	char a[128], b[128] = "", seen[128] = "", detail[512];
	my_digest(src, a, sizeof a);
	int64_t until = itest_now_ms() + (int64_t)timeout_s * 1000, progress = itest_now_ms();
	for (;;) {
		pg_digest(dst, b, sizeof b);
		if (strcmp(a, b) == 0)
			return;
		if (strcmp(b, seen) != 0) {
			memcpy(seen, b, sizeof seen);
			progress = itest_now_ms();
		}
		snprintf(detail, sizeof detail, "source %s, target %s", a, b);
		if (stream_id[0] && itest_part_log_count(stream_id, DBS_PART_SOURCE, 0, " stalled: "))
			fail_with_logs("the stream stalled", detail);
		if (itest_now_ms() >= until && itest_now_ms() - progress >= 60000)
			fail_with_logs("the target differs and stands still", detail);
		sleep_ms(200);
	}
}

/* Every ledger row of the source is at the target, each written once. */
static void check_ledger(MYSQL *src, PGconn *dst)
{
	char *want = itest_my_value(src, "SELECT COUNT(*) FROM ledger");
	char *got = itest_pg_value(dst, "SELECT COUNT(*) FROM applied");
	char *twice = itest_pg_value(dst, "SELECT COUNT(*) FROM applied WHERE n <> 1");
	char *ids = itest_pg_value(dst, "SELECT string_agg(id || 'x' || n, ' ' ORDER BY id) FROM "
	                                "applied WHERE n <> 1");
	ck_assert_msg(want && got && strcmp(want, got) == 0, "ledger rows: source %s, target %s",
	              want ? want : "?", got ? got : "?");
	ck_assert_msg(twice && strcmp(twice, "0") == 0, "ledger rows applied more than once: %s",
	              ids ? ids : "?");
	free(want);
	free(got);
	free(twice);
	free(ids);
}

/* Wait until the part logged its READY `count` times (once per start). */
static void wait_part_ready(dbs_stream_part part, int count)
{
	const char *ready = part == DBS_PART_SOURCE   ? "(source part), READY"
	                    : part == DBS_PART_TARGET ? "(target part), READY"
	                                              : "memory hub, READY";
	int64_t until = itest_now_ms() + 60000;
	while (itest_part_log_count(stream_id, part, 0, ready) < count) {
		if (itest_now_ms() > until)
			fail_with_logs("a part did not report READY", ready);
		sleep_ms(50);
	}
}

/* Keep writing small transactions until `pid` is killed by SIGKILL (its
 * fault point), up to `timeout_s`; fails if it ended otherwise or lived
 * on. */
static void write_until_killed(MYSQL *src, pid_t pid, int timeout_s, const char *fault)
{
	int status = 0;
	int64_t until = itest_now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		ck_assert_int_ge(r, 0);
		if (r == pid)
			break;
		if (itest_now_ms() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_with_logs("the source part never reached its fault point (a build "
			               "without -Dfault_injection=true has none)",
			               fault);
		}
		write_txn(src, 20);
		sleep_ms(25);
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_with_logs("the source part ended otherwise than at its fault point", fault);
}

static void expect_exit_ok(pid_t pid, int timeout_s, const char *what)
{
	int status = 0;
	if (itest_wait_exit(pid, timeout_s, &status) != 0)
		fail_with_logs(what, "did not end in time");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_with_logs(what, "ended badly");
}

/* Stop the stream through a source part of its own: the writer drains
 * and ends. */
static void stop_stream(const char *config, pid_t writer)
{
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.stream_id = stream_id;
	o.part = DBS_PART_SOURCE;
	dbs_stream *s = NULL;
	ck_assert_msg(dbs_stream_create(&s, config, strlen(config), &o) == 0, "source part: %s",
	              dbs_error_last());
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	expect_exit_ok(writer, 60, "the writer after the stop");
}

START_TEST(one_process_killed_before_first_commit)
{
	char config[4096], sql[512];
	PGconn *dst;
	MYSQL *src = prepare(&dst);
	config_for(config, sizeof config, "", 120);
	ck_assert_int_eq(dbs_ksuid_new(stream_id), 0);
	snprintf(sql, sizeof sql,
	         "CREATE TABLE \"%s\".items (id bigint PRIMARY KEY, txt varchar(100), n integer)",
	         src_db);
	itest_pg_exec(dst, sql);

	/* The target cannot commit: another session holds its table. */
	PGconn *locker = itest_pg_connect(dst_db);
	snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE \"%s\".items IN ACCESS EXCLUSIVE MODE",
	         src_db);
	itest_pg_exec(locker, sql);
	pid_t run = itest_part_spawn(config, stream_id, DBS_PART_ALL, 0, NULL);
	wait_part_ready(DBS_PART_ALL, 1);
	write_txns(src, 10, 50);
	write_txn(src, 700);
	sleep_ms(500);
	kill(run, SIGKILL);
	waitpid(run, NULL, 0);
	itest_pg_exec(locker, "COMMIT");
	PQfinish(locker);
	char *applied = itest_pg_value(dst, "SELECT COUNT(*) FROM applied");
	ck_assert_msg(applied && strcmp(applied, "0") == 0, "%s ledger rows committed before the "
	              "kill: the target was not blocked", applied ? applied : "?");
	free(applied);

	write_txns(src, 10, 50);
	run = itest_part_spawn(config, stream_id, DBS_PART_ALL, 0, NULL);
	wait_part_ready(DBS_PART_ALL, 2);
	write_txns(src, 5, 50);
	wait_equal(src, dst, 120);
	check_ledger(src, dst);
	kill(run, SIGTERM);
	waitpid(run, NULL, 0);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

START_TEST(killed_before_any_acknowledgement)
{
	char config[4096];
	PGconn *dst;
	MYSQL *src = prepare(&dst);
	nats_config(config, sizeof config, 120);
	ck_assert_int_eq(dbs_ksuid_new(stream_id), 0);

	/* No writer yet: nothing can be acknowledged before the kill. */
	pid_t reader = itest_part_spawn(config, stream_id, DBS_PART_SOURCE, 0, NULL);
	wait_part_ready(DBS_PART_SOURCE, 1);
	write_txns(src, 10, 50);
	write_txn(src, 700); /* larger than one batch */
	sleep_ms(500);
	kill(reader, SIGKILL);
	waitpid(reader, NULL, 0);
	write_txns(src, 10, 50);
	reader = itest_part_spawn(config, stream_id, DBS_PART_SOURCE, 0, NULL);
	wait_part_ready(DBS_PART_SOURCE, 2);
	pid_t writer = itest_part_spawn(config, stream_id, DBS_PART_TARGET, 0, NULL);
	write_txns(src, 5, 50);
	wait_equal(src, dst, 120);
	check_ledger(src, dst);

	kill(reader, SIGKILL);
	waitpid(reader, NULL, 0);
	stop_stream(config, writer);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

START_TEST(killed_at_fault_points)
{
	/* Where the source part kills itself, leg after leg of one stream.
	 * Each leg writes one transaction of 1,200 rows (12 batches) first:
	 * in the first leg, which starts at the binlog's end, the tenth
	 * publish falls inside it. */
	static const char *const faults[] = {
	    "nats.published:10", "nats.published:3", "nats.acked:2",
	    "nats.stored:2",     "nats.acked:5",     "nats.stored:1",
	};
	char config[4096];
	PGconn *dst;
	MYSQL *src = prepare(&dst);
	nats_config(config, sizeof config, 120);
	ck_assert_int_eq(dbs_ksuid_new(stream_id), 0);

	pid_t writer = itest_part_spawn(config, stream_id, DBS_PART_TARGET, 0, NULL);
	wait_part_ready(DBS_PART_TARGET, 1);
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		pid_t reader = itest_part_spawn(config, stream_id, DBS_PART_SOURCE, 0, faults[i]);
		wait_part_ready(DBS_PART_SOURCE, (int)i + 1);
		write_txn(src, 1200);
		write_until_killed(src, reader, 60, faults[i]);
		/* Written while no source part runs. */
		write_txns(src, 3, 40);
	}
	pid_t reader = itest_part_spawn(config, stream_id, DBS_PART_SOURCE, 0, NULL);
	write_txns(src, 5, 40);
	wait_equal(src, dst, 180);
	check_ledger(src, dst);
	ck_assert_msg(waitpid(writer, NULL, WNOHANG) == 0, "the writer ended");
	ck_assert_msg(waitpid(reader, NULL, WNOHANG) == 0, "the last source part ended");

	kill(reader, SIGKILL);
	waitpid(reader, NULL, 0);
	stop_stream(config, writer);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

/* The stat of `s` until its `stalled` flag is `want`, up to `timeout_s`. */
static void wait_stalled(dbs_stream *s, int want, int timeout_s, dbs_stat *st)
{
	char buf[2048];
	int64_t until = itest_now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		*st = (dbs_stat)DBS_STAT_INIT;
		ck_assert_int_eq(dbs_stream_stat(s, st), 0);
		if ((st->stalled != 0) == want)
			return;
		if (itest_now_ms() > until) {
			itest_stat_format(buf, sizeof buf, st);
			fail_with_logs(want ? "the stream did not report the stall"
			                    : "the stream still reports a stall",
			               buf);
		}
		sleep_ms(100);
	}
}

/* WARN lines of the library that say "stalled", counted. */
static int stall_warnings;
static void count_stall_warnings(dbs_log_level level, const char *line, void *user_data)
{
	(void)user_data;
	if (level == DBS_LOG_WARN && strstr(line, " stalled: "))
		__atomic_add_fetch(&stall_warnings, 1, __ATOMIC_SEQ_CST);
}

START_TEST(writer_stopped_shows_stalled)
{
	char config[4096];
	PGconn *dst;
	MYSQL *src = prepare(&dst);
	nats_config(config, sizeof config, 3);
	ck_assert_int_eq(dbs_ksuid_new(stream_id), 0);
	stall_warnings = 0;

	pid_t writer = itest_part_spawn(config, stream_id, DBS_PART_TARGET, 0, NULL);
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.stream_id = stream_id;
	o.part = DBS_PART_SOURCE;
	o.log = count_stall_warnings;
	o.log_level = DBS_LOG_WARN;
	dbs_stream *s = NULL;
	ck_assert_msg(dbs_stream_create(&s, config, strlen(config), &o) == 0, "source part: %s",
	              dbs_error_last());
	write_txns(src, 5, 50);
	wait_equal(src, dst, 120);
	dbs_stat st;
	wait_stalled(s, 0, 1, &st);

	/* The writer freezes: changes wait, nothing is acknowledged. */
	int warned = __atomic_load_n(&stall_warnings, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(kill(writer, SIGSTOP), 0);
	int64_t stopped_at = itest_now_ms();
	write_txns(src, 5, 50);
	wait_stalled(s, 1, 30, &st);
	int64_t noticed = itest_now_ms() - stopped_at;
	ck_assert_msg(noticed >= 2500, "stalled after %lld ms, before stallAfter (3 s)",
	              (long long)noticed);
	ck_assert_msg(st.stalled_since_ns > 0 && st.source_lag_bytes > 0,
	              "stalled without since or lag: since %lld, lag %llu",
	              (long long)st.stalled_since_ns, (unsigned long long)st.source_lag_bytes);
	/* The watch sets the flag a stat reads, then writes its WARN line:
	 * the line may follow the stat by a moment. One line, not more. */
	for (int i = 0; i < 50 && __atomic_load_n(&stall_warnings, __ATOMIC_SEQ_CST) <= warned; i++)
		sleep_ms(100);
	ck_assert_int_eq(__atomic_load_n(&stall_warnings, __ATOMIC_SEQ_CST), warned + 1);

	/* It moves again: caught up, and no longer stalled. */
	ck_assert_int_eq(kill(writer, SIGCONT), 0);
	wait_equal(src, dst, 120);
	wait_stalled(s, 0, 30, &st);
	check_ledger(src, dst);

	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	expect_exit_ok(writer, 60, "the writer after the stop");
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

START_TEST(target_blocked_shows_stalled)
{
	char config[4096], sql[256];
	PGconn *dst;
	MYSQL *src = prepare(&dst);
	config_for(config, sizeof config, "", 2);
	stall_warnings = 0;
	dbs_stream *s = itest_stream_start_logged(config, NULL, count_stall_warnings, DBS_LOG_WARN);
	write_txns(src, 3, 20);
	wait_equal(src, dst, 60);
	int warned = __atomic_load_n(&stall_warnings, __ATOMIC_SEQ_CST);

	/* Another session holds the target table: the writer waits on it. */
	PGconn *locker = itest_pg_connect(dst_db);
	snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE \"%s\".items IN ACCESS EXCLUSIVE MODE",
	         src_db);
	itest_pg_exec(locker, sql);
	write_txns(src, 3, 20);
	dbs_stat st;
	wait_stalled(s, 1, 30, &st);
	ck_assert_int_eq(__atomic_load_n(&stall_warnings, __ATOMIC_SEQ_CST), warned + 1);
	itest_pg_exec(locker, "COMMIT");
	PQfinish(locker);
	wait_equal(src, dst, 60);
	wait_stalled(s, 0, 30, &st);
	check_ledger(src, dst);
	dbs_stream_free(s);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

int main(int argc, char **argv)
{
	int part_rc = itest_part_main(argc, argv);
	if (part_rc >= 0)
		return part_rc;
	Suite *suite = suite_create("integration_source_kills");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
	    {"one_process", one_process_killed_before_first_commit},
	    {"before_ack", killed_before_any_acknowledgement},
	    {"fault_points", killed_at_fault_points},
	    {"writer_stopped", writer_stopped_shows_stalled},
	    {"target_blocked", target_blocked_shows_stalled},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_unchecked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 400);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(suite, tc);
	}
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
