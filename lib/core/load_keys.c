/*
 * The initial load's keys, records and chunks: a chunk key as the text
 * its record stores ("12,-5") and back, the records read from the target,
 * and the list of chunks the plan and the workers share. Apart from
 * load.c, which plans and finishes with them, and from load_copy.c, which
 * copies them.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/load_parts.h"

/* ---- keys as text ("12,-5") and back ---- */

int dbs__load_key_text(char **out, const dbs_value *v, uint32_t n)
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
int dbs__load_key_parse(dbs_value **out, const char *text, uint32_t n)
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

void dbs__load_rec_free(lrec *r)
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

int dbs__load_on_record(const dbs_load_record *rec, void *data)
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
		dbs__load_rec_free(r);
		return DBS_ENOMEM;
	}
	l->nrecs++;
	return 0;
}

const lrec *dbs__load_rec_find(const dbs_load *l, const char *table, int64_t chunk)
{
	for (size_t i = 0; i < l->nrecs; i++)
		if (l->recs[i].chunk == chunk && strcmp(l->recs[i].table, table) == 0)
			return &l->recs[i];
	return NULL;
}

/* ---- chunks ---- */

void dbs__load_chunk_free(lchunk *c)
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
int dbs__load_chunk_add(dbs_load *l, lchunk *c)
{
	if (dbs_array_reserve((void **)&l->chunks, &l->capchunks, l->nchunks + 1,
	                      sizeof *l->chunks))
		return DBS_ENOMEM;
	l->chunks[l->nchunks++] = c;
	return 0;
}

lchunk *dbs__load_chunk_new(uint32_t table, uint32_t number)
{
	lchunk *c = calloc(1, sizeof *c);
	if (c) {
		c->table = table;
		c->number = number;
	}
	return c;
}

/* The record of chunk `c` in state `state`. */
dbs_load_record dbs__load_chunk_record(const dbs_load *l, const lchunk *c, const char *state)
{
	dbs_load_record r = {l->tables[c->table].key, (int64_t)c->number, state, c->lo_text,
	                     c->hi_text, c->position, c->rows};
	return r;
}
