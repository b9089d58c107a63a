/*
 * Stream lifecycle: open the target, the source and the hub, run the
 * source and the target on their own threads, carry acknowledgements from
 * the target back to the source, and keep DBS-style statuses and counters.
 *
 * Threads: the source thread runs source->run and publishes to the hub;
 * the target thread fetches, applies, acks, and when the hub is drained
 * joins the source thread and closes every plugin. dbs_stream_stop and
 * dbs_stream_free only request the stop and join the target thread.
 *
 * Source transactions larger than one batch (part ALL, a version 2
 * target): the target keeps its database transaction open across the
 * batches of one source transaction and commits it with the batch that
 * ends it, so readers of the target never see part of it. Each batch is
 * freed (and acked to the hub) once applied, so memory does not grow with
 * the transaction; only committed positions reach source->ack. Should the
 * target lose its connection with such a transaction open, the batches it
 * held are gone: the target thread resumes the stream from the target's
 * checkpoint (resume_from_checkpoint: stop the source thread, drop what the
 * hub holds, reopen target, hub and source, with the reconnect backoff),
 * and the source reads the transaction again. The nodes stay RUNNING.
 * Apart (part TARGET, NATS) a JetStream message acked before the commit
 * would be lost with the writer, and holding thousands unacked is what the
 * consumer's ack limit forbids: there every batch is committed on its own.
 *
 * Parts (dbs_stream_options.part): with DBS_PART_SOURCE there is no target;
 * the second thread is the ack relay, which hands the positions the hub
 * reports as committed by remote writers to source->ack, and ends the
 * stream once the source is done. With DBS_PART_TARGET there is no source
 * thread; the target thread ends when the hub is drained or on stop.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "core/core.h"

/* Part SOURCE: how long acknowledgements are still relayed after the
 * source stopped, so that a drained stream confirms its last position. */
#define ACK_LINGER_NS (1000LL * 1000000LL)
/* Longest checkpoint key a target stores (stream id, '.', partition). */
#define TARGET_KEY_MAX 40

/* Why the stream is ending; the first reason wins. */
enum stop_reason {
	STOP_NONE = 0,
	STOP_USER,
	STOP_TIME_LIMIT,
	STOP_EVENT_LIMIT,
	STOP_FAILURE
};

typedef struct node {
	atomic_int status;          /* dbs_status */
	atomic_uint_fast64_t counter;
	atomic_uint_fast64_t bytes;
	atomic_int_fast64_t started_ns; /* wall clock of the first event */
	atomic_int_fast64_t ended_ns;   /* wall clock when it ended; 0 while live */
	char message[DBS_NODE_MESSAGE_MAX]; /* guarded by dbs_stream.lock */
	const char *label;
} node;

/* Connection health of a node's plugin, fed by the host's v2 callbacks
 * from any thread. */
typedef struct conn_health {
	atomic_uint_fast64_t reconnects;
	atomic_int_fast64_t lost_since_ns;     /* wall clock; 0 while connected */
	char last_error[DBS_NODE_MESSAGE_MAX]; /* guarded by dbs_stream.lock */
} conn_health;

struct dbs_stream {
	char id[28];
	dbs_config *config;
	char *config_json; /* masked, for GET /streams */
	dbs_stream_options opts;
	const dbs_registry *registry;
	const dbs_source_ops *source_ops;
	const dbs_hub_ops *hub_ops;
	const dbs_target_ops *target_ops;

	dbs_host source_host, target_host, hub_host;
	dbs_hub_config hub_config;  /* the config's hub with the part filled in */
	char target_key[40];        /* the target's checkpoint key (host stream_id) */
	dbs_source *source;
	dbs_hub *hub;
	dbs_target *target;
	dbs_position checkpoint;

	pthread_t source_thread, target_thread;
	int threads_started;
	int joined;                 /* guarded by join_lock */
	pthread_mutex_t join_lock;  /* serialises joining the target thread */

	atomic_int stop_reason;
	int64_t deadline_mono_ns;   /* 0: no time limit */

	pthread_mutex_t lock;       /* guards messages, errmsg, ended */
	pthread_cond_t ended_cond;
	int ended;
	char errmsg[DBS_ERRMSG_MAX];

	node source_node, target_node;
	conn_health source_conn, target_conn, hub_conn;
	/* Lag: set by the source (bytes) and the target thread (commit
	 * times of what it applies, Unix µs; 0 = none). */
	atomic_uint_fast64_t source_lag_bytes;
	atomic_uint_fast64_t dead_letters; /* target rows sent to the dead-letter table */
	atomic_int_fast64_t applying_commit_us; /* oldest change being applied */
	atomic_int_fast64_t applied_commit_us;  /* last change applied */
	int64_t last_report_mono_ns;
	atomic_int source_done;     /* part SOURCE: the source thread returned */

	/* Target thread only, except where said. */
	int source_running;         /* the source thread is to be joined */
	atomic_int restarting;      /* stops the source side while the stream
	                               resumes from the checkpoint (any thread) */
	int txn_open;               /* the target holds applied, uncommitted batches */
	dbs_position applied;       /* last position applied (committed or not) */
	uint64_t committed_events;  /* target counter at the last commit */
};

/* ---- logging and status ---- */

/* Client libraries quote a connection string they cannot parse, password
 * and all: every message is cleaned before it is stored or logged. */
static void scrub(const dbs_stream *s, char *text, size_t size)
{
	const char *conns[] = {s->config ? s->config->source.connection : NULL,
	                       s->config ? s->config->target.connection : NULL, s->hub_config.url,
	                       s->opts.default_hub_url};
	dbs__scrub_secrets(text, size, conns, sizeof conns / sizeof conns[0]);
}

