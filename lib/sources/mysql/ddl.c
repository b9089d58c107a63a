/*
 * MySQL/MariaDB schema statements (ddl.h): a lexer over the logged bytes
 * and a descent parser whose depth is fixed by the grammar, not by the
 * input: nested parentheses inside expressions (defaults, checks,
 * generated columns, partitions) are skipped by counting.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/ddl.h"
#include "sources/mysql/ddl_parse.h"

/* ---- CREATE, DROP, RENAME, TRUNCATE ---- */

static int create_table(parser *p, uint8_t or_replace)
{
	uint8_t ine = (uint8_t)dbs__ddl_accept_if_not_exists(p);
	dbs_mysql_tref table;
	if (p->stop || dbs__ddl_table_ref(p, &table) != 0)
		return -1;
	dbs_mysql_ddl_change *c;
	if (dbs__ddl_is_kw(p, "LIKE") || dbs__ddl_is_punct(p, '(')) {
		parser save = *p;
		int paren = dbs__ddl_accept_punct(p, '(');
		if (dbs__ddl_accept_kw(p, "LIKE")) {
			dbs_mysql_tref like;
			if (dbs__ddl_table_ref(p, &like) != 0 ||
			    (paren && dbs__ddl_expect_punct(p, ')') != 0))
				return -1;
			if (!(c = dbs__ddl_add_change(p, DBS_MYSQL_CREATE_TABLE_LIKE, &table)))
				return -1;
			c->like = like;
			c->if_not_exists = ine;
			c->or_replace = or_replace;
			return 0;
		}
		*p = save;
	}
	dbs_mysql_coldef *cols = NULL;
	dbs_mysql_index *ixs = NULL;
	uint32_t ncols = 0, capcols = 0, nixs = 0, capixs = 0;
	if (dbs__ddl_is_punct(p, '(')) {
		parser save = *p;
		dbs__ddl_advance(p);
		if (dbs__ddl_is_kw(p, "SELECT") || dbs__ddl_is_kw(p, "WITH") ||
		    dbs__ddl_is_kw(p, "VALUES") || dbs__ddl_is_kw(p, "TABLE")) {
			*p = save; /* CREATE TABLE t (SELECT ...) */
		} else {
			for (;;) {
				if (dbs__ddl_is_kw_in(p, dbs__ddl_index_start)) {
					uint8_t dummy = 0;
					dbs_mysql_index *n =
					    dbs__ddl_grow(p, ixs, nixs, &capixs, sizeof *ixs);
					if (!n)
						return -1;
					ixs = n;
					if (dbs__ddl_index_def(p, &ixs[nixs], &dummy) != 0)
						return -1;
					nixs++;
				} else if (dbs__ddl_is_kw(p, "PERIOD") &&
				           dbs__ddl_next_is_kw(p, "FOR")) {
					dbs__ddl_advance(p);
					dbs__ddl_advance(p);
					if (dbs__ddl_is_kw(p, "SYSTEM_TIME")) {
						dbs__ddl_fail(
						    p, "system versioning cannot be replicated");
						return -1;
					}
					if (!dbs__ddl_ident(p, "a period name") ||
					    dbs__ddl_skip_parens(p) != 0)
						return -1;
				} else {
					dbs_mysql_coldef *n =
					    dbs__ddl_grow(p, cols, ncols, &capcols, sizeof *cols);
					if (!n)
						return -1;
					cols = n;
					if (dbs__ddl_column_def(p, &cols[ncols]) != 0)
						return -1;
					ncols++;
				}
				if (!dbs__ddl_accept_punct(p, ','))
					break;
			}
			if (dbs__ddl_expect_punct(p, ')') != 0)
				return -1;
		}
	}
	/* the indexes the columns declare themselves; the primary key first */
	for (uint32_t i = 0; i < ncols; i++)
		for (int primary = 1; primary >= 0; primary--) {
			if (!(primary ? cols[i].primary_key : cols[i].unique))
				continue;
			dbs_mysql_index *n = dbs__ddl_grow(p, ixs, nixs, &capixs, sizeof *ixs);
			if (!n)
				return -1;
			ixs = n;
			if (dbs__ddl_column_index(p, &cols[i], primary, &ixs[nixs]) != 0)
				return -1;
			nixs++;
		}
	for (uint32_t i = 1; i < nixs; i++)
		if (ixs[i].kind == DBS_MYSQL_INDEX_PRIMARY) {
			dbs_mysql_index pk = ixs[i];
			memmove(&ixs[1], &ixs[0], (size_t)i * sizeof *ixs);
			ixs[0] = pk;
			break;
		}
	int select = 0;
	for (;;) {
		dbs__ddl_accept_punct(p, ',');
		if (dbs__ddl_at_end(p))
			break;
		if (dbs__ddl_is_kw(p, "WITH")) {
			parser save = *p;
			dbs__ddl_advance(p);
			if (dbs__ddl_is_kw(p, "SYSTEM")) {
				dbs__ddl_fail(p, "system-versioned tables cannot be replicated");
				return -1;
			}
			*p = save;
		}
		if (dbs__ddl_is_kw(p, "PARTITION")) {
			dbs__ddl_advance(p);
			if (dbs__ddl_expect_kw(p, "BY") != 0 || dbs__ddl_skip_partitioning(p) != 0)
				return -1;
			continue;
		}
		if (dbs__ddl_is_kw(p, "START") && dbs__ddl_next_is_kw(p, "TRANSACTION")) {
			/* MySQL 8.0.21+ logs CREATE TABLE ... SELECT as the table, this
			 * clause, then the rows, in one transaction */
			dbs__ddl_advance(p);
			dbs__ddl_advance(p);
			continue;
		}
		if (dbs__ddl_is_kw(p, "IGNORE") || dbs__ddl_is_kw(p, "REPLACE") ||
		    dbs__ddl_is_kw(p, "AS") || dbs__ddl_is_kw(p, "SELECT") ||
		    dbs__ddl_is_kw(p, "WITH") || dbs__ddl_is_kw(p, "VALUES") ||
		    dbs__ddl_is_kw(p, "TABLE") || dbs__ddl_is_punct(p, '(')) {
			select = 1;
			break;
		}
		int r = dbs__ddl_table_option(p);
		if (r < 0)
			return -1;
		if (r == 0) {
			char b[48];
			dbs__ddl_fail(p, "CREATE TABLE option '%s' not understood",
			              dbs__ddl_tok_show(p, b, sizeof b));
			return -1;
		}
	}
	if (!select && ncols == 0) {
		dbs__ddl_fail(p, "CREATE TABLE without columns");
		return -1;
	}
	if (!(c = dbs__ddl_add_change(
	          p, select ? DBS_MYSQL_CREATE_TABLE_SELECT : DBS_MYSQL_CREATE_TABLE, &table)))
		return -1;
	c->columns = cols;
	c->ncolumns = ncols;
	c->indexes = ixs;
	c->nindexes = nixs;
	c->if_not_exists = ine;
	c->or_replace = or_replace;
	if (select) /* the query is the server's business: its rows follow as row events */
		p->cur.type = T_END;
	return 0;
}

