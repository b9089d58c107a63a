/*
 * PostgreSQL target: schema changes (DBS_OP_SCHEMA events), applied in
 * the apply's transaction (PostgreSQL DDL is transactional, so the change
 * commits with the checkpoint row that covers it, or not at all).
 *
 * What to do is decided from the target's catalog, never from memory: a
 * change the catalog shows done is not done again (a restart between the
 * change and its checkpoint applies the event again), and an unsafe change
 * (a narrowing type, NOT NULL added, a primary key change, a statement the
 * source could not describe) is applied by nobody but the user: the apply
 * fails with the statement that would make the table match, and once the
 * table has the definition the same event passes.
 *
 * Column types come from the same mapping CREATE TABLE uses
 * (dbs__pgt_column_type). Whether a column already has its type is asked
 * of the server: the column list of the definition is created as a
 * temporary table under a savepoint that is rolled back, and its catalog
 * rows (format_type, NOT NULL, single-column CHECK) are compared with the
 * target table's, so "varchar(20)" and "character varying(20)" are one.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dbstreams/sys/buf.h>

#include "sql/value_text.h"
#include "targets/postgresql/pg_target.h"

/* What the probe finds of one column of the definition in the target. */
typedef struct col_state {
	int present, same_type, same_null, same_check;
} col_state;

/* One schema event being applied. */
typedef struct schema_ctx {
	pg_target *t;
	const dbs_event *ev;
	const dbs_table *def;
	unsigned policy;
	/* The table's name on the target now: the old one until a
	 * RENAME_TABLE of the event ran. */
	const char *schema, *name;
	char label[256]; /* schema.name, for messages */
	dbs_buf qname;   /* "schema"."name" */
	dbs_buf ddl;     /* the statement of a change */
	dbs_buf tmp;
	col_state *cols; /* def->ncolumns, from the last probe */
	int dropped;     /* the table was dropped */
} schema_ctx;

static int oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

static void slog(schema_ctx *c, dbs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void slog(schema_ctx *c, dbs_log_level level, const char *fmt, ...)
{
	char line[2 * DBS_ERRMSG_MAX];
	va_list ap;
	const dbs_host *h = c->t->common.host;
	if (!h || !h->log)
		return;
	va_start(ap, fmt);
	dbs_vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	h->log(h, level, "postgresql target: %s", line);
}

static int set_name(schema_ctx *c, const char *schema, const char *name)
{
	c->schema = schema ? schema : "";
	c->name = name;
	dbs_fmt(c->label, sizeof c->label, "%s.%s", c->schema, c->name);
	dbs_buf_reset(&c->qname);
	return dbs__sql_append_ident(&c->qname, c->schema) || dbs_buf_append_char(&c->qname, '.') ||
	               dbs__sql_append_ident(&c->qname, c->name)
	           ? DBS_ENOMEM
	           : 0;
}

/* The first row of a query with text parameters into *res; 0 rows is
 * no failure. */
static int query(schema_ctx *c, PGresult **res, const char *sql, int n, const char *const *params,
                 const char *where, char *err, size_t errlen)
{
	*res = PQexecParams(c->t->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(*res) == PGRES_TUPLES_OK)
		return 0;
	dbs__pgt_error(c->t, *res, err, errlen, where);
	PQclear(*res);
	*res = NULL;
	return DBS_ETARGET;
}

static int table_exists(schema_ctx *c, int *exists, char *err, size_t errlen)
{
	int schema_exists;
	return dbs__pgt_relation_exists(c->t, c->qname.data, c->schema, exists, &schema_exists,
	                                c->label, err, errlen);
}

static int column_exists(schema_ctx *c, const char *column, int *exists, char *err, size_t errlen)
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

/* `"col" type [NOT NULL]` of column i of the definition. */
static int column_def(schema_ctx *c, dbs_buf *b, uint32_t i, char *err, size_t errlen)
{
	const dbs_column *col = &c->def->columns[i];
	int rc;
	if (dbs__sql_append_ident(b, col->name) || dbs_buf_append_char(b, ' '))
		return oom(err, errlen);
	if ((rc = dbs__pgt_column_type(b, c->def, i, err, errlen)))
		return rc;
	if ((col->flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) &&
	    dbs_buf_append_str(b, " NOT NULL"))
		return oom(err, errlen);
	return 0;
}

/* Split a mapped type "text CHECK (…)" into the type and its CHECK. */
static void split_check(const char *type, size_t *type_len, const char **check)
{
	const char *at = strstr(type, " CHECK (");
	*type_len = at ? (size_t)(at - type) : strlen(type);
	*check = at ? at + 1 : NULL;
}

/*
 * Compare every column of the definition with the target table (c->cols):
 * the definition's columns are created as a temporary table under a
 * savepoint rolled back at once, and the two catalogs compared.
 */
static int probe(schema_ctx *c, char *err, size_t errlen)
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
	pg_target *t = c->t;
	const dbs_table *def = c->def;
	PGresult *res = NULL;
	int rc;
	dbs_buf *b = &c->tmp;
	dbs_buf_reset(b);
	if (dbs_buf_append_str(b, "SAVEPOINT dbs_probe; CREATE TEMP TABLE dbs_probe ("))
		return oom(err, errlen);
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		if (i && dbs_buf_append_str(b, ", "))
			return oom(err, errlen);
		if ((rc = column_def(c, b, i, err, errlen)))
			return rc;
	}
	if (dbs_buf_append_char(b, ')'))
		return oom(err, errlen);
	char where[512];
	dbs_fmt(where, sizeof where, "%s: the column types of the source's definition", c->label);
	if ((rc = dbs__pgt_exec(t, b->data, where, err, errlen)))
		return rc;
	const char *p[1] = {c->qname.data};
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
	return dbs__pgt_exec(t, "ROLLBACK TO SAVEPOINT dbs_probe; RELEASE SAVEPOINT dbs_probe",
	                     where, err, errlen);
}

