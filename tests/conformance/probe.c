/*
 * The probe source and target (probe.h). Written against the public
 * headers and the SDK only, the way a plugin outside this repository is:
 * meson builds it as its own shared object with nothing but include/ on
 * its include path.
 */
#include "probe.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dbstreams/sys/host.h>
#include <dbstreams/sys/position.h>

/* ------------------------------------------------------------------ */
/* The workload                                                        */
/* ------------------------------------------------------------------ */

/* 2024-01-02 03:04:05 UTC: row j's timestamps are j seconds later. */
#define BASE_UNIX 1704164645LL
#define BASE_COMMIT_US (BASE_UNIX * 1000000LL)
/* Positions: transaction t at FIRST_TXN + t * TXN_STEP, like LSNs. */
#define FIRST_TXN 0x1000000ULL
#define TXN_STEP 4096ULL

dbs_op probe_event_op(uint64_t k, uint64_t *id)
{
	if (k % 10 == 0) {
		*id = k - 9;
		return DBS_OP_UPDATE;
	}
	if (k % 10 == 5) {
		*id = k - 3;
		return DBS_OP_DELETE;
	}
	*id = k;
	return DBS_OP_INSERT;
}

static void time_of(uint64_t j, dbs_time_value *t)
{
	time_t secs = (time_t)(BASE_UNIX + (int64_t)j);
	struct tm tm;
	gmtime_r(&secs, &tm);
	memset(t, 0, sizeof *t);
	t->year = tm.tm_year + 1900;
	t->month = (uint8_t)(tm.tm_mon + 1);
	t->day = (uint8_t)tm.tm_mday;
	t->hour = (uint16_t)tm.tm_hour;
	t->minute = (uint8_t)tm.tm_min;
	t->second = (uint8_t)tm.tm_sec;
	t->usec = (uint32_t)((j * 7919) % 1000000);
}

static int time_text(dbs_buf *out, dbs_value_kind kind, const dbs_time_value *t)
{
	if (kind == DBS_VALUE_DATE)
		return dbs_buf_appendf(out, "%04" PRId32 "-%02u-%02u", t->year, t->month, t->day);
	if (kind == DBS_VALUE_TIME)
		return dbs_buf_appendf(out, "%s%02u:%02u:%02u.%06" PRIu32, t->negative ? "-" : "",
		                       t->hour, t->minute, t->second, t->usec);
	return dbs_buf_appendf(out, "%04" PRId32 "-%02u-%02u %02u:%02u:%02u.%06" PRIu32, t->year,
	                       t->month, t->day, t->hour, t->minute, t->second, t->usec);
}

int probe_value_text(dbs_buf *out, const dbs_value *v)
{
	switch ((dbs_value_kind)v->kind) {
	case DBS_VALUE_NULL: return 1;
	case DBS_VALUE_UNCHANGED: return dbs_buf_append_str(out, "<unchanged>");
	case DBS_VALUE_INT: return dbs_buf_appendf(out, "%" PRId64, v->v.i);
	case DBS_VALUE_UINT: return dbs_buf_appendf(out, "%" PRIu64, v->v.u);
	case DBS_VALUE_DOUBLE: return dbs_buf_appendf(out, "%.17g", v->v.d);
	case DBS_VALUE_BYTES:
		for (uint32_t i = 0; i < v->len; i++)
			if (dbs_buf_appendf(out, "%02x", (unsigned char)v->v.s[i]))
				return -1;
		return out->data ? 0 : dbs_buf_append_str(out, "");
	case DBS_VALUE_TEXT:
	case DBS_VALUE_DECIMAL:
	case DBS_VALUE_JSON: return dbs_buf_append(out, v->v.s, v->len) ? -1 : 0;
	case DBS_VALUE_DATE:
	case DBS_VALUE_TIME:
	case DBS_VALUE_DATETIME:
	case DBS_VALUE_TIMESTAMP: return time_text(out, (dbs_value_kind)v->kind, &v->v.t);
	}
	return dbs_buf_appendf(out, "<kind %u>", v->kind);
}

