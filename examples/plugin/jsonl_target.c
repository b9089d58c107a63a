/*
 * A template for a dbstreams plugin: a target that appends every change
 * to a file as one JSON line. Copy it to start a plugin of your own; it
 * uses nothing but the public headers and the plugin SDK
 * (include/dbstreams/sys/), like every plugin built outside the tree.
 *
 * What a target promises the core (dbstreams/plugin.h):
 *   - open connects and reads the stream's checkpoint: the position of the
 *     last event it committed, zero when it has none;
 *   - apply writes a batch's events after that checkpoint, in order, and
 *     commits them together with the new checkpoint, so that after a crash
 *     either both are there or neither is (exactly once);
 *   - events at or before the checkpoint are skipped: a source resumes at
 *     its last confirmed position and may deliver some of them again;
 *   - a schema change (DBS_OP_SCHEMA, given to targets of ops version 7)
 *     is applied or refused, never skipped: here it is a line of its own,
 *     {"op":"schema",...} with the table's columns after the change and
 *     what changed, and the lines after it follow the new columns.
 * Here "commit" is: append the lines, fsync, then replace the checkpoint
 * file (written aside and renamed, which is atomic). The checkpoint file
 * also records how long the data file was at that commit; open cuts off
 * whatever a crash left after it.
 *
 * Build it as a shared object against an installed libdbstreams:
 *
 *   cc -shared -fPIC -o libdbs-jsonl.so jsonl_target.c \
 *      $(pkg-config --cflags --libs dbstreams)
 *
 * and register it in the registry a program hands to dbs_stream_create
 * (dbs_stream_options.registry):
 *
 *   dbs_registry *r;
 *   dbs_registry_new(&r, 1);
 *   dbs_registry_add_target(r, &jsonl_target_ops);
 *
 * A configuration then names it:
 *
 *   "target": {"type": "jsonl", "connection": "/var/lib/changes.jsonl",
 *              "settings": {"sync": false}}
 *
 * The conformance suite (tests/conformance) runs it like every built-in
 * target; docs/architecture.md says where the pieces of a plugin go.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>
#include <dbstreams/sys/position.h>

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

/*
 * What the configuration's target.settings may hold for this plugin. The
 * core validates the keys against the rows below (type, range, default),
 * refuses keys no row names, stores each value at its offset, and lists
 * the rows in the configuration reference; config->settings then points
 * at a filled struct.
 */
typedef struct jsonl_settings {
	int sync;                    /* fsync the file before each checkpoint */
	const char *checkpoint_file; /* NULL: the data file's name + ".checkpoint" */
} jsonl_settings;

/* clang-format off */
static const dbs_option jsonl_options[] = {
    {.object = "settings", .key = "sync", .kind = DBS_OPTION_BOOL,
     .offset = offsetof(jsonl_settings, sync), .def_num = 1,
     .doc = "flush the file to disk before each checkpoint (off: faster, a crash of the "
            "machine may lose the last batches)"},
    {.object = "settings", .key = "checkpointFile", .kind = DBS_OPTION_STRING,
     .flags = DBS_OPTION_NONEMPTY, .offset = offsetof(jsonl_settings, checkpoint_file),
     .doc = "where the checkpoint is kept; default: the file's name with .checkpoint"},
};
/* clang-format on */

/* ------------------------------------------------------------------ */
/* The instance                                                        */
/* ------------------------------------------------------------------ */

typedef struct jsonl_target {
	dbs_target base; /* first: the core holds a dbs_target * */
	const dbs_host *host;
	const jsonl_settings *settings;
	int fd;        /* the data file, opened for appending */
	char *path;    /* of the data file */
	char *cp_path; /* of the checkpoint file */
	dbs_position checkpoint;
	uint64_t length; /* of the data file at the checkpoint */
	dbs_buf out;     /* the lines of the batch being applied */
} jsonl_target;

extern const dbs_target_ops jsonl_target_ops;

static int fail(char *err, size_t errlen, int code, const char *what, const char *path)
{
	dbs_fmt(err, errlen, "jsonl target: %s %s: %s", what, path, strerror(errno));
	return code;
}

/* ------------------------------------------------------------------ */
/* Checkpoint                                                          */
/* ------------------------------------------------------------------ */

/* The checkpoint file holds one line: the position's fields, then the
 * data file's length at that commit. */
