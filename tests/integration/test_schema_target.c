/*
 * Schema changes at the SQL targets: each target (PostgreSQL, MySQL) is
 * opened through its vtable and given batches of hand-built
 * DBS_OP_SCHEMA events and rows, the definitions spelled by a MySQL and
 * by a PostgreSQL source, against the harness's servers. What is asserted
 * is what a user sees in the target: its catalog (columns, types, keys,
 * indexes, tables) and its rows, after every kind of change, after the
 * same change applied twice (a restart between a change and its
 * checkpoint), after an unsafe change refused and then fixed by hand, and
 * under each target.options.schemaChanges policy.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <check.h>
#include <dbstreams/plugin.h>

#include "itest.h"
#include "sql/settings.h"

/* Four ways: the target, and the dialect its definitions come from. */
typedef struct combo {
	int my;          /* MySQL target (else PostgreSQL) */
	dbs_dialect src; /* dialect of the definitions */
	const char *label;
} combo;

static const combo combos[] = {
    {0, DBS_DIALECT_MYSQL, "MySQL -> PostgreSQL"},
    {0, DBS_DIALECT_POSTGRESQL, "PostgreSQL -> PostgreSQL"},
    {1, DBS_DIALECT_MYSQL, "MySQL -> MySQL"},
    {1, DBS_DIALECT_POSTGRESQL, "PostgreSQL -> MySQL"},
};
#define NCOMBOS ((int)(sizeof combos / sizeof combos[0]))

/* The PostgreSQL target's schema of the tables (a MySQL target puts them
 * in its connection's database). */
#define SCHEMA "s1"

typedef struct fx {
	const combo *c;
	char db[64];
	char conn[512];
	dbs_registry *reg;
	const dbs_target_ops *ops;
	dbs_target *t;
	dbs_sql_target_settings set;
	dbs_target_config cfg;
	dbs_host host;
	uint64_t txn;
	PGconn *pg;
	MYSQL *my;
	int64_t commit_us; /* commit time of the next schema event; 0: now */
	char log[8192];    /* warnings the target logged */
} fx;

static fx F;

static void host_log(const dbs_host *host, dbs_log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	(void)host;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (level >= DBS_LOG_WARN) {
		size_t n = strlen(F.log);
		snprintf(F.log + n, sizeof F.log - n, "%s\n", line);
	}
}

static int host_stopping(const dbs_host *host)
{
	(void)host;
	return 0;
}

/* ---- type spellings of the two source dialects ---- */

static const struct {
	const char *key, *my, *pg;
} types[] = {
    {"int", "int", "integer"},
    {"bigint", "bigint", "bigint"},
    {"vc5", "varchar(5)", "character varying(5)"},
    {"vc10", "varchar(10)", "character varying(10)"},
    {"vc20", "varchar(20)", "character varying(20)"},
    {"dec10", "decimal(10,2)", "numeric(10,2)"},
    {"dec12", "decimal(12,2)", "numeric(12,2)"},
    {"ts", "datetime(6)", "timestamp(6) without time zone"},
    {"enum2", "enum('a','b')", NULL},
    {"enum3", "enum('a','b','c')", NULL},
};

static const char *type_of(const char *key)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(types[i].key, key) == 0)
			return F.c->src == DBS_DIALECT_MYSQL ? types[i].my : types[i].pg;
	ck_abort_msg("no type %s", key);
	return NULL;
}

/*
 * A definition from a spec "id:int:k,a:vc10,n:int:nn" (k: key, nn: NOT
 * NULL), version `version`. The caller unrefs it.
 */
static dbs_table *def_new(const char *name, uint32_t version, const char *spec)
{
	dbs_column cols[16];
	char names[16][32], tnames[16][32];
	uint32_t n = 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", spec);
	for (char *save = NULL, *col = strtok_r(buf, ",", &save); col;
	     col = strtok_r(NULL, ",", &save), n++) {
		char *p2 = NULL;
		char *cname = strtok_r(col, ":", &p2), *tkey = strtok_r(NULL, ":", &p2);
		char *fl = strtok_r(NULL, ":", &p2);
		ck_assert(n < 16 && cname && tkey);
		snprintf(names[n], sizeof names[n], "%s", cname);
		const char *tn = type_of(tkey);
		ck_assert_msg(tn, "type %s has no spelling in this dialect", tkey);
		snprintf(tnames[n], sizeof tnames[n], "%s", tn);
		cols[n] = (dbs_column){.name = names[n], .type_name = tnames[n], .type_mod = -1};
		if (fl && strcmp(fl, "k") == 0)
			cols[n].flags = DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL;
		else if (fl && strcmp(fl, "nn") == 0)
			cols[n].flags = DBS_COLUMN_NOT_NULL;
	}
	dbs_table *t = NULL;
	ck_assert_int_eq(dbs_table_new(&t, F.c->src, SCHEMA, name, cols, n), 0);
	t->version = version;
	return t;
}

/* ---- the target ---- */

static void target_open(const char *policy)
{
	char err[DBS_ERRMSG_MAX];
	dbs_position cp;
	memset(&F.set, 0, sizeof F.set);
	F.set.zero_dates = "fail";
	F.set.write_mode = "fail_if_not_empty";
	F.set.schema_changes = policy;
	F.cfg = (dbs_target_config){
	    .type = F.c->my ? "mysql" : "postgresql", .connection = F.conn, .settings = &F.set};
	F.host = (dbs_host){.version = DBS_HOST_VERSION,
	                    .stream_id = "schema-target-test",
	                    .stopping = host_stopping,
	                    .log = host_log};
	err[0] = '\0';
	int rc = F.ops->open(&F.t, &F.cfg, &F.host, &cp, err, sizeof err);
	ck_assert_msg(rc == 0, "open: %s", err);
	if (cp.txn > F.txn)
		F.txn = cp.txn;
}

