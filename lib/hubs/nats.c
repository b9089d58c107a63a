/*
 * The NATS JetStream hub: batches travel as messages of the hub wire
 * format (lib/core/codec.h, docs/hub-format.md) through one JetStream
 * stream per dbstreams stream, and come out of one durable pull consumer.
 *
 * The publisher and the fetcher each have their own connection: a busy
 * subscriber sharing the publisher's connection trips "slow consumer".
 * The publisher side (pub_*) is touched only by the source thread and the
 * fetcher side (sub_*, pending, unacked) only by the target thread, so the
 * two halves can be opened alone in separate processes (dbs_hub_config.part).
 *
 * Partitions: with hub.partitions N > 1 every event goes to the subjects
 * of partition hash(schema.table, key) % N, each with its own durable
 * consumer, so N writers (part TARGET, one partition each) share a stream
 * and every row's changes stay in order. Acknowledgements: a writer
 * publishes each committed batch's last position on dbs.<id>.acks (core
 * NATS); a publisher opened alone (part SOURCE) keeps the list of what it
 * published and reports, through `acked`, the newest position before
 * which every message is committed. See docs/nats.md.
 *
 * Resume of a source part: the acked position is also stored in the
 * key-value bucket DBS_<id>_pos, so a source part started again (after a
 * crash or a stop) resumes there. A binlog has no server-side cursor like
 * a PostgreSQL slot: without it, the changes made while the source part
 * was down would be skipped.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "core/codec.h"
#include "core/core.h"

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
	uint32_t *by_part;   /* scratch: batch event indexes grouped by partition */
	uint32_t by_part_cap;
	uint32_t part_count[MAX_PARTITIONS];
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

/* Subject of partition p's batches (end = 0) or end markers (end = 1),
 * durable and filter of its consumer. One partition keeps the names of
 * the format's first version. */
static void batch_subject(const nats_hub *h, uint32_t p, int end, char *buf, size_t size)
{
	const char *id = h->host->stream_id;
	if (h->partitions <= 1)
		dbs__fmt(buf, size, "dbs.%s.%s", id, end ? "end" : "batches");
	else
		dbs__fmt(buf, size, "dbs.%s.p%u.%s", id, p, end ? "end" : "batches");
}

static void consumer_names(const nats_hub *h, uint32_t p, char *durable, char *filter)
{
	const char *id = h->host->stream_id;
	if (h->partitions <= 1) {
		dbs__fmt(durable, NAME_MAX_LEN, "DBS_%s_writer", id);
		dbs__fmt(filter, NAME_MAX_LEN, "dbs.%s.*", id);
	} else {
		dbs__fmt(durable, NAME_MAX_LEN, "DBS_%s_w%u", id, p);
		dbs__fmt(filter, NAME_MAX_LEN, "dbs.%s.p%u.*", id, p);
	}
}

static void nats_close(dbs_hub *hub);

static void fail_nats(char *err, size_t errlen, const char *what, natsStatus s, jsErrCode jerr)
{
	natsStatus last = NATS_OK;
	const char *detail = nats_GetLastError(&last);
	if (jerr)
		dbs__fmt(err, errlen, "nats hub: %s: %s (JetStream error %d%s%s)", what,
		         natsStatus_GetText(s), (int)jerr, detail ? ": " : "",
		         detail ? detail : "");
	else
		dbs__fmt(err, errlen, "nats hub: %s: %s%s%s", what, natsStatus_GetText(s),
		         detail ? ": " : "", detail ? detail : "");
}

/* Stream ids become parts of subjects and JetStream names. */
static int valid_stream_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Called by cnats on its own thread when a publish was refused or timed out. */
static void on_publish_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	nats_hub *h = closure;
	pthread_mutex_lock(&h->pub_err_lock);
	if (!h->pub_failed) {
		h->pub_failed = 1;
		dbs__fmt(h->pub_err, sizeof h->pub_err, "nats hub: publish refused: %s (%d)",
		         pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err),
		         (int)pae->ErrCode);
	}
	pthread_mutex_unlock(&h->pub_err_lock);
}

/* cnats's thread: asynchronous errors of the fetcher's connection. */
static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
	(void)nc;
	(void)sub;
	if (s == NATS_SLOW_CONSUMER)
		atomic_store(&((nats_hub *)closure)->dropped, 1);
}

static int connect_side(nats_hub *h, const dbs_hub_config *config, const char *name,
                        natsConnection **nc, jsCtx **js, int in_flight, char *err, size_t errlen)
{
	natsOptions *opts = NULL;
	natsStatus s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, config->url);
	if (s == NATS_OK && config->credentials)
		s = natsOptions_SetUserCredentialsFromFiles(opts, config->credentials, NULL);
	if (s == NATS_OK && (config->tls_ca || config->tls_cert))
		s = natsOptions_SetSecure(opts, true);
	if (s == NATS_OK && config->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(opts, config->tls_ca);
	if (s == NATS_OK && config->tls_cert)
		s = natsOptions_LoadCertificatesChain(opts, config->tls_cert, config->tls_key);
	/* Ride out a server restart: keep reconnecting (each attempt 1 s
	 * apart) while the stream's own timeouts decide when to give up. */
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(opts, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, name);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, 5000);
	if (s == NATS_OK && !in_flight)
		s = natsOptions_SetErrorHandler(opts, on_async_error, h);
	if (s == NATS_OK)
		s = natsConnection_Connect(nc, opts);
	natsOptions_Destroy(opts);
	if (s != NATS_OK) {
		fail_nats(err, errlen, "connect", s, 0);
		return DBS_EHUB;
	}
	jsOptions jo;
	jsOptions_Init(&jo);
	if (in_flight) {
		jo.PublishAsync.MaxPending = in_flight;
		jo.PublishAsync.ErrHandler = on_publish_error;
		jo.PublishAsync.ErrHandlerClosure = h;
		jo.PublishAsync.StallWait = WAKE_MS;
	}
	if ((s = natsConnection_JetStream(js, *nc, &jo)) != NATS_OK) {
		fail_nats(err, errlen, "JetStream context", s, 0);
		return DBS_EHUB;
	}
	return 0;
}

