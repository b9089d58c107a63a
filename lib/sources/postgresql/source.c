/*
 * PostgreSQL source: logical replication with pgoutput (protocol version 2,
 * streaming on) over a libpq replication connection.
 *
 * Two connections: `repl` (replication=database) carries the COPY stream;
 * `sql` is an ordinary session for setup and for reading a relation's
 * catalog once per Relation message (never per event).
 *
 * Positions. Every event of a transaction has pos.txn = its commit LSN and
 * pos.event = its 1-based index among the transaction's emitted events.
 * Only the last event of a transaction has txn_end = 1 and pos.resume =
 * the commit's end LSN; earlier ones have resume = 0. To know which event
 * is last, a batch that is full is emitted only when the next event
 * arrives, and the batch is emitted at every Commit, so a batch holds
 * events of one transaction only.
 *
 * Images. INSERT: after. UPDATE: after = new tuple; before = the old tuple
 * when the server sends one ('K': key columns only, the others NULL; 'O':
 * the whole old row), else before = NULL: the key did not change, and the
 * after image's key columns identify the row. DELETE: before = key or old
 * row. A TOASTed value the server did not send is DBS_VALUE_UNCHANGED.
 *
 * Streamed transactions (streaming 'on'): the changes of a large
 * in-progress transaction arrive in stream blocks before it commits. They
 * are buffered in memory per top-level xid and emitted at Stream Commit
 * with the commit's positions, or dropped at Stream Abort (only the
 * subtransaction's changes when subxid != xid). Each transaction keeps at
 * most STREAM_MEMORY_MAX bytes in memory; beyond, its messages go to an
 * unlinked temporary file (in $TMPDIR, else /tmp), read back in order at
 * Stream Commit: the memory of a source does not grow with the size of
 * the transactions it reads.
 *
 * TRUNCATE is not replicated: a publication this source creates publishes
 * insert, update and delete only; Truncate messages from an existing
 * publication that includes it are ignored with a warning.
 *
 * Confirmation. ack() records the resume LSN of acked transaction ends;
 * run() reports it as write/flush/apply in standby status updates. When
 * every emitted event is acked and no transaction is open, the end of the
 * last transaction that produced no event (filtered out) or the
 * keepalive's WAL end is confirmed instead, so an idle or filtered source
 * does not make the server keep WAL forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <dbstreams/sys/buf.h>

#include "core/core.h"
#include "sources/postgresql/pgoutput.h"

#define POLL_MS 100
/* Bytes of one streamed transaction held in memory before it spills. */
#define STREAM_MEMORY_MAX ((size_t)4 << 20)
/* Room for one identifier (PostgreSQL truncates them to 63 bytes). */
#define NAMEDATALEN_MAX 128
#define STATUS_INTERVAL_NS INT64_C(1000000000)
/* A lost replication connection is retried with exponential backoff from
 * the first delay, doubling up to the longest, until the give-up time
 * (reconnect.giveUpAfter) has passed since the loss. */
/* While emit() blocks on a full hub, the keepalive thread sends a status
 * update this often, well inside the default wal_sender_timeout (60 s),
 * so the walsender does not drop a connection that is only waiting; a
 * server with a shorter timeout gets one every third of it. */
#define KEEPALIVE_NS INT64_C(10000000000)
#define KEEPALIVE_MIN_NS INT64_C(200000000)

/* Output settings of the walsender session, so values arrive in one
 * canonical text form whatever the server's configuration. */
#define SESSION_OPTIONS                                                                            \
	"-c bytea_output=hex -c DateStyle=ISO -c IntervalStyle=postgres "                          \
	"-c extra_float_digits=3 -c TimeZone=UTC"

typedef struct filter_entry {
	char *schema;
	char *name;
	unsigned operations;
} filter_entry;

typedef struct rel_entry {
	uint32_t relid;
	dbs_table *table;    /* one reference held by the cache */
	unsigned operations; /* allowed ops; 0: filtered out */
} rel_entry;

/* Buffered messages of one streamed transaction: records of
 * [u32 subxid][u32 len][len bytes], subxid 0 for records an aborted
 * subtransaction must not drop (Relation, Type). The older records are in
 * `spill` (NULL until the memory part first overflowed), the newer ones
 * in `buf`. */
typedef struct stream_txn {
	uint32_t xid;
	dbs_buf mem;
	FILE *spill;
	uint64_t spilled; /* bytes in spill */
} stream_txn;

typedef struct pg_source {
	dbs_source base; /* first */
	const dbs_host *host;
	PGconn *repl, *sql;
	uint32_t bundle;
	filter_entry *filter;
	uint32_t nfilter;

	rel_entry *rels;
	size_t nrels, rels_cap;

	dbs_batch *batch; /* events not yet emitted (one transaction's) */
	dbs_emit_fn emit;
	void *emit_data;
	int stop; /* emit returned 1 */

	/* The transaction being decoded. */
	int in_txn;
	uint64_t commit_lsn;
	int64_t commit_time_us;
	uint32_t xid;
	uint32_t nevents;

	int in_stream;
	uint32_t stream_xid;
	stream_txn *streams;
	size_t nstreams, streams_cap;
	dbs_buf spill_rec; /* one spilled record read back */

	int truncate_warned;

	/* Written by ack() on the target thread, read by run(). */
	_Atomic uint64_t acked;
	uint64_t emitted_resume; /* resume LSN of the last emitted txn end */
	uint64_t idle_lsn;       /* confirmable when everything emitted is acked */
	uint64_t sent_flush;     /* guarded by repl_lock */
	int64_t last_status_ns;  /* guarded by repl_lock */
	/* The server's WAL end as the stream reports it (XLogData and
	 * keepalive headers), for the slot lag; run thread. */
	uint64_t wal_end;

	/* For reconnecting: borrowed from the configuration, which outlives
	 * the source. */
	const dbs_source_config *config;
	const char *slot, *pub;

	/* Keepalive while emit() blocks. repl_lock guards every libpq call on
	 * `repl` and the fields marked so; the run thread never holds it
	 * across emit(). */
	pthread_mutex_t repl_lock;
	pthread_cond_t ka_cond;        /* with repl_lock: wakes the keepalive thread to quit */
	int ka_quit;                   /* guarded by repl_lock */
	_Atomic int64_t emit_since_ns; /* 0 when not inside emit() */
	int sync_ready;                /* the mutex and condition exist */
	int64_t keepalive_ns;          /* status update period while inside emit() */
} pg_source;

