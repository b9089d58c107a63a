/*
 * Batches, their arena, and reference-counted table definitions.
 *
 * A batch owns everything its events point at: values and strings come
 * from a chunked arena so decoding a row costs no malloc per value, and a
 * reset keeps the chunks for the next batch. A freed batch waits in a
 * small pool for the next dbs_batch_new, its newest chunk and its event
 * array kept: a source that makes a batch per small transaction would
 * otherwise get (and a target thread give back) 64 KB from the allocator
 * every time.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* A batch's first chunk is small (a batch per single-row transaction is
 * common); each further chunk doubles, up to ARENA_CHUNK. */
#define ARENA_FIRST (4u * 1024u)
#define ARENA_CHUNK (64u * 1024u)
/* Events a new batch has room for before it grows, whatever it was sized for. */
#define EVENTS_FIRST 16u
#define ARENA_ALIGN 16u

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

struct dbs_batch {
	dbs_event *events;
	uint32_t count, capacity;
	struct arena_chunk *chunks; /* head is the one being filled */
	const dbs_table **tables;   /* distinct tables referenced, one ref each */
	uint32_t ntables, tables_cap;
	uint64_t bytes;
	uint64_t seq;
};

/* ---- tables ---- */

struct table_impl {
	dbs_table pub; /* first: a dbs_table * is a struct table_impl * */
	atomic_int refs;
	dbs_index *indexes;  /* each index's name and columns in one allocation */
	uint32_t nindexes;
	dbs_column columns[];
};

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 1;
}

static char *str_put(char **cursor, const char *s)
{
	char *dst = *cursor;
	size_t n = s ? strlen(s) : 0;
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
	*cursor += n + 1;
	return dst;
}

DBS_API int dbs_table_new(dbs_table **out, dbs_dialect dialect, const char *schema,
                          const char *name, const dbs_column *columns, uint32_t ncolumns)
{
	if (!out)
		return dbs__error_set(DBS_EINVAL, "dbs_table_new: out is NULL");
	*out = NULL;
	if (!name || (ncolumns && !columns))
		return dbs__error_set(DBS_EINVAL, "dbs_table_new: name and columns are required");
	if (ncolumns > 65535)
		return dbs__error_set(DBS_EINVAL, "dbs_table_new: %u columns is too many", ncolumns);

	size_t strings = str_size(schema) + str_size(name);
	for (uint32_t i = 0; i < ncolumns; i++) {
		strings += str_size(columns[i].name) + str_size(columns[i].type_name);
		if (strings > SIZE_MAX / 2)
			return dbs__error_set(DBS_EINVAL, "dbs_table_new: names too long");
	}
	size_t head = sizeof(struct table_impl) + (size_t)ncolumns * sizeof(dbs_column);
	struct table_impl *t = malloc(head + strings);
	if (!t)
		return dbs__error_set(DBS_ENOMEM, "out of memory");

	char *cursor = (char *)t + head;
	t->pub.schema = str_put(&cursor, schema);
	t->pub.name = str_put(&cursor, name);
	t->pub.dialect = dialect;
	t->pub.ncolumns = ncolumns;
	t->pub.columns = t->columns;
	t->pub.source_id = 0;
	t->pub.version = 0;
	t->pub.nindexes = 0;
	t->pub.indexes = NULL;
	t->indexes = NULL;
	t->nindexes = 0;
	for (uint32_t i = 0; i < ncolumns; i++) {
		t->columns[i] = columns[i];
		t->columns[i].name = str_put(&cursor, columns[i].name);
		t->columns[i].type_name = str_put(&cursor, columns[i].type_name);
	}
	atomic_init(&t->refs, 1);
	*out = &t->pub;
	return 0;
}

DBS_API const dbs_table *dbs_table_ref(const dbs_table *table)
{
	if (table)
		atomic_fetch_add_explicit(&((struct table_impl *)(uintptr_t)table)->refs, 1,
		                          memory_order_relaxed);
	return table;
}

DBS_API void dbs_table_unref(const dbs_table *table)
{
	if (!table)
		return;
	struct table_impl *t = (struct table_impl *)(uintptr_t)table;
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
		for (uint32_t i = 0; i < t->nindexes; i++)
			free((void *)t->indexes[i].columns);
		free(t->indexes);
		free(t);
	}
}

