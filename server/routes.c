#include "routes.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <civetweb.h>

#include "log.h"
#include "persist.h"
#include "render.h"

#define JSON_TYPE "application/json"
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define API_STREAMS "/api/v1/streams"
#define PATH_MAX_LEN 512
#define FILE_NAME_MAX 255

/* RFC 7231 date for the Date header, thread-safe. */
static void http_date(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL || strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		buf[0] = '\0';
}

/*
 * Send one complete response. Returns the status for CivetWeb's access log.
 * The header is written by hand: CivetWeb 1.15's mg_response_header_send
 * formats its Date header with gmtime(), which races between workers.
 */
static int reply(struct mg_connection *conn, int status, const char *type, const char *body,
                 size_t len, const char *allow)
{
	char date[64];

	if (body == NULL) {
		/* Rendering ran out of memory: say so without allocating. */
		status = 500;
		type = JSON_TYPE;
		body = "{\"status\":\"error\",\"message\":\"out of memory\"}";
		len = strlen(body);
		allow = NULL;
	}
	http_date(date, sizeof date);
	mg_printf(conn,
	          "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	          "Cache-Control: no-store\r\nConnection: close\r\n%s%s%s\r\n",
	          status, mg_get_response_code_text(conn, status), date, type, len,
	          allow ? "Allow: " : "", allow ? allow : "", allow ? "\r\n" : "");
	if (len > 0)
		mg_write(conn, body, len);
	return status;
}

/* Send a rendered JSON string and free it. */
static int reply_json(struct mg_connection *conn, int status, char *body)
{
	int rc = reply(conn, status, JSON_TYPE, body, body ? strlen(body) : 0, NULL);

	free(body);
	return rc;
}

static int reply_error(struct mg_connection *conn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reply_error(struct mg_connection *conn, int status, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	/* A truncated message is still the right answer. */
	if (vsnprintf(message, sizeof message, fmt, ap) < 0)
		message[0] = '\0';
	va_end(ap);
	return reply_json(conn, status, render_error(message));
}

static int reply_method_not_allowed(struct mg_connection *conn, const char *method, const char *path,
                                    const char *allow)
{
	char *body;
	char message[PATH_MAX_LEN + 128];
	int n = snprintf(message, sizeof message, "method %s not allowed on %s", method, path);
	int rc;

	if (n < 0)
		message[0] = '\0';
	body = render_error(message);
	rc = reply(conn, 405, JSON_TYPE, body, body ? strlen(body) : 0, allow);
	free(body);
	return rc;
}

/* ---- request bodies and config files ---- */

/*
 * Read the whole body into a new buffer (NUL-terminated for convenience;
 * *len excludes it). Returns 0, 413 when it exceeds the limit, 400 when the
 * connection broke, 500 when memory ran out.
 */
static int read_body(struct mg_connection *conn, size_t limit, char **out, size_t *len)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	size_t cap;
	size_t used = 0;
	char *buf = NULL;
	int status = 500;

	*out = NULL;
	*len = 0;
	if (ri->content_length > 0 && (unsigned long long)ri->content_length > limit) {
		status = 413;
		goto fail;
	}
	/* Without a length (chunked), read until the end, one byte past the
	 * limit at most. */
	cap = ri->content_length >= 0 ? (size_t)ri->content_length + 1 : 4096;
	buf = malloc(cap);
	if (buf == NULL)
		goto fail;
	for (;;) {
		int n;

		if (used + 1 >= cap) {
			char *grown;

			if (cap > limit + 1) {
				status = 413;
				goto fail;
			}
			cap = cap * 2 > limit + 2 ? limit + 2 : cap * 2;
			grown = realloc(buf, cap);
			if (grown == NULL)
				goto fail;
			buf = grown;
		}
		n = mg_read(conn, buf + used, cap - 1 - used);
		if (n < 0) {
			status = 400;
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > limit) {
			status = 413;
			goto fail;
		}
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
fail:
	free(buf);
	return status;
}

/* A plain file name: no directory part, no "." or "..", nothing hidden
 * behind a control character. */
static bool plain_file_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > FILE_NAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/*
 * Read config_dir/name. Returns 0, or an HTTP status with the reason in
 * `err`.
 */
static int read_config_file(const srv_app *app, const char *name, char **out, size_t *len,
                            char *err, size_t errlen)
{
	char path[4096];
	FILE *f = NULL;
	char *buf = NULL;
	size_t used = 0;
	int status = 500;
	int n;

	*out = NULL;
	*len = 0;
	n = snprintf(path, sizeof path, "%s/%s", app->config_dir, name);
	if (n < 0 || (size_t)n >= sizeof path) {
		snprintf(err, errlen, "file %s: path too long", name);
		status = 400;
		goto fail;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "file %s: %s", name, strerror(errno));
		status = 400;
		goto fail;
	}
	buf = malloc(app->body_limit + 2);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	used = fread(buf, 1, app->body_limit + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "file %s: read error", name);
		status = 400;
		goto fail;
	}
	if (used > app->body_limit) {
		snprintf(err, errlen, "file %s: larger than %zu bytes", name, app->body_limit);
		status = 413;
		goto fail;
	}
	fclose(f);
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
fail:
	if (f != NULL)
		fclose(f);
	free(buf);
	return status;
}

