/*
 * Faults a running stream survives, and the two it must refuse:
 *   - the source or the target database restarted mid-stream (PostgreSQL
 *     with pg_ctl restart -m fast, MariaDB killed by pid and started again
 *     on the same port and datadir): the stream stays RUNNING, catches up,
 *     and verify finds zero differences;
 *     the stat counts the reconnect of the node that lost its server
 *     and shows it no longer reconnecting;
 *   - a database that stays down longer than reconnect.giveUpAfter: the
 *     node that lost it ends FAILED with the reason;
 *   - the target blocked: the source's lag (bytes of WAL or binlog not yet
 *     confirmed) grows, and returns to zero once the target caught up;
 *   - the PostgreSQL slot dropped, or the MariaDB binlog purged, while a
 *     stream was stopped: the stream created again with the same id fails
 *     with a message that says so instead of silently starting from "now".
 *
 * Restarting a server would break other suites, so this suite starts two
 * server sets of its own with tests/harness/servers (A: sources, B:
 * targets; each PostgreSQL and MariaDB) and stops them at the end. The
 * itest helpers read DBS_TEST_*: use_set() points them at A or B.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>


#include "itest.h"

typedef struct server_set {
	char dir[512];
	char pg_port[16], my_port[16], my_socket[256];
} server_set;

/* Written by the parent before the tests fork, read by them. */
static server_set sets[2];
static char setup_error[2048];

enum { SET_A = 0, SET_B = 1 };

/* Set C: a PostgreSQL started and stopped for good by one test. */
static server_set set_c;

/* Fixed ids, so a stream created again finds its checkpoint row. */
#define ID_PG_SRC "2FaultsPgSourceRestart00001"
#define ID_PG_DST "2FaultsPgTargetRestart00001"
#define ID_MY_SRC "2FaultsMySourceRestart00001"
#define ID_MY_DST "2FaultsMyTargetRestart00001"
#define ID_SLOT "2FaultsPgSlotDropped0000001"
#define ID_PURGE "2FaultsMyBinlogPurged000001"
#define ID_KEEPALIVE "2FaultsPgKeepalive000000001"
#define ID_GIVE_UP_DST "2FaultsGiveUpTarget00000001"
#define ID_GIVE_UP_SRC "2FaultsGiveUpSource00000001"
#define ID_MY_LAG "2FaultsMyLagWhileBlocked001"
#define ID_MY_GIVE_UP_SRC "2FaultsMyGiveUpSource000001"
#define ID_STOP_DST "2FaultsStopReconnectTarget1"
#define ID_STOP_SRC "2FaultsStopReconnectSource1"

/* Lines the source logged about a lost connection (keepalive test). */
static int lost_lines;

/* Point the itest helpers (DBS_TEST_*) at server set `i`. */
static void use_set(int i)
{
	char uri[256];

	setenv("DBS_TEST_PG_PORT", sets[i].pg_port, 1);
	snprintf(uri, sizeof uri, "postgresql://postgres@127.0.0.1:%s/postgres", sets[i].pg_port);
	setenv("DBS_TEST_PG_URI", uri, 1);
	setenv("DBS_TEST_MYSQL_PORT", sets[i].my_port, 1);
	setenv("DBS_TEST_MYSQL_SOCKET", sets[i].my_socket, 1);
}

static void start_sets(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(set_c.dir, sizeof set_c.dir, "%s/dbs-faults-%ld-c", tmp ? tmp : "/tmp",
	         (long)getpid());
	for (int i = 0; i < 2; i++) {
		server_set *s = &sets[i];
		snprintf(s->dir, sizeof s->dir, "%s/dbs-faults-%ld-%c", tmp ? tmp : "/tmp",
		         (long)getpid(), 'a' + i);
		if (itest_harness("start", s->dir, "pg", "mysql", NULL) != 0) {
			snprintf(setup_error, sizeof setup_error,
			         "could not start servers in %.400s with %.400s (run through "
			         "scripts/test)",
			         s->dir,
			         getenv("DBS_HARNESS_SERVERS") ? getenv("DBS_HARNESS_SERVERS")
			                                       : "(DBS_HARNESS_SERVERS unset)");
			return;
		}
		if (!itest_harness_env(s->dir, "DBS_TEST_PG_PORT", s->pg_port, sizeof s->pg_port) ||
		    !itest_harness_env(s->dir, "DBS_TEST_MYSQL_PORT", s->my_port, sizeof s->my_port) ||
		    !itest_harness_env(s->dir, "DBS_TEST_MYSQL_SOCKET", s->my_socket,
		               sizeof s->my_socket)) {
			snprintf(setup_error, sizeof setup_error, "no ports in %.400s/env", s->dir);
			return;
		}
	}
	/* Everything else (host, user, TLS files) is the same for both sets. */
	setenv("DBS_TEST_PG_HOST", "127.0.0.1", 1);
	setenv("DBS_TEST_PG_USER", "postgres", 1);
	setenv("DBS_TEST_MYSQL_HOST", "127.0.0.1", 1);
	setenv("DBS_TEST_MYSQL_USER", "root", 1);
	use_set(SET_A);
}

