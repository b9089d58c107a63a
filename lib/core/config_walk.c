/*
 * The configuration's walk (config.c says what it is for): each key of a
 * JSON object against the rows of its place, core rows and the rows of
 * the plugins the sections' types name; values checked, stored and
 * defaulted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "core/options.h"

/* "mysql or postgresql", "insert, update or delete" */
static void choices_text(const char *const *choices, char *buf, size_t size)
{
	size_t n = 0, len = 0;
	while (choices[n] != NULL)
		n++;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == n ? " or " : ", ");
		dbs_fmt(buf + len, size - len, "%s%s", sep, choices[i]);
		len += strlen(buf + len);
	}
}

static void store(void *base, size_t offset, const void *value, size_t size)
{
	if (base != NULL)
		memcpy((char *)base + offset, value, size);
}

static const unsigned op_bits[] = {1u << DBS_OP_INSERT, 1u << DBS_OP_UPDATE, 1u << DBS_OP_DELETE};

static int want_string(struct parse *p, const struct option *o, const cJSON *v)
{
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return dbs__config_fail(p, "expected a string, got %s", dbs__config_json_type(v));
	if ((o->flags & F_NONEMPTY) && v->valuestring[0] == '\0')
		return dbs__config_fail(p, "must not be empty");
	return 0;
}

static int parse_number(struct parse *p, const struct option *o, const cJSON *v, uint64_t *out)
{
	if (!cJSON_IsNumber(v))
		return dbs__config_fail(p, "expected a number, got %s", dbs__config_json_type(v));
	double d = v->valuedouble;
	bool open_ended = o->max >= (double)UINT32_MAX;
	if (d < o->min) {
		if (open_ended)
			return dbs__config_fail(p, "%.15g is out of range (expected %.15g or more)",
			                        d, o->min);
		return dbs__config_fail(p, "%.15g is out of range (expected %.15g to %.15g)", d,
		                        o->min, o->max);
	}
	if (d > o->max) {
		if (open_ended)
			return dbs__config_fail(p, "%.15g is too large (at most %.15g)", d, o->max);
		return dbs__config_fail(p, "%.15g is out of range (expected %.15g to %.15g)", d,
		                        o->min, o->max);
	}
	if (d != (double)(uint64_t)d)
		return dbs__config_fail(p, "%.15g is not a whole number", d);
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
		rc = dbs__config_fail(p, "expected an array, got %s", dbs__config_json_type(v));
		goto done;
	}
	if (v->child == NULL) {
		rc = dbs__config_fail(
		    p, "empty list (leave it out to capture insert, update and delete)");
		goto done;
	}
	choices_text(o->choices, expect, sizeof expect);
	for (const cJSON *e = v->child; e != NULL; e = e->next, idx++) {
		size_t old = dbs__config_path_push(p, "[%u]", idx);
		size_t k = 0;
		if (!cJSON_IsString(e) || e->valuestring == NULL) {
			rc = dbs__config_fail(p, "expected a string, got %s",
			                      dbs__config_json_type(e));
		} else {
			while (o->choices[k] != NULL && strcmp(o->choices[k], e->valuestring) != 0)
				k++;
			if (o->choices[k] == NULL)
				rc = dbs__config_fail(
				    p, "unknown %s \"%s\" (expected %s)", o->what,
				    dbs__config_shown(e->valuestring, buf, sizeof buf), expect);
			else if (mask & op_bits[k])
				rc = dbs__config_fail(p, "duplicate %s \"%s\"", o->what,
				                      o->choices[k]);
			else
				mask |= op_bits[k];
		}
		if (rc != 0)
			goto done;
		dbs__config_path_pop(p, old);
	}
	*out = mask;
done:
	return rc;
}

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

/* Table lists start with `const char *name` (DBS_OPTION_UNIQUE_NAMES). */
static const char *item_name(const void *items, size_t item_size, uint32_t i)
{
	const char *name;
	memcpy(&name, (const char *)items + (size_t)i * item_size, sizeof name);
	return name;
}

