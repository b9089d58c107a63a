/*
 * dbs-server roles over NATS: the control stream, node reports, and the
 * API node's combined view (cluster.h).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <nats/nats.h>

#include "cluster.h"
#include "log.h"

#define CONTROL_STREAM "DBS_CONTROL"
#define CONTROL_SUBJECTS "dbs.control.*"
#define REPORT_SUBJECTS "dbs.*.stat.*"
#define MAX_REPORTS 512
/* A report older than this no longer counts as the node being there. */
#define REPORT_EVERY_MS 1000

typedef struct report {
	char id[28];
	char node[64];
	int is_source;
	unsigned partition;
	dbs_node_stat stat;
	dbs_conn_stat conn, hub;        /* the part's node's and its hub's connections */
	uint64_t lag_bytes;             /* source parts */
	int64_t lag_ns, last_commit_ns; /* target parts */
	uint64_t dead_letters;          /* target parts */
	int stalled;                    /* the part's stall watch says so */
	int64_t stalled_since_ns;
	char *config; /* source reports: the masked configuration */
} report;

struct srv_cluster {
	srv_cluster_options opts;
	char node[64];
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *control_sub, *report_sub;
	pthread_t reporter;
	int reporter_started;
	volatile int stopping; /* guarded by lock */
	pthread_mutex_t lock;  /* guards reports, nreports, stopping */
	pthread_cond_t wake;
	report reports[MAX_REPORTS];
	size_t nreports;
};

static void nats_fail(char *err, size_t errlen, const char *what, natsStatus s)
{
	const char *detail = nats_GetLastError(NULL);
	snprintf(err, errlen, "nats: %s: %s%s%s", what, natsStatus_GetText(s), detail ? ": " : "",
	         detail ? detail : "");
}

static int status_from_name(const char *name)
{
	for (int st = DBS_STATUS_READY; st <= DBS_STATUS_INIT_FAILED; st++)
		if (strcmp(dbs_status_name((dbs_status)st), name) == 0)
			return st;
	return DBS_STATUS_UNKNOWN_ERROR;
}

/* ---- nodes: follow the control stream, run parts, report ---- */

typedef struct stop_job {
	srv_cluster *c;
	srv_entry *entry;
} stop_job;

static void *stop_thread(void *arg)
{
	stop_job *job = arg;
	srv_log(DBS_LOG_INFO, "stream %s: deleted, stopping the source part", job->entry->id);
	dbs_stream_stop(srv_entry_stream(job->entry));
	srv_streams_release(job->c->opts.streams, job->entry);
	free(job);
	return NULL;
}

static void start_part(srv_cluster *c, const char *id, const char *config)
{
	srv_entry *existing = srv_streams_acquire(c->opts.streams, id);
	if (existing) {
		srv_streams_release(c->opts.streams, existing);
		return;
	}
	srv_entry *entry = srv_entry_new();
	if (!entry)
		return;
	memcpy(entry->id, id, 27);
	entry->id[27] = '\0';
	dbs_stream_options o = DBS_STREAM_OPTIONS_INIT;
	o.log = srv_log_stream;
	o.log_user_data = entry->id;
	o.log_level = srv_log_level();
	o.stream_id = entry->id;
	o.default_hub = "nats";
	o.default_hub_url = c->opts.url;
	o.default_hub_credentials = c->opts.creds;
	o.default_hub_tls_ca = c->opts.ca;
	o.part = c->opts.role == SRV_ROLE_SOURCE ? DBS_PART_SOURCE : DBS_PART_TARGET;
	o.partition = c->opts.partition;
	dbs_stream *stream = NULL;
	if (dbs_stream_create(&stream, config, strlen(config), &o) != 0) {
		srv_log(DBS_LOG_ERROR, "stream %s: refused: %s", id, dbs_error_last());
		srv_entry_discard(entry);
		return;
	}
	atomic_store(&entry->stream, stream);
	entry->start = SRV_STARTED;
	if (srv_streams_add(c->opts.streams, entry, 0) != 0) {
		srv_entry_discard(entry);
		return;
	}
	srv_log(DBS_LOG_INFO, "stream %s: %s part started", id,
	        c->opts.role == SRV_ROLE_SOURCE ? "source" : "target");
	srv_streams_release(c->opts.streams, entry);
}

