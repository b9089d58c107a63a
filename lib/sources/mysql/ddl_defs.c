/*
 * The schema-statement parser's definitions (ddl_parse.h): column types,
 * defaults, column definitions, indexes and constraints, the changes
 * CREATE and ALTER make of them, table options.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/ddl_parse.h"

/* ---- column types ---- */

typedef enum tclass {
	TC_INT,   /* (display width) */
	TC_DEC,   /* (precision, scale) */
	TC_FLOAT, /* (m, d) or (p) */
	TC_CHAR,  /* (length): char, varchar, binary, varbinary, text, blob */
	TC_TIME,  /* (fractional digits) */
	TC_BIT,   /* (bits) */
	TC_LIST,  /* ('member', ...) */
	TC_PLAIN  /* no arguments */
} tclass;

typedef struct type_name {
	const char *word; /* as written (upper case) */
	const char *name; /* canonical */
	tclass cls;
} type_name;

static const type_name type_names[] = {
    {"BIT", "bit", TC_BIT},
    {"TINYINT", "tinyint", TC_INT},
    {"INT1", "tinyint", TC_INT},
    {"SMALLINT", "smallint", TC_INT},
    {"INT2", "smallint", TC_INT},
    {"MEDIUMINT", "mediumint", TC_INT},
    {"MIDDLEINT", "mediumint", TC_INT},
    {"INT3", "mediumint", TC_INT},
    {"INT", "int", TC_INT},
    {"INTEGER", "int", TC_INT},
    {"INT4", "int", TC_INT},
    {"BIGINT", "bigint", TC_INT},
    {"INT8", "bigint", TC_INT},
    {"DECIMAL", "decimal", TC_DEC},
    {"DEC", "decimal", TC_DEC},
    {"NUMERIC", "decimal", TC_DEC},
    {"FIXED", "decimal", TC_DEC},
    {"FLOAT", "float", TC_FLOAT},
    {"FLOAT4", "float", TC_FLOAT},
    {"DOUBLE", "double", TC_FLOAT},
    {"FLOAT8", "double", TC_FLOAT},
    {"REAL", "double", TC_FLOAT},
    {"DATE", "date", TC_PLAIN},
    {"TIME", "time", TC_TIME},
    {"DATETIME", "datetime", TC_TIME},
    {"TIMESTAMP", "timestamp", TC_TIME},
    {"YEAR", "year", TC_INT},
    {"CHAR", "char", TC_CHAR},
    {"CHARACTER", "char", TC_CHAR},
    {"NCHAR", "char", TC_CHAR},
    {"VARCHAR", "varchar", TC_CHAR},
    {"NVARCHAR", "varchar", TC_CHAR},
    {"VARCHARACTER", "varchar", TC_CHAR},
    {"BINARY", "binary", TC_CHAR},
    {"VARBINARY", "varbinary", TC_CHAR},
    {"TINYTEXT", "tinytext", TC_PLAIN},
    {"TEXT", "text", TC_CHAR},
    {"MEDIUMTEXT", "mediumtext", TC_PLAIN},
    {"LONGTEXT", "longtext", TC_PLAIN},
    {"TINYBLOB", "tinyblob", TC_PLAIN},
    {"BLOB", "blob", TC_CHAR},
    {"MEDIUMBLOB", "mediumblob", TC_PLAIN},
    {"LONGBLOB", "longblob", TC_PLAIN},
    {"ENUM", "enum", TC_LIST},
    {"SET", "set", TC_LIST},
    {"JSON", "json", TC_PLAIN},
    {"GEOMETRY", "geometry", TC_PLAIN},
    {"POINT", "point", TC_PLAIN},
    {"LINESTRING", "linestring", TC_PLAIN},
    {"POLYGON", "polygon", TC_PLAIN},
    {"MULTIPOINT", "multipoint", TC_PLAIN},
    {"MULTILINESTRING", "multilinestring", TC_PLAIN},
    {"MULTIPOLYGON", "multipolygon", TC_PLAIN},
    {"GEOMETRYCOLLECTION", "geometrycollection", TC_PLAIN},
    {"GEOMCOLLECTION", "geometrycollection", TC_PLAIN},
    {"INET4", "inet4", TC_PLAIN},
    {"INET6", "inet6", TC_PLAIN},
    {"UUID", "uuid", TC_PLAIN},
    {"BOOL", "tinyint", TC_PLAIN},
    {"BOOLEAN", "tinyint", TC_PLAIN},
    {"SERIAL", "bigint", TC_PLAIN},
    {"LONG", "mediumtext", TC_PLAIN},
};

/*
 * A column type and its attributes. *serial is set for SERIAL (BIGINT
 * UNSIGNED NOT NULL AUTO_INCREMENT UNIQUE).
 */