/* ---- handlers ---- */

/* A stream's stat: its own, or on the API node the nodes' combined one. */
static int entry_stat(srv_app *app, srv_entry *entry, dbs_stat *stat)
{
	if (entry->stream != NULL)
		return dbs_stream_stat(entry->stream, stat);
	if (app->cluster == NULL)
		return DBS_ESTATE;
	srv_cluster_stat(app->cluster, entry->id, stat);
	return 0;
}

/* The configuration with passwords masked, for the API node that runs no
 * stream: "user:secret@" in URIs and DSNs, and password=… in key=value
 * strings, become "********". A new string (free()) or NULL. */
static char *mask_secret(const char *text)
{
	size_t len = strlen(text);
	char *out = malloc(len + 16);
	const char *at = strchr(text, '@');
	const char *scheme = strstr(text, "://");
	const char *from = scheme && scheme < at ? scheme + 3 : text;
	const char *colon = at ? memchr(from, ':', (size_t)(at - from)) : NULL;
	const char *pw = strstr(text, "password=");

	if (out == NULL)
		return NULL;
	if (colon != NULL) {
		snprintf(out, len + 16, "%.*s********%s", (int)(colon + 1 - text), text, at);
	} else if (pw != NULL) {
		const char *end = strchr(pw, ' ');
		snprintf(out, len + 16, "%.*s********%s", (int)(pw + 9 - text), text, end ? end : "");
	} else {
		memcpy(out, text, len + 1);
	}
	return out;
}

static void mask_tree(cJSON *node)
{
	for (cJSON *c = node ? node->child : NULL; c != NULL; c = c->next) {
		if (cJSON_IsString(c) && c->string != NULL &&
		    (strcmp(c->string, "connection") == 0 || strcmp(c->string, "url") == 0)) {
			char *masked = mask_secret(c->valuestring);
			if (masked != NULL) {
				cJSON_SetValuestring(c, masked);
				free(masked);
			}
		} else if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
			mask_tree(c);
		}
	}
}

static char *masked_config(const char *id, const char *text, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	cJSON *shown = cJSON_CreateObject();
	char *out = NULL;

	if (j == NULL || shown == NULL || cJSON_AddStringToObject(shown, "id", id) == NULL)
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(j, "id");
	mask_tree(j);
	/* id first, as the streams running here show it. */
	while (j->child != NULL) {
		cJSON *item = cJSON_DetachItemViaPointer(j, j->child);
		cJSON_AddItemToObject(shown, item->string, item);
	}
	out = cJSON_PrintUnformatted(shown);
out:
	cJSON_Delete(j);
	cJSON_Delete(shown);
	return out;
}

/* POST on the API node: validate, then hand the stream to the nodes. */
static int stream_create_remote(struct mg_connection *conn, srv_app *app, const char *text,
                                size_t len)
{
	srv_entry *entry = NULL;
	char *config = NULL;
	char err[1024];
	int status;

	if (dbs_config_validate(text, len) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = reply_error(conn, 400, "%s", err);
		goto out;
	}
	entry = srv_entry_new();
	if (entry == NULL || (config = masked_config(entry->id, text, len)) == NULL) {
		status = reply_error(conn, 500, "out of memory");
		goto out;
	}
	if (srv_cluster_create(app->cluster, entry->id, text, len, err, sizeof err) != 0) {
		status = reply_error(conn, 503, "%s", err);
		goto out;
	}
	if (srv_streams_add(&app->streams, entry) != 0) {
		status = reply_error(conn, 503, "the server is shutting down");
		goto out;
	}
	srv_log(DBS_LOG_INFO, "stream %s handed to the nodes", entry->id);
	srv_streams_release(&app->streams, entry);
	entry = NULL;
	status = reply_json(conn, 200, render_created(config));
out:
	srv_entry_discard(entry);
	free(config);
	return status;
}

