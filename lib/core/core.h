/*
 * Library-internal declarations shared across lib/ files (dbs__ prefix).
 * Never installed.
 */
#ifndef DBS_CORE_H
#define DBS_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dbstreams/dbstreams.h>
#include <dbstreams/plugin.h>

struct cJSON;

/* ---- errors (error.c) ---- */

/* Set this thread's last error and return `code`. */
int dbs__error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dbs__error_clear(void);
/* snprintf that always terminates and never fails: truncates instead. */
void dbs__fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void dbs__vfmt(char *buf, size_t size, const char *fmt, va_list ap);

/* ---- time (timefmt.c) ---- */

int64_t dbs__now_ns(void);       /* CLOCK_REALTIME, Unix ns */
int64_t dbs__monotonic_ns(void); /* CLOCK_MONOTONIC */

/* ---- batches (batch.c) ---- */

/* Printable form of `pos` for checkpoint rows and messages, spelled after
 * the batch's source: "0/16B3748#3" (PostgreSQL LSN, event), or
 * "000003:4567#3" (MySQL binlog file number and offset, event). */
void dbs__position_text(char *buf, size_t size, const dbs_batch *batch, const dbs_position *pos);

/* The position's GTID as MariaDB spells it ("0-1-42"), or "" without one;
 * 0, or -1 when `size` is too small. */
int dbs__gtid_text(char *buf, size_t size, const dbs_position *pos);
/* Parse exactly "domain-server-seq" (decimal, seq > 0) from `len` bytes;
 * 0, or -1 (outputs untouched). */
int dbs__gtid_parse(const char *text, size_t len, uint32_t *domain, uint32_t *server,
                    uint64_t *seq);

/* ---- ids (ksuid.c) ---- */

/* Encode a KSUID from its parts (tests use it for exact values). */
int dbs__ksuid_encode(char buf[28], uint32_t timestamp, const uint8_t payload[16]);

/* ---- host services (stream.c) ---- */

/* Sleep `ms` in slices short enough to notice a stop request (host may be
 * NULL); 1 when the stream is stopping, else 0. For retry backoff. */
int dbs__sleep_unless_stopping(const dbs_host *host, int ms);

/* Reconnect policy of every plugin: exponential backoff from the first
 * delay to the largest, giving up once the connection has been lost for
 * host->reconnect_give_up_ms (reconnect.giveUpAfter, by default
 * DBS_RECONNECT_GIVE_UP_MS). */
#define DBS_RECONNECT_FIRST_DELAY_MS 500
#define DBS_RECONNECT_MAX_DELAY_MS 10000
#define DBS_RECONNECT_GIVE_UP_MS (5 * 60 * 1000)

/* The next backoff delay after `delay`. */
int dbs__backoff_next(int delay);

/* Nonzero when a connection lost at `lost_at_mono_ns` (dbs__monotonic_ns)
 * has been retried for as long as the host allows. */
int dbs__reconnect_expired(const dbs_host *host, int64_t lost_at_mono_ns);

/* The reason a node fails with once it gave up: "<what>: connection lost
 * for 30 s, gave up after 7 reconnect attempts (reconnect.giveUpAfter):
 * <cause>" (without the count when `attempts` is 0: not counted here). */
void dbs__reconnect_give_up_text(char *buf, size_t size, const dbs_host *host, const char *what,
                                 unsigned attempts, const char *cause);

/* Report a lost connection / a restored one to the host (version 2),
 * for stat and metrics; no-ops with an older or NULL host. */
void dbs__conn_lost(const dbs_host *host, const char *message);
void dbs__conn_restored(const dbs_host *host);
/* Report the source's change-log lag in bytes (dbs_host.source_lag). */
void dbs__source_lag(const dbs_host *host, uint64_t bytes);
/* A target committed `rows` more rows to its dead-letter table. */
void dbs__rows_dead_lettered(const dbs_host *host, uint64_t rows);

typedef int (*dbs_attempt_fn)(void *ctx, char *err, size_t errlen);

/*
 * Run `attempt`; while it fails with *lost set (the connection, not the
 * data, failed), wait with the reconnect backoff, run `restore` (a new
 * session) and `attempt` again, until it succeeds, fails for another
 * reason, the stream stops, or the reconnect policy gives up. Each retry
 * is logged as `what` and reported to the host (connection_lost, then
 * connection_restored once through). Returns the last attempt's code with
 * err filled; on giving up err says so and why.
 */
int dbs__retry_lost(const dbs_host *host, const char *what, int *lost, dbs_attempt_fn attempt,
                    dbs_attempt_fn restore, void *ctx, char *err, size_t errlen);

/* ---- configuration (config.c) ---- */

typedef struct dbs_limits {
	uint64_t number_of_events; /* 0 = unlimited */
	uint64_t elapsed_time_s;   /* 0 = unlimited */
} dbs_limits;

typedef struct dbs_reconnect {
	uint64_t give_up_after_s; /* retry a lost connection this long; 0 = forever */
} dbs_reconnect;

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
	/* The configuration as given (normalised: "destination" stored as
	 * "target", "numberOfevents" as "numberOfEvents"), for GET /streams. */
	struct cJSON *json;
	void *storage; /* private */
} dbs_config;

/*
 * Parse and validate `len` bytes of JSON. On failure returns DBS_ECONFIG
 * and writes a message naming the JSON path ("source.filter.tables[1].
 * operations[0]: unknown operation \"upsert\"; expected insert, update or
 * delete") to err. *out is NULL on failure.
 */
int dbs__config_parse(dbs_config **out, const char *text, size_t len, char *err, size_t errlen);
void dbs__config_free(dbs_config *config);

/*
 * The configuration as JSON text with `id` first and every password (in
 * MySQL DSNs, PostgreSQL URIs and key=value strings, and hub URLs)
 * replaced by "********". Caller frees with free().
 */
char *dbs__config_to_json(const dbs_config *config, const char *id);

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

/* ---- registry (registry.c) ---- */

const dbs_registry *dbs__builtin_registry(void);

/* Built-in plugins, each defined in its own file. */
extern const dbs_source_ops dbs__postgresql_source_ops;
extern const dbs_source_ops dbs__mysql_source_ops;
extern const dbs_target_ops dbs__postgresql_target_ops;
extern const dbs_target_ops dbs__mysql_target_ops;
extern const dbs_hub_ops dbs__memory_hub_ops;

#endif
