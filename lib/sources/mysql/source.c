/*
 * MySQL/MariaDB source: the binlog read as a replica with Connector/C's
 * mariadb_rpl_* (COM_BINLOG_DUMP, framing, checksums, decompression), the
 * row images decoded by rows.c.
 *
 * Two connections: `rpl` carries the binlog dump; `sql` is an ordinary
 * session for the start-up checks and for information_schema, read once
 * per table (and again after DDL), never per event.
 *
 * Positions. A binlog position is encoded as (file sequence number << 32)
 * | byte offset, the file sequence number being the digits after the last
 * '.' of the file name ("binlog.000007" -> 7). Every event of a
 * transaction has pos.txn = the position of the transaction's first
 * event (MariaDB's GTID event, or MySQL's BEGIN query) and pos.event = its
 * 1-based index among the transaction's emitted events. Only the last
 * event has txn_end = 1 and pos.resume = the position right after the
 * transaction's XID (or COMMIT query); earlier events have resume = 0. A
 * full batch is emitted only when the next event arrives, and the batch
 * is emitted at every commit, so the last event of a transaction always
 * carries txn_end. open(resume) restarts the dump at resume->resume (the
 * file name rebuilt from the current file's base name).
 *
 * GTIDs (MariaDB). Every event also carries the GTID of its transaction
 * (domain-server-seq), so a checkpoint names the transaction on every
 * server of a replication topology, not only on the one whose binlog
 * offsets it holds. A resume position with a GTID starts the dump by GTID
 * (@slave_connect_state and an empty file name), from a state chosen so
 * that nothing is lost or read twice:
 *   - the server holds that GTID's event at the recorded file and offset
 *     (it is the server the checkpoint was read from): its own state at
 *     that point, BINLOG_GTID_POS(file, offset), every domain included;
 *   - another server (a replica after a failover): the recorded GTID
 *     alone, which is the whole state only when the server's binlog has
 *     no other domain; with other domains the position in them is unknown
 *     and open() refuses, saying so. A checkpoint inside a transaction
 *     starts after seq - 1 of the same domain and server, and the first
 *     GTID of that domain the server sends must be the recorded one.
 * Positions then compare by GTID within a domain (dbs_position_cmp), so a
 * target's checkpoint still skips exactly what it applied; the source
 * fails rather than emit a domain's sequence numbers out of order.
 * A reconnect during a run starts the same way from the last transaction
 * read, so a server replaced behind the same address is followed too.
 *
 * xid: the XID event's number, set on the events still held when the
 * transaction commits (a transaction larger than one batch has xid 0 on
 * its earlier batches).
 *
 * Images. FULL row images only: open() refuses binlog_row_image=MINIMAL or
 * NOBLOB (the before image would lack the columns that identify a row in
 * a table without primary key, and an insert would lack defaults).
 *
 * Failures. A lost connection or a read timeout (heartbeats arrive every
 * 100 ms, so a silent server is noticed within the read timeout) closes
 * the dump and reopens it at the end of the last transaction that was
 * emitted or skipped; the events of the transaction in progress are read
 * again with the same positions, which the target's checkpoint skips.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <mariadb_rpl.h>

#include "core/core.h"
#include "sources/mysql/binlog.h"
#include "sources/mysql/dsn.h"
#include "sources/mysql/mysql_source.h"

#define HEARTBEAT_NS "100000000" /* 100 ms: run() sees host->stopping at that pace */
#define READ_TIMEOUT_S 10u
#define CONNECT_TIMEOUT_S 10u
/* A lost binlog connection (server restart, network cut) is retried with
 * exponential backoff from the first delay, doubling up to the longest,
 * until the give-up time (reconnect.giveUpAfter) has passed since the
 * loss. */
/* Binlog files whose size is remembered (from their closing ROTATE), to
 * measure the lag across a file switch. */
#define FILE_SIZES 8

typedef struct filter_entry {
	char *db;
	char *name;
	unsigned operations;
} filter_entry;

/* What information_schema says about a table, refreshed after DDL. */
typedef struct schema_info {
	char *db, *name;
	uint32_t ncols;
	char **col_names;
	char **col_types; /* COLUMN_TYPE */
	char **charsets;  /* CHARACTER_SET_NAME, NULL for non-text */
	uint8_t *is_pk, *not_null, *is_json;
	/* Secondary indexes, one row per index column in index order (rows of
	 * one index are adjacent): index name, column name, DBS_INDEX_*. */
	uint32_t nidx;
	char **idx_names, **idx_cols;
	uint32_t *idx_flags;
	uint32_t version; /* versions of dbs_table made for this table */
	int stale;        /* DDL seen: re-read before the next use */
} schema_info;

typedef struct table_entry {
	uint64_t table_id;
	uint8_t *raw; /* TABLE_MAP body, to recognise an unchanged map */
	size_t raw_len;
	dbs_mysql_tablemap tm;
	dbs_table *table; /* one reference held here */
	uint8_t *is_json; /* per column: MariaDB JSON text column */
	unsigned operations;
} table_entry;

typedef struct collation_entry {
	uint32_t id;
	char name[32];
} collation_entry;

typedef struct my_source {
	dbs_source base; /* first */
	const dbs_host *host;
	dbs_mysql_dsn dsn;
	const char *ssl_ca, *ssl_cert, *ssl_key;
	int mariadb;
	uint32_t bundle;
	uint32_t replica_id;
	MYSQL *sql, *repl;
	MARIADB_RPL *rpl;
	MARIADB_RPL_EVENT *ev;
	int pending;  /* ev was read by dump_open and not handled yet */
	int checksum; /* events end with a CRC32 (binlog_checksum != NONE) */

	filter_entry *filter;
	uint32_t nfilter;

	table_entry *tables;
	size_t ntables, tables_cap;
	schema_info *infos;
	size_t ninfos, infos_cap;
	collation_entry *collations;
	size_t ncollations;

	char base_name[256]; /* binlog file name without ".NNNNNN" */
	uint64_t file_no;    /* current file's sequence number */

	dbs_batch *batch;
	dbs_emit_fn emit;
	void *emit_data;
	int stop;
	dbs_mysql_scratch scratch;

	int in_txn;
	uint64_t txn_pos;
	uint32_t nevents;
	int64_t commit_time_us;
	int standalone; /* GTID without COMMIT/XID: the next statement ends it */

	/* Where a (re)connect starts: the end of the last transaction emitted
	 * or skipped, or the position open() was given until one ends. */
	dbs_position restart;
	char start_desc[160]; /* that start as a log shows it */
	/* GTID of the transaction in progress (seq 0: none). */
	uint32_t gtid_domain, gtid_server;
	uint64_t gtid_seq;
	/* Resuming inside a transaction on another server: the first GTID of
	 * this domain must be this one (seq 0: no check pending). */
	uint32_t expect_domain, expect_server;
	uint64_t expect_seq;
	/* The last sequence number seen per domain in this dump. */
	struct gtid_seen {
		uint32_t domain;
		uint64_t seq;
	} *seen;
	size_t nseen, seen_cap;
	_Atomic uint64_t acked; /* written by ack() on the target thread */
	uint64_t events_seen;

	/* Lag (run thread): the newest position the server reported (event
	 * ends, heartbeats), the end of the last emitted transaction, and
	 * the sizes of the last files left. */
	uint64_t server_end;
	uint64_t emitted;
	struct {
		uint64_t file_no;
		uint64_t size;
	} file_sizes[FILE_SIZES];
	unsigned file_sizes_next;
} my_source;

static void slog(my_source *s, dbs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void slog(my_source *s, dbs_log_level level, const char *fmt, ...)
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

static int stopping(my_source *s)
{
	return s->stop || (s->host && s->host->stopping && s->host->stopping(s->host));
}

static char *dupn(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* ---- connections ---- */

static int connect_db(my_source *s, MYSQL **out, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	MYSQL *m = mysql_init(NULL);
	if (!m) {
		dbs__fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	unsigned ct = CONNECT_TIMEOUT_S, rt = READ_TIMEOUT_S;
	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &rt);
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!s->dsn.socket) {
		/* tcp(localhost) is TCP, not the client's default socket. */
		unsigned proto = MYSQL_PROTOCOL_TCP;
		mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
	}
	if (s->dsn.tls != DBS_MYSQL_TLS_OFF) {
		my_bool enforce = s->dsn.tls != DBS_MYSQL_TLS_PREFERRED;
		my_bool verify = s->dsn.tls == DBS_MYSQL_TLS_VERIFY;
		mysql_ssl_set(m, s->ssl_key, s->ssl_cert, s->ssl_ca, NULL, NULL);
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &enforce);
		mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	} else {
		my_bool no = 0;
		mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &no);
	}
	if (!mysql_real_connect(m, s->dsn.host, s->dsn.user, s->dsn.password,
	                        s->dsn.database[0] ? s->dsn.database : NULL, s->dsn.port,
	                        s->dsn.socket, 0)) {
		if (s->dsn.socket)
			dbs__fmt(err, errlen, "connecting to %s: %s", s->dsn.socket,
			         mysql_error(m));
		else
			dbs__fmt(err, errlen, "connecting to %s:%u: %s", s->dsn.host, s->dsn.port,
			         mysql_error(m));
		mysql_close(m);
		goto fail;
	}
	/* Connector/C 3.3 falls back to plain text when certificate checks
	 * are off and the server has no TLS: tls=skip-verify must not. */
	if ((s->dsn.tls == DBS_MYSQL_TLS_VERIFY || s->dsn.tls == DBS_MYSQL_TLS_SKIP_VERIFY) &&
	    !mysql_get_ssl_cipher(m)) {
		dbs__fmt(
		    err, errlen,
		    "the connection string asks for TLS (tls=%s) but the server at %s does not "
		    "offer it (start it with ssl_cert/ssl_key, or use tls=preferred)",
		    s->dsn.tls == DBS_MYSQL_TLS_VERIFY ? "true" : "skip-verify",
		    s->dsn.socket ? s->dsn.socket : s->dsn.host);
		mysql_close(m);
		goto fail;
	}
	*out = m;
	rc = 0;