static void delete_part(srv_cluster *c, const char *id)
{
	srv_entry *entry = srv_streams_acquire(c->opts.streams, id);
	if (!entry)
		return;
	/* Writers end by themselves once they drained the end markers the
	 * source part publishes when it stops. */
	if (c->opts.role != SRV_ROLE_SOURCE || srv_streams_mark_stopped(c->opts.streams, entry)) {
		srv_streams_release(c->opts.streams, entry);
		return;
	}
	stop_job *job = malloc(sizeof *job);
	pthread_t t;
	if (!job) {
		srv_streams_release(c->opts.streams, entry);
		return;
	}
	job->c = c;
	job->entry = entry;
	if (pthread_create(&t, NULL, stop_thread, job) != 0) {
		srv_streams_release(c->opts.streams, entry);
		free(job);
		return;
	}
	pthread_detach(t);
}

/* cnats thread: one control message. */
static void on_control(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	srv_cluster *c = closure;
	const char *data = natsMsg_GetData(msg);
	size_t len = (size_t)natsMsg_GetDataLength(msg);
	/* Whoever may publish on the subject could send anything. */
	cJSON *j = dbs_json_check_depth(data, len) == 0 ? cJSON_ParseWithLength(data, len) : NULL;
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "op");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	if (cJSON_IsString(op) && cJSON_IsString(id) && dbs_ksuid_check(id->valuestring) == 0) {
		if (strcmp(op->valuestring, "create") == 0) {
			char *config =
			    cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "config"));
			if (config)
				start_part(c, id->valuestring, config);
			free(config);
		} else if (strcmp(op->valuestring, "delete") == 0) {
			delete_part(c, id->valuestring);
		}
	}
	cJSON_Delete(j);
	natsMsg_Destroy(msg);
}

static cJSON *node_json(const dbs_node_stat *n)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "status", dbs_status_name(n->status));
	cJSON_AddNumberToObject(o, "counter", (double)n->counter);
	cJSON_AddNumberToObject(o, "bytes", (double)n->bytes);
	cJSON_AddNumberToObject(o, "started_ns", (double)n->started_ns);
	cJSON_AddNumberToObject(o, "elapsed_ns", (double)n->elapsed_ns);
	cJSON_AddStringToObject(o, "message", n->message);
	return o;
}

static cJSON *conn_json(const dbs_conn_stat *n)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "reconnects", (double)n->reconnects);
	cJSON_AddBoolToObject(o, "reconnecting", n->reconnecting != 0);
	cJSON_AddNumberToObject(o, "lost_since_ns", (double)n->lost_since_ns);
	cJSON_AddStringToObject(o, "last_error", n->last_error);
	return o;
}

static void report_one(srv_cluster *c, srv_entry *e)
{
	dbs_stat st = DBS_STAT_INIT;
	char subject[160];
	dbs_stream *stream = srv_entry_stream(e);
	if (!stream || dbs_stream_stat(stream, &st) != 0)
		return;
	int is_source = c->opts.role == SRV_ROLE_SOURCE;
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return;
	cJSON_AddStringToObject(j, "id", e->id);
	cJSON_AddStringToObject(j, "node", c->node);
	cJSON_AddStringToObject(j, "part", is_source ? "source" : "target");
	cJSON_AddNumberToObject(j, "partition", c->opts.partition);
	cJSON_AddItemToObject(j, "stat", node_json(is_source ? &st.source : &st.target));
	cJSON_AddItemToObject(j, "conn", conn_json(is_source ? &st.source_conn : &st.target_conn));
	cJSON_AddItemToObject(j, "hub", conn_json(&st.hub_conn));
	cJSON_AddNumberToObject(j, "lag_bytes", (double)st.source_lag_bytes);
	cJSON_AddNumberToObject(j, "lag_ns", (double)st.lag_ns);
	cJSON_AddNumberToObject(j, "last_commit_ns", (double)st.last_commit_ns);
	cJSON_AddNumberToObject(j, "dead_letters", (double)st.target_dead_letters);
	cJSON_AddBoolToObject(j, "stalled", st.stalled != 0);
	cJSON_AddNumberToObject(j, "stalled_since_ns", (double)st.stalled_since_ns);
	char *config = NULL;
	if (is_source && dbs_stream_config_json(&config, stream) == 0) {
		cJSON_AddItemToObject(j, "config", cJSON_Parse(config));
		dbs_free(config);
	}
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	snprintf(subject, sizeof subject, "dbs.%s.stat.%s", e->id, c->node);
	if (text)
		natsConnection_PublishString(c->nc, subject, text);
	free(text);
}

