/*
 * PostgreSQL target: updates, deletes and short insert runs as prepared
 * statements (one per table and shape of event) sent in libpq pipeline
 * mode, one sync per chunk, so no event costs a round trip; and one event
 * alone, for the row-by-row replay.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "targets/postgresql/pg_target.h"


/* ------------------------------------------------------------------ */
/* Updates and deletes: prepared statements in pipeline mode           */
/* ------------------------------------------------------------------ */

/*
 * Which columns the event writes (set mask: after-image columns that were
 * sent) and matches (where mask: the key, or every sent before-image
 * column of a table without a key). The masks go to t->mask.
 */
static int event_masks(pg_target *t, pg_table *tb, const dbs_event *ev, char *err,
                       size_t errlen)
{
	int rc = DBS_ENOMEM;
	size_t words = tb->words;
	const char *what = ev->op == DBS_OP_UPDATE ? "update" : "delete";
	uint64_t *set, *where;
	if (dbs_array_reserve((void **)&t->mask, &t->cap_mask, 2 * words, sizeof *t->mask)) {
		dbs_fmt(err, errlen, "out of memory");
		goto done;
	}
	set = t->mask;
	where = t->mask + words;
	memset(t->mask, 0, 2 * words * sizeof *t->mask);
	uint32_t nc = ev->table->ncolumns;
	if (ev->op != DBS_OP_DELETE)
		for (uint32_t i = 0; i < nc; i++)
			if (ev->after[i].kind != DBS_VALUE_UNCHANGED)
				mask_set(set, i);
	rc = DBS_ETARGET;
	if (ev->op == DBS_OP_INSERT) {
		for (uint32_t i = 0; i < nc; i++) {
			if (!mask_has(set, i)) {
				dbs_fmt(err, errlen, "%s: insert with an unsent (unchanged) value in "
				         "column \"%s\"", dbs__pgt_event_label(t, tb, ev), ev->table->columns[i].name);
				goto done;
			}
		}
	} else if (tb->nkeys) {
		for (uint32_t k = 0; k < tb->nkeys; k++) {
			uint32_t i = tb->keys[k];
			const dbs_value *v = before_value(ev, i);
			if (is_missing(v) && ev->op == DBS_OP_UPDATE)
				v = &ev->after[i];
			if (is_missing(v)) {
				dbs_fmt(err, errlen, "%s: %s without a value for key column \"%s\"",
				         dbs__pgt_event_label(t, tb, ev), what, ev->table->columns[i].name);
				goto done;
			}
			mask_set(where, i);
		}
	} else {
		int any = 0;
		for (uint32_t i = 0; i < nc; i++) {
			const dbs_value *v = before_value(ev, i);
			if (v->kind == DBS_VALUE_UNCHANGED)
				continue;
			mask_set(where, i);
			any |= v->kind != DBS_VALUE_NULL;
		}
		if (!any) {
			/* A source sends the old row of a keyless table only with full
			 * replica identity; without it the row cannot be found. */
			dbs_fmt(err, errlen, "%s.%s: %s of a table without a primary key needs the "
			         "old row (REPLICA IDENTITY FULL / binlog_row_image=FULL)", tb->schema,
			         tb->name, what);
			goto done;
		}
	}
	rc = 0;
done:
	return rc;
}

