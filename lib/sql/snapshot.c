/* What the SQL sources' snapshots do alike (snapshot.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sql/snapshot.h"
#include "sql/value_text.h"

void dbs__sql_snap_table_free(dbs_sql_snap_table *t)
{
	if (t->def)
		dbs_table_unref(t->def);
	free(t->keys);
	free(t->qname);
	free(t->select_list);
	free(t->from);
	free(t->query);
	free(t->fks);
	for (size_t i = 0; i < t->nstrings; i++)
		free(t->strings[i]);
	free(t->strings);
	free(t->refcols);
	free(t->fkcols);
}

void *dbs__sql_snap_find(void *tables, size_t size, uint32_t n, const dbs_load_table *table)
{
	for (uint32_t i = 0; i < n; i++) {
		dbs_sql_snap_table *t = (void *)((char *)tables + (size_t)i * size);
		if (t->def == table->def)
			return t;
	}
	return NULL;
}

int dbs__sql_snap_oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

void dbs__sql_snap_where(char *buf, size_t size, int index, const char *schema, const char *name)
{
	if (index >= 0)
		dbs_fmt(buf, size, "source.filter.tables[%d] (%s.%s)", index, schema, name);
	else
		dbs_fmt(buf, size, "table %s.%s", schema, name);
}

int dbs__sql_snap_set_qname(dbs_sql_snap_table *t, dbs_dialect dialect, const char *schema,
                            const char *name)
{
	dbs_buf b = DBS_BUF_INIT;
	int rc = DBS_ENOMEM;
	if (!dbs__sql_append_ident_in(&b, dialect, schema) && !dbs_buf_append_char(&b, '.') &&
	    !dbs__sql_append_ident_in(&b, dialect, name) && (t->qname = strdup(b.data)))
		rc = 0;
	dbs_buf_free(&b);
	return rc;
}

int dbs__sql_snap_set_from(dbs_sql_snap_table *t)
{
	dbs_buf b = DBS_BUF_INIT;
	int rc = DBS_ENOMEM;
	if (!(t->query ? dbs_buf_appendf(&b, "(%s) AS dbs_q", t->query)
	               : dbs_buf_append_str(&b, t->qname)) &&
	    (t->from = strdup(b.data)))
		rc = 0;
	dbs_buf_free(&b);
	return rc;
}

/* ---- foreign keys ---- */

/* A string the table keeps (foreign keys point into them). */
static const char *keep_str(dbs_sql_snap_table *t, const char *s)
{
	char *c = strdup(s ? s : "");
	if (!c || dbs_array_reserve((void **)&t->strings, &t->capstrings, t->nstrings + 1,
	                            sizeof *t->strings)) {
		free(c);
		return NULL;
	}
	t->strings[t->nstrings++] = c;
	return c;
}

/* `copied` lists schema.name. */
static int copies(const char *const *copied, uint32_t ncopied, const char *schema, const char *name)
{
	size_t ls = strlen(schema);
	for (uint32_t i = 0; i < ncopied; i++)
		if (strncmp(copied[i], schema, ls) == 0 && copied[i][ls] == '.' &&
		    strcmp(copied[i] + ls + 1, name) == 0)
			return 1;
	return 0;
}

int dbs__sql_snap_foreign_keys(dbs_sql_snap_table *t, const dbs_sql_fk_row *rows, size_t nrows,
                               const char *const *copied, uint32_t ncopied, const dbs_host *host)
{
	if (!nrows)
		return 0;
	t->fks = calloc(nrows, sizeof *t->fks);
	t->refcols = calloc(nrows, sizeof *t->refcols);
	t->fkcols = calloc(nrows, sizeof *t->fkcols);
	if (!t->fks || !t->refcols || !t->fkcols)
		return DBS_ENOMEM;
	size_t used = 0;
	const char *last = "";
	int skip = 0;
	for (size_t r = 0; r < nrows; r++) {
		const dbs_sql_fk_row *row = &rows[r];
		if (r == 0 || strcmp(last, row->name) != 0) {
			last = row->name;
			skip = !copies(copied, ncopied, row->ref_schema, row->ref_name);
			if (skip) {
				dbs_log(
				    host, DBS_LOG_INFO,
				    "%s: foreign key %s not copied (it references %s.%s, which the "
				    "load does not copy)",
				    t->qname, row->name, row->ref_schema, row->ref_name);
				continue;
			}
			dbs_foreign_key *fk = &t->fks[t->nfks++];
			if (!(fk->name = keep_str(t, row->name)) ||
			    !(fk->ref_schema = keep_str(t, row->ref_schema)) ||
			    !(fk->ref_name = keep_str(t, row->ref_name)) ||
			    !(fk->on_delete = keep_str(t, row->on_delete)) ||
			    !(fk->on_update = keep_str(t, row->on_update)))
				return DBS_ENOMEM;
			fk->columns = t->fkcols + used;
			fk->ref_columns = t->refcols + used;
		} else if (skip) {
			continue;
		}
		dbs_foreign_key *fk = &t->fks[t->nfks - 1];
		uint32_t c = 0;
		while (c < t->def->ncolumns && strcmp(t->def->columns[c].name, row->column) != 0)
			c++;
		if (c == t->def->ncolumns) { /* not selected by the query: no key */
			t->nfks--;
			skip = 1;
			continue;
		}
		t->fkcols[used] = c;
		if (!(t->refcols[used] = keep_str(t, row->ref_column)))
			return DBS_ENOMEM;
		used++;
		fk->ncolumns++;
	}
	t->load.foreign = t->fks;
	t->load.nforeign = t->nfks;
	return 0;
}

