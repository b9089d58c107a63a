/*
 * MySQL source: what information_schema says about the captured tables
 * (column names and types, keys, indexes, charsets, ENUM members), read
 * once per table and again after DDL, and the table maps of the binlog
 * turned into dbs_table definitions.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/mysql/ddl_track.h"
#include "sources/mysql/my_source.h"

/* ---- collations (for charsets rows.c does not know) ---- */

int dbs__mys_load_collations(my_source *s, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	MYSQL_RES *res = NULL;
	const char *q = "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS";
	if (mysql_query(s->sql, q) != 0 || !(res = mysql_store_result(s->sql))) {
		dbs_fmt(err, errlen, "%s: %s", q, mysql_error(s->sql));
		goto fail;
	}
	size_t n = (size_t)mysql_num_rows(res);
	s->collations = calloc(n ? n : 1, sizeof *s->collations);
	if (!s->collations) {
		rc = DBS_ENOMEM;
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res)) && s->ncollations < n) {
		if (!row[0] || !row[1])
			continue;
		collation_entry *c = &s->collations[s->ncollations++];
		c->id = (uint32_t)strtoul(row[0], NULL, 10);
		dbs_fmt(c->name, sizeof c->name, "%s", row[1]);
	}
	rc = 0;
fail:
	if (res)
		mysql_free_result(res);
	return rc;
}

static const char *charset_of(uint32_t id, void *ctx)
{
	my_source *s = ctx;
	for (size_t i = 0; i < s->ncollations; i++)
		if (s->collations[i].id == id)
			return s->collations[i].name;
	return NULL;
}

/* ---- filter ---- */

unsigned dbs__mys_filter_ops(const my_source *s, const char *db, const char *name)
{
	if (s->filter.n == 0) {
		if (s->dsn.database[0])
			return strcmp(db, s->dsn.database) == 0 ? DBS_OPS_ALL : 0;
		/* No database named: every table except the server's own. */
		if (!strcmp(db, "mysql") || !strcmp(db, "sys") ||
		    !strcmp(db, "performance_schema") || !strcmp(db, "information_schema"))
			return 0;
		return DBS_OPS_ALL;
	}
	return dbs__sql_filter_ops(&s->filter, db, strlen(db), name, strlen(name));
}

/* ---- information_schema ---- */

void dbs__mys_info_clear(schema_info *in)
{
	for (uint32_t i = 0; i < in->ncols; i++) {
		free(in->col_names[i]);
		free(in->col_types[i]);
		free(in->charsets[i]);
	}
	free(in->col_names);
	free(in->col_types);
	free(in->charsets);
	in->charsets = NULL;
	free(in->is_pk);
	free(in->not_null);
	free(in->is_json);
	in->col_names = in->col_types = NULL;
	in->is_pk = in->not_null = in->is_json = NULL;
	in->ncols = 0;
	for (uint32_t i = 0; i < in->nidx; i++) {
		free(in->idx_names[i]);
		free(in->idx_cols[i]);
	}
	free(in->idx_names);
	free(in->idx_cols);
	free(in->idx_flags);
	in->idx_names = in->idx_cols = NULL;
	in->idx_flags = NULL;
	in->nidx = 0;
}

/*
 * The secondary indexes of a table, read with its columns. Kept: BTREE,
 * HASH and FULLTEXT indexes over columns. A column prefix (SUB_PART) is
 * dropped with a log line: the target indexes the whole column where it
 * can, or its own prefix (see docs/type-mapping.md); a unique index then
 * checks a longer value than the source did, which accepts every row the
 * source accepted. SPATIAL and functional indexes are left out with a
 * log line.
 */
