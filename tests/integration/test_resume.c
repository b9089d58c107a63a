/*
 * A stream created again with the same id resumes from the target's
 * checkpoint, also when that checkpoint lies inside a source transaction
 * larger than one batch: a first run stops at an event limit in the
 * middle of a 1,000-row transaction (batches of 10 events), rows are
 * written while no stream runs, and a second run with the same id must
 * deliver the rest of that transaction and everything after it, once.
 * MySQL -> PostgreSQL (the binlog position comes from the checkpoint) and
 * PostgreSQL -> PostgreSQL (the slot keeps it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

static char src_db[64], dst_db[64], slot[64], pub[64];

static void setup(void)
{
	itest_name(src_db, sizeof src_db, "rs_src");
	itest_name(dst_db, sizeof dst_db, "rs_dst");
	itest_name(slot, sizeof slot, "rs_slot");
	itest_name(pub, sizeof pub, "rs_pub");
}

static void teardown(void)
{
	itest_pg_drop_slot(slot);
	itest_pg_drop_publication(src_db, pub);
	itest_pg_drop_db(src_db);
	itest_my_drop_db(src_db);
	itest_pg_drop_db(dst_db);
}

/* Run the stream with `id` until the event limit (0: none) ends it. */
static dbs_stream *start_with_id(const char *config, const char *id)
{
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.stream_id = id;
	dbs_stream *s = NULL;
	ck_assert_msg(dbs_stream_create(&s, config, strlen(config), &o) == 0, "create: %s",
	              dbs_error_last());
	return s;
}

/* First run: stops after 555 of the first transaction's 1,000 events. */
static void first_run_to_limit(const char *config, const char *id, void (*write)(void *),
                               void *conn)
{
	char buf[2048];
	dbs_stat st = DBS_STAT_INIT;
	dbs_stream *s = start_with_id(config, id);
	write(conn);
	int rc = dbs_stream_wait(s, 120000);
	itest_stat(s, &st);
	itest_stat_format(buf, sizeof buf, &st);
	ck_assert_msg(rc == 0 && st.target.status == DBS_STATUS_EVENT_LIMIT_REACHED,
	              "the first run must end at its event limit: %s", buf);
	ck_assert_msg(st.target.counter == 555, "555 events applied in the first run: %s", buf);
	dbs_stream_free(s);
}

