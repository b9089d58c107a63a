/*
 * Plugins by name. Registration checks what the core relies on (a known
 * version, a name, every required method, well-formed option rows) so a
 * broken plugin is refused at registration rather than crashing a stream
 * later.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

struct dbs_registry {
	dbs_plugin *kinds[3];
	size_t n[3], cap[3];
};

static const char *const kind_names[3] = {"source", "hub", "target"};

/* Rows the config code can rely on: a key, a known kind, the value inside
 * the settings struct, tables with item rows. */
static int check_options(const char *kind, const char *name, const dbs_option *rows,
                         uint32_t n, size_t size)
{
	for (uint32_t i = 0; i < n; i++) {
		const dbs_option *o = &rows[i];
		size_t width = o->kind == DBS_OPTION_U64      ? sizeof(uint64_t)
		               : o->kind == DBS_OPTION_U32    ? sizeof(uint32_t)
		               : o->kind == DBS_OPTION_BOOL   ? sizeof(int)
		               : o->kind == DBS_OPTION_TABLES ? sizeof(void *)
		                                              : sizeof(const char *);
		const char *bad = NULL;
		if (!o->key || !o->key[0])
			bad = "a row has no key";
		else if (o->kind < DBS_OPTION_STRING || o->kind > DBS_OPTION_TABLES)
			bad = "unknown kind";
		else if (o->offset > size || size - o->offset < width)
			bad = "value outside settings_size";
		else if (o->kind == DBS_OPTION_ENUM && (!o->choices || !o->choices[0]))
			bad = "an enum without choices";
		else if (o->kind == DBS_OPTION_TABLES &&
		         (!o->item || !o->nitem || o->item_size < sizeof(const char *) ||
		          o->count_offset > size || size - o->count_offset < sizeof(uint32_t) ||
		          check_options(kind, name, o->item, o->nitem, o->item_size)))
			bad = "a table list without item rows";
		if (bad)
			return dbs__error_set(DBS_EINVAL, "%s plugin \"%s\": option %s: %s", kind, name,
			                      o->key ? o->key : "(null)", bad);
	}
	return 0;
}

static int add(dbs_registry *r, dbs_plugin_kind kind, const void *ops, const char *name,
               const dbs_plugin_info *info, void *data)
{
	if (!name || !name[0])
		return dbs__error_set(DBS_EINVAL, "%s plugin has no name", kind_names[kind]);
	if (dbs__registry_find(r, kind, name))
		return dbs__error_set(DBS_EEXISTS, "%s plugin \"%s\" is already registered",
		                      kind_names[kind], name);
	if (info->noptions && !info->options)
		return dbs__error_set(DBS_EINVAL, "%s plugin \"%s\": noptions without options",
		                      kind_names[kind], name);
	int rc = check_options(kind_names[kind], name, info->options, info->noptions,
	                       info->settings_size);
	if (rc)
		return rc;
	if (dbs_array_reserve((void **)&r->kinds[kind], &r->cap[kind], r->n[kind] + 1,
	                      sizeof *r->kinds[kind]))
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	r->kinds[kind][r->n[kind]++] = (dbs_plugin){ops, name, data, *info};
	return 0;
}

DBS_API int dbs_registry_add_source_data(dbs_registry *r, const dbs_source_ops *ops, void *data)
{
	if (!r || !ops)
		return dbs__error_set(DBS_EINVAL, "dbs_registry_add_source: NULL argument");
	const char *name = ops->name ? ops->name : "";
	if (ops->version < 1 || ops->version > DBS_SOURCE_OPS_VERSION)
		return dbs__error_set(DBS_EINVAL, "source plugin \"%s\": unsupported version %u",
		                      name, ops->version);
	if (!ops->open || !ops->run || !ops->ack || !ops->close)
		return dbs__error_set(DBS_EINVAL,
		                      "source plugin \"%s\": open, run, ack and close are required",
		                      name);
	const dbs_snapshot_ops *snap = ops->version >= 4 ? ops->snapshot : NULL;
	if (snap && (snap->version < 1 || snap->version > DBS_SNAPSHOT_OPS_VERSION))
		return dbs__error_set(DBS_EINVAL,
		                      "source plugin \"%s\": unsupported snapshot version %u", name,
		                      snap->version);
	if (snap && (!snap->open || !snap->tables || !snap->plan || !snap->reader_open ||
	             !snap->read || !snap->reader_close || !snap->close))
		return dbs__error_set(DBS_EINVAL,
		                      "source plugin \"%s\": a snapshot needs every method", name);
	dbs_plugin_info info = {0};
	if (ops->version >= 3)
		info = (dbs_plugin_info){ops->options, ops->noptions, ops->settings_size,
		                         ops->default_schema};
	return add(r, DBS_PLUGIN_SOURCE, ops, ops->name, &info, data);
}

DBS_API int dbs_registry_add_hub_data(dbs_registry *r, const dbs_hub_ops *ops, void *data)
{
	if (!r || !ops)
		return dbs__error_set(DBS_EINVAL, "dbs_registry_add_hub: NULL argument");
	const char *name = ops->name ? ops->name : "";
	/* Version 1 hubs lack only the optional `acked`: they run part ALL. */
	if (ops->version < 1 || ops->version > DBS_HUB_OPS_VERSION)
		return dbs__error_set(DBS_EINVAL, "hub plugin \"%s\": unsupported version %u", name,
		                      ops->version);
	if (!ops->open || !ops->publish || !ops->close_publish || !ops->fetch || !ops->ack ||
	    !ops->close)
		return dbs__error_set(DBS_EINVAL,
		                      "hub plugin \"%s\": open, publish, close_publish, fetch, ack "
		                      "and close are required",
		                      name);
	dbs_plugin_info info = {0};
	if (ops->version >= 5)
		info = (dbs_plugin_info){ops->options, ops->noptions, ops->settings_size, NULL};
	return add(r, DBS_PLUGIN_HUB, ops, ops->name, &info, data);
}

