/* Formats the REST API shows: Go durations, RFC 3339 times, KSUIDs. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

/* ksuid.c, not in core.h: fixed time and payload for exact expectations. */


struct duration_case {
	int64_t ns;
	const char *text; /* as Go's time.Duration.String() prints it */
};

static const struct duration_case durations[] = {
    {0, "0s"},
    {1, "1ns"},
    {999, "999ns"},
    {1000, "1µs"},
    {1500, "1.5µs"},
    {1100, "1.1µs"},
    {999999, "999.999µs"},
    {1000000, "1ms"},
    {1500000, "1.5ms"},
    {999999999, "999.999999ms"},
    {1000000000, "1s"},
    {1209114254, "1.209114254s"},
    {1500000000, "1.5s"},
    {59000000000, "59s"},
    {60000000000, "1m0s"},
    {453561343815, "7m33.561343815s"},
    {453561957109, "7m33.561957109s"},
    {3600000000000, "1h0m0s"},
    {3723500000000, "1h2m3.5s"},
    {86400000000000, "24h0m0s"},
    {-1, "-1ns"},
    {-1500, "-1.5µs"},
    {-3723500000000, "-1h2m3.5s"},
    {INT64_MAX, "2562047h47m16.854775807s"},
    {INT64_MIN, "-2562047h47m16.854775808s"},
};

START_TEST(test_duration)
{
	char buf[64];
	ck_assert_int_eq(dbs_format_duration(buf, sizeof buf, durations[_i].ns), 0);
	ck_assert_str_eq(buf, durations[_i].text);
}
END_TEST

START_TEST(test_duration_small_buffer)
{
	char buf[12];
	ck_assert_int_eq(dbs_format_duration(buf, sizeof buf, 453561343815), DBS_EINVAL);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(dbs_format_duration(buf, 3, 0), 0);
	ck_assert_str_eq(buf, "0s");
	ck_assert_int_eq(dbs_format_duration(buf, 2, 0), DBS_EINVAL);
	ck_assert_int_eq(dbs_format_duration(NULL, 10, 0), DBS_EINVAL);
}
END_TEST

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

START_TEST(test_time)
{
	char buf[64];
	set_tz("UTC");
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 0), 0);
	ck_assert_str_eq(buf, "0001-01-01T00:00:00Z");
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 1666174100839059479), 0);
	ck_assert_str_eq(buf, "2022-10-19T10:08:20.839059479Z");
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 1666174100000000000), 0);
	ck_assert_str_eq(buf, "2022-10-19T10:08:20Z");
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, -1), 0);
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999999999Z");

	/* The examples of the DBS documentation, in its +02:00 zone. */
	set_tz("Europe/Berlin");
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 1666174100839059479), 0);
	ck_assert_str_eq(buf, "2022-10-19T12:08:20.839059479+02:00");
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 1666174100839468001), 0);
	ck_assert_str_eq(buf, "2022-10-19T12:08:20.839468001+02:00");
	/* Trailing zeros of the fraction go, as in Go's RFC3339Nano. */
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 1665002788001400000), 0);
	ck_assert_str_eq(buf, "2022-10-05T22:46:28.0014+02:00");
	/* Winter time. */
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 1672531200000000000), 0);
	ck_assert_str_eq(buf, "2023-01-01T01:00:00+01:00");

	set_tz("America/St_Johns"); /* -03:30 in winter */
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 1672531200500000000), 0);
	ck_assert_str_eq(buf, "2022-12-31T20:30:00.5-03:30");

	set_tz("Asia/Kolkata");
	ck_assert_int_eq(dbs_format_time(buf, sizeof buf, 1672531200000000001), 0);
	ck_assert_str_eq(buf, "2023-01-01T05:30:00.000000001+05:30");

	/* Too small a buffer fails, and leaves an empty string. */
	ck_assert_int_eq(dbs_format_time(buf, 20, 1672531200000000001), DBS_EINVAL);
	ck_assert_str_eq(buf, "");
	set_tz("UTC");
}
END_TEST

START_TEST(test_clocks)
{
	int64_t a = dbs_time_monotonic_ns(), b = dbs_time_monotonic_ns();
	ck_assert_int_ge(b, a);
	int64_t now = dbs_time_now_ns();
	/* After 2020 and before 2100. */
	ck_assert_int_gt(now, 1577836800LL * 1000000000LL);
	ck_assert_int_lt(now, 4102444800LL * 1000000000LL);
	ck_assert_str_eq(dbs_version(), "0.1.0");
	ck_assert_str_eq(dbs_version(), DBS_VERSION_STRING);
}
END_TEST

