/*
 * dbs-server: the REST API of dbstreams (compatible with DBConvert Streams
 * 0.x) on CivetWeb. Streams run in this process through the library.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <civetweb.h>

#include "log.h"
#include "persist.h"
#include "routes.h"

#define DEFAULT_LISTEN "127.0.0.1:8020"
#define DEFAULT_BODY_LIMIT (1024 * 1024)

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: dbs-server [OPTIONS]\n"
	        "\n"
	        "Serve the dbstreams REST API (/api/v1/streams, /metrics, /healthz).\n"
	        "\n"
	        "Options:\n"
	        "  --listen HOST:PORT    address to listen on (default " DEFAULT_LISTEN ")\n"
	        "  --config-dir DIR      where POST /api/v1/streams?file=NAME reads NAME\n"
	        "                        (default: the current directory)\n"
	        "  --state-dir DIR       where streams are recorded, to be resumed after a\n"
	        "                        restart (default /var/lib/dbstreams for root, else\n"
	        "                        $XDG_STATE_HOME/dbstreams or ~/.local/state/dbstreams;\n"
	        "                        created with mode 0700; --role all only)\n"
	        "  --log-level LEVEL     error, warn, info or debug (default info)\n"
	        "  --threads N           HTTP worker threads (default 8)\n"
	        "  --nats URL            NATS server(s): the default hub of streams whose\n"
	        "                        configuration names none, and how the roles below\n"
	        "                        coordinate\n"
	        "  --nats-creds FILE     NATS credentials file; --nats-ca FILE: TLS CA\n"
	        "  --role ROLE           all (default: streams run here), api (hands streams\n"
	        "                        to the nodes and shows them as one), source or\n"
	        "                        target (run that part of every stream); not all\n"
	        "                        needs --nats\n"
	        "  --node NAME           this node's name in reports (default host:pid)\n"
	        "  --partition N         --role target: the partition this writer applies\n"
	        "  --help                show this help\n"
	        "  --version             show the version\n"
	        "\n"
	        "SIGINT or SIGTERM stops every stream gracefully, then exits.\n");
}

/* CivetWeb's own messages (bind failures and the like) into our log. */
static int civetweb_log(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	srv_log(DBS_LOG_ERROR, "http: %s", message);
	return 1;
}