/* ---- keys in SQL ---- */

static int append_int(dbs_buf *b, const dbs_value *v)
{
	return v->kind == DBS_VALUE_UINT ? dbs_buf_appendf(b, "%" PRIu64, v->v.u)
	                                 : dbs_buf_appendf(b, "%" PRId64, v->v.i);
}

static int append_key_column(dbs_buf *b, dbs_dialect d, const dbs_sql_snap_table *t, uint32_t k)
{
	return dbs__sql_append_ident_in(b, d, t->def->columns[t->keys[k]].name);
}

/* (k1, k2) > (v1, v2) or <=: PostgreSQL compares rows and scans an index
 * range for them. */
static int key_cond_rows(dbs_buf *b, dbs_dialect d, const dbs_sql_snap_table *t, const dbs_value *v,
                         int above)
{
	uint32_t n = t->load.nkeys;
	int rc = dbs_buf_append_char(b, '(');
	for (uint32_t k = 0; k < n && !rc; k++)
		rc = (k && dbs_buf_append_char(b, ',')) || append_key_column(b, d, t, k);
	if (!rc)
		rc = dbs_buf_appendf(b, ") %s (", above ? ">" : "<=");
	for (uint32_t k = 0; k < n && !rc; k++)
		rc = (k && dbs_buf_append_char(b, ',')) || append_int(b, &v[k]);
	return rc ? rc : dbs_buf_append_char(b, ')');
}

/*
 * The same spelled as ORs, lexicographically, so that every MySQL and
 * MariaDB range optimiser reads it (a row comparison it may scan in
 * full): (a > 1) OR (a = 1 AND b > 2).
 */
static int key_cond_ors(dbs_buf *b, dbs_dialect d, const dbs_sql_snap_table *t, const dbs_value *v,
                        int above)
{
	uint32_t n = t->load.nkeys;
	int rc = dbs_buf_append_char(b, '(');
	for (uint32_t i = 0; i < n && !rc; i++) {
		rc = dbs_buf_append_str(b, i ? " OR (" : "(");
		for (uint32_t k = 0; k <= i && !rc; k++)
			rc = (k && dbs_buf_append_str(b, " AND ")) ||
			     append_key_column(b, d, t, k) ||
			     dbs_buf_append_str(b, k < i   ? " = "
			                           : above ? " > "
			                                   : " < ") ||
			     append_int(b, &v[k]);
		if (!rc)
			rc = dbs_buf_append_char(b, ')');
	}
	if (!rc && !above) { /* or equal: the whole key */
		rc = dbs_buf_append_str(b, " OR (");
		for (uint32_t k = 0; k < n && !rc; k++)
			rc = (k && dbs_buf_append_str(b, " AND ")) ||
			     append_key_column(b, d, t, k) || dbs_buf_append_str(b, " = ") ||
			     append_int(b, &v[k]);
		if (!rc)
			rc = dbs_buf_append_char(b, ')');
	}
	return rc ? rc : dbs_buf_append_char(b, ')');
}

int dbs__sql_snap_key_cond(dbs_buf *b, dbs_dialect d, const dbs_sql_snap_table *t,
                           const dbs_value *v, int above)
{
	return d == DBS_DIALECT_MYSQL ? key_cond_ors(b, d, t, v, above)
	                              : key_cond_rows(b, d, t, v, above);
}

int dbs__sql_snap_order_by(dbs_buf *b, dbs_dialect d, const dbs_sql_snap_table *t)
{
	int rc = dbs_buf_append_str(b, " ORDER BY ");
	for (uint32_t k = 0; k < t->load.nkeys && !rc; k++)
		rc = (k && dbs_buf_append_char(b, ',')) || append_key_column(b, d, t, k);
	return rc;
}

int dbs__sql_snap_chunk_select(dbs_buf *b, dbs_dialect d, const dbs_sql_snap_table *t,
                               const dbs_load_chunk *chunk)
{
	if (dbs_buf_appendf(b, "SELECT %s FROM %s", t->select_list, t->from))
		return DBS_ENOMEM;
	if (t->load.nkeys && (chunk->lo || chunk->hi) &&
	    (dbs_buf_append_str(b, " WHERE ") ||
	     (chunk->lo && dbs__sql_snap_key_cond(b, d, t, chunk->lo, 1)) ||
	     (chunk->lo && chunk->hi && dbs_buf_append_str(b, " AND ")) ||
	     (chunk->hi && dbs__sql_snap_key_cond(b, d, t, chunk->hi, 0))))
		return DBS_ENOMEM;
	if (t->load.nkeys && dbs__sql_snap_order_by(b, d, t))
		return DBS_ENOMEM;
	return 0;
}

