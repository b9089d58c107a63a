/*
 * MySQL/MariaDB source, snapshot: the tables to copy. Apart from the
 * readers (snapshot_read.c) because it runs once, on the snapshot's own
 * session, before any reader opens.
 *
 * The tables: those of source.filter.tables, or every base table of the
 * connection's database; described from information_schema as the binlog
 * reader describes them (schema.c), so a copied row and a streamed one
 * are the same dbs_value kinds; a custom query is checked by the server
 * itself (its EXPLAIN reads one table, its columns are columns of that
 * table); the user's SELECT is tried on each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/mysql/snapshot.h"
#include "sql/value_text.h"

#define MAX_KEYS 16u

/* The leading word of a COLUMN_TYPE ("int" of "int(10) unsigned"). */
static size_t type_word(const char *type, char *word, size_t size)
{
	size_t n = strcspn(type, "( ");
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		word[i] = (char)(type[i] >= 'A' && type[i] <= 'Z' ? type[i] + 32 : type[i]);
	word[n] = '\0';
	return n;
}

/* The value class and binlog type code of a column type. */
static void classify(const char *type, int is_json, uint8_t *cls, uint32_t *code, int *integer)
{
	char w[32];
	type_word(type, w, sizeof w);
	int uns = strstr(type, "unsigned") != NULL;
	*integer = 0;
	static const struct {
		const char *word;
		uint8_t cls;
		uint32_t code;
		int integer;
	} map[] = {
		{"tinyint", R_INT, MY_T_TINY, 1},       {"smallint", R_INT, MY_T_SHORT, 1},
		{"mediumint", R_INT, MY_T_INT24, 1},    {"int", R_INT, MY_T_LONG, 1},
		{"integer", R_INT, MY_T_LONG, 1},       {"bigint", R_INT, MY_T_LONGLONG, 1},
		{"year", R_YEAR, MY_T_YEAR, 0},         {"bit", R_BIT, MY_T_BIT, 0},
		{"float", R_FLOAT, MY_T_FLOAT, 0},      {"double", R_DOUBLE, MY_T_DOUBLE, 0},
		{"real", R_DOUBLE, MY_T_DOUBLE, 0},     {"decimal", R_DECIMAL, MY_T_NEWDECIMAL, 0},
		{"numeric", R_DECIMAL, MY_T_NEWDECIMAL, 0}, {"date", R_DATE, MY_T_DATE, 0},
		{"datetime", R_DATETIME, MY_T_DATETIME2, 0}, {"timestamp", R_TIMESTAMP, MY_T_TIMESTAMP2, 0},
		{"time", R_TIME, MY_T_TIME2, 0},        {"char", R_TEXT, MY_T_STRING, 0},
		{"varchar", R_TEXT, MY_T_VARCHAR, 0},   {"tinytext", R_TEXT, MY_T_BLOB, 0},
		{"text", R_TEXT, MY_T_BLOB, 0},         {"mediumtext", R_TEXT, MY_T_BLOB, 0},
		{"longtext", R_TEXT, MY_T_BLOB, 0},     {"enum", R_TEXT, MY_T_ENUM, 0},
		{"set", R_TEXT, MY_T_SET, 0},           {"binary", R_BYTES, MY_T_STRING, 0},
		{"varbinary", R_BYTES, MY_T_VARCHAR, 0}, {"tinyblob", R_BYTES, MY_T_BLOB, 0},
		{"blob", R_BYTES, MY_T_BLOB, 0},        {"mediumblob", R_BYTES, MY_T_BLOB, 0},
		{"longblob", R_BYTES, MY_T_BLOB, 0},    {"json", R_JSON, MY_T_JSON, 0},
	};
	*cls = R_BYTES; /* geometry and anything else: the server's bytes */
	*code = MY_T_GEOMETRY;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(w, map[i].word) == 0) {
			*cls = map[i].cls;
			*code = map[i].code;
			*integer = map[i].integer;
			break;
		}
	if (*cls == R_INT && uns)
		*cls = R_UINT;
	if (is_json) {
		*cls = R_JSON;
		*code = MY_T_BLOB; /* MariaDB: a LONGTEXT with a json_valid() check */
	}
}

