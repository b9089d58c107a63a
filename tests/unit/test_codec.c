/*
 * The hub wire format: every value kind and its edges survive a round
 * trip, tables are shared through the decoder's cache, and malformed
 * bytes (truncated at every offset, corrupted, lying counts) are refused
 * with DBS_EPROTO, never a crash. Schema events (version 3) survive a
 * round trip with every field, go to every partition, and are refused in
 * an older version's message.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/codec.h>
#include "core/core.h"

#define NCOLS 14

static dbs_table *make_table(const char *name, uint32_t version)
{
	static const char *names[NCOLS] = {"id", "n",  "u",  "d",   "dec", "txt",   "bin",
	                                   "js", "dt", "tm", "dtm", "ts",  "toast", "nul"};
	dbs_column cols[NCOLS];
	memset(cols, 0, sizeof cols);
	for (int i = 0; i < NCOLS; i++) {
		cols[i].name = names[i];
		cols[i].type_name = i == 4 ? "numeric(38,10)" : "text";
		cols[i].type_id = (uint32_t)(20 + i);
		cols[i].type_mod = i == 4 ? 2490382 : -1;
		cols[i].flags = i == 0 ? DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL : 0;
	}
	cols[2].flags = DBS_COLUMN_UNSIGNED;
	dbs_table *t;
	ck_assert_int_eq(dbs_table_new(&t, DBS_DIALECT_POSTGRESQL, "public", name, cols, NCOLS), 0);
	t->version = version;
	t->source_id = 16384 + version;
	return t;
}

static void set_time(dbs_value *v, dbs_value_kind kind, int32_t y, uint8_t mo, uint8_t d,
                     uint16_t h, uint8_t mi, uint8_t s, uint8_t neg, uint32_t us)
{
	v->kind = (uint8_t)kind;
	v->v.t.year = y;
	v->v.t.month = mo;
	v->v.t.day = d;
	v->v.t.hour = h;
	v->v.t.minute = mi;
	v->v.t.second = s;
	v->v.t.negative = neg;
	v->v.t.usec = us;
}

/* Row `variant` of a family of rows covering every kind and its edges. */
static void fill_row(dbs_batch *b, dbs_value *row, int variant)
{
	static const double doubles[] = {0.0, -0.0, 1.5, -1e308, 4.9e-324, INFINITY};
	static const int64_t ints[] = {0, -1, INT64_MIN, INT64_MAX, 63, -64};
	static const uint64_t uints[] = {0, 1, UINT64_MAX, 127, 128, (uint64_t)1 << 63};
	int k = variant % 6;
	row[0].kind = DBS_VALUE_INT;
	row[0].v.i = variant;
	row[1].kind = DBS_VALUE_INT;
	row[1].v.i = ints[k];
	row[2].kind = DBS_VALUE_UINT;
	row[2].v.u = uints[k];
	row[3].kind = DBS_VALUE_DOUBLE;
	row[3].v.d = variant == 7 ? NAN : doubles[k];
	ck_assert_int_eq(dbs_batch_set_bytes(b, &row[4], DBS_VALUE_DECIMAL, "-12.3400", 8), 0);
	if (k == 0)
		ck_assert_int_eq(dbs_batch_set_bytes(b, &row[5], DBS_VALUE_TEXT, "", 0), 0);
	else
		ck_assert_int_eq(dbs_batch_set_bytes(b, &row[5], DBS_VALUE_TEXT, "héllo", 6), 0);
	ck_assert_int_eq(dbs_batch_set_bytes(b, &row[6], DBS_VALUE_BYTES, "\0\x01\xff\0", 4), 0);
	ck_assert_int_eq(dbs_batch_set_bytes(b, &row[7], DBS_VALUE_JSON, "{\"a\":[1]}", 9), 0);
	set_time(&row[8], DBS_VALUE_DATE, k == 1 ? -4712 : 2024, 2, 29, 0, 0, 0, 0, 0);
	set_time(&row[9], DBS_VALUE_TIME, 0, 0, 0, 838, 59, 59, 1, 999999);
	set_time(&row[10], DBS_VALUE_DATETIME, 0, 0, 0, 0, 0, 0, 0, 0); /* MySQL zero date */
	set_time(&row[11], DBS_VALUE_TIMESTAMP, 1970, 1, 1, 23, 59, 60, 0, 1);
	row[12].kind = DBS_VALUE_UNCHANGED;
	row[13].kind = DBS_VALUE_NULL;
}