static void stop_sets(void)
{
	for (int i = 0; i < 2; i++)
		if (sets[i].dir[0])
			itest_harness("stop", sets[i].dir, NULL, NULL, NULL);
	/* Set C is stopped by its tests; this is for one that failed first. */
	itest_harness("stop", set_c.dir, NULL, NULL, NULL);
}

static void check_setup(void)
{
	ck_assert_msg(setup_error[0] == '\0', "%s", setup_error);
}

static void restart(int set, const char *what)
{
	int64_t t0 = itest_now_ms();
	int rc = itest_harness("restart", sets[set].dir, what, NULL, NULL);

	ck_assert_msg(rc == 0, "restarting %s of set %c failed (%d)", what, 'A' + set, rc);
	fprintf(stderr, "faults: restarted %s of set %c in %lld ms\n", what, 'A' + set,
	        (long long)(itest_now_ms() - t0));
}

static void log_line(dbs_log_level level, const char *line, void *user_data)
{
	(void)user_data;
	if (strstr(line, "[source]") && strstr(line, "connection lost"))
		__atomic_add_fetch(&lost_lines, 1, __ATOMIC_SEQ_CST);
	if (level <= DBS_LOG_WARN)
		fprintf(stderr, "stream: %s\n", line);
}

static dbs_stream *stream_start_id(const char *config, const char *id)
{
	return itest_stream_start_logged(config, id, log_line, DBS_LOG_WARN);
}


/*
 * Wait until the stream caught up: the target has applied at least
 * `events` and verify finds no difference. Fails with the stat when a
 * node ended or the time ran out; asserts the stream stayed RUNNING.
 */
static void wait_caught_up(dbs_stream *s, const char *config, uint64_t events, int timeout_s)
{
	int64_t deadline = itest_now_ms() + (int64_t)timeout_s * 1000;
	uint64_t diffs = UINT64_MAX;
	dbs_stat st;
	char buf[2048];

	itest_wait_target_counter(s, events, timeout_s);
	for (;;) {
		itest_stat(s, &st);
		itest_stat_format(buf, sizeof buf, &st);
		ck_assert_msg(st.source.status == DBS_STATUS_RUNNING &&
		                  st.target.status == DBS_STATUS_RUNNING,
		              "the stream must stay RUNNING through the restart: %s", buf);
		diffs = itest_verify_differences(config);
		if (diffs == 0 || itest_now_ms() > deadline)
			break;
		usleep(500 * 1000);
	}
	ck_assert_msg(diffs == 0, "verify still finds %llu differences: %s",
	              (unsigned long long)diffs, buf);
	fprintf(stderr, "faults: caught up: %s\n", buf);
}

/*
 * After a restart the stream caught up from: the node whose server was
 * restarted (`source` or the target) counted at least one reconnect, is
 * no longer reconnecting, and kept the error; the other one lost nothing.
 */
static void assert_reconnected(dbs_stream *s, int source)
{
	dbs_stat st;
	char buf[4096];

	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	const dbs_conn_stat *hit = source ? &st.source_conn : &st.target_conn;
	const dbs_conn_stat *other = source ? &st.target_conn : &st.source_conn;
	ck_assert_msg(hit->reconnects >= 1, "the restart must count a reconnect: %s", buf);
	ck_assert_msg(!hit->reconnecting && hit->lost_since_ns == 0,
	              "reconnected, yet still reconnecting: %s", buf);
	ck_assert_msg(hit->last_error[0] != '\0', "no connection error kept: %s", buf);
	ck_assert_msg(other->reconnects == 0 && !other->reconnecting,
	              "the other node's server was not restarted: %s", buf);
	fprintf(stderr, "faults: reconnected: %s (last error: %s)\n", buf, hit->last_error);
}

/* ---- PostgreSQL sources ---- */

/* 20,000 events over `t` in transactions of 100 to 1000 changes: inserts,
 * updates, deletes; `part` 0 writes the first 15,000, 1 the last 5,000. */
static void pg_workload(PGconn *c, int part, uint64_t *events)
{
	char sql[512];

	if (part == 0) {
		for (int k = 0; k < 10; k++) {
			snprintf(
			    sql, sizeof sql,
			    "INSERT INTO t SELECT g, 'row ' || g, g FROM generate_series(%d, %d) g",
			    k * 1000 + 1, k * 1000 + 1000);
			*events += itest_pg_exec_count(c, sql);
		}
		for (int k = 0; k < 30; k++) {
			itest_pg_exec(c, "BEGIN");
			snprintf(sql, sizeof sql,
			         "UPDATE t SET v = v || ' u', n = n + 1 WHERE id BETWEEN "
			         "%d AND %d",
			         k * 100 + 1, k * 100 + 100);
			*events += itest_pg_exec_count(c, sql);
			snprintf(sql, sizeof sql,
			         "INSERT INTO t SELECT g, 'late ' || g, -g FROM "
			         "generate_series(%d, %d) g",
			         20000 + k * 50 + 1, 20000 + k * 50 + 50);
			*events += itest_pg_exec_count(c, sql);
			itest_pg_exec(c, "COMMIT");
		}
		*events += itest_pg_exec_count(c, "DELETE FROM t WHERE id BETWEEN 9001 AND 9500");
	} else {
		*events += itest_pg_exec_count(c, "INSERT INTO t SELECT g, 'after ' || g, g "
		                                  "FROM generate_series(30001, 32000) g");
		*events +=
		    itest_pg_exec_count(c, "UPDATE t SET v = 'again' WHERE id BETWEEN 1 AND 2000");
		*events += itest_pg_exec_count(c, "DELETE FROM t WHERE id BETWEEN 8001 AND 9000");
	}
}

