/*
 * PostgreSQL source: what changed in a table between two Relation
 * messages of the same relation OID, as the changes of one schema event.
 *
 * pgoutput carries no DDL: the server sends a relation's definition again
 * (at the WAL position of the change that follows) once it changed, and
 * the difference is all there is to go by. Names alone cannot tell a
 * renamed column from a dropped one plus an added one, so columns are
 * also told apart by their attnum in pg_attribute, which a rename keeps
 * and a new column never reuses. The catalog is read when the message
 * arrives, so it shows the table as it is now, which may be later than
 * the message's position (a backlog being caught up); where it cannot
 * settle the question the change is left to the user (DBS_SCHEMA_OTHER,
 * unsafe: the stream stops at it) rather than guessed.
 *
 * Pure functions over the two definitions and what the caller read of
 * the catalog, so that unit tests drive them without a server.
 */
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sources/postgresql/pg_source.h"

/* Type OIDs of the built-in types whose widenings are known safe. */
enum {
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_BPCHAR = 1042,
	OID_VARCHAR = 1043,
	OID_TIME = 1083,
	OID_TIMESTAMP = 1114,
	OID_TIMESTAMPTZ = 1184,
	OID_INTERVAL = 1186,
	OID_TIMETZ = 1266,
	OID_VARBIT = 1562,
	OID_NUMERIC = 1700
};

/* Digits before the point an integer type may need. */
static int int_digits(uint32_t oid)
{
	return oid == OID_INT2 ? 5 : oid == OID_INT4 ? 10 : oid == OID_INT8 ? 19 : -1;
}

/* Whether every value of type (from, from_mod) is the same value of type
 * (to, to_mod): a change the target may make without looking at the rows. */
int dbs__pgs_type_widens(uint32_t from, int32_t from_mod, uint32_t to, int32_t to_mod)
{
	if (from == to) {
		if (from_mod == to_mod || to_mod < 0)
			return 1; /* the same, or the limit lifted */
		if (from_mod < 0)
			return 0; /* a limit set */
		switch (from) {
		case OID_VARCHAR:
		case OID_VARBIT: return to_mod >= from_mod;
		case OID_NUMERIC: {
			/* typmod: ((precision << 16) | scale) + 4 */
			int32_t p1 = ((from_mod - 4) >> 16) & 0xffff, s1 = (from_mod - 4) & 0xffff;
			int32_t p2 = ((to_mod - 4) >> 16) & 0xffff, s2 = (to_mod - 4) & 0xffff;
			return s2 >= s1 && p2 - s2 >= p1 - s1;
		}
		case OID_TIME:
		case OID_TIMETZ:
		case OID_TIMESTAMP:
		case OID_TIMESTAMPTZ: return to_mod >= from_mod; /* fractional digits */
		default: return 0; /* bpchar pads to its length, bit is exact */
		}
	}
	switch (from) {
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
		if (int_digits(to) > int_digits(from))
			return 1;
		if (to == OID_NUMERIC) {
			if (to_mod < 0)
				return 1;
			int32_t p = ((to_mod - 4) >> 16) & 0xffff, s = (to_mod - 4) & 0xffff;
			return p - s >= int_digits(from);
		}
		return 0;
	case OID_FLOAT4: return to == OID_FLOAT8;
	case OID_VARCHAR: return to == OID_TEXT;
	case OID_TEXT: return to == OID_VARCHAR && to_mod < 0;
	default: return 0;
	}
}

/* A default expression as pg_get_expr prints it: 'text'::type, a bare
 * number, true/false, NULL::type: 1 and the literal's text unescaped into
 * `out` (room for strlen(expr) + 1), *is_null for a NULL; else 0. */
