/*
 * MySQL/MariaDB source: the snapshot capability (dbs_snapshot_ops) for an
 * initial load.
 *
 * The tables: those of source.filter.tables, or every base table of the
 * connection's database; described from information_schema as the binlog
 * reader describes them (schema.c), so a copied row and a streamed one
 * are the same dbs_value kinds; a custom query is checked by the server
 * itself (its EXPLAIN reads one table, its columns are columns of that
 * table); the user's SELECT is tried on each.
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
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mysql.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/mysql/my_source.h"
#include "sql/settings.h"
#include "sql/value_text.h"

/* A batch is handed over at this many bytes even when not full. */
#define BATCH_BYTES (4u << 20)
#define MAX_KEYS 16u

/* How a column's text becomes a value. */
enum rclass {
	R_INT = 0, R_UINT, R_YEAR, R_BIT, R_FLOAT, R_DOUBLE, R_DECIMAL, R_DATE, R_DATETIME,
	R_TIMESTAMP, R_TIME, R_TEXT, R_BYTES, R_JSON
};

typedef struct snap_table {
	dbs_load_table load;   /* what the core sees; load.def is `def` */
	dbs_table *def;        /* one reference */
	uint32_t *keys;
	uint8_t *cls;          /* enum rclass per column of def */
	char *select_list;     /* the columns as the SELECT reads them */
	char *from;            /* `db`.`t`, or (query) AS dbs_q */
	char *qname;           /* `db`.`t`, for messages */
	dbs_foreign_key *fks;
	uint32_t nfks;
	char **strings;        /* what the foreign keys point into */
	size_t nstrings, capstrings;
	const char **refcols;  /* every foreign key's referenced columns */
	uint32_t *fkcols;
	char *query;
} snap_table;

typedef struct my_snapshot {
	dbs_snapshot base; /* first */
	my_source src;     /* the source's connection code and schema cache */
	const dbs_source_config *config;
	int positions;     /* a stream follows: readers report binlog positions */
	snap_table *tables;
	uint32_t ntables;
	dbs_load_table *loads;
	dbs_value *points;
	size_t cap_points;
} my_snapshot;

typedef struct my_reader {
	dbs_snapshot_reader base; /* first */
	my_snapshot *snap;
	MYSQL *conn;
	dbs_batch *batch;
	dbs_buf sql;
} my_reader;

