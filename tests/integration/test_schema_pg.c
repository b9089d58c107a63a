/*
 * Schema changes during CDC from a PostgreSQL source, to PostgreSQL and to
 * MySQL, end to end: the cases of test_schema_changes.c (its fixture and
 * helpers, included) with what a PostgreSQL source sees and does not see
 * (docs/schema-changes.md: a change shows with the next row of its table,
 * a table created and left empty never does), and what only it does:
 *
 *   - ADD COLUMN with a default, DROP COLUMN, RENAME COLUMN, widening,
 *     RENAME TABLE, a table created after the stream started, while rows
 *     are written; afterwards the target equals the source (dbs_verify_run)
 *     and its columns are the source's;
 *   - a backlog of changes read after a stop, and a kill between a change
 *     applied at the target and its checkpoint (the cases of
 *     test_schema_changes.c);
 *   - a column renamed twice while the stream was stopped: the stream finds
 *     it by its attnum, kept with the definition in the source database,
 *     and the target's column keeps its values;
 *   - a narrowing change stops FAILED at the change, again when resumed
 *     unchanged, and ends equal once the target was fixed by hand;
 *   - TRUNCATE applied with target.options.schemaChanges "truncate".
 */
#pragma GCC diagnostic push
/* The other file's Check cases and main are not run from here. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-const-variable"
#define main schema_changes_main
#include "test_schema_changes.c"
#undef main
#pragma GCC diagnostic pop

int schema_changes_main(int argc, char **argv);

static const direction pg_directions[] = {
    {"pg_to_pg", 1, 1, 0},
    {"pg_to_mysql", 1, 0, 0},
};
#define NPG (int)(sizeof pg_directions / sizeof pg_directions[0])

static void pg_changes_while_writing(const direction *dir)
{
	fixture f;
	prepare(&f, dir, "pw");
	itest_pg_exec(f.src_pg, "CREATE TABLE items (id int PRIMARY KEY, name varchar(20) NOT NULL, "
	                        "qty int, note varchar(10))");
	dbs_stream *s = start(&f);
	insert_items(&f, "items", "id, name", 1, 5, "");
	insert_items(&f, "items", "id, name, qty, note", 6, 10, ", 6, 'n'");
	itest_pg_exec(f.src_pg, "UPDATE items SET qty = 1 WHERE id = 6");

	/* ADD COLUMN with a default: the rows there get it */
	itest_pg_exec(f.src_pg, "ALTER TABLE items ADD COLUMN price int NOT NULL DEFAULT 7");
	insert_items(&f, "items", "id, name, qty, note, price", 11, 15, ", 11, 'n', 33");
	itest_pg_exec(f.src_pg, "UPDATE items SET price = 100 WHERE id = 7");
	/* DROP COLUMN */
	itest_pg_exec(f.src_pg, "ALTER TABLE items DROP COLUMN note");
	insert_items(&f, "items", "id, name, qty, price", 16, 20, ", 16, 8");
	itest_pg_exec(f.src_pg, "DELETE FROM items WHERE id = 8");
	/* RENAME COLUMN, inside a transaction that writes rows before and
	 * after it: the values stay */
	itest_pg_exec(f.src_pg, "BEGIN; INSERT INTO items (id, name, qty, price) VALUES (21, 'x', "
	                        "21, 9); ALTER TABLE items RENAME COLUMN qty TO amount; INSERT INTO "
	                        "items (id, name, amount, price) VALUES (22, 'y', 22, 9); COMMIT");
	itest_pg_exec(f.src_pg, "UPDATE items SET amount = 44 WHERE id = 9");
	/* Widened: a longer varchar, a wider integer */
	itest_pg_exec(f.src_pg, "ALTER TABLE items ALTER COLUMN name TYPE varchar(50)");
	itest_pg_exec(f.src_pg, "ALTER TABLE items ALTER COLUMN amount TYPE bigint");
	for (int i = 26; i <= 30; i++)
		src_execf(&f,
		          "INSERT INTO items (id, name, amount, price) VALUES (%d, 'a name of forty "
		          "characters, number %d', 50000000000, 1)",
		          i, i);
	/* RENAME TABLE */
	itest_pg_exec(f.src_pg, "ALTER TABLE items RENAME TO goods");
	insert_items(&f, "goods", "id, name, amount, price", 31, 35, ", 31, 2");
	itest_pg_exec(f.src_pg, "UPDATE goods SET amount = 55 WHERE id = 10");
	/* A table created after the stream started reaches the target with its
	 * first row; one left empty never does (pgoutput sends no DDL). */
	itest_pg_exec(f.src_pg, "CREATE TABLE fresh (id int PRIMARY KEY, v varchar(10))");
	itest_pg_exec(f.src_pg, "CREATE INDEX fresh_v ON fresh (v)");
	itest_pg_exec(f.src_pg, "CREATE TABLE quiet (id bigint PRIMARY KEY)");
	for (int i = 1; i <= 3; i++)
		src_execf(&f, "INSERT INTO fresh VALUES (%d, 'f%d')", i, i);
	itest_pg_exec(f.src_pg, "INSERT INTO fresh VALUES (100, 'last')");

	wait_row(&f, s, "fresh", "id = 100", 120);
	stop(s);

	verify_equal(&f);
	dst_columns_are(&f, "goods", "id integer,name character varying(50),amount bigint,price integer",
	                "id int,name varchar(50),amount bigint,price int");
	ck_assert_msg(!dst_table_exists(&f, "items"), "%s: the renamed table is still in the target",
	              dir->name);
	ck_assert_msg(!dst_table_exists(&f, "quiet"), "%s: a table no row was written to arrived",
	              dir->name);
	dst_columns_are(&f, "fresh", "id integer,v character varying(10)", "id int,v varchar(10)");
	ck_assert_int_eq(dst_count(&f, "goods", "id <= 10 AND price = 7"), 8);
	ck_assert_int_eq(dst_count(&f, "goods", "id = 6 AND amount = 1"), 1);
	ck_assert_int_eq(dst_count(&f, "goods", "id = 21 AND amount = 21"), 1);
	ck_assert_int_eq(dst_count(&f, "goods", "amount = 50000000000"), 5);
	release(&f);
}

