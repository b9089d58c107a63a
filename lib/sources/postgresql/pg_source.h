/*
 * The PostgreSQL source's own declarations, shared by its files:
 * source.c (the plugin's methods: slot, publication, replication
 * connection, keepalive, reconnect), relations.c (the relation cache and
 * the catalog reads behind it), decode.c (pgoutput messages into batches,
 * streamed transactions, status updates).
 */
#ifndef DBS_SOURCES_POSTGRESQL_PG_SOURCE_H
#define DBS_SOURCES_POSTGRESQL_PG_SOURCE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#include "sources/postgresql/pgoutput.h"
#include "sql/filter.h"

#define POLL_MS 100
/* How long a busy read loop lets messages gather (source.c, read_stream). */
#define GATHER_NS 500000L
/* Bytes of one streamed transaction held in memory before it spills. */
#define STREAM_MEMORY_MAX ((size_t)4 << 20)
/* Room for one identifier (PostgreSQL truncates them to 63 bytes). */
#define NAMEDATALEN_MAX 128
#define STATUS_INTERVAL_NS INT64_C(1000000000)
/* A lost replication connection is retried with exponential backoff from
 * the first delay, doubling up to the longest, until the give-up time
 * (reconnect.giveUpAfter) has passed since the loss. */
/* While emit() blocks on a full hub, the keepalive thread sends a status
 * update this often, well inside the default wal_sender_timeout (60 s),
 * so the walsender does not drop a connection that is only waiting; a
 * server with a shorter timeout gets one every third of it. */
#define KEEPALIVE_NS INT64_C(10000000000)
#define KEEPALIVE_MIN_NS INT64_C(200000000)

/* Output settings of the walsender session, so values arrive in one
 * canonical text form whatever the server's configuration. */
#define SESSION_OPTIONS                                                                            \
	"-c bytea_output=hex -c DateStyle=ISO -c IntervalStyle=postgres "                          \
	"-c extra_float_digits=3 -c TimeZone=UTC"

typedef struct rel_entry {
	uint32_t relid;
	dbs_table *table;    /* one reference held by the cache */
	unsigned operations; /* allowed ops; 0: filtered out */
	/* Each column's attnum in pg_attribute when it was last seen (0:
	 * unknown), which a rename keeps: how a renamed column is told from
	 * a dropped one and a new one (schema.c). */
	int32_t *attnums;
	/* The definition stored before a restart (history.c), not one of
	 * this session's Relation messages. */
	int restored;
} rel_entry;

/* A definition a schema event replaced before the event left (it waits
 * for the next event): put back when decoding starts again after a lost
 * connection, since the server then sends that Relation again and it
 * must differ again. */
typedef struct rel_undo {
	uint32_t relid;
	dbs_table *table; /* one reference */
	int32_t *attnums;
	unsigned operations;
} rel_undo;

/* Buffered messages of one streamed transaction: records of
 * [u32 subxid][u32 len][len bytes], subxid 0 for records an aborted
 * subtransaction must not drop (Relation, Type). The older records are in
 * `spill` (NULL until the memory part first overflowed), the newer ones
 * in `buf`. */
typedef struct stream_txn {
	uint32_t xid;
	dbs_buf mem;
	FILE *spill;
	uint64_t spilled; /* bytes in spill */
} stream_txn;

