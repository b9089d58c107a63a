/*
 * Every built-in plugin against the conformance suite (conformance.h):
 * the PostgreSQL and MySQL sources and targets on the harness's servers,
 * the memory and NATS hubs; and the template plugin (examples/plugin),
 * built like one from outside the tree.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cJSON.h>
#include <unistd.h>

#include "../integration/itest.h"
#include "conformance.h"
#include "probe.h"

/* ---- SQL statements of the workload ---- */

/* Event k as a statement on `table` (id, name, amount). */
static void event_sql(char *buf, size_t size, const char *table, uint64_t k)
{
	uint64_t id;
	int n;
	switch (probe_event_op(k, &id)) {
	case DBS_OP_INSERT:
		if (id % 4 == 0)
			n = snprintf(buf, size,
			             "INSERT INTO %s (id, name, amount) VALUES (%" PRIu64
			             ", NULL, %" PRIu64 ")",
			             table, id, id * 1000003);
		else
			n = snprintf(buf, size,
			             "INSERT INTO %s (id, name, amount) VALUES (%" PRIu64
			             ", 'row %" PRIu64 "', %" PRIu64 ")",
			             table, id, id, id * 1000003);
		break;
	case DBS_OP_UPDATE:
		n = snprintf(buf, size,
		             "UPDATE %s SET name = 'upd %" PRIu64 "', amount = -%" PRIu64
		             " WHERE id = %" PRIu64,
		             table, k, k, id);
		break;
	default: n = snprintf(buf, size, "DELETE FROM %s WHERE id = %" PRIu64, table, id); break;
	}
	ck_assert(n > 0 && (size_t)n < size);
}

static void copy_rows(itest_rows *in, conf_rows *out)
{
	out->nrows = in->nrows;
	out->ncols = in->ncols;
	out->cells = calloc(in->nrows * in->ncols + 1, sizeof *out->cells);
	ck_assert_ptr_nonnull(out->cells);
	for (size_t i = 0; i < in->nrows * in->ncols; i++)
		if (in->cells[i])
			ck_assert_ptr_nonnull(out->cells[i] = strdup(in->cells[i]));
	itest_rows_free(in);
}

/* ---- PostgreSQL ---- */

typedef struct pg_fixture {
	char db[48], slot[64], pub[64];
} pg_fixture;

static void pg_source_section(void *ctx, const char *table, uint32_t bundle, char *buf, size_t size)
{
	pg_fixture *f = ctx;
	char uri[512];
	itest_pg_uri(uri, sizeof uri, f->db, NULL, NULL, 0);
	int n = snprintf(
	    buf, size,
	    "{\"type\": \"postgresql\", \"connection\": \"%s\", \"dataBundleSize\": %" PRIu32
	    ", \"settings\": {\"replicationSlotName\": \"%s\", \"publicationName\": "
	    "\"%s\"}, \"filter\": {\"tables\": [{\"name\": \"%s\"}]}}",
	    uri, bundle, f->slot, f->pub, table);
	ck_assert(n > 0 && (size_t)n < size);
}

static void pg_target_section(void *ctx, const char *table, uint32_t bundle, char *buf, size_t size)
{
	pg_fixture *f = ctx;
	char uri[512];
	(void)table;
	(void)bundle;
	itest_pg_uri(uri, sizeof uri, f->db, NULL, NULL, 0);
	int n = snprintf(buf, size, "{\"type\": \"postgresql\", \"connection\": \"%s\"}", uri);
	ck_assert(n > 0 && (size_t)n < size);
}

static void pg_source_reset(void *ctx, const char *table)
{
	pg_fixture *f = ctx;
	char sql[256];
	itest_pg_drop_slot(f->slot);
	itest_pg_create_db(f->db);
	PGconn *c = itest_pg_connect(f->db);
	snprintf(sql, sizeof sql,
	         "CREATE TABLE %s (id integer PRIMARY KEY, name text, amount bigint)", table);
	itest_pg_exec(c, sql);
	PQfinish(c);
}

