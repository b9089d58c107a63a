/*
 * PostgreSQL source: the snapshot capability (dbs_snapshot_ops) for an
 * initial load.
 *
 * The tables: those of source.filter.tables, or, when it lists none, the
 * tables the stream's publication carries (cdc) or every user table (a
 * copy alone); described from the catalog with the key, NOT NULL flags,
 * secondary indexes and foreign keys; a custom query is checked by the
 * server (its plan scans this table alone, its columns are this table's);
 * the user's SELECT is tried on each.
 *
 * Readers: one session each, in a REPEATABLE READ READ ONLY transaction
 * that imports one snapshot (SET TRANSACTION SNAPSHOT), so readers in
 * parallel read the same state:
 *   - cdc with a new slot: the snapshot the slot exported when the source
 *     made it; its consistent point is the position of every chunk;
 *   - cdc over an existing slot (the stream created again, or a resumed
 *     load): a TEMPORARY slot made here with SNAPSHOT 'export' gives a
 *     fresh snapshot and its consistent point, for the chunks still to
 *     copy; it goes when the snapshot closes;
 *   - a copy alone: the first reader exports its own snapshot
 *     (pg_export_snapshot) and the others import it.
 *
 * A chunk is one COPY (SELECT … WHERE key range ORDER BY key) TO STDOUT in
 * text format, read row by row and handed over in batches of TEXT values
 * (the output settings of the replication stream: what pgoutput would
 * send), so memory stays bounded whatever the table's size.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/postgresql/pg_source.h"
#include "sql/settings.h"
#include "sql/value_text.h"

#define BATCH_BYTES (4u << 20)
#define MAX_KEYS 16u

/* The walsender's output settings, for an ordinary session. */
static const char session_sql[] =
	"SET bytea_output = hex; SET DateStyle = ISO; SET IntervalStyle = postgres; "
	"SET extra_float_digits = 3; SET TimeZone = 'UTC'; SET client_encoding = 'UTF8'";

typedef struct snap_table {
	dbs_load_table load;   /* what the core sees */
	dbs_table *def;        /* one reference */
	uint32_t *keys;
	char *qname;           /* "schema"."name" */
	char *select_list;
	char *from;
	char *query;
	char relid[16];
	dbs_foreign_key *fks;
	uint32_t nfks;
	char **strings;
	size_t nstrings, capstrings;
	const char **refcols;
	uint32_t *fkcols;
} snap_table;

typedef struct pg_snapshot {
	dbs_snapshot base; /* first */
	pg_source src;     /* catalog session (src.sql) and the source's catalog code */
	const dbs_source_config *config;
	int positions;     /* a stream follows */
	int cdc_pub;       /* an empty filter means the publication's tables */
	char *export;      /* the snapshot readers import; NULL: none yet */
	uint64_t export_lsn;
	PGconn *slot_conn; /* holds a temporary slot's exported snapshot */
	unsigned slots;    /* temporary slots made */
	snap_table *tables;
	uint32_t ntables;
	dbs_load_table *loads;
	dbs_value *points;
	size_t cap_points;
} pg_snapshot;

typedef struct pg_reader {
	dbs_snapshot_reader base; /* first */
	pg_snapshot *snap;
	PGconn *conn;
	dbs_batch *batch;
	dbs_buf sql, field;
	int copying;
} pg_reader;

static int oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* A failure of the session (not of the data) is DBS_LOAD_LOST. */
static int lost_or(PGconn *c, int rc)
{
	return rc && (!c || PQstatus(c) != CONNECTION_OK) ? DBS_LOAD_LOST : rc;
}

/* The same for a failed result: a connection exception (08) or the
 * server going down (57P) is a lost session even while libpq still
 * holds the socket. */
static int result_lost_or(PGconn *c, const PGresult *res, int rc)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (rc && state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))
		return DBS_LOAD_LOST;
	return lost_or(c, rc);
}

