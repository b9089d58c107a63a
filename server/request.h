/*
 * What every route needs of a request and its answer: complete responses
 * in the API's shapes (headers written by hand, nothing a browser would
 * render), the JSON body or a configuration file under --config-dir read
 * with bounds, query variables and the request path decoded strictly.
 */
#ifndef DBS_SERVER_REQUEST_H
#define DBS_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

struct mg_connection;
struct srv_app;

#define JSON_TYPE "application/json"
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define FILE_NAME_MAX 255
/* A body slower than this is cut off: a worker is not held for a client
 * that sends a byte now and then. CivetWeb bounds the headers itself
 * (request_timeout_ms). */
#define BODY_TIMEOUT_MS 10000

/* One complete response of `len` bytes of `type` (`extra`: more header
 * lines, "Allow: GET\r\n", or NULL; body NULL: a 500 for out of memory).
 * Returns the status, for CivetWeb's access log. */
int srv_reply(struct mg_connection *conn, int status, const char *type, const char *body,
              size_t len, const char *extra);
/* A rendered JSON string, freed. */
int srv_reply_json(struct mg_connection *conn, int status, char *body);
/* {"status":"error","message":…} with a formatted message. */
int srv_reply_error_with(struct mg_connection *conn, int status, const char *extra, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
#define srv_reply_error(conn, status, ...) srv_reply_error_with(conn, status, NULL, __VA_ARGS__)

/* The request has no body, or a JSON one (an HTML form cannot send one). */
bool srv_content_type_ok(const struct mg_connection *conn);
/* The whole body, NUL-terminated (*len without it): 0, or 413, 408, 400,
 * 500 (see request.c). */
int srv_read_body(struct mg_connection *conn, struct srv_app *app, char **out, size_t *len);
/* No directory part, no "." or "..", no control character. */
bool srv_plain_file_name(const char *name);
/* --config-dir/name, a regular file right in it: 0, or an HTTP status
 * with the reason in err. */
int srv_read_config_file(const struct srv_app *app, const char *name, char **out, size_t *len,
                         char *err, size_t errlen);
/* A query variable, decoded: 1 present, 0 absent, -1 malformed. */
int srv_query_var(const char *query, const char *name, char *buf, size_t size);
/* A request path percent-decoded: 0, -1 malformed, -2 too long. */
int srv_decode_path(const char *raw, char *out, size_t size);

#endif
