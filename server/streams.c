#include "streams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Ended streams kept for stat/config after they end; older ended ones are
 * freed when a new stream arrives, so a long-running server stays bounded. */
#define SRV_KEEP_ENDED 32

int srv_streams_init(srv_streams *list)
{
	memset(list, 0, sizeof *list);
	return pthread_mutex_init(&list->lock, NULL) == 0 ? 0 : -1;
}

srv_entry *srv_entry_new(void)
{
	srv_entry *entry = calloc(1, sizeof *entry);

	if (entry == NULL)
		goto fail;
	if (dbs_ksuid_new(entry->id) != 0)
		goto fail;
	return entry;
fail:
	free(entry);
	return NULL;
}

void srv_entry_discard(srv_entry *entry)
{
	if (entry == NULL)
		return;
	/* The thread creating the stream let go of the entry before it ends;
	 * joining it here takes a moment at most. */
	if (entry->has_starter)
		pthread_join(entry->starter, NULL);
	dbs_stream_free(atomic_load(&entry->stream));
	free(entry->config);
	free(entry->shown);
	free(entry);
}

dbs_stream *srv_entry_stream(srv_entry *entry)
{
	return atomic_load(&entry->stream);
}

/* Under the list lock. */
static bool entry_ended(srv_entry *entry)
{
	dbs_stat stat = DBS_STAT_INIT;
	dbs_stream *stream = atomic_load(&entry->stream);

	if (entry->start == SRV_START_FAILED)
		return true;
	if (stream == NULL || dbs_stream_stat(stream, &stat) != 0)
		return false;
	return dbs_status_is_terminal(stat.source.status) &&
	       dbs_status_is_terminal(stat.target.status);
}

int srv_streams_spawn(srv_streams *list, srv_entry *entry, void *(*fn)(void *), void *arg)
{
	int rc;

	/* Under the lock: the thread lets go of the entry (taking the lock)
	 * only once the entry knows it has a thread to join. */
	pthread_mutex_lock(&list->lock);
	rc = pthread_create(&entry->starter, NULL, fn, arg);
	entry->has_starter = rc == 0;
	pthread_mutex_unlock(&list->lock);
	return rc == 0 ? 0 : -1;
}

int srv_streams_add(srv_streams *list, srv_entry *entry, size_t max_starting)
{
	srv_entry *doomed = NULL;
	size_t ended = 0;
	int rc = -1;

	pthread_mutex_lock(&list->lock);
	if (list->closed)
		goto out;
	if (entry->start == SRV_STARTING && max_starting > 0 && list->starting >= max_starting) {
		rc = -2;
		goto out;
	}
	if (entry->start == SRV_STARTING)
		list->starting++;
	entry->refs = 1;
	entry->next = list->head;
	list->head = entry;
	list->count++;
	/* Unlink ended, unused streams past the newest SRV_KEEP_ENDED ended
	 * ones. dbs_stream_stat never blocks, so calling it here is cheap.
	 * One whose record still says "running" stays until the watcher has
	 * written its end: forgotten first, it would be resumed at the next
	 * start although it ended. */
	for (srv_entry **link = &list->head; *link != NULL;) {
		srv_entry *e = *link;

		if (e->refs == 0 && !e->recorded && entry_ended(e) && ++ended > SRV_KEEP_ENDED) {
			*link = e->next;
			list->count--;
			e->next = doomed;
			doomed = e;
			continue;
		}
		link = &e->next;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&list->lock);
	/* Freeing joins the stream's threads: never under the lock. */
	while (doomed != NULL) {
		srv_entry *next = doomed->next;

		srv_log(DBS_LOG_DEBUG, "forgetting ended stream %s", doomed->id);
		srv_entry_discard(doomed);
		doomed = next;
	}
	return rc;
}

srv_entry *srv_streams_acquire(srv_streams *list, const char *id)
{
	srv_entry *found = NULL;

	pthread_mutex_lock(&list->lock);
	for (srv_entry *e = list->head; e != NULL; e = e->next) {
		if (id == NULL || strcmp(e->id, id) == 0) {
			found = e;
			break;
		}
	}
	if (found != NULL)
		found->refs++;
	pthread_mutex_unlock(&list->lock);
	return found;
}

void srv_streams_release(srv_streams *list, srv_entry *entry)
{
	if (entry == NULL)
		return;
	pthread_mutex_lock(&list->lock);
	entry->refs--;
	pthread_mutex_unlock(&list->lock);
}

