/*
 * Source transactions grouped into one target commit (docs/transactions.md):
 * a backlog of source transactions, each some items and the ledger row
 * that counts them (most within one batch, some over several), caught up
 * by a stream in one process.
 *   - a reader of the target polls all along and never sees part of a
 *     source transaction (an item without its ledger row, or a ledger row
 *     without all of its items);
 *   - the target commits fewer times than there are source transactions
 *     (a trigger on the checkpoint table counts the commits): the waiting
 *     transactions were grouped;
 *   - a row the target refuses (a CHECK constraint) inside a group: the
 *     stream fails naming that row, with every transaction before it
 *     committed once and nothing after it;
 *   - the process killed inside a group (after a transaction was applied
 *     into it, before its commit) and right after a group's commit (before
 *     the source and the hub heard of it), then started again: every
 *     ledger row is applied exactly once (a trigger counts each write),
 *     and the target equals the source.
 * Both ways: MySQL -> PostgreSQL and PostgreSQL -> MySQL; and over the NATS
 * hub in one process, whose acknowledgements follow the commit.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

/* Transactions of the backlog: several hub batches' worth of groups. */
#define BACKLOG_TXNS 300

typedef struct side {
	int pg;        /* PostgreSQL, else MariaDB */
	char db[64];
	char schema[64]; /* where a PostgreSQL target keeps the tables */
	PGconn *pgc;
	MYSQL *myc;
} side;

typedef struct fixture {
	side src, dst;
	char slot[64], pub[64];
	char config[4096];
	char stream_id[28];
	int next_txn;
} fixture;

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void side_exec(side *s, const char *sql)
{
	if (s->pg)
		itest_pg_exec(s->pgc, sql);
	else
		itest_my_exec(s->myc, sql);
}

static long side_long(side *s, const char *sql)
{
	char *v = s->pg ? itest_pg_value(s->pgc, sql) : itest_my_value(s->myc, sql);
	long n = v ? strtol(v, NULL, 10) : -1;
	free(v);
	return n;
}

/* `name` as the target spells it in a query. */
static void dst_table(const fixture *f, char *buf, size_t size, const char *name)
{
	if (f->dst.pg)
		snprintf(buf, size, "\"%s\".%s", f->dst.schema, name);
	else
		snprintf(buf, size, "%s", name);
}

/* A transaction whose item the target refuses (CHECK on v). */
static void write_bad_txn(fixture *f)
{
	char sql[256];
	int k = f->next_txn++;
	side_exec(&f->src, f->src.pg ? "BEGIN" : "START TRANSACTION");
	snprintf(sql, sizeof sql, "INSERT INTO items VALUES (%d, %d, 'refused')", k * 100, k);
	side_exec(&f->src, sql);
	snprintf(sql, sizeof sql, "INSERT INTO ledger VALUES (%d, 1)", k);
	side_exec(&f->src, sql);
	side_exec(&f->src, "COMMIT");
}

/* One source transaction: 1 to 3 items and the ledger row counting them;
 * every 25th, 25 items: several batches of dataBundleSize 10. */
static void write_txn(fixture *f)
{
	char sql[512];
	int k = f->next_txn++, m = k % 25 == 0 ? 25 : 1 + k % 3;
	side_exec(&f->src, f->src.pg ? "BEGIN" : "START TRANSACTION");
	for (int i = 0; i < m; i++) {
		snprintf(sql, sizeof sql, "INSERT INTO items VALUES (%d, %d, 'item %d of %d')",
		         k * 100 + i, k, i, k);
		side_exec(&f->src, sql);
	}
	snprintf(sql, sizeof sql, "INSERT INTO ledger VALUES (%d, %d)", k, m);
	side_exec(&f->src, sql);
	side_exec(&f->src, "COMMIT");
}

static void write_txns(fixture *f, int n)
{
	for (int i = 0; i < n; i++)
		write_txn(f);
}

/* Source and target tables; on the target a trigger counts how often each
 * ledger row is written, another how often the checkpoint is (once per
 * commit). The target uses the tables it finds. */
static void prepare_hub(fixture *f, int src_pg, int dst_pg, int nats);

static void prepare(fixture *f, int src_pg, int dst_pg)
{
	prepare_hub(f, src_pg, dst_pg, 0);
}

