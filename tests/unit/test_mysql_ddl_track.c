/*
 * The MySQL source's own definition of a table after a schema statement
 * (ddl_track.c), without servers: statements parsed as the binlog logs
 * them, applied to a definition, and the new definition (names, types as
 * information_schema spells them, flags, indexes) and the schema changes
 * a target is given checked field by field.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#include "sources/mysql/binlog.h"
#include "sources/mysql/ddl.h"
#include "sources/mysql/ddl_track.h"

static dbs_batch *arena;
static dbs_table *after;
static int before_is_now; /* the definition is information_schema's now */
static dbs_schema_change *changes;
static uint32_t nchanges;

static void setup(void)
{
	ck_assert_int_eq(dbs_batch_new(&arena, 1), 0);
	after = NULL;
	changes = NULL;
	nchanges = 0;
	before_is_now = 0;
}

static void teardown(void)
{
	if (after)
		dbs_table_unref(after);
	dbs_batch_free(arena);
}

/* t(id int PK, name varchar(20), qty int unsigned NOT NULL), index
 * name_ix(name), version 3. */
static dbs_table *base_table(void)
{
	dbs_column cols[] = {
	    {"id", "int", MY_T_LONG, 0, DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL},
	    {"name", "varchar(20)", MY_T_VARCHAR, 80, 0},
	    {"qty", "int unsigned", MY_T_LONG, 0, DBS_COLUMN_NOT_NULL | DBS_COLUMN_UNSIGNED},
	};
	dbs_table *t = NULL;
	ck_assert_int_eq(dbs_table_new(&t, DBS_DIALECT_MYSQL, "db", "t", cols, 3), 0);
	uint32_t ix[] = {1};
	ck_assert_int_eq(dbs_table_add_index(t, "name_ix", 0, ix, 1), 0);
	t->version = 3;
	return t;
}

/* Apply `sql` (one table's statement, database "db") to `before`. */
static void apply(const dbs_table *before, const char *sql)
{
	dbs_mysql_ddl *ddl = NULL;
	ck_assert_int_eq(dbs__mysql_ddl_parse(&ddl, sql, strlen(sql), "db", 2, 0), 0);
	ck_assert_msg(ddl->cls == DBS_MYSQL_DDL_CHANGES, "%s: %s", sql, ddl->why);
	if (after)
		dbs_table_unref(after);
	after = NULL;
	ck_assert_int_eq(dbs__mys_track_apply(before, before_is_now, "db",
	                                      before ? before->name : "n",
	                                      ddl->changes, ddl->nchanges, arena, &after,
	                                      &changes, &nchanges),
	                 0);
	dbs__mysql_ddl_free(ddl); /* nothing of the result points into it */
	ck_assert_ptr_nonnull(after);
}

static void col_is(uint32_t i, const char *name, const char *type, uint32_t flags)
{
	ck_assert_uint_lt(i, after->ncolumns);
	ck_assert_str_eq(after->columns[i].name, name);
	ck_assert_str_eq(after->columns[i].type_name, type);
	ck_assert_uint_eq(after->columns[i].flags, flags);
}

START_TEST(add_column_with_default)
{
	dbs_table *t = base_table();
	apply(t, "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 5 AFTER id");
	ck_assert_uint_eq(after->ncolumns, 4);
	ck_assert_uint_eq(after->version, 4);
	col_is(0, "id", "int", DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL);
	col_is(1, "n", "int", DBS_COLUMN_NOT_NULL);
	col_is(2, "name", "varchar(20)", 0);
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_ADD_COLUMN);
	ck_assert_uint_eq(changes[0].column, 1);
	ck_assert_uint_eq(changes[0].unsafe, 0);
	ck_assert_uint_eq(changes[0].default_kind, DBS_DEFAULT_LITERAL);
	ck_assert_str_eq(changes[0].default_text, "5");
	/* the index still names its column */
	ck_assert_uint_eq(after->nindexes, 1);
	ck_assert_uint_eq(after->indexes[0].columns[0], 2);

	apply(t, "ALTER TABLE t ADD note varchar(10) DEFAULT 'it''s', ADD ts datetime(3) "
	         "DEFAULT CURRENT_TIMESTAMP(3), ADD z decimal(12,2) unsigned, ADD e "
	         "enum('a','b''c') FIRST, ADD u bigint DEFAULT (1 + 2)");
	ck_assert_uint_eq(nchanges, 5);
	col_is(0, "e", "enum('a','b''c')", 0);
	ck_assert_uint_eq(changes[0].default_kind, DBS_DEFAULT_LITERAL);
	ck_assert_str_eq(changes[0].default_text, "it's");
	ck_assert_str_eq(after->columns[changes[0].column].name, "note");
	ck_assert_uint_eq(changes[1].default_kind, DBS_DEFAULT_NOW);
	ck_assert_str_eq(after->columns[changes[1].column].type_name, "datetime(3)");
	ck_assert_str_eq(after->columns[changes[2].column].type_name, "decimal(12,2) unsigned");
	ck_assert_uint_eq(after->columns[changes[2].column].flags, DBS_COLUMN_UNSIGNED);
	ck_assert_uint_eq(changes[3].column, 0);
	ck_assert_uint_eq(changes[4].default_kind, DBS_DEFAULT_EXPR);
	dbs_table_unref(t);
}
END_TEST