static int exec_ok(PGconn *c, const char *sql, const char *what, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, what, c);
		rc = result_lost_or(c, r, DBS_ESOURCE);
	}
	PQclear(r);
	return rc;
}

/* ---- tables ---- */

static void snap_table_free(snap_table *t)
{
	if (t->def)
		dbs_table_unref(t->def);
	free(t->keys);
	free(t->qname);
	free(t->select_list);
	free(t->from);
	free(t->query);
	free(t->fks);
	for (size_t i = 0; i < t->nstrings; i++)
		free(t->strings[i]);
	free(t->strings);
	free(t->refcols);
	free(t->fkcols);
}

static char *keep_str(snap_table *t, const char *s)
{
	char *c = strdup(s ? s : "");
	if (!c || dbs_array_reserve((void **)&t->strings, &t->capstrings, t->nstrings + 1,
	                            sizeof *t->strings)) {
		free(c);
		return NULL;
	}
	t->strings[t->nstrings++] = c;
	return c;
}

static int qualified(dbs_buf *b, const char *schema, const char *name)
{
	return dbs__sql_append_ident(b, schema) || dbs_buf_append_char(b, '.') ||
	       dbs__sql_append_ident(b, name);
}

/* The user may SELECT from the table: tried (LIMIT 0 reads nothing). */
static int check_grant(pg_snapshot *sn, snap_table *t, const char *where, char *err,
                       size_t errlen)
{
	dbs_buf q = DBS_BUF_INIT;
	if (dbs_buf_appendf(&q, "SELECT 1 FROM %s LIMIT 0", t->qname))
		return oom(err, errlen);
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
			        where, msg, t->qname, PQuser(sn->src.sql));
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
		rc = oom(err, errlen);
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
		rc = oom(err, errlen);
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
		rc = oom(err, errlen);
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
static int foreign_keys(pg_snapshot *sn, snap_table *t, char **copied, uint32_t ncopied,
                        char *err, size_t errlen)
{
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
	int rc = DBS_ENOMEM;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "reading foreign keys", sn->src.sql);
		PQclear(res);
		return DBS_ESOURCE;
	}
	int nrows = PQntuples(res);
	if (nrows == 0) {
		PQclear(res);
		return 0;
	}
	t->fks = calloc((size_t)nrows, sizeof *t->fks);
	t->refcols = calloc((size_t)nrows, sizeof *t->refcols);
	t->fkcols = calloc((size_t)nrows, sizeof *t->fkcols);
	if (!t->fks || !t->refcols || !t->fkcols)
		goto fail;
	size_t used = 0;
	const char *last = "";
	int skip = 0;
	for (int r = 0; r < nrows; r++) {
		const char *name = PQgetvalue(res, r, 0);
		if (strcmp(last, name) != 0 || r == 0) {
			last = name;
			char ref[300];
			dbs_fmt(ref, sizeof ref, "%s.%s", PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
			skip = 1;
			for (uint32_t i = 0; i < ncopied && skip; i++)
				skip = strcmp(copied[i], ref) != 0;
			if (skip) {
				dbs_log(sn->src.host, DBS_LOG_INFO,
				        "%s: foreign key %s not copied (it references %s, which the load "
				        "does not copy)",
				        t->qname, name, ref);
				continue;
			}
			static const struct {
				char code;
				const char *rule;
			} rules[] = {{'a', "NO ACTION"}, {'r', "RESTRICT"}, {'c', "CASCADE"},
			             {'n', "SET NULL"},  {'d', "SET DEFAULT"}};
			dbs_foreign_key *fk = &t->fks[t->nfks++];
			fk->on_delete = fk->on_update = "NO ACTION";
			for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
				if (PQgetvalue(res, r, 5)[0] == rules[k].code)
					fk->on_delete = rules[k].rule;
				if (PQgetvalue(res, r, 6)[0] == rules[k].code)
					fk->on_update = rules[k].rule;
			}
			if (!(fk->name = keep_str(t, name)) ||
			    !(fk->ref_schema = keep_str(t, PQgetvalue(res, r, 1))) ||
			    !(fk->ref_name = keep_str(t, PQgetvalue(res, r, 2))))
				goto fail;
			fk->columns = t->fkcols + used;
			fk->ref_columns = t->refcols + used;
		} else if (skip) {
			continue;
		}
		dbs_foreign_key *fk = &t->fks[t->nfks - 1];
		uint32_t c = 0;
		while (c < t->def->ncolumns && strcmp(t->def->columns[c].name, PQgetvalue(res, r, 3)))
			c++;
		if (c == t->def->ncolumns) {
			t->nfks--;
			skip = 1;
			continue;
		}
		t->fkcols[used] = c;
		if (!(t->refcols[used] = keep_str(t, PQgetvalue(res, r, 4))))
			goto fail;
		used++;
		fk->ncolumns++;
	}
	t->load.foreign = t->fks;
	t->load.nforeign = t->nfks;
	rc = 0;
