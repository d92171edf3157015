/* Observers of connection lifecycles: event log, metrics, notifications.
 * They read connections and never change them: conn.c calls up to them only
 * through the wsf_conn_observer tables they register. */
#ifndef WSF_OBSERVE_H
#define WSF_OBSERVE_H

#include <stdio.h>

#include "conn.h"

/* Opens --events (and registers the event log as a connection observer),
 * starts the loop-lag sampler and --metrics. */
int wsf_observe_init(wsf_daemon *d);
void wsf_observe_close_all(wsf_daemon *d);

void wsf_observe_stop(wsf_daemon *d); /* the stop event; stops serving metrics */

#endif