static int literal_of(const char *expr, char *out, int *is_null)
{
	const char *p = expr;
	size_t n = 0;
	*is_null = 0;
	if (strncmp(p, "NULL::", 6) == 0 || strcmp(p, "NULL") == 0) {
		*is_null = 1;
		out[0] = '\0';
		return 1;
	}
	if (strcmp(p, "true") == 0 || strcmp(p, "false") == 0) {
		out[0] = p[0] == 't' ? 't' : 'f'; /* boolean's text output */
		out[1] = '\0';
		return 1;
	}
	if (*p == '\'') {
		for (p++; *p; p++) {
			if (*p == '\'') {
				if (p[1] != '\'')
					break;
				p++;
			}
			out[n++] = *p;
		}
		if (*p != '\'')
			return 0;
		p++;
		out[n] = '\0';
		/* Only a cast may follow: '…'::character varying, '…'::text[] */
		return *p == '\0' || (p[0] == ':' && p[1] == ':' && !strchr(p, '\''));
	}
	/* A number: optional minus, digits, optional fraction and exponent;
	 * a negative one may be parenthesized: (-1). */
	int paren = *p == '(';
	if (paren)
		p++;
	const char *start = p;
	if (*p == '-')
		p++;
	if (!(*p >= '0' && *p <= '9'))
		return 0;
	while ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' ||
	       ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E')))
		p++;
	n = (size_t)(p - start);
	if (paren && *p++ != ')')
		return 0;
	if (*p != '\0' && strncmp(p, "::", 2) != 0)
		return 0;
	memcpy(out, start, n);
	out[n] = '\0';
	return 1;
}

