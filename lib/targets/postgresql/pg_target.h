/*
 * The PostgreSQL target's own declarations, shared by its files:
 * target.c (the session and the dialect part of the SQL-target skeleton,
 * lib/sql/target.h), tables.c (table cache, DDL, value formatting),
 * copy.c (insert runs by COPY) and pipeline.c (updates and deletes as
 * prepared statements in pipeline mode).
 */
#ifndef DBS_TARGETS_POSTGRESQL_PG_TARGET_H
#define DBS_TARGETS_POSTGRESQL_PG_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#include "sql/sqlmap.h"
#include "sql/target.h"

/* Shorter insert runs go through the pipeline as single-row upserts: a
 * COPY costs two round trips, which short interleaved runs (an order, its
 * items, the next order) would pay again and again. */
#define COPY_MIN_ROWS 32u
/* Updates/deletes sent before a pipeline sync: bounds what both sides
 * buffer (the server blocks writing results nobody reads). */
#define PIPELINE_CHUNK 1000u
/* Rows formatted before handing them to libpq during a COPY. */
#define COPY_CHUNK_BYTES (256u * 1024u)
/* Rows of a COPY straight into a table kept in case of a duplicate key
 * (then they go through the staging upsert); past this a new COPY. */
#define COPY_KEEP_BYTES (4u * 1024u * 1024u)
/* Savepoints one transaction may take for direct COPYs. Each is a
 * subtransaction with its own xid; past 64 of them the server's subxid
 * cache overflows and every other session's snapshots slow down. */
#define SAVEPOINTS_PER_TXN 32u
/* Insert runs into a table that just met a duplicate key go through the
 * upsert for this many runs before COPY straight into it is tried again. */
#define UPSERT_RUNS_AFTER_DUPLICATE 64u
/* Advisory lock key serialising table creation among writers
 * ('dbs' 'ctbl' as ASCII). */
#define CREATE_LOCK_KEY "7233558787207724"

typedef struct pg_stmt {
	uint8_t op;        /* dbs_op */
	uint8_t state;     /* STMT_* */
	uint32_t nparams;
	uint64_t *masks;   /* set mask then where mask, `words` each */
	char name[40];
	/* Updates and deletes of this shape by key, many rows at once
	 * (grouped.c): COPY of their columns into the staging table, and the
	 * statement that applies them; NULL until first needed. */
	char *set_copy_sql, *set_sql;
} pg_stmt;

enum { STMT_NONE = 0, STMT_SENT, STMT_READY };

/* What this session knows about one source table definition. */
typedef struct pg_table {
	char *schema, *name;
	uint32_t version;
	uint32_t ncolumns;
	uint64_t shape;          /* hash of column names and types */
	const dbs_table *last;   /* last definition seen; we hold a reference so its
	                            address cannot be reused by another table */
	dbs_sqltype *types;      /* per column, parsed from `last` (they point into
	                            it); NULL unless the source is another dialect */
	uint32_t id;             /* names this table's staging table and statements */
	uint32_t *keys;          /* column indexes of the primary key */
	uint32_t nkeys;
	size_t words;            /* uint64 words of a column mask */
	char *qname;             /* "schema"."name" */
	char *copy_sql, *upsert_sql;   /* staging COPY and its upsert */
	char *conflict_sql;            /* " ON CONFLICT (pk) DO …", or "" without a key */
	char *copy_direct_sql;         /* COPY straight into the table */
	char *copy_savepoint_sql;      /* the same under SAVEPOINT dbs_copy */
	uint32_t upsert_runs;          /* runs left on the upsert path after a duplicate */
	uint64_t ready_txn;      /* apply number that created the table; 0 = committed */
	int ready;
	uint64_t stage_txn;      /* likewise for the staging table */
	int stage_ready;
	pg_stmt *stmts;
	size_t nstmts, capstmts;
	uint32_t next_stmt;
} pg_table;