/* The columns of the probe's table (the first PROBE_ROWS_COLUMNS are the
 * ROWS shape), spelled for PostgreSQL and MySQL. */
/* clang-format off */
static const struct {
	const char *name, *pg_type, *my_type;
	uint32_t pg_oid, my_code;
	uint32_t flags;
} columns[PROBE_WIDE_COLUMNS] = {
    {"id", "integer", "int", 23, 3, DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL},
    {"name", "text", "varchar(64)", 25, 15, 0},
    {"amount", "bigint", "bigint", 20, 8, 0},
    {"price", "numeric(12,2)", "decimal(12,2)", 1700, 246, 0},
    {"data", "bytea", "blob", 17, 252, 0},
    {"at", "timestamp with time zone", "timestamp(6)", 1184, 17, 0},
    {"u", "numeric(20,0)", "bigint unsigned", 1700, 8, 0},
    {"d", "double precision", "double", 701, 5, 0},
    {"j", "jsonb", "json", 3802, 245, 0},
    {"dt", "date", "date", 1082, 10, 0},
    {"tm", "time", "time(6)", 1083, 19, 0},
    {"ts", "timestamp without time zone", "datetime(6)", 1114, 18, 0},
    {"keep", "text", "text", 25, 252, 0},
};
/* clang-format on */

int probe_table_new(dbs_table **out, int wide, dbs_dialect dialect, const char *schema,
                    const char *name)
{
	dbs_column cols[PROBE_WIDE_COLUMNS];
	uint32_t n = wide ? PROBE_WIDE_COLUMNS : PROBE_ROWS_COLUMNS;
	int my = dialect == DBS_DIALECT_MYSQL;
	for (uint32_t i = 0; i < n; i++) {
		cols[i].name = columns[i].name;
		cols[i].type_name = my ? columns[i].my_type : columns[i].pg_type;
		cols[i].type_id = my ? columns[i].my_code : columns[i].pg_oid;
		cols[i].type_mod = -1;
		cols[i].flags = columns[i].flags | (my && i == 6 ? DBS_COLUMN_UNSIGNED : 0);
	}
	int rc = dbs_table_new(out, dialect, schema, name, cols, n);
	if (rc == 0 && wide) {
		/* A secondary index travels with the table definition. */
		static const uint32_t by_amount[] = {2, 0};
		rc = dbs_table_add_index(*out, "probe_amount", DBS_INDEX_UNIQUE, by_amount, 2);
		if (rc) {
			dbs_table_unref(*out);
			*out = NULL;
		}
	}
	return rc;
}

