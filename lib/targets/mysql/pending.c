/*
 * MySQL target: deletes and whole-row writes by an integer key, held per
 * table and sent as one DELETE … WHERE k IN (…) followed by one
 * multi-row INSERT … ON DUPLICATE KEY UPDATE, however they interleave.
 *
 * A small source transaction (an OLTP one: a couple of updates, a delete,
 * an insert) otherwise becomes three or four statements at the target,
 * each parsed and planned on its own, and the server's work per
 * statement, not per row, sets the rate; grouped, a target transaction
 * holds hundreds of such transactions.
 *
 * Running a table's deletes before its writes gives the same rows as the
 * log order unless one key is written and then deleted: a delete of a key
 * already written sends what the table holds first. The key is an
 * integer, so two keys are the same row exactly when their literals are
 * equal (no collation). Membership is kept in two small Bloom filters: a
 * false "seen" only sends earlier.
 *
 * Changes of different tables are reordered too (the packet's order is
 * the order in which tables were first touched), so only tables without
 * foreign keys, triggers or a unique key besides the primary key in the
 * target's catalog take this path; for them the order between tables
 * changes no row. Every other statement sends what is held first.
 */
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/value_text.h"
#include "targets/mysql/my_target.h"

/* Held rows and keys (all tables) sent once they reach this size. */
#define PENDING_MAX_BYTES (64u * 1024u)

/* ---- which tables ---- */

/* Whether the target's table has foreign keys (either way), triggers or
 * a unique key other than the primary key. */
