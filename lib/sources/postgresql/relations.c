/*
 * PostgreSQL source: the relation cache. A Relation message (sent before
 * a table's first change and again after ALTER or TRUNCATE) becomes a
 * dbs_table, with the key, NOT NULL flags and secondary indexes read
 * from the catalog once per definition; the table filter decides which
 * relations are captured.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/postgresql/pg_source.h"

/* ---- filter ---- */

static unsigned filter_ops(const pg_source *s, const dbs_pgo_str *nsp, const dbs_pgo_str *rel)
{
	if (s->filter.n == 0)
		return DBS_OPS_ALL;
	return dbs__sql_filter_ops(&s->filter, nsp->s, nsp->len, rel->s, rel->len);
}

/* ---- relation cache ---- */

/* Linear: a stream follows few tables, and the last hit is usually next. */
rel_entry *dbs__pgs_rel_find(pg_source *s, uint32_t relid)
{
	for (size_t i = 0; i < s->nrels; i++)
		if (s->rels[i].relid == relid)
			return &s->rels[i];
	return NULL;
}

/* Append `str` (`n` bytes) to `b`; with `quote` as an element of a text[]
 * literal: "..." with " and \ escaped. */
int dbs__pgs_arr_put(dbs_buf *b, const char *str, size_t n, int quote)
{
	if (n > (SIZE_MAX - 3) / 2 || dbs_buf_reserve(b, 2 * n + 2))
		return DBS_ENOMEM;
	char *d = b->data + b->len;
	if (quote)
		*d++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (quote && (str[i] == '"' || str[i] == '\\'))
			*d++ = '\\';
		*d++ = str[i];
	}
	if (quote)
		*d++ = '"';
	*d = '\0';
	b->len = (size_t)(d - b->data);
	return 0;
}

static int same_table(const dbs_table *t, const char *schema, const char *name,
                      const dbs_column *cols, uint32_t ncols)
{
	if (t->ncolumns != ncols || strcmp(t->schema, schema) != 0 || strcmp(t->name, name) != 0)
		return 0;
	for (uint32_t i = 0; i < ncols; i++) {
		const dbs_column *a = &t->columns[i], *b = &cols[i];
		if (strcmp(a->name, b->name) != 0 || strcmp(a->type_name, b->type_name) != 0 ||
		    a->type_id != b->type_id || a->type_mod != b->type_mod || a->flags != b->flags)
			return 0;
	}
	return 1;
}

/*
 * Secondary indexes of relation `relid` into `table` (not shared yet), in
 * the same catalog round as its columns: once per relation definition.
 * Only indexes a target can rebuild from column names are kept: plain key
 * columns of a valid btree or hash index (a hash index becomes a btree
 * one at the target, which answers the same equality lookups). Expression
 * and partial indexes, other access methods, exclusion constraints and
 * INCLUDE columns are left out with a log line naming them.
 */
int dbs__pgs_rel_indexes(pg_source *s, dbs_table *table, const char *relid, char *err,
                         size_t errlen)
{
	int rc = DBS_ESOURCE;
	uint32_t *pos = NULL;
	const char *params[1] = {relid};
	PGresult *res = PQexecParams(
	    s->sql,
	    "SELECT c.relname, i.indisunique,"
	    " i.indexprs IS NOT NULL OR 0 = ANY (i.indkey::int2[]),"
	    " i.indpred IS NOT NULL, am.amname IN ('btree', 'hash'),"
	    " i.indisvalid AND NOT i.indisexclusion, i.indnatts > i.indnkeyatts,"
	    " ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o)"
	    "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n"
	    "  WHERE k.o <= i.indnkeyatts ORDER BY k.o)"
	    " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
	    " JOIN pg_am am ON am.oid = c.relam"
	    " WHERE i.indrelid = $1::oid AND NOT i.indisprimary ORDER BY c.relname",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "reading the indexes of a relation", s->sql);
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(pos = calloc(table->ncolumns ? table->ncolumns : 1, sizeof *pos)))
		goto fail;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *name = PQgetvalue(res, r, 0);
		const char *why = NULL;
		if (PQgetvalue(res, r, 2)[0] == 't')
			why = "an expression index";
		else if (PQgetvalue(res, r, 3)[0] == 't')
			why = "a partial index";
		else if (PQgetvalue(res, r, 4)[0] != 't')
			why = "neither btree nor hash";
		else if (PQgetvalue(res, r, 5)[0] != 't')
			why = "invalid or an exclusion constraint";
		/* The key columns as a text[] literal of plain names: {a,"b c"}. */
		const char *p = PQgetvalue(res, r, 7);
		uint32_t n = 0;
		char col[NAMEDATALEN_MAX];
		if (*p == '{')
			p++;
		while (!why && *p && *p != '}') {
			size_t len = 0;
			int quoted = *p == '"';
			if (quoted)
				p++;
			while (*p && (quoted ? *p != '"' : (*p != ',' && *p != '}'))) {
				if (quoted && *p == '\\' && p[1])
					p++;
				if (len + 1 < sizeof col)
					col[len++] = *p;
				p++;
			}
			col[len] = '\0';
			if (quoted && *p == '"')
				p++;
			if (*p == ',')
				p++;
			uint32_t c = 0;
			while (c < table->ncolumns && strcmp(table->columns[c].name, col) != 0)
				c++;
			if (c == table->ncolumns || n == table->ncolumns)
				why = "on a column the publication does not send";
			else
				pos[n++] = c;
		}
		if (!why && n == 0)
			why = "without key columns";
		if (why) {
			dbs_log(s->host, DBS_LOG_INFO, "%s.%s: index %s not replicated (%s)", table->schema,
			     table->name, name, why);
			continue;
		}
		if (PQgetvalue(res, r, 6)[0] == 't')
			dbs_log(s->host, DBS_LOG_INFO,
			     "%s.%s: index %s replicated without its INCLUDE columns",
			     table->schema, table->name, name);
		uint32_t flags = PQgetvalue(res, r, 1)[0] == 't' ? DBS_INDEX_UNIQUE : 0;
		if (dbs_table_add_index(table, name, flags, pos, n) != 0)
			goto fail;
	}
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	free(pos);
	PQclear(res);
	return rc;
}

