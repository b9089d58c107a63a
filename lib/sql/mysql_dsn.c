/*
 * go-sql-driver DSN parser (see dsn.h for the accepted form).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dbstreams/sys/buf.h>

#include "sql/mysql_dsn.h"
#include "sql/value_text.h"

#define DEFAULT_PORT 3306u

/* go-sql-driver options a user's DSN may carry; they concern its own
 * client and have no meaning here, so they are accepted and ignored. */
static const char *const ignored_params[] = {
    "allowAllFiles",
    "allowCleartextPasswords",
    "allowFallbackToPlaintext",
    "allowNativePasswords",
    "allowOldPasswords",
    "charset",
    "checkConnLiveness",
    "clientFoundRows",
    "collation",
    "columnsWithAlias",
    "connectionAttributes",
    "interpolateParams",
    "loc",
    "maxAllowedPacket",
    "multiStatements",
    "parseTime",
    "readTimeout",
    "rejectReadOnly",
    "serverPubKey",
    "timeout",
    "writeTimeout",
    "timeTruncate",
};

/* %-unescape NUL-terminated `s` in place; 0, or -1 on a bad escape. */
static int unescape(char *s)
{
	char *w = s;
	for (const char *r = s; *r; r++) {
		if (*r == '%') {
			int hi = r[1] ? dbs__sql_hexval(r[1]) : -1;
			int lo = hi >= 0 && r[2] ? dbs__sql_hexval(r[2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return 0;
}

/*
 * Does text[from..len) look like "[proto[(addr)]]/..."? Returns the index
 * of the '/' that starts the database, or -1.
 */
static long protocol_part_end(const char *text, size_t from, size_t len)
{
	size_t i = from;
	while (i < len &&
	       ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= '0' && text[i] <= '9')))
		i++;
	if (i < len && text[i] == '(') {
		if (i == from)
			return -1;
		const char *close = memchr(text + i, ')', len - i);
		if (!close)
			return -1;
		i = (size_t)(close - text) + 1;
	}
	if (i < len && text[i] == '/')
		return (long)i;
	return -1;
}

static int parse_port(const char *s, unsigned *out)
{
	unsigned long v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_tcp_address(dbs_mysql_dsn *d, char *addr, char *err, size_t errlen)
{
	char *portstr = NULL;
	if (addr[0] == '[') {
		char *close = strchr(addr, ']');
		if (!close) {
			dbs_fmt(err, errlen, "connection: unclosed '[' in the IPv6 address \"%s\"",
			         addr);
			return DBS_ECONFIG;
		}
		*close = '\0';
		d->host = addr + 1;
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1] != '\0') {
			dbs_fmt(err, errlen,
			         "connection: unexpected text after ']' in the address");
			return DBS_ECONFIG;
		}
	} else {
		char *colon = strrchr(addr, ':');
		if (colon && strchr(addr, ':') != colon) {
			dbs_fmt(err, errlen,
			         "connection: IPv6 address \"%s\" must be written in brackets: "
			         "[addr]:port",
			         addr);
			return DBS_ECONFIG;
		}
		if (colon) {
			*colon = '\0';
			portstr = colon + 1;
		}
		d->host = addr[0] ? addr : "127.0.0.1";
	}
	if (!d->host[0]) {
		dbs_fmt(err, errlen, "connection: empty host name in the address");
		return DBS_ECONFIG;
	}
	d->port = DEFAULT_PORT;
	if (portstr && parse_port(portstr, &d->port) != 0) {
		dbs_fmt(err, errlen, "connection: port \"%s\" is not a number from 1 to 65535",
		         portstr);
		return DBS_ECONFIG;
	}
	return 0;
}

static int parse_param(dbs_mysql_dsn *d, char *kv, char *err, size_t errlen)
{
	char *eq = strchr(kv, '=');
	if (!eq || eq == kv) {
		dbs_fmt(err, errlen, "connection: parameter \"%s\" is not of the form name=value",
		         kv);
		return DBS_ECONFIG;
	}
	*eq = '\0';
	char *val = eq + 1;
	if (unescape(val) != 0) {
		dbs_fmt(err, errlen, "connection: bad %%-escape in the value of parameter \"%s\"",
		         kv);
		return DBS_ECONFIG;
	}
	if (strcmp(kv, "tls") == 0) {
		if (strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0)
			d->tls = DBS_MYSQL_TLS_VERIFY;
		else if (strcasecmp(val, "false") == 0 || strcmp(val, "0") == 0)
			d->tls = DBS_MYSQL_TLS_OFF;
		else if (strcmp(val, "skip-verify") == 0)
			d->tls = DBS_MYSQL_TLS_SKIP_VERIFY;
		else if (strcmp(val, "preferred") == 0)
			d->tls = DBS_MYSQL_TLS_PREFERRED;
		else {
			dbs_fmt(err, errlen,
			         "connection: tls=\"%s\": expected true, false, skip-verify or "
			         "preferred",
			         val);
			return DBS_ECONFIG;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof ignored_params / sizeof ignored_params[0]; i++)
		if (strcmp(kv, ignored_params[i]) == 0)
			return 0;
	dbs_fmt(err, errlen, "connection: unknown parameter \"%s\"", kv);
	return DBS_ECONFIG;
}

int dbs__mysql_dsn_parse(dbs_mysql_dsn *out, const char *text, char *err, size_t errlen)
{
	int rc = DBS_ECONFIG;
	dbs_mysql_dsn d;
	memset(&d, 0, sizeof d);
	memset(out, 0, sizeof *out);
	if (!text || !*text) {
		dbs_fmt(err, errlen, "connection: empty connection string");
		goto fail;
	}
	size_t len = strlen(text);
	d.storage_ = malloc(len + 1);
	if (!d.storage_) {
		rc = DBS_ENOMEM;
		dbs_fmt(err, errlen, "out of memory");
		goto fail;
	}
	memcpy(d.storage_, text, len + 1);
	char *s = d.storage_;

	/* The user part ends at the last '@' followed by a protocol part. */
	long slash = -1;
	long at = -1;
	for (size_t i = len; i-- > 0;) {
		if (s[i] == '@') {
			slash = protocol_part_end(s, i + 1, len);
			if (slash >= 0) {
				at = (long)i;
				break;
			}
		}
	}
	if (at < 0) {
		slash = protocol_part_end(s, 0, len);
		if (slash < 0) {
			if (strchr(s, '@'))
				dbs_fmt(err, errlen,
				         "connection: expected protocol(address)/database after "
				         "the last '@' "
				         "(e.g. user:password@tcp(host:3306)/db)");
			else
				dbs_fmt(err, errlen,
				         "connection: missing '/' before the database name "
				         "(e.g. user:password@tcp(host:3306)/db)");
			goto fail;
		}
	}

	d.user = "";
	if (at >= 0) {
		s[at] = '\0';
		char *colon = strchr(s, ':');
		if (colon) {
			*colon = '\0';
			d.password = colon + 1;
		}
		d.user = s;
	}

	char *proto = s + at + 1;
	char *db = s + slash + 1;
	s[slash] = '\0';
	char *addr = NULL;
	char *paren = strchr(proto, '(');
	if (paren) {
		*paren = '\0';
		addr = paren + 1;
		char *close = strrchr(addr, ')');
		*close = '\0';
	}
	if (proto[0] == '\0' || strcmp(proto, "tcp") == 0 || strcmp(proto, "tcp4") == 0 ||
	    strcmp(proto, "tcp6") == 0) {
		rc = parse_tcp_address(&d, addr ? addr : (char *)"", err, errlen);
		if (rc != 0)
			goto fail;
		rc = DBS_ECONFIG;
	} else if (strcmp(proto, "unix") == 0) {
		if (!addr || !addr[0]) {
			dbs_fmt(
			    err, errlen,
			    "connection: unix() needs the socket path: unix(/path/to/mysql.sock)");
			goto fail;
		}
		d.socket = addr;
	} else {
		dbs_fmt(err, errlen, "connection: unknown protocol \"%s\"; expected tcp or unix",
		         proto);
		goto fail;
	}

	char *q = strchr(db, '?');
	if (q)
		*q = '\0';
	if (strchr(db, '/')) {
		dbs_fmt(err, errlen, "connection: database name \"%s\" contains '/'", db);
		goto fail;
	}
	if (unescape(db) != 0) {
		dbs_fmt(err, errlen, "connection: bad %%-escape in the database name");
		goto fail;
	}
	d.database = db;
	if (q) {
		char *p = q + 1;
		while (p && *p) {
			char *amp = strchr(p, '&');
			if (amp)
				*amp = '\0';
			if (*p) {
				rc = parse_param(&d, p, err, errlen);
				if (rc != 0)
					goto fail;
			}
			p = amp ? amp + 1 : NULL;
		}
	}
	*out = d;
	return 0;
fail:
	free(d.storage_);
	return rc;
}

void dbs__mysql_dsn_free(dbs_mysql_dsn *dsn)
{
	if (!dsn)
		return;
	free(dsn->storage_);
	memset(dsn, 0, sizeof *dsn);
}
