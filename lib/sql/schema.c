/*
 * Schema changes at an SQL target: the decisions per change kind, the
 * messages and the schemaChanges policy, for every dialect (schema.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sql/schema.h"
#include "sql/settings.h"
#include "sql/value_text.h"

int dbs__sqlschema_oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

#define oom dbs__sqlschema_oom

int dbs__sqlschema_ident(dbs_sqlschema *c, dbs_buf *b, const char *ident)
{
	return dbs__sql_append_ident_in(b, c->t->ops->dialect, ident);
}

static void slog(dbs_sqlschema *c, dbs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void slog(dbs_sqlschema *c, dbs_log_level level, const char *fmt, ...)
{
	char line[2 * DBS_ERRMSG_MAX];
	va_list ap;
	const dbs_host *h = c->t->host;
	if (!h || !h->log)
		return;
	va_start(ap, fmt);
	dbs_vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	h->log(h, level, "%s: %s", c->t->ops->what, line);
}

static int set_name(dbs_sqlschema *c, const char *schema, const char *name)
{
	c->schema = c->ops->schema_of(c, schema);
	c->name = name;
	dbs_fmt(c->label, sizeof c->label, "%s.%s", c->schema, c->name);
	dbs_buf_reset(&c->qname);
	return dbs__sqlschema_ident(c, &c->qname, c->schema) ||
	               dbs_buf_append_char(&c->qname, '.') ||
	               dbs__sqlschema_ident(c, &c->qname, c->name)
	           ? DBS_ENOMEM
	           : 0;
}

static int exec(dbs_sqlschema *c, const dbs_buf *sql, char *err, size_t errlen)
{
	return c->t->ops->exec(c->t, sql->data, c->label, err, errlen);
}

static int table_exists(dbs_sqlschema *c, int *exists, char *err, size_t errlen)
{
	int schema_exists = 0;
	return c->ops->table_exists(c, exists, &schema_exists, err, errlen);
}

int dbs__sqlschema_column_def(dbs_sqlschema *c, dbs_buf *b, uint32_t i, char *err,
                              size_t errlen)
{
	const dbs_column *col = &c->def->columns[i];
	int rc;
	if (dbs__sqlschema_ident(c, b, col->name) || dbs_buf_append_char(b, ' '))
		return oom(err, errlen);
	if ((rc = c->ops->column_type(c, b, i, err, errlen)))
		return rc;
	if ((col->flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) &&
	    dbs_buf_append_str(b, " NOT NULL"))
		return oom(err, errlen);
	return 0;
}

#define column_def dbs__sqlschema_column_def

static int col_done(const dbs_sqlschema_col *s)
{
	return s->present && s->same_type && s->same_null && s->same_check;
}

/* The stream stops at the change: what is unsafe, the source's statement,
 * and the statement that would make the target table match. */
