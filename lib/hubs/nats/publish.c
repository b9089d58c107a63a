/*
 * NATS hub, publisher side (the source thread): a batch cut into
 * messages by the codec (dbs_codec_slice), published asynchronously with
 * back-pressure, and the end-of-stream marker.
 */
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "fault/fault.h"
#include "hubs/nats/nats_hub.h"

static int publish_failed(nats_hub *h, char *err, size_t errlen)
{
	pthread_mutex_lock(&h->pub_err_lock);
	int failed = h->pub_failed;
	if (failed)
		dbs_fmt(err, errlen, "%s", h->pub_err);
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
			dbs__nats_fail(err, errlen, "read the stream's fill", s, jerr);
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

/* Send `msg` to partition p's `subject`; 1 when the stream is stopping. */
static int send_message(nats_hub *h, uint32_t p, const char *subject, const dbs_buf *msg,
                        const dbs_position *last, char *err, size_t errlen)
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
	dbs_fmt(pub, sizeof pub, "%s.%llu", h->session, (unsigned long long)h->pub_count[p]);
	dbs_fmt(msg_id, sizeof msg_id, "%s.%u.%llu.%016llx.%08x", h->session, p,
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
		natsStatus s = natsMsg_Create(&m, subject, NULL, msg->data, (int)msg->len);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, PUB_HEADER, pub);
		if (s == NATS_OK)
			s = js_PublishMsgAsync(h->pub_js, &m, &po);
		natsMsg_Destroy(m); /* NULL once the publish took it */
		if (s == NATS_OK)
			return 0;
		/* TIMEOUT: MaxPending publishes are in flight (back-pressure). */
		if (s != NATS_TIMEOUT) {
			dbs__nats_fail(err, errlen, "publish", s, 0);
			return DBS_EHUB;
		}
		if (publish_failed(h, err, errlen))
			return DBS_EHUB;
		if (h->host->stopping(h->host))
			return 1;
	}
}

/* One message of a batch (dbs_codec_slice), to its partition's subject,
 * once the stream has room. */
static int publish_message(void *ctx, uint32_t p, const dbs_buf *msg, const dbs_position *last,
                           char *err, size_t errlen)
{
	nats_hub *h = ctx;
	char subject[NAME_MAX_LEN];
	int rc;
	if ((rc = wait_for_room(h, err, errlen)) != 0)
		return rc;
	h->since_check += msg->len;
	dbs__nats_subject(h, p, 0, subject, sizeof subject);
	if ((rc = send_message(h, p, subject, msg, last, err, errlen)) != 0)
		return rc;
	DBS_FAULT_POINT("nats.published");
	if (h->part == DBS_HUB_PART_SOURCE && dbs__nats_remember_sent(h, p, last) != 0) {
		dbs_fmt(err, errlen, "nats hub: out of memory");
		return DBS_ENOMEM;
	}
	return 0;
}

int dbs__nats_publish(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	int rc = 0;
	uint32_t n = dbs_batch_count(batch);
	if (h->publish_closed || !h->pub_js) {
		dbs_fmt(err, errlen, "nats hub: publish after close or on a target part");
		rc = DBS_ESTATE;
		goto done;
	}
	if (publish_failed(h, err, errlen) || dbs__nats_outage_expired(h, err, errlen)) {
		rc = DBS_EHUB;
		goto done;
	}
	rc = dbs_codec_slice(&h->buf, batch, h->partitions, h->max_message, h->host->stream_id,
	                     publish_message, h, err, errlen);
	if (rc == DBS_EINVAL) {
		/* One event larger than a message may be. */
		char why[DBS_ERRMSG_MAX];
		dbs_fmt(why, sizeof why, "%s", err);
		dbs_fmt(err, errlen, "nats hub: %s: over the server's max_payload; raise max_payload "
		        "in nats-server", why);
		rc = DBS_EHUB;
	}
done:
	if (rc == 0 && n && h->part == DBS_HUB_PART_SOURCE)
		dbs__nats_remember_batch_end(h, dbs_batch_last(batch));
	dbs_batch_free(batch);
	return rc;
}

void dbs__nats_close_publish(dbs_hub *hub)
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
	int64_t give_up = dbs_time_monotonic_ns() + CLOSE_WAIT_NS;
	while ((s = js_PublishAsyncComplete(h->pub_js, &po)) == NATS_TIMEOUT &&
	       !h->host->stopping(h->host) && dbs_time_monotonic_ns() < give_up)
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
	if (dbs_codec_encode(&h->buf, NULL, 0, 0, h->host->stream_id, 0, flags, err, sizeof err) !=
	    0) {
		h->host->log(h->host, DBS_LOG_ERROR, "%s", err);
		return;
	}
	/* Every writer gets its own marker. */
	for (uint32_t p = 0; p < h->partitions; p++) {
		char subject[NAME_MAX_LEN];
		dbs__nats_subject(h, p, 1, subject, sizeof subject);
		jsErrCode jerr = 0;
		jsPubAck *ack = NULL;
		s = js_Publish(&ack, h->pub_js, subject, h->buf.msg.data, (int)h->buf.msg.len, NULL,
		               &jerr);
		jsPubAck_Destroy(ack);
		if (s != NATS_OK) {
			dbs__nats_fail(err, sizeof err, "publish end-of-stream marker", s, jerr);
			h->host->log(h->host, DBS_LOG_ERROR, "%s", err);
		}
	}
}
