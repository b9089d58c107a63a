/*
 * Requests and answers (request.h): what every route of routes.c uses.
 */
#include "request.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "render.h"
#include "routes.h"

/* RFC 7231 date for the Date header, thread-safe. */
static void http_date(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		buf[0] = '\0';
}

static bool is_head(const struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);

	return ri != NULL && ri->request_method != NULL && strcmp(ri->request_method, "HEAD") == 0;
}

/*
 * Send one complete response. Returns the status for CivetWeb's access log.
 * The header is written by hand: CivetWeb 1.15's mg_response_header_send
 * formats its Date header with gmtime(), which races between workers.
 * `extra` is more header lines ("Allow: GET\r\n") or NULL. A HEAD request
 * gets the headers only. Nothing here is a page: browsers are told not to
 * sniff, render, frame or cache it.
 */
int srv_reply(struct mg_connection *conn, int status, const char *type, const char *body,
              size_t len, const char *extra)
{
	char date[64];

	if (body == NULL) {
		/* Rendering ran out of memory: say so without allocating. */
		status = 500;
		type = JSON_TYPE;
		body = "{\"status\":\"error\",\"message\":\"out of memory\"}";
		len = strlen(body);
		extra = NULL;
	}
	http_date(date, sizeof date);
	mg_printf(conn,
	          "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	          "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	          "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
	          "Referrer-Policy: no-referrer\r\nConnection: close\r\n%s\r\n",
	          status, mg_get_response_code_text(conn, status), date, type, len,
	          extra ? extra : "");
	if (len > 0 && !is_head(conn))
		mg_write(conn, body, len);
	return status;
}

/* Send a rendered JSON string and free it. */
int srv_reply_json(struct mg_connection *conn, int status, char *body)
{
	int rc = srv_reply(conn, status, JSON_TYPE, body, body ? strlen(body) : 0, NULL);

	free(body);
	return rc;
}

int srv_reply_error_with(struct mg_connection *conn, int status, const char *extra, const char *fmt,
                         ...)
{
	char message[1024];
	char *body;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	/* A truncated message is still the right answer. */
	if (vsnprintf(message, sizeof message, fmt, ap) < 0)
		message[0] = '\0';
	va_end(ap);
	body = render_error(message);
	rc = srv_reply(conn, status, JSON_TYPE, body, body ? strlen(body) : 0, extra);
	free(body);
	return rc;
}

/* ---- request bodies and config files ---- */

static bool json_content_type(const char *type)
{
	size_t n = strlen("application/json");

	while (*type == ' ')
		type++;
	if (strncasecmp(type, "application/json", n) != 0)
		return false;
	type += n;
	while (*type == ' ')
		type++;
	return *type == '\0' || *type == ';';
}

/*
 * A configuration comes as JSON or not at all: an HTML form cannot send
 * application/json, so a page the operator opens cannot post one
 * (whatever the browser says about its origin).
 */
bool srv_content_type_ok(const struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *type = mg_get_header(conn, "Content-Type");
	bool body = ri->content_length > 0 || mg_get_header(conn, "Transfer-Encoding") != NULL;

	if (type != NULL)
		return json_content_type(type);
	return !body;
}

/*
 * Read the whole body into a new buffer (NUL-terminated for convenience;
 * *len excludes it). Returns 0, 413 when it exceeds the limit, 408 when it
 * takes longer than BODY_TIMEOUT_MS (the connection is gone then), 400 when
 * the connection broke, 500 when memory ran out.
 */
int srv_read_body(struct mg_connection *conn, srv_app *app, char **out, size_t *len)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	size_t limit = app->body_limit;
	struct srv_deadline *deadline = NULL;
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
	deadline = srv_guard_deadline_arm(&app->guard, ri, BODY_TIMEOUT_MS);
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
	if (srv_guard_deadline_disarm(&app->guard, deadline)) {
		deadline = NULL;
		status = 408;
		goto fail;
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
fail:
	if (srv_guard_deadline_disarm(&app->guard, deadline))
		status = 408;
	free(buf);
	return status;
}

/* A plain file name: no directory part, no "." or "..", nothing hidden
 * behind a control character. */
bool srv_plain_file_name(const char *name)
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
 * Read config_dir/name: a regular file right in the directory (a symbolic
 * link could lead anywhere, a FIFO would block the worker for good).
 * Returns 0, or an HTTP status with the reason in `err`.
 */
int srv_read_config_file(const srv_app *app, const char *name, char **out, size_t *len, char *err,
                         size_t errlen)
{
	struct stat st;
	FILE *f = NULL;
	char *buf = NULL;
	size_t used = 0;
	int status = 500;
	int fd;

	*out = NULL;
	*len = 0;
	fd = openat(app->config_dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "file %s: %s", name,
		         errno == ELOOP ? "a symbolic link (not followed)" : strerror(errno));
		status = 400;
		goto fail;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "file %s: not a regular file", name);
		close(fd);
		status = 400;
		goto fail;
	}
	f = fdopen(fd, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "file %s: %s", name, strerror(errno));
		close(fd);
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

/*
 * A query variable, decoded. 1 when present and whole, 0 when absent, -1
 * when malformed: too long, or cut short by a %00 (the name after it would
 * be silently lost).
 */
int srv_query_var(const char *query, const char *name, char *buf, size_t size)
{
	int n;

	if (query == NULL)
		return 0;
	n = mg_get_var(query, strlen(query), name, buf, size);
	if (n == -1)
		return 0;
	if (n < 0 || strlen(buf) != (size_t)n)
		return -1;
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode a request path (CivetWeb is told not to, so a %00 cannot
 * cut it short unseen). 0, -1 when malformed (a bad escape, a NUL or
 * another control character), -2 when longer than the buffer.
 */
int srv_decode_path(const char *raw, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; raw[i] != '\0'; i++) {
		int c = (unsigned char)raw[i];

		if (c == '%') {
			int hi = hexval(raw[i + 1]);
			int lo = hi >= 0 ? hexval(raw[i + 2]) : -1;

			if (lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (o + 1 >= size)
			return -2;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}
