/*
 * The SQL-target skeleton: what every SQL target does the same way around
 * the statements of its dialect.
 *
 *   apply      a batch in one database transaction with the stream's
 *              checkpoint row, skipping what the checkpoint covers; with
 *              span_transactions the batches of one source transaction
 *              share a transaction left open between them
 *   retry      a lost connection: reconnect with backoff, read the
 *              checkpoint again, apply again (exactly once: the lost
 *              transaction committed with its checkpoint row or not at all)
 *   replay     a batch that failed on a row's data, again one row at a
 *              time under savepoints, to find the rows the database rejects
 *   dead letters  those rows written to target.options.deadLetterTable,
 *              committed with the checkpoint, instead of failing the stream
 *   checkpoint the table's one definition (checkpoint.h), read at open and
 *              after a reconnect
 *
 * A dialect (lib/targets/postgresql, lib/targets/mysql) embeds
 * dbs_sqltarget as the first member of its target, fills a
 * dbs_sqltarget_ops with what only it knows (how to run a statement, how
 * to write a batch's events, how to reconnect), and points its vtable's
 * apply and flush at dbs__sqltarget_apply and dbs__sqltarget_flush.
 *
 * Every function runs on the target thread.
 */
#ifndef DBS_SQL_TARGET_H
#define DBS_SQL_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#include "sql/settings.h"

typedef struct dbs_sqltarget dbs_sqltarget;

/* The dialect's part. Hooks fill err on failure and return a DBS_E* code;
 * a hook that talks to the server sets t->lost when the connection (not
 * the data) failed, and t->data_error with t->err_code and t->err_msg
 * when a row's values did. */
typedef struct dbs_sqltarget_ops {
	const char *what;     /* "postgresql target": how messages name the target */
	dbs_dialect dialect;
	const char *begin_sql; /* "BEGIN", "START TRANSACTION" */
	/* RELEASE each row's savepoint in a replay (MySQL replaces a
	 * savepoint of the same name: no round trip needed). */
	int release_savepoints;

	/* Statements that return no rows; `where` prefixes the message. */
	int (*exec)(dbs_sqltarget *t, const char *sql, const char *where, char *err, size_t errlen);
	/* The first row of a query: up to `n` columns as text into fields[]
	 * (NULL for SQL NULL; the text lives in `store`), *found 0 when the
	 * query returned no row. */
	int (*select_row)(dbs_sqltarget *t, const char *sql, const char *where, dbs_buf *store,
	                  const char **fields, unsigned n, int *found, char *err, size_t errlen);

	/* ---- a batch ---- */
	/* The batch's events after the checkpoint, in the transaction that
	 * t->open continues, or in a new one. May leave statements buffered
	 * for commit or hold to send. */
	int (*write)(dbs_sqltarget *t, const dbs_batch *batch, char *err, size_t errlen);
	/* Upsert the checkpoint row for `last` (hub sequence `seq`, printed as
	 * `pos`) and COMMIT. `batch` is the batch just written (NULL when
	 * committing what is open), to name a failing statement. */
	int (*commit)(dbs_sqltarget *t, const dbs_batch *batch, const dbs_position *last,
	              uint64_t seq, const char *pos, char *err, size_t errlen);
	/* The transaction stays open after `batch`: send what write buffered.
	 * NULL when write buffers nothing. */
	int (*hold)(dbs_sqltarget *t, const dbs_batch *batch, char *err, size_t errlen);
	/* After a failure: roll back what is open, forget what it created. */
	void (*rollback)(dbs_sqltarget *t);
	/* After a commit: what the transaction created is there for good.
	 * May be NULL. */
	void (*committed)(dbs_sqltarget *t);

	/* ---- a batch again, row by row ---- */
	/* Before the replay's transaction starts (MySQL creates tables here:
	 * its DDL would commit the transaction). */
	int (*rows_begin)(dbs_sqltarget *t, const dbs_batch *batch, char *err, size_t errlen);
	/* The dialect's table of an event, existing in the database: called
	 * before the row's savepoint, so DDL outlives a rejected row. */
	int (*row_table)(dbs_sqltarget *t, const dbs_event *ev, void **table, char *err,
	                 size_t errlen);
	/* Event `i` of `batch` alone. */
	int (*row_apply)(dbs_sqltarget *t, const dbs_batch *batch, uint32_t i, void *table,
	                 char *err, size_t errlen);
	/* How messages name an event: its table and key ("s.t (id=42)");
	 * valid until the next call. */
	const char *(*row_label)(dbs_sqltarget *t, void *table, const dbs_event *ev);

	/* ---- schema changes ---- */
	/* A DBS_OP_SCHEMA event not covered by the checkpoint (the source
	 * sends it alone in its source transaction): make the target table
	 * match ev->table as ev->schema describes, through the dialect's type
	 * mapping. Idempotent: what the catalog shows already done is not done
	 * again (a restart between the change and its checkpoint applies it
	 * again), and an unsafe change is no failure when the target already
	 * has the definition. A dialect whose DDL commits (MySQL) commits what
	 * is open first (dbs__sqltarget_commit_open); the skeleton then
	 * commits the checkpoint row. NULL: the dialect cannot, and the
	 * stream fails at the change. */
	int (*schema)(dbs_sqltarget *t, const dbs_event *ev, char *err, size_t errlen);

	/* ---- sessions ---- */
	/* A new session in place of a lost one, with the settings of the
	 * first (the skeleton reads the checkpoint again). */
	int (*reconnect)(dbs_sqltarget *t, char *err, size_t errlen);
	/* Quote options.deadLetterTable `name` into `qname` and create the
	 * table when missing with dbs__sqltarget_dead_letter_ddl. */
	int (*dead_letter_table)(dbs_sqltarget *t, const char *name, dbs_buf *qname, char *err,
	                         size_t errlen);

	/* ---- the initial load ---- */
	/* The load's calls on the main session, done once each (sql/load.h:
	 * dbs__sqlload_* makes them again after a lost connection). NULL
	 * when the dialect does not load. */
	const struct dbs_sqlload_ops *load;
} dbs_sqltarget_ops;

