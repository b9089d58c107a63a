/*
 * What the apply side asks of a parsed schema statement (ddl.h): does a
 * column's type change widen or narrow, and the statement as text for
 * messages and tests.
 */
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/ddl.h"

/* ---- widen or narrow ---- */

static int name_is(const dbs_mysql_type *t, const char *name)
{
	return t->name && strcmp(t->name, name) == 0;
}

/* Bits of an integer type; 0 for any other. */
static int int_bits(const dbs_mysql_type *t)
{
	static const struct {
		const char *name;
		int bits;
	} ints[] = {
	    {"tinyint", 8}, {"smallint", 16}, {"mediumint", 24}, {"int", 32}, {"bigint", 64}};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		if (name_is(t, ints[i].name))
			return ints[i].bits;
	return 0;
}

/* Bytes a TEXT or BLOB type holds; 0 for any other. */
static int64_t lob_bytes(const dbs_mysql_type *t, int *is_text)
{
	static const struct {
		const char *name;
		int text;
		int64_t bytes;
	} lobs[] = {{"tinytext", 1, 255},        {"text", 1, 65535},
	            {"mediumtext", 1, 16777215}, {"longtext", 1, 4294967295LL},
	            {"tinyblob", 0, 255},        {"blob", 0, 65535},
	            {"mediumblob", 0, 16777215}, {"longblob", 0, 4294967295LL}};
	for (size_t i = 0; i < sizeof lobs / sizeof lobs[0]; i++)
		if (name_is(t, lobs[i].name)) {
			*is_text = lobs[i].text;
			return lobs[i].bytes;
		}
	return 0;
}

static int32_t or_default(int32_t v, int32_t dflt)
{
	return v < 0 ? dflt : v;
}

static dbs_mysql_change_class compare(int64_t from, int64_t to)
{
	return to == from  ? DBS_MYSQL_CHANGE_SAME
	       : to > from ? DBS_MYSQL_CHANGE_WIDENS
	                   : DBS_MYSQL_CHANGE_NARROWS;
}

/* Character and byte strings: varchar, char, varbinary, binary, TEXT and BLOB. */
static int string_change(const dbs_mysql_type *from, const dbs_mysql_type *to,
                         dbs_mysql_change_class *out)
{
	int from_text = 0, to_text = 0;
	int64_t from_lob = lob_bytes(from, &from_text), to_lob = lob_bytes(to, &to_text);
	int from_chars = name_is(from, "char") || name_is(from, "varchar");
	int to_chars = name_is(to, "char") || name_is(to, "varchar");
	int from_bytes = name_is(from, "binary") || name_is(from, "varbinary");
	int to_bytes = name_is(to, "binary") || name_is(to, "varbinary");
	int from_is_text = from_chars || (from_lob && from_text);
	int to_is_text = to_chars || (to_lob && to_text);
	if (!(from_chars || from_bytes || from_lob) || !(to_chars || to_bytes || to_lob))
		return 0;
	*out = DBS_MYSQL_CHANGE_NARROWS;
	if (from_is_text != to_is_text)
		return 1;
	int64_t from_len = or_default(from->len, 1);
	if (to_lob) {
		/* a character is up to 4 bytes (utf8mb4) */
		int64_t need = from_lob ? from_lob : from_len * (from_is_text ? 4 : 1);
		if (from_lob)
			*out = compare(from_lob, to_lob);
		else if (need <= to_lob)
			*out = DBS_MYSQL_CHANGE_WIDENS;
		return 1;
	}
	if (from_lob)
		return 1;
	int64_t to_len = or_default(to->len, 1);
	/* CHAR drops trailing spaces and BINARY pads with zero bytes: a value
	 * moved into one can read differently */
	if (name_is(to, "char") || name_is(to, "binary")) {
		if (name_is(from, to->name) && to_len == from_len)
			*out = DBS_MYSQL_CHANGE_SAME;
		else if (name_is(from, "char") && name_is(to, "char") && to_len > from_len)
			*out = DBS_MYSQL_CHANGE_WIDENS;
		return 1;
	}
	if (to_len < from_len)
		return 1;
	*out = name_is(from, to->name) && to_len == from_len ? DBS_MYSQL_CHANGE_SAME
	                                                     : DBS_MYSQL_CHANGE_WIDENS;
	return 1;
}

static int charset_eq(const char *a, const char *b)
{
	/* utf8 is utf8mb3 in both servers' current versions */
	if (dbs__mysql_ddl_name_eq(a, "utf8"))
		a = "utf8mb3";
	if (dbs__mysql_ddl_name_eq(b, "utf8"))
		b = "utf8mb3";
	return dbs__mysql_ddl_name_eq(a, b);
}

