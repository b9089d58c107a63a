/*
 * Values across dialects (sqlmap.h): PostgreSQL text and MySQL binlog
 * values into MySQL literals, MySQL values into PostgreSQL text input.
 * Nothing here allocates per value: output goes into the caller's buffer.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/civil.h"
#include "sql/sqlmap.h"
#include "sql/value_text.h"

/* ------------------------------------------------------------------ */
/* Values into MySQL literals                                          */
/* ------------------------------------------------------------------ */

static const char hexdigits[] = "0123456789abcdef";

static int append_hex_literal(dbs_buf *out, const char *prefix, const void *data, size_t n)
{
	size_t pl = strlen(prefix);
	if (n > (SIZE_MAX - pl - 3) / 2 || dbs_buf_reserve(out, pl + 3 + 2 * n))
		return DBS_ENOMEM;
	char *d = out->data + out->len;
	memcpy(d, prefix, pl);
	d += pl;
	*d++ = 'X';
	*d++ = '\'';
	const unsigned char *u = data;
	for (size_t i = 0; i < n; i++) {
		*d++ = hexdigits[u[i] >> 4];
		*d++ = hexdigits[u[i] & 15];
	}
	*d++ = '\'';
	*d = '\0';
	out->len = (size_t)(d - out->data);
	return 0;
}

/* A string literal; text holding NUL bytes goes as hex so no lexer sees a
 * NUL inside quotes. */
static int append_string(dbs_buf *out, const char *s, size_t n)
{
	if (n && memchr(s, '\0', n))
		return append_hex_literal(out, "_utf8mb4 ", s, n);
	return dbs__sql_append_literal(out, s, n);
}

static void value_err(char *err, size_t errlen, const dbs_sqltype *t, const char *what,
                      const char *s, size_t n)
{
	int shown = (int)(n > 64 ? 64 : n);
	dbs_fmt(err, errlen, "column %s (%s): %s: '%.*s'%s", t->column, t->type_name, what, shown,
	         s ? s : "", n > 64 ? "…" : "");
}

/* 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS.ffffff', digit by digit (this runs
 * for every value): year 0..9999, usec below 10^6, the rest below 100. */
static int append_datetime_literal(dbs_buf *out, uint32_t y, uint32_t mo, uint32_t d,
                                   int with_time, uint32_t h, uint32_t mi, uint32_t se,
                                   uint32_t us)
{
	char tmp[28];
	char *p = tmp;
	*p++ = '\'';
	p = dbs__sql_put_digits(p, y, 4);
	*p++ = '-';
	p = dbs__sql_put_digits(p, mo, 2);
	*p++ = '-';
	p = dbs__sql_put_digits(p, d, 2);
	if (with_time) {
		*p++ = ' ';
		p = dbs__sql_put_digits(p, h, 2);
		*p++ = ':';
		p = dbs__sql_put_digits(p, mi, 2);
		*p++ = ':';
		p = dbs__sql_put_digits(p, se, 2);
		*p++ = '.';
		p = dbs__sql_put_digits(p, us, 6);
	}
	*p++ = '\'';
	return dbs_buf_append(out, tmp, (size_t)(p - tmp));
}

static int append_mysql_time(dbs_buf *out, const dbs_value *v, const dbs_sqltype *t,
                             char *err, size_t errlen)
{
	const dbs_time_value *tv = &v->v.t;
	char buf[64];
	int n;
	if (v->kind != DBS_VALUE_TIME && tv->year >= 0 && tv->year <= 9999 && tv->month < 100 &&
	    tv->day < 100 && tv->hour < 100 && tv->minute < 100 && tv->second < 100)
		return append_datetime_literal(out, (uint32_t)tv->year, tv->month, tv->day,
		                               v->kind != DBS_VALUE_DATE, tv->hour, tv->minute,
		                               tv->second, tv->usec % 1000000u);
	if (v->kind == DBS_VALUE_TIME) {
		n = snprintf(buf, sizeof buf, "'%s%u:%02u:%02u.%06lu'", tv->negative ? "-" : "",
		             (unsigned)tv->hour, (unsigned)tv->minute, (unsigned)tv->second,
		             (unsigned long)(tv->usec % 1000000u));
	} else {
		if (tv->year < 0 || tv->year > 9999) {
			dbs_fmt(err, errlen, "column %s (%s): year %ld is outside MySQL's 0..9999",
			         t->column, t->type_name, (long)tv->year);
			return DBS_EINVAL;
		}
		if (v->kind == DBS_VALUE_DATE)
			n = snprintf(buf, sizeof buf, "'%04ld-%02u-%02u'", (long)tv->year,
			             (unsigned)tv->month, (unsigned)tv->day);
		else
			n = snprintf(buf, sizeof buf, "'%04ld-%02u-%02u %02u:%02u:%02u.%06lu'",
			             (long)tv->year, (unsigned)tv->month, (unsigned)tv->day,
			             (unsigned)tv->hour, (unsigned)tv->minute, (unsigned)tv->second,
			             (unsigned long)(tv->usec % 1000000u));
	}
	if (n < 0 || (size_t)n >= sizeof buf)
		return DBS_EINVAL;
	return dbs_buf_append(out, buf, (size_t)n);
}

