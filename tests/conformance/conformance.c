/*
 * The conformance suite (conformance.h): streams through the public API
 * between the plugin under test and the probe plugins.
 */
#include "conformance.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include <dbstreams/dbstreams.h>
#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "probe.h"

#define TABLE "conf_items"
/* What a stream run may take at most on a loaded machine. */
#define RUN_TIMEOUT_S 120
/* How long a stop may take. */
#define STOP_TIMEOUT_S 20

void conf_rows_free(conf_rows *rows)
{
	for (size_t i = 0; rows->cells && i < rows->nrows * rows->ncols; i++)
		free(rows->cells[i]);
	free(rows->cells);
	memset(rows, 0, sizeof *rows);
}

/* ---- streams ---- */

static void log_line(dbs_log_level level, const char *message, void *user_data)
{
	(void)user_data;
	if (level >= DBS_LOG_WARN)
		fprintf(stderr, "conformance: %s\n", message);
}

typedef struct run {
	probe_world world;
	dbs_registry *registry;
	char id[28];
} run;

static void run_init(run *r, int (*register_plugin)(dbs_registry *, void *), void *ctx)
{
	probe_world_init(&r->world);
	ck_assert_int_eq(dbs_registry_new(&r->registry, 1), 0);
	ck_assert_int_eq(probe_register(r->registry, &r->world), 0);
	if (register_plugin)
		ck_assert_msg(register_plugin(r->registry, ctx) == 0, "registering the plugin: %s",
		              dbs_error_last());
	ck_assert_int_eq(dbs_ksuid_new(r->id), 0);
}

static void run_free(run *r)
{
	dbs_registry_free(r->registry);
	probe_world_free(&r->world);
}

static dbs_stream *start(run *r, const char *config)
{
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.registry = r->registry;
	o.stream_id = r->id;
	o.log = log_line;
	o.log_level = DBS_LOG_WARN;
	dbs_stream *s = NULL;
	int rc = dbs_stream_create(&s, config, strlen(config), &o);
	ck_assert_msg(rc == 0, "dbs_stream_create: %s (%s)\nconfiguration: %s", dbs_strerror(rc),
	              dbs_error_last(), config);
	return s;
}

static void stat_of(dbs_stream *s, dbs_stat *st)
{
	dbs_stat init = DBS_STAT_INIT;
	*st = init;
	ck_assert_int_eq(dbs_stream_stat(s, st), 0);
}

static void fail_with(run *r, dbs_stream *s, const char *what)
{
	dbs_stat st;
	stat_of(s, &st);
	ck_abort_msg("%s: source %s (%s), target %s (%s), applied %" PRIu64 ", %" PRIu64
	             " violation(s) %s",
	             what, dbs_status_name(st.source.status), st.source.message,
	             dbs_status_name(st.target.status), st.target.message, r->world.applied,
	             r->world.violations, r->world.first_violation);
}