static void *reporter_main(void *arg)
{
	srv_cluster *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += REPORT_EVERY_MS / 1000;
		pthread_cond_timedwait(&c->wake, &c->lock, &ts);
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->lock);
		srv_entry **entries = NULL;
		long n = srv_streams_acquire_all(c->opts.streams, &entries);
		for (long i = 0; i < n; i++)
			report_one(c, entries[i]);
		if (n >= 0)
			srv_streams_release_all(c->opts.streams, entries, n);
		free(entries);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- API node: reports in, combined stat out ---- */

static void read_node(const cJSON *o, dbs_node_stat *n)
{
	const cJSON *v;
	memset(n, 0, sizeof *n);
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "status")) && cJSON_IsString(v))
		n->status = (dbs_status)status_from_name(v->valuestring);
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "counter")) && cJSON_IsNumber(v))
		n->counter = (uint64_t)v->valuedouble;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "bytes")) && cJSON_IsNumber(v))
		n->bytes = (uint64_t)v->valuedouble;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "started_ns")) && cJSON_IsNumber(v))
		n->started_ns = (int64_t)v->valuedouble;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "elapsed_ns")) && cJSON_IsNumber(v))
		n->elapsed_ns = (int64_t)v->valuedouble;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "message")) && cJSON_IsString(v))
		snprintf(n->message, sizeof n->message, "%s", v->valuestring);
}

static void read_conn(const cJSON *o, dbs_conn_stat *n)
{
	const cJSON *v;
	memset(n, 0, sizeof *n);
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "reconnects")) && cJSON_IsNumber(v))
		n->reconnects = (uint64_t)v->valuedouble;
	n->reconnecting = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "reconnecting"));
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "lost_since_ns")) && cJSON_IsNumber(v))
		n->lost_since_ns = (int64_t)v->valuedouble;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "last_error")) && cJSON_IsString(v))
		snprintf(n->last_error, sizeof n->last_error, "%s", v->valuestring);
}

static double number_at(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsNumber(v) && v->valuedouble > 0 ? v->valuedouble : 0;
}

/* Several writers' connections as one: outages add up, one reconnecting
 * is enough, the earliest outage and the first error show. */
static void merge_conn(dbs_conn_stat *into, const dbs_conn_stat *from)
{
	into->reconnects += from->reconnects;
	into->reconnecting |= from->reconnecting;
	if (from->lost_since_ns &&
	    (!into->lost_since_ns || from->lost_since_ns < into->lost_since_ns))
		into->lost_since_ns = from->lost_since_ns;
	if (!into->last_error[0] && from->last_error[0])
		memcpy(into->last_error, from->last_error, sizeof into->last_error);
}

