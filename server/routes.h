/*
 * The REST API: one CivetWeb request handler that routes every path.
 */
#ifndef DBS_SERVER_ROUTES_H
#define DBS_SERVER_ROUTES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster.h"
#include "guard.h"
#include "state.h"
#include "streams.h"

struct mg_connection;
struct dbs_registry;

typedef struct srv_app {
	srv_streams streams;
	const char *config_dir; /* where POST ?file=NAME reads from */
	int config_dir_fd;      /* config_dir, open: names are looked up beneath it */
	size_t body_limit;      /* largest accepted request body or config file */
	srv_role role;          /* all (streams run here), api, source or target */
	srv_cluster *cluster;   /* NULL with role all */
	/* The default hub for streams whose configuration names none
	 * (--nats); NULL keeps the memory hub. */
	const char *nats_url, *nats_creds, *nats_ca;
	/* Plugins streams are made of; NULL: the built-in ones. */
	const struct dbs_registry *registry;
	/* The state directory (--state-dir) with role all; NULL otherwise. */
	srv_state *state;
	/* Held while a stream's id is decided, recorded and listed, so two
	 * requests cannot both start one id (or one new name). Never held
	 * while a database connects. */
	pthread_mutex_t create_lock;
	struct srv_watch *watch; /* persist.c: records streams that end */
	srv_guard guard;         /* who may send requests */
	/* Set once the streams of the state directory are listed: until then
	 * every request answers 503. */
	atomic_bool ready;
} srv_app;

/*
 * CivetWeb's begin_request callback (the server's only handler, set before
 * the socket opens): checks who is asking, then routes every path. The app
 * is the context's user data. Runs on CivetWeb worker threads, several at
 * once. Returns the HTTP status sent.
 */
int srv_routes_begin_request(struct mg_connection *conn);

/* CivetWeb's http_error callback: its own error answers in the API's
 * {"status":"error","message":…} shape. */
int srv_routes_http_error(struct mg_connection *conn, int status, const char *message);

#endif
