/*
 * Schema changes during CDC from a PostgreSQL source, what only it does.
 * The cases it shares with a MySQL source (columns added, dropped,
 * renamed, widened, tables renamed and created while rows are written, a
 * backlog read after a stop, TRUNCATE, a narrowing change, a kill between
 * a change and its checkpoint) are the pg_to_pg and pg_to_mysql rows of
 * test_schema_changes.c, whose fixture and helpers this file includes.
 *
 *   - a column renamed twice while the stream was stopped: the stream finds
 *     it by its attnum, kept with the definition in the source database,
 *     and the target's column keeps its values.
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

/* Renamed twice while the stream was stopped: the name it had is gone
 * from the catalog, the column is found by its attnum. */
static void renamed_twice(const direction *dir)
{
	fixture f;
	if (!dir->src_pg)
		return; /* a PostgreSQL source's case */
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
	renamed_twice(&directions[_i]);
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
	tcase_add_loop_test(tc, pg_column_renamed_twice_while_stopped, 0, NMEMORY);
	suite_add_tcase(suite, tc);
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
