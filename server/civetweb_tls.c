/*
 * Debian 12's CivetWeb 1.15 is built for the OpenSSL 1.1 API: it opens
 * "libssl.so" at run time and looks up SSL_get_peer_certificate, which
 * OpenSSL 3 has only as a macro for SSL_get1_peer_certificate. CivetWeb
 * then calls a null pointer on every TLS connection, after the handshake.
 *
 * This library is named libssl.so and depends on the real libssl.so.3.
 * dbs-server links it (from a directory of its own, never the system's
 * library directory), so when CivetWeb opens "libssl.so" the loader hands
 * it this object, already loaded under that name: the function below is
 * found here, every other one in the real library behind it. dbs-server
 * loads the certificate through it too, so the linker keeps it.
 */
#include "civetweb_tls.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

X509 *SSL_get_peer_certificate(const SSL *ssl);

X509 *SSL_get_peer_certificate(const SSL *ssl)
{
	return SSL_get1_peer_certificate(ssl);
}

int srv_tls_load(void *ssl_ctx, const char *cert_file, const char *key_file, char *err,
                 size_t errlen)
{
	SSL_CTX *ctx = ssl_ctx;
	unsigned long e;

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
	    SSL_CTX_use_certificate_chain_file(ctx, cert_file) == 1 &&
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1)
		return 0;
	e = ERR_get_error();
	snprintf(err, errlen, "%s", e ? ERR_reason_error_string(e) : "unknown error");
	ERR_clear_error();
	return -1;
}
