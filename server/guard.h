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

struct tracked;
struct srv_deadline;

#define SRV_GUARD_PORTS 8

typedef struct srv_guard {
	char **hosts;       /* accepted Host names, lower case */
	size_t nhosts;
	bool any_address;   /* listening everywhere: any address literal is fine */
	char **origins;     /* accepted Origin values, lower case */
	size_t norigins;
	char *token;        /* NULL: no token required */
	size_t token_len;
	unsigned max_per_client;
	/* The connections of the listening ports, by client address and port:
	 * admitted, or cut off at once. Guarded by track_lock. */
	pthread_mutex_t track_lock;
	struct tracked **tracked; /* hash buckets */
	int ports[SRV_GUARD_PORTS];
	bool port_tls[SRV_GUARD_PORTS];
	size_t nports;
	unsigned looks; /* how many times the sockets were looked at */
	pthread_mutex_t lock; /* guards deadlines, stopping */
	struct srv_deadline *deadlines; /* armed, soonest anywhere */
	pthread_cond_t wake;            /* the watchdog: a deadline was armed */
	pthread_t watchdog;
	bool watchdog_started;
	bool stopping;
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
int srv_guard_request(srv_guard *g, const struct mg_request_info *ri, bool health, char *msg,
                      size_t msglen);

/* The ports the server listens on (mg_get_server_ports), once it does:
 * connections are counted from then on. Call before requests are served. */
void srv_guard_set_ports(srv_guard *g, const int *ports, const bool *tls, size_t n);

/*
 * CivetWeb's init_connection: count the connections each client address
 * holds on the listening ports, and close at once those beyond the limit,
 * before a worker waits for a request that may never come. CivetWeb tells
 * this callback nothing about the connection, so the process's sockets
 * are looked at.
 */
void srv_guard_connection_open(srv_guard *g);

/* CivetWeb's connection_close: that connection no longer counts. */
void srv_guard_connection_close(srv_guard *g, const struct mg_connection *conn);

/*
 * Bound how long a request may take from now: CivetWeb bounds the wait for
 * each piece of a body, not for all of them, so a client sending a byte a
 * second would hold a worker for as long as it likes. When `ms` pass
 * before srv_guard_deadline_disarm, the connection is shut down (the
 * worker's read ends at once). NULL when memory ran out (no bound then).
 */
struct srv_deadline *srv_guard_deadline_arm(srv_guard *g, const struct mg_request_info *ri,
                                            int ms);

/* Disarm and free; returns whether the deadline passed (the connection
 * is gone). Accepts NULL. */
bool srv_guard_deadline_disarm(srv_guard *g, struct srv_deadline *d);

#endif