static int oom(char *err, size_t errlen)
{
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* Errors the client library raises itself: the connection, not the data. */
static int client_errno(unsigned no)
{
	return (no >= 2000 && no <= 2999) || (no >= 5000 && no <= 5999);
}

static int lost_or(MYSQL *m, int rc)
{
	return rc && m && client_errno(mysql_errno(m)) ? DBS_LOAD_LOST : rc;
}

/* ---- tables ---- */

static void snap_table_free(snap_table *t)
{
	if (t->def)
		dbs_table_unref(t->def);
	free(t->keys);
	free(t->cls);
	free(t->select_list);
	free(t->from);
	free(t->qname);
	free(t->fks);
	for (size_t i = 0; i < t->nstrings; i++)
		free(t->strings[i]);
	free(t->strings);
	free(t->refcols);
	free(t->fkcols);
	free(t->query);
}

/* A string the table keeps (foreign keys point into them). */
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

/* "source.filter.tables[i]" or the table itself, for messages. */
static void where_of(char *buf, size_t size, int index, const char *db, const char *name)
{
	if (index >= 0)
		dbs_fmt(buf, size, "source.filter.tables[%d] (%s.%s)", index, db, name);
	else
		dbs_fmt(buf, size, "table %s.%s", db, name);
}

/* The user may SELECT from the table: tried (LIMIT 0 reads nothing). */
static int check_grant(my_snapshot *sn, snap_table *t, const char *where, char *err,
                       size_t errlen)
{
	dbs_buf q = DBS_BUF_INIT;
	int found, rc;
	if (dbs_buf_appendf(&q, "SELECT 1 FROM %s LIMIT 0", t->qname))
		return oom(err, errlen);
	rc = query_found(sn->src.sql, q.data, &found, err, errlen);
	dbs_buf_free(&q);
	if (rc && (mysql_errno(sn->src.sql) == 1142 || mysql_errno(sn->src.sql) == 1143))
		dbs_fmt(err, errlen,
		        "%s: the source user may not read it (%s): GRANT SELECT ON %s TO '%s'",
		        where, mysql_error(sn->src.sql), t->qname, sn->src.dsn.user);
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
		rc = oom(err, errlen);
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
		rc = oom(err, errlen);
		goto done;
	}
	if (mysql_real_query(m, q.data, (unsigned long)q.len) || !(res = mysql_store_result(m))) {
		dbs_fmt(err, errlen, "%s: the server refuses it: %s", where, mysql_error(m));
		goto done;
	}
	unsigned nf = mysql_num_fields(res);
	MYSQL_FIELD *f = mysql_fetch_fields(res);
	if (!(*cols = calloc(nf ? nf : 1, sizeof **cols))) {
		rc = oom(err, errlen);
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
			rc = oom(err, errlen);
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
		dbs_fmt(err, errlen, "reading the primary key of %s: %s", t->qname, mysql_error(m));
		return DBS_ESOURCE;
	}
	uint32_t n = 0, all = 1;
	MYSQL_ROW row;
	const dbs_table *def = t->def;
	if (!(t->keys = calloc(def->ncolumns + 1, sizeof *t->keys))) {
		mysql_free_result(res);
		return oom(err, errlen);
	}
	while ((row = mysql_fetch_row(res))) {
		uint32_t c = 0;
		while (c < def->ncolumns && (!row[0] || strcmp(def->columns[c].name, row[0]) != 0))
			c++;
		if (c == def->ncolumns || n == def->ncolumns || n == MAX_KEYS) {
			all = 0;
			continue;
		}
		t->keys[n++] = c;
	}
	mysql_free_result(res);
	if (!all || !(def->ncolumns && n))
		n = 0;
	for (uint32_t c = 0; c < def->ncolumns && n; c++)
		if (!(def->columns[c].flags & DBS_COLUMN_KEY))
			continue;
		else {
			uint32_t k = 0;
			while (k < n && t->keys[k] != c)
				k++;
			if (k == n) /* a key column the primary key does not list */
				n = 0;
		}
	/* Integers only: the seam and the bounds compare keys as numbers. */
	for (uint32_t k = 0; k < n; k++) {
		uint8_t cls = t->cls[t->keys[k]];
		if (cls != R_INT && cls != R_UINT)
			n = 0;
	}
	t->load.nkeys = n;
	t->load.keys = t->keys;
	return 0;
}

/* Foreign keys of the table onto tables the load copies. */
static int foreign_keys(my_snapshot *sn, snap_table *t, const char *edb, const char *etb,
                        const char *const *copied, uint32_t ncopied, char *err, size_t errlen)
{
	MYSQL *m = sn->src.sql;
	MYSQL_RES *res = NULL;
	char q[2400];
	int rc = DBS_ENOMEM;
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
		dbs_fmt(err, errlen, "reading the foreign keys of %s: %s", t->qname, mysql_error(m));
		return DBS_ESOURCE;
	}
	size_t nrows = (size_t)mysql_num_rows(res);
	if (!nrows) {
		mysql_free_result(res);
		return 0;
	}
	t->fks = calloc(nrows, sizeof *t->fks);
	t->refcols = calloc(nrows, sizeof *t->refcols);
	t->fkcols = calloc(nrows, sizeof *t->fkcols);
	if (!t->fks || !t->refcols || !t->fkcols)
		goto fail;
	MYSQL_ROW row;
	size_t used = 0;
	char last[256] = "";
	int skip = 0;
	while ((row = mysql_fetch_row(res))) {
		if (!row[0] || !row[1] || !row[2] || !row[3] || !row[4])
			continue;
		if (strcmp(last, row[0]) != 0) {
			dbs_fmt(last, sizeof last, "%s", row[0]);
			char ref[600];
			dbs_fmt(ref, sizeof ref, "%s.%s", row[2], row[3]);
			skip = 1;
			for (uint32_t i = 0; i < ncopied && skip; i++)
				skip = strcmp(copied[i], ref) != 0;
			if (skip) {
				dbs_log(sn->src.host, DBS_LOG_INFO,
				        "%s: foreign key %s not copied (it references %s, which the load "
				        "does not copy)",
				        t->qname, row[0], ref);
				continue;
			}
			dbs_foreign_key *fk = &t->fks[t->nfks++];
			if (!(fk->name = keep_str(t, row[0])) || !(fk->ref_schema = keep_str(t, row[2])) ||
			    !(fk->ref_name = keep_str(t, row[3])) ||
			    !(fk->on_delete = keep_str(t, row[5] ? row[5] : "NO ACTION")) ||
			    !(fk->on_update = keep_str(t, row[6] ? row[6] : "NO ACTION")))
				goto fail;
			fk->columns = t->fkcols + used;
			fk->ref_columns = t->refcols + used;
		} else if (skip) {
			continue;
		}
		dbs_foreign_key *fk = &t->fks[t->nfks - 1];
		uint32_t c = 0;
		while (c < t->def->ncolumns && strcmp(t->def->columns[c].name, row[1]) != 0)
			c++;
		if (c == t->def->ncolumns) { /* not selected by the query: no key */
			t->nfks--;
			skip = 1;
			continue;
		}
		t->fkcols[used] = c;
		if (!(t->refcols[used] = keep_str(t, row[4])))
			goto fail;
		used++;
		fk->ncolumns++;
	}
	t->load.foreign = t->fks;
	t->load.nforeign = t->nfks;
	rc = 0;