static int checkpoint_read(jsonl_target *t, char *err, size_t errlen)
{
	FILE *f = fopen(t->cp_path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0; /* a new stream */
		return fail(err, errlen, DBS_ETARGET, "cannot read", t->cp_path);
	}
	dbs_position *p = &t->checkpoint;
	int n = fscanf(f,
	               "%" SCNu64 " %" SCNu64 " %" SCNu32 " %" SCNu32 " %" SCNu32 " %" SCNu32
	               " %" SCNu64 " %" SCNu64,
	               &p->txn, &p->resume, &p->event, &p->txn_end, &p->gtid_domain,
	               &p->gtid_server, &p->gtid_seq, &t->length);
	fclose(f);
	if (n != 8) {
		dbs_fmt(err, errlen, "jsonl target: %s is not a checkpoint file", t->cp_path);
		return DBS_ETARGET;
	}
	return 0;
}

/* Write the checkpoint aside, flush it, and rename it into place: the
 * rename is the commit. */
static int checkpoint_write(jsonl_target *t, const dbs_position *p, uint64_t length, char *err,
                            size_t errlen)
{
	char tmp[4096];
	dbs_fmt(tmp, sizeof tmp, "%s.new", t->cp_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return fail(err, errlen, DBS_ETARGET, "cannot write", tmp);
	int ok = fprintf(f,
	                 "%" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32
	                 " %" PRIu64 " %" PRIu64 "\n",
	                 p->txn, p->resume, p->event, p->txn_end, p->gtid_domain, p->gtid_server,
	                 p->gtid_seq, length) > 0;
	ok = fflush(f) == 0 && ok;
	ok = (!t->settings->sync || fsync(fileno(f)) == 0) && ok;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, t->cp_path) != 0)
		return fail(err, errlen, DBS_ETARGET, "cannot write", t->cp_path);
	t->checkpoint = *p;
	t->length = length;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Events as JSON                                                      */
/* ------------------------------------------------------------------ */

static int json_string(dbs_buf *b, const char *s, size_t len)
{
	int rc = dbs_buf_append_char(b, '"');
	for (size_t i = 0; i < len && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			rc = dbs_buf_appendf(b, "\\%c", c);
		else if (c < 0x20)
			rc = dbs_buf_appendf(b, "\\u%04x", c);
		else
			rc = dbs_buf_append_char(b, (char)c);
	}
	return rc ? rc : dbs_buf_append_char(b, '"');
}

/* One value: numbers as JSON numbers, bytes as lower-case hex, dates and
 * times as ISO 8601 text (a TIMESTAMP, being UTC, with a Z). */
static int json_value(dbs_buf *b, const dbs_value *v)
{
	const dbs_time_value *t = &v->v.t;
	switch ((dbs_value_kind)v->kind) {
	case DBS_VALUE_NULL:
	case DBS_VALUE_UNCHANGED: return dbs_buf_append_str(b, "null");
	case DBS_VALUE_INT: return dbs_buf_appendf(b, "%" PRId64, v->v.i);
	case DBS_VALUE_UINT: return dbs_buf_appendf(b, "%" PRIu64, v->v.u);
	case DBS_VALUE_DOUBLE:
		return isfinite(v->v.d) ? dbs_buf_appendf(b, "%.17g", v->v.d)
		                        : dbs_buf_appendf(b, "\"%g\"", v->v.d);
	case DBS_VALUE_JSON: return dbs_buf_append(b, v->v.s, v->len);
	case DBS_VALUE_TEXT:
	case DBS_VALUE_DECIMAL: return json_string(b, v->v.s, v->len);
	case DBS_VALUE_BYTES: {
		int rc = dbs_buf_append_char(b, '"');
		for (uint32_t i = 0; i < v->len && !rc; i++)
			rc = dbs_buf_appendf(b, "%02x", (unsigned char)v->v.s[i]);
		return rc ? rc : dbs_buf_append_char(b, '"');
	}
	case DBS_VALUE_DATE:
		return dbs_buf_appendf(b, "\"%04" PRId32 "-%02u-%02u\"", t->year, t->month, t->day);
	case DBS_VALUE_TIME:
		return dbs_buf_appendf(b, "\"%s%02u:%02u:%02u.%06" PRIu32 "\"",
		                       t->negative ? "-" : "", t->hour, t->minute, t->second,
		                       t->usec);
	case DBS_VALUE_DATETIME:
	case DBS_VALUE_TIMESTAMP:
		return dbs_buf_appendf(b,
		                       "\"%04" PRId32 "-%02u-%02uT%02u:%02u:%02u.%06" PRIu32 "%s\"",
		                       t->year, t->month, t->day, t->hour, t->minute, t->second,
		                       t->usec, v->kind == DBS_VALUE_TIMESTAMP ? "Z" : "");
	}
	return dbs_buf_append_str(b, "null");
}

