/*
 * MySQL/MariaDB source: the snapshot capability (dbs_snapshot_ops) for an
 * initial load. This file opens and closes the snapshot; the tables it
 * copies are described and checked in snapshot_tables.c, their chunks
 * planned and read in snapshot_read.c, and what every SQL source does
 * alike is in lib/sql/snapshot.c.
 *
 * The snapshot's own session (src.sql) reads information_schema, checks
 * the tables and walks their keys for the plan; each reader has a session
 * of its own.
 */
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include <dbstreams/sys/buf.h>

#include "sources/mysql/snapshot.h"
#include "sql/settings.h"

static void my_snap_close(dbs_snapshot *base)
{
	my_snapshot *sn = (my_snapshot *)base;
	if (!sn)
		return;
	for (uint32_t i = 0; i < sn->ntables; i++) {
		dbs__sql_snap_table_free(&sn->tables[i].s);
		free(sn->tables[i].cls);
	}
	free(sn->tables);
	free(sn->loads);
	free(sn->points.v);
	if (sn->src.sql)
		mysql_close(sn->src.sql);
	for (size_t i = 0; i < sn->src.ninfos; i++) {
		dbs__mys_info_clear(&sn->src.infos[i]);
		free(sn->src.infos[i].db);
		free(sn->src.infos[i].name);
	}
	free(sn->src.infos);
	dbs__sql_filter_free(&sn->src.filter);
	dbs__mysql_dsn_free(&sn->src.dsn);
	free(sn);
}

static int my_snap_open(dbs_snapshot **out, const dbs_source_config *config,
                        const dbs_host *host, dbs_source *stream, char *err, size_t errlen)
{
	my_snapshot *sn = calloc(1, sizeof *sn);
	int rc;
	char *v[1] = {NULL};
	*out = NULL;
	if (!sn)
		return dbs__sql_snap_oom(err, errlen);
	sn->base.ops = &dbs__mysql_snapshot_ops;
	sn->config = config;
	sn->positions = stream != NULL;
	sn->src.host = host;
	const dbs_sql_source_settings *ss =
	    config->settings ? config->settings : &dbs__sql_source_defaults;
	sn->src.ssl_ca = ss->ssl_ca;
	sn->src.ssl_cert = ss->ssl_cert;
	sn->src.ssl_key = ss->ssl_key;
	if ((rc = dbs__mysql_dsn_parse(&sn->src.dsn, config->connection, err, errlen)))
		goto fail;
	if (dbs__sql_filter_init(&sn->src.filter, config, sn->src.dsn.database)) {
		rc = dbs__sql_snap_oom(err, errlen);
		goto fail;
	}
	if ((rc = dbs__mys_connect(&sn->src, &sn->src.sql, err, errlen)) ||
	    (rc = dbs__mys_exec(sn->src.sql, "SET time_zone = '+00:00'", err, errlen)) ||
	    (rc = dbs__mys_query_row(sn->src.sql, "SELECT @@version", 1, v, err, errlen)))
		goto fail;
	if (ss->flavor && ss->flavor[0])
		sn->src.mariadb = strcmp(ss->flavor, "mariadb") == 0;
	else
		sn->src.mariadb = v[0] && strstr(v[0], "MariaDB") != NULL;
	free(v[0]);
	*out = &sn->base;
	return 0;
fail:
	my_snap_close(&sn->base);
	return rc;
}

const dbs_snapshot_ops dbs__mysql_snapshot_ops = {
	.version = DBS_SNAPSHOT_OPS_VERSION,
	.open = my_snap_open,
	.tables = dbs__mys_snap_tables,
	.plan = dbs__mys_snap_plan,
	.reader_open = dbs__mys_snap_reader_open,
	.read = dbs__mys_snap_read,
	.reader_close = dbs__mys_snap_reader_close,
	.close = my_snap_close,
};
