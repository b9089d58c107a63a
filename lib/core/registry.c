/*
 * Plugins by name. Registration checks what the core relies on (a known
 * version, a name, every required method) so a broken plugin is refused
 * at registration rather than crashing a stream later.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/core.h"

struct dbs_registry {
	const dbs_source_ops **sources;
	const dbs_hub_ops **hubs;
	const dbs_target_ops **targets;
	size_t nsources, nhubs, ntargets;
};

static int check_name(const char *kind, const char *name)
{
	if (!name || !name[0])
		return dbs__error_set(DBS_EINVAL, "%s plugin has no name", kind);
	return 0;
}

/* Append `item` to a growable array of pointers. */
static int push(const void ***array, size_t *count, const void *item)
{
	const void **grown = realloc((void *)*array, (*count + 1) * sizeof *grown);
	if (!grown)
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	grown[(*count)++] = item;
	*array = grown;
	return 0;
}

DBS_API int dbs_registry_add_source(dbs_registry *r, const dbs_source_ops *ops)
{
	if (!r || !ops)
		return dbs__error_set(DBS_EINVAL, "dbs_registry_add_source: NULL argument");
	int rc = check_name("source", ops->name);
	if (rc)
		return rc;
	if (ops->version < 1 || ops->version > DBS_SOURCE_OPS_VERSION)
		return dbs__error_set(DBS_EINVAL, "source plugin \"%s\": unsupported version %u",
		                      ops->name, ops->version);
	if (!ops->open || !ops->run || !ops->ack || !ops->close)
		return dbs__error_set(DBS_EINVAL,
		                      "source plugin \"%s\": open, run, ack and close are required",
		                      ops->name);
	if (dbs_registry_source(r, ops->name))
		return dbs__error_set(DBS_EEXISTS, "source plugin \"%s\" is already registered",
		                      ops->name);
	return push((const void ***)&r->sources, &r->nsources, ops);
}

DBS_API int dbs_registry_add_hub(dbs_registry *r, const dbs_hub_ops *ops)
{
	if (!r || !ops)
		return dbs__error_set(DBS_EINVAL, "dbs_registry_add_hub: NULL argument");
	int rc = check_name("hub", ops->name);
	if (rc)
		return rc;
	/* Version 1 hubs lack only the optional `acked`: they run part ALL. */
	if (ops->version < 1 || ops->version > DBS_HUB_OPS_VERSION)
		return dbs__error_set(DBS_EINVAL, "hub plugin \"%s\": unsupported version %u",
		                      ops->name, ops->version);
	if (!ops->open || !ops->publish || !ops->close_publish || !ops->fetch || !ops->ack ||
	    !ops->close)
		return dbs__error_set(DBS_EINVAL,
		                      "hub plugin \"%s\": open, publish, close_publish, fetch, ack "
		                      "and close are required",
		                      ops->name);
	if (dbs_registry_hub(r, ops->name))
		return dbs__error_set(DBS_EEXISTS, "hub plugin \"%s\" is already registered",
		                      ops->name);
	return push((const void ***)&r->hubs, &r->nhubs, ops);
}

DBS_API int dbs_registry_add_target(dbs_registry *r, const dbs_target_ops *ops)
{
	if (!r || !ops)
		return dbs__error_set(DBS_EINVAL, "dbs_registry_add_target: NULL argument");
	int rc = check_name("target", ops->name);
	if (rc)
		return rc;
	if (ops->version < 1 || ops->version > DBS_TARGET_OPS_VERSION)
		return dbs__error_set(DBS_EINVAL, "target plugin \"%s\": unsupported version %u",
		                      ops->name, ops->version);
	if (!ops->open || !ops->apply || !ops->close)
		return dbs__error_set(DBS_EINVAL,
		                      "target plugin \"%s\": open, apply and close are required",
		                      ops->name);
	if (dbs_registry_target(r, ops->name))
		return dbs__error_set(DBS_EEXISTS, "target plugin \"%s\" is already registered",
		                      ops->name);
	return push((const void ***)&r->targets, &r->ntargets, ops);
}

#define FIND(array, count, name)                                                   \
	do {                                                                       \
		if (!r || !(name))                                                 \
			return NULL;                                               \
		for (size_t i = 0; i < r->count; i++)                              \
			if (strcmp(r->array[i]->name, (name)) == 0)               \
				return r->array[i];                                \
		return NULL;                                                       \
	} while (0)

DBS_API const dbs_source_ops *dbs_registry_source(const dbs_registry *r, const char *name)
{
	FIND(sources, nsources, name);
}

DBS_API const dbs_hub_ops *dbs_registry_hub(const dbs_registry *r, const char *name)
{
	FIND(hubs, nhubs, name);
}

DBS_API const dbs_target_ops *dbs_registry_target(const dbs_registry *r, const char *name)
{
	FIND(targets, ntargets, name);
}

static int add_builtins(dbs_registry *r)
{
	int rc = 0;
	if (!rc)
		rc = dbs_registry_add_hub(r, &dbs__memory_hub_ops);
	if (!rc)
		rc = dbs_registry_add_hub(r, &dbs__nats_hub_ops);
	if (!rc)
		rc = dbs_registry_add_source(r, &dbs__postgresql_source_ops);
	if (!rc)
		rc = dbs_registry_add_source(r, &dbs__mysql_source_ops);
	if (!rc)
		rc = dbs_registry_add_target(r, &dbs__postgresql_target_ops);
	if (!rc)
		rc = dbs_registry_add_target(r, &dbs__mysql_target_ops);
	return rc;
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
		int rc = add_builtins(r);
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
	free((void *)r->sources);
	free((void *)r->hubs);
	free((void *)r->targets);
	free(r);
}

/* The built-in registry is filled once and never changes afterwards. */
static dbs_registry builtin;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static int builtin_rc;

static void builtin_init(void)
{
	builtin_rc = add_builtins(&builtin);
}

const dbs_registry *dbs__builtin_registry(void)
{
	pthread_once(&builtin_once, builtin_init);
	return builtin_rc == 0 ? &builtin : NULL;
}