int dbs__sql_snap_parse_int(const char *s, size_t len, dbs_value *v)
{
	char buf[32];
	char *end;
	if (!s || len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	memset(v, 0, sizeof *v);
	if (buf[0] == '-') {
		v->kind = DBS_VALUE_INT;
		v->v.i = strtoll(buf, &end, 10);
	} else {
		unsigned long long u = strtoull(buf, &end, 10);
		if (u > (unsigned long long)INT64_MAX) {
			v->kind = DBS_VALUE_UINT;
			v->v.u = u;
		} else {
			v->kind = DBS_VALUE_INT;
			v->v.i = (int64_t)u;
		}
	}
	return errno || *end ? -1 : 0;
}

/* ---- the plan ---- */

/* After the point `last` (none: NULL): " WHERE key > last". */
static int after(dbs_buf *q, dbs_dialect d, const dbs_sql_snap_table *t, const dbs_value *last)
{
	return last &&
	       (dbs_buf_append_str(q, " WHERE ") || dbs__sql_snap_key_cond(q, d, t, last, 1));
}

int dbs__sql_snap_plan(const dbs_sql_snap_walk *w, const dbs_sql_snap_table *t, uint64_t rows,
                       dbs_sql_snap_points *keep, const dbs_value **points, uint32_t *n,
                       uint64_t *counted, char *err, size_t errlen)
{
	dbs_buf q = DBS_BUF_INIT, v = DBS_BUF_INIT;
	uint32_t nk = t ? t->load.nkeys : 0, np = 0;
	uint64_t total = 0;
	char what[640];
	int rc = 0, found;
	*points = NULL;
	*n = 0;
	*counted = 0;
	if (!nk)
		return 0;
	dbs_fmt(what, sizeof what, "planning the chunks of %s", t->qname);
	for (;;) {
		const dbs_value *last = np ? keep->v + (size_t)(np - 1) * nk : NULL;
		dbs_buf_reset(&q);
		dbs_buf_reset(&v);
		if (dbs_buf_append_str(&q, "SELECT "))
			goto nomem;
		for (uint32_t k = 0; k < nk; k++)
			if ((k && dbs_buf_append_char(&q, ',')) ||
			    append_key_column(&q, w->dialect, t, k))
				goto nomem;
		if (dbs_buf_appendf(&q, " FROM %s", t->qname) || after(&q, w->dialect, t, last) ||
		    dbs__sql_snap_order_by(&q, w->dialect, t) ||
		    dbs_buf_appendf(&q, " LIMIT 1 OFFSET %" PRIu64, rows - 1))
			goto nomem;
		if ((rc = w->row(w->ctx, q.data, nk, &v, &found, what, err, errlen)))
			goto done;
		if (!found)
			break;
		if (dbs_array_reserve((void **)&keep->v, &keep->cap, (size_t)(np + 1) * nk,
		                      sizeof *keep->v))
			goto nomem;
		const char *f = v.data;
		for (uint32_t k = 0; k < nk; k++) {
			size_t len = f ? strlen(f) : 0;
			if (dbs__sql_snap_parse_int(f, len, &keep->v[(size_t)np * nk + k])) {
				dbs_fmt(err, errlen, "%s: a key that is not an integer", what);
				rc = DBS_ESOURCE;
				goto done;
			}
			f += len + 1;
		}
		np++;
		total += rows;
		if (dbs_host_stopping(w->host))
			break;
	}
	/* What lies after the last point. */
	dbs_buf_reset(&q);
	dbs_buf_reset(&v);
	if (dbs_buf_appendf(&q, "SELECT COUNT(*) FROM %s", t->qname) ||
	    after(&q, w->dialect, t, np ? keep->v + (size_t)(np - 1) * nk : NULL))
		goto nomem;
	if ((rc = w->row(w->ctx, q.data, 1, &v, &found, what, err, errlen)))
		goto done;
	total += found && v.data ? strtoull(v.data, NULL, 10) : 0;
	*points = keep->v;
	*n = np;
	*counted = total;
	goto done;
nomem:
	rc = dbs__sql_snap_oom(err, errlen);
done:
	dbs_buf_free(&v);
	dbs_buf_free(&q);
	return rc;
}

int dbs__sql_snap_hand_full(dbs_batch *batch, uint32_t batch_rows, dbs_rows_fn rows_fn,
                            void *rows_data)
{
	if (dbs_batch_count(batch) < batch_rows &&
	    dbs_batch_bytes(batch) < DBS_SQL_SNAP_BATCH_BYTES)
		return 0;
	int stop = rows_fn(batch, rows_data) != 0;
	dbs_batch_reset(batch);
	return stop;
}
