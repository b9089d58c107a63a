#include "routes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <civetweb.h>

#include "log.h"
#include "request.h"
#include "persist.h"
#include "render.h"

#define API_STREAMS "/api/v1/streams"
#define PATH_MAX_LEN 512

/* ---- handlers ---- */

/*
 * A stream's stat: its own, the nodes' combined one on the API node, or
 * (no stream yet) what its start says. Returns 0 with *status NULL or a
 * status name standing for both nodes; 1 for a stream still starting
 * (*status "STARTING"); -1 on failure (message in dbs_error_last()).
 */
static int entry_stat(srv_app *app, srv_entry *entry, dbs_stat *stat, const char **status)
{
	dbs_stream *stream = srv_entry_stream(entry);
	bool stopped = false;
	srv_start start;

	*status = NULL;
	if (stream != NULL)
		return dbs_stream_stat(stream, stat) == 0 ? 0 : -1;
	start = srv_streams_start_state(&app->streams, entry, stat->source.message, &stopped);
	memcpy(stat->stream_id, entry->id, sizeof stat->stream_id);
	if (start == SRV_REMOTE) {
		if (app->cluster == NULL)
			return -1;
		srv_cluster_stat(app->cluster, entry->id, stat);
		return 0;
	}
	if (start == SRV_START_FAILED) {
		stat->source.status = DBS_STATUS_FAILED;
		stat->target.status = DBS_STATUS_FAILED;
		memcpy(stat->target.message, stat->source.message, sizeof stat->target.message);
		return 0;
	}
	if (start == SRV_STARTED) {
		/* Published meanwhile. */
		stream = srv_entry_stream(entry);
		return stream != NULL && dbs_stream_stat(stream, stat) == 0 ? 0 : -1;
	}
	stat->source.message[0] = '\0';
	if (stopped) {
		stat->source.status = DBS_STATUS_STOPPED;
		stat->target.status = DBS_STATUS_STOPPED;
		return 0;
	}
	*status = RENDER_STATUS_STARTING;
	return 1;
}

/* POST on the API node: validate, then hand the stream to the nodes. */
static int stream_create_remote(struct mg_connection *conn, srv_app *app, const char *text,
                                size_t len)
{
	srv_entry *entry = NULL;
	char err[1024];
	int status;

	entry = srv_entry_new();
	if (entry == NULL) {
		status = srv_reply_error(conn, 500, "out of memory");
		goto out;
	}
	/* The library's own masker: the answer shows no secret. */
	if (dbs_config_masked_json(&entry->shown, text, len, entry->id) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = srv_reply_error(conn, 400, "%s", err);
		goto out;
	}
	if (srv_cluster_create(app->cluster, entry->id, text, len, err, sizeof err) != 0) {
		status = srv_reply_error(conn, 503, "%s", err);
		goto out;
	}
	entry->start = SRV_REMOTE;
	if (srv_streams_add(&app->streams, entry, 0) != 0) {
		status = srv_reply_error(conn, 503, "the server is shutting down");
		goto out;
	}
	srv_log(DBS_LOG_INFO, "stream %s handed to the nodes", entry->id);
	status = srv_reply_json(conn, 200, render_created(entry->shown));
	srv_streams_release(&app->streams, entry);
	entry = NULL;
out:
	srv_entry_discard(entry);
	return status;
}

/*
 * The top-level "name" of a configuration, copied, or NULL. The library
 * has validated the text (so it is shallow); parsed here only for the
 * name.
 */
static char *config_name(const char *text, size_t len)
{
	cJSON *j = dbs_json_check_depth(text, len) == 0 ? cJSON_ParseWithLength(text, len) : NULL;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
	char *out =
	    cJSON_IsString(name) && name->valuestring[0] != '\0' ? strdup(name->valuestring) : NULL;

	cJSON_Delete(j);
	return out;
}