static int create_index(parser *p, uint8_t or_replace)
{
	dbs_mysql_index ix;
	memset(&ix, 0, sizeof ix);
	if (dbs__ddl_accept_kw(p, "UNIQUE"))
		ix.kind = DBS_MYSQL_INDEX_UNIQUE;
	else if (dbs__ddl_accept_kw(p, "FULLTEXT"))
		ix.kind = DBS_MYSQL_INDEX_FULLTEXT;
	else if (dbs__ddl_accept_kw(p, "SPATIAL"))
		ix.kind = DBS_MYSQL_INDEX_SPATIAL;
	if (dbs__ddl_expect_kw(p, "INDEX") != 0)
		return -1;
	uint8_t ine = (uint8_t)dbs__ddl_accept_if_not_exists(p);
	dbs_mysql_tref table;
	if (p->stop || !(ix.name = dbs__ddl_ident(p, "an index name")) ||
	    dbs__ddl_index_options(p) != 0 || dbs__ddl_expect_kw(p, "ON") != 0 ||
	    dbs__ddl_table_ref(p, &table) != 0 || dbs__ddl_key_parts(p, &ix) != 0 ||
	    dbs__ddl_index_options(p) != 0 || dbs__ddl_algorithm_lock(p) != 0)
		return -1;
	if (dbs__ddl_add_index_change(p, &table, &ix, ine) != 0)
		return -1;
	p->changes[p->nchanges - 1].or_replace = or_replace;
	return 0;
}

