/* Days from and to a civil date (the era-based algorithm: exact for every
 * year an int64_t day count holds). */
#include "sql/civil.h"

int64_t dbs__days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void dbs__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void dbs__civil_add_seconds(dbs_civil *t, int64_t seconds)
{
	int64_t secs = dbs__days_from_civil(t->year, (unsigned)t->month, (unsigned)t->day) * 86400 +
	               t->hour * 3600 + t->minute * 60 + t->second + seconds;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	unsigned m, d;
	dbs__civil_from_days(days, &t->year, &m, &d);
	t->month = m;
	t->day = d;
	t->hour = rem / 3600;
	t->minute = rem / 60 % 60;
	t->second = rem % 60;
}
