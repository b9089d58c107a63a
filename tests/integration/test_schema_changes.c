/*
 * Schema changes during CDC, end to end through the public API: streams
 * run in this process (memory hub) or over NATS, real servers on both
 * sides, rows written before, between and after each change.
 *
 *   - ADD COLUMN with a default, DROP COLUMN, RENAME COLUMN (from a
 *     PostgreSQL source inside a transaction that writes rows before and
 *     after it), a widened varchar and int, RENAME TABLE, and tables
 *     created after the stream started (one with rows, one without):
 *     afterwards dbs_verify_run finds no difference and the target's
 *     columns are the source's;
 *   - a backlog of changes read after a stop;
 *   - TRUNCATE, DROP TABLE and CREATE TABLE ... LIKE, allowed by
 *     target.options.schemaChanges;
 *   - statements a MySQL source cannot follow stop it at the source;
 *   - a narrowing change stops the stream FAILED at the change with a
 *     message naming the table, the source statement and what to do, again
 *     when resumed unchanged; the same stream id resumed after the target
 *     was fixed by hand ends equal;
 *   - the stream killed (SIGKILL, fault point sqltarget.schema_applied)
 *     between a schema change applied at the target and its checkpoint,
 *     then resumed: the change is not applied twice, nothing is lost.
 *
 * The directions are rows of `directions`: MySQL and PostgreSQL sources
 * into either target, and one over NATS; each step's statement is written
 * per source engine, and a row says what its source carries
 * (docs/schema-changes.md). test_schema_pg.c adds what only a PostgreSQL
 * source does.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

typedef struct direction {
	const char *name;
	int src_pg, dst_pg, nats;
	/* The source carries CREATE TABLE and DROP TABLE themselves (a MySQL
	 * binlog): a new table left empty reaches the target and a dropped
	 * one leaves it. pgoutput carries no DDL: a PostgreSQL source's new
	 * table arrives with its first row, an empty one never. */
	int carries_ddl;
} direction;

/* The memory-hub directions first: the cases after the first run over
 * those only (NMEMORY). */
static const direction directions[] = {
    {"mysql_to_pg", 0, 1, 0, 1},
    {"mysql_to_mysql", 0, 0, 0, 1},
    {"pg_to_pg", 1, 1, 0, 0},
    {"pg_to_mysql", 1, 0, 0, 0},
    {"mysql_to_pg_over_nats", 0, 1, 1, 1},
};
#define NDIRECTIONS (sizeof directions / sizeof directions[0])
#define NMEMORY 4

typedef struct fixture {
	const direction *dir;
	char src_db[64], dst_db[64];
	char slot[64], pub[64]; /* PostgreSQL source */
	char schema[64];        /* where the target's tables are */
	MYSQL *src_my, *dst_my;
	PGconn *src_pg, *dst_pg;
	char config[4096];
	char stream_id[28];
} fixture;

/* Extra keys of the target section (", \"options\": {...}"), or "". */
static const char *target_extra = "";

