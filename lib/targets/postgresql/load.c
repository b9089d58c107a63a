/*
 * PostgreSQL target: the initial load (dbs_load_ops). Tables are made
 * with their primary key before the rows and get their secondary indexes
 * and foreign keys after; a chunk's rows go by one COPY straight into the
 * table (target.options.writeMode "upsert": into the session's staging
 * table, then INSERT … ON CONFLICT DO UPDATE) and commit together with the
 * chunk's record in dbstreams_load (lib/sql/load.h). Each writer is a
 * session of its own, so chunks load side by side.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/load.h"
#include "sql/settings.h"
#include "sql/value_text.h"
#include "targets/postgresql/pg_target.h"

/* Rows formatted before they are handed to libpq. */
#define LOAD_COPY_BYTES (256u * 1024u)

typedef struct pg_writer {
	dbs_load_writer base; /* first */
	pg_target *t;         /* its own session */
	pg_table *tb;         /* the chunk's table */
	int copying;          /* inside COPY … FROM STDIN */
	int upsert;           /* the COPY fills the staging table */
} pg_writer;

static pg_target *pg_of(dbs_target *base)
{
	return (pg_target *)base;
}

/* A failure of the connection, not of the data, is DBS_LOAD_LOST. */
static int lost_or(pg_target *t, int rc)
{
	if (rc && (t->common.lost || !t->conn || PQstatus(t->conn) != CONNECTION_OK)) {
		t->common.lost = 0;
		return DBS_LOAD_LOST;
	}
	return rc;
}

static int oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* The records table, made under the lock of table creation when missing
 * (writers of other streams may make it at the same moment). */
static int records_table(pg_target *t, char *err, size_t errlen)
{
	int rc, exists = 0, schema_exists = 0;
	if ((rc = dbs__pgt_relation_exists(t, DBS_LOAD_TABLE, NULL, &exists, &schema_exists,
	                                   DBS_LOAD_TABLE, err, errlen)) ||
	    exists)
		return rc;
	dbs_buf_reset(&t->sql);
	if (dbs_buf_append_str(&t->sql, "BEGIN; SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY "); ") ||
	    dbs__load_records_ddl(&t->sql, DBS_DIALECT_POSTGRESQL) ||
	    dbs_buf_append_str(&t->sql, "; COMMIT"))
		return oom(err, errlen);
	return dbs__pgt_exec(t, t->sql.data, "creating " DBS_LOAD_TABLE, err, errlen);
}

static int pg_records_once(dbs_target *base, dbs_load_record_fn fn, void *data, char *err,
                      size_t errlen)
{
	pg_target *t = pg_of(base);
	PGresult *res = NULL;
	int rc;
	if ((rc = records_table(t, err, errlen)))
		return rc;
	dbs_buf_reset(&t->sql);
	if (dbs__load_records_select_sql(&t->sql, t->common.stream_literal))
		return oom(err, errlen);
	res = PQexec(t->conn, t->sql.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgt_error(t, res, err, errlen, "reading " DBS_LOAD_TABLE);
		PQclear(res);
		return DBS_ETARGET;
	}
	for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
		const char *f[7];
		dbs_load_record rec;
		for (int c = 0; c < 7; c++)
			f[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
		if ((rc = dbs__load_record_parse(&rec, f, err, errlen)) == 0 &&
		    (rc = fn(&rec, data)) == DBS_ENOMEM)
			oom(err, errlen);
	}
	PQclear(res);
	return rc;
}

/* The cache entry of a load table's definition (its target name, types). */
static int table_of(pg_target *t, const dbs_load_table *table, pg_table **tb, char *err,
                    size_t errlen)
{
	return dbs__pgt_table_lookup(t, table->def, tb, err, errlen);
}

/* Columns of the source the existing target table lacks, into `missing`
 * ("a, b"); empty when it has them all. */
