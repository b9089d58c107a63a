#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "http.h"

#define API "/api/v1/streams"

/*
 * One request. Returns 0 with a 2xx answer in *resp; otherwise prints the
 * server's message (or the transport error) and returns -1.
 */
static int request(const cli_options *opt, const char *method, const char *path, const char *body,
                   size_t len, cli_response *resp)
{
	cli_url url;
	char err[512];
	cJSON *json = NULL;
	const cJSON *message;
	int rc = -1;

	if (cli_url_parse(&url, opt->server, err, sizeof err) != 0) {
		fprintf(stderr, "dbs-cli: %s\n", err);
		goto out;
	}
	if (cli_http(resp, &url, method, path, body, len, opt->token, opt->timeout_ms, err,
	             sizeof err) != 0) {
		fprintf(stderr, "dbs-cli: %s\n", err);
		goto out;
	}
	if (resp->status >= 200 && resp->status < 300) {
		rc = 0;
		goto out;
	}
	json = cJSON_ParseWithLength(resp->body, resp->len);
	message = cJSON_GetObjectItemCaseSensitive(json, "message");
	if (cJSON_IsString(message))
		fprintf(stderr, "dbs-cli: %s (HTTP %d)\n", message->valuestring, resp->status);
	else
		fprintf(stderr, "dbs-cli: HTTP %d: %.*s\n", resp->status, (int)(resp->len > 1024 ? 1024 : resp->len),
		        resp->body ? resp->body : "");
	if (opt->json && resp->body != NULL)
		printf("%s\n", resp->body);
	cli_response_free(resp);
out:
	cJSON_Delete(json);
	return rc;
}

/* API path for a stream: the current one, or by id. */
static int stream_path(char *buf, size_t size, const char *id, const char *suffix)
{
	int rc = -1;
	int n;

	if (id != NULL && dbs_ksuid_check(id) != 0) {
		fprintf(stderr, "dbs-cli: '%s' is not a stream id (27 base62 characters)\n", id);
		goto out;
	}
	n = snprintf(buf, size, "%s%s%s%s", API, id ? "/" : "", id ? id : "", suffix);
	if (n >= 0 && (size_t)n < size)
		rc = 0;
out:
	return rc;
}

static const char *string_at(const cJSON *obj, const char *key, const char *fallback)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(item) ? item->valuestring : fallback;
}

/* Parse the 2xx body as a JSON object or say it is not one. */
static cJSON *parse_object(const cli_response *resp)
{
	cJSON *json = cJSON_ParseWithLength(resp->body, resp->len);

	if (!cJSON_IsObject(json)) {
		fprintf(stderr, "dbs-cli: the server's answer is not a JSON object\n");
		cJSON_Delete(json);
		json = NULL;
	}
	return json;
}

/* How often create asks whether the stream is up. */
#define START_POLL_MS 100

/*
 * The server answers a create before the stream's databases are open
 * (stat says STARTING meanwhile): wait until they are, within the
 * timeout. A source or target that could not be opened shows INIT FAILED:
 * say so and fail, so scripts notice.
 */
static int check_started(const cli_options *opt, const char *id)
{
	static const char *const nodes[] = {"source", "target"};
	cli_response resp = {0};
	cJSON *json = NULL;
	char path[256];
	int code = CLI_OK;
	long waited = 0;

	if (opt->json || id == NULL || stream_path(path, sizeof path, id, "/stat") != 0)
		goto out;
	for (;;) {
		const cJSON *source;
		struct timespec ts = {0, START_POLL_MS * 1000000L};

		/* The stream exists; a failed stat is not a failed create. */
		if (request(opt, "GET", path, NULL, 0, &resp) != 0)
			goto out;
		json = cJSON_ParseWithLength(resp.body, resp.len);
		source = cJSON_GetObjectItemCaseSensitive(json, "source");
		if (strcmp(string_at(source, "status", ""), "STARTING") != 0)
			break;
		if (opt->timeout_ms >= 0 && waited >= opt->timeout_ms) {
			fprintf(stderr, "dbs-cli: stream %s is still STARTING (its databases do not answer)\n", id);
			code = CLI_FAILED;
			goto out;
		}
		cJSON_Delete(json);
		json = NULL;
		cli_response_free(&resp);
		nanosleep(&ts, NULL);
		waited += START_POLL_MS;
	}
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		const cJSON *node = cJSON_GetObjectItemCaseSensitive(json, nodes[i]);

		if (strcmp(string_at(node, "status", ""), "INIT FAILED") == 0) {
			fprintf(stderr, "dbs-cli: %s INIT FAILED: %s\n", nodes[i],
			        string_at(node, "message", "(no message)"));
			code = CLI_FAILED;
		}
	}
