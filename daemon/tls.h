/* TLS configuration and sessions (OpenSSL over memory BIOs).
 *
 * One wsf_tls_config (one SSL_CTX) per distinct configuration, shared by every
 * connection that uses it; configs are interned by wsf_tls_config_get() and
 * reference-counted (wsf_tls_config_release()). A
 * session allocates its SSL* only while the connection lives, and idle sessions
 * hold no record buffers (SSL_MODE_RELEASE_BUFFERS). */
#ifndef WSF_TLS_H
#define WSF_TLS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wsf_tls_config wsf_tls_config;

typedef struct wsf_tls_options {
  bool server;           /* server side (mock gateway) */
  bool verify;           /* client: verify the peer certificate and host name (default true) */
  const char *ca_file;   /* client: trust anchors; NULL = system store */
  const char *cert_file; /* client certificate, or server certificate */
  const char *key_file;
  const char *ciphers;        /* OpenSSL cipher list (TLS 1.2); NULL = default */
  const char *client_ca_file; /* server: require and verify client certificates from this CA */
  /* server (mock gateway --tls-tickets): issue one stateless session ticket per
   * handshake and resume the sessions they carry.
   * client: resume sessions (--tls-session-cache): the latest session (TLS 1.3
   * ticket, or TLS 1.2 ticket/id) per gateway address and server name is kept
   * and offered by the next connection there, at most WSF_TLS_RESUME_SLOTS of
   * them per config. A resumed session shares the server's decoded certificate
   * instead of keeping its own copy (4.0 KiB less per idle connection, measured:
   * tests/bench/RESULTS.md). */
  bool resume;
} wsf_tls_options;
/* Gateway (address, server name) pairs a config keeps a session for; later
 * pairs still connect, with full handshakes. */
#define WSF_TLS_RESUME_SLOTS 64

/* Returns a shared config for these options (created on first use), or NULL
 * with *err set to words for the failure (e.g. "cannot read key file: ..."). */
wsf_tls_config *wsf_tls_config_get(const wsf_tls_options *opts, char *err, size_t errlen);
/* Each successful get takes a reference: release it when the session has
 * started (or the open failed before). The last release frees the SSL_CTX
 * (~845 KiB each, building one takes ~18 ms on the loop); sessions still
 * running keep their SSL_CTX through OpenSSL's own count. */
void wsf_tls_config_release(wsf_tls_config *cfg);
/* Frees every interned config (at exit). */
void wsf_tls_config_free_all(void);

/* Version and cipher of an established session, for open's result. */
struct wsf_transport;
const char *wsf_tls_version(const struct wsf_transport *t);
const char *wsf_tls_cipher(const struct wsf_transport *t);
bool wsf_tls_verified(const struct wsf_transport *t);
/* The established session resumed an earlier one (SSL_session_reused). */
bool wsf_tls_resumed(const struct wsf_transport *t);

#endif
