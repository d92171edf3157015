/* Many timers on one uv_timer_t: a binary min-heap of intrusive entries.
 *
 * A connection embeds a few wsf_timer (24 bytes each) instead of a
 * uv_timer_t each (~150 bytes, one libuv handle). Start, stop and fire are
 * O(log n); nothing scans all timers. */
#ifndef WSF_TIMER_H
#define WSF_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct wsf_timer wsf_timer;
typedef void (*wsf_timer_cb)(wsf_timer *timer);

struct wsf_timer {
  uint64_t due_us; /* monotonic, wsf_now_us() clock */
  wsf_timer_cb cb;
  uint32_t heap_index; /* 0 = not scheduled; otherwise index + 1 */
  uint32_t early_us;   /* may fire this much before due_us, with a wake-up that is due anyway */
};

typedef struct wsf_timers {
  uv_timer_t handle;
  wsf_timer **heap;
  uint32_t count, capacity;
  uint64_t armed_due_us; /* when handle fires, or UINT64_MAX */
  uint64_t overdue_runs; /* passes run by wsf_timers_run_overdue (stats) */
  uint8_t running;       /* callbacks of a pass are running: no nested pass, one re-arm at its end */
} wsf_timers;

/* How late the earliest entry must be before wsf_timers_run_overdue runs it:
 * above libuv's millisecond timer resolution, so a turn of normal length
 * never takes this path. */
#define WSF_TIMERS_OVERDUE_US 1000

int wsf_timers_init(uv_loop_t *loop, wsf_timers *timers);
void wsf_timers_close(wsf_timers *timers); /* uv_close on the handle; entries are dropped */

/* Runs the entries that are overdue by WSF_TIMERS_OVERDUE_US or more, from
 * inside a long loop turn. libuv runs timers once per turn, before polling,
 * and one poll may hand back a thousand ready sockets (a burst of opens at
 * ~100 µs each holds heartbeats for 45-90 ms at 19,000 connections). Call it
 * only where no caller up the stack holds connection state mid-change: after
 * a socket callback returned (transport.c's after-callback hook) or between
 * two control requests. Costs one clock read when nothing is overdue. */
void wsf_timers_run_overdue(wsf_timers *timers);

void wsf_timer_init(wsf_timer *timer, wsf_timer_cb cb); /* early_us 0 */
/* (Re)schedule at an absolute due time. Cannot fail: the heap grows by the
 * memory rule (util.h, out of memory aborts), so a pong timeout or a connect
 * deadline is never silently left unarmed. */
void wsf_timer_start_at(wsf_timers *timers, wsf_timer *timer, uint64_t due_us);
void wsf_timer_start(wsf_timers *timers, wsf_timer *timer, uint64_t delay_us);
void wsf_timer_stop(wsf_timers *timers, wsf_timer *timer);
static inline bool wsf_timer_active(const wsf_timer *timer) {
  return timer->heap_index != 0;
}

#endif
