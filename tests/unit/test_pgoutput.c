/*
 * pgoutput decoder on messages captured from PostgreSQL 15
 * (tests/unit/data/pgoutput/capture.sh describes the workload), and on
 * truncated and garbled variants of each, which must be refused. Also
 * the difference between two Relation messages of one relation, as the
 * schema event the source makes of it (lib/sources/postgresql/schema.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "sources/postgresql/pg_source.h"
#include "sources/postgresql/pgoutput.h"

#define DIR DBS_TEST_DATA "/pgoutput"
#define MAXMSG 1024

typedef struct captured {
	char name[64];
	char kind[32];
	uint8_t *data;
	size_t len;
	int in_stream; /* decoded inside a stream block */
} captured;

static captured msgs[MAXMSG];
static size_t nmsgs;

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

static int load(void)
{
	char path[512], line[256], lsn[32];
	FILE *idx = fopen(DIR "/index.txt", "r");
	int in_stream = 0;
	if (!idx) {
		fprintf(stderr, "cannot open %s/index.txt\n", DIR);
		return -1;
	}
	while (fgets(line, sizeof line, idx) && nmsgs < MAXMSG) {
		captured *c = &msgs[nmsgs];
		if (sscanf(line, "%63s %31s %31s", c->name, lsn, c->kind) != 3)
			break;
		snprintf(path, sizeof path, "%s/%s", DIR, c->name);
		c->data = slurp(path, &c->len);
		if (!c->data) {
			fprintf(stderr, "cannot read %s\n", path);
			fclose(idx);
			return -1;
		}
		if (strcmp(c->kind, "stream_start") == 0)
			in_stream = 1;
		c->in_stream = in_stream && strcmp(c->kind, "stream_start") != 0;
		if (strcmp(c->kind, "stream_stop") == 0)
			in_stream = 0;
		nmsgs++;
	}
	fclose(idx);
	return nmsgs > 50 ? 0 : -1;
}

static void decode_ok(size_t i, dbs_pgo_msg *m)
{
	char err[256] = "";
	int rc = dbs__pgo_decode(m, msgs[i].data, msgs[i].len, msgs[i].in_stream, err, sizeof err);
	ck_assert_msg(rc == 0, "%s: %s", msgs[i].name, err);
}

/* Index of the n-th (0-based) message of `kind` at or after `from`. */
static size_t find(const char *kind, size_t from, int n)
{
	for (size_t i = from; i < nmsgs; i++)
		if (strcmp(msgs[i].kind, kind) == 0 && n-- == 0)
			return i;
	ck_abort_msg("no %s message after %zu", kind, from);
	return 0;
}

static int str_is(dbs_pgo_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.s, want, s.len) == 0;
}

static dbs_pgo_column col_at(const dbs_pgo_tuple *t, unsigned k)
{
	dbs_pgo_iter it;
	dbs_pgo_column c = {0, NULL, 0};
	dbs__pgo_tuple_iter(&it, t);
	for (unsigned i = 0; i <= k; i++)
		ck_assert(dbs__pgo_tuple_next(&it, &c));
	return c;
}

static void col_text(const dbs_pgo_tuple *t, unsigned k, const char *want)
{
	dbs_pgo_column c = col_at(t, k);
	ck_assert_int_eq(c.kind, 't');
	ck_assert_uint_eq(c.len, strlen(want));
	ck_assert(memcmp(c.data, want, c.len) == 0);
}

START_TEST(test_all_decode)
{
	dbs_pgo_msg m;
	for (size_t i = 0; i < nmsgs; i++) {
		decode_ok(i, &m);
		ck_assert_int_eq(m.kind, msgs[i].data[0]);
		ck_assert_int_eq(m.has_xid, msgs[i].in_stream && m.kind != DBS_PGO_STREAM_STOP);
	}
}
END_TEST

START_TEST(test_begin_commit)
{
	dbs_pgo_msg b, c;
	size_t ib = find("begin", 0, 0), ic = find("commit", ib, 0);
	decode_ok(ib, &b);
	decode_ok(ic, &c);
	ck_assert_uint_ne(b.u.begin.final_lsn, 0);
	ck_assert_uint_eq(b.u.begin.final_lsn, c.u.commit.commit_lsn);
	ck_assert_uint_gt(c.u.commit.end_lsn, c.u.commit.commit_lsn);
	ck_assert_int_eq(b.u.begin.commit_time, c.u.commit.commit_time);
	/* Captured after 2020 and before 2100, in µs since 2000-01-01. */
	ck_assert_int_gt(b.u.begin.commit_time, INT64_C(631152000000000));
	ck_assert_int_lt(b.u.begin.commit_time, INT64_C(3155760000000000));
	ck_assert_uint_ne(b.u.begin.xid, 0);

	/* Every later transaction commits after the first. */
	dbs_pgo_msg c2;
	decode_ok(find("commit", ic + 1, 0), &c2);
	ck_assert_uint_gt(c2.u.commit.commit_lsn, c.u.commit.end_lsn - 1);
}
END_TEST

