/*
 * Stream ids: KSUIDs, as DBS 0.x uses. 20 bytes (4-byte big-endian
 * seconds since 2014-05-13T16:53:20Z, then 16 random bytes) written as 27
 * base62 characters. The alphabet is in ASCII order and the text is
 * fixed-width, so ids sort by creation second as plain strings.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "core/core.h"

#define KSUID_EPOCH 1400000000LL
#define KSUID_BYTES 20
#define KSUID_TEXT 27

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* The largest value (2^160 - 1) in text form: anything above is malformed. */
static const char ksuid_max[] = "aWgEPTl1tmebfsQzFP4bxwgy80V";

int dbs__ksuid_encode(char buf[28], uint32_t timestamp, const uint8_t payload[16])
{
	uint8_t num[KSUID_BYTES];
	num[0] = (uint8_t)(timestamp >> 24);
	num[1] = (uint8_t)(timestamp >> 16);
	num[2] = (uint8_t)(timestamp >> 8);
	num[3] = (uint8_t)timestamp;
	memcpy(num + 4, payload, 16);

	/* Long division of the 160-bit big-endian number by 62, digit by digit. */
	for (int out = KSUID_TEXT - 1; out >= 0; out--) {
		unsigned rem = 0;
		for (int i = 0; i < KSUID_BYTES; i++) {
			unsigned cur = rem * 256u + num[i];
			num[i] = (uint8_t)(cur / 62u);
			rem = cur % 62u;
		}
		buf[out] = base62[rem];
	}
	buf[KSUID_TEXT] = '\0';
	return 0;
}

static int fill_random(uint8_t *p, size_t n)
{
	size_t got = 0;
	int rc = 0;
	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = dbs__error_set(DBS_EIO, "getrandom: %s", strerror(errno));
			goto done;
		}
		got += (size_t)r;
	}
done:
	return rc;
}

DBS_API int dbs_ksuid_new(char buf[28])
{
	uint8_t payload[16];
	int rc;
	if (buf == NULL)
		return dbs__error_set(DBS_EINVAL, "dbs_ksuid_new: NULL buffer");
	rc = fill_random(payload, sizeof payload);
	if (rc != 0)
		goto done;
	int64_t sec = dbs_time_now_ns() / 1000000000LL - KSUID_EPOCH;
	/* The format holds 2014..2150; outside it the clock is wrong. */
	if (sec < 0 || sec > (int64_t)UINT32_MAX) {
		rc = dbs__error_set(DBS_EINTERNAL,
		                    "dbs_ksuid_new: system clock outside the KSUID range");
		goto done;
	}
	rc = dbs__ksuid_encode(buf, (uint32_t)sec, payload);
done:
	return rc;
}

DBS_API int dbs_ksuid_check(const char *text)
{
	if (text == NULL)
		return DBS_EINVAL;
	for (int i = 0; i < KSUID_TEXT; i++) {
		char c = text[i];
		bool ok =
		    (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		if (!ok)
			return DBS_EINVAL;
	}
	if (text[KSUID_TEXT] != '\0')
		return DBS_EINVAL;
	return memcmp(text, ksuid_max, KSUID_TEXT) <= 0 ? 0 : DBS_EINVAL;
}
