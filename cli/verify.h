/*
 * dbs-cli verify: compare a stream's source and target tables.
 */
#ifndef DBS_CLI_VERIFY_H
#define DBS_CLI_VERIFY_H

/* `dbs-cli verify CONFIG [--chunk N] [--max-diffs N] [--json] [--table T]...`
 * with argv[0] = "verify". Exit 0 when equal, 1 on any difference, 2 on
 * an error. */
int cli_verify_main(int argc, char **argv);

#endif
