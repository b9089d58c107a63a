#include "persist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* How often the watcher looks for streams that ended by themselves. */
#define WATCH_INTERVAL_MS 500

struct srv_watch {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop; /* guarded by lock */
};

const char *srv_default_hub(const srv_app *app)
{
	return app->nats_url != NULL ? "nats" : "memory";
}

void srv_stream_options(const srv_app *app, srv_entry *entry, dbs_stream_options *opts)
{
	dbs_stream_options defaults = DBS_STREAM_OPTIONS_INIT;

	*opts = defaults;
	/* A stream keeps the hub it was created on, whatever the server was
	 * restarted with: its checkpoint and its events live there. */
	if (app->nats_url != NULL && strcmp(entry->hub ? entry->hub : srv_default_hub(app), "nats") == 0) {
		opts->default_hub = "nats";
		opts->default_hub_url = app->nats_url;
		opts->default_hub_credentials = app->nats_creds;
		opts->default_hub_tls_ca = app->nats_ca;
	}
	opts->log = srv_log_stream;
	opts->log_user_data = entry->id;
	opts->log_level = srv_log_level();
	opts->stream_id = entry->id;
	opts->registry = app->registry;
}

int srv_persist_running(srv_app *app, srv_entry *entry, char *err, size_t errlen)
{
	if (app->state == NULL || entry->config == NULL)
		return 0;
	if (srv_state_save(app->state, entry->id, entry->config, entry->config_len, entry->hub, NULL,
	                   err, errlen) != 0)
		return -1;
	srv_streams_set_recorded(&app->streams, entry, true);
	return 0;
}

static const char *how_ended(const dbs_stat *stat)
{
	const dbs_status st[2] = {stat->source.status, stat->target.status};
	const char *how = "stopped";

	for (int i = 0; i < 2; i++) {
		if (st[i] == DBS_STATUS_FAILED || st[i] == DBS_STATUS_INIT_FAILED ||
		    st[i] == DBS_STATUS_UNKNOWN_ERROR)
			return "failed";
		if (st[i] == DBS_STATUS_TIME_LIMIT_REACHED || st[i] == DBS_STATUS_EVENT_LIMIT_REACHED)
			how = "limit";
		else if (st[i] == DBS_STATUS_FINISHED && strcmp(how, "stopped") == 0)
			how = "finished";
	}
	return how;
}

void srv_persist_ended(srv_app *app, srv_entry *entry, const char *how, const dbs_stat *stat)
{
	srv_state_end end = {.ended = how ? how : how_ended(stat),
	                     .source = stat->source.status,
	                     .target = stat->target.status};
	char err[1024];

	if (app->state == NULL || entry->config == NULL)
		return;
	srv_streams_set_recorded(&app->streams, entry, false);
	if (srv_state_save(app->state, entry->id, entry->config, entry->config_len, entry->hub, &end,
	                   err, sizeof err) != 0) {
		srv_log(DBS_LOG_ERROR, "stream %s: cannot record its end (%s): %s; it will be resumed at the next start",
		        entry->id, end.ended, err);
		return;
	}
	srv_log(DBS_LOG_DEBUG, "stream %s recorded as ended (%s)", entry->id, end.ended);
}

typedef struct start_job {
	srv_app *app;
	srv_entry *entry;
} start_job;

/* A resumed stream whose database is not up yet stays recorded as
 * running, so the next start tries again: decided before the stream is
 * published, so the watcher never records it ended. */
static void resumed_check(srv_app *app, srv_entry *e, dbs_stream *stream)
{
	dbs_stat stat = DBS_STAT_INIT;

	if (dbs_stream_stat(stream, &stat) == 0 && (stat.source.status == DBS_STATUS_INIT_FAILED ||
	                                             stat.target.status == DBS_STATUS_INIT_FAILED)) {
		srv_log(DBS_LOG_ERROR, "stream %s: resumed, but INIT FAILED (source %s%s%s, target %s%s%s); still recorded as running",
		        e->id, dbs_status_name(stat.source.status), stat.source.message[0] ? ": " : "",
		        stat.source.message, dbs_status_name(stat.target.status),
		        stat.target.message[0] ? ": " : "", stat.target.message);
		srv_streams_set_recorded(&app->streams, e, false);
		return;
	}
	srv_log(DBS_LOG_INFO, "stream %s resumed", e->id);
}

/* The stream's own thread until it exists: opening the databases takes
 * as long as they take to answer, and no request waits for it. */
