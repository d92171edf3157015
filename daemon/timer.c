#include "timer.h"

#include <stdlib.h>

#include "util.h"

static void heap_set(wsf_timers *ts, uint32_t i, wsf_timer *t) {
  ts->heap[i] = t;
  t->heap_index = i + 1;
}

static void sift_up(wsf_timers *ts, uint32_t i) {
  wsf_timer *t = ts->heap[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (ts->heap[parent]->due_us <= t->due_us)
      break;
    heap_set(ts, i, ts->heap[parent]);
    i = parent;
  }
  heap_set(ts, i, t);
}

static void sift_down(wsf_timers *ts, uint32_t i) {
  wsf_timer *t = ts->heap[i];
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= ts->count)
      break;
    if (child + 1 < ts->count && ts->heap[child + 1]->due_us < ts->heap[child]->due_us)
      child++;
    if (t->due_us <= ts->heap[child]->due_us)
      break;
    heap_set(ts, i, ts->heap[child]);
    i = child;
  }
  heap_set(ts, i, t);
}

static void heap_remove(wsf_timers *ts, wsf_timer *t) {
  uint32_t i = t->heap_index - 1;
  t->heap_index = 0;
  ts->count--;
  if (i == ts->count)
    return;
  heap_set(ts, i, ts->heap[ts->count]);
  sift_down(ts, i);
  sift_up(ts, ts->heap[i]->heap_index - 1);
}

static void on_uv_timer(uv_timer_t *handle);

/* Keep the one uv timer armed for the earliest entry; re-arm only when that changes. */
static void rearm(wsf_timers *ts) {
  if (ts->running)
    return; /* run_due re-arms once when it is done, not once per entry its callbacks restart */
  if (ts->count == 0) {
    if (ts->armed_due_us != UINT64_MAX) {
      uv_timer_stop(&ts->handle);
      ts->armed_due_us = UINT64_MAX;
    }
    return;
  }
  uint64_t due = ts->heap[0]->due_us;
  if (due == ts->armed_due_us)
    return;
  uint64_t now = wsf_now_us();
  /* libuv timers have millisecond resolution: round up so we never fire early. */
  uint64_t delay_ms = due > now ? (due - now + 999) / 1000 : 0;
  uv_timer_start(&ts->handle, on_uv_timer, delay_ms, 0);
  ts->armed_due_us = due;
}

/* Runs the entries due at now, then re-arms the uv timer once. */
static void run_due(wsf_timers *ts, uint64_t now) {
  ts->running = 1;
  /* Bounded by the entries due now; a callback that re-arms itself for "now"
   * would spin, so entries re-armed during this pass wait for the next one.
   * Entries that allow it (heartbeats) ride along a little early: thousands
   * of connections' beats then share wake-ups instead of one each. */
  uint32_t budget = ts->count;
  while (ts->count > 0 && budget-- > 0 && ts->heap[0]->due_us <= now + ts->heap[0]->early_us) {
    wsf_timer *t = ts->heap[0];
    heap_remove(ts, t);
    t->cb(t);
  }
  ts->running = 0;
  rearm(ts);
}

static void on_uv_timer(uv_timer_t *handle) {
  wsf_timers *ts = wsf_container_of(handle, wsf_timers, handle);
  ts->armed_due_us = UINT64_MAX; /* it fired: no longer armed */
  uv_update_time(handle->loop);
  run_due(ts, wsf_now_us());
}

void wsf_timers_run_overdue(wsf_timers *ts) {
  if (ts->running || ts->count == 0)
    return;
  uint64_t now = wsf_now_us();
  if (ts->heap[0]->due_us + WSF_TIMERS_OVERDUE_US > now)
    return;
  ts->overdue_runs++;
  uv_update_time(
      ts->handle.loop); /* rearm's uv timer counts from the loop's clock, stale this late in a turn */
  run_due(ts, now);
}

int wsf_timers_init(uv_loop_t *loop, wsf_timers *ts) {
  ts->heap = NULL;
  ts->count = ts->capacity = 0;
  ts->armed_due_us = UINT64_MAX;
  ts->running = 0;
  ts->overdue_runs = 0;
  return uv_timer_init(loop, &ts->handle);
}

void wsf_timers_close(wsf_timers *ts) {
  for (uint32_t i = 0; i < ts->count; i++)
    ts->heap[i]->heap_index = 0;
  ts->count = 0;
  free(ts->heap);
  ts->heap = NULL;
  ts->capacity = 0;
  uv_close((uv_handle_t *)&ts->handle, NULL);
}

void wsf_timer_init(wsf_timer *t, wsf_timer_cb cb) {
  t->due_us = 0;
  t->cb = cb;
  t->heap_index = 0;
  t->early_us = 0;
}

void wsf_timer_start_at(wsf_timers *ts, wsf_timer *t, uint64_t due_us) {
  if (t->heap_index) {
    uint64_t old = t->due_us;
    t->due_us = due_us;
    uint32_t i = t->heap_index - 1;
    if (due_us < old)
      sift_up(ts, i);
    else
      sift_down(ts, i);
  } else {
    if (ts->count == ts->capacity) {
      uint32_t cap = ts->capacity ? ts->capacity * 2 : 64;
      ts->heap = wsf_xrealloc(ts->heap, cap * sizeof *ts->heap);
      ts->capacity = cap;
    }
    t->due_us = due_us;
    ts->heap[ts->count] = t;
    t->heap_index = ++ts->count;
    sift_up(ts, ts->count - 1);
  }
  rearm(ts);
}

void wsf_timer_start(wsf_timers *ts, wsf_timer *t, uint64_t delay_us) {
  wsf_timer_start_at(ts, t, wsf_now_us() + delay_us);
}

void wsf_timer_stop(wsf_timers *ts, wsf_timer *t) {
  if (!t->heap_index)
    return;
  heap_remove(ts, t);
  rearm(ts);
}
