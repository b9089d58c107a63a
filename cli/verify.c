/*
 * dbs-cli verify: run dbs_verify_run on a stream configuration and print
 * a per-table summary and the differing keys (or the report as JSON).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include <dbstreams/verify.h>

#include "cli.h"
#include "verify.h"

#define MAX_TABLE_ARGS 256

static void verify_usage(FILE *out)
{
	fprintf(out, "Usage: dbs-cli verify CONFIG_FILE [--chunk N] [--max-diffs N] [--table T]... "
	             "[--json]\n"
	             "\n"
	             "Compare the stream's source and target tables by primary key, with a\n"
	             "checksum per chunk of N keys (default 1000), and list the differing keys\n"
	             "(at most --max-diffs per table, default 1000; all are counted).\n"
	             "--table limits the comparison to the named tables (as in filter.tables).\n"
	             "Exit status: 0 equal, 1 differences found, 2 error.\n");
}

static int parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end = NULL;
	unsigned long v = strtoul(text, &end, 10);
	int rc = -1;
	if (end != text && *end == '\0' && text[0] != '-' && v >= min && v <= max) {
		*out = (uint32_t)v;
		rc = 0;
	}
	return rc;
}

static void print_key(const dbs_verify_table *t, const dbs_verify_diff *d)
{
	for (uint32_t i = 0; i < t->nkey_columns; i++)
		printf("%s%s=%s", i ? ", " : "", t->key_columns[i], d->key[i] ? d->key[i] : "NULL");
}

static void print_text(const dbs_verify_report *r)
{
	for (size_t i = 0; i < r->ntables; i++) {
		const dbs_verify_table *t = &r->tables[i];
		uint64_t n = t->missing + t->extra + t->changed + t->nmissing_columns;
		printf("%s.%s -> %s.%s: %s\n", t->source_schema, t->source_name, t->target_schema,
		       t->target_name, n ? "DIFFERENT" : "equal");
		printf("  rows: source %llu, target %llu; chunks %llu (%llu differing)\n",
		       (unsigned long long)t->source_rows, (unsigned long long)t->target_rows,
		       (unsigned long long)t->chunks, (unsigned long long)t->chunks_differing);
		if (n)
			printf("  missing in target %llu, extra in target %llu, changed %llu\n",
			       (unsigned long long)t->missing, (unsigned long long)t->extra,
			       (unsigned long long)t->changed);
		if (t->note && t->note[0])
			printf("  note: %s\n", t->note);
		for (uint32_t c = 0; c < t->nmissing_columns; c++)
			printf("  column %s: missing in target\n", t->missing_columns[c]);
		for (size_t k = 0; k < t->ndiffs; k++) {
			const dbs_verify_diff *d = &t->diffs[k];
			printf("  %-8s ", dbs_verify_diff_kind_name(d->kind));
			print_key(t, d);
			if (d->ncolumns) {
				printf("  columns:");
				for (uint32_t c = 0; c < d->ncolumns; c++)
					printf("%s%s", c ? ", " : " ", d->columns[c]);
			}
			printf("\n");
		}
		if (t->ndiffs < t->missing + t->extra + t->changed)
			printf(
			    "  ... %llu more not listed (--max-diffs)\n",
			    (unsigned long long)(t->missing + t->extra + t->changed - t->ndiffs));
	}
	printf("%llu difference(s) in %zu table(s), %.3f s\n", (unsigned long long)r->differences,
	       r->ntables, (double)r->elapsed_ns / 1e9);
}

static cJSON *str_array(const char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++) {
		cJSON *s = v[i] ? cJSON_CreateString(v[i]) : cJSON_CreateNull();
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static int print_json(const dbs_verify_report *r)
{
	int rc = -1;
	char *text = NULL;
	cJSON *root = cJSON_CreateObject(), *tables = NULL;
	if (!root || !cJSON_AddNumberToObject(root, "differences", (double)r->differences) ||
	    !cJSON_AddNumberToObject(root, "elapsedSeconds", (double)r->elapsed_ns / 1e9) ||
	    !(tables = cJSON_AddArrayToObject(root, "tables")))
		goto out;
	for (size_t i = 0; i < r->ntables; i++) {
		const dbs_verify_table *t = &r->tables[i];
		cJSON *o = cJSON_CreateObject(), *diffs = NULL;
		if (!o || !cJSON_AddItemToArray(tables, o)) {
			cJSON_Delete(o);
			goto out;
		}
		if (!cJSON_AddStringToObject(o, "sourceSchema", t->source_schema) ||
		    !cJSON_AddStringToObject(o, "sourceTable", t->source_name) ||
		    !cJSON_AddStringToObject(o, "targetSchema", t->target_schema) ||
		    !cJSON_AddStringToObject(o, "targetTable", t->target_name) ||
		    !cJSON_AddBoolToObject(o, "primaryKey", t->has_primary_key) ||
		    !cJSON_AddBoolToObject(o, "targetExists", t->target_exists) ||
		    !cJSON_AddNumberToObject(o, "sourceRows", (double)t->source_rows) ||
		    !cJSON_AddNumberToObject(o, "targetRows", (double)t->target_rows) ||
		    !cJSON_AddNumberToObject(o, "chunks", (double)t->chunks) ||
		    !cJSON_AddNumberToObject(o, "chunksDiffering", (double)t->chunks_differing) ||
		    !cJSON_AddNumberToObject(o, "missing", (double)t->missing) ||
		    !cJSON_AddNumberToObject(o, "extra", (double)t->extra) ||
		    !cJSON_AddNumberToObject(o, "changed", (double)t->changed) ||
		    !cJSON_AddStringToObject(o, "note", t->note ? t->note : ""))
			goto out;
		cJSON *kc = str_array(t->key_columns, t->nkey_columns);
		if (!kc || !cJSON_AddItemToObject(o, "keyColumns", kc)) {
			cJSON_Delete(kc);
			goto out;
		}
		cJSON *mc = str_array(t->missing_columns, t->nmissing_columns);
		if (!mc || !cJSON_AddItemToObject(o, "missingColumns", mc)) {
			cJSON_Delete(mc);
			goto out;
		}
		if (!(diffs = cJSON_AddArrayToObject(o, "diffs")))
			goto out;
		for (size_t k = 0; k < t->ndiffs; k++) {
			const dbs_verify_diff *d = &t->diffs[k];
			cJSON *e = cJSON_CreateObject();
			if (!e || !cJSON_AddItemToArray(diffs, e)) {
				cJSON_Delete(e);
				goto out;
			}
			cJSON *key = str_array(d->key, t->nkey_columns);
			cJSON *cols = str_array(d->columns, d->ncolumns);
			int bad = !cJSON_AddStringToObject(e, "kind",
			                                   dbs_verify_diff_kind_name(d->kind)) ||
			          !key || !cJSON_AddItemToObject(e, "key", key);
			if (bad)
				cJSON_Delete(key);
			if (bad || !cols || !cJSON_AddItemToObject(e, "columns", cols)) {
				cJSON_Delete(cols);
				goto out;
			}
		}
	}
	if (!(text = cJSON_Print(root)))
		goto out;
	printf("%s\n", text);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "dbs-cli: verify: out of memory\n");
	cJSON_free(text);
	cJSON_Delete(root);
	return rc;
}

int cli_verify_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"chunk", required_argument, NULL, 'c'}, {"max-diffs", required_argument, NULL, 'm'},
	    {"table", required_argument, NULL, 'T'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	dbs_verify_options opts = DBS_VERIFY_OPTIONS_INIT;
	dbs_verify_report *report = NULL;
	const char *tables[MAX_TABLE_ARGS];
	char *config = NULL;
	size_t len = 0;
	int json = 0, code = CLI_USAGE, o, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (parse_u32(optarg, 1, 1000000, &opts.chunk_size)) {
				fprintf(stderr, "dbs-cli: verify: --chunk wants 1..1000000\n");
				goto out;
			}
			break;
		case 'm':
			if (parse_u32(optarg, 0, UINT32_MAX, &opts.max_diffs)) {
				fprintf(stderr, "dbs-cli: verify: --max-diffs wants a number\n");
				goto out;
			}
			break;
		case 'T':
			if (opts.ntables >= MAX_TABLE_ARGS) {
				fprintf(stderr, "dbs-cli: verify: too many --table\n");
				goto out;
			}
			tables[opts.ntables++] = optarg;
			break;
		case 'j': json = 1; break;
		case 'h':
			verify_usage(stdout);
			code = CLI_OK;
			goto out;
		default: verify_usage(stderr); goto out;
		}
	}
	if (argc - optind != 1) {
		verify_usage(stderr);
		goto out;
	}
	opts.tables = opts.ntables ? tables : NULL;
	if (cli_read_file(argv[optind], &config, &len) != 0)
		goto out;
	rc = dbs_verify_run(&report, config, len, &opts);
	if (rc != 0) {
		fprintf(stderr, "dbs-cli: verify: %s: %s\n", dbs_strerror(rc), dbs_error_last());
		goto out;
	}
	if (json ? print_json(report) : (print_text(report), 0))
		goto out;
	code = report->differences ? CLI_FAILED : CLI_OK;
out:
	dbs_verify_report_free(report);
	free(config);
	return code;
}
