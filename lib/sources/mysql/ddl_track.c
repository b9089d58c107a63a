/*
 * A table's definition after a schema statement, from the one before and
 * the statement's parsed changes (ddl_track.h), and the schema changes a
 * target applies to follow it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/binlog.h"
#include "sources/mysql/ddl_track.h"

/* ---- types ---- */

static int is_name(const char *type, const char *name)
{
	size_t n = strlen(name);
	return strncasecmp(type, name, n) == 0 &&
	       (type[n] == '\0' || type[n] == '(' || type[n] == ' ');
}

int dbs__mys_type_spell(dbs_buf *out, const dbs_mysql_type *t)
{
	const char *name = t->name ? t->name : "";
	int32_t len = t->len, scale = t->scale;
	int rc = 0;
	if (!strcmp(name, "float") && len > 24 && scale < 0) {
		name = "double"; /* FLOAT(p) with p > 24 is a DOUBLE */
		len = -1;
	} else if (!strcmp(name, "float") && scale < 0) {
		len = -1;
	}
	if (!strcmp(name, "text") || !strcmp(name, "blob"))
		len = -1; /* TEXT(n) and BLOB(n): the server picks the size, read back as is */
	rc = dbs_buf_append_str(out, name);
	if (rc == 0 && (!strcmp(name, "enum") || !strcmp(name, "set"))) {
		rc = dbs_buf_append_char(out, '(');
		for (uint32_t i = 0; rc == 0 && i < t->nmembers; i++) {
			const char *m = t->members[i];
			rc = dbs_buf_append_str(out, i ? ",'" : "'");
			for (; rc == 0 && *m; m++)
				rc = *m == '\'' ? dbs_buf_append_str(out, "''")
				                : dbs_buf_append_char(out, *m);
			if (rc == 0)
				rc = dbs_buf_append_char(out, '\'');
		}
		if (rc == 0)
			rc = dbs_buf_append_char(out, ')');
	} else if (rc == 0 && !strcmp(name, "decimal")) {
		rc = dbs_buf_appendf(out, "(%d,%d)", len < 0 ? 10 : len, scale < 0 ? 0 : scale);
	} else if (rc == 0 && (!strcmp(name, "char") || !strcmp(name, "binary") ||
	                       !strcmp(name, "bit"))) {
		rc = dbs_buf_appendf(out, "(%d)", len < 0 ? 1 : len);
	} else if (rc == 0 && len >= 0 && scale >= 0) {
		rc = dbs_buf_appendf(out, "(%d,%d)", len, scale);
	} else if (rc == 0 && (!strcmp(name, "time") || !strcmp(name, "datetime") ||
	                       !strcmp(name, "timestamp"))) {
		if (scale > 0)
			rc = dbs_buf_appendf(out, "(%d)", scale);
	} else if (rc == 0 && len >= 0 &&
	           (!strcmp(name, "varchar") || !strcmp(name, "varbinary") ||
	            !strcmp(name, "year"))) {
		rc = dbs_buf_appendf(out, "(%d)", len);
	}
	/* Integer display widths are left out, as MySQL 8 shows them. */
	if (rc == 0 && (t->is_unsigned || t->zerofill))
		rc = dbs_buf_append_str(out, " unsigned");
	if (rc == 0 && t->zerofill)
		rc = dbs_buf_append_str(out, " zerofill");
	return rc;
}