static void pg_config(char *config, size_t size, const char *src_db, const char *dst_db,
                      const char *slot, const char *pub)
{
	char src_uri[512], dst_uri[512];
	int n;

	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, atoi(sets[SET_A].pg_port));
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, atoi(sets[SET_B].pg_port));
	n = snprintf(
	    config, size,
	    "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	    "\"dataBundleSize\": 200, "
	    "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	    "\"filter\": {\"tables\": [{\"name\": \"t\"}]}}, "
	    "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	    src_uri, slot, pub, dst_uri);
	ck_assert(n > 0 && (size_t)n < size);
}

static void pg_drop_all(const char *src_db, const char *dst_db, const char *slot, const char *pub)
{
	use_set(SET_A);
	itest_pg_drop_slot(slot);
	itest_pg_drop_publication(src_db, pub);
	itest_pg_drop_db(src_db);
	use_set(SET_B);
	itest_pg_drop_db(dst_db);
	use_set(SET_A);
}

/* PG → PG with the source (restart_set A) or the target (B) restarted. */
static void pg_restart_case(int restart_set, const char *tag, const char *id)
{
	char src_db[64], dst_db[64], slot[64], pub[64], config[2048], t[80];
	uint64_t events = 0;
	dbs_stream *s;
	PGconn *src;

	check_setup();
	snprintf(t, sizeof t, "%s_src", tag);
	itest_name(src_db, sizeof src_db, t);
	snprintf(t, sizeof t, "%s_dst", tag);
	itest_name(dst_db, sizeof dst_db, t);
	snprintf(t, sizeof t, "%s_slot", tag);
	itest_name(slot, sizeof slot, t);
	snprintf(t, sizeof t, "%s_pub", tag);
	itest_name(pub, sizeof pub, t);
	use_set(SET_A);
	itest_pg_create_db(src_db);
	use_set(SET_B);
	itest_pg_create_db(dst_db);
	use_set(SET_A);
	src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE t (id bigint PRIMARY KEY, v text, n int)");
	pg_config(config, sizeof config, src_db, dst_db, slot, pub);

	s = stream_start_id(config, id);
	pg_workload(src, 0, &events);
	/* Mid-stream: some applied, most still to come. */
	itest_wait_target_counter(s, 1000, 60);
	if (restart_set == SET_A)
		PQfinish(src);
	restart(restart_set, "pg");
	if (restart_set == SET_A)
		src = itest_pg_connect(src_db);
	pg_workload(src, 1, &events);
	ck_assert_uint_eq(events, 20000);
	wait_caught_up(s, config, events, 150);
	assert_reconnected(s, restart_set == SET_A);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	PQfinish(src);
	pg_drop_all(src_db, dst_db, slot, pub);
}

START_TEST(pg_source_restarted)
{
	pg_restart_case(SET_A, "fsrc", ID_PG_SRC);
}
END_TEST

START_TEST(pg_target_restarted)
{
	pg_restart_case(SET_B, "fdst", ID_PG_DST);
}
END_TEST

START_TEST(pg_slot_dropped)
{
	char src_db[64], dst_db[64], slot[64], pub[64], config[2048], buf[2048];
	uint64_t events = 0;
	dbs_stream *s;
	dbs_stat st;
	PGconn *src;

	check_setup();
	itest_name(src_db, sizeof src_db, "fslot_src");
	itest_name(dst_db, sizeof dst_db, "fslot_dst");
	itest_name(slot, sizeof slot, "fslot_slot");
	itest_name(pub, sizeof pub, "fslot_pub");
	use_set(SET_A);
	itest_pg_create_db(src_db);
	use_set(SET_B);
	itest_pg_create_db(dst_db);
	use_set(SET_A);
	src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE t (id bigint PRIMARY KEY, v text, n int)");
	pg_config(config, sizeof config, src_db, dst_db, slot, pub);

	s = stream_start_id(config, ID_SLOT);
	events += itest_pg_exec_count(src, "INSERT INTO t SELECT g, 'x', g FROM "
	                                   "generate_series(1, 500) g");
	itest_wait_target_counter(s, events, 60);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);

	/* While the stream is stopped its slot goes, and changes go on. */
	itest_pg_drop_slot(slot);
	itest_pg_exec(src, "INSERT INTO t SELECT g, 'lost', g FROM generate_series(501, 600) g");

	s = stream_start_id(config, ID_SLOT);
	itest_wait_node_status(s, 0, DBS_STATUS_FAILED, 30, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_INIT_FAILED ||
	                  st.source.status == DBS_STATUS_FAILED,
	              "a dropped slot must fail the source: %s", buf);
	ck_assert_msg(strstr(st.source.message, "was dropped") != NULL &&
	                  strstr(st.source.message, slot) != NULL,
	              "the message must say the slot was dropped: %s", buf);
	fprintf(stderr, "faults: dropped slot: %s\n", st.source.message);
	dbs_stream_stop(s);
	dbs_stream_free(s);
	/* No new slot was made behind the user's back. */
	{
		char sql[256], *v;
		snprintf(sql, sizeof sql,
		         "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'", slot);
		v = itest_pg_value(src, sql);
		ck_assert_ptr_nonnull(v);
		ck_assert_str_eq(v, "0");
		free(v);
	}
	PQfinish(src);
	pg_drop_all(src_db, dst_db, slot, pub);
}
END_TEST