static void target_close(void)
{
	if (F.t)
		F.ops->close(F.t);
	F.t = NULL;
}

static void setup(int i)
{
	memset(&F, 0, sizeof F);
	F.c = &combos[i];
	itest_name(F.db, sizeof F.db, F.c->my ? "my" : "pg");
	ck_assert_int_eq(dbs_registry_new(&F.reg, 1), 0);
	F.ops = dbs_registry_target(F.reg, F.c->my ? "mysql" : "postgresql");
	ck_assert(F.ops && F.ops->version >= 7);
	if (F.c->my) {
		itest_my_create_db(F.db);
		itest_my_dsn(F.conn, sizeof F.conn, F.db);
		F.my = itest_my_connect(F.db);
	} else {
		itest_pg_create_db(F.db);
		itest_pg_uri(F.conn, sizeof F.conn, F.db, NULL, NULL, 0);
		F.pg = itest_pg_connect(F.db);
	}
	F.txn = 1000;
	target_open(NULL);
}

static void teardown(void)
{
	target_close();
	if (F.pg)
		PQfinish(F.pg);
	if (F.my)
		mysql_close(F.my);
	if (F.c->my)
		itest_my_drop_db(F.db);
	else
		itest_pg_drop_db(F.db);
	dbs_registry_free(F.reg);
}

static dbs_position next_pos(void)
{
	F.txn += 10;
	return (dbs_position){.txn = F.txn, .resume = F.txn + 1, .event = 1, .txn_end = 1};
}

static int64_t now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Apply a batch and commit it; 0 or the apply's code with err. */
static int apply(dbs_batch *b, char *err, size_t errlen)
{
	err[0] = '\0';
	int rc = F.ops->apply(F.t, b, err, errlen);
	if (rc == DBS_APPLY_OPEN)
		rc = F.ops->flush(F.t, err, errlen);
	return rc;
}

/* A batch of one schema event at `pos` (zero: the next position). */
static dbs_batch *schema_batch(const dbs_table *def, const dbs_schema_change *ch, uint32_t n,
                               const char *stmt, dbs_position pos)
{
	dbs_batch *b = NULL;
	dbs_event *ev = NULL;
	ck_assert_int_eq(dbs_batch_new(&b, 1), 0);
	ck_assert_int_eq(dbs_batch_add(b, DBS_OP_SCHEMA, def, &ev), 0);
	ev->pos = pos.txn ? pos : next_pos();
	ev->commit_time_us = F.commit_us ? F.commit_us : now_us();
	dbs_schema_event *se = dbs_batch_alloc(b, sizeof *se);
	dbs_schema_change *chs = dbs_batch_alloc(b, n * sizeof *chs);
	ck_assert(se && chs);
	memcpy(chs, ch, n * sizeof *chs);
	se->statement = stmt;
	se->nchanges = n;
	se->changes = chs;
	ev->schema = se;
	return b;
}

static int schema_try(const dbs_table *def, const dbs_schema_change *ch, uint32_t n,
                      const char *stmt, char *err, size_t errlen)
{
	dbs_batch *b = schema_batch(def, ch, n, stmt, (dbs_position){0});
	int rc = apply(b, err, errlen);
	dbs_batch_free(b);
	return rc;
}

/* The change applies, and applied again (a restart before its
 * checkpoint) finds it done. */
static void schema_ok(const dbs_table *def, const dbs_schema_change *ch, uint32_t n,
                      const char *stmt)
{
	char err[DBS_ERRMSG_MAX];
	int rc = schema_try(def, ch, n, stmt, err, sizeof err);
	ck_assert_msg(rc == 0, "%s: %s: %s", F.c->label, stmt, err);
	rc = schema_try(def, ch, n, stmt, err, sizeof err);
	ck_assert_msg(rc == 0, "%s: %s applied again: %s", F.c->label, stmt, err);
}

/* Rows: "1,abc,7" per row, values in column order ("~" is NULL); ints
 * for int and bigint columns, text for the others. */
static void rows_insert(const dbs_table *def, int nrows, ...)
{
	char err[DBS_ERRMSG_MAX];
	dbs_batch *b = NULL;
	va_list ap;
	dbs_position pos = next_pos();
	ck_assert_int_eq(dbs_batch_new(&b, (uint32_t)nrows), 0);
	va_start(ap, nrows);
	for (int r = 0; r < nrows; r++) {
		char buf[256];
		dbs_event *ev = NULL;
		snprintf(buf, sizeof buf, "%s", va_arg(ap, const char *));
		ck_assert_int_eq(dbs_batch_add(b, DBS_OP_INSERT, def, &ev), 0);
		ev->pos = pos;
		ev->pos.event = (uint32_t)r + 1;
		ev->pos.txn_end = r == nrows - 1;
		ev->commit_time_us = now_us();
		char *save = NULL, *v = strtok_r(buf, ",", &save);
		for (uint32_t c = 0; c < def->ncolumns; c++, v = strtok_r(NULL, ",", &save)) {
			ck_assert_msg(v, "row %d lacks column %u", r, c);
			const char *tn = def->columns[c].type_name;
			if (strcmp(v, "~") == 0)
				ev->after[c].kind = DBS_VALUE_NULL;
			else if (strcmp(tn, "int") == 0 || strcmp(tn, "integer") == 0 ||
			         strcmp(tn, "bigint") == 0)
				ev->after[c] = (dbs_value){.kind = DBS_VALUE_INT, .v.i = atoll(v)};
			else
				ck_assert_int_eq(
				    dbs_batch_set_bytes(b, &ev->after[c],
				                        strncmp(tn, "decimal", 7) == 0 ||
				                                strncmp(tn, "numeric", 7) == 0
				                            ? DBS_VALUE_DECIMAL
				                            : DBS_VALUE_TEXT,
				                        v, strlen(v)),
				    0);
		}
	}
	va_end(ap);
	int rc = apply(b, err, sizeof err);
	ck_assert_msg(rc == 0, "%s: rows into %s: %s", F.c->label, def->name, err);
	dbs_batch_free(b);
}

