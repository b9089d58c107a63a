/*
 * dbs-cli: drive dbs-server over its REST API (create, stat, stop, config),
 * or run a stream in this process with the library (run, validate).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "cli.h"
#include "verify.h"
#include "run_part.h"

#define DEFAULT_SERVER "http://127.0.0.1:8020"

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: dbs-cli [OPTIONS] COMMAND [ARGS]\n"
	        "\n"
	        "Commands talking to dbs-server:\n"
	        "  create FILE|-          create and start a stream from a JSON config;\n"
	        "                         exit 1 if its source or target INIT FAILED\n"
	        "  create --server-file NAME\n"
	        "                         ... from NAME in the server's config directory\n"
	        "  create --id KSUID FILE ... again under an earlier stream's id: it resumes\n"
	        "                         from that stream's checkpoint\n"
	        "  stat [ID]              statuses and counters (current stream by default)\n"
	        "  stop [ID]              stop the stream gracefully\n"
	        "  config [ID]            the stream's configuration (passwords masked)\n"
	        "\n"
	        "Commands without a server:\n"
	        "  run CONFIG_FILE        run the stream in this process until it ends or\n"
	        "                         Ctrl-C; exit 1 if a node FAILED or INIT FAILED\n"
	        "  validate CONFIG_FILE   check a configuration\n"
	        "  verify CONFIG_FILE [--chunk N] [--max-diffs N] [--table T] [--json]\n"
	        "                         compare source and target tables by key; exit 1 on differences\n"
	        "\n"
	        "Options:\n"
	        "  --server URL           dbs-server address (default $DBS_SERVER or " DEFAULT_SERVER ")\n"
	        "  --token-file FILE      the server's API token, sent as Authorization: Bearer\n"
	        "                         (default $DBS_API_TOKEN)\n"
	        "  --json                 print the server's JSON as is\n"
	        "  --timeout S            seconds to wait for an answer (default 120, 0 = forever)\n"
	        "  --stat-interval S      seconds between stat lines of run (default 2)\n"
	        "  --log-level LEVEL      library log level for run: error, warn, info, debug\n"
	        "  --part all|source|target\n"
	        "                         run: only the source side (reader and hub\n"
	        "                         publisher) or the target side (hub fetcher and\n"
	        "                         writer); both give the same --id\n"
	        "  --id KSUID             run: the stream id (required with --part); create:\n"
	        "                         the id of the stream to create again (resume)\n"
	        "  --partition N          run --part target: the writer of partition N of a\n"
	        "                         stream with hub.partitions > 1\n"
	        "  --nats URL             run: NATS hub for a config without a hub section\n"
	        "  --nats-creds FILE      ... its credentials file; --nats-ca FILE its TLS CA\n"
	        "  --help, --version\n");
}

static int parse_seconds(const char *text, double *out, double min)
{
	char *end = NULL;
	double v = strtod(text, &end);
	int rc = -1;

	if (end != text && *end == '\0' && v >= min && v <= 86400.0 * 365) {
		*out = v;
		rc = 0;
	}
	return rc;
}

/* The first line of FILE, without its line end; -1 after saying why. */
static int read_token(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "dbs-cli: --token-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fgets(buf, (int)size, f) == NULL) {
		fprintf(stderr, "dbs-cli: --token-file %s: empty\n", path);
		goto out;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	for (const char *c = buf; *c; c++) {
		/* It goes into a header line. */
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			fprintf(stderr, "dbs-cli: --token-file %s: not a token\n", path);
			goto out;
		}
	}
	rc = buf[0] != '\0' ? 0 : -1;
	if (rc != 0)
		fprintf(stderr, "dbs-cli: --token-file %s: empty\n", path);
out:
	fclose(f);
	return rc;
}