static int catalog_allows(my_target *t, my_table *tb, int *ok, char *err, size_t errlen)
{
	dbs_buf *q = &t->tmp;
	dbs_buf_reset(q);
	if (dbs_buf_append_str(q, "SELECT (SELECT COUNT(*) FROM information_schema.REFERENTIAL_"
	                          "CONSTRAINTS WHERE (CONSTRAINT_SCHEMA = DATABASE() AND "
	                          "TABLE_NAME = ") ||
	    dbs__sql_append_literal(q, tb->def->name, strlen(tb->def->name)) ||
	    dbs_buf_append_str(q, ") OR (UNIQUE_CONSTRAINT_SCHEMA = DATABASE() AND "
	                          "REFERENCED_TABLE_NAME = ") ||
	    dbs__sql_append_literal(q, tb->def->name, strlen(tb->def->name)) ||
	    dbs_buf_append_str(q, ")) + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE "
	                          "EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ") ||
	    dbs__sql_append_literal(q, tb->def->name, strlen(tb->def->name)) ||
	    dbs_buf_append_str(q, ") + (SELECT COUNT(*) FROM information_schema.STATISTICS WHERE "
	                          "TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 AND INDEX_NAME <> "
	                          "'PRIMARY' AND TABLE_NAME = ") ||
	    dbs__sql_append_literal(q, tb->def->name, strlen(tb->def->name)) ||
	    dbs_buf_append_char(q, ')')) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	MYSQL_RES *res = NULL;
	if (mysql_real_query(t->conn, q->data, (unsigned long)q->len) ||
	    !(res = mysql_store_result(t->conn))) {
		char where[300];
		dbs_fmt(where, sizeof where, "reading the foreign keys, triggers and keys of %s",
		        tb->qname);
		dbs__myt_error(t, err, errlen, where);
		return DBS_ETARGET;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	*ok = row && row[0] && strcmp(row[0], "0") == 0;
	mysql_free_result(res);
	return 0;
}

static int table_eligible(my_target *t, my_table *tb, int *yes, char *err, size_t errlen)
{
	*yes = 0;
	if (t->plain_inserts || t->common.dlq_qname || t->rows_one_by_one)
		return 0;
	if (tb->pend_state == 0) {
		tb->pend_state = -1;
		if (tb->nkeys == 1 && tb->tail_len && tb->types[tb->keys[0]].cls == DBS_SQL_INT) {
			int ok = 0;
			int rc = catalog_allows(t, tb, &ok, err, errlen);
			if (rc) {
				tb->pend_state = 0;
				return rc;
			}
			tb->pend_state = ok ? 1 : -1;
		}
	}
	*yes = tb->pend_state > 0;
	return 0;
}

/* ---- the key filters ---- */

static uint64_t key_hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void bloom_add(uint64_t *bits, uint64_t h)
{
	uint32_t a = (uint32_t)h % DBS_MYT_BLOOM_BITS, b = (uint32_t)(h >> 32) % DBS_MYT_BLOOM_BITS;
	bits[a / 64] |= 1ull << (a % 64);
	bits[b / 64] |= 1ull << (b % 64);
}

static int bloom_has(const uint64_t *bits, uint64_t h)
{
	uint32_t a = (uint32_t)h % DBS_MYT_BLOOM_BITS, b = (uint32_t)(h >> 32) % DBS_MYT_BLOOM_BITS;
	return (bits[a / 64] >> (a % 64) & 1) && (bits[b / 64] >> (b % 64) & 1);
}

/* ---- sending what is held ---- */

/* Table tb's held deletes, then its held writes, into the packet. */
static int table_send(my_target *t, const dbs_batch *batch, my_table *tb, char *err,
                      size_t errlen)
{
	int rc = 0;
	const char *kname = tb->def->columns[tb->keys[0]].name;
	if (tb->pend_del.len) {
		if (t->sql.len && t->sql.len + tb->pend_del.len + 256 + strlen(tb->qname) >
		                          t->packet_limit &&
		    (rc = dbs__myt_flush(t, batch, err, errlen)))
			return rc;
		if ((rc = dbs__myt_sep(t)) || (rc = dbs_buf_append_str(&t->sql, "DELETE FROM ")) ||
		    (rc = dbs_buf_append_str(&t->sql, tb->qname)) ||
		    (rc = dbs_buf_append_str(&t->sql, " WHERE ")) ||
		    (rc = dbs__myt_ident(&t->sql, kname)) ||
		    (rc = dbs_buf_append_str(&t->sql, " IN (")) ||
		    (rc = dbs_buf_append(&t->sql, tb->pend_del.data, tb->pend_del.len)) ||
		    (rc = dbs_buf_append_char(&t->sql, ')')) ||
		    (rc = dbs__myt_stmt_push(t, tb, tb->pend_del_at.first, tb->pend_del_at.last,
		                             "deleting from")))
			goto nomem;
		t->stmts[t->nstmts - 1].apply_no = tb->pend_del_at.apply_no;
	}
	if (tb->pend_ups.len) {
		if (t->sql.len &&
		    t->sql.len + tb->head_len + tb->pend_ups.len + tb->tail_len + 1 > t->packet_limit &&
		    (rc = dbs__myt_flush(t, batch, err, errlen)))
			return rc;
		if ((rc = dbs__myt_sep(t)) ||
		    (rc = dbs_buf_append(&t->sql, tb->insert_head, tb->head_len)) ||
		    (rc = dbs_buf_append(&t->sql, tb->pend_ups.data, tb->pend_ups.len)) ||
		    (rc = dbs_buf_append(&t->sql, tb->insert_tail, tb->tail_len)) ||
		    (rc = dbs__myt_stmt_push(t, tb, tb->pend_ups_at.first, tb->pend_ups_at.last,
		                             "inserting into")))
			goto nomem;
		t->stmts[t->nstmts - 1].apply_no = tb->pend_ups_at.apply_no;
	}
	t->pend_bytes -= tb->pend_del.len + tb->pend_ups.len;
	dbs_buf_reset(&tb->pend_del);
	dbs_buf_reset(&tb->pend_ups);
	memset(tb->pend_del_keys, 0, sizeof tb->pend_del_keys);
	memset(tb->pend_ups_keys, 0, sizeof tb->pend_ups_keys);
	return 0;
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

int dbs__myt_pending_send(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0;
	for (size_t i = 0; i < t->npend && rc == 0; i++)
		rc = table_send(t, batch, t->pend[i], err, errlen);
	if (rc)
		return rc; /* the rollback forgets what is still held */
	for (size_t i = 0; i < t->npend; i++)
		t->pend[i]->pend_listed = 0;
	t->npend = 0;
	t->pend_bytes = 0;
	return 0;
}

void dbs__myt_pending_reset(my_target *t)
{
	for (size_t i = 0; i < t->npend; i++) {
		my_table *tb = t->pend[i];
		tb->pend_listed = 0;
		dbs_buf_reset(&tb->pend_del);
		dbs_buf_reset(&tb->pend_ups);
		memset(tb->pend_del_keys, 0, sizeof tb->pend_del_keys);
		memset(tb->pend_ups_keys, 0, sizeof tb->pend_ups_keys);
	}
	t->npend = 0;
	t->pend_bytes = 0;
}

/* ---- holding ---- */

/* Before holding a change of tb: end the packet's open statement (what
 * comes after it then starts a statement of its own, which sends what is
 * held first), and list the table. */
static int hold_begin(my_target *t, const dbs_batch *batch, my_table *tb, char *err,
                      size_t errlen)
{
	int rc;
	if ((t->open_insert || t->open_delete || t->open_load) &&
	    (rc = dbs__myt_close_open(t, batch, err, errlen)))
		return rc;
	if (!tb->pend_listed) {
		if (dbs_array_reserve((void **)&t->pend, &t->cappend, t->npend + 1, sizeof *t->pend)) {
			dbs_fmt(err, errlen, "out of memory");
			return DBS_ENOMEM;
		}
		t->pend[t->npend++] = tb;
		tb->pend_listed = 1;
	}
	return 0;
}

/* Event i joins the statement held in `at` (empty: `was_empty`); one
 * begun in an earlier batch names no event. */
static void held_at(my_target *t, my_held_at *at, int was_empty, uint32_t i)
{
	if (was_empty) {
		at->first = i;
		at->apply_no = t->apply_no;
	} else if (at->apply_no != t->apply_no) {
		at->apply_no = 0;
	}
	at->last = i;
}

/* Send what is held once it is large, and the packet once it is. */
static int hold_end(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0;
	if (t->pend_bytes >= PENDING_MAX_BYTES)
		rc = dbs__myt_pending_send(t, batch, err, errlen);
	if (rc == 0 && (t->sql.len >= PENDING_MAX_BYTES || t->sql.len >= t->packet_limit / 2))
		rc = dbs__myt_flush(t, batch, err, errlen);
	return rc;
}

int dbs__myt_pending_delete(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                            const dbs_value *img, int *held, char *err, size_t errlen)
{
	int rc, yes;
	*held = 0;
	if ((rc = table_eligible(t, tb, &yes, err, errlen)) || !yes ||
	    (rc = hold_begin(t, batch, tb, err, errlen)))
		return rc;
	dbs_buf *k = &t->row;
	dbs_buf_reset(k);
	if ((rc = dbs__myt_put_value(t, tb, dbs_batch_event(batch, i), img, tb->keys[0], k, err,
	                             errlen)))
		return rc;
	uint64_t h = key_hash(k->data, k->len);
	/* Written earlier and deleted now: the write goes first. One
	 * statement stays within the server's packet. */
	if ((bloom_has(tb->pend_ups_keys, h) ||
	     tb->pend_del.len + k->len + strlen(tb->qname) + 300 > t->packet_limit / 2) &&
	    (rc = table_send(t, batch, tb, err, errlen)))
		return rc;
	int was_empty = tb->pend_del.len == 0;
	if ((!was_empty && (rc = dbs_buf_append_char(&tb->pend_del, ','))) ||
	    (rc = dbs_buf_append(&tb->pend_del, k->data, k->len)))
		goto nomem;
	held_at(t, &tb->pend_del_at, was_empty, i);
	t->pend_bytes += k->len + 1;
	bloom_add(tb->pend_del_keys, h);
	*held = 1;
	return hold_end(t, batch, err, errlen);
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

int dbs__myt_pending_write(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                           int *held, char *err, size_t errlen)
{
	const dbs_event *ev = dbs_batch_event(batch, i);
	int rc, yes;
	*held = 0;
	if ((rc = table_eligible(t, tb, &yes, err, errlen)) || !yes ||
	    (rc = hold_begin(t, batch, tb, err, errlen)))
		return rc;
	dbs_buf *row = &t->row;
	if ((rc = dbs__myt_row_literal(t, tb, ev, err, errlen)))
		return rc;
	/* One statement stays within the server's packet. */
	if (tb->pend_ups.len &&
	    tb->head_len + tb->pend_ups.len + row->len + tb->tail_len + 2 > t->packet_limit / 2 &&
	    (rc = table_send(t, batch, tb, err, errlen)))
		return rc;
	int was_empty = tb->pend_ups.len == 0;
	if ((!was_empty && (rc = dbs_buf_append_char(&tb->pend_ups, ','))) ||
	    (rc = dbs_buf_append(&tb->pend_ups, row->data, row->len)))
		goto nomem;
	held_at(t, &tb->pend_ups_at, was_empty, i);
	t->pend_bytes += row->len + 1;
	bloom_add(tb->pend_ups_keys, key_hash(row->data + t->row_key_at, t->row_key_len));
	*held = 1;
	return hold_end(t, batch, err, errlen);
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}
