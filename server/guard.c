#include "guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <civetweb.h>

#include "log.h"

/* Longest Host or Origin value looked at; longer ones are refused. */
#define NAME_MAX_LEN 255

struct client_slot {
	char addr[48];
	unsigned count; /* open connections; guarded by srv_guard.lock */
	struct client_slot *next;
};

/* What a connection carries from init_connection to connection_close. */
typedef struct conn_mark {
	struct client_slot *slot;
	bool cut; /* beyond the limit: closed before its request was read */
} conn_mark;

static char *lower_dup(const char *s, size_t n)
{
	char *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return out;
}

static int push(char ***list, size_t *n, const char *s, size_t len)
{
	char **grown = realloc(*list, (*n + 1) * sizeof **list);
	char *copy = lower_dup(s, len);

	if (grown != NULL)
		*list = grown;
	if (grown == NULL || copy == NULL) {
		free(copy);
		return -1;
	}
	(*list)[(*n)++] = copy;
	return 0;
}

bool srv_guard_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

static bool is_address(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

int srv_guard_init(srv_guard *g, const srv_guard_options *o)
{
	const char *h = o->listen_host ? o->listen_host : "";

	memset(g, 0, sizeof *g);
	if (pthread_mutex_init(&g->lock, NULL) != 0)
		return -1;
	g->max_per_client = o->max_per_client;
	g->any_address = h[0] == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
	if (!g->any_address && push(&g->hosts, &g->nhosts, h, strlen(h)) != 0)
		goto fail;
	/* A browser reaches a loopback server by these names too; no DNS
	 * answer can point them elsewhere. */
	if ((g->any_address || srv_guard_is_loopback(h)) &&
	    (push(&g->hosts, &g->nhosts, "localhost", 9) != 0 ||
	     push(&g->hosts, &g->nhosts, "127.0.0.1", 9) != 0 ||
	     push(&g->hosts, &g->nhosts, "::1", 3) != 0))
		goto fail;
	for (size_t i = 0; i < o->nallow_hosts; i++)
		if (push(&g->hosts, &g->nhosts, o->allow_hosts[i], strlen(o->allow_hosts[i])) != 0)
			goto fail;
	for (size_t i = 0; i < o->nallow_origins; i++) {
		size_t n = strlen(o->allow_origins[i]);

		/* "https://ui.example/" and "https://ui.example" are one origin. */
		while (n > 0 && o->allow_origins[i][n - 1] == '/')
			n--;
		if (push(&g->origins, &g->norigins, o->allow_origins[i], n) != 0)
			goto fail;
	}
	if (o->token != NULL && o->token[0] != '\0') {
		g->token = strdup(o->token);
		if (g->token == NULL)
			goto fail;
		g->token_len = strlen(g->token);
	}
	return 0;
fail:
	srv_guard_free(g);
	return -1;
}

void srv_guard_free(srv_guard *g)
{
	for (size_t i = 0; i < g->nhosts; i++)
		free(g->hosts[i]);
	for (size_t i = 0; i < g->norigins; i++)
		free(g->origins[i]);
	free(g->hosts);
	free(g->origins);
	if (g->token != NULL) {
		/* The token is a password: do not leave it in freed memory. */
		volatile char *t = g->token;
		for (size_t i = 0; i < g->token_len; i++)
			t[i] = 0;
		free(g->token);
	}
	while (g->clients != NULL) {
		struct client_slot *next = g->clients->next;

		free(g->clients);
		g->clients = next;
	}
	pthread_mutex_destroy(&g->lock);
	memset(g, 0, sizeof *g);
}

/* ---- Host, Origin, fetch metadata ---- */

/*
 * Split "name", "name:port", "[v6]" or "[v6]:port" into the name (lower
 * case, brackets removed) and the port (-1 when absent). false when
 * malformed.
 */
static bool split_host(const char *text, char *name, size_t size, long *port)
{
	const char *end, *colon = NULL;
	size_t n;

	*port = -1;
	if (text[0] == '[') {
		end = strchr(text, ']');
		if (end == NULL)
			return false;
		n = (size_t)(end - text - 1);
		text++;
		if (end[1] == ':')
			colon = end + 1;
		else if (end[1] != '\0')
			return false;
	} else {
		colon = strchr(text, ':');
		n = colon ? (size_t)(colon - text) : strlen(text);
		/* An unbracketed IPv6 address is not a Host. */
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return false;
	}
	if (n == 0 || n >= size)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];

		if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '%'))
			return false;
		name[i] = (char)tolower(c);
	}
	name[n] = '\0';
	if (colon != NULL) {
		char *stop = NULL;

		*port = strtol(colon + 1, &stop, 10);
		if (stop == colon + 1 || *stop != '\0' || *port < 1 || *port > 65535)
			return false;
	}
	return true;
}