START_TEST(test_type_and_relation)
{
	dbs_pgo_msg y, r;
	decode_ok(find("type", 0, 0), &y);
	ck_assert(str_is(y.u.type.nspname, "public"));
	ck_assert(str_is(y.u.type.name, "mood"));

	decode_ok(find("relation", 0, 0), &r);
	ck_assert(str_is(r.u.relation.nspname, "public"));
	ck_assert(str_is(r.u.relation.relname, "t1"));
	ck_assert_int_eq(r.u.relation.replident, 'd');
	ck_assert_uint_eq(r.u.relation.ncols, 7);

	static const char *names[] = {"id", "name", "big", "note", "m", "n", "ts"};
	static const uint32_t oids[] = {23, 25, 25, 1043, 0, 1700, 1184};
	static const int32_t mods[] = {-1, -1, -1, 24, -1, (10 << 16 | 2) + 4, -1};
	dbs_pgo_iter it;
	dbs_pgo_relcol c;
	unsigned i = 0;
	dbs__pgo_relcols_iter(&it, &r);
	while (dbs__pgo_relcols_next(&it, &c)) {
		ck_assert_msg(str_is(c.name, names[i]), "column %u", i);
		ck_assert_int_eq(c.flags, i == 0 ? 1 : 0);
		if (oids[i])
			ck_assert_uint_eq(c.type_oid, oids[i]);
		else
			ck_assert_uint_eq(c.type_oid, y.u.type.oid);
		ck_assert_int_eq(c.type_mod, mods[i]);
		i++;
	}
	ck_assert_uint_eq(i, 7);
}
END_TEST

START_TEST(test_insert_values)
{
	dbs_pgo_msg r, a, b;
	decode_ok(find("relation", 0, 0), &r);
	decode_ok(find("insert", 0, 0), &a);
	decode_ok(find("insert", 0, 1), &b);
	ck_assert_uint_eq(a.u.change.relid, r.u.relation.relid);
	ck_assert_int_eq(a.u.change.old_kind, 0);
	ck_assert_uint_eq(a.u.change.new_tuple.ncols, 7);
	col_text(&a.u.change.new_tuple, 0, "1");
	col_text(&a.u.change.new_tuple, 1, "one");
	dbs_pgo_column big = col_at(&a.u.change.new_tuple, 2);
	ck_assert_int_eq(big.kind, 't');
	ck_assert_uint_eq(big.len, 10000);
	ck_assert(big.data[0] == 'x' && big.data[9999] == 'x');
	col_text(&a.u.change.new_tuple, 3, "n1");
	col_text(&a.u.change.new_tuple, 4, "happy");
	col_text(&a.u.change.new_tuple, 5, "12.50");
	col_text(&a.u.change.new_tuple, 6, "2024-01-02 03:04:05.123456+00");

	col_text(&b.u.change.new_tuple, 0, "2");
	for (unsigned k = 1; k < 7; k++)
		ck_assert_int_eq(col_at(&b.u.change.new_tuple, k).kind, 'n');
}
END_TEST

START_TEST(test_update_unchanged_toast)
{
	dbs_pgo_msg u;
	decode_ok(find("update", 0, 0), &u);
	ck_assert_int_eq(u.u.change.old_kind, 0); /* no old tuple: key unchanged */
	col_text(&u.u.change.new_tuple, 0, "1");
	col_text(&u.u.change.new_tuple, 1, "uno");
	ck_assert_int_eq(col_at(&u.u.change.new_tuple, 2).kind, 'u');
	col_text(&u.u.change.new_tuple, 3, "n1");
}
END_TEST

START_TEST(test_update_key_and_delete)
{
	dbs_pgo_msg u, d;
	decode_ok(find("update", 0, 1), &u);
	ck_assert_int_eq(u.u.change.old_kind, 'K');
	col_text(&u.u.change.old_tuple, 0, "2");
	for (unsigned k = 1; k < 7; k++)
		ck_assert_int_eq(col_at(&u.u.change.old_tuple, k).kind, 'n');
	col_text(&u.u.change.new_tuple, 0, "20");

	decode_ok(find("delete", 0, 0), &d);
	ck_assert_int_eq(d.u.change.old_kind, 'K');
	col_text(&d.u.change.old_tuple, 0, "3");
	ck_assert_uint_eq(d.u.change.new_tuple.ncols, 0);
}
END_TEST

