/*
 * TABLE_MAP and row-image decoding (see binlog.h for the value mapping).
 *
 * Byte order: integers in row images are little-endian except the
 * temporal "2" types, DECIMAL and BIT, which MySQL stores big-endian so
 * they sort as bytes.
 */
#include <iconv.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "sources/mysql/binlog.h"

#define COLLATION_BINARY 63

/* ---- small helpers ---- */

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Length-encoded integer; 0 or -1 when truncated or the NULL marker. */
static int lenenc(const uint8_t **p, const uint8_t *end, uint64_t *out)
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

static int bit_set(const uint8_t *bitmap, uint32_t i)
{
	return (bitmap[i / 8] >> (i % 8)) & 1;
}

/* The scratch buffer as `need` bytes of room from its start: a value is
 * built there and copied out before the next one. */
static int scratch_room(dbs_buf *s, size_t need)
{
	dbs_buf_reset(s);
	return dbs_buf_reserve(s, need);
}

/* ---- table map memory: a list of blocks freed together ---- */

typedef struct mem_block {
	struct mem_block *next;
	max_align_t data[];
} mem_block;

static void *tm_alloc(dbs_mysql_tablemap *tm, size_t size)
{
	if (size > SIZE_MAX - sizeof(mem_block))
		return NULL;
	mem_block *b = calloc(1, sizeof(mem_block) + (size ? size : 1));
	if (!b)
		return NULL;
	b->next = tm->mem_;
	tm->mem_ = b;
	return b->data;
}