static void pg_target_reset(void *ctx, const char *table)
{
	(void)table;
	itest_pg_create_db(((pg_fixture *)ctx)->db);
}

static void pg_changes(void *ctx, const char *table, uint64_t from, uint64_t to, uint32_t txn_size)
{
	pg_fixture *f = ctx;
	char sql[256];
	PGconn *c = itest_pg_connect(f->db);
	for (uint64_t k = from; k <= to; k++) {
		if ((k - from) % txn_size == 0)
			itest_pg_exec(c, "BEGIN");
		event_sql(sql, sizeof sql, table, k);
		itest_pg_exec(c, sql);
		if ((k - from) % txn_size == txn_size - 1 || k == to)
			itest_pg_exec(c, "COMMIT");
	}
	PQfinish(c);
}

static void pg_rows(void *ctx, const char *table, conf_rows *out)
{
	pg_fixture *f = ctx;
	char sql[512];
	PGconn *c = itest_pg_connect(f->db);
	snprintf(sql, sizeof sql,
	         "SELECT id::text, name, amount::text, price::text, encode(data, 'hex'), "
	         "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
	         "FROM public.%s AS t ORDER BY t.id",
	         table);
	copy_rows(itest_pg_rows(c, sql), out);
	PQfinish(c);
}

static void pg_cleanup(void *ctx, const char *table)
{
	pg_fixture *f = ctx;
	(void)table;
	itest_pg_drop_slot(f->slot);
	itest_pg_drop_db(f->db);
}

static pg_fixture pg_fixture_new(const char *tag)
{
	pg_fixture f;
	itest_name(f.db, sizeof f.db, tag);
	snprintf(f.slot, sizeof f.slot, "%s_slot", f.db);
	snprintf(f.pub, sizeof f.pub, "%s_pub", f.db);
	return f;
}

START_TEST(source_postgresql)
{
	pg_fixture ctx = pg_fixture_new("csrc");
	const conf_fixture f = {.plugin = "postgresql",
	                        .ctx = &ctx,
	                        .section = pg_source_section,
	                        .reset = pg_source_reset,
	                        .changes = pg_changes,
	                        .cleanup = pg_cleanup};
	conf_source(&f);
}
END_TEST

START_TEST(target_postgresql)
{
	pg_fixture ctx = pg_fixture_new("ctgt");
	const conf_fixture f = {.plugin = "postgresql",
	                        .ctx = &ctx,
	                        .section = pg_target_section,
	                        .reset = pg_target_reset,
	                        .rows = pg_rows,
	                        .cleanup = pg_cleanup};
	conf_target(&f);
}
END_TEST

/* ---- MySQL ---- */

typedef struct my_fixture {
	char db[64];
} my_fixture;

static void my_source_section(void *ctx, const char *table, uint32_t bundle, char *buf, size_t size)
{
	my_fixture *f = ctx;
	char dsn[512];
	itest_my_dsn(dsn, sizeof dsn, f->db);
	int n =
	    snprintf(buf, size,
	             "{\"type\": \"mysql\", \"connection\": \"%s\", \"dataBundleSize\": %" PRIu32
	             ", \"filter\": {\"tables\": [{\"name\": \"%s.%s\"}]}}",
	             dsn, bundle, f->db, table);
	ck_assert(n > 0 && (size_t)n < size);
}

static void my_target_section(void *ctx, const char *table, uint32_t bundle, char *buf, size_t size)
{
	my_fixture *f = ctx;
	char dsn[512];
	(void)table;
	(void)bundle;
	itest_my_dsn(dsn, sizeof dsn, f->db);
	int n = snprintf(buf, size, "{\"type\": \"mysql\", \"connection\": \"%s\"}", dsn);
	ck_assert(n > 0 && (size_t)n < size);
}

static void my_source_reset(void *ctx, const char *table)
{
	my_fixture *f = ctx;
	char sql[256];
	itest_my_create_db(f->db);
	MYSQL *c = itest_my_connect(f->db);
	snprintf(sql, sizeof sql,
	         "CREATE TABLE %s (id int PRIMARY KEY, name varchar(64), amount bigint)", table);
	itest_my_exec(c, sql);
	mysql_close(c);
}

