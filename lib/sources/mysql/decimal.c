/*
 * MySQL's binary NEWDECIMAL to its exact text: nine decimal digits per
 * four big-endian bytes, the leftover digits of each side in fewer, the
 * sign in the top bit (negative values stored inverted). Used by the row
 * decoder and by binary JSON, which embeds decimals the same way.
 */
#include <stdint.h>
#include <string.h>

#include "sources/mysql/binlog.h"
#include "sources/mysql/bytes.h"

static const unsigned dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

int dbs__mysql_decimal_to_text(const uint8_t *p, size_t avail, unsigned precision, unsigned scale,
                               char *out, size_t *bytes)
{
	if (precision == 0 || precision > 65 || scale > 30 || scale > precision)
		return -1;
	unsigned intg = precision - scale;
	unsigned intg0 = intg / 9, intg_x = intg % 9;
	unsigned frac0 = scale / 9, frac_x = scale % 9;
	size_t size = intg0 * 4 + dig2bytes[intg_x] + frac0 * 4 + dig2bytes[frac_x];
	if (size > avail || size == 0)
		return -1;
	uint8_t buf[40];
	memcpy(buf, p, size);
	int negative = !(buf[0] & 0x80);
	buf[0] ^= 0x80;
	if (negative)
		for (size_t i = 0; i < size; i++)
			buf[i] = (uint8_t)~buf[i];
	size_t o = 0, q = 0;
	if (negative)
		out[o++] = '-';
	size_t digits_start = o;
	int started = 0;
	/* Integer part: leading partial group, then full groups. */
	unsigned groups[8];
	unsigned widths[8];
	unsigned ng = 0;
	if (intg_x) {
		groups[ng] = (unsigned)be(buf + q, dig2bytes[intg_x]);
		widths[ng++] = intg_x;
		q += dig2bytes[intg_x];
	}
	for (unsigned g = 0; g < intg0; g++) {
		groups[ng] = (unsigned)be(buf + q, 4);
		widths[ng++] = 9;
		q += 4;
	}
	for (unsigned g = 0; g < ng; g++) {
		char tmp[10];
		unsigned v = groups[g];
		if (v >= 1000000000u || widths[g] > sizeof tmp)
			return -1;
		for (int k = (int)widths[g] - 1; k >= 0; k--) {
			tmp[k] = (char)('0' + v % 10);
			v /= 10;
		}
		if (v != 0)
			return -1;
		for (unsigned k = 0; k < widths[g]; k++) {
			if (!started && tmp[k] == '0')
				continue;
			started = 1;
			out[o++] = tmp[k];
		}
	}
	if (!started)
		out[o++] = '0';
	if (scale) {
		out[o++] = '.';
		for (unsigned g = 0; g < frac0 + (frac_x ? 1 : 0); g++) {
			unsigned w = g < frac0 ? 9 : frac_x;
			unsigned nbytes = g < frac0 ? 4 : dig2bytes[frac_x];
			unsigned v = (unsigned)be(buf + q, nbytes);
			q += nbytes;
			char tmp[10];
			if (w > sizeof tmp)
				return -1;
			for (int k = (int)w - 1; k >= 0; k--) {
				tmp[k] = (char)('0' + v % 10);
				v /= 10;
			}
			if (v != 0)
				return -1;
			memcpy(out + o, tmp, w);
			o += w;
		}
	}
	/* "-0.00" is written by MySQL as "0.00"; keep the sign only when a
	 * digit is nonzero. */
	if (negative) {
		int nonzero = 0;
		for (size_t k = digits_start; k < o; k++)
			if (out[k] >= '1' && out[k] <= '9')
				nonzero = 1;
		if (!nonzero) {
			memmove(out, out + 1, o - 1);
			o--;
		}
	}
	*bytes = size;
	return (int)o;
}
