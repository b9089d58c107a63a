/*
 * PostgreSQL target: the session's cache of target tables, their DDL
 * (tables, primary keys, secondary indexes, the staging tables of the
 * upsert path) and the formatting of values and keys. Tables of a MySQL
 * source get the mapped column types of sqlmap.h and their values its
 * conversions.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dbstreams/sys/buf.h>

#include "sql/value_text.h"
#include "targets/postgresql/pg_target.h"

/* Longest value shown in an error message's key. */
#define ERR_VALUE_MAX 64u

/* A copy of the buffer's text. */
static char *dup_buf(const dbs_buf *b)
{
	return strndup(b->data ? b->data : "", b->len);
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

/* ------------------------------------------------------------------ */
/* Type mapping                                                        */
/* ------------------------------------------------------------------ */

/*
 * Append the target type of column `i`. A PostgreSQL source spells types
 * as format_type() does, which PostgreSQL reads back as is; another
 * dialect's types go through the mapping of sqlmap.h.
 */
static int target_column_type(dbs_buf *s, const pg_table *tb, const dbs_table *def,
                              uint32_t i, char *err, size_t errlen)
{
	int rc;
	const dbs_column *col = &def->columns[i];
	if (tb->types)
		rc = dbs__sqlmap_target_type(s, &tb->types[i], DBS_DIALECT_POSTGRESQL);
	else if (col->type_name && col->type_name[0])
		rc = dbs_buf_append_str(s, col->type_name);
	else
		rc = DBS_EINVAL;
	if (rc == DBS_EINVAL) {
		rc = DBS_ETARGET;
		dbs_fmt(err, errlen, "%s.%s: column \"%s\" has no type", def->schema, def->name,
		         col->name);
	} else if (rc) {
		dbs_fmt(err, errlen, "out of memory");
	}
	return rc;
}

int dbs__pgt_column_type(dbs_buf *s, const dbs_table *def, uint32_t i, char *err,
                         size_t errlen)
{
	int rc;
	const dbs_column *col = &def->columns[i];
	dbs_sqltype type;
	if (def->dialect != DBS_DIALECT_POSTGRESQL) {
		dbs__sqlmap_parse(def, col, &type);
		rc = dbs__sqlmap_target_type(s, &type, DBS_DIALECT_POSTGRESQL);
	} else {
		rc = col->type_name && col->type_name[0] ? dbs_buf_append_str(s, col->type_name)
		                                         : DBS_EINVAL;
	}
	if (rc == DBS_EINVAL) {
		rc = DBS_ETARGET;
		dbs_fmt(err, errlen, "%s.%s: column \"%s\" has no type", def->schema, def->name,
		        col->name);
	} else if (rc) {
		dbs_fmt(err, errlen, "out of memory");
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
int dbs__pgt_put_value(pg_target *t, const pg_table *tb, const dbs_event *ev, uint32_t c,
                       const dbs_value *v, unsigned flags, int *is_null, char *err, size_t errlen)
{
	int rc = 0;
	char msg[DBS_ERRMSG_MAX];
	msg[0] = '\0';
	*is_null = 0;
	if (v->kind == DBS_VALUE_UNCHANGED) {
		rc = DBS_ETARGET;
		dbs_fmt(err, errlen, "%s: unsent (unchanged) value in column \"%s\" where one is "
		         "needed", dbs__pgt_event_label(t, tb, ev), ev->table->columns[c].name);
		goto done;
	}
	if (tb->types) {
		rc = dbs__sqlmap_value_pg(&t->buf, &tb->types[c], v, t->zero_dates, flags, is_null,
		                          msg, sizeof msg);
	} else if (v->kind == DBS_VALUE_NULL) {
		*is_null = 1;
		if (flags & DBS_VALUE_TEXT_COPY)
			rc = dbs_buf_append(&t->buf, "\\N", 2);
	} else {
		rc = dbs__value_text_pg(&t->buf, v, flags);
		if (rc == DBS_EINVAL)
			dbs_fmt(msg, sizeof msg, "value kind %u has no PostgreSQL text form",
			         (unsigned)v->kind);
	}
	if (rc == DBS_ENOMEM) {
		dbs_fmt(err, errlen, "out of memory");
	} else if (rc && tb->types && msg[0]) {
		rc = DBS_ETARGET; /* sqlmap's message names the column, its type and the value */
		t->common.data_error = 1;
		dbs_fmt(t->common.err_code, sizeof t->common.err_code, "value");
		dbs__pgt_oneline(t->common.err_msg, sizeof t->common.err_msg, 0, msg);
		dbs_fmt(err, errlen, "%s: %s", dbs__pgt_event_label(t, tb, ev), msg);
	} else if (rc) {
		rc = DBS_ETARGET;
		dbs_fmt(err, errlen, "%s: column \"%s\": %s", dbs__pgt_event_label(t, tb, ev),
		         ev->table->columns[c].name, msg[0] ? msg : "value cannot be written");
	}
done:
	return rc;
}

/* ------------------------------------------------------------------ */
/* Table cache and DDL                                                 */
/* ------------------------------------------------------------------ */

void dbs__pgt_table_free(pg_table *tb)
{
	if (!tb)
		return;
	if (tb->last)
		dbs_table_unref(tb->last);
	free(tb->types);
	for (size_t i = 0; i < tb->nstmts; i++) {
		free(tb->stmts[i].masks);
		free(tb->stmts[i].set_copy_sql);
		free(tb->stmts[i].set_sql);
	}
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
const dbs_sql_table_option *dbs__pgt_table_option(const pg_target *t, const pg_table *tb)
{
	const char *schema = tb->schema;
	return dbs__sql_table_option(t->common.settings, tb->name, &schema, 1);
}

/* Build the cached SQL of a new table entry from its definition. */
static int table_build_sql(pg_target *t, pg_table *tb, const dbs_table *def)
{
	int rc = DBS_ENOMEM;
	dbs_buf *s = &t->sql;

	dbs_buf_reset(s);
	if (dbs__sql_append_ident(s, def->schema) || dbs_buf_append_char(s, '.') ||
	    dbs__sql_append_ident(s, def->name))
		goto done;
	if (!(tb->qname = dup_buf(s)))
		goto done;

	/* Each run into staging takes a new run number, which its rows get as
	 * their default (see stage_ensure). */
	dbs_buf_reset(s);
	if (dbs_buf_appendf(s, "SELECT nextval('pg_temp.dbs_run'); COPY pg_temp.dbs_stage_%" PRIu32
	                         " (", tb->id))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs_buf_append_char(s, ',')) ||
		    dbs__sql_append_ident(s, def->columns[i].name))
			goto done;
	if (dbs_buf_append_str(s, ") FROM STDIN"))
		goto done;
	if (!(tb->copy_sql = dup_buf(s)))
		goto done;

	dbs_buf_reset(s);
	if (dbs_buf_appendf(s, "COPY %s (", tb->qname))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs_buf_append_char(s, ',')) ||
		    dbs__sql_append_ident(s, def->columns[i].name))
			goto done;
	if (dbs_buf_append_str(s, ") FROM STDIN"))
		goto done;
	if (!(tb->copy_direct_sql = dup_buf(s)))
		goto done;
	dbs_buf_reset(s);
	if (dbs_buf_appendf(s, "SAVEPOINT dbs_copy; %s", tb->copy_direct_sql))
		goto done;
	if (!(tb->copy_savepoint_sql = dup_buf(s)))
		goto done;

	/* Replays and overlaps must not duplicate rows: upsert on the key
	 * (empty for a keyless table, whose inserts are plain and so not
	 * idempotent). */
	dbs_buf_reset(s);
	if (tb->nkeys) {
		if (dbs_buf_append_str(s, " ON CONFLICT ("))
			goto done;
		for (uint32_t k = 0; k < tb->nkeys; k++)
			if ((k && dbs_buf_append_char(s, ',')) ||
			    dbs__sql_append_ident(s, def->columns[tb->keys[k]].name))
				goto done;
		int any = 0;
		for (uint32_t i = 0; i < def->ncolumns; i++) {
			if (def->columns[i].flags & DBS_COLUMN_KEY)
				continue;
			if (dbs_buf_append_str(s, any ? "," : ") DO UPDATE SET ") ||
			    dbs__sql_append_ident(s, def->columns[i].name) ||
			    dbs_buf_append_str(s, "=EXCLUDED.") ||
			    dbs__sql_append_ident(s, def->columns[i].name))
				goto done;
			any = 1;
		}
		if (!any && dbs_buf_append_str(s, ") DO NOTHING"))
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
	dbs_buf_reset(s);
	if (dbs_buf_appendf(s, "WITH d AS (DELETE FROM pg_temp.dbs_stage_%" PRIu32
	                         " WHERE dbs__run = (SELECT currval('pg_temp.dbs_run')) RETURNING *) "
	                         "INSERT INTO %s (", tb->id, tb->qname))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs_buf_append_char(s, ',')) ||
		    dbs__sql_append_ident(s, def->columns[i].name))
			goto done;
	if (dbs_buf_append_str(s, ") SELECT "))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs_buf_append_char(s, ',')) ||
		    dbs__sql_append_ident(s, def->columns[i].name))
			goto done;
	if (dbs_buf_append_str(s, " FROM d") || dbs_buf_append_str(s, tb->conflict_sql))
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
	if (!(tb->schema = strdup(def->schema ? def->schema : "")) ||
	    !(tb->name = strdup(def->name ? def->name : "")) || table_parse_types(tb))
		goto fail;
	if (!(tb->keys = malloc(((size_t)def->ncolumns + 1) * sizeof *tb->keys)))
		goto fail;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if (def->columns[i].flags & DBS_COLUMN_KEY)
			tb->keys[tb->nkeys++] = i;
	if (def->ncolumns == 0) {
		rc = DBS_ETARGET;
		dbs_fmt(err, errlen, "%s.%s: table has no columns", def->schema, def->name);
		goto fail;
	}
	if ((rc = table_build_sql(t, tb, def)) != 0)
		goto fail;
	rc = DBS_ENOMEM;
	if (dbs_array_reserve((void **)&t->tables, &t->captables, t->ntables + 1, sizeof *t->tables))
		goto fail;
	t->tables[t->ntables++] = tb;
	*out = tb;
	return 0;
