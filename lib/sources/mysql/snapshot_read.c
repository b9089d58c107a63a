/*
 * MySQL/MariaDB source, snapshot: the plan of a table's chunks and the
 * readers that copy them. Apart from the tables (snapshot_tables.c)
 * because readers run in parallel, each on a session of its own.
 *
 * Readers: one session each, in one consistent snapshot (START
 * TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY). When a stream follows
 * the copy, the snapshot's binlog position is the reader's position: on
 * MariaDB Binlog_snapshot_file/Binlog_snapshot_position, read without a
 * lock and without RELOAD; on MySQL, which has no such status, the
 * position of SHOW MASTER STATUS under FLUSH TABLES WITH READ LOCK, held
 * only while the snapshot starts (RELOAD needed; not tried here: no MySQL
 * server on the test machine).
 *
 * A chunk is one SELECT over a range of the primary key (an integer key:
 * the seam compares keys as integers), ordered by it, read unbuffered
 * (mysql_use_result) and handed over in batches: memory stays bounded
 * whatever the table's size. Values arrive as text (UTC, utf8mb4) and are
 * turned into the kinds the binlog decoder gives (rows.c, binlog.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mysql.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/mysql/snapshot.h"

typedef struct my_reader {
	dbs_snapshot_reader base; /* first */
	my_snapshot *snap;
	MYSQL *conn;
	dbs_batch *batch;
	dbs_buf sql;
} my_reader;

/* Errors the client library raises itself: the connection, not the data. */
static int client_errno(unsigned no)
{
	return (no >= 2000 && no <= 2999) || (no >= 5000 && no <= 5999);
}

static int lost_or(MYSQL *m, int rc)
{
	return rc && m && client_errno(mysql_errno(m)) ? DBS_LOAD_LOST : rc;
}

/* ---- the plan ---- */

static snap_table *table_of(my_snapshot *sn, const dbs_load_table *table)
{
	return dbs__sql_snap_find(sn->tables, sizeof *sn->tables, sn->ntables, table);
}

/* A query of the plan (dbs_sql_snap_row_fn) on the snapshot's session. */
static int plan_row(void *ctx, const char *sql, uint32_t n, dbs_buf *fields, int *found,
                    const char *what, char *err, size_t errlen)
{
	MYSQL *m = ctx;
	MYSQL_RES *res = NULL;
	int rc = 0;
	if (mysql_query(m, sql) || !(res = mysql_store_result(m))) {
		dbs_fmt(err, errlen, "%s: %s", what, mysql_error(m));
		return DBS_ESOURCE;
	}
	MYSQL_ROW row = mysql_num_fields(res) >= n ? mysql_fetch_row(res) : NULL;
	unsigned long *lens = row ? mysql_fetch_lengths(res) : NULL;
	*found = row != NULL;
	for (uint32_t k = 0; row && k < n && !rc; k++)
		rc = (row[k] && dbs_buf_append(fields, row[k], lens[k])) ||
		     dbs_buf_append_char(fields, '\0');
	mysql_free_result(res);
	return rc ? dbs__sql_snap_oom(err, errlen) : 0;
}

int dbs__mys_snap_plan(dbs_snapshot *base, const dbs_load_table *table, uint64_t rows,
                       const dbs_value **points, uint32_t *n, uint64_t *counted, char *err,
                       size_t errlen)
{
	my_snapshot *sn = (my_snapshot *)base;
	snap_table *t = table_of(sn, table);
	const dbs_sql_snap_walk walk = {DBS_DIALECT_MYSQL, sn->src.host, plan_row, sn->src.sql};
	return dbs__sql_snap_plan(&walk, t ? &t->s : NULL, rows, &sn->points, points, n, counted,
	                          err, errlen);
}

/* ---- readers ---- */

/* The binlog file's sequence number ("binlog.000007" -> 7). */
static uint64_t file_number(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? strtoull(dot + 1, NULL, 10) : 0;
}