static char *tm_strndup(dbs_mysql_tablemap *tm, const void *s, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	char *d = tm_alloc(tm, len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

void dbs__mysql_tablemap_free(dbs_mysql_tablemap *tm)
{
	if (!tm)
		return;
	for (uint32_t i = 0; tm->cols && i < tm->ncols; i++) {
		void *cd = tm->cols[i].iconv_cd;
		if (cd && cd != (void *)-1)
			iconv_close((iconv_t)cd);
	}
	mem_block *b = tm->mem_;
	while (b) {
		mem_block *n = b->next;
		free(b);
		b = n;
	}
	memset(tm, 0, sizeof *tm);
}

/* ---- charsets ---- */

static const char *builtin_charset(uint32_t id)
{
	if (id == COLLATION_BINARY)
		return "binary";
	if (id == 33 || id == 83 || (id >= 192 && id <= 215) || id == 223)
		return "utf8mb3";
	if (id == 45 || id == 46 || (id >= 224 && id <= 247) || (id >= 255 && id <= 323))
		return "utf8mb4";
	if (id == 5 || id == 8 || id == 15 || id == 31 || id == 47 || id == 48 || id == 49 ||
	    id == 94)
		return "latin1";
	if (id == 11 || id == 65)
		return "ascii";
	return NULL;
}

/* MySQL charset names that iconv spells differently. */
static const char *iconv_name(const char *cs)
{
	static const char *const map[][2] = {
	    {"latin2", "ISO-8859-2"},
	    {"latin5", "ISO-8859-9"},
	    {"latin7", "ISO-8859-13"},
	    {"greek", "ISO-8859-7"},
	    {"hebrew", "ISO-8859-8"},
	    {"koi8r", "KOI8-R"},
	    {"koi8u", "KOI8-U"},
	    {"sjis", "SHIFT_JIS"},
	    {"ujis", "EUC-JP"},
	    {"eucjpms", "EUC-JP-MS"},
	    {"euckr", "EUC-KR"},
	    {"ucs2", "UCS-2BE"},
	    {"utf16", "UTF-16BE"},
	    {"utf16le", "UTF-16LE"},
	    {"utf32", "UTF-32BE"},
	    {"macroman", "MACINTOSH"},
	    {"macce", "MAC-CENTRALEUROPE"},
	    {"armscii8", "ARMSCII-8"},
	    {"geostd8", "GEORGIAN-PS"},
	    {"tis620", "TIS-620"},
	    {"cp932", "CP932"},
	    {"gb18030", "GB18030"},
	    {"gb2312", "GB2312"},
	    {"gbk", "GBK"},
	    {"big5", "BIG5"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(cs, map[i][0]) == 0)
			return map[i][1];
	return cs; /* cp1250, cp1251, cp850, ... are iconv names as they are */
}

static void set_charset(dbs_mysql_col *c, uint32_t collation, dbs_mysql_charset_fn fn, void *ctx)
{
	c->collation = collation;
	const char *name = builtin_charset(collation);
	if (!name && fn)
		name = fn(collation, ctx);
	if (!name) {
		c->cs = DBS_MYSQL_CS_UNKNOWN;
		return;
	}
	if (!strcmp(name, "utf8mb4") || !strcmp(name, "utf8mb3") || !strcmp(name, "utf8") ||
	    !strcmp(name, "ascii"))
		c->cs = DBS_MYSQL_CS_UTF8;
	else if (!strcmp(name, "binary"))
		c->cs = DBS_MYSQL_CS_BINARY;
	else if (!strcmp(name, "latin1"))
		c->cs = DBS_MYSQL_CS_LATIN1;
	else {
		c->cs = DBS_MYSQL_CS_ICONV;
		c->charset = iconv_name(name);
	}
}

/* MySQL's latin1 is cp1252 except 0x81, 0x8D, 0x8F, 0x90, 0x9D, which map
 * to the C1 controls of the same value. */
static const uint16_t latin1_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* Convert `len` bytes in c's charset to UTF-8 in scratch; *outlen set.
 * Returns NULL or a reason. */
static const char *to_utf8(dbs_mysql_col *c, const uint8_t *in, size_t len, dbs_buf *s,
                           size_t *outlen)
{
	if (c->cs == DBS_MYSQL_CS_LATIN1) {
		if (len > SIZE_MAX / 3 || scratch_room(s, len * 3 + 1) != 0)
			return "out of memory";
		size_t o = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned u = in[i];
			if (u >= 0x80 && u < 0xa0)
				u = latin1_c1[u - 0x80];
			if (u < 0x80) {
				s->data[o++] = (char)u;
			} else if (u < 0x800) {
				s->data[o++] = (char)(0xc0 | (u >> 6));
				s->data[o++] = (char)(0x80 | (u & 0x3f));
			} else {
				s->data[o++] = (char)(0xe0 | (u >> 12));
				s->data[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
				s->data[o++] = (char)(0x80 | (u & 0x3f));
			}
		}
		*outlen = o;
		return NULL;
	}
	if (c->cs != DBS_MYSQL_CS_ICONV)
		return "column character set unknown";
	if (!c->iconv_cd) {
		iconv_t cd = iconv_open("UTF-8", c->charset);
		c->iconv_cd = (void *)cd;
	}
	if (c->iconv_cd == (void *)-1)
		return "character set not convertible by iconv";
	iconv_t cd = (iconv_t)c->iconv_cd;
	iconv(cd, NULL, NULL, NULL, NULL);
	size_t cap = len * 4 + 16;
	if (len > SIZE_MAX / 8 || scratch_room(s, cap) != 0)
		return "out of memory";
	char *ip = (char *)(uintptr_t)in;
	size_t il = len;
	char *op = s->data;
	size_t ol = s->cap;
	if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1)
		return "invalid bytes for the column's character set";
	*outlen = (size_t)(op - s->data);
	return NULL;
}

static const char *charset_by_name(uint32_t id, void *ctx)
{
	(void)id;
	return ctx;
}

int dbs__mysql_col_set_charset(dbs_mysql_tablemap *tm, uint32_t col, const char *charset_name)
{
	if (col >= tm->ncols)
		return DBS_EINVAL;
	dbs_mysql_col *c = &tm->cols[col];
	if (c->cs != DBS_MYSQL_CS_UNKNOWN || !charset_name || !charset_name[0])
		return 0;
	char *owned = tm_strndup(tm, charset_name, strlen(charset_name));
	if (!owned)
		return DBS_ENOMEM;
	set_charset(c, 0, charset_by_name, owned);
	return 0;
}

int dbs__mysql_tablemap_set_members(dbs_mysql_tablemap *tm, uint32_t col,
                                    const char *const *members, const uint32_t *lens, uint32_t n)
{
	if (col >= tm->ncols)
		return DBS_EINVAL;
	dbs_mysql_col *c = &tm->cols[col];
	const char **m = tm_alloc(tm, sizeof(char *) * (n ? n : 1));
	uint32_t *l = tm_alloc(tm, sizeof(uint32_t) * (n ? n : 1));
	if (!m || !l)
		return DBS_ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		m[k] = tm_strndup(tm, members[k], lens[k]);
		l[k] = lens[k];
		if (!m[k])
			return DBS_ENOMEM;
	}
	c->members = m;
	c->member_lens = l;
	c->nmembers = n;
	return 0;
}

/* ---- TABLE_MAP ---- */

static int is_numeric(uint8_t t)
{
	switch (t) {
	case MY_T_TINY:
	case MY_T_SHORT:
	case MY_T_INT24:
	case MY_T_LONG:
	case MY_T_LONGLONG:
	case MY_T_FLOAT:
	case MY_T_DOUBLE:
	case MY_T_NEWDECIMAL:
	case MY_T_DECIMAL: return 1;
	default: return 0;
	}
}

static int is_character(uint8_t real)
{
	switch (real) {
	case MY_T_STRING:
	case MY_T_VAR_STRING:
	case MY_T_VARCHAR:
	case MY_T_BLOB:
	case MY_T_TINY_BLOB:
	case MY_T_MEDIUM_BLOB:
	case MY_T_LONG_BLOB: return 1;
	default: return 0;
	}
}

static int is_enum_set(uint8_t real)
{
	return real == MY_T_ENUM || real == MY_T_SET;
}

/* Read one column's metadata; -1 for an unsupported type. */
static int read_meta(dbs_mysql_col *c, const uint8_t **p, const uint8_t *end)
{
	unsigned n;
	switch (c->type) {
	case MY_T_FLOAT:
	case MY_T_DOUBLE:
	case MY_T_BLOB:
	case MY_T_GEOMETRY:
	case MY_T_JSON:
	case MY_T_TIMESTAMP2:
	case MY_T_DATETIME2:
	case MY_T_TIME2:
	case MY_T_TINY_BLOB:
	case MY_T_MEDIUM_BLOB:
	case MY_T_LONG_BLOB: n = 1; break;
	case MY_T_VARCHAR:
	case MY_T_VAR_STRING:
	case MY_T_BIT:
	case MY_T_NEWDECIMAL:
	case MY_T_STRING:
	case MY_T_ENUM:
	case MY_T_SET: n = 2; break;
	case MY_T_TINY:
	case MY_T_SHORT:
	case MY_T_INT24:
	case MY_T_LONG:
	case MY_T_LONGLONG:
	case MY_T_DATE:
	case MY_T_NEWDATE:
	case MY_T_YEAR:
	case MY_T_TIME:
	case MY_T_DATETIME:
	case MY_T_TIMESTAMP:
	case MY_T_NULL: n = 0; break;
	default: return -1;
	}
	if ((size_t)(end - *p) < n)
		return -2;
	c->real_type = c->type;
	if (c->type == MY_T_STRING) {
		uint8_t b0 = (*p)[0], b1 = (*p)[1];
		/* CHAR longer than 255 bytes keeps two more length bits in the
		 * real-type byte, inverted. */
		if ((b0 & 0x30) != 0x30) {
			c->meta = (uint16_t)(b1 | (((b0 & 0x30) ^ 0x30) << 4));
			c->real_type = (uint8_t)(b0 | 0x30);
		} else {
			c->meta = b1;
			c->real_type = b0;
		}
	} else if (c->type == MY_T_NEWDECIMAL || c->type == MY_T_BIT) {
		c->meta = (uint16_t)((*p)[0] << 8 | (*p)[1]); /* precision/bits, scale/bytes */
	} else if (c->type == MY_T_ENUM || c->type == MY_T_SET) {
		c->meta = (*p)[1];
	} else if (n == 2) {
		c->meta = (uint16_t)le(*p, 2);
	} else if (n == 1) {
		c->meta = (*p)[0];
	}
	*p += n;
	return 0;
}

static int read_members(dbs_mysql_tablemap *tm, uint8_t want, const uint8_t *p, const uint8_t *end)
{
	for (uint32_t i = 0; i < tm->ncols; i++) {
		dbs_mysql_col *c = &tm->cols[i];
		if (c->real_type != want)
			continue;
		uint64_t n;
		if (lenenc(&p, end, &n) != 0 || n > 64 * 1024 || n > (uint64_t)(end - p))
			return -1;
		c->nmembers = (uint32_t)n;
		c->members = tm_alloc(tm, sizeof(char *) * (size_t)(n ? n : 1));
		c->member_lens = tm_alloc(tm, sizeof(uint32_t) * (size_t)(n ? n : 1));
		if (!c->members || !c->member_lens)
			return -2;
		for (uint64_t k = 0; k < n; k++) {
			uint64_t l;
			if (lenenc(&p, end, &l) != 0 || l > (uint64_t)(end - p))
				return -1;
			const uint8_t *src = p;
			size_t sl = (size_t)l;
			p += l;
			c->members[k] = tm_strndup(tm, src, sl);
			c->member_lens[k] = (uint32_t)sl;
			if (!c->members[k])
				return -2;
		}
	}
	return 0;
}

/* DEFAULT_CHARSET-style field over the columns `sel` picks. */
static int read_default_charsets(dbs_mysql_tablemap *tm, int (*sel)(uint8_t), const uint8_t *p,
                                 const uint8_t *end, dbs_mysql_charset_fn fn, void *ctx)
{
	uint64_t def;
	if (lenenc(&p, end, &def) != 0)
		return -1;
	for (uint32_t i = 0; i < tm->ncols; i++)
		if (sel(tm->cols[i].real_type))
			set_charset(&tm->cols[i], (uint32_t)def, fn, ctx);
	while (p < end) {
		uint64_t idx, coll;
		if (lenenc(&p, end, &idx) != 0 || lenenc(&p, end, &coll) != 0)
			return -1;
		uint64_t k = 0;
		uint32_t i;
		for (i = 0; i < tm->ncols; i++) {
			if (!sel(tm->cols[i].real_type))
				continue;
			if (k++ == idx)
				break;
		}
		if (i == tm->ncols)
			return -1;
		set_charset(&tm->cols[i], (uint32_t)coll, fn, ctx);
	}
	return 0;
}

static int read_column_charsets(dbs_mysql_tablemap *tm, int (*sel)(uint8_t), const uint8_t *p,
                                const uint8_t *end, dbs_mysql_charset_fn fn, void *ctx)
{
	for (uint32_t i = 0; i < tm->ncols; i++) {
		if (!sel(tm->cols[i].real_type))
			continue;
		uint64_t coll;
		if (lenenc(&p, end, &coll) != 0)
			return -1;
		set_charset(&tm->cols[i], (uint32_t)coll, fn, ctx);
	}
	return 0;
}

int dbs__mysql_tablemap_parse(dbs_mysql_tablemap *out, const uint8_t *body, size_t len,
                              dbs_mysql_charset_fn fn, void *ctx, char *err, size_t errlen)
{
	int rc = DBS_EPROTO;
	dbs_mysql_tablemap tm;
	dbs_buf scratch = {0};
	memset(&tm, 0, sizeof tm);
	memset(out, 0, sizeof *out);
	const uint8_t *p = body, *end = body + len;
	const char *what = "truncated header";

	if (len < 8 + 2)
		goto bad;
	tm.table_id = le(p, 6);
	p += 8; /* table id, flags */
	size_t dl = *p++;
	if ((size_t)(end - p) < dl + 2)
		goto bad;
	tm.db = tm_strndup(&tm, p, dl);
	p += dl + 1;
	size_t tl = *p++;
	if ((size_t)(end - p) < tl + 1)
		goto bad;
	tm.table = tm_strndup(&tm, p, tl);
	p += tl + 1;
	if (!tm.db || !tm.table)
		goto nomem;
	uint64_t n;
	what = "bad column count";
	if (lenenc(&p, end, &n) != 0 || n == 0 || n > 4096 || n > (uint64_t)(end - p))
		goto bad;
	tm.ncols = (uint32_t)n;
	tm.cols = tm_alloc(&tm, sizeof(dbs_mysql_col) * tm.ncols);
	if (!tm.cols)
		goto nomem;
	for (uint32_t i = 0; i < tm.ncols; i++)
		tm.cols[i].type = *p++;
	uint64_t ml;
	what = "bad metadata length";
	if (lenenc(&p, end, &ml) != 0 || ml > (uint64_t)(end - p))
		goto bad;
	const uint8_t *mp = p, *mend = p + ml;
	for (uint32_t i = 0; i < tm.ncols; i++) {
		int r = read_meta(&tm.cols[i], &mp, mend);
		if (r != 0) {
			dbs__fmt(err, errlen, "TABLE_MAP %s.%s column %u: %s (type %u)", tm.db,
			         tm.table, i + 1,
			         r == -1 ? "unsupported column type" : "truncated metadata",
			         tm.cols[i].type);
			goto fail;
		}
		/* Without charset metadata, binary-ness cannot be known for
		 * strings: assume UTF-8 text until information_schema says. */
		tm.cols[i].cs = DBS_MYSQL_CS_UNKNOWN;
	}
	what = "metadata length does not match the column types";
	if (mp != mend)
		goto bad;
	p = mend;
	size_t nb = (tm.ncols + 7) / 8;
	what = "truncated null bitmap";
	if ((size_t)(end - p) < nb)
		goto bad;
	for (uint32_t i = 0; i < tm.ncols; i++)
		tm.cols[i].nullable = (uint8_t)bit_set(p, i);
	p += nb;

	/* Optional metadata (binlog_row_metadata=MINIMAL or FULL): TLV. */
	while (p < end) {
		uint8_t type = *p++;
		uint64_t fl;
		what = "bad optional metadata field";
		if (lenenc(&p, end, &fl) != 0 || fl > (uint64_t)(end - p))
			goto bad;
		const uint8_t *f = p, *fend = p + fl;
		p = fend;
		int r = 0;
		switch (type) {
		case 1: { /* SIGNEDNESS: one bit per numeric column, MSB first */
			uint32_t k = 0;
			for (uint32_t i = 0; i < tm.ncols; i++) {
				if (!is_numeric(tm.cols[i].type))
					continue;
				if (k / 8 >= fl) {
					r = -1;
					break;
				}
				tm.cols[i].is_unsigned = (uint8_t)((f[k / 8] >> (7 - k % 8)) & 1);
				k++;
			}
			tm.has_signedness = 1;
			break;
		}
		case 2:
			r = read_default_charsets(&tm, is_character, f, fend, fn, ctx);
			tm.has_charsets = 1;
			break;
		case 3:
			r = read_column_charsets(&tm, is_character, f, fend, fn, ctx);
			tm.has_charsets = 1;
			break;
		case 4: /* COLUMN_NAME */
			for (uint32_t i = 0; i < tm.ncols && r == 0; i++) {
				uint64_t l;
				if (lenenc(&f, fend, &l) != 0 || l > (uint64_t)(fend - f)) {
					r = -1;
					break;
				}
				tm.cols[i].name = tm_strndup(&tm, f, (size_t)l);
				if (!tm.cols[i].name)
					r = -2;
				f += l;
			}
			tm.has_names = r == 0;
			break;
		case 5: r = read_members(&tm, MY_T_SET, f, fend); break;
		case 6: r = read_members(&tm, MY_T_ENUM, f, fend); break;
		case 8: /* SIMPLE_PRIMARY_KEY */
			while (f < fend && r == 0) {
				uint64_t idx;
				if (lenenc(&f, fend, &idx) != 0 || idx >= tm.ncols)
					r = -1;
				else
					tm.cols[idx].is_key = 1;
			}
			tm.has_pk = 1;
			break;
		case 9: /* PRIMARY_KEY_WITH_PREFIX: (index, prefix) pairs */
			while (f < fend && r == 0) {
				uint64_t idx, pfx;
				if (lenenc(&f, fend, &idx) != 0 || lenenc(&f, fend, &pfx) != 0 ||
				    idx >= tm.ncols)
					r = -1;
				else
					tm.cols[idx].is_key = 1;
			}
			tm.has_pk = 1;
			break;
		case 10: r = read_default_charsets(&tm, is_enum_set, f, fend, fn, ctx); break;
		case 11: r = read_column_charsets(&tm, is_enum_set, f, fend, fn, ctx); break;
		default: /* GEOMETRY_TYPE, visibility, ...: not needed */ break;
		}
		if (r == -2)
			goto nomem;
		if (r != 0) {
			dbs__fmt(err, errlen,
			         "TABLE_MAP %s.%s: malformed optional metadata field %u", tm.db,
			         tm.table, type);
			goto fail;
		}
	}
	/* ENUM/SET member strings come before their charsets in the optional
	 * metadata: convert them to UTF-8 once everything is read. */
	for (uint32_t i = 0; i < tm.ncols; i++) {
		dbs_mysql_col *c = &tm.cols[i];
		if (c->cs != DBS_MYSQL_CS_LATIN1 && c->cs != DBS_MYSQL_CS_ICONV)
			continue;
		for (uint32_t k = 0; k < c->nmembers; k++) {
			size_t ol;
			if (to_utf8(c, (const uint8_t *)c->members[k], c->member_lens[k], &scratch,
			            &ol) != NULL) {
				dbs__fmt(err, errlen,
				         "TABLE_MAP %s.%s column %u: member %u not convertible "
				         "to UTF-8",
				         tm.db, tm.table, i + 1, k + 1);
				goto fail;
			}
			c->members[k] = tm_strndup(&tm, scratch.data, ol);
			c->member_lens[k] = (uint32_t)ol;
			if (!c->members[k])
				goto nomem;
		}
	}
	*out = tm;
	dbs_buf_free(&scratch);
	return 0;
nomem:
	rc = DBS_ENOMEM;
	dbs__fmt(err, errlen, "out of memory");
	goto fail;
bad:
	dbs__fmt(err, errlen, "TABLE_MAP%s%s%s%s: %s", tm.db ? " " : "", tm.db ? tm.db : "",
	         tm.table ? "." : "", tm.table ? tm.table : "", what);
fail:
	dbs_buf_free(&scratch);
	dbs__mysql_tablemap_free(&tm);
	return rc;
}

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
	default: dbs__fmt(err, errlen, "not a rows event: type %u", event_type); return DBS_EPROTO;
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
	dbs__fmt(err, errlen, "rows event for table id %" PRIu64 ": truncated header",
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
	const char *why = to_utf8(c, d, len, x->scratch, &ol);
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
	dbs__fmt(buf, n, "#%u", i + 1);
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
		dbs__fmt(err, errlen, "%s.%s: rows event has %u columns, TABLE_MAP %u", tm->db,
		         tm->table, rows->ncols, tm->ncols);
		return DBS_EPROTO;
	}
	if (*offset >= rows->len) {
		dbs__fmt(err, errlen, "%s.%s: no row left in the rows event", tm->db, tm->table);
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
			dbs__fmt(err, errlen, "%s.%s: %s", tm->db, tm->table, x.why);
		else
			dbs__fmt(err, errlen, "%s.%s column %s (type %u): %s", tm->db, tm->table,
			         col_label(&tm->cols[bad], bad, lb, sizeof lb),
			         tm->cols[bad].real_type, x.why ? x.why : "malformed");
		return x.nomem ? DBS_ENOMEM : DBS_EPROTO;
	}
	*offset = (size_t)(p - rows->data);
	return 0;
}
