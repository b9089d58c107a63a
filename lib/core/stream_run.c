/*
 * The running stream (see stream.c for the whole): the source thread
 * emits into the hub; the target thread (its loop in stream_group.c)
 * fetches, applies, acks and reports progress, resuming from the
 * target's checkpoint when a source transaction left open is lost with
 * the target's connection; part SOURCE relays remote writers'
 * acknowledgements instead. Statuses, counters and the host services
 * plugins call live here too.
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

#include "core/stream.h"
#include "fault/fault.h"

/* ---- logging and status ---- */

/* Client libraries quote a connection string they cannot parse, password
 * and all: every message is cleaned before it is stored or logged. */
void dbs__stream_scrub(const dbs_stream *s, char *text, size_t size)
{
	const char *conns[16];
	size_t n = dbs__config_connections(s->config, conns, sizeof conns / sizeof conns[0] - 1);
	conns[n++] = s->opts.default_hub_url;
	dbs__scrub_secrets(text, size, conns, n);
}

static void stream_vlog(dbs_stream *s, dbs_log_level level, const char *fmt, va_list ap)
{
	if (!s->opts.log || level > s->opts.log_level)
		return;
	char line[2048];
	dbs_vfmt(line, sizeof line, fmt, ap);
	dbs__stream_scrub(s, line, sizeof line);
	s->opts.log(level, line, s->opts.log_user_data);
}

void dbs__stream_log(dbs_stream *s, dbs_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	stream_vlog(s, level, fmt, ap);
	va_end(ap);
}

/* Move a node to a terminal status once; later calls keep the first. */
void dbs__stream_node_end(dbs_stream *s, node *n, dbs_status status, const char *message)
{
	char clean[DBS_ERRMSG_MAX];
	if (message) {
		dbs_fmt(clean, sizeof clean, "%s", message);
		dbs__stream_scrub(s, clean, sizeof clean);
		message = clean;
	}
	/* The status and its reason change under the lock a stat reads them
	 * under, so no stat sees a failed node without its reason. */
	int ended = 0;
	pthread_mutex_lock(&s->lock);
	int current = atomic_load(&n->status);
	while (!ended && !dbs_status_is_terminal((dbs_status)current)) {
		if (!atomic_compare_exchange_weak(&n->status, &current, (int)status))
			continue;
		ended = 1;
		atomic_store(&n->ended_ns, dbs_time_now_ns());
		DBS_FAULT_POINT("stream.node_ended");
		if (message && message[0]) {
			dbs_fmt(n->message, sizeof n->message, "%s", message);
			dbs_fmt(s->errmsg, sizeof s->errmsg, "%s: %s", n->label, message);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!ended)
		return;
	if (message && message[0])
		dbs__stream_log(s, DBS_LOG_ERROR, "[%s] %s: %s", n->label, dbs_status_name(status),
		                message);
	else
		dbs__stream_log(s, DBS_LOG_INFO, "[%s] %s, %" PRIuFAST64 " events", n->label,
		                dbs_status_name(status), atomic_load(&n->counter));
}

void dbs__stream_node_progress(dbs_stream *s, node *n, uint32_t events, uint64_t bytes)
{
	(void)s;
	if (atomic_load(&n->started_ns) == 0) {
		atomic_store(&n->started_ns, dbs_time_now_ns());
		int ready = DBS_STATUS_READY;
		atomic_compare_exchange_strong(&n->status, &ready, DBS_STATUS_RUNNING);
	}
	atomic_fetch_add(&n->counter, events);
	atomic_fetch_add(&n->bytes, bytes);
}

void dbs__stream_request_stop(dbs_stream *s, enum stop_reason reason)
{
	int none = STOP_NONE;
	atomic_compare_exchange_strong(&s->stop_reason, &none, (int)reason);
}

dbs_status dbs__stream_status_for(enum stop_reason reason)
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
	    dbs_time_monotonic_ns() >= s->deadline_mono_ns)
		dbs__stream_request_stop(s, STOP_TIME_LIMIT);
	/* A resume from the checkpoint stops the source and the hub, never
	 * the target thread that runs it. */
	if (host != &s->target_host && atomic_load(&s->restarting))
		return 1;
	return atomic_load(&s->stop_reason) != STOP_NONE;
}

