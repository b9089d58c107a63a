/*
 * dbs_verify_run: compare a stream's source tables with its target tables.
 *
 * Both sides are read as text in key order, a chunk of keys at a time
 * (keyset pagination: WHERE key > last ORDER BY key LIMIT n on the source,
 * the same key range on the target). Every value is canonicalised here in
 * C so that values the type mapping (docs/type-mapping.md) carries across
 * engines print equally, each row is encoded as length-prefixed canonical
 * values, and each side's chunk gets a SHA-256 digest. Only chunks whose
 * digests differ are compared row by row.
 *
 * Key ranges mean the same set on both sides for numbers, dates and
 * binary-ordered strings. Where the engines order keys differently (text
 * keys under different collations) a row can fall into another chunk on
 * one side: such rows are held as "missing" / "extra" candidates and
 * matched by key at the end of the table, so they are reported as what
 * they are.
 *
 * This is a tool, not the per-event path: allocations per chunk and per
 * JSON value are fine here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify/verify.h"

#define ERR_MAX 1024
#define CHUNK_DEFAULT 1000u
#define CHUNK_MAX 1000000u
/* Missing/extra candidates held for matching at the end of a table;
 * beyond this they are counted as found, without the cross-chunk match. */
#define PENDING_MAX 200000u

/* ------------------------------------------------------------------ */
/* Report storage                                                      */
/* ------------------------------------------------------------------ */

typedef struct pool_block {
	struct pool_block *next;
	size_t used, cap;
	_Alignas(max_align_t) unsigned char data[];
} pool_block;

typedef struct report_priv {
	dbs_verify_report pub; /* first: the public pointer is this struct */
	pool_block *blocks;
	dbs_verify_table *tables;
	size_t cap_tables;
} report_priv;

static void *pool_alloc(report_priv *r, size_t size)
{
	size_t align = _Alignof(max_align_t);
	void *p = NULL;
	if (size > SIZE_MAX - align)
		goto out;
	size = (size + align - 1) / align * align;
	if (!r->blocks || r->blocks->cap - r->blocks->used < size) {
		size_t cap = size > 65536 ? size : 65536;
		pool_block *b = malloc(sizeof *b + cap);
		if (!b)
			goto out;
		b->next = r->blocks;
		b->used = 0;
		b->cap = cap;
		r->blocks = b;
	}
	p = r->blocks->data + r->blocks->used;
	r->blocks->used += size;
out:
	return p;
}