bool srv_streams_started(srv_streams *list, srv_entry *entry, dbs_stream *stream)
{
	bool stopped;

	pthread_mutex_lock(&list->lock);
	atomic_store(&entry->stream, stream);
	entry->start = SRV_STARTED;
	list->starting--;
	stopped = entry->user_stopped;
	pthread_mutex_unlock(&list->lock);
	return stopped;
}

void srv_streams_start_failed(srv_streams *list, srv_entry *entry, const char *message)
{
	pthread_mutex_lock(&list->lock);
	snprintf(entry->start_error, sizeof entry->start_error, "%s", message);
	entry->start = SRV_START_FAILED;
	list->starting--;
	pthread_mutex_unlock(&list->lock);
}

bool srv_streams_stop_pending(srv_streams *list, srv_entry *entry)
{
	bool pending;

	pthread_mutex_lock(&list->lock);
	pending = entry->start == SRV_STARTING;
	if (pending)
		entry->user_stopped = true;
	pthread_mutex_unlock(&list->lock);
	return pending;
}

srv_start srv_streams_start_state(srv_streams *list, srv_entry *entry, char *error,
                                  bool *stopped)
{
	srv_start start;

	pthread_mutex_lock(&list->lock);
	start = entry->start;
	if (error != NULL)
		memcpy(error, entry->start_error, sizeof entry->start_error);
	if (stopped != NULL)
		*stopped = entry->user_stopped;
	pthread_mutex_unlock(&list->lock);
	return start;
}

bool srv_streams_mark_stopped(srv_streams *list, srv_entry *entry)
{
	bool was;

	pthread_mutex_lock(&list->lock);
	was = entry->user_stopped;
	entry->user_stopped = true;
	pthread_mutex_unlock(&list->lock);
	return was;
}

bool srv_streams_set_recorded(srv_streams *list, srv_entry *entry, bool value)
{
	bool was;

	pthread_mutex_lock(&list->lock);
	was = entry->recorded;
	entry->recorded = value;
	pthread_mutex_unlock(&list->lock);
	return was;
}

bool srv_streams_active(srv_streams *list, const char *id)
{
	bool active = false;

	pthread_mutex_lock(&list->lock);
	for (srv_entry *e = list->head; e != NULL && !active; e = e->next)
		if (strcmp(e->id, id) == 0 &&
		    (e->start == SRV_STARTING || (atomic_load(&e->stream) != NULL && !entry_ended(e))))
			active = true;
	pthread_mutex_unlock(&list->lock);
	return active;
}

long srv_streams_acquire_all(srv_streams *list, srv_entry ***out)
{
	srv_entry **entries = NULL;
	long n = -1;

	*out = NULL;
	pthread_mutex_lock(&list->lock);
	/* calloc checks count * size for overflow. */
	entries = calloc(list->count ? list->count : 1, sizeof *entries);
	if (entries == NULL)
		goto out;
	n = 0;
	for (srv_entry *e = list->head; e != NULL; e = e->next) {
		e->refs++;
		entries[n++] = e;
	}
	*out = entries;
out:
	pthread_mutex_unlock(&list->lock);
	return n;
}

void srv_streams_release_all(srv_streams *list, srv_entry **entries, long n)
{
	pthread_mutex_lock(&list->lock);
	for (long i = 0; i < n; i++)
		entries[i]->refs--;
	pthread_mutex_unlock(&list->lock);
}

void srv_streams_shutdown(srv_streams *list)
{
	srv_entry *all;

	pthread_mutex_lock(&list->lock);
	list->closed = true;
	all = list->head;
	list->head = NULL;
	list->count = 0;
	pthread_mutex_unlock(&list->lock);

	/* Streams still being created first get their stream (or fail). */
	for (srv_entry *e = all; e != NULL; e = e->next) {
		if (e->has_starter) {
			pthread_join(e->starter, NULL);
			e->has_starter = false;
		}
	}
	/* Every stream drains and confirms its position before any is
	 * torn down. */
	for (srv_entry *e = all; e != NULL; e = e->next) {
		dbs_stream *stream = atomic_load(&e->stream);

		srv_log(DBS_LOG_INFO, "stopping stream %s", e->id);
		if (stream != NULL && dbs_stream_stop(stream) != 0)
			srv_log(DBS_LOG_WARN, "stream %s: stop: %s", e->id, dbs_error_last());
	}
	while (all != NULL) {
		srv_entry *next = all->next;

		srv_entry_discard(all);
		all = next;
	}
	pthread_mutex_destroy(&list->lock);
}
