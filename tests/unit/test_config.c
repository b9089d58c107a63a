/* Configuration parser: strictness, defaults, normalisation, masking. */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/core.h"
#include "core/options.h"
#include "hubs/nats/nats_hub.h"
#include "sql/settings.h"

/* What the SQL plugins and the NATS hub read of a configuration. */
#define SRC_SET(c) ((const dbs_sql_source_settings *)(c)->source.settings)
#define TGT_SET(c) ((const dbs_sql_target_settings *)(c)->target.settings)
#define NATS_SET(c) ((const dbs_nats_settings *)(c)->hub.settings)

/* JSON written with ' for readability; turned into " before parsing. */
static char *dq(const char *s)
{
	char *out = strdup(s);
	ck_assert_ptr_nonnull(out);
	for (char *c = out; *c; c++)
		if (*c == '\'')
			*c = '"';
	return out;
}

#define SRC "'source':{'type':'mysql','connection':'u:secret@tcp(127.0.0.1:3306)/db'}"
#define TGT "'target':{'type':'postgresql','connection':'postgres://u:secret@h:5432/db'}"
#define SRCX(extra) "'source':{'type':'mysql','connection':'u:secret@tcp(h:3306)/db'," extra "}"
#define TGTX(extra)                                                                                \
	"'target':{'type':'postgresql','connection':'postgres://u:secret@h/db'," extra "}"
#define PGSRCX(extra)                                                                              \
	"'source':{'type':'postgresql','connection':'postgres://u:secret@h/db'," extra "}"

struct bad {
	const char *json;
	const char *message;
};

