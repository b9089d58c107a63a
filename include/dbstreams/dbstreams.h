/*
 * dbstreams — event-driven replication between databases.
 *
 * The stream API used by dbs-server, dbs-cli and programs that link the
 * library. A stream reads committed changes from a source database, carries
 * them through an event hub and applies them to a target database.
 *
 * Conventions: every function returns 0 or a negative DBS_E* code; the
 * message of the last failure on the calling thread is dbs_error_last().
 * Out-parameters come first, are set to NULL on entry and written only on
 * success. Every _create pairs with a _free that accepts NULL.
 */
#ifndef DBSTREAMS_H
#define DBSTREAMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DBS_BUILDING_LIBRARY)
#define DBS_API __attribute__((visibility("default")))
#else
#define DBS_API
#endif

#define DBS_VERSION_MAJOR 0
#define DBS_VERSION_MINOR 1
#define DBS_VERSION_PATCH 0
#define DBS_VERSION_STRING "0.1.0"

/** The library's version string ("0.1.0"); static storage. */
DBS_API const char *dbs_version(void);

/** Error codes: 0 is success, everything else is negative. Stable values. */
typedef enum dbs_error_code {
	DBS_OK = 0,
	DBS_EINVAL = -1,    /* a NULL or out-of-range argument */
	DBS_ECONFIG = -2,   /* the stream configuration is invalid */
	DBS_ENOMEM = -3,    /* an allocation failed */
	DBS_ESOURCE = -4,   /* the source database failed or refused */
	DBS_ETARGET = -5,   /* the target database failed or refused */
	DBS_EHUB = -6,      /* the event hub failed */
	DBS_ESTATE = -7,    /* the call does not fit the object's state */
	DBS_ENOTFOUND = -8, /* no such plugin, stream or object */
	DBS_EPROTO = -9,    /* malformed bytes from the network */
	DBS_EIO = -10,      /* a file or socket operation failed */
	DBS_EEXISTS = -11,  /* already registered or already present */
	DBS_EINTERNAL = -12 /* a bug: please report it with the message */
} dbs_error_code;

/** Short English name of a code ("invalid configuration"); static storage. */
DBS_API const char *dbs_strerror(int code);

/**
 * Message of the last failed call on this thread, or "" when none.
 * Valid until the next library call on the same thread.
 */
DBS_API const char *dbs_error_last(void);

/**
 * Statuses of a stream node, spelled as DBConvert Streams spells them
 * (dbs_status_name). Terminal statuses never change again.
 */
typedef enum dbs_status {
	DBS_STATUS_READY = 0,          /* initialised; the source is capturing */
	DBS_STATUS_RUNNING,            /* at least one event went through */
	DBS_STATUS_FINISHED,           /* the work is done */
	DBS_STATUS_FAILED,             /* an error stopped the node */
	DBS_STATUS_TIME_LIMIT_REACHED, /* limits.elapsedTime met */
	DBS_STATUS_EVENT_LIMIT_REACHED,/* limits.numberOfEvents met */
	DBS_STATUS_STOPPED,            /* stopped by the user */
	DBS_STATUS_UNKNOWN_ERROR,
	DBS_STATUS_INIT_FAILED         /* could not initialise its database */
} dbs_status;

/** "READY", "RUNNING", …, "INIT FAILED"; static storage, "UNKNOWN_ERROR" if out of range. */
DBS_API const char *dbs_status_name(dbs_status status);

/** Nonzero when the status never changes again. */
DBS_API int dbs_status_is_terminal(dbs_status status);

struct dbs_registry;

typedef enum dbs_log_level {
	DBS_LOG_ERROR = 0,
	DBS_LOG_WARN,
	DBS_LOG_INFO,
	DBS_LOG_DEBUG
} dbs_log_level;

/**
 * Log sink. Called from the stream's own threads (source, target), never
 * while the library holds a lock; it must not call dbs_stream_free().
 * `message` is borrowed for the duration of the call.
 */
typedef void (*dbs_log_fn)(dbs_log_level level, const char *message, void *user_data);

/* 2 appended the hub and part fields below `registry`; version 1 callers
 * (the struct ending at `registry`) stay accepted. */
#define DBS_STREAM_OPTIONS_VERSION 2

/** Which part of a stream this process runs (dbs_stream_options.part). */
typedef enum dbs_stream_part {
	DBS_PART_ALL = 0,    /* source, hub and target in this process */
	DBS_PART_SOURCE = 1, /* source and hub publisher; stat shows target READY */
	DBS_PART_TARGET = 2  /* hub fetcher and target; stat shows source READY */
} dbs_stream_part;

