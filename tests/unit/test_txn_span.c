/*
 * The core with a target that keeps a source transaction open across
 * batches (target ops version 2), without databases: an in-test source
 * of multi-batch transactions that resumes where it is told, and an
 * in-test target that "commits" into counters standing for its database
 * (they survive its close, as a database would).
 *   - every event is committed once, transactions only whole;
 *   - only committed positions reach source->ack;
 *   - an event limit inside a transaction flushes what was applied;
 *   - a connection lost with a transaction open (DBS_APPLY_LOST) resumes
 *     the stream from the checkpoint: the source reads the transaction
 *     again, the nodes stay RUNNING, nothing is lost or doubled;
 *   - a target that groups (version 5): transactions waiting in the hub
 *     share a commit, every commit ends at a transaction's end, only
 *     committed positions are acked;
 *   - a row rejected inside a group (DBS_APPLY_REPLAY): the stream
 *     resumes from the checkpoint and that transaction is committed on
 *     its own, then grouping resumes;
 *   - a schema change: a version 7 target is given it in its place; a
 *     target of an older version is not, and the stream fails at it
 *     with everything before it committed and nothing after.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* The built-in memory hub (lib/hubs/memory): these tests link the
 * library's objects. */
extern const dbs_hub_ops dbs__memory_hub_ops;

#define TXN_EVENTS 55u   /* 6 batches of 10 (the last one 5) */
#define MAX_EVENTS 4000u

static struct {
	/* The "database": what is committed, and the checkpoint. */
	pthread_mutex_t lock;
	unsigned hits[MAX_EVENTS + 1]; /* commits of each event id */
	uint64_t committed;
	dbs_position checkpoint;
	/* Test knobs and observations. */
	uint32_t txns;            /* transactions the source has to give */
	uint64_t lose_txn;        /* the transaction in which the connection drops; 0 never */
	atomic_int refuse_opens;  /* the target's database is down: open fails */
	int down_after_loss;      /* and stays down once the connection dropped */
	atomic_int source_opens, target_opens, flushes, span_seen;
	/* Grouping: the target leaves a transaction open at its end when
	 * the core groups; each commit's first and last transaction. */
	int group;
	unsigned commit_delay_us;  /* a commit's cost, so the hub fills up */
	uint64_t reject_txn;       /* refused while grouped with others */
	unsigned ncommits;
	uint64_t commit_first[MAX_EVENTS], commit_last[MAX_EVENTS];
	int commit_mid_txn;        /* a commit that did not end a transaction */
	/* Grouping tests: after every start of the source the target waits
	 * until the source has handed over this many batches (the hub fills
	 * up), so that transactions are waiting when it applies. */
	int fill_first;
	atomic_int emitted;        /* batches since the source last opened */
	atomic_uint_fast64_t acked_txn;
	atomic_int acked_mid_txn; /* an ack of a position inside a transaction */
	dbs_position first_resume[4];
	/* This transaction is one schema change instead of rows; 0 none. */
	uint64_t schema_txn;
	atomic_int schema_seen;    /* schema changes the target was given */
} db = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- source: transactions of TXN_EVENTS inserts, id = (txn-1)*TXN_EVENTS + event ---- */

typedef struct txn_source {
	dbs_source base;
	const dbs_host *host;
	dbs_table *table;
	uint32_t bundle;
	uint64_t next_txn; /* 1-based */
} txn_source;

static const dbs_source_ops txn_source_ops;

static int src_open(dbs_source **out, const dbs_source_config *cfg, const dbs_host *host,
                    const dbs_position *resume, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	txn_source *g = calloc(1, sizeof *g);
	dbs_column cols[1] = {{"id", "bigint", 20, -1, DBS_COLUMN_KEY | DBS_COLUMN_NOT_NULL}};
	ck_assert_int_eq(dbs_table_new(&g->table, DBS_DIALECT_POSTGRESQL, "public", "t", cols, 1), 0);
	g->base.ops = &txn_source_ops;
	g->host = host;
	g->bundle = cfg->data_bundle_size;
	/* Like a binlog: after a whole transaction at the next one, inside
	 * one at its start (the target skips what it has). */
	g->next_txn = !resume ? 1 : resume->txn_end ? resume->resume : resume->txn;
	atomic_store(&db.emitted, 0);
	int n = atomic_fetch_add(&db.source_opens, 1);
	if (n < 4)
		db.first_resume[n] = resume ? *resume : (dbs_position){0};
	*out = &g->base;
	return 0;
}

