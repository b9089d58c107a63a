/*
 * The target thread's loop (see stream.c for the whole): batches fetched
 * from the hub and applied, the transaction the target holds open across
 * them and its commit, source transactions grouped into one target
 * commit, the hub's acknowledgements held until that commit, and the
 * initial load run before the loop (or alone, in mode convert). Apart
 * from stream_run.c, which keeps the statuses, the host services, the
 * source thread, the resume from the checkpoint, the acknowledgement
 * relay and the stall watch.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stream.h"
#include "fault/fault.h"

/* A group of source transactions (see the top of stream.c) is committed
 * once nothing more waits in the hub, or once it holds this many events
 * or has been open this long: bounds on the work a lost connection
 * repeats and on how stale a reader of a busy target may be. */
#define GROUP_MAX_EVENTS 20000u
#define GROUP_MAX_NS (100LL * 1000000LL)
/* Events of applied batches whose hub acknowledgement may wait for the
 * commit; only a source transaction larger than a group goes past it. */
#define HOLD_MAX_EVENTS (2u * GROUP_MAX_EVENTS)

/* ---- the batches of the open transaction, and its commit ---- */

/* The hub may forget the batches the commit covers. */
static int release_held(dbs_stream *s, char *err, size_t errlen)
{
	char other[DBS_ERRMSG_MAX];
	int rc = 0;
	for (uint32_t i = 0; i < s->nheld; i++) {
		int r = s->hub_ops->ack(s->hub, s->held[i], rc ? other : err, rc ? sizeof other : errlen);
		if (r < 0 && rc == 0)
			rc = r;
	}
	s->nheld = 0;
	s->held_events = 0;
	return rc;
}

/* After a failure or before a resume: what was held is rolled back; the
 * hub hands it out again or is purged (the batches are the caller's). */
static void drop_held(dbs_stream *s)
{
	for (uint32_t i = 0; i < s->nheld; i++)
		dbs_batch_free(s->held[i]);
	s->nheld = 0;
	s->held_events = 0;
}

/* Keep an applied batch that ends its source transaction until the
 * commit. A batch inside a source transaction is acked once applied, as
 * it always was (in one process a failure resumes from the target's
 * checkpoint, never from the hub): a hub that hands out a bounded number
 * of unacknowledged batches (NATS) must go on delivering the rest of the
 * transaction, and only at a transaction's end can the group commit.
 * Past HOLD_MAX_EVENTS everything held is acked at once. */
static int hold_batch(dbs_stream *s, dbs_batch *batch, uint32_t n, char *err, size_t errlen)
{
	int rc = 0;
	if (!n || !dbs_batch_last(batch)->txn_end)
		return s->hub_ops->ack(s->hub, batch, err, errlen);
	if (s->held_events + n <= HOLD_MAX_EVENTS &&
	    dbs_array_reserve((void **)&s->held, &s->cap_held, s->nheld + (size_t)1,
	                      sizeof *s->held) == 0) {
		s->held[s->nheld++] = batch;
		s->held_events += n;
		return 0;
	}
	rc = release_held(s, err, errlen);
	int r = s->hub_ops->ack(s->hub, batch, err, errlen);
	return rc ? rc : r;
}

/* What the target committed: counters, lag, the source's acknowledgement. */
static void note_committed(dbs_stream *s)
{
	s->txn_open = 0;
	s->group_boundary = 0;
	s->group_events = 0;
	/* Only what is committed may be confirmed to the source. */
	s->committed_events = atomic_load(&s->target_node.counter);
	s->checkpoint = s->applied;
	if (s->source)
		s->source_ops->ack(s->source, &s->applied);
	if (s->applied_commit_time_us)
		atomic_store(&s->applied_commit_us, s->applied_commit_time_us);
	atomic_store(&s->applying_commit_us, 0);
	dbs__stall_held(&s->stall, 0);
	dbs__stall_progress(&s->stall);
	if (s->ungrouped && dbs_position_cmp(&s->applied, &s->ungrouped_until) >= 0) {
		s->ungrouped = 0;
		s->config->target.group_transactions = s->grouping;
	}
}

/* Commit what the target holds open: a group of source transactions, or
 * what was applied of one when the stream stops inside it (user stop,
 * limit), so the target holds what was counted. 0 when committed or
 * nothing was open, else what flush returned. */
static int commit_open(dbs_stream *s, char *err, size_t errlen)
{
	if (!s->txn_open)
		return 0;
	int rc = s->target_ops->flush(s->target, err, errlen);
	if (rc != 0)
		return rc;
	note_committed(s);
	DBS_FAULT_POINT("stream.group_committed");
	return release_held(s, err, errlen);
}

