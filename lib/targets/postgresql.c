/*
 * PostgreSQL target: applies batches with libpq, one transaction each,
 * together with the stream's checkpoint row; with span_transactions, the
 * batches of one source transaction share one target transaction, left
 * open between them and committed with the last (docs/transactions.md).
 *
 * Inserts go in runs (consecutive inserts into one table). A run is
 * COPYed straight into the table under a savepoint; when a key already
 * exists (a replay, a row sent twice) the savepoint is rolled back and the
 * run goes through a session TEMP staging table and INSERT … SELECT … ON
 * CONFLICT (pk) DO UPDATE, so a replay overwrites rather than duplicates.
 * Measured on 1000-row batches, direct COPY loads clearly faster than a
 * multi-row INSERT … ON CONFLICT, and the staging path about as fast.
 * Updates and deletes go through prepared statements sent in libpq
 * pipeline mode, one sync per chunk, so no event costs a round trip.
 * Values travel as text (COPY text format or text parameters) formatted
 * into one buffer reused by every apply. Tables of a MySQL source get the
 * mapped column types of sqlmap.h and their values its conversions.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libpq-fe.h>

#include "core/core.h"
#include "targets/sqlmap.h"
#include "targets/value_text.h"

/* Rows formatted before handing them to libpq during a COPY. */
#define COPY_CHUNK_BYTES (256u * 1024u)
/* Updates/deletes sent before a pipeline sync: bounds what both sides
 * buffer (the server blocks writing results nobody reads). */
#define PIPELINE_CHUNK 1000u
/* Shorter insert runs go through the pipeline as single-row upserts: a
 * COPY costs two round trips, which short interleaved runs (an order, its
 * items, the next order) would pay again and again. */
#define COPY_MIN_ROWS 32u
/* Longest value shown in an error message's key. */
#define ERR_VALUE_MAX 64u
#define CHECKPOINT_TABLE "dbstreams_checkpoint"
/* Advisory lock key serialising table creation among writers
 * ('dbs' 'ctbl' as ASCII). */
#define CREATE_LOCK_KEY "7233558787207724"
/* Insert runs into a table that just met a duplicate key go through the
 * upsert for this many runs before COPY straight into it is tried again. */
#define UPSERT_RUNS_AFTER_DUPLICATE 64u
/* Savepoints one transaction may take for direct COPYs. Each is a
 * subtransaction with its own xid; past 64 of them the server's subxid
 * cache overflows and every other session's snapshots slow down. */
#define SAVEPOINTS_PER_TXN 32u
/* A lost connection is retried with exponential backoff from the first
 * delay, doubling up to the longest, until the give-up time has passed
 * since the loss (proposed keys target.reconnect.initialDelay, maxDelay,
 * giveUpAfter). A server restart takes seconds; five minutes covers a
 * failover or a short network cut without hiding a real outage. */
/* Seconds a (re)connect attempt may wait for the server: a cut network
 * must not block the target thread past its stop checks for long. */
#define CONNECT_TIMEOUT_TEXT "10"

typedef struct pg_stmt {
	uint8_t op;        /* dbs_op */
	uint8_t state;     /* STMT_* */
	uint32_t nparams;
	uint64_t *masks;   /* set mask then where mask, `words` each */
	char name[40];
} pg_stmt;

enum { STMT_NONE = 0, STMT_SENT, STMT_READY };

/* What this session knows about one source table definition. */
typedef struct pg_table {
	char *schema, *name;
	uint32_t version;
	uint32_t ncolumns;
	uint64_t shape;          /* hash of column names and types */
	const dbs_table *last;   /* last definition seen; we hold a reference so its
	                            address cannot be reused by another table */
	dbs_sqltype *types;      /* per column, parsed from `last` (they point into
	                            it); NULL unless the source is another dialect */
	uint32_t id;             /* names this table's staging table and statements */
	uint32_t *keys;          /* column indexes of the primary key */
	uint32_t nkeys;
	size_t words;            /* uint64 words of a column mask */
	char *qname;             /* "schema"."name" */
	char *copy_sql, *upsert_sql;   /* staging COPY and its upsert */
	char *conflict_sql;            /* " ON CONFLICT (pk) DO …", or "" without a key */
	char *copy_direct_sql;         /* COPY straight into the table */
	char *copy_savepoint_sql;      /* the same under SAVEPOINT dbs_copy */
	uint32_t upsert_runs;          /* runs left on the upsert path after a duplicate */
	uint64_t ready_txn;      /* apply number that created the table; 0 = committed */
	int ready;
	uint64_t stage_txn;      /* likewise for the staging table */
	int stage_ready;
	pg_stmt *stmts;
	size_t nstmts, capstmts;
	uint32_t next_stmt;
} pg_table;

/* One pipelined command whose result is still to be read. */
typedef struct pg_pending {
	pg_table *table;
	size_t stmt;     /* index in table->stmts (the array may move as it grows) */
	uint32_t event;  /* batch index of the event */
	uint8_t prepare; /* 1: a Prepare, 0: an execution */
} pg_pending;

typedef struct pg_target {
	dbs_target base; /* first: the core holds a dbs_target * */
	const dbs_target_config *config;
	const dbs_host *host;
	PGconn *conn;
	dbs_zero_date_policy zero_dates; /* target.options.zeroDates */
	dbs_position checkpoint;
	char *stream_literal; /* the stream id as a SQL string literal */
	pg_table **tables;
	size_t ntables, captables;
	pg_table *last_table;
	uint32_t next_table_id;
	uint64_t txn_no;      /* counts applies, so a rollback can undo what it created */
	dbs_textbuf buf;      /* row text and parameters */
	dbs_textbuf sql;      /* statements being built */
	dbs_textbuf errbuf;   /* key text for error messages */
	size_t *param_off;
	const char **params;
	size_t cap_params;
	uint64_t *mask;       /* scratch masks (set then where) */
	size_t cap_mask;
	pg_pending *pending;
	size_t cap_pending;
	uint64_t missed[2];   /* updates, deletes of this apply that found no row */
	uint32_t savepoints;  /* taken in this apply's transaction */
	int lost;             /* the last failure was the connection, not the data */
	/* The last failure was a row's data (constraint, value): the batch
	 * is applied again row by row to find it (apply_rowwise). */
	int data_error;
	char err_code[16];            /* its SQLSTATE, or "value" */
	char err_msg[DBS_ERRMSG_MAX]; /* the database's message alone */
	char *dlq_qname;              /* options.deadLetterTable, quoted; NULL: none */
	char *dlq_insert_sql;
	dbs_textbuf dlq_buf;   /* a rejected row's JSON documents */
	uint64_t dead_letters; /* rows written to the dead-letter table so far */
	/* With config->span_transactions: a transaction left open by the
	 * earlier batches of a source transaction, and where they end. */
	int open;
	dbs_position open_last;
	uint64_t open_seq;    /* hub sequence of the last batch applied */
	char open_pos[96];    /* open_last as the checkpoint row spells it */
} pg_target;

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Copy `msg` into err with line breaks folded, so stat shows one line. */
static void put_oneline(char *err, size_t errlen, size_t at, const char *msg)
{
	if (errlen == 0 || at >= errlen - 1)
		return;
	size_t o = at;
	int space = 0;
	for (const char *p = msg; *p && o < errlen - 1; p++) {
		char c = *p;
		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c == ' ' && (space || o == at))
			continue;
		space = c == ' ';
		err[o++] = c;
	}
	while (o > at && err[o - 1] == ' ')
		o--;
	err[o] = '\0';
}

/*
 * "<where>: <database message>". The message is the server's error
 * (severity, primary text, detail) when `res` carries one, else libpq's
 * connection message.
 */
static void db_error(pg_target *t, const PGresult *res, char *err, size_t errlen,
                     const char *where)
{
	char msg[DBS_ERRMSG_MAX];
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (primary) {
		const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		dbs__fmt(msg, sizeof msg, "%s: %s%s%s", sev ? sev : "ERROR", primary,
		         detail ? " DETAIL: " : "", detail ? detail : "");
	} else {
		const char *m = res ? PQresultErrorMessage(res) : "";
		if (!m[0])
			m = t->conn ? PQerrorMessage(t->conn) : "no connection";
		if (!m[0])
			m = "unexpected result from the server";
		dbs__fmt(msg, sizeof msg, "%s", m);
	}
	/* Class 08 (connection exception) and 57P (operator intervention:
	 * shutdown, crash recovery) say the session is gone, not the row;
	 * a dropped database (57P04) does not come back by reconnecting. */
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	/* Class 22 (data exception: out of range, invalid input, too long),
	 * 23 (integrity constraint: not-null, foreign key, unique, check),
	 * 54000 (a value too large for an index entry) and P0001 (a trigger
	 * that raises) are about the row's values; anything else is not. */
	t->data_error = state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
	                          strcmp(state, "54000") == 0 || strcmp(state, "P0001") == 0);
	dbs__fmt(t->err_code, sizeof t->err_code, "%s", state ? state : "");
	put_oneline(t->err_msg, sizeof t->err_msg, 0, msg);
	if ((t->conn && PQstatus(t->conn) == CONNECTION_BAD) ||
	    (state && (strncmp(state, "08", 2) == 0 ||
	               (strncmp(state, "57P", 3) == 0 && strcmp(state, "57P04") != 0))))
		t->lost = 1;
	size_t at = 0;
	if (where && where[0] && errlen > 0) {
		dbs__fmt(err, errlen, "%s: ", where);
		at = strlen(err);
	}
	put_oneline(err, errlen, at, msg);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static char *dup_str(const char *s)
{
	size_t n = strlen(s ? s : "");
	char *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static char *dup_buf(const dbs_textbuf *b)
{
	char *d = malloc(b->len + 1);
	if (d) {
		memcpy(d, b->data ? b->data : "", b->len);
		d[b->len] = '\0';
	}
	return d;
}

/* Run one statement that returns no rows; fills err on failure. */
static int exec_command(pg_target *t, const char *sql, const char *where, char *err,
                        size_t errlen)
{
	int rc = DBS_ETARGET;
	PGresult *res = PQexec(t->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		db_error(t, res, err, errlen, where);
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	/* FNV-1a: only compares shapes of one table within a session. */
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	h ^= 0xff;
	h *= 1099511628211ull;
	return h;
}

static uint64_t table_shape(const dbs_table *def)
{
	uint64_t h = 14695981039346656037ull;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		h = hash_str(h, def->columns[i].name);
		h = hash_str(h, def->columns[i].type_name);
		h ^= def->columns[i].flags;
		h *= 1099511628211ull;
	}
	return h;
}

static int grow(void **array, size_t *cap, size_t need, size_t size)
{
	int rc = 0;
	size_t n = *cap ? *cap : 16;
	if (need <= *cap)
		goto done;
	rc = DBS_ENOMEM;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			goto done;
		n *= 2;
	}
	if (n > SIZE_MAX / size)
		goto done;
	void *p = realloc(*array, n * size);
	if (!p)
		goto done;
	*array = p;
	*cap = n;
	rc = 0;
done:
	return rc;
}

static inline void mask_set(uint64_t *m, uint32_t i)
{
	m[i / 64] |= 1ull << (i % 64);
}

static inline int mask_has(const uint64_t *m, uint32_t i)
{
	return (m[i / 64] >> (i % 64)) & 1;
}

static int mask_empty(const uint64_t *m, size_t words)
{
	for (size_t i = 0; i < words; i++)
		if (m[i])
			return 0;
	return 1;
}

static int is_missing(const dbs_value *v)
{
	return v->kind == DBS_VALUE_NULL || v->kind == DBS_VALUE_UNCHANGED;
}

