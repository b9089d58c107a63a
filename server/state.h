/*
 * dbs-server's state directory: one record per stream (its id, its
 * configuration with passwords, and whether it is running or ended), so
 * that a restarted server resumes the streams that were running, under the
 * same ids, from their targets' checkpoints.
 *
 * Layout: DIR/lock (held with flock while a server uses DIR) and
 * DIR/streams/<id>.json, each written whole to a temporary file, fsynced
 * and renamed over the old one, mode 0600:
 *   {"format":1,"id":"…","state":"running","hub":"memory","config":{…}}
 *   {"format":1,"id":"…","state":"ended","ended":"stopped|failed|limit|finished",
 *    "source":"STATUS","target":"STATUS","at":"RFC 3339","hub":"memory","config":{…}}
 */
#ifndef DBS_SERVER_STATE_H
#define DBS_SERVER_STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <dbstreams/dbstreams.h>

/* Ended records kept beyond a restart (newest first); older ones are
 * removed when the server starts. */
#define SRV_STATE_KEEP_ENDED 32

struct srv_record_ref;

typedef struct srv_state {
	char *dir;         /* the state directory */
	char *streams_dir; /* dir/streams */
	int lock_fd;       /* dir/lock, flock()ed; -1 when closed */
	/* What each record says, kept in memory so that a name is found
	 * without reading every record and ended records are pruned as they
	 * are written. Guarded by lock. */
	pthread_mutex_t lock;
	struct srv_record_ref *refs;
	size_t nrefs, caprefs;
} srv_state;

/*
 * The default state directory into buf: /var/lib/dbstreams for root, else
 * $XDG_STATE_HOME/dbstreams, else $HOME/.local/state/dbstreams. 0, or -1
 * when no home is known or buf is too small.
 */
int srv_state_default_dir(char *buf, size_t size);

/*
 * Create DIR (and missing parents) with mode 0700 and DIR/streams, and
 * lock DIR so that a second server cannot resume the same streams. 0, or
 * -1 with the reason in err.
 */
int srv_state_open(srv_state *st, const char *dir, char *err, size_t errlen);
void srv_state_close(srv_state *st);

/* How a stream ended, for its record; NULL ended means running. */
typedef struct srv_state_end {
	const char *ended; /* "stopped", "failed", "limit", "finished" */
	dbs_status source, target;
} srv_state_end;

/*
 * Write the record of stream `id` atomically (temp file, fsync, rename,
 * fsync of the directory). `config` is the stream's JSON configuration as
 * posted; `hub` ("memory" or "nats", may be NULL) the hub it runs on when
 * the configuration names none. Writing an ended record removes the oldest
 * ended ones beyond SRV_STATE_KEEP_ENDED. 0, or -1 with the reason in err.
 * Thread-safe (one file per id; callers do not write one id from two
 * threads at once).
 */
int srv_state_save(srv_state *st, const char *id, const char *config, size_t len,
                   const char *hub, const srv_state_end *end, char *err, size_t errlen);

/*
 * The id of the newest record (running or ended) whose configuration has
 * the top-level "name" `name`, into id. 1 when found, 0 otherwise.
 * Thread-safe; reads no file.
 */
int srv_state_find_name(srv_state *st, const char *name, char id[28]);

/*
 * Make `name` find `id` from now on, before its record is written: two
 * requests creating a stream of one new name must agree on its id.
 * 0, or -1 when memory ran out. Thread-safe.
 */
int srv_state_claim_name(srv_state *st, const char *name, const char id[28]);

/* Called for every running record, oldest id first; config is a
 * NUL-terminated JSON text that lives for the call only; hub is what the
 * record says (NULL for records written before it was recorded). */
typedef void (*srv_state_resume_fn)(const char *id, const char *config, size_t len,
                                    const char *hub, void *user_data);

/*
 * Read every record: call fn for the running ones, log and skip the ones
 * that cannot be read or parsed (the file is left as it is), remove
 * leftover temporary files and ended records beyond SRV_STATE_KEEP_ENDED.
 * Returns the number of records skipped, or -1 when the directory cannot
 * be listed (logged).
 */
int srv_state_load(srv_state *st, srv_state_resume_fn fn, void *user_data);

#endif