/* A SELECT the server answers with one row, or none: *found. */
static int query_found(MYSQL *m, const char *sql, int *found, char *err, size_t errlen)
{
	MYSQL_RES *res = NULL;
	if (mysql_query(m, sql) || !(res = mysql_store_result(m))) {
		dbs_fmt(err, errlen, "%s", mysql_error(m));
		return DBS_ESOURCE;
	}
	*found = mysql_fetch_row(res) != NULL;
	mysql_free_result(res);
	return 0;
}

/* Escaped into a SQL string literal's body (the session's charset). */
static int esc(MYSQL *m, char *out, size_t size, const char *s)
{
	size_t n = strlen(s);
	if (n * 2 + 1 > size)
		return -1;
	mysql_real_escape_string(m, out, s, (unsigned long)n);
	return 0;
}

/* The user may SELECT from the table: tried (LIMIT 0 reads nothing). */
static int check_grant(my_snapshot *sn, snap_table *t, const char *where, char *err,
                       size_t errlen)
{
	dbs_buf q = DBS_BUF_INIT;
	int found, rc;
	if (dbs_buf_appendf(&q, "SELECT 1 FROM %s LIMIT 0", t->s.qname))
		return dbs__sql_snap_oom(err, errlen);
	rc = query_found(sn->src.sql, q.data, &found, err, errlen);
	dbs_buf_free(&q);
	if (rc && (mysql_errno(sn->src.sql) == 1142 || mysql_errno(sn->src.sql) == 1143))
		dbs_fmt(err, errlen,
		        "%s: the source user may not read it (%s): GRANT SELECT ON %s TO '%s'",
		        where, mysql_error(sn->src.sql), t->s.qname, sn->src.dsn.user);
	else if (rc)
		dbs_fmt(err, errlen, "%s: %s", where, mysql_error(sn->src.sql));
	return rc;
}

/*
 * A custom query: one statement that the server plans as a read of this
 * table alone (EXPLAIN shows one table), whose columns are columns of the
 * table (result metadata: their original table and name). Their names go
 * to `cols` (order of the query). 0, or DBS_ECONFIG with what is wrong.
 */