int dbs__ddl_type_parse(parser *p, dbs_mysql_type *t, int *serial)
{
	memset(t, 0, sizeof *t);
	t->len = -1;
	t->scale = -1;
	*serial = 0;
	if (dbs__ddl_is_kw(p, "NATIONAL"))
		dbs__ddl_advance(p);
	const type_name *tn = NULL;
	for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
		if (dbs__ddl_is_kw(p, type_names[i].word)) {
			tn = &type_names[i];
			break;
		}
	if (!tn) {
		char b[48];
		if (p->cur.type == T_WORD)
			dbs__ddl_fail(p, "unknown column type '%s'",
			              dbs__ddl_tok_show(p, b, sizeof b));
		else
			dbs__ddl_unexpected(p, "a column type");
		return -1;
	}
	int national = dbs__ddl_is_kw(p, "NCHAR") || dbs__ddl_is_kw(p, "NVARCHAR");
	int boolean = dbs__ddl_is_kw(p, "BOOL") || dbs__ddl_is_kw(p, "BOOLEAN");
	int is_long = dbs__ddl_is_kw(p, "LONG");
	int is_real = dbs__ddl_is_kw(p, "REAL");
	*serial = dbs__ddl_is_kw(p, "SERIAL");
	int is_char = dbs__ddl_is_kw(p, "CHAR") || dbs__ddl_is_kw(p, "CHARACTER") ||
	              dbs__ddl_is_kw(p, "NCHAR");
	dbs__ddl_advance(p);
	t->name = tn->name;
	tclass cls = tn->cls;
	if (boolean)
		t->len = 1;
	if (*serial)
		t->is_unsigned = 1;
	if (dbs__ddl_is_kw(p, "PRECISION") && strcmp(t->name, "double") == 0)
		dbs__ddl_advance(p);
	if (is_long) {
		/* LONG, LONG VARCHAR: mediumtext; LONG VARBINARY: mediumblob */
		if (dbs__ddl_accept_kw(p, "VARBINARY"))
			t->name = "mediumblob";
		else
			dbs__ddl_accept_kw(p, "VARCHAR");
	}
	if (is_char && dbs__ddl_accept_kw(p, "VARYING"))
		t->name = "varchar";
	if (national)
		t->charset = "utf8mb3";
	if (is_real && (p->flags & DBS_MYSQL_DDL_REAL_AS_FLOAT))
		t->name = "float";
	if (dbs__ddl_is_punct(p, '(')) {
		if (cls == TC_PLAIN) {
			dbs__ddl_fail(p, "type %s takes no length", t->name);
			return -1;
		}
		dbs__ddl_advance(p);
		if (cls == TC_LIST) {
			uint32_t cap = 0;
			for (;;) {
				const char *m = dbs__ddl_string_lit(p, NULL);
				if (!m)
					return -1;
				const char **ms = dbs__ddl_grow(p, (void *)t->members, t->nmembers,
				                                &cap, sizeof *t->members);
				if (!ms)
					return -1;
				t->members = ms;
				t->members[t->nmembers++] = m;
				if (!dbs__ddl_accept_punct(p, ','))
					break;
			}
		} else {
			if (dbs__ddl_int_lit(p, &t->len) != 0)
				return -1;
			if ((cls == TC_DEC || cls == TC_FLOAT) && dbs__ddl_accept_punct(p, ',')) {
				if (dbs__ddl_int_lit(p, &t->scale) != 0)
					return -1;
			}
		}
		if (dbs__ddl_expect_punct(p, ')') != 0)
			return -1;
		if (cls == TC_TIME) {
			t->scale = t->len;
			t->len = -1;
		}
	}
	/* Attributes of the type itself, in any order. */
	for (;;) {
		if (dbs__ddl_accept_kw(p, "UNSIGNED"))
			t->is_unsigned = 1;
		else if (dbs__ddl_accept_kw(p, "SIGNED"))
			;
		else if (dbs__ddl_accept_kw(p, "ZEROFILL"))
			t->zerofill = t->is_unsigned = 1;
		else if (dbs__ddl_accept_kw(p, "BINARY") || dbs__ddl_accept_kw(p, "BYTE"))
			t->binary = 1;
		else if (dbs__ddl_accept_kw(p, "ASCII"))
			t->charset = "latin1";
		else if (dbs__ddl_accept_kw(p, "UNICODE"))
			t->charset = "ucs2";
		else if (dbs__ddl_is_kw(p, "CHARACTER") || dbs__ddl_is_kw(p, "CHARSET") ||
		         dbs__ddl_is_kw(p, "CHAR")) {
			if (!dbs__ddl_accept_kw(p, "CHARSET")) {
				dbs__ddl_advance(p);
				if (dbs__ddl_expect_kw(p, "SET") != 0)
					return -1;
			}
			if (!(t->charset = dbs__ddl_cs_name(p, "a character set")))
				return -1;
		} else if (dbs__ddl_is_kw(p, "COLLATE")) {
			dbs__ddl_advance(p);
			if (!(t->collation = dbs__ddl_cs_name(p, "a collation")))
				return -1;
		} else
			break;
	}
	return 0;
}