static void stream_log(dbs_stream *s, dbs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void stream_vlog(dbs_stream *s, dbs_log_level level, const char *fmt, va_list ap)
{
	if (!s->opts.log || level > s->opts.log_level)
		return;
	char line[2048];
	dbs__vfmt(line, sizeof line, fmt, ap);
	scrub(s, line, sizeof line);
	s->opts.log(level, line, s->opts.log_user_data);
}

static void stream_log(dbs_stream *s, dbs_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	stream_vlog(s, level, fmt, ap);
	va_end(ap);
}

/* Move a node to a terminal status once; later calls keep the first. */
static void node_end(dbs_stream *s, node *n, dbs_status status, const char *message)
{
	char clean[DBS_ERRMSG_MAX];
	if (message) {
		dbs__fmt(clean, sizeof clean, "%s", message);
		scrub(s, clean, sizeof clean);
		message = clean;
	}
	int current = atomic_load(&n->status);
	while (!dbs_status_is_terminal((dbs_status)current)) {
		if (atomic_compare_exchange_weak(&n->status, &current, (int)status)) {
			atomic_store(&n->ended_ns, dbs__now_ns());
			pthread_mutex_lock(&s->lock);
			if (message && message[0]) {
				dbs__fmt(n->message, sizeof n->message, "%s", message);
				dbs__fmt(s->errmsg, sizeof s->errmsg, "%s: %s", n->label, message);
			}
			pthread_mutex_unlock(&s->lock);
			if (message && message[0])
				stream_log(s, DBS_LOG_ERROR, "[%s] %s: %s", n->label,
				           dbs_status_name(status), message);
			else
				stream_log(s, DBS_LOG_INFO, "[%s] %s, %" PRIuFAST64 " events", n->label,
				           dbs_status_name(status), atomic_load(&n->counter));
			return;
		}
	}
}

static void node_progress(node *n, uint32_t events, uint64_t bytes)
{
	if (atomic_load(&n->started_ns) == 0) {
		atomic_store(&n->started_ns, dbs__now_ns());
		int ready = DBS_STATUS_READY;
		atomic_compare_exchange_strong(&n->status, &ready, DBS_STATUS_RUNNING);
	}
	atomic_fetch_add(&n->counter, events);
	atomic_fetch_add(&n->bytes, bytes);
}

static void request_stop(dbs_stream *s, enum stop_reason reason)
{
	int none = STOP_NONE;
	atomic_compare_exchange_strong(&s->stop_reason, &none, (int)reason);
}

static dbs_status status_for(enum stop_reason reason)
{
	switch (reason) {
	case STOP_TIME_LIMIT: return DBS_STATUS_TIME_LIMIT_REACHED;
	case STOP_EVENT_LIMIT: return DBS_STATUS_EVENT_LIMIT_REACHED;
	default: return DBS_STATUS_STOPPED;
	}
}

/* ---- host services ---- */

static int host_stopping(const dbs_host *host)
{
	dbs_stream *s = host->core;
	if (s->deadline_mono_ns && atomic_load(&s->stop_reason) == STOP_NONE &&
	    dbs__monotonic_ns() >= s->deadline_mono_ns)
		request_stop(s, STOP_TIME_LIMIT);
	/* A resume from the checkpoint stops the source and the hub, never
	 * the target thread that runs it. */
	if (host != &s->target_host && atomic_load(&s->restarting))
		return 1;
	return atomic_load(&s->stop_reason) != STOP_NONE;
}

int dbs__sleep_unless_stopping(const dbs_host *host, int ms)
{
	while (ms > 0) {
		if (host && host->stopping && host->stopping(host))
			return 1;
		int slice = ms < 100 ? ms : 100;
		struct timespec ts = {0, (long)slice * 1000000L};
		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return host && host->stopping && host->stopping(host);
}

int dbs__backoff_next(int delay)
{
	return delay >= DBS_RECONNECT_MAX_DELAY_MS / 2 ? DBS_RECONNECT_MAX_DELAY_MS : delay * 2;
}

int dbs__retry_lost(const dbs_host *host, const char *what, int *lost, dbs_attempt_fn attempt,
                    dbs_attempt_fn restore, void *ctx, char *err, size_t errlen)
{
	int64_t lost_at = 0;
	int delay = DBS_RECONNECT_FIRST_DELAY_MS;
	unsigned tries = 0;
	*lost = 0;
	int rc = attempt(ctx, err, errlen);
	while (rc && *lost) {
		int64_t now = dbs__monotonic_ns();
		if (!lost_at)
			lost_at = now;
		dbs__conn_lost(host, err);
		if (dbs__reconnect_expired(host, lost_at)) {
			dbs__reconnect_give_up_text(err, errlen, host, what, tries, err);
			host->log(host, DBS_LOG_ERROR, "%s", err);
			break;
		}
		tries++;
		host->log(host, DBS_LOG_WARN, "%s: connection lost (%s); reconnect attempt %u in %d ms",
		          what, err, tries, delay);
		if (dbs__sleep_unless_stopping(host, delay))
			break; /* stopping: report the connection error as it is */
		delay = dbs__backoff_next(delay);
		if ((rc = restore(ctx, err, errlen)))
			continue;
		host->log(host, DBS_LOG_INFO, "%s: reconnected; trying again", what);
		rc = attempt(ctx, err, errlen);
	}
	/* Through, or failed for a reason other than the connection. */
	if (lost_at && !(rc && *lost))
		dbs__conn_restored(host);
	return rc;
}

static void host_log(const dbs_host *host, dbs_log_level level, const char *fmt, ...)
{
	dbs_stream *s = host->core;
	if (!s->opts.log || level > s->opts.log_level)
		return;
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	dbs__vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	stream_log(s, level, "[%s] %s",
	           host == &s->source_host ? "source" : host == &s->target_host ? "target" : "hub",
	           line);
}

static conn_health *host_conn(const dbs_host *host)
{
	dbs_stream *s = host->core;
	return host == &s->source_host   ? &s->source_conn
	       : host == &s->target_host ? &s->target_conn
	                                 : &s->hub_conn;
}

static void host_connection_lost(const dbs_host *host, const char *message)
{
	dbs_stream *s = host->core;
	conn_health *c = host_conn(host);
	int_fast64_t connected = 0;
	/* The first report of an outage counts it; later ones (each failed
	 * attempt) only refresh the message. */
	char clean[DBS_ERRMSG_MAX];
	if (atomic_compare_exchange_strong(&c->lost_since_ns, &connected, dbs__now_ns()))
		atomic_fetch_add(&c->reconnects, 1);
	dbs__fmt(clean, sizeof clean, "%s", message && message[0] ? message : "connection lost");
	scrub(s, clean, sizeof clean);
	pthread_mutex_lock(&s->lock);
	dbs__fmt(c->last_error, sizeof c->last_error, "%s", clean);
	pthread_mutex_unlock(&s->lock);
}

static void host_connection_restored(const dbs_host *host)
{
	atomic_store(&host_conn(host)->lost_since_ns, 0);
}

static void host_source_lag(const dbs_host *host, uint64_t bytes)
{
	dbs_stream *s = host->core;
	atomic_store(&s->source_lag_bytes, bytes);
}

static void host_rows_dead_lettered(const dbs_host *host, uint64_t rows)
{
	dbs_stream *s = host->core;
	atomic_fetch_add(&s->dead_letters, rows);
}

static void host_init(dbs_host *host, dbs_stream *s)
{
	host->version = DBS_HOST_VERSION;
	host->stream_id = s->id;
	host->stopping = host_stopping;
	host->log = host_log;
	host->core = s;
	host->connection_lost = host_connection_lost;
	host->connection_restored = host_connection_restored;
	host->source_lag = host_source_lag;
	host->reconnect_give_up_ms = s->config->reconnect.give_up_after_s * 1000;
	host->rows_dead_lettered = host_rows_dead_lettered;
}

/* ---- source thread ---- */

/* The emit callback the source calls with each batch. */
static int emit_batch(dbs_batch *batch, void *data)
{
	dbs_stream *s = data;
	char err[DBS_ERRMSG_MAX] = "";
	int ret = 0;
	if (host_stopping(&s->source_host)) {
		dbs_batch_free(batch);
		return 1;
	}
	uint64_t limit = s->config->limits.number_of_events;
	uint32_t n = dbs_batch_count(batch);
	if (limit) {
		uint64_t done = atomic_load(&s->source_node.counter);
		uint64_t left = done < limit ? limit - done : 0;
		if (n >= left) {
			dbs_batch_truncate(batch, (uint32_t)left);
			n = (uint32_t)left;
			ret = 1;
		}
	}
	if (n == 0) {
		dbs_batch_free(batch);
		if (ret)
			request_stop(s, STOP_EVENT_LIMIT);
		return ret;
	}
	uint64_t bytes = dbs_batch_bytes(batch);
	int rc = s->hub_ops->publish(s->hub, batch, err, sizeof err);
	if (rc < 0) {
		node_end(s, &s->source_node, DBS_STATUS_FAILED, err);
		request_stop(s, STOP_FAILURE);
		return rc;
	}
	if (rc > 0)
		return 1;
	node_progress(&s->source_node, n, bytes);
	if (ret)
		request_stop(s, STOP_EVENT_LIMIT);
	return ret;
}

static void *source_main(void *arg)
{
	dbs_stream *s = arg;
	char err[DBS_ERRMSG_MAX] = "";
	int rc = s->source_ops->run(s->source, emit_batch, s, err, sizeof err);
	/* Stopped for a resume from the checkpoint: the target thread closes
	 * and reopens everything; this run ends no node. */
	if (atomic_load(&s->restarting))
		return NULL;
	atomic_store(&s->source_done, 1);
	s->hub_ops->close_publish(s->hub);
	if (rc < 0) {
		if (!err[0])
			dbs__fmt(err, sizeof err, "%s", dbs_strerror(rc));
		node_end(s, &s->source_node, DBS_STATUS_FAILED, err);
		request_stop(s, STOP_FAILURE);
	} else {
		node_end(s, &s->source_node, status_for(atomic_load(&s->stop_reason)), NULL);
	}
	return NULL;
}

/* ---- target thread ---- */

static void report_progress(dbs_stream *s)
{
	uint32_t every = s->config->target.reporting_interval;
	if (!every)
		return;
	int64_t now = dbs__monotonic_ns();
	if (now - s->last_report_mono_ns < (int64_t)every * 1000000000LL)
		return;
	s->last_report_mono_ns = now;
	node *n = &s->target_node;
	int64_t started = atomic_load(&n->started_ns);
	double secs = started ? (double)(dbs__now_ns() - started) / 1e9 : 0.0;
	uint64_t bytes = atomic_load(&n->bytes);
	stream_log(s, DBS_LOG_INFO, "[target] %s, %" PRIuFAST64 " events, %.1f MB, Rate: %.1f MB/s",
	           dbs_status_name((dbs_status)atomic_load(&n->status)), atomic_load(&n->counter),
	           (double)bytes / 1e6, secs > 0 ? (double)bytes / 1e6 / secs : 0.0);
}

static void close_plugins(dbs_stream *s)
{
	if (s->source)
		s->source_ops->close(s->source);
	if (s->target)
		s->target_ops->close(s->target);
	if (s->hub)
		s->hub_ops->close(s->hub);
	s->source = NULL;
	s->target = NULL;
	s->hub = NULL;
}

static void mark_ended(dbs_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->ended = 1;
	pthread_cond_broadcast(&s->ended_cond);
	pthread_mutex_unlock(&s->lock);
}

/* ---- resuming from the target's checkpoint ---- */

static int open_target(dbs_stream *s, char *err, size_t errlen);
static int open_source(dbs_stream *s, char *err, size_t errlen);

/* Hub, target and source opened again, as open_plugins does; on failure
 * err says which and why, and what was opened is closed. */
static int reopen_plugins(dbs_stream *s, char *err, size_t errlen)
{
	char msg[DBS_ERRMSG_MAX] = "";
	int rc = s->hub_ops->open(&s->hub, &s->hub_config, &s->hub_host, msg, sizeof msg);
	if (rc < 0) {
		s->hub = NULL;
		dbs__fmt(err, errlen, "hub \"%s\": %s", s->hub_config.type, msg);
		goto fail;
	}
	if ((rc = open_target(s, msg, sizeof msg)) < 0) {
		dbs__fmt(err, errlen, "target: %s", msg[0] ? msg : dbs_strerror(rc));
		goto fail;
	}
	if ((rc = open_source(s, msg, sizeof msg)) < 0) {
		dbs__fmt(err, errlen, "source: %s", msg[0] ? msg : dbs_strerror(rc));
		goto fail;
	}
	return 0;
fail:
	close_plugins(s);
	return rc;
}

/*
 * The target lost its connection with a source transaction open: the
 * batches it held are gone, so the stream starts over from the target's
 * checkpoint. The source thread is stopped and joined, every plugin closed
 * (the hub drops what it holds; NATS in one process purges its stream),
 * then target, hub and source are opened again with the reconnect
 * backoff, the source at the checkpoint, and the source thread restarted.
 * Counters go back to what is committed, since the source reads the rest
 * again. 0 when running again, 1 when the stream is stopping, negative
 * with err filled when the reconnect policy gave up.
 */
static int resume_from_checkpoint(dbs_stream *s, const char *cause, char *err, size_t errlen)
{
	char last[DBS_ERRMSG_MAX];
	int delay = DBS_RECONNECT_FIRST_DELAY_MS;
	unsigned tries = 0;
	int64_t lost_at = dbs__monotonic_ns();
	int rc;

	stream_log(s, DBS_LOG_WARN,
	           "[target] connection lost inside a source transaction (%s): resuming the "
	           "stream from the target's checkpoint",
	           cause);
	atomic_store(&s->restarting, 1);
	if (s->source_running) {
		pthread_join(s->source_thread, NULL);
		s->source_running = 0;
	}
	close_plugins(s);
	/* Nothing runs on the source side now: opening it again must not see
	 * the stop that ended it. */
	atomic_store(&s->restarting, 0);
	s->txn_open = 0;
	dbs__fmt(last, sizeof last, "%s", cause);
	/* Counted and shown as a reconnect of the target (stat, metrics). */
	dbs__conn_lost(&s->target_host, cause);
	for (;;) {
		if (dbs__sleep_unless_stopping(&s->target_host, delay))
			return 1;
		tries++;
		if ((rc = reopen_plugins(s, last, sizeof last)) == 0)
			break;
		dbs__conn_lost(&s->target_host, last);
		if (dbs__reconnect_expired(&s->target_host, lost_at)) {
			dbs__reconnect_give_up_text(err, errlen, &s->target_host,
			                            "resuming from the checkpoint after the target's "
			                            "connection was lost inside a source transaction",
			                            tries, last);
			return rc;
		}
		stream_log(s, DBS_LOG_WARN, "[target] resuming from the checkpoint: %s; attempt %u in "
		           "%d ms", last, tries + 1, dbs__backoff_next(delay));
		delay = dbs__backoff_next(delay);
	}
	atomic_store(&s->target_node.counter, s->committed_events);
	atomic_store(&s->source_node.counter, s->committed_events);
	atomic_store(&s->source_done, 0);
	if (pthread_create(&s->source_thread, NULL, source_main, s) != 0) {
		dbs__fmt(err, errlen, "cannot start the source thread again");
		return DBS_EINTERNAL;
	}
	s->source_running = 1;
	dbs__conn_restored(&s->target_host);
	stream_log(s, DBS_LOG_INFO, "[target] resumed from the checkpoint after %u attempts", tries);
	return 0;
}

/* The stream stops inside a source transaction (user stop, limit): what
 * the target applied of it is committed, so it holds what was counted. */
static int flush_open(dbs_stream *s, char *err, size_t errlen)
{
	if (!s->txn_open)
		return 0;
	int rc = s->target_ops->flush(s->target, err, errlen);
	if (rc < 0)
		return rc;
	s->txn_open = 0;
	s->committed_events = atomic_load(&s->target_node.counter);
	atomic_store(&s->applying_commit_us, 0);
	if (s->source)
		s->source_ops->ack(s->source, &s->applied);
	return 0;
}

static void *target_main(void *arg)
{
	dbs_stream *s = arg;
	char err[DBS_ERRMSG_MAX] = "";
	uint64_t limit = s->config->limits.number_of_events;
	int failed = 0;
	for (;;) {
		dbs_batch *batch = NULL;
		/* Alone, the target stops on request: what the hub still holds
		 * stays there for the next run; with a local source the hub is
		 * drained first. */
		if (s->opts.part == DBS_PART_TARGET && host_stopping(&s->target_host))
			break;
		int rc = s->hub_ops->fetch(s->hub, &batch, 100, err, sizeof err);
		if (rc == 1) {
			host_stopping(&s->target_host); /* notices the time limit */
			report_progress(s);
			continue;
		}
		if (rc == 2)
			break;
		if (rc < 0) {
			failed = 1;
			break;
		}
		uint32_t n = dbs_batch_count(batch);
		uint64_t bytes = dbs_batch_bytes(batch);
		/* The lag counts from the oldest change not yet committed: in a
		 * transaction left open, from its first batch. */
		if (n && !s->txn_open)
			atomic_store(&s->applying_commit_us,
			             dbs_batch_event(batch, 0)->commit_time_us);
		rc = s->target_ops->apply(s->target, batch, err, sizeof err);
		if (rc == DBS_APPLY_LOST && s->config->target.span_transactions) {
			char cause[DBS_ERRMSG_MAX];
			dbs__fmt(cause, sizeof cause, "%s", err);
			err[0] = '\0';
			s->hub_ops->ack(s->hub, batch, err, sizeof err); /* frees it */
			rc = resume_from_checkpoint(s, cause, err, sizeof err);
			if (rc > 0)
				break;
			if (rc < 0) {
				failed = 1;
				break;
			}
			continue;
		}
		if (rc < 0 || rc > DBS_APPLY_OPEN ||
		    (rc == DBS_APPLY_OPEN && !s->config->target.span_transactions)) {
			if (rc >= 0)
				dbs__fmt(err, sizeof err, "target plugin \"%s\": apply returned %d",
				         s->target_ops->name, rc);
			dbs_batch_free(batch);
			failed = 1;
			break;
		}
		node_progress(&s->target_node, n, bytes);
		if (n)
			s->applied = *dbs_batch_last(batch);
		s->txn_open = rc == DBS_APPLY_OPEN;
		if (!s->txn_open) {
			/* Only what is committed may be confirmed to the source. */
			s->committed_events = atomic_load(&s->target_node.counter);
			if (s->source)
				s->source_ops->ack(s->source, dbs_batch_last(batch));
			if (n)
				atomic_store(&s->applied_commit_us,
				             dbs_batch_event(batch, n - 1)->commit_time_us);
			atomic_store(&s->applying_commit_us, 0);
		}
		/* With the batch open in the target, the hub may forget it: in one
		 * process a failure resumes from the target's checkpoint, never
		 * from the hub. */
		rc = s->hub_ops->ack(s->hub, batch, err, sizeof err);
		if (rc < 0) {
			failed = 1;
			break;
		}
		report_progress(s);
		if (limit && atomic_load(&s->target_node.counter) >= limit)
			break;
	}
	/* After a failure what is open rolls back with the target's close. */
	if (!failed && atomic_load(&s->stop_reason) != STOP_FAILURE && s->target &&
	    flush_open(s, err, sizeof err) < 0)
		failed = 1;
	if (failed) {
		if (!err[0])
			dbs__fmt(err, sizeof err, "target failed");
		node_end(s, &s->target_node, DBS_STATUS_FAILED, err);
		request_stop(s, STOP_FAILURE);
	}
	if (s->source_running) {
		pthread_join(s->source_thread, NULL);
		s->source_running = 0;
	} else if (s->opts.part == DBS_PART_ALL) {
		/* Stopped or failed while resuming: no source thread to end it. */
		node_end(s, &s->source_node, status_for(atomic_load(&s->stop_reason)), NULL);
	}
	if (!failed) {
		enum stop_reason reason = (enum stop_reason)atomic_load(&s->stop_reason);
		node_end(s, &s->target_node, status_for(reason), NULL);
	}
	close_plugins(s);
	mark_ended(s);
	return NULL;
}

/* Part SOURCE: relay the positions remote writers committed to the
 * source, on this thread as source->ack expects, until the source is done;
 * then give the last acks a moment to arrive and close. */
static void *acker_main(void *arg)
{
	dbs_stream *s = arg;
	char err[DBS_ERRMSG_MAX] = "";
	int64_t linger_until = 0;
	for (;;) {
		dbs_position pos;
		int rc = s->hub_ops->acked(s->hub, &pos, err, sizeof err);
		if (rc > 0)
			s->source_ops->ack(s->source, &pos);
		else if (rc < 0)
			stream_log(s, DBS_LOG_WARN, "[source] acknowledgements: %s", err);
		if (atomic_load(&s->source_done)) {
			int64_t now = dbs__monotonic_ns();
			if (!linger_until)
				linger_until = now + ACK_LINGER_NS;
			else if (now >= linger_until)
				break;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	pthread_join(s->source_thread, NULL);
	s->source_running = 0;
	close_plugins(s);
	mark_ended(s);
	return NULL;
}

/* ---- public API ---- */

static void stream_destroy(dbs_stream *s)
{
	if (!s)
		return;
	close_plugins(s);
	dbs__config_free(s->config);
	free(s->config_json);
	free((char *)s->opts.stream_id);
	free((char *)s->opts.default_hub);
	free((char *)s->opts.default_hub_url);
	free((char *)s->opts.default_hub_credentials);
	free((char *)s->opts.default_hub_tls_ca);
	free((char *)s->opts.default_hub_tls_cert);
	free((char *)s->opts.default_hub_tls_key);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->join_lock);
	pthread_cond_destroy(&s->ended_cond);
	free(s);
}

static char *dup_or_null(const char *text)
{
	return text ? strdup(text) : NULL;
}

/* Open the target; it reads this stream's checkpoint into s->checkpoint. */
static int open_target(dbs_stream *s, char *err, size_t errlen)
{
	int rc = s->target_ops->open(&s->target, &s->config->target, &s->target_host,
	                             &s->checkpoint, err, errlen);
	if (rc < 0)
		s->target = NULL;
	return rc;
}

/* Open the source where it resumes: at the target's checkpoint, even one
 * inside a transaction (the source then reads that transaction again and
 * the target skips what it applied). Alone, it resumes where the remote
 * writers' acknowledgements brought it, as the hub kept it. */
static int open_source(dbs_stream *s, char *err, size_t errlen)
{
	const dbs_position *resume = NULL;
	dbs_position acked = {0};
	int rc;
	if (s->opts.part == DBS_PART_SOURCE) {
		rc = s->hub_ops->version >= 3 && s->hub_ops->resume_point
		         ? s->hub_ops->resume_point(s->hub, &acked, err, errlen)
		         : 0;
		if (rc < 0)
			return rc;
		if (rc > 0)
			resume = &acked;
	} else if (s->checkpoint.txn || s->checkpoint.resume) {
		resume = &s->checkpoint;
	}
	rc = s->source_ops->open(&s->source, &s->config->source, &s->source_host, resume, err,
	                         errlen);
	if (rc < 0)
		s->source = NULL;
	return rc;
}

/* Open the plugins; a failure marks the node INIT FAILED, not an error. */
static void open_plugins(dbs_stream *s)
{
	char err[DBS_ERRMSG_MAX] = "";
	dbs_stream_part part = s->opts.part;
	int rc = s->hub_ops->open(&s->hub, &s->hub_config, &s->hub_host, err, sizeof err);
	if (rc < 0) {
		char msg[DBS_ERRMSG_MAX];
		dbs__fmt(msg, sizeof msg, "hub \"%s\": %s", s->config->hub.type, err);
		node_end(s, &s->target_node, DBS_STATUS_INIT_FAILED, msg);
		node_end(s, &s->source_node, DBS_STATUS_INIT_FAILED, msg);
		return;
	}
	err[0] = '\0';
	if (part != DBS_PART_SOURCE) {
		/* Spanning a source transaction needs the source in this process
		 * to read it again after a failure (see the top of this file). */
		s->config->target.span_transactions = part == DBS_PART_ALL &&
		                                      s->target_ops->version >= 2 &&
		                                      s->target_ops->flush != NULL;
		rc = open_target(s, err, sizeof err);
		if (rc < 0) {
			node_end(s, &s->target_node, DBS_STATUS_INIT_FAILED,
			         err[0] ? err : dbs_strerror(rc));
			if (part == DBS_PART_ALL)
				node_end(s, &s->source_node, DBS_STATUS_STOPPED, NULL);
			return;
		}
	}
	if (part == DBS_PART_TARGET)
		return;
	err[0] = '\0';
	rc = open_source(s, err, sizeof err);
	if (rc < 0) {
		node_end(s, &s->source_node, DBS_STATUS_INIT_FAILED, err[0] ? err : dbs_strerror(rc));
		if (part == DBS_PART_ALL)
			node_end(s, &s->target_node, DBS_STATUS_STOPPED, NULL);
	}
}

/* Options as the caller's version defines them; the rest keep defaults. */
static int copy_options(dbs_stream_options *dst, const dbs_stream_options *opts)
{
	dbs_stream_options defaults = DBS_STREAM_OPTIONS_INIT;
	*dst = defaults;
	if (!opts)
		return 0;
	if (opts->version == 1) {
		memcpy(dst, opts, offsetof(dbs_stream_options, default_hub_url));
		dst->version = DBS_STREAM_OPTIONS_VERSION;
		return 0;
	}
	if (opts->version != DBS_STREAM_OPTIONS_VERSION)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_create: options version %u unknown",
		                      opts->version);
	*dst = *opts;
	return 0;
}

/* Own copies of the option strings; 0 or DBS_ENOMEM. */
static int own_option_strings(dbs_stream_options *o)
{
	const char **fields[] = {&o->stream_id,          &o->default_hub,
	                         &o->default_hub_url,    &o->default_hub_credentials,
	                         &o->default_hub_tls_ca, &o->default_hub_tls_cert,
	                         &o->default_hub_tls_key};
	int rc = 0;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const char *orig = *fields[i];
		*fields[i] = dup_or_null(orig);
		if (orig && !*fields[i])
			rc = DBS_ENOMEM;
	}
	return rc;
}

/* The hub the stream uses and what part of it this process opens. */
static int choose_hub(dbs_stream *s)
{
	dbs_hub_config *h = &s->hub_config;
	*h = s->config->hub;
	/* The server's default hub applies only when the config names none. */
	if (s->opts.default_hub && !cJSON_GetObjectItemCaseSensitive(s->config->json, "hub")) {
		h->type = s->opts.default_hub;
		if (strcmp(h->type, "memory") != 0) {
			h->url = s->opts.default_hub_url;
			h->credentials = s->opts.default_hub_credentials;
			h->tls_ca = s->opts.default_hub_tls_ca;
			h->tls_cert = s->opts.default_hub_tls_cert;
			h->tls_key = s->opts.default_hub_tls_key;
		}
	}
	if (!h->partitions)
		h->partitions = 1;
	h->part = (unsigned)s->opts.part;
	h->partition = s->opts.partition;
	if ((unsigned)s->opts.part > DBS_PART_TARGET)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_create: part %d unknown",
		                      (int)s->opts.part);
	if (s->opts.part != DBS_PART_ALL && !s->opts.stream_id)
		return dbs__error_set(DBS_EINVAL, "a stream run in parts needs its stream id in the "
		                                  "options, the same on every part");
	if (s->opts.part == DBS_PART_ALL && h->partitions > 1)
		return dbs__error_set(DBS_ECONFIG, "hub.partitions: %u writers need the target part "
		                                   "run apart from the source (part \"target\")",
		                      h->partitions);
	if (s->opts.part == DBS_PART_TARGET && s->opts.partition >= h->partitions)
		return dbs__error_set(DBS_EINVAL, "partition %u: hub.partitions is %u",
		                      s->opts.partition, h->partitions);
	return 0;
}

