/* dbs_value as SQL text input, into a reusable buffer. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/value_text.h"

/* Append `s` wrapped in `quote`, doubling every inner `quote`. */
static int append_quoted(dbs_buf *b, const char *s, size_t n, char quote)
{
	int rc = DBS_ENOMEM;
	size_t extra = 2;
	for (size_t i = 0; i < n; i++)
		if (s[i] == quote)
			extra++;
	if (n > SIZE_MAX - extra || dbs_buf_reserve(b, n + extra) != 0)
		goto done;
	char *d = b->data + b->len;
	*d++ = quote;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == quote)
			*d++ = quote;
		*d++ = s[i];
	}
	*d++ = quote;
	*d = '\0';
	b->len = (size_t)(d - b->data);
	rc = 0;
done:
	return rc;
}

int dbs__sql_append_ident(dbs_buf *b, const char *ident)
{
	return append_quoted(b, ident, strlen(ident), '"');
}

int dbs__sql_append_literal(dbs_buf *b, const char *s, size_t n)
{
	return append_quoted(b, s, n, '\'');
}

int dbs__sql_append_ident_in(dbs_buf *b, dbs_dialect dialect, const char *ident)
{
	return append_quoted(b, ident, strlen(ident), dialect == DBS_DIALECT_MYSQL ? '`' : '"');
}

/* COPY text format gives backslash, tab, newline and CR a meaning: escape them. */
static int append_copy_escaped(dbs_buf *b, const char *s, size_t n)
{
	int rc;
	size_t extra = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\' || c == '\t' || c == '\n' || c == '\r')
			extra++;
	}
	if (extra == 0) {
		rc = dbs_buf_append(b, s, n);
		goto done;
	}
	rc = DBS_ENOMEM;
	if (n > SIZE_MAX - extra || dbs_buf_reserve(b, n + extra) != 0)
		goto done;
	char *d = b->data + b->len;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		switch (c) {
		case '\\': *d++ = '\\'; *d++ = '\\'; break;
		case '\t': *d++ = '\\'; *d++ = 't'; break;
		case '\n': *d++ = '\\'; *d++ = 'n'; break;
		case '\r': *d++ = '\\'; *d++ = 'r'; break;
		default: *d++ = c; break;
		}
	}
	*d = '\0';
	b->len = (size_t)(d - b->data);
	rc = 0;
done:
	return rc;
}

static int append_text(dbs_buf *b, const char *s, size_t n, unsigned flags)
{
	return (flags & DBS_VALUE_TEXT_COPY) ? append_copy_escaped(b, s, n)
	                                     : dbs_buf_append(b, s, n);
}

/* Decimal digits of `u`, written backwards from `end`; returns the start. */
static char *utoa_back(char *end, uint64_t u)
{
	do {
		*--end = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	return end;
}

int dbs__sql_append_i64(dbs_buf *b, int64_t i)
{
	char tmp[24];
	char *end = tmp + sizeof tmp;
	/* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
	uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
	char *p = utoa_back(end, u);
	if (i < 0)
		*--p = '-';
	return dbs_buf_append(b, p, (size_t)(end - p));
}

int dbs__sql_append_u64(dbs_buf *b, uint64_t u)
{
	char tmp[24];
	char *end = tmp + sizeof tmp;
	char *p = utoa_back(end, u);
	return dbs_buf_append(b, p, (size_t)(end - p));
}

char *dbs__sql_put_digits(char *d, uint32_t v, unsigned width)
{
	for (unsigned i = width; i > 0; i--) {
		d[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	return d + width;
}

int dbs__sql_append_double(dbs_buf *b, double d)
{
	/* 17 significant digits read back as the same double; at most 24
	 * characters ("-1.2345678901234567e-308"). */
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%.17g", d);
	return n > 0 && (size_t)n < sizeof tmp ? dbs_buf_append(b, tmp, (size_t)n) : DBS_EINVAL;
}

static int append_double(dbs_buf *b, double d)
{
	int rc;
	if (isnan(d))
		rc = dbs_buf_append_str(b, "NaN");
	else if (isinf(d))
		rc = dbs_buf_append_str(b, d < 0 ? "-Infinity" : "Infinity");
	else
		rc = dbs__sql_append_double(b, d);
	return rc;
}

static int append_bytea_hex(dbs_buf *b, const char *s, size_t n, unsigned flags)
{
	static const char hex[] = "0123456789abcdef";
	int rc = DBS_ENOMEM;
	/* In COPY text the bytea's own backslash must itself be escaped. */
	const char *prefix = (flags & DBS_VALUE_TEXT_COPY) ? "\\\\x" : "\\x";
	size_t plen = strlen(prefix);
	if (n > (SIZE_MAX - plen) / 2 || dbs_buf_reserve(b, plen + 2 * n) != 0)
		goto done;
	char *d = b->data + b->len;
	memcpy(d, prefix, plen);
	d += plen;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n; i++) {
		*d++ = hex[u[i] >> 4];
		*d++ = hex[u[i] & 15];
	}
	*d = '\0';
	b->len = (size_t)(d - b->data);
	rc = 0;
done:
	return rc;
}