static void host_log(const dbs_host *host, dbs_log_level level, const char *fmt, ...)
{
	dbs_stream *s = host->core;
	if (!s->opts.log || level > s->opts.log_level)
		return;
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	dbs_vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	dbs__stream_log(s, level, "[%s] %s",
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
	if (atomic_compare_exchange_strong(&c->lost_since_ns, &connected, dbs_time_now_ns()))
		atomic_fetch_add(&c->reconnects, 1);
	dbs_fmt(clean, sizeof clean, "%s", message && message[0] ? message : "connection lost");
	dbs__stream_scrub(s, clean, sizeof clean);
	pthread_mutex_lock(&s->lock);
	dbs_fmt(c->last_error, sizeof c->last_error, "%s", clean);
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
	dbs__stall_lag(&s->stall, bytes);
}

static void host_rows_dead_lettered(const dbs_host *host, uint64_t rows)
{
	dbs_stream *s = host->core;
	atomic_fetch_add(&s->dead_letters, rows);
}

void dbs__stream_host_init(dbs_host *host, dbs_stream *s, const dbs_plugin *plugin)
{
	host->plugin_data = plugin ? plugin->data : NULL;
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
			dbs__stream_request_stop(s, STOP_EVENT_LIMIT);
		return ret;
	}
	uint64_t bytes = dbs_batch_bytes(batch);
	int rc = s->hub_ops->publish(s->hub, batch, err, sizeof err);
	if (rc < 0) {
		dbs__stream_node_end(s, &s->source_node, DBS_STATUS_FAILED, err);
		dbs__stream_request_stop(s, STOP_FAILURE);
		return rc;
	}
	if (rc > 0)
		return 1;
	dbs__stream_node_progress(s, &s->source_node, n, bytes);
	if (ret)
		dbs__stream_request_stop(s, STOP_EVENT_LIMIT);
	return ret;
}

void *dbs__stream_source_main(void *arg)
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
			dbs_fmt(err, sizeof err, "%s", dbs_strerror(rc));
		dbs__stream_node_end(s, &s->source_node, DBS_STATUS_FAILED, err);
		dbs__stream_request_stop(s, STOP_FAILURE);
	} else {
		dbs__stream_node_end(s, &s->source_node,
		                     dbs__stream_status_for(atomic_load(&s->stop_reason)), NULL);
	}
	return NULL;
}

/* ---- target thread ---- */

void dbs__stream_report_progress(dbs_stream *s)
{
	uint32_t every = s->config->target.reporting_interval;
	if (!every)
		return;
	int64_t now = dbs_time_monotonic_ns();
	if (now - s->last_report_mono_ns < (int64_t)every * 1000000000LL)
		return;
	s->last_report_mono_ns = now;
	node *n = &s->target_node;
	int64_t started = atomic_load(&n->started_ns);
	double secs = started ? (double)(dbs_time_now_ns() - started) / 1e9 : 0.0;
	uint64_t bytes = atomic_load(&n->bytes);
	dbs__stream_log(s, DBS_LOG_INFO, "[target] %s, %" PRIuFAST64 " events, %.1f MB, Rate: %.1f MB/s",
	                dbs_status_name((dbs_status)atomic_load(&n->status)), atomic_load(&n->counter),
	                (double)bytes / 1e6, secs > 0 ? (double)bytes / 1e6 / secs : 0.0);
}

void dbs__stream_close_plugins(dbs_stream *s)
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

void dbs__stream_mark_ended(dbs_stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->ended = 1;
	pthread_cond_broadcast(&s->ended_cond);
	pthread_mutex_unlock(&s->lock);
}

/* ---- resuming from the target's checkpoint ---- */

