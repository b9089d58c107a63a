/*
 * libFuzzer target for the MySQL/MariaDB schema statement parser.
 *
 * Input: the event's current database, a NUL byte, then the statement
 * (without a NUL in its first 65 bytes, the whole input is the statement
 * and the database is "db"). The statement is parsed as the default
 * sql_mode and as ANSI_QUOTES + NO_BACKSLASH_ESCAPES + REAL_AS_FLOAT reads
 * it (the whole input is also read as a Query event's status), described,
 * its column changes classified, and the whole input read as a column
 * type. The results' promises are checked: a class of the three, changes
 * only with CHANGES, a reason with UNSUPPORTED, the fields each kind uses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/mysql/ddl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const dbs_mysql_ddl *d)
{
	if (d->cls != DBS_MYSQL_DDL_CHANGES && d->nchanges)
		abort();
	if (d->cls == DBS_MYSQL_DDL_UNSUPPORTED && d->why[0] == '\0')
		abort();
	for (uint32_t i = 0; i < d->nchanges; i++) {
		const dbs_mysql_ddl_change *c = &d->changes[i];
		if (!c->table.schema)
			abort();
		if (c->kind != DBS_MYSQL_DROP_SCHEMA && !c->table.name)
			abort();
		if ((c->kind == DBS_MYSQL_ADD_COLUMN || c->kind == DBS_MYSQL_MODIFY_COLUMN) &&
		    (!c->col || !c->col->name || !c->col->type.name))
			abort();
		if (c->kind == DBS_MYSQL_MODIFY_COLUMN && !c->column)
			abort();
		if (c->kind == DBS_MYSQL_ADD_INDEX && !c->index)
			abort();
		if (c->kind == DBS_MYSQL_RENAME_TABLE && !c->new_table.name)
			abort();
		if ((c->kind == DBS_MYSQL_RENAME_COLUMN || c->kind == DBS_MYSQL_RENAME_INDEX) &&
		    !c->new_name)
			abort();
		if (c->col && dbs__mysql_column_change(c->col, c->col) != DBS_MYSQL_CHANGE_SAME)
			abort();
		for (uint32_t k = 0; k < c->ncolumns; k++)
			if (!c->columns[k].name || !c->columns[k].type.name)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *db = "db", *sql = (const char *)data;
	size_t db_len = 2, len = size;
	const uint8_t *nul = memchr(data, 0, size < 65 ? size : 65);
	if (nul) {
		db = (const char *)data;
		db_len = (size_t)(nul - data);
		sql = (const char *)nul + 1;
		len = size - db_len - 1;
	}
	const dbs_mysql_coldef *prev = NULL;
	dbs_mysql_ddl *keep = NULL;
	for (unsigned flags = 0; flags <= 7; flags += 7) {
		dbs_mysql_ddl *d = NULL;
		if (dbs__mysql_ddl_parse(&d, sql, len, db, db_len, flags) != 0)
			continue;
		check(d);
		dbs_buf b = DBS_BUF_INIT;
		dbs__mysql_ddl_describe(d, &b);
		dbs_buf_free(&b);
		/* every column change against the one before it, both ways */
		for (uint32_t i = 0; i < d->nchanges; i++) {
			const dbs_mysql_coldef *c = d->changes[i].col;
			for (uint32_t k = 0; !c && k < d->changes[i].ncolumns; k++) {
				if (prev)
					dbs__mysql_column_change(prev, &d->changes[i].columns[k]);
				prev = &d->changes[i].columns[k];
			}
			if (!c)
				continue;
			if (prev) {
				dbs_mysql_change_class a = dbs__mysql_column_change(prev, c);
				dbs_mysql_change_class r = dbs__mysql_column_change(c, prev);
				/* a change that widens cannot widen back */
				if (a == DBS_MYSQL_CHANGE_WIDENS && r == DBS_MYSQL_CHANGE_WIDENS)
					abort();
				if ((a == DBS_MYSQL_CHANGE_SAME) != (r == DBS_MYSQL_CHANGE_SAME))
					abort();
			}
			prev = c;
		}
		if (keep)
			dbs__mysql_ddl_free(keep);
		keep = d;
	}
	dbs__mysql_ddl_free(keep);

	unsigned mode;
	if (dbs__mysql_ddl_flags(data, size, &mode) == 0 && mode > 15)
		abort();
	dbs_mysql_ddl *t = NULL;
	if (dbs__mysql_type_parse(&t, (const char *)data, size) == 0) {
		check(t);
		dbs__mysql_ddl_free(t);
	}
	return 0;
}
