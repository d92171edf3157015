/* Prometheus text metrics on an optional loopback HTTP port (--metrics).
 * Reads the daemon's counters; serves GET /metrics and nothing else. */
#ifndef WSF_METRICS_H
#define WSF_METRICS_H

#include "daemon.h"

int wsf_metrics_start(wsf_daemon *d, const char *addr); /* "127.0.0.1:9464"; 0 or -1 (logged) */
void wsf_metrics_stop(wsf_daemon *d);

#endif
