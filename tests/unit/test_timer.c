/* Heap timers on one uv_timer_t: order, stop/restart, re-arming from a
 * callback, and 100,000 timers on a real loop. Every loop run is bounded by
 * a watchdog timer. */
#include <stdlib.h>

#include "testlib.h"
#include "timer.h"
#include "util.h"

typedef struct rec {
  wsf_timer timer;
  int id;
  int fired;
  uint64_t fired_at_us;
} rec;

static uv_loop_t loop;
static wsf_timers timers;
static uint64_t *order_due; /* due_us of each firing, in firing order */
static size_t order_len;
static int early_fires;

static void record(wsf_timer *t) {
  rec *r = wsf_container_of(t, rec, timer);
  r->fired++;
  r->fired_at_us = wsf_now_us();
  if (r->fired_at_us < t->due_us)
    early_fires++;
  if (order_due)
    order_due[order_len++] = t->due_us;
}

static bool watchdog_fired;
static void on_watchdog(uv_timer_t *h) {
  watchdog_fired = true;
  uv_stop(h->loop);
}

/* Runs the loop until no timer is left, or timeout_ms passes. */
static void run_loop(uint64_t timeout_ms) {
  uv_timer_t watchdog;
  uv_timer_init(&loop, &watchdog);
  uv_unref((uv_handle_t *)&watchdog); /* the loop ends when only the watchdog is left */
  uv_timer_start(&watchdog, on_watchdog, timeout_ms, 0);
  watchdog_fired = false;
  while (timers.count > 0 && !watchdog_fired)
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&watchdog, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static void setup(void) {
  uv_loop_init(&loop);
  CHECK(wsf_timers_init(&loop, &timers) == 0);
  order_due = NULL;
  order_len = 0;
  early_fires = 0;
}

static void teardown(void) {
  wsf_timers_close(&timers);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  free(order_due);
  order_due = NULL;
}

static bool nondecreasing(const uint64_t *v, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (v[i] < v[i - 1])
      return false;
  return true;
}

/* The heap's root is always the earliest entry, whatever the insertion order. */
static void test_heap_root_is_always_the_earliest(void) {
  setup();
  enum { N = 2000 };
  rec *r = calloc(N, sizeof *r);
  srand(7);
  uint64_t base = wsf_now_us() + 3600ull * 1000000; /* far future: nothing fires */
  for (int i = 0; i < N; i++) {
    wsf_timer_init(&r[i].timer, record);
    wsf_timer_start_at(&timers, &r[i].timer, base + (uint64_t)(rand() % 100000));
    CHECK(wsf_timer_active(&r[i].timer));
  }
  CHECK(timers.count == N);
  uint64_t last = 0;
  int popped = 0;
  while (timers.count > 0) {
    wsf_timer *min = timers.heap[0];
    bool is_min = true;
    for (uint32_t i = 0; i < timers.count; i++)
      if (timers.heap[i]->due_us < min->due_us)
        is_min = false;
    CHECK(is_min);
    CHECK(min->due_us >= last);
    last = min->due_us;
    wsf_timer_stop(&timers, min);
    CHECK(!wsf_timer_active(min));
    popped++;
  }
  CHECK(popped == N);
  free(r);
  teardown();
}

/* Random due times, some in the past: they fire in due order, never early. */
static void test_random_timers_fire_in_due_order(void) {
  setup();
  enum { N = 1000 };
  rec *r = calloc(N, sizeof *r);
  order_due = calloc(N, sizeof *order_due);
  srand(42);
  uint64_t now = wsf_now_us();
  for (int i = 0; i < N; i++) {
    wsf_timer_init(&r[i].timer, record);
    uint64_t due = now - 5000 + (uint64_t)(rand() % 60000); /* -5 ms .. +55 ms */
    wsf_timer_start_at(&timers, &r[i].timer, due);
    CHECK(wsf_timer_active(&r[i].timer));
    CHECK(wsf_timer_active(&r[i].timer));
  }
  run_loop(5000);
  CHECK(!watchdog_fired);
  CHECK(order_len == N);
  CHECK(nondecreasing(order_due, order_len));
  CHECK(early_fires == 0);
  for (int i = 0; i < N; i++)
    CHECK(r[i].fired == 1 && !wsf_timer_active(&r[i].timer));
  free(r);
  teardown();
}

/* Stopped timers never fire; restarted ones fire once, at their new time. */
static void test_stop_and_restart(void) {
  setup();
  enum { N = 20 };
  rec r[N];
  memset(r, 0, sizeof r);
  uint64_t now = wsf_now_us();
  for (int i = 0; i < N; i++) {
    wsf_timer_init(&r[i].timer, record);
    r[i].id = i;
    wsf_timer_start_at(&timers, &r[i].timer, now + 10000 + (uint64_t)i * 1000);
  }
  /* Stop every third, including the earliest (the armed one). */
  for (int i = 0; i < N; i += 3)
    wsf_timer_stop(&timers, &r[i].timer);
  wsf_timer_stop(&timers, &r[0].timer); /* stopping twice is harmless */
  /* Move timer 1 later than everyone, timer 19 earlier than everyone. */
  wsf_timer_start_at(&timers, &r[1].timer, now + 60000);
  wsf_timer_start_at(&timers, &r[19].timer, now + 2000);
  CHECK(timers.heap[0] == &r[19].timer);
  /* Restart a stopped one. */
  wsf_timer_start_at(&timers, &r[3].timer, now + 40000);
  order_due = calloc(N, sizeof *order_due);
  run_loop(5000);
  CHECK(!watchdog_fired);
  for (int i = 0; i < N; i++) {
    bool stopped = i % 3 == 0 && i != 3;
    CHECK(r[i].fired == (stopped ? 0 : 1));
  }
  CHECK(r[19].fired_at_us < r[2].fired_at_us);
  CHECK(r[1].fired_at_us >= now + 60000);
  CHECK(r[1].fired_at_us >= r[18].fired_at_us);
  CHECK(r[3].fired_at_us >= now + 40000);
  CHECK(nondecreasing(order_due, order_len));
  CHECK(early_fires == 0);
  teardown();
}

/* A callback re-arms its own timer: it fires again on a later pass. */
typedef struct repeater {
  wsf_timer timer;
  int left;
  int fired;
} repeater;

static void on_repeat(wsf_timer *t) {
  repeater *rp = wsf_container_of(t, repeater, timer);
  rp->fired++;
  if (--rp->left > 0) {
    wsf_timer_start(&timers, t, 0);
    CHECK(wsf_timer_active(t));
  }
}

/* A callback stops another timer that is due in the same pass. */
static wsf_timer *victim;
static void on_stop_victim(wsf_timer *t) {
  record(t);
  wsf_timer_stop(&timers, victim);
}

static void test_rearm_and_stop_from_inside_a_callback(void) {
  setup();
  repeater rp = {.left = 50};
  wsf_timer_init(&rp.timer, on_repeat);
  wsf_timer_start(&timers, &rp.timer, 0);
  /* A timer due later must still fire while the repeater re-arms for "now". */
  rec later = {0};
  wsf_timer_init(&later.timer, record);
  wsf_timer_start(&timers, &later.timer, 3000);

  rec killer = {0}, killed = {0};
  victim = &killed.timer;
  uint64_t due = wsf_now_us() + 1000;
  wsf_timer_init(&killer.timer, on_stop_victim);
  wsf_timer_init(&killed.timer, record);
  wsf_timer_start_at(&timers, &killer.timer, due);
  wsf_timer_start_at(&timers, &killed.timer, due + 1); /* same pass, after killer */

  run_loop(5000);
  CHECK(!watchdog_fired);
  CHECK(rp.fired == 50);
  CHECK(later.fired == 1);
  CHECK(killer.fired == 1);
  CHECK(killed.fired == 0);
  teardown();
}

/* Closing drops every entry: none stays marked active. */
static void test_close_drops_entries(void) {
  setup();
  rec r[3];
  for (int i = 0; i < 3; i++) {
    wsf_timer_init(&r[i].timer, record);
    wsf_timer_start(&timers, &r[i].timer, 1000000);
  }
  CHECK(timers.count == 3);
  wsf_timers_close(&timers);
  for (int i = 0; i < 3; i++)
    CHECK(!wsf_timer_active(&r[i].timer));
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

/* 100,000 timers spread over 300 ms: all fire, in order, none early, and the
 * whole run stays far below the watchdog. */
static void test_hundred_thousand_timers_fire_in_order(void) {
  setup();
  enum { N = 100000 };
  rec *r = calloc(N, sizeof *r);
  order_due = calloc(N, sizeof *order_due);
  srand(2024);
  uint64_t start = wsf_now_us();
  for (int i = 0; i < N; i++) {
    wsf_timer_init(&r[i].timer, record);
    wsf_timer_start_at(&timers, &r[i].timer, start + (uint64_t)(rand() % 300000));
    CHECK(wsf_timer_active(&r[i].timer));
  }
  run_loop(10000);
  uint64_t elapsed_ms = (wsf_now_us() - start) / 1000;
  CHECK(!watchdog_fired);
  CHECK(order_len == N);
  CHECK(nondecreasing(order_due, order_len));
  CHECK(early_fires == 0);
  /* Late by at most a few loop iterations, even on a busy machine. */
  uint64_t max_late = 0;
  for (int i = 0; i < N; i++)
    if (r[i].fired && r[i].fired_at_us - r[i].timer.due_us > max_late)
      max_late = r[i].fired_at_us - r[i].timer.due_us;
  printf("# 100000 timers: %llu ms total, max lateness %llu us\n", (unsigned long long)elapsed_ms,
         (unsigned long long)max_late);
  CHECK(elapsed_ms < 5000);
  free(r);
  teardown();
}

static void busy_wait_us(uint64_t us) {
  uint64_t end = wsf_now_us() + us;
  while (wsf_now_us() < end) {
  }
}

static int nesting, max_nesting;
static void record_and_try_to_nest(wsf_timer *t) {
  nesting++;
  if (nesting > max_nesting)
    max_nesting = nesting;
  wsf_timers_run_overdue(&timers); /* inside a pass: must not start another */
  record(t);
  nesting--;
}

/* A long loop turn (a burst of opens) calls wsf_timers_run_overdue between
 * callbacks: entries overdue by 1 ms or more run there, nothing else does,
 * passes never nest, and the uv timer stays armed for what is left. */
static void test_overdue_entries_run_inside_a_long_turn(void) {
  setup();
  rec a = {.id = 1}, b = {.id = 2}, later = {.id = 3};
  wsf_timer_init(&a.timer, record_and_try_to_nest);
  wsf_timer_init(&b.timer, record_and_try_to_nest);
  wsf_timer_init(&later.timer, record);
  uint64_t now = wsf_now_us();
  wsf_timer_start_at(&timers, &a.timer, now);
  wsf_timer_start_at(&timers, &b.timer, now + 200);
  wsf_timer_start(&timers, &later.timer, 50 * 1000);
  wsf_timers_run_overdue(&timers); /* due, but not yet overdue by WSF_TIMERS_OVERDUE_US */
  CHECK(a.fired == 0 && timers.overdue_runs == 0);
  busy_wait_us(WSF_TIMERS_OVERDUE_US + 500); /* the turn goes on */
  wsf_timers_run_overdue(&timers);
  CHECK(a.fired == 1 && b.fired == 1 && later.fired == 0);
  CHECK(max_nesting == 1);
  CHECK(timers.overdue_runs == 1);
  CHECK(timers.count == 1 && timers.armed_due_us == later.timer.due_us);
  wsf_timers_run_overdue(&timers); /* nothing overdue left */
  CHECK(timers.overdue_runs == 1);
  run_loop(2000);
  CHECK(later.fired == 1 && early_fires == 0);
  teardown();
}

int main(void) {
  RUN(test_heap_root_is_always_the_earliest);
  RUN(test_random_timers_fire_in_due_order);
  RUN(test_stop_and_restart);
  RUN(test_rearm_and_stop_from_inside_a_callback);
  RUN(test_close_drops_entries);
  RUN(test_hundred_thousand_timers_fire_in_order);
  RUN(test_overdue_entries_run_inside_a_long_turn);
  return wsf_test_result();
}