struct dbs_sqltarget {
	dbs_target base; /* first: the core holds a dbs_target * */
	const dbs_sqltarget_ops *ops;
	const dbs_target_config *config;
	const dbs_sql_target_settings *settings; /* target.settings and target.options */
	const dbs_host *host;
	dbs_position checkpoint; /* everything up to here is committed */
	char *stream_literal;    /* host->stream_id as a SQL string literal */
	/* The last failure was the connection, not the data. */
	int lost;
	/* The last failure was a row's data (constraint, value): the batch
	 * is applied again row by row to find it. */
	int data_error;
	char err_code[16];            /* its SQLSTATE or error number, or "value" */
	char err_msg[DBS_ERRMSG_MAX]; /* the database's message alone */
	char *dlq_qname;              /* options.deadLetterTable quoted; NULL: none */
	uint64_t dead_letters;        /* rows written to it so far */
	/* With config->span_transactions: a transaction left open by the
	 * earlier batches of a source transaction, and where they end. */
	int open;
	/* With config->group_transactions: the open transaction holds a batch
	 * that ended its source transaction (the core groups them). */
	int open_ended;
	dbs_position open_last;
	uint64_t open_seq;  /* hub sequence of the last batch applied */
	char open_pos[96];  /* open_last as the checkpoint row spells it */
	/* private to the skeleton */
	dbs_buf sql_, json_;
	uint32_t *keys_;
	size_t cap_keys_;
};

/* Fill the skeleton's part of a new target (zeroed by the caller). */
void dbs__sqltarget_init(dbs_sqltarget *t, const dbs_target_ops *vtable,
                         const dbs_sqltarget_ops *ops, const dbs_target_config *config,
                         const dbs_host *host);

/*
 * The last step of the dialect's open, once its session is ready and
 * the checkpoint table exists: read this stream's checkpoint into
 * *checkpoint and prepare the dead-letter table.
 */
int dbs__sqltarget_start(dbs_sqltarget *t, dbs_position *checkpoint, char *err, size_t errlen);

/* Release the skeleton's part (the dialect frees its own, then the target). */
void dbs__sqltarget_release(dbs_sqltarget *t);

/* The vtable's apply and flush (dbs_target_ops). */
int dbs__sqltarget_apply(dbs_target *base, const dbs_batch *batch, char *err, size_t errlen);
int dbs__sqltarget_flush(dbs_target *base, char *err, size_t errlen);
/* Commit what is open now, for a dialect that must (MySQL DDL commits):
 * 0, or a negative code with err filled and everything rolled back. */
int dbs__sqltarget_commit_open(dbs_sqltarget *t, char *err, size_t errlen);
/* Nonzero while the core groups source transactions into one commit
 * (dbs_target_config.group_transactions, which a dead-letter table
 * turns off: its replay needs each batch in a transaction of its own). */
int dbs__sqltarget_grouping(const dbs_sqltarget *t);
/* The vtable's keep_checkpoint: commit a checkpoint row at the source's
 * start with no data. */
int dbs__sqltarget_keep_checkpoint(dbs_target *base, const dbs_position *pos,
                                   dbs_dialect dialect, char *err, size_t errlen);

/* Nonzero when the checkpoint already covers the event. */
static inline int dbs__sqltarget_skipped(const dbs_sqltarget *t, const dbs_event *ev)
{
	return dbs_position_cmp(&ev->pos, &t->checkpoint) <= 0;
}

/* CREATE TABLE IF NOT EXISTS of the dead-letter table `qname`: one row
 * per rejected event, keyed by the event's place in the source so that it
 * is written once (docs/rejected-rows.md). */
int dbs__sqltarget_dead_letter_ddl(dbs_buf *out, dbs_dialect dialect, const char *qname);

#endif
