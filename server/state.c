#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "log.h"

#define STATE_FORMAT 1
/* A record is a configuration and a few fields: far below this. */
#define RECORD_MAX (4 * 1024 * 1024)
#define ID_LEN 27

struct srv_record_ref {
	char id[ID_LEN + 1];
	bool ended;
	char *name; /* the configuration's top-level "name"; NULL: none */
};

int srv_state_default_dir(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (geteuid() == 0)
		n = snprintf(buf, size, "/var/lib/dbstreams");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, size, "%s/dbstreams", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, size, "%s/.local/state/dbstreams", home);
	else
		return -1;
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf) {
		snprintf(err, errlen, "state directory '%s': empty or too long", path);
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];

		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
			return -1;
		}
		buf[i] = c;
	}
	return 0;
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *out = malloc(n);

	if (out != NULL && snprintf(out, n, "%s/%s", dir, name) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

int srv_state_open(srv_state *st, const char *dir, char *err, size_t errlen)
{
	char *lock_path = NULL;
	struct stat sb;
	int rc = -1;

	memset(st, 0, sizeof *st);
	st->lock_fd = -1;
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		snprintf(err, errlen, "cannot initialise a mutex");
		return -1;
	}
	if (make_dirs(dir, err, errlen) != 0)
		goto out;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "state directory %s is not a directory", dir);
		goto out;
	}
	/* Records hold passwords: say so when others may read the directory. */
	if (sb.st_mode & 0077)
		srv_log(DBS_LOG_WARN, "state directory %s is accessible to other users (mode %03o); 0700 is advised",
		        dir, (unsigned)(sb.st_mode & 0777));
	st->dir = strdup(dir);
	st->streams_dir = join(dir, "streams");
	lock_path = join(dir, "lock");
	if (st->dir == NULL || st->streams_dir == NULL || lock_path == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (mkdir(st->streams_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", st->streams_dir, strerror(errno));
		goto out;
	}
	st->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", lock_path, strerror(errno));
		goto out;
	}
	/* Two servers resuming the same streams would apply every change twice
	 * over; the kernel drops the lock with the process, even on SIGKILL. */
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "state directory %s is in use by another dbs-server (%s)", dir,
		         errno == EWOULDBLOCK ? "locked" : strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(lock_path);
	if (rc != 0)
		srv_state_close(st);
	return rc;
}

void srv_state_close(srv_state *st)
{
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	st->lock_fd = -1;
	free(st->dir);
	free(st->streams_dir);
	st->dir = NULL;
	st->streams_dir = NULL;
	for (size_t i = 0; i < st->nrefs; i++)
		free(st->refs[i].name);
	free(st->refs);
	st->refs = NULL;
	st->nrefs = st->caprefs = 0;
	pthread_mutex_destroy(&st->lock);
}

/* ---- the records in memory (under st->lock) ---- */

static struct srv_record_ref *ref_find(srv_state *st, const char *id)
{
	for (size_t i = 0; i < st->nrefs; i++)
		if (strcmp(st->refs[i].id, id) == 0)
			return &st->refs[i];
	return NULL;
}

/* Note what the record of `id` says; `name` (may be NULL) is handed over
 * and replaces the one known when `name_known`. -1 when memory ran out. */
static int ref_set(srv_state *st, const char *id, bool ended, char *name, bool name_known)
{
	struct srv_record_ref *r = ref_find(st, id);

	if (r == NULL) {
		if (st->nrefs == st->caprefs) {
			size_t cap = st->caprefs ? st->caprefs * 2 : 32;
			struct srv_record_ref *grown = realloc(st->refs, cap * sizeof *grown);

			if (grown == NULL) {
				free(name);
				return -1;
			}
			st->refs = grown;
			st->caprefs = cap;
		}
		r = &st->refs[st->nrefs++];
		memset(r, 0, sizeof *r);
		snprintf(r->id, sizeof r->id, "%s", id);
	}
	r->ended = ended;
	if (name_known) {
		free(r->name);
		r->name = name;
	} else {
		free(name);
	}
	return 0;
}

static void ref_remove(srv_state *st, const char *id)
{
	struct srv_record_ref *r = ref_find(st, id);

	if (r == NULL)
		return;
	free(r->name);
	*r = st->refs[--st->nrefs];
}