static int info_load_indexes(my_source *s, schema_info *in, const char *edb, const char *etb,
                             char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char q[1600];
	char skip[256] = "";
	dbs_fmt(q, sizeof q,
	         "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE FROM "
	         "information_schema.STATISTICS WHERE TABLE_SCHEMA='%s' AND TABLE_NAME='%s' "
	         "AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX",
	         edb, etb);
	if (mysql_query(s->sql, q) != 0 || !(res = mysql_store_result(s->sql))) {
		rc = DBS_ESOURCE;
		dbs_fmt(err, errlen, "reading the indexes of %s.%s: %s", in->db, in->name,
		         mysql_error(s->sql));
		goto fail;
	}
	size_t n = (size_t)mysql_num_rows(res);
	if (n == 0) {
		rc = 0;
		goto fail;
	}
	in->idx_names = calloc(n, sizeof(char *));
	in->idx_cols = calloc(n, sizeof(char *));
	in->idx_flags = calloc(n, sizeof(uint32_t));
	if (!in->idx_names || !in->idx_cols || !in->idx_flags)
		goto fail;
	while ((row = mysql_fetch_row(res)) && in->nidx < n) {
		const char *name = row[0] ? row[0] : "";
		const char *type = row[4] ? row[4] : "";
		if (skip[0] && strcmp(skip, name) == 0)
			continue;
		const char *why = NULL;
		if (!row[2])
			why = "a functional index";
		else if (strcmp(type, "BTREE") && strcmp(type, "HASH") && strcmp(type, "FULLTEXT"))
			why = type[0] ? type : "unknown index type";
		if (why) {
			dbs_log(s->host, DBS_LOG_INFO, "%s.%s: index %s not replicated (%s)", in->db,
			     in->name, name, why);
			/* Drop the rows of this index already taken. */
			while (in->nidx && strcmp(in->idx_names[in->nidx - 1], name) == 0) {
				in->nidx--;
				free(in->idx_names[in->nidx]);
				free(in->idx_cols[in->nidx]);
			}
			dbs_fmt(skip, sizeof skip, "%s", name);
			continue;
		}
		if (row[3])
			dbs_log(s->host, DBS_LOG_INFO,
			     "%s.%s: index %s uses a %s-character prefix of column %s; the target "
			     "indexes the column without it (or with its own prefix where it needs "
			     "one)",
			     in->db, in->name, name, row[3], row[2]);
		uint32_t i = in->nidx;
		in->idx_names[i] = strdup(name);
		in->idx_cols[i] = strdup(row[2]);
		if (!in->idx_names[i] || !in->idx_cols[i]) {
			free(in->idx_names[i]);
			free(in->idx_cols[i]);
			goto fail;
		}
		in->idx_flags[i] = (row[1] && strcmp(row[1], "0") == 0 ? DBS_INDEX_UNIQUE : 0) |
		                   (strcmp(type, "FULLTEXT") == 0 ? DBS_INDEX_FULLTEXT : 0);
		in->nidx++;
	}
	rc = 0;
fail:
	if (res)
		mysql_free_result(res);
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	return rc;
}

static int info_load(my_source *s, schema_info *in, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	MYSQL_RES *res = NULL;
	char q[1600], edb[520], etb[520];
	size_t dl = strlen(in->db), tl = strlen(in->name);
	dbs__mys_info_clear(in);
	if (dl > 256 || tl > 256) {
		rc = DBS_ESOURCE;
		dbs_fmt(err, errlen, "table name too long");
		goto fail;
	}
	mysql_real_escape_string(s->sql, edb, in->db, (unsigned long)dl);
	mysql_real_escape_string(s->sql, etb, in->name, (unsigned long)tl);
	dbs_fmt(
	    q, sizeof q,
	    "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, CHARACTER_SET_NAME FROM "
	    "information_schema.COLUMNS WHERE TABLE_SCHEMA='%s' AND TABLE_NAME='%s' "
	    "ORDER BY ORDINAL_POSITION",
	    edb, etb);
	if (mysql_query(s->sql, q) != 0 || !(res = mysql_store_result(s->sql))) {
		rc = DBS_ESOURCE;
		dbs_fmt(err, errlen, "reading the columns of %s.%s: %s", in->db, in->name,
		         mysql_error(s->sql));
		goto fail;
	}
	size_t n = (size_t)mysql_num_rows(res);
	if (n == 0) { /* dropped since: the binlog's metadata is all there is */
		rc = 0;
		goto fail;
	}
	in->col_names = calloc(n, sizeof(char *));
	in->col_types = calloc(n, sizeof(char *));
	in->charsets = calloc(n, sizeof(char *));
	in->is_pk = calloc(n, 1);
	in->not_null = calloc(n, 1);
	in->is_json = calloc(n, 1);
	if (!in->col_names || !in->col_types || !in->charsets || !in->is_pk || !in->not_null ||
	    !in->is_json)
		goto fail;
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res)) && in->ncols < n) {
		uint32_t i = in->ncols++;
		in->col_names[i] = strdup(row[0] ? row[0] : "");
		in->col_types[i] = strdup(row[1] ? row[1] : "");
		in->charsets[i] = row[4] ? strdup(row[4]) : NULL;
		if (!in->col_names[i] || !in->col_types[i] || (row[4] && !in->charsets[i]))
			goto fail;
		in->not_null[i] = row[2] && !strcmp(row[2], "NO");
		in->is_pk[i] = row[3] && !strcmp(row[3], "PRI");
	}
	mysql_free_result(res);
	res = NULL;
	if ((rc = info_load_indexes(s, in, edb, etb, err, errlen)) != 0)
		goto fail;
	rc = DBS_ENOMEM;
	if (s->mariadb) {
		/* MariaDB's JSON is LONGTEXT with a json_valid() check. */
		dbs_fmt(q, sizeof q,
		         "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE "
		         "CONSTRAINT_SCHEMA='%s' AND TABLE_NAME='%s'",
		         edb, etb);
		if (mysql_query(s->sql, q) == 0 && (res = mysql_store_result(s->sql))) {
			while ((row = mysql_fetch_row(res))) {
				if (!row[0])
					continue;
				for (uint32_t i = 0; i < in->ncols; i++) {
					char want[300];
					dbs_fmt(want, sizeof want, "json_valid(`%s`)",
					         in->col_names[i]);
					if (strcmp(row[0], want) == 0 &&
					    strstr(in->col_types[i], "text")) {
						in->is_json[i] = 1;
						char *j = strdup("json");
						if (!j)
							goto fail;
						free(in->col_types[i]);
						in->col_types[i] = j;
					}
				}
			}
		}
	}
	rc = 0;