fail:
	mysql_free_result(res);
	if (rc)
		oom(err, errlen);
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
	where_of(where, sizeof where, index, db, name);
	if (esc(m, edb, sizeof edb, db) || esc(m, etb, sizeof etb, name)) {
		dbs_fmt(err, errlen, "%s: name too long", where);
		return DBS_ECONFIG;
	}
	if (dbs__sql_append_ident_in(&b, DBS_DIALECT_MYSQL, db) || dbs_buf_append_char(&b, '.') ||
	    dbs__sql_append_ident_in(&b, DBS_DIALECT_MYSQL, name) || !(t->qname = strdup(b.data))) {
		rc = oom(err, errlen);
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
		if (!(t->query = strdup(query))) {
			rc = oom(err, errlen);
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
	if (dbs_table_new(&t->def, DBS_DIALECT_MYSQL, db, name, cols, n) || add_indexes(in, t->def))
		goto nomem;
	t->cls = cls;
	cls = NULL;
	t->load.def = t->def;
	t->load.query = t->query;
	t->load.estimated_rows = estimate;
	if ((rc = primary_key(sn, t, edb, etb, err, errlen)))
		goto done;
	/* The SELECT list: BIT as its number (the text protocol sends its
	 * bytes), FLOAT as a double (the text protocol rounds it to six
	 * digits; as a double it is exact). */
	dbs_buf_reset(&b);
	for (uint32_t i = 0; i < n; i++) {
		int bit = t->cls[i] == R_BIT, flt = t->cls[i] == R_FLOAT;
		if ((i && dbs_buf_append_char(&b, ',')) ||
		    (bit && dbs_buf_append_str(&b, "CAST(")) ||
		    dbs__sql_append_ident_in(&b, DBS_DIALECT_MYSQL, t->def->columns[i].name) ||
		    (bit && dbs_buf_append_str(&b, " AS UNSIGNED)")) ||
		    (flt && dbs_buf_append_str(&b, "+0e0")))
			goto nomem;
	}
	if (!(t->select_list = strdup(b.data ? b.data : "")))
		goto nomem;
	dbs_buf_reset(&b);
	if (query ? dbs_buf_appendf(&b, "(%s) AS dbs_q", query) : dbs_buf_append_str(&b, t->qname))
		goto nomem;
	if (!(t->from = strdup(b.data)))
		goto nomem;
	if ((rc = check_grant(sn, t, where, err, errlen)))
		goto done;
	rc = 0;
	goto done;
nomem:
	rc = oom(err, errlen);
done:
	for (uint32_t i = 0; i < nqcols; i++)
		free(qcols[i]);
	free(qcols);
	free(cols);
	free(cls);
	dbs_buf_free(&b);
	return rc;
}

static int my_tables(dbs_snapshot *base, const dbs_load_table **out, uint32_t *n, char *err,
                     size_t errlen)
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
		sn->loads[i] = sn->tables[i].load;
	*out = sn->loads;
	*n = count;
	rc = 0;
	goto done;
nomem:
	rc = oom(err, errlen);
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

/* ---- keys in SQL ---- */

static int append_int(dbs_buf *b, const dbs_value *v)
{
	return v->kind == DBS_VALUE_UINT ? dbs_buf_appendf(b, "%" PRIu64, v->v.u)
	                                 : dbs_buf_appendf(b, "%" PRId64, v->v.i);
}

/*
 * The condition "key > v" (op '>') or "key <= v" (op '<') over the key
 * columns, lexicographically, spelled as ORs so every server's range
 * optimiser reads it: (a > 1) OR (a = 1 AND b > 2).
 */
static int key_cond(dbs_buf *b, const snap_table *t, const dbs_value *v, char op)
{
	uint32_t n = t->load.nkeys;
	int rc = dbs_buf_append_char(b, '(');
	for (uint32_t i = 0; i < n && !rc; i++) {
		rc = dbs_buf_append_str(b, i ? " OR (" : "(");
		for (uint32_t k = 0; k <= i && !rc; k++) {
			const char *name = t->def->columns[t->keys[k]].name;
			rc = (k && dbs_buf_append_str(b, " AND ")) ||
			     dbs__sql_append_ident_in(b, DBS_DIALECT_MYSQL, name) ||
			     dbs_buf_append_str(b, k < i ? " = " : op == '>' ? " > " : " < ") ||
			     append_int(b, &v[k]);
		}
		if (!rc)
			rc = dbs_buf_append_char(b, ')');
	}
	if (!rc && op == '<') { /* or equal: the whole key */
		rc = dbs_buf_append_str(b, " OR (");
		for (uint32_t k = 0; k < n && !rc; k++)
			rc = (k && dbs_buf_append_str(b, " AND ")) ||
			     dbs__sql_append_ident_in(b, DBS_DIALECT_MYSQL,
			                              t->def->columns[t->keys[k]].name) ||
			     dbs_buf_append_str(b, " = ") || append_int(b, &v[k]);
		if (!rc)
			rc = dbs_buf_append_char(b, ')');
	}
	return rc ? rc : dbs_buf_append_char(b, ')');
}

static int order_by(dbs_buf *b, const snap_table *t)
{
	int rc = dbs_buf_append_str(b, " ORDER BY ");
	for (uint32_t k = 0; k < t->load.nkeys && !rc; k++)
		rc = (k && dbs_buf_append_char(b, ',')) ||
		     dbs__sql_append_ident_in(b, DBS_DIALECT_MYSQL, t->def->columns[t->keys[k]].name);
	return rc;
}

static snap_table *table_of(my_snapshot *sn, const dbs_load_table *table)
{
	for (uint32_t i = 0; i < sn->ntables; i++)
		if (sn->tables[i].def == table->def)
			return &sn->tables[i];
	return NULL;
}

/* An integer of a key column from the server's text. */
static int parse_int(const char *s, unsigned long len, dbs_value *v)
{
	char buf[32];
	char *end;
	if (!s || len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	memset(v, 0, sizeof *v);
	if (buf[0] == '-') {
		v->kind = DBS_VALUE_INT;
		v->v.i = strtoll(buf, &end, 10);
	} else {
		unsigned long long u = strtoull(buf, &end, 10);
		if (u > (unsigned long long)INT64_MAX) {
			v->kind = DBS_VALUE_UINT;
			v->v.u = u;
		} else {
			v->kind = DBS_VALUE_INT;
			v->v.i = (int64_t)u;
		}
	}
	return errno || *end ? -1 : 0;
}

/*
 * Split points about `rows` keys apart, walking the key in order: each
 * point is the key `rows` rows past the last (the server skips them with
 * OFFSET, sending nothing), so chunks hold `rows` rows whatever the keys'
 * spread, and the walk counts the table.
 */
static int my_plan(dbs_snapshot *base, const dbs_load_table *table, uint64_t rows,
                   const dbs_value **points, uint32_t *n, uint64_t *counted, char *err,
                   size_t errlen)
{
	my_snapshot *sn = (my_snapshot *)base;
	snap_table *t = table_of(sn, table);
	MYSQL *m = sn->src.sql;
	dbs_buf q = DBS_BUF_INIT;
	uint32_t nk = table->nkeys, np = 0;
	uint64_t total = 0;
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
			    dbs__sql_append_ident_in(&q, DBS_DIALECT_MYSQL,
			                             t->def->columns[t->keys[k]].name))
				goto nomem;
		if (dbs_buf_appendf(&q, " FROM %s", t->qname) ||
		    (np && (dbs_buf_append_str(&q, " WHERE ") ||
		            key_cond(&q, t, sn->points + (size_t)(np - 1) * nk, '>'))) ||
		    order_by(&q, t) || dbs_buf_appendf(&q, " LIMIT 1 OFFSET %" PRIu64, rows - 1))
			goto nomem;
		MYSQL_RES *res = NULL;
		if (mysql_real_query(m, q.data, (unsigned long)q.len) || !(res = mysql_store_result(m))) {
			dbs_fmt(err, errlen, "planning the chunks of %s: %s", t->qname, mysql_error(m));
			rc = DBS_ESOURCE;
			goto done;
		}
		MYSQL_ROW row = mysql_fetch_row(res);
		unsigned long *lens = row ? mysql_fetch_lengths(res) : NULL;
		if (!row) {
			mysql_free_result(res);
			break;
		}
		if (dbs_array_reserve((void **)&sn->points, &sn->cap_points, (size_t)(np + 1) * nk,
		                      sizeof *sn->points)) {
			mysql_free_result(res);
			goto nomem;
		}
		for (uint32_t k = 0; k < nk; k++)
			if (parse_int(row[k], lens[k], &sn->points[(size_t)np * nk + k])) {
				mysql_free_result(res);
				dbs_fmt(err, errlen, "planning the chunks of %s: a key that is not an integer",
				        t->qname);
				rc = DBS_ESOURCE;
				goto done;
			}
		mysql_free_result(res);
		np++;
		total += rows;
		if (dbs_host_stopping(sn->src.host))
			break;
	}
	/* What lies after the last point. */
	dbs_buf_reset(&q);
	if (dbs_buf_appendf(&q, "SELECT COUNT(*) FROM %s", t->qname) ||
	    (np && (dbs_buf_append_str(&q, " WHERE ") ||
	            key_cond(&q, t, sn->points + (size_t)(np - 1) * nk, '>'))))
		goto nomem;
	char *v[1] = {NULL};
	if ((rc = dbs__mys_query_row(m, q.data, 1, v, err, errlen)))
		goto done;
	total += v[0] ? strtoull(v[0], NULL, 10) : 0;
	free(v[0]);
	*points = sn->points;
	*n = np;
	*counted = total;
	goto done;
nomem:
	rc = oom(err, errlen);
done:
	dbs_buf_free(&q);
	return rc;
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

static int my_reader_open(dbs_snapshot *base, dbs_snapshot_reader **out, uint64_t *position,
                          char *err, size_t errlen)
{
	my_snapshot *sn = (my_snapshot *)base;
	my_reader *r = calloc(1, sizeof *r);
	int rc;
	*out = NULL;
	*position = 0;
	if (!r)
		return oom(err, errlen);
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
		rc = oom(err, errlen);
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
		if (parse_int(s, n, v))
			return -1;
		if (cls != R_INT && v->kind == DBS_VALUE_INT) {
			uint64_t u = (uint64_t)v->v.i;
			v->kind = DBS_VALUE_UINT;
			v->v.u = u;
		}
		return 0;
	case R_YEAR:
		if (parse_int(s, n, v))
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

static int my_read(dbs_snapshot_reader *base, const dbs_load_table *table,
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
	if (dbs_buf_appendf(q, "SELECT %s FROM %s", t->select_list, t->from))
		return oom(err, errlen);
	if (t->load.nkeys && (chunk->lo || chunk->hi)) {
		if (dbs_buf_append_str(q, " WHERE ") ||
		    (chunk->lo && key_cond(q, t, chunk->lo, '>')) ||
		    (chunk->lo && chunk->hi && dbs_buf_append_str(q, " AND ")) ||
		    (chunk->hi && key_cond(q, t, chunk->hi, '<')))
			return oom(err, errlen);
	}
	if (t->load.nkeys && order_by(q, t))
		return oom(err, errlen);
	if (mysql_real_query(r->conn, q->data, (unsigned long)q->len) ||
	    !(res = mysql_use_result(r->conn))) {
		dbs_fmt(err, errlen, "reading %s: %s", t->qname, mysql_error(r->conn));
		return lost_or(r->conn, DBS_ESOURCE);
	}
	dbs_batch_reset(r->batch);
	uint32_t ncols = t->def->ncolumns;
	MYSQL_ROW row;
	while (!stop && (row = mysql_fetch_row(res))) {
		unsigned long *lens = mysql_fetch_lengths(res);
		dbs_event *ev;
		if (dbs_batch_add(r->batch, DBS_OP_INSERT, t->def, &ev)) {
			rc = oom(err, errlen);
			break;
		}
		for (uint32_t c = 0; c < ncols; c++) {
			int pr = put_value(r->batch, &ev->after[c], t->cls[c], row[c], lens[c]);
			if (pr == DBS_ENOMEM) {
				rc = oom(err, errlen);
				break;
			}
			if (pr) {
				dbs_fmt(err, errlen, "%s: column %s: cannot read the value \"%.*s\"",
				        t->qname, t->def->columns[c].name, (int)(lens[c] > 64 ? 64 : lens[c]),
				        row[c]);
				rc = DBS_ESOURCE;
				break;
			}
		}
		if (rc)
			break;
		if (dbs_batch_count(r->batch) >= batch_rows || dbs_batch_bytes(r->batch) >= BATCH_BYTES) {
			stop = rows_fn(r->batch, rows_data) != 0;
			dbs_batch_reset(r->batch);
		}
	}
	if (!rc && !stop && mysql_errno(r->conn)) {
		dbs_fmt(err, errlen, "reading %s: %s", t->qname, mysql_error(r->conn));
		rc = lost_or(r->conn, DBS_ESOURCE);
	}
	if (!rc && !stop && dbs_batch_count(r->batch))
		rows_fn(r->batch, rows_data);
	dbs_batch_reset(r->batch);
	mysql_free_result(res); /* reads what a stop left, so the session stays usable */
	return rc;
}

static void my_reader_close(dbs_snapshot_reader *base)
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

/* ---- the snapshot ---- */

static void my_snap_close(dbs_snapshot *base)
{
	my_snapshot *sn = (my_snapshot *)base;
	if (!sn)
		return;
	for (uint32_t i = 0; i < sn->ntables; i++)
		snap_table_free(&sn->tables[i]);
	free(sn->tables);
	free(sn->loads);
	free(sn->points);
	if (sn->src.sql)
		mysql_close(sn->src.sql);
	for (size_t i = 0; i < sn->src.ninfos; i++) {
		dbs__mys_info_clear(&sn->src.infos[i]);
		free(sn->src.infos[i].db);
		free(sn->src.infos[i].name);
	}
	free(sn->src.infos);
	dbs__sql_filter_free(&sn->src.filter);
	dbs__mysql_dsn_free(&sn->src.dsn);
	free(sn);
}

static int my_snap_open(dbs_snapshot **out, const dbs_source_config *config,
                        const dbs_host *host, dbs_source *stream, char *err, size_t errlen)
{
	my_snapshot *sn = calloc(1, sizeof *sn);
	int rc;
	char *v[1] = {NULL};
	*out = NULL;
	if (!sn)
		return oom(err, errlen);
	sn->base.ops = &dbs__mysql_snapshot_ops;
	sn->config = config;
	sn->positions = stream != NULL;
	sn->src.host = host;
	const dbs_sql_source_settings *ss =
	    config->settings ? config->settings : &dbs__sql_source_defaults;
	sn->src.ssl_ca = ss->ssl_ca;
	sn->src.ssl_cert = ss->ssl_cert;
	sn->src.ssl_key = ss->ssl_key;
	if ((rc = dbs__mysql_dsn_parse(&sn->src.dsn, config->connection, err, errlen)))
		goto fail;
	if (dbs__sql_filter_init(&sn->src.filter, config, sn->src.dsn.database)) {
		rc = oom(err, errlen);
		goto fail;
	}
	if ((rc = dbs__mys_connect(&sn->src, &sn->src.sql, err, errlen)) ||
	    (rc = dbs__mys_exec(sn->src.sql, "SET time_zone = '+00:00'", err, errlen)) ||
	    (rc = dbs__mys_query_row(sn->src.sql, "SELECT @@version", 1, v, err, errlen)))
		goto fail;
	if (ss->flavor && ss->flavor[0])
		sn->src.mariadb = strcmp(ss->flavor, "mariadb") == 0;
	else
		sn->src.mariadb = v[0] && strstr(v[0], "MariaDB") != NULL;
	free(v[0]);
	*out = &sn->base;
	return 0;
fail:
	my_snap_close(&sn->base);
	return rc;
}

const dbs_snapshot_ops dbs__mysql_snapshot_ops = {
	.version = DBS_SNAPSHOT_OPS_VERSION,
	.open = my_snap_open,
	.tables = my_tables,
	.plan = my_plan,
	.reader_open = my_reader_open,
	.read = my_read,
	.reader_close = my_reader_close,
	.close = my_snap_close,
};