/* Column i of the before image; an update whose source sent no old row
 * (PostgreSQL, key unchanged) has before == NULL: every column missing. */
static const dbs_value *before_value(const dbs_event *ev, uint32_t i)
{
	static const dbs_value missing = {.kind = DBS_VALUE_NULL};
	return ev->before ? &ev->before[i] : &missing;
}

/* ------------------------------------------------------------------ */
/* Type mapping                                                        */
/* ------------------------------------------------------------------ */

/*
 * Append the target type of column `i`. A PostgreSQL source spells types
 * as format_type() does, which PostgreSQL reads back as is; another
 * dialect's types go through the mapping of sqlmap.h.
 */
static int target_column_type(dbs_textbuf *s, const pg_table *tb, const dbs_table *def,
                              uint32_t i, char *err, size_t errlen)
{
	int rc;
	const dbs_column *col = &def->columns[i];
	if (tb->types)
		rc = dbs__sqlmap_target_type(s, &tb->types[i], DBS_DIALECT_POSTGRESQL);
	else if (col->type_name && col->type_name[0])
		rc = dbs__textbuf_append_str(s, col->type_name);
	else
		rc = DBS_EINVAL;
	if (rc == DBS_EINVAL) {
		rc = DBS_ETARGET;
		dbs__fmt(err, errlen, "%s.%s: column \"%s\" has no type", def->schema, def->name,
		         col->name);
	} else if (rc) {
		dbs__fmt(err, errlen, "out of memory");
	}
	return rc;
}

/*
 * (Re)parse the column types of `tb->last` when its source speaks another
 * dialect: once per table definition, never per event. The parsed types
 * point into the definition, so this runs whenever `last` changes.
 */
static int table_parse_types(pg_table *tb)
{
	const dbs_table *def = tb->last;
	if (def->dialect == DBS_DIALECT_POSTGRESQL)
		return 0;
	if (!tb->types && !(tb->types = calloc(def->ncolumns ? def->ncolumns : 1, sizeof *tb->types)))
		return DBS_ENOMEM;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		dbs__sqlmap_parse(def, &def->columns[i], &tb->types[i]);
	return 0;
}

/*
 * Append value `v` of column `c` of `tb` to t->buf as `flags` says (COPY
 * text or a parameter's plain text). *is_null is set when the value is
 * NULL (COPY writes \N); a parameter then appends nothing. A value the
 * target cannot hold fails with DBS_ETARGET and the event named in err.
 */
static const char *event_label(pg_target *t, const pg_table *tb, const dbs_event *ev);

static int put_value(pg_target *t, const pg_table *tb, const dbs_event *ev, uint32_t c,
                     const dbs_value *v, unsigned flags, int *is_null, char *err, size_t errlen)
{
	int rc = 0;
	char msg[DBS_ERRMSG_MAX];
	msg[0] = '\0';
	*is_null = 0;
	if (v->kind == DBS_VALUE_UNCHANGED) {
		rc = DBS_ETARGET;
		dbs__fmt(err, errlen, "%s: unsent (unchanged) value in column \"%s\" where one is "
		         "needed", event_label(t, tb, ev), ev->table->columns[c].name);
		goto done;
	}
	if (tb->types) {
		rc = dbs__sqlmap_value_pg(&t->buf, &tb->types[c], v, t->zero_dates, flags, is_null,
		                          msg, sizeof msg);
	} else if (v->kind == DBS_VALUE_NULL) {
		*is_null = 1;
		if (flags & DBS_VALUE_TEXT_COPY)
			rc = dbs__textbuf_append(&t->buf, "\\N", 2);
	} else {
		rc = dbs__value_text_pg(&t->buf, v, flags);
		if (rc == DBS_EINVAL)
			dbs__fmt(msg, sizeof msg, "value kind %u has no PostgreSQL text form",
			         (unsigned)v->kind);
	}
	if (rc == DBS_ENOMEM) {
		dbs__fmt(err, errlen, "out of memory");
	} else if (rc && tb->types && msg[0]) {
		rc = DBS_ETARGET; /* sqlmap's message names the column, its type and the value */
		t->data_error = 1;
		dbs__fmt(t->err_code, sizeof t->err_code, "value");
		put_oneline(t->err_msg, sizeof t->err_msg, 0, msg);
		dbs__fmt(err, errlen, "%s: %s", event_label(t, tb, ev), msg);
	} else if (rc) {
		rc = DBS_ETARGET;
		dbs__fmt(err, errlen, "%s: column \"%s\": %s", event_label(t, tb, ev),
		         ev->table->columns[c].name, msg[0] ? msg : "value cannot be written");
	}
done:
	return rc;
}

/* ------------------------------------------------------------------ */
/* Table cache and DDL                                                 */
/* ------------------------------------------------------------------ */

static void table_free(pg_table *tb)
{
	if (!tb)
		return;
	if (tb->last)
		dbs_table_unref(tb->last);
	free(tb->types);
	for (size_t i = 0; i < tb->nstmts; i++)
		free(tb->stmts[i].masks);
	free(tb->stmts);
	free(tb->schema);
	free(tb->name);
	free(tb->keys);
	free(tb->qname);
	free(tb->copy_sql);
	free(tb->upsert_sql);
	free(tb->conflict_sql);
	free(tb->copy_direct_sql);
	free(tb->copy_savepoint_sql);
	free(tb);
}

/* The per-table option entry for `tb`, matched as "t" or "schema.t". */
static const dbs_target_table_option *table_option(const pg_target *t, const pg_table *tb)
{
	const dbs_target_table_option *found = NULL;
	size_t ls = strlen(tb->schema);
	for (uint32_t i = 0; i < t->config->ntables && !found; i++) {
		const char *n = t->config->tables[i].name;
		if (n && (strcmp(n, tb->name) == 0 ||
		          (strncmp(n, tb->schema, ls) == 0 && n[ls] == '.' &&
		           strcmp(n + ls + 1, tb->name) == 0)))
			found = &t->config->tables[i];
	}
	return found;
}

/* Build the cached SQL of a new table entry from its definition. */
static int table_build_sql(pg_target *t, pg_table *tb, const dbs_table *def)
{
	int rc = DBS_ENOMEM;
	dbs_textbuf *s = &t->sql;

	dbs__textbuf_reset(s);
	if (dbs__textbuf_append_ident(s, def->schema) || dbs__textbuf_append_char(s, '.') ||
	    dbs__textbuf_append_ident(s, def->name))
		goto done;
	if (!(tb->qname = dup_buf(s)))
		goto done;

	/* Each run into staging takes a new run number, which its rows get as
	 * their default (see stage_ensure). */
	dbs__textbuf_reset(s);
	if (dbs__textbuf_appendf(s, "SELECT nextval('pg_temp.dbs_run'); COPY pg_temp.dbs_stage_%" PRIu32
	                         " (", tb->id))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs__textbuf_append_char(s, ',')) ||
		    dbs__textbuf_append_ident(s, def->columns[i].name))
			goto done;
	if (dbs__textbuf_append_str(s, ") FROM STDIN"))
		goto done;
	if (!(tb->copy_sql = dup_buf(s)))
		goto done;

	dbs__textbuf_reset(s);
	if (dbs__textbuf_appendf(s, "COPY %s (", tb->qname))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs__textbuf_append_char(s, ',')) ||
		    dbs__textbuf_append_ident(s, def->columns[i].name))
			goto done;
	if (dbs__textbuf_append_str(s, ") FROM STDIN"))
		goto done;
	if (!(tb->copy_direct_sql = dup_buf(s)))
		goto done;
	dbs__textbuf_reset(s);
	if (dbs__textbuf_appendf(s, "SAVEPOINT dbs_copy; %s", tb->copy_direct_sql))
		goto done;
	if (!(tb->copy_savepoint_sql = dup_buf(s)))
		goto done;

	/* Replays and overlaps must not duplicate rows: upsert on the key
	 * (empty for a keyless table, whose inserts are plain and so not
	 * idempotent). */
	dbs__textbuf_reset(s);
	if (tb->nkeys) {
		if (dbs__textbuf_append_str(s, " ON CONFLICT ("))
			goto done;
		for (uint32_t k = 0; k < tb->nkeys; k++)
			if ((k && dbs__textbuf_append_char(s, ',')) ||
			    dbs__textbuf_append_ident(s, def->columns[tb->keys[k]].name))
				goto done;
		int any = 0;
		for (uint32_t i = 0; i < def->ncolumns; i++) {
			if (def->columns[i].flags & DBS_COLUMN_KEY)
				continue;
			if (dbs__textbuf_append_str(s, any ? "," : ") DO UPDATE SET ") ||
			    dbs__textbuf_append_ident(s, def->columns[i].name) ||
			    dbs__textbuf_append_str(s, "=EXCLUDED.") ||
			    dbs__textbuf_append_ident(s, def->columns[i].name))
				goto done;
			any = 1;
		}
		if (!any && dbs__textbuf_append_str(s, ") DO NOTHING"))
			goto done;
	}
	if (!(tb->conflict_sql = dup_buf(s)))
		goto done;

	/* The staging rows are deleted by the same statement, so staging is
	 * empty for the next run of the transaction (ON COMMIT DELETE ROWS
	 * then only has dead rows to drop). They are found by their run
	 * number through an index: a transaction spanning thousands of
	 * batches leaves as many runs of dead rows, which a scan of the whole
	 * table would read again at every run. Keyless tables never come here. */
	dbs__textbuf_reset(s);
	if (dbs__textbuf_appendf(s, "WITH d AS (DELETE FROM pg_temp.dbs_stage_%" PRIu32
	                         " WHERE dbs__run = (SELECT currval('pg_temp.dbs_run')) RETURNING *) "
	                         "INSERT INTO %s (", tb->id, tb->qname))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs__textbuf_append_char(s, ',')) ||
		    dbs__textbuf_append_ident(s, def->columns[i].name))
			goto done;
	if (dbs__textbuf_append_str(s, ") SELECT "))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs__textbuf_append_char(s, ',')) ||
		    dbs__textbuf_append_ident(s, def->columns[i].name))
			goto done;
	if (dbs__textbuf_append_str(s, " FROM d") || dbs__textbuf_append_str(s, tb->conflict_sql))
		goto done;
	if (!(tb->upsert_sql = dup_buf(s)))
		goto done;
	rc = 0;
done:
	return rc;
}

static int table_new(pg_target *t, const dbs_table *def, pg_table **out, char *err,
                     size_t errlen)
{
	int rc = DBS_ENOMEM;
	pg_table *tb = calloc(1, sizeof *tb);
	*out = NULL;
	if (!tb)
		goto fail;
	tb->id = ++t->next_table_id;
	tb->version = def->version;
	tb->ncolumns = def->ncolumns;
	tb->shape = table_shape(def);
	tb->last = dbs_table_ref(def);
	tb->words = ((size_t)def->ncolumns + 63) / 64;
	if (tb->words == 0)
		tb->words = 1;
	if (!(tb->schema = dup_str(def->schema)) || !(tb->name = dup_str(def->name)) ||
	    table_parse_types(tb))
		goto fail;
	if (!(tb->keys = malloc(((size_t)def->ncolumns + 1) * sizeof *tb->keys)))
		goto fail;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if (def->columns[i].flags & DBS_COLUMN_KEY)
			tb->keys[tb->nkeys++] = i;
	if (def->ncolumns == 0) {
		rc = DBS_ETARGET;
		dbs__fmt(err, errlen, "%s.%s: table has no columns", def->schema, def->name);
		goto fail;
	}
	if ((rc = table_build_sql(t, tb, def)) != 0)
		goto fail;
	rc = DBS_ENOMEM;
	if (grow((void **)&t->tables, &t->captables, t->ntables + 1, sizeof *t->tables))
		goto fail;
	t->tables[t->ntables++] = tb;
	*out = tb;
	return 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	table_free(tb);
	return rc;
}