static void assert_value_eq(const dbs_value *a, const dbs_value *b)
{
	ck_assert_uint_eq(a->kind, b->kind);
	switch ((dbs_value_kind)a->kind) {
	case DBS_VALUE_NULL:
	case DBS_VALUE_UNCHANGED: break;
	case DBS_VALUE_TEXT:
	case DBS_VALUE_BYTES:
	case DBS_VALUE_DECIMAL:
	case DBS_VALUE_JSON:
		ck_assert_uint_eq(a->len, b->len);
		ck_assert_ptr_nonnull(b->v.s);
		ck_assert(memcmp(a->v.s, b->v.s, a->len) == 0);
		break;
	case DBS_VALUE_INT: ck_assert(a->v.i == b->v.i); break;
	case DBS_VALUE_UINT: ck_assert(a->v.u == b->v.u); break;
	case DBS_VALUE_DOUBLE:
		/* Bit for bit: keeps -0.0 and the NaN payload. */
		ck_assert(memcmp(&a->v.d, &b->v.d, sizeof a->v.d) == 0);
		break;
	default:
		ck_assert_int_eq(a->v.t.year, b->v.t.year);
		ck_assert_uint_eq(a->v.t.month, b->v.t.month);
		ck_assert_uint_eq(a->v.t.day, b->v.t.day);
		ck_assert_uint_eq(a->v.t.hour, b->v.t.hour);
		ck_assert_uint_eq(a->v.t.minute, b->v.t.minute);
		ck_assert_uint_eq(a->v.t.second, b->v.t.second);
		ck_assert_uint_eq(a->v.t.negative, b->v.t.negative);
		ck_assert_uint_eq(a->v.t.usec, b->v.t.usec);
	}
}

static void assert_table_eq(const dbs_table *a, const dbs_table *b)
{
	ck_assert_str_eq(a->schema, b->schema);
	ck_assert_str_eq(a->name, b->name);
	ck_assert_int_eq(a->dialect, b->dialect);
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_uint_eq(a->source_id, b->source_id);
	ck_assert_uint_eq(a->ncolumns, b->ncolumns);
	for (uint32_t i = 0; i < a->ncolumns; i++) {
		ck_assert_str_eq(a->columns[i].name, b->columns[i].name);
		ck_assert_str_eq(a->columns[i].type_name, b->columns[i].type_name);
		ck_assert_uint_eq(a->columns[i].type_id, b->columns[i].type_id);
		ck_assert_int_eq(a->columns[i].type_mod, b->columns[i].type_mod);
		ck_assert_uint_eq(a->columns[i].flags, b->columns[i].flags);
	}
}

static void assert_events_eq(const dbs_batch *a, uint32_t first, const dbs_batch *b)
{
	for (uint32_t i = 0; i < dbs_batch_count(b); i++) {
		const dbs_event *x = dbs_batch_event(a, first + i), *y = dbs_batch_event(b, i);
		ck_assert_uint_eq(x->op, y->op);
		assert_table_eq(x->table, y->table);
		ck_assert(x->pos.txn == y->pos.txn && x->pos.resume == y->pos.resume);
		ck_assert(x->pos.event == y->pos.event && x->pos.txn_end == y->pos.txn_end);
		ck_assert(x->pos.gtid_domain == y->pos.gtid_domain &&
		          x->pos.gtid_server == y->pos.gtid_server &&
		          x->pos.gtid_seq == y->pos.gtid_seq);
		ck_assert(x->commit_time_us == y->commit_time_us);
		ck_assert(x->xid == y->xid);
		ck_assert_int_eq(!x->before, !y->before);
		ck_assert_int_eq(!x->after, !y->after);
		for (uint32_t c = 0; c < x->table->ncolumns; c++) {
			if (x->before)
				assert_value_eq(&x->before[c], &y->before[c]);
			if (x->after)
				assert_value_eq(&x->after[c], &y->after[c]);
		}
	}
}

/* A batch of `n` events over two tables with every op and kind. */
static dbs_batch *sample_batch(uint32_t n)
{
	dbs_table *t1 = make_table("orders", 3), *t2 = make_table("", 0);
	dbs_batch *b;
	ck_assert_int_eq(dbs_batch_new(&b, 4), 0);
	for (uint32_t i = 0; i < n; i++) {
		dbs_op op = (dbs_op)(DBS_OP_INSERT + i % 3);
		dbs_event *ev;
		ck_assert_int_eq(dbs_batch_add(b, op, i % 4 == 3 ? t2 : t1, &ev), 0);
		ev->pos.txn = i == 1 ? UINT64_MAX : (uint64_t)i << 32;
		ev->pos.resume = ev->pos.txn + 1;
		ev->pos.event = i == 2 ? UINT32_MAX : i + 1;
		ev->pos.txn_end = i % 2;
		if (i % 3) { /* some with a GTID, at the edges of its fields */
			ev->pos.gtid_domain = i == 1 ? UINT32_MAX : i;
			ev->pos.gtid_server = i == 2 ? UINT32_MAX : 1;
			ev->pos.gtid_seq = i == 4 ? UINT64_MAX : (uint64_t)i * 1000;
		}
		ev->commit_time_us = i == 4 ? INT64_MIN : -(int64_t)i * 1000003;
		ev->xid = i == 5 ? UINT64_MAX : i;
		if (ev->before)
			fill_row(b, ev->before, (int)i + 1);
		if (ev->after)
			fill_row(b, ev->after, (int)i);
		if (i == 7 && ev->before) /* an update without an old image */
			ev->before = NULL;
	}
	dbs_batch_set_seq(b, 77);
	dbs_table_unref(t1);
	dbs_table_unref(t2);
	return b;
}

