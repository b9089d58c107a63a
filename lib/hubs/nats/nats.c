/*
 * The NATS JetStream hub: batches travel as messages of the hub wire
 * format (dbstreams/sys/codec.h, docs/hub-format.md) through one JetStream
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

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "hubs/nats/nats_hub.h"

static void nats_close(dbs_hub *hub);
static int ensure_consumer(nats_hub *h, jsCtx *js, uint32_t p, char *err, size_t errlen);

/* Subject of partition p's batches (end = 0) or end markers (end = 1),
 * durable and filter of its consumer. One partition keeps the names of
 * the format's first version. */
void dbs__nats_subject(const nats_hub *h, uint32_t p, int end, char *buf, size_t size)
{
	const char *id = h->host->stream_id;
	if (h->partitions <= 1)
		dbs_fmt(buf, size, "dbs.%s.%s", id, end ? "end" : "batches");
	else
		dbs_fmt(buf, size, "dbs.%s.p%u.%s", id, p, end ? "end" : "batches");
}

static void consumer_names(const nats_hub *h, uint32_t p, char *durable, char *filter)
{
	const char *id = h->host->stream_id;
	if (h->partitions <= 1) {
		dbs_fmt(durable, NAME_MAX_LEN, "DBS_%s_writer", id);
		dbs_fmt(filter, NAME_MAX_LEN, "dbs.%s.*", id);
	} else {
		dbs_fmt(durable, NAME_MAX_LEN, "DBS_%s_w%u", id, p);
		dbs_fmt(filter, NAME_MAX_LEN, "dbs.%s.p%u.*", id, p);
	}
}

void dbs__nats_fail(char *err, size_t errlen, const char *what, natsStatus s, jsErrCode jerr)
{
	natsStatus last = NATS_OK;
	const char *detail = nats_GetLastError(&last);
	if (jerr)
		dbs_fmt(err, errlen, "nats hub: %s: %s (JetStream error %d%s%s)", what,
		         natsStatus_GetText(s), (int)jerr, detail ? ": " : "",
		         detail ? detail : "");
	else
		dbs_fmt(err, errlen, "nats hub: %s: %s%s%s", what, natsStatus_GetText(s),
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
		dbs_fmt(h->pub_err, sizeof h->pub_err, "nats hub: publish refused: %s (%d)",
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

static int connect_side(nats_hub *h, const dbs_hub_config *hub, const char *name,
                        natsConnection **nc, jsCtx **js, int in_flight, char *err, size_t errlen)
{
	const dbs_nats_settings *config = hub->settings;
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
		dbs__nats_fail(err, errlen, "connect", s, 0);
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
		dbs__nats_fail(err, errlen, "JetStream context", s, 0);
		return DBS_EHUB;
	}
	return 0;
}

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
		dbs_fmt(err, errlen, "nats hub: out of memory");
		goto done;
	}
	for (uint32_t i = 0; i < nsub; i++) {
		subjects[i] = names + (size_t)i * NAME_MAX_LEN;
		dbs__nats_subject(h, i / 2, (int)(i % 2), names + (size_t)i * NAME_MAX_LEN,
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
		dbs__nats_fail(err, errlen, "create JetStream stream", s, jerr);
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
		dbs__nats_fail(err, errlen, "create durable consumer", s, jerr);
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
			dbs__nats_fail(err, errlen, "look for old end markers", s, jerr);
			return DBS_EHUB;
		}
		uint64_t seq = natsMsg_GetSequence(m);
		natsMsg_Destroy(m);
		s = js_DeleteMsg(h->pub_js, h->stream, seq, NULL, &jerr);
		if (s != NATS_OK) {
			dbs__nats_fail(err, errlen, "delete an old end marker", s, jerr);
			return DBS_EHUB;
		}
	}
	dbs_fmt(err, errlen, "nats hub: too many old end markers in %s", h->stream);
	return DBS_EHUB;
}

static int delete_end_markers(nats_hub *h, char *err, size_t errlen)
{
	int rc = 0;
	for (uint32_t p = 0; p < h->partitions && rc == 0; p++) {
		char subject[NAME_MAX_LEN];
		dbs__nats_subject(h, p, 1, subject, sizeof subject);
		rc = delete_end_markers_of(h, subject, err, errlen);
	}
	return rc;
}

/*
 * cnats reconnects by itself (forever); the hub reports what it sees to
 * the host each time the core polls it (fetch, or acked in a source part:
 * every 100 ms at least).
 */
void dbs__nats_watch_connections(nats_hub *h)
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
			dbs_report_connection_restored(h->host);
			h->host->log(h->host, DBS_LOG_INFO, "nats hub: reconnected to the server");
		}
		return;
	}
	if (!since) {
		since = dbs_time_monotonic_ns();
		atomic_store(&h->down_since, since);
		dbs_report_connection_lost(h->host, "nats hub: connection to the server lost; reconnecting");
		h->host->log(h->host, DBS_LOG_WARN,
		             "nats hub: connection to the server lost; reconnecting");
	}
}

