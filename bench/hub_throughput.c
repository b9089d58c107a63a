/*
 * Hub throughput with real batches: one thread builds batches of 100
 * events of 5 columns and publishes them, another fetches and acks them.
 * Reports events/s for building alone, the codec alone, the memory hub,
 * and the nats hub (JetStream file storage on the server given).
 *
 * Usage: hub_throughput [--events N] [--nats nats://127.0.0.1:4222]
 * (without --nats, DBS_BENCH_NATS_URL; without either the nats row is
 * skipped). Build and run: see bench/README.md.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include <dbstreams/sys/codec.h>
#include "core/core.h"
#include "hubs/nats/nats_hub.h"

/* The hubs measured (lib/hubs), compiled into this program. */
extern const dbs_hub_ops dbs__memory_hub_ops;
extern const dbs_hub_ops dbs__nats_hub_ops;

#define PER_BATCH 100
#define NCOLS 5

typedef struct bench_host {
	dbs_host host;
	char id[64];
} bench_host;

static int never_stopping(const dbs_host *host)
{
	(void)host;
	return 0;
}

static void log_stderr(const dbs_host *host, dbs_log_level level, const char *fmt, ...)
{
	(void)host;
	(void)level;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static dbs_table *make_table(void)
{
	dbs_column cols[NCOLS] = {
	    {"id", "bigint", 20, -1, DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL},
	    {"name", "character varying(64)", 1043, 68, 0},
	    {"amount", "numeric(12,2)", 1700, 786438, 0},
	    {"created", "timestamp with time zone", 1184, -1, 0},
	    {"flag", "boolean", 16, -1, 0},
	};
	dbs_table *t;
	if (dbs_table_new(&t, DBS_DIALECT_POSTGRESQL, "public", "orders", cols, NCOLS) != 0)
		return NULL;
	return t;
}

/* A batch like the PostgreSQL source makes: inserts and updates. */
static dbs_batch *make_batch(const dbs_table *t, uint64_t first)
{
	dbs_batch *b;
	if (dbs_batch_new(&b, PER_BATCH) != 0)
		return NULL;
	for (uint32_t k = 0; k < PER_BATCH; k++) {
		uint64_t i = first + k;
		dbs_event *ev;
		if (dbs_batch_add(b, i % 4 == 3 ? DBS_OP_UPDATE : DBS_OP_INSERT, t, &ev) != 0)
			goto fail;
		ev->pos.txn = 0x1000000 + i;
		ev->pos.event = 1;
		ev->pos.txn_end = 1;
		ev->pos.resume = ev->pos.txn + 1;
		ev->xid = 700 + i;
		ev->commit_time_us = 1700000000000000LL + (int64_t)i;
		dbs_value *v = ev->after;
		char name[32], amount[32];
		int nn = snprintf(name, sizeof name, "customer-%llu", (unsigned long long)i);
		int na = snprintf(amount, sizeof amount, "%llu.%02u",
		                  (unsigned long long)(i % 100000), (unsigned)(i % 100));
		if (nn < 0 || na < 0)
			goto fail;
		v[0].kind = DBS_VALUE_INT;
		v[0].v.i = (int64_t)i;
		if (dbs_batch_set_bytes(b, &v[1], DBS_VALUE_TEXT, name, (size_t)nn) != 0 ||
		    dbs_batch_set_bytes(b, &v[2], DBS_VALUE_DECIMAL, amount, (size_t)na) != 0)
			goto fail;
		v[3].kind = DBS_VALUE_TIMESTAMP;
		v[3].v.t.year = 2024;
		v[3].v.t.month = 5;
		v[3].v.t.day = 17;
		v[3].v.t.hour = (uint16_t)(i % 24);
		v[3].v.t.usec = (uint32_t)(i % 1000000);
		v[4].kind = DBS_VALUE_TEXT;
		if (dbs_batch_set_bytes(b, &v[4], DBS_VALUE_TEXT, i % 2 ? "t" : "f", 1) != 0)
			goto fail;
		if (ev->before) {
			ev->before[0] = v[0];
		}
	}
	return b;
fail:
	dbs_batch_free(b);
	return NULL;
}

typedef struct run {
	const dbs_hub_ops *ops;
	dbs_hub *hub;
	const dbs_table *table;
	uint64_t events;
	int rc;
	char err[DBS_ERRMSG_MAX];
} run;

static void *publisher(void *arg)
{
	run *r = arg;
	for (uint64_t i = 0; i < r->events && r->rc == 0; i += PER_BATCH) {
		dbs_batch *b = make_batch(r->table, i);
		if (!b) {
			r->rc = DBS_ENOMEM;
			break;
		}
		r->rc = r->ops->publish(r->hub, b, r->err, sizeof r->err);
	}
	r->ops->close_publish(r->hub);
	return NULL;
}

static int run_hub(const char *label, const dbs_hub_ops *ops, const char *url, const dbs_table *t,
                   uint64_t events)
{
	bench_host bh = {{DBS_HOST_VERSION, bh.id, never_stopping, log_stderr, NULL}, ""};
	snprintf(bh.id, sizeof bh.id, "bench%ld_%s", (long)getpid(), label);
	dbs_nats_settings nats = {.url = url};
	dbs_hub_config cfg = {.type = label, .settings = &nats};
	run r = {ops, NULL, t, events, 0, ""};
	char err[DBS_ERRMSG_MAX] = "";
	if (ops->open(&r.hub, &cfg, &bh.host, err, sizeof err) != 0) {
		fprintf(stderr, "%s: open: %s\n", label, err);
		return 1;
	}
	double t0 = now_s();
	pthread_t th;
	if (pthread_create(&th, NULL, publisher, &r) != 0)
		return 1;
	uint64_t got = 0;
	int rc;
	for (;;) {
		dbs_batch *b = NULL;
		rc = ops->fetch(r.hub, &b, 200, err, sizeof err);
		if (rc == 1)
			continue;
		if (rc != 0)
			break;
		got += dbs_batch_count(b);
		if ((rc = ops->ack(r.hub, b, err, sizeof err)) != 0)
			break;
	}
	double dt = now_s() - t0;
	pthread_join(th, NULL);
	ops->close(r.hub);
	if (url) {
		/* The hub keeps its JetStream stream; the benchmark does not. */
		natsConnection *nc = NULL;
		jsCtx *js = NULL;
		char name[96];
		snprintf(name, sizeof name, "DBS_%s", bh.id);
		if (natsConnection_ConnectTo(&nc, url) == NATS_OK &&
		    natsConnection_JetStream(&js, nc, NULL) == NATS_OK)
			js_DeleteStream(js, name, NULL, NULL);
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
	}
	if (rc != 2 || r.rc != 0 || got != events) {
		fprintf(stderr, "%s: fetch rc %d (%s), publish rc %d (%s), %llu of %llu events\n",
		        label, rc, err, r.rc, r.err, (unsigned long long)got,
		        (unsigned long long)events);
		return 1;
	}
	printf("%-28s %12.0f events/s  %8.3f s\n", label, events / dt, dt);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t events = 1000000;
	const char *url = getenv("DBS_BENCH_NATS_URL");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--events") && i + 1 < argc)
			events = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--nats") && i + 1 < argc)
			url = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--events N] [--nats nats://host:port]\n",
			        argv[0]);
			return 2;
		}
	}
	events -= events % PER_BATCH;
	dbs_table *t = make_table();
	if (!t)
		return 1;
	printf("%llu events, batches of %d events, %d columns\n", (unsigned long long)events,
	       PER_BATCH, NCOLS);

	/* Building batches alone: the floor every hub run includes. */
	double t0 = now_s();
	for (uint64_t i = 0; i < events; i += PER_BATCH)
		dbs_batch_free(make_batch(t, i));
	double dt = now_s() - t0;
	printf("%-28s %12.0f events/s  %8.3f s\n", "build batches only", events / dt, dt);

	/* The codec alone: encode and decode every batch once. */
	dbs_codec_buf buf = {0};
	dbs_codec_decoder *dec;
	char err[DBS_ERRMSG_MAX];
	size_t bytes = 0;
	if (dbs_codec_decoder_new(&dec) != 0)
		return 1;
	t0 = now_s();
	for (uint64_t i = 0; i < events; i += PER_BATCH) {
		dbs_batch *b = make_batch(t, i), *d = NULL;
		if (!b ||
		    dbs_codec_encode(&buf, b, 0, PER_BATCH, "bench", 0, 0, err, sizeof err) ||
		    dbs_codec_decode(dec, buf.msg.data, buf.msg.len, &d, NULL, err, sizeof err)) {
			fprintf(stderr, "codec: %s\n", err);
			return 1;
		}
		bytes += buf.msg.len;
		dbs_batch_free(b);
		dbs_batch_free(d);
	}
	dt = now_s() - t0;
	printf("%-28s %12.0f events/s  %8.3f s  (%.1f bytes/event on the wire)\n",
	       "build + encode + decode", events / dt, dt, (double)bytes / (double)events);
	dbs_codec_buf_free(&buf);
	dbs_codec_decoder_free(dec);

	int failed = run_hub("memory", &dbs__memory_hub_ops, NULL, t, events);
	if (url)
		failed |= run_hub("nats", &dbs__nats_hub_ops, url, t, events);
	else
		printf("nats: skipped (no --nats URL and no DBS_BENCH_NATS_URL)\n");
	dbs_table_unref(t);
	return failed;
}
