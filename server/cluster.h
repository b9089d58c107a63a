/*
 * dbs-server roles over NATS (docs/nats.md, "dbs-server roles").
 *
 * The API node (--role api) runs no stream itself: POST puts the stream's
 * configuration on the control stream DBS_CONTROL (subject
 * dbs.control.<id>, the last message per subject kept), DELETE puts a
 * "delete" there, and stat combines what the nodes report. Source and
 * target nodes (--role source|target) follow the control stream, run their
 * part of every stream it lists, and report each stream's node status every
 * second on dbs.<id>.stat.<node>.
 *
 * Threads: the cnats threads deliver control messages and reports; the
 * report thread publishes. Reports are guarded by srv_cluster.lock.
 */
#ifndef DBS_SERVER_CLUSTER_H
#define DBS_SERVER_CLUSTER_H

#include <stddef.h>

#include <dbstreams/dbstreams.h>

#include "streams.h"

typedef enum srv_role { SRV_ROLE_ALL = 0, SRV_ROLE_API, SRV_ROLE_SOURCE, SRV_ROLE_TARGET } srv_role;

typedef struct srv_cluster srv_cluster;

typedef struct srv_cluster_options {
	srv_role role;
	const char *url, *creds, *ca; /* NATS; creds and ca may be NULL */
	const char *node;             /* this node's name in reports */
	unsigned partition;           /* target nodes: the partition they write */
	srv_streams *streams;         /* where nodes keep the parts they run */
} srv_cluster_options;

/* Connect and, for source/target nodes, start following the control
 * stream. Returns 0 or -1 with err filled. */
int srv_cluster_start(srv_cluster **out, const srv_cluster_options *opts, char *err, size_t errlen);
void srv_cluster_stop(srv_cluster *c);

/* API node: distribute a new stream (config is validated JSON text). */
int srv_cluster_create(srv_cluster *c, const char *id, const char *config, size_t len, char *err,
                       size_t errlen);
/* API node: tell every node the stream is deleted. */
int srv_cluster_delete(srv_cluster *c, const char *id, char *err, size_t errlen);
/* API node: the stream as one: source from the source node, target
 * combined from the writers (reconnects added up, the largest lag).
 * `stat` is a current one (DBS_STAT_INIT). Returns 0, or -1 when no node
 * reported yet (stat then holds READY for both). */
int srv_cluster_stat(srv_cluster *c, const char *id, dbs_stat *stat);
/* API node: the configuration as the source node reported it (passwords
 * masked), a new string (free()), or NULL when none reported yet. */
char *srv_cluster_config(srv_cluster *c, const char *id);

#endif
