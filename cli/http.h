/*
 * A small HTTP/1.1 client over CivetWeb's client API, enough for dbs-cli to
 * talk to dbs-server.
 */
#ifndef DBS_CLI_HTTP_H
#define DBS_CLI_HTTP_H

#include <stddef.h>

typedef struct cli_url {
	char host[256];
	int port;
	int tls;
	char base[512]; /* path prefix without a trailing slash, may be "" */
} cli_url;

/* Parse "http://host[:port][/prefix]" (https too; IPv6 in brackets).
 * Returns 0, or -1 with the reason in err. */
int cli_url_parse(cli_url *url, const char *text, char *err, size_t errlen);

typedef struct cli_response {
	int status;  /* HTTP status code */
	char *body;  /* NUL-terminated, free() it */
	size_t len;
} cli_response;

/*
 * Send `method` to url->base + path with an optional JSON body and read the
 * whole answer; with a `token` (may be NULL), as "Authorization: Bearer".
 * Returns 0 with *resp filled (any HTTP status), or -1 with the reason in
 * err when there was no HTTP answer. timeout_ms < 0 waits forever.
 */
int cli_http(cli_response *resp, const cli_url *url, const char *method, const char *path,
             const char *body, size_t body_len, const char *token, int timeout_ms, char *err,
             size_t errlen);

void cli_response_free(cli_response *resp);

#endif
