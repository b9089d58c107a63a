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
 *
 * Grouping (the same setting, a version 5 target): the source transactions
 * waiting in the hub share one target commit. After a batch that ends a
 * source transaction the target leaves its transaction open; the target
 * thread takes the next batch if one is already waiting, and commits (the
 * target's flush) when none is, or once the group holds GROUP_MAX_EVENTS
 * events or has been open GROUP_MAX_NS. A commit therefore always ends on
 * a source transaction boundary with its checkpoint row, readers see
 * whole source transactions, an idle stream commits at once, and a busy
 * one pays one durable commit for many transactions. The batches that
 * end a source transaction are acknowledged to the hub only after the
 * commit (those inside one once applied, as before). A row's values
 * rejected inside a group (DBS_APPLY_REPLAY) resume the stream from the
 * checkpoint with grouping off up to that batch, so the row fails, or goes
 * to the dead-letter table, in its own source transaction.
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

#include "core/stream.h"

/* ---- public API ---- */

static void stream_destroy(dbs_stream *s)
{
	if (!s)
		return;
	dbs__load_free(s->load);
	dbs__seam_free(s->seam);
	dbs__stream_close_plugins(s);
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
	for (uint32_t i = 0; i < s->nheld; i++)
		dbs_batch_free(s->held[i]);
	free(s->held);
	free(s);
}

static char *dup_or_null(const char *text)
{
	return text ? strdup(text) : NULL;
}

/* Open the target; it reads this stream's checkpoint into s->checkpoint. */
int dbs__stream_open_target(dbs_stream *s, char *err, size_t errlen)
{
	int rc = s->target_ops->open(&s->target, &s->config->target, &s->target_host,
	                             &s->checkpoint, err, errlen);
	if (rc < 0)
		s->target = NULL;
	return rc;
}

/* A fresh source's start, recorded where a restart looks for its resume
 * position (the hub alone, the target's checkpoint in one process) before
 * READY: a process that dies before the target commits anything must not
 * resume at the end of the log, past the changes READY promised. */
static int keep_start_point(dbs_stream *s, char *err, size_t errlen)
{
	dbs_position start = {0};
	dbs_dialect dialect = DBS_DIALECT_POSTGRESQL;
	if (s->source_ops->version < 2 || !s->source_ops->start_point ||
	    s->source_ops->start_point(s->source, &start, &dialect) <= 0)
		return 0;
	if (s->opts.part == DBS_PART_SOURCE) {
		if (s->hub_ops->version < 4 || !s->hub_ops->keep_resume_point) {
			dbs__stream_log(s, DBS_LOG_WARN,
			                "[hub] the \"%s\" hub keeps no resume position: a source part "
			                "restarted before any acknowledgement starts at the log's end",
			                s->hub_ops->name);
			return 0;
		}
		return s->hub_ops->keep_resume_point(s->hub, &start, err, errlen);
	}
	if (s->target_ops->version < 3 || !s->target_ops->keep_checkpoint) {
		dbs__stream_log(s, DBS_LOG_WARN,
		                "[target] the \"%s\" target keeps no start checkpoint: a restart before "
		                "its first commit starts the source at the log's end",
		                s->target_ops->name);
		return 0;
	}
	int rc = s->target_ops->keep_checkpoint(s->target, &start, dialect, err, errlen);
	if (rc == 0)
		s->checkpoint = start;
	return rc;
}

/* Open the source where it resumes: at the target's checkpoint, even one
 * inside a transaction (the source then reads that transaction again and
 * the target skips what it applied). Alone, it resumes where the remote
 * writers' acknowledgements brought it, as the hub kept it. With nothing
 * to resume from, where it starts is recorded first (keep_start_point). */
int dbs__stream_open_source(dbs_stream *s, char *err, size_t errlen)
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
	if (rc < 0) {
		s->source = NULL;
		return rc;
	}
	if (!resume && (rc = keep_start_point(s, err, errlen)) < 0) {
		s->source_ops->close(s->source);
		s->source = NULL;
	}
	return rc;
}

/* The load, opened once the plugins it needs are: a refusal (a table,
 * a query, a grant, a non-empty target table) is INIT FAILED of the node
 * it concerns, and the other node STOPPED. */
