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
 *
 * Files: this one opens, plans, finishes and gives the figures and what
 * the seam reads; load_keys.c holds keys as text, the records and the
 * chunks, load_copy.c the workers of the copy and the progress line
 * (load_parts.h between them).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/load_parts.h"

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
	rc = l->tops->records(s->target, dbs__load_on_record, l, err, errlen);
	if (rc < 0)
		goto fail;
	const lrec *done = dbs__load_rec_find(l, "", -1);
	l->done = done && strcmp(done->state, "done") == 0;
	for (uint32_t i = 0; i < l->ntables && !l->done; i++) {
		const lrec *tr = dbs__load_rec_find(l, l->tables[i].key, -1);
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
	const lrec *tr = dbs__load_rec_find(l, t->key, -1);
	if (tr->position)
		atomic_store(&t->estimate, tr->position);
	t->finished = strcmp(tr->state, "finished") == 0;
	for (size_t i = 0; i < l->nrecs; i++) {
		const lrec *r = &l->recs[i];
		if (r->chunk < 0 || strcmp(r->table, t->key) != 0)
			continue;
		lchunk *c = dbs__load_chunk_new(ti, (uint32_t)r->chunk);
		if (!c)
			goto nomem;
		c->state = strcmp(r->state, "copied") == 0 ? CHUNK_COPIED : CHUNK_PLANNED;
		c->position = r->position;
		c->rows = r->rows;
		int rc = 0;
		if ((r->lo && !(c->lo_text = strdup(r->lo))) ||
		    (r->hi && !(c->hi_text = strdup(r->hi))) ||
		    (rc = dbs__load_key_parse(&c->lo, r->lo, nkeys)) ||
		    (rc = dbs__load_key_parse(&c->hi, r->hi, nkeys)) || dbs__load_chunk_add(l, c)) {
			dbs__load_chunk_free(c);
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
		lchunk *c = dbs__load_chunk_new(ti, i);
		if (!c)
			goto nomem;
		size_t bytes = (size_t)def->nkeys * sizeof(dbs_value);
		if (i > 0 && (!(c->lo = malloc(bytes)) ||
		              !memcpy(c->lo, points + (size_t)(i - 1) * def->nkeys, bytes)))
			goto nomem_c;
		if (i < npoints && (!(c->hi = malloc(bytes)) ||
		                    !memcpy(c->hi, points + (size_t)i * def->nkeys, bytes)))
			goto nomem_c;
		if (dbs__load_key_text(&c->lo_text, c->lo, def->nkeys) ||
		    dbs__load_key_text(&c->hi_text, c->hi, def->nkeys) || dbs__load_chunk_add(l, c))
			goto nomem_c;
		continue;
	nomem_c:
		dbs__load_chunk_free(c);
		goto nomem;
	}
	t->next_number = npoints + 1;
	if (!(recs = calloc((size_t)npoints + 2, sizeof *recs)))
		goto nomem;
	recs[0] = (dbs_load_record){t->key, -1, "prepared", NULL, NULL, atomic_load(&t->estimate), 0};
	for (size_t i = first; i < l->nchunks; i++)
		recs[1 + i - first] = dbs__load_chunk_record(l, l->chunks[i], "planned");
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
		if (dbs__load_rec_find(l, t->key, -1)) {
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
	rc = dbs__load_copy_all(l, blame, err, errlen);
	if (atomic_load(&l->copy_started_mono))
		atomic_store(&l->copy_ended_mono, dbs_time_monotonic_ns());
	dbs__load_report(l, 1);
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
	dbs__load_report(l, 1);
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
		dbs__load_worker_close(&l->workers[i]);
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
		dbs__load_rec_free(&l->recs[i]);
	free(l->recs);
	for (size_t i = 0; i < l->nchunks; i++)
		dbs__load_chunk_free(l->chunks[i]);
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
