/*
 * The MySQL/MariaDB target's own declarations, shared by its files:
 * target.c (the session and the dialect part of the SQL-target skeleton,
 * lib/sql/target.h), tables.c (table cache and DDL) and statements.c
 * (the batch as SQL text in packets).
 */
#ifndef DBS_TARGETS_MYSQL_MY_TARGET_H
#define DBS_TARGETS_MYSQL_MY_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#include "sql/mysql_dsn.h"
#include "sql/sqlmap.h"
#include "sql/target.h"

/* Bytes of a key shown in an error. */
#define ERR_KEY_MAX 160u
/* Bits of each filter of held keys (pending.c). */
#define DBS_MYT_BLOOM_BITS 4096u

/* Which events a held statement holds, to name them in an error. */
typedef struct my_held_at {
	uint32_t first, last; /* batch event indexes */
	uint64_t apply_no;    /* the write that held them (0: spans writes) */
} my_held_at;

typedef struct my_table {
	const dbs_table *def; /* referenced */
	dbs_sqltype *types;
	uint32_t *keys;
	uint32_t nkeys;
	char *qname;          /* `db`.`name` */
	char *insert_head;    /* INSERT INTO q (`a`,…) VALUES */
	char *insert_tail;    /* ON DUPLICATE KEY UPDATE … */
	size_t head_len, tail_len;
	int load_state;       /* LOAD DATA can take its rows: 1, no: -1, unknown: 0 */
	/* Deletes and writes held (pending.c): whether the table may (1, no:
	 * -1, unknown: 0), the keys' literals "k1,k2", the rows "(…),(…)",
	 * filters of the keys in each, and whether t->pend lists it. */
	int pend_state;
	dbs_buf pend_del, pend_ups;
	uint64_t pend_del_keys[DBS_MYT_BLOOM_BITS / 64], pend_ups_keys[DBS_MYT_BLOOM_BITS / 64];
	int pend_listed;
	my_held_at pend_del_at, pend_ups_at;
} my_table;

/* What one statement of a packet was, to name it in an error. */
typedef struct my_stmt {
	my_table *table;   /* NULL: transaction control or checkpoint */
	uint32_t first, last; /* batch event indexes */
	const char *what;
	uint64_t apply_no; /* the write that made it (0: spans writes): only
	                      that write's batch names its events */
	int load_lines;    /* first and last are lines of the LOAD DATA rows
	                      sent again as INSERT (loaddata.c), not events */
} my_stmt;

typedef struct my_target {
	dbs_sqltarget common; /* first: the skeleton's state, and the dbs_target */
	MYSQL *conn;
	dbs_mysql_dsn dsn;
	const char *collation;
	size_t packet_limit;
	my_table **tables;
	size_t ntables, captables;
	dbs_buf sql;   /* the packet being built */
	dbs_buf row;   /* one row's values */
	size_t row_key_at, row_key_len; /* its first key column's literal (row_literal) */
	dbs_buf tmp;   /* DDL, error keys */
	dbs_buf label; /* an event named in a message */
	my_stmt *stmts;
	size_t nstmts, capstmts;
	my_table *open_insert; /* table of the INSERT statement being filled */
	my_table *open_delete; /* table of the DELETE … IN (…) being filled */
	uint8_t *done;         /* per event of an insert segment: written */
	size_t capdone;
	dbs_mysql_tls tls;     /* what the first connect settled on */
	uint64_t apply_no;     /* counts writes, from 1 */
	/* Tables made now get no secondary index: an initial load makes them
	 * once the rows are in (load.c). */
	int defer_indexes;
	/* INSERT without ON DUPLICATE KEY UPDATE: a row of the same key is an
	 * error (an initial load that must not overwrite). */
	int plain_inserts;
	/* Inserts in a row into one table, across commits, and how many of
	 * them this transaction holds (loaddata.c). */
	my_table *run_table;
	uint64_t run_rows, run_rows_txn;
	/* Rows gathered for LOAD DATA into open_load, in its text form. */
	my_table *open_load;
	dbs_buf load;
	size_t load_rows, load_sent;
	dbs_buf load_value; /* one value's literal */
	dbs_buf load_sql;   /* the LOAD DATA statement */
	int load_serving;   /* the local-infile handler may send `load` */
	int load_refused;   /* the server refuses LOAD DATA LOCAL */
	int load_again;     /* its rows go again as INSERT: insert_row's i is a line */
	/* Tables holding deletes and writes, in the order first touched. */
	my_table **pend;
	size_t npend, cappend, pend_bytes;
	int rows_one_by_one; /* the row-by-row replay: nothing held */
} my_target;

