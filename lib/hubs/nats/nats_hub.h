/*
 * The NATS hub's own declarations, shared by its files: nats.c
 * (connections, the JetStream stream and consumers, open and close; its
 * opening comment says how the hub works), publish.c (the publisher),
 * fetch.c (the fetcher) and acks.c (acknowledgements between the parts
 * of a stream, and the source part's resume position).
 */
#ifndef DBS_HUBS_NATS_NATS_HUB_H
#define DBS_HUBS_NATS_NATS_HUB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/codec.h>

/* The plugin (nats.c); the built-in list names it. */
extern const dbs_hub_ops dbs__nats_hub_ops;

/* The hub section's own keys (the plugin's option rows, nats.c). */
typedef struct dbs_nats_settings {
	const char *url;         /* server URL(s), user:password@ allowed */
	const char *credentials; /* credentials file (JWT + NKey seed) */
	const char *tls_ca;      /* CA file to verify the server (implies TLS) */
	const char *tls_cert;    /* client certificate and key for mutual TLS */
	const char *tls_key;
} dbs_nats_settings;

/* Unconsumed bytes the JetStream stream may hold; beyond, publishes fail
 * rather than the oldest changes being discarded. The server reserves it
 * from its max_file_store for every stream. */
#define STREAM_MAX_BYTES (128LL * 1024 * 1024)
/* The publisher waits while the stream holds more than this (the target
 * is behind), checking at least every CHECK_EVERY_BYTES published, so the
 * hard limit above is a last resort, not the back-pressure. */
#define STREAM_HIGH_WATER (STREAM_MAX_BYTES / 2)
#define CHECK_EVERY_BYTES (8u * 1024 * 1024)
/* How long JetStream remembers message ids to drop re-publishes. */
#define DUPLICATE_WINDOW_NS (2LL * 60 * 1000000000LL)
/* A fetched batch not acked within this time is delivered again. */
#define ACK_WAIT_NS (60LL * 1000000000LL)
/* In one process the writer pulls several batches at a time: a restart
 * there purges the stream and replays from the checkpoint. A writer
 * running apart keeps one unacked batch: killed with a batch in hand, its
 * successor gets that batch back (after the ack wait) before any later
 * one, so nothing lands behind its checkpoint and gets skipped. */
#define MAX_ACK_PENDING FETCH_BATCH
#define MAX_ACK_PENDING_APART 1
/* Async publishes in flight when the config says nothing. */
#define DEFAULT_IN_FLIGHT 256
/* How long a published message may wait for JetStream's ack. */
#define PUBLISH_ACK_WAIT_MS 10000
/* Messages asked for per pull request, and the bytes they may add up to. */
#define FETCH_BATCH 16
#define FETCH_MAX_BYTES (32LL * 1024 * 1024)
/* Room left under max_payload for the headers (message id). */
#define HEADER_ROOM 512
/* The wake-up period the hub contract asks for. */
#define WAKE_MS 200
#define NAME_MAX_LEN 256
/* How long close_publish waits for JetStream to confirm what is in flight. */
#define CLOSE_WAIT_NS (30LL * 1000000000LL)
/* hub.partitions is bounded by the configuration to this. */
#define MAX_PARTITIONS 64
/* Bytes of one acknowledgement message (docs/hub-format.md). */
#define ACK_MSG_LEN 48
/* Version 1 of it, without the GTID. */
#define ACK_MSG_V1_LEN 32

typedef struct fetched {
	dbs_batch *batch;
	natsMsg *msg;
} fetched;