/* The cache entry for `def`: same schema, name, version and shape. */
static int table_lookup(pg_target *t, const dbs_table *def, pg_table **out, char *err,
                        size_t errlen)
{
	int rc = 0;
	pg_table *tb = t->last_table;
	uint64_t shape = 0;
	int have_shape = 0;
	if (tb && tb->last == def)
		goto found;
	for (size_t i = 0; i < t->ntables; i++) {
		tb = t->tables[i];
		if (tb->last == def)
			goto found;
		if (tb->version != def->version || tb->ncolumns != def->ncolumns ||
		    strcmp(tb->name, def->name) != 0 || strcmp(tb->schema, def->schema) != 0)
			continue;
		/* Another definition object with the same version: the same
		 * table only if its columns are the same. */
		if (!have_shape) {
			shape = table_shape(def);
			have_shape = 1;
		}
		if (shape != tb->shape)
			continue;
		dbs_table_unref(tb->last);
		tb->last = dbs_table_ref(def);
		if (table_parse_types(tb)) {
			rc = DBS_ENOMEM;
			dbs__fmt(err, errlen, "out of memory");
			goto done;
		}
		goto found;
	}
	if ((rc = table_new(t, def, &tb, err, errlen)))
		goto done;
found:
	t->last_table = tb;
	*out = tb;
done:
	return rc;
}

static const char *table_label(const pg_table *tb, char *buf, size_t size)
{
	dbs__fmt(buf, size, "%s.%s", tb->schema, tb->name);
	return buf;
}

/*
 * Whether `qname` (a quoted, possibly qualified name) and `schema` exist.
 * CREATE … IF NOT EXISTS checks the CREATE privilege before existence, so
 * a user who may only write into existing tables must not run it.
 */
static int relation_exists(pg_target *t, const char *qname, const char *schema,
                           int *table_exists, int *schema_exists, const char *where, char *err,
                           size_t errlen)
{
	int rc = DBS_ETARGET;
	const char *params[2] = {qname, schema ? schema : ""};
	PGresult *res = PQexecParams(t->conn,
	                             "SELECT to_regclass($1) IS NOT NULL, "
	                             "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2)",
	                             2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(t, res, err, errlen, where);
		goto done;
	}
	*table_exists = PQgetvalue(res, 0, 0)[0] == 't';
	*schema_exists = PQgetvalue(res, 0, 1)[0] == 't';
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/*
 * Append the target name of index `ix`. PostgreSQL index names share the
 * schema's namespace with tables, MySQL's are per table: a MySQL index is
 * named "<table>_<index>" unless its name already starts so. A name past
 * PostgreSQL's 63 bytes is cut and ends with a hash of the whole, so two
 * long names stay apart.
 */
static int index_name(dbs_textbuf *s, const dbs_table *def, const dbs_index *ix)
{
	char name[256] = {0};
	size_t tl = strlen(def->name);
	int prefix = def->dialect != DBS_DIALECT_POSTGRESQL &&
	             !(strncmp(ix->name, def->name, tl) == 0 && ix->name[tl] == '_');
	int n = snprintf(name, sizeof name, "%s%s%s", prefix ? def->name : "", prefix ? "_" : "",
	                 ix->name);
	if (n < 0 || n > 63) { /* a cut name (n >= sizeof name) gets its hash too */
		uint64_t h = hash_str(hash_str(UINT64_C(1469598103934665603), def->name), ix->name);
		size_t cut = 54;
		while (cut && ((unsigned char)name[cut] & 0xC0) == 0x80)
			cut--; /* not inside a UTF-8 sequence */
		name[cut] = '\0';
		char tail[16];
		dbs__fmt(tail, sizeof tail, "_%08" PRIx32, (uint32_t)(h ^ (h >> 32)));
		dbs__fmt(name + cut, sizeof name - cut, "%s", tail);
	}
	return dbs__textbuf_append_ident(s, name);
}

/*
 * A MySQL TEXT, BLOB or JSON column: MySQL indexes those only by a prefix
 * (or, MariaDB, a hash for a long unique key), so their values may be far
 * longer than a PostgreSQL btree entry (about 2700 bytes): a whole-column
 * index would make inserts of such rows fail.
 */
static int mysql_long_column(const dbs_table *def, uint32_t c)
{
	const char *tn = def->columns[c].type_name ? def->columns[c].type_name : "";
	size_t n = strcspn(tn, "( ");
	return (n >= 4 &&
	        (strncasecmp(tn + n - 4, "text", 4) == 0 ||
	         strncasecmp(tn + n - 4, "blob", 4) == 0 || strncasecmp(tn, "json", 4) == 0));
}

/*
 * CREATE [UNIQUE] INDEX IF NOT EXISTS for one secondary index of a table
 * this transaction created. A MySQL FULLTEXT index has no PostgreSQL
 * counterpart over plain columns: left out with a warning. An index the
 * server refuses (a type without a btree operator class) is rolled back
 * to a savepoint and reported as a warning: the rows still replicate.
 */
static int index_create(pg_target *t, pg_table *tb, const dbs_table *def, const dbs_index *ix,
                        char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_textbuf *s = &t->sql;
	char label[256], ierr[DBS_ERRMSG_MAX];
	table_label(tb, label, sizeof label);
	if (ix->flags & DBS_INDEX_FULLTEXT) {
		if (t->host->log)
			t->host->log(t->host, DBS_LOG_WARN,
			             "postgresql target: %s: FULLTEXT index %s not created "
			             "(PostgreSQL has no full-text index over plain columns)",
			             label, ix->name);
		rc = 0;
		goto out;
	}
	for (uint32_t k = 0; k < ix->ncolumns && def->dialect == DBS_DIALECT_MYSQL; k++) {
		if (!mysql_long_column(def, ix->columns[k]))
			continue;
		if (t->host->log)
			t->host->log(
			    t->host, DBS_LOG_WARN,
			    "postgresql target: %s: index %s not created (MySQL column %s is "
			    "indexed by a prefix: its values may not fit a btree entry)",
			    label, ix->name, def->columns[ix->columns[k]].name);
		rc = 0;
		goto out;
	}
	dbs__textbuf_reset(s);
	if (dbs__textbuf_append_str(s, "SAVEPOINT dbs_index; CREATE ") ||
	    ((ix->flags & DBS_INDEX_UNIQUE) && dbs__textbuf_append_str(s, "UNIQUE ")) ||
	    dbs__textbuf_append_str(s, "INDEX IF NOT EXISTS ") || index_name(s, def, ix) ||
	    dbs__textbuf_appendf(s, " ON %s (", tb->qname))
		goto done;
	for (uint32_t k = 0; k < ix->ncolumns; k++)
		if ((k && dbs__textbuf_append_char(s, ',')) ||
		    dbs__textbuf_append_ident(s, def->columns[ix->columns[k]].name))
			goto done;
	if (dbs__textbuf_append_str(s, "); RELEASE SAVEPOINT dbs_index"))
		goto done;
	if (exec_command(t, s->data, label, ierr, sizeof ierr) != 0) {
		if ((rc = exec_command(t, "ROLLBACK TO SAVEPOINT dbs_index", label, err, errlen)))
			goto out;
		t->data_error = 0; /* handled: a warning, the rows still replicate */
		if (t->host->log)
			t->host->log(t->host, DBS_LOG_WARN,
			             "postgresql target: index %s not created: %s", ix->name, ierr);
	}
	rc = 0;
	goto out;
done:
	dbs__fmt(err, errlen, "out of memory");
out:
	return rc;
}

/* Create the schema and table when missing (inside the apply's transaction). */
static int table_create(pg_target *t, pg_table *tb, const dbs_table *def, char *err,
                        size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_textbuf *s = &t->sql;
	char label[256];
	/* The primary key is always made (the upsert needs it);
	 * noCreateIndexes skips the secondary indexes only. */
	const dbs_target_table_option *opt = table_option(t, tb);
	int table_exists = 0, schema_exists = 0;

	table_label(tb, label, sizeof label);
	if ((rc = relation_exists(t, tb->qname, def->schema, &table_exists, &schema_exists, label,
	                          err, errlen)) || table_exists)
		goto out;
	/* Writers sharing a stream may create the same table at once, and two
	 * concurrent CREATE ... IF NOT EXISTS can still collide: the lock,
	 * held until this transaction ends, lets one create and the other
	 * find the table. */
	if ((rc = exec_command(t, "SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY ")", label, err,
	                       errlen)) ||
	    (rc = relation_exists(t, tb->qname, def->schema, &table_exists, &schema_exists, label,
	                          err, errlen)) || table_exists)
		goto out;
	rc = DBS_ENOMEM;
	dbs__textbuf_reset(s);
	if (!schema_exists &&
	    (dbs__textbuf_append_str(s, "CREATE SCHEMA IF NOT EXISTS ") ||
	     dbs__textbuf_append_ident(s, def->schema) || dbs__textbuf_append_str(s, "; ")))
		goto done;
	if (dbs__textbuf_appendf(s, "CREATE TABLE IF NOT EXISTS %s (", tb->qname))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		const dbs_column *c = &def->columns[i];
		rc = DBS_ENOMEM;
		if ((i && dbs__textbuf_append_str(s, ", ")) || dbs__textbuf_append_ident(s, c->name) ||
		    dbs__textbuf_append_char(s, ' '))
			goto done;
		if ((rc = target_column_type(s, tb, def, i, err, errlen)) != 0)
			goto out;
		rc = DBS_ENOMEM;
		if ((c->flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) &&
		    dbs__textbuf_append_str(s, " NOT NULL"))
			goto done;
	}
	if (tb->nkeys) {
		if (dbs__textbuf_append_str(s, ", PRIMARY KEY ("))
			goto done;
		for (uint32_t k = 0; k < tb->nkeys; k++)
			if ((k && dbs__textbuf_append_char(s, ',')) ||
			    dbs__textbuf_append_ident(s, def->columns[tb->keys[k]].name))
				goto done;
		if (dbs__textbuf_append_char(s, ')'))
			goto done;
	}
	if (dbs__textbuf_append_char(s, ')'))
		goto done;
	if ((rc = exec_command(t, s->data, label, err, errlen)) != 0)
		goto out;
	for (uint32_t x = 0; x < def->nindexes && !(opt && opt->no_create_indexes); x++)
		if ((rc = index_create(t, tb, def, &def->indexes[x], err, errlen)) != 0)
			goto out;
	goto out;
done:
	dbs__fmt(err, errlen, "out of memory");
out:
	return rc;
}

/* The table exists on the target (created here unless noCreateTables). */
static int table_ensure(pg_target *t, pg_table *tb, const dbs_table *def, char *err,
                        size_t errlen)
{
	int rc = 0;
	if (tb->ready)
		goto done;
	if (!t->config->no_create_tables && (rc = table_create(t, tb, def, err, errlen)))
		goto done;
	tb->ready = 1;
	tb->ready_txn = t->txn_no;
done:
	return rc;
}

/* The session's staging table, shaped by the target table's own column
 * types so COPY parses each value exactly as the final INSERT would, plus
 * the run number of its rows (dbs__run, indexed; the session's sequence
 * dbs_run counts the runs). */
