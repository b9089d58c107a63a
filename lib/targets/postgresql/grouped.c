/*
 * PostgreSQL target: a grouped transaction, several source transactions
 * in one commit (dbs__sqltarget_grouping). Nothing waits for the server
 * between batches, so what a statement and a commit carry no longer
 * depends on the hub's batch size:
 *   - consecutive changes of one table and shape (inserts; updates of the
 *     same columns by key; deletes by key) form one run across batches,
 *     kept as parameter text while it is short; a run that stays shorter
 *     than COPY_MIN_ROWS goes into the pipeline as single-row statements
 *     (upserts, updates, deletes), a longer one becomes one COPY that
 *     stays open while the run goes on: inserts straight into the table,
 *     updates and deletes into the staging table, applied at the run's end
 *     by one UPDATE … FROM or DELETE … USING (a key met twice in a run
 *     starts a new one, so each staged row finds its own);
 *   - other updates and deletes (a key changed, a table without a key) go
 *     one by one into the pipeline, which stays open across batches and
 *     is read back every PIPELINE_CHUNK commands and at the commit;
 *   - BEGIN, the checkpoint upsert and COMMIT travel in the pipeline too.
 * A long run is COPYed straight into the table under a savepoint, its
 * rows kept (up to COPY_KEEP_BYTES per COPY) so that a duplicate key can
 * send them through the staging upsert instead, as the per-batch path
 * does. A failing statement may belong to a batch already gone, so it is
 * named by its table; the skeleton then has the core apply the group
 * again one source transaction at a time (DBS_APPLY_REPLAY), which names
 * the row.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/checkpoint.h"
#include "targets/postgresql/pg_target.h"

/* Rows of one set-based update or delete at most. */
#define SET_RUN_MAX_ROWS 65536u

static int oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

static int pending_push(pg_target *t, pg_pending pd, char *err, size_t errlen)
{
	if (dbs_array_reserve((void **)&t->pending, &t->cap_pending, t->g.npending + 1,
	                      sizeof *t->pending))
		return oom(err, errlen);
	t->pending[t->g.npending++] = pd;
	return 0;
}

/* Read what the pipeline owes; it stays in pipeline mode. */
static int pipeline_sync(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	size_t n = t->g.npending;
	t->g.npending = 0;
	if (PQpipelineSync(t->conn) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, "pipeline");
		return DBS_ETARGET;
	}
	return dbs__pgt_pipeline_collect(t, batch, n, err, errlen);
}

/* A statement without parameters, its result read with the others. */
static int send_control(pg_target *t, const char *sql, pg_table *tb, const char *what,
                        char *err, size_t errlen)
{
	if (PQsendQueryParams(t->conn, sql, 0, NULL, NULL, NULL, NULL, 0) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, what);
		return DBS_ETARGET;
	}
	return pending_push(t, (pg_pending){tb, 0, PENDING_NO_EVENT, PENDING_CONTROL, t->apply_no,
	                                    what, 0},
	                    err, errlen);
}

/* In pipeline mode, with the transaction begun. */
static int pipeline_enter(pg_target *t, char *err, size_t errlen)
{
	if (!t->g.pipeline) {
		if (PQenterPipelineMode(t->conn) != 1) {
			dbs__pgt_error(t, NULL, err, errlen, "pipeline");
			return DBS_ETARGET;
		}
		t->g.pipeline = 1;
	}
	if (t->g.begun)
		return 0;
	t->g.begun = 1;
	return send_control(t, "BEGIN", NULL, "begin", err, errlen);
}

/* Out of pipeline mode, everything sent read. */
static int pipeline_leave(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0;
	if (!t->g.pipeline)
		return 0;
	if (t->g.npending)
		rc = pipeline_sync(t, batch, err, errlen);
	if (PQexitPipelineMode(t->conn) != 1 && rc == 0) {
		dbs__pgt_error(t, NULL, err, errlen, "pipeline");
		rc = DBS_ETARGET;
	}
	t->g.pipeline = 0;
	return rc;
}