dbs_mysql_change_class dbs__mysql_type_change(const dbs_mysql_type *from, const dbs_mysql_type *to)
{
	if (!from || !to || !from->name || !to->name)
		return DBS_MYSQL_CHANGE_NARROWS;
	if (from->charset && to->charset && !charset_eq(from->charset, to->charset))
		return DBS_MYSQL_CHANGE_NARROWS;
	dbs_mysql_change_class c;
	int fb = int_bits(from), tb = int_bits(to);
	if (fb && tb) {
		if (from->is_unsigned == to->is_unsigned)
			return compare(fb, tb);
		if (from->is_unsigned && tb > fb)
			return DBS_MYSQL_CHANGE_WIDENS;
		return DBS_MYSQL_CHANGE_NARROWS;
	}
	if (string_change(from, to, &c))
		return c;
	if (name_is(from, "decimal") && name_is(to, "decimal")) {
		int32_t fp = or_default(from->len, 10), tp = or_default(to->len, 10);
		int32_t fs = or_default(from->scale, 0), ts = or_default(to->scale, 0);
		if (fs != ts || tp < fp || (!from->is_unsigned && to->is_unsigned))
			return DBS_MYSQL_CHANGE_NARROWS;
		return tp == fp && from->is_unsigned == to->is_unsigned ? DBS_MYSQL_CHANGE_SAME
		                                                        : DBS_MYSQL_CHANGE_WIDENS;
	}
	if ((name_is(from, "float") || name_is(from, "double")) &&
	    (name_is(to, "float") || name_is(to, "double"))) {
		if (!from->is_unsigned && to->is_unsigned)
			return DBS_MYSQL_CHANGE_NARROWS;
		/* FLOAT(M,D) / DOUBLE(M,D) round on the way in; no arguments keeps every value */
		int same_args = from->len == to->len && from->scale == to->scale;
		if (name_is(from, to->name))
			return same_args && from->is_unsigned == to->is_unsigned
			           ? DBS_MYSQL_CHANGE_SAME
			           : (to->len < 0 ? DBS_MYSQL_CHANGE_WIDENS
			                          : DBS_MYSQL_CHANGE_NARROWS);
		if (name_is(from, "float") && to->len < 0)
			return DBS_MYSQL_CHANGE_WIDENS;
		return DBS_MYSQL_CHANGE_NARROWS;
	}
	if ((name_is(from, "time") || name_is(from, "datetime") || name_is(from, "timestamp")) &&
	    name_is(from, to->name))
		return compare(or_default(from->scale, 0), or_default(to->scale, 0));
	if (name_is(from, "bit") && name_is(to, "bit"))
		return compare(or_default(from->len, 1), or_default(to->len, 1));
	if ((name_is(from, "enum") || name_is(from, "set")) && name_is(from, to->name)) {
		if (to->nmembers < from->nmembers)
			return DBS_MYSQL_CHANGE_NARROWS;
		/* a member renamed, even in case, changes the values that hold it */
		for (uint32_t i = 0; i < from->nmembers; i++)
			if (strcmp(from->members[i], to->members[i]) != 0)
				return DBS_MYSQL_CHANGE_NARROWS;
		/* a SET holds at most 64 members; an ENUM's index widens past 255 by itself */
		return compare(from->nmembers, to->nmembers);
	}
	if (name_is(from, to->name) && from->len == to->len && from->scale == to->scale &&
	    from->is_unsigned == to->is_unsigned)
		return DBS_MYSQL_CHANGE_SAME;
	return DBS_MYSQL_CHANGE_NARROWS;
}

dbs_mysql_change_class dbs__mysql_column_change(const dbs_mysql_coldef *from,
                                                const dbs_mysql_coldef *to)
{
	if (!from || !to)
		return DBS_MYSQL_CHANGE_NARROWS;
	dbs_mysql_change_class t = dbs__mysql_type_change(&from->type, &to->type);
	int was_null = from->nullable != 0, is_null = to->nullable != 0;
	dbs_mysql_change_class n = was_null == is_null ? DBS_MYSQL_CHANGE_SAME
	                           : is_null           ? DBS_MYSQL_CHANGE_WIDENS
	                                               : DBS_MYSQL_CHANGE_NARROWS;
	return t > n ? t : n;
}

/* ---- as text ---- */

