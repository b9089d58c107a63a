/*
 * The MySQL/MariaDB binlog source plugin. Declared here because plugins
 * may not edit lib/core/core.h; the registry (lib/core/registry.c) adds
 * it next to the PostgreSQL source.
 */
#ifndef DBS_MYSQL_SOURCE_H
#define DBS_MYSQL_SOURCE_H

#include <dbstreams/plugin.h>

extern const dbs_source_ops dbs__mysql_source_ops;

#endif