static void prepare(fixture *f, const direction *dir, const char *tag)
{
	char src_uri[512], dst_uri[512], settings[256] = "", hub[256] = "", t[32];
	memset(f, 0, sizeof *f);
	f->dir = dir;
	snprintf(t, sizeof t, "sc_%s_s", tag);
	itest_name(f->src_db, sizeof f->src_db, t);
	snprintf(t, sizeof t, "sc_%s_d", tag);
	itest_name(f->dst_db, sizeof f->dst_db, t);
	if (dir->src_pg) {
		itest_pg_create_db(f->src_db);
		f->src_pg = itest_pg_connect(f->src_db);
		itest_pg_uri(src_uri, sizeof src_uri, f->src_db, NULL, NULL, 0);
		snprintf(f->slot, sizeof f->slot, "%s", f->src_db);
		snprintf(f->pub, sizeof f->pub, "%s", f->src_db);
		snprintf(settings, sizeof settings,
		         "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": "
		         "\"%s\"}, ",
		         f->slot, f->pub);
		snprintf(f->schema, sizeof f->schema, "%s", "public");
	} else {
		itest_my_create_db(f->src_db);
		f->src_my = itest_my_connect(f->src_db);
		itest_my_dsn(src_uri, sizeof src_uri, f->src_db);
		/* A PostgreSQL target puts a MySQL database's tables in a schema
		 * of its name; a MySQL target in its own database. */
		snprintf(f->schema, sizeof f->schema, "%s", dir->dst_pg ? f->src_db : f->dst_db);
	}
	if (dir->dst_pg) {
		itest_pg_create_db(f->dst_db);
		f->dst_pg = itest_pg_connect(f->dst_db);
		itest_pg_uri(dst_uri, sizeof dst_uri, f->dst_db, NULL, NULL, 0);
		if (dir->src_pg)
			snprintf(f->schema, sizeof f->schema, "%s", "public");
	} else {
		itest_my_create_db(f->dst_db);
		f->dst_my = itest_my_connect(f->dst_db);
		itest_my_dsn(dst_uri, sizeof dst_uri, f->dst_db);
		snprintf(f->schema, sizeof f->schema, "%s", f->dst_db);
	}
	if (dir->nats)
		snprintf(hub, sizeof hub, ", \"hub\": {\"type\": \"nats\", \"url\": \"%s\"}",
		         itest_env("DBS_TEST_NATS_URL"));
	/* No table filter: every table of the source database, so that a
	 * table created later is captured. */
	int n = snprintf(f->config, sizeof f->config,
	                 "{\"source\": {\"type\": \"%s\", \"connection\": \"%s\", %s"
	                 "\"dataBundleSize\": 10}, "
	                 "\"target\": {\"type\": \"%s\", \"connection\": \"%s\"%s}%s, "
	                 "\"limits\": {\"numberOfEvents\": 0, \"elapsedTime\": 0}}",
	                 dir->src_pg ? "postgresql" : "mysql", src_uri, settings,
	                 dir->dst_pg ? "postgresql" : "mysql", dst_uri, target_extra, hub);
	ck_assert(n > 0 && (size_t)n < sizeof f->config);
	ck_assert_int_eq(dbs_ksuid_new(f->stream_id), 0);
}

static void release(fixture *f)
{
	if (f->src_my)
		mysql_close(f->src_my);
	if (f->dst_my)
		mysql_close(f->dst_my);
	if (f->src_pg)
		PQfinish(f->src_pg);
	if (f->dst_pg)
		PQfinish(f->dst_pg);
	if (f->dir->src_pg) {
		itest_pg_drop_slot(f->slot);
		itest_pg_drop_publication(f->src_db, f->pub);
		itest_pg_drop_db(f->src_db);
	} else {
		itest_my_drop_db(f->src_db);
	}
	if (f->dir->dst_pg)
		itest_pg_drop_db(f->dst_db);
	else
		itest_my_drop_db(f->dst_db);
}

/* Run the source statement: `my` on a MySQL source, `pg` on PostgreSQL. */
static void src_exec(fixture *f, const char *my, const char *pg)
{
	if (f->dir->src_pg)
		itest_pg_exec(f->src_pg, pg);
	else
		itest_my_exec(f->src_my, my);
}

/* The same statement on either engine, printf-style. */
static void src_execf(fixture *f, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && (size_t)n < sizeof sql);
	src_exec(f, sql, sql);
}

static void dst_exec(fixture *f, const char *sql)
{
	if (f->dir->dst_pg)
		itest_pg_exec(f->dst_pg, sql);
	else
		itest_my_exec(f->dst_my, sql);
}

/* First value of a target query (free()); NULL for none or SQL NULL. */
static char *dst_value(fixture *f, const char *sql)
{
	return f->dir->dst_pg ? itest_pg_value(f->dst_pg, sql) : itest_my_value(f->dst_my, sql);
}

/* The target table's columns as "name type,..." in their order; "" when
 * the table does not exist. Types as the target's catalog spells them. */
static char *dst_columns(fixture *f, const char *table)
{
	char sql[1024];
	if (f->dir->dst_pg)
		snprintf(sql, sizeof sql,
		         "SELECT coalesce(string_agg(column_name || ' ' || data_type || "
		         "coalesce('(' || character_maximum_length || ')', ''), ',' ORDER BY "
		         "ordinal_position), '') FROM information_schema.columns WHERE "
		         "table_schema = '%s' AND table_name = '%s'",
		         f->schema, table);
	else
		snprintf(sql, sizeof sql,
		         "SELECT coalesce(GROUP_CONCAT(CONCAT(COLUMN_NAME, ' ', DATA_TYPE, "
		         "coalesce(concat('(', CHARACTER_MAXIMUM_LENGTH, ')'), '')) ORDER BY "
		         "ORDINAL_POSITION SEPARATOR ','), '') FROM information_schema.COLUMNS WHERE "
		         "TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'",
		         f->schema, table);
	char *v = dst_value(f, sql);
	ck_assert_ptr_nonnull(v);
	return v;
}