/* Hub, target and source opened again, as open_plugins does; on failure
 * err says which and why, and what was opened is closed. */
static int reopen_plugins(dbs_stream *s, char *err, size_t errlen)
{
	char msg[DBS_ERRMSG_MAX] = "";
	int rc = s->hub_ops->open(&s->hub, &s->hub_config, &s->hub_host, msg, sizeof msg);
	if (rc < 0) {
		s->hub = NULL;
		dbs_fmt(err, errlen, "hub \"%s\": %s", s->hub_config.type, msg);
		goto fail;
	}
	if (!s->target && (rc = dbs__stream_open_target(s, msg, sizeof msg)) < 0) {
		dbs_fmt(err, errlen, "target: %s", msg[0] ? msg : dbs_strerror(rc));
		goto fail;
	}
	if ((rc = dbs__stream_open_source(s, msg, sizeof msg)) < 0) {
		dbs_fmt(err, errlen, "source: %s", msg[0] ? msg : dbs_strerror(rc));
		goto fail;
	}
	return 0;
fail:
	dbs__stream_close_plugins(s);
	return rc;
}

/* The source and the hub closed; the target, whose session is sound,
 * stays open. */
static void close_source_side(dbs_stream *s)
{
	if (s->source)
		s->source_ops->close(s->source);
	if (s->hub)
		s->hub_ops->close(s->hub);
	s->source = NULL;
	s->hub = NULL;
}

/*
 * The target lost its connection with a source transaction open: the
 * batches it held are gone, so the stream starts over from the target's
 * checkpoint. The source thread is stopped and joined, every plugin closed
 * (the hub drops what it holds; NATS in one process purges its stream),
 * then target, hub and source are opened again with the reconnect
 * backoff, the source at the checkpoint, and the source thread restarted.
 * Counters go back to what is committed, since the source reads the rest
 * again. The same, with `lost` 0, after a row failed inside a group of
 * source transactions: the target rolled back and stays open, only the
 * source side starts again (at once). 0 when running again, 1 when the
 * stream is stopping, negative with err filled when the reconnect policy
 * gave up.
 */
int dbs__stream_resume_from_checkpoint(dbs_stream *s, const char *cause, int lost, char *err,
                                       size_t errlen)
{
	char last[DBS_ERRMSG_MAX];
	int delay = DBS_RECONNECT_FIRST_DELAY_MS;
	unsigned tries = 0;
	int64_t lost_at = dbs_time_monotonic_ns();
	int rc;

	if (lost)
		dbs__stream_log(s, DBS_LOG_WARN,
		                "[target] connection lost inside a source transaction (%s): resuming "
		                "the stream from the target's checkpoint",
		                cause);
	else
		dbs__stream_log(s, DBS_LOG_WARN,
		                "[target] a row failed inside a group of source transactions (%s): "
		                "applying them again from the target's checkpoint, one commit each",
		                cause);
	atomic_store(&s->restarting, 1);
	if (s->source_running) {
		pthread_join(s->source_thread, NULL);
		s->source_running = 0;
	}
	/* After a row that failed the target's session is sound and rolled
	 * back, and keeps what it learnt (tables, statements, which tables
	 * meet duplicate keys); its checkpoint is the last commit. */
	if (lost)
		dbs__stream_close_plugins(s);
	else
		close_source_side(s);
	/* Nothing runs on the source side now: opening it again must not see
	 * the stop that ended it. */
	atomic_store(&s->restarting, 0);
	s->txn_open = 0;
	s->group_boundary = 0;
	s->group_events = 0;
	s->config->target.group_transactions = s->grouping && !s->ungrouped;
	dbs__stall_held(&s->stall, 0);
	dbs_fmt(last, sizeof last, "%s", cause);
	/* Counted and shown as a reconnect of the target (stat, metrics). */
	if (lost)
		dbs_report_connection_lost(&s->target_host, cause);
	for (;;) {
		/* A row that failed needs no wait for a server to come back. */
		if ((lost || tries) && dbs_sleep_unless_stopping(&s->target_host, delay))
			return 1;
		tries++;
		if ((rc = reopen_plugins(s, last, sizeof last)) == 0)
			break;
		lost = 1;
		dbs_report_connection_lost(&s->target_host, last);
		if (dbs_reconnect_expired(&s->target_host, lost_at)) {
			dbs_reconnect_give_up_text(err, errlen, &s->target_host,
			                            "resuming from the checkpoint after the target's "
			                            "connection was lost inside a source transaction",
			                            tries, last);
			return rc;
		}
		dbs__stream_log(s, DBS_LOG_WARN, "[target] resuming from the checkpoint: %s; attempt %u in "
		                "%d ms", last, tries + 1, dbs_backoff_next(delay));
		delay = dbs_backoff_next(delay);
	}
	atomic_store(&s->target_node.counter, s->committed_events);
	atomic_store(&s->source_node.counter, s->committed_events);
	atomic_store(&s->source_done, 0);
	if (pthread_create(&s->source_thread, NULL, dbs__stream_source_main, s) != 0) {
		dbs_fmt(err, errlen, "cannot start the source thread again");
		return DBS_EINTERNAL;
	}
	s->source_running = 1;
	if (lost)
		dbs_report_connection_restored(&s->target_host);
	dbs__stream_log(s, DBS_LOG_INFO, "[target] resumed from the checkpoint after %u attempts", tries);
	return 0;
}