static const struct {
	const char *name;
	uint32_t code;
} type_codes[] = {
    {"tinyint", MY_T_TINY},          {"smallint", MY_T_SHORT},
    {"mediumint", MY_T_INT24},       {"int", MY_T_LONG},
    {"bigint", MY_T_LONGLONG},       {"float", MY_T_FLOAT},
    {"double", MY_T_DOUBLE},         {"decimal", MY_T_NEWDECIMAL},
    {"date", MY_T_DATE},             {"datetime", MY_T_DATETIME2},
    {"timestamp", MY_T_TIMESTAMP2},  {"time", MY_T_TIME2},
    {"year", MY_T_YEAR},             {"bit", MY_T_BIT},
    {"enum", MY_T_ENUM},             {"set", MY_T_SET},
    {"char", MY_T_STRING},           {"binary", MY_T_STRING},
    {"varchar", MY_T_VARCHAR},       {"varbinary", MY_T_VARCHAR},
    {"tinytext", MY_T_BLOB},         {"text", MY_T_BLOB},
    {"mediumtext", MY_T_BLOB},       {"longtext", MY_T_BLOB},
    {"tinyblob", MY_T_BLOB},         {"blob", MY_T_BLOB},
    {"mediumblob", MY_T_BLOB},       {"longblob", MY_T_BLOB},
    {"json", MY_T_JSON},             {"geometry", MY_T_GEOMETRY},
    {"point", MY_T_GEOMETRY},        {"linestring", MY_T_GEOMETRY},
    {"polygon", MY_T_GEOMETRY},      {"multipoint", MY_T_GEOMETRY},
    {"multilinestring", MY_T_GEOMETRY}, {"multipolygon", MY_T_GEOMETRY},
    {"geometrycollection", MY_T_GEOMETRY},
};

uint32_t dbs__mys_type_code(const char *type_name)
{
	for (size_t i = 0; type_name && i < sizeof type_codes / sizeof type_codes[0]; i++)
		if (is_name(type_name, type_codes[i].name))
			return type_codes[i].code;
	return 0;
}

int dbs__mys_type_agrees(const char *type_name, uint32_t real_type)
{
	uint32_t want = dbs__mys_type_code(type_name);
	switch (real_type) {
	case MY_T_DATETIME: real_type = MY_T_DATETIME2; break;
	case MY_T_TIMESTAMP: real_type = MY_T_TIMESTAMP2; break;
	case MY_T_TIME: real_type = MY_T_TIME2; break;
	case MY_T_VAR_STRING: real_type = MY_T_VARCHAR; break;
	case MY_T_TINY_BLOB:
	case MY_T_MEDIUM_BLOB:
	case MY_T_LONG_BLOB: real_type = MY_T_BLOB; break;
	case MY_T_DECIMAL: real_type = MY_T_NEWDECIMAL; break;
	default: break;
	}
	/* MariaDB's JSON is LONGTEXT; its INET6 and UUID are fixed strings. */
	if (want == MY_T_JSON && real_type == MY_T_BLOB)
		return 1;
	if (want == 0)
		return real_type == MY_T_STRING;
	/* ENUM and SET may be logged as a STRING holding the real type. */
	if ((want == MY_T_ENUM || want == MY_T_SET) && real_type == MY_T_STRING)
		return 1;
	return want == real_type;
}

/* ---- the definition being changed ---- */

typedef struct wcol {
	const char *name, *type;
	uint32_t flags;
} wcol;

typedef struct widx {
	const char *name;
	uint32_t flags;
	uint32_t n;
	const char **cols;
} widx;

typedef struct work {
	dbs_batch *arena;
	int before_is_now;
	const char *schema, *name;
	wcol *cols;
	uint32_t ncols, ccap;
	widx *idx;
	uint32_t nidx, icap;
	dbs_schema_change *ch;
	const char **ch_ref; /* per change: the column or index to find in the result */
	uint32_t nch, chcap;
	int nomem;
} work;