/* Years before 1 are astronomical (0 = 1 BC); PostgreSQL wants "… BC". */
static int32_t era_year(int32_t year, int *bc)
{
	*bc = year <= 0;
	return *bc ? 1 - year : year;
}

static int append_date(dbs_buf *b, const dbs_time_value *t, int *bc)
{
	int32_t y = era_year(t->year, bc);
	if (y < 0 || y > 9999 || t->month > 99 || t->day > 99)
		return dbs_buf_appendf(b, "%04ld-%02u-%02u", (long)y, (unsigned)t->month,
		                       (unsigned)t->day);
	/* The usual date, digit by digit: this runs for every value. */
	char tmp[10];
	char *d = dbs__sql_put_digits(tmp, (uint32_t)y, 4);
	*d++ = '-';
	d = dbs__sql_put_digits(d, t->month, 2);
	*d++ = '-';
	d = dbs__sql_put_digits(d, t->day, 2);
	return dbs_buf_append(b, tmp, sizeof tmp);
}

static int append_clock(dbs_buf *b, const dbs_time_value *t)
{
	if (t->hour > 99 || t->minute > 99 || t->second > 99) {
		int rc = dbs_buf_appendf(b, "%02u:%02u:%02u", (unsigned)t->hour,
		                         (unsigned)t->minute, (unsigned)t->second);
		if (rc == 0 && t->usec)
			rc = dbs_buf_appendf(b, ".%06lu", (unsigned long)(t->usec % 1000000u));
		return rc;
	}
	char tmp[15];
	char *d = dbs__sql_put_digits(tmp, t->hour, 2);
	*d++ = ':';
	d = dbs__sql_put_digits(d, t->minute, 2);
	*d++ = ':';
	d = dbs__sql_put_digits(d, t->second, 2);
	if (t->usec) {
		*d++ = '.';
		d = dbs__sql_put_digits(d, (uint32_t)(t->usec % 1000000u), 6);
	}
	return dbs_buf_append(b, tmp, (size_t)(d - tmp));
}

static int append_time_kind(dbs_buf *b, const dbs_value *v)
{
	const dbs_time_value *t = &v->v.t;
	int bc = 0;
	int rc = 0;
	switch (v->kind) {
	case DBS_VALUE_DATE:
		rc = append_date(b, t, &bc);
		break;
	case DBS_VALUE_TIME:
		/* Signed and beyond 24 h (MySQL TIME): interval reads it; time
		 * columns refuse what they cannot hold, with the server's message. */
		if (t->negative)
			rc = dbs_buf_append_char(b, '-');
		if (rc == 0)
			rc = append_clock(b, t);
		break;
	case DBS_VALUE_DATETIME:
	case DBS_VALUE_TIMESTAMP:
		rc = append_date(b, t, &bc);
		if (rc == 0)
			rc = dbs_buf_append_char(b, ' ');
		if (rc == 0)
			rc = append_clock(b, t);
		if (rc == 0 && v->kind == DBS_VALUE_TIMESTAMP)
			rc = dbs_buf_append(b, "+00", 3);
		break;
	default:
		rc = DBS_EINVAL;
		break;
	}
	if (rc == 0 && bc)
		rc = dbs_buf_append(b, " BC", 3);
	return rc;
}