DBS_API int dbs_stream_create(dbs_stream **out, const char *config, size_t len,
                              const dbs_stream_options *opts)
{
	char err[DBS_ERRMSG_MAX] = "";
	dbs_stream *s = NULL;
	int rc;
	if (!out)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_create: out is NULL");
	*out = NULL;
	if (!config)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_create: config is NULL");
	if (opts && opts->version != 1 && opts->version != DBS_STREAM_OPTIONS_VERSION)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_create: options version %u unknown",
		                      opts->version);

	s = calloc(1, sizeof *s);
	if (!s)
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->join_lock, NULL);
	pthread_cond_init(&s->ended_cond, NULL);
	s->source_node.label = "source";
	s->target_node.label = "target";
	if ((rc = copy_options(&s->opts, opts)) < 0)
		goto fail;
	if (own_option_strings(&s->opts) != 0) {
		rc = dbs__error_set(DBS_ENOMEM, "out of memory");
		goto fail;
	}

	rc = dbs__config_parse(&s->config, config, len, err, sizeof err);
	if (rc < 0) {
		rc = dbs__error_set(DBS_ECONFIG, "%s", err);
		goto fail;
	}
	if (s->opts.stream_id) {
		if (dbs_ksuid_check(s->opts.stream_id) != 0) {
			rc = dbs__error_set(DBS_EINVAL, "stream id \"%s\" is not a KSUID",
			                    s->opts.stream_id);
			goto fail;
		}
		memcpy(s->id, s->opts.stream_id, 27);
		s->id[27] = '\0';
	} else if ((rc = dbs_ksuid_new(s->id)) < 0) {
		goto fail;
	}

	s->registry = s->opts.registry ? s->opts.registry : dbs__builtin_registry();
	if (!s->registry) {
		rc = dbs__error_set(DBS_EINTERNAL, "built-in plugins failed to register: %s",
		                    dbs_error_last());
		goto fail;
	}
	if ((rc = choose_hub(s)) < 0)
		goto fail;
	const char *hub = s->hub_config.type;
	s->source_ops = dbs_registry_source(s->registry, s->config->source.type);
	s->target_ops = dbs_registry_target(s->registry, s->config->target.type);
	s->hub_ops = dbs_registry_hub(s->registry, hub);
	if (!s->source_ops) {
		rc = dbs__error_set(DBS_ECONFIG, "source.type: no source plugin named \"%s\"",
		                    s->config->source.type);
		goto fail;
	}
	if (!s->target_ops) {
		rc = dbs__error_set(DBS_ECONFIG, "target.type: no target plugin named \"%s\"",
		                    s->config->target.type);
		goto fail;
	}
	if (!s->hub_ops) {
		rc = dbs__error_set(DBS_ECONFIG, "hub.type: no hub plugin named \"%s\"", hub);
		goto fail;
	}
	/* A version 1 ops struct ends at `close`: `acked` is not read. */
	if (s->opts.part != DBS_PART_ALL &&
	    (s->hub_ops->version < 2 || s->hub_ops->acked == NULL)) {
		rc = dbs__error_set(DBS_ECONFIG, "hub.type: the \"%s\" hub cannot run a stream in "
		                                 "parts; use nats",
		                    hub);
		goto fail;
	}
	s->config_json = dbs__config_to_json(s->config, s->id);
	if (!s->config_json) {
		rc = dbs__error_set(DBS_ENOMEM, "out of memory");
		goto fail;
	}

	host_init(&s->source_host, s);
	host_init(&s->target_host, s);
	host_init(&s->hub_host, s);
	/* Each writer of a partitioned stream keeps its own checkpoint row. */
	if (s->hub_config.partitions > 1) {
		dbs__fmt(s->target_key, sizeof s->target_key, "%s.%u", s->id, s->opts.partition);
		s->target_host.stream_id = s->target_key;
	}
	atomic_init(&s->stop_reason, STOP_NONE);
	atomic_init(&s->source_node.status, DBS_STATUS_READY);
	atomic_init(&s->target_node.status, DBS_STATUS_READY);
	if (s->config->limits.elapsed_time_s)
		s->deadline_mono_ns =
			dbs__monotonic_ns() + (int64_t)s->config->limits.elapsed_time_s * 1000000000LL;

	open_plugins(s);
	if (dbs_status_is_terminal((dbs_status)atomic_load(&s->source_node.status)) ||
	    dbs_status_is_terminal((dbs_status)atomic_load(&s->target_node.status))) {
		close_plugins(s);
		s->ended = 1;
		*out = s;
		dbs__error_clear();
		return 0;
	}

	static const char *const part_names[] = {"", " (source part)", " (target part)"};
	stream_log(s, DBS_LOG_INFO, "stream %s: %s -> %s through %s hub%s, READY", s->id,
	           s->config->source.type, s->config->target.type, hub,
	           part_names[s->opts.part]);
	if (s->opts.part != DBS_PART_TARGET) {
		if (pthread_create(&s->source_thread, NULL, source_main, s) != 0) {
			rc = dbs__error_set(DBS_EINTERNAL, "cannot start the source thread");
			goto fail;
		}
		s->source_running = 1;
	}
	if (pthread_create(&s->target_thread, NULL,
	                   s->opts.part == DBS_PART_SOURCE ? acker_main : target_main, s) != 0) {
		request_stop(s, STOP_FAILURE);
		if (s->opts.part != DBS_PART_TARGET)
			pthread_join(s->source_thread, NULL);
		rc = dbs__error_set(DBS_EINTERNAL, "cannot start the target thread");
		goto fail;
	}
	s->threads_started = 1;
	*out = s;
	dbs__error_clear();
	return 0;
