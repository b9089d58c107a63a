/*
 * Passwords out of connection strings, for every place one is shown
 * (GET /streams, error messages): libpq URIs and key=value strings,
 * go-sql-driver DSNs, NATS URLs. Masking a little too much is fine,
 * showing a piece of a password is not.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

#define MASK "********"

/* The masked text; appends after a failed one are ignored. */
typedef struct masked {
	dbs_buf text;
	int oom;
} masked;

static void put(masked *b, const char *s, size_t n)
{
	if (!b->oom && dbs_buf_append(&b->text, s, n))
		b->oom = 1;
}

bool dbs__conn_is_secret_key(const char *key, size_t n)
{
	static const char *const names[] = {"password", "sslpassword", "pass", "token"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t ln = strlen(names[i]);
		if (n == ln && strncasecmp(key, names[i], n) == 0)
			return true;
	}
	return false;
}

/* "?a=b&password=x#f": values of secret parameters become MASK. */
static void mask_query(masked *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* copy the separator ('?', '&', '#' or ';') */
		put(b, s + i, 1);
		i++;
		size_t start = i;
		while (i < n && s[i] != '&' && s[i] != ';' && s[i] != '#')
			i++;
		const char *eq = memchr(s + start, '=', i - start);
		if (eq != NULL && dbs__conn_is_secret_key(s + start, (size_t)(eq - (s + start)))) {
			put(b, s + start, (size_t)(eq - (s + start)) + 1);
			put(b, MASK, sizeof MASK - 1);
		} else {
			put(b, s + start, i - start);
		}
	}
}

size_t dbs__conn_scheme_len(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (n - i >= 3 && memcmp(s + i, "://", 3) == 0)
		return i + 3;
	return 0;
}

bool dbs__conn_is_nats(const char *s, size_t n)
{
	size_t sl = dbs__conn_scheme_len(s, n) - 3;
	return (sl == 4 && strncasecmp(s, "nats", 4) == 0) ||
	       (sl == 3 && strncasecmp(s, "tls", 3) == 0) ||
	       (sl == 2 && strncasecmp(s, "ws", 2) == 0) || (sl == 3 && strncasecmp(s, "wss", 3) == 0);
}

/*
 * One URI. libpq ends the user information at the first '@' before the
 * first '/', so a password may hold '?' or '#'; a password holding an
 * unescaped '/' is invalid, but is still masked through the fallback (the
 * last '@' before the query). Masking a little too much is fine, showing
 * a piece of a password is not. A user information without ':' is a user
 * name, except where `token_is_secret` (NATS tokens).
 */
static void mask_one_uri(masked *b, const char *s, size_t n, bool token_is_secret)
{
	size_t rest = dbs__conn_scheme_len(s, n);
	size_t slash = rest;
	while (slash < n && s[slash] != '/')
		slash++;
	size_t at = n;
	for (size_t i = rest; i < slash; i++)
		if (s[i] == '@')
			at = i;
	if (at == n) {
		size_t q = rest;
		while (q < n && s[q] != '?' && s[q] != '#')
			q++;
		for (size_t i = rest; i < q; i++)
			if (s[i] == '@')
				at = i;
	}
	size_t pos = 0;
	if (at < n) {
		const char *colon = memchr(s + rest, ':', at - rest);
		if (colon != NULL) {
			put(b, s, (size_t)(colon - s) + 1);
			put(b, MASK, sizeof MASK - 1);
			pos = at;
		} else if (token_is_secret) {
			put(b, s, rest);
			put(b, MASK, sizeof MASK - 1);
			pos = at;
		}
	}
	size_t q = pos > rest ? pos : rest;
	while (q < n && s[q] != '?' && s[q] != '#')
		q++;
	put(b, s + pos, q - pos);
	mask_query(b, s + q, n - q);
}

static void mask_uri(masked *b, const char *s, size_t n)
{
	if (!dbs__conn_is_nats(s, n)) {
		mask_one_uri(b, s, n, false);
		return;
	}
	/* NATS takes a comma-separated list of server URLs. Split only where
	 * a new URL starts, so a ',' inside a password never ends a piece. */
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !(s[i] == ',' && dbs__conn_scheme_len(s + i + 1, n - i - 1) > 0))
			continue;
		mask_one_uri(b, s + start, i - start, true);
		if (i < n)
			put(b, ",", 1);
		start = i + 1;
	}
}

