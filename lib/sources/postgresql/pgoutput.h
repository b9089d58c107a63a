/*
 * Decoder of pgoutput logical replication messages (protocol version 2) and
 * of the CopyBoth frames of a walsender that carry them.
 *
 * Pure functions over bytes: no allocation, no I/O. A decoded message
 * points into the buffer it was decoded from, so the buffer must outlive
 * it. Every read is bounds-checked; malformed input returns
 * DBS_EPROTO, never reads past `len`.
 *
 * Strings keep their length (`s`, `len`); they are also NUL-terminated in
 * the buffer because the protocol sends them that way and the decoder
 * checks the terminator.
 */
#ifndef DBS_PGOUTPUT_H
#define DBS_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
#define DBS_PGO_EPOCH_OFFSET_US INT64_C(946684800000000)

typedef struct dbs_pgo_str {
	const char *s;
	size_t len;
} dbs_pgo_str;

/* Tuple column kinds, as the protocol spells them. */
enum {
	DBS_PGO_COL_NULL = 'n',
	DBS_PGO_COL_UNCHANGED = 'u', /* TOASTed value not sent */
	DBS_PGO_COL_TEXT = 't',
	DBS_PGO_COL_BINARY = 'b'
};

typedef struct dbs_pgo_column {
	uint8_t kind;        /* DBS_PGO_COL_* */
	const uint8_t *data; /* text/binary only */
	uint32_t len;
} dbs_pgo_column;

/* A validated TupleData: iterate with dbs__pgo_tuple_next. */
typedef struct dbs_pgo_tuple {
	uint16_t ncols;
	const uint8_t *data; /* first column */
	size_t len;          /* bytes of every column */
} dbs_pgo_tuple;

typedef struct dbs_pgo_relcol {
	uint8_t flags; /* 1: part of the replica identity key */
	dbs_pgo_str name;
	uint32_t type_oid;
	int32_t type_mod;
} dbs_pgo_relcol;

/* A cursor over a tuple's columns or a relation's columns. */
typedef struct dbs_pgo_iter {
	const uint8_t *p, *end;
	uint32_t left;
} dbs_pgo_iter;

typedef enum dbs_pgo_kind {
	DBS_PGO_BEGIN = 'B',
	DBS_PGO_COMMIT = 'C',
	DBS_PGO_ORIGIN = 'O',
	DBS_PGO_RELATION = 'R',
	DBS_PGO_TYPE = 'Y',
	DBS_PGO_INSERT = 'I',
	DBS_PGO_UPDATE = 'U',
	DBS_PGO_DELETE = 'D',
	DBS_PGO_TRUNCATE = 'T',
	DBS_PGO_MESSAGE = 'M',
	DBS_PGO_STREAM_START = 'S',
	DBS_PGO_STREAM_STOP = 'E',
	DBS_PGO_STREAM_COMMIT = 'c',
	DBS_PGO_STREAM_ABORT = 'A'
} dbs_pgo_kind;

typedef struct dbs_pgo_msg {
	uint8_t kind; /* dbs_pgo_kind */
	/* Messages decoded inside a stream block carry the xid of their
	 * top-level transaction (has_xid = 1). */
	uint8_t has_xid;
	uint32_t xid;
	union {
		struct {
			uint64_t final_lsn;
			int64_t commit_time;
			uint32_t xid;
		} begin;
		struct {
			uint8_t flags;
			uint64_t commit_lsn, end_lsn;
			int64_t commit_time;
		} commit;
		struct {
			uint64_t lsn;
			dbs_pgo_str name;
		} origin;
		struct {
			uint32_t relid;
			dbs_pgo_str nspname, relname;
			uint8_t replident;
			uint16_t ncols;
			const uint8_t *cols; /* validated column list; dbs__pgo_relcols */
			size_t cols_len;
		} relation;
		struct {
			uint32_t oid;
			dbs_pgo_str nspname, name;
		} type;
		struct {
			uint32_t relid;
			/* 0 (none), 'K' (replica identity key) or 'O' (whole old row) */
			uint8_t old_kind;
			dbs_pgo_tuple old_tuple; /* update/delete */
			dbs_pgo_tuple new_tuple; /* insert/update */
		} change;
		struct {
			uint32_t nrelids;
			uint8_t options;       /* 1 cascade, 2 restart identity */
			const uint8_t *relids; /* nrelids big-endian uint32 */
		} truncate;
		struct {
			uint8_t flags; /* 1: transactional */
			uint64_t lsn;
			dbs_pgo_str prefix;
			const uint8_t *content;
			uint32_t content_len;
		} message;
		struct {
			uint32_t xid;
			uint8_t first_segment;
		} stream_start;
		struct {
			uint32_t xid;
			uint8_t flags;
			uint64_t commit_lsn, end_lsn;
			int64_t commit_time;
		} stream_commit;
		struct {
			uint32_t xid, subxid;
		} stream_abort;
	} u;
} dbs_pgo_msg;

/*
 * Decode one pgoutput message of `len` bytes. `in_stream` is nonzero
 * between Stream Start and Stream Stop, where change messages carry an xid
 * prefix. Returns 0, or DBS_EPROTO with a reason in err (may be NULL).
 */
int dbs__pgo_decode(dbs_pgo_msg *out, const uint8_t *buf, size_t len, int in_stream, char *err,
                    size_t errlen);

/* Start iterating a validated tuple; next returns 1 with a column, 0 at the end. */
void dbs__pgo_tuple_iter(dbs_pgo_iter *it, const dbs_pgo_tuple *tuple);
int dbs__pgo_tuple_next(dbs_pgo_iter *it, dbs_pgo_column *col);

/* Same for a validated Relation's columns. */
void dbs__pgo_relcols_iter(dbs_pgo_iter *it, const dbs_pgo_msg *relation);
int dbs__pgo_relcols_next(dbs_pgo_iter *it, dbs_pgo_relcol *col);

/* The walsender's CopyBoth frames. */
typedef struct dbs_pgo_frame {
	uint8_t kind; /* 'w' XLogData or 'k' primary keepalive */
	uint64_t wal_start, wal_end;
	int64_t send_time;
	uint8_t reply_requested; /* keepalive */
	const uint8_t *data;     /* XLogData payload: one pgoutput message */
	size_t len;
} dbs_pgo_frame;

int dbs__pgo_frame_decode(dbs_pgo_frame *out, const uint8_t *buf, size_t len, char *err,
                          size_t errlen);

/* Write the 34-byte standby status update ('r') into out. */
#define DBS_PGO_STATUS_LEN 34
void dbs__pgo_status_encode(uint8_t out[DBS_PGO_STATUS_LEN], uint64_t write_lsn, uint64_t flush_lsn,
                            uint64_t apply_lsn, int64_t now_pg_us, int reply_requested);

#endif
