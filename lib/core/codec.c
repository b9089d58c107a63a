/*
 * The hub wire format (docs/hub-format.md), encoding side: LEB128 varints
 * for counts and integers, zigzag for signed ones, raw little-endian
 * IEEE-754 for doubles, length-prefixed bytes for strings. Table
 * definitions travel once per message and events refer to them by index,
 * so a message can be read on its own, without any earlier message.
 * Also the partition of an event, and a batch cut into the messages a hub
 * publishes. codec_decode.c reads them back.
 */
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/codec.h>

#include "core/core.h"

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/* The most bytes one varint takes. */
#define VARINT_MAX 10
/* Bytes one value may take besides its string payload. */
#define VALUE_FIXED_MAX (1 + 5 * VARINT_MAX + 8)

DBS_API void dbs_codec_buf_free(dbs_codec_buf *buf)
{
	if (!buf)
		return;
	dbs_buf_free(&buf->msg);
	free(buf->tables);
	free(buf->order);
	memset(buf, 0, sizeof *buf);
}

/* Room for `more` bytes; the common case (room already there) inline. */
static inline int reserve(dbs_codec_buf *buf, size_t more)
{
	if (buf->msg.cap - buf->msg.len > more)
		return 0;
	return dbs_buf_reserve(&buf->msg, more);
}

/* The message's bytes, as the encoder writes them. */
static inline uint8_t *bytes(dbs_codec_buf *buf)
{
	return (uint8_t *)buf->msg.data;
}

/* The put_* functions write into space reserve() already made. */
static void put_u8(dbs_codec_buf *buf, uint8_t v)
{
	bytes(buf)[buf->msg.len++] = v;
}

static void put_uvarint(dbs_codec_buf *buf, uint64_t v)
{
	uint8_t *p = bytes(buf) + buf->msg.len;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	buf->msg.len = (size_t)(p - bytes(buf));
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
		bytes(buf)[buf->msg.len++] = (uint8_t)(bits >> (8 * i));
}

static int put_bytes(dbs_codec_buf *buf, const void *s, size_t len)
{
	if (reserve(buf, VARINT_MAX + len) != 0)
		return DBS_ENOMEM;
	put_uvarint(buf, len);
	if (len)
		memcpy(bytes(buf) + buf->msg.len, s, len);
	buf->msg.len += len;
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
		if (buf->msg.cap - buf->msg.len < VALUE_FIXED_MAX && reserve(buf, VALUE_FIXED_MAX) != 0)
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
				dbs_fmt(err, errlen, "codec: column %u: %u bytes at NULL", i,
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
			dbs_fmt(err, errlen, "codec: column %u: unknown value kind %u", i,
			         v->kind);
			return DBS_EINVAL;
		}
	}
	return 0;
}

/* An optional string: 0, or 1 and its bytes. */
static int put_opt(dbs_codec_buf *buf, const char *s)
{
	if (reserve(buf, 1))
		return DBS_ENOMEM;
	put_u8(buf, s ? 1 : 0);
	return s ? put_cstr(buf, s) : 0;
}

