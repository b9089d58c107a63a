/*
 * The initial load: the tables of a stream copied from the source into
 * the target in chunks, by workers in parallel, each chunk committed at
 * the target together with its record, so that a load interrupted at any
 * moment continues from what is committed (docs/initial-load.md).
 *
 * Steps, and what a restart finds of each in the target's records:
 *
 *   open     the source's snapshot opened, its tables described and
 *            checked (a query, a grant, a missing table), the target's
 *            records read, each table checked by the target (an existing
 *            non-empty table is refused unless target.options.writeMode
 *            allows it). Nothing is written yet: a refusal is INIT FAILED.
 *   plan     per table not yet prepared: split points of its integer key
 *            about load.chunkRows rows apart; the target makes the table
 *            with its primary key and stores the table's record and one
 *            "planned" record per chunk, committed together. A restart
 *            reuses the stored plan, so chunk bounds never move.
 *   copy     `load.workers` workers, each with a source reader (one
 *            consistent snapshot, whose position every chunk it reads
 *            gets) and a target writer; a worker takes the next planned
 *            chunk, streams its rows into one target transaction and
 *            commits it with the chunk's record ("copied", its rows and
 *            position). A lost connection on either side closes both
 *            sessions of the worker and does the chunk again.
 *   finish   secondary indexes per table (record "finished"), foreign
 *            keys for a copy alone, and the load's record "done".
 *
 * Positions: a chunk's position P says which source transactions its
 * rows reflect (those before P); the seam (seam.c) uses them to start the
 * stream where the copy stood without losing or repeating a change.
 *
 * Threads: open runs on the thread that creates the stream, run on the
 * stream's target thread, the workers on threads of their own; stat
 * reads the atomics from any thread.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/load.h"
#include "core/stream.h"

/* Rows a reader hands over at once (the source may hand fewer, when
 * they are large). */
#define LOAD_BATCH_ROWS 1000u

enum { CHUNK_PLANNED = 0, CHUNK_BUSY, CHUNK_COPIED };

typedef struct lchunk {
	uint32_t table;
	uint32_t number;
	dbs_value *lo, *hi; /* nkeys values each; NULL: open */
	char *lo_text, *hi_text;
	int state;          /* CHUNK_*, guarded by dbs_load.lock */
	uint64_t position;
	uint64_t rows;
} lchunk;

typedef struct ltable {
	const dbs_load_table *def; /* the snapshot's */
	char *key;                 /* "schema.name" */
	char schema[DBS_LOAD_NAME_MAX], name[DBS_LOAD_NAME_MAX];
	int prepared;              /* its record exists */
	int finished;              /* its indexes are made */
	uint32_t next_number;      /* guarded by dbs_load.lock */
	atomic_int phase;          /* dbs_load_phase */
	_Atomic uint64_t estimate;
	_Atomic uint64_t rows;
	_Atomic uint64_t chunks, chunks_done;
} ltable;

/* A record read from the target, kept until the plan uses it. */
typedef struct lrec {
	char *table, *state, *lo, *hi;
	int64_t chunk;
	uint64_t position, rows;
} lrec;

typedef struct worker worker;

struct dbs_load {
	dbs_stream *s;
	const dbs_snapshot_ops *sops;
	const dbs_load_ops *tops;
	dbs_snapshot *snap;
	int cdc;           /* a stream follows */
	int count_nodes;   /* rows count as the nodes' events (a copy alone) */
	const dbs_load_table *defs;
	uint32_t ntables;
	ltable *tables;    /* ntables, allocated at open */
	lrec *recs;
	size_t nrecs, caprecs;
	int done;          /* the load's record says done */

	pthread_mutex_t lock; /* chunks, next, reader_open, failure */
	lchunk **chunks;
	size_t nchunks, capchunks;
	size_t next;
	worker *workers;
	uint32_t nworkers;
	atomic_int running;  /* workers not yet returned */

	/* The first failure of a worker (guarded by lock). */
	int failed;
	int fail_blame;
	char fail_err[DBS_ERRMSG_MAX];
	atomic_int halt;     /* a worker failed, or the limit is reached: stop */
	atomic_int limit_hit;
	_Atomic uint64_t reserved; /* rows taken against limits.numberOfEvents */

	atomic_int phase;
	_Atomic uint64_t rows_this_run;
	_Atomic uint64_t chunks_resumed;
	_Atomic int64_t copy_started_mono;
	_Atomic int64_t copy_ended_mono; /* the rate stops counting here */
	int64_t last_report_mono;
};

struct worker {
	dbs_load *l;
	uint32_t index;
	pthread_t thread;
	int started;
	dbs_snapshot_reader *reader;
	uint64_t position;
	dbs_load_writer *writer;
	int lost_side;     /* LOAD_BLAME_* of the last DBS_LOAD_LOST */
	char err[DBS_ERRMSG_MAX];
};

/* ---- keys as text ("12,-5") and back ---- */

static int key_text(char **out, const dbs_value *v, uint32_t n)
{
	dbs_buf b = DBS_BUF_INIT;
	*out = NULL;
	if (!v)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		int rc = v[i].kind == DBS_VALUE_UINT
		             ? dbs_buf_appendf(&b, "%s%" PRIu64, i ? "," : "", v[i].v.u)
		             : dbs_buf_appendf(&b, "%s%" PRId64, i ? "," : "", v[i].v.i);
		if (rc) {
			dbs_buf_free(&b);
			return DBS_ENOMEM;
		}
	}
	*out = b.data ? b.data : strdup("");
	return *out ? 0 : DBS_ENOMEM;
}

