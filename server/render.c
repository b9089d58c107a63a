#include "render.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

/* Print and free the object; NULL in, NULL out. */
static char *print_and_free(cJSON *obj)
{
	char *text = NULL;

	if (obj != NULL)
		text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	return text;
}

/* Length of the UTF-8 sequence at s (1 to 4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		/* No overlong forms, no surrogates. */
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/*
 * Add a text to a JSON object. cJSON copies bytes as they are, and one
 * byte that is not UTF-8 (a request path echoed, a database's message in
 * another encoding) would make the whole answer invalid JSON: such bytes
 * become '?'.
 */
static cJSON *add_text(cJSON *obj, const char *key, const char *text)
{
	size_t n = strlen(text);
	char *clean = malloc(n + 1);
	cJSON *item;

	if (clean == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_len((const unsigned char *)text + i);

		if (k == 0) {
			clean[i++] = '?';
			continue;
		}
		memcpy(clean + i, text + i, k);
		i += k;
	}
	clean[n] = '\0';
	item = cJSON_AddStringToObject(obj, key, clean);
	free(clean);
	return item;
}

char *render_error(const char *message)
{
	cJSON *obj = cJSON_CreateObject();

	if (obj == NULL)
		goto fail;
	if (cJSON_AddStringToObject(obj, "status", "error") == NULL ||
	    add_text(obj, "message", message ? message : "") == NULL)
		goto fail;
	return print_and_free(obj);
fail:
	cJSON_Delete(obj);
	return NULL;
}

char *render_simple(const char *key, const char *value)
{
	cJSON *obj = cJSON_CreateObject();

	if (obj == NULL)
		goto fail;
	if (cJSON_AddStringToObject(obj, key, value) == NULL)
		goto fail;
	return print_and_free(obj);
fail:
	cJSON_Delete(obj);
	return NULL;
}

char *render_created(const char *config_json)
{
	static const char head[] = "{\"status\":\"success\",\"data\":";
	size_t clen = strlen(config_json);
	size_t total;
	char *out = NULL;

	/* The library's text is already JSON: splice it in verbatim so its
	 * key order (id first) survives. */
	if (clen > SIZE_MAX - sizeof head - 2)
		goto fail;
	total = sizeof head - 1 + clen + 2;
	out = malloc(total);
	if (out == NULL)
		goto fail;
	memcpy(out, head, sizeof head - 1);
	memcpy(out + sizeof head - 1, config_json, clen);
	out[total - 2] = '}';
	out[total - 1] = '\0';
	return out;
fail:
	return NULL;
}

/*
 * Counters are uint64; cJSON keeps numbers as doubles and would print large
 * ones in exponent form, so they go in as raw text.
 */
static int add_u64(cJSON *obj, const char *key, uint64_t value)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRIu64, value);

	if (n < 0 || (size_t)n >= sizeof num)
		return -1;
	return cJSON_AddRawToObject(obj, key, num) != NULL ? 0 : -1;
}

static cJSON *node_object(const dbs_node_stat *node, const char *status)
{
	cJSON *obj = cJSON_CreateObject();
	char elapsed[64];
	char started[64];

	if (obj == NULL)
		goto fail;
	if (dbs_format_duration(elapsed, sizeof elapsed, node->elapsed_ns) != 0 ||
	    dbs_format_time(started, sizeof started, node->started_ns) != 0)
		goto fail;
	if (add_u64(obj, "counter", node->counter) != 0 ||
	    cJSON_AddStringToObject(obj, "elapsed", elapsed) == NULL ||
	    cJSON_AddStringToObject(obj, "started", started) == NULL ||
	    cJSON_AddStringToObject(obj, "status", status ? status : dbs_status_name(node->status)) ==
	        NULL)
		goto fail;
	/* The struct's array always holds a NUL, but bound the read anyway. */
	if (memchr(node->message, '\0', sizeof node->message) != NULL && node->message[0] != '\0' &&
	    add_text(obj, "message", node->message) == NULL)
		goto fail;
	return obj;
fail:
	cJSON_Delete(obj);
	return NULL;
}