fail:
	PQclear(res);
	if (rc)
		oom(err, errlen);
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
	if (index >= 0)
		dbs_fmt(where, sizeof where, "source.filter.tables[%d] (%s.%s)", index, schema, name);
	else
		dbs_fmt(where, sizeof where, "table %s.%s", schema, name);
	dbs_fmt(t->relid, sizeof t->relid, "%s", relid);
	if (qualified(&b, schema, name) || !(t->qname = strdup(b.data))) {
		rc = oom(err, errlen);
		goto done;
	}
	const char *query = sn->config->queries && index >= 0 ? sn->config->queries[index] : NULL;
	if (query) {
		char qwhere[64];
		dbs_fmt(qwhere, sizeof qwhere, "source.filter.tables[%d].query", index);
		if ((rc = check_query(sn, t, schema, name, query, qwhere, &attnums, &nq, err, errlen)))
			goto done;
		if (!(t->query = strdup(query))) {
			rc = oom(err, errlen);
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
	    !(t->keys = calloc(MAX_KEYS + 1, sizeof *t->keys))) {
		rc = oom(err, errlen);
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
	if (dbs_table_new(&t->def, DBS_DIALECT_POSTGRESQL, schema, name, cols, (uint32_t)n)) {
		rc = oom(err, errlen);
		goto done;
	}
	t->def->source_id = (uint32_t)strtoul(relid, NULL, 10);
	if ((rc = dbs__pgs_rel_indexes(&sn->src, t->def, relid, err, errlen)))
		goto done;
	if (keep_key && nkeys == pk_all && integer)
		for (int k = 0; k < nkeys; k++)
			t->keys[k] = kpos[k];
	else
		nkeys = 0;
	t->load.def = t->def;
	t->load.keys = t->keys;
	t->load.nkeys = (uint32_t)nkeys;
	t->load.query = t->query;
	t->load.estimated_rows = estimate > 0 ? (uint64_t)estimate : 0;
	dbs_buf_reset(&b);
	for (int i = 0; i < n; i++)
		if ((i && dbs_buf_append_char(&b, ',')) || dbs__sql_append_ident(&b, cols[i].name)) {
			rc = oom(err, errlen);
			goto done;
		}
	if (!(t->select_list = strdup(b.data ? b.data : ""))) {
		rc = oom(err, errlen);
		goto done;
	}
	dbs_buf_reset(&b);
	if ((query ? dbs_buf_appendf(&b, "(%s) AS dbs_q", query) : dbs_buf_append_str(&b, t->qname)) ||
	    !(t->from = strdup(b.data))) {
		rc = oom(err, errlen);
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

static int pg_tables(dbs_snapshot *base, const dbs_load_table **out, uint32_t *n, char *err,
                     size_t errlen)
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
		rc = oom(err, errlen);
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
			rc = oom(err, errlen);
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
		rc = foreign_keys(sn, &sn->tables[i], copied, count, err, errlen);
	if (rc)
		goto done;
	for (uint32_t i = 0; i < count; i++)
		sn->loads[i] = sn->tables[i].load;
	*out = sn->loads;
	*n = count;
done:
	for (uint32_t i = 0; copied && i < count; i++)
		free(copied[i]);
	free(copied);
	PQclear(list);
	return rc;
}

/* ---- keys in SQL ---- */

static int append_int(dbs_buf *b, const dbs_value *v)
{
	return v->kind == DBS_VALUE_UINT ? dbs_buf_appendf(b, "%" PRIu64, v->v.u)
	                                 : dbs_buf_appendf(b, "%" PRId64, v->v.i);
}

/* (k1, k2) > (v1, v2) or <=: PostgreSQL compares rows and scans an index
 * range for them. */
static int key_cond(dbs_buf *b, const snap_table *t, const dbs_value *v, const char *op)
{
	uint32_t n = t->load.nkeys;
	int rc = dbs_buf_append_char(b, '(');
	for (uint32_t k = 0; k < n && !rc; k++)
		rc = (k && dbs_buf_append_char(b, ',')) ||
		     dbs__sql_append_ident(b, t->def->columns[t->keys[k]].name);
	if (!rc)
		rc = dbs_buf_appendf(b, ") %s (", op);
	for (uint32_t k = 0; k < n && !rc; k++)
		rc = (k && dbs_buf_append_char(b, ',')) || append_int(b, &v[k]);
	return rc ? rc : dbs_buf_append_char(b, ')');
}

static int order_by(dbs_buf *b, const snap_table *t)
{
	int rc = dbs_buf_append_str(b, " ORDER BY ");
	for (uint32_t k = 0; k < t->load.nkeys && !rc; k++)
		rc = (k && dbs_buf_append_char(b, ',')) ||
		     dbs__sql_append_ident(b, t->def->columns[t->keys[k]].name);
	return rc;
}

static snap_table *table_of(pg_snapshot *sn, const dbs_load_table *table)
{
	for (uint32_t i = 0; i < sn->ntables; i++)
		if (sn->tables[i].def == table->def)
			return &sn->tables[i];
	return NULL;
}

static int parse_int(const char *s, dbs_value *v)
{
	char *end;
	errno = 0;
	memset(v, 0, sizeof *v);
	v->kind = DBS_VALUE_INT;
	v->v.i = strtoll(s, &end, 10);
	return errno || *end || !s[0] ? -1 : 0;
}

/* Split points `rows` keys apart, walking the key (see the MySQL
 * source's plan: the server skips rows with OFFSET and sends one key). */
static int pg_plan(dbs_snapshot *base, const dbs_load_table *table, uint64_t rows,
                   const dbs_value **points, uint32_t *n, uint64_t *counted, char *err,
                   size_t errlen)
{
	pg_snapshot *sn = (pg_snapshot *)base;
	snap_table *t = table_of(sn, table);
	dbs_buf q = DBS_BUF_INIT;
	uint32_t nk = table->nkeys, np = 0;
	uint64_t total = 0;
	PGresult *res = NULL;
	int rc = 0;
	*points = NULL;
	*n = 0;
	*counted = 0;
	if (!t || !nk)
		return 0;
	for (;;) {
		dbs_buf_reset(&q);
		if (dbs_buf_append_str(&q, "SELECT "))
			goto nomem;
		for (uint32_t k = 0; k < nk; k++)
			if ((k && dbs_buf_append_char(&q, ',')) ||
			    dbs__sql_append_ident(&q, t->def->columns[t->keys[k]].name))
				goto nomem;
		if (dbs_buf_appendf(&q, " FROM %s", t->qname) ||
		    (np && (dbs_buf_append_str(&q, " WHERE ") ||
		            key_cond(&q, t, sn->points + (size_t)(np - 1) * nk, ">"))) ||
		    order_by(&q, t) || dbs_buf_appendf(&q, " OFFSET %" PRIu64 " LIMIT 1", rows - 1))
			goto nomem;
		res = PQexec(sn->src.sql, q.data);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			dbs__pgs_pq_err(err, errlen, "planning the chunks", sn->src.sql);
			rc = DBS_ESOURCE;
			goto done;
		}
		if (PQntuples(res) == 0)
			break;
		if (dbs_array_reserve((void **)&sn->points, &sn->cap_points, (size_t)(np + 1) * nk,
		                      sizeof *sn->points))
			goto nomem;
		for (uint32_t k = 0; k < nk; k++)
			if (parse_int(PQgetvalue(res, 0, (int)k), &sn->points[(size_t)np * nk + k])) {
				dbs_fmt(err, errlen, "planning the chunks of %s: a key that is not an "
				                     "integer",
				        t->qname);
				rc = DBS_ESOURCE;
				goto done;
			}
		PQclear(res);
		res = NULL;
		np++;
		total += rows;
		if (dbs_host_stopping(sn->src.host))
			break;
	}
	PQclear(res);
	dbs_buf_reset(&q);
	if (dbs_buf_appendf(&q, "SELECT count(*) FROM %s", t->qname) ||
	    (np && (dbs_buf_append_str(&q, " WHERE ") ||
	            key_cond(&q, t, sn->points + (size_t)(np - 1) * nk, ">"))))
		goto nomem;
	res = PQexec(sn->src.sql, q.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "planning the chunks", sn->src.sql);
		rc = DBS_ESOURCE;
		goto done;
	}
	total += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	*points = sn->points;
	*n = np;
	*counted = total;
	goto done;
nomem:
	rc = oom(err, errlen);
done:
	PQclear(res);
	dbs_buf_free(&q);
	return rc;
}