int dbs__pgt_stmt_sql(pg_target *t, pg_table *tb, const dbs_table *def, pg_stmt *st)
{
	int rc = DBS_ENOMEM;
	dbs_buf *s = &t->sql;
	const uint64_t *set = st->masks, *where = st->masks + tb->words;
	uint32_t p = 0;
	int first = 1;
	dbs_buf_reset(s);
	if (st->op == DBS_OP_INSERT) {
		/* The upsert of the staging path, one row at a time; a keyless
		 * table gets a plain INSERT (not idempotent). */
		if (dbs_buf_appendf(s, "INSERT INTO %s (", tb->qname))
			goto done;
		for (uint32_t i = 0; i < def->ncolumns; i++)
			if ((i && dbs_buf_append_char(s, ',')) ||
			    dbs__sql_append_ident(s, def->columns[i].name))
				goto done;
		if (dbs_buf_append_str(s, ") VALUES ("))
			goto done;
		for (uint32_t i = 0; i < def->ncolumns; i++)
			if (dbs_buf_appendf(s, i ? ",$%" PRIu32 : "$%" PRIu32, ++p))
				goto done;
		if (dbs_buf_append_char(s, ')'))
			goto done;
		if (dbs_buf_append_str(s, tb->conflict_sql))
			goto done;
		st->nparams = p;
		rc = 0;
		goto done;
	}
	if (st->op == DBS_OP_UPDATE) {
		if (dbs_buf_appendf(s, "UPDATE %s SET ", tb->qname))
			goto done;
		for (uint32_t i = 0; i < def->ncolumns; i++) {
			if (!mask_has(set, i))
				continue;
			if ((!first && dbs_buf_append_char(s, ',')) ||
			    dbs__sql_append_ident(s, def->columns[i].name) ||
			    dbs_buf_appendf(s, "=$%" PRIu32, ++p))
				goto done;
			first = 0;
		}
	} else if (dbs_buf_appendf(s, "DELETE FROM %s", tb->qname)) {
		goto done;
	}
	/* Without a key, match every sent old value (NULLs included) and touch
	 * one row only, as the source changed one: the ctid subquery gives
	 * LIMIT 1. Columns of types without equality (json, point) cannot be
	 * matched this way; the server says so when the statement is prepared. */
	if (tb->nkeys ? dbs_buf_append_str(s, " WHERE ")
	              : dbs_buf_appendf(s, " WHERE ctid = (SELECT ctid FROM %s WHERE ",
	                                     tb->qname))
		goto done;
	first = 1;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		if (!mask_has(where, i))
			continue;
		if ((!first && dbs_buf_append_str(s, " AND ")) ||
		    dbs__sql_append_ident(s, def->columns[i].name) ||
		    dbs_buf_appendf(s, tb->nkeys ? "=$%" PRIu32 : " IS NOT DISTINCT FROM $%" PRIu32,
		                         ++p))
			goto done;
		first = 0;
	}
	if (!tb->nkeys && dbs_buf_append_str(s, " LIMIT 1)"))
		goto done;
	st->nparams = p;
	rc = 0;
done:
	return rc;
}

/* The statement for this event's shape (op and masks), added on first use;
 * it is prepared on the server when first sent. */
int dbs__pgt_stmt_for_event(pg_target *t, pg_table *tb, const dbs_event *ev, pg_stmt **out,
                            char *err, size_t errlen)
{
	int rc = event_masks(t, tb, ev, err, errlen);
	size_t mask_bytes = 2 * tb->words * sizeof *t->mask;
	pg_stmt *st = NULL;
	if (rc)
		goto done;
	for (size_t i = 0; i < tb->nstmts; i++) {
		st = &tb->stmts[i];
		if (st->op == ev->op && memcmp(st->masks, t->mask, mask_bytes) == 0)
			goto done;
	}
	rc = DBS_ENOMEM;
	if (dbs_array_reserve((void **)&tb->stmts, &tb->capstmts, tb->nstmts + 1, sizeof *tb->stmts)) {
		dbs_fmt(err, errlen, "out of memory");
		goto done;
	}
	st = &tb->stmts[tb->nstmts];
	memset(st, 0, sizeof *st);
	if (!(st->masks = malloc(mask_bytes))) {
		dbs_fmt(err, errlen, "out of memory");
		goto done;
	}
	memcpy(st->masks, t->mask, mask_bytes);
	st->op = ev->op;
	/* Its parameters, known before its SQL is built: the columns it
	 * writes, then those it finds the row by. */
	for (uint32_t i = 0; i < 2 * tb->words * 64; i++)
		st->nparams += mask_has(st->masks, i);
	tb->nstmts++;
	rc = 0;
done:
	*out = rc ? NULL : st;
	return rc;
}

