/*
 * The schema-statement parser's lexer (ddl_parse.h): the arena every
 * result lives in, tokens over the logged bytes (comments, executable
 * comments, quoting under the event's sql_mode), failure, token tests and
 * text out of tokens.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/ddl_parse.h"

/* ---- arena: every string and list of a result, freed together ---- */

#define ARENA_BLOCK 4096

void *dbs__ddl_arena_alloc(arena_block **head, size_t size)
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

void dbs__ddl_arena_free(arena_block *b)
{
	while (b) {
		arena_block *next = b->next;
		free(b);
		b = next;
	}
}

/* ---- lexer ---- */

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

void dbs__ddl_advance(parser *p)
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

void dbs__ddl_fail(parser *p, const char *fmt, ...)
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

void dbs__ddl_out_of_memory(parser *p)
{
	if (!p->nomem) {
		p->nomem = 1;
		p->stop = 1;
	}
}

/* The current token, printable and short, for a message. */
const char *dbs__ddl_tok_show(parser *p, char *buf, size_t size)
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

void dbs__ddl_unexpected(parser *p, const char *wanted)
{
	char b[48];
	if (p->cur.type == T_BAD)
		dbs__ddl_fail(p, "an unterminated quote");
	else
		dbs__ddl_fail(p, "%s expected, not '%s'", wanted,
		              dbs__ddl_tok_show(p, b, sizeof b));
}

/* ---- token tests ---- */

int dbs__ddl_is_kw(const parser *p, const char *kw)
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
int dbs__ddl_is_kw_in(const parser *p, const char *const *kws)
{
	for (; *kws; kws++)
		if (dbs__ddl_is_kw(p, *kws))
			return 1;
	return 0;
}

int dbs__ddl_is_punct(const parser *p, char c)
{
	return p->cur.type == T_PUNCT && p->cur.c == c;
}

int dbs__ddl_accept_kw(parser *p, const char *kw)
{
	if (!dbs__ddl_is_kw(p, kw))
		return 0;
	dbs__ddl_advance(p);
	return 1;
}

int dbs__ddl_accept_punct(parser *p, char c)
{
	if (!dbs__ddl_is_punct(p, c))
		return 0;
	dbs__ddl_advance(p);
	return 1;
}

/* The token after the current one is `kw` (PERIOD FOR, SYSTEM VERSIONING:
 * words that are also ordinary column names). */
int dbs__ddl_next_is_kw(const parser *p, const char *kw)
{
	parser ahead = *p;
	dbs__ddl_advance(&ahead);
	return dbs__ddl_is_kw(&ahead, kw);
}

int dbs__ddl_expect_kw(parser *p, const char *kw)
{
	if (dbs__ddl_accept_kw(p, kw))
		return 0;
	dbs__ddl_unexpected(p, kw);
	return -1;
}

int dbs__ddl_expect_punct(parser *p, char c)
{
	if (dbs__ddl_accept_punct(p, c))
		return 0;
	char w[4] = {'\'', c, '\'', '\0'};
	dbs__ddl_unexpected(p, w);
	return -1;
}

int dbs__ddl_at_end(const parser *p)
{
	return p->cur.type == T_END || dbs__ddl_is_punct(p, ';');
}

/* IF EXISTS / IF NOT EXISTS; 1 when present. */
int dbs__ddl_accept_if_exists(parser *p)
{
	if (!dbs__ddl_is_kw(p, "IF"))
		return 0;
	dbs__ddl_advance(p);
	if (dbs__ddl_expect_kw(p, "EXISTS") != 0)
		return 0;
	return 1;
}

int dbs__ddl_accept_if_not_exists(parser *p)
{
	if (!dbs__ddl_is_kw(p, "IF"))
		return 0;
	dbs__ddl_advance(p);
	if (dbs__ddl_expect_kw(p, "NOT") != 0 || dbs__ddl_expect_kw(p, "EXISTS") != 0)
		return 0;
	return 1;
}

/* ---- text out of tokens, into the arena ---- */

