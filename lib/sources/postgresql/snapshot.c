/*
 * PostgreSQL source: the snapshot capability (dbs_snapshot_ops) for an
 * initial load. This file opens and closes the snapshot; the tables it
 * copies are described and checked in snapshot_tables.c, their chunks
 * planned and read in snapshot_read.c (with how readers share one
 * snapshot), and what every SQL source does alike is in
 * lib/sql/snapshot.c.
 *
 * The snapshot's own session (src.sql) reads the catalog, checks the
 * tables and walks their keys for the plan; each reader has a session of
 * its own.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include <dbstreams/sys/buf.h>

#include "sources/postgresql/snapshot.h"

static void pg_snap_close(dbs_snapshot *base)
{
	pg_snapshot *sn = (pg_snapshot *)base;
	if (!sn)
		return;
	for (uint32_t i = 0; i < sn->ntables; i++)
		dbs__sql_snap_table_free(&sn->tables[i].s);
	free(sn->tables);
	free(sn->loads);
	free(sn->points.v);
	free(sn->export);
	PQfinish(sn->slot_conn);
	PQfinish(sn->src.sql);
	dbs__sql_filter_free(&sn->src.filter);
	free(sn);
}

static int pg_snap_open(dbs_snapshot **out, const dbs_source_config *config,
                        const dbs_host *host, dbs_source *stream, char *err, size_t errlen)
{
	pg_snapshot *sn = calloc(1, sizeof *sn);
	int rc;
	*out = NULL;
	if (!sn)
		return dbs__sql_snap_oom(err, errlen);
	sn->base.ops = &dbs__postgresql_snapshot_ops;
	sn->config = config;
	sn->positions = stream != NULL;
	sn->cdc_pub = stream != NULL;
	sn->src.host = host;
	sn->src.config = config;
	if (stream) {
		const pg_source *ps = (const pg_source *)stream;
		if (ps->export_name && !(sn->export = strdup(ps->export_name))) {
			rc = dbs__sql_snap_oom(err, errlen);
			goto fail;
		}
		sn->export_lsn = ps->export_lsn;
	}
	if (dbs__sql_filter_init(&sn->src.filter, config, "public")) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto fail;
	}
	sn->src.sql = dbs__pgs_connect(config, 0);
	if (PQstatus(sn->src.sql) != CONNECTION_OK) {
		dbs__pgs_pq_err(err, errlen, "connecting to PostgreSQL", sn->src.sql);
		rc = DBS_ESOURCE;
		goto fail;
	}
	if ((rc = dbs__pgs_snap_session(sn->src.sql, err, errlen)))
		goto fail;
	*out = &sn->base;
	return 0;
fail:
	if (rc == DBS_LOAD_LOST)
		rc = DBS_ESOURCE;
	pg_snap_close(&sn->base);
	return rc;
}

const dbs_snapshot_ops dbs__postgresql_snapshot_ops = {
	.version = DBS_SNAPSHOT_OPS_VERSION,
	.open = pg_snap_open,
	.tables = dbs__pgs_snap_tables,
	.plan = dbs__pgs_snap_plan,
	.reader_open = dbs__pgs_snap_reader_open,
	.read = dbs__pgs_snap_read,
	.reader_close = dbs__pgs_snap_reader_close,
	.close = pg_snap_close,
};