/* One integer of a key from its text: INT, or UINT above INT64_MAX. */
static int int_value(const char *s, size_t n, dbs_value *out)
{
	char buf[32];
	char *end = NULL;
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(out, 0, sizeof *out);
	if (buf[0] == '-') {
		long long v = strtoll(buf, &end, 10);
		if (*end)
			return -1;
		out->kind = DBS_VALUE_INT;
		out->v.i = v;
		return 0;
	}
	unsigned long long u = strtoull(buf, &end, 10);
	if (*end || buf[0] < '0' || buf[0] > '9')
		return -1;
	if (u > (unsigned long long)INT64_MAX) {
		out->kind = DBS_VALUE_UINT;
		out->v.u = u;
	} else {
		out->kind = DBS_VALUE_INT;
		out->v.i = (int64_t)u;
	}
	return 0;
}

/* `n` values from "a,b"; NULL text: NULL (an open bound). */
static int key_parse(dbs_value **out, const char *text, uint32_t n)
{
	*out = NULL;
	if (!text)
		return 0;
	dbs_value *v = calloc(n ? n : 1, sizeof *v);
	if (!v)
		return DBS_ENOMEM;
	const char *p = text;
	for (uint32_t i = 0; i < n; i++) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (int_value(p, len, &v[i]) != 0 || (i + 1 < n && !comma) ||
		    (i + 1 == n && comma)) {
			free(v);
			return DBS_EINVAL;
		}
		p = comma ? comma + 1 : p + len;
	}
	*out = v;
	return 0;
}

/* -1, 0, 1 as integer a is below, equal to, above b. */
int dbs__load_value_cmp(const dbs_value *a, const dbs_value *b)
{
	int an = a->kind == DBS_VALUE_INT && a->v.i < 0;
	int bn = b->kind == DBS_VALUE_INT && b->v.i < 0;
	if (an != bn)
		return an ? -1 : 1;
	if (an)
		return a->v.i < b->v.i ? -1 : a->v.i > b->v.i;
	uint64_t x = a->kind == DBS_VALUE_UINT ? a->v.u : (uint64_t)a->v.i;
	uint64_t y = b->kind == DBS_VALUE_UINT ? b->v.u : (uint64_t)b->v.i;
	return x < y ? -1 : x > y;
}

/* A key value of an event image as an integer (INT, UINT, or the text of
 * one); -1 when it is none. */
int dbs__load_key_value(const dbs_value *v, dbs_value *out)
{
	switch (v->kind) {
	case DBS_VALUE_INT:
	case DBS_VALUE_UINT: *out = *v; return 0;
	case DBS_VALUE_TEXT:
	case DBS_VALUE_DECIMAL: return int_value(v->v.s, v->len, out);
	default: return -1;
	}
}

/* ---- records ---- */

