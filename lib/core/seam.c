/*
 * The seam between an initial load and the stream that follows it.
 *
 * Every chunk of a copied table was read in a snapshot at position P_C:
 * its rows reflect exactly the source transactions before P_C. The
 * stream starts at or before the smallest P_C (where the source was when
 * the stream opened, before any snapshot), so it carries changes the copy
 * already has. For an event on a copied table whose key k lies in chunk
 * C, the copy holds it when the event's transaction is before P_C: the
 * event is dropped; otherwise it is applied. Keys are compared as the
 * integers they are (the chunk key is all integers), so this decision is
 * the source's own order. An update that moves a row from a chunk that
 * has the change to one that does not (or back) becomes the insert of its
 * new row (an upsert at every target), or the delete of its old key.
 * Tables without a chunk key are one chunk, decided by position alone.
 *
 * Each change thus lands in the target exactly once: in the copied rows
 * or through the stream. Once an event at or after the largest P_C has
 * passed, nothing more can be dropped and the filter costs nothing.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/load.h"

/* Declared by load.c and load_keys.c for the seam alone. */
size_t dbs__load_nchunks(const dbs_load *l);
void dbs__load_chunk_at(const dbs_load *l, size_t i, uint32_t *table, const dbs_value **lo,
                        const dbs_value **hi, uint64_t *position, uint32_t *number);
uint32_t dbs__load_ntables(const dbs_load *l);
const char *dbs__load_table_names(const dbs_load *l, uint32_t i, const char **schema,
                                  const char **name, uint32_t *nkeys);
const char *dbs__load_key_name(const dbs_load *l, uint32_t table, uint32_t k);
int dbs__load_value_cmp(const dbs_value *a, const dbs_value *b);
int dbs__load_key_value(const dbs_value *v, dbs_value *out);

#define SEAM_MAX_KEYS 16

typedef struct seam_chunk {
	dbs_value *hi; /* nkeys values; NULL: up to the last key */
	uint64_t position;
} seam_chunk;

typedef struct seam_table {
	char *schema, *name;
	uint32_t nkeys;
	char **keys;             /* key column names */
	seam_chunk *chunks;      /* in key order */
	uint32_t nchunks;
	const dbs_table *def;    /* the stream's definition last seen (not referenced:
	                            its key positions are kept for that address
	                            and version, after the names matched) */
	uint32_t version;
	uint32_t pos[SEAM_MAX_KEYS]; /* key columns in `def` */
	int usable;              /* every key column found in `def` */
} seam_table;

struct dbs_seam {
	seam_table *tables;
	uint32_t ntables;
	uint64_t max_position;
	int passed;
	uint8_t *keep;
	size_t cap_keep;
};

static void table_free(seam_table *t)
{
	free(t->schema);
	free(t->name);
	for (uint32_t k = 0; t->keys && k < t->nkeys; k++)
		free(t->keys[k]);
	free(t->keys);
	for (uint32_t i = 0; t->chunks && i < t->nchunks; i++)
		free(t->chunks[i].hi);
	free(t->chunks);
}

void dbs__seam_free(dbs_seam *seam)
{
	if (!seam)
		return;
	for (uint32_t i = 0; i < seam->ntables; i++)
		table_free(&seam->tables[i]);
	free(seam->tables);
	free(seam->keep);
	free(seam);
}

static int key_cmp(const dbs_value *a, const dbs_value *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int c = dbs__load_value_cmp(&a[i], &b[i]);
		if (c)
			return c;
	}
	return 0;
}

/* Chunks in key order of their upper bounds, the open one last
 * (insertion sort: a few hundred chunks, sorted once). */
static void chunks_sort(seam_chunk *c, uint32_t n, uint32_t nkeys)
{
	for (uint32_t i = 1; i < n; i++) {
		seam_chunk x = c[i];
		uint32_t j = i;
		while (j > 0 && x.hi && (!c[j - 1].hi || key_cmp(x.hi, c[j - 1].hi, nkeys) < 0)) {
			c[j] = c[j - 1];
			j--;
		}
		c[j] = x;
	}
}

int dbs__seam_new(dbs_seam **out, dbs_load *l)
{
	*out = NULL;
	uint32_t nt = dbs__load_ntables(l);
	size_t nc = dbs__load_nchunks(l);
	uint64_t maxp = 0;
	for (size_t i = 0; i < nc; i++) {
		uint32_t table, number;
		const dbs_value *lo, *hi;
		uint64_t p;
		dbs__load_chunk_at(l, i, &table, &lo, &hi, &p, &number);
		if (p > maxp)
			maxp = p;
	}
	if (maxp == 0)
		return 0; /* a copy alone, or nothing copied: nothing to filter */
	dbs_seam *seam = calloc(1, sizeof *seam);
	if (!seam || !(seam->tables = calloc(nt ? nt : 1, sizeof *seam->tables)))
		goto nomem;
	seam->ntables = nt;
	seam->max_position = maxp;
	for (uint32_t i = 0; i < nt; i++) {
		seam_table *t = &seam->tables[i];
		const char *schema, *name;
		dbs__load_table_names(l, i, &schema, &name, &t->nkeys);
		if (t->nkeys > SEAM_MAX_KEYS)
			t->nkeys = 0; /* never split: the table is one chunk */
		if (!(t->schema = strdup(schema ? schema : "")) || !(t->name = strdup(name)) ||
		    !(t->keys = calloc(t->nkeys ? t->nkeys : 1, sizeof *t->keys)))
			goto nomem;
		for (uint32_t k = 0; k < t->nkeys; k++)
			if (!(t->keys[k] = strdup(dbs__load_key_name(l, i, k))))
				goto nomem;
		uint32_t count = 0;
		for (size_t c = 0; c < nc; c++) {
			uint32_t table, number;
			const dbs_value *lo, *hi;
			uint64_t p;
			dbs__load_chunk_at(l, c, &table, &lo, &hi, &p, &number);
			count += table == i;
		}
		if (!(t->chunks = calloc(count ? count : 1, sizeof *t->chunks)))
			goto nomem;
		for (size_t c = 0; c < nc; c++) {
			uint32_t table, number;
			const dbs_value *lo, *hi;
			uint64_t p;
			dbs__load_chunk_at(l, c, &table, &lo, &hi, &p, &number);
			if (table != i)
				continue;
			seam_chunk *sc = &t->chunks[t->nchunks++];
			sc->position = p;
			if (hi && t->nkeys) {
				if (!(sc->hi = malloc(t->nkeys * sizeof *sc->hi)))
					goto nomem;
				memcpy(sc->hi, hi, t->nkeys * sizeof *sc->hi);
			}
		}
		chunks_sort(t->chunks, t->nchunks, t->nkeys);
	}
	*out = seam;
	return 0;
nomem:
	dbs__seam_free(seam);
	return DBS_ENOMEM;
}