static int is_infinity_word(const char *s, size_t n)
{
	return (n == 8 && memcmp(s, "infinity", 8) == 0) ||
	       (n == 9 && memcmp(s, "-infinity", 9) == 0) ||
	       (n == 9 && memcmp(s, "+infinity", 9) == 0);
}

/* Read `count` digits at s[*i]; -1 when they are not there. */
static int64_t read_digits(const char *s, size_t n, size_t *i, size_t min, size_t max)
{
	int64_t v = 0;
	size_t k = 0;
	while (*i < n && k < max && isdigit((unsigned char)s[*i])) {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		k++;
	}
	return k >= min ? v : -1;
}

/*
 * A PostgreSQL ISO date/timestamp[tz] text ("2024-01-02 03:04:05.5+05:30",
 * "… BC", "infinity") as a MySQL literal, converted to UTC when it
 * carries an offset. `want_time` 0 for dates.
 */
static int pg_datetime_to_mysql(dbs_buf *out, const dbs_sqltype *t, const char *s,
                                size_t n, int want_time, char *err, size_t errlen)
{
	size_t i = 0;
	int64_t y, mo, d, h = 0, mi = 0, se = 0, us = 0;
	int off = 0;
	if (is_infinity_word(s, n)) {
		value_err(err, errlen, t, "MySQL has no infinite date or time", s, n);
		return DBS_EINVAL;
	}
	if (n >= 3 && memcmp(s + n - 3, " BC", 3) == 0) {
		value_err(err, errlen, t, "MySQL cannot hold dates before year 1", s, n);
		return DBS_EINVAL;
	}
	y = read_digits(s, n, &i, 4, 9);
	if (y < 0 || i >= n || s[i++] != '-' || (mo = read_digits(s, n, &i, 2, 2)) < 0 ||
	    i >= n || s[i++] != '-' || (d = read_digits(s, n, &i, 2, 2)) < 0)
		goto bad;
	if (want_time) {
		if (i >= n || (s[i] != ' ' && s[i] != 'T'))
			goto bad;
		i++;
		if ((h = read_digits(s, n, &i, 2, 2)) < 0 || i >= n || s[i++] != ':' ||
		    (mi = read_digits(s, n, &i, 2, 2)) < 0 || i >= n || s[i++] != ':' ||
		    (se = read_digits(s, n, &i, 2, 2)) < 0)
			goto bad;
		if (i < n && s[i] == '.') {
			i++;
			size_t start = i;
			int64_t f = read_digits(s, n, &i, 1, 6);
			if (f < 0)
				goto bad;
			for (size_t k = i - start; k < 6; k++)
				f *= 10;
			us = f;
		}
		if (i < n && (s[i] == '+' || s[i] == '-')) {
			int sign = s[i++] == '-' ? -1 : 1;
			int64_t oh = read_digits(s, n, &i, 2, 2), om = 0, os = 0;
			if (oh < 0)
				goto bad;
			if (i < n && s[i] == ':') {
				i++;
				if ((om = read_digits(s, n, &i, 2, 2)) < 0)
					goto bad;
			}
			if (i < n && s[i] == ':') {
				i++;
				if ((os = read_digits(s, n, &i, 2, 2)) < 0)
					goto bad;
			}
			off = sign * (int)(oh * 3600 + om * 60 + os);
		}
	}
	if (i != n || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || se > 60)
		goto bad;
	if (off) {
		dbs_civil c = {y, mo, d, h, mi, se};
		dbs__civil_add_seconds(&c, -off);
		y = c.year, mo = c.month, d = c.day, h = c.hour, mi = c.minute, se = c.second;
	}
	if (y < 1 || y > 9999) {
		value_err(err, errlen, t, "year outside MySQL's 1..9999", s, n);
		return DBS_EINVAL;
	}
	/* In range here: parsed within these widths, or normalized. */
	return append_datetime_literal(out, (uint32_t)y, (uint32_t)mo, (uint32_t)d, want_time,
	                               (uint32_t)h, (uint32_t)mi, (uint32_t)se, (uint32_t)us);
bad:
	value_err(err, errlen, t, "not an ISO date/time this target reads", s, n);
	return DBS_EINVAL;
}

