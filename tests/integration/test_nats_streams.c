/*
 * Streams over the NATS JetStream hub, through the public API, against the
 * harness's PostgreSQL, MariaDB and nats-server:
 *   - PostgreSQL → PostgreSQL and MySQL → PostgreSQL in one process with
 *     100,000 mixed events each: the target equals the source;
 *   - the source part and the target part in two processes (fork);
 *   - two writers on a partitioned stream, one of them killed (SIGKILL)
 *     mid-stream and started again: same result, and a row updated 1,000
 *     times ends with its last value;
 *   - a MySQL source part killed mid-stream, rows written while it is
 *     down, then started again: it resumes at the position the writer
 *     acknowledged (a binlog has no slot to remember it).
 * Equality is row counts plus an md5 over every row's text, per table.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static char src_db[64], dst_db[64], slot[64], pub[64];
/* The stream whose parts run in processes of their own, and how many
 * writers it has: their logs are printed when the case fails. */
static char parts_id[28];
static int parts_writers;


static void setup(void)
{
	itest_name(src_db, sizeof src_db, "ns_src");
	itest_name(dst_db, sizeof dst_db, "ns_dst");
	itest_name(slot, sizeof slot, "ns_slot");
	itest_name(pub, sizeof pub, "ns_pub");
}

static void teardown(void)
{
	itest_pg_drop_slot(slot);
	itest_pg_drop_publication(src_db, pub);
	itest_pg_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

static void my_teardown(void)
{
	itest_my_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

static void sqlf(PGconn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sqlf(PGconn *conn, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && (size_t)n < sizeof sql, "SQL too long");
	itest_pg_exec(conn, sql);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static const char *nats_url(void)
{
	return itest_env("DBS_TEST_NATS_URL");
}

/* "count:md5" of a PostgreSQL table's rows in key order; "" if it cannot
 * be read yet (the target creates its tables on the first event). */
static void pg_digest(PGconn *conn, const char *table, char *out, size_t size)
{
	char sql[512];
	snprintf(sql, sizeof sql,
	         "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') "
	         "FROM %s t",
	         table);
	PGresult *r = PQexec(conn, sql);
	out[0] = '\0';
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* Wait until every table matches; fails with both digests after timeout_s. */
/* How long a target that differs from its source may stand still. */
#define STILL_MS 60000
/* stallAfter of every stream here: a part that commits nothing for this
 * long while changes wait says so in its log, and the case fails. */
#define STALL_AFTER "30"

/* A part's log (the spawned source part, any writer) says the stream
 * stalled. */
static int parts_stalled(const char *id, int writers)
{
	if (itest_part_log_count(id, DBS_PART_SOURCE, 0, " stalled: "))
		return 1;
	for (int w = 0; w < writers; w++)
		if (itest_part_log_count(id, DBS_PART_TARGET, (uint32_t)w, " stalled: "))
			return 1;
	return 0;
}

static void pg_wait_equal(PGconn *src, PGconn *dst, const char *const *tables, int ntables,
                          int timeout_s)
{
	char a[128] = "", b[128] = "", seen[128] = "";
	int64_t until = itest_now_ms() + (int64_t)timeout_s * 1000;
	int64_t progress = itest_now_ms();
	for (;;) {
		int same = 1;
		for (int i = 0; i < ntables && same; i++) {
			pg_digest(src, tables[i], a, sizeof a);
			pg_digest(dst, tables[i], b, sizeof b);
			same = a[0] && strcmp(a, b) == 0;
		}
		if (same)
			return;
		/* A target still changing is slow, not short: past the deadline
		 * the wait goes on while it moves, and fails once it has stood
		 * still for STILL_MS (then rows are missing, not late). */
		if (strcmp(b, seen) != 0) {
			memcpy(seen, b, sizeof seen);
			progress = itest_now_ms();
		}
		if (parts_id[0] && parts_stalled(parts_id, parts_writers)) {
			itest_part_logs_dump(parts_id, parts_writers);
			ck_abort_msg("a part reports the stream stalled: source %s, target %s", a, b);
		}
		if (itest_now_ms() >= until && itest_now_ms() - progress >= STILL_MS) {
			if (parts_id[0])
				itest_part_logs_dump(parts_id, parts_writers);
			ck_abort_msg("target differs after %d s and has not changed for %d s: "
			             "source %s, target %s",
			             timeout_s, STILL_MS / 1000, a, b);
		}
		sleep_ms(200);
	}
}

static void create_pg_tables(PGconn *conn)
{
	itest_pg_exec(conn, "CREATE TABLE items (id bigint PRIMARY KEY, txt text, "
	                    "num numeric(20,4), ts timestamptz, flag boolean)");
	itest_pg_exec(conn, "CREATE TABLE hot (id int PRIMARY KEY, v int NOT NULL)");
}

/* 100,000 events: 60,000 inserts, 30,000 updates, 10,000 deletes, in
 * transactions of 1,000 to 3,000 rows; `from` offsets the keys. */
static uint64_t pg_mixed_workload(PGconn *src, long from)
{
	for (long k = 0; k < 30; k++) {
		long lo = from + k * 2000 + 1;
		sqlf(src,
		     "INSERT INTO items SELECT g, 'row ' || g || E' \\u017e \"q\"', g * 1.25, "
		     "'2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second', g %% 2 = 0 "
		     "FROM generate_series(%ld::bigint, %ld::bigint) g",
		     lo, lo + 1999);
	}
	for (long k = 0; k < 10; k++) {
		long lo = from + k * 6000 + 1;
		sqlf(src,
		     "UPDATE items SET txt = txt || ' upd', num = num + 1, flag = NOT flag "
		     "WHERE id BETWEEN %ld AND %ld",
		     lo, lo + 2999);
	}
	for (long k = 0; k < 10; k++) {
		long lo = from + k * 6000 + 3001;
		sqlf(src, "DELETE FROM items WHERE id BETWEEN %ld AND %ld", lo, lo + 999);
	}
	return 100000;
}

/* One row updated `times` times, one transaction each. */
static void hot_row(PGconn *src, int times)
{
	itest_pg_exec(src, "INSERT INTO hot VALUES (1, 0)");
	for (int i = 1; i <= times; i++)
		sqlf(src, "UPDATE hot SET v = %d WHERE id = 1", i);
}

static void hot_row_more(PGconn *src, int from, int to)
{
	for (int i = from; i <= to; i++)
		sqlf(src, "UPDATE hot SET v = %d WHERE id = 1", i);
}

static void pg_config(char *buf, size_t size, const char *hub_extra)
{
	char src_uri[512], dst_uri[512];
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int n = snprintf(buf, size,
	                 "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	                 "\"settings\": {\"replicationSlotName\": \"%s\", "
	                 "\"publicationName\": \"%s\"}, "
	                 "\"filter\": {\"tables\": [{\"name\": \"items\"}, {\"name\": \"hot\"}]}}, "
	                 "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                 "\"stallAfter\": " STALL_AFTER ", \"hub\": {\"type\": \"nats\", \"url\": \"%s\"%s}}",
	                 src_uri, slot, pub, dst_uri, nats_url(), hub_extra);
	ck_assert(n > 0 && (size_t)n < size);
}

static const char *const pg_tables[] = {"items", "hot"};

START_TEST(pg_to_pg_over_nats)
{
	char config[4096], buf[2048];
	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	PGconn *src = itest_pg_connect(src_db);
	create_pg_tables(src);
	pg_config(config, sizeof config, "");

	dbs_stream *s = itest_stream_start(config);
	uint64_t events = pg_mixed_workload(src, 0);
	hot_row(src, 1000);
	events += 1001;
	itest_wait_target_counter(s, events, 240);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stat st;
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.counter == events && st.target.counter == events,
	              "expected %llu events on both nodes: %s", (unsigned long long)events, buf);
	dbs_stream_free(s);

	PGconn *dst = itest_pg_connect(dst_db);
	pg_wait_equal(src, dst, pg_tables, 2, 5);
	char *v = itest_pg_value(dst, "SELECT v FROM hot WHERE id = 1");
	ck_assert_str_eq(v, "1000");
	free(v);
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

/* ---- parts in their own processes ---- */

static pid_t spawn_part(const char *config, const char *id, dbs_stream_part part,
                        uint32_t partition)
{
	return itest_part_spawn(config, id, part, partition, NULL);
}

static void expect_exit(pid_t pid, int timeout_s, const char *what)
{
	int status = 0;
	ck_assert_msg(itest_wait_exit(pid, timeout_s, &status) == 0, "%s did not end within %d s",
	              what, timeout_s);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s ended badly (status %d)",
	              what, status);
}

static dbs_stream *start_source_part(const char *config, const char *id)
{
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.stream_id = id;
	o.part = DBS_PART_SOURCE;
	dbs_stream *s = NULL;
	ck_assert_msg(dbs_stream_create(&s, config, strlen(config), &o) == 0, "source part: %s",
	              dbs_error_last());
	dbs_stat st = DBS_STAT_INIT;
	char buf[2048];
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_READY, "source part not READY: %s", buf);
	return s;
}

START_TEST(source_and_target_in_two_processes)
{
	char config[4096], id[28];
	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	PGconn *src = itest_pg_connect(src_db);
	create_pg_tables(src);
	pg_config(config, sizeof config, "");
	ck_assert_int_eq(dbs_ksuid_new(id), 0);

	snprintf(parts_id, sizeof parts_id, "%s", id);
	parts_writers = 1;
	pid_t writer = spawn_part(config, id, DBS_PART_TARGET, 0);
	dbs_stream *s = start_source_part(config, id);
	pg_mixed_workload(src, 0);
	hot_row(src, 1000);
	PGconn *dst = itest_pg_connect(dst_db);
	pg_wait_equal(src, dst, pg_tables, 2, 240);

	/* The writer confirmed its positions across processes: the slot moved. */
	char sql[256];
	snprintf(sql, sizeof sql,
	         "SELECT confirmed_flush_lsn >= pg_current_wal_lsn() - 1048576 "
	         "FROM pg_replication_slots WHERE slot_name = '%s'",
	         slot);
	int64_t until = itest_now_ms() + 10000;
	for (;;) {
		char *v = itest_pg_value(src, sql);
		int moved = v && strcmp(v, "t") == 0;
		free(v);
		if (moved)
			break;
		ck_assert_msg(itest_now_ms() < until, "the slot's confirmed position did not move");
		sleep_ms(200);
	}
	/* Stopping the source ends the writer once it drained. */
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	expect_exit(writer, 60, "writer");
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

START_TEST(two_writers_one_killed_and_restarted)
{
	char config[4096], id[28];
	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	PGconn *src = itest_pg_connect(src_db);
	create_pg_tables(src);
	pg_config(config, sizeof config, ", \"partitions\": 2");
	ck_assert_int_eq(dbs_ksuid_new(id), 0);

	PGconn *dst = itest_pg_connect(dst_db);
	/* Both writers start on an empty target at once: they create the
	 * checkpoint table and the tables of their partitions concurrently. */
	snprintf(parts_id, sizeof parts_id, "%s", id);
	parts_writers = 2;
	pid_t w0 = spawn_part(config, id, DBS_PART_TARGET, 0);
	int64_t until;
	pid_t w1 = spawn_part(config, id, DBS_PART_TARGET, 1);
	dbs_stream *s = start_source_part(config, id);

	pg_mixed_workload(src, 0);
	/* Writer 1 dies mid-stream, without a chance to clean up. */
	until = itest_now_ms() + 60000;
	while (itest_pg_count(dst, "pg_tables WHERE tablename = 'items'") == 0 ||
	       itest_pg_count(dst, "items") < 5000) {
		ck_assert_msg(itest_now_ms() < until, "writers did not start applying");
		sleep_ms(50);
	}
	ck_assert_msg(waitpid(w1, NULL, WNOHANG) == 0, "writer 1 ended before it was killed");
	kill(w1, SIGKILL);
	waitpid(w1, NULL, 0);
	hot_row(src, 1000);
	pg_mixed_workload(src, 1000000);
	w1 = spawn_part(config, id, DBS_PART_TARGET, 1);
	pg_wait_equal(src, dst, pg_tables, 2, 240);
	char *v = itest_pg_value(dst, "SELECT v FROM hot WHERE id = 1");
	ck_assert_str_eq(v, "1000");
	free(v);

	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	expect_exit(w0, 60, "writer 0");
	expect_exit(w1, 60, "writer 1");
	/* Each writer kept its own checkpoint row. */
	char sql[256];
	snprintf(sql, sizeof sql,
	         "SELECT count(*) FROM dbstreams_checkpoint WHERE stream_id IN ('%s.0', '%s.1')", id, id);
	v = itest_pg_value(dst, sql);
	if (v)
		ck_assert_str_eq(v, "2");
	free(v);
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

/* ---- a nats-server of this test's own, to kill ---- */

static char own_dir[256], own_url[64];
static pid_t own_pid;

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Ready once the INFO line it sends on connect says JetStream is on. */
static int nats_ready(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char line[4096];
	ssize_t n = -1;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
		n = read(fd, line, sizeof line - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	line[n] = '\0';
	return strstr(line, "\"jetstream\":true") != NULL;
}

static void own_nats_start(int port)
{
	char js[300], portbuf[16];
	snprintf(js, sizeof js, "%s/js", own_dir);
	snprintf(portbuf, sizeof portbuf, "%d", port);
	fflush(NULL);
	own_pid = fork();
	ck_assert_int_ge(own_pid, 0);
	if (own_pid == 0) {
		setsid();
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", portbuf, "-js", "-sd", js,
		       (char *)NULL);
		_exit(127);
	}
	/* The teardown runs in the parent process: it finds the server here
	 * even when the test failed half-way. */
	char pidfile[300];
	snprintf(pidfile, sizeof pidfile, "%s/nats.pid", own_dir);
	FILE *f = fopen(pidfile, "w");
	if (f) {
		fprintf(f, "%ld\n", (long)own_pid);
		fclose(f);
	}
	int64_t until = itest_now_ms() + 20000;
	while (!nats_ready(port)) {
		ck_assert_msg(itest_now_ms() < until, "nats-server did not start on port %d", port);
		sleep_ms(50);
	}
}

static void own_nats_kill(void)
{
	if (own_pid > 0) {
		kill(own_pid, SIGKILL);
		waitpid(own_pid, NULL, 0);
		own_pid = 0;
	}
}

/* The stream's own account of the outage, in the test's output. */
static void log_line(dbs_log_level level, const char *message, void *user_data)
{
	(void)user_data;
	fprintf(stderr, "# [%d] %s\n", (int)level, message);
}

static void own_setup(void)
{
	setup();
	snprintf(own_dir, sizeof own_dir, "%s/nats-%ld", itest_env("DBS_TEST_TMPDIR"),
	         (long)getpid());
}

static void own_teardown(void)
{
	char pidfile[300];
	long pid = 0;
	snprintf(pidfile, sizeof pidfile, "%s/nats.pid", own_dir);
	FILE *f = own_dir[0] ? fopen(pidfile, "r") : NULL;
	if (f) {
		if (fscanf(f, "%ld", &pid) == 1 && pid > 0)
			kill((pid_t)pid, SIGKILL);
		fclose(f);
	}
	teardown();
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", own_dir);
	if (own_dir[0] && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", own_dir);
}

START_TEST(nats_server_killed_and_restarted)
{
	char config[4096], id[28], buf[2048];
	ck_assert_int_eq(mkdir(own_dir, 0755), 0);
	int port = free_port();
	snprintf(own_url, sizeof own_url, "nats://127.0.0.1:%d", port);
	own_nats_start(port);

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	PGconn *src = itest_pg_connect(src_db);
	create_pg_tables(src);
	char src_uri[512], dst_uri[512];
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int n = snprintf(config, sizeof config,
	                 "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	                 "\"settings\": {\"replicationSlotName\": \"%s\", "
	                 "\"publicationName\": \"%s\"}, "
	                 "\"filter\": {\"tables\": [{\"name\": \"items\"}, {\"name\": \"hot\"}]}}, "
	                 "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                 "\"stallAfter\": " STALL_AFTER ", \"hub\": {\"type\": \"nats\", \"url\": \"%s\"}}",
	                 src_uri, slot, pub, dst_uri, own_url);
	ck_assert(n > 0 && (size_t)n < sizeof config);
	ck_assert_int_eq(dbs_ksuid_new(id), 0);
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.stream_id = id;
	o.log = log_line;
	o.log_level = DBS_LOG_INFO;
	dbs_stream *s = NULL;
	ck_assert_msg(dbs_stream_create(&s, config, strlen(config), &o) == 0, "%s",
	              dbs_error_last());

	pg_mixed_workload(src, 0);
	PGconn *dst = itest_pg_connect(dst_db);
	int64_t until = itest_now_ms() + 60000;
	while (itest_pg_count(dst, "pg_tables WHERE tablename = 'items'") == 0 ||
	       itest_pg_count(dst, "items") < 2000) {
		ck_assert_msg(itest_now_ms() < until, "the stream did not start applying");
		sleep_ms(20);
	}
	own_nats_kill();
	/* Changes committed while the hub is down. */
	hot_row(src, 500);
	int seen_reconnecting = 0;
	for (int64_t t = itest_now_ms() + 1500; itest_now_ms() < t;) {
		dbs_stat st = DBS_STAT_INIT;
		itest_stat(s, &st);
		seen_reconnecting |= st.hub_conn.reconnecting;
		sleep_ms(20);
	}
	own_nats_start(port);
	{
		dbs_stat st = DBS_STAT_INIT;
		itest_stat(s, &st);
		itest_stat_format(buf, sizeof buf, &st);
		ck_assert_msg(seen_reconnecting, "the hub outage never showed: %s", buf);
	}
	hot_row_more(src, 501, 1000);
	pg_mixed_workload(src, 1000000);

	/* Either it carried on, or it failed saying why: then it resumes
	 * when started again on the same id. */
	int restarted = 0;
	until = itest_now_ms() + 240000;
	for (;;) {
		char a[128], b[128];
		int same = 1;
		for (int i = 0; i < 2 && same; i++) {
			pg_digest(src, pg_tables[i], a, sizeof a);
			pg_digest(dst, pg_tables[i], b, sizeof b);
			same = a[0] && strcmp(a, b) == 0;
		}
		if (same)
			break;
		dbs_stat st = DBS_STAT_INIT;
		itest_stat(s, &st);
		if (dbs_status_is_terminal(st.source.status) ||
		    dbs_status_is_terminal(st.target.status)) {
			itest_stat_format(buf, sizeof buf, &st);
			ck_assert_msg(st.source.status == DBS_STATUS_FAILED ||
			                  st.target.status == DBS_STATUS_FAILED,
			              "ended without failing: %s", buf);
			ck_assert_msg(st.source.message[0] || st.target.message[0],
			              "FAILED without a reason: %s", buf);
			ck_assert_msg(restarted++ < 3, "still failing after restarts: %s", buf);
			fprintf(stderr, "# failed as expected (%s); restarting\n", buf);
			dbs_stream_free(s);
			s = NULL;
			ck_assert_msg(dbs_stream_create(&s, config, strlen(config), &o) == 0, "%s",
			              dbs_error_last());
		}
		ck_assert_msg(itest_now_ms() < until, "target differs: source %s, target %s", a, b);
		sleep_ms(200);
	}
	char *v = itest_pg_value(dst, "SELECT v FROM hot WHERE id = 1");
	ck_assert_str_eq(v, "1000");
	free(v);
	if (!restarted) {
		/* It rode the outage out: the stat showed it, and shows it over. */
		dbs_stat st = DBS_STAT_INIT;
		itest_stat(s, &st);
		itest_stat_format(buf, sizeof buf, &st);
		ck_assert_msg(st.hub_conn.reconnects >= 1 && !st.hub_conn.reconnecting &&
		                  st.hub_conn.last_error[0],
		              "the hub's reconnect must be counted and over: %s", buf);
	}
	dbs_stream_free(s);
	own_nats_kill();
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

/* The NATS server gone for good: with reconnect.giveUpAfter 3 the stat
 * shows the hub reconnecting, then the stream fails saying it gave up. */
START_TEST(nats_server_gone_gives_up)
{
	char config[4096], id[28], buf[2048];
	ck_assert_int_eq(mkdir(own_dir, 0755), 0);
	int port = free_port();
	snprintf(own_url, sizeof own_url, "nats://127.0.0.1:%d", port);
	own_nats_start(port);

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	PGconn *src = itest_pg_connect(src_db);
	create_pg_tables(src);
	char src_uri[512], dst_uri[512];
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int n = snprintf(config, sizeof config,
	                 "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	                 "\"settings\": {\"replicationSlotName\": \"%s\", "
	                 "\"publicationName\": \"%s\"}, "
	                 "\"filter\": {\"tables\": [{\"name\": \"hot\"}]}}, "
	                 "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                 "\"hub\": {\"type\": \"nats\", \"url\": \"%s\"}, "
	                 "\"reconnect\": {\"giveUpAfter\": 3}}",
	                 src_uri, slot, pub, dst_uri, own_url);
	ck_assert(n > 0 && (size_t)n < sizeof config);
	ck_assert_int_eq(dbs_ksuid_new(id), 0);
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.stream_id = id;
	o.log = log_line;
	o.log_level = DBS_LOG_INFO;
	dbs_stream *s = NULL;
	ck_assert_msg(dbs_stream_create(&s, config, strlen(config), &o) == 0, "%s",
	              dbs_error_last());
	hot_row(src, 50);
	itest_wait_target_counter(s, 50, 60);
	own_nats_kill();

	dbs_stat st = DBS_STAT_INIT;
	int seen_reconnecting = 0;
	for (int64_t until = itest_now_ms() + 60000; itest_now_ms() < until;) {
		itest_stat(s, &st);
		seen_reconnecting |= st.hub_conn.reconnecting;
		if (dbs_status_is_terminal(st.source.status) &&
		    dbs_status_is_terminal(st.target.status))
			break;
		sleep_ms(20);
	}
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(seen_reconnecting, "the hub outage never showed: %s", buf);
	const char *why = "nats hub: connection lost for 3 s, gave up";
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED && strstr(st.target.message, why) &&
	                  strstr(st.target.message, "(reconnect.giveUpAfter)"),
	              "the writer must fail saying it gave up: %s", buf);
	ck_assert_msg(st.hub_conn.reconnects == 1 && !st.hub_conn.reconnecting,
	              "one hub outage, over: %s", buf);
	fprintf(stderr, "# gave up: %s\n", st.target.message);
	dbs_stream_free(s);
	PQfinish(src);
}
END_TEST

/* ---- MySQL → PostgreSQL ---- */

static void my_digest(MYSQL *conn, char *out, size_t size)
{
	char *v = itest_my_value(conn, "SELECT CONCAT(COUNT(*), ':', COALESCE(MD5(GROUP_CONCAT("
	                               "CONCAT_WS(',', id, txt, num, n) ORDER BY id SEPARATOR '|')), "
	                               "'')) FROM items");
	snprintf(out, size, "%s", v ? v : "");
	free(v);
}

START_TEST(mysql_to_pg_over_nats)
{
	char src_dsn[512], dst_uri[512], config[4096], a[128], b[128];
	itest_my_create_db(src_db);
	itest_pg_create_db(dst_db);
	MYSQL *src = itest_my_connect(src_db);
	itest_my_exec(src, "CREATE TABLE items (id bigint PRIMARY KEY, txt varchar(100), "
	                   "num decimal(20,4), n int)");
	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int n = snprintf(config, sizeof config,
	                 "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	                 "\"filter\": {\"tables\": [{\"name\": \"%s.items\"}]}}, "
	                 "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                 "\"stallAfter\": " STALL_AFTER ", \"hub\": {\"type\": \"nats\", \"url\": \"%s\"}}",
	                 src_dsn, src_db, dst_uri, nats_url());
	ck_assert(n > 0 && (size_t)n < sizeof config);
	dbs_stream *s = itest_stream_start(config);

	/* 60,000 inserts, 30,000 updates, 10,000 deletes. */
	char sql[1024];
	itest_my_exec(src, "SET SESSION max_recursive_iterations = 1000000");
	for (long k = 0; k < 30; k++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO items WITH RECURSIVE g(i) AS (SELECT %ld UNION ALL SELECT i + 1 "
		         "FROM g WHERE i < %ld) SELECT i, CONCAT('row ', i), i * 1.25, i FROM g",
		         k * 2000 + 1, k * 2000 + 2000);
		itest_my_exec(src, sql);
	}
	for (long k = 0; k < 10; k++) {
		snprintf(sql, sizeof sql,
		         "UPDATE items SET txt = CONCAT(txt, ' upd'), num = num + 1, n = -n "
		         "WHERE id BETWEEN %ld AND %ld",
		         k * 6000 + 1, k * 6000 + 3000);
		itest_my_exec(src, sql);
	}
	for (long k = 0; k < 10; k++) {
		snprintf(sql, sizeof sql, "DELETE FROM items WHERE id BETWEEN %ld AND %ld",
		         k * 6000 + 3001, k * 6000 + 4000);
		itest_my_exec(src, sql);
	}
	itest_wait_target_counter(s, 100000, 240);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);

	itest_my_exec(src, "SET SESSION group_concat_max_len = 1073741824");
	my_digest(src, a, sizeof a);
	PGconn *dst = itest_pg_connect(dst_db);
	/* The target keeps the MySQL database as the table's schema. */
	snprintf(sql, sizeof sql,
	         "SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(',', id, txt, num, "
	         "n), '|' ORDER BY id)), '') FROM \"%s\".items",
	         src_db);
	char *v = itest_pg_value(dst, sql);
	snprintf(b, sizeof b, "%s", v ? v : "");
	free(v);
	ck_assert_str_eq(a, b);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

/* "count:md5" of the MySQL-to-PostgreSQL copy of items (schema = db). */
static void my_target_digest(PGconn *dst, char *out, size_t size)
{
	char sql[512];
	snprintf(sql, sizeof sql,
	         "SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(',', id, txt, num, "
	         "n), '|' ORDER BY id)), '') FROM \"%s\".items",
	         src_db);
	PGresult *r = PQexec(dst, sql);
	out[0] = '\0';
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* Rows [from, to] in transactions of 500 rows, one in five of them updated. */
static void my_items_rows(MYSQL *src, long from, long to)
{
	char sql[1024];
	for (long k = from; k <= to; k += 500) {
		long last = k + 499 > to ? to : k + 499;
		snprintf(sql, sizeof sql,
		         "INSERT INTO items WITH RECURSIVE g(i) AS (SELECT %ld UNION ALL SELECT i + 1 "
		         "FROM g WHERE i < %ld) SELECT i, CONCAT('row ', i), i * 1.25, i FROM g",
		         k, last);
		itest_my_exec(src, sql);
		snprintf(sql, sizeof sql,
		         "UPDATE items SET txt = CONCAT(txt, ' upd'), n = -n WHERE id BETWEEN %ld AND "
		         "%ld AND id %% 5 = 0",
		         k, last);
		itest_my_exec(src, sql);
	}
}

START_TEST(mysql_source_part_killed_and_restarted)
{
	char src_dsn[512], dst_uri[512], config[4096], id[28], a[128], b[128] = "", seen[128] = "";
	itest_my_create_db(src_db);
	itest_pg_create_db(dst_db);
	MYSQL *src = itest_my_connect(src_db);
	itest_my_exec(src, "CREATE TABLE items (id bigint PRIMARY KEY, txt varchar(100), "
	                   "num decimal(20,4), n int)");
	itest_my_exec(src, "SET SESSION max_recursive_iterations = 1000000");
	itest_my_exec(src, "SET SESSION group_concat_max_len = 1073741824");
	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int n = snprintf(config, sizeof config,
	                 "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	                 "\"filter\": {\"tables\": [{\"name\": \"%s.items\"}]}}, "
	                 "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                 "\"stallAfter\": " STALL_AFTER ", \"hub\": {\"type\": \"nats\", \"url\": \"%s\"}}",
	                 src_dsn, src_db, dst_uri, nats_url());
	ck_assert(n > 0 && (size_t)n < sizeof config);
	ck_assert_int_eq(dbs_ksuid_new(id), 0);

	pid_t writer = spawn_part(config, id, DBS_PART_TARGET, 0);
	pid_t reader = spawn_part(config, id, DBS_PART_SOURCE, 0);
	PGconn *dst = itest_pg_connect(dst_db);
	/* The source part is capturing once its binlog dump is open (this
	 * suite runs alone, so the dump is the source part's). */
	int64_t until = itest_now_ms() + 60000;
	while (itest_my_count(src, "information_schema.processlist WHERE command LIKE "
	                           "'Binlog Dump%'") == 0) {
		ck_assert_msg(itest_now_ms() < until, "the source part did not open its binlog dump");
		sleep_ms(100);
	}
	my_items_rows(src, 10001, 30000);
	/* Killed while it reads; the rows below are written while it is down. */
	kill(reader, SIGKILL);
	waitpid(reader, NULL, 0);
	my_items_rows(src, 30001, 40000);
	itest_my_exec(src, "DELETE FROM items WHERE id BETWEEN 12000 AND 12999");
	reader = spawn_part(config, id, DBS_PART_SOURCE, 0);
	my_items_rows(src, 40001, 50000);

	my_digest(src, a, sizeof a);
	int64_t progress = itest_now_ms();
	until = progress + 240000;
	for (;;) {
		my_target_digest(dst, b, sizeof b);
		if (strcmp(a, b) == 0)
			break;
		if (strcmp(b, seen) != 0) {
			memcpy(seen, b, sizeof seen);
			progress = itest_now_ms();
		}
		if (parts_stalled(id, 1)) {
			itest_part_logs_dump(id, 1);
			ck_abort_msg("a part reports the stream stalled: source %s, target %s", a, b);
		}
		if (itest_now_ms() >= until && itest_now_ms() - progress >= STILL_MS) {
			itest_part_logs_dump(id, 1);
			ck_abort_msg("target differs: source %s, target %s", a, b);
		}
		sleep_ms(200);
	}
	/* Killed once more, then stopped through a source part started again:
	 * the writer drains and removes the stream's JetStream data. */
	kill(reader, SIGKILL);
	waitpid(reader, NULL, 0);
	dbs_stream *s = start_source_part(config, id);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	expect_exit(writer, 60, "writer");
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

int main(int argc, char **argv)
{
	int part_rc = itest_part_main(argc, argv);
	if (part_rc >= 0)
		return part_rc;
	Suite *suite = suite_create("integration_nats_streams");
	SRunner *sr;
	int failed;
	struct {
		const char *name;
		const TTest *test;
		void (*setup)(void);
		void (*teardown)(void);
	} cases[] = {
	    {"pg_to_pg", pg_to_pg_over_nats, setup, teardown},
	    {"two_processes", source_and_target_in_two_processes, setup, teardown},
	    {"two_writers", two_writers_one_killed_and_restarted, setup, teardown},
	    {"mysql_to_pg", mysql_to_pg_over_nats, setup, my_teardown},
	    {"mysql_source_part_killed", mysql_source_part_killed_and_restarted, setup,
	     my_teardown},
	    {"nats_restart", nats_server_killed_and_restarted, own_setup, own_teardown},
	    {"nats_gone", nats_server_gone_gives_up, own_setup, own_teardown},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_unchecked_fixture(tc, cases[i].setup, cases[i].teardown);
		tcase_set_timeout(tc, 290);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(suite, tc);
	}
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