/*
 * While the target is blocked with most of the workload unapplied: the
 * source has read past what the target confirmed (the rows are there in
 * the WAL or binlog: at least a few bytes each), and the target's time lag
 * shows the change it is stuck on.
 */
static void assert_lag_grew(dbs_stream *s)
{
	dbs_stat st;
	char buf[4096];
	int64_t deadline = itest_now_ms() + 30000;

	/* The source reports its lag when it learns of a new server end. */
	do {
		itest_stat(s, &st);
		if (st.source_lag_bytes >= 10000)
			break;
		usleep(100 * 1000);
	} while (itest_now_ms() < deadline);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source_lag_bytes >= 10000,
	              "the source's lag must show what the blocked target has not confirmed: %s",
	              buf);
	ck_assert_msg(st.lag_ns > 0, "the blocked target must show a time lag: %s", buf);
	fprintf(stderr, "faults: lag while blocked: %s\n", buf);
}

/* Caught up: nothing unconfirmed, nothing being applied. */
static void assert_lag_back_to_zero(dbs_stream *s)
{
	dbs_stat st;
	char buf[4096];
	int64_t deadline = itest_now_ms() + 30000;

	do {
		itest_stat(s, &st);
		if (st.source_lag_bytes == 0 && st.lag_ns == 0)
			break;
		usleep(100 * 1000);
	} while (itest_now_ms() < deadline);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source_lag_bytes == 0 && st.lag_ns == 0,
	              "the lag must return to zero once the target caught up: %s", buf);
	ck_assert_msg(st.last_commit_ns > 0, "no commit time of the last change: %s", buf);
	fprintf(stderr, "faults: lag after catching up: %s\n", buf);
}

/*
 * The target blocked (a lock held on its table) for several times the
 * source server's wal_sender_timeout: the hub fills, the source waits in
 * emit and reads nothing, and its keepalive must hold the replication
 * connection so no reconnect is needed.
 */
START_TEST(pg_source_keepalive_while_blocked)
{
	char src_db[64], dst_db[64], slot[64], pub[64], config[2048], sql[256];
	uint64_t events = 0;
	dbs_stream *s;
	PGconn *src, *admin, *lock;

	check_setup();
	itest_name(src_db, sizeof src_db, "fka_src");
	itest_name(dst_db, sizeof dst_db, "fka_dst");
	itest_name(slot, sizeof slot, "fka_slot");
	itest_name(pub, sizeof pub, "fka_pub");
	use_set(SET_A);
	itest_pg_create_db(src_db);
	admin = itest_pg_connect("postgres");
	itest_pg_exec(admin, "ALTER SYSTEM SET wal_sender_timeout = '3s'");
	itest_pg_exec(admin, "SELECT pg_reload_conf()");
	use_set(SET_B);
	itest_pg_create_db(dst_db);
	lock = itest_pg_connect(dst_db);
	use_set(SET_A);
	src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE t (id bigint PRIMARY KEY, v text, n int)");
	pg_config(config, sizeof config, src_db, dst_db, slot, pub);

	__atomic_store_n(&lost_lines, 0, __ATOMIC_SEQ_CST);
	s = stream_start_id(config, ID_KEEPALIVE);
	events += itest_pg_exec_count(src, "INSERT INTO t VALUES (0, 'first', 0)");
	itest_wait_target_counter(s, events, 60);
	itest_pg_exec(lock, "BEGIN");
	itest_pg_exec(lock, "LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE");
	/* 400 transactions: each is a batch, so the 64-batch hub fills. */
	for (int k = 0; k < 400; k++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO t SELECT g, 'b', g FROM generate_series(%d, %d) g",
		         k * 10 + 1, k * 10 + 10);
		events += itest_pg_exec_count(src, sql);
	}
	sleep(12); /* four times wal_sender_timeout */
	assert_lag_grew(s);
	itest_pg_exec(lock, "COMMIT");
	wait_caught_up(s, config, events, 120);
	assert_lag_back_to_zero(s);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	itest_pg_exec(admin, "ALTER SYSTEM RESET wal_sender_timeout");
	itest_pg_exec(admin, "SELECT pg_reload_conf()");
	ck_assert_msg(__atomic_load_n(&lost_lines, __ATOMIC_SEQ_CST) == 0,
	              "the source lost its connection %d times while blocked",
	              __atomic_load_n(&lost_lines, __ATOMIC_SEQ_CST));
	PQfinish(admin);
	PQfinish(lock);
	PQfinish(src);
	pg_drop_all(src_db, dst_db, slot, pub);
}
END_TEST

/* ---- MySQL sources ---- */