/* Outside the pipeline, with the transaction begun (DDL, COPY). */
static int begin_plain(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = pipeline_leave(t, batch, err, errlen);
	if (rc || t->g.begun)
		return rc;
	t->g.begun = 1;
	return dbs__pgt_exec(t, "BEGIN", "begin", err, errlen);
}

/* Append `n` bytes of parameter text to t->buf as COPY text. */
static int copy_escape(dbs_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *esc = s[i] == '\\' ? "\\\\" : s[i] == '\t' ? "\\t" : s[i] == '\n' ? "\\n"
		                  : s[i] == '\r' ? "\\r" : NULL;
		if (esc ? dbs_buf_append(b, esc, 2) : dbs_buf_append_char(b, s[i]))
			return DBS_ENOMEM;
	}
	return 0;
}

/* Columns of a run's row that its COPY carries: every column of an
 * insert, the written columns of an update (the key among them), the key
 * of a delete; the first `n` of the row's parameters (pipeline.c puts the
 * written columns first, then the key). */
static uint32_t copy_columns(const pg_table *tb, const pg_stmt *st)
{
	if (st->op == DBS_OP_DELETE)
		return tb->nkeys;
	if (st->op == DBS_OP_INSERT)
		return tb->ncolumns;
	uint32_t n = 0;
	for (uint32_t i = 0; i < tb->ncolumns; i++)
		n += mask_has(st->masks, i);
	return n;
}

/* The run's rows kept as parameters, written as COPY lines. */
static int vals_to_copy(pg_target *t)
{
	const pg_stmt *st = &t->g.run->stmts[t->g.run_stmt];
	uint32_t np = st->nparams, nc = copy_columns(t->g.run, st);
	for (size_t v = 0; v < t->g.noff; v++) {
		if (v % np >= nc)
			continue;
		size_t at = t->g.off[v];
		int rc = at == SIZE_MAX ? dbs_buf_append(&t->g.kept, "\\N", 2)
		                        : copy_escape(&t->g.kept, t->g.vals.data + at,
		                                      strlen(t->g.vals.data + at));
		if (rc || dbs_buf_append_char(&t->g.kept, (v % np) + 1 < nc ? '\t' : '\n'))
			return DBS_ENOMEM;
	}
	t->g.noff = 0;
	dbs_buf_reset(&t->g.vals);
	return 0;
}

/* Hand what the COPY holds and libpq has not seen to libpq; rows that may
 * have to go again through the staging table stay kept. */
static int copy_push(pg_target *t, char *err, size_t errlen)
{
	size_t n = t->g.kept.len - t->g.sent;
	if (n && (n > INT32_MAX ||
	          PQputCopyData(t->conn, t->g.kept.data + t->g.sent, (int)n) != 1)) {
		dbs__pgt_error(t, NULL, err, errlen, "COPY");
		return DBS_ETARGET;
	}
	t->g.sent = t->g.kept.len;
	if (!t->g.keep) {
		dbs_buf_reset(&t->g.kept);
		t->g.sent = 0;
	}
	return 0;
}

/* The staging COPY and the set-based statement of a shape of updates or
 * deletes, built on first use:
 *   WITH d AS (DELETE FROM staging WHERE dbs__run = this run RETURNING *)
 *   UPDATE t SET c = d.c, … FROM d WHERE t.k = d.k …
 *   (DELETE FROM t USING d WHERE t.k = d.k … for deletes)
 * The staging table has the target's own column types, so COPY parses the
 * values as the single-row statements would. */
