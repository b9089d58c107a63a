/*
 * The rows the configuration parser walks (config.c): the core's own
 * table (options.c) for what every stream has, and the rows plugins
 * contribute (dbs_option, dbstreams/plugin.h) for their sections,
 * converted to the same form when a configuration names the plugin.
 */
#ifndef DBS_CORE_OPTIONS_H
#define DBS_CORE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/core.h"

/* Sections of the core's table. */
enum section {
	SEC_ROOT,
	SEC_SOURCE,
	SEC_SOURCE_FILTER,
	SEC_FILTER_TABLE,
	SEC_TARGET,
	SEC_LIMITS,
	SEC_HUB,
	SEC_RECONNECT,
	SEC_LOAD,
	SEC_PLUGIN /* a row a plugin contributed */
};

enum kind {
	K_OBJECT, /* nested section `child`, or the plugin's object `object` */
	K_TABLES, /* array of objects (rows `items`, or section `child`), item array + count */
	K_STRING,
	K_ENUM, /* one of `choices` */
	K_BOOL, /* stored as int */
	K_U32,
	K_U64,
	K_OPS, /* array of operation names, stored as a bit mask */
	K_TYPE /* the name of a registered plugin of kind `plugin`: selects its rows */
};

/* Option flags. */
enum {
	F_REQUIRED = 1u << 0,
	F_NONEMPTY = 1u << 1,
	F_NOSTORE = 1u << 2, /* validated and kept in the JSON only */
	F_SECRET = 1u << 3,  /* may hold a password: masked by dbs__config_to_json */
	F_HIDDEN = 1u << 5,  /* a secret as a whole: shown as "********" */
	F_UNIQUE = 1u << 4   /* K_TABLES: no two items name one table */
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
	const char *object;    /* K_OBJECT: holds the rows of the plugin's object */
	dbs_plugin_kind plugin; /* K_TYPE, and sections of a plugin's kind */
	double min, max;
	const char *const *choices;
	const char *what; /* noun for "unknown <what>" */
	const char *def;  /* default string */
	double def_num;
	size_t offset;       /* into the section's struct */
	size_t count_offset; /* K_TABLES: uint32_t count */
	size_t item_size;    /* K_TABLES */
	const struct option *items; /* K_TABLES of a plugin: its item rows */
	uint32_t nitems;
	check_fn check;                 /* extra rule beyond type and range */
	dbs_option_check_fn plugin_check; /* a plugin row's rule */
	const char *doc;
};

/* ---- the parser's state (config.c), shared with the walker (config_walk.c) ---- */

/* Storage: every string and array the config hands out lives here. */
struct chunk {
	struct chunk *next;
	max_align_t data[];
};

struct storage {
	struct chunk *head;
};

#define PATH_MAX_LEN 512

struct parse {
	dbs_config *cfg;
	struct storage *st;
	char *err;
	size_t errlen;
	char path[PATH_MAX_LEN];
	size_t path_len;
	const char *target_key; /* the spelling the user wrote */
	const dbs_registry *registry;
	/* Per plugin kind: the plugin the section's type names, its rows in
	 * the parser's form, and its settings struct. */
	const dbs_plugin *plugin[3];
	struct option *prows[3];
	uint32_t nprows[3];
	void *settings[3];
	const char *object; /* the plugin object being walked ("settings"), or NULL */
};

void *dbs__config_alloc(struct storage *st, size_t size);
char *dbs__config_strdup(struct storage *st, const char *s);
/* Append to / cut back the JSON path messages start with. */
size_t dbs__config_path_push(struct parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void dbs__config_path_pop(struct parse *p, size_t old);
/* Fail with "<path>: <message>" (DBS_ECONFIG), or "out of memory". */
int dbs__config_fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dbs__config_oom(struct parse *p);
/* User text as a message may show it (masked like a connection string,
 * control characters replaced, cut). */
const char *dbs__config_shown(const char *text, char *buf, size_t size);
/* "a string", "an object", … */
const char *dbs__config_json_type(const cJSON *v);

/* Walk `obj` (NULL: absent, defaults only) as core section `sec` (item:
 * the table entry of SEC_FILTER_TABLE). */
int dbs__config_walk_section(struct parse *p, cJSON *obj, enum section sec, void *item);

/* The core's table, in the order the reference lists it. */
extern const struct option dbs__core_options[];
extern const size_t dbs__core_noptions;

/* The root key of a section ("source", "target", "hub"), for paths. */
const char *dbs__section_key(enum section sec);

/* A plugin's rows in the parser's form, items of tables included: into
 * memory from `alloc` (NULL on failure). */
struct option *dbs__options_from_plugin(const dbs_option *rows, uint32_t n,
                                        void *(*alloc)(void *ctx, size_t size), void *ctx);

/* The configuration reference (docs/configuration.md's generated part):
 * the core's keys and those of every plugin of `registry`, as Markdown. */
int dbs__config_doc(dbs_buf *out, const dbs_registry *registry);

#endif
