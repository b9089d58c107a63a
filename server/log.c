#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Written only by main() before CivetWeb and the streams start threads. */
static dbs_log_level threshold = DBS_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void srv_log_set_level(dbs_log_level level)
{
	threshold = level;
}

dbs_log_level srv_log_level(void)
{
	return threshold;
}

int srv_log_parse_level(const char *text, dbs_log_level *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	int rc = -1;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(text, names[i]) == 0) {
			*out = (dbs_log_level)i;
			rc = 0;
			break;
		}
	}
	if (rc != 0 && strcmp(text, "warning") == 0) {
		*out = DBS_LOG_WARN;
		rc = 0;
	}
	return rc;
}

/* "2026-11-24T06:44:10.123Z"; an empty string if the clock fails, so a
 * log line is never lost for want of a timestamp. */
static void format_now(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char date[32];
	int n;

	buf[0] = '\0';
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL)
		return;
	if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return;
	n = snprintf(buf, size, "%s.%03ldZ", date, ts.tv_nsec / 1000000L);
	if (n < 0 || (size_t)n >= size)
		buf[0] = '\0';
}

static const char *level_name(dbs_log_level level)
{
	if ((unsigned)level < sizeof level_names / sizeof level_names[0])
		return level_names[level];
	return "DEBUG";
}

/*
 * One line, whatever the text holds: control characters are written as
 * escapes, so a request path or a database's message cannot forge a line
 * of its own. A trailing line end (libpq ends its messages with one) goes.
 */
static void escape_line(char *out, size_t size, const char *text)
{
	size_t n = strlen(text), o = 0;

	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n && o + 5 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void srv_log(dbs_log_level level, const char *fmt, ...)
{
	char stamp[48];
	char text[2048];
	char line[4096];
	va_list ap;

	if (level > threshold)
		return;
	va_start(ap, fmt);
	/* A truncated message is still worth printing. */
	if (vsnprintf(text, sizeof text, fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	escape_line(line, sizeof line, text);
	format_now(stamp, sizeof stamp);
	fprintf(stderr, "%s %-5s %s\n", stamp, level_name(level), line);
}

void srv_log_stream(dbs_log_level level, const char *message, void *user_data)
{
	const char *id = user_data;
	char stamp[48];
	char line[4096];

	if (level > threshold)
		return;
	escape_line(line, sizeof line, message ? message : "");
	format_now(stamp, sizeof stamp);
	fprintf(stderr, "%s %-5s [%s] %s\n", stamp, level_name(level), id ? id : "-", line);
}