char *dbs__ddl_arena_str(parser *p, const char *s, size_t len)
{
	if (len == SIZE_MAX) {
		dbs__ddl_out_of_memory(p);
		return NULL;
	}
	char *d = dbs__ddl_arena_alloc(&p->arena, len + 1);
	if (!d) {
		dbs__ddl_out_of_memory(p);
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
	char *d = dbs__ddl_arena_alloc(&p->arena, len);
	if (!d) {
		dbs__ddl_out_of_memory(p);
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
const char *dbs__ddl_ident(parser *p, const char *what)
{
	const char *r = NULL;
	if (p->cur.type == T_WORD)
		r = dbs__ddl_arena_str(p, p->s + p->cur.start, p->cur.end - p->cur.start);
	else if (p->cur.type == T_QIDENT)
		r = unquote(p, &p->cur, NULL);
	else {
		dbs__ddl_unexpected(p, what);
		return NULL;
	}
	if (r)
		dbs__ddl_advance(p);
	return r;
}

/* A string literal, adjacent ones joined ('a' 'b' is 'ab'). */
const char *dbs__ddl_string_lit(parser *p, size_t *len_out)
{
	if (p->cur.type != T_STRING) {
		dbs__ddl_unexpected(p, "a string");
		return NULL;
	}
	size_t len = 0;
	char *r = unquote(p, &p->cur, &len);
	dbs__ddl_advance(p);
	while (r && p->cur.type == T_STRING) {
		size_t l2 = 0;
		char *r2 = unquote(p, &p->cur, &l2);
		dbs__ddl_advance(p);
		if (!r2)
			return NULL;
		char *j = dbs__ddl_arena_alloc(&p->arena, len + l2 + 1);
		if (!j) {
			dbs__ddl_out_of_memory(p);
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
const char *dbs__ddl_cs_name(parser *p, const char *what)
{
	if (p->cur.type != T_STRING)
		return dbs__ddl_ident(p, what);
	const char *r = unquote(p, &p->cur, NULL);
	if (r)
		dbs__ddl_advance(p);
	return r;
}

/* schema.table, or table in the event's database. */
int dbs__ddl_table_ref(parser *p, dbs_mysql_tref *t)
{
	const char *a = dbs__ddl_ident(p, "a table name");
	if (!a)
		return -1;
	if (dbs__ddl_is_punct(p, '.')) {
		dbs__ddl_advance(p);
		const char *b = dbs__ddl_ident(p, "a table name");
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
int dbs__ddl_skip_parens(parser *p)
{
	if (dbs__ddl_expect_punct(p, '(') != 0)
		return -1;
	size_t depth = 1;
	while (depth > 0) {
		if (p->cur.type == T_END || p->cur.type == T_BAD) {
			dbs__ddl_unexpected(p, "')'");
			return -1;
		}
		if (dbs__ddl_is_punct(p, '('))
			depth++;
		else if (dbs__ddl_is_punct(p, ')'))
			depth--;
		dbs__ddl_advance(p);
	}
	return 0;
}

/* Up to a ',' or ')' outside parentheses, or the end (neither consumed). */
int dbs__ddl_skip_clause(parser *p)
{
	while (!dbs__ddl_at_end(p) && !dbs__ddl_is_punct(p, ',') && !dbs__ddl_is_punct(p, ')')) {
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

int dbs__ddl_int_lit(parser *p, int32_t *v)
{
	if (p->cur.type != T_NUM) {
		dbs__ddl_unexpected(p, "a number");
		return -1;
	}
	int64_t x = 0;
	for (size_t i = p->cur.start; i < p->cur.end; i++) {
		char c = p->s[i];
		if (!is_digit((unsigned char)c)) {
			dbs__ddl_unexpected(p, "a whole number");
			return -1;
		}
		x = x * 10 + (c - '0');
		if (x > INT32_MAX) {
			dbs__ddl_fail(p, "a number out of range");
			return -1;
		}
	}
	*v = (int32_t)x;
	dbs__ddl_advance(p);
	return 0;
}

/* ---- growable lists in the arena ---- */

void *dbs__ddl_grow(parser *p, void *items, uint32_t n, uint32_t *cap, size_t size)
{
	if (n < *cap)
		return items;
	uint32_t nc = *cap ? *cap * 2 : 4;
	if (nc < *cap || (size_t)nc > SIZE_MAX / size) {
		dbs__ddl_out_of_memory(p);
		return NULL;
	}
	void *ni = dbs__ddl_arena_alloc(&p->arena, (size_t)nc * size);
	if (!ni) {
		dbs__ddl_out_of_memory(p);
		return NULL;
	}
	if (n)
		memcpy(ni, items, (size_t)n * size);
	*cap = nc;
	return ni;
}

dbs_mysql_ddl_change *dbs__ddl_add_change(parser *p, dbs_mysql_ddl_kind kind,
                                          const dbs_mysql_tref *table)
{
	dbs_mysql_ddl_change *c =
	    dbs__ddl_grow(p, p->changes, p->nchanges, &p->capchanges, sizeof *p->changes);
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