/* Wait until the probe target applied `events` in all. */
static void wait_applied(run *r, dbs_stream *s, uint64_t events)
{
	int64_t until = dbs_time_monotonic_ns() + (int64_t)RUN_TIMEOUT_S * 1000000000;
	for (;;) {
		pthread_mutex_lock(&r->world.lock);
		uint64_t applied = r->world.applied;
		pthread_mutex_unlock(&r->world.lock);
		if (applied >= events)
			return;
		dbs_stat st;
		stat_of(s, &st);
		if (dbs_status_is_terminal(st.source.status) &&
		    dbs_status_is_terminal(st.target.status))
			fail_with(r, s, "the stream ended before every event arrived");
		if (dbs_time_monotonic_ns() > until)
			fail_with(r, s, "not every event arrived in time");
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Wait for the stream to end by itself (the probe source returns once it
 * emitted everything): both nodes ended, neither failed. */
static void wait_ended(run *r, dbs_stream *s)
{
	if (dbs_stream_wait(s, RUN_TIMEOUT_S * 1000) != 0)
		fail_with(r, s, "the stream did not end in time");
	dbs_stat st;
	stat_of(s, &st);
	if (st.source.status == DBS_STATUS_FAILED || st.target.status == DBS_STATUS_FAILED ||
	    st.source.status == DBS_STATUS_INIT_FAILED ||
	    st.target.status == DBS_STATUS_INIT_FAILED)
		fail_with(r, s, "the stream failed");
}

static void stop(run *r, dbs_stream *s)
{
	int64_t t0 = dbs_time_monotonic_ns();
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	int64_t took_s = (dbs_time_monotonic_ns() - t0) / 1000000000;
	if (took_s > STOP_TIMEOUT_S)
		fail_with(r, s, "stopping took too long");
	dbs_stat st;
	stat_of(s, &st);
	if (st.source.status == DBS_STATUS_FAILED || st.target.status == DBS_STATUS_FAILED)
		fail_with(r, s, "a node failed");
}

static void no_violations(run *r, const char *plugin)
{
	ck_assert_msg(r->world.violations == 0, "%s: %" PRIu64 " contract violation(s), first: %s",
	              plugin, r->world.violations, r->world.first_violation);
}

/* ---- sources ---- */

/* The probe target's table after `n` events, in the source's columns. */
static void expect_probe_rows(const run *r, uint64_t n, const char *plugin)
{
	const probe_world *w = &r->world;
	for (uint64_t id = 1; id <= n || id < w->nrows; id++) {
		const char *want[PROBE_ROWS_COLUMNS];
		int exists = probe_expected_row(n, id, want);
		ck_assert_int_ge(exists, 0);
		int present = id < w->nrows && w->rows[id].present;
		ck_assert_msg(present == exists, "%s: row %" PRIu64 " %s after %" PRIu64 " events",
		              plugin, id, present ? "present" : "missing", n);
		for (int c = 0; exists && c < PROBE_SOURCE_COLUMNS; c++) {
			const char *got = w->rows[id].cells[c];
			ck_assert_msg(
			    (!got && !want[c]) || (got && want[c] && strcmp(got, want[c]) == 0),
			    "%s: row %" PRIu64 " column %d: \"%s\", expected \"%s\"", plugin, id, c,
			    got ? got : "NULL", want[c] ? want[c] : "NULL");
		}
	}
}

void conf_source(const conf_fixture *f)
{
	enum { BUNDLE = 10, TXN = 3, FIRST = 120, ALL = 200 };
	char section[2048], config[4096];
	run r;
	run_init(&r, f->register_plugin, f->ctx);
	r.world.max_batch = BUNDLE;
	f->reset(f->ctx, TABLE);
	f->section(f->ctx, TABLE, BUNDLE, section, sizeof section);
	snprintf(config, sizeof config,
	         "{\"source\": %s, \"target\": {\"type\": \"probe\", \"connection\": \"probe\"}}",
	         section);

	/* What is committed once the stream is READY arrives, once, in order. */
	dbs_stream *s = start(&r, config);
	f->changes(f->ctx, TABLE, 1, FIRST, TXN);
	wait_applied(&r, s, FIRST);
	stop(&r, s);
	dbs_stream_free(s);
	no_violations(&r, f->plugin);
	ck_assert_uint_eq(r.world.applied, FIRST);
	expect_probe_rows(&r, FIRST, f->plugin);

	/* Committed while the stream is stopped: the next run resumes from
	 * the target's checkpoint and loses none of it. */
	f->changes(f->ctx, TABLE, FIRST + 1, ALL, TXN);
	s = start(&r, config);
	wait_applied(&r, s, ALL);
	stop(&r, s);
	dbs_stream_free(s);
	no_violations(&r, f->plugin);
	ck_assert_msg(r.world.applied == ALL, "%s: %" PRIu64 " events applied, %d expected",
	              f->plugin, r.world.applied, ALL);
	expect_probe_rows(&r, ALL, f->plugin);

	if (f->cleanup)
		f->cleanup(f->ctx, TABLE);
	run_free(&r);
}

/* ---- targets ---- */

static void expect_table(const conf_fixture *f, uint64_t n)
{
	conf_rows rows = {0};
	f->rows(f->ctx, TABLE, &rows);
	ck_assert_uint_eq(rows.ncols, PROBE_ROWS_COLUMNS);
	size_t i = 0;
	for (uint64_t id = 1; id <= n; id++) {
		const char *want[PROBE_ROWS_COLUMNS];
		if (probe_expected_row(n, id, want) != 1)
			continue;
		ck_assert_msg(i < rows.nrows, "%s: row %" PRIu64 " missing (%zu rows)", f->plugin,
		              id, rows.nrows);
		char **got = rows.cells + i * rows.ncols;
		for (int c = 0; c < PROBE_ROWS_COLUMNS; c++)
			ck_assert_msg((!got[c] && !want[c]) ||
			                  (got[c] && want[c] && strcmp(got[c], want[c]) == 0),
			              "%s: row %" PRIu64 " column %d: \"%s\", expected \"%s\"",
			              f->plugin, id, c, got[c] ? got[c] : "NULL",
			              want[c] ? want[c] : "NULL");
		i++;
	}
	ck_assert_msg(i == rows.nrows, "%s: %zu rows, %zu expected", f->plugin, rows.nrows, i);
	conf_rows_free(&rows);
}

static void probe_config(char *buf, size_t size, const char *target, uint64_t events, int replay,
                         const char *shape, const char *hub)
{
	int n = snprintf(buf, size,
	                 "{\"source\": {\"type\": \"probe\", \"connection\": \"probe\", "
	                 "\"dataBundleSize\": 10, \"settings\": {\"events\": %" PRIu64
	                 ", \"transaction\": 7, \"table\": \"" TABLE "\", \"shape\": \"%s\", "
	                 "\"replay\": %s}}, \"target\": %s, \"hub\": %s}",
	                 events, shape, replay ? "true" : "false", target, hub);
	ck_assert(n > 0 && (size_t)n < size);
}

void conf_target(const conf_fixture *f)
{
	/* Whole transactions of 7: a run ends where a transaction does. */
	enum { FIRST = 147, ALL = 259 };
	char section[2048], config[4096];
	run r;
	run_init(&r, f->register_plugin, f->ctx);
	f->reset(f->ctx, TABLE);
	f->section(f->ctx, TABLE, 10, section, sizeof section);

	/* Inserts, updates and deletes of every kind of value, committed. */
	probe_config(config, sizeof config, section, FIRST, 0, "rows", "{\"type\": \"memory\"}");
	dbs_stream *s = start(&r, config);
	wait_ended(&r, s);
	dbs_stream_free(s);
	ck_assert_msg(!r.world.resume_given, "%s: a checkpoint before the first run", f->plugin);
	expect_table(f, FIRST);

	/* Opened again, the target hands back the checkpoint of the last
	 * event; everything delivered again from the first event (marked, so
	 * that applying it would show) changes nothing, and what is new is
	 * applied. */
	probe_config(config, sizeof config, section, ALL, 1, "rows", "{\"type\": \"memory\"}");
	s = start(&r, config);
	wait_ended(&r, s);
	dbs_stream_free(s);
	ck_assert_msg(r.world.resume_given, "%s: no checkpoint after a committed run", f->plugin);
	dbs_batch *b = NULL;
	dbs_table *t = NULL;
	ck_assert_int_eq(dbs_batch_new(&b, 1), 0);
	ck_assert_int_eq(probe_table_new(&t, 0, DBS_DIALECT_POSTGRESQL, "public", TABLE), 0);
	ck_assert_int_eq(probe_add_event(b, t, 0, FIRST, 7, FIRST), 0);
	const dbs_position *last = &dbs_batch_event(b, 0)->pos;
	ck_assert_msg(r.world.resume.txn == last->txn && r.world.resume.event == last->event,
	              "%s: checkpoint %" PRIu64 "#%" PRIu32 ", the last event was %" PRIu64
	              "#%" PRIu32,
	              f->plugin, r.world.resume.txn, r.world.resume.event, last->txn, last->event);
	dbs_batch_free(b);
	dbs_table_unref(t);
	expect_table(f, ALL);

	if (f->cleanup)
		f->cleanup(f->ctx, TABLE);
	run_free(&r);
}

/* ---- hubs ---- */

/* The lines of events from..to of a wide probe stream of `total`. */
static void expected_lines(dbs_buf *out, uint64_t from, uint64_t to, uint64_t total)
{
	dbs_table *t = NULL;
	dbs_batch *b = NULL;
	ck_assert_int_eq(probe_table_new(&t, 1, DBS_DIALECT_POSTGRESQL, "public", TABLE), 0);
	ck_assert_int_eq(dbs_batch_new(&b, 1), 0);
	for (uint64_t k = from; k <= to; k++) {
		dbs_batch_reset(b);
		ck_assert_int_eq(probe_add_event(b, t, 1, k, 7, total), 0);
		ck_assert_int_eq(probe_event_line(out, dbs_batch_event(b, 0)), 0);
	}
	dbs_batch_free(b);
	dbs_table_unref(t);
}

static void same_lines(const char *hub, const dbs_buf *got, const dbs_buf *want)
{
	const char *g = got->data ? got->data : "", *w = want->data ? want->data : "";
	size_t line = 1;
	while (*g && *w) {
		size_t lg = strcspn(g, "\n"), lw = strcspn(w, "\n");
		ck_assert_msg(lg == lw && memcmp(g, w, lg) == 0,
		              "%s: event %zu differs after the hub:\n got  %.*s\n want %.*s", hub,
		              line, (int)lg, g, (int)lw, w);
		g += lg + (g[lg] == '\n');
		w += lw + (w[lw] == '\n');
		line++;
	}
	ck_assert_msg(!*g && !*w, "%s: %s events after %zu", hub, *g ? "extra" : "missing",
	              line - 1);
}

void conf_hub(const char *hub, int (*register_plugin)(dbs_registry *registry, void *ctx), void *ctx)
{
	/* Whole transactions of 7: a run ends where a transaction does. */
	enum { FIRST = 497, ALL = 700 };
	char config[4096];
	const char *target = "{\"type\": \"probe\", \"connection\": \"probe\"}";
	run r;
	run_init(&r, register_plugin, ctx);
	r.world.max_batch = 10;
	r.world.keep_lines = 1;

	/* Every field of every event arrives unchanged, once, in order. */
	probe_config(config, sizeof config, target, FIRST, 0, "wide", hub);
	dbs_stream *s = start(&r, config);
	wait_ended(&r, s);
	dbs_stream_free(s);
	no_violations(&r, hub);
	dbs_buf want = DBS_BUF_INIT;
	expected_lines(&want, 1, FIRST, FIRST);
	same_lines(hub, &r.world.lines, &want);

	/* The stream id run again: the source resumes after what the target
	 * applied, and only the new events travel. */
	probe_config(config, sizeof config, target, ALL, 0, "wide", hub);
	s = start(&r, config);
	wait_ended(&r, s);
	dbs_stream_free(s);
	no_violations(&r, hub);
	ck_assert_uint_eq(r.world.applied, ALL);
	dbs_buf_reset(&want);
	expected_lines(&want, 1, ALL, ALL);
	same_lines(hub, &r.world.lines, &want);
	dbs_buf_free(&want);
	run_free(&r);
}
