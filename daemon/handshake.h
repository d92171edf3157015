/* The HTTP/1.1 upgrade of RFC 6455 §4, both sides, without I/O.
 *
 * The client builds a request and feeds response bytes to a parser (llhttp);
 * the server feeds request bytes and builds the 101. Each parser reports how
 * many bytes it consumed: bytes after the header block are WebSocket frames. */
#ifndef WSF_HANDSHAKE_H
#define WSF_HANDSHAKE_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url.h"

#define WSF_KEY_LEN 24    /* base64 of 16 random bytes */
#define WSF_ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define WSF_MAX_HEADER_BLOCK (16 * 1024)
#define WSF_MAX_HEADERS 64
#define WSF_BODY_KEEP 512 /* bytes of a non-101 body kept for the error */

typedef struct wsf_header {
  char *name; /* lower-cased */
  char *value;
} wsf_header;

/* Sec-WebSocket-Key from the CSPRNG. Returns 0 or -1. */
int wsf_handshake_make_key(char key[WSF_KEY_LEN + 1]);
/* Sec-WebSocket-Accept for a key. */
void wsf_handshake_accept_for(const char *key, size_t key_len, char accept[WSF_ACCEPT_LEN + 1]);

/* Client request. extra: caller's headers (any of Host, Upgrade, Connection,
 * Sec-WebSocket-Key, Sec-WebSocket-Version among them is an error: *error set).
 * Returns a malloc'd NUL-terminated request, or NULL with *error set (bad
 * input only: out of memory aborts). */
char *wsf_handshake_build_request(const wsf_url *url, const char *key, const wsf_header *extra,
                                  size_t n_extra, const char *const *subprotocols, size_t n_subprotocols,
                                  const char *extensions, /* Sec-WebSocket-Extensions offer or NULL */
                                  size_t *len, const char **error);

typedef enum wsf_hs_result {
  WSF_HS_NEED_MORE = 0,
  WSF_HS_DONE = 1,     /* a complete 101 that passed every check */
  WSF_HS_REJECTED = 2, /* a complete answer that is not an acceptable upgrade; see error/status */
  WSF_HS_ERROR = -1,   /* not HTTP, or over the size limits */
} wsf_hs_result;

/* Client side: parses the server's answer. */
typedef struct wsf_hs_response {
  llhttp_t parser;
  llhttp_settings_t settings;
  char expected_accept[WSF_ACCEPT_LEN + 1];
  const char *const *offered_subprotocols;
  size_t n_offered;
  int status; /* HTTP status once headers are complete */
  wsf_header headers[WSF_MAX_HEADERS];
  size_t n_headers;
  size_t header_bytes; /* for the size limit */
  char *body;          /* first WSF_BODY_KEEP bytes of a non-101 body */
  size_t body_len;
  const char *subprotocol; /* points into headers, or NULL */
  const char *extensions;  /* Sec-WebSocket-Extensions value, or NULL */
  const char *error;       /* static words when REJECTED or ERROR */
  bool headers_complete, message_complete;
  /* parser scratch */
  char *cur_name;
  size_t cur_name_len;
  char *cur_value;
  size_t cur_value_len;
  bool in_value;
} wsf_hs_response;

void wsf_hs_response_init(wsf_hs_response *r, const char *key, const char *const *offered_subprotocols,
                          size_t n_offered);
/* Feeds bytes; *consumed tells how many belong to the HTTP answer (the rest,
 * after WSF_HS_DONE, are WebSocket frames). For a non-101 answer the parser
 * waits for the body (up to WSF_BODY_KEEP bytes, or the end of the message)
 * before returning WSF_HS_REJECTED; call wsf_hs_response_eof() when the peer
 * closes to finish a body without a length. */
wsf_hs_result wsf_hs_response_feed(wsf_hs_response *r, const uint8_t *data, size_t len, size_t *consumed);
wsf_hs_result wsf_hs_response_eof(wsf_hs_response *r);
const char *wsf_hs_response_header(const wsf_hs_response *r, const char *lower_name);
void wsf_hs_response_free(wsf_hs_response *r);

/* Server side: parses a client's upgrade request. */
typedef struct wsf_hs_request {
  llhttp_t parser;
  llhttp_settings_t settings;
  char *url; /* request target */
  size_t url_len;
  wsf_header headers[WSF_MAX_HEADERS];
  size_t n_headers;
  size_t header_bytes;
  const char *error;
  bool headers_complete;
  char *cur_name;
  size_t cur_name_len;
  char *cur_value;
  size_t cur_value_len;
  bool in_value;
} wsf_hs_request;

void wsf_hs_request_init(wsf_hs_request *r);
/* WSF_HS_DONE: a valid GET upgrade (Upgrade: websocket, Connection: upgrade,
 * version 13, a 16-byte key); WSF_HS_REJECTED: complete but not a valid
 * upgrade (answer 400 with r->error). */
wsf_hs_result wsf_hs_request_feed(wsf_hs_request *r, const uint8_t *data, size_t len, size_t *consumed);
const char *wsf_hs_request_header(const wsf_hs_request *r, const char *lower_name);
void wsf_hs_request_free(wsf_hs_request *r);

/* The server's 101 for a validated request, choosing subprotocol (may be NULL)
 * and extensions (may be NULL). Returns a malloc'd string, or NULL when
 * subprotocol or extensions are not a safe header value. */
char *wsf_handshake_build_101(const wsf_hs_request *r, const char *subprotocol, const char *extensions,
                              size_t *len);
/* A plain HTTP error answer, e.g. 503 with a short body. Returns a malloc'd string. */
char *wsf_handshake_build_error(int status, const char *reason, const char *body, size_t *len);

#endif