fail:
	if (res)
		mysql_free_result(res);
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	if (rc != 0)
		dbs__mys_info_clear(in);
	return rc;
}

schema_info *dbs__mys_info_entry(my_source *s, const char *db, const char *name)
{
	for (size_t i = 0; i < s->ninfos; i++)
		if (!strcmp(s->infos[i].db, db) && !strcmp(s->infos[i].name, name))
			return &s->infos[i];
	if (dbs_array_reserve((void **)&s->infos, &s->infos_cap, s->ninfos + 1, sizeof *s->infos))
		return NULL;
	schema_info *in = &s->infos[s->ninfos];
	memset(in, 0, sizeof *in);
	in->db = strdup(db);
	in->name = strdup(name);
	if (!in->db || !in->name) {
		free(in->db);
		free(in->name);
		return NULL;
	}
	s->ninfos++;
	in->stale = 1;
	return in;
}

schema_info *dbs__mys_info_get(my_source *s, const char *db, const char *name, char *err,
                               size_t errlen, int *rc)
{
	*rc = 0;
	schema_info *in = dbs__mys_info_entry(s, db, name);
	if (!in)
		goto nomem;
	if (in->stale) {
		*rc = info_load(s, in, err, errlen);
		if (*rc != 0)
			return NULL;
		in->stale = 0;
	}
	return in;
nomem:
	*rc = DBS_ENOMEM;
	dbs_fmt(err, errlen, "out of memory");
	return NULL;
}

/* Bytes per character of a charset, for a string column's length in
 * characters from its length in bytes (1 when unknown: never shorter). */
static unsigned charset_bytes(const char *cs)
{
	static const struct {
		const char *name;
		unsigned bytes;
	} sizes[] = {{"utf8mb4", 4}, {"utf8mb3", 3}, {"utf8", 3},    {"utf16", 4},
	             {"utf16le", 4}, {"utf32", 4},   {"ucs2", 2},    {"gb18030", 4},
	             {"ujis", 3},    {"eucjpms", 3}, {"sjis", 2},    {"cp932", 2},
	             {"gbk", 2},     {"gb2312", 2},  {"big5", 2},    {"euckr", 2}};
	for (size_t i = 0; cs && i < sizeof sizes / sizeof sizes[0]; i++)
		if (strcmp(cs, sizes[i].name) == 0)
			return sizes[i].bytes;
	return 1;
}

/* ENUM/SET members as "('a','b')" after `buf`'s text; left as is when they
 * do not fit. */
