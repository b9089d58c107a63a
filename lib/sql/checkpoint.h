/*
 * The checkpoint table every SQL target keeps in its database: one row
 * per stream (per writer of a partitioned stream), upserted in the same
 * transaction as the rows it covers, so that the target knows exactly
 * what it applied (DESIGN.md, "Delivery: exactly-once apply"). Its
 * columns are defined once here and spelled in each dialect.
 */
#ifndef DBS_SQL_CHECKPOINT_H
#define DBS_SQL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#define DBS_CHECKPOINT_TABLE "dbstreams_checkpoint"

/* CREATE TABLE IF NOT EXISTS of the table in `dialect`. */
int dbs__checkpoint_ddl(dbs_buf *out, dbs_dialect dialect);

/* The column added after the first release (a table made before
 * positions carried a GTID lacks it), and its ALTER TABLE. */
#define DBS_CHECKPOINT_GTID_COLUMN "gtid"
int dbs__checkpoint_add_gtid_sql(dbs_buf *out, dbs_dialect dialect);

/*
 * SELECT of the row of the stream whose id is the SQL literal
 * `stream_literal`: its columns txn, resume, event, txn_end, gtid, in
 * that order, as text.
 */
int dbs__checkpoint_select_sql(dbs_buf *out, const char *stream_literal);

/*
 * The position in the row's five text fields (as the SELECT above reads
 * them; NULL for SQL NULL). 0, or DBS_ETARGET with err naming the stream
 * `stream_id` when a field is NULL, out of range or malformed.
 */
int dbs__checkpoint_parse(dbs_position *out, const char *const fields[5], const char *stream_id,
                          char *err, size_t errlen);

/*
 * The upsert of the row for `last` (hub sequence `seq`, printed as
 * `pos_text`, which holds no quote), without a terminating ';'.
 */
int dbs__checkpoint_upsert_sql(dbs_buf *out, dbs_dialect dialect, const char *stream_literal,
                               const dbs_position *last, uint64_t seq, const char *pos_text);

#endif
