/*
 * MySQL target: a batch becomes SQL text. Consecutive inserts into one
 * table as multi-row INSERT … ON DUPLICATE KEY UPDATE (a replay
 * overwrites, never duplicates), and updates that keep their key and send
 * the whole row with them; other updates and deletes by key in log order.
 * Tables that allow it hold their deletes and whole-row writes instead
 * (pending.c), long runs of inserts go as LOAD DATA (loaddata.c).
 * Statements travel several per COM_QUERY (CLIENT_MULTI_STATEMENTS), each
 * packet bounded by the server's max_allowed_packet, so no event costs a
 * round trip. When the core groups source transactions into one commit,
 * a packet and its last INSERT go on across batches, sent when the packet
 * is half full or with the commit (target.c, my_hold).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/value_text.h"
#include "targets/mysql/my_target.h"

int dbs__myt_stmt_push(my_target *t, my_table *tb, uint32_t first, uint32_t last, const char *what)
{
	if (dbs_array_reserve((void **)&t->stmts, &t->capstmts, t->nstmts + 1,
	                      sizeof *t->stmts))
		return DBS_ENOMEM;
	t->stmts[t->nstmts++] = (my_stmt){tb, first, last, what, t->apply_no, 0};
	return 0;
}

/* Event i joins the statement still taking rows; one begun in an earlier
 * batch (a grouped transaction) names no event any more. */
static void stmt_extend(my_target *t, uint32_t i)
{
	my_stmt *s = &t->stmts[t->nstmts - 1];
	s->last = i;
	if (s->apply_no != t->apply_no)
		s->apply_no = 0;
}

static int update_is_rewrite(const my_target *t, const my_table *tb, const dbs_event *ev,
                             const dbs_value *where_img);

/* The batch index of row `rowno` (1-based) of INSERT statement `s`: its
 * rows are the table's unskipped inserts (and updates written as rows)
 * from s->first to s->last. */
static uint32_t stmt_row_event(const my_target *t, const dbs_batch *batch, const my_stmt *s,
                               unsigned long rowno)
{
	uint32_t found = UINT32_MAX;
	unsigned long k = 0;
	if (s->first == s->last || rowno == 0)
		goto done;
	for (uint32_t i = s->first; i <= s->last; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if ((ev->op != DBS_OP_INSERT &&
		     !update_is_rewrite(t, s->table, ev,
		                        dbs__row_key_image(ev, s->table->keys, s->table->nkeys))) ||
		    !dbs__myt_same_def(ev->table, s->table->def) ||
		    dbs__sqltarget_skipped(&t->common, ev))
			continue;
		if (++k == rowno) {
			found = i;
			break;
		}
	}
done:
	return found;
}

/* Send the packet and read every statement's result; on an error name
 * the statement that failed. */
