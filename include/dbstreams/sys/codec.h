/*
 * dbstreams plugin SDK: the hub wire format. One dbs_batch (or a slice of
 * one) as bytes, and back; and a batch cut into the messages a
 * distributed hub publishes (partitions, message size), so a hub only
 * moves bytes. The format is specified byte for byte in
 * docs/hub-format.md so that programs other than dbstreams can read a
 * hub's messages; any change here changes that page and
 * DBS_CODEC_VERSION.
 *
 * Neither the buffer nor the decoder is thread-safe: each belongs to one
 * thread (the hub's publisher or fetcher).
 */
#ifndef DBSTREAMS_SYS_CODEC_H
#define DBSTREAMS_SYS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "../plugin.h"
#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DBS_CODEC_MAGIC "DBSB"
/* 2 appended the GTID to every event's position; 3 carries schema
 * events (DBS_OP_SCHEMA and their changes). Versions 1 (no GTID) and 2
 * are still read; a message without a schema event is written as
 * version 2, so a reader of version 2 reads it until the first schema
 * change, where it stops (it must not skip one). */
#define DBS_CODEC_VERSION 3
#define DBS_CODEC_OLDEST_VERSION 1

/* Header flags. */
enum {
	/* The publisher closed: no tables, no events follow. */
	DBS_CODEC_END_OF_STREAM = 1u << 0,
	/* With END_OF_STREAM: the publisher failed, batches may be missing. */
	DBS_CODEC_PUBLISHER_FAILED = 1u << 1
};
#define DBS_CODEC_KNOWN_FLAGS (DBS_CODEC_END_OF_STREAM | DBS_CODEC_PUBLISHER_FAILED)

/* Longest stream id the header carries (KSUIDs are 27 characters). */
#define DBS_CODEC_MAX_STREAM_ID 255

/*
 * The encoder's state, reused from message to message, so encoding costs
 * no allocation once it has reached the size of the largest batch.
 * Zero-initialise it; release with dbs_codec_buf_free.
 */
typedef struct dbs_codec_buf {
	dbs_buf msg; /* the message last encoded */
	/* Scratch: the distinct tables of the slice being encoded, and the
	 * batch's event indexes grouped by partition. */
	const dbs_table **tables;
	uint32_t ntables, tables_cap;
	uint32_t *order;
	size_t order_cap;
} dbs_codec_buf;

DBS_API void dbs_codec_buf_free(dbs_codec_buf *buf);

/*
 * Replace buf->msg with the message for events [first, first+count)
 * of `batch` (count 0 with DBS_CODEC_END_OF_STREAM makes the end marker;
 * `batch` may then be NULL). `stream_id` (borrowed, at most
 * DBS_CODEC_MAX_STREAM_ID bytes) and `seq` go into the header. Returns 0,
 * DBS_EINVAL for arguments out of range (err says which), or DBS_ENOMEM.
 */
DBS_API int dbs_codec_encode(dbs_codec_buf *buf, const dbs_batch *batch, uint32_t first,
                             uint32_t count, const char *stream_id, uint64_t seq, unsigned flags,
                             char *err, size_t errlen);

/*
 * The same for the events of `batch` whose indexes are index[first ..
 * first+count) (each < dbs_batch_count, in increasing order so the
 * positions stay in commit order), out of a list of `nindex`: one
 * partition's share of a batch, encoded without copying events.
 */
DBS_API int dbs_codec_encode_list(dbs_codec_buf *buf, const dbs_batch *batch,
                                  const uint32_t *index, uint32_t nindex, uint32_t first,
                                  uint32_t count, const char *stream_id, uint64_t seq, char *err,
                                  size_t errlen);

/*
 * The partition (0 .. partitions-1) of an event: a hash of schema.table
 * and the primary key values (the after image's, or the before image's
 * for deletes), so that every change to one row lands in one partition.
 * Tables without a key hash by name alone. Specified in docs/hub-format.md
 * (FNV-1a 64) so other publishers can partition alike.
 */
DBS_API uint32_t dbs_codec_partition(const dbs_event *ev, uint32_t partitions);

/*
 * The messages a hub publishes for `batch`: its events grouped by
 * partition (dbs_codec_partition; one group when partitions <= 1), each
 * group in commit order and cut into messages of at most `max_bytes`
 * (stream id `stream_id`, sequence 0, so that equal events make equal
 * messages). For each message, in order, `emit` gets the partition, the
 * message (buf->msg, borrowed for the call) and the position of its last
 * event; emit returns 0 to go on, 1 to stop (then 1 is returned), or a
 * negative code with err filled (returned as is). A single event larger
 * than `max_bytes` fails with DBS_EINVAL, err naming its table and size.
 */
typedef int (*dbs_codec_emit_fn)(void *ctx, uint32_t partition, const dbs_buf *msg,
                                 const dbs_position *last, char *err, size_t errlen);
DBS_API int dbs_codec_slice(dbs_codec_buf *buf, const dbs_batch *batch, uint32_t partitions,
                            size_t max_bytes, const char *stream_id, dbs_codec_emit_fn emit,
                            void *ctx, char *err, size_t errlen);

/* What a decoded header says, for the caller's checks. */
typedef struct dbs_codec_header {
	unsigned version;
	unsigned flags;
	char stream_id[DBS_CODEC_MAX_STREAM_ID + 1];
	uint64_t seq;
	uint32_t nevents;
	uint32_t ntables;
} dbs_codec_header;

/*
 * Decoder state: a cache of the tables already seen, keyed by (schema,
 * name, version) and checked against the full definition on every hit, so
 * batches decoded one after another share one dbs_table each.
 */
typedef struct dbs_codec_decoder dbs_codec_decoder;

DBS_API int dbs_codec_decoder_new(dbs_codec_decoder **out);
DBS_API void dbs_codec_decoder_free(dbs_codec_decoder *dec);

/*
 * Decode one message. On success *out is a new batch (caller frees; NULL
 * for an end-of-stream marker) whose seq is the header's, and *header (if
 * not NULL) is filled. Malformed bytes return DBS_EPROTO with the reason
 * and byte offset in err; DBS_ENOMEM on allocation failure. `dec` may be
 * NULL (no table sharing across calls).
 */
DBS_API int dbs_codec_decode(dbs_codec_decoder *dec, const void *data, size_t len,
                             dbs_batch **out, dbs_codec_header *header, char *err,
                             size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
