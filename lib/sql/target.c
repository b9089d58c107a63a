/*
 * The SQL-target skeleton (target.h): apply with the checkpoint, open
 * source transactions, retry of a lost connection, row-by-row replay and
 * dead letters, around the dialect's hooks.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>
#include <dbstreams/sys/position.h>

#include "fault/fault.h"
#include "sql/checkpoint.h"
#include "sql/target.h"
#include "sql/value_text.h"

/* The dead-letter table, defined once and spelled in each dialect. */
static const struct column {
	const char *name;
	const char *pg, *my;
} dead_letter_columns[] = {
	{"stream_id", "text NOT NULL", "varchar(64) NOT NULL"},
	{"source_txn", "numeric(20,0) NOT NULL", "bigint unsigned NOT NULL"},
	{"source_event", "bigint NOT NULL", "bigint unsigned NOT NULL"},
	{"source_position", "text NOT NULL", "varchar(255) NOT NULL"},
	{"source_table", "text NOT NULL", "varchar(512) NOT NULL"},
	{"operation", "text NOT NULL", "varchar(8) NOT NULL"},
	{"row_key", "jsonb", "json NULL"},
	{"row_before", "jsonb", "json NULL"},
	{"row_after", "jsonb", "json NULL"},
	{"error_code", "text NOT NULL", "varchar(16) NOT NULL"},
	{"error_message", "text NOT NULL", "text NOT NULL"},
	{"rejected_at", "timestamptz NOT NULL DEFAULT now()", "datetime(6) NOT NULL"},
};

#define DEAD_LETTER_COLUMNS (sizeof dead_letter_columns / sizeof dead_letter_columns[0])
#define DEAD_LETTER_KEY "stream_id, source_txn, source_event"

void dbs__sqltarget_init(dbs_sqltarget *t, const dbs_target_ops *vtable,
                         const dbs_sqltarget_ops *ops, const dbs_target_config *config,
                         const dbs_host *host)
{
	t->base.ops = vtable;
	t->ops = ops;
	t->config = config;
	t->settings = config && config->settings ? config->settings : &dbs__sql_target_defaults;
	t->host = host;
}

void dbs__sqltarget_release(dbs_sqltarget *t)
{
	free(t->stream_literal);
	free(t->dlq_qname);
	free(t->keys_);
	dbs_buf_free(&t->sql_);
	dbs_buf_free(&t->json_);
}

static int oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