static void dst_columns_are(fixture *f, const char *table, const char *want_pg,
                            const char *want_my)
{
	char *got = dst_columns(f, table);
	const char *want = f->dir->dst_pg ? want_pg : want_my;
	ck_assert_msg(strcmp(got, want) == 0, "%s: target table %s has columns \"%s\", not \"%s\"",
	              f->dir->name, table, got, want);
	free(got);
}

/* Rows of target table `table` matching `where`. */
static long dst_count(fixture *f, const char *table, const char *where)
{
	char sql[512];
	if (f->dir->dst_pg)
		snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\".\"%s\" WHERE %s", f->schema,
		         table, where);
	else
		snprintf(sql, sizeof sql, "SELECT count(*) FROM `%s`.`%s` WHERE %s", f->schema, table,
		         where);
	char *v = dst_value(f, sql);
	long n = v ? atol(v) : -1;
	free(v);
	return n;
}

static int dst_table_exists(fixture *f, const char *table)
{
	char *cols = dst_columns(f, table);
	int exists = cols[0] != '\0';
	free(cols);
	return exists;
}

/* Wait until the target's `table` has a row matching `where`; fails with
 * the stream's state when the stream ends first or after `timeout_s`. */
static void wait_row(fixture *f, dbs_stream *s, const char *table, const char *where,
                     int timeout_s)
{
	int64_t deadline = itest_now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		if (dst_table_exists(f, table) && dst_count(f, table, where) > 0)
			return;
		char buf[2048];
		dbs_stat st;
		if (s) {
			itest_stat(s, &st);
			if (dbs_status_is_terminal(st.target.status) ||
			    dbs_status_is_terminal(st.source.status)) {
				itest_stat_format(buf, sizeof buf, &st);
				ck_abort_msg("%s: the stream ended before %s had %s: %s", f->dir->name,
				             table, where, buf);
			}
		}
		if (itest_now_ms() > deadline) {
			buf[0] = '\0';
			if (s) {
				itest_stat(s, &st);
				itest_stat_format(buf, sizeof buf, &st);
			} else {
				itest_part_logs_dump(f->stream_id, 0);
			}
			ck_abort_msg("%s: %s never had %s within %d s: %s", f->dir->name, table, where,
			             timeout_s, buf);
		}
		usleep(100 * 1000);
	}
}

/* Wait until node `target_node` (0 source, 1 target) ended, and its
 * message is there (it may follow the status by a moment). */
static void wait_failed(dbs_stream *s, int target_node, dbs_stat *st)
{
	itest_wait_node_status(s, target_node, DBS_STATUS_FAILED, 120, st);
	for (int i = 0; i < 50; i++) {
		const char *m = target_node ? st->target.message : st->source.message;
		if (m[0])
			break;
		usleep(100 * 1000);
		itest_stat(s, st);
	}
}

static dbs_stream *start(fixture *f)
{
	return itest_stream_start_logged(f->config, f->stream_id, NULL, DBS_LOG_ERROR);
}

static void stop(dbs_stream *s)
{
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
}

static void verify_equal(fixture *f)
{
	uint64_t d = itest_verify_differences(f->config);
	ck_assert_msg(d == 0, "%s: dbs_verify_run found %llu differences", f->dir->name,
	              (unsigned long long)d);
}

/* Rows id from..to of the first table's shape at each step. */
static void insert_items(fixture *f, const char *table, const char *cols, int from, int to,
                         const char *rest)
{
	for (int i = from; i <= to; i++)
		src_execf(f, "INSERT INTO %s (%s) VALUES (%d, 'item %d'%s)", table, cols, i, i, rest);
}