/* Exact decimal text: returns 0 when it fits decimal(65,30). */
static int decimal_fits(const char *s, size_t n, int *is_number)
{
	size_t i = 0, intd = 0, fracd = 0, lead = 1, trail_zero = 0;
	*is_number = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	size_t digits_start = i;
	for (; i < n && isdigit((unsigned char)s[i]); i++) {
		if (lead && s[i] == '0')
			continue;
		lead = 0;
		intd++;
	}
	size_t any = i > digits_start;
	if (i < n && s[i] == '.') {
		i++;
		for (; i < n && isdigit((unsigned char)s[i]); i++) {
			fracd++;
			trail_zero = s[i] == '0' ? trail_zero + 1 : 0;
			any = 1;
		}
	}
	if (i != n || !any)
		return -1;
	*is_number = 1;
	return intd <= 35 && fracd - trail_zero <= 30 ? 0 : -1;
}

static int json_putc(dbs_buf *out, char c)
{
	/* The JSON text lands inside a SQL literal: double its quotes. */
	if (c == '\'')
		return dbs_buf_append(out, "''", 2);
	return dbs_buf_append_char(out, c);
}

/* One character inside a JSON string. */
static int json_char(dbs_buf *out, unsigned char c)
{
	int rc;
	if (c == '"' || c == '\\') {
		rc = dbs_buf_append_char(out, '\\');
		if (rc == 0)
			rc = dbs_buf_append_char(out, (char)c);
	} else if (c < 0x20) {
		rc = dbs_buf_appendf(out, "\\u%04x", c);
	} else {
		rc = json_putc(out, (char)c);
	}
	return rc;
}

static int json_string(dbs_buf *out, const char *s, size_t n)
{
	int rc = json_putc(out, '"');
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = json_char(out, (unsigned char)s[i]);
	return rc ? rc : json_putc(out, '"');
}

static int ci_equal(const char *s, size_t n, const char *word)
{
	size_t m = strlen(word);
	if (n != m)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)s[i]) != word[i])
			return 0;
	return 1;
}

/*
 * A PostgreSQL real into a MySQL FLOAT. PostgreSQL prints the shortest text
 * that reads back as the same float (3.4028235e+38), but MySQL reads the
 * text as a double, which for the extremes lands just past FLT_MAX and is
 * refused as out of range. Writing the float's exact value as a double
 * ("%.17g") reads back to the same float.
 */
static int float4_to_mysql(dbs_buf *out, const dbs_sqltype *t, const char *s, size_t n,
                           char *err, size_t errlen)
{
	char text[64], num[40];
	if (n == 0 || n >= sizeof text)
		goto bad;
	memcpy(text, s, n);
	text[n] = '\0';
	char *end;
	errno = 0;
	float f = strtof(text, &end);
	if (*end != '\0' || errno == ERANGE || !isfinite(f))
		goto bad;
	int len = snprintf(num, sizeof num, "%.17g", (double)f);
	if (len <= 0 || (size_t)len >= sizeof num)
		goto bad;
	return dbs_buf_append(out, num, (size_t)len);
bad:
	value_err(err, errlen, t, "not a 4-byte float", s, n);
	return DBS_EINVAL;
}

