/*
 * The core without databases: registry checks, batches, the memory hub,
 * and stream status transitions driven by in-test plugins registered in a
 * private registry under the names the configuration accepts.
 */
#include <check.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* The built-in memory hub (lib/hubs/memory): these tests link the
 * library's objects. */
extern const dbs_hub_ops dbs__memory_hub_ops;

/* ---- a generating source and a collecting target ---- */

static struct {
	atomic_int fail_source_open, fail_target_open, fail_apply_at;
	atomic_uint_fast64_t applied, acked_txn;
	atomic_int source_closed, target_closed;
	int per_batch;
	uint64_t max_events; /* 0: unlimited */
	/* Apply attempts that lose the connection before one goes through
	 * (-1: every one); restores that fail before one works. */
	atomic_int lose_attempts, fail_restores;
} t;

typedef struct gen_source {
	dbs_source base;
	const dbs_host *host;
	dbs_table *table;
	uint32_t bundle;
} gen_source;

static const dbs_source_ops gen_source_ops;

static int gen_open(dbs_source **out, const dbs_source_config *cfg, const dbs_host *host,
                    const dbs_position *resume, char *err, size_t errlen)
{
	(void)resume;
	*out = NULL;
	if (atomic_load(&t.fail_source_open)) {
		dbs_fmt(err, errlen, "connection refused by test");
		return DBS_ESOURCE;
	}
	gen_source *g = calloc(1, sizeof *g);
	dbs_column cols[2] = {{"id", "bigint", 20, -1, DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL},
	                      {"name", "text", 25, -1, 0}};
	ck_assert_int_eq(dbs_table_new(&g->table, DBS_DIALECT_POSTGRESQL, "public", "t", cols, 2), 0);
	g->base.ops = &gen_source_ops;
	g->host = host;
	g->bundle = cfg->data_bundle_size;
	*out = &g->base;
	return 0;
}

