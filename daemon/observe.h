/* Observers of connection lifecycles: event log, metrics, notifications.
 * They read connections and never change them (DESIGN.md §2). */
#ifndef WSF_OBSERVE_H
#define WSF_OBSERVE_H

#include <stdio.h>

#include "conn.h"

int wsf_observe_init(wsf_daemon *d); /* opens --events, starts --metrics */
void wsf_observe_close_all(wsf_daemon *d);

void wsf_observe_open(wsf_daemon *d, const wsf_conn *c);
void wsf_observe_closed(wsf_daemon *d, const wsf_conn *c);
void wsf_observe_handshake_failed(wsf_daemon *d, const wsf_conn *c);
void wsf_observe_drop(wsf_daemon *d, const wsf_conn *c);
void wsf_observe_stop(wsf_daemon *d); /* the stop event; stops serving metrics */

#endif