static void my_workload(MYSQL *c, int part, uint64_t *events)
{
	char sql[512];

	if (part == 0) {
		for (int k = 0; k < 10; k++) {
			itest_my_exec(c, "START TRANSACTION");
			for (int r = 0; r < 10; r++) {
				int lo = k * 1000 + r * 100 + 1;
				snprintf(
				    sql, sizeof sql,
				    "INSERT INTO t (id, v, n) SELECT seq, CONCAT('row ', seq), seq "
				    "FROM seq_%d_to_%d",
				    lo, lo + 99);
				*events += itest_my_exec_count(c, sql);
			}
			itest_my_exec(c, "COMMIT");
		}
		for (int k = 0; k < 30; k++) {
			itest_my_exec(c, "START TRANSACTION");
			snprintf(sql, sizeof sql,
			         "UPDATE t SET v = CONCAT(v, ' u'), n = n + 1 WHERE id "
			         "BETWEEN %d AND %d",
			         k * 100 + 1, k * 100 + 100);
			*events += itest_my_exec_count(c, sql);
			snprintf(sql, sizeof sql,
			         "INSERT INTO t (id, v, n) SELECT seq, CONCAT('late ', seq), -seq "
			         "FROM seq_%d_to_%d",
			         20000 + k * 50 + 1, 20000 + k * 50 + 50);
			*events += itest_my_exec_count(c, sql);
			itest_my_exec(c, "COMMIT");
		}
		*events += itest_my_exec_count(c, "DELETE FROM t WHERE id BETWEEN 9001 AND 9500");
	} else {
		*events +=
		    itest_my_exec_count(c, "INSERT INTO t (id, v, n) SELECT seq, "
		                           "CONCAT('after ', seq), seq FROM seq_30001_to_32000");
		*events +=
		    itest_my_exec_count(c, "UPDATE t SET v = 'again' WHERE id BETWEEN 1 AND 2000");
		*events += itest_my_exec_count(c, "DELETE FROM t WHERE id BETWEEN 8001 AND 9000");
	}
}

/* Target `dst_db` on set B's PostgreSQL (pg_target) or MariaDB. */
static void my_config(char *config, size_t size, const char *src_db, const char *dst_db,
                      int pg_target)
{
	char dst[512];
	int n;

	if (pg_target)
		itest_pg_uri(dst, sizeof dst, dst_db, NULL, NULL, atoi(sets[SET_B].pg_port));
	else
		snprintf(dst, sizeof dst, "root:@tcp(127.0.0.1:%s)/%s", sets[SET_B].my_port,
		         dst_db);
	n = snprintf(config, size,
	             "{\"source\": {\"type\": \"mysql\", \"connection\": "
	             "\"root:@tcp(127.0.0.1:%s)/%s\", \"dataBundleSize\": 200, "
	             "\"filter\": {\"tables\": [{\"name\": \"%s.t\"}]}}, "
	             "\"target\": {\"type\": \"%s\", \"connection\": \"%s\"}}",
	             sets[SET_A].my_port, src_db, src_db, pg_target ? "postgresql" : "mysql", dst);
	ck_assert(n > 0 && (size_t)n < size);
}

static void my_prepare(const char *src_db, const char *dst_db, int pg_target, MYSQL **src)
{
	use_set(SET_B);
	if (pg_target)
		itest_pg_create_db(dst_db);
	else
		itest_my_create_db(dst_db);
	use_set(SET_A);
	itest_my_create_db(src_db);
	*src = itest_my_connect(src_db);
	itest_my_exec(*src, "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(200), n int)");
}

static void my_drop_all(const char *src_db, const char *dst_db, int pg_target)
{
	use_set(SET_A);
	itest_my_drop_db(src_db);
	use_set(SET_B);
	if (pg_target)
		itest_pg_drop_db(dst_db);
	else
		itest_my_drop_db(dst_db);
	use_set(SET_A);
}

static void my_restart_case(int restart_set, int pg_target, const char *tag, const char *id)
{
	char src_db[64], dst_db[64], config[2048], t[80];
	uint64_t events = 0;
	dbs_stream *s;
	MYSQL *src;

	check_setup();
	snprintf(t, sizeof t, "%s_src", tag);
	itest_name(src_db, sizeof src_db, t);
	snprintf(t, sizeof t, "%s_dst", tag);
	itest_name(dst_db, sizeof dst_db, t);
	my_prepare(src_db, dst_db, pg_target, &src);
	my_config(config, sizeof config, src_db, dst_db, pg_target);

	s = stream_start_id(config, id);
	my_workload(src, 0, &events);
	itest_wait_target_counter(s, 1000, 60);
	if (restart_set == SET_A) {
		mysql_close(src);
		src = NULL;
	}
	restart(restart_set, "mysql");
	if (!src) {
		use_set(SET_A);
		src = itest_my_connect(src_db);
	}
	my_workload(src, 1, &events);
	ck_assert_uint_eq(events, 20000);
	wait_caught_up(s, config, events, 150);
	assert_reconnected(s, restart_set == SET_A);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	mysql_close(src);
	my_drop_all(src_db, dst_db, pg_target);
}

START_TEST(mysql_source_restarted)
{
	my_restart_case(SET_A, 1, "fmsrc", ID_MY_SRC);
}
END_TEST

START_TEST(mysql_target_restarted)
{
	my_restart_case(SET_B, 0, "fmdst", ID_MY_DST);
}
END_TEST