/* The target lost its connection with a transaction open, or a row failed
 * inside a group (DBS_APPLY_REPLAY): what it held is gone, the stream
 * resumes from the checkpoint. `batch` (NULL at a commit) is handed back
 * to the hub. 0 when running again, 1 when stopping, negative when the
 * reconnect policy gave up. */
static int restart_from_checkpoint(dbs_stream *s, int why, dbs_batch *batch, char *err,
                                   size_t errlen)
{
	char cause[DBS_ERRMSG_MAX];
	dbs_fmt(cause, sizeof cause, "%s", err);
	err[0] = '\0';
	if (why == DBS_APPLY_REPLAY) {
		/* Without grouping until past what failed: up to its batch, or
		 * up to what the failed commit would have covered. */
		s->ungrouped = 1;
		s->ungrouped_until = batch && dbs_batch_count(batch) ? *dbs_batch_last(batch) : s->applied;
	}
	drop_held(s);
	if (batch)
		s->hub_ops->ack(s->hub, batch, err, errlen); /* frees it */
	err[0] = '\0';
	return dbs__stream_resume_from_checkpoint(s, cause, why == DBS_APPLY_LOST, err, errlen);
}

/* Commit the open group of whole source transactions; after a lost
 * connection or a row that failed, resume from the checkpoint. 0 when the
 * stream goes on, 1 when it is stopping, negative on failure. */
static int commit_group(dbs_stream *s, char *err, size_t errlen)
{
	int rc = commit_open(s, err, errlen);
	if (rc == DBS_APPLY_LOST || rc == DBS_APPLY_REPLAY)
		return restart_from_checkpoint(s, rc, NULL, err, errlen);
	if (rc == 0)
		dbs__stream_report_progress(s);
	return rc > 0 ? DBS_EINTERNAL : rc;
}

/* Whether the open group is to be committed now though more may wait. */
static int group_full(const dbs_stream *s)
{
	return s->group_events >= GROUP_MAX_EVENTS ||
	       dbs_time_monotonic_ns() - s->group_started_ns >= GROUP_MAX_NS;
}

/* The node a load's failure belongs to ends FAILED, the other STOPPED. */
static void load_failed(dbs_stream *s, int blame, const char *err)
{
	node *bad = blame == LOAD_BLAME_SOURCE ? &s->source_node : &s->target_node;
	node *other = bad == &s->source_node ? &s->target_node : &s->source_node;
	dbs__stream_node_end(s, bad, DBS_STATUS_FAILED, err[0] ? err : "the load failed");
	dbs__stream_request_stop(s, STOP_FAILURE);
	dbs__stream_node_end(s, other, DBS_STATUS_STOPPED, NULL);
}

/*
 * cdc with initialLoad, on the target thread before anything else: copy
 * what the load has left to copy, then start the source where the copy
 * stood, with the seam's filter. 0 when the stream goes on, nonzero when
 * it ended (every node's status set).
 */
static int load_then_stream(dbs_stream *s)
{
	char err[DBS_ERRMSG_MAX] = "";
	int blame = LOAD_BLAME_TARGET;
	int rc = dbs__load_run(s->load, &blame, err, sizeof err);
	if (rc == 0 && dbs__seam_new(&s->seam, s->load) != 0) {
		dbs_fmt(err, sizeof err, "out of memory");
		rc = DBS_ENOMEM;
	}
	dbs__load_close(s->load);
	if (rc < 0) {
		load_failed(s, blame, err);
		return 1;
	}
	if (rc > 0) {
		enum stop_reason reason = (enum stop_reason)atomic_load(&s->stop_reason);
		dbs__stream_node_end(s, &s->source_node, dbs__stream_status_for(reason), NULL);
		dbs__stream_node_end(s, &s->target_node, dbs__stream_status_for(reason), NULL);
		return 1;
	}
	dbs__stream_log(s, DBS_LOG_INFO, "[load] done; streaming from where the copy stood");
	if (pthread_create(&s->source_thread, NULL, dbs__stream_source_main, s) != 0) {
		load_failed(s, LOAD_BLAME_SOURCE, "cannot start the source thread");
		return 1;
	}
	s->source_running = 1;
	return 0;
}

/*
 * The seam's filter on a fetched batch: what the copy already holds is
 * dropped. 0 when events are left to apply; 1 when none is (the batch
 * was handled: a source transaction it ended is committed and confirmed).
 */