typedef struct nats_hub {
	dbs_hub base;
	const dbs_host *host;
	char stream[NAME_MAX_LEN];      /* JetStream stream: DBS_<id> */
	char subject[NAME_MAX_LEN];     /* batches: dbs.<id>.batches */
	char end_subject[NAME_MAX_LEN]; /* end-of-stream marker: dbs.<id>.end */
	char filter[NAME_MAX_LEN];      /* dbs.<id>.* */
	char durable[NAME_MAX_LEN];     /* DBS_<id>_writer (one partition) */
	char acks_subject[NAME_MAX_LEN]; /* dbs.<id>.acks */
	char pos_bucket[NAME_MAX_LEN];  /* key-value bucket of the source part: DBS_<id>_pos */
	uint32_t partitions;            /* >= 1 */
	unsigned part;                  /* dbs_hub_part */
	uint32_t partition;             /* the fetcher's partition */

	/* publisher side (source thread) */
	natsConnection *pub_nc;
	jsCtx *pub_js;
	dbs_codec_buf buf;
	size_t max_message;
	size_t since_check; /* bytes published since the stream's fill was read */
	int publish_closed;
	pthread_mutex_t pub_err_lock; /* guards pub_failed and pub_err (cnats thread writes) */
	int pub_failed;
	char pub_err[512];
	char session[20];    /* this publisher's id in the Dbs-Pub header */
	uint64_t pub_count[MAX_PARTITIONS]; /* messages published per partition */
	/* Part SOURCE: what was published and what writers committed. */
	natsSubscription *ack_sub;
	pthread_mutex_t ack_lock; /* guards the fields below (cnats thread writes) */
	struct sent {
		uint32_t partition;
		int batch_end;       /* the last message of a source batch */
		dbs_position pos;    /* the message's last event */
		dbs_position batch_pos; /* with batch_end: the batch's last event */
	} *sent;                 /* ring of published messages, oldest first */
	size_t sent_head, sent_len, sent_cap;
	dbs_position part_acked[MAX_PARTITIONS];
	uint8_t part_has_ack[MAX_PARTITIONS];
	/* Part SOURCE: the stored resume position (the opening thread, then
	 * the acker thread only). */
	kvStore *pos_kv;
	dbs_position stored;
	int has_stored;

	/* fetcher side (target thread) */
	natsConnection *sub_nc;
	jsCtx *sub_js;
	natsSubscription *sub;
	dbs_codec_decoder *dec;
	int fetch_batch;
	atomic_int dropped;  /* set by cnats's thread: the client dropped messages */
	natsMsgList pending; /* fetched from the server, not yet handed out */
	int pending_next;
	fetched *unacked; /* handed out, not yet acked, oldest first */
	uint32_t nunacked, unacked_cap;
	int drained; /* 1: end marker seen; -1: it said the publisher failed */
	char seen_session[20]; /* Dbs-Pub of the last message fetched */
	uint64_t seen_count;

	/* Connection health: since when a connection has been reconnecting
	 * (monotonic ns, 0 while both are up). Written by watch_connections
	 * on the one thread that polls (fetch, or acked in a source part),
	 * read by publish on the source thread. */
	atomic_int_fast64_t down_since;
} nats_hub;

/* Header naming the publisher session and the message's number in its
 * partition: a hole in the numbers is a message the server lost. */
#define PUB_HEADER "Dbs-Pub"

/* ---- nats.c: connections and names ---- */

/* Subject of partition p's batches (end = 0) or end markers (end = 1),
 * durable and filter of its consumer. One partition keeps the names of
 * the format's first version. */
void dbs__nats_subject(const nats_hub *h, uint32_t p, int end, char *buf, size_t size);
/* "nats hub: <what>: <cnats status and JetStream error>" into err. */
void dbs__nats_fail(char *err, size_t errlen, const char *what, natsStatus s, jsErrCode jerr);
/*
 * cnats reconnects by itself (forever); the hub reports what it sees to
 * the host each time the core polls it (fetch, or acked in a source part:
 * every 100 ms at least).
 */
void dbs__nats_watch_connections(nats_hub *h);
/* Any thread: the outage outlasted reconnect.giveUpAfter. */
int dbs__nats_outage_expired(nats_hub *h, char *err, size_t errlen);

/* ---- publish.c: the publisher (source thread) ---- */

/* The vtable's publish and close_publish (dbstreams/plugin.h). */
int dbs__nats_publish(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen);
void dbs__nats_close_publish(dbs_hub *hub);

/* ---- fetch.c: the fetcher (target thread) ---- */

/* The next message fetched from the server and not handed out yet. */
natsMsg *dbs__nats_next_pending(nats_hub *h);
/* The vtable's fetch and ack (dbstreams/plugin.h). */
int dbs__nats_fetch(dbs_hub *hub, dbs_batch **out, int timeout_ms, char *err, size_t errlen);
int dbs__nats_ack(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen);

/* ---- acks.c: acknowledgements and the resume position ---- */

/* cnats's thread: a writer committed up to a position of its partition. */
void dbs__nats_on_ack(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
/* The acknowledgement of one committed batch (docs/hub-format.md). */
void dbs__nats_publish_ack(nats_hub *h, const dbs_position *pos);
/* Part SOURCE: remember a published message until a writer acks it. */
int dbs__nats_remember_sent(nats_hub *h, uint32_t p, const dbs_position *pos);
/* Part SOURCE: the batch just published ends with the newest message. */
void dbs__nats_remember_batch_end(nats_hub *h, const dbs_position *last);
/* Part SOURCE: the bucket of the resume position, and what it holds. */
int dbs__nats_open_position_store(nats_hub *h, char *err, size_t errlen);
/* The vtable's acked, resume_point and keep_resume_point
 * (dbstreams/plugin.h). */
int dbs__nats_acked(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen);
int dbs__nats_resume_point(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen);
int dbs__nats_keep_resume_point(dbs_hub *hub, const dbs_position *pos, char *err,
                                size_t errlen);

#endif