/* WAIT n | NOWAIT (MariaDB), after the names. */
static void skip_wait(parser *p)
{
	if (dbs__ddl_accept_kw(p, "WAIT")) {
		int32_t v;
		dbs__ddl_int_lit(p, &v);
	} else
		dbs__ddl_accept_kw(p, "NOWAIT");
}

static int drop_table(parser *p)
{
	uint8_t ie = (uint8_t)dbs__ddl_accept_if_exists(p);
	if (p->stop)
		return -1;
	for (;;) {
		dbs_mysql_tref t;
		dbs_mysql_ddl_change *c;
		if (dbs__ddl_table_ref(p, &t) != 0 ||
		    !(c = dbs__ddl_add_change(p, DBS_MYSQL_DROP_TABLE, &t)))
			return -1;
		c->if_exists = ie;
		if (!dbs__ddl_accept_punct(p, ','))
			break;
	}
	skip_wait(p);
	if (!dbs__ddl_accept_kw(p, "RESTRICT"))
		dbs__ddl_accept_kw(p, "CASCADE");
	return 0;
}

static int drop_index(parser *p)
{
	uint8_t ie = (uint8_t)dbs__ddl_accept_if_exists(p);
	const char *name;
	dbs_mysql_tref t;
	if (p->stop || !(name = dbs__ddl_ident(p, "an index name")) ||
	    dbs__ddl_expect_kw(p, "ON") != 0 || dbs__ddl_table_ref(p, &t) != 0)
		return -1;
	skip_wait(p);
	if (dbs__ddl_algorithm_lock(p) != 0)
		return -1;
	int pk = dbs__mysql_ddl_name_eq(name, "PRIMARY");
	dbs_mysql_ddl_change *c =
	    dbs__ddl_add_change(p, pk ? DBS_MYSQL_DROP_PRIMARY_KEY : DBS_MYSQL_DROP_INDEX, &t);
	if (!c)
		return -1;
	if (!pk)
		c->name = name;
	c->if_exists = ie;
	return 0;
}

static int rename_table(parser *p)
{
	uint8_t ie = (uint8_t)dbs__ddl_accept_if_exists(p);
	if (p->stop)
		return -1;
	for (;;) {
		dbs_mysql_tref a, b;
		dbs_mysql_ddl_change *c;
		if (dbs__ddl_table_ref(p, &a) != 0)
			return -1;
		skip_wait(p);
		if (dbs__ddl_expect_kw(p, "TO") != 0 || dbs__ddl_table_ref(p, &b) != 0 ||
		    !(c = dbs__ddl_add_change(p, DBS_MYSQL_RENAME_TABLE, &a)))
			return -1;
		c->new_table = b;
		c->if_exists = ie;
		if (!dbs__ddl_accept_punct(p, ','))
			break;
	}
	return 0;
}

/* ---- statements ---- */

/* Statements that change no table's columns, keys or rows. */
static const char *const not_table_words[] = {
    "BEGIN",   "COMMIT",    "ROLLBACK", "SAVEPOINT", "RELEASE",  "XA",     "START",
    "GRANT",   "REVOKE",    "FLUSH",    "ANALYZE",   "OPTIMIZE", "REPAIR", "CHECK",
    "INSTALL", "UNINSTALL", "SET",      "CHECKSUM",  "RESET",    "PURGE",  "SHOW",
    "SELECT",  "USE",       "KILL",     "BACKUP",    NULL};

/* Objects whose CREATE / ALTER / DROP touch no table. */
static const char *const not_table_objects[] = {
    "DATABASE",  "SCHEMA",   "USER",      "ROLE",     "VIEW",    "PROCEDURE",
    "FUNCTION",  "TRIGGER",  "EVENT",     "SEQUENCE", "SERVER",  "DEFINER",
    "ALGORITHM", "SQL",      "AGGREGATE", "PACKAGE",  "LOGFILE", "TABLESPACE",
    "INSTANCE",  "RESOURCE", "SPATIAL",   NULL};