static void append_members(const dbs_mysql_col *c, char *buf, size_t n)
{
	size_t len = strlen(buf), at = len;
	if (!c->nmembers || at + 2 >= n)
		return;
	buf[at++] = '(';
	for (uint32_t i = 0; i < c->nmembers; i++) {
		if (at + 4 >= n)
			goto toolong;
		if (i)
			buf[at++] = ',';
		buf[at++] = '\'';
		for (uint32_t k = 0; k < c->member_lens[i]; k++) {
			char ch = c->members[i][k];
			if (at + 4 >= n)
				goto toolong;
			if (ch == '\'')
				buf[at++] = '\'';
			buf[at++] = ch;
		}
		buf[at++] = '\'';
	}
	buf[at++] = ')';
	buf[at] = '\0';
	return;
toolong:
	buf[len] = '\0';
}

/* A type name from the binlog alone, when information_schema cannot say
 * (it shows the table as it is now, the binlog as it was): `cs` is the
 * column's charset name when known. */
static void fallback_type_name(const dbs_mysql_col *c, const char *cs, char *buf, size_t n)
{
	const char *u = c->is_unsigned ? " unsigned" : "";
	unsigned per = charset_bytes(cs);
	switch (c->real_type) {
	case MY_T_TINY: dbs_fmt(buf, n, "tinyint%s", u); break;
	case MY_T_SHORT: dbs_fmt(buf, n, "smallint%s", u); break;
	case MY_T_INT24: dbs_fmt(buf, n, "mediumint%s", u); break;
	case MY_T_LONG: dbs_fmt(buf, n, "int%s", u); break;
	case MY_T_LONGLONG: dbs_fmt(buf, n, "bigint%s", u); break;
	case MY_T_FLOAT: dbs_fmt(buf, n, "float"); break;
	case MY_T_DOUBLE: dbs_fmt(buf, n, "double"); break;
	case MY_T_NEWDECIMAL:
		dbs_fmt(buf, n, "decimal(%u,%u)", c->meta >> 8, c->meta & 0xff);
		break;
	case MY_T_DATE: dbs_fmt(buf, n, "date"); break;
	case MY_T_DATETIME: dbs_fmt(buf, n, "datetime"); break;
	case MY_T_DATETIME2:
		dbs_fmt(buf, n, c->meta ? "datetime(%u)" : "datetime", c->meta);
		break;
	case MY_T_TIMESTAMP: dbs_fmt(buf, n, "timestamp"); break;
	case MY_T_TIMESTAMP2:
		dbs_fmt(buf, n, c->meta ? "timestamp(%u)" : "timestamp", c->meta);
		break;
	case MY_T_TIME: dbs_fmt(buf, n, "time"); break;
	case MY_T_TIME2: dbs_fmt(buf, n, c->meta ? "time(%u)" : "time", c->meta); break;
	case MY_T_YEAR: dbs_fmt(buf, n, "year(4)"); break;
	case MY_T_BIT: dbs_fmt(buf, n, "bit(%u)", (c->meta & 0xff) * 8 + (c->meta >> 8)); break;
	case MY_T_ENUM:
		dbs_fmt(buf, n, "enum");
		append_members(c, buf, n);
		break;
	case MY_T_SET:
		dbs_fmt(buf, n, "set");
		append_members(c, buf, n);
		break;
	case MY_T_STRING:
		if (c->cs == DBS_MYSQL_CS_BINARY)
			dbs_fmt(buf, n, "binary(%u)", c->meta);
		else
			dbs_fmt(buf, n, "char(%u)", c->meta / per);
		break;
	case MY_T_VARCHAR:
	case MY_T_VAR_STRING:
		if (c->cs == DBS_MYSQL_CS_BINARY)
			dbs_fmt(buf, n, "varbinary(%u)", c->meta);
		else
			dbs_fmt(buf, n, "varchar(%u)", c->meta / per);
		break;
	case MY_T_BLOB:
	case MY_T_TINY_BLOB:
	case MY_T_MEDIUM_BLOB:
	case MY_T_LONG_BLOB: {
		static const char *const sz[] = {"tiny", "", "medium", "long"};
		unsigned k = c->meta >= 1 && c->meta <= 4 ? c->meta - 1 : 1;
		dbs_fmt(buf, n, "%s%s", sz[k], c->cs == DBS_MYSQL_CS_BINARY ? "blob" : "text");
		break;
	}
	case MY_T_JSON: dbs_fmt(buf, n, "json"); break;
	case MY_T_GEOMETRY: dbs_fmt(buf, n, "geometry"); break;
	default: dbs_fmt(buf, n, "unknown(%u)", c->real_type); break;
	}
}