/* ---- the target's catalog and rows ---- */

/* A value of the target as a new string (NULL for SQL NULL). */
static char *value(const char *sql)
{
	return F.c->my ? itest_my_value(F.my, sql) : itest_pg_value(F.pg, sql);
}

/* The type of column `col` of table `table` as the target's catalog
 * spells it, or "-" when absent. */
static void column_type(const char *table, const char *col, char *out, size_t size)
{
	char q[512];
	if (F.c->my)
		snprintf(q, sizeof q,
		         "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
		         "DATABASE() AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s'",
		         table, col);
	else
		snprintf(
		    q, sizeof q,
		    "SELECT coalesce((SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
		    "WHERE attrelid = to_regclass('" SCHEMA ".%s') AND attname = '%s' AND "
		    "attnum > 0 AND NOT attisdropped), '-')",
		    table, col);
	char *v = value(q);
	snprintf(out, size, "%s", v ? v : "-");
	free(v);
}

static void assert_type(const char *table, const char *col, const char *want_pg,
                        const char *want_my)
{
	char got[128];
	column_type(table, col, got, sizeof got);
	const char *want = F.c->my ? want_my : want_pg;
	ck_assert_msg(strcmp(got, want) == 0, "%s: %s.%s is %s, expected %s", F.c->label, table,
	              col, got, want);
}

static void assert_absent(const char *table, const char *col)
{
	assert_type(table, col, "-", "-");
}

static int table_exists(const char *table)
{
	char q[512];
	if (F.c->my)
		snprintf(q, sizeof q,
		         "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
		         "DATABASE() AND TABLE_NAME = '%s'",
		         table);
	else
		snprintf(q, sizeof q,
		         "SELECT count(*) FROM pg_class WHERE oid = to_regclass('" SCHEMA ".%s')",
		         table);
	char *v = value(q);
	int n = v ? atoi(v) : 0;
	free(v);
	return n;
}

static int index_exists(const char *table, const char *index)
{
	char q[512];
	if (F.c->my)
		snprintf(q, sizeof q,
		         "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
		         "DATABASE() AND TABLE_NAME = '%s' AND INDEX_NAME = '%s'",
		         table, index);
	else
		snprintf(q, sizeof q,
		         "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
		         "WHERE i.indrelid = to_regclass('" SCHEMA
		         ".%s') AND c.relname LIKE '%%%s'",
		         table, index);
	char *v = value(q);
	int n = v ? atoi(v) : 0;
	free(v);
	return n;
}

/* The rows of `table` as "v,v,v;" text ordered by id, columns `cols`. */
static void rows_text(const char *table, const char *cols, char *out, size_t size)
{
	char q[1024];
	if (F.c->my)
		snprintf(q, sizeof q,
		         "SELECT COALESCE(GROUP_CONCAT(CONCAT_WS(',', %s) ORDER BY id SEPARATOR "
		         "';'), '') "
		         "FROM `%s`",
		         cols, table);
	else
		snprintf(q, sizeof q,
		         "SELECT coalesce(string_agg(concat_ws(',', %s), ';' ORDER BY id), '') "
		         "FROM " SCHEMA ".%s",
		         cols, table);
	char *v = value(q);
	snprintf(out, size, "%s", v ? v : "");
	free(v);
}

static void assert_rows(const char *table, const char *cols, const char *want)
{
	char got[2048];
	rows_text(table, cols, got, sizeof got);
	ck_assert_msg(strcmp(got, want) == 0, "%s: rows of %s (%s) are \"%s\", expected \"%s\"",
	              F.c->label, table, cols, got, want);
}

static void target_sql(const char *sql)
{
	if (F.c->my)
		itest_my_exec(F.my, sql);
	else
		itest_pg_exec(F.pg, sql);
}

/* ---- the cases ---- */

/* ADD COLUMN with a default, NULL, NOT NULL without one; DROP COLUMN;
 * RENAME COLUMN; rows before, between and after. */
