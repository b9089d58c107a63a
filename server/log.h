/*
 * dbs-server's log: one line per message on stderr, UTC timestamp first.
 */
#ifndef DBS_SERVER_LOG_H
#define DBS_SERVER_LOG_H

#include <dbstreams/dbstreams.h>

/* Set once at startup, before any thread starts; read-only afterwards. */
void srv_log_set_level(dbs_log_level level);
dbs_log_level srv_log_level(void);

/* Parse "error", "warn", "info" or "debug"; 0 on success, -1 otherwise. */
int srv_log_parse_level(const char *text, dbs_log_level *out);

/* Write one line if `level` passes the threshold. Thread-safe: one fprintf
 * per line, and stdio locks the stream for the duration of a call. */
void srv_log(dbs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A dbs_log_fn for streams; user_data is the stream id (NUL-terminated,
 * living at least as long as the stream). */
void srv_log_stream(dbs_log_level level, const char *message, void *user_data);

#endif