fail:
	return rc;
}

/* One row of one query; values copied into `vals` (NULL for SQL NULL). */
static int query_row(MYSQL *m, const char *sql, unsigned nvals, char **vals, char *err,
                     size_t errlen)
{
	int rc = DBS_ESOURCE;
	MYSQL_RES *res = NULL;
	for (unsigned i = 0; i < nvals; i++)
		vals[i] = NULL;
	if (mysql_query(m, sql) != 0 || !(res = mysql_store_result(m))) {
		dbs__fmt(err, errlen, "%s: %s", sql, mysql_error(m));
		goto fail;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	if (!row || mysql_num_fields(res) < nvals) {
		dbs__fmt(err, errlen, "%s: no result", sql);
		goto fail;
	}
	unsigned long *lens = mysql_fetch_lengths(res);
	for (unsigned i = 0; i < nvals; i++) {
		if (row[i] && !(vals[i] = dupn(row[i], lens[i]))) {
			rc = DBS_ENOMEM;
			dbs__fmt(err, errlen, "out of memory");
			goto fail;
		}
	}
	rc = 0;
fail:
	if (rc != 0)
		for (unsigned i = 0; i < nvals; i++) {
			free(vals[i]);
			vals[i] = NULL;
		}
	if (res)
		mysql_free_result(res);
	return rc;
}

static int exec(MYSQL *m, const char *sql, char *err, size_t errlen)
{
	if (mysql_query(m, sql) != 0) {
		dbs__fmt(err, errlen, "%s: %s", sql, mysql_error(m));
		return DBS_ESOURCE;
	}
	MYSQL_RES *r = mysql_store_result(m);
	if (r)
		mysql_free_result(r);
	return 0;
}

/* ---- collations (for charsets rows.c does not know) ---- */

static int load_collations(my_source *s, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	MYSQL_RES *res = NULL;
	const char *q = "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS";
	if (mysql_query(s->sql, q) != 0 || !(res = mysql_store_result(s->sql))) {
		dbs__fmt(err, errlen, "%s: %s", q, mysql_error(s->sql));
		goto fail;
	}
	size_t n = (size_t)mysql_num_rows(res);
	s->collations = calloc(n ? n : 1, sizeof *s->collations);
	if (!s->collations) {
		rc = DBS_ENOMEM;
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res)) && s->ncollations < n) {
		if (!row[0] || !row[1])
			continue;
		collation_entry *c = &s->collations[s->ncollations++];
		c->id = (uint32_t)strtoul(row[0], NULL, 10);
		dbs__fmt(c->name, sizeof c->name, "%s", row[1]);
	}
	rc = 0;
fail:
	if (res)
		mysql_free_result(res);
	return rc;
}

static const char *charset_of(uint32_t id, void *ctx)
{
	my_source *s = ctx;
	for (size_t i = 0; i < s->ncollations; i++)
		if (s->collations[i].id == id)
			return s->collations[i].name;
	return NULL;
}

/* ---- filter ---- */

static int filter_copy(my_source *s, const dbs_source_config *config)
{
	if (config->ntables && !(s->filter = calloc(config->ntables, sizeof *s->filter)))
		return DBS_ENOMEM;
	for (uint32_t i = 0; i < config->ntables; i++) {
		const char *n = config->tables[i].name ? config->tables[i].name : "";
		const char *dot = strchr(n, '.');
		filter_entry *f = &s->filter[s->nfilter++];
		f->db = dot ? dupn(n, (size_t)(dot - n))
		            : dupn(s->dsn.database, strlen(s->dsn.database));
		f->name = dot ? dupn(dot + 1, strlen(dot + 1)) : dupn(n, strlen(n));
		f->operations = config->tables[i].operations;
		if (!f->db || !f->name)
			return DBS_ENOMEM;
	}
	return 0;
}

static unsigned filter_ops(const my_source *s, const char *db, const char *name)
{
	if (s->nfilter == 0) {
		if (s->dsn.database[0])
			return strcmp(db, s->dsn.database) == 0 ? DBS_OPS_ALL : 0;
		/* No database named: every table except the server's own. */
		if (!strcmp(db, "mysql") || !strcmp(db, "sys") ||
		    !strcmp(db, "performance_schema") || !strcmp(db, "information_schema"))
			return 0;
		return DBS_OPS_ALL;
	}
	for (uint32_t i = 0; i < s->nfilter; i++)
		if (!strcmp(s->filter[i].db, db) && !strcmp(s->filter[i].name, name))
			return s->filter[i].operations;
	return 0;
}

/* ---- information_schema ---- */

static void info_clear(schema_info *in)
{
	for (uint32_t i = 0; i < in->ncols; i++) {
		free(in->col_names[i]);
		free(in->col_types[i]);
		free(in->charsets[i]);
	}
	free(in->col_names);
	free(in->col_types);
	free(in->charsets);
	in->charsets = NULL;
	free(in->is_pk);
	free(in->not_null);
	free(in->is_json);
	in->col_names = in->col_types = NULL;
	in->is_pk = in->not_null = in->is_json = NULL;
	in->ncols = 0;
	for (uint32_t i = 0; i < in->nidx; i++) {
		free(in->idx_names[i]);
		free(in->idx_cols[i]);
	}
	free(in->idx_names);
	free(in->idx_cols);
	free(in->idx_flags);
	in->idx_names = in->idx_cols = NULL;
	in->idx_flags = NULL;
	in->nidx = 0;
}

/*
 * The secondary indexes of a table, read with its columns. Kept: BTREE,
 * HASH and FULLTEXT indexes over columns. A column prefix (SUB_PART) is
 * dropped with a log line: the target indexes the whole column where it
 * can, or its own prefix (see docs/type-mapping.md); a unique index then
 * checks a longer value than the source did, which accepts every row the
 * source accepted. SPATIAL and functional indexes are left out with a
 * log line.
 */
static int info_load_indexes(my_source *s, schema_info *in, const char *edb, const char *etb,
                             char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char q[1600];
	char skip[256] = "";
	dbs__fmt(q, sizeof q,
	         "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE FROM "
	         "information_schema.STATISTICS WHERE TABLE_SCHEMA='%s' AND TABLE_NAME='%s' "
	         "AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX",
	         edb, etb);
	if (mysql_query(s->sql, q) != 0 || !(res = mysql_store_result(s->sql))) {
		rc = DBS_ESOURCE;
		dbs__fmt(err, errlen, "reading the indexes of %s.%s: %s", in->db, in->name,
		         mysql_error(s->sql));
		goto fail;
	}
	size_t n = (size_t)mysql_num_rows(res);
	if (n == 0) {
		rc = 0;
		goto fail;
	}
	in->idx_names = calloc(n, sizeof(char *));
	in->idx_cols = calloc(n, sizeof(char *));
	in->idx_flags = calloc(n, sizeof(uint32_t));
	if (!in->idx_names || !in->idx_cols || !in->idx_flags)
		goto fail;
	while ((row = mysql_fetch_row(res)) && in->nidx < n) {
		const char *name = row[0] ? row[0] : "";
		const char *type = row[4] ? row[4] : "";
		if (skip[0] && strcmp(skip, name) == 0)
			continue;
		const char *why = NULL;
		if (!row[2])
			why = "a functional index";
		else if (strcmp(type, "BTREE") && strcmp(type, "HASH") && strcmp(type, "FULLTEXT"))
			why = type[0] ? type : "unknown index type";
		if (why) {
			slog(s, DBS_LOG_INFO, "%s.%s: index %s not replicated (%s)", in->db,
			     in->name, name, why);
			/* Drop the rows of this index already taken. */
			while (in->nidx && strcmp(in->idx_names[in->nidx - 1], name) == 0) {
				in->nidx--;
				free(in->idx_names[in->nidx]);
				free(in->idx_cols[in->nidx]);
			}
			dbs__fmt(skip, sizeof skip, "%s", name);
			continue;
		}
		if (row[3])
			slog(s, DBS_LOG_INFO,
			     "%s.%s: index %s uses a %s-character prefix of column %s; the target "
			     "indexes the column without it (or with its own prefix where it needs "
			     "one)",
			     in->db, in->name, name, row[3], row[2]);
		uint32_t i = in->nidx;
		in->idx_names[i] = strdup(name);
		in->idx_cols[i] = strdup(row[2]);
		if (!in->idx_names[i] || !in->idx_cols[i]) {
			free(in->idx_names[i]);
			free(in->idx_cols[i]);
			goto fail;
		}
		in->idx_flags[i] = (row[1] && strcmp(row[1], "0") == 0 ? DBS_INDEX_UNIQUE : 0) |
		                   (strcmp(type, "FULLTEXT") == 0 ? DBS_INDEX_FULLTEXT : 0);
		in->nidx++;
	}
	rc = 0;
fail:
	if (res)
		mysql_free_result(res);
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	return rc;
}