static void slog(pg_source *s, dbs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void slog(pg_source *s, dbs_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	if (!s->host || !s->host->log)
		return;
	va_start(ap, fmt);
	dbs__vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	s->host->log(s->host, level, "%s", line);
}

/* libpq's message without its trailing newline. */
static void pq_err(char *err, size_t errlen, const char *what, PGconn *conn)
{
	const char *m = conn ? PQerrorMessage(conn) : "out of memory";
	size_t n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	if (n == 0) /* a walsender ending at shutdown leaves no message */
		dbs__fmt(err, errlen, "%s: the server closed the connection", what);
	else
		dbs__fmt(err, errlen, "%s: %.*s", what, (int)n, m);
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* ---- filter ---- */

static int filter_copy(pg_source *s, const dbs_source_config *config)
{
	int rc = DBS_ENOMEM;
	if (config->ntables && !(s->filter = calloc(config->ntables, sizeof *s->filter)))
		goto fail;
	for (uint32_t i = 0; i < config->ntables; i++) {
		const char *n = config->tables[i].name ? config->tables[i].name : "";
		const char *dot = strchr(n, '.');
		filter_entry *f = &s->filter[s->nfilter++];
		f->schema = dot ? dupn(n, (size_t)(dot - n)) : dupn("public", 6);
		f->name = dot ? dupn(dot + 1, strlen(dot + 1)) : dupn(n, strlen(n));
		f->operations = config->tables[i].operations;
		if (!f->schema || !f->name)
			goto fail;
	}
	rc = 0;
fail:
	return rc;
}

static unsigned filter_ops(const pg_source *s, const dbs_pgo_str *nsp, const dbs_pgo_str *rel)
{
	if (s->nfilter == 0)
		return DBS_OPS_ALL;
	for (uint32_t i = 0; i < s->nfilter; i++) {
		const filter_entry *f = &s->filter[i];
		if (strlen(f->schema) == nsp->len && memcmp(f->schema, nsp->s, nsp->len) == 0 &&
		    strlen(f->name) == rel->len && memcmp(f->name, rel->s, rel->len) == 0)
			return f->operations;
	}
	return 0;
}

/* ---- relation cache ---- */

/* Linear: a stream follows few tables, and the last hit is usually next. */
static rel_entry *rel_find(pg_source *s, uint32_t relid)
{
	for (size_t i = 0; i < s->nrels; i++)
		if (s->rels[i].relid == relid)
			return &s->rels[i];
	return NULL;
}

/* Append `str` (`n` bytes) to `b`; with `quote` as an element of a text[]
 * literal: "..." with " and \ escaped. */
static int arr_put(dbs_buf *b, const char *str, size_t n, int quote)
{
	if (n > (SIZE_MAX - 3) / 2 || dbs_buf_reserve(b, 2 * n + 2))
		return DBS_ENOMEM;
	char *d = b->data + b->len;
	if (quote)
		*d++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (quote && (str[i] == '"' || str[i] == '\\'))
			*d++ = '\\';
		*d++ = str[i];
	}
	if (quote)
		*d++ = '"';
	*d = '\0';
	b->len = (size_t)(d - b->data);
	return 0;
}

static int same_table(const dbs_table *t, const char *schema, const char *name,
                      const dbs_column *cols, uint32_t ncols)
{
	if (t->ncolumns != ncols || strcmp(t->schema, schema) != 0 || strcmp(t->name, name) != 0)
		return 0;
	for (uint32_t i = 0; i < ncols; i++) {
		const dbs_column *a = &t->columns[i], *b = &cols[i];
		if (strcmp(a->name, b->name) != 0 || strcmp(a->type_name, b->type_name) != 0 ||
		    a->type_id != b->type_id || a->type_mod != b->type_mod || a->flags != b->flags)
			return 0;
	}
	return 1;
}

/*
 * Secondary indexes of relation `relid` into `table` (not shared yet), in
 * the same catalog round as its columns: once per relation definition.
 * Only indexes a target can rebuild from column names are kept: plain key
 * columns of a valid btree or hash index (a hash index becomes a btree
 * one at the target, which answers the same equality lookups). Expression
 * and partial indexes, other access methods, exclusion constraints and
 * INCLUDE columns are left out with a log line naming them.
 */
static int rel_indexes(pg_source *s, dbs_table *table, const char *relid, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	uint32_t *pos = NULL;
	const char *params[1] = {relid};
	PGresult *res = PQexecParams(
	    s->sql,
	    "SELECT c.relname, i.indisunique,"
	    " i.indexprs IS NOT NULL OR 0 = ANY (i.indkey::int2[]),"
	    " i.indpred IS NOT NULL, am.amname IN ('btree', 'hash'),"
	    " i.indisvalid AND NOT i.indisexclusion, i.indnatts > i.indnkeyatts,"
	    " ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o)"
	    "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n"
	    "  WHERE k.o <= i.indnkeyatts ORDER BY k.o)"
	    " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
	    " JOIN pg_am am ON am.oid = c.relam"
	    " WHERE i.indrelid = $1::oid AND NOT i.indisprimary ORDER BY c.relname",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pq_err(err, errlen, "reading the indexes of a relation", s->sql);
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(pos = calloc(table->ncolumns ? table->ncolumns : 1, sizeof *pos)))
		goto fail;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *name = PQgetvalue(res, r, 0);
		const char *why = NULL;
		if (PQgetvalue(res, r, 2)[0] == 't')
			why = "an expression index";
		else if (PQgetvalue(res, r, 3)[0] == 't')
			why = "a partial index";
		else if (PQgetvalue(res, r, 4)[0] != 't')
			why = "neither btree nor hash";
		else if (PQgetvalue(res, r, 5)[0] != 't')
			why = "invalid or an exclusion constraint";
		/* The key columns as a text[] literal of plain names: {a,"b c"}. */
		const char *p = PQgetvalue(res, r, 7);
		uint32_t n = 0;
		char col[NAMEDATALEN_MAX];
		if (*p == '{')
			p++;
		while (!why && *p && *p != '}') {
			size_t len = 0;
			int quoted = *p == '"';
			if (quoted)
				p++;
			while (*p && (quoted ? *p != '"' : (*p != ',' && *p != '}'))) {
				if (quoted && *p == '\\' && p[1])
					p++;
				if (len + 1 < sizeof col)
					col[len++] = *p;
				p++;
			}
			col[len] = '\0';
			if (quoted && *p == '"')
				p++;
			if (*p == ',')
				p++;
			uint32_t c = 0;
			while (c < table->ncolumns && strcmp(table->columns[c].name, col) != 0)
				c++;
			if (c == table->ncolumns || n == table->ncolumns)
				why = "on a column the publication does not send";
			else
				pos[n++] = c;
		}
		if (!why && n == 0)
			why = "without key columns";
		if (why) {
			slog(s, DBS_LOG_INFO, "%s.%s: index %s not replicated (%s)", table->schema,
			     table->name, name, why);
			continue;
		}
		if (PQgetvalue(res, r, 6)[0] == 't')
			slog(s, DBS_LOG_INFO,
			     "%s.%s: index %s replicated without its INCLUDE columns",
			     table->schema, table->name, name);
		uint32_t flags = PQgetvalue(res, r, 1)[0] == 't' ? DBS_INDEX_UNIQUE : 0;
		if (dbs_table_add_index(table, name, flags, pos, n) != 0)
			goto fail;
	}
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	free(pos);
	PQclear(res);
	return rc;
}

/*
 * Build the dbs_table of a Relation message. Names and type OIDs come from
 * the message (the tuples follow its column list); the type's spelling,
 * NOT NULL and primary key membership from the catalog.
 */