static int stream_create(struct mg_connection *conn, srv_app *app)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	srv_entry *entry = NULL;
	char *text = NULL;
	char *name = NULL;
	size_t len = 0;
	char file[FILE_NAME_MAX + 2];
	char resume_id[64];
	char err[1024];
	int has_file, has_id;
	bool by_name = false;
	bool locked = false;
	int status;
	int rc;

	if (!srv_content_type_ok(conn)) {
		status = srv_reply_error(
		    conn, 415, "a configuration is sent as Content-Type: application/json");
		goto out;
	}
	has_file = srv_query_var(ri->query_string, "file", file, sizeof file);
	has_id = srv_query_var(ri->query_string, "id", resume_id, sizeof resume_id);
	status = srv_read_body(conn, app, &text, &len);
	if (status == 413) {
		status = srv_reply_error(conn, 413, "request body larger than %zu bytes",
		                         app->body_limit);
		goto out;
	}
	if (status == 408) {
		status = srv_reply_error(conn, 408, "the request body took longer than %d s",
		                         BODY_TIMEOUT_MS / 1000);
		goto out;
	}
	if (status != 0) {
		status = srv_reply_error(conn, status, "could not read the request body");
		goto out;
	}
	if (has_file < 0 || (has_file > 0 && !srv_plain_file_name(file))) {
		status = srv_reply_error(
		    conn, 400, "file: must be a plain file name in the server's config directory");
		goto out;
	}
	if (has_file > 0) {
		if (len > 0) {
			status = srv_reply_error(
			    conn, 400,
			    "give the configuration either as the body or as ?file=, not both");
			goto out;
		}
		free(text);
		text = NULL;
		status = srv_read_config_file(app, file, &text, &len, err, sizeof err);
		if (status != 0) {
			status = srv_reply_error(conn, status, "%s", err);
			goto out;
		}
	}
	if (len == 0) {
		status = srv_reply_error(
		    conn, 400, "empty configuration: send it as the body or name it with ?file=");
		goto out;
	}
	if (has_id < 0 || (has_id > 0 && dbs_ksuid_check(resume_id) != 0)) {
		status =
		    srv_reply_error(conn, 400, "id: must be a stream id (27 base62 characters)");
		goto out;
	}
	/* Validated (nesting depth first) before anything here parses it. */
	if (dbs_config_validate(text, len) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		srv_log(DBS_LOG_INFO, "stream refused: %s", err);
		status = srv_reply_error(conn, 400, "%s", err);
		goto out;
	}
	if (has_id > 0 && app->role != SRV_ROLE_ALL) {
		status = srv_reply_error(conn, 400, "id: resuming a stream by id needs --role all");
		goto out;
	}
	if (app->role == SRV_ROLE_API) {
		status = stream_create_remote(conn, app, text, len);
		goto out;
	}
	if (app->role != SRV_ROLE_ALL) {
		status =
		    srv_reply_error(conn, 400, "this node takes its streams from the API node");
		goto out;
	}
	entry = srv_entry_new();
	if (entry == NULL) {
		status = srv_reply_error(conn, 500, "could not allocate a stream");
		goto out;
	}
	if (app->state != NULL && has_id == 0)
		name = config_name(text, len);
	/*
	 * Deciding the id, recording the stream and listing it are one step:
	 * two requests with one id, or with one new name, must not both make
	 * a stream. Nothing here waits for a database.
	 */
	pthread_mutex_lock(&app->create_lock);
	locked = true;
	if (has_id > 0) {
		memcpy(entry->id, resume_id, sizeof entry->id);
	} else if (name != NULL && srv_state_find_name(app->state, name, entry->id)) {
		/* The same name means the same stream: it resumes. */
		by_name = true;
	} else if (name != NULL && srv_state_claim_name(app->state, name, entry->id) != 0) {
		status = srv_reply_error(conn, 500, "out of memory");
		goto out;
	}
	if (srv_streams_active(&app->streams, entry->id)) {
		status = srv_reply_error(conn, 409,
		                         "stream %s%s is running: stop it before creating it again",
		                         entry->id, by_name ? " (same name)" : "");
		goto out;
	}
	if (dbs_config_masked_json(&entry->shown, text, len, entry->id) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = srv_reply_error(conn, 500, "%s", err);
		goto out;
	}
	entry->config = text;
	entry->config_len = len;
	entry->hub = srv_default_hub(app);
	text = NULL;
	/* A stream the state directory does not know would not come back
	 * after a restart: refuse rather than run it. */
	if (srv_persist_running(app, entry, err, sizeof err) != 0) {
		srv_log(DBS_LOG_ERROR, "stream %s refused: %s", entry->id, err);
		status = srv_reply_error(
		    conn, 500, "cannot record the stream in the state directory: %s", err);
		goto out;
	}
	entry->start = SRV_STARTING;
	rc = srv_streams_add(&app->streams, entry, SRV_MAX_STARTING);
	if (rc != 0) {
		/* Not started after all: a restart must not start it either. */
		dbs_stat gone = DBS_STAT_INIT;

		gone.source.status = DBS_STATUS_STOPPED;
		gone.target.status = DBS_STATUS_STOPPED;
		srv_persist_ended(app, entry, "stopped", &gone);
		status =
		    rc == -2
		        ? srv_reply_error_with(conn, 503, "Retry-After: 5\r\n",
		                               "%d streams are starting already: try again shortly",
		                               SRV_MAX_STARTING)
		        : srv_reply_error(conn, 503, "the server is shutting down");
		goto out;
	}
	pthread_mutex_unlock(&app->create_lock);
	locked = false;
	srv_log(DBS_LOG_INFO, "stream %s %s", entry->id,
	        by_name      ? "created again by name (resumes from its checkpoint)"
	        : has_id > 0 ? "created again (resumes from its checkpoint)"
	                     : "created");
	status = srv_reply_json(conn, 200, render_created(entry->shown));
	/* Its databases connect on the stream's own thread; the answer does
	 * not wait for them (stat says STARTING until then). */
	srv_persist_start(app, entry);
	entry = NULL;