START_TEST(round_trip_every_kind)
{
	dbs_batch *b = sample_batch(24), *d = NULL;
	dbs_codec_buf buf = {0};
	dbs_codec_header h;
	char err[256] = "";
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 0, 24, "2ZRszHkB9H6XZnPbU6Cco3XnBm4", 77, 0,
	                                   err, sizeof err),
	                 0);
	ck_assert_int_eq(dbs_codec_decode(NULL, buf.msg.data, buf.msg.len, &d, &h, err, sizeof err), 0);
	ck_assert_str_eq(h.stream_id, "2ZRszHkB9H6XZnPbU6Cco3XnBm4");
	/* Rows alone: version 2, which a reader of version 2 still reads. */
	ck_assert_uint_eq(h.version, 2);
	ck_assert_uint_eq(h.ntables, 2);
	ck_assert(dbs_batch_seq(d) == 77);
	ck_assert_uint_eq(dbs_batch_count(d), 24);
	assert_events_eq(b, 0, d);
	ck_assert_ptr_null(dbs_batch_event(d, 7)->before);
	ck_assert_ptr_nonnull(dbs_batch_event(d, 7)->after);
	/* NaN stays NaN; the empty string is not NULL. */
	ck_assert(isnan(dbs_batch_event(d, 7)->after[3].v.d));
	ck_assert_uint_eq(dbs_batch_event(d, 0)->after[5].kind, DBS_VALUE_TEXT);
	ck_assert_uint_eq(dbs_batch_event(d, 0)->after[5].len, 0);
	dbs_batch_free(d);
	dbs_batch_free(b);
	dbs_codec_buf_free(&buf);
}
END_TEST

START_TEST(slices_and_shared_tables)
{
	dbs_batch *b = sample_batch(10), *d1 = NULL, *d2 = NULL;
	dbs_codec_buf buf = {0};
	dbs_codec_decoder *dec;
	char err[256] = "";
	ck_assert_int_eq(dbs_codec_decoder_new(&dec), 0);
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 3, 5, "s", 1, 0, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_decode(dec, buf.msg.data, buf.msg.len, &d1, NULL, err, sizeof err), 0);
	ck_assert_uint_eq(dbs_batch_count(d1), 5);
	assert_events_eq(b, 3, d1);
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 0, 10, "s", 2, 0, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_decode(dec, buf.msg.data, buf.msg.len, &d2, NULL, err, sizeof err), 0);
	/* Same definition, same shared table; it outlives the decoder. */
	ck_assert_ptr_eq(dbs_batch_event(d1, 0)->table, dbs_batch_event(d2, 3)->table);
	dbs_codec_decoder_free(dec);
	assert_events_eq(b, 0, d2);
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 8, 3, "s", 1, 0, err, sizeof err), DBS_EINVAL);
	dbs_batch_free(d1);
	dbs_batch_free(d2);
	dbs_batch_free(b);
	dbs_codec_buf_free(&buf);
}
END_TEST

