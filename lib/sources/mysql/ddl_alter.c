/*
 * The schema-statement parser's ALTER TABLE (ddl_parse.h): each
 * specification as the changes it makes; those that change rows the
 * binlog does not carry are refused. Kept apart from the other statements
 * (ddl.c): its specifications are most of the grammar.
 */
#include "sources/mysql/ddl_parse.h"

/* ---- specifications ---- */

static int alter_add(parser *p, const dbs_mysql_tref *table)
{
	int column = dbs__ddl_accept_kw(p, "COLUMN");
	uint8_t ine = (uint8_t)dbs__ddl_accept_if_not_exists(p);
	if (p->stop)
		return -1;
	if (!column && dbs__ddl_is_kw_in(p, dbs__ddl_index_start)) {
		dbs_mysql_index ix;
		if (dbs__ddl_index_def(p, &ix, &ine) != 0)
			return -1;
		return dbs__ddl_add_index_change(p, table, &ix, ine);
	}
	if (!column && dbs__ddl_accept_kw(p, "PARTITION")) {
		/* new empty partitions: no row moves */
		dbs__ddl_accept_if_not_exists(p);
		return dbs__ddl_skip_clause(p);
	}
	if (!column && ((dbs__ddl_is_kw(p, "PERIOD") && dbs__ddl_next_is_kw(p, "FOR")) ||
	                (dbs__ddl_is_kw(p, "SYSTEM") && dbs__ddl_next_is_kw(p, "VERSIONING")))) {
		dbs__ddl_fail(p, "system versioning and periods cannot be replicated");
		return -1;
	}
	if (dbs__ddl_accept_punct(p, '(')) {
		for (;;) {
			if (dbs__ddl_is_kw_in(p, dbs__ddl_index_start)) {
				dbs_mysql_index ix;
				uint8_t ix_ine = ine;
				if (dbs__ddl_index_def(p, &ix, &ix_ine) != 0 ||
				    dbs__ddl_add_index_change(p, table, &ix, ix_ine) != 0)
					return -1;
			} else if (dbs__ddl_column_change(p, DBS_MYSQL_ADD_COLUMN, table, NULL,
			                                  ine) != 0)
				return -1;
			if (!dbs__ddl_accept_punct(p, ','))
				break;
		}
		return dbs__ddl_expect_punct(p, ')');
	}
	return dbs__ddl_column_change(p, DBS_MYSQL_ADD_COLUMN, table, NULL, ine);
}

static int alter_drop(parser *p, const dbs_mysql_tref *table)
{
	dbs_mysql_ddl_change *c;
	if (dbs__ddl_accept_kw(p, "PRIMARY")) {
		if (dbs__ddl_expect_kw(p, "KEY") != 0)
			return -1;
		return dbs__ddl_add_change(p, DBS_MYSQL_DROP_PRIMARY_KEY, table) ? 0 : -1;
	}
	dbs_mysql_ddl_kind kind = DBS_MYSQL_DROP_COLUMN;
	if (dbs__ddl_accept_kw(p, "INDEX") || dbs__ddl_accept_kw(p, "KEY"))
		kind = DBS_MYSQL_DROP_INDEX;
	else if (dbs__ddl_accept_kw(p, "FOREIGN")) {
		if (dbs__ddl_expect_kw(p, "KEY") != 0)
			return -1;
		kind = DBS_MYSQL_DROP_FOREIGN_KEY;
	} else if (dbs__ddl_accept_kw(p, "CONSTRAINT") || dbs__ddl_accept_kw(p, "CHECK"))
		kind = DBS_MYSQL_DROP_CONSTRAINT;
	else if (dbs__ddl_is_kw(p, "PARTITION")) {
		dbs__ddl_fail(p, "DROP PARTITION deletes rows the binlog does not carry");
		return -1;
	} else if ((dbs__ddl_is_kw(p, "SYSTEM") && dbs__ddl_next_is_kw(p, "VERSIONING")) ||
	           (dbs__ddl_is_kw(p, "PERIOD") && dbs__ddl_next_is_kw(p, "FOR"))) {
		dbs__ddl_fail(p, "system versioning and periods cannot be replicated");
		return -1;
	} else
		dbs__ddl_accept_kw(p, "COLUMN");
	uint8_t ie = (uint8_t)dbs__ddl_accept_if_exists(p);
	const char *name =
	    dbs__ddl_ident(p, kind == DBS_MYSQL_DROP_COLUMN ? "a column name" : "a name");
	if (!name)
		return -1;
	if (kind == DBS_MYSQL_DROP_INDEX && dbs__mysql_ddl_name_eq(name, "PRIMARY"))
		kind = DBS_MYSQL_DROP_PRIMARY_KEY;
	if (!(c = dbs__ddl_add_change(p, kind, table)))
		return -1;
	c->if_exists = ie;
	if (kind == DBS_MYSQL_DROP_COLUMN)
		c->column = name;
	else if (kind != DBS_MYSQL_DROP_PRIMARY_KEY)
		c->name = name;
	if (kind == DBS_MYSQL_DROP_COLUMN && !dbs__ddl_accept_kw(p, "RESTRICT"))
		dbs__ddl_accept_kw(p, "CASCADE");
	return 0;
}

