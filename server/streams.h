/*
 * The server's streams, newest first. The newest is the "current" stream
 * of the 0.x API. Request handlers run on CivetWeb worker threads, so the
 * list is guarded by a mutex; entries are reference-counted so a handler
 * can use a stream (stat, stop, config) without holding that mutex —
 * dbs_stream_stop blocks for as long as the stream drains.
 */
#ifndef DBS_SERVER_STREAMS_H
#define DBS_SERVER_STREAMS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <dbstreams/dbstreams.h>

typedef struct srv_entry {
	/* Immutable once the entry is in the list. */
	dbs_stream *stream;
	char id[28];
	char *config;       /* the configuration as posted (passwords in clear) */
	size_t config_len;  /* for the state directory; NULL on the API node */
	bool resumed;       /* resumed from the state directory at start */
	/* Guarded by srv_streams.lock. */
	unsigned refs;
	bool user_stopped; /* a DELETE already stopped it */
	bool recorded;     /* its state record says "running" */
	struct srv_entry *next;
} srv_entry;

typedef struct srv_streams {
	pthread_mutex_t lock;
	srv_entry *head; /* newest first; guarded by lock */
	size_t count;    /* guarded by lock */
	bool closed;     /* guarded by lock: shutting down, refuse new streams */
} srv_streams;

int srv_streams_init(srv_streams *list);

/* A new entry with a fresh id, not yet in the list; NULL on failure. */
srv_entry *srv_entry_new(void);
/* Free an entry that never entered the list (and its stream, if any). */
void srv_entry_discard(srv_entry *entry);

/*
 * Put `entry` (with its stream) at the head and take a reference for the
 * caller. Returns -1 when the server is shutting down (the entry is left to
 * the caller). Ended streams beyond a bound are freed here, outside the lock.
 */
int srv_streams_add(srv_streams *list, srv_entry *entry);

/* The stream with this id, or the current one when id is NULL, with a
 * reference the caller releases; NULL when there is none. */
srv_entry *srv_streams_acquire(srv_streams *list, const char *id);
void srv_streams_release(srv_streams *list, srv_entry *entry);

/* Mark as stopped by the user; returns whether it already was. */
bool srv_streams_mark_stopped(srv_streams *list, srv_entry *entry);

/* Set entry->recorded to `value`; returns what it was. */
bool srv_streams_set_recorded(srv_streams *list, srv_entry *entry, bool value);

/* Whether a stream with this id is in the list and has not ended (both
 * nodes terminal). */
bool srv_streams_active(srv_streams *list, const char *id);

/*
 * Every stream, newest first, each with a reference: *out is a new array
 * (free() it after srv_streams_release_all). Returns the count, or -1 on
 * allocation failure.
 */
long srv_streams_acquire_all(srv_streams *list, srv_entry ***out);
void srv_streams_release_all(srv_streams *list, srv_entry **entries, long n);

/*
 * Refuse new streams, then stop every stream gracefully and free them all.
 * Call after the HTTP server stopped, so no handler holds a reference.
 */
void srv_streams_shutdown(srv_streams *list);

#endif