START_TEST(redefined_table_is_not_confused)
{
	/* Same (schema, name, version) but another column list: the cache must
	 * not hand back the old definition. */
	dbs_codec_decoder *dec;
	dbs_codec_buf buf = {0};
	char err[256] = "";
	ck_assert_int_eq(dbs_codec_decoder_new(&dec), 0);
	dbs_column one = {"a", "int", 23, -1, 0},
	           two[2] = {{"a", "int", 23, -1, 0}, {"b", "text", 25, -1, 0}};
	dbs_table *t1, *t2;
	ck_assert_int_eq(dbs_table_new(&t1, DBS_DIALECT_MYSQL, "db", "t", &one, 1), 0);
	ck_assert_int_eq(dbs_table_new(&t2, DBS_DIALECT_MYSQL, "db", "t", two, 2), 0);
	dbs_batch *b1, *b2, *d1, *d2;
	dbs_event *ev;
	ck_assert_int_eq(dbs_batch_new(&b1, 1), 0);
	ck_assert_int_eq(dbs_batch_new(&b2, 1), 0);
	ck_assert_int_eq(dbs_batch_add(b1, DBS_OP_INSERT, t1, &ev), 0);
	ck_assert_int_eq(dbs_batch_add(b2, DBS_OP_INSERT, t2, &ev), 0);
	ck_assert_int_eq(dbs_codec_encode(&buf, b1, 0, 1, "s", 0, 0, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_decode(dec, buf.msg.data, buf.msg.len, &d1, NULL, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_encode(&buf, b2, 0, 1, "s", 0, 0, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_decode(dec, buf.msg.data, buf.msg.len, &d2, NULL, err, sizeof err), 0);
	ck_assert_uint_eq(dbs_batch_event(d1, 0)->table->ncolumns, 1);
	ck_assert_uint_eq(dbs_batch_event(d2, 0)->table->ncolumns, 2);
	ck_assert_uint_eq(dbs_batch_event(d2, 0)->table->dialect, DBS_DIALECT_MYSQL);
	dbs_batch_free(b1);
	dbs_batch_free(b2);
	dbs_batch_free(d1);
	dbs_batch_free(d2);
	dbs_table_unref(t1);
	dbs_table_unref(t2);
	dbs_codec_decoder_free(dec);
	dbs_codec_buf_free(&buf);
}
END_TEST

START_TEST(end_of_stream_marker)
{
	dbs_codec_buf buf = {0};
	dbs_codec_header h;
	dbs_batch *d = (dbs_batch *)&h;
	char err[256] = "";
	ck_assert_int_eq(
	    dbs_codec_encode(&buf, NULL, 0, 0, "abc", 9, DBS_CODEC_END_OF_STREAM, err, sizeof err),
	    0);
	ck_assert_int_eq(dbs_codec_decode(NULL, buf.msg.data, buf.msg.len, &d, &h, err, sizeof err), 0);
	ck_assert_ptr_null(d);
	ck_assert_uint_eq(h.flags, DBS_CODEC_END_OF_STREAM);
	ck_assert(h.seq == 9);
	/* The documented bytes, exactly. */
	static const uint8_t want[] = {'D', 'B', 'S', 'B', 2, 1, 3, 'a', 'b', 'c', 9, 0, 0};
	ck_assert_uint_eq(buf.msg.len, sizeof want);
	ck_assert(memcmp(buf.msg.data, want, sizeof want) == 0);
	/* A failed publisher says so in its marker; the flag alone is refused. */
	ck_assert_int_eq(dbs_codec_encode(&buf, NULL, 0, 0, "abc", 0,
	                                   DBS_CODEC_END_OF_STREAM | DBS_CODEC_PUBLISHER_FAILED,
	                                   err, sizeof err),
	                 0);
	ck_assert_int_eq(dbs_codec_decode(NULL, buf.msg.data, buf.msg.len, &d, &h, err, sizeof err), 0);
	ck_assert_uint_eq(h.flags, DBS_CODEC_END_OF_STREAM | DBS_CODEC_PUBLISHER_FAILED);
	ck_assert_int_eq(dbs_codec_encode(&buf, NULL, 0, 0, "abc", 0, DBS_CODEC_PUBLISHER_FAILED,
	                                   err, sizeof err),
	                 DBS_EINVAL);
	static const uint8_t lone[] = {'D', 'B', 'S', 'B', 1, 2, 0, 0, 0, 0};
	ck_assert_int_eq(dbs_codec_decode(NULL, lone, sizeof lone, &d, &h, err, sizeof err),
	                 DBS_EPROTO);
	dbs_codec_buf_free(&buf);
}
END_TEST

START_TEST(documented_example_bytes)
{
	/* The worked example of docs/hub-format.md. */
	static const uint8_t msg[] = {
	    'D', 'B', 'S', 'B', 1, 0, 1, 'x', 5, 1, 1,
	    /* table: schema "s", name "t", dialect 1, version 0, source 0, 2 columns */
	    1, 's', 1, 't', 1, 0, 0, 2, 1, 'i', 3, 'i', 'n', 't', 23, 1, 3, 1, 'v', 4, 't', 'e',
	    'x', 't', 25, 1, 0,
	    /* insert into table 0, after image only */
	    1, 0, 2, 0x80, 0x01, 0x81, 0x01, 1, 1, 0x03, 42, 4, 0x54, 2, 2, 'h', 'i'};
	dbs_batch *d;
	char err[256] = "";
	ck_assert_int_eq(dbs_codec_decode(NULL, msg, sizeof msg, &d, NULL, err, sizeof err), 0);
	ck_assert_uint_eq(dbs_batch_count(d), 1);
	const dbs_event *ev = dbs_batch_event(d, 0);
	ck_assert_uint_eq(ev->op, DBS_OP_INSERT);
	ck_assert_str_eq(ev->table->columns[1].type_name, "text");
	ck_assert_int_eq(ev->table->columns[0].type_mod, -1);
	ck_assert_uint_eq(ev->table->columns[0].flags, 3);
	ck_assert(ev->pos.txn == 128 && ev->pos.resume == 129 && ev->pos.event == 1);
	ck_assert(ev->commit_time_us == -2 && ev->xid == 42);
	ck_assert(ev->after[0].kind == DBS_VALUE_INT && ev->after[0].v.i == 42);
	ck_assert(ev->after[1].kind == DBS_VALUE_TEXT && ev->after[1].len == 2);
	ck_assert(ev->pos.gtid_seq == 0); /* version 1: no GTID */
	dbs_batch_free(d);

	/* Version 2: the same with no secondary index after the columns and
	 * the GTID 0-1-7 after the xid. */
	static const uint8_t msg2[] = {
	    'D', 'B', 'S', 'B', 2, 0, 1, 'x', 5, 1, 1,
	    1, 's', 1, 't', 1, 0, 0, 2, 1, 'i', 3, 'i', 'n', 't', 23, 1, 3, 1, 'v', 4, 't', 'e',
	    'x', 't', 25, 1, 0, 0,
	    1, 0, 2, 0x80, 0x01, 0x81, 0x01, 1, 1, 0x03, 42, 0, 1, 7, 4, 0x54, 2, 2, 'h', 'i'};
	ck_assert_int_eq(dbs_codec_decode(NULL, msg2, sizeof msg2, &d, NULL, err, sizeof err), 0);
	ev = dbs_batch_event(d, 0);
	ck_assert(ev->pos.txn == 128 && ev->pos.resume == 129 && ev->xid == 42);
	ck_assert(ev->pos.gtid_domain == 0 && ev->pos.gtid_server == 1 && ev->pos.gtid_seq == 7);
	ck_assert(ev->after[1].kind == DBS_VALUE_TEXT && ev->after[1].len == 2);
	/* And the encoder writes exactly these bytes. */
	dbs_codec_buf buf = {0};
	ck_assert_int_eq(dbs_codec_encode(&buf, d, 0, 1, "x", 5, 0, err, sizeof err), 0);
	ck_assert_uint_eq(buf.msg.len, sizeof msg2);
	ck_assert(memcmp(buf.msg.data, msg2, sizeof msg2) == 0);
	dbs_codec_buf_free(&buf);
	dbs_batch_free(d);
}
END_TEST

START_TEST(truncated_at_every_offset)
{
	dbs_batch *b = sample_batch(12), *d;
	dbs_codec_buf buf = {0};
	char err[256];
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 0, 12, "stream", 5, 0, err, sizeof err), 0);
	for (size_t n = 0; n < buf.msg.len; n++) {
		/* An exact-size copy so a read past the end is caught by ASan. */
		uint8_t *copy = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, buf.msg.data, n);
		err[0] = '\0';
		d = (dbs_batch *)copy;
		ck_assert_int_eq(dbs_codec_decode(NULL, copy, n, &d, NULL, err, sizeof err),
		                 DBS_EPROTO);
		ck_assert_ptr_null(d);
		ck_assert_msg(strncmp(err, "hub message: ", 13) == 0, "no reason at %zu: %s", n,
		              err);
		free(copy);
	}
	dbs_batch_free(b);
	dbs_codec_buf_free(&buf);
}
END_TEST

