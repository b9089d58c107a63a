#include "guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "log.h"

/* Longest Host or Origin value looked at; longer ones are refused. */
#define NAME_MAX_LEN 255

/* A connection on a listening port, by its client's address and port. */
struct tracked {
	char addr[48];
	int port;
	bool cut;      /* beyond its address's limit: shut down, not to be served */
	unsigned seen; /* the last look that saw it */
	struct tracked *next;
};

#define TRACK_BUCKETS 256

struct srv_deadline {
	int64_t at_ms; /* monotonic */
	char addr[48];
	int remote_port, server_port;
	bool fired;
	struct srv_deadline *next;
};

static void *watchdog_main(void *arg);

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_cut(srv_guard *g, const char *addr, int port);

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

	pthread_condattr_t attr;

	memset(g, 0, sizeof *g);
	g->tracked = calloc(TRACK_BUCKETS, sizeof *g->tracked);
	if (g->tracked == NULL)
		return -1;
	if (pthread_mutex_init(&g->track_lock, NULL) != 0) {
		free(g->tracked);
		return -1;
	}
	if (pthread_mutex_init(&g->lock, NULL) != 0) {
		pthread_mutex_destroy(&g->track_lock);
		free(g->tracked);
		return -1;
	}
	if (pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&g->wake, &attr) != 0) {
		pthread_mutex_destroy(&g->lock);
		pthread_mutex_destroy(&g->track_lock);
		free(g->tracked);
		return -1;
	}
	pthread_condattr_destroy(&attr);
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
	if (pthread_create(&g->watchdog, NULL, watchdog_main, g) != 0)
		goto fail;
	g->watchdog_started = true;
	return 0;
fail:
	srv_guard_free(g);
	return -1;
}

void srv_guard_free(srv_guard *g)
{
	if (g->watchdog_started) {
		pthread_mutex_lock(&g->lock);
		g->stopping = true;
		pthread_cond_signal(&g->wake);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->watchdog, NULL);
	}
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
	for (size_t b = 0; g->tracked != NULL && b < TRACK_BUCKETS; b++) {
		while (g->tracked[b] != NULL) {
			struct tracked *next = g->tracked[b]->next;

			free(g->tracked[b]);
			g->tracked[b] = next;
		}
	}
	free(g->tracked);
	pthread_mutex_destroy(&g->track_lock);
	while (g->deadlines != NULL) {
		struct srv_deadline *next = g->deadlines->next;

		free(g->deadlines);
		g->deadlines = next;
	}
	pthread_cond_destroy(&g->wake);
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

int srv_guard_request(srv_guard *g, const struct mg_request_info *ri, bool health, char *msg,
                      size_t msglen)
{
	const char *host = NULL, *origin = NULL, *site = NULL, *auth = NULL;
	char name[NAME_MAX_LEN + 1];
	long port;

	/* Its request may have arrived before the connection was cut. */
	if (is_cut(g, ri->remote_addr, ri->remote_port)) {
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

static unsigned bucket_of(const char *addr, int port)
{
	unsigned h = 2166136261u;

	for (const char *c = addr; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	return (h ^ (unsigned)port) % TRACK_BUCKETS;
}

/* Under track_lock. */
static struct tracked *track_find(const srv_guard *g, const char *addr, int port)
{
	for (struct tracked *t = g->tracked[bucket_of(addr, port)]; t != NULL; t = t->next)
		if (t->port == port && strcmp(t->addr, addr) == 0)
			return t;
	return NULL;
}

/* Under track_lock. NULL when memory ran out. */
static struct tracked *track_add(srv_guard *g, const char *addr, int port, bool cut)
{
	struct tracked *t = calloc(1, sizeof *t);
	unsigned b = bucket_of(addr, port);

	if (t == NULL)
		return NULL;
	snprintf(t->addr, sizeof t->addr, "%s", addr);
	t->port = port;
	t->cut = cut;
	t->next = g->tracked[b];
	g->tracked[b] = t;
	return t;
}

static bool is_cut(srv_guard *g, const char *addr, int port)
{
	const struct tracked *t;
	bool cut;

	pthread_mutex_lock(&g->track_lock);
	t = track_find(g, addr, port);
	cut = t != NULL && t->cut;
	pthread_mutex_unlock(&g->track_lock);
	return cut;
}

void srv_guard_set_ports(srv_guard *g, const int *ports, const bool *tls, size_t n)
{
	pthread_mutex_lock(&g->track_lock);
	g->nports = n < SRV_GUARD_PORTS ? n : SRV_GUARD_PORTS;
	for (size_t i = 0; i < g->nports; i++) {
		g->ports[i] = ports[i];
		g->port_tls[i] = tls[i];
	}
	pthread_mutex_unlock(&g->track_lock);
}

/* A socket of the process: its peer's address and port, and the local
 * port; false when it is not a connected TCP socket. */
static bool socket_peer(int fd, char addr[INET6_ADDRSTRLEN], int *pport, int *lport)
{
	struct sockaddr_storage peer, local;
	socklen_t pl = sizeof peer, ll = sizeof local;

	if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &ll) != 0)
		return false;
	if (peer.ss_family == AF_INET && local.ss_family == AF_INET) {
		const struct sockaddr_in *p = (const struct sockaddr_in *)&peer;

		inet_ntop(AF_INET, &p->sin_addr, addr, INET6_ADDRSTRLEN);
		*pport = ntohs(p->sin_port);
		*lport = ntohs(((const struct sockaddr_in *)&local)->sin_port);
		return true;
	}
	if (peer.ss_family == AF_INET6 && local.ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)&peer;

		inet_ntop(AF_INET6, &p->sin6_addr, addr, INET6_ADDRSTRLEN);
		*pport = ntohs(p->sin6_port);
		*lport = ntohs(((const struct sockaddr_in6 *)&local)->sin6_port);
		return true;
	}
	return false;
}

