/*
 * The conformance suite: what dbstreams/plugin.h promises of a source, a
 * hub and a target, checked through the public API with the probe
 * plugins (probe.h) on the other side. Every built-in plugin passes it
 * (test_conformance.c); a new plugin runs against it the same way, with a
 * fixture that knows its database.
 *
 *   source  a stream from the source under test to a probe target: the
 *           changes committed after the stream is READY arrive once each,
 *           in commit order, in batches of at most dataBundleSize events,
 *           every transaction closed by txn_end; a stream stopped and
 *           started again resumes from the target's checkpoint and loses
 *           nothing committed meanwhile; a stop ends it promptly.
 *   target  a stream from a probe source to the target under test: the
 *           table it writes holds the expected rows (NULLs, decimals,
 *           bytes, timestamps, updates and deletes); opened again it
 *           hands back the checkpoint of the last event committed, and
 *           the same events delivered again change nothing.
 *   hub     a stream from a probe source through the hub under test to a
 *           probe target: every event arrives once, in order, identical
 *           in every field and value kind, in batches no larger than
 *           published; a second run of the stream id resumes after what
 *           was applied.
 *
 * The functions fail the current Check test with what went wrong.
 */
#ifndef DBS_TESTS_CONFORMANCE_H
#define DBS_TESTS_CONFORMANCE_H

#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>

/* A result set: nrows rows of ncols cells, row-major (NULL for SQL NULL). */
typedef struct conf_rows {
	size_t nrows, ncols;
	char **cells;
} conf_rows;

void conf_rows_free(conf_rows *rows);

/* What the suite needs to know of the database behind a SQL source or
 * target under test. Every function fails the test itself on error. */
typedef struct conf_fixture {
	const char *plugin; /* the plugin's type name */
	void *ctx;
	/* Registers the plugin under test when it is not built in; NULL for
	 * built-ins. */
	int (*register_plugin)(dbs_registry *registry, void *ctx);
	/* The configuration's section for the plugin, as a JSON object,
	 * capturing or writing `table` (sources: with dataBundleSize
	 * `bundle`). */
	void (*section)(void *ctx, const char *table, uint32_t bundle, char *buf, size_t size);
	/* Source: an empty database with `table` (id integer primary key,
	 * name text, amount bigint), ready to be captured. Target: no
	 * `table`, nothing left of an earlier run. */
	void (*reset)(void *ctx, const char *table);
	/* Source: commit the workload's events from..to (probe_event_op) as
	 * statements, `txn_size` per transaction. */
	void (*changes)(void *ctx, const char *table, uint64_t from, uint64_t to,
	                uint32_t txn_size);
	/* Target: the rows of `table`, ordered by id, as text: id, name,
	 * amount, price, data (hex), at ("YYYY-MM-DD HH:MM:SS.uuuuuu", UTC). */
	void (*rows)(void *ctx, const char *table, conf_rows *out);
	/* After the test; may be NULL. */
	void (*cleanup)(void *ctx, const char *table);
} conf_fixture;

void conf_source(const conf_fixture *f);
void conf_target(const conf_fixture *f);

/* `hub` is the configuration's hub section ({"type": "nats", "url": …});
 * `register_plugin` (may be NULL) adds a hub that is not built in. */
void conf_hub(const char *hub, int (*register_plugin)(dbs_registry *registry, void *ctx),
              void *ctx);

#endif
