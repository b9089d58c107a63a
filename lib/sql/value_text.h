/*
 * dbs_value written as the text input form a SQL engine parses, and SQL
 * quoting. Targets format every value of a batch into one dbs_buf they
 * reuse across batches, so a value costs no allocation.
 */
#ifndef DBS_SQL_VALUE_TEXT_H
#define DBS_SQL_VALUE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

/* SQL identifier in double quotes, inner quotes doubled. */
int dbs__sql_append_ident(dbs_buf *b, const char *ident);
/* An identifier as `dialect` quotes it: MySQL in backticks (inner ones
 * doubled), PostgreSQL as dbs__sql_append_ident. */
int dbs__sql_append_ident_in(dbs_buf *b, dbs_dialect dialect, const char *ident);
/* SQL string literal in single quotes, inner quotes doubled (for servers
 * with standard_conforming_strings on: backslash is an ordinary byte). */
int dbs__sql_append_literal(dbs_buf *b, const char *s, size_t n);

/* Numbers in decimal without printf, for the per-value path. */
int dbs__sql_append_i64(dbs_buf *b, int64_t i);
int dbs__sql_append_u64(dbs_buf *b, uint64_t u);
/* `v` as exactly `width` digits at `d`, zero-padded (v < 10^width, else
 * its low digits); returns the end. */
char *dbs__sql_put_digits(char *d, uint32_t v, unsigned width);

/* The value of hex digit c (either case), or -1. */
int dbs__sql_hexval(char c);
/* A finite double with 17 significant digits (%.17g), which read back as
 * the same double. */
int dbs__sql_append_double(dbs_buf *b, double d);

/* How dbs__value_text_pg writes a value. */
enum {
	/* Escape for COPY ... FROM STDIN text format (backslash, tab, newline,
	 * carriage return), and write NULL as \N. Without it the plain text
	 * form is written, as a text parameter carries it. */
	DBS_VALUE_TEXT_COPY = 1u << 0
};

/*
 * Append the PostgreSQL text input form of `v`: TEXT, DECIMAL and JSON as
 * given, integers in decimal, doubles with 17 significant digits (and
 * NaN, Infinity, -Infinity), bytes as bytea hex (\x…), dates and times in
 * ISO form (years before 1 as BC), TIMESTAMP with "+00".
 *
 * DBS_EINVAL for DBS_VALUE_UNCHANGED (the caller decides what an unsent
 * value means) and for NULL without DBS_VALUE_TEXT_COPY (a parameter
 * carries NULL as a null pointer); DBS_ENOMEM when the buffer cannot grow.
 */
int dbs__value_text_pg(dbs_buf *b, const dbs_value *v, unsigned flags);

/*
 * Append a JSON object of columns of `img`, a row image of `table`: the
 * `ncols` columns listed in `cols`, or every column when `cols` is NULL.
 * NULL is null, integers (with a PostgreSQL source's smallint, integer
 * and bigint text) and finite doubles are numbers, every other
 * value is a string of its PostgreSQL text form (bytes as \x hex, a
 * MySQL zero date as 0000-00-00). Unsent (unchanged) values are left out.
 * Bytes that are not UTF-8, and NUL, become U+FFFD, so the document is
 * valid for any engine's JSON type. For rejected rows, not the per-event
 * path. DBS_ENOMEM when the buffer cannot grow.
 */
int dbs__row_json(dbs_buf *b, const dbs_table *table, const dbs_value *img,
                  const uint32_t *cols, uint32_t ncols);

/*
 * The image that names the row an event changes, by its key columns
 * `keys`: the before image when it carries the key (the row as it was; a
 * key may change), else the after image. Without a key only the whole
 * old row names it: the before image. NULL when the event has neither.
 */
const dbs_value *dbs__row_key_image(const dbs_event *ev, const uint32_t *keys, uint32_t nkeys);

#endif