/* Close a connection's socket under its worker: the worker's next read
 * sees the end at once. Plain HTTP gets a word of explanation first; TLS
 * would need the session, which only the worker has. */
static void shut(int fd, bool explain)
{
	static const char body[] =
	    "{\"status\":\"error\",\"message\":\"too many connections from this address\"}";
	char busy[512];
	int n = snprintf(busy, sizeof busy,
	                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
	                 sizeof body - 1, body);

	if (explain && n > 0 && send(fd, busy, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		srv_log(DBS_LOG_DEBUG, "could not send the 503 to a connection being cut");
	shutdown(fd, SHUT_RDWR);
}

/*
 * Shut down the socket connected to remote_addr:remote_port on
 * server_port. CivetWeb has no way to abort a worker's read; the socket is
 * found by its two addresses (a TCP connection's 4-tuple is unique).
 */
static void cut_connection(const char *remote_addr, int remote_port, int server_port,
                           bool explain)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char addr[INET6_ADDRSTRLEN];
		int fd = atoi(de->d_name);
		int pport, lport;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == dirfd(d) ||
		    !socket_peer(fd, addr, &pport, &lport))
			continue;
		if (pport == remote_port && lport == server_port && strcmp(addr, remote_addr) == 0) {
			shut(fd, explain);
			break;
		}
	}
	closedir(d);
}

/* A connection on a listening port, as one look at the sockets saw it. */
struct seen {
	int fd;
	int port;
	bool tls;
	char addr[INET6_ADDRSTRLEN];
};

/* The connections of one client address in one look. */
struct per_address {
	char addr[INET6_ADDRSTRLEN];
	unsigned admitted;
};

/* Every connection on a listening port: the workers', and those CivetWeb
 * accepted and queues for a worker. Under track_lock. */
static size_t look(const srv_guard *g, struct seen **out)
{
	struct seen *seen = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	*out = NULL;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char addr[INET6_ADDRSTRLEN];
		int fd = atoi(de->d_name);
		int pport, lport;
		size_t p;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == dirfd(d) ||
		    !socket_peer(fd, addr, &pport, &lport))
			continue;
		for (p = 0; p < g->nports && g->ports[p] != lport; p++)
			;
		if (p == g->nports)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct seen *grown = realloc(seen, ncap * sizeof *grown);

			if (grown == NULL)
				break;
			seen = grown;
			cap = ncap;
		}
		seen[n].fd = fd;
		seen[n].port = pport;
		seen[n].tls = g->port_tls[p];
		memcpy(seen[n].addr, addr, sizeof addr);
		n++;
	}
	closedir(d);
	*out = seen;
	return n;
}

