/*
 * The core's table of options: one row per key every stream has, read
 * as a table (section, key, kind, range, choices, default). What only
 * one engine understands is not here: the plugin the section's `type`
 * names contributes those rows (dbs_option). The same rows generate the
 * configuration reference (docs/configuration.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/options.h"

static const char *const modes[] = {"cdc", "convert", "load", NULL};
static const char *const op_names[] = {"insert", "update", "delete", NULL};

/* Largest integer a JSON number (a double) carries exactly. */
#define JSON_INT_MAX 9007199254740992.0
/* elapsedTime in ns must fit int64_t. */
#define ELAPSED_MAX 9223372036.0
/* giveUpAfter in ms must fit int64_t: ten years is plenty anyway. */
#define GIVE_UP_MAX 315360000.0

static int check_id(struct parse *p, const cJSON *v)
{
	char buf[96];
	if (v->valuestring[0] == '\0' || dbs_ksuid_check(v->valuestring) == 0)
		return 0;
	return dbs__config_fail(p, "\"%s\" is not a stream id (27 characters 0-9, A-Z, a-z)",
	                        dbs__config_shown(v->valuestring, buf, sizeof buf));
}

/* A custom SELECT of one table: the first word says SELECT (the source
 * checks the rest against its table when the stream opens). */
static int check_query(struct parse *p, const cJSON *v)
{
	const char *q = v->valuestring;
	char buf[96];
	for (;;) {
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == '(')
			q++;
		if (q[0] == '-' && q[1] == '-') {
			q = strchr(q, '\n');
			if (!q)
				break;
		} else if (q[0] == '/' && q[1] == '*') {
			const char *end = strstr(q + 2, "*/");
			q = end ? end + 2 : q + strlen(q);
		} else {
			break;
		}
	}
	if (q && strncasecmp(q, "select", 6) == 0 &&
	    (q[6] == '\0' || q[6] == ' ' || q[6] == '\t' || q[6] == '\n' || q[6] == '\r' ||
	     q[6] == '*' || q[6] == '('))
		return 0;
	return dbs__config_fail(p, "\"%s\" is not a SELECT (a custom query reads the rows of its "
	                           "table: SELECT ... FROM that table)",
	                        dbs__config_shown(v->valuestring, buf, sizeof buf));
}

#define SRC(f) offsetof(dbs_source_config, f)
#define TGT(f) offsetof(dbs_target_config, f)
#define HUB(f) offsetof(dbs_hub_config, f)
#define LIM(f) offsetof(dbs_limits, f)
#define REC(f) offsetof(dbs_reconnect, f)
#define FLT(f) offsetof(dbs_table_filter, f)
#define LOAD(f) offsetof(dbs_load_settings, f)