/** Options of dbs_stream_create. Initialise with DBS_STREAM_OPTIONS_INIT. */
typedef struct dbs_stream_options {
	unsigned version;
	/* Where log lines go; NULL keeps the library silent. */
	dbs_log_fn log;
	void *log_user_data;
	dbs_log_level log_level;
	/* A fixed stream id (KSUID text, 27 characters); NULL makes a new one. */
	const char *stream_id;
	/* Hub used when the configuration names none; NULL means "memory". */
	const char *default_hub;
	/* Plugins to choose from (borrowed; must outlive the stream); NULL
	 * means the built-in ones. See dbstreams/plugin.h. */
	const struct dbs_registry *registry;
	/* ---- version 2 ---- */
	/* The default hub's settings (used only when the configuration names
	 * no hub and default_hub is "nats"): server URL(s), user:password@
	 * allowed; credentials file; TLS CA, client certificate and key. */
	const char *default_hub_url;
	const char *default_hub_credentials;
	const char *default_hub_tls_ca;
	const char *default_hub_tls_cert;
	const char *default_hub_tls_key;
	/* DBS_PART_SOURCE / DBS_PART_TARGET run one side of a stream whose
	 * other side runs elsewhere on the same hub: both give the same
	 * stream_id (required then), and the hub must support it (nats). */
	dbs_stream_part part;
	/* With DBS_PART_TARGET: the hub partition this writer applies,
	 * 0 .. hub.partitions-1. Each writer keeps its own checkpoint. */
	uint32_t partition;
} dbs_stream_options;

/* The fields after `registry` came with version 2: the macro lists them
 * so that callers compiled against it get their defaults. */
#define DBS_STREAM_OPTIONS_INIT                                                         \
	{DBS_STREAM_OPTIONS_VERSION, NULL, NULL, DBS_LOG_INFO, NULL, NULL, NULL, NULL, NULL, \
	 NULL, NULL, NULL, DBS_PART_ALL, 0}

typedef struct dbs_stream dbs_stream;

#define DBS_NODE_MESSAGE_MAX 512

/** One node's (source's or target's) progress. */
typedef struct dbs_node_stat {
	dbs_status status;
	uint64_t counter;         /* events captured (source) or applied (target) */
	int64_t started_ns;       /* Unix time of the first event in ns; 0 = not yet */
	int64_t elapsed_ns;       /* since started, frozen when the node ends */
	uint64_t bytes;           /* approximate payload bytes moved */
	char message[DBS_NODE_MESSAGE_MAX]; /* reason of FAILED / INIT FAILED, else "" */
} dbs_node_stat;

/**
 * Connection health of one node (dbs_stat version 2). A lost connection
 * is retried with backoff while the node keeps its status (RUNNING or
 * READY); once it has been lost for reconnect.giveUpAfter seconds the node
 * ends FAILED with the reason.
 */
typedef struct dbs_conn_stat {
	uint64_t reconnects;   /* outages since the start: connections lost and retried */
	int reconnecting;      /* nonzero while a lost connection is being retried */
	int64_t lost_since_ns; /* Unix ns when the current outage began; 0 when connected */
	/* The newest connection error, kept after the connection came back;
	 * "" when the connection was never lost. */
	char last_error[DBS_NODE_MESSAGE_MAX];
} dbs_conn_stat;

/** Where a stream's initial load stands (dbs_load_stat.phase). */
typedef enum dbs_load_phase {
	DBS_LOAD_PHASE_NONE = 0, /* the stream copies nothing (cdc without initialLoad) */
	DBS_LOAD_PHASE_PLANNING, /* target tables made, chunks planned */
	DBS_LOAD_PHASE_COPYING,  /* chunks being copied */
	DBS_LOAD_PHASE_INDEXING, /* secondary indexes and foreign keys being made */
	DBS_LOAD_PHASE_DONE      /* every row copied; cdc streams from the copy's position */
} dbs_load_phase;

/** "none", "planning", "copying", "indexing", "done"; static storage. */
DBS_API const char *dbs_load_phase_name(dbs_load_phase phase);

/**
 * The initial load of a stream (mode convert, or cdc with initialLoad),
 * summed over its tables (dbs_stat version 4). Rows and chunks count what
 * is committed at the target, earlier runs of the same stream included.
 */
typedef struct dbs_load_stat {
	int phase;                 /* dbs_load_phase */
	uint32_t tables;           /* tables the load copies */
	uint32_t tables_done;      /* copied, indexes made */
	uint64_t rows;             /* rows committed */
	uint64_t rows_estimated;   /* rows the plan counted, or the source estimated */
	uint64_t chunks;           /* chunks planned */
	uint64_t chunks_done;      /* chunks committed */
	uint64_t chunks_resumed;   /* of which committed by an earlier run */
	uint64_t rows_this_run;    /* rows this run committed */
	uint64_t rows_per_s;       /* this run's rate over the last few seconds */
	int64_t eta_ns;            /* time left at that rate; -1 unknown */
} dbs_load_stat;