int dbs__pgs_default_of(dbs_batch *b, const char *missing, const char *expr, uint8_t *kind,
                        const char **text)
{
	*kind = DBS_DEFAULT_NONE;
	*text = NULL;
	/* The value rows that were there when the column was added hold
	 * (PostgreSQL 11+ keeps it rather than rewriting the table). */
	if (missing) {
		size_t n = strlen(missing);
		char *t = dbs_batch_alloc(b, n + 1);
		if (!t)
			return DBS_ENOMEM;
		memcpy(t, missing, n + 1);
		*kind = DBS_DEFAULT_LITERAL;
		*text = t;
		return 0;
	}
	if (!expr || !*expr)
		return 0;
	size_t n = strlen(expr);
	char *t = dbs_batch_alloc(b, n + 1);
	if (!t)
		return DBS_ENOMEM;
	int is_null;
	if (strcmp(expr, "now()") == 0 || strcmp(expr, "CURRENT_TIMESTAMP") == 0 ||
	    strcmp(expr, "transaction_timestamp()") == 0 ||
	    strcmp(expr, "statement_timestamp()") == 0) {
		*kind = DBS_DEFAULT_NOW;
		return 0;
	}
	if (literal_of(expr, t, &is_null)) {
		*kind = is_null ? DBS_DEFAULT_NULL : DBS_DEFAULT_LITERAL;
		*text = is_null ? NULL : t;
		return 0;
	}
	memcpy(t, expr, n + 1);
	*kind = DBS_DEFAULT_EXPR;
	*text = t;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The difference                                                      */
/* ------------------------------------------------------------------ */

typedef struct differ {
	dbs_batch *b;
	const dbs_pgs_diff_in *in;
	dbs_schema_change *changes;
	uint32_t n, cap;
	dbs_buf text; /* the statement as a reader would write it */
	int32_t *old_to_new; /* old column -> new column, -1 gone */
	int32_t *new_to_old; /* new column -> old column, -1 new */
	const char *why;     /* set: the changes cannot be told apart */
} differ;

static char *arena_str(dbs_batch *b, const char *s)
{
	size_t n = strlen(s ? s : "");
	char *t = dbs_batch_alloc(b, n + 1);
	if (t)
		memcpy(t, s ? s : "", n + 1);
	return t;
}

static dbs_schema_change *add(differ *d, uint8_t kind, uint32_t column, const char *from)
{
	if (d->n == d->cap)
		return NULL;
	dbs_schema_change *c = &d->changes[d->n];
	memset(c, 0, sizeof *c);
	c->kind = kind;
	c->column = column;
	if (from && !(c->from_name = arena_str(d->b, from)))
		return NULL;
	d->n++;
	return c;
}

static int say(differ *d, const char *fmt, const char *a, const char *b)
{
	if (dbs_buf_append_str(&d->text, d->text.len ? ", " : ""))
		return DBS_ENOMEM;
	return dbs_buf_appendf(&d->text, fmt, a, b ? b : "") ? DBS_ENOMEM : 0;
}

/* Match columns: by name, then a new name holding a gone name's attnum. */
static void match(differ *d)
{
	const dbs_table *o = d->in->old, *nw = d->in->new;
	for (uint32_t i = 0; i < o->ncolumns; i++)
		d->old_to_new[i] = -1;
	for (uint32_t j = 0; j < nw->ncolumns; j++) {
		d->new_to_old[j] = -1;
		for (uint32_t i = 0; i < o->ncolumns; i++)
			if (strcmp(o->columns[i].name, nw->columns[j].name) == 0) {
				d->new_to_old[j] = (int32_t)i;
				d->old_to_new[i] = (int32_t)j;
				break;
			}
	}
	for (uint32_t j = 0; j < nw->ncolumns; j++) {
		int32_t att = d->in->new_att ? d->in->new_att[j] : 0;
		if (d->new_to_old[j] >= 0 || att <= 0)
			continue;
		for (uint32_t i = 0; i < o->ncolumns; i++)
			if (d->old_to_new[i] < 0 && d->in->old_att && d->in->old_att[i] == att) {
				d->new_to_old[j] = (int32_t)i;
				d->old_to_new[i] = (int32_t)j;
				break;
			}
	}
	/* What is left: columns gone and columns new. Alone, each is what it
	 * looks like; together, a gone one may have become a new one unless
	 * the catalog shows the gone one dropped and the new one a column of
	 * its own. */
	uint32_t gone = 0, fresh = 0;
	for (uint32_t i = 0; i < o->ncolumns; i++)
		gone += d->old_to_new[i] < 0;
	for (uint32_t j = 0; j < nw->ncolumns; j++)
		fresh += d->new_to_old[j] < 0;
	if (!gone || !fresh)
		return;
	for (uint32_t i = 0; i < o->ncolumns && !d->why; i++) {
		if (d->old_to_new[i] >= 0)
			continue;
		int32_t att = d->in->old_att ? d->in->old_att[i] : 0;
		if (att <= 0 || !d->in->dropped || d->in->dropped(d->in->ctx, att) != 1)
			d->why = "a column is gone and another is new, and the catalog does not show the "
			         "gone one dropped: it may have been renamed";
	}
	for (uint32_t j = 0; j < nw->ncolumns && !d->why; j++) {
		if (d->new_to_old[j] >= 0)
			continue;
		int32_t att = d->in->new_att ? d->in->new_att[j] : 0;
		if (att <= 0)
			d->why = "a column is gone and another is new, and the new one is no longer in "
			         "the catalog: a rename cannot be told from a drop and an add";
	}
}

static int key_changed(const differ *d)
{
	const dbs_table *o = d->in->old, *nw = d->in->new;
	for (uint32_t j = 0; j < nw->ncolumns; j++) {
		int32_t i = d->new_to_old[j];
		int was = i >= 0 && (o->columns[i].flags & DBS_COLUMN_KEY);
		if (was != !!(nw->columns[j].flags & DBS_COLUMN_KEY))
			return 1;
	}
	for (uint32_t i = 0; i < o->ncolumns; i++)
		if (d->old_to_new[i] < 0 && (o->columns[i].flags & DBS_COLUMN_KEY))
			return 1;
	return 0;
}

static int diff(differ *d)
{
	const dbs_table *o = d->in->old, *nw = d->in->new;
	dbs_schema_change *c;
	char buf[160];

	if (strcmp(o->schema, nw->schema) != 0 || strcmp(o->name, nw->name) != 0) {
		if (!(c = add(d, DBS_SCHEMA_RENAME_TABLE, 0, o->name)) ||
		    !(c->from_schema = arena_str(d->b, o->schema)))
			return DBS_ENOMEM;
		dbs_fmt(buf, sizeof buf, "%s.%s", nw->schema, nw->name);
		if (say(d, "RENAME TO %s%s", buf, NULL))
			return DBS_ENOMEM;
	}
	match(d);
	if (d->why) {
		d->n = 0;
		if (!(c = add(d, DBS_SCHEMA_OTHER, 0, NULL)))
			return DBS_ENOMEM;
		c->unsafe = 1;
		dbs_buf_reset(&d->text);
		for (uint32_t i = 0; i < o->ncolumns; i++)
			if (d->old_to_new[i] < 0 && say(d, "column %s%s gone", o->columns[i].name, NULL))
				return DBS_ENOMEM;
		for (uint32_t j = 0; j < nw->ncolumns; j++)
			if (d->new_to_old[j] < 0 &&
			    say(d, "column %s %s new", nw->columns[j].name, nw->columns[j].type_name))
				return DBS_ENOMEM;
		return dbs_buf_appendf(&d->text, " (%s)", d->why) ? DBS_ENOMEM : 0;
	}
	for (uint32_t i = 0; i < o->ncolumns; i++)
		if (d->old_to_new[i] < 0) {
			if (!add(d, DBS_SCHEMA_DROP_COLUMN, 0, o->columns[i].name) ||
			    say(d, "DROP COLUMN %s%s", o->columns[i].name, NULL))
				return DBS_ENOMEM;
		}
	for (uint32_t j = 0; j < nw->ncolumns; j++) {
		int32_t i = d->new_to_old[j];
		if (i >= 0 && strcmp(o->columns[i].name, nw->columns[j].name) != 0) {
			if (!add(d, DBS_SCHEMA_RENAME_COLUMN, j, o->columns[i].name))
				return DBS_ENOMEM;
			dbs_fmt(buf, sizeof buf, "%s TO %s", o->columns[i].name, nw->columns[j].name);
			if (say(d, "RENAME COLUMN %s%s", buf, NULL))
				return DBS_ENOMEM;
		}
	}
	for (uint32_t j = 0; j < nw->ncolumns; j++) {
		if (d->new_to_old[j] >= 0)
			continue;
		const dbs_column *col = &nw->columns[j];
		if (!(c = add(d, DBS_SCHEMA_ADD_COLUMN, j, NULL)))
			return DBS_ENOMEM;
		if (d->in->defaults) {
			c->default_kind = d->in->defaults[j].kind;
			c->default_text = d->in->defaults[j].text;
		}
		if (say(d, "ADD COLUMN %s %s", col->name, col->type_name))
			return DBS_ENOMEM;
		if (c->default_kind == DBS_DEFAULT_LITERAL || c->default_kind == DBS_DEFAULT_EXPR) {
			const char *q = c->default_kind == DBS_DEFAULT_LITERAL ? "'" : "";
			if (dbs_buf_appendf(&d->text, " DEFAULT %s%s%s", q,
			                    c->default_text ? c->default_text : "", q))
				return DBS_ENOMEM;
		} else if (c->default_kind == DBS_DEFAULT_NOW &&
		           dbs_buf_append_str(&d->text, " DEFAULT now()")) {
			return DBS_ENOMEM;
		}
		if ((col->flags & DBS_COLUMN_NOT_NULL) && dbs_buf_append_str(&d->text, " NOT NULL"))
			return DBS_ENOMEM;
	}
	for (uint32_t j = 0; j < nw->ncolumns; j++) {
		int32_t i = d->new_to_old[j];
		if (i < 0)
			continue;
		const dbs_column *a = &o->columns[i], *z = &nw->columns[j];
		int retyped = a->type_id != z->type_id || a->type_mod != z->type_mod;
		int was_nn = !!(a->flags & DBS_COLUMN_NOT_NULL), is_nn = !!(z->flags & DBS_COLUMN_NOT_NULL);
		if (!retyped && was_nn == is_nn)
			continue;
		if (!(c = add(d, DBS_SCHEMA_ALTER_COLUMN, j, NULL)))
			return DBS_ENOMEM;
		c->unsafe = (retyped && !dbs__pgs_type_widens(a->type_id, a->type_mod, z->type_id,
		                                               z->type_mod)) ||
		            (is_nn && !was_nn);
		if (retyped && say(d, "ALTER COLUMN %s TYPE %s", z->name, z->type_name))
			return DBS_ENOMEM;
		if (was_nn != is_nn &&
		    say(d, is_nn ? "ALTER COLUMN %s SET NOT NULL%s" : "ALTER COLUMN %s DROP NOT NULL%s",
		        z->name, NULL))
			return DBS_ENOMEM;
	}
	if (key_changed(d)) {
		if (!(c = add(d, DBS_SCHEMA_ALTER_KEY, 0, NULL)))
			return DBS_ENOMEM;
		c->unsafe = 1;
		if (dbs_buf_append_str(&d->text, d->text.len ? ", PRIMARY KEY (" : "PRIMARY KEY ("))
			return DBS_ENOMEM;
		int first = 1;
		for (uint32_t j = 0; j < nw->ncolumns; j++)
			if (nw->columns[j].flags & DBS_COLUMN_KEY) {
				if (dbs_buf_appendf(&d->text, "%s%s", first ? "" : ", ", nw->columns[j].name))
					return DBS_ENOMEM;
				first = 0;
			}
		if (dbs_buf_append_str(&d->text, ")"))
			return DBS_ENOMEM;
	}
	return 0;
}

int dbs__pgs_schema_diff(dbs_batch *b, const dbs_pgs_diff_in *in, dbs_schema_event **out)
{
	differ d;
	int rc = DBS_ENOMEM;
	memset(&d, 0, sizeof d);
	*out = NULL;
	d.b = b;
	d.in = in;
	/* Each column at most twice (a rename and a type), the table's rename
	 * and its key. */
	d.cap = 2 * (in->old->ncolumns + in->new->ncolumns) + 2;
	d.changes = dbs_batch_alloc(b, (size_t)d.cap * sizeof *d.changes);
	d.old_to_new = malloc(((size_t)in->old->ncolumns + 1) * sizeof *d.old_to_new);
	d.new_to_old = malloc(((size_t)in->new->ncolumns + 1) * sizeof *d.new_to_old);
	if (!d.changes || !d.old_to_new || !d.new_to_old || (rc = diff(&d)) != 0)
		goto done;
	rc = 0;
	if (d.n == 0)
		goto done;
	dbs_schema_event *se = dbs_batch_alloc(b, sizeof *se);
	char *stmt = NULL;
	rc = DBS_ENOMEM;
	if (!se || dbs_buf_append_str(&d.text, "") ||
	    !(stmt = dbs_batch_alloc(b, d.text.len + 64 + strlen(in->old->schema) +
	                                    strlen(in->old->name))))
		goto done;
	/* pgoutput sends no statement: what the Relation message showed,
	 * spelled the way ALTER TABLE would say it. */
	dbs_fmt(stmt, d.text.len + 64 + strlen(in->old->schema) + strlen(in->old->name),
	        "%s %s.%s %s (from the Relation message)",
	        d.why ? "unclear change of" : "ALTER TABLE", in->old->schema, in->old->name,
	        d.text.data);
	se->statement = stmt;
	se->nchanges = d.n;
	se->changes = d.changes;
	*out = se;
	rc = 0;
done:
	free(d.old_to_new);
	free(d.new_to_old);
	dbs_buf_free(&d.text);
	return rc;
}