/* ---- readers ---- */

/*
 * A fresh (snapshot, position) pair from a temporary slot on a
 * replication connection of the snapshot's own, which stays idle while
 * readers import it.
 */
static int temporary_slot(pg_snapshot *sn, char *err, size_t errlen)
{
	char cmd[160];
	PGresult *res = NULL;
	int rc = DBS_ESOURCE;
	if (sn->slot_conn)
		PQfinish(sn->slot_conn);
	free(sn->export);
	sn->export = NULL;
	sn->slot_conn = dbs__pgs_connect(sn->config, 1);
	if (PQstatus(sn->slot_conn) != CONNECTION_OK) {
		dbs__pgs_pq_err(err, errlen, "opening a replication connection for the load",
		                sn->slot_conn);
		return DBS_LOAD_LOST;
	}
	dbs_fmt(cmd, sizeof cmd,
	        "CREATE_REPLICATION_SLOT dbs_load_%ld_%u TEMPORARY LOGICAL pgoutput (SNAPSHOT "
	        "'export')",
	        (long)getpid(), ++sn->slots);
	res = PQexec(sn->slot_conn, cmd);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 3) {
		dbs__pgs_pq_err(err, errlen, "creating a temporary slot for the load", sn->slot_conn);
		rc = lost_or(sn->slot_conn, DBS_ESOURCE);
		goto done;
	}
	sn->export_lsn = dbs__pgs_lsn_parse(PQgetvalue(res, 0, 1));
	if (!(sn->export = strdup(PQgetvalue(res, 0, 2)))) {
		rc = oom(err, errlen);
		goto done;
	}
	dbs_log(sn->src.host, DBS_LOG_INFO,
	        "load: snapshot %s at %s from a temporary slot (the stream's slot holds no "
	        "snapshot)",
	        sn->export, PQgetvalue(res, 0, 1));
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/* Import sn->export into the reader's transaction; 1 when the snapshot is
 * gone (its exporter ended). */