static int info_load(my_source *s, schema_info *in, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	MYSQL_RES *res = NULL;
	char q[1600], edb[520], etb[520];
	size_t dl = strlen(in->db), tl = strlen(in->name);
	info_clear(in);
	if (dl > 256 || tl > 256) {
		rc = DBS_ESOURCE;
		dbs__fmt(err, errlen, "table name too long");
		goto fail;
	}
	mysql_real_escape_string(s->sql, edb, in->db, (unsigned long)dl);
	mysql_real_escape_string(s->sql, etb, in->name, (unsigned long)tl);
	dbs__fmt(
	    q, sizeof q,
	    "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, CHARACTER_SET_NAME FROM "
	    "information_schema.COLUMNS WHERE TABLE_SCHEMA='%s' AND TABLE_NAME='%s' "
	    "ORDER BY ORDINAL_POSITION",
	    edb, etb);
	if (mysql_query(s->sql, q) != 0 || !(res = mysql_store_result(s->sql))) {
		rc = DBS_ESOURCE;
		dbs__fmt(err, errlen, "reading the columns of %s.%s: %s", in->db, in->name,
		         mysql_error(s->sql));
		goto fail;
	}
	size_t n = (size_t)mysql_num_rows(res);
	if (n == 0) { /* dropped since: the binlog's metadata is all there is */
		rc = 0;
		goto fail;
	}
	in->col_names = calloc(n, sizeof(char *));
	in->col_types = calloc(n, sizeof(char *));
	in->charsets = calloc(n, sizeof(char *));
	in->is_pk = calloc(n, 1);
	in->not_null = calloc(n, 1);
	in->is_json = calloc(n, 1);
	if (!in->col_names || !in->col_types || !in->charsets || !in->is_pk || !in->not_null ||
	    !in->is_json)
		goto fail;
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(res)) && in->ncols < n) {
		uint32_t i = in->ncols++;
		in->col_names[i] = strdup(row[0] ? row[0] : "");
		in->col_types[i] = strdup(row[1] ? row[1] : "");
		in->charsets[i] = row[4] ? strdup(row[4]) : NULL;
		if (!in->col_names[i] || !in->col_types[i] || (row[4] && !in->charsets[i]))
			goto fail;
		in->not_null[i] = row[2] && !strcmp(row[2], "NO");
		in->is_pk[i] = row[3] && !strcmp(row[3], "PRI");
	}
	mysql_free_result(res);
	res = NULL;
	if ((rc = info_load_indexes(s, in, edb, etb, err, errlen)) != 0)
		goto fail;
	rc = DBS_ENOMEM;
	if (s->mariadb) {
		/* MariaDB's JSON is LONGTEXT with a json_valid() check. */
		dbs__fmt(q, sizeof q,
		         "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE "
		         "CONSTRAINT_SCHEMA='%s' AND TABLE_NAME='%s'",
		         edb, etb);
		if (mysql_query(s->sql, q) == 0 && (res = mysql_store_result(s->sql))) {
			while ((row = mysql_fetch_row(res))) {
				if (!row[0])
					continue;
				for (uint32_t i = 0; i < in->ncols; i++) {
					char want[300];
					dbs__fmt(want, sizeof want, "json_valid(`%s`)",
					         in->col_names[i]);
					if (strcmp(row[0], want) == 0 &&
					    strstr(in->col_types[i], "text")) {
						in->is_json[i] = 1;
						char *j = strdup("json");
						if (!j)
							goto fail;
						free(in->col_types[i]);
						in->col_types[i] = j;
					}
				}
			}
		}
	}
	rc = 0;
fail:
	if (res)
		mysql_free_result(res);
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	if (rc != 0)
		info_clear(in);
	return rc;
}

static schema_info *info_get(my_source *s, const char *db, const char *name, char *err,
                             size_t errlen, int *rc)
{
	*rc = 0;
	schema_info *in = NULL;
	for (size_t i = 0; i < s->ninfos; i++)
		if (!strcmp(s->infos[i].db, db) && !strcmp(s->infos[i].name, name))
			in = &s->infos[i];
	if (!in) {
		if (s->ninfos == s->infos_cap) {
			size_t cap = s->infos_cap ? s->infos_cap * 2 : 8;
			schema_info *n = realloc(s->infos, cap * sizeof *n);
			if (!n)
				goto nomem;
			s->infos = n;
			s->infos_cap = cap;
		}
		in = &s->infos[s->ninfos];
		memset(in, 0, sizeof *in);
		in->db = strdup(db);
		in->name = strdup(name);
		if (!in->db || !in->name) {
			free(in->db);
			free(in->name);
			goto nomem;
		}
		s->ninfos++;
		in->stale = 1;
	}
	if (in->stale) {
		*rc = info_load(s, in, err, errlen);
		if (*rc != 0)
			return NULL;
		in->stale = 0;
	}
	return in;
nomem:
	*rc = DBS_ENOMEM;
	dbs__fmt(err, errlen, "out of memory");
	return NULL;
}

/* A type name from the binlog alone, when information_schema cannot say. */
static void fallback_type_name(const dbs_mysql_col *c, char *buf, size_t n)
{
	const char *u = c->is_unsigned ? " unsigned" : "";
	switch (c->real_type) {
	case MY_T_TINY: dbs__fmt(buf, n, "tinyint%s", u); break;
	case MY_T_SHORT: dbs__fmt(buf, n, "smallint%s", u); break;
	case MY_T_INT24: dbs__fmt(buf, n, "mediumint%s", u); break;
	case MY_T_LONG: dbs__fmt(buf, n, "int%s", u); break;
	case MY_T_LONGLONG: dbs__fmt(buf, n, "bigint%s", u); break;
	case MY_T_FLOAT: dbs__fmt(buf, n, "float"); break;
	case MY_T_DOUBLE: dbs__fmt(buf, n, "double"); break;
	case MY_T_NEWDECIMAL:
		dbs__fmt(buf, n, "decimal(%u,%u)", c->meta >> 8, c->meta & 0xff);
		break;
	case MY_T_DATE: dbs__fmt(buf, n, "date"); break;
	case MY_T_DATETIME: dbs__fmt(buf, n, "datetime"); break;
	case MY_T_DATETIME2:
		dbs__fmt(buf, n, c->meta ? "datetime(%u)" : "datetime", c->meta);
		break;
	case MY_T_TIMESTAMP: dbs__fmt(buf, n, "timestamp"); break;
	case MY_T_TIMESTAMP2:
		dbs__fmt(buf, n, c->meta ? "timestamp(%u)" : "timestamp", c->meta);
		break;
	case MY_T_TIME: dbs__fmt(buf, n, "time"); break;
	case MY_T_TIME2: dbs__fmt(buf, n, c->meta ? "time(%u)" : "time", c->meta); break;
	case MY_T_YEAR: dbs__fmt(buf, n, "year(4)"); break;
	case MY_T_BIT: dbs__fmt(buf, n, "bit(%u)", (c->meta & 0xff) * 8 + (c->meta >> 8)); break;
	case MY_T_ENUM: dbs__fmt(buf, n, "enum"); break;
	case MY_T_SET: dbs__fmt(buf, n, "set"); break;
	case MY_T_STRING:
		dbs__fmt(buf, n, c->cs == DBS_MYSQL_CS_BINARY ? "binary(%u)" : "char", c->meta);
		break;
	case MY_T_VARCHAR:
	case MY_T_VAR_STRING:
		dbs__fmt(buf, n, c->cs == DBS_MYSQL_CS_BINARY ? "varbinary(%u)" : "varchar",
		         c->meta);
		break;
	case MY_T_BLOB:
	case MY_T_TINY_BLOB:
	case MY_T_MEDIUM_BLOB:
	case MY_T_LONG_BLOB: {
		static const char *const sz[] = {"tiny", "", "medium", "long"};
		unsigned k = c->meta >= 1 && c->meta <= 4 ? c->meta - 1 : 1;
		dbs__fmt(buf, n, "%s%s", sz[k], c->cs == DBS_MYSQL_CS_BINARY ? "blob" : "text");
		break;
	}
	case MY_T_JSON: dbs__fmt(buf, n, "json"); break;
	case MY_T_GEOMETRY: dbs__fmt(buf, n, "geometry"); break;
	default: dbs__fmt(buf, n, "unknown(%u)", c->real_type); break;
	}
}

/*
 * ENUM/SET members from a COLUMN_TYPE such as "enum('a','it''s')", for
 * servers that do not log them (binlog_row_metadata below FULL).
 */
static int members_from_type(dbs_mysql_tablemap *tm, uint32_t col, const char *type)
{
	int rc = DBS_ENOMEM;
	size_t len = strlen(type);
	const char **m = calloc(len + 1, sizeof *m);
	uint32_t *l = calloc(len + 1, sizeof *l);
	char *buf = malloc(len + 1);
	uint32_t n = 0;
	if (!m || !l || !buf)
		goto fail;
	const char *p = strchr(type, '(');
	char *w = buf;
	while (p && *p) {
		p = strchr(p, '\'');
		if (!p)
			break;
		p++;
		m[n] = w;
		for (; *p; p++) {
			if (*p == '\'' && p[1] == '\'') {
				*w++ = '\'';
				p++;
			} else if (*p == '\\' && p[1]) {
				*w++ = *++p;
			} else if (*p == '\'') {
				break;
			} else {
				*w++ = *p;
			}
		}
		l[n] = (uint32_t)(w - m[n]);
		n++;
		if (*p)
			p++;
	}
	rc = dbs__mysql_tablemap_set_members(tm, col, m, l, n);
fail:
	free(m);
	free(l);
	free(buf);
	return rc;
}

/* ---- table map cache ---- */

static void entry_clear(table_entry *e)
{
	free(e->raw);
	free(e->is_json);
	dbs__mysql_tablemap_free(&e->tm);
	if (e->table)
		dbs_table_unref(e->table);
	memset(e, 0, sizeof *e);
}

/* The indexes information_schema lists, on a table not shared yet. */
static int table_add_indexes(my_source *s, dbs_table *t, const schema_info *in, char *err,
                             size_t errlen)
{
	int rc = DBS_ENOMEM;
	uint32_t *pos = calloc(t->ncolumns ? t->ncolumns : 1, sizeof *pos);
	if (!pos)
		goto fail;
	for (uint32_t i = 0; i < in->nidx;) {
		uint32_t j = i, n = 0, missing = 0;
		for (; j < in->nidx && strcmp(in->idx_names[j], in->idx_names[i]) == 0; j++) {
			uint32_t c = 0;
			while (c < t->ncolumns && strcmp(t->columns[c].name, in->idx_cols[j]) != 0)
				c++;
			if (c == t->ncolumns || n == t->ncolumns)
				missing = 1;
			else
				pos[n++] = c;
		}
		if (missing)
			slog(s, DBS_LOG_INFO,
			     "%s.%s: index %s not replicated (a column the binlog "
			     "does not show)",
			     t->schema, t->name, in->idx_names[i]);
		else if (dbs_table_add_index(t, in->idx_names[i], in->idx_flags[i], pos, n) != 0)
			goto fail;
		i = j;
	}
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	free(pos);
	return rc;
}

