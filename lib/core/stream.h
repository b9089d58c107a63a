/*
 * The stream's own state, shared by stream.c (the public API: create,
 * stat, stop, free), stream_run.c (the source and ack-relay threads,
 * statuses, host services, resume from the checkpoint) and
 * stream_group.c (the target thread: the open transaction, grouped
 * commits). What the stream does is told at the top of stream.c.
 */
#ifndef DBS_CORE_STREAM_H
#define DBS_CORE_STREAM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "core/load.h"

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
	dbs_stall stall;            /* whether work still moves (stall.c) */
	pthread_t watch_thread;     /* reports stalls; ends with the stream */
	int watch_started;

	/* Target thread only, except where said. */
	int source_running;         /* the source thread is to be joined */
	atomic_int restarting;      /* stops the source side while the stream
	                               resumes from the checkpoint (any thread) */
	int txn_open;               /* the target holds applied, uncommitted batches */
	dbs_position applied;       /* last position applied (committed or not) */
	int64_t applied_commit_time_us; /* source commit time of its event */
	uint64_t committed_events;  /* target counter at the last commit */
	/* Grouping source transactions into one target commit (stream_group.c). */
	int grouping;               /* the target groups (version 6, spanning) */
	int group_boundary;         /* open, and the last batch ended its source txn */
	uint64_t group_events;      /* events applied since the last commit */
	int64_t group_started_ns;   /* monotonic: the first batch since the last commit */
	int ungrouped;              /* grouping off until ungrouped_until is committed */
	dbs_position ungrouped_until;
	/* Applied batches that end a source transaction, not yet committed:
	 * their hub acknowledgement follows the commit (see hold_batch). */
	dbs_batch **held;
	uint32_t nheld;
	size_t cap_held;
	uint64_t held_events;

	/* The initial load (mode convert, or cdc with initialLoad): made when
	 * the stream opens, run on the target thread, kept for stat until
	 * the stream is freed. NULL when the stream copies nothing. */
	dbs_load *load;
	/* The filter between the load and the stream (target thread). */
	dbs_seam *seam;
};

/* ---- stream_run.c ---- */

/* Remove the secrets of the stream's connection strings from a message
 * (dbs__scrub_secrets) before it is stored or logged. */
void dbs__stream_scrub(const dbs_stream *s, char *text, size_t size);
void dbs__stream_log(dbs_stream *s, dbs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Move a node to a terminal status once; later calls keep the first. */
void dbs__stream_node_end(dbs_stream *s, node *n, dbs_status status, const char *message);
/* Ask every thread to end; the first reason wins. */
void dbs__stream_request_stop(dbs_stream *s, enum stop_reason reason);
/* The services a plugin instance gets from the stream. */
void dbs__stream_host_init(dbs_host *host, dbs_stream *s, const dbs_plugin *plugin);
/* The threads: the source, and (part SOURCE) the relay of the positions
 * remote writers committed to source->ack. */
void *dbs__stream_source_main(void *arg);
void *dbs__stream_acker_main(void *arg);
/* Reports a stall once when it starts and once when it ends. */
void *dbs__stream_watch_main(void *arg);
/* A node moved `events` events (`bytes` of payload): RUNNING from the first. */
void dbs__stream_node_progress(dbs_stream *s, node *n, uint32_t events, uint64_t bytes);
void dbs__stream_close_plugins(dbs_stream *s);
/* The terminal status a stop for `reason` gives a node. */
dbs_status dbs__stream_status_for(enum stop_reason reason);
/* The target's reportingInterval line, when due. */
void dbs__stream_report_progress(dbs_stream *s);
/* The stream has ended: dbs_stream_wait returns, the stall watch ends. */
void dbs__stream_mark_ended(dbs_stream *s);
/* Start again from the target's checkpoint after the target lost its
 * connection inside a source transaction (`lost`), or after a row failed
 * inside a group: 0 when running again, 1 when stopping, negative with
 * err filled when the reconnect policy gave up. */
int dbs__stream_resume_from_checkpoint(dbs_stream *s, const char *cause, int lost, char *err,
                                       size_t errlen);

/* ---- stream_group.c ---- */

/* The target thread: the load first when there is one, then batches
 * fetched, applied and committed, source transactions grouped. */
void *dbs__stream_target_main(void *arg);
/* Mode convert: the target thread runs the load and ends the stream. */
void *dbs__stream_load_main(void *arg);

/* ---- stream.c ---- */

/* Open the target; it reads this stream's checkpoint into s->checkpoint. */
int dbs__stream_open_target(dbs_stream *s, char *err, size_t errlen);
/* Open the source where it resumes: at the target's checkpoint, even one
 * inside a transaction (the source then reads that transaction again and
 * the target skips what it applied). Alone, it resumes where the remote
 * writers' acknowledgements brought it, as the hub kept it. With nothing
 * to resume from, where it starts is recorded first. */
int dbs__stream_open_source(dbs_stream *s, char *err, size_t errlen);

#endif