static void changes_while_writing(const direction *dir)
{
	fixture f;
	prepare(&f, dir, "w");
	src_exec(&f,
	         "CREATE TABLE items (id int PRIMARY KEY, name varchar(20) NOT NULL, qty int, "
	         "note varchar(10))",
	         "CREATE TABLE items (id int PRIMARY KEY, name varchar(20) NOT NULL, qty int, "
	         "note varchar(10))");
	dbs_stream *s = start(&f);
	insert_items(&f, "items", "id, name", 1, 5, "");
	insert_items(&f, "items", "id, name, qty, note", 6, 10, ", 6, 'n'");
	src_exec(&f, "UPDATE items SET qty = 1 WHERE id = 6", "UPDATE items SET qty = 1 WHERE id = 6");

	/* ADD COLUMN with a default: the rows there get it */
	src_exec(&f, "ALTER TABLE items ADD COLUMN price int NOT NULL DEFAULT 7",
	         "ALTER TABLE items ADD COLUMN price int NOT NULL DEFAULT 7");
	insert_items(&f, "items", "id, name, qty, note, price", 11, 15, ", 11, 'n', 33");
	src_exec(&f, "UPDATE items SET price = 100 WHERE id = 7",
	         "UPDATE items SET price = 100 WHERE id = 7");

	/* DROP COLUMN */
	src_exec(&f, "ALTER TABLE items DROP COLUMN note", "ALTER TABLE items DROP COLUMN note");
	insert_items(&f, "items", "id, name, qty, price", 16, 20, ", 16, 8");
	src_exec(&f, "DELETE FROM items WHERE id = 8", "DELETE FROM items WHERE id = 8");

	/* RENAME COLUMN: the values stay. From PostgreSQL inside a
	 * transaction that writes rows before and after it. */
	src_exec(&f, "ALTER TABLE items RENAME COLUMN qty TO amount",
	         "BEGIN; INSERT INTO items (id, name, qty, price) VALUES (21, 'x', 21, 9); ALTER "
	         "TABLE items RENAME COLUMN qty TO amount; INSERT INTO items (id, name, amount, "
	         "price) VALUES (22, 'y', 22, 9); COMMIT");
	insert_items(&f, "items", "id, name, amount, price", dir->src_pg ? 23 : 21, 25, ", 21, 9");
	src_exec(&f, "UPDATE items SET amount = 44 WHERE id = 9",
	         "UPDATE items SET amount = 44 WHERE id = 9");

	/* Widened: a longer varchar, a wider integer */
	src_exec(&f, "ALTER TABLE items MODIFY name varchar(50) NOT NULL",
	         "ALTER TABLE items ALTER COLUMN name TYPE varchar(50)");
	src_exec(&f, "ALTER TABLE items MODIFY amount bigint",
	         "ALTER TABLE items ALTER COLUMN amount TYPE bigint");
	for (int i = 26; i <= 30; i++)
		src_execf(&f,
		          "INSERT INTO items (id, name, amount, price) VALUES (%d, 'a name of forty "
		          "characters, number %d', 50000000000, 1)",
		          i, i);

	/* RENAME TABLE */
	src_exec(&f, "RENAME TABLE items TO goods", "ALTER TABLE items RENAME TO goods");
	insert_items(&f, "goods", "id, name, amount, price", 31, 35, ", 31, 2");
	src_exec(&f, "UPDATE goods SET amount = 55 WHERE id = 10",
	         "UPDATE goods SET amount = 55 WHERE id = 10");

	/* Tables created after the stream started: one with rows, one
	 * without (the target has it too when the source carries DDL) */
	src_exec(&f, "CREATE TABLE fresh (id int PRIMARY KEY, v varchar(10), KEY v_ix (v))",
	         "CREATE TABLE fresh (id int PRIMARY KEY, v varchar(10))");
	if (dir->src_pg)
		itest_pg_exec(f.src_pg, "CREATE INDEX fresh_v ON fresh (v)");
	src_exec(&f, "CREATE TABLE quiet (id bigint PRIMARY KEY, t varchar(30) NOT NULL)",
	         "CREATE TABLE quiet (id bigint PRIMARY KEY, t varchar(30) NOT NULL)");
	for (int i = 1; i <= 3; i++)
		src_execf(&f, "INSERT INTO fresh VALUES (%d, 'f%d')", i, i);
	src_exec(&f, "INSERT INTO fresh VALUES (100, 'last')", "INSERT INTO fresh VALUES (100, 'last')");

	wait_row(&f, s, "fresh", "id = 100", 120);
	stop(s);

	verify_equal(&f);
	dst_columns_are(&f, "goods",
	                "id integer,name character varying(50),amount bigint,price integer",
	                "id int,name varchar(50),amount bigint,price int");
	ck_assert_msg(!dst_table_exists(&f, "items"), "%s: the renamed table is still in the target",
	              dir->name);
	if (dir->carries_ddl)
		dst_columns_are(&f, "quiet", "id bigint,t character varying(30)",
		                "id bigint,t varchar(30)");
	else
		ck_assert_msg(!dst_table_exists(&f, "quiet"),
		              "%s: a table no row was written to arrived", dir->name);
	dst_columns_are(&f, "fresh", "id integer,v character varying(10)", "id int,v varchar(10)");
	/* the default reached the rows that were there; the renamed column
	 * kept its values */
	ck_assert_int_eq(dst_count(&f, "goods", "id <= 10 AND price = 7"), 8);
	ck_assert_int_eq(dst_count(&f, "goods", "id = 6 AND amount = 1"), 1);
	ck_assert_int_eq(dst_count(&f, "goods", "id = 21 AND amount = 21"), 1);
	ck_assert_int_eq(dst_count(&f, "goods", "amount = 50000000000"), 5);
	release(&f);
}