static const char *const kind_names[] = {
    [DBS_MYSQL_ADD_COLUMN] = "ADD COLUMN",
    [DBS_MYSQL_DROP_COLUMN] = "DROP COLUMN",
    [DBS_MYSQL_RENAME_COLUMN] = "RENAME COLUMN",
    [DBS_MYSQL_MODIFY_COLUMN] = "MODIFY COLUMN",
    [DBS_MYSQL_SET_DEFAULT] = "SET DEFAULT",
    [DBS_MYSQL_DROP_DEFAULT] = "DROP DEFAULT",
    [DBS_MYSQL_ADD_INDEX] = "ADD INDEX",
    [DBS_MYSQL_DROP_INDEX] = "DROP INDEX",
    [DBS_MYSQL_DROP_PRIMARY_KEY] = "DROP PRIMARY KEY",
    [DBS_MYSQL_DROP_FOREIGN_KEY] = "DROP FOREIGN KEY",
    [DBS_MYSQL_DROP_CONSTRAINT] = "DROP CONSTRAINT",
    [DBS_MYSQL_RENAME_INDEX] = "RENAME INDEX",
    [DBS_MYSQL_CONVERT_CHARSET] = "CONVERT CHARSET",
    [DBS_MYSQL_RENAME_TABLE] = "RENAME TABLE",
    [DBS_MYSQL_CREATE_TABLE] = "CREATE TABLE",
    [DBS_MYSQL_CREATE_TABLE_LIKE] = "CREATE TABLE LIKE",
    [DBS_MYSQL_CREATE_TABLE_SELECT] = "CREATE TABLE SELECT",
    [DBS_MYSQL_DROP_TABLE] = "DROP TABLE",
    [DBS_MYSQL_TRUNCATE_TABLE] = "TRUNCATE TABLE",
    [DBS_MYSQL_DROP_SCHEMA] = "DROP SCHEMA",
};

const char *dbs__mysql_ddl_kind_name(dbs_mysql_ddl_kind kind)
{
	if ((unsigned)kind < sizeof kind_names / sizeof kind_names[0] && kind_names[kind])
		return kind_names[kind];
	return "?";
}

/* `name` with backquotes doubled; bytes below 0x20 as \xNN so a line stays a line. */
static int put_quoted(dbs_buf *b, const char *s, size_t len, char q)
{
	int rc = dbs_buf_append_char(b, q);
	for (size_t i = 0; rc == 0 && i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == (unsigned char)q)
			rc = dbs_buf_append_char(b, q);
		if (rc == 0 && c < 0x20)
			rc = dbs_buf_appendf(b, "\\x%02x", c);
		else if (rc == 0)
			rc = dbs_buf_append_char(b, (char)c);
	}
	return rc ? rc : dbs_buf_append_char(b, q);
}

static int put_name(dbs_buf *b, const char *s)
{
	return put_quoted(b, s ? s : "", s ? strlen(s) : 0, '`');
}

static int put_table(dbs_buf *b, const dbs_mysql_tref *t)
{
	int rc = put_name(b, t->schema);
	if (rc == 0)
		rc = dbs_buf_append_char(b, '.');
	return rc ? rc : put_name(b, t->name);
}

static int put_type(dbs_buf *b, const dbs_mysql_type *t)
{
	int rc = dbs_buf_append_str(b, t->name ? t->name : "?");
	if (rc == 0 && t->nmembers) {
		rc = dbs_buf_append_char(b, '(');
		for (uint32_t i = 0; rc == 0 && i < t->nmembers; i++) {
			if (i)
				rc = dbs_buf_append_char(b, ',');
			if (rc == 0)
				rc = put_quoted(b, t->members[i], strlen(t->members[i]), '\'');
		}
		if (rc == 0)
			rc = dbs_buf_append_char(b, ')');
	} else if (rc == 0 && t->len >= 0 && t->scale >= 0)
		rc = dbs_buf_appendf(b, "(%d,%d)", (int)t->len, (int)t->scale);
	else if (rc == 0 && t->len >= 0)
		rc = dbs_buf_appendf(b, "(%d)", (int)t->len);
	else if (rc == 0 && t->scale >= 0)
		rc = dbs_buf_appendf(b, "(%d)", (int)t->scale); /* fractional seconds */
	if (rc == 0 && t->is_unsigned)
		rc = dbs_buf_append_str(b, " unsigned");
	if (rc == 0 && t->zerofill)
		rc = dbs_buf_append_str(b, " zerofill");
	if (rc == 0 && t->binary)
		rc = dbs_buf_append_str(b, " binary");
	if (rc == 0 && t->charset)
		rc = dbs_buf_appendf(b, " CHARSET %s", t->charset);
	if (rc == 0 && t->collation)
		rc = dbs_buf_appendf(b, " COLLATE %s", t->collation);
	return rc;
}

