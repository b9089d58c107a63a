/*
 * A program built against an installed libdbstreams through pkg-config
 * alone (check_install.py): compiled once as C and once as C++, it uses
 * the public API and the plugin SDK and exits 0 when every answer is the
 * documented one.
 */
#include <stdio.h>
#include <string.h>

#include <dbstreams/dbstreams.h>
#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/codec.h>
#include <dbstreams/sys/host.h>
#include <dbstreams/sys/position.h>
#include <dbstreams/verify.h>

static int failures;

static void expect(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "consumer: %s\n", what);
		failures++;
	}
}

int main(void)
{
	expect(strcmp(dbs_version(), DBS_VERSION_STRING) == 0,
	       "dbs_version differs from the header");

	dbs_registry *r = NULL;
	expect(dbs_registry_new(&r, 1) == 0, "dbs_registry_new failed");
	expect(r && dbs_registry_source(r, "postgresql") != NULL, "no built-in postgresql source");
	expect(r && dbs_registry_hub(r, "memory") != NULL, "no built-in memory hub");
	expect(r && dbs_registry_target(r, "mysql") != NULL, "no built-in mysql target");
	dbs_registry_free(r);

	static const char config[] =
	    "{\"source\": {\"type\": \"postgresql\", \"connection\": \"postgresql://u@h/db\"},"
	    " \"target\": {\"type\": \"mysql\", \"connection\": \"u:p@tcp(h:3306)/db\"}}";
	expect(dbs_config_validate(config, sizeof config - 1) == 0,
	       "a valid configuration refused");
	static const char wrong[] = "{\"source\": {\"type\": \"nosuch\"}}";
	expect(dbs_config_validate(wrong, sizeof wrong - 1) == DBS_ECONFIG,
	       "an unknown source type accepted");

	dbs_buf b = DBS_BUF_INIT;
	expect(dbs_buf_appendf(&b, "%s-%d", "sdk", 7) == 0 && b.len == 5 &&
	           strcmp(b.data, "sdk-7") == 0,
	       "dbs_buf_appendf");
	dbs_buf_free(&b);

	dbs_position pos;
	memset(&pos, 0, sizeof pos);
	pos.txn = ((uint64_t)3 << 32) | 4567;
	pos.event = 2;
	char text[64];
	dbs_position_text_of(text, sizeof text, DBS_DIALECT_MYSQL, &pos);
	expect(strcmp(text, "000003:4567#2") == 0, "dbs_position_text_of");

	dbs_stat st = DBS_STAT_INIT;
	expect(st.version == DBS_STAT_VERSION && st.source.status == DBS_STATUS_READY,
	       "DBS_STAT_INIT");
	expect(dbs_time_now_ns() > 0 && dbs_time_monotonic_ns() > 0, "SDK clocks");

	if (!failures)
		printf("consumer: %s, every check passed\n", dbs_version());
	return failures ? 1 : 0;
}
