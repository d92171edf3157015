/* The control server: msgpack-RPC over a Unix socket (and optionally loopback
 * TCP with a token). Parses requests with the codec, calls the connection API,
 * packs responses. Knows nothing of frames or sockets of WebSockets. */
#ifndef WSF_RPC_H
#define WSF_RPC_H

#include <msgpack.h>

#include "conn.h"

int wsf_rpc_start(wsf_daemon *d); /* listens; returns 0 or -1 (logged) */
void wsf_rpc_stop(wsf_daemon *d); /* closes listeners and clients */
/* Sends an event notification to the control clients subscribed to it. */
void wsf_rpc_notify(wsf_daemon *d, const char *event, const wsf_conn *c);

#endif
