/*
 * Stream configuration: DBConvert Streams 0.x JSON, parsed strictly.
 *
 * One table (`options` below) names every accepted key, where it lives,
 * its type, range, choices and default. The walker validates a JSON object
 * against the table rows of its section and stores each value into the
 * plugin-facing struct at the row's offset, so adding a key is adding a
 * row. Every error message starts with the JSON path of the culprit.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/core.h"

#define MASK "********"

/* Configurations are written by hand; anything this large is a mistake. */
#define CONFIG_MAX (1024 * 1024)

/* ------------------------------------------------------------------ */
/* Storage: every string and array the config hands out lives here.    */
/* ------------------------------------------------------------------ */

struct chunk {
	struct chunk *next;
	max_align_t data[];
};

struct storage {
	struct chunk *head;
};

static void *storage_alloc(struct storage *st, size_t size)
{
	void *out = NULL;
	if (size > SIZE_MAX - sizeof(struct chunk))
		goto done;
	struct chunk *c = calloc(1, sizeof(struct chunk) + size);
	if (c == NULL)
		goto done;
	c->next = st->head;
	st->head = c;
	out = c->data;
done:
	return out;
}

static char *storage_strdup(struct storage *st, const char *s)
{
	size_t n = strlen(s);
	char *out = NULL;
	if (n == SIZE_MAX)
		goto done;
	out = storage_alloc(st, n + 1);
	if (out != NULL)
		memcpy(out, s, n + 1);
done:
	return out;
}

static void storage_free(struct storage *st)
{
	if (st == NULL)
		return;
	struct chunk *c = st->head;
	while (c != NULL) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
	free(st);
}

/* ------------------------------------------------------------------ */
/* Growing string buffer for the maskers.                              */
/* ------------------------------------------------------------------ */

struct sbuf {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (n > SIZE_MAX - b->len - 1) {
		b->oom = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1) {
			if (cap > SIZE_MAX / 2) {
				cap = b->len + n + 1;
				break;
			}
			cap *= 2;
		}
		char *nb = realloc(b->buf, cap);
		if (nb == NULL) {
			b->oom = true;
			return;
		}
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static char *sb_finish(struct sbuf *b)
{
	if (!b->oom && b->buf == NULL)
		sb_put(b, "", 0);
	if (b->oom) {
		free(b->buf);
		return NULL;
	}
	return b->buf;
}

/* ------------------------------------------------------------------ */
/* Password masking                                                    */
/* ------------------------------------------------------------------ */

static bool is_secret_param(const char *key, size_t n)
{
	static const char *const names[] = {"password", "sslpassword", "pass", "token"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t ln = strlen(names[i]);
		if (n == ln && strncasecmp(key, names[i], n) == 0)
			return true;
	}
	return false;
}

/* "?a=b&password=x#f": values of secret parameters become MASK. */
static void mask_query(struct sbuf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* copy the separator ('?', '&', '#' or ';') */
		sb_put(b, s + i, 1);
		i++;
		size_t start = i;
		while (i < n && s[i] != '&' && s[i] != ';' && s[i] != '#')
			i++;
		const char *eq = memchr(s + start, '=', i - start);
		if (eq != NULL && is_secret_param(s + start, (size_t)(eq - (s + start)))) {
			sb_put(b, s + start, (size_t)(eq - (s + start)) + 1);
			sb_puts(b, MASK);
		} else {
			sb_put(b, s + start, i - start);
		}
	}
}

static size_t scheme_len(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (n - i >= 3 && memcmp(s + i, "://", 3) == 0)
		return i + 3;
	return 0;
}

/*
 * One URI. libpq ends the user information at the first '@' before the
 * first '/', so a password may hold '?' or '#'; a password holding an
 * unescaped '/' is invalid, but is still masked through the fallback (the
 * last '@' before the query). Masking a little too much is fine, showing
 * a piece of a password is not. A user information without ':' is a user
 * name, except where `token_is_secret` (NATS tokens).
 */
static void mask_one_uri(struct sbuf *b, const char *s, size_t n, bool token_is_secret)
{
	size_t rest = scheme_len(s, n);
	size_t slash = rest;
	while (slash < n && s[slash] != '/')
		slash++;
	size_t at = n;
	for (size_t i = rest; i < slash; i++)
		if (s[i] == '@')
			at = i;
	if (at == n) {
		size_t q = rest;
		while (q < n && s[q] != '?' && s[q] != '#')
			q++;
		for (size_t i = rest; i < q; i++)
			if (s[i] == '@')
				at = i;
	}
	size_t pos = 0;
	if (at < n) {
		const char *colon = memchr(s + rest, ':', at - rest);
		if (colon != NULL) {
			sb_put(b, s, (size_t)(colon - s) + 1);
			sb_puts(b, MASK);
			pos = at;
		} else if (token_is_secret) {
			sb_put(b, s, rest);
			sb_puts(b, MASK);
			pos = at;
		}
	}
	size_t q = pos > rest ? pos : rest;
	while (q < n && s[q] != '?' && s[q] != '#')
		q++;
	sb_put(b, s + pos, q - pos);
	mask_query(b, s + q, n - q);
}

static void mask_uri(struct sbuf *b, const char *s, size_t n)
{
	size_t sl = scheme_len(s, n) - 3;
	bool nats = (sl == 4 && strncasecmp(s, "nats", 4) == 0) ||
	            (sl == 3 && strncasecmp(s, "tls", 3) == 0) ||
	            (sl == 2 && strncasecmp(s, "ws", 2) == 0) ||
	            (sl == 3 && strncasecmp(s, "wss", 3) == 0);
	if (!nats) {
		mask_one_uri(b, s, n, false);
		return;
	}
	/* NATS takes a comma-separated list of server URLs. Split only where
	 * a new URL starts, so a ',' inside a password never ends a piece. */
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !(s[i] == ',' && scheme_len(s + i + 1, n - i - 1) > 0))
			continue;
		mask_one_uri(b, s + start, i - start, true);
		if (i < n)
			sb_put(b, ",", 1);
		start = i + 1;
	}
}

char *dbs__mask_connection(const char *connection);

/* A dbname that is itself a connection string (libpq reads one written
 * that way as a database name, and says so in its messages). */
static void mask_nested(struct sbuf *b, const char *s, size_t n)
{
	bool quoted = n >= 2 && s[0] == '\'' && s[n - 1] == '\'';
	if (quoted) {
		s++;
		n -= 2;
	}
	char *copy = malloc(n + 1);
	char *masked = NULL;
	if (copy != NULL) {
		memcpy(copy, s, n);
		copy[n] = '\0';
		masked = dbs__mask_connection(copy);
	}
	if (quoted)
		sb_put(b, "'", 1);
	if (masked != NULL)
		sb_puts(b, masked);
	else
		b->oom = true;
	if (quoted)
		sb_put(b, "'", 1);
	free(masked);
	free(copy);
}

