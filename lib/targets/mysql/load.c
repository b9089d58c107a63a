/*
 * MySQL/MariaDB target: the initial load (dbs_load_ops). Tables are made
 * with their primary key before the rows (MySQL DDL commits on its own,
 * so before the transaction that records them) and get their secondary
 * indexes and foreign keys after. A chunk's rows go as multi-row INSERTs
 * in packets up to max_allowed_packet (with ON DUPLICATE KEY UPDATE only
 * for target.options.writeMode "upsert"), in one transaction that commits
 * with the chunk's record in dbstreams_load (lib/sql/load.h). Each writer
 * is a session of its own, so chunks load side by side.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/load.h"
#include "sql/settings.h"
#include "sql/value_text.h"
#include "targets/mysql/my_target.h"

typedef struct my_writer {
	dbs_load_writer base; /* first */
	my_target *t;         /* its own session */
	my_table *tb;         /* the chunk's table */
	int open;             /* a transaction is open */
} my_writer;

static my_target *my_of(dbs_target *base)
{
	return (my_target *)base;
}

static int oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* A failure of the connection, not of the data, is DBS_LOAD_LOST. */
static int lost_or(my_target *t, int rc)
{
	if (rc && t->common.lost) {
		t->common.lost = 0;
		return DBS_LOAD_LOST;
	}
	return rc;
}

static int my_records_once(dbs_target *base, dbs_load_record_fn fn, void *data, char *err,
                      size_t errlen)
{
	my_target *t = my_of(base);
	MYSQL_RES *res = NULL;
	int rc;
	dbs_buf_reset(&t->tmp);
	if (dbs__load_records_ddl(&t->tmp, DBS_DIALECT_MYSQL))
		return oom(err, errlen);
	if ((rc = dbs__myt_exec(t, t->tmp.data, t->tmp.len, "creating " DBS_LOAD_TABLE, err,
	                        errlen)))
		return rc;
	dbs_buf_reset(&t->tmp);
	if (dbs__load_records_select_sql(&t->tmp, t->common.stream_literal))
		return oom(err, errlen);
	if (mysql_real_query(t->conn, t->tmp.data, (unsigned long)t->tmp.len) ||
	    !(res = mysql_store_result(t->conn))) {
		dbs__myt_error(t, err, errlen, "reading " DBS_LOAD_TABLE);
		return DBS_ETARGET;
	}
	MYSQL_ROW row;
	while (rc == 0 && (row = mysql_fetch_row(res))) {
		const char *f[7];
		dbs_load_record rec;
		for (int c = 0; c < 7; c++)
			f[c] = row[c];
		if ((rc = dbs__load_record_parse(&rec, f, err, errlen)) == 0 &&
		    (rc = fn(&rec, data)) == DBS_ENOMEM)
			oom(err, errlen);
	}
	mysql_free_result(res);
	return rc;
}

/* The cache entry of a load table (made on the server when missing,
 * without its secondary indexes, unless noCreateTables). */
static int table_get(my_target *t, const dbs_load_table *table, my_table **tb, char *err,
                     size_t errlen)
{
	t->defer_indexes = 1;
	int rc = dbs__myt_table_get(t, table->def, tb, err, errlen);
	t->defer_indexes = 0;
	return rc;
}

/* A one-row query's first column: *found 0 when no row. */
static int query_found(my_target *t, const char *sql, size_t len, const char *where, int *found,
                       char *err, size_t errlen)
{
	MYSQL_RES *res = NULL;
	if (mysql_real_query(t->conn, sql, (unsigned long)len) || !(res = mysql_store_result(t->conn))) {
		dbs__myt_error(t, err, errlen, where);
		return DBS_ETARGET;
	}
	*found = mysql_fetch_row(res) != NULL;
	mysql_free_result(res);
	return 0;
}

/* "`db`.`name`" of a table of the target's database. */
static int target_qname(my_target *t, dbs_buf *b, const char *name)
{
	return dbs__myt_ident(b, t->dsn.database) || dbs_buf_append_char(b, '.') ||
	       dbs__myt_ident(b, name);
}