static int seam_filter(dbs_stream *s, dbs_batch *batch, char *err, size_t errlen)
{
	dbs_position ended;
	int dropped_end = 0;
	if (dbs__seam_filter(s->seam, batch, &ended, &dropped_end) > 0)
		return 0;
	/* Nothing left. The transaction whose end was dropped is over: what
	 * earlier batches of it applied is committed (a checkpoint inside
	 * it: a restart reads it again and drops the rest again), and the
	 * source may forget it. */
	if (dropped_end) {
		if (s->txn_open && commit_open(s, err, errlen) != 0)
			return -1;
		if (s->source)
			s->source_ops->ack(s->source, &ended);
		dbs__stall_progress(&s->stall);
	}
	return 1;
}

/*
 * A target older than ops version 7 is never given a schema change: the
 * stream fails at it, with nothing of its batch applied, so that a
 * resume with a target that applies it carries on exactly there. 0 when
 * the batch holds none (or the target takes them), else DBS_EINVAL with
 * err filled.
 */
static int refuse_schema(const dbs_stream *s, const dbs_batch *batch, char *err, size_t errlen)
{
	if (s->target_ops->version >= 7)
		return 0;
	uint32_t n = dbs_batch_count(batch);
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (ev->op != DBS_OP_SCHEMA)
			continue;
		char pos[96];
		dbs_position_text(pos, sizeof pos, batch, &ev->pos);
		dbs_fmt(err, errlen,
		        "target plugin \"%s\" (ops version %u) does not apply schema changes: %s.%s "
		        "changed at %s (%s); the stream stops before the change: a target of ops "
		        "version 7 or later applies it when the stream is resumed",
		        s->target_ops->name, s->target_ops->version,
		        ev->table->schema ? ev->table->schema : "", ev->table->name, pos,
		        ev->schema && ev->schema->statement ? ev->schema->statement
		                                            : "no statement");
		return DBS_EINVAL;
	}
	return 0;
}

