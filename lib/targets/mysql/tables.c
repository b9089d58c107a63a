/*
 * MySQL target: the cache of target tables, created on first sight with
 * the mapped column types (sqlmap.h), the primary key and the secondary
 * indexes; and keys as messages show them.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "fault/fault.h"
#include "sql/value_text.h"
#include "targets/mysql/my_target.h"

/* Two definitions of one table version (a source may hand out copies). */
int dbs__myt_same_def(const dbs_table *a, const dbs_table *b)
{
	return a == b || (a->version == b->version && a->dialect == b->dialect &&
	                  a->ncolumns == b->ncolumns && strcmp(a->name, b->name) == 0 &&
	                  strcmp(a->schema ? a->schema : "", b->schema ? b->schema : "") == 0);
}

int dbs__myt_ident(dbs_buf *b, const char *ident)
{
	return dbs__sql_append_ident_in(b, DBS_DIALECT_MYSQL, ident);
}

/* "(id=5, k='x')" of an event's key, for messages. */
void dbs__myt_key_text(my_target *t, my_table *tb, const dbs_event *ev, char *buf, size_t size)
{
	dbs_buf *b = &t->tmp;
	const dbs_value *img = dbs__row_key_image(ev, tb->keys, tb->nkeys);
	char scratch[8];
	dbs_buf_reset(b);
	if (!img || tb->nkeys == 0) {
		dbs_fmt(buf, size, "(no key)");
		return;
	}
	dbs_buf_append_char(b, '(');
	for (uint32_t k = 0; k < tb->nkeys; k++) {
		uint32_t c = tb->keys[k];
		if (k)
			dbs_buf_append(b, ", ", 2);
		dbs_buf_appendf(b, "%s=", tb->def->columns[c].name);
		if (dbs__sqlmap_value_mysql(b, &tb->types[c], &img[c], scratch, sizeof scratch))
			dbs_buf_append_str(b, "?");
	}
	dbs_buf_append_char(b, ')');
	dbs_fmt(buf, size, "%.*s%s", (int)(b->len > ERR_KEY_MAX ? ERR_KEY_MAX : b->len),
	         b->data ? b->data : "", b->len > ERR_KEY_MAX ? "…)" : "");
}

void dbs__myt_table_free(my_table *tb)
{
	if (!tb)
		return;
	if (tb->def)
		dbs_table_unref(tb->def);
	free(tb->types);
	free(tb->keys);
	free(tb->qname);
	free(tb->insert_head);
	free(tb->insert_tail);
	dbs_buf_free(&tb->pend_del);
	dbs_buf_free(&tb->pend_ups);
	free(tb);
}

/* The per-table option entry for `def`, matched as "t" or "db.t" (the
 * source's database or the target's). */
const dbs_sql_table_option *dbs__myt_table_option(const my_target *t, const dbs_table *def)
{
	const char *dbs[2] = {def->schema, t->dsn.database};
	return dbs__sql_table_option(t->common.settings, def->name, dbs, 2);
}

void dbs__myt_log(my_target *t, dbs_log_level level, const char *fmt, ...)
{
	char line[DBS_ERRMSG_MAX + 256];
	va_list ap;
	if (!t->common.host || !t->common.host->log)
		return;
	va_start(ap, fmt);
	dbs_vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	t->common.host->log(t->common.host, level, "mysql target: %s", line);
}

/*
 * One secondary index of a table this target creates, into b: "CREATE
 * [UNIQUE |FULLTEXT ]INDEX name ON table (…)" when `alone`, else ",
 * [UNIQUE |FULLTEXT ]INDEX name (…)" inside its CREATE TABLE. InnoDB keys
 * hold 3072 bytes: TEXT/BLOB columns and character columns wider than
 * their share of that are indexed by a prefix (dbs__sqlmap_index_prefix),
 * which leaves a lookup index as useful. A unique index takes no prefix
 * (that would refuse distinct values sharing one): MariaDB keeps long
 * unique keys as a hash; a server that refuses it, or any index the
 * server refuses, is left out with a warning and the rows still
 * replicate. JSON and geometry columns cannot be in a plain index: that
 * index is left out with a warning. 0 when appended; 1 when the index
 * cannot be made on this target (logged; b as it was); DBS_ENOMEM.
 */