/* Transaction `txn` as a source sends a schema statement: one event,
 * alone in its batch. */
static dbs_batch *schema_batch(txn_source *g, uint64_t txn)
{
	dbs_batch *b;
	dbs_event *ev;
	ck_assert_int_eq(dbs_batch_new(&b, 1), 0);
	ck_assert_int_eq(dbs_batch_add(b, DBS_OP_SCHEMA, g->table, &ev), 0);
	ck_assert_ptr_null(ev->before);
	ck_assert_ptr_null(ev->after);
	dbs_schema_change *c = dbs_batch_alloc(b, sizeof *c);
	dbs_schema_event *se = dbs_batch_alloc(b, sizeof *se);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(se);
	memset(c, 0, sizeof *c);
	c->kind = DBS_SCHEMA_RENAME_COLUMN;
	c->from_name = "old_id";
	se->statement = "ALTER TABLE t RENAME COLUMN old_id TO id";
	se->nchanges = 1;
	se->changes = c;
	ev->schema = se;
	ev->pos.txn = txn;
	ev->pos.event = 1;
	ev->pos.txn_end = 1;
	ev->pos.resume = txn + 1;
	return b;
}

static int src_run(dbs_source *src, dbs_emit_fn emit, void *data, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	txn_source *g = (txn_source *)src;
	while (!g->host->stopping(g->host)) {
		if (g->next_txn > db.txns) {
			usleep(5000);
			continue;
		}
		uint64_t txn = g->next_txn++;
		if (txn == db.schema_txn) {
			int rc = emit(schema_batch(g, txn), data);
			if (rc)
				return rc < 0 ? rc : 0;
			atomic_fetch_add(&db.emitted, 1);
			continue;
		}
		for (uint32_t e = 1; e <= TXN_EVENTS;) {
			dbs_batch *b;
			ck_assert_int_eq(dbs_batch_new(&b, g->bundle), 0);
			for (uint32_t i = 0; i < g->bundle && e <= TXN_EVENTS; i++, e++) {
				dbs_event *ev;
				ck_assert_int_eq(dbs_batch_add(b, DBS_OP_INSERT, g->table, &ev), 0);
				ev->after[0].kind = DBS_VALUE_INT;
				ev->after[0].v.i = (int64_t)((txn - 1) * TXN_EVENTS + e);
				ev->pos.txn = txn;
				ev->pos.event = e;
				ev->pos.txn_end = e == TXN_EVENTS;
				ev->pos.resume = e == TXN_EVENTS ? txn + 1 : 0;
			}
			int rc = emit(b, data);
			if (rc)
				return rc < 0 ? rc : 0;
			atomic_fetch_add(&db.emitted, 1);
		}
	}
	return 0;
}

static void src_ack(dbs_source *src, const dbs_position *pos)
{
	(void)src;
	if (!pos->txn_end)
		atomic_store(&db.acked_mid_txn, 1);
	atomic_store(&db.acked_txn, pos->txn);
}

static void src_close(dbs_source *src)
{
	txn_source *g = (txn_source *)src;
	dbs_table_unref(g->table);
	free(g);
}

static const dbs_source_ops txn_source_ops = {
	.version = 1, /* written for version 1: takes no settings */
	.name = "postgresql",
	.open = src_open,
	.run = src_run,
	.ack = src_ack,
	.close = src_close,
};

/* ---- target: an open list of ids, committed into db ---- */

typedef struct txn_target {
	dbs_target base;
	const dbs_target_config *config;
	dbs_position checkpoint;
	uint32_t open[MAX_EVENTS];
	uint32_t nopen;
	dbs_position open_last;
	uint64_t open_first_txn;
	int filled_for; /* the source start it waited for */
} txn_target;

static const dbs_target_ops txn_target_ops;

static int tgt_open(dbs_target **out, const dbs_target_config *cfg, const dbs_host *host,
                    dbs_position *checkpoint, char *err, size_t errlen)
{
	(void)host;
	if (atomic_load(&db.refuse_opens)) {
		dbs_fmt(err, errlen, "could not connect to server: Connection refused");
		return DBS_ETARGET;
	}
	txn_target *g = calloc(1, sizeof *g);
	g->base.ops = &txn_target_ops;
	g->config = cfg;
	if (cfg->span_transactions)
		atomic_store(&db.span_seen, 1);
	pthread_mutex_lock(&db.lock);
	g->checkpoint = db.checkpoint;
	pthread_mutex_unlock(&db.lock);
	*checkpoint = g->checkpoint;
	atomic_fetch_add(&db.target_opens, 1);
	*out = &g->base;
	return 0;
}

