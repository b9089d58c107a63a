/*
 * Secrets of connection strings, kept out of what users see.
 *
 * Masking (mask.c) hides the password of a connection string that is
 * shown on purpose (GET /streams). Scrubbing cleans the messages of client
 * libraries: libpq quotes the whole URI, or the token its parser stopped
 * at, when it cannot parse a connection string ("invalid percent-encoded
 * token: \"pa%ss\""), and a password with an unescaped '/' is cut into
 * pieces that turn up as a port or a database name. Such a message would
 * become a node's stat message, a log line and an API answer, so the core
 * scrubs it first. The secrets scrubbed are the spans the masker hides,
 * found the same way (URI user information and secret query parameters,
 * key=value secret values, the DSN password), each also percent-decoded,
 * and each cut at the characters a URI parser splits at.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define MASK "********"
#define MASK_LEN 8
/* Secrets per connection string: passwords and their variants; a string
 * with more is not one a driver reads. */
#define MAX_SECRETS 64
/* Pieces shorter than this are too common to replace inside words. */
#define PIECE_MIN 2

struct secrets {
	char *v[MAX_SECRETS];
	size_t n;
	bool oom;
};

static void secrets_free(struct secrets *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

static void add(struct secrets *s, const char *p, size_t len)
{
	if (len == 0 || s->oom)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && memcmp(s->v[i], p, len) == 0)
			return;
	if (s->n == MAX_SECRETS)
		return;
	char *copy = malloc(len + 1);
	if (copy == NULL) {
		s->oom = true;
		return;
	}
	memcpy(copy, p, len);
	copy[len] = '\0';
	s->v[s->n++] = copy;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The secret as written, and as a driver decodes it: %XX escapes (URIs,
 * DSNs) or backslash escapes (key=value). */
static void add_secret(struct secrets *s, const char *p, size_t len, bool backslashes)
{
	add(s, p, len);
	char *dec = malloc(len + 1);
	size_t o = 0;
	if (dec == NULL) {
		s->oom = true;
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (backslashes && p[i] == '\\' && i + 1 < len) {
			dec[o++] = p[++i];
		} else if (!backslashes && p[i] == '%' && i + 2 < len && hexval(p[i + 1]) >= 0 &&
		           hexval(p[i + 2]) >= 0) {
			char c = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			/* A decoded NUL ends the C string a driver sees. */
			if (c == '\0')
				break;
			dec[o++] = c;
			i += 2;
		} else {
			dec[o++] = p[i];
		}
	}
	if (o != len)
		add(s, dec, o);
	free(dec);
}

/* "?a=b&password=x#f": the values of secret parameters. */
static void query_secrets(struct secrets *s, const char *q, size_t n)
{
	size_t i = 0;
	while (i < n) {
		i++; /* the separator */
		size_t start = i;
		while (i < n && q[i] != '&' && q[i] != ';' && q[i] != '#')
			i++;
		const char *eq = memchr(q + start, '=', i - start);
		if (eq != NULL && dbs__conn_is_secret_key(q + start, (size_t)(eq - (q + start))))
			add_secret(s, eq + 1, (size_t)(q + i - eq - 1), false);
	}
}

/* The password after the first ':' of the user information s[from, at);
 * without ':' the user information itself when it is a token. */
static void userinfo_secret(struct secrets *s, const char *u, size_t from, size_t at,
                            bool token_is_secret)
{
	const char *colon = memchr(u + from, ':', at - from);
	if (colon != NULL)
		add_secret(s, colon + 1, (size_t)(u + at - colon - 1), false);
	else if (token_is_secret)
		add_secret(s, u + from, at - from, false);
}

/* One URI: user information as libpq reads it (the first '@' before the
 * first '/') and as the masker's fallback does (the last '@' before the
 * query), and the secret query parameters. */
static void uri_secrets(struct secrets *s, const char *u, size_t n, bool token_is_secret)
{
	size_t rest = dbs__conn_scheme_len(u, n);
	size_t q = rest;
	while (q < n && u[q] != '?' && u[q] != '#')
		q++;
	for (size_t i = rest; i < n && u[i] != '/'; i++) {
		if (u[i] == '@') {
			userinfo_secret(s, u, rest, i, token_is_secret);
			break;
		}
	}
	for (size_t i = q; i-- > rest;) {
		if (u[i] == '@') {
			userinfo_secret(s, u, rest, i, token_is_secret);
			break;
		}
	}
	const char *qm = memchr(u + rest, '?', n - rest);
	if (qm != NULL)
		query_secrets(s, qm, (size_t)(u + n - qm));
}

static void uri_list_secrets(struct secrets *s, const char *c, size_t n)
{
	if (!dbs__conn_is_nats(c, n)) {
		uri_secrets(s, c, n, false);
		return;
	}
	/* NATS server lists: a new URL starts after a ',' with a scheme. */
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !(c[i] == ',' && dbs__conn_scheme_len(c + i + 1, n - i - 1) > 0))
			continue;
		uri_secrets(s, c + start, i - start, true);
		start = i + 1;
	}
}