static void tlog(const dbs_sqltarget *t, dbs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tlog(const dbs_sqltarget *t, dbs_log_level level, const char *fmt, ...)
{
	char line[2 * DBS_ERRMSG_MAX];
	va_list ap;
	if (!t->host->log)
		return;
	va_start(ap, fmt);
	dbs_vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	t->host->log(t->host, level, "%s: %s", t->ops->what, line);
}

/* ------------------------------------------------------------------ */
/* Checkpoint                                                          */
/* ------------------------------------------------------------------ */

static int checkpoint_read(dbs_sqltarget *t, char *err, size_t errlen)
{
	const char *f[5];
	int found = 0, rc;
	dbs_buf q = DBS_BUF_INIT;
	if (dbs__checkpoint_select_sql(&q, t->stream_literal)) {
		rc = oom(err, errlen);
		goto done;
	}
	if ((rc = t->ops->select_row(t, q.data, "reading the checkpoint", &t->sql_, f, 5, &found,
	                             err, errlen)))
		goto done;
	memset(&t->checkpoint, 0, sizeof t->checkpoint);
	if (found)
		rc = dbs__checkpoint_parse(&t->checkpoint, f, t->host->stream_id, err, errlen);
done:
	dbs_buf_free(&q);
	return rc;
}

/* Commit what is open with the checkpoint row of the batch's last event. */
static int commit_batch(dbs_sqltarget *t, const dbs_batch *batch, char *err, size_t errlen)
{
	const dbs_position *last = dbs_batch_last(batch);
	char pos[96];
	dbs_position_text(pos, sizeof pos, batch, last);
	return t->ops->commit(t, batch, last, dbs_batch_seq(batch), pos, err, errlen);
}

/* What the transaction did is committed up to `last`. */
static void committed(dbs_sqltarget *t, const dbs_position *last)
{
	t->checkpoint = *last;
	t->open = 0;
	t->open_ended = 0;
	if (t->ops->committed)
		t->ops->committed(t);
}

/* ------------------------------------------------------------------ */
/* Dead letters                                                        */
/* ------------------------------------------------------------------ */

int dbs__sqltarget_dead_letter_ddl(dbs_buf *out, dbs_dialect d, const char *qname)
{
	int my = d == DBS_DIALECT_MYSQL;
	int rc = dbs_buf_appendf(out, "CREATE TABLE IF NOT EXISTS %s (", qname);
	for (size_t i = 0; i < DEAD_LETTER_COLUMNS && !rc; i++)
		rc = dbs_buf_appendf(out, "%s %s, ", dead_letter_columns[i].name,
		                     my ? dead_letter_columns[i].my : dead_letter_columns[i].pg);
	if (!rc)
		rc = dbs_buf_append_str(out, "PRIMARY KEY (" DEAD_LETTER_KEY "))");
	if (!rc && my)
		rc = dbs_buf_append_str(out, " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
	return rc;
}

/* `img` as a JSON document in a SQL string literal (NULL without one);
 * only `cols` when not NULL. */
static int append_json(dbs_sqltarget *t, dbs_buf *b, const dbs_table *def, const dbs_value *img,
                       const uint32_t *cols, uint32_t ncols)
{
	if (!img || (cols && !ncols))
		return dbs_buf_append_str(b, "NULL");
	dbs_buf_reset(&t->json_);
	int rc = dbs__row_json(&t->json_, def, img, cols, ncols);
	return rc ? rc : dbs__sql_append_literal(b, t->json_.data, t->json_.len);
}

/*
 * Write the event the target just rejected (t->err_code, t->err_msg) to
 * the dead-letter table, in the replay's transaction: it commits with the
 * checkpoint, so a replayed batch skips it like every applied event.
 * `nth` counts it among the target's dead letters, for the log.
 */
static int dead_letter_write(dbs_sqltarget *t, const dbs_batch *batch, void *table,
                             const dbs_event *ev, uint64_t nth, char *err, size_t errlen)
{
	static const char *const op_names[] = {"", "insert", "update", "delete"};
	int my = t->ops->dialect == DBS_DIALECT_MYSQL;
	const dbs_table *def = ev->table;
	dbs_buf *b = &t->sql_;
	char pos[64], label[DBS_ERRMSG_MAX], line[2 * DBS_ERRMSG_MAX + 256];
	uint32_t nkeys = 0;
	int rc;

	if (dbs_array_reserve((void **)&t->keys_, &t->cap_keys_, def->ncolumns + (size_t)1,
	                      sizeof *t->keys_))
		return oom(err, errlen);
	for (uint32_t c = 0; c < def->ncolumns; c++)
		if (def->columns[c].flags & DBS_COLUMN_KEY)
			t->keys_[nkeys++] = c;
	dbs_position_text(pos, sizeof pos, batch, &ev->pos);
	dbs_fmt(label, sizeof label, "%s", t->ops->row_label(t, table, ev));
	dbs_buf_reset(b);
	if (dbs_buf_appendf(b, "INSERT INTO %s (", t->dlq_qname))
		return oom(err, errlen);
	for (size_t i = 0; i < DEAD_LETTER_COLUMNS; i++)
		if (dbs_buf_appendf(b, "%s%s", i ? ", " : "", dead_letter_columns[i].name))
			return oom(err, errlen);
	if (dbs_buf_appendf(b, ") VALUES (%s, %" PRIu64 ", %" PRIu32 ", '%s', ", t->stream_literal,
	                    ev->pos.txn, ev->pos.event, pos))
		return oom(err, errlen);
	dbs_buf_reset(&t->json_);
	if ((rc = dbs_buf_appendf(&t->json_, "%s.%s", def->schema ? def->schema : "", def->name)) ||
	    (rc = dbs__sql_append_literal(b, t->json_.data, t->json_.len)) ||
	    (rc = dbs_buf_appendf(b, ", '%s', ", op_names[ev->op <= DBS_OP_DELETE ? ev->op : 0])) ||
	    (rc = append_json(t, b, def, dbs__row_key_image(ev, t->keys_, nkeys), t->keys_,
	                      nkeys)) ||
	    (rc = dbs_buf_append_str(b, ", ")) ||
	    (rc = append_json(t, b, def, ev->before, NULL, 0)) ||
	    (rc = dbs_buf_append_str(b, ", ")) ||
	    (rc = append_json(t, b, def, ev->after, NULL, 0)) ||
	    (rc = dbs_buf_append_str(b, ", ")) ||
	    (rc = dbs__sql_append_literal(b, t->err_code, strlen(t->err_code))) ||
	    (rc = dbs_buf_append_str(b, ", ")) ||
	    (rc = dbs__sql_append_literal(b, t->err_msg, strlen(t->err_msg))) ||
	    (rc = dbs_buf_append_str(
	         b, my ? ", UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE stream_id = stream_id"
	               : ", now()) ON CONFLICT (" DEAD_LETTER_KEY ") DO NOTHING")))
		return oom(err, errlen);
	/* Formatted now: a failing insert overwrites t->err_msg. */
	dbs_fmt(line, sizeof line,
	         "%s: row rejected (%s %s), written to %s (%" PRIu64 " so far)", label, t->err_code,
	         t->err_msg, t->dlq_qname, nth);
	char where[DBS_ERRMSG_MAX + 256];
	dbs_fmt(where, sizeof where, "%s: writing the rejected row to %s", label, t->dlq_qname);
	if ((rc = t->ops->exec(t, b->data, where, err, errlen))) {
		t->data_error = 0; /* the dead-letter table itself failed: no retry row by row */
		return rc;
	}
	tlog(t, DBS_LOG_WARN, "%s", line);
	return 0;
}

static int dead_letter_prepare(dbs_sqltarget *t, char *err, size_t errlen)
{
	dbs_buf q = DBS_BUF_INIT;
	int rc = t->ops->dead_letter_table(t, t->settings->dead_letter_table, &q, err, errlen);
	if (rc == 0 && !(t->dlq_qname = strdup(q.data ? q.data : "")))
		rc = oom(err, errlen);
	dbs_buf_free(&q);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Apply                                                               */
/* ------------------------------------------------------------------ */

/* The batch's first schema change (a source sends one alone in its
 * batch), or NULL. */
static const dbs_event *schema_event(const dbs_batch *batch)
{
	uint32_t n = dbs_batch_count(batch);
	for (uint32_t i = 0; i < n; i++)
		if (dbs_batch_event(batch, i)->op == DBS_OP_SCHEMA)
			return dbs_batch_event(batch, i);
	return NULL;
}

/* After a batch was written: commit it with its checkpoint row, or leave
 * the transaction open (span_transactions, grouping). `ddl_committed`:
 * the dialect's DDL committed whatever was open, so nothing is left to
 * continue (MySQL). */
static int batch_done(dbs_sqltarget *t, const dbs_batch *batch, int ddl_committed, char *err,
                      size_t errlen)
{
	const dbs_position *last = dbs_batch_last(batch);
	int rc;
	/* Inside a source transaction that goes on, the transaction stays
	 * open; the checkpoint row is written only when it commits (with the
	 * last batch, or by flush): the same row updated once per batch in
	 * one transaction would leave a chain of versions every later update
	 * walks again. Grouped, it stays open after the source transaction's
	 * end too, until the core commits it with flush. With a dead-letter
	 * table every batch commits on its own: a rejected row is found by
	 * applying its batch again row by row, which needs the batch's
	 * transaction to start with the batch. */
	if (ddl_committed || !t->config->span_transactions || t->dlq_qname ||
	    (last->txn_end && !dbs__sqltarget_grouping(t))) {
		if ((rc = commit_batch(t, batch, err, errlen)))
			return rc;
		committed(t, last);
		return 0;
	}
	if (t->ops->hold && (rc = t->ops->hold(t, batch, err, errlen)))
		return rc;
	t->open = 1;
	if (last->txn_end)
		t->open_ended = 1;
	t->open_last = *last;
	t->open_seq = dbs_batch_seq(batch);
	dbs_position_text(t->open_pos, sizeof t->open_pos, batch, last);
	return DBS_APPLY_OPEN;
}

/*
 * A schema change not covered by the checkpoint: the dialect's hook makes
 * the target table match, then its checkpoint row commits as any batch's
 * (PostgreSQL: in the open transaction, DDL being transactional; MySQL:
 * the hook committed what was open, its DDL commits, and the checkpoint
 * row commits at once after it). A restart between the hook and that
 * commit applies the change again, which the hook finds done in the
 * target's catalog.
 */
static int apply_schema(dbs_sqltarget *t, const dbs_batch *batch, const dbs_event *ev,
                        char *err, size_t errlen)
{
	uint32_t n = dbs_batch_count(batch);
	/* The open transaction holds whole source transactions before the
	 * change (grouping). */
	int group = t->open && t->open_ended && dbs__sqltarget_grouping(t);
	char pos[96];
	int rc;

	dbs_position_text(pos, sizeof pos, batch, &ev->pos);
	if (n != 1) {
		dbs_fmt(err, errlen,
		        "%s: a schema change of %s.%s at %s shares its batch with %u other events "
		        "(a source sends it alone); nothing of the batch was applied",
		        t->ops->what, ev->table->schema ? ev->table->schema : "", ev->table->name,
		        pos, n - 1);
		rc = DBS_EINVAL;
		goto fail;
	}
	if (!t->ops->schema) {
		dbs_fmt(err, errlen,
		        "%s cannot apply schema changes: %s.%s changed at %s (%s); the stream stops "
		        "before the change",
		        t->ops->what, ev->table->schema ? ev->table->schema : "", ev->table->name,
		        pos, ev->schema && ev->schema->statement ? ev->schema->statement : "no statement");
		rc = DBS_EINVAL;
		goto fail;
	}
	t->data_error = 0;
	err[0] = '\0';
	if ((rc = t->ops->schema(t, ev, err, errlen))) {
		if (!err[0])
			dbs_fmt(err, errlen, "%s: schema change of %s.%s at %s failed (%s)",
			        t->ops->what, ev->table->schema ? ev->table->schema : "",
			        ev->table->name, pos, dbs_strerror(rc));
		goto fail;
	}
	DBS_FAULT_POINT("sqltarget.schema_applied");
	if ((rc = batch_done(t, batch, t->ops->dialect == DBS_DIALECT_MYSQL, err, errlen)) < 0)
		goto fail;
	return rc;
fail:
	/* Inside a group, the source transactions before the change are
	 * rolled back with it: the core applies them again one commit each
	 * (DBS_APPLY_REPLAY), so that the stream stops with everything before
	 * the change committed. Never row by row: a schema change is no row. */
	t->data_error = group && !t->lost;
	t->ops->rollback(t);
	t->open = 0;
	t->open_ended = 0;
	return rc == DBS_ENOMEM ? rc : DBS_ETARGET;
}

static int apply_once(dbs_sqltarget *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc;
	const dbs_position *last = dbs_batch_last(batch);

	/* A batch wholly at or before the checkpoint was applied already. */
	if (dbs_batch_count(batch) == 0 || dbs_position_cmp(last, &t->checkpoint) <= 0)
		return t->open ? DBS_APPLY_OPEN : 0;
	const dbs_event *change = schema_event(batch);
	if (change)
		return apply_schema(t, batch, change, err, errlen);
	t->data_error = 0;
	if ((rc = t->ops->write(t, batch, err, errlen)) ||
	    (rc = batch_done(t, batch, 0, err, errlen)) < 0)
		goto fail;
	return rc;
fail:
	t->ops->rollback(t);
	t->open = 0;
	t->open_ended = 0;
	return rc == DBS_ENOMEM ? rc : DBS_ETARGET;
}

int dbs__sqltarget_grouping(const dbs_sqltarget *t)
{
	return t->config && t->config->span_transactions && t->config->group_transactions &&
	       !t->dlq_qname;
}

/*
 * The batch failed on a row's data: apply it again in a new transaction,
 * each event under its own savepoint, to find the rows the target
 * rejects. Without a dead-letter table the first one fails the apply,
 * named by its table and key; with one, each goes to that table and the
 * rest of the batch commits with the checkpoint. Only a failing batch
 * comes here, so the normal path pays nothing for it.
 */
static int apply_rowwise(dbs_sqltarget *t, const dbs_batch *batch, char *err, size_t errlen)
{
	const dbs_sqltarget_ops *d = t->ops;
	uint32_t n = dbs_batch_count(batch);
	uint64_t rejected = 0;
	int rc;

	if ((rc = d->rows_begin(t, batch, err, errlen)) ||
	    (rc = d->exec(t, d->begin_sql, "starting the transaction", err, errlen)))
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		void *table;
		if (dbs__sqltarget_skipped(t, ev))
			continue;
		if ((rc = d->row_table(t, ev, &table, err, errlen)) ||
		    (rc = d->exec(t, "SAVEPOINT dbs_row", "savepoint", err, errlen)))
			goto fail;
		t->data_error = 0;
		rc = d->row_apply(t, batch, i, table, err, errlen);
		if (rc == 0) {
			if (d->release_savepoints &&
			    (rc = d->exec(t, "RELEASE SAVEPOINT dbs_row", "savepoint", err, errlen)))
				goto fail;
			continue;
		}
		if (rc == DBS_ENOMEM || t->lost || !t->data_error || !t->dlq_qname)
			goto fail;
		if ((rc = d->exec(t, "ROLLBACK TO SAVEPOINT dbs_row", "savepoint", err, errlen)) ||
		    (rc = dead_letter_write(t, batch, table, ev, t->dead_letters + rejected + 1, err,
		                            errlen)))
			goto fail;
		rejected++;
	}
	if ((rc = commit_batch(t, batch, err, errlen)))
		goto fail;
	t->dead_letters += rejected;
	dbs_report_dead_letters(t->host, rejected);
	committed(t, dbs_batch_last(batch));
	return 0;
fail:
	d->rollback(t);
	return rc == DBS_ENOMEM ? rc : DBS_ETARGET;
}

/* One apply for dbs_retry_lost. */
struct apply_try {
	dbs_sqltarget *t;
	const dbs_batch *batch;
};

static int try_apply(void *ctx, char *err, size_t errlen)
{
	struct apply_try *a = ctx;
	int rc = apply_once(a->t, a->batch, err, errlen);
	if (rc == DBS_ETARGET && a->t->data_error && !a->t->lost)
		rc = apply_rowwise(a->t, a->batch, err, errlen);
	return rc;
}

/*
 * A new session in place of a lost one; the checkpoint is read again
 * because the lost transaction may have committed before the connection
 * dropped.
 */
static int try_restore(void *ctx, char *err, size_t errlen)
{
	dbs_sqltarget *t = ((struct apply_try *)ctx)->t;
	t->lost = 0;
	int rc = t->ops->reconnect(t, err, errlen);
	return rc ? rc : checkpoint_read(t, err, errlen);
}

int dbs__sqltarget_apply(dbs_target *base, const dbs_batch *batch, char *err, size_t errlen)
{
	dbs_sqltarget *t = (dbs_sqltarget *)base;
	if (!t || !batch) {
		dbs_fmt(err, errlen, "%s: apply without a target or batch",
		         t ? t->ops->what : "target");
		return DBS_EINVAL;
	}
	/* The open transaction held earlier batches this target no longer
	 * has: lost with the connection, they can only be read again from
	 * the source, which the core arranges. */
	if (t->open) {
		int rc = apply_once(t, batch, err, errlen);
		if (rc < 0 && t->lost) {
			t->lost = 0;
			rc = DBS_APPLY_LOST;
		} else if (rc == DBS_ETARGET && t->data_error && dbs__sqltarget_grouping(t)) {
			/* The row may belong to an earlier batch of the group, gone
			 * now: the core applies them again one source transaction
			 * at a time, where the row-by-row replay finds it. */
			rc = DBS_APPLY_REPLAY;
		}
		return rc;
	}
	/* When the connection (not the data) failed, reconnect with backoff
	 * and apply again. The retry is exactly-once: the lost transaction
	 * either committed with its checkpoint row (read again, so the batch
	 * is skipped) or rolled back entirely. */
	struct apply_try a = {t, batch};
	return dbs_retry_lost(t->host, t->ops->what, &t->lost, try_apply, try_restore, &a, err,
	                       errlen);
}

int dbs__sqltarget_commit_open(dbs_sqltarget *t, char *err, size_t errlen)
{
	int rc;
	if (!t->open)
		return 0;
	t->open = 0;
	t->open_ended = 0;
	t->data_error = 0;
	if ((rc = t->ops->commit(t, NULL, &t->open_last, t->open_seq, t->open_pos, err, errlen))) {
		t->ops->rollback(t);
		return rc == DBS_ENOMEM ? rc : DBS_ETARGET;
	}
	committed(t, &t->open_last);
	return 0;
}

/* Commit what is open with the checkpoint row of the last batch applied:
 * a group of source transactions, or the stream stops inside one. */
int dbs__sqltarget_flush(dbs_target *base, char *err, size_t errlen)
{
	dbs_sqltarget *t = (dbs_sqltarget *)base;
	if (!t || !t->open)
		return 0;
	int grouped = dbs__sqltarget_grouping(t);
	int rc = dbs__sqltarget_commit_open(t, err, errlen);
	if (rc == DBS_ETARGET && grouped && t->lost) {
		t->lost = 0;
		rc = DBS_APPLY_LOST;
	} else if (rc == DBS_ETARGET && grouped && t->data_error) {
		rc = DBS_APPLY_REPLAY;
	}
	return rc;
}

/* The stream's first checkpoint: where the source starts, committed
 * before any batch (dbs_target_ops.keep_checkpoint). */
int dbs__sqltarget_keep_checkpoint(dbs_target *base, const dbs_position *pos,
                                   dbs_dialect dialect, char *err, size_t errlen)
{
	dbs_sqltarget *t = (dbs_sqltarget *)base;
	char text[96];
	int rc;
	dbs_position_text_of(text, sizeof text, dialect, pos);
	if ((rc = t->ops->exec(t, t->ops->begin_sql, "starting the transaction", err, errlen)))
		return rc;
	if ((rc = t->ops->commit(t, NULL, pos, 0, text, err, errlen))) {
		t->ops->rollback(t);
		return rc;
	}
	committed(t, pos);
	return 0;
}

int dbs__sqltarget_start(dbs_sqltarget *t, dbs_position *checkpoint, char *err, size_t errlen)
{
	int rc;
	dbs_buf lit = DBS_BUF_INIT;
	if (dbs__sql_append_literal(&lit, t->host->stream_id, strlen(t->host->stream_id)) ||
	    !(t->stream_literal = strdup(lit.data))) {
		rc = oom(err, errlen);
		goto done;
	}
	if ((rc = checkpoint_read(t, err, errlen)))
		goto done;
	if (t->settings->dead_letter_table && (rc = dead_letter_prepare(t, err, errlen)))
		goto done;
	*checkpoint = t->checkpoint;
done:
	dbs_buf_free(&lit);
	return rc;
}
