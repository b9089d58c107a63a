#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "run_part.h"

/* Config files are small; this bounds a mistaken path to a huge file. */
#define FILE_MAX (16u * 1024u * 1024u)

int cli_read_file(const char *path, char **out, size_t *len)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t cap = 4096;
	size_t used = 0;
	int rc = -1;

	*out = NULL;
	*len = 0;
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "dbs-cli: %s: %s\n", path, strerror(errno));
		goto out;
	}
	buf = malloc(cap);
	if (buf == NULL)
		goto oom;
	for (;;) {
		size_t n;

		if (used + 1 >= cap) {
			char *grown;

			if (cap >= FILE_MAX) {
				fprintf(stderr, "dbs-cli: %s: larger than %u bytes\n", path, FILE_MAX);
				goto out;
			}
			cap *= 2;
			grown = realloc(buf, cap);
			if (grown == NULL)
				goto oom;
			buf = grown;
		}
		n = fread(buf + used, 1, cap - 1 - used, f);
		used += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "dbs-cli: %s: read error\n", path);
		goto out;
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	buf = NULL;
	rc = 0;
	goto out;
oom:
	fprintf(stderr, "dbs-cli: out of memory\n");
out:
	if (f != NULL && f != stdin)
		fclose(f);
	free(buf);
	return rc;
}

int cli_validate(const char *file)
{
	char *text = NULL;
	size_t len = 0;
	int code = CLI_FAILED;

	if (cli_read_file(file, &text, &len) != 0)
		goto out;
	if (dbs_config_validate(text, len) != 0) {
		fprintf(stderr, "%s: %s\n", file, dbs_error_last());
		goto out;
	}
	printf("%s: valid\n", file);
	code = CLI_OK;
out:
	free(text);
	return code;
}

/* ---- run ---- */

/* Set by the SIGINT/SIGTERM handler, polled by the run loop. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static void stamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char date[32];
	int n;

	buf[0] = '\0';
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || localtime_r(&ts.tv_sec, &tm) == NULL)
		return;
	if (strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return;
	n = snprintf(buf, size, "%s.%03ld", date, ts.tv_nsec / 1000000L);
	if (n < 0 || (size_t)n >= size)
		buf[0] = '\0';
}

/* Library log lines go to stderr; stat lines go to stdout. */
static void log_line(dbs_log_level level, const char *message, void *user_data)
{
	char ts[48];

	(void)user_data;
	stamp(ts, sizeof ts);
	fprintf(stderr, "%s %-5s %s\n", ts, (unsigned)level < 4 ? level_names[level] : "DEBUG",
	        message ? message : "");
}

static void print_node(const char *name, const dbs_node_stat *node)
{
	char elapsed[64];

	if (dbs_format_duration(elapsed, sizeof elapsed, node->elapsed_ns) != 0)
		snprintf(elapsed, sizeof elapsed, "?");
	printf("%s %s, %llu events, %s", name, dbs_status_name(node->status),
	       (unsigned long long)node->counter, elapsed);
	if (node->message[0] != '\0')
		printf(" (%.*s)", (int)sizeof node->message, node->message);
}

/* ", 2 reconnects (reconnecting)" when the node ever lost its connection. */
static void print_conn(const dbs_conn_stat *conn)
{
	if (conn->reconnects == 0)
		return;
	printf(", %llu reconnects%s", (unsigned long long)conn->reconnects,
	       conn->reconnecting ? " (reconnecting)" : "");
}

