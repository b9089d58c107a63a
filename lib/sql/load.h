/*
 * The table of initial-load records every SQL target keeps beside its
 * checkpoint table (checkpoint.h): one row per (stream, source table,
 * chunk), written in the transaction of what it records, so that a load
 * interrupted at any moment continues from what is committed
 * (dbs_load_record in dbstreams/plugin.h says what the rows mean). Its
 * columns are defined once here and spelled in each dialect.
 */
#ifndef DBS_SQL_LOAD_H
#define DBS_SQL_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

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

#endif