static void my_target_reset(void *ctx, const char *table)
{
	(void)table;
	itest_my_create_db(((my_fixture *)ctx)->db);
}

static void my_changes(void *ctx, const char *table, uint64_t from, uint64_t to, uint32_t txn_size)
{
	my_fixture *f = ctx;
	char sql[256];
	MYSQL *c = itest_my_connect(f->db);
	for (uint64_t k = from; k <= to; k++) {
		if ((k - from) % txn_size == 0)
			itest_my_exec(c, "START TRANSACTION");
		event_sql(sql, sizeof sql, table, k);
		itest_my_exec(c, sql);
		if ((k - from) % txn_size == txn_size - 1 || k == to)
			itest_my_exec(c, "COMMIT");
	}
	mysql_close(c);
}

static void my_rows(void *ctx, const char *table, conf_rows *out)
{
	my_fixture *f = ctx;
	char sql[512];
	MYSQL *c = itest_my_connect(f->db);
	snprintf(sql, sizeof sql,
	         "SELECT CAST(id AS CHAR), name, CAST(amount AS CHAR), CAST(price AS CHAR), "
	         "LOWER(HEX(data)), DATE_FORMAT(at, '%%Y-%%m-%%d %%H:%%i:%%s.%%f') "
	         "FROM %s ORDER BY id",
	         table);
	copy_rows(itest_my_rows(c, sql), out);
	mysql_close(c);
}

static void my_cleanup(void *ctx, const char *table)
{
	(void)table;
	itest_my_drop_db(((my_fixture *)ctx)->db);
}

START_TEST(source_mysql)
{
	my_fixture ctx;
	itest_name(ctx.db, sizeof ctx.db, "csrc");
	const conf_fixture f = {.plugin = "mysql",
	                        .ctx = &ctx,
	                        .section = my_source_section,
	                        .reset = my_source_reset,
	                        .changes = my_changes,
	                        .cleanup = my_cleanup};
	conf_source(&f);
}
END_TEST

START_TEST(target_mysql)
{
	my_fixture ctx;
	itest_name(ctx.db, sizeof ctx.db, "ctgt");
	const conf_fixture f = {.plugin = "mysql",
	                        .ctx = &ctx,
	                        .section = my_target_section,
	                        .reset = my_target_reset,
	                        .rows = my_rows,
	                        .cleanup = my_cleanup};
	conf_target(&f);
}
END_TEST

/* ---- the template plugin (examples/plugin/jsonl_target.c) ---- */

extern const dbs_target_ops jsonl_target_ops;

typedef struct jsonl_fixture {
	char path[512], checkpoint[600];
} jsonl_fixture;

static int jsonl_register(dbs_registry *registry, void *ctx)
{
	(void)ctx;
	return dbs_registry_add_target(registry, &jsonl_target_ops);
}

static void jsonl_section(void *ctx, const char *table, uint32_t bundle, char *buf, size_t size)
{
	jsonl_fixture *f = ctx;
	(void)table;
	(void)bundle;
	int n = snprintf(buf, size,
	                 "{\"type\": \"jsonl\", \"connection\": \"%s\", "
	                 "\"settings\": {\"sync\": false}}",
	                 f->path);
	ck_assert(n > 0 && (size_t)n < size);
}

static void jsonl_reset(void *ctx, const char *table)
{
	jsonl_fixture *f = ctx;
	(void)table;
	unlink(f->path);
	unlink(f->checkpoint);
}

/* A cell of a row image: numbers as integers, strings as they are, the
 * template's ISO times ("…T…Z") as the suite spells them. */
static char *jsonl_cell(const cJSON *v)
{
	char buf[128];
	if (!v || cJSON_IsNull(v))
		return NULL;
	if (cJSON_IsNumber(v)) {
		snprintf(buf, sizeof buf, "%.0f", v->valuedouble);
		return strdup(buf);
	}
	ck_assert(cJSON_IsString(v));
	char *s = strdup(v->valuestring);
	ck_assert_ptr_nonnull(s);
	size_t len = strlen(s);
	if (len == 27 && s[10] == 'T' && s[26] == 'Z') {
		s[10] = ' ';
		s[26] = '\0';
	}
	return s;
}

