/*
 * libFuzzer target: pgoutput messages and walsender CopyBoth frames.
 * The first input byte chooses what to decode (frame, or message outside
 * or inside a stream block); decoded tuples and relation columns are
 * walked to the end so the iterators are exercised too.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "sources/postgresql/pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const dbs_pgo_msg *m)
{
	dbs_pgo_iter it;
	dbs_pgo_column col;
	dbs_pgo_relcol rc;
	volatile size_t sum = 0;

	switch (m->kind) {
	case DBS_PGO_RELATION:
		dbs__pgo_relcols_iter(&it, m);
		while (dbs__pgo_relcols_next(&it, &rc))
			sum += rc.name.len +
			       (rc.name.len ? (unsigned char)rc.name.s[rc.name.len - 1] : 0);
		break;
	case DBS_PGO_INSERT:
	case DBS_PGO_UPDATE:
	case DBS_PGO_DELETE:
		dbs__pgo_tuple_iter(&it, &m->u.change.old_tuple);
		while (dbs__pgo_tuple_next(&it, &col))
			sum += col.len ? col.data[col.len - 1] : 0;
		dbs__pgo_tuple_iter(&it, &m->u.change.new_tuple);
		while (dbs__pgo_tuple_next(&it, &col))
			sum += col.len ? col.data[col.len - 1] : 0;
		break;
	case DBS_PGO_TRUNCATE:
		if (m->u.truncate.nrelids)
			sum += m->u.truncate.relids[(size_t)m->u.truncate.nrelids * 4 - 1];
		break;
	case DBS_PGO_MESSAGE:
		if (m->u.message.content_len)
			sum += m->u.message.content[m->u.message.content_len - 1];
		break;
	default: break;
	}
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	dbs_pgo_msg m;
	dbs_pgo_frame f;

	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (dbs__pgo_frame_decode(&f, data + 1, size - 1, err, sizeof err) == 0 &&
		    f.kind == 'w' && dbs__pgo_decode(&m, f.data, f.len, 0, err, sizeof err) == 0)
			walk(&m);
		break;
	default:
		if (dbs__pgo_decode(&m, data + 1, size - 1, data[0] % 3 == 2, err, sizeof err) == 0)
			walk(&m);
		break;
	}
	return 0;
}