START_TEST(test_replica_identity_full)
{
	dbs_pgo_msg r, u, d;
	size_t ir = find("relation", 0, 1);
	decode_ok(ir, &r);
	ck_assert(str_is(r.u.relation.relname, "t2"));
	ck_assert_int_eq(r.u.relation.replident, 'f');
	decode_ok(find("update", ir, 0), &u);
	ck_assert_int_eq(u.u.change.old_kind, 'O');
	col_text(&u.u.change.old_tuple, 0, "1");
	col_text(&u.u.change.old_tuple, 1, "a");
	col_text(&u.u.change.new_tuple, 1, "b");
	decode_ok(find("delete", ir, 0), &d);
	ck_assert_int_eq(d.u.change.old_kind, 'O');
	col_text(&d.u.change.old_tuple, 0, "2");
	ck_assert_int_eq(col_at(&d.u.change.old_tuple, 1).kind, 'n');
}
END_TEST

START_TEST(test_logical_messages)
{
	dbs_pgo_msg a, b;
	decode_ok(find("message", 0, 0), &a);
	decode_ok(find("message", 0, 1), &b);
	ck_assert_int_eq(a.u.message.flags, 1);
	ck_assert(str_is(a.u.message.prefix, "dbs"));
	ck_assert_uint_eq(a.u.message.content_len, 16);
	ck_assert(memcmp(a.u.message.content, "in a transaction", 16) == 0);
	ck_assert_int_eq(b.u.message.flags, 0);
	ck_assert_uint_eq(b.u.message.content_len, 7);
	ck_assert_uint_gt(a.u.message.lsn, 0);
}
END_TEST

/* Streamed transaction 1 commits; 2 aborts a subtransaction; 3 aborts. */
START_TEST(test_streams)
{
	dbs_pgo_msg m;
	size_t i = find("stream_start", 0, 0);
	uint32_t top[3] = {0};
	int inserts[3] = {0}, top_inserts[3] = {0}, starts[3] = {0};
	uint32_t xids[512];
	int nxids = 0;
	int which = 0, ended = 0;
	uint32_t sub_aborted = 0;
	uint64_t commit_lsn[2] = {0};

	for (; i < nmsgs && which < 3; i++) {
		decode_ok(i, &m);
		switch (m.kind) {
		case DBS_PGO_STREAM_START:
			if (!top[which])
				top[which] = m.u.stream_start.xid;
			ck_assert_uint_eq(m.u.stream_start.xid, top[which]);
			ck_assert_int_eq(m.u.stream_start.first_segment, starts[which] == 0);
			starts[which]++;
			break;
		case DBS_PGO_INSERT:
			ck_assert(m.has_xid);
			inserts[which]++;
			if (m.xid == top[which])
				top_inserts[which]++;
			if (which == 1 && nxids < 512)
				xids[nxids++] = m.xid;
			break;
		case DBS_PGO_RELATION: ck_assert(m.has_xid); break;
		case DBS_PGO_STREAM_COMMIT:
			ck_assert_uint_eq(m.u.stream_commit.xid, top[which]);
			ck_assert_uint_gt(m.u.stream_commit.end_lsn, m.u.stream_commit.commit_lsn);
			commit_lsn[which] = m.u.stream_commit.commit_lsn;
			ended = 1;
			break;
		case DBS_PGO_STREAM_ABORT:
			ck_assert_uint_eq(m.u.stream_abort.xid, top[which]);
			if (which == 1 && !sub_aborted) {
				ck_assert_uint_ne(m.u.stream_abort.subxid, top[which]);
				sub_aborted = m.u.stream_abort.subxid;
			} else {
				ck_assert_uint_eq(m.u.stream_abort.subxid, top[which]);
				ended = 1;
			}
			break;
		default: break;
		}
		if (ended) {
			which++;
			ended = 0;
		}
	}
	ck_assert_int_eq(which, 3);
	ck_assert_int_ge(starts[0], 2);
	ck_assert_int_eq(inserts[0], 100);
	ck_assert_int_eq(top_inserts[0], 100);
	/* The 10 rows before the savepoint carry the top xid; the aborted
	 * subtransaction's carry its own, and the row after ROLLBACK TO
	 * (a new subtransaction: the savepoint stays) another. Dropping the
	 * aborted one's leaves 11. */
	ck_assert_int_eq(top_inserts[1], 10);
	ck_assert_uint_ne(sub_aborted, 0);
	int kept = 0;
	for (int k = 0; k < nxids; k++)
		kept += xids[k] != sub_aborted;
	ck_assert_int_eq(kept, 11);
	ck_assert_int_gt(inserts[1], 11);
	ck_assert_int_eq(inserts[2], top_inserts[2]);
	ck_assert_uint_gt(commit_lsn[1], commit_lsn[0]);
}
END_TEST

