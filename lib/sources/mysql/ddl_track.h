/*
 * A MySQL source's own definition of a table, kept current by applying
 * the schema statements of the binlog to it (ddl.h parses them), so that
 * a backlog holding several ALTERs is read with the definition each row
 * was written under, not the one information_schema shows now.
 *
 * dbs__mys_track_apply is pure: a definition and a statement's changes
 * in, the new definition and the schema changes a target applies out.
 * ddl_source.c decides which tables and statements it is given.
 */
#ifndef DBS_SOURCES_MYSQL_DDL_TRACK_H
#define DBS_SOURCES_MYSQL_DDL_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>

#include "sources/mysql/ddl.h"

/*
 * Apply changes[0..n) of one statement, all naming one table, to `before`
 * (borrowed; NULL when the table is not known before: CREATE TABLE, or a
 * table whose definition could not be read). Kinds handled: the column,
 * index and key changes of ALTER TABLE, its RENAME, and CREATE_TABLE;
 * anything else is a caller's error (DBS_EINVAL).
 *
 * On 0: *after is a new definition (one reference for the caller), its
 * version before->version + 1 (1 without `before`), spelled as
 * information_schema's COLUMN_TYPE; *out and *nout the schema changes in
 * statement order, their strings and array in `arena`'s memory (the batch
 * the event goes into); a change that changes nothing a target holds (a
 * default, ENGINE=, a foreign key) adds none. Changes describing what the
 * definition already shows (ADD of a column it has, DROP of one it lacks)
 * are kept, so that the definition read from information_schema after the
 * fact still gives the events of the binlog; the target's catalog decides.
 * `before_is_now`: `before` is information_schema's state now (NULL: the
 * table is not there now), which may already show this statement or
 * later ones: a column changed to the type it already has there, or not
 * there at all, cannot be told widened from narrowed, and is unsafe (the
 * target carries on when its column already is what the statement made
 * it, and stops otherwise).
 * `why` gets a sentence for a change the source cannot describe (then a
 * DBS_SCHEMA_OTHER change, unsafe, whose default_text is that sentence).
 * DBS_ENOMEM otherwise.
 */
int dbs__mys_track_apply(const dbs_table *before, int before_is_now, const char *schema,
                         const char *name, const dbs_mysql_ddl_change *changes, uint32_t n,
                         dbs_batch *arena, dbs_table **after, dbs_schema_change **out,
                         uint32_t *nout);

/* A type as information_schema.COLUMNS.COLUMN_TYPE spells it
 * ("varchar(20)", "decimal(10,2) unsigned", "enum('a','b')"); 0 or
 * DBS_ENOMEM. */
int dbs__mys_type_spell(dbs_buf *out, const dbs_mysql_type *t);

/* The binlog field type a column of that type has (MY_T_*), for the
 * definition's type_id; 0 (MY_T_DECIMAL, unused by MySQL 5+) when unknown. */
uint32_t dbs__mys_type_code(const char *type_name);

/* Does a TABLE_MAP column of binlog type `real_type` fit a column
 * spelled `type_name`? (The same family: MY_T_LONG and "int", the BLOB
 * types and "text"/"json".) */
int dbs__mys_type_agrees(const char *type_name, uint32_t real_type);

#endif
