#include "itest.h"

#include <dbstreams/verify.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <spawn.h>

const char *itest_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v != NULL && v[0] != '\0',
	              "%s is not set: run the integration suite through scripts/test "
	              "(or source the env file written by tests/harness/servers start DIR)",
	              name);
	return v;
}

void itest_name(char *buf, size_t size, const char *tag)
{
	int n = snprintf(buf, size, "dbs_it_%ld_%s", (long)getpid(), tag);

	ck_assert_msg(n > 0 && (size_t)n < size, "name too long: %s", tag);
}

void itest_pg_uri(char *buf, size_t size, const char *db, const char *user,
                  const char *password, int port)
{
	const char *host = itest_env("DBS_TEST_PG_HOST");
	int p = port > 0 ? port : atoi(itest_env("DBS_TEST_PG_PORT"));
	int n;

	if (user == NULL)
		user = itest_env("DBS_TEST_PG_USER");
	if (password != NULL)
		n = snprintf(buf, size, "postgresql://%s:%s@%s:%d/%s", user, password, host, p, db);
	else
		n = snprintf(buf, size, "postgresql://%s@%s:%d/%s", user, host, p, db);
	ck_assert_msg(n > 0 && (size_t)n < size, "URI too long");
}

/* "does not exist, skipping" notices from IF EXISTS only clutter the log. */
static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

PGconn *itest_pg_connect(const char *db)
{
	char uri[512];
	PGconn *conn;

	itest_pg_uri(uri, sizeof uri, db, NULL, NULL, 0);
	conn = PQconnectdb(uri);
	ck_assert_msg(conn != NULL, "PQconnectdb: out of memory");
	if (PQstatus(conn) != CONNECTION_OK) {
		char msg[1024];

		snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
		PQfinish(conn);
		ck_abort_msg("connect to %s: %s", uri, msg);
	}
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	return conn;
}

static PGresult *exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[1024];

		snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
		PQclear(res);
		ck_abort_msg("SQL failed: %.300s\n%s", sql, msg);
	}
	return res;
}

void itest_pg_exec(PGconn *conn, const char *sql)
{
	PQclear(exec_ok(conn, sql));
}

uint64_t itest_pg_exec_count(PGconn *conn, const char *sql)
{
	PGresult *res = exec_ok(conn, sql);
	uint64_t n = strtoull(PQcmdTuples(res), NULL, 10);

	PQclear(res);
	return n;
}

char *itest_pg_value(PGconn *conn, const char *sql)
{
	PGresult *res = exec_ok(conn, sql);
	char *v = NULL;

	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
		v = strdup(PQgetvalue(res, 0, 0));
		if (v == NULL) {
			PQclear(res);
			ck_abort_msg("out of memory");
		}
	}
	PQclear(res);
	return v;
}

uint64_t itest_pg_count(PGconn *conn, const char *table)
{
	char sql[256];
	char *v;
	uint64_t n;

	ck_assert_int_lt(snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table),
	                 (int)sizeof sql);
	v = itest_pg_value(conn, sql);
	ck_assert_ptr_nonnull(v);
	n = strtoull(v, NULL, 10);
	free(v);
	return n;
}

/*
 * A database with a logical slot cannot be dropped: drop the slots of `db`
 * first, waiting up to 20 s for a walsender that is still letting go.
 */