START_TEST(test_columns)
{
	setup(_i);
	dbs_table *v1 = def_new("t", 1, "id:int:k,a:vc10");
	rows_insert(v1, 2, "1,x", "2,y");

	dbs_table *v2 = def_new("t", 2, "id:int:k,a:vc10,n:int:nn");
	schema_ok(v2,
	          &(dbs_schema_change){.kind = DBS_SCHEMA_ADD_COLUMN,
	                               .column = 2,
	                               .default_kind = DBS_DEFAULT_LITERAL,
	                               .default_text = "7"},
	          1, "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 7");
	assert_type("t", "n", "integer", "int(11)");
	rows_insert(v2, 1, "3,z,9");
	assert_rows("t", "id,a,n", "1,x,7;2,y,7;3,z,9");

	dbs_table *v3 = def_new("t", 3, "id:int:k,a:vc10,n:int:nn,e:vc20");
	schema_ok(v3,
	          &(dbs_schema_change){
	              .kind = DBS_SCHEMA_ADD_COLUMN, .column = 3, .default_kind = DBS_DEFAULT_NULL},
	          1, "ALTER TABLE t ADD COLUMN e varchar(20)");
	dbs_table *v4 = def_new("t", 4, "id:int:k,a:vc10,n:int:nn,e:vc20,z:int:nn");
	schema_ok(v4, &(dbs_schema_change){.kind = DBS_SCHEMA_ADD_COLUMN, .column = 4}, 1,
	          "ALTER TABLE t ADD COLUMN z int NOT NULL");
	assert_rows("t", "id,coalesce(e,'null'),z", "1,null,0;2,null,0;3,null,0");

	/* The rows there hold the time of the change at the source. */
	dbs_table *v4b = def_new("t", 40, "id:int:k,a:vc10,n:int:nn,e:vc20,z:int:nn,c:ts");
	F.commit_us = INT64_C(1767323045123456); /* 2026-01-02 03:04:05.123456 UTC */
	schema_ok(v4b,
	          &(dbs_schema_change){
	              .kind = DBS_SCHEMA_ADD_COLUMN, .column = 5, .default_kind = DBS_DEFAULT_NOW},
	          1, "ALTER TABLE t ADD COLUMN c datetime(6) DEFAULT CURRENT_TIMESTAMP(6)");
	F.commit_us = 0;
	assert_rows("t", "id,c",
	            "1,2026-01-02 03:04:05.123456;2,2026-01-02 03:04:05.123456;"
	            "3,2026-01-02 03:04:05.123456");
	schema_ok(v4, &(dbs_schema_change){.kind = DBS_SCHEMA_DROP_COLUMN, .from_name = "c"}, 1,
	          "ALTER TABLE t DROP COLUMN c");
	dbs_table_unref(v4b);

	dbs_table *v5 = def_new("t", 5, "id:int:k,n:int:nn,e:vc20,z:int:nn");
	schema_ok(v5, &(dbs_schema_change){.kind = DBS_SCHEMA_DROP_COLUMN, .from_name = "a"}, 1,
	          "ALTER TABLE t DROP COLUMN a");
	assert_absent("t", "a");
	rows_insert(v5, 1, "4,10,four,1");

	dbs_table *v6 = def_new("t", 6, "id:int:k,m:int:nn,e:vc20,z:int:nn");
	schema_ok(
	    v6,
	    &(dbs_schema_change){.kind = DBS_SCHEMA_RENAME_COLUMN, .column = 1, .from_name = "n"},
	    1, "ALTER TABLE t RENAME COLUMN n TO m");
	assert_absent("t", "n");
	assert_type("t", "m", "integer", "int(11)");
	/* The rename kept the values: never a drop and an add. */
	assert_rows("t", "id,m", "1,7;2,7;3,9;4,10");
	rows_insert(v6, 1, "5,11,five,2");
	assert_rows("t", "id,m,e", "1,7;2,7;3,9;4,10,four;5,11,five");

	dbs_table_unref(v1);
	dbs_table_unref(v2);
	dbs_table_unref(v3);
	dbs_table_unref(v4);
	dbs_table_unref(v5);
	dbs_table_unref(v6);
	teardown();
}
END_TEST

/* Widening: varchar, int -> bigint, decimal precision, an ENUM member
 * added, NOT NULL dropped. */
START_TEST(test_widen)
{
	setup(_i);
	int en = F.c->src == DBS_DIALECT_MYSQL;
	dbs_table *v1 = def_new("w", 1,
	                        en ? "id:int:k,s:vc10,i:int,d:dec10,x:vc10:nn,e:enum2"
	                           : "id:int:k,s:vc10,i:int,d:dec10,x:vc10:nn");
	rows_insert(v1, 1, en ? "1,abc,5,1.50,q,a" : "1,abc,5,1.50,q");
	dbs_table *v2 = def_new("w", 2,
	                        en ? "id:int:k,s:vc20,i:bigint,d:dec12,x:vc10,e:enum3"
	                           : "id:int:k,s:vc20,i:bigint,d:dec12,x:vc10");
	dbs_schema_change ch[5] = {
	    {.kind = DBS_SCHEMA_ALTER_COLUMN, .column = 1},
	    {.kind = DBS_SCHEMA_ALTER_COLUMN, .column = 2},
	    {.kind = DBS_SCHEMA_ALTER_COLUMN, .column = 3},
	    {.kind = DBS_SCHEMA_ALTER_COLUMN, .column = 4},
	    {.kind = DBS_SCHEMA_ALTER_COLUMN, .column = 5},
	};
	schema_ok(v2, ch, en ? 5 : 4,
	          "ALTER TABLE w MODIFY s varchar(20), MODIFY i bigint, MODIFY d decimal(12,2), "
	          "MODIFY x varchar(10) NULL");
	assert_type("w", "s", "character varying(20)", "varchar(20)");
	assert_type("w", "i", "bigint", "bigint(20)");
	assert_type("w", "d", "numeric(12,2)", "decimal(12,2)");
	rows_insert(v2, 1,
	            en ? "2,abcdefghijklmnopqrst,9000000000,1234567890.12,~,c"
	               : "2,abcdefghijklmnopqrst,9000000000,1234567890.12,~");
	assert_rows("w", "id,s,i,d,coalesce(x,'null')",
	            "1,abc,5,1.50,q;2,abcdefghijklmnopqrst,9000000000,1234567890.12,null");
	if (en)
		assert_rows("w", "id,e", "1,a;2,c");
	dbs_table_unref(v1);
	dbs_table_unref(v2);
	teardown();
}
END_TEST