static const char *astr(work *w, const char *s, size_t len)
{
	char *p = dbs_batch_alloc(w->arena, len + 1);
	if (!p) {
		w->nomem = 1;
		return "";
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static const char *acopy(work *w, const char *s)
{
	return s ? astr(w, s, strlen(s)) : NULL;
}

static dbs_schema_change *add_change(work *w, dbs_schema_kind kind, const char *ref)
{
	if (w->nch == w->chcap) {
		uint32_t cap = w->chcap ? w->chcap * 2 : 8;
		dbs_schema_change *ch = realloc(w->ch, cap * sizeof *ch);
		const char **refs = ch ? realloc(w->ch_ref, cap * sizeof *refs) : NULL;
		if (ch)
			w->ch = ch;
		if (!ch || !refs) {
			w->nomem = 1;
			return NULL;
		}
		w->ch_ref = refs;
		w->chcap = cap;
	}
	dbs_schema_change *c = &w->ch[w->nch];
	memset(c, 0, sizeof *c);
	c->kind = (uint8_t)kind;
	w->ch_ref[w->nch++] = ref;
	return c;
}

static void other(work *w, const char *why)
{
	dbs_schema_change *c = add_change(w, DBS_SCHEMA_OTHER, NULL);
	if (c) {
		c->unsafe = 1;
		c->default_text = acopy(w, why);
	}
}

static int64_t find_col(const work *w, const char *name)
{
	for (uint32_t i = 0; name && i < w->ncols; i++)
		if (dbs__mysql_ddl_name_eq(w->cols[i].name, name))
			return i;
	return -1;
}

static int64_t find_idx(const work *w, const char *name)
{
	for (uint32_t i = 0; name && i < w->nidx; i++)
		if (dbs__mysql_ddl_name_eq(w->idx[i].name, name))
			return i;
	return -1;
}

static int grow_cols(work *w)
{
	if (w->ncols < w->ccap)
		return 0;
	uint32_t cap = w->ccap ? w->ccap * 2 : 16;
	wcol *c = realloc(w->cols, cap * sizeof *c);
	if (!c)
		return w->nomem = 1;
	w->cols = c;
	w->ccap = cap;
	return 0;
}

static int grow_idx(work *w)
{
	if (w->nidx < w->icap)
		return 0;
	uint32_t cap = w->icap ? w->icap * 2 : 8;
	widx *x = realloc(w->idx, cap * sizeof *x);
	if (!x)
		return w->nomem = 1;
	w->idx = x;
	w->icap = cap;
	return 0;
}

static const char *spell(work *w, const dbs_mysql_type *t)
{
	dbs_buf b = DBS_BUF_INIT;
	const char *s = "";
	if (dbs__mys_type_spell(&b, t) != 0)
		w->nomem = 1;
	else
		s = astr(w, b.data ? b.data : "", b.len);
	dbs_buf_free(&b);
	return s;
}

static uint32_t col_flags(const dbs_mysql_coldef *col, const char *type)
{
	uint32_t f = 0;
	if (col->primary_key)
		f |= DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL;
	if (col->nullable == 0)
		f |= DBS_COLUMN_NOT_NULL;
	if (strstr(type, " unsigned"))
		f |= DBS_COLUMN_UNSIGNED;
	return f;
}

/* Put column `c` (appended last) where the statement places it. */
static void place_col(work *w, uint32_t c, dbs_mysql_place place, const char *after)
{
	int64_t to = place == DBS_MYSQL_PLACE_FIRST ? 0 : -1;
	if (place == DBS_MYSQL_PLACE_AFTER) {
		int64_t a = find_col(w, after);
		if (a >= 0)
			to = a < c ? a + 1 : a;
	}
	if (to < 0 || (uint32_t)to == c)
		return;
	wcol moved = w->cols[c];
	if ((uint32_t)to < c)
		memmove(&w->cols[to + 1], &w->cols[to], (c - (uint32_t)to) * sizeof *w->cols);
	else
		memmove(&w->cols[c], &w->cols[c + 1], ((uint32_t)to - c) * sizeof *w->cols);
	w->cols[to] = moved;
}

static int is_now(const char *text, size_t len)
{
	static const char *const words[] = {"current_timestamp", "now", "localtime",
	                                    "localtimestamp"};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i]);
		if (len >= n && strncasecmp(text, words[i], n) == 0) {
			size_t k = n;
			if (k == len)
				return 1;
			if (text[k] != '(')
				continue;
			while (++k < len && text[k] >= '0' && text[k] <= '9')
				;
			if (k + 1 == len && text[k] == ')')
				return 1;
		}
	}
	return 0;
}