static int build_table(my_source *s, table_entry *e, char *err, size_t errlen)
{
	int rc;
	dbs_mysql_tablemap *tm = &e->tm;
	schema_info *in = NULL;
	int use_info = 0;
	/* information_schema shows the table as it is now, the binlog as it
	 * was: trust it only when the shapes agree. A cached copy that does
	 * not agree is read again once, in case a DDL went unnoticed. */
	for (int attempt = 0; attempt < 2 && !use_info; attempt++) {
		int was_stale = 0;
		for (size_t k = 0; k < s->ninfos; k++)
			if (!strcmp(s->infos[k].db, tm->db) &&
			    !strcmp(s->infos[k].name, tm->table)) {
				if (attempt)
					s->infos[k].stale = 1;
				was_stale = s->infos[k].stale;
			}
		in = info_get(s, tm->db, tm->table, err, errlen, &rc);
		if (!in)
			return rc;
		use_info = in->ncols == tm->ncols;
		if (use_info && tm->has_names)
			for (uint32_t i = 0; i < tm->ncols; i++)
				if (strcmp(in->col_names[i], tm->cols[i].name) != 0)
					use_info = 0;
		if (attempt == 0 && (was_stale || in->version == 0) && !use_info)
			break; /* just read: reading again would not help */
	}
	if (!use_info && !tm->has_names) {
		dbs__fmt(
		    err, errlen,
		    "%s.%s: the binlog has no column names (set binlog_row_metadata=FULL: "
		    "SET GLOBAL binlog_row_metadata=FULL, my.cnf binlog_row_metadata=FULL) and "
		    "information_schema shows a different table",
		    tm->db, tm->table);
		return DBS_ESOURCE;
	}
	rc = DBS_ENOMEM;
	dbs_column *cols = calloc(tm->ncols, sizeof *cols);
	char(*names)[48] = calloc(tm->ncols, sizeof *names);
	e->is_json = calloc(tm->ncols, 1);
	if (!cols || !names || !e->is_json)
		goto fail;
	for (uint32_t i = 0; i < tm->ncols; i++) {
		dbs_mysql_col *c = &tm->cols[i];
		dbs_column *d = &cols[i];
		d->name = tm->has_names ? c->name : in->col_names[i];
		if (use_info) {
			d->type_name = in->col_types[i];
			e->is_json[i] = in->is_json[i];
			if (!tm->has_signedness && strstr(in->col_types[i], "unsigned"))
				c->is_unsigned = 1;
		} else {
			fallback_type_name(c, names[i], sizeof names[i]);
			d->type_name = names[i];
		}
		d->type_id = c->real_type;
		d->type_mod = c->meta;
		int key = tm->has_pk ? c->is_key : (use_info && in->is_pk[i]);
		d->flags = (key ? DBS_COLUMN_KEY : 0) | (c->nullable ? 0 : DBS_COLUMN_NOT_NULL) |
		           (c->is_unsigned ? DBS_COLUMN_UNSIGNED : 0);
		if (use_info && !tm->has_charsets) {
			rc = 0;
			if (in->charsets[i])
				rc = dbs__mysql_col_set_charset(tm, i, in->charsets[i]);
			else if (strstr(d->type_name, "binary") || strstr(d->type_name, "blob"))
				rc = dbs__mysql_col_set_charset(tm, i, "binary");
			if (rc != 0)
				goto fail;
			rc = DBS_ENOMEM;
		}
		if (use_info && (c->real_type == MY_T_DATETIME || c->real_type == MY_T_TIME ||
		                 c->real_type == MY_T_TIMESTAMP)) {
			const char *paren = strchr(in->col_types[i], '(');
			if (paren && paren[1] >= '1' && paren[1] <= '6')
				c->hires_dec = (uint8_t)(paren[1] - '0');
		}
		if ((c->real_type == MY_T_ENUM || c->real_type == MY_T_SET) && !c->members &&
		    use_info) {
			rc = members_from_type(tm, i, in->col_types[i]);
			if (rc != 0)
				goto fail;
			rc = DBS_ENOMEM;
		}
	}
	dbs_table *t = NULL;
	rc = dbs_table_new(&t, DBS_DIALECT_MYSQL, tm->db, tm->table, cols, tm->ncols);
	if (rc != 0) {
		dbs__fmt(err, errlen, "%s.%s: cannot describe the table", tm->db, tm->table);
		goto fail;
	}
	t->source_id = (uint32_t)tm->table_id;
	if (use_info && (rc = table_add_indexes(s, t, in, err, errlen)) != 0) {
		dbs_table_unref(t);
		goto fail;
	}
	t->version = ++in->version;
	e->table = t;
	rc = 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs__fmt(err, errlen, "out of memory");
	free(cols);
	free(names);
	return rc;
}

static int same_table(const dbs_table *a, const dbs_table *b)
{
	if (a->ncolumns != b->ncolumns || strcmp(a->schema, b->schema) || strcmp(a->name, b->name))
		return 0;
	for (uint32_t i = 0; i < a->ncolumns; i++) {
		const dbs_column *x = &a->columns[i], *y = &b->columns[i];
		if (strcmp(x->name, y->name) || strcmp(x->type_name, y->type_name) ||
		    x->type_id != y->type_id || x->type_mod != y->type_mod || x->flags != y->flags)
			return 0;
	}
	return 1;
}

static table_entry *entry_find(my_source *s, uint64_t table_id)
{
	for (size_t i = 0; i < s->ntables; i++)
		if (s->tables[i].table_id == table_id)
			return &s->tables[i];
	return NULL;
}

static int on_table_map(my_source *s, const uint8_t *body, size_t len, char *err, size_t errlen)
{
	int rc;
	if (len < 6) {
		dbs__fmt(err, errlen, "TABLE_MAP event truncated");
		return DBS_EPROTO;
	}
	uint64_t id = 0;
	for (unsigned k = 6; k-- > 0;)
		id = id << 8 | body[k];
	table_entry *e = entry_find(s, id);
	if (e && e->raw_len == len && memcmp(e->raw, body, len) == 0)
		return 0; /* the same map as last time: the common case */
	table_entry fresh;
	memset(&fresh, 0, sizeof fresh);
	fresh.table_id = id;
	rc = dbs__mysql_tablemap_parse(&fresh.tm, body, len, charset_of, s, err, errlen);
	if (rc != 0)
		goto fail;
	fresh.operations = filter_ops(s, fresh.tm.db, fresh.tm.table);
	if (fresh.operations) {
		rc = build_table(s, &fresh, err, errlen);
		if (rc != 0)
			goto fail;
		/* Re-read after a DDL that did not change this table: keep the
		 * definition batches already hold, and its version. */
		if (e && e->table && same_table(e->table, fresh.table)) {
			dbs_table_unref(fresh.table);
			fresh.table = (dbs_table *)dbs_table_ref(e->table);
			for (size_t k = 0; k < s->ninfos; k++)
				if (!strcmp(s->infos[k].db, fresh.tm.db) &&
				    !strcmp(s->infos[k].name, fresh.tm.table))
					s->infos[k].version = e->table->version;
		}
	}
	rc = DBS_ENOMEM;
	if (!(fresh.raw = malloc(len ? len : 1))) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	memcpy(fresh.raw, body, len);
	fresh.raw_len = len;
	if (!e) {
		if (s->ntables == s->tables_cap) {
			size_t cap = s->tables_cap ? s->tables_cap * 2 : 16;
			table_entry *n = realloc(s->tables, cap * sizeof *n);
			if (!n) {
				dbs__fmt(err, errlen, "out of memory");
				goto fail;
			}
			s->tables = n;
			s->tables_cap = cap;
		}
		e = &s->tables[s->ntables++];
		memset(e, 0, sizeof *e);
	}
	entry_clear(e);
	*e = fresh;
	return 0;
fail:
	entry_clear(&fresh);
	return rc;
}

/* ---- emitting ---- */

static int emit_batch(my_source *s, char *err, size_t errlen)
{
	int rc = 0;
	if (s->batch && dbs_batch_count(s->batch) > 0) {
		dbs_batch *b = s->batch;
		s->batch = NULL;
		int r = s->emit(b, s->emit_data);
		if (r == 1) {
			s->stop = 1;
		} else if (r < 0) {
			dbs__fmt(err, errlen, "the hub refused a batch (%d)", r);
			rc = DBS_EHUB;
		}
	}
	return rc;
}

static int new_event(my_source *s, table_entry *e, dbs_op op, dbs_event **out, char *err,
                     size_t errlen)
{
	int rc = 0;
	/* A full batch leaves only now: its last event is not the commit's. */
	if (s->batch && dbs_batch_count(s->batch) >= s->bundle) {
		rc = emit_batch(s, err, errlen);
		if (rc != 0)
			goto fail;
	}
	rc = DBS_ENOMEM;
	if ((!s->batch && dbs_batch_new(&s->batch, s->bundle) != 0) ||
	    dbs_batch_add(s->batch, op, e->table, out) != 0) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	dbs_event *ev = *out;
	ev->commit_time_us = s->commit_time_us;
	ev->pos.txn = s->txn_pos;
	ev->pos.event = ++s->nevents;
	ev->pos.gtid_domain = s->gtid_domain;
	ev->pos.gtid_server = s->gtid_server;
	ev->pos.gtid_seq = s->gtid_seq;
	rc = 0;
fail:
	return rc;
}

static int txn_end(my_source *s, uint64_t end_pos, uint64_t xid, char *err, size_t errlen);
static int on_gtid(my_source *s, uint32_t domain, uint32_t server, uint64_t seq, char *err,
                   size_t errlen);