/* Create the stream and the durable consumer, or take the existing ones. */
static int ensure_consumer(nats_hub *h, jsCtx *js, uint32_t p, char *err, size_t errlen);

/* Create the stream and the durable consumer(s) this side needs, or take
 * the existing ones: the publisher makes every partition's consumer so
 * that nothing it publishes waits for a writer that has not come yet. */
static int ensure_stream(nats_hub *h, jsCtx *js, int publisher, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	uint32_t nsub = 2 * h->partitions;
	char *names = calloc(nsub, NAME_MAX_LEN);
	const char **subjects = calloc(nsub, sizeof *subjects);
	if (!names || !subjects) {
		dbs__fmt(err, errlen, "nats hub: out of memory");
		goto done;
	}
	for (uint32_t i = 0; i < nsub; i++) {
		subjects[i] = names + (size_t)i * NAME_MAX_LEN;
		batch_subject(h, i / 2, (int)(i % 2), names + (size_t)i * NAME_MAX_LEN,
		              NAME_MAX_LEN);
	}
	sc.Name = h->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = (int)nsub;
	/* Work queue + discard-new: acked batches leave the stream, and a full
	 * stream stops the publisher instead of dropping unapplied changes. No
	 * age limit for the same reason. */
	sc.Retention = js_WorkQueuePolicy;
	sc.Discard = js_DiscardNew;
	sc.Storage = js_FileStorage;
	sc.MaxBytes = STREAM_MAX_BYTES;
	sc.Duplicates = DUPLICATE_WINDOW_NS;
	jsErrCode jerr = 0;
	jsStreamInfo *si = NULL;
	natsStatus s = js_AddStream(&si, js, &sc, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	rc = DBS_EHUB;
	if (s != NATS_OK && jerr != JSStreamNameExistErr) {
		fail_nats(err, errlen, "create JetStream stream", s, jerr);
		goto done;
	}
	rc = 0;
	for (uint32_t p = 0; p < h->partitions && rc == 0; p++)
		if (publisher || p == h->partition)
			rc = ensure_consumer(h, js, p, err, errlen);
done:
	free(names);
	free(subjects);
	return rc;
}

static int ensure_consumer(nats_hub *h, jsCtx *js, uint32_t p, char *err, size_t errlen)
{
	char durable[NAME_MAX_LEN], filter[NAME_MAX_LEN];
	consumer_names(h, p, durable, filter);
	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = durable;
	cc.AckPolicy = js_AckExplicit;
	cc.DeliverPolicy = js_DeliverAll;
	cc.AckWait = ACK_WAIT_NS;
	cc.MaxAckPending = h->part == DBS_HUB_PART_ALL ? MAX_ACK_PENDING : MAX_ACK_PENDING_APART;
	cc.FilterSubject = filter;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_AddConsumer(&ci, js, h->stream, &cc, NULL, &jerr);
	jsConsumerInfo_Destroy(ci);
	if (s != NATS_OK && jerr != JSConsumerNameExistErr) {
		fail_nats(err, errlen, "create durable consumer", s, jerr);
		return DBS_EHUB;
	}
	return 0;
}

/* A publisher starting (again) makes any end marker of an earlier run
 * stale: the fetcher must not stop at it. They are deleted one by one: a
 * purge filtered by subject also moved the durable consumer past unacked
 * batches on nats-server 2.9 (seen here). */
static int delete_end_markers_of(nats_hub *h, const char *end_subject, char *err, size_t errlen)
{
	for (int i = 0; i < 1000; i++) {
		natsMsg *m = NULL;
		jsErrCode jerr = 0;
		natsStatus s = js_GetLastMsg(&m, h->pub_js, h->stream, end_subject, NULL, &jerr);
		if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)
			return 0;
		if (s != NATS_OK) {
			fail_nats(err, errlen, "look for old end markers", s, jerr);
			return DBS_EHUB;
		}
		uint64_t seq = natsMsg_GetSequence(m);
		natsMsg_Destroy(m);
		s = js_DeleteMsg(h->pub_js, h->stream, seq, NULL, &jerr);
		if (s != NATS_OK) {
			fail_nats(err, errlen, "delete an old end marker", s, jerr);
			return DBS_EHUB;
		}
	}
	dbs__fmt(err, errlen, "nats hub: too many old end markers in %s", h->stream);
	return DBS_EHUB;
}

static int delete_end_markers(nats_hub *h, char *err, size_t errlen)
{
	int rc = 0;
	for (uint32_t p = 0; p < h->partitions && rc == 0; p++) {
		char subject[NAME_MAX_LEN];
		batch_subject(h, p, 1, subject, sizeof subject);
		rc = delete_end_markers_of(h, subject, err, errlen);
	}
	return rc;
}

/* An acknowledgement message, also the stored resume position
 * (docs/hub-format.md): 'A', version 1, partition (u16), event (u32),
 * txn, resume and txn_end (u64 each), little-endian. */