/* A row image as an object of its columns; UNCHANGED columns (values the
 * source did not send) are left out. */
static int json_image(dbs_buf *b, const char *key, const dbs_table *table, const dbs_value *row)
{
	int rc = dbs_buf_appendf(b, ",\"%s\":{", key);
	int first = 1;
	for (uint32_t c = 0; c < table->ncolumns && !rc; c++) {
		if (row[c].kind == DBS_VALUE_UNCHANGED)
			continue;
		if (!first)
			rc = dbs_buf_append_char(b, ',');
		first = 0;
		if (!rc)
			rc = json_string(b, table->columns[c].name, strlen(table->columns[c].name));
		if (!rc)
			rc = dbs_buf_append_char(b, ':');
		if (!rc)
			rc = json_value(b, &row[c]);
	}
	return rc ? rc : dbs_buf_append_char(b, '}');
}

/* A schema change: the columns after it, and what changed, in order. */
static int json_schema(dbs_buf *b, const dbs_event *ev)
{
	static const char *const kinds[] = {
	    "",           "createTable",  "dropTable",    "truncateTable", "renameTable",
	    "addColumn",  "dropColumn",   "renameColumn", "alterColumn",   "addIndex",
	    "dropIndex",  "alterKey",     "other"};
	const dbs_table *t = ev->table;
	int rc = dbs_buf_append_str(b, ",\"columns\":[");
	for (uint32_t c = 0; c < t->ncolumns && !rc; c++) {
		rc = dbs_buf_append_str(b, c ? ",{\"name\":" : "{\"name\":");
		if (!rc)
			rc = json_string(b, t->columns[c].name, strlen(t->columns[c].name));
		if (!rc)
			rc = dbs_buf_append_str(b, ",\"type\":");
		if (!rc)
			rc = json_string(b, t->columns[c].type_name, strlen(t->columns[c].type_name));
		if (!rc)
			rc = dbs_buf_append_char(b, '}');
	}
	if (!rc)
		rc = dbs_buf_append_str(b, "],\"changes\":[");
	const dbs_schema_event *se = ev->schema;
	for (uint32_t i = 0; se && i < se->nchanges && !rc; i++) {
		const dbs_schema_change *ch = &se->changes[i];
		rc = dbs_buf_appendf(b, "%s{\"kind\":\"%s\",\"unsafe\":%s", i ? "," : "",
		                     kinds[ch->kind <= DBS_SCHEMA_OTHER ? ch->kind : 0],
		                     ch->unsafe ? "true" : "false");
		if (!rc && ch->from_name) {
			rc = dbs_buf_append_str(b, ",\"from\":");
			if (!rc)
				rc = json_string(b, ch->from_name, strlen(ch->from_name));
		}
		if (!rc && ch->kind == DBS_SCHEMA_ADD_COLUMN && ch->column < t->ncolumns) {
			rc = dbs_buf_append_str(b, ",\"column\":");
			if (!rc)
				rc = json_string(b, t->columns[ch->column].name,
				                 strlen(t->columns[ch->column].name));
		}
		if (!rc)
			rc = dbs_buf_append_char(b, '}');
	}
	if (!rc)
		rc = dbs_buf_append_char(b, ']');
	if (!rc && se && se->statement) {
		rc = dbs_buf_append_str(b, ",\"statement\":");
		if (!rc)
			rc = json_string(b, se->statement, strlen(se->statement));
	}
	return rc;
}

static int json_event(dbs_buf *b, const dbs_batch *batch, const dbs_event *ev)
{
	static const char *const ops[] = {"", "insert", "update", "delete", "schema"};
	char pos[96];
	dbs_position_text(pos, sizeof pos, batch, &ev->pos);
	int rc = dbs_buf_appendf(b, "{\"op\":\"%s\",\"table\":", ops[ev->op <= 4 ? ev->op : 0]);
	if (!rc)
		rc = dbs_buf_appendf(b, "\"%s.%s\",\"position\":\"%s\",\"commitTimeUs\":%" PRId64,
		                     ev->table->schema, ev->table->name, pos, ev->commit_time_us);
	if (!rc && ev->op == DBS_OP_SCHEMA)
		rc = json_schema(b, ev);
	if (!rc && ev->before)
		rc = json_image(b, "before", ev->table, ev->before);
	if (!rc && ev->after)
		rc = json_image(b, "after", ev->table, ev->after);
	return rc ? rc : dbs_buf_append_str(b, "}\n");
}