/*
 * ENUM/SET members from a COLUMN_TYPE such as "enum('a','it''s')", for
 * servers that do not log them (binlog_row_metadata below FULL).
 */
static int members_from_type(dbs_mysql_tablemap *tm, uint32_t col, const char *type)
{
	int rc = DBS_ENOMEM;
	size_t len = strlen(type);
	const char **m = calloc(len + 1, sizeof *m);
	uint32_t *l = calloc(len + 1, sizeof *l);
	char *buf = malloc(len + 1);
	uint32_t n = 0;
	if (!m || !l || !buf)
		goto fail;
	const char *p = strchr(type, '(');
	char *w = buf;
	while (p && *p) {
		p = strchr(p, '\'');
		if (!p)
			break;
		p++;
		m[n] = w;
		for (; *p; p++) {
			if (*p == '\'' && p[1] == '\'') {
				*w++ = '\'';
				p++;
			} else if (*p == '\\' && p[1]) {
				*w++ = *++p;
			} else if (*p == '\'') {
				break;
			} else {
				*w++ = *p;
			}
		}
		l[n] = (uint32_t)(w - m[n]);
		n++;
		if (*p)
			p++;
	}
	rc = dbs__mysql_tablemap_set_members(tm, col, m, l, n);
fail:
	free(m);
	free(l);
	free(buf);
	return rc;
}

/* ---- table map cache ---- */

void dbs__mys_entry_clear(table_entry *e)
{
	free(e->raw);
	free(e->is_json);
	dbs__mysql_tablemap_free(&e->tm);
	if (e->table)
		dbs_table_unref(e->table);
	memset(e, 0, sizeof *e);
}

/* The indexes information_schema lists, on a table not shared yet. */
static int table_add_indexes(my_source *s, dbs_table *t, const schema_info *in, char *err,
                             size_t errlen)
{
	int rc = DBS_ENOMEM;
	uint32_t *pos = calloc(t->ncolumns ? t->ncolumns : 1, sizeof *pos);
	if (!pos)
		goto fail;
	for (uint32_t i = 0; i < in->nidx;) {
		uint32_t j = i, n = 0, missing = 0;
		for (; j < in->nidx && strcmp(in->idx_names[j], in->idx_names[i]) == 0; j++) {
			uint32_t c = 0;
			while (c < t->ncolumns && strcmp(t->columns[c].name, in->idx_cols[j]) != 0)
				c++;
			if (c == t->ncolumns || n == t->ncolumns)
				missing = 1;
			else
				pos[n++] = c;
		}
		if (missing)
			dbs_log(s->host, DBS_LOG_INFO,
			     "%s.%s: index %s not replicated (a column the binlog "
			     "does not show)",
			     t->schema, t->name, in->idx_names[i]);
		else if (dbs_table_add_index(t, in->idx_names[i], in->idx_flags[i], pos, n) != 0)
			goto fail;
		i = j;
	}
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	free(pos);
	return rc;
}

/* The tracked definition of the map's table, when the map agrees with it
 * (column count, names when logged, types); NULL otherwise. */
static const dbs_table *tracked_for(my_source *s, const dbs_mysql_tablemap *tm)
{
	const dbs_table *t = NULL;
	for (size_t k = 0; k < s->ninfos && !t; k++)
		if (!strcmp(s->infos[k].db, tm->db) && !strcmp(s->infos[k].name, tm->table))
			t = s->infos[k].tracked;
	if (!t || t->ncolumns != tm->ncols)
		return NULL;
	for (uint32_t i = 0; i < tm->ncols; i++) {
		if (tm->has_names && strcmp(tm->cols[i].name, t->columns[i].name) != 0)
			return NULL;
		if (!dbs__mys_type_agrees(t->columns[i].type_name, tm->cols[i].real_type))
			return NULL;
	}
	return t;
}

/* The map's table from the tracked definition: names, types, the key when
 * the map has none, and the indexes; nullability and signedness as the
 * map logs them. The tracked definition's version when nothing differs. */
