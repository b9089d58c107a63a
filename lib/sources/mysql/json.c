/*
 * MySQL binary JSON (the storage format of MySQL 5.7+ JSON columns) to
 * JSON text, spelled as MySQL prints it: `{"k": 1, "a": [1, 2]}`.
 * MariaDB stores JSON as text and never needs this.
 *
 * Every offset inside the document is checked against the enclosing
 * container before it is followed, and nesting is capped, so malformed
 * input from the network fails cleanly.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/binlog.h"

#define MAX_DEPTH 150

enum {
	J_SMALL_OBJ = 0x00,
	J_LARGE_OBJ = 0x01,
	J_SMALL_ARR = 0x02,
	J_LARGE_ARR = 0x03,
	J_LITERAL = 0x04,
	J_INT16 = 0x05,
	J_UINT16 = 0x06,
	J_INT32 = 0x07,
	J_UINT32 = 0x08,
	J_INT64 = 0x09,
	J_UINT64 = 0x0a,
	J_DOUBLE = 0x0b,
	J_STRING = 0x0c,
	J_OPAQUE = 0x0f
};

typedef struct jout {
	dbs_buf *s;
	const char *why;
} jout;

static int put(jout *o, const void *d, size_t n)
{
	if (dbs_buf_append(o->s, d, n) != 0) {
		o->why = "out of memory";
		return -1;
	}
	return 0;
}

static int puts_(jout *o, const char *s)
{
	return put(o, s, strlen(s));
}

static uint64_t rd(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

static int put_string(jout *o, const uint8_t *s, size_t n)
{
	if (put(o, "\"", 1) != 0)
		return -1;
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		const char *esc = NULL;
		char u[8];
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c == '\b')
			esc = "\\b";
		else if (c == '\f')
			esc = "\\f";
		else if (c < 0x20) {
			snprintf(u, sizeof u, "\\u%04x", c);
			esc = u;
		}
		if (esc) {
			if (put(o, s + run, i - run) != 0 || puts_(o, esc) != 0)
				return -1;
			run = i + 1;
		}
	}
	if (put(o, s + run, n - run) != 0)
		return -1;
	return put(o, "\"", 1);
}

/* 7-bit variable-length size, at most 5 bytes. */
static int varlen(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 5; i++) {
		if (*p >= end)
			return -1;
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

static int put_double(jout *o, double d)
{
	char buf[40];
	/* The shortest text that reads back as the same double. */
	for (int prec = 1; prec <= 17; prec++) {
		int n = snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (n < 0 || (size_t)n >= sizeof buf)
			break;
		if (strtod(buf, NULL) == d || prec == 17)
			return put(o, buf, (size_t)n);
	}
	o->why = "bad double";
	return -1;
}

static int put_packed_time(jout *o, uint8_t ftype, int64_t packed)
{
	char buf[48];
	int neg = packed < 0;
	uint64_t a = neg ? (uint64_t)0 - (uint64_t)packed : (uint64_t)packed;
	uint64_t us = a & 0xffffff, hi = a >> 24;
	int n;
	if (ftype == MY_T_TIME) {
		uint64_t hms = hi;
		n = snprintf(buf, sizeof buf, "\"%s%02u:%02u:%02u.%06u\"", neg ? "-" : "",
		             (unsigned)((hms >> 12) & 0x3ff), (unsigned)((hms >> 6) & 63),
		             (unsigned)(hms & 63), (unsigned)us);
	} else {
		uint64_t ymd = hi >> 17, hms = hi & 0x1ffff, ym = ymd >> 5;
		if (ftype == MY_T_DATE)
			n = snprintf(buf, sizeof buf, "\"%04u-%02u-%02u\"", (unsigned)(ym / 13),
			             (unsigned)(ym % 13), (unsigned)(ymd & 31));
		else
			n = snprintf(buf, sizeof buf, "\"%04u-%02u-%02u %02u:%02u:%02u.%06u\"",
			             (unsigned)(ym / 13), (unsigned)(ym % 13), (unsigned)(ymd & 31),
			             (unsigned)(hms >> 12), (unsigned)((hms >> 6) & 63),
			             (unsigned)(hms & 63), (unsigned)us);
	}
	if (n < 0 || (size_t)n >= sizeof buf || us > 999999) {
		o->why = "bad temporal value in JSON";
		return -1;
	}
	return put(o, buf, (size_t)n);
}

static int put_opaque(jout *o, const uint8_t *p, const uint8_t *end)
{
	if (p >= end) {
		o->why = "truncated opaque value";
		return -1;
	}
	uint8_t ftype = *p++;
	uint64_t n;
	if (varlen(&p, end, &n) != 0 || n > (uint64_t)(end - p)) {
		o->why = "truncated opaque value";
		return -1;
	}
	if (ftype == MY_T_NEWDECIMAL) {
		char text[72];
		size_t used;
		if (n < 2) {
			o->why = "bad DECIMAL in JSON";
			return -1;
		}
		int tl = dbs__mysql_decimal_to_text(p + 2, (size_t)n - 2, p[0], p[1], text, &used);
		if (tl < 0) {
			o->why = "bad DECIMAL in JSON";
			return -1;
		}
		return put(o, text, (size_t)tl);
	}
	if (ftype == MY_T_DATE || ftype == MY_T_TIME || ftype == MY_T_DATETIME ||
	    ftype == MY_T_TIMESTAMP) {
		if (n < 8) {
			o->why = "bad temporal value in JSON";
			return -1;
		}
		return put_packed_time(o, ftype, (int64_t)rd(p, 8));
	}
	/* Anything else is shown as MySQL shows it: base64 with its type. */
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char head[32];
	int hl = snprintf(head, sizeof head, "\"base64:type%u:", ftype);
	if (hl < 0 || put(o, head, (size_t)hl) != 0)
		return -1;
	for (uint64_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63],
		             i + 1 < n ? b64[(v >> 6) & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
		if (put(o, q, 4) != 0)
			return -1;
	}
	return put(o, "\"", 1);
}

static int value(jout *o, uint8_t type, const uint8_t *p, const uint8_t *end, int depth);

/* An object or array whose element count starts at p, within [p, end). */
static int container(jout *o, int large, int is_obj, const uint8_t *p, const uint8_t *end,
                     int depth)
{
	unsigned w = large ? 4 : 2;
	if (depth > MAX_DEPTH) {
		o->why = "JSON nested too deeply";
		return -1;
	}
	if ((size_t)(end - p) < 2 * w) {
		o->why = "truncated JSON container";
		return -1;
	}
	uint64_t count = rd(p, w), size = rd(p + w, w);
	if (size > (uint64_t)(end - p) || size < 2 * w) {
		o->why = "JSON container size beyond its data";
		return -1;
	}
	end = p + size;
	uint64_t key_entry = is_obj ? w + 2 : 0, val_entry = 1 + w;
	if (count > (size - 2 * w) / (key_entry + val_entry)) {
		o->why = "JSON element count beyond its data";
		return -1;
	}
	if (put(o, is_obj ? "{" : "[", 1) != 0)
		return -1;
	const uint8_t *keys = p + 2 * w;
	const uint8_t *vals = keys + count * key_entry;
	for (uint64_t i = 0; i < count; i++) {
		if (i && put(o, ", ", 2) != 0)
			return -1;
		if (is_obj) {
			const uint8_t *ke = keys + i * key_entry;
			uint64_t koff = rd(ke, w), klen = rd(ke + w, 2);
			if (koff > size || klen > size - koff) {
				o->why = "JSON key beyond its object";
				return -1;
			}
			if (put_string(o, p + koff, (size_t)klen) != 0 || put(o, ": ", 2) != 0)
				return -1;
		}
		const uint8_t *ve = vals + i * val_entry;
		uint8_t t = ve[0];
		int inlined = t == J_LITERAL || t == J_INT16 || t == J_UINT16 ||
		              (large && (t == J_INT32 || t == J_UINT32));
		if (inlined) {
			if (value(o, t, ve + 1, ve + 1 + w, depth + 1) != 0)
				return -1;
		} else {
			uint64_t off = rd(ve + 1, w);
			if (off >= size) {
				o->why = "JSON value beyond its container";
				return -1;
			}
			if (value(o, t, p + off, end, depth + 1) != 0)
				return -1;
		}
	}
	return put(o, is_obj ? "}" : "]", 1);
}

static int value(jout *o, uint8_t type, const uint8_t *p, const uint8_t *end, int depth)
{
	char buf[32];
	int n;
	size_t avail = (size_t)(end - p);
	switch (type) {
	case J_SMALL_OBJ:
	case J_LARGE_OBJ: return container(o, type == J_LARGE_OBJ, 1, p, end, depth);
	case J_SMALL_ARR:
	case J_LARGE_ARR: return container(o, type == J_LARGE_ARR, 0, p, end, depth);
	case J_LITERAL:
		if (avail < 1)
			break;
		if (p[0] == 0)
			return puts_(o, "null");
		if (p[0] == 1)
			return puts_(o, "true");
		if (p[0] == 2)
			return puts_(o, "false");
		o->why = "bad JSON literal";
		return -1;
	case J_INT16:
	case J_UINT16:
		if (avail < 2)
			break;
		n = type == J_INT16 ? snprintf(buf, sizeof buf, "%d", (int16_t)rd(p, 2))
		                    : snprintf(buf, sizeof buf, "%u", (unsigned)rd(p, 2));
		return put(o, buf, (size_t)n);
	case J_INT32:
	case J_UINT32:
		if (avail < 4)
			break;
		n = type == J_INT32 ? snprintf(buf, sizeof buf, "%" PRId32, (int32_t)rd(p, 4))
		                    : snprintf(buf, sizeof buf, "%" PRIu32, (uint32_t)rd(p, 4));
		return put(o, buf, (size_t)n);
	case J_INT64:
	case J_UINT64:
		if (avail < 8)
			break;
		n = type == J_INT64 ? snprintf(buf, sizeof buf, "%" PRId64, (int64_t)rd(p, 8))
		                    : snprintf(buf, sizeof buf, "%" PRIu64, rd(p, 8));
		return put(o, buf, (size_t)n);
	case J_DOUBLE: {
		if (avail < 8)
			break;
		uint64_t b = rd(p, 8);
		double d;
		memcpy(&d, &b, 8);
		return put_double(o, d);
	}
	case J_STRING: {
		uint64_t l;
		if (varlen(&p, end, &l) != 0 || l > (uint64_t)(end - p))
			break;
		return put_string(o, p, (size_t)l);
	}
	case J_OPAQUE: return put_opaque(o, p, end);
	default: o->why = "unknown JSON value type"; return -1;
	}
	o->why = "truncated JSON value";
	return -1;
}

int dbs__mysql_json_to_text(const uint8_t *data, size_t len, dbs_buf *out, size_t *outlen,
                            const char **why)
{
	jout o = {out, NULL};
	dbs_buf_reset(out);
	int rc = -1;
	if (len < 1)
		o.why = "empty JSON value";
	else
		rc = value(&o, data[0], data + 1, data + len, 0);
	if (rc != 0) {
		*why = o.why ? o.why : "malformed JSON";
		return -1;
	}
	*outlen = out->len;
	return 0;
}