static void prepare_hub(fixture *f, int src_pg, int dst_pg, int nats)
{
	char sql[2048], src_uri[512], dst_uri[512];
	memset(f, 0, sizeof *f);
	f->next_txn = 1;
	f->src.pg = src_pg;
	f->dst.pg = dst_pg;
	itest_name(f->src.db, sizeof f->src.db, "gc_src");
	itest_name(f->dst.db, sizeof f->dst.db, "gc_dst");
	itest_name(f->slot, sizeof f->slot, "gc_slot");
	itest_name(f->pub, sizeof f->pub, "gc_pub");
	/* A PostgreSQL target keeps a MySQL source's tables in a schema named
	 * after its database, a PostgreSQL source's in theirs. */
	snprintf(f->dst.schema, sizeof f->dst.schema, "%s", src_pg ? "public" : f->src.db);
	if (src_pg) {
		itest_pg_create_db(f->src.db);
		f->src.pgc = itest_pg_connect(f->src.db);
		itest_pg_exec(f->src.pgc, "CREATE TABLE items (id bigint PRIMARY KEY, txn bigint, "
		                          "v varchar(100)); CREATE TABLE ledger (id bigint PRIMARY KEY, "
		                          "items integer)");
		itest_pg_uri(src_uri, sizeof src_uri, f->src.db, NULL, NULL, 0);
	} else {
		itest_my_create_db(f->src.db);
		f->src.myc = itest_my_connect(f->src.db);
		itest_my_exec(f->src.myc, "CREATE TABLE items (id bigint PRIMARY KEY, txn bigint, "
		                          "v varchar(100))");
		itest_my_exec(f->src.myc, "CREATE TABLE ledger (id bigint PRIMARY KEY, items int)");
		itest_my_dsn(src_uri, sizeof src_uri, f->src.db);
	}
	if (dst_pg) {
		itest_pg_create_db(f->dst.db);
		f->dst.pgc = itest_pg_connect(f->dst.db);
		snprintf(sql, sizeof sql,
		         "CREATE SCHEMA IF NOT EXISTS \"%s\"; "
		         "CREATE TABLE \"%s\".items (id bigint PRIMARY KEY, txn bigint, v varchar(100)); "
		         "CREATE TABLE \"%s\".ledger (id bigint PRIMARY KEY, items integer); "
		         "CREATE TABLE applied (id bigint PRIMARY KEY, n int NOT NULL); "
		         "CREATE FUNCTION count_applied() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
		         "INSERT INTO applied VALUES (NEW.id, 1) ON CONFLICT (id) DO UPDATE SET n = "
		         "applied.n + 1; RETURN NULL; END $$; "
		         "CREATE TRIGGER count_applied AFTER INSERT OR UPDATE ON \"%s\".ledger "
		         "FOR EACH ROW EXECUTE FUNCTION count_applied()",
		         f->dst.schema, f->dst.schema, f->dst.schema, f->dst.schema);
		itest_pg_exec(f->dst.pgc, sql);
		itest_pg_uri(dst_uri, sizeof dst_uri, f->dst.db, NULL, NULL, 0);
	} else {
		itest_my_create_db(f->dst.db);
		f->dst.myc = itest_my_connect(f->dst.db);
		itest_my_exec(f->dst.myc, "CREATE TABLE items (id bigint PRIMARY KEY, txn bigint, "
		                          "v varchar(100))");
		itest_my_exec(f->dst.myc, "CREATE TABLE ledger (id bigint PRIMARY KEY, items int)");
		itest_my_exec(f->dst.myc, "CREATE TABLE applied (id bigint PRIMARY KEY, n int NOT NULL)");
		itest_my_exec(f->dst.myc, "CREATE TRIGGER count_applied_i AFTER INSERT ON ledger FOR "
		                          "EACH ROW INSERT INTO applied VALUES (NEW.id, 1) ON DUPLICATE "
		                          "KEY UPDATE n = n + 1");
		itest_my_exec(f->dst.myc, "CREATE TRIGGER count_applied_u AFTER UPDATE ON ledger FOR "
		                          "EACH ROW INSERT INTO applied VALUES (NEW.id, 1) ON DUPLICATE "
		                          "KEY UPDATE n = n + 1");
		itest_my_dsn(dst_uri, sizeof dst_uri, f->dst.db);
	}
	char settings[256] = "";
	if (src_pg)
		snprintf(settings, sizeof settings,
		         "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, ",
		         f->slot, f->pub);
	char hub[256] = "";
	if (nats)
		snprintf(hub, sizeof hub, ", \"hub\": {\"type\": \"nats\", \"url\": \"%s\"}",
		         itest_env("DBS_TEST_NATS_URL"));
	int n = snprintf(f->config, sizeof f->config,
	                 "{\"source\": {\"type\": \"%s\", \"connection\": \"%s\", %s"
	                 "\"dataBundleSize\": 10, "
	                 "\"filter\": {\"tables\": [{\"name\": \"items\"}, {\"name\": \"ledger\"}]}}, "
	                 "\"target\": {\"type\": \"%s\", \"connection\": \"%s\"}%s}",
	                 src_pg ? "postgresql" : "mysql", src_uri, settings,
	                 dst_pg ? "postgresql" : "mysql", dst_uri, hub);
	ck_assert(n > 0 && (size_t)n < sizeof f->config);
	ck_assert_int_eq(dbs_ksuid_new(f->stream_id), 0);
}