static void add_column(work *w, const dbs_mysql_coldef *col, int emit)
{
	const char *type = spell(w, &col->type);
	int64_t at = find_col(w, col->name);
	if (at < 0) {
		if (grow_cols(w))
			return;
		at = w->ncols++;
		w->cols[at].name = acopy(w, col->name);
		w->cols[at].flags = 0;
	}
	w->cols[at].type = type;
	w->cols[at].flags = col_flags(col, type) | (w->cols[at].flags & DBS_COLUMN_KEY);
	place_col(w, (uint32_t)at, col->place, col->after);
	if (!emit)
		return;
	dbs_schema_change *c = add_change(w, DBS_SCHEMA_ADD_COLUMN, w->cols[find_col(w, col->name)].name);
	if (!c)
		return;
	if (col->generated || col->auto_increment) {
		/* the rows there get values the target cannot compute alike */
		c->default_kind = DBS_DEFAULT_EXPR;
		c->default_text = col->generated ? "(generated)" : "auto_increment";
		return;
	}
	switch (col->def.kind) {
	case DBS_MYSQL_DEFAULT_NONE: c->default_kind = DBS_DEFAULT_NONE; break;
	case DBS_MYSQL_DEFAULT_NULL: c->default_kind = DBS_DEFAULT_NULL; break;
	case DBS_MYSQL_DEFAULT_STRING:
	case DBS_MYSQL_DEFAULT_NUMBER:
		c->default_kind = DBS_DEFAULT_LITERAL;
		c->default_text = astr(w, col->def.text ? col->def.text : "", col->def.len);
		break;
	case DBS_MYSQL_DEFAULT_EXPR:
		if (is_now(col->def.text ? col->def.text : "", col->def.len)) {
			c->default_kind = DBS_DEFAULT_NOW;
		} else {
			c->default_kind = DBS_DEFAULT_EXPR;
			c->default_text = astr(w, col->def.text ? col->def.text : "", col->def.len);
		}
		break;
	}
}

static void drop_col_from_indexes(work *w, const char *name)
{
	for (uint32_t i = 0; i < w->nidx;) {
		widx *x = &w->idx[i];
		uint32_t k = 0;
		for (uint32_t j = 0; j < x->n; j++)
			if (!dbs__mysql_ddl_name_eq(x->cols[j], name))
				x->cols[k++] = x->cols[j];
		x->n = k;
		if (k == 0) {
			memmove(x, x + 1, (w->nidx - i - 1) * sizeof *x);
			w->nidx--;
		} else {
			i++;
		}
	}
}

static void drop_column(work *w, const char *name)
{
	int64_t at = find_col(w, name);
	int key = at >= 0 && (w->cols[at].flags & DBS_COLUMN_KEY);
	if (at >= 0) {
		memmove(&w->cols[at], &w->cols[at + 1], (w->ncols - (uint32_t)at - 1) * sizeof *w->cols);
		w->ncols--;
		drop_col_from_indexes(w, name);
	}
	dbs_schema_change *c = add_change(w, DBS_SCHEMA_DROP_COLUMN, NULL);
	if (c) {
		c->from_name = acopy(w, name);
		c->unsafe = (uint8_t)key; /* the key shrinks: rows it told apart may collide */
	}
}

static void rename_in_indexes(work *w, const char *from, const char *to)
{
	for (uint32_t i = 0; i < w->nidx; i++)
		for (uint32_t j = 0; j < w->idx[i].n; j++)
			if (dbs__mysql_ddl_name_eq(w->idx[i].cols[j], from))
				w->idx[i].cols[j] = to;
}