START_TEST(corrupted_bytes_never_crash)
{
	dbs_batch *b = sample_batch(6), *d;
	dbs_codec_buf buf = {0};
	dbs_codec_decoder *dec;
	char err[256];
	ck_assert_int_eq(dbs_codec_decoder_new(&dec), 0);
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 0, 6, "stream", 5, 0, err, sizeof err), 0);
	uint8_t *copy = malloc(buf.msg.len);
	ck_assert_ptr_nonnull(copy);
	static const uint8_t patterns[] = {0x00, 0xff, 0x80, 0x7f, 0x01};
	for (size_t i = 0; i < buf.msg.len; i++)
		for (size_t p = 0; p < sizeof patterns; p++) {
			memcpy(copy, buf.msg.data, buf.msg.len);
			copy[i] = patterns[p];
			int rc = dbs_codec_decode(dec, copy, buf.msg.len, &d, NULL, err, sizeof err);
			ck_assert(rc == 0 || rc == DBS_EPROTO);
			dbs_batch_free(d);
		}
	/* Trailing bytes and lying counts. */
	memcpy(copy, buf.msg.data, buf.msg.len);
	uint8_t *longer = malloc(buf.msg.len + 1);
	ck_assert_ptr_nonnull(longer);
	memcpy(longer, buf.msg.data, buf.msg.len);
	longer[buf.msg.len] = 0;
	ck_assert_int_eq(dbs_codec_decode(dec, longer, buf.msg.len + 1, &d, NULL, err, sizeof err),
	                 DBS_EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "trailing"));
	static const uint8_t huge[] = {'D', 'B',  'S',  'B',  1,    0,    0,
	                               0,   0xff, 0xff, 0xff, 0xff, 0x0f, 1};
	ck_assert_int_eq(dbs_codec_decode(dec, huge, sizeof huge, &d, NULL, err, sizeof err),
	                 DBS_EPROTO);
	static const uint8_t v4[] = {'D', 'B', 'S', 'B', 4, 0, 0, 0, 0, 0};
	ck_assert_int_eq(dbs_codec_decode(dec, v4, sizeof v4, &d, NULL, err, sizeof err),
	                 DBS_EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "version 4"));
	static const uint8_t longvar[] = {'D',  'B',  'S',  'B',  1,    0,    0,
	                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                  0xff, 0xff, 0x02, 0,    0};
	ck_assert_int_eq(dbs_codec_decode(dec, longvar, sizeof longvar, &d, NULL, err, sizeof err),
	                 DBS_EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "overflows"));
	free(longer);
	free(copy);
	dbs_codec_decoder_free(dec);
	dbs_batch_free(b);
	dbs_codec_buf_free(&buf);
}
END_TEST

