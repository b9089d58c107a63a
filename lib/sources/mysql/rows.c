/*
 * ROWS events and row-image decoding (see binlog.h for the value mapping).
 *
 * Byte order: integers in row images are little-endian except the
 * temporal "2" types, DECIMAL and BIT, which MySQL stores big-endian so
 * they sort as bytes.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/binlog.h"
#include "sources/mysql/bytes.h"

/* ---- ROWS events ---- */

int dbs__mysql_rows_parse(dbs_mysql_rows *out, unsigned event_type, const uint8_t *body, size_t len,
                          char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	const uint8_t *p = body, *end = body + len;
	int v2;
	switch (event_type) {
	case 23:
		out->op = DBS_OP_INSERT;
		v2 = 0;
		break;
	case 24:
		out->op = DBS_OP_UPDATE;
		v2 = 0;
		break;
	case 25:
		out->op = DBS_OP_DELETE;
		v2 = 0;
		break;
	case 30:
		out->op = DBS_OP_INSERT;
		v2 = 1;
		break;
	case 31:
		out->op = DBS_OP_UPDATE;
		v2 = 1;
		break;
	case 32:
		out->op = DBS_OP_DELETE;
		v2 = 1;
		break;
	default: dbs_fmt(err, errlen, "not a rows event: type %u", event_type); return DBS_EPROTO;
	}
	if (len < 8)
		goto bad;
	out->table_id = le(p, 6);
	out->flags = (uint16_t)le(p + 6, 2);
	p += 8;
	if (v2) {
		if (end - p < 2)
			goto bad;
		size_t xl = (size_t)le(p, 2); /* includes its own two bytes */
		if (xl < 2 || (size_t)(end - p) < xl)
			goto bad;
		p += xl;
	}
	uint64_t n;
	if (lenenc(&p, end, &n) != 0 || n == 0 || n > 4096)
		goto bad;
	out->ncols = (uint32_t)n;
	size_t nb = (out->ncols + 7) / 8;
	if ((size_t)(end - p) < nb)
		goto bad;
	out->present = p;
	p += nb;
	if (out->op == DBS_OP_UPDATE) {
		if ((size_t)(end - p) < nb)
			goto bad;
		out->present_after = p;
		p += nb;
	}
	out->data = p;
	out->len = (size_t)(end - p);
	if (out->len == 0) /* a rows event carries at least one row */
		goto bad;
	return 0;
bad:
	dbs_fmt(err, errlen, "rows event for table id %" PRIu64 ": truncated header",
	         out->table_id);
	return DBS_EPROTO;
}

/* ---- values ---- */

static int fsp_bytes(unsigned fsp)
{
	return (int)((fsp + 1) / 2);
}

/* Fraction of a second stored big-endian in (fsp+1)/2 bytes, as µs. */
static uint32_t frac_usec(const uint8_t *p, unsigned fsp)
{
	switch (fsp) {
	case 1:
	case 2: return (uint32_t)p[0] * 10000u;
	case 3:
	case 4: return (uint32_t)be(p, 2) * 100u;
	case 5:
	case 6: return (uint32_t)be(p, 3);
	default: return 0;
	}
}

typedef struct decode_ctx {
	dbs_batch *batch;
	dbs_buf *scratch;
	const char *why; /* reason of the last failure */
	int nomem;
} decode_ctx;

static int put_bytes(decode_ctx *x, dbs_value *v, dbs_value_kind kind, const void *d, size_t len)
{
	if (len > UINT32_MAX) {
		x->why = "value larger than 4 GiB";
		return -1;
	}
	if (dbs_batch_set_bytes(x->batch, v, kind, d, len) != 0) {
		x->nomem = 1;
		x->why = "out of memory";
		return -1;
	}
	return 0;
}

static int put_text(decode_ctx *x, dbs_mysql_col *c, dbs_value *v, const uint8_t *d, size_t len)
{
	if (c->cs == DBS_MYSQL_CS_UTF8 || c->cs == DBS_MYSQL_CS_UNKNOWN)
		return put_bytes(x, v, DBS_VALUE_TEXT, d, len);
	if (c->cs == DBS_MYSQL_CS_BINARY)
		return put_bytes(x, v, DBS_VALUE_BYTES, d, len);
	size_t ol;
	const char *why = dbs__mysql_to_utf8(c, d, len, x->scratch, &ol);
	if (why) {
		x->why = why;
		return -1;
	}
	return put_bytes(x, v, DBS_VALUE_TEXT, x->scratch->data, ol);
}