/* libpq key=value: values may be single-quoted with backslash escapes. */
static void mask_keyvalue(struct sbuf *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t ws = i;
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		sb_put(b, s + ws, i - ws);
		if (i >= n)
			break;
		size_t key = i;
		while (i < n && s[i] != '=' && !isspace((unsigned char)s[i]))
			i++;
		size_t key_end = i;
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		if (i >= n || s[i] != '=') {
			/* Malformed: keep the word, go on with the next one. */
			sb_put(b, s + key, i - key);
			continue;
		}
		i++;
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		size_t value = i;
		if (i < n && s[i] == '\'') {
			i++;
			while (i < n && s[i] != '\'') {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			if (i < n)
				i++;
		} else {
			while (i < n && !isspace((unsigned char)s[i])) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
		}
		sb_put(b, s + key, value - key);
		if (is_secret_param(s + key, key_end - key))
			sb_puts(b, MASK);
		else if (key_end - key == 6 && memcmp(s + key, "dbname", 6) == 0 &&
		         (memchr(s + value, '@', i - value) || memchr(s + value, '=', i - value)))
			mask_nested(b, s + value, i - value);
		else
			sb_put(b, s + value, i - value);
	}
}

/*
 * go-sql-driver DSN `user:pass@net(addr)/db?params`. The driver splits
 * at the last '/', then at the last '@' before it, then at the first ':':
 * masking the same span hides exactly what the driver takes as password.
 */
static void mask_dsn(struct sbuf *b, const char *s, size_t n)
{
	size_t slash = n;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/')
			slash = i;
	size_t at = n;
	for (size_t i = 0; i < slash; i++)
		if (s[i] == '@')
			at = i;
	/* No driver reads such a string; hide what looks like a password. */
	if (at == n)
		for (size_t i = 0; i < n; i++)
			if (s[i] == '@')
				at = i;
	size_t pos = 0;
	if (at < n) {
		const char *colon = memchr(s, ':', at);
		if (colon != NULL) {
			sb_put(b, s, (size_t)(colon - s) + 1);
			sb_puts(b, MASK);
			pos = at;
		}
	}
	size_t q = pos;
	while (q < n && s[q] != '?')
		q++;
	sb_put(b, s + pos, q - pos);
	mask_query(b, s + q, n - q);
}

static bool looks_keyvalue(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	if (i >= n || !(isalpha((unsigned char)s[i]) || s[i] == '_'))
		return false;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_'))
		i++;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	return i < n && s[i] == '=';
}

char *dbs__mask_connection(const char *connection)
{
	struct sbuf b = {0};
	if (connection == NULL)
		connection = "";
	size_t n = strlen(connection);
	if (scheme_len(connection, n) > 0)
		mask_uri(&b, connection, n);
	else if (looks_keyvalue(connection, n))
		mask_keyvalue(&b, connection, n);
	else
		mask_dsn(&b, connection, n);
	return sb_finish(&b);
}

/* ------------------------------------------------------------------ */
/* The table of options                                                */
/* ------------------------------------------------------------------ */

enum section {
	SEC_ROOT,
	SEC_SOURCE,
	SEC_SOURCE_SETTINGS,
	SEC_SOURCE_FILTER,
	SEC_FILTER_TABLE,
	SEC_TARGET,
	SEC_TARGET_SETTINGS,
	SEC_TARGET_OPTIONS,
	SEC_TARGET_TABLE,
	SEC_LIMITS,
	SEC_HUB,
	SEC_RECONNECT
};

enum kind {
	K_OBJECT, /* nested section `child` */
	K_TABLES, /* array of `child` objects, stored as item array + count */
	K_STRING,
	K_ENUM, /* one of `choices`; the first is the default */
	K_BOOL, /* stored as int */
	K_U32,
	K_U64,
	K_OPS /* array of operation names, stored as a bit mask */
};

/* Option flags. */
enum {
	F_REQUIRED = 1u << 0,
	F_NONEMPTY = 1u << 1,
	F_NOSTORE = 1u << 2, /* validated and kept in the JSON only */
	F_SECRET = 1u << 3   /* may hold a password: masked by dbs__config_to_json */
};

struct parse;
typedef int (*check_fn)(struct parse *p, const cJSON *value);

struct option {
	enum section section;
	const char *key;
	const char *alias; /* a second accepted spelling, normalised to key */
	enum kind kind;
	unsigned flags;
	enum section child;
	double min, max;
	const char *const *choices;
	const char *what; /* noun for "unknown <what>" */
	const char *def;  /* default string */
	double def_num;
	size_t offset;       /* into the section's struct */
	size_t count_offset; /* K_TABLES: uint32_t count */
	size_t item_size;    /* K_TABLES */
	check_fn check;      /* extra rule beyond type and range */
	const char *doc;
};

static const char *const db_types[] = {"mysql", "postgresql", NULL};
static const char *const modes[] = {"cdc", "convert", NULL};
static const char *const flavors[] = {"mysql", "mariadb", NULL};
static const char *const zero_dates[] = {"fail", "null", "-infinity", NULL};
static const char *const hub_types[] = {"memory", "nats", NULL};
static const char *const op_names[] = {"insert", "update", "delete", NULL};
static const unsigned op_bits[] = {1u << DBS_OP_INSERT, 1u << DBS_OP_UPDATE, 1u << DBS_OP_DELETE};

/* Largest integer a JSON number (a double) carries exactly. */
#define JSON_INT_MAX 9007199254740992.0
/* elapsedTime in ns must fit int64_t. */
#define ELAPSED_MAX 9223372036.0
/* giveUpAfter in ms must fit int64_t: ten years is plenty anyway. */
#define GIVE_UP_MAX 315360000.0

static int check_id(struct parse *p, const cJSON *v);
static int check_initial_load(struct parse *p, const cJSON *v);
static int check_mode(struct parse *p, const cJSON *v);
static int check_slot_name(struct parse *p, const cJSON *v);
static int check_pg_name(struct parse *p, const cJSON *v);
static int check_query(struct parse *p, const cJSON *v);
static int check_table_name(struct parse *p, const cJSON *v);
static int check_hub_url(struct parse *p, const cJSON *v);

#define SRC(f) offsetof(dbs_source_config, f)
#define TGT(f) offsetof(dbs_target_config, f)
#define HUB(f) offsetof(dbs_hub_config, f)
#define LIM(f) offsetof(dbs_limits, f)
#define REC(f) offsetof(dbs_reconnect, f)
#define FLT(f) offsetof(dbs_table_filter, f)
#define TTO(f) offsetof(dbs_target_table_option, f)

