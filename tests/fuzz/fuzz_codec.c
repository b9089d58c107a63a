/*
 * Hub messages come from the network: whatever the bytes, decoding either
 * succeeds or returns DBS_EPROTO, and a batch that decodes re-encodes and
 * decodes again to the same event count.
 */
#include <stdint.h>
#include <stdlib.h>

#include <dbstreams/sys/codec.h>
#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One decoder per input keeps inputs independent (a shared cache would
	 * make a crash depend on the inputs before it). */
	dbs_codec_decoder *dec = NULL;
	dbs_batch *batch = NULL, *again = NULL;
	dbs_codec_buf buf = {0};
	dbs_codec_header h;
	char err[256];
	if (dbs_codec_decoder_new(&dec) != 0)
		return 0;
	int rc = dbs_codec_decode(dec, data, size, &batch, &h, err, sizeof err);
	if (rc != 0 && rc != DBS_EPROTO && rc != DBS_ENOMEM)
		abort();
	if (rc == 0 && batch) {
		uint32_t n = dbs_batch_count(batch);
		if (dbs_codec_encode(&buf, batch, 0, n, h.stream_id, h.seq, h.flags, err,
		                      sizeof err) != 0 ||
		    dbs_codec_decode(dec, buf.msg.data, buf.msg.len, &again, NULL, err, sizeof err) != 0 ||
		    dbs_batch_count(again) != n)
			abort();
	}
	dbs_batch_free(again);
	dbs_batch_free(batch);
	dbs_codec_buf_free(&buf);
	dbs_codec_decoder_free(dec);
	return 0;
}
