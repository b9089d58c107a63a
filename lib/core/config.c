/*
 * Stream configuration: DBConvert Streams 0.x JSON, parsed strictly.
 *
 * Rows name every accepted key, where it lives, its type, range, choices
 * and default: the core's table (options.c) for what every stream has,
 * and the rows of the plugins the configuration's `type` keys name for
 * the rest (dbs_option). The walker validates a JSON object against the
 * rows of its place and stores each value at the row's offset, into the
 * plugin-facing struct or the plugin's own settings struct, so adding a
 * key is adding a row (the walk is config_walk.c). Every error message
 * starts with the JSON path of the culprit.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "core/options.h"

/* Configurations are written by hand; anything this large is a mistake. */
#define CONFIG_MAX (1024 * 1024)

/* ------------------------------------------------------------------ */
/* Storage: every string and array the config hands out lives here.    */
/* ------------------------------------------------------------------ */

void *dbs__config_alloc(struct storage *st, size_t size)
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

char *dbs__config_strdup(struct storage *st, const char *s)
{
	size_t n = strlen(s);
	char *out = NULL;
	if (n == SIZE_MAX)
		goto done;
	out = dbs__config_alloc(st, n + 1);
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
/* Parser state, paths and messages                                    */
/* ------------------------------------------------------------------ */

size_t dbs__config_path_push(struct parse *p, const char *fmt, ...)
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

void dbs__config_path_pop(struct parse *p, size_t old)
{
	p->path_len = old;
	p->path[old] = '\0';
}

static int vfail(struct parse *p, const char *fmt, va_list ap)
{
	char msg[768];
	dbs_vfmt(msg, sizeof msg, fmt, ap);
	dbs_fmt(p->err, p->errlen, "%s: %s", p->path_len ? p->path : "(root)", msg);
	return DBS_ECONFIG;
}

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vfail(p, fmt, ap);
	va_end(ap);
	return rc;
}

int dbs__config_fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vfail(p, fmt, ap);
	va_end(ap);
	return rc;
}

int dbs__config_oom(struct parse *p)
{
	dbs_fmt(p->err, p->errlen, "out of memory");
	return DBS_ENOMEM;
}

/*
 * User text for a message: masked as a connection string (anything may
 * have been pasted into any field), control characters replaced, and cut
 * to a readable length.
 */
const char *dbs__config_shown(const char *text, char *buf, size_t size)
{
	char *masked = dbs__mask_connection(text);
	const char *src = masked ? masked : "********";
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

const char *dbs__config_json_type(const cJSON *v)
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

/* The settings the walk filled go to the plugin-facing structs. */
static void hand_over(struct parse *p)
{
	p->cfg->source.settings = p->settings[DBS_PLUGIN_SOURCE];
	p->cfg->target.settings = p->settings[DBS_PLUGIN_TARGET];
	p->cfg->hub.settings = p->settings[DBS_PLUGIN_HUB];
}

/* What a key allows depends on the mode: initialLoad belongs to cdc, a
 * table's query to convert. The queries are kept beside the filter. */
static int check_mode(struct parse *p)
{
	dbs_config *cfg = p->cfg;
	const char *mode = cfg->source.mode ? cfg->source.mode : "cdc";
	cfg->convert = strcmp(mode, "convert") == 0 || strcmp(mode, "load") == 0;
	if (cfg->convert)
		cfg->source.mode = "convert";
	if (cfg->convert && cfg->source.initial_load) {
		dbs__config_path_push(p, "source.initialLoad");
		return fail(p, "only used by mode \"cdc\" (mode \"%s\" copies the tables and ends)",
		            mode);
	}
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(cfg->json, "source");
	const cJSON *flt = cJSON_GetObjectItemCaseSensitive(src, "filter");
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(flt, "tables");
	const char **queries = NULL;
	int i = 0;
	for (const cJSON *t = cJSON_IsArray(tables) ? tables->child : NULL; t; t = t->next, i++) {
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(t, "query");
		if (!cJSON_IsString(q))
			continue;
		if (!cfg->convert) {
			dbs__config_path_push(p, "source.filter.tables[%d].query", i);
			return fail(p, "only used by mode \"convert\" (mode \"cdc\" carries every "
			               "change of the table)");
		}
		if ((uint32_t)i >= cfg->source.ntables)
			break;
		if (!queries && !(queries = dbs__config_alloc(p->st, cfg->source.ntables *
		                                                      sizeof *queries)))
			return dbs__config_oom(p);
		if (!(queries[i] = dbs__config_strdup(p->st, q->valuestring)))
			return dbs__config_oom(p);
	}
	cfg->queries = queries;
	cfg->source.queries = queries;
	return 0;
}

int dbs__config_parse_with(dbs_config **out, const dbs_registry *registry, const char *text,
                           size_t len, char *err, size_t errlen)
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
	p.registry = registry;
	if (out == NULL) {
		dbs_fmt(err, errlen, "invalid argument: no output pointer");
		rc = DBS_EINVAL;
		goto fail;
	}
	*out = NULL;
	if (text == NULL && len > 0) {
		dbs_fmt(err, errlen, "invalid argument: NULL text");
		rc = DBS_EINVAL;
		goto fail;
	}
	if (registry == NULL) {
		dbs_fmt(err, errlen, "built-in plugins failed to register: %s", dbs_error_last());
		rc = DBS_EINTERNAL;
		goto fail;
	}

	cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL || (cfg->storage = calloc(1, sizeof(struct storage))) == NULL) {
		rc = dbs__config_oom(&p);
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
		rc = dbs__config_oom(&p);
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
		rc = fail(&p, "expected a JSON object, got %s", dbs__config_json_type(cfg->json));
		goto fail;
	}
	rc = dbs__config_walk_section(&p, cfg->json, SEC_ROOT, NULL);
	if (rc == 0)
		rc = check_mode(&p);
	if (rc != 0)
		goto fail;
	hand_over(&p);
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