int dbs__seam_passed(const dbs_seam *seam)
{
	return !seam || seam->passed;
}

/* The load's table of an event's definition, its key columns resolved. */
static seam_table *table_of(dbs_seam *seam, const dbs_table *def)
{
	for (uint32_t i = 0; i < seam->ntables; i++) {
		seam_table *t = &seam->tables[i];
		/* By name first: a definition freed meanwhile may have left its
		 * address to another table's. */
		if (strcmp(t->name, def->name) != 0 ||
		    strcmp(t->schema, def->schema ? def->schema : "") != 0)
			continue;
		if (t->def == def && t->version == def->version)
			return t;
		t->def = def;
		t->version = def->version;
		t->usable = 1;
		for (uint32_t k = 0; k < t->nkeys; k++) {
			uint32_t c = 0;
			while (c < def->ncolumns && strcmp(def->columns[c].name, t->keys[k]) != 0)
				c++;
			if (c == def->ncolumns)
				t->usable = 0;
			t->pos[k] = c;
		}
		return t;
	}
	return NULL;
}

/* Nonzero when the copy holds the change of transaction `txn` to the row
 * of `img`. A row whose key cannot be read is left to the stream. */
static int covered(const seam_table *t, const dbs_value *img, uint64_t txn)
{
	if (t->nchunks == 0)
		return 0;
	if (t->nkeys == 0)
		return txn < t->chunks[0].position;
	if (!t->usable || !img)
		return 0;
	dbs_value key[SEAM_MAX_KEYS];
	for (uint32_t k = 0; k < t->nkeys; k++)
		if (dbs__load_key_value(&img[t->pos[k]], &key[k]) != 0)
			return 0;
	/* The first chunk whose upper bound is at or above the key. */
	uint32_t lo = 0, hi = t->nchunks;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const seam_chunk *c = &t->chunks[mid];
		if (!c->hi || key_cmp(key, c->hi, t->nkeys) <= 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == t->nchunks)
		return 0;
	return txn < t->chunks[lo].position;
}

uint32_t dbs__seam_filter(dbs_seam *seam, dbs_batch *batch, dbs_position *ended,
                          int *dropped_end)
{
	uint32_t n = dbs_batch_count(batch);
	if (dropped_end)
		*dropped_end = 0;
	if (!seam || seam->passed || n == 0)
		return n;
	if (dbs_array_reserve((void **)&seam->keep, &seam->cap_keep, n, 1))
		return n; /* no memory to filter with: the events stay (upserts) */
	dbs_position last = *dbs_batch_last(batch);
	uint32_t kept = 0;
	for (uint32_t i = 0; i < n; i++) {
		dbs_event *ev = dbs_batch_event(batch, i);
		seam->keep[i] = 1;
		if (ev->pos.txn >= seam->max_position) {
			seam->passed = 1;
			kept++;
			continue;
		}
		/* A schema change always passes: the copy may already have it,
		 * which the target finds in its catalog and does not do again. */
		seam_table *t = ev->op == DBS_OP_SCHEMA ? NULL : table_of(seam, ev->table);
		if (t) {
			const dbs_value *old = ev->before ? ev->before : ev->after;
			int had_old = ev->op != DBS_OP_INSERT && covered(t, old, ev->pos.txn);
			int has_new = ev->op != DBS_OP_DELETE && covered(t, ev->after, ev->pos.txn);
			if (ev->op == DBS_OP_INSERT)
				seam->keep[i] = !has_new;
			else if (ev->op == DBS_OP_DELETE)
				seam->keep[i] = !had_old;
			else if (had_old && has_new)
				seam->keep[i] = 0;
			else if (had_old) {
				/* The copy has the old key gone and lacks the new row. */
				ev->op = DBS_OP_INSERT;
				ev->before = NULL;
			} else if (has_new) {
				/* The copy has the new row; the old key is still there. */
				ev->op = DBS_OP_DELETE;
				ev->after = NULL;
			}
		}
		kept += seam->keep[i];
	}
	if (kept == n)
		return n;
	int last_dropped = !seam->keep[n - 1];
	dbs__batch_keep(batch, seam->keep);
	if (last_dropped && last.txn_end) {
		uint32_t m = dbs_batch_count(batch);
		dbs_event *ev = m ? dbs_batch_event(batch, m - 1) : NULL;
		if (ev && ev->pos.txn == last.txn) {
			ev->pos.txn_end = 1;
			ev->pos.resume = last.resume;
		} else {
			if (ended)
				*ended = last;
			if (dropped_end)
				*dropped_end = 1;
		}
	}
	return dbs_batch_count(batch);
}