static int rel_update(pg_source *s, const dbs_pgo_msg *m, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_buf names = DBS_BUF_INIT, oids = DBS_BUF_INIT, mods = DBS_BUF_INIT;
	PGresult *res = NULL;
	dbs_column *cols = NULL;
	char *schema = NULL, *relname = NULL;
	dbs_table *table = NULL;
	uint32_t ncols = m->u.relation.ncols;
	dbs_pgo_iter it;
	dbs_pgo_relcol rc_;
	char relid[16], num[24];

	unsigned ops = filter_ops(s, &m->u.relation.nspname, &m->u.relation.relname);
	rel_entry *e = rel_find(s, m->u.relation.relid);

	schema = dupn(m->u.relation.nspname.s, m->u.relation.nspname.len);
	relname = dupn(m->u.relation.relname.s, m->u.relation.relname.len);
	cols = calloc(ncols ? ncols : 1, sizeof *cols);
	if (!schema || !relname || !cols)
		goto fail;

	if (ops) {
		if (arr_put(&names, "{", 1, 0) || arr_put(&oids, "{", 1, 0) ||
		    arr_put(&mods, "{", 1, 0))
			goto fail;
		dbs__pgo_relcols_iter(&it, m);
		for (uint32_t i = 0; dbs__pgo_relcols_next(&it, &rc_); i++) {
			const char *sep = i ? "," : "";
			if (arr_put(&names, sep, strlen(sep), 0) ||
			    arr_put(&names, rc_.name.s, rc_.name.len, 1))
				goto fail;
			int n = snprintf(num, sizeof num, "%s%u", sep, rc_.type_oid);
			if (n < 0 || (size_t)n >= sizeof num ||
			    arr_put(&oids, num, (size_t)n, 0))
				goto fail;
			n = snprintf(num, sizeof num, "%s%d", sep, (int)rc_.type_mod);
			if (n < 0 || (size_t)n >= sizeof num ||
			    arr_put(&mods, num, (size_t)n, 0))
				goto fail;
		}
		if (arr_put(&names, "}", 1, 0) || arr_put(&oids, "}", 1, 0) ||
		    arr_put(&mods, "}", 1, 0))
			goto fail;
		snprintf(relid, sizeof relid, "%u", m->u.relation.relid);
		const char *params[4] = {relid, oids.data, mods.data, names.data};
		res = PQexecParams(
		    s->sql,
		    "SELECT format_type(u.t, nullif(u.m, -1)), coalesce(a.attnotnull, false),"
		    " coalesce(a.attnum = ANY (i.indkey), false)"
		    " FROM unnest($2::oid[], $3::int4[], $4::text[]) WITH ORDINALITY AS u(t, m, n, "
		    "o)"
		    " LEFT JOIN pg_attribute a ON a.attrelid = $1::oid AND a.attname = u.n"
		    "  AND a.attnum > 0 AND NOT a.attisdropped"
		    " LEFT JOIN pg_index i ON i.indrelid = $1::oid AND i.indisprimary"
		    " ORDER BY u.o",
		    4, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			pq_err(err, errlen, "reading the catalog of a relation", s->sql);
			rc = DBS_ESOURCE;
			goto fail;
		}
		if ((uint32_t)PQntuples(res) != ncols) {
			dbs__fmt(err, errlen, "catalog of %s.%s: %d columns, expected %u", schema,
			         relname, PQntuples(res), ncols);
			rc = DBS_ESOURCE;
			goto fail;
		}
	}
	dbs__pgo_relcols_iter(&it, m);
	for (uint32_t i = 0; dbs__pgo_relcols_next(&it, &rc_); i++) {
		cols[i].name = rc_.name.s; /* NUL-terminated in the message */
		cols[i].type_id = rc_.type_oid;
		cols[i].type_mod = rc_.type_mod;
		cols[i].type_name = res ? PQgetvalue(res, (int)i, 0) : "";
		if (res && PQgetvalue(res, (int)i, 1)[0] == 't')
			cols[i].flags |= DBS_COLUMN_NOT_NULL;
		if (res && PQgetvalue(res, (int)i, 2)[0] == 't')
			cols[i].flags |= DBS_COLUMN_KEY;
	}
	/* The server sends a Relation again after a streamed transaction or a
	 * restart even when nothing changed: keep the definition then, so a
	 * version change always means a schema change. */
	if (e && same_table(e->table, schema, relname, cols, ncols)) {
		e->operations = ops;
		rc = 0;
		goto fail;
	}
	rc = dbs_table_new(&table, DBS_DIALECT_POSTGRESQL, schema, relname, cols, ncols);
	if (rc != 0) {
		dbs__fmt(err, errlen, "%s", dbs_error_last());
		goto fail;
	}
	table->source_id = m->u.relation.relid;
	if (ops && (rc = rel_indexes(s, table, relid, err, errlen)) != 0)
		goto fail;
	rc = DBS_ENOMEM;
	if (e) {
		table->version = e->table->version + 1;
		dbs_table_unref(e->table);
	} else {
		if (s->nrels == s->rels_cap) {
			size_t cap = s->rels_cap ? s->rels_cap * 2 : 8;
			rel_entry *r = realloc(s->rels, cap * sizeof *r);
			if (!r)
				goto fail;
			s->rels = r;
			s->rels_cap = cap;
		}
		e = &s->rels[s->nrels++];
		e->relid = m->u.relation.relid;
	}
	e->table = table;
	e->operations = ops;
	table = NULL;
	rc = 0;
fail:
	if (table)
		dbs_table_unref(table);
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	PQclear(res);
	dbs_buf_free(&names);
	dbs_buf_free(&oids);
	dbs_buf_free(&mods);
	free(cols);
	free(schema);
	free(relname);
	return rc;
}

/* ---- events ---- */

static int fill_row(pg_source *s, dbs_value *row, const dbs_table *t, const dbs_pgo_tuple *tup,
                    char *err, size_t errlen)
{
	int rc = DBS_EPROTO;
	dbs_pgo_iter it;
	dbs_pgo_column c;
	uint32_t i = 0;

	if (tup->ncols != t->ncolumns) {
		dbs__fmt(err, errlen, "%s.%s: tuple has %u columns, relation has %u", t->schema,
		         t->name, tup->ncols, t->ncolumns);
		goto fail;
	}
	rc = DBS_ENOMEM;
	dbs__pgo_tuple_iter(&it, tup);
	while (dbs__pgo_tuple_next(&it, &c)) {
		dbs_value *v = &row[i++];
		switch (c.kind) {
		case DBS_PGO_COL_TEXT:
		case DBS_PGO_COL_BINARY:
			if (dbs_batch_set_bytes(s->batch, v,
			                        c.kind == DBS_PGO_COL_TEXT ? DBS_VALUE_TEXT
			                                                   : DBS_VALUE_BYTES,
			                        c.data, c.len) != 0) {
				dbs__fmt(err, errlen, "out of memory");
				goto fail;
			}
			break;
		case DBS_PGO_COL_UNCHANGED: v->kind = DBS_VALUE_UNCHANGED; break;
		default: v->kind = DBS_VALUE_NULL; break;
		}
	}
	rc = 0;
fail:
	return rc;
}

/* Hand the pending batch to the stream; sets s->stop when it wants no more. */
static int emit_batch(pg_source *s, char *err, size_t errlen)
{
	int rc = 0;
	if (!s->batch || dbs_batch_count(s->batch) == 0)
		goto done;
	const dbs_position *last = dbs_batch_last(s->batch);
	uint64_t resume = last->txn_end ? last->resume : 0;
	dbs_batch *b = s->batch;
	s->batch = NULL; /* the core owns it now, whatever emit returns */
	atomic_store_explicit(&s->emit_since_ns, dbs__monotonic_ns(), memory_order_release);
	rc = s->emit(b, s->emit_data);
	atomic_store_explicit(&s->emit_since_ns, 0, memory_order_release);
	if (rc == 1) {
		s->stop = 1;
		rc = 0;
	} else if (rc < 0) {
		dbs__fmt(err, errlen, "emit failed (%d)", rc);
	} else if (resume) {
		s->emitted_resume = resume;
	}
done:
	return rc;
}

static int add_change(pg_source *s, const dbs_pgo_msg *m, char *err, size_t errlen)
{
	int rc = DBS_EPROTO;
	dbs_op op = m->kind == DBS_PGO_INSERT   ? DBS_OP_INSERT
	            : m->kind == DBS_PGO_UPDATE ? DBS_OP_UPDATE
	                                        : DBS_OP_DELETE;
	rel_entry *e = rel_find(s, m->u.change.relid);
	dbs_event *ev;

	if (!e) {
		dbs__fmt(err, errlen, "change for relation %u before its Relation message",
		         m->u.change.relid);
		goto fail;
	}
	rc = 0;
	if (!(e->operations & (1u << op)))
		goto fail;
	/* A full batch leaves only now that a later event of the same
	 * transaction exists: its last event is not the transaction's last. */
	if (s->batch && dbs_batch_count(s->batch) >= s->bundle) {
		rc = emit_batch(s, err, errlen);
		if (rc != 0 || s->stop)
			goto fail;
	}
	rc = DBS_ENOMEM;
	if (!s->batch && dbs_batch_new(&s->batch, s->bundle) != 0) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	if (dbs_batch_add(s->batch, op, e->table, &ev) != 0) {
		dbs__fmt(err, errlen, "%s", dbs_error_last());
		goto fail;
	}
	ev->commit_time_us = s->commit_time_us;
	ev->xid = s->xid;
	ev->pos.txn = s->commit_lsn;
	ev->pos.event = ++s->nevents;
	rc = 0;
	if (op != DBS_OP_DELETE)
		rc = fill_row(s, ev->after, e->table, &m->u.change.new_tuple, err, errlen);
	if (rc == 0 && op != DBS_OP_INSERT) {
		if (m->u.change.old_kind)
			rc = fill_row(s, ev->before, e->table, &m->u.change.old_tuple, err, errlen);
		else
			ev->before = NULL; /* no old image sent: the key did not change */
	}
fail:
	return rc;
}

static void report_lag(pg_source *s);