static void commit(txn_target *g)
{
	if (db.commit_delay_us)
		usleep(db.commit_delay_us);
	pthread_mutex_lock(&db.lock);
	for (uint32_t i = 0; i < g->nopen; i++)
		db.hits[g->open[i]]++;
	db.committed += g->nopen;
	db.checkpoint = g->open_last;
	if (g->nopen && db.ncommits < MAX_EVENTS) {
		db.commit_first[db.ncommits] = g->open_first_txn;
		db.commit_last[db.ncommits++] = g->open_last.txn;
	}
	if (g->nopen && !g->open_last.txn_end)
		db.commit_mid_txn = 1;
	pthread_mutex_unlock(&db.lock);
	g->checkpoint = g->open_last;
	g->nopen = 0;
}

static int tgt_apply(dbs_target *tgt, const dbs_batch *b, char *err, size_t errlen)
{
	txn_target *g = (txn_target *)tgt;
	int carried = g->nopen > 0;
	if (db.fill_first && g->filled_for != atomic_load(&db.source_opens)) {
		g->filled_for = atomic_load(&db.source_opens);
		for (int i = 0; i < 500 && atomic_load(&db.emitted) < db.fill_first; i++)
			usleep(10000);
	}
	for (uint32_t i = 0; i < dbs_batch_count(b); i++) {
		const dbs_event *ev = dbs_batch_event(b, i);
		if (dbs_position_cmp(&ev->pos, &g->checkpoint) <= 0)
			continue;
		if (ev->op == DBS_OP_SCHEMA) {
			ck_assert_uint_eq(dbs_batch_count(b), 1);
			ck_assert_ptr_nonnull(ev->schema);
			ck_assert_uint_eq(ev->schema->changes[0].kind, DBS_SCHEMA_RENAME_COLUMN);
			atomic_fetch_add(&db.schema_seen, 1);
			g->open_last = ev->pos; /* committed with the checkpoint */
			continue;
		}
		if (!g->nopen)
			g->open_first_txn = ev->pos.txn;
		g->open[g->nopen++] = (uint32_t)ev->after[0].v.i;
		g->open_last = ev->pos;
	}
	int grouped = db.group && g->config->group_transactions;
	if (grouped && db.reject_txn && g->nopen && g->open_first_txn <= db.reject_txn &&
	    g->open_last.txn >= db.reject_txn && g->open_first_txn != g->open_last.txn) {
		g->nopen = 0; /* rolled back */
		dbs_fmt(err, errlen, "value too long for type character varying(3)");
		return DBS_APPLY_REPLAY;
	}
	if (carried && db.lose_txn && g->open_last.txn == db.lose_txn && g->nopen >= 40) {
		db.lose_txn = 0; /* once */
		if (db.down_after_loss)
			atomic_store(&db.refuse_opens, 1);
		g->nopen = 0;   /* rolled back with the connection */
		dbs_fmt(err, errlen, "server closed the connection");
		return DBS_APPLY_LOST;
	}
	if (g->config->span_transactions && (!dbs_batch_last(b)->txn_end || grouped))
		return DBS_APPLY_OPEN;
	commit(g);
	return 0;
}

static int tgt_flush(dbs_target *tgt, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	txn_target *g = (txn_target *)tgt;
	atomic_fetch_add(&db.flushes, 1);
	if (g->nopen)
		commit(g);
	return 0;
}

static void tgt_close(dbs_target *tgt)
{
	free(tgt); /* what is open is rolled back */
}

static const dbs_target_ops txn_target_ops = {.version = DBS_TARGET_OPS_VERSION,
                                              .name = "postgresql",
                                              .open = tgt_open,
                                              .apply = tgt_apply,
                                              .close = tgt_close,
                                              .flush = tgt_flush};

/* The same target written for version 6: never given a schema change. */
static const dbs_target_ops txn_target_v6_ops = {.version = 6,
                                                 .name = "postgresql",
                                                 .open = tgt_open,
                                                 .apply = tgt_apply,
                                                 .close = tgt_close,
                                                 .flush = tgt_flush};

/* ---- helpers ---- */