static int missing_columns(pg_target *t, pg_table *tb, const dbs_table *def, dbs_buf *missing,
                           char *err, size_t errlen)
{
	const char *params[1] = {tb->qname};
	PGresult *res = PQexecParams(t->conn,
	                             "SELECT attname FROM pg_attribute WHERE attrelid = "
	                             "to_regclass($1) AND attnum > 0 AND NOT attisdropped",
	                             1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgt_error(t, res, err, errlen, tb->qname);
		PQclear(res);
		return DBS_ETARGET;
	}
	int rc = 0;
	for (uint32_t c = 0; c < def->ncolumns && rc == 0; c++) {
		int found = 0;
		for (int r = 0; r < PQntuples(res) && !found; r++)
			found = strcmp(PQgetvalue(res, r, 0), def->columns[c].name) == 0;
		if (!found)
			rc = dbs_buf_appendf(missing, "%s%s", missing->len ? ", " : "",
			                     def->columns[c].name);
	}
	PQclear(res);
	return rc ? oom(err, errlen) : 0;
}

static int pg_check_once(dbs_target *base, const dbs_load_table *table, int resumed, char *err,
                    size_t errlen)
{
	pg_target *t = pg_of(base);
	pg_table *tb;
	dbs_buf missing = DBS_BUF_INIT;
	int rc, exists = 0, schema_exists = 0;
	if ((rc = table_of(t, table, &tb, err, errlen)) ||
	    (rc = dbs__pgt_relation_exists(t, tb->qname, table->def->schema, &exists,
	                                   &schema_exists, tb->qname, err, errlen)))
		return rc;
	if (!exists) {
		if (!t->common.settings->no_create_tables)
			return 0;
		dbs_fmt(err, errlen,
		        "target table %s does not exist, and target.options.noCreateTables says not "
		        "to create it",
		        tb->qname);
		return DBS_ETARGET;
	}
	if ((rc = missing_columns(t, tb, table->def, &missing, err, errlen)))
		goto done;
	if (missing.len) {
		dbs_fmt(err, errlen, "target table %s exists without column(s) %s of the source table",
		        tb->qname, missing.data);
		rc = DBS_ETARGET;
		goto done;
	}
	if (resumed || dbs__sql_write_mode(t->common.settings) != DBS_WRITE_FAIL_IF_NOT_EMPTY)
		goto done;
	dbs_buf_reset(&t->sql);
	if (dbs_buf_appendf(&t->sql, "SELECT 1 FROM %s LIMIT 1", tb->qname)) {
		rc = oom(err, errlen);
		goto done;
	}
	PGresult *res = PQexec(t->conn, t->sql.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgt_error(t, res, err, errlen, tb->qname);
		rc = DBS_ETARGET;
	} else if (PQntuples(res) > 0) {
		dbs_fmt(err, errlen,
		        "target table %s already holds rows; the initial load adds to a table only "
		        "when target.options.writeMode says how (append, truncate_and_load or "
		        "upsert)",
		        tb->qname);
		rc = DBS_ETARGET;
	}
	PQclear(res);
done:
	dbs_buf_free(&missing);
	return rc;
}

/* Upsert records and COMMIT, in the transaction that is open. */
static int commit_records(pg_target *t, const dbs_load_record *recs, uint32_t n, char *err,
                          size_t errlen)
{
	dbs_buf_reset(&t->sql);
	if ((n && (dbs__load_records_upsert_sql(&t->sql, DBS_DIALECT_POSTGRESQL,
	                                        t->common.stream_literal, recs, n) ||
	           dbs_buf_append_str(&t->sql, "; "))) ||
	    dbs_buf_append_str(&t->sql, "COMMIT"))
		return oom(err, errlen);
	PGresult *res = PQexec(t->conn, t->sql.data);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		dbs__pgt_error(t, res, err, errlen, "committing the load's records");
		rc = DBS_ETARGET;
	} else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		dbs_fmt(err, errlen, "commit: the server rolled the transaction back (%s)",
		        PQcmdStatus(res));
		rc = DBS_ETARGET;
	}
	PQclear(res);
	return rc;
}

