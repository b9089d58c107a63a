/*
 * The MySQL/MariaDB source's own declarations, shared by its files:
 * source.c (the plugin's methods and the event loop; its opening comment
 * says how positions, GTIDs and failures work), dump.c (connections and
 * the binlog dump), schema.c (information_schema and the table maps),
 * events.c (transactions and rows into batches).
 */
#ifndef DBS_SOURCES_MYSQL_MY_SOURCE_H
#define DBS_SOURCES_MYSQL_MY_SOURCE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <mysql.h>
#include <mariadb_rpl.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#include "sources/mysql/binlog.h"
#include "sql/filter.h"
#include "sql/mysql_dsn.h"

#define HEARTBEAT_NS "100000000" /* 100 ms: run() sees host->stopping at that pace */
#define READ_TIMEOUT_S 10u
#define CONNECT_TIMEOUT_S 10u
/* A lost binlog connection (server restart, network cut) is retried with
 * exponential backoff from the first delay, doubling up to the longest,
 * until the give-up time (reconnect.giveUpAfter) has passed since the
 * loss. */
/* Binlog files whose size is remembered (from their closing ROTATE), to
 * measure the lag across a file switch. */
#define FILE_SIZES 8

/* What information_schema says about a table, refreshed after DDL. */

typedef struct schema_info {
	char *db, *name;
	uint32_t ncols;
	char **col_names;
	char **col_types; /* COLUMN_TYPE */
	char **charsets;  /* CHARACTER_SET_NAME, NULL for non-text */
	uint8_t *is_pk, *not_null, *is_json;
	/* Secondary indexes, one row per index column in index order (rows of
	 * one index are adjacent): index name, column name, DBS_INDEX_*. */
	uint32_t nidx;
	char **idx_names, **idx_cols;
	uint32_t *idx_flags;
	uint32_t version; /* versions of dbs_table made for this table */
	int stale;        /* DDL seen: re-read before the next use */
	/* The definition the schema statements of the binlog made (one
	 * reference), which later table maps use when they agree with it;
	 * NULL: none yet, or not known since (ddl_source.c). */
	dbs_table *tracked;
} schema_info;

typedef struct table_entry {
	uint64_t table_id;
	uint8_t *raw; /* TABLE_MAP body, to recognise an unchanged map */
	size_t raw_len;
	dbs_mysql_tablemap tm;
	dbs_table *table; /* one reference held here */
	uint8_t *is_json; /* per column: MariaDB JSON text column */
	unsigned operations;
} table_entry;

typedef struct collation_entry {
	uint32_t id;
	char name[32];
} collation_entry;

typedef struct my_source {
	dbs_source base; /* first */
	const dbs_host *host;
	dbs_mysql_dsn dsn;
	const char *ssl_ca, *ssl_cert, *ssl_key;
	int mariadb;
	uint32_t bundle;
	uint32_t replica_id;
	MYSQL *sql, *repl;
	MARIADB_RPL *rpl;
	MARIADB_RPL_EVENT *ev;
	int pending;  /* ev was read by dump_open and not handled yet */
	/* The dump starts in run, not in open: an initial load runs between
	 * the two, and a dump left unread that long would time out. */
	int deferred;
	int checksum; /* events end with a CRC32 (binlog_checksum != NONE) */

	dbs_sql_filter filter;

	table_entry *tables;
	size_t ntables, tables_cap;
	schema_info *infos;
	size_t ninfos, infos_cap;
	collation_entry *collations;
	size_t ncollations;

	char base_name[256]; /* binlog file name without ".NNNNNN" */
	uint64_t file_no;    /* current file's sequence number */

	dbs_batch *batch;
	dbs_emit_fn emit;
	void *emit_data;
	int stop;
	dbs_buf scratch;

	int in_txn;
	uint64_t txn_pos;
	uint32_t nevents;
	int64_t commit_time_us;
	int standalone; /* GTID without COMMIT/XID: the next statement ends it */

	/* Where a (re)connect starts: the end of the last transaction emitted
	 * or skipped, or the position open() was given until one ends. */
	dbs_position restart;
	char start_desc[160]; /* that start as a log shows it */
	/* GTID of the transaction in progress (seq 0: none). */
	uint32_t gtid_domain, gtid_server;
	uint64_t gtid_seq;
	/* Resuming inside a transaction on another server: the first GTID of
	 * this domain must be this one (seq 0: no check pending). */
	uint32_t expect_domain, expect_server;
	uint64_t expect_seq;
	/* The last sequence number seen per domain in this dump. */
	struct gtid_seen {
		uint32_t domain;
		uint64_t seq;
	} *seen;
	size_t nseen, seen_cap;
	_Atomic uint64_t acked; /* written by ack() on the target thread */
	uint64_t events_seen;

	/* Lag (run thread): the newest position the server reported (event
	 * ends, heartbeats), the end of the last emitted transaction, and
	 * the sizes of the last files left. */
	uint64_t server_end;
	uint64_t emitted;
	struct {
		uint64_t file_no;
		uint64_t size;
	} file_sizes[FILE_SIZES];
	unsigned file_sizes_next;
} my_source;

