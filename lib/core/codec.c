/*
 * The hub wire format (docs/hub-format.md): LEB128 varints for counts and
 * integers, zigzag for signed ones, raw little-endian IEEE-754 for
 * doubles, length-prefixed bytes for strings. Table definitions travel
 * once per message and events refer to them by index, so a message can be
 * read on its own, without any earlier message.
 */
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/core.h"

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/* The most bytes one varint takes. */
#define VARINT_MAX 10
/* Bytes one value may take besides its string payload. */
#define VALUE_FIXED_MAX (1 + 5 * VARINT_MAX + 8)

void dbs__codec_buf_free(dbs_codec_buf *buf)
{
	if (!buf)
		return;
	free(buf->data);
	free(buf->tables);
	memset(buf, 0, sizeof *buf);
}

static int reserve(dbs_codec_buf *buf, size_t more)
{
	if (more > SIZE_MAX / 2 - buf->len)
		return DBS_ENOMEM;
	size_t need = buf->len + more;
	if (need <= buf->cap)
		return 0;
	size_t cap = buf->cap ? buf->cap : 4096;
	while (cap < need)
		cap *= 2;
	uint8_t *data = realloc(buf->data, cap);
	if (!data)
		return DBS_ENOMEM;
	buf->data = data;
	buf->cap = cap;
	return 0;
}

/* The put_* functions write into space reserve() already made. */
static void put_u8(dbs_codec_buf *buf, uint8_t v)
{
	buf->data[buf->len++] = v;
}

static void put_uvarint(dbs_codec_buf *buf, uint64_t v)
{
	uint8_t *p = buf->data + buf->len;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	buf->len = (size_t)(p - buf->data);
}

static void put_svarint(dbs_codec_buf *buf, int64_t v)
{
	/* Zigzag keeps small negative numbers short; done on unsigned to
	 * avoid shifting a negative value. */
	uint64_t u = (uint64_t)v;
	put_uvarint(buf, (u << 1) ^ (v < 0 ? UINT64_MAX : 0));
}

static void put_f64(dbs_codec_buf *buf, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	for (int i = 0; i < 8; i++)
		buf->data[buf->len++] = (uint8_t)(bits >> (8 * i));
}

static int put_bytes(dbs_codec_buf *buf, const void *s, size_t len)
{
	if (reserve(buf, VARINT_MAX + len) != 0)
		return DBS_ENOMEM;
	put_uvarint(buf, len);
	if (len)
		memcpy(buf->data + buf->len, s, len);
	buf->len += len;
	return 0;
}

static int put_cstr(dbs_codec_buf *buf, const char *s)
{
	return put_bytes(buf, s ? s : "", s ? strlen(s) : 0);
}

static int table_index(dbs_codec_buf *buf, const dbs_table *t, uint32_t *hint)
{
	if (*hint < buf->ntables && buf->tables[*hint] == t)
		return (int)*hint;
	for (uint32_t i = 0; i < buf->ntables; i++)
		if (buf->tables[i] == t) {
			*hint = i;
			return (int)i;
		}
	return -1;
}

/* Event i of the slice: [first + i], or [index[first + i]] with a list. */
static const dbs_event *slice_event(const dbs_batch *batch, const uint32_t *index, uint32_t first,
                                    uint32_t i)
{
	return dbs_batch_event(batch, index ? index[first + i] : first + i);
}

static int collect_tables(dbs_codec_buf *buf, const dbs_batch *batch, const uint32_t *index,
                          uint32_t first, uint32_t count)
{
	uint32_t hint = 0;
	buf->ntables = 0;
	for (uint32_t i = 0; i < count; i++) {
		const dbs_table *t = slice_event(batch, index, first, i)->table;
		if (table_index(buf, t, &hint) >= 0)
			continue;
		if (buf->ntables == buf->tables_cap) {
			uint32_t cap = buf->tables_cap ? buf->tables_cap * 2 : 8;
			const dbs_table **tables =
			    realloc(buf->tables, (size_t)cap * sizeof *tables);
			if (!tables)
				return DBS_ENOMEM;
			buf->tables = tables;
			buf->tables_cap = cap;
		}
		hint = buf->ntables;
		buf->tables[buf->ntables++] = t;
	}
	return 0;
}