fail:
	stream_destroy(s);
	return rc;
}

static void conn_stat(dbs_stream *s, const conn_health *c, const node *n, dbs_conn_stat *o)
{
	o->reconnects = atomic_load(&c->reconnects);
	o->lost_since_ns = atomic_load(&c->lost_since_ns);
	/* A node that ended retries nothing any more. */
	o->reconnecting =
	    o->lost_since_ns != 0 && !dbs_status_is_terminal((dbs_status)atomic_load(&n->status));
	pthread_mutex_lock(&s->lock);
	memcpy(o->last_error, c->last_error, sizeof o->last_error);
	pthread_mutex_unlock(&s->lock);
}

DBS_API int dbs_stream_stat(dbs_stream *s, dbs_stat *stat)
{
	if (!s || !stat)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_stat: NULL argument");
	if (stat->version != 1 && stat->version != DBS_STAT_VERSION)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_stat: stat version %u unknown",
		                      stat->version);
	dbs_stat full = DBS_STAT_INIT;
	memcpy(full.stream_id, s->id, sizeof full.stream_id);
	node *nodes[2] = {&s->source_node, &s->target_node};
	dbs_node_stat *outs[2] = {&full.source, &full.target};
	int64_t now = dbs__now_ns();
	for (int i = 0; i < 2; i++) {
		node *n = nodes[i];
		dbs_node_stat *o = outs[i];
		o->status = (dbs_status)atomic_load(&n->status);
		o->counter = atomic_load(&n->counter);
		o->bytes = atomic_load(&n->bytes);
		o->started_ns = atomic_load(&n->started_ns);
		int64_t ended = atomic_load(&n->ended_ns);
		int64_t until = ended ? ended : now;
		o->elapsed_ns = o->started_ns && until > o->started_ns ? until - o->started_ns : 0;
		pthread_mutex_lock(&s->lock);
		memcpy(o->message, n->message, sizeof o->message);
		pthread_mutex_unlock(&s->lock);
	}
	conn_stat(s, &s->source_conn, &s->source_node, &full.source_conn);
	conn_stat(s, &s->target_conn, &s->target_node, &full.target_conn);
	/* The hub serves both sides: it is done when both are. */
	conn_stat(s, &s->hub_conn,
	          dbs_status_is_terminal(full.source.status) ? &s->target_node : &s->source_node,
	          &full.hub_conn);
	full.source_lag_bytes = atomic_load(&s->source_lag_bytes);
	int64_t applying = atomic_load(&s->applying_commit_us);
	int64_t lag = applying ? now - applying * 1000 : 0;
	full.lag_ns = lag > 0 && !dbs_status_is_terminal(full.target.status) ? lag : 0;
	full.last_commit_ns = atomic_load(&s->applied_commit_us) * 1000;
	full.target_dead_letters = atomic_load(&s->dead_letters);
	/* A version 1 caller's struct ends at `target`. */
	unsigned version = stat->version;
	memcpy(stat, &full, version == 1 ? offsetof(dbs_stat, source_conn) : sizeof full);
	stat->version = version;
	return 0;
}