static int txn_end(pg_source *s, uint64_t end_lsn, char *err, size_t errlen)
{
	if (s->batch && dbs_batch_count(s->batch)) {
		dbs_event *last = dbs_batch_event(s->batch, dbs_batch_count(s->batch) - 1);
		last->pos.txn_end = 1;
		last->pos.resume = end_lsn;
	} else if (s->nevents == 0) {
		s->idle_lsn = end_lsn;
	}
	s->in_txn = 0;
	/* Once per transaction, before emit may wait on a full hub: a target
	 * that blocks shows as a growing lag. */
	report_lag(s);
	return emit_batch(s, err, errlen);
}

/* ---- streamed transactions ---- */

static stream_txn *stream_find(pg_source *s, uint32_t xid, int create)
{
	for (size_t i = 0; i < s->nstreams; i++)
		if (s->streams[i].xid == xid)
			return &s->streams[i];
	if (!create)
		return NULL;
	if (s->nstreams == s->streams_cap) {
		size_t cap = s->streams_cap ? s->streams_cap * 2 : 4;
		stream_txn *n = realloc(s->streams, cap * sizeof *n);
		if (!n)
			return NULL;
		s->streams = n;
		s->streams_cap = cap;
	}
	stream_txn *t = &s->streams[s->nstreams++];
	memset(t, 0, sizeof *t);
	t->xid = xid;
	return t;
}

static void stream_txn_free(stream_txn *t)
{
	dbs_buf_free(&t->mem);
	if (t->spill)
		fclose(t->spill);
}

static void stream_drop(pg_source *s, stream_txn *t)
{
	stream_txn_free(t);
	*t = s->streams[--s->nstreams];
}

/* A new unlinked temporary file for spilled records; NULL and errno. */
static FILE *spill_file(void)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		/* A file system without O_TMPFILE: name it, then unlink it. */
		char path[4096];
		if (snprintf(path, sizeof path, "%s/dbstreams-txn-XXXXXX", dir) >= (int)sizeof path) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		fd = mkstemp(path);
		if (fd < 0)
			return NULL;
		unlink(path);
	}
	FILE *f = fdopen(fd, "w+b");
	if (!f)
		close(fd);
	return f;
}

static void spill_error(char *err, size_t errlen, const char *what)
{
	const char *dir = getenv("TMPDIR");
	dbs__fmt(err, errlen, "%s a streamed transaction's spill file in %s: %s", what,
	         dir && *dir ? dir : "/tmp", strerror(errno));
}

/* Move the memory part to the end of the spill file. */
static int stream_spill(stream_txn *t, char *err, size_t errlen)
{
	if (!t->spill && !(t->spill = spill_file())) {
		spill_error(err, errlen, "creating");
		return DBS_EIO;
	}
	if (t->mem.len && fwrite(t->mem.data, 1, t->mem.len, t->spill) != t->mem.len) {
		spill_error(err, errlen, "writing");
		return DBS_EIO;
	}
	t->spilled += t->mem.len;
	dbs_buf_reset(&t->mem);
	return 0;
}

static int stream_keep(stream_txn *t, uint32_t subxid, const uint8_t *msg, size_t len,
                       char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	if (len > UINT32_MAX || len > SIZE_MAX - 8 - t->mem.len)
		goto fail;
	if (t->mem.len && t->mem.len + 8 + len > STREAM_MEMORY_MAX &&
	    (rc = stream_spill(t, err, errlen)) != 0)
		return rc;
	rc = DBS_ENOMEM;
	uint32_t hdr[2] = {subxid, (uint32_t)len};
	if (dbs_buf_reserve(&t->mem, 8 + len) || dbs_buf_append(&t->mem, hdr, sizeof hdr) ||
	    dbs_buf_append(&t->mem, msg, len))
		goto fail;
	return 0;
fail:
	dbs__fmt(err, errlen, "out of memory buffering a streamed transaction");
	return rc;
}

/* Read the next spilled record into s->spill_rec: 1 and its header, 0 at
 * the end, negative on a read failure. */
static int spill_next(pg_source *s, FILE *f, uint32_t hdr[2], char *err, size_t errlen)
{
	size_t got = fread(hdr, 1, 2 * sizeof hdr[0], f);
	if (got == 0 && feof(f))
		return 0;
	if (got != 2 * sizeof hdr[0])
		goto fail;
	dbs_buf_reset(&s->spill_rec);
	if (dbs_buf_reserve(&s->spill_rec, hdr[1])) {
		dbs__fmt(err, errlen, "out of memory reading a streamed transaction");
		return DBS_ENOMEM;
	}
	if (hdr[1] && fread(s->spill_rec.data, 1, hdr[1], f) != hdr[1])
		goto fail;
	return 1;
fail:
	if (!ferror(f))
		errno = EIO;
	spill_error(err, errlen, "reading");
	return DBS_EIO;
}

/* Drop the records of an aborted subtransaction, keeping the others in order. */
static int stream_forget_subxact(pg_source *s, stream_txn *t, uint32_t subxid, char *err,
                                 size_t errlen)
{
	size_t r = 0, w = 0;
	while (r < t->mem.len) {
		uint32_t hdr[2];
		memcpy(hdr, t->mem.data + r, sizeof hdr);
		size_t rec = 8 + (size_t)hdr[1];
		if (hdr[0] != subxid) {
			if (w != r)
				memmove(t->mem.data + w, t->mem.data + r, rec);
			w += rec;
		}
		r += rec;
	}
	t->mem.len = w;
	if (t->mem.data)
		t->mem.data[w] = '\0';
	if (!t->spill)
		return 0;
	/* The spilled part is copied without those records to a new file. */
	FILE *kept = spill_file();
	int rc;
	uint32_t hdr[2];
	if (!kept) {
		spill_error(err, errlen, "creating");
		return DBS_EIO;
	}
	uint64_t kept_bytes = 0;
	if (fflush(t->spill) != 0 || fseek(t->spill, 0, SEEK_SET) != 0) {
		spill_error(err, errlen, "rewinding");
		rc = DBS_EIO;
		goto done;
	}
	while ((rc = spill_next(s, t->spill, hdr, err, errlen)) == 1) {
		if (hdr[0] == subxid)
			continue;
		if (fwrite(hdr, 1, sizeof hdr, kept) != sizeof hdr ||
		    fwrite(s->spill_rec.data, 1, hdr[1], kept) != hdr[1]) {
			spill_error(err, errlen, "writing");
			rc = DBS_EIO;
			goto done;
		}
		kept_bytes += 8 + (uint64_t)hdr[1];
	}
done:
	if (rc == 0) {
		fclose(t->spill);
		t->spill = kept;
		t->spilled = kept_bytes;
	} else {
		fclose(kept);
	}
	return rc;
}

static int handle(pg_source *s, const uint8_t *buf, size_t len, int in_stream, char *err,
                  size_t errlen);

static int stream_commit(pg_source *s, const dbs_pgo_msg *m, char *err, size_t errlen)
{
	int rc = 0;
	stream_txn *t = stream_find(s, m->u.stream_commit.xid, 0);

	s->in_txn = 1;
	s->commit_lsn = m->u.stream_commit.commit_lsn;
	s->commit_time_us = m->u.stream_commit.commit_time + DBS_PGO_EPOCH_OFFSET_US;
	s->xid = m->u.stream_commit.xid;
	s->nevents = 0;
	if (t) {
		slog(s, DBS_LOG_DEBUG,
		     "streamed transaction %u committed: %" PRIu64 " bytes spilled, %zu in memory",
		     t->xid, t->spilled, t->mem.len);
		if (t->spill) {
			uint32_t hdr[2];
			if (fflush(t->spill) != 0 || fseek(t->spill, 0, SEEK_SET) != 0) {
				spill_error(err, errlen, "rewinding");
				rc = DBS_EIO;
			}
			while (rc == 0 && !s->stop &&
			       (rc = spill_next(s, t->spill, hdr, err, errlen)) == 1)
				rc = handle(s, (const uint8_t *)s->spill_rec.data, hdr[1], 2, err, errlen);
		}
		for (size_t at = 0; at < t->mem.len && rc == 0 && !s->stop;) {
			uint32_t hdr[2];
			memcpy(hdr, t->mem.data + at, sizeof hdr);
			rc = handle(s, (const uint8_t *)t->mem.data + at + 8, hdr[1], 2, err, errlen);
			at += 8 + (size_t)hdr[1];
		}
		stream_drop(s, t);
	}
	if (rc == 0 && !s->stop)
		rc = txn_end(s, m->u.stream_commit.end_lsn, err, errlen);
	return rc;
}