static void put_le(uint8_t *d, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		d[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *d, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static void ack_encode(uint8_t d[ACK_MSG_LEN], uint32_t partition, const dbs_position *pos)
{
	d[0] = 'A';
	d[1] = 2;
	put_le(d + 2, partition, 2);
	put_le(d + 4, pos->event, 4);
	put_le(d + 8, pos->txn, 8);
	put_le(d + 16, pos->resume, 8);
	put_le(d + 24, pos->txn_end, 8);
	put_le(d + 32, pos->gtid_domain, 4);
	put_le(d + 36, pos->gtid_server, 4);
	put_le(d + 40, pos->gtid_seq, 8);
}

/* 0 and the fields, or -1 when `d` is not an acknowledgement. Version 1
 * (32 bytes, no GTID) is still read: a writer or a stored position from
 * before version 2. */
static int ack_decode(const uint8_t *d, size_t len, uint32_t *partition, dbs_position *pos)
{
	if (!d || len < ACK_MSG_V1_LEN || d[0] != 'A' ||
	    !((d[1] == 1 && len == ACK_MSG_V1_LEN) || (d[1] == 2 && len == ACK_MSG_LEN)))
		return -1;
	*partition = (uint32_t)get_le(d + 2, 2);
	*pos = (dbs_position){.txn = get_le(d + 8, 8),
	                      .resume = get_le(d + 16, 8),
	                      .event = (uint32_t)get_le(d + 4, 4),
	                      .txn_end = (uint32_t)get_le(d + 24, 8)};
	if (d[1] == 2) {
		pos->gtid_domain = (uint32_t)get_le(d + 32, 4);
		pos->gtid_server = (uint32_t)get_le(d + 36, 4);
		pos->gtid_seq = get_le(d + 40, 8);
	}
	return 0;
}

/* cnats's thread: a writer committed up to a position of its partition. */
static void on_ack(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	nats_hub *h = closure;
	uint32_t p;
	dbs_position pos;
	if (ack_decode((const uint8_t *)natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
	               &p, &pos) == 0) {
		pthread_mutex_lock(&h->ack_lock);
		if (p < h->partitions &&
		    (!h->part_has_ack[p] || dbs_position_cmp(&pos, &h->part_acked[p]) > 0)) {
			h->part_acked[p] = pos;
			h->part_has_ack[p] = 1;
		}
		pthread_mutex_unlock(&h->ack_lock);
	}
	natsMsg_Destroy(msg);
}

/* The acknowledgement of one committed batch (docs/hub-format.md). */
static void publish_ack(nats_hub *h, const dbs_position *pos)
{
	uint8_t d[ACK_MSG_LEN];
	ack_encode(d, h->partition, pos);
	/* Lost acks cost nothing but delay: the next one covers them. */
	natsConnection_Publish(h->sub_nc, h->acks_subject, d, ACK_MSG_LEN);
}

/* Part SOURCE: remember a published message until a writer acks it. */
static int remember_sent(nats_hub *h, uint32_t p, const dbs_position *pos)
{
	int rc = 0;
	pthread_mutex_lock(&h->ack_lock);
	if (h->sent_len == h->sent_cap) {
		size_t cap = h->sent_cap ? h->sent_cap * 2 : 1024;
		struct sent *grown = cap <= SIZE_MAX / sizeof *grown ? malloc(cap * sizeof *grown) : NULL;
		if (!grown) {
			rc = DBS_ENOMEM;
			goto done;
		}
		for (size_t i = 0; i < h->sent_len; i++)
			grown[i] = h->sent[(h->sent_head + i) % h->sent_cap];
		free(h->sent);
		h->sent = grown;
		h->sent_cap = cap;
		h->sent_head = 0;
	}
	struct sent *e = &h->sent[(h->sent_head + h->sent_len) % h->sent_cap];
	e->partition = p;
	e->batch_end = 0;
	e->pos = *pos;
	h->sent_len++;
done:
	pthread_mutex_unlock(&h->ack_lock);
	return rc;
}

/* Part SOURCE: the batch just published ends with the newest message. */
static void remember_batch_end(nats_hub *h, const dbs_position *last)
{
	pthread_mutex_lock(&h->ack_lock);
	if (h->sent_len) {
		struct sent *e = &h->sent[(h->sent_head + h->sent_len - 1) % h->sent_cap];
		e->batch_end = 1;
		e->batch_pos = *last;
	}
	pthread_mutex_unlock(&h->ack_lock);
}

/* Keep `pos` as the source part's resume position. A failure only costs
 * a longer replay after a restart (the writers' checkpoints skip what
 * they applied), so it is logged, not fatal. */
static void store_position(nats_hub *h, const dbs_position *pos)
{
	if (!h->pos_kv || (h->has_stored && dbs_position_cmp(pos, &h->stored) <= 0))
		return;
	uint8_t d[ACK_MSG_LEN];
	ack_encode(d, 0, pos);
	natsStatus s = kvStore_Put(NULL, h->pos_kv, "source", d, ACK_MSG_LEN);
	if (s != NATS_OK) {
		h->host->log(h->host, DBS_LOG_WARN, "nats hub: store the resume position in %s: %s",
		             h->pos_bucket, natsStatus_GetText(s));
		return;
	}
	h->stored = *pos;
	h->has_stored = 1;
}

/*
 * cnats reconnects by itself (forever); the hub reports what it sees to
 * the host each time the core polls it (fetch, or acked in a source part:
 * every 100 ms at least).
 */
static void watch_connections(nats_hub *h)
{
	natsConnection *ncs[2] = {h->pub_nc, h->sub_nc};
	int down = 0;
	for (int i = 0; i < 2; i++)
		if (ncs[i] && natsConnection_Status(ncs[i]) == NATS_CONN_STATUS_RECONNECTING)
			down = 1;
	int64_t since = atomic_load(&h->down_since);
	if (!down) {
		if (since) {
			atomic_store(&h->down_since, 0);
			dbs__conn_restored(h->host);
			h->host->log(h->host, DBS_LOG_INFO, "nats hub: reconnected to the server");
		}
		return;
	}
	if (!since) {
		since = dbs__monotonic_ns();
		atomic_store(&h->down_since, since);
		dbs__conn_lost(h->host, "nats hub: connection to the server lost; reconnecting");
		h->host->log(h->host, DBS_LOG_WARN,
		             "nats hub: connection to the server lost; reconnecting");
	}
}

/* Any thread: the outage outlasted reconnect.giveUpAfter. */
static int outage_expired(nats_hub *h, char *err, size_t errlen)
{
	int64_t since = atomic_load(&h->down_since);
	if (!since || !dbs__reconnect_expired(h->host, since))
		return 0;
	dbs__reconnect_give_up_text(err, errlen, h->host, "nats hub", 0,
	                            "no NATS server answered at the hub's URL");
	return DBS_EHUB;
}

static int nats_acked(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	int moved = 0;
	(void)err;
	(void)errlen;
	watch_connections(h);
	pthread_mutex_lock(&h->ack_lock);
	/* Every message up to the front one committed: a position the source
	 * may forget. Partitions are acked independently, so the oldest
	 * message still pending anywhere holds the position back. A message's
	 * own last position is not such a position: the same batch's messages
	 * to later partitions, published after it, hold earlier events (a
	 * transaction's last event may go to partition 0 and the rest to
	 * partition 1). Only a whole batch committed moves the position. */
	while (h->sent_len) {
		struct sent *e = &h->sent[h->sent_head];
		if (!h->part_has_ack[e->partition] ||
		    dbs_position_cmp(&h->part_acked[e->partition], &e->pos) < 0)
			break;
		if (e->batch_end) {
			*pos = e->batch_pos;
			moved = 1;
		}
		h->sent_head = (h->sent_head + 1) % h->sent_cap;
		h->sent_len--;
	}
	pthread_mutex_unlock(&h->ack_lock);
	if (moved) {
		DBS_FAULT_POINT("nats.acked");
		store_position(h, pos);
		DBS_FAULT_POINT("nats.stored");
	}
	return moved;
}

/* Part SOURCE: the bucket of the resume position, and what it holds. */
static int open_position_store(nats_hub *h, char *err, size_t errlen)
{
	kvConfig kc;
	kvConfig_Init(&kc);
	kc.Bucket = h->pos_bucket;
	kc.History = 1;
	kc.StorageType = js_FileStorage;
	natsStatus s = js_CreateKeyValue(&h->pos_kv, h->pub_js, &kc);
	if (s != NATS_OK) {
		/* An existing bucket made with other settings is still ours. */
		s = js_KeyValue(&h->pos_kv, h->pub_js, h->pos_bucket);
		if (s != NATS_OK) {
			fail_nats(err, errlen, "open the resume position bucket", s, 0);
			return DBS_EHUB;
		}
	}
	kvEntry *e = NULL;
	s = kvStore_Get(&e, h->pos_kv, "source");
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK) {
		fail_nats(err, errlen, "read the resume position", s, 0);
		return DBS_EHUB;
	}
	uint32_t p;
	int bad = ack_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &p, &h->stored);
	kvEntry_Destroy(e);
	if (bad) {
		dbs__fmt(err, errlen,
		         "nats hub: the resume position in bucket %s is not in a known format",
		         h->pos_bucket);
		return DBS_EPROTO;
	}
	h->has_stored = 1;
	return 0;
}

