/*
 * The MySQL/MariaDB source's snapshot (an initial load), shared by its
 * files: snapshot.c (open, close, the dbs_snapshot_ops), snapshot_tables.c
 * (the tables to copy, described and checked), snapshot_read.c (the plan
 * and the readers). What every SQL source does alike is in
 * lib/sql/snapshot.h.
 */
#ifndef DBS_SOURCES_MYSQL_SNAPSHOT_H
#define DBS_SOURCES_MYSQL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>

#include "sources/mysql/my_source.h"
#include "sql/snapshot.h"

/* How a column's text becomes a value. */
enum rclass {
	R_INT = 0, R_UINT, R_YEAR, R_BIT, R_FLOAT, R_DOUBLE, R_DECIMAL, R_DATE, R_DATETIME,
	R_TIMESTAMP, R_TIME, R_TEXT, R_BYTES, R_JSON
};

typedef struct snap_table {
	dbs_sql_snap_table s; /* first */
	uint8_t *cls;         /* enum rclass per column of s.def */
} snap_table;

typedef struct my_snapshot {
	dbs_snapshot base; /* first */
	my_source src;     /* the source's connection code and schema cache */
	const dbs_source_config *config;
	int positions;     /* a stream follows: readers report binlog positions */
	snap_table *tables;
	uint32_t ntables;
	dbs_load_table *loads;
	dbs_sql_snap_points points;
} my_snapshot;

/* The methods of dbs__mysql_snapshot_ops that snapshot.c does not hold. */
int dbs__mys_snap_tables(dbs_snapshot *base, const dbs_load_table **out, uint32_t *n,
                         char *err, size_t errlen);
int dbs__mys_snap_plan(dbs_snapshot *base, const dbs_load_table *table, uint64_t rows,
                       const dbs_value **points, uint32_t *n, uint64_t *counted, char *err,
                       size_t errlen);
int dbs__mys_snap_reader_open(dbs_snapshot *base, dbs_snapshot_reader **out,
                              uint64_t *position, char *err, size_t errlen);
int dbs__mys_snap_read(dbs_snapshot_reader *base, const dbs_load_table *table,
                       const dbs_load_chunk *chunk, uint32_t batch_rows, dbs_rows_fn rows_fn,
                       void *rows_data, char *err, size_t errlen);
void dbs__mys_snap_reader_close(dbs_snapshot_reader *base);

#endif