int dbs__value_text_pg(dbs_buf *b, const dbs_value *v, unsigned flags)
{
	int rc = DBS_EINVAL;
	switch (v->kind) {
	case DBS_VALUE_NULL:
		if (flags & DBS_VALUE_TEXT_COPY)
			rc = dbs_buf_append(b, "\\N", 2);
		break;
	case DBS_VALUE_UNCHANGED:
		break;
	case DBS_VALUE_TEXT:
	case DBS_VALUE_DECIMAL:
	case DBS_VALUE_JSON:
		rc = append_text(b, v->v.s, v->len, flags);
		break;
	case DBS_VALUE_BYTES:
		rc = append_bytea_hex(b, v->v.s, v->len, flags);
		break;
	case DBS_VALUE_INT:
		rc = dbs__sql_append_i64(b, v->v.i);
		break;
	case DBS_VALUE_UINT:
		rc = dbs__sql_append_u64(b, v->v.u);
		break;
	case DBS_VALUE_DOUBLE:
		rc = append_double(b, v->v.d);
		break;
	case DBS_VALUE_DATE:
	case DBS_VALUE_TIME:
	case DBS_VALUE_DATETIME:
	case DBS_VALUE_TIMESTAMP:
		rc = append_time_kind(b, v);
		break;
	default:
		break;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Row images as JSON                                                  */
/* ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* `s` as a JSON string: quotes, backslashes and control characters
 * escaped, invalid UTF-8 and NUL as U+FFFD. */
static int json_string(dbs_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	int rc = dbs_buf_append_char(b, '"');
	size_t i = 0;
	while (rc == 0 && i < n) {
		size_t run = i;
		/* Copy plain ASCII and whole valid sequences in one piece. */
		while (run < n && u[run] >= 0x20 && u[run] != '"' && u[run] != '\\') {
			size_t k = utf8_seq(u + run, n - run);
			if (k == 0)
				break;
			run += k;
		}
		if (run > i) {
			rc = dbs_buf_append(b, s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			rc = dbs_buf_append(b, esc, 2);
		} else if (c == 0 || c >= 0x80) {
			rc = dbs_buf_append_str(b, "\\ufffd");
		} else if (c == '\n') {
			rc = dbs_buf_append_str(b, "\\n");
		} else if (c == '\t') {
			rc = dbs_buf_append_str(b, "\\t");
		} else if (c == '\r') {
			rc = dbs_buf_append_str(b, "\\r");
		} else {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			rc = dbs_buf_append(b, esc, 6);
		}
		i++;
	}
	if (rc == 0)
		rc = dbs_buf_append_char(b, '"');
	return rc;
}

/* A PostgreSQL source's integer column (its values arrive as text) whose
 * value is a plain integer: written as a JSON number like MySQL's. */
static int pg_integer_text(const dbs_column *col, const dbs_value *v)
{
	static const char *const types[] = {"smallint", "integer", "bigint", NULL};
	int known = 0;
	for (int i = 0; types[i] && !known; i++)
		known = col->type_name && strcmp(col->type_name, types[i]) == 0;
	if (!known || v->len == 0 || v->len > 20)
		return 0;
	for (uint32_t i = v->v.s[0] == '-'; i < v->len; i++)
		if (v->v.s[i] < '0' || v->v.s[i] > '9')
			return 0;
	return v->len > (uint32_t)(v->v.s[0] == '-');
}

static int json_value(dbs_buf *b, dbs_buf *tmp, const dbs_column *col,
                      const dbs_value *v)
{
	int rc;
	const dbs_time_value *t = &v->v.t;
	switch (v->kind) {
	case DBS_VALUE_TEXT:
		if (pg_integer_text(col, v))
			return dbs_buf_append(b, v->v.s, v->len);
		break;
	case DBS_VALUE_NULL:
		return dbs_buf_append_str(b, "null");
	case DBS_VALUE_INT:
	case DBS_VALUE_UINT:
		return dbs__value_text_pg(b, v, 0);
	case DBS_VALUE_DOUBLE:
		if (isfinite(v->v.d))
			return dbs__value_text_pg(b, v, 0);
		break;
	case DBS_VALUE_DATE:
	case DBS_VALUE_DATETIME:
	case DBS_VALUE_TIMESTAMP:
		if (t->month && t->day)
			break;
		/* A MySQL zero date has no PostgreSQL form: keep MySQL's. */
		dbs_buf_reset(tmp);
		rc = dbs_buf_appendf(tmp, "%04ld-%02u-%02u", (long)t->year, (unsigned)t->month,
		                          (unsigned)t->day);
		if (rc == 0 && v->kind != DBS_VALUE_DATE)
			rc = dbs_buf_appendf(tmp, " %02u:%02u:%02u.%06lu", (unsigned)t->hour,
			                          (unsigned)t->minute, (unsigned)t->second,
			                          (unsigned long)(t->usec % 1000000u));
		return rc ? rc : json_string(b, tmp->data, tmp->len);
	default:
		break;
	}
	dbs_buf_reset(tmp);
	rc = dbs__value_text_pg(tmp, v, 0);
	if (rc == DBS_EINVAL)
		return dbs_buf_append_str(b, "null"); /* a kind without a text form */
	return rc ? rc : json_string(b, tmp->data ? tmp->data : "", tmp->len);
}

int dbs__row_json(dbs_buf *b, const dbs_table *table, const dbs_value *img,
                  const uint32_t *cols, uint32_t ncols)
{
	dbs_buf tmp = {0};
	uint32_t n = cols ? ncols : table->ncolumns;
	int rc = dbs_buf_append_char(b, '{');
	int first = 1;
	for (uint32_t k = 0; rc == 0 && k < n; k++) {
		uint32_t c = cols ? cols[k] : k;
		if (c >= table->ncolumns || img[c].kind == DBS_VALUE_UNCHANGED)
			continue;
		const char *name = table->columns[c].name ? table->columns[c].name : "";
		if ((!first && (rc = dbs_buf_append_char(b, ','))) ||
		    (rc = json_string(b, name, strlen(name))) ||
		    (rc = dbs_buf_append_char(b, ':')))
			break;
		rc = json_value(b, &tmp, &table->columns[c], &img[c]);
		first = 0;
	}
	if (rc == 0)
		rc = dbs_buf_append_char(b, '}');
	dbs_buf_free(&tmp);
	return rc;
}

const dbs_value *dbs__row_key_image(const dbs_event *ev, const uint32_t *keys, uint32_t nkeys)
{
	if (nkeys == 0)
		return ev->before;
	if (ev->before) {
		const dbs_value *k = &ev->before[keys[0]];
		if (k->kind != DBS_VALUE_NULL && k->kind != DBS_VALUE_UNCHANGED)
			return ev->before;
	}
	return ev->after ? ev->after : ev->before;
}

int dbs__sql_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