START_TEST(schema_changes_while_writing)
{
	changes_while_writing(&directions[_i]);
}
END_TEST

/* A backlog read after a stop: several changes of one table, rows between
 * them, the table renamed, a table created and changed; read with the
 * definition each row was written under, not information_schema's now. */
static void backlog_of_changes(const direction *dir)
{
	fixture f;
	prepare(&f, dir, "b");
	src_exec(&f, "CREATE TABLE b (id int PRIMARY KEY, a int, s varchar(10))",
	         "CREATE TABLE b (id int PRIMARY KEY, a int, s varchar(10))");
	dbs_stream *s = start(&f);
	for (int i = 1; i <= 3; i++)
		src_execf(&f, "INSERT INTO b VALUES (%d, %d, 's%d')", i, i, i);
	wait_row(&f, s, "b", "id = 3", 120);
	stop(s);

	src_exec(&f, "INSERT INTO b VALUES (4, 4, 's4')", "INSERT INTO b VALUES (4, 4, 's4')");
	src_exec(&f, "ALTER TABLE b ADD COLUMN c int DEFAULT 1",
	         "ALTER TABLE b ADD COLUMN c int DEFAULT 1");
	src_exec(&f, "INSERT INTO b VALUES (5, 5, 's5', 5)", "INSERT INTO b VALUES (5, 5, 's5', 5)");
	src_exec(&f, "ALTER TABLE b MODIFY s varchar(30)",
	         "ALTER TABLE b ALTER COLUMN s TYPE varchar(30)");
	src_exec(&f, "INSERT INTO b VALUES (6, 6, 'twenty-five characters..', 6)",
	         "INSERT INTO b VALUES (6, 6, 'twenty-five characters..', 6)");
	src_exec(&f, "ALTER TABLE b DROP COLUMN a", "ALTER TABLE b DROP COLUMN a");
	src_exec(&f, "INSERT INTO b VALUES (7, 's7', 7)", "INSERT INTO b VALUES (7, 's7', 7)");
	src_exec(&f, "RENAME TABLE b TO b2", "ALTER TABLE b RENAME TO b2");
	src_exec(&f, "ALTER TABLE b2 ADD COLUMN d varchar(5) DEFAULT 'dd' FIRST",
	         "ALTER TABLE b2 ADD COLUMN d varchar(5) DEFAULT 'dd'");
	src_exec(&f, "INSERT INTO b2 (id, s, c, d) VALUES (8, 's8', 8, 'x')",
	         "INSERT INTO b2 (id, s, c, d) VALUES (8, 's8', 8, 'x')");
	src_exec(&f, "CREATE TABLE nb (id int PRIMARY KEY, x int)",
	         "CREATE TABLE nb (id int PRIMARY KEY, x int)");
	src_exec(&f, "INSERT INTO nb VALUES (1, 1)", "INSERT INTO nb VALUES (1, 1)");
	src_exec(&f, "ALTER TABLE nb ADD COLUMN y varchar(8) NOT NULL DEFAULT 'why'",
	         "ALTER TABLE nb ADD COLUMN y varchar(8) NOT NULL DEFAULT 'why'");
	src_exec(&f, "INSERT INTO nb VALUES (2, 2, 'y2')", "INSERT INTO nb VALUES (2, 2, 'y2')");

	s = start(&f);
	wait_row(&f, s, "nb", "id = 2", 120);
	stop(s);
	verify_equal(&f);
	dst_columns_are(&f, "b2",
	                "id integer,s character varying(30),c integer,d character varying(5)",
	                "id int,s varchar(30),c int,d varchar(5)");
	dst_columns_are(&f, "nb", "id integer,x integer,y character varying(8)",
	                "id int,x int,y varchar(8)");
	ck_assert_int_eq(dst_count(&f, "b2", "d = 'dd'"), 7);
	release(&f);
}