START_TEST(drop_and_rename_columns)
{
	dbs_table *t = base_table();
	apply(t, "ALTER TABLE t DROP COLUMN name");
	ck_assert_uint_eq(after->ncolumns, 2);
	col_is(1, "qty", "int unsigned", DBS_COLUMN_NOT_NULL | DBS_COLUMN_UNSIGNED);
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_DROP_COLUMN);
	ck_assert_str_eq(changes[0].from_name, "name");
	ck_assert_uint_eq(changes[0].unsafe, 0);
	ck_assert_uint_eq(after->nindexes, 0); /* its only column went */

	apply(t, "ALTER TABLE t RENAME COLUMN name TO title");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_RENAME_COLUMN);
	ck_assert_str_eq(changes[0].from_name, "name");
	ck_assert_uint_eq(changes[0].column, 1);
	col_is(1, "title", "varchar(20)", 0);
	ck_assert_uint_eq(after->indexes[0].columns[0], 1);

	/* dropping a key column shrinks the key: unsafe */
	apply(t, "ALTER TABLE t DROP id");
	ck_assert_uint_eq(changes[0].unsafe, 1);

	/* described as the statement says, even when the definition read
	 * from information_schema already shows it done */
	dbs_table *renamed = after;
	after = NULL;
	apply(t, "ALTER TABLE t DROP COLUMN IF EXISTS nothere");
	ck_assert_uint_eq(nchanges, 0);
	dbs_table_unref(renamed);
	dbs_table_unref(t);
}
END_TEST

START_TEST(change_types)
{
	dbs_table *t = base_table();
	apply(t, "ALTER TABLE t MODIFY name varchar(40)");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_ALTER_COLUMN);
	ck_assert_uint_eq(changes[0].column, 1);
	ck_assert_uint_eq(changes[0].unsafe, 0);
	col_is(1, "name", "varchar(40)", 0);

	apply(t, "ALTER TABLE t MODIFY name varchar(10)");
	ck_assert_uint_eq(changes[0].unsafe, 1);

	apply(t, "ALTER TABLE t MODIFY name varchar(20) NOT NULL");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].unsafe, 1); /* NOT NULL added */

	apply(t, "ALTER TABLE t MODIFY qty bigint unsigned NOT NULL");
	ck_assert_uint_eq(changes[0].unsafe, 0);
	col_is(2, "qty", "bigint unsigned", DBS_COLUMN_NOT_NULL | DBS_COLUMN_UNSIGNED);

	apply(t, "ALTER TABLE t MODIFY qty int unsigned");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].unsafe, 0); /* NOT NULL dropped */
	col_is(2, "qty", "int unsigned", DBS_COLUMN_UNSIGNED);

	apply(t, "ALTER TABLE t MODIFY qty int unsigned NOT NULL");
	ck_assert_uint_eq(nchanges, 0); /* the same column */

	apply(t, "ALTER TABLE t CHANGE name title varchar(30)");
	ck_assert_uint_eq(nchanges, 2);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_RENAME_COLUMN);
	ck_assert_str_eq(changes[0].from_name, "name");
	ck_assert_uint_eq(changes[1].kind, DBS_SCHEMA_ALTER_COLUMN);
	ck_assert_uint_eq(changes[1].unsafe, 0);
	col_is(1, "title", "varchar(30)", 0);

	/* read from information_schema after the statement: what the column
	 * was is not known, so the change is unsafe (the target decides by
	 * its own column) */
	before_is_now = 1;
	apply(t, "ALTER TABLE t MODIFY name varchar(20)");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_ALTER_COLUMN);
	ck_assert_uint_eq(changes[0].unsafe, 1);
	apply(t, "ALTER TABLE t MODIFY name varchar(30)");
	ck_assert_uint_eq(changes[0].unsafe, 0); /* it was not yet */
	apply(t, "ALTER TABLE t MODIFY gone varchar(30)"); /* dropped since */
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_ALTER_COLUMN);
	ck_assert_uint_eq(changes[0].unsafe, 1);
	col_is(changes[0].column, "gone", "varchar(30)", 0);
	before_is_now = 0;
	apply(t, "ALTER TABLE t MODIFY gone varchar(30)");
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_OTHER);

	apply(t, "ALTER TABLE t MODIFY id int NOT NULL FIRST, MODIFY qty int unsigned NOT NULL "
	         "AFTER id");
	ck_assert_uint_eq(nchanges, 0);
	col_is(0, "id", "int", DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL);
	col_is(1, "qty", "int unsigned", DBS_COLUMN_NOT_NULL | DBS_COLUMN_UNSIGNED);
	col_is(2, "name", "varchar(20)", 0);
	dbs_table_unref(t);
}
END_TEST