/* One row per key, read as a table: */
/* clang-format off */
static const struct option options[] = {
	/* top level */
	{.section = SEC_ROOT, .key = "id", .kind = K_STRING, .flags = F_NOSTORE, .check = check_id,
	 .doc = "stream id as GET /streams shows it; accepted so that output can be posted "
	        "back (the new stream gets its own id)"},
	{.section = SEC_ROOT, .key = "name", .kind = K_STRING, .flags = F_NOSTORE,
	 .doc = "free-form label, kept in the configuration"},
	{.section = SEC_ROOT, .key = "source", .kind = K_OBJECT, .flags = F_REQUIRED,
	 .child = SEC_SOURCE, .doc = "where changes are read"},
	{.section = SEC_ROOT, .key = "target", .alias = "destination", .kind = K_OBJECT,
	 .flags = F_REQUIRED, .child = SEC_TARGET, .doc = "where changes are applied"},
	{.section = SEC_ROOT, .key = "limits", .kind = K_OBJECT, .child = SEC_LIMITS,
	 .doc = "when the stream stops by itself"},
	{.section = SEC_ROOT, .key = "hub", .kind = K_OBJECT, .child = SEC_HUB,
	 .doc = "how events travel from source to target"},
	{.section = SEC_ROOT, .key = "reconnect", .kind = K_OBJECT, .child = SEC_RECONNECT,
	 .doc = "how lost connections to the databases and the hub are retried"},

	/* source */
	{.section = SEC_SOURCE, .key = "type", .kind = K_ENUM, .flags = F_REQUIRED | F_NONEMPTY,
	 .choices = db_types, .what = "type", .offset = SRC(type), .doc = "source database engine"},
	{.section = SEC_SOURCE, .key = "mode", .kind = K_ENUM, .flags = F_NONEMPTY,
	 .choices = modes, .what = "mode", .def = "cdc", .offset = SRC(mode), .check = check_mode,
	 .doc = "cdc follows the binlog/WAL; convert copies tables"},
	{.section = SEC_SOURCE, .key = "connection", .kind = K_STRING,
	 .flags = F_REQUIRED | F_NONEMPTY | F_SECRET, .offset = SRC(connection),
	 .doc = "go-sql-driver DSN, or libpq URI or key=value string"},
	{.section = SEC_SOURCE, .key = "initialLoad", .kind = K_BOOL, .offset = SRC(initial_load),
	 .check = check_initial_load, .doc = "copy the existing rows before streaming"},
	{.section = SEC_SOURCE, .key = "dataBundleSize", .kind = K_U32, .min = 10, .max = 1000,
	 .def_num = 100, .offset = SRC(data_bundle_size), .doc = "events per hub message"},
	{.section = SEC_SOURCE, .key = "reportingInterval", .kind = K_U32, .max = UINT32_MAX,
	 .offset = SRC(reporting_interval), .doc = "seconds between progress lines, 0 = quiet"},
	{.section = SEC_SOURCE, .key = "settings", .kind = K_OBJECT, .child = SEC_SOURCE_SETTINGS,
	 .doc = "engine-specific settings"},
	{.section = SEC_SOURCE, .key = "filter", .kind = K_OBJECT, .child = SEC_SOURCE_FILTER,
	 .doc = "which tables and operations to capture"},

	{.section = SEC_SOURCE_SETTINGS, .key = "flavor", .kind = K_ENUM, .flags = F_NONEMPTY,
	 .choices = flavors, .what = "flavor", .offset = SRC(flavor), .doc = "mysql or mariadb"},
	{.section = SEC_SOURCE_SETTINGS, .key = "sslCA", .kind = K_STRING, .offset = SRC(ssl_ca),
	 .doc = "CA certificate file"},
	{.section = SEC_SOURCE_SETTINGS, .key = "sslCert", .kind = K_STRING,
	 .offset = SRC(ssl_cert), .doc = "client certificate file"},
	{.section = SEC_SOURCE_SETTINGS, .key = "sslKey", .kind = K_STRING, .offset = SRC(ssl_key),
	 .doc = "client key file"},
	{.section = SEC_SOURCE_SETTINGS, .key = "replicationSlotName", .kind = K_STRING,
	 .flags = F_NONEMPTY, .def = "dbconvert_replication_slot",
	 .offset = SRC(replication_slot_name), .check = check_slot_name,
	 .doc = "PostgreSQL logical replication slot, created when missing"},
	{.section = SEC_SOURCE_SETTINGS, .key = "publicationName", .kind = K_STRING,
	 .flags = F_NONEMPTY, .def = "dbconvert-publication", .offset = SRC(publication_name),
	 .check = check_pg_name, .doc = "PostgreSQL publication, created when missing"},

	{.section = SEC_SOURCE_FILTER, .key = "tables", .kind = K_TABLES, .child = SEC_FILTER_TABLE,
	 .offset = SRC(tables), .count_offset = SRC(ntables), .item_size = sizeof(dbs_table_filter),
	 .doc = "tables to capture; empty = every table"},

	{.section = SEC_FILTER_TABLE, .key = "name", .kind = K_STRING,
	 .flags = F_REQUIRED | F_NONEMPTY, .offset = FLT(name),
	 .doc = "table, schema.table (PostgreSQL, default public) or db.table"},
	{.section = SEC_FILTER_TABLE, .key = "operations", .kind = K_OPS, .choices = op_names,
	 .what = "operation", .offset = FLT(operations),
	 .doc = "insert, update, delete; absent = all three"},
	{.section = SEC_FILTER_TABLE, .key = "query", .kind = K_STRING, .flags = F_NOSTORE,
	 .check = check_query, .doc = "SELECT for convert mode"},

	/* target */
	{.section = SEC_TARGET, .key = "type", .kind = K_ENUM, .flags = F_REQUIRED | F_NONEMPTY,
	 .choices = db_types, .what = "type", .offset = TGT(type), .doc = "target database engine"},
	{.section = SEC_TARGET, .key = "connection", .kind = K_STRING,
	 .flags = F_REQUIRED | F_NONEMPTY | F_SECRET, .offset = TGT(connection),
	 .doc = "go-sql-driver DSN, or libpq URI or key=value string"},
	{.section = SEC_TARGET, .key = "settings", .kind = K_OBJECT, .child = SEC_TARGET_SETTINGS,
	 .doc = "TLS files"},
	{.section = SEC_TARGET, .key = "options", .kind = K_OBJECT, .child = SEC_TARGET_OPTIONS,
	 .doc = "structure creation, zero dates, rejected rows"},
	{.section = SEC_TARGET, .key = "reportingInterval", .kind = K_U32, .max = UINT32_MAX,
	 .offset = TGT(reporting_interval), .doc = "seconds between progress lines, 0 = quiet"},

	{.section = SEC_TARGET_SETTINGS, .key = "sslCA", .kind = K_STRING, .offset = TGT(ssl_ca),
	 .doc = "CA certificate file"},
	{.section = SEC_TARGET_SETTINGS, .key = "sslCert", .kind = K_STRING,
	 .offset = TGT(ssl_cert), .doc = "client certificate file"},
	{.section = SEC_TARGET_SETTINGS, .key = "sslKey", .kind = K_STRING, .offset = TGT(ssl_key),
	 .doc = "client key file"},

	{.section = SEC_TARGET_OPTIONS, .key = "noCreateTables", .kind = K_BOOL,
	 .offset = TGT(no_create_tables), .doc = "do not create the structure"},
	{.section = SEC_TARGET_OPTIONS, .key = "zeroDates", .kind = K_ENUM, .flags = F_NONEMPTY,
	 .choices = zero_dates, .what = "zero-date policy", .def = "fail",
	 .offset = TGT(zero_dates),
	 .doc = "a MySQL zero date bound for PostgreSQL: fail the stream, write NULL, "
	        "or write -infinity"},
	{.section = SEC_TARGET_OPTIONS, .key = "deadLetterTable", .kind = K_STRING,
	 .flags = F_NONEMPTY, .offset = TGT(dead_letter_table), .check = check_table_name,
	 .doc = "table (or schema.table) in the target that receives rows the target rejects "
	        "for their data, instead of failing the stream"},
	{.section = SEC_TARGET_OPTIONS, .key = "tables", .kind = K_TABLES,
	 .child = SEC_TARGET_TABLE, .offset = TGT(tables), .count_offset = TGT(ntables),
	 .item_size = sizeof(dbs_target_table_option), .doc = "per-table options"},

	{.section = SEC_TARGET_TABLE, .key = "name", .kind = K_STRING,
	 .flags = F_REQUIRED | F_NONEMPTY, .offset = TTO(name), .doc = "table name"},
	{.section = SEC_TARGET_TABLE, .key = "noCreateIndexes", .kind = K_BOOL,
	 .offset = TTO(no_create_indexes), .doc = "create the table without its secondary indexes"},

	/* limits */
	{.section = SEC_LIMITS, .key = "numberOfEvents", .alias = "numberOfevents", .kind = K_U64,
	 .max = JSON_INT_MAX, .offset = LIM(number_of_events),
	 .doc = "stop after this many events, 0 = unlimited"},
	{.section = SEC_LIMITS, .key = "elapsedTime", .kind = K_U64, .max = ELAPSED_MAX,
	 .offset = LIM(elapsed_time_s), .doc = "stop after this many seconds, 0 = unlimited"},

	/* reconnect */
	{.section = SEC_RECONNECT, .key = "giveUpAfter", .kind = K_U64, .max = GIVE_UP_MAX,
	 .def_num = DBS_RECONNECT_GIVE_UP_MS / 1000, .offset = REC(give_up_after_s),
	 .doc = "seconds a lost source, target or hub connection is retried (with backoff) "
	        "before the stream fails with the reason; 0 = retry forever"},

	/* hub */
	{.section = SEC_HUB, .key = "type", .kind = K_ENUM, .flags = F_NONEMPTY,
	 .choices = hub_types, .what = "hub type", .def = "memory", .offset = HUB(type),
	 .doc = "memory (in process) or nats (JetStream)"},
	{.section = SEC_HUB, .key = "url", .kind = K_STRING, .flags = F_NONEMPTY | F_SECRET,
	 .offset = HUB(url), .check = check_hub_url, .doc = "NATS server URL(s); nats only"},
	{.section = SEC_HUB, .key = "capacity", .kind = K_U32, .min = 1, .max = 65536,
	 .def_num = 64, .offset = HUB(capacity),
	 .doc = "batches in flight before the publisher waits"},
	{.section = SEC_HUB, .key = "credentials", .kind = K_STRING, .flags = F_NONEMPTY,
	 .offset = HUB(credentials), .doc = "NATS credentials file (JWT and NKey seed); nats only"},
	{.section = SEC_HUB, .key = "tlsCA", .kind = K_STRING, .flags = F_NONEMPTY,
	 .offset = HUB(tls_ca), .doc = "CA file to verify the NATS server; turns TLS on"},
	{.section = SEC_HUB, .key = "tlsCert", .kind = K_STRING, .flags = F_NONEMPTY,
	 .offset = HUB(tls_cert), .doc = "client certificate file for mutual TLS (with tlsKey)"},
	{.section = SEC_HUB, .key = "tlsKey", .kind = K_STRING, .flags = F_NONEMPTY,
	 .offset = HUB(tls_key), .doc = "client key file for mutual TLS (with tlsCert)"},
	{.section = SEC_HUB, .key = "partitions", .kind = K_U32, .min = 1, .max = 64,
	 .def_num = 1, .offset = HUB(partitions),
	 .doc = "writers sharing the stream, each applying its share of the rows; nats only"},
};
/* clang-format on */

