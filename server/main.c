/*
 * dbs-server: the REST API of dbstreams (compatible with DBConvert Streams
 * 0.x) on CivetWeb. Streams run in this process through the library.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#include "civetweb_tls.h"
#include "log.h"
#include "persist.h"
#include "routes.h"

#define DEFAULT_LISTEN "127.0.0.1:8020"
#define DEFAULT_BODY_LIMIT (1024 * 1024)
#define DEFAULT_THREADS 32
/* A client that sends no complete request header within this is cut off. */
#define HEADER_TIMEOUT_MS "5000"
#define TOKEN_MAX 4096
#define MAX_ALLOWED 32

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
	        "  --threads N           HTTP worker threads (default 32)\n"
	        "  --max-client-connections N\n"
	        "                        connections one client address may hold at once;\n"
	        "                        more are closed at once (default: half the threads;\n"
	        "                        0: no limit)\n"
	        "  --token-file FILE     require Authorization: Bearer <the token in FILE> on\n"
	        "                        every route but /healthz (or set DBS_API_TOKEN)\n"
	        "  --tls-cert FILE       serve HTTPS with this certificate (PEM, chain first)\n"
	        "  --tls-key FILE        ... and this private key (PEM)\n"
	        "  --allow-host NAME     a host name clients may use besides the listen\n"
	        "                        address (and localhost on loopback); repeatable\n"
	        "  --allow-origin ORIGIN a browser origin (https://ui.example) that may send\n"
	        "                        requests; none by default; repeatable\n"
	        "  --insecure            allow a non-loopback --listen without a token\n"
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

/* The TLS files, for init_ssl. */
static const char *tls_cert_file, *tls_key_file;

/* CivetWeb made the TLS context: load the certificate chain and the key
 * (CivetWeb alone wants both in one file). 1: done, -1: failed. */
static int init_ssl(void *ssl_ctx, void *user_data)
{
	char err[256];

	(void)user_data;
	if (srv_tls_load(ssl_ctx, tls_cert_file, tls_key_file, err, sizeof err) == 0)
		return 1;
	srv_log(DBS_LOG_ERROR, "TLS: cannot use --tls-cert %s with --tls-key %s: %s", tls_cert_file,
	        tls_key_file, err);
	return -1;
}

static int begin_request(struct mg_connection *conn)
{
	return srv_routes_begin_request(conn);
}

static int init_connection(const struct mg_connection *conn, void **conn_data)
{
	srv_app *app = mg_get_user_data(mg_get_context(conn));

	*conn_data = NULL;
	srv_guard_connection_open(&app->guard);
	return 0;
}

static void connection_close(const struct mg_connection *conn)
{
	srv_app *app = mg_get_user_data(mg_get_context(conn));

	srv_guard_connection_close(&app->guard, conn);
}

/*
 * Split --listen into an address literal ("" for every interface) and a
 * port. CivetWeb reads no host names here. 0, or -1 when malformed.
 */
