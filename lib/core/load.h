/*
 * The initial load (load.c) and the seam between it and the stream
 * (seam.c): what the stream's threads call. Engine-free: the source's
 * snapshot capability reads, the target's load capability writes.
 */
#ifndef DBS_CORE_LOAD_H
#define DBS_CORE_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct dbs_stream;
typedef struct dbs_load dbs_load;
typedef struct dbs_seam dbs_seam;

/* The node a failure of the load is shown on. */
enum { LOAD_BLAME_SOURCE = 0, LOAD_BLAME_TARGET = 1 };

/*
 * Before READY, on the thread that opens the stream (the target is open;
 * in cdc mode the source too, given as `stream`): the source's snapshot
 * opened, its tables described and validated, this stream's records read
 * from the target, and every table checked by the target. Nothing is
 * written. On failure *blame names the node and err says why.
 */
int dbs__load_open(dbs_load **out, struct dbs_stream *s, dbs_source *stream, int *blame,
                   char *err, size_t errlen);

/*
 * The load itself, on the calling thread with workers of its own: tables
 * prepared and planned, chunks copied, indexes and foreign keys made,
 * the load recorded done. 0 when done, 1 when stopped (user stop, a
 * limit) before the end, negative with *blame and err on failure.
 */
int dbs__load_run(dbs_load *l, int *blame, char *err, size_t errlen);

/* Nonzero when every row is in the target (this run or an earlier one). */
int dbs__load_done(const dbs_load *l);

/* Release what the load holds open (the snapshot and its sessions); its
 * figures stay for stat until dbs__load_free. */
void dbs__load_close(dbs_load *l);
void dbs__load_free(dbs_load *l);

/* Figures for stat; any thread. */
void dbs__load_stat(dbs_load *l, dbs_load_stat *out);
size_t dbs__load_tables(dbs_load *l, dbs_load_table_stat *out, size_t max);

/* ---- the seam (seam.c) ---- */

/*
 * The filter between a finished load and the stream that follows it: an
 * event on a copied table whose key falls in a chunk copied at position
 * P_C is dropped when its transaction is before P_C (the copy has it),
 * applied otherwise; an update whose old and new keys fall on different
 * sides becomes the insert of its new row or the delete of its old one.
 * NULL when nothing needs filtering (no chunk has a position).
 */
int dbs__seam_new(dbs_seam **out, dbs_load *l);
void dbs__seam_free(dbs_seam *seam);

/*
 * Filter `batch` in place. Returns the number of events left. When the
 * last event was dropped and ended its source transaction, the end moves
 * to the last event kept; *ended (which may be NULL) then receives the
 * position of the dropped end when no event is left to carry it, and 1 is
 * stored in *dropped_end.
 */
uint32_t dbs__seam_filter(dbs_seam *seam, dbs_batch *batch, dbs_position *ended,
                          int *dropped_end);

/* Nonzero once the stream passed every chunk's position: no more work. */
int dbs__seam_passed(const dbs_seam *seam);

#endif