/* One pipelined command whose result is still to be read. */
typedef struct pg_pending {
	pg_table *table; /* NULL for a control command without one */
	size_t stmt;     /* index in table->stmts (the array may move as it grows) */
	uint32_t event;  /* batch index of the event, or PENDING_NO_EVENT */
	uint8_t kind;    /* PENDING_* */
	uint64_t apply_no; /* the apply that sent it: only its batch names events */
	const char *what;  /* a control command: how a failure names it */
	uint32_t rows;     /* PENDING_SET: the rows it applies */
} pg_pending;

enum { PENDING_EXEC = 0, PENDING_PREPARE, PENDING_CONTROL, PENDING_SET };
#define PENDING_NO_EVENT UINT32_MAX

/* A grouped transaction (grouped.c): what is sent, what waits. */
typedef struct pg_grouped {
	int active;        /* the open transaction is grouped */
	int begun;         /* BEGIN sent */
	int pipeline;      /* in pipeline mode */
	size_t npending;   /* pipelined commands whose results are unread */
	pg_table *run;     /* the table of the run gathering rows, or NULL */
	size_t run_stmt;   /* its single-row statement (index in run->stmts) */
	uint32_t run_rows;
	uint64_t *run_keys;/* hashes of the keys of a run of updates or deletes */
	size_t cap_run_keys;
	int copying;       /* the run is being COPYed: the session is in COPY IN */
	int staged;        /* into the staging table, upserted at the COPY's end */
	int keep;          /* straight into the table: its rows are kept */
	uint32_t copy_rows;/* rows of the COPY */
	dbs_buf kept;      /* COPY text of the COPY (kept, or not yet sent) */
	size_t sent;       /* bytes of kept handed to libpq */
	dbs_buf vals;      /* rows not sent yet: parameter text, NUL-terminated */
	size_t *off;       /* per value: its offset in vals, SIZE_MAX for NULL */
	size_t noff, cap_off;
} pg_grouped;


typedef struct pg_target {
	dbs_sqltarget common; /* first: the skeleton's state, and the dbs_target */
	PGconn *conn;
	dbs_zero_date_policy zero_dates; /* target.options.zeroDates */
	pg_table **tables;
	size_t ntables, captables;
	pg_table *last_table;
	uint32_t next_table_id;
	uint64_t txn_no;      /* counts transactions, so a rollback can undo what it created */
	dbs_buf buf;          /* row text and parameters */
	dbs_buf sql;          /* statements being built */
	dbs_buf errbuf;       /* key text for error messages */
	size_t *param_off;
	const char **params;
	size_t cap_params;
	uint64_t *mask;       /* scratch masks (set then where) */
	size_t cap_mask;
	pg_pending *pending;
	size_t cap_pending;
	uint64_t missed[2];   /* updates, deletes of this transaction that found no row */
	uint32_t savepoints;  /* taken in this transaction */
	uint64_t apply_no;    /* counts writes: pending results name events of the last only */
	pg_grouped g;
	/* Tables made now get no secondary index: an initial load makes them
	 * once the rows are in (load.c). */
	int defer_indexes;
} pg_target;

/* The plugin (target.c); the built-in list names it. */
extern const dbs_target_ops dbs__postgresql_target_ops;

/* ---- target.c ---- */

/*
 * "<where>: <database message>", on one line. The message is the
 * server's error when `res` carries one, else libpq's connection message.
 * Sets common.lost, common.data_error, common.err_code and err_msg.
 */
void dbs__pgt_error(pg_target *t, const PGresult *res, char *err, size_t errlen,
                    const char *where);
/* Copy `msg` into err from `at` on, line breaks folded. */
void dbs__pgt_oneline(char *err, size_t errlen, size_t at, const char *msg);
/* Run statements that return no rows; fills err on failure. */
int dbs__pgt_exec(pg_target *t, const char *sql, const char *where, char *err, size_t errlen);

/* A session of its own with the settings of `like` (same configuration
 * and host), for a writer of an initial load: no checkpoint is read. */