static int nats_resume_point(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	(void)err;
	(void)errlen;
	if (!h->has_stored)
		return 0;
	*pos = h->stored;
	return 1;
}

/* Part SOURCE, no resume position kept yet: keep where the source starts,
 * before anything is published. Without it a source part killed before
 * any writer acknowledged resumed at the binlog's end, and what was
 * written meanwhile was lost. */
static int nats_keep_resume_point(dbs_hub *hub, const dbs_position *pos, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	if (!h->pos_kv) {
		dbs__fmt(err, errlen, "nats hub: no resume position bucket (not a source part)");
		return DBS_ESTATE;
	}
	if (h->has_stored)
		return 0;
	uint8_t d[ACK_MSG_LEN];
	ack_encode(d, 0, pos);
	natsStatus s = kvStore_Put(NULL, h->pos_kv, "source", d, ACK_MSG_LEN);
	if (s != NATS_OK) {
		fail_nats(err, errlen, "keep the source's start position", s, 0);
		return DBS_EHUB;
	}
	h->stored = *pos;
	h->has_stored = 1;
	return 0;
}

/* The source side: its connection, the JetStream stream, stale markers. */
static int open_publisher(nats_hub *h, const dbs_hub_config *config, char *err, size_t errlen)
{
	int in_flight = config->capacity
	                    ? (int)(config->capacity > 65536 ? 65536 : config->capacity)
	                    : DEFAULT_IN_FLIGHT;
	int rc;
	if ((rc = connect_side(h, config, "dbstreams publisher", &h->pub_nc, &h->pub_js,
	                       in_flight, err, errlen)) != 0 ||
	    (rc = ensure_stream(h, h->pub_js, 1, err, errlen)) != 0)
		return rc;
	dbs__fmt(h->session, sizeof h->session, "%016llx",
	         (unsigned long long)((uint64_t)dbs__now_ns() ^ ((uint64_t)(uintptr_t)h << 16)));
	/* In one process the source starts again from the target's
	 * checkpoint, so everything still in the stream will be published
	 * again: an earlier run's leftovers go, which also keeps a message
	 * the server lost (killed before it flushed) from being skipped over
	 * by the leftovers behind it. Apart, the source part resumes from its
	 * database and the writers' leftovers stay. */
	if (h->part == DBS_HUB_PART_ALL) {
		jsErrCode jerr = 0;
		natsStatus s = js_PurgeStream(h->pub_js, h->stream, NULL, &jerr);
		if (s != NATS_OK) {
			fail_nats(err, errlen, "purge an earlier run's batches", s, jerr);
			return DBS_EHUB;
		}
	}
	if ((rc = delete_end_markers(h, err, errlen)) != 0)
		return rc;
	if (h->part == DBS_HUB_PART_SOURCE) {
		natsStatus s = natsConnection_Subscribe(&h->ack_sub, h->pub_nc, h->acks_subject,
		                                        on_ack, h);
		if (s != NATS_OK) {
			fail_nats(err, errlen, "subscribe to acknowledgements", s, 0);
			return DBS_EHUB;
		}
		if ((rc = open_position_store(h, err, errlen)) != 0)
			return rc;
	}
	int64_t max_payload = natsConnection_GetMaxPayload(h->pub_nc);
	if (max_payload <= HEADER_ROOM * 2) {
		dbs__fmt(err, errlen, "nats hub: server max_payload %lld is too small",
		         (long long)max_payload);
		return DBS_EHUB;
	}
	h->max_message = (size_t)(max_payload - HEADER_ROOM);
	return 0;
}

/* The target side: its connection and the subscription bound to the
 * durable consumer (created here too, so either side may start first). */