static void on_report(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	srv_cluster *c = closure;
	const char *data = natsMsg_GetData(msg);
	size_t len = (size_t)natsMsg_GetDataLength(msg);
	cJSON *j = dbs_json_check_depth(data, len) == 0 ? cJSON_ParseWithLength(data, len) : NULL;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *node = cJSON_GetObjectItemCaseSensitive(j, "node");
	const cJSON *part = cJSON_GetObjectItemCaseSensitive(j, "part");
	const cJSON *partition = cJSON_GetObjectItemCaseSensitive(j, "partition");
	const cJSON *stat = cJSON_GetObjectItemCaseSensitive(j, "stat");
	if (!cJSON_IsString(id) || dbs_ksuid_check(id->valuestring) != 0 || !cJSON_IsString(node) ||
	    !cJSON_IsString(part) || !cJSON_IsObject(stat))
		goto done;
	int is_source = strcmp(part->valuestring, "source") == 0;
	char *config = NULL;
	if (is_source)
		config = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "config"));
	pthread_mutex_lock(&c->lock);
	size_t i = 0;
	while (i < c->nreports &&
	       !(strcmp(c->reports[i].id, id->valuestring) == 0 &&
	         strcmp(c->reports[i].node, node->valuestring) == 0 &&
	         c->reports[i].is_source == is_source))
		i++;
	if (i == c->nreports && c->nreports < MAX_REPORTS) {
		memset(&c->reports[i], 0, sizeof c->reports[i]);
		c->nreports++;
	}
	if (i < c->nreports) {
		report *r = &c->reports[i];
		snprintf(r->id, sizeof r->id, "%s", id->valuestring);
		snprintf(r->node, sizeof r->node, "%s", node->valuestring);
		r->is_source = is_source;
		r->partition = cJSON_IsNumber(partition) ? (unsigned)partition->valuedouble : 0;
		read_node(stat, &r->stat);
		read_conn(cJSON_GetObjectItemCaseSensitive(j, "conn"), &r->conn);
		read_conn(cJSON_GetObjectItemCaseSensitive(j, "hub"), &r->hub);
		r->lag_bytes = (uint64_t)number_at(j, "lag_bytes");
		r->lag_ns = (int64_t)number_at(j, "lag_ns");
		r->last_commit_ns = (int64_t)number_at(j, "last_commit_ns");
		r->dead_letters = (uint64_t)number_at(j, "dead_letters");
		r->stalled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stalled"));
		r->stalled_since_ns = (int64_t)number_at(j, "stalled_since_ns");
		if (config) {
			free(r->config);
			r->config = config;
			config = NULL;
		}
	}
	pthread_mutex_unlock(&c->lock);
	free(config);
done:
	cJSON_Delete(j);
	natsMsg_Destroy(msg);
}

static int rank(dbs_status s)
{
	/* Which status wins when writers disagree: a failure shows first,
	 * then work in progress, then the ends. */
	switch (s) {
	case DBS_STATUS_INIT_FAILED: return 9;
	case DBS_STATUS_FAILED: return 8;
	case DBS_STATUS_UNKNOWN_ERROR: return 7;
	case DBS_STATUS_RUNNING: return 6;
	case DBS_STATUS_READY: return 5;
	default: return 1;
	}
}

int srv_cluster_stat(srv_cluster *c, const char *id, dbs_stat *stat)
{
	int found = 0, writers = 0;
	dbs_stat empty = DBS_STAT_INIT;
	unsigned version = stat->version;
	*stat = empty;
	stat->version = version;
	snprintf(stat->stream_id, sizeof stat->stream_id, "%s", id);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nreports; i++) {
		const report *r = &c->reports[i];
		if (strcmp(r->id, id) != 0)
			continue;
		found = 1;
		merge_conn(&stat->hub_conn, &r->hub);
		/* One part stalled stalls the stream, since the earliest. */
		if (r->stalled) {
			if (!stat->stalled || !stat->stalled_since_ns ||
			    (r->stalled_since_ns && r->stalled_since_ns < stat->stalled_since_ns))
				stat->stalled_since_ns = r->stalled_since_ns;
			stat->stalled = 1;
		}
		if (r->is_source) {
			stat->source = r->stat;
			stat->source_conn = r->conn;
			stat->source_lag_bytes = r->lag_bytes;
			continue;
		}
		merge_conn(&stat->target_conn, &r->conn);
		if (r->lag_ns > stat->lag_ns)
			stat->lag_ns = r->lag_ns;
		if (r->last_commit_ns > stat->last_commit_ns)
			stat->last_commit_ns = r->last_commit_ns;
		stat->target_dead_letters += r->dead_letters;
		dbs_node_stat *t = &stat->target;
		if (!writers++ || rank(r->stat.status) > rank(t->status) ||
		    (rank(r->stat.status) == rank(t->status) && r->stat.status != t->status &&
		     r->stat.status == DBS_STATUS_STOPPED))
			t->status = r->stat.status;
		t->counter += r->stat.counter;
		t->bytes += r->stat.bytes;
		if (r->stat.started_ns && (!t->started_ns || r->stat.started_ns < t->started_ns))
			t->started_ns = r->stat.started_ns;
		if (r->stat.elapsed_ns > t->elapsed_ns)
			t->elapsed_ns = r->stat.elapsed_ns;
		if (!t->message[0] && r->stat.message[0])
			snprintf(t->message, sizeof t->message, "%s: %s", r->node, r->stat.message);
	}
	pthread_mutex_unlock(&c->lock);
	return found ? 0 : -1;
}

