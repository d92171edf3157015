/* The seam between transport.c and tls.c: TLS is one filter of the transport
 * (transport.h, "Filters"). transport.c starts it with these parameters and
 * calls it only through wsf_tls_filter; tls.c reaches the socket and the owner
 * only through the wsf_filter_io it is handed at start, never by name. */
#ifndef WSF_TLS_INTERNAL_H
#define WSF_TLS_INTERNAL_H

#include "tls.h"
#include "transport.h"

typedef struct wsf_tls_params {
  wsf_tls_config *cfg;     /* the session takes its own reference */
  bool server;             /* accept (mock gateway) rather than connect */
  const char *server_name; /* client: SNI and name verification; NULL or "" for none */
} wsf_tls_params;

extern const wsf_filter_ops wsf_tls_filter;

#endif