static int set_text(dbs_batch *b, dbs_value *v, dbs_value_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_text(dbs_batch *b, dbs_value *v, dbs_value_kind kind, const char *fmt, ...)
{
	char text[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof text)
		return -1;
	return dbs_batch_set_bytes(b, v, kind, text, (size_t)n);
}

/* Row j's image as inserted (wide: every column), or as updated by event
 * `upd` (0: not updated) with `unchanged` for the TOAST-like column. */
static int fill_row(dbs_batch *b, dbs_value *row, int wide, uint64_t j, uint64_t upd, int unchanged)
{
	static const unsigned char bytes[] = {0, 0x00, 0xff, 0x27};
	unsigned char data[sizeof bytes];
	memcpy(data, bytes, sizeof data);
	data[0] = (unsigned char)(j & 0xff);
	int rc = 0;
	row[0].kind = DBS_VALUE_INT;
	row[0].v.i = (int64_t)j;
	if (upd)
		rc |= set_text(b, &row[1], DBS_VALUE_TEXT, "upd %" PRIu64, upd);
	else if (j % 4 != 0)
		rc |= set_text(b, &row[1], DBS_VALUE_TEXT, "row %" PRIu64, j);
	row[2].kind = DBS_VALUE_INT;
	row[2].v.i = upd ? -(int64_t)upd : (int64_t)(j * 1000003);
	rc |= set_text(b, &row[3], DBS_VALUE_DECIMAL, "%" PRIu64 ".%02u", j, (unsigned)(j % 100));
	rc |= dbs_batch_set_bytes(b, &row[4], DBS_VALUE_BYTES, data, sizeof data);
	row[5].kind = DBS_VALUE_TIMESTAMP;
	time_of(j, &row[5].v.t);
	if (!wide)
		return rc ? -1 : 0;
	row[6].kind = DBS_VALUE_UINT;
	row[6].v.u = UINT64_MAX - j;
	row[7].kind = DBS_VALUE_DOUBLE;
	row[7].v.d = (double)j / 3.0;
	rc |= set_text(b, &row[8], DBS_VALUE_JSON, "{\"k\": %" PRIu64 ", \"s\": \"a\\\"b\"}", j);
	row[9].kind = DBS_VALUE_DATE;
	row[9].v.t.year = (int32_t)(1999 + j % 50);
	row[9].v.t.month = (uint8_t)(j % 12 + 1);
	row[9].v.t.day = (uint8_t)(j % 28 + 1);
	row[10].kind = DBS_VALUE_TIME;
	row[10].v.t.hour = (uint16_t)(j % 838);
	row[10].v.t.minute = (uint8_t)(j % 60);
	row[10].v.t.second = (uint8_t)((j * 7) % 60);
	row[10].v.t.usec = (uint32_t)(j % 1000);
	row[10].v.t.negative = j % 3 == 0;
	row[11].kind = DBS_VALUE_DATETIME;
	time_of(j, &row[11].v.t);
	if (unchanged)
		row[12].kind = DBS_VALUE_UNCHANGED;
	else
		rc |= set_text(b, &row[12], DBS_VALUE_TEXT, "keep %" PRIu64, j);
	return rc ? -1 : 0;
}

static void position_of(uint64_t k, uint32_t txn_size, uint64_t total, dbs_event *ev)
{
	uint64_t t = (k - 1) / txn_size + 1;
	uint32_t e = (uint32_t)((k - 1) % txn_size + 1);
	ev->pos.txn = FIRST_TXN + t * TXN_STEP;
	ev->pos.resume = ev->pos.txn + TXN_STEP - 1;
	ev->pos.event = e;
	ev->pos.txn_end = e == txn_size || k == total;
	ev->xid = 1000 + t;
	ev->commit_time_us = BASE_COMMIT_US + (int64_t)t * 1000;
}

int probe_add_event(dbs_batch *batch, const dbs_table *table, int wide, uint64_t k,
                    uint32_t txn_size, uint64_t total)
{
	uint64_t id;
	dbs_op op = probe_event_op(k, &id);
	dbs_event *ev;
	int rc = dbs_batch_add(batch, op, table, &ev);
	if (rc)
		return rc;
	position_of(k, txn_size, total, ev);
	if (ev->before && fill_row(batch, ev->before, wide, id, 0, 0))
		return DBS_ENOMEM;
	if (ev->after &&
	    fill_row(batch, ev->after, wide, id, op == DBS_OP_UPDATE ? k : 0, op == DBS_OP_UPDATE))
		return DBS_ENOMEM;
	return 0;
}

int probe_expected_row(uint64_t n, uint64_t id, const char *cells[PROBE_ROWS_COLUMNS])
{
	static char text[PROBE_ROWS_COLUMNS][96];
	uint64_t ignored;
	if (id == 0 || id > n || probe_event_op(id, &ignored) != DBS_OP_INSERT)
		return 0;
	if (id % 10 == 2 && id + 3 <= n)
		return 0; /* deleted by event id + 3 */
	uint64_t upd = id % 10 == 1 && id + 9 <= n ? id + 9 : 0;
	dbs_batch *b = NULL;
	dbs_value row[PROBE_ROWS_COLUMNS];
	memset(row, 0, sizeof row);
	if (dbs_batch_new(&b, 1) || fill_row(b, row, 0, id, upd, 0)) {
		dbs_batch_free(b);
		return -1;
	}
	for (int c = 0; c < PROBE_ROWS_COLUMNS; c++) {
		dbs_buf t = DBS_BUF_INIT;
		int null = probe_value_text(&t, &row[c]);
		snprintf(text[c], sizeof text[c], "%s", t.data ? t.data : "");
		cells[c] = null == 1 ? NULL : text[c];
		dbs_buf_free(&t);
	}
	dbs_batch_free(b);
	return 1;
}

static int image_line(dbs_buf *out, const char *label, const dbs_value *row, uint32_t n)
{
	if (dbs_buf_appendf(out, " %s=", label))
		return -1;
	if (!row)
		return dbs_buf_append_str(out, "-");
	for (uint32_t i = 0; i < n; i++) {
		if (dbs_buf_appendf(out, "%s%u:", i ? "|" : "", row[i].kind))
			return -1;
		if (probe_value_text(out, &row[i]) < 0)
			return -1;
	}
	return 0;
}

int probe_event_line(dbs_buf *out, const dbs_event *ev)
{
	const dbs_table *t = ev->table;
	const dbs_position *p = &ev->pos;
	if (dbs_buf_appendf(out, "op=%u %s.%s d=%d", ev->op, t->schema, t->name, (int)t->dialect))
		return -1;
	for (uint32_t i = 0; i < t->ncolumns; i++) {
		const dbs_column *c = &t->columns[i];
		if (dbs_buf_appendf(out, "%s%s:%s:%" PRIu32 ":%" PRId32 ":%" PRIu32,
		                    i ? "," : " cols=", c->name, c->type_name, c->type_id,
		                    c->type_mod, c->flags))
			return -1;
	}
	for (uint32_t i = 0; i < t->nindexes; i++) {
		const dbs_index *x = &t->indexes[i];
		if (dbs_buf_appendf(out, " index=%s:%" PRIu32 ":", x->name, x->flags))
			return -1;
		for (uint32_t k = 0; k < x->ncolumns; k++)
			if (dbs_buf_appendf(out, "%s%" PRIu32, k ? "," : "", x->columns[k]))
				return -1;
	}
	if (dbs_buf_appendf(out,
	                    " pos=%" PRIu64 "/%" PRIu64 "#%" PRIu32 "%s gtid=%" PRIu32 "-%" PRIu32
	                    "-%" PRIu64 " xid=%" PRIu64 " commit=%" PRId64,
	                    p->txn, p->resume, p->event, p->txn_end ? "$" : "", p->gtid_domain,
	                    p->gtid_server, p->gtid_seq, ev->xid, ev->commit_time_us))
		return -1;
	if (image_line(out, "before", ev->before, t->ncolumns) ||
	    image_line(out, "after", ev->after, t->ncolumns))
		return -1;
	/* A schema change: its kinds, in order. */
	for (uint32_t i = 0; ev->op == DBS_OP_SCHEMA && ev->schema && i < ev->schema->nchanges; i++)
		if (dbs_buf_appendf(out, "%s%u%s", i ? "," : " changes=", ev->schema->changes[i].kind,
		                    ev->schema->changes[i].unsafe ? "!" : ""))
			return -1;
	return dbs_buf_append_char(out, '\n');
}

/* ------------------------------------------------------------------ */
/* The world                                                           */
/* ------------------------------------------------------------------ */

void probe_world_init(probe_world *w)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->lock, NULL);
}

