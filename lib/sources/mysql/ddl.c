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

/* ---- arena: every string and list of a result, freed together ---- */

typedef struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
} arena_block;

#define ARENA_BLOCK 4096

static void *arena_alloc(arena_block **head, size_t size)
{
	const size_t align = sizeof(max_align_t);
	if (size > SIZE_MAX / 2)
		return NULL;
	size = (size + align - 1) / align * align;
	if (size == 0)
		size = align;
	arena_block *b = *head;
	if (!b || b->cap - b->used < size) {
		size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		b = malloc(sizeof(arena_block) + cap);
		if (!b)
			return NULL;
		b->next = *head;
		b->used = 0;
		b->cap = cap;
		*head = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

static void arena_free(arena_block *b)
{
	while (b) {
		arena_block *next = b->next;
		free(b);
		b = next;
	}
}

/* ---- lexer ---- */

typedef enum tok_type {
	T_END = 0,
	T_WORD,   /* keyword or bare identifier */
	T_QIDENT, /* `quoted` (or "quoted" under ANSI_QUOTES) */
	T_STRING, /* 'text' or "text" */
	T_NUM,    /* 12, 1.5, 1e3, 0x1f */
	T_PUNCT,  /* one byte: ( ) , . = ; and the rest */
	T_BAD     /* an unterminated quote */
} tok_type;

typedef struct tok {
	tok_type type;
	size_t start, end; /* bytes of the token, quotes included */
	char c;            /* T_PUNCT */
} tok;

typedef struct parser {
	const char *s;
	size_t n, pos;
	unsigned flags;
	int in_exec; /* inside an executable comment: its closing star-slash is skipped */
	tok cur;
	size_t prev_end; /* end of the token before cur */
	int stop;        /* set once: unsupported or out of memory */
	int nomem;
	arena_block *arena;
	dbs_mysql_ddl *res;
	const char *db;
	/* the changes as they are found: grown by doubling in the arena */
	dbs_mysql_ddl_change *changes;
	uint32_t nchanges, capchanges;
} parser;

static int is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Whitespace, comments, and the markers of executable comments. */
static void skip_blank(parser *p)
{
	const char *s = p->s;
	size_t n = p->n;
	while (p->pos < n) {
		unsigned char c = (unsigned char)s[p->pos];
		if (is_space(c)) {
			p->pos++;
		} else if (c == '#' || (c == '-' && p->pos + 1 < n && s[p->pos + 1] == '-' &&
		                        (p->pos + 2 == n || (unsigned char)s[p->pos + 2] <= ' '))) {
			while (p->pos < n && s[p->pos] != '\n')
				p->pos++;
		} else if (c == '/' && p->pos + 1 < n && s[p->pos + 1] == '*') {
			size_t q = p->pos + 2;
			if (!p->in_exec && q < n &&
			    (s[q] == '!' || (s[q] == 'M' && q + 1 < n && s[q + 1] == '!'))) {
				q += s[q] == 'M' ? 2 : 1;
				for (int d = 0; d < 6 && q < n && is_digit((unsigned char)s[q]);
				     d++)
					q++;
				p->in_exec = 1;
				p->pos = q;
				continue;
			}
			while (q + 1 < n && !(s[q] == '*' && s[q + 1] == '/'))
				q++;
			p->pos = q + 1 < n ? q + 2 : n;
		} else if (c == '*' && p->in_exec && p->pos + 1 < n && s[p->pos + 1] == '/') {
			p->in_exec = 0;
			p->pos += 2;
		} else {
			break;
		}
	}
}

/* Past a quoted token starting at p->pos (the quote), or T_BAD. */
static tok_type lex_quoted(parser *p, char q, tok_type type)
{
	const char *s = p->s;
	size_t i = p->pos + 1;
	int backslash = type == T_STRING && !(p->flags & DBS_MYSQL_DDL_NO_BACKSLASH_ESCAPES);
	while (i < p->n) {
		if (backslash && s[i] == '\\') {
			i += 2;
			continue;
		}
		if (s[i] == q) {
			if (i + 1 < p->n && s[i + 1] == q) {
				i += 2;
				continue;
			}
			p->pos = i + 1;
			return type;
		}
		i++;
	}
	p->pos = p->n;
	return T_BAD;
}

static void advance(parser *p)
{
	const char *s = p->s;
	p->prev_end = p->cur.end;
	skip_blank(p);
	tok t = {T_END, p->pos, p->pos, 0};
	if (p->pos >= p->n) {
		p->cur = t;
		return;
	}
	unsigned char c = (unsigned char)s[p->pos];
	if (c == '`') {
		t.type = lex_quoted(p, '`', T_QIDENT);
	} else if (c == '\'') {
		t.type = lex_quoted(p, '\'', T_STRING);
	} else if (c == '"') {
		t.type = lex_quoted(p, '"',
		                    (p->flags & DBS_MYSQL_DDL_ANSI_QUOTES) ? T_QIDENT : T_STRING);
	} else if (is_word_byte(c)) {
		size_t i = p->pos;
		int digits = 1;
		while (i < p->n && is_word_byte((unsigned char)s[i])) {
			if (!is_digit((unsigned char)s[i]))
				digits = 0;
			i++;
		}
		t.type = T_WORD;
		if (digits) {
			t.type = T_NUM;
			if (i + 1 < p->n && s[i] == '.' && is_digit((unsigned char)s[i + 1])) {
				i++;
				while (i < p->n && is_digit((unsigned char)s[i]))
					i++;
			}
			if (i + 1 < p->n && (s[i] == 'e' || s[i] == 'E')) {
				size_t j = i + 1;
				if (j < p->n && (s[j] == '+' || s[j] == '-'))
					j++;
				if (j < p->n && is_digit((unsigned char)s[j])) {
					while (j < p->n && is_digit((unsigned char)s[j]))
						j++;
					i = j;
				}
			}
		} else if (is_digit(c)) {
			/* 0x1f, 0b101, 1e5: numbers; 1abc: an identifier */
			size_t len = i - p->pos;
			const char *w = s + p->pos;
			if (len > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'b'))
				t.type = T_NUM;
			else {
				size_t k = 0;
				while (k < len && is_digit((unsigned char)w[k]))
					k++;
				if (k < len && (w[k] == 'e' || w[k] == 'E') && k + 1 < len) {
					size_t m = k + 1;
					while (m < len && is_digit((unsigned char)w[m]))
						m++;
					if (m == len)
						t.type = T_NUM;
				}
			}
		}
		p->pos = i;
	} else {
		t.type = T_PUNCT;
		t.c = (char)c;
		p->pos++;
	}
	t.end = p->pos;
	p->cur = t;
}

/* ---- failure ---- */

static void fail(parser *p, const char *fmt, ...)
{
	if (p->stop)
		return;
	p->stop = 1;
	p->res->cls = DBS_MYSQL_DDL_UNSUPPORTED;
	p->res->offset = p->cur.start;
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	dbs_vfmt(what, sizeof what, fmt, ap);
	va_end(ap);
	dbs_fmt(p->res->why, sizeof p->res->why, "%s (at byte %zu)", what, p->cur.start);
}

static void out_of_memory(parser *p)
{
	if (!p->nomem) {
		p->nomem = 1;
		p->stop = 1;
	}
}

/* The current token, printable and short, for a message. */
static const char *tok_show(parser *p, char *buf, size_t size)
{
	if (p->cur.type == T_END)
		return "the end";
	/* a literal may hold anything, a password too: not copied into messages */
	if (p->cur.type == T_STRING)
		return "a string";
	size_t len = p->cur.end - p->cur.start, j = 0;
	if (len > 40)
		len = 40;
	for (size_t i = 0; i < len && j + 1 < size; i++) {
		unsigned char c = (unsigned char)p->s[p->cur.start + i];
		buf[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	buf[j] = '\0';
	return buf;
}

static void unexpected(parser *p, const char *wanted)
{
	char b[48];
	if (p->cur.type == T_BAD)
		fail(p, "an unterminated quote");
	else
		fail(p, "%s expected, not '%s'", wanted, tok_show(p, b, sizeof b));
}

/* ---- token tests ---- */

static int is_kw(const parser *p, const char *kw)
{
	if (p->cur.type != T_WORD)
		return 0;
	size_t len = p->cur.end - p->cur.start, i = 0;
	for (; i < len; i++) {
		char a = p->s[p->cur.start + i];
		if (a >= 'a' && a <= 'z')
			a = (char)(a - 'a' + 'A');
		if (kw[i] == '\0' || a != kw[i])
			return 0;
	}
	return kw[i] == '\0';
}

/* The current token is one of the NULL-terminated keywords. */
static int is_kw_in(const parser *p, const char *const *kws)
{
	for (; *kws; kws++)
		if (is_kw(p, *kws))
			return 1;
	return 0;
}

static int is_punct(const parser *p, char c)
{
	return p->cur.type == T_PUNCT && p->cur.c == c;
}

static int accept_kw(parser *p, const char *kw)
{
	if (!is_kw(p, kw))
		return 0;
	advance(p);
	return 1;
}

static int accept_punct(parser *p, char c)
{
	if (!is_punct(p, c))
		return 0;
	advance(p);
	return 1;
}

/* The token after the current one is `kw` (PERIOD FOR, SYSTEM VERSIONING:
 * words that are also ordinary column names). */
static int next_is_kw(const parser *p, const char *kw)
{
	parser ahead = *p;
	advance(&ahead);
	return is_kw(&ahead, kw);
}

static int expect_kw(parser *p, const char *kw)
{
	if (accept_kw(p, kw))
		return 0;
	unexpected(p, kw);
	return -1;
}

static int expect_punct(parser *p, char c)
{
	if (accept_punct(p, c))
		return 0;
	char w[4] = {'\'', c, '\'', '\0'};
	unexpected(p, w);
	return -1;
}

static int at_end(const parser *p)
{
	return p->cur.type == T_END || is_punct(p, ';');
}

/* IF EXISTS / IF NOT EXISTS; 1 when present. */
static int accept_if_exists(parser *p)
{
	if (!is_kw(p, "IF"))
		return 0;
	advance(p);
	if (expect_kw(p, "EXISTS") != 0)
		return 0;
	return 1;
}

static int accept_if_not_exists(parser *p)
{
	if (!is_kw(p, "IF"))
		return 0;
	advance(p);
	if (expect_kw(p, "NOT") != 0 || expect_kw(p, "EXISTS") != 0)
		return 0;
	return 1;
}

/* ---- text out of tokens, into the arena ---- */

static char *arena_str(parser *p, const char *s, size_t len)
{
	if (len == SIZE_MAX) {
		out_of_memory(p);
		return NULL;
	}
	char *d = arena_alloc(&p->arena, len + 1);
	if (!d) {
		out_of_memory(p);
		return NULL;
	}
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* The value of a quoted token: quotes off, doubled quotes and escapes undone. */
static char *unquote(parser *p, const tok *t, size_t *len_out)
{
	const char *s = p->s + t->start;
	size_t len = t->end - t->start;
	char q = s[0];
	char *d = arena_alloc(&p->arena, len);
	if (!d) {
		out_of_memory(p);
		return NULL;
	}
	int backslash = t->type == T_STRING && !(p->flags & DBS_MYSQL_DDL_NO_BACKSLASH_ESCAPES);
	size_t j = 0;
	for (size_t i = 1; i + 1 < len; i++) {
		char c = s[i];
		if (backslash && c == '\\' && i + 2 < len) {
			char e = s[++i];
			switch (e) {
			case '0': c = '\0'; break;
			case 'b': c = '\b'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'Z': c = '\032'; break;
			case '%':
			case '_':
				d[j++] = '\\';
				c = e;
				break;
			default: c = e; break;
			}
		} else if (c == q && i + 2 < len && s[i + 1] == q) {
			i++;
		}
		d[j++] = c;
	}
	d[j] = '\0';
	if (len_out)
		*len_out = j;
	return d;
}

/* An identifier: a bare word or a quoted name. NULL (and failed) otherwise. */
static const char *ident(parser *p, const char *what)
{
	const char *r = NULL;
	if (p->cur.type == T_WORD)
		r = arena_str(p, p->s + p->cur.start, p->cur.end - p->cur.start);
	else if (p->cur.type == T_QIDENT)
		r = unquote(p, &p->cur, NULL);
	else {
		unexpected(p, what);
		return NULL;
	}
	if (r)
		advance(p);
	return r;
}

/* A string literal, adjacent ones joined ('a' 'b' is 'ab'). */
static const char *string_lit(parser *p, size_t *len_out)
{
	if (p->cur.type != T_STRING) {
		unexpected(p, "a string");
		return NULL;
	}
	size_t len = 0;
	char *r = unquote(p, &p->cur, &len);
	advance(p);
	while (r && p->cur.type == T_STRING) {
		size_t l2 = 0;
		char *r2 = unquote(p, &p->cur, &l2);
		advance(p);
		if (!r2)
			return NULL;
		char *j = arena_alloc(&p->arena, len + l2 + 1);
		if (!j) {
			out_of_memory(p);
			return NULL;
		}
		memcpy(j, r, len);
		memcpy(j + len, r2, l2 + 1);
		r = j;
		len += l2;
	}
	if (len_out)
		*len_out = len;
	return r;
}

/* A character set or collation: a name, or a name in quotes ('utf8mb4'). */
static const char *cs_name(parser *p, const char *what)
{
	if (p->cur.type != T_STRING)
		return ident(p, what);
	const char *r = unquote(p, &p->cur, NULL);
	if (r)
		advance(p);
	return r;
}

/* schema.table, or table in the event's database. */
static int table_ref(parser *p, dbs_mysql_tref *t)
{
	const char *a = ident(p, "a table name");
	if (!a)
		return -1;
	if (is_punct(p, '.')) {
		advance(p);
		const char *b = ident(p, "a table name");
		if (!b)
			return -1;
		t->schema = a;
		t->name = b;
	} else {
		t->schema = p->db;
		t->name = a;
	}
	return 0;
}

/* Past a parenthesised group starting at the current '(', by counting. */
static int skip_parens(parser *p)
{
	if (expect_punct(p, '(') != 0)
		return -1;
	size_t depth = 1;
	while (depth > 0) {
		if (p->cur.type == T_END || p->cur.type == T_BAD) {
			unexpected(p, "')'");
			return -1;
		}
		if (is_punct(p, '('))
			depth++;
		else if (is_punct(p, ')'))
			depth--;
		advance(p);
	}
	return 0;
}

/* Up to a ',' or ')' outside parentheses, or the end (neither consumed). */
static int skip_clause(parser *p)
{
	while (!at_end(p) && !is_punct(p, ',') && !is_punct(p, ')')) {
		if (p->cur.type == T_BAD) {
			unexpected(p, "text");
			return -1;
		}
		if (is_punct(p, '(')) {
			if (skip_parens(p) != 0)
				return -1;
		} else
			advance(p);
	}
	return 0;
}

static int int_lit(parser *p, int32_t *v)
{
	if (p->cur.type != T_NUM) {
		unexpected(p, "a number");
		return -1;
	}
	int64_t x = 0;
	for (size_t i = p->cur.start; i < p->cur.end; i++) {
		char c = p->s[i];
		if (!is_digit((unsigned char)c)) {
			unexpected(p, "a whole number");
			return -1;
		}
		x = x * 10 + (c - '0');
		if (x > INT32_MAX) {
			fail(p, "a number out of range");
			return -1;
		}
	}
	*v = (int32_t)x;
	advance(p);
	return 0;
}

/* ---- growable lists in the arena ---- */

static void *grow(parser *p, void *items, uint32_t n, uint32_t *cap, size_t size)
{
	if (n < *cap)
		return items;
	uint32_t nc = *cap ? *cap * 2 : 4;
	if (nc < *cap || (size_t)nc > SIZE_MAX / size) {
		out_of_memory(p);
		return NULL;
	}
	void *ni = arena_alloc(&p->arena, (size_t)nc * size);
	if (!ni) {
		out_of_memory(p);
		return NULL;
	}
	if (n)
		memcpy(ni, items, (size_t)n * size);
	*cap = nc;
	return ni;
}

static dbs_mysql_ddl_change *add_change(parser *p, dbs_mysql_ddl_kind kind,
                                        const dbs_mysql_tref *table)
{
	dbs_mysql_ddl_change *c =
	    grow(p, p->changes, p->nchanges, &p->capchanges, sizeof *p->changes);
	if (!c)
		return NULL;
	p->changes = c;
	c = &p->changes[p->nchanges++];
	memset(c, 0, sizeof *c);
	c->kind = kind;
	if (table)
		c->table = *table;
	return c;
}

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
static int type_parse(parser *p, dbs_mysql_type *t, int *serial)
{
	memset(t, 0, sizeof *t);
	t->len = -1;
	t->scale = -1;
	*serial = 0;
	if (is_kw(p, "NATIONAL"))
		advance(p);
	const type_name *tn = NULL;
	for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
		if (is_kw(p, type_names[i].word)) {
			tn = &type_names[i];
			break;
		}
	if (!tn) {
		char b[48];
		if (p->cur.type == T_WORD)
			fail(p, "unknown column type '%s'", tok_show(p, b, sizeof b));
		else
			unexpected(p, "a column type");
		return -1;
	}
	int national = is_kw(p, "NCHAR") || is_kw(p, "NVARCHAR");
	int boolean = is_kw(p, "BOOL") || is_kw(p, "BOOLEAN");
	int is_long = is_kw(p, "LONG");
	int is_real = is_kw(p, "REAL");
	*serial = is_kw(p, "SERIAL");
	int is_char = is_kw(p, "CHAR") || is_kw(p, "CHARACTER") || is_kw(p, "NCHAR");
	advance(p);
	t->name = tn->name;
	tclass cls = tn->cls;
	if (boolean)
		t->len = 1;
	if (*serial)
		t->is_unsigned = 1;
	if (is_kw(p, "PRECISION") && strcmp(t->name, "double") == 0)
		advance(p);
	if (is_long) {
		/* LONG, LONG VARCHAR: mediumtext; LONG VARBINARY: mediumblob */
		if (accept_kw(p, "VARBINARY"))
			t->name = "mediumblob";
		else
			accept_kw(p, "VARCHAR");
	}
	if (is_char && accept_kw(p, "VARYING"))
		t->name = "varchar";
	if (national)
		t->charset = "utf8mb3";
	if (is_real && (p->flags & DBS_MYSQL_DDL_REAL_AS_FLOAT))
		t->name = "float";
	if (is_punct(p, '(')) {
		if (cls == TC_PLAIN) {
			fail(p, "type %s takes no length", t->name);
			return -1;
		}
		advance(p);
		if (cls == TC_LIST) {
			uint32_t cap = 0;
			for (;;) {
				const char *m = string_lit(p, NULL);
				if (!m)
					return -1;
				const char **ms = grow(p, (void *)t->members, t->nmembers, &cap,
				                       sizeof *t->members);
				if (!ms)
					return -1;
				t->members = ms;
				t->members[t->nmembers++] = m;
				if (!accept_punct(p, ','))
					break;
			}
		} else {
			if (int_lit(p, &t->len) != 0)
				return -1;
			if ((cls == TC_DEC || cls == TC_FLOAT) && accept_punct(p, ',')) {
				if (int_lit(p, &t->scale) != 0)
					return -1;
			}
		}
		if (expect_punct(p, ')') != 0)
			return -1;
		if (cls == TC_TIME) {
			t->scale = t->len;
			t->len = -1;
		}
	}
	/* Attributes of the type itself, in any order. */
	for (;;) {
		if (accept_kw(p, "UNSIGNED"))
			t->is_unsigned = 1;
		else if (accept_kw(p, "SIGNED"))
			;
		else if (accept_kw(p, "ZEROFILL"))
			t->zerofill = t->is_unsigned = 1;
		else if (accept_kw(p, "BINARY") || accept_kw(p, "BYTE"))
			t->binary = 1;
		else if (accept_kw(p, "ASCII"))
			t->charset = "latin1";
		else if (accept_kw(p, "UNICODE"))
			t->charset = "ucs2";
		else if (is_kw(p, "CHARACTER") || is_kw(p, "CHARSET") || is_kw(p, "CHAR")) {
			if (!accept_kw(p, "CHARSET")) {
				advance(p);
				if (expect_kw(p, "SET") != 0)
					return -1;
			}
			if (!(t->charset = cs_name(p, "a character set")))
				return -1;
		} else if (is_kw(p, "COLLATE")) {
			advance(p);
			if (!(t->collation = cs_name(p, "a collation")))
				return -1;
		} else
			break;
	}
	return 0;
}

/* ---- column definitions ---- */

static int default_value(parser *p, dbs_mysql_default *d)
{
	size_t start = p->cur.start;
	if (accept_kw(p, "NULL")) {
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
		advance(p);
		if (p->cur.type != T_STRING || (!underscore && p->cur.start != e))
			*p = save;
	}
	if (p->cur.type == T_STRING) {
		d->kind = DBS_MYSQL_DEFAULT_STRING;
		d->text = string_lit(p, &d->len);
		return d->text ? 0 : -1;
	}
	if (is_punct(p, '-') || is_punct(p, '+') || is_punct(p, '.') || p->cur.type == T_NUM) {
		if (!accept_punct(p, '-'))
			accept_punct(p, '+');
		/* .5 */
		int point = accept_punct(p, '.');
		if (p->cur.type != T_NUM || (point && p->cur.start != p->prev_end)) {
			unexpected(p, "a number");
			return -1;
		}
		advance(p);
		d->kind = DBS_MYSQL_DEFAULT_NUMBER;
	} else if (is_punct(p, '(')) {
		if (skip_parens(p) != 0)
			return -1;
		d->kind = DBS_MYSQL_DEFAULT_EXPR;
	} else if (p->cur.type == T_WORD) {
		/* x'1f', b'101', TRUE, CURRENT_TIMESTAMP, uuid(), now(3) */
		size_t e = p->cur.end;
		advance(p);
		if (p->cur.type == T_STRING && p->cur.start == e)
			advance(p);
		else if (is_punct(p, '(') && skip_parens(p) != 0)
			return -1;
		d->kind = DBS_MYSQL_DEFAULT_EXPR;
	} else {
		unexpected(p, "a default value");
		return -1;
	}
	d->len = p->prev_end - start;
	d->text = arena_str(p, p->s + start, d->len);
	return d->text ? 0 : -1;
}

/* REFERENCES t (a, b) [MATCH x] [ON DELETE|UPDATE action]... */
static int references(parser *p, dbs_mysql_index *ix)
{
	if (expect_kw(p, "REFERENCES") != 0)
		return -1;
	dbs_mysql_tref ref;
	if (table_ref(p, &ref) != 0)
		return -1;
	if (ix)
		ix->ref = ref;
	if (is_punct(p, '(')) {
		advance(p);
		uint32_t cap = 0;
		for (;;) {
			const char *c = ident(p, "a column name");
			if (!c)
				return -1;
			if (ix) {
				const char **rc = grow(p, (void *)ix->ref_columns, ix->nref_columns,
				                       &cap, sizeof *ix->ref_columns);
				if (!rc)
					return -1;
				ix->ref_columns = rc;
				ix->ref_columns[ix->nref_columns++] = c;
			}
			if (!accept_punct(p, ','))
				break;
		}
		if (expect_punct(p, ')') != 0)
			return -1;
	}
	for (;;) {
		if (accept_kw(p, "MATCH")) {
			if (p->cur.type != T_WORD) {
				unexpected(p, "FULL, PARTIAL or SIMPLE");
				return -1;
			}
			advance(p);
		} else if (accept_kw(p, "ON")) {
			if (!accept_kw(p, "DELETE") && expect_kw(p, "UPDATE") != 0)
				return -1;
			if (accept_kw(p, "SET") || accept_kw(p, "NO")) {
				if (p->cur.type != T_WORD) {
					unexpected(p, "NULL, DEFAULT or ACTION");
					return -1;
				}
				advance(p);
			} else if (!accept_kw(p, "RESTRICT") && !accept_kw(p, "CASCADE")) {
				unexpected(p, "a referential action");
				return -1;
			}
		} else
			return 0;
	}
}

static int column_def(parser *p, dbs_mysql_coldef *c)
{
	memset(c, 0, sizeof *c);
	c->nullable = -1;
	int serial = 0;
	if (!(c->name = ident(p, "a column name")) || type_parse(p, &c->type, &serial) != 0)
		return -1;
	if (serial) {
		c->nullable = 0;
		c->auto_increment = 1;
		c->unique = 1;
	}
	for (;;) {
		if (at_end(p) || is_punct(p, ',') || is_punct(p, ')') || is_kw(p, "FIRST") ||
		    is_kw(p, "AFTER"))
			return 0;
		if (accept_kw(p, "NOT")) {
			if (expect_kw(p, "NULL") != 0)
				return -1;
			c->nullable = 0;
		} else if (accept_kw(p, "NULL")) {
			c->nullable = 1;
		} else if (accept_kw(p, "DEFAULT")) {
			if (default_value(p, &c->def) != 0)
				return -1;
		} else if (accept_kw(p, "AUTO_INCREMENT")) {
			c->auto_increment = 1;
		} else if (accept_kw(p, "UNIQUE")) {
			accept_kw(p, "KEY");
			c->unique = 1;
		} else if (accept_kw(p, "PRIMARY")) {
			if (expect_kw(p, "KEY") != 0)
				return -1;
			c->primary_key = 1;
		} else if (accept_kw(p, "KEY")) {
			c->primary_key = 1;
		} else if (accept_kw(p, "COMMENT")) {
			if (!(c->comment = string_lit(p, NULL)))
				return -1;
		} else if (is_kw(p, "COLLATE") || is_kw(p, "CHARACTER") || is_kw(p, "CHARSET")) {
			/* after NOT NULL, the type's attributes again */
			dbs_mysql_type t = c->type;
			if (is_kw(p, "COLLATE")) {
				advance(p);
				if (!(t.collation = cs_name(p, "a collation")))
					return -1;
			} else {
				if (!accept_kw(p, "CHARSET")) {
					advance(p);
					if (expect_kw(p, "SET") != 0)
						return -1;
				}
				if (!(t.charset = cs_name(p, "a character set")))
					return -1;
			}
			c->type = t;
		} else if (accept_kw(p, "COLUMN_FORMAT") || accept_kw(p, "STORAGE")) {
			if (p->cur.type != T_WORD) {
				unexpected(p, "a format");
				return -1;
			}
			advance(p);
		} else if (accept_kw(p, "ON")) {
			if (expect_kw(p, "UPDATE") != 0)
				return -1;
			if (p->cur.type != T_WORD) {
				unexpected(p, "CURRENT_TIMESTAMP");
				return -1;
			}
			advance(p);
			if (is_punct(p, '(') && skip_parens(p) != 0)
				return -1;
			c->on_update_now = 1;
		} else if (is_kw(p, "GENERATED") || is_kw(p, "AS")) {
			if (accept_kw(p, "GENERATED") && expect_kw(p, "ALWAYS") != 0)
				return -1;
			if (expect_kw(p, "AS") != 0)
				return -1;
			if (is_kw(p, "ROW")) {
				fail(p, "system-versioned columns cannot be replicated");
				return -1;
			}
			if (skip_parens(p) != 0)
				return -1;
			if (!accept_kw(p, "VIRTUAL") && !accept_kw(p, "STORED"))
				accept_kw(p, "PERSISTENT");
			c->generated = 1;
		} else if (accept_kw(p, "CONSTRAINT")) {
			if (!is_kw(p, "CHECK") && !ident(p, "a constraint name"))
				return -1;
			if (expect_kw(p, "CHECK") != 0 || skip_parens(p) != 0)
				return -1;
		} else if (accept_kw(p, "CHECK")) {
			if (skip_parens(p) != 0)
				return -1;
		} else if (is_kw(p, "REFERENCES")) {
			/* an inline reference: parsed, ignored by the server */
			if (references(p, NULL) != 0)
				return -1;
		} else if (accept_kw(p, "INVISIBLE") || accept_kw(p, "VISIBLE")) {
			;
		} else if (accept_kw(p, "WITH") || accept_kw(p, "WITHOUT")) {
			if (expect_kw(p, "SYSTEM") != 0 || expect_kw(p, "VERSIONING") != 0)
				return -1;
		} else if (accept_kw(p, "COMPRESSED")) {
			if (accept_punct(p, '=') && !ident(p, "a compression method"))
				return -1;
		} else if (accept_kw(p, "SRID")) {
			int32_t v;
			if (int_lit(p, &v) != 0)
				return -1;
		} else if (accept_kw(p, "SERIAL")) {
			if (expect_kw(p, "DEFAULT") != 0 || expect_kw(p, "VALUE") != 0)
				return -1;
			c->nullable = 0;
			c->auto_increment = 1;
			c->unique = 1;
		} else if (is_kw(p, "ENGINE_ATTRIBUTE") || is_kw(p, "SECONDARY_ENGINE_ATTRIBUTE")) {
			advance(p);
			accept_punct(p, '=');
			if (!string_lit(p, NULL))
				return -1;
		} else {
			unexpected(p, "a column attribute");
			return -1;
		}
	}
}

/* FIRST | AFTER col, after a column definition. */
static int column_place(parser *p, dbs_mysql_coldef *c)
{
	if (accept_kw(p, "FIRST"))
		c->place = DBS_MYSQL_PLACE_FIRST;
	else if (accept_kw(p, "AFTER")) {
		c->place = DBS_MYSQL_PLACE_AFTER;
		if (!(c->after = ident(p, "a column name")))
			return -1;
	}
	return 0;
}

/* ---- indexes and constraints ---- */

static const char *const index_start[] = {"CONSTRAINT", "PRIMARY", "UNIQUE",  "INDEX", "KEY",
                                          "FULLTEXT",   "SPATIAL", "FOREIGN", "CHECK", NULL};

/* USING BTREE, COMMENT 'x', KEY_BLOCK_SIZE=n, VISIBLE...: nothing a replica keeps. */
static int index_options(parser *p)
{
	for (;;) {
		if (accept_kw(p, "USING") || accept_kw(p, "TYPE")) {
			if (p->cur.type != T_WORD) {
				unexpected(p, "an index type");
				return -1;
			}
			advance(p);
		} else if (accept_kw(p, "KEY_BLOCK_SIZE")) {
			accept_punct(p, '=');
			int32_t v;
			if (int_lit(p, &v) != 0)
				return -1;
		} else if (accept_kw(p, "COMMENT")) {
			if (!string_lit(p, NULL))
				return -1;
		} else if (accept_kw(p, "VISIBLE") || accept_kw(p, "INVISIBLE") ||
		           accept_kw(p, "IGNORED") || accept_kw(p, "CLUSTERING")) {
			accept_punct(p, '=');
			if (p->cur.type == T_WORD && (is_kw(p, "YES") || is_kw(p, "NO")))
				advance(p);
		} else if (is_kw(p, "NOT")) {
			advance(p);
			if (expect_kw(p, "IGNORED") != 0)
				return -1;
		} else if (accept_kw(p, "WITH")) {
			if (expect_kw(p, "PARSER") != 0 || !ident(p, "a parser name"))
				return -1;
		} else if (is_kw(p, "ENGINE_ATTRIBUTE") || is_kw(p, "SECONDARY_ENGINE_ATTRIBUTE")) {
			advance(p);
			accept_punct(p, '=');
			if (!string_lit(p, NULL))
				return -1;
		} else
			return 0;
	}
}

static int key_parts(parser *p, dbs_mysql_index *ix)
{
	if (expect_punct(p, '(') != 0)
		return -1;
	uint32_t cap = 0;
	for (;;) {
		dbs_mysql_keypart *parts = grow(p, ix->parts, ix->nparts, &cap, sizeof *ix->parts);
		if (!parts)
			return -1;
		ix->parts = parts;
		dbs_mysql_keypart *kp = &ix->parts[ix->nparts++];
		kp->prefix = -1;
		if (is_punct(p, '(')) {
			if (skip_parens(p) != 0)
				return -1;
		} else {
			if (!(kp->column = ident(p, "a column name")))
				return -1;
			if (accept_punct(p, '(')) {
				if (int_lit(p, &kp->prefix) != 0 || expect_punct(p, ')') != 0)
					return -1;
			}
		}
		if (accept_kw(p, "DESC"))
			kp->desc = 1;
		else
			accept_kw(p, "ASC");
		if (!accept_punct(p, ','))
			break;
	}
	return expect_punct(p, ')');
}

/* An index name, unless the next thing is USING or the parts. */
static int opt_index_name(parser *p, const char **name)
{
	if (is_punct(p, '(') || is_kw(p, "USING") || is_kw(p, "TYPE"))
		return 0;
	return (*name = ident(p, "an index name")) ? 0 : -1;
}

/*
 * [CONSTRAINT [sym]] PRIMARY KEY | UNIQUE | INDEX | KEY | FULLTEXT |
 * SPATIAL | FOREIGN KEY | CHECK, starting at the keyword.
 */
static int index_def(parser *p, dbs_mysql_index *ix, uint8_t *if_not_exists)
{
	memset(ix, 0, sizeof *ix);
	const char *constraint = NULL;
	if (accept_kw(p, "CONSTRAINT")) {
		if (accept_if_not_exists(p))
			*if_not_exists = 1;
		if (!is_kw(p, "PRIMARY") && !is_kw(p, "UNIQUE") && !is_kw(p, "FOREIGN") &&
		    !is_kw(p, "CHECK") && !(constraint = ident(p, "a constraint name")))
			return -1;
	}
	if (p->stop)
		return -1;
	if (accept_kw(p, "PRIMARY")) {
		if (expect_kw(p, "KEY") != 0)
			return -1;
		ix->kind = DBS_MYSQL_INDEX_PRIMARY;
		if (index_options(p) != 0 || key_parts(p, ix) != 0)
			return -1;
		return index_options(p);
	}
	if (accept_kw(p, "FOREIGN")) {
		if (expect_kw(p, "KEY") != 0)
			return -1;
		ix->kind = DBS_MYSQL_INDEX_FOREIGN;
		if (accept_if_not_exists(p))
			*if_not_exists = 1;
		if (p->stop || opt_index_name(p, &ix->name) != 0)
			return -1;
		if (constraint)
			ix->name = constraint;
		if (key_parts(p, ix) != 0)
			return -1;
		return references(p, ix);
	}
	if (accept_kw(p, "CHECK")) {
		ix->kind = DBS_MYSQL_INDEX_CHECK;
		ix->name = constraint;
		return skip_parens(p);
	}
	if (accept_kw(p, "UNIQUE")) {
		ix->kind = DBS_MYSQL_INDEX_UNIQUE;
		if (!accept_kw(p, "INDEX"))
			accept_kw(p, "KEY");
	} else if (is_kw(p, "FULLTEXT") || is_kw(p, "SPATIAL")) {
		ix->kind =
		    is_kw(p, "FULLTEXT") ? DBS_MYSQL_INDEX_FULLTEXT : DBS_MYSQL_INDEX_SPATIAL;
		advance(p);
		if (!accept_kw(p, "INDEX"))
			accept_kw(p, "KEY");
	} else if (constraint) {
		unexpected(p, "PRIMARY KEY, UNIQUE, FOREIGN KEY or CHECK");
		return -1;
	} else if (!accept_kw(p, "INDEX") && expect_kw(p, "KEY") != 0) {
		return -1;
	}
	if (accept_if_not_exists(p))
		*if_not_exists = 1;
	if (p->stop || opt_index_name(p, &ix->name) != 0)
		return -1;
	if (!ix->name)
		ix->name = constraint;
	if (index_options(p) != 0 || key_parts(p, ix) != 0)
		return -1;
	return index_options(p);
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
static int table_option(parser *p)
{
	parser save = *p;
	int dflt = accept_kw(p, "DEFAULT");
	if (is_kw(p, "CHARACTER") || is_kw(p, "CHAR")) {
		advance(p);
		if (expect_kw(p, "SET") != 0)
			return -1;
	} else if (accept_kw(p, "CHARSET") || accept_kw(p, "COLLATE")) {
		;
	} else if (!dflt && (is_kw(p, "DATA") || is_kw(p, "INDEX"))) {
		parser s2 = *p;
		advance(p);
		if (!accept_kw(p, "DIRECTORY")) {
			*p = s2;
			return 0;
		}
	} else if (!dflt && is_kw_in(p, table_option_words)) {
		advance(p);
	} else {
		*p = save;
		return 0;
	}
	accept_punct(p, '=');
	if (is_punct(p, '('))
		return skip_parens(p) == 0 ? 1 : -1;
	if (p->cur.type == T_STRING)
		return string_lit(p, NULL) ? 1 : -1;
	if (p->cur.type == T_WORD || p->cur.type == T_NUM || p->cur.type == T_QIDENT) {
		advance(p);
		return 1;
	}
	unexpected(p, "an option value");
	return -1;
}

/* PARTITION BY ... to the end of the clause (it comes last but for AS SELECT). */
static int skip_partitioning(parser *p)
{
	while (!at_end(p) && !is_kw(p, "AS") && !is_kw(p, "SELECT") && !is_kw(p, "WITH") &&
	       !is_kw(p, "IGNORE") && !is_kw(p, "REPLACE")) {
		if (p->cur.type == T_BAD) {
			unexpected(p, "text");
			return -1;
		}
		if (is_punct(p, '(')) {
			if (skip_parens(p) != 0)
				return -1;
		} else
			advance(p);
	}
	return 0;
}

/* ---- ALTER TABLE ---- */

static int add_index_change(parser *p, const dbs_mysql_tref *table, const dbs_mysql_index *ix,
                            uint8_t if_not_exists)
{
	dbs_mysql_index *copy = arena_alloc(&p->arena, sizeof *copy);
	if (!copy) {
		out_of_memory(p);
		return -1;
	}
	*copy = *ix;
	dbs_mysql_ddl_change *c = add_change(p, DBS_MYSQL_ADD_INDEX, table);
	if (!c)
		return -1;
	c->index = copy;
	c->if_not_exists = if_not_exists;
	return 0;
}

/* A column's own PRIMARY KEY / UNIQUE, as the index the server makes of it. */
static int column_index(parser *p, const dbs_mysql_coldef *col, int primary, dbs_mysql_index *ix)
{
	memset(ix, 0, sizeof *ix);
	ix->kind = primary ? DBS_MYSQL_INDEX_PRIMARY : DBS_MYSQL_INDEX_UNIQUE;
	ix->name = primary ? NULL : col->name;
	ix->parts = arena_alloc(&p->arena, sizeof *ix->parts);
	if (!ix->parts) {
		out_of_memory(p);
		return -1;
	}
	ix->parts[0].column = col->name;
	ix->parts[0].prefix = -1;
	ix->nparts = 1;
	return 0;
}

static int add_column_change(parser *p, const dbs_mysql_tref *table, uint8_t if_not_exists)
{
	dbs_mysql_coldef *col = arena_alloc(&p->arena, sizeof *col);
	if (!col) {
		out_of_memory(p);
		return -1;
	}
	if (column_def(p, col) != 0 || column_place(p, col) != 0)
		return -1;
	dbs_mysql_ddl_change *c = add_change(p, DBS_MYSQL_ADD_COLUMN, table);
	if (!c)
		return -1;
	c->col = col;
	c->if_not_exists = if_not_exists;
	dbs_mysql_index ix;
	if (col->primary_key &&
	    (column_index(p, col, 1, &ix) != 0 || add_index_change(p, table, &ix, 0) != 0))
		return -1;
	if (col->unique &&
	    (column_index(p, col, 0, &ix) != 0 || add_index_change(p, table, &ix, 0) != 0))
		return -1;
	return 0;
}

static int alter_add(parser *p, const dbs_mysql_tref *table)
{
	int column = accept_kw(p, "COLUMN");
	uint8_t ine = (uint8_t)accept_if_not_exists(p);
	if (p->stop)
		return -1;
	if (!column && is_kw_in(p, index_start)) {
		dbs_mysql_index ix;
		if (index_def(p, &ix, &ine) != 0)
			return -1;
		return add_index_change(p, table, &ix, ine);
	}
	if (!column && accept_kw(p, "PARTITION")) {
		/* new empty partitions: no row moves */
		accept_if_not_exists(p);
		return skip_clause(p);
	}
	if (!column && ((is_kw(p, "PERIOD") && next_is_kw(p, "FOR")) ||
	                (is_kw(p, "SYSTEM") && next_is_kw(p, "VERSIONING")))) {
		fail(p, "system versioning and periods cannot be replicated");
		return -1;
	}
	if (accept_punct(p, '(')) {
		for (;;) {
			if (is_kw_in(p, index_start)) {
				dbs_mysql_index ix;
				uint8_t ix_ine = ine;
				if (index_def(p, &ix, &ix_ine) != 0 ||
				    add_index_change(p, table, &ix, ix_ine) != 0)
					return -1;
			} else if (add_column_change(p, table, ine) != 0)
				return -1;
			if (!accept_punct(p, ','))
				break;
		}
		return expect_punct(p, ')');
	}
	return add_column_change(p, table, ine);
}

static int alter_drop(parser *p, const dbs_mysql_tref *table)
{
	dbs_mysql_ddl_change *c;
	if (accept_kw(p, "PRIMARY")) {
		if (expect_kw(p, "KEY") != 0)
			return -1;
		return add_change(p, DBS_MYSQL_DROP_PRIMARY_KEY, table) ? 0 : -1;
	}
	dbs_mysql_ddl_kind kind = DBS_MYSQL_DROP_COLUMN;
	if (accept_kw(p, "INDEX") || accept_kw(p, "KEY"))
		kind = DBS_MYSQL_DROP_INDEX;
	else if (accept_kw(p, "FOREIGN")) {
		if (expect_kw(p, "KEY") != 0)
			return -1;
		kind = DBS_MYSQL_DROP_FOREIGN_KEY;
	} else if (accept_kw(p, "CONSTRAINT") || accept_kw(p, "CHECK"))
		kind = DBS_MYSQL_DROP_CONSTRAINT;
	else if (is_kw(p, "PARTITION")) {
		fail(p, "DROP PARTITION deletes rows the binlog does not carry");
		return -1;
	} else if ((is_kw(p, "SYSTEM") && next_is_kw(p, "VERSIONING")) ||
	           (is_kw(p, "PERIOD") && next_is_kw(p, "FOR"))) {
		fail(p, "system versioning and periods cannot be replicated");
		return -1;
	} else
		accept_kw(p, "COLUMN");
	uint8_t ie = (uint8_t)accept_if_exists(p);
	const char *name = ident(p, kind == DBS_MYSQL_DROP_COLUMN ? "a column name" : "a name");
	if (!name)
		return -1;
	if (kind == DBS_MYSQL_DROP_INDEX && dbs__mysql_ddl_name_eq(name, "PRIMARY"))
		kind = DBS_MYSQL_DROP_PRIMARY_KEY;
	if (!(c = add_change(p, kind, table)))
		return -1;
	c->if_exists = ie;
	if (kind == DBS_MYSQL_DROP_COLUMN)
		c->column = name;
	else if (kind != DBS_MYSQL_DROP_PRIMARY_KEY)
		c->name = name;
	if (kind == DBS_MYSQL_DROP_COLUMN && !accept_kw(p, "RESTRICT"))
		accept_kw(p, "CASCADE");
	return 0;
}

static int alter_alter(parser *p, const dbs_mysql_tref *table)
{
	if (accept_kw(p, "INDEX") || accept_kw(p, "KEY") || accept_kw(p, "CHECK") ||
	    accept_kw(p, "CONSTRAINT")) {
		/* visibility or enforcement: nothing a replica keeps */
		if (!ident(p, "a name"))
			return -1;
		return skip_clause(p);
	}
	accept_kw(p, "COLUMN");
	uint8_t ie = (uint8_t)accept_if_exists(p);
	if (p->stop)
		return -1;
	const char *col = ident(p, "a column name");
	if (!col)
		return -1;
	dbs_mysql_ddl_change *c;
	if (accept_kw(p, "SET")) {
		if (accept_kw(p, "VISIBLE") || accept_kw(p, "INVISIBLE"))
			return 0;
		if (expect_kw(p, "DEFAULT") != 0 ||
		    !(c = add_change(p, DBS_MYSQL_SET_DEFAULT, table)))
			return -1;
		c->column = col;
		c->if_exists = ie;
		return default_value(p, &c->def);
	}
	if (expect_kw(p, "DROP") != 0 || expect_kw(p, "DEFAULT") != 0 ||
	    !(c = add_change(p, DBS_MYSQL_DROP_DEFAULT, table)))
		return -1;
	c->column = col;
	c->if_exists = ie;
	return 0;
}

static int alter_modify(parser *p, const dbs_mysql_tref *table, int change)
{
	accept_kw(p, "COLUMN");
	uint8_t ie = (uint8_t)accept_if_exists(p);
	if (p->stop)
		return -1;
	const char *old = NULL;
	if (change && !(old = ident(p, "a column name")))
		return -1;
	dbs_mysql_coldef *col = arena_alloc(&p->arena, sizeof *col);
	if (!col) {
		out_of_memory(p);
		return -1;
	}
	if (column_def(p, col) != 0 || column_place(p, col) != 0)
		return -1;
	dbs_mysql_ddl_change *c = add_change(p, DBS_MYSQL_MODIFY_COLUMN, table);
	if (!c)
		return -1;
	c->column = old ? old : col->name;
	c->col = col;
	c->if_exists = ie;
	dbs_mysql_index ix;
	if (col->primary_key &&
	    (column_index(p, col, 1, &ix) != 0 || add_index_change(p, table, &ix, 0) != 0))
		return -1;
	if (col->unique &&
	    (column_index(p, col, 0, &ix) != 0 || add_index_change(p, table, &ix, 0) != 0))
		return -1;
	return 0;
}

static int alter_rename(parser *p, const dbs_mysql_tref *table)
{
	dbs_mysql_ddl_change *c;
	if (is_kw(p, "COLUMN") || is_kw(p, "INDEX") || is_kw(p, "KEY")) {
		int column = is_kw(p, "COLUMN");
		advance(p);
		uint8_t ie = (uint8_t)accept_if_exists(p);
		if (p->stop)
			return -1;
		const char *a = ident(p, "a name");
		if (!a || expect_kw(p, "TO") != 0)
			return -1;
		const char *b = ident(p, "a name");
		if (!b)
			return -1;
		if (!(c = add_change(p, column ? DBS_MYSQL_RENAME_COLUMN : DBS_MYSQL_RENAME_INDEX,
		                     table)))
			return -1;
		if (column)
			c->column = a;
		else
			c->name = a;
		c->new_name = b;
		c->if_exists = ie;
		return 0;
	}
	if (!accept_kw(p, "TO") && !accept_kw(p, "AS"))
		accept_punct(p, '=');
	dbs_mysql_tref to;
	if (table_ref(p, &to) != 0 || !(c = add_change(p, DBS_MYSQL_RENAME_TABLE, table)))
		return -1;
	c->new_table = to;
	return 0;
}

/* Partition maintenance: which keep the rows in place, which do not. */
static int alter_partition_op(parser *p)
{
	static const char *const keep[] = {"ANALYZE", "CHECK",    "OPTIMIZE",   "REBUILD",
	                                   "REPAIR",  "COALESCE", "REORGANIZE", NULL};
	int keeps = is_kw_in(p, keep);
	char b[48];
	tok_show(p, b, sizeof b);
	advance(p);
	if (!is_kw(p, "PARTITION")) {
		unexpected(p, "PARTITION");
		return -1;
	}
	if (!keeps) {
		fail(p, "%s PARTITION changes rows the binlog does not carry", b);
		return -1;
	}
	return skip_clause(p);
}

static int alter_spec(parser *p, const dbs_mysql_tref *table)
{
	static const char *const partition_ops[] = {
	    "ANALYZE",    "CHECK",    "OPTIMIZE", "REBUILD", "REPAIR", "COALESCE",
	    "REORGANIZE", "TRUNCATE", "EXCHANGE", "DISCARD", "IMPORT", NULL};
	if (accept_kw(p, "ADD"))
		return alter_add(p, table);
	if (accept_kw(p, "DROP"))
		return alter_drop(p, table);
	if (accept_kw(p, "ALTER"))
		return alter_alter(p, table);
	if (accept_kw(p, "CHANGE"))
		return alter_modify(p, table, 1);
	if (accept_kw(p, "MODIFY"))
		return alter_modify(p, table, 0);
	if (accept_kw(p, "RENAME"))
		return alter_rename(p, table);
	if (is_kw(p, "CONVERT")) {
		parser save = *p;
		advance(p);
		if (is_kw(p, "PARTITION") || is_kw(p, "TABLE")) {
			*p = save;
			return alter_partition_op(p);
		}
		if (expect_kw(p, "TO") != 0)
			return -1;
		if (!accept_kw(p, "CHARSET")) {
			if (!accept_kw(p, "CHARACTER") && expect_kw(p, "CHAR") != 0)
				return -1;
			if (expect_kw(p, "SET") != 0)
				return -1;
		}
		const char *cs = cs_name(p, "a character set");
		if (!cs)
			return -1;
		const char *coll = NULL;
		if (accept_kw(p, "COLLATE") && !(coll = cs_name(p, "a collation")))
			return -1;
		dbs_mysql_ddl_change *c = add_change(p, DBS_MYSQL_CONVERT_CHARSET, table);
		if (!c)
			return -1;
		c->charset = cs;
		c->collation = coll;
		return 0;
	}
	if (is_kw_in(p, partition_ops)) {
		parser save = *p;
		advance(p);
		int part = is_kw(p, "PARTITION");
		*p = save;
		if (part)
			return alter_partition_op(p);
		if (accept_kw(p, "DISCARD") || accept_kw(p, "IMPORT")) {
			fail(p,
			     "a tablespace discarded or imported changes rows the binlog does not "
			     "carry");
			return -1;
		}
	}
	if (accept_kw(p, "ORDER")) {
		if (expect_kw(p, "BY") != 0)
			return -1;
		return skip_clause(p);
	}
	if (accept_kw(p, "ALGORITHM") || accept_kw(p, "LOCK")) {
		accept_punct(p, '=');
		if (p->cur.type != T_WORD) {
			unexpected(p, "a value");
			return -1;
		}
		advance(p);
		return 0;
	}
	if (accept_kw(p, "ENABLE") || accept_kw(p, "DISABLE"))
		return expect_kw(p, "KEYS");
	if (accept_kw(p, "FORCE"))
		return 0;
	if (accept_kw(p, "WITH") || accept_kw(p, "WITHOUT")) {
		if (accept_kw(p, "VALIDATION"))
			return 0;
		fail(p, "system versioning cannot be replicated");
		return -1;
	}
	if (is_kw(p, "PARTITION")) {
		advance(p);
		if (!is_kw(p, "BY")) {
			unexpected(p, "BY");
			return -1;
		}
		return skip_partitioning(p);
	}
	if (accept_kw(p, "REMOVE"))
		return expect_kw(p, "PARTITIONING");
	int r = table_option(p);
	if (r == 0) {
		char b[48];
		fail(p, "ALTER TABLE specification '%s' not understood", tok_show(p, b, sizeof b));
		return -1;
	}
	return r > 0 ? 0 : -1;
}

static int alter_table(parser *p)
{
	accept_if_exists(p);
	dbs_mysql_tref table;
	if (p->stop || table_ref(p, &table) != 0)
		return -1;
	while (!at_end(p)) {
		if (alter_spec(p, &table) != 0)
			return -1;
		/* specifications are separated by commas; options and PARTITION BY need none */
		if (accept_punct(p, ',') && at_end(p)) {
			unexpected(p, "a specification");
			return -1;
		}
	}
	return 0;
}

/* ---- CREATE, DROP, RENAME, TRUNCATE ---- */

static int create_table(parser *p, uint8_t or_replace)
{
	uint8_t ine = (uint8_t)accept_if_not_exists(p);
	dbs_mysql_tref table;
	if (p->stop || table_ref(p, &table) != 0)
		return -1;
	dbs_mysql_ddl_change *c;
	if (is_kw(p, "LIKE") || is_punct(p, '(')) {
		parser save = *p;
		int paren = accept_punct(p, '(');
		if (accept_kw(p, "LIKE")) {
			dbs_mysql_tref like;
			if (table_ref(p, &like) != 0 || (paren && expect_punct(p, ')') != 0))
				return -1;
			if (!(c = add_change(p, DBS_MYSQL_CREATE_TABLE_LIKE, &table)))
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
	if (is_punct(p, '(')) {
		parser save = *p;
		advance(p);
		if (is_kw(p, "SELECT") || is_kw(p, "WITH") || is_kw(p, "VALUES") ||
		    is_kw(p, "TABLE")) {
			*p = save; /* CREATE TABLE t (SELECT ...) */
		} else {
			for (;;) {
				if (is_kw_in(p, index_start)) {
					uint8_t dummy = 0;
					dbs_mysql_index *n =
					    grow(p, ixs, nixs, &capixs, sizeof *ixs);
					if (!n)
						return -1;
					ixs = n;
					if (index_def(p, &ixs[nixs], &dummy) != 0)
						return -1;
					nixs++;
				} else if (is_kw(p, "PERIOD") && next_is_kw(p, "FOR")) {
					advance(p);
					advance(p);
					if (is_kw(p, "SYSTEM_TIME")) {
						fail(p, "system versioning cannot be replicated");
						return -1;
					}
					if (!ident(p, "a period name") || skip_parens(p) != 0)
						return -1;
				} else {
					dbs_mysql_coldef *n =
					    grow(p, cols, ncols, &capcols, sizeof *cols);
					if (!n)
						return -1;
					cols = n;
					if (column_def(p, &cols[ncols]) != 0)
						return -1;
					ncols++;
				}
				if (!accept_punct(p, ','))
					break;
			}
			if (expect_punct(p, ')') != 0)
				return -1;
		}
	}
	/* the indexes the columns declare themselves; the primary key first */
	for (uint32_t i = 0; i < ncols; i++)
		for (int primary = 1; primary >= 0; primary--) {
			if (!(primary ? cols[i].primary_key : cols[i].unique))
				continue;
			dbs_mysql_index *n = grow(p, ixs, nixs, &capixs, sizeof *ixs);
			if (!n)
				return -1;
			ixs = n;
			if (column_index(p, &cols[i], primary, &ixs[nixs]) != 0)
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
		accept_punct(p, ',');
		if (at_end(p))
			break;
		if (is_kw(p, "WITH")) {
			parser save = *p;
			advance(p);
			if (is_kw(p, "SYSTEM")) {
				fail(p, "system-versioned tables cannot be replicated");
				return -1;
			}
			*p = save;
		}
		if (is_kw(p, "PARTITION")) {
			advance(p);
			if (expect_kw(p, "BY") != 0 || skip_partitioning(p) != 0)
				return -1;
			continue;
		}
		if (is_kw(p, "START") && next_is_kw(p, "TRANSACTION")) {
			/* MySQL 8.0.21+ logs CREATE TABLE ... SELECT as the table, this
			 * clause, then the rows, in one transaction */
			advance(p);
			advance(p);
			continue;
		}
		if (is_kw(p, "IGNORE") || is_kw(p, "REPLACE") || is_kw(p, "AS") ||
		    is_kw(p, "SELECT") || is_kw(p, "WITH") || is_kw(p, "VALUES") ||
		    is_kw(p, "TABLE") || is_punct(p, '(')) {
			select = 1;
			break;
		}
		int r = table_option(p);
		if (r < 0)
			return -1;
		if (r == 0) {
			char b[48];
			fail(p, "CREATE TABLE option '%s' not understood",
			     tok_show(p, b, sizeof b));
			return -1;
		}
	}
	if (!select && ncols == 0) {
		fail(p, "CREATE TABLE without columns");
		return -1;
	}
	if (!(c = add_change(p, select ? DBS_MYSQL_CREATE_TABLE_SELECT : DBS_MYSQL_CREATE_TABLE,
	                     &table)))
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
	if (accept_kw(p, "UNIQUE"))
		ix.kind = DBS_MYSQL_INDEX_UNIQUE;
	else if (accept_kw(p, "FULLTEXT"))
		ix.kind = DBS_MYSQL_INDEX_FULLTEXT;
	else if (accept_kw(p, "SPATIAL"))
		ix.kind = DBS_MYSQL_INDEX_SPATIAL;
	if (expect_kw(p, "INDEX") != 0)
		return -1;
	uint8_t ine = (uint8_t)accept_if_not_exists(p);
	dbs_mysql_tref table;
	if (p->stop || !(ix.name = ident(p, "an index name")) || index_options(p) != 0 ||
	    expect_kw(p, "ON") != 0 || table_ref(p, &table) != 0 || key_parts(p, &ix) != 0 ||
	    index_options(p) != 0)
		return -1;
	while (accept_kw(p, "ALGORITHM") || accept_kw(p, "LOCK")) {
		accept_punct(p, '=');
		if (p->cur.type != T_WORD) {
			unexpected(p, "a value");
			return -1;
		}
		advance(p);
	}
	if (add_index_change(p, &table, &ix, ine) != 0)
		return -1;
	p->changes[p->nchanges - 1].or_replace = or_replace;
	return 0;
}

/* WAIT n | NOWAIT (MariaDB), after the names. */
static void skip_wait(parser *p)
{
	if (accept_kw(p, "WAIT")) {
		int32_t v;
		int_lit(p, &v);
	} else
		accept_kw(p, "NOWAIT");
}

static int drop_table(parser *p)
{
	uint8_t ie = (uint8_t)accept_if_exists(p);
	if (p->stop)
		return -1;
	for (;;) {
		dbs_mysql_tref t;
		dbs_mysql_ddl_change *c;
		if (table_ref(p, &t) != 0 || !(c = add_change(p, DBS_MYSQL_DROP_TABLE, &t)))
			return -1;
		c->if_exists = ie;
		if (!accept_punct(p, ','))
			break;
	}
	skip_wait(p);
	if (!accept_kw(p, "RESTRICT"))
		accept_kw(p, "CASCADE");
	return 0;
}

static int drop_index(parser *p)
{
	uint8_t ie = (uint8_t)accept_if_exists(p);
	const char *name;
	dbs_mysql_tref t;
	if (p->stop || !(name = ident(p, "an index name")) || expect_kw(p, "ON") != 0 ||
	    table_ref(p, &t) != 0)
		return -1;
	skip_wait(p);
	while (accept_kw(p, "ALGORITHM") || accept_kw(p, "LOCK")) {
		accept_punct(p, '=');
		if (p->cur.type != T_WORD) {
			unexpected(p, "a value");
			return -1;
		}
		advance(p);
	}
	int pk = dbs__mysql_ddl_name_eq(name, "PRIMARY");
	dbs_mysql_ddl_change *c =
	    add_change(p, pk ? DBS_MYSQL_DROP_PRIMARY_KEY : DBS_MYSQL_DROP_INDEX, &t);
	if (!c)
		return -1;
	if (!pk)
		c->name = name;
	c->if_exists = ie;
	return 0;
}

static int rename_table(parser *p)
{
	uint8_t ie = (uint8_t)accept_if_exists(p);
	if (p->stop)
		return -1;
	for (;;) {
		dbs_mysql_tref a, b;
		dbs_mysql_ddl_change *c;
		if (table_ref(p, &a) != 0)
			return -1;
		skip_wait(p);
		if (expect_kw(p, "TO") != 0 || table_ref(p, &b) != 0 ||
		    !(c = add_change(p, DBS_MYSQL_RENAME_TABLE, &a)))
			return -1;
		c->new_table = b;
		c->if_exists = ie;
		if (!accept_punct(p, ','))
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
	advance(p);
	if (is_kw(p, "SET") && next_is_kw(p, "STATEMENT")) {
		/* MariaDB's SET STATEMENT var=value, ... FOR statement, logged as
		 * written: what counts is the statement after FOR */
		advance(p);
		advance(p);
		while (!at_end(p) && !is_kw(p, "FOR")) {
			if (p->cur.type == T_BAD) {
				unexpected(p, "FOR");
				return -1;
			}
			if (is_punct(p, '(')) {
				if (skip_parens(p) != 0)
					return -1;
			} else
				advance(p);
		}
		if (expect_kw(p, "FOR") != 0)
			return -1;
		if (at_end(p)) {
			unexpected(p, "a statement");
			return -1;
		}
	}
	if (at_end(p))
		return 0; /* nothing: NONE */
	if (is_kw_in(p, not_table_words))
		return 0;
	if (is_kw_in(p, data_words)) {
		fail(p, "a data change logged as a statement (binlog_format is not ROW): its rows "
		        "are not in the binlog");
		return -1;
	}
	p->res->cls = DBS_MYSQL_DDL_CHANGES;
	if ((p->flags & DBS_MYSQL_DDL_ORACLE) &&
	    (is_kw(p, "ALTER") || is_kw(p, "CREATE") || is_kw(p, "DROP") || is_kw(p, "RENAME") ||
	     is_kw(p, "TRUNCATE"))) {
		/* NONE stays NONE: an Oracle-mode CREATE PROCEDURE changes no table */
		parser ahead = *p;
		advance(&ahead);
		while (is_kw(&ahead, "OR") || is_kw(&ahead, "REPLACE") || is_kw(&ahead, "ONLINE") ||
		       is_kw(&ahead, "IGNORE"))
			advance(&ahead);
		if (!is_kw_in(&ahead, not_table_objects) && !is_kw(&ahead, "TEMPORARY")) {
			fail(
			    p,
			    "a schema statement in sql_mode ORACLE, whose types and syntax differ");
			return -1;
		}
	}
	if (accept_kw(p, "ALTER")) {
		while (accept_kw(p, "ONLINE") || accept_kw(p, "OFFLINE") || accept_kw(p, "IGNORE"))
			;
		if (accept_kw(p, "TABLE"))
			return alter_table(p);
		if (accept_kw(p, "DATABASE") || accept_kw(p, "SCHEMA")) {
			/* ALTER DATABASE d UPGRADE DATA DIRECTORY NAME renames a database */
			while (!at_end(p) && !is_kw(p, "UPGRADE"))
				advance(p);
			if (is_kw(p, "UPGRADE")) {
				fail(p, "a database renamed");
				return -1;
			}
			p->res->cls = DBS_MYSQL_DDL_NONE;
			return 0;
		}
	} else if (accept_kw(p, "CREATE")) {
		uint8_t or_replace = 0;
		if (accept_kw(p, "OR")) {
			if (expect_kw(p, "REPLACE") != 0)
				return -1;
			or_replace = 1;
		}
		if (is_kw(p, "TEMPORARY")) {
			p->res->cls = DBS_MYSQL_DDL_NONE;
			return 0; /* not in a ROW binlog's rows either */
		}
		if (accept_kw(p, "TABLE"))
			return create_table(p, or_replace);
		accept_kw(p, "ONLINE");
		accept_kw(p, "OFFLINE");
		if (is_kw(p, "UNIQUE") || is_kw(p, "FULLTEXT") || is_kw(p, "INDEX"))
			return create_index(p, or_replace);
		if (is_kw(p, "SPATIAL")) {
			parser save = *p;
			advance(p);
			int index = is_kw(p, "INDEX");
			*p = save;
			if (index)
				return create_index(p, or_replace);
		}
	} else if (accept_kw(p, "DROP")) {
		if (is_kw(p, "TEMPORARY")) {
			p->res->cls = DBS_MYSQL_DDL_NONE;
			return 0;
		}
		if (accept_kw(p, "TABLE") || accept_kw(p, "TABLES"))
			return drop_table(p);
		if (accept_kw(p, "INDEX"))
			return drop_index(p);
		if (accept_kw(p, "DATABASE") || accept_kw(p, "SCHEMA")) {
			uint8_t ie = (uint8_t)accept_if_exists(p);
			const char *db;
			dbs_mysql_ddl_change *c;
			if (p->stop || !(db = ident(p, "a database name")) ||
			    !(c = add_change(p, DBS_MYSQL_DROP_SCHEMA, NULL)))
				return -1;
			c->table.schema = db;
			c->if_exists = ie;
			return 0;
		}
	} else if (accept_kw(p, "RENAME")) {
		if (accept_kw(p, "TABLE") || accept_kw(p, "TABLES"))
			return rename_table(p);
		if (is_kw(p, "USER")) {
			p->res->cls = DBS_MYSQL_DDL_NONE;
			return 0;
		}
	} else if (accept_kw(p, "TRUNCATE")) {
		accept_kw(p, "TABLE");
		dbs_mysql_tref t;
		if (table_ref(p, &t) != 0 || !add_change(p, DBS_MYSQL_TRUNCATE_TABLE, &t))
			return -1;
		skip_wait(p);
		return 0;
	} else {
		char b[48];
		fail(p, "statement '%s' not recognised", tok_show(p, b, sizeof b));
		return -1;
	}
	/* CREATE / ALTER / DROP / RENAME of something other than a table */
	if (is_kw_in(p, not_table_objects)) {
		p->res->cls = DBS_MYSQL_DDL_NONE;
		return 0;
	}
	char b[48];
	fail(p, "'%s' not recognised after the statement's first word", tok_show(p, b, sizeof b));
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
	p.db = arena_str(&p, db ? db : "", db ? db_len : 0);
	if (p.db) {
		if (type_only) {
			res->cls = DBS_MYSQL_DDL_CHANGES;
			dbs_mysql_coldef *col = arena_alloc(&p.arena, sizeof *col);
			dbs_mysql_tref none = {p.db, p.db}; /* "" */
			dbs_mysql_ddl_change *c =
			    col ? add_change(&p, DBS_MYSQL_ADD_COLUMN, &none) : NULL;
			int serial;
			if (!col)
				out_of_memory(&p);
			else if (c) {
				c->col = col;
				col->name = "";
				col->nullable = -1;
				advance(&p);
				if (type_parse(&p, &col->type, &serial) == 0 && !at_end(&p))
					unexpected(&p, "the end of the type");
			}
		} else if (statement(&p) == 0 && !p.stop && res->cls != DBS_MYSQL_DDL_NONE) {
			accept_punct(&p, ';');
			if (p.cur.type != T_END)
				unexpected(&p, "the end of the statement");
		}
	}
	if (p.nomem || !p.db) {
		arena_free(p.arena);
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
	arena_free(ddl->arena_);
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