static int col_done(const col_state *s)
{
	return s->present && s->same_type && s->same_null && s->same_check;
}

/* The stream stops at the change: what is unsafe, the source's statement,
 * and the statement that would make the target table match. */
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

/* The ALTER of column i that makes it what the definition says (type,
 * CHECK, NOT NULL), for the differences c->cols[i] shows. */
static int alter_column_sql(schema_ctx *c, uint32_t i, char *err, size_t errlen)
{
	const dbs_column *col = &c->def->columns[i];
	const col_state *s = &c->cols[i];
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

/* The commit time of the event as a UTC timestamp literal's text. */
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

static int add_column(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	uint32_t i = ch->column;
	const dbs_column *col = &c->def->columns[i];
	dbs_buf *d = &c->ddl;
	int rc, nn = (col->flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) != 0;
	int drop_default = 0;
	char why[512], now[64];
	if ((rc = probe(c, err, errlen)))
		return rc;
	if (c->cols[i].present) {
		if (c->cols[i].same_type && c->cols[i].same_check)
			return 0; /* done before */
		dbs_fmt(why, sizeof why,
		        "column \"%s\" exists in the target with another type than the source's",
		        col->name);
		if ((rc = alter_column_sql(c, i, err, errlen)))
			return rc;
		return refuse(c, why, c->ddl.data, err, errlen);
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
		dbs_fmt(why, sizeof why,
		        "column \"%s\" is added with the default expression %s, which the target "
		        "cannot evaluate as the source did for the rows already there",
		        col->name, ch->default_text ? ch->default_text : "(not known)");
		break;
	default:
		if (nn) {
			PGresult *res;
			const char *zero = zero_of(c->def, i);
			int empty;
			dbs_buf *q = &c->tmp;
			dbs_buf_reset(q);
			if (dbs_buf_appendf(q, "SELECT NOT EXISTS (SELECT 1 FROM %s)",
			                    c->qname.data))
				return oom(err, errlen);
			if ((rc = query(c, &res, q->data, 0, NULL, c->label, err, errlen)))
				return rc;
			empty = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
			PQclear(res);
			if (empty)
				break;
			if (!zero) {
				dbs_fmt(why, sizeof why,
				        "column \"%s\" is added NOT NULL without a default, and "
				        "its type "
				        "has no zero value the target could give the rows already "
				        "there",
				        col->name);
				break;
			}
			if (dbs_buf_append_str(d, " DEFAULT ") ||
			    dbs__sql_append_literal(d, zero, strlen(zero)))
				return oom(err, errlen);
			drop_default = 1;
		}
		break;
	}
	/* Not one ALTER: PostgreSQL alters no column the same statement adds. */
	if (drop_default &&
	    (dbs_buf_appendf(d, "; ALTER TABLE %s ALTER COLUMN ", c->qname.data) ||
	     dbs__sql_append_ident(d, col->name) || dbs_buf_append_str(d, " DROP DEFAULT")))
		return oom(err, errlen);
	if (why[0])
		return refuse(c, why, d->data, err, errlen);
	if (ch->unsafe)
		return refuse(c, "the source marked the added column unsafe", d->data, err, errlen);
	return dbs__pgt_exec(c->t, d->data, c->label, err, errlen);
}

static int alter_column(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	uint32_t i = ch->column;
	const dbs_column *col = &c->def->columns[i];
	char why[512];
	int rc;
	if ((rc = probe(c, err, errlen)))
		return rc;
	if (!c->cols[i].present) {
		dbs_fmt(why, sizeof why, "column \"%s\" does not exist in the target", col->name);
		dbs_buf_reset(&c->ddl);
		if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s ADD COLUMN ", c->qname.data) ||
		    (rc = column_def(c, &c->ddl, i, err, errlen)))
			return rc ? rc : oom(err, errlen);
		return refuse(c, why, c->ddl.data, err, errlen);
	}
	if (col_done(&c->cols[i]))
		return 0;
	if ((rc = alter_column_sql(c, i, err, errlen)))
		return rc;
	if (ch->unsafe) {
		dbs_fmt(why, sizeof why,
		        "the change of column \"%s\" may not keep every value already there (a "
		        "narrower type, or NOT NULL added)",
		        col->name);
		return refuse(c, why, c->ddl.data, err, errlen);
	}
	return dbs__pgt_exec(c->t, c->ddl.data, c->label, err, errlen);
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
	if ((rc = column_exists(c, from, &has_from, err, errlen)) ||
	    (rc = column_exists(c, to, &has_to, err, errlen)))
		return rc;
	if (!has_from && has_to)
		return 0; /* done before */
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s RENAME COLUMN ", c->qname.data) ||
	    dbs__sql_append_ident(&c->ddl, from) || dbs_buf_append_str(&c->ddl, " TO ") ||
	    dbs__sql_append_ident(&c->ddl, to))
		return oom(err, errlen);
	if (has_from && has_to) {
		dbs_fmt(why, sizeof why, "columns \"%s\" and \"%s\" both exist in the target", from,
		        to);
		return refuse(c, why, NULL, err, errlen);
	}
	if (!has_from) {
		dbs_fmt(why, sizeof why,
		        "column \"%s\" to rename to \"%s\" does not exist in the target", from, to);
		return refuse(c, why, NULL, err, errlen);
	}
	if (ch->unsafe)
		return refuse(c, "the source marked the rename unsafe", c->ddl.data, err, errlen);
	return dbs__pgt_exec(c->t, c->ddl.data, c->label, err, errlen);
}