/* Version 3: what a schema event changed. */
static int put_schema(dbs_codec_buf *buf, const dbs_event *ev, char *err, size_t errlen)
{
	const dbs_schema_event *se = ev->schema;
	if (!se || (se->nchanges && !se->changes)) {
		dbs_fmt(err, errlen, "codec: a schema event of %s.%s without its changes",
		        ev->table->schema, ev->table->name);
		return DBS_EINVAL;
	}
	if (put_opt(buf, se->statement) || reserve(buf, VARINT_MAX))
		return DBS_ENOMEM;
	put_uvarint(buf, se->nchanges);
	for (uint32_t i = 0; i < se->nchanges; i++) {
		const dbs_schema_change *c = &se->changes[i];
		if (reserve(buf, 3 + VARINT_MAX))
			return DBS_ENOMEM;
		put_u8(buf, c->kind);
		put_u8(buf, c->unsafe);
		put_u8(buf, c->default_kind);
		put_uvarint(buf, c->column);
		if (put_opt(buf, c->from_schema) || put_opt(buf, c->from_name) ||
		    put_opt(buf, c->default_text))
			return DBS_ENOMEM;
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
		dbs_fmt(err, errlen, "codec: no buffer");
		goto fail;
	}
	buf->msg.len = 0;
	if (idlen > DBS_CODEC_MAX_STREAM_ID) {
		dbs_fmt(err, errlen, "codec: stream id longer than %d bytes",
		         DBS_CODEC_MAX_STREAM_ID);
		goto fail;
	}
	if (flags & ~(unsigned)DBS_CODEC_KNOWN_FLAGS) {
		dbs_fmt(err, errlen, "codec: unknown flags 0x%x", flags);
		goto fail;
	}
	if ((flags & DBS_CODEC_PUBLISHER_FAILED) && !(flags & DBS_CODEC_END_OF_STREAM)) {
		dbs_fmt(err, errlen, "codec: publisher-failed flag without end of stream");
		goto fail;
	}
	uint32_t avail = index ? nindex : batch ? dbs_batch_count(batch) : 0;
	if ((flags & DBS_CODEC_END_OF_STREAM)
	        ? count != 0
	        : (!batch || first > avail || count > avail - first)) {
		dbs_fmt(err, errlen, "codec: events [%u, +%u) out of range", first, count);
		goto fail;
	}
	for (uint32_t i = 0; index && i < count; i++) {
		if (index[first + i] >= dbs_batch_count(batch)) {
			dbs_fmt(err, errlen, "codec: event index %u out of range", index[first + i]);
			goto fail;
		}
	}
	rc = DBS_ENOMEM;
	if (count && collect_tables(buf, batch, index, first, count) != 0)
		goto fail;
	if (!count)
		buf->ntables = 0;

	/* Version 2 unless a schema event needs 3: a reader of version 2
	 * goes on reading rows. */
	uint8_t version = 2;
	for (uint32_t i = 0; i < count && version < 3; i++)
		if (slice_event(batch, index, first, i)->op == DBS_OP_SCHEMA)
			version = 3;
	if (reserve(buf, 6) != 0)
		goto fail;
	memcpy(bytes(buf), DBS_CODEC_MAGIC, 4);
	buf->msg.len = 4;
	put_u8(buf, version);
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
		put_u8(buf, ev->op == DBS_OP_SCHEMA
		                ? 0
		                : (uint8_t)((ev->before ? 1 : 0) | (ev->after ? 2 : 0)));
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
		if (ev->op == DBS_OP_SCHEMA) {
			if ((rc = put_schema(buf, ev, err, errlen)) != 0)
				goto fail;
			rc = DBS_ENOMEM;
			continue;
		}
		if (ev->before && (rc = put_row(buf, ev->before, ncol, err, errlen)) != 0)
			goto fail;
		if (ev->after && (rc = put_row(buf, ev->after, ncol, err, errlen)) != 0)
			goto fail;
		rc = DBS_ENOMEM;
	}
	return 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "codec: out of memory");
	if (buf)
		buf->msg.len = 0;
	return rc;
}

DBS_API int dbs_codec_encode(dbs_codec_buf *buf, const dbs_batch *batch, uint32_t first,
                             uint32_t count, const char *stream_id, uint64_t seq, unsigned flags,
                             char *err, size_t errlen)
{
	return encode(buf, batch, NULL, 0, first, count, stream_id, seq, flags, err, errlen);
}