/*
 * A table name as the database resolves it: a plugin may put an
 * unqualified name in a default schema (PostgreSQL: public), so "t" and
 * "public.t" are the same table.
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
static int check_unique_names(struct parse *p, const void *items, size_t item_size, uint32_t count,
                              const char *default_schema)
{
	char buf[96], prefix[80] = "";
	int rc = 0;
	struct name_ref *refs = NULL;
	if (default_schema)
		dbs_fmt(prefix, sizeof prefix, "%s.", default_schema);
	if (count < 2)
		goto done;
	/* count fits uint32_t, so count * 24 bytes cannot overflow size_t. */
	refs = calloc(count, sizeof *refs);
	if (refs == NULL) {
		rc = dbs__config_oom(p);
		goto done;
	}
	for (uint32_t i = 0; i < count; i++) {
		refs[i].name = item_name(items, item_size, i);
		refs[i].prefix = strchr(refs[i].name, '.') == NULL ? prefix : "";
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
		size_t old = dbs__config_path_push(p, "[%u].name", dup);
		rc = dbs__config_fail(
		    p, "duplicate table \"%s\" (already at [%u])",
		    dbs__config_shown(item_name(items, item_size, dup), buf, sizeof buf), first);
		dbs__config_path_pop(p, old);
	}
done:
	free(refs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The walker                                                          */
/* ------------------------------------------------------------------ */

/* A row of the object being walked and the struct its value goes to. */
struct row {
	const struct option *o;
	void *base;
	int kind; /* the plugin kind whose rows these are, or -1 */
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static int rows_add(struct rows *r, const struct option *o, void *base, int kind)
{
	if (dbs_array_reserve((void **)&r->v, &r->cap, r->n + 1, sizeof *r->v))
		return DBS_ENOMEM;
	r->v[r->n++] = (struct row){o, base, kind};
	return 0;
}

static void *section_base(struct parse *p, enum section sec, void *item)
{
	switch (sec) {
	case SEC_SOURCE:
	case SEC_SOURCE_FILTER: return &p->cfg->source;
	case SEC_TARGET: return &p->cfg->target;
	case SEC_LIMITS: return &p->cfg->limits;
	case SEC_HUB: return &p->cfg->hub;
	case SEC_RECONNECT: return &p->cfg->reconnect;
	case SEC_LOAD: return &p->cfg->load;
	case SEC_FILTER_TABLE: return item;
	case SEC_ROOT: return &p->cfg->watch;
	default: return NULL;
	}
}

static int section_kind(enum section sec)
{
	return sec == SEC_SOURCE   ? DBS_PLUGIN_SOURCE
	       : sec == SEC_TARGET ? DBS_PLUGIN_TARGET
	       : sec == SEC_HUB    ? DBS_PLUGIN_HUB
	                           : -1;
}

/* How messages name the section of a plugin kind ("target" or
 * "destination" as the user wrote it). */
static const char *kind_key(const struct parse *p, int kind)
{
	return kind == DBS_PLUGIN_SOURCE   ? "source"
	       : kind == DBS_PLUGIN_TARGET ? p->target_key
	                                   : "hub";
}

static void *storage_alloc_ctx(void *ctx, size_t size)
{
	return dbs__config_alloc(ctx, size);
}

/* The plugin a K_TYPE row names: its rows in the parser's form and its
 * settings struct, zeroed, ready for the defaults. */
static int use_plugin(struct parse *p, int kind, const char *name)
{
	const dbs_plugin *pl = dbs__registry_find(p->registry, (dbs_plugin_kind)kind, name);
	p->plugin[kind] = pl;
	p->cfg->plugins[kind] = pl;
	p->prows[kind] = NULL;
	p->nprows[kind] = 0;
	p->settings[kind] = NULL;
	if (!pl || !pl->info.noptions)
		return 0;
	p->prows[kind] =
	    dbs__options_from_plugin(pl->info.options, pl->info.noptions, storage_alloc_ctx, p->st);
	p->settings[kind] =
	    dbs__config_alloc(p->st, pl->info.settings_size ? pl->info.settings_size : 1);
	if (!p->prows[kind] || !p->settings[kind])
		return dbs__config_oom(p);
	p->nprows[kind] = pl->info.noptions;
	return 0;
}

/* "mysql or postgresql": the registered plugins of a kind, sorted. */
static void plugin_names(const struct parse *p, int kind, char *buf, size_t size)
{
	const char *names[64];
	size_t n = 0;
	for (const dbs_plugin *pl;
	     n < 64 && (pl = dbs__registry_at(p->registry, (dbs_plugin_kind)kind, n));)
		names[n++] = pl->name;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	names[n] = NULL;
	choices_text(names, buf, size);
}

static int walk(struct parse *p, cJSON *obj, struct rows *rows, int kind);
static int walk_plugin_object(struct parse *p, cJSON *obj, int kind, const char *object);

static int parse_tables(struct parse *p, const struct row *r, cJSON *v)
{
	const struct option *o = r->o;
	int rc = 0;
	if (!cJSON_IsArray(v)) {
		rc = dbs__config_fail(p, "expected an array, got %s", dbs__config_json_type(v));
		goto done;
	}
	int count = cJSON_GetArraySize(v);
	if (count < 0 || (uint64_t)count > UINT32_MAX || (size_t)count > SIZE_MAX / o->item_size) {
		rc = dbs__config_fail(p, "too many entries");
		goto done;
	}
	char *items = NULL;
	if (count > 0) {
		items = dbs__config_alloc(p->st, (size_t)count * o->item_size);
		if (items == NULL) {
			rc = dbs__config_oom(p);
			goto done;
		}
	}
	uint32_t i = 0;
	for (cJSON *e = v->child; e != NULL; e = e->next, i++) {
		size_t old = dbs__config_path_push(p, "[%u]", i);
		void *item = items + (size_t)i * o->item_size;
		if (!cJSON_IsObject(e)) {
			rc = dbs__config_fail(p, "expected an object, got %s",
			                      dbs__config_json_type(e));
		} else if (o->items) {
			struct rows ir = {0};
			for (uint32_t k = 0; k < o->nitems && !rc; k++)
				if (rows_add(&ir, &o->items[k], item, r->kind))
					rc = dbs__config_oom(p);
			if (!rc)
				rc = walk(p, e, &ir, -1);
			free(ir.v);
		} else {
			rc = dbs__config_walk_section(p, e, o->child, item);
		}
		if (rc != 0)
			goto done;
		dbs__config_path_pop(p, old);
	}
	if (r->base && !(o->flags & F_NOSTORE)) {
		const void *ptr = items;
		store(r->base, o->offset, &ptr, sizeof ptr);
		store(r->base, o->count_offset, &i, sizeof i);
	}
	int owner = o->section == SEC_PLUGIN ? r->kind : (int)o->plugin;
	if (o->flags & F_UNIQUE) {
		const dbs_plugin *pl = owner >= 0 ? p->plugin[owner] : NULL;
		rc = check_unique_names(p, items, o->item_size, i,
		                        pl ? pl->info.default_schema : NULL);
	}
done:
	return rc;
}

static int apply_option(struct parse *p, const struct row *r, cJSON *v)
{
	const struct option *o = r->o;
	void *base = (o->flags & F_NOSTORE) ? NULL : r->base;
	int rc = 0;
	char buf[96];
	char expect[512];
	switch (o->kind) {
	case K_OBJECT:
		if (!cJSON_IsObject(v))
			rc = dbs__config_fail(p, "expected an object, got %s",
			                      dbs__config_json_type(v));
		else if (o->object)
			rc = walk_plugin_object(p, v, o->plugin, o->object);
		else
			rc = dbs__config_walk_section(p, v, o->child, NULL);
		break;
	case K_TABLES: rc = parse_tables(p, r, v); break;
	case K_STRING:
	case K_ENUM:
	case K_TYPE: {
		rc = want_string(p, o, v);
		if (rc != 0)
			break;
		if (o->kind == K_ENUM) {
			size_t k = 0;
			while (o->choices[k] != NULL && strcmp(o->choices[k], v->valuestring) != 0)
				k++;
			if (o->choices[k] == NULL) {
				choices_text(o->choices, expect, sizeof expect);
				rc = dbs__config_fail(
				    p, "unknown %s \"%s\" (expected %s)", o->what,
				    dbs__config_shown(v->valuestring, buf, sizeof buf), expect);
				break;
			}
		}
		if (o->kind == K_TYPE) {
			if (!dbs__registry_find(p->registry, o->plugin, v->valuestring)) {
				plugin_names(p, (int)o->plugin, expect, sizeof expect);
				rc = dbs__config_fail(
				    p, "unknown %s \"%s\" (expected %s)", o->what,
				    dbs__config_shown(v->valuestring, buf, sizeof buf), expect);
				break;
			}
			if ((rc = use_plugin(p, (int)o->plugin, v->valuestring)))
				break;
		}
		if (base != NULL) {
			const char *copy = dbs__config_strdup(p->st, v->valuestring);
			if (copy == NULL) {
				rc = dbs__config_oom(p);
				break;
			}
			store(base, o->offset, &copy, sizeof copy);
		}
		if (o->plugin_check) {
			char why[512];
			/* A secret as a whole is never shown, not even in part. */
			const char *seen = (o->flags & F_HIDDEN)
			                       ? "********"
			                       : dbs__config_shown(v->valuestring, buf, sizeof buf);
			if (o->plugin_check(v->valuestring, seen, why, sizeof why))
				rc = dbs__config_fail(p, "%s", why);
		}
		break;
	}
	case K_BOOL: {
		if (!cJSON_IsBool(v)) {
			rc = dbs__config_fail(p, "expected true or false, got %s",
			                      dbs__config_json_type(v));
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

/* A row whose key is absent: its default, or the defaults of the object
 * it stands for; a required one is an error. */
static int apply_default(struct parse *p, const struct row *r)
{
	const struct option *o = r->o;
	void *base = (o->flags & F_NOSTORE) ? NULL : r->base;
	if (o->flags & F_REQUIRED) {
		size_t old = dbs__config_path_push(p, "%s%s", p->path_len ? "." : "", o->key);
		int rc = o->section == SEC_PLUGIN && r->kind >= 0 && p->plugin[r->kind]
		             ? dbs__config_fail(p, "required when %s.type is \"%s\"",
		                                kind_key(p, r->kind), p->plugin[r->kind]->name)
		             : dbs__config_fail(p, "required");
		dbs__config_path_pop(p, old);
		return rc;
	}
	if (o->kind == K_OBJECT) {
		size_t old = dbs__config_path_push(p, "%s%s", p->path_len ? "." : "", o->key);
		int rc = o->object ? walk_plugin_object(p, NULL, o->plugin, o->object)
		                   : dbs__config_walk_section(p, NULL, o->child, NULL);
		dbs__config_path_pop(p, old);
		return rc;
	}
	if (o->kind == K_TYPE && o->def) {
		int rc = use_plugin(p, (int)o->plugin, o->def);
		if (rc)
			return rc;
	}
	if (base == NULL)
		return 0;
	switch (o->kind) {
	case K_STRING:
	case K_ENUM:
	case K_TYPE: {
		const char *copy = NULL;
		if (o->def != NULL && (copy = dbs__config_strdup(p->st, o->def)) == NULL)
			return dbs__config_oom(p);
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
	return 0;
}

static const struct row *find_row(const struct rows *rows, const char *key, bool *alias)
{
	*alias = false;
	for (size_t i = 0; i < rows->n; i++) {
		const struct option *o = rows->v[i].o;
		if (strcmp(o->key, key) == 0)
			return &rows->v[i];
		if (o->alias != NULL && strcmp(o->alias, key) == 0) {
			*alias = true;
			return &rows->v[i];
		}
	}
	return NULL;
}

/* A key of the object that differs only in case, for "did you mean". */
static const char *near_key(const struct rows *rows, const char *key)
{
	for (size_t i = 0; i < rows->n; i++)
		if (strcasecmp(rows->v[i].o->key, key) == 0)
			return rows->v[i].o->key;
	return NULL;
}

/* Other plugins of `kind` that take `key` in `object`: "\"nats\"". */
static int used_by_others(const struct parse *p, int kind, const char *object, const char *key,
                          char *buf, size_t size)
{
	size_t len = 0, found = 0;
	buf[0] = '\0';
	for (size_t i = 0;; i++) {
		const dbs_plugin *pl = dbs__registry_at(p->registry, (dbs_plugin_kind)kind, i);
		if (!pl)
			break;
		if (pl == p->plugin[kind])
			continue;
		for (uint32_t k = 0; k < pl->info.noptions; k++) {
			const dbs_option *o = &pl->info.options[k];
			if (strcmp(o->key, key) != 0 ||
			    (o->object ? !object || strcmp(o->object, object) : object != NULL))
				continue;
			dbs_fmt(buf + len, size - len, "%s\"%s\"", found ? " or " : "", pl->name);
			len += strlen(buf + len);
			found++;
			break;
		}
	}
	return found > 0;
}

/*
 * Walk the keys of `obj` (NULL: the object is absent) against `rows`:
 * each value checked and stored, missing keys defaulted or required. A
 * row of kind K_TYPE goes first and adds its plugin's rows for the
 * object's own keys; `kind` names the plugin kind whose object this is
 * (for messages about keys of other plugins), or -1.
 */
static int walk(struct parse *p, cJSON *obj, struct rows *rows, int kind)
{
	int rc = 0;
	char buf[96];
	bool *seen = NULL, *seen_alias = NULL;
	cJSON *type_item = NULL;

	for (size_t i = 0; i < rows->n && !rc; i++) {
		const struct row *r = &rows->v[i];
		if (r->o->kind != K_TYPE)
			continue;
		kind = (int)r->o->plugin;
		type_item = obj ? cJSON_GetObjectItemCaseSensitive(obj, r->o->key) : NULL;
		if (type_item) {
			size_t old =
			    dbs__config_path_push(p, "%s%s", p->path_len ? "." : "", r->o->key);
			rc = apply_option(p, r, type_item);
			if (rc == 0)
				dbs__config_path_pop(p, old);
		} else {
			rc = apply_default(p, r);
		}
		const dbs_plugin *pl = rc ? NULL : p->plugin[kind];
		for (uint32_t k = 0; pl && k < p->nprows[kind] && !rc; k++)
			if (!p->prows[kind][k].object &&
			    rows_add(rows, &p->prows[kind][k], p->settings[kind], kind))
				rc = dbs__config_oom(p);
	}
	if (rc)
		goto done;
	if (!(seen = calloc(rows->n + 1, sizeof *seen)) ||
	    !(seen_alias = calloc(rows->n + 1, sizeof *seen_alias))) {
		rc = dbs__config_oom(p);
		goto done;
	}
	for (cJSON *child = obj ? obj->child : NULL; child != NULL; child = child->next) {
		const char *key = child->string ? child->string : "";
		bool alias = false;
		const struct row *r = find_row(rows, key, &alias);
		size_t old = dbs__config_path_push(p, "%s%s", p->path_len ? "." : "", key);
		if (r == NULL) {
			/* The key itself is user text: show it masked. */
			char others[256];
			dbs__config_path_pop(p, old);
			dbs__config_path_push(p, "%s%s", p->path_len ? "." : "",
			                      dbs__config_shown(key, buf, sizeof buf));
			const char *near = near_key(rows, key);
			if (kind >= 0 &&
			    used_by_others(p, kind, p->object, key, others, sizeof others))
				rc = dbs__config_fail(p, "only used when %s.type is %s",
				                      kind_key(p, kind), others);
			else if (near != NULL)
				rc =
				    dbs__config_fail(p, "unknown key (did you mean \"%s\"?)", near);
			else
				rc = dbs__config_fail(p, "unknown key");
			goto done;
		}
		size_t idx = (size_t)(r - rows->v);
		if (seen[idx]) {
			if (seen_alias[idx] != alias)
				rc = dbs__config_fail(p, "\"%s\" is given too; use one of them",
				                      alias ? r->o->key : r->o->alias);
			else
				rc = dbs__config_fail(p, "duplicate key");
			goto done;
		}
		seen[idx] = true;
		seen_alias[idx] = alias;
		if (r->o->section == SEC_ROOT && r->o->child == SEC_TARGET)
			p->target_key = alias ? r->o->alias : r->o->key;
		if (child != type_item && (rc = apply_option(p, r, child)) != 0)
			goto done;
		dbs__config_path_pop(p, old);
		if (alias && rename_key(child, r->o->key) != 0) {
			rc = dbs__config_oom(p);
			goto done;
		}
	}
	for (size_t i = 0; i < rows->n && !rc; i++)
		if (!seen[i] && rows->v[i].o->kind != K_TYPE)
			rc = apply_default(p, &rows->v[i]);
done:
	free(seen);
	free(seen_alias);
	return rc;
}

int dbs__config_walk_section(struct parse *p, cJSON *obj, enum section sec, void *item)
{
	struct rows rows = {0};
	void *base = section_base(p, sec, item);
	const char *outer = p->object;
	int rc = 0;
	for (size_t i = 0; i < dbs__core_noptions && !rc; i++)
		if (dbs__core_options[i].section == sec &&
		    rows_add(&rows, &dbs__core_options[i], base, section_kind(sec)))
			rc = dbs__config_oom(p);
	p->object = NULL;
	if (!rc)
		rc = walk(p, obj, &rows, section_kind(sec));
	p->object = outer;
	free(rows.v);
	return rc;
}

/* source.settings, target.options, …: the rows of the section's plugin. */
static int walk_plugin_object(struct parse *p, cJSON *obj, int kind, const char *object)
{
	struct rows rows = {0};
	const char *outer = p->object;
	int rc = 0;
	for (uint32_t i = 0; i < p->nprows[kind] && !rc; i++) {
		const struct option *o = &p->prows[kind][i];
		if (o->object && strcmp(o->object, object) == 0 &&
		    rows_add(&rows, o, p->settings[kind], kind))
			rc = dbs__config_oom(p);
	}
	p->object = object;
	if (!rc)
		rc = walk(p, obj, &rows, kind);
	p->object = outer;
	free(rows.v);
	return rc;
}
