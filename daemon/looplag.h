/* How late the daemon's event loop runs: a timer that re-arms itself every
 * period and, each time it fires, adds how far past its due time it ran to a
 * histogram. A loop busy with a burst of opens, reads or control requests,
 * or starved of CPU by another process, shows here before heartbeats do. */
#ifndef WSF_LOOPLAG_H
#define WSF_LOOPLAG_H

#include <stdint.h>
#include <uv.h>

#include "daemon.h"

/* Each firing is a wake-up of an otherwise idle loop: measured on this
 * project's 2-core VM, an idle daemon used 3.0 ms of CPU a second with a
 * 10 ms period, 0.57 ms with 50 ms, 0.03 ms with 1 s. 50 ms: a stall of 50 ms
 * or more is always seen (and its size within 50 ms); a shorter one when a
 * firing falls in it. Heartbeat lateness is measured on every heartbeat
 * anyway; this figure is for the loop as a whole, which a drop verdict reads
 * in seconds, not milliseconds. */
#define WSF_LOOPLAG_PERIOD_MS 50

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