int dbs__myt_flush(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0;
	size_t idx = 0;
	if (t->sql.len == 0)
		goto done;
	rc = DBS_ETARGET;
	if (mysql_real_query(t->conn, t->sql.data, (unsigned long)t->sql.len))
		goto failed;
	for (;;) {
		MYSQL_RES *res = mysql_store_result(t->conn);
		if (res)
			mysql_free_result(res);
		int st = mysql_next_result(t->conn);
		if (st < 0)
			break;
		idx++;
		if (st > 0)
			goto failed;
	}
	rc = 0;
	goto done;
failed:
	{
		char where[512] = "";
		const char *at = strstr(mysql_error(t->conn), " at row ");
		if (idx < t->nstmts && t->stmts[idx].table && t->stmts[idx].load_lines && at) {
			/* Rows of a LOAD DATA sent again: the server's row, by its line. */
			my_stmt *s = &t->stmts[idx];
			unsigned long rowno = strtoul(at + 8, NULL, 10);
			char k1[ERR_KEY_MAX + 16];
			if (rowno >= 1 && rowno <= (unsigned long)(s->last - s->first) + 1) {
				dbs__myt_load_key_text(t, s->table, s->first + rowno - 1, k1, sizeof k1);
				dbs_fmt(where, sizeof where, "%s %s, key %s", s->what, s->table->qname, k1);
			} else {
				dbs_fmt(where, sizeof where, "%s %s", s->what, s->table->qname);
			}
		} else if (idx < t->nstmts && t->stmts[idx].table &&
		           (!batch || t->stmts[idx].apply_no != t->apply_no)) {
			/* A statement of a grouped transaction holding rows of a
			 * batch gone by now: its table only (the replay one source
			 * transaction at a time names the row). */
			dbs_fmt(where, sizeof where, "%s %s", t->stmts[idx].what,
			         t->stmts[idx].table->qname);
		} else if (idx < t->nstmts && t->stmts[idx].table) {
			my_stmt *s = &t->stmts[idx];
			char k1[ERR_KEY_MAX + 16], k2[ERR_KEY_MAX + 16];
			/* The server names the row of a multi-row INSERT: "… at row N". */
			uint32_t row_ev = at ? stmt_row_event(t, batch, s, strtoul(at + 8, NULL, 10)) : UINT32_MAX;
			dbs__myt_key_text(t, s->table, dbs_batch_event(batch, s->first), k1, sizeof k1);
			if (row_ev != UINT32_MAX) {
				dbs__myt_key_text(t, s->table, dbs_batch_event(batch, row_ev), k1, sizeof k1);
				dbs_fmt(where, sizeof where, "%s %s, key %s", s->what, s->table->qname, k1);
			} else if (s->last != s->first) {
				dbs__myt_key_text(t, s->table, dbs_batch_event(batch, s->last), k2, sizeof k2);
				dbs_fmt(where, sizeof where, "%s %s, rows with keys %s … %s", s->what,
				         s->table->qname, k1, k2);
			} else {
				dbs_fmt(where, sizeof where, "%s %s, key %s", s->what, s->table->qname, k1);
			}
		} else if (idx < t->nstmts) {
			dbs_fmt(where, sizeof where, "%s", t->stmts[idx].what);
		}
		dbs__myt_error(t, err, errlen, where[0] ? where : "applying the batch");
	}
done:
	dbs_buf_reset(&t->sql);
	t->nstmts = 0;
	return rc;
}

int dbs__myt_sep(my_target *t)
{
	return t->sql.len ? dbs_buf_append_char(&t->sql, ';') : 0;
}

/* Finish the INSERT or DELETE … IN statement still taking rows, or run
 * the rows gathered for LOAD DATA. */
int dbs__myt_close_open(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0;
	if (t->open_load)
		return dbs__myt_load_end(t, batch, err, errlen);
	if (t->open_insert && !t->plain_inserts)
		rc = dbs_buf_append(&t->sql, t->open_insert->insert_tail, t->open_insert->tail_len);
	else if (t->open_delete)
		rc = dbs_buf_append_char(&t->sql, ')');
	t->open_insert = NULL;
	t->open_delete = NULL;
	if (rc) {
		dbs_fmt(err, errlen, "out of memory");
		return rc;
	}
	return t->npend ? dbs__myt_pending_send(t, batch, err, errlen) : 0;
}

/* A packet of whole statements is sent once it holds this much, however
 * large the server allows: 40,000 single-row updates took 3.2 s in 2 MB
 * packets and 1.7 s in 64 KB ones (bench/profile d:my:my, one run each),
 * the packet-per-batch code of before 1.8 s. */
#define SEND_AT_BYTES (64u * 1024u)

/* After a whole statement: send when the packet is full enough. */
static int maybe_flush(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	if (t->sql.len < t->packet_limit / 2 && t->sql.len < SEND_AT_BYTES)
		return 0;
	return dbs__myt_flush(t, batch, err, errlen);
}

/* Format one value of event `ev` (column c of `img`, one of its images)
 * into `b`. A value MySQL cannot hold is a data error named by the key. */