static int refuse(dbs_sqlschema *c, const char *why, const char *fix, char *err, size_t errlen)
{
	const char *stmt = c->ev->schema->statement;
	c->t->data_error = 0;
	dbs_fmt(err, errlen,
	        "table %s: schema change not applied: %s (source statement: %s). Make the target "
	        "table match%s%s, then resume the stream (same id)",
	        c->label, why, stmt && stmt[0] ? stmt : "not known",
	        fix ? ", for example with: " : "", fix ? fix : "");
	return DBS_ETARGET;
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

/* "ALTER TABLE t ALTER COLUMN col DROP DEFAULT" appended to c->ddl. */
static int drop_default_sql(dbs_sqlschema *c, const char *col)
{
	return dbs_buf_appendf(&c->ddl, "ALTER TABLE %s ALTER COLUMN ", c->qname.data) ||
	               dbs__sqlschema_ident(c, &c->ddl, col) ||
	               dbs_buf_append_str(&c->ddl, " DROP DEFAULT")
	           ? DBS_ENOMEM
	           : 0;
}

static int add_column(dbs_sqlschema *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	uint32_t i = ch->column;
	const dbs_column *col = &c->def->columns[i];
	const char *q = c->ops->name_quote;
	dbs_buf *d = &c->ddl;
	int rc, nn = (col->flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) != 0;
	int drop_default = 0;
	char why[512], now[64];
	if ((rc = c->ops->probe(c, NULL, err, errlen)))
		return rc;
	if (c->cols[i].present) {
		if (c->cols[i].same_type && c->cols[i].same_check)
			return 0; /* done before */
		dbs_fmt(why, sizeof why,
		        "column %s%s%s exists in the target with another type than the source's", q,
		        col->name, q);
		if ((rc = c->ops->alter_sql(c, i, err, errlen)))
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
		dbs_fmt(why, sizeof why,
		        "column %s%s%s is added with the default expression %s, which the target "
		        "cannot evaluate as the source did for the rows already there",
		        q, col->name, q, ch->default_text ? ch->default_text : "(not known)");
		break;
	default:
		/* NOT NULL without a default: the dialect's zero for the rows
		 * there (MySQL gives them the type's zero itself). */
		if (nn && c->ops->add_not_null &&
		    (rc = c->ops->add_not_null(c, i, why, sizeof why, &drop_default, err, errlen)))
			return rc;
		break;
	}
	/* Not one ALTER: PostgreSQL alters no column the same statement adds. */
	if (drop_default && !c->ops->drop_default_apart &&
	    (dbs_buf_append_str(d, "; ") || drop_default_sql(c, col->name)))
		return oom(err, errlen);
	if (why[0])
		return refuse(c, why, d->data, err, errlen);
	if (ch->unsafe)
		return refuse(c, "the source marked the added column unsafe", d->data, err, errlen);
	if ((rc = exec(c, d, err, errlen)) || !drop_default || !c->ops->drop_default_apart)
		return rc;
	dbs_buf_reset(d);
	if (drop_default_sql(c, col->name))
		return oom(err, errlen);
	return exec(c, d, err, errlen);
}

static int alter_column(dbs_sqlschema *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	uint32_t i = ch->column;
	const dbs_column *col = &c->def->columns[i];
	const char *q = c->ops->name_quote;
	char why[512];
	int rc;
	if ((rc = c->ops->probe(c, NULL, err, errlen)))
		return rc;
	if (!c->cols[i].present) {
		dbs_fmt(why, sizeof why, "column %s%s%s does not exist in the target", q, col->name,
		        q);
		dbs_buf_reset(&c->ddl);
		if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s ADD COLUMN ", c->qname.data) ||
		    (rc = column_def(c, &c->ddl, i, err, errlen)))
			return rc ? rc : oom(err, errlen);
		return refuse(c, why, c->ddl.data, err, errlen);
	}
	if (col_done(&c->cols[i]))
		return 0;
	if ((rc = c->ops->alter_sql(c, i, err, errlen)))
		return rc;
	if (ch->unsafe) {
		dbs_fmt(why, sizeof why,
		        "the change of column %s%s%s may not keep every value already there (a "
		        "narrower type, or NOT NULL added)",
		        q, col->name, q);
		return refuse(c, why, c->ddl.data, err, errlen);
	}
	return exec(c, &c->ddl, err, errlen);
}

static int rename_column(dbs_sqlschema *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	const char *to = c->def->columns[ch->column].name, *from = ch->from_name;
	const char *q = c->ops->name_quote;
	int has_from = 0, has_to = 0, rc;
	char why[512];
	if (!from) {
		dbs_fmt(err, errlen, "table %s: a column rename without the old name", c->label);
		return DBS_EINVAL;
	}
	if ((rc = c->ops->column_exists(c, from, &has_from, err, errlen)) ||
	    (rc = c->ops->column_exists(c, to, &has_to, err, errlen)))
		return rc;
	/* Where column names ignore case, a rename that changes only the
	 * case finds both. */
	if (has_from && has_to && !(c->ops->names_fold_case && strcasecmp(from, to) == 0)) {
		dbs_fmt(why, sizeof why, "columns %s%s%s and %s%s%s both exist in the target", q,
		        from, q, q, to, q);
		return refuse(c, why, NULL, err, errlen);
	}
	if (!has_from && has_to)
		return 0; /* done before */
	if ((rc = c->ops->rename_column_sql(c, from, ch->column, err, errlen)))
		return rc;
	if (!has_from) {
		dbs_fmt(why, sizeof why,
		        "column %s%s%s to rename to %s%s%s does not exist in the target", q, from, q,
		        q, to, q);
		return refuse(c, why, NULL, err, errlen);
	}
	if (ch->unsafe)
		return refuse(c, "the source marked the rename unsafe", c->ddl.data, err, errlen);
	return exec(c, &c->ddl, err, errlen);
}

