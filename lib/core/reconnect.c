/*
 * What plugins report about their connections, and the give-up rule of
 * the reconnect policy (core.h). Apart from stream.c so that a hub or
 * source built into a program of its own (bench/) needs only this file.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>

#include "core/core.h"

static int host_v2(const dbs_host *host)
{
	return host && host->version >= 2;
}

int dbs__reconnect_expired(const dbs_host *host, int64_t lost_at_mono_ns)
{
	uint64_t limit = host_v2(host) ? host->reconnect_give_up_ms : DBS_RECONNECT_GIVE_UP_MS;
	if (!limit)
		return 0;
	int64_t lost_ms = (dbs__monotonic_ns() - lost_at_mono_ns) / 1000000;
	return lost_ms >= 0 && (uint64_t)lost_ms >= limit;
}

void dbs__reconnect_give_up_text(char *buf, size_t size, const dbs_host *host, const char *what,
                                 unsigned attempts, const char *cause)
{
	uint64_t limit = host_v2(host) ? host->reconnect_give_up_ms : DBS_RECONNECT_GIVE_UP_MS;
	char copy[DBS_ERRMSG_MAX];
	/* cause may be buf itself */
	dbs__fmt(copy, sizeof copy, "%s", cause ? cause : "");
	if (attempts)
		dbs__fmt(buf, size,
		         "%s: connection lost for %" PRIu64
		         " s, gave up after %u reconnect attempts "
		         "(reconnect.giveUpAfter): %s",
		         what, limit / 1000, attempts, copy);
	else
		dbs__fmt(buf, size,
		         "%s: connection lost for %" PRIu64
		         " s, gave up (reconnect.giveUpAfter): %s",
		         what, limit / 1000, copy);
}

void dbs__conn_lost(const dbs_host *host, const char *message)
{
	if (host_v2(host) && host->connection_lost)
		host->connection_lost(host, message);
}

void dbs__conn_restored(const dbs_host *host)
{
	if (host_v2(host) && host->connection_restored)
		host->connection_restored(host);
}

void dbs__source_lag(const dbs_host *host, uint64_t bytes)
{
	if (host_v2(host) && host->source_lag)
		host->source_lag(host, bytes);
}

void dbs__rows_dead_lettered(const dbs_host *host, uint64_t rows)
{
	if (rows && host_v2(host) && host->rows_dead_lettered)
		host->rows_dead_lettered(host, rows);
}

void dbs__host_log(const dbs_host *host, dbs_log_level level, const char *fmt, ...)
{
	char line[2 * DBS_ERRMSG_MAX];
	va_list ap;
	if (!host || !host->log)
		return;
	va_start(ap, fmt);
	dbs__vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	host->log(host, level, "%s", line);
}