int dbs__myt_put_value(my_target *t, my_table *tb, const dbs_event *ev, const dbs_value *img,
                       uint32_t c, dbs_buf *b, char *err, size_t errlen)
{
	int rc = dbs__sqlmap_value_mysql(b, &tb->types[c], &img[c], t->common.err_msg,
	                                 sizeof t->common.err_msg);
	if (rc == DBS_EINVAL) {
		char key[ERR_KEY_MAX + 16];
		t->common.data_error = img[c].kind != DBS_VALUE_UNCHANGED;
		dbs_fmt(t->common.err_code, sizeof t->common.err_code, "value");
		dbs__myt_key_text(t, tb, ev, key, sizeof key);
		dbs_fmt(err, errlen, "table %s, key %s: %s", tb->qname, key, t->common.err_msg);
	} else if (rc) {
		dbs_fmt(err, errlen, "out of memory");
	}
	return rc;
}

int dbs__myt_row_literal(my_target *t, my_table *tb, const dbs_event *ev, char *err,
                         size_t errlen)
{
	dbs_buf *row = &t->row;
	int rc;
	dbs_buf_reset(row);
	if ((rc = dbs_buf_append_char(row, '(')))
		goto nomem;
	for (uint32_t c = 0; c < tb->def->ncolumns; c++) {
		if (c && (rc = dbs_buf_append_char(row, ',')))
			goto nomem;
		size_t at = row->len;
		if ((rc = dbs__myt_put_value(t, tb, ev, ev->after, c, row, err, errlen)))
			return rc;
		if (tb->nkeys && c == tb->keys[0]) {
			t->row_key_at = at;
			t->row_key_len = row->len - at;
		}
	}
	if ((rc = dbs_buf_append_char(row, ')')))
		goto nomem;
	if (t->run_table != tb) {
		t->run_table = tb;
		t->run_rows = 0;
		t->run_rows_txn = 0;
	}
	t->run_rows++;
	t->run_rows_txn++;
	return 0;
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

int dbs__myt_add_insert(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                        char *err, size_t errlen)
{
	int rc = dbs__myt_row_literal(t, tb, dbs_batch_event(batch, i), err, errlen);
	return rc ? rc : dbs__myt_insert_row(t, batch, i, tb, err, errlen);
}

int dbs__myt_insert_row(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                        char *err, size_t errlen)
{
	dbs_buf *row = &t->row;
	int rc;
	/* Close the statement (and maybe send the packet) before this row
	 * would push it past the server's packet size. */
	if (t->open_insert == tb &&
	    t->sql.len + row->len + 1 + tb->tail_len + 1 > t->packet_limit) {
		if ((rc = dbs__myt_close_open(t, batch, err, errlen)) ||
		    (rc = dbs__myt_flush(t, batch, err, errlen)))
			return rc;
	}
	if (t->open_insert != tb) {
		if ((rc = dbs__myt_close_open(t, batch, err, errlen)))
			return rc;
		if (t->sql.len &&
		    t->sql.len + 1 + tb->head_len + row->len + tb->tail_len > t->packet_limit &&
		    (rc = dbs__myt_flush(t, batch, err, errlen)))
			return rc;
		if ((rc = maybe_flush(t, batch, err, errlen)))
			return rc;
		if ((rc = dbs__myt_sep(t)) ||
		    (rc = dbs_buf_append(&t->sql, tb->insert_head, tb->head_len)) ||
		    (rc = dbs__myt_stmt_push(t, tb, i, i, "inserting into")))
			goto nomem;
		if (!batch) /* rows of batches gone: name the table only */
			t->stmts[t->nstmts - 1].apply_no = 0;
		t->stmts[t->nstmts - 1].load_lines = t->load_again;
		t->open_insert = tb;
	} else {
		if ((rc = dbs_buf_append_char(&t->sql, ',')))
			goto nomem;
		stmt_extend(t, i);
	}
	if ((rc = dbs_buf_append(&t->sql, row->data, row->len)))
		goto nomem;
	return 0;
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/*
 * The inserts from event *at up to the next update or delete, grouped by
 * table (each table's rows keep their order), so rows that interleave
 * tables still travel as multi-row statements. Only inserts into
 * different tables change order, which no row's final state depends on
 * (the tables this target creates have no foreign keys or triggers).
 * Leaves *at on the segment's last event.
 */
int dbs__myt_add_insert_segment(my_target *t, const dbs_batch *batch, uint32_t *at, char *err,
                                size_t errlen)
{
	uint32_t n = dbs_batch_count(batch), start = *at, end = start;
	while (end < n) {
		const dbs_event *ev = dbs_batch_event(batch, end);
		if (ev->op != DBS_OP_INSERT || !ev->after)
			break;
		end++;
	}
	if (dbs_array_reserve((void **)&t->done, &t->capdone, end - start, sizeof *t->done)) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	memset(t->done, 0, end - start);
	int rc = 0;
	for (uint32_t i = start; i < end && rc == 0; i++) {
		if (t->done[i - start])
			continue;
		const dbs_table *def = dbs_batch_event(batch, i)->table;
		my_table *tb;
		if ((rc = dbs__myt_table_get(t, def, &tb, err, errlen)))
			break;
		for (uint32_t j = i; j < end && rc == 0; j++) {
			const dbs_event *ev = dbs_batch_event(batch, j);
			if (t->done[j - start] || !dbs__myt_same_def(ev->table, def))
				continue;
			t->done[j - start] = 1;
			if (dbs__sqltarget_skipped(&t->common, ev))
				continue;
			int held = 0;
			if (dbs__myt_load_wanted(t, tb))
				rc = dbs__myt_load_row(t, batch, j, tb, err, errlen);
			else if ((rc = dbs__myt_pending_write(t, batch, j, tb, &held, err, errlen)) == 0 &&
			         !held)
				rc = dbs__myt_add_insert(t, batch, j, tb, err, errlen);
		}
	}
	*at = end - 1;
	return rc;
}

/* WHERE clause naming the row of `img`: key columns, or every column
 * (null-safe) for a table without a primary key. */
static int append_where(my_target *t, dbs_buf *s, my_table *tb, const dbs_event *ev,
                        const dbs_value *img, char *err, size_t errlen)
{
	int rc;
	if ((rc = dbs_buf_append_str(s, " WHERE ")))
		goto nomem;
	if (tb->nkeys) {
		for (uint32_t k = 0; k < tb->nkeys; k++) {
			uint32_t c = tb->keys[k];
			if ((k && (rc = dbs_buf_append_str(s, " AND "))) ||
			    (rc = dbs__myt_ident(s, tb->def->columns[c].name)) ||
			    (rc = dbs_buf_append_char(s, '=')))
				goto nomem;
			if ((rc = dbs__myt_put_value(t, tb, ev, img, c, s, err, errlen)))
				return rc;
		}
		return 0;
	}
	int any = 0;
	for (uint32_t c = 0; c < tb->def->ncolumns; c++) {
		if (img[c].kind == DBS_VALUE_UNCHANGED)
			continue;
		if ((any && (rc = dbs_buf_append_str(s, " AND "))) ||
		    (rc = dbs__myt_ident(s, tb->def->columns[c].name)) ||
		    (rc = dbs_buf_append_str(s, "<=>")))
			goto nomem;
		if ((rc = dbs__myt_put_value(t, tb, ev, img, c, s, err, errlen)))
			return rc;
		any = 1;
	}
	if (!any && (rc = dbs_buf_append_str(s, "FALSE")))
		goto nomem;
	return dbs_buf_append_str(s, " LIMIT 1");
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/*
 * Consecutive deletes from one table with a one-column key share one
 * DELETE … WHERE k IN (…): one statement for the server to parse and
 * plan instead of one per row.
 */
static int add_delete_by_key(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                             const dbs_value *img, char *err, size_t errlen)
{
	dbs_buf *row = &t->row;
	int rc;
	dbs_buf_reset(row);
	if ((rc = dbs__myt_put_value(t, tb, dbs_batch_event(batch, i), img, tb->keys[0], row, err, errlen)))
		return rc;
	if (t->open_delete == tb && t->sql.len + row->len + 2 <= t->packet_limit) {
		if ((rc = dbs_buf_append_char(&t->sql, ',')) ||
		    (rc = dbs_buf_append(&t->sql, row->data, row->len)))
			goto nomem;
		stmt_extend(t, i);
		return 0;
	}
	if ((rc = dbs__myt_close_open(t, batch, err, errlen)))
		return rc;
	if ((rc = maybe_flush(t, batch, err, errlen)))
		return rc;
	if (t->sql.len && t->sql.len + row->len + 256 + strlen(tb->qname) > t->packet_limit &&
	    (rc = dbs__myt_flush(t, batch, err, errlen)))
		return rc;
	if ((rc = dbs__myt_sep(t)) || (rc = dbs_buf_append_str(&t->sql, "DELETE FROM ")) ||
	    (rc = dbs_buf_append_str(&t->sql, tb->qname)) ||
	    (rc = dbs_buf_append_str(&t->sql, " WHERE ")) ||
	    (rc = dbs__myt_ident(&t->sql, tb->def->columns[tb->keys[0]].name)) ||
	    (rc = dbs_buf_append_str(&t->sql, " IN (")) ||
	    (rc = dbs_buf_append(&t->sql, row->data, row->len)) ||
	    (rc = dbs__myt_stmt_push(t, tb, i, i, "deleting from")))
		goto nomem;
	t->open_delete = tb;
	return 0;
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* Two values of one column read the same (the images of one event come
 * from one decoder, so a value keeps its kind). */
static int value_same(const dbs_value *a, const dbs_value *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case DBS_VALUE_NULL:
		return 1;
	case DBS_VALUE_INT:
		return a->v.i == b->v.i;
	case DBS_VALUE_UINT:
		return a->v.u == b->v.u;
	case DBS_VALUE_DOUBLE:
		return memcmp(&a->v.d, &b->v.d, sizeof a->v.d) == 0;
	case DBS_VALUE_TEXT:
	case DBS_VALUE_BYTES:
	case DBS_VALUE_DECIMAL:
	case DBS_VALUE_JSON:
		return a->len == b->len && (a->len == 0 || memcmp(a->v.s, b->v.s, a->len) == 0);
	case DBS_VALUE_DATE:
	case DBS_VALUE_TIME:
	case DBS_VALUE_DATETIME:
	case DBS_VALUE_TIMESTAMP:
		return a->v.t.year == b->v.t.year && a->v.t.month == b->v.t.month &&
		       a->v.t.day == b->v.t.day && a->v.t.hour == b->v.t.hour &&
		       a->v.t.minute == b->v.t.minute && a->v.t.second == b->v.t.second &&
		       a->v.t.usec == b->v.t.usec && a->v.t.negative == b->v.t.negative;
	default:
		return 0;
	}
}

/*
 * An update that keeps its key and sends its whole new row is the row
 * written again: it joins the multi-row INSERT … ON DUPLICATE KEY UPDATE
 * of the table, which MariaDB applies several times faster than one
 * UPDATE statement per row (bench (d) My→My: each UPDATE is parsed and
 * planned on its own). A row the target lacks is then written whole
 * instead of updating nothing. Not for a changed key, a value left
 * unsent (PostgreSQL TOAST), a table without a key, or with a dead-letter
 * table (a row it holds stays out of the table, updated or not).
 */
static int update_is_rewrite(const my_target *t, const my_table *tb, const dbs_event *ev,
                             const dbs_value *where_img)
{
	if (ev->op != DBS_OP_UPDATE || !tb->nkeys || t->plain_inserts || !ev->after ||
	    t->common.dlq_qname)
		return 0;
	for (uint32_t c = 0; c < tb->def->ncolumns; c++)
		if (ev->after[c].kind == DBS_VALUE_UNCHANGED)
			return 0;
	if (where_img == ev->after)
		return 1;
	for (uint32_t k = 0; k < tb->nkeys; k++)
		if (!value_same(&where_img[tb->keys[k]], &ev->after[tb->keys[k]]))
			return 0;
	return 1;
}

int dbs__myt_add_change(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                        char *err, size_t errlen)
{
	const dbs_event *ev = dbs_batch_event(batch, i);
	dbs_buf *s = &t->row; /* built aside, so the packet's size is known before it grows */
	int rc;
	const dbs_value *where_img = dbs__row_key_image(ev, tb->keys, tb->nkeys);
	if (!where_img || (tb->nkeys == 0 && !ev->before)) {
		dbs_fmt(err, errlen, "table %s: the %s event carries no old row to find the row by%s",
		         tb->qname, ev->op == DBS_OP_DELETE ? "delete" : "update",
		         tb->nkeys ? "" : " (the table has no primary key: the source must send "
		                          "whole old rows, e.g. REPLICA IDENTITY FULL)");
		return DBS_ETARGET;
	}
	int held = 0;
	if (ev->op == DBS_OP_DELETE && tb->nkeys == 1) {
		if ((rc = dbs__myt_pending_delete(t, batch, i, tb, where_img, &held, err, errlen)) ||
		    held)
			return rc;
		return add_delete_by_key(t, batch, i, tb, where_img, err, errlen);
	}
	if (update_is_rewrite(t, tb, ev, where_img)) {
		if ((rc = dbs__myt_pending_write(t, batch, i, tb, &held, err, errlen)) || held)
			return rc;
		return dbs__myt_add_insert(t, batch, i, tb, err, errlen);
	}
	dbs_buf_reset(s);
	if (ev->op == DBS_OP_DELETE) {
		if ((rc = dbs_buf_append_str(s, "DELETE FROM ")) ||
		    (rc = dbs_buf_append_str(s, tb->qname)))
			goto nomem;
	} else {
		int any = 0;
		if ((rc = dbs_buf_append_str(s, "UPDATE ")) ||
		    (rc = dbs_buf_append_str(s, tb->qname)) ||
		    (rc = dbs_buf_append_str(s, " SET ")))
			goto nomem;
		for (uint32_t c = 0; c < tb->def->ncolumns; c++) {
			/* An unchanged TOAST value is not sent: keep the target's. */
			if (ev->after[c].kind == DBS_VALUE_UNCHANGED)
				continue;
			if ((any && (rc = dbs_buf_append_char(s, ','))) ||
			    (rc = dbs__myt_ident(s, tb->def->columns[c].name)) ||
			    (rc = dbs_buf_append_char(s, '=')))
				goto nomem;
			if ((rc = dbs__myt_put_value(t, tb, ev, ev->after, c, s, err, errlen)))
				return rc;
			any = 1;
		}
		if (!any)
			return 0; /* nothing sent changed */
	}
	if ((rc = append_where(t, s, tb, ev, where_img, err, errlen)))
		return rc;
	if ((rc = dbs__myt_close_open(t, batch, err, errlen)))
		return rc;
	if (t->sql.len && t->sql.len + 1 + s->len > t->packet_limit &&
	    (rc = dbs__myt_flush(t, batch, err, errlen)))
		return rc;
	if ((rc = dbs__myt_sep(t)) || (rc = dbs_buf_append(&t->sql, s->data, s->len)) ||
	    (rc = dbs__myt_stmt_push(t, tb, i, i, ev->op == DBS_OP_DELETE ? "deleting from" : "updating")))
		goto nomem;
	return maybe_flush(t, batch, err, errlen);
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

void dbs__myt_packet_reset(my_target *t)
{
	dbs_buf_reset(&t->sql);
	t->nstmts = 0;
	t->open_insert = NULL;
	t->open_delete = NULL;
	dbs__myt_load_reset(t);
	dbs__myt_pending_reset(t);
}
