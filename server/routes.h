/*
 * The REST API: one CivetWeb request handler that routes every path.
 */
#ifndef DBS_SERVER_ROUTES_H
#define DBS_SERVER_ROUTES_H

#include <stddef.h>

#include "cluster.h"
#include "state.h"
#include "streams.h"

struct mg_connection;

typedef struct srv_app {
	srv_streams streams;
	const char *config_dir; /* where POST ?file=NAME reads from */
	size_t body_limit;      /* largest accepted request body or config file */
	srv_role role;          /* all (streams run here), api, source or target */
	srv_cluster *cluster;   /* NULL with role all */
	/* The default hub for streams whose configuration names none
	 * (--nats); NULL keeps the memory hub. */
	const char *nats_url, *nats_creds, *nats_ca;
	/* The state directory (--state-dir) with role all; NULL otherwise. */
	srv_state *state;
	/* Held while a stream is created under an id the caller chose, so two
	 * requests cannot both start the same id. */
	pthread_mutex_t create_lock;
	struct srv_watch *watch; /* persist.c: records streams that end */
} srv_app;

/* CivetWeb request handler; cbdata is the srv_app. Runs on CivetWeb worker
 * threads, several at once. */
int srv_routes_handle(struct mg_connection *conn, void *cbdata);

#endif