/* libpq key=value: secret values, quoted or not, and an unterminated quote
 * to the end. */
static void connection_secrets(struct secrets *s, const char *c, int depth);

static void keyvalue_secrets(struct secrets *s, const char *c, size_t n, int depth)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && isspace((unsigned char)c[i]))
			i++;
		size_t key = i;
		while (i < n && c[i] != '=' && !isspace((unsigned char)c[i]))
			i++;
		size_t key_end = i;
		while (i < n && isspace((unsigned char)c[i]))
			i++;
		if (i >= n || c[i] != '=')
			continue;
		i++;
		while (i < n && isspace((unsigned char)c[i]))
			i++;
		size_t value = i, value_end;
		if (i < n && c[i] == '\'') {
			value = ++i;
			while (i < n && c[i] != '\'') {
				if (c[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			value_end = i;
			if (i < n)
				i++;
		} else {
			while (i < n && !isspace((unsigned char)c[i])) {
				if (c[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			value_end = i;
		}
		if (dbs__conn_is_secret_key(c + key, key_end - key)) {
			add_secret(s, c + value, value_end - value, true);
		} else if (key_end - key == 6 && memcmp(c + key, "dbname", 6) == 0 && depth < 2) {
			/* A database name written as a connection string. */
			char *nested = malloc(value_end - value + 1);
			if (nested == NULL) {
				s->oom = true;
				continue;
			}
			memcpy(nested, c + value, value_end - value);
			nested[value_end - value] = '\0';
			connection_secrets(s, nested, depth + 1);
			free(nested);
		}
	}
}

/* go-sql-driver DSN: the password between the first ':' and the last '@'
 * before the last '/'; without such an '@', the last '@' anywhere. */
static void dsn_secrets(struct secrets *s, const char *c, size_t n)
{
	size_t slash = n, at = n;
	for (size_t i = 0; i < n; i++)
		if (c[i] == '/')
			slash = i;
	for (size_t i = 0; i < slash; i++)
		if (c[i] == '@')
			at = i;
	if (at == n)
		for (size_t i = 0; i < n; i++)
			if (c[i] == '@')
				at = i;
	if (at < n)
		userinfo_secret(s, c, 0, at, false);
	const char *qm = memchr(c, '?', n);
	if (qm != NULL)
		query_secrets(s, qm, (size_t)(c + n - qm));
}

/* The secrets the masker hides in `c`, classified as it classifies. */
static void connection_secrets(struct secrets *s, const char *c, int depth)
{
	size_t n = strlen(c);
	if (dbs__conn_scheme_len(c, n) > 0)
		uri_list_secrets(s, c, n);
	else if (dbs__conn_looks_keyvalue(c, n))
		keyvalue_secrets(s, c, n, depth);
	else
		dsn_secrets(s, c, n);
}

/* ---- replacing ---- */

static bool is_word(char c)
{
	return isalnum((unsigned char)c);
}

/* Characters a URI or DSN parser splits at, and quotes around tokens. */
static bool is_delim(char c)
{
	return strchr("@/:?#&=[],;'\"", c) != NULL || isspace((unsigned char)c);
}

/*
 * Replace every occurrence of `needle` in `text` by `with`; with `bounded`
 * only where no letter or digit touches it on either side. The result is
 * cut to `size` - 1 bytes. false when memory ran out (text unchanged).
 */
static bool replace(char *text, size_t size, const char *needle, const char *with, bool bounded)
{
	size_t nl = strlen(needle), wl = strlen(with), tl = strlen(text);
	if (nl == 0 || nl > tl)
		return true;
	char *out = malloc(size);
	size_t o = 0;
	if (out == NULL)
		return false;
	for (size_t i = 0; i < tl && o + 1 < size;) {
		bool hit = nl <= tl - i && memcmp(text + i, needle, nl) == 0;
		if (hit && bounded)
			hit = (i == 0 || !is_word(text[i - 1])) && (i + nl == tl || !is_word(text[i + nl]));
		if (hit) {
			for (size_t k = 0; k < wl && o + 1 < size; k++)
				out[o++] = with[k];
			i += nl;
		} else {
			out[o++] = text[i++];
		}
	}
	out[o] = '\0';
	memcpy(text, out, o + 1);
	free(out);
	return true;
}

/* A message cut to its buffer may end inside a secret: a tail that is the
 * beginning of one (at least PIECE_MIN bytes, not inside a word) goes. */
static void mask_cut_tail(char *text, size_t size, const char *secret)
{
	size_t tl = strlen(text), sl = strlen(secret);
	for (size_t k = sl - 1; k >= PIECE_MIN && k > 0; k--) {
		if (k > tl)
			continue;
		size_t at = tl - k;
		if (memcmp(text + at, secret, k) == 0 && (at == 0 || !is_word(text[at - 1]))) {
			text[at] = '\0';
			size_t room = size - 1 - at;
			size_t m = room < MASK_LEN ? room : MASK_LEN;
			memcpy(text + at, MASK, m);
			text[at + m] = '\0';
			return;
		}
	}
}

static int by_length_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* The pieces of a secret between the characters a parser splits at. */
static void add_pieces(struct secrets *pieces, const char *secret)
{
	size_t n = strlen(secret);
	for (size_t i = 0; i < n;) {
		while (i < n && is_delim(secret[i]))
			i++;
		size_t start = i;
		while (i < n && !is_delim(secret[i]))
			i++;
		if (i - start >= PIECE_MIN && i - start < n)
			add(pieces, secret + start, i - start);
	}
}

void dbs__scrub_secrets(char *text, size_t size, const char *const *connections, size_t n)
{
	struct secrets all = {0}, pieces = {0};
	if (text == NULL || size == 0)
		return;
	text[size - 1] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *c = connections[i];
		if (c == NULL || c[0] == '\0')
			continue;
		/* Quoted whole: keep what it says, without the secrets. */
		if (strstr(text, c) != NULL) {
			char *masked = dbs__mask_connection(c);
			if (masked == NULL || !replace(text, size, c, masked, false))
				all.oom = true;
			free(masked);
		}
		connection_secrets(&all, c, 0);
	}
	qsort(all.v, all.n, sizeof all.v[0], by_length_desc);
	for (size_t i = 0; i < all.n; i++) {
		/* Short ones would hit inside ordinary words. */
		if (!replace(text, size, all.v[i], MASK, strlen(all.v[i]) < 4))
			all.oom = true;
		add_pieces(&pieces, all.v[i]);
	}
	qsort(pieces.v, pieces.n, sizeof pieces.v[0], by_length_desc);
	for (size_t i = 0; i < pieces.n; i++)
		if (!replace(text, size, pieces.v[i], MASK, true))
			all.oom = true;
	for (size_t i = 0; i < all.n; i++)
		mask_cut_tail(text, size, all.v[i]);
	/* Without memory to look, nothing of the message is safe to show. */
	if (all.oom || pieces.oom)
		dbs_fmt(text, size, "%s", "(message withheld: out of memory while removing secrets)");
	secrets_free(&all);
	secrets_free(&pieces);
}

/* ---- public ---- */

DBS_API int dbs_mask_connection(char **out, const char *connection)
{
	if (out == NULL)
		return dbs__error_set(DBS_EINVAL, "dbs_mask_connection: out is NULL");
	*out = NULL;
	if (connection == NULL)
		return dbs__error_set(DBS_EINVAL, "dbs_mask_connection: connection is NULL");
	char *masked = dbs__mask_connection(connection);
	if (masked == NULL)
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	*out = masked;
	dbs__error_clear();
	return 0;
}

DBS_API int dbs_config_masked_json(char **out, const char *config, size_t len, const char *id)
{
	char err[1024];
	dbs_config *cfg = NULL;
	if (out == NULL)
		return dbs__error_set(DBS_EINVAL, "dbs_config_masked_json: out is NULL");
	*out = NULL;
	int rc = dbs__config_parse(&cfg, config, len, err, sizeof err);
	if (rc != 0)
		return rc;
	char *json = dbs__config_to_json(cfg, id);
	dbs__config_free(cfg);
	if (json == NULL)
		return dbs__error_set(DBS_ENOMEM, "out of memory");
	*out = json;
	dbs__error_clear();
	return 0;
}