int dbs__config_parse(dbs_config **out, const char *text, size_t len, char *err, size_t errlen)
{
	return dbs__config_parse_with(out, dbs__builtin_registry(), text, len, err, errlen);
}

int dbs__config_set_hub(dbs_config *cfg, const dbs_registry *registry, cJSON *hub, char *err,
                        size_t errlen)
{
	struct parse p = {0};
	p.cfg = cfg;
	p.st = cfg->storage;
	p.err = err;
	p.errlen = errlen;
	p.target_key = "target";
	p.registry = registry;
	p.plugin[DBS_PLUGIN_SOURCE] = cfg->plugins[DBS_PLUGIN_SOURCE];
	p.plugin[DBS_PLUGIN_TARGET] = cfg->plugins[DBS_PLUGIN_TARGET];
	dbs__config_path_push(&p, "hub");
	int rc = dbs__config_walk_section(&p, hub, SEC_HUB, NULL);
	if (rc == 0)
		cfg->hub.settings = p.settings[DBS_PLUGIN_HUB];
	return rc;
}

/* Replace the string at root.section[.object].key with its masked form
 * (`whole`: all of it). */
static int mask_member(cJSON *root, const char *section, const char *object, const char *key,
                       int whole)
{
	cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, section);
	if (object)
		sec = cJSON_GetObjectItemCaseSensitive(sec, object);
	cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return 0;
	char *masked = whole ? strdup("********") : dbs__mask_connection(v->valuestring);
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

/* The secrets of the core's rows and of the stream's plugins' rows. */
static int mask_secrets(const dbs_config *config, cJSON *copy)
{
	for (size_t i = 0; i < dbs__core_noptions; i++) {
		const struct option *o = &dbs__core_options[i];
		const char *parent = dbs__section_key(o->section);
		if ((o->flags & F_SECRET) && parent && mask_member(copy, parent, NULL, o->key, 0))
			return DBS_ENOMEM;
	}
	static const enum section sections[3] = {SEC_SOURCE, SEC_HUB, SEC_TARGET};
	for (int k = 0; k < 3; k++) {
		const dbs_plugin *pl = config->plugins[k];
		for (uint32_t i = 0; pl && i < pl->info.noptions; i++) {
			const dbs_option *o = &pl->info.options[i];
			if ((o->flags & (DBS_OPTION_SECRET | DBS_OPTION_CONNECTION)) &&
			    mask_member(copy, dbs__section_key(sections[k]), o->object, o->key,
			                (o->flags & DBS_OPTION_SECRET) != 0))
				return DBS_ENOMEM;
		}
	}
	return 0;
}

/* The string at root.section[.object].key, or NULL. */
static const char *member_string(const cJSON *root, const char *section, const char *object,
                                 const char *key)
{
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, section);
	if (object)
		sec = cJSON_GetObjectItemCaseSensitive(sec, object);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

size_t dbs__config_connections(const dbs_config *config, const char **out, size_t max)
{
	size_t n = 0;
	if (config == NULL || config->json == NULL)
		return 0;
	for (size_t i = 0; i < dbs__core_noptions && n < max; i++) {
		const struct option *o = &dbs__core_options[i];
		const char *parent = dbs__section_key(o->section);
		const char *v = parent ? member_string(config->json, parent, NULL, o->key) : NULL;
		if ((o->flags & F_SECRET) && v)
			out[n++] = v;
	}
	static const enum section sections[3] = {SEC_SOURCE, SEC_HUB, SEC_TARGET};
	for (int k = 0; k < 3; k++) {
		const dbs_plugin *pl = config->plugins[k];
		for (uint32_t i = 0; pl && i < pl->info.noptions && n < max; i++) {
			const dbs_option *o = &pl->info.options[i];
			const char *v = member_string(config->json, dbs__section_key(sections[k]),
			                              o->object, o->key);
			if ((o->flags & DBS_OPTION_CONNECTION) && v)
				out[n++] = v;
		}
	}
	return n;
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
	/* The rows say which values may hold a password. */
	if (mask_secrets(config, copy) != 0)
		goto done;
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
