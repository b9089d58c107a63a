/*
 * The nats hub against a real nats-server with JetStream (from the
 * harness: DBS_TEST_NATS_URL): 100,000 events published from one thread
 * arrive once, in order and equal on another; a re-published batch is
 * dropped by the duplicate window; batches over max_payload are split and
 * one event over it is refused with a clear error. Each test uses its own
 * stream id and deletes its JetStream stream at the end.
 */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include <dbstreams/sys/codec.h>

#include "hubs/nats/nats_hub.h"
#include "core/core.h"

/* The hub under test (lib/hubs/nats): this test links the library's
 * objects. */
extern const dbs_hub_ops dbs__nats_hub_ops;

#define TOTAL_EVENTS 100000
#define PER_BATCH 100
#define NCOLS 5

typedef struct test_host {
	dbs_host host;
	char id[64];
	atomic_int stopping;
} test_host;

static int host_stopping(const dbs_host *host)
{
	return atomic_load(&((test_host *)(uintptr_t)host)->stopping);
}

static void host_log(const dbs_host *host, dbs_log_level level, const char *fmt, ...)
{
	(void)host;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "[hub log %d] ", (int)level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *nats_url(void)
{
	const char *url = getenv("DBS_TEST_NATS_URL");
	ck_assert_msg(url && *url,
	              "DBS_TEST_NATS_URL is not set: run this test through scripts/test");
	return url;
}

static void host_init(test_host *th, const char *tag)
{
	static int counter;
	memset(th, 0, sizeof *th);
	dbs_fmt(th->id, sizeof th->id, "it%ld_%s_%d", (long)getpid(), tag, ++counter);
	th->host.version = DBS_HOST_VERSION;
	th->host.stream_id = th->id;
	th->host.stopping = host_stopping;
	th->host.log = host_log;
}

static dbs_hub *hub_open_part(test_host *th, dbs_hub_part part)
{
	dbs_nats_settings ns = {.url = nats_url()};
	dbs_hub_config cfg = {.type = "nats", .settings = &ns, .part = part};
	dbs_hub *hub = NULL;
	char err[DBS_ERRMSG_MAX] = "";
	int rc = dbs__nats_hub_ops.open(&hub, &cfg, &th->host, err, sizeof err);
	ck_assert_msg(rc == 0, "open: %d %s", rc, err);
	return hub;
}

static dbs_hub *hub_open(test_host *th)
{
	return hub_open_part(th, DBS_HUB_PART_ALL);
}

/* Teardown: the JetStream stream goes with the test. */
static void delete_stream(const test_host *th)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	char name[128];
	dbs_fmt(name, sizeof name, "DBS_%s", th->id);
	if (natsConnection_ConnectTo(&nc, nats_url()) == NATS_OK &&
	    natsConnection_JetStream(&js, nc, NULL) == NATS_OK)
		js_DeleteStream(js, name, NULL, NULL);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

static dbs_table *five_columns(void)
{
	dbs_column cols[NCOLS] = {
	    {"id", "bigint", 20, -1, DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL},
	    {"name", "text", 25, -1, 0},
	    {"score", "double precision", 701, -1, 0},
	    {"at", "timestamp with time zone", 1184, -1, 0},
	    {"note", "text", 25, -1, 0},
	};
	dbs_table *t;
	ck_assert_int_eq(dbs_table_new(&t, DBS_DIALECT_POSTGRESQL, "public", "items", cols, NCOLS),
	                 0);
	return t;
}

/* Event number `i` of the sequence, deterministic so the reader can check it. */
static void add_event(dbs_batch *b, const dbs_table *t, uint32_t i)
{
	dbs_event *ev;
	dbs_op op = i % 10 == 9 ? DBS_OP_DELETE : i % 10 >= 6 ? DBS_OP_UPDATE : DBS_OP_INSERT;
	ck_assert_int_eq(dbs_batch_add(b, op, t, &ev), 0);
	ev->pos.txn = 1000 + i / 7;
	ev->pos.event = i % 7 + 1;
	ev->pos.txn_end = i % 7 == 6;
	ev->pos.resume = ev->pos.txn + 1;
	ev->xid = 500 + i / 7;
	ev->commit_time_us = 1700000000000000LL + i;
	dbs_value *rows[2] = {ev->before, ev->after};
	for (int r = 0; r < 2; r++) {
		dbs_value *v = rows[r];
		if (!v)
			continue;
		char name[32];
		dbs_fmt(name, sizeof name, "name-%u-%d", i, r);
		v[0].kind = DBS_VALUE_INT;
		v[0].v.i = i;
		ck_assert_int_eq(dbs_batch_set_bytes(b, &v[1], DBS_VALUE_TEXT, name, strlen(name)),
		                 0);
		v[2].kind = DBS_VALUE_DOUBLE;
		v[2].v.d = i * 0.5;
		v[3].kind = DBS_VALUE_TIMESTAMP;
		v[3].v.t.year = 2024;
		v[3].v.t.month = 1 + i % 12;
		v[3].v.t.day = 1 + i % 28;
		v[3].v.t.usec = i % 1000000;
		v[4].kind = i % 3 ? DBS_VALUE_NULL : DBS_VALUE_UNCHANGED;
	}
}

static void check_event(const dbs_event *ev, uint32_t i)
{
	ck_assert_msg(ev->pos.txn == 1000 + i / 7 && ev->pos.event == i % 7 + 1,
	              "event %u out of order", i);
	ck_assert(ev->xid == 500 + i / 7);
	ck_assert(ev->commit_time_us == 1700000000000000LL + i);
	const dbs_value *v = ev->after ? ev->after : ev->before;
	ck_assert_ptr_nonnull(v);
	ck_assert(v[0].kind == DBS_VALUE_INT && v[0].v.i == i);
	char name[32];
	dbs_fmt(name, sizeof name, "name-%u-%d", i, ev->after ? 1 : 0);
	ck_assert_uint_eq(v[1].len, strlen(name));
	ck_assert(memcmp(v[1].v.s, name, v[1].len) == 0);
	ck_assert(v[2].kind == DBS_VALUE_DOUBLE && v[2].v.d == i * 0.5);
	ck_assert(v[3].kind == DBS_VALUE_TIMESTAMP && v[3].v.t.month == 1 + i % 12 &&
	          v[3].v.t.usec == i % 1000000);
	ck_assert_uint_eq(v[4].kind, i % 3 ? DBS_VALUE_NULL : DBS_VALUE_UNCHANGED);
	ck_assert_str_eq(ev->table->name, "items");
}

typedef struct publisher {
	dbs_hub *hub;
	uint32_t events;
	int rc;
	char err[DBS_ERRMSG_MAX];
	atomic_int done; /* publish_all returned */
} publisher;

static void *publish_all(void *arg)
{
	publisher *p = arg;
	dbs_table *t = five_columns();
	for (uint32_t i = 0; i < p->events && p->rc == 0; i += PER_BATCH) {
		dbs_batch *b;
		if (dbs_batch_new(&b, PER_BATCH) != 0) {
			p->rc = DBS_ENOMEM;
			break;
		}
		for (uint32_t k = 0; k < PER_BATCH && i + k < p->events; k++)
			add_event(b, t, i + k);
		p->rc = p->hub->ops->publish(p->hub, b, p->err, sizeof p->err);
	}
	p->hub->ops->close_publish(p->hub);
	dbs_table_unref(t);
	atomic_store(&p->done, 1);
	return NULL;
}

/* Fetch and ack until the end marker; returns the events seen. */
static uint32_t drain(dbs_hub *hub, uint32_t expect_from, int check)
{
	uint32_t seen = expect_from;
	uint64_t last_seq = 0;
	char err[DBS_ERRMSG_MAX] = "";
	int idle = 0;
	for (;;) {
		dbs_batch *b = NULL;
		int rc = hub->ops->fetch(hub, &b, 200, err, sizeof err);
		if (rc == 2)
			break;
		if (rc == 1) {
			ck_assert_msg(++idle < 150, "no end marker after %u events", seen);
			continue;
		}
		ck_assert_msg(rc == 0, "fetch: %d %s", rc, err);
		idle = 0;
		ck_assert(dbs_batch_seq(b) > last_seq); /* the JetStream sequence */
		last_seq = dbs_batch_seq(b);
		for (uint32_t k = 0; k < dbs_batch_count(b); k++, seen++)
			if (check)
				check_event(dbs_batch_event(b, k), seen);
		rc = hub->ops->ack(hub, b, err, sizeof err);
		ck_assert_msg(rc == 0, "ack: %d %s", rc, err);
	}
	/* Once drained, it stays drained. */
	dbs_batch *b = NULL;
	ck_assert_int_eq(hub->ops->fetch(hub, &b, 10, err, sizeof err), 2);
	return seen - expect_from;
}

START_TEST(hundred_thousand_events_once_in_order)
{
	test_host th;
	host_init(&th, "order");
	dbs_hub *hub = hub_open(&th);
	publisher p = {hub, TOTAL_EVENTS, 0, "", 0};
	pthread_t thread;
	ck_assert_int_eq(pthread_create(&thread, NULL, publish_all, &p), 0);
	uint32_t seen = drain(hub, 0, 1);
	pthread_join(thread, NULL);
	ck_assert_msg(p.rc == 0, "publish: %d %s", p.rc, p.err);
	ck_assert_uint_eq(seen, TOTAL_EVENTS);
	hub->ops->close(hub);
	delete_stream(&th);
}
END_TEST

static dbs_batch *batch_of(const dbs_table *t, uint32_t from, uint32_t n)
{
	dbs_batch *b;
	ck_assert_int_eq(dbs_batch_new(&b, n), 0);
	for (uint32_t k = 0; k < n; k++)
		add_event(b, t, from + k);
	return b;
}

START_TEST(republished_batch_is_delivered_once)
{
	test_host th;
	host_init(&th, "dup");
	dbs_hub *hub = hub_open(&th);
	dbs_table *t = five_columns();
	char err[DBS_ERRMSG_MAX] = "";
	ck_assert_int_eq(hub->ops->publish(hub, batch_of(t, 0, PER_BATCH), err, sizeof err), 0);
	ck_assert_int_eq(hub->ops->publish(hub, batch_of(t, PER_BATCH, PER_BATCH), err, sizeof err),
	                 0);
	hub->ops->close_publish(hub);
	/* Closed before any writer read it: batches and end marker stay. */
	hub->ops->close(hub);

	/* A writer alone on the stream gets each batch once. */
	hub = hub_open_part(&th, DBS_HUB_PART_TARGET);
	ck_assert_uint_eq(drain(hub, 0, 1), 2 * PER_BATCH);
	hub->ops->close(hub);

	/* A publisher that crashed, then a new one: in one process the source
	 * starts again from the target's checkpoint, so the new publisher
	 * drops what the old one left (batches and end marker) and only its
	 * own batches arrive. */
	hub = hub_open(&th);
	ck_assert_int_eq(hub->ops->publish(hub, batch_of(t, 0, PER_BATCH), err, sizeof err), 0);
	hub->ops->close(hub);
	hub = hub_open(&th);
	ck_assert_int_eq(hub->ops->publish(hub, batch_of(t, PER_BATCH, PER_BATCH), err, sizeof err),
	                 0);
	ck_assert_int_eq(hub->ops->publish(hub, batch_of(t, 2 * PER_BATCH, 10), err, sizeof err),
	                 0);
	hub->ops->close_publish(hub);
	ck_assert_uint_eq(drain(hub, PER_BATCH, 1), PER_BATCH + 10);
	hub->ops->close(hub);
	dbs_table_unref(t);
	delete_stream(&th);
}
END_TEST

START_TEST(unacked_batch_comes_back_to_the_next_fetcher)
{
	test_host th;
	host_init(&th, "redeliver");
	dbs_hub *hub = hub_open(&th);
	dbs_table *t = five_columns();
	char err[DBS_ERRMSG_MAX] = "";
	ck_assert_int_eq(hub->ops->publish(hub, batch_of(t, 0, 10), err, sizeof err), 0);
	hub->ops->close_publish(hub);
	dbs_batch *b = NULL;
	int rc;
	while ((rc = hub->ops->fetch(hub, &b, 200, err, sizeof err)) == 1)
		;
	ck_assert_int_eq(rc, 0);
	dbs_batch_free(b); /* the target died before committing */
	hub->ops->close(hub);
	/* The next fetcher gets the batch again, at once (then the marker). */
	hub = hub_open_part(&th, DBS_HUB_PART_TARGET);
	ck_assert_uint_eq(drain(hub, 0, 1), 10);
	hub->ops->close(hub);
	dbs_table_unref(t);
	delete_stream(&th);
}
END_TEST

START_TEST(big_batches_split_and_huge_event_refused)
{
	test_host th;
	host_init(&th, "split");
	dbs_hub *hub = hub_open(&th);
	dbs_table *t = five_columns();
	char err[DBS_ERRMSG_MAX] = "";
	size_t big = 200 * 1024;
	char *text = malloc(2 * 1024 * 1024);
	ck_assert_ptr_nonnull(text);
	memset(text, 'x', 2 * 1024 * 1024);
	/* 30 events of 200 KiB: 6 MB, over a 1 MB max_payload. */
	dbs_batch *b = batch_of(t, 0, 30);
	for (uint32_t k = 0; k < 30; k++) {
		dbs_event *ev = dbs_batch_event(b, k);
		dbs_value *v = ev->after ? ev->after : ev->before;
		ck_assert_int_eq(dbs_batch_set_bytes(b, &v[4], DBS_VALUE_TEXT, text, big), 0);
	}
	ck_assert_int_eq(hub->ops->publish(hub, b, err, sizeof err), 0);
	b = batch_of(t, 30, 1);
	ck_assert_int_eq(dbs_batch_set_bytes(b, &dbs_batch_event(b, 0)->after[4], DBS_VALUE_TEXT,
	                                     text, 2 * 1024 * 1024),
	                 0);
	ck_assert_int_eq(hub->ops->publish(hub, b, err, sizeof err), DBS_EHUB);
	ck_assert_msg(strstr(err, "max_payload") != NULL, "unclear error: %s", err);
	hub->ops->close_publish(hub);

	uint32_t seen = 0;
	int rc;
	for (;;) {
		while ((rc = hub->ops->fetch(hub, &b, 200, err, sizeof err)) == 1)
			;
		if (rc == 2)
			break;
		ck_assert_msg(rc == 0, "fetch: %s", err);
		ck_assert_uint_lt(dbs_batch_count(b), 30); /* it was split */
		for (uint32_t k = 0; k < dbs_batch_count(b); k++, seen++) {
			const dbs_event *ev = dbs_batch_event(b, k);
			const dbs_value *v = ev->after ? ev->after : ev->before;
			ck_assert(v[0].v.i == seen);
			ck_assert_uint_eq(v[4].len, big);
		}
		ck_assert_int_eq(hub->ops->ack(hub, b, err, sizeof err), 0);
	}
	ck_assert_uint_eq(seen, 30);
	free(text);
	hub->ops->close(hub);
	dbs_table_unref(t);
	delete_stream(&th);
}
END_TEST

START_TEST(slow_target_holds_back_the_publisher)
{
	/* 1.2 M events are about 88 MB of messages, more than the stream's
	 * high-water mark: with nobody fetching, the publisher must wait, not
	 * fail and not overfill the stream. */
	test_host th;
	host_init(&th, "slow");
	dbs_hub *hub = hub_open(&th);
	publisher p = {hub, 1200000, 0, "", 0};
	pthread_t thread;
	ck_assert_int_eq(pthread_create(&thread, NULL, publish_all, &p), 0);
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	char stream[128];
	dbs_fmt(stream, sizeof stream, "DBS_%s", th.id);
	ck_assert_int_eq(natsConnection_ConnectTo(&nc, nats_url()), NATS_OK);
	ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	/* However slow the machine: the stream fills past 32 MB, then stops
	 * growing below its limit while the publisher, not done, waits. */
	uint64_t held = 0, peak = 0;
	int still = 0;
	for (int tick = 0; tick < 1200 && still < 20; tick++) {
		jsStreamInfo *si = NULL;
		if (js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK) {
			held = si->State.Bytes;
			jsStreamInfo_Destroy(si);
		}
		still = held > 32u * 1024 * 1024 && held == peak ? still + 1 : 0;
		if (held > peak)
			peak = held;
		ck_assert_msg(!atomic_load(&p.done), "the publisher finished with nobody fetching: %d %s",
		              p.rc, p.err);
		usleep(100 * 1000);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	ck_assert_msg(still >= 20 && peak < 100u * 1024 * 1024,
	              "stream holds %llu bytes (peak %llu) while the target is idle",
	              (unsigned long long)held, (unsigned long long)peak);
	ck_assert_msg(p.rc == 0, "publish: %d %s", p.rc, p.err);
	ck_assert_uint_eq(drain(hub, 0, 0), 1200000);
	pthread_join(thread, NULL);
	ck_assert_msg(p.rc == 0, "publish: %d %s", p.rc, p.err);
	hub->ops->close(hub);
	delete_stream(&th);
}
END_TEST

START_TEST(open_refuses_bad_settings)
{
	test_host th;
	host_init(&th, "bad");
	dbs_hub *hub = (dbs_hub *)&th;
	char err[DBS_ERRMSG_MAX] = "";
	dbs_nats_settings no_url = {.url = NULL};
	dbs_hub_config none = {.type = "nats", .settings = &no_url};
	ck_assert_int_eq(dbs__nats_hub_ops.open(&hub, &none, &th.host, err, sizeof err),
	                 DBS_EINVAL);
	ck_assert_ptr_null(hub);
	ck_assert_ptr_nonnull(strstr(err, "url"));
	th.host.stream_id = "bad.id";
	dbs_nats_settings ns = {.url = nats_url()};
	dbs_hub_config cfg = {.type = "nats", .settings = &ns};
	ck_assert_int_eq(dbs__nats_hub_ops.open(&hub, &cfg, &th.host, err, sizeof err), DBS_EINVAL);
	th.host.stream_id = th.id;
	/* Nothing listens on port 1. */
	dbs_nats_settings port1 = {.url = "nats://127.0.0.1:1"};
	dbs_hub_config dead = {.type = "nats", .settings = &port1};
	ck_assert_int_eq(dbs__nats_hub_ops.open(&hub, &dead, &th.host, err, sizeof err), DBS_EHUB);
	ck_assert_ptr_nonnull(strstr(err, "connect"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nats_hub");
	TCase *tc = tcase_create("nats_hub");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, open_refuses_bad_settings);
	tcase_add_test(tc, republished_batch_is_delivered_once);
	tcase_add_test(tc, unacked_batch_comes_back_to_the_next_fetcher);
	tcase_add_test(tc, big_batches_split_and_huge_event_refused);
	tcase_add_test(tc, hundred_thousand_events_once_in_order);
	tcase_add_test(tc, slow_target_holds_back_the_publisher);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