int dbs__pgt_session_new(pg_target **out, const pg_target *like, char *err, size_t errlen);
void dbs__pgt_session_free(pg_target *t);
/* A new transaction (rolling back what a failure left open), BEGIN unless
 * `begin` is 0. */
int dbs__pgt_txn_start(pg_target *t, int begin, char *err, size_t errlen);

/* ---- tables.c ---- */

/* The cache entry for `def`: same schema, name, version and shape. */
int dbs__pgt_table_lookup(pg_target *t, const dbs_table *def, pg_table **out, char *err,
                          size_t errlen);
/* The table exists on the target (created here unless noCreateTables). */
int dbs__pgt_table_ensure(pg_target *t, pg_table *tb, const dbs_table *def, char *err,
                          size_t errlen);
/* The session's staging table of `tb`. */
int dbs__pgt_stage_ensure(pg_target *t, pg_table *tb, const dbs_table *def, char *err,
                          size_t errlen);
void dbs__pgt_table_free(pg_table *tb);
/* CREATE INDEX of one secondary index, in the open transaction; an index
 * the server refuses is a warning. */
int dbs__pgt_index_create(pg_target *t, pg_table *tb, const dbs_table *def, const dbs_index *ix,
                          char *err, size_t errlen);
/* The target type of column `i` of `def`, as CREATE TABLE makes it
 * (a MySQL ENUM's CHECK clause included), appended to s. */
int dbs__pgt_column_type(dbs_buf *s, const dbs_table *def, uint32_t i, char *err,
                         size_t errlen);
/* The target name of index `ix_name` of table `table` of a `dialect`
 * source, quoted. */
int dbs__pgt_index_name(dbs_buf *s, dbs_dialect dialect, const char *table, const char *ix_name);
/* Drop the cache entries of table schema.name (its definition changed). */
void dbs__pgt_tables_forget(pg_target *t, const char *schema, const char *name);
/* target.options.tables' entry of `tb`, or NULL. */
const dbs_sql_table_option *dbs__pgt_table_option(const pg_target *t, const pg_table *tb);
/* After a rollback, forget what the rolled-back transaction created;
 * after a commit, keep it. */
void dbs__pgt_tables_rollback(pg_target *t);
void dbs__pgt_tables_committed(pg_target *t);
/* Whether `qname` (quoted, possibly qualified) and `schema` exist. */
int dbs__pgt_relation_exists(pg_target *t, const char *qname, const char *schema,
                             int *table_exists, int *schema_exists, const char *where, char *err,
                             size_t errlen);
/* "schema.t" into buf. */
const char *dbs__pgt_table_label(const pg_table *tb, char *buf, size_t size);
/* "schema.t (id=42)": the event's table and key, for messages. */
const char *dbs__pgt_event_label(pg_target *t, const pg_table *tb, const dbs_event *ev);
/*
 * Append value `v` of column `c` of `tb` to t->buf as `flags` says (COPY
 * text or a parameter's plain text). *is_null is set when the value is
 * NULL (COPY writes \N); a parameter then appends nothing. A value the
 * target cannot hold fails with DBS_ETARGET and the event named in err.
 */
int dbs__pgt_put_value(pg_target *t, const pg_table *tb, const dbs_event *ev, uint32_t c,
                       const dbs_value *v, unsigned flags, int *is_null, char *err,
                       size_t errlen);

/* ---- grouped.c ---- */

/* The batch's events in a grouped transaction: sent without waiting for
 * the server, or kept for the next batch. */
int dbs__pgt_write_grouped(pg_target *t, const dbs_batch *batch, char *err, size_t errlen);
/* What waits, then the checkpoint upsert for `last` and COMMIT, in one
 * round trip. */
int dbs__pgt_commit_grouped(pg_target *t, const dbs_position *last, uint64_t seq,
                            const char *pos, char *err, size_t errlen);
/* Abandon what is sent or waits (COPY, pipeline) so the session can roll
 * back; `lost`: the session is gone, only forget. */