static int drop_column(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	int exists = 0, rc;
	if (!ch->from_name) {
		dbs_fmt(err, errlen, "table %s: a dropped column without its name", c->label);
		return DBS_EINVAL;
	}
	if ((rc = column_exists(c, ch->from_name, &exists, err, errlen)) || !exists)
		return rc;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s DROP COLUMN ", c->qname.data) ||
	    dbs__sql_append_ident(&c->ddl, ch->from_name))
		return oom(err, errlen);
	if (ch->unsafe)
		return refuse(c, "the source marked the dropped column unsafe", c->ddl.data, err,
		              errlen);
	return dbs__pgt_exec(c->t, c->ddl.data, c->label, err, errlen);
}

/* The primary key: the target's columns against the definition's. */
static int alter_key(schema_ctx *c, char *err, size_t errlen)
{
	const dbs_table *def = c->def;
	const char *p[1] = {c->qname.data};
	PGresult *res;
	int rc, same = 1;
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
	if ((uint32_t)PQntuples(res) != nkeys)
		same = 0;
	for (int r = 0; r < PQntuples(res); r++) {
		int key = 0;
		dbs_fmt(conname, sizeof conname, "%s", PQgetvalue(res, r, 1));
		for (uint32_t i = 0; i < def->ncolumns; i++)
			if (strcmp(def->columns[i].name, PQgetvalue(res, r, 0)) == 0)
				key = (def->columns[i].flags & DBS_COLUMN_KEY) != 0;
		same &= key;
	}
	PQclear(res);
	if (same)
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
	return refuse(c, "the primary key changed (rows the old key told apart may collide)",
	              d->data, err, errlen);
}

/* A change the source could not describe: passes once the target's
 * columns are the definition's, names and types. */