static int alter_alter(parser *p, const dbs_mysql_tref *table)
{
	if (dbs__ddl_accept_kw(p, "INDEX") || dbs__ddl_accept_kw(p, "KEY") ||
	    dbs__ddl_accept_kw(p, "CHECK") || dbs__ddl_accept_kw(p, "CONSTRAINT")) {
		/* visibility or enforcement: nothing a replica keeps */
		if (!dbs__ddl_ident(p, "a name"))
			return -1;
		return dbs__ddl_skip_clause(p);
	}
	dbs__ddl_accept_kw(p, "COLUMN");
	uint8_t ie = (uint8_t)dbs__ddl_accept_if_exists(p);
	if (p->stop)
		return -1;
	const char *col = dbs__ddl_ident(p, "a column name");
	if (!col)
		return -1;
	dbs_mysql_ddl_change *c;
	if (dbs__ddl_accept_kw(p, "SET")) {
		if (dbs__ddl_accept_kw(p, "VISIBLE") || dbs__ddl_accept_kw(p, "INVISIBLE"))
			return 0;
		if (dbs__ddl_expect_kw(p, "DEFAULT") != 0 ||
		    !(c = dbs__ddl_add_change(p, DBS_MYSQL_SET_DEFAULT, table)))
			return -1;
		c->column = col;
		c->if_exists = ie;
		return dbs__ddl_default_value(p, &c->def);
	}
	if (dbs__ddl_expect_kw(p, "DROP") != 0 || dbs__ddl_expect_kw(p, "DEFAULT") != 0 ||
	    !(c = dbs__ddl_add_change(p, DBS_MYSQL_DROP_DEFAULT, table)))
		return -1;
	c->column = col;
	c->if_exists = ie;
	return 0;
}

static int alter_modify(parser *p, const dbs_mysql_tref *table, int change)
{
	dbs__ddl_accept_kw(p, "COLUMN");
	uint8_t ie = (uint8_t)dbs__ddl_accept_if_exists(p);
	if (p->stop)
		return -1;
	const char *old = NULL;
	if (change && !(old = dbs__ddl_ident(p, "a column name")))
		return -1;
	return dbs__ddl_column_change(p, DBS_MYSQL_MODIFY_COLUMN, table, old, ie);
}

static int alter_rename(parser *p, const dbs_mysql_tref *table)
{
	dbs_mysql_ddl_change *c;
	if (dbs__ddl_is_kw(p, "COLUMN") || dbs__ddl_is_kw(p, "INDEX") || dbs__ddl_is_kw(p, "KEY")) {
		int column = dbs__ddl_is_kw(p, "COLUMN");
		dbs__ddl_advance(p);
		uint8_t ie = (uint8_t)dbs__ddl_accept_if_exists(p);
		if (p->stop)
			return -1;
		const char *a = dbs__ddl_ident(p, "a name");
		if (!a || dbs__ddl_expect_kw(p, "TO") != 0)
			return -1;
		const char *b = dbs__ddl_ident(p, "a name");
		if (!b)
			return -1;
		if (!(c = dbs__ddl_add_change(
		          p, column ? DBS_MYSQL_RENAME_COLUMN : DBS_MYSQL_RENAME_INDEX, table)))
			return -1;
		if (column)
			c->column = a;
		else
			c->name = a;
		c->new_name = b;
		c->if_exists = ie;
		return 0;
	}
	if (!dbs__ddl_accept_kw(p, "TO") && !dbs__ddl_accept_kw(p, "AS"))
		dbs__ddl_accept_punct(p, '=');
	dbs_mysql_tref to;
	if (dbs__ddl_table_ref(p, &to) != 0 ||
	    !(c = dbs__ddl_add_change(p, DBS_MYSQL_RENAME_TABLE, table)))
		return -1;
	c->new_table = to;
	return 0;
}

/* Partition maintenance: which keep the rows in place, which do not. */
static int alter_partition_op(parser *p)
{
	static const char *const keep[] = {"ANALYZE", "CHECK",    "OPTIMIZE",   "REBUILD",
	                                   "REPAIR",  "COALESCE", "REORGANIZE", NULL};
	int keeps = dbs__ddl_is_kw_in(p, keep);
	char b[48];
	dbs__ddl_tok_show(p, b, sizeof b);
	dbs__ddl_advance(p);
	if (!dbs__ddl_is_kw(p, "PARTITION")) {
		dbs__ddl_unexpected(p, "PARTITION");
		return -1;
	}
	if (!keeps) {
		dbs__ddl_fail(p, "%s PARTITION changes rows the binlog does not carry", b);
		return -1;
	}
	return dbs__ddl_skip_clause(p);
}