static void release(fixture *f)
{
	if (f->src.pgc)
		PQfinish(f->src.pgc);
	if (f->src.myc)
		mysql_close(f->src.myc);
	if (f->dst.pgc)
		PQfinish(f->dst.pgc);
	if (f->dst.myc)
		mysql_close(f->dst.myc);
	if (f->src.pg) {
		itest_pg_drop_slot(f->slot);
		itest_pg_drop_publication(f->src.db, f->pub);
		itest_pg_drop_db(f->src.db);
	} else {
		itest_my_drop_db(f->src.db);
	}
	if (f->dst.pg)
		itest_pg_drop_db(f->dst.db);
	else
		itest_my_drop_db(f->dst.db);
}

/* The target's ledger rows, or -1 before the table is readable. */
static long target_ledger(fixture *f)
{
	char t[160], sql[256];
	dst_table(f, t, sizeof t, "ledger");
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t);
	return side_long(&f->dst, sql);
}

static void wait_ledger(fixture *f, long want, int timeout_s)
{
	int64_t until = itest_now_ms() + (int64_t)timeout_s * 1000;
	long got;
	while ((got = target_ledger(f)) != want) {
		if (itest_now_ms() > until) {
			itest_part_logs_dump(f->stream_id, 0);
			ck_abort_msg("target ledger rows: %ld, expected %ld", got, want);
		}
		sleep_ms(100);
	}
}

/* Every ledger row of the source at the target, each written once, and
 * the items equal. */
static void check_exactly_once(fixture *f)
{
	char t[160], sql[512];
	long want = f->next_txn - 1;
	ck_assert_int_eq(side_long(&f->dst, "SELECT count(*) FROM applied"), want);
	ck_assert_int_eq(side_long(&f->dst, "SELECT count(*) FROM applied WHERE n <> 1"), 0);
	long src_items = side_long(&f->src, "SELECT count(*) FROM items");
	long src_sum = side_long(&f->src, "SELECT coalesce(sum(id + txn), 0) FROM items");
	dst_table(f, t, sizeof t, "items");
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t);
	ck_assert_int_eq(side_long(&f->dst, sql), src_items);
	snprintf(sql, sizeof sql, "SELECT coalesce(sum(id + txn), 0) FROM %s", t);
	ck_assert_int_eq(side_long(&f->dst, sql), src_sum);
}

/* ---- the reader: polls the target with a connection of its own ---- */

typedef struct reader {
	fixture *f;
	pthread_t thread;
	volatile int stop;
	long checks, torn;
	char first_torn[256];
} reader;