static int set_sql(pg_target *t, pg_table *tb, pg_stmt *st)
{
	const dbs_table *def = tb->last;
	dbs_buf *s = &t->sql;
	int first = 1;
	if (st->set_sql)
		return 0;
	dbs_buf_reset(s);
	if (dbs_buf_appendf(s, "SELECT nextval('pg_temp.dbs_run'); COPY pg_temp.dbs_stage_%" PRIu32
	                       " (", tb->id))
		return DBS_ENOMEM;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		int in = st->op == DBS_OP_UPDATE ? mask_has(st->masks, i)
		                                 : mask_has(st->masks + tb->words, i);
		if (!in)
			continue;
		if ((!first && dbs_buf_append_char(s, ',')) ||
		    dbs__sql_append_ident(s, def->columns[i].name))
			return DBS_ENOMEM;
		first = 0;
	}
	if (dbs_buf_append_str(s, ") FROM STDIN") || !(st->set_copy_sql = strdup(s->data)))
		return DBS_ENOMEM;
	dbs_buf_reset(s);
	if (dbs_buf_appendf(s, "WITH d AS (DELETE FROM pg_temp.dbs_stage_%" PRIu32
	                       " WHERE dbs__run = (SELECT currval('pg_temp.dbs_run')) RETURNING *) ",
	                    tb->id))
		return DBS_ENOMEM;
	if (st->op == DBS_OP_UPDATE) {
		if (dbs_buf_appendf(s, "UPDATE %s AS t SET ", tb->qname))
			return DBS_ENOMEM;
		first = 1;
		for (uint32_t i = 0; i < def->ncolumns; i++) {
			if (!mask_has(st->masks, i) || (def->columns[i].flags & DBS_COLUMN_KEY))
				continue;
			if ((!first && dbs_buf_append_char(s, ',')) ||
			    dbs__sql_append_ident(s, def->columns[i].name) ||
			    dbs_buf_append_str(s, " = d.") ||
			    dbs__sql_append_ident(s, def->columns[i].name))
				return DBS_ENOMEM;
			first = 0;
		}
		if (dbs_buf_append_str(s, " FROM d WHERE "))
			return DBS_ENOMEM;
	} else if (dbs_buf_appendf(s, "DELETE FROM %s AS t USING d WHERE ", tb->qname)) {
		return DBS_ENOMEM;
	}
	for (uint32_t k = 0; k < tb->nkeys; k++) {
		const char *name = def->columns[tb->keys[k]].name;
		if ((k && dbs_buf_append_str(s, " AND ")) || dbs_buf_append_str(s, "t.") ||
		    dbs__sql_append_ident(s, name) || dbs_buf_append_str(s, " = d.") ||
		    dbs__sql_append_ident(s, name))
			return DBS_ENOMEM;
	}
	return (st->set_sql = strdup(s->data)) ? 0 : DBS_ENOMEM;
}

/* The run has grown long: one COPY, which stays open while the run goes
 * on. Inserts straight into the table under a savepoint, keeping their
 * rows (up to COPY_KEEP_BYTES per COPY); into staging once the table met
 * a duplicate key, or the transaction used its savepoints; a keyless
 * table straight in (not idempotent, as on the per-batch path). Updates
 * and deletes into staging, applied by one statement at the run's end. */
static int copy_start(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	pg_table *tb = t->g.run;
	pg_stmt *st = &tb->stmts[t->g.run_stmt];
	char label[256];
	int rc, insert = st->op == DBS_OP_INSERT;
	t->g.staged = !insert || (tb->nkeys && (tb->upsert_runs || t->savepoints >= SAVEPOINTS_PER_TXN));
	t->g.keep = insert && tb->nkeys && !t->g.staged;
	if ((rc = begin_plain(t, batch, err, errlen)))
		return rc;
	if (!insert && set_sql(t, tb, st))
		return oom(err, errlen);
	if (t->g.staged) {
		if (insert && tb->upsert_runs)
			tb->upsert_runs--;
		if ((rc = dbs__pgt_stage_ensure(t, tb, tb->last, err, errlen)))
			return rc;
	}
	if (t->g.keep)
		t->savepoints++;
	PGresult *res = PQexec(t->conn, !insert        ? st->set_copy_sql
	                                : t->g.staged ? tb->copy_sql
	                                : t->g.keep   ? tb->copy_savepoint_sql
	                                              : tb->copy_direct_sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		dbs__pgt_error(t, res, err, errlen, dbs__pgt_table_label(tb, label, sizeof label));
		PQclear(res);
		return DBS_ETARGET;
	}
	PQclear(res);
	t->g.copying = 1;
	t->g.copy_rows = (uint32_t)(t->g.noff / st->nparams);
	dbs_buf_reset(&t->g.kept);
	t->g.sent = 0;
	return vals_to_copy(t) ? oom(err, errlen) : 0;
}

