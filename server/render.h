/*
 * Response bodies of the REST API: JSON in the shapes DBConvert Streams 0.x
 * uses, and Prometheus text. Every function returns a new NUL-terminated
 * string (free()) or NULL when memory ran out.
 */
#ifndef DBS_SERVER_RENDER_H
#define DBS_SERVER_RENDER_H

#include <stddef.h>

#include <dbstreams/dbstreams.h>

/* {"status":"error","message":"…"} */
char *render_error(const char *message);

/* {"status":"success","data":<config>}; config is JSON text. */
char *render_created(const char *config_json);

/* Both nodes of a stream whose databases are still connecting (dbs-server
 * creates streams off the request's thread). */
#define RENDER_STATUS_STARTING "STARTING"

/*
 * {"streamID":…,"source":{counter,elapsed,started,status[,message]},"target":{…}}
 * as 0.x, each node followed by reconnects, reconnecting[, lostSince]
 * [, connectionError]; source lagBytes; target lag and lastCommit; and
 * "hub":{reconnects,reconnecting,…}. `status`, when not NULL, stands for
 * both nodes' statuses. A stream with an initial load adds "load" (its
 * progress, and `ntables` tables as "tables").
 */
char *render_stat(const dbs_stat *stat, const char *status, const dbs_load_table_stat *tables,
                  size_t ntables);

/* {"streamID":…,"Source":{"status":…},"Target":{"status":…}} */
char *render_stopped(const dbs_stat *stat);

/* {"status":"ok"} and similar one-key objects. */
char *render_simple(const char *key, const char *value);

/*
 * A growable text buffer for Prometheus output. Appends after a failed
 * append are ignored and the final text is NULL.
 */
typedef struct render_buf {
	char *data;
	size_t len;
	size_t cap;
	int failed;
} render_buf;

void render_buf_append(render_buf *buf, const char *text, size_t len);
void render_buf_printf(render_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands over the text (NULL if any append failed) and resets the buffer. */
char *render_buf_take(render_buf *buf, size_t *len);

enum render_node { RENDER_SOURCE = 1, RENDER_TARGET = 2, RENDER_HUB = 4 };

/* One table of one stream's initial load, for the per-table families. */
typedef struct render_load_row {
	const char *stream_id;
	const dbs_load_table_stat *table;
} render_load_row;

/* The load_table_* families (rows copied and estimated, chunks done and
 * planned per table), declared once, one sample per row. */
void render_load_tables(render_buf *buf, const render_load_row *rows, size_t n);

/*
 * Prometheus text for `n` streams: for each node in the `nodes` mask, the
 * events counter family, the duration gauge family, then the reconnect
 * and lag families (RENDER_HUB: the hub's reconnect families), each family's
 * HELP/TYPE once followed by one sample per stream (the format wants a
 * family's samples together). n may be 0: the families stay declared.
 */
void render_metrics(render_buf *buf, unsigned nodes, const dbs_stat *stats, size_t n);

#endif