DBS_API int dbs_table_add_index(dbs_table *table, const char *name, uint32_t flags,
                                const uint32_t *columns, uint32_t ncolumns)
{
	struct table_impl *t = (struct table_impl *)table;
	if (!t || !name || !columns || ncolumns == 0 || ncolumns > table->ncolumns)
		return dbs__error_set(DBS_EINVAL, "dbs_table_add_index: bad arguments");
	if (atomic_load(&t->refs) != 1)
		return dbs__error_set(DBS_EINVAL, "dbs_table_add_index: %s.%s is already shared",
		                      table->schema, table->name);
	for (uint32_t i = 0; i < ncolumns; i++)
		if (columns[i] >= table->ncolumns)
			return dbs__error_set(DBS_EINVAL, "index %s: column %u out of range", name,
			                      columns[i]);
	size_t name_len = strlen(name);
	/* Columns first (aligned), then the name. */
	uint32_t *store = malloc((size_t)ncolumns * sizeof *store + name_len + 1);
	dbs_index *grown = realloc(t->indexes, ((size_t)t->nindexes + 1) * sizeof *grown);
	if (!store || !grown) {
		free(store);
		if (grown)
			t->indexes = grown;
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	}
	t->indexes = grown;
	memcpy(store, columns, (size_t)ncolumns * sizeof *store);
	char *copy = (char *)(store + ncolumns);
	memcpy(copy, name, name_len + 1);
	grown[t->nindexes] = (dbs_index){copy, flags, ncolumns, store};
	t->nindexes++;
	t->pub.indexes = t->indexes;
	t->pub.nindexes = t->nindexes;
	return 0;
}

/* ---- positions ---- */

DBS_API int dbs_position_cmp(const dbs_position *a, const dbs_position *b)
{
	/* After a failover the binlog offsets of the new server have nothing
	 * to do with the old one's; the GTID still orders the domain. */
	if (a->gtid_seq && b->gtid_seq && a->gtid_domain == b->gtid_domain) {
		if (a->gtid_seq != b->gtid_seq)
			return a->gtid_seq < b->gtid_seq ? -1 : 1;
	} else if (a->txn != b->txn)
		return a->txn < b->txn ? -1 : 1;
	if (a->event != b->event)
		return a->event < b->event ? -1 : 1;
	return 0;
}

DBS_API void dbs_position_text_of(char *buf, size_t size, dbs_dialect dialect,
                                  const dbs_position *pos)
{
	if (dialect == DBS_DIALECT_MYSQL && pos->gtid_seq)
		dbs_fmt(buf, size, "%06" PRIu32 ":%" PRIu32 "#%" PRIu32 " gtid %" PRIu32 "-%" PRIu32
		         "-%" PRIu64, (uint32_t)(pos->txn >> 32), (uint32_t)pos->txn, pos->event,
		         pos->gtid_domain, pos->gtid_server, pos->gtid_seq);
	else if (dialect == DBS_DIALECT_MYSQL)
		dbs_fmt(buf, size, "%06" PRIu32 ":%" PRIu32 "#%" PRIu32, (uint32_t)(pos->txn >> 32),
		         (uint32_t)pos->txn, pos->event);
	else
		dbs_fmt(buf, size, "%" PRIX32 "/%" PRIX32 "#%" PRIu32, (uint32_t)(pos->txn >> 32),
		         (uint32_t)pos->txn, pos->event);
}

DBS_API void dbs_position_text(char *buf, size_t size, const dbs_batch *batch,
                               const dbs_position *pos)
{
	uint32_t n = dbs_batch_count(batch);
	const dbs_event *ev = n ? dbs_batch_event(batch, n - 1) : NULL;
	dbs_position_text_of(buf, size, ev && ev->table ? ev->table->dialect : DBS_DIALECT_POSTGRESQL,
	                     pos);
}

