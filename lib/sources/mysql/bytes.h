/*
 * Byte reading shared by the binlog decoders of the MySQL source
 * (tablemap.c, rows.c, decimal.c): integers in either byte order,
 * length-encoded integers, bitmaps, and the decoder's scratch buffer.
 */
#ifndef DBS_SOURCES_MYSQL_BYTES_H
#define DBS_SOURCES_MYSQL_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/sys/buf.h>

static inline uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Length-encoded integer; 0 or -1 when truncated or the NULL marker. */
static inline int lenenc(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	if (*p >= end)
		return -1;
	uint8_t b = **p;
	unsigned n = b < 0xfb ? 0 : b == 0xfc ? 2 : b == 0xfd ? 3 : b == 0xfe ? 8 : 99;
	if (n == 99 || (size_t)(end - *p) < 1 + (size_t)n)
		return -1;
	*out = n ? le(*p + 1, n) : b;
	*p += 1 + n;
	return 0;
}

static inline int bit_set(const uint8_t *bitmap, uint32_t i)
{
	return (bitmap[i / 8] >> (i % 8)) & 1;
}

/* The scratch buffer as `need` bytes of room from its start: a value is
 * built there and copied out before the next one. */
static inline int scratch_room(dbs_buf *s, size_t need)
{
	dbs_buf_reset(s);
	return dbs_buf_reserve(s, need);
}

#endif
