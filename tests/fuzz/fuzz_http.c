/*
 * libFuzzer target: dbs-server's request handling, whole. Each input is
 * sent as the raw bytes of one connection to a real CivetWeb server in this
 * process, with the server's callbacks and routes (guard, routing, bodies,
 * ?file=, stream creation, state directory), so requests run on CivetWeb's
 * worker threads and their small stacks, as in dbs-server. The answer is
 * read to the end.
 *
 * Streams are made of plugins that refuse to open ("postgresql" and
 * "mysql" sources and targets that fail at once), so a configuration the
 * library accepts goes the whole way (starting thread, INIT FAILED, state
 * record, stat, stop) without a database, and inputs stay independent.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <civetweb.h>
#include <dbstreams/plugin.h>

#include "guard.h"
#include "log.h"
#include "persist.h"
#include "routes.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static srv_app app;
static srv_state state;
static struct mg_context *ctx;
static dbs_registry *registry, *builtins;
static int port;
static char tmp[] = "/tmp/fuzz-http.XXXXXX";

static int refuse_source(dbs_source **out, const dbs_source_config *config, const dbs_host *host,
                         const dbs_position *resume, char *err, size_t errlen)
{
	(void)config;
	(void)host;
	(void)resume;
	*out = NULL;
	snprintf(err, errlen, "no database while fuzzing");
	return DBS_ESOURCE;
}

static int never_run(dbs_source *src, dbs_emit_fn emit, void *emit_data, char *err, size_t errlen)
{
	(void)src;
	(void)emit;
	(void)emit_data;
	(void)err;
	(void)errlen;
	return 0;
}

static void never_ack(dbs_source *src, const dbs_position *pos)
{
	(void)src;
	(void)pos;
}

static void never_close_source(dbs_source *src)
{
	(void)src;
}

static int refuse_target(dbs_target **out, const dbs_target_config *config, const dbs_host *host,
                         dbs_position *checkpoint, char *err, size_t errlen)
{
	(void)config;
	(void)host;
	(void)checkpoint;
	*out = NULL;
	snprintf(err, errlen, "no database while fuzzing");
	return DBS_ETARGET;
}

static int never_apply(dbs_target *tgt, const dbs_batch *batch, char *err, size_t errlen)
{
	(void)tgt;
	(void)batch;
	(void)err;
	(void)errlen;
	return 0;
}

static void never_close_target(dbs_target *tgt)
{
	(void)tgt;
}

/* The built-ins' own names and option rows, with no database behind them:
 * each copy gets the refusing functions at startup. */
static dbs_source_ops pg_source, my_source;
static dbs_target_ops pg_target, my_target;

static void unplug_source(dbs_source_ops *ops, const char *name)
{
	*ops = *dbs_registry_source(builtins, name);
	ops->open = refuse_source;
	ops->run = never_run;
	ops->ack = never_ack;
	ops->close = never_close_source;
	ops->start_point = NULL;
}

static void unplug_target(dbs_target_ops *ops, const char *name)
{
	*ops = *dbs_registry_target(builtins, name);
	ops->open = refuse_target;
	ops->apply = never_apply;
	ops->close = never_close_target;
	ops->flush = NULL;
	ops->keep_checkpoint = NULL;
}

static int begin_request(struct mg_connection *conn)
{
	return srv_routes_begin_request(conn);
}

static int init_connection(const struct mg_connection *conn, void **conn_data)
{
	(void)conn;
	*conn_data = NULL;
	srv_guard_connection_open(&app.guard);
	return 0;
}

static void connection_close(const struct mg_connection *conn)
{
	srv_guard_connection_close(&app.guard, conn);
}

