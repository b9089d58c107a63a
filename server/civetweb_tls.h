/*
 * HTTPS with Debian's CivetWeb: see civetweb_tls.c.
 */
#ifndef DBS_SERVER_CIVETWEB_TLS_H
#define DBS_SERVER_CIVETWEB_TLS_H

#include <stddef.h>

/*
 * Load the certificate chain (PEM, the server's certificate first) and its
 * private key into the TLS context CivetWeb made (an SSL_CTX), and refuse
 * TLS older than 1.2. 0, or -1 with OpenSSL's reason in err.
 */
int srv_tls_load(void *ssl_ctx, const char *cert_file, const char *key_file, char *err,
                 size_t errlen);

#endif
