/*
 * MySQL target: schema changes (DBS_OP_SCHEMA events), the dialect's part
 * of lib/sql/schema.c. MySQL DDL commits the transaction it meets, so what
 * is open is committed first (with the checkpoint of the last batch
 * applied), the DDL runs on its own, and the skeleton then commits the
 * checkpoint row of the schema event: a restart between the two applies
 * the event again, which finds it done in the catalog.
 *
 * Column types come from the mapping CREATE TABLE uses (sqlmap.h, key
 * widths included). Whether a column already has its type is asked of the
 * server: the definition's columns are created as a temporary table
 * (which commits nothing) and SHOW COLUMNS of both compared, so "int" and
 * "int(11)" are one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dbstreams/sys/buf.h>

#include "sql/schema.h"
#include "sql/value_text.h"
#include "targets/mysql/my_target.h"

#define oom dbs__sqlschema_oom

static my_target *my(dbs_sqlschema *c)
{
	return (my_target *)c->t;
}

/* Of the definition's columns, as CREATE TABLE maps them. */
static dbs_sqltype *types(dbs_sqlschema *c)
{
	return c->dialect;
}

static int ident(dbs_buf *b, const char *name)
{
	return dbs__myt_ident(b, name);
}

/* The rows of a query (mysql_free_result), NULL with err filled. */
static MYSQL_RES *rows(dbs_sqlschema *c, const dbs_buf *sql, char *err, size_t errlen)
{
	MYSQL_RES *res = NULL;
	if (mysql_real_query(my(c)->conn, sql->data, (unsigned long)sql->len) ||
	    !(res = mysql_store_result(my(c)->conn)))
		dbs__myt_error(my(c), err, errlen, c->label);
	return res;
}

static const char *schema_of(dbs_sqlschema *c, const char *schema)
{
	(void)schema; /* every table is in the target's database */
	return my(c)->dsn.database;
}

static int table_exists(dbs_sqlschema *c, int *exists, int *schema_exists, char *err,
                        size_t errlen)
{
	dbs_table probe = *c->def;
	probe.name = c->name;
	*schema_exists = 1;
	return dbs__myt_table_exists(my(c), &probe, exists, err, errlen);
}

/* Whether `what` (a column, or an index by Key_name) exists. */
static int named_exists(dbs_sqlschema *c, int index, const char *what, int *exists, char *err,
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

static int column_exists(dbs_sqlschema *c, const char *column, int *exists, char *err,
                         size_t errlen)
{
	return named_exists(c, 0, column, exists, err, errlen);
}

static int column_type(dbs_sqlschema *c, dbs_buf *b, uint32_t i, char *err, size_t errlen)
{
	int rc = dbs__sqlmap_target_type(b, &types(c)[i], DBS_DIALECT_MYSQL);
	if (rc == DBS_EINVAL) {
		dbs_fmt(err, errlen, "table %s: column %s has no type name", c->label,
		        c->def->columns[i].name);
		return DBS_ETARGET;
	}
	return rc ? oom(err, errlen) : 0;
}

/* SHOW COLUMNS of `qname`: name, type, "YES"/"NO" per row. */
static MYSQL_RES *show_columns(dbs_sqlschema *c, const char *qname, char *err, size_t errlen)
{
	dbs_buf *q = &c->tmp;
	dbs_buf_reset(q);
	if (dbs_buf_appendf(q, "SHOW COLUMNS FROM %s", qname)) {
		oom(err, errlen);
		return NULL;
	}
	return rows(c, q, err, errlen);
}

static int probe(dbs_sqlschema *c, uint32_t *ntarget, char *err, size_t errlen)
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
		if ((i && dbs_buf_append_str(b, ", ")) ||
		    (rc = dbs__sqlschema_column_def(c, b, i, err, errlen)))
			return rc ? rc : oom(err, errlen);
	if (dbs_buf_appendf(b, ") DEFAULT CHARSET=utf8mb4 COLLATE=%s", my(c)->collation))
		return oom(err, errlen);
	if ((rc = dbs__myt_exec(my(c), b->data, b->len, c->label, err, errlen)))
		return rc;
	rc = DBS_ETARGET;
	if (!(p = show_columns(c, "dbs_probe", err, errlen)) ||
	    !(tr = show_columns(c, c->qname.data, err, errlen)))
		goto done;
	memset(c->cols, 0, (def->ncolumns ? def->ncolumns : 1) * sizeof *c->cols);
	for (uint32_t i = 0; i < def->ncolumns; i++)
		c->cols[i].same_check = 1; /* MySQL has no CHECK of a mapped type */
	if (ntarget)
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
		rc = dbs__myt_exec(my(c), drop, sizeof drop - 1, c->label, err, errlen);
	}
	return rc;
}

