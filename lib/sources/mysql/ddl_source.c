/*
 * MySQL source: schema statements of the binlog into schema events.
 *
 * A Query event holding a schema statement is parsed (ddl.h). For each
 * table it names that the stream captures, the source's own definition of
 * the table (schema_info.tracked) has the statement's changes applied
 * (ddl_track.c) and one schema event carries the changes, alone in its
 * batch, at the statement's place: a statement is a transaction of its
 * own, so a target can commit its checkpoint right after the change.
 *
 * The definition before a statement is, in this order: the one tracked
 * since an earlier statement; the one the last table map of the table
 * was read with (the binlog's state at that point); information_schema
 * now, which may already show this statement's change (or later ones)
 * when a backlog is read: the changes are then still described as the
 * statement gives them, and the target's catalog says what is done.
 *
 * What stops the stream: a statement the parser cannot interpret whose
 * table cannot be told. One whose table can be told is an unsafe
 * DBS_SCHEMA_OTHER change of that table (or nothing, when the table is
 * not captured), which the target refuses until its table is fixed.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/mysql/ddl_track.h"
#include "sources/mysql/my_source.h"

static int captured(const my_source *s, const char *db, const char *name)
{
	return db && name && dbs__mys_filter_ops(s, db, name) != 0;
}

static void track_set(my_source *s, const char *db, const char *name, const dbs_table *t)
{
	schema_info *in = dbs__mys_info_entry(s, db, name);
	if (!in)
		return; /* out of memory: later maps read information_schema */
	if (in->tracked)
		dbs_table_unref(in->tracked);
	in->tracked = t ? (dbs_table *)dbs_table_ref(t) : NULL;
	if (t && t->version > in->version)
		in->version = t->version;
}

/* A definition from information_schema now (the caller holds one
 * reference); NULL with *rc 0 when the table does not exist. */
