/*
 * The hub wire format (docs/hub-format.md), decoding side: every read
 * bound-checked against the message's end (bytes from the network), and
 * a cache of table definitions shared by the batches decoded one after
 * another.
 */
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/codec.h>

#include "core/core.h"

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

DBS_API int dbs_codec_decoder_new(dbs_codec_decoder **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? 0 : DBS_ENOMEM;
}

DBS_API void dbs_codec_decoder_free(dbs_codec_decoder *dec)
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
	dbs_fmt(r->err, r->errlen, "hub message: %s at byte %zu", what, (size_t)(r->p - r->start));
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

/* An optional string (version 3) into the batch's arena, NUL-terminated:
 * NULL when absent. */
static int get_opt(reader *r, dbs_batch *batch, const char **out, const char *what)
{
	uint8_t present;
	const uint8_t *s;
	uint32_t len;
	*out = NULL;
	if (get_u8(r, &present, what) != 0)
		return DBS_EPROTO;
	if (present > 1) {
		r->p--;
		return bad(r, what);
	}
	if (!present)
		return 0;
	if (get_bytes(r, &s, &len, what) != 0)
		return DBS_EPROTO;
	if (memchr(s, 0, len))
		return bad(r, "NUL byte inside a string");
	char *t = dbs_batch_alloc(batch, (size_t)len + 1);
	if (!t)
		return DBS_ENOMEM;
	memcpy(t, s, len);
	t[len] = '\0';
	*out = t;
	return 0;
}

/* Version 3: the changes of a schema event, checked against its table. */
static int get_schema(reader *r, dbs_batch *batch, dbs_event *ev)
{
	const dbs_table *t = ev->table;
	dbs_schema_event *se = dbs_batch_alloc(batch, sizeof *se);
	uint32_t n;
	int rc;
	if (!se)
		return DBS_ENOMEM;
	memset(se, 0, sizeof *se);
	if ((rc = get_opt(r, batch, &se->statement, "schema statement")) != 0)
		return rc;
	if (get_u32(r, &n, 65535, "schema change count") != 0)
		return DBS_EPROTO;
	/* A change takes at least seven bytes. */
	if (n > left(r) / 7)
		return bad(r, "schema change count beyond the message");
	dbs_schema_change *c = dbs_batch_alloc(batch, (size_t)(n ? n : 1) * sizeof *c);
	if (!c)
		return DBS_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		dbs_schema_change *x = &c[i];
		memset(x, 0, sizeof *x);
		if (get_u8(r, &x->kind, "schema change kind") != 0)
			return DBS_EPROTO;
		if (x->kind < DBS_SCHEMA_CREATE_TABLE || x->kind > DBS_SCHEMA_OTHER) {
			r->p--;
			return bad(r, "unknown schema change kind");
		}
		if (get_u8(r, &x->unsafe, "schema change unsafe") != 0)
			return DBS_EPROTO;
		if (x->unsafe > 1) {
			r->p--;
			return bad(r, "schema change unsafe flag");
		}
		if (get_u8(r, &x->default_kind, "schema change default") != 0)
			return DBS_EPROTO;
		if (x->default_kind > DBS_DEFAULT_EXPR) {
			r->p--;
			return bad(r, "unknown schema change default");
		}
		if (get_u32(r, &x->column, UINT32_MAX, "schema change column") != 0)
			return DBS_EPROTO;
		/* A position in the table: its columns, or its indexes. */
		uint32_t limit = x->kind == DBS_SCHEMA_ADD_INDEX ? t->nindexes
		                 : x->kind == DBS_SCHEMA_ADD_COLUMN || x->kind == DBS_SCHEMA_RENAME_COLUMN ||
		                         x->kind == DBS_SCHEMA_ALTER_COLUMN
		                     ? t->ncolumns
		                     : UINT32_MAX;
		if (limit != UINT32_MAX && x->column >= limit)
			return bad(r, "schema change column out of range");
		if ((rc = get_opt(r, batch, &x->from_schema, "schema change old schema")) != 0 ||
		    (rc = get_opt(r, batch, &x->from_name, "schema change old name")) != 0 ||
		    (rc = get_opt(r, batch, &x->default_text, "schema change default text")) != 0)
			return rc;
	}
	se->nchanges = n;
	se->changes = c;
	ev->schema = se;
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
	if (op < DBS_OP_INSERT || op > (version >= 3 ? DBS_OP_SCHEMA : DBS_OP_DELETE)) {
		r->p--;
		return bad(r, "unknown event op");
	}
	if (get_u32(r, &index, ntables ? ntables - 1 : 0, "table index") != 0 || index >= ntables)
		return bad(r, "table index out of range");
	if (get_u8(r, &images, "image flags") != 0)
		return DBS_EPROTO;
	unsigned allowed = op == DBS_OP_INSERT   ? 2u
	                   : op == DBS_OP_DELETE ? 1u
	                   : op == DBS_OP_SCHEMA ? 0u
	                                         : 3u;
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
	if (op == DBS_OP_SCHEMA)
		return get_schema(r, batch, ev);
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

DBS_API int dbs_codec_decode(dbs_codec_decoder *dec, const void *data, size_t len, dbs_batch **out,
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
		dbs_fmt(err, errlen, "hub message: no data");
		rc = DBS_EINVAL;
		goto fail;
	}
	if (!dec) {
		if (dbs_codec_decoder_new(&own) != 0) {
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
		dbs_fmt(err, errlen, "hub message: format version %u, this reader knows %d to %d",
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
	dbs_codec_decoder_free(own);
	if (header)
		*header = h;
	*out = batch;
	return 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "hub message: out of memory");
	else if (rc == DBS_EINTERNAL)
		dbs_fmt(err, errlen, "hub message: could not rebuild an event");
	dbs_batch_free(batch);
	if (dec)
		release_tables(dec, held);
	dbs_codec_decoder_free(own);
	return rc;
}