static int parse_listen(const char *listen, char *host, size_t size, long *port)
{
	const char *p = listen;
	const char *colon;
	char *end = NULL;
	struct in_addr a4;
	struct in6_addr a6;
	size_t n;

	host[0] = '\0';
	if (p[0] == '[') {
		const char *close = strchr(p, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		n = (size_t)(close - p - 1);
		if (n == 0 || n >= size)
			return -1;
		memcpy(host, p + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return -1;
		p = close + 2;
	} else if ((colon = strrchr(p, ':')) != NULL) {
		n = (size_t)(colon - p);
		if (n == 0 || n >= size)
			return -1;
		memcpy(host, p, n);
		host[n] = '\0';
		if (inet_pton(AF_INET, host, &a4) != 1)
			return -1;
		p = colon + 1;
	}
	*port = strtol(p, &end, 10);
	if (end == p || *end != '\0' || *port < 0 || *port > 65535)
		return -1;
	return 0;
}

/* The token in FILE: its first line, without the line end. 0, or -1 with
 * the reason printed. */
static int read_token(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "dbs-server: --token-file %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_mode & 0077)
		fprintf(stderr, "dbs-server: warning: --token-file %s may be read by other users (mode %03o)\n",
		        path, (unsigned)(st.st_mode & 0777));
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0) {
		fprintf(stderr, "dbs-server: --token-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

/* A token is sent in a header: printable, no spaces, long enough not to be
 * guessed. */
static int check_token(const char *token, const char *from)
{
	size_t n = strlen(token);

	if (n < 16 || n >= TOKEN_MAX) {
		fprintf(stderr, "dbs-server: the API token (%s) must have 16 to %d characters\n", from,
		        TOKEN_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (token[i] <= ' ' || token[i] == 0x7f) {
			fprintf(stderr, "dbs-server: the API token (%s) must be printable, without spaces\n",
			        from);
			return -1;
		}
	}
	return 0;
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
		{"max-client-connections", required_argument, NULL, 'm'},
		{"token-file", required_argument, NULL, 'T'},
		{"tls-cert", required_argument, NULL, 'E'},
		{"tls-key", required_argument, NULL, 'K'},
		{"allow-host", required_argument, NULL, 'H'},
		{"allow-origin", required_argument, NULL, 'O'},
		{"insecure", no_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *listen = DEFAULT_LISTEN;
	long threads = DEFAULT_THREADS;
	long max_per_client = -1;
	const char *token_file = NULL;
	const char *allow_hosts[MAX_ALLOWED], *allow_origins[MAX_ALLOWED];
	size_t nallow_hosts = 0, nallow_origins = 0;
	bool insecure = false;
	bool guard_ready = false;
	char token[TOKEN_MAX];
	char listen_host[64];
	char ports[128];
	char threads_text[16];
	long listen_port = 0;
	srv_guard_options gopts;
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
	memset(&gopts, 0, sizeof gopts);
	copts.role = SRV_ROLE_ALL;
	app.config_dir = ".";
	app.config_dir_fd = -1;
	app.body_limit = DEFAULT_BODY_LIMIT;
	token[0] = '\0';

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

			if (end == optarg || *end != '\0' || n < 2 || n > 256) {
				fprintf(stderr, "dbs-server: --threads wants a number from 2 to 256\n");
				goto out;
			}
			threads = n;
			break;
		}
		case 'm': {
			char *end = NULL;
			long n = strtol(optarg, &end, 10);

			if (end == optarg || *end != '\0' || n < 0 || n > 65536) {
				fprintf(stderr, "dbs-server: --max-client-connections wants a number from 0 to 65536\n");
				code = 2;
				goto out;
			}
			max_per_client = n;
			break;
		}
		case 'T':
			token_file = optarg;
			break;
		case 'E':
			tls_cert_file = optarg;
			break;
		case 'K':
			tls_key_file = optarg;
			break;
		case 'H':
		case 'O':
			if ((opt == 'H' ? nallow_hosts : nallow_origins) == MAX_ALLOWED) {
				fprintf(stderr, "dbs-server: at most %d --allow-host and --allow-origin each\n",
				        MAX_ALLOWED);
				code = 2;
				goto out;
			}
			if (opt == 'H')
				allow_hosts[nallow_hosts++] = optarg;
			else
				allow_origins[nallow_origins++] = optarg;
			break;
		case 'I':
			insecure = true;
			break;
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

	/* Fail now rather than on the first POST ?file=; names are looked up
	 * beneath this descriptor, whatever happens to the path. */
	app.config_dir_fd = open(app.config_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (app.config_dir_fd < 0) {
		fprintf(stderr, "dbs-server: --config-dir %s is not a directory\n", app.config_dir);
		code = 2;
		goto out;
	}
	if (parse_listen(listen, listen_host, sizeof listen_host, &listen_port) != 0) {
		fprintf(stderr, "dbs-server: --listen wants ADDRESS:PORT (127.0.0.1:8020, [::1]:8020) or PORT\n");
		code = 2;
		goto out;
	}
	if ((tls_cert_file == NULL) != (tls_key_file == NULL)) {
		fprintf(stderr, "dbs-server: --tls-cert and --tls-key go together\n");
		code = 2;
		goto out;
	}
	if (tls_cert_file != NULL && !mg_check_feature(MG_FEATURES_TLS)) {
		fprintf(stderr, "dbs-server: this CivetWeb was built without TLS\n");
		goto out;
	}
	if (token_file != NULL) {
		if (read_token(token_file, token, sizeof token) != 0 || check_token(token, token_file) != 0) {
			code = 2;
			goto out;
		}
	} else if (getenv("DBS_API_TOKEN") != NULL) {
		if (snprintf(token, sizeof token, "%s", getenv("DBS_API_TOKEN")) >= (int)sizeof token ||
		    check_token(token, "DBS_API_TOKEN") != 0) {
			code = 2;
			goto out;
		}
	}
	/* Anyone on the network could create streams (and read connection
	 * errors) on an open port: say so explicitly or give a token. */
	if (token[0] == '\0' && !srv_guard_is_loopback(listen_host) && !insecure) {
		fprintf(stderr, "dbs-server: --listen %s is reachable from other machines: give --token-file "
		                "(or DBS_API_TOKEN), or --insecure to serve it without a token\n",
		        listen);
		code = 2;
		goto out;
	}
	if (max_per_client < 0)
		max_per_client = threads / 2;
	if (max_per_client >= threads)
		fprintf(stderr, "dbs-server: warning: --max-client-connections %ld lets one client hold every one of the %ld threads\n",
		        max_per_client, threads);
	gopts.listen_host = listen_host;
	gopts.allow_hosts = allow_hosts;
	gopts.nallow_hosts = nallow_hosts;
	gopts.allow_origins = allow_origins;
	gopts.nallow_origins = nallow_origins;
	gopts.token = token;
	gopts.max_per_client = (unsigned)max_per_client;
	if (srv_guard_init(&app.guard, &gopts) != 0) {
		fprintf(stderr, "dbs-server: out of memory\n");
		goto out;
	}
	guard_ready = true;
	/* The guard has its own copy. */
	memset(token, 0, sizeof token);
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

	mg_init_library(tls_cert_file != NULL ? MG_FEATURES_TLS : 0);
	{
		/* CORS off: CivetWeb would answer preflights with "*". The path
		 * is decoded by the router, which refuses a %00 in it. */
		const char *options[] = {
			"listening_ports", ports,
			"num_threads", threads_text,
			"enable_keep_alive", "no",
			"request_timeout_ms", HEADER_TIMEOUT_MS,
			"decode_url", "no",
			"access_control_allow_origin", "",
			"access_control_allow_methods", "",
			"access_control_allow_headers", "",
			NULL, NULL,
		};

		snprintf(threads_text, sizeof threads_text, "%ld", threads);
		if (listen_host[0] == '\0')
			snprintf(ports, sizeof ports, "%ld%s", listen_port, tls_cert_file ? "s" : "");
		else
			snprintf(ports, sizeof ports, "%s%s%s:%ld%s", strchr(listen_host, ':') ? "[" : "",
			         listen_host, strchr(listen_host, ':') ? "]" : "", listen_port,
			         tls_cert_file ? "s" : "");
		memset(&callbacks, 0, sizeof callbacks);
		callbacks.log_message = civetweb_log;
		/* Set before the socket opens: no request ever meets CivetWeb's
		 * bare 404; until the streams are listed, each gets a 503. */
		callbacks.begin_request = begin_request;
		callbacks.http_error = srv_routes_http_error;
		callbacks.init_connection = init_connection;
		callbacks.connection_close = connection_close;
		if (tls_cert_file != NULL)
			callbacks.init_ssl = init_ssl;
		ctx = mg_start(&callbacks, &app, options);
	}
	if (ctx == NULL) {
		srv_log(DBS_LOG_ERROR, "cannot listen on %s", listen);
		goto out_lib;
	}
	{
		struct mg_server_port sp[SRV_GUARD_PORTS];
		int ports[SRV_GUARD_PORTS];
		bool tls[SRV_GUARD_PORTS];
		int n = mg_get_server_ports(ctx, SRV_GUARD_PORTS, sp);

		for (int i = 0; i < n; i++) {
			ports[i] = sp[i].port;
			tls[i] = sp[i].is_ssl != 0;
		}
		srv_guard_set_ports(&app.guard, ports, tls, n > 0 ? (size_t)n : 0);
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
		char *shown = NULL;

		/* A NATS URL may carry a token or a password. */
		dbs_mask_connection(&shown, app.nats_url);
		srv_log(DBS_LOG_INFO, "role %s, node %s, NATS %s",
		        copts.role == SRV_ROLE_API ? "api" : copts.role == SRV_ROLE_SOURCE ? "source" : "target",
		        copts.node, shown ? shown : "(masked)");
		dbs_free(shown);
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
	atomic_store(&app.ready, true);
	srv_log(DBS_LOG_INFO, "dbs-server %s, config dir %s%s%s", dbs_version(), app.config_dir,
	        app.guard.token ? ", API token required" : "", tls_cert_file ? ", HTTPS" : "");
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
	if (guard_ready)
		srv_guard_free(&app.guard);
	if (app.config_dir_fd >= 0)
		close(app.config_dir_fd);
	return code;
}