char *srv_cluster_config(srv_cluster *c, const char *id)
{
	char *config = NULL;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nreports && !config; i++)
		if (c->reports[i].is_source && strcmp(c->reports[i].id, id) == 0 &&
		    c->reports[i].config)
			config = strdup(c->reports[i].config);
	pthread_mutex_unlock(&c->lock);
	return config;
}

static int publish_control(srv_cluster *c, const char *id, cJSON *j, char *err, size_t errlen)
{
	char subject[64];
	int rc = -1;
	char *text = cJSON_PrintUnformatted(j);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(subject, sizeof subject, "dbs.control.%s", id);
	jsPubAck *ack = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_Publish(&ack, c->js, subject, text, (int)strlen(text), NULL, &jerr);
	jsPubAck_Destroy(ack);
	if (s != NATS_OK)
		nats_fail(err, errlen, "publish on the control stream", s);
	else
		rc = 0;
	free(text);
	return rc;
}

int srv_cluster_create(srv_cluster *c, const char *id, const char *config, size_t len, char *err,
                       size_t errlen)
{
	cJSON *j = cJSON_CreateObject();
	/* Validated by the library before it gets here, so shallow. */
	cJSON *cfg = dbs_json_check_depth(config, len) == 0 ? cJSON_ParseWithLength(config, len) : NULL;
	int rc = -1;
	if (!j || !cfg) {
		snprintf(err, errlen, "out of memory");
		cJSON_Delete(cfg);
		goto done;
	}
	cJSON_AddStringToObject(j, "op", "create");
	cJSON_AddStringToObject(j, "id", id);
	cJSON_AddItemToObject(j, "config", cfg);
	rc = publish_control(c, id, j, err, errlen);
done:
	cJSON_Delete(j);
	return rc;
}

int srv_cluster_delete(srv_cluster *c, const char *id, char *err, size_t errlen)
{
	cJSON *j = cJSON_CreateObject();
	int rc = -1;
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cJSON_AddStringToObject(j, "op", "delete");
	cJSON_AddStringToObject(j, "id", id);
	rc = publish_control(c, id, j, err, errlen);
	cJSON_Delete(j);
	return rc;
}

/* ---- lifecycle ---- */

static int ensure_control_stream(srv_cluster *c, char *err, size_t errlen)
{
	jsStreamConfig sc;
	const char *subjects[1] = {CONTROL_SUBJECTS};
	jsStreamConfig_Init(&sc);
	sc.Name = CONTROL_STREAM;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	/* The last word on each stream (create, then delete) is all a node
	 * joining later needs. */
	sc.MaxMsgsPerSubject = 1;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_AddStream(&si, c->js, &sc, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK && jerr != JSStreamNameExistErr) {
		nats_fail(err, errlen, "create the control stream", s);
		return -1;
	}
	return 0;
}