static const struct bad bad_configs[] = {
    /* shape */
    {"[]", "(root): expected a JSON object, got an array"},
    {"\"x\"", "(root): expected a JSON object, got a string"},
    {"", "(root): empty configuration (expected a JSON object)"},
    {"  \n ", "(root): empty configuration (expected a JSON object)"},
    {"{'source': ", "(root): invalid JSON at byte 11 (line 1, column 12)"},
    {"{\n'source': {'type': mysql}}", "(root): invalid JSON at byte 21 (line 2, column 20)"},
    {"{} x", "(root): unexpected data after the JSON value at byte 3 (line 1, column 4)"},
    {"{}", "source: required"},
    {"{" SRC "}", "target: required"},
    {"{" TGT "}", "source: required"},
    {"{'source':'mysql'," TGT "}", "source: expected an object, got a string"},
    {"{'sourc':{}," SRC "," TGT "}", "sourc: unknown key"},
    {"{'Source':{}," SRC "," TGT "}", "Source: unknown key (did you mean \"source\"?)"},
    {"{" SRC "," SRC "," TGT "}", "source: duplicate key"},
    {"{" SRC "," TGT ",'destination':{}}", "destination: \"target\" is given too; use one of them"},
    {"{" SRC ",'destination':{'type':'mysql','connection':'x'}," TGT "}",
     "target: \"destination\" is given too; use one of them"},
    {"{'id':'not-a-ksuid'," SRC "," TGT "}",
     "id: \"not-a-ksuid\" is not a stream id (27 characters 0-9, A-Z, a-z)"},
    {"{'id':5," SRC "," TGT "}", "id: expected a string, got a number"},
    {"{'name':true," SRC "," TGT "}", "name: expected a string, got a boolean"},

    /* source */
    {"{'source':{'connection':'x'}," TGT "}", "source.type: required"},
    {"{'source':{'type':'','connection':'x'}," TGT "}", "source.type: must not be empty"},
    {"{'source':{'type':'oracle','connection':'x'}," TGT "}",
     "source.type: unknown type \"oracle\" (expected mysql or postgresql)"},
    {"{'source':{'type':'MySQL','connection':'x'}," TGT "}",
     "source.type: unknown type \"MySQL\" (expected mysql or postgresql)"},
    {"{'source':{'type':5,'connection':'x'}," TGT "}",
     "source.type: expected a string, got a number"},
    {"{'source':{'type':'mysql'}," TGT "}", "source.connection: required"},
    {"{'source':{'type':'mysql','connection':''}," TGT "}", "source.connection: must not be empty"},
    {"{'source':{'type':'mysql','connection':null}," TGT "}",
     "source.connection: expected a string, got null"},
    {"{" SRCX("'mode':'stream'") "," TGT "}",
     "source.mode: unknown mode \"stream\" (expected cdc, convert or load)"},
    {"{" SRCX("'mode':'convert','initialLoad':true") "," TGT "}",
     "source.initialLoad: only used by mode \"cdc\" (mode \"convert\" copies the tables and "
     "ends)"},
    {"{" SRCX("'mode':'load','initialLoad':true") "," TGT "}",
     "source.initialLoad: only used by mode \"cdc\" (mode \"load\" copies the tables and ends)"},
    {"{" SRCX("'initialLoad':'false'") "," TGT "}",
     "source.initialLoad: expected true or false, got a string"},
    {"{" SRCX("'dataBundleSize':5") "," TGT "}",
     "source.dataBundleSize: 5 is out of range (expected 10 to 1000)"},
    {"{" SRCX("'dataBundleSize':1001") "," TGT "}",
     "source.dataBundleSize: 1001 is out of range (expected 10 to 1000)"},
    {"{" SRCX("'dataBundleSize':10.5") "," TGT "}",
     "source.dataBundleSize: 10.5 is not a whole number"},
    {"{" SRCX("'dataBundleSize':'100'") "," TGT "}",
     "source.dataBundleSize: expected a number, got a string"},
    {"{" SRCX("'reportingInterval':-1") "," TGT "}",
     "source.reportingInterval: -1 is out of range (expected 0 or more)"},
    {"{" SRCX("'reportingInterval':5000000000") "," TGT "}",
     "source.reportingInterval: 5000000000 is too large (at most 4294967295)"},
    {"{" SRCX("'batchSize':100") "," TGT "}", "source.batchSize: unknown key"},
    {"{" SRCX("'settings':[]") "," TGT "}", "source.settings: expected an object, got an array"},
    {"{" SRCX("'settings':{'flavor':'percona'}") "," TGT "}",
     "source.settings.flavor: unknown flavor \"percona\" (expected mysql or mariadb)"},
    {"{" SRCX("'settings':{'sslCA':1}") "," TGT "}",
     "source.settings.sslCA: expected a string, got a number"},
    {"{" SRCX("'settings':{'sslca':'x'}") "," TGT "}",
     "source.settings.sslca: unknown key (did you mean \"sslCA\"?)"},
    {"{" PGSRCX("'settings':{'replicationSlotName':'Bad-Slot'}") "," TGT "}",
     "source.settings.replicationSlotName: \"Bad-Slot\" is not a valid slot name (lower-case "
     "letters, digits "
     "and underscores, at most 63)"},
    {"{" PGSRCX("'settings':{'replicationSlotName':''}") "," TGT "}",
     "source.settings.replicationSlotName: must not be empty"},
    {"{" PGSRCX("'settings':{'publicationName':'"
                "p234567890123456789012345678901234567890123456789012345678901234'}") "," TGT "}",
     "source.settings.publicationName: longer than 63 bytes (PostgreSQL's limit for names)"},

    /* source.filter */
    {"{" SRCX("'filter':{'table':[]}") "," TGT "}", "source.filter.table: unknown key"},
    {"{" SRCX("'filter':{'tables':{}}") "," TGT "}",
     "source.filter.tables: expected an array, got an object"},
    {"{" SRCX("'filter':{'tables':['products']}") "," TGT "}",
     "source.filter.tables[0]: expected an object, got a string"},
    {"{" SRCX("'filter':{'tables':[{'operations':['insert']}]}") "," TGT "}",
     "source.filter.tables[0].name: required"},
    {"{" SRCX("'filter':{'tables':[{'name':''}]}") "," TGT "}",
     "source.filter.tables[0].name: must not be empty"},
    {"{" SRCX("'filter':{'tables':[{'name':'a'},{'name':'b','operations':['upsert']}]}") "," TGT
                                                                                         "}",
     "source.filter.tables[1].operations[0]: unknown operation \"upsert\" (expected insert, update "
     "or delete)"},
    {"{" SRCX(
         "'filter':{'tables':[{'name':'a','operations':['insert','delete','insert']}]}") "," TGT
                                                                                         "}",
     "source.filter.tables[0].operations[2]: duplicate operation \"insert\""},
    {"{" SRCX("'filter':{'tables':[{'name':'a','operations':[]}]}") "," TGT "}",
     "source.filter.tables[0].operations: empty list (leave it out to capture insert, update and "
     "delete)"},
    {"{" SRCX("'filter':{'tables':[{'name':'a','operations':'insert'}]}") "," TGT "}",
     "source.filter.tables[0].operations: expected an array, got a string"},
    {"{" SRCX("'filter':{'tables':[{'name':'a','operations':['insert',2]}]}") "," TGT "}",
     "source.filter.tables[0].operations[1]: expected a string, got a number"},
    {"{" SRCX("'filter':{'tables':[{'name':'a'},{'name':'b'},{'name':'a'}]}") "," TGT "}",
     "source.filter.tables[2].name: duplicate table \"a\" (already at [0])"},
    {"{" SRCX("'filter':{'tables':[{'name':'b'},{'name':'a'},{'name':'c'},{'name':'a'},{'name':'b'}"
              "]}") "," TGT "}",
     "source.filter.tables[3].name: duplicate table \"a\" (already at [1])"},
    {"{" SRCX("'filter':{'tables':[{'name':'x'},{'name':'x'},{'name':'x'}]}") "," TGT "}",
     "source.filter.tables[1].name: duplicate table \"x\" (already at [0])"},
    /* MySQL: no default schema, "public.t" is another database's table */
    {"{" SRCX("'filter':{'tables':[{'name':'public.t'},{'name':'t'},{'name':'public.t'}]}") "," TGT
                                                                                            "}",
     "source.filter.tables[2].name: duplicate table \"public.t\" (already at [0])"},
    {"{" PGSRCX("'filter':{'tables':[{'name':'products'},{'name':'public.products'}]}") "," TGT "}",
     "source.filter.tables[1].name: duplicate table \"public.products\" (already at [0])"},
    {"{" SRCX("'filter':{'tables':[{'name':'a','query':'SELECT * FROM a'}]}") "," TGT "}",
     "source.filter.tables[0].query: only used by mode \"convert\" (mode \"cdc\" carries every "
     "change of the table)"},
    {"{" SRCX("'mode':'convert','filter':{'tables':[{'name':'a'},{'name':'b','query':"
              "'DELETE FROM b'}]}") "," TGT "}",
     "source.filter.tables[1].query: \"DELETE FROM b\" is not a SELECT (a custom query reads "
     "the rows of its table: SELECT ... FROM that table)"},
    {"{" SRCX("'mode':'convert','filter':{'tables':[{'name':'a','query':''}]}") "," TGT "}",
     "source.filter.tables[0].query: must not be empty"},
    {"{" SRCX("'mode':'convert','filter':{'tables':[{'name':'a','query':'  -- x\\n "
              "selected_rows'}]}") "," TGT "}",
     "source.filter.tables[0].query: \"  -- x? selected_rows\" is not a SELECT (a custom query "
     "reads the rows of its table: SELECT ... FROM that table)"},
    {"{" SRC "," TGT ",'load':{'workers':0}}", "load.workers: 0 is out of range (expected 1 to 64)"},
    {"{" SRC "," TGT ",'load':{'chunkRows':0}}",
     "load.chunkRows: 0 is out of range (expected 1 or more)"},
    {"{" SRC "," TGT ",'load':{'chunks':10}}", "load.chunks: unknown key"},
    {"{" SRC ",'target':{'type':'mysql','connection':'u:p@tcp(h)/d','options':"
             "{'writeMode':'replace'}}}",
     "target.options.writeMode: unknown write mode \"replace\" (expected fail_if_not_empty, "
     "append, truncate_and_load or upsert)"},
    {"{" SRCX("'filter':{'tables':[{'name':'a','Operations':['insert']}]}") "," TGT "}",
     "source.filter.tables[0].Operations: unknown key (did you mean \"operations\"?)"},

    /* target */
    {"{" SRC ",'target':{'type':'mssql','connection':'x'}}",
     "target.type: unknown type \"mssql\" (expected mysql or postgresql)"},
    {"{" SRC ",'target':{'type':'mysql'}}", "target.connection: required"},
    {"{" SRC ",'destination':{'connection':'x'}}", "destination.type: required"},
    {"{" SRC ",'destination':{'type':'mysql','connection':'x','mode':'cdc'}}",
     "destination.mode: unknown key"},
    {"{" SRC "," TGTX("'options':{'noCreateTables':'yes'}") "}",
     "target.options.noCreateTables: expected true or false, got a string"},
    {"{" SRC "," TGTX("'options':{'zeroDates':'now'}") "}",
     "target.options.zeroDates: unknown zero-date policy \"now\" (expected fail, null or "
     "-infinity)"},
    {"{" SRC "," TGTX("'options':{'deadLetterTable':'a.b.c'}") "}",
     "target.options.deadLetterTable: \"a.b.c\" is not a table name (expected \"table\" or "
     "\"schema.table\", each part 1 to 63 bytes)"},
    {"{" SRC "," TGTX("'options':{'deadLetterTable':'s.'}") "}",
     "target.options.deadLetterTable: \"s.\" is not a table name (expected \"table\" or "
     "\"schema.table\", each part 1 to 63 bytes)"},
    {"{" SRC "," TGTX("'options':{'deadLetterTable':'dbstreams_checkpoint'}") "}",
     "target.options.deadLetterTable: \"dbstreams_checkpoint\" is the table of the stream "
     "checkpoints"},
    {"{" SRC "," TGTX("'options':{'deadLetterTable':''}") "}",
     "target.options.deadLetterTable: must not be empty"},
    {"{" SRC "," TGTX("'options':{'deadLetterTable':true}") "}",
     "target.options.deadLetterTable: expected a string, got a boolean"},
    {"{" SRC "," TGTX("'options':{'schemaChanges':'dropTable,rename'}") "}",
     "target.options.schemaChanges: unknown schema change policy \"rename\" (expected a "
     "comma-separated list of dropTable, truncate, or none)"},
    {"{" SRC "," TGTX("'options':{'schemaChanges':'none,truncate'}") "}",
     "target.options.schemaChanges: \"none\" cannot be combined with dropTable or truncate"},
    {"{" SRC "," TGTX("'options':{'tables':[{'name':'t','noCreateIndexes':1}]}") "}",
     "target.options.tables[0].noCreateIndexes: expected true or false, got a number"},
    {"{" SRC "," TGTX("'options':{'tables':[{'name':'t'},{'name':'public.t'}]}") "}",
     "target.options.tables[1].name: duplicate table \"public.t\" (already at [0])"},
    {"{" SRC ",'destination':{'type':'mysql','connection':'x','options':{'tables':[{'name':'t'},{'"
     "name':'t'}]}}}",
     "destination.options.tables[1].name: duplicate table \"t\" (already at [0])"},
    {"{" SRC "," TGTX("'settings':{'sslMode':'x'}") "}", "target.settings.sslMode: unknown key"},
    {"{" SRC "," TGTX("'reportingInterval':1e300") "}",
     "target.reportingInterval: 1e+300 is too large (at most 4294967295)"},

    /* limits */
    {"{" SRC "," TGT ",'limits':[]}", "limits: expected an object, got an array"},
    {"{" SRC "," TGT ",'limits':{'numberOfEvents':-5}}",
     "limits.numberOfEvents: -5 is out of range (expected 0 or more)"},
    {"{" SRC "," TGT ",'limits':{'elapsedTime':1.5}}",
     "limits.elapsedTime: 1.5 is not a whole number"},
    {"{" SRC "," TGT ",'limits':{'elapsedTime':'600'}}",
     "limits.elapsedTime: expected a number, got a string"},
    {"{" SRC "," TGT ",'limits':{'elapsedTime':1e10}}",
     "limits.elapsedTime: 10000000000 is too large (at most 9223372036)"},
    {"{" SRC "," TGT ",'reconnect':{'giveUpAfter':'60'}}",
     "reconnect.giveUpAfter: expected a number, got a string"},
    {"{" SRC "," TGT ",'reconnect':{'giveUpAfter':-1}}",
     "reconnect.giveUpAfter: -1 is out of range (expected 0 to 315360000)"},
    {"{" SRC "," TGT ",'reconnect':{'giveUpAfter':2.5}}",
     "reconnect.giveUpAfter: 2.5 is not a whole number"},
    {"{" SRC "," TGT ",'reconnect':{'giveUpAfter':1e12}}",
     "reconnect.giveUpAfter: 1000000000000 is out of range (expected 0 to 315360000)"},
    {"{" SRC "," TGT ",'reconnect':{'giveup':60}}", "reconnect.giveup: unknown key"},
    {"{" SRC "," TGT ",'reconnect':60}", "reconnect: expected an object, got a number"},
    {"{" SRC "," TGT ",'limits':{'numberOfEvents':1,'numberOfevents':2}}",
     "limits.numberOfevents: \"numberOfEvents\" is given too; use one of them"},
    {"{" SRC "," TGT ",'limits':{'numberOfevents':1,'numberOfevents':2}}",
     "limits.numberOfevents: duplicate key"},
    {"{" SRC "," TGT ",'limits':{'events':1}}", "limits.events: unknown key"},

    /* hub */
    {"{" SRC "," TGT ",'hub':{'type':'kafka'}}",
     "hub.type: unknown hub type \"kafka\" (expected memory or nats)"},
    {"{" SRC "," TGT ",'hub':{'type':'nats'}}", "hub.url: required when hub.type is \"nats\""},
    {"{" SRC "," TGT ",'hub':{'url':'nats://h:4222'}}",
     "hub.url: only used when hub.type is \"nats\""},
    {"{" SRC "," TGT ",'hub':{'type':'nats','url':'http://h:4222'}}",
     "hub.url: \"http://h:4222\" is not a NATS URL (expected nats://host:port)"},
    {"{" SRC "," TGT ",'hub':{'capacity':0}}",
     "hub.capacity: 0 is out of range (expected 1 to 65536)"},
    {"{" SRC "," TGT ",'hub':{'type':'memory','size':3}}", "hub.size: unknown key"},

    /* passwords never appear in messages, whatever field they were pasted into */
    {"{'source':{'type':'u:secret@tcp(h:3306)/db','connection':'x'}," TGT "}",
     "source.type: unknown type \"u:********@tcp(h:3306)/db\" (expected mysql or postgresql)"},
    {"{'source':{'type':'mysql','u:secret@tcp(h:3306)/db':1}," TGT "}",
     "source.u:********@tcp(h:3306)/db: unknown key"},
    {"{" SRC "," TGT ",'hub':{'type':'nats','url':'http://u:secret@h:4222'}}",
     "hub.url: \"http://u:********@h:4222\" is not a NATS URL (expected nats://host:port)"},
    {"{" SRCX("'filter':{'tables':[{'name':'host=h password=secret'},{'name':'host=h "
              "password=secret'}]}") "," TGT "}",
     "source.filter.tables[1].name: duplicate table \"host=h password=********\" (already at [0])"},
};