#define NOPTIONS (sizeof options / sizeof options[0])

/* ------------------------------------------------------------------ */
/* Parser state, paths and messages                                    */
/* ------------------------------------------------------------------ */

#define PATH_MAX_LEN 512

struct parse {
	dbs_config *cfg;
	struct storage *st;
	char *err;
	size_t errlen;
	char path[PATH_MAX_LEN];
	size_t path_len;
	const char *target_key; /* the spelling the user wrote */
};

static size_t path_push(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t path_push(struct parse *p, const char *fmt, ...)
{
	size_t old = p->path_len;
	size_t room = sizeof p->path - p->path_len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(p->path + p->path_len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		p->path[p->path_len] = '\0';
	else if ((size_t)n >= room)
		p->path_len = sizeof p->path - 1;
	else
		p->path_len += (size_t)n;
	return old;
}

static void path_pop(struct parse *p, size_t old)
{
	p->path_len = old;
	p->path[old] = '\0';
}

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse *p, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	dbs__vfmt(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dbs__fmt(p->err, p->errlen, "%s: %s", p->path_len ? p->path : "(root)", msg);
	return DBS_ECONFIG;
}

static int fail_oom(struct parse *p)
{
	dbs__fmt(p->err, p->errlen, "out of memory");
	return DBS_ENOMEM;
}

/*
 * User text for a message: masked as a connection string (anything may
 * have been pasted into any field), control characters replaced, and cut
 * to a readable length.
 */
static const char *shown(const char *text, char *buf, size_t size)
{
	char *masked = dbs__mask_connection(text);
	const char *src = masked ? masked : MASK;
	size_t n = strlen(src);
	size_t max = size - 1;
	bool cut = false;
	if (n > 64 && max > 67) {
		n = 64;
		cut = true;
	}
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		buf[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ? '?' : src[i];
	buf[n] = '\0';
	if (cut)
		memcpy(buf + n, "...", 4);
	free(masked);
	return buf;
}

static const char *json_type(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "an invalid value";
}

/* "mysql or postgresql", "insert, update or delete" */
static void choices_text(const char *const *choices, char *buf, size_t size)
{
	size_t n = 0, len = 0;
	while (choices[n] != NULL)
		n++;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == n ? " or " : ", ");
		dbs__fmt(buf + len, size - len, "%s%s", sep, choices[i]);
		len += strlen(buf + len);
	}
}

static void store(void *base, size_t offset, const void *value, size_t size)
{
	if (base != NULL)
		memcpy((char *)base + offset, value, size);
}

/* ------------------------------------------------------------------ */
/* Extra rules                                                         */
/* ------------------------------------------------------------------ */

static int check_id(struct parse *p, const cJSON *v)
{
	char buf[96];
	if (v->valuestring[0] == '\0' || dbs_ksuid_check(v->valuestring) == 0)
		return 0;
	return fail(p, "\"%s\" is not a stream id (27 characters 0-9, A-Z, a-z)",
	            shown(v->valuestring, buf, sizeof buf));
}

static int check_initial_load(struct parse *p, const cJSON *v)
{
	if (!cJSON_IsTrue(v))
		return 0;
	return fail(
	    p,
	    "true is not supported yet (copying the existing rows before streaming is not built); "
	    "use false or leave it out");
}

static int check_mode(struct parse *p, const cJSON *v)
{
	if (strcmp(v->valuestring, "convert") != 0)
		return 0;
	return fail(p, "\"convert\" is not supported yet (only \"cdc\" is built)");
}

/* PostgreSQL limits names to NAMEDATALEN - 1 bytes. */
static int check_pg_name(struct parse *p, const cJSON *v)
{
	if (strlen(v->valuestring) <= 63)
		return 0;
	return fail(p, "longer than 63 bytes (PostgreSQL's limit for names)");
}

static int check_slot_name(struct parse *p, const cJSON *v)
{
	char buf[96];
	const char *s = v->valuestring;
	bool ok = strlen(s) <= 63;
	for (const char *c = s; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
	if (ok)
		return 0;
	return fail(p,
	            "\"%s\" is not a valid slot name (lower-case letters, digits and underscores, "
	            "at most 63)",
	            shown(s, buf, sizeof buf));
}

/* "table" or "schema.table": each part a name both engines take (at most
 * 63 bytes, PostgreSQL's limit; MySQL's is 64), quoted by the target. */
static int check_table_name(struct parse *p, const cJSON *v)
{
	char buf[96];
	const char *s = v->valuestring;
	const char *dot = strchr(s, '.');
	size_t first = dot ? (size_t)(dot - s) : strlen(s);
	size_t second = dot ? strlen(dot + 1) : 1;
	if (strcmp(dot ? dot + 1 : s, "dbstreams_checkpoint") == 0)
		return fail(p, "\"%s\" is the table of the stream checkpoints",
		            shown(s, buf, sizeof buf));
	if (first >= 1 && first <= 63 && second >= 1 && second <= 63 &&
	    !(dot && strchr(dot + 1, '.')))
		return 0;
	return fail(p,
	            "\"%s\" is not a table name (expected \"table\" or \"schema.table\", each "
	            "part 1 to 63 bytes)",
	            shown(s, buf, sizeof buf));
}

static int check_query(struct parse *p, const cJSON *v)
{
	(void)v;
	return fail(p, "only used by mode \"convert\", which is not supported yet");
}

static int check_hub_url(struct parse *p, const cJSON *v)
{
	char buf[96];
	const char *s = v->valuestring;
	if (strncmp(s, "nats://", 7) == 0 || strncmp(s, "tls://", 6) == 0)
		return 0;
	return fail(p, "\"%s\" is not a NATS URL (expected nats://host:port)",
	            shown(s, buf, sizeof buf));
}

/* ------------------------------------------------------------------ */
/* The walker                                                          */
/* ------------------------------------------------------------------ */

static void *section_base(struct parse *p, enum section sec, void *item)
{
	switch (sec) {
	case SEC_SOURCE:
	case SEC_SOURCE_SETTINGS:
	case SEC_SOURCE_FILTER: return &p->cfg->source;
	case SEC_TARGET:
	case SEC_TARGET_SETTINGS:
	case SEC_TARGET_OPTIONS: return &p->cfg->target;
	case SEC_LIMITS: return &p->cfg->limits;
	case SEC_HUB: return &p->cfg->hub;
	case SEC_RECONNECT: return &p->cfg->reconnect;
	case SEC_FILTER_TABLE:
	case SEC_TARGET_TABLE: return item;
	case SEC_ROOT:
	default: return NULL;
	}
}

static const struct option *find_option(enum section sec, const char *key, bool *alias)
{
	*alias = false;
	for (size_t i = 0; i < NOPTIONS; i++) {
		if (options[i].section != sec)
			continue;
		if (strcmp(options[i].key, key) == 0)
			return &options[i];
		if (options[i].alias != NULL && strcmp(options[i].alias, key) == 0) {
			*alias = true;
			return &options[i];
		}
	}
	return NULL;
}

/* A key of the section that differs only in case, for "did you mean". */
static const char *near_key(enum section sec, const char *key)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].section == sec && strcasecmp(options[i].key, key) == 0)
			return options[i].key;
	return NULL;
}