/* The table the file's changes make, replayed line by line. */
static void jsonl_rows(void *ctx, const char *table, conf_rows *out)
{
	static const char *const names[PROBE_ROWS_COLUMNS] = {"id",    "name", "amount",
	                                                      "price", "data", "at"};
	enum { MAX_ID = 1024 };
	jsonl_fixture *f = ctx;
	(void)table;
	char **cells = calloc((size_t)MAX_ID * PROBE_ROWS_COLUMNS, sizeof *cells);
	int *present = calloc(MAX_ID, sizeof *present);
	ck_assert(cells && present);
	FILE *in = fopen(f->path, "r");
	ck_assert_msg(in != NULL, "%s: %s", f->path, strerror(errno));
	char line[8192];
	while (fgets(line, sizeof line, in)) {
		cJSON *ev = cJSON_Parse(line);
		ck_assert_msg(ev != NULL, "not JSON: %s", line);
		const char *op = cJSON_GetObjectItem(ev, "op")->valuestring;
		const cJSON *img =
		    cJSON_GetObjectItem(ev, strcmp(op, "delete") ? "after" : "before");
		int id = (int)cJSON_GetObjectItem(img, "id")->valuedouble;
		ck_assert(id > 0 && id < MAX_ID);
		char **row = cells + (size_t)id * PROBE_ROWS_COLUMNS;
		for (int c = 0; c < PROBE_ROWS_COLUMNS; c++) {
			const cJSON *v = cJSON_GetObjectItem(img, names[c]);
			if (!strcmp(op, "delete") || (v && !strcmp(op, "update")) ||
			    !strcmp(op, "insert")) {
				free(row[c]);
				row[c] = strcmp(op, "delete") ? jsonl_cell(v) : NULL;
			}
		}
		present[id] = strcmp(op, "delete") != 0;
		cJSON_Delete(ev);
	}
	fclose(in);
	out->ncols = PROBE_ROWS_COLUMNS;
	out->cells = calloc((size_t)MAX_ID * PROBE_ROWS_COLUMNS, sizeof *out->cells);
	ck_assert_ptr_nonnull(out->cells);
	for (int id = 0; id < MAX_ID; id++) {
		char **row = cells + (size_t)id * PROBE_ROWS_COLUMNS;
		for (int c = 0; c < PROBE_ROWS_COLUMNS; c++) {
			if (present[id])
				out->cells[out->nrows * PROBE_ROWS_COLUMNS + (size_t)c] = row[c];
			else
				free(row[c]);
		}
		out->nrows += present[id] != 0;
	}
	free(cells);
	free(present);
}

static void jsonl_cleanup(void *ctx, const char *table)
{
	jsonl_reset(ctx, table);
}

START_TEST(target_template_jsonl)
{
	jsonl_fixture ctx;
	char name[64];
	itest_name(name, sizeof name, "jsonl");
	snprintf(ctx.path, sizeof ctx.path, "%s/%s.jsonl", itest_env("DBS_TEST_TMPDIR"), name);
	snprintf(ctx.checkpoint, sizeof ctx.checkpoint, "%s.checkpoint", ctx.path);
	const conf_fixture f = {.plugin = "jsonl",
	                        .ctx = &ctx,
	                        .register_plugin = jsonl_register,
	                        .section = jsonl_section,
	                        .reset = jsonl_reset,
	                        .rows = jsonl_rows,
	                        .cleanup = jsonl_cleanup};
	conf_target(&f);
}
END_TEST

/* ---- the probe plugins' names and settings ---- */

/* A stream of the probe (registered under its own name, with its own
 * option rows) and what dbs_stream_create says of it. */