#define NBAD ((int)(sizeof bad_configs / sizeof bad_configs[0]))

START_TEST(test_bad_config)
{
	const struct bad *b = &bad_configs[_i];
	char *json = dq(b->json);
	char err[1024];
	dbs_config *cfg = (dbs_config *)1;
	int rc = dbs__config_parse(&cfg, json, strlen(json), err, sizeof err);
	ck_assert_msg(rc == DBS_ECONFIG, "case %d: rc %d for %s (err: %s)", _i, rc, json, err);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, b->message);
	ck_assert_ptr_null(strstr(err, "secret"));
	/* The public entry point says the same through dbs_error_last(). */
	ck_assert_int_eq(dbs_config_validate(json, strlen(json)), DBS_ECONFIG);
	ck_assert_str_eq(dbs_error_last(), b->message);
	free(json);
}
END_TEST

static char *read_data(const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/config/%s", DBS_TEST_DATA, name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	char *buf = malloc(65536);
	ck_assert_ptr_nonnull(buf);
	*len = fread(buf, 1, 65535, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static dbs_config *parse_ok(const char *json, size_t len)
{
	char err[1024] = "";
	dbs_config *cfg = NULL;
	int rc = dbs__config_parse(&cfg, json, len, err, sizeof err);
	ck_assert_msg(rc == 0, "rc %d: %s", rc, err);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

static dbs_config *parse_q(const char *quoted)
{
	char *json = dq(quoted);
	dbs_config *cfg = parse_ok(json, strlen(json));
	free(json);
	return cfg;
}

static void assert_defaults(const dbs_config *c)
{
	ck_assert_str_eq(c->source.mode, "cdc");
	ck_assert_int_eq(c->source.initial_load, 0);
	ck_assert_uint_eq(c->source.data_bundle_size, 100);
	ck_assert_str_eq(SRC_SET(c)->replication_slot_name, "dbconvert_replication_slot");
	ck_assert_str_eq(SRC_SET(c)->publication_name, "dbconvert-publication");
	ck_assert_str_eq(c->hub.type, "memory");
	ck_assert_ptr_null(c->hub.settings); /* memory: no URL, no settings */
	ck_assert_uint_eq(c->hub.capacity, 64);
	ck_assert_uint_eq(c->reconnect.give_up_after_s, 300);
}

START_TEST(test_getting_started)
{
	size_t len;
	char *json = read_data("getting-started.json", &len);
	dbs_config *c = parse_ok(json, len);
	ck_assert_str_eq(c->source.type, "mysql");
	ck_assert_ptr_nonnull(strstr(c->source.connection, "/Source?tls=true"));
	ck_assert_str_eq(SRC_SET(c)->ssl_ca, "../../config/mysql/client-ssl/ca.pem");
	ck_assert_str_eq(SRC_SET(c)->ssl_cert, "../../config/mysql/client-ssl/client-cert.pem");
	ck_assert_str_eq(SRC_SET(c)->ssl_key, "../../config/mysql/client-ssl/client-key.pem");
	ck_assert_ptr_null(SRC_SET(c)->flavor);
	ck_assert_uint_eq(c->source.ntables, 3);
	ck_assert_str_eq(c->source.tables[0].name, "products1");
	ck_assert_str_eq(c->source.tables[2].name, "products3");
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(c->source.tables[i].operations, DBS_OPS_ALL);
	ck_assert_str_eq(c->target.type, "postgresql");
	ck_assert_ptr_nonnull(strstr(c->target.connection, "sslmode=verify-ca"));
	ck_assert_uint_eq(TGT_SET(c)->ntables, 0);
	ck_assert_int_eq(TGT_SET(c)->no_create_tables, 0);
	ck_assert_uint_eq(c->limits.number_of_events, 10000);
	ck_assert_uint_eq(c->limits.elapsed_time_s, 600);
	assert_defaults(c);
	dbs__config_free(c);

	ck_assert_int_eq(dbs_config_validate(json, len), 0);
	ck_assert_str_eq(dbs_error_last(), "");
	free(json);

	json = read_data("getting-started-curl.json", &len);
	c = parse_ok(json, len);
	ck_assert_uint_eq(c->limits.number_of_events, 0);
	ck_assert_uint_eq(c->limits.elapsed_time_s, 0);
	dbs__config_free(c);
	free(json);
}
END_TEST

START_TEST(test_minimal_defaults)
{
	dbs_config *c = parse_q("{" SRC "," TGT "}");
	assert_defaults(c);
	ck_assert_uint_eq(c->source.ntables, 0);
	ck_assert_ptr_null(c->source.tables);
	ck_assert_uint_eq(c->source.reporting_interval, 0);
	ck_assert_uint_eq(c->limits.number_of_events, 0);
	ck_assert_uint_eq(c->limits.elapsed_time_s, 0);
	ck_assert_ptr_null(SRC_SET(c)->ssl_ca);
	dbs__config_free(c);
}
END_TEST

/* Mode convert (and its 2.x name "load"): the tables' queries are kept
 * beside the filter; the load's settings and the target's writeMode. */
START_TEST(test_convert)
{
	dbs_config *c = parse_q(
	    "{'source':{'type':'mysql','mode':'load','connection':'u:p@tcp(h)/d',"
	    "'filter':{'tables':[{'name':'a'},{'name':'b','query':'select * from b where x > 1'}]}},"
	    "'target':{'type':'mysql','connection':'u:p@tcp(h)/e','options':"
	    "{'writeMode':'truncate_and_load'}},'load':{'workers':2,'chunkRows':1000}}");
	ck_assert_int_eq(c->convert, 1);
	ck_assert_str_eq(c->source.mode, "convert");
	ck_assert_ptr_nonnull(c->source.queries);
	ck_assert_ptr_null(c->source.queries[0]);
	ck_assert_str_eq(c->source.queries[1], "select * from b where x > 1");
	ck_assert_uint_eq(c->load.workers, 2);
	ck_assert_uint_eq(c->load.chunk_rows, 1000);
	ck_assert_str_eq(TGT_SET(c)->write_mode, "truncate_and_load");
	dbs__config_free(c);
	c = parse_q("{" SRC "," TGT "}");
	ck_assert_int_eq(c->convert, 0);
	ck_assert_ptr_null(c->source.queries);
	ck_assert_uint_eq(c->load.workers, DBS_LOAD_WORKERS_DEFAULT);
	ck_assert_uint_eq(c->load.chunk_rows, DBS_LOAD_CHUNK_ROWS_DEFAULT);
	ck_assert_str_eq(TGT_SET(c)->write_mode, "fail_if_not_empty");
	dbs__config_free(c);
}
END_TEST

START_TEST(test_every_field)
{
	dbs_config *c = parse_q(
	    "{'name':'orders','source':{'type':'postgresql','mode':'cdc',"
	    "'connection':'host=h user=u password=secret "
	    "dbname=d','initialLoad':false,'dataBundleSize':1000,"
	    "'reportingInterval':5,'settings':{'flavor':'mariadb','sslCA':'ca','sslCert':'cert','"
	    "sslKey':'key',"
	    "'replicationSlotName':'my_slot_1','publicationName':'my-pub'},"
	    "'filter':{'tables':[{'name':'public.orders','operations':['delete','insert']},"
	    "{'name':'items'},{'name':'s.t','operations':['update']}]}},"
	    "'target':{'type':'mysql','connection':'root:secret@tcp(h:3306)/"
	    "x','settings':{'sslCA':'tca',"
	    "'sslCert':'tcert','sslKey':'tkey'},'options':{'noCreateTables':true,"
	    "'deadLetterTable':'ops.rejected','schemaChanges':'truncate, dropTable',"
	    "'tables':[{'name':'orders',"
	    "'noCreateIndexes':true},{'name':'items'}]},'reportingInterval':10},"
	    "'limits':{'numberOfEvents':9007199254740992,'elapsedTime':9223372036},"
	    "'hub':{'type':'nats','url':'nats://u:secret@127.0.0.1:4222','capacity':65536},"
	    "'reconnect':{'giveUpAfter':0}}");
	ck_assert_uint_eq(c->reconnect.give_up_after_s, 0);
	ck_assert_str_eq(c->source.type, "postgresql");
	ck_assert_uint_eq(c->source.data_bundle_size, 1000);
	ck_assert_uint_eq(c->source.reporting_interval, 5);
	ck_assert_str_eq(SRC_SET(c)->flavor, "mariadb");
	ck_assert_str_eq(SRC_SET(c)->ssl_ca, "ca");
	ck_assert_str_eq(SRC_SET(c)->ssl_cert, "cert");
	ck_assert_str_eq(SRC_SET(c)->ssl_key, "key");
	ck_assert_str_eq(SRC_SET(c)->replication_slot_name, "my_slot_1");
	ck_assert_str_eq(SRC_SET(c)->publication_name, "my-pub");
	ck_assert_uint_eq(c->source.ntables, 3);
	ck_assert_uint_eq(c->source.tables[0].operations,
	                  (1u << DBS_OP_DELETE) | (1u << DBS_OP_INSERT));
	ck_assert_uint_eq(c->source.tables[1].operations, DBS_OPS_ALL);
	ck_assert_uint_eq(c->source.tables[2].operations, 1u << DBS_OP_UPDATE);
	ck_assert_str_eq(c->source.tables[2].name, "s.t");
	ck_assert_str_eq(c->target.type, "mysql");
	ck_assert_str_eq(TGT_SET(c)->ssl_ca, "tca");
	ck_assert_str_eq(TGT_SET(c)->ssl_cert, "tcert");
	ck_assert_str_eq(TGT_SET(c)->ssl_key, "tkey");
	ck_assert_int_eq(TGT_SET(c)->no_create_tables, 1);
	ck_assert_str_eq(TGT_SET(c)->dead_letter_table, "ops.rejected");
	ck_assert_str_eq(TGT_SET(c)->schema_changes, "truncate, dropTable");
	ck_assert_uint_eq(dbs__sql_schema_policy(TGT_SET(c)),
	                  DBS_SCHEMA_POLICY_TRUNCATE | DBS_SCHEMA_POLICY_DROP_TABLE);
	ck_assert_uint_eq(TGT_SET(c)->ntables, 2);
	ck_assert_str_eq(TGT_SET(c)->tables[0].name, "orders");
	ck_assert_int_eq(TGT_SET(c)->tables[0].no_create_indexes, 1);
	ck_assert_int_eq(TGT_SET(c)->tables[1].no_create_indexes, 0);
	ck_assert_uint_eq(c->target.reporting_interval, 10);
	ck_assert_uint_eq(c->limits.number_of_events, 9007199254740992ull);
	ck_assert_uint_eq(c->limits.elapsed_time_s, 9223372036ull);
	ck_assert_str_eq(c->hub.type, "nats");
	ck_assert_str_eq(NATS_SET(c)->url, "nats://u:secret@127.0.0.1:4222");
	ck_assert_uint_eq(c->hub.capacity, 65536);

	char *out = dbs__config_to_json(c, "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_null(strstr(out, "secret"));
	ck_assert_ptr_nonnull(
	    strstr(out, "\"connection\":\"host=h user=u password=******** dbname=d\""));
	ck_assert_ptr_nonnull(strstr(out, "\"connection\":\"root:********@tcp(h:3306)/x\""));
	ck_assert_ptr_nonnull(strstr(out, "\"url\":\"nats://u:********@127.0.0.1:4222\""));
	ck_assert_ptr_nonnull(strstr(out, "\"name\":\"orders\""));
	free(out);
	dbs__config_free(c);
}
END_TEST

START_TEST(test_alternate_spellings)
{
	dbs_config *c =
	    parse_q("{" SRC ",'destination':{'type':'mysql','connection':'r:secret@tcp(h:3306)/d'},"
	            "'limits':{'numberOfevents':42,'elapsedTime':7}}");
	ck_assert_str_eq(c->target.type, "mysql");
	ck_assert_uint_eq(c->limits.number_of_events, 42);
	ck_assert_uint_eq(c->limits.elapsed_time_s, 7);
	/* Stored under the canonical names, in the order given. */
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(c->json, "destination"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(c->json, "target"));
	char *out = dbs__config_to_json(c, "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
	ck_assert_str_eq(
	    out,
	    "{\"id\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\","
	    "\"source\":{\"type\":\"mysql\",\"connection\":\"u:********@tcp(127.0.0.1:3306)/db\"},"
	    "\"target\":{\"type\":\"mysql\",\"connection\":\"r:********@tcp(h:3306)/d\"},"
	    "\"limits\":{\"numberOfEvents\":42,\"elapsedTime\":7}}");
	free(out);
	dbs__config_free(c);
}
END_TEST

/* GET /streams output posted back: its id is accepted and replaced. */
START_TEST(test_repost_with_id)
{
	dbs_config *c = parse_q("{" SRC "," TGT "}");
	char *out = dbs__config_to_json(c, "2Fdj6JALDAm53S7Q4NxzH3sffzM");
	dbs__config_free(c);
	c = parse_ok(out, strlen(out));
	free(out);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(c->json, "id"));
	out = dbs__config_to_json(c, "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
	ck_assert_str_eq(
	    out,
	    "{\"id\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\","
	    "\"source\":{\"type\":\"mysql\",\"connection\":\"u:********@tcp(127.0.0.1:3306)/db\"},"
	    "\"target\":{\"type\":\"postgresql\",\"connection\":\"postgres://u:********@h:5432/"
	    "db\"}}");
	free(out);
	/* Without an id, none is written. */
	out = dbs__config_to_json(c, NULL);
	ck_assert_str_eq(
	    out,
	    "{\"source\":{\"type\":\"mysql\",\"connection\":\"u:********@tcp(127.0.0.1:3306)/db\"},"
	    "\"target\":{\"type\":\"postgresql\",\"connection\":\"postgres://u:********@h:5432/"
	    "db\"}}");
	free(out);
	dbs__config_free(c);
}
END_TEST

/* The text need not be NUL-terminated: only `len` bytes are read. */
START_TEST(test_length_bounded)
{
	char *json = dq("{" SRC "," TGT "}garbage");
	size_t len = strlen(json) - strlen("garbage");
	dbs_config *c = parse_ok(json, len);
	dbs__config_free(c);
	free(json);

	char err[256];
	dbs_config *out = NULL;
	ck_assert_int_eq(dbs__config_parse(&out, NULL, 0, err, sizeof err), DBS_ECONFIG);
	ck_assert_str_eq(err, "(root): empty configuration (expected a JSON object)");
	/* \u0000 would cut the string short: refused; an escaped backslash is fine. */
	static const char nul_escape[] =
	    "{\"source\":{\"type\":\"mysql\",\"connection\":\"a\\u0000b\"}}";
	ck_assert_int_eq(dbs__config_parse(&out, nul_escape, strlen(nul_escape), err, sizeof err),
	                 DBS_ECONFIG);
	ck_assert_str_eq(
	    err, "(root): \\u0000 in a string at byte 41 (line 1, column 42) is not allowed");
	json = dq("{'source':{'type':'mysql','connection':'a\\\\u0000b'}," TGT "}");
	c = parse_ok(json, strlen(json));
	ck_assert_str_eq(c->source.connection, "a\\u0000b");
	dbs__config_free(c);
	free(json);
	/* A raw NUL byte inside the text. */
	static const char raw_nul[] = "{\"source\":\0}";
	ck_assert_int_eq(dbs__config_parse(&out, raw_nul, sizeof raw_nul - 1, err, sizeof err),
	                 DBS_ECONFIG);
	ck_assert_str_eq(err, "(root): invalid JSON at byte 10 (line 1, column 11): NUL byte");
	/* Absurd sizes are refused before parsing. */
	size_t big = 1024 * 1024 + 1;
	char *huge = malloc(big);
	ck_assert_ptr_nonnull(huge);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	ck_assert_int_eq(dbs__config_parse(&out, huge, big, err, sizeof err), DBS_ECONFIG);
	ck_assert_str_eq(
	    err, "(root): configuration of 1048577 bytes is larger than the limit of 1048576");
	free(huge);
	/* A tiny error buffer truncates, never overflows. */
	char small[8];
	ck_assert_int_eq(dbs__config_parse(&out, "[]", 2, small, sizeof small), DBS_ECONFIG);
	ck_assert_str_eq(small, "(root):");
	dbs__config_free(NULL);
}
END_TEST

/* Many tables: duplicates are found by sorting, not pairwise. */
START_TEST(test_many_tables)
{
	const uint32_t n = 50000;
	size_t cap = (size_t)n * 32 + 512;
	char *json = malloc(cap);
	ck_assert_ptr_nonnull(json);
	size_t len = (size_t)snprintf(json, cap,
	                              "{\"source\":{\"type\":\"postgresql\",\"connection\":\"x\","
	                              "\"filter\":{\"tables\":[");
	for (uint32_t i = 0; i < n; i++)
		len += (size_t)snprintf(json + len, cap - len, "%s{\"name\":\"t%u\"}", i ? "," : "",
		                        i);
	size_t body = len;
	len += (size_t)snprintf(json + len, cap - len,
	                        "]}},\"target\":{\"type\":\"mysql\",\"connection\":\"y\"}}");
	dbs_config *c = parse_ok(json, len);
	ck_assert_uint_eq(c->source.ntables, n);
	ck_assert_str_eq(c->source.tables[n - 1].name, "t49999");
	dbs__config_free(c);

	len = body;
	len += (size_t)snprintf(
	    json + len, cap - len,
	    ",{\"name\":\"public.t7\"}]}},\"target\":{\"type\":\"mysql\",\"connection\":\"y\"}}");
	char err[256];
	ck_assert_int_eq(dbs__config_parse(&c, json, len, err, sizeof err), DBS_ECONFIG);
	ck_assert_str_eq(
	    err,
	    "source.filter.tables[50000].name: duplicate table \"public.t7\" (already at [7])");
	free(json);
}
END_TEST

struct mask_case {
	const char *in;
	const char *out;
};

static const struct mask_case mask_cases[] = {
    /* go-sql-driver DSNs */
    {"user:secret@tcp(127.0.0.1:3306)/db?tls=true",
     "user:********@tcp(127.0.0.1:3306)/db?tls=true"},
    {"user:se@c:r/et@tcp(h:3306)/db", "user:********@tcp(h:3306)/db"},
    {"user:secret@/db", "user:********@/db"},
    {"user:secret@unix(/tmp/my.sock)/db", "user:********@unix(/tmp/my.sock)/db"},
    {"root@tcp(h:3306)/db", "root@tcp(h:3306)/db"},
    {"tcp(h:3306)/db?x=1", "tcp(h:3306)/db?x=1"},
    {"/db", "/db"},
    {"user:secret@tcp(h)/db?password=secret&tls=skip-verify",
     "user:********@tcp(h)/db?password=********&tls=skip-verify"},
    /* PostgreSQL URIs */
    {"postgres://postgres:secret@host:5432/destination?sslmode=verify-ca",
     "postgres://postgres:********@host:5432/destination?sslmode=verify-ca"},
    {"postgresql://u:secret@h/db?password=secret&sslmode=disable",
     "postgresql://u:********@h/db?password=********&sslmode=disable"},
    {"postgresql://u@h/db", "postgresql://u@h/db"},
    {"postgresql://h/db?user=u&password=secret", "postgresql://h/db?user=u&password=********"},
    {"postgresql://u:secret@h1:5432,h2:5433/db?sslpassword=secret",
     "postgresql://u:********@h1:5432,h2:5433/db?sslpassword=********"},
    {"postgresql://u:p@ss@h/db", "postgresql://u:********@h/db"},
    {"postgresql:///db", "postgresql:///db"},
    /* PostgreSQL key=value */
    {"host=h user=u password=secret dbname=d", "host=h user=u password=******** dbname=d"},
    {"host=h password = 'se cret\\' x' dbname=d", "host=h password = ******** dbname=d"},
    {"password=secret", "password=********"},
    {"  password='unterminated secret", "  password=********"},
    {"host=h dbname=d", "host=h dbname=d"},
    {"host=h sslpassword=secret", "host=h sslpassword=********"},
    /* NATS */
    {"nats://u:secret@h:4222", "nats://u:********@h:4222"},
    {"nats://secret@h:4222", "nats://********@h:4222"},
    {"nats://a:secret@h1:4222,nats://c:secret@h2:4222",
     "nats://a:********@h1:4222,nats://c:********@h2:4222"},
    {"nats://h:4222", "nats://h:4222"},
    {"tls://u:secret@h:4222", "tls://u:********@h:4222"},
    {"nats://u:sec,ret@h:4222", "nats://u:********@h:4222"},
    {"nats://h1:4222,u:secret@h2:4222", "nats://h1:********@h2:4222"},
    {"nats://a:secret@h1:4222,h2:4222", "nats://a:********@h1:4222,h2:4222"},
    /* passwords holding URI delimiters */
    {"postgres://u:se?cr#et@h/db", "postgres://u:********@h/db"},
    {"postgres://u:se/cret@h/db", "postgres://u:********@h/db"},
    {"postgres://h/db#password=secret", "postgres://h/db#password=********"},
    {"", ""},
};

#define NMASK ((int)(sizeof mask_cases / sizeof mask_cases[0]))

START_TEST(test_mask)
{
	const struct mask_case *m = &mask_cases[_i];
	char *out = dbs__mask_connection(m->in);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, m->out);
	ck_assert_ptr_null(strstr(out, "secret"));
	free(out);
}
END_TEST

/* Every form, through the whole path: config in, JSON out. */
START_TEST(test_to_json_masks_all_forms)
{
	static const char *const conns[] = {
	    "u:secret@tcp(h:3306)/db",
	    "postgres://u:secret@h/db?password=secret",
	    "host=h password='secret' dbname=d",
	};
	for (size_t i = 0; i < sizeof conns / sizeof conns[0]; i++) {
		char json[512];
		snprintf(json, sizeof json,
		         "{\"source\":{\"type\":\"postgresql\",\"connection\":\"%s\"},"
		         "\"destination\":{\"type\":\"mysql\",\"connection\":\"%s\"},"
		         "\"hub\":{\"type\":\"nats\",\"url\":\"nats://x:secret@h:4222\"}}",
		         conns[i], conns[i]);
		dbs_config *c = parse_ok(json, strlen(json));
		char *out = dbs__config_to_json(c, "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
		ck_assert_ptr_nonnull(out);
		ck_assert_msg(strstr(out, "secret") == NULL, "leak: %s", out);
		ck_assert_ptr_nonnull(strstr(out, "********"));
		ck_assert_int_eq(strncmp(out, "{\"id\":", 6), 0);
		free(out);
		/* The parsed config itself keeps the real string for the plugins. */
		ck_assert_ptr_nonnull(strstr(c->source.connection, "secret"));
		dbs__config_free(c);
	}
}
END_TEST

/*
 * Allocation failures: malloc is interposed so that the k-th allocation
 * fails once, for every k, and the live allocation count must come back
 * to where it was. glibc only; sanitizers bring their own malloc.
 */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define WITH_FAULTS 1
/* Valgrind replaces malloc but not these wrappers' free: skip under it. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);

static long fail_countdown = -1; /* -1: off */
static long live_allocs;

static int inject(void)
{
	if (fail_countdown < 0)
		return 0;
	if (fail_countdown-- == 0)
		return 1;
	return 0;
}

void *malloc(size_t size)
{
	void *p = inject() ? NULL : __libc_malloc(size);
	if (p != NULL)
		live_allocs++;
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p = inject() ? NULL : __libc_calloc(n, size);
	if (p != NULL)
		live_allocs++;
	return p;
}

void *realloc(void *ptr, size_t size)
{
	void *p = inject() ? NULL : __libc_realloc(ptr, size);
	if (p != NULL && ptr == NULL)
		live_allocs++;
	return p;
}

void free(void *ptr)
{
	if (ptr != NULL)
		live_allocs--;
	__libc_free(ptr);
}
#endif

START_TEST(test_allocation_failures)
{
#ifdef WITH_FAULTS
	if (RUNNING_ON_VALGRIND)
		return;
	char *json =
	    dq("{'name':'x','source':{'type':'postgresql','connection':'host=h password=secret',"
	       "'settings':{'sslCA':'a'},'filter':{'tables':[{'name':'a','operations':['insert']},"
	       "{'name':'b'}]}},'destination':{'type':'mysql','connection':'u:secret@tcp(h)/d',"
	       "'options':{'tables':[{'name':'t'}]}},'limits':{'numberOfevents':3},"
	       "'hub':{'type':'nats','url':'nats://u:secret@h:4222'}}");
	int completed = 0;
	long k;
	for (k = 0; k < 100000 && !completed; k++) {
		char err[512];
		dbs_config *c = NULL;
		long before = live_allocs;
		fail_countdown = k;
		int rc = dbs__config_parse(&c, json, strlen(json), err, sizeof err);
		char *out = rc == 0 ? dbs__config_to_json(c, "0ujtsYcgvSTl8PAuAdqWYSMnLOv") : NULL;
		char *masked = dbs__mask_connection("postgres://u:secret@h/db?password=secret");
		completed = fail_countdown >= 0; /* nothing failed: every path was tried */
		fail_countdown = -1;
		/* cJSON reports a failed allocation as a syntax error. */
		ck_assert_msg(rc == 0 || rc == DBS_ENOMEM || rc == DBS_ECONFIG, "k=%ld rc=%d", k,
		              rc);
		ck_assert_ptr_null(strstr(err, "secret"));
		if (out != NULL)
			ck_assert_ptr_null(strstr(out, "secret"));
		if (masked != NULL)
			ck_assert_ptr_null(strstr(masked, "secret"));
		if (rc == 0)
			ck_assert_ptr_nonnull(c);
		else
			ck_assert_ptr_null(c);
		free(out);
		free(masked);
		dbs__config_free(c);
		ck_assert_msg(live_allocs == before, "k=%ld: %ld allocations leaked", k,
		              live_allocs - before);
	}
	ck_assert(completed);
	/* The configuration above takes well over a hundred allocations. */
	ck_assert_int_gt(k, 100);
	free(json);
#endif
}
END_TEST

/* A plugin under a name of its own, with settings of its own: the core
 * knows neither. */
typedef struct feed_settings {
	const char *token;
	uint32_t rows;
	const char *mood;
} feed_settings;

static const char *const moods[] = {"calm", "busy", NULL};

static int check_token(const char *v, const char *shown_value, char *why, size_t whylen)
{
	if (strlen(v) >= 4)
		return 0;
	snprintf(why, whylen, "\"%s\" is too short for a token", shown_value);
	return 1;
}

static const dbs_option feed_options[] = {
    {.object = "settings", .key = "token", .kind = DBS_OPTION_STRING,
     .flags = DBS_OPTION_REQUIRED | DBS_OPTION_SECRET, .offset = offsetof(feed_settings, token),
     .check = check_token, .doc = "access token"},
    {.object = "settings", .key = "rows", .kind = DBS_OPTION_U32, .min = 1, .max = 1000,
     .def_num = 10, .offset = offsetof(feed_settings, rows), .doc = "rows per poll"},
    {.object = "settings", .key = "mood", .kind = DBS_OPTION_ENUM, .def = "calm",
     .choices = moods, .what = "mood", .offset = offsetof(feed_settings, mood), .doc = "mood"},
};

static int feed_open(dbs_source **out, const dbs_source_config *c, const dbs_host *h,
                     const dbs_position *r, char *e, size_t el)
{
	(void)out, (void)c, (void)h, (void)r, (void)e, (void)el;
	return DBS_ESOURCE;
}
static int feed_run(dbs_source *s, dbs_emit_fn emit, void *d, char *e, size_t el)
{
	(void)s, (void)emit, (void)d, (void)e, (void)el;
	return 0;
}
static void feed_ack(dbs_source *s, const dbs_position *p)
{
	(void)s, (void)p;
}
static void feed_close(dbs_source *s)
{
	(void)s;
}

static const dbs_source_ops feed_ops = {
    .version = DBS_SOURCE_OPS_VERSION,
    .name = "feed",
    .open = feed_open,
    .run = feed_run,
    .ack = feed_ack,
    .close = feed_close,
    .options = feed_options,
    .noptions = 3,
    .settings_size = sizeof(feed_settings),
};

#define FEED(settings) "'source':{'type':'feed','connection':'x','settings':{" settings "}}"

static int parse_feed(dbs_registry *r, const char *quoted, dbs_config **c, char *err,
                      size_t errlen)
{
	char *json = dq(quoted);
	int rc = dbs__config_parse_with(c, r, json, strlen(json), err, errlen);
	free(json);
	return rc;
}

START_TEST(test_plugin_owns_its_settings)
{
	dbs_registry *r;
	char err[512];
	dbs_config *c = NULL;
	ck_assert_int_eq(dbs_registry_new(&r, 1), 0);
	/* Unknown to the registry: refused, naming what it holds. */
	ck_assert_int_eq(parse_feed(r, "{" FEED("'token':'abcd'") "," TGT "}", &c, err,
	                            sizeof err),
	                 DBS_ECONFIG);
	ck_assert_str_eq(err, "source.type: unknown type \"feed\" (expected mysql or postgresql)");
	ck_assert_int_eq(dbs_registry_add_source(r, &feed_ops), 0);

	/* Registered: its rows decide, with defaults and its own rule. */
	ck_assert_int_eq(parse_feed(r, "{" FEED("'token':'abcd','mood':'busy'") "," TGT "}", &c,
	                            err, sizeof err),
	                 0);
	const feed_settings *fs = c->source.settings;
	ck_assert_str_eq(fs->token, "abcd");
	ck_assert_uint_eq(fs->rows, 10);
	ck_assert_str_eq(fs->mood, "busy");
	char *out = dbs__config_to_json(c, NULL);
	ck_assert_ptr_null(strstr(out, "abcd")); /* a secret of the plugin's */
	free(out);
	dbs__config_free(c);

	static const struct bad cases[] = {
	    {"{" FEED("'mood':'calm'") "," TGT "}",
	     "source.settings.token: required when source.type is \"feed\""},
	    {"{" FEED("'token':'ab'") "," TGT "}",
	     "source.settings.token: \"********\" is too short for a token"},
	    {"{" FEED("'token':'abcd','rows':0") "," TGT "}",
	     "source.settings.rows: 0 is out of range (expected 1 to 1000)"},
	    {"{" FEED("'token':'abcd','mood':'grim'") "," TGT "}",
	     "source.settings.mood: unknown mood \"grim\" (expected calm or busy)"},
	    {"{" FEED("'token':'abcd','sslCA':'x'") "," TGT "}",
	     "source.settings.sslCA: only used when source.type is \"postgresql\" or \"mysql\""},
	    {"{" FEED("'token':'abcd','Rows':3") "," TGT "}",
	     "source.settings.Rows: unknown key (did you mean \"rows\"?)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		c = (dbs_config *)1;
		ck_assert_int_eq(parse_feed(r, cases[i].json, &c, err, sizeof err), DBS_ECONFIG);
		ck_assert_ptr_null(c);
		ck_assert_str_eq(err, cases[i].message);
	}
	dbs_registry_free(r);
}
END_TEST

/* docs/configuration.md's reference is the rows, printed: a key added to
 * the rows and not to the page fails here (`test_config --doc` prints
 * the section to paste). */
START_TEST(test_reference_in_sync)
{
	const char *path = DBS_TEST_DATA "/../../../docs/configuration.md";
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof doc - 1, fp);
	fclose(fp);
	doc[n] = '\0';
	const char *begin_mark = "<!-- BEGIN GENERATED: configuration rows -->\n";
	const char *end_mark = "<!-- END GENERATED -->";
	char *b = strstr(doc, begin_mark);
	char *e = b ? strstr(b, end_mark) : NULL;
	ck_assert_msg(b && e, "%s lacks the generated-section markers", path);
	b += strlen(begin_mark);
	*e = '\0';
	dbs_buf want = DBS_BUF_INIT;
	ck_assert_int_eq(dbs__config_doc(&want, dbs__builtin_registry()), 0);
	if (strcmp(b, want.data) != 0)
		fprintf(stderr, "--- expected section of %s ---\n%s--- end ---\n", path, want.data);
	ck_assert_msg(strcmp(b, want.data) == 0,
	              "docs/configuration.md is out of date with the option rows (the expected "
	              "section is printed above)");
	dbs_buf_free(&want);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("bad");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_bad_config, 0, NBAD);
	suite_add_tcase(s, tc);
	tc = tcase_create("good");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_getting_started);
	tcase_add_test(tc, test_minimal_defaults);
	tcase_add_test(tc, test_convert);
	tcase_add_test(tc, test_every_field);
	tcase_add_test(tc, test_alternate_spellings);
	tcase_add_test(tc, test_repost_with_id);
	tcase_add_test(tc, test_length_bounded);
	tcase_add_test(tc, test_allocation_failures);
	tcase_add_test(tc, test_many_tables);
	tcase_add_test(tc, test_plugin_owns_its_settings);
	tcase_add_test(tc, test_reference_in_sync);
	suite_add_tcase(s, tc);
	tc = tcase_create("mask");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_mask, 0, NMASK);
	tcase_add_test(tc, test_to_json_masks_all_forms);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	/* `test_config --doc` prints the generated section for the docs. */
	if (argc > 1 && strcmp(argv[1], "--doc") == 0) {
		dbs_buf b = DBS_BUF_INIT;
		if (dbs__config_doc(&b, dbs__builtin_registry()))
			return 1;
		fputs(b.data, stdout);
		dbs_buf_free(&b);
		return 0;
	}
	SRunner *sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