static void drop_db_slots(PGconn *conn, const char *db)
{
	const char *params[1] = {db};
	int i;

	for (i = 0; i < 200; i++) {
		PGresult *res = PQexecParams(conn,
		                             "SELECT count(*) FILTER (WHERE active), count(*) "
		                             "FROM pg_replication_slots WHERE database = $1",
		                             1, NULL, params, NULL, NULL, 0);
		int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		int active = ok ? atoi(PQgetvalue(res, 0, 0)) : 0;
		int total = ok ? atoi(PQgetvalue(res, 0, 1)) : 0;

		PQclear(res);
		if (!ok || total == 0)
			return;
		if (active == 0 || i == 199) {
			res = PQexecParams(conn,
			                   "SELECT pg_drop_replication_slot(slot_name) "
			                   "FROM pg_replication_slots WHERE database = $1",
			                   1, NULL, params, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
				fprintf(stderr, "drop slots of %s: %s", db, PQerrorMessage(conn));
			PQclear(res);
			return;
		}
		usleep(100 * 1000);
	}
}

void itest_pg_create_db(const char *db)
{
	PGconn *conn = itest_pg_connect("postgres");
	char sql[256];

	drop_db_slots(conn, db);
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	itest_pg_exec(conn, sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'", db);
	itest_pg_exec(conn, sql);
	PQfinish(conn);
}

/* Teardown helpers never fail: they run after a test may already have. */
static PGconn *connect_quiet(const char *db)
{
	const char *host = getenv("DBS_TEST_PG_HOST");
	const char *port = getenv("DBS_TEST_PG_PORT");
	const char *user = getenv("DBS_TEST_PG_USER");
	char uri[512];
	PGconn *conn;

	if (host == NULL || port == NULL || user == NULL)
		return NULL;
	snprintf(uri, sizeof uri, "postgresql://%s@%s:%s/%s", user, host, port, db);
	conn = PQconnectdb(uri);
	if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "teardown: connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
	}
	if (conn != NULL)
		PQsetNoticeProcessor(conn, ignore_notice, NULL);
	return conn;
}

static void exec_quiet(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "teardown: %s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

void itest_pg_drop_slot(const char *slot)
{
	PGconn *conn = connect_quiet("postgres");
	const char *params[1] = {slot};
	int i;

	if (conn == NULL)
		return;
	for (i = 0; i < 200; i++) {
		PGresult *res = PQexecParams(conn,
		                             "SELECT active, active_pid FROM pg_replication_slots "
		                             "WHERE slot_name = $1",
		                             1, NULL, params, NULL, NULL, 0);
		int exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		int active = exists && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

		PQclear(res);
		if (!exists)
			break;
		if (!active || i == 199) {
			res = PQexecParams(conn, "SELECT pg_drop_replication_slot($1)", 1, NULL, params,
			                   NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
				fprintf(stderr, "teardown: drop slot %s: %s", slot, PQerrorMessage(conn));
			PQclear(res);
			break;
		}
		usleep(100 * 1000);
	}
	PQfinish(conn);
}

void itest_pg_drop_db(const char *db)
{
	PGconn *conn = connect_quiet("postgres");
	char sql[256];

	if (conn == NULL)
		return;
	drop_db_slots(conn, db);
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	exec_quiet(conn, sql);
	PQfinish(conn);
}

void itest_pg_drop_publication(const char *db, const char *pub)
{
	PGconn *conn = connect_quiet("postgres");
	char sql[256];
	PGresult *res;
	int exists;

	if (conn == NULL)
		return;
	{
		const char *params[1] = {db};

		res = PQexecParams(conn, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL,
		                   params, NULL, NULL, 0);
		exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		PQclear(res);
	}
	PQfinish(conn);
	if (!exists)
		return;
	conn = connect_quiet(db);
	if (conn == NULL)
		return;
	snprintf(sql, sizeof sql, "DROP PUBLICATION IF EXISTS \"%s\"", pub);
	exec_quiet(conn, sql);
	PQfinish(conn);
}

void itest_pg_drop_role(const char *role)
{
	PGconn *conn = connect_quiet("postgres");
	char sql[256];

	if (conn == NULL)
		return;
	snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s", role);
	exec_quiet(conn, sql);
	PQfinish(conn);
}

dbs_stream *itest_stream_start(const char *config)
{
	return itest_stream_start_logged(config, NULL, NULL, DBS_LOG_INFO);
}

dbs_stream *itest_stream_start_logged(const char *config, const char *id, dbs_log_fn log,
                                      dbs_log_level level)
{
	dbs_stream_options opts = DBS_STREAM_OPTIONS_INIT;
	dbs_stream *s = NULL;

	opts.stream_id = id;
	opts.log = log;
	opts.log_level = level;
	int rc = dbs_stream_create(&s, config, strlen(config), &opts);
	ck_assert_msg(rc == 0, "dbs_stream_create: %d (%s): %s\nconfig: %s", rc, dbs_strerror(rc),
	              dbs_error_last(), config);
	ck_assert_ptr_nonnull(s);
	return s;
}

int itest_harness(const char *cmd, const char *dir, const char *what1, const char *what2,
                  const char *extra)
{
	const char *harness = getenv("DBS_HARNESS_SERVERS");
	int status;

	if (!harness)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (extra)
			setenv("DBS_HARNESS_MYSQL_EXTRA", extra, 1);
		else
			unsetenv("DBS_HARNESS_MYSQL_EXTRA");
		execl(harness, harness, cmd, dir, what1, what2, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int itest_harness_env(const char *dir, const char *key, char *out, size_t size)
{
	char path[600], line[1024];
	int found = 0;
	size_t klen = strlen(key);

	if (snprintf(path, sizeof path, "%s/env", dir) >= (int)sizeof path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "export ", 7) != 0 || strncmp(line + 7, key, klen) != 0 ||
		    line[7 + klen] != '=')
			continue;
		char *v = line + 8 + klen, *end = v + strcspn(v, "\n");
		*end = '\0';
		if (*v == '\'' && end > v + 1 && end[-1] == '\'') {
			v++;
			end[-1] = '\0';
		}
		found = snprintf(out, size, "%s", v) < (int)size;
		break;
	}
	fclose(f);
	return found;
}

uint64_t itest_verify_differences(const char *config)
{
	dbs_verify_options opts = DBS_VERIFY_OPTIONS_INIT;
	dbs_verify_report *r = NULL;
	int rc = dbs_verify_run(&r, config, strlen(config), &opts);

	ck_assert_msg(rc == 0, "dbs_verify_run: %d %s", rc, dbs_error_last());
	uint64_t d = r->differences;
	dbs_verify_report_free(r);
	return d;
}

void itest_stat_format(char *buf, size_t size, const dbs_stat *st)
{
	snprintf(buf, size,
	         "stream %s: source %s counter %llu%s%s / target %s counter %llu%s%s / "
	         "reconnects source %llu%s target %llu%s hub %llu%s / lag %llu bytes, %lld ms",
	         st->stream_id, dbs_status_name(st->source.status),
	         (unsigned long long)st->source.counter, st->source.message[0] ? " message: " : "",
	         st->source.message, dbs_status_name(st->target.status),
	         (unsigned long long)st->target.counter, st->target.message[0] ? " message: " : "",
	         st->target.message, (unsigned long long)st->source_conn.reconnects,
	         st->source_conn.reconnecting ? " (reconnecting)" : "",
	         (unsigned long long)st->target_conn.reconnects,
	         st->target_conn.reconnecting ? " (reconnecting)" : "",
	         (unsigned long long)st->hub_conn.reconnects,
	         st->hub_conn.reconnecting ? " (reconnecting)" : "",
	         (unsigned long long)st->source_lag_bytes, (long long)(st->lag_ns / 1000000));
	if (st->stalled) {
		size_t n = strlen(buf);
		snprintf(buf + n, size - n, " / STALLED");
	}
}

void itest_stat(dbs_stream *s, dbs_stat *st)
{
	dbs_stat init = DBS_STAT_INIT;
	int rc;

	*st = init;
	rc = dbs_stream_stat(s, st);
	ck_assert_msg(rc == 0, "dbs_stream_stat: %d %s", rc, dbs_error_last());
}

int64_t itest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void itest_wait_target_counter(dbs_stream *s, uint64_t events, int timeout_s)
{
	int64_t deadline = itest_now_ms() + (int64_t)timeout_s * 1000;
	dbs_stat st;
	char buf[2048];

	for (;;) {
		itest_stat(s, &st);
		if (st.target.counter >= events)
			return;
		/* A stalled stream is a failure, however long the test would wait. */
		if (dbs_status_is_terminal(st.target.status) || st.stalled ||
		    itest_now_ms() > deadline)
			break;
		usleep(50 * 1000);
	}
	itest_stat_format(buf, sizeof buf, &st);
	ck_abort_msg("target counter did not reach %llu within %d s: %s",
	             (unsigned long long)events, timeout_s, buf);
}

void itest_wait_node_status(dbs_stream *s, int target_node, dbs_status want, int timeout_s,
                            dbs_stat *st)
{
	int64_t deadline = itest_now_ms() + (int64_t)timeout_s * 1000;

	for (;;) {
		dbs_status got;

		itest_stat(s, st);
		got = target_node ? st->target.status : st->source.status;
		if (got == want || dbs_status_is_terminal(got) || itest_now_ms() > deadline)
			return;
		usleep(50 * 1000);
	}
}

static int key_cmp(const char *a, const char *b)
{
	char *ea, *eb;
	long long na = strtoll(a, &ea, 10), nb = strtoll(b, &eb, 10);

	if (*a != '\0' && *b != '\0' && *ea == '\0' && *eb == '\0')
		return na < nb ? -1 : na > nb;
	return strcmp(a, b);
}

/* Print the first rows that differ, by the ordering key's text. */
static void print_first_differences(PGconn *src, PGconn *dst, const char *table,
                                    const char *order_by)
{
	char sql[512];
	PGresult *a, *b;
	int i = 0, j = 0, shown = 0;

	snprintf(sql, sizeof sql, "SELECT (%s)::text, t::text FROM %s t ORDER BY %s", order_by,
	         table, order_by);
	a = PQexec(src, sql);
	b = PQexec(dst, sql);
	if (PQresultStatus(a) != PGRES_TUPLES_OK || PQresultStatus(b) != PGRES_TUPLES_OK) {
		fprintf(stderr, "%s: cannot list rows: %s%s", table, PQerrorMessage(src),
		        PQerrorMessage(dst));
		goto done;
	}
	fprintf(stderr, "%s: source %d rows, target %d rows; first differences:\n", table,
	        PQntuples(a), PQntuples(b));
	/* Merge the two ordered lists by key: integers compare as numbers,
	 * anything else bytewise (the harness's databases use C.UTF-8). */
	while ((i < PQntuples(a) || j < PQntuples(b)) && shown < 5) {
		int in_a = i < PQntuples(a), in_b = j < PQntuples(b);
		int cmp = in_a && in_b ? key_cmp(PQgetvalue(a, i, 0), PQgetvalue(b, j, 0)) : 0;

		if (in_a && in_b && cmp == 0) {
			if (strcmp(PQgetvalue(a, i, 1), PQgetvalue(b, j, 1)) != 0) {
				fprintf(stderr, "  source: %.2000s\n  target: %.2000s\n",
				        PQgetvalue(a, i, 1), PQgetvalue(b, j, 1));
				shown++;
			}
			i++;
			j++;
		} else if (in_a && (!in_b || cmp < 0)) {
			fprintf(stderr, "  only in source: %.2000s\n", PQgetvalue(a, i, 1));
			shown++;
			i++;
		} else {
			fprintf(stderr, "  only in target: %.2000s\n", PQgetvalue(b, j, 1));
			shown++;
			j++;
		}
	}
done:
	PQclear(a);
	PQclear(b);
}

void itest_pg_compare_table(PGconn *src, PGconn *dst, const char *table, const char *order_by)
{
	char sql[512];
	char *ha, *hb;
	uint64_t ca, cb;
	int same;

	ck_assert_int_lt(snprintf(sql, sizeof sql,
	                          "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY %s), '')) "
	                          "FROM %s t",
	                          order_by, table),
	                 (int)sizeof sql);
	ca = itest_pg_count(src, table);
	cb = itest_pg_count(dst, table);
	ha = itest_pg_value(src, sql);
	hb = itest_pg_value(dst, sql);
	same = ca == cb && ha != NULL && hb != NULL && strcmp(ha, hb) == 0;
	if (!same)
		print_first_differences(src, dst, table, order_by);
	free(ha);
	free(hb);
	ck_assert_msg(same, "table %s differs: source %llu rows, target %llu rows (details above)",
	              table, (unsigned long long)ca, (unsigned long long)cb);
}

/* ------------------------------------------------------------------ */
/* MySQL / MariaDB                                                     */
/* ------------------------------------------------------------------ */

void itest_my_dsn(char *buf, size_t size, const char *db)
{
	int n = snprintf(buf, size, "%s:@tcp(%s:%s)/%s", itest_env("DBS_TEST_MYSQL_USER"),
	                 itest_env("DBS_TEST_MYSQL_HOST"), itest_env("DBS_TEST_MYSQL_PORT"), db);

	ck_assert_msg(n > 0 && (size_t)n < size, "DSN too long");
}

static MYSQL *my_connect(const char *db, int quiet)
{
	const char *host = getenv("DBS_TEST_MYSQL_HOST");
	const char *port = getenv("DBS_TEST_MYSQL_PORT");
	const char *user = getenv("DBS_TEST_MYSQL_USER");
	MYSQL *conn;

	if (!quiet) {
		host = itest_env("DBS_TEST_MYSQL_HOST");
		port = itest_env("DBS_TEST_MYSQL_PORT");
		user = itest_env("DBS_TEST_MYSQL_USER");
	} else if (host == NULL || port == NULL || user == NULL) {
		return NULL;
	}
	conn = mysql_init(NULL);
	if (conn == NULL) {
		if (quiet)
			return NULL;
		ck_abort_msg("mysql_init: out of memory");
	}
	mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* Timestamps written and read by the tests are UTC, as the target's. */
	mysql_options(conn, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	if (mysql_real_connect(conn, host, user, "", db, (unsigned)atoi(port), NULL, 0) == NULL) {
		char msg[1024];

		snprintf(msg, sizeof msg, "%s", mysql_error(conn));
		mysql_close(conn);
		if (quiet) {
			fprintf(stderr, "teardown: mysql connect: %s\n", msg);
			return NULL;
		}
		ck_abort_msg("mysql connect to %s:%s/%s: %s", host, port, db ? db : "", msg);
	}
	return conn;
}

MYSQL *itest_my_connect(const char *db)
{
	return my_connect(db, 0);
}

/* Run `sql` and return its result (NULL for statements without rows). */
static MYSQL_RES *my_query(MYSQL *conn, const char *sql)
{
	MYSQL_RES *res;

	if (mysql_real_query(conn, sql, strlen(sql)) != 0)
		ck_abort_msg("MySQL SQL failed: %.300s\n%s", sql, mysql_error(conn));
	res = mysql_store_result(conn);
	if (res == NULL && mysql_field_count(conn) != 0)
		ck_abort_msg("MySQL result of %.300s: %s", sql, mysql_error(conn));
	return res;
}

void itest_my_exec(MYSQL *conn, const char *sql)
{
	MYSQL_RES *res = my_query(conn, sql);

	if (res != NULL)
		mysql_free_result(res);
}

uint64_t itest_my_exec_count(MYSQL *conn, const char *sql)
{
	MYSQL_RES *res = my_query(conn, sql);
	my_ulonglong n = mysql_affected_rows(conn);

	if (res != NULL)
		mysql_free_result(res);
	ck_assert_msg(n != (my_ulonglong)-1, "affected rows of %.300s unknown", sql);
	return (uint64_t)n;
}

char *itest_my_value(MYSQL *conn, const char *sql)
{
	MYSQL_RES *res = my_query(conn, sql);
	MYSQL_ROW row;
	char *v = NULL;

	ck_assert_msg(res != NULL, "no result from %.300s", sql);
	row = mysql_fetch_row(res);
	if (row != NULL && row[0] != NULL) {
		unsigned long *len = mysql_fetch_lengths(res);

		v = malloc(len[0] + 1);
		if (v == NULL) {
			mysql_free_result(res);
			ck_abort_msg("out of memory");
		}
		memcpy(v, row[0], len[0]);
		v[len[0]] = '\0';
	}
	mysql_free_result(res);
	return v;
}

uint64_t itest_my_count(MYSQL *conn, const char *table)
{
	char sql[256];
	char *v;
	uint64_t n;

	ck_assert_int_lt(snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table),
	                 (int)sizeof sql);
	v = itest_my_value(conn, sql);
	ck_assert_ptr_nonnull(v);
	n = strtoull(v, NULL, 10);
	free(v);
	return n;
}

void itest_my_create_db(const char *db)
{
	MYSQL *conn = itest_my_connect(NULL);
	char sql[256];

	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS `%s`", db);
	itest_my_exec(conn, sql);
	snprintf(sql, sizeof sql,
	         "CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", db);
	itest_my_exec(conn, sql);
	mysql_close(conn);
}

void itest_my_drop_db(const char *db)
{
	MYSQL *conn = my_connect(NULL, 1);
	char sql[256];

	if (conn == NULL)
		return;
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS `%s`", db);
	if (mysql_query(conn, sql) != 0)
		fprintf(stderr, "teardown: %s: %s\n", sql, mysql_error(conn));
	mysql_close(conn);
}

/* ------------------------------------------------------------------ */
/* Rows as text                                                        */
/* ------------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	ck_assert_msg(d != NULL, "out of memory");
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static itest_rows *rows_new(size_t nrows, size_t ncols)
{
	itest_rows *r = calloc(1, sizeof *r);

	ck_assert_msg(r != NULL, "out of memory");
	r->nrows = nrows;
	r->ncols = ncols;
	r->cells = calloc(nrows * ncols + 1, sizeof *r->cells);
	r->names = calloc(ncols + 1, sizeof *r->names);
	ck_assert_msg(r->cells != NULL && r->names != NULL, "out of memory");
	return r;
}

void itest_rows_free(itest_rows *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrows * r->ncols; i++)
		free(r->cells[i]);
	for (i = 0; i < r->ncols; i++)
		free(r->names[i]);
	free(r->cells);
	free(r->names);
	free(r);
}

itest_rows *itest_pg_rows(PGconn *conn, const char *sql)
{
	PGresult *res = exec_ok(conn, sql);
	itest_rows *r = rows_new((size_t)PQntuples(res), (size_t)PQnfields(res));
	size_t i, c;

	for (c = 0; c < r->ncols; c++)
		r->names[c] = dup_n(PQfname(res, (int)c), strlen(PQfname(res, (int)c)));
	for (i = 0; i < r->nrows; i++)
		for (c = 0; c < r->ncols; c++)
			if (!PQgetisnull(res, (int)i, (int)c))
				r->cells[i * r->ncols + c] =
					dup_n(PQgetvalue(res, (int)i, (int)c),
					      (size_t)PQgetlength(res, (int)i, (int)c));
	PQclear(res);
	return r;
}

itest_rows *itest_my_rows(MYSQL *conn, const char *sql)
{
	MYSQL_RES *res = my_query(conn, sql);
	MYSQL_FIELD *fields;
	MYSQL_ROW row;
	itest_rows *r;
	size_t i = 0, c;

	ck_assert_msg(res != NULL, "no result from %.300s", sql);
	r = rows_new((size_t)mysql_num_rows(res), mysql_num_fields(res));
	fields = mysql_fetch_fields(res);
	for (c = 0; c < r->ncols; c++)
		r->names[c] = dup_n(fields[c].name, strlen(fields[c].name));
	while ((row = mysql_fetch_row(res)) != NULL && i < r->nrows) {
		unsigned long *len = mysql_fetch_lengths(res);

		for (c = 0; c < r->ncols; c++)
			if (row[c] != NULL)
				r->cells[i * r->ncols + c] = dup_n(row[c], len[c]);
		i++;
	}
	mysql_free_result(res);
	return r;
}

static int json_equal(PGconn *pg, const char *a, const char *b)
{
	const char *params[2] = {a, b};
	PGresult *res;
	int eq;

	if (pg == NULL)
		return 0;
	res = PQexecParams(pg, "SELECT $1::jsonb = $2::jsonb", 2, NULL, params, NULL, NULL, 0);
	eq = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	     strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return eq;
}

/* Exact decimal text without trailing fraction zeros and "-0" as "0". */
static void decimal_norm(char *buf, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strchr(buf, '.') != NULL) {
		while (n > 0 && buf[n - 1] == '0')
			buf[--n] = '\0';
		if (n > 0 && buf[n - 1] == '.')
			buf[--n] = '\0';
	}
	if (strcmp(buf, "-0") == 0)
		memcpy(buf, "0", 2);
}

static int cell_equal(char mode, const char *a, const char *b, PGconn *pg)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (strcmp(a, b) == 0)
		return 1;
	if (mode == 'd') {
		char *ea, *eb;
		double da = strtod(a, &ea), db = strtod(b, &eb);

		if (*ea != '\0' || *eb != '\0')
			return 0;
		return da == db || (da != da && db != db);
	}
	if (mode == 'j')
		return json_equal(pg, a, b);
	if (mode == 'n') {
		char na[256], nb[256];

		decimal_norm(na, sizeof na, a);
		decimal_norm(nb, sizeof nb, b);
		return strcmp(na, nb) == 0;
	}
	return 0;
}

void itest_rows_compare(const itest_rows *a, const itest_rows *b, const char *modes,
                        PGconn *pg, const char *label)
{
	size_t i = 0, j = 0, c, nm = strlen(modes);

	ck_assert_msg(a->ncols == b->ncols, "%s: source has %zu columns, target %zu", label,
	              a->ncols, b->ncols);
	while (i < a->nrows || j < b->nrows) {
		const char *ka = i < a->nrows ? a->cells[i * a->ncols] : NULL;
		const char *kb = j < b->nrows ? b->cells[j * b->ncols] : NULL;
		int cmp = ka && kb ? key_cmp(ka, kb) : (ka ? -1 : 1);

		if (cmp < 0)
			ck_abort_msg("%s: row %s only in the source (source %zu rows, target %zu)",
			             label, ka, a->nrows, b->nrows);
		if (cmp > 0)
			ck_abort_msg("%s: row %s only in the target (source %zu rows, target %zu)",
			             label, kb, a->nrows, b->nrows);
		for (c = 1; c < a->ncols; c++) {
			const char *va = a->cells[i * a->ncols + c], *vb = b->cells[j * b->ncols + c];
			char mode = c < nm ? modes[c] : 's';

			if (!cell_equal(mode, va, vb, pg))
				ck_abort_msg("%s: row %s column %s differs:\n  source: %.1500s\n"
				             "  target: %.1500s",
				             label, ka, a->names[c], va ? va : "NULL", vb ? vb : "NULL");
		}
		i++;
		j++;
	}
}

/* ------------------------------------------------------------------ */
/* The MySQL-source workload                                           */
/* ------------------------------------------------------------------ */

static void my_sqlf(MYSQL *conn, uint64_t *count, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void my_sqlf(MYSQL *conn, uint64_t *count, const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && (size_t)n < sizeof sql, "SQL too long");
	if (count != NULL)
		*count += itest_my_exec_count(conn, sql);
	else
		itest_my_exec(conn, sql);
}

static const char *const my_tables[] = {"t1", "t2", "t3"};

void itest_my_workload_tables(MYSQL *conn)
{
	size_t i;

	for (i = 0; i < 3; i++)
		my_sqlf(conn, NULL,
		        "CREATE TABLE %s (id BIGINT PRIMARY KEY, txt TEXT, num DECIMAL(38,10), "
		        "big BIGINT, ubig BIGINT UNSIGNED, dbl DOUBLE, flag BOOLEAN, bin BLOB, "
		        "doc JSON, ts TIMESTAMP(6) NULL DEFAULT NULL, dt DATETIME(6), d DATE, "
		        "tm TIME(6), e ENUM('red','green','blue'), "
		        "lat VARCHAR(64) CHARACTER SET latin1) ENGINE=InnoDB",
		        my_tables[i]);
}

/* Rows [lo, hi] into `table` (MariaDB's sequence engine numbers them):
 * NULLs and edge values at different strides. */
static void my_insert_rows(MYSQL *conn, uint64_t *count, const char *table, long lo, long hi)
{
	my_sqlf(conn, count,
	        "INSERT INTO %s SELECT seq, "
	        "CASE WHEN seq %% 11 = 0 THEN NULL WHEN seq %% 10 = 0 THEN '' ELSE CONCAT('row ', "
	        "seq, ' \xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd \xe6\x97\xa5\xe6\x9c\xac "
	        "\xf0\x9f\x9a\x80 \"q\" '' \\\\ tab\\t nl\\n end') END, "
	        "CASE WHEN seq %% 13 = 0 THEN NULL WHEN seq %% 7 = 0 "
	        "THEN -1234567890123456789012345678.0123456789 ELSE seq * 1234.0123456789 END, "
	        "CASE seq %% 5 WHEN 0 THEN 9223372036854775807 WHEN 1 THEN -9223372036854775808 "
	        "WHEN 2 THEN NULL ELSE seq * 1000003 END, "
	        "CASE seq %% 3 WHEN 0 THEN 18446744073709551615 WHEN 1 THEN NULL ELSE seq END, "
	        "CASE WHEN seq %% 23 = 0 THEN NULL WHEN seq %% 17 = 0 THEN -1.7976931348623157e308 "
	        "ELSE seq / 3e0 * 1e-5 END, "
	        "CASE WHEN seq %% 29 = 0 THEN NULL ELSE seq %% 3 = 0 END, "
	        "CASE WHEN seq %% 31 = 0 THEN NULL "
	        "ELSE CONCAT(X'0000', UNHEX(MD5(seq)), X'00FF0000') END, "
	        "CASE WHEN seq %% 37 = 0 THEN NULL ELSE JSON_OBJECT('id', seq, 'name', "
	        "CONCAT('\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 ', seq), 'nested', "
	        "JSON_OBJECT('arr', JSON_ARRAY(1, 'two', NULL, true, 3.5), "
	        "'emoji', '\xf0\x9f\x98\x80')) END, "
	        "CASE WHEN seq %% 41 = 0 THEN NULL ELSE TIMESTAMPADD(MICROSECOND, seq * 2220000001, "
	        "'2000-01-01 00:00:00.123456') END, "
	        "CASE WHEN seq %% 43 = 0 THEN NULL WHEN seq %% 45 = 0 THEN '9999-12-31 23:59:59.999999' "
	        "ELSE TIMESTAMPADD(SECOND, seq * 86401, '1000-01-01 00:00:00.000001') END, "
	        "CASE WHEN seq %% 47 = 0 THEN '1000-01-01' WHEN seq %% 49 = 0 THEN '9999-12-31' "
	        "WHEN seq %% 51 = 0 THEN NULL ELSE DATE_ADD('1999-12-31', INTERVAL seq %% 20000 DAY) END, "
	        "CASE WHEN seq %% 53 = 0 THEN NULL WHEN seq %% 2 = 0 "
	        "THEN SEC_TO_TIME(-(seq %% 3000000) - 0.25) "
	        "ELSE SEC_TO_TIME(seq %% 3000000 + 0.000001) END, "
	        "CASE WHEN seq %% 57 = 0 THEN NULL ELSE ELT(1 + seq %% 3, 'red', 'green', 'blue') END, "
	        "CASE WHEN seq %% 59 = 0 THEN NULL ELSE CONCAT('\xc3\x91" "and\xc3\xba fa\xc3\xa7" "ade ', "
	        "seq) END "
	        "FROM seq_%ld_to_%ld",
	        table, lo, hi);
}

static void my_update_rows(MYSQL *conn, uint64_t *count, const char *table, long lo, long hi)
{
	my_sqlf(conn, count,
	        "UPDATE %s SET "
	        "txt = IF(txt IS NULL, 'was null \xe2\x9c\x93', CONCAT(txt, ' upd')), "
	        "num = IF(num IS NULL, 0.0000000001, num + 1), "
	        "big = IF(id %% 4 = 0, NULL, COALESCE(big, 0) DIV 2), "
	        "ubig = IF(ubig IS NULL, 0, NULL), "
	        "flag = NOT flag, "
	        "doc = IF(doc IS NULL, '{\"was\": \"null\"}', "
	        "JSON_SET(doc, '$.u', JSON_ARRAY(1, JSON_OBJECT('x', '\xc3\xbf')))), "
	        "ts = TIMESTAMPADD(MICROSECOND, 1, ts), "
	        "tm = IF(tm IS NULL, '-838:59:59.000000', NULL), "
	        "e = IF(e = 'red', 'blue', 'red'), "
	        "bin = IF(id %% 6 = 0, X'', bin) "
	        "WHERE id BETWEEN %ld AND %ld",
	        table, lo, hi);
}

void itest_my_workload_run(MYSQL *src, uint64_t *events)
{
	uint64_t start = *events;
	long k;
	size_t i;

	/* 50,000 inserts: 50 transactions of 1000 rows, each over two tables. */
	for (k = 0; k < 50; k++) {
		itest_my_exec(src, "BEGIN");
		my_insert_rows(src, events, my_tables[k % 3], k * 1000 + 1, k * 1000 + 500);
		my_insert_rows(src, events, my_tables[(k + 1) % 3], k * 1000 + 501, k * 1000 + 1000);
		itest_my_exec(src, "COMMIT");
	}
	ck_assert_uint_eq(*events - start, 50000);

	/* 10,000 updates: 10 transactions of 1000 rows over all three tables. */
	for (k = 0; k < 10; k++) {
		itest_my_exec(src, "BEGIN");
		for (i = 0; i < 3; i++)
			my_update_rows(src, events, my_tables[i], k * 5000 + 1, k * 5000 + 1000);
		itest_my_exec(src, "COMMIT");
	}
	/* A primary key change: the old key must disappear from the target. */
	my_sqlf(src, events, "UPDATE t2 SET id = id + 1000000 WHERE id BETWEEN 49001 AND 49010");
	ck_assert_uint_eq(*events - start, 60010);

	/* 5,000 deletes, half of them of rows updated above. */
	for (k = 0; k < 5; k++) {
		itest_my_exec(src, "BEGIN");
		for (i = 0; i < 3; i++)
			my_sqlf(src, events, "DELETE FROM %s WHERE id BETWEEN %ld AND %ld", my_tables[i],
			        k * 10000 + 501, k * 10000 + 1500);
		itest_my_exec(src, "COMMIT");
	}
	ck_assert_uint_eq(*events - start, 65010);

	/* Insert, update and delete the same rows inside one transaction. */
	itest_my_exec(src, "BEGIN");
	my_insert_rows(src, events, "t3", 60001, 60100);
	my_update_rows(src, events, "t3", 60001, 60100);
	my_sqlf(src, events, "DELETE FROM t3 WHERE id BETWEEN 60051 AND 60100");
	itest_my_exec(src, "COMMIT");
	ck_assert_uint_eq(*events - start, 65260);

	/* One INSERT ... SELECT of 100,000 rows: one transaction, many batches. */
	itest_my_exec(src, "BEGIN");
	my_insert_rows(src, events, "t1", 200001, 300000);
	itest_my_exec(src, "COMMIT");
	ck_assert_uint_eq(*events - start, 165260);
}

void itest_my_workload_sql_my(char *buf, size_t size, const char *table)
{
	int n = snprintf(buf, size,
	                 "SELECT CAST(t.id AS CHAR), txt, num, big, ubig, dbl, flag, LOWER(HEX(bin)), "
	                 "doc, DATE_FORMAT(ts, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), "
	                 "DATE_FORMAT(dt, '%%Y-%%m-%%d %%H:%%i:%%s.%%f'), DATE_FORMAT(d, '%%Y-%%m-%%d'), "
	                 "IF(tm < 0, -1, 1) * (HOUR(tm) * 3600 + MINUTE(tm) * 60 + SECOND(tm) + "
	                 "MICROSECOND(tm) * 0.000001), e, lat FROM %s t ORDER BY t.id",
	                 table);

	ck_assert_msg(n > 0 && (size_t)n < size, "SQL too long");
}

void itest_my_workload_sql_pg(char *buf, size_t size, const char *schema, const char *table)
{
	int n = snprintf(buf, size,
	                 "SELECT t.id::text, txt, num::text, big::text, ubig::text, dbl::text, "
	                 "flag::text, encode(bin, 'hex'), doc::text, "
	                 "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
	                 "to_char(dt, 'YYYY-MM-DD HH24:MI:SS.US'), to_char(d, 'YYYY-MM-DD'), "
	                 "extract(epoch FROM tm)::text, e, lat FROM \"%s\".%s t ORDER BY t.id",
	                 schema, table);

	ck_assert_msg(n > 0 && (size_t)n < size, "SQL too long");
}

/* id txt num big ubig dbl flag bin doc ts dt d tm e lat */
const char itest_my_workload_modes[] = "ssnssdssjsssdss";

/* ---- stream parts in processes of their own ---- */

extern char **environ;

/* getenv, not itest_env, wherever a part's process may call it: it runs
 * no Check test, and Check's assertions abort outside one. */
void itest_part_log_path(char *buf, size_t size, const char *id, dbs_stream_part part,
                         uint32_t partition)
{
	const char *dir = getenv("DBS_TEST_TMPDIR");
	snprintf(buf, size, "%s/part-%s-%s%u.log", dir ? dir : "/tmp", id,
	         part == DBS_PART_SOURCE ? "source" : "target", partition);
}

static void part_log_line(dbs_log_level level, const char *message, void *user_data)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(user_data, "%lld.%06ld %d %s %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000,
	        (int)getpid(), (unsigned)level < 4 ? names[level] : "?", message);
	fflush(user_data);
}

