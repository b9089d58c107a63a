/*
 * MySQL target: schema changes (DBS_OP_SCHEMA events). MySQL DDL commits
 * the transaction it meets, so what is open is committed first (with the
 * checkpoint of the last batch applied), the DDL runs on its own, and the
 * skeleton then commits the checkpoint row of the schema event: a restart
 * between the two applies the event again.
 *
 * So what to do is decided from the target's catalog, never from memory:
 * a change the catalog shows done is not done again, and an unsafe change
 * (a narrowing type, NOT NULL added, a primary key change, a statement
 * the source could not describe) is applied by nobody but the user: the
 * apply fails with the statement that would make the table match, and
 * once the table has the definition the same event passes.
 *
 * Column types come from the mapping CREATE TABLE uses (sqlmap.h, key
 * widths included). Whether a column already has its type is asked of the
 * server: the definition's columns are created as a temporary table
 * (which commits nothing) and SHOW COLUMNS of both compared, so "int" and
 * "int(11)" are one.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <dbstreams/sys/buf.h>

#include "sql/value_text.h"
#include "targets/mysql/my_target.h"

typedef struct col_state {
	int present, same_type, same_null;
} col_state;

/* One schema event being applied. */
typedef struct schema_ctx {
	my_target *t;
	const dbs_event *ev;
	const dbs_table *def;
	unsigned policy;
	dbs_sqltype *types; /* of def's columns, as CREATE TABLE maps them */
	const char *name;   /* the table's name on the target now */
	char label[256];    /* db.name, for messages */
	dbs_buf qname;      /* `db`.`name` */
	dbs_buf ddl;
	dbs_buf tmp;
	col_state *cols;
	int dropped;
} schema_ctx;

static int oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

static int set_name(schema_ctx *c, const char *name)
{
	c->name = name;
	dbs_fmt(c->label, sizeof c->label, "%s.%s", c->t->dsn.database, name);
	dbs_buf_reset(&c->qname);
	return dbs__myt_ident(&c->qname, c->t->dsn.database) ||
	               dbs_buf_append_char(&c->qname, '.') || dbs__myt_ident(&c->qname, name)
	           ? DBS_ENOMEM
	           : 0;
}

static int exec(schema_ctx *c, const dbs_buf *sql, char *err, size_t errlen)
{
	return dbs__myt_exec(c->t, sql->data, sql->len, c->label, err, errlen);
}

/* The rows of a query (mysql_free_result), NULL with err filled. */
static MYSQL_RES *rows(schema_ctx *c, const dbs_buf *sql, char *err, size_t errlen)
{
	MYSQL_RES *res = NULL;
	if (mysql_real_query(c->t->conn, sql->data, (unsigned long)sql->len) ||
	    !(res = mysql_store_result(c->t->conn)))
		dbs__myt_error(c->t, err, errlen, c->label);
	return res;
}

static int table_exists(schema_ctx *c, const char *name, int *exists, char *err, size_t errlen)
{
	dbs_table probe = *c->def;
	probe.name = name;
	return dbs__myt_table_exists(c->t, &probe, exists, err, errlen);
}

/* Whether `what` (a column, or an index by Key_name) exists. */
static int named_exists(schema_ctx *c, int index, const char *what, int *exists, char *err,
                        size_t errlen)
{
	dbs_buf *q = &c->tmp;
	MYSQL_RES *res;
	dbs_buf_reset(q);
	if (dbs_buf_appendf(q, "SHOW %s FROM %s WHERE %s = ", index ? "INDEX" : "COLUMNS",
	                    c->qname.data, index ? "Key_name" : "Field") ||
	    dbs__sql_append_literal(q, what, strlen(what)))
		return oom(err, errlen);
	if (!(res = rows(c, q, err, errlen)))
		return DBS_ETARGET;
	*exists = mysql_num_rows(res) > 0;
	mysql_free_result(res);
	return 0;
}