static int reader_position(my_reader *r, uint64_t *position, char *err, size_t errlen)
{
	my_snapshot *sn = r->snap;
	MYSQL *m = r->conn;
	char *v[2] = {NULL, NULL};
	int rc;
	if (sn->src.mariadb) {
		MYSQL_RES *res = NULL;
		if (mysql_query(m, "SHOW STATUS LIKE 'binlog_snapshot_%'") ||
		    !(res = mysql_store_result(m))) {
			dbs_fmt(err, errlen, "reading the snapshot's binlog position: %s", mysql_error(m));
			return lost_or(m, DBS_ESOURCE);
		}
		MYSQL_ROW row;
		while ((row = mysql_fetch_row(res))) {
			if (!row[0] || !row[1])
				continue;
			if (strcasecmp(row[0], "Binlog_snapshot_file") == 0)
				v[0] = strdup(row[1]);
			else if (strcasecmp(row[0], "Binlog_snapshot_position") == 0)
				v[1] = strdup(row[1]);
		}
		mysql_free_result(res);
		rc = 0;
	} else {
		rc = dbs__mys_query_row(m, "SHOW MASTER STATUS", 2, v, err, errlen);
		if (rc && mysql_errno(m) == 1064)
			rc = dbs__mys_query_row(m, "SHOW BINARY LOG STATUS", 2, v, err, errlen);
	}
	if (rc == 0 && (!v[0] || !v[1] || !v[0][0])) {
		dbs_fmt(err, errlen, "the source server reports no binlog position for the snapshot: "
		                     "is log_bin on?");
		rc = DBS_ESOURCE;
	}
	if (rc == 0)
		*position = file_number(v[0]) << 32 | (strtoull(v[1], NULL, 10) & 0xffffffffu);
	free(v[0]);
	free(v[1]);
	return lost_or(m, rc);
}

int dbs__mys_snap_reader_open(dbs_snapshot *base, dbs_snapshot_reader **out,
                              uint64_t *position, char *err, size_t errlen)
{
	my_snapshot *sn = (my_snapshot *)base;
	my_reader *r = calloc(1, sizeof *r);
	int rc;
	*out = NULL;
	*position = 0;
	if (!r)
		return dbs__sql_snap_oom(err, errlen);
	r->base.ops = &dbs__mysql_snapshot_ops;
	r->snap = sn;
	if ((rc = dbs__mys_connect(&sn->src, &r->conn, err, errlen))) {
		rc = DBS_LOAD_LOST;
		goto fail;
	}
	if ((rc = dbs__mys_exec(r->conn, "SET time_zone = '+00:00'", err, errlen)) ||
	    (rc = dbs__mys_exec(r->conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
	                        err, errlen)))
		goto fail;
	if (sn->positions && !sn->src.mariadb) {
		/* MySQL has no snapshot position: hold every commit while the
		 * snapshot starts and the position is read. */
		if ((rc = dbs__mys_exec(r->conn, "FLUSH TABLES WITH READ LOCK", err, errlen))) {
			if (mysql_errno(r->conn) == 1227)
				dbs_fmt(err, errlen,
				        "FLUSH TABLES WITH READ LOCK was refused (%s): a consistent copy "
				        "from MySQL needs GRANT RELOAD ON *.* TO '%s'",
				        mysql_error(r->conn), sn->src.dsn.user);
			goto fail;
		}
	}
	rc = dbs__mys_exec(r->conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", err,
	                   errlen);
	if (rc == 0 && sn->positions)
		rc = reader_position(r, position, err, errlen);
	if (sn->positions && !sn->src.mariadb) {
		char ignore[DBS_ERRMSG_MAX];
		dbs__mys_exec(r->conn, "UNLOCK TABLES", ignore, sizeof ignore);
	}
	if (rc)
		goto fail;
	if (dbs_batch_new(&r->batch, 1000) != 0) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto fail;
	}
	*out = &r->base;
	return 0;
