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
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <dbstreams/dbstreams.h>

/* Where an entry's stream is. */
typedef enum srv_start {
	SRV_STARTING = 0, /* being created on a thread of its own (databases connecting) */
	SRV_STARTED,      /* stream is set */
	SRV_START_FAILED, /* the library refused it; start_error says why */
	SRV_REMOTE        /* API node: the stream runs on the nodes */
} srv_start;

typedef struct srv_entry {
	/* Set once, by the thread that creates the stream, under the list
	 * lock; read with srv_entry_stream(). NULL until then, after a failed
	 * start, and on the API node. */
	_Atomic(dbs_stream *) stream;
	/* Immutable once the entry is in the list. */
	char id[28];
	char *config;       /* the configuration as posted (passwords in clear) */
	size_t config_len;  /* for the state directory; NULL on the API node */
	char *shown;        /* the configuration as GET /streams shows it (masked) */
	const char *hub;    /* "memory" or "nats": the hub of a configuration
	                       naming none, kept across restarts */
	bool resumed;       /* resumed from the state directory at start */
	pthread_t starter;  /* the thread creating the stream */
	bool has_starter;   /* joined by srv_entry_discard */
	/* Guarded by srv_streams.lock. */
	srv_start start;
	char start_error[DBS_NODE_MESSAGE_MAX]; /* SRV_START_FAILED */
	unsigned refs;
	bool user_stopped; /* a DELETE already stopped it */
	bool recorded;     /* its state record says "running" */
	struct srv_entry *next;
} srv_entry;

/* Streams being created at once; more are refused until some are up, so a
 * flood of POSTs cannot start a thread each. */
#define SRV_MAX_STARTING 64

typedef struct srv_streams {
	pthread_mutex_t lock;
	srv_entry *head; /* newest first; guarded by lock */
	size_t count;    /* guarded by lock */
	size_t starting; /* entries in SRV_STARTING; guarded by lock */
	bool closed;     /* guarded by lock: shutting down, refuse new streams */
} srv_streams;

int srv_streams_init(srv_streams *list);

/* A new entry with a fresh id, not yet in the list; NULL on failure. */
srv_entry *srv_entry_new(void);
/* Free an entry that never entered the list (and its stream, if any). */
void srv_entry_discard(srv_entry *entry);

/* The entry's stream, or NULL while there is none (see srv_entry). */
dbs_stream *srv_entry_stream(srv_entry *entry);

/*
 * Put `entry` at the head and take a reference for the caller. Returns -1
 * when the server is shutting down, -2 when the entry is SRV_STARTING and
 * `max_starting` (0: no bound) entries already are (the entry is left to
 * the caller in both cases). Ended
 * streams beyond a bound are freed here, outside the lock.
 */
int srv_streams_add(srv_streams *list, srv_entry *entry, size_t max_starting);

/*
 * Start the thread that creates the entry's stream: fn(arg) runs on it.
 * The thread is joined by srv_entry_discard or srv_streams_shutdown.
 * 0, or -1 when no thread could be started.
 */
int srv_streams_spawn(srv_streams *list, srv_entry *entry, void *(*fn)(void *), void *arg);

/*
 * The starting entry got its stream: publish it. Returns whether a DELETE
 * stopped the entry meanwhile (the caller then stops the stream).
 */
bool srv_streams_started(srv_streams *list, srv_entry *entry, dbs_stream *stream);

/* The starting entry's stream could not be created: say why. */
void srv_streams_start_failed(srv_streams *list, srv_entry *entry, const char *message);

/*
 * DELETE of an entry whose stream is not created yet: mark it stopped (the
 * thread creating it stops it once it exists) and return true; false when
 * the entry has its stream (stop that instead).
 */
bool srv_streams_stop_pending(srv_streams *list, srv_entry *entry);

/* Where the entry's stream is, and the reason of a failed start (room for
 * DBS_NODE_MESSAGE_MAX bytes; may be NULL). */
srv_start srv_streams_start_state(srv_streams *list, srv_entry *entry, char *error,
                                  bool *stopped);

/* The stream with this id, or the current one when id is NULL, with a
 * reference the caller releases; NULL when there is none. */
srv_entry *srv_streams_acquire(srv_streams *list, const char *id);
void srv_streams_release(srv_streams *list, srv_entry *entry);

/* Mark as stopped by the user; returns whether it already was. */
bool srv_streams_mark_stopped(srv_streams *list, srv_entry *entry);

/* Set entry->recorded to `value`; returns what it was. */
bool srv_streams_set_recorded(srv_streams *list, srv_entry *entry, bool value);

/* Whether a stream with this id is in the list and has not ended (both
 * nodes terminal), or is still being created. */
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