static int index_sql(my_target *t, my_table *tb, const dbs_index *ix, int alone, dbs_buf *b)
{
	const dbs_table *def = tb->def;
	int fulltext = (ix->flags & DBS_INDEX_FULLTEXT) != 0;
	int unique = !fulltext && (ix->flags & DBS_INDEX_UNIQUE);
	int32_t budget = (int32_t)(3072 / (ix->ncolumns ? ix->ncolumns : 1));
	size_t mark = b->len;
	if (fulltext && def->dialect != DBS_DIALECT_MYSQL) {
		dbs__myt_log(t, DBS_LOG_WARN, "%s: FULLTEXT index %s not created (not a MySQL source)",
		     tb->qname, ix->name);
		return 1;
	}
	if (dbs_buf_append_str(b, alone ? "CREATE " : ", ") ||
	    dbs_buf_append_str(b, unique ? "UNIQUE INDEX " : fulltext ? "FULLTEXT INDEX " : "INDEX ") ||
	    dbs__myt_ident(b, ix->name) ||
	    (alone && dbs_buf_appendf(b, " ON %s", tb->qname)) || dbs_buf_append_str(b, " ("))
		return DBS_ENOMEM;
	for (uint32_t k = 0; k < ix->ncolumns; k++) {
		uint32_t c = ix->columns[k];
		int32_t prefix = fulltext ? 0 : dbs__sqlmap_index_prefix(&tb->types[c], budget);
		if (prefix == -2)
			return DBS_ENOMEM;
		if (prefix == -1) {
			dbs__myt_log(t, DBS_LOG_WARN,
			     "%s: index %s not created (column %s cannot be in a plain MySQL index)",
			     tb->qname, ix->name, def->columns[c].name);
			b->len = mark;
			return 1;
		}
		if ((k && dbs_buf_append_char(b, ',')) ||
		    dbs__myt_ident(b, def->columns[c].name) ||
		    (prefix > 0 && !unique && dbs_buf_appendf(b, "(%" PRId32 ")", prefix)))
			return DBS_ENOMEM;
	}
	return dbs_buf_append_char(b, ')') ? DBS_ENOMEM : 0;
}

int dbs__myt_index_create(my_target *t, my_table *tb, const dbs_index *ix, char *err,
                          size_t errlen)
{
	dbs_buf *b = &t->tmp;
	char ierr[DBS_ERRMSG_MAX];
	dbs_buf_reset(b);
	int rc = index_sql(t, tb, ix, 1, b);
	if (rc < 0) {
		dbs_fmt(err, errlen, "out of memory");
		return rc;
	}
	if (rc > 0)
		return 0;
	if (dbs__myt_exec(t, b->data, b->len, "creating an index", ierr, sizeof ierr) != 0) {
		if (!t->conn || dbs__myt_client_errno(mysql_errno(t->conn))) { /* connection lost */
			dbs_fmt(err, errlen, "%s", ierr);
			return DBS_ETARGET;
		}
		dbs__myt_log(t, DBS_LOG_WARN, "%s: index %s not created: %s", tb->qname, ix->name,
		     ierr);
	}
	return 0;
}

/* Whether the target table exists: indexes are made only for a table
 * created here (an existing table is left as it is). */