/* ------------------------------------------------------------------ */
/* The vtable                                                          */
/* ------------------------------------------------------------------ */

static void jsonl_close(dbs_target *base)
{
	jsonl_target *t = (jsonl_target *)base;
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	free(t->cp_path);
	dbs_buf_free(&t->out);
	free(t);
}

/* target.connection is the file's path. */
static int jsonl_open(dbs_target **out, const dbs_target_config *config, const dbs_host *host,
                      dbs_position *checkpoint, char *err, size_t errlen)
{
	jsonl_target *t = calloc(1, sizeof *t);
	if (!t) {
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	t->base.ops = &jsonl_target_ops;
	t->host = host;
	t->settings = (const jsonl_settings *)config->settings;
	t->fd = -1;
	dbs_buf cp = DBS_BUF_INIT;
	int rc = DBS_ENOMEM;
	if (!(t->path = strdup(config->connection)) ||
	    dbs_buf_appendf(&cp, "%s",
	                    t->settings->checkpoint_file ? t->settings->checkpoint_file
	                                                 : config->connection) ||
	    (!t->settings->checkpoint_file && dbs_buf_append_str(&cp, ".checkpoint")) ||
	    !(t->cp_path = strdup(cp.data))) {
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = checkpoint_read(t, err, errlen)))
		goto fail;
	t->fd = open(t->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (t->fd < 0) {
		rc = fail(err, errlen, DBS_ETARGET, "cannot open", t->path);
		goto fail;
	}
	/* What a crash left after the last checkpoint was never committed. */
	if (ftruncate(t->fd, (off_t)t->length) != 0 || lseek(t->fd, 0, SEEK_END) < 0) {
		rc = fail(err, errlen, DBS_ETARGET, "cannot cut back", t->path);
		goto fail;
	}
	dbs_buf_free(&cp);
	*checkpoint = t->checkpoint;
	dbs_log(host, DBS_LOG_INFO, "jsonl target: %s, %" PRIu64 " bytes committed", t->path,
	        t->length);
	*out = &t->base;
	return 0;
fail:
	dbs_buf_free(&cp);
	jsonl_close(&t->base);
	return rc;
}

static int jsonl_apply(dbs_target *base, const dbs_batch *batch, char *err, size_t errlen)
{
	jsonl_target *t = (jsonl_target *)base;
	uint32_t n = dbs_batch_count(batch);
	dbs_buf_reset(&t->out);
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		/* Covered by the checkpoint: delivered again after a resume. */
		if (dbs_position_cmp(&ev->pos, &t->checkpoint) <= 0)
			continue;
		if (json_event(&t->out, batch, ev)) {
			dbs_fmt(err, errlen, "out of memory");
			return DBS_ENOMEM;
		}
	}
	if (!t->out.len)
		return 0;
	for (size_t done = 0; done < t->out.len;) {
		ssize_t w = write(t->fd, t->out.data + done, t->out.len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fail(err, errlen, DBS_ETARGET, "cannot write", t->path);
		done += (size_t)w;
	}
	if (t->settings->sync && fsync(t->fd) != 0)
		return fail(err, errlen, DBS_ETARGET, "cannot flush", t->path);
	/* The commit: from here the batch is applied. */
	return checkpoint_write(t, dbs_batch_last(batch), t->length + t->out.len, err, errlen);
}

/* A stream with no checkpoint yet starts where the source says: kept
 * before any batch, so that a restart before the first commit loses
 * nothing the source read meanwhile. */
static int jsonl_keep_checkpoint(dbs_target *base, const dbs_position *pos, dbs_dialect dialect,
                                 char *err, size_t errlen)
{
	jsonl_target *t = (jsonl_target *)base;
	(void)dialect;
	return checkpoint_write(t, pos, t->length, err, errlen);
}

/*
 * The vtable: version, name, then the methods. `flush` is left out (NULL):
 * without it the core never asks the target to keep a transaction open
 * across batches, and commits every batch. The option rows make
 * target.settings this plugin's own.
 */
const dbs_target_ops jsonl_target_ops = {
    .version = DBS_TARGET_OPS_VERSION,
    .name = "jsonl",
    .open = jsonl_open,
    .apply = jsonl_apply,
    .close = jsonl_close,
    .flush = NULL,
    .keep_checkpoint = jsonl_keep_checkpoint,
    .options = jsonl_options,
    .noptions = sizeof jsonl_options / sizeof jsonl_options[0],
    .settings_size = sizeof(jsonl_settings),
    .default_schema = NULL,
};