static const char *const data_words[] = {"INSERT", "UPDATE", "DELETE",  "REPLACE", "LOAD",
                                         "CALL",   "DO",     "HANDLER", NULL};

static int statement(parser *p)
{
	dbs__ddl_advance(p);
	if (dbs__ddl_is_kw(p, "SET") && dbs__ddl_next_is_kw(p, "STATEMENT")) {
		/* MariaDB's SET STATEMENT var=value, ... FOR statement, logged as
		 * written: what counts is the statement after FOR */
		dbs__ddl_advance(p);
		dbs__ddl_advance(p);
		while (!dbs__ddl_at_end(p) && !dbs__ddl_is_kw(p, "FOR")) {
			if (p->cur.type == T_BAD) {
				dbs__ddl_unexpected(p, "FOR");
				return -1;
			}
			if (dbs__ddl_is_punct(p, '(')) {
				if (dbs__ddl_skip_parens(p) != 0)
					return -1;
			} else
				dbs__ddl_advance(p);
		}
		if (dbs__ddl_expect_kw(p, "FOR") != 0)
			return -1;
		if (dbs__ddl_at_end(p)) {
			dbs__ddl_unexpected(p, "a statement");
			return -1;
		}
	}
	if (dbs__ddl_at_end(p))
		return 0; /* nothing: NONE */
	if (dbs__ddl_is_kw_in(p, not_table_words))
		return 0;
	if (dbs__ddl_is_kw_in(p, data_words)) {
		dbs__ddl_fail(
		    p, "a data change logged as a statement (binlog_format is not ROW): its rows "
		       "are not in the binlog");
		return -1;
	}
	p->res->cls = DBS_MYSQL_DDL_CHANGES;
	if ((p->flags & DBS_MYSQL_DDL_ORACLE) &&
	    (dbs__ddl_is_kw(p, "ALTER") || dbs__ddl_is_kw(p, "CREATE") ||
	     dbs__ddl_is_kw(p, "DROP") || dbs__ddl_is_kw(p, "RENAME") ||
	     dbs__ddl_is_kw(p, "TRUNCATE"))) {
		/* NONE stays NONE: an Oracle-mode CREATE PROCEDURE changes no table */
		parser ahead = *p;
		dbs__ddl_advance(&ahead);
		while (dbs__ddl_is_kw(&ahead, "OR") || dbs__ddl_is_kw(&ahead, "REPLACE") ||
		       dbs__ddl_is_kw(&ahead, "ONLINE") || dbs__ddl_is_kw(&ahead, "IGNORE"))
			dbs__ddl_advance(&ahead);
		if (!dbs__ddl_is_kw_in(&ahead, not_table_objects) &&
		    !dbs__ddl_is_kw(&ahead, "TEMPORARY")) {
			dbs__ddl_fail(
			    p,
			    "a schema statement in sql_mode ORACLE, whose types and syntax differ");
			return -1;
		}
	}
	if (dbs__ddl_accept_kw(p, "ALTER")) {
		while (dbs__ddl_accept_kw(p, "ONLINE") || dbs__ddl_accept_kw(p, "OFFLINE") ||
		       dbs__ddl_accept_kw(p, "IGNORE"))
			;
		if (dbs__ddl_accept_kw(p, "TABLE"))
			return dbs__ddl_alter_table(p);
		if (dbs__ddl_accept_kw(p, "DATABASE") || dbs__ddl_accept_kw(p, "SCHEMA")) {
			/* ALTER DATABASE d UPGRADE DATA DIRECTORY NAME renames a database */
			while (!dbs__ddl_at_end(p) && !dbs__ddl_is_kw(p, "UPGRADE"))
				dbs__ddl_advance(p);
			if (dbs__ddl_is_kw(p, "UPGRADE")) {
				dbs__ddl_fail(p, "a database renamed");
				return -1;
			}
			p->res->cls = DBS_MYSQL_DDL_NONE;
			return 0;
		}
	} else if (dbs__ddl_accept_kw(p, "CREATE")) {
		uint8_t or_replace = 0;
		if (dbs__ddl_accept_kw(p, "OR")) {
			if (dbs__ddl_expect_kw(p, "REPLACE") != 0)
				return -1;
			or_replace = 1;
		}
		if (dbs__ddl_is_kw(p, "TEMPORARY")) {
			p->res->cls = DBS_MYSQL_DDL_NONE;
			return 0; /* not in a ROW binlog's rows either */
		}
		if (dbs__ddl_accept_kw(p, "TABLE"))
			return create_table(p, or_replace);
		dbs__ddl_accept_kw(p, "ONLINE");
		dbs__ddl_accept_kw(p, "OFFLINE");
		if (dbs__ddl_is_kw(p, "UNIQUE") || dbs__ddl_is_kw(p, "FULLTEXT") ||
		    dbs__ddl_is_kw(p, "INDEX"))
			return create_index(p, or_replace);
		if (dbs__ddl_is_kw(p, "SPATIAL")) {
			parser save = *p;
			dbs__ddl_advance(p);
			int index = dbs__ddl_is_kw(p, "INDEX");
			*p = save;
			if (index)
				return create_index(p, or_replace);
		}
	} else if (dbs__ddl_accept_kw(p, "DROP")) {
		if (dbs__ddl_is_kw(p, "TEMPORARY")) {
			p->res->cls = DBS_MYSQL_DDL_NONE;
			return 0;
		}
		if (dbs__ddl_accept_kw(p, "TABLE") || dbs__ddl_accept_kw(p, "TABLES"))
			return drop_table(p);
		if (dbs__ddl_accept_kw(p, "INDEX"))
			return drop_index(p);
		if (dbs__ddl_accept_kw(p, "DATABASE") || dbs__ddl_accept_kw(p, "SCHEMA")) {
			uint8_t ie = (uint8_t)dbs__ddl_accept_if_exists(p);
			const char *db;
			dbs_mysql_ddl_change *c;
			if (p->stop || !(db = dbs__ddl_ident(p, "a database name")) ||
			    !(c = dbs__ddl_add_change(p, DBS_MYSQL_DROP_SCHEMA, NULL)))
				return -1;
			c->table.schema = db;
			c->if_exists = ie;
			return 0;
		}
	} else if (dbs__ddl_accept_kw(p, "RENAME")) {
		if (dbs__ddl_accept_kw(p, "TABLE") || dbs__ddl_accept_kw(p, "TABLES"))
			return rename_table(p);
		if (dbs__ddl_is_kw(p, "USER")) {
			p->res->cls = DBS_MYSQL_DDL_NONE;
			return 0;
		}
	} else if (dbs__ddl_accept_kw(p, "TRUNCATE")) {
		dbs__ddl_accept_kw(p, "TABLE");
		dbs_mysql_tref t;
		if (dbs__ddl_table_ref(p, &t) != 0 ||
		    !dbs__ddl_add_change(p, DBS_MYSQL_TRUNCATE_TABLE, &t))
			return -1;
		skip_wait(p);
		return 0;
	} else {
		char b[48];
		dbs__ddl_fail(p, "statement '%s' not recognised",
		              dbs__ddl_tok_show(p, b, sizeof b));
		return -1;
	}
	/* CREATE / ALTER / DROP / RENAME of something other than a table */
	if (dbs__ddl_is_kw_in(p, not_table_objects)) {
		p->res->cls = DBS_MYSQL_DDL_NONE;
		return 0;
	}
	char b[48];
	dbs__ddl_fail(p, "'%s' not recognised after the statement's first word",
	              dbs__ddl_tok_show(p, b, sizeof b));
	return -1;
}