static int alter_spec(parser *p, const dbs_mysql_tref *table)
{
	static const char *const partition_ops[] = {
	    "ANALYZE",    "CHECK",    "OPTIMIZE", "REBUILD", "REPAIR", "COALESCE",
	    "REORGANIZE", "TRUNCATE", "EXCHANGE", "DISCARD", "IMPORT", NULL};
	if (dbs__ddl_accept_kw(p, "ADD"))
		return alter_add(p, table);
	if (dbs__ddl_accept_kw(p, "DROP"))
		return alter_drop(p, table);
	if (dbs__ddl_accept_kw(p, "ALTER"))
		return alter_alter(p, table);
	if (dbs__ddl_accept_kw(p, "CHANGE"))
		return alter_modify(p, table, 1);
	if (dbs__ddl_accept_kw(p, "MODIFY"))
		return alter_modify(p, table, 0);
	if (dbs__ddl_accept_kw(p, "RENAME"))
		return alter_rename(p, table);
	if (dbs__ddl_is_kw(p, "CONVERT")) {
		parser save = *p;
		dbs__ddl_advance(p);
		if (dbs__ddl_is_kw(p, "PARTITION") || dbs__ddl_is_kw(p, "TABLE")) {
			*p = save;
			return alter_partition_op(p);
		}
		if (dbs__ddl_expect_kw(p, "TO") != 0)
			return -1;
		if (!dbs__ddl_accept_kw(p, "CHARSET")) {
			if (!dbs__ddl_accept_kw(p, "CHARACTER") &&
			    dbs__ddl_expect_kw(p, "CHAR") != 0)
				return -1;
			if (dbs__ddl_expect_kw(p, "SET") != 0)
				return -1;
		}
		const char *cs = dbs__ddl_cs_name(p, "a character set");
		if (!cs)
			return -1;
		const char *coll = NULL;
		if (dbs__ddl_accept_kw(p, "COLLATE") &&
		    !(coll = dbs__ddl_cs_name(p, "a collation")))
			return -1;
		dbs_mysql_ddl_change *c = dbs__ddl_add_change(p, DBS_MYSQL_CONVERT_CHARSET, table);
		if (!c)
			return -1;
		c->charset = cs;
		c->collation = coll;
		return 0;
	}
	if (dbs__ddl_is_kw_in(p, partition_ops)) {
		parser save = *p;
		dbs__ddl_advance(p);
		int part = dbs__ddl_is_kw(p, "PARTITION");
		*p = save;
		if (part)
			return alter_partition_op(p);
		if (dbs__ddl_accept_kw(p, "DISCARD") || dbs__ddl_accept_kw(p, "IMPORT")) {
			dbs__ddl_fail(
			    p,
			    "a tablespace discarded or imported changes rows the binlog does not "
			    "carry");
			return -1;
		}
	}
	if (dbs__ddl_accept_kw(p, "ORDER")) {
		if (dbs__ddl_expect_kw(p, "BY") != 0)
			return -1;
		return dbs__ddl_skip_clause(p);
	}
	if (dbs__ddl_is_kw(p, "ALGORITHM") || dbs__ddl_is_kw(p, "LOCK"))
		return dbs__ddl_algorithm_lock(p);
	if (dbs__ddl_accept_kw(p, "ENABLE") || dbs__ddl_accept_kw(p, "DISABLE"))
		return dbs__ddl_expect_kw(p, "KEYS");
	if (dbs__ddl_accept_kw(p, "FORCE"))
		return 0;
	if (dbs__ddl_accept_kw(p, "WITH") || dbs__ddl_accept_kw(p, "WITHOUT")) {
		if (dbs__ddl_accept_kw(p, "VALIDATION"))
			return 0;
		dbs__ddl_fail(p, "system versioning cannot be replicated");
		return -1;
	}
	if (dbs__ddl_is_kw(p, "PARTITION")) {
		dbs__ddl_advance(p);
		if (!dbs__ddl_is_kw(p, "BY")) {
			dbs__ddl_unexpected(p, "BY");
			return -1;
		}
		return dbs__ddl_skip_partitioning(p);
	}
	if (dbs__ddl_accept_kw(p, "REMOVE"))
		return dbs__ddl_expect_kw(p, "PARTITIONING");
	int r = dbs__ddl_table_option(p);
	if (r == 0) {
		char b[48];
		dbs__ddl_fail(p, "ALTER TABLE specification '%s' not understood",
		              dbs__ddl_tok_show(p, b, sizeof b));
		return -1;
	}
	return r > 0 ? 0 : -1;
}

/* ALTER TABLE, after the word TABLE. */
int dbs__ddl_alter_table(parser *p)
{
	dbs__ddl_accept_if_exists(p);
	dbs_mysql_tref table;
	if (p->stop || dbs__ddl_table_ref(p, &table) != 0)
		return -1;
	while (!dbs__ddl_at_end(p)) {
		if (alter_spec(p, &table) != 0)
			return -1;
		/* specifications are separated by commas; options and PARTITION BY need none */
		if (dbs__ddl_accept_punct(p, ',') && dbs__ddl_at_end(p)) {
			dbs__ddl_unexpected(p, "a specification");
			return -1;
		}
	}
	return 0;
}