/* "`col` type [NOT NULL]" of column i. */
static int column_def(schema_ctx *c, dbs_buf *b, uint32_t i, char *err, size_t errlen)
{
	const dbs_column *col = &c->def->columns[i];
	int rc;
	if (dbs__myt_ident(b, col->name) || dbs_buf_append_char(b, ' '))
		return oom(err, errlen);
	rc = dbs__sqlmap_target_type(b, &c->types[i], DBS_DIALECT_MYSQL);
	if (rc == DBS_EINVAL) {
		dbs_fmt(err, errlen, "table %s: column %s has no type name", c->label, col->name);
		return DBS_ETARGET;
	}
	if (rc || ((col->flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) &&
	           dbs_buf_append_str(b, " NOT NULL")))
		return oom(err, errlen);
	return 0;
}

/* SHOW COLUMNS of `qname`: name, type, "YES"/"NO" per row. */
static MYSQL_RES *show_columns(schema_ctx *c, const char *qname, char *err, size_t errlen)
{
	dbs_buf *q = &c->tmp;
	dbs_buf_reset(q);
	if (dbs_buf_appendf(q, "SHOW COLUMNS FROM %s", qname)) {
		oom(err, errlen);
		return NULL;
	}
	return rows(c, q, err, errlen);
}

/* Compare the definition's columns with the target table (c->cols), and
 * count the target's columns into *ntarget. */
static int probe(schema_ctx *c, uint32_t *ntarget, char *err, size_t errlen)
{
	const dbs_table *def = c->def;
	dbs_buf *b = &c->ddl;
	MYSQL_RES *p = NULL, *tr = NULL;
	MYSQL_ROW row, trow;
	int rc;
	dbs_buf_reset(b);
	if (dbs_buf_append_str(b, "DROP TEMPORARY TABLE IF EXISTS dbs_probe; "
	                          "CREATE TEMPORARY TABLE dbs_probe ("))
		return oom(err, errlen);
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs_buf_append_str(b, ", ")) || (rc = column_def(c, b, i, err, errlen)))
			return rc ? rc : oom(err, errlen);
	if (dbs_buf_appendf(b, ") DEFAULT CHARSET=utf8mb4 COLLATE=%s", c->t->collation))
		return oom(err, errlen);
	if ((rc = exec(c, b, err, errlen)))
		return rc;
	rc = DBS_ETARGET;
	if (!(p = show_columns(c, "dbs_probe", err, errlen)) ||
	    !(tr = show_columns(c, c->qname.data, err, errlen)))
		goto done;
	memset(c->cols, 0, (def->ncolumns ? def->ncolumns : 1) * sizeof *c->cols);
	*ntarget = (uint32_t)mysql_num_rows(tr);
	while ((row = mysql_fetch_row(p))) {
		uint32_t i = 0;
		while (i < def->ncolumns && strcmp(def->columns[i].name, row[0]) != 0)
			i++;
		if (i == def->ncolumns)
			continue;
		mysql_data_seek(tr, 0);
		while ((trow = mysql_fetch_row(tr))) {
			if (strcasecmp(trow[0], row[0]) != 0)
				continue;
			c->cols[i].present = 1;
			c->cols[i].same_type = strcasecmp(trow[1], row[1]) == 0;
			c->cols[i].same_null = strcmp(trow[2], row[2]) == 0;
		}
	}
	rc = 0;
done:
	if (p)
		mysql_free_result(p);
	if (tr)
		mysql_free_result(tr);
	if (rc == 0) {
		static const char drop[] = "DROP TEMPORARY TABLE IF EXISTS dbs_probe";
		rc = dbs__myt_exec(c->t, drop, sizeof drop - 1, c->label, err, errlen);
	}
	return rc;
}

static int col_done(const col_state *s)
{
	return s->present && s->same_type && s->same_null;
}

