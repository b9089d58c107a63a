/*
 * MySQL/MariaDB target: applies batches with Connector/C, one transaction
 * each, together with the stream's checkpoint row; with span_transactions,
 * the batches of one source transaction share one target transaction, left
 * open between them and committed with the last (docs/transactions.md).
 *
 * A batch becomes SQL text: consecutive inserts into one table as
 * multi-row INSERT … ON DUPLICATE KEY UPDATE (a replay overwrites, never
 * duplicates), updates and deletes by key in log order, then the
 * checkpoint upsert and COMMIT. Statements travel several per
 * COM_QUERY (CLIENT_MULTI_STATEMENTS), each packet bounded by the
 * server's max_allowed_packet, so no event costs a round trip. Tables are
 * created before the transaction starts, because MySQL DDL commits
 * whatever transaction is open.
 *
 * The connection string is the go-sql-driver DSN, read by the parser the
 * MySQL source shares (sources/mysql/dsn.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "core/core.h"
#include "sources/mysql/dsn.h"
#include "targets/sqlmap.h"

#define CHECKPOINT_TABLE "dbstreams_checkpoint"
/* Upper bound of one COM_QUERY when the server allows more: bigger packets
 * buy nothing once a round trip carries thousands of rows. */
#define PACKET_CAP (4u * 1024u * 1024u)
#define CONNECT_TIMEOUT_S 10u
/* A lost connection is retried with exponential backoff from the first
 * delay, doubling up to the longest, until the give-up time has passed
 * since the loss (proposed keys target.reconnect.initialDelay, maxDelay,
 * giveUpAfter). A server restart takes seconds; five minutes covers a
 * failover or a short network cut without hiding a real outage. */
/* Seconds a read or write on the connection may wait. */
#define IO_TIMEOUT_S 600u
/* Bytes of a statement shown in an error. */
#define ERR_KEY_MAX 160u

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

typedef struct my_table {
	const dbs_table *def; /* referenced */
	dbs_sqltype *types;
	uint32_t *keys;
	uint32_t nkeys;
	char *qname;          /* `db`.`name` */
	char *insert_head;    /* INSERT INTO q (`a`,…) VALUES */
	char *insert_tail;    /* ON DUPLICATE KEY UPDATE … */
	size_t head_len, tail_len;
} my_table;

/* What one statement of a packet was, to name it in an error. */
typedef struct my_stmt {
	my_table *table;   /* NULL: transaction control or checkpoint */
	uint32_t first, last; /* batch event indexes */
	const char *what;
} my_stmt;

typedef struct my_target {
	dbs_target base; /* first: the core holds a dbs_target * */
	const dbs_target_config *config;
	const dbs_host *host;
	MYSQL *conn;
	dbs_mysql_dsn dsn;
	dbs_position checkpoint;
	char *stream_literal;
	const char *collation;
	size_t packet_limit;
	my_table **tables;
	size_t ntables, captables;
	dbs_textbuf sql;   /* the packet being built */
	dbs_textbuf row;   /* one row's values */
	dbs_textbuf tmp;   /* DDL, error keys */
	my_stmt *stmts;
	size_t nstmts, capstmts;
	my_table *open_insert; /* table of the INSERT statement being filled */
	my_table *open_delete; /* table of the DELETE … IN (…) being filled */
	uint8_t *done;         /* per event of an insert segment: written */
	size_t capdone;
	dbs_mysql_tls tls;     /* what the first connect settled on */
	int lost;              /* the last failure was the connection, not the data */
	/* The last failure was a row's data (constraint, value): the batch
	 * is applied again row by row to find it (apply_rowwise). */
	int data_error;
	char err_code[16];            /* the server's error number, or "value" */
	char err_msg[DBS_ERRMSG_MAX]; /* the server's message alone */
	char *dlq_qname;              /* options.deadLetterTable, quoted; NULL: none */
	uint64_t dead_letters;        /* rows written to the dead-letter table so far */
	/* With config->span_transactions: a transaction left open by the
	 * earlier batches of a source transaction, and where they end. */
	int open;
	dbs_position open_last;
	uint64_t open_seq;     /* hub sequence of the last batch applied */
	char open_pos[96];     /* open_last as the checkpoint row spells it */
} my_target;

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Two definitions of one table version (a source may hand out copies). */
static int same_def(const dbs_table *a, const dbs_table *b)
{
	return a == b || (a->version == b->version && a->dialect == b->dialect &&
	                  a->ncolumns == b->ncolumns && strcmp(a->name, b->name) == 0 &&
	                  strcmp(a->schema ? a->schema : "", b->schema ? b->schema : "") == 0);
}

/* `ident` with inner backticks doubled. */
static int append_ident(dbs_textbuf *b, const char *ident)
{
	size_t n = strlen(ident), extra = 2;
	for (size_t i = 0; i < n; i++)
		extra += ident[i] == '`';
	if (n > SIZE_MAX - extra || dbs__textbuf_reserve(b, n + extra))
		return DBS_ENOMEM;
	char *d = b->data + b->len;
	*d++ = '`';
	for (size_t i = 0; i < n; i++) {
		if (ident[i] == '`')
			*d++ = '`';
		*d++ = ident[i];
	}
	*d++ = '`';
	*d = '\0';
	b->len = (size_t)(d - b->data);
	return 0;
}

/* Errors the client library raises itself (server gone, lost, refused,
 * a broken packet): Connector/C numbers them 2000-2999 and 5000-5999.
 * Server errors are below 2000 or from 3000 (MySQL 8, MariaDB 4000+). */
static int client_errno(unsigned no)
{
	return (no >= 2000 && no <= 2999) || (no >= 5000 && no <= 5999);
}

/*
 * Whether server error `no` (SQLSTATE `state`) is about the row's values:
 * SQLSTATE classes 22 (data exception) and 23 (integrity constraint), and
 * the strict-mode and constraint errors MySQL files under other states.
 */
static int data_errno(unsigned no, const char *state)
{
	switch (no) {
	case 1048: /* column cannot be null */
	case 1062: /* duplicate entry */
	case 1169: /* unique constraint */
	case 1216: case 1217: case 1451: case 1452: /* foreign key */
	case 1264: /* out of range */
	case 1265: /* data truncated (ENUM, SET) */
	case 1292: /* incorrect date/time value */
	case 1300: /* invalid character string */
	case 1366: /* incorrect value for a column (integer, string encoding) */
	case 1367: /* illegal value */
	case 1406: /* data too long */
	case 1411: /* incorrect value for a function */
	case 1557: case 1586: case 1761: case 1762: /* duplicate keys */
	case 1644: /* a trigger that signals */
	case 1690: /* value out of range */
	case 3140: /* invalid JSON (MySQL) */
	case 3819: /* check constraint (MySQL) */
	case 4025: /* check constraint (MariaDB) */
		return 1;
	default:
		return state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
	}
}