/* A narrowing change stops at the change with the message, applies
 * nothing; after the user made the target match, the same event (the
 * stream resumed with the same id) passes and the rows after it apply. */
START_TEST(test_unsafe)
{
	setup(_i);
	char err[DBS_ERRMSG_MAX];
	dbs_table *v1 = def_new("u", 1, "id:int:k,s:vc20");
	rows_insert(v1, 2, "1,short", "2,much longer");
	dbs_table *v2 = def_new("u", 2, "id:int:k,s:vc5");
	dbs_schema_change ch = {.kind = DBS_SCHEMA_ALTER_COLUMN, .column = 1, .unsafe = 1};
	const char *stmt = "ALTER TABLE u MODIFY s varchar(5)";
	dbs_batch *b = schema_batch(v2, &ch, 1, stmt, (dbs_position){0});
	int rc = apply(b, err, sizeof err);
	ck_assert_msg(rc < 0, "%s: a narrowing change applied", F.c->label);
	ck_assert_msg(
	    strstr(err, ".u") && strstr(err, stmt) && strstr(err, "resume the stream (same id)") &&
	        strstr(err, F.c->my ? "MODIFY COLUMN `s` varchar(5)" : "ALTER COLUMN \"s\" TYPE"),
	    "%s: message: %s", F.c->label, err);
	assert_type("u", "s", "character varying(20)", "varchar(20)");
	assert_rows("u", "id,s", "1,short;2,much longer");

	/* The stream failed: the target is opened again after the user's
	 * fix, and given the same change again. */
	target_close();
	if (F.c->my) {
		target_sql("UPDATE u SET s = LEFT(s, 5)");
		target_sql("ALTER TABLE u MODIFY s varchar(5)");
	} else
		target_sql("UPDATE " SCHEMA ".u SET s = left(s, 5); ALTER TABLE " SCHEMA
		           ".u ALTER COLUMN s TYPE varchar(5)");
	target_open(NULL);
	rc = apply(b, err, sizeof err);
	ck_assert_msg(rc == 0, "%s: after the fix: %s", F.c->label, err);
	dbs_batch_free(b);
	rows_insert(v2, 1, "3,abcde");
	assert_rows("u", "id,s", "1,short;2,much ;3,abcde");

	/* A primary key change and a statement the source could not
	 * describe stop likewise. */
	dbs_table *v3 = def_new("u", 3, "id:int:k,s:vc5:k");
	rc = schema_try(v3, &(dbs_schema_change){.kind = DBS_SCHEMA_ALTER_KEY, .unsafe = 1}, 1,
	                "ALTER TABLE u DROP PRIMARY KEY, ADD PRIMARY KEY (id, s)", err, sizeof err);
	ck_assert_msg(rc < 0 && strstr(err, "primary key") && strstr(err, "ADD PRIMARY KEY"),
	              "%s: key change: %d %s", F.c->label, rc, err);
	rc = schema_try(v2, &(dbs_schema_change){.kind = DBS_SCHEMA_OTHER, .unsafe = 1}, 1,
	                "ALTER TABLE u ENGINE=Aria", err, sizeof err);
	ck_assert_msg(rc == 0, "%s: OTHER with the definition in place: %s", F.c->label, err);

	/* An added column whose default is an expression of the source. */
	dbs_table *v4 = def_new("u", 4, "id:int:k,s:vc5,t:ts");
	rc = schema_try(v4,
	                &(dbs_schema_change){.kind = DBS_SCHEMA_ADD_COLUMN,
	                                     .column = 2,
	                                     .default_kind = DBS_DEFAULT_EXPR,
	                                     .default_text = "some_function()"},
	                1, "ALTER TABLE u ADD t datetime(6) DEFAULT some_function()", err,
	                sizeof err);
	ck_assert_msg(rc < 0 && strstr(err, "some_function()"), "%s: expr default: %s", F.c->label,
	              err);
	assert_absent("u", "t");
	dbs_table_unref(v1);
	dbs_table_unref(v2);
	dbs_table_unref(v3);
	dbs_table_unref(v4);
	teardown();
}
END_TEST