/* ---- column definitions ---- */

int dbs__ddl_default_value(parser *p, dbs_mysql_default *d)
{
	size_t start = p->cur.start;
	if (dbs__ddl_accept_kw(p, "NULL")) {
		d->kind = DBS_MYSQL_DEFAULT_NULL;
		d->text = NULL;
		d->len = 0;
		return 0;
	}
	/* _utf8mb4'x', N'x': the introducer only says the charset */
	if (p->cur.type == T_WORD &&
	    (p->s[p->cur.start] == '_' ||
	     (p->cur.end - p->cur.start == 1 && (p->s[p->cur.start] | 0x20) == 'n'))) {
		parser save = *p;
		int underscore = p->s[p->cur.start] == '_';
		size_t e = p->cur.end;
		dbs__ddl_advance(p);
		if (p->cur.type != T_STRING || (!underscore && p->cur.start != e))
			*p = save;
	}
	if (p->cur.type == T_STRING) {
		d->kind = DBS_MYSQL_DEFAULT_STRING;
		d->text = dbs__ddl_string_lit(p, &d->len);
		return d->text ? 0 : -1;
	}
	if (dbs__ddl_is_punct(p, '-') || dbs__ddl_is_punct(p, '+') || dbs__ddl_is_punct(p, '.') ||
	    p->cur.type == T_NUM) {
		if (!dbs__ddl_accept_punct(p, '-'))
			dbs__ddl_accept_punct(p, '+');
		/* .5 */
		int point = dbs__ddl_accept_punct(p, '.');
		if (p->cur.type != T_NUM || (point && p->cur.start != p->prev_end)) {
			dbs__ddl_unexpected(p, "a number");
			return -1;
		}
		dbs__ddl_advance(p);
		d->kind = DBS_MYSQL_DEFAULT_NUMBER;
	} else if (dbs__ddl_is_punct(p, '(')) {
		if (dbs__ddl_skip_parens(p) != 0)
			return -1;
		d->kind = DBS_MYSQL_DEFAULT_EXPR;
	} else if (p->cur.type == T_WORD) {
		/* x'1f', b'101', TRUE, CURRENT_TIMESTAMP, uuid(), now(3) */
		size_t e = p->cur.end;
		dbs__ddl_advance(p);
		if (p->cur.type == T_STRING && p->cur.start == e)
			dbs__ddl_advance(p);
		else if (dbs__ddl_is_punct(p, '(') && dbs__ddl_skip_parens(p) != 0)
			return -1;
		d->kind = DBS_MYSQL_DEFAULT_EXPR;
	} else {
		dbs__ddl_unexpected(p, "a default value");
		return -1;
	}
	d->len = p->prev_end - start;
	d->text = dbs__ddl_arena_str(p, p->s + start, d->len);
	return d->text ? 0 : -1;
}

/* REFERENCES t (a, b) [MATCH x] [ON DELETE|UPDATE action]... */
static int references(parser *p, dbs_mysql_index *ix)
{
	if (dbs__ddl_expect_kw(p, "REFERENCES") != 0)
		return -1;
	dbs_mysql_tref ref;
	if (dbs__ddl_table_ref(p, &ref) != 0)
		return -1;
	if (ix)
		ix->ref = ref;
	if (dbs__ddl_is_punct(p, '(')) {
		dbs__ddl_advance(p);
		uint32_t cap = 0;
		for (;;) {
			const char *c = dbs__ddl_ident(p, "a column name");
			if (!c)
				return -1;
			if (ix) {
				const char **rc =
				    dbs__ddl_grow(p, (void *)ix->ref_columns, ix->nref_columns,
				                  &cap, sizeof *ix->ref_columns);
				if (!rc)
					return -1;
				ix->ref_columns = rc;
				ix->ref_columns[ix->nref_columns++] = c;
			}
			if (!dbs__ddl_accept_punct(p, ','))
				break;
		}
		if (dbs__ddl_expect_punct(p, ')') != 0)
			return -1;
	}
	for (;;) {
		if (dbs__ddl_accept_kw(p, "MATCH")) {
			if (p->cur.type != T_WORD) {
				dbs__ddl_unexpected(p, "FULL, PARTIAL or SIMPLE");
				return -1;
			}
			dbs__ddl_advance(p);
		} else if (dbs__ddl_accept_kw(p, "ON")) {
			if (!dbs__ddl_accept_kw(p, "DELETE") &&
			    dbs__ddl_expect_kw(p, "UPDATE") != 0)
				return -1;
			if (dbs__ddl_accept_kw(p, "SET") || dbs__ddl_accept_kw(p, "NO")) {
				if (p->cur.type != T_WORD) {
					dbs__ddl_unexpected(p, "NULL, DEFAULT or ACTION");
					return -1;
				}
				dbs__ddl_advance(p);
			} else if (!dbs__ddl_accept_kw(p, "RESTRICT") &&
			           !dbs__ddl_accept_kw(p, "CASCADE")) {
				dbs__ddl_unexpected(p, "a referential action");
				return -1;
			}
		} else
			return 0;
	}
}