START_TEST(pg_schema_changes_while_writing)
{
	pg_changes_while_writing(&pg_directions[_i]);
}
END_TEST

START_TEST(pg_backlog_read_after_a_stop)
{
	backlog_of_changes(&pg_directions[_i]);
}
END_TEST

START_TEST(pg_killed_between_change_and_checkpoint)
{
	killed_at_schema_change(&pg_directions[_i]);
}
END_TEST

/* Renamed twice while the stream was stopped: the name it had is gone
 * from the catalog, the column is found by its attnum. */
static void renamed_twice(const direction *dir)
{
	fixture f;
	prepare(&f, dir, "pr");
	itest_pg_exec(f.src_pg, "CREATE TABLE r (id int PRIMARY KEY, a int, t varchar(20))");
	dbs_stream *s = start(&f);
	for (int i = 1; i <= 4; i++)
		src_execf(&f, "INSERT INTO r VALUES (%d, %d, 't%d')", i, i * 10, i);
	wait_row(&f, s, "r", "id = 4", 120);
	stop(s);

	itest_pg_exec(f.src_pg, "ALTER TABLE r RENAME COLUMN a TO x");
	itest_pg_exec(f.src_pg, "ALTER TABLE r RENAME COLUMN x TO y");
	itest_pg_exec(f.src_pg, "INSERT INTO r VALUES (5, 50, 't5')");
	s = start(&f);
	wait_row(&f, s, "r", "id = 5", 120);
	stop(s);
	verify_equal(&f);
	dst_columns_are(&f, "r", "id integer,y integer,t character varying(20)",
	                "id int,y int,t varchar(20)");
	ck_assert_int_eq(dst_count(&f, "r", "y = 20"), 1);
	release(&f);
}

START_TEST(pg_column_renamed_twice_while_stopped)
{
	renamed_twice(&pg_directions[_i]);
}
END_TEST

