/*
 * Helpers shared by the integration suites: servers from the harness's
 * environment, PostgreSQL through libpq, and streams through the public
 * API only. Every helper fails the current Check test on error.
 */
#ifndef DBS_ITEST_H
#define DBS_ITEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>
#include <libpq-fe.h>
#include <mysql.h>

#include <dbstreams/dbstreams.h>

/* The value of a harness variable; fails (never skips) when unset. */
const char *itest_env(const char *name);

/* "dbs_it_<pid>_<tag>": unique per test process, a valid SQL identifier. */
void itest_name(char *buf, size_t size, const char *tag);

/* libpq URI of database `db` on the harness server, as `user` (NULL:
 * the harness user) with `password` (NULL: none). Port 0: the harness's. */
void itest_pg_uri(char *buf, size_t size, const char *db, const char *user,
                  const char *password, int port);

PGconn *itest_pg_connect(const char *db);
void itest_pg_exec(PGconn *conn, const char *sql);
/* Run `sql`, return the number of rows it changed (PQcmdTuples). */
uint64_t itest_pg_exec_count(PGconn *conn, const char *sql);
/* First column of the first row, as a new string (free()); NULL for SQL NULL. */
char *itest_pg_value(PGconn *conn, const char *sql);
uint64_t itest_pg_count(PGconn *conn, const char *table);

void itest_pg_create_db(const char *db);
/* Drops the database if present (teardown: never fails the test). */
void itest_pg_drop_db(const char *db);
/* Drops the logical slot if it exists, waiting up to 20 s for the stream's
 * walsender to let go of it. Never fails the test: used in teardowns. */
void itest_pg_drop_slot(const char *slot);

/* Drops publication `pub` in database `db` if both exist (teardown). */
void itest_pg_drop_publication(const char *db, const char *pub);
/* Drops role `role` if it exists (teardown). */
void itest_pg_drop_role(const char *role);

/* dbs_stream_create that fails the test unless it returns 0. */
dbs_stream *itest_stream_start(const char *config);

/* The same with a fixed stream id (NULL: a new one) and the stream's log
 * lines sent to `log` (NULL: none) from `level` up. */
dbs_stream *itest_stream_start_logged(const char *config, const char *id, dbs_log_fn log,
                                      dbs_log_level level);

/* Differences dbs_verify_run finds now between the configuration's source
 * and target (every table of the stream); fails the test if it cannot run. */
uint64_t itest_verify_differences(const char *config);

/* "source STATUS counter N [message] / target …" for failure messages. */
void itest_stat_format(char *buf, size_t size, const dbs_stat *st);
void itest_stat(dbs_stream *s, dbs_stat *st);

/*
 * Poll until the target counter reaches `events` or a node ends, up to
 * `timeout_s`. Returns when reached; otherwise fails the test with the
 * stat.
 */
void itest_wait_target_counter(dbs_stream *s, uint64_t events, int timeout_s);

/* Poll until the node satisfies `want` (a status) or timeout; returns the
 * last stat. */
void itest_wait_node_status(dbs_stream *s, int target_node, dbs_status want, int timeout_s,
                            dbs_stat *st);

/*
 * Compare table `table` between two databases row for row: counts and an
 * md5 over every row's text form ordered by `order_by`. On mismatch fails
 * the test after printing the first differing rows.
 */
void itest_pg_compare_table(PGconn *src, PGconn *dst, const char *table, const char *order_by);

int64_t itest_now_ms(void);

/* ---- servers of a test's own (tests/harness/servers) ---- */

/*
 * Run `$DBS_HARNESS_SERVERS cmd dir [what1 [what2]]` ("start DIR pg mysql",
 * "restart DIR pg", "stop DIR") with `extra` as DBS_HARNESS_MYSQL_EXTRA
 * (NULL: none). Returns its exit status, -1 when it could not run.
 */
int itest_harness(const char *cmd, const char *dir, const char *what1, const char *what2,
                  const char *extra);

/* `value` of "export KEY=value" or "export KEY='value'" in DIR/env: 1 and
 * the value in out, 0 when absent or too long. */
int itest_harness_env(const char *dir, const char *key, char *out, size_t size);

/* ---- MySQL/MariaDB (Connector/C, DBS_TEST_MYSQL_*) ---- */

/* go-sql-driver DSN of database `db` on the harness server, as root
 * without password: "root:@tcp(127.0.0.1:PORT)/db". */
void itest_my_dsn(char *buf, size_t size, const char *db);

