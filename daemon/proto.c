/* Compiling and interning a connection's protocol layer: see proto.h. */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

bool wsf_proto_spec_empty(const wsf_proto_spec *s) {
  return s->framing == WSF_FRAMING_MESSAGE && s->preset == WSF_PRESET_NONE && !s->n_steps && !s->n_rules;
}

/* ---- the key: the spec serialized ------------------------------------------------------ */

typedef struct keybuf {
  uint8_t *p;
  size_t len, cap;
} keybuf;

static void put(keybuf *k, const void *data, size_t len) {
  if (k->len + len > k->cap) {
    k->cap = (k->len + len) * 2 + 64;
    k->p = wsf_xrealloc(k->p, k->cap);
  }
  if (len)
    memcpy(k->p + k->len, data, len);
  k->len += len;
}

static void put_u64(keybuf *k, uint64_t v) {
  put(k, &v, sizeof v);
}

/* Absent and empty differ: NULL is written as length UINT64_MAX. */
static void put_str(keybuf *k, const void *s, size_t len) {
  put_u64(k, s ? len : UINT64_MAX);
  if (s)
    put(k, s, len);
}

static void put_match(keybuf *k, const wsf_match_spec *m) {
  put_str(k, m->contains, m->contains_len);
  put_str(k, m->regex, m->regex_len);
  put_str(k, m->json_field, m->json_field_len);
  put_str(k, m->json_value, m->json_value_len);
  put_u64(k, m->opcode);
}

static keybuf spec_key(const wsf_proto_spec *s) {
  keybuf k = {0};
  put_u64(&k, s->framing);
  put_u64(&k, s->preset);
  put_u64(&k, s->stomp_cx_ms);
  put_u64(&k, s->n_steps);
  for (uint32_t i = 0; i < s->n_steps; i++) {
    const wsf_step_spec *st = &s->steps[i];
    put_u64(&k, st->send_opcode);
    put_str(&k, st->send, st->send_len);
    put_u64(&k, st->has_expect);
    put_match(&k, &st->expect);
    put_u64(&k, st->timeout_ms);
    put_u64(&k, st->skip_unmatched);
    put_u64(&k, st->n_captures);
    for (uint8_t j = 0; j < st->n_captures; j++) {
      const wsf_capture_spec *c = &st->captures[j];
      put_str(&k, c->name, c->name_len);
      put_str(&k, c->regex, c->regex_len);
      put_u64(&k, c->group);
      put_str(&k, c->json_field, c->json_field_len);
    }
  }
  put_u64(&k, s->n_rules);
  for (uint32_t i = 0; i < s->n_rules; i++) {
    const wsf_rule_spec *r = &s->rules[i];
    put_str(&k, r->name, r->name_len);
    put_match(&k, &r->match);
    put_u64(&k, r->reply_opcode);
    put_str(&k, r->reply, r->reply_len);
    put_u64(&k, r->keep_in_inbox);
  }
  return k;
}

/* ---- compiling ------------------------------------------------------------------------ */