START_TEST(backlog_read_after_a_stop)
{
	backlog_of_changes(&directions[_i]);
}
END_TEST

/* TRUNCATE and DROP TABLE reach the target when target.options.
 * schemaChanges allows them; CREATE TABLE ... LIKE makes the table. */
static void truncate_drop_and_like(const direction *dir)
{
	fixture f;
	target_extra = ", \"options\": {\"schemaChanges\": \"dropTable,truncate\"}";
	prepare(&f, dir, "t");
	target_extra = "";
	src_exec(&f, "CREATE TABLE x (id int PRIMARY KEY, v varchar(10))",
	         "CREATE TABLE x (id int PRIMARY KEY, v varchar(10))");
	src_exec(&f, "CREATE TABLE y (id int PRIMARY KEY)", "CREATE TABLE y (id int PRIMARY KEY)");
	dbs_stream *s = start(&f);
	for (int i = 1; i <= 4; i++)
		src_execf(&f, "INSERT INTO x VALUES (%d, 'x%d')", i, i);
	src_exec(&f, "INSERT INTO y VALUES (1)", "INSERT INTO y VALUES (1)");
	wait_row(&f, s, "y", "id = 1", 120);
	src_exec(&f, "TRUNCATE TABLE x", "TRUNCATE TABLE x");
	src_exec(&f, "INSERT INTO x VALUES (10, 'after')", "INSERT INTO x VALUES (10, 'after')");
	src_exec(&f, "DROP TABLE y", "DROP TABLE y");
	src_exec(&f, "CREATE TABLE z LIKE x", "CREATE TABLE z (LIKE x INCLUDING ALL)");
	src_exec(&f, "INSERT INTO z VALUES (1, 'zed')", "INSERT INTO z VALUES (1, 'zed')");
	wait_row(&f, s, "z", "id = 1", 120);
	stop(s);
	verify_equal(&f);
	ck_assert_int_eq(dst_count(&f, "x", "id < 10"), 0);
	/* DROP TABLE reaches the target only from a source that carries it */
	ck_assert_msg(!dir->carries_ddl || !dst_table_exists(&f, "y"),
	              "%s: the dropped table is still in the target", dir->name);
	dst_columns_are(&f, "z", "id integer,v character varying(10)", "id int,v varchar(10)");
	release(&f);
}

START_TEST(truncate_drop_and_create_like)
{
	truncate_drop_and_like(&directions[_i]);
}
END_TEST

/* A MySQL source meeting a statement it cannot follow whose table it
 * cannot tell (here a row change logged as a statement) stops FAILED
 * before it, saying why and showing the statement; one that names no
 * captured table (in another database) is left alone. */
static void cannot_follow(const direction *dir)
{
	fixture f;
	if (dir->src_pg)
		return; /* a MySQL binlog's case */
	prepare(&f, dir, "u");
	src_exec(&f, "CREATE TABLE u (id int PRIMARY KEY)", "CREATE TABLE u (id int PRIMARY KEY)");
	dbs_stream *s = start(&f);
	src_exec(&f, "INSERT INTO u VALUES (1)", "INSERT INTO u VALUES (1)");
	wait_row(&f, s, "u", "id = 1", 120);
	/* the same in a database the stream does not capture: left alone */
	char other[64];
	itest_name(other, sizeof other, "sc_u_o");
	itest_my_create_db(other);
	MYSQL *o = itest_my_connect(other);
	itest_my_exec(o, "CREATE TABLE o (id int PRIMARY KEY)");
	itest_my_exec(o, "SET SESSION binlog_format = 'STATEMENT'");
	itest_my_exec(o, "INSERT INTO o VALUES (1)");
	mysql_close(o);
	itest_my_drop_db(other);
	src_exec(&f, "INSERT INTO u VALUES (2)", "INSERT INTO u VALUES (2)");
	wait_row(&f, s, "u", "id = 2", 120);
	dbs_stat st;
	src_exec(&f, "SET SESSION binlog_format = 'STATEMENT'", "SELECT 1");
	src_exec(&f, "INSERT INTO u VALUES (3)", "INSERT INTO u VALUES (3)");
	src_exec(&f, "SET SESSION binlog_format = 'ROW'", "SELECT 1");
	wait_failed(s, 0, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_FAILED &&
	                  strstr(st.source.message, "logged as a statement") &&
	                  strstr(st.source.message, "INSERT INTO u VALUES (3)"),
	              "%s: source %s: %s", dir->name, dbs_status_name(st.source.status),
	              st.source.message);
	dbs_stream_free(s);
	ck_assert_int_eq(dst_count(&f, "u", "id = 3"), 0);
	release(&f);
}