/*
 * Whether the configuration has a top-level "name" that a stream in the
 * state directory had: its id into id. A configuration that is not JSON
 * is left to the library to refuse.
 */
static bool config_name_known(const srv_app *app, const char *text, size_t len, char id[28])
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
	bool found = cJSON_IsString(name) && name->valuestring[0] != '\0' &&
	             srv_state_find_name(app->state, name->valuestring, id);

	cJSON_Delete(j);
	return found;
}

static int stream_create(struct mg_connection *conn, srv_app *app)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	dbs_stream_options opts;
	srv_entry *entry = NULL;
	char *text = NULL;
	char *config = NULL;
	size_t len = 0;
	char file[FILE_NAME_MAX + 2];
	char resume_id[64];
	char err[1024];
	int has_file = -1;
	int has_id = -1;
	bool by_name = false;
	bool locked = false;
	int status;
	int rc;

	if (ri->query_string != NULL) {
		has_file = mg_get_var(ri->query_string, strlen(ri->query_string), "file", file,
		                      sizeof file);
		has_id = mg_get_var(ri->query_string, strlen(ri->query_string), "id", resume_id,
		                    sizeof resume_id);
	}
	status = read_body(conn, app->body_limit, &text, &len);
	if (status == 413) {
		status = reply_error(conn, 413, "request body larger than %zu bytes", app->body_limit);
		goto out;
	}
	if (status != 0) {
		status = reply_error(conn, status, "could not read the request body");
		goto out;
	}
	if (has_file == -2 || (has_file >= 0 && !plain_file_name(file))) {
		status = reply_error(conn, 400,
		                     "file: must be a plain file name in the server's config directory");
		goto out;
	}
	if (has_file >= 0) {
		if (len > 0) {
			status = reply_error(conn, 400, "give the configuration either as the body or as ?file=, not both");
			goto out;
		}
		free(text);
		text = NULL;
		status = read_config_file(app, file, &text, &len, err, sizeof err);
		if (status != 0) {
			status = reply_error(conn, status, "%s", err);
			goto out;
		}
	}
	if (len == 0) {
		status = reply_error(conn, 400, "empty configuration: send it as the body or name it with ?file=");
		goto out;
	}
	if (has_id < 0 && app->role == SRV_ROLE_ALL && app->state != NULL &&
	    config_name_known(app, text, len, resume_id)) {
		/* The same name means the same stream: it resumes. */
		has_id = 27;
		by_name = true;
	}
	if (has_id == -2 || (has_id >= 0 && dbs_ksuid_check(resume_id) != 0)) {
		status = reply_error(conn, 400, "id: must be a stream id (27 base62 characters)");
		goto out;
	}
	if (has_id >= 0 && app->role != SRV_ROLE_ALL) {
		status = reply_error(conn, 400, "id: resuming a stream by id needs --role all");
		goto out;
	}

	if (app->role == SRV_ROLE_API) {
		status = stream_create_remote(conn, app, text, len);
		goto out;
	}
	if (app->role != SRV_ROLE_ALL) {
		status = reply_error(conn, 400, "this node takes its streams from the API node");
		goto out;
	}
	entry = srv_entry_new();
	if (entry == NULL) {
		status = reply_error(conn, 500, "could not allocate a stream");
		goto out;
	}
	if (has_id >= 0) {
		/* Two writers under one id would apply every change twice. */
		pthread_mutex_lock(&app->create_lock);
		locked = true;
		if (srv_streams_active(&app->streams, resume_id)) {
			status = reply_error(conn, 409, "stream %s%s is running: stop it before creating it again",
			                     resume_id, by_name ? " (same name)" : "");
			goto out;
		}
		memcpy(entry->id, resume_id, sizeof entry->id);
	}
	srv_stream_options(app, entry, &opts);
	rc = dbs_stream_create(&entry->stream, text, len, &opts);
	if (rc != 0) {
		/* dbs_error_last() lives until the next library call here. */
		snprintf(err, sizeof err, "%s", dbs_error_last());
		srv_log(DBS_LOG_INFO, "stream refused: %s", err);
		status = reply_error(conn,
		                     rc == DBS_ECONFIG || rc == DBS_EINVAL || rc == DBS_ENOTFOUND ? 400 : 500,
		                     "%s", err[0] ? err : dbs_strerror(rc));
		goto out;
	}
	if (dbs_stream_config_json(&config, entry->stream) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = reply_error(conn, 500, "%s", err);
		goto out;
	}
	entry->config = text;
	entry->config_len = len;
	text = NULL;
	/* A stream the state directory does not know would not come back
	 * after a restart: refuse rather than run it. */
	if (srv_persist_running(app, entry, err, sizeof err) != 0) {
		srv_log(DBS_LOG_ERROR, "stream %s refused: %s", entry->id, err);
		dbs_stream_stop(entry->stream);
		status = reply_error(conn, 500, "cannot record the stream in the state directory: %s", err);
		goto out;
	}
	if (srv_streams_add(&app->streams, entry) != 0) {
		status = reply_error(conn, 503, "the server is shutting down");
		goto out;
	}
	srv_log(DBS_LOG_INFO, "stream %s %s", entry->id,
	        by_name    ? "created again by name (resumes from its checkpoint)"
	        : has_id >= 0 ? "created again (resumes from its checkpoint)"
	                      : "created");
	srv_streams_release(&app->streams, entry);
	entry = NULL;
	status = reply_json(conn, 200, render_created(config));
