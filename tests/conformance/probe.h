/*
 * The probe plugins: a source and a target named "probe", written against
 * the public headers and the plugin SDK alone (dbstreams/plugin.h,
 * dbstreams/sys/), built as a shared object of their own. The conformance
 * suite (conformance.h) puts them on the other side of the plugin it
 * checks: a probe source feeds a hub or a target under test, a probe
 * target receives what a source or a hub under test delivers and checks
 * the contract of dbstreams/plugin.h on every event.
 *
 * Both share a probe_world, the plugin data they are registered with
 * (dbs_registry_add_*_data): the test reads what they saw there.
 *
 * The workload is one deterministic sequence of events, numbered k = 1,
 * 2, …: event k inserts row k, except that every tenth event (k % 10 ==
 * 0) updates row k - 9 and every event with k % 10 == 5 deletes row k - 3.
 * The probe source emits it; a SQL fixture replays it as statements; the
 * expected table after n events is probe_expected_row.
 */
#ifndef DBS_TESTS_PROBE_H
#define DBS_TESTS_PROBE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <dbstreams/plugin.h>
#include <dbstreams/sys/buf.h>

/* Columns of the probe's table. PROBE_SHAPE_ROWS has the first
 * PROBE_ROWS_COLUMNS (what a SQL target gets: integer key, nullable text,
 * bigint, decimal, bytes, timestamp); PROBE_SHAPE_WIDE every kind of value
 * the event model has, for hubs. */
#define PROBE_ROWS_COLUMNS 6
#define PROBE_WIDE_COLUMNS 13
/* The columns a SQL source fixture's table has: id, name, amount. */
#define PROBE_SOURCE_COLUMNS 3

/* Row `id` as it is after the first `n` events: 1 and its columns as
 * text (NULL for SQL NULL; static storage until the next call), or 0
 * when the row does not exist then. Only the ROWS columns. */
int probe_expected_row(uint64_t n, uint64_t id, const char *cells[PROBE_ROWS_COLUMNS]);

/* Event k's operation and the row it changes. */
dbs_op probe_event_op(uint64_t k, uint64_t *id);

/* The text a value has in probe_expected_row and probe_event_line: INT
 * and UINT in decimal, BYTES in lower-case hex, times as "2024-01-02
 * 03:04:05.123456", TEXT, DECIMAL and JSON as they are; 0, or 1 for
 * NULL (nothing appended). */
int probe_value_text(dbs_buf *out, const dbs_value *v);

/* One line describing an event completely (operation, table and column
 * definitions, position, transaction, both images with their kinds), so
 * that two events compare equal exactly when their lines do. */
int probe_event_line(dbs_buf *out, const dbs_event *ev);

/* Build event k of a probe source's stream into `batch` (the probe
 * source's own generator): `table` of the shape, `txn_size` events per
 * transaction, `total` events in all. */
int probe_add_event(dbs_batch *batch, const dbs_table *table, int wide, uint64_t k,
                    uint32_t txn_size, uint64_t total);
/* The probe's table for `wide` in `dialect`, schema and name given. */
int probe_table_new(dbs_table **out, int wide, dbs_dialect dialect, const char *schema,
                    const char *name);

/* A row the probe target holds: its cells as text (NULL for SQL NULL). */
typedef struct probe_row {
	int present;
	char *cells[PROBE_WIDE_COLUMNS];
} probe_row;

typedef struct probe_world {
	pthread_mutex_t lock;
	/* ---- the probe source ---- */
	int opened;          /* times the source was opened */
	int resume_given;    /* the last open had a resume position */
	dbs_position resume; /* … which was this */
	uint64_t emitted;    /* events emitted in all */
	/* ---- the probe target ---- */
	uint32_t max_batch; /* nonzero: a batch may hold no more events */
	int keep_lines;     /* record probe_event_line of every event applied */
	dbs_buf lines;      /* those lines, '\n'-terminated */
	uint64_t applied;   /* events applied (not counting skipped ones) */
	uint64_t skipped;   /* events at or before the checkpoint, delivered again */
	uint64_t batches;
	uint64_t schema_changes; /* DBS_OP_SCHEMA events applied */
	dbs_position checkpoint; /* kept across opens: the last event applied */
	uint32_t ncolumns;       /* of the table seen */
	probe_row *rows;         /* by id */
	size_t nrows;
	/* Contract violations the probe target saw, and the first one. */
	uint64_t violations;
	char first_violation[512];
} probe_world;

void probe_world_init(probe_world *w);
void probe_world_free(probe_world *w);

/* The probe source and target ("probe"), with `world` as plugin data. */
int probe_register(dbs_registry *registry, probe_world *world);

extern const dbs_source_ops probe_source_ops;
extern const dbs_target_ops probe_target_ops;

#endif