START_TEST(encoder_refuses_what_it_cannot_carry)
{
	dbs_batch *b = sample_batch(1);
	dbs_codec_buf buf = {0};
	char err[256] = "";
	dbs_batch_event(b, 0)->after[1].kind = 200;
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 0, 1, "s", 0, 0, err, sizeof err), DBS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unknown value kind"));
	char id[300];
	memset(id, 'a', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	ck_assert_int_eq(
	    dbs_codec_encode(&buf, NULL, 0, 0, id, 0, DBS_CODEC_END_OF_STREAM, err, sizeof err),
	    DBS_EINVAL);
	ck_assert_int_eq(dbs_codec_encode(&buf, NULL, 0, 0, "s", 0, 0x80, err, sizeof err),
	                 DBS_EINVAL);
	dbs_batch_free(b);
	dbs_codec_buf_free(&buf);
}
END_TEST


/* ---- schema events (version 3) ---- */

/* The worked example of docs/hub-format.md: ADD COLUMN n with default 7. */
static const uint8_t schema_msg[] = {
    'D', 'B', 'S', 'B', 3, 0, 1, 'x', 6, 1, 1,
    /* table s.t after the change: version 1, 3 columns, no index */
    1, 's', 1, 't', 1, 1, 0, 3, 1, 'i', 3, 'i', 'n', 't', 23, 1, 3, 1, 'v', 4, 't', 'e', 'x',
    't', 25, 1, 0, 1, 'n', 3, 'i', 'n', 't', 23, 1, 0, 0,
    /* schema event, table 0, no image; txn 130, resume 131, event 1, end */
    4, 0, 0, 0x82, 0x01, 0x83, 0x01, 1, 1, 0x03, 43, 0, 0, 0,
    /* the statement */
    1, 33, 'A', 'L', 'T', 'E', 'R', ' ', 'T', 'A', 'B', 'L', 'E', ' ', 't', ' ', 'A', 'D', 'D',
    ' ', 'n', ' ', 'i', 'n', 't', ' ', 'D', 'E', 'F', 'A', 'U', 'L', 'T', ' ', '7',
    /* one change: ADD_COLUMN, safe, a literal default, column 2; no old
     * schema, no old name, default text "7" */
    1, 5, 0, 2, 2, 0, 0, 1, 1, '7'};

START_TEST(schema_event_documented_bytes)
{
	dbs_batch *d;
	dbs_codec_header h;
	char err[256] = "";
	ck_assert_int_eq(dbs_codec_decode(NULL, schema_msg, sizeof schema_msg, &d, &h, err, sizeof err),
	                 0);
	ck_assert_uint_eq(h.version, 3);
	ck_assert_uint_eq(dbs_batch_count(d), 1);
	const dbs_event *ev = dbs_batch_event(d, 0);
	ck_assert_uint_eq(ev->op, DBS_OP_SCHEMA);
	ck_assert_ptr_null(ev->before);
	ck_assert_ptr_null(ev->after);
	ck_assert_uint_eq(ev->table->ncolumns, 3);
	ck_assert_str_eq(ev->table->columns[2].name, "n");
	ck_assert(ev->pos.txn == 130 && ev->pos.resume == 131 && ev->pos.txn_end == 1);
	ck_assert_ptr_nonnull(ev->schema);
	ck_assert_str_eq(ev->schema->statement, "ALTER TABLE t ADD n int DEFAULT 7");
	ck_assert_uint_eq(ev->schema->nchanges, 1);
	const dbs_schema_change *c = &ev->schema->changes[0];
	ck_assert_uint_eq(c->kind, DBS_SCHEMA_ADD_COLUMN);
	ck_assert_uint_eq(c->unsafe, 0);
	ck_assert_uint_eq(c->default_kind, DBS_DEFAULT_LITERAL);
	ck_assert_uint_eq(c->column, 2);
	ck_assert_ptr_null(c->from_schema);
	ck_assert_ptr_null(c->from_name);
	ck_assert_str_eq(c->default_text, "7");
	/* The encoder writes exactly these bytes. */
	dbs_codec_buf buf = {0};
	ck_assert_int_eq(dbs_codec_encode(&buf, d, 0, 1, "x", 6, 0, err, sizeof err), 0);
	ck_assert_uint_eq(buf.msg.len, sizeof schema_msg);
	ck_assert(memcmp(buf.msg.data, schema_msg, sizeof schema_msg) == 0);
	dbs_codec_buf_free(&buf);
	dbs_batch_free(d);

	/* The same event in a version 2 message: an op that version does not
	 * know, refused. */
	uint8_t *v2 = malloc(sizeof schema_msg);
	ck_assert_ptr_nonnull(v2);
	memcpy(v2, schema_msg, sizeof schema_msg);
	v2[4] = 2;
	ck_assert_int_eq(dbs_codec_decode(NULL, v2, sizeof schema_msg, &d, NULL, err, sizeof err),
	                 DBS_EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "unknown event op"));
	free(v2);
}
END_TEST

