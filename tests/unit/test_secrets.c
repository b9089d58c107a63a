/*
 * Hostile configurations and secrets: a deeply nested document is refused
 * before cJSON recurses (also on a thread with a stack as small as
 * CivetWeb's workers), and a password never survives into a connection
 * string shown, a client library's message, a node's stat message or a log
 * line, whatever the form of the connection string and however malformed.
 * No servers: every connection here is refused or never parsed.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/core.h"

/* The password of every case is built around this marker. */
#define MARK "Mk7Zq9Xw"

/* No run of 4 characters of the marker in `text`: a password cut into
 * pieces must not show any of them either. */
static void assert_no_marker(const char *text, const char *what)
{
	char run[5];
	for (size_t i = 0; i + 4 <= strlen(MARK); i++) {
		memcpy(run, MARK + i, 4);
		run[4] = '\0';
		ck_assert_msg(strstr(text, run) == NULL, "%s shows \"%s\": %s", what, run, text);
	}
}

/* ---- nesting depth ---- */

static char *nested(size_t depth, const char *open, const char *close)
{
	size_t lo = strlen(open), lc = strlen(close);
	char *s = malloc(depth * (lo + lc) + 1);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < depth; i++) {
		memcpy(s + i * lo, open, lo);
		memcpy(s + depth * lo + i * lc, close, lc);
	}
	s[depth * (lo + lc)] = '\0';
	return s;
}

START_TEST(test_depth_bound)
{
	char *ok = nested(DBS_JSON_DEPTH_MAX, "[", "]");
	char *deep = nested(DBS_JSON_DEPTH_MAX + 1, "{\"a\":", "}");
	ck_assert_int_eq(dbs_json_check_depth(ok, strlen(ok)), 0);
	ck_assert_int_eq(dbs_json_check_depth(deep, strlen(deep)), DBS_ECONFIG);
	ck_assert_ptr_nonnull(strstr(dbs_error_last(), "nested deeper than 64 levels"));
	/* Brackets inside strings, escaped quotes included, are text. */
	const char *text = "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[\"}";
	ck_assert_int_eq(dbs_json_check_depth(text, strlen(text)), 0);
	ck_assert_int_eq(dbs__json_too_deep("[[[", 3, 2), 2);
	ck_assert_int_eq(dbs__json_too_deep("[][][]", 6, 1), 6);
	free(ok);
	free(deep);
}
END_TEST

struct deep_call {
	const char *text;
	int rc_validate, rc_create;
	char message[256];
};

static void *deep_main(void *arg)
{
	struct deep_call *c = arg;
	dbs_stream *s = NULL;
	c->rc_validate = dbs_config_validate(c->text, strlen(c->text));
	dbs_fmt(c->message, sizeof c->message, "%s", dbs_error_last());
	c->rc_create = dbs_stream_create(&s, c->text, strlen(c->text), NULL);
	dbs_stream_free(s);
	return NULL;
}

/* 1.4 KB of brackets crashed every caller on a CivetWeb worker (100 KiB of
 * stack): refused with the place, on a thread with even less. */
