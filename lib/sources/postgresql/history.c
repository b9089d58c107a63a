/*
 * PostgreSQL source: the definitions its schema events were found
 * against, kept in the source database.
 *
 * A change of definition shows only as a Relation message that differs
 * from the one before (schema.c), and the server sends a relation's
 * definition afresh to every new session. A source opened again at a
 * position before a change (a restart, a stream resumed after it stopped
 * at an unsafe change, the core starting over from the target's
 * checkpoint) would take the changed definition as the first one and the
 * change would be lost. So each definition a schema event replaced, and
 * the one it brought, are stored with the event's position, per
 * replication slot, and so is the definition a relation had when the
 * stream first saw it (from the start: any change after it is stored as
 * it is found). A source opened at position R starts each relation from
 * the newest definition stored at or before R, so a change made while the
 * stream was stopped is found too.
 *
 * The table is UNLOGGED: logical decoding never sees its rows (no
 * publication carries it), and it costs no WAL. A crash of the
 * PostgreSQL server empties it; a source without it (or without the
 * right to create it) works as before, with a warning.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/postgresql/pg_source.h"

#define HISTORY "public.dbstreams_relation_history"

struct rel_history {
	uint32_t relid;
	dbs_table *table; /* one reference */
	int32_t *attnums;
};

static void history_free(pg_source *s)
{
	for (size_t i = 0; i < s->nhistory; i++) {
		dbs_table_unref(s->history[i].table);
		free(s->history[i].attnums);
	}
	free(s->history);
	s->history = NULL;
	s->nhistory = 0;
}

void dbs__pgs_history_free(pg_source *s)
{
	history_free(s);
}

static void history_off(pg_source *s, const char *what)
{
	char msg[512];
	dbs__pgs_pq_err(msg, sizeof msg, what, s->sql);
	dbs_log(s->host, DBS_LOG_WARN,
	        "%s; schema changes found before a restart of the source but not yet applied "
	        "at the target will not be found again",
	        msg);
	s->history_off = 1;
}

static int exec_params(pg_source *s, const char *sql, int n, const char *const *params,
                       ExecStatusType want, PGresult **out)
{
	PGresult *res = PQexecParams(s->sql, sql, n, NULL, params, NULL, NULL, 0);
	int ok = PQresultStatus(res) == want;
	if (out && ok)
		*out = res;
	else
		PQclear(res);
	return ok;
}

/* Build the definitions stored at or before `resume` (rows of the query
 * below, one per column, ordered by relation and position). */
static int history_build(pg_source *s, PGresult *res, char *err, size_t errlen)
{
	int n = PQntuples(res), rc = DBS_ENOMEM;
	dbs_column *cols = calloc((size_t)(n ? n : 1), sizeof *cols);
	int32_t *atts = NULL;
	if (!cols)
		goto done;
	for (int r = 0; r < n;) {
		const char *relid = PQgetvalue(res, r, 0);
		int end = r;
		while (end < n && strcmp(PQgetvalue(res, end, 0), relid) == 0)
			end++;
		uint32_t nc = (uint32_t)(end - r);
		if (!(atts = calloc(nc, sizeof *atts)))
			goto done;
		for (uint32_t i = 0; i < nc; i++) {
			int row = r + (int)i;
			cols[i].name = PQgetvalue(res, row, 3);
			cols[i].type_name = PQgetvalue(res, row, 4);
			cols[i].type_id = (uint32_t)strtoul(PQgetvalue(res, row, 5), NULL, 10);
			cols[i].type_mod = (int32_t)strtol(PQgetvalue(res, row, 6), NULL, 10);
			cols[i].flags = (uint32_t)strtoul(PQgetvalue(res, row, 7), NULL, 10);
			atts[i] = (int32_t)strtol(PQgetvalue(res, row, 8), NULL, 10);
		}
		dbs_table *t;
		if (dbs_table_new(&t, DBS_DIALECT_POSTGRESQL, PQgetvalue(res, r, 1),
		                  PQgetvalue(res, r, 2), cols, nc) != 0)
			goto done;
		t->source_id = (uint32_t)strtoul(relid, NULL, 10);
		if (dbs_array_reserve((void **)&s->history, &s->history_cap, s->nhistory + 1,
		                      sizeof *s->history)) {
			dbs_table_unref(t);
			goto done;
		}
		s->history[s->nhistory++] = (struct rel_history){t->source_id, t, atts};
		atts = NULL;
		r = end;
	}
	rc = 0;
done:
	if (rc)
		dbs_fmt(err, errlen, "out of memory");
	free(atts);
	free(cols);
	return rc;
}