DBS_API int dbs_codec_encode_list(dbs_codec_buf *buf, const dbs_batch *batch, const uint32_t *index,
                                  uint32_t nindex, uint32_t first, uint32_t count,
                                  const char *stream_id, uint64_t seq, char *err, size_t errlen)
{
	if (!index) {
		dbs_fmt(err, errlen, "codec: no event list");
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

DBS_API uint32_t dbs_codec_partition(const dbs_event *ev, uint32_t partitions)
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
/* Slicing: a batch as the messages a hub publishes                    */
/* ------------------------------------------------------------------ */

/* Encode events [first, first+*take) of the slice (the whole batch, or a
 * partition's index list) and shrink *take until the message fits. */
static int encode_fitting(dbs_codec_buf *buf, const dbs_batch *batch, const uint32_t *index,
                          uint32_t nindex, uint32_t first, uint32_t *take, size_t max_bytes,
                          const char *stream_id, char *err, size_t errlen)
{
	int rc;
	for (;;) {
		rc = encode(buf, batch, index, nindex, first, *take, stream_id, 0, 0, err, errlen);
		if (rc != 0 || buf->msg.len <= max_bytes)
			return rc;
		if (*take == 1) {
			const dbs_event *ev = dbs_batch_event(batch, index ? index[first] : first);
			dbs_fmt(err, errlen,
			        "one event of %s.%s takes %zu bytes, over the largest message "
			        "(%zu bytes)",
			        ev->table->schema, ev->table->name, buf->msg.len, max_bytes);
			return DBS_EINVAL;
		}
		/* Shrink in proportion, a little more to converge fast. */
		uint64_t guess = (uint64_t)*take * max_bytes / buf->msg.len * 9 / 10;
		*take = guess >= *take ? *take - 1 : guess ? (uint32_t)guess : 1;
	}
}

/* One partition's events (index list, or the whole batch) as messages. */
static int slice_group(dbs_codec_buf *buf, const dbs_batch *batch, uint32_t partition,
                       const uint32_t *index, uint32_t n, size_t max_bytes,
                       const char *stream_id, dbs_codec_emit_fn emit, void *ctx, char *err,
                       size_t errlen)
{
	uint32_t first = 0;
	int rc = 0;
	while (first < n) {
		uint32_t take = n - first;
		if ((rc = encode_fitting(buf, batch, index, n, first, &take, max_bytes, stream_id, err,
		                         errlen)) != 0)
			return rc;
		uint32_t last = index ? index[first + take - 1] : first + take - 1;
		if ((rc = emit(ctx, partition, &buf->msg, &dbs_batch_event(batch, last)->pos, err,
		               errlen)) != 0)
			return rc;
		first += take;
	}
	return 0;
}

DBS_API int dbs_codec_slice(dbs_codec_buf *buf, const dbs_batch *batch, uint32_t partitions,
                            size_t max_bytes, const char *stream_id, dbs_codec_emit_fn emit,
                            void *ctx, char *err, size_t errlen)
{
	uint32_t n = batch ? dbs_batch_count(batch) : 0;
	if (!buf || !batch || !emit) {
		dbs_fmt(err, errlen, "codec: no buffer, batch or emit function");
		return DBS_EINVAL;
	}
	if (partitions <= 1)
		return slice_group(buf, batch, 0, NULL, n, max_bytes, stream_id, emit, ctx, err,
		                   errlen);
	/* A schema change goes to every partition: each writer applies it
	 * (the target finds it done after the first) before the rows of its
	 * own partition that follow it. */
	uint32_t nschema = 0;
	for (uint32_t i = 0; i < n; i++)
		nschema += dbs_batch_event(batch, i)->op == DBS_OP_SCHEMA;
	/* order[0, total): the event indexes grouped by partition, commit
	 * order kept in each; then each event's partition (UINT32_MAX: all);
	 * then one count per partition. */
	size_t total = (size_t)n + (size_t)nschema * (partitions - 1);
	if ((size_t)n > (SIZE_MAX / sizeof *buf->order - partitions) / (2 + (size_t)partitions) ||
	    dbs_array_reserve((void **)&buf->order, &buf->order_cap, total + n + partitions,
	                      sizeof *buf->order)) {
		dbs_fmt(err, errlen, "codec: out of memory");
		return DBS_ENOMEM;
	}
	uint32_t *parts = buf->order + total, *count = parts + n;
	memset(count, 0, partitions * sizeof *count);
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (ev->op == DBS_OP_SCHEMA) {
			parts[i] = UINT32_MAX;
			for (uint32_t p = 0; p < partitions; p++)
				count[p]++;
			continue;
		}
		parts[i] = dbs_codec_partition(ev, partitions);
		count[parts[i]]++;
	}
	/* Each partition's first slot, then fill in commit order. */
	uint32_t at = 0;
	for (uint32_t p = 0; p < partitions; p++) {
		uint32_t c = count[p];
		count[p] = at;
		at += c;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (parts[i] != UINT32_MAX) {
			buf->order[count[parts[i]]++] = i;
			continue;
		}
		for (uint32_t p = 0; p < partitions; p++)
			buf->order[count[p]++] = i;
	}
	int rc = 0;
	for (uint32_t p = 0, start = 0; p < partitions && rc == 0; p++) {
		/* count[p] is now the end of partition p's group. */
		if (count[p] > start)
			rc = slice_group(buf, batch, p, buf->order + start, count[p] - start, max_bytes,
			                 stream_id, emit, ctx, err, errlen);
		start = count[p];
	}
	return rc;
}