out:
	if (locked)
		pthread_mutex_unlock(&app->create_lock);
	srv_entry_discard(entry);
	dbs_free(config);
	free(text);
	return status;
}

static int no_stream(struct mg_connection *conn, const char *id)
{
	int status;

	if (id != NULL)
		status = reply_error(conn, 404, "stream %s not found", id);
	else
		status = reply_error(conn, 400, "no stream has been created");
	return status;
}

static int stream_config(struct mg_connection *conn, srv_app *app, const char *id)
{
	srv_entry *entry = srv_streams_acquire(&app->streams, id);
	char *config = NULL;
	char err[1024];
	int status;

	if (entry == NULL) {
		status = no_stream(conn, id);
		goto out;
	}
	if (entry->stream == NULL) {
		char *remote = app->cluster ? srv_cluster_config(app->cluster, entry->id) : NULL;
		if (remote == NULL) {
			status = reply_error(conn, 503, "the source node has not reported yet");
			goto out;
		}
		status = reply(conn, 200, JSON_TYPE, remote, strlen(remote), NULL);
		free(remote);
		goto out;
	}
	if (dbs_stream_config_json(&config, entry->stream) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = reply_error(conn, 500, "%s", err);
		goto out;
	}
	status = reply(conn, 200, JSON_TYPE, config, strlen(config), NULL);
out:
	dbs_free(config);
	srv_streams_release(&app->streams, entry);
	return status;
}

static int stream_stat(struct mg_connection *conn, srv_app *app, const char *id)
{
	srv_entry *entry = srv_streams_acquire(&app->streams, id);
	dbs_stat stat = DBS_STAT_INIT;
	char err[1024];
	int status;

	if (entry == NULL) {
		status = no_stream(conn, id);
		goto out;
	}
	if (entry_stat(app, entry, &stat) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = reply_error(conn, 500, "%s", err);
		goto out;
	}
	status = reply_json(conn, 200, render_stat(&stat));
out:
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
		return reply_error(conn, 503, "%s", err);
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
	return reply_json(conn, 200, render_stopped(&stat));
}

/*
 * DELETE. The 0.x path (id NULL) refuses when the current stream is no
 * longer active, as 0.x does; the by-id path is idempotent and reports
 * the final statuses.
 */
