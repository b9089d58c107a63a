/*
 * dbs-cli: shared declarations of the command files.
 */
#ifndef DBS_CLI_H
#define DBS_CLI_H

#include <stddef.h>

#include <dbstreams/dbstreams.h>

typedef struct cli_options {
	const char *server;   /* base URL of dbs-server */
	int json;             /* print raw JSON answers */
	int timeout_ms;       /* per request; < 0 waits forever */
	double stat_interval; /* seconds between stat lines of `run` */
	dbs_log_level log_level;
	const char *server_file; /* `create --server-file NAME`: POST ?file=NAME */
	const char *stream_id;   /* `create --id ID`: POST ?id=ID (resume) */
	const char *token;       /* the API token (--token-file, DBS_API_TOKEN); NULL: none */
} cli_options;

/* Exit codes. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* Read a whole file ("-" is stdin) into a new NUL-terminated buffer.
 * Returns 0, or -1 after printing the reason. */
int cli_read_file(const char *path, char **out, size_t *len);

/* REST commands (remote.c); `id` may be NULL for the current stream. */
int cli_create(const cli_options *opt, const char *file);
int cli_stat(const cli_options *opt, const char *id);
int cli_stop(const cli_options *opt, const char *id);
int cli_config(const cli_options *opt, const char *id);

/* In-process commands (local.c). */
int cli_run(const cli_options *opt, const char *file);
int cli_validate(const char *file);

#endif
