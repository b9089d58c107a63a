/*
 * PostgreSQL source, snapshot: the tables to copy. Apart from the readers
 * (snapshot_read.c) because it runs once, on the snapshot's catalog
 * session, before any reader opens.
 *
 * The tables: those of source.filter.tables, or, when it lists none, the
 * tables the stream's publication carries (cdc) or every user table (a
 * copy alone); described from the catalog with the key, NOT NULL flags,
 * secondary indexes and foreign keys; a custom query is checked by the
 * server (its plan scans this table alone, its columns are this table's);
 * the user's SELECT is tried on each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/postgresql/snapshot.h"
#include "sql/settings.h"
#include "sql/value_text.h"

#define MAX_KEYS 16u

/* The user may SELECT from the table: tried (LIMIT 0 reads nothing). */
static int check_grant(pg_snapshot *sn, snap_table *t, const char *where, char *err,
                       size_t errlen)
{
	dbs_buf q = DBS_BUF_INIT;
	if (dbs_buf_appendf(&q, "SELECT 1 FROM %s LIMIT 0", t->s.qname))
		return dbs__sql_snap_oom(err, errlen);
	PGresult *res = PQexecParams(sn->src.sql, q.data, 0, NULL, NULL, NULL, NULL, 0);
	dbs_buf_free(&q);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		char msg[DBS_ERRMSG_MAX];
		dbs__pgs_pq_err(msg, sizeof msg, "SELECT", sn->src.sql);
		if (state && strcmp(state, "42501") == 0)
			dbs_fmt(err, errlen,
			        "%s: the source user may not read it (%s): GRANT SELECT ON %s TO %s",
			        where, msg, t->s.qname, PQuser(sn->src.sql));
		else
			dbs_fmt(err, errlen, "%s: %s", where, msg);
		rc = DBS_ESOURCE;
	}
	PQclear(res);
	return rc;
}

/*
 * A custom query: its plan scans this table and nothing else, and its
 * columns are columns of this table (the result's table OID and column
 * number). Their numbers (attnum) go to `attnums`, in the query's order.
 * Run with the extended protocol: one statement only.
 */