/* One unquoted array element as JSON, by element class. */
static int json_element(dbs_buf *out, uint8_t elem, const char *s, size_t n)
{
	int is_num = 0;
	if (ci_equal(s, n, "null"))
		return dbs_buf_append_str(out, "null");
	switch (elem) {
	case DBS_SQL_INT:
	case DBS_SQL_DECIMAL:
	case DBS_SQL_NUMERIC:
		decimal_fits(s, n, &is_num);
		if (is_num && n && s[0] != '+' && !(n > 1 && s[0] == '0' && s[1] != '.'))
			return dbs_buf_append(out, s, n);
		break;
	case DBS_SQL_FLOAT: {
		/* JSON numbers: finite ones only, as the source wrote them. */
		size_t k = 0;
		for (; k < n; k++)
			if (!strchr("0123456789.-eE+", s[k]))
				break;
		if (k == n && n && s[0] != '.' && s[0] != '+')
			return dbs_buf_append(out, s, n);
		break;
	}
	case DBS_SQL_BOOL:
		if (n == 1 && (s[0] == 't' || s[0] == 'f'))
			return dbs_buf_append_str(out, s[0] == 't' ? "true" : "false");
		break;
	case DBS_SQL_JSON:
		for (size_t k = 0; k < n; k++) {
			int rc = json_putc(out, s[k]);
			if (rc)
				return rc;
		}
		return 0;
	default:
		break;
	}
	return json_string(out, s, n);
}

/*
 * A PostgreSQL array's text form ("{1,NULL,\"a b\"}", nested, maybe with a
 * "[0:1]=" bounds prefix) as a JSON array inside a SQL literal.
 */
static int pg_array_to_json(dbs_buf *out, const dbs_sqltype *t, const char *s, size_t n,
                            char *err, size_t errlen)
{
	size_t i = 0;
	int depth = 0, rc;
	if (n && s[0] == '[') {
		const char *eq = memchr(s, '=', n);
		if (!eq)
			goto bad;
		i = (size_t)(eq - s) + 1;
	}
	if ((rc = dbs_buf_append_char(out, '\'')))
		return rc;
	int expect_value = 1;
	while (i < n) {
		char c = s[i];
		if (c == '{') {
			if (!expect_value)
				goto bad;
			if ((rc = dbs_buf_append_char(out, '[')))
				return rc;
			depth++;
			i++;
			expect_value = 1;
			if (i < n && s[i] == '}')
				expect_value = 0;
			continue;
		}
		if (c == '}') {
			if (depth == 0 || expect_value)
				goto bad;
			if ((rc = dbs_buf_append_char(out, ']')))
				return rc;
			depth--;
			i++;
			expect_value = 0;
			if (depth == 0 && i != n)
				goto bad;
			continue;
		}
		if (c == ',') {
			if (expect_value || depth == 0)
				goto bad;
			if ((rc = dbs_buf_append_char(out, ',')))
				return rc;
			i++;
			expect_value = 1;
			continue;
		}
		if (!expect_value || depth == 0)
			goto bad;
		if (c == '"') {
			/* Quoted: a string, or for json[] the element's JSON text;
			 * unescaped as it is copied, so no scratch buffer. */
			int raw = t->elem == DBS_SQL_JSON;
			if (!raw && (rc = json_putc(out, '"')))
				return rc;
			i++;
			while (i < n && s[i] != '"') {
				if (s[i] == '\\')
					i++;
				if (i >= n)
					goto bad;
				rc = raw ? json_putc(out, s[i]) : json_char(out, (unsigned char)s[i]);
				if (rc)
					return rc;
				i++;
			}
			if (i >= n)
				goto bad;
			i++;
			if (!raw && (rc = json_putc(out, '"')))
				return rc;
		} else {
			size_t start = i;
			while (i < n && s[i] != ',' && s[i] != '}')
				i++;
			if ((rc = json_element(out, t->elem, s + start, i - start)))
				return rc;
		}
		expect_value = 0;
	}
	if (depth != 0)
		goto bad;
	return dbs_buf_append_char(out, '\'');
bad:
	value_err(err, errlen, t, "not a PostgreSQL array text", s, n);
	return DBS_EINVAL;
}

