/*
 * The settings of the SQL sources and targets: the keys DBConvert
 * Streams 0.x gives every source (source.settings) and every target
 * (target.settings, target.options), as option rows both built-in
 * sources and both built-in targets declare, and the structs they fill.
 */
#ifndef DBS_SQL_SETTINGS_H
#define DBS_SQL_SETTINGS_H

#include <stdint.h>

#include <dbstreams/plugin.h>

/* source.settings */
typedef struct dbs_sql_source_settings {
	const char *flavor; /* "mysql", "mariadb"; NULL: detected */
	const char *ssl_ca, *ssl_cert, *ssl_key;
	const char *replication_slot_name; /* default "dbconvert_replication_slot" */
	const char *publication_name;      /* default "dbconvert-publication" */
} dbs_sql_source_settings;

/* The settings of a source whose configuration gave none (a plugin
 * opened directly, as tests do): the defaults of the rows. */
extern const dbs_sql_source_settings dbs__sql_source_defaults;

#define DBS_SQL_SOURCE_NOPTIONS 6
extern const dbs_option dbs__sql_source_options[DBS_SQL_SOURCE_NOPTIONS];

/* One entry of target.options.tables. */
typedef struct dbs_sql_table_option {
	const char *name; /* "t" or "schema.t" */
	int no_create_indexes;
} dbs_sql_table_option;

/* target.settings and target.options */
typedef struct dbs_sql_target_settings {
	const char *ssl_ca, *ssl_cert, *ssl_key;
	int no_create_tables;
	/* options.zeroDates: what a MySQL zero date ('0000-00-00') becomes
	 * in an engine without one: "fail" (default), "null" or "-infinity". */
	const char *zero_dates;
	/* options.deadLetterTable: NULL, or "table" / "schema.table" in the
	 * target where rows the target database rejects for their data are
	 * written instead of failing the stream. */
	const char *dead_letter_table;
	const dbs_sql_table_option *tables;
	uint32_t ntables;
	/* options.writeMode: what an initial load does with a target table
	 * that holds rows: "fail_if_not_empty" (default: refuse it), "append"
	 * (insert beside them), "truncate_and_load" (empty it first) or
	 * "upsert" (insert, replacing rows of the same key). */
	const char *write_mode;
	/* options.schemaChanges: a comma-separated list of "dropTable",
	 * "truncate" (apply those schema changes, skipped with a warning
	 * otherwise) or "none" alone (every schema change stops the stream);
	 * NULL or "": the default. */
	const char *schema_changes;
} dbs_sql_target_settings;

/* options.schemaChanges as flags. */
enum {
	DBS_SCHEMA_POLICY_DROP_TABLE = 1u << 0,
	DBS_SCHEMA_POLICY_TRUNCATE = 1u << 1,
	DBS_SCHEMA_POLICY_NONE = 1u << 2
};

unsigned dbs__sql_schema_policy(const dbs_sql_target_settings *settings);

/* options.writeMode as a value. */
typedef enum dbs_sql_write_mode {
	DBS_WRITE_FAIL_IF_NOT_EMPTY = 0,
	DBS_WRITE_APPEND,
	DBS_WRITE_TRUNCATE_AND_LOAD,
	DBS_WRITE_UPSERT
} dbs_sql_write_mode;

dbs_sql_write_mode dbs__sql_write_mode(const dbs_sql_target_settings *settings);

extern const dbs_sql_target_settings dbs__sql_target_defaults;

/* The entry of target.options.tables for table `name`, written as "name"
 * or "<q>.name" for one of the `nqualifiers` qualifiers (the table's
 * schema; for MySQL also the target's database; "" and NULL ones never
 * match); NULL when none. */
const dbs_sql_table_option *dbs__sql_table_option(const dbs_sql_target_settings *settings,
                                                  const char *name,
                                                  const char *const *qualifiers,
                                                  size_t nqualifiers);

#define DBS_SQL_TARGET_NOPTIONS 9
extern const dbs_option dbs__sql_target_options[DBS_SQL_TARGET_NOPTIONS];

#endif