static dbs_table *from_information_schema(my_source *s, const char *db, const char *name,
                                          int *rc, char *err, size_t errlen)
{
	dbs_table *t = NULL;
	dbs_column *cols = NULL;
	uint32_t *pos = NULL;
	schema_info *in = dbs__mys_info_entry(s, db, name);
	*rc = DBS_ENOMEM;
	if (!in)
		goto fail;
	in->stale = 1;
	in = dbs__mys_info_get(s, db, name, err, errlen, rc);
	if (!in || in->ncols == 0)
		goto fail;
	*rc = DBS_ENOMEM;
	cols = calloc(in->ncols, sizeof *cols);
	pos = calloc(in->ncols, sizeof *pos);
	if (!cols || !pos)
		goto fail;
	for (uint32_t i = 0; i < in->ncols; i++) {
		cols[i].name = in->col_names[i];
		cols[i].type_name = in->col_types[i];
		cols[i].type_id = dbs__mys_type_code(in->col_types[i]);
		cols[i].type_mod = -1;
		cols[i].flags = (in->is_pk[i] ? DBS_COLUMN_KEY : 0) |
		                (in->not_null[i] ? DBS_COLUMN_NOT_NULL : 0) |
		                (strstr(in->col_types[i], "unsigned") ? DBS_COLUMN_UNSIGNED : 0);
	}
	if (dbs_table_new(&t, DBS_DIALECT_MYSQL, db, name, cols, in->ncols) != 0)
		goto fail;
	for (uint32_t i = 0; i < in->nidx;) {
		uint32_t j = i, n = 0;
		for (; j < in->nidx && strcmp(in->idx_names[j], in->idx_names[i]) == 0; j++)
			for (uint32_t c = 0; c < in->ncols; c++)
				if (strcmp(in->col_names[c], in->idx_cols[j]) == 0 && n < in->ncols)
					pos[n++] = c;
		if (n && dbs_table_add_index(t, in->idx_names[i], in->idx_flags[i], pos, n) != 0)
			goto fail;
		i = j;
	}
	t->version = ++in->version;
	*rc = 0;
fail:
	if (*rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	if (*rc != 0 && t) {
		dbs_table_unref(t);
		t = NULL;
	}
	free(cols);
	free(pos);
	return t;
}

/* The definition of db.name before the statement (see the top): one
 * reference for the caller, or NULL with *rc 0 when none is known. */
static dbs_table *current_def_now(my_source *s, const char *db, const char *name, int *rc,
                                  int *now, char *err, size_t errlen)
{
	*rc = 0;
	*now = 0;
	for (size_t i = 0; i < s->ninfos; i++)
		if (s->infos[i].tracked && !strcmp(s->infos[i].db, db) &&
		    !strcmp(s->infos[i].name, name))
			return (dbs_table *)dbs_table_ref(s->infos[i].tracked);
	const dbs_table *best = NULL;
	for (size_t i = 0; i < s->ntables; i++) {
		const dbs_table *t = s->tables[i].table;
		if (t && !strcmp(t->schema, db) && !strcmp(t->name, name) &&
		    (!best || t->version > best->version))
			best = t;
	}
	if (best)
		return (dbs_table *)dbs_table_ref(best);
	*now = 1;
	return from_information_schema(s, db, name, rc, err, errlen);
}

static dbs_table *current_def(my_source *s, const char *db, const char *name, int *rc, char *err,
                              size_t errlen)
{
	int now;
	return current_def_now(s, db, name, rc, &now, err, errlen);
}

/* A copy of `t` named db.name, one version on. */
static dbs_table *renamed_copy(const dbs_table *t, const char *db, const char *name)
{
	dbs_table *c = NULL;
	if (dbs_table_new(&c, DBS_DIALECT_MYSQL, db, name, t->columns, t->ncolumns) != 0)
		return NULL;
	for (uint32_t i = 0; i < t->nindexes; i++)
		if (dbs_table_add_index(c, t->indexes[i].name, t->indexes[i].flags,
		                        t->indexes[i].columns, t->indexes[i].ncolumns) != 0) {
			dbs_table_unref(c);
			return NULL;
		}
	c->version = t->version + 1;
	return c;
}

/* One schema event: `table` after the change (borrowed), its changes
 * (in the event's batch memory, or one change of `kind` when NULL). */
static int emit_event(my_source *s, const dbs_table *table, const char *q, size_t ql,
                      dbs_schema_change *changes, uint32_t n, dbs_schema_kind kind,
                      const char *why, char *err, size_t errlen)
{
	dbs_event *ev = NULL;
	int rc = dbs__mys_schema_event(s, table, &ev, err, errlen);
	if (rc != 0 || !ev)
		return rc;
	dbs_batch *b = s->batch;
	dbs_schema_event *se = dbs_batch_alloc(b, sizeof *se);
	char *stmt = dbs_batch_alloc(b, ql + 1);
	if (!se || !stmt)
		goto nomem;
	memcpy(stmt, q, ql);
	stmt[ql] = '\0';
	se->statement = stmt;
	if (!changes) {
		changes = dbs_batch_alloc(b, sizeof *changes);
		if (!changes)
			goto nomem;
		memset(changes, 0, sizeof *changes);
		changes->kind = (uint8_t)kind;
		changes->unsafe = kind == DBS_SCHEMA_OTHER;
		if (why) {
			size_t wl = strlen(why);
			char *w = dbs_batch_alloc(b, wl + 1);
			if (!w)
				goto nomem;
			memcpy(w, why, wl + 1);
			changes->default_text = w;
		}
		n = 1;
	}
	se->changes = changes;
	se->nchanges = n;
	ev->schema = se;
	return 0;
nomem:
	dbs_fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* The table an unparsable statement names, from its first words: ALTER,
 * CREATE, DROP, TRUNCATE or RENAME of a TABLE. 1 and the names when told. */
static int told_table(const char *q, size_t ql, const char *db, size_t db_len, char *sch,
                      size_t schsize, char *tab, size_t tabsize)
{
	size_t i = 0;
	int seen_table = 0, truncate = 0, words = 0;
	for (;;) {
		while (i < ql && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r'))
			i++;
		if (i + 1 < ql && q[i] == '/' && q[i + 1] == '*') { /* a comment */
			const char *end = NULL;
			for (size_t k = i + 2; k + 1 < ql && !end; k++)
				if (q[k] == '*' && q[k + 1] == '/')
					end = q + k + 2;
			if (!end)
				return 0;
			i = (size_t)(end - q);
			continue;
		}
		if (i >= ql || ++words > 12)
			return 0;
		size_t st = i;
		if (q[i] == '`' || seen_table || truncate) {
			/* the name: `a`.`b`, a.b, or a */
			char part[2][200];
			int np = 0;
			for (; np < 2; np++) {
				size_t k = 0;
				if (i < ql && q[i] == '`') {
					for (i++; i < ql; i++) {
						if (q[i] == '`' && i + 1 < ql && q[i + 1] == '`')
							i++;
						else if (q[i] == '`')
							break;
						if (k + 1 < sizeof part[np])
							part[np][k++] = q[i];
					}
					if (i >= ql)
						return 0;
					i++;
				} else {
					while (i < ql && (q[i] == '_' || q[i] == '$' ||
					                  (q[i] >= '0' && q[i] <= '9') ||
					                  ((q[i] | 0x20) >= 'a' && (q[i] | 0x20) <= 'z') ||
					                  (unsigned char)q[i] >= 0x80))
						if (k + 1 < sizeof part[np])
							part[np][k++] = q[i++];
						else
							i++;
				}
				part[np][k] = '\0';
				if (k == 0)
					return 0;
				if (i < ql && q[i] == '.') {
					i++;
					continue;
				}
				np++;
				break;
			}
			if (truncate && !seen_table && np == 1 && strcasecmp(part[0], "TABLE") == 0) {
				seen_table = 1;
				continue;
			}
			if (np == 2) {
				dbs_fmt(sch, schsize, "%s", part[0]);
				dbs_fmt(tab, tabsize, "%s", part[1]);
			} else {
				if (strcasecmp(part[0], "IF") == 0)
					return 0; /* IF [NOT] EXISTS: keep it simple, not told */
				dbs_fmt(sch, schsize, "%.*s", (int)db_len, db);
				dbs_fmt(tab, tabsize, "%s", part[0]);
			}
			return 1;
		}
		while (i < ql && ((q[i] | 0x20) >= 'a' && (q[i] | 0x20) <= 'z'))
			i++;
		size_t wl = i - st;
		if (wl == 0)
			return 0;
		const char *w = q + st;
		if (wl == 5 && strncasecmp(w, "TABLE", 5) == 0)
			seen_table = 1;
		else if (words == 1 && wl == 8 && strncasecmp(w, "TRUNCATE", 8) == 0)
			truncate = 1;
		else if (words == 1 && !(wl == 5 && strncasecmp(w, "ALTER", 5) == 0) &&
		         !(wl == 6 && strncasecmp(w, "CREATE", 6) == 0) &&
		         !(wl == 4 && strncasecmp(w, "DROP", 4) == 0) &&
		         !(wl == 6 && strncasecmp(w, "RENAME", 6) == 0))
			return 0;
	}
}

/* `word` appears in the statement, ignoring case. */
static int mentions(const char *q, size_t ql, const char *word)
{
	size_t wl = word ? strlen(word) : 0;
	for (size_t i = 0; wl && i + wl <= ql; i++)
		if (strncasecmp(q + i, word, wl) == 0)
			return 1;
	return 0;
}

/*
 * Can a statement whose table is not told change a captured table? Not
 * when it names none of them (a statement names the table it changes):
 * with a filter, no listed table's name is in its text; without one, the
 * stream captures the connection's database, which is neither the
 * statement's current database nor named in it. Conservative: a name
 * inside a string or a longer name counts.
 */
static int may_touch_captured(const my_source *s, const char *q, size_t ql, const char *db,
                              size_t db_len)
{
	if (s->filter.n == 0) {
		const char *mine = s->dsn.database;
		if (!mine[0])
			return 1; /* every database */
		return (strlen(mine) == db_len && strncmp(mine, db, db_len) == 0) ||
		       mentions(q, ql, mine);
	}
	for (uint32_t i = 0; i < s->filter.n; i++)
		if (mentions(q, ql, s->filter.entries[i].name))
			return 1;
	return 0;
}

static int unsupported(my_source *s, const char *why, const char *q, size_t ql, const char *db,
                       size_t db_len, char *err, size_t errlen)
{
	char sch[200], tab[200];
	int rc = 0;
	if (!told_table(q, ql, db, db_len, sch, sizeof sch, tab, sizeof tab)) {
		if (!may_touch_captured(s, q, ql, db, db_len)) {
			dbs_log(s->host, DBS_LOG_DEBUG,
			        "mysql source: a statement naming no captured table left alone (%s)",
			        why);
			return 0;
		}
		dbs_fmt(err, errlen,
		        "the binlog holds a statement this source cannot follow, whose table it "
		        "cannot tell (%s): %.*s. The stream stops before it and cannot go past "
		        "it: after the cause is removed, copy the tables again (a new stream with "
		        "initialLoad)",
		        why, (int)(ql > 600 ? 600 : ql), q);
		return DBS_ESOURCE;
	}
	if (!captured(s, sch, tab))
		return 0;
	if (strstr(why, "rows")) {
		/* rows changed that the binlog does not carry: no change of the
		 * table's definition can stand for it */
		dbs_fmt(err, errlen,
		        "%s.%s: the binlog holds a statement this source cannot follow (%s): %.*s. "
		        "The stream stops before it and cannot go past it: copy the table again (a "
		        "new stream with initialLoad)",
		        sch, tab, why, (int)(ql > 600 ? 600 : ql), q);
		return DBS_ESOURCE;
	}
	dbs_table *now = from_information_schema(s, sch, tab, &rc, err, errlen);
	if (rc != 0)
		return rc;
	if (!now && (rc = dbs_table_new(&now, DBS_DIALECT_MYSQL, sch, tab, NULL, 0)) != 0) {
		dbs_fmt(err, errlen, "out of memory");
		return rc;
	}
	track_set(s, sch, tab, NULL); /* not known since: later maps read information_schema */
	rc = emit_event(s, now, q, ql, NULL, 0, DBS_SCHEMA_OTHER, why, err, errlen);
	dbs_log(s->host, DBS_LOG_WARN, "mysql source: %s.%s: a schema statement the source cannot "
	        "describe (%s): %.*s", sch, tab, why, (int)(ql > 300 ? 300 : ql), q);
	dbs_table_unref(now);
	return rc;
}

/* DROP TABLE, TRUNCATE TABLE: the table as it was. */
static int drop_or_truncate(my_source *s, const dbs_mysql_ddl_change *c, const char *q,
                            size_t ql, char *err, size_t errlen)
{
	int rc = 0;
	if (!captured(s, c->table.schema, c->table.name))
		return 0;
	dbs_table *t = current_def(s, c->table.schema, c->table.name, &rc, err, errlen);
	if (rc != 0)
		return rc;
	if (!t && (rc = dbs_table_new(&t, DBS_DIALECT_MYSQL, c->table.schema, c->table.name, NULL,
	                              0)) != 0) {
		dbs_fmt(err, errlen, "out of memory");
		return rc;
	}
	int drop = c->kind == DBS_MYSQL_DROP_TABLE;
	rc = emit_event(s, t, q, ql, NULL, 0, drop ? DBS_SCHEMA_DROP_TABLE : DBS_SCHEMA_TRUNCATE_TABLE,
	                NULL, err, errlen);
	if (drop)
		track_set(s, c->table.schema, c->table.name, NULL);
	dbs_table_unref(t);
	return rc;
}

/* CREATE TABLE ... LIKE and CREATE TABLE ... SELECT: the definition the
 * statement does not spell out, from the table copied or from
 * information_schema. */
static int create_copied(my_source *s, const dbs_mysql_ddl_change *c, const char *q, size_t ql,
                         char *err, size_t errlen)
{
	int rc = 0;
	const char *db = c->table.schema, *name = c->table.name;
	if (!captured(s, db, name))
		return 0;
	dbs_table *t = NULL;
	if (c->kind == DBS_MYSQL_CREATE_TABLE_LIKE) {
		dbs_table *like = current_def(s, c->like.schema, c->like.name, &rc, err, errlen);
		if (rc != 0)
			return rc;
		if (like) {
			t = renamed_copy(like, db, name);
			dbs_table_unref(like);
			if (!t) {
				dbs_fmt(err, errlen, "out of memory");
				return DBS_ENOMEM;
			}
		}
	}
	if (!t) {
		t = from_information_schema(s, db, name, &rc, err, errlen);
		if (rc != 0)
			return rc;
	}
	if (!t) {
		/* gone since: its first row, if any, creates it at the target */
		dbs_log(s->host, DBS_LOG_INFO,
		        "mysql source: %s.%s created and dropped since: no definition to create",
		        db, name);
		return 0;
	}
	schema_info *in = dbs__mys_info_entry(s, db, name);
	if (in && t->version <= in->version)
		t->version = in->version + 1;
	rc = emit_event(s, t, q, ql, NULL, 0, DBS_SCHEMA_CREATE_TABLE, NULL, err, errlen);
	track_set(s, db, name, t);
	dbs_table_unref(t);
	return rc;
}

/* The changes [from, to) of one table: ALTER TABLE, RENAME TABLE, CREATE TABLE. */
static int alter_group(my_source *s, const dbs_mysql_ddl *ddl, uint32_t from, uint32_t to,
                       const char *q, size_t ql, char *err, size_t errlen)
{
	int rc = 0;
	const dbs_mysql_ddl_change *first = &ddl->changes[from];
	const char *db = first->table.schema, *name = first->table.name;
	const char *fdb = db, *fname = name; /* after any rename */
	for (uint32_t i = from; i < to; i++)
		if (ddl->changes[i].kind == DBS_MYSQL_RENAME_TABLE) {
			fdb = ddl->changes[i].new_table.schema;
			fname = ddl->changes[i].new_table.name;
		}
	int was = captured(s, db, name), is = captured(s, fdb, fname);
	int create = first->kind == DBS_MYSQL_CREATE_TABLE;
	if (!was && !is)
		return 0;
	if (!create && was && !is) {
		dbs_log(s->host, DBS_LOG_WARN,
		        "mysql source: %s.%s renamed to %s.%s, which the stream does not capture: "
		        "the target keeps the table as it was",
		        db, name, fdb, fname);
		track_set(s, db, name, NULL);
		return 0;
	}
	dbs_table *before = NULL, *after = NULL;
	int before_is_now = 0;
	if (!create) {
		before = current_def_now(s, db, name, &rc, &before_is_now, err, errlen);
		if (rc != 0)
			return rc;
	} else if (first->if_not_exists || first->or_replace) {
		dbs_table *known = current_def(s, db, name, &rc, err, errlen);
		if (rc != 0)
			return rc;
		if (known && first->if_not_exists) {
			dbs_table_unref(known);
			return 0; /* the server kept the table it had */
		}
		if (known) {
			/* the table is dropped first: as DROP TABLE, which the
			 * target applies when its policy allows it */
			rc = emit_event(s, known, q, ql, NULL, 0, DBS_SCHEMA_DROP_TABLE, NULL, err,
			                errlen);
			dbs_table_unref(known);
			track_set(s, db, name, NULL);
			if (rc != 0 || s->stop)
				return rc;
		}
	}
	if (!was && !create) {
		/* renamed into the filter: its rows so far were never captured */
		dbs_table *now = from_information_schema(s, fdb, fname, &rc, err, errlen);
		if (rc == 0 && (now || (rc = dbs_table_new(&now, DBS_DIALECT_MYSQL, fdb, fname, NULL,
		                                             0)) == 0))
			rc = emit_event(s, now, q, ql, NULL, 0, DBS_SCHEMA_OTHER,
			                "a table the stream did not capture renamed to a captured "
			                "name: its rows are not in the target (copy them, or start a "
			                "stream with initialLoad)",
			                err, errlen);
		if (now)
			dbs_table_unref(now);
		dbs_table_unref(before);
		return rc;
	}
	/* The changes live in the batch the event goes into: what is held
	 * leaves first (a schema event is alone in its batch). */
	if ((rc = dbs__mys_emit_pending(s, err, errlen)) != 0 || s->stop)
		goto out;
	if (!s->batch && dbs_batch_new(&s->batch, 1) != 0) {
		rc = DBS_ENOMEM;
		dbs_fmt(err, errlen, "out of memory");
		goto out;
	}
	dbs_schema_change *changes = NULL;
	uint32_t n = 0;
	if (!before && !create)
		before_is_now = 1; /* not known at all */
	rc = dbs__mys_track_apply(before, before_is_now, db, name, ddl->changes + from, to - from,
	                          s->batch, &after, &changes, &n);
	if (rc != 0) {
		dbs_fmt(err, errlen, "out of memory");
		goto out;
	}
	schema_info *in = dbs__mys_info_entry(s, fdb, fname);
	if (in && after->version <= in->version)
		after->version = in->version + 1;
	/* A statement that changes nothing a target holds has no event. */
	if (n > 0 && (rc = emit_event(s, after, q, ql, changes, n, DBS_SCHEMA_OTHER, NULL, err,
	                              errlen)) != 0)
		goto out;
	if (fdb != db || fname != name)
		track_set(s, db, name, NULL);
	track_set(s, fdb, fname, after);
	for (uint32_t i = 0; i < n; i++)
		if (changes[i].kind == DBS_SCHEMA_OTHER)
			track_set(s, fdb, fname, NULL); /* not known since */
out:
	if (before)
		dbs_table_unref(before);
	if (after)
		dbs_table_unref(after);
	return rc;
}

static int same_tref(const dbs_mysql_tref *a, const dbs_mysql_tref *b)
{
	return a->schema && b->schema && a->name && b->name && !strcmp(a->schema, b->schema) &&
	       !strcmp(a->name, b->name);
}

/* DROP DATABASE: every captured table the source knows in it. */
static int drop_schema(my_source *s, const char *db, const char *q, size_t ql, char *err,
                       size_t errlen)
{
	int rc = 0;
	for (size_t i = 0; i < s->ninfos && rc == 0 && !s->stop; i++) {
		schema_info *in = &s->infos[i];
		if (strcmp(in->db, db) != 0 || !captured(s, in->db, in->name))
			continue;
		dbs_mysql_ddl_change c = {.kind = DBS_MYSQL_DROP_TABLE,
		                          .table = {.schema = in->db, .name = in->name}};
		rc = drop_or_truncate(s, &c, q, ql, err, errlen);
	}
	return rc;
}

int dbs__mys_on_schema_query(my_source *s, const char *q, size_t ql, const char *db,
                             size_t db_len, const uint8_t *status, size_t status_len, int *ends,
                             char *err, size_t errlen)
{
	unsigned flags = 0;
	dbs_mysql_ddl *ddl = NULL;
	*ends = 1;
	(void)dbs__mysql_ddl_flags(status, status_len, &flags); /* none: the default mode */
	int rc = dbs__mysql_ddl_parse(&ddl, q, ql, db, db_len, flags);
	if (rc != 0) {
		dbs_fmt(err, errlen, "out of memory");
		return rc;
	}
	if (ddl->cls == DBS_MYSQL_DDL_NONE)
		goto out;
	/* Tables not described here are read again at their next map. */
	for (size_t k = 0; k < s->ninfos; k++)
		s->infos[k].stale = 1;
	for (size_t k = 0; k < s->ntables; k++) {
		free(s->tables[k].raw);
		s->tables[k].raw = NULL;
		s->tables[k].raw_len = 0;
	}
	if (ddl->cls == DBS_MYSQL_DDL_UNSUPPORTED) {
		rc = unsupported(s, ddl->why, q, ql, db, db_len, err, errlen);
		goto out;
	}
	for (uint32_t i = 0; i < ddl->nchanges && rc == 0 && !s->stop;) {
		const dbs_mysql_ddl_change *c = &ddl->changes[i];
		uint32_t j = i + 1;
		switch (c->kind) {
		case DBS_MYSQL_DROP_TABLE:
		case DBS_MYSQL_TRUNCATE_TABLE:
			rc = drop_or_truncate(s, c, q, ql, err, errlen);
			break;
		case DBS_MYSQL_CREATE_TABLE_SELECT:
			*ends = 0; /* its rows follow in the same transaction */
			/* fall through */
		case DBS_MYSQL_CREATE_TABLE_LIKE:
			rc = create_copied(s, c, q, ql, err, errlen);
			break;
		case DBS_MYSQL_DROP_SCHEMA:
			rc = drop_schema(s, c->table.schema, q, ql, err, errlen);
			break;
		case DBS_MYSQL_RENAME_TABLE:
			/* RENAME TABLE a TO b, c TO d: one table each */
			rc = alter_group(s, ddl, i, j, q, ql, err, errlen);
			break;
		default:
			while (j < ddl->nchanges && same_tref(&ddl->changes[j].table, &c->table) &&
			       ddl->changes[j].kind != DBS_MYSQL_CREATE_TABLE &&
			       ddl->changes[j].kind != DBS_MYSQL_DROP_TABLE &&
			       ddl->changes[j].kind != DBS_MYSQL_TRUNCATE_TABLE)
				j++;
			rc = alter_group(s, ddl, i, j, q, ql, err, errlen);
			break;
		}
		i = j;
	}
out:
	dbs__mysql_ddl_free(ddl);
	return rc;
}