static int build_from_tracked(my_source *s, table_entry *e, const dbs_table *tr, char *err,
                              size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_mysql_tablemap *tm = &e->tm;
	dbs_table *t = NULL;
	dbs_column *cols = calloc(tm->ncols ? tm->ncols : 1, sizeof *cols);
	uint32_t *pos = NULL;
	e->is_json = calloc(tm->ncols ? tm->ncols : 1, 1);
	if (!cols || !e->is_json)
		goto fail;
	if (!tm->has_charsets) {
		/* Text columns' charsets by name from information_schema: a
		 * charset seldom changes, and a column it does not show any
		 * more is read as the column it replaced would be. */
		schema_info *in = dbs__mys_info_get(s, tm->db, tm->table, err, errlen, &rc);
		if (!in)
			goto fail;
		for (uint32_t i = 0; i < tm->ncols; i++) {
			const char *cs = NULL, *type = tr->columns[i].type_name;
			for (uint32_t k = 0; k < in->ncols; k++)
				if (strcmp(in->col_names[k], tr->columns[i].name) == 0)
					cs = in->charsets[k];
			if (!cs && (strstr(type, "binary") || strstr(type, "blob")))
				cs = "binary";
			if (cs && (rc = dbs__mysql_col_set_charset(tm, i, cs)) != 0)
				goto fail;
		}
		rc = DBS_ENOMEM;
	}
	int same = 1;
	for (uint32_t i = 0; i < tm->ncols; i++) {
		dbs_mysql_col *c = &tm->cols[i];
		const dbs_column *d = &tr->columns[i];
		if (!tm->has_signedness && strstr(d->type_name, "unsigned"))
			c->is_unsigned = 1;
		int key = tm->has_pk ? c->is_key : (d->flags & DBS_COLUMN_KEY) != 0;
		cols[i].name = d->name;
		cols[i].type_name = d->type_name;
		cols[i].type_id = c->real_type;
		cols[i].type_mod = c->meta;
		cols[i].flags = (key ? DBS_COLUMN_KEY : 0) | (c->nullable ? 0 : DBS_COLUMN_NOT_NULL) |
		                (c->is_unsigned ? DBS_COLUMN_UNSIGNED : 0);
		if (cols[i].flags != d->flags)
			same = 0;
		e->is_json[i] = strcmp(d->type_name, "json") == 0 && c->real_type != MY_T_JSON;
		if ((c->real_type == MY_T_ENUM || c->real_type == MY_T_SET) && !c->members &&
		    (rc = members_from_type(tm, i, d->type_name)) != 0)
			goto fail;
		rc = DBS_ENOMEM;
	}
	if (dbs_table_new(&t, DBS_DIALECT_MYSQL, tm->db, tm->table, cols, tm->ncols) != 0)
		goto fail;
	t->source_id = (uint32_t)tm->table_id;
	for (uint32_t k = 0; k < tr->nindexes; k++)
		if (dbs_table_add_index(t, tr->indexes[k].name, tr->indexes[k].flags,
		                        tr->indexes[k].columns, tr->indexes[k].ncolumns) != 0)
			goto fail;
	schema_info *in = dbs__mys_info_entry(s, tm->db, tm->table);
	if (!in)
		goto fail;
	t->version = same ? tr->version : ++in->version;
	if (t->version > in->version)
		in->version = t->version;
	e->table = t;
	t = NULL;
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	if (t)
		dbs_table_unref(t);
	free(cols);
	free(pos);
	return rc;
}

/* The number in the first "(n" of a type, -1 without one. */
static long type_arg(const char *type, int which)
{
	const char *p = strchr(type, '(');
	if (!p || p[1] == '\'')
		return -1;
	char *end;
	long v = strtol(p + 1, &end, 10);
	if (which == 1) {
		if (*end != ',')
			return -1;
		v = strtol(end + 1, &end, 10);
	}
	return v;
}

/*
 * Does information_schema's type of a column (the table as it is now)
 * describe the map's column (as the binlog wrote it)? The family, and
 * what the map's metadata tells: a string's length in bytes, a decimal's
 * precision and scale, fractional seconds. A column changed since reads
 * as the binlog says, not as it is now.
 */
static int info_type_agrees(const char *type, const char *charset, const dbs_mysql_col *c)
{
	if (!dbs__mys_type_agrees(type, c->real_type))
		return 0;
	long n = type_arg(type, 0);
	switch (c->real_type) {
	case MY_T_VARCHAR:
	case MY_T_VAR_STRING:
	case MY_T_STRING: {
		if (n < 0)
			return 1;
		unsigned per = charset ? charset_bytes(charset) : 1;
		return (long)c->meta == n * (long)per;
	}
	case MY_T_NEWDECIMAL:
		return n < 0 || (n == (long)(c->meta >> 8) &&
		                 (type_arg(type, 1) < 0 ? 0 : type_arg(type, 1)) == (long)(c->meta & 0xff));
	case MY_T_DATETIME2:
	case MY_T_TIME2:
	case MY_T_TIMESTAMP2: return (n < 0 ? 0 : n) == (long)c->meta;
	default: return 1;
	}
}