static int open_fetcher(nats_hub *h, const dbs_hub_config *config, char *err, size_t errlen)
{
	int rc;
	if ((rc = connect_side(h, config, "dbstreams fetcher", &h->sub_nc, &h->sub_js, 0, err,
	                       errlen)) != 0 ||
	    (rc = ensure_stream(h, h->sub_js, 0, err, errlen)) != 0)
		return rc;
	/* Keep one pull's worth of messages under the client's pending-bytes
	 * limit (64 MB), so the client never drops any as a slow consumer. */
	int64_t max_payload = natsConnection_GetMaxPayload(h->sub_nc);
	int64_t fit = max_payload > 0 ? FETCH_MAX_BYTES / max_payload : FETCH_BATCH;
	h->fetch_batch = fit < 1 ? 1 : fit > FETCH_BATCH ? FETCH_BATCH : (int)fit;
	/* A pull for more than the consumer lets out would wait its timeout. */
	if (h->part != DBS_HUB_PART_ALL)
		h->fetch_batch = MAX_ACK_PENDING_APART;
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = h->stream;
	so.Consumer = h->durable; /* bind: the durable outlives this subscription */
	jsErrCode jerr = 0;
	natsStatus s =
	    js_PullSubscribe(&h->sub, h->sub_js, h->filter, h->durable, NULL, &so, &jerr);
	if (s != NATS_OK) {
		fail_nats(err, errlen, "bind to durable consumer", s, jerr);
		return DBS_EHUB;
	}
	return 0;
}

static int nats_open(dbs_hub **out, const dbs_hub_config *config, const dbs_host *host, char *err,
                     size_t errlen)
{
	int rc = DBS_EINVAL;
	nats_hub *h = NULL;
	*out = NULL;
	if (!config || !config->url || !*config->url) {
		dbs__fmt(err, errlen, "nats hub: hub.url is required (nats://host:4222)");
		goto fail;
	}
	if (!host || !valid_stream_id(host->stream_id)) {
		dbs__fmt(err, errlen, "nats hub: stream id must be 1-64 letters, digits, _ or -");
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(h = calloc(1, sizeof *h))) {
		dbs__fmt(err, errlen, "nats hub: out of memory");
		goto fail;
	}
	pthread_mutex_init(&h->pub_err_lock, NULL);
	pthread_mutex_init(&h->ack_lock, NULL);
	h->base.ops = &dbs__nats_hub_ops;
	h->host = host;
	h->partitions = config->partitions ? config->partitions : 1;
	h->part = config->part;
	h->partition = config->partition;
	if (h->partitions > MAX_PARTITIONS || h->part > DBS_HUB_PART_TARGET ||
	    h->partition >= h->partitions) {
		dbs__fmt(err, errlen, "nats hub: partition %u of %u (at most %d) out of range",
		         h->partition, h->partitions, MAX_PARTITIONS);
		rc = DBS_EINVAL;
		goto fail;
	}
	const char *id = host->stream_id;
	dbs__fmt(h->stream, sizeof h->stream, "DBS_%s", id);
	batch_subject(h, h->partition, 0, h->subject, sizeof h->subject);
	batch_subject(h, h->partition, 1, h->end_subject, sizeof h->end_subject);
	consumer_names(h, h->partition, h->durable, h->filter);
	dbs__fmt(h->acks_subject, sizeof h->acks_subject, "dbs.%s.acks", id);
	dbs__fmt(h->pos_bucket, sizeof h->pos_bucket, "DBS_%s_pos", id);
	if (dbs__codec_decoder_new(&h->dec) != 0) {
		dbs__fmt(err, errlen, "nats hub: out of memory");
		goto fail;
	}

	if ((h->part != DBS_HUB_PART_TARGET && (rc = open_publisher(h, config, err, errlen)) != 0) ||
	    (h->part != DBS_HUB_PART_SOURCE && (rc = open_fetcher(h, config, err, errlen)) != 0))
		goto fail;
	*out = &h->base;
	return 0;
fail:
	if (h)
		nats_close(&h->base);
	return rc;
}

static int publish_failed(nats_hub *h, char *err, size_t errlen)
{
	pthread_mutex_lock(&h->pub_err_lock);
	int failed = h->pub_failed;
	if (failed)
		dbs__fmt(err, errlen, "%s", h->pub_err);
	pthread_mutex_unlock(&h->pub_err_lock);
	return failed;
}

/* Back-pressure: wait while the stream holds more than the high-water
 * mark. 1 when the stream is stopping. */
static int wait_for_room(nats_hub *h, char *err, size_t errlen)
{
	if (h->since_check < CHECK_EVERY_BYTES)
		return 0;
	for (;;) {
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;
		natsStatus s = js_GetStreamInfo(&si, h->pub_js, h->stream, NULL, &jerr);
		if (s != NATS_OK) {
			fail_nats(err, errlen, "read the stream's fill", s, jerr);
			return DBS_EHUB;
		}
		uint64_t bytes = si->State.Bytes;
		jsStreamInfo_Destroy(si);
		if (bytes <= (uint64_t)STREAM_HIGH_WATER) {
			h->since_check = 0;
			return 0;
		}
		if (h->host->stopping(h->host))
			return 1;
		nats_Sleep(WAKE_MS / 2);
	}
}

/* Send buf as one message to partition p's `subject`; 1 when the stream
 * is stopping. */
static int send_message(nats_hub *h, uint32_t p, const char *subject, const dbs_position *last,
                        char *err, size_t errlen)
{
	char msg_id[128], pub[64];
	jsPubOptions po;
	jsPubOptions_Init(&po);
	/* The id names this message of this publisher: the duplicate window
	 * drops only a copy of the same send (a client retry). Events sent
	 * again (a source replaying after a reconnect) are new messages: the
	 * target's checkpoint skips them, and the numbering stays without
	 * holes, so that a hole means a message the server lost. */
	++h->pub_count[p];
	dbs__fmt(pub, sizeof pub, "%s.%llu", h->session, (unsigned long long)h->pub_count[p]);
	dbs__fmt(msg_id, sizeof msg_id, "%s.%u.%llu.%016llx.%08x", h->session, p,
	         (unsigned long long)h->pub_count[p], (unsigned long long)last->txn, last->event);
	po.MsgId = msg_id;
	/* Without a wait, an ack lost with a connection (server restart) is
	 * waited for forever and the batch silently missing; with it, the
	 * error handler fires and the stream fails with the reason. A resend
	 * here could land after later batches: order matters more, and the
	 * restart path (checkpoint, source replay, duplicate window) recovers. */
	po.MaxWait = PUBLISH_ACK_WAIT_MS;
	for (;;) {
		natsMsg *m = NULL;
		natsStatus s = natsMsg_Create(&m, subject, NULL, (const char *)h->buf.data,
		                              (int)h->buf.len);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, PUB_HEADER, pub);
		if (s == NATS_OK)
			s = js_PublishMsgAsync(h->pub_js, &m, &po);
		natsMsg_Destroy(m); /* NULL once the publish took it */
		if (s == NATS_OK)
			return 0;
		/* TIMEOUT: MaxPending publishes are in flight (back-pressure). */
		if (s != NATS_TIMEOUT) {
			fail_nats(err, errlen, "publish", s, 0);
			return DBS_EHUB;
		}
		if (publish_failed(h, err, errlen))
			return DBS_EHUB;
		if (h->host->stopping(h->host))
			return 1;
	}
}

