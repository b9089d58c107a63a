/*
 * PostgreSQL target: schema changes (DBS_OP_SCHEMA events), the dialect's
 * part of lib/sql/schema.c, applied in the apply's transaction
 * (PostgreSQL DDL is transactional, so the change commits with the
 * checkpoint row that covers it, or not at all).
 *
 * Column types come from the same mapping CREATE TABLE uses
 * (dbs__pgt_column_type). Whether a column already has its type is asked
 * of the server: the column list of the definition is created as a
 * temporary table under a savepoint that is rolled back, and its catalog
 * rows (format_type, NOT NULL, single-column CHECK) are compared with the
 * target table's, so "varchar(20)" and "character varying(20)" are one.
 */
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/schema.h"
#include "sql/value_text.h"
#include "targets/postgresql/pg_target.h"

#define oom dbs__sqlschema_oom

static pg_target *pg(dbs_sqlschema *c)
{
	return (pg_target *)c->t;
}

/* The rows of a query with text parameters into *res; 0 rows is no
 * failure. */
static int query(dbs_sqlschema *c, PGresult **res, const char *sql, int n,
                 const char *const *params, const char *where, char *err, size_t errlen)
{
	*res = PQexecParams(pg(c)->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(*res) == PGRES_TUPLES_OK)
		return 0;
	dbs__pgt_error(pg(c), *res, err, errlen, where);
	PQclear(*res);
	*res = NULL;
	return DBS_ETARGET;
}

static const char *schema_of(dbs_sqlschema *c, const char *schema)
{
	(void)c;
	return schema ? schema : "";
}

static int table_exists(dbs_sqlschema *c, int *exists, int *schema_exists, char *err,
                        size_t errlen)
{
	return dbs__pgt_relation_exists(pg(c), c->qname.data, c->schema, exists, schema_exists,
	                                c->label, err, errlen);
}