static int parse_with(dbs_mysql_ddl **out, const char *sql, size_t len, const char *db,
                      size_t db_len, unsigned flags, int type_only)
{
	*out = NULL;
	dbs_mysql_ddl *res = calloc(1, sizeof *res);
	if (!res)
		return DBS_ENOMEM;
	parser p;
	memset(&p, 0, sizeof p);
	p.s = sql ? sql : "";
	p.n = sql ? len : 0;
	p.flags = flags;
	p.res = res;
	p.db = dbs__ddl_arena_str(&p, db ? db : "", db ? db_len : 0);
	if (p.db) {
		if (type_only) {
			res->cls = DBS_MYSQL_DDL_CHANGES;
			dbs_mysql_coldef *col = dbs__ddl_arena_alloc(&p.arena, sizeof *col);
			dbs_mysql_tref none = {p.db, p.db}; /* "" */
			dbs_mysql_ddl_change *c =
			    col ? dbs__ddl_add_change(&p, DBS_MYSQL_ADD_COLUMN, &none) : NULL;
			int serial;
			if (!col)
				dbs__ddl_out_of_memory(&p);
			else if (c) {
				c->col = col;
				col->name = "";
				col->nullable = -1;
				dbs__ddl_advance(&p);
				if (dbs__ddl_type_parse(&p, &col->type, &serial) == 0 &&
				    !dbs__ddl_at_end(&p))
					dbs__ddl_unexpected(&p, "the end of the type");
			}
		} else if (statement(&p) == 0 && !p.stop && res->cls != DBS_MYSQL_DDL_NONE) {
			dbs__ddl_accept_punct(&p, ';');
			if (p.cur.type != T_END)
				dbs__ddl_unexpected(&p, "the end of the statement");
		}
	}
	if (p.nomem || !p.db) {
		dbs__ddl_arena_free(p.arena);
		free(res);
		return DBS_ENOMEM;
	}
	if (res->cls == DBS_MYSQL_DDL_CHANGES) {
		res->changes = p.changes;
		res->nchanges = p.nchanges;
	}
	res->arena_ = p.arena;
	*out = res;
	return 0;
}

