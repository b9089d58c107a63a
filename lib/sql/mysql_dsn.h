/*
 * MySQL connection strings in the go-sql-driver form users already have:
 *
 *   [user[:password]@][protocol[(address)]]/[database][?param=value&...]
 *
 * protocol is tcp (address host, host:port, [v6]:port; port 3306 when
 * missing; 127.0.0.1:3306 when the address or the whole protocol part is
 * absent) or unix (address is the socket path). The password may contain
 * ':' and '@': the user part ends at the last '@' that is followed by a
 * well-formed protocol part and '/'. Parameter values and the database
 * name are %-unescaped. Known parameters: tls=true|false|skip-verify|
 * preferred (also 1/0), plus go-sql-driver's client options, accepted and
 * ignored (charset, collation, parseTime, loc, timeout, readTimeout,
 * writeTimeout, ...). Any other parameter is an error.
 *
 * Free of any plugin state: the MySQL source and target and verify use it.
 */
#ifndef DBS_SQL_MYSQL_DSN_H
#define DBS_SQL_MYSQL_DSN_H

#include <stddef.h>

typedef enum dbs_mysql_tls {
	DBS_MYSQL_TLS_OFF = 0,     /* tls=false or absent */
	DBS_MYSQL_TLS_VERIFY,      /* tls=true: verify the server's certificate */
	DBS_MYSQL_TLS_SKIP_VERIFY, /* tls=skip-verify: encrypt, trust any certificate */
	DBS_MYSQL_TLS_PREFERRED    /* tls=preferred: TLS when the server offers it */
} dbs_mysql_tls;

typedef struct dbs_mysql_dsn {
	const char *user;     /* "" when absent */
	const char *password; /* NULL when absent ("" is an empty password) */
	const char *host;     /* NULL for unix */
	unsigned port;        /* 0 for unix */
	const char *socket;   /* unix socket path, or NULL */
	const char *database; /* "" when absent */
	dbs_mysql_tls tls;
	char *storage_; /* private: every string above points into it */
} dbs_mysql_dsn;

/*
 * Parse `text` into *out. On failure returns a negative DBS_E* code
 * (DBS_ECONFIG for a malformed string, DBS_ENOMEM) and writes a message
 * saying what is wrong to err; *out is then zeroed. The caller frees a
 * parsed DSN with dbs__mysql_dsn_free (which accepts a zeroed one).
 */
int dbs__mysql_dsn_parse(dbs_mysql_dsn *out, const char *text, char *err, size_t errlen);
void dbs__mysql_dsn_free(dbs_mysql_dsn *dsn);

#endif