out:
	if (locked)
		pthread_mutex_unlock(&app->create_lock);
	srv_entry_discard(entry);
	free(name);
	free(text);
	return status;
}

static int no_stream(struct mg_connection *conn, const char *id)
{
	int status;

	if (id != NULL)
		status = srv_reply_error(conn, 404, "stream %s not found", id);
	else
		status = srv_reply_error(conn, 400, "no stream has been created");
	return status;
}

static int stream_config(struct mg_connection *conn, srv_app *app, const char *id)
{
	srv_entry *entry = srv_streams_acquire(&app->streams, id);
	dbs_stream *stream = entry ? srv_entry_stream(entry) : NULL;
	char *config = NULL;
	char err[1024];
	int status;

	if (entry == NULL) {
		status = no_stream(conn, id);
		goto out;
	}
	if (stream == NULL) {
		/* On the API node, what the source node runs; otherwise (not
		 * created yet, or no report yet) as posted, masked. */
		char *remote = app->cluster ? srv_cluster_config(app->cluster, entry->id) : NULL;

		if (remote != NULL) {
			status = srv_reply(conn, 200, JSON_TYPE, remote, strlen(remote), NULL);
			free(remote);
			goto out;
		}
		if (entry->shown == NULL) {
			status = srv_reply_error(conn, 503, "the configuration is not known yet");
			goto out;
		}
		status = srv_reply(conn, 200, JSON_TYPE, entry->shown, strlen(entry->shown), NULL);
		goto out;
	}
	if (dbs_stream_config_json(&config, stream) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = srv_reply_error(conn, 500, "%s", err);
		goto out;
	}
	status = srv_reply(conn, 200, JSON_TYPE, config, strlen(config), NULL);
out:
	dbs_free(config);
	srv_streams_release(&app->streams, entry);
	return status;
}

/* The tables of a stream's initial load in a new array (free()); NULL
 * when it copies none. */
static dbs_load_table_stat *load_tables(srv_entry *entry, const dbs_stat *stat, size_t *n)
{
	dbs_stream *stream = srv_entry_stream(entry);
	dbs_load_table_stat *tables = NULL;
	size_t count = 0;

	*n = 0;
	if (stream == NULL || stat->load.phase == DBS_LOAD_PHASE_NONE ||
	    dbs_stream_load_tables(stream, NULL, 0, &count) != 0 || count == 0)
		return NULL;
	tables = calloc(count, sizeof *tables);
	if (tables == NULL)
		return NULL;
	for (size_t i = 0; i < count; i++)
		tables[i].version = DBS_LOAD_TABLE_STAT_VERSION;
	if (dbs_stream_load_tables(stream, tables, count, n) != 0) {
		free(tables);
		return NULL;
	}
	if (*n > count)
		*n = count;
	return tables;
}