static int stream_stop(struct mg_connection *conn, srv_app *app, const char *id)
{
	srv_entry *entry = srv_streams_acquire(&app->streams, id);
	dbs_stat stat = DBS_STAT_INIT;
	char err[1024];
	int status;

	if (entry == NULL) {
		if (id != NULL)
			status = no_stream(conn, id);
		else
			status = reply_error(conn, 400, "no active stream to stop");
		goto out;
	}
	if (entry_stat(app, entry, &stat) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = reply_error(conn, 500, "%s", err);
		goto out;
	}
	if (id == NULL && (both_ended(&stat) || srv_streams_mark_stopped(&app->streams, entry))) {
		status = reply_error(conn, 400, "no active stream to stop");
		goto out;
	}
	if (id != NULL)
		srv_streams_mark_stopped(&app->streams, entry);
	srv_log(DBS_LOG_INFO, "stopping stream %s", entry->id);
	if (entry->stream == NULL) {
		status = stop_remote(conn, app, entry);
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
	if (dbs_stream_stop(entry->stream) != 0 || entry_stat(app, entry, &stat) != 0) {
		snprintf(err, sizeof err, "%s", dbs_error_last());
		status = reply_error(conn, 500, "%s", err);
		goto out;
	}
	srv_log(DBS_LOG_INFO, "stream %s stopped: source %s, target %s", entry->id,
	        dbs_status_name(stat.source.status), dbs_status_name(stat.target.status));
	status = reply_json(conn, 200, render_stopped(&stat));
out:
	srv_streams_release(&app->streams, entry);
	return status;
}

static int reply_metrics(struct mg_connection *conn, unsigned nodes, const dbs_stat *stats, size_t n)
{
	render_buf buf = {0};
	char *text;
	size_t len;
	int status;

	render_metrics(&buf, nodes, stats, n);
	text = render_buf_take(&buf, &len);
	status = reply(conn, 200, PROM_TYPE, text, len, NULL);
	free(text);
	return status;
}

/* One stream's node metrics; with no stream the families are still
 * declared, so a scraper sees an empty series rather than an error. */
static int stream_metrics(struct mg_connection *conn, srv_app *app, const char *id, unsigned nodes)
{
	srv_entry *entry = srv_streams_acquire(&app->streams, id);
	dbs_stat stat = DBS_STAT_INIT;
	size_t n = 0;
	int status;

	if (entry == NULL && id != NULL) {
		status = no_stream(conn, id);
		goto out;
	}
	if (entry != NULL && entry_stat(app, entry, &stat) == 0)
		n = 1;
	status = reply_metrics(conn, nodes, &stat, n);
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
		status = reply_error(conn, 500, "out of memory");
		goto out;
	}
	stats = calloc(n > 0 ? (size_t)n : 1, sizeof *stats);
	if (stats == NULL) {
		status = reply_error(conn, 500, "out of memory");
		goto out;
	}
	for (long i = 0; i < n; i++) {
		dbs_stat init = DBS_STAT_INIT;

		stats[used] = init;
		if (entry_stat(app, entries[i], &stats[used]) == 0)
			used++;
	}
	status = reply_metrics(conn, RENDER_SOURCE | RENDER_TARGET | RENDER_HUB, stats, used);
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
				kind = dbs_ksuid_check(id) == 0 ? stream_suffix(rest + 1 + idlen) : ROUTE_NONE;
			}
			if (kind == ROUTE_NONE)
				id[0] = '\0';
		}
	}
	return kind;
}

static const char *allowed_methods(enum route_kind kind, bool by_id)
{
	const char *allow = "GET";

	if (kind == ROUTE_STREAMS)
		allow = by_id ? "GET, DELETE" : "GET, POST, DELETE";
	return allow;
}

static int route(struct mg_connection *conn, srv_app *app, const char *method, const char *path)
{
	char idbuf[28];
	enum route_kind kind = match_path(path, idbuf);
	const char *id = idbuf[0] ? idbuf : NULL;
	bool get = is(method, "GET");
	int status;

	if (kind == ROUTE_NONE)
		status = reply_error(conn, 404, "no such route: %s %s", method, path);
	else if (kind == ROUTE_STREAMS && get)
		status = stream_config(conn, app, id);
	else if (kind == ROUTE_STREAMS && is(method, "DELETE"))
		status = stream_stop(conn, app, id);
	else if (kind == ROUTE_STREAMS && is(method, "POST") && id == NULL)
		status = stream_create(conn, app);
	else if (!get || kind == ROUTE_STREAMS)
		status = reply_method_not_allowed(conn, method, path, allowed_methods(kind, id != NULL));
	else if (kind == ROUTE_HEALTH)
		status = reply_json(conn, 200, render_simple("status", "ok"));
	else if (kind == ROUTE_METRICS)
		status = all_metrics(conn, app);
	else if (kind == ROUTE_STAT)
		status = stream_stat(conn, app, id);
	else
		status = stream_metrics(conn, app, id,
		                        kind == ROUTE_SOURCE_METRICS ? RENDER_SOURCE : RENDER_TARGET);
	return status;
}

int srv_routes_handle(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *uri = ri->local_uri ? ri->local_uri : "";
	char path[PATH_MAX_LEN];
	size_t len = strlen(uri);
	int status;

	if (len >= sizeof path) {
		status = reply_error(conn, 404, "no such route");
		goto out;
	}
	memcpy(path, uri, len + 1);
	/* "/api/v1/streams/" means "/api/v1/streams". */
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	status = route(conn, cbdata, ri->request_method, path);
out:
	srv_log(DBS_LOG_DEBUG, "%s %s%s%s -> %d", ri->request_method, uri,
	        ri->query_string ? "?" : "", ri->query_string ? ri->query_string : "", status);
	return status;
}