static void reset(uint32_t txns)
{
	pthread_mutex_lock(&db.lock);
	memset(db.hits, 0, sizeof db.hits);
	db.committed = 0;
	memset(&db.checkpoint, 0, sizeof db.checkpoint);
	pthread_mutex_unlock(&db.lock);
	db.txns = txns;
	db.lose_txn = 0;
	db.down_after_loss = 0;
	atomic_store(&db.refuse_opens, 0);
	atomic_store(&db.source_opens, 0);
	atomic_store(&db.target_opens, 0);
	atomic_store(&db.flushes, 0);
	atomic_store(&db.span_seen, 0);
	atomic_store(&db.acked_txn, 0);
	atomic_store(&db.acked_mid_txn, 0);
	db.group = 0;
	db.commit_delay_us = 0;
	db.reject_txn = 0;
	db.ncommits = 0;
	db.commit_mid_txn = 0;
	db.fill_first = 0;
	db.schema_txn = 0;
	atomic_store(&db.schema_seen, 0);
}

static dbs_stream *start_with(dbs_registry **r, unsigned limit, const dbs_target_ops *target)
{
	char cfg[512];
	snprintf(cfg, sizeof cfg,
	         "{\"source\":{\"type\":\"postgresql\",\"connection\":\"host=nowhere\","
	         "\"dataBundleSize\":10},"
	         "\"target\":{\"type\":\"postgresql\",\"connection\":\"host=nowhere\"},"
	         "\"limits\":{\"numberOfEvents\":%u},\"reconnect\":{\"giveUpAfter\":2}}",
	         limit);
	ck_assert_int_eq(dbs_registry_new(r, 0), 0);
	ck_assert_int_eq(dbs_registry_add_source(*r, &txn_source_ops), 0);
	ck_assert_int_eq(dbs_registry_add_target(*r, target), 0);
	ck_assert_int_eq(dbs_registry_add_hub(*r, &dbs__memory_hub_ops), 0);
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.registry = *r;
	dbs_stream *s = NULL;
	int rc = dbs_stream_create(&s, cfg, strlen(cfg), &o);
	ck_assert_msg(rc == 0, "create: %s", dbs_error_last());
	return s;
}

static dbs_stream *start(dbs_registry **r, unsigned limit)
{
	return start_with(r, limit, &txn_target_ops);
}

static uint64_t committed(void)
{
	pthread_mutex_lock(&db.lock);
	uint64_t n = db.committed;
	pthread_mutex_unlock(&db.lock);
	return n;
}

static void wait_committed(uint64_t n)
{
	for (int i = 0; i < 1000 && committed() < n; i++)
		usleep(10000);
	ck_assert_uint_eq(committed(), n);
}

/* Every event from 1 to n committed exactly once, none after. */
static void each_once(uint64_t n)
{
	pthread_mutex_lock(&db.lock);
	for (uint64_t id = 1; id <= MAX_EVENTS; id++)
		ck_assert_msg(db.hits[id] == (id <= n ? 1u : 0u), "event %llu committed %u times",
		              (unsigned long long)id, db.hits[id]);
	pthread_mutex_unlock(&db.lock);
}

/* ---- tests ---- */

START_TEST(transactions_committed_whole_and_acked_only_then)
{
	reset(20);
	dbs_registry *r;
	dbs_stream *s = start(&r, 0);
	wait_committed(20 * TXN_EVENTS);
	ck_assert_int_eq(atomic_load(&db.span_seen), 1);
	/* A commit only ever at a transaction's end. */
	ck_assert_uint_eq(db.checkpoint.txn_end, 1);
	ck_assert_uint_eq(db.checkpoint.txn, 20);
	ck_assert_int_eq(atomic_load(&db.acked_mid_txn), 0);
	ck_assert_uint_eq(atomic_load(&db.acked_txn), 20);
	dbs_stream_free(s);
	dbs_registry_free(r);
	each_once(20 * TXN_EVENTS);
}
END_TEST

START_TEST(event_limit_inside_a_transaction_flushes)
{
	reset(20);
	dbs_registry *r;
	dbs_stream *s = start(&r, 123); /* inside the third transaction */
	ck_assert_int_eq(dbs_stream_wait(s, 10000), 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_EVENT_LIMIT_REACHED);
	ck_assert_int_eq(st.target.status, DBS_STATUS_EVENT_LIMIT_REACHED);
	ck_assert_uint_eq(st.target.counter, 123);
	ck_assert_int_ge(atomic_load(&db.flushes), 1);
	ck_assert_uint_eq(committed(), 123);
	ck_assert_uint_eq(db.checkpoint.txn, 3);
	ck_assert_uint_eq(db.checkpoint.event, 123 - 2 * TXN_EVENTS);
	dbs_stream_free(s);
	dbs_registry_free(r);
	each_once(123);
}
END_TEST