static int check_query(pg_snapshot *sn, snap_table *t, const char *schema, const char *name,
                       const char *query, const char *where, int **attnums, int *n,
                       char *err, size_t errlen)
{
	PGconn *c = sn->src.sql;
	dbs_buf q = DBS_BUF_INIT;
	PGresult *res = NULL;
	int rc = DBS_ECONFIG;
	*attnums = NULL;
	*n = 0;
	if (dbs_buf_appendf(&q, "EXPLAIN (VERBOSE, FORMAT JSON) %s", query)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	res = PQexecParams(c, q.data, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
		char msg[DBS_ERRMSG_MAX];
		dbs__pgs_pq_err(msg, sizeof msg, "EXPLAIN", c);
		dbs_fmt(err, errlen, "%s: the server refuses it (%s)", where, msg);
		goto done;
	}
	/* Every scan of the plan names its relation and schema. */
	const char *plan = PQgetvalue(res, 0, 0);
	unsigned scans = 0;
	for (const char *p = strstr(plan, "\"Relation Name\": \""); p;
	     p = strstr(p + 1, "\"Relation Name\": \"")) {
		const char *v = p + 18;
		size_t len = strlen(name);
		scans++;
		if (strncmp(v, name, len) != 0 || v[len] != '"') {
			const char *end = strchr(v, '"');
			dbs_fmt(err, errlen, "%s: it reads table %.*s; a custom query reads its own "
			                     "table only",
			        where, end ? (int)(end - v) : 64, v);
			goto done;
		}
	}
	for (const char *p = strstr(plan, "\"Schema\": \""); p; p = strstr(p + 1, "\"Schema\": \"")) {
		const char *v = p + 11;
		size_t len = strlen(schema);
		if (strncmp(v, schema, len) != 0 || v[len] != '"') {
			const char *end = strchr(v, '"');
			dbs_fmt(err, errlen, "%s: it reads from schema %.*s; a custom query reads its "
			                     "own table only",
			        where, end ? (int)(end - v) : 64, v);
			goto done;
		}
	}
	if (scans != 1) {
		dbs_fmt(err, errlen, "%s: it reads %u tables; a custom query reads its own table "
		                     "only (no join or subquery)",
		        where, scans);
		goto done;
	}
	PQclear(res);
	dbs_buf_reset(&q);
	if (dbs_buf_appendf(&q, "SELECT * FROM (%s) AS dbs_q LIMIT 0", query)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	res = PQexecParams(c, q.data, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char msg[DBS_ERRMSG_MAX];
		dbs__pgs_pq_err(msg, sizeof msg, "SELECT", c);
		dbs_fmt(err, errlen, "%s: the server refuses it (%s)", where, msg);
		goto done;
	}
	int nf = PQnfields(res);
	unsigned long oid = strtoul(t->relid, NULL, 10);
	if (!(*attnums = calloc(nf ? (size_t)nf : 1, sizeof **attnums))) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	for (int i = 0; i < nf; i++) {
		int col = PQftablecol(res, i);
		if (PQftable(res, i) != (Oid)oid || col <= 0) {
			dbs_fmt(err, errlen, "%s: column %d (%s) is not a column of %s.%s; a custom "
			                     "query selects columns of its own table as they are",
			        where, i + 1, PQfname(res, i), schema, name);
			goto done;
		}
		for (int k = 0; k < *n; k++)
			if ((*attnums)[k] == col) {
				dbs_fmt(err, errlen, "%s: column %s is selected twice", where,
				        PQfname(res, i));
				goto done;
			}
		(*attnums)[(*n)++] = col;
	}
	rc = 0;
done:
	PQclear(res);
	dbs_buf_free(&q);
	if (rc) {
		free(*attnums);
		*attnums = NULL;
		*n = 0;
	}
	return rc;
}

/* Foreign keys of the table onto tables the load copies. */
static int foreign_keys(pg_snapshot *sn, snap_table *t, const char *const *copied,
                        uint32_t ncopied, char *err, size_t errlen)
{
	static const struct {
		char code;
		const char *rule;
	} rules[] = {{'a', "NO ACTION"}, {'r', "RESTRICT"}, {'c', "CASCADE"},
	             {'n', "SET NULL"},  {'d', "SET DEFAULT"}};
	const char *params[1] = {t->relid};
	PGresult *res = PQexecParams(
	    sn->src.sql,
	    "SELECT c.conname, fn.nspname, fc.relname, a.attname, fa.attname, c.confdeltype, "
	    "c.confupdtype FROM pg_constraint c JOIN pg_class fc ON fc.oid = c.confrelid "
	    "JOIN pg_namespace fn ON fn.oid = fc.relnamespace "
	    "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(n, fnum, o) "
	    "JOIN pg_attribute a ON a.attrelid = $1::oid AND a.attnum = k.n "
	    "JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fnum "
	    "WHERE c.conrelid = $1::oid AND c.contype = 'f' ORDER BY c.conname, k.o",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "reading foreign keys", sn->src.sql);
		PQclear(res);
		return DBS_ESOURCE;
	}
	int nrows = PQntuples(res), rc = DBS_ENOMEM;
	dbs_sql_fk_row *rows = calloc(nrows > 0 ? (size_t)nrows : 1, sizeof *rows);
	for (int r = 0; rows && r < nrows; r++) {
		dbs_sql_fk_row *row = &rows[r];
		*row = (dbs_sql_fk_row){
			.name = PQgetvalue(res, r, 0), .column = PQgetvalue(res, r, 3),
			.ref_schema = PQgetvalue(res, r, 1), .ref_name = PQgetvalue(res, r, 2),
			.ref_column = PQgetvalue(res, r, 4), .on_delete = "NO ACTION",
			.on_update = "NO ACTION",
		};
		for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
			if (PQgetvalue(res, r, 5)[0] == rules[k].code)
				row->on_delete = rules[k].rule;
			if (PQgetvalue(res, r, 6)[0] == rules[k].code)
				row->on_update = rules[k].rule;
		}
	}
	if (rows)
		rc = dbs__sql_snap_foreign_keys(&t->s, rows, (size_t)nrows, copied, ncopied,
		                                sn->src.host);
	free(rows);
	PQclear(res);
	if (rc)
		dbs__sql_snap_oom(err, errlen);
	return rc;
}

/*
 * One table: described, its query and the user's SELECT checked, its
 * chunk key found. `index`: its place in the filter, -1 without one.
 */
