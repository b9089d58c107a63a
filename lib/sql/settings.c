/* The option rows of the SQL sources and targets (settings.h). */
#include <stddef.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

#include "sql/checkpoint.h"
#include "sql/settings.h"

static const char *const flavors[] = {"mysql", "mariadb", NULL};
static const char *const zero_dates[] = {"fail", "null", "-infinity", NULL};
static const char *const write_modes[] = {"fail_if_not_empty", "append", "truncate_and_load",
                                          "upsert", NULL};

/* PostgreSQL limits names to NAMEDATALEN - 1 bytes. */
static int check_pg_name(const char *v, const char *shown, char *why, size_t whylen)
{
	(void)shown;
	if (strlen(v) <= 63)
		return 0;
	dbs_fmt(why, whylen, "longer than 63 bytes (PostgreSQL's limit for names)");
	return 1;
}

static int check_slot_name(const char *v, const char *shown, char *why, size_t whylen)
{
	int ok = strlen(v) <= 63;
	for (const char *c = v; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
	if (ok)
		return 0;
	dbs_fmt(why, whylen,
	        "\"%s\" is not a valid slot name (lower-case letters, digits and underscores, "
	        "at most 63)",
	        shown);
	return 1;
}

/* "table" or "schema.table": each part a name both engines take (at most
 * 63 bytes, PostgreSQL's limit; MySQL's is 64), quoted by the target. */
static int check_table_name(const char *v, const char *shown, char *why, size_t whylen)
{
	const char *dot = strchr(v, '.');
	size_t first = dot ? (size_t)(dot - v) : strlen(v);
	size_t second = dot ? strlen(dot + 1) : 1;
	if (strcmp(dot ? dot + 1 : v, DBS_CHECKPOINT_TABLE) == 0) {
		dbs_fmt(why, whylen, "\"%s\" is the table of the stream checkpoints", shown);
		return 1;
	}
	if (first >= 1 && first <= 63 && second >= 1 && second <= 63 &&
	    !(dot && strchr(dot + 1, '.')))
		return 0;
	dbs_fmt(why, whylen,
	        "\"%s\" is not a table name (expected \"table\" or \"schema.table\", each part 1 "
	        "to 63 bytes)",
	        shown);
	return 1;
}

/* The words of options.schemaChanges. */
static const struct {
	const char *word;
	unsigned flag;
} schema_policy_words[] = {
	{"dropTable", DBS_SCHEMA_POLICY_DROP_TABLE},
	{"truncate", DBS_SCHEMA_POLICY_TRUNCATE},
	{"none", DBS_SCHEMA_POLICY_NONE},
};

#define SCHEMA_POLICY_WORDS (sizeof schema_policy_words / sizeof schema_policy_words[0])

/* Flags of the words of `v`; -1 and `*bad` (the word's span) when one
 * is unknown. Words are separated by commas, spaces around them ignored. */
static long schema_policy_parse(const char *v, const char **bad, size_t *badlen)
{
	unsigned flags = 0;
	const char *p = v ? v : "";
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = 0;
		while (p[n] && p[n] != ',' && p[n] != ' ')
			n++;
		if (!n)
			break;
		size_t i = 0;
		while (i < SCHEMA_POLICY_WORDS && !(strlen(schema_policy_words[i].word) == n &&
		                                    strncmp(schema_policy_words[i].word, p, n) == 0))
			i++;
		if (i == SCHEMA_POLICY_WORDS) {
			*bad = p;
			*badlen = n;
			return -1;
		}
		flags |= schema_policy_words[i].flag;
		p += n;
	}
	return (long)flags;
}

static int check_schema_changes(const char *v, const char *shown, char *why, size_t whylen)
{
	const char *bad = NULL;
	size_t badlen = 0;
	long flags = schema_policy_parse(v, &bad, &badlen);
	(void)shown;
	if (flags < 0) {
		dbs_fmt(why, whylen,
		        "unknown schema change policy \"%.*s\" (expected a comma-separated list of "
		        "dropTable, truncate, or none)",
		        (int)(badlen > 64 ? 64 : badlen), bad);
		return 1;
	}
	if ((flags & DBS_SCHEMA_POLICY_NONE) && flags != DBS_SCHEMA_POLICY_NONE) {
		dbs_fmt(why, whylen, "\"none\" cannot be combined with dropTable or truncate");
		return 1;
	}
	return 0;
}

unsigned dbs__sql_schema_policy(const dbs_sql_target_settings *settings)
{
	const char *bad;
	size_t badlen;
	long flags = schema_policy_parse(settings ? settings->schema_changes : NULL, &bad, &badlen);
	/* The configuration was checked; an unchecked one stops at every change. */
	return flags < 0 ? DBS_SCHEMA_POLICY_NONE : (unsigned)flags;
}

#define SRC(f) offsetof(dbs_sql_source_settings, f)
#define TGT(f) offsetof(dbs_sql_target_settings, f)
#define TTO(f) offsetof(dbs_sql_table_option, f)

const dbs_sql_source_settings dbs__sql_source_defaults = {
	.replication_slot_name = "dbconvert_replication_slot",
	.publication_name = "dbconvert-publication",
};

const dbs_sql_target_settings dbs__sql_target_defaults = {.zero_dates = "fail",
                                                          .write_mode = "fail_if_not_empty"};