static void rename_column(work *w, const char *from, const char *to)
{
	int64_t at = find_col(w, from);
	const char *name = acopy(w, to);
	if (at >= 0 && !dbs__mysql_ddl_name_eq(from, to) && find_col(w, to) >= 0) {
		other(w, "a column renamed onto the name of another");
		return;
	}
	if (at >= 0) {
		w->cols[at].name = name;
		rename_in_indexes(w, from, name);
	} else if (find_col(w, to) < 0) {
		other(w, "a column renamed that the source's definition does not show");
		return;
	}
	dbs_schema_change *c = add_change(w, DBS_SCHEMA_RENAME_COLUMN, name);
	if (c)
		c->from_name = acopy(w, from);
}

static void modify_column(work *w, const char *column, const dbs_mysql_coldef *col)
{
	int64_t at = find_col(w, column);
	if (at < 0 && col->name)
		at = find_col(w, col->name); /* renamed already in the definition read */
	if (at < 0 && w->before_is_now && col->name) {
		/* not there now (dropped later, or the table is not known): what
		 * it was cannot be told, its new type can */
		if (grow_cols(w))
			return;
		at = w->ncols++;
		w->cols[at].name = acopy(w, col->name);
		w->cols[at].type = "";
		w->cols[at].flags = 0;
	}
	if (at < 0) {
		other(w, "a column changed that the source's definition does not show");
		return;
	}
	if (col->name && !dbs__mysql_ddl_name_eq(w->cols[at].name, col->name)) {
		rename_column(w, w->cols[at].name, col->name);
		at = find_col(w, col->name);
		if (at < 0)
			return;
	}
	wcol *wc = &w->cols[at];
	const char *type = spell(w, &col->type);
	uint32_t flags = col_flags(col, type) | (wc->flags & DBS_COLUMN_KEY);
	if (flags & DBS_COLUMN_KEY)
		flags |= DBS_COLUMN_NOT_NULL;
	dbs_mysql_change_class cls = DBS_MYSQL_CHANGE_NARROWS;
	dbs_mysql_ddl *old = NULL;
	if (strcmp(wc->type, type) == 0) {
		cls = DBS_MYSQL_CHANGE_SAME;
	} else if (dbs__mysql_type_parse(&old, wc->type, strlen(wc->type)) != 0) {
		w->nomem = 1;
		return;
	} else if (old->cls == DBS_MYSQL_DDL_CHANGES && old->nchanges == 1) {
		cls = dbs__mysql_type_change(&old->changes[0].col->type, &col->type);
	}
	dbs__mysql_ddl_free(old);
	if ((wc->flags & DBS_COLUMN_NOT_NULL) && !(flags & DBS_COLUMN_NOT_NULL) &&
	    cls == DBS_MYSQL_CHANGE_SAME)
		cls = DBS_MYSQL_CHANGE_WIDENS;
	else if (!(wc->flags & DBS_COLUMN_NOT_NULL) && (flags & DBS_COLUMN_NOT_NULL))
		cls = DBS_MYSQL_CHANGE_NARROWS;
	int changed = strcmp(wc->type, type) != 0 ||
	              (wc->flags & DBS_COLUMN_NOT_NULL) != (flags & DBS_COLUMN_NOT_NULL);
	if (!changed && w->before_is_now) {
		/* what the column was before the statement is not known */
		changed = 1;
		cls = DBS_MYSQL_CHANGE_NARROWS;
	}
	wc->type = type;
	wc->flags = flags;
	const char *name = wc->name;
	place_col(w, (uint32_t)at, col->place, col->after);
	if (!changed)
		return;
	dbs_schema_change *c = add_change(w, DBS_SCHEMA_ALTER_COLUMN, name);
	if (c)
		c->unsafe = cls == DBS_MYSQL_CHANGE_NARROWS;
}