/*
 * Beyond 0.x, after its fields: the node's connection health
 * ("reconnects", "reconnecting", while reconnecting "lostSince", and the
 * last "connectionError" once there was one).
 */
static int add_conn(cJSON *obj, const dbs_conn_stat *conn)
{
	char since[64];

	if (add_u64(obj, "reconnects", conn->reconnects) != 0 ||
	    cJSON_AddBoolToObject(obj, "reconnecting", conn->reconnecting != 0) == NULL)
		return -1;
	if (conn->reconnecting && (dbs_format_time(since, sizeof since, conn->lost_since_ns) != 0 ||
	                           cJSON_AddStringToObject(obj, "lostSince", since) == NULL))
		return -1;
	if (memchr(conn->last_error, '\0', sizeof conn->last_error) != NULL &&
	    conn->last_error[0] != '\0' &&
	    add_text(obj, "connectionError", conn->last_error) == NULL)
		return -1;
	return 0;
}

/* "load":{phase,tablesDone,rows,rowsEstimated,chunks,chunksDone,
 * chunksResumed,rowsThisRun,rate,eta,tables:[…]} */
static int add_load(cJSON *obj, const dbs_stat *stat, const dbs_load_table_stat *tables,
                    size_t ntables)
{
	const dbs_load_stat *l = &stat->load;
	cJSON *load = cJSON_CreateObject();
	cJSON *list;
	char eta[64] = "";

	if (load == NULL)
		return -1;
	cJSON_AddItemToObject(obj, "load", load);
	if (l->eta_ns >= 0 && dbs_format_duration(eta, sizeof eta, l->eta_ns) != 0)
		return -1;
	if (cJSON_AddStringToObject(load, "phase", dbs_load_phase_name((dbs_load_phase)l->phase)) ==
	        NULL ||
	    add_u64(load, "tablesDone", l->tables_done) != 0 || add_u64(load, "rows", l->rows) != 0 ||
	    add_u64(load, "rowsEstimated", l->rows_estimated) != 0 ||
	    add_u64(load, "chunks", l->chunks) != 0 || add_u64(load, "chunksDone", l->chunks_done) != 0 ||
	    add_u64(load, "chunksResumed", l->chunks_resumed) != 0 ||
	    add_u64(load, "rowsThisRun", l->rows_this_run) != 0 ||
	    add_u64(load, "rate", l->rows_per_s) != 0 ||
	    (eta[0] && cJSON_AddStringToObject(load, "eta", eta) == NULL))
		return -1;
	if ((list = cJSON_AddArrayToObject(load, "tables")) == NULL)
		return -1;
	for (size_t i = 0; i < ntables; i++) {
		cJSON *t = cJSON_CreateObject();
		char name[2 * DBS_LOAD_NAME_MAX + 2];

		if (t == NULL)
			return -1;
		cJSON_AddItemToArray(list, t);
		snprintf(name, sizeof name, "%s.%s", tables[i].schema, tables[i].name);
		if (add_text(t, "table", name) == NULL ||
		    cJSON_AddStringToObject(t, "phase",
		                            dbs_load_phase_name((dbs_load_phase)tables[i].phase)) == NULL ||
		    add_u64(t, "rows", tables[i].rows) != 0 ||
		    add_u64(t, "rowsEstimated", tables[i].rows_estimated) != 0 ||
		    add_u64(t, "chunks", tables[i].chunks) != 0 ||
		    add_u64(t, "chunksDone", tables[i].chunks_done) != 0)
			return -1;
	}
	return 0;
}