/* The plugin (target.c); the built-in list names it. */
extern const dbs_target_ops dbs__mysql_target_ops;

/* ---- target.c ---- */

/* "<where>: <server message> (error N)" on one line; sets common.lost,
 * common.data_error, common.err_code and err_msg. */
void dbs__myt_error(my_target *t, char *err, size_t errlen, const char *where);
/* Errors the client library raises itself (server gone, lost, refused). */
int dbs__myt_client_errno(unsigned no);
/* Run statements whose results carry nothing we need. */
int dbs__myt_exec(my_target *t, const char *sql, size_t len, const char *where, char *err,
                  size_t errlen);
int dbs__myt_exec_str(my_target *t, const char *sql, const char *where, char *err,
                      size_t errlen);

/* A session of its own with the settings of `like`, for a writer of an
 * initial load or a table created inside a transaction: no checkpoint is
 * read. When the server refuses it, *server_errno (if not NULL) says why
 * (0 when it was not the server). */
int dbs__myt_session_new(my_target **out, const my_target *like, unsigned *server_errno,
                         char *err, size_t errlen);
void dbs__myt_session_free(my_target *t);

/* ---- load.c ---- */

/* The target's load capability (dbs_target_ops.load). */
extern const dbs_load_ops dbs__myt_load_ops;
/* Its calls on the main session (dbs_sqltarget_ops.load). */
extern const struct dbs_sqlload_ops dbs__myt_load_main;

/* ---- tables.c ---- */

/* `ident` in backticks. */
int dbs__myt_ident(dbs_buf *b, const char *ident);
/* Two definitions of one table version (a source may hand out copies). */
int dbs__myt_same_def(const dbs_table *a, const dbs_table *b);
/* "(id=5, k='x')" of an event's key, for messages. */
void dbs__myt_key_text(my_target *t, my_table *tb, const dbs_event *ev, char *buf,
                       size_t size);
/* The cached table for a definition, or NULL when it is new here. */
my_table *dbs__myt_table_find(const my_target *t, const dbs_table *def);
/* The cached table for a definition, creating it on the server if new. */
int dbs__myt_table_get(my_target *t, const dbs_table *def, my_table **out, char *err,
                       size_t errlen);
void dbs__myt_table_free(my_table *tb);
/* CREATE INDEX of one secondary index of `tb`; one the server refuses is
 * a warning. */
int dbs__myt_index_create(my_target *t, my_table *tb, const dbs_index *ix, char *err,
                          size_t errlen);
/* Whether the target table of `def` exists. */
int dbs__myt_table_exists(my_target *t, const dbs_table *def, int *exists, char *err,
                          size_t errlen);