/* clang-format off */
const struct option dbs__core_options[] = {
	/* top level */
	{.section = SEC_ROOT, .key = "id", .kind = K_STRING, .flags = F_NOSTORE, .check = check_id,
	 .doc = "stream id as GET /streams shows it; accepted so that output can be posted "
	        "back (the new stream gets its own id)"},
	{.section = SEC_ROOT, .key = "name", .kind = K_STRING, .flags = F_NOSTORE,
	 .doc = "free-form label, kept in the configuration"},
	{.section = SEC_ROOT, .key = "source", .kind = K_OBJECT, .flags = F_REQUIRED,
	 .child = SEC_SOURCE, .doc = "where changes are read"},
	{.section = SEC_ROOT, .key = "target", .alias = "destination", .kind = K_OBJECT,
	 .flags = F_REQUIRED, .child = SEC_TARGET, .doc = "where changes are applied"},
	{.section = SEC_ROOT, .key = "limits", .kind = K_OBJECT, .child = SEC_LIMITS,
	 .doc = "when the stream stops by itself"},
	{.section = SEC_ROOT, .key = "hub", .kind = K_OBJECT, .child = SEC_HUB,
	 .doc = "how events travel from source to target"},
	{.section = SEC_ROOT, .key = "reconnect", .kind = K_OBJECT, .child = SEC_RECONNECT,
	 .doc = "how lost connections to the databases and the hub are retried"},
	{.section = SEC_ROOT, .key = "load", .kind = K_OBJECT, .child = SEC_LOAD,
	 .doc = "how an initial load (mode convert, initialLoad) copies the tables"},
	{.section = SEC_ROOT, .key = "stallAfter", .kind = K_U64, .max = GIVE_UP_MAX,
	 .def_num = DBS_STALL_AFTER_DEFAULT_S, .offset = offsetof(dbs_watch, stall_after_s),
	 .doc = "seconds the source may hold log not yet confirmed (or the target a batch "
	        "not yet committed) while nothing is committed, before the stream reports "
	        "itself stalled (stat, metric, WARN line); 0 = never"},

	/* source */
	{.section = SEC_SOURCE, .key = "type", .kind = K_TYPE, .flags = F_REQUIRED | F_NONEMPTY,
	 .plugin = DBS_PLUGIN_SOURCE, .what = "type", .offset = SRC(type),
	 .doc = "source plugin: a source of the registry (built in: mysql, postgresql)"},
	{.section = SEC_SOURCE, .key = "mode", .kind = K_ENUM, .flags = F_NONEMPTY,
	 .choices = modes, .what = "mode", .def = "cdc", .offset = SRC(mode),
	 .doc = "cdc follows the binlog/WAL; convert (or load) copies the tables and ends "
	        "(docs/initial-load.md)"},
	{.section = SEC_SOURCE, .key = "connection", .kind = K_STRING,
	 .flags = F_REQUIRED | F_NONEMPTY | F_SECRET, .offset = SRC(connection),
	 .doc = "go-sql-driver DSN, or libpq URI or key=value string"},
	{.section = SEC_SOURCE, .key = "initialLoad", .kind = K_BOOL, .offset = SRC(initial_load),
	 .doc = "mode cdc: copy the existing rows first, then stream from where the copy "
	        "stood (docs/initial-load.md)"},
	{.section = SEC_SOURCE, .key = "dataBundleSize", .kind = K_U32, .min = 10, .max = 1000,
	 .def_num = 100, .offset = SRC(data_bundle_size), .doc = "events per hub message"},
	{.section = SEC_SOURCE, .key = "reportingInterval", .kind = K_U32, .max = UINT32_MAX,
	 .offset = SRC(reporting_interval), .doc = "seconds between progress lines, 0 = quiet"},
	{.section = SEC_SOURCE, .key = "settings", .kind = K_OBJECT, .object = "settings",
	 .plugin = DBS_PLUGIN_SOURCE, .doc = "engine-specific settings (the source plugin's rows)"},
	{.section = SEC_SOURCE, .key = "filter", .kind = K_OBJECT, .child = SEC_SOURCE_FILTER,
	 .doc = "which tables and operations to capture"},

	{.section = SEC_SOURCE_FILTER, .key = "tables", .kind = K_TABLES, .flags = F_UNIQUE,
	 .child = SEC_FILTER_TABLE, .plugin = DBS_PLUGIN_SOURCE, .offset = SRC(tables),
	 .count_offset = SRC(ntables), .item_size = sizeof(dbs_table_filter),
	 .doc = "tables to capture; empty = every table"},

	{.section = SEC_FILTER_TABLE, .key = "name", .kind = K_STRING,
	 .flags = F_REQUIRED | F_NONEMPTY, .offset = FLT(name),
	 .doc = "table, schema.table (PostgreSQL, default public) or db.table"},
	{.section = SEC_FILTER_TABLE, .key = "operations", .kind = K_OPS, .choices = op_names,
	 .what = "operation", .offset = FLT(operations),
	 .doc = "insert, update, delete; absent = all three"},
	{.section = SEC_FILTER_TABLE, .key = "query", .kind = K_STRING,
	 .flags = F_NOSTORE | F_NONEMPTY, .check = check_query,
	 .doc = "mode convert: the SELECT of this table that gives the rows to copy"},

	/* target */
	{.section = SEC_TARGET, .key = "type", .kind = K_TYPE, .flags = F_REQUIRED | F_NONEMPTY,
	 .plugin = DBS_PLUGIN_TARGET, .what = "type", .offset = TGT(type),
	 .doc = "target plugin: a target of the registry (built in: mysql, postgresql)"},
	{.section = SEC_TARGET, .key = "connection", .kind = K_STRING,
	 .flags = F_REQUIRED | F_NONEMPTY | F_SECRET, .offset = TGT(connection),
	 .doc = "go-sql-driver DSN, or libpq URI or key=value string"},
	{.section = SEC_TARGET, .key = "settings", .kind = K_OBJECT, .object = "settings",
	 .plugin = DBS_PLUGIN_TARGET, .doc = "engine-specific settings (the target plugin's rows)"},
	{.section = SEC_TARGET, .key = "options", .kind = K_OBJECT, .object = "options",
	 .plugin = DBS_PLUGIN_TARGET,
	 .doc = "how the target writes: structure creation, zero dates, rejected rows (the "
	        "target plugin's rows)"},
	{.section = SEC_TARGET, .key = "reportingInterval", .kind = K_U32, .max = UINT32_MAX,
	 .offset = TGT(reporting_interval), .doc = "seconds between progress lines, 0 = quiet"},

	/* limits */
	{.section = SEC_LIMITS, .key = "numberOfEvents", .alias = "numberOfevents", .kind = K_U64,
	 .max = JSON_INT_MAX, .offset = LIM(number_of_events),
	 .doc = "stop after this many events, 0 = unlimited"},
	{.section = SEC_LIMITS, .key = "elapsedTime", .kind = K_U64, .max = ELAPSED_MAX,
	 .offset = LIM(elapsed_time_s), .doc = "stop after this many seconds, 0 = unlimited"},

	/* reconnect */
	{.section = SEC_RECONNECT, .key = "giveUpAfter", .kind = K_U64, .max = GIVE_UP_MAX,
	 .def_num = DBS_RECONNECT_GIVE_UP_MS / 1000, .offset = REC(give_up_after_s),
	 .doc = "seconds a lost source, target or hub connection is retried (with backoff) "
	        "before the stream fails with the reason; 0 = retry forever"},

	/* load */
	{.section = SEC_LOAD, .key = "workers", .kind = K_U32, .min = 1, .max = 64,
	 .def_num = DBS_LOAD_WORKERS_DEFAULT, .offset = LOAD(workers),
	 .doc = "chunks copied at once, each with a source and a target session of its own"},
	{.section = SEC_LOAD, .key = "chunkRows", .kind = K_U64, .min = 1, .max = JSON_INT_MAX,
	 .def_num = DBS_LOAD_CHUNK_ROWS_DEFAULT, .offset = LOAD(chunk_rows),
	 .doc = "rows per chunk: the unit committed at the target (with its progress row) and "
	        "resumed after an interruption"},

	/* hub: the hub plugin's rows sit beside these */
	{.section = SEC_HUB, .key = "type", .kind = K_TYPE, .flags = F_NONEMPTY,
	 .plugin = DBS_PLUGIN_HUB, .what = "hub type", .def = "memory", .offset = HUB(type),
	 .doc = "hub plugin: a hub of the registry (built in: memory, in process; nats, "
	        "JetStream)"},
	{.section = SEC_HUB, .key = "capacity", .kind = K_U32, .min = 1, .max = 65536,
	 .def_num = 64, .offset = HUB(capacity),
	 .doc = "batches in flight before the publisher waits"},
	{.section = SEC_HUB, .key = "partitions", .kind = K_U32, .min = 1, .max = 64,
	 .def_num = 1, .offset = HUB(partitions),
	 .doc = "writers sharing the stream, each applying its share of the rows (a hub that "
	        "runs streams in parts: nats)"},
};
/* clang-format on */