static void print_stat(const dbs_stat *stat)
{
	char ts[48];
	char lag[64];

	stamp(ts, sizeof ts);
	if (dbs_format_duration(lag, sizeof lag, stat->lag_ns) != 0)
		snprintf(lag, sizeof lag, "?");
	printf("%s %s | ", ts, stat->stream_id);
	print_node("source", &stat->source);
	print_conn(&stat->source_conn);
	printf(" | ");
	print_node("target", &stat->target);
	print_conn(&stat->target_conn);
	printf(" | lag %llu bytes, %s", (unsigned long long)stat->source_lag_bytes, lag);
	if (stat->hub_conn.reconnects)
		printf(" | hub %llu reconnects%s", (unsigned long long)stat->hub_conn.reconnects,
		       stat->hub_conn.reconnecting ? " (reconnecting)" : "");
	if (stat->stalled) {
		char since[64];
		if (dbs_format_time(since, sizeof since, stat->stalled_since_ns) != 0)
			snprintf(since, sizeof since, "?");
		printf(" | STALLED since %s", since);
	}
	if (stat->load.phase != DBS_LOAD_PHASE_NONE) {
		const dbs_load_stat *l = &stat->load;
		printf(" | load %s, %llu/%llu rows, %llu/%llu chunks (%llu resumed), %llu rows/s",
		       dbs_load_phase_name((dbs_load_phase)l->phase), (unsigned long long)l->rows,
		       (unsigned long long)l->rows_estimated, (unsigned long long)l->chunks_done,
		       (unsigned long long)l->chunks, (unsigned long long)l->chunks_resumed,
		       (unsigned long long)l->rows_per_s);
	}
	printf("\n");
	fflush(stdout);
}

static int node_failed(dbs_status status)
{
	return status == DBS_STATUS_FAILED || status == DBS_STATUS_INIT_FAILED ||
	       status == DBS_STATUS_UNKNOWN_ERROR;
}

int cli_run(const cli_options *opt, const char *file)
{
	cli_run_part whole = {0};
	return cli_run_with(opt, file, &whole);
}

int cli_run_with(const cli_options *opt, const char *file, const cli_run_part *part)
{
	dbs_stream_options sopts = DBS_STREAM_OPTIONS_INIT;
	dbs_stream *stream = NULL;
	dbs_stat stat = DBS_STAT_INIT;
	struct sigaction sa;
	char *text = NULL;
	size_t len = 0;
	long interval_ms = (long)(opt->stat_interval * 1000.0);
	long since_print = 0;
	const int slice_ms = 100;
	int code = CLI_FAILED;

	if (cli_read_file(file, &text, &len) != 0)
		goto out;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	/* A second Ctrl-C while the stream drains kills the process. */
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sopts.log = log_line;
	sopts.log_level = opt->log_level;
	sopts.stream_id = part->stream_id;
	sopts.part = part->part;
	sopts.partition = part->partition;
	if (part->nats_url != NULL) {
		sopts.default_hub = "nats";
		sopts.default_hub_url = part->nats_url;
		sopts.default_hub_credentials = part->nats_creds;
		sopts.default_hub_tls_ca = part->nats_ca;
	}
	if (dbs_stream_create(&stream, text, len, &sopts) != 0) {
		fprintf(stderr, "dbs-cli: %s: %s\n", file, dbs_error_last());
		goto out;
	}
	fprintf(stderr, "dbs-cli: stream %s started; Ctrl-C stops it\n", dbs_stream_id(stream));
	for (;;) {
		int ended = dbs_stream_wait(stream, slice_ms) == 0;

		since_print += slice_ms;
		if (ended || interrupted)
			break;
		if (since_print >= interval_ms) {
			since_print = 0;
			if (dbs_stream_stat(stream, &stat) == 0)
				print_stat(&stat);
		}
	}
	if (interrupted) {
		fprintf(stderr, "dbs-cli: stopping stream %s\n", dbs_stream_id(stream));
		if (dbs_stream_stop(stream) != 0)
			fprintf(stderr, "dbs-cli: stop: %s\n", dbs_error_last());
	}
	if (dbs_stream_stat(stream, &stat) != 0) {
		fprintf(stderr, "dbs-cli: stat: %s\n", dbs_error_last());
		goto out;
	}
	print_stat(&stat);
	code = node_failed(stat.source.status) || node_failed(stat.target.status) ? CLI_FAILED : CLI_OK;
out:
	dbs_stream_free(stream);
	free(text);
	return code;
}