static int my_check_once(dbs_target *base, const dbs_load_table *table, int resumed, char *err,
                    size_t errlen)
{
	my_target *t = my_of(base);
	const dbs_table *def = table->def;
	dbs_buf *b = &t->tmp;
	dbs_buf missing = DBS_BUF_INIT;
	int rc, exists = 0, found = 0;
	char qname[600];
	dbs_buf_reset(b);
	if (target_qname(t, b, def->name))
		return oom(err, errlen);
	dbs_fmt(qname, sizeof qname, "%s", b->data);
	if ((rc = dbs__myt_table_exists(t, def, &exists, err, errlen)))
		return rc;
	if (!exists) {
		if (!t->common.settings->no_create_tables)
			return 0;
		dbs_fmt(err, errlen,
		        "target table %s does not exist, and target.options.noCreateTables says not "
		        "to create it",
		        qname);
		return DBS_ETARGET;
	}
	for (uint32_t c = 0; c < def->ncolumns; c++) {
		dbs_buf_reset(b);
		if (dbs_buf_append_str(b, "SELECT 1 FROM information_schema.COLUMNS WHERE "
		                          "TABLE_SCHEMA = ") ||
		    dbs__sql_append_literal(b, t->dsn.database, strlen(t->dsn.database)) ||
		    dbs_buf_append_str(b, " AND TABLE_NAME = ") ||
		    dbs__sql_append_literal(b, def->name, strlen(def->name)) ||
		    dbs_buf_append_str(b, " AND COLUMN_NAME = ") ||
		    dbs__sql_append_literal(b, def->columns[c].name, strlen(def->columns[c].name))) {
			rc = oom(err, errlen);
			goto done;
		}
		if ((rc = query_found(t, b->data, b->len, qname, &found, err, errlen)))
			goto done;
		if (!found && dbs_buf_appendf(&missing, "%s%s", missing.len ? ", " : "",
		                              def->columns[c].name)) {
			rc = oom(err, errlen);
			goto done;
		}
	}
	if (missing.len) {
		dbs_fmt(err, errlen, "target table %s exists without column(s) %s of the source table",
		        qname, missing.data);
		rc = DBS_ETARGET;
		goto done;
	}
	if (resumed || dbs__sql_write_mode(t->common.settings) != DBS_WRITE_FAIL_IF_NOT_EMPTY)
		goto done;
	dbs_buf_reset(b);
	if (dbs_buf_appendf(b, "SELECT 1 FROM %s LIMIT 1", qname)) {
		rc = oom(err, errlen);
		goto done;
	}
	if ((rc = query_found(t, b->data, b->len, qname, &found, err, errlen)))
		goto done;
	if (found) {
		dbs_fmt(err, errlen,
		        "target table %s already holds rows; the initial load adds to a table only "
		        "when target.options.writeMode says how (append, truncate_and_load or "
		        "upsert)",
		        qname);
		rc = DBS_ETARGET;
	}
done:
	dbs_buf_free(&missing);
	return rc;
}

/* START TRANSACTION; the records' upsert; COMMIT (one packet). */
static int store_records(my_target *t, const dbs_load_record *recs, uint32_t n, int begin,
                         char *err, size_t errlen)
{
	dbs__myt_packet_reset(t);
	if ((begin && (dbs_buf_append_str(&t->sql, "START TRANSACTION") ||
	               dbs__myt_stmt_push(t, NULL, 0, 0, "starting the transaction"))) ||
	    (n && (dbs__myt_sep(t) ||
	           dbs__load_records_upsert_sql(&t->sql, DBS_DIALECT_MYSQL, t->common.stream_literal,
	                                        recs, n) ||
	           dbs__myt_stmt_push(t, NULL, 0, 0, "writing the load's records"))) ||
	    dbs__myt_sep(t) || dbs_buf_append_str(&t->sql, "COMMIT") ||
	    dbs__myt_stmt_push(t, NULL, 0, 0, "commit"))
		return oom(err, errlen);
	return dbs__myt_flush(t, NULL, err, errlen);
}

