/*
 * The plugins built into libdbstreams, listed once. The core knows none
 * of them by name: a stream whose options name no registry gets a
 * registry holding these, registered like any other plugin.
 */
#include "core/core.h"

extern const dbs_source_ops dbs__postgresql_source_ops;
extern const dbs_source_ops dbs__mysql_source_ops;
extern const dbs_hub_ops dbs__memory_hub_ops;
extern const dbs_hub_ops dbs__nats_hub_ops;
extern const dbs_target_ops dbs__postgresql_target_ops;
extern const dbs_target_ops dbs__mysql_target_ops;

int dbs__builtins_register(dbs_registry *r)
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