int itest_part_main(int argc, char **argv)
{
	if (argc != 6 || strcmp(argv[1], "--part") != 0)
		return -1;
	const char *config = argv[5], *id = argv[4];
	dbs_stream_part part = (dbs_stream_part)atoi(argv[2]);
	uint32_t partition = (uint32_t)strtoul(argv[3], NULL, 10);
	char path[512];
	itest_part_log_path(path, sizeof path, id, part, partition);
	FILE *log = fopen(path, "a");
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.stream_id = id;
	o.part = part;
	o.partition = partition;
	if (log) {
		o.log = part_log_line;
		o.log_user_data = log;
		o.log_level = DBS_LOG_DEBUG;
	}
	dbs_stream *s = NULL;
	if (dbs_stream_create(&s, config, strlen(config), &o) != 0) {
		fprintf(stderr, "part %d/%u: %s\n", (int)part, partition, dbs_error_last());
		return 2;
	}
	dbs_stream_wait(s, -1);
	dbs_stat st = DBS_STAT_INIT;
	dbs_stream_stat(s, &st);
	dbs_node_stat *n = part == DBS_PART_SOURCE ? &st.source : &st.target;
	int bad = n->status == DBS_STATUS_FAILED || n->status == DBS_STATUS_INIT_FAILED;
	if (bad)
		fprintf(stderr, "part %d/%u: %s: %s\n", (int)part, partition,
		        dbs_status_name(n->status), n->message);
	dbs_stream_free(s);
	if (log)
		fclose(log);
	return bad ? 1 : 0;
}