void srv_guard_connection_open(srv_guard *g)
{
	struct seen *seen = NULL;
	struct per_address *counts = NULL;
	size_t nseen, ncounts = 0;

	if (g->max_per_client == 0)
		return;
	pthread_mutex_lock(&g->track_lock);
	if (g->nports == 0)
		goto out;
	nseen = look(g, &seen);
	counts = calloc(nseen ? nseen : 1, sizeof *counts);
	if (counts == NULL)
		goto out;
	/* Connections gone without a word from CivetWeb no longer count. */
	g->looks++;
	for (size_t i = 0; i < nseen; i++) {
		struct tracked *t = track_find(g, seen[i].addr, seen[i].port);

		if (t != NULL)
			t->seen = g->looks;
	}
	for (size_t b = 0; b < TRACK_BUCKETS; b++) {
		for (struct tracked **link = &g->tracked[b]; *link != NULL;) {
			struct tracked *t = *link;

			if (t->seen != g->looks) {
				*link = t->next;
				free(t);
			} else {
				link = &t->next;
			}
		}
	}
	/* What each address holds already, then each new connection in turn:
	 * admitted up to the limit, cut beyond it. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < nseen; i++) {
			struct tracked *t = track_find(g, seen[i].addr, seen[i].port);
			struct per_address *c = NULL;

			if (pass == 0 ? t == NULL || t->cut : t != NULL)
				continue;
			for (size_t k = 0; k < ncounts && c == NULL; k++)
				if (strcmp(counts[k].addr, seen[i].addr) == 0)
					c = &counts[k];
			if (c == NULL) {
				c = &counts[ncounts++];
				memcpy(c->addr, seen[i].addr, sizeof c->addr);
			}
			if (pass == 0) {
				c->admitted++;
			} else if (c->admitted < g->max_per_client) {
				if ((t = track_add(g, seen[i].addr, seen[i].port, false)) != NULL) {
					t->seen = g->looks;
					c->admitted++;
				}
			} else if ((t = track_add(g, seen[i].addr, seen[i].port, true)) != NULL) {
				t->seen = g->looks;
				srv_log(DBS_LOG_WARN, "%s holds %u connections already: closing a new one",
				        seen[i].addr, c->admitted);
				shut(seen[i].fd, !seen[i].tls);
			}
		}
	}
out:
	pthread_mutex_unlock(&g->track_lock);
	free(counts);
	free(seen);
}

void srv_guard_connection_close(srv_guard *g, const struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct tracked **link;

	if (ri == NULL)
		return;
	pthread_mutex_lock(&g->track_lock);
	for (link = &g->tracked[bucket_of(ri->remote_addr, ri->remote_port)]; *link != NULL;
	     link = &(*link)->next) {
		struct tracked *t = *link;

		if (t->port == ri->remote_port && strcmp(t->addr, ri->remote_addr) == 0) {
			*link = t->next;
			free(t);
			break;
		}
	}
	pthread_mutex_unlock(&g->track_lock);
}

/* ---- deadlines ---- */

static void *watchdog_main(void *arg)
{
	srv_guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		int64_t now = monotonic_ms(), soonest = INT64_MAX;
		struct srv_deadline *due = NULL;

		for (struct srv_deadline *d = g->deadlines; d != NULL; d = d->next) {
			if (d->fired)
				continue;
			if (d->at_ms <= now && due == NULL)
				due = d;
			else if (d->at_ms < soonest)
				soonest = d->at_ms;
		}
		if (due != NULL) {
			char addr[48];
			int rport = due->remote_port, sport = due->server_port;

			due->fired = true;
			memcpy(addr, due->addr, sizeof addr);
			/* The scan reads /proc: not under the lock. The deadline
			 * stays listed (fired) until its request disarms it, so
			 * the connection is still the one with this address. */
			pthread_mutex_unlock(&g->lock);
			srv_log(DBS_LOG_WARN, "%s: request too slow, closing its connection", addr);
			cut_connection(addr, rport, sport, false);
			pthread_mutex_lock(&g->lock);
			continue;
		}
		if (soonest == INT64_MAX) {
			pthread_cond_wait(&g->wake, &g->lock);
		} else {
			struct timespec ts = {.tv_sec = soonest / 1000,
			                      .tv_nsec = (long)(soonest % 1000) * 1000000L};

			pthread_cond_timedwait(&g->wake, &g->lock, &ts);
		}
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

struct srv_deadline *srv_guard_deadline_arm(srv_guard *g, const struct mg_request_info *ri,
                                            int ms)
{
	struct srv_deadline *d = calloc(1, sizeof *d);

	if (d == NULL)
		return NULL;
	d->at_ms = monotonic_ms() + ms;
	snprintf(d->addr, sizeof d->addr, "%s", ri->remote_addr);
	d->remote_port = ri->remote_port;
	d->server_port = ri->server_port;
	pthread_mutex_lock(&g->lock);
	d->next = g->deadlines;
	g->deadlines = d;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	return d;
}

bool srv_guard_deadline_disarm(srv_guard *g, struct srv_deadline *d)
{
	bool fired;

	if (d == NULL)
		return false;
	pthread_mutex_lock(&g->lock);
	for (struct srv_deadline **link = &g->deadlines; *link != NULL; link = &(*link)->next) {
		if (*link == d) {
			*link = d->next;
			break;
		}
	}
	fired = d->fired;
	pthread_mutex_unlock(&g->lock);
	free(d);
	return fired;
}