/* Encode events [first, first+take) of the slice (the whole batch, or a
 * partition's index list) and shrink take until the message fits. */
static int encode_fitting(nats_hub *h, const dbs_batch *batch, const uint32_t *index,
                          uint32_t nindex, uint32_t first, uint32_t *take, char *err,
                          size_t errlen)
{
	int rc;
	for (;;) {
		/* seq 0: the message id's digest must depend on the events only. */
		rc = index ? dbs__codec_encode_list(&h->buf, batch, index, nindex, first, *take,
		                                    h->host->stream_id, 0, err, errlen)
		           : dbs__codec_encode(&h->buf, batch, first, *take, h->host->stream_id, 0,
		                               0, err, errlen);
		if (rc != 0 || h->buf.len <= h->max_message)
			return rc;
		if (*take == 1) {
			const dbs_event *ev = dbs_batch_event(batch, index ? index[first] : first);
			dbs__fmt(err, errlen,
			         "nats hub: one event of %s.%s takes %zu bytes, over the server's "
			         "max_payload (%zu usable); raise max_payload in nats-server",
			         ev->table->schema, ev->table->name, h->buf.len, h->max_message);
			return DBS_EHUB;
		}
		/* Shrink in proportion, a little more to converge fast. */
		uint64_t guess = (uint64_t)*take * h->max_message / h->buf.len * 9 / 10;
		*take = guess >= *take ? *take - 1 : guess ? (uint32_t)guess : 1;
	}
}

/* Publish one partition's events (index list, or the whole batch). */
static int publish_slices(nats_hub *h, const dbs_batch *batch, uint32_t p, const uint32_t *index,
                          uint32_t n, char *err, size_t errlen)
{
	char subject[NAME_MAX_LEN];
	uint32_t first = 0;
	int rc = 0;
	batch_subject(h, p, 0, subject, sizeof subject);
	while (first < n) {
		uint32_t take = n - first;
		if ((rc = encode_fitting(h, batch, index, n, first, &take, err, errlen)) != 0 ||
		    (rc = wait_for_room(h, err, errlen)) != 0)
			return rc;
		h->since_check += h->buf.len;
		uint32_t last = index ? index[first + take - 1] : first + take - 1;
		const dbs_position *pos = &dbs_batch_event(batch, last)->pos;
		if ((rc = send_message(h, p, subject, pos, err, errlen)) != 0)
			return rc;
		DBS_FAULT_POINT("nats.published");
		if (h->part == DBS_HUB_PART_SOURCE && remember_sent(h, p, pos) != 0) {
			dbs__fmt(err, errlen, "nats hub: out of memory");
			return DBS_ENOMEM;
		}
		first += take;
	}
	return 0;
}

/* Group the batch's event indexes by partition, commit order kept. */
static int split_by_partition(nats_hub *h, const dbs_batch *batch, uint32_t n, char *err,
                              size_t errlen)
{
	if (n > h->by_part_cap) {
		uint32_t *grown = realloc(h->by_part, (size_t)n * 2 * sizeof *grown);
		if (!grown) {
			dbs__fmt(err, errlen, "nats hub: out of memory");
			return DBS_ENOMEM;
		}
		h->by_part = grown;
		h->by_part_cap = n;
	}
	/* The second half of by_part holds each event's partition. */
	uint32_t *parts = h->by_part + h->by_part_cap;
	uint32_t start[MAX_PARTITIONS];
	memset(h->part_count, 0, sizeof h->part_count);
	for (uint32_t i = 0; i < n; i++) {
		parts[i] = dbs__codec_partition(dbs_batch_event(batch, i), h->partitions);
		h->part_count[parts[i]]++;
	}
	for (uint32_t p = 0, at = 0; p < h->partitions; p++) {
		start[p] = at;
		at += h->part_count[p];
	}
	for (uint32_t i = 0; i < n; i++)
		h->by_part[start[parts[i]]++] = i;
	return 0;
}

static int nats_publish(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	int rc = 0;
	uint32_t n = dbs_batch_count(batch);
	if (h->publish_closed || !h->pub_js) {
		dbs__fmt(err, errlen, "nats hub: publish after close or on a target part");
		rc = DBS_ESTATE;
		goto done;
	}
	if (publish_failed(h, err, errlen) || outage_expired(h, err, errlen)) {
		rc = DBS_EHUB;
		goto done;
	}
	if (h->partitions <= 1) {
		rc = publish_slices(h, batch, 0, NULL, n, err, errlen);
		goto done;
	}
	if ((rc = split_by_partition(h, batch, n, err, errlen)) != 0)
		goto done;
	for (uint32_t p = 0, at = 0; p < h->partitions && rc == 0; p++) {
		if (h->part_count[p])
			rc = publish_slices(h, batch, p, h->by_part + at, h->part_count[p], err,
			                    errlen);
		at += h->part_count[p];
	}
done:
	if (rc == 0 && n && h->part == DBS_HUB_PART_SOURCE)
		remember_batch_end(h, dbs_batch_last(batch));
	dbs_batch_free(batch);
	return rc;
}