/* Any thread: the outage outlasted reconnect.giveUpAfter. */
int dbs__nats_outage_expired(nats_hub *h, char *err, size_t errlen)
{
	int64_t since = atomic_load(&h->down_since);
	if (!since || !dbs_reconnect_expired(h->host, since))
		return 0;
	dbs_reconnect_give_up_text(err, errlen, h->host, "nats hub", 0,
	                            "no NATS server answered at the hub's URL");
	return DBS_EHUB;
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
	dbs_fmt(h->session, sizeof h->session, "%016llx",
	         (unsigned long long)((uint64_t)dbs_time_now_ns() ^ ((uint64_t)(uintptr_t)h << 16)));
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
			dbs__nats_fail(err, errlen, "purge an earlier run's batches", s, jerr);
			return DBS_EHUB;
		}
	}
	if ((rc = delete_end_markers(h, err, errlen)) != 0)
		return rc;
	if (h->part == DBS_HUB_PART_SOURCE) {
		natsStatus s = natsConnection_Subscribe(&h->ack_sub, h->pub_nc, h->acks_subject,
		                                        dbs__nats_on_ack, h);
		if (s != NATS_OK) {
			dbs__nats_fail(err, errlen, "subscribe to acknowledgements", s, 0);
			return DBS_EHUB;
		}
		if ((rc = dbs__nats_open_position_store(h, err, errlen)) != 0)
			return rc;
	}
	int64_t max_payload = natsConnection_GetMaxPayload(h->pub_nc);
	if (max_payload <= HEADER_ROOM * 2) {
		dbs_fmt(err, errlen, "nats hub: server max_payload %lld is too small",
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
		dbs__nats_fail(err, errlen, "bind to durable consumer", s, jerr);
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
	const dbs_nats_settings *ns = config ? config->settings : NULL;
	if (!ns || !ns->url || !*ns->url) {
		dbs_fmt(err, errlen, "nats hub: hub.url is required (nats://host:4222)");
		goto fail;
	}
	if (!host || !valid_stream_id(host->stream_id)) {
		dbs_fmt(err, errlen, "nats hub: stream id must be 1-64 letters, digits, _ or -");
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(h = calloc(1, sizeof *h))) {
		dbs_fmt(err, errlen, "nats hub: out of memory");
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
		dbs_fmt(err, errlen, "nats hub: partition %u of %u (at most %d) out of range",
		         h->partition, h->partitions, MAX_PARTITIONS);
		rc = DBS_EINVAL;
		goto fail;
	}
	const char *id = host->stream_id;
	dbs_fmt(h->stream, sizeof h->stream, "DBS_%s", id);
	dbs__nats_subject(h, h->partition, 0, h->subject, sizeof h->subject);
	dbs__nats_subject(h, h->partition, 1, h->end_subject, sizeof h->end_subject);
	consumer_names(h, h->partition, h->durable, h->filter);
	dbs_fmt(h->acks_subject, sizeof h->acks_subject, "dbs.%s.acks", id);
	dbs_fmt(h->pos_bucket, sizeof h->pos_bucket, "DBS_%s_pos", id);
	if (dbs_codec_decoder_new(&h->dec) != 0) {
		dbs_fmt(err, errlen, "nats hub: out of memory");
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
	while ((msg = dbs__nats_next_pending(h)) != NULL) {
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
	pthread_mutex_destroy(&h->ack_lock);
	dbs_codec_buf_free(&h->buf);
	dbs_codec_decoder_free(h->dec);
	pthread_mutex_destroy(&h->pub_err_lock);
	free(h);
}

static int check_url(const char *v, const char *shown, char *why, size_t whylen)
{
	if (strncmp(v, "nats://", 7) == 0 || strncmp(v, "tls://", 6) == 0)
		return 0;
	dbs_fmt(why, whylen, "\"%s\" is not a NATS URL (expected nats://host:port)", shown);
	return 1;
}

#define SET(f) offsetof(dbs_nats_settings, f)

/* clang-format off */
static const dbs_option nats_options[] = {
	{.key = "url", .kind = DBS_OPTION_STRING,
	 .flags = DBS_OPTION_REQUIRED | DBS_OPTION_NONEMPTY | DBS_OPTION_CONNECTION,
	 .offset = SET(url), .check = check_url, .doc = "NATS server URL(s)"},
	{.key = "credentials", .kind = DBS_OPTION_STRING, .flags = DBS_OPTION_NONEMPTY,
	 .offset = SET(credentials), .doc = "NATS credentials file (JWT and NKey seed)"},
	{.key = "tlsCA", .kind = DBS_OPTION_STRING, .flags = DBS_OPTION_NONEMPTY,
	 .offset = SET(tls_ca), .doc = "CA file to verify the NATS server; turns TLS on"},
	{.key = "tlsCert", .kind = DBS_OPTION_STRING, .flags = DBS_OPTION_NONEMPTY,
	 .offset = SET(tls_cert), .doc = "client certificate file for mutual TLS (with tlsKey)"},
	{.key = "tlsKey", .kind = DBS_OPTION_STRING, .flags = DBS_OPTION_NONEMPTY,
	 .offset = SET(tls_key), .doc = "client key file for mutual TLS (with tlsCert)"},
};
/* clang-format on */

const dbs_hub_ops dbs__nats_hub_ops = {
    .version = DBS_HUB_OPS_VERSION,
    .name = "nats",
    .open = nats_open,
    .publish = dbs__nats_publish,
    .close_publish = dbs__nats_close_publish,
    .fetch = dbs__nats_fetch,
    .ack = dbs__nats_ack,
    .close = nats_close,
    .acked = dbs__nats_acked,
    .resume_point = dbs__nats_resume_point,
    .keep_resume_point = dbs__nats_keep_resume_point,
    .options = nats_options,
    .noptions = sizeof nats_options / sizeof nats_options[0],
    .settings_size = sizeof(dbs_nats_settings),
};