static int put_default(dbs_buf *b, const dbs_mysql_default *d)
{
	switch (d->kind) {
	case DBS_MYSQL_DEFAULT_NONE: return 0;
	case DBS_MYSQL_DEFAULT_NULL: return dbs_buf_append_str(b, " DEFAULT NULL");
	case DBS_MYSQL_DEFAULT_STRING: {
		int rc = dbs_buf_append_str(b, " DEFAULT ");
		return rc ? rc : put_quoted(b, d->text, d->len, '\'');
	}
	case DBS_MYSQL_DEFAULT_NUMBER:
	case DBS_MYSQL_DEFAULT_EXPR: {
		int rc = dbs_buf_append_str(
		    b, d->kind == DBS_MYSQL_DEFAULT_NUMBER ? " DEFAULT " : " DEFAULT EXPR ");
		for (size_t i = 0; rc == 0 && i < d->len; i++) {
			unsigned char c = (unsigned char)d->text[i];
			rc = c < 0x20 ? dbs_buf_append_char(b, ' ')
			              : dbs_buf_append_char(b, (char)c);
		}
		return rc;
	}
	}
	return 0;
}

static int put_column(dbs_buf *b, const dbs_mysql_coldef *c)
{
	int rc = put_name(b, c->name);
	if (rc == 0)
		rc = dbs_buf_append_char(b, ' ');
	if (rc == 0)
		rc = put_type(b, &c->type);
	if (rc == 0 && c->nullable >= 0)
		rc = dbs_buf_append_str(b, c->nullable ? " NULL" : " NOT NULL");
	if (rc == 0)
		rc = put_default(b, &c->def);
	if (rc == 0 && c->auto_increment)
		rc = dbs_buf_append_str(b, " AUTO_INCREMENT");
	if (rc == 0 && c->primary_key)
		rc = dbs_buf_append_str(b, " PRIMARY KEY");
	if (rc == 0 && c->unique)
		rc = dbs_buf_append_str(b, " UNIQUE");
	if (rc == 0 && c->generated)
		rc = dbs_buf_append_str(b, " GENERATED");
	if (rc == 0 && c->on_update_now)
		rc = dbs_buf_append_str(b, " ON UPDATE NOW");
	if (rc == 0 && c->comment) {
		rc = dbs_buf_append_str(b, " COMMENT ");
		if (rc == 0)
			rc = put_quoted(b, c->comment, strlen(c->comment), '\'');
	}
	if (rc == 0 && c->place == DBS_MYSQL_PLACE_FIRST)
		rc = dbs_buf_append_str(b, " FIRST");
	if (rc == 0 && c->place == DBS_MYSQL_PLACE_AFTER) {
		rc = dbs_buf_append_str(b, " AFTER ");
		if (rc == 0)
			rc = put_name(b, c->after);
	}
	return rc;
}

static int put_index(dbs_buf *b, const dbs_mysql_index *ix)
{
	static const char *const kinds[] = {"INDEX",   "UNIQUE",      "PRIMARY KEY", "FULLTEXT",
	                                    "SPATIAL", "FOREIGN KEY", "CHECK"};
	int rc = dbs_buf_append_str(b, (unsigned)ix->kind < 7 ? kinds[ix->kind] : "?");
	if (rc == 0 && ix->name) {
		rc = dbs_buf_append_char(b, ' ');
		if (rc == 0)
			rc = put_name(b, ix->name);
	}
	if (rc == 0 && ix->kind != DBS_MYSQL_INDEX_CHECK) {
		rc = dbs_buf_append_str(b, " (");
		for (uint32_t i = 0; rc == 0 && i < ix->nparts; i++) {
			const dbs_mysql_keypart *kp = &ix->parts[i];
			if (i)
				rc = dbs_buf_append_str(b, ", ");
			if (rc == 0)
				rc = kp->column ? put_name(b, kp->column)
				                : dbs_buf_append_str(b, "(expr)");
			if (rc == 0 && kp->prefix >= 0)
				rc = dbs_buf_appendf(b, "(%d)", (int)kp->prefix);
			if (rc == 0 && kp->desc)
				rc = dbs_buf_append_str(b, " DESC");
		}
		if (rc == 0)
			rc = dbs_buf_append_char(b, ')');
	}
	if (rc == 0 && ix->kind == DBS_MYSQL_INDEX_FOREIGN) {
		rc = dbs_buf_append_str(b, " REFERENCES ");
		if (rc == 0)
			rc = put_table(b, &ix->ref);
		if (rc == 0)
			rc = dbs_buf_append_str(b, " (");
		for (uint32_t i = 0; rc == 0 && i < ix->nref_columns; i++) {
			if (i)
				rc = dbs_buf_append_str(b, ", ");
			if (rc == 0)
				rc = put_name(b, ix->ref_columns[i]);
		}
		if (rc == 0)
			rc = dbs_buf_append_char(b, ')');
	}
	return rc;
}