static void open_load(dbs_stream *s, dbs_source *stream)
{
	char err[DBS_ERRMSG_MAX] = "";
	int blame = LOAD_BLAME_SOURCE;
	int rc = dbs__load_open(&s->load, s, stream, &blame, err, sizeof err);
	if (rc < 0) {
		node *bad = blame == LOAD_BLAME_SOURCE ? &s->source_node : &s->target_node;
		node *other = bad == &s->source_node ? &s->target_node : &s->source_node;
		dbs__stream_node_end(s, bad, DBS_STATUS_INIT_FAILED, err[0] ? err : dbs_strerror(rc));
		dbs__stream_node_end(s, other, DBS_STATUS_STOPPED, NULL);
	}
}

/* Mode convert: the target and the source's snapshot; no hub, no stream. */
static void open_convert(dbs_stream *s)
{
	char err[DBS_ERRMSG_MAX] = "";
	int rc = dbs__stream_open_target(s, err, sizeof err);
	if (rc < 0) {
		dbs__stream_node_end(s, &s->target_node, DBS_STATUS_INIT_FAILED,
		                     err[0] ? err : dbs_strerror(rc));
		dbs__stream_node_end(s, &s->source_node, DBS_STATUS_STOPPED, NULL);
		return;
	}
	open_load(s, NULL);
}

/* Open the plugins; a failure marks the node INIT FAILED, not an error. */
void dbs__stream_open_plugins(dbs_stream *s)
{
	char err[DBS_ERRMSG_MAX] = "";
	dbs_stream_part part = s->opts.part;
	if (s->config->convert) {
		open_convert(s);
		return;
	}
	int rc = s->hub_ops->open(&s->hub, &s->hub_config, &s->hub_host, err, sizeof err);
	if (rc < 0) {
		char msg[DBS_ERRMSG_MAX];
		dbs_fmt(msg, sizeof msg, "hub \"%s\": %s", s->config->hub.type, err);
		dbs__stream_node_end(s, &s->target_node, DBS_STATUS_INIT_FAILED, msg);
		dbs__stream_node_end(s, &s->source_node, DBS_STATUS_INIT_FAILED, msg);
		return;
	}
	err[0] = '\0';
	if (part != DBS_PART_SOURCE) {
		/* Spanning a source transaction needs the source in this process
		 * to read it again after a failure (see the top of this file). */
		s->config->target.span_transactions = part == DBS_PART_ALL &&
		                                      s->target_ops->version >= 2 &&
		                                      s->target_ops->flush != NULL;
		s->grouping = s->config->target.span_transactions && s->target_ops->version >= 6;
		s->config->target.group_transactions = s->grouping;
		rc = dbs__stream_open_target(s, err, sizeof err);
		if (rc < 0) {
			dbs__stream_node_end(s, &s->target_node, DBS_STATUS_INIT_FAILED,
			         err[0] ? err : dbs_strerror(rc));
			if (part == DBS_PART_ALL)
				dbs__stream_node_end(s, &s->source_node, DBS_STATUS_STOPPED, NULL);
			return;
		}
	}
	if (part == DBS_PART_TARGET)
		return;
	err[0] = '\0';
	rc = dbs__stream_open_source(s, err, sizeof err);
	if (rc < 0) {
		dbs__stream_node_end(s, &s->source_node, DBS_STATUS_INIT_FAILED, err[0] ? err : dbs_strerror(rc));
		if (part == DBS_PART_ALL)
			dbs__stream_node_end(s, &s->target_node, DBS_STATUS_STOPPED, NULL);
		return;
	}
	if (s->config->source.initial_load)
		open_load(s, s->source);
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

/*
 * The server's default hub, for a configuration that names none: its
 * options become the keys of a hub section (url, credentials, tlsCA,
 * tlsCert, tlsKey), read through the rows of the hub it names.
 */
static int default_hub(dbs_stream *s)
{
	char err[DBS_ERRMSG_MAX];
	const struct {
		const char *key, *value;
	} keys[] = {
	    {"url", s->opts.default_hub_url},           {"credentials", s->opts.default_hub_credentials},
	    {"tlsCA", s->opts.default_hub_tls_ca},      {"tlsCert", s->opts.default_hub_tls_cert},
	    {"tlsKey", s->opts.default_hub_tls_key},
	};
	int rc = DBS_ENOMEM;
	cJSON *hub = cJSON_CreateObject();
	if (!hub || !cJSON_AddStringToObject(hub, "type", s->opts.default_hub))
		goto done;
	/* The in-process hub takes none of them. */
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].value && strcmp(s->opts.default_hub, "memory") != 0 &&
		    !cJSON_AddStringToObject(hub, keys[i].key, keys[i].value))
			goto done;
	rc = dbs__config_set_hub(s->config, s->registry, hub, err, sizeof err);
	if (rc)
		dbs__error_set(rc, "%s", err);
