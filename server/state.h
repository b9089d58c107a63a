/*
 * dbs-server's state directory: one record per stream (its id, its
 * configuration with passwords, and whether it is running or ended), so
 * that a restarted server resumes the streams that were running, under the
 * same ids, from their targets' checkpoints.
 *
 * Layout: DIR/lock (held with flock while a server uses DIR) and
 * DIR/streams/<id>.json, each written whole to a temporary file, fsynced
 * and renamed over the old one, mode 0600:
 *   {"format":1,"id":"…","state":"running","config":{…}}
 *   {"format":1,"id":"…","state":"ended","ended":"stopped|failed|limit|finished",
 *    "source":"STATUS","target":"STATUS","at":"RFC 3339","config":{…}}
 */
#ifndef DBS_SERVER_STATE_H
#define DBS_SERVER_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include <dbstreams/dbstreams.h>

/* Ended records kept beyond a restart (newest first); older ones are
 * removed when the server starts. */
#define SRV_STATE_KEEP_ENDED 32

typedef struct srv_state {
	char *dir;         /* the state directory */
	char *streams_dir; /* dir/streams */
	int lock_fd;       /* dir/lock, flock()ed; -1 when closed */
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
 * posted. 0, or -1 with the reason in err. Thread-safe (one file per id;
 * callers do not write one id from two threads at once).
 */
int srv_state_save(const srv_state *st, const char *id, const char *config, size_t len,
                   const srv_state_end *end, char *err, size_t errlen);

/*
 * The id of the newest record (running or ended) whose configuration has
 * the top-level "name" `name`, into id. 1 when found, 0 otherwise (also
 * when the directory cannot be read). Unreadable records are passed over.
 */
int srv_state_find_name(const srv_state *st, const char *name, char id[28]);

/* Called for every running record, oldest id first; config is a
 * NUL-terminated JSON text that lives for the call only. */
typedef void (*srv_state_resume_fn)(const char *id, const char *config, size_t len,
                                    void *user_data);

/*
 * Read every record: call fn for the running ones, log and skip the ones
 * that cannot be read or parsed (the file is left as it is), remove
 * leftover temporary files and ended records beyond SRV_STATE_KEEP_ENDED.
 * Returns the number of records skipped, or -1 when the directory cannot
 * be listed (logged).
 */
int srv_state_load(const srv_state *st, srv_state_resume_fn fn, void *user_data);

#endif