static int import(pg_reader *r, char *err, size_t errlen)
{
	char sql[128];
	dbs_fmt(sql, sizeof sql, "SET TRANSACTION SNAPSHOT '%s'", r->snap->export);
	PGresult *res = PQexec(r->conn, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int gone = !ok && state && (strcmp(state, "22023") == 0 || strcmp(state, "0A000") == 0);
	if (!ok)
		dbs__pgs_pq_err(err, errlen, "importing the load's snapshot", r->conn);
	PQclear(res);
	return ok ? 0 : gone ? 1 : lost_or(r->conn, DBS_ESOURCE);
}

static int begin(pg_reader *r, char *err, size_t errlen)
{
	if (PQtransactionStatus(r->conn) != PQTRANS_IDLE)
		PQclear(PQexec(r->conn, "ROLLBACK"));
	PGresult *res = PQexec(r->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (ok)
		return 0;
	dbs__pgs_pq_err(err, errlen, "starting the load's transaction", r->conn);
	return lost_or(r->conn, DBS_ESOURCE);
}

static int pg_reader_open(dbs_snapshot *base, dbs_snapshot_reader **out, uint64_t *position,
                          char *err, size_t errlen)
{
	pg_snapshot *sn = (pg_snapshot *)base;
	pg_reader *r = calloc(1, sizeof *r);
	int rc;
	*out = NULL;
	*position = 0;
	if (!r)
		return oom(err, errlen);
	r->base.ops = &dbs__postgresql_snapshot_ops;
	r->snap = sn;
	r->conn = dbs__pgs_connect(sn->config, 0);
	if (PQstatus(r->conn) != CONNECTION_OK) {
		dbs__pgs_pq_err(err, errlen, "connecting to PostgreSQL", r->conn);
		rc = DBS_LOAD_LOST;
		goto fail;
	}
	if ((rc = exec_ok(r->conn, session_sql, "session settings", err, errlen)) ||
	    (rc = begin(r, err, errlen)))
		goto fail;
	if (sn->positions) {
		if (!sn->export && (rc = temporary_slot(sn, err, errlen)))
			goto fail;
		rc = import(r, err, errlen);
		if (rc == 1) { /* the exporter is gone: a fresh pair */
			if ((rc = begin(r, err, errlen)) || (rc = temporary_slot(sn, err, errlen)) ||
			    (rc = import(r, err, errlen)) == 1)
				rc = rc == 1 ? DBS_ESOURCE : rc;
		}
		if (rc)
			goto fail;
		*position = sn->export_lsn;
	} else {
		rc = sn->export ? import(r, err, errlen) : 1;
		if (rc == 1) {
			/* The first reader, or its exporter ended: export ours. */
			PGresult *res;
			if ((rc = begin(r, err, errlen)))
				goto fail;
			res = PQexec(r->conn, "SELECT pg_export_snapshot()");
			if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
				dbs__pgs_pq_err(err, errlen, "exporting the load's snapshot", r->conn);
				PQclear(res);
				rc = lost_or(r->conn, DBS_ESOURCE);
				goto fail;
			}
			free(sn->export);
			sn->export = strdup(PQgetvalue(res, 0, 0));
			PQclear(res);
			if (!sn->export) {
				rc = oom(err, errlen);
				goto fail;
			}
			rc = 0;
		}
		if (rc)
			goto fail;
	}
	if (dbs_batch_new(&r->batch, 1000)) {
		rc = oom(err, errlen);
		goto fail;
	}
	*out = &r->base;
	return 0;
fail:
	PQfinish(r->conn);
	free(r);
	return rc;
}

/* One field of a COPY text line, unescaped into `out`; NULL when \N. */
static const char *copy_field(const char *p, const char *end, const char **next, dbs_buf *out,
                              size_t *len)
{
	const char *q = p;
	while (q < end && *q != '\t')
		q++;
	*next = q < end ? q + 1 : NULL;
	if (q - p == 2 && p[0] == '\\' && p[1] == 'N')
		return NULL;
	if (!memchr(p, '\\', (size_t)(q - p))) {
		*len = (size_t)(q - p);
		return p;
	}
	dbs_buf_reset(out);
	for (const char *s = p; s < q; s++) {
		char c = *s;
		if (c == '\\' && s + 1 < q) {
			s++;
			switch (*s) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'v': c = '\v'; break;
			case 'x': {
				unsigned v = 0, k = 0;
				while (k < 2 && s + 1 < q &&
				       ((s[1] >= '0' && s[1] <= '9') || (s[1] >= 'a' && s[1] <= 'f') ||
				        (s[1] >= 'A' && s[1] <= 'F'))) {
					char h = *++s;
					v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
					k++;
				}
				c = (char)v;
				break;
			}
			default:
				if (*s >= '0' && *s <= '7') {
					unsigned v = (unsigned)(*s - '0'), k = 1;
					while (k < 3 && s + 1 < q && s[1] >= '0' && s[1] <= '7') {
						v = v * 8 + (unsigned)(*++s - '0');
						k++;
					}
					c = (char)v;
				} else {
					c = *s;
				}
			}
		}
		if (dbs_buf_append_char(out, c))
			return NULL;
	}
	*len = out->len;
	return out->data ? out->data : "";
}

