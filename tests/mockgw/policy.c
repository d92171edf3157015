/* Idle timeout, overload mode, required heartbeat, maximum session age and
 * random resets: when a session is dropped.
 *
 * Deadlines are lazy. A frame only stores its arrival time (no heap work on
 * the hot path); the session's one policy timer fires at the deadline that
 * was current when it was set, recomputes it from the stored times and the
 * timeout now in force, and either drops the session or sleeps again. So
 * every session event costs O(1), a timer fire O(log n). When overload mode
 * engages (shorter timeout) one pass pulls every open session's timer in;
 * when it disengages nothing is needed, early timers just sleep again. */
#include "mockgw.h"
#include "util.h"

uint64_t mgw_policy_idle_timeout(const mgw_gateway *gw) {
  if (gw->overloaded)
    return gw->cfg.overload_idle_timeout_us;
  return gw->cfg.idle_timeout_us;
}

/* The earliest instant this session must be looked at, or UINT64_MAX. */
static uint64_t deadline(const mgw_session *s) {
  const mgw_config *cfg = &s->gw->cfg;
  uint64_t due = UINT64_MAX;
  uint64_t idle = mgw_policy_idle_timeout(s->gw);
  if (idle)
    due = s->last_activity_us + idle;
  if (cfg->require_heartbeat_us) {
    uint64_t hb = s->last_heartbeat_us + cfg->require_heartbeat_us;
    if (hb < due)
      due = hb;
  }
  if (cfg->max_age_us && s->opened_us + cfg->max_age_us < due)
    due = s->opened_us + cfg->max_age_us;
  if (s->reset_at_us && s->reset_at_us < due)
    due = s->reset_at_us;
  return due;
}

/* xorshift64*: the same --seed gives the same resets for the same arrivals. */
static uint64_t next_random(mgw_gateway *gw) {
  uint64_t x = gw->rng ? gw->rng : 0x9E3779B97F4A7C15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  gw->rng = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* --reset-share F --reset-within T: a share F of sessions, drawn at open, get
 * an RST at an age uniform in (0, T], whatever they do. */
static void draw_reset(mgw_session *s) {
  mgw_gateway *gw = s->gw;
  const mgw_config *cfg = &gw->cfg;
  s->reset_at_us = 0;
  if (!(cfg->reset_share > 0) || !cfg->reset_within_us)
    return;
  double u = (next_random(gw) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
  if (u >= cfg->reset_share)
    return;
  s->reset_at_us = s->opened_us + 1 + next_random(gw) % cfg->reset_within_us;
}

static void on_policy_timer(wsf_timer *timer) {
  mgw_session *s = wsf_container_of(timer, mgw_session, policy);
  if (s->state != MGW_S_OPEN)
    return;
  mgw_gateway *gw = s->gw;
  uint64_t now = wsf_now_us();
  uint64_t idle = mgw_policy_idle_timeout(gw);
  if (idle && now >= s->last_activity_us + idle) {
    mgw_session_drop(s, gw->overloaded ? MGW_REASON_IDLE_OVERLOAD : MGW_REASON_IDLE);
    return;
  }
  if (gw->cfg.require_heartbeat_us && now >= s->last_heartbeat_us + gw->cfg.require_heartbeat_us) {
    mgw_session_drop(s, MGW_REASON_HEARTBEAT);
    return;
  }
  if (gw->cfg.max_age_us && now >= s->opened_us + gw->cfg.max_age_us) {
    mgw_session_drop(s, MGW_REASON_MAX_AGE);
    return;
  }
  if (s->reset_at_us && now >= s->reset_at_us) {
    mgw_session_drop(s, MGW_REASON_RANDOM_RESET);
    return;
  }
  uint64_t due = deadline(s);
  if (due != UINT64_MAX)
    wsf_timer_start_at(&gw->timers, &s->policy, due);
}

void mgw_policy_session_open(mgw_session *s) {
  uint64_t now = wsf_now_us();
  s->last_activity_us = s->last_heartbeat_us = s->opened_us = now;
  draw_reset(s);
  wsf_timer_init(&s->policy, on_policy_timer);
  uint64_t due = deadline(s);
  if (due != UINT64_MAX)
    wsf_timer_start_at(&s->gw->timers, &s->policy, due);
}

void mgw_policy_note_frame(mgw_session *s, int opcode) {
  uint64_t now = wsf_now_us();
  s->last_frame_us = now;
  bool data = opcode == WSF_WS_TEXT || opcode == WSF_WS_BINARY;
  if (data || s->gw->cfg.activity == MGW_ACTIVITY_ANY)
    s->last_activity_us = now;
  if (opcode == WSF_WS_PING)
    s->last_heartbeat_us = now;
}

void mgw_policy_note_heartbeat(mgw_session *s) {
  s->last_heartbeat_us = wsf_now_us();
}

void mgw_policy_engage(mgw_gateway *gw) {
  uint64_t now = wsf_now_us();
  for (mgw_session *s = gw->sessions; s; s = s->next) {
    if (s->state != MGW_S_OPEN)
      continue;
    uint64_t due = deadline(s);
    if (due == UINT64_MAX)
      continue;
    /* Overdue sessions fire on the next timer pass, one at a time, so each
     * drop re-checks whether overload still holds. */
    if (due < now)
      due = now;
    if (!wsf_timer_active(&s->policy) || due < s->policy.due_us)
      wsf_timer_start_at(&gw->timers, &s->policy, due);
  }
}