START_TEST(test_alter_truncate_origin)
{
	dbs_pgo_msg r, t, t2, o;
	size_t last_rel = 0;
	for (size_t i = 0; i < nmsgs; i++) {
		if (strcmp(msgs[i].kind, "relation") != 0)
			continue;
		decode_ok(i, &r);
		if (str_is(r.u.relation.relname, "t1"))
			last_rel = i;
	}
	decode_ok(last_rel, &r);
	ck_assert_uint_eq(r.u.relation.ncols, 8);
	dbs_pgo_iter it;
	dbs_pgo_relcol c;
	dbs__pgo_relcols_iter(&it, &r);
	for (int k = 0; k < 8; k++)
		ck_assert(dbs__pgo_relcols_next(&it, &c));
	ck_assert(str_is(c.name, "extra"));
	ck_assert(!dbs__pgo_relcols_next(&it, &c));

	decode_ok(find("truncate", 0, 0), &t);
	ck_assert_uint_eq(t.u.truncate.nrelids, 1);
	decode_ok(find("relation", 0, 1), &t2);
	const uint8_t *p = t.u.truncate.relids;
	ck_assert_uint_eq((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3],
	                  t2.u.relation.relid);

	decode_ok(find("origin", 0, 0), &o);
	ck_assert(str_is(o.u.origin.name, "dbs_origin"));
	ck_assert_uint_eq(o.u.origin.lsn, 0x12345678u);
}
END_TEST

/* Every strict prefix, an extra byte, and an unknown kind are refused. */
START_TEST(test_malformed)
{
	dbs_pgo_msg m;
	char err[256];
	uint8_t *buf = malloc(1 << 16);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < nmsgs; i++) {
		const captured *c = &msgs[i];
		/* Exact-size copies so ASan sees any read past the end. */
		for (size_t n = 0; n < c->len && n < 512; n++) {
			uint8_t *cut = malloc(n ? n : 1);
			ck_assert_ptr_nonnull(cut);
			memcpy(cut, c->data, n);
			err[0] = '\0';
			ck_assert_msg(dbs__pgo_decode(&m, cut, n, c->in_stream, err, sizeof err) ==
			                  DBS_EPROTO,
			              "%s cut to %zu bytes decoded", c->name, n);
			ck_assert(err[0] != '\0');
			free(cut);
		}
		if (c->len + 1 <= (1 << 16)) {
			memcpy(buf, c->data, c->len);
			buf[c->len] = 0x42;
			ck_assert_msg(dbs__pgo_decode(&m, buf, c->len + 1, c->in_stream, err,
			                              sizeof err) == DBS_EPROTO,
			              "%s with a trailing byte decoded", c->name);
			buf[0] = 'z';
			ck_assert_int_eq(
			    dbs__pgo_decode(&m, buf, c->len, c->in_stream, err, sizeof err),
			    DBS_EPROTO);
		}
	}
	/* Column and content lengths that claim more than is there. */
	static const uint8_t bad_len[] = {'I', 0, 0, 0, 1, 'N', 0, 1, 't', 0xff, 0xff, 0xff, 0xff};
	ck_assert_int_eq(dbs__pgo_decode(&m, bad_len, sizeof bad_len, 0, err, sizeof err),
	                 DBS_EPROTO);
	static const uint8_t bad_kind[] = {'I', 0, 0, 0, 1, 'N', 0, 1, 'x'};
	ck_assert_int_eq(dbs__pgo_decode(&m, bad_kind, sizeof bad_kind, 0, err, sizeof err),
	                 DBS_EPROTO);
	static const uint8_t many_rels[] = {'T', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1};
	ck_assert_int_eq(dbs__pgo_decode(&m, many_rels, sizeof many_rels, 0, err, sizeof err),
	                 DBS_EPROTO);
	static const uint8_t no_nul[] = {'O', 0, 0, 0, 0, 0, 0, 0, 1, 'a', 'b'};
	ck_assert_int_eq(dbs__pgo_decode(&m, no_nul, sizeof no_nul, 0, err, sizeof err),
	                 DBS_EPROTO);
	static const uint8_t stop_outside[] = {'E'};
	ck_assert_int_eq(dbs__pgo_decode(&m, stop_outside, 1, 0, err, sizeof err), DBS_EPROTO);
	ck_assert_int_eq(dbs__pgo_decode(&m, stop_outside, 1, 1, err, sizeof err), 0);
	ck_assert_int_eq(dbs__pgo_decode(&m, NULL, 0, 0, NULL, 0), DBS_EPROTO);
	free(buf);
}
END_TEST