void probe_world_free(probe_world *w)
{
	for (size_t i = 0; i < w->nrows; i++)
		for (int c = 0; c < PROBE_WIDE_COLUMNS; c++)
			free(w->rows[i].cells[c]);
	free(w->rows);
	dbs_buf_free(&w->lines);
	pthread_mutex_destroy(&w->lock);
}

/* Called with the lock held. */
static void violation(probe_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void violation(probe_world *w, const char *fmt, ...)
{
	if (w->violations++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->first_violation, sizeof w->first_violation, fmt, ap);
		va_end(ap);
	}
}

/* ------------------------------------------------------------------ */
/* The probe source                                                    */
/* ------------------------------------------------------------------ */

/* source.settings of a probe source: its rows are below. */
typedef struct probe_settings {
	uint64_t events;      /* how many events the stream has in all */
	uint32_t transaction; /* events per source transaction */
	const char *schema, *table;
	const char *shape;   /* "rows" or "wide" */
	const char *dialect; /* "postgresql" or "mysql": how columns are spelled */
	int live;            /* after the last event, wait for the stop (like CDC) */
	int replay;          /* ignore the resume position: emit from event 1 */
} probe_settings;

static const char *const shapes[] = {"rows", "wide", NULL};
static const char *const dialects[] = {"postgresql", "mysql", NULL};