static void *reader_main(void *arg)
{
	reader *r = arg;
	fixture *f = r->f;
	char items[160], ledger[160], sql[2048];
	dst_table(f, items, sizeof items, "items");
	dst_table(f, ledger, sizeof ledger, "ledger");
	/* One statement, one snapshot: the items equal what the ledger rows
	 * count, and every item has its ledger row. */
	snprintf(sql, sizeof sql,
	         "SELECT CASE WHEN (SELECT count(*) FROM %s) = (SELECT coalesce(sum(items), 0) FROM "
	         "%s) AND NOT EXISTS (SELECT 1 FROM %s i LEFT JOIN %s l ON l.id = i.txn WHERE l.id "
	         "IS NULL) THEN 1 ELSE 0 END, (SELECT count(*) FROM %s), (SELECT count(*) FROM %s)",
	         items, ledger, items, ledger, items, ledger);
	PGconn *pg = f->dst.pg ? itest_pg_connect(f->dst.db) : NULL;
	MYSQL *my = f->dst.pg ? NULL : itest_my_connect(f->dst.db);
	while (!r->stop) {
		itest_rows *rows = pg ? itest_pg_rows(pg, sql) : itest_my_rows(my, sql);
		if (rows->nrows == 1 && rows->cells[0] && strcmp(rows->cells[0], "1") != 0) {
			if (!r->torn++)
				snprintf(r->first_torn, sizeof r->first_torn, "%s items, %s ledger rows",
				         rows->cells[1] ? rows->cells[1] : "?",
				         rows->cells[2] ? rows->cells[2] : "?");
		}
		r->checks++;
		itest_rows_free(rows);
		sleep_ms(2);
	}
	if (pg)
		PQfinish(pg);
	if (my)
		mysql_close(my);
	return NULL;
}

static void reader_start(reader *r, fixture *f)
{
	memset(r, 0, sizeof *r);
	r->f = f;
	ck_assert_int_eq(pthread_create(&r->thread, NULL, reader_main, r), 0);
}

static void reader_end(reader *r)
{
	r->stop = 1;
	pthread_join(r->thread, NULL);
	ck_assert_msg(r->torn == 0, "a reader of the target saw part of a source transaction %ld "
	              "times in %ld looks (first: %s)", r->torn, r->checks, r->first_torn);
	ck_assert_msg(r->checks >= 10, "the reader looked only %ld times", r->checks);
}

/* The stream started once and stopped, so that it exists and resumes
 * from its checkpoint; then a trigger counts the target's commits. */
static void first_run(fixture *f)
{
	dbs_stream *s = itest_stream_start_logged(f->config, f->stream_id, NULL, DBS_LOG_ERROR);
	write_txn(f);
	wait_ledger(f, 1, 120);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	/* The checkpoint row is written last in each commit: the ledger rows
	 * the committing transaction sees then tell what the commit held. */
	char sql[1024];
	if (f->dst.pg) {
		snprintf(sql, sizeof sql,
		         "CREATE TABLE commits (seq serial PRIMARY KEY, ledger_rows bigint); "
		         "CREATE FUNCTION count_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
		         "BEGIN INSERT INTO commits (ledger_rows) SELECT count(*) FROM \"%s\".ledger; "
		         "RETURN NULL; END $$; "
		         "CREATE TRIGGER count_commit AFTER INSERT OR UPDATE ON "
		         "dbstreams_checkpoint FOR EACH ROW EXECUTE FUNCTION count_commit()",
		         f->dst.schema);
		itest_pg_exec(f->dst.pgc, sql);
	} else {
		itest_my_exec(f->dst.myc, "CREATE TABLE commits (seq int AUTO_INCREMENT PRIMARY KEY, "
		                          "ledger_rows bigint)");
		itest_my_exec(f->dst.myc, "CREATE TRIGGER count_commit_i AFTER INSERT ON "
		                          "dbstreams_checkpoint FOR EACH ROW INSERT INTO commits "
		                          "(ledger_rows) SELECT count(*) FROM ledger");
		itest_my_exec(f->dst.myc, "CREATE TRIGGER count_commit_u AFTER UPDATE ON "
		                          "dbstreams_checkpoint FOR EACH ROW INSERT INTO commits "
		                          "(ledger_rows) SELECT count(*) FROM ledger");
	}
}

/* Another session holds the target's items table, so the stream's first
 * commit waits while the source fills the hub; released by unlock. */
static void *lock_target(fixture *f)
{
	char t[160], sql[256];
	dst_table(f, t, sizeof t, "items");
	if (f->dst.pg) {
		PGconn *c = itest_pg_connect(f->dst.db);
		snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", t);
		itest_pg_exec(c, sql);
		return c;
	}
	/* Row and gap locks up to the end of the index: the inserts wait, and
	 * nothing blocks the target's catalog reads as LOCK TABLES would. */
	MYSQL *c = itest_my_connect(f->dst.db);
	itest_my_exec(c, "START TRANSACTION");
	char *v = itest_my_value(c, "SELECT count(*) FROM items WHERE id >= 0 FOR UPDATE");
	free(v);
	return c;
}

