/*
 * Stall detection: a stream that has work (source log not yet confirmed,
 * or a batch the target holds uncommitted) but commits nothing for
 * stallAfter seconds reports itself stalled, so a stream that stopped
 * delivering is never silent.
 *
 * Progress is anything that shows data moving towards the target's
 * commit: a target commit, a remote writer's acknowledgement (part
 * SOURCE), or the source's lag reported as zero or smaller than before
 * (its confirmed position moved, also for log it skipped). The fields are
 * atomics: the source, target and watcher threads touch them.
 */
#include "core/core.h"

void dbs__stall_init(dbs_stall *w, uint64_t after_s)
{
	int64_t now = dbs_time_monotonic_ns();
	w->after_ns = after_s > (uint64_t)INT64_MAX / 1000000000 ? INT64_MAX
	                                                          : (int64_t)after_s * 1000000000;
	atomic_init(&w->progress_mono_ns, now);
	atomic_init(&w->lag_bytes, 0);
	atomic_init(&w->held, 0);
	atomic_init(&w->pending_mono_ns, 0);
	atomic_init(&w->since_mono_ns, 0);
	atomic_init(&w->stalled, 0);
}

void dbs__stall_progress(dbs_stall *w)
{
	atomic_store(&w->progress_mono_ns, dbs_time_monotonic_ns());
}

void dbs__stall_lag(dbs_stall *w, uint64_t bytes)
{
	uint64_t before = atomic_exchange(&w->lag_bytes, bytes);
	if (bytes == 0 || bytes < before)
		dbs__stall_progress(w);
}

void dbs__stall_held(dbs_stall *w, int held)
{
	atomic_store(&w->held, held != 0);
}

int dbs__stall_check(dbs_stall *w, int64_t now_mono_ns)
{
	int was = atomic_load(&w->stalled);
	int pending = atomic_load(&w->lag_bytes) > 0 || atomic_load(&w->held);
	if (!pending || w->after_ns <= 0) {
		atomic_store(&w->pending_mono_ns, 0);
		atomic_store(&w->stalled, 0);
		return was ? -1 : 0;
	}
	int64_t pending_since = atomic_load(&w->pending_mono_ns);
	if (!pending_since) {
		pending_since = now_mono_ns;
		atomic_store(&w->pending_mono_ns, pending_since);
	}
	/* The clock starts at the later of the last progress and the moment
	 * work was first seen: work that arrives after a quiet hour is not
	 * a stall. */
	int64_t progress = atomic_load(&w->progress_mono_ns);
	int64_t start = progress > pending_since ? progress : pending_since;
	atomic_store(&w->since_mono_ns, start);
	int now_stalled = now_mono_ns - start >= w->after_ns;
	atomic_store(&w->stalled, now_stalled);
	return now_stalled == was ? 0 : now_stalled ? 1 : -1;
}

int64_t dbs__stall_since_ns(const dbs_stall *w)
{
	if (!atomic_load(&w->stalled))
		return 0;
	int64_t since = atomic_load(&w->since_mono_ns);
	return dbs_time_now_ns() - (dbs_time_monotonic_ns() - since);
}