START_TEST(keys_indexes_and_table)
{
	dbs_table *t = base_table();
	apply(t, "ALTER TABLE t ADD UNIQUE INDEX q_ix (qty, name), DROP INDEX name_ix");
	ck_assert_uint_eq(nchanges, 2);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_ADD_INDEX);
	ck_assert_uint_eq(changes[1].kind, DBS_SCHEMA_DROP_INDEX);
	ck_assert_str_eq(changes[1].from_name, "name_ix");
	ck_assert_uint_eq(after->nindexes, 1);
	ck_assert_str_eq(after->indexes[changes[0].column].name, "q_ix");
	ck_assert_uint_eq(after->indexes[0].flags, DBS_INDEX_UNIQUE);
	ck_assert_uint_eq(after->indexes[0].ncolumns, 2);
	ck_assert_uint_eq(after->indexes[0].columns[0], 2);

	apply(t, "CREATE INDEX qty ON t (qty)");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_str_eq(after->indexes[changes[0].column].name, "qty");

	apply(t, "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, qty)");
	ck_assert_uint_ge(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_ALTER_KEY);
	ck_assert_uint_eq(changes[0].unsafe, 1);
	ck_assert_uint_eq(after->columns[2].flags & DBS_COLUMN_KEY, DBS_COLUMN_KEY);

	apply(t, "ALTER TABLE t RENAME TO t2");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_RENAME_TABLE);
	ck_assert_str_eq(changes[0].from_schema, "db");
	ck_assert_str_eq(changes[0].from_name, "t");
	ck_assert_str_eq(after->name, "t2");
	ck_assert_uint_eq(after->ncolumns, 3);

	apply(t, "RENAME TABLE t TO other.t3");
	ck_assert_str_eq(after->schema, "other");
	ck_assert_str_eq(after->name, "t3");

	apply(t, "ALTER TABLE t CONVERT TO CHARACTER SET latin1");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_OTHER);
	ck_assert_uint_eq(changes[0].unsafe, 1);
	ck_assert_ptr_nonnull(changes[0].default_text);

	apply(t, "ALTER TABLE t ENGINE=InnoDB, ALTER COLUMN name SET DEFAULT 'x'");
	ck_assert_uint_eq(nchanges, 0);
	dbs_table_unref(t);
}
END_TEST

START_TEST(create_table)
{
	apply(NULL, "CREATE TABLE n (id bigint unsigned NOT NULL AUTO_INCREMENT, code char(3), "
	            "price decimal(8,2) NOT NULL DEFAULT 0, b bit, PRIMARY KEY (id), KEY (code), "
	            "UNIQUE KEY uq (price, code)) ENGINE=InnoDB");
	ck_assert_uint_eq(nchanges, 1);
	ck_assert_uint_eq(changes[0].kind, DBS_SCHEMA_CREATE_TABLE);
	ck_assert_str_eq(after->name, "n");
	ck_assert_uint_eq(after->version, 1);
	ck_assert_uint_eq(after->ncolumns, 4);
	col_is(0, "id", "bigint unsigned",
	       DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL | DBS_COLUMN_UNSIGNED);
	col_is(1, "code", "char(3)", 0);
	col_is(2, "price", "decimal(8,2)", DBS_COLUMN_NOT_NULL);
	col_is(3, "b", "bit(1)", 0);
	ck_assert_uint_eq(after->nindexes, 2);
	ck_assert_str_eq(after->indexes[0].name, "code");
	ck_assert_str_eq(after->indexes[1].name, "uq");
	ck_assert_uint_eq(after->indexes[1].flags, DBS_INDEX_UNIQUE);
}
END_TEST