const size_t dbs__core_noptions = sizeof dbs__core_options / sizeof dbs__core_options[0];

const char *dbs__section_key(enum section sec)
{
	for (size_t i = 0; i < dbs__core_noptions; i++)
		if (dbs__core_options[i].section == SEC_ROOT && dbs__core_options[i].kind == K_OBJECT &&
		    dbs__core_options[i].child == sec)
			return dbs__core_options[i].key;
	return NULL;
}

static enum kind kind_of(dbs_option_kind k)
{
	switch (k) {
	case DBS_OPTION_ENUM: return K_ENUM;
	case DBS_OPTION_BOOL: return K_BOOL;
	case DBS_OPTION_U32: return K_U32;
	case DBS_OPTION_U64: return K_U64;
	case DBS_OPTION_TABLES: return K_TABLES;
	case DBS_OPTION_STRING:
	default: return K_STRING;
	}
}

struct option *dbs__options_from_plugin(const dbs_option *rows, uint32_t n,
                                        void *(*alloc)(void *ctx, size_t size), void *ctx)
{
	struct option *out = alloc(ctx, (n ? n : 1) * sizeof *out);
	for (uint32_t i = 0; out && i < n; i++) {
		const dbs_option *r = &rows[i];
		struct option *o = &out[i];
		memset(o, 0, sizeof *o);
		o->section = SEC_PLUGIN;
		o->key = r->key;
		o->object = r->object;
		o->kind = kind_of(r->kind);
		o->flags = ((r->flags & DBS_OPTION_REQUIRED) ? F_REQUIRED : 0) |
		           ((r->flags & DBS_OPTION_NONEMPTY) ? F_NONEMPTY : 0) |
		           ((r->flags & DBS_OPTION_CONNECTION) ? F_SECRET : 0) |
		           ((r->flags & DBS_OPTION_SECRET) ? F_HIDDEN : 0) |
		           ((r->flags & DBS_OPTION_UNIQUE_NAMES) ? F_UNIQUE : 0);
		o->min = r->min;
		o->max = r->max;
		o->choices = r->choices;
		o->what = r->what ? r->what : r->key;
		o->def = r->def;
		o->def_num = r->def_num;
		o->offset = r->offset;
		o->count_offset = r->count_offset;
		o->item_size = r->item_size;
		o->plugin_check = r->check;
		o->doc = r->doc;
		if (o->kind == K_TABLES) {
			o->items = dbs__options_from_plugin(r->item, r->nitem, alloc, ctx);
			o->nitems = r->nitem;
			if (!o->items)
				return NULL;
		}
	}
	return out;
}