static int put_table(dbs_codec_buf *buf, const dbs_table *t)
{
	if (put_cstr(buf, t->schema) || put_cstr(buf, t->name) || reserve(buf, 1 + 3 * VARINT_MAX))
		return DBS_ENOMEM;
	put_u8(buf, (uint8_t)t->dialect);
	put_uvarint(buf, t->version);
	put_uvarint(buf, t->source_id);
	put_uvarint(buf, t->ncolumns);
	for (uint32_t i = 0; i < t->ncolumns; i++) {
		const dbs_column *c = &t->columns[i];
		if (put_cstr(buf, c->name) || put_cstr(buf, c->type_name) ||
		    reserve(buf, 3 * VARINT_MAX))
			return DBS_ENOMEM;
		put_uvarint(buf, c->type_id);
		put_svarint(buf, c->type_mod);
		put_uvarint(buf, c->flags);
	}
	/* Version 2: the secondary indexes, for targets that create tables. */
	if (reserve(buf, VARINT_MAX))
		return DBS_ENOMEM;
	put_uvarint(buf, t->nindexes);
	for (uint32_t i = 0; i < t->nindexes; i++) {
		const dbs_index *ix = &t->indexes[i];
		if (put_cstr(buf, ix->name) || reserve(buf, (2 + (size_t)ix->ncolumns) * VARINT_MAX))
			return DBS_ENOMEM;
		put_uvarint(buf, ix->flags);
		put_uvarint(buf, ix->ncolumns);
		for (uint32_t k = 0; k < ix->ncolumns; k++)
			put_uvarint(buf, ix->columns[k]);
	}
	return 0;
}

static void put_time(dbs_codec_buf *buf, const dbs_time_value *t)
{
	put_svarint(buf, t->year);
	put_u8(buf, t->month);
	put_u8(buf, t->day);
	put_uvarint(buf, t->hour);
	put_u8(buf, t->minute);
	put_u8(buf, t->second);
	put_u8(buf, t->negative);
	put_uvarint(buf, t->usec);
}

/* DBS_EINVAL for a value the format cannot carry, with err filled. */
static int put_row(dbs_codec_buf *buf, const dbs_value *row, uint32_t ncolumns, char *err,
                   size_t errlen)
{
	if (reserve(buf, (size_t)ncolumns * VALUE_FIXED_MAX) != 0)
		return DBS_ENOMEM;
	for (uint32_t i = 0; i < ncolumns; i++) {
		const dbs_value *v = &row[i];
		/* Strings may need more room than reserved above. */
		if (buf->cap - buf->len < VALUE_FIXED_MAX && reserve(buf, VALUE_FIXED_MAX) != 0)
			return DBS_ENOMEM;
		put_u8(buf, v->kind);
		switch ((dbs_value_kind)v->kind) {
		case DBS_VALUE_NULL:
		case DBS_VALUE_UNCHANGED: break;
		case DBS_VALUE_TEXT:
		case DBS_VALUE_BYTES:
		case DBS_VALUE_DECIMAL:
		case DBS_VALUE_JSON:
			if (v->len && !v->v.s) {
				dbs__fmt(err, errlen, "codec: column %u: %u bytes at NULL", i,
				         v->len);
				return DBS_EINVAL;
			}
			if (put_bytes(buf, v->v.s, v->len) != 0)
				return DBS_ENOMEM;
			break;
		case DBS_VALUE_INT: put_svarint(buf, v->v.i); break;
		case DBS_VALUE_UINT: put_uvarint(buf, v->v.u); break;
		case DBS_VALUE_DOUBLE: put_f64(buf, v->v.d); break;
		case DBS_VALUE_DATE:
		case DBS_VALUE_TIME:
		case DBS_VALUE_DATETIME:
		case DBS_VALUE_TIMESTAMP: put_time(buf, &v->v.t); break;
		default:
			dbs__fmt(err, errlen, "codec: column %u: unknown value kind %u", i,
			         v->kind);
			return DBS_EINVAL;
		}
	}
	return 0;
}