static void unlock_target(fixture *f, void *c)
{
	if (f->dst.pg) {
		itest_pg_exec(c, "COMMIT");
		PQfinish(c);
	} else {
		itest_my_exec(c, "COMMIT");
		mysql_close(c);
	}
}

static void backlog_whole_and_grouped(int src_pg, int dst_pg, int nats)
{
	fixture f;
	reader r;
	prepare_hub(&f, src_pg, dst_pg, nats);
	first_run(&f);
	write_txns(&f, BACKLOG_TXNS);
	reader_start(&r, &f);
	void *lock = lock_target(&f);
	dbs_stream *s = itest_stream_start_logged(f.config, f.stream_id, NULL, DBS_LOG_ERROR);
	sleep_ms(3000);
	unlock_target(&f, lock);
	wait_ledger(&f, f.next_txn - 1, 300);
	/* Written while the stream follows: an idle stream commits at once. */
	write_txns(&f, 3);
	wait_ledger(&f, f.next_txn - 1, 120);
	reader_end(&r);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	check_exactly_once(&f);
	long commits = side_long(&f.dst, "SELECT count(*) FROM commits");
	long largest = side_long(&f.dst, "SELECT max(d) FROM (SELECT ledger_rows - coalesce(lag("
	                                 "ledger_rows) OVER (ORDER BY seq), 1) AS d FROM commits) g");
	fprintf(stderr, "%s -> %s%s: %d source transactions in %ld target commits, the largest "
	        "holding %ld; the reader looked %ld times\n", src_pg ? "postgresql" : "mysql",
	        dst_pg ? "postgresql" : "mysql", nats ? " over nats" : "", BACKLOG_TXNS + 3, commits, largest, r.checks);
	/* The memory hub holds 64 batches, a transaction each here: they were
	 * all waiting when the lock went. The NATS hub hands out 16 batches
	 * before their acknowledgements, which follow the commit. */
	ck_assert_msg(largest >= (nats ? 8 : 32) && commits < BACKLOG_TXNS,
	              "%ld target commits for %d source transactions, the largest holding %ld: "
	              "the waiting transactions were not grouped", commits, BACKLOG_TXNS + 3,
	              largest);
	release(&f);
}

static void rejected_row_inside_a_group(int src_pg, int dst_pg)
{
	fixture f;
	char t[160], sql[512], buf[2048];
	prepare(&f, src_pg, dst_pg);
	dst_table(&f, t, sizeof t, "items");
	snprintf(sql, sizeof sql, "ALTER TABLE %s ADD CONSTRAINT no_refused CHECK (v <> 'refused')",
	         t);
	side_exec(&f.dst, sql);
	first_run(&f);
	write_txns(&f, 40);
	int bad = f.next_txn;
	write_bad_txn(&f);
	write_txns(&f, 40);
	void *lock = lock_target(&f);
	dbs_stream *s = itest_stream_start_logged(f.config, f.stream_id, NULL, DBS_LOG_ERROR);
	sleep_ms(3000);
	unlock_target(&f, lock);
	dbs_stat st;
	itest_wait_node_status(s, 1, DBS_STATUS_FAILED, 300, &st);
	itest_stat_format(buf, sizeof buf, &st);
	char key[64]; /* "id=4200" or "(id='4200')" */
	snprintf(key, sizeof key, "%d", bad * 100);
	ck_assert_msg(strstr(st.target.message, key) && strstr(st.target.message, "items"),
	              "the failure does not name the refused row (%s): %s", key, buf);
	dbs_stream_free(s);
	/* Every transaction before the refused one, once; none after it. */
	ck_assert_int_eq(target_ledger(&f), bad - 1);
	ck_assert_int_eq(side_long(&f.dst, "SELECT count(*) FROM applied"), bad - 1);
	ck_assert_int_eq(side_long(&f.dst, "SELECT count(*) FROM applied WHERE n <> 1"), 0);
	snprintf(sql, sizeof sql, "SELECT coalesce(max(id), 0) FROM applied");
	ck_assert_int_eq(side_long(&f.dst, sql), bad - 1);
	release(&f);
}

START_TEST(mysql_to_pg_rejected_row_inside_a_group)
{
	rejected_row_inside_a_group(0, 1);
}
END_TEST