static void *start_main(void *arg)
{
	start_job *job = arg;
	srv_app *app = job->app;
	srv_entry *e = job->entry;
	dbs_stream_options opts;
	dbs_stream *stream = NULL;
	int rc;

	free(job);
	srv_stream_options(app, e, &opts);
	rc = dbs_stream_create(&stream, e->config, e->config_len, &opts);
	if (rc != 0) {
		char why[DBS_NODE_MESSAGE_MAX];
		dbs_stat stat = DBS_STAT_INIT;

		snprintf(why, sizeof why, "%s", dbs_error_last()[0] ? dbs_error_last() : dbs_strerror(rc));
		srv_streams_start_failed(&app->streams, e, why);
		if (e->resumed) {
			srv_log(DBS_LOG_ERROR, "stream %s: not resumed: %s (its record is kept; fix it or remove it)",
			        e->id, why);
		} else {
			srv_log(DBS_LOG_ERROR, "stream %s: could not start: %s", e->id, why);
			stat.source.status = DBS_STATUS_FAILED;
			stat.target.status = DBS_STATUS_FAILED;
			if (srv_streams_set_recorded(&app->streams, e, false))
				srv_persist_ended(app, e, "failed", &stat);
		}
		goto out;
	}
	if (e->resumed)
		resumed_check(app, e, stream);
	if (srv_streams_started(&app->streams, e, stream)) {
		/* Stopped while its databases were connecting. */
		srv_log(DBS_LOG_INFO, "stream %s: stopped before it started", e->id);
		dbs_stream_stop(stream);
	}
out:
	srv_streams_release(&app->streams, e);
	return NULL;
}

int srv_persist_start(srv_app *app, srv_entry *entry)
{
	start_job *job = malloc(sizeof *job);

	if (job != NULL) {
		job->app = app;
		job->entry = entry;
		if (srv_streams_spawn(&app->streams, entry, start_main, job) == 0)
			return 0;
	}
	free(job);
	srv_streams_start_failed(&app->streams, entry, "could not start a thread for the stream");
	srv_streams_release(&app->streams, entry);
	return -1;
}

static void resume_one(const char *id, const char *config, size_t len, const char *hub,
                       void *user_data)
{
	srv_app *app = user_data;
	srv_entry *entry = srv_entry_new();
	int rc;

	if (entry == NULL || (entry->config = malloc(len + 1)) == NULL) {
		srv_log(DBS_LOG_ERROR, "stream %s: not resumed: out of memory", id);
		goto out;
	}
	memcpy(entry->id, id, sizeof entry->id);
	memcpy(entry->config, config, len + 1);
	entry->config_len = len;
	entry->resumed = true;
	entry->recorded = true;
	entry->hub = hub == NULL ? srv_default_hub(app) : strcmp(hub, "nats") == 0 ? "nats" : "memory";
	if (strcmp(entry->hub, "nats") == 0 && app->nats_url == NULL) {
		srv_log(DBS_LOG_ERROR, "stream %s: not resumed: it runs on the NATS hub; start the server with --nats URL (its record is kept)",
		        id);
		goto out;
	}
	if (dbs_config_masked_json(&entry->shown, config, len, id) != 0) {
		srv_log(DBS_LOG_ERROR, "stream %s: not resumed: %s (its record is kept; fix it or remove it)",
		        id, dbs_error_last());
		goto out;
	}
	entry->start = SRV_STARTING;
	rc = srv_streams_add(&app->streams, entry, 0);
	if (rc != 0)
		goto out;
	srv_log(DBS_LOG_INFO, "stream %s: resuming", id);
	srv_persist_start(app, entry);
	entry = NULL;
out:
	srv_entry_discard(entry);
}

void srv_persist_resume(srv_app *app)
{
	int skipped;

	if (app->state == NULL)
		return;
	skipped = srv_state_load(app->state, resume_one, app);
	if (skipped > 0)
		srv_log(DBS_LOG_ERROR, "state: %d stream record(s) in %s could not be read and were skipped (see above)",
		        skipped, app->state->streams_dir);
}

/* Record the streams that ended by themselves since the last look. */
static void watch_once(srv_app *app)
{
	srv_entry **entries = NULL;
	long n = srv_streams_acquire_all(&app->streams, &entries);

	for (long i = 0; i < n; i++) {
		srv_entry *e = entries[i];
		dbs_stat stat = DBS_STAT_INIT;

		dbs_stream *stream = srv_entry_stream(e);

		if (stream == NULL || dbs_stream_stat(stream, &stat) != 0)
			continue;
		/* Test and clear, so each end is written once. */
		if (dbs_status_is_terminal(stat.source.status) &&
		    dbs_status_is_terminal(stat.target.status) &&
		    srv_streams_set_recorded(&app->streams, e, false))
			srv_persist_ended(app, e, NULL, &stat);
	}
	if (n > 0)
		srv_streams_release_all(&app->streams, entries, n);
	free(entries);
}

static void *watch_main(void *arg)
{
	srv_app *app = arg;
	struct srv_watch *w = app->watch;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&w->cond, &w->lock, &until);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->lock);
		watch_once(app);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int srv_persist_watch_start(srv_app *app)
{
	struct srv_watch *w;

	if (app->state == NULL)
		return 0;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return -1;
	if (pthread_mutex_init(&w->lock, NULL) != 0) {
		free(w);
		return -1;
	}
	if (pthread_cond_init(&w->cond, NULL) != 0) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -1;
	}
	app->watch = w;
	if (pthread_create(&w->thread, NULL, watch_main, app) != 0) {
		app->watch = NULL;
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -1;
	}
	return 0;
}

void srv_persist_watch_stop(srv_app *app)
{
	struct srv_watch *w = app->watch;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	app->watch = NULL;
}