/* Flipping any byte must never crash (results may be valid or not). */
START_TEST(test_garbled_no_crash)
{
	dbs_pgo_msg m;
	for (size_t i = 0; i < nmsgs; i++) {
		const captured *c = &msgs[i];
		uint8_t *copy = malloc(c->len);
		ck_assert_ptr_nonnull(copy);
		for (size_t k = 0; k < c->len && k < 256; k++) {
			memcpy(copy, c->data, c->len);
			copy[k] ^= (uint8_t)(0x5a + k);
			if (dbs__pgo_decode(&m, copy, c->len, c->in_stream, NULL, 0) == 0 &&
			    (m.kind == 'I' || m.kind == 'U' || m.kind == 'D')) {
				dbs_pgo_iter it;
				dbs_pgo_column col;
				dbs__pgo_tuple_iter(&it, &m.u.change.new_tuple);
				while (dbs__pgo_tuple_next(&it, &col))
					;
				dbs__pgo_tuple_iter(&it, &m.u.change.old_tuple);
				while (dbs__pgo_tuple_next(&it, &col))
					;
			}
		}
		free(copy);
	}
}
END_TEST

START_TEST(test_frames)
{
	dbs_pgo_frame f;
	char err[128];
	uint8_t w[25 + 5] = {'w', 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 1, 2, 3, 5};
	memcpy(w + 25, "E....", 5);
	ck_assert_int_eq(dbs__pgo_frame_decode(&f, w, sizeof w, err, sizeof err), 0);
	ck_assert_int_eq(f.kind, 'w');
	ck_assert_uint_eq(f.wal_start, 0x01020304u);
	ck_assert_uint_eq(f.wal_end, 0x01020305u);
	ck_assert_ptr_eq(f.data, w + 25);
	ck_assert_uint_eq(f.len, 5);
	ck_assert_int_eq(dbs__pgo_frame_decode(&f, w, 24, err, sizeof err), DBS_EPROTO);

	uint8_t k[18] = {'k', 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 7, 1};
	ck_assert_int_eq(dbs__pgo_frame_decode(&f, k, sizeof k, err, sizeof err), 0);
	ck_assert_int_eq(f.kind, 'k');
	ck_assert_uint_eq(f.wal_end, 0x1000u);
	ck_assert_int_eq(f.send_time, 7);
	ck_assert_int_eq(f.reply_requested, 1);
	for (size_t n = 0; n < sizeof k; n++)
		ck_assert_int_eq(dbs__pgo_frame_decode(&f, k, n, err, sizeof err), DBS_EPROTO);
	k[0] = 'q';
	ck_assert_int_eq(dbs__pgo_frame_decode(&f, k, sizeof k, err, sizeof err), DBS_EPROTO);

	uint8_t r[DBS_PGO_STATUS_LEN];
	dbs__pgo_status_encode(r, 0x0102030405060708u, 2, 3, -1, 1);
	ck_assert_int_eq(r[0], 'r');
	ck_assert_int_eq(r[1], 1);
	ck_assert_int_eq(r[8], 8);
	ck_assert_int_eq(r[16], 2);
	ck_assert_int_eq(r[24], 3);
	ck_assert_int_eq(r[25], 0xff);
	ck_assert_int_eq(r[33], 1);
}
END_TEST


/* ---- Relation differences ---- */

#define KEY (DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL)

/* attnums the catalog shows dropped now (the test's "catalog"). */
static int32_t dropped_atts[8];

static int fake_dropped(void *ctx, int32_t att)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof dropped_atts / sizeof dropped_atts[0]; i++)
		if (dropped_atts[i] == att)
			return 1;
	return 0;
}

static dbs_table *def(const char *name, const dbs_column *cols, uint32_t n)
{
	dbs_table *t;
	ck_assert_int_eq(dbs_table_new(&t, DBS_DIALECT_POSTGRESQL, "public", name, cols, n), 0);
	return t;
}

/* The schema event from old to new; NULL when nothing changed. */
static const dbs_schema_event *diff_of(dbs_batch *b, const dbs_table *o, const int32_t *oatt,
                                       const dbs_table *n, const int32_t *natt,
                                       const dbs_pgs_default *defs)
{
	dbs_pgs_diff_in in = {o, n, oatt, natt, defs, fake_dropped, NULL};
	dbs_schema_event *se = NULL;
	ck_assert_int_eq(dbs__pgs_schema_diff(b, &in, &se), 0);
	if (se)
		fprintf(stderr, "diff: %s\n", se->statement);
	return se;
}