fail:
	if (rc == DBS_ENOMEM)
		dbs_fmt(err, errlen, "out of memory");
	dbs__pgt_table_free(tb);
	return rc;
}

/* The cache entry for `def`: same schema, name, version and shape. */
int dbs__pgt_table_lookup(pg_target *t, const dbs_table *def, pg_table **out, char *err,
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
			dbs_fmt(err, errlen, "out of memory");
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

const char *dbs__pgt_table_label(const pg_table *tb, char *buf, size_t size)
{
	dbs_fmt(buf, size, "%s.%s", tb->schema, tb->name);
	return buf;
}

/*
 * Whether `qname` (a quoted, possibly qualified name) and `schema` exist.
 * CREATE … IF NOT EXISTS checks the CREATE privilege before existence, so
 * a user who may only write into existing tables must not run it.
 */
int dbs__pgt_relation_exists(pg_target *t, const char *qname, const char *schema,
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
		dbs__pgt_error(t, res, err, errlen, where);
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
int dbs__pgt_index_name(dbs_buf *s, dbs_dialect dialect, const char *table, const char *ix_name)
{
	char name[256] = {0};
	size_t tl = strlen(table);
	int prefix = dialect != DBS_DIALECT_POSTGRESQL &&
	             !(strncmp(ix_name, table, tl) == 0 && ix_name[tl] == '_');
	int n = snprintf(name, sizeof name, "%s%s%s", prefix ? table : "", prefix ? "_" : "",
	                 ix_name);
	if (n < 0 || n > 63) { /* a cut name (n >= sizeof name) gets its hash too */
		uint64_t h = hash_str(hash_str(UINT64_C(1469598103934665603), table), ix_name);
		size_t cut = 54;
		while (cut && ((unsigned char)name[cut] & 0xC0) == 0x80)
			cut--; /* not inside a UTF-8 sequence */
		name[cut] = '\0';
		char tail[16];
		dbs_fmt(tail, sizeof tail, "_%08" PRIx32, (uint32_t)(h ^ (h >> 32)));
		dbs_fmt(name + cut, sizeof name - cut, "%s", tail);
	}
	return dbs__sql_append_ident(s, name);
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
int dbs__pgt_index_create(pg_target *t, pg_table *tb, const dbs_table *def, const dbs_index *ix,
                          char *err, size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_buf *s = &t->sql;
	char label[256], ierr[DBS_ERRMSG_MAX];
	dbs__pgt_table_label(tb, label, sizeof label);
	if (ix->flags & DBS_INDEX_FULLTEXT) {
		if (t->common.host->log)
			t->common.host->log(t->common.host, DBS_LOG_WARN,
			             "postgresql target: %s: FULLTEXT index %s not created "
			             "(PostgreSQL has no full-text index over plain columns)",
			             label, ix->name);
		rc = 0;
		goto out;
	}
	for (uint32_t k = 0; k < ix->ncolumns && def->dialect == DBS_DIALECT_MYSQL; k++) {
		if (!mysql_long_column(def, ix->columns[k]))
			continue;
		if (t->common.host->log)
			t->common.host->log(
			    t->common.host, DBS_LOG_WARN,
			    "postgresql target: %s: index %s not created (MySQL column %s is "
			    "indexed by a prefix: its values may not fit a btree entry)",
			    label, ix->name, def->columns[ix->columns[k]].name);
		rc = 0;
		goto out;
	}
	dbs_buf_reset(s);
	if (dbs_buf_append_str(s, "SAVEPOINT dbs_index; CREATE ") ||
	    ((ix->flags & DBS_INDEX_UNIQUE) && dbs_buf_append_str(s, "UNIQUE ")) ||
	    dbs_buf_append_str(s, "INDEX IF NOT EXISTS ") ||
	    dbs__pgt_index_name(s, def->dialect, def->name, ix->name) ||
	    dbs_buf_appendf(s, " ON %s (", tb->qname))
		goto done;
	for (uint32_t k = 0; k < ix->ncolumns; k++)
		if ((k && dbs_buf_append_char(s, ',')) ||
		    dbs__sql_append_ident(s, def->columns[ix->columns[k]].name))
			goto done;
	if (dbs_buf_append_str(s, "); RELEASE SAVEPOINT dbs_index"))
		goto done;
	if (dbs__pgt_exec(t, s->data, label, ierr, sizeof ierr) != 0) {
		if ((rc = dbs__pgt_exec(t, "ROLLBACK TO SAVEPOINT dbs_index", label, err, errlen)))
			goto out;
		t->common.data_error = 0; /* handled: a warning, the rows still replicate */
		if (t->common.host->log)
			t->common.host->log(t->common.host, DBS_LOG_WARN,
			             "postgresql target: index %s not created: %s", ix->name, ierr);
	}
	rc = 0;
	goto out;
done:
	dbs_fmt(err, errlen, "out of memory");
out:
	return rc;
}

/* Create the schema and table when missing (inside the apply's transaction). */
static int table_create(pg_target *t, pg_table *tb, const dbs_table *def, char *err,
                        size_t errlen)
{
	int rc = DBS_ENOMEM;
	dbs_buf *s = &t->sql;
	char label[256];
	/* The primary key is always made (the upsert needs it);
	 * noCreateIndexes skips the secondary indexes only. */
	const dbs_sql_table_option *opt = dbs__pgt_table_option(t, tb);
	int table_exists = 0, schema_exists = 0;

	dbs__pgt_table_label(tb, label, sizeof label);
	if ((rc = dbs__pgt_relation_exists(t, tb->qname, def->schema, &table_exists, &schema_exists, label,
	                          err, errlen)) || table_exists)
		goto out;
	/* Writers sharing a stream may create the same table at once, and two
	 * concurrent CREATE ... IF NOT EXISTS can still collide: the lock,
	 * held until this transaction ends, lets one create and the other
	 * find the table. */
	if ((rc = dbs__pgt_exec(t, "SELECT pg_advisory_xact_lock(" CREATE_LOCK_KEY ")", label, err,
	                       errlen)) ||
	    (rc = dbs__pgt_relation_exists(t, tb->qname, def->schema, &table_exists, &schema_exists, label,
	                          err, errlen)) || table_exists)
		goto out;
	rc = DBS_ENOMEM;
	dbs_buf_reset(s);
	if (!schema_exists &&
	    (dbs_buf_append_str(s, "CREATE SCHEMA IF NOT EXISTS ") ||
	     dbs__sql_append_ident(s, def->schema) || dbs_buf_append_str(s, "; ")))
		goto done;
	if (dbs_buf_appendf(s, "CREATE TABLE IF NOT EXISTS %s (", tb->qname))
		goto done;
	for (uint32_t i = 0; i < def->ncolumns; i++) {
		const dbs_column *c = &def->columns[i];
		rc = DBS_ENOMEM;
		if ((i && dbs_buf_append_str(s, ", ")) || dbs__sql_append_ident(s, c->name) ||
		    dbs_buf_append_char(s, ' '))
			goto done;
		if ((rc = target_column_type(s, tb, def, i, err, errlen)) != 0)
			goto out;
		rc = DBS_ENOMEM;
		if ((c->flags & (DBS_COLUMN_NOT_NULL | DBS_COLUMN_KEY)) &&
		    dbs_buf_append_str(s, " NOT NULL"))
			goto done;
	}
	if (tb->nkeys) {
		if (dbs_buf_append_str(s, ", PRIMARY KEY ("))
			goto done;
		for (uint32_t k = 0; k < tb->nkeys; k++)
			if ((k && dbs_buf_append_char(s, ',')) ||
			    dbs__sql_append_ident(s, def->columns[tb->keys[k]].name))
				goto done;
		if (dbs_buf_append_char(s, ')'))
			goto done;
	}
	if (dbs_buf_append_char(s, ')'))
		goto done;
	if ((rc = dbs__pgt_exec(t, s->data, label, err, errlen)) != 0)
		goto out;
	/* An initial load makes them once the rows are in. */
	for (uint32_t x = 0; x < def->nindexes && !(opt && opt->no_create_indexes) &&
	                     !t->defer_indexes;
	     x++)
		if ((rc = dbs__pgt_index_create(t, tb, def, &def->indexes[x], err, errlen)) != 0)
			goto out;
	goto out;
done:
	dbs_fmt(err, errlen, "out of memory");
out:
	return rc;
}

/* The table exists on the target (created here unless noCreateTables). */
int dbs__pgt_table_ensure(pg_target *t, pg_table *tb, const dbs_table *def, char *err,
                          size_t errlen)
{
	int rc = 0;
	if (tb->ready)
		goto done;
	if (!t->common.settings->no_create_tables && (rc = table_create(t, tb, def, err, errlen)))
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
int dbs__pgt_stage_ensure(pg_target *t, pg_table *tb, const dbs_table *def, char *err,
                          size_t errlen)
{
	int rc = 0;
	char label[256];
	if (tb->stage_ready)
		goto done;
	dbs_buf *s = &t->sql;
	dbs_buf_reset(s);
	rc = DBS_ENOMEM;
	if (dbs_buf_appendf(s, "CREATE TEMP SEQUENCE IF NOT EXISTS dbs_run; "
	                         "CREATE TEMP TABLE IF NOT EXISTS dbs_stage_%" PRIu32
	                         " ON COMMIT DELETE ROWS AS SELECT ", tb->id))
		goto oom;
	for (uint32_t i = 0; i < def->ncolumns; i++)
		if ((i && dbs_buf_append_char(s, ',')) ||
		    dbs__sql_append_ident(s, def->columns[i].name))
			goto oom;
	if (dbs_buf_appendf(s, " FROM %s WITH NO DATA; ALTER TABLE pg_temp.dbs_stage_%" PRIu32
	                         " ADD COLUMN IF NOT EXISTS dbs__run bigint DEFAULT "
	                         "currval('pg_temp.dbs_run'); CREATE INDEX IF NOT EXISTS "
	                         "dbs_stage_%" PRIu32 "_run ON pg_temp.dbs_stage_%" PRIu32
	                         " (dbs__run)", tb->qname, tb->id, tb->id, tb->id))
		goto oom;
	if ((rc = dbs__pgt_exec(t, s->data, dbs__pgt_table_label(tb, label, sizeof label), err, errlen)))
		goto done;
	tb->stage_ready = 1;
	tb->stage_txn = t->txn_no;
	goto done;
oom:
	dbs_fmt(err, errlen, "out of memory");
done:
	return rc;
}

/* Forget the cache entries of table schema.name: its definition changed
 * on the server, and statements built for the old one must not run. */
void dbs__pgt_tables_forget(pg_target *t, const char *schema, const char *name)
{
	size_t keep = 0;
	for (size_t i = 0; i < t->ntables; i++) {
		pg_table *tb = t->tables[i];
		if (strcmp(tb->schema, schema ? schema : "") == 0 && strcmp(tb->name, name) == 0) {
			if (t->last_table == tb)
				t->last_table = NULL;
			dbs__pgt_table_free(tb);
			continue;
		}
		t->tables[keep++] = tb;
	}
	t->ntables = keep;
}

/* After a rollback, forget what the rolled-back transaction created. */
void dbs__pgt_tables_rollback(pg_target *t)
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

void dbs__pgt_tables_committed(pg_target *t)
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

const char *dbs__pgt_event_label(pg_target *t, const pg_table *tb, const dbs_event *ev)
{
	dbs_buf *b = &t->errbuf;
	const dbs_table *def = ev->table;
	dbs_buf_reset(b);
	if (dbs_buf_appendf(b, "%s.%s (", tb->schema, tb->name))
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
		if (k && dbs_buf_append_str(b, ", "))
			goto done;
		if (dbs_buf_appendf(b, "%s=", def->columns[i].name))
			goto done;
		size_t at = b->len;
		if (!v || v->kind == DBS_VALUE_NULL)
			dbs_buf_append_str(b, "NULL");
		else if (v->kind == DBS_VALUE_UNCHANGED)
			dbs_buf_append_str(b, "(unchanged)");
		/* COPY escaping keeps tabs and line breaks of a key visible. */
		else if (dbs__value_text_pg(b, v, DBS_VALUE_TEXT_COPY) == 0 &&
		         b->len - at > ERR_VALUE_MAX) {
			b->len = at + ERR_VALUE_MAX;
			dbs_buf_append_str(b, "...");
		}
	}
	dbs_buf_append_char(b, ')');
done:
	return b->data ? b->data : "";
}