int dbs__pgs_history_open(pg_source *s, const dbs_position *resume, char *err, size_t errlen)
{
	const char *slot = s->slot;
	PGresult *res = NULL;
	history_free(s);
	/* Created once (IF NOT EXISTS alone would say so on stderr each time). */
	if (!exec_params(s, "SELECT 1 WHERE to_regclass('" HISTORY "') IS NULL", 0, NULL,
	                 PGRES_TUPLES_OK, &res)) {
		history_off(s, "looking for " HISTORY);
		return 0;
	}
	int missing = PQntuples(res) == 1;
	PQclear(res);
	res = NULL;
	if (missing &&
	    !exec_params(s, "CREATE UNLOGGED TABLE IF NOT EXISTS " HISTORY
	                    " (slot text NOT NULL, relid oid NOT NULL, txn numeric(20,0) NOT NULL,"
	                    " event bigint NOT NULL, nspname text NOT NULL, relname text NOT NULL,"
	                    " names text[] NOT NULL, type_names text[] NOT NULL,"
	                    " type_ids oid[] NOT NULL, type_mods int[] NOT NULL,"
	                    " flags int[] NOT NULL, attnums int[] NOT NULL,"
	                    " PRIMARY KEY (slot, relid, txn, event))",
	                 0, NULL, PGRES_COMMAND_OK, NULL)) {
		history_off(s, "keeping the definitions of schema changes in " HISTORY);
		return 0;
	}
	/* A new stream: what an earlier one of this slot's name kept is moot. */
	if (!resume) {
		const char *p[1] = {slot};
		if (!exec_params(s, "DELETE FROM " HISTORY " WHERE slot = $1", 1, p, PGRES_COMMAND_OK,
		                 NULL))
			history_off(s, "clearing " HISTORY);
		return 0;
	}
	char txn[24], event[16];
	snprintf(txn, sizeof txn, "%" PRIu64, resume->txn);
	snprintf(event, sizeof event, "%" PRIu32, resume->event);
	const char *p[3] = {slot, txn, event};
	if (!exec_params(
	        s,
	        "WITH h AS (SELECT DISTINCT ON (relid) * FROM " HISTORY
	        " WHERE slot = $1 AND (txn < $2::numeric OR (txn = $2::numeric AND event <= "
	        "$3::bigint))"
	        " ORDER BY relid, txn DESC, event DESC)"
	        " SELECT h.relid, h.nspname, h.relname, u.n, u.tn, u.ti, u.tm, u.f, u.a FROM h,"
	        " unnest(h.names, h.type_names, h.type_ids, h.type_mods, h.flags, h.attnums)"
	        " WITH ORDINALITY AS u(n, tn, ti, tm, f, a, o) ORDER BY h.relid, u.o",
	        3, p, PGRES_TUPLES_OK, &res)) {
		history_off(s, "reading " HISTORY);
		return 0;
	}
	int rc = history_build(s, res, err, errlen);
	PQclear(res);
	if (rc == 0 && s->nhistory)
		dbs_log(s->host, DBS_LOG_INFO,
		        "%zu relation definitions from before a schema change found again", s->nhistory);
	return rc;
}

int dbs__pgs_history_take(pg_source *s, uint32_t relid, dbs_table **table, int32_t **attnums)
{
	for (size_t i = 0; i < s->nhistory; i++) {
		if (s->history[i].relid != relid)
			continue;
		*table = s->history[i].table;
		*attnums = s->history[i].attnums;
		s->history[i] = s->history[--s->nhistory];
		return 1;
	}
	return 0;
}