/* target.options.tables' entry of `def`, or NULL. */
const dbs_sql_table_option *dbs__myt_table_option(const my_target *t, const dbs_table *def);
/* A log line prefixed "mysql target: ". */
void dbs__myt_log(my_target *t, dbs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- schema.c ---- */

/* The dialect's schema hook (lib/sql/target.h): commits what is open,
 * then the DDL of a DBS_OP_SCHEMA event; leaves a transaction begun in
 * the packet for the checkpoint row. */
int dbs__myt_schema(dbs_sqltarget *common, const dbs_event *ev, char *err, size_t errlen);

/* ---- statements.c ---- */

/* Remember what the statement just appended to the packet was. */
int dbs__myt_stmt_push(my_target *t, my_table *tb, uint32_t first, uint32_t last,
                       const char *what);
/* Send the packet and read every statement's result; on an error name
 * the statement that failed (with the rows of `batch`, which may be NULL
 * when the packet holds none). */
int dbs__myt_flush(my_target *t, const dbs_batch *batch, char *err, size_t errlen);
/* ';' before the next statement of a packet. */
int dbs__myt_sep(my_target *t);
/* Finish the INSERT or DELETE … IN statement still taking rows, or run
 * the rows gathered for LOAD DATA (so `batch`, which may be NULL, and an
 * error message). */
int dbs__myt_close_open(my_target *t, const dbs_batch *batch, char *err, size_t errlen);
/* Column c of image `img` of `ev` as a MySQL literal into `b`. */
int dbs__myt_put_value(my_target *t, my_table *tb, const dbs_event *ev, const dbs_value *img,
                       uint32_t c, dbs_buf *b, char *err, size_t errlen);
/* Event ev's new row as "(v1,…)" into t->row; counts it in the run of
 * inserts into `tb`. */
int dbs__myt_row_literal(my_target *t, my_table *tb, const dbs_event *ev, char *err,
                         size_t errlen);
/* The row in t->row, "(…)", into the INSERT of `tb` taking rows (event
 * i of `batch`; a NULL batch names no event). */
int dbs__myt_insert_row(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                        char *err, size_t errlen);
/* An empty packet. */
void dbs__myt_packet_reset(my_target *t);
/* Event i (an insert) as a row of a multi-row INSERT. */
int dbs__myt_add_insert(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                        char *err, size_t errlen);
/* The inserts from *at up to the next update or delete, grouped by
 * table; leaves *at on the segment's last event. */
int dbs__myt_add_insert_segment(my_target *t, const dbs_batch *batch, uint32_t *at, char *err,
                                size_t errlen);
/* Event i, an update or delete, by key. */
int dbs__myt_add_change(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                        char *err, size_t errlen);

/* ---- pending.c ---- */

/* Hold the delete of event i (its key image `img`) when its table allows;
 * *held says whether it did. */
int dbs__myt_pending_delete(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                            const dbs_value *img, int *held, char *err, size_t errlen);
/* Hold event i's whole new row (an insert, or an update that keeps its
 * key) when its table allows; *held says whether it did. */
int dbs__myt_pending_write(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                           int *held, char *err, size_t errlen);
/* What is held, into the packet: each table's deletes, then its writes. */
int dbs__myt_pending_send(my_target *t, const dbs_batch *batch, char *err, size_t errlen);
/* Forget what is held. */
void dbs__myt_pending_reset(my_target *t);

/* ---- loaddata.c ---- */

/* The connection's local-infile handler: sends only the rows gathered,
 * never a file. */
void dbs__myt_load_setup(my_target *t);
/* Whether the next insert into `tb` goes to the LOAD DATA rows. */
int dbs__myt_load_wanted(my_target *t, my_table *tb);
/* Event i (an insert) as a row of LOAD DATA into `tb`. */
int dbs__myt_load_row(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                      char *err, size_t errlen);
/* Send what the packet holds, then the gathered rows as LOAD DATA (or,
 * when it leaves a warning, as INSERT statements). */
int dbs__myt_load_end(my_target *t, const dbs_batch *batch, char *err, size_t errlen);
/* The key of line `line` (from 0) of the LOAD DATA rows of `tb` being
 * sent again as INSERT, as "(k=v, …)". */
void dbs__myt_load_key_text(my_target *t, my_table *tb, size_t line, char *buf, size_t size);
/* At a transaction's start: forget the gathered rows (the run of inserts
 * goes on). */
void dbs__myt_load_reset(my_target *t);

#endif