static int compile_match(wsf_match *m, const wsf_match_spec *s, const char *field, char *err, size_t errlen) {
  char why[240];
  if (wsf_match_init_groups(m, s->contains, s->contains_len, s->regex, s->regex_len, s->json_field,
                            s->json_field_len, s->json_value, s->json_value_len, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s: %s", field, why);
    return -1;
  }
  m->opcode = s->opcode;
  return 0;
}

/* "regex \"^CONNECTED\"", for a failed step's message (each criterion cut at 80 bytes). */
static char *match_words(const wsf_match_spec *s) {
  char buf[512];
  size_t n = 0;
#define WORDS(...)                                                                                           \
  n += (size_t)snprintf(buf + n, sizeof buf - n, __VA_ARGS__), n = n < sizeof buf ? n : sizeof buf - 1
  if (s->contains)
    WORDS("%scontains \"%.*s\"", n ? ", " : "", (int)(s->contains_len > 80 ? 80 : s->contains_len),
          s->contains);
  if (s->regex)
    WORDS("%sregex \"%.*s\"", n ? ", " : "", (int)(s->regex_len > 80 ? 80 : s->regex_len), s->regex);
  if (s->json_field)
    WORDS("%sjson_field %.*s%s%.*s", n ? ", " : "", (int)(s->json_field_len > 80 ? 80 : s->json_field_len),
          s->json_field, s->json_value ? " = " : "", (int)(s->json_value_len > 80 ? 80 : s->json_value_len),
          s->json_value ? s->json_value : "");
  if (s->opcode)
    WORDS("%stype %s", n ? ", " : "", s->opcode == 1 ? "text" : "binary");
  if (!n)
    WORDS("any message");
#undef WORDS
  return wsf_xstrndup(buf, strlen(buf));
}

static uint8_t *copy_bytes(const uint8_t *p, size_t len) {
  return p ? (uint8_t *)wsf_xstrndup((const char *)p, len) : NULL;
}

int wsf_proto_capture_slot(const wsf_proto *p, const char *name, size_t len) {
  for (uint8_t i = 0; i < p->n_capture_names; i++)
    if (strlen(p->capture_names[i]) == len && memcmp(p->capture_names[i], name, len) == 0)
      return i;
  return -1;
}

static void proto_free(wsf_proto *p) {
  for (uint32_t i = 0; i < p->n_steps; i++) {
    wsf_step *st = &p->steps[i];
    free(st->send);
    wsf_match_free(&st->expect);
    free(st->expect_words);
    for (uint8_t j = 0; j < st->n_captures; j++) {
      wsf_match_free(&st->captures[j].regex);
      free(st->captures[j].json_field);
    }
    free(st->captures);
  }
  free(p->steps);
  for (uint32_t i = 0; i < p->n_rules; i++) {
    free(p->rules[i].name);
    wsf_match_free(&p->rules[i].match);
    free(p->rules[i].reply);
  }
  free(p->rules);
  for (uint8_t i = 0; i < p->n_capture_names; i++)
    free(p->capture_names[i]);
  free(p->key);
  free(p);
}

static uint8_t stats_slot(wsf_proto_table *t, const char *name) {
  for (uint8_t i = 0; i < t->n_names; i++)
    if (strcmp(t->names[i], name) == 0)
      return i;
  if (t->n_names == WSF_AUTO_REPLY_NAMES_MAX)
    return WSF_AUTO_REPLY_NAMES_MAX;
  t->names[t->n_names] = wsf_xstrndup(name, strlen(name));
  return t->n_names++;
}

static wsf_proto *compile(wsf_proto_table *t, const wsf_proto_spec *s, char *err, size_t errlen) {
  wsf_proto *p = wsf_xcalloc(1, sizeof *p);
  char field[64];
  p->framing = s->framing;
  p->preset = s->preset;
  p->stomp_cx_ms = s->stomp_cx_ms;
  p->steps = wsf_xcalloc(s->n_steps ? s->n_steps : 1, sizeof *p->steps);
  p->n_steps = s->n_steps; /* every entry is zeroed: a failure part way frees what was made */
  for (uint32_t i = 0; i < s->n_steps; i++) {
    const wsf_step_spec *ss = &s->steps[i];
    wsf_step *st = &p->steps[i];
    st->send = copy_bytes(ss->send, ss->send_len);
    st->send_len = ss->send_len;
    st->send_opcode = ss->send_opcode;
    st->has_expect = ss->has_expect;
    st->timeout_ms = ss->timeout_ms;
    st->skip_unmatched = ss->skip_unmatched;
    st->captures = wsf_xcalloc(ss->n_captures ? ss->n_captures : 1, sizeof *st->captures);
    if (ss->has_expect) {
      snprintf(field, sizeof field, "session[%u].expect", i);
      if (compile_match(&st->expect, &ss->expect, field, err, errlen) != 0)
        goto fail;
      st->expect_words = match_words(&ss->expect);
    }
    st->n_captures = ss->n_captures;
    for (uint8_t j = 0; j < ss->n_captures; j++) {
      const wsf_capture_spec *cs = &ss->captures[j];
      wsf_capture *c = &st->captures[j];
      int slot = wsf_proto_capture_slot(p, cs->name, cs->name_len);
      if (slot < 0) {
        if (p->n_capture_names == WSF_MAX_CAPTURES) {
          snprintf(err, errlen, "session: more than %d capture names (the limit per connection)",
                   WSF_MAX_CAPTURES);
          goto fail;
        }
        slot = p->n_capture_names;
        p->capture_names[p->n_capture_names++] = wsf_xstrndup(cs->name, cs->name_len);
      }
      c->slot = (uint8_t)slot;
      c->group = cs->group;
      if (cs->regex) {
        snprintf(field, sizeof field, "session[%u].capture.%.*s", i,
                 (int)(cs->name_len > 24 ? 24 : cs->name_len), cs->name);
        wsf_match_spec rs = {.regex = cs->regex, .regex_len = cs->regex_len};
        if (compile_match(&c->regex, &rs, field, err, errlen) != 0)
          goto fail;
      } else {
        c->json_field = wsf_xstrndup(cs->json_field, cs->json_field_len);
      }
    }
  }
  p->rules = wsf_xcalloc(s->n_rules ? s->n_rules : 1, sizeof *p->rules);
  p->n_rules = s->n_rules;
  for (uint32_t i = 0; i < s->n_rules; i++) {
    const wsf_rule_spec *rs = &s->rules[i];
    wsf_rule *r = &p->rules[i];
    char name[WSF_MAX_RULE_NAME_BYTES + 1];
    if (rs->name)
      snprintf(name, sizeof name, "%.*s", (int)rs->name_len, rs->name);
    else
      snprintf(name, sizeof name, "rule%u", i);
    r->name = wsf_xstrndup(name, strlen(name));
    snprintf(field, sizeof field, "auto_reply[%u].match", i);
    if (compile_match(&r->match, &rs->match, field, err, errlen) != 0)
      goto fail;
    r->reply = copy_bytes(rs->reply, rs->reply_len);
    r->reply_len = rs->reply_len;
    r->reply_opcode = rs->reply_opcode;
    r->reply_has_vars = rs->reply && wsf_template_has_vars(rs->reply, rs->reply_len);
    r->keep_in_inbox = rs->keep_in_inbox;
    r->stats_slot = stats_slot(t, r->name);
  }
  return p;
fail:
  proto_free(p);
  return NULL;
}

/* ---- interning ------------------------------------------------------------------------ */

wsf_proto *wsf_proto_get(wsf_proto_table *t, const wsf_proto_spec *spec, char *err, size_t errlen) {
  keybuf k = spec_key(spec);
  for (wsf_proto *p = t->head; p; p = p->next)
    if (p->key_len == k.len && memcmp(p->key, k.p, k.len) == 0) {
      free(k.p);
      p->refs++;
      return p;
    }
  wsf_proto *p = compile(t, spec, err, errlen);
  if (!p) {
    free(k.p);
    return NULL;
  }
  p->key = k.p;
  p->key_len = k.len;
  p->refs = 1;
  p->next = t->head;
  t->head = p;
  return p;
}

wsf_proto *wsf_proto_ref(wsf_proto *p) {
  if (p)
    p->refs++;
  return p;
}

void wsf_proto_release(wsf_proto_table *t, wsf_proto *p) {
  if (!p || --p->refs > 0)
    return;
  for (wsf_proto **pp = &t->head; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  proto_free(p);
}

void wsf_proto_table_free(wsf_proto_table *t) {
  while (t->head) {
    wsf_proto *p = t->head;
    t->head = p->next;
    proto_free(p);
  }
  for (uint8_t i = 0; i < t->n_names; i++)
    free(t->names[i]);
  t->n_names = 0;
}