static int b62(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

/* Back to 20 bytes, independently of the encoder. */
static void ksuid_decode(const char *text, uint8_t out[20])
{
	memset(out, 0, 20);
	for (int i = 0; i < 27; i++) {
		unsigned carry = (unsigned)b62(text[i]);
		for (int j = 19; j >= 0; j--) {
			unsigned cur = out[j] * 62u + carry;
			out[j] = (uint8_t)cur;
			carry = cur >> 8;
		}
		ck_assert_uint_eq(carry, 0);
	}
}

START_TEST(test_ksuid_known)
{
	/* The example of the KSUID specification. */
	static const uint8_t payload[16] = {0xB5, 0xA1, 0xCD, 0x34, 0xB5, 0xF9, 0x9D, 0x11,
	                                    0x54, 0xFB, 0x68, 0x53, 0x34, 0x5C, 0x97, 0x35};
	char buf[28];
	ck_assert_int_eq(dbs__ksuid_encode(buf, 107608047, payload), 0);
	ck_assert_str_eq(buf, "0ujtsYcgvSTl8PAuAdqWYSMnLOv");

	uint8_t zero[16] = {0}, ones[16];
	memset(ones, 0xff, sizeof ones);
	ck_assert_int_eq(dbs__ksuid_encode(buf, 0, zero), 0);
	ck_assert_str_eq(buf, "000000000000000000000000000");
	ck_assert_int_eq(dbs__ksuid_encode(buf, UINT32_MAX, ones), 0);
	ck_assert_str_eq(buf, "aWgEPTl1tmebfsQzFP4bxwgy80V");
	ck_assert_int_eq(dbs_ksuid_check(buf), 0);
}
END_TEST

START_TEST(test_ksuid_order)
{
	/* A later second sorts after, whatever the random part. */
	uint8_t zero[16] = {0}, ones[16];
	memset(ones, 0xff, sizeof ones);
	char a[28], b[28];
	for (uint32_t t = 1; t < 4000000000u; t += 123456789u) {
		dbs__ksuid_encode(a, t, ones);
		dbs__ksuid_encode(b, t + 1, zero);
		ck_assert_int_lt(strcmp(a, b), 0);
	}
}
END_TEST

START_TEST(test_ksuid_new)
{
	char ids[64][28];
	int64_t before = dbs_time_now_ns() / 1000000000LL;
	for (int i = 0; i < 64; i++) {
		ck_assert_int_eq(dbs_ksuid_new(ids[i]), 0);
		ck_assert_uint_eq(strlen(ids[i]), 27);
		ck_assert_int_eq(dbs_ksuid_check(ids[i]), 0);
		for (int k = 0; k < 27; k++)
			ck_assert_int_ge(b62(ids[i][k]), 0);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	}
	int64_t after = dbs_time_now_ns() / 1000000000LL;
	/* The timestamp round-trips. */
	uint8_t raw[20];
	ksuid_decode(ids[0], raw);
	int64_t ts =
	    ((int64_t)raw[0] << 24 | (int64_t)raw[1] << 16 | (int64_t)raw[2] << 8 | raw[3]) +
	    1400000000LL;
	ck_assert_int_ge(ts, before);
	ck_assert_int_le(ts, after);

	/* Decoding and re-encoding gives the same text. */
	char again[28];
	dbs__ksuid_encode(again, (uint32_t)(ts - 1400000000LL), raw + 4);
	ck_assert_str_eq(again, ids[0]);
}
END_TEST

START_TEST(test_ksuid_check)
{
	ck_assert_int_eq(dbs_ksuid_check("2Fdj6JALDAm53S7Q4NxzH3sffzM"), 0);
	ck_assert_int_eq(dbs_ksuid_check("000000000000000000000000000"), 0);
	ck_assert_int_eq(dbs_ksuid_check("aWgEPTl1tmebfsQzFP4bxwgy80W"), DBS_EINVAL); /* 2^160 */
	ck_assert_int_eq(dbs_ksuid_check("zzzzzzzzzzzzzzzzzzzzzzzzzzz"), DBS_EINVAL);
	ck_assert_int_eq(dbs_ksuid_check("2Fdj6JALDAm53S7Q4NxzH3sffz"), DBS_EINVAL);
	ck_assert_int_eq(dbs_ksuid_check("2Fdj6JALDAm53S7Q4NxzH3sffzMM"), DBS_EINVAL);
	ck_assert_int_eq(dbs_ksuid_check("2Fdj6JALDAm53S7Q4NxzH3sff-M"), DBS_EINVAL);
	ck_assert_int_eq(dbs_ksuid_check(""), DBS_EINVAL);
	ck_assert_int_eq(dbs_ksuid_check(NULL), DBS_EINVAL);
}
END_TEST

static Suite *formats_suite(void)
{
	Suite *s = suite_create("formats");
	TCase *tc = tcase_create("duration");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_duration, 0, (int)(sizeof durations / sizeof durations[0]));
	tcase_add_test(tc, test_duration_small_buffer);
	suite_add_tcase(s, tc);
	tc = tcase_create("time");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_clocks);
	suite_add_tcase(s, tc);
	tc = tcase_create("ksuid");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ksuid_known);
	tcase_add_test(tc, test_ksuid_order);
	tcase_add_test(tc, test_ksuid_new);
	tcase_add_test(tc, test_ksuid_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(formats_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
