/*
 * The initial load's own parts, shared by its files: the plan and the
 * steps around the copy (load.c), keys as text, the records read from the
 * target and the chunks (load_keys.c), the workers that copy the chunks
 * and the progress line (load_copy.c). The stream sees only load.h.
 */
#ifndef DBS_CORE_LOAD_PARTS_H
#define DBS_CORE_LOAD_PARTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/load.h"
#include "core/stream.h"

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

/* ---- load_keys.c ---- */

/* A key's `n` integers as text ("12,-5"); NULL values: NULL (an open
 * bound). */
int dbs__load_key_text(char **out, const dbs_value *v, uint32_t n);
/* `n` values from "a,b"; NULL text: NULL. DBS_EINVAL when malformed. */
int dbs__load_key_parse(dbs_value **out, const char *text, uint32_t n);
/* A key value of an event image as an integer; -1 when it is none (the
 * seam declares it too). */
int dbs__load_key_value(const dbs_value *v, dbs_value *out);
void dbs__load_rec_free(lrec *r);
/* The target's records callback: each record kept in l->recs. */
int dbs__load_on_record(const dbs_load_record *rec, void *data);
/* The record of `table`'s chunk `chunk` (-1: the table's own; "" and -1:
 * the load's), NULL when there is none. */
const lrec *dbs__load_rec_find(const dbs_load *l, const char *table, int64_t chunk);
void dbs__load_chunk_free(lchunk *c);
int dbs__load_chunk_add(dbs_load *l, lchunk *c);
lchunk *dbs__load_chunk_new(uint32_t table, uint32_t number);
dbs_load_record dbs__load_chunk_record(const dbs_load *l, const lchunk *c, const char *state);

/* ---- load_copy.c ---- */

/* The planned chunks copied by load.workers workers, progress reported
 * while they run: 0, 1 when stopped, negative with *blame and err. */
int dbs__load_copy_all(dbs_load *l, int *blame, char *err, size_t errlen);
/* The reportingInterval line, when due (or `force`). */
void dbs__load_report(dbs_load *l, int force);
/* Close a worker's reader and writer. */
void dbs__load_worker_close(worker *w);

#endif
