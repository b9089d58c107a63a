/*
 * Schema changes at an SQL target (DBS_OP_SCHEMA events): what every SQL
 * dialect decides the same way, per dbs_schema_kind.
 *
 * What to do is decided from the target's catalog, never from memory: a
 * change the catalog shows done is not done again (a restart between the
 * change and its checkpoint applies the event again), and an unsafe change
 * (a narrowing type, NOT NULL added, a primary key change, a statement the
 * source could not describe) is applied by nobody but the user: the apply
 * fails with the statement that would make the table match, and once the
 * table has the definition the same event passes. DROP TABLE and TRUNCATE
 * follow target.options.schemaChanges.
 *
 * A dialect fills a dbs_sqlschema_ops with what only it knows: how to read
 * its catalog, how its DDL is spelled, and how the change is fenced from
 * other writers (a lock, and for MySQL the commit of what is open, since
 * its DDL commits). Its schema hook (dbs_sqltarget_ops.schema) calls
 * dbs__sqlschema_apply.
 *
 * Every function runs on the target thread.
 */
#ifndef DBS_SQL_SCHEMA_H
#define DBS_SQL_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

#include "sql/target.h"

typedef struct dbs_sqlschema dbs_sqlschema;

/* What the probe finds of one column of the definition in the target. */
typedef struct dbs_sqlschema_col {
	int present, same_type, same_null, same_check;
} dbs_sqlschema_col;

/* The dialect's part. Hooks fill err on failure and return a DBS_E*
 * code; a statement they build goes into c->ddl. */
typedef struct dbs_sqlschema_ops {
	/* How messages quote a column's name: "" or "\"". */
	const char *name_quote;
	/* Column names ignore case (a rename may change only the case). */
	int names_fold_case;
	/* Messages name a table by its name alone (its database is the
	 * target's), not as schema.name. */
	int bare_table_names;
	/* The default of an added NOT NULL column given for the rows already
	 * there is dropped by a statement of its own after the ADD (which
	 * runs first), not one sent with it. */
	int drop_default_apart;
	const char *truncate_sql; /* "TRUNCATE", "TRUNCATE TABLE" */

	/* Before anything else of the event: make ready to change the
	 * schema (lock out the other writers, commit or open the
	 * transaction). On failure nothing of it is left to undo. */
	int (*begin)(dbs_sqlschema *c, char *err, size_t errlen);
	/* After the event, when begin succeeded: `rc` is the outcome so far;
	 * returns the final one. May be NULL. */
	int (*finish)(dbs_sqlschema *c, int rc, char *err, size_t errlen);
	/* The schema the target keeps a table of the source's `schema` in. */
	const char *(*schema_of)(dbs_sqlschema *c, const char *schema);

	/* ---- the catalog ---- */
	/* Whether c->qname exists, and (may be left alone) its schema. */
	int (*table_exists)(dbs_sqlschema *c, int *exists, int *schema_exists, char *err,
	                    size_t errlen);
	int (*column_exists)(dbs_sqlschema *c, const char *column, int *exists, char *err,
	                     size_t errlen);
	/* Compare every column of the definition with the target table into
	 * c->cols; with ntarget, count the target's columns too. */
	int (*probe)(dbs_sqlschema *c, uint32_t *ntarget, char *err, size_t errlen);
	/* Whether the target's primary key is the definition's; when not,
	 * the statement that makes it so into c->ddl. */
	int (*key_sql)(dbs_sqlschema *c, int *same, char *err, size_t errlen);

	/* ---- the statements ---- */
	/* The mapped type of column i of the definition. */
	int (*column_type)(dbs_sqlschema *c, dbs_buf *b, uint32_t i, char *err, size_t errlen);
	/* Into c->ddl: the ALTER that makes column i what the definition
	 * says, for the differences c->cols[i] shows. */
	int (*alter_sql)(dbs_sqlschema *c, uint32_t i, char *err, size_t errlen);
	/* Into c->ddl: the rename of column `from` to column i. */
	int (*rename_column_sql)(dbs_sqlschema *c, const char *from, uint32_t i, char *err,
	                         size_t errlen);
	/* Into c->ddl: the rename of table from_schema.from_name (c->qname)
	 * to the definition's; `schema_exists` of the new one. */
	int (*rename_table_sql)(dbs_sqlschema *c, const char *from_schema, const char *from_name,
	                        int schema_exists, char *err, size_t errlen);
	/* An added NOT NULL column without a default (column i, its ADD in
	 * c->ddl): append what the rows already there get, or say in `why`
	 * why there is nothing; *drop_default when a default was added for
	 * them. May be NULL: the target gives them a value itself. */
	int (*add_not_null)(dbs_sqlschema *c, uint32_t i, char *why, size_t whylen,
	                    int *drop_default, char *err, size_t errlen);
	/* Whether the target makes the definition's secondary indexes. */
	int (*creates_indexes)(dbs_sqlschema *c, int *yes, char *err, size_t errlen);
	/* Create index x of the definition, unless it exists. */
	int (*index_add)(dbs_sqlschema *c, uint32_t x, char *err, size_t errlen);
	/* Drop index `name` of the table, when it exists. */
	int (*index_drop)(dbs_sqlschema *c, const char *name, char *err, size_t errlen);

	/* ---- the table cache ---- */
	/* The table of the definition, created when missing, in the cache for
	 * the rows that follow. */
	int (*table_ready)(dbs_sqlschema *c, char *err, size_t errlen);
	/* Forget the cache entries of schema.name (its definition changed). */
	void (*forget)(dbs_sqlschema *c, const char *schema, const char *name);
} dbs_sqlschema_ops;

/* One schema event being applied. */
struct dbs_sqlschema {
	dbs_sqltarget *t;
	const dbs_sqlschema_ops *ops;
	const dbs_event *ev;
	const dbs_table *def;
	unsigned policy; /* target.options.schemaChanges */
	/* The table's name on the target now: the old one until a
	 * RENAME_TABLE of the event ran. */
	const char *schema, *name;
	char label[256];        /* schema.name, for messages */
	dbs_buf qname;          /* schema.name quoted */
	dbs_buf ddl;            /* the statement of a change */
	dbs_buf tmp;            /* the dialect's scratch */
	dbs_sqlschema_col *cols; /* def->ncolumns, from the last probe */
	int dropped;            /* the table was dropped */
	void *dialect;          /* the dialect's own, from begin to finish */
};

/* Apply schema event `ev` at target `t`. */
int dbs__sqlschema_apply(dbs_sqltarget *t, const dbs_sqlschema_ops *ops, const dbs_event *ev,
                         char *err, size_t errlen);

/* "name type [NOT NULL]" of column i of the definition. */
int dbs__sqlschema_column_def(dbs_sqlschema *c, dbs_buf *b, uint32_t i, char *err,
                              size_t errlen);
/* The identifier `ident` quoted for the target's dialect. */
int dbs__sqlschema_ident(dbs_sqlschema *c, dbs_buf *b, const char *ident);
int dbs__sqlschema_oom(char *err, size_t errlen);

#endif