static void nats_close_publish(dbs_hub *hub)
{
	nats_hub *h = (nats_hub *)hub;
	char err[DBS_ERRMSG_MAX];
	if (h->publish_closed || !h->pub_js)
		return;
	h->publish_closed = 1;
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = WAKE_MS;
	natsStatus s;
	/* Bounded: with the server gone the acks never come, and the marker
	 * below then reports the failure. */
	int64_t give_up = dbs__monotonic_ns() + CLOSE_WAIT_NS;
	while ((s = js_PublishAsyncComplete(h->pub_js, &po)) == NATS_TIMEOUT &&
	       !h->host->stopping(h->host) && dbs__monotonic_ns() < give_up)
		;
	unsigned flags = DBS_CODEC_END_OF_STREAM;
	if (s != NATS_OK) {
		h->host->log(h->host, DBS_LOG_ERROR,
		             "nats hub: publishes still unconfirmed at close: %s",
		             natsStatus_GetText(s));
		flags |= DBS_CODEC_PUBLISHER_FAILED;
	}
	if (publish_failed(h, err, sizeof err)) {
		h->host->log(h->host, DBS_LOG_ERROR, "%s", err);
		flags |= DBS_CODEC_PUBLISHER_FAILED;
	}
	/* The marker goes out even after a failure, saying so: the fetcher
	 * must neither wait forever nor take a stream with holes as complete. */
	if (dbs__codec_encode(&h->buf, NULL, 0, 0, h->host->stream_id, 0, flags, err, sizeof err) !=
	    0) {
		h->host->log(h->host, DBS_LOG_ERROR, "%s", err);
		return;
	}
	/* Every writer gets its own marker. */
	for (uint32_t p = 0; p < h->partitions; p++) {
		char subject[NAME_MAX_LEN];
		batch_subject(h, p, 1, subject, sizeof subject);
		jsErrCode jerr = 0;
		jsPubAck *ack = NULL;
		s = js_Publish(&ack, h->pub_js, subject, h->buf.data, (int)h->buf.len, NULL, &jerr);
		jsPubAck_Destroy(ack);
		if (s != NATS_OK) {
			fail_nats(err, sizeof err, "publish end-of-stream marker", s, jerr);
			h->host->log(h->host, DBS_LOG_ERROR, "%s", err);
		}
	}
}

static int remember(nats_hub *h, dbs_batch *batch, natsMsg *msg)
{
	if (h->nunacked == h->unacked_cap) {
		uint32_t cap = h->unacked_cap ? h->unacked_cap * 2 : 16;
		fetched *u = realloc(h->unacked, (size_t)cap * sizeof *u);
		if (!u)
			return DBS_ENOMEM;
		h->unacked = u;
		h->unacked_cap = cap;
	}
	h->unacked[h->nunacked].batch = batch;
	h->unacked[h->nunacked].msg = msg;
	h->nunacked++;
	return 0;
}

static natsMsg *next_pending(nats_hub *h)
{
	if (h->pending_next < h->pending.Count) {
		natsMsg *m = h->pending.Msgs[h->pending_next];
		h->pending.Msgs[h->pending_next++] = NULL;
		return m;
	}
	return NULL;
}

static int nats_fetch(dbs_hub *hub, dbs_batch **out, int timeout_ms, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	natsMsg *msg = NULL;
	dbs_batch *batch = NULL;
	int rc = 0;
	*out = NULL;
	if (!h->sub) {
		dbs__fmt(err, errlen, "nats hub: fetch on a source part");
		return DBS_ESTATE;
	}
	watch_connections(h);
	if ((rc = outage_expired(h, err, errlen)))
		return rc;
	if (h->drained < 0) {
		dbs__fmt(
		    err, errlen,
		    "nats hub: the publisher of %s failed (see the source's error); batches may "
		    "be missing",
		    h->stream);
		return DBS_EHUB;
	}
	if (atomic_load(&h->dropped)) {
		/* A dropped batch would come back after later ones: out of order. */
		dbs__fmt(err, errlen, "nats hub: the client dropped messages (slow consumer)");
		return DBS_EHUB;
	}
	if (h->drained)
		return 2;
	if (!(msg = next_pending(h))) {
		natsMsgList_Destroy(&h->pending);
		memset(&h->pending, 0, sizeof h->pending);
		h->pending_next = 0;
		jsErrCode jerr = 0;
		natsStatus s = natsSubscription_Fetch(&h->pending, h->sub, h->fetch_batch,
		                                      timeout_ms > 0 ? timeout_ms : 1, &jerr);
		/* Around a reconnect cnats 3.4.1 was seen returning a count past
		 * the messages it allocated (ASan, server killed mid-fetch): never
		 * read beyond what was asked for. */
		if (h->pending.Count > h->fetch_batch)
			h->pending.Count = h->fetch_batch;
		if (h->pending.Count > 0 && !h->pending.Msgs)
			h->pending.Count = 0;
		if (s == NATS_TIMEOUT)
			return 1;
		if (s != NATS_OK) {
			fail_nats(err, errlen, "fetch", s, jerr);
			return DBS_EHUB;
		}
		if (!(msg = next_pending(h)))
			return 1;
	}
	dbs_codec_header hdr;
	/* A message that does not decode stays unacked: JetStream redelivers
	 * it after the ack wait, and the stream fails here with the reason
	 * rather than skipping changes. */
	if ((rc =
	         dbs__codec_decode(h->dec, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
	                           &batch, &hdr, err, errlen)) != 0)
		goto fail;
	if (hdr.flags & DBS_CODEC_END_OF_STREAM) {
		natsMsg_Ack(msg, NULL);
		natsMsg_Destroy(msg);
		h->drained = (hdr.flags & DBS_CODEC_PUBLISHER_FAILED) ? -1 : 1;
		return nats_fetch(hub, out, timeout_ms, err, errlen);
	}
	const char *pub = NULL;
	if (natsMsgHeader_Get(msg, PUB_HEADER, &pub) == NATS_OK && pub) {
		const char *dot = strrchr(pub, '.');
		uint64_t n = dot ? strtoull(dot + 1, NULL, 10) : 0;
		size_t slen = dot ? (size_t)(dot - pub) : 0;
		int same = slen && slen < sizeof h->seen_session &&
		           strncmp(h->seen_session, pub, slen) == 0 && h->seen_session[slen] == '\0';
		if (same && n != h->seen_count + 1 && n > h->seen_count) {
			/* Not acked: the stream fails here, before anything past the
			 * hole is applied, and a restart publishes the lost ones again. */
			dbs__fmt(err, errlen,
			         "nats hub: messages %llu to %llu of publisher %.*s are missing from %s "
			         "(the NATS server lost them, e.g. killed before it wrote them out); "
			         "restart the stream to publish them again",
			         (unsigned long long)h->seen_count + 1, (unsigned long long)n - 1,
			         (int)slen, pub, h->stream);
			rc = DBS_EHUB;
			goto fail;
		}
		if (slen && slen < sizeof h->seen_session) {
			memcpy(h->seen_session, pub, slen);
			h->seen_session[slen] = '\0';
			if (n > h->seen_count || !same)
				h->seen_count = n;
		}
	}
	jsMsgMetaData *meta = NULL;
	if (natsMsg_GetMetaData(&meta, msg) == NATS_OK)
		dbs_batch_set_seq(batch, meta->Sequence.Stream);
	jsMsgMetaData_Destroy(meta);
	if ((rc = remember(h, batch, msg)) != 0) {
		dbs__fmt(err, errlen, "nats hub: out of memory");
		goto fail;
	}
	*out = batch;
	return 0;
fail:
	dbs_batch_free(batch);
	natsMsg_Destroy(msg);
	return rc;
}