/* Format the event's parameters into t->buf and point t->params at them. */
int dbs__pgt_event_params(pg_target *t, pg_table *tb, const dbs_event *ev, const pg_stmt *st,
                          char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	const uint64_t *set = st->masks, *where = st->masks + tb->words;
	uint32_t nc = ev->table->ncolumns, p = 0;
	if (st->nparams + (size_t)1 > t->cap_params) {
		size_t cap = t->cap_params, cap2 = t->cap_params;
		if (dbs_array_reserve((void **)&t->param_off, &cap, st->nparams + (size_t)1,
		                      sizeof *t->param_off) ||
		    dbs_array_reserve((void **)&t->params, &cap2, cap, sizeof *t->params))
			goto oom;
		t->cap_params = cap;
	}
	dbs_buf_reset(&t->buf);
	for (int pass = 0; pass < 2; pass++) {
		const uint64_t *m = pass ? where : set;
		for (uint32_t i = 0; i < nc; i++) {
			if (!mask_has(m, i))
				continue;
			const dbs_value *v;
			if (pass == 0)
				v = &ev->after[i];
			else if (tb->nkeys && is_missing(before_value(ev, i)) && ev->after)
				v = &ev->after[i]; /* the key did not change: the source sent only the new row */
			else
				v = before_value(ev, i);
			size_t at = t->buf.len;
			int is_null;
			if ((rc = dbs__pgt_put_value(t, tb, ev, i, v, 0, &is_null, err, errlen)))
				goto done;
			if (is_null) {
				t->param_off[p++] = SIZE_MAX;
				continue;
			}
			t->param_off[p++] = at;
			if (dbs_buf_append_char(&t->buf, '\0'))
				goto oom;
		}
	}
	/* Pointers only now: the buffer may have moved while it grew. */
	for (uint32_t k = 0; k < p; k++)
		t->params[k] = t->param_off[k] == SIZE_MAX ? NULL : t->buf.data + t->param_off[k];
	rc = 0;
	goto done;
oom:
	rc = DBS_ENOMEM;
	dbs_fmt(err, errlen, "out of memory");
done:
	return rc;
}

/* How a failing pipelined command is named: its event when it belongs
 * to the batch being applied, else its table or what it was. */
static void pending_error(pg_target *t, const pg_pending *pd, const dbs_batch *batch,
                          const PGresult *res, char *err, size_t errlen)
{
	char label[256];
	if (pd->event != PENDING_NO_EVENT && pd->apply_no == t->apply_no && batch &&
	    pd->event < dbs_batch_count(batch))
		dbs__pgt_error(t, res, err, errlen,
		               dbs__pgt_event_label(t, pd->table, dbs_batch_event(batch, pd->event)));
	else if (pd->table)
		dbs__pgt_error(t, res, err, errlen, dbs__pgt_table_label(pd->table, label, sizeof label));
	else
		dbs__pgt_error(t, res, err, errlen, pd->what ? pd->what : "pipeline");
}

/*
 * Read the results of `npending` pipelined commands and the sync. Returns
 * the first failure, with the event that caused it in err (the batch may
 * be NULL); always reads everything so the connection leaves pipeline
 * mode in a clean state.
 */
int dbs__pgt_pipeline_collect(pg_target *t, const dbs_batch *batch, size_t npending, char *err,
                              size_t errlen)
{
	int rc = 0;
	for (size_t k = 0; k < npending; k++) {
		pg_pending *pd = &t->pending[k];
		PGresult *res = PQgetResult(t->conn);
		ExecStatusType st = PQresultStatus(res);
		if (!res) {
			if (rc == 0) {
				dbs__pgt_error(t, NULL, err, errlen, "pipeline");
				rc = DBS_ETARGET;
			}
			break;
		}
		pg_stmt *stmt = pd->kind == PENDING_CONTROL ? NULL : &pd->table->stmts[pd->stmt];
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			if (pd->kind == PENDING_PREPARE)
				stmt->state = STMT_READY;
			else if (pd->kind == PENDING_SET) {
				unsigned long done = strtoul(PQcmdTuples(res), NULL, 10);
				if (done < pd->rows)
					t->missed[stmt->op == DBS_OP_UPDATE ? 0 : 1] += pd->rows - done;
			} else if (stmt && stmt->op != DBS_OP_INSERT && strcmp(PQcmdTuples(res), "0") == 0)
				t->missed[stmt->op == DBS_OP_UPDATE ? 0 : 1]++;
			else if (pd->kind == PENDING_CONTROL && pd->what && strcmp(pd->what, "commit") == 0 &&
			         strcmp(PQcmdStatus(res), "COMMIT") != 0 && rc == 0) {
				dbs_fmt(err, errlen, "commit: the server rolled the transaction back (%s)",
				         PQcmdStatus(res));
				rc = DBS_ETARGET;
			}
		} else if (rc == 0) {
			pending_error(t, pd, batch, res, err, errlen);
			rc = DBS_ETARGET;
		}
		PQclear(res);
		/* Each command's results end with a NULL. */
		while ((res = PQgetResult(t->conn)) != NULL) {
			if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
				PQclear(res);
				goto synced;
			}
			PQclear(res);
		}
	}
	dbs__pgt_pipeline_drain(t);