static int parse_level(const char *text, dbs_log_level *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	int rc = -1;

	for (size_t i = 0; i < sizeof names / sizeof names[0] && rc != 0; i++) {
		if (strcmp(text, names[i]) == 0) {
			*out = (dbs_log_level)i;
			rc = 0;
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"stat-interval", required_argument, NULL, 'i'},
		{"log-level", required_argument, NULL, 'L'},
		{"server-file", required_argument, NULL, 'f'},
		{"part", required_argument, NULL, 'P'},
		{"id", required_argument, NULL, 'I'},
		{"partition", required_argument, NULL, 'N'},
		{"nats", required_argument, NULL, 'n'},
		{"nats-creds", required_argument, NULL, 'c'},
		{"nats-ca", required_argument, NULL, 'a'},
		{"token-file", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	cli_options opt = {0};
	const char *token_file = NULL;
	char token[4096];
	cli_run_part run = {0};
	int run_flags = 0;
	char *end = NULL;
	const char *cmd;
	const char *arg;
	double seconds;
	int nargs;
	int code = CLI_USAGE;
	int o;

	if (argc > 1 && strcmp(argv[1], "verify") == 0)
		return cli_verify_main(argc - 1, argv + 1);
	opt.server = getenv("DBS_SERVER") ? getenv("DBS_SERVER") : DEFAULT_SERVER;
	opt.timeout_ms = 120000;
	opt.stat_interval = 2.0;
	opt.log_level = DBS_LOG_INFO;
	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 's':
			opt.server = optarg;
			break;
		case 'j':
			opt.json = 1;
			break;
		case 't':
			if (parse_seconds(optarg, &seconds, 0) != 0) {
				fprintf(stderr, "dbs-cli: --timeout wants seconds\n");
				goto out;
			}
			opt.timeout_ms = seconds == 0 ? -1 : (int)(seconds * 1000);
			break;
		case 'i':
			if (parse_seconds(optarg, &seconds, 0.1) != 0) {
				fprintf(stderr, "dbs-cli: --stat-interval wants seconds (at least 0.1)\n");
				goto out;
			}
			opt.stat_interval = seconds;
			break;
		case 'L':
			if (parse_level(optarg, &opt.log_level) != 0) {
				fprintf(stderr, "dbs-cli: unknown log level '%s'\n", optarg);
				goto out;
			}
			break;
		case 'f':
			opt.server_file = optarg;
			break;
		case 'P':
			run_flags = 1;
			if (strcmp(optarg, "all") == 0) {
				run.part = DBS_PART_ALL;
			} else if (strcmp(optarg, "source") == 0) {
				run.part = DBS_PART_SOURCE;
			} else if (strcmp(optarg, "target") == 0) {
				run.part = DBS_PART_TARGET;
			} else {
				fprintf(stderr, "dbs-cli: --part wants all, source or target\n");
				goto out;
			}
			break;
		case 'I':
			run.stream_id = optarg;
			break;
		case 'N': {
			unsigned long n = strtoul(optarg, &end, 10);
			run_flags = 1;
			if (end == optarg || *end != '\0' || n > 63) {
				fprintf(stderr, "dbs-cli: --partition wants 0..63\n");
				goto out;
			}
			run.partition = (unsigned)n;
			break;
		}
		case 'n':
			run_flags = 1;
			run.nats_url = optarg;
			break;
		case 'c':
			run_flags = 1;
			run.nats_creds = optarg;
			break;
		case 'a':
			run_flags = 1;
			run.nats_ca = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'h':
			usage(stdout);
			code = CLI_OK;
			goto out;
		case 'V':
			printf("dbs-cli %s (libdbstreams %s)\n", DBS_VERSION_STRING, dbs_version());
			code = CLI_OK;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		goto out;
	}
	cmd = argv[optind];
	nargs = argc - optind - 1;
	arg = nargs > 0 ? argv[optind + 1] : NULL;
	if (nargs > 1) {
		fprintf(stderr, "dbs-cli: %s: too many arguments\n", cmd);
		goto out;
	}
	if (run_flags && strcmp(cmd, "run") != 0) {
		fprintf(stderr, "dbs-cli: --part, --partition and --nats* go with run\n");
		goto out;
	}
	if (run.stream_id != NULL && strcmp(cmd, "run") != 0 && strcmp(cmd, "create") != 0) {
		fprintf(stderr, "dbs-cli: --id goes with run or create\n");
		goto out;
	}
	if (run.stream_id != NULL && dbs_ksuid_check(run.stream_id) != 0) {
		fprintf(stderr, "dbs-cli: --id wants a stream id (27 base62 characters)\n");
		goto out;
	}
	opt.stream_id = run.stream_id;
	if (run.part != DBS_PART_ALL && run.stream_id == NULL) {
		fprintf(stderr, "dbs-cli: --part %s needs --id, the same on every part\n",
		        run.part == DBS_PART_SOURCE ? "source" : "target");
		goto out;
	}
	if (opt.server_file != NULL && strcmp(cmd, "create") != 0) {
		fprintf(stderr, "dbs-cli: --server-file goes with create\n");
		goto out;
	}

	if (token_file != NULL) {
		if (read_token(token_file, token, sizeof token) != 0)
			goto out;
		opt.token = token;
	} else if (getenv("DBS_API_TOKEN") != NULL && getenv("DBS_API_TOKEN")[0] != '\0') {
		opt.token = getenv("DBS_API_TOKEN");
		for (const char *c = opt.token; *c; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				fprintf(stderr, "dbs-cli: DBS_API_TOKEN is not a token\n");
				goto out;
			}
		}
	}

	mg_init_library(0);
	if (strcmp(cmd, "create") == 0) {
		if ((arg == NULL) == (opt.server_file == NULL)) {
			fprintf(stderr, "dbs-cli: create wants FILE, - or --server-file NAME\n");
			goto out_lib;
		}
		code = cli_create(&opt, arg);
	} else if (strcmp(cmd, "stat") == 0) {
		code = cli_stat(&opt, arg);
	} else if (strcmp(cmd, "stop") == 0) {
		code = cli_stop(&opt, arg);
	} else if (strcmp(cmd, "config") == 0) {
		code = cli_config(&opt, arg);
	} else if (strcmp(cmd, "run") == 0 || strcmp(cmd, "validate") == 0) {
		if (arg == NULL) {
			fprintf(stderr, "dbs-cli: %s wants CONFIG_FILE\n", cmd);
			goto out_lib;
		}
		code = strcmp(cmd, "run") == 0 ? cli_run_with(&opt, arg, &run) : cli_validate(arg);
	} else {
		fprintf(stderr, "dbs-cli: unknown command '%s'\n", cmd);
		usage(stderr);
	}
out_lib:
	mg_exit_library();
out:
	return code;
}
