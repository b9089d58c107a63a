/*
 * The table of initial-load records every SQL target keeps beside its
 * checkpoint table (checkpoint.h): one row per (stream, source table,
 * chunk), written in the transaction of what it records, so that a load
 * interrupted at any moment continues from what is committed
 * (dbs_load_record in dbstreams/plugin.h says what the rows mean). Its
 * columns are defined once here and spelled in each dialect. Also the
 * load's calls on a SQL target's main session, made again after a lost
 * connection, whose statements are the dialect's (dbs_sqlload_ops).
 */
#ifndef DBS_SQL_LOAD_H
#define DBS_SQL_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#include "sql/target.h"

#define DBS_LOAD_TABLE "dbstreams_load"

/* CREATE TABLE IF NOT EXISTS of the table in `dialect`. */
int dbs__load_records_ddl(dbs_buf *out, dbs_dialect dialect);

/* SELECT of the records of the stream whose id is the SQL literal
 * `stream_literal`: table_name, chunk, state, lo, hi, source_position,
 * row_count, in that order. */
int dbs__load_records_select_sql(dbs_buf *out, const char *stream_literal);

/* One row as that SELECT reads it (text fields, NULL for SQL NULL) into
 * *rec, pointing into the fields. 0, or DBS_ETARGET with err. */
int dbs__load_record_parse(dbs_load_record *rec, const char *const fields[7], char *err,
                           size_t errlen);

/* The upsert of `n` records of the stream (one statement, no ';'). */
int dbs__load_records_upsert_sql(dbs_buf *out, dbs_dialect dialect, const char *stream_literal,
                         const dbs_load_record *records, uint32_t n);

/*
 * The dialect's part of the load's calls on the target's main session
 * (dbs_sqltarget_ops.load): each method of dbs_load_ops that runs there,
 * done once on the target's session; one whose connection (not data)
 * failed sets the skeleton's `lost`.
 */
typedef struct dbs_sqlload_ops {
	int (*records)(dbs_target *base, dbs_load_record_fn fn, void *data, char *err,
	               size_t errlen);
	int (*check)(dbs_target *base, const dbs_load_table *table, int resumed, char *err,
	             size_t errlen);
	int (*prepare)(dbs_target *base, const dbs_load_table *table, const dbs_load_record *recs,
	               uint32_t n, char *err, size_t errlen);
	int (*finish)(dbs_target *base, const dbs_load_table *table, unsigned what, char *err,
	              size_t errlen);
	int (*store)(dbs_target *base, const dbs_load_record *recs, uint32_t n, char *err,
	             size_t errlen);
} dbs_sqlload_ops;

/* The dbs_load_ops methods records, check, prepare, finish and store of
 * a SQL target: the dialect's, again on a new session after a lost
 * connection, with the reconnect policy. */
int dbs__sqlload_records(dbs_target *base, dbs_load_record_fn fn, void *data, char *err,
                         size_t errlen);
int dbs__sqlload_check(dbs_target *base, const dbs_load_table *table, int resumed, char *err,
                       size_t errlen);
int dbs__sqlload_prepare(dbs_target *base, const dbs_load_table *table,
                         const dbs_load_record *recs, uint32_t n, char *err, size_t errlen);
int dbs__sqlload_finish(dbs_target *base, const dbs_load_table *table, unsigned what, char *err,
                        size_t errlen);
int dbs__sqlload_store(dbs_target *base, const dbs_load_record *recs, uint32_t n, char *err,
                       size_t errlen);

#endif