static void lrec_free(lrec *r)
{
	free(r->table);
	free(r->state);
	free(r->lo);
	free(r->hi);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int on_record(const dbs_load_record *rec, void *data)
{
	dbs_load *l = data;
	if (dbs_array_reserve((void **)&l->recs, &l->caprecs, l->nrecs + 1, sizeof *l->recs))
		return DBS_ENOMEM;
	lrec *r = &l->recs[l->nrecs];
	memset(r, 0, sizeof *r);
	r->table = strdup(rec->table ? rec->table : "");
	r->state = strdup(rec->state ? rec->state : "");
	r->lo = dup_or_null(rec->lo);
	r->hi = dup_or_null(rec->hi);
	r->chunk = rec->chunk;
	r->position = rec->position;
	r->rows = rec->rows;
	if (!r->table || !r->state || (rec->lo && !r->lo) || (rec->hi && !r->hi)) {
		lrec_free(r);
		return DBS_ENOMEM;
	}
	l->nrecs++;
	return 0;
}

static const lrec *rec_find(const dbs_load *l, const char *table, int64_t chunk)
{
	for (size_t i = 0; i < l->nrecs; i++)
		if (l->recs[i].chunk == chunk && strcmp(l->recs[i].table, table) == 0)
			return &l->recs[i];
	return NULL;
}

/* ---- chunks ---- */

static void lchunk_free(lchunk *c)
{
	if (!c)
		return;
	free(c->lo);
	free(c->hi);
	free(c->lo_text);
	free(c->hi_text);
	free(c);
}

/* Append a chunk (taking lo/hi and their texts); caller holds the lock
 * or is the only thread. */
static int chunk_add(dbs_load *l, lchunk *c)
{
	if (dbs_array_reserve((void **)&l->chunks, &l->capchunks, l->nchunks + 1,
	                      sizeof *l->chunks))
		return DBS_ENOMEM;
	l->chunks[l->nchunks++] = c;
	return 0;
}

static lchunk *chunk_new(uint32_t table, uint32_t number)
{
	lchunk *c = calloc(1, sizeof *c);
	if (c) {
		c->table = table;
		c->number = number;
	}
	return c;
}

/* The record of chunk `c` in state `state`. */
static dbs_load_record chunk_record(const dbs_load *l, const lchunk *c, const char *state)
{
	dbs_load_record r = {l->tables[c->table].key, (int64_t)c->number, state, c->lo_text,
	                     c->hi_text, c->position, c->rows};
	return r;
}

/* ---- open ---- */

static void set_name(char *dst, const char *src)
{
	dbs_fmt(dst, DBS_LOAD_NAME_MAX, "%s", src ? src : "");
}

int dbs__load_open(dbs_load **out, dbs_stream *s, dbs_source *stream, int *blame, char *err,
                   size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_load *l = NULL;
	*out = NULL;
	*blame = LOAD_BLAME_SOURCE;
	if (s->source_ops->version < 4 || !s->source_ops->snapshot) {
		dbs_fmt(err, errlen, "the \"%s\" source cannot copy tables (mode convert and "
		                     "initialLoad need a source with a snapshot)",
		        s->source_ops->name);
		return DBS_ECONFIG;
	}
	if (s->target_ops->version < 5 || !s->target_ops->load) {
		*blame = LOAD_BLAME_TARGET;
		dbs_fmt(err, errlen, "the \"%s\" target cannot load tables (mode convert and "
		                     "initialLoad need a target that loads)",
		        s->target_ops->name);
		return DBS_ECONFIG;
	}
	if (!(l = calloc(1, sizeof *l))) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->s = s;
	l->sops = s->source_ops->snapshot;
	l->tops = s->target_ops->load;
	l->cdc = stream != NULL;
	l->count_nodes = !l->cdc;
	atomic_init(&l->phase, DBS_LOAD_PHASE_PLANNING);

	rc = l->sops->open(&l->snap, &s->config->source, &s->source_host, stream, err, errlen);
	if (rc < 0) {
		l->snap = NULL;
		goto fail;
	}
	rc = l->sops->tables(l->snap, &l->defs, &l->ntables, err, errlen);
	if (rc < 0)
		goto fail;
	rc = DBS_ENOMEM;
	if (!(l->tables = calloc(l->ntables ? l->ntables : 1, sizeof *l->tables))) {
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < l->ntables; i++) {
		ltable *t = &l->tables[i];
		const dbs_table *def = l->defs[i].def;
		t->def = &l->defs[i];
		size_t n = strlen(def->schema ? def->schema : "") + strlen(def->name) + 2;
		if (!(t->key = malloc(n))) {
			dbs_fmt(err, errlen, "out of memory");
			goto fail;
		}
		snprintf(t->key, n, "%s.%s", def->schema ? def->schema : "", def->name);
		set_name(t->schema, def->schema);
		set_name(t->name, def->name);
		atomic_init(&t->phase, DBS_LOAD_PHASE_PLANNING);
		atomic_init(&t->estimate, l->defs[i].estimated_rows);
	}
	*blame = LOAD_BLAME_TARGET;
	rc = l->tops->records(s->target, on_record, l, err, errlen);
	if (rc < 0)
		goto fail;
	const lrec *done = rec_find(l, "", -1);
	l->done = done && strcmp(done->state, "done") == 0;
	for (uint32_t i = 0; i < l->ntables && !l->done; i++) {
		const lrec *tr = rec_find(l, l->tables[i].key, -1);
		rc = l->tops->check(s->target, l->tables[i].def, tr != NULL, err, errlen);
		if (rc < 0)
			goto fail;
	}
	if (l->done)
		atomic_store(&l->phase, DBS_LOAD_PHASE_DONE);
	*out = l;
	return 0;
fail:
	if (rc >= 0)
		rc = DBS_EINTERNAL;
	dbs__load_free(l);
	return rc;
}

/* ---- plan ---- */

/* The chunks of a table prepared by an earlier run, from its records. */
static int chunks_from_records(dbs_load *l, uint32_t ti, char *err, size_t errlen)
{
	ltable *t = &l->tables[ti];
	uint32_t nkeys = t->def->nkeys;
	const lrec *tr = rec_find(l, t->key, -1);
	if (tr->position)
		atomic_store(&t->estimate, tr->position);
	t->finished = strcmp(tr->state, "finished") == 0;
	for (size_t i = 0; i < l->nrecs; i++) {
		const lrec *r = &l->recs[i];
		if (r->chunk < 0 || strcmp(r->table, t->key) != 0)
			continue;
		lchunk *c = chunk_new(ti, (uint32_t)r->chunk);
		if (!c)
			goto nomem;
		c->state = strcmp(r->state, "copied") == 0 ? CHUNK_COPIED : CHUNK_PLANNED;
		c->position = r->position;
		c->rows = r->rows;
		int rc = 0;
		if ((r->lo && !(c->lo_text = strdup(r->lo))) || (r->hi && !(c->hi_text = strdup(r->hi))) ||
		    (rc = key_parse(&c->lo, r->lo, nkeys)) || (rc = key_parse(&c->hi, r->hi, nkeys)) ||
		    chunk_add(l, c)) {
			lchunk_free(c);
			if (rc == DBS_EINVAL) {
				dbs_fmt(err, errlen, "the target's record of chunk %" PRId64 " of %s has "
				                     "malformed bounds (\"%s\", \"%s\")",
				        r->chunk, t->key, r->lo ? r->lo : "", r->hi ? r->hi : "");
				return DBS_ETARGET;
			}
			goto nomem;
		}
		if (c->number >= t->next_number)
			t->next_number = c->number + 1;
		atomic_fetch_add(&t->chunks, 1);
		if (c->state == CHUNK_COPIED) {
			atomic_fetch_add(&t->chunks_done, 1);
			atomic_fetch_add(&t->rows, c->rows);
			atomic_fetch_add(&l->chunks_resumed, 1);
		}
	}
	return 0;
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* A table new to the load: split, made at the target with its plan. */
static int plan_table(dbs_load *l, uint32_t ti, int *blame, char *err, size_t errlen)
{
	ltable *t = &l->tables[ti];
	const dbs_load_table *def = t->def;
	const dbs_value *points = NULL;
	uint32_t npoints = 0;
	uint64_t counted = 0;
	dbs_load_record *recs = NULL;
	size_t first = l->nchunks;
	int rc;
	*blame = LOAD_BLAME_SOURCE;
	if (def->nkeys) {
		rc = l->sops->plan(l->snap, def, l->s->config->load.chunk_rows, &points, &npoints,
		                   &counted, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (counted)
		atomic_store(&t->estimate, counted);
	rc = DBS_ENOMEM;
	for (uint32_t i = 0; i <= npoints; i++) {
		lchunk *c = chunk_new(ti, i);
		if (!c)
			goto nomem;
		size_t bytes = (size_t)def->nkeys * sizeof(dbs_value);
		if (i > 0 && (!(c->lo = malloc(bytes)) ||
		              !memcpy(c->lo, points + (size_t)(i - 1) * def->nkeys, bytes)))
			goto nomem_c;
		if (i < npoints && (!(c->hi = malloc(bytes)) ||
		                    !memcpy(c->hi, points + (size_t)i * def->nkeys, bytes)))
			goto nomem_c;
		if (key_text(&c->lo_text, c->lo, def->nkeys) || key_text(&c->hi_text, c->hi, def->nkeys) ||
		    chunk_add(l, c))
			goto nomem_c;
		continue;
	nomem_c:
		lchunk_free(c);
		goto nomem;
	}
	t->next_number = npoints + 1;
	if (!(recs = calloc((size_t)npoints + 2, sizeof *recs)))
		goto nomem;
	recs[0] = (dbs_load_record){t->key, -1, "prepared", NULL, NULL, atomic_load(&t->estimate), 0};
	for (size_t i = first; i < l->nchunks; i++)
		recs[1 + i - first] = chunk_record(l, l->chunks[i], "planned");
	*blame = LOAD_BLAME_TARGET;
	rc = l->tops->prepare(l->s->target, def, recs, npoints + 2, err, errlen);
	free(recs);
	if (rc < 0)
		return rc;
	t->prepared = 1;
	atomic_store(&t->chunks, npoints + 1);
	return 0;
nomem:
	free(recs);
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

static int plan_all(dbs_load *l, int *blame, char *err, size_t errlen)
{
	int rc = 0;
	for (uint32_t i = 0; i < l->ntables && rc == 0; i++) {
		ltable *t = &l->tables[i];
		if (dbs_host_stopping(&l->s->target_host))
			return 1;
		if (rec_find(l, t->key, -1)) {
			t->prepared = 1;
			*blame = LOAD_BLAME_TARGET;
			rc = chunks_from_records(l, i, err, errlen);
		} else {
			rc = plan_table(l, i, blame, err, errlen);
		}
		if (rc == 0)
			atomic_store(&t->phase, t->finished ? DBS_LOAD_PHASE_DONE
			                                    : atomic_load(&t->chunks_done) ==
			                                              atomic_load(&t->chunks)
			                                          ? DBS_LOAD_PHASE_INDEXING
			                                          : DBS_LOAD_PHASE_COPYING);
	}
	return rc;
}

/* ---- copy ---- */

static int halted(dbs_load *l)
{
	return atomic_load(&l->halt) || dbs_host_stopping(&l->s->target_host);
}

/* The next planned chunk, now busy; NULL when none is left. */
static lchunk *next_chunk(dbs_load *l)
{
	lchunk *c = NULL;
	pthread_mutex_lock(&l->lock);
	while (l->next < l->nchunks) {
		lchunk *x = l->chunks[l->next++];
		if (x->state == CHUNK_PLANNED) {
			x->state = CHUNK_BUSY;
			c = x;
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return c;
}

static void chunk_release(dbs_load *l, lchunk *c)
{
	pthread_mutex_lock(&l->lock);
	if (c->state == CHUNK_BUSY)
		c->state = CHUNK_PLANNED;
	pthread_mutex_unlock(&l->lock);
}

static void fail_load(dbs_load *l, int blame, const char *err)
{
	pthread_mutex_lock(&l->lock);
	if (!l->failed) {
		l->failed = 1;
		l->fail_blame = blame;
		dbs_fmt(l->fail_err, sizeof l->fail_err, "%s", err);
	}
	pthread_mutex_unlock(&l->lock);
	atomic_store(&l->halt, 1);
}

/* What one chunk's rows pass through. */
typedef struct rows_ctx {
	worker *w;
	lchunk *c;
	ltable *t;
	uint64_t rows;
	int wrc;          /* the writer's failure inside the callback */
	int stopped;      /* asked the reader to stop */
	int cut;          /* stopped at the event limit, rows kept */
	dbs_value last[16]; /* key of the last row handed over */
	int have_last;
} rows_ctx;

/* Rows the event limit still allows (all when there is none). */
static uint32_t rows_allowed(dbs_load *l, uint32_t n)
{
	uint64_t limit = l->s->config->limits.number_of_events;
	if (!limit || l->cdc)
		return n;
	uint64_t before = atomic_fetch_add(&l->reserved, n);
	if (before >= limit)
		return 0;
	return limit - before < n ? (uint32_t)(limit - before) : n;
}

static int on_rows(dbs_batch *rows, void *data)
{
	rows_ctx *x = data;
	worker *w = x->w;
	dbs_load *l = w->l;
	uint32_t n = dbs_batch_count(rows);
	/* Another worker reached the limit: what this one wrote is kept. */
	if (atomic_load(&l->limit_hit)) {
		x->cut = 1;
		x->stopped = 1;
		return 1;
	}
	if (halted(l)) {
		x->stopped = 1;
		return 1;
	}
	uint32_t take = rows_allowed(l, n);
	if (take < n) {
		dbs_batch_truncate(rows, take);
		x->cut = 1;
		x->stopped = 1;
		atomic_store(&l->limit_hit, 1);
		atomic_store(&l->halt, 1);
		n = take;
	}
	if (n == 0)
		return 1;
	uint64_t bytes = dbs_batch_bytes(rows);
	int rc = l->tops->chunk_rows(w->writer, rows, w->err, sizeof w->err);
	if (rc != 0) {
		x->wrc = rc < 0 || rc == DBS_LOAD_LOST ? rc : DBS_EINTERNAL;
		x->stopped = 1;
		return 1;
	}
	x->rows += n;
	if (l->count_nodes)
		dbs__stream_node_progress(l->s, &l->s->source_node, n, bytes);
	uint32_t nk = x->t->def->nkeys;
	if (nk && nk <= sizeof x->last / sizeof x->last[0]) {
		const dbs_event *ev = dbs_batch_event(rows, n - 1);
		x->have_last = 1;
		for (uint32_t k = 0; k < nk && ev->after; k++)
			if (dbs__load_key_value(&ev->after[x->t->def->keys[k]], &x->last[k]) != 0)
				x->have_last = 0;
	}
	return x->stopped ? 1 : 0;
}

/*
 * The chunk's rows into one target transaction, committed with its
 * record: 0 copied, 1 stopped before the end (nothing of it committed,
 * unless the event limit cut it: then what was copied is committed and
 * the rest planned as a chunk of its own), DBS_LOAD_LOST, negative.
 */
static int copy_chunk(worker *w, lchunk *c)
{
	dbs_load *l = w->l;
	ltable *t = &l->tables[c->table];
	rows_ctx x = {.w = w, .c = c, .t = t};
	dbs_load_record recs[2];
	lchunk *rest = NULL;
	uint32_t nrecs = 1;
	int rc;

	w->lost_side = LOAD_BLAME_TARGET;
	if ((rc = l->tops->chunk_begin(w->writer, t->def, w->err, sizeof w->err)) != 0)
		return rc;
	dbs_load_chunk ch = {c->number, c->lo, c->hi};
	w->lost_side = LOAD_BLAME_SOURCE;
	rc = l->sops->read(w->reader, t->def, &ch, LOAD_BATCH_ROWS, on_rows, &x, w->err,
	                   sizeof w->err);
	if (x.wrc) {
		w->lost_side = LOAD_BLAME_TARGET;
		return x.wrc;
	}
	if (rc != 0)
		return rc;
	if (x.stopped && (!x.cut || !x.rows))
		return 1;
	/* The event limit cut the chunk: the rows up to the last one handed
	 * over are this chunk now, the rest a new chunk a later run copies. */
	uint64_t position = w->position;
	char *cut_text = NULL;
	if (x.cut && x.have_last && t->def->nkeys) {
		rest = chunk_new(c->table, 0);
		size_t bytes = (size_t)t->def->nkeys * sizeof(dbs_value);
		if (!rest || !(rest->lo = malloc(bytes)) ||
		    key_text(&rest->lo_text, x.last, t->def->nkeys) ||
		    (c->hi_text && !(rest->hi_text = strdup(c->hi_text))) ||
		    (c->hi && !(rest->hi = malloc(bytes))) || !(cut_text = strdup(rest->lo_text))) {
			lchunk_free(rest);
			dbs_fmt(w->err, sizeof w->err, "out of memory");
			return DBS_ENOMEM;
		}
		memcpy(rest->lo, x.last, bytes);
		if (c->hi)
			memcpy(rest->hi, c->hi, bytes);
		pthread_mutex_lock(&l->lock);
		rest->number = t->next_number++;
		pthread_mutex_unlock(&l->lock);
	}
	lchunk done = *c;
	done.position = position;
	done.rows = x.rows;
	if (cut_text)
		done.hi_text = cut_text;
	recs[0] = chunk_record(l, &done, "copied");
	if (rest)
		recs[nrecs++] = chunk_record(l, rest, "planned");
	w->lost_side = LOAD_BLAME_TARGET;
	rc = l->tops->chunk_commit(w->writer, recs, nrecs, w->err, sizeof w->err);
	if (rc != 0) {
		free(cut_text);
		lchunk_free(rest);
		return rc;
	}
	pthread_mutex_lock(&l->lock);
	c->state = CHUNK_COPIED;
	c->position = position;
	c->rows = x.rows;
	if (cut_text) {
		free(c->hi_text);
		c->hi_text = cut_text;
		dbs_value *hi = realloc(c->hi, (size_t)t->def->nkeys * sizeof(dbs_value));
		if (hi) {
			memcpy(hi, x.last, (size_t)t->def->nkeys * sizeof(dbs_value));
			c->hi = hi;
		}
	}
	if (rest && chunk_add(l, rest) == 0)
		rest = NULL;
	pthread_mutex_unlock(&l->lock);
	lchunk_free(rest);
	if (x.cut && !cut_text && t->def->nkeys == 0)
		dbs__stream_log(l->s, DBS_LOG_WARN,
		                "[load] %s: stopped at limits.numberOfEvents inside a table without "
		                "an integer key: its %" PRIu64 " rows are kept and the table counts "
		                "as copied",
		                t->key, x.rows);
	if (!x.cut || cut_text || t->def->nkeys == 0)
		atomic_fetch_add(&t->chunks_done, 1);
	if (cut_text)
		atomic_fetch_add(&t->chunks, 1);
	atomic_fetch_add(&t->rows, x.rows);
	atomic_fetch_add(&l->rows_this_run, x.rows);
	if (l->count_nodes)
		dbs__stream_node_progress(l->s, &l->s->target_node, (uint32_t)x.rows, 0);
	dbs__stall_progress(&l->s->stall);
	return x.cut ? 1 : 0;
}

static void worker_close(worker *w)
{
	dbs_load *l = w->l;
	if (w->writer)
		l->tops->writer_close(w->writer);
	if (w->reader)
		l->sops->reader_close(w->reader);
	w->writer = NULL;
	w->reader = NULL;
}

/* A reader and a writer for worker `w`: the readers of a snapshot open
 * one at a time (a PostgreSQL snapshot is imported by each in turn). */
static int worker_open(worker *w)
{
	dbs_load *l = w->l;
	int rc = 0;
	if (!w->reader) {
		w->lost_side = LOAD_BLAME_SOURCE;
		pthread_mutex_lock(&l->lock);
		rc = l->sops->reader_open(l->snap, &w->reader, &w->position, w->err, sizeof w->err);
		pthread_mutex_unlock(&l->lock);
		if (rc != 0) {
			w->reader = NULL;
			return rc;
		}
	}
	if (!w->writer) {
		w->lost_side = LOAD_BLAME_TARGET;
		rc = l->tops->writer_open(l->s->target, &w->writer, w->err, sizeof w->err);
		if (rc != 0)
			w->writer = NULL;
	}
	return rc;
}

static const dbs_host *side_host(dbs_load *l, int side)
{
	return side == LOAD_BLAME_SOURCE ? &l->s->source_host : &l->s->target_host;
}

/* The chunk, again after a lost connection (both sessions of the worker
 * made new) until the reconnect policy gives up. */
static int copy_with_retry(worker *w, lchunk *c)
{
	dbs_load *l = w->l;
	int delay = DBS_RECONNECT_FIRST_DELAY_MS;
	int64_t lost_at = 0;
	unsigned attempts = 0;
	int rc;
	for (;;) {
		rc = worker_open(w);
		if (rc == 0)
			rc = copy_chunk(w, c);
		if (rc != DBS_LOAD_LOST)
			break;
		const dbs_host *host = side_host(l, w->lost_side);
		if (!lost_at)
			lost_at = dbs_time_monotonic_ns();
		dbs_report_connection_lost(host, w->err);
		worker_close(w);
		if (dbs_reconnect_expired(host, lost_at)) {
			dbs_reconnect_give_up_text(w->err, sizeof w->err, host,
			                           w->lost_side == LOAD_BLAME_SOURCE ? "load, source"
			                                                              : "load, target",
			                           attempts, w->err);
			return w->lost_side == LOAD_BLAME_SOURCE ? DBS_ESOURCE : DBS_ETARGET;
		}
		attempts++;
		dbs__stream_log(l->s, DBS_LOG_WARN,
		                "[load] %s: connection lost (%s); chunk %" PRIu32
		                " again with new sessions in %d ms",
		                l->tables[c->table].key, w->err, c->number, delay);
		if (dbs_sleep_unless_stopping(host, delay))
			return 1;
		delay = dbs_backoff_next(delay);
	}
	if (lost_at && rc >= 0)
		dbs_report_connection_restored(side_host(l, w->lost_side));
	return rc;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	dbs_load *l = w->l;
	while (!halted(l)) {
		lchunk *c = next_chunk(l);
		if (!c)
			break;
		int rc = copy_with_retry(w, c);
		if (rc == 0)
			continue;
		chunk_release(l, c);
		if (rc < 0) {
			char msg[DBS_ERRMSG_MAX + 256];
			dbs_fmt(msg, sizeof msg, "%s, chunk %" PRIu32 ": %s",
			        l->tables[c->table].key, c->number, w->err[0] ? w->err : dbs_strerror(rc));
			fail_load(l, w->lost_side, msg);
		}
		break;
	}
	worker_close(w);
	atomic_fetch_sub(&l->running, 1);
	return NULL;
}

/* ---- progress ---- */

static void load_totals(dbs_load *l, dbs_load_stat *o)
{
	memset(o, 0, sizeof *o);
	o->phase = atomic_load(&l->phase);
	o->tables = l->ntables;
	for (uint32_t i = 0; i < l->ntables; i++) {
		ltable *t = &l->tables[i];
		if (atomic_load(&t->phase) == DBS_LOAD_PHASE_DONE)
			o->tables_done++;
		o->rows += atomic_load(&t->rows);
		o->rows_estimated += atomic_load(&t->estimate);
		o->chunks += atomic_load(&t->chunks);
		o->chunks_done += atomic_load(&t->chunks_done);
	}
	o->chunks_resumed = atomic_load(&l->chunks_resumed);
	o->rows_this_run = atomic_load(&l->rows_this_run);
	int64_t started = atomic_load(&l->copy_started_mono);
	int64_t ended = atomic_load(&l->copy_ended_mono);
	int64_t secs_ns = started ? (ended ? ended : dbs_time_monotonic_ns()) - started : 0;
	o->rows_per_s = secs_ns > 0 ? (uint64_t)((double)o->rows_this_run * 1e9 / (double)secs_ns)
	                            : 0;
	o->eta_ns = -1;
	if (o->phase == DBS_LOAD_PHASE_DONE)
		o->eta_ns = 0;
	else if (o->rows_per_s && o->rows_estimated >= o->rows)
		o->eta_ns = (int64_t)((double)(o->rows_estimated - o->rows) * 1e9 /
		                      (double)o->rows_per_s);
}

/* The reportingInterval line: "[load] copying: 3/4 tables, 350000/500000
 * rows (70%), 35/50 chunks, 120000 rows/s, ETA 1.2s". */
static void report(dbs_load *l, int force)
{
	uint32_t every = l->s->config->target.reporting_interval
	                     ? l->s->config->target.reporting_interval
	                     : l->s->config->source.reporting_interval;
	int64_t now = dbs_time_monotonic_ns();
	if (!force && (!every || now - l->last_report_mono < (int64_t)every * 1000000000LL))
		return;
	l->last_report_mono = now;
	dbs_load_stat st;
	char eta[64] = "unknown";
	load_totals(l, &st);
	if (st.eta_ns >= 0)
		dbs_format_duration(eta, sizeof eta, st.eta_ns);
	double pct = st.rows_estimated ? 100.0 * (double)st.rows / (double)st.rows_estimated : 0.0;
	dbs__stream_log(l->s, DBS_LOG_INFO,
	                "[load] %s: %" PRIu32 "/%" PRIu32 " tables, %" PRIu64 "/%" PRIu64
	                " rows (%.0f%%), %" PRIu64 "/%" PRIu64 " chunks, %" PRIu64
	                " rows/s, ETA %s",
	                dbs_load_phase_name((dbs_load_phase)st.phase), st.tables_done, st.tables,
	                st.rows, st.rows_estimated, pct > 100.0 ? 100.0 : pct, st.chunks_done,
	                st.chunks, st.rows_per_s, eta);
}

/* Start the workers, wait for them while reporting progress. */
static int copy_all(dbs_load *l, int *blame, char *err, size_t errlen)
{
	int rc = 0;
	uint32_t n = l->s->config->load.workers ? l->s->config->load.workers : 1;
	size_t pending = 0;
	for (size_t i = 0; i < l->nchunks; i++)
		pending += l->chunks[i]->state == CHUNK_PLANNED;
	if (pending == 0)
		return 0;
	if (n > pending)
		n = (uint32_t)pending;
	if (!(l->workers = calloc(n, sizeof *l->workers))) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	l->nworkers = n;
	atomic_store(&l->phase, DBS_LOAD_PHASE_COPYING);
	atomic_store(&l->copy_started_mono, dbs_time_monotonic_ns());
	/* Every reader opens before any reads: they share the snapshot. */
	for (uint32_t i = 0; i < n; i++) {
		worker *w = &l->workers[i];
		w->l = l;
		w->index = i;
		rc = worker_open(w);
		if (rc != 0) {
			*blame = w->lost_side;
			dbs_fmt(err, errlen, "%s", w->err[0] ? w->err : dbs_strerror(rc));
			if (rc == DBS_LOAD_LOST)
				rc = w->lost_side == LOAD_BLAME_SOURCE ? DBS_ESOURCE : DBS_ETARGET;
			goto join;
		}
		if (i == 0 && l->cdc)
			dbs__stream_log(l->s, DBS_LOG_INFO,
			                "[load] copying in a snapshot at source position %" PRIu64, w->position);
	}
	for (uint32_t i = 0; i < n; i++) {
		worker *w = &l->workers[i];
		atomic_fetch_add(&l->running, 1);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			atomic_fetch_sub(&l->running, 1);
			dbs_fmt(err, errlen, "cannot start a load worker");
			rc = DBS_EINTERNAL;
			*blame = LOAD_BLAME_TARGET;
			atomic_store(&l->halt, 1);
			goto join;
		}
		w->started = 1;
	}
	while (atomic_load(&l->running) > 0) {
		report(l, 0);
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
join:
	for (uint32_t i = 0; i < n; i++) {
		if (l->workers[i].started)
			pthread_join(l->workers[i].thread, NULL);
		l->workers[i].started = 0;
		worker_close(&l->workers[i]);
	}
	if (rc == 0 && l->failed) {
		*blame = l->fail_blame;
		dbs_fmt(err, errlen, "%s", l->fail_err);
		rc = l->fail_blame == LOAD_BLAME_SOURCE ? DBS_ESOURCE : DBS_ETARGET;
	}
	return rc;
}

/* ---- finish ---- */

static int finish_all(dbs_load *l, int *blame, char *err, size_t errlen)
{
	int rc;
	*blame = LOAD_BLAME_TARGET;
	atomic_store(&l->phase, DBS_LOAD_PHASE_INDEXING);
	for (uint32_t i = 0; i < l->ntables; i++) {
		ltable *t = &l->tables[i];
		if (t->finished)
			continue;
		if (dbs_host_stopping(&l->s->target_host))
			return 1;
		atomic_store(&t->phase, DBS_LOAD_PHASE_INDEXING);
		if ((rc = l->tops->finish(l->s->target, t->def, DBS_LOAD_INDEXES, err, errlen)) < 0)
			return rc;
		dbs_load_record r = {t->key, -1, "finished", NULL, NULL, atomic_load(&t->estimate),
		                     atomic_load(&t->rows)};
		if ((rc = l->tops->store(l->s->target, &r, 1, err, errlen)) < 0)
			return rc;
		t->finished = 1;
		atomic_store(&t->phase, DBS_LOAD_PHASE_DONE);
	}
	/* Foreign keys once every table has its rows. A stream applies a
	 * batch's inserts grouped by table, which a foreign key could refuse:
	 * only a copy alone gets them. */
	for (uint32_t i = 0; i < l->ntables && !l->cdc; i++) {
		if (!l->tables[i].def->nforeign)
			continue;
		if ((rc = l->tops->finish(l->s->target, l->tables[i].def, DBS_LOAD_FOREIGN_KEYS, err,
		                          errlen)) < 0)
			return rc;
	}
	dbs_load_record done = {"", -1, "done", NULL, NULL, 0, 0};
	if ((rc = l->tops->store(l->s->target, &done, 1, err, errlen)) < 0)
		return rc;
	l->done = 1;
	return 0;
}

int dbs__load_run(dbs_load *l, int *blame, char *err, size_t errlen)
{
	int rc;
	*blame = LOAD_BLAME_TARGET;
	if (!l->done)
		dbs__stream_log(l->s, DBS_LOG_INFO, "[load] %" PRIu32 " tables to copy%s", l->ntables,
		                l->nrecs ? ", continuing from the chunks an earlier run committed" : "");
	if ((rc = plan_all(l, blame, err, errlen)) != 0)
		return rc;
	if (l->done) {
		atomic_store(&l->phase, DBS_LOAD_PHASE_DONE);
		for (uint32_t i = 0; i < l->ntables; i++)
			atomic_store(&l->tables[i].phase, DBS_LOAD_PHASE_DONE);
		return 0;
	}
	if (atomic_load(&l->chunks_resumed))
		dbs__stream_log(l->s, DBS_LOG_INFO, "[load] %" PRIu64 " chunks were committed by an "
		                "earlier run: copying the rest",
		                (uint64_t)atomic_load(&l->chunks_resumed));
	rc = copy_all(l, blame, err, errlen);
	if (atomic_load(&l->copy_started_mono))
		atomic_store(&l->copy_ended_mono, dbs_time_monotonic_ns());
	report(l, 1);
	if (rc < 0)
		return rc;
	if (atomic_load(&l->limit_hit)) {
		dbs__stream_request_stop(l->s, STOP_EVENT_LIMIT);
		return 1;
	}
	if (rc > 0 || dbs_host_stopping(&l->s->target_host))
		return 1;
	for (size_t i = 0; i < l->nchunks; i++)
		if (l->chunks[i]->state != CHUNK_COPIED) {
			dbs_fmt(err, errlen, "%s: chunk %" PRIu32 " was not copied",
			        l->tables[l->chunks[i]->table].key, l->chunks[i]->number);
			return DBS_EINTERNAL;
		}
	if ((rc = finish_all(l, blame, err, errlen)) != 0)
		return rc;
	atomic_store(&l->phase, DBS_LOAD_PHASE_DONE);
	report(l, 1);
	return 0;
}

int dbs__load_done(const dbs_load *l)
{
	return l && l->done;
}

void dbs__load_close(dbs_load *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; l->workers && i < l->nworkers; i++)
		worker_close(&l->workers[i]);
	if (l->snap)
		l->sops->close(l->snap);
	l->snap = NULL;
	/* The snapshot owned the table definitions. */
	l->defs = NULL;
	for (uint32_t i = 0; i < l->ntables; i++)
		l->tables[i].def = NULL;
}

void dbs__load_free(dbs_load *l)
{
	if (!l)
		return;
	dbs__load_close(l);
	for (uint32_t i = 0; l->tables && i < l->ntables; i++)
		free(l->tables[i].key);
	free(l->tables);
	for (size_t i = 0; i < l->nrecs; i++)
		lrec_free(&l->recs[i]);
	free(l->recs);
	for (size_t i = 0; i < l->nchunks; i++)
		lchunk_free(l->chunks[i]);
	free(l->chunks);
	free(l->workers);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* ---- stat ---- */

void dbs__load_stat(dbs_load *l, dbs_load_stat *out)
{
	load_totals(l, out);
}

size_t dbs__load_tables(dbs_load *l, dbs_load_table_stat *out, size_t max)
{
	for (uint32_t i = 0; i < l->ntables && i < max; i++) {
		ltable *t = &l->tables[i];
		dbs_load_table_stat *o = &out[i];
		memcpy(o->schema, t->schema, sizeof o->schema);
		memcpy(o->name, t->name, sizeof o->name);
		o->phase = atomic_load(&t->phase);
		o->rows = atomic_load(&t->rows);
		o->rows_estimated = atomic_load(&t->estimate);
		o->chunks = atomic_load(&t->chunks);
		o->chunks_done = atomic_load(&t->chunks_done);
	}
	return l->ntables;
}

/* ---- for the seam ---- */

size_t dbs__load_nchunks(const dbs_load *l)
{
	return l->nchunks;
}

/* Chunk i: its table's load description, bounds and position. */
void dbs__load_chunk_at(const dbs_load *l, size_t i, uint32_t *table, const dbs_value **lo,
                        const dbs_value **hi, uint64_t *position, uint32_t *number)
{
	const lchunk *c = l->chunks[i];
	*table = c->table;
	*lo = c->lo;
	*hi = c->hi;
	*position = c->position;
	*number = c->number;
}

uint32_t dbs__load_ntables(const dbs_load *l)
{
	return l->ntables;
}

/* The names of table `i` and its chunk key's column names. */
const char *dbs__load_table_names(const dbs_load *l, uint32_t i, const char **schema,
                                  const char **name, uint32_t *nkeys)
{
	const ltable *t = &l->tables[i];
	*schema = t->def ? t->def->def->schema : t->schema;
	*name = t->def ? t->def->def->name : t->name;
	*nkeys = t->def ? t->def->nkeys : 0;
	return t->key;
}

const char *dbs__load_key_name(const dbs_load *l, uint32_t table, uint32_t k)
{
	const dbs_load_table *d = l->tables[table].def;
	return d->def->columns[d->keys[k]].name;
}
