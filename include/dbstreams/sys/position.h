/*
 * dbstreams plugin SDK: positions as text, for checkpoint rows, messages
 * and logs, and MariaDB GTIDs.
 */
#ifndef DBSTREAMS_SYS_POSITION_H
#define DBSTREAMS_SYS_POSITION_H

#include <stddef.h>
#include <stdint.h>

#include "../plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Printable form of `pos` into buf (always terminated, cut to `size`),
 * spelled after the batch's source: "0/16B3748#3" (PostgreSQL LSN, event)
 * or "000003:4567#3" (MySQL binlog file number and offset, event; with
 * " gtid 0-1-42" when it has one).
 */
DBS_API void dbs_position_text(char *buf, size_t size, const dbs_batch *batch,
                               const dbs_position *pos);

/** The same for a position read by a source of `dialect`. */
DBS_API void dbs_position_text_of(char *buf, size_t size, dbs_dialect dialect,
                                  const dbs_position *pos);

/**
 * The position's GTID as MariaDB spells it ("0-1-42"), or "" without
 * one; 0, or -1 when `size` is too small.
 */
DBS_API int dbs_gtid_text(char *buf, size_t size, const dbs_position *pos);

/**
 * Parse exactly "domain-server-seq" (decimal, seq > 0) from `len` bytes;
 * 0, or -1 (outputs untouched).
 */
DBS_API int dbs_gtid_parse(const char *text, size_t len, uint32_t *domain, uint32_t *server,
                           uint64_t *seq);

#ifdef __cplusplus
}
#endif

#endif