static int put_change(dbs_buf *b, const dbs_mysql_ddl_change *c)
{
	int rc = dbs_buf_append_str(b, dbs__mysql_ddl_kind_name(c->kind));
	if (rc == 0)
		rc = dbs_buf_append_char(b, ' ');
	if (rc)
		return rc;
	if (c->kind == DBS_MYSQL_DROP_SCHEMA)
		rc = put_name(b, c->table.schema);
	else
		rc = put_table(b, &c->table);
	if (rc == 0 && c->column) {
		rc = dbs_buf_append_char(b, ' ');
		if (rc == 0)
			rc = put_name(b, c->column);
	}
	if (rc == 0 && c->name) {
		rc = dbs_buf_append_char(b, ' ');
		if (rc == 0)
			rc = put_name(b, c->name);
	}
	if (rc == 0 && c->new_name) {
		rc = dbs_buf_append_str(b, " TO ");
		if (rc == 0)
			rc = put_name(b, c->new_name);
	}
	if (rc == 0 && c->col) {
		rc = dbs_buf_append_char(b, ' ');
		if (rc == 0)
			rc = put_column(b, c->col);
	}
	if (rc == 0 && c->kind == DBS_MYSQL_SET_DEFAULT)
		rc = put_default(b, &c->def);
	if (rc == 0 && c->index) {
		rc = dbs_buf_append_char(b, ' ');
		if (rc == 0)
			rc = put_index(b, c->index);
	}
	if (rc == 0 && c->kind == DBS_MYSQL_RENAME_TABLE) {
		rc = dbs_buf_append_str(b, " TO ");
		if (rc == 0)
			rc = put_table(b, &c->new_table);
	}
	if (rc == 0 && c->kind == DBS_MYSQL_CREATE_TABLE_LIKE) {
		rc = dbs_buf_append_char(b, ' ');
		if (rc == 0)
			rc = put_table(b, &c->like);
	}
	if (rc == 0 && c->charset)
		rc = dbs_buf_appendf(b, " %s", c->charset);
	if (rc == 0 && c->collation)
		rc = dbs_buf_appendf(b, " COLLATE %s", c->collation);
	if (rc == 0 && (c->kind == DBS_MYSQL_CREATE_TABLE || c->ncolumns || c->nindexes)) {
		rc = dbs_buf_append_str(b, " (");
		for (uint32_t i = 0; rc == 0 && i < c->ncolumns; i++) {
			if (i)
				rc = dbs_buf_append_str(b, ", ");
			if (rc == 0)
				rc = put_column(b, &c->columns[i]);
		}
		for (uint32_t i = 0; rc == 0 && i < c->nindexes; i++) {
			rc = dbs_buf_append_str(b, i ? ", " : "; ");
			if (rc == 0)
				rc = put_index(b, &c->indexes[i]);
		}
		if (rc == 0)
			rc = dbs_buf_append_char(b, ')');
	}
	if (rc == 0 && c->if_exists)
		rc = dbs_buf_append_str(b, " IF EXISTS");
	if (rc == 0 && c->if_not_exists)
		rc = dbs_buf_append_str(b, " IF NOT EXISTS");
	if (rc == 0 && c->or_replace)
		rc = dbs_buf_append_str(b, " OR REPLACE");
	return rc;
}

int dbs__mysql_ddl_describe(const dbs_mysql_ddl *ddl, dbs_buf *out)
{
	if (!ddl || !out)
		return DBS_EINVAL;
	if (ddl->cls == DBS_MYSQL_DDL_NONE)
		return dbs_buf_append_str(out, "NONE\n");
	if (ddl->cls == DBS_MYSQL_DDL_UNSUPPORTED)
		return dbs_buf_appendf(out, "UNSUPPORTED %s\n", ddl->why);
	if (ddl->nchanges == 0)
		return dbs_buf_append_str(out, "NO CHANGE\n");
	for (uint32_t i = 0; i < ddl->nchanges; i++) {
		int rc = put_change(out, &ddl->changes[i]);
		if (rc == 0)
			rc = dbs_buf_append_char(out, '\n');
		if (rc)
			return rc;
	}
	return 0;
}
