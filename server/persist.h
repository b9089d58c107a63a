/*
 * The server's streams and its state directory together: recording a
 * stream when it is created and when it ends, resuming the running ones at
 * start, and a watcher that notices streams ending by themselves.
 */
#ifndef DBS_SERVER_PERSIST_H
#define DBS_SERVER_PERSIST_H

#include "routes.h"

/* "nats" with --nats, else "memory": the hub of new streams whose
 * configuration names none. */
const char *srv_default_hub(const srv_app *app);

/* Library options of a stream this server runs (log, id, the hub it was
 * created on). The id is entry->id, which must outlive the stream. */
void srv_stream_options(const srv_app *app, srv_entry *entry, dbs_stream_options *opts);

/*
 * Create the stream of a SRV_STARTING entry (in the list, with the
 * caller's reference) on a thread of its own, and hand that thread the
 * reference. The entry shows its stream, or why it could not be created,
 * once done. 0, or -1 when no thread could be started (the entry then
 * shows that, and the reference is released).
 */
int srv_persist_start(srv_app *app, srv_entry *entry);

/*
 * Record `entry` as running (app->state NULL: nothing to do). 0, or -1
 * with the reason in err. Takes no ownership.
 */
int srv_persist_running(srv_app *app, srv_entry *entry, char *err, size_t errlen);

/*
 * Record `entry` as ended (how: "stopped", "failed", "limit", "finished";
 * NULL: from its statuses). Logs a failure; the stream is then resumed at
 * the next start.
 */
void srv_persist_ended(srv_app *app, srv_entry *entry, const char *how, const dbs_stat *stat);

/* Resume every stream the state directory records as running: each is in
 * the list (starting) when this returns, and connects on its own thread.
 * Call before requests are served. */
void srv_persist_resume(srv_app *app);

/*
 * Start / stop the thread that records streams ending by themselves
 * (failed, limit reached). Stop it before the streams are stopped at
 * shutdown: those stay "running" in the state, to be resumed.
 */
int srv_persist_watch_start(srv_app *app);
void srv_persist_watch_stop(srv_app *app);

#endif