/* RENAME TABLE, CREATE TABLE with its index, ADD/DROP INDEX. */
START_TEST(test_tables)
{
	setup(_i);
	uint32_t s_col[1] = {1};
	dbs_table *a = def_new("a", 1, "id:int:k,s:vc10");
	ck_assert_int_eq(dbs_table_add_index(a, "s_idx", 0, s_col, 1), 0);
	rows_insert(a, 2, "1,one", "2,two");
	dbs_table *b = def_new("b", 1, "id:int:k,s:vc10");
	ck_assert_int_eq(dbs_table_add_index(b, "s_idx", 0, s_col, 1), 0);
	schema_ok(b,
	          &(dbs_schema_change){
	              .kind = DBS_SCHEMA_RENAME_TABLE, .from_schema = SCHEMA, .from_name = "a"},
	          1, "RENAME TABLE a TO b");
	ck_assert_msg(!table_exists("a") && table_exists("b"), "%s: rename", F.c->label);
	assert_rows("b", "id,s", "1,one;2,two");
	rows_insert(b, 1, "3,three");
	assert_rows("b", "id,s", "1,one;2,two;3,three");
	/* A PostgreSQL target names a MySQL table's indexes after the table:
	 * they follow its name. */
	if (!F.c->my) {
		char *n = value(F.c->src == DBS_DIALECT_MYSQL
		                    ? "SELECT count(*) FROM pg_class WHERE relname = 'b_s_idx'"
		                    : "SELECT count(*) FROM pg_class WHERE relname = 's_idx'");
		ck_assert_msg(n && strcmp(n, "1") == 0, "%s: the index after the rename",
		              F.c->label);
		free(n);
	}

	/* A change of a table that never reached the target makes it as the
	 * source has it now. */
	dbs_table *nv = def_new("n", 2, "id:int:k,s:vc10,x:int");
	schema_ok(nv, &(dbs_schema_change){.kind = DBS_SCHEMA_ADD_COLUMN, .column = 2}, 1,
	          "ALTER TABLE n ADD x int");
	assert_type("n", "x", "integer", "int(11)");
	assert_type("n", "s", "character varying(10)", "varchar(10)");
	dbs_table_unref(nv);

	dbs_table *c = def_new("c", 1, "id:int:k,s:vc10,n:int");
	uint32_t ix_cols[1] = {1};
	ck_assert_int_eq(dbs_table_add_index(c, "c_s", 0, ix_cols, 1), 0);
	schema_ok(c, &(dbs_schema_change){.kind = DBS_SCHEMA_CREATE_TABLE}, 1,
	          "CREATE TABLE c (id int PRIMARY KEY, s varchar(10), n int, KEY c_s (s))");
	ck_assert_msg(table_exists("c") && index_exists("c", "c_s"), "%s: create", F.c->label);
	assert_type("c", "n", "integer", "int(11)");
	rows_insert(c, 1, "1,x,5");
	assert_rows("c", "id,s,n", "1,x,5");

	dbs_table *c2 = def_new("c", 2, "id:int:k,s:vc10,n:int");
	uint32_t ix2[1] = {2};
	ck_assert_int_eq(dbs_table_add_index(c2, "c_s", 0, ix_cols, 1), 0);
	ck_assert_int_eq(dbs_table_add_index(c2, "c_n", DBS_INDEX_UNIQUE, ix2, 1), 0);
	schema_ok(c2, &(dbs_schema_change){.kind = DBS_SCHEMA_ADD_INDEX, .column = 1}, 1,
	          "CREATE UNIQUE INDEX c_n ON c (n)");
	ck_assert_msg(index_exists("c", "c_n"), "%s: add index", F.c->label);
	dbs_table *c3 = def_new("c", 3, "id:int:k,s:vc10,n:int");
	ck_assert_int_eq(dbs_table_add_index(c3, "c_n", DBS_INDEX_UNIQUE, ix2, 1), 0);
	schema_ok(c3, &(dbs_schema_change){.kind = DBS_SCHEMA_DROP_INDEX, .from_name = "c_s"}, 1,
	          "DROP INDEX c_s ON c");
	ck_assert_msg(!index_exists("c", "c_s") && index_exists("c", "c_n"), "%s: drop index",
	              F.c->label);
	rows_insert(c3, 1, "2,y,6");
	assert_rows("c", "id,s,n", "1,x,5;2,y,6");
	dbs_table_unref(a);
	dbs_table_unref(b);
	dbs_table_unref(c);
	dbs_table_unref(c2);
	dbs_table_unref(c3);
	teardown();
}
END_TEST

/* DROP TABLE and TRUNCATE: skipped with a warning by default, applied
 * when target.options.schemaChanges names them; "none" stops at any
 * change. */
START_TEST(test_policy)
{
	setup(_i);
	char err[DBS_ERRMSG_MAX];
	dbs_table *d = def_new("d", 1, "id:int:k,s:vc10");
	rows_insert(d, 2, "1,one", "2,two");
	schema_ok(d, &(dbs_schema_change){.kind = DBS_SCHEMA_TRUNCATE_TABLE}, 1, "TRUNCATE d");
	schema_ok(d, &(dbs_schema_change){.kind = DBS_SCHEMA_DROP_TABLE}, 1, "DROP TABLE d");
	ck_assert_msg(table_exists("d"), "%s: dropped without the policy", F.c->label);
	assert_rows("d", "id,s", "1,one;2,two");
	ck_assert_msg(strstr(F.log, "TRUNCATE of the source not applied") &&
	                  strstr(F.log, "DROP TABLE of the source not applied"),
	              "%s: no warning: %s", F.c->label, F.log);
	/* The table of that name is not the one the source creates again. */
	dbs_table *d2 = def_new("d", 2, "id:int:k,q:int");
	int rc = schema_try(d2, &(dbs_schema_change){.kind = DBS_SCHEMA_CREATE_TABLE}, 1,
	                    "CREATE TABLE d (id int PRIMARY KEY, q int)", err, sizeof err);
	ck_assert_msg(rc < 0 && strstr(err, "another definition") && strstr(err, "schemaChanges"),
	              "%s: created over the old table: %d %s", F.c->label, rc, err);

	target_close();
	target_open("truncate, dropTable");
	schema_ok(d, &(dbs_schema_change){.kind = DBS_SCHEMA_TRUNCATE_TABLE}, 1, "TRUNCATE d");
	ck_assert_msg(table_exists("d"), "%s: truncate dropped", F.c->label);
	assert_rows("d", "id,s", "");
	rows_insert(d, 1, "3,three");
	assert_rows("d", "id,s", "3,three");
	schema_ok(d, &(dbs_schema_change){.kind = DBS_SCHEMA_DROP_TABLE}, 1, "DROP TABLE d");
	ck_assert_msg(!table_exists("d"), "%s: not dropped", F.c->label);
	schema_ok(d2, &(dbs_schema_change){.kind = DBS_SCHEMA_CREATE_TABLE}, 1,
	          "CREATE TABLE d (id int PRIMARY KEY, q int)");
	assert_type("d", "q", "integer", "int(11)");
	assert_absent("d", "s");

	target_close();
	target_open("none");
	dbs_table *e = def_new("e", 1, "id:int:k");
	rows_insert(e, 1, "1");
	dbs_table *e2 = def_new("e", 2, "id:int:k,n:int");
	rc = schema_try(e2, &(dbs_schema_change){.kind = DBS_SCHEMA_ADD_COLUMN, .column = 1}, 1,
	                "ALTER TABLE e ADD n int", err, sizeof err);
	ck_assert_msg(rc < 0 && strstr(err, "none") && strstr(err, "ALTER TABLE e ADD n int"),
	              "%s: none: %d %s", F.c->label, rc, err);
	assert_absent("e", "n");
	dbs_table_unref(d);
	dbs_table_unref(d2);
	dbs_table_unref(e);
	dbs_table_unref(e2);
	teardown();
}
END_TEST