static int column_exists(dbs_sqlschema *c, const char *column, int *exists, char *err,
                         size_t errlen)
{
	PGresult *res;
	const char *p[2] = {c->qname.data, column};
	int rc = query(c, &res,
	               "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND "
	               "attname = $2 AND attnum > 0 AND NOT attisdropped",
	               2, p, c->label, err, errlen);
	if (rc)
		return rc;
	*exists = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

static int column_type(dbs_sqlschema *c, dbs_buf *b, uint32_t i, char *err, size_t errlen)
{
	return dbs__pgt_column_type(b, c->def, i, err, errlen);
}

/* Split a mapped type "text CHECK (…)" into the type and its CHECK. */
static void split_check(const char *type, size_t *type_len, const char **check)
{
	const char *at = strstr(type, " CHECK (");
	*type_len = at ? (size_t)(at - type) : strlen(type);
	*check = at ? at + 1 : NULL;
}

/*
 * The definition's columns are created as a temporary table under a
 * savepoint rolled back at once, and the two catalogs compared.
 */
static int probe(dbs_sqlschema *c, uint32_t *ntarget, char *err, size_t errlen)
{
	static const char compare[] =
	    "SELECT p.attname, t.attnum IS NOT NULL, "
	    "t.attnum IS NOT NULL AND format_type(p.atttypid, p.atttypmod) = "
	    "format_type(t.atttypid, t.atttypmod), "
	    "t.attnum IS NOT NULL AND p.attnotnull = t.attnotnull, "
	    "t.attnum IS NOT NULL AND "
	    "coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ' AND ' ORDER BY 1) FROM "
	    "pg_constraint k WHERE k.conrelid = p.attrelid AND k.contype = 'c' AND "
	    "k.conkey = ARRAY[p.attnum]), '') = "
	    "coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ' AND ' ORDER BY 1) FROM "
	    "pg_constraint k WHERE k.conrelid = t.attrelid AND k.contype = 'c' AND "
	    "k.conkey = ARRAY[t.attnum]), '') "
	    "FROM pg_attribute p LEFT JOIN pg_attribute t ON t.attrelid = to_regclass($1) AND "
	    "t.attname = p.attname AND t.attnum > 0 AND NOT t.attisdropped "
	    "WHERE p.attrelid = 'pg_temp.dbs_probe'::regclass AND p.attnum > 0 AND "
	    "NOT p.attisdropped";
	const dbs_table *def = c->def;
	const char *p[1] = {c->qname.data};
	PGresult *res = NULL;
	int rc;
	dbs_buf *b = &c->tmp;
	dbs_buf_reset(b);
	if (dbs_buf_append_str(b, "SAVEPOINT dbs_probe; CREATE TEMP TABLE dbs_probe ("))
		return oom(err, errlen);
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		if (i && dbs_buf_append_str(b, ", "))
			return oom(err, errlen);
		if ((rc = dbs__sqlschema_column_def(c, b, i, err, errlen)))
			return rc;
	}
	if (dbs_buf_append_char(b, ')'))
		return oom(err, errlen);
	char where[512];
	dbs_fmt(where, sizeof where, "%s: the column types of the source's definition", c->label);
	if ((rc = dbs__pgt_exec(pg(c), b->data, where, err, errlen)))
		return rc;
	if ((rc = query(c, &res, compare, 1, p, where, err, errlen)))
		return rc;
	memset(c->cols, 0, (def->ncolumns ? def->ncolumns : 1) * sizeof *c->cols);
	for (int r = 0; r < PQntuples(res); r++) {
		const char *name = PQgetvalue(res, r, 0);
		for (uint32_t i = 0; i < def->ncolumns; i++) {
			if (strcmp(def->columns[i].name, name) != 0)
				continue;
			c->cols[i].present = PQgetvalue(res, r, 1)[0] == 't';
			c->cols[i].same_type = PQgetvalue(res, r, 2)[0] == 't';
			c->cols[i].same_null = PQgetvalue(res, r, 3)[0] == 't';
			c->cols[i].same_check = PQgetvalue(res, r, 4)[0] == 't';
		}
	}
	PQclear(res);
	if ((rc = dbs__pgt_exec(pg(c), "ROLLBACK TO SAVEPOINT dbs_probe; RELEASE SAVEPOINT dbs_probe",
	                        where, err, errlen)) ||
	    !ntarget)
		return rc;
	if ((rc = query(c, &res,
	                "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND "
	                "attnum > 0 AND NOT attisdropped",
	                1, p, c->label, err, errlen)))
		return rc;
	/* No count: never the definition's. */
	*ntarget = PQntuples(res) == 1 ? (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10)
	                               : def->ncolumns + 1;
	PQclear(res);
	return 0;
}

static int alter_sql(dbs_sqlschema *c, uint32_t i, char *err, size_t errlen)
{
	const dbs_column *col = &c->def->columns[i];
	const dbs_sqlschema_col *s = &c->cols[i];
	dbs_buf *d = &c->ddl, *ty = &c->tmp;
	PGresult *res = NULL;
	int rc, any = 0;
	size_t tl;
	const char *check;
	dbs_buf_reset(ty);
	if ((rc = dbs__pgt_column_type(ty, c->def, i, err, errlen)))
		return rc;
	split_check(ty->data, &tl, &check);
	dbs_buf_reset(d);
	if (dbs_buf_appendf(d, "ALTER TABLE %s", c->qname.data))
		return oom(err, errlen);
	if (!s->same_type) {
		if (dbs_buf_append_str(d, " ALTER COLUMN ") ||
		    dbs__sql_append_ident(d, col->name) ||
		    dbs_buf_appendf(d, " TYPE %.*s USING ", (int)tl, ty->data) ||
		    dbs__sql_append_ident(d, col->name) ||
		    dbs_buf_appendf(d, "::%.*s", (int)tl, ty->data))
			return oom(err, errlen);
		any = 1;
	}
	if (!s->same_check) {
		const char *p[2] = {c->qname.data, col->name};
		if ((rc = query(
		         c, &res,
		         "SELECT k.conname FROM pg_constraint k JOIN pg_attribute a ON "
		         "a.attrelid = k.conrelid AND k.conkey = ARRAY[a.attnum] WHERE "
		         "k.conrelid = to_regclass($1) AND k.contype = 'c' AND a.attname = $2",
		         2, p, c->label, err, errlen)))
			return rc;
		for (int r = 0; r < PQntuples(res); r++, any = 1)
			if (dbs_buf_append_str(d,
			                       any ? ", DROP CONSTRAINT " : " DROP CONSTRAINT ") ||
			    dbs__sql_append_ident(d, PQgetvalue(res, r, 0))) {
				PQclear(res);
				return oom(err, errlen);
			}
		PQclear(res);
		if (check && dbs_buf_appendf(d, "%s ADD %s", any ? "," : "", check))
			return oom(err, errlen);
		any |= check != NULL;
	}
	if (!s->same_null) {
		int nn = (col->flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) != 0;
		if (dbs_buf_append_str(d, any ? ", ALTER COLUMN " : " ALTER COLUMN ") ||
		    dbs__sql_append_ident(d, col->name) ||
		    dbs_buf_append_str(d, nn ? " SET NOT NULL" : " DROP NOT NULL"))
			return oom(err, errlen);
	}
	return 0;
}