out:
	cJSON_Delete(json);
	cli_response_free(&resp);
	return code;
}

int cli_create(const cli_options *opt, const char *file)
{
	cli_response resp = {0};
	cJSON *json = NULL;
	char *text = NULL;
	size_t len = 0;
	char path[1024];
	int code = CLI_FAILED;

	if (opt->server_file != NULL) {
		/* The server reads the file from its own config directory. */
		char *escaped = NULL;
		size_t n = strlen(opt->server_file);
		size_t o = 0;

		if (n > 255) {
			fprintf(stderr, "dbs-cli: file name too long\n");
			goto out;
		}
		escaped = malloc(n * 3 + 1);
		if (escaped == NULL)
			goto out;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)opt->server_file[i];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.' || c == '~') {
				escaped[o++] = (char)c;
			} else {
				static const char hex[] = "0123456789ABCDEF";

				escaped[o++] = '%';
				escaped[o++] = hex[c >> 4];
				escaped[o++] = hex[c & 15];
			}
		}
		escaped[o] = '\0';
		o = (size_t)snprintf(path, sizeof path, "%s?file=%s%s%s", API, escaped,
		                     opt->stream_id ? "&id=" : "", opt->stream_id ? opt->stream_id : "");
		free(escaped);
		if (o >= sizeof path)
			goto out;
		if (request(opt, "POST", path, NULL, 0, &resp) != 0)
			goto out;
	} else {
		int n = snprintf(path, sizeof path, "%s%s%s", API, opt->stream_id ? "?id=" : "",
		                 opt->stream_id ? opt->stream_id : "");

		if (n < 0 || (size_t)n >= sizeof path)
			goto out;
		if (cli_read_file(file, &text, &len) != 0)
			goto out;
		if (request(opt, "POST", path, text, len, &resp) != 0)
			goto out;
	}
	if (opt->json) {
		printf("%s\n", resp.body);
	} else {
		const cJSON *data;

		json = parse_object(&resp);
		if (json == NULL)
			goto out;
		data = cJSON_GetObjectItemCaseSensitive(json, "data");
		printf("stream %s created\n", string_at(data, "id", "?"));
	}
	code = check_started(opt, string_at(cJSON_GetObjectItemCaseSensitive(json, "data"), "id", NULL));
out:
	cJSON_Delete(json);
	cli_response_free(&resp);
	free(text);
	return code;
}

static void print_node_row(const char *name, const cJSON *node)
{
	const cJSON *counter = cJSON_GetObjectItemCaseSensitive(node, "counter");
	char events[32] = "-";

	if (cJSON_IsNumber(counter))
		snprintf(events, sizeof events, "%.0f", counter->valuedouble);
	const char *message = string_at(node, "message", "");

	/* No trailing blanks when the last column is empty. */
	printf("%-7s %-20s %12s  %-22s %-*s%s%s\n", name, string_at(node, "status", "?"), events,
	       string_at(node, "elapsed", "-"), message[0] ? 36 : 0, string_at(node, "started", "-"),
	       message[0] ? " " : "", message);
}

/* "source: 2 reconnects" and, while it lasts, "(reconnecting since …)". */
static void print_conn(const char *name, const cJSON *node)
{
	const cJSON *reconnects = cJSON_GetObjectItemCaseSensitive(node, "reconnects");
	const char *error = string_at(node, "connectionError", "");

	if (!cJSON_IsNumber(reconnects))
		return;
	printf("%s %.0f reconnects", name, reconnects->valuedouble);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "reconnecting")))
		printf(", reconnecting since %s", string_at(node, "lostSince", "?"));
	if (error[0] != '\0')
		printf(", last error: %s", error);
	printf("\n");
}