static int my_prepare_once(dbs_target *base, const dbs_load_table *table,
                      const dbs_load_record *recs, uint32_t n, char *err, size_t errlen)
{
	my_target *t = my_of(base);
	my_table *tb;
	int rc, exists = 0;
	if ((rc = dbs__myt_table_exists(t, table->def, &exists, err, errlen)) ||
	    (rc = table_get(t, table, &tb, err, errlen)))
		return rc;
	if (exists && dbs__sql_write_mode(t->common.settings) == DBS_WRITE_TRUNCATE_AND_LOAD) {
		dbs_buf_reset(&t->tmp);
		if (dbs_buf_appendf(&t->tmp, "TRUNCATE TABLE %s", tb->qname))
			return oom(err, errlen);
		if ((rc = dbs__myt_exec(t, t->tmp.data, t->tmp.len, tb->qname, err, errlen)))
			return rc;
	}
	rc = store_records(t, recs, n, 1, err, errlen);
	if (rc) {
		char ignore[64];
		dbs__myt_exec_str(t, "ROLLBACK", "rollback", ignore, sizeof ignore);
	}
	return rc;
}

static int my_store_once(dbs_target *base, const dbs_load_record *recs, uint32_t n, char *err,
                    size_t errlen)
{
	my_target *t = my_of(base);
	int rc = store_records(t, recs, n, 1, err, errlen);
	if (rc) {
		char ignore[64];
		dbs__myt_exec_str(t, "ROLLBACK", "rollback", ignore, sizeof ignore);
	}
	return rc;
}

/* ---- foreign keys ---- */

/* One foreign key; one the server refuses (rows that break it, say from
 * a custom query) is a warning. */
static int fk_create(my_target *t, my_table *tb, const dbs_table *def, const dbs_foreign_key *fk,
                     char *err, size_t errlen)
{
	dbs_buf *b = &t->tmp;
	char ierr[DBS_ERRMSG_MAX];
	int rc, found = 0;
	const char *name = fk->name && fk->name[0] ? fk->name : "fk";
	dbs_buf_reset(b);
	if (dbs_buf_append_str(b, "SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE "
	                          "CONSTRAINT_SCHEMA = ") ||
	    dbs__sql_append_literal(b, t->dsn.database, strlen(t->dsn.database)) ||
	    dbs_buf_append_str(b, " AND TABLE_NAME = ") ||
	    dbs__sql_append_literal(b, def->name, strlen(def->name)) ||
	    dbs_buf_append_str(b, " AND CONSTRAINT_TYPE = 'FOREIGN KEY' AND CONSTRAINT_NAME = ") ||
	    dbs__sql_append_literal(b, name, strlen(name)))
		return oom(err, errlen);
	if ((rc = query_found(t, b->data, b->len, tb->qname, &found, err, errlen)) || found)
		return rc;
	dbs_buf_reset(b);
	if (dbs_buf_appendf(b, "ALTER TABLE %s ADD CONSTRAINT ", tb->qname) ||
	    dbs__myt_ident(b, name) || dbs_buf_append_str(b, " FOREIGN KEY ("))
		return oom(err, errlen);
	for (uint32_t k = 0; k < fk->ncolumns; k++)
		if ((k && dbs_buf_append_char(b, ',')) ||
		    dbs__myt_ident(b, def->columns[fk->columns[k]].name))
			return oom(err, errlen);
	if (dbs_buf_append_str(b, ") REFERENCES ") || target_qname(t, b, fk->ref_name) ||
	    dbs_buf_append_str(b, " ("))
		return oom(err, errlen);
	for (uint32_t k = 0; k < fk->ncolumns; k++)
		if ((k && dbs_buf_append_char(b, ',')) || dbs__myt_ident(b, fk->ref_columns[k]))
			return oom(err, errlen);
	if (dbs_buf_appendf(b, ") ON DELETE %s ON UPDATE %s",
	                    fk->on_delete ? fk->on_delete : "NO ACTION",
	                    fk->on_update ? fk->on_update : "NO ACTION"))
		return oom(err, errlen);
	if (dbs__myt_exec(t, b->data, b->len, tb->qname, ierr, sizeof ierr) != 0) {
		if (t->common.lost) {
			dbs_fmt(err, errlen, "%s", ierr);
			return DBS_ETARGET;
		}
		dbs__myt_log(t, DBS_LOG_WARN, "foreign key %s of %s not created: %s", name, tb->qname,
		             ierr);
	}
	return 0;
}