char *render_stat(const dbs_stat *stat, const char *status, const dbs_load_table_stat *tables,
                  size_t ntables)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *node;
	cJSON *source;
	cJSON *target;
	char lag[64];
	char last[64];

	if (obj == NULL || cJSON_AddStringToObject(obj, "streamID", stat->stream_id) == NULL)
		goto fail;
	if ((source = node_object(&stat->source, status)) == NULL)
		goto fail;
	cJSON_AddItemToObject(obj, "source", source);
	if ((target = node_object(&stat->target, status)) == NULL)
		goto fail;
	cJSON_AddItemToObject(obj, "target", target);
	if ((node = cJSON_CreateObject()) == NULL)
		goto fail;
	cJSON_AddItemToObject(obj, "hub", node);
	/* The source's log lag in bytes; the target's lag in time, and the
	 * commit time of what it applied last. */
	if (add_conn(source, &stat->source_conn) != 0 ||
	    add_u64(source, "lagBytes", stat->source_lag_bytes) != 0 ||
	    add_conn(target, &stat->target_conn) != 0 ||
	    dbs_format_duration(lag, sizeof lag, stat->lag_ns) != 0 ||
	    cJSON_AddStringToObject(target, "lag", lag) == NULL ||
	    dbs_format_time(last, sizeof last, stat->last_commit_ns) != 0 ||
	    cJSON_AddStringToObject(target, "lastCommit", last) == NULL ||
	    add_u64(target, "deadLetters", stat->target_dead_letters) != 0 ||
	    add_conn(node, &stat->hub_conn) != 0)
		goto fail;
	/* Work waiting and nothing applied for stallAfter: said loudly. */
	if (cJSON_AddBoolToObject(obj, "stalled", stat->stalled != 0) == NULL)
		goto fail;
	if (stat->stalled && (dbs_format_time(last, sizeof last, stat->stalled_since_ns) != 0 ||
	                      cJSON_AddStringToObject(obj, "stalledSince", last) == NULL))
		goto fail;
	if (stat->load.phase != DBS_LOAD_PHASE_NONE && add_load(obj, stat, tables, ntables) != 0)
		goto fail;
	return print_and_free(obj);
fail:
	cJSON_Delete(obj);
	return NULL;
}

static cJSON *status_object(dbs_status status)
{
	cJSON *obj = cJSON_CreateObject();

	if (obj == NULL || cJSON_AddStringToObject(obj, "status", dbs_status_name(status)) == NULL)
		goto fail;
	return obj;
fail:
	cJSON_Delete(obj);
	return NULL;
}

char *render_stopped(const dbs_stat *stat)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *node;

	if (obj == NULL || cJSON_AddStringToObject(obj, "streamID", stat->stream_id) == NULL)
		goto fail;
	/* Capitalised, as DBConvert Streams 0.x answers a stop. */
	if ((node = status_object(stat->source.status)) == NULL)
		goto fail;
	cJSON_AddItemToObject(obj, "Source", node);
	if ((node = status_object(stat->target.status)) == NULL)
		goto fail;
	cJSON_AddItemToObject(obj, "Target", node);
	return print_and_free(obj);
fail:
	cJSON_Delete(obj);
	return NULL;
}

