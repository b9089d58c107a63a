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

#include <civetweb.h>

#include "log.h"
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
	        "  --log-level LEVEL     error, warn, info or debug (default info)\n"
	        "  --threads N           HTTP worker threads (default 8)\n"
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
		{"log-level", required_argument, NULL, 'L'},
		{"threads", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *listen = DEFAULT_LISTEN;
	const char *threads = "8";
	struct mg_callbacks callbacks;
	struct mg_context *ctx = NULL;
	srv_app app;
	bool streams_ready = false;
	sigset_t sigs;
	int sig = 0;
	int code = 1;
	int opt;

	memset(&app, 0, sizeof app);
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
	if (srv_streams_init(&app.streams) != 0) {
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
	code = 0;
out_lib:
	mg_exit_library();
out:
	if (streams_ready) {
		srv_streams_shutdown(&app.streams);
		if (code == 0)
			srv_log(DBS_LOG_INFO, "stopped");
	}
	return code;
}