static int refuse(schema_ctx *c, const char *why, const char *fix, char *err, size_t errlen)
{
	const char *stmt = c->ev->schema->statement;
	c->t->common.data_error = 0;
	dbs_fmt(err, errlen,
	        "table %s: schema change not applied: %s (source statement: %s). Make the target "
	        "table match%s%s, then resume the stream (same id)",
	        c->label, why, stmt && stmt[0] ? stmt : "not known",
	        fix ? ", for example with: " : "", fix ? fix : "");
	return DBS_ETARGET;
}

static void commit_time_text(const dbs_event *ev, char *buf, size_t size)
{
	time_t s = (time_t)(ev->commit_time_us / 1000000);
	long us = (long)(ev->commit_time_us % 1000000);
	struct tm tm;
	if (us < 0) {
		s--;
		us += 1000000;
	}
	gmtime_r(&s, &tm);
	dbs_fmt(buf, size, "%04d-%02d-%02d %02d:%02d:%02d.%06ld", tm.tm_year + 1900, tm.tm_mon + 1,
	        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

static int modify_sql(schema_ctx *c, uint32_t i, char *err, size_t errlen)
{
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s MODIFY COLUMN ", c->qname.data))
		return oom(err, errlen);
	return column_def(c, &c->ddl, i, err, errlen);
}

static int add_column(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	uint32_t i = ch->column, n;
	const dbs_column *col = &c->def->columns[i];
	dbs_buf *d = &c->ddl;
	int rc, drop_default = 0;
	char why[512], now[64];
	if ((rc = probe(c, &n, err, errlen)))
		return rc;
	if (c->cols[i].present) {
		if (c->cols[i].same_type)
			return 0; /* done before */
		dbs_fmt(why, sizeof why,
		        "column %s exists in the target with another type than the source's",
		        col->name);
		if ((rc = modify_sql(c, i, err, errlen)))
			return rc;
		return refuse(c, why, d->data, err, errlen);
	}
	dbs_buf_reset(d);
	if (dbs_buf_appendf(d, "ALTER TABLE %s ADD COLUMN ", c->qname.data))
		return oom(err, errlen);
	if ((rc = column_def(c, d, i, err, errlen)))
		return rc;
	why[0] = '\0';
	switch (ch->default_kind) {
	case DBS_DEFAULT_LITERAL:
		if (dbs_buf_append_str(d, " DEFAULT ") ||
		    dbs__sql_append_literal(d, ch->default_text ? ch->default_text : "",
		                            ch->default_text ? strlen(ch->default_text) : 0))
			return oom(err, errlen);
		break;
	case DBS_DEFAULT_NOW:
		/* The rows there got the time of the change at the source. */
		commit_time_text(c->ev, now, sizeof now);
		if (dbs_buf_appendf(d, " DEFAULT '%s'", now))
			return oom(err, errlen);
		drop_default = 1;
		break;
	case DBS_DEFAULT_EXPR:
		dbs_fmt(
		    why, sizeof why,
		    "column %s is added with the default expression %s, which the target cannot "
		    "evaluate as the source did for the rows already there",
		    col->name, ch->default_text ? ch->default_text : "(not known)");
		break;
	default: break; /* NOT NULL without a default: MySQL gives the rows the type's zero */
	}
	if (why[0])
		return refuse(c, why, d->data, err, errlen);
	if (ch->unsafe)
		return refuse(c, "the source marked the added column unsafe", d->data, err, errlen);
	if ((rc = exec(c, d, err, errlen)) || !drop_default)
		return rc;
	dbs_buf_reset(d);
	if (dbs_buf_appendf(d, "ALTER TABLE %s ALTER COLUMN ", c->qname.data) ||
	    dbs__myt_ident(d, col->name) || dbs_buf_append_str(d, " DROP DEFAULT"))
		return oom(err, errlen);
	return exec(c, d, err, errlen);
}

static int alter_column(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	uint32_t i = ch->column, n;
	const dbs_column *col = &c->def->columns[i];
	char why[512];
	int rc;
	if ((rc = probe(c, &n, err, errlen)))
		return rc;
	if (!c->cols[i].present) {
		dbs_fmt(why, sizeof why, "column %s does not exist in the target", col->name);
		dbs_buf_reset(&c->ddl);
		if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s ADD COLUMN ", c->qname.data) ||
		    (rc = column_def(c, &c->ddl, i, err, errlen)))
			return rc ? rc : oom(err, errlen);
		return refuse(c, why, c->ddl.data, err, errlen);
	}
	if (col_done(&c->cols[i]))
		return 0;
	if ((rc = modify_sql(c, i, err, errlen)))
		return rc;
	if (ch->unsafe) {
		dbs_fmt(
		    why, sizeof why,
		    "the change of column %s may not keep every value already there (a narrower "
		    "type, or NOT NULL added)",
		    col->name);
		return refuse(c, why, c->ddl.data, err, errlen);
	}
	return exec(c, &c->ddl, err, errlen);
}

static int rename_column(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	const char *to = c->def->columns[ch->column].name, *from = ch->from_name;
	int has_from = 0, has_to = 0, rc;
	char why[512];
	if (!from) {
		dbs_fmt(err, errlen, "table %s: a column rename without the old name", c->label);
		return DBS_EINVAL;
	}
	if ((rc = named_exists(c, 0, from, &has_from, err, errlen)) ||
	    (rc = named_exists(c, 0, to, &has_to, err, errlen)))
		return rc;
	/* MySQL column names ignore case: a rename that changes only the
	 * case finds both. */
	if (has_from && has_to && strcasecmp(from, to) != 0) {
		dbs_fmt(why, sizeof why, "columns %s and %s both exist in the target", from, to);
		return refuse(c, why, NULL, err, errlen);
	}
	if (!has_from && has_to)
		return 0; /* done before */
	/* RENAME COLUMN is MariaDB 10.5's and MySQL 8.0's; before them
	 * CHANGE, which restates the column's definition. */
	unsigned long ver = mysql_get_server_version(c->t->conn);
	int rename = ver >= 100500 || (ver >= 80000 && ver < 100000);
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s %s COLUMN ", c->qname.data,
	                    rename ? "RENAME" : "CHANGE") ||
	    dbs__myt_ident(&c->ddl, from) || dbs_buf_append_str(&c->ddl, rename ? " TO " : " "))
		return oom(err, errlen);
	if ((rc = rename ? (dbs__myt_ident(&c->ddl, to) ? DBS_ENOMEM : 0)
	                 : column_def(c, &c->ddl, ch->column, err, errlen)))
		return rc == DBS_ENOMEM ? oom(err, errlen) : rc;
	if (!has_from) {
		dbs_fmt(why, sizeof why, "column %s to rename to %s does not exist in the target",
		        from, to);
		return refuse(c, why, NULL, err, errlen);
	}
	if (ch->unsafe)
		return refuse(c, "the source marked the rename unsafe", c->ddl.data, err, errlen);
	return exec(c, &c->ddl, err, errlen);
}