static int walk_section(struct parse *p, cJSON *obj, enum section sec, void *item);
static void apply_defaults(struct parse *p, enum section sec, void *item, bool *oom);

static int want_string(struct parse *p, const struct option *o, const cJSON *v)
{
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return fail(p, "expected a string, got %s", json_type(v));
	if ((o->flags & F_NONEMPTY) && v->valuestring[0] == '\0')
		return fail(p, "must not be empty");
	return 0;
}

static int parse_number(struct parse *p, const struct option *o, const cJSON *v, uint64_t *out)
{
	if (!cJSON_IsNumber(v))
		return fail(p, "expected a number, got %s", json_type(v));
	double d = v->valuedouble;
	bool open_ended = o->max >= (double)UINT32_MAX;
	if (d < o->min) {
		if (open_ended)
			return fail(p, "%.15g is out of range (expected %.15g or more)", d, o->min);
		return fail(p, "%.15g is out of range (expected %.15g to %.15g)", d, o->min,
		            o->max);
	}
	if (d > o->max) {
		if (open_ended)
			return fail(p, "%.15g is too large (at most %.15g)", d, o->max);
		return fail(p, "%.15g is out of range (expected %.15g to %.15g)", d, o->min,
		            o->max);
	}
	if (d != (double)(uint64_t)d)
		return fail(p, "%.15g is not a whole number", d);
	*out = (uint64_t)d;
	return 0;
}

static int parse_ops(struct parse *p, const struct option *o, const cJSON *v, unsigned *out)
{
	char expect[64];
	char buf[96];
	int rc = 0;
	unsigned mask = 0;
	unsigned idx = 0;
	if (!cJSON_IsArray(v)) {
		rc = fail(p, "expected an array, got %s", json_type(v));
		goto done;
	}
	if (v->child == NULL) {
		rc = fail(p, "empty list (leave it out to capture insert, update and delete)");
		goto done;
	}
	choices_text(o->choices, expect, sizeof expect);
	for (const cJSON *e = v->child; e != NULL; e = e->next, idx++) {
		size_t old = path_push(p, "[%u]", idx);
		size_t k = 0;
		if (!cJSON_IsString(e) || e->valuestring == NULL) {
			rc = fail(p, "expected a string, got %s", json_type(e));
		} else {
			while (o->choices[k] != NULL && strcmp(o->choices[k], e->valuestring) != 0)
				k++;
			if (o->choices[k] == NULL)
				rc = fail(p, "unknown %s \"%s\" (expected %s)", o->what,
				          shown(e->valuestring, buf, sizeof buf), expect);
			else if (mask & op_bits[k])
				rc = fail(p, "duplicate %s \"%s\"", o->what, o->choices[k]);
			else
				mask |= op_bits[k];
		}
		if (rc != 0)
			goto done;
		path_pop(p, old);
	}
	*out = mask;
done:
	return rc;
}