static int encode(dbs_codec_buf *buf, const dbs_batch *batch, const uint32_t *index,
                  uint32_t nindex, uint32_t first, uint32_t count, const char *stream_id,
                  uint64_t seq, unsigned flags, char *err, size_t errlen)
{
	int rc = DBS_EINVAL;
	size_t idlen = stream_id ? strlen(stream_id) : 0;
	if (!buf) {
		dbs__fmt(err, errlen, "codec: no buffer");
		goto fail;
	}
	buf->len = 0;
	if (idlen > DBS_CODEC_MAX_STREAM_ID) {
		dbs__fmt(err, errlen, "codec: stream id longer than %d bytes",
		         DBS_CODEC_MAX_STREAM_ID);
		goto fail;
	}
	if (flags & ~(unsigned)DBS_CODEC_KNOWN_FLAGS) {
		dbs__fmt(err, errlen, "codec: unknown flags 0x%x", flags);
		goto fail;
	}
	if ((flags & DBS_CODEC_PUBLISHER_FAILED) && !(flags & DBS_CODEC_END_OF_STREAM)) {
		dbs__fmt(err, errlen, "codec: publisher-failed flag without end of stream");
		goto fail;
	}
	uint32_t avail = index ? nindex : batch ? dbs_batch_count(batch) : 0;
	if ((flags & DBS_CODEC_END_OF_STREAM)
	        ? count != 0
	        : (!batch || first > avail || count > avail - first)) {
		dbs__fmt(err, errlen, "codec: events [%u, +%u) out of range", first, count);
		goto fail;
	}
	for (uint32_t i = 0; index && i < count; i++) {
		if (index[first + i] >= dbs_batch_count(batch)) {
			dbs__fmt(err, errlen, "codec: event index %u out of range", index[first + i]);
			goto fail;
		}
	}
	rc = DBS_ENOMEM;
	if (count && collect_tables(buf, batch, index, first, count) != 0)
		goto fail;
	if (!count)
		buf->ntables = 0;

	if (reserve(buf, 6) != 0)
		goto fail;
	memcpy(buf->data, DBS_CODEC_MAGIC, 4);
	buf->len = 4;
	put_u8(buf, DBS_CODEC_VERSION);
	put_u8(buf, (uint8_t)flags);
	if (put_bytes(buf, stream_id, idlen) != 0 || reserve(buf, 3 * VARINT_MAX) != 0)
		goto fail;
	put_uvarint(buf, seq);
	put_uvarint(buf, count);
	put_uvarint(buf, buf->ntables);
	for (uint32_t i = 0; i < buf->ntables; i++)
		if (put_table(buf, buf->tables[i]) != 0)
			goto fail;

	uint32_t hint = 0;
	for (uint32_t i = 0; i < count; i++) {
		const dbs_event *ev = slice_event(batch, index, first, i);
		int tindex = table_index(buf, ev->table, &hint);
		if (reserve(buf, 3 + 10 * VARINT_MAX) != 0)
			goto fail;
		put_u8(buf, ev->op);
		put_uvarint(buf, (uint64_t)tindex);
		put_u8(buf, (uint8_t)((ev->before ? 1 : 0) | (ev->after ? 2 : 0)));
		put_uvarint(buf, ev->pos.txn);
		put_uvarint(buf, ev->pos.resume);
		put_uvarint(buf, ev->pos.event);
		put_uvarint(buf, ev->pos.txn_end);
		put_svarint(buf, ev->commit_time_us);
		put_uvarint(buf, ev->xid);
		put_uvarint(buf, ev->pos.gtid_domain);
		put_uvarint(buf, ev->pos.gtid_server);
		put_uvarint(buf, ev->pos.gtid_seq);
		uint32_t ncol = ev->table->ncolumns;
		if (ev->before && (rc = put_row(buf, ev->before, ncol, err, errlen)) != 0)
			goto fail;
		if (ev->after && (rc = put_row(buf, ev->after, ncol, err, errlen)) != 0)
			goto fail;
		rc = DBS_ENOMEM;
	}
	return 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "codec: out of memory");
	if (buf)
		buf->len = 0;
	return rc;
}

int dbs__codec_encode(dbs_codec_buf *buf, const dbs_batch *batch, uint32_t first, uint32_t count,
                      const char *stream_id, uint64_t seq, unsigned flags, char *err, size_t errlen)
{
	return encode(buf, batch, NULL, 0, first, count, stream_id, seq, flags, err, errlen);
}

int dbs__codec_encode_list(dbs_codec_buf *buf, const dbs_batch *batch, const uint32_t *index,
                           uint32_t nindex, uint32_t first, uint32_t count,
                           const char *stream_id, uint64_t seq, char *err, size_t errlen)
{
	if (!index) {
		dbs__fmt(err, errlen, "codec: no event list");
		return DBS_EINVAL;
	}
	return encode(buf, batch, index, nindex, first, count, stream_id, seq, 0, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Partitioning                                                        */
/* ------------------------------------------------------------------ */

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv(uint64_t x, const void *data, size_t n)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++)
		x = (x ^ p[i]) * FNV_PRIME;
	return x;
}

/* A value's bytes as the wire format would carry them, so equal values
 * hash alike whichever image (before or after) they come from. */
