/* source.filter.tables split and matched (filter.h). */
#include <stdlib.h>
#include <string.h>

#include "sql/filter.h"

int dbs__sql_filter_init(dbs_sql_filter *f, const dbs_source_config *config,
                         const char *default_schema)
{
	memset(f, 0, sizeof *f);
	if (config->ntables && !(f->entries = calloc(config->ntables, sizeof *f->entries)))
		return DBS_ENOMEM;
	for (uint32_t i = 0; i < config->ntables; i++) {
		const char *n = config->tables[i].name ? config->tables[i].name : "";
		const char *dot = strchr(n, '.');
		dbs_sql_filter_entry *e = &f->entries[f->n++];
		e->schema = dot ? strndup(n, (size_t)(dot - n)) : strdup(default_schema);
		e->name = strdup(dot ? dot + 1 : n);
		e->operations = config->tables[i].operations;
		if (!e->schema || !e->name)
			return DBS_ENOMEM;
	}
	return 0;
}

void dbs__sql_filter_free(dbs_sql_filter *f)
{
	for (uint32_t i = 0; i < f->n; i++) {
		free(f->entries[i].schema);
		free(f->entries[i].name);
	}
	free(f->entries);
	memset(f, 0, sizeof *f);
}

unsigned dbs__sql_filter_ops(const dbs_sql_filter *f, const char *schema, size_t schema_len,
                             const char *name, size_t name_len)
{
	for (uint32_t i = 0; i < f->n; i++) {
		const dbs_sql_filter_entry *e = &f->entries[i];
		if (strlen(e->schema) == schema_len && memcmp(e->schema, schema, schema_len) == 0 &&
		    strlen(e->name) == name_len && memcmp(e->name, name, name_len) == 0)
			return e->operations;
	}
	return 0;
}