static int txn_begin(my_source *s, uint64_t pos, uint32_t timestamp, char *err, size_t errlen)
{
	int rc = 0;
	if (s->in_txn && s->batch && dbs_batch_count(s->batch) > 0) {
		/* A transaction without its COMMIT/XID (an event kind this source
		 * does not know ended it): everything before this one is durable
		 * in the binlog, so it ends here rather than merge into the next. */
		slog(s, DBS_LOG_WARN,
		     "mysql source: transaction at %s.%06" PRIu64 ":%" PRIu64
		     " ended without COMMIT",
		     s->base_name, s->txn_pos >> 32, s->txn_pos & 0xffffffffu);
		rc = txn_end(s, pos, 0, err, errlen);
	}
	s->in_txn = 1;
	s->txn_pos = pos;
	s->nevents = 0;
	s->gtid_seq = 0; /* the GTID event sets it after this */
	s->commit_time_us = (int64_t)timestamp * 1000000;
	return rc;
}

/* Size of binlog file `file_no` if this source saw it end; 0 if not. */
static uint64_t file_size(const my_source *s, uint64_t file_no)
{
	for (unsigned i = 0; i < FILE_SIZES; i++)
		if (s->file_sizes[i].size && s->file_sizes[i].file_no == file_no)
			return s->file_sizes[i].size;
	return 0;
}

/* Binlog bytes from `from` to `to` (file_no << 32 | offset). Across files
 * it adds the sizes this source saw at rotation; a file it did not see
 * end counts from its start only, so the figure is then a lower bound. */
static uint64_t binlog_distance(const my_source *s, uint64_t from, uint64_t to)
{
	if (to <= from)
		return 0;
	uint64_t ff = from >> 32, tf = to >> 32;
	if (ff == tf)
		return to - from;
	uint64_t bytes = to & 0xffffffffu;
	uint64_t size = file_size(s, ff);
	if (size > (from & 0xffffffffu))
		bytes += size - (from & 0xffffffffu);
	for (uint64_t f = ff + 1; f < tf && f - ff <= FILE_SIZES; f++)
		bytes += file_size(s, f);
	return bytes;
}

/* Report how far the confirmed position is behind the server's end:
 * when every emitted transaction is acked, what was skipped since counts
 * as confirmed too. */
static void report_lag(my_source *s)
{
	uint64_t acked = atomic_load(&s->acked);
	uint64_t done = acked;
	if (acked >= s->emitted && s->restart.resume > done)
		done = s->restart.resume;
	dbs__source_lag(s->host, binlog_distance(s, done, s->server_end));
}

static int txn_end(my_source *s, uint64_t end_pos, uint64_t xid, char *err, size_t errlen)
{
	int rc = 0;
	if (s->batch && dbs_batch_count(s->batch) > 0) {
		uint32_t n = dbs_batch_count(s->batch);
		for (uint32_t i = 0; i < n; i++)
			dbs_batch_event(s->batch, i)->xid = xid;
		dbs_event *last = dbs_batch_event(s->batch, n - 1);
		last->pos.txn_end = 1;
		last->pos.resume = end_pos;
		s->emitted = end_pos;
		/* Before emit may wait on a full hub: a target that blocks
		 * shows as a growing lag. */
		report_lag(s);
		rc = emit_batch(s, err, errlen);
	}
	if (end_pos) {
		s->restart = (dbs_position){.txn = s->txn_pos, .resume = end_pos, .txn_end = 1,
		                            .gtid_domain = s->gtid_domain,
		                            .gtid_server = s->gtid_server,
		                            .gtid_seq = s->gtid_seq};
	}
	s->in_txn = 0;
	s->standalone = 0;
	report_lag(s); /* a skipped transaction counts as confirmed */
	return rc;
}

static int on_rows(my_source *s, const dbs_mysql_rows *rows, uint64_t start, uint32_t timestamp,
                   char *err, size_t errlen)
{
	int rc = DBS_EPROTO;
	table_entry *e = entry_find(s, rows->table_id);
	if (!e) {
		dbs__fmt(err, errlen, "rows event for table id %" PRIu64 " without a TABLE_MAP",
		         rows->table_id);
		goto fail;
	}
	rc = 0;
	if (!(e->operations & (1u << rows->op)))
		goto fail;
	if (!s->in_txn) { /* rows outside any BEGIN: the statement is its own transaction */
		rc = txn_begin(s, start, timestamp, err, errlen);
		if (rc != 0)
			goto fail;
	}
	size_t off = 0;
	while (off < rows->len && rc == 0 && !s->stop) {
		dbs_event *ev;
		rc = new_event(s, e, rows->op, &ev, err, errlen);
		if (rc != 0 || s->stop)
			break;
		rc = dbs__mysql_row_decode(&e->tm, rows, &off, ev->before, ev->after, s->batch,
		                           &s->scratch, err, errlen);
		for (uint32_t i = 0; rc == 0 && i < e->tm.ncols; i++) {
			if (!e->is_json[i])
				continue;
			if (ev->before && ev->before[i].kind == DBS_VALUE_TEXT)
				ev->before[i].kind = DBS_VALUE_JSON;
			if (ev->after && ev->after[i].kind == DBS_VALUE_TEXT)
				ev->after[i].kind = DBS_VALUE_JSON;
		}
	}
fail:
	return rc;
}

/*
 * The GTID of the transaction that begins. Positions compare by sequence
 * number within a domain, so one going backwards would make a target skip
 * it as applied already: fail instead (MariaDB logs them in order unless
 * gtid_strict_mode is off and replication fed it out of order).
 */
static int on_gtid(my_source *s, uint32_t domain, uint32_t server, uint64_t seq, char *err,
                   size_t errlen)
{
	if (s->expect_seq && domain == s->expect_domain) {
		if (server != s->expect_server || seq != s->expect_seq) {
			dbs__fmt(err, errlen,
			         "the checkpoint is inside transaction GTID %" PRIu32 "-%" PRIu32
			         "-%" PRIu64 ", but on this server the transaction after %" PRIu32
			         "-%" PRIu32 "-%" PRIu64 " is %" PRIu32 "-%" PRIu32 "-%" PRIu64
			         ": resume on the server the stream was reading from, or re-create "
			         "the stream with a fresh copy of the data",
			         s->expect_domain, s->expect_server, s->expect_seq, s->expect_domain,
			         s->expect_server, s->expect_seq - 1, domain, server, seq);
			return DBS_ESOURCE;
		}
		s->expect_seq = 0;
	}
	struct gtid_seen *e = NULL;
	for (size_t i = 0; i < s->nseen; i++)
		if (s->seen[i].domain == domain)
			e = &s->seen[i];
	if (e && seq <= e->seq) {
		dbs__fmt(err, errlen,
		         "GTID %" PRIu32 "-%" PRIu32 "-%" PRIu64 " follows sequence number %" PRIu64
		         " of the same domain in the binlog; positions are ordered by GTID, so "
		         "sequence numbers must grow: run SET GLOBAL gtid_strict_mode=ON on the "
		         "source server (and set it in my.cnf)",
		         domain, server, seq, e->seq);
		return DBS_ESOURCE;
	}
	if (!e) {
		if (s->nseen == s->seen_cap) {
			size_t cap = s->seen_cap ? s->seen_cap * 2 : 4;
			struct gtid_seen *n = realloc(s->seen, cap * sizeof *n);
			if (!n) {
				dbs__fmt(err, errlen, "out of memory");
				return DBS_ENOMEM;
			}
			s->seen = n;
			s->seen_cap = cap;
		}
		e = &s->seen[s->nseen++];
		e->domain = domain;
	}
	e->seq = seq;
	s->gtid_domain = domain;
	s->gtid_server = server;
	s->gtid_seq = seq;
	return 0;
}

/* A DDL statement makes the next TABLE_MAP of any table re-read
 * information_schema (DDL is rare; precision is not worth a SQL parser). */
static void on_query(my_source *s, const char *q, size_t len)
{
	while (len && (*q == ' ' || *q == '\n' || *q == '\t' || *q == '(')) {
		q++;
		len--;
	}
	static const char *const ddl[] = {"ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE"};
	for (size_t i = 0; i < sizeof ddl / sizeof ddl[0]; i++) {
		size_t n = strlen(ddl[i]);
		if (len >= n && strncasecmp(q, ddl[i], n) == 0) {
			for (size_t k = 0; k < s->ninfos; k++)
				s->infos[k].stale = 1;
			/* Table ids may now refer to other shapes. */
			for (size_t k = 0; k < s->ntables; k++) {
				free(s->tables[k].raw);
				s->tables[k].raw = NULL;
				s->tables[k].raw_len = 0;
			}
			return;
		}
	}
}

static uint64_t file_number(const char *name, size_t len)
{
	size_t i = len;
	while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
		i--;
	uint64_t n = 0;
	for (size_t k = i; k < len && n < UINT32_MAX; k++)
		n = n * 10 + (uint64_t)(name[k] - '0');
	return n;
}

static void set_base_name(my_source *s, const char *name, size_t len)
{
	size_t i = len;
	while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
		i--;
	if (i > 0 && name[i - 1] == '.')
		i--;
	if (i < sizeof s->base_name)
		dbs__fmt(s->base_name, sizeof s->base_name, "%.*s", (int)i, name);
	s->file_no = file_number(name, len);
}

/* ---- the dump connection ---- */

static void dump_close(my_source *s)
{
	if (s->ev) {
		mariadb_free_rpl_event(s->ev);
		s->ev = NULL;
	}
	if (s->rpl) {
		mariadb_rpl_close(s->rpl);
		s->rpl = NULL;
	}
	if (s->repl) {
		mysql_close(s->repl);
		s->repl = NULL;
	}
}

/* Error 1236 saying the requested binlog file is no longer there. */
static int binlog_purged(unsigned e, const char *msg)
{
	return e == 1236 && msg &&
	       (strstr(msg, "Could not find first log file") || strstr(msg, "purged") ||
	        strstr(msg, "could not find next log") || strstr(msg, "Could not open log file"));
}

