#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

/* Answers from dbs-server are small; anything beyond this is not one. */
#define RESPONSE_MAX (64u * 1024u * 1024u)

int cli_url_parse(cli_url *url, const char *text, char *err, size_t errlen)
{
	const char *p = text;
	const char *auth_end;
	const char *host_end;
	const char *port_start = NULL;
	size_t hostlen;
	size_t baselen;

	memset(url, 0, sizeof *url);
	if (strncmp(p, "http://", 7) == 0) {
		p += 7;
		url->port = 80;
	} else if (strncmp(p, "https://", 8) == 0) {
		p += 8;
		url->port = 443;
		url->tls = 1;
	} else {
		snprintf(err, errlen, "server URL must start with http:// or https://: %s", text);
		goto fail;
	}
	auth_end = p + strcspn(p, "/?#");
	if (*p == '[') {
		host_end = memchr(p, ']', (size_t)(auth_end - p));
		if (host_end == NULL)
			goto bad;
		p++;
		if (host_end + 1 < auth_end) {
			if (host_end[1] != ':')
				goto bad;
			port_start = host_end + 2;
		}
	} else {
		host_end = memchr(p, ':', (size_t)(auth_end - p));
		if (host_end != NULL)
			port_start = host_end + 1;
		else
			host_end = auth_end;
	}
	hostlen = (size_t)(host_end - p);
	if (hostlen == 0 || hostlen >= sizeof url->host)
		goto bad;
	memcpy(url->host, p, hostlen);
	url->host[hostlen] = '\0';
	if (port_start != NULL) {
		long port = 0;

		if (port_start == auth_end)
			goto bad;
		for (const char *d = port_start; d < auth_end; d++) {
			if (*d < '0' || *d > '9')
				goto bad;
			port = port * 10 + (*d - '0');
			if (port > 65535)
				goto bad;
		}
		if (port == 0)
			goto bad;
		url->port = (int)port;
	}
	if (*auth_end == '?' || *auth_end == '#')
		goto bad;
	baselen = strlen(auth_end);
	while (baselen > 0 && auth_end[baselen - 1] == '/')
		baselen--;
	if (baselen >= sizeof url->base)
		goto bad;
	memcpy(url->base, auth_end, baselen);
	url->base[baselen] = '\0';
	return 0;
bad:
	snprintf(err, errlen, "malformed server URL: %s", text);
fail:
	return -1;
}

void cli_response_free(cli_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

static int read_all(struct mg_connection *conn, cli_response *resp, long long expected, char *err,
                    size_t errlen)
{
	size_t cap = expected >= 0 && expected < RESPONSE_MAX ? (size_t)expected + 1 : 4096;
	size_t used = 0;
	char *buf = malloc(cap);

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (;;) {
		int n;

		if (used + 1 >= cap) {
			char *grown;

			if (cap >= RESPONSE_MAX) {
				snprintf(err, errlen, "response larger than %u bytes", RESPONSE_MAX);
				goto fail;
			}
			cap *= 2;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			buf = grown;
		}
		n = mg_read(conn, buf + used, cap - 1 - used);
		if (n < 0) {
			snprintf(err, errlen, "connection lost while reading the response");
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	resp->body = buf;
	resp->len = used;
	return 0;
fail:
	free(buf);
	return -1;
}

int cli_http(cli_response *resp, const cli_url *url, const char *method, const char *path,
             const char *body, size_t body_len, const char *token, int timeout_ms, char *err,
             size_t errlen)
{
	struct mg_connection *conn = NULL;
	const struct mg_response_info *ri;
	char ebuf[256] = "";
	const char *host_open = strchr(url->host, ':') ? "[" : "";
	const char *host_close = strchr(url->host, ':') ? "]" : "";
	int rc = -1;

	memset(resp, 0, sizeof *resp);
	conn = mg_connect_client(url->host, url->port, url->tls, ebuf, sizeof ebuf);
	if (conn == NULL) {
		snprintf(err, errlen, "cannot connect to %s:%d: %s", url->host, url->port,
		         ebuf[0] ? ebuf : "connection failed");
		goto out;
	}
	if (mg_printf(conn,
	              "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%d\r\nAccept: application/json\r\n"
	              "Connection: close\r\n",
	              method, url->base, path, host_open, url->host, host_close, url->port) <= 0)
		goto send_failed;
	if (token != NULL && mg_printf(conn, "Authorization: Bearer %s\r\n", token) <= 0)
		goto send_failed;
	if (body != NULL) {
		if (mg_printf(conn, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		              body_len) <= 0)
			goto send_failed;
		if (body_len > 0 && mg_write(conn, body, body_len) <= 0)
			goto send_failed;
	} else if (mg_printf(conn, "Content-Length: 0\r\n\r\n") <= 0) {
		goto send_failed;
	}
	if (mg_get_response(conn, ebuf, sizeof ebuf, timeout_ms) < 0) {
		snprintf(err, errlen, "no response from %s:%d: %s", url->host, url->port,
		         ebuf[0] ? ebuf : "timed out");
		goto out;
	}
	ri = mg_get_response_info(conn);
	if (ri == NULL) {
		snprintf(err, errlen, "malformed response from %s:%d", url->host, url->port);
		goto out;
	}
	resp->status = ri->status_code;
	if (read_all(conn, resp, ri->content_length, err, errlen) != 0)
		goto out;
	rc = 0;
	goto out;
send_failed:
	snprintf(err, errlen, "cannot send the request to %s:%d", url->host, url->port);
out:
	if (conn != NULL)
		mg_close_connection(conn);
	return rc;
}