static int other_change(schema_ctx *c, const char *why, char *err, size_t errlen)
{
	const char *p[1] = {c->qname.data};
	PGresult *res;
	int rc, done = 1;
	if ((rc = probe(c, err, errlen)))
		return rc;
	for (uint32_t i = 0; i < c->def->ncolumns; i++)
		done &= col_done(&c->cols[i]);
	if ((rc = query(c, &res,
	                "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND "
	                "attnum > 0 AND NOT attisdropped",
	                1, p, c->label, err, errlen)))
		return rc;
	done &= PQntuples(res) == 1 && strtoul(PQgetvalue(res, 0, 0), NULL, 10) == c->def->ncolumns;
	PQclear(res);
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

static int rename_table(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	const dbs_table *def = c->def;
	const char *from_schema = ch->from_schema ? ch->from_schema : def->schema;
	int old_exists = 0, new_exists = 0, rc, schema_exists = 0;
	char why[512];
	dbs_buf *d = &c->ddl;
	if (!ch->from_name) {
		dbs_fmt(err, errlen, "table %s: a table rename without the old name", c->label);
		return DBS_EINVAL;
	}
	if ((rc = set_name(c, def->schema, def->name)))
		return oom(err, errlen);
	if ((rc = dbs__pgt_relation_exists(c->t, c->qname.data, def->schema, &new_exists,
	                                   &schema_exists, c->label, err, errlen)))
		return rc;
	if ((rc = set_name(c, from_schema, ch->from_name)))
		return oom(err, errlen);
	if ((rc = table_exists(c, &old_exists, err, errlen)))
		return rc;
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
		    dbs__sql_append_ident(d, ch->from_name))
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
		    dbs__pgt_index_name(d, def->dialect, ch->from_name, def->indexes[x].name) ||
		    dbs_buf_append_str(d, " RENAME TO ") ||
		    dbs__pgt_index_name(d, def->dialect, def->name, def->indexes[x].name))
			return oom(err, errlen);
	}
	rc = 0;
	if (old_exists && new_exists) {
		dbs_fmt(why, sizeof why, "tables %s and %s.%s both exist in the target", c->label,
		        def->schema, def->name);
		rc = refuse(c, why, NULL, err, errlen);
	} else if (old_exists && ch->unsafe) {
		rc = refuse(c, "the source marked the rename unsafe", d->data, err, errlen);
	} else if (old_exists) {
		rc = dbs__pgt_exec(c->t, d->data, c->label, err, errlen);
	}
	/* Neither: the table never reached the target; the rows that follow
	 * create it. */
	dbs__pgt_tables_forget(c->t, from_schema, ch->from_name);
	if (rc == 0 && set_name(c, def->schema, def->name))
		return oom(err, errlen);
	return rc;
}

/* DROP TABLE and TRUNCATE, behind target.options.schemaChanges. */
static int drop_or_truncate(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	int drop = ch->kind == DBS_SCHEMA_DROP_TABLE, exists = 0, rc;
	unsigned need = drop ? DBS_SCHEMA_POLICY_DROP_TABLE : DBS_SCHEMA_POLICY_TRUNCATE;
	if (!(c->policy & need)) {
		slog(c, DBS_LOG_WARN,
		     "%s: %s of the source not applied (target.options.schemaChanges lacks %s)",
		     c->label, drop ? "DROP TABLE" : "TRUNCATE", drop ? "dropTable" : "truncate");
		return 0;
	}
	if ((rc = table_exists(c, &exists, err, errlen)) || !exists)
		return rc;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "%s %s", drop ? "DROP TABLE" : "TRUNCATE", c->qname.data))
		return oom(err, errlen);
	if ((rc = dbs__pgt_exec(c->t, c->ddl.data, c->label, err, errlen)))
		return rc;
	c->dropped |= drop;
	return 0;
}

/* Whether the target makes the table's secondary indexes. */
static int creates_indexes(schema_ctx *c, pg_table *tb)
{
	const dbs_sql_table_option *opt = dbs__pgt_table_option(c->t, tb);
	return !c->t->common.settings->no_create_tables && !(opt && opt->no_create_indexes);
}