START_TEST(mysql_binlog_purged)
{
	char src_db[64], dst_db[64], config[2048], buf[2048], sql[256];
	uint64_t events = 0;
	dbs_stream *s;
	dbs_stat st;
	MYSQL *src;
	char *file;

	check_setup();
	itest_name(src_db, sizeof src_db, "fpurge_src");
	itest_name(dst_db, sizeof dst_db, "fpurge_dst");
	my_prepare(src_db, dst_db, 1, &src);
	my_config(config, sizeof config, src_db, dst_db, 1);

	s = stream_start_id(config, ID_PURGE);
	events += itest_my_exec_count(src, "INSERT INTO t (id, v, n) SELECT seq, 'x', seq "
	                                   "FROM seq_1_to_500");
	itest_wait_target_counter(s, events, 60);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);

	/* While the stream is stopped, its binlog file is purged. */
	itest_my_exec(src, "FLUSH BINARY LOGS");
	itest_my_exec(src, "INSERT INTO t (id, v, n) SELECT seq, 'lost', seq FROM seq_501_to_600");
	itest_my_exec(src, "FLUSH BINARY LOGS");
	file = itest_my_value(src, "SELECT SUBSTRING_INDEX(@@global.log_bin_basename, '/', -1)");
	ck_assert_ptr_nonnull(file);
	free(file);
	{
		itest_rows *r = itest_my_rows(src, "SHOW MASTER STATUS");
		ck_assert(r->nrows == 1);
		snprintf(sql, sizeof sql, "PURGE BINARY LOGS TO '%s'", r->cells[0]);
		itest_rows_free(r);
	}
	/* MariaDB keeps a binlog until InnoDB's checkpoint has passed it
	 * (silently), and a stream resuming by GTID needs only the files
	 * after its checkpoint, here the one with the 'lost' rows: purge
	 * until the current file is the only one left. */
	for (int i = 0;; i++) {
		itest_my_exec(src, sql);
		itest_rows *r = itest_my_rows(src, "SHOW BINARY LOGS");
		size_t n = r->nrows;
		itest_rows_free(r);
		if (n == 1)
			break;
		ck_assert_msg(i < 100, "PURGE BINARY LOGS left %zu files after 20 s", n);
		usleep(200 * 1000);
	}

	s = stream_start_id(config, ID_PURGE);
	itest_wait_node_status(s, 0, DBS_STATUS_FAILED, 30, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_INIT_FAILED ||
	                  st.source.status == DBS_STATUS_FAILED,
	              "a purged binlog must fail the source: %s", buf);
	ck_assert_msg(strstr(st.source.message, "purged") != NULL &&
	                  strstr(st.source.message, "oldest binlog") != NULL,
	              "the message must say the binlog was purged: %s", buf);
	fprintf(stderr, "faults: purged binlog: %s\n", st.source.message);
	dbs_stream_stop(s);
	dbs_stream_free(s);
	mysql_close(src);
	my_drop_all(src_db, dst_db, 1);
}
END_TEST

/*
 * The database of the source (`source_down`) or of the target is down for
 * good: the node shows the outage while it retries, then ends FAILED
 * saying it gave up (reconnect.giveUpAfter is 3), and the other stops.
 */
static void assert_gives_up(dbs_stream *s, int source_down, const char *engine)
{
	char buf[4096], what[64];
	dbs_stat st;
	int seen_reconnecting = 0;

	for (int64_t deadline = itest_now_ms() + 60000; itest_now_ms() < deadline;) {
		itest_stat(s, &st);
		const dbs_conn_stat *c = source_down ? &st.source_conn : &st.target_conn;
		if (c->reconnecting) {
			seen_reconnecting = 1;
			ck_assert_int_gt(c->lost_since_ns, 0);
			ck_assert_int_eq(source_down ? st.source.status : st.target.status,
			                 DBS_STATUS_RUNNING);
		}
		if (dbs_status_is_terminal(st.source.status) &&
		    dbs_status_is_terminal(st.target.status))
			break;
		usleep(20 * 1000);
	}
	itest_stat_format(buf, sizeof buf, &st);
	const dbs_node_stat *down = source_down ? &st.source : &st.target;
	const dbs_node_stat *up = source_down ? &st.target : &st.source;
	const dbs_conn_stat *conn = source_down ? &st.source_conn : &st.target_conn;
	snprintf(what, sizeof what, "%s %s: connection lost for 3 s, gave up after", engine,
	         source_down ? "source" : "target");
	ck_assert_msg(seen_reconnecting, "the outage never showed as reconnecting: %s", buf);
	ck_assert_msg(down->status == DBS_STATUS_FAILED, "the node must fail: %s", buf);
	ck_assert_msg(strstr(down->message, what) &&
	                  strstr(down->message, "(reconnect.giveUpAfter)"),
	              "the reason must say it gave up reconnecting: %s", buf);
	ck_assert_msg(up->status == DBS_STATUS_STOPPED, "the other node must stop: %s", buf);
	ck_assert_msg(conn->reconnects == 1 && !conn->reconnecting && conn->last_error[0],
	              "one outage, over: %s", buf);
	fprintf(stderr, "faults: gave up: %s\n", down->message);
}

