/* Private seam between transport.c (the TCP half) and tls.c (the TLS half).
 *
 * transport.c hands ciphertext to the session and asks it to encrypt;
 * tls.c writes ciphertext back through the raw TCP path and reports
 * handshake results and stream ends through the owner's callbacks. */
#ifndef WSF_TLS_INTERNAL_H
#define WSF_TLS_INTERNAL_H

#include "tls.h"
#include "transport.h"

/* transport.c → tls.c */
int wsf_tls_session_start(wsf_transport *t, wsf_tls_config *cfg, bool server, const char *server_name);
void wsf_tls_session_free(wsf_tls_session *s);
bool wsf_tls_handshake_done(const wsf_transport *t);
/* Ciphertext read from the socket: drives the handshake, then delivers plaintext. */
void wsf_tls_on_ciphertext(wsf_transport *t, const uint8_t *data, size_t len);
/* The socket ended (EOF, reset, error) before or after the handshake. */
void wsf_tls_on_socket_end(wsf_transport *t, int uv_status);
int wsf_tls_write(wsf_transport *t, const uint8_t *data, size_t len);
/* Queues close_notify (once); the TCP FIN follows in transport.c. */
void wsf_tls_shutdown(wsf_transport *t);

/* tls.c → transport.c */
/* Writes bytes to the socket as they are (ciphertext): uv_try_write, the rest queued. */
int wsf_transport_write_raw(wsf_transport *t, const uint8_t *data, size_t len);
/* Delivers on_end once and stops reading. */
void wsf_transport_end(wsf_transport *t, wsf_end_cause cause, const char *detail);
/* Maps a libuv read/write error to an end cause. */
wsf_end_cause wsf_transport_cause_of(int uv_status);

#endif