/*
 * The binlog the stream must resume from was purged: say where it had to
 * resume, what the server still has, and what to do. DBS_ENOTFOUND, so
 * no reconnect loop retries it.
 */
static int purged_error(my_source *s, const char *where, const char *msg, char *err,
                        size_t errlen)
{
	MYSQL *m = NULL;
	char *oldest = NULL, ignore[DBS_ERRMSG_MAX];
	if (connect_db(s, &m, ignore, sizeof ignore) == 0)
		query_row(m, "SHOW BINARY LOGS", 1, &oldest, ignore, sizeof ignore);
	dbs__fmt(err, errlen,
	         "the binlog this stream needs was purged: it must resume %s but the oldest "
	         "binlog the server still has is %s (server: %s). The changes in between are lost "
	         "to this stream: re-create it with a fresh copy of the data (a new stream id over "
	         "emptied target tables), and keep binlogs longer than a stream may stay stopped "
	         "(binlog_expire_logs_seconds)",
	         where, oldest ? oldest : "unknown", msg ? msg : "");
	free(oldest);
	if (m)
		mysql_close(m);
	return DBS_ENOTFOUND;
}

/* Why the server refused to start the dump, in words that say what to do. */
static int dump_refused(my_source *s, const char *where, const char *gtid_state, char *err,
                        size_t errlen)
{
	unsigned e = mysql_errno(s->repl);
	const char *msg = mysql_error(s->repl);
	if (binlog_purged(e, msg))
		return purged_error(s, where, msg, err, errlen);
	if (e == 1227 || e == 1045 || e == 1044) {
		dbs__fmt(err, errlen,
		         "reading the binlog was refused (%s): grant the privilege with "
		         "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'",
		         msg, s->dsn.user);
	} else if (gtid_state && e == 1236) {
		/* Not a connection problem: retrying cannot help. */
		dbs__fmt(err, errlen,
		         "this server cannot start the binlog %s (server: %s): its binlog does "
		         "not hold the stream's last transaction. Point the source at a server that "
		         "replicated it (a replica with log_slave_updates, caught up), or re-create "
		         "the stream with a fresh copy of the data",
		         where, msg);
		return DBS_ENOTFOUND;
	} else {
		dbs__fmt(err, errlen, "starting the binlog dump %s: %s", where, msg);
	}
	return DBS_ESOURCE;
}

/*
 * Start the dump at binlog position `at` (file number << 32 | offset), or,
 * when `gtid_state` is not NULL, after the MariaDB GTID state it holds
 * (the file name then comes with the first ROTATE event).
 */
static int dump_open(my_source *s, uint64_t at, const char *gtid_state, char *err, size_t errlen)
{
	int rc = connect_db(s, &s->repl, err, errlen);
	if (rc != 0)
		return rc;
	rc = DBS_ESOURCE;
	if (exec(s->repl, "SET @master_binlog_checksum = @@global.binlog_checksum", err, errlen) ||
	    exec(s->repl, "SET @mariadb_slave_capability = 4", err, errlen) ||
	    exec(s->repl, "SET @master_heartbeat_period = " HEARTBEAT_NS, err, errlen))
		goto fail;
	char file[300], where[400];
	unsigned long start = (unsigned long)(at & 0xffffffffu);
	if (start < 4)
		start = 4;
	if (gtid_state) {
		char q[600], esc[2 * 200 + 1];
		size_t n = strlen(gtid_state);
		if (n > 200) {
			dbs__fmt(err, errlen, "GTID state too long: %.64s...", gtid_state);
			goto fail;
		}
		mysql_real_escape_string(s->repl, esc, gtid_state, (unsigned long)n);
		dbs__fmt(q, sizeof q, "SET @slave_connect_state = '%s'", esc);
		if (exec(s->repl, q, err, errlen))
			goto fail;
		file[0] = '\0';
		start = 4;
		dbs__fmt(where, sizeof where, "after GTID %s", gtid_state[0] ? gtid_state : "(none)");
	} else {
		dbs__fmt(file, sizeof file, "%s.%06" PRIu64, s->base_name, at >> 32);
		dbs__fmt(where, sizeof where, "at %s:%lu", file, start);
	}
	s->rpl = mariadb_rpl_init(s->repl);
	if (!s->rpl) {
		dbs__fmt(err, errlen, "mariadb_rpl_init failed");
		goto fail;
	}
	mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FILENAME, file, strlen(file));
	mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_START, start);
	mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_SERVER_ID, s->replica_id);
	mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FLAGS, 0);
	/* The server checks privileges and the start position only when it
	 * starts sending: read the first event now so open() reports them. */
	if (mariadb_rpl_open(s->rpl) != 0 || !(s->ev = mariadb_rpl_fetch(s->rpl, NULL))) {
		rc = dump_refused(s, where, gtid_state, err, errlen);
		goto fail;
	}
	s->pending = 1;
	s->nseen = 0;
	if (!gtid_state)
		s->file_no = at >> 32;
	dbs__fmt(s->start_desc, sizeof s->start_desc, "%s", where);
	return 0;
fail:
	dump_close(s);
	return rc;
}

/* Nonzero when `word` occurs in `text` with no digit or '-' next to it. */
static int has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
		char before = p == text ? ' ' : p[-1], after = p[n];
		if (!(before >= '0' && before <= '9') && before != '-' &&
		    !(after >= '0' && after <= '9') && after != '-')
			return 1;
	}
	return 0;
}

/* Each domain-server-seq of a comma-separated GTID list, in turn: 1 and
 * the next one, or 0 at the end. Malformed entries are skipped. */
static int state_next(const char **p, uint32_t *domain, uint32_t *server, uint64_t *seq)
{
	while (*p && **p) {
		const char *at = *p, *comma = strchr(at, ',');
		size_t len = comma ? (size_t)(comma - at) : strlen(at);
		*p = comma ? comma + 1 : NULL;
		while (len && *at == ' ')
			at++, len--;
		if (dbs__gtid_parse(at, len, domain, server, seq) == 0)
			return 1;
	}
	return 0;
}

/*
 * Start the dump at `at` (see "GTIDs" at the top). DBS_ENOTFOUND when the
 * server cannot serve it (purged, another history, other domains):
 * retrying would not help.
 */
static int dump_start(my_source *s, const dbs_position *at, char *err, size_t errlen)
{
	int rc = DBS_ESOURCE;
	uint64_t filepos = at->resume ? at->resume : at->txn;
	char *v[6] = {0}, *here = NULL, *binlog_state = NULL;
	char gtid[48], state[64], q[800], esc[600], file[300], ignore[DBS_ERRMSG_MAX];
	char why[DBS_ERRMSG_MAX / 2] = "it holds another event there";
	int inside = !at->resume; /* a checkpoint inside a transaction: read it again */
	uint32_t d, sv;
	uint64_t n;
	const char *p;
	s->expect_seq = 0;
	if (!s->mariadb || !at->gtid_seq || dbs__gtid_text(gtid, sizeof gtid, at) != 0)
		return dump_open(s, filepos, NULL, err, errlen);

	/* The server the position was read from has our GTID event at its
	 * recorded offset (an error, such as a missing file, means not): its
	 * state there covers every domain. */
	dbs__fmt(file, sizeof file, "%s.%06" PRIu64, s->base_name, at->txn >> 32);
	mysql_real_escape_string(s->sql, esc, file, (unsigned long)strlen(file));
	dbs__fmt(q, sizeof q, "SHOW BINLOG EVENTS IN '%s' FROM %" PRIu64 " LIMIT 1", esc,
	         at->txn & 0xffffffffu);
	if (query_row(s->sql, q, 6, v, ignore, sizeof ignore) != 0)
		dbs__fmt(why, sizeof why, "%s", ignore);
	else if (v[2] && strcmp(v[2], "Gtid") == 0 && v[3] &&
	         strtoul(v[3], NULL, 10) == at->gtid_server && v[5] && has_word(v[5], gtid)) {
		dbs__fmt(file, sizeof file, "%s.%06" PRIu64, s->base_name, filepos >> 32);
		mysql_real_escape_string(s->sql, esc, file, (unsigned long)strlen(file));
		dbs__fmt(q, sizeof q, "SELECT BINLOG_GTID_POS('%s', %" PRIu64 ")", esc,
		         filepos & 0xffffffffu);
		int ours = inside;
		if (query_row(s->sql, q, 1, &here, ignore, sizeof ignore) == 0 && here)
			for (p = here; !ours && state_next(&p, &d, &sv, &n);)
				ours = d == at->gtid_domain && sv == at->gtid_server &&
				       n == at->gtid_seq;
		if (here && ours) {
			rc = dump_open(s, 0, here, err, errlen);
			goto done;
		}
		dbs__fmt(why, sizeof why, "BINLOG_GTID_POS gives %.200s", here ? here : ignore);
	}

	/* Another server: the recorded GTID is the whole state only when the
	 * server's binlog has no other domain. */
	if ((rc = query_row(s->sql, "SELECT @@global.gtid_binlog_state", 1, &binlog_state, err,
	                    errlen)) != 0)
		goto done;
	for (p = binlog_state; state_next(&p, &d, &sv, &n);) {
		if (d == at->gtid_domain)
			continue;
		dbs__fmt(err, errlen,
		         "the stream resumes after GTID %s, of domain %" PRIu32
		         " only, on a server whose binlog also has domain %" PRIu32
		         " (gtid_binlog_state %.200s), and its binlog at the file and offset the "
		         "checkpoint recorded (%s:%" PRIu64 ") is not where that GTID is (%s): "
		         "where to resume in the other domains is unknown. Resume on the server "
		         "the stream was reading from, or re-create the stream with a fresh copy "
		         "of the data",
		         gtid, at->gtid_domain, d, binlog_state, file, at->txn & 0xffffffffu, why);
		rc = DBS_ENOTFOUND;
		goto done;
	}
	if (!inside) {
		rc = dump_open(s, 0, gtid, err, errlen);
		goto done;
	}
	/* Read the transaction again: start after the one before it, which
	 * with one writer is seq - 1 of the same server; the first GTID the
	 * server sends must then be ours. */
	if (at->gtid_seq > 1)
		dbs__fmt(state, sizeof state, "%" PRIu32 "-%" PRIu32 "-%" PRIu64, at->gtid_domain,
		         at->gtid_server, at->gtid_seq - 1);
	else
		state[0] = '\0';
	rc = dump_open(s, 0, state, err, errlen);
	if (rc == 0) {
		s->expect_domain = at->gtid_domain;
		s->expect_server = at->gtid_server;
		s->expect_seq = at->gtid_seq;
	}
done:
	for (int i = 0; i < 6; i++)
		free(v[i]);
	free(here);
	free(binlog_state);
	return rc;
}