START_TEST(lost_connection_inside_a_transaction_resumes_from_checkpoint)
{
	reset(20);
	db.lose_txn = 2; /* at its fourth batch */
	dbs_registry *r;
	dbs_stream *s = start(&r, 0);
	wait_committed(20 * TXN_EVENTS);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.source.status, DBS_STATUS_RUNNING);
	ck_assert_int_eq(st.target.status, DBS_STATUS_RUNNING);
	ck_assert_int_eq(atomic_load(&db.source_opens), 2);
	ck_assert_int_eq(atomic_load(&db.target_opens), 2);
	/* The second source began after the first transaction, the last
	 * one committed when the connection dropped inside the second. */
	ck_assert_uint_eq(db.first_resume[1].txn, 1);
	ck_assert_uint_eq(db.first_resume[1].txn_end, 1);
	for (int i = 0; i < 200 && st.target.counter < 20 * TXN_EVENTS; i++) {
		usleep(10000);
		ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	}
	ck_assert_uint_eq(st.target.counter, 20 * TXN_EVENTS);
	ck_assert_int_eq(atomic_load(&db.acked_mid_txn), 0);
	dbs_stream_free(s);
	dbs_registry_free(r);
	each_once(20 * TXN_EVENTS);
}
END_TEST

START_TEST(lost_connection_gives_up_after_the_reconnect_limit)
{
	reset(20);
	db.lose_txn = 2;
	db.down_after_loss = 1;
	dbs_registry *r;
	dbs_stream *s = start(&r, 0);
	ck_assert_int_eq(dbs_stream_wait(s, 20000), 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.target.status, DBS_STATUS_FAILED);
	ck_assert_int_eq(st.source.status, DBS_STATUS_STOPPED);
	ck_assert_msg(strstr(st.target.message, "gave up") &&
	                  strstr(st.target.message, "Connection refused"),
	              "the message must say it gave up and why: %s", st.target.message);
	fprintf(stderr, "give-up message: %s\n", st.target.message);
	ck_assert_uint_ge(st.target_conn.reconnects, 1);
	/* Only the first transaction was committed; nothing of the second. */
	ck_assert_uint_eq(committed(), TXN_EVENTS);
	ck_assert_int_eq(atomic_load(&db.acked_mid_txn), 0);
	dbs_stream_free(s);
	dbs_registry_free(r);
	each_once(TXN_EVENTS);
}
END_TEST

START_TEST(waiting_transactions_share_a_commit)
{
	reset(60);
	db.group = 1;
	db.commit_delay_us = 3000; /* the source runs ahead */
	db.fill_first = 60;        /* of the hub's 64 batches, 6 per transaction */
	dbs_registry *r;
	dbs_stream *s = start(&r, 0);
	wait_committed(60 * TXN_EVENTS);
	ck_assert_int_eq(atomic_load(&db.acked_mid_txn), 0);
	ck_assert_uint_eq(atomic_load(&db.acked_txn), 60);
	dbs_stream_free(s);
	dbs_registry_free(r);
	each_once(60 * TXN_EVENTS);
	ck_assert_msg(!db.commit_mid_txn, "a commit ended inside a transaction");
	uint64_t largest = 0;
	for (unsigned i = 0; i < db.ncommits; i++)
		if (db.commit_last[i] - db.commit_first[i] + 1 > largest)
			largest = db.commit_last[i] - db.commit_first[i] + 1;
	/* Ten transactions were waiting when the target first applied. */
	ck_assert_msg(largest >= 8 && db.ncommits < 60,
	              "%u commits for 60 transactions, the largest holding %llu", db.ncommits,
	              (unsigned long long)largest);
}
END_TEST