int dbs__ddl_column_def(parser *p, dbs_mysql_coldef *c)
{
	memset(c, 0, sizeof *c);
	c->nullable = -1;
	int serial = 0;
	if (!(c->name = dbs__ddl_ident(p, "a column name")) ||
	    dbs__ddl_type_parse(p, &c->type, &serial) != 0)
		return -1;
	if (serial) {
		c->nullable = 0;
		c->auto_increment = 1;
		c->unique = 1;
	}
	for (;;) {
		if (dbs__ddl_at_end(p) || dbs__ddl_is_punct(p, ',') || dbs__ddl_is_punct(p, ')') ||
		    dbs__ddl_is_kw(p, "FIRST") || dbs__ddl_is_kw(p, "AFTER"))
			return 0;
		if (dbs__ddl_accept_kw(p, "NOT")) {
			if (dbs__ddl_expect_kw(p, "NULL") != 0)
				return -1;
			c->nullable = 0;
		} else if (dbs__ddl_accept_kw(p, "NULL")) {
			c->nullable = 1;
		} else if (dbs__ddl_accept_kw(p, "DEFAULT")) {
			if (dbs__ddl_default_value(p, &c->def) != 0)
				return -1;
		} else if (dbs__ddl_accept_kw(p, "AUTO_INCREMENT")) {
			c->auto_increment = 1;
		} else if (dbs__ddl_accept_kw(p, "UNIQUE")) {
			dbs__ddl_accept_kw(p, "KEY");
			c->unique = 1;
		} else if (dbs__ddl_accept_kw(p, "PRIMARY")) {
			if (dbs__ddl_expect_kw(p, "KEY") != 0)
				return -1;
			c->primary_key = 1;
		} else if (dbs__ddl_accept_kw(p, "KEY")) {
			c->primary_key = 1;
		} else if (dbs__ddl_accept_kw(p, "COMMENT")) {
			if (!(c->comment = dbs__ddl_string_lit(p, NULL)))
				return -1;
		} else if (dbs__ddl_is_kw(p, "COLLATE") || dbs__ddl_is_kw(p, "CHARACTER") ||
		           dbs__ddl_is_kw(p, "CHARSET")) {
			/* after NOT NULL, the type's attributes again */
			dbs_mysql_type t = c->type;
			if (dbs__ddl_is_kw(p, "COLLATE")) {
				dbs__ddl_advance(p);
				if (!(t.collation = dbs__ddl_cs_name(p, "a collation")))
					return -1;
			} else {
				if (!dbs__ddl_accept_kw(p, "CHARSET")) {
					dbs__ddl_advance(p);
					if (dbs__ddl_expect_kw(p, "SET") != 0)
						return -1;
				}
				if (!(t.charset = dbs__ddl_cs_name(p, "a character set")))
					return -1;
			}
			c->type = t;
		} else if (dbs__ddl_accept_kw(p, "COLUMN_FORMAT") ||
		           dbs__ddl_accept_kw(p, "STORAGE")) {
			if (p->cur.type != T_WORD) {
				dbs__ddl_unexpected(p, "a format");
				return -1;
			}
			dbs__ddl_advance(p);
		} else if (dbs__ddl_accept_kw(p, "ON")) {
			if (dbs__ddl_expect_kw(p, "UPDATE") != 0)
				return -1;
			if (p->cur.type != T_WORD) {
				dbs__ddl_unexpected(p, "CURRENT_TIMESTAMP");
				return -1;
			}
			dbs__ddl_advance(p);
			if (dbs__ddl_is_punct(p, '(') && dbs__ddl_skip_parens(p) != 0)
				return -1;
			c->on_update_now = 1;
		} else if (dbs__ddl_is_kw(p, "GENERATED") || dbs__ddl_is_kw(p, "AS")) {
			if (dbs__ddl_accept_kw(p, "GENERATED") &&
			    dbs__ddl_expect_kw(p, "ALWAYS") != 0)
				return -1;
			if (dbs__ddl_expect_kw(p, "AS") != 0)
				return -1;
			if (dbs__ddl_is_kw(p, "ROW")) {
				dbs__ddl_fail(p, "system-versioned columns cannot be replicated");
				return -1;
			}
			if (dbs__ddl_skip_parens(p) != 0)
				return -1;
			if (!dbs__ddl_accept_kw(p, "VIRTUAL") && !dbs__ddl_accept_kw(p, "STORED"))
				dbs__ddl_accept_kw(p, "PERSISTENT");
			c->generated = 1;
		} else if (dbs__ddl_accept_kw(p, "CONSTRAINT")) {
			if (!dbs__ddl_is_kw(p, "CHECK") && !dbs__ddl_ident(p, "a constraint name"))
				return -1;
			if (dbs__ddl_expect_kw(p, "CHECK") != 0 || dbs__ddl_skip_parens(p) != 0)
				return -1;
		} else if (dbs__ddl_accept_kw(p, "CHECK")) {
			if (dbs__ddl_skip_parens(p) != 0)
				return -1;
		} else if (dbs__ddl_is_kw(p, "REFERENCES")) {
			/* an inline reference: parsed, ignored by the server */
			if (references(p, NULL) != 0)
				return -1;
		} else if (dbs__ddl_accept_kw(p, "INVISIBLE") || dbs__ddl_accept_kw(p, "VISIBLE")) {
			;
		} else if (dbs__ddl_accept_kw(p, "WITH") || dbs__ddl_accept_kw(p, "WITHOUT")) {
			if (dbs__ddl_expect_kw(p, "SYSTEM") != 0 ||
			    dbs__ddl_expect_kw(p, "VERSIONING") != 0)
				return -1;
		} else if (dbs__ddl_accept_kw(p, "COMPRESSED")) {
			if (dbs__ddl_accept_punct(p, '=') &&
			    !dbs__ddl_ident(p, "a compression method"))
				return -1;
		} else if (dbs__ddl_accept_kw(p, "SRID")) {
			int32_t v;
			if (dbs__ddl_int_lit(p, &v) != 0)
				return -1;
		} else if (dbs__ddl_accept_kw(p, "SERIAL")) {
			if (dbs__ddl_expect_kw(p, "DEFAULT") != 0 ||
			    dbs__ddl_expect_kw(p, "VALUE") != 0)
				return -1;
			c->nullable = 0;
			c->auto_increment = 1;
			c->unique = 1;
		} else if (dbs__ddl_is_kw(p, "ENGINE_ATTRIBUTE") ||
		           dbs__ddl_is_kw(p, "SECONDARY_ENGINE_ATTRIBUTE")) {
			dbs__ddl_advance(p);
			dbs__ddl_accept_punct(p, '=');
			if (!dbs__ddl_string_lit(p, NULL))
				return -1;
		} else {
			dbs__ddl_unexpected(p, "a column attribute");
			return -1;
		}
	}
}