static int drop_column(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	int exists = 0, rc;
	if (!ch->from_name) {
		dbs_fmt(err, errlen, "table %s: a dropped column without its name", c->label);
		return DBS_EINVAL;
	}
	if ((rc = named_exists(c, 0, ch->from_name, &exists, err, errlen)) || !exists)
		return rc;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s DROP COLUMN ", c->qname.data) ||
	    dbs__myt_ident(&c->ddl, ch->from_name))
		return oom(err, errlen);
	if (ch->unsafe)
		return refuse(c, "the source marked the dropped column unsafe", c->ddl.data, err,
		              errlen);
	return exec(c, &c->ddl, err, errlen);
}

static int alter_key(schema_ctx *c, char *err, size_t errlen)
{
	const dbs_table *def = c->def;
	dbs_buf *q = &c->tmp;
	MYSQL_RES *res;
	MYSQL_ROW row;
	int same = 1;
	uint32_t nkeys = 0, found = 0;
	dbs_buf_reset(q);
	if (dbs_buf_appendf(q, "SHOW INDEX FROM %s WHERE Key_name = 'PRIMARY'", c->qname.data))
		return oom(err, errlen);
	if (!(res = rows(c, q, err, errlen)))
		return DBS_ETARGET;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		nkeys += (def->columns[i].flags & DBS_COLUMN_KEY) != 0;
	while ((row = mysql_fetch_row(res))) {
		int key = 0;
		found++;
		for (uint32_t i = 0; i < def->ncolumns; i++)
			if (row[4] && strcasecmp(def->columns[i].name, row[4]) == 0)
				key = (def->columns[i].flags & DBS_COLUMN_KEY) != 0;
		same &= key;
	}
	mysql_free_result(res);
	if (same && found == nkeys)
		return 0;
	dbs_buf *d = &c->ddl;
	dbs_buf_reset(d);
	if (dbs_buf_appendf(d, "ALTER TABLE %s", c->qname.data) ||
	    (found && dbs_buf_append_str(d, " DROP PRIMARY KEY")) ||
	    (found && nkeys && dbs_buf_append_char(d, ',')) ||
	    (nkeys && dbs_buf_append_str(d, " ADD PRIMARY KEY (")))
		return oom(err, errlen);
	for (uint32_t i = 0, k = 0; i < def->ncolumns && nkeys; i++)
		if ((def->columns[i].flags & DBS_COLUMN_KEY) &&
		    ((k++ && dbs_buf_append_str(d, ", ")) ||
		     dbs__myt_ident(d, def->columns[i].name)))
			return oom(err, errlen);
	if (nkeys && dbs_buf_append_char(d, ')'))
		return oom(err, errlen);
	return refuse(c, "the primary key changed (rows the old key told apart may collide)",
	              d->data, err, errlen);
}