/* ---- plugin methods ---- */

static void my_close(dbs_source *src);

static int check_settings(my_source *s, const dbs_source_config *config, char *err, size_t errlen)
{
	int rc;
	char *v[6] = {0};
	rc = query_row(s->sql,
	               "SELECT @@version, @@global.log_bin, @@global.binlog_format, "
	               "@@global.binlog_row_image, "
	               "@@global.server_id, @@global.binlog_checksum",
	               6, v, err, errlen);
	if (rc != 0)
		goto fail;
	rc = DBS_ESOURCE;
	if (config->flavor && config->flavor[0]) {
		if (!strcmp(config->flavor, "mariadb"))
			s->mariadb = 1;
		else if (!strcmp(config->flavor, "mysql"))
			s->mariadb = 0;
		else {
			rc = DBS_ECONFIG;
			dbs__fmt(err, errlen,
			         "source.settings.flavor: \"%s\": expected mysql or mariadb",
			         config->flavor);
			goto fail;
		}
	} else {
		s->mariadb = v[0] && strstr(v[0], "MariaDB") != NULL;
	}
	if (!v[1] || strcmp(v[1], "1") != 0) {
		dbs__fmt(err, errlen,
		         "binary logging is off on the source server: start it with log_bin "
		         "(my.cnf: log_bin=mysql-bin) and binlog_format=ROW");
		goto fail;
	}
	if (!v[2] || strcasecmp(v[2], "ROW") != 0) {
		dbs__fmt(err, errlen,
		         "binlog_format is %s on the source server; row events are needed: run "
		         "SET GLOBAL binlog_format=ROW (and set binlog_format=ROW in my.cnf)",
		         v[2] ? v[2] : "unknown");
		goto fail;
	}
	if (v[3] && strcasecmp(v[3], "FULL") != 0) {
		dbs__fmt(err, errlen,
		         "binlog_row_image is %s on the source server; full row images are needed: "
		         "run SET GLOBAL binlog_row_image=FULL (and set binlog_row_image=FULL in "
		         "my.cnf)",
		         v[3]);
		goto fail;
	}
	if (!v[4] || strtoul(v[4], NULL, 10) == 0) {
		dbs__fmt(err, errlen,
		         "server_id is 0 on the source server, which then refuses replicas: run "
		         "SET GLOBAL server_id=1 (and set server_id in my.cnf)");
		goto fail;
	}
	s->checksum = v[5] && strcasecmp(v[5], "NONE") != 0;
	uint32_t master_id = (uint32_t)strtoul(v[4], NULL, 10);
	/* A replica id of its own, unlike the server's and other streams'. */
	uint32_t h = 2166136261u;
	for (const char *p = s->host && s->host->stream_id ? s->host->stream_id : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h ^= (uint32_t)getpid() * 2654435761u;
	s->replica_id = 0x40000000u | (h & 0x3fffffffu);
	if (s->replica_id == master_id)
		s->replica_id ^= 1;
	rc = 0;
fail:
	for (int i = 0; i < 6; i++)
		free(v[i]);
	return rc;
}

static int my_open(dbs_source **out, const dbs_source_config *config, const dbs_host *host,
                   const dbs_position *resume, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	*out = NULL;
	my_source *s = calloc(1, sizeof *s);
	if (!s) {
		dbs__fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	s->base.ops = &dbs__mysql_source_ops;
	s->host = host;
	s->bundle = config->data_bundle_size ? config->data_bundle_size : 100;
	s->ssl_ca = config->ssl_ca;
	s->ssl_cert = config->ssl_cert;
	s->ssl_key = config->ssl_key;
	rc = dbs__mysql_dsn_parse(&s->dsn, config->connection, err, errlen);
	if (rc != 0)
		goto fail;
	rc = filter_copy(s, config);
	if (rc != 0) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	rc = connect_db(s, &s->sql, err, errlen);
	if (rc != 0)
		goto fail;
	rc = check_settings(s, config, err, errlen);
	if (rc != 0)
		goto fail;
	rc = exec(s->sql, "SET time_zone = '+00:00'", err, errlen);
	if (rc != 0)
		goto fail;
	rc = load_collations(s, err, errlen);
	if (rc != 0)
		goto fail;
	{
		/* Older servers lack the variable: then information_schema it is. */
		char *meta = NULL, ignored[DBS_ERRMSG_MAX];
		if (query_row(s->sql, "SELECT @@global.binlog_row_metadata", 1, &meta, ignored,
		              sizeof ignored) != 0 ||
		    !meta || strcasecmp(meta, "FULL") != 0)
			slog(s, DBS_LOG_WARN,
			     "mysql source: binlog_row_metadata is %s, not FULL: column names, "
			     "keys and "
			     "ENUM/SET members come from information_schema as it is when a table "
			     "is "
			     "first seen (SET GLOBAL binlog_row_metadata=FULL makes the binlog "
			     "carry them)",
			     meta ? meta : "unavailable");
		free(meta);
	}
	char *v[2] = {0};
	rc = query_row(s->sql, "SHOW MASTER STATUS", 2, v, err, errlen);
	if (rc != 0 && mysql_errno(s->sql) == 1064) /* MySQL 8.4 renamed it */
		rc = query_row(s->sql, "SHOW BINARY LOG STATUS", 2, v, err, errlen);
	if (rc != 0) {
		if (mysql_errno(s->sql) == 1227)
			dbs__fmt(err, errlen,
			         "SHOW MASTER STATUS was refused (%s): grant the privilege with "
			         "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'",
			         mysql_error(s->sql), s->dsn.user);
		goto fail;
	}
	if (!v[0] || !v[1]) {
		free(v[0]);
		free(v[1]);
		rc = DBS_ESOURCE;
		dbs__fmt(err, errlen, "SHOW MASTER STATUS returned no binlog file: is log_bin on?");
		goto fail;
	}
	set_base_name(s, v[0], strlen(v[0]));
	uint64_t at = s->file_no << 32 | (strtoull(v[1], NULL, 10) & 0xffffffffu);
	free(v[0]);
	free(v[1]);
	/* A checkpoint inside a transaction (resume 0) reads it again. */
	if (resume && (resume->resume || resume->txn))
		s->restart = *resume;
	else
		s->restart = (dbs_position){.txn = at, .resume = at, .txn_end = 1};
	s->txn_pos = s->restart.resume ? s->restart.resume : s->restart.txn;
	rc = dump_start(s, &s->restart, err, errlen);
	if (rc == DBS_ENOTFOUND)
		rc = DBS_ESOURCE;
	if (rc != 0)
		goto fail;
	slog(s, DBS_LOG_INFO, "mysql source: %s binlog %s as replica %u",
	     s->mariadb ? "MariaDB" : "MySQL", s->start_desc, s->replica_id);
	*out = &s->base;
	return 0;
fail:
	my_close(&s->base);
	return rc;
}

/* Handle one event from the dump. */
static int on_event(my_source *s, MARIADB_RPL_EVENT *ev, char *err, size_t errlen)
{
	int rc = 0;
	uint64_t start = 0, next = 0;
	int artificial = (ev->flags & LOG_EVENT_ARTIFICIAL_F) || ev->next_event_pos == 0;
	if (!artificial) {
		next = s->file_no << 32 | ev->next_event_pos;
		start = ev->next_event_pos >= ev->event_length
		            ? s->file_no << 32 | (ev->next_event_pos - ev->event_length)
		            : next;
		if (next > s->server_end)
			s->server_end = next;
	}
	/* The body: raw_data holds the packet's OK byte, the 19-byte header,
	 * the body and (with checksums) 4 CRC bytes. */
	const uint8_t *body = NULL;
	size_t blen = 0;
	if (ev->raw_data && ev->raw_data_size >= 1 + 19 && ev->event_length >= 19) {
		body = ev->raw_data + 1 + 19;
		blen = ev->event_length - 19;
		if (blen > ev->raw_data_size - 1 - 19)
			blen = ev->raw_data_size - 1 - 19;
		/* From the server's setting, not the transport's flag: the
		 * transport learns it only from the FORMAT_DESCRIPTION event,
		 * after the first (artificial) ROTATE. */
		if (s->checksum && blen >= 4)
			blen -= 4;
	}
	switch (ev->event_type) {
	case ROTATE_EVENT: {
		/* Parsed here: the transport's parse of a real rotate's file name
		 * is off by a few bytes in Connector/C 3.3. */
		if (!body || blen < 9) {
			dbs__fmt(err, errlen, "ROTATE event truncated");
			rc = DBS_EPROTO;
			goto out;
		}
		uint64_t rpos = 0;
		for (unsigned k = 8; k-- > 0;)
			rpos = rpos << 8 | body[k];
		if (!artificial) { /* the last event of the file being left */
			unsigned i = s->file_sizes_next++ % FILE_SIZES;
			s->file_sizes[i].file_no = s->file_no;
			s->file_sizes[i].size = ev->next_event_pos;
		}
		set_base_name(s, (const char *)body + 8, blen - 8);
		if (!s->in_txn)
			s->txn_pos = s->file_no << 32 | (rpos & 0xffffffffu);
		break;
	}
	case GTID_EVENT:
		rc = txn_begin(s, start, ev->timestamp, err, errlen);
		s->standalone = (ev->event.gtid.flags & FL_STANDALONE) != 0;
		if (rc == 0)
			rc = on_gtid(s, ev->event.gtid.domain_id, ev->server_id,
			             ev->event.gtid.sequence_nr, err, errlen);
		break;
	case GTID_LOG_EVENT:
	case ANONYMOUS_GTID_LOG_EVENT: rc = txn_begin(s, start, ev->timestamp, err, errlen); break;
	case XA_PREPARE_LOG_EVENT:
		/* The prepared part of an XA transaction is final in the binlog;
		 * a later XA ROLLBACK is not undone at the target. */
		rc = txn_end(s, next, 0, err, errlen);
		break;
	case 40: /* MySQL TRANSACTION_PAYLOAD */
		dbs__fmt(
		    err, errlen,
		    "the source writes compressed transactions, which this source cannot read: "
		    "run SET GLOBAL binlog_transaction_compression=OFF (and set it in my.cnf)");
		rc = DBS_ESOURCE;
		goto out;
	case PARTIAL_UPDATE_ROWS_EVENT:
		dbs__fmt(err, errlen,
		         "the source logs partial JSON updates: run SET GLOBAL "
		         "binlog_row_value_options='' (and set it in my.cnf)");
		rc = DBS_ESOURCE;
		goto out;
	case QUERY_EVENT:
	case QUERY_COMPRESSED_EVENT: {
		const char *q = ev->event.query.statement.str;
		size_t ql = ev->event.query.statement.length;
		if (ql == 5 && strncasecmp(q, "BEGIN", 5) == 0) {
			if (!s->in_txn)
				rc = txn_begin(s, start, ev->timestamp, err, errlen);
		} else if (ql == 6 && strncasecmp(q, "COMMIT", 6) == 0) {
			rc = txn_end(s, next, 0, err, errlen);
		} else {
			if (ev->event_type == QUERY_COMPRESSED_EVENT)
				/* Connector/C 3.3 hands the statement still compressed:
				 * assume it may be DDL. */
				on_query(s, "ALTER", 5);
			else
				on_query(s, q, ql);
			/* DDL and other statements commit on their own. */
			if (s->standalone || !s->in_txn || ql < 5)
				rc = txn_end(s, next, 0, err, errlen);
		}
		break;
	}
	case XID_EVENT: rc = txn_end(s, next, ev->event.xid.transaction_nr, err, errlen); break;
	case TABLE_MAP_EVENT:
		if (!body) {
			dbs__fmt(err, errlen, "TABLE_MAP event without data");
			rc = DBS_EPROTO;
			goto out;
		}
		rc = on_table_map(s, body, blen, err, errlen);
		break;
	case WRITE_ROWS_EVENT_V1:
	case UPDATE_ROWS_EVENT_V1:
	case DELETE_ROWS_EVENT_V1:
	case WRITE_ROWS_EVENT:
	case UPDATE_ROWS_EVENT:
	case DELETE_ROWS_EVENT: {
		dbs_mysql_rows rows;
		if (!body) {
			dbs__fmt(err, errlen, "rows event without data");
			rc = DBS_EPROTO;
			goto out;
		}
		rc = dbs__mysql_rows_parse(&rows, ev->event_type, body, blen, err, errlen);
		if (rc == 0)
			rc = on_rows(s, &rows, start, ev->timestamp, err, errlen);
		break;
	}
	case WRITE_ROWS_COMPRESSED_EVENT_V1:
	case UPDATE_ROWS_COMPRESSED_EVENT_V1:
	case DELETE_ROWS_COMPRESSED_EVENT_V1:
	case WRITE_ROWS_COMPRESSED_EVENT:
	case UPDATE_ROWS_COMPRESSED_EVENT:
	case DELETE_ROWS_COMPRESSED_EVENT: {
		/* The transport decompressed the images: take its parsed header. */
		const struct st_mariadb_rpl_rows_event *r = &ev->event.rows;
		dbs_mysql_rows rows;
		memset(&rows, 0, sizeof rows);
		rows.op = r->type == WRITE_ROWS    ? DBS_OP_INSERT
		          : r->type == UPDATE_ROWS ? DBS_OP_UPDATE
		                                   : DBS_OP_DELETE;
		rows.table_id = r->table_id;
		rows.flags = r->flags;
		rows.ncols = r->column_count;
		rows.present = r->column_bitmap;
		rows.present_after = r->column_update_bitmap;
		rows.data = r->row_data;
		rows.len = r->row_data_size;
		if (!rows.present || !rows.data ||
		    (rows.op == DBS_OP_UPDATE && !rows.present_after)) {
			dbs__fmt(err, errlen, "compressed rows event without data");
			rc = DBS_EPROTO;
			goto out;
		}
		rc = on_rows(s, &rows, start, ev->timestamp, err, errlen);
		break;
	}
	case HEARTBEAT_LOG_EVENT: report_lag(s); break;
	default: break;
	}
out:
	return rc;
}

static int my_run(dbs_source *src, dbs_emit_fn emit, void *emit_data, char *err, size_t errlen)
{
	my_source *s = (my_source *)src;
	int rc = 0;
	s->emit = emit;
	s->emit_data = emit_data;
	while (!stopping(s)) {
		if (!s->rpl) {
			/* Reopen at the end of the last whole transaction emitted:
			 * what came before it is with the core already. */
			unsigned attempt = 0;
			int delay = DBS_RECONNECT_FIRST_DELAY_MS;
			int64_t lost_at = dbs__monotonic_ns();
			for (;;) {
				/* A restarted server dropped the catalog session too. */
				rc = 0;
				if (!s->sql || mysql_ping(s->sql) != 0) {
					if (s->sql)
						mysql_close(s->sql);
					s->sql = NULL;
					rc = connect_db(s, &s->sql, err, errlen);
					if (rc == 0)
						rc = exec(s->sql, "SET time_zone = '+00:00'", err,
						          errlen);
				}
				if (rc == 0)
					rc = dump_start(s, &s->restart, err, errlen);
				if (rc == 0 || stopping(s))
					break;
				if (rc == DBS_ENOTFOUND) { /* purged: retrying cannot help */
					rc = DBS_ESOURCE;
					goto out;
				}
				attempt++;
				dbs__conn_lost(s->host, err);
				if (dbs__reconnect_expired(s->host, lost_at)) {
					dbs__reconnect_give_up_text(err, errlen, s->host,
					                            "mysql source", attempt, err);
					goto out;
				}
				slog(s, DBS_LOG_WARN,
				     "mysql source: reconnect attempt %u failed (%s); retrying in "
				     "%d ms",
				     attempt, err, delay);
				dbs__sleep_unless_stopping(s->host, delay);
				delay = dbs__backoff_next(delay);
			}
			if (rc != 0)
				break;
			dbs__conn_restored(s->host);
			slog(s, DBS_LOG_INFO, "mysql source: reconnected at %s", s->start_desc);
		}
		MARIADB_RPL_EVENT *ev = s->pending ? s->ev : mariadb_rpl_fetch(s->rpl, s->ev);
		s->pending = 0;
		if (!ev) {
			s->ev = NULL;
			if (stopping(s))
				break;
			slog(s, DBS_LOG_WARN,
			     "mysql source: binlog connection lost (%s); reconnecting",
			     mysql_error(s->repl));
			{
				char lost[DBS_ERRMSG_MAX];
				dbs__fmt(lost, sizeof lost, "binlog connection lost: %s",
				         mysql_error(s->repl));
				dbs__conn_lost(s->host, lost);
			}
			/* The transaction in progress is read again from its start. */
			if (s->batch) {
				dbs_batch_free(s->batch);
				s->batch = NULL;
			}
			s->in_txn = 0;
			dump_close(s);
			continue;
		}
		s->ev = ev;
		s->events_seen++;
		rc = on_event(s, ev, err, errlen);
		if (rc != 0)
			goto out;
	}
	rc = 0;
out:
	if (s->batch) {
		/* Events of a transaction that did not commit before the stop. */
		dbs_batch_free(s->batch);
		s->batch = NULL;
	}
	return rc;
}

static void my_ack(dbs_source *src, const dbs_position *pos)
{
	my_source *s = (my_source *)src;
	/* The binlog keeps everything regardless; the acked position is kept
	 * so a restart of this object could begin there. */
	if (pos && pos->txn_end && pos->resume)
		atomic_store(&s->acked, pos->resume);
}

static void my_close(dbs_source *src)
{
	my_source *s = (my_source *)src;
	if (!s)
		return;
	dump_close(s);
	if (s->sql)
		mysql_close(s->sql);
	for (size_t i = 0; i < s->ntables; i++)
		entry_clear(&s->tables[i]);
	free(s->tables);
	for (size_t i = 0; i < s->ninfos; i++) {
		info_clear(&s->infos[i]);
		free(s->infos[i].db);
		free(s->infos[i].name);
	}
	free(s->infos);
	for (uint32_t i = 0; i < s->nfilter; i++) {
		free(s->filter[i].db);
		free(s->filter[i].name);
	}
	free(s->filter);
	free(s->collations);
	free(s->seen);
	if (s->batch)
		dbs_batch_free(s->batch);
	dbs__mysql_scratch_free(&s->scratch);
	dbs__mysql_dsn_free(&s->dsn);
	free(s);
}

/* A binlog has no server-side cursor: where open started (the binlog's
 * end, or the resume position) is all a restart has before the target
 * commits anything. Called before run. */
static int my_start_point(dbs_source *src, dbs_position *pos, dbs_dialect *dialect)
{
	my_source *s = (my_source *)src;
	*pos = s->restart;
	*dialect = DBS_DIALECT_MYSQL;
	return 1;
}

const dbs_source_ops dbs__mysql_source_ops = {
    .version = DBS_SOURCE_OPS_VERSION,
    .name = "mysql",
    .open = my_open,
    .run = my_run,
    .ack = my_ack,
    .close = my_close,
    .start_point = my_start_point,
};
