/*
 * The schema-statement parser's own parts (ddl_lex.c: the arena, the
 * lexer and the token tests; ddl_defs.c: column types, column and index
 * definitions, table options; ddl_alter.c: ALTER TABLE; ddl.c: the other
 * statements). Not for use outside the parser.
 */
#ifndef DBS_SOURCES_MYSQL_DDL_PARSE_H
#define DBS_SOURCES_MYSQL_DDL_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "sources/mysql/ddl.h"

typedef struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
} arena_block;

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

void *dbs__ddl_arena_alloc(arena_block **head, size_t size);
void dbs__ddl_arena_free(arena_block *b);
void dbs__ddl_advance(parser *p);
void dbs__ddl_fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dbs__ddl_out_of_memory(parser *p);
const char *dbs__ddl_tok_show(parser *p, char *buf, size_t size);
void dbs__ddl_unexpected(parser *p, const char *wanted);
int dbs__ddl_is_kw(const parser *p, const char *kw);
int dbs__ddl_is_kw_in(const parser *p, const char *const *kws);
int dbs__ddl_is_punct(const parser *p, char c);
int dbs__ddl_accept_kw(parser *p, const char *kw);
int dbs__ddl_accept_punct(parser *p, char c);
int dbs__ddl_next_is_kw(const parser *p, const char *kw);
int dbs__ddl_expect_kw(parser *p, const char *kw);
int dbs__ddl_expect_punct(parser *p, char c);
int dbs__ddl_at_end(const parser *p);
int dbs__ddl_accept_if_exists(parser *p);
int dbs__ddl_accept_if_not_exists(parser *p);
char *dbs__ddl_arena_str(parser *p, const char *s, size_t len);
const char *dbs__ddl_ident(parser *p, const char *what);
const char *dbs__ddl_string_lit(parser *p, size_t *len_out);
const char *dbs__ddl_cs_name(parser *p, const char *what);
int dbs__ddl_table_ref(parser *p, dbs_mysql_tref *t);
int dbs__ddl_skip_parens(parser *p);
int dbs__ddl_skip_clause(parser *p);
int dbs__ddl_int_lit(parser *p, int32_t *v);
void *dbs__ddl_grow(parser *p, void *items, uint32_t n, uint32_t *cap, size_t size);
dbs_mysql_ddl_change *dbs__ddl_add_change(parser *p, dbs_mysql_ddl_kind kind,
                                          const dbs_mysql_tref *table);
int dbs__ddl_type_parse(parser *p, dbs_mysql_type *t, int *serial);
int dbs__ddl_default_value(parser *p, dbs_mysql_default *d);
int dbs__ddl_column_def(parser *p, dbs_mysql_coldef *c);
int dbs__ddl_column_place(parser *p, dbs_mysql_coldef *c);
int dbs__ddl_index_options(parser *p);
int dbs__ddl_key_parts(parser *p, dbs_mysql_index *ix);
int dbs__ddl_index_def(parser *p, dbs_mysql_index *ix, uint8_t *if_not_exists);
int dbs__ddl_add_index_change(parser *p, const dbs_mysql_tref *table, const dbs_mysql_index *ix,
                              uint8_t if_not_exists);
int dbs__ddl_column_index(parser *p, const dbs_mysql_coldef *col, int primary, dbs_mysql_index *ix);
int dbs__ddl_column_change(parser *p, dbs_mysql_ddl_kind kind, const dbs_mysql_tref *table,
                           const char *old, uint8_t flag);
int dbs__ddl_algorithm_lock(parser *p);
int dbs__ddl_table_option(parser *p);
int dbs__ddl_skip_partitioning(parser *p);
int dbs__ddl_alter_table(parser *p);

/* The keywords that start an index or constraint inside CREATE TABLE or
 * ALTER TABLE ADD (NULL-terminated). */
extern const char *const dbs__ddl_index_start[];

#endif