typedef struct pg_source {
	dbs_source base; /* first */
	const dbs_host *host;
	PGconn *repl, *sql;
	uint32_t bundle;
	dbs_sql_filter filter;

	rel_entry *rels;
	size_t nrels, rels_cap;
	rel_undo *undo;
	size_t nundo, undo_cap;
	/* Each published table's columns (relid, attnum, name) when the
	 * source opened, where the stream starts: a relation first seen
	 * later may have had a column renamed meanwhile (relations.c). */
	struct rel_baseline *baseline;
	size_t nbaseline;
	/* Definitions at the position the source opened at (history.c). */
	struct rel_history *history;
	size_t nhistory, history_cap;
	int history_off; /* the source database keeps none */

	dbs_batch *batch; /* events not yet emitted (one transaction's) */
	dbs_emit_fn emit;
	void *emit_data;
	int stop; /* emit returned 1 */

	/* The transaction being decoded. */
	int in_txn;
	uint64_t commit_lsn;
	int64_t commit_time_us;
	uint32_t xid;
	uint32_t nevents;  /* events of the transaction so far */
	/* Event numbers (decode.c): change messages of the transaction so
	 * far, and schema changes found since the last one. */
	uint32_t nchanges, nsub;

	int in_stream;
	uint32_t stream_xid;
	stream_txn *streams;
	size_t nstreams, streams_cap;
	dbs_buf spill_rec; /* one spilled record read back */

	/* Written by ack() on the target thread, read by run(). */
	_Atomic uint64_t acked;
	uint64_t emitted_resume; /* resume LSN of the last emitted txn end */
	uint64_t idle_lsn;       /* confirmable when everything emitted is acked */
	uint64_t sent_flush;     /* guarded by repl_lock */
	int64_t last_status_ns;  /* guarded by repl_lock */
	/* The server's WAL end as the stream reports it (XLogData and
	 * keepalive headers), for the slot lag; run thread. */
	uint64_t wal_end;

	/* For reconnecting: borrowed from the configuration, which outlives
	 * the source. */
	const dbs_source_config *config;
	const char *slot, *pub;

	/* Keepalive while emit() blocks. repl_lock guards every libpq call on
	 * `repl` and the fields marked so; the run thread never holds it
	 * across emit(). */
	pthread_mutex_t repl_lock;
	pthread_cond_t ka_cond;        /* with repl_lock: wakes the keepalive thread to quit */
	int ka_quit;                   /* guarded by repl_lock */
	_Atomic int64_t emit_since_ns; /* 0 when not inside emit() */
	int sync_ready;                /* the mutex and condition exist */
	int64_t keepalive_ns;          /* status update period while inside emit() */

	/* With initialLoad: START_REPLICATION waits for run (the load runs
	 * first), from `start_lsn`. A slot this open created exported its
	 * snapshot: the load's readers import it while `repl` stays idle. */
	int deferred;
	uint64_t start_lsn;
	char *export_name;   /* NULL: no snapshot exported */
	uint64_t export_lsn; /* the slot's consistent point */
} pg_source;

/* The plugin (source.c); the built-in list names it. */
extern const dbs_source_ops dbs__postgresql_source_ops;
/* Its snapshot capability (snapshot.c). */
extern const dbs_snapshot_ops dbs__postgresql_snapshot_ops;

/* ---- source.c ---- */

/* "<what>: <libpq's message>" without its trailing newline. */
void dbs__pgs_pq_err(char *err, size_t errlen, const char *what, PGconn *conn);

/* ---- source_slot.c ---- */

/* PQexec that keeps the result in *out (when out) only if its status is
 * `want`; nonzero then. */
int dbs__pgs_exec_ok(PGconn *c, const char *sql, ExecStatusType want, PGresult **out);
/* A session with the configuration's connection and TLS files; a
 * replication one (replication=database, canonical output settings) when
 * `replication`. NULL only when libpq could not allocate. */
PGconn *dbs__pgs_connect(const dbs_source_config *config, int replication);
/* "X/Y" of an LSN as a number; 0 when malformed. */
uint64_t dbs__pgs_lsn_parse(const char *text);
/* The publication `pub`: used as it is when it exists, else created for
 * the filter's tables (or all tables). */
int dbs__pgs_setup_publication(pg_source *s, const char *pub, char *err, size_t errlen);
/* The pgoutput slot `slot` of this database; DBS_ENOTFOUND when it is
 * missing and the stream resumes from `from` (`resuming`). */
int dbs__pgs_setup_slot(pg_source *s, const char *slot, int resuming, uint64_t from, char *err,
                        size_t errlen);
/* START_REPLICATION on s->repl from `lsn`, which is left non-blocking. */
int dbs__pgs_start_replication(pg_source *s, const char *slot, const char *pub, uint64_t lsn,
                               char *err, size_t errlen);
/* The slot of a stream that copies the rows first, exporting its snapshot
 * when it is made (s->repl, s->export_name, s->export_lsn). */
int dbs__pgs_export_slot(pg_source *s, const char *slot, char *err, size_t errlen);
/* Wait a while for a slot a killed run's walsender still holds; nonzero
 * when the stream is stopping. */
int dbs__pgs_wait_slot_free(pg_source *s, const char *slot);

/* ---- relations.c ---- */

/* The cached relation `relid`, or NULL. */
rel_entry *dbs__pgs_rel_find(pg_source *s, uint32_t relid);
/* The secondary indexes of relation `relid` (its OID as text) into
 * `table`, not shared yet, as targets can make them again. */
int dbs__pgs_rel_indexes(pg_source *s, dbs_table *table, const char *relid, char *err,
                         size_t errlen);
/* Forget the definitions kept for rel_undo_apply (the schema events
 * that replaced them left), or put them back (decoding starts again). */