/* The value rows already in the table get in a NOT NULL column added
 * without a default, as MySQL fills it: 0 or '' by the type; NULL when
 * the type has no such zero. */
static const char *zero_of(const dbs_table *def, uint32_t i)
{
	dbs_sqltype type;
	dbs__sqlmap_parse(def, &def->columns[i], &type);
	switch (type.cls) {
	case DBS_SQL_BOOL:
	case DBS_SQL_INT:
	case DBS_SQL_DECIMAL:
	case DBS_SQL_NUMERIC:
	case DBS_SQL_FLOAT: return "0";
	case DBS_SQL_STRING:
	case DBS_SQL_BINARY:
	case DBS_SQL_SET: return "";
	default: return NULL;
	}
}

static int add_not_null(dbs_sqlschema *c, uint32_t i, char *why, size_t whylen,
                        int *drop_default, char *err, size_t errlen)
{
	PGresult *res;
	const char *zero = zero_of(c->def, i);
	int empty, rc;
	dbs_buf *q = &c->tmp, *d = &c->ddl;
	dbs_buf_reset(q);
	if (dbs_buf_appendf(q, "SELECT NOT EXISTS (SELECT 1 FROM %s)", c->qname.data))
		return oom(err, errlen);
	if ((rc = query(c, &res, q->data, 0, NULL, c->label, err, errlen)))
		return rc;
	empty = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (empty)
		return 0;
	if (!zero) {
		dbs_fmt(why, whylen,
		        "column \"%s\" is added NOT NULL without a default, and its type has no "
		        "zero value the target could give the rows already there",
		        c->def->columns[i].name);
		return 0;
	}
	if (dbs_buf_append_str(d, " DEFAULT ") || dbs__sql_append_literal(d, zero, strlen(zero)))
		return oom(err, errlen);
	*drop_default = 1;
	return 0;
}

static int rename_column_sql(dbs_sqlschema *c, const char *from, uint32_t i, char *err,
                             size_t errlen)
{
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s RENAME COLUMN ", c->qname.data) ||
	    dbs__sql_append_ident(&c->ddl, from) || dbs_buf_append_str(&c->ddl, " TO ") ||
	    dbs__sql_append_ident(&c->ddl, c->def->columns[i].name))
		return oom(err, errlen);
	return 0;
}