DBS_API int dbs_stream_wait(dbs_stream *s, int timeout_ms)
{
	if (!s)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_wait: stream is NULL");
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	while (!s->ended) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&s->ended_cond, &s->lock);
		} else if (pthread_cond_timedwait(&s->ended_cond, &s->lock, &ts) != 0) {
			rc = s->ended ? 0 : DBS_ESTATE;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return dbs__error_set(rc, "the stream is still running");
	return 0;
}

static void join_threads(dbs_stream *s)
{
	pthread_mutex_lock(&s->join_lock);
	if (s->threads_started && !s->joined) {
		pthread_join(s->target_thread, NULL);
		s->joined = 1;
	}
	pthread_mutex_unlock(&s->join_lock);
}

DBS_API int dbs_stream_stop(dbs_stream *s)
{
	if (!s)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_stop: stream is NULL");
	request_stop(s, STOP_USER);
	join_threads(s);
	return 0;
}

DBS_API const char *dbs_stream_id(const dbs_stream *s)
{
	return s ? s->id : "";
}

DBS_API int dbs_stream_config_json(char **out, const dbs_stream *s)
{
	if (!out)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_config_json: out is NULL");
	*out = NULL;
	if (!s)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_config_json: stream is NULL");
	char *copy = strdup(s->config_json);
	if (!copy)
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	*out = copy;
	return 0;
}

