/*
 * The PostgreSQL source's snapshot (an initial load), shared by its
 * files: snapshot.c (open, close, the dbs_snapshot_ops), snapshot_tables.c
 * (the tables to copy, described and checked), snapshot_read.c (the plan,
 * the exported snapshot and the readers). What every SQL source does
 * alike is in lib/sql/snapshot.h.
 */
#ifndef DBS_SOURCES_POSTGRESQL_SNAPSHOT_H
#define DBS_SOURCES_POSTGRESQL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <dbstreams/plugin.h>

#include "sources/postgresql/pg_source.h"
#include "sql/snapshot.h"

typedef struct snap_table {
	dbs_sql_snap_table s; /* first */
	char relid[16];       /* the table's OID, as text */
} snap_table;

typedef struct pg_snapshot {
	dbs_snapshot base; /* first */
	pg_source src;     /* catalog session (src.sql) and the source's catalog code */
	const dbs_source_config *config;
	int positions;     /* a stream follows */
	int cdc_pub;       /* an empty filter means the publication's tables */
	char *export;      /* the snapshot readers import; NULL: none yet */
	uint64_t export_lsn;
	PGconn *slot_conn; /* holds a temporary slot's exported snapshot */
	unsigned slots;    /* temporary slots made */
	snap_table *tables;
	uint32_t ntables;
	dbs_load_table *loads;
	dbs_sql_snap_points points;
} pg_snapshot;

/* The walsender's output settings on the ordinary session `c` (what
 * pgoutput would send is what a copy reads). 0, or a DBS_E* code or
 * DBS_LOAD_LOST with err. */
int dbs__pgs_snap_session(PGconn *c, char *err, size_t errlen);

/* The methods of dbs__postgresql_snapshot_ops that snapshot.c does not
 * hold. */
int dbs__pgs_snap_tables(dbs_snapshot *base, const dbs_load_table **out, uint32_t *n,
                         char *err, size_t errlen);
int dbs__pgs_snap_plan(dbs_snapshot *base, const dbs_load_table *table, uint64_t rows,
                       const dbs_value **points, uint32_t *n, uint64_t *counted, char *err,
                       size_t errlen);
int dbs__pgs_snap_reader_open(dbs_snapshot *base, dbs_snapshot_reader **out,
                              uint64_t *position, char *err, size_t errlen);
int dbs__pgs_snap_read(dbs_snapshot_reader *base, const dbs_load_table *table,
                       const dbs_load_chunk *chunk, uint32_t batch_rows, dbs_rows_fn rows_fn,
                       void *rows_data, char *err, size_t errlen);
void dbs__pgs_snap_reader_close(dbs_snapshot_reader *base);

#endif