static int alter_sql(dbs_sqlschema *c, uint32_t i, char *err, size_t errlen)
{
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s MODIFY COLUMN ", c->qname.data))
		return oom(err, errlen);
	return dbs__sqlschema_column_def(c, &c->ddl, i, err, errlen);
}

static int rename_column_sql(dbs_sqlschema *c, const char *from, uint32_t i, char *err,
                             size_t errlen)
{
	/* RENAME COLUMN is MariaDB 10.5's and MySQL 8.0's; before them
	 * CHANGE, which restates the column's definition. */
	unsigned long ver = mysql_get_server_version(my(c)->conn);
	int rename = ver >= 100500 || (ver >= 80000 && ver < 100000);
	int rc;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s %s COLUMN ", c->qname.data,
	                    rename ? "RENAME" : "CHANGE") ||
	    ident(&c->ddl, from) || dbs_buf_append_str(&c->ddl, rename ? " TO " : " "))
		return oom(err, errlen);
	if ((rc = rename ? (ident(&c->ddl, c->def->columns[i].name) ? DBS_ENOMEM : 0)
	                 : dbs__sqlschema_column_def(c, &c->ddl, i, err, errlen)))
		return rc == DBS_ENOMEM ? oom(err, errlen) : rc;
	return 0;
}

static int key_sql(dbs_sqlschema *c, int *same, char *err, size_t errlen)
{
	const dbs_table *def = c->def;
	dbs_buf *q = &c->tmp, *d = &c->ddl;
	MYSQL_RES *res;
	MYSQL_ROW row;
	uint32_t nkeys = 0, found = 0;
	dbs_buf_reset(q);
	if (dbs_buf_appendf(q, "SHOW INDEX FROM %s WHERE Key_name = 'PRIMARY'", c->qname.data))
		return oom(err, errlen);
	if (!(res = rows(c, q, err, errlen)))
		return DBS_ETARGET;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		nkeys += (def->columns[i].flags & DBS_COLUMN_KEY) != 0;
	*same = 1;
	while ((row = mysql_fetch_row(res))) {
		int key = 0;
		found++;
		for (uint32_t i = 0; i < def->ncolumns; i++)
			if (row[4] && strcasecmp(def->columns[i].name, row[4]) == 0)
				key = (def->columns[i].flags & DBS_COLUMN_KEY) != 0;
		*same &= key;
	}
	mysql_free_result(res);
	if ((*same = *same && found == nkeys))
		return 0;
	dbs_buf_reset(d);
	if (dbs_buf_appendf(d, "ALTER TABLE %s", c->qname.data) ||
	    (found && dbs_buf_append_str(d, " DROP PRIMARY KEY")) ||
	    (found && nkeys && dbs_buf_append_char(d, ',')) ||
	    (nkeys && dbs_buf_append_str(d, " ADD PRIMARY KEY (")))
		return oom(err, errlen);
	for (uint32_t i = 0, k = 0; i < def->ncolumns && nkeys; i++)
		if ((def->columns[i].flags & DBS_COLUMN_KEY) &&
		    ((k++ && dbs_buf_append_str(d, ", ")) || ident(d, def->columns[i].name)))
			return oom(err, errlen);
	if (nkeys && dbs_buf_append_char(d, ')'))
		return oom(err, errlen);
	return 0;
}

static void tables_forget(my_target *t, const char *name)
{
	size_t keep = 0;
	for (size_t i = 0; i < t->ntables; i++) {
		my_table *tb = t->tables[i];
		if (strcmp(tb->def->name, name) == 0) {
			if (t->run_table == tb) /* the run of inserts outlives transactions */
				t->run_table = NULL;
			dbs__myt_table_free(tb);
			continue;
		}
		t->tables[keep++] = tb;
	}
	t->ntables = keep;
}

static void forget(dbs_sqlschema *c, const char *schema, const char *name)
{
	(void)schema;
	tables_forget(my(c), name);
}

static int rename_table_sql(dbs_sqlschema *c, const char *from_schema, const char *from_name,
                            int schema_exists, char *err, size_t errlen)
{
	(void)from_schema, (void)from_name, (void)schema_exists;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "RENAME TABLE %s TO ", c->qname.data) ||
	    ident(&c->ddl, my(c)->dsn.database) || dbs_buf_append_char(&c->ddl, '.') ||
	    ident(&c->ddl, c->def->name))
		return oom(err, errlen);
	return 0;
}