synced:
	if (rc == 0 && PQstatus(t->conn) == CONNECTION_BAD) {
		dbs__pgt_error(t, NULL, err, errlen, "pipeline");
		rc = DBS_ETARGET;
	}
	return rc;
}

/*
 * Events from `first` on (at most `limit`, skipped ones not counted) that
 * insert into the same table as the event at `first`, an insert.
 */
uint32_t dbs__pgt_insert_run_length(pg_target *t, const dbs_batch *batch, uint32_t first,
                                    uint32_t limit)
{
	uint32_t len = 0, n = dbs_batch_count(batch);
	const dbs_table *def = dbs_batch_event(batch, first)->table;
	for (uint32_t i = first; i < n && len < limit; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (dbs__sqltarget_skipped(&t->common, ev))
			continue;
		/* Another definition object of the same table ends the run
		 * early: only a shorter COPY, never a wrong one. */
		if (ev->op != DBS_OP_INSERT || ev->table != def)
			break;
		len++;
	}
	return len;
}

/*
 * Apply the events from *index on through the pipeline: updates, deletes
 * and short insert runs, stopping at a long insert run (for COPY) or a
 * table not created yet in this session; move *index past them.
 */
int dbs__pgt_change_run(pg_target *t, const dbs_batch *batch, uint32_t *index, char *err,
                        size_t errlen)
{
	int rc = DBS_ETARGET;
	int in_pipeline = 0;
	size_t npending = 0;
	uint32_t i = *index, n = dbs_batch_count(batch);
	uint32_t short_end = 0; /* end of the short insert run being sent */

	if (PQenterPipelineMode(t->conn) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, "pipeline");
		goto done;
	}
	in_pipeline = 1;
	for (; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (dbs__sqltarget_skipped(&t->common, ev))
			continue;
		pg_table *tb;
		if ((rc = dbs__pgt_table_lookup(t, ev->table, &tb, err, errlen)))
			goto done;
		if (!tb->ready)
			break; /* DDL cannot run inside the pipeline */
		if (ev->op == DBS_OP_INSERT && i >= short_end) {
			if (dbs__pgt_insert_run_length(t, batch, i, COPY_MIN_ROWS) >= COPY_MIN_ROWS)
				break; /* long enough for COPY */
			short_end = i + dbs__pgt_insert_run_length(t, batch, i, UINT32_MAX);
		}
		pg_stmt *st;
		if ((rc = dbs__pgt_stmt_for_event(t, tb, ev, &st, err, errlen)))
			goto done;
		if (st->op == DBS_OP_UPDATE && mask_empty(st->masks, tb->words))
			continue; /* nothing sent but unchanged values: nothing to write */
		if (dbs_array_reserve((void **)&t->pending, &t->cap_pending, npending + 2, sizeof *t->pending)) {
			rc = DBS_ENOMEM;
			dbs_fmt(err, errlen, "out of memory");
			goto done;
		}
		rc = DBS_ETARGET;
		if (st->state == STMT_NONE) {
			if ((rc = dbs__pgt_stmt_sql(t, tb, ev->table, st))) {
				dbs_fmt(err, errlen, "out of memory");
				goto done;
			}
			/* A fresh name each time: a Prepare whose outcome was lost may
			 * still exist on the server. */
			dbs_fmt(st->name, sizeof st->name, "dbs_%c%" PRIu32 "_%" PRIu32,
			         st->op == DBS_OP_UPDATE ? 'u' : 'd', tb->id, tb->next_stmt++);
			rc = DBS_ETARGET;
			if (PQsendPrepare(t->conn, st->name, t->sql.data, (int)st->nparams, NULL) != 1) {
				dbs__pgt_error(t, NULL, err, errlen, dbs__pgt_event_label(t, tb, ev));
				goto done;
			}
			st->state = STMT_SENT;
			t->pending[npending++] = (pg_pending){tb, (size_t)(st - tb->stmts), i,
			                                      PENDING_PREPARE, t->apply_no, NULL, 0};
		}
		if ((rc = dbs__pgt_event_params(t, tb, ev, st, err, errlen)))
			goto done;
		rc = DBS_ETARGET;
		if (PQsendQueryPrepared(t->conn, st->name, (int)st->nparams, t->params, NULL, NULL,
		                        0) != 1) {
			dbs__pgt_error(t, NULL, err, errlen, dbs__pgt_event_label(t, tb, ev));
			goto done;
		}
		t->pending[npending++] = (pg_pending){tb, (size_t)(st - tb->stmts), i, PENDING_EXEC,
		                                      t->apply_no, NULL, 0};
		if (npending >= PIPELINE_CHUNK) {
			if (PQpipelineSync(t->conn) != 1) {
				dbs__pgt_error(t, NULL, err, errlen, "pipeline");
				goto done;
			}
			rc = dbs__pgt_pipeline_collect(t, batch, npending, err, errlen);
			npending = 0;
			if (rc)
				goto done;
		}
	}
	rc = 0;