DBS_API int dbs_registry_add_target_data(dbs_registry *r, const dbs_target_ops *ops, void *data)
{
	if (!r || !ops)
		return dbs__error_set(DBS_EINVAL, "dbs_registry_add_target: NULL argument");
	const char *name = ops->name ? ops->name : "";
	if (ops->version < 1 || ops->version > DBS_TARGET_OPS_VERSION)
		return dbs__error_set(DBS_EINVAL, "target plugin \"%s\": unsupported version %u",
		                      name, ops->version);
	if (!ops->open || !ops->apply || !ops->close)
		return dbs__error_set(DBS_EINVAL,
		                      "target plugin \"%s\": open, apply and close are required",
		                      name);
	const dbs_load_ops *load = ops->version >= 5 ? ops->load : NULL;
	if (load && (load->version < 1 || load->version > DBS_LOAD_OPS_VERSION))
		return dbs__error_set(DBS_EINVAL, "target plugin \"%s\": unsupported load version %u",
		                      name, load->version);
	if (load && (!load->records || !load->check || !load->prepare || !load->writer_open ||
	             !load->chunk_begin || !load->chunk_rows || !load->chunk_commit ||
	             !load->writer_close || !load->finish || !load->store))
		return dbs__error_set(DBS_EINVAL, "target plugin \"%s\": a load needs every method",
		                      name);
	dbs_plugin_info info = {0};
	if (ops->version >= 4)
		info = (dbs_plugin_info){ops->options, ops->noptions, ops->settings_size,
		                         ops->default_schema};
	return add(r, DBS_PLUGIN_TARGET, ops, ops->name, &info, data);
}

DBS_API int dbs_registry_add_source(dbs_registry *r, const dbs_source_ops *ops)
{
	return dbs_registry_add_source_data(r, ops, NULL);
}

DBS_API int dbs_registry_add_hub(dbs_registry *r, const dbs_hub_ops *ops)
{
	return dbs_registry_add_hub_data(r, ops, NULL);
}

DBS_API int dbs_registry_add_target(dbs_registry *r, const dbs_target_ops *ops)
{
	return dbs_registry_add_target_data(r, ops, NULL);
}

const dbs_plugin *dbs__registry_find(const dbs_registry *r, dbs_plugin_kind kind,
                                     const char *name)
{
	if (!r || !name || (unsigned)kind > DBS_PLUGIN_TARGET)
		return NULL;
	for (size_t i = 0; i < r->n[kind]; i++)
		if (strcmp(r->kinds[kind][i].name, name) == 0)
			return &r->kinds[kind][i];
	return NULL;
}

const dbs_plugin *dbs__registry_at(const dbs_registry *r, dbs_plugin_kind kind, size_t i)
{
	if (!r || (unsigned)kind > DBS_PLUGIN_TARGET || i >= r->n[kind])
		return NULL;
	return &r->kinds[kind][i];
}

DBS_API const dbs_source_ops *dbs_registry_source(const dbs_registry *r, const char *name)
{
	const dbs_plugin *p = dbs__registry_find(r, DBS_PLUGIN_SOURCE, name);
	return p ? p->ops : NULL;
}

DBS_API const dbs_hub_ops *dbs_registry_hub(const dbs_registry *r, const char *name)
{
	const dbs_plugin *p = dbs__registry_find(r, DBS_PLUGIN_HUB, name);
	return p ? p->ops : NULL;
}

DBS_API const dbs_target_ops *dbs_registry_target(const dbs_registry *r, const char *name)
{
	const dbs_plugin *p = dbs__registry_find(r, DBS_PLUGIN_TARGET, name);
	return p ? p->ops : NULL;
}

DBS_API int dbs_registry_new(dbs_registry **out, int with_builtins)
{
	if (!out)
		return dbs__error_set(DBS_EINVAL, "dbs_registry_new: out is NULL");
	*out = NULL;
	dbs_registry *r = calloc(1, sizeof *r);
	if (!r)
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	if (with_builtins) {
		int rc = dbs__builtins_register(r);
		if (rc) {
			dbs_registry_free(r);
			return rc;
		}
	}
	*out = r;
	return 0;
}

DBS_API void dbs_registry_free(dbs_registry *r)
{
	if (!r)
		return;
	for (int k = 0; k < 3; k++)
		free(r->kinds[k]);
	free(r);
}

/* The built-in registry is filled once and never changes afterwards. Its
 * entries are static, so that filling it allocates nothing and cannot
 * fail for lack of memory (it would stay empty for the process). */
#define BUILTINS_MAX 8
static dbs_plugin builtin_entries[3][BUILTINS_MAX];
static dbs_registry builtin;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static int builtin_rc;

static void builtin_init(void)
{
	for (int k = 0; k < 3; k++) {
		builtin.kinds[k] = builtin_entries[k];
		builtin.cap[k] = BUILTINS_MAX;
	}
	builtin_rc = dbs__builtins_register(&builtin);
}

const dbs_registry *dbs__builtin_registry(void)
{
	pthread_once(&builtin_once, builtin_init);
	return builtin_rc == 0 ? &builtin : NULL;
}