static int build_table(my_source *s, table_entry *e, char *err, size_t errlen)
{
	int rc;
	dbs_mysql_tablemap *tm = &e->tm;
	schema_info *in = NULL;
	int use_info = 0;
	const dbs_table *tracked = tracked_for(s, tm);
	if (tracked)
		return build_from_tracked(s, e, tracked, err, errlen);
	/* information_schema shows the table as it is now, the binlog as it
	 * was: trust it only when the shapes agree. A cached copy that does
	 * not agree is read again once, in case a DDL went unnoticed. */
	for (int attempt = 0; attempt < 2 && !use_info; attempt++) {
		int was_stale = 0;
		for (size_t k = 0; k < s->ninfos; k++)
			if (!strcmp(s->infos[k].db, tm->db) &&
			    !strcmp(s->infos[k].name, tm->table)) {
				if (attempt)
					s->infos[k].stale = 1;
				was_stale = s->infos[k].stale;
			}
		in = dbs__mys_info_get(s, tm->db, tm->table, err, errlen, &rc);
		if (!in)
			return rc;
		use_info = in->ncols == tm->ncols;
		if (use_info && tm->has_names)
			for (uint32_t i = 0; i < tm->ncols; i++)
				if (strcmp(in->col_names[i], tm->cols[i].name) != 0)
					use_info = 0;
		for (uint32_t i = 0; use_info && i < tm->ncols; i++)
			use_info = info_type_agrees(in->col_types[i], in->charsets[i], &tm->cols[i]);
		if (attempt == 0 && (was_stale || in->version == 0) && !use_info)
			break; /* just read: reading again would not help */
	}
	if (!use_info && !tm->has_names) {
		dbs_fmt(
		    err, errlen,
		    "%s.%s: the binlog has no column names (set binlog_row_metadata=FULL: "
		    "SET GLOBAL binlog_row_metadata=FULL, my.cnf binlog_row_metadata=FULL) and "
		    "information_schema shows a different table",
		    tm->db, tm->table);
		return DBS_ESOURCE;
	}
	rc = DBS_ENOMEM;
	dbs_column *cols = calloc(tm->ncols, sizeof *cols);
	char(*names)[256] = calloc(tm->ncols, sizeof *names);
	e->is_json = calloc(tm->ncols, 1);
	if (!cols || !names || !e->is_json)
		goto fail;
	for (uint32_t i = 0; i < tm->ncols; i++) {
		dbs_mysql_col *c = &tm->cols[i];
		dbs_column *d = &cols[i];
		d->name = tm->has_names ? c->name : in->col_names[i];
		if (use_info) {
			d->type_name = in->col_types[i];
			e->is_json[i] = in->is_json[i];
			if (!tm->has_signedness && strstr(in->col_types[i], "unsigned"))
				c->is_unsigned = 1;
		} else {
			const char *cs = c->charset;
			if (!cs && c->collation)
				cs = charset_of(c->collation, s);
			fallback_type_name(c, cs, names[i], sizeof names[i]);
			d->type_name = names[i];
		}
		d->type_id = c->real_type;
		d->type_mod = c->meta;
		int key = tm->has_pk ? c->is_key : (use_info && in->is_pk[i]);
		d->flags = (key ? DBS_COLUMN_KEY : 0) | (c->nullable ? 0 : DBS_COLUMN_NOT_NULL) |
		           (c->is_unsigned ? DBS_COLUMN_UNSIGNED : 0);
		if (use_info && !tm->has_charsets) {
			rc = 0;
			if (in->charsets[i])
				rc = dbs__mysql_col_set_charset(tm, i, in->charsets[i]);
			else if (strstr(d->type_name, "binary") || strstr(d->type_name, "blob"))
				rc = dbs__mysql_col_set_charset(tm, i, "binary");
			if (rc != 0)
				goto fail;
			rc = DBS_ENOMEM;
		}
		if (use_info && (c->real_type == MY_T_DATETIME || c->real_type == MY_T_TIME ||
		                 c->real_type == MY_T_TIMESTAMP)) {
			const char *paren = strchr(in->col_types[i], '(');
			if (paren && paren[1] >= '1' && paren[1] <= '6')
				c->hires_dec = (uint8_t)(paren[1] - '0');
		}
		if ((c->real_type == MY_T_ENUM || c->real_type == MY_T_SET) && !c->members &&
		    use_info) {
			rc = members_from_type(tm, i, in->col_types[i]);
			if (rc != 0)
				goto fail;
			rc = DBS_ENOMEM;
		}
	}
	dbs_table *t = NULL;
	rc = dbs_table_new(&t, DBS_DIALECT_MYSQL, tm->db, tm->table, cols, tm->ncols);
	if (rc != 0) {
		dbs_fmt(err, errlen, "%s.%s: cannot describe the table", tm->db, tm->table);
		goto fail;
	}
	t->source_id = (uint32_t)tm->table_id;
	if (use_info && (rc = table_add_indexes(s, t, in, err, errlen)) != 0) {
		dbs_table_unref(t);
		goto fail;
	}
	t->version = ++in->version;
	e->table = t;
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	free(cols);
	free(names);
	return rc;
}