/* FIRST | AFTER col, after a column definition. */
int dbs__ddl_column_place(parser *p, dbs_mysql_coldef *c)
{
	if (dbs__ddl_accept_kw(p, "FIRST"))
		c->place = DBS_MYSQL_PLACE_FIRST;
	else if (dbs__ddl_accept_kw(p, "AFTER")) {
		c->place = DBS_MYSQL_PLACE_AFTER;
		if (!(c->after = dbs__ddl_ident(p, "a column name")))
			return -1;
	}
	return 0;
}

/* ---- indexes and constraints ---- */

const char *const dbs__ddl_index_start[] = {"CONSTRAINT", "PRIMARY", "UNIQUE",  "INDEX", "KEY",
                                            "FULLTEXT",   "SPATIAL", "FOREIGN", "CHECK", NULL};

/* USING BTREE, COMMENT 'x', KEY_BLOCK_SIZE=n, VISIBLE...: nothing a replica keeps. */
int dbs__ddl_index_options(parser *p)
{
	for (;;) {
		if (dbs__ddl_accept_kw(p, "USING") || dbs__ddl_accept_kw(p, "TYPE")) {
			if (p->cur.type != T_WORD) {
				dbs__ddl_unexpected(p, "an index type");
				return -1;
			}
			dbs__ddl_advance(p);
		} else if (dbs__ddl_accept_kw(p, "KEY_BLOCK_SIZE")) {
			dbs__ddl_accept_punct(p, '=');
			int32_t v;
			if (dbs__ddl_int_lit(p, &v) != 0)
				return -1;
		} else if (dbs__ddl_accept_kw(p, "COMMENT")) {
			if (!dbs__ddl_string_lit(p, NULL))
				return -1;
		} else if (dbs__ddl_accept_kw(p, "VISIBLE") || dbs__ddl_accept_kw(p, "INVISIBLE") ||
		           dbs__ddl_accept_kw(p, "IGNORED") ||
		           dbs__ddl_accept_kw(p, "CLUSTERING")) {
			dbs__ddl_accept_punct(p, '=');
			if (p->cur.type == T_WORD &&
			    (dbs__ddl_is_kw(p, "YES") || dbs__ddl_is_kw(p, "NO")))
				dbs__ddl_advance(p);
		} else if (dbs__ddl_is_kw(p, "NOT")) {
			dbs__ddl_advance(p);
			if (dbs__ddl_expect_kw(p, "IGNORED") != 0)
				return -1;
		} else if (dbs__ddl_accept_kw(p, "WITH")) {
			if (dbs__ddl_expect_kw(p, "PARSER") != 0 ||
			    !dbs__ddl_ident(p, "a parser name"))
				return -1;
		} else if (dbs__ddl_is_kw(p, "ENGINE_ATTRIBUTE") ||
		           dbs__ddl_is_kw(p, "SECONDARY_ENGINE_ATTRIBUTE")) {
			dbs__ddl_advance(p);
			dbs__ddl_accept_punct(p, '=');
			if (!dbs__ddl_string_lit(p, NULL))
				return -1;
		} else
			return 0;
	}
}