fail:
	rc = lost_or(r->conn, rc);
	if (r->conn)
		mysql_close(r->conn);
	free(r);
	return rc;
}

/* "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" into t; -1 when malformed. */
static int parse_datetime(const char *s, unsigned long n, dbs_time_value *t)
{
	unsigned y, mo, d, h = 0, mi = 0, se = 0;
	char frac[8] = "";
	char buf[40];
	memset(t, 0, sizeof *t);
	if (n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	int k = sscanf(buf, "%4u-%2u-%2u %2u:%2u:%2u.%6[0-9]", &y, &mo, &d, &h, &mi, &se, frac);
	if (k < 3)
		return -1;
	uint32_t us = 0;
	size_t fl = strlen(frac);
	for (size_t i = 0; i < 6; i++)
		us = us * 10 + (i < fl ? (uint32_t)(frac[i] - '0') : 0);
	t->year = (int32_t)y;
	t->month = (uint8_t)mo;
	t->day = (uint8_t)d;
	t->hour = (uint16_t)h;
	t->minute = (uint8_t)mi;
	t->second = (uint8_t)se;
	t->usec = us;
	return 0;
}

/* "[-]H:MM:SS[.ffffff]" (hours up to 838) into t. */
static int parse_time(const char *s, unsigned long n, dbs_time_value *t)
{
	unsigned h, mi, se;
	char frac[8] = "";
	char buf[40];
	memset(t, 0, sizeof *t);
	if (n >= sizeof buf || n == 0)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	const char *p = buf;
	if (*p == '-') {
		t->negative = 1;
		p++;
	}
	if (sscanf(p, "%u:%2u:%2u.%6[0-9]", &h, &mi, &se, frac) < 3 || h > 0xffff)
		return -1;
	uint32_t us = 0;
	size_t fl = strlen(frac);
	for (size_t i = 0; i < 6; i++)
		us = us * 10 + (i < fl ? (uint32_t)(frac[i] - '0') : 0);
	t->hour = (uint16_t)h;
	t->minute = (uint8_t)mi;
	t->second = (uint8_t)se;
	t->usec = us;
	if (t->negative && !h && !mi && !se && !us)
		t->negative = 0;
	return 0;
}

/* One column's text as the value the binlog decoder gives. */
static int put_value(dbs_batch *batch, dbs_value *v, uint8_t cls, const char *s,
                     unsigned long n)
{
	char buf[64];
	char *end;
	if (!s) {
		v->kind = DBS_VALUE_NULL;
		return 0;
	}
	switch (cls) {
	case R_INT:
	case R_UINT:
	case R_BIT:
		if (dbs__sql_snap_parse_int(s, n, v))
			return -1;
		if (cls != R_INT && v->kind == DBS_VALUE_INT) {
			uint64_t u = (uint64_t)v->v.i;
			v->kind = DBS_VALUE_UINT;
			v->v.u = u;
		}
		return 0;
	case R_YEAR:
		if (dbs__sql_snap_parse_int(s, n, v))
			return -1;
		v->kind = DBS_VALUE_INT;
		return 0;
	case R_FLOAT:
	case R_DOUBLE:
		if (n >= sizeof buf)
			return -1;
		memcpy(buf, s, n);
		buf[n] = '\0';
		v->kind = DBS_VALUE_DOUBLE;
		v->v.d = strtod(buf, &end);
		if (cls == R_FLOAT) /* the float the server holds, as the binlog gives it */
			v->v.d = (double)(float)v->v.d;
		return *end ? -1 : 0;
	case R_DECIMAL: return dbs_batch_set_bytes(batch, v, DBS_VALUE_DECIMAL, s, n);
	case R_DATE:
		v->kind = DBS_VALUE_DATE;
		return parse_datetime(s, n, &v->v.t);
	case R_DATETIME:
		v->kind = DBS_VALUE_DATETIME;
		return parse_datetime(s, n, &v->v.t);
	case R_TIMESTAMP:
		v->kind = DBS_VALUE_TIMESTAMP;
		return parse_datetime(s, n, &v->v.t);
	case R_TIME:
		v->kind = DBS_VALUE_TIME;
		return parse_time(s, n, &v->v.t);
	case R_TEXT: return dbs_batch_set_bytes(batch, v, DBS_VALUE_TEXT, s, n);
	case R_JSON: return dbs_batch_set_bytes(batch, v, DBS_VALUE_JSON, s, n);
	default: return dbs_batch_set_bytes(batch, v, DBS_VALUE_BYTES, s, n);
	}
}

int dbs__mys_snap_read(dbs_snapshot_reader *base, const dbs_load_table *table,
                       const dbs_load_chunk *chunk, uint32_t batch_rows, dbs_rows_fn rows_fn,
                       void *rows_data, char *err, size_t errlen)
{
	my_reader *r = (my_reader *)base;
	snap_table *t = table_of(r->snap, table);
	dbs_buf *q = &r->sql;
	MYSQL_RES *res = NULL;
	int rc = 0, stop = 0;
	if (!t) {
		dbs_fmt(err, errlen, "mysql snapshot: a table it did not describe");
		return DBS_EINVAL;
	}
	dbs_buf_reset(q);
	if (dbs__sql_snap_chunk_select(q, DBS_DIALECT_MYSQL, &t->s, chunk))
		return dbs__sql_snap_oom(err, errlen);
	if (mysql_real_query(r->conn, q->data, (unsigned long)q->len) ||
	    !(res = mysql_use_result(r->conn))) {
		dbs_fmt(err, errlen, "reading %s: %s", t->s.qname, mysql_error(r->conn));
		return lost_or(r->conn, DBS_ESOURCE);
	}
	dbs_batch_reset(r->batch);
	uint32_t ncols = t->s.def->ncolumns;
	MYSQL_ROW row;
	while (!stop && (row = mysql_fetch_row(res))) {
		unsigned long *lens = mysql_fetch_lengths(res);
		dbs_event *ev;
		if (dbs_batch_add(r->batch, DBS_OP_INSERT, t->s.def, &ev)) {
			rc = dbs__sql_snap_oom(err, errlen);
			break;
		}
		for (uint32_t c = 0; c < ncols; c++) {
			int pr = put_value(r->batch, &ev->after[c], t->cls[c], row[c], lens[c]);
			if (pr == DBS_ENOMEM) {
				rc = dbs__sql_snap_oom(err, errlen);
				break;
			}
			if (pr) {
				dbs_fmt(err, errlen, "%s: column %s: cannot read the value \"%.*s\"",
				        t->s.qname, t->s.def->columns[c].name,
				        (int)(lens[c] > 64 ? 64 : lens[c]), row[c]);
				rc = DBS_ESOURCE;
				break;
			}
		}
		if (rc)
			break;
		stop = dbs__sql_snap_hand_full(r->batch, batch_rows, rows_fn, rows_data);
	}
	if (!rc && !stop && mysql_errno(r->conn)) {
		dbs_fmt(err, errlen, "reading %s: %s", t->s.qname, mysql_error(r->conn));
		rc = lost_or(r->conn, DBS_ESOURCE);
	}
	if (!rc && !stop && dbs_batch_count(r->batch))
		rows_fn(r->batch, rows_data);
	dbs_batch_reset(r->batch);
	mysql_free_result(res); /* reads what a stop left, so the session stays usable */
	return rc;
}

void dbs__mys_snap_reader_close(dbs_snapshot_reader *base)
{
	my_reader *r = (my_reader *)base;
	if (!r)
		return;
	if (r->conn)
		mysql_close(r->conn);
	dbs_batch_free(r->batch);
	dbs_buf_free(&r->sql);
	free(r);
}