static int pg_read(dbs_snapshot_reader *base, const dbs_load_table *table,
                   const dbs_load_chunk *chunk, uint32_t batch_rows, dbs_rows_fn rows_fn,
                   void *rows_data, char *err, size_t errlen)
{
	pg_reader *r = (pg_reader *)base;
	snap_table *t = table_of(r->snap, table);
	dbs_buf *q = &r->sql;
	PGresult *res;
	char *line = NULL;
	int rc = 0, stop = 0;
	if (!t) {
		dbs_fmt(err, errlen, "postgresql snapshot: a table it did not describe");
		return DBS_EINVAL;
	}
	dbs_buf_reset(q);
	if (dbs_buf_appendf(q, "COPY (SELECT %s FROM %s", t->select_list, t->from))
		return oom(err, errlen);
	if (t->load.nkeys && (chunk->lo || chunk->hi)) {
		if (dbs_buf_append_str(q, " WHERE ") || (chunk->lo && key_cond(q, t, chunk->lo, ">")) ||
		    (chunk->lo && chunk->hi && dbs_buf_append_str(q, " AND ")) ||
		    (chunk->hi && key_cond(q, t, chunk->hi, "<=")))
			return oom(err, errlen);
	}
	if ((t->load.nkeys && order_by(q, t)) || dbs_buf_append_str(q, ") TO STDOUT"))
		return oom(err, errlen);
	res = PQexec(r->conn, q->data);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		dbs__pgs_pq_err(err, errlen, t->qname, r->conn);
		rc = result_lost_or(r->conn, res, DBS_ESOURCE);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	r->copying = 1;
	dbs_batch_reset(r->batch);
	uint32_t ncols = t->def->ncolumns;
	for (;;) {
		int n = PQgetCopyData(r->conn, &line, 0);
		if (n == -1)
			break;
		if (n < 0) {
			PGresult *bad = PQgetResult(r->conn);
			if (bad && PQresultErrorMessage(bad)[0]) {
				dbs_fmt(err, errlen, "%s: %s", t->qname, PQresultErrorMessage(bad));
				for (char *c = err; *c; c++)
					if (*c == '\n' || *c == '\r')
						*c = c[1] ? ' ' : '\0';
			} else
				dbs__pgs_pq_err(err, errlen, t->qname, r->conn);
			rc = result_lost_or(r->conn, bad, DBS_ESOURCE);
			PQclear(bad);
			break;
		}
		const char *p = line, *end = line + n;
		if (end > p && end[-1] == '\n')
			end--;
		dbs_event *ev;
		if (dbs_batch_add(r->batch, DBS_OP_INSERT, t->def, &ev)) {
			rc = oom(err, errlen);
			break;
		}
		for (uint32_t c = 0; c < ncols; c++) {
			const char *next = NULL;
			size_t len = 0;
			if (!p) {
				dbs_fmt(err, errlen, "%s: a row with fewer columns than expected", t->qname);
				rc = DBS_EPROTO;
				break;
			}
			const char *v = copy_field(p, end, &next, &r->field, &len);
			if (v && dbs_batch_set_bytes(r->batch, &ev->after[c], DBS_VALUE_TEXT, v, len)) {
				rc = oom(err, errlen);
				break;
			}
			p = next;
		}
		PQfreemem(line);
		line = NULL;
		if (rc)
			break;
		if (dbs_batch_count(r->batch) >= batch_rows || dbs_batch_bytes(r->batch) >= BATCH_BYTES) {
			stop = rows_fn(r->batch, rows_data) != 0;
			dbs_batch_reset(r->batch);
			if (stop)
				break;
		}
	}
	PQfreemem(line);
	if (rc || stop) /* the COPY is not read to its end: the reader is done with */
		return rc;
	r->copying = 0;
	res = PQgetResult(r->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		dbs__pgs_pq_err(err, errlen, t->qname, r->conn);
		rc = result_lost_or(r->conn, res, DBS_ESOURCE);
	}
	PQclear(res);
	while ((res = PQgetResult(r->conn)) != NULL)
		PQclear(res);
	if (!rc && dbs_batch_count(r->batch))
		rows_fn(r->batch, rows_data);
	dbs_batch_reset(r->batch);
	return rc;
}