static double number_at(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

/* "[#######.......]  42%" when stdout is a terminal, "42%" otherwise. */
static void print_bar(double done, double total)
{
	double frac = total > 0 ? done / total : 0.0;
	const int width = 30;

	if (frac > 1.0)
		frac = 1.0;
	if (isatty(STDOUT_FILENO)) {
		int fill = (int)(frac * width + 0.5);

		printf("[");
		for (int i = 0; i < width; i++)
			putchar(i < fill ? '#' : '.');
		printf("] ");
	}
	printf("%3.0f%%", frac * 100.0);
}

/* The initial load: its phase and totals, then each table. */
static void print_load(const cJSON *load)
{
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(load, "tables");
	const cJSON *t;

	if (!cJSON_IsObject(load))
		return;
	printf("load %s: ", string_at(load, "phase", "?"));
	print_bar(number_at(load, "rows"), number_at(load, "rowsEstimated"));
	printf("  %.0f/%.0f rows, %.0f/%.0f chunks (%.0f resumed), %.0f rows/s, ETA %s\n",
	       number_at(load, "rows"), number_at(load, "rowsEstimated"),
	       number_at(load, "chunksDone"), number_at(load, "chunks"),
	       number_at(load, "chunksResumed"), number_at(load, "rate"),
	       string_at(load, "eta", "unknown"));
	cJSON_ArrayForEach(t, tables) {
		printf("  %-40s %-9s ", string_at(t, "table", "?"), string_at(t, "phase", "?"));
		print_bar(number_at(t, "rows"), number_at(t, "rowsEstimated"));
		printf("  %.0f/%.0f rows, %.0f/%.0f chunks\n", number_at(t, "rows"),
		       number_at(t, "rowsEstimated"), number_at(t, "chunksDone"),
		       number_at(t, "chunks"));
	}
}

int cli_stat(const cli_options *opt, const char *id)
{
	cli_response resp = {0};
	cJSON *json = NULL;
	char path[256];
	int code = CLI_FAILED;

	if (stream_path(path, sizeof path, id, "/stat") != 0)
		goto out;
	if (request(opt, "GET", path, NULL, 0, &resp) != 0)
		goto out;
	if (opt->json) {
		printf("%s\n", resp.body);
	} else {
		json = parse_object(&resp);
		if (json == NULL)
			goto out;
		printf("stream %s\n", string_at(json, "streamID", "?"));
		printf("%-7s %-20s %12s  %-22s %-36s %s\n", "NODE", "STATUS", "EVENTS", "ELAPSED",
		       "STARTED", "MESSAGE");
		const cJSON *source = cJSON_GetObjectItemCaseSensitive(json, "source");
		const cJSON *target = cJSON_GetObjectItemCaseSensitive(json, "target");
		const cJSON *lag_bytes = cJSON_GetObjectItemCaseSensitive(source, "lagBytes");

		print_node_row("source", source);
		print_node_row("target", target);
		/* Beyond 0.x: connection health and lag, when the server has them. */
		print_conn("source", source);
		print_conn("target", target);
		print_conn("hub", cJSON_GetObjectItemCaseSensitive(json, "hub"));
		if (cJSON_IsNumber(lag_bytes))
			printf("lag %.0f bytes of source log, target %s behind\n",
			       lag_bytes->valuedouble, string_at(target, "lag", "?"));
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "stalled")))
			printf("STALLED since %s: changes wait but nothing was applied for "
			       "stallAfter\n",
			       string_at(json, "stalledSince", "?"));
		print_load(cJSON_GetObjectItemCaseSensitive(json, "load"));
	}
	code = CLI_OK;
out:
	cJSON_Delete(json);
	cli_response_free(&resp);
	return code;
}

int cli_stop(const cli_options *opt, const char *id)
{
	cli_response resp = {0};
	cJSON *json = NULL;
	char path[256];
	int code = CLI_FAILED;

	if (stream_path(path, sizeof path, id, "") != 0)
		goto out;
	if (request(opt, "DELETE", path, NULL, 0, &resp) != 0)
		goto out;
	if (opt->json) {
		printf("%s\n", resp.body);
	} else {
		json = parse_object(&resp);
		if (json == NULL)
			goto out;
		printf("stream %s stopped: source %s, target %s\n", string_at(json, "streamID", "?"),
		       string_at(cJSON_GetObjectItemCaseSensitive(json, "Source"), "status", "?"),
		       string_at(cJSON_GetObjectItemCaseSensitive(json, "Target"), "status", "?"));
	}
	code = CLI_OK;
out:
	cJSON_Delete(json);
	cli_response_free(&resp);
	return code;
}

int cli_config(const cli_options *opt, const char *id)
{
	cli_response resp = {0};
	cJSON *json = NULL;
	char *pretty = NULL;
	char path[256];
	int code = CLI_FAILED;

	if (stream_path(path, sizeof path, id, "") != 0)
		goto out;
	if (request(opt, "GET", path, NULL, 0, &resp) != 0)
		goto out;
	if (opt->json) {
		printf("%s\n", resp.body);
	} else {
		json = parse_object(&resp);
		if (json == NULL)
			goto out;
		pretty = cJSON_Print(json);
		if (pretty == NULL)
			goto out;
		printf("%s\n", pretty);
	}
	code = CLI_OK;
out:
	free(pretty);
	cJSON_Delete(json);
	cli_response_free(&resp);
	return code;
}