void render_buf_append(render_buf *buf, const char *text, size_t len)
{
	if (buf->failed)
		return;
	if (len >= buf->cap - buf->len || buf->data == NULL) {
		size_t cap = buf->cap ? buf->cap : 1024;
		char *grown;

		while (cap - buf->len <= len) {
			if (cap > SIZE_MAX / 2)
				goto fail;
			cap *= 2;
		}
		grown = realloc(buf->data, cap);
		if (grown == NULL)
			goto fail;
		buf->data = grown;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, text, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return;
fail:
	buf->failed = 1;
}

void render_buf_printf(render_buf *buf, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* Lines here are short and bounded; a longer one is a bug, not data. */
	if (n < 0 || (size_t)n >= sizeof line) {
		buf->failed = 1;
		return;
	}
	render_buf_append(buf, line, (size_t)n);
}

char *render_buf_take(render_buf *buf, size_t *len)
{
	char *out = NULL;

	if (!buf->failed && buf->data == NULL)
		render_buf_append(buf, "", 0);
	if (!buf->failed) {
		out = buf->data;
		*len = buf->len;
	} else {
		free(buf->data);
		*len = 0;
	}
	memset(buf, 0, sizeof *buf);
	return out;
}

/* Label values: statuses and KSUIDs only, but escape as the text format
 * requires in case either ever holds a quote, backslash or newline. */
static void label_escape(char *out, size_t size, const char *in)
{
	size_t o = 0;

	for (size_t i = 0; in[i] != '\0' && o + 2 < size; i++) {
		if (in[i] == '\\' || in[i] == '"') {
			out[o++] = '\\';
			out[o++] = in[i];
		} else if (in[i] == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

static void metrics_node(render_buf *buf, enum render_node node, const dbs_stat *stats, size_t n)
{
	const char *prefix = node == RENDER_SOURCE ? "source" : "target";
	const char *counter = node == RENDER_SOURCE ? "events_in" : "events_out";
	char id[64];
	char status[64];

	render_buf_printf(buf, "# HELP %s_%s Events the %s %s.\n# TYPE %s_%s counter\n", prefix,
	                  counter, prefix, node == RENDER_SOURCE ? "captured" : "applied", prefix,
	                  counter);
	for (size_t i = 0; i < n; i++) {
		const dbs_node_stat *ns = node == RENDER_SOURCE ? &stats[i].source : &stats[i].target;

		label_escape(id, sizeof id, stats[i].stream_id);
		render_buf_printf(buf, "%s_%s{streamID=\"%s\"} %" PRIu64 "\n", prefix, counter, id,
		                  ns->counter);
	}
	render_buf_printf(buf,
	                  "# HELP %s_duration_seconds Seconds since the %s's first event, by status.\n"
	                  "# TYPE %s_duration_seconds gauge\n",
	                  prefix, prefix, prefix);
	for (size_t i = 0; i < n; i++) {
		const dbs_node_stat *ns = node == RENDER_SOURCE ? &stats[i].source : &stats[i].target;
		int64_t el = ns->elapsed_ns < 0 ? 0 : ns->elapsed_ns;

		label_escape(id, sizeof id, stats[i].stream_id);
		label_escape(status, sizeof status, dbs_status_name(ns->status));
		render_buf_printf(buf,
		                  "%s_duration_seconds{status=\"%s\",streamID=\"%s\"} %" PRId64
		                  ".%09" PRId64 "\n",
		                  prefix, status, id, el / 1000000000, el % 1000000000);
	}
}

static const dbs_conn_stat *conn_of(const dbs_stat *stat, enum render_node node)
{
	return node == RENDER_SOURCE   ? &stat->source_conn
	       : node == RENDER_TARGET ? &stat->target_conn
	                               : &stat->hub_conn;
}

/* `<prefix>_reconnects_total` and `<prefix>_reconnecting` for one node. */
static void metrics_conn(render_buf *buf, enum render_node node, const dbs_stat *stats, size_t n)
{
	const char *prefix = node == RENDER_SOURCE   ? "source"
	                     : node == RENDER_TARGET ? "target"
	                                             : "hub";
	char id[64];

	render_buf_printf(buf,
	                  "# HELP %s_reconnects_total Connections of the %s lost and retried.\n"
	                  "# TYPE %s_reconnects_total counter\n",
	                  prefix, prefix, prefix);
	for (size_t i = 0; i < n; i++) {
		label_escape(id, sizeof id, stats[i].stream_id);
		render_buf_printf(buf, "%s_reconnects_total{streamID=\"%s\"} %" PRIu64 "\n", prefix,
		                  id, conn_of(&stats[i], node)->reconnects);
	}
	render_buf_printf(buf,
	                  "# HELP %s_reconnecting 1 while a lost connection of the %s is being "
	                  "retried.\n# TYPE %s_reconnecting gauge\n",
	                  prefix, prefix, prefix);
	for (size_t i = 0; i < n; i++) {
		label_escape(id, sizeof id, stats[i].stream_id);
		render_buf_printf(buf, "%s_reconnecting{streamID=\"%s\"} %d\n", prefix, id,
		                  conn_of(&stats[i], node)->reconnecting ? 1 : 0);
	}
}

static void metrics_lag(render_buf *buf, enum render_node node, const dbs_stat *stats, size_t n)
{
	char id[64];

	if (node == RENDER_SOURCE) {
		render_buf_printf(buf,
		                  "# HELP source_lag_bytes Bytes of the source's WAL or binlog "
		                  "past the position the target confirmed.\n"
		                  "# TYPE source_lag_bytes gauge\n");
		for (size_t i = 0; i < n; i++) {
			label_escape(id, sizeof id, stats[i].stream_id);
			render_buf_printf(buf, "source_lag_bytes{streamID=\"%s\"} %" PRIu64 "\n",
			                  id, stats[i].source_lag_bytes);
		}
		return;
	}
	render_buf_printf(buf, "# HELP target_lag_seconds Now minus the source commit time of "
	                       "the oldest change being applied; 0 when idle.\n"
	                       "# TYPE target_lag_seconds gauge\n");
	for (size_t i = 0; i < n; i++) {
		int64_t lag = stats[i].lag_ns < 0 ? 0 : stats[i].lag_ns;

		label_escape(id, sizeof id, stats[i].stream_id);
		render_buf_printf(buf,
		                  "target_lag_seconds{streamID=\"%s\"} %" PRId64 ".%09" PRId64 "\n",
		                  id, lag / 1000000000, lag % 1000000000);
	}
	render_buf_printf(buf, "# HELP target_dead_letters_total Rows the target database "
	                       "rejected that went to the dead-letter table.\n"
	                       "# TYPE target_dead_letters_total counter\n");
	for (size_t i = 0; i < n; i++) {
		label_escape(id, sizeof id, stats[i].stream_id);
		render_buf_printf(buf, "target_dead_letters_total{streamID=\"%s\"} %" PRIu64 "\n", id,
		                  stats[i].target_dead_letters);
	}
	render_buf_printf(buf, "# HELP target_last_commit_timestamp_seconds Source commit time "
	                       "of the last change applied (Unix seconds; 0 before the first).\n"
	                       "# TYPE target_last_commit_timestamp_seconds gauge\n");
	for (size_t i = 0; i < n; i++) {
		int64_t t = stats[i].last_commit_ns < 0 ? 0 : stats[i].last_commit_ns;

		label_escape(id, sizeof id, stats[i].stream_id);
		render_buf_printf(buf,
		                  "target_last_commit_timestamp_seconds{streamID=\"%s\"} %" PRId64
		                  ".%06" PRId64 "\n",
		                  id, t / 1000000000, t % 1000000000 / 1000);
	}
}

/* `stream_stalled` and how long: one family for the whole stream. */
static void metrics_stall(render_buf *buf, const dbs_stat *stats, size_t n)
{
	char id[64];
	int64_t now = 0;
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	render_buf_printf(buf, "# HELP stream_stalled 1 while the stream has changes to carry "
	                       "but applied nothing for stallAfter seconds.\n"
	                       "# TYPE stream_stalled gauge\n");
	for (size_t i = 0; i < n; i++) {
		label_escape(id, sizeof id, stats[i].stream_id);
		render_buf_printf(buf, "stream_stalled{streamID=\"%s\"} %d\n", id,
		                  stats[i].stalled ? 1 : 0);
	}
	render_buf_printf(buf, "# HELP stream_stalled_seconds How long a stalled stream has "
	                       "applied nothing; 0 when not stalled.\n"
	                       "# TYPE stream_stalled_seconds gauge\n");
	for (size_t i = 0; i < n; i++) {
		int64_t d = stats[i].stalled && stats[i].stalled_since_ns &&
		                    now > stats[i].stalled_since_ns
		                ? now - stats[i].stalled_since_ns
		                : 0;

		label_escape(id, sizeof id, stats[i].stream_id);
		render_buf_printf(buf, "stream_stalled_seconds{streamID=\"%s\"} %" PRId64 ".%03" PRId64
		                       "\n",
		                  id, d / 1000000000, d % 1000000000 / 1000000);
	}
}

/* The load_* families: one sample per stream that copies tables. */
static void metrics_load(render_buf *buf, const dbs_stat *stats, size_t n)
{
	static const struct {
		const char *name, *type, *help;
	} families[] = {
		{"load_rows_copied", "counter", "Rows of the initial load committed at the target."},
		{"load_rows_estimated", "gauge", "Rows the initial load expects to copy."},
		{"load_chunks_done", "counter", "Chunks of the initial load committed."},
		{"load_chunks", "gauge", "Chunks the initial load planned."},
		{"load_rows_per_second", "gauge", "Rows committed per second by this run of the load."},
		{"load_done", "gauge", "1 once the initial load copied every row."},
	};
	char id[64];

	for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
		render_buf_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
		                  families[f].name, families[f].type);
		for (size_t i = 0; i < n; i++) {
			const dbs_load_stat *l = &stats[i].load;
			uint64_t v = f == 0   ? l->rows
			             : f == 1 ? l->rows_estimated
			             : f == 2 ? l->chunks_done
			             : f == 3 ? l->chunks
			             : f == 4 ? l->rows_per_s
			                      : l->phase == DBS_LOAD_PHASE_DONE;
			if (l->phase == DBS_LOAD_PHASE_NONE)
				continue;
			label_escape(id, sizeof id, stats[i].stream_id);
			render_buf_printf(buf, "%s{streamID=\"%s\"} %" PRIu64 "\n", families[f].name, id, v);
		}
	}
}

void render_load_tables(render_buf *buf, const render_load_row *rows, size_t n)
{
	static const struct {
		const char *name, *type, *help;
	} families[] = {
		{"load_table_rows_copied", "counter", "Rows of one table committed by the initial load."},
		{"load_table_rows_estimated", "gauge", "Rows of one table the initial load expects."},
		{"load_table_chunks_done", "counter", "Chunks of one table committed."},
		{"load_table_chunks", "gauge", "Chunks of one table planned."},
	};
	char id[64];
	char table[4 * DBS_LOAD_NAME_MAX + 8];
	char name[2 * DBS_LOAD_NAME_MAX + 2];

	for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
		render_buf_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
		                  families[f].name, families[f].type);
		for (size_t i = 0; i < n; i++) {
			const dbs_load_table_stat *t = rows[i].table;
			uint64_t v = f == 0 ? t->rows : f == 1 ? t->rows_estimated : f == 2 ? t->chunks_done
			                                                                     : t->chunks;
			label_escape(id, sizeof id, rows[i].stream_id);
			snprintf(name, sizeof name, "%s.%s", t->schema, t->name);
			label_escape(table, sizeof table, name);
			render_buf_printf(buf, "%s{streamID=\"%s\",table=\"%s\"} %" PRIu64 "\n",
			                  families[f].name, id, table, v);
		}
	}
}

void render_metrics(render_buf *buf, unsigned nodes, const dbs_stat *stats, size_t n)
{
	static const enum render_node order[] = {RENDER_SOURCE, RENDER_TARGET};

	if (nodes & (RENDER_SOURCE | RENDER_TARGET))
		metrics_stall(buf, stats, n);
	if (nodes & RENDER_TARGET)
		metrics_load(buf, stats, n);

	for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
		if (!(nodes & order[k]))
			continue;
		metrics_node(buf, order[k], stats, n);
		metrics_conn(buf, order[k], stats, n);
		metrics_lag(buf, order[k], stats, n);
	}
	if (nodes & RENDER_HUB)
		metrics_conn(buf, RENDER_HUB, stats, n);
}