static int parse_tables(struct parse *p, const struct option *o, cJSON *v, void *base)
{
	int rc = 0;
	if (!cJSON_IsArray(v)) {
		rc = fail(p, "expected an array, got %s", json_type(v));
		goto done;
	}
	int count = cJSON_GetArraySize(v);
	if (count < 0 || (uint64_t)count > UINT32_MAX || (size_t)count > SIZE_MAX / o->item_size) {
		rc = fail(p, "too many entries");
		goto done;
	}
	char *items = NULL;
	if (count > 0) {
		items = storage_alloc(p->st, (size_t)count * o->item_size);
		if (items == NULL) {
			rc = fail_oom(p);
			goto done;
		}
	}
	uint32_t i = 0;
	for (cJSON *e = v->child; e != NULL; e = e->next, i++) {
		size_t old = path_push(p, "[%u]", i);
		if (!cJSON_IsObject(e))
			rc = fail(p, "expected an object, got %s", json_type(e));
		else
			rc = walk_section(p, e, o->child, items + (size_t)i * o->item_size);
		if (rc != 0)
			goto done;
		path_pop(p, old);
	}
	const void *ptr = items;
	store(base, o->offset, &ptr, sizeof ptr);
	store(base, o->count_offset, &i, sizeof i);
done:
	return rc;
}

static int apply_option(struct parse *p, const struct option *o, cJSON *v, void *base)
{
	int rc = 0;
	char buf[96];
	char expect[64];
	if (o->flags & F_NOSTORE)
		base = NULL;
	switch (o->kind) {
	case K_OBJECT:
		if (!cJSON_IsObject(v))
			rc = fail(p, "expected an object, got %s", json_type(v));
		else
			rc = walk_section(p, v, o->child, NULL);
		break;
	case K_TABLES: rc = parse_tables(p, o, v, base); break;
	case K_STRING:
	case K_ENUM: {
		rc = want_string(p, o, v);
		if (rc != 0)
			break;
		if (o->kind == K_ENUM) {
			size_t k = 0;
			while (o->choices[k] != NULL && strcmp(o->choices[k], v->valuestring) != 0)
				k++;
			if (o->choices[k] == NULL) {
				choices_text(o->choices, expect, sizeof expect);
				rc = fail(p, "unknown %s \"%s\" (expected %s)", o->what,
				          shown(v->valuestring, buf, sizeof buf), expect);
				break;
			}
		}
		if (base != NULL) {
			const char *copy = storage_strdup(p->st, v->valuestring);
			if (copy == NULL) {
				rc = fail_oom(p);
				break;
			}
			store(base, o->offset, &copy, sizeof copy);
		}
		break;
	}
	case K_BOOL: {
		if (!cJSON_IsBool(v)) {
			rc = fail(p, "expected true or false, got %s", json_type(v));
			break;
		}
		int b = cJSON_IsTrue(v) ? 1 : 0;
		store(base, o->offset, &b, sizeof b);
		break;
	}
	case K_U32:
	case K_U64: {
		uint64_t n = 0;
		rc = parse_number(p, o, v, &n);
		if (rc != 0)
			break;
		if (o->kind == K_U32) {
			uint32_t n32 = (uint32_t)n;
			store(base, o->offset, &n32, sizeof n32);
		} else {
			store(base, o->offset, &n, sizeof n);
		}
		break;
	}
	case K_OPS: {
		unsigned mask = 0;
		rc = parse_ops(p, o, v, &mask);
		if (rc == 0)
			store(base, o->offset, &mask, sizeof mask);
		break;
	}
	}
	if (rc == 0 && o->check != NULL)
		rc = o->check(p, v);
	return rc;
}

static void apply_default(struct parse *p, const struct option *o, void *base, bool *oom)
{
	if (o->kind == K_OBJECT) {
		apply_defaults(p, o->child, NULL, oom);
		return;
	}
	if (base == NULL || (o->flags & F_NOSTORE))
		return;
	switch (o->kind) {
	case K_STRING:
	case K_ENUM: {
		const char *copy = NULL;
		if (o->def != NULL) {
			copy = storage_strdup(p->st, o->def);
			if (copy == NULL)
				*oom = true;
		}
		store(base, o->offset, &copy, sizeof copy);
		break;
	}
	case K_BOOL: {
		int b = o->def_num != 0;
		store(base, o->offset, &b, sizeof b);
		break;
	}
	case K_U32: {
		uint32_t n = (uint32_t)o->def_num;
		store(base, o->offset, &n, sizeof n);
		break;
	}
	case K_U64: {
		uint64_t n = (uint64_t)o->def_num;
		store(base, o->offset, &n, sizeof n);
		break;
	}
	case K_OPS: {
		unsigned mask = DBS_OPS_ALL;
		store(base, o->offset, &mask, sizeof mask);
		break;
	}
	case K_TABLES: {
		const void *ptr = NULL;
		uint32_t zero = 0;
		store(base, o->offset, &ptr, sizeof ptr);
		store(base, o->count_offset, &zero, sizeof zero);
		break;
	}
	case K_OBJECT: break;
	}
}

/* Defaults of a whole section that was left out. */
static void apply_defaults(struct parse *p, enum section sec, void *item, bool *oom)
{
	void *base = section_base(p, sec, item);
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].section == sec)
			apply_default(p, &options[i], base, oom);
}

/* Rename an alias key in place, so the stored JSON keeps the key order. */
static int rename_key(cJSON *item, const char *key)
{
	size_t n = strlen(key);
	char *s = cJSON_malloc(n + 1);
	if (s == NULL)
		return DBS_ENOMEM;
	memcpy(s, key, n + 1);
	if (!(item->type & cJSON_StringIsConst))
		cJSON_free(item->string);
	item->string = s;
	item->type &= ~cJSON_StringIsConst;
	return 0;
}

static int check_unique_names(struct parse *p, const char *prefix, const void *items,
                              size_t item_size, uint32_t count, bool pg_default_schema);

