/* framing.c: records out of WebSocket messages (record_separator, stomp),
 * records split across messages, STOMP EOL heart-beats, the carry bound,
 * and a callback that stops the feed. Every split of a stream must give the
 * same records as the whole stream. */
#include <stdlib.h>

#include "framing.h"
#include "testlib.h"

typedef struct seen {
  char text[4096];
  size_t len;
  int records, heartbeats;
  int stop_after; /* 0: never stop */
} seen;

static bool on_record(void *ctx, int opcode, const uint8_t *data, size_t len) {
  seen *s = ctx;
  s->records++;
  s->len += (size_t)snprintf(s->text + s->len, sizeof s->text - s->len, "[%d:%.*s]", opcode, (int)len,
                             (const char *)data);
  return !(s->stop_after && s->records >= s->stop_after);
}

static bool on_heartbeat(void *ctx) {
  seen *s = ctx;
  s->heartbeats++;
  s->len += (size_t)snprintf(s->text + s->len, sizeof s->text - s->len, "<hb>");
  return true;
}

static const wsf_framing_callbacks cb = {on_record, on_heartbeat};

static int feed(wsf_framer *f, seen *s, const char *msg) {
  return wsf_framer_feed(f, 1, (const uint8_t *)msg, strlen(msg), &cb, s);
}

/* A literal with NUL bytes in it. */
#define FEED_LIT(f, s, lit) wsf_framer_feed((f), 1, (const uint8_t *)(lit), sizeof(lit) - 1, &cb, (s))

static void test_names_and_terminators(void) {
  CHECK(wsf_framing_parse("record_separator", 16) == WSF_FRAMING_RECORD_SEPARATOR);
  CHECK(wsf_framing_parse("stomp", 5) == WSF_FRAMING_STOMP);
  CHECK(wsf_framing_parse("message", 7) == WSF_FRAMING_MESSAGE);
  CHECK(wsf_framing_parse("lines", 5) == -1);
  CHECK_STR(wsf_framing_name(WSF_FRAMING_STOMP), "stomp");
  CHECK(wsf_framing_terminator(WSF_FRAMING_RECORD_SEPARATOR) == 0x1E);
  CHECK(wsf_framing_terminator(WSF_FRAMING_STOMP) == 0);
  CHECK(wsf_framing_terminator(WSF_FRAMING_MESSAGE) == -1);
}

static void test_message_mode_passes_each_message(void) {
  wsf_framer f;
  seen s = {0};
  wsf_framer_init(&f, WSF_FRAMING_MESSAGE, 100);
  CHECK(feed(&f, &s,
             "a\x1e"
             "b") == WSF_FRAMING_OK);
  CHECK(wsf_framer_feed(&f, 2, (const uint8_t *)"", 0, &cb, &s) == WSF_FRAMING_OK);
  CHECK_STR(s.text, "[1:a\x1e"
                    "b][2:]");
  wsf_framer_free(&f);
}

static void test_record_separator_several_per_message_and_split(void) {
  wsf_framer f;
  seen s = {0};
  wsf_framer_init(&f, WSF_FRAMING_RECORD_SEPARATOR, 100);
  CHECK(feed(&f, &s, "{}\x1e{\"type\":6}\x1e") == WSF_FRAMING_OK);
  CHECK(feed(&f, &s, "{\"ty") == WSF_FRAMING_OK);
  CHECK(f.carry_len == 4);
  CHECK(feed(&f, &s,
             "pe\":1}\x1e\x1e"
             "tail") == WSF_FRAMING_OK);
  CHECK_STR(s.text, "[1:{}][1:{\"type\":6}][1:{\"type\":1}]");
  CHECK(f.carry_len == 4); /* "tail" waits for its separator */
  wsf_framer_free(&f);
  CHECK(f.carry == NULL);
}

