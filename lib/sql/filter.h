/*
 * source.filter.tables as the SQL sources match it: each entry's name
 * split into schema (PostgreSQL schema, MySQL database) and table, with
 * the source's default schema for a bare name, and the operations it
 * lets through.
 */
#ifndef DBS_SQL_FILTER_H
#define DBS_SQL_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>

typedef struct dbs_sql_filter_entry {
	char *schema;
	char *name;
	unsigned operations; /* bit (1 << dbs_op) per allowed op */
} dbs_sql_filter_entry;

typedef struct dbs_sql_filter {
	dbs_sql_filter_entry *entries;
	uint32_t n; /* 0: the configuration lists no table */
} dbs_sql_filter;

/* The filter of `config`, bare names in `default_schema`. 0 or DBS_ENOMEM
 * (free the filter either way). */
int dbs__sql_filter_init(dbs_sql_filter *f, const dbs_source_config *config,
                         const char *default_schema);
void dbs__sql_filter_free(dbs_sql_filter *f);

/* The operations of table schema.name (lengths given): an entry's, or 0
 * when the filter lists other tables only. The caller decides what an
 * empty filter (n == 0) lets through. */
unsigned dbs__sql_filter_ops(const dbs_sql_filter *f, const char *schema, size_t schema_len,
                             const char *name, size_t name_len);

#endif
