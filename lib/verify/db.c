/*
 * verify's side of the servers: one read-only snapshot connection per
 * side (libpq or Connector/C), table definitions from the catalogs, and
 * the keyset SELECTs that read a chunk.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "verify/verify.h"

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

void dbs__vres_clear(vres *r)
{
	if (r->pg)
		PQclear(r->pg);
	if (r->my)
		mysql_free_result(r->my);
	memset(r, 0, sizeof *r);
}

int dbs__vquery(vconn *c, const char *sql, vres *r, char *err, size_t errlen)
{
	int rc = c->code;
	memset(r, 0, sizeof *r);
	if (c->pg) {
		r->pg = PQexec(c->pg, sql);
		ExecStatusType st = r->pg ? PQresultStatus(r->pg) : PGRES_FATAL_ERROR;
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			dbs_fmt(err, errlen, "%s: %s (%.200s)", c->label,
			         r->pg ? PQresultErrorMessage(r->pg) : PQerrorMessage(c->pg), sql);
			goto fail;
		}
		r->nrows = (size_t)PQntuples(r->pg);
		r->ncols = (size_t)PQnfields(r->pg);
	} else {
		if (mysql_real_query(c->my, sql, strlen(sql))) {
			dbs_fmt(err, errlen, "%s: %s (%.200s)", c->label, mysql_error(c->my), sql);
			goto fail;
		}
		r->my = mysql_store_result(c->my);
		if (!r->my && mysql_field_count(c->my) != 0) {
			dbs_fmt(err, errlen, "%s: %s (%.200s)", c->label, mysql_error(c->my), sql);
			goto fail;
		}
		if (r->my) {
			r->nrows = (size_t)mysql_num_rows(r->my);
			r->ncols = mysql_num_fields(r->my);
		}
	}
	rc = 0;
fail:
	if (rc)
		dbs__vres_clear(r);
	return rc;
}

/* Advance to the next row; 1 when there is one. */
int dbs__vres_next(vres *r)
{
	if (r->pg) {
		if (r->started)
			r->cur++;
		r->started = 1;
		return r->cur < r->nrows;
	}
	if (!r->my)
		return 0;
	r->row = mysql_fetch_row(r->my);
	r->lens = r->row ? mysql_fetch_lengths(r->my) : NULL;
	return r->row != NULL;
}

/* The current row's column `i`; NULL for SQL NULL. */
const char *dbs__vres_get(const vres *r, size_t i, size_t *len)
{
	if (r->pg) {
		if (PQgetisnull(r->pg, (int)r->cur, (int)i))
			return NULL;
		*len = (size_t)PQgetlength(r->pg, (int)r->cur, (int)i);
		return PQgetvalue(r->pg, (int)r->cur, (int)i);
	}
	if (!r->row[i])
		return NULL;
	*len = r->lens[i];
	return r->row[i];
}

static int vexec(vconn *c, const char *sql, char *err, size_t errlen)
{
	vres r;
	int rc = dbs__vquery(c, sql, &r, err, errlen);
	dbs__vres_clear(&r);
	return rc;
}

void dbs__vconn_close(vconn *c)
{
	if (c->pg)
		PQfinish(c->pg);
	if (c->my)
		mysql_close(c->my);
	dbs__mysql_dsn_free(&c->dsn);
	free(c->pg_db_buf);
	c->pg = NULL;
	c->my = NULL;
	c->pg_db_buf = NULL;
}

/*
 * Open one side read-only in a snapshot, with the settings that make the
 * text forms predictable: UTC, ISO dates, hex bytea, shortest exact floats.
 */