/* End a COPY; on an error, `label` names it. */
static int copy_finish(pg_target *t, int *duplicate, const char *label, char *err,
                       size_t errlen)
{
	int rc = 0;
	*duplicate = 0;
	if (PQputCopyEnd(t->conn, NULL) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, label);
		rc = DBS_ETARGET;
	}
	PGresult *res = PQgetResult(t->conn);
	if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		*duplicate = state && strcmp(state, "23505") == 0;
		dbs__pgt_error(t, res, err, errlen, label);
		rc = DBS_ETARGET;
	}
	PQclear(res);
	while ((res = PQgetResult(t->conn)) != NULL)
		PQclear(res);
	return rc;
}

/* End the COPY of the run (or of its first COPY_KEEP_BYTES): its result,
 * and the statement that applies what is staged. A key the table already
 * has (a replay, a target filled beforehand) rolls a direct COPY back to
 * its savepoint and sends the kept rows through the staging upsert
 * instead, as the per-batch path does; the table's next runs go there
 * directly. */
static int copy_end(pg_target *t, char *err, size_t errlen)
{
	pg_table *tb = t->g.run;
	pg_stmt *st = &tb->stmts[t->g.run_stmt];
	char label[256];
	int rc, duplicate = 0;
	dbs__pgt_table_label(tb, label, sizeof label);
	dbs_fmt(label + strlen(label), sizeof label - strlen(label), " (%" PRIu32 " %s rows)",
	         t->g.copy_rows, st->op == DBS_OP_INSERT   ? "inserted"
	                         : st->op == DBS_OP_UPDATE ? "updated"
	                                                   : "deleted");
	t->g.copying = 0;
	if ((rc = copy_push(t, err, errlen))) {
		PQputCopyEnd(t->conn, "dbstreams: apply failed");
		PGresult *res;
		while ((res = PQgetResult(t->conn)) != NULL)
			PQclear(res);
		return rc;
	}
	rc = copy_finish(t, &duplicate, label, err, errlen);
	if (rc && duplicate && t->g.keep) {
		t->common.data_error = 0; /* handled: the upsert takes the rows */
		tb->upsert_runs = UPSERT_RUNS_AFTER_DUPLICATE;
		PGresult *res = NULL;
		if ((rc = dbs__pgt_exec(t, "ROLLBACK TO SAVEPOINT dbs_copy", label, err, errlen)) ||
		    (rc = dbs__pgt_stage_ensure(t, tb, tb->last, err, errlen)))
			goto kept_done;
		res = PQexec(t->conn, tb->copy_sql);
		if (PQresultStatus(res) != PGRES_COPY_IN) {
			dbs__pgt_error(t, res, err, errlen, label);
			rc = DBS_ETARGET;
			goto kept_done;
		}
		t->g.staged = 1;
		t->g.sent = 0;
		t->g.keep = 0;
		if ((rc = copy_push(t, err, errlen)) == 0)
			rc = copy_finish(t, &duplicate, label, err, errlen);
	kept_done:
		PQclear(res);
	}
	dbs_buf_reset(&t->g.kept);
	t->g.sent = 0;
	t->g.keep = 0;
	if (rc || !t->g.staged)
		return rc;
	if ((rc = pipeline_enter(t, err, errlen)))
		return rc;
	if (st->op == DBS_OP_INSERT)
		return send_control(t, tb->upsert_sql, tb, "upsert", err, errlen);
	if (PQsendQueryParams(t->conn, st->set_sql, 0, NULL, NULL, NULL, NULL, 0) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, label);
		return DBS_ETARGET;
	}
	return pending_push(t, (pg_pending){tb, t->g.run_stmt, PENDING_NO_EVENT, PENDING_SET,
	                                    t->apply_no, NULL, t->g.copy_rows},
	                    err, errlen);
}

