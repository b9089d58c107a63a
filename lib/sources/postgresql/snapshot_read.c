/*
 * PostgreSQL source, snapshot: the plan of a table's chunks, the snapshot
 * the readers share, and the readers that copy the chunks. Apart from the
 * tables (snapshot_tables.c) because readers run in parallel, each on a
 * session of its own.
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/postgresql/snapshot.h"

typedef struct pg_reader {
	dbs_snapshot_reader base; /* first */
	pg_snapshot *snap;
	PGconn *conn;
	dbs_batch *batch;
	dbs_buf sql, field;
	int copying;
} pg_reader;

/* The walsender's output settings, for an ordinary session. */
static const char session_sql[] =
	"SET bytea_output = hex; SET DateStyle = ISO; SET IntervalStyle = postgres; "
	"SET extra_float_digits = 3; SET TimeZone = 'UTC'; SET client_encoding = 'UTF8'";

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

int dbs__pgs_snap_session(PGconn *c, char *err, size_t errlen)
{
	return exec_ok(c, session_sql, "session settings", err, errlen);
}

/* ---- the plan ---- */

static snap_table *table_of(pg_snapshot *sn, const dbs_load_table *table)
{
	return dbs__sql_snap_find(sn->tables, sizeof *sn->tables, sn->ntables, table);
}

/* A query of the plan (dbs_sql_snap_row_fn) on the catalog session. */
static int plan_row(void *ctx, const char *sql, uint32_t n, dbs_buf *fields, int *found,
                    const char *what, char *err, size_t errlen)
{
	PGconn *c = ctx;
	PGresult *res = PQexec(c, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgs_pq_err(err, errlen, what, c);
		PQclear(res);
		return DBS_ESOURCE;
	}
	*found = PQntuples(res) > 0 && PQnfields(res) >= (int)n;
	for (int k = 0; *found && k < (int)n && !rc; k++)
		rc = dbs_buf_append(fields, PQgetvalue(res, 0, k),
		                    (size_t)PQgetlength(res, 0, k)) ||
		     dbs_buf_append_char(fields, '\0');
	PQclear(res);
	return rc ? dbs__sql_snap_oom(err, errlen) : 0;
}

int dbs__pgs_snap_plan(dbs_snapshot *base, const dbs_load_table *table, uint64_t rows,
                       const dbs_value **points, uint32_t *n, uint64_t *counted, char *err,
                       size_t errlen)
{
	pg_snapshot *sn = (pg_snapshot *)base;
	snap_table *t = table_of(sn, table);
	const dbs_sql_snap_walk walk = {DBS_DIALECT_POSTGRESQL, sn->src.host, plan_row,
	                                sn->src.sql};
	return dbs__sql_snap_plan(&walk, t ? &t->s : NULL, rows, &sn->points, points, n, counted,
	                          err, errlen);
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
		rc = dbs__sql_snap_oom(err, errlen);
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

int dbs__pgs_snap_reader_open(dbs_snapshot *base, dbs_snapshot_reader **out,
                              uint64_t *position, char *err, size_t errlen)
{
	pg_snapshot *sn = (pg_snapshot *)base;
	pg_reader *r = calloc(1, sizeof *r);
	int rc;
	*out = NULL;
	*position = 0;
	if (!r)
		return dbs__sql_snap_oom(err, errlen);
	r->base.ops = &dbs__postgresql_snapshot_ops;
	r->snap = sn;
	r->conn = dbs__pgs_connect(sn->config, 0);
	if (PQstatus(r->conn) != CONNECTION_OK) {
		dbs__pgs_pq_err(err, errlen, "connecting to PostgreSQL", r->conn);
		rc = DBS_LOAD_LOST;
		goto fail;
	}
	if ((rc = dbs__pgs_snap_session(r->conn, err, errlen)) ||
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
				rc = dbs__sql_snap_oom(err, errlen);
				goto fail;
			}
			rc = 0;
		}
		if (rc)
			goto fail;
	}
	if (dbs_batch_new(&r->batch, 1000)) {
		rc = dbs__sql_snap_oom(err, errlen);
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

int dbs__pgs_snap_read(dbs_snapshot_reader *base, const dbs_load_table *table,
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
	if (dbs_buf_append_str(q, "COPY (") ||
	    dbs__sql_snap_chunk_select(q, DBS_DIALECT_POSTGRESQL, &t->s, chunk) ||
	    dbs_buf_append_str(q, ") TO STDOUT"))
		return dbs__sql_snap_oom(err, errlen);
	res = PQexec(r->conn, q->data);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		dbs__pgs_pq_err(err, errlen, t->s.qname, r->conn);
		rc = result_lost_or(r->conn, res, DBS_ESOURCE);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	r->copying = 1;
	dbs_batch_reset(r->batch);
	uint32_t ncols = t->s.def->ncolumns;
	for (;;) {
		int n = PQgetCopyData(r->conn, &line, 0);
		if (n == -1)
			break;
		if (n < 0) {
			PGresult *bad = PQgetResult(r->conn);
			if (bad && PQresultErrorMessage(bad)[0]) {
				dbs_fmt(err, errlen, "%s: %s", t->s.qname, PQresultErrorMessage(bad));
				for (char *c = err; *c; c++)
					if (*c == '\n' || *c == '\r')
						*c = c[1] ? ' ' : '\0';
			} else
				dbs__pgs_pq_err(err, errlen, t->s.qname, r->conn);
			rc = result_lost_or(r->conn, bad, DBS_ESOURCE);
			PQclear(bad);
			break;
		}
		const char *p = line, *end = line + n;
		if (end > p && end[-1] == '\n')
			end--;
		dbs_event *ev;
		if (dbs_batch_add(r->batch, DBS_OP_INSERT, t->s.def, &ev)) {
			rc = dbs__sql_snap_oom(err, errlen);
			break;
		}
		for (uint32_t c = 0; c < ncols; c++) {
			const char *next = NULL;
			size_t len = 0;
			if (!p) {
				dbs_fmt(err, errlen, "%s: a row with fewer columns than expected", t->s.qname);
				rc = DBS_EPROTO;
				break;
			}
			const char *v = copy_field(p, end, &next, &r->field, &len);
			if (v && dbs_batch_set_bytes(r->batch, &ev->after[c], DBS_VALUE_TEXT, v, len)) {
				rc = dbs__sql_snap_oom(err, errlen);
				break;
			}
			p = next;
		}
		PQfreemem(line);
		line = NULL;
		if (rc)
			break;
		if ((stop = dbs__sql_snap_hand_full(r->batch, batch_rows, rows_fn, rows_data)))
			break;
	}
	PQfreemem(line);
	if (rc || stop) /* the COPY is not read to its end: the reader is done with */
		return rc;
	r->copying = 0;
	res = PQgetResult(r->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		dbs__pgs_pq_err(err, errlen, t->s.qname, r->conn);
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

void dbs__pgs_snap_reader_close(dbs_snapshot_reader *base)
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