START_TEST(test_diff_add_drop_rename)
{
	memset(dropped_atts, 0, sizeof dropped_atts);
	dbs_column c1[] = {{"id", "integer", 23, -1, KEY},
	                   {"a", "text", 25, -1, 0},
	                   {"b", "integer", 23, -1, 0}};
	/* a renamed to a2 (attnum 2 kept), b dropped (attnum 3 dropped), n added
	 * (attnum 4) with a default the rows already there hold. */
	dbs_column c2[] = {{"id", "integer", 23, -1, KEY},
	                   {"a2", "text", 25, -1, 0},
	                   {"n", "integer", 23, -1, DBS_COLUMN_NOT_NULL}};
	int32_t a1[] = {1, 2, 3}, a2[] = {1, 2, 4};
	dropped_atts[0] = 3;
	dbs_table *o = def("t", c1, 3), *n = def("t", c2, 3);
	dbs_batch *b;
	ck_assert_int_eq(dbs_batch_new(&b, 1), 0);
	dbs_pgs_default defs[3] = {{0, NULL}, {0, NULL}, {0, NULL}};
	ck_assert_int_eq(dbs__pgs_default_of(b, "7", "7", &defs[2].kind, &defs[2].text), 0);
	const dbs_schema_event *se = diff_of(b, o, a1, n, a2, defs);
	ck_assert_ptr_nonnull(se);
	ck_assert_uint_eq(se->nchanges, 3);
	ck_assert_uint_eq(se->changes[0].kind, DBS_SCHEMA_DROP_COLUMN);
	ck_assert_str_eq(se->changes[0].from_name, "b");
	ck_assert_uint_eq(se->changes[1].kind, DBS_SCHEMA_RENAME_COLUMN);
	ck_assert_str_eq(se->changes[1].from_name, "a");
	ck_assert_uint_eq(se->changes[1].column, 1);
	ck_assert_uint_eq(se->changes[2].kind, DBS_SCHEMA_ADD_COLUMN);
	ck_assert_uint_eq(se->changes[2].column, 2);
	ck_assert_uint_eq(se->changes[2].default_kind, DBS_DEFAULT_LITERAL);
	ck_assert_str_eq(se->changes[2].default_text, "7");
	for (uint32_t i = 0; i < se->nchanges; i++)
		ck_assert_uint_eq(se->changes[i].unsafe, 0);
	ck_assert_ptr_nonnull(strstr(se->statement, "RENAME COLUMN a TO a2"));
	ck_assert_ptr_nonnull(strstr(se->statement, "DROP COLUMN b"));
	ck_assert_ptr_nonnull(strstr(se->statement, "ADD COLUMN n integer DEFAULT '7' NOT NULL"));
	/* The same definition again: nothing. */
	ck_assert_ptr_null(diff_of(b, n, a2, n, a2, NULL));
	dbs_batch_free(b);
	dbs_table_unref(o);
	dbs_table_unref(n);
}
END_TEST

/* A column gone and one new that the catalog cannot tell apart: never a
 * guess, the change stops the stream (OTHER, unsafe). */
START_TEST(test_diff_rename_or_drop_add_unclear)
{
	memset(dropped_atts, 0, sizeof dropped_atts);
	dbs_column c1[] = {{"id", "integer", 23, -1, KEY}, {"a", "text", 25, -1, 0}};
	dbs_column c2[] = {{"id", "integer", 23, -1, KEY}, {"z", "text", 25, -1, 0}};
	dbs_table *o = def("t", c1, 2), *n = def("t", c2, 2);
	dbs_batch *b;
	ck_assert_int_eq(dbs_batch_new(&b, 1), 0);
	/* z is gone from the catalog by now (renamed again, or dropped). */
	int32_t a1[] = {1, 2}, a2[] = {1, 0};
	const dbs_schema_event *se = diff_of(b, o, a1, n, a2, NULL);
	ck_assert_uint_eq(se->nchanges, 1);
	ck_assert_uint_eq(se->changes[0].kind, DBS_SCHEMA_OTHER);
	ck_assert_uint_eq(se->changes[0].unsafe, 1);
	ck_assert_ptr_nonnull(strstr(se->statement, "column a gone"));
	ck_assert_ptr_nonnull(strstr(se->statement, "column z text new"));
	/* a's attnum is a live column of another name: not shown dropped. */
	int32_t a3[] = {1, 3};
	se = diff_of(b, o, a1, n, a3, NULL);
	ck_assert_uint_eq(se->changes[0].kind, DBS_SCHEMA_OTHER);
	/* a's attnum unknown (first seen when the catalog no longer had it). */
	int32_t a0[] = {1, 0};
	se = diff_of(b, o, a0, n, a3, NULL);
	ck_assert_uint_eq(se->changes[0].kind, DBS_SCHEMA_OTHER);
	/* Shown dropped, and z a column of its own: a drop and an add. */
	dropped_atts[0] = 2;
	se = diff_of(b, o, a1, n, a3, NULL);
	ck_assert_uint_eq(se->nchanges, 2);
	ck_assert_uint_eq(se->changes[0].kind, DBS_SCHEMA_DROP_COLUMN);
	ck_assert_uint_eq(se->changes[1].kind, DBS_SCHEMA_ADD_COLUMN);
	ck_assert_uint_eq(se->changes[1].default_kind, DBS_DEFAULT_NONE);
	dbs_batch_free(b);
	dbs_table_unref(o);
	dbs_table_unref(n);
}
END_TEST

