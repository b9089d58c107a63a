/*
 * MySQL/MariaDB binlog row events: TABLE_MAP parsing, row-image decoding
 * into dbs_value, and MySQL's binary JSON. Pure functions over byte
 * buffers (no connection), so they are unit-tested on captured events and
 * fuzzed. Every read is bound-checked; malformed bytes give DBS_EPROTO and
 * a message naming the table and the column.
 *
 * Value mapping (the kinds of plugin.h):
 *   TINY..LONGLONG      INT, or UINT when the column is UNSIGNED
 *   YEAR                INT (0 for the zero year, else 1901..2155)
 *   BIT(n)              UINT (the bits as a number, n <= 64)
 *   FLOAT, DOUBLE       DOUBLE
 *   NEWDECIMAL          DECIMAL, exact text with `scale` fraction digits
 *   DATE                DATE; DATETIME(2) DATETIME; TIMESTAMP(2) TIMESTAMP
 *                       (UTC instant). Zero dates ('0000-00-00') keep
 *                       their zero fields: the policy is the target's.
 *   TIME(2)             TIME (negative flag, hours up to 838)
 *   CHAR/VARCHAR/TEXT   TEXT, converted to UTF-8 from the column charset
 *   ENUM, SET           TEXT: the member / the members joined by ','
 *   BINARY/VARBINARY/BLOB BYTES (BINARY(n) re-padded with 0x00 to n)
 *   JSON                JSON text (MySQL binary JSON decoded; MariaDB's
 *                       JSON is a text column and arrives as TEXT)
 *   GEOMETRY            BYTES in the server's storage form: a 4-byte
 *                       little-endian SRID followed by the WKB
 */
#ifndef DBS_MYSQL_BINLOG_H
#define DBS_MYSQL_BINLOG_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

/* MySQL field type codes as they appear in TABLE_MAP. */
enum {
	MY_T_DECIMAL = 0,
	MY_T_TINY = 1,
	MY_T_SHORT = 2,
	MY_T_LONG = 3,
	MY_T_FLOAT = 4,
	MY_T_DOUBLE = 5,
	MY_T_NULL = 6,
	MY_T_TIMESTAMP = 7,
	MY_T_LONGLONG = 8,
	MY_T_INT24 = 9,
	MY_T_DATE = 10,
	MY_T_TIME = 11,
	MY_T_DATETIME = 12,
	MY_T_YEAR = 13,
	MY_T_NEWDATE = 14,
	MY_T_VARCHAR = 15,
	MY_T_BIT = 16,
	MY_T_TIMESTAMP2 = 17,
	MY_T_DATETIME2 = 18,
	MY_T_TIME2 = 19,
	MY_T_JSON = 245,
	MY_T_NEWDECIMAL = 246,
	MY_T_ENUM = 247,
	MY_T_SET = 248,
	MY_T_TINY_BLOB = 249,
	MY_T_MEDIUM_BLOB = 250,
	MY_T_LONG_BLOB = 251,
	MY_T_BLOB = 252,
	MY_T_VAR_STRING = 253,
	MY_T_STRING = 254,
	MY_T_GEOMETRY = 255
};

/* How a string column's bytes become UTF-8. */
typedef enum dbs_mysql_cs {
	DBS_MYSQL_CS_UNKNOWN = 0, /* no charset known: refused for text values */
	DBS_MYSQL_CS_UTF8,        /* utf8mb4, utf8mb3, ascii: pass through */
	DBS_MYSQL_CS_BINARY,      /* bytes */
	DBS_MYSQL_CS_LATIN1,      /* MySQL's latin1 (cp1252 with 5 C1 controls) */
	DBS_MYSQL_CS_ICONV        /* any other: iconv from `charset` */
} dbs_mysql_cs;

typedef struct dbs_mysql_col {
	uint8_t type;      /* binlog type from TABLE_MAP */
	uint8_t real_type; /* ENUM/SET/STRING for type STRING; else == type */
	uint16_t meta;     /* metadata as read (for STRING: the decoded max length) */
	uint8_t is_unsigned;
	uint8_t nullable;
	uint8_t is_key;
	uint8_t cs; /* dbs_mysql_cs */
	/* MariaDB 5.3 "hires" DATETIME/TIME/TIMESTAMP(n), n > 0, logged with
	 * the old type codes and no metadata: n comes from information_schema
	 * (the caller sets it); 0 for the classic formats. */
	uint8_t hires_dec;
	uint32_t collation;  /* collation id, 0 unknown */
	const char *charset; /* charset name for ICONV (static or owned) */
	void *iconv_cd;      /* lazily opened iconv_t, (void *)-1 when unusable */
	const char *name;    /* NUL-terminated; NULL without FULL metadata */
	uint32_t nmembers;   /* ENUM/SET member strings, in the column charset */
	const char **members;
	uint32_t *member_lens;
} dbs_mysql_col;