static void pg_narrowing(const direction *dir)
{
	fixture f;
	prepare(&f, dir, "pn");
	itest_pg_exec(f.src_pg, "CREATE TABLE n (id int PRIMARY KEY, name varchar(40))");
	dbs_stream *s = start(&f);
	for (int i = 1; i <= 5; i++)
		src_execf(&f, "INSERT INTO n VALUES (%d, 'n%d')", i, i);
	itest_pg_exec(f.src_pg, "ALTER TABLE n ALTER COLUMN name TYPE varchar(10)");
	for (int i = 6; i <= 9; i++)
		src_execf(&f, "INSERT INTO n VALUES (%d, 'n%d')", i, i);

	dbs_stat st;
	itest_wait_node_status(s, 1, DBS_STATUS_FAILED, 120, &st);
	const char *m = st.target.message;
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED && strstr(m, "n") &&
	                  strstr(m, "ALTER COLUMN name TYPE character varying(10)") &&
	                  strstr(m, "resume the stream"),
	              "%s: target %s: %s", dir->name, dbs_status_name(st.target.status), m);
	dbs_stream_free(s);
	ck_assert_int_eq(dst_count(&f, "n", "id <= 5"), 5);
	ck_assert_int_eq(dst_count(&f, "n", "id > 5"), 0);

	/* resumed unchanged: the same stop, found again after the restart */
	s = start(&f);
	itest_wait_node_status(s, 1, DBS_STATUS_FAILED, 120, &st);
	ck_assert_msg(st.target.status == DBS_STATUS_FAILED, "%s: resumed unchanged: target %s",
	              dir->name, dbs_status_name(st.target.status));
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
	dst_columns_are(&f, "n", "id integer,name character varying(10)", "id int,name varchar(10)");
	release(&f);
}

START_TEST(pg_narrowing_stops_until_fixed)
{
	pg_narrowing(&pg_directions[_i]);
}
END_TEST

/* TRUNCATE reaches the target when target.options.schemaChanges has
 * "truncate"; the rows written after it are there. */
static void pg_truncate(const direction *dir)
{
	fixture f;
	prepare(&f, dir, "pt");
	const char *at = strstr(f.config, "\"target\": {");
	ck_assert_ptr_nonnull(at);
	char config[sizeof f.config];
	size_t head = (size_t)(at - f.config) + strlen("\"target\": {");
	int n = snprintf(config, sizeof config, "%.*s\"options\": {\"schemaChanges\": \"truncate\"}, %s",
	                 (int)head, f.config, f.config + head);
	ck_assert(n > 0 && (size_t)n < sizeof config);
	memcpy(f.config, config, (size_t)n + 1);
	itest_pg_exec(f.src_pg, "CREATE TABLE u (id int PRIMARY KEY, v text)");
	dbs_stream *s = start(&f);
	for (int i = 1; i <= 5; i++)
		src_execf(&f, "INSERT INTO u VALUES (%d, 'v%d')", i, i);
	wait_row(&f, s, "u", "id = 5", 120);
	itest_pg_exec(f.src_pg, "TRUNCATE u");
	itest_pg_exec(f.src_pg, "INSERT INTO u VALUES (100, 'after')");
	wait_row(&f, s, "u", "id = 100", 120);
	stop(s);
	verify_equal(&f);
	ck_assert_int_eq(dst_count(&f, "u", "id < 100"), 0);
	release(&f);
}

START_TEST(pg_truncate_applied_when_allowed)
{
	pg_truncate(&pg_directions[_i]);
}
END_TEST

int main(int argc, char **argv)
{
	int part_rc = itest_part_main(argc, argv);
	if (part_rc >= 0)
		return part_rc;
	Suite *suite = suite_create("integration_schema_pg");
	TCase *tc = tcase_create("schema_pg");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, pg_schema_changes_while_writing, 0, NPG);
	tcase_add_loop_test(tc, pg_backlog_read_after_a_stop, 0, NPG);
	tcase_add_loop_test(tc, pg_column_renamed_twice_while_stopped, 0, NPG);
	tcase_add_loop_test(tc, pg_narrowing_stops_until_fixed, 0, NPG);
	tcase_add_loop_test(tc, pg_killed_between_change_and_checkpoint, 0, NPG);
	tcase_add_loop_test(tc, pg_truncate_applied_when_allowed, 0, NPG);
	suite_add_tcase(suite, tc);
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
