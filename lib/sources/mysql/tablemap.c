/*
 * TABLE_MAP decoding: column types, metadata and the optional fields of
 * binlog_row_metadata=FULL (names, signedness, charsets, ENUM/SET
 * members, primary key), and charset conversion to UTF-8.
 */
#include <iconv.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/binlog.h"
#include "sources/mysql/bytes.h"

#define COLLATION_BINARY 63

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
const char *dbs__mysql_to_utf8(dbs_mysql_col *c, const uint8_t *in, size_t len, dbs_buf *s,
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
			dbs_fmt(err, errlen, "TABLE_MAP %s.%s column %u: %s (type %u)", tm.db,
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
			dbs_fmt(err, errlen,
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
			if (dbs__mysql_to_utf8(c, (const uint8_t *)c->members[k], c->member_lens[k], &scratch,
			            &ol) != NULL) {
				dbs_fmt(err, errlen,
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
	dbs_fmt(err, errlen, "out of memory");
	goto fail;
bad:
	dbs_fmt(err, errlen, "TABLE_MAP%s%s%s%s: %s", tm.db ? " " : "", tm.db ? tm.db : "",
	         tm.table ? "." : "", tm.table ? tm.table : "", what);
fail:
	dbs_buf_free(&scratch);
	dbs__mysql_tablemap_free(&tm);
	return rc;
}