/* The statement of a shape prepared on the server, in the pipeline. */
static int stmt_prepare(pg_target *t, pg_table *tb, pg_stmt *st, uint32_t event, char *err,
                        size_t errlen)
{
	if (st->state != STMT_NONE)
		return 0;
	if (dbs__pgt_stmt_sql(t, tb, tb->last, st))
		return oom(err, errlen);
	/* A fresh name each time: a Prepare whose outcome was lost may still
	 * exist on the server. */
	dbs_fmt(st->name, sizeof st->name, "dbs_%c%" PRIu32 "_%" PRIu32,
	         st->op == DBS_OP_UPDATE ? 'u' : st->op == DBS_OP_DELETE ? 'd' : 'i', tb->id,
	         tb->next_stmt++);
	if (PQsendPrepare(t->conn, st->name, t->sql.data, (int)st->nparams, NULL) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, "prepare");
		return DBS_ETARGET;
	}
	st->state = STMT_SENT;
	return pending_push(t, (pg_pending){tb, (size_t)(st - tb->stmts), event, PENDING_PREPARE,
	                                    t->apply_no, NULL, 0},
	                    err, errlen);
}

/* A short run's rows, one prepared statement each, in the pipeline. */
static int run_rows_send(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	pg_table *tb = t->g.run;
	pg_stmt *st = &tb->stmts[t->g.run_stmt];
	uint32_t np = st->nparams;
	int rc;
	if ((rc = pipeline_enter(t, err, errlen)) ||
	    (rc = stmt_prepare(t, tb, st, PENDING_NO_EVENT, err, errlen)))
		return rc;
	for (size_t row = 0; row * np < t->g.noff; row++) {
		for (uint32_t c = 0; c < np; c++) {
			size_t at = t->g.off[row * np + c];
			t->params[c] = at == SIZE_MAX ? NULL : t->g.vals.data + at;
		}
		if (PQsendQueryPrepared(t->conn, st->name, (int)np, t->params, NULL, NULL, 0) != 1) {
			dbs__pgt_error(t, NULL, err, errlen, "pipeline");
			return DBS_ETARGET;
		}
		if ((rc = pending_push(t, (pg_pending){tb, t->g.run_stmt, PENDING_NO_EVENT,
		                                       PENDING_EXEC, t->apply_no, NULL, 0},
		                       err, errlen)))
			return rc;
		if (t->g.npending >= PIPELINE_CHUNK && (rc = pipeline_sync(t, batch, err, errlen)))
			return rc;
	}
	return 0;
}

/* The run ends (another table, another kind of change, DDL, the commit):
 * send what it still holds. */
static int run_end(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0;
	if (!t->g.run)
		return 0;
	if (t->g.copying)
		rc = copy_end(t, err, errlen);
	else if (t->g.noff)
		rc = run_rows_send(t, batch, err, errlen);
	t->g.run = NULL;
	t->g.run_rows = 0;
	t->g.noff = 0;
	dbs_buf_reset(&t->g.vals);
	if (t->g.run_keys)
		memset(t->g.run_keys, 0, t->g.cap_run_keys * sizeof *t->g.run_keys);
	return rc;
}

/* Parameter `p` of the row in t->buf and t->param_off (dbs__pgt_event_params). */
static const char *param(const pg_target *t, uint32_t p)
{
	return t->param_off[p] == SIZE_MAX ? NULL : t->buf.data + t->param_off[p];
}