int dbs__myt_table_exists(my_target *t, const dbs_table *def, int *exists, char *err,
                          size_t errlen)
{
	int rc = DBS_ETARGET;
	dbs_buf *b = &t->tmp;
	MYSQL_RES *res = NULL;
	dbs_buf_reset(b);
	if (dbs_buf_append_str(b, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
	                               "TABLE_SCHEMA = ") ||
	    dbs__sql_append_literal(b, t->dsn.database, strlen(t->dsn.database)) ||
	    dbs_buf_append_str(b, " AND TABLE_NAME = ") ||
	    dbs__sql_append_literal(b, def->name, strlen(def->name))) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if (mysql_real_query(t->conn, b->data, (unsigned long)b->len) ||
	    !(res = mysql_store_result(t->conn))) {
		dbs__myt_error(t, err, errlen, "looking for a table");
		goto done;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	*exists = row && row[0] && strcmp(row[0], "0") != 0;
	rc = 0;
done:
	if (res)
		mysql_free_result(res);
	return rc;
}

/* CREATE TABLE IF NOT EXISTS with the mapped types and the primary key,
 * and, when `indexes`, the secondary indexes this target can make (their
 * count in *inline). 0, DBS_ETARGET (err filled) or DBS_ENOMEM. */
static int table_sql(my_target *t, my_table *tb, int indexes, uint32_t *inline_n, dbs_buf *b,
                     char *err, size_t errlen)
{
	const dbs_table *def = tb->def;
	int rc;
	*inline_n = 0;
	dbs_buf_reset(b);
	if (dbs_buf_append_str(b, "CREATE TABLE IF NOT EXISTS ") ||
	    dbs_buf_append_str(b, tb->qname) || dbs_buf_append_str(b, " ("))
		goto nomem;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		if ((i && dbs_buf_append(b, ", ", 2)) ||
		    dbs__myt_ident(b, def->columns[i].name) || dbs_buf_append_char(b, ' '))
			goto nomem;
		if ((rc = dbs__sqlmap_target_type(b, &tb->types[i], DBS_DIALECT_MYSQL)) == DBS_EINVAL) {
			dbs_fmt(err, errlen, "creating table %s: column %s has no type name", tb->qname,
			         def->columns[i].name);
			return DBS_ETARGET;
		}
		if (rc)
			goto nomem;
		if ((def->columns[i].flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) &&
		    dbs_buf_append_str(b, " NOT NULL"))
			goto nomem;
	}
	if (tb->nkeys) {
		if (dbs_buf_append_str(b, ", PRIMARY KEY ("))
			goto nomem;
		for (uint32_t k = 0; k < tb->nkeys; k++)
			if ((k && dbs_buf_append_char(b, ',')) ||
			    dbs__myt_ident(b, def->columns[tb->keys[k]].name))
				goto nomem;
		if (dbs_buf_append_char(b, ')'))
			goto nomem;
	}
	for (uint32_t x = 0; indexes && x < def->nindexes; x++) {
		if ((rc = index_sql(t, tb, &def->indexes[x], 0, b)) < 0)
			goto nomem;
		*inline_n += rc == 0;
	}
	if (dbs_buf_appendf(b, ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=%s", t->collation))
		goto nomem;
	return 0;
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/*
 * The table and its secondary indexes (unless the table's
 * noCreateIndexes, or an initial load that makes them once the rows are
 * in), all through session t, in one statement: a stream stopped right
 * after it finds the table whole, and a table that exists is left as it
 * is. When the server refuses that statement for something other than
 * the table (an index it cannot make), the table is created alone and
 * then each index on its own, an index refused being left out with a
 * warning.
 */
static int table_create_on(my_target *t, my_table *tb, char *err, size_t errlen)
{
	const dbs_sql_table_option *opt = dbs__myt_table_option(t, tb->def);
	int indexes = !(opt && opt->no_create_indexes) && !t->defer_indexes;
	uint32_t inline_n = 0;
	char where[256];
	int rc = table_sql(t, tb, indexes, &inline_n, &t->tmp, err, errlen);
	if (rc)
		return rc;
	dbs_fmt(where, sizeof where, "creating table %s", tb->qname);
	rc = dbs__myt_exec(t, t->tmp.data, t->tmp.len, where, err, errlen);
	int alone = rc != 0 && inline_n && !t->common.lost;
	if (alone) {
		/* Once more without the indexes (an index this target cannot
		 * make is warned about again below). */
		dbs__myt_log(t, DBS_LOG_INFO,
		             "%s; creating the table alone, then its indexes one by one", err);
		err[0] = '\0';
		if ((rc = table_sql(t, tb, 0, &inline_n, &t->tmp, err, errlen)) == 0)
			rc = dbs__myt_exec(t, t->tmp.data, t->tmp.len, where, err, errlen);
	}
	if (rc == 0)
		DBS_FAULT_POINT("mysqlt.table_created");
	for (uint32_t x = 0; alone && rc == 0 && x < tb->def->nindexes; x++)
		rc = dbs__myt_index_create(t, tb, &tb->def->indexes[x], err, errlen);
	return rc;
}

/* Bound on the wait of a second session's DDL for a lock (a backup's,
 * say), while the main session's transaction waits on it. */
#define SIDE_LOCK_WAIT_S "60"

/* Whether the server refused a session for the number of connections:
 * max_connections (1040), the user's max_user_connections (1203) or
 * MAX_USER_CONNECTIONS (1226). */
static int refused_for_connections(unsigned no)
{
	return no == 1040 || no == 1203 || no == 1226;
}

/*
 * A table missing at the target is created. MySQL DDL commits the
 * session's open transaction, so while one is open (a source transaction
 * spanning batches, or a group of them) the table is created by a second
 * session: the open transaction stays whole, and its later statements
 * write into the new table. A table that exists needs no DDL.
 */
static int table_create(my_target *t, my_table *tb, char *err, size_t errlen)
{
	int rc, exists = 0;
	if ((rc = dbs__myt_table_exists(t, tb->def, &exists, err, errlen)) != 0 || exists)
		return rc;
	if (!t->common.open)
		return table_create_on(t, tb, err, errlen);
	my_target *side = NULL;
	unsigned refused = 0;
	char serr[DBS_ERRMSG_MAX];
	if ((rc = dbs__myt_session_new(&side, t, &refused, serr, sizeof serr)) == 0) {
		side->defer_indexes = t->defer_indexes;
		if ((rc = dbs__myt_exec_str(side, "SET SESSION lock_wait_timeout = " SIDE_LOCK_WAIT_S,
		                            "session settings", err, errlen)) == 0)
			rc = table_create_on(side, tb, err, errlen);
		/* What failed is told as if the main session had run it: a lost
		 * server takes the open transaction with it, and the stream
		 * resumes from the checkpoint, as it does after a lock waited
		 * for too long (1205), to wait for it again. */
		if (rc == DBS_ETARGET) {
			t->common.lost = side->common.lost || mysql_errno(side->conn) == 1205;
			t->common.data_error = side->common.data_error;
			memcpy(t->common.err_code, side->common.err_code, sizeof t->common.err_code);
			memcpy(t->common.err_msg, side->common.err_msg, sizeof t->common.err_msg);
		}
		dbs__myt_session_free(side);
		return rc;
	}
	if (rc != DBS_ETARGET || !refused_for_connections(refused)) {
		/* The server is gone, or turned the session away for a reason
		 * the main session shares (its password, its TLS): resume. */
		dbs_fmt(err, errlen, "creating table %s in a second session: %s", tb->qname, serr);
		if (rc == DBS_ETARGET) {
			t->common.lost = 1;
			t->common.data_error = 0;
		}
		return rc;
	}
	/* No connection to spare: the part applied so far is committed
	 * first, with the checkpoint row of the last batch applied, so the
	 * target stays consistent, and readers may see it before the
	 * transaction's end. */
	dbs__myt_log(t, DBS_LOG_WARN,
	             "creating table %s: a second session was refused (%s); committing the "
	             "source transaction so far first (MySQL DDL commits), so readers may see "
	             "part of it",
	             tb->qname, serr);
	if ((rc = dbs__sqltarget_commit_open(&t->common, err, errlen)))
		return rc;
	return table_create_on(t, tb, err, errlen);
}

static int table_build(my_target *t, const dbs_table *def, my_table **out, char *err,
                       size_t errlen)
{
	int rc = DBS_ENOMEM;
	my_table *tb = calloc(1, sizeof *tb);
	dbs_buf *b = &t->tmp;
	*out = NULL;
	if (!tb)
		goto nomem;
	tb->def = dbs_table_ref(def);
	size_t nc = def->ncolumns ? def->ncolumns : 1;
	if (!(tb->types = calloc(nc, sizeof *tb->types)) || !(tb->keys = calloc(nc, sizeof *tb->keys)))
		goto nomem;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		dbs__sqlmap_parse(def, &def->columns[i], &tb->types[i]);
		if (def->columns[i].flags & DBS_COLUMN_KEY)
			tb->keys[tb->nkeys++] = i;
	}
	dbs__sqlmap_key_widths(tb->types, def->ncolumns);
	dbs_buf_reset(b);
	if (dbs__myt_ident(b, t->dsn.database) || dbs_buf_append_char(b, '.') ||
	    dbs__myt_ident(b, def->name) || !(tb->qname = strndup(b->data, b->len)))
		goto nomem;

	dbs_buf_reset(b);
	if (dbs_buf_appendf(b, "INSERT INTO %s (", tb->qname))
		goto nomem;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs_buf_append_char(b, ',')) || dbs__myt_ident(b, def->columns[i].name))
			goto nomem;
	if (dbs_buf_append_str(b, ") VALUES ") || !(tb->insert_head = strndup(b->data, b->len)))
		goto nomem;
	tb->head_len = b->len;

	dbs_buf_reset(b);
	if (tb->nkeys) {
		/* Replays overwrite: the row ends as the last insert wrote it. */
		int any = 0;
		if (dbs_buf_append_str(b, " ON DUPLICATE KEY UPDATE "))
			goto nomem;
		for (uint32_t i = 0; i < def->ncolumns; i++) {
			if (def->columns[i].flags & DBS_COLUMN_KEY)
				continue;
			if ((any && dbs_buf_append_char(b, ',')) ||
			    dbs__myt_ident(b, def->columns[i].name) || dbs_buf_append_str(b, "=VALUES(") ||
			    dbs__myt_ident(b, def->columns[i].name) || dbs_buf_append_char(b, ')'))
				goto nomem;
			any = 1;
		}
		if (!any) {
			const char *k = def->columns[tb->keys[0]].name;
			if (dbs__myt_ident(b, k) || dbs_buf_append_char(b, '=') || dbs__myt_ident(b, k))
				goto nomem;
		}
	}
	if (!(tb->insert_tail = strndup(b->data ? b->data : "", b->len)))
		goto nomem;
	tb->tail_len = b->len;

	if (!t->common.settings->no_create_tables && (rc = table_create(t, tb, err, errlen)))
		goto fail;
	*out = tb;
	return 0;
nomem:
	rc = DBS_ENOMEM;
	dbs_fmt(err, errlen, "out of memory");
fail:
	dbs__myt_table_free(tb);
	return rc;
}

/* The cached table for a definition, or NULL when it is new here. */
my_table *dbs__myt_table_find(const my_target *t, const dbs_table *def)
{
	for (size_t i = t->ntables; i-- > 0;)
		if (t->tables[i]->def == def)
			return t->tables[i];
	/* A copy of a definition already known: no second CREATE, no growth. */
	for (size_t i = t->ntables; i-- > 0;)
		if (dbs__myt_same_def(t->tables[i]->def, def))
			return t->tables[i];
	return NULL;
}

/* The cached table for a definition, creating it on the server if new. */
int dbs__myt_table_get(my_target *t, const dbs_table *def, my_table **out, char *err, size_t errlen)
{
	if ((*out = dbs__myt_table_find(t, def)) != NULL)
		return 0;
	if (dbs_array_reserve((void **)&t->tables, &t->captables, t->ntables + 1,
	                      sizeof *t->tables)) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	int rc = table_build(t, def, out, err, errlen);
	if (rc == 0)
		t->tables[t->ntables++] = *out;
	return rc;
}