/* A utf8mb4 session in `db` (NULL: none) with time_zone '+00:00' and
 * sql_mode without NO_ZERO_DATE checks, so tests write what they mean. */
MYSQL *itest_my_connect(const char *db);
void itest_my_exec(MYSQL *conn, const char *sql);
/* Run `sql`, return the rows it changed (mysql_affected_rows). */
uint64_t itest_my_exec_count(MYSQL *conn, const char *sql);
/* First column of the first row, as a new string (free()); NULL for SQL NULL. */
char *itest_my_value(MYSQL *conn, const char *sql);
uint64_t itest_my_count(MYSQL *conn, const char *table);
/* Drop (if present) and create database `db` in utf8mb4. */
void itest_my_create_db(const char *db);
/* Drops the database if present (teardown: never fails the test). */
void itest_my_drop_db(const char *db);

/* ---- rows as text, compared value for value ---- */

/* A result set as NUL-terminated strings (NULL for SQL NULL), binary safe
 * only for text: canonical queries hex-encode bytes. */
typedef struct itest_rows {
	size_t nrows, ncols;
	char **cells;   /* row-major, nrows * ncols */
	char **names;   /* column names */
} itest_rows;

itest_rows *itest_pg_rows(PGconn *conn, const char *sql);
itest_rows *itest_my_rows(MYSQL *conn, const char *sql);
void itest_rows_free(itest_rows *rows);

/*
 * Compare two result sets whose first column is the row key, in the same
 * order. `modes` has one letter per column (shorter: the rest 's'):
 *   s  exact text
 *   d  numbers parsed with strtod and compared as doubles (NaN = NaN)
 *   n  exact decimals, trailing fraction zeros ignored ("1.50" = "1.5")
 *   j  JSON: equal text, or equal as jsonb on `pg` (which must be given)
 * Fails the test naming the first difference (key, column, both values),
 * or the first key present on one side only.
 */
void itest_rows_compare(const itest_rows *src, const itest_rows *dst, const char *modes,
                        PGconn *pg, const char *label);

/* ---- stream parts in processes of their own (NATS hub) ---- */

/*
 * When argv is a part's command line (argv[1] "--part"), run that part
 * of the stream until it ends and return the process's exit status (0
 * unless its node failed); otherwise -1. Call first thing in main.
 */
int itest_part_main(int argc, char **argv);

/* Start part `part` (writer `partition`) of stream `id` in a new process
 * of this program, logging at debug level to its log file; with `fault`
 * ("point:n", NULL: none) as DBS_FAULT_KILL, so it kills itself there. */
pid_t itest_part_spawn(const char *config, const char *id, dbs_stream_part part,
                       uint32_t partition, const char *fault);

/* Wait up to `timeout_s` for process `pid` to end and store its wait
 * status; 0, or -1 when it had to be killed (SIGKILL) at the timeout. */
int itest_wait_exit(pid_t pid, int timeout_s, int *status);

/* The log file of a part (appended to across restarts of the part). */
void itest_part_log_path(char *buf, size_t size, const char *id, dbs_stream_part part,
                         uint32_t partition);

/* Lines of the part's log that contain `text`. */
int itest_part_log_count(const char *id, dbs_stream_part part, uint32_t partition,
                         const char *text);

/* Print the tail of the source part's and `writers` writers' logs to
 * stderr: a failing case shows what its processes saw. */
void itest_part_logs_dump(const char *id, int writers);

/* ---- the MySQL-source workload (MySQL -> PostgreSQL and -> MySQL) ---- */

/* Tables t1, t2, t3 of every common MySQL type, in the session's database. */
void itest_my_workload_tables(MYSQL *conn);

/*
 * 50,000 inserts, 10,000 updates (and a primary-key change of 10 rows),
 * 5,000 deletes, all in multi-row transactions over t1..t3; an insert,
 * update and delete of the same rows in one transaction; then one
 * INSERT ... SELECT of 100,000 rows in one transaction. Adds the rows
 * changed to *events.
 */
void itest_my_workload_run(MYSQL *conn, uint64_t *events);

/* Canonical text of workload table `table`, key first, ordered by key:
 * on the MySQL side, and on a PostgreSQL target (tables in schema
 * `schema`, the source database's name). Compare with the modes below. */
void itest_my_workload_sql_my(char *buf, size_t size, const char *table);
void itest_my_workload_sql_pg(char *buf, size_t size, const char *schema, const char *table);
extern const char itest_my_workload_modes[];

#endif