/* FNV-1a over the key's text, never 0 (an empty slot). */
static uint64_t key_hash(const pg_target *t, uint32_t first, uint32_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (uint32_t p = first; p < first + n; p++) {
		const char *v = param(t, p);
		for (const char *c = v ? v : ""; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
		h = (h ^ (v ? 0xffu : 0xfeu)) * 1099511628211ull;
	}
	return h ? h : 1;
}

/* Whether a key (hash) is already in the run of updates or deletes; else
 * it is added. A collision only ends a run early. */
static int key_seen(pg_target *t, uint64_t h, char *err, size_t errlen, int *failed)
{
	size_t cap = t->g.cap_run_keys;
	*failed = 0;
	if (2 * ((size_t)t->g.run_rows + 1) > cap) {
		size_t ncap = cap ? 2 * cap : 256;
		uint64_t *n = calloc(ncap, sizeof *n);
		if (!n) {
			*failed = oom(err, errlen);
			return 0;
		}
		for (size_t i = 0; i < cap; i++) {
			if (!t->g.run_keys[i])
				continue;
			size_t j = t->g.run_keys[i] & (ncap - 1);
			while (n[j])
				j = (j + 1) & (ncap - 1);
			n[j] = t->g.run_keys[i];
		}
		free(t->g.run_keys);
		t->g.run_keys = n;
		t->g.cap_run_keys = cap = ncap;
	}
	size_t j = h & (cap - 1);
	while (t->g.run_keys[j]) {
		if (t->g.run_keys[j] == h)
			return 1;
		j = (j + 1) & (cap - 1);
	}
	t->g.run_keys[j] = h;
	return 0;
}

/* Whether an update or delete can join a set-based run: by a key, and an
 * update that keeps its key and writes some other column. */
static int set_based(const pg_table *tb, const pg_target *t, const pg_stmt *st)
{
	if (!tb->nkeys)
		return 0;
	if (st->op != DBS_OP_UPDATE)
		return 1;
	uint32_t nset = 0, others = 0;
	for (uint32_t i = 0; i < tb->ncolumns; i++) {
		if (!mask_has(st->masks, i))
			continue;
		nset++;
		others += !(tb->last->columns[i].flags & DBS_COLUMN_KEY);
	}
	if (!others)
		return 0;
	/* Each key column written with the value it is found by. */
	for (uint32_t k = 0, w = nset; k < tb->nkeys; k++, w++) {
		uint32_t c = tb->keys[k], pos = 0;
		if (!mask_has(st->masks, c))
			return 0;
		for (uint32_t i = 0; i < c; i++)
			pos += mask_has(st->masks, i);
		const char *a = param(t, pos), *b = param(t, w);
		if (!a || !b || strcmp(a, b) != 0)
			return 0;
	}
	return 1;
}

/* An event joins the run of its table and shape (which it may start):
 * inserts, and updates and deletes by key (whose parameters are in
 * t->buf already). */
static int run_add(pg_target *t, const dbs_batch *batch, uint32_t i, pg_table *tb, pg_stmt *st,
                   char *err, size_t errlen)
{
	const dbs_event *ev = dbs_batch_event(batch, i);
	size_t idx = (size_t)(st - tb->stmts);
	int rc, is_null;
	if (t->g.run != tb || t->g.run_stmt != idx) {
		if ((rc = run_end(t, batch, err, errlen)))
			return rc;
		t->g.run = tb;
		t->g.run_stmt = idx;
	}
	if (t->g.copying && st->op == DBS_OP_INSERT) {
		t->g.run_rows++;
		dbs_buf_reset(&t->buf);
		for (uint32_t c = 0; c < ev->table->ncolumns; c++) {
			if (c && dbs_buf_append_char(&t->buf, '\t'))
				return oom(err, errlen);
			if ((rc = dbs__pgt_put_value(t, tb, ev, c, &ev->after[c], DBS_VALUE_TEXT_COPY,
			                             &is_null, err, errlen)))
				return rc;
		}
		if (dbs_buf_append_char(&t->buf, '\n') ||
		    dbs_buf_append(&t->g.kept, t->buf.data, t->buf.len))
			return oom(err, errlen);
		t->g.copy_rows++;
		if (t->g.keep && t->g.kept.len >= COPY_KEEP_BYTES)
			return (rc = copy_end(t, err, errlen)) ? rc : copy_start(t, batch, err, errlen);
		return t->g.kept.len - t->g.sent >= COPY_CHUNK_BYTES ? copy_push(t, err, errlen) : 0;
	}
	if (st->op == DBS_OP_INSERT && (rc = dbs__pgt_event_params(t, tb, ev, st, err, errlen)))
		return rc;
	if (st->op != DBS_OP_INSERT) {
		/* A key met again in the run: the rows of one set statement must
		 * each find another row. A long run is cut, which bounds the
		 * keys remembered. */
		uint64_t h = key_hash(t, st->nparams - tb->nkeys, tb->nkeys);
		int seen = t->g.run_rows >= SET_RUN_MAX_ROWS || key_seen(t, h, err, errlen, &rc);
		if (rc)
			return rc;
		if (seen) {
			if ((rc = run_end(t, batch, err, errlen)))
				return rc;
			t->g.run = tb;
			t->g.run_stmt = idx;
			key_seen(t, h, err, errlen, &rc);
			if (rc)
				return rc;
		}
	}
	t->g.run_rows++;
	if (t->g.copying) {
		uint32_t nc = copy_columns(tb, st);
		for (uint32_t p = 0; p < nc; p++) {
			const char *v = param(t, p);
			if ((v ? copy_escape(&t->g.kept, v, strlen(v)) : dbs_buf_append(&t->g.kept, "\\N", 2)) ||
			    dbs_buf_append_char(&t->g.kept, p + 1 < nc ? '\t' : '\n'))
				return oom(err, errlen);
		}
		t->g.copy_rows++;
		return t->g.kept.len - t->g.sent >= COPY_CHUNK_BYTES ? copy_push(t, err, errlen) : 0;
	}
	if (dbs_array_reserve((void **)&t->g.off, &t->g.cap_off, t->g.noff + st->nparams,
	                      sizeof *t->g.off))
		return oom(err, errlen);
	for (uint32_t p = 0; p < st->nparams; p++) {
		const char *v = param(t, p);
		t->g.off[t->g.noff++] = v ? t->g.vals.len : SIZE_MAX;
		if (v && dbs_buf_append(&t->g.vals, v, strlen(v) + 1))
			return oom(err, errlen);
	}
	return t->g.run_rows >= COPY_MIN_ROWS ? copy_start(t, batch, err, errlen) : 0;
}

/* An update or delete on its own, into the pipeline. */
static int change_send(pg_target *t, const dbs_batch *batch, uint32_t i, pg_table *tb,
                       pg_stmt *st, char *err, size_t errlen)
{
	const dbs_event *ev = dbs_batch_event(batch, i);
	size_t idx = (size_t)(st - tb->stmts);
	int rc;
	if ((rc = run_end(t, batch, err, errlen)) || (rc = pipeline_enter(t, err, errlen)) ||
	    (rc = stmt_prepare(t, tb, st, i, err, errlen)) ||
	    (rc = dbs__pgt_event_params(t, tb, ev, st, err, errlen)))
		return rc;
	if (PQsendQueryPrepared(t->conn, st->name, (int)st->nparams, t->params, NULL, NULL, 0) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, dbs__pgt_event_label(t, tb, ev));
		return DBS_ETARGET;
	}
	if ((rc = pending_push(t, (pg_pending){tb, idx, i, PENDING_EXEC, t->apply_no, NULL, 0}, err,
	                       errlen)))
		return rc;
	return t->g.npending >= PIPELINE_CHUNK ? pipeline_sync(t, batch, err, errlen) : 0;
}