#define NEED(n)                                                                                    \
	do {                                                                                       \
		if ((size_t)(end - p) < (size_t)(n)) {                                             \
			x->why = "value truncated";                                                \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

static const uint64_t pow10_[7] = {1, 10, 100, 1000, 10000, 100000, 1000000};

/* MariaDB 5.3 hires temporals: big-endian integers of the value scaled to
 * `dec` fraction digits (see binlog.h). */
static long decode_hires(decode_ctx *x, dbs_mysql_col *c, const uint8_t *p, const uint8_t *end,
                         dbs_value *v)
{
	static const unsigned dt_bytes[7] = {5, 6, 6, 7, 7, 7, 8};
	static const unsigned tm_bytes[7] = {3, 4, 4, 5, 5, 5, 6};
	static const unsigned frac_bytes[7] = {0, 1, 1, 2, 2, 3, 3};
	unsigned dec = c->hires_dec;
	uint64_t scale = pow10_[6 - dec];
	memset(&v->v.t, 0, sizeof v->v.t);
	if (c->real_type == MY_T_DATETIME) {
		NEED(dt_bytes[dec]);
		uint64_t packed = be(p, dt_bytes[dec]) * scale;
		v->kind = DBS_VALUE_DATETIME;
		v->v.t.usec = (uint32_t)(packed % 1000000);
		packed /= 1000000;
		v->v.t.second = (uint8_t)(packed % 60);
		packed /= 60;
		v->v.t.minute = (uint8_t)(packed % 60);
		packed /= 60;
		v->v.t.hour = (uint16_t)(packed % 24);
		packed /= 24;
		v->v.t.day = (uint8_t)(packed % 32);
		packed /= 32;
		v->v.t.month = (uint8_t)(packed % 13);
		v->v.t.year = (int32_t)(packed / 13);
		if (v->v.t.year > 9999) {
			x->why = "DATETIME out of range";
			return -1;
		}
		return dt_bytes[dec];
	}
	if (c->real_type == MY_T_TIME) {
		NEED(tm_bytes[dec]);
		const int64_t zero =
		    (INT64_C(838) * 3600 + 59 * 60 + 59 + 1) * 1000000 / (int64_t)scale;
		int64_t packed = ((int64_t)be(p, tm_bytes[dec]) - zero) * (int64_t)scale;
		v->kind = DBS_VALUE_TIME;
		if (packed < 0) {
			v->v.t.negative = 1;
			packed = -packed;
		}
		v->v.t.usec = (uint32_t)(packed % 1000000);
		packed /= 1000000;
		if (packed / 3600 > 0xffff) {
			x->why = "TIME out of range";
			return -1;
		}
		v->v.t.second = (uint8_t)(packed % 60);
		v->v.t.minute = (uint8_t)(packed / 60 % 60);
		v->v.t.hour = (uint16_t)(packed / 3600);
		return tm_bytes[dec];
	}
	NEED(4 + frac_bytes[dec]);
	uint64_t secs = be(p, 4);
	uint64_t us = be(p + 4, frac_bytes[dec]) * scale;
	if (us > 999999) {
		x->why = "fraction out of range";
		return -1;
	}
	v->kind = DBS_VALUE_TIMESTAMP;
	if (secs != 0) {
		time_t tt = (time_t)secs;
		struct tm tmv;
		if (!gmtime_r(&tt, &tmv)) {
			x->why = "timestamp out of range";
			return -1;
		}
		v->v.t.year = tmv.tm_year + 1900;
		v->v.t.month = (uint8_t)(tmv.tm_mon + 1);
		v->v.t.day = (uint8_t)tmv.tm_mday;
		v->v.t.hour = (uint16_t)tmv.tm_hour;
		v->v.t.minute = (uint8_t)tmv.tm_min;
		v->v.t.second = (uint8_t)tmv.tm_sec;
	}
	v->v.t.usec = (uint32_t)us;
	return 4 + frac_bytes[dec];
}

/* Decode one non-NULL value at p; returns bytes used or -1. */
static long decode_value(decode_ctx *x, dbs_mysql_col *c, const uint8_t *p, const uint8_t *end,
                         dbs_value *v)
{
	const uint8_t *start = p;
	unsigned meta = c->meta;
	if (c->hires_dec) {
		if (c->hires_dec > 6 ||
		    (c->real_type != MY_T_DATETIME && c->real_type != MY_T_TIME &&
		     c->real_type != MY_T_TIMESTAMP)) {
			x->why = "bad fractional precision";
			return -1;
		}
		return decode_hires(x, c, p, end, v);
	}
	switch (c->real_type) {
	case MY_T_TINY:
	case MY_T_SHORT:
	case MY_T_INT24:
	case MY_T_LONG:
	case MY_T_LONGLONG: {
		unsigned n = c->real_type == MY_T_TINY    ? 1
		             : c->real_type == MY_T_SHORT ? 2
		             : c->real_type == MY_T_INT24 ? 3
		             : c->real_type == MY_T_LONG  ? 4
		                                          : 8;
		NEED(n);
		uint64_t u = le(p, n);
		p += n;
		if (c->is_unsigned) {
			v->kind = DBS_VALUE_UINT;
			v->v.u = u;
		} else {
			unsigned shift = 64 - 8 * n;
			v->kind = DBS_VALUE_INT;
			v->v.i = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
		}
		break;
	}
	case MY_T_YEAR:
		NEED(1);
		v->kind = DBS_VALUE_INT;
		v->v.i = p[0] ? 1900 + p[0] : 0;
		p += 1;
		break;
	case MY_T_FLOAT: {
		NEED(4);
		uint32_t b = (uint32_t)le(p, 4);
		float f;
		memcpy(&f, &b, 4);
		v->kind = DBS_VALUE_DOUBLE;
		v->v.d = f;
		p += 4;
		break;
	}
	case MY_T_DOUBLE: {
		NEED(8);
		uint64_t b = le(p, 8);
		double d;
		memcpy(&d, &b, 8);
		v->kind = DBS_VALUE_DOUBLE;
		v->v.d = d;
		p += 8;
		break;
	}
	case MY_T_NEWDECIMAL: {
		char text[72];
		size_t used;
		int tl = dbs__mysql_decimal_to_text(p, (size_t)(end - p), meta >> 8, meta & 0xff,
		                                    text, &used);
		if (tl < 0) {
			x->why = "malformed DECIMAL";
			return -1;
		}
		if (put_bytes(x, v, DBS_VALUE_DECIMAL, text, (size_t)tl) != 0)
			return -1;
		p += used;
		break;
	}
	case MY_T_DATE:
	case MY_T_NEWDATE: {
		NEED(3);
		uint32_t d = (uint32_t)le(p, 3);
		p += 3;
		v->kind = DBS_VALUE_DATE;
		v->v.t.day = (uint8_t)(d & 31);
		v->v.t.month = (uint8_t)((d >> 5) & 15);
		v->v.t.year = (int32_t)(d >> 9);
		break;
	}
	case MY_T_TIME: { /* before 5.6: signed HHMMSS */
		NEED(3);
		int32_t t = (int32_t)(le(p, 3) << 8) >> 8;
		p += 3;
		v->kind = DBS_VALUE_TIME;
		if (t < 0) {
			v->v.t.negative = 1;
			t = -t;
		}
		v->v.t.hour = (uint16_t)(t / 10000);
		v->v.t.minute = (uint8_t)(t / 100 % 100);
		v->v.t.second = (uint8_t)(t % 100);
		break;
	}
	case MY_T_DATETIME: { /* before 5.6: YYYYMMDDhhmmss */
		NEED(8);
		uint64_t t = le(p, 8);
		p += 8;
		v->kind = DBS_VALUE_DATETIME;
		v->v.t.second = (uint8_t)(t % 100);
		v->v.t.minute = (uint8_t)(t / 100 % 100);
		v->v.t.hour = (uint16_t)(t / 10000 % 100);
		v->v.t.day = (uint8_t)(t / 1000000 % 100);
		v->v.t.month = (uint8_t)(t / 100000000 % 100);
		v->v.t.year = (int32_t)(t / 10000000000ull % 10000);
		break;
	}
	case MY_T_TIMESTAMP:
	case MY_T_TIMESTAMP2: {
		unsigned fsp = c->real_type == MY_T_TIMESTAMP2 ? meta : 0;
		if (fsp > 6) {
			x->why = "fractional precision above 6";
			return -1;
		}
		NEED(4 + fsp_bytes(fsp));
		uint64_t secs = c->real_type == MY_T_TIMESTAMP2 ? be(p, 4) : le(p, 4);
		uint32_t us = frac_usec(p + 4, fsp);
		p += 4 + fsp_bytes(fsp);
		if (us > 999999) {
			x->why = "fraction out of range";
			return -1;
		}
		v->kind = DBS_VALUE_TIMESTAMP;
		memset(&v->v.t, 0, sizeof v->v.t);
		if (secs != 0) { /* 0 is the zero timestamp, kept as zero fields */
			time_t tt = (time_t)secs;
			struct tm tmv;
			if (!gmtime_r(&tt, &tmv)) {
				x->why = "timestamp out of range";
				return -1;
			}
			v->v.t.year = tmv.tm_year + 1900;
			v->v.t.month = (uint8_t)(tmv.tm_mon + 1);
			v->v.t.day = (uint8_t)tmv.tm_mday;
			v->v.t.hour = (uint16_t)tmv.tm_hour;
			v->v.t.minute = (uint8_t)tmv.tm_min;
			v->v.t.second = (uint8_t)tmv.tm_sec;
		}
		v->v.t.usec = us;
		break;
	}
	case MY_T_DATETIME2: {
		if (meta > 6) {
			x->why = "fractional precision above 6";
			return -1;
		}
		NEED(5 + fsp_bytes(meta));
		int64_t packed = (int64_t)be(p, 5) - INT64_C(0x8000000000);
		uint32_t us = frac_usec(p + 5, meta);
		p += 5 + fsp_bytes(meta);
		if (packed < 0 || us > 999999) {
			x->why = "DATETIME out of range";
			return -1;
		}
		uint64_t ymd = (uint64_t)packed >> 17, hms = (uint64_t)packed & 0x1ffff;
		uint64_t ym = ymd >> 5;
		v->kind = DBS_VALUE_DATETIME;
		v->v.t.year = (int32_t)(ym / 13);
		v->v.t.month = (uint8_t)(ym % 13);
		v->v.t.day = (uint8_t)(ymd & 31);
		v->v.t.hour = (uint16_t)(hms >> 12);
		v->v.t.minute = (uint8_t)((hms >> 6) & 63);
		v->v.t.second = (uint8_t)(hms & 63);
		v->v.t.usec = us;
		break;
	}
	case MY_T_TIME2: {
		if (meta > 6) {
			x->why = "fractional precision above 6";
			return -1;
		}
		NEED(3 + fsp_bytes(meta));
		int64_t packed;
		if (meta >= 5) {
			packed = (int64_t)be(p, 6) - INT64_C(0x800000000000);
		} else {
			int64_t intpart = (int64_t)be(p, 3) - 0x800000;
			int64_t frac = 0;
			if (meta >= 3) {
				frac = (int64_t)be(p + 3, 2);
				if (intpart < 0 && frac) {
					intpart++;
					frac -= 0x10000;
				}
				frac *= 100;
			} else if (meta >= 1) {
				frac = p[3];
				if (intpart < 0 && frac) {
					intpart++;
					frac -= 0x100;
				}
				frac *= 10000;
			}
			packed = intpart * (INT64_C(1) << 24) + frac;
		}
		p += 3 + fsp_bytes(meta);
		v->kind = DBS_VALUE_TIME;
		if (packed < 0) {
			v->v.t.negative = 1;
			packed = -packed;
		}
		uint64_t hms = (uint64_t)packed >> 24;
		uint64_t us = (uint64_t)packed & 0xffffff;
		if (us > 999999) {
			x->why = "TIME fraction out of range";
			return -1;
		}
		v->v.t.hour = (uint16_t)((hms >> 12) & 0x3ff);
		v->v.t.minute = (uint8_t)((hms >> 6) & 63);
		v->v.t.second = (uint8_t)(hms & 63);
		v->v.t.usec = (uint32_t)us;
		break;
	}
	case MY_T_BIT: {
		unsigned n = (meta & 0xff) + ((meta >> 8) ? 1 : 0);
		if (n > 8) {
			x->why = "BIT wider than 64";
			return -1;
		}
		NEED(n);
		v->kind = DBS_VALUE_UINT;
		v->v.u = be(p, n);
		p += n;
		break;
	}
	case MY_T_ENUM:
	case MY_T_SET: {
		unsigned n = meta & 0xff;
		if (n < 1 || n > 8 || (c->real_type == MY_T_ENUM && n > 2)) {
			x->why = "bad ENUM/SET storage size";
			return -1;
		}
		NEED(n);
		uint64_t u = le(p, n);
		p += n;
		if (!c->members) {
			x->why = "ENUM/SET member names missing (binlog_row_metadata=FULL needed)";
			return -1;
		}
		if (c->real_type == MY_T_ENUM) {
			if (u == 0) { /* the error value '' of an invalid insert */
				if (put_bytes(x, v, DBS_VALUE_TEXT, "", 0) != 0)
					return -1;
				break;
			}
			if (u > c->nmembers) {
				x->why = "ENUM index beyond the member list";
				return -1;
			}
			if (put_bytes(x, v, DBS_VALUE_TEXT, c->members[u - 1],
			              c->member_lens[u - 1]) != 0)
				return -1;
			break;
		}
		size_t total = 0;
		for (uint32_t k = 0; k < 64; k++) {
			if (!((u >> k) & 1))
				continue;
			if (k >= c->nmembers) {
				x->why = "SET bit beyond the member list";
				return -1;
			}
			total += c->member_lens[k] + 1;
		}
		if (scratch_room(x->scratch, total + 1) != 0) {
			x->nomem = 1;
			x->why = "out of memory";
			return -1;
		}
		size_t o = 0;
		for (uint32_t k = 0; k < 64 && k < c->nmembers; k++) {
			if (!((u >> k) & 1))
				continue;
			if (o)
				x->scratch->data[o++] = ',';
			memcpy(x->scratch->data + o, c->members[k], c->member_lens[k]);
			o += c->member_lens[k];
		}
		if (put_bytes(x, v, DBS_VALUE_TEXT, x->scratch->data, o) != 0)
			return -1;
		break;
	}
	case MY_T_STRING:
	case MY_T_VARCHAR:
	case MY_T_VAR_STRING: {
		unsigned lb = meta > 255 ? 2 : 1;
		NEED(lb);
		size_t l = (size_t)le(p, lb);
		p += lb;
		NEED(l);
		if (c->real_type == MY_T_STRING && c->cs == DBS_MYSQL_CS_BINARY && l < meta) {
			/* BINARY(n) is logged without its 0x00 padding; restore it. */
			if (scratch_room(x->scratch, meta) != 0) {
				x->nomem = 1;
				x->why = "out of memory";
				return -1;
			}
			memcpy(x->scratch->data, p, l);
			memset(x->scratch->data + l, 0, meta - l);
			if (put_bytes(x, v, DBS_VALUE_BYTES, x->scratch->data, meta) != 0)
				return -1;
		} else if (put_text(x, c, v, p, l) != 0) {
			return -1;
		}
		p += l;
		break;
	}
	case MY_T_BLOB:
	case MY_T_TINY_BLOB:
	case MY_T_MEDIUM_BLOB:
	case MY_T_LONG_BLOB:
	case MY_T_GEOMETRY:
	case MY_T_JSON: {
		unsigned lb = meta;
		if (lb < 1 || lb > 4) {
			x->why = "bad BLOB length size";
			return -1;
		}
		NEED(lb);
		size_t l = (size_t)le(p, lb);
		p += lb;
		NEED(l);
		if (c->real_type == MY_T_GEOMETRY) {
			if (put_bytes(x, v, DBS_VALUE_BYTES, p, l) != 0)
				return -1;
		} else if (c->real_type == MY_T_JSON) {
			size_t ol = 0;
			const char *why = NULL;
			if (l == 0) {
				if (put_bytes(x, v, DBS_VALUE_JSON, "null", 4) != 0)
					return -1;
			} else if (dbs__mysql_json_to_text(p, l, x->scratch, &ol, &why) != 0) {
				x->why = why;
				return -1;
			} else if (put_bytes(x, v, DBS_VALUE_JSON, x->scratch->data, ol) != 0) {
				return -1;
			}
		} else if (put_text(x, c, v, p, l) != 0) {
			return -1;
		}
		p += l;
		break;
	}
	case MY_T_NULL: v->kind = DBS_VALUE_NULL; break;
	default: x->why = "unsupported column type"; return -1;
	}
	return (long)(p - start);
}

static const char *col_label(const dbs_mysql_col *c, uint32_t i, char *buf, size_t n)
{
	if (c->name)
		return c->name;
	dbs_fmt(buf, n, "#%u", i + 1);
	return buf;
}

/* One image: null bitmap over the present columns, then their values. */
static int decode_image(const dbs_mysql_tablemap *tm, const uint8_t *present, const uint8_t **pp,
                        const uint8_t *end, dbs_value *img, dbs_value_kind absent, decode_ctx *x,
                        uint32_t *bad_col)
{
	const uint8_t *p = *pp;
	uint32_t npresent = 0;
	for (uint32_t i = 0; i < tm->ncols; i++)
		npresent += (uint32_t)bit_set(present, i);
	size_t nb = (npresent + 7) / 8;
	if ((size_t)(end - p) < nb) {
		x->why = "null bitmap truncated";
		*bad_col = UINT32_MAX;
		return -1;
	}
	const uint8_t *nulls = p;
	p += nb;
	uint32_t k = 0;
	for (uint32_t i = 0; i < tm->ncols; i++) {
		dbs_value *v = img ? &img[i] : NULL;
		dbs_value scratch_v;
		if (!v)
			v = &scratch_v;
		memset(v, 0, sizeof *v);
		if (!bit_set(present, i)) {
			if (absent == (dbs_value_kind)-1) {
				x->why = "column missing from the row image (binlog_row_image must "
				         "be FULL)";
				*bad_col = i;
				return -1;
			}
			v->kind = (uint8_t)absent;
			continue;
		}
		int is_null = bit_set(nulls, k);
		k++;
		if (is_null) {
			v->kind = DBS_VALUE_NULL;
			continue;
		}
		long used = decode_value(x, (dbs_mysql_col *)&tm->cols[i], p, end, v);
		if (used < 0) {
			*bad_col = i;
			return -1;
		}
		p += used;
	}
	*pp = p;
	return 0;
}

int dbs__mysql_row_decode(const dbs_mysql_tablemap *tm, const dbs_mysql_rows *rows, size_t *offset,
                          dbs_value *before, dbs_value *after, dbs_batch *batch,
                          dbs_buf *scratch, char *err, size_t errlen)
{
	decode_ctx x = {batch, scratch, NULL, 0};
	uint32_t bad = UINT32_MAX;
	const uint8_t *p = rows->data + *offset, *end = rows->data + rows->len;
	if (rows->ncols != tm->ncols) {
		dbs_fmt(err, errlen, "%s.%s: rows event has %u columns, TABLE_MAP %u", tm->db,
		         tm->table, rows->ncols, tm->ncols);
		return DBS_EPROTO;
	}
	if (*offset >= rows->len) {
		dbs_fmt(err, errlen, "%s.%s: no row left in the rows event", tm->db, tm->table);
		return DBS_EPROTO;
	}
	int r;
	switch (rows->op) {
	case DBS_OP_INSERT:
		r = decode_image(tm, rows->present, &p, end, after, (dbs_value_kind)-1, &x, &bad);
		break;
	case DBS_OP_DELETE:
		r = decode_image(tm, rows->present, &p, end, before, DBS_VALUE_NULL, &x, &bad);
		break;
	default:
		r = decode_image(tm, rows->present, &p, end, before, DBS_VALUE_NULL, &x, &bad);
		if (r == 0)
			r = decode_image(tm, rows->present_after, &p, end, after,
			                 DBS_VALUE_UNCHANGED, &x, &bad);
		break;
	}
	if (r != 0) {
		char lb[16];
		if (bad == UINT32_MAX)
			dbs_fmt(err, errlen, "%s.%s: %s", tm->db, tm->table, x.why);
		else
			dbs_fmt(err, errlen, "%s.%s column %s (type %u): %s", tm->db, tm->table,
			         col_label(&tm->cols[bad], bad, lb, sizeof lb),
			         tm->cols[bad].real_type, x.why ? x.why : "malformed");
		return x.nomem ? DBS_ENOMEM : DBS_EPROTO;
	}
	*offset = (size_t)(p - rows->data);
	return 0;
}