static void log_ports(struct mg_context *ctx, const char *listen)
{
	struct mg_server_port ports[8];
	int n = mg_get_server_ports(ctx, (int)(sizeof ports / sizeof ports[0]), ports);

	/* Port 0 asks for any free port: say which one we got. */
	for (int i = 0; i < n; i++)
		srv_log(DBS_LOG_INFO, "listening on %s (port %d)", listen, ports[i].port);
	if (n <= 0)
		srv_log(DBS_LOG_INFO, "listening on %s", listen);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"config-dir", required_argument, NULL, 'c'},
		{"state-dir", required_argument, NULL, 'S'},
		{"log-level", required_argument, NULL, 'L'},
		{"threads", required_argument, NULL, 't'},
		{"nats", required_argument, NULL, 'n'},
		{"nats-creds", required_argument, NULL, 'C'},
		{"nats-ca", required_argument, NULL, 'A'},
		{"role", required_argument, NULL, 'r'},
		{"node", required_argument, NULL, 'N'},
		{"partition", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *listen = DEFAULT_LISTEN;
	const char *threads = "8";
	struct mg_callbacks callbacks;
	struct mg_context *ctx = NULL;
	srv_app app;
	srv_state state;
	const char *state_dir = NULL;
	char default_state_dir[4096];
	bool streams_ready = false;
	bool state_open = false;
	sigset_t sigs;
	int sig = 0;
	int code = 1;
	int opt;

	srv_cluster_options copts;
	char node[64];
	char err[1024];

	memset(&app, 0, sizeof app);
	memset(&copts, 0, sizeof copts);
	copts.role = SRV_ROLE_ALL;
	app.config_dir = ".";
	app.body_limit = DEFAULT_BODY_LIMIT;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen = optarg;
			break;
		case 'c':
			app.config_dir = optarg;
			break;
		case 'S':
			state_dir = optarg;
			break;
		case 'L': {
			dbs_log_level level;

			if (srv_log_parse_level(optarg, &level) != 0) {
				fprintf(stderr, "dbs-server: unknown log level '%s' (error, warn, info, debug)\n", optarg);
				goto out;
			}
			srv_log_set_level(level);
			break;
		}
		case 't': {
			char *end = NULL;
			long n = strtol(optarg, &end, 10);

			if (end == optarg || *end != '\0' || n < 1 || n > 256) {
				fprintf(stderr, "dbs-server: --threads wants a number from 1 to 256\n");
				goto out;
			}
			threads = optarg;
			break;
		}
		case 'n':
			app.nats_url = optarg;
			break;
		case 'C':
			app.nats_creds = optarg;
			break;
		case 'A':
			app.nats_ca = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "all") == 0) {
				copts.role = SRV_ROLE_ALL;
			} else if (strcmp(optarg, "api") == 0) {
				copts.role = SRV_ROLE_API;
			} else if (strcmp(optarg, "source") == 0) {
				copts.role = SRV_ROLE_SOURCE;
			} else if (strcmp(optarg, "target") == 0) {
				copts.role = SRV_ROLE_TARGET;
			} else {
				fprintf(stderr, "dbs-server: --role wants all, api, source or target\n");
				code = 2;
				goto out;
			}
			break;
		case 'N':
			copts.node = optarg;
			break;
		case 'p': {
			char *end = NULL;
			long n = strtol(optarg, &end, 10);

			if (end == optarg || *end != '\0' || n < 0 || n > 63) {
				fprintf(stderr, "dbs-server: --partition wants a number from 0 to 63\n");
				code = 2;
				goto out;
			}
			copts.partition = (unsigned)n;
			break;
		}
		case 'h':
			usage(stdout);
			code = 0;
			goto out;
		case 'V':
			printf("dbs-server %s (libdbstreams %s, CivetWeb %s)\n", DBS_VERSION_STRING,
			       dbs_version(), mg_version());
			code = 0;
			goto out;
		default:
			usage(stderr);
			code = 2;
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dbs-server: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		code = 2;
		goto out;
	}

	{
		struct stat st;

		/* Fail now rather than on the first POST ?file=. */
		if (stat(app.config_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "dbs-server: --config-dir %s is not a directory\n", app.config_dir);
			code = 2;
			goto out;
		}
	}
	if (copts.role != SRV_ROLE_ALL && app.nats_url == NULL) {
		fprintf(stderr, "dbs-server: --role %s needs --nats URL\n",
		        copts.role == SRV_ROLE_API ? "api" : copts.role == SRV_ROLE_SOURCE ? "source" : "target");
		code = 2;
		goto out;
	}
	if (copts.node == NULL) {
		char host[48] = "node";

		gethostname(host, sizeof host - 1);
		host[sizeof host - 1] = '\0';
		/* Node names end subjects: keep them to one token. */
		for (char *c = host; *c; c++)
			if (*c == '.' || *c == '*' || *c == '>' || *c == ' ')
				*c = '_';
		snprintf(node, sizeof node, "%s_%ld", host, (long)getpid());
		copts.node = node;
	}
	if (copts.role == SRV_ROLE_ALL) {
		if (state_dir == NULL) {
			if (srv_state_default_dir(default_state_dir, sizeof default_state_dir) != 0) {
				fprintf(stderr, "dbs-server: no default state directory (HOME is not set): give --state-dir DIR\n");
				code = 2;
				goto out;
			}
			state_dir = default_state_dir;
		}
		if (srv_state_open(&state, state_dir, err, sizeof err) != 0) {
			fprintf(stderr, "dbs-server: %s\n", err);
			goto out;
		}
		state_open = true;
		app.state = &state;
	} else if (state_dir != NULL) {
		fprintf(stderr, "dbs-server: --state-dir applies to --role all only\n");
		code = 2;
		goto out;
	}
	if (srv_streams_init(&app.streams) != 0 || pthread_mutex_init(&app.create_lock, NULL) != 0) {
		fprintf(stderr, "dbs-server: cannot initialise a mutex\n");
		goto out;
	}
	streams_ready = true;

	/* Every thread started from here on inherits this mask, so only
	 * sigwait() below sees SIGINT/SIGTERM. A client that hangs up must not
	 * kill the server. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	mg_init_library(0);
	{
		const char *options[] = {
			"listening_ports", listen,
			"num_threads", threads,
			"enable_keep_alive", "no",
			"request_timeout_ms", "60000",
			NULL, NULL,
		};

		memset(&callbacks, 0, sizeof callbacks);
		callbacks.log_message = civetweb_log;
		ctx = mg_start(&callbacks, &app, options);
	}
	if (ctx == NULL) {
		srv_log(DBS_LOG_ERROR, "cannot listen on %s", listen);
		goto out_lib;
	}
	app.role = copts.role;
	if (copts.role != SRV_ROLE_ALL) {
		copts.url = app.nats_url;
		copts.creds = app.nats_creds;
		copts.ca = app.nats_ca;
		copts.streams = &app.streams;
		if (srv_cluster_start(&app.cluster, &copts, err, sizeof err) != 0) {
			srv_log(DBS_LOG_ERROR, "%s", err);
			mg_stop(ctx);
			goto out_lib;
		}
		srv_log(DBS_LOG_INFO, "role %s, node %s, NATS %s",
		        copts.role == SRV_ROLE_API ? "api" : copts.role == SRV_ROLE_SOURCE ? "source" : "target",
		        copts.node, app.nats_url);
	}
	if (app.state != NULL) {
		srv_log(DBS_LOG_INFO, "state dir %s", app.state->dir);
		/* Before the first request, so a POST cannot race a resumed id. */
		srv_persist_resume(&app);
		if (srv_persist_watch_start(&app) != 0) {
			srv_log(DBS_LOG_ERROR, "cannot start the state watcher thread");
			mg_stop(ctx);
			goto out_lib;
		}
	}
	mg_set_request_handler(ctx, "/", srv_routes_handle, &app);
	srv_log(DBS_LOG_INFO, "dbs-server %s, config dir %s", dbs_version(), app.config_dir);
	log_ports(ctx, listen);

	if (sigwait(&sigs, &sig) != 0)
		sig = SIGTERM;
	srv_log(DBS_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* A second signal while streams drain ends the process at once: only
	 * this thread unblocks them, so it is the one that takes the default
	 * action. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
	/* Finish in-flight requests first, so no handler holds a stream. */
	mg_stop(ctx);
	/* The streams stopped below stay "running" in the state directory, to
	 * be resumed at the next start. */
	srv_persist_watch_stop(&app);
	/* No new streams from the control stream while these stop. */
	srv_cluster_stop(app.cluster);
	app.cluster = NULL;
	code = 0;
out_lib:
	mg_exit_library();
out:
	if (streams_ready) {
		srv_persist_watch_stop(&app);
		srv_streams_shutdown(&app.streams);
		pthread_mutex_destroy(&app.create_lock);
		if (code == 0)
			srv_log(DBS_LOG_INFO, "stopped");
	}
	if (state_open)
		srv_state_close(&state);
	return code;
}