static void set_key(work *w, const dbs_mysql_index *ix)
{
	uint32_t *want = calloc(w->ncols ? w->ncols : 1, sizeof *want);
	if (!want) {
		w->nomem = 1;
		return;
	}
	for (uint32_t i = 0; i < ix->nparts; i++) {
		int64_t at = find_col(w, ix->parts[i].column);
		if (at >= 0)
			want[at] = 1;
	}
	int same = 1;
	for (uint32_t i = 0; i < w->ncols; i++)
		if (((w->cols[i].flags & DBS_COLUMN_KEY) != 0) != (want[i] != 0))
			same = 0;
	for (uint32_t i = 0; i < w->ncols; i++) {
		w->cols[i].flags &= ~(uint32_t)DBS_COLUMN_KEY;
		if (want[i])
			w->cols[i].flags |= DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL;
	}
	free(want);
	dbs_schema_change *c = same ? NULL : add_change(w, DBS_SCHEMA_ALTER_KEY, NULL);
	if (c)
		c->unsafe = 1;
}

/* The name the server gives an index declared without one: its first
 * column's, then _2, _3... while taken. */
static const char *index_name(work *w, const dbs_mysql_index *ix)
{
	if (ix->name)
		return acopy(w, ix->name);
	const char *base = ix->parts[0].column;
	if (find_idx(w, base) < 0)
		return acopy(w, base);
	for (unsigned k = 2; k < 1000; k++) {
		char buf[300];
		dbs_fmt(buf, sizeof buf, "%s_%u", base, k);
		if (find_idx(w, buf) < 0)
			return acopy(w, buf);
	}
	return acopy(w, base);
}

static void add_index(work *w, const dbs_mysql_index *ix, int emit)
{
	if (ix->kind == DBS_MYSQL_INDEX_PRIMARY) {
		if (emit)
			set_key(w, ix);
		else /* CREATE TABLE: the key is part of the table */
			for (uint32_t i = 0; i < ix->nparts; i++) {
				int64_t at = find_col(w, ix->parts[i].column);
				if (at >= 0)
					w->cols[at].flags |= DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL;
			}
		return;
	}
	if (ix->kind != DBS_MYSQL_INDEX_PLAIN && ix->kind != DBS_MYSQL_INDEX_UNIQUE &&
	    ix->kind != DBS_MYSQL_INDEX_FULLTEXT)
		return; /* SPATIAL, foreign keys and checks are not replicated */
	if (ix->nparts == 0)
		return;
	for (uint32_t i = 0; i < ix->nparts; i++)
		if (!ix->parts[i].column || find_col(w, ix->parts[i].column) < 0)
			return; /* a functional part: not replicated */
	const char *name = index_name(w, ix);
	int64_t at = find_idx(w, name);
	if (at < 0) {
		if (grow_idx(w))
			return;
		at = w->nidx++;
	}
	widx *x = &w->idx[at];
	x->name = name;
	x->flags = (ix->kind == DBS_MYSQL_INDEX_UNIQUE ? DBS_INDEX_UNIQUE : 0) |
	           (ix->kind == DBS_MYSQL_INDEX_FULLTEXT ? DBS_INDEX_FULLTEXT : 0);
	x->n = ix->nparts;
	x->cols = dbs_batch_alloc(w->arena, ix->nparts * sizeof *x->cols);
	if (!x->cols) {
		w->nomem = 1;
		x->n = 0;
		return;
	}
	for (uint32_t i = 0; i < ix->nparts; i++)
		x->cols[i] = w->cols[find_col(w, ix->parts[i].column)].name;
	if (emit)
		add_change(w, DBS_SCHEMA_ADD_INDEX, name);
}

static void drop_index(work *w, const char *name, int known_only)
{
	int64_t at = find_idx(w, name);
	if (at < 0 && known_only)
		return;
	if (at >= 0) {
		memmove(&w->idx[at], &w->idx[at + 1], (w->nidx - (uint32_t)at - 1) * sizeof *w->idx);
		w->nidx--;
	}
	dbs_schema_change *c = add_change(w, DBS_SCHEMA_DROP_INDEX, NULL);
	if (c)
		c->from_name = acopy(w, name);
}

static void rename_index(work *w, const char *from, const char *to)
{
	int64_t at = find_idx(w, from);
	if (at < 0)
		return; /* an index not replicated */
	widx moved = w->idx[at];
	drop_index(w, from, 1);
	if (grow_idx(w))
		return;
	moved.name = acopy(w, to);
	w->idx[w->nidx++] = moved;
	add_change(w, DBS_SCHEMA_ADD_INDEX, moved.name);
}