static int other_change(schema_ctx *c, const char *why, char *err, size_t errlen)
{
	uint32_t n = 0;
	int rc, done;
	if ((rc = probe(c, &n, err, errlen)))
		return rc;
	done = n == c->def->ncolumns;
	for (uint32_t i = 0; i < c->def->ncolumns; i++)
		done &= col_done(&c->cols[i]);
	if (done)
		return 0;
	dbs_buf *d = &c->ddl;
	dbs_buf_reset(d);
	if (dbs_buf_append_str(d, "the columns ("))
		return oom(err, errlen);
	for (uint32_t i = 0; i < c->def->ncolumns; i++)
		if ((i && dbs_buf_append_str(d, ", ")) || (rc = column_def(c, d, i, err, errlen)))
			return rc ? rc : oom(err, errlen);
	if (dbs_buf_append_char(d, ')'))
		return oom(err, errlen);
	return refuse(c, why, d->data, err, errlen);
}

static void tables_forget(my_target *t, const char *name)
{
	size_t keep = 0;
	for (size_t i = 0; i < t->ntables; i++) {
		my_table *tb = t->tables[i];
		if (strcmp(tb->def->name, name) == 0) {
			dbs__myt_table_free(tb);
			continue;
		}
		t->tables[keep++] = tb;
	}
	t->ntables = keep;
}