int dbs__ddl_key_parts(parser *p, dbs_mysql_index *ix)
{
	if (dbs__ddl_expect_punct(p, '(') != 0)
		return -1;
	uint32_t cap = 0;
	for (;;) {
		dbs_mysql_keypart *parts =
		    dbs__ddl_grow(p, ix->parts, ix->nparts, &cap, sizeof *ix->parts);
		if (!parts)
			return -1;
		ix->parts = parts;
		dbs_mysql_keypart *kp = &ix->parts[ix->nparts++];
		kp->prefix = -1;
		if (dbs__ddl_is_punct(p, '(')) {
			if (dbs__ddl_skip_parens(p) != 0)
				return -1;
		} else {
			if (!(kp->column = dbs__ddl_ident(p, "a column name")))
				return -1;
			if (dbs__ddl_accept_punct(p, '(')) {
				if (dbs__ddl_int_lit(p, &kp->prefix) != 0 ||
				    dbs__ddl_expect_punct(p, ')') != 0)
					return -1;
			}
		}
		if (dbs__ddl_accept_kw(p, "DESC"))
			kp->desc = 1;
		else
			dbs__ddl_accept_kw(p, "ASC");
		if (!dbs__ddl_accept_punct(p, ','))
			break;
	}
	return dbs__ddl_expect_punct(p, ')');
}

/* An index name, unless the next thing is USING or the parts. */
static int opt_index_name(parser *p, const char **name)
{
	if (dbs__ddl_is_punct(p, '(') || dbs__ddl_is_kw(p, "USING") || dbs__ddl_is_kw(p, "TYPE"))
		return 0;
	return (*name = dbs__ddl_ident(p, "an index name")) ? 0 : -1;
}

/*
 * [CONSTRAINT [sym]] PRIMARY KEY | UNIQUE | INDEX | KEY | FULLTEXT |
 * SPATIAL | FOREIGN KEY | CHECK, starting at the keyword.
 */
int dbs__ddl_index_def(parser *p, dbs_mysql_index *ix, uint8_t *if_not_exists)
{
	memset(ix, 0, sizeof *ix);
	const char *constraint = NULL;
	if (dbs__ddl_accept_kw(p, "CONSTRAINT")) {
		if (dbs__ddl_accept_if_not_exists(p))
			*if_not_exists = 1;
		if (!dbs__ddl_is_kw(p, "PRIMARY") && !dbs__ddl_is_kw(p, "UNIQUE") &&
		    !dbs__ddl_is_kw(p, "FOREIGN") && !dbs__ddl_is_kw(p, "CHECK") &&
		    !(constraint = dbs__ddl_ident(p, "a constraint name")))
			return -1;
	}
	if (p->stop)
		return -1;
	if (dbs__ddl_accept_kw(p, "PRIMARY")) {
		if (dbs__ddl_expect_kw(p, "KEY") != 0)
			return -1;
		ix->kind = DBS_MYSQL_INDEX_PRIMARY;
		if (dbs__ddl_index_options(p) != 0 || dbs__ddl_key_parts(p, ix) != 0)
			return -1;
		return dbs__ddl_index_options(p);
	}
	if (dbs__ddl_accept_kw(p, "FOREIGN")) {
		if (dbs__ddl_expect_kw(p, "KEY") != 0)
			return -1;
		ix->kind = DBS_MYSQL_INDEX_FOREIGN;
		if (dbs__ddl_accept_if_not_exists(p))
			*if_not_exists = 1;
		if (p->stop || opt_index_name(p, &ix->name) != 0)
			return -1;
		if (constraint)
			ix->name = constraint;
		if (dbs__ddl_key_parts(p, ix) != 0)
			return -1;
		return references(p, ix);
	}
	if (dbs__ddl_accept_kw(p, "CHECK")) {
		ix->kind = DBS_MYSQL_INDEX_CHECK;
		ix->name = constraint;
		return dbs__ddl_skip_parens(p);
	}
	if (dbs__ddl_accept_kw(p, "UNIQUE")) {
		ix->kind = DBS_MYSQL_INDEX_UNIQUE;
		if (!dbs__ddl_accept_kw(p, "INDEX"))
			dbs__ddl_accept_kw(p, "KEY");
	} else if (dbs__ddl_is_kw(p, "FULLTEXT") || dbs__ddl_is_kw(p, "SPATIAL")) {
		ix->kind = dbs__ddl_is_kw(p, "FULLTEXT") ? DBS_MYSQL_INDEX_FULLTEXT
		                                         : DBS_MYSQL_INDEX_SPATIAL;
		dbs__ddl_advance(p);
		if (!dbs__ddl_accept_kw(p, "INDEX"))
			dbs__ddl_accept_kw(p, "KEY");
	} else if (constraint) {
		dbs__ddl_unexpected(p, "PRIMARY KEY, UNIQUE, FOREIGN KEY or CHECK");
		return -1;
	} else if (!dbs__ddl_accept_kw(p, "INDEX") && dbs__ddl_expect_kw(p, "KEY") != 0) {
		return -1;
	}
	if (dbs__ddl_accept_if_not_exists(p))
		*if_not_exists = 1;
	if (p->stop || opt_index_name(p, &ix->name) != 0)
		return -1;
	if (!ix->name)
		ix->name = constraint;
	if (dbs__ddl_index_options(p) != 0 || dbs__ddl_key_parts(p, ix) != 0)
		return -1;
	return dbs__ddl_index_options(p);
}