static int nats_ack(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	int rc = DBS_EINVAL;
	uint32_t i = 0;
	while (i < h->nunacked && h->unacked[i].batch != batch)
		i++;
	if (i == h->nunacked) {
		dbs__fmt(err, errlen, "nats hub: ack of a batch this hub did not hand out");
		goto done;
	}
	natsMsg *msg = h->unacked[i].msg;
	memmove(&h->unacked[i], &h->unacked[i + 1], (h->nunacked - i - 1) * sizeof *h->unacked);
	h->nunacked--;
	natsStatus s = natsMsg_Ack(msg, NULL);
	natsMsg_Destroy(msg);
	if (s == NATS_OK && h->part == DBS_HUB_PART_TARGET && dbs_batch_count(batch))
		publish_ack(h, dbs_batch_last(batch));
	if (s != NATS_OK) {
		/* Unacked, the batch comes again: the target's checkpoint skips it. */
		fail_nats(err, errlen, "ack", s, 0);
		rc = DBS_EHUB;
		goto done;
	}
	rc = 0;
done:
	dbs_batch_free(batch);
	return rc;
}

static void close_connection(natsConnection *nc, jsCtx *js)
{
	jsCtx_Destroy(js);
	if (nc) {
		natsConnection_Close(nc);
		natsConnection_Destroy(nc);
	}
}

/* A writer that drained its partition to a clean end marker deletes its
 * durable consumer, and the last one gone deletes the JetStream stream:
 * the source stopped (the stream was deleted or ended) and everything in
 * it is applied. A restart on the same id starts afresh, safely: the
 * source resumes from its confirmed position and the target's checkpoint
 * skips what it applied. */
static void remove_drained(nats_hub *h)
{
	jsErrCode jerr = 0;
	natsStatus s = js_DeleteConsumer(h->sub_js, h->stream, h->durable, NULL, &jerr);
	if (s != NATS_OK && jerr != JSConsumerNotFoundErr) {
		h->host->log(h->host, DBS_LOG_WARN, "nats hub: delete consumer %s: %s", h->durable,
		             natsStatus_GetText(s));
		return;
	}
	jsStreamInfo *si = NULL;
	s = js_GetStreamInfo(&si, h->sub_js, h->stream, NULL, &jerr);
	if (s != NATS_OK)
		return;
	int last = si->State.Consumers == 0;
	jsStreamInfo_Destroy(si);
	if (last && js_DeleteStream(h->sub_js, h->stream, NULL, &jerr) == NATS_OK)
		h->host->log(h->host, DBS_LOG_INFO, "nats hub: JetStream stream %s removed",
		             h->stream);
}

/* Until drained, the JetStream stream and its durable consumers stay for
 * the next run. Messages fetched but not acked are refused (nak) so the
 * next fetcher gets them at once instead of after the ack wait. */
static void nats_close(dbs_hub *hub)
{
	nats_hub *h = (nats_hub *)hub;
	if (!h)
		return;
	/* Drained to a clean end marker: the stream was stopped (a crash or
	 * a writer stopped alone never gets here) and everything is applied. */
	if (h->sub_js && h->drained == 1 && h->nunacked == 0)
		remove_drained(h);
	for (uint32_t i = 0; i < h->nunacked; i++) {
		natsMsg_Nak(h->unacked[i].msg, NULL); /* the batches belong to the caller */
		natsMsg_Destroy(h->unacked[i].msg);
	}
	free(h->unacked);
	natsMsg *msg;
	while ((msg = next_pending(h)) != NULL) {
		natsMsg_Nak(msg, NULL);
		natsMsg_Destroy(msg);
	}
	natsMsgList_Destroy(&h->pending);
	if (h->sub_nc)
		natsConnection_FlushTimeout(h->sub_nc, 1000);
	/* Destroy without Unsubscribe: the bound durable must survive. */
	natsSubscription_Destroy(h->sub);
	close_connection(h->sub_nc, h->sub_js);
	if (h->ack_sub) {
		natsSubscription_Unsubscribe(h->ack_sub);
		natsSubscription_Destroy(h->ack_sub);
	}
	kvStore_Destroy(h->pos_kv);
	close_connection(h->pub_nc, h->pub_js);
	free(h->sent);
	free(h->by_part);
	pthread_mutex_destroy(&h->ack_lock);
	dbs__codec_buf_free(&h->buf);
	dbs__codec_decoder_free(h->dec);
	pthread_mutex_destroy(&h->pub_err_lock);
	free(h);
}

const dbs_hub_ops dbs__nats_hub_ops = {
    .version = DBS_HUB_OPS_VERSION,
    .name = "nats",
    .open = nats_open,
    .publish = nats_publish,
    .close_publish = nats_close_publish,
    .fetch = nats_fetch,
    .ack = nats_ack,
    .close = nats_close,
    .acked = nats_acked,
    .resume_point = nats_resume_point,
    .keep_resume_point = nats_keep_resume_point,
};