/* A plain SQL identifier, so that every target can use it unquoted. */
static int check_identifier(const char *value, const char *shown, char *why, size_t whylen)
{
	size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_");
	if (value[0] && n == strlen(value) && !(value[0] >= '0' && value[0] <= '9'))
		return 0;
	snprintf(why, whylen, "\"%s\" is not a lower-case identifier", shown);
	return 1;
}

#define SET(f) offsetof(probe_settings, f)

/* clang-format off */
static const dbs_option probe_source_options[] = {
    {.object = "settings", .key = "events", .kind = DBS_OPTION_U64,
     .flags = DBS_OPTION_REQUIRED, .offset = SET(events), .max = 1e9,
     .doc = "events the probe emits in all"},
    {.object = "settings", .key = "transaction", .kind = DBS_OPTION_U32, .offset = SET(transaction),
     .def_num = 3, .min = 1, .max = 1000, .doc = "events per source transaction"},
    {.object = "settings", .key = "schema", .kind = DBS_OPTION_STRING,
     .flags = DBS_OPTION_NONEMPTY, .offset = SET(schema), .def = "public",
     .check = check_identifier, .doc = "schema of the probe's table"},
    {.object = "settings", .key = "table", .kind = DBS_OPTION_STRING,
     .flags = DBS_OPTION_NONEMPTY, .offset = SET(table), .def = "probe_items",
     .check = check_identifier, .doc = "name of the probe's table"},
    {.object = "settings", .key = "shape", .kind = DBS_OPTION_ENUM, .offset = SET(shape),
     .def = "rows", .choices = shapes, .what = "shape",
     .doc = "rows: the columns a SQL target gets; wide: every kind of value"},
    {.object = "settings", .key = "dialect", .kind = DBS_OPTION_ENUM, .offset = SET(dialect),
     .def = "postgresql", .choices = dialects, .what = "dialect",
     .doc = "the engine whose type names the columns carry"},
    {.object = "settings", .key = "live", .kind = DBS_OPTION_BOOL, .offset = SET(live),
     .doc = "after the last event wait for the stop instead of finishing"},
    {.object = "settings", .key = "replay", .kind = DBS_OPTION_BOOL, .offset = SET(replay),
     .doc = "emit from the first event whatever the resume position"},
};
/* clang-format on */

typedef struct probe_source {
	dbs_source base;
	const dbs_host *host;
	probe_world *world;
	const probe_settings *set;
	uint32_t bundle;
	int wide;
	dbs_table *table;
	uint64_t next; /* the next event to emit */
	/* With replay: events up to here were applied before. */
	dbs_position resume;
	int has_resume;
} probe_source;