/* A statement that changes rows the binlog does not carry, on a captured
 * table (a partition truncated), stops the stream at the source. */
static void rows_not_carried(const direction *dir)
{
	fixture f;
	if (dir->src_pg)
		return; /* a MySQL binlog's case */
	prepare(&f, dir, "p");
	itest_my_exec(f.src_my, "CREATE TABLE p (id int PRIMARY KEY) PARTITION BY RANGE (id) "
	                        "(PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS "
	                        "THAN MAXVALUE)");
	dbs_stream *s = start(&f);
	itest_my_exec(f.src_my, "INSERT INTO p VALUES (1), (20)");
	wait_row(&f, s, "p", "id = 20", 120);
	itest_my_exec(f.src_my, "ALTER TABLE p TRUNCATE PARTITION p1");
	itest_my_exec(f.src_my, "INSERT INTO p VALUES (2)");
	dbs_stat st;
	wait_failed(s, 0, &st);
	ck_assert_msg(st.source.status == DBS_STATUS_FAILED &&
	                  strstr(st.source.message, "TRUNCATE PARTITION") &&
	                  strstr(st.source.message, "initialLoad"),
	              "%s: source %s: %s", dir->name, dbs_status_name(st.source.status),
	              st.source.message);
	dbs_stream_free(s);
	ck_assert_int_eq(dst_count(&f, "p", "id = 2"), 0);
	release(&f);
}

START_TEST(rows_the_binlog_does_not_carry)
{
	rows_not_carried(&directions[_i]);
}
END_TEST

START_TEST(statements_the_source_cannot_follow)
{
	cannot_follow(&directions[_i]);
}
END_TEST

/* A narrowing change stops the stream FAILED at the change; after the
 * target is fixed by hand the same stream id carries on from there. */
static void narrowing_stops(const direction *dir)
{
	fixture f;
	prepare(&f, dir, "n");
	src_exec(&f, "CREATE TABLE n (id int PRIMARY KEY, name varchar(40))",
	         "CREATE TABLE n (id int PRIMARY KEY, name varchar(40))");
	dbs_stream *s = start(&f);
	for (int i = 1; i <= 5; i++)
		src_execf(&f, "INSERT INTO n VALUES (%d, 'n%d')", i, i);
	src_exec(&f, "ALTER TABLE n MODIFY name varchar(10)",
	         "ALTER TABLE n ALTER COLUMN name TYPE varchar(10)");
	for (int i = 6; i <= 9; i++)
		src_execf(&f, "INSERT INTO n VALUES (%d, 'n%d')", i, i);

	dbs_stat st;
	char buf[2048];
	wait_failed(s, 1, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED, "%s: %s", dir->name, buf);
	const char *m = st.target.message;
	ck_assert_msg(strstr(m, ".n") && strstr(m, "(10)") && strstr(m, "resume the stream") &&
	                  strstr(m, "schema change"),
	              "%s: the message names neither the change nor what to do: %s", dir->name, m);
	/* a PostgreSQL source's change, as the definitions' difference shows it */
	ck_assert_msg(!dir->src_pg || strstr(m, "ALTER COLUMN name TYPE character varying(10)"),
	              "%s: the message does not show the change: %s", dir->name, m);
	dbs_stream_free(s);
	/* everything before the change is there, nothing after it */
	ck_assert_int_eq(dst_count(&f, "n", "id <= 5"), 5);
	ck_assert_int_eq(dst_count(&f, "n", "id > 5"), 0);

	/* resumed unchanged: the same stop, found again after the restart */
	s = start(&f);
	wait_failed(s, 1, &st);
	ck_assert_int_eq(st.target.status, DBS_STATUS_FAILED);
	dbs_stream_free(s);
	ck_assert_int_eq(dst_count(&f, "n", "id > 5"), 0);

	char sql[256];
	if (dir->dst_pg)
		snprintf(sql, sizeof sql, "ALTER TABLE \"%s\".n ALTER COLUMN name TYPE varchar(10)",
		         f.schema);
	else
		snprintf(sql, sizeof sql, "ALTER TABLE `%s`.n MODIFY name varchar(10)", f.schema);
	dst_exec(&f, sql);
	s = start(&f);
	wait_row(&f, s, "n", "id = 9", 120);
	stop(s);
	verify_equal(&f);
	dst_columns_are(&f, "n", "id integer,name character varying(10)",
	                "id int,name varchar(10)");
	release(&f);
}