/* ------------------------------------------------------------------ */
/* The configuration reference                                         */
/* ------------------------------------------------------------------ */

static const char *type_name(const struct option *o)
{
	switch (o->kind) {
	case K_OBJECT: return "object";
	case K_TABLES: return "array of objects";
	case K_ENUM: return "string, one of the list";
	case K_BOOL: return "boolean";
	case K_U32:
	case K_U64: return "integer";
	case K_OPS: return "array of strings";
	case K_TYPE: return "string, a plugin name";
	case K_STRING:
	default: return "string";
	}
}

/* "insert, update or delete", "1 to 64", "default 100". */
static int doc_row(dbs_buf *out, const char *path, const struct option *o)
{
	char extra[256] = "";
	size_t n = 0;
	if (o->choices)
		for (size_t k = 0; o->choices[k]; k++)
			n += (size_t)snprintf(extra + n, n < sizeof extra ? sizeof extra - n : 0,
			                      "%s`%s`", k ? ", " : "", o->choices[k]);
	if ((o->kind == K_U32 || o->kind == K_U64) && n < sizeof extra)
		n += (size_t)snprintf(extra + n, sizeof extra - n, "%.17g to %.17g", o->min, o->max);
	if (n < sizeof extra && o->def)
		n += (size_t)snprintf(extra + n, sizeof extra - n, "%sdefault `%s`", n ? "; " : "",
		                      o->def);
	else if (n < sizeof extra && (o->kind == K_U32 || o->kind == K_U64) && o->def_num)
		n += (size_t)snprintf(extra + n, sizeof extra - n, "; default %.15g", o->def_num);
	if (n < sizeof extra && (o->flags & F_REQUIRED))
		n += (size_t)snprintf(extra + n, sizeof extra - n, "%srequired", n ? "; " : "");
	if (n < sizeof extra && (o->flags & F_SECRET))
		snprintf(extra + n, sizeof extra - n, "%spassword masked when shown", n ? "; " : "");
	else if (n < sizeof extra && (o->flags & F_HIDDEN))
		snprintf(extra + n, sizeof extra - n, "%shidden when shown", n ? "; " : "");
	return dbs_buf_appendf(out, "| `%s%s` | %s | %s | %s |\n", path, o->key, type_name(o),
	                       extra, o->doc ? o->doc : "");
}

static int doc_table_head(dbs_buf *out)
{
	return dbs_buf_append_str(out, "| key | type | values | meaning |\n|---|---|---|---|\n");
}