START_TEST(test_diff_types_null_key_table)
{
	memset(dropped_atts, 0, sizeof dropped_atts);
	/* varchar(10) typmod 14, numeric(10,2) typmod (10 << 16 | 2) + 4 */
	dbs_column c1[] = {{"id", "integer", 23, -1, KEY},
	                   {"v", "character varying(10)", 1043, 14, DBS_COLUMN_NOT_NULL},
	                   {"d", "numeric(10,2)", 1700, (10 << 16 | 2) + 4, 0},
	                   {"w", "character varying(10)", 1043, 14, 0},
	                   {"x", "text", 25, -1, 0}};
	dbs_column c2[] = {{"id", "bigint", 20, -1, KEY},
	                   {"v", "character varying(20)", 1043, 24, 0},
	                   {"d", "numeric(12,3)", 1700, (12 << 16 | 3) + 4, 0},
	                   {"w", "character varying(5)", 1043, 9, 0},
	                   {"x", "text", 25, -1, DBS_COLUMN_NOT_NULL}};
	int32_t a[] = {1, 2, 3, 4, 5};
	dbs_table *o = def("t", c1, 5), *n = def("t2", c2, 5);
	dbs_batch *b;
	ck_assert_int_eq(dbs_batch_new(&b, 1), 0);
	const dbs_schema_event *se = diff_of(b, o, a, n, a, NULL);
	ck_assert_uint_eq(se->nchanges, 6);
	ck_assert_uint_eq(se->changes[0].kind, DBS_SCHEMA_RENAME_TABLE);
	ck_assert_str_eq(se->changes[0].from_schema, "public");
	ck_assert_str_eq(se->changes[0].from_name, "t");
	/* int -> bigint: safe */
	ck_assert_uint_eq(se->changes[1].kind, DBS_SCHEMA_ALTER_COLUMN);
	ck_assert_uint_eq(se->changes[1].column, 0);
	ck_assert_uint_eq(se->changes[1].unsafe, 0);
	/* varchar(10) NOT NULL -> varchar(20): wider, NOT NULL dropped: safe */
	ck_assert_uint_eq(se->changes[2].column, 1);
	ck_assert_uint_eq(se->changes[2].unsafe, 0);
	/* numeric(10,2) -> numeric(12,3): 8 digits before the point still 9 */
	ck_assert_uint_eq(se->changes[3].column, 2);
	ck_assert_uint_eq(se->changes[3].unsafe, 0);
	/* varchar(10) -> varchar(5): narrower */
	ck_assert_uint_eq(se->changes[4].column, 3);
	ck_assert_uint_eq(se->changes[4].unsafe, 1);
	/* NOT NULL added */
	ck_assert_uint_eq(se->changes[5].column, 4);
	ck_assert_uint_eq(se->changes[5].unsafe, 1);
	ck_assert_ptr_nonnull(strstr(se->statement, "ALTER COLUMN w TYPE character varying(5)"));
	ck_assert_ptr_nonnull(strstr(se->statement, "ALTER COLUMN x SET NOT NULL"));
	ck_assert_ptr_nonnull(strstr(se->statement, "RENAME TO public.t2"));
	dbs_table_unref(n);

	/* The key moves to another column: unsafe. */
	dbs_column c3[] = {{"id", "integer", 23, -1, DBS_COLUMN_NOT_NULL},
	                   {"v", "character varying(10)", 1043, 14, KEY},
	                   {"d", "numeric(10,2)", 1700, (10 << 16 | 2) + 4, 0},
	                   {"w", "character varying(10)", 1043, 14, 0},
	                   {"x", "text", 25, -1, 0}};
	n = def("t", c3, 5);
	se = diff_of(b, o, a, n, a, NULL);
	ck_assert_uint_eq(se->nchanges, 1);
	ck_assert_uint_eq(se->changes[0].kind, DBS_SCHEMA_ALTER_KEY);
	ck_assert_uint_eq(se->changes[0].unsafe, 1);
	ck_assert_ptr_nonnull(strstr(se->statement, "PRIMARY KEY (v)"));
	dbs_batch_free(b);
	dbs_table_unref(o);
	dbs_table_unref(n);
}
END_TEST