static int key_sql(dbs_sqlschema *c, int *same, char *err, size_t errlen)
{
	const dbs_table *def = c->def;
	const char *p[1] = {c->qname.data};
	PGresult *res;
	int rc;
	uint32_t nkeys = 0;
	char conname[128] = "";
	if ((rc = query(c, &res,
	                "SELECT a.attname, k.conname FROM pg_constraint k JOIN pg_attribute a ON "
	                "a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) WHERE "
	                "k.conrelid = to_regclass($1) AND k.contype = 'p'",
	                1, p, c->label, err, errlen)))
		return rc;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		nkeys += (def->columns[i].flags & DBS_COLUMN_KEY) != 0;
	*same = (uint32_t)PQntuples(res) == nkeys;
	for (int r = 0; r < PQntuples(res); r++) {
		int key = 0;
		dbs_fmt(conname, sizeof conname, "%s", PQgetvalue(res, r, 1));
		for (uint32_t i = 0; i < def->ncolumns; i++)
			if (strcmp(def->columns[i].name, PQgetvalue(res, r, 0)) == 0)
				key = (def->columns[i].flags & DBS_COLUMN_KEY) != 0;
		*same &= key;
	}
	PQclear(res);
	if (*same)
		return 0;
	dbs_buf *d = &c->ddl;
	dbs_buf_reset(d);
	if (dbs_buf_appendf(d, "ALTER TABLE %s ", c->qname.data))
		return oom(err, errlen);
	if (conname[0] &&
	    (dbs_buf_append_str(d, "DROP CONSTRAINT ") || dbs__sql_append_ident(d, conname) ||
	     (nkeys && dbs_buf_append_str(d, ", "))))
		return oom(err, errlen);
	if (nkeys) {
		if (dbs_buf_append_str(d, "ADD PRIMARY KEY ("))
			return oom(err, errlen);
		for (uint32_t i = 0, k = 0; i < def->ncolumns; i++)
			if ((def->columns[i].flags & DBS_COLUMN_KEY) &&
			    ((k++ && dbs_buf_append_str(d, ", ")) ||
			     dbs__sql_append_ident(d, def->columns[i].name)))
				return oom(err, errlen);
		if (dbs_buf_append_char(d, ')'))
			return oom(err, errlen);
	}
	return 0;
}

static int rename_table_sql(dbs_sqlschema *c, const char *from_schema, const char *from_name,
                            int schema_exists, char *err, size_t errlen)
{
	const dbs_table *def = c->def;
	dbs_buf *d = &c->ddl;
	dbs_buf_reset(d);
	if (!schema_exists &&
	    (dbs_buf_append_str(d, "CREATE SCHEMA IF NOT EXISTS ") ||
	     dbs__sql_append_ident(d, def->schema) || dbs_buf_append_str(d, "; ")))
		return oom(err, errlen);
	if (strcmp(from_schema, def->schema) != 0) {
		if (dbs_buf_appendf(d, "ALTER TABLE %s SET SCHEMA ", c->qname.data) ||
		    dbs__sql_append_ident(d, def->schema) ||
		    dbs_buf_append_str(d, "; ALTER TABLE ") ||
		    dbs__sql_append_ident(d, def->schema) || dbs_buf_append_char(d, '.') ||
		    dbs__sql_append_ident(d, from_name))
			return oom(err, errlen);
	} else if (dbs_buf_appendf(d, "ALTER TABLE %s", c->qname.data)) {
		return oom(err, errlen);
	}
	if (dbs_buf_append_str(d, " RENAME TO ") || dbs__sql_append_ident(d, def->name))
		return oom(err, errlen);
	/* The indexes of a MySQL table are named after it here. */
	for (uint32_t x = 0; x < def->nindexes && def->dialect != DBS_DIALECT_POSTGRESQL; x++) {
		if (dbs_buf_append_str(d, "; ALTER INDEX IF EXISTS ") ||
		    dbs__sql_append_ident(d, def->schema) || dbs_buf_append_char(d, '.') ||
		    dbs__pgt_index_name(d, def->dialect, from_name, def->indexes[x].name) ||
		    dbs_buf_append_str(d, " RENAME TO ") ||
		    dbs__pgt_index_name(d, def->dialect, def->name, def->indexes[x].name))
			return oom(err, errlen);
	}
	return 0;
}