static int stage_ensure(pg_target *t, pg_table *tb, const dbs_table *def, char *err,
                        size_t errlen)
{
	int rc = 0;
	char label[256];
	if (tb->stage_ready)
		goto done;
	dbs_textbuf *s = &t->sql;
	dbs__textbuf_reset(s);
	rc = DBS_ENOMEM;
	if (dbs__textbuf_appendf(s, "CREATE TEMP SEQUENCE IF NOT EXISTS dbs_run; "
	                         "CREATE TEMP TABLE IF NOT EXISTS dbs_stage_%" PRIu32
	                         " ON COMMIT DELETE ROWS AS SELECT ", tb->id))
		goto oom;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs__textbuf_append_char(s, ',')) ||
		    dbs__textbuf_append_ident(s, def->columns[i].name))
			goto oom;
	if (dbs__textbuf_appendf(s, " FROM %s WITH NO DATA; ALTER TABLE pg_temp.dbs_stage_%" PRIu32
	                         " ADD COLUMN IF NOT EXISTS dbs__run bigint DEFAULT "
	                         "currval('pg_temp.dbs_run'); CREATE INDEX IF NOT EXISTS "
	                         "dbs_stage_%" PRIu32 "_run ON pg_temp.dbs_stage_%" PRIu32
	                         " (dbs__run)", tb->qname, tb->id, tb->id, tb->id))
		goto oom;
	if ((rc = exec_command(t, s->data, table_label(tb, label, sizeof label), err, errlen)))
		goto done;
	tb->stage_ready = 1;
	tb->stage_txn = t->txn_no;
	goto done;
oom:
	dbs__fmt(err, errlen, "out of memory");
done:
	return rc;
}

/* After a rollback, forget what the rolled-back transaction created. */
static void tables_rollback(pg_target *t)
{
	for (size_t i = 0; i < t->ntables; i++) {
		pg_table *tb = t->tables[i];
		if (tb->ready && tb->ready_txn == t->txn_no)
			tb->ready = 0;
		if (tb->stage_ready && tb->stage_txn == t->txn_no)
			tb->stage_ready = 0;
		for (size_t j = 0; j < tb->nstmts; j++)
			if (tb->stmts[j].state == STMT_SENT)
				tb->stmts[j].state = STMT_NONE;
	}
}

static void tables_committed(pg_target *t)
{
	for (size_t i = 0; i < t->ntables; i++) {
		pg_table *tb = t->tables[i];
		if (tb->ready_txn == t->txn_no)
			tb->ready_txn = 0;
		if (tb->stage_txn == t->txn_no)
			tb->stage_txn = 0;
	}
}

/* ------------------------------------------------------------------ */
/* Error context: "schema.t (id=42)"                                   */
/* ------------------------------------------------------------------ */

static const char *event_label(pg_target *t, const pg_table *tb, const dbs_event *ev)
{
	dbs_textbuf *b = &t->errbuf;
	const dbs_table *def = ev->table;
	dbs__textbuf_reset(b);
	if (dbs__textbuf_appendf(b, "%s.%s (", tb->schema, tb->name))
		goto done;
	/* Key columns, or every column of a table without a key. */
	uint32_t n = tb->nkeys ? tb->nkeys : def->ncolumns;
	for (uint32_t k = 0; k < n && k < 8; k++) {
		uint32_t i = tb->nkeys ? tb->keys[k] : k;
		const dbs_value *v = NULL;
		if (ev->before && !is_missing(&ev->before[i]))
			v = &ev->before[i];
		else if (ev->after)
			v = &ev->after[i];
		if (k && dbs__textbuf_append_str(b, ", "))
			goto done;
		if (dbs__textbuf_appendf(b, "%s=", def->columns[i].name))
			goto done;
		size_t at = b->len;
		if (!v || v->kind == DBS_VALUE_NULL)
			dbs__textbuf_append_str(b, "NULL");
		else if (v->kind == DBS_VALUE_UNCHANGED)
			dbs__textbuf_append_str(b, "(unchanged)");
		/* COPY escaping keeps tabs and line breaks of a key visible. */
		else if (dbs__value_text_pg(b, v, DBS_VALUE_TEXT_COPY) == 0 &&
		         b->len - at > ERR_VALUE_MAX) {
			b->len = at + ERR_VALUE_MAX;
			dbs__textbuf_append_str(b, "...");
		}
	}
	dbs__textbuf_append_char(b, ')');
done:
	return b->data ? b->data : "";
}

/* ------------------------------------------------------------------ */
/* Insert runs: COPY into staging, then upsert                         */
/* ------------------------------------------------------------------ */

static int position_skipped(const pg_target *t, const dbs_event *ev)
{
	return dbs_position_cmp(&ev->pos, &t->checkpoint) <= 0;
}

/* The 1-based COPY line the server's error context names, or 0. */
static unsigned long copy_error_line(const PGresult *res)
{
	const char *ctx = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
	const char *p = ctx ? strstr(ctx, ", line ") : NULL;
	if (!p)
		return 0;
	errno = 0;
	unsigned long n = strtoul(p + 7, NULL, 10);
	return errno ? 0 : n;
}

/* The event of line `line` of the run that started at `first`. */
static const dbs_event *run_event(pg_target *t, const dbs_batch *batch, uint32_t first,
                                  uint32_t end, unsigned long line)
{
	unsigned long seen = 0;
	for (uint32_t i = first; i < end; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (position_skipped(t, ev))
			continue;
		if (++seen == line)
			return ev;
	}
	return NULL;
}

static int copy_send(pg_target *t, char *err, size_t errlen)
{
	int rc = 0;
	if (t->buf.len == 0)
		goto done;
	if (t->buf.len > INT32_MAX || PQputCopyData(t->conn, t->buf.data, (int)t->buf.len) != 1) {
		db_error(t, NULL, err, errlen, "COPY");
		rc = DBS_ETARGET;
		goto done;
	}
	dbs__textbuf_reset(&t->buf);
done:
	return rc;
}

/*
 * COPY the run of inserts into `tb` that starts at `first` with `copy_sql`
 * (which ends in COPY … FROM STDIN) and set *end past the run. A unique
 * violation sets *duplicate so the caller can fall back to the upsert.
 */
static int copy_run(pg_target *t, const dbs_batch *batch, uint32_t first, uint32_t *end,
                    pg_table *tb, const char *copy_sql, int *duplicate, char *err,
                    size_t errlen)
{
	int rc = DBS_ETARGET;
	PGresult *res = NULL;
	int copying = 0;
	char label[256];
	uint32_t i = first, n = dbs_batch_count(batch);
	const dbs_table *def = dbs_batch_event(batch, first)->table;

	*duplicate = 0;
	table_label(tb, label, sizeof label);
	res = PQexec(t->conn, copy_sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		db_error(t, res, err, errlen, label);
		goto done;
	}
	PQclear(res);
	res = NULL;
	copying = 1;

	dbs__textbuf_reset(&t->buf);
	for (; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (position_skipped(t, ev))
			continue;
		if (ev->op != DBS_OP_INSERT)
			break;
		if (ev->table != def) {
			pg_table *other;
			if ((rc = table_lookup(t, ev->table, &other, err, errlen)))
				goto done;
			rc = DBS_ETARGET;
			if (other != tb)
				break;
		}
		for (uint32_t c = 0; c < def->ncolumns; c++) {
			if (c && dbs__textbuf_append_char(&t->buf, '\t'))
				goto oom;
			int is_null;
			if ((rc = put_value(t, tb, ev, c, &ev->after[c], DBS_VALUE_TEXT_COPY, &is_null,
			                    err, errlen)))
				goto done;
			rc = DBS_ETARGET;
		}
		if (dbs__textbuf_append_char(&t->buf, '\n'))
			goto oom;
		if (t->buf.len >= COPY_CHUNK_BYTES && (rc = copy_send(t, err, errlen)))
			goto done;
	}
	*end = i;
	if ((rc = copy_send(t, err, errlen)))
		goto done;
	rc = DBS_ETARGET;
	copying = 0;
	if (PQputCopyEnd(t->conn, NULL) != 1) {
		db_error(t, NULL, err, errlen, label);
		goto done;
	}
	res = PQgetResult(t->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		*duplicate = state && strcmp(state, "23505") == 0;
		const dbs_event *bad = run_event(t, batch, first, i, copy_error_line(res));
		db_error(t, res, err, errlen, bad ? event_label(t, tb, bad) : label);
		goto done;
	}
	rc = 0;
	goto done;
oom:
	rc = DBS_ENOMEM;
	dbs__fmt(err, errlen, "out of memory");
done:
	if (copying) {
		/* Abandon the COPY so the connection can roll back. */
		PQputCopyEnd(t->conn, "dbstreams: apply failed");
	}
	PQclear(res);
	/* Drain what is left of the COPY's results. */
	while ((res = PQgetResult(t->conn)) != NULL)
		PQclear(res);
	return rc;
}

/*
 * Apply the run of inserts into `tb` that starts at *index, and move
 * *index past it.
 *
 * Fast path: COPY straight into the table under a savepoint. A replay (or
 * a source that re-sends rows) hits the primary key; then the run goes
 * again through the staging table and INSERT … ON CONFLICT DO UPDATE, and
 * the next runs into this table take that path directly for a while.
 */