static uint64_t hash_value(uint64_t x, const dbs_value *v)
{
	uint8_t kind = v->kind;
	uint8_t le[8];
	uint64_t u = 0;
	x = fnv(x, &kind, 1);
	switch (v->kind) {
	case DBS_VALUE_TEXT:
	case DBS_VALUE_BYTES:
	case DBS_VALUE_DECIMAL:
	case DBS_VALUE_JSON:
		for (int i = 0; i < 4; i++)
			le[i] = (uint8_t)(v->len >> (8 * i));
		return fnv(fnv(x, le, 4), v->v.s, v->len);
	case DBS_VALUE_INT: u = (uint64_t)v->v.i; break;
	case DBS_VALUE_UINT: u = v->v.u; break;
	case DBS_VALUE_DOUBLE: memcpy(&u, &v->v.d, sizeof u); break;
	case DBS_VALUE_DATE:
	case DBS_VALUE_TIME:
	case DBS_VALUE_DATETIME:
	case DBS_VALUE_TIMESTAMP:
		u = ((uint64_t)(uint32_t)v->v.t.year << 40) ^ ((uint64_t)v->v.t.month << 32) ^
		    ((uint64_t)v->v.t.day << 24) ^ ((uint64_t)v->v.t.hour << 12) ^
		    ((uint64_t)v->v.t.minute << 6) ^ v->v.t.second ^ ((uint64_t)v->v.t.usec << 20) ^
		    ((uint64_t)v->v.t.negative << 63);
		break;
	default: return x;
	}
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(u >> (8 * i));
	return fnv(x, le, sizeof le);
}

