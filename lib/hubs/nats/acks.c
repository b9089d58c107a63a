/*
 * NATS hub: acknowledgements. A writer that committed a batch publishes
 * its position (docs/hub-format.md); the source part keeps what it
 * published until a writer acks it, tells the core the newest position
 * every writer committed, and stores it as its resume position.
 */
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "fault/fault.h"
#include "hubs/nats/nats_hub.h"

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
void dbs__nats_on_ack(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
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
void dbs__nats_publish_ack(nats_hub *h, const dbs_position *pos)
{
	uint8_t d[ACK_MSG_LEN];
	ack_encode(d, h->partition, pos);
	/* Lost acks cost nothing but delay: the next one covers them. */
	natsConnection_Publish(h->sub_nc, h->acks_subject, d, ACK_MSG_LEN);
}

/* Part SOURCE: remember a published message until a writer acks it. */
int dbs__nats_remember_sent(nats_hub *h, uint32_t p, const dbs_position *pos)
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
void dbs__nats_remember_batch_end(nats_hub *h, const dbs_position *last)
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

int dbs__nats_acked(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	int moved = 0;
	(void)err;
	(void)errlen;
	dbs__nats_watch_connections(h);
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
int dbs__nats_open_position_store(nats_hub *h, char *err, size_t errlen)
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
			dbs__nats_fail(err, errlen, "open the resume position bucket", s, 0);
			return DBS_EHUB;
		}
	}
	kvEntry *e = NULL;
	s = kvStore_Get(&e, h->pos_kv, "source");
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK) {
		dbs__nats_fail(err, errlen, "read the resume position", s, 0);
		return DBS_EHUB;
	}
	uint32_t p;
	int bad = ack_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &p, &h->stored);
	kvEntry_Destroy(e);
	if (bad) {
		dbs_fmt(err, errlen,
		         "nats hub: the resume position in bucket %s is not in a known format",
		         h->pos_bucket);
		return DBS_EPROTO;
	}
	h->has_stored = 1;
	return 0;
}

int dbs__nats_resume_point(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen)
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
int dbs__nats_keep_resume_point(dbs_hub *hub, const dbs_position *pos, char *err,
                                size_t errlen)
{
	nats_hub *h = (nats_hub *)hub;
	if (!h->pos_kv) {
		dbs_fmt(err, errlen, "nats hub: no resume position bucket (not a source part)");
		return DBS_ESTATE;
	}
	if (h->has_stored)
		return 0;
	uint8_t d[ACK_MSG_LEN];
	ack_encode(d, 0, pos);
	natsStatus s = kvStore_Put(NULL, h->pos_kv, "source", d, ACK_MSG_LEN);
	if (s != NATS_OK) {
		dbs__nats_fail(err, errlen, "keep the source's start position", s, 0);
		return DBS_EHUB;
	}
	h->stored = *pos;
	h->has_stored = 1;
	return 0;
}
