/*
 * The NATS JetStream hub: batches travel as messages of the hub wire
 * format (lib/core/codec.h, docs/hub-format.md) through one JetStream
 * stream per dbstreams stream, and come out of one durable pull consumer.
 *
 * The publisher and the fetcher each have their own connection: a busy
 * subscriber sharing the publisher's connection trips "slow consumer".
 * The publisher side (pub_*) is touched only by the source thread and the
 * fetcher side (sub_*, pending, unacked) only by the target thread, so the
 * two halves can later be opened alone in separate processes.
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
#define MAX_ACK_PENDING 1024
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
	char durable[NAME_MAX_LEN];     /* DBS_<id>_writer */

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
} nats_hub;

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

static int connect_side(nats_hub *h, const char *url, const char *name, natsConnection **nc,
                        jsCtx **js, int in_flight, char *err, size_t errlen)
{
	natsOptions *opts = NULL;
	natsStatus s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, url);
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
static int ensure_stream(nats_hub *h, jsCtx *js, char *err, size_t errlen)
{
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	const char *subjects[2] = {h->subject, h->end_subject};
	sc.Name = h->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 2;
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
	if (s != NATS_OK && jerr != JSStreamNameExistErr) {
		fail_nats(err, errlen, "create JetStream stream", s, jerr);
		return DBS_EHUB;
	}

	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = h->durable;
	cc.AckPolicy = js_AckExplicit;
	cc.DeliverPolicy = js_DeliverAll;
	cc.AckWait = ACK_WAIT_NS;
	cc.MaxAckPending = MAX_ACK_PENDING;
	cc.FilterSubject = h->filter;
	jsConsumerInfo *ci = NULL;
	jerr = 0;
	s = js_AddConsumer(&ci, js, h->stream, &cc, NULL, &jerr);
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
static int delete_end_markers(nats_hub *h, char *err, size_t errlen)
{
	for (int i = 0; i < 1000; i++) {
		natsMsg *m = NULL;
		jsErrCode jerr = 0;
		natsStatus s = js_GetLastMsg(&m, h->pub_js, h->stream, h->end_subject, NULL, &jerr);
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

/* The source side: its connection, the JetStream stream, stale markers. */
static int open_publisher(nats_hub *h, const dbs_hub_config *config, char *err, size_t errlen)
{
	int in_flight = config->capacity
	                    ? (int)(config->capacity > 65536 ? 65536 : config->capacity)
	                    : DEFAULT_IN_FLIGHT;
	int rc;
	if ((rc = connect_side(h, config->url, "dbstreams publisher", &h->pub_nc, &h->pub_js,
	                       in_flight, err, errlen)) != 0 ||
	    (rc = ensure_stream(h, h->pub_js, err, errlen)) != 0 ||
	    (rc = delete_end_markers(h, err, errlen)) != 0)
		return rc;
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
	if ((rc = connect_side(h, config->url, "dbstreams fetcher", &h->sub_nc, &h->sub_js, 0, err,
	                       errlen)) != 0 ||
	    (rc = ensure_stream(h, h->sub_js, err, errlen)) != 0)
		return rc;
	/* Keep one pull's worth of messages under the client's pending-bytes
	 * limit (64 MB), so the client never drops any as a slow consumer. */
	int64_t max_payload = natsConnection_GetMaxPayload(h->sub_nc);
	int64_t fit = max_payload > 0 ? FETCH_MAX_BYTES / max_payload : FETCH_BATCH;
	h->fetch_batch = fit < 1 ? 1 : fit > FETCH_BATCH ? FETCH_BATCH : (int)fit;
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
	h->base.ops = &dbs__nats_hub_ops;
	h->host = host;
	const char *id = host->stream_id;
	dbs__fmt(h->stream, sizeof h->stream, "DBS_%s", id);
	dbs__fmt(h->subject, sizeof h->subject, "dbs.%s.batches", id);
	dbs__fmt(h->end_subject, sizeof h->end_subject, "dbs.%s.end", id);
	dbs__fmt(h->filter, sizeof h->filter, "dbs.%s.*", id);
	dbs__fmt(h->durable, sizeof h->durable, "DBS_%s_writer", id);
	if (dbs__codec_decoder_new(&h->dec) != 0) {
		dbs__fmt(err, errlen, "nats hub: out of memory");
		goto fail;
	}

	/* Both halves in one process for now; a process that runs only the
	 * source side or only the target side will open just its half. */
	if ((rc = open_publisher(h, config, err, errlen)) != 0 ||
	    (rc = open_fetcher(h, config, err, errlen)) != 0)
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

/* FNV-1a: a digest that tells apart two slices ending at one position. */
static uint64_t digest(const uint8_t *p, size_t n)
{
	uint64_t x = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++)
		x = (x ^ p[i]) * 1099511628211ULL;
	return x;
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

/* Send buf as one message; 1 when the stream is stopping. */
static int send_message(nats_hub *h, const dbs_position *last, char *err, size_t errlen)
{
	char msg_id[96];
	jsPubOptions po;
	jsPubOptions_Init(&po);
	/* The same slice published again (after a crash) has the same id and
	 * is dropped by the duplicate window; the digest keeps apart slices
	 * that share a last position (events without positions). */
	dbs__fmt(msg_id, sizeof msg_id, "%016llx.%08x.%016llx", (unsigned long long)last->txn,
	         last->event, (unsigned long long)digest(h->buf.data, h->buf.len));
	po.MsgId = msg_id;
	/* Without a wait, an ack lost with a connection (server restart) is
	 * waited for forever and the batch silently missing; with it, the
	 * error handler fires and the stream fails with the reason. A resend
	 * here could land after later batches: order matters more, and the
	 * restart path (checkpoint, source replay, duplicate window) recovers. */
	po.MaxWait = PUBLISH_ACK_WAIT_MS;
	for (;;) {
		natsStatus s =
		    js_PublishAsync(h->pub_js, h->subject, h->buf.data, (int)h->buf.len, &po);
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

static int nats_publish(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	int rc = 0;
	uint32_t n = dbs_batch_count(batch), first = 0;
	if (h->publish_closed) {
		dbs__fmt(err, errlen, "nats hub: publish after close");
		rc = DBS_ESTATE;
		goto done;
	}
	if (publish_failed(h, err, errlen)) {
		rc = DBS_EHUB;
		goto done;
	}
	while (first < n) {
		uint32_t take = n - first;
		for (;;) {
			/* seq 0: the message id's digest must depend on the events only. */
			if ((rc = dbs__codec_encode(&h->buf, batch, first, take, h->host->stream_id,
			                            0, 0, err, errlen)) != 0)
				goto done;
			if (h->buf.len <= h->max_message)
				break;
			if (take == 1) {
				const dbs_event *ev = dbs_batch_event(batch, first);
				dbs__fmt(
				    err, errlen,
				    "nats hub: one event of %s.%s takes %zu bytes, over the "
				    "server's "
				    "max_payload (%zu usable); raise max_payload in nats-server",
				    ev->table->schema, ev->table->name, h->buf.len, h->max_message);
				rc = DBS_EHUB;
				goto done;
			}
			/* Shrink in proportion, a little more to converge fast. */
			uint64_t guess = (uint64_t)take * h->max_message / h->buf.len * 9 / 10;
			take = guess >= take ? take - 1 : guess ? (uint32_t)guess : 1;
		}
		if ((rc = wait_for_room(h, err, errlen)) != 0)
			goto done;
		h->since_check += h->buf.len;
		if ((rc = send_message(h, &dbs_batch_event(batch, first + take - 1)->pos, err,
		                       errlen)) != 0)
			goto done;
		first += take;
	}
done:
	dbs_batch_free(batch);
	return rc;
}

static void nats_close_publish(dbs_hub *hub)
{
	nats_hub *h = (nats_hub *)hub;
	char err[DBS_ERRMSG_MAX];
	if (h->publish_closed)
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
	jsErrCode jerr = 0;
	jsPubAck *ack = NULL;
	s = js_Publish(&ack, h->pub_js, h->end_subject, h->buf.data, (int)h->buf.len, NULL, &jerr);
	jsPubAck_Destroy(ack);
	if (s != NATS_OK) {
		fail_nats(err, sizeof err, "publish end-of-stream marker", s, jerr);
		h->host->log(h->host, DBS_LOG_ERROR, "%s", err);
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

/* The JetStream stream and its durable consumer stay: deleting them when a
 * dbstreams stream is removed is left to the stream stop (issue 4, later
 * part). Messages fetched but not acked are refused (nak) so the next
 * fetcher gets them at once instead of after the ack wait. */
static void nats_close(dbs_hub *hub)
{
	nats_hub *h = (nats_hub *)hub;
	if (!h)
		return;
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
	close_connection(h->pub_nc, h->pub_js);
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
};