static int rename_table(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	int old_exists = 0, new_exists = 0, rc = 0;
	char why[512];
	if (!ch->from_name) {
		dbs_fmt(err, errlen, "table %s: a table rename without the old name", c->label);
		return DBS_EINVAL;
	}
	if ((rc = table_exists(c, c->def->name, &new_exists, err, errlen)) ||
	    (rc = table_exists(c, ch->from_name, &old_exists, err, errlen)))
		return rc;
	if (set_name(c, ch->from_name))
		return oom(err, errlen);
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "RENAME TABLE %s TO ", c->qname.data) ||
	    dbs__myt_ident(&c->ddl, c->t->dsn.database) || dbs_buf_append_char(&c->ddl, '.') ||
	    dbs__myt_ident(&c->ddl, c->def->name))
		return oom(err, errlen);
	if (old_exists && new_exists) {
		dbs_fmt(why, sizeof why, "tables %s and %s both exist in the target", ch->from_name,
		        c->def->name);
		rc = refuse(c, why, NULL, err, errlen);
	} else if (old_exists && ch->unsafe) {
		rc = refuse(c, "the source marked the rename unsafe", c->ddl.data, err, errlen);
	} else if (old_exists) {
		rc = exec(c, &c->ddl, err, errlen);
	}
	tables_forget(c->t, ch->from_name);
	if (rc == 0 && set_name(c, c->def->name))
		return oom(err, errlen);
	return rc;
}

static int drop_or_truncate(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	int drop = ch->kind == DBS_SCHEMA_DROP_TABLE, exists = 0, rc;
	unsigned need = drop ? DBS_SCHEMA_POLICY_DROP_TABLE : DBS_SCHEMA_POLICY_TRUNCATE;
	if (!(c->policy & need)) {
		dbs__myt_log(
		    c->t, DBS_LOG_WARN,
		    "%s: %s of the source not applied (target.options.schemaChanges lacks %s)",
		    c->label, drop ? "DROP TABLE" : "TRUNCATE", drop ? "dropTable" : "truncate");
		return 0;
	}
	if ((rc = table_exists(c, c->name, &exists, err, errlen)) || !exists)
		return rc;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "%s %s", drop ? "DROP TABLE" : "TRUNCATE TABLE",
	                    c->qname.data))
		return oom(err, errlen);
	if ((rc = exec(c, &c->ddl, err, errlen)))
		return rc;
	c->dropped |= drop;
	return 0;
}

static int index_change(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	const dbs_sql_table_option *opt = dbs__myt_table_option(c->t, c->def);
	const char *name;
	int exists = 0, rc;
	my_table *tb;
	if (c->t->common.settings->no_create_tables || (opt && opt->no_create_indexes))
		return 0;
	if (ch->kind == DBS_SCHEMA_ADD_INDEX && ch->column >= c->def->nindexes) {
		dbs_fmt(err, errlen,
		        "table %s: an added index %" PRIu32 " past the %" PRIu32
		        " indexes of the definition",
		        c->label, ch->column, c->def->nindexes);
		return DBS_EINVAL;
	}
	name = ch->kind == DBS_SCHEMA_ADD_INDEX ? c->def->indexes[ch->column].name : ch->from_name;
	if (!name)
		return 0;
	if ((rc = named_exists(c, 1, name, &exists, err, errlen)))
		return rc;
	if (ch->kind == DBS_SCHEMA_ADD_INDEX) {
		if (exists)
			return 0;
		tables_forget(c->t, c->def->name);
		if ((rc = dbs__myt_table_get(c->t, c->def, &tb, err, errlen)))
			return rc;
		return dbs__myt_index_create(c->t, tb, &c->def->indexes[ch->column], err, errlen);
	}
	if (!exists)
		return 0;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_append_str(&c->ddl, "DROP INDEX ") || dbs__myt_ident(&c->ddl, name) ||
	    dbs_buf_appendf(&c->ddl, " ON %s", c->qname.data))
		return oom(err, errlen);
	return exec(c, &c->ddl, err, errlen);
}

/* The table of the definition (created when missing unless
 * noCreateTables), in the cache for the rows that follow. */
static int table_ready(schema_ctx *c, char *err, size_t errlen)
{
	my_table *tb;
	tables_forget(c->t, c->def->name);
	return dbs__myt_table_get(c->t, c->def, &tb, err, errlen);
}