/* ---- changes from definitions ---- */

int dbs__ddl_add_index_change(parser *p, const dbs_mysql_tref *table, const dbs_mysql_index *ix,
                              uint8_t if_not_exists)
{
	dbs_mysql_index *copy = dbs__ddl_arena_alloc(&p->arena, sizeof *copy);
	if (!copy) {
		dbs__ddl_out_of_memory(p);
		return -1;
	}
	*copy = *ix;
	dbs_mysql_ddl_change *c = dbs__ddl_add_change(p, DBS_MYSQL_ADD_INDEX, table);
	if (!c)
		return -1;
	c->index = copy;
	c->if_not_exists = if_not_exists;
	return 0;
}

/* A column's own PRIMARY KEY / UNIQUE, as the index the server makes of it. */
int dbs__ddl_column_index(parser *p, const dbs_mysql_coldef *col, int primary, dbs_mysql_index *ix)
{
	memset(ix, 0, sizeof *ix);
	ix->kind = primary ? DBS_MYSQL_INDEX_PRIMARY : DBS_MYSQL_INDEX_UNIQUE;
	ix->name = primary ? NULL : col->name;
	ix->parts = dbs__ddl_arena_alloc(&p->arena, sizeof *ix->parts);
	if (!ix->parts) {
		dbs__ddl_out_of_memory(p);
		return -1;
	}
	ix->parts[0].column = col->name;
	ix->parts[0].prefix = -1;
	ix->nparts = 1;
	return 0;
}

/*
 * ADD COLUMN's (DBS_MYSQL_ADD_COLUMN, `flag` its IF NOT EXISTS) or CHANGE
 * and MODIFY's (DBS_MYSQL_MODIFY_COLUMN, `flag` its IF EXISTS, `old` the
 * name CHANGE gives, else NULL) column definition and place, as that
 * change and then the indexes the column declares itself.
 */
int dbs__ddl_column_change(parser *p, dbs_mysql_ddl_kind kind, const dbs_mysql_tref *table,
                           const char *old, uint8_t flag)
{
	dbs_mysql_coldef *col = dbs__ddl_arena_alloc(&p->arena, sizeof *col);
	if (!col) {
		dbs__ddl_out_of_memory(p);
		return -1;
	}
	if (dbs__ddl_column_def(p, col) != 0 || dbs__ddl_column_place(p, col) != 0)
		return -1;
	dbs_mysql_ddl_change *c = dbs__ddl_add_change(p, kind, table);
	if (!c)
		return -1;
	c->col = col;
	if (kind == DBS_MYSQL_MODIFY_COLUMN) {
		c->column = old ? old : col->name;
		c->if_exists = flag;
	} else
		c->if_not_exists = flag;
	for (int primary = 1; primary >= 0; primary--) {
		dbs_mysql_index ix;
		if ((primary ? col->primary_key : col->unique) &&
		    (dbs__ddl_column_index(p, col, primary, &ix) != 0 ||
		     dbs__ddl_add_index_change(p, table, &ix, 0) != 0))
			return -1;
	}
	return 0;
}

/* ALGORITHM [=] x and LOCK [=] x, any number of them: how the server
 * runs the statement, nothing a replica keeps. */