/*
 * Batches applied with transactions left open between them: grouped
 * source transactions (rows, a change, rows, each its own source
 * transaction, committed by one flush), or one source transaction that
 * writes rows, changes the table and writes rows again (PostgreSQL does;
 * a MySQL target commits what is open at the change). The rows around
 * the change land in the right columns, and a change failing inside the
 * open transaction leaves everything before it committed or re-appliable.
 */
static void open_case(int group)
{
	char err[DBS_ERRMSG_MAX];
	dbs_table *v1 = def_new("g", 1, "id:int:k,a:vc10");
	rows_insert(v1, 1, "1,x");
	target_close();
	target_open(NULL);
	F.cfg.span_transactions = 1;
	F.cfg.group_transactions = group;
	dbs_table *v2 = def_new("g", 2, "id:int:k,b:vc10,n:int");
	dbs_schema_change ch[2] = {
	    {.kind = DBS_SCHEMA_RENAME_COLUMN, .column = 1, .from_name = "a"},
	    {.kind = DBS_SCHEMA_ADD_COLUMN,
	     .column = 2,
	     .default_kind = DBS_DEFAULT_LITERAL,
	     .default_text = "3"},
	};
	/* Rows, then the change, then rows, never flushed between. */
	dbs_batch *bs[3] = {NULL, NULL, NULL};
	dbs_event *ev;
	ck_assert_int_eq(dbs_batch_new(&bs[0], 40), 0);
	dbs_position pos = next_pos();
	for (int r = 0; r < 40; r++) {
		char s[16];
		ck_assert_int_eq(dbs_batch_add(bs[0], DBS_OP_INSERT, v1, &ev), 0);
		ev->pos = pos;
		ev->pos.event = (uint32_t)r + 1;
		ev->pos.txn_end = group && r == 39;
		ev->after[0] = (dbs_value){.kind = DBS_VALUE_INT, .v.i = 10 + r};
		snprintf(s, sizeof s, "r%d", r);
		ck_assert_int_eq(
		    dbs_batch_set_bytes(bs[0], &ev->after[1], DBS_VALUE_TEXT, s, strlen(s)), 0);
	}
	if (!group)
		pos.event = 41, pos.txn_end = 0;
	bs[1] = schema_batch(v2, ch, 2, "ALTER TABLE g RENAME COLUMN a TO b, ADD n int DEFAULT 3",
	                     group ? (dbs_position){0} : pos);
	ck_assert_int_eq(dbs_batch_new(&bs[2], 1), 0);
	ck_assert_int_eq(dbs_batch_add(bs[2], DBS_OP_INSERT, v2, &ev), 0);
	if (group) {
		ev->pos = next_pos();
	} else {
		ev->pos = pos;
		ev->pos.event = 42;
		ev->pos.txn_end = 1;
	}
	ev->after[0] = (dbs_value){.kind = DBS_VALUE_INT, .v.i = 100};
	ck_assert_int_eq(dbs_batch_set_bytes(bs[2], &ev->after[1], DBS_VALUE_TEXT, "after", 5), 0);
	ev->after[2] = (dbs_value){.kind = DBS_VALUE_INT, .v.i = 4};
	for (int i = 0; i < 3; i++) {
		err[0] = '\0';
		int rc = F.ops->apply(F.t, bs[i], err, sizeof err);
		ck_assert_msg(rc == 0 || rc == DBS_APPLY_OPEN, "%s: batch %d: %d %s", F.c->label, i,
		              rc, err);
	}
	ck_assert_int_eq(F.ops->flush(F.t, err, sizeof err), 0);
	assert_rows("g", "id,b,n",
	            "1,x,3;10,r0,3;11,r1,3;12,r2,3;13,r3,3;14,r4,3;15,r5,3;16,r6,3;"
	            "17,r7,3;18,r8,3;19,r9,3;20,r10,3;21,r11,3;22,r12,3;23,r13,3;"
	            "24,r14,3;25,r15,3;26,r16,3;27,r17,3;28,r18,3;29,r19,3;30,r20,3;"
	            "31,r21,3;32,r22,3;33,r23,3;34,r24,3;35,r25,3;36,r26,3;37,r27,3;"
	            "38,r28,3;39,r29,3;40,r30,3;41,r31,3;42,r32,3;43,r33,3;44,r34,3;"
	            "45,r35,3;46,r36,3;47,r37,3;48,r38,3;49,r39,3;100,after,4");
	for (int i = 0; i < 3; i++)
		dbs_batch_free(bs[i]);

	/* An unsafe change inside the open transaction: refused; what came
	 * before it is committed (MySQL) or is applied again after a restart
	 * (PostgreSQL rolls it back with the change). */
	dbs_table *v3 = def_new("g", 3, "id:int:k,b:vc5,n:int");
	dbs_batch *rb = NULL;
	ck_assert_int_eq(dbs_batch_new(&rb, 1), 0);
	ck_assert_int_eq(dbs_batch_add(rb, DBS_OP_INSERT, v2, &ev), 0);
	pos = next_pos();
	ev->pos = pos;
	ev->pos.txn_end = group;
	ev->after[0] = (dbs_value){.kind = DBS_VALUE_INT, .v.i = 200};
	ck_assert_int_eq(dbs_batch_set_bytes(rb, &ev->after[1], DBS_VALUE_TEXT, "before", 6), 0);
	ev->after[2] = (dbs_value){.kind = DBS_VALUE_INT, .v.i = 5};
	int rc = F.ops->apply(F.t, rb, err, sizeof err);
	ck_assert_msg(rc == 0 || rc == DBS_APPLY_OPEN, "%s: row: %d %s", F.c->label, rc, err);
	if (!group)
		pos.event = 2, pos.txn_end = 0;
	dbs_batch *sb = schema_batch(
	    v3, &(dbs_schema_change){.kind = DBS_SCHEMA_ALTER_COLUMN, .column = 1, .unsafe = 1}, 1,
	    "ALTER TABLE g MODIFY b varchar(5)", group ? (dbs_position){0} : pos);
	rc = F.ops->apply(F.t, sb, err, sizeof err);
	ck_assert_msg(rc < 0 || rc == DBS_APPLY_REPLAY, "%s: unsafe change applied: %d", F.c->label,
	              rc);
	assert_type("g", "b", "character varying(10)", "varchar(10)");
	dbs_batch_free(sb);
	dbs_batch_free(rb);
	dbs_table_unref(v1);
	dbs_table_unref(v2);
	dbs_table_unref(v3);
}