static int change_apply(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	int exists = 0, rc;
	if (c->policy & DBS_SCHEMA_POLICY_NONE)
		return refuse(c, "target.options.schemaChanges is \"none\"", NULL, err, errlen);
	switch (ch->kind) {
	case DBS_SCHEMA_CREATE_TABLE:
		/* A table of that name already there must be the new one (made
		 * before, or by the user), never an older one whose DROP TABLE
		 * the policy skipped. */
		if ((rc = table_exists(c, c->name, &exists, err, errlen)))
			return rc;
		if (exists)
			return other_change(
			    c,
			    "a table of that name exists in the target with another "
			    "definition (was its DROP TABLE skipped? see "
			    "target.options.schemaChanges)",
			    err, errlen);
		return c->t->common.settings->no_create_tables ? 0 : table_ready(c, err, errlen);
	case DBS_SCHEMA_DROP_TABLE:
	case DBS_SCHEMA_TRUNCATE_TABLE: return drop_or_truncate(c, ch, err, errlen);
	case DBS_SCHEMA_RENAME_TABLE: return rename_table(c, ch, err, errlen);
	case DBS_SCHEMA_ADD_COLUMN:
	case DBS_SCHEMA_RENAME_COLUMN:
	case DBS_SCHEMA_ALTER_COLUMN:
		if (ch->column >= c->def->ncolumns) {
			dbs_fmt(err, errlen,
			        "table %s: a changed column %" PRIu32 " past the %" PRIu32
			        " columns of the definition",
			        c->label, ch->column, c->def->ncolumns);
			return DBS_EINVAL;
		}
		break;
	default: break;
	}
	/* A table that never reached the target is made as it is now. */
	if ((rc = table_exists(c, c->name, &exists, err, errlen)))
		return rc;
	if (!exists) {
		if (c->t->common.settings->no_create_tables)
			return refuse(c, "the table does not exist in the target (noCreateTables)",
			              NULL, err, errlen);
		return table_ready(c, err, errlen);
	}
	switch (ch->kind) {
	case DBS_SCHEMA_ADD_COLUMN: return add_column(c, ch, err, errlen);
	case DBS_SCHEMA_DROP_COLUMN: return drop_column(c, ch, err, errlen);
	case DBS_SCHEMA_RENAME_COLUMN: return rename_column(c, ch, err, errlen);
	case DBS_SCHEMA_ALTER_COLUMN: return alter_column(c, ch, err, errlen);
	case DBS_SCHEMA_ADD_INDEX:
	case DBS_SCHEMA_DROP_INDEX: return index_change(c, ch, err, errlen);
	case DBS_SCHEMA_ALTER_KEY: return alter_key(c, err, errlen);
	default: return other_change(c, "the source could not describe the change", err, errlen);
	}
}

/*
 * Writers sharing a stream are each given the change: a named lock of
 * the target database lets one apply it while the others wait, and then
 * find it done in the catalog (else the second ADD COLUMN would wait for
 * the first's metadata lock and then fail on the column it added). A
 * session's named lock outlives the commits of DDL.
 */
static int schema_lock(my_target *t, int take, char *err, size_t errlen)
{
	dbs_buf *q = &t->tmp;
	char name[64];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	dbs_fmt(name, sizeof name, "dbstreams_schema_%.40s", t->dsn.database);
	dbs_buf_reset(q);
	if (dbs_buf_append_str(q, take ? "SELECT GET_LOCK(" : "SELECT RELEASE_LOCK(") ||
	    dbs__sql_append_literal(q, name, strlen(name)) ||
	    dbs_buf_append_str(q, take ? ", 600)" : ")"))
		return oom(err, errlen);
	if (mysql_real_query(t->conn, q->data, (unsigned long)q->len) ||
	    !(res = mysql_store_result(t->conn))) {
		dbs__myt_error(t, err, errlen, "waiting for other writers' schema changes");
		return DBS_ETARGET;
	}
	row = mysql_fetch_row(res);
	int got = row && row[0] && strcmp(row[0], "1") == 0;
	mysql_free_result(res);
	if (take && !got) {
		dbs_fmt(err, errlen,
		        "waiting for other writers' schema changes: lock %s not granted in 600 s",
		        name);
		return DBS_ETARGET;
	}
	return 0;
}