START_TEST(narrowing_stops_until_fixed)
{
	narrowing_stops(&directions[_i]);
}
END_TEST

/* Killed between a schema change applied at the target and the
 * checkpoint after it: resumed, the change is not repeated, nothing lost. */
static void killed_at_schema_change(const direction *dir)
{
	fixture f;
	prepare(&f, dir, "k");
	src_exec(&f, "CREATE TABLE k (id int PRIMARY KEY, a int)",
	         "CREATE TABLE k (id int PRIMARY KEY, a int)");
	dbs_stream *s = start(&f);
	for (int i = 1; i <= 5; i++)
		src_execf(&f, "INSERT INTO k VALUES (%d, %d)", i, i);
	wait_row(&f, s, "k", "id = 5", 120);
	stop(s);

	/* while the stream is down: a change and rows on both sides of it */
	src_exec(&f, "INSERT INTO k VALUES (6, 6)", "INSERT INTO k VALUES (6, 6)");
	src_exec(&f, "ALTER TABLE k ADD COLUMN b varchar(20) DEFAULT 'bee', RENAME COLUMN a TO aa",
	         "ALTER TABLE k ADD COLUMN b varchar(20) DEFAULT 'bee'");
	for (int i = 7; i <= 12; i++)
		src_execf(&f, "INSERT INTO k (id, b) VALUES (%d, 'b%d')", i, i);

	int status = 0;
	pid_t pid = itest_part_spawn(f.config, f.stream_id, DBS_PART_ALL, 0,
	                             "sqltarget.schema_applied:1");
	if (itest_wait_exit(pid, 180, &status) != 0) {
		itest_part_logs_dump(f.stream_id, 0);
		ck_abort_msg("%s: the stream never reached sqltarget.schema_applied (a build "
		             "without -Dfault_injection=true has none)",
		             dir->name);
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		itest_part_logs_dump(f.stream_id, 0);
		ck_abort_msg("%s: the stream ended otherwise than at sqltarget.schema_applied",
		             dir->name);
	}
	/* (row 6 may have been in the transaction the kill rolled back) */
	ck_assert_int_eq(dst_count(&f, "k", "id > 6"), 0);

	s = start(&f);
	wait_row(&f, s, "k", "id = 12", 120);
	stop(s);
	verify_equal(&f);
	if (dir->src_pg)
		dst_columns_are(&f, "k", "id integer,a integer,b character varying(20)",
		                "id int,a int,b varchar(20)");
	else
		dst_columns_are(&f, "k", "id integer,aa integer,b character varying(20)",
		                "id int,aa int,b varchar(20)");
	ck_assert_int_eq(dst_count(&f, "k", "b = 'bee'"), 6);
	release(&f);
}

START_TEST(killed_between_change_and_checkpoint)
{
	killed_at_schema_change(&directions[_i]);
}
END_TEST

int main(int argc, char **argv)
{
	int part_rc = itest_part_main(argc, argv);
	if (part_rc >= 0)
		return part_rc;
	Suite *suite = suite_create("integration_schema_changes");
	TCase *tc = tcase_create("schema_changes");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, schema_changes_while_writing, 0, (int)NDIRECTIONS);
	tcase_add_loop_test(tc, backlog_read_after_a_stop, 0, NMEMORY);
	tcase_add_loop_test(tc, truncate_drop_and_create_like, 0, NMEMORY);
	tcase_add_loop_test(tc, statements_the_source_cannot_follow, 0, NMEMORY);
	tcase_add_loop_test(tc, rows_the_binlog_does_not_carry, 0, NMEMORY);
	tcase_add_loop_test(tc, narrowing_stops_until_fixed, 0, NMEMORY);
	tcase_add_loop_test(tc, killed_between_change_and_checkpoint, 0, NMEMORY);
	suite_add_tcase(suite, tc);
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