static int post_check(struct parse *p, enum section sec)
{
	int rc = 0;
	if (sec == SEC_SOURCE) {
		const dbs_source_config *s = &p->cfg->source;
		rc = check_unique_names(p, "source.filter.tables", s->tables, sizeof *s->tables,
		                        s->ntables,
		                        s->type != NULL && strcmp(s->type, "postgresql") == 0);
	} else if (sec == SEC_TARGET) {
		const dbs_target_config *t = &p->cfg->target;
		char prefix[64];
		dbs__fmt(prefix, sizeof prefix, "%s.options.tables", p->target_key);
		rc = check_unique_names(p, prefix, t->tables, sizeof *t->tables, t->ntables,
		                        t->type != NULL && strcmp(t->type, "postgresql") == 0);
	} else if (sec == SEC_ROOT) {
		const dbs_hub_config *h = &p->cfg->hub;
		bool nats = h->type != NULL && strcmp(h->type, "nats") == 0;
		size_t old = path_push(p, "hub.url");
		if (nats && h->url == NULL)
			rc = fail(p, "required when hub.type is \"nats\"");
		else if (!nats && h->url != NULL)
			rc = fail(p, "only used when hub.type is \"nats\"");
		path_pop(p, old);
	}
	return rc;
}

/* Both table lists start with `const char *name`. */
static const char *item_name(const void *items, size_t item_size, uint32_t i)
{
	const char *name;
	memcpy(&name, (const char *)items + (size_t)i * item_size, sizeof name);
	return name;
}

/*
 * A table name as the database resolves it: PostgreSQL puts an unqualified
 * name in schema public, so "t" and "public.t" are the same table.
 */
struct name_ref {
	const char *prefix; /* "public." or "" */
	const char *name;
	uint32_t index;
};

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	const char *xp = x->prefix, *yp = y->prefix;
	bool xn = false, yn = false;
	for (;;) {
		if (*xp == '\0' && !xn) {
			xp = x->name;
			xn = true;
			continue;
		}
		if (*yp == '\0' && !yn) {
			yp = y->name;
			yn = true;
			continue;
		}
		unsigned char cx = (unsigned char)*xp, cy = (unsigned char)*yp;
		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx == '\0')
			break;
		xp++;
		yp++;
	}
	return x->index < y->index ? -1 : x->index > y->index;
}

static bool same_name(const struct name_ref *a, const struct name_ref *b)
{
	struct name_ref x = *a, y = *b;
	x.index = y.index = 0;
	return name_ref_cmp(&x, &y) == 0;
}

/*
 * Sorted, not pairwise: a configuration posted over HTTP may list many
 * tables. Reports the earliest entry that repeats an earlier one.
 */
static int check_unique_names(struct parse *p, const char *prefix, const void *items,
                              size_t item_size, uint32_t count, bool pg_default_schema)
{
	char buf[96];
	int rc = 0;
	struct name_ref *refs = NULL;
	if (count < 2)
		goto done;
	/* count fits uint32_t, so count * 24 bytes cannot overflow size_t. */
	refs = calloc(count, sizeof *refs);
	if (refs == NULL) {
		rc = fail_oom(p);
		goto done;
	}
	for (uint32_t i = 0; i < count; i++) {
		refs[i].name = item_name(items, item_size, i);
		refs[i].prefix =
		    pg_default_schema && strchr(refs[i].name, '.') == NULL ? "public." : "";
		refs[i].index = i;
	}
	qsort(refs, count, sizeof *refs, name_ref_cmp);
	uint32_t dup = UINT32_MAX, first = 0;
	for (uint32_t i = 1; i < count; i++) {
		/* Within a run of equal names the indexes ascend: the entry after
		 * the run's start is its first repetition. */
		if (!same_name(&refs[i], &refs[i - 1]))
			continue;
		if (i >= 2 && same_name(&refs[i - 1], &refs[i - 2]))
			continue;
		if (refs[i].index < dup) {
			dup = refs[i].index;
			first = refs[i - 1].index;
		}
	}
	if (dup != UINT32_MAX) {
		size_t old = p->path_len;
		char saved[PATH_MAX_LEN];
		memcpy(saved, p->path, old + 1);
		path_pop(p, 0);
		path_push(p, "%s[%u].name", prefix, dup);
		rc = fail(p, "duplicate table \"%s\" (already at [%u])",
		          shown(item_name(items, item_size, dup), buf, sizeof buf), first);
		memcpy(p->path, saved, old + 1);
		p->path_len = old;
	}
done:
	free(refs);
	return rc;
}

static int walk_section(struct parse *p, cJSON *obj, enum section sec, void *item)
{
	bool seen[NOPTIONS] = {false};
	bool seen_alias[NOPTIONS] = {false};
	bool oom = false;
	int rc = 0;
	void *base = section_base(p, sec, item);
	char buf[96];

	for (cJSON *child = obj->child; child != NULL; child = child->next) {
		const char *key = child->string ? child->string : "";
		bool alias = false;
		const struct option *o = find_option(sec, key, &alias);
		size_t old = path_push(p, "%s%s", p->path_len ? "." : "", key);
		if (o == NULL) {
			/* The key itself is user text: show it masked. */
			path_pop(p, old);
			path_push(p, "%s%s", p->path_len ? "." : "", shown(key, buf, sizeof buf));
			const char *near = near_key(sec, key);
			if (near != NULL)
				rc = fail(p, "unknown key (did you mean \"%s\"?)", near);
			else
				rc = fail(p, "unknown key");
			goto done;
		}
		size_t idx = (size_t)(o - options);
		if (seen[idx]) {
			if (seen_alias[idx] != alias)
				rc = fail(p, "\"%s\" is given too; use one of them",
				          alias ? o->key : o->alias);
			else
				rc = fail(p, "duplicate key");
			goto done;
		}
		seen[idx] = true;
		seen_alias[idx] = alias;
		if (sec == SEC_ROOT && o->child == SEC_TARGET)
			p->target_key = alias ? o->alias : o->key;
		rc = apply_option(p, o, child, base);
		if (rc != 0)
			goto done;
		path_pop(p, old);
		if (alias && rename_key(child, o->key) != 0) {
			rc = fail_oom(p);
			goto done;
		}
	}
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option *o = &options[i];
		if (o->section != sec || seen[i])
			continue;
		if (o->flags & F_REQUIRED) {
			size_t old = path_push(p, "%s%s", p->path_len ? "." : "", o->key);
			rc = fail(p, "required");
			path_pop(p, old);
			goto done;
		}
		apply_default(p, o, base, &oom);
	}
	if (oom) {
		rc = fail_oom(p);
		goto done;
	}
	rc = post_check(p, sec);
done:
	return rc;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

static void line_column(const char *text, size_t offset, size_t *line, size_t *column)
{
	*line = 1;
	*column = 1;
	for (size_t i = 0; i < offset; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*column = 1;
		} else {
			(*column)++;
		}
	}
}

/*
 * cJSON turns \u0000 into a NUL that silently cuts the C string ("a\u0000b"
 * would connect as "a"): refuse it. An escape is real when an odd number
 * of backslashes precedes the 'u'. Returns len when there is none.
 */
static size_t find_escaped_nul(const char *text, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\\') {
			run++;
			continue;
		}
		if (run % 2 == 1 && len - i >= 5 && (text[i] == 'u' || text[i] == 'U') &&
		    memcmp(text + i + 1, "0000", 4) == 0)
			return i - 1;
		run = 0;
	}
	return len;
}