uint32_t dbs__codec_partition(const dbs_event *ev, uint32_t partitions)
{
	if (partitions <= 1 || !ev || !ev->table)
		return 0;
	const dbs_table *t = ev->table;
	uint64_t x = fnv(FNV_OFFSET, t->schema, strlen(t->schema));
	x = fnv(x, ".", 1);
	x = fnv(x, t->name, strlen(t->name));
	/* Deletes carry the key in the before image, inserts and updates in
	 * the after image; an update that changes the key is placed by its
	 * new key (see docs/nats.md on ordering). */
	const dbs_value *row = ev->after ? ev->after : ev->before;
	if (row) {
		for (uint32_t c = 0; c < t->ncolumns; c++)
			if (t->columns[c].flags & DBS_COLUMN_KEY)
				x = hash_value(x, &row[c]);
	}
	/* A table without a key hashes by name only: its rows keep one order. */
	return (uint32_t)(x % partitions);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

/* Tables kept by a decoder; the oldest is dropped beyond this. */
#define CACHE_MAX 1024

struct dbs_codec_decoder {
	dbs_table **cache; /* one reference each, most recent last */
	uint32_t ncache;
	/* This message's tables by index, one reference each while decoding:
	 * the cache may drop a table before the message is done with it. */
	const dbs_table **msg_tables;
	uint32_t msg_tables_cap;
	char *scratch; /* NUL-terminated copies of one table's names */
	size_t scratch_cap;
	dbs_column *columns;
	uint32_t columns_cap;
	dbs_index *indexes;     /* one table's indexes while decoding it */
	uint32_t indexes_cap;
	uint32_t *index_cols;   /* their column positions, one after another */
	uint32_t index_cols_cap;
};

int dbs__codec_decoder_new(dbs_codec_decoder **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : DBS_ENOMEM;
}

void dbs__codec_decoder_free(dbs_codec_decoder *dec)
{
	if (!dec)
		return;
	for (uint32_t i = 0; i < dec->ncache; i++)
		dbs_table_unref(dec->cache[i]);
	free(dec->cache);
	free(dec->msg_tables);
	free(dec->scratch);
	free(dec->columns);
	free(dec->indexes);
	free(dec->index_cols);
	free(dec);
}

typedef struct reader {
	const uint8_t *start, *p, *end;
	char *err;
	size_t errlen;
} reader;

static int bad(reader *r, const char *what)
{
	dbs__fmt(r->err, r->errlen, "hub message: %s at byte %zu", what, (size_t)(r->p - r->start));
	return DBS_EPROTO;
}

static size_t left(const reader *r)
{
	return (size_t)(r->end - r->p);
}

static int get_u8(reader *r, uint8_t *v, const char *what)
{
	if (r->p >= r->end)
		return bad(r, what);
	*v = *r->p++;
	return 0;
}

static int get_uvarint(reader *r, uint64_t *v, const char *what)
{
	uint64_t x = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return bad(r, what);
		uint8_t b = *r->p++;
		if (shift == 63 && b > 1)
			return bad(r, "varint overflows 64 bits");
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return bad(r, "varint longer than 10 bytes");
}

static int get_u32(reader *r, uint32_t *v, uint32_t max, const char *what)
{
	uint64_t x;
	if (get_uvarint(r, &x, what) != 0)
		return DBS_EPROTO;
	if (x > max)
		return bad(r, what);
	*v = (uint32_t)x;
	return 0;
}

static int get_svarint(reader *r, int64_t *v, const char *what)
{
	uint64_t u;
	if (get_uvarint(r, &u, what) != 0)
		return DBS_EPROTO;
	*v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return 0;
}

static int get_bytes(reader *r, const uint8_t **s, uint32_t *len, const char *what)
{
	uint64_t n;
	if (get_uvarint(r, &n, what) != 0)
		return DBS_EPROTO;
	if (n > left(r) || n > UINT32_MAX)
		return bad(r, what);
	*s = r->p;
	*len = (uint32_t)n;
	r->p += n;
	return 0;
}

/* A name into dec->scratch at *used, NUL-terminated; room was reserved. */
static int get_name(reader *r, dbs_codec_decoder *dec, size_t *used, const char **out,
                    const char *what)
{
	const uint8_t *s;
	uint32_t len;
	if (get_bytes(r, &s, &len, what) != 0)
		return DBS_EPROTO;
	if (memchr(s, 0, len))
		return bad(r, "NUL byte inside a name");
	char *dst = dec->scratch + *used;
	memcpy(dst, s, len);
	dst[len] = '\0';
	*used += (size_t)len + 1;
	*out = dst;
	return 0;
}

static int same_table(const dbs_table *a, const dbs_table *b)
{
	if (a->dialect != b->dialect || a->version != b->version || a->source_id != b->source_id ||
	    a->ncolumns != b->ncolumns || strcmp(a->name, b->name) != 0 ||
	    strcmp(a->schema, b->schema) != 0)
		return 0;
	for (uint32_t i = 0; i < a->ncolumns; i++) {
		const dbs_column *x = &a->columns[i], *y = &b->columns[i];
		if (x->type_id != y->type_id || x->type_mod != y->type_mod ||
		    x->flags != y->flags || strcmp(x->name, y->name) != 0 ||
		    strcmp(x->type_name, y->type_name) != 0)
			return 0;
	}
	if (a->nindexes != b->nindexes)
		return 0;
	for (uint32_t i = 0; i < a->nindexes; i++) {
		const dbs_index *x = &a->indexes[i], *y = &b->indexes[i];
		if (x->flags != y->flags || x->ncolumns != y->ncolumns || strcmp(x->name, y->name) != 0 ||
		    memcmp(x->columns, y->columns, (size_t)x->ncolumns * sizeof *x->columns) != 0)
			return 0;
	}
	return 1;
}

/* The shared table equal to `want`, made and cached if new. */
static int cached_table(dbs_codec_decoder *dec, const dbs_table *want, const dbs_table **out)
{
	for (uint32_t i = dec->ncache; i-- > 0;)
		if (same_table(dec->cache[i], want)) {
			*out = dec->cache[i];
			return 0;
		}
	dbs_table *t;
	int rc = dbs_table_new(&t, want->dialect, want->schema, want->name, want->columns,
	                       want->ncolumns);
	if (rc != 0)
		return rc;
	t->version = want->version;
	t->source_id = want->source_id;
	for (uint32_t i = 0; i < want->nindexes; i++) {
		const dbs_index *ix = &want->indexes[i];
		if ((rc = dbs_table_add_index(t, ix->name, ix->flags, ix->columns, ix->ncolumns))) {
			dbs_table_unref(t);
			return rc;
		}
	}
	if (!dec->cache && !(dec->cache = malloc(CACHE_MAX * sizeof *dec->cache))) {
		dbs_table_unref(t);
		return DBS_ENOMEM;
	}
	if (dec->ncache == CACHE_MAX) {
		/* Batches in flight keep their own references. */
		dbs_table_unref(dec->cache[0]);
		memmove(dec->cache, dec->cache + 1, (CACHE_MAX - 1) * sizeof *dec->cache);
		dec->ncache--;
	}
	dec->cache[dec->ncache++] = t;
	*out = t;
	return 0;
}

/* Version 2: the table's secondary indexes into want->indexes. */
static int get_indexes(reader *r, dbs_codec_decoder *dec, size_t *used, dbs_table *want)
{
	uint32_t n, total = 0;
	if (get_u32(r, &n, 65535, "index count") != 0)
		return DBS_EPROTO;
	/* An index takes at least three bytes. */
	if (n > left(r) / 3)
		return bad(r, "index count beyond the message");
	if (dec->indexes_cap < n) {
		dbs_index *x = realloc(dec->indexes, (size_t)n * sizeof *x);
		if (!x)
			return DBS_ENOMEM;
		dec->indexes = x;
		dec->indexes_cap = n;
	}
	/* Column positions: at most one per byte left. */
	size_t most = left(r);
	if (dec->index_cols_cap < most) {
		uint32_t *c = realloc(dec->index_cols, most * sizeof *c);
		if (!c && most)
			return DBS_ENOMEM;
		dec->index_cols = c;
		dec->index_cols_cap = most;
	}
	for (uint32_t i = 0; i < n; i++) {
		dbs_index *ix = &dec->indexes[i];
		if (get_name(r, dec, used, &ix->name, "index name") != 0 ||
		    get_u32(r, &ix->flags, UINT32_MAX, "index flags") != 0 ||
		    get_u32(r, &ix->ncolumns, want->ncolumns, "index column count") != 0)
			return DBS_EPROTO;
		if (ix->ncolumns == 0 || ix->ncolumns > left(r) || total + ix->ncolumns > most)
			return bad(r, "index columns beyond the message");
		uint32_t *cols = dec->index_cols + total;
		for (uint32_t k = 0; k < ix->ncolumns; k++)
			if (get_u32(r, &cols[k], want->ncolumns ? want->ncolumns - 1 : 0,
			            "index column") != 0)
				return DBS_EPROTO;
		ix->columns = cols;
		total += ix->ncolumns;
	}
	want->nindexes = n;
	want->indexes = dec->indexes;
	return 0;
}

static int get_table(reader *r, dbs_codec_decoder *dec, unsigned version, const dbs_table **out)
{
	/* Every name is shorter than the bytes left, and there are at most
	 * 2 + 2 * ncolumns of them: room for all of them, reserved once. */
	size_t need = left(r) + 2 + 2 * (size_t)65536;
	if (dec->scratch_cap < need) {
		char *s = realloc(dec->scratch, need);
		if (!s)
			return DBS_ENOMEM;
		dec->scratch = s;
		dec->scratch_cap = need;
	}
	size_t used = 0;
	dbs_table want;
	memset(&want, 0, sizeof want);
	uint8_t dialect;
	if (get_name(r, dec, &used, &want.schema, "table schema") != 0 ||
	    get_name(r, dec, &used, &want.name, "table name") != 0 ||
	    get_u8(r, &dialect, "table dialect") != 0 ||
	    get_u32(r, &want.version, UINT32_MAX, "table version") != 0 ||
	    get_u32(r, &want.source_id, UINT32_MAX, "table source id") != 0 ||
	    get_u32(r, &want.ncolumns, 65535, "column count") != 0)
		return DBS_EPROTO;
	if (dialect != DBS_DIALECT_POSTGRESQL && dialect != DBS_DIALECT_MYSQL)
		return bad(r, "unknown dialect");
	want.dialect = (dbs_dialect)dialect;
	/* A column takes at least five bytes. */
	if (want.ncolumns > left(r) / 5)
		return bad(r, "column count beyond the message");
	if (dec->columns_cap < want.ncolumns) {
		dbs_column *c = realloc(dec->columns, (size_t)want.ncolumns * sizeof *c);
		if (!c)
			return DBS_ENOMEM;
		dec->columns = c;
		dec->columns_cap = want.ncolumns;
	}
	for (uint32_t i = 0; i < want.ncolumns; i++) {
		dbs_column *c = &dec->columns[i];
		int64_t mod;
		if (get_name(r, dec, &used, &c->name, "column name") != 0 ||
		    get_name(r, dec, &used, &c->type_name, "column type name") != 0 ||
		    get_u32(r, &c->type_id, UINT32_MAX, "column type id") != 0 ||
		    get_svarint(r, &mod, "column type modifier") != 0 ||
		    get_u32(r, &c->flags, UINT32_MAX, "column flags") != 0)
			return DBS_EPROTO;
		if (mod < INT32_MIN || mod > INT32_MAX)
			return bad(r, "column type modifier out of range");
		c->type_mod = (int32_t)mod;
	}
	want.columns = dec->columns;
	if (version >= 2) {
		int rc = get_indexes(r, dec, &used, &want);
		if (rc != 0)
			return rc;
	}
	return cached_table(dec, &want, out);
}

static int get_time(reader *r, dbs_time_value *t)
{
	int64_t year;
	uint32_t hour, usec;
	if (get_svarint(r, &year, "time year") != 0 || get_u8(r, &t->month, "time month") != 0 ||
	    get_u8(r, &t->day, "time day") != 0 ||
	    get_u32(r, &hour, UINT16_MAX, "time hour") != 0 ||
	    get_u8(r, &t->minute, "time minute") != 0 ||
	    get_u8(r, &t->second, "time second") != 0 ||
	    get_u8(r, &t->negative, "time sign") != 0 ||
	    get_u32(r, &usec, 999999, "time microseconds") != 0)
		return DBS_EPROTO;
	if (year < INT32_MIN || year > INT32_MAX)
		return bad(r, "time year out of range");
	if (t->negative > 1)
		return bad(r, "time sign");
	t->year = (int32_t)year;
	t->hour = (uint16_t)hour;
	t->usec = usec;
	return 0;
}

static int get_row(reader *r, dbs_batch *batch, dbs_value *row, uint32_t ncolumns)
{
	for (uint32_t i = 0; i < ncolumns; i++) {
		dbs_value *v = &row[i];
		uint8_t kind;
		const uint8_t *s;
		uint32_t len;
		int rc;
		if (get_u8(r, &kind, "value kind") != 0)
			return DBS_EPROTO;
		memset(v, 0, sizeof *v);
		v->kind = kind;
		switch ((dbs_value_kind)kind) {
		case DBS_VALUE_NULL:
		case DBS_VALUE_UNCHANGED: break;
		case DBS_VALUE_TEXT:
		case DBS_VALUE_BYTES:
		case DBS_VALUE_DECIMAL:
		case DBS_VALUE_JSON:
			if (get_bytes(r, &s, &len, "value bytes") != 0)
				return DBS_EPROTO;
			if ((rc = dbs_batch_set_bytes(batch, v, (dbs_value_kind)kind, s, len)) != 0)
				return rc;
			break;
		case DBS_VALUE_INT:
			if (get_svarint(r, &v->v.i, "integer value") != 0)
				return DBS_EPROTO;
			break;
		case DBS_VALUE_UINT:
			if (get_uvarint(r, &v->v.u, "unsigned value") != 0)
				return DBS_EPROTO;
			break;
		case DBS_VALUE_DOUBLE: {
			if (left(r) < 8)
				return bad(r, "double value");
			uint64_t bits = 0;
			for (int b = 0; b < 8; b++)
				bits |= (uint64_t)r->p[b] << (8 * b);
			r->p += 8;
			memcpy(&v->v.d, &bits, sizeof bits);
			break;
		}
		case DBS_VALUE_DATE:
		case DBS_VALUE_TIME:
		case DBS_VALUE_DATETIME:
		case DBS_VALUE_TIMESTAMP:
			if (get_time(r, &v->v.t) != 0)
				return DBS_EPROTO;
			break;
		default: r->p--; return bad(r, "unknown value kind");
		}
	}
	return 0;
}

static int get_event(reader *r, dbs_codec_decoder *dec, uint32_t ntables, unsigned version,
                     dbs_batch *batch)
{
	uint8_t op, images;
	uint32_t index;
	int rc;
	if (get_u8(r, &op, "event op") != 0)
		return DBS_EPROTO;
	if (op < DBS_OP_INSERT || op > DBS_OP_DELETE) {
		r->p--;
		return bad(r, "unknown event op");
	}
	if (get_u32(r, &index, ntables ? ntables - 1 : 0, "table index") != 0 || index >= ntables)
		return bad(r, "table index out of range");
	if (get_u8(r, &images, "image flags") != 0)
		return DBS_EPROTO;
	unsigned allowed = op == DBS_OP_INSERT ? 2u : op == DBS_OP_DELETE ? 1u : 3u;
	if (images & ~allowed) {
		r->p--;
		return bad(r, "row image not allowed for this op");
	}
	const dbs_table *t = dec->msg_tables[index];
	dbs_event *ev;
	if ((rc = dbs_batch_add(batch, (dbs_op)op, t, &ev)) != 0)
		return rc == DBS_EINVAL ? DBS_EINTERNAL : rc;
	if (get_uvarint(r, &ev->pos.txn, "position txn") != 0 ||
	    get_uvarint(r, &ev->pos.resume, "position resume") != 0 ||
	    get_u32(r, &ev->pos.event, UINT32_MAX, "position event") != 0 ||
	    get_u32(r, &ev->pos.txn_end, UINT32_MAX, "position txn end") != 0 ||
	    get_svarint(r, &ev->commit_time_us, "commit time") != 0 ||
	    get_uvarint(r, &ev->xid, "xid") != 0)
		return DBS_EPROTO;
	if (version >= 2 &&
	    (get_u32(r, &ev->pos.gtid_domain, UINT32_MAX, "gtid domain") != 0 ||
	     get_u32(r, &ev->pos.gtid_server, UINT32_MAX, "gtid server") != 0 ||
	     get_uvarint(r, &ev->pos.gtid_seq, "gtid seq") != 0))
		return DBS_EPROTO;
	if (!(images & 1))
		ev->before = NULL;
	if (!(images & 2))
		ev->after = NULL;
	if (ev->before && (rc = get_row(r, batch, ev->before, t->ncolumns)) != 0)
		return rc;
	if (ev->after && (rc = get_row(r, batch, ev->after, t->ncolumns)) != 0)
		return rc;
	return 0;
}

static void release_tables(dbs_codec_decoder *dec, uint32_t held)
{
	for (uint32_t i = 0; i < held; i++)
		dbs_table_unref(dec->msg_tables[i]);
}

int dbs__codec_decode(dbs_codec_decoder *dec, const void *data, size_t len, dbs_batch **out,
                      dbs_codec_header *header, char *err, size_t errlen)
{
	dbs_codec_decoder *own = NULL;
	dbs_batch *batch = NULL;
	dbs_codec_header h;
	reader r = {data, data, (const uint8_t *)data + len, err, errlen};
	int rc = DBS_EPROTO;
	const uint8_t *s;
	uint32_t idlen;
	uint8_t version, flags;
	uint32_t held = 0;

	*out = NULL;
	memset(&h, 0, sizeof h);
	if (!data && len) {
		dbs__fmt(err, errlen, "hub message: no data");
		rc = DBS_EINVAL;
		goto fail;
	}
	if (!dec) {
		if (dbs__codec_decoder_new(&own) != 0) {
			rc = DBS_ENOMEM;
			goto fail;
		}
		dec = own;
	}
	if (len < 4 || memcmp(data, DBS_CODEC_MAGIC, 4) != 0) {
		bad(&r, "not a dbstreams batch (magic)");
		goto fail;
	}
	r.p += 4;
	if (get_u8(&r, &version, "format version") != 0)
		goto fail;
	if (version < DBS_CODEC_OLDEST_VERSION || version > DBS_CODEC_VERSION) {
		dbs__fmt(err, errlen, "hub message: format version %u, this reader knows %d to %d",
		         version, DBS_CODEC_OLDEST_VERSION, DBS_CODEC_VERSION);
		goto fail;
	}
	if (get_u8(&r, &flags, "flags") != 0)
		goto fail;
	if (flags & ~(unsigned)DBS_CODEC_KNOWN_FLAGS) {
		r.p--;
		bad(&r, "unknown flags");
		goto fail;
	}
	if (get_bytes(&r, &s, &idlen, "stream id") != 0)
		goto fail;
	if (idlen > DBS_CODEC_MAX_STREAM_ID) {
		bad(&r, "stream id too long");
		goto fail;
	}
	if (get_uvarint(&r, &h.seq, "hub sequence") != 0 ||
	    get_u32(&r, &h.nevents, UINT32_MAX, "event count") != 0 ||
	    get_u32(&r, &h.ntables, UINT32_MAX, "table count") != 0)
		goto fail;
	h.version = version;
	h.flags = flags;
	memcpy(h.stream_id, s, idlen);
	h.stream_id[idlen] = '\0';
	if ((flags & DBS_CODEC_PUBLISHER_FAILED) && !(flags & DBS_CODEC_END_OF_STREAM)) {
		r.p = r.start + 5;
		bad(&r, "publisher-failed flag without end of stream");
		goto fail;
	}
	if ((flags & DBS_CODEC_END_OF_STREAM) && (h.nevents || h.ntables)) {
		bad(&r, "end-of-stream marker with events");
		goto fail;
	}
	/* Counts beyond what the bytes left could hold are lies: refuse them
	 * before sizing anything by them (a table takes at least 6 bytes, an
	 * event at least 10). */
	if (h.ntables > left(&r) / 6 || h.nevents > left(&r) / 9 || (h.nevents && !h.ntables)) {
		bad(&r, "counts beyond the message");
		goto fail;
	}
	if (h.ntables > dec->msg_tables_cap) {
		const dbs_table **t = realloc(dec->msg_tables, (size_t)h.ntables * sizeof *t);
		if (!t) {
			rc = DBS_ENOMEM;
			goto fail;
		}
		dec->msg_tables = t;
		dec->msg_tables_cap = h.ntables;
	}
	for (; held < h.ntables; held++) {
		if ((rc = get_table(&r, dec, version, &dec->msg_tables[held])) != 0)
			goto fail;
		dbs_table_ref(dec->msg_tables[held]);
	}
	rc = DBS_EPROTO;
	if (!(flags & DBS_CODEC_END_OF_STREAM)) {
		if ((rc = dbs_batch_new(&batch, h.nevents)) != 0)
			goto fail;
		for (uint32_t i = 0; i < h.nevents; i++)
			if ((rc = get_event(&r, dec, h.ntables, version, batch)) != 0)
				goto fail;
		dbs_batch_set_seq(batch, h.seq);
	}
	rc = DBS_EPROTO;
	if (r.p != r.end) {
		bad(&r, "trailing bytes");
		goto fail;
	}
	release_tables(dec, held);
	dbs__codec_decoder_free(own);
	if (header)
		*header = h;
	*out = batch;
	return 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "hub message: out of memory");
	else if (rc == DBS_EINTERNAL)
		dbs__fmt(err, errlen, "hub message: could not rebuild an event");
	dbs_batch_free(batch);
	if (dec)
		release_tables(dec, held);
	dbs__codec_decoder_free(own);
	return rc;
}