static int apply_insert_run(pg_target *t, const dbs_batch *batch, uint32_t *index,
                            pg_table *tb, char *err, size_t errlen)
{
	int rc = 0, duplicate = 0;
	uint32_t first = *index, end = first;
	const dbs_table *def = dbs_batch_event(batch, first)->table;
	char label[256];

	table_label(tb, label, sizeof label);
	if (tb->nkeys == 0) {
		/* No key to upsert on: a plain COPY, which is not idempotent (a
		 * replayed batch after a lost checkpoint inserts its rows again). */
		rc = copy_run(t, batch, first, &end, tb, tb->copy_direct_sql, &duplicate, err, errlen);
		goto done;
	}
	if (tb->upsert_runs == 0 && t->savepoints < SAVEPOINTS_PER_TXN) {
		t->savepoints++;
		rc = copy_run(t, batch, first, &end, tb, tb->copy_savepoint_sql, &duplicate, err,
		              errlen);
		if (rc == 0 || !duplicate)
			goto done;
		if ((rc = exec_command(t, "ROLLBACK TO SAVEPOINT dbs_copy", label, err, errlen)))
			goto done;
		t->data_error = 0; /* handled: the upsert takes the run */
		tb->upsert_runs = UPSERT_RUNS_AFTER_DUPLICATE;
	} else if (tb->upsert_runs) {
		tb->upsert_runs--;
	}

	if ((rc = stage_ensure(t, tb, def, err, errlen)))
		goto done;
	if ((rc = copy_run(t, batch, first, &end, tb, tb->copy_sql, &duplicate, err, errlen)))
		goto done;
	dbs__fmt(label + strlen(label), sizeof label - strlen(label), " (%" PRIu32 " inserted rows)",
	         end - first);
	rc = exec_command(t, tb->upsert_sql, label, err, errlen);
done:
	*index = end;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Updates and deletes: prepared statements in pipeline mode           */
/* ------------------------------------------------------------------ */

/*
 * Which columns the event writes (set mask: after-image columns that were
 * sent) and matches (where mask: the key, or every sent before-image
 * column of a table without a key). The masks go to t->mask.
 */
static int event_masks(pg_target *t, pg_table *tb, const dbs_event *ev, char *err,
                       size_t errlen)
{
	int rc = DBS_ENOMEM;
	size_t words = tb->words;
	const char *what = ev->op == DBS_OP_UPDATE ? "update" : "delete";
	uint64_t *set, *where;
	if (grow((void **)&t->mask, &t->cap_mask, 2 * words, sizeof *t->mask)) {
		dbs__fmt(err, errlen, "out of memory");
		goto done;
	}
	set = t->mask;
	where = t->mask + words;
	memset(t->mask, 0, 2 * words * sizeof *t->mask);
	uint32_t nc = ev->table->ncolumns;
	if (ev->op != DBS_OP_DELETE)
		for (uint32_t i = 0; i < nc; i++)
			if (ev->after[i].kind != DBS_VALUE_UNCHANGED)
				mask_set(set, i);
	rc = DBS_ETARGET;
	if (ev->op == DBS_OP_INSERT) {
		for (uint32_t i = 0; i < nc; i++) {
			if (!mask_has(set, i)) {
				dbs__fmt(err, errlen, "%s: insert with an unsent (unchanged) value in "
				         "column \"%s\"", event_label(t, tb, ev), ev->table->columns[i].name);
				goto done;
			}
		}
	} else if (tb->nkeys) {
		for (uint32_t k = 0; k < tb->nkeys; k++) {
			uint32_t i = tb->keys[k];
			const dbs_value *v = before_value(ev, i);
			if (is_missing(v) && ev->op == DBS_OP_UPDATE)
				v = &ev->after[i];
			if (is_missing(v)) {
				dbs__fmt(err, errlen, "%s: %s without a value for key column \"%s\"",
				         event_label(t, tb, ev), what, ev->table->columns[i].name);
				goto done;
			}
			mask_set(where, i);
		}
	} else {
		int any = 0;
		for (uint32_t i = 0; i < nc; i++) {
			const dbs_value *v = before_value(ev, i);
			if (v->kind == DBS_VALUE_UNCHANGED)
				continue;
			mask_set(where, i);
			any |= v->kind != DBS_VALUE_NULL;
		}
		if (!any) {
			/* A source sends the old row of a keyless table only with full
			 * replica identity; without it the row cannot be found. */
			dbs__fmt(err, errlen, "%s.%s: %s of a table without a primary key needs the "
			         "old row (REPLICA IDENTITY FULL / binlog_row_image=FULL)", tb->schema,
			         tb->name, what);
			goto done;
		}
	}
	rc = 0;
done:
	return rc;
}

static int build_stmt_sql(pg_target *t, pg_table *tb, const dbs_table *def, pg_stmt *st)
{
	int rc = DBS_ENOMEM;
	dbs_textbuf *s = &t->sql;
	const uint64_t *set = st->masks, *where = st->masks + tb->words;
	uint32_t p = 0;
	int first = 1;
	dbs__textbuf_reset(s);
	if (st->op == DBS_OP_INSERT) {
		/* The upsert of the staging path, one row at a time; a keyless
		 * table gets a plain INSERT (not idempotent). */
		if (dbs__textbuf_appendf(s, "INSERT INTO %s (", tb->qname))
			goto done;
		for (uint32_t i = 0; i < def->ncolumns; i++)
			if ((i && dbs__textbuf_append_char(s, ',')) ||
			    dbs__textbuf_append_ident(s, def->columns[i].name))
				goto done;
		if (dbs__textbuf_append_str(s, ") VALUES ("))
			goto done;
		for (uint32_t i = 0; i < def->ncolumns; i++)
			if (dbs__textbuf_appendf(s, i ? ",$%" PRIu32 : "$%" PRIu32, ++p))
				goto done;
		if (dbs__textbuf_append_char(s, ')'))
			goto done;
		if (dbs__textbuf_append_str(s, tb->conflict_sql))
			goto done;
		st->nparams = p;
		rc = 0;
		goto done;
	}
	if (st->op == DBS_OP_UPDATE) {
		if (dbs__textbuf_appendf(s, "UPDATE %s SET ", tb->qname))
			goto done;
		for (uint32_t i = 0; i < def->ncolumns; i++) {
			if (!mask_has(set, i))
				continue;
			if ((!first && dbs__textbuf_append_char(s, ',')) ||
			    dbs__textbuf_append_ident(s, def->columns[i].name) ||
			    dbs__textbuf_appendf(s, "=$%" PRIu32, ++p))
				goto done;
			first = 0;
		}
	} else if (dbs__textbuf_appendf(s, "DELETE FROM %s", tb->qname)) {
		goto done;
	}
	/* Without a key, match every sent old value (NULLs included) and touch
	 * one row only, as the source changed one: the ctid subquery gives
	 * LIMIT 1. Columns of types without equality (json, point) cannot be
	 * matched this way; the server says so when the statement is prepared. */
	if (tb->nkeys ? dbs__textbuf_append_str(s, " WHERE ")
	              : dbs__textbuf_appendf(s, " WHERE ctid = (SELECT ctid FROM %s WHERE ",
	                                     tb->qname))
		goto done;
	first = 1;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		if (!mask_has(where, i))
			continue;
		if ((!first && dbs__textbuf_append_str(s, " AND ")) ||
		    dbs__textbuf_append_ident(s, def->columns[i].name) ||
		    dbs__textbuf_appendf(s, tb->nkeys ? "=$%" PRIu32 : " IS NOT DISTINCT FROM $%" PRIu32,
		                         ++p))
			goto done;
		first = 0;
	}
	if (!tb->nkeys && dbs__textbuf_append_str(s, " LIMIT 1)"))
		goto done;
	st->nparams = p;
	rc = 0;
done:
	return rc;
}

/* The statement for this event's shape (op and masks), added on first use;
 * it is prepared on the server when first sent. */
static int stmt_for_event(pg_target *t, pg_table *tb, const dbs_event *ev, pg_stmt **out,
                          char *err, size_t errlen)
{
	int rc = event_masks(t, tb, ev, err, errlen);
	size_t mask_bytes = 2 * tb->words * sizeof *t->mask;
	pg_stmt *st = NULL;
	if (rc)
		goto done;
	for (size_t i = 0; i < tb->nstmts; i++) {
		st = &tb->stmts[i];
		if (st->op == ev->op && memcmp(st->masks, t->mask, mask_bytes) == 0)
			goto done;
	}
	rc = DBS_ENOMEM;
	if (grow((void **)&tb->stmts, &tb->capstmts, tb->nstmts + 1, sizeof *tb->stmts)) {
		dbs__fmt(err, errlen, "out of memory");
		goto done;
	}
	st = &tb->stmts[tb->nstmts];
	memset(st, 0, sizeof *st);
	if (!(st->masks = malloc(mask_bytes))) {
		dbs__fmt(err, errlen, "out of memory");
		goto done;
	}
	memcpy(st->masks, t->mask, mask_bytes);
	st->op = ev->op;
	tb->nstmts++;
	rc = 0;
done:
	*out = rc ? NULL : st;
	return rc;
}

/* Format the event's parameters into t->buf and point t->params at them. */
static int event_params(pg_target *t, pg_table *tb, const dbs_event *ev, const pg_stmt *st,
                        char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	const uint64_t *set = st->masks, *where = st->masks + tb->words;
	uint32_t nc = ev->table->ncolumns, p = 0;
	if (st->nparams + (size_t)1 > t->cap_params) {
		size_t cap = t->cap_params, cap2 = t->cap_params;
		if (grow((void **)&t->param_off, &cap, st->nparams + (size_t)1, sizeof *t->param_off) ||
		    grow((void **)&t->params, &cap2, cap, sizeof *t->params))
			goto oom;
		t->cap_params = cap;
	}
	dbs__textbuf_reset(&t->buf);
	for (int pass = 0; pass < 2; pass++) {
		const uint64_t *m = pass ? where : set;
		for (uint32_t i = 0; i < nc; i++) {
			if (!mask_has(m, i))
				continue;
			const dbs_value *v;
			if (pass == 0)
				v = &ev->after[i];
			else if (tb->nkeys && is_missing(before_value(ev, i)) && ev->after)
				v = &ev->after[i]; /* the key did not change: the source sent only the new row */
			else
				v = before_value(ev, i);
			size_t at = t->buf.len;
			int is_null;
			if ((rc = put_value(t, tb, ev, i, v, 0, &is_null, err, errlen)))
				goto done;
			if (is_null) {
				t->param_off[p++] = SIZE_MAX;
				continue;
			}
			t->param_off[p++] = at;
			if (dbs__textbuf_append_char(&t->buf, '\0'))
				goto oom;
		}
	}
	/* Pointers only now: the buffer may have moved while it grew. */
	for (uint32_t k = 0; k < p; k++)
		t->params[k] = t->param_off[k] == SIZE_MAX ? NULL : t->buf.data + t->param_off[k];
	rc = 0;
	goto done;
oom:
	rc = DBS_ENOMEM;
	dbs__fmt(err, errlen, "out of memory");
done:
	return rc;
}

/*
 * Read the results of `npending` pipelined commands and the sync. Returns
 * the first failure, with the event that caused it in err; always reads
 * everything so the connection leaves pipeline mode in a clean state.
 */
static int pipeline_collect(pg_target *t, const dbs_batch *batch, size_t npending, char *err,
                            size_t errlen)
{
	int rc = 0;
	for (size_t k = 0; k < npending; k++) {
		pg_pending *pd = &t->pending[k];
		PGresult *res = PQgetResult(t->conn);
		ExecStatusType st = PQresultStatus(res);
		if (!res) {
			if (rc == 0) {
				db_error(t, NULL, err, errlen, "pipeline");
				rc = DBS_ETARGET;
			}
			break;
		}
		pg_stmt *stmt = &pd->table->stmts[pd->stmt];
		if (st == PGRES_COMMAND_OK) {
			if (pd->prepare)
				stmt->state = STMT_READY;
			else if (stmt->op != DBS_OP_INSERT && strcmp(PQcmdTuples(res), "0") == 0)
				t->missed[stmt->op == DBS_OP_UPDATE ? 0 : 1]++;
		} else if (rc == 0) {
			const dbs_event *ev = dbs_batch_event(batch, pd->event);
			db_error(t, res, err, errlen, event_label(t, pd->table, ev));
			rc = DBS_ETARGET;
		}
		PQclear(res);
		/* Each command's results end with a NULL. */
		while ((res = PQgetResult(t->conn)) != NULL) {
			if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
				PQclear(res);
				goto synced;
			}
			PQclear(res);
		}
	}
	for (int nulls = 0; nulls < 3;) {
		PGresult *res = PQgetResult(t->conn);
		if (!res) {
			if (PQstatus(t->conn) == CONNECTION_BAD)
				break;
			nulls++;
			continue;
		}
		nulls = 0;
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
	}
synced:
	if (rc == 0 && PQstatus(t->conn) == CONNECTION_BAD) {
		db_error(t, NULL, err, errlen, "pipeline");
		rc = DBS_ETARGET;
	}
	return rc;
}

/*
 * Events from `first` on (at most `limit`, skipped ones not counted) that
 * insert into the same table as the event at `first`, an insert.
 */
static uint32_t insert_run_length(pg_target *t, const dbs_batch *batch, uint32_t first,
                                  uint32_t limit)
{
	uint32_t len = 0, n = dbs_batch_count(batch);
	const dbs_table *def = dbs_batch_event(batch, first)->table;
	for (uint32_t i = first; i < n && len < limit; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (position_skipped(t, ev))
			continue;
		/* Another definition object of the same table ends the run
		 * early: only a shorter COPY, never a wrong one. */
		if (ev->op != DBS_OP_INSERT || ev->table != def)
			break;
		len++;
	}
	return len;
}

/*
 * Apply the events from *index on through the pipeline: updates, deletes
 * and short insert runs, stopping at a long insert run (for COPY) or a
 * table not created yet in this session; move *index past them.
 */