static int by_ref_id(const void *a, const void *b)
{
	return strcmp(((const struct srv_record_ref *)a)->id, ((const struct srv_record_ref *)b)->id);
}

static void remove_file(const char *dir, const char *name, const char *why);

/* Ended records beyond the newest SRV_STATE_KEEP_ENDED go, files and all:
 * a server that runs for months keeps a bounded directory. */
static void prune_ended(srv_state *st)
{
	size_t ended = 0;

	for (size_t i = 0; i < st->nrefs; i++)
		ended += st->refs[i].ended;
	if (ended <= SRV_STATE_KEEP_ENDED)
		return;
	/* KSUIDs sort by time: the oldest first. */
	qsort(st->refs, st->nrefs, sizeof *st->refs, by_ref_id);
	for (size_t i = 0; i < st->nrefs && ended > SRV_STATE_KEEP_ENDED;) {
		char name[ID_LEN + 6];

		if (!st->refs[i].ended) {
			i++;
			continue;
		}
		snprintf(name, sizeof name, "%s.json", st->refs[i].id);
		remove_file(st->streams_dir, name, "old ended stream");
		free(st->refs[i].name);
		memmove(&st->refs[i], &st->refs[i + 1], (st->nrefs - i - 1) * sizeof *st->refs);
		st->nrefs--;
		ended--;
	}
}

int srv_state_find_name(srv_state *st, const char *name, char id[28])
{
	int found = 0;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->nrefs; i++) {
		const struct srv_record_ref *r = &st->refs[i];

		/* KSUIDs sort by time: a later one is a newer stream. */
		if (r->name != NULL && strcmp(r->name, name) == 0 && (!found || strcmp(r->id, id) > 0)) {
			memcpy(id, r->id, ID_LEN + 1);
			found = 1;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return found;
}

int srv_state_claim_name(srv_state *st, const char *name, const char id[28])
{
	char *copy = strdup(name);
	int rc;

	if (copy == NULL)
		return -1;
	pthread_mutex_lock(&st->lock);
	rc = ref_set(st, id, false, copy, true);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* The top-level "name" of a parsed configuration, copied; NULL: none. */
static char *config_name(const cJSON *config)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(config, "name");

	return cJSON_IsString(n) && n->valuestring[0] != '\0' ? strdup(n->valuestring) : NULL;
}

static void now_rfc3339(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "0001-01-01T00:00:00Z");
}