/* ---- part SOURCE: the acknowledgement relay ---- */

/* Part SOURCE: relay the positions remote writers committed to the
 * source, on this thread as source->ack expects, until the source is done;
 * then give the last acks a moment to arrive and close. */
void *dbs__stream_acker_main(void *arg)
{
	dbs_stream *s = arg;
	char err[DBS_ERRMSG_MAX] = "";
	int64_t linger_until = 0;
	for (;;) {
		dbs_position pos;
		int rc = s->hub_ops->acked(s->hub, &pos, err, sizeof err);
		if (rc > 0) {
			dbs__stall_progress(&s->stall);
			s->source_ops->ack(s->source, &pos);
		} else if (rc < 0)
			dbs__stream_log(s, DBS_LOG_WARN, "[source] acknowledgements: %s", err);
		if (atomic_load(&s->source_done)) {
			int64_t now = dbs_time_monotonic_ns();
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
	dbs__stream_close_plugins(s);
	dbs__stream_mark_ended(s);
	return NULL;
}

/* ---- stall watch ---- */

#define WATCH_PERIOD_MS 250

/* Check for a stall every WATCH_PERIOD_MS until the stream has ended; say
 * so once when it stalls and once when it moves again. Its own thread: the
 * threads that do the work are the ones that may hang. */
void *dbs__stream_watch_main(void *arg)
{
	dbs_stream *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->ended) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->ended_cond, &s->lock, &ts);
		if (s->ended)
			break;
		pthread_mutex_unlock(&s->lock);
		int64_t now = dbs_time_monotonic_ns();
		int change = dbs__stall_check(&s->stall, now);
		int64_t idle_s = (now - atomic_load(&s->stall.since_mono_ns)) / 1000000000LL;
		if (change > 0) {
			uint64_t lag = atomic_load(&s->stall.lag_bytes);
			if (lag)
				dbs__stream_log(s, DBS_LOG_WARN,
				                "stream %s stalled: the source holds %" PRIu64 " bytes of log "
				                "not yet confirmed and nothing was applied for %" PRId64
				                " s (stallAfter)",
				                s->id, lag, idle_s);
			else
				dbs__stream_log(s, DBS_LOG_WARN,
				                "stream %s stalled: the target holds changes it has not "
				                "applied for %" PRId64 " s (stallAfter)",
				                s->id, idle_s);
		} else if (change < 0) {
			dbs__stream_log(s, DBS_LOG_INFO, "stream %s: changes move again after a stall",
			                s->id);
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}