void dbs__pgs_undo_clear(pg_source *s);
void dbs__pgs_undo_apply(pg_source *s);
/* Read the published tables' columns as they are now (s->baseline). */
int dbs__pgs_baseline_load(pg_source *s, char *err, size_t errlen);
void dbs__pgs_baseline_free(pg_source *s);
/* A Relation message: the table it defines, with its key and indexes
 * from the catalog. */
int dbs__pgs_rel_update(pg_source *s, const dbs_pgo_msg *m, char *err, size_t errlen);
/* Append `str` (`n` bytes) to `b`; with `quote` as an element of a text[]
 * literal: "..." with " and \ escaped. */
int dbs__pgs_arr_put(dbs_buf *b, const char *str, size_t n, int quote);

/* ---- history.c ---- */

/* Ready the source database's table of definitions and read those in
 * force at `resume` (NULL: a new stream, forget this slot's). 0, or
 * DBS_ENOMEM; a database that keeps none is a warning. */
int dbs__pgs_history_open(pg_source *s, const dbs_position *resume, char *err, size_t errlen);
/* The definition of `relid` read at open, handed over (1), or 0. */
int dbs__pgs_history_take(pg_source *s, uint32_t relid, dbs_table **table, int32_t **attnums);
/* A schema event at `at` replaced `old` by `now`: keep both. */
void dbs__pgs_history_save(pg_source *s, uint32_t relid, const dbs_table *old,
                           const int32_t *old_att, const dbs_table *now, const int32_t *now_att,
                           const dbs_position *at);
/* A captured relation first seen by this stream: keep its definition as
 * the one in force from the start, unless one is kept already. */
void dbs__pgs_history_first(pg_source *s, uint32_t relid, const dbs_table *t,
                            const int32_t *attnums);
void dbs__pgs_history_free(pg_source *s);

/* ---- schema.c ---- */

/* What rows already in the table hold in a column added to it. */
typedef struct dbs_pgs_default {
	uint8_t kind;     /* dbs_schema_default */
	const char *text; /* in the batch's arena */
} dbs_pgs_default;

/* Two definitions of one relation and what the catalog tells of them. */
typedef struct dbs_pgs_diff_in {
	const dbs_table *old, *new;
	const int32_t *old_att; /* old->ncolumns attnums when last seen; 0 unknown */
	const int32_t *new_att; /* new->ncolumns attnums now; 0 no such column now */
	const dbs_pgs_default *defaults; /* new->ncolumns, for added columns; may be NULL */
	/* Whether attnum `att` of the relation is a dropped column now: 1
	 * dropped, 0 a live column, negative when unknown. */
	int (*dropped)(void *ctx, int32_t att);
	void *ctx;
} dbs_pgs_diff_in;

/*
 * The changes from in->old to in->new as one schema event in the batch's
 * arena (*out NULL when nothing a target must do changed). A column that
 * may have been renamed but cannot be shown to be (see schema.c) makes
 * the event one DBS_SCHEMA_OTHER change, unsafe. 0 or DBS_ENOMEM.
 */
int dbs__pgs_schema_diff(dbs_batch *b, const dbs_pgs_diff_in *in, dbs_schema_event **out);
/* Whether values of type (from, from_mod) fit type (to, to_mod) unchanged. */
int dbs__pgs_type_widens(uint32_t from, int32_t from_mod, uint32_t to, int32_t to_mod);
/* The default of an added column from the catalog: `missing`, the value
 * rows present at the ADD hold (attmissingval), else the default
 * expression `expr` (pg_get_expr); strings copied into the arena. */
int dbs__pgs_default_of(dbs_batch *b, const char *missing, const char *expr, uint8_t *kind,
                        const char **text);

/* ---- decode.c ---- */

/* One pgoutput message (in_stream: from a streamed transaction's
 * buffer, 2: replayed at its commit). */
int dbs__pgs_handle(pg_source *s, const uint8_t *buf, size_t len, int in_stream, char *err,
                    size_t errlen);
/* A schema event (its changes `se` in the arena of `b`, a batch of its
 * own, which the source takes in every case) placed after what the
 * transaction holds so far; it leaves when the next event comes. */
int dbs__pgs_schema_add(pg_source *s, dbs_batch *b, const dbs_table *table,
                        const dbs_schema_event *se, char *err, size_t errlen);
/* The transaction ends: emit what it holds. */
int dbs__pgs_txn_end(pg_source *s, uint64_t end_lsn, char *err, size_t errlen);
void dbs__pgs_stream_txn_free(stream_txn *t);
/* A standby status update confirming what the target committed. */
int dbs__pgs_send_status(pg_source *s, int64_t now, char *err, size_t errlen);

#endif