/* ---- one message ---- */

/*
 * in_stream: 0 outside stream blocks, 1 inside one (buffer changes),
 * 2 replaying a buffered message at Stream Commit (apply it now).
 */
static int handle(pg_source *s, const uint8_t *buf, size_t len, int in_stream, char *err,
                  size_t errlen)
{
	dbs_pgo_msg m;
	stream_txn *t;
	int rc = dbs__pgo_decode(&m, buf, len, in_stream != 0, err, errlen);
	if (rc != 0)
		goto done;

	if (in_stream == 1 &&
	    (m.kind == DBS_PGO_RELATION || m.kind == DBS_PGO_TYPE || m.kind == DBS_PGO_INSERT ||
	     m.kind == DBS_PGO_UPDATE || m.kind == DBS_PGO_DELETE || m.kind == DBS_PGO_TRUNCATE)) {
		/* Schema messages are sent once per top-level transaction even
		 * if the subtransaction that needed them aborts: never drop them. */
		uint32_t sub = (m.kind == DBS_PGO_RELATION || m.kind == DBS_PGO_TYPE) ? 0 : m.xid;
		t = stream_find(s, s->stream_xid, 1);
		if (!t) {
			dbs__fmt(err, errlen, "out of memory buffering a streamed transaction");
			rc = DBS_ENOMEM;
		} else {
			rc = stream_keep(t, sub, buf, len, err, errlen);
		}
		goto done;
	}

	switch (m.kind) {
	case DBS_PGO_BEGIN:
		s->in_txn = 1;
		s->commit_lsn = m.u.begin.final_lsn;
		s->commit_time_us = m.u.begin.commit_time + DBS_PGO_EPOCH_OFFSET_US;
		s->xid = m.u.begin.xid;
		s->nevents = 0;
		break;
	case DBS_PGO_COMMIT: rc = txn_end(s, m.u.commit.end_lsn, err, errlen); break;
	case DBS_PGO_RELATION: rc = rel_update(s, &m, err, errlen); break;
	case DBS_PGO_INSERT:
	case DBS_PGO_UPDATE:
	case DBS_PGO_DELETE:
		if (!s->in_txn) {
			dbs__fmt(err, errlen, "change outside a transaction");
			rc = DBS_EPROTO;
			break;
		}
		rc = add_change(s, &m, err, errlen);
		break;
	case DBS_PGO_TRUNCATE:
		if (!s->truncate_warned) {
			slog(s, DBS_LOG_WARN,
			     "TRUNCATE is not replicated (the publication publishes it)");
			s->truncate_warned = 1;
		}
		break;
	case DBS_PGO_STREAM_START:
		s->in_stream = 1;
		s->stream_xid = m.u.stream_start.xid;
		break;
	case DBS_PGO_STREAM_STOP: s->in_stream = 0; break;
	case DBS_PGO_STREAM_COMMIT: rc = stream_commit(s, &m, err, errlen); break;
	case DBS_PGO_STREAM_ABORT:
		t = stream_find(s, m.u.stream_abort.xid, 0);
		slog(s, DBS_LOG_DEBUG, "streamed transaction %u aborted (subtransaction %u)",
		     m.u.stream_abort.xid, m.u.stream_abort.subxid);
		if (t && m.u.stream_abort.subxid == m.u.stream_abort.xid)
			stream_drop(s, t);
		else if (t)
			rc = stream_forget_subxact(s, t, m.u.stream_abort.subxid, err, errlen);
		break;
	default: /* Origin, Type, Message: nothing to replicate */ break;
	}
done:
	return rc;
}

/* ---- feedback ---- */

/* The position the slot may be confirmed up to. sent_flush is read
 * without repl_lock: only the run thread writes it. */
static uint64_t confirmable(pg_source *s)
{
	uint64_t acked = atomic_load_explicit(&s->acked, memory_order_acquire);
	uint64_t flush = acked;

	/* Nothing emitted is waiting for the target: what produced no event
	 * can be confirmed too. */
	if (acked >= s->emitted_resume && s->idle_lsn > flush)
		flush = s->idle_lsn;
	if (flush < s->sent_flush)
		flush = s->sent_flush;
	return flush;
}

/* What the slot holds back: everything the server has past the position
 * this stream confirms. */
static void report_lag(pg_source *s)
{
	uint64_t flush = confirmable(s);
	dbs__source_lag(s->host, s->wal_end > flush ? s->wal_end - flush : 0);
}

static int send_status(pg_source *s, int64_t now, char *err, size_t errlen)
{
	int rc = 0;
	uint8_t msg[DBS_PGO_STATUS_LEN];
	uint64_t flush = confirmable(s);

	dbs__pgo_status_encode(msg, flush, flush, flush,
	                       dbs__now_ns() / 1000 - DBS_PGO_EPOCH_OFFSET_US, 0);
	if (PQputCopyData(s->repl, (const char *)msg, sizeof msg) != 1 || PQflush(s->repl) < 0) {
		pq_err(err, errlen, "sending standby status update", s->repl);
		rc = DBS_ESOURCE;
	} else {
		s->sent_flush = flush;
		s->last_status_ns = now;
	}
	report_lag(s);
	return rc;
}

/* ---- ops ---- */

static void pg_close(dbs_source *src);

static int exec_ok(PGconn *c, const char *sql, ExecStatusType want, PGresult **out)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == want;
	if (out && ok)
		*out = r;
	else
		PQclear(r);
	return ok;
}

/*
 * The walsender's `options`: the user's own (from the connection string,
 * e.g. "-c logical_decoding_work_mem=64kB") followed by ours, so ours win
 * where both set a value. NULL on allocation failure; free().
 */
static char *session_options(const char *connection)
{
	PQconninfoOption *opts = PQconninfoParse(connection, NULL);
	const char *user = NULL;
	char *out = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val && o->val[0])
			user = o->val;
	size_t need = (user ? strlen(user) + 1 : 0) + sizeof SESSION_OPTIONS;
	out = malloc(need);
	if (out) {
		int n = snprintf(out, need, "%s%s%s", user ? user : "", user ? " " : "",
		                 SESSION_OPTIONS);
		if (n < 0 || (size_t)n >= need) {
			free(out);
			out = NULL;
		}
	}
	PQconninfoFree(opts);
	return out;
}

/* NULL only when libpq could not allocate; check PQstatus otherwise. */
static PGconn *connect_db(const dbs_source_config *config, int replication)
{
	const char *keys[8], *vals[8];
	char *options = NULL;
	PGconn *conn = NULL;
	int n = 0;
	keys[n] = "dbname";
	vals[n++] = config->connection;
	if (replication) {
		options = session_options(config->connection);
		if (!options)
			return NULL;
		keys[n] = "replication";
		vals[n++] = "database";
		keys[n] = "options";
		vals[n++] = options;
	}
	if (config->ssl_ca) {
		keys[n] = "sslrootcert";
		vals[n++] = config->ssl_ca;
	}
	if (config->ssl_cert) {
		keys[n] = "sslcert";
		vals[n++] = config->ssl_cert;
	}
	if (config->ssl_key) {
		keys[n] = "sslkey";
		vals[n++] = config->ssl_key;
	}
	keys[n] = NULL;
	vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 1);
	free(options);
	return conn;
}

/* A filtered table an existing publication does not cover never sends a
 * change: say so at open rather than stay silent. */
static void warn_unpublished(pg_source *s, const char *pub)
{
	for (uint32_t i = 0; i < s->nfilter; i++) {
		const char *params[3] = {pub, s->filter[i].schema, s->filter[i].name};
		PGresult *res =
		    PQexecParams(s->sql,
		                 "SELECT 1 FROM pg_publication_tables WHERE pubname = $1"
		                 " AND schemaname = $2 AND tablename = $3",
		                 3, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0)
			slog(s, DBS_LOG_WARN,
			     "publication \"%s\" does not publish %s.%s: its changes will not be "
			     "captured",
			     pub, s->filter[i].schema, s->filter[i].name);
		PQclear(res);
	}
}

