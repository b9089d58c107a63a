/*
 * The in-process hub: a bounded ring of batches between the source thread
 * and the target thread. A full ring makes the source wait, which is the
 * back-pressure that keeps memory bounded when the target is slower.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

/* The plugin (below); the built-in list names it. */
extern const dbs_hub_ops dbs__memory_hub_ops;

typedef struct memory_hub {
	dbs_hub base;
	const dbs_host *host;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t changed;
	dbs_batch **ring;
	uint32_t capacity, head, count;
	uint64_t next_seq;
	int closed; /* the publisher is done */
} memory_hub;

#define WAKE_MS 100

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int memory_open(dbs_hub **out, const dbs_hub_config *config, const dbs_host *host,
                       char *err, size_t errlen)
{
	*out = NULL;
	memory_hub *h = calloc(1, sizeof *h);
	uint32_t capacity = config && config->capacity ? config->capacity : 64;
	if (!h || !(h->ring = calloc(capacity, sizeof *h->ring))) {
		free(h);
		dbs_fmt(err, errlen, "memory hub: out of memory");
		return DBS_ENOMEM;
	}
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&h->changed, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&h->lock, NULL);
	h->base.ops = &dbs__memory_hub_ops;
	h->host = host;
	h->capacity = capacity;
	*out = &h->base;
	return 0;
}

static int memory_publish(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	memory_hub *h = (memory_hub *)hub;
	int rc = 0;
	pthread_mutex_lock(&h->lock);
	while (h->count == h->capacity && !h->closed) {
		if (h->host->stopping(h->host)) {
			rc = 1;
			break;
		}
		struct timespec ts;
		deadline_in(&ts, WAKE_MS);
		pthread_cond_timedwait(&h->changed, &h->lock, &ts);
	}
	if (rc == 0 && h->closed) {
		dbs_fmt(err, errlen, "memory hub: publish after close");
		rc = DBS_ESTATE;
	}
	if (rc == 0) {
		dbs_batch_set_seq(batch, ++h->next_seq);
		h->ring[(h->head + h->count) % h->capacity] = batch;
		h->count++;
		batch = NULL;
		pthread_cond_broadcast(&h->changed);
	}
	pthread_mutex_unlock(&h->lock);
	dbs_batch_free(batch);
	return rc;
}

static void memory_close_publish(dbs_hub *hub)
{
	memory_hub *h = (memory_hub *)hub;
	pthread_mutex_lock(&h->lock);
	h->closed = 1;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
}

static int memory_fetch(dbs_hub *hub, dbs_batch **out, int timeout_ms, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	memory_hub *h = (memory_hub *)hub;
	*out = NULL;
	struct timespec ts;
	deadline_in(&ts, timeout_ms > 0 ? timeout_ms : 0);
	int rc = 1;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		if (h->count) {
			*out = h->ring[h->head];
			h->ring[h->head] = NULL;
			h->head = (h->head + 1) % h->capacity;
			h->count--;
			pthread_cond_broadcast(&h->changed);
			rc = 0;
			break;
		}
		if (h->closed) {
			rc = 2;
			break;
		}
		if (timeout_ms <= 0 ||
		    pthread_cond_timedwait(&h->changed, &h->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int memory_ack(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	(void)hub;
	(void)err;
	(void)errlen;
	/* In process, the source already has the batch's position through the
	 * stream's ack; nothing is kept here once fetched. */
	dbs_batch_free(batch);
	return 0;
}

static void memory_close(dbs_hub *hub)
{
	memory_hub *h = (memory_hub *)hub;
	if (!h)
		return;
	for (uint32_t i = 0; i < h->count; i++)
		dbs_batch_free(h->ring[(h->head + i) % h->capacity]);
	free(h->ring);
	pthread_cond_destroy(&h->changed);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

const dbs_hub_ops dbs__memory_hub_ops = {
	.version = DBS_HUB_OPS_VERSION,
	.name = "memory",
	.open = memory_open,
	.publish = memory_publish,
	.close_publish = memory_close_publish,
	.fetch = memory_fetch,
	.ack = memory_ack,
	.close = memory_close,
};
