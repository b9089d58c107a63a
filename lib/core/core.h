/*
 * The core's internal declarations (dbs__ prefix), shared by the files of
 * lib/core and the library's own layers above it (lib/verify, the
 * built-in list). Never installed; plugins use the SDK
 * (include/dbstreams/sys/) instead.
 */
#ifndef DBS_CORE_H
#define DBS_CORE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dbstreams/dbstreams.h>
#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>
#include <dbstreams/sys/position.h>

#include "fault/fault.h"

struct cJSON;

/* ---- errors (error.c) ---- */

/* Set this thread's last error and return `code`. */
int dbs__error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dbs__error_clear(void);

/* ---- ids (ksuid.c) ---- */

/* Encode a KSUID from its parts (tests use it for exact values). */
int dbs__ksuid_encode(char buf[28], uint32_t timestamp, const uint8_t payload[16]);

/* ---- batches (batch.c) ---- */

/* Keep the events whose keep[i] is nonzero, in order (the arena and the
 * table references stay with the batch). */
void dbs__batch_keep(dbs_batch *batch, const uint8_t *keep);

/* ---- registry (registry.c) ---- */

typedef enum dbs_plugin_kind {
	DBS_PLUGIN_SOURCE = 0,
	DBS_PLUGIN_HUB = 1,
	DBS_PLUGIN_TARGET = 2
} dbs_plugin_kind;

/* What the configuration needs of a plugin, whatever its kind (zero for a
 * plugin of an ops version without settings). */
typedef struct dbs_plugin_info {
	const dbs_option *options;
	uint32_t noptions;
	size_t settings_size;
	const char *default_schema;
} dbs_plugin_info;

/* One registered plugin. */
typedef struct dbs_plugin {
	const void *ops; /* dbs_source_ops, dbs_hub_ops or dbs_target_ops */
	const char *name;
	void *data;      /* dbs_host.plugin_data of its instances */
	dbs_plugin_info info;
} dbs_plugin;

/* The plugin of `kind` named `name`, or NULL. */
const dbs_plugin *dbs__registry_find(const dbs_registry *registry, dbs_plugin_kind kind,
                                     const char *name);
/* The i-th plugin of `kind` in registration order, or NULL past the end. */
const dbs_plugin *dbs__registry_at(const dbs_registry *registry, dbs_plugin_kind kind, size_t i);

const dbs_registry *dbs__builtin_registry(void);

/* Register the plugins built into the library (lib/builtins.c). */
int dbs__builtins_register(dbs_registry *registry);

/* ---- stall detection (stall.c) ---- */

/* Whether a stream with work to do still commits (see stall.c). Every
 * field is atomic: any thread may report, the watcher checks. */
typedef struct dbs_stall {
	int64_t after_ns;                    /* stallAfter; <= 0: never stalled */
	_Atomic int64_t progress_mono_ns;    /* last sign of data moving */
	_Atomic uint64_t lag_bytes;          /* the source's last lag report */
	_Atomic int held;                    /* the target holds an uncommitted batch */
	_Atomic int64_t pending_mono_ns;     /* work first seen; 0 = none */
	_Atomic int64_t since_mono_ns;       /* the stall's clock started here */
	_Atomic int stalled;
} dbs_stall;

void dbs__stall_init(dbs_stall *w, uint64_t after_s);
/* Something was committed or confirmed. */
void dbs__stall_progress(dbs_stall *w);
/* The source's lag in bytes; zero or a drop counts as progress. */
void dbs__stall_lag(dbs_stall *w, uint64_t bytes);
/* The target holds (1) or no longer holds (0) a batch not yet committed. */
void dbs__stall_held(dbs_stall *w, int held);
/* Re-evaluate at `now_mono_ns`: 1 when the stream just became stalled, -1
 * when it just recovered, 0 when nothing changed. */
int dbs__stall_check(dbs_stall *w, int64_t now_mono_ns);
/* Unix ns since when the stream is stalled; 0 when it is not. */
int64_t dbs__stall_since_ns(const dbs_stall *w);

/* ---- configuration (config.c) ---- */

typedef struct dbs_limits {
	uint64_t number_of_events; /* 0 = unlimited */
	uint64_t elapsed_time_s;   /* 0 = unlimited */
} dbs_limits;

typedef struct dbs_reconnect {
	uint64_t give_up_after_s; /* retry a lost connection this long; 0 = forever */
} dbs_reconnect;

/* Top-level settings of how the stream watches itself. */
typedef struct dbs_watch {
	/* Report the stream stalled once the source has log not yet confirmed
	 * and nothing was committed for this long; 0 = never. */
	uint64_t stall_after_s;
} dbs_watch;

