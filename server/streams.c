#include "streams.h"

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
	dbs_stream_free(entry->stream);
	free(entry->config);
	free(entry);
}

static bool entry_ended(const srv_entry *entry)
{
	dbs_stat stat = DBS_STAT_INIT;

	if (dbs_stream_stat(entry->stream, &stat) != 0)
		return false;
	return dbs_status_is_terminal(stat.source.status) &&
	       dbs_status_is_terminal(stat.target.status);
}

int srv_streams_add(srv_streams *list, srv_entry *entry)
{
	srv_entry *doomed = NULL;
	size_t ended = 0;
	int rc = -1;

	pthread_mutex_lock(&list->lock);
	if (list->closed)
		goto out;
	entry->refs = 1;
	entry->next = list->head;
	list->head = entry;
	list->count++;
	/* Unlink ended, unused streams past the newest SRV_KEEP_ENDED ended
	 * ones. dbs_stream_stat never blocks, so calling it here is cheap. */
	for (srv_entry **link = &list->head; *link != NULL;) {
		srv_entry *e = *link;

		if (e->refs == 0 && entry_ended(e) && ++ended > SRV_KEEP_ENDED) {
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
		if (strcmp(e->id, id) == 0 && e->stream != NULL && !entry_ended(e))
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

	/* Every stream drains and confirms its position before any is
	 * torn down. */
	for (srv_entry *e = all; e != NULL; e = e->next) {
		srv_log(DBS_LOG_INFO, "stopping stream %s", e->id);
		if (e->stream != NULL && dbs_stream_stop(e->stream) != 0)
			srv_log(DBS_LOG_WARN, "stream %s: stop: %s", e->id, dbs_error_last());
	}
	while (all != NULL) {
		srv_entry *next = all->next;

		srv_entry_discard(all);
		all = next;
	}
	pthread_mutex_destroy(&list->lock);
}