static int pg_prepare_once(dbs_target *base, const dbs_load_table *table,
                      const dbs_load_record *recs, uint32_t n, char *err, size_t errlen)
{
	pg_target *t = pg_of(base);
	pg_table *tb;
	int rc, exists = 0, schema_exists = 0;
	if ((rc = table_of(t, table, &tb, err, errlen)) ||
	    (rc = dbs__pgt_txn_start(t, 1, err, errlen)))
		goto fail;
	if ((rc = dbs__pgt_relation_exists(t, tb->qname, table->def->schema, &exists,
	                                   &schema_exists, tb->qname, err, errlen)))
		goto fail;
	t->defer_indexes = 1;
	tb->ready = 0;
	rc = dbs__pgt_table_ensure(t, tb, table->def, err, errlen);
	t->defer_indexes = 0;
	if (rc)
		goto fail;
	if (exists && dbs__sql_write_mode(t->common.settings) == DBS_WRITE_TRUNCATE_AND_LOAD) {
		dbs_buf_reset(&t->sql);
		if (dbs_buf_appendf(&t->sql, "TRUNCATE %s", tb->qname)) {
			rc = oom(err, errlen);
			goto fail;
		}
		if ((rc = dbs__pgt_exec(t, t->sql.data, tb->qname, err, errlen)))
			goto fail;
	}
	if ((rc = commit_records(t, recs, n, err, errlen)))
		goto fail;
	dbs__pgt_tables_committed(t);
	return 0;
fail:
	if (t->conn && PQtransactionStatus(t->conn) != PQTRANS_IDLE)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	dbs__pgt_tables_rollback(t);
	return rc;
}

static int pg_store_once(dbs_target *base, const dbs_load_record *recs, uint32_t n, char *err,
                    size_t errlen)
{
	pg_target *t = pg_of(base);
	int rc = dbs__pgt_txn_start(t, 1, err, errlen);
	if (rc == 0)
		rc = commit_records(t, recs, n, err, errlen);
	if (rc && t->conn && PQtransactionStatus(t->conn) != PQTRANS_IDLE)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	return rc;
}

/* ---- foreign keys ---- */