/* Rows, then a schema event with every field, then rows. */
static dbs_batch *schema_sample(void)
{
	dbs_table *t = make_table("orders", 4);
	ck_assert_int_eq(dbs_table_add_index((dbs_table *)t, "by_n", DBS_INDEX_UNIQUE,
	                                     (const uint32_t[]){1, 2}, 2),
	                 0);
	dbs_batch *b;
	dbs_event *ev;
	ck_assert_int_eq(dbs_batch_new(&b, 3), 0);
	ck_assert_int_eq(dbs_batch_add(b, DBS_OP_INSERT, t, &ev), 0);
	fill_row(b, ev->after, 1);
	ev->pos = (dbs_position){.txn = 10, .event = 16};
	ck_assert_int_eq(dbs_batch_add(b, DBS_OP_SCHEMA, t, &ev), 0);
	ev->pos = (dbs_position){.txn = 10, .event = 17};
	ev->commit_time_us = 5;
	dbs_schema_change *c = dbs_batch_alloc(b, 4 * sizeof *c);
	dbs_schema_event *se = dbs_batch_alloc(b, sizeof *se);
	memset(c, 0, 4 * sizeof *c);
	c[0] = (dbs_schema_change){.kind = DBS_SCHEMA_RENAME_TABLE, .from_schema = "old",
	                           .from_name = ""};
	c[1] = (dbs_schema_change){.kind = DBS_SCHEMA_ADD_COLUMN, .column = 13,
	                           .default_kind = DBS_DEFAULT_EXPR, .default_text = "nextval('s')"};
	c[2] = (dbs_schema_change){.kind = DBS_SCHEMA_ALTER_COLUMN, .column = 5, .unsafe = 1};
	c[3] = (dbs_schema_change){.kind = DBS_SCHEMA_ADD_INDEX, .column = 0};
	se->statement = NULL;
	se->nchanges = 4;
	se->changes = c;
	ev->schema = se;
	ck_assert_int_eq(dbs_batch_add(b, DBS_OP_DELETE, t, &ev), 0);
	fill_row(b, ev->before, 2);
	ev->pos = (dbs_position){.txn = 10, .event = 32, .txn_end = 1};
	dbs_table_unref(t);
	return b;
}

static void assert_opt_eq(const char *a, const char *b)
{
	if (!a)
		ck_assert_ptr_null(b);
	else
		ck_assert_str_eq(a, b);
}

START_TEST(schema_event_round_trip)
{
	dbs_batch *b = schema_sample(), *d;
	dbs_codec_buf buf = {0};
	dbs_codec_header h;
	char err[256] = "";
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 0, 3, "s", 1, 0, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_decode(NULL, buf.msg.data, buf.msg.len, &d, &h, err, sizeof err), 0);
	ck_assert_uint_eq(h.version, 3);
	assert_events_eq(b, 0, d);
	const dbs_schema_event *x = dbs_batch_event(b, 1)->schema, *y = dbs_batch_event(d, 1)->schema;
	ck_assert_ptr_null(y->statement);
	ck_assert_uint_eq(y->nchanges, x->nchanges);
	for (uint32_t i = 0; i < x->nchanges; i++) {
		ck_assert_uint_eq(x->changes[i].kind, y->changes[i].kind);
		ck_assert_uint_eq(x->changes[i].unsafe, y->changes[i].unsafe);
		ck_assert_uint_eq(x->changes[i].default_kind, y->changes[i].default_kind);
		ck_assert_uint_eq(x->changes[i].column, y->changes[i].column);
		assert_opt_eq(x->changes[i].from_schema, y->changes[i].from_schema);
		assert_opt_eq(x->changes[i].from_name, y->changes[i].from_name);
		assert_opt_eq(x->changes[i].default_text, y->changes[i].default_text);
	}
	/* The empty old name stays empty, not absent. */
	ck_assert_str_eq(y->changes[0].from_name, "");
	ck_assert_uint_eq(dbs_batch_event(d, 1)->table->nindexes, 1);
	dbs_batch_free(d);

	/* Its rows alone are a version 2 message. */
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 2, 1, "s", 1, 0, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_decode(NULL, buf.msg.data, buf.msg.len, &d, &h, err, sizeof err), 0);
	ck_assert_uint_eq(h.version, 2);
	dbs_batch_free(d);

	/* A column past the table, or an index it does not have: refused. */
	dbs_schema_change *c = (dbs_schema_change *)dbs_batch_event(b, 1)->schema->changes;
	c[1].column = NCOLS;
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 1, 1, "s", 1, 0, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_decode(NULL, buf.msg.data, buf.msg.len, &d, &h, err, sizeof err),
	                 DBS_EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "column out of range"));
	c[1].column = 13;
	c[3].column = 1;
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 1, 1, "s", 1, 0, err, sizeof err), 0);
	ck_assert_int_eq(dbs_codec_decode(NULL, buf.msg.data, buf.msg.len, &d, &h, err, sizeof err),
	                 DBS_EPROTO);
	/* A schema event without its changes cannot be written. */
	dbs_batch_event(b, 1)->schema = NULL;
	ck_assert_int_eq(dbs_codec_encode(&buf, b, 0, 3, "s", 1, 0, err, sizeof err), DBS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "without its changes"));
	dbs_batch_free(b);
	dbs_codec_buf_free(&buf);
}
END_TEST

