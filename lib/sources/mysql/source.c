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

#include <dbstreams/sys/buf.h>
#include <dbstreams/sys/host.h>

#include "sources/mysql/my_source.h"
#include "sql/settings.h"

/* ---- plugin methods ---- */

static void my_close(dbs_source *src);

static int check_settings(my_source *s, const dbs_source_config *config, char *err, size_t errlen)
{
	int rc;
	char *v[6] = {0};
	rc = dbs__mys_query_row(s->sql,
	               "SELECT @@version, @@global.log_bin, @@global.binlog_format, "
	               "@@global.binlog_row_image, "
	               "@@global.server_id, @@global.binlog_checksum",
	               6, v, err, errlen);
	if (rc != 0)
		goto fail;
	rc = DBS_ESOURCE;
	const dbs_sql_source_settings *ss =
	    config->settings ? config->settings : &dbs__sql_source_defaults;
	if (ss->flavor && ss->flavor[0]) {
		if (!strcmp(ss->flavor, "mariadb"))
			s->mariadb = 1;
		else if (!strcmp(ss->flavor, "mysql"))
			s->mariadb = 0;
		else {
			rc = DBS_ECONFIG;
			dbs_fmt(err, errlen,
			         "source.settings.flavor: \"%s\": expected mysql or mariadb",
			         ss->flavor);
			goto fail;
		}
	} else {
		s->mariadb = v[0] && strstr(v[0], "MariaDB") != NULL;
	}
	if (!v[1] || strcmp(v[1], "1") != 0) {
		dbs_fmt(err, errlen,
		         "binary logging is off on the source server: start it with log_bin "
		         "(my.cnf: log_bin=mysql-bin) and binlog_format=ROW");
		goto fail;
	}
	if (!v[2] || strcasecmp(v[2], "ROW") != 0) {
		dbs_fmt(err, errlen,
		         "binlog_format is %s on the source server; row events are needed: run "
		         "SET GLOBAL binlog_format=ROW (and set binlog_format=ROW in my.cnf)",
		         v[2] ? v[2] : "unknown");
		goto fail;
	}
	if (v[3] && strcasecmp(v[3], "FULL") != 0) {
		dbs_fmt(err, errlen,
		         "binlog_row_image is %s on the source server; full row images are needed: "
		         "run SET GLOBAL binlog_row_image=FULL (and set binlog_row_image=FULL in "
		         "my.cnf)",
		         v[3]);
		goto fail;
	}
	if (!v[4] || strtoul(v[4], NULL, 10) == 0) {
		dbs_fmt(err, errlen,
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
		dbs_fmt(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	s->base.ops = &dbs__mysql_source_ops;
	s->host = host;
	s->bundle = config->data_bundle_size ? config->data_bundle_size : 100;
	const dbs_sql_source_settings *ss =
	    config->settings ? config->settings : &dbs__sql_source_defaults;
	s->ssl_ca = ss->ssl_ca;
	s->ssl_cert = ss->ssl_cert;
	s->ssl_key = ss->ssl_key;
	rc = dbs__mysql_dsn_parse(&s->dsn, config->connection, err, errlen);
	if (rc != 0)
		goto fail;
	rc = dbs__sql_filter_init(&s->filter, config, s->dsn.database);
	if (rc != 0) {
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	rc = dbs__mys_connect(s, &s->sql, err, errlen);
	if (rc != 0)
		goto fail;
	rc = check_settings(s, config, err, errlen);
	if (rc != 0)
		goto fail;
	rc = dbs__mys_exec(s->sql, "SET time_zone = '+00:00'", err, errlen);
	if (rc != 0)
		goto fail;
	rc = dbs__mys_load_collations(s, err, errlen);
	if (rc != 0)
		goto fail;
	{
		/* Older servers lack the variable: then information_schema it is. */
		char *meta = NULL, ignored[DBS_ERRMSG_MAX];
		if (dbs__mys_query_row(s->sql, "SELECT @@global.binlog_row_metadata", 1, &meta, ignored,
		              sizeof ignored) != 0 ||
		    !meta || strcasecmp(meta, "FULL") != 0)
			dbs_log(s->host, DBS_LOG_WARN,
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
	rc = dbs__mys_query_row(s->sql, "SHOW MASTER STATUS", 2, v, err, errlen);
	if (rc != 0 && mysql_errno(s->sql) == 1064) /* MySQL 8.4 renamed it */
		rc = dbs__mys_query_row(s->sql, "SHOW BINARY LOG STATUS", 2, v, err, errlen);
	if (rc != 0) {
		if (mysql_errno(s->sql) == 1227)
			dbs_fmt(err, errlen,
			         "SHOW MASTER STATUS was refused (%s): grant the privilege with "
			         "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'",
			         mysql_error(s->sql), s->dsn.user);
		goto fail;
	}
	if (!v[0] || !v[1]) {
		free(v[0]);
		free(v[1]);
		rc = DBS_ESOURCE;
		dbs_fmt(err, errlen, "SHOW MASTER STATUS returned no binlog file: is log_bin on?");
		goto fail;
	}
	dbs__mys_set_base_name(s, v[0], strlen(v[0]));
	uint64_t at = s->file_no << 32 | (strtoull(v[1], NULL, 10) & 0xffffffffu);
	free(v[0]);
	free(v[1]);
	/* A checkpoint inside a transaction (resume 0) reads it again. */
	if (resume && (resume->resume || resume->txn))
		s->restart = *resume;
	else
		s->restart = (dbs_position){.txn = at, .resume = at, .txn_end = 1};
	s->txn_pos = s->restart.resume ? s->restart.resume : s->restart.txn;
	if (config->initial_load) {
		s->deferred = 1;
		dbs_log(s->host, DBS_LOG_INFO,
		        "mysql source: %s binlog reading starts at %s.%06" PRIu64 ":%" PRIu64
		        " once the initial load is done",
		        s->mariadb ? "MariaDB" : "MySQL", s->base_name,
		        (s->restart.resume ? s->restart.resume : s->restart.txn) >> 32,
		        (s->restart.resume ? s->restart.resume : s->restart.txn) & 0xffffffffu);
		*out = &s->base;
		return 0;
	}
	rc = dbs__mys_dump_start(s, &s->restart, err, errlen);
	if (rc == DBS_ENOTFOUND)
		rc = DBS_ESOURCE;
	if (rc != 0)
		goto fail;
	dbs_log(s->host, DBS_LOG_INFO, "mysql source: %s binlog %s as replica %u",
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
			dbs_fmt(err, errlen, "ROTATE event truncated");
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
		dbs__mys_set_base_name(s, (const char *)body + 8, blen - 8);
		if (!s->in_txn)
			s->txn_pos = s->file_no << 32 | (rpos & 0xffffffffu);
		break;
	}
	case GTID_EVENT:
		rc = dbs__mys_txn_begin(s, start, ev->timestamp, err, errlen);
		s->standalone = (ev->event.gtid.flags & FL_STANDALONE) != 0;
		if (rc == 0)
			rc = dbs__mys_on_gtid(s, ev->event.gtid.domain_id, ev->server_id,
			             ev->event.gtid.sequence_nr, err, errlen);
		break;
	case GTID_LOG_EVENT:
	case ANONYMOUS_GTID_LOG_EVENT:
		rc = dbs__mys_txn_begin(s, start, ev->timestamp, err, errlen);
		break;
	case XA_PREPARE_LOG_EVENT:
		/* The prepared part of an XA transaction is final in the binlog;
		 * a later XA ROLLBACK is not undone at the target. */
		rc = dbs__mys_txn_end(s, next, 0, err, errlen);
		break;
	case 40: /* MySQL TRANSACTION_PAYLOAD */
		dbs_fmt(
		    err, errlen,
		    "the source writes compressed transactions, which this source cannot read: "
		    "run SET GLOBAL binlog_transaction_compression=OFF (and set it in my.cnf)");
		rc = DBS_ESOURCE;
		goto out;
	case PARTIAL_UPDATE_ROWS_EVENT:
		dbs_fmt(err, errlen,
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
				rc = dbs__mys_txn_begin(s, start, ev->timestamp, err, errlen);
		} else if (ql == 6 && strncasecmp(q, "COMMIT", 6) == 0) {
			rc = dbs__mys_txn_end(s, next, 0, err, errlen);
		} else if (ev->event_type == QUERY_COMPRESSED_EVENT) {
			/* Connector/C 3.3 hands the statement still compressed: it
			 * cannot be read, so a schema change in it cannot be told */
			dbs_fmt(err, errlen,
			        "the source writes compressed Query events, whose schema "
			        "statements this source cannot read: run SET GLOBAL "
			        "log_bin_compress=OFF (and set it in my.cnf)");
			rc = DBS_ESOURCE;
			goto out;
		} else {
			int began = s->in_txn, ends = 1;
			if (!began)
				rc = dbs__mys_txn_begin(s, start, ev->timestamp, err, errlen);
			if (rc == 0)
				rc = dbs__mys_on_schema_query(
				    s, q, ql, ev->event.query.database.str,
				    ev->event.query.database.length,
				    (const uint8_t *)ev->event.query.status.str,
				    ev->event.query.status.length, &ends, err, errlen);
			/* DDL and other statements commit on their own; a CREATE
			 * TABLE ... SELECT is followed by its rows. */
			int schema = s->batch && dbs_batch_count(s->batch) > 0 &&
			             dbs_batch_event(s->batch, 0)->op == DBS_OP_SCHEMA;
			if (rc == 0 && !s->stop && ends && (s->standalone || !began || ql < 5 || schema))
				rc = dbs__mys_txn_end(s, next, 0, err, errlen);
			else if (rc == 0 && !s->stop && schema)
				rc = dbs__mys_emit_pending(s, err, errlen);
		}
		break;
	}
	case XID_EVENT: rc = dbs__mys_txn_end(s, next, ev->event.xid.transaction_nr, err, errlen); break;
	case TABLE_MAP_EVENT:
		if (!body) {
			dbs_fmt(err, errlen, "TABLE_MAP event without data");
			rc = DBS_EPROTO;
			goto out;
		}
		rc = dbs__mys_on_table_map(s, body, blen, err, errlen);
		break;
	case WRITE_ROWS_EVENT_V1:
	case UPDATE_ROWS_EVENT_V1:
	case DELETE_ROWS_EVENT_V1:
	case WRITE_ROWS_EVENT:
	case UPDATE_ROWS_EVENT:
	case DELETE_ROWS_EVENT: {
		dbs_mysql_rows rows;
		if (!body) {
			dbs_fmt(err, errlen, "rows event without data");
			rc = DBS_EPROTO;
			goto out;
		}
		rc = dbs__mysql_rows_parse(&rows, ev->event_type, body, blen, err, errlen);
		if (rc == 0)
			rc = dbs__mys_on_rows(s, &rows, start, ev->timestamp, err, errlen);
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
			dbs_fmt(err, errlen, "compressed rows event without data");
			rc = DBS_EPROTO;
			goto out;
		}
		rc = dbs__mys_on_rows(s, &rows, start, ev->timestamp, err, errlen);
		break;
	}
	case HEARTBEAT_LOG_EVENT: dbs__mys_report_lag(s); break;
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
	if (s->deferred) {
		s->deferred = 0;
		rc = dbs__mys_dump_start(s, &s->restart, err, errlen);
		if (rc == DBS_ENOTFOUND) {
			rc = DBS_ESOURCE;
			goto out;
		}
		if (rc == 0)
			dbs_log(s->host, DBS_LOG_INFO, "mysql source: %s binlog %s as replica %u",
			        s->mariadb ? "MariaDB" : "MySQL", s->start_desc, s->replica_id);
		/* Another failure is a lost connection: the loop below retries. */
		rc = 0;
	}
	while (!stopping(s)) {
		if (!s->rpl) {
			/* Reopen at the end of the last whole transaction emitted:
			 * what came before it is with the core already. */
			unsigned attempt = 0;
			int delay = DBS_RECONNECT_FIRST_DELAY_MS;
			int64_t lost_at = dbs_time_monotonic_ns();
			for (;;) {
				/* A restarted server dropped the catalog session too. */
				rc = 0;
				if (!s->sql || mysql_ping(s->sql) != 0) {
					if (s->sql)
						mysql_close(s->sql);
					s->sql = NULL;
					rc = dbs__mys_connect(s, &s->sql, err, errlen);
					if (rc == 0)
						rc = dbs__mys_exec(s->sql, "SET time_zone = '+00:00'", err,
						          errlen);
				}
				if (rc == 0)
					rc = dbs__mys_dump_start(s, &s->restart, err, errlen);
				if (rc == 0 || stopping(s))
					break;
				if (rc == DBS_ENOTFOUND) { /* purged: retrying cannot help */
					rc = DBS_ESOURCE;
					goto out;
				}
				attempt++;
				dbs_report_connection_lost(s->host, err);
				if (dbs_reconnect_expired(s->host, lost_at)) {
					dbs_reconnect_give_up_text(err, errlen, s->host,
					                            "mysql source", attempt, err);
					goto out;
				}
				dbs_log(s->host, DBS_LOG_WARN,
				     "mysql source: reconnect attempt %u failed (%s); retrying in "
				     "%d ms",
				     attempt, err, delay);
				dbs_sleep_unless_stopping(s->host, delay);
				delay = dbs_backoff_next(delay);
			}
			if (rc != 0)
				break;
			dbs_report_connection_restored(s->host);
			dbs_log(s->host, DBS_LOG_INFO, "mysql source: reconnected at %s", s->start_desc);
		}
		MARIADB_RPL_EVENT *ev = s->pending ? s->ev : mariadb_rpl_fetch(s->rpl, s->ev);
		s->pending = 0;
		if (!ev) {
			s->ev = NULL;
			if (stopping(s))
				break;
			dbs_log(s->host, DBS_LOG_WARN,
			     "mysql source: binlog connection lost (%s); reconnecting",
			     mysql_error(s->repl));
			{
				char lost[DBS_ERRMSG_MAX];
				dbs_fmt(lost, sizeof lost, "binlog connection lost: %s",
				         mysql_error(s->repl));
				dbs_report_connection_lost(s->host, lost);
			}
			/* The transaction in progress is read again from its start. */
			if (s->batch) {
				dbs_batch_free(s->batch);
				s->batch = NULL;
			}
			s->in_txn = 0;
			dbs__mys_dump_close(s);
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
	dbs__mys_dump_close(s);
	if (s->sql)
		mysql_close(s->sql);
	for (size_t i = 0; i < s->ntables; i++)
		dbs__mys_entry_clear(&s->tables[i]);
	free(s->tables);
	for (size_t i = 0; i < s->ninfos; i++) {
		dbs__mys_info_clear(&s->infos[i]);
		if (s->infos[i].tracked)
			dbs_table_unref(s->infos[i].tracked);
		free(s->infos[i].db);
		free(s->infos[i].name);
	}
	free(s->infos);
	dbs__sql_filter_free(&s->filter);
	free(s->collations);
	free(s->seen);
	if (s->batch)
		dbs_batch_free(s->batch);
	dbs_buf_free(&s->scratch);
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
	.options = dbs__sql_source_options,
	.noptions = DBS_SQL_SOURCE_NOPTIONS,
	.settings_size = sizeof(dbs_sql_source_settings),
	.default_schema = NULL,
	.snapshot = &dbs__mysql_snapshot_ops,
};