static int same_table(const dbs_table *a, const dbs_table *b)
{
	if (a->ncolumns != b->ncolumns || strcmp(a->schema, b->schema) || strcmp(a->name, b->name))
		return 0;
	for (uint32_t i = 0; i < a->ncolumns; i++) {
		const dbs_column *x = &a->columns[i], *y = &b->columns[i];
		if (strcmp(x->name, y->name) || strcmp(x->type_name, y->type_name) ||
		    x->type_id != y->type_id || x->type_mod != y->type_mod || x->flags != y->flags)
			return 0;
	}
	return 1;
}

table_entry *dbs__mys_entry_find(my_source *s, uint64_t table_id)
{
	for (size_t i = 0; i < s->ntables; i++)
		if (s->tables[i].table_id == table_id)
			return &s->tables[i];
	return NULL;
}

int dbs__mys_on_table_map(my_source *s, const uint8_t *body, size_t len, char *err, size_t errlen)
{
	int rc;
	if (len < 6) {
		dbs_fmt(err, errlen, "TABLE_MAP event truncated");
		return DBS_EPROTO;
	}
	uint64_t id = 0;
	for (unsigned k = 6; k-- > 0;)
		id = id << 8 | body[k];
	table_entry *e = dbs__mys_entry_find(s, id);
	if (e && e->raw_len == len && memcmp(e->raw, body, len) == 0)
		return 0; /* the same map as last time: the common case */
	table_entry fresh;
	memset(&fresh, 0, sizeof fresh);
	fresh.table_id = id;
	rc = dbs__mysql_tablemap_parse(&fresh.tm, body, len, charset_of, s, err, errlen);
	if (rc != 0)
		goto fail;
	fresh.operations = dbs__mys_filter_ops(s, fresh.tm.db, fresh.tm.table);
	if (fresh.operations) {
		rc = build_table(s, &fresh, err, errlen);
		if (rc != 0)
			goto fail;
		/* Re-read after a DDL that did not change this table: keep the
		 * definition batches already hold, and its version. */
		if (e && e->table && same_table(e->table, fresh.table)) {
			dbs_table_unref(fresh.table);
			fresh.table = (dbs_table *)dbs_table_ref(e->table);
			for (size_t k = 0; k < s->ninfos; k++)
				if (!strcmp(s->infos[k].db, fresh.tm.db) &&
				    !strcmp(s->infos[k].name, fresh.tm.table))
					s->infos[k].version = e->table->version;
		}
	}
	rc = DBS_ENOMEM;
	if (!(fresh.raw = malloc(len ? len : 1))) {
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	memcpy(fresh.raw, body, len);
	fresh.raw_len = len;
	if (!e) {
		if (dbs_array_reserve((void **)&s->tables, &s->tables_cap, s->ntables + 1,
		                      sizeof *s->tables)) {
			dbs_fmt(err, errlen, "out of memory");
			goto fail;
		}
		e = &s->tables[s->ntables++];
		memset(e, 0, sizeof *e);
	}
	dbs__mys_entry_clear(e);
	*e = fresh;
	return 0;
fail:
	dbs__mys_entry_clear(&fresh);
	return rc;
}
