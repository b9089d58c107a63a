/*
 * NATS hub, fetcher side (the target thread): messages pulled from the
 * durable consumer, decoded into batches, and acked once committed.
 */
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "hubs/nats/nats_hub.h"

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

natsMsg *dbs__nats_next_pending(nats_hub *h)
{
	if (h->pending_next < h->pending.Count) {
		natsMsg *m = h->pending.Msgs[h->pending_next];
		h->pending.Msgs[h->pending_next++] = NULL;
		return m;
	}
	return NULL;
}

int dbs__nats_fetch(dbs_hub *hub, dbs_batch **out, int timeout_ms, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	natsMsg *msg = NULL;
	dbs_batch *batch = NULL;
	int rc = 0;
	*out = NULL;
	if (!h->sub) {
		dbs_fmt(err, errlen, "nats hub: fetch on a source part");
		return DBS_ESTATE;
	}
	dbs__nats_watch_connections(h);
	if ((rc = dbs__nats_outage_expired(h, err, errlen)))
		return rc;
	if (h->drained < 0) {
		dbs_fmt(
		    err, errlen,
		    "nats hub: the publisher of %s failed (see the source's error); batches may "
		    "be missing",
		    h->stream);
		return DBS_EHUB;
	}
	if (atomic_load(&h->dropped)) {
		/* A dropped batch would come back after later ones: out of order. */
		dbs_fmt(err, errlen, "nats hub: the client dropped messages (slow consumer)");
		return DBS_EHUB;
	}
	if (h->drained)
		return 2;
	if (!(msg = dbs__nats_next_pending(h))) {
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
			dbs__nats_fail(err, errlen, "fetch", s, jerr);
			return DBS_EHUB;
		}
		if (!(msg = dbs__nats_next_pending(h)))
			return 1;
	}
	dbs_codec_header hdr;
	/* A message that does not decode stays unacked: JetStream redelivers
	 * it after the ack wait, and the stream fails here with the reason
	 * rather than skipping changes. */
	if ((rc =
	         dbs_codec_decode(h->dec, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
	                           &batch, &hdr, err, errlen)) != 0)
		goto fail;
	if (hdr.flags & DBS_CODEC_END_OF_STREAM) {
		natsMsg_Ack(msg, NULL);
		natsMsg_Destroy(msg);
		h->drained = (hdr.flags & DBS_CODEC_PUBLISHER_FAILED) ? -1 : 1;
		return dbs__nats_fetch(hub, out, timeout_ms, err, errlen);
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
			dbs_fmt(err, errlen,
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
		dbs_fmt(err, errlen, "nats hub: out of memory");
		goto fail;
	}
	*out = batch;
	return 0;
fail:
	dbs_batch_free(batch);
	natsMsg_Destroy(msg);
	return rc;
}

int dbs__nats_ack(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	int rc = DBS_EINVAL;
	uint32_t i = 0;
	while (i < h->nunacked && h->unacked[i].batch != batch)
		i++;
	if (i == h->nunacked) {
		dbs_fmt(err, errlen, "nats hub: ack of a batch this hub did not hand out");
		goto done;
	}
	natsMsg *msg = h->unacked[i].msg;
	memmove(&h->unacked[i], &h->unacked[i + 1], (h->nunacked - i - 1) * sizeof *h->unacked);
	h->nunacked--;
	natsStatus s = natsMsg_Ack(msg, NULL);
	natsMsg_Destroy(msg);
	if (s == NATS_OK && h->part == DBS_HUB_PART_TARGET && dbs_batch_count(batch))
		dbs__nats_publish_ack(h, dbs_batch_last(batch));
	if (s != NATS_OK) {
		/* Unacked, the batch comes again: the target's checkpoint skips it. */
		dbs__nats_fail(err, errlen, "ack", s, 0);
		rc = DBS_EHUB;
		goto done;
	}
	rc = 0;
done:
	dbs_batch_free(batch);
	return rc;
}