START_TEST(pg_to_mysql_rejected_row_inside_a_group)
{
	rejected_row_inside_a_group(1, 0);
}
END_TEST

/* Rows of `acct` in one text, key order: "id,bal,note|…" as an md5. */
static void acct_digest(side *sd, const char *table, char *out, size_t size)
{
	char sql[512];
	if (sd->pg)
		snprintf(sql, sizeof sql,
		         "SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(',', id, bal, "
		         "note), '|' ORDER BY id)), '') FROM %s", table);
	else
		snprintf(sql, sizeof sql,
		         "SELECT CONCAT(COUNT(*), ':', COALESCE(MD5(GROUP_CONCAT(CONCAT_WS(',', id, bal, "
		         "note) ORDER BY id SEPARATOR '|')), '')) FROM %s", table);
	char *v = sd->pg ? itest_pg_value(sd->pgc, sql) : itest_my_value(sd->myc, sql);
	snprintf(out, size, "%s", v ? v : "");
	free(v);
}

/* Updates and deletes by key in runs across batches and source
 * transactions (set-based on a PostgreSQL target): a key updated twice in
 * one run, a key changed, columns of another shape, single-row
 * transactions grouped into one run. The target must equal the source. */
static void updates_and_deletes_in_runs(int src_pg, int dst_pg)
{
	fixture f;
	char sql[512], t[160], a[128], b[128];
	prepare(&f, src_pg, dst_pg);
	side_exec(&f.src, "CREATE TABLE acct (id bigint PRIMARY KEY, bal bigint, note varchar(40))");
	/* The stream follows acct too. */
	static const char acct[] = "{\"name\": \"acct\"}, ";
	char *tables = strstr(f.config, "{\"name\": \"ledger\"}");
	ck_assert(tables && strlen(f.config) + sizeof acct < sizeof f.config);
	memmove(tables + sizeof acct - 1, tables, strlen(tables) + 1);
	memcpy(tables, acct, sizeof acct - 1);
	first_run(&f);
	side_exec(&f.src, src_pg ? "INSERT INTO acct SELECT g, g * 10, 'n' || g FROM "
	                           "generate_series(1, 600) g"
	                         : "INSERT INTO acct SELECT seq, seq * 10, CONCAT('n', seq) FROM "
	                           "seq_1_to_600");
	/* Written while the stream is stopped: a backlog. */
	side_exec(&f.src, "UPDATE acct SET bal = bal + 1");
	side_exec(&f.src, f.src.pg ? "BEGIN" : "START TRANSACTION");
	side_exec(&f.src, "UPDATE acct SET bal = bal * 2 WHERE id <= 200");
	side_exec(&f.src, "UPDATE acct SET bal = bal + 7 WHERE id <= 100");
	side_exec(&f.src, "UPDATE acct SET note = 'changed' WHERE id BETWEEN 150 AND 250");
	side_exec(&f.src, "COMMIT");
	side_exec(&f.src, "DELETE FROM acct WHERE id > 500");
	side_exec(&f.src, "UPDATE acct SET id = 1000 + id WHERE id <= 3");
	for (int i = 0; i < 120; i++) {
		snprintf(sql, sizeof sql, "UPDATE acct SET bal = bal - %d WHERE id = %d", i, 10 + i % 40);
		side_exec(&f.src, sql);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(sql, sizeof sql, "DELETE FROM acct WHERE id = %d", 400 + i);
		side_exec(&f.src, sql);
	}
	void *lock = lock_target(&f);
	dbs_stream *s = itest_stream_start_logged(f.config, f.stream_id, NULL, DBS_LOG_ERROR);
	sleep_ms(2000);
	unlock_target(&f, lock);
	dst_table(&f, t, sizeof t, "acct");
	acct_digest(&f.src, "acct", a, sizeof a);
	int64_t until = itest_now_ms() + 300000;
	for (;;) {
		acct_digest(&f.dst, t, b, sizeof b);
		if (strcmp(a, b) == 0)
			break;
		if (itest_now_ms() > until) {
			dbs_stat st;
			char buf[2048];
			itest_stat(s, &st);
			itest_stat_format(buf, sizeof buf, &st);
			ck_abort_msg("acct differs: source %s, target %s; %s", a, b, buf);
		}
		sleep_ms(200);
	}
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	release(&f);
}