typedef struct dbs_mysql_tablemap {
	uint64_t table_id;
	char *db;
	char *table;
	uint32_t ncols;
	dbs_mysql_col *cols;
	uint8_t has_names, has_signedness, has_charsets, has_pk;
	void *mem_; /* private: owns the strings and arrays */
} dbs_mysql_tablemap;

/* Collation id -> charset name; NULL when unknown. The parser first tries
 * its own table of common collations, then this (the source asks the
 * server's information_schema once). */
typedef const char *(*dbs_mysql_charset_fn)(uint32_t collation, void *ctx);

/*
 * Parse a TABLE_MAP event body (the bytes after the 19-byte common header,
 * without the checksum) into *out. Returns 0, DBS_EPROTO or DBS_ENOMEM.
 */
int dbs__mysql_tablemap_parse(dbs_mysql_tablemap *out, const uint8_t *body, size_t len,
                              dbs_mysql_charset_fn charset_of, void *ctx, char *err, size_t errlen);
void dbs__mysql_tablemap_free(dbs_mysql_tablemap *tm);

/*
 * Fill in what a TABLE_MAP without FULL metadata lacks, from
 * information_schema: a column's charset by name ("latin1"; ignored when
 * the binlog gave one), and ENUM/SET member strings, already UTF-8 (copied).
 */
int dbs__mysql_col_set_charset(dbs_mysql_tablemap *tm, uint32_t col, const char *charset_name);
int dbs__mysql_tablemap_set_members(dbs_mysql_tablemap *tm, uint32_t col,
                                    const char *const *members, const uint32_t *lens, uint32_t n);

/* A rows event's header, pointing into the caller's buffer. */
typedef struct dbs_mysql_rows {
	dbs_op op;
	uint64_t table_id;
	uint16_t flags;
	uint32_t ncols;
	const uint8_t *present;       /* columns in the (before) image */
	const uint8_t *present_after; /* UPDATE: columns in the after image */
	const uint8_t *data;          /* the row images */
	size_t len;
} dbs_mysql_rows;

/*
 * Parse the body of a WRITE/UPDATE/DELETE_ROWS event (v1: types 23-25,
 * v2: 30-32; body as for TABLE_MAP). Compressed MariaDB events must be
 * decompressed first (the transport does it; fill dbs_mysql_rows from its
 * fields instead).
 */
int dbs__mysql_rows_parse(dbs_mysql_rows *out, unsigned event_type, const uint8_t *body, size_t len,
                          char *err, size_t errlen);


/*
 * Decode the next row of `rows` at *offset into `before` / `after`
 * (arrays of tm->ncols values, either NULL when the op has no such image;
 * a column absent from an image is NULL in a before image and UNCHANGED in
 * an UPDATE's after image, and an error in an insert). Strings are copied
 * into `batch`'s arena. Advances *offset. Returns 0, DBS_EPROTO (err names
 * table and column) or DBS_ENOMEM. `scratch` is memory the decoder reuses
 * across values (charset conversion, JSON text): the caller keeps it
 * between calls and frees it with dbs_buf_free.
 */
int dbs__mysql_row_decode(const dbs_mysql_tablemap *tm, const dbs_mysql_rows *rows, size_t *offset,
                          dbs_value *before, dbs_value *after, dbs_batch *batch,
                          dbs_buf *scratch, char *err, size_t errlen);

/*
 * MySQL binary JSON to JSON text in `out` (replacing what it held); *outlen
 * is its length.
 * Returns 0 or -1 (malformed, too deep, or out of memory: `why` says).
 */
int dbs__mysql_json_to_text(const uint8_t *data, size_t len, dbs_buf *out, size_t *outlen,
                            const char **why);

/* Convert `len` bytes in c's charset to UTF-8 in `scratch` (from its
 * start); *outlen set. Returns NULL, or the reason it cannot. */
const char *dbs__mysql_to_utf8(dbs_mysql_col *c, const uint8_t *in, size_t len, dbs_buf *scratch,
                               size_t *outlen);

/* Binary NEWDECIMAL(precision, scale) to text; returns the text length, or
 * -1 when malformed. `bytes` is set to the encoded size. `out` must hold
 * precision + 3 bytes. */
int dbs__mysql_decimal_to_text(const uint8_t *p, size_t avail, unsigned precision, unsigned scale,
                               char *out, size_t *bytes);

#endif