/* A PostgreSQL text value of column type `t` as a MySQL literal. */
static int pg_text_to_mysql(dbs_buf *out, const dbs_sqltype *t, const char *s, size_t n,
                            char *err, size_t errlen)
{
	int is_num = 0;
	switch (t->cls) {
	case DBS_SQL_BOOL:
		if (n >= 1 && (s[0] == 't' || s[0] == 'f'))
			return dbs_buf_append_char(out, s[0] == 't' ? '1' : '0');
		value_err(err, errlen, t, "not a boolean", s, n);
		return DBS_EINVAL;
	case DBS_SQL_BINARY:
		if (n >= 2 && s[0] == '\\' && s[1] == 'x' && n % 2 == 0) {
			for (size_t i = 2; i < n; i++)
				if (dbs__sql_hexval(s[i]) < 0)
					goto bad_bytea;
			if (dbs_buf_append(out, "X'", 2) || dbs_buf_append(out, s + 2, n - 2) ||
			    dbs_buf_append_char(out, '\''))
				return DBS_ENOMEM;
			return 0;
		}
	bad_bytea:
		value_err(err, errlen, t, "bytea text is not in hex format (bytea_output = hex)", s, n);
		return DBS_EINVAL;
	case DBS_SQL_DATE:
		return pg_datetime_to_mysql(out, t, s, n, 0, err, errlen);
	case DBS_SQL_DATETIME:
	case DBS_SQL_TIMESTAMP:
		return pg_datetime_to_mysql(out, t, s, n, 1, err, errlen);
	case DBS_SQL_NUMERIC:
		if (decimal_fits(s, n, &is_num) == 0)
			return dbs_buf_append(out, s, n);
		value_err(err, errlen, t,
		          is_num ? "does not fit decimal(65,30)" : "MySQL DECIMAL has no such value",
		          s, n);
		return DBS_EINVAL;
	case DBS_SQL_DECIMAL:
	case DBS_SQL_FLOAT:
		if (ci_equal(s, n, "nan") || ci_equal(s, n, "infinity") || ci_equal(s, n, "-infinity")) {
			value_err(err, errlen, t, "MySQL has no such number", s, n);
			return DBS_EINVAL;
		}
		if (t->cls == DBS_SQL_FLOAT && strcmp(dbs__sqlmap_rule_target(t), "float") == 0)
			return float4_to_mysql(out, t, s, n, err, errlen);
		return append_string(out, s, n);
	case DBS_SQL_BIT:
		for (size_t i = 0; i < n; i++)
			if (s[i] != '0' && s[i] != '1') {
				value_err(err, errlen, t, "not a bit string", s, n);
				return DBS_EINVAL;
			}
		if (dbs_buf_append(out, "b'", 2) || dbs_buf_append(out, s, n) ||
		    dbs_buf_append_char(out, '\''))
			return DBS_ENOMEM;
		return 0;
	default:
		return append_string(out, s, n);
	}
}

int dbs__sqlmap_value_mysql(dbs_buf *out, const dbs_sqltype *t, const dbs_value *v,
                            char *err, size_t errlen)
{
	switch (v->kind) {
	case DBS_VALUE_NULL:
		return dbs_buf_append(out, "NULL", 4);
	case DBS_VALUE_UNCHANGED:
		dbs_fmt(err, errlen, "column %s: unchanged (TOAST) value where a value is needed",
		         t->column);
		return DBS_EINVAL;
	case DBS_VALUE_TEXT:
		if (t->dialect == DBS_DIALECT_POSTGRESQL) {
			if (t->cls == DBS_SQL_ARRAY) {
				return pg_array_to_json(out, t, v->v.s, v->len, err, errlen);
			}
			return pg_text_to_mysql(out, t, v->v.s, v->len, err, errlen);
		}
		return append_string(out, v->v.s, v->len);
	case DBS_VALUE_DECIMAL:
	case DBS_VALUE_JSON:
		return append_string(out, v->v.s, v->len);
	case DBS_VALUE_BYTES:
		return append_hex_literal(out, "", v->v.s, v->len);
	case DBS_VALUE_INT:
		return dbs__sql_append_i64(out, v->v.i);
	case DBS_VALUE_UINT:
		return dbs__sql_append_u64(out, v->v.u);
	case DBS_VALUE_DOUBLE:
		if (!isfinite(v->v.d)) {
			dbs_fmt(err, errlen, "column %s (%s): MySQL has no NaN or infinity", t->column,
			         t->type_name);
			return DBS_EINVAL;
		}
		return dbs__sql_append_double(out, v->v.d);
	case DBS_VALUE_DATE:
	case DBS_VALUE_TIME:
	case DBS_VALUE_DATETIME:
	case DBS_VALUE_TIMESTAMP:
		return append_mysql_time(out, v, t, err, errlen);
	default:
		dbs_fmt(err, errlen, "column %s: unknown value kind %u", t->column, (unsigned)v->kind);
		return DBS_EINVAL;
	}
}

/* ------------------------------------------------------------------ */
/* MySQL values into PostgreSQL text                                   */
/* ------------------------------------------------------------------ */