START_TEST(row_rejected_in_a_group_is_applied_again_alone)
{
	reset(40);
	db.group = 1;
	db.commit_delay_us = 3000;
	db.fill_first = 60;
	db.reject_txn = 20;
	dbs_registry *r;
	dbs_stream *s = start(&r, 0);
	wait_committed(40 * TXN_EVENTS);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.target.status, DBS_STATUS_RUNNING);
	/* Not a lost connection: no reconnect counted. */
	ck_assert_uint_eq(st.target_conn.reconnects, 0);
	ck_assert_int_eq(atomic_load(&db.source_opens), 2);
	ck_assert_int_eq(atomic_load(&db.acked_mid_txn), 0);
	dbs_stream_free(s);
	dbs_registry_free(r);
	each_once(40 * TXN_EVENTS);
	ck_assert_msg(!db.commit_mid_txn, "a commit ended inside a transaction");
	int alone = 0, grouped_after = 0;
	for (unsigned i = 0; i < db.ncommits; i++) {
		if (db.commit_first[i] == 20 && db.commit_last[i] == 20)
			alone = 1;
		ck_assert_msg(!(db.commit_first[i] < 20 && db.commit_last[i] >= 20) &&
		                  !(db.commit_first[i] == 20 && db.commit_last[i] > 20),
		              "transaction 20 committed with others (%llu..%llu)",
		              (unsigned long long)db.commit_first[i],
		              (unsigned long long)db.commit_last[i]);
		grouped_after |= db.commit_first[i] > 20 && db.commit_last[i] > db.commit_first[i];
	}
	ck_assert_msg(alone, "transaction 20 was not committed on its own");
	ck_assert_msg(grouped_after, "no group after the rejected transaction");
}
END_TEST

/* Events of every transaction but the schema change's committed once. */
static void each_once_but(uint64_t txns, uint64_t schema_txn)
{
	pthread_mutex_lock(&db.lock);
	for (uint64_t id = 1; id <= MAX_EVENTS; id++) {
		uint64_t txn = (id - 1) / TXN_EVENTS + 1;
		unsigned want = txn <= txns && txn != schema_txn;
		ck_assert_msg(db.hits[id] == want, "event %llu committed %u times",
		              (unsigned long long)id, db.hits[id]);
	}
	pthread_mutex_unlock(&db.lock);
}

START_TEST(schema_change_reaches_a_version_7_target_in_its_place)
{
	reset(8);
	db.schema_txn = 4;
	dbs_registry *r;
	dbs_stream *s = start(&r, 0);
	wait_committed(7 * TXN_EVENTS);
	for (int i = 0; i < 500 && db.checkpoint.txn < 8; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&db.schema_seen), 1);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.target.status, DBS_STATUS_RUNNING);
	ck_assert_uint_eq(atomic_load(&db.acked_txn), 8);
	dbs_stream_free(s);
	dbs_registry_free(r);
	each_once_but(8, 4);
}
END_TEST

START_TEST(schema_change_fails_an_older_target_at_the_change)
{
	reset(8);
	db.schema_txn = 4;
	/* Grouped: what is open before the change is committed first. */
	db.group = _i;
	db.fill_first = _i ? 20 : 0;
	dbs_registry *r;
	dbs_stream *s = start_with(&r, 0, &txn_target_v6_ops);
	ck_assert_int_eq(dbs_stream_wait(s, 20000), 0);
	dbs_stat st = DBS_STAT_INIT;
	ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
	ck_assert_int_eq(st.target.status, DBS_STATUS_FAILED);
	ck_assert_msg(strstr(st.target.message, "does not apply schema changes") &&
	                  strstr(st.target.message, "public.t") &&
	                  strstr(st.target.message, "RENAME COLUMN old_id TO id"),
	              "the message must name the table and the statement: %s", st.target.message);
	fprintf(stderr, "older target: %s\n", st.target.message);
	ck_assert_int_eq(atomic_load(&db.schema_seen), 0);
	/* Everything before the change committed, nothing after it. */
	ck_assert_uint_eq(committed(), 3 * TXN_EVENTS);
	ck_assert_uint_eq(db.checkpoint.txn, 3);
	ck_assert_uint_eq(db.checkpoint.txn_end, 1);
	dbs_stream_free(s);
	dbs_registry_free(r);
	each_once(3 * TXN_EVENTS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("txn_span");
	TCase *tc = tcase_create("txn_span");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, transactions_committed_whole_and_acked_only_then);
	tcase_add_test(tc, event_limit_inside_a_transaction_flushes);
	tcase_add_test(tc, lost_connection_inside_a_transaction_resumes_from_checkpoint);
	tcase_add_test(tc, lost_connection_gives_up_after_the_reconnect_limit);
	tcase_add_test(tc, waiting_transactions_share_a_commit);
	tcase_add_test(tc, row_rejected_in_a_group_is_applied_again_alone);
	tcase_add_test(tc, schema_change_reaches_a_version_7_target_in_its_place);
	tcase_add_loop_test(tc, schema_change_fails_an_older_target_at_the_change, 0, 2);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