static int index_change(schema_ctx *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	pg_table *tb;
	int rc;
	if ((rc = dbs__pgt_table_lookup(c->t, c->def, &tb, err, errlen)))
		return rc;
	if (!creates_indexes(c, tb))
		return 0;
	if (ch->kind == DBS_SCHEMA_ADD_INDEX) {
		if (ch->column >= c->def->nindexes) {
			dbs_fmt(err, errlen,
			        "table %s: an added index %" PRIu32 " past the %" PRIu32
			        " indexes of the definition",
			        c->label, ch->column, c->def->nindexes);
			return DBS_EINVAL;
		}
		return dbs__pgt_index_create(c->t, tb, c->def, &c->def->indexes[ch->column], err,
		                             errlen);
	}
	if (!ch->from_name)
		return 0;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_append_str(&c->ddl, "DROP INDEX IF EXISTS ") ||
	    dbs__sql_append_ident(&c->ddl, c->schema) || dbs_buf_append_char(&c->ddl, '.') ||
	    dbs__pgt_index_name(&c->ddl, c->def->dialect, c->name, ch->from_name))
		return oom(err, errlen);
	return dbs__pgt_exec(c->t, c->ddl.data, c->label, err, errlen);
}

/* The table of the definition, created when missing (unless
 * noCreateTables), ready in the cache for the rows that follow. */
static int table_ready(schema_ctx *c, char *err, size_t errlen)
{
	pg_table *tb;
	int rc = dbs__pgt_table_lookup(c->t, c->def, &tb, err, errlen);
	return rc ? rc : dbs__pgt_table_ensure(c->t, tb, c->def, err, errlen);
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
		if ((rc = table_exists(c, &exists, err, errlen)))
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
	default: break;
	}
	if (ch->column >= c->def->ncolumns &&
	    (ch->kind == DBS_SCHEMA_ADD_COLUMN || ch->kind == DBS_SCHEMA_RENAME_COLUMN ||
	     ch->kind == DBS_SCHEMA_ALTER_COLUMN)) {
		dbs_fmt(err, errlen,
		        "table %s: a changed column %" PRIu32 " past the %" PRIu32
		        " columns of the definition",
		        c->label, ch->column, c->def->ncolumns);
		return DBS_EINVAL;
	}
	/* A table that never reached the target is made as it is now. */
	if ((rc = table_exists(c, &exists, err, errlen)))
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

int dbs__pgt_schema(dbs_sqltarget *common, const dbs_event *ev, char *err, size_t errlen)
{
	pg_target *t = (pg_target *)common;
	const dbs_schema_event *se = ev ? ev->schema : NULL;
	schema_ctx c = {.t = t, .ev = ev, .def = ev ? ev->table : NULL};
	int rc;
	if (!se || !c.def || !c.def->name) {
		dbs_fmt(err, errlen, "a schema change without its table or changes");
		return DBS_EINVAL;
	}
	c.policy = dbs__sql_schema_policy(t->common.settings);
	if (!(c.cols = calloc(c.def->ncolumns ? c.def->ncolumns : 1, sizeof *c.cols))) {
		rc = oom(err, errlen);
		goto done;
	}
	/* Changes before a rename of the table in the same statement find
	 * it under its old name. */
	const dbs_schema_change *first_rename = NULL;
	for (uint32_t k = 0; k < se->nchanges && !first_rename; k++)
		if (se->changes[k].kind == DBS_SCHEMA_RENAME_TABLE && se->changes[k].from_name)
			first_rename = &se->changes[k];
	if ((rc = first_rename ? set_name(&c,
	                                  first_rename->from_schema ? first_rename->from_schema
	                                                            : c.def->schema,
	                                  first_rename->from_name)
	                       : set_name(&c, c.def->schema, c.def->name))) {
		rc = oom(err, errlen);
		goto done;
	}
	if ((rc = txn_ready(t, err, errlen)))
		goto done;
	for (uint32_t k = 0; k < se->nchanges; k++)
		if ((rc = change_apply(&c, &se->changes[k], err, errlen)))
			goto done;
	/* Statements built for the old definition must not run again. */
	dbs__pgt_tables_forget(t, c.def->schema, c.def->name);
	if (!c.dropped && !(c.policy & DBS_SCHEMA_POLICY_NONE) &&
	    !(se->nchanges == 1 && se->changes[0].kind == DBS_SCHEMA_DROP_TABLE) &&
	    !t->common.settings->no_create_tables)
		rc = table_ready(&c, err, errlen);
	if (rc == 0)
		slog(&c, DBS_LOG_INFO, "%s: schema change applied: %s", c.label,
		     se->statement ? se->statement : "(statement not known)");
done:
	if (rc)
		t->common.data_error = 0; /* not a row's data: no row-by-row replay */
	free(c.cols);
	dbs_buf_free(&c.qname);
	dbs_buf_free(&c.ddl);
	dbs_buf_free(&c.tmp);
	return rc;
}