/* The rows of core section `sec` under `path`, nested sections after. */
static int doc_section(dbs_buf *out, enum section sec, const char *path)
{
	int rc = 0;
	char sub[128];
	for (size_t i = 0; i < dbs__core_noptions && !rc; i++)
		if (dbs__core_options[i].section == sec)
			rc = doc_row(out, path, &dbs__core_options[i]);
	for (size_t i = 0; i < dbs__core_noptions && !rc; i++) {
		const struct option *o = &dbs__core_options[i];
		if (o->section != sec || o->object || (o->kind != K_OBJECT && o->kind != K_TABLES) ||
		    (sec == SEC_ROOT))
			continue;
		snprintf(sub, sizeof sub, "%s%s%s.", path, o->key, o->kind == K_TABLES ? "[]" : "");
		rc = doc_section(out, o->child, sub);
	}
	return rc;
}

static int doc_plugin_rows(dbs_buf *out, const struct option *rows, uint32_t n,
                           const char *section)
{
	int rc = 0;
	char path[160];
	for (uint32_t i = 0; i < n && !rc; i++) {
		const struct option *o = &rows[i];
		snprintf(path, sizeof path, "%s.%s%s", section, o->object ? o->object : "",
		         o->object ? "." : "");
		rc = doc_row(out, path, o);
		for (uint32_t k = 0; !rc && o->kind == K_TABLES && k < o->nitems; k++) {
			char item_path[200];
			snprintf(item_path, sizeof item_path, "%s%s[].", path, o->key);
			rc = doc_row(out, item_path, &o->items[k]);
		}
	}
	return rc;
}

static void *doc_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return calloc(1, size);
}

static void doc_free(struct option *rows, uint32_t n)
{
	for (uint32_t i = 0; rows && i < n; i++)
		if (rows[i].kind == K_TABLES)
			doc_free((struct option *)rows[i].items, rows[i].nitems);
	free(rows);
}

int dbs__config_doc(dbs_buf *out, const dbs_registry *registry)
{
	static const struct {
		enum section sec;
		dbs_plugin_kind kind;
		const char *title;
	} sections[] = {
	    {SEC_ROOT, 0, "Top level"},
	    {SEC_SOURCE, DBS_PLUGIN_SOURCE, "source"},
	    {SEC_TARGET, DBS_PLUGIN_TARGET, "target (or destination)"},
	    {SEC_HUB, DBS_PLUGIN_HUB, "hub"},
	    {SEC_LIMITS, 0, "limits"},
	    {SEC_RECONNECT, 0, "reconnect"},
	    {SEC_LOAD, 0, "load"},
	};
	int rc = 0;
	char path[64];
	for (size_t s = 0; s < sizeof sections / sizeof sections[0] && !rc; s++) {
		const char *key = sections[s].sec == SEC_ROOT ? NULL : dbs__section_key(sections[s].sec);
		snprintf(path, sizeof path, "%s%s", key ? key : "", key ? "." : "");
		rc = dbs_buf_appendf(out, "\n### %s\n\n", sections[s].title);
		if (!rc)
			rc = doc_table_head(out);
		if (!rc)
			rc = doc_section(out, sections[s].sec, path);
		if (rc || sections[s].sec == SEC_ROOT || sections[s].sec == SEC_LIMITS ||
		    sections[s].sec == SEC_RECONNECT || sections[s].sec == SEC_LOAD)
			continue;
		for (size_t i = 0; !rc; i++) {
			const dbs_plugin *pl = dbs__registry_at(registry, sections[s].kind, i);
			if (!pl)
				break;
			rc = dbs_buf_appendf(out, "\n%s `%s`:", key, pl->name);
			if (rc)
				break;
			if (!pl->info.noptions) {
				rc = dbs_buf_append_str(out, " no settings of its own.\n");
				continue;
			}
			struct option *rows = dbs__options_from_plugin(pl->info.options, pl->info.noptions,
			                                               doc_alloc, NULL);
			rc = !rows ? DBS_ENOMEM : dbs_buf_append_str(out, "\n\n");
			if (!rc)
				rc = doc_table_head(out);
			if (!rc)
				rc = doc_plugin_rows(out, rows, pl->info.noptions, key);
			doc_free(rows, pl->info.noptions);
		}
	}
	return rc;
}