DBS_API int dbs_gtid_text(char *buf, size_t size, const dbs_position *pos)
{
	if (!pos->gtid_seq) {
		if (size)
			buf[0] = '\0';
		return 0;
	}
	int n = snprintf(buf, size, "%" PRIu32 "-%" PRIu32 "-%" PRIu64, pos->gtid_domain,
	                 pos->gtid_server, pos->gtid_seq);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

DBS_API int dbs_gtid_parse(const char *text, size_t len, uint32_t *domain, uint32_t *server,
                           uint64_t *seq)
{
	uint64_t part[3] = {0, 0, 0};
	size_t i = 0;
	for (int k = 0; k < 3; k++) {
		size_t digits = 0;
		for (; i < len && text[i] >= '0' && text[i] <= '9'; i++, digits++) {
			unsigned d = (unsigned)(text[i] - '0');
			if (part[k] > (UINT64_MAX - d) / 10)
				return -1;
			part[k] = part[k] * 10 + d;
		}
		if (!digits || (k < 2 && (i >= len || text[i++] != '-')))
			return -1;
	}
	if (i != len || part[0] > UINT32_MAX || part[1] > UINT32_MAX || part[2] == 0)
		return -1;
	*domain = (uint32_t)part[0];
	*server = (uint32_t)part[1];
	*seq = part[2];
	return 0;
}

/* ---- batches ---- */

/* Freed batches kept for reuse, at most POOL_MAX (each holds one arena
 * chunk, 64 KB or the largest a batch needed, and its event array). Under
 * AddressSanitizer a pooled batch's memory is poisoned, so a use after
 * dbs_batch_free is still reported for the events and the values (not
 * for the batch's own struct, which the leak checker must read to find
 * what the pool holds). */
#define POOL_MAX 16u
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The memory a pooled batch keeps, poisoned or not. */
static void pool_mark(dbs_batch *b, int poison)
{
	size_t events = (size_t)b->capacity * sizeof *b->events;
	if (poison) {
		if (b->chunks)
			POOL_POISON(b->chunks->data, b->chunks->size);
		POOL_POISON(b->events, events);
	} else {
		if (b->chunks)
			POOL_UNPOISON(b->chunks->data, b->chunks->size);
		POOL_UNPOISON(b->events, events);
	}
	(void)events;
}
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static dbs_batch *pool[POOL_MAX];
static uint32_t pool_count;

/* The batch freed last (its memory the most likely in cache); it grows
 * as a new one would. */
static dbs_batch *pool_take(void)
{
	dbs_batch *b = NULL;
	pthread_mutex_lock(&pool_lock);
	if (pool_count) {
		b = pool[--pool_count];
		pool_mark(b, 0);
	}
	pthread_mutex_unlock(&pool_lock);
	return b;
}

/* 1 when the pool took the (reset) batch. */
static int pool_give(dbs_batch *b)
{
	int taken = 0;
	pthread_mutex_lock(&pool_lock);
	if (pool_count < POOL_MAX) {
		pool_mark(b, 1);
		pool[pool_count++] = b;
		taken = 1;
	}
	pthread_mutex_unlock(&pool_lock);
	return taken;
}

DBS_API int dbs_batch_new(dbs_batch **out, uint32_t capacity)
{
	if (!out)
		return dbs__error_set(DBS_EINVAL, "dbs_batch_new: out is NULL");
	*out = NULL;
	if (capacity == 0)
		capacity = 16;
	if ((*out = pool_take()) != NULL)
		return 0;
	dbs_batch *b = calloc(1, sizeof *b);
	if (!b)
		goto fail;
	if (capacity > EVENTS_FIRST)
		capacity = EVENTS_FIRST; /* dbs_batch_add grows it */
	b->events = malloc((size_t)capacity * sizeof *b->events);
	if (!b->events)
		goto fail;
	b->capacity = capacity;
	*out = b;
	return 0;
fail:
	free(b);
	return dbs__error_set(DBS_ENOMEM, "out of memory");
}

static void release_tables(dbs_batch *b)
{
	for (uint32_t i = 0; i < b->ntables; i++)
		dbs_table_unref(b->tables[i]);
	b->ntables = 0;
}

DBS_API void dbs_batch_reset(dbs_batch *b)
{
	if (!b)
		return;
	release_tables(b);
	/* Keep only the newest chunk: it is the largest a batch needed lately. */
	struct arena_chunk *keep = b->chunks;
	if (keep) {
		struct arena_chunk *c = keep->next;
		while (c) {
			struct arena_chunk *next = c->next;
			free(c);
			c = next;
		}
		keep->next = NULL;
		keep->used = 0;
	}
	b->count = 0;
	b->bytes = 0;
	b->seq = 0;
}

DBS_API void dbs_batch_free(dbs_batch *b)
{
	if (!b)
		return;
	/* A batch that grew huge (a large transaction's) goes back to the
	 * allocator whole rather than stay in the pool. */
	if (b->capacity <= 4096 && (!b->chunks || b->chunks->size <= 4 * ARENA_CHUNK)) {
		dbs_batch_reset(b);
		if (pool_give(b))
			return;
	}
	release_tables(b);
	struct arena_chunk *c = b->chunks;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(b->tables);
	free(b->events);
	free(b);
}

DBS_API void *dbs_batch_alloc(dbs_batch *b, size_t size)
{
	if (!b || size > SIZE_MAX / 2)
		return NULL;
	size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct arena_chunk *c = b->chunks;
	if (!c || c->size - c->used < size) {
		size_t step = !c ? ARENA_FIRST : c->size >= ARENA_CHUNK / 2 ? ARENA_CHUNK : c->size * 2;
		size_t want = size > step ? size : step;
		struct arena_chunk *n = malloc(sizeof *n + want);
		if (!n)
			return NULL;
		n->size = want;
		n->used = 0;
		n->next = c;
		b->chunks = n;
		c = n;
	}
	void *p = c->data + c->used;
	c->used += size;
	return p;
}

static int hold_table(dbs_batch *b, const dbs_table *table)
{
	if (b->ntables && b->tables[b->ntables - 1] == table)
		return 0;
	for (uint32_t i = 0; i < b->ntables; i++)
		if (b->tables[i] == table)
			return 0;
	if (b->ntables == b->tables_cap) {
		uint32_t cap = b->tables_cap ? b->tables_cap * 2 : 4;
		const dbs_table **t = realloc(b->tables, (size_t)cap * sizeof *t);
		if (!t)
			return DBS_ENOMEM;
		b->tables = t;
		b->tables_cap = cap;
	}
	b->tables[b->ntables++] = dbs_table_ref(table);
	return 0;
}

static dbs_value *null_row(dbs_batch *b, uint32_t ncolumns)
{
	dbs_value *row = dbs_batch_alloc(b, (size_t)(ncolumns ? ncolumns : 1) * sizeof *row);
	if (row)
		memset(row, 0, (size_t)ncolumns * sizeof *row);
	return row;
}

DBS_API int dbs_batch_add(dbs_batch *b, dbs_op op, const dbs_table *table, dbs_event **out)
{
	if (!out)
		return dbs__error_set(DBS_EINVAL, "dbs_batch_add: out is NULL");
	*out = NULL;
	if (!b || !table || op < DBS_OP_INSERT || op > DBS_OP_SCHEMA)
		return dbs__error_set(DBS_EINVAL, "dbs_batch_add: bad batch, table or op");
	if (b->count == b->capacity) {
		if (b->capacity > UINT32_MAX / 2)
			return dbs__error_set(DBS_ENOMEM, "batch too large");
		uint32_t cap = b->capacity * 2;
		dbs_event *e = realloc(b->events, (size_t)cap * sizeof *e);
		if (!e)
			return dbs__error_set(DBS_ENOMEM, "out of memory");
		b->events = e;
		b->capacity = cap;
	}
	if (hold_table(b, table) != 0)
		return dbs__error_set(DBS_ENOMEM, "out of memory");

	dbs_event *ev = &b->events[b->count];
	memset(ev, 0, sizeof *ev);
	ev->op = (uint8_t)op;
	ev->table = table;
	if (op != DBS_OP_INSERT && op != DBS_OP_SCHEMA &&
	    !(ev->before = null_row(b, table->ncolumns)))
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	if (op != DBS_OP_DELETE && op != DBS_OP_SCHEMA &&
	    !(ev->after = null_row(b, table->ncolumns)))
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	b->count++;
	*out = ev;
	return 0;
}

DBS_API int dbs_batch_set_bytes(dbs_batch *b, dbs_value *value, dbs_value_kind kind,
                                const void *data, size_t len)
{
	if (!b || !value || (len && !data) || len > UINT32_MAX)
		return dbs__error_set(DBS_EINVAL, "dbs_batch_set_bytes: bad arguments");
	char *dst = dbs_batch_alloc(b, len ? len : 1);
	if (!dst)
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	if (len)
		memcpy(dst, data, len);
	value->kind = (uint8_t)kind;
	value->len = (uint32_t)len;
	value->v.s = dst;
	b->bytes += len;
	return 0;
}

DBS_API uint32_t dbs_batch_count(const dbs_batch *b)
{
	return b ? b->count : 0;
}

DBS_API dbs_event *dbs_batch_event(const dbs_batch *b, uint32_t index)
{
	return b && index < b->count ? &b->events[index] : NULL;
}

DBS_API const dbs_position *dbs_batch_last(const dbs_batch *b)
{
	static const dbs_position zero;
	return b && b->count ? &b->events[b->count - 1].pos : &zero;
}

DBS_API void dbs_batch_truncate(dbs_batch *b, uint32_t count)
{
	if (b && count < b->count)
		b->count = count;
}

void dbs__batch_keep(dbs_batch *b, const uint8_t *keep)
{
	uint32_t o = 0;
	for (uint32_t i = 0; b && i < b->count; i++)
		if (keep[i])
			b->events[o++] = b->events[i];
	if (b)
		b->count = o;
}

DBS_API uint64_t dbs_batch_bytes(const dbs_batch *b)
{
	return b ? b->bytes : 0;
}

DBS_API uint64_t dbs_batch_seq(const dbs_batch *b)
{
	return b ? b->seq : 0;
}

DBS_API void dbs_batch_set_seq(dbs_batch *b, uint64_t seq)
{
	if (b)
		b->seq = seq;
}
