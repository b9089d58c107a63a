/*
 * The core's internal declarations (dbs__ prefix), shared by the files of
 * lib/core and the library's own layers above it (lib/verify, the
 * built-in list). Never installed; plugins use the SDK
 * (include/dbstreams/sys/) instead.
 */
#ifndef DBS_CORE_H
#define DBS_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dbstreams/dbstreams.h>
#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>
#include <dbstreams/sys/position.h>

struct cJSON;

/* ---- errors (error.c) ---- */

/* Set this thread's last error and return `code`. */
int dbs__error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dbs__error_clear(void);

/* ---- ids (ksuid.c) ---- */

/* Encode a KSUID from its parts (tests use it for exact values). */
int dbs__ksuid_encode(char buf[28], uint32_t timestamp, const uint8_t payload[16]);

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

/* ---- registry (registry.c) ---- */

const dbs_registry *dbs__builtin_registry(void);

/* Register the plugins built into the library (lib/builtins.c). */
int dbs__builtins_register(dbs_registry *registry);

#endif