static int probe_source_open(dbs_source **out, const dbs_source_config *config,
                             const dbs_host *host, const dbs_position *resume, char *err,
                             size_t errlen)
{
	probe_world *w = host->version >= 3 ? (probe_world *)host->plugin_data : NULL;
	if (!w || !config->settings) {
		snprintf(err, errlen, "probe source: registered without its world");
		return DBS_EINVAL;
	}
	probe_source *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	s->base.ops = &probe_source_ops;
	s->host = host;
	s->world = w;
	s->set = (const probe_settings *)config->settings;
	s->bundle = config->data_bundle_size;
	s->wide = strcmp(s->set->shape, "wide") == 0;
	dbs_dialect d =
	    strcmp(s->set->dialect, "mysql") == 0 ? DBS_DIALECT_MYSQL : DBS_DIALECT_POSTGRESQL;
	if (probe_table_new(&s->table, s->wide, d, s->set->schema, s->set->table)) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	/* Where a resume position points: into transaction t, whose first
	 * event comes again unless the position ends it (the target skips
	 * what its checkpoint covers, as with a real log). */
	s->next = 1;
	if (resume) {
		s->resume = *resume;
		s->has_resume = 1;
	}
	if (resume && !s->set->replay && resume->txn >= FIRST_TXN + TXN_STEP) {
		uint64_t t = (resume->txn - FIRST_TXN) / TXN_STEP;
		s->next = (t - (resume->txn_end ? 0 : 1)) * s->set->transaction + 1;
	}
	pthread_mutex_lock(&w->lock);
	w->opened++;
	w->resume_given = resume != NULL;
	if (resume)
		w->resume = *resume;
	pthread_mutex_unlock(&w->lock);
	dbs_log(host, DBS_LOG_DEBUG, "probe source: %" PRIu64 " events, from event %" PRIu64,
	        s->set->events, s->next);
	*out = &s->base;
	return 0;
}

/* A replayed event the target already applied carries a name of its own:
 * the target must skip it (its checkpoint covers it), and a table showing
 * "replayed" says it did not. */
static int mark_replayed(probe_source *s, dbs_batch *b)
{
	dbs_event *ev = dbs_batch_event(b, dbs_batch_count(b) - 1);
	if (!s->set->replay || !s->has_resume || !ev->after ||
	    dbs_position_cmp(&ev->pos, &s->resume) > 0)
		return 0;
	return dbs_batch_set_bytes(b, &ev->after[1], DBS_VALUE_TEXT, "replayed", 8);
}

static int probe_source_run(dbs_source *src, dbs_emit_fn emit, void *emit_data, char *err,
                            size_t errlen)
{
	probe_source *s = (probe_source *)src;
	while (s->next <= s->set->events) {
		if (dbs_host_stopping(s->host))
			return 0;
		dbs_batch *b = NULL;
		if (dbs_batch_new(&b, s->bundle)) {
			snprintf(err, errlen, "out of memory");
			return DBS_ENOMEM;
		}
		uint32_t n = 0;
		for (; n < s->bundle && s->next <= s->set->events; n++, s->next++) {
			if (probe_add_event(b, s->table, s->wide, s->next, s->set->transaction,
			                    s->set->events) ||
			    mark_replayed(s, b)) {
				dbs_batch_free(b);
				snprintf(err, errlen, "out of memory");
				return DBS_ENOMEM;
			}
		}
		pthread_mutex_lock(&s->world->lock);
		s->world->emitted += n;
		pthread_mutex_unlock(&s->world->lock);
		int rc = emit(b, emit_data); /* takes the batch */
		if (rc)
			return rc > 0 ? 0 : rc;
	}
	/* A change log never ends: a live probe waits like one. */
	while (s->set->live && !dbs_sleep_unless_stopping(s->host, 50))
		;
	return 0;
}

static void probe_source_ack(dbs_source *src, const dbs_position *pos)
{
	(void)src;
	(void)pos;
}

static void probe_source_close(dbs_source *src)
{
	probe_source *s = (probe_source *)src;
	dbs_table_unref(s->table);
	free(s);
}

const dbs_source_ops probe_source_ops = {
    .version = DBS_SOURCE_OPS_VERSION,
    .name = "probe",
    .open = probe_source_open,
    .run = probe_source_run,
    .ack = probe_source_ack,
    .close = probe_source_close,
    .start_point = NULL,
    .options = probe_source_options,
    .noptions = sizeof probe_source_options / sizeof probe_source_options[0],
    .settings_size = sizeof(probe_settings),
    .default_schema = "public",
};

/* ------------------------------------------------------------------ */
/* The probe target                                                    */
/* ------------------------------------------------------------------ */

typedef struct probe_target {
	dbs_target base;
	const dbs_host *host;
	probe_world *world;
	/* This session: the last event delivered (applied or skipped). */
	dbs_position last;
	int has_last;
	/* The transaction of the last event applied, and whether it ended. */
	uint64_t txn;
	int txn_ended;
	uint64_t applied_here; /* events this session applied */
} probe_target;