static int fk_exists(pg_target *t, const char *qname, const char *name, int *exists, char *err,
                     size_t errlen)
{
	const char *params[2] = {qname, name};
	PGresult *res = PQexecParams(t->conn,
	                             "SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass($1) "
	                             "AND conname = $2",
	                             2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		dbs__pgt_error(t, res, err, errlen, qname);
		PQclear(res);
		return DBS_ETARGET;
	}
	*exists = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

/* One foreign key, under a savepoint: one the server refuses (rows that
 * break it, say from a custom query) is a warning. */
static int fk_create(pg_target *t, pg_table *tb, const dbs_table *def, const dbs_foreign_key *fk,
                     char *err, size_t errlen)
{
	dbs_buf *s = &t->sql;
	char ierr[DBS_ERRMSG_MAX];
	int rc, exists = 0;
	const char *name = fk->name && fk->name[0] ? fk->name : "fk";
	if ((rc = fk_exists(t, tb->qname, name, &exists, err, errlen)) || exists)
		return rc;
	dbs_buf_reset(s);
	if (dbs_buf_appendf(s, "SAVEPOINT dbs_fk; ALTER TABLE %s ADD CONSTRAINT ", tb->qname) ||
	    dbs__sql_append_ident(s, name) || dbs_buf_append_str(s, " FOREIGN KEY ("))
		return oom(err, errlen);
	for (uint32_t k = 0; k < fk->ncolumns; k++)
		if ((k && dbs_buf_append_char(s, ',')) ||
		    dbs__sql_append_ident(s, def->columns[fk->columns[k]].name))
			return oom(err, errlen);
	if (dbs_buf_append_str(s, ") REFERENCES ") ||
	    dbs__sql_append_ident(s, fk->ref_schema ? fk->ref_schema : def->schema) ||
	    dbs_buf_append_char(s, '.') || dbs__sql_append_ident(s, fk->ref_name) ||
	    dbs_buf_append_str(s, " ("))
		return oom(err, errlen);
	for (uint32_t k = 0; k < fk->ncolumns; k++)
		if ((k && dbs_buf_append_char(s, ',')) || dbs__sql_append_ident(s, fk->ref_columns[k]))
			return oom(err, errlen);
	if (dbs_buf_appendf(s, ") ON DELETE %s ON UPDATE %s; RELEASE SAVEPOINT dbs_fk",
	                    fk->on_delete ? fk->on_delete : "NO ACTION",
	                    fk->on_update ? fk->on_update : "NO ACTION"))
		return oom(err, errlen);
	if (dbs__pgt_exec(t, s->data, tb->qname, ierr, sizeof ierr) != 0) {
		if (t->common.lost || PQstatus(t->conn) != CONNECTION_OK) {
			dbs_fmt(err, errlen, "%s", ierr);
			return DBS_ETARGET;
		}
		if ((rc = dbs__pgt_exec(t, "ROLLBACK TO SAVEPOINT dbs_fk", tb->qname, err, errlen)))
			return rc;
		if (t->common.host->log)
			t->common.host->log(t->common.host, DBS_LOG_WARN,
			                    "postgresql target: foreign key %s of %s not created: %s",
			                    name, tb->qname, ierr);
	}
	return 0;
}

static int pg_finish_once(dbs_target *base, const dbs_load_table *table, unsigned what, char *err,
                     size_t errlen)
{
	pg_target *t = pg_of(base);
	pg_table *tb;
	int rc;
	const dbs_table *def = table->def;
	if (t->common.settings->no_create_tables)
		return 0;
	if ((rc = table_of(t, table, &tb, err, errlen)))
		return rc;
	const dbs_sql_table_option *opt = dbs__pgt_table_option(t, tb);
	if ((what & DBS_LOAD_INDEXES) && (opt && opt->no_create_indexes))
		what &= ~(unsigned)DBS_LOAD_INDEXES;
	if (!what || (!(what & DBS_LOAD_FOREIGN_KEYS) && def->nindexes == 0))
		return 0;
	if ((rc = dbs__pgt_txn_start(t, 1, err, errlen)))
		return rc;
	for (uint32_t x = 0; (what & DBS_LOAD_INDEXES) && x < def->nindexes && rc == 0; x++)
		rc = dbs__pgt_index_create(t, tb, def, &def->indexes[x], err, errlen);
	for (uint32_t f = 0; (what & DBS_LOAD_FOREIGN_KEYS) && f < table->nforeign && rc == 0; f++)
		rc = fk_create(t, tb, def, &table->foreign[f], err, errlen);
	if (rc == 0)
		rc = dbs__pgt_exec(t, "COMMIT", tb->qname, err, errlen);
	if (rc && t->conn && PQtransactionStatus(t->conn) != PQTRANS_IDLE)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	return rc;
}

/* The main session's calls, once each: lib/sql/load.c makes them again
 * on a new session after a lost connection. */
const dbs_sqlload_ops dbs__pgt_load_main = {
	.records = pg_records_once,
	.check = pg_check_once,
	.prepare = pg_prepare_once,
	.finish = pg_finish_once,
	.store = pg_store_once,
};

/* ---- writers ---- */

static int pg_writer_open(dbs_target *base, dbs_load_writer **out, char *err, size_t errlen)
{
	pg_writer *w = calloc(1, sizeof *w);
	int rc;
	*out = NULL;
	if (!w)
		return oom(err, errlen);
	w->base.ops = &dbs__pgt_load_ops;
	if ((rc = dbs__pgt_session_new(&w->t, pg_of(base), err, errlen))) {
		free(w);
		return rc == DBS_ETARGET ? DBS_LOAD_LOST : rc;
	}
	*out = &w->base;
	return 0;
}

/* Leave a COPY in progress and roll back what is open. */
static void writer_abort(pg_writer *w)
{
	pg_target *t = w->t;
	if (!t->conn)
		return;
	if (w->copying) {
		PGresult *res;
		PQputCopyEnd(t->conn, "dbstreams: chunk abandoned");
		while ((res = PQgetResult(t->conn)) != NULL)
			PQclear(res);
		w->copying = 0;
	}
	if (PQstatus(t->conn) == CONNECTION_OK && PQtransactionStatus(t->conn) != PQTRANS_IDLE)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	dbs_buf_reset(&t->buf);
}

static int pg_chunk_begin(dbs_load_writer *base, const dbs_load_table *table, char *err,
                          size_t errlen)
{
	pg_writer *w = (pg_writer *)base;
	pg_target *t = w->t;
	int rc;
	writer_abort(w);
	if ((rc = table_of(t, table, &w->tb, err, errlen)))
		return rc;
	w->tb->ready = 1; /* made by prepare */
	w->upsert = dbs__sql_write_mode(t->common.settings) == DBS_WRITE_UPSERT && w->tb->nkeys;
	if ((rc = dbs__pgt_txn_start(t, 1, err, errlen)) ||
	    (w->upsert && (rc = dbs__pgt_stage_ensure(t, w->tb, table->def, err, errlen))))
		return lost_or(t, rc);
	PGresult *res = PQexec(t->conn, w->upsert ? w->tb->copy_sql : w->tb->copy_direct_sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		dbs__pgt_error(t, res, err, errlen, w->tb->qname);
		PQclear(res);
		return lost_or(t, DBS_ETARGET);
	}
	PQclear(res);
	w->copying = 1;
	dbs_buf_reset(&t->buf);
	return 0;
}

static int copy_send(pg_writer *w, char *err, size_t errlen)
{
	pg_target *t = w->t;
	if (t->buf.len == 0)
		return 0;
	if (t->buf.len > INT32_MAX || PQputCopyData(t->conn, t->buf.data, (int)t->buf.len) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, w->tb->qname);
		return lost_or(t, DBS_ETARGET);
	}
	dbs_buf_reset(&t->buf);
	return 0;
}