/*
 * The user stops the stream while a node retries its lost connection
 * (reconnect.giveUpAfter 0: retry for ever): the stop ends the retries
 * and nothing leaks or is used after its release (AddressSanitizer). A
 * source stopped so ends STOPPED; a target ends FAILED with the connection
 * error, since it could not apply what it held before the stop (the
 * checkpoint did not move: a resume applies it).
 */
static void assert_stops_while_reconnecting(dbs_stream *s, int source_down)
{
	char buf[4096];
	dbs_stat st;
	int64_t deadline = itest_now_ms() + 60000;
	for (;;) {
		itest_stat(s, &st);
		if ((source_down ? &st.source_conn : &st.target_conn)->reconnecting)
			break;
		itest_stat_format(buf, sizeof buf, &st);
		ck_assert_msg(itest_now_ms() < deadline, "the outage never showed: %s", buf);
		usleep(20 * 1000);
	}
	usleep(1500 * 1000); /* inside the backoff, between two attempts */
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_STOPPED, "the source stops: %s", buf);
	if (source_down)
		ck_assert_msg(st.target.status == DBS_STATUS_STOPPED, "the target stops: %s", buf);
	else
		ck_assert_msg(st.target.status == DBS_STATUS_FAILED &&
		                  strstr(st.target.message, "reconnecting to the target"),
		              "the target fails with what kept it from applying: %s", buf);
}

/*
 * A database that stays down: with reconnect.giveUpAfter 3, the node that
 * lost it shows the outage while it retries, then ends FAILED with the
 * reason; the other node stops. `source_down`: the source's PostgreSQL
 * (set C) goes, else the target's. With `stop`, giveUpAfter is 0 and the
 * user stops the stream while it retries instead.
 */
static void give_up_case(int source_down, const char *tag, const char *id, int stop)
{
	char src_db[64], dst_db[64], slot[64], pub[64], config[2048], t[80];
	char src_uri[512], dst_uri[512], port_c[16];
	uint64_t events = 0;
	dbs_stream *s;
	PGconn *src;

	check_setup();
	ck_assert_msg(itest_harness("start", set_c.dir, "pg", NULL, NULL) == 0,
	              "could not start a third PostgreSQL in %s", set_c.dir);
	ck_assert(itest_harness_env(set_c.dir, "DBS_TEST_PG_PORT", port_c, sizeof port_c));
	snprintf(t, sizeof t, "%s_src", tag);
	itest_name(src_db, sizeof src_db, t);
	snprintf(t, sizeof t, "%s_dst", tag);
	itest_name(dst_db, sizeof dst_db, t);
	snprintf(t, sizeof t, "%s_slot", tag);
	itest_name(slot, sizeof slot, t);
	snprintf(t, sizeof t, "%s_pub", tag);
	itest_name(pub, sizeof pub, t);
	/* The side that goes down lives on set C, the other on set A or B. */
	snprintf(set_c.pg_port, sizeof set_c.pg_port, "%s", port_c);
	server_set keep_a = sets[SET_A], keep_b = sets[SET_B];
	if (source_down)
		sets[SET_A] = set_c;
	else
		sets[SET_B] = set_c;
	use_set(SET_A);
	itest_pg_create_db(src_db);
	use_set(SET_B);
	itest_pg_create_db(dst_db);
	use_set(SET_A);
	src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE t (id bigint PRIMARY KEY, v text, n int)");
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, atoi(sets[SET_A].pg_port));
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, atoi(sets[SET_B].pg_port));
	ck_assert(snprintf(config, sizeof config,
	                   "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	                   "\"settings\": {\"replicationSlotName\": \"%s\", "
	                   "\"publicationName\": \"%s\"}, "
	                   "\"filter\": {\"tables\": [{\"name\": \"t\"}]}}, "
	                   "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                   "\"reconnect\": {\"giveUpAfter\": %d}}",
	                   src_uri, slot, pub, dst_uri, stop ? 0 : 3) < (int)sizeof config);

	s = stream_start_id(config, id);
	events += itest_pg_exec_count(src, "INSERT INTO t SELECT g, 'x', g FROM "
	                                   "generate_series(1, 300) g");
	itest_wait_target_counter(s, events, 60);
	ck_assert_int_eq(itest_harness("stop", set_c.dir, NULL, NULL, NULL), 0);
	if (!source_down) /* the target notices when it has something to apply */
		itest_pg_exec(src,
		              "INSERT INTO t SELECT g, 'y', g FROM generate_series(301, 400) g");
	if (stop)
		assert_stops_while_reconnecting(s, source_down);
	else
		assert_gives_up(s, source_down, "postgresql");
	dbs_stream_free(s);
	PQfinish(src);
	sets[SET_A] = keep_a;
	sets[SET_B] = keep_b;
	use_set(SET_A);
	if (source_down) {
		use_set(SET_B);
		itest_pg_drop_db(dst_db);
	} else {
		itest_pg_drop_slot(slot);
		itest_pg_drop_publication(src_db, pub);
		itest_pg_drop_db(src_db);
	}
	use_set(SET_A);
}

START_TEST(pg_target_down_gives_up)
{
	give_up_case(0, "fgud", ID_GIVE_UP_DST, 0);
}
END_TEST

START_TEST(pg_target_down_stopped)
{
	give_up_case(0, "fsrd", ID_STOP_DST, 1);
}
END_TEST