int dbs__myt_schema(dbs_sqltarget *common, const dbs_event *ev, char *err, size_t errlen)
{
	my_target *t = (my_target *)common;
	const dbs_schema_event *se = ev ? ev->schema : NULL;
	schema_ctx c = {.t = t, .ev = ev, .def = ev ? ev->table : NULL};
	int rc, locked = 0;
	if (!se || !c.def || !c.def->name) {
		dbs_fmt(err, errlen, "a schema change without its table or changes");
		return DBS_EINVAL;
	}
	/* MySQL DDL commits: what is open is committed first, with the
	 * checkpoint of the last batch applied. */
	if ((rc = dbs__sqltarget_commit_open(common, err, errlen)))
		return rc;
	dbs__myt_packet_reset(t);
	t->apply_no++;
	if ((rc = schema_lock(t, 1, err, errlen)))
		return rc;
	locked = 1;
	c.policy = dbs__sql_schema_policy(t->common.settings);
	size_t nc = c.def->ncolumns ? c.def->ncolumns : 1;
	if (!(c.cols = calloc(nc, sizeof *c.cols)) || !(c.types = calloc(nc, sizeof *c.types))) {
		rc = oom(err, errlen);
		goto done;
	}
	for (uint32_t i = 0; i < c.def->ncolumns; i++)
		dbs__sqlmap_parse(c.def, &c.def->columns[i], &c.types[i]);
	dbs__sqlmap_key_widths(c.types, c.def->ncolumns);
	const char *start = c.def->name;
	for (uint32_t k = 0; k < se->nchanges; k++)
		if (se->changes[k].kind == DBS_SCHEMA_RENAME_TABLE && se->changes[k].from_name) {
			start = se->changes[k].from_name;
			break;
		}
	if (set_name(&c, start)) {
		rc = oom(err, errlen);
		goto done;
	}
	for (uint32_t k = 0; k < se->nchanges; k++)
		if ((rc = change_apply(&c, &se->changes[k], err, errlen)))
			goto done;
	tables_forget(t, c.def->name);
	if (!c.dropped && !(c.policy & DBS_SCHEMA_POLICY_NONE) &&
	    !(se->nchanges == 1 && se->changes[0].kind == DBS_SCHEMA_DROP_TABLE) &&
	    !t->common.settings->no_create_tables) {
		my_table *tb;
		rc = dbs__myt_table_get(t, c.def, &tb, err, errlen);
	}
	if (rc == 0)
		dbs__myt_log(t, DBS_LOG_INFO, "%s: schema change applied: %s", c.label,
		             se->statement ? se->statement : "(statement not known)");
	/* The skeleton commits the checkpoint row of the event next: in a
	 * transaction, as every batch's. */
	if (rc == 0 && (dbs_buf_append_str(&t->sql, "START TRANSACTION") ||
	                dbs__myt_stmt_push(t, NULL, 0, 0, "starting the transaction")))
		rc = oom(err, errlen);
done:
	if (locked && t->conn) {
		char ignore[DBS_ERRMSG_MAX];
		int lrc = schema_lock(t, 0, rc ? ignore : err, rc ? sizeof ignore : errlen);
		if (rc == 0)
			rc = lrc;
	}
	if (rc) {
		t->common.data_error = 0; /* not a row's data: no row-by-row replay */
		dbs__myt_packet_reset(t);
	}
	free(c.cols);
	free(c.types);
	dbs_buf_free(&c.qname);
	dbs_buf_free(&c.ddl);
	dbs_buf_free(&c.tmp);
	return rc;
}