done:
	if (rc == DBS_ENOMEM)
		dbs__error_set(rc, "out of memory");
	cJSON_Delete(hub);
	return rc;
}

/* The hub the stream uses and what part of it this process opens. */
static int choose_hub(dbs_stream *s)
{
	dbs_hub_config *h = &s->hub_config;
	int rc;
	/* The server's default hub applies only when the config names none. */
	if (s->opts.default_hub && !cJSON_GetObjectItemCaseSensitive(s->config->json, "hub") &&
	    (rc = default_hub(s)) < 0)
		return rc;
	*h = s->config->hub;
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
	/* The load's readers and writers work side by side in one process. */
	if (s->opts.part != DBS_PART_ALL && (s->config->convert || s->config->source.initial_load))
		return dbs__error_set(DBS_ECONFIG, "%s: a stream that copies tables runs in one "
		                                   "process (not in parts)",
		                      s->config->convert ? "source.mode" : "source.initialLoad");
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

	s->registry = s->opts.registry ? s->opts.registry : dbs__builtin_registry();
	if (!s->registry) {
		rc = dbs__error_set(DBS_EINTERNAL, "built-in plugins failed to register: %s",
		                    dbs_error_last());
		goto fail;
	}
	rc = dbs__config_parse_with(&s->config, s->registry, config, len, err, sizeof err);
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

	dbs__stream_host_init(&s->source_host, s, s->config->plugins[DBS_PLUGIN_SOURCE]);
	dbs__stream_host_init(&s->target_host, s, s->config->plugins[DBS_PLUGIN_TARGET]);
	dbs__stream_host_init(&s->hub_host, s, s->config->plugins[DBS_PLUGIN_HUB]);
	/* Each writer of a partitioned stream keeps its own checkpoint row. */
	if (s->hub_config.partitions > 1) {
		dbs_fmt(s->target_key, sizeof s->target_key, "%s.%u", s->id, s->opts.partition);
		s->target_host.stream_id = s->target_key;
	}
	dbs__stall_init(&s->stall, s->config->watch.stall_after_s);
	atomic_init(&s->stop_reason, STOP_NONE);
	atomic_init(&s->source_node.status, DBS_STATUS_READY);
	atomic_init(&s->target_node.status, DBS_STATUS_READY);
	if (s->config->limits.elapsed_time_s)
		s->deadline_mono_ns =
			dbs_time_monotonic_ns() + (int64_t)s->config->limits.elapsed_time_s * 1000000000LL;

	dbs__stream_open_plugins(s);
	if (dbs_status_is_terminal((dbs_status)atomic_load(&s->source_node.status)) ||
	    dbs_status_is_terminal((dbs_status)atomic_load(&s->target_node.status))) {
		dbs__stream_close_plugins(s);
		s->ended = 1;
		*out = s;
		dbs__error_clear();
		return 0;
	}

	static const char *const part_names[] = {"", " (source part)", " (target part)"};
	if (s->config->convert)
		dbs__stream_log(s, DBS_LOG_INFO, "stream %s: %s -> %s, convert, READY", s->id,
		                s->config->source.type, s->config->target.type);
	else
		dbs__stream_log(s, DBS_LOG_INFO, "stream %s: %s -> %s through %s hub%s%s, READY", s->id,
		                s->config->source.type, s->config->target.type, hub,
		                part_names[s->opts.part],
		                s->load ? ", initial load first" : "");
	/* A load runs before the source: the target thread starts it after. */
	if (s->opts.part != DBS_PART_TARGET && !s->load) {
		if (pthread_create(&s->source_thread, NULL, dbs__stream_source_main, s) != 0) {
			rc = dbs__error_set(DBS_EINTERNAL, "cannot start the source thread");
			goto fail;
		}
		s->source_running = 1;
	}
	if (pthread_create(&s->target_thread, NULL,
	                   s->config->convert               ? dbs__stream_load_main
	                   : s->opts.part == DBS_PART_SOURCE ? dbs__stream_acker_main
	                                                     : dbs__stream_target_main,
	                   s) != 0) {
		dbs__stream_request_stop(s, STOP_FAILURE);
		if (s->source_running)
			pthread_join(s->source_thread, NULL);
		rc = dbs__error_set(DBS_EINTERNAL, "cannot start the target thread");
		goto fail;
	}
	s->threads_started = 1;
	/* Without the watch the stream still runs; only stalls go unreported. */
	if (pthread_create(&s->watch_thread, NULL, dbs__stream_watch_main, s) == 0)
		s->watch_started = 1;
	else
		dbs__stream_log(s, DBS_LOG_WARN, "stream %s: cannot start the stall watch", s->id);
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
	if (stat->version < 1 || stat->version > DBS_STAT_VERSION)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_stat: stat version %u unknown",
		                      stat->version);
	dbs_stat full = DBS_STAT_INIT;
	memcpy(full.stream_id, s->id, sizeof full.stream_id);
	node *nodes[2] = {&s->source_node, &s->target_node};
	dbs_node_stat *outs[2] = {&full.source, &full.target};
	int64_t now = dbs_time_now_ns();
	for (int i = 0; i < 2; i++) {
		node *n = nodes[i];
		dbs_node_stat *o = outs[i];
		/* A node's end (status, time, reason) is written under the lock. */
		pthread_mutex_lock(&s->lock);
		o->status = (dbs_status)atomic_load(&n->status);
		int64_t ended = atomic_load(&n->ended_ns);
		memcpy(o->message, n->message, sizeof o->message);
		pthread_mutex_unlock(&s->lock);
		o->counter = atomic_load(&n->counter);
		o->bytes = atomic_load(&n->bytes);
		o->started_ns = atomic_load(&n->started_ns);
		int64_t until = ended ? ended : now;
		o->elapsed_ns = o->started_ns && until > o->started_ns ? until - o->started_ns : 0;
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
	full.stalled = atomic_load(&s->stall.stalled) &&
	               !(dbs_status_is_terminal(full.source.status) &&
	                 dbs_status_is_terminal(full.target.status));
	full.stalled_since_ns = full.stalled ? dbs__stall_since_ns(&s->stall) : 0;
	if (s->load)
		dbs__load_stat(s->load, &full.load);
	/* An older caller's struct ends where its version ended. */
	unsigned version = stat->version;
	memcpy(stat, &full,
	       version == 1   ? offsetof(dbs_stat, source_conn)
	       : version == 2 ? offsetof(dbs_stat, stalled)
	       : version == 3 ? offsetof(dbs_stat, load)
	                      : sizeof full);
	stat->version = version;
	return 0;
}