START_TEST(schema_event_truncated_and_corrupted)
{
	dbs_batch *d;
	char err[256];
	for (size_t n = 0; n < sizeof schema_msg; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, schema_msg, n);
		ck_assert_int_eq(dbs_codec_decode(NULL, copy, n, &d, NULL, err, sizeof err),
		                 DBS_EPROTO);
		free(copy);
	}
	uint8_t copy[sizeof schema_msg];
	static const uint8_t patterns[] = {0x00, 0xff, 0x80, 0x7f, 0x01, 0x02, 0x0d};
	for (size_t i = 0; i < sizeof schema_msg; i++)
		for (size_t p = 0; p < sizeof patterns; p++) {
			memcpy(copy, schema_msg, sizeof copy);
			copy[i] = patterns[p];
			int rc = dbs_codec_decode(NULL, copy, sizeof copy, &d, NULL, err, sizeof err);
			ck_assert(rc == 0 || rc == DBS_EPROTO);
			if (rc == 0 && dbs_batch_event(d, 0)->op == DBS_OP_SCHEMA)
				ck_assert_ptr_nonnull(dbs_batch_event(d, 0)->schema);
			dbs_batch_free(d);
		}
	/* An unknown kind (13) and an unsafe flag of 2 are named. */
	memcpy(copy, schema_msg, sizeof copy);
	copy[sizeof copy - 9] = 13;
	ck_assert_int_eq(dbs_codec_decode(NULL, copy, sizeof copy, &d, NULL, err, sizeof err),
	                 DBS_EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "unknown schema change kind"));
	memcpy(copy, schema_msg, sizeof copy);
	copy[sizeof copy - 8] = 2;
	ck_assert_int_eq(dbs_codec_decode(NULL, copy, sizeof copy, &d, NULL, err, sizeof err),
	                 DBS_EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "unsafe"));
}
END_TEST

struct sliced {
	uint32_t schema_in[4]; /* schema events seen per partition */
	uint32_t rows;
};

static int count_slice(void *ctx, uint32_t partition, const dbs_buf *msg, const dbs_position *last,
                       char *err, size_t errlen)
{
	(void)last;
	struct sliced *s = ctx;
	dbs_batch *d;
	ck_assert_int_eq(dbs_codec_decode(NULL, msg->data, msg->len, &d, NULL, err, errlen), 0);
	for (uint32_t i = 0; i < dbs_batch_count(d); i++) {
		if (dbs_batch_event(d, i)->op == DBS_OP_SCHEMA)
			s->schema_in[partition]++;
		else
			s->rows++;
	}
	dbs_batch_free(d);
	return 0;
}

/* With several partitions every writer gets the schema change, before
 * the rows of its partition that follow it. */
START_TEST(schema_event_in_every_partition)
{
	dbs_batch *b = schema_sample();
	dbs_codec_buf buf = {0};
	char err[256] = "";
	struct sliced s;
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(dbs_codec_slice(&buf, b, 4, 1 << 20, "s", count_slice, &s, err, sizeof err),
	                 0);
	for (int p = 0; p < 4; p++)
		ck_assert_uint_eq(s.schema_in[p], 1);
	ck_assert_uint_eq(s.rows, 2);
	memset(&s, 0, sizeof s);
	ck_assert_int_eq(dbs_codec_slice(&buf, b, 1, 1 << 20, "s", count_slice, &s, err, sizeof err),
	                 0);
	ck_assert_uint_eq(s.schema_in[0], 1);
	dbs_batch_free(b);
	dbs_codec_buf_free(&buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");
	/* Check's 4 s default is too short for the byte-by-byte cases under
	 * ASan on a busy machine; a hang still ends the test. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, round_trip_every_kind);
	tcase_add_test(tc, slices_and_shared_tables);
	tcase_add_test(tc, redefined_table_is_not_confused);
	tcase_add_test(tc, end_of_stream_marker);
	tcase_add_test(tc, documented_example_bytes);
	tcase_add_test(tc, truncated_at_every_offset);
	tcase_add_test(tc, corrupted_bytes_never_crash);
	tcase_add_test(tc, encoder_refuses_what_it_cannot_carry);
	tcase_add_test(tc, schema_event_documented_bytes);
	tcase_add_test(tc, schema_event_round_trip);
	tcase_add_test(tc, schema_event_truncated_and_corrupted);
	tcase_add_test(tc, schema_event_in_every_partition);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