static int stream_stat(struct mg_connection *conn, srv_app *app, const char *id)
{
	srv_entry *entry = srv_streams_acquire(&app->streams, id);
	dbs_stat stat = DBS_STAT_INIT;
	const char *shown = NULL;
	dbs_load_table_stat *tables = NULL;
	size_t ntables = 0;
	char err[1024];
	int status;

	if (entry == NULL) {
		status = no_stream(conn, id);
		goto out;
	}
	if (entry_stat(app, entry, &stat, &shown) < 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = srv_reply_error(conn, 500, "%s", err);
		goto out;
	}
	tables = load_tables(entry, &stat, &ntables);
	status = srv_reply_json(conn, 200, render_stat(&stat, shown, tables, ntables));
out:
	free(tables);
	srv_streams_release(&app->streams, entry);
	return status;
}

static bool both_ended(const dbs_stat *stat)
{
	return dbs_status_is_terminal(stat->source.status) &&
	       dbs_status_is_terminal(stat->target.status);
}

/* How long DELETE on the API node waits for the nodes to report the end. */
#define REMOTE_STOP_WAIT_MS 60000

/* DELETE on the API node: tell every node, then wait until the source
 * stopped and the writers drained (their reports say so). */
static int stop_remote(struct mg_connection *conn, srv_app *app, srv_entry *entry)
{
	dbs_stat stat = DBS_STAT_INIT;
	char err[1024];

	if (srv_cluster_delete(app->cluster, entry->id, err, sizeof err) != 0)
		return srv_reply_error(conn, 503, "%s", err);
	for (int waited = 0; waited < REMOTE_STOP_WAIT_MS; waited += 100) {
		if (srv_cluster_stat(app->cluster, entry->id, &stat) == 0 && both_ended(&stat))
			break;
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	srv_cluster_stat(app->cluster, entry->id, &stat);
	/* Nodes that never reported have nothing left to stop. */
	if (!dbs_status_is_terminal(stat.source.status) && stat.source.counter == 0 &&
	    stat.source.started_ns == 0)
		stat.source.status = DBS_STATUS_STOPPED;
	if (!dbs_status_is_terminal(stat.target.status) && stat.target.counter == 0 &&
	    stat.target.started_ns == 0)
		stat.target.status = DBS_STATUS_STOPPED;
	srv_log(DBS_LOG_INFO, "stream %s stopped on the nodes: source %s, target %s", entry->id,
	        dbs_status_name(stat.source.status), dbs_status_name(stat.target.status));
	return srv_reply_json(conn, 200, render_stopped(&stat));
}

/*
 * DELETE of a stream whose databases are still connecting: it is stopped
 * as soon as it exists (by the thread creating it), recorded as stopped
 * now. false when the stream was published meanwhile.
 */
static bool stop_pending(struct mg_connection *conn, srv_app *app, srv_entry *entry, int *status)
{
	dbs_stat stat = DBS_STAT_INIT;

	if (!srv_streams_stop_pending(&app->streams, entry))
		return false;
	memcpy(stat.stream_id, entry->id, sizeof stat.stream_id);
	stat.source.status = DBS_STATUS_STOPPED;
	stat.target.status = DBS_STATUS_STOPPED;
	if (srv_streams_set_recorded(&app->streams, entry, false) || entry->resumed)
		srv_persist_ended(app, entry, "stopped", &stat);
	srv_log(DBS_LOG_INFO, "stream %s stopped while starting", entry->id);
	*status = srv_reply_json(conn, 200, render_stopped(&stat));
	return true;
}

/*
 * DELETE. The 0.x path (id NULL) refuses when the current stream is no
 * longer active, as 0.x does; the by-id path is idempotent and reports
 * the final statuses.
 */
static int stream_stop(struct mg_connection *conn, srv_app *app, const char *id)
{
	srv_entry *entry = srv_streams_acquire(&app->streams, id);
	dbs_stream *stream;
	dbs_stat stat = DBS_STAT_INIT;
	const char *shown = NULL;
	char err[1024];
	int status;
	int rc;

	if (entry == NULL) {
		if (id != NULL)
			status = no_stream(conn, id);
		else
			status = srv_reply_error(conn, 400, "no active stream to stop");
		goto out;
	}
	rc = entry_stat(app, entry, &stat, &shown);
	if (rc < 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = srv_reply_error(conn, 500, "%s", err);
		goto out;
	}
	if (id == NULL && rc == 0 &&
	    (both_ended(&stat) || srv_streams_mark_stopped(&app->streams, entry))) {
		status = srv_reply_error(conn, 400, "no active stream to stop");
		goto out;
	}
	if (rc == 1 && stop_pending(conn, app, entry, &status))
		goto out;
	if (id != NULL)
		srv_streams_mark_stopped(&app->streams, entry);
	srv_log(DBS_LOG_INFO, "stopping stream %s", entry->id);
	stream = srv_entry_stream(entry);
	if (stream == NULL && app->cluster != NULL) {
		status = stop_remote(conn, app, entry);
		goto out;
	}
	if (stream == NULL) {
		/* A start that failed: nothing runs; its statuses stay. */
		status = srv_reply_json(conn, 200, render_stopped(&stat));
		goto out;
	}
	if (rc == 1 && dbs_stream_stat(stream, &stat) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = srv_reply_error(conn, 500, "%s", err);
		goto out;
	}
	/* Recorded first: a server killed while the stream drains must not
	 * resume what the user stopped. One that ended by itself keeps the
	 * reason it ended for (a resumed stream whose database was not up is
	 * still recorded as running until now). */
	if (!both_ended(&stat))
		srv_persist_ended(app, entry, "stopped", &stat);
	else if (entry->resumed || srv_streams_set_recorded(&app->streams, entry, false))
		srv_persist_ended(app, entry, NULL, &stat);
	/* Blocks while the stream drains; the list lock is not held here. */
	if (dbs_stream_stop(stream) != 0 || dbs_stream_stat(stream, &stat) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = srv_reply_error(conn, 500, "%s", err);
		goto out;
	}
	srv_log(DBS_LOG_INFO, "stream %s stopped: source %s, target %s", entry->id,
	        dbs_status_name(stat.source.status), dbs_status_name(stat.target.status));
	status = srv_reply_json(conn, 200, render_stopped(&stat));
out:
	srv_streams_release(&app->streams, entry);
	return status;
}

/* Metrics of `n` streams (`entries`, NULL when none): the load's
 * per-table families with the target's. */
static int reply_metrics(struct mg_connection *conn, unsigned nodes, const dbs_stat *stats,
                         srv_entry *const *entries, size_t n)
{
	render_buf buf = {0};
	render_load_row *rows = NULL;
	dbs_load_table_stat **tables = NULL;
	size_t nrows = 0;
	char *text;
	size_t len;
	int status;

	render_metrics(&buf, nodes, stats, n);
	if ((nodes & RENDER_TARGET) && n) {
		tables = calloc(n, sizeof *tables);
		for (size_t i = 0; tables && i < n; i++) {
			size_t k = 0;
			tables[i] = load_tables(entries[i], &stats[i], &k);
			render_load_row *grown =
			    k ? realloc(rows, (nrows + k) * sizeof *rows) : rows;
			if (grown == NULL)
				break;
			rows = grown;
			for (size_t j = 0; j < k; j++)
				rows[nrows++] =
				    (render_load_row){stats[i].stream_id, &tables[i][j]};
		}
	}
	if (nodes & RENDER_TARGET)
		render_load_tables(&buf, rows, nrows);
	for (size_t i = 0; tables && i < n; i++)
		free(tables[i]);
	free(tables);
	free(rows);
	text = render_buf_take(&buf, &len);
	status = srv_reply(conn, 200, PROM_TYPE, text, len, NULL);
	free(text);
	return status;
}

/* One stream's node metrics; with no stream the families are still
 * declared, so a scraper sees an empty series rather than an error. A
 * stream still starting has no series yet. */
static int stream_metrics(struct mg_connection *conn, srv_app *app, const char *id, unsigned nodes)
{
	srv_entry *entry = srv_streams_acquire(&app->streams, id);
	dbs_stat stat = DBS_STAT_INIT;
	const char *shown = NULL;
	size_t n = 0;
	int status;

	if (entry == NULL && id != NULL) {
		status = no_stream(conn, id);
		goto out;
	}
	if (entry != NULL && entry_stat(app, entry, &stat, &shown) == 0)
		n = 1;
	status = reply_metrics(conn, nodes, &stat, &entry, n);
out:
	srv_streams_release(&app->streams, entry);
	return status;
}

static int all_metrics(struct mg_connection *conn, srv_app *app)
{
	srv_entry **entries = NULL;
	dbs_stat *stats = NULL;
	long n = srv_streams_acquire_all(&app->streams, &entries);
	size_t used = 0;
	int status;

	if (n < 0) {
		n = 0;
		status = srv_reply_error(conn, 500, "out of memory");
		goto out;
	}
	stats = calloc(n > 0 ? (size_t)n : 1, sizeof *stats);
	if (stats == NULL) {
		status = srv_reply_error(conn, 500, "out of memory");
		goto out;
	}
	srv_entry **used_entries = calloc(n > 0 ? (size_t)n : 1, sizeof *used_entries);
	if (used_entries == NULL) {
		status = srv_reply_error(conn, 500, "out of memory");
		goto out;
	}
	for (long i = 0; i < n; i++) {
		dbs_stat init = DBS_STAT_INIT;
		const char *shown = NULL;

		stats[used] = init;
		if (entry_stat(app, entries[i], &stats[used], &shown) == 0)
			used_entries[used++] = entries[i];
	}
	status = reply_metrics(conn, RENDER_SOURCE | RENDER_TARGET | RENDER_HUB, stats,
	                       used_entries, used);
	free(used_entries);
out:
	srv_streams_release_all(&app->streams, entries, n);
	free(entries);
	free(stats);
	return status;
}

/* ---- routing ---- */

enum route_kind {
	ROUTE_NONE,
	ROUTE_HEALTH,         /* /healthz */
	ROUTE_METRICS,        /* /metrics */
	ROUTE_STREAMS,        /* /api/v1/streams, /api/v1/streams/{id} */
	ROUTE_STAT,           /* …/stat */
	ROUTE_SOURCE_METRICS, /* …/source/metrics */
	ROUTE_TARGET_METRICS, /* …/target/metrics */
};

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* What follows /api/v1/streams or /api/v1/streams/{id}. */
static enum route_kind stream_suffix(const char *rest)
{
	enum route_kind kind = ROUTE_NONE;

	if (is(rest, ""))
		kind = ROUTE_STREAMS;
	else if (is(rest, "/stat"))
		kind = ROUTE_STAT;
	else if (is(rest, "/source/metrics"))
		kind = ROUTE_SOURCE_METRICS;
	else if (is(rest, "/target/metrics"))
		kind = ROUTE_TARGET_METRICS;
	return kind;
}

/*
 * Which route a path names; id[] receives the stream id of the by-id
 * routes and stays "" for the current stream's. A 27-character segment is
 * an id, never confused with "stat" or "source".
 */
static enum route_kind match_path(const char *path, char id[28])
{
	const size_t prefix = sizeof API_STREAMS - 1;
	enum route_kind kind = ROUTE_NONE;

	id[0] = '\0';
	if (is(path, "/healthz")) {
		kind = ROUTE_HEALTH;
	} else if (is(path, "/metrics")) {
		kind = ROUTE_METRICS;
	} else if (strncmp(path, API_STREAMS, prefix) == 0) {
		const char *rest = path + prefix;
		size_t idlen = 0;

		kind = stream_suffix(rest);
		if (kind == ROUTE_NONE && rest[0] == '/') {
			idlen = strcspn(rest + 1, "/");
			if (idlen == 27) {
				memcpy(id, rest + 1, idlen);
				id[idlen] = '\0';
				kind = dbs_ksuid_check(id) == 0 ? stream_suffix(rest + 1 + idlen)
				                                : ROUTE_NONE;
			}
			if (kind == ROUTE_NONE)
				id[0] = '\0';
		}
	}
	return kind;
}

static const char *allowed_methods(enum route_kind kind, bool by_id)
{
	const char *allow = "Allow: GET, HEAD\r\n";

	if (kind == ROUTE_STREAMS)
		allow =
		    by_id ? "Allow: GET, HEAD, DELETE\r\n" : "Allow: GET, HEAD, POST, DELETE\r\n";
	return allow;
}

static int route(struct mg_connection *conn, srv_app *app, const char *method, const char *path)
{
	char idbuf[28];
	enum route_kind kind = match_path(path, idbuf);
	const char *id = idbuf[0] ? idbuf : NULL;
	bool get = is(method, "GET") || is(method, "HEAD");
	int status;

	if (kind == ROUTE_NONE)
		status = srv_reply_error(conn, 404, "no such route: %s %s", method, path);
	else if (kind == ROUTE_STREAMS && get)
		status = stream_config(conn, app, id);
	else if (kind == ROUTE_STREAMS && is(method, "DELETE"))
		status = stream_stop(conn, app, id);
	else if (kind == ROUTE_STREAMS && is(method, "POST") && id == NULL)
		status = stream_create(conn, app);
	else if (!get || kind == ROUTE_STREAMS)
		status = srv_reply_error_with(conn, 405, allowed_methods(kind, id != NULL),
		                              "method %s not allowed on %s", method, path);
	else if (kind == ROUTE_HEALTH)
		status = srv_reply_json(conn, 200, render_simple("status", "ok"));
	else if (kind == ROUTE_METRICS)
		status = all_metrics(conn, app);
	else if (kind == ROUTE_STAT)
		status = stream_stat(conn, app, id);
	else
		status = stream_metrics(
		    conn, app, id, kind == ROUTE_SOURCE_METRICS ? RENDER_SOURCE : RENDER_TARGET);
	return status;
}

int srv_routes_begin_request(struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	srv_app *app = mg_get_user_data(mg_get_context(conn));
	const char *raw = ri->local_uri ? ri->local_uri : "";
	char path[PATH_MAX_LEN];
	char why[256];
	size_t len;
	int status;
	int rc = srv_decode_path(raw, path, sizeof path);

	if (rc != 0) {
		status = rc == -2 ? srv_reply_error(conn, 404, "no such route")
		                  : srv_reply_error(conn, 400, "malformed request path");
		goto out;
	}
	/* "/api/v1/streams/" means "/api/v1/streams". */
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	status = srv_guard_request(&app->guard, ri, is(path, "/healthz"), why, sizeof why);
	if (status == 401) {
		status = srv_reply_error_with(conn, 401, "WWW-Authenticate: Bearer\r\n", "%s", why);
		goto out;
	}
	if (status != 0) {
		status = srv_reply_error(conn, status, "%s", why);
		goto out;
	}
	/* Between the socket opening and the streams being resumed. */
	if (!atomic_load(&app->ready)) {
		status =
		    srv_reply_error_with(conn, 503, "Retry-After: 1\r\n", "the server is starting");
		goto out;
	}
	status = route(conn, app, ri->request_method, path);
out:
	/* The log escapes control characters: a path cannot forge a line. */
	srv_log(DBS_LOG_DEBUG, "%s %s %s%s%s -> %d", ri->remote_addr, ri->request_method, raw,
	        ri->query_string ? "?" : "", ri->query_string ? ri->query_string : "", status);
	return status;
}

int srv_routes_http_error(struct mg_connection *conn, int status, const char *message)
{
	/* CivetWeb's own refusals (a malformed request line, headers too
	 * large, an unknown method) in the API's error shape. */
	srv_reply_error(conn, status, "%s",
	                message && message[0] ? message : mg_get_response_code_text(conn, status));
	return 0;
}