static int apply_change_run(pg_target *t, const dbs_batch *batch, uint32_t *index, char *err,
                            size_t errlen)
{
	int rc = DBS_ETARGET;
	int in_pipeline = 0;
	size_t npending = 0;
	uint32_t i = *index, n = dbs_batch_count(batch);
	uint32_t short_end = 0; /* end of the short insert run being sent */

	if (PQenterPipelineMode(t->conn) != 1) {
		db_error(t, NULL, err, errlen, "pipeline");
		goto done;
	}
	in_pipeline = 1;
	for (; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (position_skipped(t, ev))
			continue;
		pg_table *tb;
		if ((rc = table_lookup(t, ev->table, &tb, err, errlen)))
			goto done;
		if (!tb->ready)
			break; /* DDL cannot run inside the pipeline */
		if (ev->op == DBS_OP_INSERT && i >= short_end) {
			if (insert_run_length(t, batch, i, COPY_MIN_ROWS) >= COPY_MIN_ROWS)
				break; /* long enough for COPY */
			short_end = i + insert_run_length(t, batch, i, UINT32_MAX);
		}
		pg_stmt *st;
		if ((rc = stmt_for_event(t, tb, ev, &st, err, errlen)))
			goto done;
		if (st->op == DBS_OP_UPDATE && mask_empty(st->masks, tb->words))
			continue; /* nothing sent but unchanged values: nothing to write */
		if (grow((void **)&t->pending, &t->cap_pending, npending + 2, sizeof *t->pending)) {
			rc = DBS_ENOMEM;
			dbs__fmt(err, errlen, "out of memory");
			goto done;
		}
		rc = DBS_ETARGET;
		if (st->state == STMT_NONE) {
			if ((rc = build_stmt_sql(t, tb, ev->table, st))) {
				dbs__fmt(err, errlen, "out of memory");
				goto done;
			}
			/* A fresh name each time: a Prepare whose outcome was lost may
			 * still exist on the server. */
			dbs__fmt(st->name, sizeof st->name, "dbs_%c%" PRIu32 "_%" PRIu32,
			         st->op == DBS_OP_UPDATE ? 'u' : 'd', tb->id, tb->next_stmt++);
			rc = DBS_ETARGET;
			if (PQsendPrepare(t->conn, st->name, t->sql.data, (int)st->nparams, NULL) != 1) {
				db_error(t, NULL, err, errlen, event_label(t, tb, ev));
				goto done;
			}
			st->state = STMT_SENT;
			t->pending[npending++] = (pg_pending){tb, (size_t)(st - tb->stmts), i, 1};
		}
		if ((rc = event_params(t, tb, ev, st, err, errlen)))
			goto done;
		rc = DBS_ETARGET;
		if (PQsendQueryPrepared(t->conn, st->name, (int)st->nparams, t->params, NULL, NULL,
		                        0) != 1) {
			db_error(t, NULL, err, errlen, event_label(t, tb, ev));
			goto done;
		}
		t->pending[npending++] = (pg_pending){tb, (size_t)(st - tb->stmts), i, 0};
		if (npending >= PIPELINE_CHUNK) {
			if (PQpipelineSync(t->conn) != 1) {
				db_error(t, NULL, err, errlen, "pipeline");
				goto done;
			}
			rc = pipeline_collect(t, batch, npending, err, errlen);
			npending = 0;
			if (rc)
				goto done;
		}
	}
	rc = 0;
done:
	if (in_pipeline) {
		if (PQpipelineSync(t->conn) == 1) {
			int crc = pipeline_collect(t, batch, npending, rc ? NULL : err, rc ? 0 : errlen);
			if (rc == 0)
				rc = crc;
		} else if (rc == 0) {
			db_error(t, NULL, err, errlen, "pipeline");
			rc = DBS_ETARGET;
		}
		if (PQexitPipelineMode(t->conn) != 1 && rc == 0) {
			db_error(t, NULL, err, errlen, "pipeline");
			rc = DBS_ETARGET;
		}
	}
	*index = i;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Checkpoint                                                          */
/* ------------------------------------------------------------------ */

static int checkpoint_read(pg_target *t, char *err, size_t errlen)
{
	int rc = DBS_ETARGET;
	const char *params[1] = {t->host->stream_id};
	PGresult *res = PQexecParams(t->conn,
	                             "SELECT txn::text, resume::text, event, txn_end, gtid "
	                             "FROM " CHECKPOINT_TABLE " WHERE stream_id = $1",
	                             1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(t, res, err, errlen, "reading the checkpoint");
		goto done;
	}
	memset(&t->checkpoint, 0, sizeof t->checkpoint);
	if (PQntuples(res) == 1) {
		errno = 0;
		t->checkpoint.txn = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		t->checkpoint.resume = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
		unsigned long long ev = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
		unsigned long long end = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
		if (errno || ev > UINT32_MAX || end > UINT32_MAX) {
			dbs__fmt(err, errlen, CHECKPOINT_TABLE " row of stream %s is out of range",
			         t->host->stream_id);
			goto done;
		}
		t->checkpoint.event = (uint32_t)ev;
		t->checkpoint.txn_end = (uint32_t)end;
		const char *gtid = PQgetvalue(res, 0, 4);
		if (!PQgetisnull(res, 0, 4) && gtid[0] &&
		    dbs__gtid_parse(gtid, strlen(gtid), &t->checkpoint.gtid_domain,
		                    &t->checkpoint.gtid_server, &t->checkpoint.gtid_seq) != 0) {
			dbs__fmt(err, errlen,
			         CHECKPOINT_TABLE " row of stream %s has a malformed gtid \"%.64s\"",
			         t->host->stream_id, gtid);
			goto done;
		}
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/* A checkpoint table made before positions carried a GTID gains the
 * column; IF NOT EXISTS keeps two streams opening at once apart. */
static int checkpoint_add_gtid(pg_target *t, char *err, size_t errlen)
{
	int rc = DBS_ETARGET;
	PGresult *res = PQexec(t->conn, "SELECT 1 FROM pg_attribute WHERE attrelid = "
	                                "to_regclass('" CHECKPOINT_TABLE "') AND attname = 'gtid' "
	                                "AND NOT attisdropped");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(t, res, err, errlen, "reading the columns of " CHECKPOINT_TABLE);
		goto done;
	}
	rc = PQntuples(res) ? 0
	                    : exec_command(t,
	                                   "ALTER TABLE " CHECKPOINT_TABLE
	                                   " ADD COLUMN IF NOT EXISTS gtid text",
	                                   "adding the gtid column to " CHECKPOINT_TABLE, err,
	                                   errlen);
done:
	PQclear(res);
	return rc;
}

/* Upsert the checkpoint row for `last` (hub sequence `seq`, printed as
 * `pos`) and COMMIT in one round trip. */
static int commit_at(pg_target *t, const dbs_position *last, uint64_t seq, const char *pos,
                     char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	PGresult *res = NULL;
	char gtid[48], gtid_sql[52] = "NULL";
	if (last->gtid_seq && dbs__gtid_text(gtid, sizeof gtid, last) == 0)
		dbs__fmt(gtid_sql, sizeof gtid_sql, "'%s'", gtid);
	dbs_textbuf *s = &t->sql;
	dbs__textbuf_reset(s);
	if (dbs__textbuf_appendf(s, "INSERT INTO " CHECKPOINT_TABLE
	                         " (stream_id, txn, resume, event, txn_end, hub_seq, position, "
	                         "gtid, updated_at) VALUES (%s, %" PRIu64 ", %" PRIu64 ", %" PRIu32
	                         ", %" PRIu32 ", %" PRIu64 ", '%s', %s, now()) ON CONFLICT "
	                         "(stream_id) DO UPDATE SET txn = EXCLUDED.txn, "
	                         "resume = EXCLUDED.resume, event = EXCLUDED.event, "
	                         "txn_end = EXCLUDED.txn_end, hub_seq = EXCLUDED.hub_seq, "
	                         "position = EXCLUDED.position, gtid = EXCLUDED.gtid, "
	                         "updated_at = EXCLUDED.updated_at; COMMIT",
	                         t->stream_literal, last->txn, last->resume, last->event,
	                         last->txn_end, seq, pos, gtid_sql)) {
		dbs__fmt(err, errlen, "out of memory");
		goto done;
	}
	rc = DBS_ETARGET;
	res = PQexec(t->conn, s->data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_error(t, res, err, errlen, "commit");
		goto done;
	}
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		dbs__fmt(err, errlen, "commit: the server rolled the transaction back (%s)",
		         PQcmdStatus(res));
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

static int commit_with_checkpoint(pg_target *t, const dbs_batch *batch, char *err,
                                  size_t errlen)
{
	const dbs_position *last = dbs_batch_last(batch);
	char pos[96];
	dbs__position_text(pos, sizeof pos, batch, last);
	return commit_at(t, last, dbs_batch_seq(batch), pos, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Vtable                                                              */
/* ------------------------------------------------------------------ */

static void pg_close(dbs_target *base)
{
	pg_target *t = (pg_target *)base;
	if (!t)
		return;
	if (t->conn)
		PQfinish(t->conn);
	for (size_t i = 0; i < t->ntables; i++)
		table_free(t->tables[i]);
	free(t->tables);
	free(t->stream_literal);
	dbs__textbuf_free(&t->buf);
	dbs__textbuf_free(&t->sql);
	dbs__textbuf_free(&t->errbuf);
	free(t->param_off);
	free(t->params);
	free(t->mask);
	free(t->pending);
	free(t->dlq_qname);
	free(t->dlq_insert_sql);
	dbs__textbuf_free(&t->dlq_buf);
	free(t);
}

/* Settings that make values read back in one canonical form; notices of
 * IF NOT EXISTS are noise, warnings still reach the log. */
static const char session_sql[] =
	"SET client_encoding TO 'UTF8'; SET DateStyle TO 'ISO'; SET TimeZone TO 'UTC'; "
	"SET extra_float_digits TO 3; SET standard_conforming_strings TO on; "
	"SET bytea_output TO 'hex'; SET IntervalStyle TO 'postgres'; "
	"SET client_min_messages TO warning";

/* libpq prints notices to stderr by default; the library never prints. */
static void forward_notice(void *arg, const char *message)
{
	const pg_target *t = arg;
	size_t n = strlen(message);
	while (n && (message[n - 1] == '\n' || message[n - 1] == ' '))
		n--;
	if (t->host->log && n <= INT32_MAX)
		t->host->log(t->host, DBS_LOG_WARN, "postgresql target: %.*s", (int)n, message);
}

static const char checkpoint_ddl[] =
	"CREATE TABLE IF NOT EXISTS " CHECKPOINT_TABLE " ("
	"stream_id text PRIMARY KEY, "
	"txn numeric(20,0) NOT NULL, "     /* uint64: bigint would overflow at 2^63 */
	"resume numeric(20,0) NOT NULL, "
	"event bigint NOT NULL, "
	"txn_end bigint NOT NULL, "
	"hub_seq numeric(20,0) NOT NULL, "
	"position text NOT NULL, "
	"updated_at timestamptz NOT NULL DEFAULT now(), "
	"gtid text)"; /* MariaDB GTID of the position, "0-1-42"; NULL without one */

/* The dead-letter table: one row per rejected event, keyed by the
 * event's place in the source so that it is written once. */
static const char dead_letter_columns[] =
	" (stream_id text NOT NULL, "
	"source_txn numeric(20,0) NOT NULL, "
	"source_event bigint NOT NULL, "
	"source_position text NOT NULL, "
	"source_table text NOT NULL, "
	"operation text NOT NULL, "
	"row_key jsonb, "
	"row_before jsonb, "
	"row_after jsonb, "
	"error_code text NOT NULL, "
	"error_message text NOT NULL, "
	"rejected_at timestamptz NOT NULL DEFAULT now(), "
	"PRIMARY KEY (stream_id, source_txn, source_event))";

/*
 * Quote options.deadLetterTable ("t" or "schema.t"), create it (and its
 * schema) when missing, and keep its INSERT.
 */
static int dead_letter_prepare(pg_target *t, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	const char *name = t->config->dead_letter_table;
	const char *dot = strchr(name, '.');
	char schema[64] = "";
	int exists = 0, schema_exists = 0;
	dbs_textbuf *s = &t->sql;
	dbs__textbuf_reset(s);
	if (dot) {
		dbs__fmt(schema, sizeof schema, "%.*s", (int)(dot - name), name);
		if (dbs__textbuf_append_ident(s, schema) || dbs__textbuf_append_char(s, '.'))
			goto oom;
	}
	if (dbs__textbuf_append_ident(s, dot ? dot + 1 : name) || !(t->dlq_qname = dup_buf(s)))
		goto oom;
	if ((rc = relation_exists(t, t->dlq_qname, dot ? schema : NULL, &exists, &schema_exists,
	                          "the dead-letter table", err, errlen)))
		goto done;
	if (!exists) {
		/* Under the lock of table creation: writers sharing a stream
		 * start together and would collide. */
		if ((rc = exec_command(t, "BEGIN; SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY ")",
		                       "creating the dead-letter table", err, errlen)) ||
		    (rc = relation_exists(t, t->dlq_qname, dot ? schema : NULL, &exists,
		                          &schema_exists, "the dead-letter table", err, errlen)))
			goto done;
		rc = DBS_ENOMEM;
		dbs__textbuf_reset(s);
		if (!exists && dot && !schema_exists &&
		    (dbs__textbuf_append_str(s, "CREATE SCHEMA IF NOT EXISTS ") ||
		     dbs__textbuf_append_ident(s, schema) || dbs__textbuf_append_str(s, "; ")))
			goto oom;
		if (!exists && dbs__textbuf_appendf(s, "CREATE TABLE IF NOT EXISTS %s%s; ",
		                                    t->dlq_qname, dead_letter_columns))
			goto oom;
		if (dbs__textbuf_append_str(s, "COMMIT"))
			goto oom;
		if ((rc = exec_command(t, s->data, "creating the dead-letter table", err, errlen)))
			goto done;
	}
	rc = DBS_ENOMEM;
	dbs__textbuf_reset(s);
	if (dbs__textbuf_appendf(s, "INSERT INTO %s (stream_id, source_txn, source_event, "
	                         "source_position, source_table, operation, row_key, "
	                         "row_before, row_after, error_code, error_message, rejected_at) "
	                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now()) "
	                         "ON CONFLICT (stream_id, source_txn, source_event) DO NOTHING",
	                         t->dlq_qname) ||
	    !(t->dlq_insert_sql = dup_buf(s)))
		goto oom;
	rc = 0;
	goto done;
oom:
	rc = DBS_ENOMEM;
	dbs__fmt(err, errlen, "out of memory");
done:
	return rc;
}

/* A new session with the user's connection string and TLS files. */
static PGconn *connect_target(const dbs_target_config *config)
{
	const char *keys[7], *vals[7];
	int k = 0;
	/* Before dbname, so a connect_timeout in the user's string wins. */
	keys[k] = "connect_timeout", vals[k++] = CONNECT_TIMEOUT_TEXT;
	/* dbname first: it expands the user's URI or key=value string; the
	 * TLS files of the settings, when given, override what it says. */
	keys[k] = "dbname", vals[k++] = config->connection;
	if (config->ssl_ca && config->ssl_ca[0])
		keys[k] = "sslrootcert", vals[k++] = config->ssl_ca;
	if (config->ssl_cert && config->ssl_cert[0])
		keys[k] = "sslcert", vals[k++] = config->ssl_cert;
	if (config->ssl_key && config->ssl_key[0])
		keys[k] = "sslkey", vals[k++] = config->ssl_key;
	/* Names the session in pg_stat_activity unless the user named it. */
	keys[k] = "fallback_application_name", vals[k++] = "dbstreams";
	keys[k] = NULL, vals[k] = NULL;
	return PQconnectdbParams(keys, vals, 1);
}

static int pg_open(dbs_target **out, const dbs_target_config *config, const dbs_host *host,
                   dbs_position *checkpoint, char *err, size_t errlen)
{
	int rc = DBS_EINVAL;
	pg_target *t = NULL;
	if (out)
		*out = NULL;
	if (!out || !config || !host || !checkpoint || !host->stream_id || !config->connection) {
		dbs__fmt(err, errlen, "postgresql target: missing connection, stream id or output");
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(t = calloc(1, sizeof *t))) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	t->base.ops = &dbs__postgresql_target_ops;
	t->config = config;
	t->zero_dates = !config->zero_dates || strcmp(config->zero_dates, "fail") == 0
	                        ? DBS_ZERO_DATE_FAIL
	                : strcmp(config->zero_dates, "null") == 0 ? DBS_ZERO_DATE_NULL
	                                                          : DBS_ZERO_DATE_NEG_INFINITY;
	t->host = host;
	t->txn_no = 1;

	rc = DBS_ETARGET;
	t->conn = connect_target(config);
	if (!t->conn) {
		rc = DBS_ENOMEM;
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	if (PQstatus(t->conn) != CONNECTION_OK) {
		db_error(t, NULL, err, errlen, "connecting to the target");
		goto fail;
	}
	PQsetNoticeProcessor(t->conn, forward_notice, t);
	int ck_exists = 0, schema_exists = 0;
	if ((rc = exec_command(t, session_sql, "session settings", err, errlen)) ||
	    (rc = relation_exists(t, CHECKPOINT_TABLE, NULL, &ck_exists, &schema_exists,
	                          CHECKPOINT_TABLE, err, errlen)) ||
	    (!ck_exists &&
	     ((rc = exec_command(t, "BEGIN; SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY ")",
	                         "creating " CHECKPOINT_TABLE, err, errlen)) ||
	      (rc = exec_command(t, checkpoint_ddl, "creating " CHECKPOINT_TABLE, err, errlen)) ||
	      (rc = exec_command(t, "COMMIT", "creating " CHECKPOINT_TABLE, err, errlen)))) ||
	    (ck_exists && (rc = checkpoint_add_gtid(t, err, errlen))) ||
	    (rc = checkpoint_read(t, err, errlen)))
		goto fail;
	if (config->dead_letter_table && (rc = dead_letter_prepare(t, err, errlen)))
		goto fail;

	dbs__textbuf_reset(&t->sql);
	if (dbs__textbuf_append_literal(&t->sql, host->stream_id, strlen(host->stream_id)) ||
	    !(t->stream_literal = dup_buf(&t->sql))) {
		rc = DBS_ENOMEM;
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	*checkpoint = t->checkpoint;
	*out = &t->base;
	return 0;
fail:
	pg_close(t ? &t->base : NULL);
	return rc;
}

/* After a commit: say when updates or deletes found no row to change. */
static void log_missed(const pg_target *t)
{
	if ((t->missed[0] || t->missed[1]) && t->host->log)
		t->host->log(t->host, DBS_LOG_WARN,
		             "postgresql target: %" PRIu64 " updates and %" PRIu64 " deletes found "
		             "no row: the target differs from the source",
		             t->missed[0], t->missed[1]);
}

/* What the open transaction did is committed: the session's caches
 * keep it, the checkpoint moves, and rows that were missing are told. */
static void txn_committed(pg_target *t, const dbs_position *last)
{
	tables_committed(t);
	t->checkpoint = *last;
	t->open = 0;
	log_missed(t);
}

static int apply_once(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0;
	int in_txn = 0;
	uint32_t n = dbs_batch_count(batch);
	const dbs_position *last = dbs_batch_last(batch);

	if (!t || !batch) {
		rc = DBS_EINVAL;
		dbs__fmt(err, errlen, "postgresql target: apply without a target or batch");
		goto done;
	}
	/* A batch wholly at or before the checkpoint was applied already. */
	if (n == 0 || dbs_position_cmp(last, &t->checkpoint) <= 0) {
		rc = t->open ? DBS_APPLY_OPEN : 0;
		goto done;
	}
	in_txn = 1;
	t->data_error = 0;
	if (!t->open) {
		t->txn_no++;
		t->missed[0] = t->missed[1] = 0;
		t->savepoints = 0;
		/* A failure that could not roll back leaves a transaction open. */
		if (PQtransactionStatus(t->conn) == PQTRANS_INERROR ||
		    PQtransactionStatus(t->conn) == PQTRANS_INTRANS)
			PQclear(PQexec(t->conn, "ROLLBACK"));
		if ((rc = exec_command(t, "BEGIN", "begin", err, errlen)))
			goto fail;
	}
	uint32_t i = 0;
	while (i < n) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (position_skipped(t, ev)) {
			i++;
			continue;
		}
		pg_table *tb;
		if ((rc = table_lookup(t, ev->table, &tb, err, errlen)) ||
		    (rc = table_ensure(t, tb, ev->table, err, errlen)))
			goto fail;
		if (ev->op == DBS_OP_INSERT &&
		    insert_run_length(t, batch, i, COPY_MIN_ROWS) >= COPY_MIN_ROWS)
			rc = apply_insert_run(t, batch, &i, tb, err, errlen);
		else
			rc = apply_change_run(t, batch, &i, err, errlen);
		if (rc)
			goto fail;
	}
	/* Inside a source transaction that goes on, the transaction stays
	 * open; the checkpoint row is written only when it commits (with the
	 * last batch, or by flush): the same row updated once per batch in
	 * one transaction would leave a chain of versions every later update
	 * walks again. With a dead-letter table every batch commits on its
	 * own: a rejected row is found by applying its batch again row by
	 * row, which needs the batch's transaction to start with the batch. */
	if (!t->config->span_transactions || t->dlq_qname || last->txn_end) {
		if ((rc = commit_with_checkpoint(t, batch, err, errlen)))
			goto fail;
		txn_committed(t, last);
	} else {
		t->open = 1;
		t->open_last = *last;
		t->open_seq = dbs_batch_seq(batch);
		dbs__position_text(t->open_pos, sizeof t->open_pos, batch, last);
		rc = DBS_APPLY_OPEN;
	}
	goto done;
fail:
	if (in_txn && PQstatus(t->conn) == CONNECTION_OK &&
	    PQpipelineStatus(t->conn) == PQ_PIPELINE_OFF) {
		PGresult *res = PQexec(t->conn, "ROLLBACK");
		PQclear(res);
	}
	tables_rollback(t);
	t->open = 0;
	if (rc != DBS_ENOMEM)
		rc = DBS_ETARGET;
done:
	return rc;
}

/* ------------------------------------------------------------------ */
/* Rejected rows: the batch again, one row at a time                  */
/* ------------------------------------------------------------------ */

/* One event as one statement, prepared once per shape, without the
 * pipeline: the caller has a savepoint around it. */
static int apply_row(pg_target *t, pg_table *tb, const dbs_event *ev, char *err, size_t errlen)
{
	int rc;
	PGresult *res = NULL;
	pg_stmt *st;
	if ((rc = stmt_for_event(t, tb, ev, &st, err, errlen)))
		goto done;
	if (st->op == DBS_OP_UPDATE && mask_empty(st->masks, tb->words))
		goto done; /* nothing sent but unchanged values */
	if (st->state != STMT_READY) {
		if ((rc = build_stmt_sql(t, tb, ev->table, st))) {
			dbs__fmt(err, errlen, "out of memory");
			goto done;
		}
		dbs__fmt(st->name, sizeof st->name, "dbs_%c%" PRIu32 "_%" PRIu32,
		         st->op == DBS_OP_UPDATE ? 'u' : st->op == DBS_OP_DELETE ? 'd' : 'i', tb->id,
		         tb->next_stmt++);
		rc = DBS_ETARGET;
		res = PQprepare(t->conn, st->name, t->sql.data, (int)st->nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			db_error(t, res, err, errlen, event_label(t, tb, ev));
			goto done;
		}
		PQclear(res);
		res = NULL;
		st->state = STMT_READY;
	}
	if ((rc = event_params(t, tb, ev, st, err, errlen)))
		goto done;
	rc = DBS_ETARGET;
	res = PQexecPrepared(t->conn, st->name, (int)st->nparams, t->params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_error(t, res, err, errlen, event_label(t, tb, ev));
		goto done;
	}
	if (st->op != DBS_OP_INSERT && strcmp(PQcmdTuples(res), "0") == 0)
		t->missed[st->op == DBS_OP_UPDATE ? 0 : 1]++;
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/*
 * Write the event the target just rejected (t->err_code, t->err_msg) to
 * the dead-letter table, in the apply's transaction: it commits with the
 * checkpoint, so a replayed batch skips it like every applied event.
 * `nth` counts it among the target's dead letters, for the log.
 */
static int dead_letter_write(pg_target *t, const dbs_batch *batch, pg_table *tb,
                             const dbs_event *ev, uint64_t nth, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	PGresult *res = NULL;
	dbs_textbuf *j = &t->dlq_buf;
	char txn[24], event[16], pos[64], table[512];
	size_t off[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
	static const char *const op_names[] = {"", "insert", "update", "delete"};
	/* The key as the row was (before image) when the source sent it. */
	const dbs_value *key_img = ev->after ? ev->after : ev->before;
	if (ev->before && tb->nkeys && !is_missing(&ev->before[tb->keys[0]]))
		key_img = ev->before;

	dbs__textbuf_reset(j);
	if (tb->nkeys && key_img) {
		off[0] = j->len;
		if (dbs__row_json(j, ev->table, key_img, tb->keys, tb->nkeys) ||
		    dbs__textbuf_append_char(j, '\0'))
			goto oom;
	}
	if (ev->before) {
		off[1] = j->len;
		if (dbs__row_json(j, ev->table, ev->before, NULL, 0) ||
		    dbs__textbuf_append_char(j, '\0'))
			goto oom;
	}
	if (ev->after) {
		off[2] = j->len;
		if (dbs__row_json(j, ev->table, ev->after, NULL, 0) ||
		    dbs__textbuf_append_char(j, '\0'))
			goto oom;
	}
	dbs__fmt(txn, sizeof txn, "%" PRIu64, ev->pos.txn);
	dbs__fmt(event, sizeof event, "%" PRIu32, ev->pos.event);
	dbs__position_text(pos, sizeof pos, batch, &ev->pos);
	dbs__fmt(table, sizeof table, "%s.%s", ev->table->schema, ev->table->name);
	const char *params[11] = {
		t->host->stream_id, txn, event, pos, table,
		op_names[ev->op <= DBS_OP_DELETE ? ev->op : 0],
		off[0] == SIZE_MAX ? NULL : j->data + off[0],
		off[1] == SIZE_MAX ? NULL : j->data + off[1],
		off[2] == SIZE_MAX ? NULL : j->data + off[2],
		t->err_code, t->err_msg};
	rc = DBS_ETARGET;
	res = PQexecParams(t->conn, t->dlq_insert_sql, 11, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char where[DBS_ERRMSG_MAX];
		dbs__fmt(where, sizeof where, "%s: writing the rejected row to %s",
		         event_label(t, tb, ev), t->dlq_qname);
		db_error(t, res, err, errlen, where);
		t->data_error = 0; /* the dead-letter table itself failed: no retry row by row */
		goto done;
	}
	if (t->host->log)
		t->host->log(t->host, DBS_LOG_WARN,
		             "postgresql target: %s: row rejected (%s %s), written to %s (%" PRIu64
		             " so far)",
		             event_label(t, tb, ev), t->err_code, t->err_msg, t->dlq_qname, nth);
	rc = 0;
	goto done;
oom:
	dbs__fmt(err, errlen, "out of memory");
done:
	PQclear(res);
	return rc;
}

/*
 * The batch failed on a row's data: apply it again in a new transaction,
 * each event under its own savepoint, to find the rows the target
 * rejects. Without a dead-letter table the first one fails the apply,
 * named by its table and key; with one, each goes to that table and the
 * rest of the batch commits with the checkpoint. Only a failing batch
 * comes here, so the normal path pays nothing for it.
 */
static int apply_rowwise(pg_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0, in_txn = 0;
	uint32_t n = dbs_batch_count(batch);
	uint64_t rejected = 0;
	const dbs_position *last = dbs_batch_last(batch);

	t->txn_no++;
	t->missed[0] = t->missed[1] = 0;
	if (PQtransactionStatus(t->conn) == PQTRANS_INERROR ||
	    PQtransactionStatus(t->conn) == PQTRANS_INTRANS)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	if ((rc = exec_command(t, "BEGIN", "begin", err, errlen)))
		goto fail;
	in_txn = 1;
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (position_skipped(t, ev))
			continue;
		pg_table *tb;
		if ((rc = table_lookup(t, ev->table, &tb, err, errlen)) ||
		    (rc = table_ensure(t, tb, ev->table, err, errlen)) ||
		    (rc = exec_command(t, "SAVEPOINT dbs_row", "savepoint", err, errlen)))
			goto fail;
		t->data_error = 0;
		rc = apply_row(t, tb, ev, err, errlen);
		if (rc == 0) {
			rc = exec_command(t, "RELEASE SAVEPOINT dbs_row", "savepoint", err, errlen);
			if (rc)
				goto fail;
			continue;
		}
		if (rc == DBS_ENOMEM || t->lost || !t->data_error || !t->dlq_qname)
			goto fail;
		if ((rc = exec_command(t, "ROLLBACK TO SAVEPOINT dbs_row", "savepoint", err,
		                       errlen)) ||
		    (rc = dead_letter_write(t, batch, tb, ev, t->dead_letters + rejected + 1, err,
		                            errlen)))
			goto fail;
		rejected++;
	}
	if ((rc = commit_with_checkpoint(t, batch, err, errlen)))
		goto fail;
	tables_committed(t);
	t->checkpoint = *last;
	t->dead_letters += rejected;
	dbs__rows_dead_lettered(t->host, rejected);
	log_missed(t);
	goto done;
fail:
	if (in_txn && PQstatus(t->conn) == CONNECTION_OK)
		PQclear(PQexec(t->conn, "ROLLBACK"));
	tables_rollback(t);
	if (rc != DBS_ENOMEM)
		rc = DBS_ETARGET;
done:
	return rc;
}

/*
 * A new session in place of a lost one: what lived in the old session
 * (prepared statements, TEMP staging tables, settings) is made again on
 * demand, and the checkpoint is read again because the lost transaction
 * may have committed before the connection dropped.
 */
static int session_restore(pg_target *t, char *err, size_t errlen)
{
	int rc = DBS_ETARGET;
	t->lost = 0;
	/* A fresh connection rather than PQreset: nothing of the old one's
	 * pipeline or COPY state can leak into the new session. */
	PGconn *conn = connect_target(t->config);
	if (!conn) {
		rc = DBS_ENOMEM;
		dbs__fmt(err, errlen, "out of memory");
		goto done;
	}
	PQfinish(t->conn);
	t->conn = conn;
	if (PQstatus(t->conn) != CONNECTION_OK) {
		t->lost = 1;
		db_error(t, NULL, err, errlen, "reconnecting to the target");
		goto done;
	}
	PQsetNoticeProcessor(t->conn, forward_notice, t);
	for (size_t i = 0; i < t->ntables; i++) {
		pg_table *tb = t->tables[i];
		tb->stage_ready = 0;
		for (size_t j = 0; j < tb->nstmts; j++)
			tb->stmts[j].state = STMT_NONE;
	}
	if ((rc = exec_command(t, session_sql, "session settings", err, errlen)) ||
	    (rc = checkpoint_read(t, err, errlen)))
		goto done;
	rc = 0;
done:
	return rc;
}

/* One apply for dbs__retry_lost. */
struct apply_try {
	pg_target *t;
	const dbs_batch *batch;
};

static int try_apply(void *ctx, char *err, size_t errlen)
{
	struct apply_try *a = ctx;
	int rc = apply_once(a->t, a->batch, err, errlen);
	if (rc == DBS_ETARGET && a->t->data_error && !a->t->lost)
		rc = apply_rowwise(a->t, a->batch, err, errlen);
	return rc;
}

static int try_restore(void *ctx, char *err, size_t errlen)
{
	return session_restore(((struct apply_try *)ctx)->t, err, errlen);
}

/*
 * Apply, and when the connection (not the data) failed, reconnect with
 * backoff and apply again. The retry is exactly-once: the lost
 * transaction either committed with its checkpoint row (re-read, so the
 * batch is skipped) or rolled back entirely.
 */
static int pg_apply(dbs_target *base, const dbs_batch *batch, char *err, size_t errlen)
{
	pg_target *t = (pg_target *)base;
	if (!t || !batch) {
		dbs__fmt(err, errlen, "postgresql target: apply without a target or batch");
		return DBS_EINVAL;
	}
	/* The open transaction held earlier batches this target no longer
	 * has: lost with the connection, they can only be read again from
	 * the source, which the core arranges. */
	if (t->open) {
		int rc = apply_once(t, batch, err, errlen);
		if (rc < 0 && t->lost) {
			t->lost = 0;
			rc = DBS_APPLY_LOST;
		}
		return rc;
	}
	struct apply_try a = {t, batch};
	return dbs__retry_lost(t->host, "postgresql target", &t->lost, try_apply, try_restore, &a, err,
	                       errlen);
}

/* The stream stops inside a source transaction: commit what is open with
 * the checkpoint row of the last batch applied. */
static int pg_flush(dbs_target *base, char *err, size_t errlen)
{
	pg_target *t = (pg_target *)base;
	int rc = 0;
	if (!t || !t->open)
		goto done;
	if ((rc = commit_at(t, &t->open_last, t->open_seq, t->open_pos, err, errlen))) {
		tables_rollback(t);
		t->open = 0;
		goto done;
	}
	txn_committed(t, &t->open_last);
done:
	return rc;
}

/* The stream's first checkpoint: where the source starts, before any
 * batch (see dbs_target_ops.keep_checkpoint). */
static int pg_keep_checkpoint(dbs_target *base, const dbs_position *pos, dbs_dialect dialect,
                              char *err, size_t errlen)
{
	pg_target *t = (pg_target *)base;
	char text[96];
	int rc;
	dbs__position_text_of(text, sizeof text, dialect, pos);
	if ((rc = exec_command(t, "BEGIN", "begin", err, errlen)))
		return rc;
	if ((rc = commit_at(t, pos, 0, text, err, errlen))) {
		char ignored[DBS_ERRMSG_MAX];
		exec_command(t, "ROLLBACK", "rollback", ignored, sizeof ignored);
		return rc;
	}
	t->checkpoint = *pos;
	return 0;
}

const dbs_target_ops dbs__postgresql_target_ops = {
	.version = DBS_TARGET_OPS_VERSION,
	.name = "postgresql",
	.open = pg_open,
	.apply = pg_apply,
	.close = pg_close,
	.flush = pg_flush,
	.keep_checkpoint = pg_keep_checkpoint,
};
