/*
 * libFuzzer target for the binlog row decoder and MySQL binary JSON.
 *
 * Input: first byte 'J': the rest is a binary JSON document. Otherwise the
 * first byte is a rows event type (23-25, 30-32, taken modulo 6 of the low
 * 7 bits; the high bit marks the old temporal columns as MariaDB "hires"
 * with precisions 1..6 as information_schema would), then a
 * 2-byte little-endian length L, L bytes of TABLE_MAP body, and the rest
 * is the rows event body; every row is decoded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "sources/mysql/binlog.h"

static const unsigned row_types[6] = {23, 24, 25, 30, 31, 32};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dbs_buf scratch = {0};
	char err[256];
	if (size < 1)
		return 0;
	if (data[0] == 'J') {
		size_t ol;
		const char *why;
		dbs__mysql_json_to_text(data + 1, size - 1, &scratch, &ol, &why);
		dbs_buf_free(&scratch);
		return 0;
	}
	if (size < 3)
		return 0;
	unsigned type = row_types[(data[0] & 0x7f) % 6];
	size_t tl = (size_t)data[1] | (size_t)data[2] << 8;
	if (tl > size - 3)
		return 0;
	dbs_mysql_tablemap tm;
	if (dbs__mysql_tablemap_parse(&tm, data + 3, tl, NULL, NULL, err, sizeof err) != 0)
		return 0;
	if (data[0] & 0x80)
		for (uint32_t i = 0; i < tm.ncols; i++)
			if (tm.cols[i].type == MY_T_DATETIME || tm.cols[i].type == MY_T_TIME ||
			    tm.cols[i].type == MY_T_TIMESTAMP)
				tm.cols[i].hires_dec = (uint8_t)(1 + i % 6);
	dbs_mysql_rows rows;
	dbs_batch *batch = NULL;
	if (dbs__mysql_rows_parse(&rows, type, data + 3 + tl, size - 3 - tl, err, sizeof err) ==
	        0 &&
	    dbs_batch_new(&batch, 4) == 0) {
		dbs_value *b = calloc(tm.ncols, sizeof *b), *a = calloc(tm.ncols, sizeof *a);
		size_t off = 0;
		int n = 0;
		while (b && a && off < rows.len && n++ < 10000 &&
		       dbs__mysql_row_decode(&tm, &rows, &off, b, a, batch, &scratch, err,
		                             sizeof err) == 0)
			;
		free(b);
		free(a);
	}
	dbs_batch_free(batch);
	dbs__mysql_tablemap_free(&tm);
	dbs_buf_free(&scratch);
	return 0;
}