int srv_cluster_start(srv_cluster **out, const srv_cluster_options *opts, char *err, size_t errlen)
{
	srv_cluster *c = calloc(1, sizeof *c);
	natsOptions *no = NULL;
	natsStatus s;
	*out = NULL;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->opts = *opts;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	snprintf(c->node, sizeof c->node, "%s", opts->node);
	s = natsOptions_Create(&no);
	if (s == NATS_OK)
		s = natsOptions_SetURL(no, opts->url);
	if (s == NATS_OK && opts->creds)
		s = natsOptions_SetUserCredentialsFromFiles(no, opts->creds, NULL);
	if (s == NATS_OK && opts->ca)
		s = natsOptions_SetSecure(no, true);
	if (s == NATS_OK && opts->ca)
		s = natsOptions_LoadCATrustedCertificates(no, opts->ca);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(no, -1);
	if (s == NATS_OK)
		s = natsConnection_Connect(&c->nc, no);
	natsOptions_Destroy(no);
	if (s != NATS_OK) {
		nats_fail(err, errlen, "connect", s);
		goto fail;
	}
	if ((s = natsConnection_JetStream(&c->js, c->nc, NULL)) != NATS_OK) {
		nats_fail(err, errlen, "JetStream context", s);
		goto fail;
	}
	if (ensure_control_stream(c, err, errlen) != 0)
		goto fail;
	if (opts->role == SRV_ROLE_API) {
		s = natsConnection_Subscribe(&c->report_sub, c->nc, REPORT_SUBJECTS, on_report, c);
		if (s != NATS_OK) {
			nats_fail(err, errlen, "subscribe to node reports", s);
			goto fail;
		}
	} else {
		jsSubOptions so;
		jsErrCode jerr = 0;
		jsSubOptions_Init(&so);
		so.Stream = CONTROL_STREAM;
		so.Config.DeliverPolicy = js_DeliverLastPerSubject;
		so.Config.AckPolicy = js_AckNone;
		s = js_Subscribe(&c->control_sub, c->js, CONTROL_SUBJECTS, on_control, c, NULL, &so,
		                 &jerr);
		if (s != NATS_OK) {
			nats_fail(err, errlen, "follow the control stream", s);
			goto fail;
		}
		if (pthread_create(&c->reporter, NULL, reporter_main, c) != 0) {
			snprintf(err, errlen, "cannot start the report thread");
			goto fail;
		}
		c->reporter_started = 1;
	}
	*out = c;
	return 0;
fail:
	srv_cluster_stop(c);
	return -1;
}

/* A node shutting down: a source node's streams end (as DELETE ends them,
 * so the API node, the writers and a later start of this node agree on
 * it); either node stops its parts and sends their last reports. */
static void stop_parts(srv_cluster *c)
{
	srv_entry **entries = NULL;
	char err[256];
	long n = srv_streams_acquire_all(c->opts.streams, &entries);
	for (long i = 0; i < n; i++) {
		srv_entry *e = entries[i];
		dbs_stream *stream = srv_entry_stream(e);
		if (!stream)
			continue;
		if (c->opts.role == SRV_ROLE_SOURCE && srv_cluster_delete(c, e->id, err, sizeof err) != 0)
			srv_log(DBS_LOG_WARN, "stream %s: %s", e->id, err);
		dbs_stream_stop(stream);
		report_one(c, e);
	}
	if (n >= 0)
		srv_streams_release_all(c->opts.streams, entries, n);
	free(entries);
	natsConnection_FlushTimeout(c->nc, 2000);
}

void srv_cluster_stop(srv_cluster *c)
{
	if (!c)
		return;
	if (c->control_sub) {
		natsSubscription_Unsubscribe(c->control_sub);
		natsSubscription_Destroy(c->control_sub);
		c->control_sub = NULL;
		stop_parts(c);
	}
	if (c->report_sub) {
		natsSubscription_Unsubscribe(c->report_sub);
		natsSubscription_Destroy(c->report_sub);
	}
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->lock);
	if (c->reporter_started)
		pthread_join(c->reporter, NULL);
	jsCtx_Destroy(c->js);
	if (c->nc) {
		natsConnection_Close(c->nc);
		natsConnection_Destroy(c->nc);
	}
	for (size_t i = 0; i < c->nreports; i++)
		free(c->reports[i].config);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