/* The definition as the columns of an array literal each. */
static int arrays(const dbs_table *t, const int32_t *att, dbs_buf a[6])
{
	char num[24];
	for (int k = 0; k < 6; k++)
		if (dbs__pgs_arr_put(&a[k], "{", 1, 0))
			return DBS_ENOMEM;
	for (uint32_t i = 0; i < t->ncolumns; i++) {
		const dbs_column *c = &t->columns[i];
		const char *sep = i ? "," : "";
		int64_t v[4] = {c->type_id, c->type_mod, c->flags, att ? att[i] : 0};
		if (dbs__pgs_arr_put(&a[0], sep, strlen(sep), 0) ||
		    dbs__pgs_arr_put(&a[0], c->name, strlen(c->name), 1) ||
		    dbs__pgs_arr_put(&a[1], sep, strlen(sep), 0) ||
		    dbs__pgs_arr_put(&a[1], c->type_name, strlen(c->type_name), 1))
			return DBS_ENOMEM;
		for (int k = 0; k < 4; k++) {
			int n = snprintf(num, sizeof num, "%s%" PRId64, sep, v[k]);
			if (dbs__pgs_arr_put(&a[2 + k], num, (size_t)n, 0))
				return DBS_ENOMEM;
		}
	}
	for (int k = 0; k < 6; k++)
		if (dbs__pgs_arr_put(&a[k], "}", 1, 0))
			return DBS_ENOMEM;
	return 0;
}

static int store(pg_source *s, const dbs_table *t, const int32_t *att, uint32_t relid,
                 uint64_t txn, uint32_t event, int only_first)
{
	dbs_buf a[6];
	char rel[16], tx[24], ev[16];
	int rc = DBS_ENOMEM;
	memset(a, 0, sizeof a);
	if (arrays(t, att, a))
		goto done;
	snprintf(rel, sizeof rel, "%" PRIu32, relid);
	snprintf(tx, sizeof tx, "%" PRIu64, txn);
	snprintf(ev, sizeof ev, "%" PRIu32, event);
	const char *p[11] = {s->slot,   rel,       tx,        ev,        t->schema, t->name,
	                     a[0].data, a[1].data, a[2].data, a[3].data, a[4].data};
	const char *p12[12];
	memcpy(p12, p, sizeof p);
	p12[11] = a[5].data;
	/* The definition before the first change stored: from the start. */
	rc = exec_params(s,
	                 only_first
	                     ? "INSERT INTO " HISTORY " SELECT $1, $2::oid, $3::numeric, $4::bigint, $5,"
	                       " $6, $7::text[], $8::text[], $9::oid[], $10::int[], $11::int[],"
	                       " $12::int[] WHERE NOT EXISTS (SELECT 1 FROM " HISTORY
	                       " WHERE slot = $1 AND relid = $2::oid)"
	                     : "INSERT INTO " HISTORY " VALUES ($1, $2::oid, $3::numeric, $4::bigint,"
	                       " $5, $6, $7::text[], $8::text[], $9::oid[], $10::int[], $11::int[],"
	                       " $12::int[]) ON CONFLICT (slot, relid, txn, event) DO UPDATE SET"
	                       " nspname = EXCLUDED.nspname, relname = EXCLUDED.relname,"
	                       " names = EXCLUDED.names, type_names = EXCLUDED.type_names,"
	                       " type_ids = EXCLUDED.type_ids, type_mods = EXCLUDED.type_mods,"
	                       " flags = EXCLUDED.flags, attnums = EXCLUDED.attnums",
	                 12, p12, PGRES_COMMAND_OK, NULL)
	         ? 0
	         : DBS_ESOURCE;
done:
	for (int k = 0; k < 6; k++)
		dbs_buf_free(&a[k]);
	return rc;
}

void dbs__pgs_history_save(pg_source *s, uint32_t relid, const dbs_table *old,
                           const int32_t *old_att, const dbs_table *now, const int32_t *now_att,
                           const dbs_position *at)
{
	if (s->history_off)
		return;
	if (store(s, old, old_att, relid, 0, 0, 1) != 0 ||
	    store(s, now, now_att, relid, at->txn, at->event, 0) != 0)
		history_off(s, "keeping the definition of a schema change in " HISTORY);
}

void dbs__pgs_history_first(pg_source *s, uint32_t relid, const dbs_table *t,
                            const int32_t *attnums)
{
	if (!s->history_off && store(s, t, attnums, relid, 0, 0, 1) != 0)
		history_off(s, "keeping the definition of a table in " HISTORY);
}