static int is_zero_date(const dbs_value *v)
{
	if (v->kind != DBS_VALUE_DATE && v->kind != DBS_VALUE_DATETIME &&
	    v->kind != DBS_VALUE_TIMESTAMP)
		return 0;
	return v->v.t.month == 0 || v->v.t.day == 0;
}

static int bits_pg(dbs_buf *out, const dbs_sqltype *t, const dbs_value *v, char *err,
                   size_t errlen)
{
	uint64_t u = 0;
	int32_t nbits = t->len > 0 ? t->len : 1;
	if (v->kind == DBS_VALUE_UINT || v->kind == DBS_VALUE_INT) {
		u = v->kind == DBS_VALUE_UINT ? v->v.u : (uint64_t)v->v.i;
	} else if (v->kind == DBS_VALUE_BYTES) {
		if (v->len > 8)
			goto bad;
		for (uint32_t i = 0; i < v->len; i++)
			u = u << 8 | (unsigned char)v->v.s[i];
	} else {
		goto bad;
	}
	if (nbits > 64 || (nbits < 64 && (u >> nbits) != 0))
		goto bad;
	if (t->len <= 1 && t->cls == DBS_SQL_BIT && t->rule &&
	    strcmp(dbs__sqlmap_rule_target(t), "boolean") == 0)
		return dbs_buf_append_char(out, u ? 't' : 'f');
	if (dbs_buf_reserve(out, (size_t)nbits))
		return DBS_ENOMEM;
	for (int32_t b = nbits - 1; b >= 0; b--)
		out->data[out->len++] = (u >> b) & 1 ? '1' : '0';
	out->data[out->len] = '\0';
	return 0;
bad:
	dbs_fmt(err, errlen, "column %s (%s): value does not fit %" PRId32 " bits", t->column,
	         t->type_name, nbits);
	return DBS_EINVAL;
}

int dbs__sqlmap_value_pg(dbs_buf *out, const dbs_sqltype *t, const dbs_value *v,
                         dbs_zero_date_policy policy, unsigned flags, int *is_null,
                         char *err, size_t errlen)
{
	*is_null = 0;
	if (v->kind == DBS_VALUE_NULL)
		goto null;
	if (is_zero_date(v)) {
		switch (policy) {
		case DBS_ZERO_DATE_NULL:
			goto null;
		case DBS_ZERO_DATE_NEG_INFINITY:
			return dbs_buf_append_str(out, "-infinity");
		default:
			dbs_fmt(err, errlen,
			         "column %s (%s): zero date %04ld-%02u-%02u has no PostgreSQL value "
			         "(zero-date policy: fail; \"null\" or \"-infinity\" map it)",
			         t->column, t->type_name, (long)v->v.t.year, (unsigned)v->v.t.month,
			         (unsigned)v->v.t.day);
			return DBS_EINVAL;
		}
	}
	if (t->cls == DBS_SQL_BIT && t->dialect == DBS_DIALECT_MYSQL)
		return bits_pg(out, t, v, err, errlen);
	if (v->kind == DBS_VALUE_DOUBLE && t->cls == DBS_SQL_FLOAT && !isfinite(v->v.d) &&
	    t->dialect == DBS_DIALECT_MYSQL) {
		dbs_fmt(err, errlen, "column %s: MySQL sent a non-finite double", t->column);
		return DBS_EINVAL;
	}
	if (t->cls == DBS_SQL_GEOMETRY && t->dialect == DBS_DIALECT_MYSQL &&
	    v->kind == DBS_VALUE_BYTES) {
		/* MySQL stores geometry as a 4-byte SRID followed by WKB; the
		 * bytea column holds the WKB that ST_AsBinary returns. */
		if (v->len < 4) {
			dbs_fmt(err, errlen, "column %s (%s): %u-byte geometry has no SRID and WKB",
			         t->column, t->type_name, (unsigned)v->len);
			return DBS_EINVAL;
		}
		dbs_value wkb = *v;
		wkb.v.s += 4;
		wkb.len -= 4;
		return dbs__value_text_pg(out, &wkb, flags);
	}
	int rc = dbs__value_text_pg(out, v, flags);
	if (rc == DBS_EINVAL)
		dbs_fmt(err, errlen, "column %s (%s): value kind %u has no PostgreSQL text form",
		         t->column, t->type_name, (unsigned)v->kind);
	return rc;
null:
	*is_null = 1;
	if (flags & DBS_VALUE_TEXT_COPY)
		return dbs_buf_append(out, "\\N", 2);
	return 0;
}
