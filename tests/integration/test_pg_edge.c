/*
 * PostgreSQL → PostgreSQL shapes beyond the common case: a table without
 * a primary key (REPLICA IDENTITY FULL), a composite key, identifiers that
 * need quoting, a schema other than public, empty strings next to NULLs;
 * transactions the server streams before they commit (larger than
 * logical_decoding_work_mem), spilled to disk by the source, with an
 * aborted subtransaction and an aborted transaction among them; a slot
 * whose stream sees only changes to tables it does not capture still
 * moves with the WAL, so the server does not keep that WAL for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

static char src_db[64], dst_db[64], slot[64], pub[64];

static void setup(void)
{
	itest_name(src_db, sizeof src_db, "edge_src");
	itest_name(dst_db, sizeof dst_db, "edge_dst");
	itest_name(slot, sizeof slot, "edge_slot");
	itest_name(pub, sizeof pub, "edge_pub");
}

/* Runs in the parent (unchecked fixture), even after a failed test. */
static void teardown(void)
{
	itest_pg_drop_slot(slot);
	itest_pg_drop_publication(src_db, pub);
	itest_pg_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

/*
 * One table, one stream: create `ddl` in the source, start a stream on
 * `table` (as the filter names it), run `dml` (statements separated by
 * ';' in one transaction each), wait for `events`, stop, and compare
 * `qualified` ordered by `order_by`.
 */
static void replicate(const char *ddl, const char *table, const char *const *dml, size_t ndml,
                      uint64_t events, const char *qualified, const char *order_by)
{
	char src_uri[512], dst_uri[512], config[4096], buf[2048];
	PGconn *src, *dst;
	dbs_stream *s;
	dbs_stat st;
	uint64_t n = 0;
	size_t i;
	int len;

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	src = itest_pg_connect(src_db);
	itest_pg_exec(src, ddl);
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	len = snprintf(config, sizeof config,
	               "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	               "\"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": \"%s\"}, "
	               "\"filter\": {\"tables\": [{\"name\": \"%s\"}]}}, "
	               "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	               src_uri, slot, pub, table, dst_uri);
	ck_assert(len > 0 && (size_t)len < sizeof config);
	s = itest_stream_start(config);
	for (i = 0; i < ndml; i++)
		n += itest_pg_exec_count(src, dml[i]);
	ck_assert_uint_eq(n, events);
	itest_wait_target_counter(s, events, 60);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.counter == events && st.target.counter == events, "%s", buf);
	dbs_stream_free(s);

	dst = itest_pg_connect(dst_db);
	itest_pg_compare_table(src, dst, qualified, order_by);
	PQfinish(dst);
	PQfinish(src);
	/* The next test reuses the names. */
	itest_pg_drop_slot(slot);
}

START_TEST(no_primary_key)
{
	static const char *const dml[] = {
		"INSERT INTO nokey SELECT g % 50, 'v' || (g % 7), g * 0.5 FROM generate_series(1, 300) g",
		"UPDATE nokey SET note = note || '!' WHERE a < 10",
		"DELETE FROM nokey WHERE a BETWEEN 40 AND 44",
	};

	/* Duplicated rows are fine without a key: each is a row of its own. */
	replicate("CREATE TABLE nokey (a int, note text, w numeric); "
	          "ALTER TABLE nokey REPLICA IDENTITY FULL",
	          "nokey", dml, 3, 300 + 60 + 30, "nokey", "t::text");
}
END_TEST

START_TEST(composite_key)
{
	static const char *const dml[] = {
		"INSERT INTO pairs SELECT g % 20, 'k' || (g / 20), g FROM generate_series(0, 399) g",
		"UPDATE pairs SET v = -v WHERE a % 3 = 0",
		"UPDATE pairs SET b = b || 'x' WHERE a = 7",
		"DELETE FROM pairs WHERE b = 'k3'",
	};

	replicate("CREATE TABLE pairs (a int, b text, v bigint, PRIMARY KEY (a, b))", "pairs", dml,
	          4, 400 + 140 + 20 + 19, "pairs", "a, b");
}
END_TEST

START_TEST(quoted_identifiers)
{
	static const char *const dml[] = {
		"INSERT INTO \"Mixed Case\" (\"Id\", \"select\", \"we\"\"ird\") "
		"SELECT g, 'sel ' || g, 'w' FROM generate_series(1, 100) g",
		"UPDATE \"Mixed Case\" SET \"select\" = NULL WHERE \"Id\" % 2 = 0",
		"DELETE FROM \"Mixed Case\" WHERE \"Id\" > 90",
	};

	replicate("CREATE TABLE \"Mixed Case\" (\"Id\" int PRIMARY KEY, \"select\" text, "
	          "\"we\"\"ird\" text)",
	          "Mixed Case", dml, 3, 100 + 50 + 10, "\"Mixed Case\"", "\"Id\"");
}
END_TEST

START_TEST(other_schema)
{
	static const char *const dml[] = {
		"INSERT INTO sales.orders SELECT g, 'o' || g FROM generate_series(1, 200) g",
		"UPDATE sales.orders SET label = upper(label) WHERE id <= 50",
		"DELETE FROM sales.orders WHERE id > 150",
	};

	replicate("CREATE SCHEMA sales; CREATE TABLE sales.orders (id int PRIMARY KEY, label text)",
	          "sales.orders", dml, 3, 200 + 50 + 50, "sales.orders", "id");
}
END_TEST

START_TEST(empty_versus_null)
{
	static const char *const dml[] = {
		"INSERT INTO e VALUES (1, '', NULL, '{}', ''), (2, NULL, '', NULL, NULL), "
		"(3, '\\N', 'NULL', '{\"\"}', '\\x'), (4, E'\\\\N', E'\\t', '{NULL}', E'\\\\x00')",
		"UPDATE e SET s = '' WHERE id = 2",
		"UPDATE e SET t = NULL WHERE id = 2",
	};

	replicate("CREATE TABLE e (id int PRIMARY KEY, s text, t text, arr text[], b bytea)", "e",
	          dml, 3, 4 + 1 + 1, "e", "id");
}
END_TEST

/* With logical_decoding_work_mem at its 64 kB minimum the server streams
 * these transactions before they commit; the first holds about 15 MB,
 * more than the source keeps in memory per transaction, and the rows of
 * its aborted subtransaction are among what went to disk. */
START_TEST(streamed_transactions)
{
	char src_uri[512], dst_uri[512], config[4096], buf[2048];
	const uint64_t events = 60000 + 20000 + 1;

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	PGconn *src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE st (id int PRIMARY KEY, pad text)");
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int len = snprintf(config, sizeof config,
	                   "{\"source\": {\"type\": \"postgresql\", \"connection\": "
	                   "\"%s?options=-c%%20logical_decoding_work_mem%%3D64kB\", "
	                   "\"settings\": {\"replicationSlotName\": \"%s\", "
	                   "\"publicationName\": \"%s\"}, "
	                   "\"filter\": {\"tables\": [{\"name\": \"st\"}]}}, "
	                   "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	                   src_uri, slot, pub, dst_uri);
	ck_assert(len > 0 && (size_t)len < sizeof config);
	dbs_stream *s = itest_stream_start(config);
	itest_pg_exec(src, "BEGIN; "
	                   "INSERT INTO st SELECT g, repeat('x', 100) || g "
	                   "FROM generate_series(1, 60000) g; "
	                   "SAVEPOINT a; "
	                   "INSERT INTO st SELECT g, repeat('gone', 40) "
	                   "FROM generate_series(100001, 130000) g; "
	                   "ROLLBACK TO SAVEPOINT a; "
	                   "UPDATE st SET pad = 'kept ' || id WHERE id % 3 = 0; "
	                   "COMMIT");
	itest_pg_exec(src, "BEGIN; "
	                   "INSERT INTO st SELECT g, repeat('never', 30) "
	                   "FROM generate_series(200001, 260000) g; "
	                   "ROLLBACK");
	itest_pg_exec(src, "INSERT INTO st VALUES (999999, 'last')");
	itest_wait_target_counter(s, events, 120);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stat st = DBS_STAT_INIT;
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(st.source.counter == events && st.target.counter == events, "%s", buf);
	dbs_stream_free(s);

	PGconn *dst = itest_pg_connect(dst_db);
	ck_assert_uint_eq(itest_pg_count(dst, "st"), 60001);
	itest_pg_compare_table(src, dst, "st", "id");
	PQfinish(dst);
	PQfinish(src);
	itest_pg_drop_slot(slot);
}
END_TEST

START_TEST(idle_slot_follows_wal)
{
	char src_uri[512], dst_uri[512], config[4096], sql[512];

	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	PGconn *src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE watched (id int PRIMARY KEY, v text)");
	itest_pg_exec(src, "CREATE TABLE other (id int PRIMARY KEY, pad text)");
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	int len = snprintf(config, sizeof config,
	                   "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	                   "\"settings\": {\"replicationSlotName\": \"%s\", "
	                   "\"publicationName\": \"%s\"}, "
	                   "\"filter\": {\"tables\": [{\"name\": \"watched\"}]}}, "
	                   "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}}",
	                   src_uri, slot, pub, dst_uri);
	ck_assert(len > 0 && (size_t)len < sizeof config);
	dbs_stream *s = itest_stream_start(config);
	itest_pg_exec(src, "INSERT INTO watched VALUES (1, 'one')");
	itest_wait_target_counter(s, 1, 60);

	/* About 40 MB of WAL from a table the stream does not capture. */
	for (int k = 0; k < 20; k++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO other SELECT g, repeat('p', 200) FROM generate_series(%d, %d) g",
		         k * 10000 + 1, k * 10000 + 10000);
		itest_pg_exec(src, sql);
	}
	char *wal = itest_pg_value(src, "SELECT pg_current_wal_lsn()");
	snprintf(sql, sizeof sql,
	         "SELECT pg_wal_lsn_diff('%s', confirmed_flush_lsn) <= 0 "
	         "FROM pg_replication_slots WHERE slot_name = '%s'",
	         wal, slot);
	free(wal);
	int64_t until = itest_now_ms() + 60000;
	for (;;) {
		char *v = itest_pg_value(src, sql);
		int caught_up = v && strcmp(v, "t") == 0;
		free(v);
		if (caught_up)
			break;
		if (itest_now_ms() > until) {
			snprintf(sql, sizeof sql,
			         "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), "
			         "confirmed_flush_lsn)) FROM pg_replication_slots WHERE slot_name = '%s'",
			         slot);
			v = itest_pg_value(src, sql);
			ck_abort_msg("the slot still holds %s of WAL the stream has no use for",
			             v ? v : "?");
		}
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
	/* And the stream still delivers what it captures. */
	itest_pg_exec(src, "INSERT INTO watched VALUES (2, 'two')");
	itest_wait_target_counter(s, 2, 60);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	PGconn *dst = itest_pg_connect(dst_db);
	itest_pg_compare_table(src, dst, "watched", "id");
	PQfinish(dst);
	PQfinish(src);
	itest_pg_drop_slot(slot);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_pg_edge");
	TCase *tc = tcase_create("pg_edge");
	SRunner *sr;
	int failed;

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 200);
	tcase_add_test(tc, no_primary_key);
	tcase_add_test(tc, composite_key);
	tcase_add_test(tc, quoted_identifiers);
	tcase_add_test(tc, other_schema);
	tcase_add_test(tc, empty_versus_null);
	tcase_add_test(tc, streamed_transactions);
	tcase_add_test(tc, idle_slot_follows_wal);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