DBS_API int dbs_stream_load_tables(dbs_stream *s, dbs_load_table_stat *tables, size_t max,
                                   size_t *count)
{
	if (!s || !count || (max && !tables))
		return dbs__error_set(DBS_EINVAL, "dbs_stream_load_tables: NULL argument");
	for (size_t i = 0; i < max; i++)
		if (tables[i].version != DBS_LOAD_TABLE_STAT_VERSION)
			return dbs__error_set(DBS_EINVAL,
			                      "dbs_stream_load_tables: table stat version %u unknown",
			                      tables[i].version);
	*count = s->load ? dbs__load_tables(s->load, tables, max) : 0;
	return 0;
}

DBS_API const char *dbs_load_phase_name(dbs_load_phase phase)
{
	static const char *const names[] = {
		[DBS_LOAD_PHASE_NONE] = "none",         [DBS_LOAD_PHASE_PLANNING] = "planning",
		[DBS_LOAD_PHASE_COPYING] = "copying",   [DBS_LOAD_PHASE_INDEXING] = "indexing",
		[DBS_LOAD_PHASE_DONE] = "done",
	};
	if ((unsigned)phase >= sizeof names / sizeof names[0])
		return "none";
	return names[phase];
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
		if (s->watch_started)
			pthread_join(s->watch_thread, NULL);
		s->joined = 1;
	}
	pthread_mutex_unlock(&s->join_lock);
}

DBS_API int dbs_stream_stop(dbs_stream *s)
{
	if (!s)
		return dbs__error_set(DBS_EINVAL, "dbs_stream_stop: stream is NULL");
	dbs__stream_request_stop(s, STOP_USER);
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