static int pg_chunk_rows(dbs_load_writer *base, const dbs_batch *rows, char *err, size_t errlen)
{
	pg_writer *w = (pg_writer *)base;
	pg_target *t = w->t;
	int rc;
	for (uint32_t i = 0, n = dbs_batch_count(rows); i < n; i++) {
		const dbs_event *ev = dbs_batch_event(rows, i);
		for (uint32_t c = 0; c < ev->table->ncolumns; c++) {
			int is_null;
			if (c && dbs_buf_append_char(&t->buf, '\t'))
				return oom(err, errlen);
			if ((rc = dbs__pgt_put_value(t, w->tb, ev, c, &ev->after[c], DBS_VALUE_TEXT_COPY,
			                             &is_null, err, errlen)))
				return rc;
		}
		if (dbs_buf_append_char(&t->buf, '\n'))
			return oom(err, errlen);
		if (t->buf.len >= LOAD_COPY_BYTES && (rc = copy_send(w, err, errlen)))
			return rc;
	}
	return 0;
}

static int pg_chunk_commit(dbs_load_writer *base, const dbs_load_record *recs, uint32_t n,
                           char *err, size_t errlen)
{
	pg_writer *w = (pg_writer *)base;
	pg_target *t = w->t;
	PGresult *res;
	int rc;
	if ((rc = copy_send(w, err, errlen)))
		return rc;
	w->copying = 0;
	if (PQputCopyEnd(t->conn, NULL) != 1) {
		dbs__pgt_error(t, NULL, err, errlen, w->tb->qname);
		return lost_or(t, DBS_ETARGET);
	}
	res = PQgetResult(t->conn);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : DBS_ETARGET;
	if (rc)
		dbs__pgt_error(t, res, err, errlen, w->tb->qname);
	PQclear(res);
	while ((res = PQgetResult(t->conn)) != NULL)
		PQclear(res);
	if (rc)
		return lost_or(t, rc);
	if (w->upsert && (rc = dbs__pgt_exec(t, w->tb->upsert_sql, w->tb->qname, err, errlen)))
		return lost_or(t, rc);
	return lost_or(t, commit_records(t, recs, n, err, errlen));
}

static void pg_writer_close(dbs_load_writer *base)
{
	pg_writer *w = (pg_writer *)base;
	if (!w)
		return;
	writer_abort(w);
	dbs__pgt_session_free(w->t);
	free(w);
}

const dbs_load_ops dbs__pgt_load_ops = {
	.version = DBS_LOAD_OPS_VERSION,
	.records = dbs__sqlload_records,
	.check = dbs__sqlload_check,
	.prepare = dbs__sqlload_prepare,
	.writer_open = pg_writer_open,
	.chunk_begin = pg_chunk_begin,
	.chunk_rows = pg_chunk_rows,
	.chunk_commit = pg_chunk_commit,
	.writer_close = pg_writer_close,
	.finish = dbs__sqlload_finish,
	.store = dbs__sqlload_store,
};