/* attnum `att` of relation `relid` (ctx) is a dropped column now. */
struct dropped_ctx {
	pg_source *s;
	const char *relid;
};

static int att_dropped(void *ctx, int32_t att)
{
	struct dropped_ctx *d = ctx;
	char num[16];
	snprintf(num, sizeof num, "%d", (int)att);
	const char *params[2] = {d->relid, num};
	PGresult *res = PQexecParams(d->s->sql,
	                             "SELECT attisdropped FROM pg_attribute"
	                             " WHERE attrelid = $1::oid AND attnum = $2::int2",
	                             2, NULL, params, NULL, NULL, 0);
	int rc = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		rc = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return rc;
}

/* ---- definitions replaced by schema events not yet emitted ---- */

void dbs__pgs_undo_clear(pg_source *s)
{
	for (size_t i = 0; i < s->nundo; i++) {
		dbs_table_unref(s->undo[i].table);
		free(s->undo[i].attnums);
	}
	s->nundo = 0;
}

void dbs__pgs_undo_apply(pg_source *s)
{
	while (s->nundo) {
		rel_undo *u = &s->undo[--s->nundo];
		rel_entry *e = dbs__pgs_rel_find(s, u->relid);
		if (!e) {
			dbs_table_unref(u->table);
			free(u->attnums);
			continue;
		}
		dbs_table_unref(e->table);
		free(e->attnums);
		e->table = u->table;
		e->attnums = u->attnums;
		e->operations = u->operations;
	}
}

/* ---- the columns where the stream starts ---- */

struct rel_baseline {
	uint32_t relid;
	int32_t attnum;
	char *name;
};

void dbs__pgs_baseline_free(pg_source *s)
{
	for (size_t i = 0; i < s->nbaseline; i++)
		free(s->baseline[i].name);
	free(s->baseline);
	s->baseline = NULL;
	s->nbaseline = 0;
}

int dbs__pgs_baseline_load(pg_source *s, char *err, size_t errlen)
{
	const char *params[1] = {s->pub};
	PGresult *res = PQexecParams(
	    s->sql,
	    "SELECT c.oid, a.attnum, a.attname FROM pg_publication_tables pt"
	    " JOIN pg_namespace n ON n.nspname = pt.schemaname"
	    " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename"
	    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
	    " WHERE pt.pubname = $1",
	    1, NULL, params, NULL, NULL, 0);
	int rc = DBS_ESOURCE;
	dbs__pgs_baseline_free(s);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, "reading the columns of the published tables", s->sql);
		goto done;
	}
	rc = DBS_ENOMEM;
	int n = PQntuples(res);
	if (n && !(s->baseline = calloc((size_t)n, sizeof *s->baseline)))
		goto done;
	for (int r = 0; r < n; r++) {
		struct rel_baseline *b = &s->baseline[s->nbaseline];
		if (!(b->name = strdup(PQgetvalue(res, r, 2))))
			goto done;
		b->relid = (uint32_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);
		b->attnum = (int32_t)strtol(PQgetvalue(res, r, 1), NULL, 10);
		s->nbaseline++;
	}
	rc = 0;
done:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	PQclear(res);
	return rc;
}

/* Column `name` of relation `relid` when the source opened; 0: unknown. */
static int32_t baseline_attnum(const pg_source *s, uint32_t relid, const char *name)
{
	for (size_t i = 0; i < s->nbaseline; i++)
		if (s->baseline[i].relid == relid && strcmp(s->baseline[i].name, name) == 0)
			return s->baseline[i].attnum;
	return 0;
}

/* What changed from the captured definition e->table to `table` (or the
 * table came into the filter by a rename), as a schema event placed
 * before the change that follows the Relation message; *added when one
 * was. */
static int schema_change(pg_source *s, rel_entry *e, const dbs_table *table, unsigned ops,
                         const int32_t *attnums, PGresult *res, const char *relid, int *added,
                         char *err, size_t errlen)
{
	dbs_batch *b = NULL;
	dbs_pgs_default *defs = NULL;
	dbs_schema_event *se = NULL;
	int rc = DBS_ENOMEM;
	if (!s->in_txn) {
		/* pgoutput sends a Relation only before a change, inside its
		 * transaction: nothing to place a change at. */
		dbs_log(s->host, DBS_LOG_WARN, "%s.%s: definition changed outside a transaction",
		        table->schema, table->name);
		return 0;
	}
	if (dbs_batch_new(&b, 1) != 0 ||
	    !(defs = calloc(table->ncolumns ? table->ncolumns : 1, sizeof *defs)))
		goto done;
	for (uint32_t i = 0; i < table->ncolumns; i++) {
		const char *missing = PQgetisnull(res, (int)i, 4) ? NULL : PQgetvalue(res, (int)i, 4);
		const char *expr = PQgetisnull(res, (int)i, 5) ? NULL : PQgetvalue(res, (int)i, 5);
		if (dbs__pgs_default_of(b, missing, expr, &defs[i].kind, &defs[i].text) != 0)
			goto done;
	}
	if (e->operations) {
		struct dropped_ctx dc = {s, relid};
		dbs_pgs_diff_in in = {e->table, table, e->attnums, attnums, defs, att_dropped, &dc};
		if ((rc = dbs__pgs_schema_diff(b, &in, &se)) != 0)
			goto done;
	} else if (ops) {
		/* Renamed into the filter: new to the stream, its rows never
		 * captured. The target creates it; what it held is not copied. */
		dbs_schema_change *c = dbs_batch_alloc(b, sizeof *c);
		se = dbs_batch_alloc(b, sizeof *se);
		char *stmt = dbs_batch_alloc(b, 2 * NAMEDATALEN_MAX + 96);
		if (!c || !se || !stmt)
			goto done;
		memset(c, 0, sizeof *c);
		c->kind = DBS_SCHEMA_CREATE_TABLE;
		dbs_fmt(stmt, 2 * NAMEDATALEN_MAX + 96, "%s.%s renamed from %s.%s (from the Relation message)",
		        table->schema, table->name, e->table->schema, e->table->name);
		se->statement = stmt;
		se->nchanges = 1;
		se->changes = c;
		dbs_log(s->host, DBS_LOG_WARN,
		        "%s.%s: renamed from %s.%s, which the filter left out: created at the target "
		        "from here on, without the rows it held before",
		        table->schema, table->name, e->table->schema, e->table->name);
	}
	rc = 0;
	if (se) {
		rc = dbs__pgs_schema_add(s, b, table, se, err, errlen);
		b = NULL; /* the source's now */
		*added = rc == 0;
		if (rc == 0 && s->batch && !s->stop)
			dbs__pgs_history_save(s, e->relid, e->table, e->attnums, table, attnums,
			                      dbs_batch_last(s->batch));
	}
done:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	dbs_batch_free(b);
	free(defs);
	return rc;
}

/*
 * Build the dbs_table of a Relation message. Names and type OIDs come from
 * the message (the tuples follow its column list); the type's spelling,
 * NOT NULL and primary key membership from the catalog. A relation seen
 * before whose definition differs becomes a schema event (schema.c).
 */