static void drop_key(work *w)
{
	int had = 0;
	for (uint32_t i = 0; i < w->ncols; i++) {
		had |= (w->cols[i].flags & DBS_COLUMN_KEY) != 0;
		w->cols[i].flags &= ~(uint32_t)DBS_COLUMN_KEY;
	}
	dbs_schema_change *c = had ? add_change(w, DBS_SCHEMA_ALTER_KEY, NULL) : NULL;
	if (c)
		c->unsafe = 1;
}

static void apply_one(work *w, const dbs_mysql_ddl_change *c)
{
	switch (c->kind) {
	case DBS_MYSQL_ADD_COLUMN:
		if (c->col)
			add_column(w, c->col, 1);
		break;
	case DBS_MYSQL_DROP_COLUMN:
		if (!(c->if_exists && find_col(w, c->column) < 0))
			drop_column(w, c->column);
		break;
	case DBS_MYSQL_RENAME_COLUMN: rename_column(w, c->column, c->new_name); break;
	case DBS_MYSQL_MODIFY_COLUMN:
		if (c->col)
			modify_column(w, c->column, c->col);
		break;
	case DBS_MYSQL_SET_DEFAULT:
	case DBS_MYSQL_DROP_DEFAULT:
	case DBS_MYSQL_DROP_FOREIGN_KEY:
		break; /* defaults and foreign keys are not replicated */
	case DBS_MYSQL_ADD_INDEX:
		if (c->index)
			add_index(w, c->index, 1);
		break;
	case DBS_MYSQL_DROP_INDEX: drop_index(w, c->name, 0); break;
	case DBS_MYSQL_DROP_CONSTRAINT: drop_index(w, c->name, 1); break;
	case DBS_MYSQL_DROP_PRIMARY_KEY: drop_key(w); break;
	case DBS_MYSQL_RENAME_INDEX: rename_index(w, c->name, c->new_name); break;
	case DBS_MYSQL_CONVERT_CHARSET:
		other(w, "the table's text columns converted to another character set: the "
		         "rows already in the target keep their text as it was");
		break;
	case DBS_MYSQL_RENAME_TABLE: {
		dbs_schema_change *r = add_change(w, DBS_SCHEMA_RENAME_TABLE, NULL);
		if (r) {
			r->from_schema = acopy(w, w->schema);
			r->from_name = acopy(w, w->name);
		}
		w->schema = acopy(w, c->new_table.schema);
		w->name = acopy(w, c->new_table.name);
		break;
	}
	case DBS_MYSQL_CREATE_TABLE:
		w->ncols = w->nidx = 0;
		for (uint32_t i = 0; i < c->ncolumns; i++)
			add_column(w, &c->columns[i], 0);
		for (uint32_t i = 0; i < c->nindexes; i++)
			add_index(w, &c->indexes[i], 0);
		add_change(w, DBS_SCHEMA_CREATE_TABLE, NULL);
		break;
	default: other(w, "a statement the source's definition cannot follow"); break;
	}
}