/* 2 appended the connection and lag fields after `target`, 3 the stall
 * fields after `target_dead_letters`, 4 `load`; a caller of an older
 * version is still filled up to where its struct ends. */
#define DBS_STAT_VERSION 4

/** Snapshot of a stream. Initialise with DBS_STAT_INIT. */
typedef struct dbs_stat {
	unsigned version;
	char stream_id[28];
	dbs_node_stat source;
	dbs_node_stat target;
	/* ---- version 2 ---- */
	dbs_conn_stat source_conn; /* the source's database connections */
	dbs_conn_stat target_conn; /* the target's database connection */
	dbs_conn_stat hub_conn;    /* the hub's server connections (nats) */
	/* Bytes of the source's change log (PostgreSQL WAL, MySQL binlog)
	 * between the newest position the server reported and the position
	 * the target confirmed: how much the slot or binlog holds back for
	 * this stream. 0 when caught up or not known (no source here, or the
	 * server reported nothing yet). */
	uint64_t source_lag_bytes;
	/* How far behind the target is in time: now minus the source commit
	 * time of the oldest change it is applying; 0 when it has nothing to
	 * apply. */
	int64_t lag_ns;
	/* Source commit time of the last change the target applied, Unix ns;
	 * 0 before the first. */
	int64_t last_commit_ns;
	/* Rows the target database rejected that went to the dead-letter
	 * table (target.options.deadLetterTable) instead of failing the
	 * stream; they are missing from the target tables. */
	uint64_t target_dead_letters;
	/* ---- version 3 ---- */
	/* Nonzero while the stream has work (source log not yet confirmed,
	 * or a batch the target holds) but nothing was applied or confirmed
	 * for the configuration's stallAfter seconds. */
	int stalled;
	/* Unix ns since when nothing moved, while stalled; else 0. */
	int64_t stalled_since_ns;
	/* ---- version 4 ---- */
	/* The initial load (phase NONE when the stream copies nothing); per
	 * table: dbs_stream_load_tables. */
	dbs_load_stat load;
} dbs_stat;

/* Every field listed, so that callers compiled against a version get its
 * defaults; the node statuses by name, so that it also initialises a
 * dbs_stat in C++ (where an int is no dbs_status). */
#define DBS_STAT_INIT                                                                      \
	{DBS_STAT_VERSION,                                                                  \
	 {0},                                                                               \
	 {DBS_STATUS_READY, 0, 0, 0, 0, {0}},                                               \
	 {DBS_STATUS_READY, 0, 0, 0, 0, {0}},                                               \
	 {0, 0, 0, {0}},                                                                    \
	 {0, 0, 0, {0}},                                                                    \
	 {0, 0, 0, {0}},                                                                    \
	 0,                                                                                 \
	 0,                                                                                 \
	 0,                                                                                 \
	 0,                                                                                 \
	 0,                                                                                 \
	 0,                                                                                 \
	 {DBS_LOAD_PHASE_NONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1}}

/**
 * Validate `config` (DBConvert Streams 0.x JSON, `len` bytes, not
 * necessarily NUL-terminated), open the source and the target, and start
 * the stream. Blocks until both are open or one of them failed, then
 * returns.
 *
 * Returns 0 and a new stream in *out as soon as the configuration is valid:
 * a source or target that could not be opened shows as INIT FAILED in
 * dbs_stream_stat() with the database's message. Returns DBS_ECONFIG with
 * a message naming the JSON path when the configuration is invalid (no
 * stream is made). `config` and `opts` are copied; opts may be NULL.
 * Thread-safe.
 */
DBS_API int dbs_stream_create(dbs_stream **out, const char *config, size_t len,
                              const dbs_stream_options *opts);

/**
 * Fill *stat with a consistent snapshot. stat->version says how much of
 * the struct the caller has: 1 (up to `target`) to DBS_STAT_VERSION.
 * Thread-safe; never blocks on I/O.
 */
DBS_API int dbs_stream_stat(dbs_stream *stream, dbs_stat *stat);

#define DBS_LOAD_NAME_MAX 128
#define DBS_LOAD_TABLE_STAT_VERSION 1