static int probe_stream(const char *settings, char *msg, size_t size)
{
	probe_world w;
	dbs_registry *r = NULL;
	char config[1024];
	probe_world_init(&w);
	ck_assert_int_eq(dbs_registry_new(&r, 1), 0);
	ck_assert_int_eq(probe_register(r, &w), 0);
	snprintf(config, sizeof config,
	         "{\"source\": {\"type\": \"probe\", \"connection\": \"probe\", \"settings\": %s}, "
	         "\"target\": {\"type\": \"probe\", \"connection\": \"probe\"}}",
	         settings);
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.registry = r;
	dbs_stream *st = NULL;
	int rc = dbs_stream_create(&st, config, strlen(config), &o);
	snprintf(msg, size, "%s", rc ? dbs_error_last() : "");
	if (rc == 0) {
		ck_assert_int_eq(dbs_stream_wait(st, 60000), 0);
		pthread_mutex_lock(&w.lock);
		ck_assert_uint_eq(w.applied, 30);
		pthread_mutex_unlock(&w.lock);
	}
	dbs_stream_free(st);
	dbs_registry_free(r);
	probe_world_free(&w);
	return rc;
}

START_TEST(sdk_plugin_names_and_settings)
{
	char msg[1024];
	/* Accepted under its own name, defaults filled in, run end to end. */
	ck_assert_int_eq(probe_stream("{\"events\": 30}", msg, sizeof msg), 0);
	/* Its rows decide what its settings may hold. */
	ck_assert_int_eq(probe_stream("{\"events\": 30, \"table\": \"Bad-Name\"}", msg, sizeof msg),
	                 DBS_ECONFIG);
	ck_assert_msg(strstr(msg, "source.settings.table") &&
	                  strstr(msg, "is not a lower-case identifier"),
	              "%s", msg);
	ck_assert_int_eq(probe_stream("{\"events\": 30, \"shape\": \"round\"}", msg, sizeof msg),
	                 DBS_ECONFIG);
	ck_assert_msg(strstr(msg, "source.settings.shape") && strstr(msg, "round"), "%s", msg);
	ck_assert_int_eq(probe_stream("{\"events\": 30, \"slotName\": \"x\"}", msg, sizeof msg),
	                 DBS_ECONFIG);
	ck_assert_msg(strstr(msg, "source.settings.slotName"), "%s", msg);
	ck_assert_int_eq(probe_stream("{}", msg, sizeof msg), DBS_ECONFIG);
	ck_assert_msg(strstr(msg, "source.settings.events"), "%s", msg);
	/* Without it in the registry, its name is no type. */
	static const char config[] =
	    "{\"source\": {\"type\": \"probe\", \"connection\": \"probe\"}, "
	    "\"target\": {\"type\": \"postgresql\", \"connection\": \"postgresql://h/db\"}}";
	ck_assert_int_eq(dbs_config_validate(config, sizeof config - 1), DBS_ECONFIG);
	ck_assert_msg(strstr(dbs_error_last(), "source.type") && strstr(dbs_error_last(), "probe"),
	              "%s", dbs_error_last());
}
END_TEST

/* ---- hubs ---- */

START_TEST(hub_memory)
{
	conf_hub("{\"type\": \"memory\"}", NULL, NULL);
}
END_TEST

START_TEST(hub_nats)
{
	char hub[512];
	snprintf(hub, sizeof hub, "{\"type\": \"nats\", \"url\": \"%s\"}",
	         itest_env("DBS_TEST_NATS_URL"));
	conf_hub(hub, NULL, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conformance");
	TCase *tc = tcase_create("sdk");
	tcase_add_test(tc, sdk_plugin_names_and_settings);
	suite_add_tcase(s, tc);
	tc = tcase_create("builtins");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, hub_memory);
	tcase_add_test(tc, hub_nats);
	tcase_add_test(tc, target_postgresql);
	tcase_add_test(tc, target_mysql);
	tcase_add_test(tc, source_postgresql);
	tcase_add_test(tc, source_mysql);
	suite_add_tcase(s, tc);
	/* A plugin from outside the tree runs the same suite. */
	tc = tcase_create("template");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, target_template_jsonl);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