int dbs__pgs_rel_update(pg_source *s, const dbs_pgo_msg *m, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_buf names = DBS_BUF_INIT, oids = DBS_BUF_INIT, mods = DBS_BUF_INIT;
	PGresult *res = NULL;
	dbs_column *cols = NULL;
	char *schema = NULL, *relname = NULL;
	dbs_table *table = NULL;
	int32_t *attnums = NULL;
	uint32_t ncols = m->u.relation.ncols;
	dbs_pgo_iter it;
	dbs_pgo_relcol rc_;
	char relid[16], num[24];

	unsigned ops = filter_ops(s, &m->u.relation.nspname, &m->u.relation.relname);
	rel_entry *e = dbs__pgs_rel_find(s, m->u.relation.relid);
	dbs_table *kept;
	int32_t *kept_att;
	/* First seen in this session, but known from before a restart: what
	 * it is now is compared with that. */
	if (!e && dbs__pgs_history_take(s, m->u.relation.relid, &kept, &kept_att)) {
		if (dbs_array_reserve((void **)&s->rels, &s->rels_cap, s->nrels + 1, sizeof *s->rels)) {
			dbs_table_unref(kept);
			free(kept_att);
			goto fail;
		}
		e = &s->rels[s->nrels++];
		memset(e, 0, sizeof *e);
		e->relid = m->u.relation.relid;
		e->table = kept;
		e->attnums = kept_att;
		e->restored = 1;
		dbs_pgo_str nsp = {kept->schema, strlen(kept->schema)};
		dbs_pgo_str rel = {kept->name, strlen(kept->name)};
		e->operations = filter_ops(s, &nsp, &rel);
	}

	schema = strndup(m->u.relation.nspname.s, m->u.relation.nspname.len);
	relname = strndup(m->u.relation.relname.s, m->u.relation.relname.len);
	cols = calloc(ncols ? ncols : 1, sizeof *cols);
	attnums = calloc(ncols ? ncols : 1, sizeof *attnums);
	if (!schema || !relname || !cols || !attnums)
		goto fail;
	/* A definition seen before may become a schema event whose added
	 * columns' defaults are values in text: in the stream's own forms. */
	if (e && (e->operations || ops)) {
		PGresult *set = PQexec(s->sql, "SET bytea_output = hex; SET DateStyle = ISO; "
		                                "SET IntervalStyle = postgres; SET extra_float_digits = 3; "
		                                "SET TimeZone = 'UTC'");
		int ok = PQresultStatus(set) == PGRES_COMMAND_OK;
		PQclear(set);
		if (!ok) {
			dbs__pgs_pq_err(err, errlen, "setting the session's output forms", s->sql);
			rc = DBS_ESOURCE;
			goto fail;
		}
	}

	/* The catalog of a relation captured now or until now. */
	if (ops || (e && e->operations)) {
		if (dbs__pgs_arr_put(&names, "{", 1, 0) || dbs__pgs_arr_put(&oids, "{", 1, 0) ||
		    dbs__pgs_arr_put(&mods, "{", 1, 0))
			goto fail;
		dbs__pgo_relcols_iter(&it, m);
		for (uint32_t i = 0; dbs__pgo_relcols_next(&it, &rc_); i++) {
			const char *sep = i ? "," : "";
			if (dbs__pgs_arr_put(&names, sep, strlen(sep), 0) ||
			    dbs__pgs_arr_put(&names, rc_.name.s, rc_.name.len, 1))
				goto fail;
			int n = snprintf(num, sizeof num, "%s%u", sep, rc_.type_oid);
			if (n < 0 || (size_t)n >= sizeof num ||
			    dbs__pgs_arr_put(&oids, num, (size_t)n, 0))
				goto fail;
			n = snprintf(num, sizeof num, "%s%d", sep, (int)rc_.type_mod);
			if (n < 0 || (size_t)n >= sizeof num ||
			    dbs__pgs_arr_put(&mods, num, (size_t)n, 0))
				goto fail;
		}
		if (dbs__pgs_arr_put(&names, "}", 1, 0) || dbs__pgs_arr_put(&oids, "}", 1, 0) ||
		    dbs__pgs_arr_put(&mods, "}", 1, 0))
			goto fail;
		snprintf(relid, sizeof relid, "%u", m->u.relation.relid);
		const char *params[4] = {relid, oids.data, mods.data, names.data};
		res = PQexecParams(
		    s->sql,
		    "SELECT format_type(u.t, nullif(u.m, -1)), coalesce(a.attnotnull, false),"
		    " coalesce(a.attnum = ANY (i.indkey), false), coalesce(a.attnum, 0),"
		    " CASE WHEN a.atthasmissing THEN (a.attmissingval::text::text[])[1] END,"
		    " pg_get_expr(d.adbin, d.adrelid)"
		    " FROM unnest($2::oid[], $3::int4[], $4::text[]) WITH ORDINALITY AS u(t, m, n, "
		    "o)"
		    " LEFT JOIN pg_attribute a ON a.attrelid = $1::oid AND a.attname = u.n"
		    "  AND a.attnum > 0 AND NOT a.attisdropped"
		    " LEFT JOIN pg_index i ON i.indrelid = $1::oid AND i.indisprimary"
		    " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
		    " ORDER BY u.o",
		    4, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			dbs__pgs_pq_err(err, errlen, "reading the catalog of a relation", s->sql);
			rc = DBS_ESOURCE;
			goto fail;
		}
		if ((uint32_t)PQntuples(res) != ncols) {
			dbs_fmt(err, errlen, "catalog of %s.%s: %d columns, expected %u", schema,
			         relname, PQntuples(res), ncols);
			rc = DBS_ESOURCE;
			goto fail;
		}
	}
	dbs__pgo_relcols_iter(&it, m);
	for (uint32_t i = 0; dbs__pgo_relcols_next(&it, &rc_); i++) {
		cols[i].name = rc_.name.s; /* NUL-terminated in the message */
		cols[i].type_id = rc_.type_oid;
		cols[i].type_mod = rc_.type_mod;
		cols[i].type_name = res ? PQgetvalue(res, (int)i, 0) : "";
		if (res && PQgetvalue(res, (int)i, 1)[0] == 't')
			cols[i].flags |= DBS_COLUMN_NOT_NULL;
		if (res && PQgetvalue(res, (int)i, 2)[0] == 't')
			cols[i].flags |= DBS_COLUMN_KEY;
		if (res)
			attnums[i] = (int32_t)strtol(PQgetvalue(res, (int)i, 3), NULL, 10);
		/* A column seen before keeps the attnum it had (the catalog may
		 * be past a later rename by now); first seen, the one it had
		 * where the stream started, if it was there. */
		int32_t was = 0;
		for (uint32_t k = 0; e && e->attnums && k < e->table->ncolumns && !was; k++)
			if (strcmp(e->table->columns[k].name, cols[i].name) == 0)
				was = e->attnums[k];
		if (!e)
			was = baseline_attnum(s, m->u.relation.relid, cols[i].name);
		if (was > 0)
			attnums[i] = was;
	}
	/* The server sends a Relation again after a streamed transaction or a
	 * restart even when nothing changed: keep the definition then, so a
	 * version change always means a schema change. */
	if (e && !e->restored && same_table(e->table, schema, relname, cols, ncols)) {
		e->operations = ops;
		for (uint32_t i = 0; i < ncols; i++)
			if (e->attnums && e->attnums[i] <= 0)
				e->attnums[i] = attnums[i];
		rc = 0;
		goto fail;
	}
	rc = dbs_table_new(&table, DBS_DIALECT_POSTGRESQL, schema, relname, cols, ncols);
	if (rc != 0) {
		dbs_fmt(err, errlen, "%s", dbs_error_last());
		goto fail;
	}
	table->source_id = m->u.relation.relid;
	if (ops && (rc = dbs__pgs_rel_indexes(s, table, relid, err, errlen)) != 0)
		goto fail;
	int added = 0;
	if (e && (e->operations || ops) && res &&
	    (rc = schema_change(s, e, table, ops, attnums, res, relid, &added, err, errlen)) != 0)
		goto fail;
	rc = DBS_ENOMEM;
	if (e && added &&
	    dbs_array_reserve((void **)&s->undo, &s->undo_cap, s->nundo + 1, sizeof *s->undo))
		goto fail;
	if (e) {
		table->version = e->table->version + 1;
		if (added) {
			/* Kept until the event leaves. */
			s->undo[s->nundo++] = (rel_undo){e->relid, e->table, e->attnums, e->operations};
		} else {
			dbs_table_unref(e->table);
			free(e->attnums);
		}
	} else {
		if (ops)
			dbs__pgs_history_first(s, m->u.relation.relid, table, attnums);
		if (dbs_array_reserve((void **)&s->rels, &s->rels_cap, s->nrels + 1,
		                      sizeof *s->rels))
			goto fail;
		e = &s->rels[s->nrels++];
		e->relid = m->u.relation.relid;
	}
	e->table = table;
	e->operations = ops;
	e->attnums = attnums;
	e->restored = 0;
	table = NULL;
	attnums = NULL;
	rc = 0;
fail:
	if (table)
		dbs_table_unref(table);
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	PQclear(res);
	dbs_buf_free(&names);
	dbs_buf_free(&oids);
	dbs_buf_free(&mods);
	free(cols);
	free(attnums);
	free(schema);
	free(relname);
	return rc;
}