int dbs__ddl_algorithm_lock(parser *p)
{
	while (dbs__ddl_accept_kw(p, "ALGORITHM") || dbs__ddl_accept_kw(p, "LOCK")) {
		dbs__ddl_accept_punct(p, '=');
		if (p->cur.type != T_WORD) {
			dbs__ddl_unexpected(p, "a value");
			return -1;
		}
		dbs__ddl_advance(p);
	}
	return 0;
}

/* ---- table options ---- */

static const char *const table_option_words[] = {"ENGINE",
                                                 "TYPE",
                                                 "AUTO_INCREMENT",
                                                 "AVG_ROW_LENGTH",
                                                 "CHECKSUM",
                                                 "TABLE_CHECKSUM",
                                                 "COMMENT",
                                                 "COMPRESSION",
                                                 "CONNECTION",
                                                 "DELAY_KEY_WRITE",
                                                 "ENCRYPTED",
                                                 "ENCRYPTION",
                                                 "ENCRYPTION_KEY_ID",
                                                 "INSERT_METHOD",
                                                 "KEY_BLOCK_SIZE",
                                                 "MAX_ROWS",
                                                 "MIN_ROWS",
                                                 "PACK_KEYS",
                                                 "PAGE_CHECKSUM",
                                                 "PAGE_COMPRESSED",
                                                 "PAGE_COMPRESSION_LEVEL",
                                                 "PASSWORD",
                                                 "ROW_FORMAT",
                                                 "STATS_AUTO_RECALC",
                                                 "STATS_PERSISTENT",
                                                 "STATS_SAMPLE_PAGES",
                                                 "TABLESPACE",
                                                 "TRANSACTIONAL",
                                                 "UNION",
                                                 "IETF_QUOTES",
                                                 "SEQUENCE",
                                                 "AUTOEXTEND_SIZE",
                                                 "SECONDARY_ENGINE",
                                                 "ENGINE_ATTRIBUTE",
                                                 "SECONDARY_ENGINE_ATTRIBUTE",
                                                 "STORAGE",
                                                 NULL};

/*
 * One table option (ENGINE=InnoDB, DEFAULT CHARSET=x, COMMENT 'y', UNION=(a,b)):
 * 1 when one was read, 0 when the current token starts none, -1 on failure.
 */
int dbs__ddl_table_option(parser *p)
{
	parser save = *p;
	int dflt = dbs__ddl_accept_kw(p, "DEFAULT");
	if (dbs__ddl_is_kw(p, "CHARACTER") || dbs__ddl_is_kw(p, "CHAR")) {
		dbs__ddl_advance(p);
		if (dbs__ddl_expect_kw(p, "SET") != 0)
			return -1;
	} else if (dbs__ddl_accept_kw(p, "CHARSET") || dbs__ddl_accept_kw(p, "COLLATE")) {
		;
	} else if (!dflt && (dbs__ddl_is_kw(p, "DATA") || dbs__ddl_is_kw(p, "INDEX"))) {
		parser s2 = *p;
		dbs__ddl_advance(p);
		if (!dbs__ddl_accept_kw(p, "DIRECTORY")) {
			*p = s2;
			return 0;
		}
	} else if (!dflt && dbs__ddl_is_kw_in(p, table_option_words)) {
		dbs__ddl_advance(p);
	} else {
		*p = save;
		return 0;
	}
	dbs__ddl_accept_punct(p, '=');
	if (dbs__ddl_is_punct(p, '('))
		return dbs__ddl_skip_parens(p) == 0 ? 1 : -1;
	if (p->cur.type == T_STRING)
		return dbs__ddl_string_lit(p, NULL) ? 1 : -1;
	if (p->cur.type == T_WORD || p->cur.type == T_NUM || p->cur.type == T_QIDENT) {
		dbs__ddl_advance(p);
		return 1;
	}
	dbs__ddl_unexpected(p, "an option value");
	return -1;
}

/* PARTITION BY ... to the end of the clause (it comes last but for AS SELECT). */
int dbs__ddl_skip_partitioning(parser *p)
{
	while (!dbs__ddl_at_end(p) && !dbs__ddl_is_kw(p, "AS") && !dbs__ddl_is_kw(p, "SELECT") &&
	       !dbs__ddl_is_kw(p, "WITH") && !dbs__ddl_is_kw(p, "IGNORE") &&
	       !dbs__ddl_is_kw(p, "REPLACE")) {
		if (p->cur.type == T_BAD) {
			dbs__ddl_unexpected(p, "text");
			return -1;
		}
		if (dbs__ddl_is_punct(p, '(')) {
			if (dbs__ddl_skip_parens(p) != 0)
				return -1;
		} else
			dbs__ddl_advance(p);
	}
	return 0;
}
