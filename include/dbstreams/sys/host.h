/*
 * dbstreams plugin SDK: what a running plugin asks of the core through
 * its dbs_host (dbstreams/plugin.h): logging, stop requests, time, the
 * reconnect policy every plugin follows, and the figures it reports for
 * stat and metrics.
 *
 * Every function accepts a NULL host (nothing is logged or reported, and
 * the stream is never stopping) and may be called from the thread the
 * plugin method runs on; the report functions from any thread.
 */
#ifndef DBSTREAMS_SYS_HOST_H
#define DBSTREAMS_SYS_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "../plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Log one line through the host; printf-style. */
DBS_API void dbs_log(const dbs_host *host, dbs_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/** Nonzero once the stream is stopping (host->stopping). */
DBS_API int dbs_host_stopping(const dbs_host *host);

/**
 * Sleep `ms` milliseconds in slices short enough to notice a stop
 * request: 1 when the stream is stopping (possibly before `ms` passed),
 * else 0. For retry backoff.
 */
DBS_API int dbs_sleep_unless_stopping(const dbs_host *host, int ms);

/** Wall-clock time (CLOCK_REALTIME) in Unix ns; 0 if the clock fails. */
DBS_API int64_t dbs_time_now_ns(void);
/** CLOCK_MONOTONIC in ns, for durations. */
DBS_API int64_t dbs_time_monotonic_ns(void);

/*
 * The reconnect policy of every plugin: a lost connection is retried
 * with exponential backoff from the first delay to the largest, until it
 * has been lost for host->reconnect_give_up_ms (reconnect.giveUpAfter;
 * DBS_RECONNECT_GIVE_UP_MS with a version 1 host).
 */
#define DBS_RECONNECT_FIRST_DELAY_MS 500
#define DBS_RECONNECT_MAX_DELAY_MS 10000
#define DBS_RECONNECT_GIVE_UP_MS (5 * 60 * 1000)

/** The backoff delay after `delay_ms`. */
DBS_API int dbs_backoff_next(int delay_ms);

/**
 * Nonzero when a connection lost at `lost_at_mono_ns`
 * (dbs_time_monotonic_ns) has been retried for as long as the host allows.
 */
DBS_API int dbs_reconnect_expired(const dbs_host *host, int64_t lost_at_mono_ns);

/**
 * The reason a plugin fails with once it gave up: "<what>: connection
 * lost for 30 s, gave up after 7 reconnect attempts
 * (reconnect.giveUpAfter): <cause>" (without the count when `attempts` is
 * 0). `cause` may point into `buf`.
 */
DBS_API void dbs_reconnect_give_up_text(char *buf, size_t size, const dbs_host *host,
                                        const char *what, unsigned attempts, const char *cause);

/** One try of dbs_retry_lost: 0 or a negative DBS_E* code with err filled. */
typedef int (*dbs_attempt_fn)(void *ctx, char *err, size_t errlen);

/**
 * Run `attempt`; while it fails with *lost set (the connection, not the
 * data, failed), wait with the reconnect backoff, run `restore` (a new
 * session) and `attempt` again, until it succeeds, fails for another
 * reason, the stream stops, or the policy gives up. Each retry is logged
 * as `what` and reported (connection lost, then restored once through).
 * Returns the last attempt's code with err filled; on giving up err says
 * so and why. `attempt` and `restore` set *lost themselves.
 */
DBS_API int dbs_retry_lost(const dbs_host *host, const char *what, int *lost,
                           dbs_attempt_fn attempt, dbs_attempt_fn restore, void *ctx, char *err,
                           size_t errlen);

/**
 * Figures for stat and metrics (no-ops with a version 1 host): the
 * plugin's connection was lost and is being retried (`message`, borrowed,
 * says why; every failed attempt updates it) or is back; a source's lag
 * in bytes of its change log (dbs_stat.source_lag_bytes); `rows` more
 * rows a target wrote to its dead-letter table.
 */
DBS_API void dbs_report_connection_lost(const dbs_host *host, const char *message);
DBS_API void dbs_report_connection_restored(const dbs_host *host);
DBS_API void dbs_report_source_lag(const dbs_host *host, uint64_t bytes);
DBS_API void dbs_report_dead_letters(const dbs_host *host, uint64_t rows);

#ifdef __cplusplus
}
#endif

#endif