START_TEST(test_deep_config_on_small_stack)
{
	static const char *const shapes[][2] = {{"[", "]"}, {"{\"source\":", "}"}};
	for (size_t k = 0; k < 2; k++) {
		char *body = nested(5000, shapes[k][0], shapes[k][1]);
		struct deep_call call = {.text = body};
		pthread_attr_t attr;
		pthread_t t;
		ck_assert_int_eq(pthread_attr_init(&attr), 0);
		ck_assert_int_eq(pthread_attr_setstacksize(&attr, 96 * 1024), 0);
		ck_assert_int_eq(pthread_create(&t, &attr, deep_main, &call), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		pthread_attr_destroy(&attr);
		ck_assert_int_eq(call.rc_validate, DBS_ECONFIG);
		ck_assert_int_eq(call.rc_create, DBS_ECONFIG);
		ck_assert_msg(strstr(call.message, "nested deeper than 64 levels at byte") != NULL, "%s",
		              call.message);
		free(body);
	}
}
END_TEST

/* ---- one masker ---- */

/* Every form a user may write, and the malformed ones drivers choke on. */
static const char *const connections[] = {
    /* PostgreSQL URIs */
    "postgresql://u:" MARK "@127.0.0.1:1/db",
    "postgresql://u:" MARK "@127.0.0.1:1/db?sslmode=disable&password=" MARK,
    "postgresql://127.0.0.1:1/db?user=u&sslpassword=" MARK,
    "postgresql://u:Mk7%zzZq9Xw@127.0.0.1:1/db",
    "postgresql://u:" MARK "%00@127.0.0.1:1/db",
    "postgresql://u:Mk7Z/q9Xw@127.0.0.1:1/db",
    "postgresql://u:Mk7Z?q9Xw@127.0.0.1:1/db",
    "postgresql://u:Mk7Z#q9Xw@127.0.0.1:1/db",
    "postgresql://u:Mk7Z@q9Xw@127.0.0.1:1/db",
    "postgresql://u:Mk7Z q9Xw@127.0.0.1:1/db",
    "postgresql://u:" MARK "@[::1:1/db",
    "postgresql://u:" MARK "@127.0.0.1:port/db",
    "postgresql://u:" MARK "@127.0.0.1:1/db?sslmode=bogus",
    "postgresql://127.0.0.1:1/db?password=" MARK "&bogus",
    "postgresql://127.0.0.1:1/db?password=" MARK "&x==y",
    "postgresql:/u:" MARK "@127.0.0.1:1/db",
    "postgres:u:" MARK "@127.0.0.1:1/db",
    /* key=value */
    "host=127.0.0.1 port=1 password=" MARK,
    "host=127.0.0.1 port=1 password = " MARK " dbname=db",
    "host=127.0.0.1 port=1 password='" MARK,
    "host=127.0.0.1 port=1 password='Mk7Z q9Xw' bogus=1",
    "host=127.0.0.1 port=1 password=" MARK " dbname",
    "host=127.0.0.1 port=1 sslpassword=" MARK " sslmode=bogus",
    "dbname=postgresql://u:" MARK "@127.0.0.1:1/db port=1",
    "dbname='host=127.0.0.1 password=" MARK "' port=1",
    /* go-sql-driver DSNs */
    "u:" MARK "@tcp(127.0.0.1:1)/db",
    "u:Mk7Z@q9Xw@tcp(127.0.0.1:1)/db",
    "u:Mk7Z/q9Xw@tcp(127.0.0.1:1)/db",
    "u:" MARK "@tcp(127.0.0.1:1/db",
    "u:" MARK "@tcp([::1:1)/db",
    "u:" MARK "@bogus(127.0.0.1)/db",
    "u:" MARK "@tcp(127.0.0.1:99999)/db",
    "u:" MARK "@tcp(127.0.0.1:1)/db?password=" MARK,
    "u:" MARK "@tcp(127.0.0.1:1)/d/b",
    "u:" MARK "@",
    /* NATS */
    "nats://" MARK "@127.0.0.1:1",
    "nats://u:" MARK "@127.0.0.1:1",
    "nats://127.0.0.1:1,nats://" MARK "@127.0.0.1:2",
    "tls://u:" MARK "@127.0.0.1:1",
};

#define NCONN ((int)(sizeof connections / sizeof connections[0]))

START_TEST(test_masked_everywhere)
{
	const char *c = connections[_i];
	char *masked = NULL;
	ck_assert_int_eq(dbs_mask_connection(&masked, c), 0);
	assert_no_marker(masked, c);
	ck_assert_msg(strstr(masked, "********") != NULL, "%s -> %s", c, masked);
	dbs_free(masked);

	/* A message that quotes the string whole keeps its shape. */
	char msg[1024];
	const char *conns[] = {c};
	dbs_fmt(msg, sizeof msg, "cannot parse \"%s\" at all", c);
	dbs__scrub_secrets(msg, sizeof msg, conns, 1);
	assert_no_marker(msg, c);
	ck_assert_msg(strncmp(msg, "cannot parse \"", 14) == 0 && strstr(msg, "\" at all"), "%s",
	              msg);

	/* What libpq itself says about it, when it cannot parse it. */
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(c, &err);
	if (err != NULL) {
		dbs_fmt(msg, sizeof msg, "%s", err);
		dbs__scrub_secrets(msg, sizeof msg, conns, 1);
		assert_no_marker(msg, c);
		PQfreemem(err);
	}
	PQconninfoFree(opts);
}
END_TEST

/* The pieces a URI parser leaves of a password holding a delimiter, as
 * libpq quotes them, and a message cut inside a password. */
START_TEST(test_scrub_pieces_and_cuts)
{
	const char *conns[] = {"postgresql://u:Mk7Z/q9Xw@127.0.0.1:1/db", NULL,
	                       "nats://Tok3nTok3n@h:1"};
	char msg[256];
	dbs_fmt(msg, sizeof msg, "invalid integer value \"Mk7Z\" for connection option \"port\"");
	dbs__scrub_secrets(msg, sizeof msg, conns, 3);
	ck_assert_str_eq(msg, "invalid integer value \"********\" for connection option \"port\"");
	dbs_fmt(msg, sizeof msg, "database \"q9Xw@127.0.0.1:1/db\" does not exist");
	dbs__scrub_secrets(msg, sizeof msg, conns, 3);
	ck_assert_str_eq(msg, "database \"********@127.0.0.1:1/db\" does not exist");
	dbs_fmt(msg, sizeof msg, "nats: authorization violation for Tok3nTok3n");
	dbs__scrub_secrets(msg, sizeof msg, conns, 3);
	ck_assert_str_eq(msg, "nats: authorization violation for ********");
	/* Ordinary words that happen to share letters stay. */
	dbs_fmt(msg, sizeof msg, "connection to server at \"127.0.0.1\", port 1 failed");
	dbs__scrub_secrets(msg, sizeof msg, conns, 3);
	ck_assert_str_eq(msg, "connection to server at \"127.0.0.1\", port 1 failed");
	/* Cut by a buffer inside the password. */
	const char *whole[] = {"host=h password=Mk7Zq9XwMk7Zq9Xw"};
	dbs_fmt(msg, sizeof msg, "bad value: \"Mk7Zq9XwMk7");
	dbs__scrub_secrets(msg, sizeof msg, whole, 1);
	ck_assert_str_eq(msg, "bad value: \"********");
	/* Room for less than the mask: still nothing of the secret. */
	char tiny[12];
	dbs_fmt(tiny, sizeof tiny, "x Mk7Zq9Xw");
	dbs__scrub_secrets(tiny, sizeof tiny, whole, 1);
	assert_no_marker(tiny, "tiny");
}
END_TEST

/* ---- through a stream: stat message, errmsg, log lines ---- */

struct log_capture {
	pthread_mutex_t lock;
	char text[16384];
	size_t len;
};

static void capture_log(dbs_log_level level, const char *message, void *user_data)
{
	struct log_capture *c = user_data;
	(void)level;
	pthread_mutex_lock(&c->lock);
	size_t n = strlen(message);
	if (c->len + n + 2 < sizeof c->text) {
		memcpy(c->text + c->len, message, n);
		c->len += n;
		c->text[c->len++] = '\n';
		c->text[c->len] = '\0';
	}
	pthread_mutex_unlock(&c->lock);
}

/* The target opens first: a connection string of the case, as target
 * (the type that reads it) and as the other type's, fails the stream at
 * once with the client library's own message. */
START_TEST(test_stream_messages_clean)
{
	const char *c = connections[_i];
	for (int as = 0; as < 2; as++) {
		const char *type = as == 0 ? "postgresql" : "mysql";
		char json[2048];
		char *esc = NULL;
		struct log_capture cap = {.len = 0};
		pthread_mutex_init(&cap.lock, NULL);
		cap.text[0] = '\0';
		/* JSON-escape the connection: it may hold quotes and backslashes. */
		esc = malloc(strlen(c) * 2 + 1);
		ck_assert_ptr_nonnull(esc);
		size_t o = 0;
		for (const char *p = c; *p; p++) {
			if (*p == '"' || *p == '\\')
				esc[o++] = '\\';
			esc[o++] = *p;
		}
		esc[o] = '\0';
		dbs_fmt(json, sizeof json,
		         "{\"source\":{\"type\":\"postgresql\",\"connection\":\"host=127.0.0.1 port=1\"},"
		         "\"target\":{\"type\":\"%s\",\"connection\":\"%s\"}}",
		         type, esc);
		free(esc);
		dbs_stream_options opts = DBS_STREAM_OPTIONS_INIT;
		opts.log = capture_log;
		opts.log_user_data = &cap;
		opts.log_level = DBS_LOG_DEBUG;
		dbs_stream *s = NULL;
		int rc = dbs_stream_create(&s, json, strlen(json), &opts);
		if (rc != 0) {
			/* Refused as configuration: the message names no secret. */
			ck_assert_int_eq(rc, DBS_ECONFIG);
			assert_no_marker(dbs_error_last(), c);
			pthread_mutex_destroy(&cap.lock);
			continue;
		}
		dbs_stat st = DBS_STAT_INIT;
		ck_assert_int_eq(dbs_stream_stat(s, &st), 0);
		ck_assert_msg(st.target.status == DBS_STATUS_INIT_FAILED, "%s as %s: target %s", c, type,
		              dbs_status_name(st.target.status));
		ck_assert_msg(st.target.message[0] != '\0', "%s: no message", c);
		assert_no_marker(st.target.message, c);
		assert_no_marker(st.target_conn.last_error, c);
		assert_no_marker(dbs_stream_errmsg(s), c);
		dbs_stream_free(s);
		pthread_mutex_lock(&cap.lock);
		assert_no_marker(cap.text, c);
		pthread_mutex_unlock(&cap.lock);
		pthread_mutex_destroy(&cap.lock);
	}
}
END_TEST

START_TEST(test_masked_config_json)
{
	const char *json = "{\"name\":\"n\",\"source\":{\"type\":\"mysql\",\"connection\":\"u:" MARK
	                   "@tcp(h:3306)/db\"},\"target\":{\"type\":\"postgresql\",\"connection\":"
	                   "\"host=h password = " MARK "\"},\"hub\":{\"type\":\"nats\",\"url\":"
	                   "\"nats://" MARK "@h:4222\"}}";
	char *out = NULL;
	ck_assert_int_eq(dbs_config_masked_json(&out, json, strlen(json), "0ujtsYcgvSTl8PAuAdqWYSMnLOv"),
	                 0);
	assert_no_marker(out, "masked config");
	ck_assert_msg(strncmp(out, "{\"id\":\"0ujtsYcgvSTl8PAuAdqWYSMnLOv\",\"name\":\"n\"", 46) == 0,
	              "%s", out);
	dbs_free(out);
	ck_assert_int_eq(dbs_config_masked_json(&out, "{}", 2, NULL), DBS_ECONFIG);
	ck_assert_ptr_null(out);
}
END_TEST

static Suite *secrets_suite(void)
{
	Suite *s = suite_create("secrets");
	TCase *tc = tcase_create("depth");
	tcase_add_test(tc, test_depth_bound);
	tcase_add_test(tc, test_deep_config_on_small_stack);
	suite_add_tcase(s, tc);
	tc = tcase_create("mask");
	tcase_add_loop_test(tc, test_masked_everywhere, 0, NCONN);
	tcase_add_test(tc, test_scrub_pieces_and_cuts);
	tcase_add_test(tc, test_masked_config_json);
	suite_add_tcase(s, tc);
	tc = tcase_create("stream");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_stream_messages_clean, 0, NCONN);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(secrets_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