/* A dbname that is itself a connection string (libpq reads one written
 * that way as a database name, and says so in its messages). */
static void mask_nested(masked *b, const char *s, size_t n)
{
	bool quoted = n >= 2 && s[0] == '\'' && s[n - 1] == '\'';
	if (quoted) {
		s++;
		n -= 2;
	}
	char *copy = malloc(n + 1);
	char *inner = NULL;
	if (copy != NULL) {
		memcpy(copy, s, n);
		copy[n] = '\0';
		inner = dbs__mask_connection(copy);
	}
	if (quoted)
		put(b, "'", 1);
	if (inner != NULL)
		put(b, inner, strlen(inner));
	else
		b->oom = 1;
	if (quoted)
		put(b, "'", 1);
	free(inner);
	free(copy);
}

/* libpq key=value: values may be single-quoted with backslash escapes. */
static void mask_keyvalue(masked *b, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t ws = i;
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		put(b, s + ws, i - ws);
		if (i >= n)
			break;
		size_t key = i;
		while (i < n && s[i] != '=' && !isspace((unsigned char)s[i]))
			i++;
		size_t key_end = i;
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		if (i >= n || s[i] != '=') {
			/* Malformed: keep the word, go on with the next one. */
			put(b, s + key, i - key);
			continue;
		}
		i++;
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		size_t value = i;
		if (i < n && s[i] == '\'') {
			i++;
			while (i < n && s[i] != '\'') {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			if (i < n)
				i++;
		} else {
			while (i < n && !isspace((unsigned char)s[i])) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
		}
		put(b, s + key, value - key);
		if (dbs__conn_is_secret_key(s + key, key_end - key))
			put(b, MASK, sizeof MASK - 1);
		else if (key_end - key == 6 && memcmp(s + key, "dbname", 6) == 0 &&
		         (memchr(s + value, '@', i - value) || memchr(s + value, '=', i - value)))
			mask_nested(b, s + value, i - value);
		else
			put(b, s + value, i - value);
	}
}

/*
 * go-sql-driver DSN `user:pass@net(addr)/db?params`. The driver splits
 * at the last '/', then at the last '@' before it, then at the first ':':
 * masking the same span hides exactly what the driver takes as password.
 */
static void mask_dsn(masked *b, const char *s, size_t n)
{
	size_t slash = n;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/')
			slash = i;
	size_t at = n;
	for (size_t i = 0; i < slash; i++)
		if (s[i] == '@')
			at = i;
	/* No driver reads such a string; hide what looks like a password. */
	if (at == n)
		for (size_t i = 0; i < n; i++)
			if (s[i] == '@')
				at = i;
	size_t pos = 0;
	if (at < n) {
		const char *colon = memchr(s, ':', at);
		if (colon != NULL) {
			put(b, s, (size_t)(colon - s) + 1);
			put(b, MASK, sizeof MASK - 1);
			pos = at;
		}
	}
	size_t q = pos;
	while (q < n && s[q] != '?')
		q++;
	put(b, s + pos, q - pos);
	mask_query(b, s + q, n - q);
}

bool dbs__conn_looks_keyvalue(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	if (i >= n || !(isalpha((unsigned char)s[i]) || s[i] == '_'))
		return false;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_'))
		i++;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	return i < n && s[i] == '=';
}

char *dbs__mask_connection(const char *connection)
{
	masked b = {DBS_BUF_INIT, 0};
	if (connection == NULL)
		connection = "";
	size_t n = strlen(connection);
	if (dbs__conn_scheme_len(connection, n) > 0)
		mask_uri(&b, connection, n);
	else if (dbs__conn_looks_keyvalue(connection, n))
		mask_keyvalue(&b, connection, n);
	else
		mask_dsn(&b, connection, n);
	if (!b.oom && !b.text.data)
		put(&b, "", 0);
	if (b.oom) {
		dbs_buf_free(&b.text);
		return NULL;
	}
	return b.text.data;
}