static int probe_target_open(dbs_target **out, const dbs_target_config *config,
                             const dbs_host *host, dbs_position *checkpoint, char *err,
                             size_t errlen)
{
	(void)config;
	probe_world *w = host->version >= 3 ? (probe_world *)host->plugin_data : NULL;
	if (!w) {
		snprintf(err, errlen, "probe target: registered without its world");
		return DBS_EINVAL;
	}
	probe_target *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	t->base.ops = &probe_target_ops;
	t->host = host;
	t->world = w;
	t->txn_ended = 1;
	pthread_mutex_lock(&w->lock);
	*checkpoint = w->checkpoint; /* the world outlives the stream, like a database */
	pthread_mutex_unlock(&w->lock);
	*out = &t->base;
	return 0;
}

/* The row an event's key names: its first column as a number. */
static probe_row *row_of(probe_world *w, const dbs_value *image)
{
	dbs_buf key = DBS_BUF_INIT;
	if (probe_value_text(&key, &image[0]) != 0) {
		dbs_buf_free(&key);
		return NULL;
	}
	uint64_t id = strtoull(key.data, NULL, 10);
	dbs_buf_free(&key);
	if (id >= w->nrows) {
		size_t n = w->nrows ? w->nrows : 64;
		while (n <= id)
			n *= 2;
		probe_row *grown = realloc(w->rows, n * sizeof *grown);
		if (!grown)
			return NULL;
		memset(grown + w->nrows, 0, (n - w->nrows) * sizeof *grown);
		w->rows = grown;
		w->nrows = n;
	}
	return &w->rows[id];
}

static int set_cells(probe_row *r, const dbs_value *image, uint32_t n)
{
	for (uint32_t c = 0; c < n && c < PROBE_WIDE_COLUMNS; c++) {
		if (image[c].kind == DBS_VALUE_UNCHANGED)
			continue;
		dbs_buf t = DBS_BUF_INIT;
		int null = probe_value_text(&t, &image[c]);
		if (null < 0) {
			dbs_buf_free(&t);
			return -1;
		}
		free(r->cells[c]);
		r->cells[c] = NULL;
		if (!null && !(r->cells[c] = strdup(t.data ? t.data : ""))) {
			dbs_buf_free(&t);
			return -1;
		}
		dbs_buf_free(&t);
	}
	return 0;
}

/* Apply one event to the world's table, checking what the contract says
 * of it. Called with the lock held. */
static int apply_event(probe_target *t, const dbs_event *ev)
{
	probe_world *w = t->world;
	uint32_t n = ev->table->ncolumns;
	/* A schema change (target ops 7): no images, what changed listed.
	 * The probe's table is rows by id; its columns follow the change. */
	if (ev->op == DBS_OP_SCHEMA) {
		if (ev->before || ev->after || !ev->schema || !ev->schema->nchanges)
			violation(w, "schema change without its changes, or with a row image");
		w->schema_changes++;
		w->ncolumns = n;
		return 0;
	}
	w->ncolumns = n;
	const dbs_value *key = ev->op == DBS_OP_INSERT ? ev->after
	                       : ev->before            ? ev->before
	                                               : ev->after;
	if (!key || (ev->op != DBS_OP_DELETE && !ev->after)) {
		violation(w, "event %s without the images its operation needs",
		          ev->op == DBS_OP_DELETE ? "delete" : "insert/update");
		return 0;
	}
	probe_row *r = row_of(w, key);
	if (!r)
		return DBS_ENOMEM;
	if (ev->op == DBS_OP_INSERT && r->present)
		violation(w, "insert of a row that exists");
	if (ev->op != DBS_OP_INSERT && !r->present)
		violation(w, "%s of a row that does not exist",
		          ev->op == DBS_OP_UPDATE ? "update" : "delete");
	if (ev->op == DBS_OP_DELETE) {
		for (int c = 0; c < PROBE_WIDE_COLUMNS; c++) {
			free(r->cells[c]);
			r->cells[c] = NULL;
		}
		r->present = 0;
		return 0;
	}
	if (ev->op == DBS_OP_UPDATE && ev->before) {
		/* A key that changes moves the row. */
		probe_row *to = row_of(w, ev->after);
		r = row_of(w, key); /* row_of may have moved the array */
		if (!to || !r)
			return DBS_ENOMEM;
		if (to != r) {
			for (int c = 0; c < PROBE_WIDE_COLUMNS; c++) {
				to->cells[c] = r->cells[c];
				r->cells[c] = NULL;
			}
			r->present = 0;
			r = to;
		}
	}
	r->present = 1;
	return set_cells(r, ev->after, n) ? DBS_ENOMEM : 0;
}