/* "<where>: <server message> (error N)" on one line. */
static void db_error(my_target *t, char *err, size_t errlen, const char *where)
{
	const char *msg = t->conn ? mysql_error(t->conn) : "no connection";
	unsigned no = t->conn ? mysql_errno(t->conn) : 0;
	t->data_error =
	    t->conn && no && !client_errno(no) && data_errno(no, mysql_sqlstate(t->conn));
	dbs__fmt(t->err_code, sizeof t->err_code, "%u", no);
	dbs__fmt(t->err_msg, sizeof t->err_msg, "%s", msg && msg[0] ? msg : "unknown error");
	for (char *p = t->err_msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	/* Client errors (server gone, lost, refused), shutdown in progress
	 * (1053), a killed connection (MariaDB 1927, MySQL 3169) and MySQL's
	 * disconnect of an idle client (4031) say the session is gone, not
	 * the row. */
	if (!t->conn || client_errno(no) || no == 1053 || no == 1927 || no == 3169 || no == 4031)
		t->lost = 1;
	dbs__fmt(err, errlen, "%s%s%s (error %u)", where ? where : "", where ? ": " : "",
	         msg && msg[0] ? msg : "unknown error", no);
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/* Run statements whose results carry nothing we need. */
static int exec_sql(my_target *t, const char *sql, size_t len, const char *where, char *err,
                    size_t errlen)
{
	int rc = DBS_ETARGET;
	if (mysql_real_query(t->conn, sql, (unsigned long)len)) {
		db_error(t, err, errlen, where);
		goto done;
	}
	for (;;) {
		MYSQL_RES *res = mysql_store_result(t->conn);
		if (res)
			mysql_free_result(res);
		int st = mysql_next_result(t->conn);
		if (st < 0)
			break;
		if (st > 0) {
			db_error(t, err, errlen, where);
			goto done;
		}
	}
	rc = 0;
done:
	return rc;
}

static int exec_str(my_target *t, const char *sql, const char *where, char *err, size_t errlen)
{
	return exec_sql(t, sql, strlen(sql), where, err, errlen);
}

static int stmt_push(my_target *t, my_table *tb, uint32_t first, uint32_t last, const char *what)
{
	if (t->nstmts == t->capstmts) {
		size_t cap = t->capstmts ? t->capstmts * 2 : 64;
		my_stmt *p = realloc(t->stmts, cap * sizeof *p);
		if (!p)
			return DBS_ENOMEM;
		t->stmts = p;
		t->capstmts = cap;
	}
	t->stmts[t->nstmts++] = (my_stmt){tb, first, last, what};
	return 0;
}

static const dbs_value *key_image(const my_table *tb, const dbs_event *ev)
{
	/* The before image names the row as it was (a key may change);
	 * sources send at least its key columns. Without a key only the whole
	 * old row names it. */
	if (tb->nkeys == 0)
		return ev->before;
	if (ev->before) {
		const dbs_value *k = &ev->before[tb->keys[0]];
		if (k->kind != DBS_VALUE_NULL && k->kind != DBS_VALUE_UNCHANGED)
			return ev->before;
	}
	return ev->after ? ev->after : ev->before;
}

/* "(id=5, k='x')" of an event's key, for messages. */
static void key_text(my_target *t, my_table *tb, const dbs_event *ev, char *buf, size_t size)
{
	dbs_textbuf *b = &t->tmp;
	const dbs_value *img = key_image(tb, ev);
	char scratch[8];
	dbs__textbuf_reset(b);
	if (!img || tb->nkeys == 0) {
		dbs__fmt(buf, size, "(no key)");
		return;
	}
	dbs__textbuf_append_char(b, '(');
	for (uint32_t k = 0; k < tb->nkeys; k++) {
		uint32_t c = tb->keys[k];
		if (k)
			dbs__textbuf_append(b, ", ", 2);
		dbs__textbuf_appendf(b, "%s=", tb->def->columns[c].name);
		if (dbs__sqlmap_value_mysql(b, &tb->types[c], &img[c], scratch, sizeof scratch))
			dbs__textbuf_append_str(b, "?");
	}
	dbs__textbuf_append_char(b, ')');
	dbs__fmt(buf, size, "%.*s%s", (int)(b->len > ERR_KEY_MAX ? ERR_KEY_MAX : b->len),
	         b->data ? b->data : "", b->len > ERR_KEY_MAX ? "…)" : "");
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static void table_free(my_table *tb)
{
	if (!tb)
		return;
	if (tb->def)
		dbs_table_unref(tb->def);
	free(tb->types);
	free(tb->keys);
	free(tb->qname);
	free(tb->insert_head);
	free(tb->insert_tail);
	free(tb);
}

/* The per-table option entry for `def`, matched as "t" or "db.t" (the
 * source's database or the target's). */
static const dbs_target_table_option *table_option(const my_target *t, const dbs_table *def)
{
	const char *dbs[2] = {def->schema ? def->schema : "", t->dsn.database};
	for (uint32_t i = 0; i < t->config->ntables; i++) {
		const char *n = t->config->tables[i].name;
		if (!n)
			continue;
		if (strcmp(n, def->name) == 0)
			return &t->config->tables[i];
		for (int k = 0; k < 2; k++) {
			size_t l = strlen(dbs[k]);
			if (l && strncmp(n, dbs[k], l) == 0 && n[l] == '.' &&
			    strcmp(n + l + 1, def->name) == 0)
				return &t->config->tables[i];
		}
	}
	return NULL;
}

static void tlog(my_target *t, dbs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void tlog(my_target *t, dbs_log_level level, const char *fmt, ...)
{
	char line[DBS_ERRMSG_MAX + 256];
	va_list ap;
	if (!t->host || !t->host->log)
		return;
	va_start(ap, fmt);
	dbs__vfmt(line, sizeof line, fmt, ap);
	va_end(ap);
	t->host->log(t->host, level, "mysql target: %s", line);
}

/*
 * CREATE [UNIQUE|FULLTEXT] INDEX for one secondary index of a table this
 * target just created. InnoDB keys hold 3072 bytes: TEXT/BLOB columns and
 * character columns wider than their share of that are indexed by a
 * prefix (dbs__sqlmap_index_prefix), which leaves a lookup index as
 * useful. A unique index takes no prefix (that would refuse distinct
 * values sharing one): MariaDB keeps long unique keys as a hash; a server
 * that refuses it, or any index the server refuses, is left out with a
 * warning and the rows still replicate. JSON and geometry columns cannot
 * be in a plain index: that index is left out with a warning.
 */
static int index_create(my_target *t, my_table *tb, const dbs_index *ix, char *err, size_t errlen)
{
	int rc = 0;
	const dbs_table *def = tb->def;
	dbs_textbuf *b = &t->tmp;
	int fulltext = (ix->flags & DBS_INDEX_FULLTEXT) != 0;
	int unique = !fulltext && (ix->flags & DBS_INDEX_UNIQUE);
	int32_t budget = (int32_t)(3072 / (ix->ncolumns ? ix->ncolumns : 1));
	char ierr[DBS_ERRMSG_MAX];
	if (fulltext && def->dialect != DBS_DIALECT_MYSQL) {
		tlog(t, DBS_LOG_WARN, "%s: FULLTEXT index %s not created (not a MySQL source)",
		     tb->qname, ix->name);
		goto done;
	}
	dbs__textbuf_reset(b);
	if (dbs__textbuf_append_str(b, unique     ? "CREATE UNIQUE INDEX "
	                               : fulltext ? "CREATE FULLTEXT INDEX "
	                                          : "CREATE INDEX ") ||
	    append_ident(b, ix->name) || dbs__textbuf_appendf(b, " ON %s (", tb->qname))
		goto nomem;
	for (uint32_t k = 0; k < ix->ncolumns; k++) {
		uint32_t c = ix->columns[k];
		int32_t prefix = fulltext ? 0 : dbs__sqlmap_index_prefix(&tb->types[c], budget);
		if (prefix == -2)
			goto nomem;
		if (prefix == -1) {
			tlog(t, DBS_LOG_WARN,
			     "%s: index %s not created (column %s cannot be in a plain MySQL index)",
			     tb->qname, ix->name, def->columns[c].name);
			goto done;
		}
		if ((k && dbs__textbuf_append_char(b, ',')) ||
		    append_ident(b, def->columns[c].name) ||
		    (prefix > 0 && !unique && dbs__textbuf_appendf(b, "(%" PRId32 ")", prefix)))
			goto nomem;
	}
	if (dbs__textbuf_append_char(b, ')'))
		goto nomem;
	if (exec_sql(t, b->data, b->len, "creating an index", ierr, sizeof ierr) != 0) {
		if (!t->conn || client_errno(mysql_errno(t->conn))) { /* connection lost */
			dbs__fmt(err, errlen, "%s", ierr);
			rc = DBS_ETARGET;
		} else {
			tlog(t, DBS_LOG_WARN, "%s: index %s not created: %s", tb->qname, ix->name,
			     ierr);
		}
	}
	goto done;
nomem:
	dbs__fmt(err, errlen, "out of memory");
	rc = DBS_ENOMEM;
done:
	return rc;
}

/* Whether the target table exists: indexes are made only for a table
 * created here (an existing table is left as it is). */
static int table_exists(my_target *t, const dbs_table *def, int *exists, char *err, size_t errlen)
{
	int rc = DBS_ETARGET;
	dbs_textbuf *b = &t->tmp;
	MYSQL_RES *res = NULL;
	dbs__textbuf_reset(b);
	if (dbs__textbuf_append_str(b, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
	                               "TABLE_SCHEMA = ") ||
	    dbs__textbuf_append_literal(b, t->dsn.database, strlen(t->dsn.database)) ||
	    dbs__textbuf_append_str(b, " AND TABLE_NAME = ") ||
	    dbs__textbuf_append_literal(b, def->name, strlen(def->name))) {
		dbs__fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if (mysql_real_query(t->conn, b->data, (unsigned long)b->len) ||
	    !(res = mysql_store_result(t->conn))) {
		db_error(t, err, errlen, "looking for a table");
		goto done;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	*exists = row && row[0] && strcmp(row[0], "0") != 0;
	rc = 0;
done:
	if (res)
		mysql_free_result(res);
	return rc;
}

/* CREATE TABLE IF NOT EXISTS with the mapped types and the primary key,
 * then the secondary indexes unless the table's noCreateIndexes. */
static int table_create(my_target *t, my_table *tb, char *err, size_t errlen)
{
	const dbs_table *def = tb->def;
	dbs_textbuf *b = &t->tmp;
	int rc = DBS_ENOMEM, exists = 0;
	if ((rc = table_exists(t, def, &exists, err, errlen)) != 0 || exists)
		return rc;
	rc = DBS_ENOMEM;
	dbs__textbuf_reset(b);
	if (dbs__textbuf_append_str(b, "CREATE TABLE IF NOT EXISTS ") ||
	    dbs__textbuf_append_str(b, tb->qname) || dbs__textbuf_append_str(b, " ("))
		goto fail;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		if ((i && dbs__textbuf_append(b, ", ", 2)) ||
		    append_ident(b, def->columns[i].name) || dbs__textbuf_append_char(b, ' '))
			goto fail;
		if ((rc = dbs__sqlmap_target_type(b, &tb->types[i], DBS_DIALECT_MYSQL)) == DBS_EINVAL) {
			dbs__fmt(err, errlen, "creating table %s: column %s has no type name", tb->qname,
			         def->columns[i].name);
			return DBS_ETARGET;
		}
		if (rc)
			goto fail;
		if ((def->columns[i].flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) &&
		    dbs__textbuf_append_str(b, " NOT NULL"))
			goto fail;
	}
	if (tb->nkeys) {
		if (dbs__textbuf_append_str(b, ", PRIMARY KEY ("))
			goto fail;
		for (uint32_t k = 0; k < tb->nkeys; k++)
			if ((k && dbs__textbuf_append_char(b, ',')) ||
			    append_ident(b, def->columns[tb->keys[k]].name))
				goto fail;
		if (dbs__textbuf_append_char(b, ')'))
			goto fail;
	}
	if (dbs__textbuf_appendf(b, ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=%s",
	                         t->collation))
		goto fail;
	char where[256];
	dbs__fmt(where, sizeof where, "creating table %s", tb->qname);
	rc = exec_sql(t, b->data, b->len, where, err, errlen);
	const dbs_target_table_option *opt = table_option(t, def);
	for (uint32_t x = 0; rc == 0 && x < def->nindexes && !(opt && opt->no_create_indexes); x++)
		rc = index_create(t, tb, &def->indexes[x], err, errlen);
	return rc;
fail:
	dbs__fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

static int table_build(my_target *t, const dbs_table *def, my_table **out, char *err,
                       size_t errlen)
{
	int rc = DBS_ENOMEM;
	my_table *tb = calloc(1, sizeof *tb);
	dbs_textbuf *b = &t->tmp;
	*out = NULL;
	if (!tb)
		goto nomem;
	tb->def = dbs_table_ref(def);
	size_t nc = def->ncolumns ? def->ncolumns : 1;
	if (!(tb->types = calloc(nc, sizeof *tb->types)) || !(tb->keys = calloc(nc, sizeof *tb->keys)))
		goto nomem;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		dbs__sqlmap_parse(def, &def->columns[i], &tb->types[i]);
		if (def->columns[i].flags & DBS_COLUMN_KEY)
			tb->keys[tb->nkeys++] = i;
	}
	dbs__sqlmap_key_widths(tb->types, def->ncolumns);
	dbs__textbuf_reset(b);
	if (append_ident(b, t->dsn.database) || dbs__textbuf_append_char(b, '.') ||
	    append_ident(b, def->name) || !(tb->qname = dup_n(b->data, b->len)))
		goto nomem;

	dbs__textbuf_reset(b);
	if (dbs__textbuf_appendf(b, "INSERT INTO %s (", tb->qname))
		goto nomem;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs__textbuf_append_char(b, ',')) || append_ident(b, def->columns[i].name))
			goto nomem;
	if (dbs__textbuf_append_str(b, ") VALUES ") || !(tb->insert_head = dup_n(b->data, b->len)))
		goto nomem;
	tb->head_len = b->len;

	dbs__textbuf_reset(b);
	if (tb->nkeys) {
		/* Replays overwrite: the row ends as the last insert wrote it. */
		int any = 0;
		if (dbs__textbuf_append_str(b, " ON DUPLICATE KEY UPDATE "))
			goto nomem;
		for (uint32_t i = 0; i < def->ncolumns; i++) {
			if (def->columns[i].flags & DBS_COLUMN_KEY)
				continue;
			if ((any && dbs__textbuf_append_char(b, ',')) ||
			    append_ident(b, def->columns[i].name) || dbs__textbuf_append_str(b, "=VALUES(") ||
			    append_ident(b, def->columns[i].name) || dbs__textbuf_append_char(b, ')'))
				goto nomem;
			any = 1;
		}
		if (!any) {
			const char *k = def->columns[tb->keys[0]].name;
			if (append_ident(b, k) || dbs__textbuf_append_char(b, '=') || append_ident(b, k))
				goto nomem;
		}
	}
	if (!(tb->insert_tail = dup_n(b->data ? b->data : "", b->len)))
		goto nomem;
	tb->tail_len = b->len;

	if (!t->config->no_create_tables && (rc = table_create(t, tb, err, errlen)))
		goto fail;
	*out = tb;
	return 0;
nomem:
	rc = DBS_ENOMEM;
	dbs__fmt(err, errlen, "out of memory");
fail:
	table_free(tb);
	return rc;
}

/* The cached table for a definition, or NULL when it is new here. */
static my_table *table_find(const my_target *t, const dbs_table *def)
{
	for (size_t i = t->ntables; i-- > 0;)
		if (t->tables[i]->def == def)
			return t->tables[i];
	/* A copy of a definition already known: no second CREATE, no growth. */
	for (size_t i = t->ntables; i-- > 0;)
		if (same_def(t->tables[i]->def, def))
			return t->tables[i];
	return NULL;
}

/* The cached table for a definition, creating it on the server if new. */
static int table_get(my_target *t, const dbs_table *def, my_table **out, char *err, size_t errlen)
{
	if ((*out = table_find(t, def)) != NULL)
		return 0;
	if (t->ntables == t->captables) {
		size_t cap = t->captables ? t->captables * 2 : 8;
		my_table **p = realloc(t->tables, cap * sizeof *p);
		if (!p) {
			dbs__fmt(err, errlen, "out of memory");
			return DBS_ENOMEM;
		}
		t->tables = p;
		t->captables = cap;
	}
	int rc = table_build(t, def, out, err, errlen);
	if (rc == 0)
		t->tables[t->ntables++] = *out;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

static int skipped(const my_target *t, const dbs_event *ev);


/* The batch index of row `rowno` (1-based) of INSERT statement `s`: its
 * rows are the table's unskipped inserts from s->first to s->last. */
static uint32_t stmt_row_event(const my_target *t, const dbs_batch *batch, const my_stmt *s,
                               unsigned long rowno)
{
	uint32_t found = UINT32_MAX;
	unsigned long k = 0;
	if (s->first == s->last || rowno == 0)
		goto done;
	for (uint32_t i = s->first; i <= s->last; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (ev->op != DBS_OP_INSERT || !same_def(ev->table, s->table->def) || skipped(t, ev))
			continue;
		if (++k == rowno) {
			found = i;
			break;
		}
	}
done:
	return found;
}

/* Send the packet and read every statement's result; on an error name
 * the statement that failed. */
static int flush(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0;
	size_t idx = 0;
	if (t->sql.len == 0)
		goto done;
	rc = DBS_ETARGET;
	if (mysql_real_query(t->conn, t->sql.data, (unsigned long)t->sql.len))
		goto failed;
	for (;;) {
		MYSQL_RES *res = mysql_store_result(t->conn);
		if (res)
			mysql_free_result(res);
		int st = mysql_next_result(t->conn);
		if (st < 0)
			break;
		idx++;
		if (st > 0)
			goto failed;
	}
	rc = 0;
	goto done;
failed:
	{
		char where[512] = "";
		if (idx < t->nstmts && t->stmts[idx].table) {
			my_stmt *s = &t->stmts[idx];
			char k1[ERR_KEY_MAX + 16], k2[ERR_KEY_MAX + 16];
			/* The server names the row of a multi-row INSERT: "… at row N". */
			const char *at = strstr(mysql_error(t->conn), " at row ");
			uint32_t row_ev = at ? stmt_row_event(t, batch, s, strtoul(at + 8, NULL, 10)) : UINT32_MAX;
			key_text(t, s->table, dbs_batch_event(batch, s->first), k1, sizeof k1);
			if (row_ev != UINT32_MAX) {
				key_text(t, s->table, dbs_batch_event(batch, row_ev), k1, sizeof k1);
				dbs__fmt(where, sizeof where, "%s %s, key %s", s->what, s->table->qname, k1);
			} else if (s->last != s->first) {
				key_text(t, s->table, dbs_batch_event(batch, s->last), k2, sizeof k2);
				dbs__fmt(where, sizeof where, "%s %s, rows with keys %s … %s", s->what,
				         s->table->qname, k1, k2);
			} else {
				dbs__fmt(where, sizeof where, "%s %s, key %s", s->what, s->table->qname, k1);
			}
		} else if (idx < t->nstmts) {
			dbs__fmt(where, sizeof where, "%s", t->stmts[idx].what);
		}
		db_error(t, err, errlen, where[0] ? where : "applying the batch");
	}
done:
	dbs__textbuf_reset(&t->sql);
	t->nstmts = 0;
	return rc;
}

static int sep(my_target *t)
{
	return t->sql.len ? dbs__textbuf_append_char(&t->sql, ';') : 0;
}

/* Finish the INSERT or DELETE … IN statement still taking rows. */
static int close_open(my_target *t)
{
	int rc = 0;
	if (t->open_insert)
		rc = dbs__textbuf_append(&t->sql, t->open_insert->insert_tail, t->open_insert->tail_len);
	else if (t->open_delete)
		rc = dbs__textbuf_append_char(&t->sql, ')');
	t->open_insert = NULL;
	t->open_delete = NULL;
	t->open_delete = NULL;
	return rc;
}

/* After a whole statement: send when the packet is full enough. */
static int maybe_flush(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	if (t->sql.len < t->packet_limit / 2)
		return 0;
	return flush(t, batch, err, errlen);
}

static int skipped(const my_target *t, const dbs_event *ev)
{
	return dbs_position_cmp(&ev->pos, &t->checkpoint) <= 0;
}

/* Format one value of event `ev` (column c of `img`, one of its images)
 * into `b`. A value MySQL cannot hold is a data error named by the key. */
static int put_value(my_target *t, my_table *tb, const dbs_event *ev, const dbs_value *img,
                     uint32_t c, dbs_textbuf *b, char *err, size_t errlen)
{
	int rc = dbs__sqlmap_value_mysql(b, &tb->types[c], &img[c], t->err_msg, sizeof t->err_msg);
	if (rc == DBS_EINVAL) {
		char key[ERR_KEY_MAX + 16];
		t->data_error = img[c].kind != DBS_VALUE_UNCHANGED;
		dbs__fmt(t->err_code, sizeof t->err_code, "value");
		key_text(t, tb, ev, key, sizeof key);
		dbs__fmt(err, errlen, "table %s, key %s: %s", tb->qname, key, t->err_msg);
	} else if (rc) {
		dbs__fmt(err, errlen, "out of memory");
	}
	return rc;
}

static int add_insert(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                      char *err, size_t errlen)
{
	const dbs_event *ev = dbs_batch_event(batch, i);
	dbs_textbuf *row = &t->row;
	int rc;
	dbs__textbuf_reset(row);
	if ((rc = dbs__textbuf_append_char(row, '(')))
		goto nomem;
	for (uint32_t c = 0; c < tb->def->ncolumns; c++) {
		if (c && (rc = dbs__textbuf_append_char(row, ',')))
			goto nomem;
		if ((rc = put_value(t, tb, ev, ev->after, c, row, err, errlen)))
			return rc;
	}
	if ((rc = dbs__textbuf_append_char(row, ')')))
		goto nomem;
	/* Close the statement (and maybe send the packet) before this row
	 * would push it past the server's packet size. */
	if (t->open_insert == tb &&
	    t->sql.len + row->len + 1 + tb->tail_len + 1 > t->packet_limit) {
		if ((rc = close_open(t)))
			goto nomem;
		if ((rc = flush(t, batch, err, errlen)))
			return rc;
	}
	if (t->open_insert != tb) {
		if ((rc = close_open(t)))
			goto nomem;
		if (t->sql.len &&
		    t->sql.len + 1 + tb->head_len + row->len + tb->tail_len > t->packet_limit &&
		    (rc = flush(t, batch, err, errlen)))
			return rc;
		if ((rc = maybe_flush(t, batch, err, errlen)))
			return rc;
		if ((rc = sep(t)) ||
		    (rc = dbs__textbuf_append(&t->sql, tb->insert_head, tb->head_len)) ||
		    (rc = stmt_push(t, tb, i, i, "inserting into")))
			goto nomem;
		t->open_insert = tb;
	} else {
		if ((rc = dbs__textbuf_append_char(&t->sql, ',')))
			goto nomem;
		t->stmts[t->nstmts - 1].last = i;
	}
	if ((rc = dbs__textbuf_append(&t->sql, row->data, row->len)))
		goto nomem;
	return 0;
nomem:
	dbs__fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/*
 * The inserts from event *at up to the next update or delete, grouped by
 * table (each table's rows keep their order), so rows that interleave
 * tables still travel as multi-row statements. Only inserts into
 * different tables change order, which no row's final state depends on
 * (the tables this target creates have no foreign keys or triggers).
 * Leaves *at on the segment's last event.
 */
static int add_insert_segment(my_target *t, const dbs_batch *batch, uint32_t *at, char *err,
                              size_t errlen)
{
	uint32_t n = dbs_batch_count(batch), start = *at, end = start;
	while (end < n) {
		const dbs_event *ev = dbs_batch_event(batch, end);
		if (ev->op != DBS_OP_INSERT || !ev->after)
			break;
		end++;
	}
	if (end - start > t->capdone) {
		uint8_t *p = realloc(t->done, end - start);
		if (!p) {
			dbs__fmt(err, errlen, "out of memory");
			return DBS_ENOMEM;
		}
		t->done = p;
		t->capdone = end - start;
	}
	memset(t->done, 0, end - start);
	int rc = 0;
	for (uint32_t i = start; i < end && rc == 0; i++) {
		if (t->done[i - start])
			continue;
		const dbs_table *def = dbs_batch_event(batch, i)->table;
		my_table *tb;
		if ((rc = table_get(t, def, &tb, err, errlen)))
			break;
		for (uint32_t j = i; j < end && rc == 0; j++) {
			const dbs_event *ev = dbs_batch_event(batch, j);
			if (t->done[j - start] || !same_def(ev->table, def))
				continue;
			t->done[j - start] = 1;
			if (!skipped(t, ev))
				rc = add_insert(t, batch, j, tb, err, errlen);
		}
	}
	*at = end - 1;
	return rc;
}

/* WHERE clause naming the row of `img`: key columns, or every column
 * (null-safe) for a table without a primary key. */
static int append_where(my_target *t, dbs_textbuf *s, my_table *tb, const dbs_event *ev,
                        const dbs_value *img, char *err, size_t errlen)
{
	int rc;
	if ((rc = dbs__textbuf_append_str(s, " WHERE ")))
		goto nomem;
	if (tb->nkeys) {
		for (uint32_t k = 0; k < tb->nkeys; k++) {
			uint32_t c = tb->keys[k];
			if ((k && (rc = dbs__textbuf_append_str(s, " AND "))) ||
			    (rc = append_ident(s, tb->def->columns[c].name)) ||
			    (rc = dbs__textbuf_append_char(s, '=')))
				goto nomem;
			if ((rc = put_value(t, tb, ev, img, c, s, err, errlen)))
				return rc;
		}
		return 0;
	}
	int any = 0;
	for (uint32_t c = 0; c < tb->def->ncolumns; c++) {
		if (img[c].kind == DBS_VALUE_UNCHANGED)
			continue;
		if ((any && (rc = dbs__textbuf_append_str(s, " AND "))) ||
		    (rc = append_ident(s, tb->def->columns[c].name)) ||
		    (rc = dbs__textbuf_append_str(s, "<=>")))
			goto nomem;
		if ((rc = put_value(t, tb, ev, img, c, s, err, errlen)))
			return rc;
		any = 1;
	}
	if (!any && (rc = dbs__textbuf_append_str(s, "FALSE")))
		goto nomem;
	return dbs__textbuf_append_str(s, " LIMIT 1");
nomem:
	dbs__fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/*
 * Consecutive deletes from one table with a one-column key share one
 * DELETE … WHERE k IN (…): one statement for the server to parse and
 * plan instead of one per row.
 */
static int add_delete_by_key(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                             const dbs_value *img, char *err, size_t errlen)
{
	dbs_textbuf *row = &t->row;
	int rc;
	dbs__textbuf_reset(row);
	if ((rc = put_value(t, tb, dbs_batch_event(batch, i), img, tb->keys[0], row, err, errlen)))
		return rc;
	if (t->open_delete == tb && t->sql.len + row->len + 2 <= t->packet_limit) {
		if ((rc = dbs__textbuf_append_char(&t->sql, ',')) ||
		    (rc = dbs__textbuf_append(&t->sql, row->data, row->len)))
			goto nomem;
		t->stmts[t->nstmts - 1].last = i;
		return 0;
	}
	if ((rc = close_open(t)))
		goto nomem;
	if ((rc = maybe_flush(t, batch, err, errlen)))
		return rc;
	if (t->sql.len && t->sql.len + row->len + 256 + strlen(tb->qname) > t->packet_limit &&
	    (rc = flush(t, batch, err, errlen)))
		return rc;
	if ((rc = sep(t)) || (rc = dbs__textbuf_append_str(&t->sql, "DELETE FROM ")) ||
	    (rc = dbs__textbuf_append_str(&t->sql, tb->qname)) ||
	    (rc = dbs__textbuf_append_str(&t->sql, " WHERE ")) ||
	    (rc = append_ident(&t->sql, tb->def->columns[tb->keys[0]].name)) ||
	    (rc = dbs__textbuf_append_str(&t->sql, " IN (")) ||
	    (rc = dbs__textbuf_append(&t->sql, row->data, row->len)) ||
	    (rc = stmt_push(t, tb, i, i, "deleting from")))
		goto nomem;
	t->open_delete = tb;
	return 0;
nomem:
	dbs__fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

static int add_change(my_target *t, const dbs_batch *batch, uint32_t i, my_table *tb,
                      char *err, size_t errlen)
{
	const dbs_event *ev = dbs_batch_event(batch, i);
	dbs_textbuf *s = &t->row; /* built aside, so the packet's size is known before it grows */
	int rc;
	const dbs_value *where_img = key_image(tb, ev);
	if (!where_img || (tb->nkeys == 0 && !ev->before)) {
		dbs__fmt(err, errlen, "table %s: the %s event carries no old row to find the row by%s",
		         tb->qname, ev->op == DBS_OP_DELETE ? "delete" : "update",
		         tb->nkeys ? "" : " (the table has no primary key: the source must send "
		                          "whole old rows, e.g. REPLICA IDENTITY FULL)");
		return DBS_ETARGET;
	}
	if (ev->op == DBS_OP_DELETE && tb->nkeys == 1)
		return add_delete_by_key(t, batch, i, tb, where_img, err, errlen);
	dbs__textbuf_reset(s);
	if (ev->op == DBS_OP_DELETE) {
		if ((rc = dbs__textbuf_append_str(s, "DELETE FROM ")) ||
		    (rc = dbs__textbuf_append_str(s, tb->qname)))
			goto nomem;
	} else {
		int any = 0;
		if ((rc = dbs__textbuf_append_str(s, "UPDATE ")) ||
		    (rc = dbs__textbuf_append_str(s, tb->qname)) ||
		    (rc = dbs__textbuf_append_str(s, " SET ")))
			goto nomem;
		for (uint32_t c = 0; c < tb->def->ncolumns; c++) {
			/* An unchanged TOAST value is not sent: keep the target's. */
			if (ev->after[c].kind == DBS_VALUE_UNCHANGED)
				continue;
			if ((any && (rc = dbs__textbuf_append_char(s, ','))) ||
			    (rc = append_ident(s, tb->def->columns[c].name)) ||
			    (rc = dbs__textbuf_append_char(s, '=')))
				goto nomem;
			if ((rc = put_value(t, tb, ev, ev->after, c, s, err, errlen)))
				return rc;
			any = 1;
		}
		if (!any)
			return 0; /* nothing sent changed */
	}
	if ((rc = append_where(t, s, tb, ev, where_img, err, errlen)))
		return rc;
	if ((rc = close_open(t)))
		goto nomem;
	if (t->sql.len && t->sql.len + 1 + s->len > t->packet_limit &&
	    (rc = flush(t, batch, err, errlen)))
		return rc;
	if ((rc = sep(t)) || (rc = dbs__textbuf_append(&t->sql, s->data, s->len)) ||
	    (rc = stmt_push(t, tb, i, i, ev->op == DBS_OP_DELETE ? "deleting from" : "updating")))
		goto nomem;
	return maybe_flush(t, batch, err, errlen);
nomem:
	dbs__fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Checkpoint                                                          */
/* ------------------------------------------------------------------ */

static int checkpoint_read(my_target *t, char *err, size_t errlen)
{
	int rc = DBS_ETARGET;
	MYSQL_RES *res = NULL;
	dbs_textbuf *b = &t->tmp;
	dbs__textbuf_reset(b);
	if (dbs__textbuf_appendf(b, "SELECT txn, resume, event, txn_end, gtid FROM " CHECKPOINT_TABLE
	                         " WHERE stream_id = %s", t->stream_literal)) {
		rc = DBS_ENOMEM;
		dbs__fmt(err, errlen, "out of memory");
		goto done;
	}
	if (mysql_real_query(t->conn, b->data, (unsigned long)b->len) ||
	    !(res = mysql_store_result(t->conn))) {
		db_error(t, err, errlen, "reading the checkpoint");
		goto done;
	}
	memset(&t->checkpoint, 0, sizeof t->checkpoint);
	MYSQL_ROW row = mysql_fetch_row(res);
	if (row) {
		if (!row[0] || !row[1] || !row[2] || !row[3]) {
			dbs__fmt(err, errlen, CHECKPOINT_TABLE " row of stream %s has NULLs",
			         t->host->stream_id);
			goto done;
		}
		errno = 0;
		t->checkpoint.txn = strtoull(row[0], NULL, 10);
		t->checkpoint.resume = strtoull(row[1], NULL, 10);
		unsigned long long ev = strtoull(row[2], NULL, 10);
		unsigned long long end = strtoull(row[3], NULL, 10);
		if (errno || ev > UINT32_MAX || end > UINT32_MAX) {
			dbs__fmt(err, errlen, CHECKPOINT_TABLE " row of stream %s is out of range",
			         t->host->stream_id);
			goto done;
		}
		t->checkpoint.event = (uint32_t)ev;
		t->checkpoint.txn_end = (uint32_t)end;
		if (row[4] && row[4][0] &&
		    dbs__gtid_parse(row[4], strlen(row[4]), &t->checkpoint.gtid_domain,
		                    &t->checkpoint.gtid_server, &t->checkpoint.gtid_seq) != 0) {
			dbs__fmt(err, errlen,
			         CHECKPOINT_TABLE " row of stream %s has a malformed gtid \"%.64s\"",
			         t->host->stream_id, row[4]);
			goto done;
		}
	}
	rc = 0;
done:
	if (res)
		mysql_free_result(res);
	return rc;
}

/* A checkpoint table made before positions carried a GTID gains the
 * column (MySQL has no ADD COLUMN IF NOT EXISTS: a stream opening at the
 * same time may add it first, error 1060). */
static int checkpoint_add_gtid(my_target *t, char *err, size_t errlen)
{
	static const char q[] = "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
	                        "DATABASE() AND TABLE_NAME = '" CHECKPOINT_TABLE
	                        "' AND COLUMN_NAME = 'gtid'";
	static const char alter[] = "ALTER TABLE " CHECKPOINT_TABLE " ADD COLUMN gtid varchar(64) NULL";
	MYSQL_RES *res = NULL;
	if (mysql_real_query(t->conn, q, sizeof q - 1) || !(res = mysql_store_result(t->conn))) {
		db_error(t, err, errlen, "reading the columns of " CHECKPOINT_TABLE);
		return DBS_ETARGET;
	}
	int has = mysql_num_rows(res) > 0;
	mysql_free_result(res);
	if (has)
		return 0;
	if (mysql_real_query(t->conn, alter, sizeof alter - 1) && mysql_errno(t->conn) != 1060) {
		db_error(t, err, errlen, "adding the gtid column to " CHECKPOINT_TABLE);
		return DBS_ETARGET;
	}
	return 0;
}

/* Append the checkpoint upsert for `last` (hub sequence `seq`, printed
 * as `pos`) and COMMIT to the packet. */
static int add_commit_at(my_target *t, const dbs_position *last, uint64_t seq, const char *pos)
{
	char gtid[48], gtid_sql[52] = "NULL";
	if (last->gtid_seq && dbs__gtid_text(gtid, sizeof gtid, last) == 0)
		dbs__fmt(gtid_sql, sizeof gtid_sql, "'%s'", gtid);
	int rc;
	if ((rc = close_open(t)) || (rc = sep(t)))
		return rc;
	if ((rc = dbs__textbuf_appendf(&t->sql,
	                               "INSERT INTO " CHECKPOINT_TABLE
	                               " (stream_id, txn, resume, event, txn_end, hub_seq, position, "
	                               "gtid, updated_at) VALUES (%s, %" PRIu64 ", %" PRIu64
	                               ", %" PRIu32 ", %" PRIu32 ", %" PRIu64
	                               ", '%s', %s, UTC_TIMESTAMP(6)) "
	                               "ON DUPLICATE KEY UPDATE txn=VALUES(txn), "
	                               "resume=VALUES(resume), event=VALUES(event), "
	                               "txn_end=VALUES(txn_end), hub_seq=VALUES(hub_seq), "
	                               "position=VALUES(position), gtid=VALUES(gtid), "
	                               "updated_at=VALUES(updated_at)",
	                               t->stream_literal, last->txn, last->resume, last->event,
	                               last->txn_end, seq, pos, gtid_sql)) ||
	    (rc = stmt_push(t, NULL, 0, 0, "writing the checkpoint")) ||
	    (rc = dbs__textbuf_append_str(&t->sql, ";COMMIT")) ||
	    (rc = stmt_push(t, NULL, 0, 0, "commit")))
		return rc;
	return 0;
}

static int add_checkpoint_commit(my_target *t, const dbs_batch *batch)
{
	const dbs_position *last = dbs_batch_last(batch);
	char pos[96];
	dbs__position_text(pos, sizeof pos, batch, last);
	return add_commit_at(t, last, dbs_batch_seq(batch), pos);
}

/* Commit what is open with the checkpoint row of the last batch applied. */
static int commit_open(my_target *t, char *err, size_t errlen)
{
	int rc;
	dbs__textbuf_reset(&t->sql);
	t->nstmts = 0;
	t->open_insert = NULL;
	t->open_delete = NULL;
	t->open = 0;
	if ((rc = add_commit_at(t, &t->open_last, t->open_seq, t->open_pos))) {
		dbs__fmt(err, errlen, "out of memory");
		return rc;
	}
	if ((rc = flush(t, NULL, err, errlen)))
		return rc;
	t->checkpoint = t->open_last;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Vtable                                                              */
/* ------------------------------------------------------------------ */

static void my_close(dbs_target *base)
{
	my_target *t = (my_target *)base;
	if (!t)
		return;
	if (t->conn)
		mysql_close(t->conn);
	for (size_t i = 0; i < t->ntables; i++)
		table_free(t->tables[i]);
	free(t->tables);
	free(t->stream_literal);
	free(t->stmts);
	free(t->done);
	dbs__mysql_dsn_free(&t->dsn);
	dbs__textbuf_free(&t->sql);
	dbs__textbuf_free(&t->row);
	dbs__textbuf_free(&t->tmp);
	free(t->dlq_qname);
	free(t);
}

/*
 * Strict, so an unfit value is an error rather than a cut; backslash an
 * ordinary byte so literals only double quotes; zero dates allowed
 * (no NO_ZERO_DATE / NO_ZERO_IN_DATE) so a MySQL source's '0000-00-00'
 * arrives unchanged; 0 into an AUTO_INCREMENT column stays 0. UTC, so
 * TIMESTAMP columns take and give instants as the events carry them.
 */
static const char session_sql[] =
	"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION,"
	"NO_AUTO_VALUE_ON_ZERO,ERROR_FOR_DIVISION_BY_ZERO', time_zone = '+00:00', autocommit = 1, "
	"character_set_client = utf8mb4, character_set_connection = utf8mb4, "
	"character_set_results = utf8mb4";

static const char checkpoint_ddl[] =
	"CREATE TABLE IF NOT EXISTS " CHECKPOINT_TABLE " ("
	"stream_id varchar(64) NOT NULL PRIMARY KEY, "
	"txn bigint unsigned NOT NULL, "
	"resume bigint unsigned NOT NULL, "
	"event bigint NOT NULL, "
	"txn_end bigint NOT NULL, "
	"hub_seq bigint unsigned NOT NULL, "
	"position varchar(255) NOT NULL, "
	"updated_at datetime(6) NOT NULL, "
	"gtid varchar(64) NULL" /* MariaDB GTID of the position, "0-1-42" */
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/* The dead-letter table: one row per rejected event, keyed by the
 * event's place in the source so that it is written once. */
static const char dead_letter_columns[] =
	" (stream_id varchar(64) NOT NULL, "
	"source_txn bigint unsigned NOT NULL, "
	"source_event bigint unsigned NOT NULL, "
	"source_position varchar(255) NOT NULL, "
	"source_table varchar(512) NOT NULL, "
	"operation varchar(8) NOT NULL, "
	"row_key json NULL, "
	"row_before json NULL, "
	"row_after json NULL, "
	"error_code varchar(16) NOT NULL, "
	"error_message text NOT NULL, "
	"rejected_at datetime(6) NOT NULL, "
	"PRIMARY KEY (stream_id, source_txn, source_event)) "
	"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/* Quote options.deadLetterTable ("t" in the connection's database, or
 * "db.t") and create it when missing. */
static int dead_letter_prepare(my_target *t, char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	const char *name = t->config->dead_letter_table;
	const char *dot = strchr(name, '.');
	char db[64];
	dbs_textbuf *b = &t->tmp;
	dbs__fmt(db, sizeof db, "%.*s", dot ? (int)(dot - name) : 0, name);
	dbs__textbuf_reset(b);
	if (append_ident(b, dot ? db : t->dsn.database) || dbs__textbuf_append_char(b, '.') ||
	    append_ident(b, dot ? dot + 1 : name) || !(t->dlq_qname = dup_n(b->data, b->len)))
		goto oom;
	dbs__textbuf_reset(b);
	if (dbs__textbuf_appendf(b, "CREATE TABLE IF NOT EXISTS %s%s", t->dlq_qname,
	                         dead_letter_columns))
		goto oom;
	rc = exec_sql(t, b->data, b->len, "creating the dead-letter table", err, errlen);
	goto done;
oom:
	dbs__fmt(err, errlen, "out of memory");
done:
	return rc;
}

static int connect_server(my_target *t, dbs_mysql_tls tls, char *err, size_t errlen)
{
	const dbs_target_config *c = t->config;
	if (t->conn)
		mysql_close(t->conn);
	if (!(t->conn = mysql_init(NULL))) {
		dbs__fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	unsigned timeout = CONNECT_TIMEOUT_S;
	mysql_optionsv(t->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_optionsv(t->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* A server that stops answering fails the apply instead of hanging
	 * the target thread past any stop request. */
	unsigned io_timeout = IO_TIMEOUT_S;
	mysql_optionsv(t->conn, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
	mysql_optionsv(t->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
	if (tls != DBS_MYSQL_TLS_OFF) {
		my_bool enforce = 1, verify = tls == DBS_MYSQL_TLS_VERIFY;
		mysql_ssl_set(t->conn, c->ssl_key, c->ssl_cert, c->ssl_ca, NULL, NULL);
		mysql_optionsv(t->conn, MYSQL_OPT_SSL_ENFORCE, &enforce);
		mysql_optionsv(t->conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	}
	if (!mysql_real_connect(t->conn, t->dsn.socket ? NULL : t->dsn.host, t->dsn.user,
	                        t->dsn.password, NULL, t->dsn.socket ? 0 : t->dsn.port,
	                        t->dsn.socket, CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS)) {
		db_error(t, err, errlen, "connecting to the target");
		return DBS_ETARGET;
	}
	return 0;
}

static int my_open(dbs_target **out, const dbs_target_config *config, const dbs_host *host,
                   dbs_position *checkpoint, char *err, size_t errlen)
{
	int rc = DBS_EINVAL;
	my_target *t = NULL;
	MYSQL_RES *res = NULL;
	if (out)
		*out = NULL;
	if (!out || !config || !host || !checkpoint || !host->stream_id || !config->connection) {
		dbs__fmt(err, errlen, "mysql target: missing connection, stream id or output");
		goto fail;
	}
	rc = DBS_ENOMEM;
	if (!(t = calloc(1, sizeof *t))) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	t->base.ops = &dbs__mysql_target_ops;
	t->config = config;
	t->host = host;
	if ((rc = dbs__mysql_dsn_parse(&t->dsn, config->connection, err, errlen)))
		goto fail;
	if (!t->dsn.database || !t->dsn.database[0]) {
		rc = DBS_ECONFIG;
		dbs__fmt(err, errlen, "mysql target: the connection names no database "
		         "(user:password@tcp(host:port)/dbname)");
		goto fail;
	}
	dbs_mysql_tls tls = t->dsn.tls;
	if (tls == DBS_MYSQL_TLS_OFF && (config->ssl_ca || config->ssl_cert || config->ssl_key))
		tls = DBS_MYSQL_TLS_VERIFY; /* certificates given: the user wants TLS */
	rc = connect_server(t, tls, err, errlen);
	if (rc && tls == DBS_MYSQL_TLS_PREFERRED) {
		tls = DBS_MYSQL_TLS_OFF;
		rc = connect_server(t, tls, err, errlen);
	}
	if (rc)
		goto fail;
	t->tls = tls;

	const char *info = mysql_get_server_info(t->conn);
	unsigned long ver = mysql_get_server_version(t->conn);
	/* Binary, no-pad: keys that differ in case, accents or trailing
	 * spaces stay distinct rows, as they are in PostgreSQL. */
	if (info && strstr(info, "MariaDB"))
		t->collation = "utf8mb4_nopad_bin";
	else if (ver >= 80000)
		t->collation = "utf8mb4_0900_bin";
	else
		t->collation = "utf8mb4_bin";

	dbs_textbuf *b = &t->tmp;
	dbs__textbuf_reset(b);
	if (dbs__textbuf_append_str(b, "CREATE DATABASE IF NOT EXISTS ") ||
	    append_ident(b, t->dsn.database) ||
	    dbs__textbuf_appendf(b, " CHARACTER SET utf8mb4 COLLATE %s", t->collation)) {
		rc = DBS_ENOMEM;
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = exec_str(t, session_sql, "session settings", err, errlen)) ||
	    (rc = exec_sql(t, b->data, b->len, "creating the database", err, errlen)))
		goto fail;
	if (mysql_select_db(t->conn, t->dsn.database)) {
		rc = DBS_ETARGET;
		db_error(t, err, errlen, "selecting the database");
		goto fail;
	}
	if ((rc = exec_str(t, checkpoint_ddl, "creating " CHECKPOINT_TABLE, err, errlen)) ||
	    (rc = checkpoint_add_gtid(t, err, errlen)))
		goto fail;
	if (config->dead_letter_table && (rc = dead_letter_prepare(t, err, errlen)))
		goto fail;

	rc = DBS_ETARGET;
	if (mysql_real_query(t->conn, "SELECT @@max_allowed_packet", 27) ||
	    !(res = mysql_store_result(t->conn))) {
		db_error(t, err, errlen, "reading max_allowed_packet");
		goto fail;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	unsigned long long map = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	res = NULL;
	/* Leave room for the packet header and a statement's tail. */
	t->packet_limit = map > 65536 ? (size_t)(map - 16384) : (size_t)(map / 4 * 3);
	if (t->packet_limit < 512)
		t->packet_limit = 512;
	if (t->packet_limit > PACKET_CAP)
		t->packet_limit = PACKET_CAP;

	dbs__textbuf_reset(b);
	if (dbs__textbuf_append_literal(b, host->stream_id, strlen(host->stream_id)) ||
	    !(t->stream_literal = dup_n(b->data, b->len))) {
		rc = DBS_ENOMEM;
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = checkpoint_read(t, err, errlen)))
		goto fail;
	*checkpoint = t->checkpoint;
	*out = &t->base;
	return 0;
fail:
	if (res)
		mysql_free_result(res);
	my_close(t ? &t->base : NULL);
	return rc;
}

static int apply_once(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0, in_txn = 0;
	uint32_t n = dbs_batch_count(batch);
	const dbs_position *last = dbs_batch_last(batch);
	my_table *tb = NULL;

	if (n == 0 || dbs_position_cmp(last, &t->checkpoint) <= 0) {
		rc = t->open ? DBS_APPLY_OPEN : 0;
		goto done;
	}
	in_txn = t->open;
	if (t->open) {
		/* A table new here must be created, and MySQL DDL commits what
		 * is open: commit it first, with the checkpoint row of the last
		 * batch applied, so the target stays consistent (this part of
		 * the source transaction becomes visible before its end). */
		uint32_t i = 0;
		while (i < n && (skipped(t, dbs_batch_event(batch, i)) ||
		                 table_find(t, dbs_batch_event(batch, i)->table)))
			i++;
		if (i < n) {
			if ((rc = commit_open(t, err, errlen)))
				goto fail;
			tlog(t, DBS_LOG_INFO, "mysql target: committed the source transaction so far "
			     "to create table %s.%s (MySQL DDL commits)",
			     dbs_batch_event(batch, i)->table->schema,
			     dbs_batch_event(batch, i)->table->name);
			in_txn = 0;
		}
	}
	/* Tables first, outside the transaction: DDL would commit it. */
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (!skipped(t, ev) && (rc = table_get(t, ev->table, &tb, err, errlen)))
			goto fail;
	}
	t->data_error = 0; /* an index left out above is only a warning */
	dbs__textbuf_reset(&t->sql);
	t->nstmts = 0;
	t->open_insert = NULL;
	t->open_delete = NULL;
	if (!t->open && ((rc = dbs__textbuf_append_str(&t->sql, "START TRANSACTION")) ||
	                 (rc = stmt_push(t, NULL, 0, 0, "starting the transaction")))) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	in_txn = 1;
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (skipped(t, ev))
			continue;
		if ((rc = table_get(t, ev->table, &tb, err, errlen)))
			goto fail;
		if (ev->op == DBS_OP_INSERT && ev->after)
			rc = add_insert_segment(t, batch, &i, err, errlen);
		else if ((ev->op == DBS_OP_UPDATE && ev->after) || ev->op == DBS_OP_DELETE)
			rc = add_change(t, batch, i, tb, err, errlen);
		else {
			dbs__fmt(err, errlen, "table %s: event %u has op %u without its row image",
			         tb->qname, (unsigned)i, (unsigned)ev->op);
			rc = DBS_EINTERNAL;
		}
		if (rc)
			goto fail;
	}
	/* Inside a source transaction that goes on, the transaction stays
	 * open; the checkpoint row is written when it commits (with the last
	 * batch, by flush, or before DDL). With a dead-letter table every
	 * batch commits on its own: a rejected row is found by applying its
	 * batch again row by row, which needs the batch's transaction to
	 * start with the batch. */
	int commit = !t->config->span_transactions || t->dlq_qname || last->txn_end;
	if ((rc = commit ? add_checkpoint_commit(t, batch) : close_open(t))) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = flush(t, batch, err, errlen)))
		goto fail;
	if (commit) {
		t->checkpoint = *last;
		t->open = 0;
	} else {
		t->open = 1;
		t->open_last = *last;
		t->open_seq = dbs_batch_seq(batch);
		dbs__position_text(t->open_pos, sizeof t->open_pos, batch, last);
		rc = DBS_APPLY_OPEN;
	}
	goto done;
fail:
	if (in_txn && t->conn) {
		/* The failed packet's later statements never ran; what ran is
		 * undone here. */
		char ignore[64];
		exec_str(t, "ROLLBACK", "rollback", ignore, sizeof ignore);
	}
	t->open = 0;
	dbs__textbuf_reset(&t->sql);
	t->nstmts = 0;
	t->open_insert = NULL;
	t->open_delete = NULL;
	if (rc != DBS_ENOMEM)
		rc = DBS_ETARGET;
done:
	return rc;
}

/* ------------------------------------------------------------------ */
/* Rejected rows: the batch again, one row at a time                  */
/* ------------------------------------------------------------------ */

static void packet_reset(my_target *t)
{
	dbs__textbuf_reset(&t->sql);
	t->nstmts = 0;
	t->open_insert = NULL;
	t->open_delete = NULL;
}

/* Append the JSON of `cols` of `img` as a literal, or NULL. */
static int json_literal(my_target *t, const dbs_table *def, const dbs_value *img,
                        const uint32_t *cols, uint32_t ncols)
{
	if (!img)
		return dbs__textbuf_append_str(&t->sql, "NULL");
	dbs__textbuf_reset(&t->row);
	int rc = dbs__row_json(&t->row, def, img, cols, ncols);
	return rc ? rc : dbs__textbuf_append_literal(&t->sql, t->row.data, t->row.len);
}

/*
 * Write the event the target just rejected (t->err_code, t->err_msg) to
 * the dead-letter table, in the apply's transaction: it commits with the
 * checkpoint, so a replayed batch skips it like every applied event.
 * `nth` counts it among the target's dead letters, for the log.
 */
static int dead_letter_write(my_target *t, const dbs_batch *batch, my_table *tb,
                             const dbs_event *ev, uint64_t nth, char *err, size_t errlen)
{
	static const char *const op_names[] = {"", "insert", "update", "delete"};
	char pos[64], key[ERR_KEY_MAX + 16], where[ERR_KEY_MAX + 600];
	char line[DBS_ERRMSG_MAX + ERR_KEY_MAX + 600];
	const dbs_value *key_img = key_image(tb, ev);
	dbs_textbuf *b = &t->sql;
	const char *op = op_names[ev->op <= DBS_OP_DELETE ? ev->op : 0];
	const char *schema = ev->table->schema ? ev->table->schema : "";
	int rc;

	dbs__position_text(pos, sizeof pos, batch, &ev->pos);
	key_text(t, tb, ev, key, sizeof key);
	packet_reset(t);
	if ((rc = dbs__textbuf_appendf(b, "INSERT INTO %s (stream_id, source_txn, source_event, "
	                               "source_position, source_table, operation, row_key, "
	                               "row_before, row_after, error_code, error_message, "
	                               "rejected_at) VALUES (%s, %" PRIu64 ", %" PRIu32 ", '%s', ",
	                               t->dlq_qname, t->stream_literal, ev->pos.txn, ev->pos.event,
	                               pos)))
		goto oom;
	dbs__textbuf_reset(&t->row);
	if ((rc = dbs__textbuf_appendf(&t->row, "%s.%s", schema, ev->table->name)) ||
	    (rc = dbs__textbuf_append_literal(b, t->row.data, t->row.len)) ||
	    (rc = dbs__textbuf_appendf(b, ", '%s', ", op)) ||
	    (rc = json_literal(t, ev->table, tb->nkeys ? key_img : NULL, tb->keys, tb->nkeys)) ||
	    (rc = dbs__textbuf_append(b, ", ", 2)) ||
	    (rc = json_literal(t, ev->table, ev->before, NULL, 0)) ||
	    (rc = dbs__textbuf_append(b, ", ", 2)) ||
	    (rc = json_literal(t, ev->table, ev->after, NULL, 0)) ||
	    (rc = dbs__textbuf_append(b, ", ", 2)) ||
	    (rc = dbs__textbuf_append_literal(b, t->err_code, strlen(t->err_code))) ||
	    (rc = dbs__textbuf_append(b, ", ", 2)) ||
	    (rc = dbs__textbuf_append_literal(b, t->err_msg, strlen(t->err_msg))) ||
	    (rc = dbs__textbuf_append_str(b, ", UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE "
	                                     "stream_id = stream_id")))
		goto oom;
	/* Formatted now: a failing insert overwrites t->err_msg. */
	dbs__fmt(line, sizeof line, "%s, key %s: row rejected (error %s: %s), written to %s "
	         "(%" PRIu64 " so far)", tb->qname, key, t->err_code, t->err_msg, t->dlq_qname,
	         nth);
	dbs__fmt(where, sizeof where, "%s, key %s: writing the rejected row to %s", tb->qname, key,
	         t->dlq_qname);
	rc = exec_sql(t, b->data, b->len, where, err, errlen);
	if (rc)
		t->data_error = 0; /* the dead-letter table itself failed: fail the batch */
	else
		tlog(t, DBS_LOG_WARN, "%s", line);
	packet_reset(t);
	return rc;
oom:
	packet_reset(t);
	dbs__fmt(err, errlen, "out of memory");
	return DBS_ENOMEM;
}

/*
 * The batch failed on a row's data: apply it again in a new transaction,
 * each event under its own savepoint, to find the rows the target
 * rejects. Without a dead-letter table the first one fails the apply,
 * named by its table and key; with one, each goes to that table and the
 * rest of the batch commits with the checkpoint. Only a failing batch
 * comes here, so the normal path pays nothing for it.
 */
static int apply_rowwise(my_target *t, const dbs_batch *batch, char *err, size_t errlen)
{
	int rc = 0, in_txn = 0;
	uint32_t n = dbs_batch_count(batch);
	uint64_t rejected = 0;
	const dbs_position *last = dbs_batch_last(batch);
	my_table *tb = NULL;

	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (!skipped(t, ev) && (rc = table_get(t, ev->table, &tb, err, errlen)))
			goto fail;
	}
	if ((rc = exec_str(t, "START TRANSACTION", "starting the transaction", err, errlen)))
		goto fail;
	in_txn = 1;
	for (uint32_t i = 0; i < n; i++) {
		const dbs_event *ev = dbs_batch_event(batch, i);
		if (skipped(t, ev))
			continue;
		if ((rc = table_get(t, ev->table, &tb, err, errlen)) ||
		    (rc = exec_str(t, "SAVEPOINT dbs_row", "savepoint", err, errlen)))
			goto fail;
		t->data_error = 0;
		packet_reset(t);
		if (ev->op == DBS_OP_INSERT && ev->after)
			rc = add_insert(t, batch, i, tb, err, errlen);
		else if ((ev->op == DBS_OP_UPDATE && ev->after) || ev->op == DBS_OP_DELETE)
			rc = add_change(t, batch, i, tb, err, errlen);
		else {
			dbs__fmt(err, errlen, "table %s: event %u has op %u without its row image",
			         tb->qname, (unsigned)i, (unsigned)ev->op);
			rc = DBS_EINTERNAL;
		}
		if (rc == 0 && close_open(t)) {
			dbs__fmt(err, errlen, "out of memory");
			rc = DBS_ENOMEM;
		}
		if (rc == 0)
			rc = flush(t, batch, err, errlen);
		packet_reset(t);
		if (rc == 0)
			continue;
		if (rc == DBS_ENOMEM || t->lost || !t->data_error || !t->dlq_qname)
			goto fail;
		if ((rc = exec_str(t, "ROLLBACK TO SAVEPOINT dbs_row", "savepoint", err, errlen)) ||
		    (rc = dead_letter_write(t, batch, tb, ev, t->dead_letters + rejected + 1, err,
		                            errlen)))
			goto fail;
		rejected++;
	}
	if ((rc = add_checkpoint_commit(t, batch))) {
		dbs__fmt(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = flush(t, batch, err, errlen)))
		goto fail;
	t->checkpoint = *last;
	t->dead_letters += rejected;
	dbs__rows_dead_lettered(t->host, rejected);
	goto done;
fail:
	if (in_txn && t->conn) {
		char ignore[64];
		exec_str(t, "ROLLBACK", "rollback", ignore, sizeof ignore);
	}
	packet_reset(t);
	if (rc != DBS_ENOMEM)
		rc = DBS_ETARGET;
done:
	return rc;
}

/*
 * A new session in place of a lost one, with the settings and database
 * of the first; the checkpoint is read again because the lost
 * transaction may have committed before the connection dropped.
 */
static int session_restore(my_target *t, char *err, size_t errlen)
{
	int rc;
	t->lost = 0;
	if ((rc = connect_server(t, t->tls, err, errlen))) {
		t->lost = 1;
		goto done;
	}
	if ((rc = exec_str(t, session_sql, "session settings", err, errlen)))
		goto done;
	if (mysql_select_db(t->conn, t->dsn.database)) {
		rc = DBS_ETARGET;
		db_error(t, err, errlen, "selecting the database");
		goto done;
	}
	rc = checkpoint_read(t, err, errlen);
done:
	return rc;
}

/* One apply for dbs__retry_lost. */
struct apply_try {
	my_target *t;
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
static int my_apply(dbs_target *base, const dbs_batch *batch, char *err, size_t errlen)
{
	my_target *t = (my_target *)base;
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
	return dbs__retry_lost(t->host, "mysql target", &t->lost, try_apply, try_restore, &a, err,
	                       errlen);
}

/* The stream stops inside a source transaction: commit what is open with
 * the checkpoint row of the last batch applied. */
static int my_flush(dbs_target *base, char *err, size_t errlen)
{
	my_target *t = (my_target *)base;
	if (!t || !t->open)
		return 0;
	return commit_open(t, err, errlen);
}

/* The stream's first checkpoint: where the source starts, before any
 * batch (see dbs_target_ops.keep_checkpoint). One statement: the session
 * runs with autocommit. */
static int my_keep_checkpoint(dbs_target *base, const dbs_position *pos, dbs_dialect dialect,
                              char *err, size_t errlen)
{
	my_target *t = (my_target *)base;
	char text[96], gtid[48], gtid_sql[52] = "NULL";
	int rc;
	dbs__position_text_of(text, sizeof text, dialect, pos);
	if (pos->gtid_seq && dbs__gtid_text(gtid, sizeof gtid, pos) == 0)
		dbs__fmt(gtid_sql, sizeof gtid_sql, "'%s'", gtid);
	dbs__textbuf_reset(&t->sql);
	if (dbs__textbuf_appendf(&t->sql,
	                         "INSERT INTO " CHECKPOINT_TABLE
	                         " (stream_id, txn, resume, event, txn_end, hub_seq, position, "
	                         "gtid, updated_at) VALUES (%s, %" PRIu64 ", %" PRIu64 ", %" PRIu32
	                         ", %" PRIu32 ", 0, '%s', %s, UTC_TIMESTAMP(6))",
	                         t->stream_literal, pos->txn, pos->resume, pos->event, pos->txn_end,
	                         text, gtid_sql)) {
		dbs__fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if ((rc = exec_sql(t, t->sql.data, t->sql.len, "writing the start checkpoint", err,
	                   errlen)))
		return rc;
	t->checkpoint = *pos;
	return 0;
}

const dbs_target_ops dbs__mysql_target_ops = {
	.version = DBS_TARGET_OPS_VERSION,
	.name = "mysql",
	.open = my_open,
	.apply = my_apply,
	.close = my_close,
	.flush = my_flush,
	.keep_checkpoint = my_keep_checkpoint,
};