static bool host_name_allowed(const srv_guard *g, const char *name)
{
	for (size_t i = 0; i < g->nhosts; i++)
		if (strcmp(g->hosts[i], name) == 0)
			return true;
	/* Any address literal names this server when it listens everywhere;
	 * DNS rebinding needs a name. */
	return g->any_address && is_address(name);
}

/* Same origin: this server's own scheme, an accepted name, and the port it
 * listens on; or an origin the operator listed. */
static bool origin_allowed(const srv_guard *g, const char *origin, int port, bool tls)
{
	char lower[NAME_MAX_LEN + 1];
	char name[NAME_MAX_LEN + 1];
	size_t n = strlen(origin);
	const char *scheme = tls ? "https://" : "http://";
	long oport;

	if (n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)origin[i]);
	for (size_t i = 0; i < g->norigins; i++)
		if (strcmp(g->origins[i], lower) == 0)
			return true;
	if (strncmp(lower, scheme, strlen(scheme)) != 0 ||
	    !split_host(lower + strlen(scheme), name, sizeof name, &oport))
		return false;
	if (oport < 0)
		oport = tls ? 443 : 80;
	return oport == port && host_name_allowed(g, name);
}

/* Constant time in the token's content: a wrong guess says nothing about
 * how much of it was right. */
static bool token_matches(const srv_guard *g, const char *header)
{
	const char *given;
	size_t len;
	unsigned char diff;

	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return false;
	given = header + 7;
	while (*given == ' ')
		given++;
	len = strlen(given);
	while (len > 0 && given[len - 1] == ' ')
		len--;
	diff = len != g->token_len;
	for (size_t i = 0; i < g->token_len; i++)
		diff |= (unsigned char)(g->token[i] ^ (i < len ? given[i] : 0));
	return diff == 0;
}

int srv_guard_request(const srv_guard *g, const struct mg_request_info *ri, bool health,
                      char *msg, size_t msglen)
{
	const conn_mark *mark = ri->conn_data;
	const char *host = NULL, *origin = NULL, *site = NULL, *auth = NULL;
	char name[NAME_MAX_LEN + 1];
	long port;

	if (mark != NULL && mark->cut) {
		snprintf(msg, msglen, "too many connections from %s", ri->remote_addr);
		return 503;
	}
	for (int i = 0; i < ri->num_headers; i++) {
		const char *k = ri->http_headers[i].name;
		const char *v = ri->http_headers[i].value;

		if (strcasecmp(k, "Host") == 0)
			host = v;
		else if (strcasecmp(k, "Origin") == 0)
			origin = v;
		else if (strcasecmp(k, "Sec-Fetch-Site") == 0)
			site = v;
		else if (strcasecmp(k, "Authorization") == 0)
			auth = v;
	}
	if (host == NULL) {
		snprintf(msg, msglen, "a Host header is required");
		return 400;
	}
	if (!split_host(host, name, sizeof name, &port) || !host_name_allowed(g, name)) {
		snprintf(msg, msglen,
		         "this server does not answer to the host name in the request (see --allow-host)");
		return 403;
	}
	/* Browsers say where a request comes from; only this server's own
	 * origin and the listed ones may drive it. */
	if (origin != NULL && !origin_allowed(g, origin, ri->server_port, ri->is_ssl != 0)) {
		snprintf(msg, msglen, "cross-origin requests are refused (see --allow-origin)");
		return 403;
	}
	if (origin == NULL && site != NULL && strcasecmp(site, "same-origin") != 0 &&
	    strcasecmp(site, "none") != 0) {
		snprintf(msg, msglen, "cross-site requests are refused");
		return 403;
	}
	if (g->token != NULL && !health && !token_matches(g, auth)) {
		snprintf(msg, msglen, "%s API token: send Authorization: Bearer <token>",
		         auth == NULL ? "missing" : "wrong");
		return 401;
	}
	return 0;
}