/* Wait until the target's copy equals the source, value for value. */
static void wait_equal(dbs_stream *s, void (*digest)(void *, char *, size_t), void *src,
                       PGconn *dst, const char *dst_sql)
{
	char a[128], b[128] = "", buf[2048];
	digest(src, a, sizeof a);
	int64_t until = itest_now_ms() + 120000;
	for (;;) {
		char *v = itest_pg_value(dst, dst_sql);
		snprintf(b, sizeof b, "%s", v ? v : "");
		free(v);
		if (strcmp(a, b) == 0)
			break;
		if (itest_now_ms() > until) {
			dbs_stat st = DBS_STAT_INIT;
			itest_stat(s, &st);
			itest_stat_format(buf, sizeof buf, &st);
			ck_abort_msg("target differs after the resume: source %s, target %s (%s)", a,
			             b, buf);
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* ---- MySQL -> PostgreSQL ---- */

static void my_big_transaction(void *conn)
{
	itest_my_exec(conn, "INSERT INTO items WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL "
	                    "SELECT i + 1 FROM g WHERE i < 1000) SELECT i, CONCAT('row ', i), "
	                    "i * 1.25 FROM g");
}

static void my_digest(void *conn, char *out, size_t size)
{
	char *v = itest_my_value(conn, "SELECT CONCAT(COUNT(*), ':', COALESCE(MD5(GROUP_CONCAT("
	                               "CONCAT_WS(',', id, txt, num) ORDER BY id SEPARATOR '|')), "
	                               "'')) FROM items");
	snprintf(out, size, "%s", v ? v : "");
	free(v);
}

START_TEST(mysql_resume_inside_transaction)
{
	char src_dsn[512], dst_uri[512], config[4096], id[28], sql[512];
	itest_my_create_db(src_db);
	itest_pg_create_db(dst_db);
	MYSQL *src = itest_my_connect(src_db);
	itest_my_exec(src, "SET SESSION group_concat_max_len = 1073741824");
	itest_my_exec(src, "CREATE TABLE items (id int PRIMARY KEY, txt varchar(50), "
	                   "num decimal(12,2))");
	itest_my_dsn(src_dsn, sizeof src_dsn, src_db);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	const char *shape = "{\"source\": {\"type\": \"mysql\", \"connection\": \"%s\", "
	                    "\"dataBundleSize\": 10, "
	                    "\"filter\": {\"tables\": [{\"name\": \"%s.items\"}]}}, "
	                    "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                    "\"limits\": {\"numberOfEvents\": %d}}";
	ck_assert_int_eq(dbs_ksuid_new(id), 0);
	snprintf(config, sizeof config, shape, src_dsn, src_db, dst_uri, 555);
	first_run_to_limit(config, id, my_big_transaction, src);

	/* Written while no stream runs. */
	itest_my_exec(src, "INSERT INTO items WITH RECURSIVE g(i) AS (SELECT 1001 UNION ALL "
	                   "SELECT i + 1 FROM g WHERE i < 1020) SELECT i, CONCAT('late ', i), i "
	                   "FROM g");
	itest_my_exec(src, "UPDATE items SET txt = 'changed' WHERE id BETWEEN 990 AND 1010");
	itest_my_exec(src, "DELETE FROM items WHERE id BETWEEN 1 AND 5");

	snprintf(config, sizeof config, shape, src_dsn, src_db, dst_uri, 0);
	dbs_stream *s = start_with_id(config, id);
	PGconn *dst = itest_pg_connect(dst_db);
	snprintf(sql, sizeof sql,
	         "SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(',', id, txt, num), "
	         "'|' ORDER BY id)), '') FROM \"%s\".items",
	         src_db);
	wait_equal(s, my_digest, src, dst, sql);
	dbs_stream_free(s);
	PQfinish(dst);
	mysql_close(src);
}
END_TEST

/* ---- PostgreSQL -> PostgreSQL ---- */

static void pg_big_transaction(void *conn)
{
	itest_pg_exec(conn, "INSERT INTO items SELECT g, 'row ' || g, g * 1.25 "
	                    "FROM generate_series(1, 1000) g");
}

static const char pg_digest_sql[] =
	"SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(',', id, txt, num), '|' "
	"ORDER BY id)), '') FROM items";

static void pg_digest(void *conn, char *out, size_t size)
{
	char *v = itest_pg_value(conn, pg_digest_sql);
	snprintf(out, size, "%s", v ? v : "");
	free(v);
}

START_TEST(pg_resume_inside_transaction)
{
	char src_uri[512], dst_uri[512], config[4096], id[28];
	itest_pg_create_db(src_db);
	itest_pg_create_db(dst_db);
	PGconn *src = itest_pg_connect(src_db);
	itest_pg_exec(src, "CREATE TABLE items (id int PRIMARY KEY, txt text, num numeric(12,2))");
	itest_pg_uri(src_uri, sizeof src_uri, src_db, NULL, NULL, 0);
	itest_pg_uri(dst_uri, sizeof dst_uri, dst_db, NULL, NULL, 0);
	const char *shape = "{\"source\": {\"type\": \"postgresql\", \"connection\": \"%s\", "
	                    "\"dataBundleSize\": 10, \"settings\": {\"replicationSlotName\": "
	                    "\"%s\", \"publicationName\": \"%s\"}, "
	                    "\"filter\": {\"tables\": [{\"name\": \"items\"}]}}, "
	                    "\"target\": {\"type\": \"postgresql\", \"connection\": \"%s\"}, "
	                    "\"limits\": {\"numberOfEvents\": %d}}";
	ck_assert_int_eq(dbs_ksuid_new(id), 0);
	snprintf(config, sizeof config, shape, src_uri, slot, pub, dst_uri, 555);
	first_run_to_limit(config, id, pg_big_transaction, src);

	itest_pg_exec(src, "INSERT INTO items SELECT g, 'late ' || g, g "
	                   "FROM generate_series(1001, 1020) g");
	itest_pg_exec(src, "UPDATE items SET txt = 'changed' WHERE id BETWEEN 990 AND 1010");
	itest_pg_exec(src, "DELETE FROM items WHERE id BETWEEN 1 AND 5");

	snprintf(config, sizeof config, shape, src_uri, slot, pub, dst_uri, 0);
	dbs_stream *s = start_with_id(config, id);
	PGconn *dst = itest_pg_connect(dst_db);
	wait_equal(s, pg_digest, src, dst, pg_digest_sql);
	dbs_stream_free(s);
	PQfinish(dst);
	PQfinish(src);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("integration_resume");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
	    {"mysql", mysql_resume_inside_transaction},
	    {"pg", pg_resume_inside_transaction},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_unchecked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 280);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(suite, tc);
	}
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
