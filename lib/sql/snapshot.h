/*
 * What the SQL sources' snapshots (dbs_snapshot_ops, an initial load) do
 * alike, whatever the dialect: the bookkeeping of a table to copy, its
 * foreign keys onto the tables the load copies, the chunk key's range
 * conditions and ORDER BY, the plan that walks the key for split points,
 * and the batches a reader hands over. The dialect's part comes in as a
 * dbs_dialect (how a name is quoted, how a key range is spelled) and, for
 * the plan, a function that runs a query on the source's session.
 *
 * Functions that build SQL return 0 or non-zero when the buffer cannot
 * grow; those with err fill it on failure and return a DBS_E* code.
 */
#ifndef DBS_SQL_SNAPSHOT_H
#define DBS_SQL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

/* A batch is handed over at this many bytes even when not full. */
#define DBS_SQL_SNAP_BATCH_BYTES (4u << 20)

/* A table the snapshot copies; a source embeds it first in its own. */
typedef struct dbs_sql_snap_table {
	dbs_load_table load; /* what the core sees; load.def is def */
	dbs_table *def;      /* one reference */
	uint32_t *keys;      /* the chunk key's columns, positions in def */
	char *qname;         /* schema.name quoted, for SQL and messages */
	char *select_list;   /* the columns as the SELECT reads them */
	char *from;          /* qname, or (query) AS dbs_q */
	char *query;         /* the custom query; NULL: none */
	dbs_foreign_key *fks;
	uint32_t nfks;
	char **strings; /* what the foreign keys point into */
	size_t nstrings, capstrings;
	const char **refcols; /* every foreign key's referenced columns */
	uint32_t *fkcols;
} dbs_sql_snap_table;

/* Frees what the table holds (not t itself); a half-built one too. */
void dbs__sql_snap_table_free(dbs_sql_snap_table *t);

/* The table of `tables`, an array of `n` structs of `size` bytes that
 * each start with a dbs_sql_snap_table, that the core's `table` is; NULL
 * when none is. */
void *dbs__sql_snap_find(void *tables, size_t size, uint32_t n, const dbs_load_table *table);

/* "out of memory" into err; DBS_ENOMEM. */
int dbs__sql_snap_oom(char *err, size_t errlen);

/* "source.filter.tables[index] (schema.name)", or "table schema.name"
 * when index < 0: where a message says the table comes from. */
void dbs__sql_snap_where(char *buf, size_t size, int index, const char *schema, const char *name);

/* t->qname: schema.name as `dialect` quotes it. 0 or DBS_ENOMEM. */
int dbs__sql_snap_set_qname(dbs_sql_snap_table *t, dbs_dialect dialect, const char *schema,
                            const char *name);

/* t->from: "(t->query) AS dbs_q", or t->qname without a query. 0 or
 * DBS_ENOMEM. */
int dbs__sql_snap_set_from(dbs_sql_snap_table *t);

/* One column of one foreign key, as the source's catalog lists it (all
 * borrowed). */
typedef struct dbs_sql_fk_row {
	const char *name;   /* the constraint */
	const char *column; /* of this table */
	const char *ref_schema, *ref_name, *ref_column;
	const char *on_delete, *on_update; /* "CASCADE", "NO ACTION", ... */
} dbs_sql_fk_row;

/*
 * t->fks and t->load.foreign from `rows`, ordered by constraint, then
 * column position. A key onto a table that `copied` ("schema.name" each)
 * does not list is left out, with a line in the host's log; so is one
 * with a column def does not have (a custom query left it out). Every
 * string is copied into t. 0 or DBS_ENOMEM (what is built is freed with
 * t).
 */
int dbs__sql_snap_foreign_keys(dbs_sql_snap_table *t, const dbs_sql_fk_row *rows, size_t nrows,
                               const char *const *copied, uint32_t ncopied, const dbs_host *host);

/* The condition "key > v" (above) or "key <= v" (!above) over the
 * table's key columns, in parentheses; v holds t->load.nkeys integers. */
int dbs__sql_snap_key_cond(dbs_buf *b, dbs_dialect dialect, const dbs_sql_snap_table *t,
                           const dbs_value *v, int above);

/* " ORDER BY" the key columns. */
int dbs__sql_snap_order_by(dbs_buf *b, dbs_dialect dialect, const dbs_sql_snap_table *t);

/* "SELECT select_list FROM from", the chunk's key range (when the table
 * has a key and the chunk a bound) and the key's order. */
int dbs__sql_snap_chunk_select(dbs_buf *b, dbs_dialect dialect, const dbs_sql_snap_table *t,
                               const dbs_load_chunk *chunk);

/* An integer of a key column from the server's text (`len` bytes): INT,
 * or UINT above INT64_MAX. -1 when it is not one. */
int dbs__sql_snap_parse_int(const char *s, size_t len, dbs_value *v);

/*
 * Runs the SELECT `sql` on the source's session `ctx` and appends the
 * first `n` fields of its first row to `fields`, each followed by a NUL
 * (SQL NULL as an empty field), with *found 1; *found 0 and nothing
 * appended when it has no row. On failure err is "what: the server's
 * message".
 */
typedef int (*dbs_sql_snap_row_fn)(void *ctx, const char *sql, uint32_t n, dbs_buf *fields,
                                   int *found, const char *what, char *err, size_t errlen);

/* How a source's plan runs (borrowed for the call). */
typedef struct dbs_sql_snap_walk {
	dbs_dialect dialect;
	const dbs_host *host; /* a stop ends the walk early */
	dbs_sql_snap_row_fn row;
	void *ctx; /* row's first argument */
} dbs_sql_snap_walk;

/* The split points a snapshot hands out, kept until its next plan; its
 * close frees `v`. */
typedef struct dbs_sql_snap_points {
	dbs_value *v;
	size_t cap;
} dbs_sql_snap_points;

/*
 * Split points about `rows` keys apart, walking the key in order: each
 * point is the key `rows` rows past the last (the server skips them with
 * OFFSET, sending nothing), so chunks hold `rows` rows whatever the keys'
 * spread, and the walk counts the table. *points (in `keep`) holds *n
 * points of t->load.nkeys values; *counted the rows walked and after the
 * last point. No table (NULL) or one without a key: no point, nothing
 * counted.
 */
int dbs__sql_snap_plan(const dbs_sql_snap_walk *w, const dbs_sql_snap_table *t, uint64_t rows,
                       dbs_sql_snap_points *keep, const dbs_value **points, uint32_t *n,
                       uint64_t *counted, char *err, size_t errlen);

/* When `batch` holds batch_rows rows or DBS_SQL_SNAP_BATCH_BYTES, hands
 * it to rows_fn and empties it. 1 when rows_fn asks to stop, else 0. */
int dbs__sql_snap_hand_full(dbs_batch *batch, uint32_t batch_rows, dbs_rows_fn rows_fn,
                            void *rows_data);

#endif