START_TEST(pg_source_down_stopped)
{
	give_up_case(1, "fsrs", ID_STOP_SRC, 1);
}
END_TEST

START_TEST(pg_source_down_gives_up)
{
	give_up_case(1, "fgus", ID_GIVE_UP_SRC, 0);
}
END_TEST

/* The MariaDB source's server (set C) goes for good. */
START_TEST(mysql_source_down_gives_up)
{
	char src_db[64], dst_db[64], config[2048], dst[512], port_c[16];
	dbs_stream *s;
	MYSQL *src;
	uint64_t events = 0;

	check_setup();
	ck_assert_msg(itest_harness("start", set_c.dir, "mysql", NULL, NULL) == 0,
	              "could not start a third MariaDB in %s", set_c.dir);
	ck_assert(itest_harness_env(set_c.dir, "DBS_TEST_MYSQL_PORT", port_c, sizeof port_c));
	itest_name(src_db, sizeof src_db, "fmgu_src");
	itest_name(dst_db, sizeof dst_db, "fmgu_dst");
	use_set(SET_B);
	itest_pg_create_db(dst_db);
	setenv("DBS_TEST_MYSQL_PORT", port_c, 1);
	unsetenv("DBS_TEST_MYSQL_SOCKET");
	itest_my_create_db(src_db);
	src = itest_my_connect(src_db);
	itest_my_exec(src, "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(200), n int)");
	itest_pg_uri(dst, sizeof dst, dst_db, NULL, NULL, atoi(sets[SET_B].pg_port));
	ck_assert(snprintf(config, sizeof config,
	                   "{\"source\": {\"type\": \"mysql\", \"connection\": "
	                   "\"root:@tcp(127.0.0.1:%s)/%s\", "
	                   "\"filter\": {\"tables\": [{\"name\": \"%s.t\"}]}}, "
	                   "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                   "\"reconnect\": {\"giveUpAfter\": 3}}",
	                   port_c, src_db, src_db, dst) < (int)sizeof config);

	s = stream_start_id(config, ID_MY_GIVE_UP_SRC);
	events += itest_my_exec_count(src, "INSERT INTO t (id, v, n) SELECT seq, 'x', seq "
	                                   "FROM seq_1_to_300");
	itest_wait_target_counter(s, events, 60);
	mysql_close(src);
	ck_assert_int_eq(itest_harness("stop", set_c.dir, NULL, NULL, NULL), 0);
	assert_gives_up(s, 1, "mysql");
	dbs_stream_free(s);
	use_set(SET_B);
	itest_pg_drop_db(dst_db);
	use_set(SET_A);
}
END_TEST

/* MySQL → MySQL with the target's table locked: the binlog lag grows and
 * goes back to zero once the lock is released and the target caught up. */
START_TEST(mysql_lag_while_blocked)
{
	char src_db[64], dst_db[64], config[2048], sql[256], lock_sql[160];
	uint64_t events = 0;
	dbs_stream *s;
	MYSQL *src, *lock;

	check_setup();
	itest_name(src_db, sizeof src_db, "fmlag_src");
	itest_name(dst_db, sizeof dst_db, "fmlag_dst");
	my_prepare(src_db, dst_db, 0, &src);
	my_config(config, sizeof config, src_db, dst_db, 0);

	s = stream_start_id(config, ID_MY_LAG);
	events += itest_my_exec_count(src, "INSERT INTO t (id, v, n) VALUES (0, 'first', 0)");
	itest_wait_target_counter(s, events, 60);
	use_set(SET_B);
	lock = itest_my_connect(dst_db);
	use_set(SET_A);
	snprintf(lock_sql, sizeof lock_sql, "LOCK TABLES t WRITE");
	itest_my_exec(lock, lock_sql);
	for (int k = 0; k < 100; k++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO t (id, v, n) SELECT seq, 'b', seq FROM seq_%d_to_%d",
		         k * 10 + 1, k * 10 + 10);
		events += itest_my_exec_count(src, sql);
	}
	assert_lag_grew(s);
	itest_my_exec(lock, "UNLOCK TABLES");
	wait_caught_up(s, config, events, 120);
	assert_lag_back_to_zero(s);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	mysql_close(lock);
	mysql_close(src);
	my_drop_all(src_db, dst_db, 0);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_faults");
	TCase *tc = tcase_create("faults");
	SRunner *sr;
	int failed;

	start_sets();
	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, pg_slot_dropped);
	tcase_add_test(tc, mysql_binlog_purged);
	tcase_add_test(tc, pg_source_restarted);
	tcase_add_test(tc, pg_target_restarted);
	tcase_add_test(tc, pg_source_keepalive_while_blocked);
	tcase_add_test(tc, mysql_source_restarted);
	tcase_add_test(tc, mysql_target_restarted);
	tcase_add_test(tc, mysql_lag_while_blocked);
	tcase_add_test(tc, pg_target_down_gives_up);
	tcase_add_test(tc, pg_source_down_gives_up);
	tcase_add_test(tc, mysql_source_down_gives_up);
	tcase_add_test(tc, pg_target_down_stopped);
	tcase_add_test(tc, pg_source_down_stopped);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	stop_sets();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