static int my_finish_once(dbs_target *base, const dbs_load_table *table, unsigned what, char *err,
                     size_t errlen)
{
	my_target *t = my_of(base);
	my_table *tb;
	int rc;
	if (t->common.settings->no_create_tables)
		return 0;
	if ((rc = table_get(t, table, &tb, err, errlen)))
		return rc;
	const dbs_sql_table_option *opt = dbs__myt_table_option(t, table->def);
	for (uint32_t x = 0; (what & DBS_LOAD_INDEXES) && !(opt && opt->no_create_indexes) &&
	                     x < table->def->nindexes && rc == 0;
	     x++)
		rc = dbs__myt_index_create(t, tb, &table->def->indexes[x], err, errlen);
	for (uint32_t f = 0; (what & DBS_LOAD_FOREIGN_KEYS) && f < table->nforeign && rc == 0; f++)
		rc = fk_create(t, tb, table->def, &table->foreign[f], err, errlen);
	t->common.data_error = 0; /* what was left out was a warning */
	return rc;
}

/* The main session's calls, once each: lib/sql/load.c makes them again
 * on a new session after a lost connection. */
const dbs_sqlload_ops dbs__myt_load_main = {
	.records = my_records_once,
	.check = my_check_once,
	.prepare = my_prepare_once,
	.finish = my_finish_once,
	.store = my_store_once,
};

/* ---- writers ---- */

static int my_writer_open(dbs_target *base, dbs_load_writer **out, char *err, size_t errlen)
{
	my_writer *w = calloc(1, sizeof *w);
	int rc;
	*out = NULL;
	if (!w)
		return oom(err, errlen);
	w->base.ops = &dbs__myt_load_ops;
	if ((rc = dbs__myt_session_new(&w->t, my_of(base), NULL, err, errlen))) {
		free(w);
		return rc == DBS_ETARGET ? DBS_LOAD_LOST : rc;
	}
	w->t->plain_inserts = dbs__sql_write_mode(w->t->common.settings) != DBS_WRITE_UPSERT;
	*out = &w->base;
	return 0;
}

static void writer_rollback(my_writer *w)
{
	dbs__myt_packet_reset(w->t);
	if (w->open && w->t->conn) {
		char ignore[64];
		dbs__myt_exec_str(w->t, "ROLLBACK", "rollback", ignore, sizeof ignore);
	}
	w->open = 0;
}

static int my_chunk_begin(dbs_load_writer *base, const dbs_load_table *table, char *err,
                          size_t errlen)
{
	my_writer *w = (my_writer *)base;
	int rc;
	writer_rollback(w);
	if ((rc = table_get(w->t, table, &w->tb, err, errlen)) ||
	    (rc = dbs__myt_exec_str(w->t, "START TRANSACTION", "starting the transaction", err,
	                            errlen)))
		return lost_or(w->t, rc);
	w->open = 1;
	return 0;
}

static int my_chunk_rows(dbs_load_writer *base, const dbs_batch *rows, char *err, size_t errlen)
{
	my_writer *w = (my_writer *)base;
	my_target *t = w->t;
	int rc = 0;
	dbs__myt_packet_reset(t);
	for (uint32_t i = 0, n = dbs_batch_count(rows); i < n && rc == 0; i++)
		rc = dbs__myt_add_insert(t, rows, i, w->tb, err, errlen);
	/* No statement outlives the batch whose rows it names. */
	if (rc == 0)
		rc = dbs__myt_close_open(t, rows, err, errlen);
	if (rc == 0)
		rc = dbs__myt_flush(t, rows, err, errlen);
	return lost_or(t, rc);
}

static int my_chunk_commit(dbs_load_writer *base, const dbs_load_record *recs, uint32_t n,
                           char *err, size_t errlen)
{
	my_writer *w = (my_writer *)base;
	int rc = lost_or(w->t, store_records(w->t, recs, n, 0, err, errlen));
	w->open = rc != 0;
	return rc;
}

static void my_writer_close(dbs_load_writer *base)
{
	my_writer *w = (my_writer *)base;
	if (!w)
		return;
	writer_rollback(w);
	dbs__myt_session_free(w->t);
	free(w);
}

const dbs_load_ops dbs__myt_load_ops = {
	.version = DBS_LOAD_OPS_VERSION,
	.records = dbs__sqlload_records,
	.check = dbs__sqlload_check,
	.prepare = dbs__sqlload_prepare,
	.writer_open = my_writer_open,
	.chunk_begin = my_chunk_begin,
	.chunk_rows = my_chunk_rows,
	.chunk_commit = my_chunk_commit,
	.writer_close = my_writer_close,
	.finish = dbs__sqlload_finish,
	.store = dbs__sqlload_store,
};