int dbs__mysql_ddl_parse(dbs_mysql_ddl **out, const char *sql, size_t len, const char *db,
                         size_t db_len, unsigned flags)
{
	return parse_with(out, sql, len, db, db_len, flags, 0);
}

int dbs__mysql_type_parse(dbs_mysql_ddl **out, const char *text, size_t len)
{
	return parse_with(out, text, len, NULL, 0, 0, 1);
}

void dbs__mysql_ddl_free(dbs_mysql_ddl *ddl)
{
	if (!ddl)
		return;
	dbs__ddl_arena_free(ddl->arena_);
	free(ddl);
}

int dbs__mysql_ddl_name_eq(const char *a, const char *b)
{
	for (;; a++, b++) {
		char x = *a, y = *b;
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return 0;
		if (!x)
			return 1;
	}
}

int dbs__mysql_ddl_flags(const uint8_t *status, size_t len, unsigned *flags)
{
	/* Q_FLAGS2_CODE (4 bytes) comes first when present, Q_SQL_MODE_CODE next */
	enum { Q_FLAGS2_CODE = 0, Q_SQL_MODE_CODE = 1 };
	enum {
		MODE_REAL_AS_FLOAT = 1u << 0,
		MODE_ANSI_QUOTES = 1u << 2,
		MODE_ORACLE = 1u << 9,
		MODE_NO_BACKSLASH_ESCAPES = 1u << 20
	};
	*flags = 0;
	size_t i = 0;
	if (!status)
		return DBS_ENOTFOUND;
	if (i < len && status[i] == Q_FLAGS2_CODE)
		i += 5;
	if (i >= len || status[i] != Q_SQL_MODE_CODE || len - i - 1 < 8)
		return DBS_ENOTFOUND;
	uint64_t mode = 0;
	for (int k = 7; k >= 0; k--)
		mode = mode << 8 | status[i + 1 + (size_t)k];
	if (mode & MODE_REAL_AS_FLOAT)
		*flags |= DBS_MYSQL_DDL_REAL_AS_FLOAT;
	if (mode & MODE_ANSI_QUOTES)
		*flags |= DBS_MYSQL_DDL_ANSI_QUOTES;
	if (mode & MODE_ORACLE)
		*flags |= DBS_MYSQL_DDL_ORACLE;
	if (mode & MODE_NO_BACKSLASH_ESCAPES)
		*flags |= DBS_MYSQL_DDL_NO_BACKSLASH_ESCAPES;
	return 0;
}