int dbs__mys_track_apply(const dbs_table *before, int before_is_now, const char *schema,
                         const char *name, const dbs_mysql_ddl_change *changes, uint32_t n,
                         dbs_batch *arena, dbs_table **after, dbs_schema_change **out,
                         uint32_t *nout)
{
	int rc = DBS_ENOMEM;
	work w;
	memset(&w, 0, sizeof w);
	w.arena = arena;
	w.before_is_now = before_is_now;
	w.schema = schema;
	w.name = name;
	dbs_column *cols = NULL;
	uint32_t *pos = NULL;
	dbs_table *t = NULL;
	*after = NULL;
	*out = NULL;
	*nout = 0;
	for (uint32_t i = 0; i < n; i++) {
		dbs_mysql_ddl_kind k = changes[i].kind;
		if (k == DBS_MYSQL_CREATE_TABLE_LIKE || k == DBS_MYSQL_CREATE_TABLE_SELECT ||
		    k == DBS_MYSQL_DROP_TABLE || k == DBS_MYSQL_TRUNCATE_TABLE ||
		    k == DBS_MYSQL_DROP_SCHEMA)
			return DBS_EINVAL;
	}
	if (before) {
		for (uint32_t i = 0; i < before->ncolumns; i++) {
			if (grow_cols(&w))
				goto fail;
			w.cols[w.ncols].name = before->columns[i].name;
			w.cols[w.ncols].type = before->columns[i].type_name;
			w.cols[w.ncols++].flags = before->columns[i].flags;
		}
		for (uint32_t i = 0; i < before->nindexes; i++) {
			const dbs_index *ix = &before->indexes[i];
			if (grow_idx(&w))
				goto fail;
			widx *x = &w.idx[w.nidx++];
			x->name = ix->name;
			x->flags = ix->flags;
			x->n = ix->ncolumns;
			x->cols = dbs_batch_alloc(arena, (ix->ncolumns ? ix->ncolumns : 1) * sizeof *x->cols);
			if (!x->cols)
				goto fail;
			for (uint32_t j = 0; j < ix->ncolumns; j++)
				x->cols[j] = before->columns[ix->columns[j]].name;
		}
	}
	for (uint32_t i = 0; i < n && !w.nomem; i++)
		apply_one(&w, &changes[i]);
	if (w.nomem)
		goto fail;
	cols = calloc(w.ncols ? w.ncols : 1, sizeof *cols);
	pos = calloc(w.ncols ? w.ncols : 1, sizeof *pos);
	if (!cols || !pos)
		goto fail;
	for (uint32_t i = 0; i < w.ncols; i++) {
		cols[i].name = w.cols[i].name;
		cols[i].type_name = w.cols[i].type;
		cols[i].type_id = dbs__mys_type_code(w.cols[i].type);
		cols[i].type_mod = -1;
		cols[i].flags = w.cols[i].flags;
	}
	if (dbs_table_new(&t, DBS_DIALECT_MYSQL, w.schema, w.name, cols, w.ncols) != 0)
		goto fail;
	t->version = before ? before->version + 1 : 1;
	t->source_id = before ? before->source_id : 0;
	for (uint32_t i = 0; i < w.nidx; i++) {
		widx *x = &w.idx[i];
		uint32_t k = 0;
		for (uint32_t j = 0; j < x->n; j++) {
			int64_t at = find_col(&w, x->cols[j]);
			if (at >= 0)
				pos[k++] = (uint32_t)at;
		}
		if (k && dbs_table_add_index(t, x->name, x->flags, pos, k) != 0)
			goto fail;
	}
	/* Positions in the result; a change whose column a later part of the
	 * statement took away again is left out. */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < w.nch; i++) {
		dbs_schema_change c = w.ch[i];
		if (w.ch_ref[i]) {
			int64_t at = -1;
			if (c.kind == DBS_SCHEMA_ADD_INDEX) {
				for (uint32_t j = 0; j < t->nindexes && at < 0; j++)
					if (dbs__mysql_ddl_name_eq(t->indexes[j].name, w.ch_ref[i]))
						at = j;
			} else {
				at = find_col(&w, w.ch_ref[i]);
			}
			if (at < 0)
				continue;
			c.column = (uint32_t)at;
		}
		w.ch[kept++] = c;
	}
	if (kept) {
		*out = dbs_batch_alloc(arena, kept * sizeof **out);
		if (!*out)
			goto fail;
		memcpy(*out, w.ch, kept * sizeof **out);
	}
	*nout = kept;
	*after = t;
	t = NULL;
	rc = 0;
fail:
	if (t)
		dbs_table_unref(t);
	free(cols);
	free(pos);
	free(w.cols);
	free(w.idx);
	free(w.ch);
	free(w.ch_ref);
	return rc;
}