/* stallAfter when the configuration says nothing. */
#define DBS_STALL_AFTER_DEFAULT_S 180

/* How an initial load copies (the configuration's `load` section). */
typedef struct dbs_load_settings {
	uint32_t workers;    /* chunks in flight, each with its own sessions */
	uint64_t chunk_rows; /* rows per chunk */
} dbs_load_settings;

#define DBS_LOAD_WORKERS_DEFAULT 4
#define DBS_LOAD_CHUNK_ROWS_DEFAULT 50000

/*
 * A validated stream configuration. Every string points into storage the
 * config owns; the plugin-facing structs are ready to hand to plugins.
 */
typedef struct dbs_config {
	dbs_source_config source;
	dbs_target_config target;
	dbs_hub_config hub;
	dbs_limits limits;
	dbs_reconnect reconnect;
	dbs_watch watch;
	dbs_load_settings load;
	/* source.filter.tables[i].query (NULL where none), parallel to
	 * source.tables; NULL when no table has one. Mode is "convert" for
	 * "load" too. */
	const char *const *queries;
	int convert; /* source.mode is convert (or load) */
	/* The configuration as given (normalised: "destination" stored as
	 * "target", "numberOfevents" as "numberOfEvents"), for GET /streams. */
	struct cJSON *json;
	/* The plugins the configuration names, by dbs_plugin_kind (NULL: not
	 * in the registry it was parsed with); their rows say which values
	 * are secrets. */
	const dbs_plugin *plugins[3];
	void *storage; /* private */
} dbs_config;

/*
 * Parse and validate `len` bytes of JSON against the core's rows and those
 * of the plugins of `registry` the configuration names (source.type,
 * target.type and hub.type must be plugins of it). On failure returns
 * DBS_ECONFIG and writes a message naming the JSON path
 * ("source.filter.tables[1].operations[0]: unknown operation \"upsert\";
 * expected insert, update or delete") to err. *out is NULL on failure.
 */
int dbs__config_parse_with(dbs_config **out, const dbs_registry *registry, const char *text,
                           size_t len, char *err, size_t errlen);
/* The same with the built-in plugins. */
int dbs__config_parse(dbs_config **out, const char *text, size_t len, char *err, size_t errlen);

/*
 * Replace the hub of a parsed configuration with the hub section `hub`
 * (a JSON object; its keys checked against the rows of the hub it names):
 * the server's default hub for a configuration that names none. The JSON
 * kept for GET /streams is not changed.
 */
int dbs__config_set_hub(dbs_config *config, const dbs_registry *registry, struct cJSON *hub,
                        char *err, size_t errlen);
void dbs__config_free(dbs_config *config);

/*
 * The configuration as JSON text with `id` first and every password (in
 * MySQL DSNs, PostgreSQL URIs and key=value strings, and hub URLs)
 * replaced by "********". Caller frees with free().
 */
char *dbs__config_to_json(const dbs_config *config, const char *id);

/* The connection strings of a configuration (the values of the core's
 * and the plugins' connection rows), at most `max`, into out; pointers
 * into config, valid while it lives. For scrubbing messages. */
size_t dbs__config_connections(const dbs_config *config, const char **out, size_t max);

/* Connection-string lexing shared by the masker and the scrubber
 * (mask.c): the length of a "scheme://" prefix (0: none), whether the
 * scheme is a NATS one (comma-separated server lists), whether the text
 * starts like libpq's key=value form, and whether a parameter name holds
 * a secret (password, sslpassword, pass, token). */
size_t dbs__conn_scheme_len(const char *s, size_t n);
bool dbs__conn_is_nats(const char *s, size_t n);
bool dbs__conn_looks_keyvalue(const char *s, size_t n);
bool dbs__conn_is_secret_key(const char *key, size_t n);

/* Replace the password inside one connection string; returns a new
 * string (free()) or NULL on allocation failure. */
char *dbs__mask_connection(const char *connection);

/* ---- hostile input (jsondepth.c) and secrets in messages (secrets.c) ---- */

/* Offset of the first '[' or '{' nested deeper than max_depth in `len`
 * bytes of JSON text (strings skipped), or len when there is none. */
size_t dbs__json_too_deep(const char *text, size_t len, unsigned max_depth);

/*
 * Remove from `text` (NUL-terminated, `size` bytes of room) every secret
 * the `n` connection strings carry (NULL entries skipped): a connection
 * string quoted whole becomes its masked form, a password or token, or a
 * piece of one (drivers quote the token their parser stopped at), becomes
 * "********". For messages from database and hub client libraries before
 * they are stored, shown or logged.
 */
void dbs__scrub_secrets(char *text, size_t size, const char *const *connections, size_t n);

#endif
