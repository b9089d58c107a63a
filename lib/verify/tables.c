/* The tables a stream carries, named as the source and the target name them. */
#include <stdlib.h>
#include <string.h>

#include "sql/checkpoint.h"
#include "verify/verify.h"

/* ------------------------------------------------------------------ */
/* Which tables                                                        */
/* ------------------------------------------------------------------ */

void dbs__vlist_free(vlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].s_schema);
		free(l->v[i].s_name);
		free(l->v[i].t_schema);
		free(l->v[i].t_name);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* Add source table schema.name with the name the target gives it. */
static int vlist_add(vlist *l, const vconn *tgt, const char *schema, size_t sl, const char *name,
                     size_t nl)
{
	if (dbs_array_reserve((void **)&l->v, &l->cap, l->n + 1,
	                      sizeof *l->v))
		return DBS_ENOMEM;
	vpair *p = &l->v[l->n];
	/* The PostgreSQL target keeps schema.table; the MySQL target puts
	 * every table into the database its connection names. */
	const char *ts = tgt->dialect == DBS_DIALECT_MYSQL ? tgt->dsn.database : NULL;
	p->s_schema = strndup(schema, sl);
	p->s_name = strndup(name, nl);
	p->t_schema = ts ? strdup(ts) : strndup(schema, sl);
	p->t_name = strndup(name, nl);
	if (!p->s_schema || !p->s_name || !p->t_schema || !p->t_name) {
		free(p->s_schema);
		free(p->s_name);
		free(p->t_schema);
		free(p->t_name);
		return DBS_ENOMEM;
	}
	l->n++;
	return 0;
}

/* "t" / "s.t" as the source resolves filter names. */
static void split_name(const vconn *src, const char *n, const char **schema, size_t *sl,
                       const char **name)
{
	const char *dot = strchr(n, '.');
	if (dot) {
		*schema = n;
		*sl = (size_t)(dot - n);
		*name = dot + 1;
	} else {
		*schema = src->dialect == DBS_DIALECT_MYSQL ? src->dsn.database : "public";
		*sl = strlen(*schema);
		*name = n;
	}
}

int dbs__vlist_tables(const dbs_config *cfg, vconn *src, vconn *tgt, vlist *l, char *err,
                      size_t errlen)
{
	int rc = 0;
	vres r = {0};
	dbs_buf q = {0};
	const dbs_source_config *sc = &cfg->source;
	if (sc->ntables) {
		for (uint32_t i = 0; i < sc->ntables && !rc; i++) {
			const char *schema, *name;
			size_t sl;
			split_name(src, sc->tables[i].name ? sc->tables[i].name : "", &schema, &sl,
			           &name);
			rc = vlist_add(l, tgt, schema, sl, name, strlen(name));
		}
		goto out;
	}
	rc = DBS_ENOMEM;
	if (src->dialect == DBS_DIALECT_POSTGRESQL) {
		const dbs_plugin *sp = cfg->plugins[DBS_PLUGIN_SOURCE];
		const dbs_sql_source_settings *ss =
		    sp && sp->info.options == dbs__sql_source_options && sc->settings
		        ? sc->settings
		        : &dbs__sql_source_defaults;
		const char *pub = ss->publication_name ? ss->publication_name
		                                       : dbs__sql_source_defaults.publication_name;
		if (dbs_buf_append_str(
		        &q, "SELECT schemaname, tablename FROM "
		            "pg_publication_tables WHERE tablename <> '" DBS_CHECKPOINT_TABLE
		            "' AND pubname = ") ||
		    sql_literal(&q, pub) || dbs_buf_append_str(&q, " ORDER BY 1, 2"))
			goto out;
		if ((rc = dbs__vquery(src, q.data, &r, err, errlen)))
			goto out;
		if (r.nrows == 0) {
			/* No publication yet: the one the source would make publishes all. */
			dbs__vres_clear(&r);
			if ((rc = dbs__vquery(
			         src,
			         "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
			         "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
			         "AND NOT c.relispartition "
			         "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
			         "AND n.nspname NOT LIKE 'pg\\_%' "
			         "AND c.relname <> '" DBS_CHECKPOINT_TABLE "' ORDER BY 1, 2",
			         &r, err, errlen)))
				goto out;
		}
	} else {
		if (dbs_buf_append_str(
		        &q, "SELECT TABLE_SCHEMA, TABLE_NAME FROM "
		            "information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
		            "AND TABLE_NAME <> '" DBS_CHECKPOINT_TABLE "' AND "))
			goto out;
		if (src->dsn.database[0]) {
			if (dbs_buf_append_str(&q, "TABLE_SCHEMA = ") ||
			    sql_literal(&q, src->dsn.database))
				goto out;
		} else if (dbs_buf_append_str(&q,
		                                   "TABLE_SCHEMA NOT IN ('mysql', 'sys', "
		                                   "'performance_schema', 'information_schema')")) {
			goto out;
		}
		if (dbs_buf_append_str(&q, " ORDER BY 1, 2"))
			goto out;
		if ((rc = dbs__vquery(src, q.data, &r, err, errlen)))
			goto out;
	}
	rc = 0;
	while (!rc && dbs__vres_next(&r)) {
		size_t sl = 0, nl = 0;
		const char *s = dbs__vres_get(&r, 0, &sl), *n = dbs__vres_get(&r, 1, &nl);
		if (s && n)
			rc = vlist_add(l, tgt, s, sl, n, nl);
	}
out:
	dbs__vres_clear(&r);
	dbs_buf_free(&q);
	return rc;
}

/* Keep only the tables opts->tables names; DBS_ENOTFOUND for a stranger. */
int dbs__vlist_subset(vlist *l, const vconn *src, const dbs_verify_options *opts, char *err,
                      size_t errlen)
{
	int rc = 0;
	char *keep = NULL;
	if (!opts->tables || opts->ntables == 0)
		return 0;
	if (!(keep = calloc(l->n ? l->n : 1, 1)))
		return DBS_ENOMEM;
	for (size_t i = 0; i < opts->ntables && !rc; i++) {
		const char *schema, *name;
		size_t sl;
		int found = 0;
		split_name(src, opts->tables[i] ? opts->tables[i] : "", &schema, &sl, &name);
		for (size_t j = 0; j < l->n; j++)
			if (strlen(l->v[j].s_schema) == sl &&
			    strncmp(l->v[j].s_schema, schema, sl) == 0 &&
			    strcmp(l->v[j].s_name, name) == 0)
				keep[j] = 1, found = 1;
		if (!found) {
			rc = DBS_ENOTFOUND;
			dbs_fmt(err, errlen, "table \"%s\" is not among the stream's tables",
			         opts->tables[i] ? opts->tables[i] : "");
		}
	}
	if (!rc) {
		size_t w = 0;
		for (size_t j = 0; j < l->n; j++) {
			if (keep[j]) {
				l->v[w++] = l->v[j];
			} else {
				free(l->v[j].s_schema);
				free(l->v[j].s_name);
				free(l->v[j].t_schema);
				free(l->v[j].t_name);
			}
		}
		l->n = w;
	}
	free(keep);
	return rc;
}