/* exec, not a bare fork: the test process runs stream threads, and a
 * forked copy of a threaded process can deadlock on a lock some other
 * thread held. */
pid_t itest_part_spawn(const char *config, const char *id, dbs_stream_part part,
                       uint32_t partition, const char *fault)
{
	char part_s[16], partition_s[16], fault_env[128];
	snprintf(part_s, sizeof part_s, "%d", (int)part);
	snprintf(partition_s, sizeof partition_s, "%u", partition);
	char *argv[] = {"itest-part", "--part", part_s, partition_s, (char *)id, (char *)config,
	                NULL};
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 2, sizeof *envp);
	ck_assert_ptr_nonnull(envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "DBS_FAULT_KILL=", 15) != 0)
			envp[k++] = environ[i];
	if (fault) {
		snprintf(fault_env, sizeof fault_env, "DBS_FAULT_KILL=%s", fault);
		envp[k++] = fault_env;
	}
	pid_t pid = 0;
	int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, envp);
	free(envp);
	ck_assert_msg(rc == 0, "posix_spawn: %s", strerror(rc));
	return pid;
}

int itest_wait_exit(pid_t pid, int timeout_s, int *status)
{
	int64_t until = itest_now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		ck_assert_int_ge(r, 0);
		if (r == pid)
			return 0;
		if (itest_now_ms() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return -1;
		}
		usleep(50 * 1000);
	}
}

int itest_part_log_count(const char *id, dbs_stream_part part, uint32_t partition,
                         const char *text)
{
	char path[512], line[4096];
	int count = 0;
	itest_part_log_path(path, sizeof path, id, part, partition);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, text))
			count++;
	fclose(f);
	return count;
}

void itest_part_logs_dump(const char *id, int writers)
{
	for (int w = -1; w < writers; w++) {
		char path[512], cmd[700];
		itest_part_log_path(path, sizeof path, id, w < 0 ? DBS_PART_SOURCE : DBS_PART_TARGET,
		                    w < 0 ? 0 : (uint32_t)w);
		fprintf(stderr, "# ---- %s (last 200 lines) ----\n", path);
		snprintf(cmd, sizeof cmd, "tail -n 200 '%s' >&2", path);
		if (system(cmd) != 0)
			fprintf(stderr, "# (no log)\n");
	}
}