done:
	if (in_pipeline) {
		if (PQpipelineSync(t->conn) == 1) {
			int crc = dbs__pgt_pipeline_collect(t, batch, npending, rc ? NULL : err, rc ? 0 : errlen);
			if (rc == 0)
				rc = crc;
		} else if (rc == 0) {
			dbs__pgt_error(t, NULL, err, errlen, "pipeline");
			rc = DBS_ETARGET;
		}
		if (PQexitPipelineMode(t->conn) != 1 && rc == 0) {
			dbs__pgt_error(t, NULL, err, errlen, "pipeline");
			rc = DBS_ETARGET;
		}
	}
	*index = i;
	return rc;
}

/* One event as one statement, prepared once per shape, without the
 * pipeline: the caller has a savepoint around it. */
/* One event as one statement, prepared once per shape, without the
 * pipeline: the caller has a savepoint around it. */
int dbs__pgt_apply_row(pg_target *t, pg_table *tb, const dbs_event *ev, char *err, size_t errlen)
{
	int rc;
	PGresult *res = NULL;
	pg_stmt *st;
	if ((rc = dbs__pgt_stmt_for_event(t, tb, ev, &st, err, errlen)))
		goto done;
	if (st->op == DBS_OP_UPDATE && mask_empty(st->masks, tb->words))
		goto done; /* nothing sent but unchanged values */
	if (st->state != STMT_READY) {
		if ((rc = dbs__pgt_stmt_sql(t, tb, ev->table, st))) {
			dbs_fmt(err, errlen, "out of memory");
			goto done;
		}
		dbs_fmt(st->name, sizeof st->name, "dbs_%c%" PRIu32 "_%" PRIu32,
		         st->op == DBS_OP_UPDATE ? 'u' : st->op == DBS_OP_DELETE ? 'd' : 'i', tb->id,
		         tb->next_stmt++);
		rc = DBS_ETARGET;
		res = PQprepare(t->conn, st->name, t->sql.data, (int)st->nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			dbs__pgt_error(t, res, err, errlen, dbs__pgt_event_label(t, tb, ev));
			goto done;
		}
		PQclear(res);
		res = NULL;
		st->state = STMT_READY;
	}
	if ((rc = dbs__pgt_event_params(t, tb, ev, st, err, errlen)))
		goto done;
	rc = DBS_ETARGET;
	res = PQexecPrepared(t->conn, st->name, (int)st->nparams, t->params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		dbs__pgt_error(t, res, err, errlen, dbs__pgt_event_label(t, tb, ev));
		goto done;
	}
	if (st->op != DBS_OP_INSERT && strcmp(PQcmdTuples(res), "0") == 0)
		t->missed[st->op == DBS_OP_UPDATE ? 0 : 1]++;
	rc = 0;
done:
	PQclear(res);
	return rc;
}

void dbs__pgt_pipeline_drain(pg_target *t)
{
	for (int nulls = 0; nulls < 3;) {
		PGresult *res = PQgetResult(t->conn);
		if (!res) {
			if (PQstatus(t->conn) == CONNECTION_BAD)
				break;
			nulls++;
			continue;
		}
		nulls = 0;
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
	}
}