static char *pool_strn(report_priv *r, const char *s, size_t n)
{
	char *d = n < SIZE_MAX ? pool_alloc(r, n + 1) : NULL;
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static char *pool_str(report_priv *r, const char *s)
{
	return pool_strn(r, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* Per-table state                                                     */
/* ------------------------------------------------------------------ */

typedef struct pending {
	int kind;
	char *row;
	uint32_t len, keylen;
} pending;

typedef struct vtable_run {
	report_priv *rep;
	dbs_verify_table *out;
	const dbs_verify_options *opts;
	const plan_col *plan;
	uint32_t ncols, nkey;
	const char *const *names; /* source column names, in the report's pool */
	dbs_verify_diff *diffs;
	size_t ndiffs, cap_diffs;
	pending *pend;
	size_t npend, cap_pend;
} vtable_run;

/* Count a difference and list it while there is room. `cols` are plan
 * indices of the differing columns (CHANGED). */
static int diff_add(vtable_run *t, int kind, const vrow *row, const uint32_t *cols, uint32_t ncols)
{
	if (kind == DBS_VERIFY_MISSING)
		t->out->missing++;
	else if (kind == DBS_VERIFY_EXTRA)
		t->out->extra++;
	else
		t->out->changed++;
	if (t->ndiffs >= t->opts->max_diffs)
		return 0;
	if (dbs_array_reserve((void **)&t->diffs, &t->cap_diffs, t->ndiffs + 1,
	                      sizeof *t->diffs))
		return DBS_ENOMEM;
	const char **key = pool_alloc(t->rep, (t->nkey ? t->nkey : 1) * sizeof *key);
	const char **names = pool_alloc(t->rep, (ncols ? ncols : 1) * sizeof *names);
	if (!key || !names)
		return DBS_ENOMEM;
	for (uint32_t i = 0; i < t->nkey; i++) {
		const char *v;
		uint32_t vl;
		key[i] = NULL;
		if (dbs__vrow_value(row->p, row->keylen, i, &v, &vl) &&
		    !(key[i] = pool_strn(t->rep, v, vl)))
			return DBS_ENOMEM;
	}
	for (uint32_t i = 0; i < ncols; i++)
		names[i] = t->names[t->plan[cols[i]].s];
	dbs_verify_diff *d = &t->diffs[t->ndiffs++];
	d->kind = (dbs_verify_diff_kind)kind;
	d->key = key;
	d->columns = names;
	d->ncolumns = ncols;
	return 0;
}

/* Both rows have the key: list the columns whose values differ. */
static int compare_rows(vtable_run *t, const vrow *s, const vrow *g)
{
	uint32_t *cols = NULL, n = 0;
	int rc = 0;
	if (s->len == g->len && memcmp(s->p, g->p, s->len) == 0)
		return 0;
	if (!(cols = malloc(t->ncols * sizeof *cols)))
		return DBS_ENOMEM;
	for (uint32_t j = t->nkey; j < t->ncols; j++) {
		const char *a, *b;
		uint32_t al, bl;
		int an = dbs__vrow_value(s->p, s->len, j, &a, &al),
		    bn = dbs__vrow_value(g->p, g->len, j, &b, &bl);
		if (an != bn || al != bl || (al && memcmp(a, b, al) != 0))
			cols[n++] = j;
	}
	if (n)
		rc = diff_add(t, DBS_VERIFY_CHANGED, s, cols, n);
	free(cols);
	return rc;
}

static int pending_add(vtable_run *t, int kind, const vrow *row)
{
	if (t->npend >= PENDING_MAX)
		return diff_add(t, kind, row, NULL, 0);
	if (dbs_array_reserve((void **)&t->pend, &t->cap_pend, t->npend + 1,
	                      sizeof *t->pend))
		return DBS_ENOMEM;
	pending *p = &t->pend[t->npend];
	if (!(p->row = malloc(row->len ? row->len : 1)))
		return DBS_ENOMEM;
	memcpy(p->row, row->p, row->len);
	p->kind = kind;
	p->len = row->len;
	p->keylen = row->keylen;
	t->npend++;
	return 0;
}

static int pending_cmp(const void *x, const void *y)
{
	const pending *a = x, *b = y;
	vrow ra = {a->row, 0, a->len, a->keylen}, rb = {b->row, 0, b->len, b->keylen};
	int c = dbs__vkey_cmp(&ra, &rb);
	return c ? c : a->kind - b->kind;
}

/* Match missing and extra rows of the same key found in different chunks. */
static int pending_settle(vtable_run *t)
{
	int rc = 0;
	if (t->npend > 1)
		qsort(t->pend, t->npend, sizeof *t->pend, pending_cmp);
	for (size_t i = 0; i < t->npend && !rc;) {
		pending *a = &t->pend[i];
		vrow ra = {a->row, 0, a->len, a->keylen};
		if (i + 1 < t->npend) {
			pending *b = &t->pend[i + 1];
			vrow rb = {b->row, 0, b->len, b->keylen};
			if (dbs__vkey_cmp(&ra, &rb) == 0 && a->kind == DBS_VERIFY_MISSING &&
			    b->kind == DBS_VERIFY_EXTRA) {
				rc = compare_rows(t, &ra, &rb);
				i += 2;
				continue;
			}
		}
		rc = diff_add(t, a->kind, &ra, NULL, 0);
		i++;
	}
	for (size_t i = 0; i < t->npend; i++)
		free(t->pend[i].row);
	t->npend = 0;
	return rc;
}

/* Row-by-row comparison of a chunk whose digests differ (both sorted). */
static int chunk_merge(vtable_run *t, const vchunk *s, const vchunk *g, int multiset)
{
	size_t i = 0, j = 0;
	int rc = 0;
	while (!rc && (i < s->n || j < g->n)) {
		int c;
		if (i < s->n && j < g->n)
			c = multiset ? dbs__vrow_cmp_full(&s->rows[i], &g->rows[j])
			             : dbs__vkey_cmp(&s->rows[i], &g->rows[j]);
		else
			c = i < s->n ? -1 : 1;
		if (c < 0) {
			rc = multiset ? diff_add(t, DBS_VERIFY_MISSING, &s->rows[i], NULL, 0)
			              : pending_add(t, DBS_VERIFY_MISSING, &s->rows[i]);
			i++;
		} else if (c > 0) {
			rc = multiset ? diff_add(t, DBS_VERIFY_EXTRA, &g->rows[j], NULL, 0)
			              : pending_add(t, DBS_VERIFY_EXTRA, &g->rows[j]);
			j++;
		} else {
			if (!multiset)
				rc = compare_rows(t, &s->rows[i], &g->rows[j]);
			i++, j++;
		}
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* One table                                                           */
/* ------------------------------------------------------------------ */

static int verify_table(report_priv *rep, const dbs_verify_options *opts, vconn *src, vconn *tgt,
                        const vpair *pair, dbs_verify_table *out, EVP_MD_CTX *md, char *err,
                        size_t errlen)
{
	int rc;
	vtabdef sd = {0}, td = {0};
	plan_col *plan = NULL;
	uint32_t *skidx = NULL, *tkidx = NULL, ncols = 0, nkey = 0;
	vchunk S = {0}, T = {0};
	dbs_buf lo_buf = {0}, hi_buf = {0};
	const char **missing_cols = NULL, **pnames = NULL;
	char note[512] = "";
	vtable_run run;
	memset(&run, 0, sizeof run);

	rc = DBS_ENOMEM;
	if (!(out->source_schema = pool_str(rep, pair->s_schema)) ||
	    !(out->source_name = pool_str(rep, pair->s_name)) ||
	    !(out->target_schema = pool_str(rep, pair->t_schema)) ||
	    !(out->target_name = pool_str(rep, pair->t_name)))
		goto fail;
	if ((rc = dbs__vtabdef_load(src, pair->s_schema, pair->s_name, &sd, err, errlen)) ||
	    (rc = dbs__vtabdef_load(tgt, pair->t_schema, pair->t_name, &td, err, errlen)))
		goto fail;
	if (!sd.exists) {
		rc = DBS_ESOURCE;
		dbs_fmt(err, errlen, "source table %s.%s does not exist", pair->s_schema,
		         pair->s_name);
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(plan = calloc(sd.ncols, sizeof *plan)) ||
	    !(skidx = calloc(sd.ncols, sizeof *skidx)) ||
	    !(tkidx = calloc(sd.ncols, sizeof *tkidx)) ||
	    !(missing_cols = pool_alloc(rep, sd.ncols * sizeof *missing_cols)))
		goto fail;
	/* Names the report keeps must outlive the definitions. */
	if (!(pnames = pool_alloc(rep, sd.ncols * sizeof *pnames)))
		goto fail;
	for (uint32_t i = 0; i < sd.ncols; i++)
		if (!(pnames[i] = pool_str(rep, sd.cols[i].name)))
			goto fail;
	out->has_primary_key = sd.nkeys > 0;
	out->target_exists = td.exists;

	/* Plan: key columns first, in key order; then the other columns the
	 * target has. A source column the target lacks is a difference. */
	int key_missing = 0;
	uint32_t nk = sd.nkeys ? sd.nkeys : 0;
	for (uint32_t pass = 0; pass < 2; pass++) {
		for (uint32_t x = 0; x < (pass == 0 ? nk : sd.ncols); x++) {
			uint32_t i = pass == 0 ? sd.keys[x] : x;
			int is_key = 0;
			for (uint32_t y = 0; y < nk; y++)
				is_key |= sd.keys[y] == i;
			if (pass == 1 && is_key)
				continue;
			uint32_t ti = UINT32_MAX;
			for (uint32_t y = 0; y < td.ncols && ti == UINT32_MAX; y++)
				if (strcmp(td.cols[y].name, sd.cols[i].name) == 0)
					ti = y;
			for (uint32_t y = 0; y < td.ncols && ti == UINT32_MAX; y++)
				if (strcasecmp(td.cols[y].name, sd.cols[i].name) == 0)
					ti = y;
			if (ti == UINT32_MAX) {
				if (td.exists) {
					missing_cols[out->nmissing_columns++] = pnames[i];
					if (pass == 0)
						key_missing = 1;
					if (pass == 1)
						continue;
				}
				ti = 0; /* never read: the target is not queried */
			}
			plan[ncols].s = i;
			plan[ncols].t = ti;
			plan[ncols].canon = dbs__vcanon_of(&sd.cols[i].st);
			/* JSON on either side (a text column of the other) compares as JSON. */
			if (td.exists && ti < td.ncols && dbs__vcanon_of(&td.cols[ti].st) == K_JSON &&
			    plan[ncols].canon == K_TEXT)
				plan[ncols].canon = K_JSON;
			if (pass == 0) {
				skidx[nkey] = i;
				tkidx[nkey] = ti;
				nkey++;
			}
			ncols++;
		}
	}
	out->missing_columns = missing_cols;

	int target_usable = td.exists && !key_missing;
	if (!td.exists)
		dbs_fmt(note, sizeof note, "target table %s.%s does not exist", pair->t_schema,
		         pair->t_name);
	else if (key_missing)
		dbs_fmt(note, sizeof note,
		         "the target table lacks a key column: every row counts as missing");

	run.rep = rep;
	run.out = out;
	run.opts = opts;
	run.plan = plan;
	run.ncols = ncols;
	run.names = pnames;

	side_q sq = {src, &sd, pair->s_schema, pair->s_name, skidx, 0};
	side_q tq = {tgt, &td, pair->t_schema, pair->t_name, tkidx, 1};
	unsigned char ds[EVP_MAX_MD_SIZE], dt[EVP_MAX_MD_SIZE];

	if (nkey == 0) {
		/* No primary key: the whole row is the identity. */
		if (!note[0])
			dbs_fmt(note, sizeof note,
			         "no primary key: compared as multisets of rows");
		run.nkey = ncols;
		const char **kc = pool_alloc(rep, (ncols ? ncols : 1) * sizeof *kc);
		if (!kc)
			goto fail;
		for (uint32_t j = 0; j < ncols; j++)
			kc[j] = pnames[plan[j].s];
		out->key_columns = kc;
		out->nkey_columns = ncols;
		if ((rc = dbs__vchunk_fetch(&sq, plan, ncols, 0, 0, NULL, NULL, 0, &S, err, errlen)))
			goto fail;
		if (target_usable &&
		    (rc = dbs__vchunk_fetch(&tq, plan, ncols, 0, 0, NULL, NULL, 0, &T, err, errlen)))
			goto fail;
		for (size_t i = 0; i < S.n; i++)
			S.rows[i].keylen = S.rows[i].len;
		for (size_t i = 0; i < T.n; i++)
			T.rows[i].keylen = T.rows[i].len;
		dbs__vchunk_sort(&S, dbs__vrow_cmp_full);
		dbs__vchunk_sort(&T, dbs__vrow_cmp_full);
		out->source_rows = S.n;
		out->target_rows = T.n;
		out->chunks = 1;
		if ((rc = dbs__vchunk_digest(md, &S, ds)) || (rc = dbs__vchunk_digest(md, &T, dt)))
			goto fail;
		if (S.n != T.n || memcmp(ds, dt, 32) != 0) {
			out->chunks_differing = 1;
			if ((rc = chunk_merge(&run, &S, &T, 1)))
				goto fail;
		}
	} else {
		run.nkey = nkey;
		const char **kc = pool_alloc(rep, nkey * sizeof *kc);
		if (!kc)
			goto fail;
		for (uint32_t j = 0; j < nkey; j++)
			kc[j] = pnames[skidx[j]];
		out->key_columns = kc;
		out->nkey_columns = nkey;
		vrow lo = {0}, hi = {0};
		int have_lo = 0;
		for (;;) {
			if ((rc = dbs__vchunk_fetch(&sq, plan, ncols, nkey, 1, have_lo ? &lo : NULL, NULL,
			                      opts->chunk_size, &S, err, errlen)))
				goto fail;
			if (S.n == 0) {
				/* Past the source's last key: whatever the target has is extra. */
				while (target_usable) {
					if ((rc = dbs__vchunk_fetch(&tq, plan, ncols, nkey, 1,
					                      have_lo ? &lo : NULL, NULL,
					                      opts->chunk_size, &T, err, errlen)))
						goto fail;
					if (T.n == 0)
						break;
					out->chunks++;
					out->chunks_differing++;
					out->target_rows += T.n;
					if ((rc = dbs__vkey_keep(&lo_buf, &lo, &T.rows[T.n - 1])))
						goto fail;
					have_lo = 1;
					dbs__vchunk_reset(&S);
					if ((rc = chunk_merge(&run, &S, &T, 0)))
						goto fail;
				}
				break;
			}
			rc = DBS_ENOMEM;
			if (dbs__vkey_keep(&hi_buf, &hi, &S.rows[S.n - 1]))
				goto fail;
			if (target_usable) {
				if ((rc = dbs__vchunk_fetch(&tq, plan, ncols, nkey, 1,
				                      have_lo ? &lo : NULL, &hi, 0, &T, err,
				                      errlen)))
					goto fail;
			} else {
				dbs__vchunk_reset(&T);
			}
			out->chunks++;
			out->source_rows += S.n;
			out->target_rows += T.n;
			dbs__vchunk_sort(&S, dbs__vrow_cmp_key);
			dbs__vchunk_sort(&T, dbs__vrow_cmp_key);
			if ((rc = dbs__vchunk_digest(md, &S, ds)) || (rc = dbs__vchunk_digest(md, &T, dt)))
				goto fail;
			if (S.n != T.n || memcmp(ds, dt, 32) != 0) {
				out->chunks_differing++;
				if ((rc = chunk_merge(&run, &S, &T, 0)))
					goto fail;
			}
			/* hi becomes the next lower bound. */
			dbs_buf sw = lo_buf;
			lo_buf = hi_buf;
			hi_buf = sw;
			lo = hi;
			lo.p = lo_buf.data;
			have_lo = 1;
			if (S.n < opts->chunk_size && !target_usable)
				break;
		}
		if ((rc = pending_settle(&run)))
			goto fail;
	}
	if (!(out->note = pool_str(rep, note))) {
		rc = DBS_ENOMEM;
		goto fail;
	}
	if (run.ndiffs) {
		dbs_verify_diff *d = pool_alloc(rep, run.ndiffs * sizeof *d);
		if (!d) {
			rc = DBS_ENOMEM;
			goto fail;
		}
		memcpy(d, run.diffs, run.ndiffs * sizeof *d);
		out->diffs = d;
		out->ndiffs = run.ndiffs;
	}
	rc = 0;
fail:
	if (rc == DBS_ENOMEM && !err[0])
		dbs_fmt(err, errlen, "out of memory");
	for (size_t i = 0; i < run.npend; i++)
		free(run.pend[i].row);
	free(run.pend);
	free(run.diffs);
	dbs__vchunk_free(&S);
	dbs__vchunk_free(&T);
	dbs_buf_free(&lo_buf);
	dbs_buf_free(&hi_buf);
	free(plan);
	free(skidx);
	free(tkidx);
	dbs__vtabdef_free(&sd);
	dbs__vtabdef_free(&td);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

DBS_API const char *dbs_verify_diff_kind_name(dbs_verify_diff_kind kind)
{
	switch (kind) {
	case DBS_VERIFY_MISSING: return "missing";
	case DBS_VERIFY_EXTRA: return "extra";
	case DBS_VERIFY_CHANGED: return "changed";
	default: return "unknown";
	}
}

DBS_API void dbs_verify_report_free(dbs_verify_report *report)
{
	report_priv *r = (report_priv *)report;
	if (!r)
		return;
	while (r->blocks) {
		pool_block *b = r->blocks;
		r->blocks = b->next;
		free(b);
	}
	free(r->tables);
	free(r);
}

DBS_API int dbs_verify_run(dbs_verify_report **out, const char *config, size_t len,
                           const dbs_verify_options *opts)
{
	int rc = DBS_EINVAL;
	char err[ERR_MAX] = "";
	dbs_config *cfg = NULL;
	report_priv *rep = NULL;
	vconn src = {0}, tgt = {0};
	vlist tables = {0};
	EVP_MD_CTX *md = NULL;
	dbs_verify_options o = DBS_VERIFY_OPTIONS_INIT;
	int64_t t0 = dbs_time_monotonic_ns();

	if (out)
		*out = NULL;
	if (!out || !config) {
		dbs_fmt(err, sizeof err, "dbs_verify_run: NULL argument");
		goto fail;
	}
	if (opts) {
		if (opts->version < 1 || opts->version > DBS_VERIFY_OPTIONS_VERSION) {
			dbs_fmt(err, sizeof err, "dbs_verify_run: unknown options version %u",
			         opts->version);
			goto fail;
		}
		o = *opts;
	}
	if (o.chunk_size == 0)
		o.chunk_size = CHUNK_DEFAULT;
	if (o.chunk_size > CHUNK_MAX) {
		dbs_fmt(err, sizeof err, "dbs_verify_run: chunk size %u is over %u", o.chunk_size,
		         CHUNK_MAX);
		goto fail;
	}
	if ((rc = dbs__config_parse(&cfg, config, len, err, sizeof err)))
		goto fail;
	src.label = "source";
	src.code = DBS_ESOURCE;
	tgt.label = "target";
	tgt.code = DBS_ETARGET;
	/* The TLS files of a SQL source or target (the rows lib/sql gives them). */
	const dbs_plugin *sp = cfg->plugins[DBS_PLUGIN_SOURCE], *tp = cfg->plugins[DBS_PLUGIN_TARGET];
	const dbs_sql_source_settings *ss =
	    sp && sp->info.options == dbs__sql_source_options && cfg->source.settings
	        ? cfg->source.settings
	        : &dbs__sql_source_defaults;
	const dbs_sql_target_settings *ts =
	    tp && tp->info.options == dbs__sql_target_options && cfg->target.settings
	        ? cfg->target.settings
	        : &dbs__sql_target_defaults;
	if ((rc = dbs__vconn_open(&src, cfg->source.type, cfg->source.connection, ss->ssl_ca,
	                          ss->ssl_cert, ss->ssl_key, err, sizeof err)) ||
	    (rc = dbs__vconn_open(&tgt, cfg->target.type, cfg->target.connection, ts->ssl_ca,
	                          ts->ssl_cert, ts->ssl_key, err, sizeof err)))
		goto fail;
	if (tgt.dialect == DBS_DIALECT_MYSQL && !tgt.dsn.database[0]) {
		rc = DBS_ECONFIG;
		dbs_fmt(err, sizeof err, "target: the MySQL connection names no database");
		goto fail;
	}
	if ((rc = dbs__vlist_tables(cfg, &src, &tgt, &tables, err, sizeof err)) ||
	    (rc = dbs__vlist_subset(&tables, &src, &o, err, sizeof err)))
		goto fail;
	rc = DBS_ENOMEM;
	if (!(rep = calloc(1, sizeof *rep)) || !(md = EVP_MD_CTX_new()) ||
	    !(rep->tables = calloc(tables.n ? tables.n : 1, sizeof *rep->tables)))
		goto fail;
	rep->pub.version = 1;
	rep->pub.tables = rep->tables;
	for (size_t i = 0; i < tables.n; i++) {
		dbs_verify_table *t = &rep->tables[i];
		if ((rc = verify_table(rep, &o, &src, &tgt, &tables.v[i], t, md, err, sizeof err)))
			goto fail;
		rep->pub.ntables++;
		rep->pub.differences += t->missing + t->extra + t->changed + t->nmissing_columns;
	}
	rep->pub.elapsed_ns = dbs_time_monotonic_ns() - t0;
	*out = &rep->pub;
	rep = NULL;
	rc = 0;
fail:
	if (rc == DBS_ENOMEM && !err[0])
		dbs_fmt(err, sizeof err, "out of memory");
	EVP_MD_CTX_free(md);
	dbs_verify_report_free(rep ? &rep->pub : NULL);
	dbs__vlist_free(&tables);
	dbs__vconn_close(&src);
	dbs__vconn_close(&tgt);
	if (rc && cfg) {
		const char *conns[] = {cfg->source.connection, cfg->target.connection};
		dbs__scrub_secrets(err, sizeof err, conns, 2);
	}
	dbs__config_free(cfg);
	if (rc) {
		/* libpq messages end with a newline. */
		size_t el = strlen(err);
		while (el > 0 && (err[el - 1] == '\n' || err[el - 1] == ' '))
			err[--el] = '\0';
		dbs__error_set(rc, "%s", err);
	} else
		dbs__error_clear();
	return rc;
}
