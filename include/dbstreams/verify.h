/*
 * dbstreams verify: compare a stream's source and target tables.
 *
 * dbs_verify_run reads the same JSON configuration as dbs_stream_create,
 * finds the tables the stream replicates and the tables its target made
 * of them, and compares them by primary key, a chunk of keys at a time:
 * both sides' rows are read in key order as text, canonicalised so that
 * equal values print equally across engines (docs/verify.md), digested per
 * chunk, and compared row by row only when the digests differ. Every
 * differing key is counted; the first `max_diffs` per table are listed.
 *
 * Conventions as in dbstreams.h: 0 or a negative DBS_E* code, the message
 * in dbs_error_last(), out-parameter first and written only on success.
 */
#ifndef DBSTREAMS_VERIFY_H
#define DBSTREAMS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "dbstreams.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DBS_VERIFY_OPTIONS_VERSION 1

/** Options of dbs_verify_run. Initialise with DBS_VERIFY_OPTIONS_INIT. */
typedef struct dbs_verify_options {
	unsigned version;
	/* Keys per chunk, 1..1000000; 0 means 1000. */
	uint32_t chunk_size;
	/* Differing keys listed per table (all are counted); 0 lists none. */
	uint32_t max_diffs;
	/* Compare only these tables, named as in source.filter.tables ("t",
	 * "schema.t" or "db.t"); borrowed for the call. NULL / 0: every table
	 * of the stream. A name that is not among them is DBS_ENOTFOUND. */
	const char *const *tables;
	size_t ntables;
} dbs_verify_options;

#define DBS_VERIFY_OPTIONS_INIT                                                                    \
	{                                                                                          \
		DBS_VERIFY_OPTIONS_VERSION, 1000, 1000, NULL, 0                                    \
	}

typedef enum dbs_verify_diff_kind {
	DBS_VERIFY_MISSING = 1, /* the key is in the source, not in the target */
	DBS_VERIFY_EXTRA = 2,   /* the key is in the target, not in the source */
	DBS_VERIFY_CHANGED = 3  /* both have the key; some column values differ */
} dbs_verify_diff_kind;

/** One differing key. Strings are owned by the report. */
typedef struct dbs_verify_diff {
	dbs_verify_diff_kind kind;
	/* The key's values in canonical text (docs/verify.md), aligned with
	 * the table's key_columns; NULL for an SQL NULL. For a table without
	 * a primary key: the whole row, aligned with every column. */
	const char *const *key;
	/* DBS_VERIFY_CHANGED: the names of the columns that differ. */
	const char *const *columns;
	uint32_t ncolumns;
} dbs_verify_diff;

/** The comparison of one table. Strings are owned by the report. */
typedef struct dbs_verify_table {
	const char *source_schema, *source_name; /* PostgreSQL schema or MySQL database */
	const char *target_schema, *target_name;
	/* The key columns in key order (every column when has_primary_key is 0). */
	const char *const *key_columns;
	uint32_t nkey_columns;
	int has_primary_key; /* 0: compared as multisets of whole rows */
	int target_exists;   /* 0: every source row counts as missing */
	uint64_t source_rows, target_rows;
	uint64_t chunks;                  /* chunks compared */
	uint64_t chunks_differing;        /* chunks whose digests differed */
	uint64_t missing, extra, changed; /* every difference, listed or not */
	/* Source columns the target lacks (each counts as one difference). */
	const char *const *missing_columns;
	uint32_t nmissing_columns;
	/* The first max_diffs differences: changed keys in the order found,
	 * then missing and extra ones (matched across chunks first). */
	const dbs_verify_diff *diffs;
	size_t ndiffs;
	/* Why the comparison went the way it did, "" when nothing to say
	 * ("no primary key: compared as multisets of rows"). */
	const char *note;
} dbs_verify_table;

typedef struct dbs_verify_report {
	unsigned version;
	const dbs_verify_table *tables;
	size_t ntables;
	uint64_t differences; /* sum of missing + extra + changed + missing columns */
	int64_t elapsed_ns;
} dbs_verify_report;

/**
 * Compare every table of the stream `config` (DBConvert Streams 0.x JSON,
 * `len` bytes) between its source and its target. Returns 0 with a new
 * report in *out when the comparison ran, whether or not it found
 * differences; DBS_ECONFIG for an invalid configuration or an unsupported
 * source/target type, DBS_ESOURCE / DBS_ETARGET when a database failed,
 * DBS_ENOTFOUND for a table of opts->tables the stream does not carry.
 * Reads only; opens one connection to each side. `opts` may be NULL
 * (defaults). Blocking; thread-safe (no shared state).
 */
DBS_API int dbs_verify_run(dbs_verify_report **out, const char *config, size_t len,
                           const dbs_verify_options *opts);

/** Release a report. Accepts NULL. */
DBS_API void dbs_verify_report_free(dbs_verify_report *report);

/** "missing", "extra", "changed"; static storage. */
DBS_API const char *dbs_verify_diff_kind_name(dbs_verify_diff_kind kind);

#ifdef __cplusplus
}
#endif

#endif