static char *record_render(const char *id, const char *config, size_t len, const char *hub,
                           const srv_state_end *end, char **name)
{
	cJSON *rec = cJSON_CreateObject();
	/* The library accepted this configuration, so it is shallow; the
	 * check costs nothing and keeps this parser safe on its own. */
	cJSON *cfg = dbs_json_check_depth(config, len) == 0 ? cJSON_ParseWithLength(config, len) : NULL;
	char *out = NULL;
	char at[32];

	*name = NULL;
	if (rec == NULL || cfg == NULL)
		goto out;
	*name = config_name(cfg);
	if (hub != NULL && cJSON_AddStringToObject(rec, "hub", hub) == NULL)
		goto out;
	if (cJSON_AddNumberToObject(rec, "format", STATE_FORMAT) == NULL ||
	    cJSON_AddStringToObject(rec, "id", id) == NULL ||
	    cJSON_AddStringToObject(rec, "state", end ? "ended" : "running") == NULL)
		goto out;
	if (end != NULL) {
		now_rfc3339(at, sizeof at);
		if (cJSON_AddStringToObject(rec, "ended", end->ended) == NULL ||
		    cJSON_AddStringToObject(rec, "source", dbs_status_name(end->source)) == NULL ||
		    cJSON_AddStringToObject(rec, "target", dbs_status_name(end->target)) == NULL ||
		    cJSON_AddStringToObject(rec, "at", at) == NULL)
			goto out;
	}
	cJSON_AddItemToObject(rec, "config", cfg);
	cfg = NULL;
	out = cJSON_Print(rec);
out:
	cJSON_Delete(cfg);
	cJSON_Delete(rec);
	return out;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int srv_state_save(srv_state *st, const char *id, const char *config, size_t len,
                   const char *hub, const srv_state_end *end, char *err, size_t errlen)
{
	char path[4096], tmp[4096];
	char *name = NULL;
	char *text = record_render(id, config, len, hub, end, &name);
	int fd = -1, dfd = -1;
	int rc = -1;
	int n1 = snprintf(path, sizeof path, "%s/%s.json", st->streams_dir, id);
	/* A name of its own per write: a DELETE and the watcher may record the
	 * same stream's end at once. */
	int n2 = snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX.tmp", st->streams_dir, id);

	if (text == NULL) {
		snprintf(err, errlen, "state of stream %s: cannot render the record", id);
		goto out;
	}
	if (n1 < 0 || (size_t)n1 >= sizeof path || n2 < 0 || (size_t)n2 >= sizeof tmp) {
		snprintf(err, errlen, "state of stream %s: path too long", id);
		goto out;
	}
	/* mkstemps creates the file with mode 0600. */
	fd = mkstemps(tmp, 4);
	if (fd < 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	/* The rename itself survives a power cut only once the directory is
	 * on disk. */
	dfd = open(st->streams_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		snprintf(err, errlen, "cannot sync %s: %s", st->streams_dir, strerror(errno));
		goto out;
	}
	rc = 0;
	pthread_mutex_lock(&st->lock);
	/* Out of memory here only loses a name until the next start. */
	ref_set(st, id, end != NULL, name, true);
	name = NULL;
	if (end != NULL)
		prune_ended(st);
	pthread_mutex_unlock(&st->lock);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (dfd >= 0)
		close(dfd);
	free(name);
	free(text);
	return rc;
}

/* "<27 base62 characters>.json" */
static bool record_name(const char *name, char id[ID_LEN + 1])
{
	size_t len = strlen(name);

	if (len != ID_LEN + 5 || strcmp(name + ID_LEN, ".json") != 0)
		return false;
	memcpy(id, name, ID_LEN);
	id[ID_LEN] = '\0';
	return dbs_ksuid_check(id) == 0;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	/* Only regular files of this directory: no link out of it, and no
	 * FIFO to block on. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	FILE *f = NULL;
	char *buf = NULL;
	size_t used;

	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		close(fd);
		goto fail;
	}
	f = fdopen(fd, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		goto fail;
	}
	buf = malloc(RECORD_MAX + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	used = fread(buf, 1, RECORD_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "read error");
		goto fail;
	}
	if (used > RECORD_MAX) {
		snprintf(err, errlen, "larger than %d bytes", RECORD_MAX);
		goto fail;
	}
	fclose(f);
	buf[used] = '\0';
	*len = used;
	return buf;
fail:
	if (f != NULL)
		fclose(f);
	free(buf);
	return NULL;
}

typedef struct record {
	char id[ID_LEN + 1];
	bool running;
	char *config; /* running records only */
	char *name;   /* the configuration's "name"; NULL: none */
	char hub[8];  /* "memory", "nats", or "" when not recorded */
} record;

/*
 * Parse one record. 0 with *rec filled, or -1 with the reason in err.
 */
static int record_parse(const char *id, const char *text, size_t len, record *rec, char *err,
                        size_t errlen)
{
	/* A file edited by hand must not crash the server at start. */
	cJSON *j = dbs_json_check_depth(text, len) == 0 ? cJSON_ParseWithLength(text, len) : NULL;
	const cJSON *format = cJSON_GetObjectItemCaseSensitive(j, "format");
	const cJSON *rid = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "state");
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(j, "config");
	const cJSON *hub = cJSON_GetObjectItemCaseSensitive(j, "hub");
	int rc = -1;

	memset(rec, 0, sizeof *rec);
	if (!cJSON_IsObject(j)) {
		snprintf(err, errlen, "not a JSON object (corrupt file?)");
		goto out;
	}
	if (hub != NULL && (!cJSON_IsString(hub) || (strcmp(hub->valuestring, "memory") != 0 &&
	                                             strcmp(hub->valuestring, "nats") != 0))) {
		snprintf(err, errlen, "\"hub\" is neither \"memory\" nor \"nats\"");
		goto out;
	}
	if (!cJSON_IsNumber(format) || format->valuedouble != STATE_FORMAT) {
		snprintf(err, errlen, "\"format\" is missing or not %d", STATE_FORMAT);
		goto out;
	}
	if (!cJSON_IsString(rid) || strcmp(rid->valuestring, id) != 0) {
		snprintf(err, errlen, "\"id\" does not match the file name");
		goto out;
	}
	if (!cJSON_IsString(state) ||
	    (strcmp(state->valuestring, "running") != 0 && strcmp(state->valuestring, "ended") != 0)) {
		snprintf(err, errlen, "\"state\" is neither \"running\" nor \"ended\"");
		goto out;
	}
	if (!cJSON_IsObject(config)) {
		snprintf(err, errlen, "\"config\" is missing or not an object");
		goto out;
	}
	memcpy(rec->id, id, sizeof rec->id);
	rec->running = strcmp(state->valuestring, "running") == 0;
	rec->name = config_name(config);
	if (hub != NULL)
		snprintf(rec->hub, sizeof rec->hub, "%s", hub->valuestring);
	if (rec->running) {
		rec->config = cJSON_PrintUnformatted(config);
		if (rec->config == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0) {
		free(rec->name);
		rec->name = NULL;
	}
	cJSON_Delete(j);
	return rc;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const record *)a)->id, ((const record *)b)->id);
}