static int probe_target_apply(dbs_target *tgt, const dbs_batch *batch, char *err, size_t errlen)
{
	probe_target *t = (probe_target *)tgt;
	probe_world *w = t->world;
	uint32_t n = dbs_batch_count(batch);
	int rc = 0;
	pthread_mutex_lock(&w->lock);
	w->batches++;
	if (w->max_batch && n > w->max_batch)
		violation(w, "a batch of %" PRIu32 " events (dataBundleSize %" PRIu32 ")", n,
		          w->max_batch);
	for (uint32_t i = 0; i < n && !rc; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		char at[96];
		dbs_position_text(at, sizeof at, batch, &ev->pos);
		/* Commit order: every event after the one before it. */
		if (t->has_last && dbs_position_cmp(&ev->pos, &t->last) <= 0)
			violation(w, "event at %s delivered after a later one", at);
		t->last = ev->pos;
		t->has_last = 1;
		if (dbs_position_cmp(&ev->pos, &w->checkpoint) <= 0) {
			/* Covered by the checkpoint: a source may deliver it again
			 * when it resumes, never after something new. */
			if (t->applied_here)
				violation(w, "event at %s delivered again after newer ones", at);
			w->skipped++;
			continue;
		}
		if (ev->op == DBS_OP_SCHEMA && n != 1)
			violation(w, "a schema change at %s shares its batch with %" PRIu32
			          " other events", at, n - 1);
		/* A transaction ends with an event that says so. */
		if (t->txn && ev->pos.txn != t->txn && !t->txn_ended)
			violation(w, "transaction before %s ended without txn_end", at);
		t->txn = ev->pos.txn;
		t->txn_ended = ev->pos.txn_end != 0;
		if (w->keep_lines && probe_event_line(&w->lines, ev))
			rc = DBS_ENOMEM;
		if (!rc)
			rc = apply_event(t, ev);
		if (!rc) {
			w->applied++;
			t->applied_here++;
			w->checkpoint = ev->pos;
		}
	}
	pthread_mutex_unlock(&w->lock);
	if (rc)
		snprintf(err, errlen, "probe target: out of memory");
	return rc;
}

static void probe_target_close(dbs_target *tgt)
{
	free(tgt);
}

/* A stream with no checkpoint yet starts where the source says. */
static int probe_target_keep_checkpoint(dbs_target *tgt, const dbs_position *pos,
                                        dbs_dialect dialect, char *err, size_t errlen)
{
	probe_target *t = (probe_target *)tgt;
	(void)dialect;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&t->world->lock);
	t->world->checkpoint = *pos;
	pthread_mutex_unlock(&t->world->lock);
	return 0;
}

const dbs_target_ops probe_target_ops = {
    .version = DBS_TARGET_OPS_VERSION,
    .name = "probe",
    .open = probe_target_open,
    .apply = probe_target_apply,
    .close = probe_target_close,
    .flush = NULL,
    .keep_checkpoint = probe_target_keep_checkpoint,
};

int probe_register(dbs_registry *registry, probe_world *world)
{
	int rc = dbs_registry_add_source_data(registry, &probe_source_ops, world);
	return rc ? rc : dbs_registry_add_target_data(registry, &probe_target_ops, world);
}