static int gen_run(dbs_source *src, dbs_emit_fn emit, void *data, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	gen_source *g = (gen_source *)src;
	uint64_t id = 0;
	while (!g->host->stopping(g->host)) {
		if ((t.max_events && id >= t.max_events) || t.per_batch == 0) {
			usleep(10000);
			continue;
		}
		dbs_batch *b;
		ck_assert_int_eq(dbs_batch_new(&b, g->bundle), 0);
		for (int i = 0; i < t.per_batch; i++) {
			dbs_event *ev;
			ck_assert_int_eq(dbs_batch_add(b, DBS_OP_INSERT, g->table, &ev), 0);
			ev->after[0].kind = DBS_VALUE_INT;
			ev->after[0].v.i = (int64_t)++id;
			ck_assert_int_eq(dbs_batch_set_bytes(b, &ev->after[1], DBS_VALUE_TEXT, "x", 1), 0);
			ev->pos.txn = id;
			ev->pos.resume = id + 1;
			ev->pos.event = 1;
			ev->pos.txn_end = 1;
		}
		int rc = emit(b, data);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	return 0;
}

static void gen_ack(dbs_source *src, const dbs_position *pos)
{
	(void)src;
	atomic_store(&t.acked_txn, pos->txn);
}

static void gen_close(dbs_source *src)
{
	gen_source *g = (gen_source *)src;
	dbs_table_unref(g->table);
	free(g);
	atomic_fetch_add(&t.source_closed, 1);
}

static const dbs_source_ops gen_source_ops = {
	.version = 1, /* written for version 1: takes no settings */
	.name = "postgresql",
	.open = gen_open,
	.run = gen_run,
	.ack = gen_ack,
	.close = gen_close,
};

typedef struct sink_target {
	dbs_target base;
	const dbs_host *host;
	int lost;
} sink_target;

static const dbs_target_ops sink_target_ops;

static int sink_open(dbs_target **out, const dbs_target_config *cfg, const dbs_host *host,
                     dbs_position *checkpoint, char *err, size_t errlen)
{
	(void)cfg;
	(void)host;
	*out = NULL;
	memset(checkpoint, 0, sizeof *checkpoint);
	if (atomic_load(&t.fail_target_open)) {
		dbs_fmt(err, errlen, "target said no");
		return DBS_ETARGET;
	}
	sink_target *s = calloc(1, sizeof *s);
	s->base.ops = &sink_target_ops;
	s->host = host;
	*out = &s->base;
	return 0;
}

static int sink_apply_once(dbs_target *tgt, const dbs_batch *b, char *err, size_t errlen);

struct sink_try {
	sink_target *s;
	const dbs_batch *b;
};

static int sink_try_apply(void *ctx, char *err, size_t errlen)
{
	struct sink_try *a = ctx;
	int left = atomic_load(&t.lose_attempts);
	if (left != 0) {
		if (left > 0)
			atomic_fetch_sub(&t.lose_attempts, 1);
		a->s->lost = 1;
		dbs_fmt(err, errlen, "server closed the connection unexpectedly");
		return DBS_ETARGET;
	}
	return sink_apply_once(&a->s->base, a->b, err, errlen);
}

static int sink_try_restore(void *ctx, char *err, size_t errlen)
{
	struct sink_try *a = ctx;
	a->s->lost = 0;
	if (atomic_load(&t.fail_restores) > 0) {
		atomic_fetch_sub(&t.fail_restores, 1);
		a->s->lost = 1;
		dbs_fmt(err, errlen, "connection refused");
		return DBS_ETARGET;
	}
	return 0;
}

/* Through the core's reconnect policy, as the real targets apply. */
static int sink_apply(dbs_target *tgt, const dbs_batch *b, char *err, size_t errlen)
{
	struct sink_try a = {(sink_target *)tgt, b};
	return dbs_retry_lost(a.s->host, "sink", &a.s->lost, sink_try_apply, sink_try_restore, &a,
	                       err, errlen);
}

static int sink_apply_once(dbs_target *tgt, const dbs_batch *b, char *err, size_t errlen)
{
	(void)tgt;
	int fail_at = atomic_load(&t.fail_apply_at);
	uint64_t n = atomic_load(&t.applied);
	if (fail_at && n + dbs_batch_count(b) >= (uint64_t)fail_at) {
		dbs_fmt(err, errlen, "public.t (id=%d): duplicate key", fail_at);
		return DBS_ETARGET;
	}
	for (uint32_t i = 0; i < dbs_batch_count(b); i++)
		ck_assert_int_eq(dbs_batch_event(b, i)->after[0].v.i, (int64_t)(n + i + 1));
	atomic_fetch_add(&t.applied, dbs_batch_count(b));
	return 0;
}

static void sink_close(dbs_target *tgt)
{
	free(tgt);
	atomic_fetch_add(&t.target_closed, 1);
}

/* A version 1 target (no flush): still accepted, and every batch is its
 * own commit. */
static const dbs_target_ops sink_target_ops = {.version = 1,
                                               .name = "postgresql",
                                               .open = sink_open,
                                               .apply = sink_apply,
                                               .close = sink_close};

static dbs_registry *test_registry(void)
{
	dbs_registry *r;
	ck_assert_int_eq(dbs_registry_new(&r, 0), 0);
	ck_assert_int_eq(dbs_registry_add_source(r, &gen_source_ops), 0);
	ck_assert_int_eq(dbs_registry_add_target(r, &sink_target_ops), 0);
	ck_assert_int_eq(dbs_registry_add_hub(r, &dbs__memory_hub_ops), 0);
	return r;
}

static void reset(int per_batch)
{
	memset(&t, 0, sizeof t);
	t.per_batch = per_batch;
}

static const char *config_with_limits(char *buf, size_t size, unsigned events, unsigned secs)
{
	snprintf(buf, size,
	         "{\"source\":{\"type\":\"postgresql\",\"connection\":\"host=nowhere\"},"
	         "\"target\":{\"type\":\"postgresql\",\"connection\":\"host=nowhere\"},"
	         "\"limits\":{\"numberOfEvents\":%u,\"elapsedTime\":%u}}",
	         events, secs);
	return buf;
}

static dbs_stream *start(dbs_registry *r, unsigned events, unsigned secs)
{
	char cfg[512];
	config_with_limits(cfg, sizeof cfg, events, secs);
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.registry = r;
	dbs_stream *s = NULL;
	int rc = dbs_stream_create(&s, cfg, strlen(cfg), &o);
	ck_assert_msg(rc == 0, "create: %s", dbs_error_last());
	return s;
}

/* ---- registry ---- */

START_TEST(registry_refuses_bad_plugins)
{
	dbs_registry *r;
	ck_assert_int_eq(dbs_registry_new(&r, 0), 0);
	dbs_source_ops bad = gen_source_ops;
	bad.version = 99;
	ck_assert_int_eq(dbs_registry_add_source(r, &bad), DBS_EINVAL);
	ck_assert_ptr_nonnull(strstr(dbs_error_last(), "unsupported version 99"));
	bad = gen_source_ops;
	bad.run = NULL;
	ck_assert_int_eq(dbs_registry_add_source(r, &bad), DBS_EINVAL);
	ck_assert_ptr_nonnull(strstr(dbs_error_last(), "are required"));
	bad = gen_source_ops;
	bad.name = "";
	ck_assert_int_eq(dbs_registry_add_source(r, &bad), DBS_EINVAL);
	ck_assert_int_eq(dbs_registry_add_source(r, &gen_source_ops), 0);
	ck_assert_int_eq(dbs_registry_add_source(r, &gen_source_ops), DBS_EEXISTS);
	ck_assert_ptr_eq(dbs_registry_source(r, "postgresql"), &gen_source_ops);
	ck_assert_ptr_null(dbs_registry_source(r, "mysql"));

	dbs_target_ops badt = sink_target_ops;
	badt.apply = NULL;
	ck_assert_int_eq(dbs_registry_add_target(r, &badt), DBS_EINVAL);
	badt = sink_target_ops;
	badt.version = 0;
	ck_assert_int_eq(dbs_registry_add_target(r, &badt), DBS_EINVAL);
	dbs_hub_ops badh = dbs__memory_hub_ops;
	badh.fetch = NULL;
	ck_assert_int_eq(dbs_registry_add_hub(r, &badh), DBS_EINVAL);
	ck_assert_int_eq(dbs_registry_add_hub(r, &dbs__memory_hub_ops), 0);
	ck_assert_int_eq(dbs_registry_add_hub(r, &dbs__memory_hub_ops), DBS_EEXISTS);
	dbs_registry_free(r);

	ck_assert_int_eq(dbs_registry_new(&r, 1), 0);
	ck_assert_ptr_nonnull(dbs_registry_hub(r, "memory"));
	ck_assert_ptr_nonnull(dbs_registry_source(r, "postgresql"));
	ck_assert_ptr_nonnull(dbs_registry_target(r, "postgresql"));
	dbs_registry_free(r);
}
END_TEST

/* ---- batches ---- */

START_TEST(batch_holds_values_and_tables)
{
	dbs_column cols[1] = {{"id", "int", 23, -1, DBS_COLUMN_KEY}};
	dbs_table *tab;
	ck_assert_int_eq(dbs_table_new(&tab, DBS_DIALECT_POSTGRESQL, "s", "t", cols, 1), 0);
	dbs_batch *b;
	ck_assert_int_eq(dbs_batch_new(&b, 2), 0);
	char big[100000];
	memset(big, 'z', sizeof big);
	for (int i = 0; i < 1000; i++) {
		dbs_event *ev;
		ck_assert_int_eq(dbs_batch_add(b, i % 3 == 0 ? DBS_OP_INSERT : i % 3 == 1 ? DBS_OP_UPDATE
		                                                                          : DBS_OP_DELETE,
		                               tab, &ev),
		                 0);
		ck_assert(ev->op == DBS_OP_INSERT ? ev->before == NULL : ev->before != NULL);
		ck_assert(ev->op == DBS_OP_DELETE ? ev->after == NULL : ev->after != NULL);
		dbs_value *v = ev->after ? ev->after : ev->before;
		ck_assert_int_eq(v[0].kind, DBS_VALUE_NULL);
		ck_assert_int_eq(dbs_batch_set_bytes(b, v, DBS_VALUE_TEXT, big, i == 500 ? sizeof big : 3),
		                 0);
		ev->pos.txn = (uint64_t)i;
	}
	dbs_table_unref(tab); /* the batch keeps it alive */
	ck_assert_uint_eq(dbs_batch_count(b), 1000);
	dbs_event *e = dbs_batch_event(b, 500);
	dbs_value *v = e->after ? e->after : e->before;
	ck_assert_uint_eq(v->len, sizeof big);
	ck_assert_int_eq(memcmp(v->v.s, big, sizeof big), 0);
	ck_assert_str_eq(e->table->name, "t");
	ck_assert_uint_eq(dbs_batch_last(b)->txn, 999);
	dbs_batch_truncate(b, 10);
	ck_assert_uint_eq(dbs_batch_count(b), 10);
	ck_assert_ptr_null(dbs_batch_event(b, 10));
	dbs_batch_reset(b);
	ck_assert_uint_eq(dbs_batch_count(b), 0);
	dbs_batch_free(b);
}
END_TEST

START_TEST(table_indexes)
{
	dbs_column cols[3] = {{"id", "int", 23, -1, DBS_COLUMN_KEY}, {"a", "text", 25, -1, 0},
	                      {"b", "text", 25, -1, 0}};
	dbs_table *tab;
	ck_assert_int_eq(dbs_table_new(&tab, DBS_DIALECT_POSTGRESQL, "s", "t", cols, 3), 0);
	ck_assert_uint_eq(tab->nindexes, 0);
	uint32_t ab[2] = {2, 1}, bad[1] = {3};
	ck_assert_int_eq(dbs_table_add_index(tab, "t_b_a", DBS_INDEX_UNIQUE, ab, 2), 0);
	ck_assert_int_eq(dbs_table_add_index(tab, "t_bad", 0, bad, 1), DBS_EINVAL);
	ck_assert_uint_eq(tab->nindexes, 1);
	ck_assert_str_eq(tab->indexes[0].name, "t_b_a");
	ck_assert_uint_eq(tab->indexes[0].columns[0], 2);
	ck_assert_uint_eq(tab->indexes[0].flags, DBS_INDEX_UNIQUE);
	dbs_table_ref(tab);
	ck_assert_int_eq(dbs_table_add_index(tab, "late", 0, ab, 1), DBS_EINVAL); /* shared */
	dbs_table_unref(tab);
	dbs_table_unref(tab);
}
END_TEST

START_TEST(position_order)
{
	dbs_position a = {.txn = 10, .event = 1}, b = {.txn = 10, .event = 2},
	             c = {.txn = 11, .event = 1, .txn_end = 1};
	ck_assert_int_eq(dbs_position_cmp(&a, &b), -1);
	ck_assert_int_eq(dbs_position_cmp(&b, &c), -1);
	ck_assert_int_eq(dbs_position_cmp(&c, &a), 1);
	ck_assert_int_eq(dbs_position_cmp(&a, &a), 0);
}
END_TEST

START_TEST(position_order_by_gtid)
{
	/* One domain's GTIDs order positions whatever the binlog offsets: a
	 * checkpoint from one server against events read from its replica. */
	dbs_position ck = {.txn = 7ull << 32 | 90000, .event = 3, .txn_end = 1,
	                   .gtid_domain = 0, .gtid_server = 1, .gtid_seq = 50};
	dbs_position next = {.txn = 1ull << 32 | 400, .event = 1,
	                     .gtid_domain = 0, .gtid_server = 1, .gtid_seq = 51};
	dbs_position same = {.txn = 1ull << 32 | 300, .event = 3,
	                     .gtid_domain = 0, .gtid_server = 1, .gtid_seq = 50};
	dbs_position before = {.txn = 9ull << 32, .event = 9,
	                       .gtid_domain = 0, .gtid_server = 2, .gtid_seq = 49};
	ck_assert_int_eq(dbs_position_cmp(&next, &ck), 1);
	ck_assert_int_eq(dbs_position_cmp(&same, &ck), 0);
	ck_assert_int_eq(dbs_position_cmp(&before, &ck), -1);
	same.event = 4;
	ck_assert_int_eq(dbs_position_cmp(&same, &ck), 1);
	/* Another domain, or no GTID on one side: the binlog order. */
	next.gtid_domain = 1;
	ck_assert_int_eq(dbs_position_cmp(&next, &ck), -1);
	before.gtid_seq = 0;
	ck_assert_int_eq(dbs_position_cmp(&before, &ck), 1);

	char text[64];
	uint32_t d = 9, sv = 9;
	uint64_t seq = 9;
	ck_assert_int_eq(dbs_gtid_text(text, sizeof text, &ck), 0);
	ck_assert_str_eq(text, "0-1-50");
	ck_assert_int_eq(dbs_gtid_parse("4294967295-2-18446744073709551615", 33, &d, &sv, &seq), 0);
	ck_assert(d == UINT32_MAX && sv == 2 && seq == UINT64_MAX);
	static const char *const bad[] = {"", "1-2", "1-2-0", "1-2-3-", "a-1-2", "4294967296-1-1",
	                                  "1--2", "1-2-18446744073709551616", " 1-2-3"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(dbs_gtid_parse(bad[i], strlen(bad[i]), &d, &sv, &seq) == -1, "%s",
		              bad[i]);
	ck.gtid_seq = 0;
	ck_assert_int_eq(dbs_gtid_text(text, sizeof text, &ck), 0);
	ck_assert_str_eq(text, "");
}
END_TEST

/* ---- stream lifecycle ---- */

START_TEST(stream_ready_then_running_then_stopped)
{
	reset(10);
	t.max_events = 0;
	dbs_registry *r = test_registry();
	t.max_events = 30; /* then idle */
	dbs_stream *s = start(r, 0, 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(strlen(dbs_stream_id(s)), 27);
	for (int i = 0; i < 200 && atomic_load(&t.applied) < 30; i++)
		usleep(10000);
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_RUNNING);
	ck_assert_int_eq(st.target.status, DBS_STATUS_RUNNING);
	ck_assert_uint_eq(st.source.counter, 30);
	ck_assert_uint_eq(st.target.counter, 30);
	ck_assert_int_gt(st.source.started_ns, 0);
	ck_assert_uint_eq(atomic_load(&t.acked_txn), 30);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	ck_assert_int_eq(dbs_stream_stop(s), 0); /* idempotent */
	ck_assert_int_eq(dbs_stream_wait(s, 0), 0);
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_STOPPED);
	ck_assert_int_eq(st.target.status, DBS_STATUS_STOPPED);
	ck_assert_int_gt(st.target.elapsed_ns, 0);
	ck_assert_int_eq(atomic_load(&t.source_closed), 1);
	ck_assert_int_eq(atomic_load(&t.target_closed), 1);
	char *json;
	ck_assert_int_eq(dbs_stream_config_json(&json, s), 0);
	ck_assert_ptr_nonnull(strstr(json, dbs_stream_id(s)));
	dbs_free(json);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

START_TEST(stream_stays_ready_without_events)
{
	reset(10);
	t.max_events = 0;
	dbs_registry *r = test_registry();
	t.per_batch = 0; /* the source captures nothing */
	dbs_stream *s = start(r, 0, 0);
	usleep(100000);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_READY);
	ck_assert_int_eq(st.target.status, DBS_STATUS_READY);
	ck_assert_uint_eq(st.source.counter, 0);
	ck_assert_int_eq(st.source.started_ns, 0);
	ck_assert_int_eq(st.source.elapsed_ns, 0);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

START_TEST(stream_event_limit_is_exact)
{
	reset(7); /* batches do not divide the limit */
	dbs_registry *r = test_registry();
	dbs_stream *s = start(r, 1000, 0);
	ck_assert_int_eq(dbs_stream_wait(s, 10000), 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_EVENT_LIMIT_REACHED);
	ck_assert_int_eq(st.target.status, DBS_STATUS_EVENT_LIMIT_REACHED);
	ck_assert_uint_eq(st.source.counter, 1000);
	ck_assert_uint_eq(st.target.counter, 1000);
	ck_assert_uint_eq(atomic_load(&t.applied), 1000);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

START_TEST(stream_time_limit)
{
	reset(5);
	t.max_events = 50;
	dbs_registry *r = test_registry();
	dbs_stream *s = start(r, 0, 1);
	ck_assert_int_eq(dbs_stream_wait(s, 5000), 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_TIME_LIMIT_REACHED);
	ck_assert_int_eq(st.target.status, DBS_STATUS_TIME_LIMIT_REACHED);
	ck_assert_uint_eq(st.target.counter, 50);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

START_TEST(stream_target_failure_fails_with_reason)
{
	reset(10);
	dbs_registry *r = test_registry();
	atomic_store(&t.fail_apply_at, 55);
	dbs_stream *s = start(r, 0, 0);
	ck_assert_int_eq(dbs_stream_wait(s, 10000), 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.target.status, DBS_STATUS_FAILED);
	ck_assert_str_eq(st.target.message, "public.t (id=55): duplicate key");
	ck_assert_int_eq(st.source.status, DBS_STATUS_STOPPED);
	ck_assert_uint_eq(st.target.counter, 50);
	/* Nothing after the failed batch was confirmed to the source. */
	ck_assert_uint_eq(atomic_load(&t.acked_txn), 50);
	ck_assert_ptr_nonnull(strstr(dbs_stream_errmsg(s), "duplicate key"));
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

/* A stat never shows a failed node without its reason: the status and the
 * message change together. With fault injection the point between the two
 * is held open for 300 ms, so a stat taken in between would see it. */
START_TEST(stream_failure_and_reason_seen_together)
{
	setenv("DBS_FAULT_PAUSE", "stream.node_ended:300", 1);
	reset(10);
	dbs_registry *r = test_registry();
	atomic_store(&t.fail_apply_at, 55);
	dbs_stream *s = start(r, 0, 0);
	dbs_stat st = DBS_STAT_INIT;
	int seen = 0;
	for (int i = 0; i < 100000 && !seen; i++) {
		ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
		seen = dbs_status_is_terminal(st.target.status);
		if (!seen)
			usleep(100);
	}
	ck_assert_int_eq(st.target.status, DBS_STATUS_FAILED);
	ck_assert_str_eq(st.target.message, "public.t (id=55): duplicate key");
	ck_assert_int_eq(dbs_stream_wait(s, 10000), 0);
	dbs_stream_free(s);
	dbs_registry_free(r);
	unsetenv("DBS_FAULT_PAUSE");
}
END_TEST

START_TEST(stream_init_failed)
{
	reset(10);
	dbs_registry *r = test_registry();
	atomic_store(&t.fail_source_open, 1);
	dbs_stream *s = start(r, 0, 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_INIT_FAILED);
	ck_assert_str_eq(st.source.message, "connection refused by test");
	ck_assert_str_eq(dbs_status_name(st.source.status), "INIT FAILED");
	ck_assert_int_eq(dbs_stream_wait(s, 0), 0);
	ck_assert_int_eq(atomic_load(&t.target_closed), 1);
	dbs_stream_free(s);

	reset(10);
	atomic_store(&t.fail_target_open, 1);
	s = start(r, 0, 0);
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.target.status, DBS_STATUS_INIT_FAILED);
	ck_assert_str_eq(st.target.message, "target said no");
	ck_assert_int_eq(atomic_load(&t.source_closed), 0); /* never opened */
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

START_TEST(stream_bad_config_makes_no_stream)
{
	dbs_stream *s = (dbs_stream *)1;
	const char *cfg = "{\"source\":{\"type\":\"oracle\"}}";
	ck_assert_int_eq(dbs_stream_create(&s, cfg, strlen(cfg), NULL), DBS_ECONFIG);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(dbs_error_last(), "source."));
}
END_TEST

/* ---- parts ---- */

/* A version 2 hub that takes batches and reports each one as committed by
 * a (remote) writer: what the nats hub does with a source part. */
typedef struct relay_hub {
	dbs_hub base;
	pthread_mutex_t mu;
	dbs_position last;
	int moved;
} relay_hub;

static const dbs_hub_ops relay_hub_ops;

static int relay_open(dbs_hub **out, const dbs_hub_config *cfg, const dbs_host *host, char *err,
                      size_t errlen)
{
	(void)host;
	(void)err;
	(void)errlen;
	ck_assert_uint_eq(cfg->part, DBS_HUB_PART_SOURCE);
	relay_hub *h = calloc(1, sizeof *h);
	pthread_mutex_init(&h->mu, NULL);
	h->base.ops = &relay_hub_ops;
	*out = &h->base;
	return 0;
}

static int relay_publish(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	relay_hub *h = (relay_hub *)hub;
	pthread_mutex_lock(&h->mu);
	h->last = *dbs_batch_last(batch);
	h->moved = 1;
	pthread_mutex_unlock(&h->mu);
	dbs_batch_free(batch);
	return 0;
}

static void relay_close_publish(dbs_hub *hub)
{
	(void)hub;
}

static int relay_fetch(dbs_hub *hub, dbs_batch **out, int timeout_ms, char *err, size_t errlen)
{
	(void)hub;
	(void)out;
	(void)timeout_ms;
	(void)err;
	(void)errlen;
	ck_abort_msg("a source part never fetches");
	return DBS_EINTERNAL;
}

static int relay_ack(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	(void)hub;
	(void)batch;
	(void)err;
	(void)errlen;
	ck_abort_msg("a source part never acks batches");
	return DBS_EINTERNAL;
}

static void relay_close(dbs_hub *hub)
{
	relay_hub *h = (relay_hub *)hub;
	pthread_mutex_destroy(&h->mu);
	free(h);
}

static int relay_acked(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	relay_hub *h = (relay_hub *)hub;
	pthread_mutex_lock(&h->mu);
	int moved = h->moved;
	if (moved)
		*pos = h->last;
	h->moved = 0;
	pthread_mutex_unlock(&h->mu);
	return moved;
}

/* The relay takes a URL like the hub it stands in for (and ignores it). */
typedef struct relay_settings {
	const char *url;
} relay_settings;

static const dbs_option relay_options[] = {
    {.key = "url", .kind = DBS_OPTION_STRING, .flags = DBS_OPTION_CONNECTION,
     .offset = offsetof(relay_settings, url), .doc = "ignored"},
};

static const dbs_hub_ops relay_hub_ops = {
    .version = DBS_HUB_OPS_VERSION,
    .name = "nats",
    .options = relay_options,
    .noptions = 1,
    .settings_size = sizeof(relay_settings),
    .open = relay_open,
    .publish = relay_publish,
    .close_publish = relay_close_publish,
    .fetch = relay_fetch,
    .ack = relay_ack,
    .close = relay_close,
    .acked = relay_acked,
};

#define NATS_CONFIG(extra)                                                             \
	"{\"source\":{\"type\":\"postgresql\",\"connection\":\"host=nowhere\"},"            \
	"\"target\":{\"type\":\"postgresql\",\"connection\":\"host=nowhere\"},"             \
	"\"hub\":{\"type\":\"nats\",\"url\":\"nats://127.0.0.1:1\"" extra "}}"

static int create_part(dbs_registry *r, const char *cfg, const char *id, dbs_stream_part part,
                       uint32_t partition, dbs_stream **out)
{
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.registry = r;
	o.stream_id = id;
	o.part = part;
	o.partition = partition;
	return dbs_stream_create(out, cfg, strlen(cfg), &o);
}

START_TEST(stream_parts_are_checked)
{
	reset(10);
	dbs_registry *r = test_registry();
	ck_assert_int_eq(dbs_registry_add_hub(r, &relay_hub_ops), 0);
	dbs_stream *s = NULL;
	char id[28];
	ck_assert_int_eq(dbs_ksuid_new(id), 0);
	const char *memory = "{\"source\":{\"type\":\"postgresql\",\"connection\":\"host=x\"},"
	                     "\"target\":{\"type\":\"postgresql\",\"connection\":\"host=x\"}}";
	/* The memory hub (version 2 slots empty) cannot carry a stream in parts. */
	ck_assert_int_eq(create_part(r, memory, id, DBS_PART_SOURCE, 0, &s), DBS_ECONFIG);
	ck_assert_ptr_nonnull(strstr(dbs_error_last(), "parts"));
	/* Both parts must name the same stream. */
	ck_assert_int_eq(create_part(r, memory, NULL, DBS_PART_TARGET, 0, &s), DBS_EINVAL);
	ck_assert_ptr_nonnull(strstr(dbs_error_last(), "stream id"));
	ck_assert_int_eq(create_part(r, memory, id, (dbs_stream_part)7, 0, &s), DBS_EINVAL);
	/* Several writers run apart from the source, each on a partition it has. */
	ck_assert_int_eq(create_part(r, NATS_CONFIG(",\"partitions\":2"), id, DBS_PART_ALL, 0, &s),
	                 DBS_ECONFIG);
	ck_assert_ptr_nonnull(strstr(dbs_error_last(), "hub.partitions"));
	ck_assert_int_eq(
	    create_part(r, NATS_CONFIG(",\"partitions\":2"), id, DBS_PART_TARGET, 2, &s),
	    DBS_EINVAL);
	ck_assert_ptr_null(s);
	dbs_registry_free(r);
}
END_TEST

START_TEST(source_part_confirms_what_remote_writers_acked)
{
	reset(10);
	t.max_events = 50;
	dbs_registry *r;
	ck_assert_int_eq(dbs_registry_new(&r, 0), 0);
	ck_assert_int_eq(dbs_registry_add_source(r, &gen_source_ops), 0);
	ck_assert_int_eq(dbs_registry_add_target(r, &sink_target_ops), 0);
	ck_assert_int_eq(dbs_registry_add_hub(r, &relay_hub_ops), 0);
	char id[28];
	ck_assert_int_eq(dbs_ksuid_new(id), 0);
	dbs_stream *s = NULL;
	ck_assert_msg(create_part(r, NATS_CONFIG(""), id, DBS_PART_SOURCE, 0, &s) == 0, "%s",
	              dbs_error_last());
	for (int i = 0; i < 300 && atomic_load(&t.acked_txn) < 50; i++)
		usleep(10000);
	ck_assert_uint_eq(atomic_load(&t.acked_txn), 50);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_RUNNING);
	ck_assert_uint_eq(st.source.counter, 50);
	/* No target here: it never opened and stays READY. */
	ck_assert_int_eq(st.target.status, DBS_STATUS_READY);
	ck_assert_int_eq(atomic_load(&t.target_closed), 0);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_STOPPED);
	ck_assert_int_eq(atomic_load(&t.source_closed), 1);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

static dbs_stream *start_json(dbs_registry *r, const char *cfg)
{
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.registry = r;
	dbs_stream *s = NULL;
	int rc = dbs_stream_create(&s, cfg, strlen(cfg), &o);
	ck_assert_msg(rc == 0, "create: %s", dbs_error_last());
	return s;
}

#define SINK_CONFIG(extra)                                                                         \
	"{\"source\":{\"type\":\"postgresql\",\"connection\":\"host=nowhere\"},"                   \
	"\"target\":{\"type\":\"postgresql\",\"connection\":\"host=nowhere\"}" extra "}"

/* A lost target connection is retried: the stat counts one outage,
 * shows it while it lasts, keeps the last error, and the stream goes on
 * without losing or repeating an event. */
START_TEST(stream_reconnect_shows_in_stat)
{
	reset(10);
	t.max_events = 30;
	atomic_store(&t.lose_attempts, 1);
	atomic_store(&t.fail_restores, 2); /* 0.5 s + 1 s + 2 s of backoff */
	dbs_registry *r = test_registry();
	dbs_stream *s = start_json(r, SINK_CONFIG(""));
	dbs_stat st = DBS_STAT_INIT;
	int seen_reconnecting = 0;
	for (int i = 0; i < 1000 && atomic_load(&t.applied) < 30; i++) {
		ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
		if (st.target_conn.reconnecting) {
			seen_reconnecting = 1;
			ck_assert_uint_eq(st.target_conn.reconnects, 1);
			ck_assert_int_gt(st.target_conn.lost_since_ns, 0);
			ck_assert_int_ne(st.target.status, DBS_STATUS_FAILED);
		}
		usleep(10000);
	}
	ck_assert_uint_eq(atomic_load(&t.applied), 30);
	ck_assert_int_eq(seen_reconnecting, 1);
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_uint_eq(st.target_conn.reconnects, 1);
	ck_assert_int_eq(st.target_conn.reconnecting, 0);
	ck_assert_int_eq(st.target_conn.lost_since_ns, 0);
	ck_assert_str_eq(st.target_conn.last_error, "connection refused");
	ck_assert_uint_eq(st.source_conn.reconnects, 0);
	ck_assert_str_eq(st.source_conn.last_error, "");
	ck_assert_int_eq(st.target.status, DBS_STATUS_RUNNING);
	ck_assert_uint_eq(st.target.counter, 30);
	ck_assert_int_eq(dbs_stream_stop(s), 0);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

/* A connection that stays lost past reconnect.giveUpAfter fails the
 * target with the reason. */
START_TEST(stream_reconnect_gives_up)
{
	reset(10);
	t.max_events = 10;
	atomic_store(&t.lose_attempts, -1);
	dbs_registry *r = test_registry();
	dbs_stream *s = start_json(r, SINK_CONFIG(",\"reconnect\":{\"giveUpAfter\":1}"));
	ck_assert_int_eq(dbs_stream_wait(s, 20000), 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.target.status, DBS_STATUS_FAILED);
	ck_assert_msg(strstr(st.target.message, "sink: connection lost for 1 s, gave up after") &&
	                  strstr(st.target.message, "(reconnect.giveUpAfter): server closed the "
	                                            "connection unexpectedly"),
	              "%s", st.target.message);
	ck_assert_uint_eq(st.target_conn.reconnects, 1);
	ck_assert_int_eq(st.target_conn.reconnecting, 0); /* FAILED retries nothing */
	ck_assert_uint_eq(atomic_load(&t.applied), 0);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

/* A caller built against the first stat struct (it ends at `target`)
 * gets that much and nothing written past it. */
START_TEST(stat_version_1_accepted)
{
	reset(10);
	t.max_events = 20;
	dbs_registry *r = test_registry();
	dbs_stream *s = start_json(r, SINK_CONFIG(""));
	for (int i = 0; i < 300 && atomic_load(&t.applied) < 20; i++)
		usleep(10000);
	struct {
		unsigned version;
		char stream_id[28];
		dbs_node_stat source;
		dbs_node_stat target;
		unsigned char guard[64];
	} v1;
	memset(&v1, 0xA5, sizeof v1);
	v1.version = 1;
	ck_assert_int_eq(dbs_stream_stat(s, (dbs_stat *)(void *)&v1), 0);
	ck_assert_uint_eq(v1.version, 1);
	ck_assert_str_eq(v1.stream_id, dbs_stream_id(s));
	ck_assert_int_eq(v1.target.status, DBS_STATUS_RUNNING);
	ck_assert_uint_eq(v1.target.counter, 20);
	for (size_t i = 0; i < sizeof v1.guard; i++)
		ck_assert_uint_eq(v1.guard[i], 0xA5);
	dbs_stat st = DBS_STAT_INIT;
	st.version = DBS_STAT_VERSION + 1;
	ck_assert_int_eq(dbs_stream_stat(s, &st), DBS_EINVAL);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

/* A caller built against the first options struct (it ends at
 * `registry`) still gets a stream, with defaults for the rest. */
START_TEST(options_version_1_accepted)
{
	reset(10);
	t.max_events = 20;
	dbs_registry *r = test_registry();
	struct {
		unsigned version;
		dbs_log_fn log;
		void *log_user_data;
		dbs_log_level log_level;
		const char *stream_id;
		const char *default_hub;
		const struct dbs_registry *registry;
	} v1 = {1, NULL, NULL, DBS_LOG_INFO, NULL, NULL, r};
	char cfg[512];
	config_with_limits(cfg, sizeof cfg, 0, 0);
	dbs_stream *s = NULL;
	ck_assert_int_eq(dbs_stream_create(&s, cfg, strlen(cfg), (const dbs_stream_options *)&v1), 0);
	for (int i = 0; i < 300 && atomic_load(&t.applied) < 20; i++)
		usleep(10000);
	ck_assert_uint_eq(atomic_load(&t.applied), 20);
	dbs_stream_free(s);
	dbs_registry_free(r);
}
END_TEST

START_TEST(status_names)
{
	ck_assert_str_eq(dbs_status_name(DBS_STATUS_READY), "READY");
	ck_assert_str_eq(dbs_status_name(DBS_STATUS_EVENT_LIMIT_REACHED), "EVENT_LIMIT_REACHED");
	ck_assert_str_eq(dbs_status_name(DBS_STATUS_TIME_LIMIT_REACHED), "TIME_LIMIT_REACHED");
	ck_assert_str_eq(dbs_status_name((dbs_status)99), "UNKNOWN_ERROR");
	ck_assert(!dbs_status_is_terminal(DBS_STATUS_RUNNING));
	ck_assert(dbs_status_is_terminal(DBS_STATUS_STOPPED));
	ck_assert(dbs_status_is_terminal(DBS_STATUS_INIT_FAILED));
}
END_TEST

/* Stall detection: only work that waits without any progress for
 * stallAfter counts, from the later of the last progress and the moment
 * the work appeared. */
START_TEST(stall_needs_waiting_work_and_no_progress)
{
	/* A timeline of its own, far from the real clock: each report that
	 * counts as progress is moved to its moment on it. */
	const int64_t sec = 1000000000, t0 = 1000 * sec;
	dbs_stall w;
	dbs__stall_init(&w, 10);
	atomic_store(&w.progress_mono_ns, t0);
	/* Idle for an hour: nothing waits, nothing stalls. */
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3600 * sec), 0);
	ck_assert_int_eq(atomic_load(&w.stalled), 0);
	/* Work appears after the quiet hour: the clock starts when it is seen. */
	dbs__stall_lag(&w, 100);
	ck_assert_int_eq(atomic_load(&w.progress_mono_ns), t0); /* 0 -> 100 is no progress */
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3601 * sec), 0);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3610 * sec), 0);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3611 * sec), 1);
	ck_assert_int_eq(atomic_load(&w.stalled), 1);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3620 * sec), 0);
	/* The lag dropping is progress: no longer stalled. */
	int64_t before = atomic_load(&w.progress_mono_ns);
	dbs__stall_lag(&w, 50);
	ck_assert_int_ne(atomic_load(&w.progress_mono_ns), before);
	atomic_store(&w.progress_mono_ns, t0 + 3621 * sec);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3622 * sec), -1);
	/* The lag growing is not: ten seconds on, stalled again. */
	before = atomic_load(&w.progress_mono_ns);
	dbs__stall_lag(&w, 80);
	ck_assert_int_eq(atomic_load(&w.progress_mono_ns), before);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3630 * sec), 0);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3631 * sec), 1);
	/* Caught up: nothing waits. */
	dbs__stall_lag(&w, 0);
	atomic_store(&w.progress_mono_ns, t0 + 3632 * sec);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3633 * sec), -1);
	/* A batch held by the target is work even without lag. */
	dbs__stall_held(&w, 1);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3640 * sec), 0);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3650 * sec), 1);
	dbs__stall_held(&w, 0);
	ck_assert_int_eq(dbs__stall_check(&w, t0 + 3651 * sec), -1);
	/* stallAfter 0: never. */
	dbs__stall_init(&w, 0);
	dbs__stall_held(&w, 1);
	ck_assert_int_eq(dbs__stall_check(&w, atomic_load(&w.progress_mono_ns) + 3600 * sec), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, registry_refuses_bad_plugins);
	tcase_add_test(tc, batch_holds_values_and_tables);
	tcase_add_test(tc, position_order);
	tcase_add_test(tc, position_order_by_gtid);
	tcase_add_test(tc, table_indexes);
	tcase_add_test(tc, status_names);
	tcase_add_test(tc, stream_ready_then_running_then_stopped);
	tcase_add_test(tc, stream_stays_ready_without_events);
	tcase_add_test(tc, stream_event_limit_is_exact);
	tcase_add_test(tc, stream_time_limit);
	tcase_add_test(tc, stream_target_failure_fails_with_reason);
	tcase_add_test(tc, stream_init_failed);
	tcase_add_test(tc, stream_failure_and_reason_seen_together);
	tcase_add_test(tc, stream_bad_config_makes_no_stream);
	tcase_add_test(tc, stream_parts_are_checked);
	tcase_add_test(tc, source_part_confirms_what_remote_writers_acked);
	tcase_add_test(tc, options_version_1_accepted);
	tcase_add_test(tc, stream_reconnect_shows_in_stat);
	tcase_add_test(tc, stream_reconnect_gives_up);
	tcase_add_test(tc, stat_version_1_accepted);
	tcase_add_test(tc, stall_needs_waiting_work_and_no_progress);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