/* clang-format off */
const dbs_option dbs__sql_source_options[DBS_SQL_SOURCE_NOPTIONS] = {
	{.object = "settings", .key = "flavor", .kind = DBS_OPTION_ENUM,
	 .flags = DBS_OPTION_NONEMPTY, .offset = SRC(flavor), .choices = flavors,
	 .what = "flavor", .doc = "mysql or mariadb"},
	{.object = "settings", .key = "sslCA", .kind = DBS_OPTION_STRING, .offset = SRC(ssl_ca),
	 .doc = "CA certificate file"},
	{.object = "settings", .key = "sslCert", .kind = DBS_OPTION_STRING,
	 .offset = SRC(ssl_cert), .doc = "client certificate file"},
	{.object = "settings", .key = "sslKey", .kind = DBS_OPTION_STRING, .offset = SRC(ssl_key),
	 .doc = "client key file"},
	{.object = "settings", .key = "replicationSlotName", .kind = DBS_OPTION_STRING,
	 .flags = DBS_OPTION_NONEMPTY, .offset = SRC(replication_slot_name),
	 .def = "dbconvert_replication_slot", .check = check_slot_name,
	 .doc = "PostgreSQL logical replication slot, created when missing"},
	{.object = "settings", .key = "publicationName", .kind = DBS_OPTION_STRING,
	 .flags = DBS_OPTION_NONEMPTY, .offset = SRC(publication_name),
	 .def = "dbconvert-publication", .check = check_pg_name,
	 .doc = "PostgreSQL publication, created when missing"},
};

static const dbs_option table_options[] = {
	{.key = "name", .kind = DBS_OPTION_STRING,
	 .flags = DBS_OPTION_REQUIRED | DBS_OPTION_NONEMPTY, .offset = TTO(name),
	 .doc = "table name"},
	{.key = "noCreateIndexes", .kind = DBS_OPTION_BOOL, .offset = TTO(no_create_indexes),
	 .doc = "create the table without its secondary indexes"},
};

const dbs_option dbs__sql_target_options[DBS_SQL_TARGET_NOPTIONS] = {
	{.object = "settings", .key = "sslCA", .kind = DBS_OPTION_STRING, .offset = TGT(ssl_ca),
	 .doc = "CA certificate file"},
	{.object = "settings", .key = "sslCert", .kind = DBS_OPTION_STRING,
	 .offset = TGT(ssl_cert), .doc = "client certificate file"},
	{.object = "settings", .key = "sslKey", .kind = DBS_OPTION_STRING, .offset = TGT(ssl_key),
	 .doc = "client key file"},
	{.object = "options", .key = "noCreateTables", .kind = DBS_OPTION_BOOL,
	 .offset = TGT(no_create_tables), .doc = "do not create the structure"},
	{.object = "options", .key = "zeroDates", .kind = DBS_OPTION_ENUM,
	 .flags = DBS_OPTION_NONEMPTY, .offset = TGT(zero_dates), .def = "fail",
	 .choices = zero_dates, .what = "zero-date policy",
	 .doc = "a MySQL zero date bound for PostgreSQL: fail the stream, write NULL, "
	        "or write -infinity"},
	{.object = "options", .key = "deadLetterTable", .kind = DBS_OPTION_STRING,
	 .flags = DBS_OPTION_NONEMPTY, .offset = TGT(dead_letter_table),
	 .check = check_table_name,
	 .doc = "table (or schema.table) in the target that receives rows the target rejects "
	        "for their data, instead of failing the stream"},
	{.object = "options", .key = "writeMode", .kind = DBS_OPTION_ENUM,
	 .flags = DBS_OPTION_NONEMPTY, .offset = TGT(write_mode), .def = "fail_if_not_empty",
	 .choices = write_modes, .what = "write mode",
	 .doc = "initial load into a table that holds rows: refuse it, append to them, "
	        "empty the table first, or upsert by key"},
	{.object = "options", .key = "schemaChanges", .kind = DBS_OPTION_STRING,
	 .offset = TGT(schema_changes), .check = check_schema_changes,
	 .doc = "schema changes of the source applied beyond the default (comma-separated): "
	        "dropTable applies DROP TABLE, truncate applies TRUNCATE (each skipped with a "
	        "warning otherwise); none stops the stream at every schema change"},
	{.object = "options", .key = "tables", .kind = DBS_OPTION_TABLES,
	 .flags = DBS_OPTION_UNIQUE_NAMES, .offset = TGT(tables), .item = table_options,
	 .nitem = sizeof table_options / sizeof table_options[0],
	 .item_size = sizeof(dbs_sql_table_option), .count_offset = TGT(ntables),
	 .doc = "per-table options"},
};
/* clang-format on */

dbs_sql_write_mode dbs__sql_write_mode(const dbs_sql_target_settings *settings)
{
	const char *m = settings ? settings->write_mode : NULL;
	if (!m || strcmp(m, "fail_if_not_empty") == 0)
		return DBS_WRITE_FAIL_IF_NOT_EMPTY;
	if (strcmp(m, "append") == 0)
		return DBS_WRITE_APPEND;
	if (strcmp(m, "truncate_and_load") == 0)
		return DBS_WRITE_TRUNCATE_AND_LOAD;
	return DBS_WRITE_UPSERT;
}

const dbs_sql_table_option *dbs__sql_table_option(const dbs_sql_target_settings *settings,
                                                  const char *name,
                                                  const char *const *qualifiers,
                                                  size_t nqualifiers)
{
	for (uint32_t i = 0; i < settings->ntables; i++) {
		const char *n = settings->tables[i].name;
		if (!n)
			continue;
		if (strcmp(n, name) == 0)
			return &settings->tables[i];
		for (size_t k = 0; k < nqualifiers; k++) {
			size_t l = qualifiers[k] ? strlen(qualifiers[k]) : 0;
			if (l && strncmp(n, qualifiers[k], l) == 0 && n[l] == '.' &&
			    strcmp(n + l + 1, name) == 0)
				return &settings->tables[i];
		}
	}
	return NULL;
}