int dbs__vconn_open(vconn *c, const char *type, const char *connection, const char *ssl_ca,
                    const char *ssl_cert, const char *ssl_key, char *err, size_t errlen)
{
	int rc = DBS_ECONFIG;
	if (!type || !connection) {
		dbs_fmt(err, errlen, "%s: no type or connection", c->label);
		goto fail;
	}
	if (strcmp(type, "postgresql") == 0 || strcmp(type, "postgres") == 0) {
		const char *keys[6], *vals[6];
		int k = 0;
		c->dialect = DBS_DIALECT_POSTGRESQL;
		keys[k] = "dbname", vals[k++] = connection;
		if (ssl_ca && ssl_ca[0])
			keys[k] = "sslrootcert", vals[k++] = ssl_ca;
		if (ssl_cert && ssl_cert[0])
			keys[k] = "sslcert", vals[k++] = ssl_cert;
		if (ssl_key && ssl_key[0])
			keys[k] = "sslkey", vals[k++] = ssl_key;
		keys[k] = "fallback_application_name", vals[k++] = "dbstreams-verify";
		keys[k] = NULL, vals[k] = NULL;
		rc = DBS_ENOMEM;
		if (!(c->pg = PQconnectdbParams(keys, vals, 1))) {
			dbs_fmt(err, errlen, "out of memory");
			goto fail;
		}
		rc = c->code;
		if (PQstatus(c->pg) != CONNECTION_OK) {
			dbs_fmt(err, errlen, "%s: connecting: %s", c->label,
			         PQerrorMessage(c->pg));
			goto fail;
		}
		if ((rc = vexec(c,
		                "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
		                "SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; "
		                "SET bytea_output = 'hex'; SET standard_conforming_strings = on; "
		                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		                err, errlen)))
			goto fail;
		const char *db = PQdb(c->pg);
		if (!(c->pg_db_buf = strdup(db ? db : ""))) {
			rc = DBS_ENOMEM;
			goto fail;
		}
		c->pg_db = c->pg_db_buf;
	} else if (strcmp(type, "mysql") == 0 || strcmp(type, "mariadb") == 0) {
		c->dialect = DBS_DIALECT_MYSQL;
		if ((rc = dbs__mysql_dsn_parse(&c->dsn, connection, err, errlen)))
			goto fail;
		rc = DBS_ENOMEM;
		if (!(c->my = mysql_init(NULL))) {
			dbs_fmt(err, errlen, "out of memory");
			goto fail;
		}
		unsigned timeout = 10;
		mysql_optionsv(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
		mysql_optionsv(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
		if (c->dsn.tls != DBS_MYSQL_TLS_OFF || ssl_ca || ssl_cert || ssl_key) {
			my_bool enforce = c->dsn.tls != DBS_MYSQL_TLS_PREFERRED;
			my_bool verify = c->dsn.tls == DBS_MYSQL_TLS_VERIFY ||
			                 (c->dsn.tls == DBS_MYSQL_TLS_OFF && ssl_ca);
			mysql_ssl_set(c->my, ssl_key, ssl_cert, ssl_ca, NULL, NULL);
			mysql_optionsv(c->my, MYSQL_OPT_SSL_ENFORCE, &enforce);
			mysql_optionsv(c->my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
		}
		rc = c->code;
		if (!mysql_real_connect(c->my, c->dsn.socket ? NULL : c->dsn.host, c->dsn.user,
		                        c->dsn.password, NULL, c->dsn.socket ? 0 : c->dsn.port,
		                        c->dsn.socket, 0)) {
			dbs_fmt(err, errlen, "%s: connecting: %s", c->label, mysql_error(c->my));
			goto fail;
		}
		/* Quotes doubled are the only escaping the literals below use. */
		if ((rc = vexec(c, "SET time_zone = '+00:00'", err, errlen)) ||
		    (rc = vexec(
		         c, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION'",
		         err, errlen)) ||
		    (rc = vexec(c, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err,
		                errlen)) ||
		    (rc = vexec(c, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", err,
		                errlen)))
			goto fail;
	} else {
		dbs_fmt(err, errlen, "%s: verify supports postgresql and mysql, not \"%s\"",
		         c->label, type);
		goto fail;
	}
	rc = 0;
fail:
	return rc;
}

static int append_qname(dbs_buf *b, dbs_dialect d, const char *schema, const char *name)
{
	int rc = dbs__sql_append_ident_in(b, d, schema);
	if (!rc)
		rc = dbs_buf_append_char(b, '.');
	return rc ? rc : dbs__sql_append_ident_in(b, d, name);
}

/* ------------------------------------------------------------------ */
/* Table definitions                                                   */
/* ------------------------------------------------------------------ */

void dbs__vtabdef_free(vtabdef *t)
{
	for (uint32_t i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].type);
	}
	free(t->cols);
	free(t->keys);
	memset(t, 0, sizeof *t);
}

/* Columns and primary key of schema.name; t->exists = 0 when absent. */
int dbs__vtabdef_load(vconn *c, const char *schema, const char *name, vtabdef *t, char *err,
                      size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_buf q = {0};
	vres r = {0};
	memset(t, 0, sizeof *t);
	if (c->dialect == DBS_DIALECT_POSTGRESQL) {
		dbs_buf rel = {0};
		int bad =
		    dbs__sql_append_ident(&rel, schema) ||
		    dbs_buf_append_char(&rel, '.') || dbs__sql_append_ident(&rel, name) ||
		    dbs_buf_append_str(&q, "SELECT a.attname, format_type(a.atttypid, "
		                                "a.atttypmod), coalesce(array_position("
		                                "i.indkey::int2[], a.attnum) - "
		                                "array_lower(i.indkey::int2[], 1) + 1, 0) "
		                                "FROM pg_attribute a "
		                                "LEFT JOIN pg_index i ON i.indrelid = a.attrelid "
		                                "AND i.indisprimary "
		                                "WHERE a.attrelid = to_regclass(") ||
		    dbs__sql_append_literal(&q, rel.data, rel.len) ||
		    dbs_buf_append_str(&q, ") AND a.attnum > 0 AND NOT a.attisdropped "
		                                "ORDER BY a.attnum");
		dbs_buf_free(&rel);
		if (bad)
			goto fail;
	} else {
		/* MariaDB's JSON is longtext with a json_valid check: call it json. */
		if (dbs_buf_append_str(
		        &q, "SELECT COLUMN_NAME, IF(COLUMN_TYPE = 'longtext' AND "
		            "EXISTS (SELECT 1 FROM information_schema."
		            "CHECK_CONSTRAINTS cc WHERE cc.CONSTRAINT_SCHEMA = "
		            "c.TABLE_SCHEMA AND cc.TABLE_NAME = c.TABLE_NAME AND "
		            "cc.CHECK_CLAUSE = CONCAT('json_valid(`', "
		            "c.COLUMN_NAME, '`)')), 'json', COLUMN_TYPE), "
		            "coalesce((SELECT k.ORDINAL_POSITION FROM "
		            "information_schema.KEY_COLUMN_USAGE k WHERE "
		            "k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = "
		            "c.TABLE_NAME AND k.COLUMN_NAME = c.COLUMN_NAME AND "
		            "k.CONSTRAINT_NAME = 'PRIMARY'), 0) "
		            "FROM information_schema.COLUMNS c WHERE TABLE_SCHEMA = ") ||
		    sql_literal(&q, schema) || dbs_buf_append_str(&q, " AND TABLE_NAME = ") ||
		    sql_literal(&q, name) ||
		    dbs_buf_append_str(&q, " ORDER BY ORDINAL_POSITION"))
			goto fail;
	}
	if ((rc = dbs__vquery(c, q.data, &r, err, errlen)))
		goto fail;
	rc = DBS_ENOMEM;
	if (r.nrows == 0) {
		rc = 0;
		goto fail;
	}
	if (r.nrows > UINT32_MAX || !(t->cols = calloc(r.nrows, sizeof *t->cols)) ||
	    !(t->keys = calloc(r.nrows, sizeof *t->keys)))
		goto fail;
	t->exists = 1;
	while (dbs__vres_next(&r)) {
		size_t ln = 0, lt = 0, lk = 0;
		const char *n = dbs__vres_get(&r, 0, &ln), *ty = dbs__vres_get(&r, 1, &lt);
		const char *kp = dbs__vres_get(&r, 2, &lk);
		vcol *col = &t->cols[t->ncols];
		if (!(col->name = strndup(n ? n : "", n ? ln : 0)) ||
		    !(col->type = strndup(ty ? ty : "", ty ? lt : 0)))
			goto fail;
		long pos = kp ? strtol(kp, NULL, 10) : 0;
		if (pos > 0 && (size_t)pos <= r.nrows) {
			t->keys[pos - 1] = t->ncols;
			if ((uint32_t)pos > t->nkeys)
				t->nkeys = (uint32_t)pos;
		}
		dbs_table def;
		dbs_column dc;
		memset(&def, 0, sizeof def);
		memset(&dc, 0, sizeof dc);
		def.dialect = c->dialect;
		def.schema = schema;
		def.name = name;
		dc.name = col->name;
		dc.type_name = col->type;
		dc.type_mod = -1;
		dc.flags = pos > 0 ? DBS_COLUMN_KEY : 0;
		dbs__sqlmap_parse(&def, &dc, &col->st);
		t->ncols++;
	}
	rc = 0;
fail:
	dbs__vres_clear(&r);
	dbs_buf_free(&q);
	if (rc)
		dbs__vtabdef_free(t);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

static int is_plain_number(const char *v, uint32_t n)
{
	uint32_t i = 0, d = 0;
	if (i < n && v[i] == '-')
		i++;
	for (; i < n && (isdigit((unsigned char)v[i]) || v[i] == '.' || v[i] == 'e' ||
	                 v[i] == 'E' || v[i] == '+' || v[i] == '-');
	     i++)
		d += isdigit((unsigned char)v[i]) != 0;
	return n > 0 && i == n && d > 0;
}

/* A canonical key value as a literal the side's column type accepts. */
static int append_key_literal(dbs_buf *b, dbs_dialect d, int k, const char *v, uint32_t n)
{
	int my = d == DBS_DIALECT_MYSQL;
	if (!v)
		return dbs_buf_append_str(b, "NULL");
	if ((k == K_NUM || k == K_FLOAT4 || k == K_FLOAT8 || k == K_BOOL) && my &&
	    is_plain_number(v, n))
		return dbs_buf_append(b, v, n);
	if (k == K_BYTES) {
		int rc = dbs_buf_append_str(b, my ? "X'" : "'\\x");
		if (!rc)
			rc = dbs_buf_append(b, v, n);
		return rc ? rc : dbs_buf_append_char(b, '\'');
	}
	if (k == K_TIMESTAMP && my && n == 27 && v[10] == 'T' && v[26] == 'Z') {
		char tmp[27];
		memcpy(tmp, v, 26);
		tmp[10] = ' ';
		return dbs__sql_append_literal(b, tmp, 26);
	}
	return dbs__sql_append_literal(b, v, n);
}

/*
 * Keyset condition on the key columns against the encoded key `key`:
 * op ">" or "<=". PostgreSQL compares rows; MySQL gets the expanded form
 * its range optimiser reads.
 */
static int append_key_cond(dbs_buf *b, dbs_dialect d, const vtabdef *def, const uint32_t *kidx,
                           const plan_col *plan, uint32_t nkey, const vrow *key, int greater)
{
	int rc = 0;
	if (d == DBS_DIALECT_POSTGRESQL || nkey == 1) {
		rc = dbs_buf_append_char(b, '(');
		for (uint32_t i = 0; i < nkey && !rc; i++)
			if (!(rc = i ? dbs_buf_append_str(b, ", ") : 0))
				rc = dbs__sql_append_ident_in(b, d, def->cols[kidx[i]].name);
		if (!rc)
			rc = dbs_buf_append_str(b, greater ? ") > (" : ") <= (");
		for (uint32_t i = 0; i < nkey && !rc; i++) {
			const char *v;
			uint32_t vl;
			if (!(rc = i ? dbs_buf_append_str(b, ", ") : 0)) {
				int nn = dbs__vrow_value(key->p, key->keylen, i, &v, &vl);
				rc = append_key_literal(b, d, plan[i].canon, nn ? v : NULL, vl);
			}
		}
		return rc ? rc : dbs_buf_append_char(b, ')');
	}
	/* (k1 > v1 OR (k1 = v1 AND (k2 > v2 OR ...))) */
	for (uint32_t i = 0; i < nkey && !rc; i++) {
		const char *v;
		uint32_t vl;
		int nn = dbs__vrow_value(key->p, key->keylen, i, &v, &vl);
		int last = i + 1 == nkey;
		const char *op = greater ? " > " : (last ? " <= " : " < ");
		if ((rc = dbs_buf_append_char(b, '(')) ||
		    (rc = dbs__sql_append_ident_in(b, d, def->cols[kidx[i]].name)) ||
		    (rc = dbs_buf_append_str(b, op)) ||
		    (rc = append_key_literal(b, d, plan[i].canon, nn ? v : NULL, vl)))
			break;
		if (last)
			break;
		if ((rc = dbs_buf_append_str(b, " OR (")) ||
		    (rc = dbs__sql_append_ident_in(b, d, def->cols[kidx[i]].name)) ||
		    (rc = dbs_buf_append_str(b, " = ")) ||
		    (rc = append_key_literal(b, d, plan[i].canon, nn ? v : NULL, vl)) ||
		    (rc = dbs_buf_append_str(b, " AND ")))
			break;
	}
	for (uint32_t i = 0; i < nkey && !rc; i++)
		rc = dbs_buf_append_str(b, i + 1 == nkey ? ")" : "))");
	return rc;
}

static int build_select(dbs_buf *b, const side_q *sq, const plan_col *plan, uint32_t ncols,
                        uint32_t nkey, int ordered, const vrow *lo, const vrow *hi, uint32_t limit)
{
	dbs_dialect d = sq->c->dialect;
	int rc = dbs_buf_append_str(b, "SELECT ");
	for (uint32_t j = 0; j < ncols && !rc; j++) {
		const vcol *col = &sq->def->cols[sq->is_target ? plan[j].t : plan[j].s];
		if (!(rc = j ? dbs_buf_append_str(b, ", ") : 0))
			rc = dbs__vcanon_expr(b, d, col, plan[j].canon);
	}
	if (!rc && !(rc = dbs_buf_append_str(b, " FROM ")))
		rc = append_qname(b, d, sq->schema, sq->name);
	if (!rc && (lo || hi))
		rc = dbs_buf_append_str(b, " WHERE ");
	if (!rc && lo)
		rc = append_key_cond(b, d, sq->def, sq->kidx, plan, nkey, lo, 1);
	if (!rc && lo && hi)
		rc = dbs_buf_append_str(b, " AND ");
	if (!rc && hi)
		rc = append_key_cond(b, d, sq->def, sq->kidx, plan, nkey, hi, 0);
	if (!rc && ordered) {
		rc = dbs_buf_append_str(b, " ORDER BY ");
		for (uint32_t i = 0; i < nkey && !rc; i++)
			if (!(rc = i ? dbs_buf_append_str(b, ", ") : 0))
				rc = dbs__sql_append_ident_in(b, d, sq->def->cols[sq->kidx[i]].name);
	}
	if (!rc && limit)
		rc = dbs_buf_appendf(b, " LIMIT %u", limit);
	return rc;
}

int dbs__vchunk_fetch(const side_q *sq, const plan_col *plan, uint32_t ncols, uint32_t nkey,
                      int ordered, const vrow *lo, const vrow *hi, uint32_t limit, vchunk *out,
                      char *err, size_t errlen)
{
	dbs_buf q = {0};
	vres r = {0};
	int rc;
	dbs__vchunk_reset(out);
	if ((rc = build_select(&q, sq, plan, ncols, nkey, ordered, lo, hi, limit)))
		goto out;
	if ((rc = dbs__vquery(sq->c, q.data, &r, err, errlen)))
		goto out;
	if ((rc = dbs__vchunk_fill(out, &r, plan, ncols, ordered ? nkey : ncols)))
		dbs_fmt(err, errlen, "out of memory");
out:
	dbs__vres_clear(&r);
	dbs_buf_free(&q);
	return rc;
}

/* Copy the key of `row` into `keep` (so the next fetch can reuse buffers). */
int dbs__vkey_keep(dbs_buf *keep, vrow *dst, const vrow *row)
{
	dbs_buf_reset(keep);
	int rc = dbs_buf_append(keep, row->p, row->keylen);
	if (!rc) {
		dst->p = keep->data;
		dst->off = 0;
		dst->len = dst->keylen = row->keylen;
	}
	return rc;
}