DBS_API const char *dbs_stream_errmsg(const dbs_stream *s)
{
	return s ? s->errmsg : "";
}

DBS_API void dbs_stream_free(dbs_stream *s)
{
	if (!s)
		return;
	dbs_stream_stop(s);
	stream_destroy(s);
}

DBS_API const char *dbs_status_name(dbs_status status)
{
	static const char *const names[] = {
		[DBS_STATUS_READY] = "READY",
		[DBS_STATUS_RUNNING] = "RUNNING",
		[DBS_STATUS_FINISHED] = "FINISHED",
		[DBS_STATUS_FAILED] = "FAILED",
		[DBS_STATUS_TIME_LIMIT_REACHED] = "TIME_LIMIT_REACHED",
		[DBS_STATUS_EVENT_LIMIT_REACHED] = "EVENT_LIMIT_REACHED",
		[DBS_STATUS_STOPPED] = "STOPPED",
		[DBS_STATUS_UNKNOWN_ERROR] = "UNKNOWN_ERROR",
		[DBS_STATUS_INIT_FAILED] = "INIT FAILED",
	};
	if ((unsigned)status >= sizeof names / sizeof names[0])
		return "UNKNOWN_ERROR";
	return names[status];
}

DBS_API int dbs_status_is_terminal(dbs_status status)
{
	return status != DBS_STATUS_READY && status != DBS_STATUS_RUNNING;
}
