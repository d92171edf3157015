/* A connection's protocol layer as open asks for it (framing, session steps,
 * auto-reply rules, the preset's hooks): described as plain data (the spec,
 * strings pointing into the request or a preset), then compiled once and
 * interned, so the thousands of sessions opened with the same options share
 * one immutable rule set (a socketio4 set is ~2 KB; per connection only the
 * counters and captures are kept, conn_session.c). No I/O. */
#ifndef WSF_PROTO_H
#define WSF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framing.h"
#include "match.h"

/* Limits (PROTOCOL.md, "Protocol layer"): each is named in the bad_request
 * that refuses an open over it, or counted when hit at run time. */
#define WSF_MAX_RULES 32            /* auto_reply rules per connection, a preset's included */
#define WSF_MAX_STEPS 16            /* session steps per connection */
#define WSF_MAX_CAPTURES 16         /* distinct capture names per connection */
#define WSF_MAX_CAPTURE_BYTES 256   /* a captured value is cut there */
#define WSF_MAX_RULE_NAME_BYTES 64  /* auto_reply name */
#define WSF_MAX_REPLY_BYTES 65536   /* an auto-reply or a session send after expansion */
#define WSF_AUTO_REPLY_NAMES_MAX 64 /* distinct rule names counted in stats; more go to "other" */
#define WSF_SESSION_BODY_BYTES 512  /* the server's message in a session failure */

/* The presets (open's `preset`, wsf_preset): vocab.h. */

/* ---- the spec: what open asked for -------------------------------------------------- */

typedef struct wsf_match_spec {
  const char *contains, *regex, *json_field, *json_value; /* NULL = not given */
  size_t contains_len, regex_len, json_field_len, json_value_len;
  uint8_t opcode; /* `type`: 0 any, 1 text, 2 binary */
} wsf_match_spec;

typedef struct wsf_capture_spec {
  const char *name;
  size_t name_len;
  const char *regex; /* with group, or */
  size_t regex_len;
  uint32_t group;
  const char *json_field; /* the field's value as written (a string without its quotes) */
  size_t json_field_len;
} wsf_capture_spec;

typedef struct wsf_step_spec {
  const uint8_t *send; /* a template; send_opcode 0 = nothing to send */
  size_t send_len;
  uint8_t send_opcode;
  bool has_expect;
  wsf_match_spec expect;
  uint32_t timeout_ms; /* 0: what is left of connect_timeout_ms */
  bool skip_unmatched;
  wsf_capture_spec captures[WSF_MAX_CAPTURES];
  uint8_t n_captures;
} wsf_step_spec;

typedef struct wsf_rule_spec {
  const char *name; /* NULL: "rule<i>" */
  size_t name_len;
  wsf_match_spec match;
  const uint8_t *reply; /* a template; reply_opcode 0 = swallow */
  size_t reply_len;
  uint8_t reply_opcode;
  bool keep_in_inbox;
} wsf_rule_spec;

typedef struct wsf_proto_spec {
  uint8_t framing;      /* wsf_framing_mode */
  uint8_t preset;       /* wsf_preset: its run-time hooks (STOMP heart-beat, SignalR close) */
  uint32_t stomp_cx_ms; /* stomp12: the client's heart-beat offer (cx) */
  wsf_step_spec steps[WSF_MAX_STEPS];
  uint32_t n_steps;
  wsf_rule_spec rules[WSF_MAX_RULES];
  uint32_t n_rules;
} wsf_proto_spec;

/* True when the spec asks for nothing beyond today's behaviour. */
bool wsf_proto_spec_empty(const wsf_proto_spec *s);

/* ---- compiled -------------------------------------------------------------------------- */

typedef struct wsf_rule {
  char *name;
  wsf_match match;
  uint8_t *reply;
  size_t reply_len;
  uint8_t reply_opcode; /* 0: swallow */
  bool reply_has_vars;
  bool keep_in_inbox;
  uint8_t stats_slot; /* index into the daemon's auto-reply names; WSF_AUTO_REPLY_NAMES_MAX = "other" */
} wsf_rule;

typedef struct wsf_capture {
  uint8_t slot; /* index into wsf_proto.capture_names */
  wsf_match regex;
  uint32_t group;
  char *json_field;
} wsf_capture;

typedef struct wsf_step {
  uint8_t *send;
  size_t send_len;
  uint8_t send_opcode;
  bool has_expect;
  wsf_match expect;
  char *expect_words; /* what was expected, for the failure message */
  uint32_t timeout_ms;
  bool skip_unmatched;
  wsf_capture *captures;
  uint8_t n_captures;
} wsf_step;

typedef struct wsf_proto {
  struct wsf_proto *next; /* interned list */
  uint32_t refs;
  uint8_t *key; /* the spec, serialized: equal specs share one wsf_proto */
  size_t key_len;
  uint8_t framing, preset;
  uint32_t stomp_cx_ms;
  wsf_step *steps;
  uint32_t n_steps;
  wsf_rule *rules;
  uint32_t n_rules;
  char *capture_names[WSF_MAX_CAPTURES];
  uint8_t n_capture_names;
} wsf_proto;

/* The daemon's interned sets and the names auto-reply counts are kept under
 * (stats `auto_replies`); the names outlive reset so a slot never changes
 * meaning while a set uses it. */
typedef struct wsf_proto_table {
  wsf_proto *head;
  char *names[WSF_AUTO_REPLY_NAMES_MAX];
  uint8_t n_names;
} wsf_proto_table;

/* The compiled set for spec (a new reference: wsf_proto_release it), or NULL
 * with words naming the field in err (e.g. "auto_reply[2].match: bad regex:
 * ..."). */
wsf_proto *wsf_proto_get(wsf_proto_table *t, const wsf_proto_spec *spec, char *err, size_t errlen);
wsf_proto *wsf_proto_ref(wsf_proto *p);
void wsf_proto_release(wsf_proto_table *t, wsf_proto *p);
void wsf_proto_table_free(wsf_proto_table *t);
/* The capture slot of name in p, or -1. */
int wsf_proto_capture_slot(const wsf_proto *p, const char *name, size_t len);

#endif