static void pg_reader_close(dbs_snapshot_reader *base)
{
	pg_reader *r = (pg_reader *)base;
	if (!r)
		return;
	PQfinish(r->conn);
	dbs_batch_free(r->batch);
	dbs_buf_free(&r->sql);
	dbs_buf_free(&r->field);
	free(r);
}

/* ---- the snapshot ---- */

static void pg_snap_close(dbs_snapshot *base)
{
	pg_snapshot *sn = (pg_snapshot *)base;
	if (!sn)
		return;
	for (uint32_t i = 0; i < sn->ntables; i++)
		snap_table_free(&sn->tables[i]);
	free(sn->tables);
	free(sn->loads);
	free(sn->points);
	free(sn->export);
	PQfinish(sn->slot_conn);
	PQfinish(sn->src.sql);
	dbs__sql_filter_free(&sn->src.filter);
	free(sn);
}

static int pg_snap_open(dbs_snapshot **out, const dbs_source_config *config,
                        const dbs_host *host, dbs_source *stream, char *err, size_t errlen)
{
	pg_snapshot *sn = calloc(1, sizeof *sn);
	int rc;
	*out = NULL;
	if (!sn)
		return oom(err, errlen);
	sn->base.ops = &dbs__postgresql_snapshot_ops;
	sn->config = config;
	sn->positions = stream != NULL;
	sn->cdc_pub = stream != NULL;
	sn->src.host = host;
	sn->src.config = config;
	if (stream) {
		const pg_source *ps = (const pg_source *)stream;
		if (ps->export_name && !(sn->export = strdup(ps->export_name))) {
			rc = oom(err, errlen);
			goto fail;
		}
		sn->export_lsn = ps->export_lsn;
	}
	if (dbs__sql_filter_init(&sn->src.filter, config, "public")) {
		rc = oom(err, errlen);
		goto fail;
	}
	sn->src.sql = dbs__pgs_connect(config, 0);
	if (PQstatus(sn->src.sql) != CONNECTION_OK) {
		dbs__pgs_pq_err(err, errlen, "connecting to PostgreSQL", sn->src.sql);
		rc = DBS_ESOURCE;
		goto fail;
	}
	if ((rc = exec_ok(sn->src.sql, session_sql, "session settings", err, errlen)))
		goto fail;
	*out = &sn->base;
	return 0;
fail:
	if (rc == DBS_LOAD_LOST)
		rc = DBS_ESOURCE;
	pg_snap_close(&sn->base);
	return rc;
}

const dbs_snapshot_ops dbs__postgresql_snapshot_ops = {
	.version = DBS_SNAPSHOT_OPS_VERSION,
	.open = pg_snap_open,
	.tables = pg_tables,
	.plan = pg_plan,
	.reader_open = pg_reader_open,
	.read = pg_read,
	.reader_close = pg_reader_close,
	.close = pg_snap_close,
};