START_TEST(types_spelled_and_matched)
{
	static const struct {
		const char *sql_type, *spelled;
	} cases[] = {
	    {"INTEGER(11)", "int"},          {"DECIMAL", "decimal(10,0)"},
	    {"NUMERIC(7)", "decimal(7,0)"},  {"CHAR", "char(1)"},
	    {"VARCHAR(255)", "varchar(255)"}, {"FLOAT(30)", "double"},
	    {"DOUBLE(8,3)", "double(8,3)"},  {"TIMESTAMP(6)", "timestamp(6)"},
	    {"TIME", "time"},                {"SET('x','y')", "set('x','y')"},
	    {"TINYINT(3) UNSIGNED ZEROFILL", "tinyint unsigned zerofill"},
	    {"BOOLEAN", "tinyint"},          {"LONGTEXT", "longtext"},
	    {"VARBINARY(16)", "varbinary(16)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		dbs_mysql_ddl *d = NULL;
		ck_assert_int_eq(dbs__mysql_type_parse(&d, cases[i].sql_type, strlen(cases[i].sql_type)),
		                 0);
		ck_assert_msg(d->cls == DBS_MYSQL_DDL_CHANGES, "%s", cases[i].sql_type);
		dbs_buf b = DBS_BUF_INIT;
		ck_assert_int_eq(dbs__mys_type_spell(&b, &d->changes[0].col->type), 0);
		ck_assert_str_eq(b.data, cases[i].spelled);
		dbs_buf_free(&b);
		dbs__mysql_ddl_free(d);
	}
	ck_assert(dbs__mys_type_agrees("int unsigned", MY_T_LONG));
	ck_assert(!dbs__mys_type_agrees("bigint", MY_T_LONG));
	ck_assert(dbs__mys_type_agrees("varchar(40)", MY_T_VARCHAR));
	ck_assert(dbs__mys_type_agrees("json", MY_T_BLOB));
	ck_assert(dbs__mys_type_agrees("mediumtext", MY_T_BLOB));
	ck_assert(dbs__mys_type_agrees("datetime(3)", MY_T_DATETIME2));
	ck_assert(dbs__mys_type_agrees("enum('a')", MY_T_STRING));
	ck_assert(!dbs__mys_type_agrees("varchar(4)", MY_T_LONG));
}
END_TEST

/* ---- the statements captured from MariaDB, replayed ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	char *buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	return buf;
}

typedef struct known {
	char name[300];
	dbs_table *def;
} known;

/* Every result holds together: positions in range, names there. */
static void check_result(const char *sql)
{
	for (uint32_t i = 0; i < after->nindexes; i++)
		for (uint32_t k = 0; k < after->indexes[i].ncolumns; k++)
			ck_assert_msg(after->indexes[i].columns[k] < after->ncolumns, "%s", sql);
	for (uint32_t i = 0; i < nchanges; i++) {
		const dbs_schema_change *c = &changes[i];
		switch (c->kind) {
		case DBS_SCHEMA_ADD_COLUMN:
		case DBS_SCHEMA_RENAME_COLUMN:
		case DBS_SCHEMA_ALTER_COLUMN:
			ck_assert_msg(c->column < after->ncolumns, "%s: change %u", sql, i);
			break;
		case DBS_SCHEMA_ADD_INDEX:
			ck_assert_msg(c->column < after->nindexes, "%s: change %u", sql, i);
			break;
		case DBS_SCHEMA_DROP_COLUMN:
		case DBS_SCHEMA_DROP_INDEX:
			ck_assert_ptr_nonnull(c->from_name);
			break;
		case DBS_SCHEMA_RENAME_TABLE:
			ck_assert_ptr_nonnull(c->from_schema);
			ck_assert_ptr_nonnull(c->from_name);
			break;
		case DBS_SCHEMA_ALTER_KEY:
		case DBS_SCHEMA_OTHER:
			ck_assert_uint_eq(c->unsafe, 1);
			break;
		default: break;
		}
		if (c->kind == DBS_SCHEMA_ADD_COLUMN &&
		    (c->default_kind == DBS_DEFAULT_LITERAL || c->default_kind == DBS_DEFAULT_EXPR))
			ck_assert_ptr_nonnull(c->default_text);
	}
	for (uint32_t i = 0; i < after->ncolumns; i++)
		ck_assert_ptr_nonnull(after->columns[i].type_name);
}

START_TEST(captured_statements_replayed)
{
	char *text = slurp(DBS_TEST_DATA "/ddl/captured.txt");
	known tables[128];
	size_t ntables = 0, applied = 0;
	for (char *p = text; *p;) {
		char db[128], hex[513];
		size_t len;
		unsigned flags = 0;
		ck_assert_int_eq(sscanf(p, "-- db: %127[^\n]\n-- status: %512[0-9a-f]\n-- bytes: %zu\n",
		                        db, hex, &len),
		                 3);
		uint8_t status[256];
		size_t slen = strlen(hex) / 2;
		for (size_t k = 0; k < slen; k++) {
			unsigned byte;
			ck_assert_int_eq(sscanf(hex + 2 * k, "%2x", &byte), 1);
			status[k] = (uint8_t)byte;
		}
		(void)dbs__mysql_ddl_flags(status, slen, &flags);
		for (int line = 0; line < 3; line++)
			p = strchr(p, '\n') + 1;
		const char *sql = p;
		p += len + 1;
		dbs_mysql_ddl *ddl = NULL;
		ck_assert_int_eq(dbs__mysql_ddl_parse(&ddl, sql, len, db, strlen(db), flags), 0);
		for (uint32_t i = 0; ddl->cls == DBS_MYSQL_DDL_CHANGES && i < ddl->nchanges;) {
			const dbs_mysql_ddl_change *c = &ddl->changes[i];
			uint32_t j = i + 1;
			dbs_mysql_ddl_kind k = c->kind;
			if (k == DBS_MYSQL_CREATE_TABLE_LIKE || k == DBS_MYSQL_CREATE_TABLE_SELECT ||
			    k == DBS_MYSQL_DROP_TABLE || k == DBS_MYSQL_TRUNCATE_TABLE ||
			    k == DBS_MYSQL_DROP_SCHEMA) {
				i = j;
				continue;
			}
			if (k != DBS_MYSQL_RENAME_TABLE)
				while (j < ddl->nchanges &&
				       !strcmp(ddl->changes[j].table.schema, c->table.schema) &&
				       !strcmp(ddl->changes[j].table.name, c->table.name) &&
				       ddl->changes[j].kind != DBS_MYSQL_CREATE_TABLE &&
				       ddl->changes[j].kind != DBS_MYSQL_DROP_TABLE &&
				       ddl->changes[j].kind != DBS_MYSQL_TRUNCATE_TABLE &&
				       ddl->changes[j].kind != DBS_MYSQL_CREATE_TABLE_LIKE &&
				       ddl->changes[j].kind != DBS_MYSQL_CREATE_TABLE_SELECT &&
				       ddl->changes[j].kind != DBS_MYSQL_DROP_SCHEMA)
					j++;
			char name[300];
			snprintf(name, sizeof name, "%s.%s", c->table.schema, c->table.name);
			known *kn = NULL;
			for (size_t t = 0; t < ntables; t++)
				if (!strcmp(tables[t].name, name))
					kn = &tables[t];
			if (!kn) {
				ck_assert_uint_lt(ntables, sizeof tables / sizeof tables[0]);
				kn = &tables[ntables++];
				snprintf(kn->name, sizeof kn->name, "%s", name);
				kn->def = NULL;
			}
			dbs_table *before = k == DBS_MYSQL_CREATE_TABLE ? NULL : kn->def;
			if (after)
				dbs_table_unref(after);
			after = NULL;
			ck_assert_int_eq(dbs__mys_track_apply(before, before == NULL, c->table.schema,
			                                      c->table.name, ddl->changes + i, j - i,
			                                      arena, &after, &changes, &nchanges),
			                 0);
			check_result(sql);
			applied++;
			if (kn->def)
				dbs_table_unref(kn->def);
			kn->def = (dbs_table *)dbs_table_ref(after);
			i = j;
		}
		dbs__mysql_ddl_free(ddl);
	}
	ck_assert_uint_gt(applied, 50);
	for (size_t t = 0; t < ntables; t++)
		if (tables[t].def)
			dbs_table_unref(tables[t].def);
	free(text);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mysql_ddl_track");
	TCase *tc = tcase_create("apply");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, add_column_with_default);
	tcase_add_test(tc, drop_and_rename_columns);
	tcase_add_test(tc, change_types);
	tcase_add_test(tc, keys_indexes_and_table);
	tcase_add_test(tc, create_table);
	tcase_add_test(tc, types_spelled_and_matched);
	tcase_add_test(tc, captured_statements_replayed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