static int check_query(my_snapshot *sn, const char *db, const char *name, const char *query,
                       const char *where, char ***cols, uint32_t *ncols, char *err,
                       size_t errlen)
{
	MYSQL *m = sn->src.sql;
	MYSQL_RES *res = NULL;
	dbs_buf q = DBS_BUF_INIT;
	int rc = DBS_ECONFIG;
	*cols = NULL;
	*ncols = 0;
	if (dbs_buf_appendf(&q, "EXPLAIN %s", query)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	if (mysql_real_query(m, q.data, (unsigned long)q.len) || !(res = mysql_store_result(m))) {
		unsigned no = mysql_errno(m);
		if (no == 1142 || no == 1143)
			dbs_fmt(err, errlen, "%s: the query reads what the source user may not (%s)",
			        where, mysql_error(m));
		else
			dbs_fmt(err, errlen, "%s: the server refuses it: %s", where, mysql_error(m));
		goto done;
	}
	my_ulonglong nrows = mysql_num_rows(res);
	mysql_free_result(res);
	res = NULL;
	if (nrows != 1) {
		dbs_fmt(err, errlen, "%s: it reads %llu tables; a custom query reads its own table "
		                     "only (no join or subquery)",
		        where, (unsigned long long)nrows);
		goto done;
	}
	dbs_buf_reset(&q);
	if (dbs_buf_appendf(&q, "%s LIMIT 0", query)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	if (mysql_real_query(m, q.data, (unsigned long)q.len) || !(res = mysql_store_result(m))) {
		dbs_fmt(err, errlen, "%s: the server refuses it: %s", where, mysql_error(m));
		goto done;
	}
	unsigned nf = mysql_num_fields(res);
	MYSQL_FIELD *f = mysql_fetch_fields(res);
	if (!(*cols = calloc(nf ? nf : 1, sizeof **cols))) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	for (unsigned i = 0; i < nf; i++) {
		const char *ft = f[i].org_table ? f[i].org_table : "";
		const char *fd = f[i].db ? f[i].db : "";
		if (strcmp(ft, name) != 0 || strcmp(fd, db) != 0) {
			dbs_fmt(err, errlen, "%s: column %u (%s) is not a column of %s.%s%s%s; a custom "
			                     "query selects columns of its own table as they are",
			        where, i + 1, f[i].name, db, name, ft[0] ? ": it comes from " : "",
			        ft[0] ? ft : "");
			goto done;
		}
		for (unsigned k = 0; k < *ncols; k++)
			if (strcmp((*cols)[k], f[i].org_name) == 0) {
				dbs_fmt(err, errlen, "%s: column %s is selected twice", where, f[i].org_name);
				goto done;
			}
		if (!((*cols)[(*ncols)++] = strdup(f[i].org_name))) {
			rc = dbs__sql_snap_oom(err, errlen);
			goto done;
		}
	}
	rc = 0;
done:
	if (res)
		mysql_free_result(res);
	dbs_buf_free(&q);
	if (rc) {
		for (uint32_t i = 0; *cols && i < *ncols; i++)
			free((*cols)[i]);
		free(*cols);
		*cols = NULL;
		*ncols = 0;
	}
	return rc;
}

/* The primary key's columns in key order (STATISTICS), as positions in
 * `def`; 0 of them when the key is missing or not all in def. */
static int primary_key(my_snapshot *sn, snap_table *t, const char *edb, const char *etb,
                       char *err, size_t errlen)
{
	MYSQL *m = sn->src.sql;
	MYSQL_RES *res = NULL;
	char q[1400];
	dbs_fmt(q, sizeof q,
	        "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='%s' "
	        "AND TABLE_NAME='%s' AND INDEX_NAME='PRIMARY' ORDER BY SEQ_IN_INDEX",
	        edb, etb);
	if (mysql_query(m, q) || !(res = mysql_store_result(m))) {
		dbs_fmt(err, errlen, "reading the primary key of %s: %s", t->s.qname, mysql_error(m));
		return DBS_ESOURCE;
	}
	uint32_t n = 0, all = 1;
	MYSQL_ROW row;
	const dbs_table *def = t->s.def;
	if (!(t->s.keys = calloc(def->ncolumns + 1, sizeof *t->s.keys))) {
		mysql_free_result(res);
		return dbs__sql_snap_oom(err, errlen);
	}
	while ((row = mysql_fetch_row(res))) {
		uint32_t c = 0;
		while (c < def->ncolumns && (!row[0] || strcmp(def->columns[c].name, row[0]) != 0))
			c++;
		if (c == def->ncolumns || n == def->ncolumns || n == MAX_KEYS) {
			all = 0;
			continue;
		}
		t->s.keys[n++] = c;
	}
	mysql_free_result(res);
	if (!all || !(def->ncolumns && n))
		n = 0;
	for (uint32_t c = 0; c < def->ncolumns && n; c++)
		if (!(def->columns[c].flags & DBS_COLUMN_KEY))
			continue;
		else {
			uint32_t k = 0;
			while (k < n && t->s.keys[k] != c)
				k++;
			if (k == n) /* a key column the primary key does not list */
				n = 0;
		}
	/* Integers only: the seam and the bounds compare keys as numbers. */
	for (uint32_t k = 0; k < n; k++) {
		uint8_t cls = t->cls[t->s.keys[k]];
		if (cls != R_INT && cls != R_UINT)
			n = 0;
	}
	t->s.load.nkeys = n;
	t->s.load.keys = t->s.keys;
	return 0;
}

/* Foreign keys of the table onto tables the load copies. */
static int foreign_keys(my_snapshot *sn, snap_table *t, const char *edb, const char *etb,
                        const char *const *copied, uint32_t ncopied, char *err, size_t errlen)
{
	MYSQL *m = sn->src.sql;
	MYSQL_RES *res = NULL;
	char q[2400];
	dbs_fmt(q, sizeof q,
	        "SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, "
	        "k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.DELETE_RULE, r.UPDATE_RULE "
	        "FROM information_schema.KEY_COLUMN_USAGE k JOIN "
	        "information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = "
	        "k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = "
	        "k.TABLE_NAME WHERE k.TABLE_SCHEMA='%s' AND k.TABLE_NAME='%s' AND "
	        "k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY k.CONSTRAINT_NAME, "
	        "k.ORDINAL_POSITION",
	        edb, etb);
	if (mysql_query(m, q) || !(res = mysql_store_result(m))) {
		dbs_fmt(err, errlen, "reading the foreign keys of %s: %s", t->s.qname, mysql_error(m));
		return DBS_ESOURCE;
	}
	/* The rows stay in `res` (stored) while the keys are made of them. */
	size_t nrows = (size_t)mysql_num_rows(res), n = 0;
	dbs_sql_fk_row *rows = calloc(nrows ? nrows : 1, sizeof *rows);
	int rc = DBS_ENOMEM;
	MYSQL_ROW row;
	while (rows && (row = mysql_fetch_row(res))) {
		if (!row[0] || !row[1] || !row[2] || !row[3] || !row[4])
			continue;
		rows[n++] = (dbs_sql_fk_row){
			.name = row[0], .column = row[1], .ref_schema = row[2], .ref_name = row[3],
			.ref_column = row[4], .on_delete = row[5] ? row[5] : "NO ACTION",
			.on_update = row[6] ? row[6] : "NO ACTION",
		};
	}
	if (rows)
		rc = dbs__sql_snap_foreign_keys(&t->s, rows, n, copied, ncopied, sn->src.host);
	free(rows);
	mysql_free_result(res);
	if (rc)
		dbs__sql_snap_oom(err, errlen);
	return rc;
}

/* The table's secondary indexes whose columns are all in `def`. */
static int add_indexes(const schema_info *in, dbs_table *def)
{
	uint32_t pos[MAX_KEYS * 4];
	for (uint32_t i = 0; i < in->nidx;) {
		uint32_t j = i, n = 0, missing = 0;
		for (; j < in->nidx && strcmp(in->idx_names[j], in->idx_names[i]) == 0; j++) {
			uint32_t c = 0;
			while (c < def->ncolumns && strcmp(def->columns[c].name, in->idx_cols[j]) != 0)
				c++;
			if (c == def->ncolumns || n == sizeof pos / sizeof pos[0])
				missing = 1;
			else
				pos[n++] = c;
		}
		if (!missing && dbs_table_add_index(def, in->idx_names[i], in->idx_flags[i], pos, n))
			return DBS_ENOMEM;
		i = j;
	}
	return 0;
}

/*
 * One table: described, its query and the user's SELECT checked, its
 * chunk key and estimate found. `index` is its place in the filter (-1
 * when the filter lists none).
 */
static int describe(my_snapshot *sn, snap_table *t, const char *db, const char *name,
                    uint64_t estimate, int index, char *err, size_t errlen)
{
	MYSQL *m = sn->src.sql;
	char where[600], edb[520], etb[520];
	char **qcols = NULL;
	uint32_t nqcols = 0;
	dbs_column *cols = NULL;
	uint8_t *cls = NULL;
	dbs_buf b = DBS_BUF_INIT;
	int rc;
	dbs__sql_snap_where(where, sizeof where, index, db, name);
	if (esc(m, edb, sizeof edb, db) || esc(m, etb, sizeof etb, name)) {
		dbs_fmt(err, errlen, "%s: name too long", where);
		return DBS_ECONFIG;
	}
	if (dbs__sql_snap_set_qname(&t->s, DBS_DIALECT_MYSQL, db, name)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto done;
	}
	schema_info *in = dbs__mys_info_get(&sn->src, db, name, err, errlen, &rc);
	if (!in)
		goto done;
	if (in->ncols == 0) {
		dbs_fmt(err, errlen, "%s: no such table on the source", where);
		rc = DBS_ECONFIG;
		goto done;
	}
	const char *query = sn->config->queries && index >= 0 ? sn->config->queries[index] : NULL;
	if (query) {
		char qwhere[640];
		dbs_fmt(qwhere, sizeof qwhere, "source.filter.tables[%d].query", index);
		if ((rc = check_query(sn, db, name, query, qwhere, &qcols, &nqcols, err, errlen)))
			goto done;
		if (!(t->s.query = strdup(query))) {
			rc = dbs__sql_snap_oom(err, errlen);
			goto done;
		}
	}
	uint32_t n = query ? nqcols : in->ncols;
	/* A primary key the query leaves a column of out is no key of the
	 * copy (a part of it would refuse rows the source holds). */
	uint32_t pk_all = 0, pk_selected = 0;
	for (uint32_t c = 0; c < in->ncols; c++)
		if (in->is_pk[c]) {
			pk_all++;
			for (uint32_t i = 0; query && i < nqcols; i++)
				pk_selected += strcmp(qcols[i], in->col_names[c]) == 0;
		}
	int keep_key = !query || pk_selected == pk_all;
	rc = DBS_ENOMEM;
	if (!(cols = calloc(n ? n : 1, sizeof *cols)) || !(cls = calloc(n ? n : 1, 1)))
		goto nomem;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t c = i;
		if (query)
			for (c = 0; c < in->ncols && strcmp(in->col_names[c], qcols[i]) != 0; c++)
				;
		if (c == in->ncols) {
			dbs_fmt(err, errlen, "%s: column %s is not in the table", where, qcols[i]);
			rc = DBS_ECONFIG;
			goto done;
		}
		int integer;
		uint32_t code;
		classify(in->col_types[c], in->is_json[c], &cls[i], &code, &integer);
		cols[i].name = in->col_names[c];
		cols[i].type_name = in->col_types[c];
		cols[i].type_id = code;
		cols[i].type_mod = 0;
		cols[i].flags = (in->is_pk[c] && keep_key ? DBS_COLUMN_KEY : 0) |
		                (in->not_null[c] ? DBS_COLUMN_NOT_NULL : 0) |
		                (strstr(in->col_types[c], "unsigned") ? DBS_COLUMN_UNSIGNED : 0);
	}
	if (dbs_table_new(&t->s.def, DBS_DIALECT_MYSQL, db, name, cols, n) ||
	    add_indexes(in, t->s.def))
		goto nomem;
	t->cls = cls;
	cls = NULL;
	t->s.load.def = t->s.def;
	t->s.load.query = t->s.query;
	t->s.load.estimated_rows = estimate;
	if ((rc = primary_key(sn, t, edb, etb, err, errlen)))
		goto done;
	/* The SELECT list: BIT as its number (the text protocol sends its
	 * bytes), FLOAT as a double (the text protocol rounds it to six
	 * digits; as a double it is exact). */
	for (uint32_t i = 0; i < n; i++) {
		int bit = t->cls[i] == R_BIT, flt = t->cls[i] == R_FLOAT;
		if ((i && dbs_buf_append_char(&b, ',')) ||
		    (bit && dbs_buf_append_str(&b, "CAST(")) ||
		    dbs__sql_append_ident_in(&b, DBS_DIALECT_MYSQL, t->s.def->columns[i].name) ||
		    (bit && dbs_buf_append_str(&b, " AS UNSIGNED)")) ||
		    (flt && dbs_buf_append_str(&b, "+0e0")))
			goto nomem;
	}
	if (!(t->s.select_list = strdup(b.data ? b.data : "")))
		goto nomem;
	if (dbs__sql_snap_set_from(&t->s))
		goto nomem;
	if ((rc = check_grant(sn, t, where, err, errlen)))
		goto done;
	rc = 0;
	goto done;
nomem:
	rc = dbs__sql_snap_oom(err, errlen);
done:
	for (uint32_t i = 0; i < nqcols; i++)
		free(qcols[i]);
	free(qcols);
	free(cols);
	free(cls);
	dbs_buf_free(&b);
	return rc;
}

int dbs__mys_snap_tables(dbs_snapshot *base, const dbs_load_table **out, uint32_t *n,
                         char *err, size_t errlen)
{
	my_snapshot *sn = (my_snapshot *)base;
	MYSQL *m = sn->src.sql;
	MYSQL_RES *res = NULL;
	char **dbs = NULL, **names = NULL;
	uint64_t *est = NULL;
	int *index = NULL;
	char q[1400], e1[520], e2[520];
	uint32_t count = 0;
	int rc = DBS_ENOMEM;
	const dbs_sql_filter *f = &sn->src.filter;

	*out = NULL;
	*n = 0;
	if (sn->tables) {
		*out = sn->loads;
		*n = sn->ntables;
		return 0;
	}
	if (f->n == 0) {
		if (!sn->src.dsn.database[0]) {
			dbs_fmt(err, errlen, "source.connection names no database: name one "
			                     "(user:password@tcp(host:port)/dbname) or list the tables "
			                     "in source.filter.tables");
			return DBS_ECONFIG;
		}
		esc(m, e1, sizeof e1, sn->src.dsn.database);
		dbs_fmt(q, sizeof q,
		        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
		        "WHERE TABLE_SCHEMA='%s' AND TABLE_TYPE='BASE TABLE' AND TABLE_NAME NOT IN "
		        "('dbstreams_checkpoint', 'dbstreams_load') ORDER BY TABLE_NAME",
		        e1);
		if (mysql_query(m, q) || !(res = mysql_store_result(m))) {
			dbs_fmt(err, errlen, "listing the tables of %s: %s", sn->src.dsn.database,
			        mysql_error(m));
			return DBS_ESOURCE;
		}
		size_t rows = (size_t)mysql_num_rows(res);
		dbs = calloc(rows + 1, sizeof *dbs);
		names = calloc(rows + 1, sizeof *names);
		est = calloc(rows + 1, sizeof *est);
		index = calloc(rows + 1, sizeof *index);
		if (!dbs || !names || !est || !index)
			goto nomem;
		MYSQL_ROW row;
		while ((row = mysql_fetch_row(res))) {
			if (!row[0] || !row[1])
				continue;
			if (!(dbs[count] = strdup(row[0])) || !(names[count] = strdup(row[1])))
				goto nomem;
			est[count] = row[2] ? strtoull(row[2], NULL, 10) : 0;
			index[count++] = -1;
		}
		mysql_free_result(res);
		res = NULL;
	} else {
		dbs = calloc(f->n, sizeof *dbs);
		names = calloc(f->n, sizeof *names);
		est = calloc(f->n, sizeof *est);
		index = calloc(f->n, sizeof *index);
		if (!dbs || !names || !est || !index)
			goto nomem;
		for (uint32_t i = 0; i < f->n; i++) {
			const char *db = f->entries[i].schema ? f->entries[i].schema : "";
			if (!db[0]) {
				dbs_fmt(err, errlen, "source.filter.tables[%u].name: \"%s\" names no "
				                     "database, and source.connection names none",
				        i, f->entries[i].name);
				rc = DBS_ECONFIG;
				goto done;
			}
			if (esc(m, e1, sizeof e1, db) || esc(m, e2, sizeof e2, f->entries[i].name)) {
				dbs_fmt(err, errlen, "source.filter.tables[%u].name: too long", i);
				rc = DBS_ECONFIG;
				goto done;
			}
			dbs_fmt(q, sizeof q,
			        "SELECT TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES WHERE "
			        "TABLE_SCHEMA='%s' AND TABLE_NAME='%s'",
			        e1, e2);
			if (mysql_query(m, q) || !(res = mysql_store_result(m))) {
				dbs_fmt(err, errlen, "source.filter.tables[%u]: %s", i, mysql_error(m));
				rc = DBS_ESOURCE;
				goto done;
			}
			MYSQL_ROW row = mysql_fetch_row(res);
			if (!row || !row[0] || strcmp(row[0], "BASE TABLE") != 0) {
				int view = row && row[0];
				char qn[600], probe[700];
				int found;
				mysql_free_result(res);
				res = NULL;
				dbs_buf b = DBS_BUF_INIT;
				if (dbs__sql_append_ident_in(&b, DBS_DIALECT_MYSQL, db) ||
				    dbs_buf_append_char(&b, '.') ||
				    dbs__sql_append_ident_in(&b, DBS_DIALECT_MYSQL, f->entries[i].name)) {
					dbs_buf_free(&b);
					goto nomem;
				}
				dbs_fmt(qn, sizeof qn, "%s", b.data);
				dbs_buf_free(&b);
				/* information_schema hides what the user may not read. */
				dbs_fmt(probe, sizeof probe, "SELECT 1 FROM %s LIMIT 0", qn);
				if (!view && query_found(m, probe, &found, err, errlen) &&
				    (mysql_errno(m) == 1142 || mysql_errno(m) == 1143))
					dbs_fmt(err, errlen,
					        "source.filter.tables[%u] (%s.%s): the source user may not read "
					        "it (%s): GRANT SELECT ON %s TO '%s'",
					        i, db, f->entries[i].name, mysql_error(m), qn, sn->src.dsn.user);
				else
					dbs_fmt(err, errlen,
					        "source.filter.tables[%u].name: %s.%s %s on the source", i, db,
					        f->entries[i].name,
					        view ? "is a view, not a table" : "does not exist");
				rc = DBS_ECONFIG;
				goto done;
			}
			est[count] = row[1] ? strtoull(row[1], NULL, 10) : 0;
			mysql_free_result(res);
			res = NULL;
			if (!(dbs[count] = strdup(db)) || !(names[count] = strdup(f->entries[i].name)))
				goto nomem;
			index[count++] = (int)i;
		}
	}
	if (!(sn->tables = calloc(count ? count : 1, sizeof *sn->tables)) ||
	    !(sn->loads = calloc(count ? count : 1, sizeof *sn->loads)))
		goto nomem;
	sn->ntables = count;
	for (uint32_t i = 0; i < count; i++)
		if ((rc = describe(sn, &sn->tables[i], dbs[i], names[i], est[i], index[i], err,
		                   errlen)))
			goto done;
	{
		char **copied = calloc(count ? count : 1, sizeof *copied);
		if (!copied)
			goto nomem;
		rc = 0;
		for (uint32_t i = 0; i < count && rc == 0; i++) {
			size_t l = strlen(dbs[i]) + strlen(names[i]) + 2;
			if (!(copied[i] = malloc(l)))
				rc = DBS_ENOMEM;
			else
				snprintf(copied[i], l, "%s.%s", dbs[i], names[i]);
		}
		for (uint32_t i = 0; i < count && rc == 0; i++) {
			esc(m, e1, sizeof e1, dbs[i]);
			esc(m, e2, sizeof e2, names[i]);
			rc = foreign_keys(sn, &sn->tables[i], e1, e2, (const char *const *)copied, count,
			                  err, errlen);
		}
		for (uint32_t i = 0; i < count; i++)
			free(copied[i]);
		free(copied);
		if (rc == DBS_ENOMEM)
			goto nomem;
		if (rc)
			goto done;
	}
	for (uint32_t i = 0; i < count; i++)
		sn->loads[i] = sn->tables[i].s.load;
	*out = sn->loads;
	*n = count;
	rc = 0;
	goto done;
nomem:
	rc = dbs__sql_snap_oom(err, errlen);
done:
	if (res)
		mysql_free_result(res);
	for (uint32_t i = 0; i < count; i++) {
		free(dbs[i]);
		free(names[i]);
	}
	free(dbs);
	free(names);
	free(est);
	free(index);
	return rc;
}
