/*
 * dbs-cli run: which part of a stream to run, and the default hub
 * (local.c, parsed by main.c). Kept apart from cli.h, which other commands
 * share.
 */
#ifndef DBS_CLI_RUN_PART_H
#define DBS_CLI_RUN_PART_H

#include <dbstreams/dbstreams.h>

#include "cli.h"

typedef struct cli_run_part {
	const char *stream_id;   /* --id: required with --part source|target */
	dbs_stream_part part;    /* --part all|source|target */
	unsigned partition;      /* --partition N (a writer of a partitioned stream) */
	const char *nats_url;    /* --nats URL: the hub when the config names none */
	const char *nats_creds;  /* --nats-creds FILE */
	const char *nats_ca;     /* --nats-ca FILE */
} cli_run_part;

/* Run `file` as cli_run does, but only `part` of it. */
int cli_run_with(const cli_options *opt, const char *file, const cli_run_part *part);

#endif
