/*
 * Calendar arithmetic on the proleptic Gregorian calendar, for values
 * that travel as text: converting a date-time with a UTC offset to UTC
 * (the MySQL target, verify). Pure integer code with no time zone
 * database and no range limit of time_t.
 */
#ifndef DBS_SQL_CIVIL_H
#define DBS_SQL_CIVIL_H

#include <stdint.h>

/* A wall-clock date and time, fields in their usual ranges. */
typedef struct dbs_civil {
	int64_t year;
	int64_t month, day;
	int64_t hour, minute, second;
} dbs_civil;

/* Days since 1970-01-01 of a date (negative before). */
int64_t dbs__days_from_civil(int64_t year, unsigned month, unsigned day);

/* The date `days` after 1970-01-01. */
void dbs__civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day);

/* Move `t` by `seconds` (negative: back), carrying into the date. */
void dbs__civil_add_seconds(dbs_civil *t, int64_t seconds);

#endif