/** One table of an initial load. Initialise `version` before the call. */
typedef struct dbs_load_table_stat {
	unsigned version;               /* DBS_LOAD_TABLE_STAT_VERSION */
	char schema[DBS_LOAD_NAME_MAX]; /* as the source names it (cut when longer) */
	char name[DBS_LOAD_NAME_MAX];
	int phase;                      /* dbs_load_phase: PLANNING (not begun) .. DONE */
	uint64_t rows, rows_estimated;  /* as in dbs_load_stat */
	uint64_t chunks, chunks_done;
} dbs_load_table_stat;

/**
 * The tables of the stream's initial load, in the order it copies them:
 * up to `max` into tables[] (each entry's version set by the caller), the
 * number the load has into *count (0 before the load planned them, or
 * when the stream copies nothing). Thread-safe; never blocks on I/O.
 */
DBS_API int dbs_stream_load_tables(dbs_stream *stream, dbs_load_table_stat *tables, size_t max,
                                   size_t *count);

/**
 * Stop gracefully: stop reading, apply what is already in the hub, confirm
 * the applied position to the source, close. Blocks until done. Nodes still
 * running end as STOPPED; nodes already ended keep their status.
 * Idempotent. Thread-safe, but not from a log callback.
 */
DBS_API int dbs_stream_stop(dbs_stream *stream);

/**
 * Block until both nodes have ended (limit, failure or stop), or until
 * `timeout_ms` passed (negative: no timeout). Returns 0 when ended,
 * DBS_ESTATE on timeout.
 */
DBS_API int dbs_stream_wait(dbs_stream *stream, int timeout_ms);

/** The stream's id (27-character KSUID); owned by the stream. */
DBS_API const char *dbs_stream_id(const dbs_stream *stream);

/**
 * The stream's configuration as JSON with every password replaced by
 * "********" and the id added; a new NUL-terminated string the caller
 * releases with dbs_free(). Thread-safe.
 */
DBS_API int dbs_stream_config_json(char **out, const dbs_stream *stream);

/** The stream's last error message, "" when none; owned by the stream. */
DBS_API const char *dbs_stream_errmsg(const dbs_stream *stream);

/** Stop if needed and release everything. Accepts NULL. */
DBS_API void dbs_stream_free(dbs_stream *stream);

/** Release a string returned by the library. Accepts NULL. */
DBS_API void dbs_free(void *ptr);

/**
 * Validate a configuration without running it. Returns 0, or DBS_ECONFIG
 * with the message naming the JSON path (dbs_error_last()).
 */
DBS_API int dbs_config_validate(const char *config, size_t len);

/* ---- hostile input and secrets, exported for the server and CLI ---- */

/** Deepest nesting of JSON arrays and objects the library accepts. */
#define DBS_JSON_DEPTH_MAX 64

/**
 * 0 when the arrays and objects of `len` bytes of JSON text nest at most
 * DBS_JSON_DEPTH_MAX levels deep, DBS_ECONFIG (with the byte offset in
 * dbs_error_last()) otherwise. It does not validate the JSON: call it before
 * handing text from outside to a parser that recurses (cJSON), so a deep
 * document cannot overflow a small thread stack. Every library function
 * that parses JSON checks this itself. Thread-safe.
 */
DBS_API int dbs_json_check_depth(const char *text, size_t len);

/**
 * A connection string (MySQL DSN, PostgreSQL URI or key=value string, NATS
 * URL list) with every password and token replaced by "********"; strings
 * no driver would accept are masked too, erring on the side of hiding.
 * *out is a new string the caller releases with dbs_free(). Thread-safe.
 */
DBS_API int dbs_mask_connection(char **out, const char *connection);

/**
 * Validate a configuration and return it as dbs_stream_config_json() would
 * show it: every secret masked, and `id` (may be NULL) as the first key.
 * DBS_ECONFIG with the JSON path in dbs_error_last() when it is invalid.
 * *out is a new string the caller releases with dbs_free(). Thread-safe.
 */
DBS_API int dbs_config_masked_json(char **out, const char *config, size_t len, const char *id);

/* ---- formats used by the REST API, exported for the server and CLI ---- */

/** Go-style duration of `ns` ("0s", "1.209114254s", "7m33.561343815s"). */
DBS_API int dbs_format_duration(char *buf, size_t size, int64_t ns);

/**
 * RFC 3339 time with nanoseconds and the local offset
 * ("2022-10-19T12:08:20.839059479+02:00"); 0 gives "0001-01-01T00:00:00Z".
 */
DBS_API int dbs_format_time(char *buf, size_t size, int64_t unix_ns);

/** A new KSUID (27 base62 characters and a NUL) into buf[28]. */
DBS_API int dbs_ksuid_new(char buf[28]);

/** 0 when `text` is a well-formed KSUID of 27 base62 characters. */
DBS_API int dbs_ksuid_check(const char *text);

#ifdef __cplusplus
}
#endif

#endif