/* ---- connections per client ---- */

/*
 * Shut down the socket of `ri`'s connection. CivetWeb hands the connection
 * to a worker before anything is read and gives no way to refuse it from
 * init_connection; its worker would wait up to the request timeout for a
 * client that may never send. The socket is found by its two addresses
 * (a TCP connection's 4-tuple is unique); shutting it down makes the
 * worker's next read see the end at once.
 */
static void cut_connection(const struct mg_request_info *ri)
{
	static const char body[] =
	    "{\"status\":\"error\",\"message\":\"too many connections from this address\"}";
	char busy[512];
	int busy_len = snprintf(busy, sizeof busy,
	                        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
	                        "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
	                        sizeof body - 1, body);
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct sockaddr_storage peer, local;
		socklen_t pl = sizeof peer, ll = sizeof local;
		char addr[INET6_ADDRSTRLEN];
		int fd = atoi(de->d_name);
		int pport, lport;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == dirfd(d))
			continue;
		if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
		    getsockname(fd, (struct sockaddr *)&local, &ll) != 0)
			continue;
		if (peer.ss_family == AF_INET) {
			const struct sockaddr_in *p = (const struct sockaddr_in *)&peer;

			inet_ntop(AF_INET, &p->sin_addr, addr, sizeof addr);
			pport = ntohs(p->sin_port);
			lport = ntohs(((const struct sockaddr_in *)&local)->sin_port);
		} else if (peer.ss_family == AF_INET6) {
			const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)&peer;

			inet_ntop(AF_INET6, &p->sin6_addr, addr, sizeof addr);
			pport = ntohs(p->sin6_port);
			lport = ntohs(((const struct sockaddr_in6 *)&local)->sin6_port);
		} else {
			continue;
		}
		if (pport != ri->remote_port || lport != ri->server_port ||
		    strcmp(addr, ri->remote_addr) != 0)
			continue;
		/* Plain HTTP gets a word of explanation; TLS would need the
		 * session, which only the worker has. */
		if (!ri->is_ssl && busy_len > 0 &&
		    send(fd, busy, (size_t)busy_len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			srv_log(DBS_LOG_DEBUG, "could not tell %s it has too many connections",
			        ri->remote_addr);
		shutdown(fd, SHUT_RDWR);
		break;
	}
	closedir(d);
}

int srv_guard_connection_open(srv_guard *g, const struct mg_connection *conn, void **conn_data)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	conn_mark *mark = calloc(1, sizeof *mark);
	struct client_slot *slot;

	*conn_data = mark;
	if (mark == NULL || ri == NULL || g->max_per_client == 0)
		return 0;
	pthread_mutex_lock(&g->lock);
	for (slot = g->clients; slot != NULL; slot = slot->next)
		if (strcmp(slot->addr, ri->remote_addr) == 0)
			break;
	if (slot == NULL && (slot = calloc(1, sizeof *slot)) != NULL) {
		snprintf(slot->addr, sizeof slot->addr, "%s", ri->remote_addr);
		slot->next = g->clients;
		g->clients = slot;
	}
	if (slot != NULL) {
		slot->count++;
		mark->slot = slot;
		mark->cut = slot->count > g->max_per_client;
	}
	pthread_mutex_unlock(&g->lock);
	if (mark->cut) {
		srv_log(DBS_LOG_WARN, "%s holds more than %u connections: closing a new one",
		        ri->remote_addr, g->max_per_client);
		cut_connection(ri);
	}
	return 0;
}

void srv_guard_connection_close(srv_guard *g, const struct mg_connection *conn)
{
	conn_mark *mark = mg_get_user_connection_data(conn);

	if (mark == NULL)
		return;
	if (mark->slot != NULL) {
		pthread_mutex_lock(&g->lock);
		if (--mark->slot->count == 0) {
			for (struct client_slot **link = &g->clients; *link != NULL;
			     link = &(*link)->next) {
				if (*link == mark->slot) {
					*link = mark->slot->next;
					free(mark->slot);
					break;
				}
			}
		}
		pthread_mutex_unlock(&g->lock);
	}
	free(mark);
}