void dbs__pgt_abort_grouped(pg_target *t, int lost);
/* A grouped transaction out of pipeline mode, what it held sent and read,
 * begun: for DDL inside it (a schema change). */
int dbs__pgt_grouped_plain(pg_target *t, char *err, size_t errlen);

/* ---- schema.c ---- */

/* The dialect's schema hook (lib/sql/target.h): a DBS_OP_SCHEMA event
 * applied in the open transaction, or a new one. */
int dbs__pgt_schema(dbs_sqltarget *common, const dbs_event *ev, char *err, size_t errlen);
/* ---- load.c ---- */

/* The target's load capability (dbs_target_ops.load). */
extern const dbs_load_ops dbs__pgt_load_ops;
/* Its calls on the main session (dbs_sqltarget_ops.load). */
extern const struct dbs_sqlload_ops dbs__pgt_load_main;

/* ---- copy.c ---- */

/* Send what t->buf holds of a COPY. */
int dbs__pgt_copy_send(pg_target *t, char *err, size_t errlen);

/* Apply the run of inserts into `tb` that starts at *index by COPY, and
 * move *index past it. */
int dbs__pgt_insert_run(pg_target *t, const dbs_batch *batch, uint32_t *index, pg_table *tb,
                        char *err, size_t errlen);

/* ---- pipeline.c ---- */

/* Events from `first` on (at most `limit`, skipped ones not counted) that
 * insert into the same table as the event at `first`, an insert. */
uint32_t dbs__pgt_insert_run_length(pg_target *t, const dbs_batch *batch, uint32_t first,
                                    uint32_t limit);
/* Apply the events from *index on through the pipeline, up to a long
 * insert run or a table not created yet; move *index past them. */
int dbs__pgt_change_run(pg_target *t, const dbs_batch *batch, uint32_t *index, char *err,
                        size_t errlen);
/* After PQpipelineSync: read and drop results up to the sync's (or until
 * the connection is gone). */
void dbs__pgt_pipeline_drain(pg_target *t);
/* The statement for an event's shape (op and columns), added on first use. */
int dbs__pgt_stmt_for_event(pg_target *t, pg_table *tb, const dbs_event *ev, pg_stmt **out,
                            char *err, size_t errlen);
/* The statement's SQL into t->sql. */
int dbs__pgt_stmt_sql(pg_target *t, pg_table *tb, const dbs_table *def, pg_stmt *st);
/* The event's parameters for the statement into t->buf and t->params. */
int dbs__pgt_event_params(pg_target *t, pg_table *tb, const dbs_event *ev, const pg_stmt *st,
                          char *err, size_t errlen);
/* Read the results of `npending` commands of t->pending and the sync. */
int dbs__pgt_pipeline_collect(pg_target *t, const dbs_batch *batch, size_t npending, char *err,
                              size_t errlen);
/* One event as one statement, without the pipeline (row-by-row replay). */
int dbs__pgt_apply_row(pg_target *t, pg_table *tb, const dbs_event *ev, char *err,
                       size_t errlen);

/* ---- column masks and images ---- */

static inline void mask_set(uint64_t *m, uint32_t i)
{
	m[i / 64] |= 1ull << (i % 64);
}

static inline int mask_has(const uint64_t *m, uint32_t i)
{
	return (m[i / 64] >> (i % 64)) & 1;
}

static inline int mask_empty(const uint64_t *m, size_t words)
{
	for (size_t i = 0; i < words; i++)
		if (m[i])
			return 0;
	return 1;
}

static inline int is_missing(const dbs_value *v)
{
	return v->kind == DBS_VALUE_NULL || v->kind == DBS_VALUE_UNCHANGED;
}

/* Column i of the before image; an update whose source sent no old row
 * (PostgreSQL, key unchanged) has before == NULL: every column missing. */
static inline const dbs_value *before_value(const dbs_event *ev, uint32_t i)
{
	static const dbs_value missing = {.kind = DBS_VALUE_NULL};
	return ev->before ? &ev->before[i] : &missing;
}

#endif