static int quiet(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	(void)message;
	return 1;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char path[512];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(path);
		else
			unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

/* At exit (libFuzzer's, or the replay driver's): stop the server and
 * remove its directories, so a leak check sees only real leaks. */
static void stop_server(void)
{
	if (ctx == NULL)
		return;
	mg_stop(ctx);
	ctx = NULL;
	srv_persist_watch_stop(&app);
	srv_streams_shutdown(&app.streams);
	srv_state_close(&state);
	srv_guard_free(&app.guard);
	close(app.config_dir_fd);
	pthread_mutex_destroy(&app.create_lock);
	mg_exit_library();
	dbs_registry_free(registry);
	dbs_registry_free(builtins);
	remove_tree(tmp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char configs[64], states[64], err[512];
	const char *options[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4",
	                         "enable_keep_alive", "no", "request_timeout_ms", "2000",
	                         "decode_url", "no", "access_control_allow_origin", "",
	                         "access_control_allow_methods", "", "access_control_allow_headers", "",
	                         NULL, NULL};
	srv_guard_options gopts = {.listen_host = "127.0.0.1", .max_per_client = 0};
	struct mg_callbacks callbacks;
	struct mg_server_port sp[1];
	int ports[1];
	bool tls[1] = {false};

	(void)argc;
	(void)argv;
	srv_log_set_level(DBS_LOG_ERROR);
	if (mkdtemp(tmp) == NULL)
		abort();
	snprintf(configs, sizeof configs, "%s/configs", tmp);
	snprintf(states, sizeof states, "%s/state", tmp);
	mkdir(configs, 0700);
	write_file(configs, "stream.json",
	           "{\"name\":\"fuzz\",\"source\":{\"type\":\"postgresql\",\"connection\":"
	           "\"host=h password=secret\"},\"target\":{\"type\":\"mysql\",\"connection\":"
	           "\"u:secret@tcp(h:3306)/db\"}}");
	write_file(configs, "deep.json", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	                                 "[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
	                                 "]]]]]]]]]]]]]]]]]]]]]]]");
	{
		char link[512];

		/* ?file= must not follow it out of the directory. */
		snprintf(link, sizeof link, "%s/link.json", configs);
		if (symlink("/etc/hostname", link) != 0)
			perror("fuzz_http: symlink");
	}

	if (dbs_registry_new(&builtins, 1) != 0) {
		fprintf(stderr, "fuzz_http: registry: %s\n", dbs_error_last());
		abort();
	}
	unplug_source(&pg_source, "postgresql");
	unplug_source(&my_source, "mysql");
	unplug_target(&pg_target, "postgresql");
	unplug_target(&my_target, "mysql");
	if (dbs_registry_new(&registry, 0) != 0 ||
	    dbs_registry_add_hub(registry, dbs_registry_hub(builtins, "memory")) != 0 ||
	    dbs_registry_add_source(registry, &pg_source) != 0 ||
	    dbs_registry_add_source(registry, &my_source) != 0 ||
	    dbs_registry_add_target(registry, &pg_target) != 0 ||
	    dbs_registry_add_target(registry, &my_target) != 0) {
		fprintf(stderr, "fuzz_http: registry: %s\n", dbs_error_last());
		abort();
	}
	memset(&app, 0, sizeof app);
	app.config_dir = configs;
	app.config_dir_fd = open(configs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	app.body_limit = 64 * 1024;
	app.role = SRV_ROLE_ALL;
	app.registry = registry;
	if (srv_state_open(&state, states, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	app.state = &state;
	if (srv_streams_init(&app.streams) != 0 || pthread_mutex_init(&app.create_lock, NULL) != 0 ||
	    srv_guard_init(&app.guard, &gopts) != 0)
		abort();
	mg_init_library(0);
	memset(&callbacks, 0, sizeof callbacks);
	callbacks.begin_request = begin_request;
	callbacks.http_error = srv_routes_http_error;
	callbacks.init_connection = init_connection;
	callbacks.connection_close = connection_close;
	callbacks.log_message = quiet;
	ctx = mg_start(&callbacks, &app, options);
	if (ctx == NULL || mg_get_server_ports(ctx, 1, sp) != 1)
		abort();
	port = sp[0].port;
	ports[0] = port;
	srv_guard_set_ports(&app.guard, ports, tls, 1);
	srv_persist_resume(&app);
	if (srv_persist_watch_start(&app) != 0)
		abort();
	atomic_store(&app.ready, true);
	atexit(stop_server);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 10};
	char buf[65536];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
		size_t sent = 0;

		while (sent < size) {
			ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);

			if (n <= 0)
				break;
			sent += (size_t)n;
		}
		/* The end of the request: no worker waits for more. */
		shutdown(fd, SHUT_WR);
		while (recv(fd, buf, sizeof buf, 0) > 0)
			;
	}
	close(fd);
	return 0;
}