static int describe(pg_snapshot *sn, snap_table *t, const char *schema, const char *name,
                    const char *relid, double estimate, int index, char *err, size_t errlen)
{
	PGconn *c = sn->src.sql;
	PGresult *res = NULL;
	char where[400];
	int *attnums = NULL, nq = 0, rc;
	dbs_column *cols = NULL;
	dbs_buf b = DBS_BUF_INIT;
	dbs__sql_snap_where(where, sizeof where, index, schema, name);
	dbs_fmt(t->relid, sizeof t->relid, "%s", relid);
	if (dbs__sql_snap_set_qname(&t->s, DBS_DIALECT_POSTGRESQL, schema, name)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	const char *query = sn->config->queries && index >= 0 ? sn->config->queries[index] : NULL;
	if (query) {
		char qwhere[64];
		dbs_fmt(qwhere, sizeof qwhere, "source.filter.tables[%d].query", index);
		if ((rc = check_query(sn, t, schema, name, query, qwhere, &attnums, &nq, err, errlen)))
			goto done;
		if (!(t->s.query = strdup(query))) {
			rc = dbs__sql_snap_oom(err, errlen);
			goto done;
		}
	}
	/* The columns pgoutput sends (not the generated ones), with their key
	 * position (0: not in the primary key). */
	const char *params[1] = {relid};
	res = PQexecParams(c,
	                   "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
	                   "a.atttypid, a.atttypmod, coalesce((SELECT k.o FROM "
	                   "unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o) WHERE k.n = "
	                   "a.attnum), 0), a.attnum FROM pg_attribute a LEFT JOIN pg_index i ON "
	                   "i.indrelid = a.attrelid AND i.indisprimary WHERE a.attrelid = $1::oid "
	                   "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
	                   "ORDER BY a.attnum",
	                   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "reading the columns", c);
		rc = DBS_ESOURCE;
		goto done;
	}
	int nall = PQntuples(res), n = query ? nq : nall;
	int pk_all = 0, pk_selected = 0;
	for (int r = 0; r < nall; r++)
		if (atoi(PQgetvalue(res, r, 5)) > 0) {
			pk_all++;
			for (int k = 0; k < nq; k++)
				pk_selected += atoi(PQgetvalue(res, r, 6)) == attnums[k];
		}
	int keep_key = !query || pk_selected == pk_all;
	if (!(cols = calloc(n ? (size_t)n : 1, sizeof *cols)) ||
	    !(t->s.keys = calloc(MAX_KEYS + 1, sizeof *t->s.keys))) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	uint32_t kpos[MAX_KEYS + 1] = {0};
	int nkeys = 0, integer = 1;
	for (int i = 0; i < n; i++) {
		int r = i;
		if (query)
			for (r = 0; r < nall && atoi(PQgetvalue(res, r, 6)) != attnums[i]; r++)
				;
		if (r == nall) {
			dbs_fmt(err, errlen, "%s: a column of the query is not in the table", where);
			rc = DBS_ECONFIG;
			goto done;
		}
		int key = keep_key ? atoi(PQgetvalue(res, r, 5)) : 0;
		cols[i].name = PQgetvalue(res, r, 0);
		cols[i].type_name = PQgetvalue(res, r, 1);
		cols[i].type_id = (uint32_t)strtoul(PQgetvalue(res, r, 3), NULL, 10);
		cols[i].type_mod = atoi(PQgetvalue(res, r, 4));
		cols[i].flags = (key ? DBS_COLUMN_KEY : 0) |
		                (PQgetvalue(res, r, 2)[0] == 't' ? DBS_COLUMN_NOT_NULL : 0);
		if (key > 0 && key <= (int)MAX_KEYS) {
			kpos[key - 1] = (uint32_t)i;
			nkeys = key > nkeys ? key : nkeys;
			/* int2, int4, int8: the seam compares keys as integers */
			integer &= cols[i].type_id == 21 || cols[i].type_id == 23 || cols[i].type_id == 20;
		} else if (key) {
			integer = 0;
		}
	}
	if (dbs_table_new(&t->s.def, DBS_DIALECT_POSTGRESQL, schema, name, cols, (uint32_t)n)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	t->s.def->source_id = (uint32_t)strtoul(relid, NULL, 10);
	if ((rc = dbs__pgs_rel_indexes(&sn->src, t->s.def, relid, err, errlen)))
		goto done;
	if (keep_key && nkeys == pk_all && integer)
		for (int k = 0; k < nkeys; k++)
			t->s.keys[k] = kpos[k];
	else
		nkeys = 0;
	t->s.load.def = t->s.def;
	t->s.load.keys = t->s.keys;
	t->s.load.nkeys = (uint32_t)nkeys;
	t->s.load.query = t->s.query;
	t->s.load.estimated_rows = estimate > 0 ? (uint64_t)estimate : 0;
	for (int i = 0; i < n; i++)
		if ((i && dbs_buf_append_char(&b, ',')) || dbs__sql_append_ident(&b, cols[i].name)) {
			rc = dbs__sql_snap_oom(err, errlen);
			goto done;
		}
	if (!(t->s.select_list = strdup(b.data ? b.data : ""))) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	if (dbs__sql_snap_set_from(&t->s)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	rc = check_grant(sn, t, where, err, errlen);
done:
	PQclear(res);
	free(cols);
	free(attnums);
	dbs_buf_free(&b);
	return rc;
}

int dbs__pgs_snap_tables(dbs_snapshot *base, const dbs_load_table **out, uint32_t *n,
                         char *err, size_t errlen)
{
	pg_snapshot *sn = (pg_snapshot *)base;
	PGconn *c = sn->src.sql;
	PGresult *list = NULL;
	const dbs_sql_filter *f = &sn->src.filter;
	char **copied = NULL;
	uint32_t count = 0;
	int rc = 0;
	*out = NULL;
	*n = 0;
	if (sn->tables) {
		*out = sn->loads;
		*n = sn->ntables;
		return 0;
	}
	if (f->n == 0) {
		const dbs_sql_source_settings *ss =
		    sn->config->settings ? sn->config->settings : &dbs__sql_source_defaults;
		const char *pub = ss->publication_name ? ss->publication_name
		                                       : dbs__sql_source_defaults.publication_name;
		const char *params[2] = {pub, sn->cdc_pub ? "t" : "f"};
		/* A stream's tables are its publication's when it exists (the
		 * source makes one FOR ALL TABLES otherwise). */
		list = PQexecParams(
		    c,
		    "SELECT n.nspname, c.relname, c.oid::text, c.reltuples FROM pg_class c JOIN "
		    "pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND NOT "
		    "c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND "
		    "n.nspname NOT LIKE 'pg\\_%' AND c.relname NOT IN ('dbstreams_checkpoint', "
		    "'dbstreams_load') AND (NOT $2::bool OR NOT EXISTS (SELECT 1 FROM "
		    "pg_publication WHERE pubname = $1) OR EXISTS (SELECT 1 FROM "
		    "pg_publication_tables p WHERE p.pubname = $1 AND p.schemaname = n.nspname AND "
		    "p.tablename = c.relname)) ORDER BY 1, 2",
		    2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(list) != PGRES_TUPLES_OK) {
			dbs__pgs_pq_err(err, errlen, "listing the tables", c);
			rc = DBS_ESOURCE;
			goto done;
		}
		count = (uint32_t)PQntuples(list);
	} else {
		count = f->n;
	}
	if (!(sn->tables = calloc(count ? count : 1, sizeof *sn->tables)) ||
	    !(sn->loads = calloc(count ? count : 1, sizeof *sn->loads)) ||
	    !(copied = calloc(count ? count : 1, sizeof *copied))) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	for (uint32_t i = 0; i < count; i++) {
		const char *schema, *name, *relid;
		double est;
		PGresult *one = NULL;
		if (list) {
			schema = PQgetvalue(list, (int)i, 0);
			name = PQgetvalue(list, (int)i, 1);
			relid = PQgetvalue(list, (int)i, 2);
			est = strtod(PQgetvalue(list, (int)i, 3), NULL);
		} else {
			schema = f->entries[i].schema;
			name = f->entries[i].name;
			const char *params[2] = {schema, name};
			one = PQexecParams(c,
			                   "SELECT c.oid::text, c.reltuples, c.relkind FROM pg_class c "
			                   "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
			                   "n.nspname = $1 AND c.relname = $2",
			                   2, NULL, params, NULL, NULL, 0);
			if (PQresultStatus(one) != PGRES_TUPLES_OK) {
				dbs__pgs_pq_err(err, errlen, "looking for a table", c);
				PQclear(one);
				rc = DBS_ESOURCE;
				goto done;
			}
			const char *kind = PQntuples(one) ? PQgetvalue(one, 0, 2) : "";
			if (strcmp(kind, "r") != 0 && strcmp(kind, "p") != 0) {
				dbs_fmt(err, errlen, "source.filter.tables[%u].name: %s.%s %s on the source",
				        i, schema, name,
				        kind[0] == 'v' || kind[0] == 'm' ? "is a view, not a table"
				                                         : "does not exist");
				PQclear(one);
				rc = DBS_ECONFIG;
				goto done;
			}
			relid = PQgetvalue(one, 0, 0);
			est = strtod(PQgetvalue(one, 0, 1), NULL);
		}
		size_t l = strlen(schema) + strlen(name) + 2;
		if (!(copied[i] = malloc(l))) {
			PQclear(one);
			rc = dbs__sql_snap_oom(err, errlen);
			goto done;
		}
		snprintf(copied[i], l, "%s.%s", schema, name);
		sn->ntables = i + 1;
		rc = describe(sn, &sn->tables[i], schema, name, relid, est, list ? -1 : (int)i, err,
		              errlen);
		PQclear(one);
		if (rc)
			goto done;
	}
	for (uint32_t i = 0; i < count && rc == 0; i++)
		rc = foreign_keys(sn, &sn->tables[i], (const char *const *)copied, count, err,
		                  errlen);
	if (rc)
		goto done;
	for (uint32_t i = 0; i < count; i++)
		sn->loads[i] = sn->tables[i].s.load;
	*out = sn->loads;
	*n = count;
done:
	for (uint32_t i = 0; copied && i < count; i++)
		free(copied[i]);
	free(copied);
	PQclear(list);
	return rc;
}