START_TEST(test_widening_and_defaults)
{
	/* int2 -> int4 -> int8 -> numeric, float4 -> float8, varchar -> text */
	ck_assert(dbs__pgs_type_widens(21, -1, 23, -1));
	ck_assert(dbs__pgs_type_widens(23, -1, 20, -1));
	ck_assert(!dbs__pgs_type_widens(20, -1, 23, -1));
	ck_assert(dbs__pgs_type_widens(20, -1, 1700, -1));
	ck_assert(dbs__pgs_type_widens(23, -1, 1700, (12 << 16) + 4));
	ck_assert(!dbs__pgs_type_widens(23, -1, 1700, (12 << 16 | 4) + 4));
	ck_assert(dbs__pgs_type_widens(700, -1, 701, -1));
	ck_assert(!dbs__pgs_type_widens(701, -1, 700, -1));
	ck_assert(dbs__pgs_type_widens(1043, 14, 25, -1));
	ck_assert(dbs__pgs_type_widens(1043, 14, 1043, -1));
	ck_assert(!dbs__pgs_type_widens(25, -1, 1043, 14));
	ck_assert(!dbs__pgs_type_widens(1042, 14, 1042, 24)); /* char pads */
	ck_assert(!dbs__pgs_type_widens(1114, -1, 1184, -1)); /* zone meaning */
	ck_assert(dbs__pgs_type_widens(1114, 3, 1114, 6));
	ck_assert(!dbs__pgs_type_widens(1114, 6, 1114, 3));
	ck_assert(!dbs__pgs_type_widens(1700, -1, 1700, (10 << 16) + 4));

	dbs_batch *b;
	uint8_t kind;
	const char *text;
	ck_assert_int_eq(dbs_batch_new(&b, 1), 0);
	static const struct {
		const char *missing, *expr;
		uint8_t kind;
		const char *text;
	} cases[] = {
	    {NULL, NULL, DBS_DEFAULT_NONE, NULL},
	    {"2020-01-02 03:04:05", "now()", DBS_DEFAULT_LITERAL, "2020-01-02 03:04:05"},
	    {NULL, "now()", DBS_DEFAULT_NOW, NULL},
	    {NULL, "CURRENT_TIMESTAMP", DBS_DEFAULT_NOW, NULL},
	    {NULL, "42", DBS_DEFAULT_LITERAL, "42"},
	    {NULL, "'-1'::integer", DBS_DEFAULT_LITERAL, "-1"},
	    {NULL, "(-1.5)", DBS_DEFAULT_LITERAL, "-1.5"},
	    {NULL, "'it''s'::character varying", DBS_DEFAULT_LITERAL, "it's"},
	    {NULL, "true", DBS_DEFAULT_LITERAL, "t"},
	    {NULL, "NULL::text", DBS_DEFAULT_NULL, NULL},
	    {NULL, "nextval('t_id_seq'::regclass)", DBS_DEFAULT_EXPR,
	     "nextval('t_id_seq'::regclass)"},
	    {NULL, "('a'::text || 'b'::text)", DBS_DEFAULT_EXPR, "('a'::text || 'b'::text)"},
	    {NULL, "(1 + 2)", DBS_DEFAULT_EXPR, "(1 + 2)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(dbs__pgs_default_of(b, cases[i].missing, cases[i].expr, &kind, &text), 0);
		ck_assert_msg(kind == cases[i].kind, "%s: kind %u", cases[i].expr, kind);
		if (cases[i].text)
			ck_assert_str_eq(text, cases[i].text);
		else
			ck_assert_ptr_null(text);
	}
	dbs_batch_free(b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pgoutput");
	TCase *tc = tcase_create("decode");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_all_decode);
	tcase_add_test(tc, test_begin_commit);
	tcase_add_test(tc, test_type_and_relation);
	tcase_add_test(tc, test_insert_values);
	tcase_add_test(tc, test_update_unchanged_toast);
	tcase_add_test(tc, test_update_key_and_delete);
	tcase_add_test(tc, test_replica_identity_full);
	tcase_add_test(tc, test_logical_messages);
	tcase_add_test(tc, test_streams);
	tcase_add_test(tc, test_alter_truncate_origin);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_garbled_no_crash);
	tcase_add_test(tc, test_frames);
	suite_add_tcase(s, tc);
	TCase *td = tcase_create("relation differences");
	tcase_add_test(td, test_diff_add_drop_rename);
	tcase_add_test(td, test_diff_rename_or_drop_add_unclear);
	tcase_add_test(td, test_diff_types_null_key_table);
	tcase_add_test(td, test_widening_and_defaults);
	suite_add_tcase(s, td);
	return s;
}

int main(void)
{
	if (load() != 0)
		return EXIT_FAILURE;
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (size_t i = 0; i < nmsgs; i++)
		free(msgs[i].data);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
