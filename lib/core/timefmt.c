/*
 * Clocks and the time formats the REST API shows: Go's Duration.String()
 * for `elapsed` and RFC 3339 with nanoseconds for `started`, because DBS
 * 0.x clients parse exactly those.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

#define NS_PER_S 1000000000LL

DBS_API int64_t dbs_time_now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

DBS_API int64_t dbs_time_monotonic_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

DBS_API const char *dbs_version(void)
{
	return DBS_VERSION_STRING;
}

/*
 * Writes backwards from `*w`: the fraction v / 10^prec without trailing
 * zeros (and without the point when it is zero). Returns v / 10^prec.
 */
static uint64_t put_frac(char *buf, size_t *w, uint64_t v, int prec)
{
	bool printed = false;
	for (int i = 0; i < prec; i++) {
		unsigned digit = (unsigned)(v % 10);
		printed = printed || digit != 0;
		if (printed)
			buf[--*w] = (char)('0' + digit);
		v /= 10;
	}
	if (printed)
		buf[--*w] = '.';
	return v;
}

static void put_uint(char *buf, size_t *w, uint64_t v)
{
	do {
		buf[--*w] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
}

DBS_API int dbs_format_duration(char *buf, size_t size, int64_t ns)
{
	/* Longest: "-2562047h47m16.854775808s" (25 bytes). */
	char tmp[32];
	size_t w = sizeof tmp;
	bool neg = ns < 0;
	/* Unsigned negation also gives the magnitude of INT64_MIN. */
	uint64_t u = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
	int rc = DBS_EINVAL;

	if (buf == NULL || size == 0)
		goto done;
	tmp[--w] = 's';
	if (u < (uint64_t)NS_PER_S) {
		int prec = 0;
		if (u == 0) {
			tmp[--w] = '0';
		} else {
			if (u < 1000) {
				tmp[--w] = 'n';
			} else if (u < 1000000) {
				prec = 3;
				/* U+00B5 MICRO SIGN, as Go writes it. */
				tmp[--w] = (char)0xb5;
				tmp[--w] = (char)0xc2;
			} else {
				prec = 6;
				tmp[--w] = 'm';
			}
			u = put_frac(tmp, &w, u, prec);
			put_uint(tmp, &w, u);
		}
	} else {
		u = put_frac(tmp, &w, u, 9);
		put_uint(tmp, &w, u % 60);
		u /= 60;
		if (u > 0) {
			tmp[--w] = 'm';
			put_uint(tmp, &w, u % 60);
			u /= 60;
			/* Hours are the largest unit: days vary in length. */
			if (u > 0) {
				tmp[--w] = 'h';
				put_uint(tmp, &w, u);
			}
		}
	}
	if (neg)
		tmp[--w] = '-';
	size_t n = sizeof tmp - w;
	if (n >= size) {
		buf[0] = '\0';
		goto done;
	}
	memcpy(buf, tmp + w, n);
	buf[n] = '\0';
	rc = 0;
done:
	return rc;
}

DBS_API int dbs_format_time(char *buf, size_t size, int64_t unix_ns)
{
	int rc = DBS_EINVAL;
	char frac[16] = "";
	char zone[8] = "Z";
	struct tm tm;

	if (buf == NULL || size == 0)
		goto done;
	buf[0] = '\0';
	if (unix_ns == 0) {
		/* Go's zero time.Time, which DBS shows before the first event. */
		int n = snprintf(buf, size, "0001-01-01T00:00:00Z");
		rc = n >= 0 && (size_t)n < size ? 0 : DBS_EINVAL;
		goto done;
	}
	/* Floor division: times before 1970 have a positive fraction. */
	int64_t sec = unix_ns / NS_PER_S;
	int64_t nsec = unix_ns % NS_PER_S;
	if (nsec < 0) {
		nsec += NS_PER_S;
		sec--;
	}
	time_t t = (time_t)sec;
	if (localtime_r(&t, &tm) == NULL)
		goto done;
	if (nsec != 0) {
		int n = snprintf(frac, sizeof frac, ".%09lld", (long long)nsec);
		if (n < 0 || (size_t)n >= sizeof frac)
			goto done;
		while (n > 1 && frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	long off = tm.tm_gmtoff;
	if (off != 0) {
		char sign = off < 0 ? '-' : '+';
		if (off < 0)
			off = -off;
		int n = snprintf(zone, sizeof zone, "%c%02ld:%02ld", sign, (off / 3600) % 100,
		                 (off / 60) % 60);
		if (n < 0 || (size_t)n >= sizeof zone)
			goto done;
	}
	int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%s%s", tm.tm_year + 1900,
	                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, zone);
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		goto done;
	}
	rc = 0;
done:
	return rc;
}