static void test_stomp_frames_and_eol_heartbeats(void) {
  wsf_framer f;
  seen s = {0};
  wsf_framer_init(&f, WSF_FRAMING_STOMP, 100);
  CHECK(feed(&f, &s, "\n") == WSF_FRAMING_OK);
  CHECK(FEED_LIT(&f, &s, "CONNECTED\nversion:1.2\n\n\0\r\n\nMESSAGE\n\nbo") == WSF_FRAMING_OK);
  CHECK(FEED_LIT(&f, &s, "dy\n\0") == WSF_FRAMING_OK); /* an EOL inside a frame is the frame's */
  CHECK_STR(s.text, "<hb>[1:CONNECTED\nversion:1.2\n\n]<hb><hb>[1:MESSAGE\n\nbody\n]");
  CHECK(s.heartbeats == 3 && s.records == 2);
  wsf_framer_free(&f);
}

static void test_a_record_over_the_bound_is_refused_and_dropped(void) {
  wsf_framer f;
  seen s = {0};
  wsf_framer_init(&f, WSF_FRAMING_RECORD_SEPARATOR, 8);
  CHECK(feed(&f, &s, "12345") == WSF_FRAMING_OK);
  CHECK(feed(&f, &s, "6789") == WSF_FRAMING_TOO_BIG);
  CHECK(f.carry == NULL && f.carry_len == 0);
  CHECK(feed(&f, &s, "123456789\x1e") == WSF_FRAMING_TOO_BIG); /* whole in one message, too */
  CHECK(feed(&f, &s, "12345678\x1e") == WSF_FRAMING_OK);       /* exactly the bound */
  CHECK_STR(s.text, "[1:12345678]");
  wsf_framer_free(&f);
}

static void test_a_callback_stops_the_feed(void) {
  wsf_framer f;
  seen s = {.stop_after = 2};
  wsf_framer_init(&f, WSF_FRAMING_RECORD_SEPARATOR, 100);
  CHECK(feed(&f, &s,
             "a\x1e"
             "b\x1e"
             "c\x1e") == WSF_FRAMING_STOPPED);
  CHECK_STR(s.text, "[1:a][1:b]");
  wsf_framer_free(&f);
}

/* The oracle: a stream split at every pair of points gives the records of the whole stream. */
static void test_every_split_gives_the_same_records(void) {
  static const struct {
    wsf_framing_mode mode;
    const char *stream;
    size_t len;
  } cases[] = {
#define CASE(mode, lit) {mode, lit, sizeof(lit) - 1}
      CASE(WSF_FRAMING_RECORD_SEPARATOR, "ab\x1e\x1e"
                                         "cde\x1e"
                                         "f\x1e"),
      CASE(WSF_FRAMING_STOMP, "\nA\n\nx\0\r\n\nB\n\n\0\n"),
#undef CASE
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    wsf_framer f;
    seen whole = {0};
    wsf_framer_init(&f, cases[k].mode, 64);
    wsf_framer_feed(&f, 1, (const uint8_t *)cases[k].stream, cases[k].len, &cb, &whole);
    wsf_framer_free(&f);
    CHECK(whole.records >= 2);
    for (size_t i = 0; i <= cases[k].len; i++)
      for (size_t j = i; j <= cases[k].len; j++) {
        seen s = {0};
        const uint8_t *p = (const uint8_t *)cases[k].stream;
        wsf_framer_init(&f, cases[k].mode, 64);
        wsf_framer_feed(&f, 1, p, i, &cb, &s);
        wsf_framer_feed(&f, 1, p + i, j - i, &cb, &s);
        wsf_framer_feed(&f, 1, p + j, cases[k].len - j, &cb, &s);
        wsf_framer_free(&f);
        CHECK(strcmp(s.text, whole.text) == 0);
      }
  }
}

int main(void) {
  RUN(test_names_and_terminators);
  RUN(test_message_mode_passes_each_message);
  RUN(test_record_separator_several_per_message_and_split);
  RUN(test_stomp_frames_and_eol_heartbeats);
  RUN(test_a_record_over_the_bound_is_refused_and_dropped);
  RUN(test_a_callback_stops_the_feed);
  RUN(test_every_split_gives_the_same_records);
  return wsf_test_result();
}
