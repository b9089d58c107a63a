/*
 * The initial load's copy: workers, each with a source reader and a
 * target writer, take the planned chunks one at a time and commit each
 * with its record, again after a lost connection; the progress line
 * while they run. Apart from load.c, which plans before and finishes
 * after.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/load_parts.h"

/* Rows a reader hands over at once (the source may hand fewer, when
 * they are large). */
#define LOAD_BATCH_ROWS 1000u


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
		rest = dbs__load_chunk_new(c->table, 0);
		size_t bytes = (size_t)t->def->nkeys * sizeof(dbs_value);
		if (!rest || !(rest->lo = malloc(bytes)) ||
		    dbs__load_key_text(&rest->lo_text, x.last, t->def->nkeys) ||
		    (c->hi_text && !(rest->hi_text = strdup(c->hi_text))) ||
		    (c->hi && !(rest->hi = malloc(bytes))) || !(cut_text = strdup(rest->lo_text))) {
			dbs__load_chunk_free(rest);
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
	recs[0] = dbs__load_chunk_record(l, &done, "copied");
	if (rest)
		recs[nrecs++] = dbs__load_chunk_record(l, rest, "planned");
	w->lost_side = LOAD_BLAME_TARGET;
	rc = l->tops->chunk_commit(w->writer, recs, nrecs, w->err, sizeof w->err);
	if (rc != 0) {
		free(cut_text);
		dbs__load_chunk_free(rest);
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
	if (rest && dbs__load_chunk_add(l, rest) == 0)
		rest = NULL;
	pthread_mutex_unlock(&l->lock);
	dbs__load_chunk_free(rest);
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

void dbs__load_worker_close(worker *w)
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
		dbs__load_worker_close(w);
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
	dbs__load_worker_close(w);
	atomic_fetch_sub(&l->running, 1);
	return NULL;
}

/* ---- progress ---- */

/* The reportingInterval line: "[load] copying: 3/4 tables, 350000/500000
 * rows (70%), 35/50 chunks, 120000 rows/s, ETA 1.2s". */
void dbs__load_report(dbs_load *l, int force)
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
	dbs__load_stat(l, &st);
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
int dbs__load_copy_all(dbs_load *l, int *blame, char *err, size_t errlen)
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
		dbs__load_report(l, 0);
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
join:
	for (uint32_t i = 0; i < n; i++) {
		if (l->workers[i].started)
			pthread_join(l->workers[i].thread, NULL);
		l->workers[i].started = 0;
		dbs__load_worker_close(&l->workers[i]);
	}
	if (rc == 0 && l->failed) {
		*blame = l->fail_blame;
		dbs_fmt(err, errlen, "%s", l->fail_err);
		rc = l->fail_blame == LOAD_BLAME_SOURCE ? DBS_ESOURCE : DBS_ETARGET;
	}
	return rc;
}
