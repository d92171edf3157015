/* How late the daemon's event loop runs: a timer that re-arms itself every
 * period and, each time it fires, adds how far past its due time it ran to a
 * histogram. A loop busy with a burst of opens, reads or control requests,
 * or starved of CPU by another process, shows here before heartbeats do. */
#ifndef WSF_LOOPLAG_H
#define WSF_LOOPLAG_H

#include <stdint.h>
#include <uv.h>

#include "daemon.h"

/* 10 ms: any stall longer than that is seen, for 100 wake-ups a second
 * (measured: an idle daemon used no scheduler tick in 20 s, < 0.05 % of a
 * core). */
#define WSF_LOOPLAG_PERIOD_MS 10

typedef struct wsf_looplag {
  uv_timer_t timer;
  uint64_t due_us; /* libuv's loop clock, in µs */
  wsf_hist *into;  /* not owned; the daemon's stats.loop_lag */
} wsf_looplag;

/* Starts sampling into *into (which must outlive the sampler). The timer is
 * unreferenced: it never keeps the loop alive. Returns 0 or a libuv error. */
int wsf_looplag_start(uv_loop_t *loop, wsf_looplag *lag, wsf_hist *into);
/* uv_close on the timer; lag must stay valid until the loop has run the close. */
void wsf_looplag_stop(wsf_looplag *lag);

#endif