int dbs__pgt_write_grouped(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc;
	uint32_t n = dbs_batch_count(batch);
	t->g.active = 1;
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		pg_table *tb;
		if (dbs__sqltarget_skipped(&t->common, ev))
			continue;
		if ((rc = dbs__pgt_table_lookup(t, ev->table, &tb, err, errlen)))
			return rc;
		if (!tb->ready) {
			/* DDL runs alone, inside the transaction. */
			if ((rc = run_end(t, batch, err, errlen)) ||
			    (rc = begin_plain(t, batch, err, errlen)) ||
			    (rc = dbs__pgt_table_ensure(t, tb, ev->table, err, errlen)))
				return rc;
		}
		pg_stmt *st;
		if ((rc = dbs__pgt_stmt_for_event(t, tb, ev, &st, err, errlen)))
			return rc;
		if (st->op == DBS_OP_UPDATE && mask_empty(st->masks, tb->words))
			continue; /* nothing sent but unchanged values: nothing to write */
		if (st->op == DBS_OP_INSERT) {
			rc = run_add(t, batch, i, tb, st, err, errlen);
		} else {
			/* The row's parameters decide whether it can join a set. */
			if ((rc = dbs__pgt_event_params(t, tb, ev, st, err, errlen)))
				return rc;
			rc = set_based(tb, t, st) ? run_add(t, batch, i, tb, st, err, errlen)
			                          : change_send(t, batch, i, tb, st, err, errlen);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int dbs__pgt_commit_grouped(pg_target *t, const dbs_position *last, uint64_t seq,
                            const char *pos, char *err, size_t errlen)
{
	int rc;
	if ((rc = run_end(t, NULL, err, errlen)) || (rc = pipeline_enter(t, err, errlen)))
		return rc;
	/* Built after the run ended: sending it used t->sql. */
	dbs_buf_reset(&t->sql);
	if (dbs__checkpoint_upsert_sql(&t->sql, DBS_DIALECT_POSTGRESQL, t->common.stream_literal,
	                               last, seq, pos))
		return oom(err, errlen);
	if ((rc = send_control(t, t->sql.data, NULL, "writing the checkpoint", err, errlen)) ||
	    (rc = send_control(t, "COMMIT", NULL, "commit", err, errlen)) ||
	    (rc = pipeline_leave(t, NULL, err, errlen)))
		return rc;
	t->g.active = 0;
	t->g.begun = 0;
	return 0;
}

int dbs__pgt_grouped_plain(pg_target *t, char *err, size_t errlen)
{
	int rc;
	t->g.active = 1;
	if ((rc = run_end(t, NULL, err, errlen)))
		return rc;
	return begin_plain(t, NULL, err, errlen);
}

void dbs__pgt_abort_grouped(pg_target *t, int lost)
{
	PGresult *res;
	if (!lost && t->conn && PQstatus(t->conn) == CONNECTION_OK) {
		if (t->g.copying) {
			PQputCopyEnd(t->conn, "dbstreams: apply failed");
			while ((res = PQgetResult(t->conn)) != NULL)
				PQclear(res);
		}
		if (t->g.pipeline && PQpipelineSync(t->conn) == 1)
			dbs__pgt_pipeline_drain(t);
		if (t->g.pipeline)
			PQexitPipelineMode(t->conn);
	}
	t->g.active = t->g.begun = t->g.pipeline = t->g.copying = t->g.staged = t->g.keep = 0;
	dbs_buf_reset(&t->g.kept);
	t->g.sent = 0;
	t->g.npending = 0;
	t->g.run = NULL;
	t->g.run_rows = 0;
	t->g.noff = 0;
	dbs_buf_reset(&t->g.vals);
}