static int setup_publication(pg_source *s, const char *pub, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	PGresult *res = NULL;
	char *qpub = NULL;
	dbs_buf sql = DBS_BUF_INIT;
	const char *params[1] = {pub};

	res =
	    PQexecParams(s->sql,
	                 "SELECT p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete,"
	                 " p.pubtruncate, (SELECT string_agg(schemaname || '.' || tablename, ', ')"
	                 "  FROM pg_publication_tables t WHERE t.pubname = p.pubname)"
	                 " FROM pg_publication p WHERE p.pubname = $1",
	                 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pq_err(err, errlen, "reading publication", s->sql);
		goto fail;
	}
	if (PQntuples(res) == 1) {
		slog(s, DBS_LOG_INFO,
		     "using existing publication \"%s\": %s; insert=%s update=%s delete=%s "
		     "truncate=%s",
		     pub, PQgetvalue(res, 0, 0)[0] == 't' ? "all tables" : PQgetvalue(res, 0, 5),
		     PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
		     PQgetvalue(res, 0, 4));
		warn_unpublished(s, pub);
		rc = 0;
		goto fail;
	}
	qpub = PQescapeIdentifier(s->sql, pub, strlen(pub));
	if (!qpub) {
		pq_err(err, errlen, "publication name", s->sql);
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (arr_put(&sql, "CREATE PUBLICATION ", 19, 0) ||
	    arr_put(&sql, qpub, strlen(qpub), 0))
		goto fail;
	if (s->nfilter == 0) {
		if (arr_put(&sql, " FOR ALL TABLES", 15, 0))
			goto fail;
	}
	for (uint32_t i = 0; i < s->nfilter; i++) {
		char *qs =
		    PQescapeIdentifier(s->sql, s->filter[i].schema, strlen(s->filter[i].schema));
		char *qn = PQescapeIdentifier(s->sql, s->filter[i].name, strlen(s->filter[i].name));
		const char *sep = i ? ", " : " FOR TABLE ";
		int bad = !qs || !qn || arr_put(&sql, sep, strlen(sep), 0) ||
		          arr_put(&sql, qs, strlen(qs), 0) ||
		          arr_put(&sql, ".", 1, 0) ||
		          arr_put(&sql, qn, strlen(qn), 0);
		PQfreemem(qs);
		PQfreemem(qn);
		if (bad)
			goto fail;
	}
	const char *with = " WITH (publish = 'insert, update, delete')";
	if (arr_put(&sql, with, strlen(with), 0))
		goto fail;
	rc = DBS_ESOURCE;
	if (!exec_ok(s->sql, sql.data, PGRES_COMMAND_OK, NULL)) {
		pq_err(err, errlen, "creating publication", s->sql);
		goto fail;
	}
	slog(s, DBS_LOG_INFO, "created publication \"%s\"", pub);
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	PQclear(res);
	PQfreemem(qpub);
	dbs_buf_free(&sql);
	return rc;
}

/*
 * The slot, created when missing unless the stream resumes from `from`
 * (`resuming`): then the changes between `from` and now are gone with the
 * dropped slot, and a new slot would silently skip them.
 */
static int setup_slot(pg_source *s, const char *slot, int resuming, uint64_t from, char *err,
                      size_t errlen)
{
	int rc = DBS_ESOURCE;
	const char *params[1] = {slot};
	PGresult *res = PQexecParams(s->sql,
	                             "SELECT plugin, database = current_database()"
	                             " FROM pg_replication_slots WHERE slot_name = $1",
	                             1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pq_err(err, errlen, "reading replication slots", s->sql);
		goto fail;
	}
	if (PQntuples(res) == 1) {
		if (strcmp(PQgetvalue(res, 0, 0), "pgoutput") != 0 ||
		    PQgetvalue(res, 0, 1)[0] != 't') {
			dbs__fmt(
			    err, errlen,
			    "replication slot \"%s\" exists but is not a pgoutput slot of this "
			    "database (plugin %s)",
			    slot, PQgetvalue(res, 0, 0));
			goto fail;
		}
		slog(s, DBS_LOG_INFO, "using existing replication slot \"%s\"", slot);
		rc = 0;
		goto fail;
	}
	if (resuming) {
		rc = DBS_ENOTFOUND;
		dbs__fmt(
		    err, errlen,
		    "replication slot \"%s\" was dropped: the changes since position %X/%X that "
		    "this stream had not applied are lost and cannot be read again. Re-create "
		    "the stream with a fresh copy of the data (a new stream id over emptied "
		    "target tables); a new slot is not created silently",
		    slot, (unsigned)(from >> 32), (unsigned)from);
		goto fail;
	}
	PQclear(res);
	res = PQexecParams(s->sql, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", 1,
	                   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pq_err(err, errlen, "creating replication slot", s->sql);
		goto fail;
	}
	slog(s, DBS_LOG_INFO, "created replication slot \"%s\"", slot);
	rc = 0;
fail:
	PQclear(res);
	return rc;
}

static int start_replication(pg_source *s, const char *slot, const char *pub, uint64_t lsn,
                             char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	char *qslot = NULL, *qnames = NULL, *cmd = NULL;
	dbs_buf names = DBS_BUF_INIT;

	/* publication_names is a list of identifiers inside a string literal. */
	if (arr_put(&names, "\"", 1, 0))
		goto fail;
	for (const char *p = pub; *p; p++)
		if (arr_put(&names, p, 1, 0) ||
		    (*p == '"' && arr_put(&names, p, 1, 0)))
			goto fail;
	if (arr_put(&names, "\"", 1, 0))
		goto fail;
	qslot = PQescapeIdentifier(s->repl, slot, strlen(slot));
	qnames = PQescapeLiteral(s->repl, names.data, names.len);
	if (!qslot || !qnames) {
		pq_err(err, errlen, "quoting START_REPLICATION arguments", s->repl);
		rc = DBS_ESOURCE;
		goto fail;
	}
	size_t need = strlen(qslot) + strlen(qnames) + 160;
	cmd = malloc(need);
	if (!cmd)
		goto fail;
	int n = snprintf(cmd, need,
	                 "START_REPLICATION SLOT %s LOGICAL %X/%X (proto_version '2', "
	                 "publication_names %s, streaming 'on')",
	                 qslot, (unsigned)(lsn >> 32), (unsigned)lsn, qnames);
	if (n < 0 || (size_t)n >= need)
		goto fail;
	rc = DBS_ESOURCE;
	if (!exec_ok(s->repl, cmd, PGRES_COPY_BOTH, NULL)) {
		pq_err(err, errlen, "starting replication", s->repl);
		goto fail;
	}
	if (PQsetnonblocking(s->repl, 1) != 0) {
		pq_err(err, errlen, "replication connection", s->repl);
		goto fail;
	}
	slog(s, DBS_LOG_INFO, "replicating from slot \"%s\" at %X/%X", slot, (unsigned)(lsn >> 32),
	     (unsigned)lsn);
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	PQfreemem(qslot);
	PQfreemem(qnames);
	dbs_buf_free(&names);
	free(cmd);
	return rc;
}

/* How long open() waits for a slot that another session still holds. */
#define SLOT_BUSY_WAIT_MS 15000

/*
 * A process of this stream that was killed leaves its walsender holding
 * the slot until the server notices the closed connection: wait for that
 * (up to SLOT_BUSY_WAIT_MS) rather than fail the resumed stream at once.
 * A slot still held afterwards makes START_REPLICATION fail with the
 * server's own message. Returns nonzero when the stream is stopping.
 */
static int wait_slot_free(pg_source *s, const char *slot)
{
	const char *params[1] = {slot};
	int64_t start = dbs__monotonic_ns();
	int logged = 0;
	for (;;) {
		PGresult *res = PQexecParams(s->sql,
		                             "SELECT active_pid FROM pg_replication_slots"
		                             " WHERE slot_name = $1 AND active",
		                             1, NULL, params, NULL, NULL, 0);
		int busy = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		if (busy && !logged) {
			slog(s, DBS_LOG_WARN,
			     "replication slot \"%s\" is held by server process %s (a previous run of "
			     "this stream?); waiting up to %d s for it to be released",
			     slot, PQgetvalue(res, 0, 0), SLOT_BUSY_WAIT_MS / 1000);
			logged = 1;
		}
		PQclear(res);
		if (!busy || (dbs__monotonic_ns() - start) / 1000000 >= SLOT_BUSY_WAIT_MS)
			return 0;
		if (dbs__sleep_unless_stopping(s->host, 100))
			return 1;
	}
}

static int pg_open(dbs_source **out, const dbs_source_config *config, const dbs_host *host,
                   const dbs_position *resume, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	PGresult *res = NULL;
	pg_source *s = NULL;
	const char *slot, *pub;

	*out = NULL;
	if (!config || !config->connection) {
		dbs__fmt(err, errlen, "postgresql source: no connection string");
		rc = DBS_EINVAL;
		goto fail;
	}
	slot = config->replication_slot_name ? config->replication_slot_name
	                                     : "dbconvert_replication_slot";
	pub = config->publication_name ? config->publication_name : "dbconvert-publication";
	s = calloc(1, sizeof *s);
	if (!s)
		goto fail;
	s->base.ops = &dbs__postgresql_source_ops;
	s->host = host;
	s->bundle = config->data_bundle_size ? config->data_bundle_size : 100;
	atomic_init(&s->acked, 0);
	atomic_init(&s->emit_since_ns, 0);
	s->config = config;
	s->slot = slot;
	s->pub = pub;
	if (pthread_mutex_init(&s->repl_lock, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&s->ka_cond, NULL) != 0) {
		pthread_mutex_destroy(&s->repl_lock);
		goto fail;
	}
	s->sync_ready = 1;
	if (filter_copy(s, config) != 0)
		goto fail;

	rc = DBS_ESOURCE;
	s->sql = connect_db(config, 0);
	if (PQstatus(s->sql) != CONNECTION_OK) {
		pq_err(err, errlen, "connecting to PostgreSQL", s->sql);
		goto fail;
	}
	if (!exec_ok(s->sql, "SHOW wal_level", PGRES_TUPLES_OK, &res)) {
		pq_err(err, errlen, "SHOW wal_level", s->sql);
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0) {
		dbs__fmt(err, errlen,
		         "PostgreSQL has wal_level=%s; logical replication needs wal_level=logical "
		         "(set it in postgresql.conf and restart the server)",
		         PQgetvalue(res, 0, 0));
		goto fail;
	}
	s->keepalive_ns = KEEPALIVE_NS;
	PQclear(res);
	res = NULL;
	if (exec_ok(s->sql,
	            "SELECT setting::bigint FROM pg_settings WHERE name = "
	            "'wal_sender_timeout'",
	            PGRES_TUPLES_OK, &res) &&
	    PQntuples(res) == 1) {
		long long ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (ms > 0 && ms * 1000000LL / 3 < s->keepalive_ns)
			s->keepalive_ns = ms * 1000000LL / 3;
		if (s->keepalive_ns < KEEPALIVE_MIN_NS)
			s->keepalive_ns = KEEPALIVE_MIN_NS;
	}
	rc = setup_publication(s, pub, err, errlen);
	if (rc != 0)
		goto fail;
	uint64_t from = resume ? resume->resume : 0;
	if (from)
		atomic_store_explicit(&s->acked, from, memory_order_relaxed);
	/* A checkpoint inside a transaction (resume 0) starts at the slot's
	 * confirmed position, which never passes what the target committed;
	 * it is still a resume, so a dropped slot is reported. */
	rc = setup_slot(s, slot, resume != NULL, from, err, errlen);
	if (rc == DBS_ENOTFOUND)
		rc = DBS_ESOURCE;
	if (rc != 0)
		goto fail;
	rc = DBS_ESOURCE;
	if (resume && wait_slot_free(s, slot)) {
		dbs__fmt(err, errlen, "stopped while waiting for replication slot \"%s\"", slot);
		goto fail;
	}
	s->repl = connect_db(config, 1);
	if (PQstatus(s->repl) != CONNECTION_OK) {
		pq_err(err, errlen, "opening replication connection", s->repl);
		goto fail;
	}
	rc = start_replication(s, slot, pub, from, err, errlen);
	if (rc != 0)
		goto fail;
	*out = &s->base;
	rc = 0;
	s = NULL;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	PQclear(res);
	if (s)
		pg_close(&s->base);
	return rc;
}

/*
 * Keepalive thread: while the run thread is blocked in emit() (a full
 * hub) it reads nothing, and the walsender drops a client that has not
 * replied for wal_sender_timeout. A status update repeating the last
 * confirmed position keeps the session alive without confirming more;
 * the server's own messages stay unread in the socket (the walsender
 * waits for room and keeps reading our replies meanwhile).
 */
static void *keepalive_main(void *arg)
{
	pg_source *s = arg;
	pthread_mutex_lock(&s->repl_lock);
	while (!s->ka_quit) {
		struct timespec until;
		/* 200 ms: fine enough for the shortest period, cheap when idle. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->ka_cond, &s->repl_lock, &until);
		if (s->ka_quit)
			break;
		int64_t since = atomic_load_explicit(&s->emit_since_ns, memory_order_acquire);
		int64_t now = dbs__monotonic_ns();
		if (!since || now - since < s->keepalive_ns ||
		    now - s->last_status_ns < s->keepalive_ns || !s->repl ||
		    PQstatus(s->repl) != CONNECTION_OK)
			continue;
		uint8_t msg[DBS_PGO_STATUS_LEN];
		dbs__pgo_status_encode(msg, s->sent_flush, s->sent_flush, s->sent_flush,
		                       dbs__now_ns() / 1000 - DBS_PGO_EPOCH_OFFSET_US, 0);
		/* A failure shows again on the run thread's next read. */
		if (PQputCopyData(s->repl, (const char *)msg, sizeof msg) == 1 &&
		    PQflush(s->repl) >= 0)
			s->last_status_ns = now;
	}
	pthread_mutex_unlock(&s->repl_lock);
	return NULL;
}

/* Forget what was decoded but not emitted: the server sends it again. */
static void decoding_reset(pg_source *s)
{
	if (s->batch)
		dbs_batch_reset(s->batch);
	s->in_txn = 0;
	s->in_stream = 0;
	s->nevents = 0;
	for (size_t i = 0; i < s->nstreams; i++)
		stream_txn_free(&s->streams[i]);
	s->nstreams = 0;
}

/*
 * After the replication connection was lost (err says how): connect
 * again with backoff and START_REPLICATION from the last position the
 * target committed. The slot keeps everything after it; transactions
 * emitted but not yet acked come again with the same positions (commit
 * LSN, index among the emitted events), so the target's checkpoint skips
 * them. 0 when replicating again or stopping, negative when giving up or
 * when the slot is gone.
 */
static int reconnect(pg_source *s, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	char cause[DBS_ERRMSG_MAX];
	int64_t lost_at = dbs__monotonic_ns();
	int delay = DBS_RECONNECT_FIRST_DELAY_MS;
	unsigned attempt = 0;
	dbs__fmt(cause, sizeof cause, "%s", err);
	decoding_reset(s);
	for (;;) {
		dbs__conn_lost(s->host, cause);
		if (dbs__reconnect_expired(s->host, lost_at)) {
			dbs__reconnect_give_up_text(err, errlen, s->host, "postgresql source",
			                            attempt, cause);
			rc = DBS_ESOURCE;
			goto done;
		}
		attempt++;
		slog(s, DBS_LOG_WARN, "connection lost (%s); reconnect attempt %u in %d ms", cause,
		     attempt, delay);
		if (dbs__sleep_unless_stopping(s->host, delay)) {
			rc = 0;
			goto done;
		}
		delay = dbs__backoff_next(delay);
		pthread_mutex_lock(&s->repl_lock);
		PQfinish(s->repl);
		s->repl = NULL;
		pthread_mutex_unlock(&s->repl_lock);
		PQfinish(s->sql);
		s->sql = connect_db(s->config, 0);
		if (PQstatus(s->sql) != CONNECTION_OK) {
			pq_err(cause, sizeof cause, "connecting to PostgreSQL", s->sql);
			continue;
		}
		uint64_t from = atomic_load_explicit(&s->acked, memory_order_acquire);
		pthread_mutex_lock(&s->repl_lock);
		if (s->sent_flush > from)
			from = s->sent_flush;
		pthread_mutex_unlock(&s->repl_lock);
		rc = setup_slot(s, s->slot, 1, from, cause, sizeof cause);
		if (rc == DBS_ENOTFOUND) {
			dbs__fmt(err, errlen, "%s", cause);
			rc = DBS_ESOURCE;
			goto done;
		}
		if (rc)
			continue;
		PGconn *repl = connect_db(s->config, 1);
		pthread_mutex_lock(&s->repl_lock);
		s->repl = repl;
		pthread_mutex_unlock(&s->repl_lock);
		if (PQstatus(s->repl) != CONNECTION_OK) {
			pq_err(cause, sizeof cause, "opening replication connection", s->repl);
			continue;
		}
		if (start_replication(s, s->slot, s->pub, from, cause, sizeof cause))
			continue;
		slog(s, DBS_LOG_INFO, "reconnected after %u attempts; replicating again from %X/%X",
		     attempt, (unsigned)(from >> 32), (unsigned)from);
		dbs__conn_restored(s->host);
		rc = 0;
		goto done;
	}
done:
	return rc;
}

/* Read the stream until a stop, a failure (err, negative) or a lost
 * connection (err, 1). */
static int read_stream(pg_source *s, char *err, size_t errlen)
{
	int rc = 0;
	char *buf = NULL;
	while (!s->stop && !(s->host && s->host->stopping && s->host->stopping(s->host))) {
		int64_t now = dbs__monotonic_ns();
		pthread_mutex_lock(&s->repl_lock);
		if (now - s->last_status_ns >= STATUS_INTERVAL_NS &&
		    send_status(s, now, err, errlen) != 0)
			rc = 1;
		int n = rc ? 0 : PQgetCopyData(s->repl, &buf, 1);
		int pending = n == 0 && !rc ? PQflush(s->repl) : 0;
		int fd = PQsocket(s->repl);
		pthread_mutex_unlock(&s->repl_lock);
		if (rc)
			break;
		if (n == 0) {
			/* A status update libpq could not send at once is still queued. */
			struct pollfd pfd = {fd, (short)(POLLIN | (pending > 0 ? POLLOUT : 0)), 0};
			if (poll(&pfd, 1, POLL_MS) < 0 && errno != EINTR) {
				dbs__fmt(err, errlen, "poll: %s", strerror(errno));
				rc = DBS_EIO;
				break;
			}
			pthread_mutex_lock(&s->repl_lock);
			if (PQconsumeInput(s->repl) != 1) {
				pq_err(err, errlen, "reading replication stream", s->repl);
				rc = 1;
			}
			pthread_mutex_unlock(&s->repl_lock);
			if (rc)
				break;
			continue;
		}
		if (n < 0) {
			/* -1: the server ended the COPY; its result says why. A
			 * walsender that ends the stream (shutdown, timeout,
			 * termination) is a lost connection too. */
			pthread_mutex_lock(&s->repl_lock);
			PGresult *res = PQgetResult(s->repl);
			if (res && PQresultStatus(res) == PGRES_FATAL_ERROR &&
			    PQresultErrorMessage(res)[0])
				dbs__fmt(err, errlen, "replication stream ended: %s",
				         PQresultErrorMessage(res));
			else
				pq_err(err, errlen, "replication stream ended", s->repl);
			pthread_mutex_unlock(&s->repl_lock);
			PQclear(res);
			rc = 1;
			break;
		}
		dbs_pgo_frame f;
		rc = dbs__pgo_frame_decode(&f, (const uint8_t *)buf, (size_t)n, err, errlen);
		if (rc == 0 && f.wal_end > s->wal_end)
			s->wal_end = f.wal_end;
		if (rc == 0 && f.kind == 'w')
			rc = handle(s, f.data, f.len, s->in_stream, err, errlen);
		else if (rc == 0 && f.kind == 'k') {
			if (!s->in_txn && !s->in_stream && s->nstreams == 0 &&
			    f.wal_end > s->idle_lsn)
				s->idle_lsn = f.wal_end;
			if (f.reply_requested) {
				pthread_mutex_lock(&s->repl_lock);
				if (send_status(s, dbs__monotonic_ns(), err, errlen) != 0)
					rc = 1;
				pthread_mutex_unlock(&s->repl_lock);
			}
		}
		PQfreemem(buf);
		buf = NULL;
		if (rc != 0)
			break;
	}
	return rc;
}

static int pg_run(dbs_source *src, dbs_emit_fn emit, void *emit_data, char *err, size_t errlen)
{
	pg_source *s = (pg_source *)src;
	int rc = 0;
	pthread_t ka;
	int ka_started = 0;

	s->emit = emit;
	s->emit_data = emit_data;
	s->stop = 0;
	pthread_mutex_lock(&s->repl_lock);
	s->ka_quit = 0;
	pthread_mutex_unlock(&s->repl_lock);
	if (pthread_create(&ka, NULL, keepalive_main, s) != 0) {
		dbs__fmt(err, errlen, "postgresql source: cannot start the keepalive thread");
		rc = DBS_ENOMEM;
		goto done;
	}
	ka_started = 1;
	while ((rc = read_stream(s, err, errlen)) == 1) {
		if ((rc = reconnect(s, err, errlen)) != 0)
			break;
	}
done:
	if (ka_started) {
		pthread_mutex_lock(&s->repl_lock);
		s->ka_quit = 1;
		pthread_cond_signal(&s->ka_cond);
		pthread_mutex_unlock(&s->repl_lock);
		pthread_join(ka, NULL);
	}
	/* A stop leaves the unfinished transaction unemitted: it was not
	 * confirmed, so the slot delivers it again on restart. */
	if (s->batch)
		dbs_batch_reset(s->batch);
	s->in_txn = 0;
	return rc;
}

static void pg_ack(dbs_source *src, const dbs_position *pos)
{
	pg_source *s = (pg_source *)src;
	if (!pos || !pos->txn_end || !pos->resume)
		return;
	uint64_t cur = atomic_load_explicit(&s->acked, memory_order_relaxed);
	while (pos->resume > cur &&
	       !atomic_compare_exchange_weak_explicit(&s->acked, &cur, pos->resume,
	                                              memory_order_release, memory_order_relaxed))
		;
}

static void pg_close(dbs_source *src)
{
	pg_source *s = (pg_source *)src;
	if (!s)
		return;
	if (s->repl && PQstatus(s->repl) == CONNECTION_OK) {
		/* Best effort: tell the server what the target has before leaving. */
		char ignore[64];
		send_status(s, dbs__monotonic_ns(), ignore, sizeof ignore);
	}
	PQfinish(s->repl);
	PQfinish(s->sql);
	if (s->sync_ready) {
		pthread_cond_destroy(&s->ka_cond);
		pthread_mutex_destroy(&s->repl_lock);
	}
	for (size_t i = 0; i < s->nrels; i++)
		dbs_table_unref(s->rels[i].table);
	free(s->rels);
	for (size_t i = 0; i < s->nstreams; i++)
		stream_txn_free(&s->streams[i]);
	free(s->streams);
	dbs_buf_free(&s->spill_rec);
	for (uint32_t i = 0; i < s->nfilter; i++) {
		free(s->filter[i].schema);
		free(s->filter[i].name);
	}
	free(s->filter);
	dbs_batch_free(s->batch);
	free(s);
}

const dbs_source_ops dbs__postgresql_source_ops = {
    .version = DBS_SOURCE_OPS_VERSION,
    .name = "postgresql",
    .open = pg_open,
    .run = pg_run,
    .ack = pg_ack,
    .close = pg_close,
};