static void remove_file(const char *dir, const char *name, const char *why)
{
	char *path = join(dir, name);

	if (path != NULL && unlink(path) == 0)
		srv_log(DBS_LOG_DEBUG, "state: removed %s (%s)", path, why);
	else if (path != NULL)
		srv_log(DBS_LOG_WARN, "state: cannot remove %s: %s", path, strerror(errno));
	free(path);
}

int srv_state_load(srv_state *st, srv_state_resume_fn fn, void *user_data)
{
	DIR *d = opendir(st->streams_dir);
	record *recs = NULL;
	size_t n = 0, cap = 0, ended = 0;
	int skipped = 0;
	struct dirent *de;

	if (d == NULL) {
		srv_log(DBS_LOG_ERROR, "state: cannot list %s: %s", st->streams_dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char id[ID_LEN + 1];
		char err[512];
		char *path, *text;
		size_t len = 0;
		size_t nl = strlen(de->d_name);

		if (de->d_name[0] == '.' && nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0) {
			/* A write the previous process did not finish: its old record
			 * (if any) is still whole under the real name. */
			remove_file(st->streams_dir, de->d_name, "unfinished write");
			continue;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!record_name(de->d_name, id)) {
			srv_log(DBS_LOG_WARN, "state: ignoring %s/%s: not a stream record (<id>.json)",
			        st->streams_dir, de->d_name);
			continue;
		}
		path = join(st->streams_dir, de->d_name);
		text = path ? read_file(path, &len, err, sizeof err) : NULL;
		if (path == NULL)
			snprintf(err, sizeof err, "out of memory");
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			record *grown = realloc(recs, ncap * sizeof *recs);

			if (grown == NULL) {
				snprintf(err, sizeof err, "out of memory");
				free(text);
				text = NULL;
			} else {
				recs = grown;
				cap = ncap;
			}
		}
		if (text == NULL || n == cap ||
		    record_parse(id, text, len, &recs[n], err, sizeof err) != 0) {
			srv_log(DBS_LOG_ERROR, "state: stream %s skipped: %s: %s", id,
			        path ? path : de->d_name, err);
			skipped++;
		} else {
			n++;
		}
		free(text);
		free(path);
	}
	closedir(d);
	if (n > 0)
		qsort(recs, n, sizeof *recs, by_id);
	/* KSUIDs sort by time: the newest ended records are at the end. */
	pthread_mutex_lock(&st->lock);
	for (size_t i = n; i-- > 0;) {
		if (!recs[i].running && ++ended > SRV_STATE_KEEP_ENDED) {
			char name[ID_LEN + 6];

			snprintf(name, sizeof name, "%s.json", recs[i].id);
			remove_file(st->streams_dir, name, "old ended stream");
			ref_remove(st, recs[i].id);
			continue;
		}
		if (ref_set(st, recs[i].id, !recs[i].running, recs[i].name, true) != 0)
			srv_log(DBS_LOG_WARN, "state: out of memory: stream %s cannot be found by name",
			        recs[i].id);
		recs[i].name = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	for (size_t i = 0; i < n; i++) {
		if (recs[i].running)
			fn(recs[i].id, recs[i].config, strlen(recs[i].config),
			   recs[i].hub[0] ? recs[i].hub : NULL, user_data);
		free(recs[i].config);
		free(recs[i].name);
	}
	free(recs);
	return skipped;
}