static int drop_column(dbs_sqlschema *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	int exists = 0, rc;
	if (!ch->from_name) {
		dbs_fmt(err, errlen, "table %s: a dropped column without its name", c->label);
		return DBS_EINVAL;
	}
	if ((rc = c->ops->column_exists(c, ch->from_name, &exists, err, errlen)) || !exists)
		return rc;
	dbs_buf_reset(&c->ddl);
	if (dbs_buf_appendf(&c->ddl, "ALTER TABLE %s DROP COLUMN ", c->qname.data) ||
	    dbs__sqlschema_ident(c, &c->ddl, ch->from_name))
		return oom(err, errlen);
	if (ch->unsafe)
		return refuse(c, "the source marked the dropped column unsafe", c->ddl.data, err,
		              errlen);
	return exec(c, &c->ddl, err, errlen);
}

/* The primary key: the target's columns against the definition's. */
static int alter_key(dbs_sqlschema *c, char *err, size_t errlen)
{
	int same = 1, rc;
	if ((rc = c->ops->key_sql(c, &same, err, errlen)) || same)
		return rc;
	return refuse(c, "the primary key changed (rows the old key told apart may collide)",
	              c->ddl.data, err, errlen);
}

/* A change the source could not describe: passes once the target's
 * columns are the definition's, names and types. */
static int other_change(dbs_sqlschema *c, const char *why, char *err, size_t errlen)
{
	uint32_t n = 0;
	int rc, done;
	if ((rc = c->ops->probe(c, &n, err, errlen)))
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

static int rename_table(dbs_sqlschema *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	const dbs_table *def = c->def;
	const char *from_schema = ch->from_schema ? ch->from_schema : def->schema;
	int old_exists = 0, new_exists = 0, rc, schema_exists = 0;
	char why[512];
	if (!ch->from_name) {
		dbs_fmt(err, errlen, "table %s: a table rename without the old name", c->label);
		return DBS_EINVAL;
	}
	if (set_name(c, def->schema, def->name))
		return oom(err, errlen);
	if ((rc = c->ops->table_exists(c, &new_exists, &schema_exists, err, errlen)))
		return rc;
	if (set_name(c, from_schema, ch->from_name))
		return oom(err, errlen);
	if ((rc = table_exists(c, &old_exists, err, errlen)) ||
	    (rc = c->ops->rename_table_sql(c, from_schema, ch->from_name, schema_exists, err,
	                                   errlen)))
		return rc;
	if (old_exists && new_exists) {
		if (c->ops->bare_table_names)
			dbs_fmt(why, sizeof why, "tables %s and %s both exist in the target",
			        ch->from_name, def->name);
		else
			dbs_fmt(why, sizeof why, "tables %s and %s.%s both exist in the target",
			        c->label, def->schema, def->name);
		rc = refuse(c, why, NULL, err, errlen);
	} else if (old_exists && ch->unsafe) {
		rc = refuse(c, "the source marked the rename unsafe", c->ddl.data, err, errlen);
	} else if (old_exists) {
		rc = exec(c, &c->ddl, err, errlen);
	}
	/* Neither: the table never reached the target; the rows that follow
	 * create it. */
	c->ops->forget(c, from_schema, ch->from_name);
	if (rc == 0 && set_name(c, def->schema, def->name))
		return oom(err, errlen);
	return rc;
}

/* DROP TABLE and TRUNCATE, behind target.options.schemaChanges. */
static int drop_or_truncate(dbs_sqlschema *c, const dbs_schema_change *ch, char *err,
                            size_t errlen)
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
	if (dbs_buf_appendf(&c->ddl, "%s %s", drop ? "DROP TABLE" : c->ops->truncate_sql,
	                    c->qname.data))
		return oom(err, errlen);
	if ((rc = exec(c, &c->ddl, err, errlen)))
		return rc;
	c->dropped |= drop;
	return 0;
}