static int creates_indexes(dbs_sqlschema *c, int *yes, char *err, size_t errlen)
{
	pg_table *tb;
	int rc;
	if ((rc = dbs__pgt_table_lookup(pg(c), c->def, &tb, err, errlen)))
		return rc;
	const dbs_sql_table_option *opt = dbs__pgt_table_option(pg(c), tb);
	*yes = !c->t->settings->no_create_tables && !(opt && opt->no_create_indexes);
	return 0;
}

static int index_add(dbs_sqlschema *c, uint32_t x, char *err, size_t errlen)
{
	pg_table *tb;
	int rc;
	if ((rc = dbs__pgt_table_lookup(pg(c), c->def, &tb, err, errlen)))
		return rc;
	return dbs__pgt_index_create(pg(c), tb, c->def, &c->def->indexes[x], err, errlen);
}

static int index_drop(dbs_sqlschema *c, const char *name, char *err, size_t errlen)
{
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_append_str(&c->ddl, "DROP INDEX IF EXISTS ") ||
	    dbs__sql_append_ident(&c->ddl, c->schema) || dbs_buf_append_char(&c->ddl, '.') ||
	    dbs__pgt_index_name(&c->ddl, c->def->dialect, c->name, name))
		return oom(err, errlen);
	return dbs__pgt_exec(pg(c), c->ddl.data, c->label, err, errlen);
}

static int table_ready(dbs_sqlschema *c, char *err, size_t errlen)
{
	pg_table *tb;
	int rc = dbs__pgt_table_lookup(pg(c), c->def, &tb, err, errlen);
	return rc ? rc : dbs__pgt_table_ensure(pg(c), tb, c->def, err, errlen);
}

static void forget(dbs_sqlschema *c, const char *schema, const char *name)
{
	dbs__pgt_tables_forget(pg(c), schema, name);
}

/*
 * In the open transaction, or a new one; grouped, out of the pipeline.
 * Writers sharing a stream are each given the change: the lock of table
 * creation, held until the transaction ends, lets one apply it and the
 * others find it done in the catalog (else the second ADD COLUMN would
 * wait for the first and then fail on the column it added).
 */
static int txn_ready(pg_target *t, char *err, size_t errlen)
{
	int rc;
	t->apply_no++;
	if (dbs__sqltarget_grouping(&t->common)) {
		if ((!t->common.open && (rc = dbs__pgt_txn_start(t, 0, err, errlen))) ||
		    (rc = dbs__pgt_grouped_plain(t, err, errlen)))
			return rc;
	} else if (!t->common.open && (rc = dbs__pgt_txn_start(t, 1, err, errlen))) {
		return rc;
	}
	return dbs__pgt_exec(t, "SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY ")",
	                     "waiting for other writers' schema changes", err, errlen);
}

static int begin(dbs_sqlschema *c, char *err, size_t errlen)
{
	int rc = txn_ready(pg(c), err, errlen);
	if (rc)
		c->t->data_error = 0; /* not a row's data: no row-by-row replay */
	return rc;
}

static const dbs_sqlschema_ops pg_schema_ops = {
	.name_quote = "\"",
	.names_fold_case = 0,
	.bare_table_names = 0,
	.drop_default_apart = 0,
	.truncate_sql = "TRUNCATE",
	.begin = begin,
	.finish = NULL,
	.schema_of = schema_of,
	.table_exists = table_exists,
	.column_exists = column_exists,
	.probe = probe,
	.key_sql = key_sql,
	.column_type = column_type,
	.alter_sql = alter_sql,
	.rename_column_sql = rename_column_sql,
	.rename_table_sql = rename_table_sql,
	.add_not_null = add_not_null,
	.creates_indexes = creates_indexes,
	.index_add = index_add,
	.index_drop = index_drop,
	.table_ready = table_ready,
	.forget = forget,
};

int dbs__pgt_schema(dbs_sqltarget *common, const dbs_event *ev, char *err, size_t errlen)
{
	return dbs__sqlschema_apply(common, &pg_schema_ops, ev, err, errlen);
}