START_TEST(test_grouped)
{
	setup(_i);
	open_case(1);
	teardown();
}
END_TEST

START_TEST(test_span)
{
	setup(_i);
	open_case(0);
	teardown();
}
END_TEST

/* A writer of its own (another partition of the stream): its own
 * session and checkpoint. */
typedef struct writer {
	dbs_host host;
	dbs_target *t;
	dbs_batch *b;
	int rc;
	char err[DBS_ERRMSG_MAX];
} writer;

static void *writer_apply(void *arg)
{
	writer *w = arg;
	w->rc = F.ops->apply(w->t, w->b, w->err, sizeof w->err);
	return NULL;
}

/* Writers sharing a stream are each given the change at once: one
 * applies it, the others find it done. The test holds the table locked
 * until both writers wait, so that neither has applied it when the other
 * looks at the catalog. */
START_TEST(test_writers)
{
	setup(_i);
	dbs_table *v1 = def_new("p", 1, "id:int:k");
	rows_insert(v1, 1, "1");
	dbs_table *v2 = def_new("p", 2, "id:int:k,n:int");
	dbs_schema_change ch = {.kind = DBS_SCHEMA_ADD_COLUMN,
	                        .column = 1,
	                        .default_kind = DBS_DEFAULT_LITERAL,
	                        .default_text = "5"};
	writer w[2];
	memset(w, 0, sizeof w);
	for (int i = 0; i < 2; i++) {
		dbs_position cp;
		w[i].host = F.host;
		w[i].host.stream_id = i ? "schema-target-test-w2" : "schema-target-test-w1";
		int rc = F.ops->open(&w[i].t, &F.cfg, &w[i].host, &cp, w[i].err, sizeof w[i].err);
		ck_assert_msg(rc == 0, "open writer %d: %s", i, w[i].err);
		w[i].b = schema_batch(v2, &ch, 1, "ALTER TABLE p ADD n int DEFAULT 5",
		                      (dbs_position){0});
	}
	if (F.c->my)
		target_sql("LOCK TABLES p WRITE");
	else
		target_sql("BEGIN; LOCK TABLE " SCHEMA ".p IN ACCESS EXCLUSIVE MODE");
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer_apply, &w[i]), 0);
	sleep(2);
	target_sql(F.c->my ? "UNLOCK TABLES" : "COMMIT");
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(w[i].rc == 0, "%s: writer %d: %s", F.c->label, i, w[i].err);
		F.ops->close(w[i].t);
		dbs_batch_free(w[i].b);
	}
	assert_type("p", "n", "integer", "int(11)");
	assert_rows("p", "id,n", "1,5");
	dbs_table_unref(v1);
	dbs_table_unref(v2);
	teardown();
}
END_TEST

static Suite *schema_suite(void)
{
	Suite *s = suite_create("schema_target");
	TCase *tc = tcase_create("kinds");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_columns, 0, NCOMBOS);
	tcase_add_loop_test(tc, test_widen, 0, NCOMBOS);
	tcase_add_loop_test(tc, test_unsafe, 0, NCOMBOS);
	tcase_add_loop_test(tc, test_tables, 0, NCOMBOS);
	tcase_add_loop_test(tc, test_policy, 0, NCOMBOS);
	tcase_add_loop_test(tc, test_grouped, 0, NCOMBOS);
	tcase_add_loop_test(tc, test_span, 0, NCOMBOS);
	tcase_add_loop_test(tc, test_writers, 0, NCOMBOS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(schema_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