void *dbs__stream_target_main(void *arg)
{
	dbs_stream *s = arg;
	char err[DBS_ERRMSG_MAX] = "";
	uint64_t limit = s->config->limits.number_of_events;
	int failed = 0;
	if (s->load && load_then_stream(s) != 0) {
		dbs__stream_close_plugins(s);
		dbs__stream_mark_ended(s);
		return NULL;
	}
	for (;;) {
		dbs_batch *batch = NULL;
		/* Alone, the target stops on request: what the hub still holds
		 * stays there for the next run; with a local source the hub is
		 * drained first. */
		if (s->opts.part == DBS_PART_TARGET && dbs_host_stopping(&s->target_host))
			break;
		/* With whole source transactions open, only what already waits
		 * joins them; nothing waiting commits the group. */
		int rc = s->hub_ops->fetch(s->hub, &batch, s->group_boundary ? 0 : 100, err, sizeof err);
		if (rc == 1 && s->group_boundary) {
			if ((rc = commit_group(s, err, sizeof err)) != 0) {
				failed = rc < 0;
				break;
			}
			continue;
		}
		if (rc == 1) {
			dbs_host_stopping(&s->target_host); /* notices the time limit */
			dbs__stream_report_progress(s);
			continue;
		}
		if (rc == 2)
			break;
		if (rc < 0) {
			failed = 1;
			break;
		}
		if (s->seam && !dbs__seam_passed(s->seam)) {
			rc = seam_filter(s, batch, err, sizeof err);
			if (rc != 0) {
				int arc = s->hub_ops->ack(s->hub, batch, err, sizeof err);
				if (rc < 0 || arc < 0) {
					failed = 1;
					break;
				}
				continue;
			}
		}
		uint32_t n = dbs_batch_count(batch);
		uint64_t bytes = dbs_batch_bytes(batch);
		/* The lag counts from the oldest change not yet committed: in a
		 * transaction left open, from its first batch. */
		if (!s->txn_open) {
			s->group_started_ns = dbs_time_monotonic_ns();
			if (n)
				atomic_store(&s->applying_commit_us,
				             dbs_batch_event(batch, 0)->commit_time_us);
		}
		if (refuse_schema(s, batch, err, sizeof err) != 0) {
			/* What the target holds open is before the change: committed,
			 * so the stream stops right at it. */
			char ignore[DBS_ERRMSG_MAX];
			if (s->txn_open && commit_open(s, ignore, sizeof ignore) != 0)
				dbs__stream_log(s, DBS_LOG_WARN, "[target] commit before the schema change: %s",
				                ignore);
			dbs_batch_free(batch);
			failed = 1;
			break;
		}
		dbs__stall_held(&s->stall, 1);
		rc = s->target_ops->apply(s->target, batch, err, sizeof err);
		if ((rc == DBS_APPLY_LOST && s->config->target.span_transactions) ||
		    (rc == DBS_APPLY_REPLAY && s->config->target.group_transactions)) {
			rc = restart_from_checkpoint(s, rc, batch, err, sizeof err);
			if (rc > 0)
				break;
			if (rc < 0) {
				failed = 1;
				break;
			}
			continue;
		}
		if (rc < 0 || rc > DBS_APPLY_OPEN ||
		    (rc == DBS_APPLY_OPEN && !s->config->target.span_transactions)) {
			if (rc >= 0)
				dbs_fmt(err, sizeof err, "target plugin \"%s\": apply returned %d",
				         s->target_ops->name, rc);
			dbs_batch_free(batch);
			failed = 1;
			break;
		}
		dbs__stream_node_progress(s, &s->target_node, n, bytes);
		/* A batch applied inside a long transaction is progress too. */
		dbs__stall_progress(&s->stall);
		if (n) {
			s->applied = *dbs_batch_last(batch);
			s->applied_commit_time_us = dbs_batch_event(batch, n - 1)->commit_time_us;
		}
		s->group_events += n;
		if (rc == 0) {
			/* Committed with everything applied before it. */
			note_committed(s);
			if ((rc = release_held(s, err, sizeof err)) < 0 ||
			    (rc = s->hub_ops->ack(s->hub, batch, err, sizeof err)) < 0) {
				failed = 1;
				break;
			}
		} else {
			s->txn_open = 1;
			s->group_boundary = s->config->target.group_transactions && n &&
			                    dbs_batch_last(batch)->txn_end;
			dbs__stall_held(&s->stall, 1);
			/* With the batch open in the target, the hub may forget it
			 * once it is committed (or, in a large transaction, now). */
			if ((rc = hold_batch(s, batch, n, err, sizeof err)) < 0) {
				failed = 1;
				break;
			}
			if (s->group_boundary)
				DBS_FAULT_POINT("stream.group_applied");
		}
		dbs__stream_report_progress(s);
		if (limit && atomic_load(&s->target_node.counter) >= limit)
			break;
		if (s->group_boundary && group_full(s) && (rc = commit_group(s, err, sizeof err)) != 0) {
			failed = rc < 0;
			break;
		}
	}
	/* After a failure what is open rolls back with the target's close. */
	if (!failed && atomic_load(&s->stop_reason) != STOP_FAILURE && s->target) {
		int rc = commit_open(s, err, sizeof err);
		if (rc != 0) {
			if (rc > 0 && !err[0])
				dbs_fmt(err, sizeof err, "commit at the stop failed");
			failed = 1;
		}
	}
	drop_held(s);
	if (failed) {
		if (!err[0])
			dbs_fmt(err, sizeof err, "target failed");
		dbs__stream_node_end(s, &s->target_node, DBS_STATUS_FAILED, err);
		dbs__stream_request_stop(s, STOP_FAILURE);
	}
	if (s->source_running) {
		pthread_join(s->source_thread, NULL);
		s->source_running = 0;
	} else if (s->opts.part == DBS_PART_ALL) {
		/* Stopped or failed while resuming: no source thread to end it. */
		dbs__stream_node_end(s, &s->source_node,
		                     dbs__stream_status_for(atomic_load(&s->stop_reason)), NULL);
	}
	if (!failed) {
		enum stop_reason reason = (enum stop_reason)atomic_load(&s->stop_reason);
		dbs__stream_node_end(s, &s->target_node, dbs__stream_status_for(reason), NULL);
	}
	dbs__stream_close_plugins(s);
	dbs__stream_mark_ended(s);
	return NULL;
}

/* Mode convert: the load is the whole stream. */
void *dbs__stream_load_main(void *arg)
{
	dbs_stream *s = arg;
	char err[DBS_ERRMSG_MAX] = "";
	int blame = LOAD_BLAME_TARGET;
	int rc = dbs__load_run(s->load, &blame, err, sizeof err);
	dbs__load_close(s->load);
	if (rc < 0) {
		load_failed(s, blame, err);
	} else {
		dbs_status status =
		    rc == 0
		        ? DBS_STATUS_FINISHED
		        : dbs__stream_status_for((enum stop_reason)atomic_load(&s->stop_reason));
		dbs__stream_node_end(s, &s->source_node, status, NULL);
		dbs__stream_node_end(s, &s->target_node, status, NULL);
	}
	dbs__stream_close_plugins(s);
	dbs__stream_mark_ended(s);
	return NULL;
}