START_TEST(mysql_to_pg_updates_and_deletes_in_runs)
{
	updates_and_deletes_in_runs(0, 1);
}
END_TEST

START_TEST(pg_to_pg_updates_and_deletes_in_runs)
{
	updates_and_deletes_in_runs(1, 1);
}
END_TEST

/* A MySQL target writes an update that keeps its key as a row of the
 * table's multi-row INSERT … ON DUPLICATE KEY UPDATE. */
START_TEST(mysql_to_mysql_updates_and_deletes_in_runs)
{
	updates_and_deletes_in_runs(0, 0);
}
END_TEST

START_TEST(pg_to_mysql_updates_and_deletes_in_runs)
{
	updates_and_deletes_in_runs(1, 0);
}
END_TEST

START_TEST(mysql_to_pg_backlog_whole_and_grouped)
{
	backlog_whole_and_grouped(0, 1, 0);
}
END_TEST

START_TEST(pg_to_mysql_backlog_whole_and_grouped)
{
	backlog_whole_and_grouped(1, 0, 0);
}
END_TEST

START_TEST(mysql_to_pg_over_nats_whole_and_grouped)
{
	backlog_whole_and_grouped(0, 1, 1);
}
END_TEST

/* Run the stream in a process of its own that kills itself at `fault`;
 * fails unless it dies there. */
static void run_until_killed(fixture *f, const char *fault)
{
	int status = 0;
	pid_t pid = itest_part_spawn(f->config, f->stream_id, DBS_PART_ALL, 0, fault);
	if (itest_wait_exit(pid, 180, &status) != 0) {
		itest_part_logs_dump(f->stream_id, 0);
		ck_abort_msg("the stream never reached %s (a build without -Dfault_injection=true "
		             "has none)", fault);
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		itest_part_logs_dump(f->stream_id, 0);
		ck_abort_msg("the stream ended otherwise than at %s", fault);
	}
}

static void killed_inside_groups(int src_pg, int dst_pg)
{
	fixture f;
	reader r;
	prepare(&f, src_pg, dst_pg);
	first_run(&f);
	reader_start(&r, &f);
	/* Killed with a group of transactions applied but not committed. */
	write_txns(&f, BACKLOG_TXNS);
	run_until_killed(&f, "stream.group_applied:40");
	long after_first = target_ledger(&f);
	ck_assert_msg(after_first < f.next_txn - 1, "everything was committed before the kill "
	              "(%ld ledger rows)", after_first);
	/* Killed right after a group's commit, before the source and the hub
	 * were told. */
	write_txns(&f, 60);
	run_until_killed(&f, "stream.group_committed:2");
	write_txns(&f, 30);
	pid_t pid = itest_part_spawn(f.config, f.stream_id, DBS_PART_ALL, 0, NULL);
	wait_ledger(&f, f.next_txn - 1, 300);
	reader_end(&r);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	check_exactly_once(&f);
	release(&f);
}

START_TEST(mysql_to_pg_killed_inside_groups)
{
	killed_inside_groups(0, 1);
}
END_TEST

START_TEST(pg_to_mysql_killed_inside_groups)
{
	killed_inside_groups(1, 0);
}
END_TEST

int main(int argc, char **argv)
{
	int part_rc = itest_part_main(argc, argv);
	if (part_rc >= 0)
		return part_rc;
	Suite *suite = suite_create("integration_group_commit");
	TCase *tc = tcase_create("group_commit");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, mysql_to_pg_backlog_whole_and_grouped);
	tcase_add_test(tc, pg_to_mysql_backlog_whole_and_grouped);
	tcase_add_test(tc, mysql_to_pg_over_nats_whole_and_grouped);
	tcase_add_test(tc, mysql_to_pg_updates_and_deletes_in_runs);
	tcase_add_test(tc, pg_to_pg_updates_and_deletes_in_runs);
	tcase_add_test(tc, mysql_to_mysql_updates_and_deletes_in_runs);
	tcase_add_test(tc, pg_to_mysql_updates_and_deletes_in_runs);
	tcase_add_test(tc, mysql_to_pg_rejected_row_inside_a_group);
	tcase_add_test(tc, pg_to_mysql_rejected_row_inside_a_group);
	tcase_add_test(tc, mysql_to_pg_killed_inside_groups);
	tcase_add_test(tc, pg_to_mysql_killed_inside_groups);
	suite_add_tcase(suite, tc);
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
