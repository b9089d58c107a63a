/*
 * Who may use the API, checked before a request is routed: the Host a
 * request names (DNS rebinding), the Origin and fetch metadata a browser
 * sends (cross-site pages), the API token, and how many connections one
 * client address holds at once.
 */
#ifndef DBS_SERVER_GUARD_H
#define DBS_SERVER_GUARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct mg_connection;
struct mg_request_info;

typedef struct srv_guard_options {
	/* The address of --listen without the port: an IPv4 or IPv6 literal
	 * ("" or "0.0.0.0" or "::" for every interface). */
	const char *listen_host;
	int port;  /* the port actually listened on */
	bool tls;  /* https */
	/* --allow-host names (DNS names or addresses, no port) and
	 * --allow-origin origins ("https://ui.example:8443"); borrowed. */
	const char *const *allow_hosts;
	size_t nallow_hosts;
	const char *const *allow_origins;
	size_t nallow_origins;
	/* The API token; NULL or "" when none is required. Copied. */
	const char *token;
	/* Connections one client address may hold at once; 0: no limit. */
	unsigned max_per_client;
} srv_guard_options;

struct client_slot;

typedef struct srv_guard {
	char **hosts;       /* accepted Host names, lower case */
	size_t nhosts;
	bool any_address;   /* listening everywhere: any address literal is fine */
	char **origins;     /* accepted Origin values, lower case */
	size_t norigins;
	char *token;        /* NULL: no token required */
	size_t token_len;
	unsigned max_per_client;
	pthread_mutex_t lock; /* guards clients */
	struct client_slot *clients;
} srv_guard;

/* 0, or -1 when memory ran out. */
int srv_guard_init(srv_guard *g, const srv_guard_options *o);
void srv_guard_free(srv_guard *g);

/* Whether `host` (an address literal, without port) is a loopback
 * address: 127.0.0.0/8 or ::1. */
bool srv_guard_is_loopback(const char *host);

/*
 * May this request go on? 0, or the HTTP status to refuse it with (400,
 * 401, 403) and the reason in msg. `health`: the route needs no token
 * (/healthz). Thread-safe.
 */
int srv_guard_request(const srv_guard *g, const struct mg_request_info *ri, bool health,
                      char *msg, size_t msglen);

/*
 * CivetWeb's init_connection / connection_close: count the connections
 * of each client address, and close at once a connection beyond the
 * limit (before its worker waits for a request that may never come).
 */
int srv_guard_connection_open(srv_guard *g, const struct mg_connection *conn, void **conn_data);
void srv_guard_connection_close(srv_guard *g, const struct mg_connection *conn);

#endif