/* The plugin (source.c); the built-in list names it. */
extern const dbs_source_ops dbs__mysql_source_ops;
/* Its snapshot capability (snapshot.c). */
extern const dbs_snapshot_ops dbs__mysql_snapshot_ops;

static inline int stopping(my_source *s)
{
	return s->stop || (s->host && s->host->stopping && s->host->stopping(s->host));
}

/* ---- dump.c: connections and the binlog dump ---- */

/* An ordinary session with the DSN's credentials and TLS. */
int dbs__mys_connect(my_source *s, MYSQL **out, char *err, size_t errlen);
/* One row of one query; values copied into `vals` (NULL for SQL NULL). */
int dbs__mys_query_row(MYSQL *m, const char *sql, unsigned nvals, char **vals, char *err,
                       size_t errlen);
/* A statement whose result is not needed. */
int dbs__mys_exec(MYSQL *m, const char *sql, char *err, size_t errlen);
/*
 * Start the dump at `at` (see "GTIDs" in source.c). DBS_ENOTFOUND when
 * the server cannot serve it (purged, another history, other domains):
 * retrying would not help.
 */
int dbs__mys_dump_start(my_source *s, const dbs_position *at, char *err, size_t errlen);
void dbs__mys_dump_close(my_source *s);

/* ---- schema.c: information_schema and the table maps ---- */

/* The server's collations, for charsets rows.c does not know. */
int dbs__mys_load_collations(my_source *s, char *err, size_t errlen);
/* What information_schema says of db.name, read once and again after
 * DDL (stale); NULL with *rc and err on failure. A table that does not
 * exist has no columns. */
schema_info *dbs__mys_info_get(my_source *s, const char *db, const char *name, char *err,
                               size_t errlen, int *rc);
/* A TABLE_MAP event: the table it maps, built or reused. */
int dbs__mys_on_table_map(my_source *s, const uint8_t *body, size_t len, char *err,
                          size_t errlen);
table_entry *dbs__mys_entry_find(my_source *s, uint64_t table_id);
void dbs__mys_entry_clear(table_entry *e);
void dbs__mys_info_clear(schema_info *in);

/* Which operations of db.name the stream captures (DBS_OPS_*; 0: none). */
unsigned dbs__mys_filter_ops(const my_source *s, const char *db, const char *name);
/* The schema_info of db.name without reading it (created stale). */
schema_info *dbs__mys_info_entry(my_source *s, const char *db, const char *name);

/* ---- ddl_source.c: schema statements ---- */

/*
 * A Query event that is not BEGIN or COMMIT: `q` as logged, in database
 * `db`, with the event's status variables. A schema statement of a
 * captured table becomes schema events (the last one held in s->batch,
 * for the transaction's end), and the source's own definition of the
 * table follows it. *ends: the statement is a transaction of its own (a
 * CREATE TABLE ... SELECT is followed by its rows). 0, or a negative code
 * with err: the stream stops at the statement.
 */
int dbs__mys_on_schema_query(my_source *s, const char *q, size_t ql, const char *db,
                             size_t db_len, const uint8_t *status, size_t status_len, int *ends,
                             char *err, size_t errlen);

/* ---- events.c: transactions and rows into batches ---- */

int dbs__mys_txn_begin(my_source *s, uint64_t pos, uint32_t timestamp, char *err,
                       size_t errlen);
/*
 * The GTID of the transaction that begins. Positions compare by sequence
 * number within a domain, so one going backwards would make a target skip
 * it as applied already: fail instead (MariaDB logs them in order unless
 * gtid_strict_mode is off and replication fed it out of order).
 */
int dbs__mys_on_gtid(my_source *s, uint32_t domain, uint32_t server, uint64_t seq, char *err,
                     size_t errlen);
/* The transaction ends at `end_pos` (XID `xid`, 0 without one). */
int dbs__mys_txn_end(my_source *s, uint64_t end_pos, uint64_t xid, char *err, size_t errlen);
/* The rows of one ROWS event into the batch. */
int dbs__mys_on_rows(my_source *s, const dbs_mysql_rows *rows, uint64_t start,
                     uint32_t timestamp, char *err, size_t errlen);
/* Emit the events held. */
int dbs__mys_emit_pending(my_source *s, char *err, size_t errlen);
/* A schema event for `table` (the batch takes a reference), alone in a
 * new batch at the transaction's next position; what was held is emitted
 * first (s->stop may then be set: *out is not set). */
int dbs__mys_schema_event(my_source *s, const dbs_table *table, dbs_event **out, char *err,
                          size_t errlen);
/* The binlog file the dump is in, from its name. */
void dbs__mys_set_base_name(my_source *s, const char *name, size_t len);
/* Report how far the confirmed position is behind the server's end:
 * when every emitted transaction is acked, what was skipped since counts
 * as confirmed too. */
void dbs__mys_report_lag(my_source *s);

#endif
