/*
 * The host services of the plugin SDK (dbstreams/sys/host.h): logging,
 * stop requests, the reconnect policy and its retry loop, and what
 * plugins report for stat and metrics. Apart from stream.c so that a hub
 * or source built into a program of its own (bench/) needs only this
 * file.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#include "core/core.h"

static int host_v2(const dbs_host *host)
{
	return host && host->version >= 2;
}

DBS_API int dbs_reconnect_expired(const dbs_host *host, int64_t lost_at_mono_ns)
{
	uint64_t limit = host_v2(host) ? host->reconnect_give_up_ms : DBS_RECONNECT_GIVE_UP_MS;
	if (!limit)
		return 0;
	int64_t lost_ms = (dbs_time_monotonic_ns() - lost_at_mono_ns) / 1000000;
	return lost_ms >= 0 && (uint64_t)lost_ms >= limit;
}

DBS_API void dbs_reconnect_give_up_text(char *buf, size_t size, const dbs_host *host,
                                        const char *what, unsigned attempts, const char *cause)
{
	uint64_t limit = host_v2(host) ? host->reconnect_give_up_ms : DBS_RECONNECT_GIVE_UP_MS;
	char copy[DBS_ERRMSG_MAX];
	/* cause may be buf itself */
	dbs_fmt(copy, sizeof copy, "%s", cause ? cause : "");
	if (attempts)
		dbs_fmt(buf, size,
		         "%s: connection lost for %" PRIu64
		         " s, gave up after %u reconnect attempts "
		         "(reconnect.giveUpAfter): %s",
		         what, limit / 1000, attempts, copy);
	else
		dbs_fmt(buf, size,
		         "%s: connection lost for %" PRIu64
		         " s, gave up (reconnect.giveUpAfter): %s",
		         what, limit / 1000, copy);
}

DBS_API void dbs_report_connection_lost(const dbs_host *host, const char *message)
{
	if (host_v2(host) && host->connection_lost)
		host->connection_lost(host, message);
}

DBS_API void dbs_report_connection_restored(const dbs_host *host)
{
	if (host_v2(host) && host->connection_restored)
		host->connection_restored(host);
}

DBS_API void dbs_report_source_lag(const dbs_host *host, uint64_t bytes)
{
	if (host_v2(host) && host->source_lag)
		host->source_lag(host, bytes);
}

DBS_API void dbs_report_dead_letters(const dbs_host *host, uint64_t rows)
{
	if (rows && host_v2(host) && host->rows_dead_lettered)
		host->rows_dead_lettered(host, rows);
}

DBS_API void dbs_log(const dbs_host *host, dbs_log_level level, const char *fmt, ...)
{
	char line[2 * DBS_ERRMSG_MAX];
	va_list ap;
	if (!host || !host->log)
		return;
	va_start(ap, fmt);
	dbs_vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	host->log(host, level, "%s", line);
}

DBS_API int dbs_sleep_unless_stopping(const dbs_host *host, int ms)
{
	while (ms > 0) {
		if (host && host->stopping && host->stopping(host))
			return 1;
		int slice = ms < 100 ? ms : 100;
		struct timespec ts = {0, (long)slice * 1000000L};
		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return host && host->stopping && host->stopping(host);
}

DBS_API int dbs_backoff_next(int delay)
{
	return delay >= DBS_RECONNECT_MAX_DELAY_MS / 2 ? DBS_RECONNECT_MAX_DELAY_MS : delay * 2;
}

DBS_API int dbs_retry_lost(const dbs_host *host, const char *what, int *lost,
                           dbs_attempt_fn attempt, dbs_attempt_fn restore, void *ctx, char *err,
                           size_t errlen)
{
	int64_t lost_at = 0;
	int delay = DBS_RECONNECT_FIRST_DELAY_MS;
	unsigned tries = 0;
	*lost = 0;
	int rc = attempt(ctx, err, errlen);
	while (rc && *lost) {
		int64_t now = dbs_time_monotonic_ns();
		if (!lost_at)
			lost_at = now;
		dbs_report_connection_lost(host, err);
		if (dbs_reconnect_expired(host, lost_at)) {
			dbs_reconnect_give_up_text(err, errlen, host, what, tries, err);
			host->log(host, DBS_LOG_ERROR, "%s", err);
			break;
		}
		tries++;
		host->log(host, DBS_LOG_WARN, "%s: connection lost (%s); reconnect attempt %u in %d ms",
		          what, err, tries, delay);
		if (dbs_sleep_unless_stopping(host, delay))
			break; /* stopping: report the connection error as it is */
		delay = dbs_backoff_next(delay);
		if ((rc = restore(ctx, err, errlen)))
			continue;
		host->log(host, DBS_LOG_INFO, "%s: reconnected; trying again", what);
		rc = attempt(ctx, err, errlen);
	}
	/* Through, or failed for a reason other than the connection. */
	if (lost_at && !(rc && *lost))
		dbs_report_connection_restored(host);
	return rc;
}

DBS_API int dbs_host_stopping(const dbs_host *host)
{
	return host && host->stopping && host->stopping(host);
}