void dbs__config_free(dbs_config *config)
{
	if (config == NULL)
		return;
	cJSON_Delete(config->json);
	storage_free(config->storage);
	free(config);
}

int dbs__config_parse(dbs_config **out, const char *text, size_t len, char *err, size_t errlen)
{
	char dummy[8];
	struct parse p = {0};
	dbs_config *cfg = NULL;
	char *copy = NULL;
	int rc = 0;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	p.err = err;
	p.errlen = errlen;
	p.target_key = "target";
	if (out == NULL) {
		dbs__fmt(err, errlen, "invalid argument: no output pointer");
		rc = DBS_EINVAL;
		goto fail;
	}
	*out = NULL;
	if (text == NULL && len > 0) {
		dbs__fmt(err, errlen, "invalid argument: NULL text");
		rc = DBS_EINVAL;
		goto fail;
	}

	cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL || (cfg->storage = calloc(1, sizeof(struct storage))) == NULL) {
		rc = fail_oom(&p);
		goto fail;
	}
	p.cfg = cfg;
	p.st = cfg->storage;

	size_t start = 0;
	while (start < len && (text[start] == ' ' || text[start] == '\t' || text[start] == '\n' ||
	                       text[start] == '\r'))
		start++;
	if (start == len) {
		rc = fail(&p, "empty configuration (expected a JSON object)");
		goto fail;
	}
	size_t nul = find_escaped_nul(text, len);
	if (nul < len) {
		size_t line, column;
		line_column(text, nul, &line, &column);
		rc = fail(&p,
		          "\\u0000 in a string at byte %zu (line %zu, column %zu) is not allowed",
		          nul, line, column);
		goto fail;
	}
	const char *raw_nul = memchr(text, '\0', len);
	if (raw_nul != NULL) {
		size_t line, column;
		size_t at = (size_t)(raw_nul - text);
		line_column(text, at, &line, &column);
		rc = fail(&p, "invalid JSON at byte %zu (line %zu, column %zu): NUL byte", at, line,
		          column);
		goto fail;
	}
	if (len > CONFIG_MAX) {
		rc = fail(&p, "configuration of %zu bytes is larger than the limit of %d", len,
		          CONFIG_MAX);
		goto fail;
	}
	/* cJSON recurses per level: a deep document must not reach it. */
	size_t deep = dbs__json_too_deep(text, len, DBS_JSON_DEPTH_MAX);
	if (deep < len) {
		size_t line, column;
		line_column(text, deep, &line, &column);
		rc = fail(&p,
		          "arrays and objects nested deeper than %d levels at byte %zu (line %zu, "
		          "column %zu)",
		          DBS_JSON_DEPTH_MAX, deep, line, column);
		goto fail;
	}
	/* cJSON gets a NUL-terminated copy, so no bug of its length handling
	 * can read past the caller's buffer. */
	copy = malloc(len + 1);
	if (copy == NULL) {
		rc = fail_oom(&p);
		goto fail;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	const char *end = NULL;
	cfg->json = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 0);
	end = end != NULL ? text + (end - copy) : NULL;
	size_t pos = end != NULL && end >= text && end <= text + len ? (size_t)(end - text) : len;
	if (cfg->json != NULL) {
		while (pos < len && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' ||
		                     text[pos] == '\r'))
			pos++;
		if (pos < len) {
			size_t line, column;
			line_column(text, pos, &line, &column);
			rc = fail(&p,
			          "unexpected data after the JSON value at byte %zu (line %zu, "
			          "column %zu)",
			          pos, line, column);
			goto fail;
		}
	} else {
		size_t line, column;
		line_column(text, pos, &line, &column);
		rc = fail(&p, "invalid JSON at byte %zu (line %zu, column %zu)", pos, line, column);
		goto fail;
	}
	if (!cJSON_IsObject(cfg->json)) {
		rc = fail(&p, "expected a JSON object, got %s", json_type(cfg->json));
		goto fail;
	}
	rc = walk_section(&p, cfg->json, SEC_ROOT, NULL);
	if (rc != 0)
		goto fail;
	/* GET /streams adds the stream's own id: never keep a posted one. */
	cJSON_DeleteItemFromObjectCaseSensitive(cfg->json, "id");
	free(copy);
	*out = cfg;
	return 0;
fail:
	free(copy);
	dbs__config_free(cfg);
	if (rc == 0)
		rc = DBS_EINTERNAL;
	dbs__error_set(rc, "%s", err);
	return rc;
}

/* The top-level key of a section one level below the root (secrets live
 * there: source, target, hub), or NULL. */
static const char *root_key_of(enum section sec)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].section == SEC_ROOT && options[i].kind == K_OBJECT &&
		    options[i].child == sec)
			return options[i].key;
	return NULL;
}

static int mask_member(cJSON *root, const char *section, const char *key)
{
	cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, section);
	cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return 0;
	char *masked = dbs__mask_connection(v->valuestring);
	if (masked == NULL)
		return DBS_ENOMEM;
	cJSON *nv = cJSON_CreateString(masked);
	free(masked);
	if (nv == NULL)
		return DBS_ENOMEM;
	/* This variant gives the new item the key. */
	if (!cJSON_ReplaceItemInObjectCaseSensitive(sec, key, nv)) {
		cJSON_Delete(nv);
		return DBS_ENOMEM;
	}
	return 0;
}

char *dbs__config_to_json(const dbs_config *config, const char *id)
{
	char *out = NULL;
	cJSON *copy = NULL;
	if (config == NULL || config->json == NULL)
		goto done;
	copy = cJSON_Duplicate(config->json, 1);
	if (copy == NULL)
		goto done;
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "id");
	/* The table says which values may hold a password. */
	for (size_t i = 0; i < NOPTIONS; i++) {
		if (!(options[i].flags & F_SECRET))
			continue;
		const char *parent = root_key_of(options[i].section);
		if (parent != NULL && mask_member(copy, parent, options[i].key) != 0)
			goto done;
	}
	if (id != NULL) {
		cJSON *idv = cJSON_CreateString(id);
		if (idv == NULL)
			goto done;
		/* cJSON has no "add first": add, then move to the front. */
		if (!cJSON_AddItemToObject(copy, "id", idv)) {
			cJSON_Delete(idv);
			goto done;
		}
		cJSON_DetachItemViaPointer(copy, idv);
		if (!cJSON_InsertItemInArray(copy, 0, idv)) {
			cJSON_Delete(idv);
			goto done;
		}
	}
	out = cJSON_PrintUnformatted(copy);
done:
	cJSON_Delete(copy);
	return out;
}

DBS_API int dbs_config_validate(const char *config, size_t len)
{
	char err[1024];
	dbs_config *cfg = NULL;
	int rc = dbs__config_parse(&cfg, config, len, err, sizeof err);
	dbs__config_free(cfg);
	if (rc == 0)
		dbs__error_clear();
	return rc;
}
