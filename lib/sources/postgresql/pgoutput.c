/* pgoutput protocol version 2 decoder; see pgoutput.h. */
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sources/postgresql/pgoutput.h"

/*
 * A bounded reader. Every get checks the remaining length first and sets
 * `bad` (with the first reason) instead of reading past the end, so a
 * decoder can read a whole message and test `bad` once.
 */
typedef struct reader {
	const uint8_t *p, *end;
	const char *bad; /* first failure, NULL while fine */
} reader;

static int need(reader *r, size_t n, const char *what)
{
	if (r->bad)
		return 0;
	if ((size_t)(r->end - r->p) < n) {
		r->bad = what;
		return 0;
	}
	return 1;
}

static uint8_t get8(reader *r, const char *what)
{
	if (!need(r, 1, what))
		return 0;
	return *r->p++;
}

static uint16_t get16(reader *r, const char *what)
{
	if (!need(r, 2, what))
		return 0;
	uint16_t v = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static uint32_t get32(reader *r, const char *what)
{
	if (!need(r, 4, what))
		return 0;
	uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
	             (uint32_t)r->p[3];
	r->p += 4;
	return v;
}

static uint64_t get64(reader *r, const char *what)
{
	uint64_t hi = get32(r, what);
	uint64_t lo = get32(r, what);
	return hi << 32 | lo;
}

/* A NUL-terminated string; the terminator must lie inside the buffer. */
static dbs_pgo_str getstr(reader *r, const char *what)
{
	dbs_pgo_str s = {"", 0};
	if (r->bad)
		return s;
	const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
	if (!nul) {
		r->bad = what;
		return s;
	}
	s.s = (const char *)r->p;
	s.len = (size_t)(nul - r->p);
	r->p = nul + 1;
	return s;
}

static const uint8_t *getbytes(reader *r, size_t n, const char *what)
{
	if (!need(r, n, what))
		return NULL;
	const uint8_t *at = r->p;
	r->p += n;
	return at;
}

/* Read one tuple column; `bad` is set on malformed bytes. */
static void column_read(reader *r, dbs_pgo_column *col)
{
	col->kind = get8(r, "tuple column kind");
	col->data = NULL;
	col->len = 0;
	switch (col->kind) {
	case DBS_PGO_COL_NULL:
	case DBS_PGO_COL_UNCHANGED: break;
	case DBS_PGO_COL_TEXT:
	case DBS_PGO_COL_BINARY:
		col->len = get32(r, "tuple column length");
		/* A length with the top bit set is negative in the protocol. */
		if (!r->bad && col->len > INT32_MAX)
			r->bad = "negative tuple column length";
		col->data = getbytes(r, col->len, "tuple column data");
		break;
	default:
		if (!r->bad)
			r->bad = "unknown tuple column kind";
		break;
	}
}

static void tuple_read(reader *r, dbs_pgo_tuple *t)
{
	t->ncols = get16(r, "tuple column count");
	t->data = r->p;
	for (uint32_t i = 0; i < t->ncols && !r->bad; i++) {
		dbs_pgo_column col;
		column_read(r, &col);
	}
	t->len = r->bad ? 0 : (size_t)(r->p - t->data);
}

static void relcol_read(reader *r, dbs_pgo_relcol *c)
{
	c->flags = get8(r, "relation column flags");
	c->name = getstr(r, "relation column name");
	c->type_oid = get32(r, "relation column type");
	c->type_mod = (int32_t)get32(r, "relation column typmod");
}

static void change_xid(reader *r, dbs_pgo_msg *m, int in_stream)
{
	if (in_stream) {
		m->has_xid = 1;
		m->xid = get32(r, "stream xid");
	}
}

int dbs__pgo_decode(dbs_pgo_msg *out, const uint8_t *buf, size_t len, int in_stream, char *err,
                    size_t errlen)
{
	int rc = DBS_EPROTO;
	reader r = {buf, buf + len, NULL};
	uint8_t marker;

	memset(out, 0, sizeof *out);
	if (!buf || len == 0) {
		r.bad = "empty message";
		goto fail;
	}
	out->kind = get8(&r, "message kind");
	switch (out->kind) {
	case DBS_PGO_BEGIN:
		out->u.begin.final_lsn = get64(&r, "begin");
		out->u.begin.commit_time = (int64_t)get64(&r, "begin");
		out->u.begin.xid = get32(&r, "begin");
		break;
	case DBS_PGO_COMMIT:
		out->u.commit.flags = get8(&r, "commit");
		out->u.commit.commit_lsn = get64(&r, "commit");
		out->u.commit.end_lsn = get64(&r, "commit");
		out->u.commit.commit_time = (int64_t)get64(&r, "commit");
		break;
	case DBS_PGO_ORIGIN:
		out->u.origin.lsn = get64(&r, "origin");
		out->u.origin.name = getstr(&r, "origin name");
		break;
	case DBS_PGO_RELATION: {
		change_xid(&r, out, in_stream);
		out->u.relation.relid = get32(&r, "relation");
		out->u.relation.nspname = getstr(&r, "relation namespace");
		out->u.relation.relname = getstr(&r, "relation name");
		out->u.relation.replident = get8(&r, "relation replica identity");
		out->u.relation.ncols = get16(&r, "relation column count");
		out->u.relation.cols = r.p;
		for (uint32_t i = 0; i < out->u.relation.ncols && !r.bad; i++) {
			dbs_pgo_relcol c;
			relcol_read(&r, &c);
		}
		if (!r.bad)
			out->u.relation.cols_len = (size_t)(r.p - out->u.relation.cols);
		break;
	}
	case DBS_PGO_TYPE:
		change_xid(&r, out, in_stream);
		out->u.type.oid = get32(&r, "type");
		out->u.type.nspname = getstr(&r, "type namespace");
		out->u.type.name = getstr(&r, "type name");
		break;
	case DBS_PGO_INSERT:
		change_xid(&r, out, in_stream);
		out->u.change.relid = get32(&r, "insert");
		if (get8(&r, "insert") != 'N' && !r.bad)
			r.bad = "insert without new tuple";
		tuple_read(&r, &out->u.change.new_tuple);
		break;
	case DBS_PGO_UPDATE:
		change_xid(&r, out, in_stream);
		out->u.change.relid = get32(&r, "update");
		marker = get8(&r, "update");
		if (marker == 'K' || marker == 'O') {
			out->u.change.old_kind = marker;
			tuple_read(&r, &out->u.change.old_tuple);
			marker = get8(&r, "update");
		}
		if (marker != 'N' && !r.bad)
			r.bad = "update without new tuple";
		tuple_read(&r, &out->u.change.new_tuple);
		break;
	case DBS_PGO_DELETE:
		change_xid(&r, out, in_stream);
		out->u.change.relid = get32(&r, "delete");
		marker = get8(&r, "delete");
		if (marker != 'K' && marker != 'O' && !r.bad)
			r.bad = "delete without old tuple";
		out->u.change.old_kind = marker;
		tuple_read(&r, &out->u.change.old_tuple);
		break;
	case DBS_PGO_TRUNCATE:
		change_xid(&r, out, in_stream);
		out->u.truncate.nrelids = get32(&r, "truncate");
		out->u.truncate.options = get8(&r, "truncate");
		if (!r.bad && out->u.truncate.nrelids > (size_t)(r.end - r.p) / 4)
			r.bad = "truncate relation list";
		out->u.truncate.relids =
		    getbytes(&r, (size_t)out->u.truncate.nrelids * 4, "truncate relation list");
		break;
	case DBS_PGO_MESSAGE:
		change_xid(&r, out, in_stream);
		out->u.message.flags = get8(&r, "message");
		out->u.message.lsn = get64(&r, "message");
		out->u.message.prefix = getstr(&r, "message prefix");
		out->u.message.content_len = get32(&r, "message content length");
		if (!r.bad && out->u.message.content_len > INT32_MAX)
			r.bad = "negative message content length";
		out->u.message.content =
		    getbytes(&r, out->u.message.content_len, "message content");
		break;
	case DBS_PGO_STREAM_START:
		if (in_stream) {
			r.bad = "stream start inside a stream block";
			break;
		}
		out->u.stream_start.xid = get32(&r, "stream start");
		out->u.stream_start.first_segment = get8(&r, "stream start");
		break;
	case DBS_PGO_STREAM_STOP:
		if (!in_stream)
			r.bad = "stream stop outside a stream block";
		break;
	case DBS_PGO_STREAM_COMMIT:
		out->u.stream_commit.xid = get32(&r, "stream commit");
		out->u.stream_commit.flags = get8(&r, "stream commit");
		out->u.stream_commit.commit_lsn = get64(&r, "stream commit");
		out->u.stream_commit.end_lsn = get64(&r, "stream commit");
		out->u.stream_commit.commit_time = (int64_t)get64(&r, "stream commit");
		break;
	case DBS_PGO_STREAM_ABORT:
		out->u.stream_abort.xid = get32(&r, "stream abort");
		out->u.stream_abort.subxid = get32(&r, "stream abort");
		break;
	default: r.bad = "unknown message kind"; break;
	}
	/* Trailing bytes mean we misread the layout (or a newer protocol):
	 * better to stop than to apply a misdecoded change. */
	if (!r.bad && r.p != r.end)
		r.bad = "trailing bytes";
	if (r.bad)
		goto fail;
	rc = 0;
	return rc;
fail:
	if (err && errlen)
		dbs_fmt(err, errlen, "malformed pgoutput message '%c' (%zu bytes): %s",
		         (out->kind >= 0x20 && out->kind < 0x7f) ? out->kind : '?', len, r.bad);
	return rc;
}

void dbs__pgo_tuple_iter(dbs_pgo_iter *it, const dbs_pgo_tuple *tuple)
{
	it->p = tuple->data;
	it->end = tuple->data ? tuple->data + tuple->len : NULL;
	it->left = tuple->ncols;
}

int dbs__pgo_tuple_next(dbs_pgo_iter *it, dbs_pgo_column *col)
{
	if (it->left == 0 || !it->p)
		return 0;
	reader r = {it->p, it->end, NULL};
	column_read(&r, col);
	/* Only reachable with a tuple that was not validated by decode. */
	if (r.bad) {
		it->left = 0;
		return 0;
	}
	it->p = r.p;
	it->left--;
	return 1;
}

void dbs__pgo_relcols_iter(dbs_pgo_iter *it, const dbs_pgo_msg *relation)
{
	it->p = relation->u.relation.cols;
	it->end = it->p ? it->p + relation->u.relation.cols_len : NULL;
	it->left = relation->u.relation.ncols;
}

int dbs__pgo_relcols_next(dbs_pgo_iter *it, dbs_pgo_relcol *col)
{
	if (it->left == 0 || !it->p)
		return 0;
	reader r = {it->p, it->end, NULL};
	relcol_read(&r, col);
	if (r.bad) {
		it->left = 0;
		return 0;
	}
	it->p = r.p;
	it->left--;
	return 1;
}

int dbs__pgo_frame_decode(dbs_pgo_frame *out, const uint8_t *buf, size_t len, char *err,
                          size_t errlen)
{
	reader r = {buf, buf + len, NULL};

	memset(out, 0, sizeof *out);
	if (!buf || len == 0) {
		r.bad = "empty frame";
		goto fail;
	}
	out->kind = get8(&r, "frame kind");
	switch (out->kind) {
	case 'w':
		out->wal_start = get64(&r, "XLogData header");
		out->wal_end = get64(&r, "XLogData header");
		out->send_time = (int64_t)get64(&r, "XLogData header");
		if (!r.bad) {
			out->data = r.p;
			out->len = (size_t)(r.end - r.p);
			r.p = r.end;
		}
		break;
	case 'k':
		out->wal_end = get64(&r, "keepalive");
		out->send_time = (int64_t)get64(&r, "keepalive");
		out->reply_requested = get8(&r, "keepalive");
		break;
	default: r.bad = "unknown frame kind"; break;
	}
	if (!r.bad && r.p != r.end)
		r.bad = "trailing bytes";
	if (r.bad)
		goto fail;
	return 0;
fail:
	if (err && errlen)
		dbs_fmt(err, errlen, "malformed replication frame (%zu bytes): %s", len, r.bad);
	return DBS_EPROTO;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

void dbs__pgo_status_encode(uint8_t out[DBS_PGO_STATUS_LEN], uint64_t write_lsn, uint64_t flush_lsn,
                            uint64_t apply_lsn, int64_t now_pg_us, int reply_requested)
{
	out[0] = 'r';
	put64(out + 1, write_lsn);
	put64(out + 9, flush_lsn);
	put64(out + 17, apply_lsn);
	put64(out + 25, (uint64_t)now_pg_us);
	out[33] = reply_requested ? 1 : 0;
}