static int creates_indexes(dbs_sqlschema *c, int *yes, char *err, size_t errlen)
{
	const dbs_sql_table_option *opt = dbs__myt_table_option(my(c), c->def);
	(void)err, (void)errlen;
	*yes = !c->t->settings->no_create_tables && !(opt && opt->no_create_indexes);
	return 0;
}

static int index_add(dbs_sqlschema *c, uint32_t x, char *err, size_t errlen)
{
	const char *name = c->def->indexes[x].name;
	int exists = 0, rc;
	my_table *tb;
	if (!name)
		return 0;
	if ((rc = named_exists(c, 1, name, &exists, err, errlen)) || exists)
		return rc;
	tables_forget(my(c), c->def->name);
	if ((rc = dbs__myt_table_get(my(c), c->def, &tb, err, errlen)))
		return rc;
	return dbs__myt_index_create(my(c), tb, &c->def->indexes[x], err, errlen);
}

static int index_drop(dbs_sqlschema *c, const char *name, char *err, size_t errlen)
{
	int exists = 0, rc;
	if ((rc = named_exists(c, 1, name, &exists, err, errlen)) || !exists)
		return rc;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_append_str(&c->ddl, "DROP INDEX ") || ident(&c->ddl, name) ||
	    dbs_buf_appendf(&c->ddl, " ON %s", c->qname.data))
		return oom(err, errlen);
	return dbs__myt_exec(my(c), c->ddl.data, c->ddl.len, c->label, err, errlen);
}

/* The table of the definition (created when missing unless
 * noCreateTables), in the cache for the rows that follow. */
static int table_ready(dbs_sqlschema *c, char *err, size_t errlen)
{
	my_table *tb;
	tables_forget(my(c), c->def->name);
	return dbs__myt_table_get(my(c), c->def, &tb, err, errlen);
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

static int begin(dbs_sqlschema *c, char *err, size_t errlen)
{
	my_target *t = my(c);
	size_t nc = c->def->ncolumns ? c->def->ncolumns : 1;
	dbs_sqltype *ty = calloc(nc, sizeof *ty);
	int rc;
	if (!ty)
		return oom(err, errlen);
	for (uint32_t i = 0; i < c->def->ncolumns; i++)
		dbs__sqlmap_parse(c->def, &c->def->columns[i], &ty[i]);
	dbs__sqlmap_key_widths(ty, c->def->ncolumns);
	/* MySQL DDL commits: what is open is committed first, with the
	 * checkpoint of the last batch applied. */
	if ((rc = dbs__sqltarget_commit_open(c->t, err, errlen)))
		goto fail;
	dbs__myt_packet_reset(t);
	t->apply_no++;
	if ((rc = schema_lock(t, 1, err, errlen)))
		goto fail;
	c->dialect = ty;
	return 0;
fail:
	free(ty);
	return rc;
}

static int finish(dbs_sqlschema *c, int rc, char *err, size_t errlen)
{
	my_target *t = my(c);
	/* The skeleton commits the checkpoint row of the event next: in a
	 * transaction, as every batch's. */
	if (rc == 0 && (dbs_buf_append_str(&t->sql, "START TRANSACTION") ||
	                dbs__myt_stmt_push(t, NULL, 0, 0, "starting the transaction")))
		rc = oom(err, errlen);
	if (t->conn) {
		char ignore[DBS_ERRMSG_MAX];
		int lrc = schema_lock(t, 0, rc ? ignore : err, rc ? sizeof ignore : errlen);
		if (rc == 0)
			rc = lrc;
	}
	if (rc)
		dbs__myt_packet_reset(t);
	free(c->dialect);
	return rc;
}

static const dbs_sqlschema_ops my_schema_ops = {
	.name_quote = "",
	.names_fold_case = 1,
	.bare_table_names = 1,
	.drop_default_apart = 1,
	.truncate_sql = "TRUNCATE TABLE",
	.begin = begin,
	.finish = finish,
	.schema_of = schema_of,
	.table_exists = table_exists,
	.column_exists = column_exists,
	.probe = probe,
	.key_sql = key_sql,
	.column_type = column_type,
	.alter_sql = alter_sql,
	.rename_column_sql = rename_column_sql,
	.rename_table_sql = rename_table_sql,
	.add_not_null = NULL, /* MySQL gives the rows the type's zero */
	.creates_indexes = creates_indexes,
	.index_add = index_add,
	.index_drop = index_drop,
	.table_ready = table_ready,
	.forget = forget,
};

int dbs__myt_schema(dbs_sqltarget *common, const dbs_event *ev, char *err, size_t errlen)
{
	return dbs__sqlschema_apply(common, &my_schema_ops, ev, err, errlen);
}
