/* The Prometheus text (exposition format 0.0.4) of the daemon's counters:
 * the third writer of the stats view (view.h). No I/O: metrics.c serves it. */
#ifndef WSF_METRICS_RENDER_H
#define WSF_METRICS_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

/* Text that grows; failed once an allocation failed (the text is then cut). */
typedef struct wsf_text {
  char *p; /* owned: free() it */
  size_t len, cap;
  bool failed;
} wsf_text;

/* Appends the metrics of d at now_us to t. */
void wsf_metrics_render(const wsf_daemon *d, uint64_t now_us, wsf_text *t);

#endif