static int index_change(dbs_sqlschema *c, const dbs_schema_change *ch, char *err, size_t errlen)
{
	int yes = 0, rc;
	if ((rc = c->ops->creates_indexes(c, &yes, err, errlen)) || !yes)
		return rc;
	if (ch->kind == DBS_SCHEMA_ADD_INDEX) {
		if (ch->column >= c->def->nindexes) {
			dbs_fmt(err, errlen,
			        "table %s: an added index %" PRIu32 " past the %" PRIu32
			        " indexes of the definition",
			        c->label, ch->column, c->def->nindexes);
			return DBS_EINVAL;
		}
		return c->ops->index_add(c, ch->column, err, errlen);
	}
	if (!ch->from_name)
		return 0;
	return c->ops->index_drop(c, ch->from_name, err, errlen);
}

static int change_apply(dbs_sqlschema *c, const dbs_schema_change *ch, char *err, size_t errlen)
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
		return c->t->settings->no_create_tables ? 0 : c->ops->table_ready(c, err, errlen);
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
		if (c->t->settings->no_create_tables)
			return refuse(c, "the table does not exist in the target (noCreateTables)",
			              NULL, err, errlen);
		return c->ops->table_ready(c, err, errlen);
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

int dbs__sqlschema_apply(dbs_sqltarget *t, const dbs_sqlschema_ops *ops, const dbs_event *ev,
                         char *err, size_t errlen)
{
	const dbs_schema_event *se = ev ? ev->schema : NULL;
	dbs_sqlschema c = {.t = t, .ops = ops, .ev = ev, .def = ev ? ev->table : NULL};
	int rc;
	if (!se || !c.def || !c.def->name) {
		dbs_fmt(err, errlen, "a schema change without its table or changes");
		return DBS_EINVAL;
	}
	if ((rc = ops->begin(&c, err, errlen)))
		return rc;
	c.policy = dbs__sql_schema_policy(t->settings);
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
	if (first_rename ? set_name(&c,
	                            first_rename->from_schema ? first_rename->from_schema
	                                                      : c.def->schema,
	                            first_rename->from_name)
	                 : set_name(&c, c.def->schema, c.def->name)) {
		rc = oom(err, errlen);
		goto done;
	}
	for (uint32_t k = 0; k < se->nchanges; k++)
		if ((rc = change_apply(&c, &se->changes[k], err, errlen)))
			goto done;
	/* Statements built for the old definition must not run again. */
	ops->forget(&c, c.def->schema, c.def->name);
	if (!c.dropped && !(c.policy & DBS_SCHEMA_POLICY_NONE) &&
	    !(se->nchanges == 1 && se->changes[0].kind == DBS_SCHEMA_DROP_TABLE) &&
	    !t->settings->no_create_tables)
		rc = ops->table_ready(&c, err, errlen);
	if (rc == 0)
		slog(&c, DBS_LOG_INFO, "%s: schema change applied: %s", c.label,
		     se->statement ? se->statement : "(statement not known)");
done:
	if (ops->finish)
		rc = ops->finish(&c, rc, err, errlen);
	if (rc)
		t->data_error = 0; /* not a row's data: no row-by-row replay */
	free(c.cols);
	dbs_buf_free(&c.qname);
	dbs_buf_free(&c.ddl);
	dbs_buf_free(&c.tmp);
	return rc;
}
