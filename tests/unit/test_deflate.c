/* permessage-deflate (RFC 7692): negotiation strings in and out, then
 * sessions over real loopback TCP with deflate on. Crafted compressed frames
 * are made with zlib directly (the way RFC 7692 senders make them), not with
 * deflate.c, so the decoder is checked against an independent encoder.
 *
 * Properties kept from ws.c are asserted throughout: the wslay context is
 * gone once a session is at rest, and a direction without context takeover
 * holds no zlib memory between messages. Every loop run has a watchdog. */
#include <stdlib.h>
#include <sys/resource.h>
#include <zlib.h>

#include "deflate.h"
#include "testlib.h"
#include "util.h"
#include "ws.h"
#include "wspair.h"

/* ======================= negotiation ======================= */

static wsf_deflate_options opts(int cbits, int sbits, bool cnct, bool snct) {
  wsf_deflate_options o = wsf_deflate_options_default();
  o.enabled = true;
  o.client_max_window_bits = cbits;
  o.server_max_window_bits = sbits;
  o.client_no_context_takeover = cnct;
  o.server_no_context_takeover = snct;
  return o;
}

static void test_offer_lists_the_chosen_parameters(void) {
  char offer[WSF_DEFLATE_OFFER_LEN];
  const char *err = NULL;
  wsf_deflate_options o = wsf_deflate_options_default();
  CHECK(wsf_deflate_client_offer(&o, offer, &err) == 0 && offer[0] == 0); /* disabled: no header */

  o = opts(0, 0, false, false);
  CHECK(wsf_deflate_client_offer(&o, offer, &err) == (int)strlen("permessage-deflate"));
  CHECK_STR(offer, "permessage-deflate");

  o = opts(WSF_DEFLATE_BITS_ANY, 0, false, false);
  CHECK(wsf_deflate_client_offer(&o, offer, &err) > 0);
  CHECK_STR(offer, "permessage-deflate; client_max_window_bits");

  o = opts(10, 12, true, true);
  CHECK(wsf_deflate_client_offer(&o, offer, &err) > 0);
  CHECK_STR(offer, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                   "server_max_window_bits=12; client_max_window_bits=10");

  struct {
    int cbits, sbits, level, mem_level;
  } bad[] = {{7, 0, -1, 0}, {16, 0, -1, 0}, {0, 7, -1, 0},  {0, 16, -1, 0}, {0, -1, -1, 0},
             {0, 0, 10, 0}, {0, 0, -2, 0},  {0, 0, -1, 10}, {0, 0, -1, -1}};
  for (size_t i = 0; i < WSF_ARRAY_LEN(bad); i++) {
    o = opts(bad[i].cbits, bad[i].sbits, false, false);
    o.level = bad[i].level;
    o.mem_level = bad[i].mem_level;
    err = NULL;
    CHECK(wsf_deflate_client_offer(&o, offer, &err) == -1);
    CHECK(err != NULL && wsf_deflate_options_check(&o) == err);
  }
}

static int answer(const wsf_deflate_options *o, const char *ans, wsf_deflate_params *p, char *err) {
  memset(p, 0xee, sizeof *p);
  return wsf_deflate_client_check_answer(o, ans, p, err);
}

static bool params_are(const wsf_deflate_params *p, int cbits, int sbits, bool cnct, bool snct) {
  return p->client_max_window_bits == cbits && p->server_max_window_bits == sbits &&
         p->client_no_context_takeover == cnct && p->server_no_context_takeover == snct;
}

static void test_answer_gives_the_agreed_parameters(void) {
  char err[WSF_DEFLATE_ERROR_LEN];
  wsf_deflate_params p;
  wsf_deflate_options o = opts(WSF_DEFLATE_BITS_ANY, 0, false, false);
  o.level = 3;
  o.mem_level = 4;
  CHECK(answer(&o, "permessage-deflate", &p, err) == 1);
  CHECK(params_are(&p, 15, 15, false, false) && p.level == 3 && p.mem_level == 4);
  CHECK(answer(&o, "permessage-deflate; client_max_window_bits=10; server_max_window_bits=12", &p, err) == 1);
  CHECK(params_are(&p, 10, 12, false, false));
  /* Quoted values, odd spacing and case, empty list elements. */
  CHECK(answer(&o, " , Permessage-Deflate ;client_max_window_bits = \"9\" ;\tSERVER_MAX_WINDOW_BITS=8,", &p,
               err) == 1);
  CHECK(params_are(&p, 9, 8, false, false));
  /* A server may always add server_no_context_takeover and client_no_context_takeover. */
  CHECK(answer(&o, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", &p, err) ==
        1);
  CHECK(params_are(&p, 15, 15, true, true));
  /* What the client offered for itself holds even if the answer leaves it out. */
  o = opts(11, 0, true, false);
  CHECK(answer(&o, "permessage-deflate", &p, err) == 1);
  CHECK(params_are(&p, 11, 15, true, false));
  CHECK(p.level == -1 && p.mem_level == 0); /* defaults: memLevel from the window */
  o = opts(11, 10, false, true);
  CHECK(answer(&o,
               "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8; "
               "server_no_context_takeover",
               &p, err) == 1);
  CHECK(params_are(&p, 8, 9, false, true));
}

static void test_no_extension_in_the_answer_is_a_decline(void) {
  char err[WSF_DEFLATE_ERROR_LEN];
  wsf_deflate_params p;
  wsf_deflate_options o = opts(WSF_DEFLATE_BITS_ANY, 0, false, false);
  CHECK(answer(&o, NULL, &p, err) == 0);
  CHECK(answer(&o, "", &p, err) == 0);
  CHECK(answer(&o, " , ", &p, err) == 0);
  wsf_deflate_options off = wsf_deflate_options_default();
  CHECK(answer(&off, NULL, &p, err) == 0);
}

static void test_bad_answers_fail_with_a_reason(void) {
  struct {
    wsf_deflate_options o;
    const char *answer;
    const char *reason; /* a piece of the error message */
  } cases[] = {
      {opts(0, 0, false, false), "x-webkit-deflate-frame",
       "extension 'x-webkit-deflate-frame', which was not offered"},
      {opts(0, 0, false, false), "permessage-deflate, foo", "extension 'foo', which was not offered"},
      {wsf_deflate_options_default(), "permessage-deflate", "which was not offered"},
      {opts(0, 0, false, false), "permessage-deflate, permessage-deflate", "twice"},
      {opts(0, 0, false, false), "permessage-deflate; foo", "unknown parameter 'foo'"},
      {opts(0, 0, false, false), "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
       "repeats parameter server_no_context_takeover"},
      {opts(0, 9, false, false), "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
       "repeats parameter server_max_window_bits"},
      {opts(0, 0, false, false), "permessage-deflate; server_max_window_bits=16",
       "server_max_window_bits=16; it must be 8 to 15"},
      {opts(0, 0, false, false), "permessage-deflate; server_max_window_bits=7", "must be 8 to 15"},
      {opts(0, 0, false, false), "permessage-deflate; server_max_window_bits=010", "must be 8 to 15"},
      {opts(0, 0, false, false), "permessage-deflate; server_max_window_bits=+9", "must be 8 to 15"},
      {opts(0, 0, false, false), "permessage-deflate; server_max_window_bits=\"1 0\"", "must be 8 to 15"},
      {opts(0, 0, false, false), "permessage-deflate; server_max_window_bits",
       "server_max_window_bits without a value"},
      {opts(-1, 0, false, false), "permessage-deflate; client_max_window_bits",
       "client_max_window_bits without a value"},
      {opts(0, 0, false, false), "permessage-deflate; server_no_context_takeover=1", "takes none"},
      {opts(0, 0, false, false), "permessage-deflate; client_max_window_bits=10",
       "client_max_window_bits=10, which was not offered"},
      {opts(10, 0, false, false), "permessage-deflate; client_max_window_bits=12", "above the offered 10"},
      {opts(0, 10, false, false), "permessage-deflate",
       "did not accept the offered server_max_window_bits=10"},
      {opts(0, 10, false, false), "permessage-deflate; server_max_window_bits=11", "above the offered 10"},
      {opts(0, 0, false, true), "permessage-deflate",
       "did not accept the offered server_no_context_takeover"},
      {opts(0, 0, false, false), "permessage-deflate;", "malformed"},
      {opts(0, 0, false, false), "permessage-deflate; =3", "malformed"},
      {opts(0, 0, false, false), "permessage-deflate; client_max_window_bits=\"10", "malformed"},
      {opts(0, 0, false, false), "permessage-deflate client_max_window_bits", "malformed"},
      {opts(0, 0, false, false), "permessage-deflate; a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;q", "malformed"},
  };
  for (size_t i = 0; i < WSF_ARRAY_LEN(cases); i++) {
    char err[WSF_DEFLATE_ERROR_LEN];
    wsf_deflate_params p;
    int rv = answer(&cases[i].o, cases[i].answer, &p, err);
    CHECK(rv == -1);
    CHECK(strstr(err, cases[i].reason) != NULL);
    if (rv != -1 || !strstr(err, cases[i].reason))
      fprintf(stderr, "  answer [%s]: rv %d, error [%s]\n", cases[i].answer, rv, err);
  }
}

static void test_server_answers_the_first_acceptable_offer(void) {
  char ans[WSF_DEFLATE_OFFER_LEN], err[WSF_DEFLATE_ERROR_LEN];
  wsf_deflate_params p;
  wsf_deflate_options cfg = opts(0, 0, false, false);
  CHECK(wsf_deflate_server_answer(&cfg, NULL, &p, ans, err) == 0 && !ans[0] && !err[0]);
  CHECK(wsf_deflate_server_answer(&cfg, "x-other; a=1", &p, ans, err) == 0 && !err[0]);
  CHECK(wsf_deflate_server_answer(&cfg, "permessage-deflate; client_max_window_bits", &p, ans, err) == 1);
  CHECK_STR(ans, "permessage-deflate");
  CHECK(params_are(&p, 15, 15, false, false));
  /* Bad offers are declined (RFC 7692 §5), the next one is taken. */
  CHECK(wsf_deflate_server_answer(
            &cfg,
            "x-other, permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=20, "
            "permessage-deflate; server_max_window_bits=10; client_no_context_takeover",
            &p, ans, err) == 1);
  CHECK_STR(ans, "permessage-deflate; client_no_context_takeover; server_max_window_bits=10");
  CHECK(params_are(&p, 15, 10, true, false));
  CHECK(wsf_deflate_server_answer(&cfg, "permessage-deflate; foo=1", &p, ans, err) == 0);
  CHECK(strstr(err, "unknown parameter 'foo'") != NULL && !ans[0]);
  CHECK(wsf_deflate_server_answer(&cfg, "permessage-deflate; ;", &p, ans, err) == 0);
  CHECK(strstr(err, "malformed") != NULL);
  wsf_deflate_options off = wsf_deflate_options_default();
  CHECK(wsf_deflate_server_answer(&off, "permessage-deflate", &p, ans, err) == 0 && !ans[0]);
  wsf_deflate_options broken = opts(0, 16, false, false);
  CHECK(wsf_deflate_server_answer(&broken, "permessage-deflate", &p, ans, err) == 0 && !ans[0]);
  CHECK(strstr(err, "server_max_window_bits must be 8 to 15") != NULL);

  /* A server config caps windows and forces no-context-takeover. */
  cfg = opts(10, 12, true, true);
  CHECK(wsf_deflate_server_answer(&cfg, "permessage-deflate; client_max_window_bits", &p, ans, err) == 1);
  CHECK_STR(ans, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                 "server_max_window_bits=12; client_max_window_bits=10");
  CHECK(params_are(&p, 10, 12, true, true));
  CHECK(wsf_deflate_server_answer(&cfg,
                                  "permessage-deflate; client_max_window_bits=9; server_max_window_bits=14",
                                  &p, ans, err) == 1);
  CHECK(params_are(&p, 9, 12, true, true));
  /* A client that does not allow client_max_window_bits keeps its 15. */
  CHECK(wsf_deflate_server_answer(&cfg, "permessage-deflate", &p, ans, err) == 1);
  CHECK(params_are(&p, 15, 12, true, true));
}

/* Whatever a client offers and a server is configured for, the server's
 * answer passes the client's check and both sides agree on the same values. */
static void test_client_and_server_agree_on_every_combination(void) {
  int cbits_offer[] = {0, WSF_DEFLATE_BITS_ANY, 8, 12, 15};
  int sbits_offer[] = {0, 8, 11, 15};
  int cbits_cfg[] = {0, 9, 13};
  int sbits_cfg[] = {0, 10, 15};
  int combos = 0, agreed = 0;
  for (size_t a = 0; a < WSF_ARRAY_LEN(cbits_offer); a++)
    for (size_t b = 0; b < WSF_ARRAY_LEN(sbits_offer); b++)
      for (size_t c = 0; c < WSF_ARRAY_LEN(cbits_cfg); c++)
        for (size_t d = 0; d < WSF_ARRAY_LEN(sbits_cfg); d++)
          for (int flags = 0; flags < 16; flags++) {
            wsf_deflate_options o = opts(cbits_offer[a], sbits_offer[b], flags & 1, flags & 2);
            wsf_deflate_options cfg = opts(cbits_cfg[c], sbits_cfg[d], flags & 4, flags & 8);
            char offer[WSF_DEFLATE_OFFER_LEN], ans[WSF_DEFLATE_OFFER_LEN], err[WSF_DEFLATE_ERROR_LEN];
            const char *e = NULL;
            wsf_deflate_params ps, pc;
            combos++;
            CHECK(wsf_deflate_client_offer(&o, offer, &e) > 0);
            if (wsf_deflate_server_answer(&cfg, offer, &ps, ans, err) != 1) {
              CHECK(0);
              continue;
            }
            int rv = wsf_deflate_client_check_answer(&o, ans, &pc, err);
            CHECK(rv == 1);
            if (rv == 1 && memcmp(&ps, &pc, 4) == 0 &&
                pc.client_no_context_takeover == ps.client_no_context_takeover)
              agreed++;
            else
              fprintf(stderr, "  offer [%s] answer [%s] -> %d %s\n", offer, ans, rv, err);
            /* Each side got no more than it asked for. */
            if (cbits_offer[a] > 0)
              CHECK(pc.client_max_window_bits <= cbits_offer[a]);
            if (sbits_offer[b])
              CHECK(pc.server_max_window_bits <= sbits_offer[b]);
            if (sbits_cfg[d])
              CHECK(pc.server_max_window_bits <= sbits_cfg[d]);
            if (flags & 2)
              CHECK(pc.server_no_context_takeover);
          }
  CHECK(agreed == combos);
}

/* ======================= sessions over loopback ======================= */

/* The pair, its peers and the wire helpers are in wspair.h. */

static wsf_deflate_params params(int cbits, int sbits, bool cnct, bool snct) {
  wsf_deflate_params p = {(uint8_t)cbits, (uint8_t)sbits, cnct, snct, -1, 8};
  return p;
}

/* ---- an independent RFC 7692 encoder: zlib directly ---- */

typedef struct zpeer {
  z_stream z;
  uint8_t *out;
  size_t len, cap;
} zpeer;

static void zpeer_init(zpeer *p, int bits) {
  memset(p, 0, sizeof *p);
  CHECK(deflateInit2(&p->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
}

/* Appends the compressed form of in (Z_NO_FLUSH unless last: then a sync
 * flush and the 00 00 ff ff tail dropped) to p->out. */
static void zpeer_put(zpeer *p, const void *in, size_t len, bool last) {
  p->z.next_in = (Bytef *)(uintptr_t)in;
  p->z.avail_in = (uInt)len;
  do {
    if (p->cap - p->len < 4096) {
      p->cap = p->cap ? p->cap * 2 : 65536;
      p->out = realloc(p->out, p->cap);
    }
    p->z.next_out = p->out + p->len;
    p->z.avail_out = (uInt)(p->cap - p->len);
    int rv = deflate(&p->z, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
    CHECK(rv == Z_OK || rv == Z_BUF_ERROR);
    p->len = (size_t)(p->z.next_out - p->out);
  } while (p->z.avail_out == 0);
  if (last && p->len >= 4 && memcmp(p->out + p->len - 4, "\x00\x00\xff\xff", 4) == 0)
    p->len -= 4;
}

static void zpeer_free(zpeer *p) {
  deflateEnd(&p->z);
  free(p->out);
}

/* One message compressed by a fresh stream. */
static void zcompress(zpeer *p, const void *in, size_t len) {
  zpeer_init(p, 15);
  zpeer_put(p, in, len, true);
}

/* ---- tests ---- */

static bool server_has(int n) {
  return server.n_msgs >= n;
}
static bool client_has(int n) {
  return client.n_msgs >= n;
}
static int want;
static bool server_has_want(void) {
  return server_has(want);
}
static bool client_has_want(void) {
  return client_has(want);
}

/* Text that compresses well, and bytes that do not. */
static void fill_text(uint8_t *buf, size_t len, unsigned seed) {
  static const char *words[] = {"{\"action\":\"echo\",", "\"user\":",   "\"session\":", "42,", "\"ok\"}", " ",
                                "caf\xc3\xa9 ",          "\xe2\x82\xac"};
  size_t n = 0;
  while (n < len) {
    const char *w = words[(seed = seed * 1103515245u + 12345u) >> 16 & 7];
    size_t k = strlen(w);
    if (n + k > len)
      w = " ", k = 1;
    memcpy(buf + n, w, k);
    n += k;
  }
}

static void fill_random(uint8_t *buf, size_t len, unsigned seed) {
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
}

/* Every parameter combination, both ways, over real TCP: messages arrive
 * intact, compression happened, and at rest each session holds no wslay
 * context and, without context takeover, no zlib memory. */
static void test_round_trip_each_parameter_combination(void) {
  int cbits[] = {8, 9, 12, 15};
  int sbits[] = {8, 10, 15};
  struct {
    int level, mem_level;
  } levels[] = {{-1, 8}, {0, 1}, {1, 4}, {9, 9}};
  size_t big_len = 300000, mid_len = 5000;
  uint8_t *big = malloc(big_len), *mid = malloc(mid_len), *rnd = malloc(mid_len);
  fill_text(big, big_len, 7);
  fill_text(mid, mid_len, 11);
  fill_random(rnd, mid_len, 13);
  int combos = 0, intact = 0;
  for (size_t a = 0; a < WSF_ARRAY_LEN(cbits); a++)
    for (size_t b = 0; b < WSF_ARRAY_LEN(sbits); b++)
      for (int nct = 0; nct < 4; nct++) {
        wsf_deflate_params p = params(cbits[a], sbits[b], nct & 1, nct & 2);
        p.level = (int8_t)levels[(a + b + nct) % 4].level;
        p.mem_level = (uint8_t)levels[(a + b + nct) % 4].mem_level;
        pair_open(NULL, 1 << 20, 1 << 20, &p);
        combos++;
        /* The same text twice (context takeover makes the second tiny), an
         * empty message, random binary and a big text; each way. */
        const struct {
          int op;
          const uint8_t *d;
          size_t n;
        } m[] = {{WSF_WS_TEXT, mid, mid_len},
                 {WSF_WS_TEXT, mid, mid_len},
                 {WSF_WS_TEXT, (const uint8_t *)"", 0},
                 {WSF_WS_BINARY, rnd, mid_len},
                 {WSF_WS_TEXT, big, big_len}};
        int n = (int)WSF_ARRAY_LEN(m);
        for (int i = 0; i < n; i++) {
          CHECK(wsf_ws_send(&client.ws, m[i].op, m[i].d, m[i].n) == 0);
          CHECK(wsf_ws_send(&server.ws, m[i].op, m[i].d, m[i].n) == 0);
        }
        want = n;
        CHECK(run_until(server_has_want, 5000) && run_until(client_has_want, 5000));
        bool ok = server.n_msgs == n && client.n_msgs == n;
        for (int i = 0; ok && i < n; i++)
          ok = stored_is(&server.msgs[i], m[i].op, m[i].d, m[i].n) &&
               stored_is(&client.msgs[i], m[i].op, m[i].d, m[i].n);
        CHECK(ok);
        CHECK(client.protocol_errors == 0 && server.protocol_errors == 0);
        if (!ok)
          fprintf(stderr, "  c%d s%d nct%d level %d/%d: client got %d (error %u), server got %d (error %u)\n",
                  cbits[a], sbits[b], nct, p.level, p.mem_level, client.n_msgs, client.protocol_error_code,
                  server.n_msgs, server.protocol_error_code);
        CHECK(client.ws.ctx == NULL && server.ws.ctx == NULL);
        /* Without context takeover a direction's streams are gone between messages. */
        bool client_tx_kept = !p.client_no_context_takeover, server_tx_kept = !p.server_no_context_takeover;
        size_t cz = wsf_deflate_zlib_bytes(client.ws.deflate), sz = wsf_deflate_zlib_bytes(server.ws.deflate);
        CHECK((cz == 0) == (!client_tx_kept && !server_tx_kept));
        CHECK((sz == 0) == (!client_tx_kept && !server_tx_kept));
        const wsf_deflate_counters *cc = wsf_ws_deflate_counters(&client.ws);
        const wsf_deflate_counters *sc = wsf_ws_deflate_counters(&server.ws);
        size_t total = 2 * mid_len + mid_len + big_len;
        CHECK(cc->bytes_out == total && sc->bytes_in == total && sc->bytes_out == total &&
              cc->bytes_in == total);
        CHECK(cc->bytes_out_compressed == sc->bytes_in_compressed);
        CHECK(sc->bytes_out_compressed == cc->bytes_in_compressed);
        if (p.level != 0)
          CHECK(cc->bytes_out_compressed < total / 2 && sc->bytes_out_compressed < total / 2);
        if (ok && client.protocol_errors == 0)
          intact++;
        pair_close();
      }
  CHECK(intact == combos);
  free(big);
  free(mid);
  free(rnd);
}

/* Frames on the wire: data frames carry RSV1, control frames never do. */
static void test_data_frames_carry_rsv1_and_control_frames_do_not(void) {
  wsf_deflate_params p = params(15, 15, false, false);
  pair_open(&server, 1 << 20, 1 << 20, &p);
  CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, (const uint8_t *)"hello hello hello", 17) == 0);
  CHECK(wsf_ws_send(&client.ws, WSF_WS_PING, (const uint8_t *)"ping ping ping", 14) == 0);
  CHECK(wsf_ws_close(&client.ws, 1000, "bye bye bye", 11) == 0);
  CHECK(run_until(server_raw_has_close, 5000));
  CHECK(server.rx_len >= 2 && (server.rx[0] & 0x7f) == (0x40 | WSF_WS_TEXT));
  size_t text_len = server.rx[1] & 0x7f;
  CHECK(text_len < 17); /* compressed */
  const uint8_t *ping = server.rx + 2 + 4 + text_len;
  CHECK((ping[0] & 0x70) == 0 && (ping[0] & 0x0f) == WSF_WS_PING && (ping[1] & 0x7f) == 14);
  const uint8_t *close = ping + 2 + 4 + 14;
  CHECK((close[0] & 0x70) == 0 && (close[0] & 0x0f) == WSF_WS_CLOSE);
  pair_close();
}

/* A stream compressed with context takeover decodes only when the receiver
 * keeps its history; the second message refers back into the first. */
static void test_context_takeover_must_match_the_sender(void) {
  uint8_t text[2000];
  fill_text(text, sizeof text, 3);
  zpeer zp;
  zpeer_init(&zp, 15);
  zpeer_put(&zp, text, sizeof text, true);
  size_t first = zp.len;
  zpeer_put(&zp, text, sizeof text, true);
  size_t second = zp.len - first;
  CHECK(second < first / 10); /* mostly one back-reference */
  uint8_t *stream = malloc(zp.len + 64);
  size_t len = frame(stream, FRAME_FIN | FRAME_RSV1, WSF_WS_TEXT, zp.out, first);
  len += frame(stream + len, FRAME_FIN | FRAME_RSV1, WSF_WS_TEXT, zp.out + first, second);

  for (int reset = 0; reset < 2; reset++) {
    /* reset: the client agreed server_no_context_takeover, so it drops its history. */
    wsf_deflate_params p = params(15, 15, false, reset);
    pair_open(&server, 1 << 20, 1 << 20, &p);
    wsf_ws_feed(&client.ws, stream, len);
    if (!reset) {
      CHECK(client.n_msgs == 2 && client.protocol_errors == 0);
      CHECK(stored_is(&client.msgs[1], WSF_WS_TEXT, text, sizeof text));
      CHECK(wsf_deflate_zlib_bytes(client.ws.deflate) > 0); /* the history is kept */
    } else {
      CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_TEXT, text, sizeof text));
      CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1007);
      CHECK(run_until(server_raw_has_close, 5000));
      uint16_t code = 0;
      CHECK(raw_close_code(&server, &code) && code == 1007);
    }
    pair_close();
  }
  zpeer_free(&zp);
  free(stream);

  /* Our own sender: with takeover the second copy shrinks, without it both
   * copies compress alike. */
  for (int nct = 0; nct < 2; nct++) {
    wsf_deflate_params p = params(15, 15, nct, false);
    pair_open(NULL, 1 << 20, 1 << 20, &p);
    const wsf_deflate_counters *c = wsf_ws_deflate_counters(&client.ws);
    CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, text, sizeof text) == 0);
    uint64_t one = c->bytes_out_compressed;
    CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, text, sizeof text) == 0);
    uint64_t two = c->bytes_out_compressed - one;
    CHECK(nct ? two == one : two < one / 10);
    want = 2;
    CHECK(run_until(server_has_want, 5000));
    CHECK(server.n_msgs == 2 && stored_is(&server.msgs[1], WSF_WS_TEXT, text, sizeof text));
    pair_close();
  }
}

static long max_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* 64 MiB of zeros in 64 KiB compressed, against a 128 KiB limit: the
 * session closes with 1009 and never holds more than the limit inflated. */
static void test_compressed_bomb_is_1009_with_bounded_memory(void) {
  enum { MAX = 128 * 1024 };
  uint8_t *zeros = calloc(1, 1 << 20);
  zpeer zp;
  zpeer_init(&zp, 15);
  for (int i = 0; i < 64; i++)
    zpeer_put(&zp, zeros, 1 << 20, i == 63);
  CHECK(zp.len < MAX);
  uint8_t *f = malloc(zp.len + 14);
  size_t n = frame(f, FRAME_FIN | FRAME_RSV1, WSF_WS_BINARY, zp.out, zp.len);

  /* Exactly the limit inflated is fine; one byte more is not. */
  wsf_deflate_params p = params(15, 15, false, false);
  pair_open(&server, MAX, MAX, &p);
  zpeer at;
  zcompress(&at, zeros, MAX);
  uint8_t g[1024];
  size_t gn = frame(g, FRAME_FIN | FRAME_RSV1, WSF_WS_BINARY, at.out, at.len);
  CHECK(gn < sizeof g);
  CHECK(wsf_ws_feed(&client.ws, g, gn) == 0);
  CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_BINARY, zeros, MAX));
  zpeer_free(&at);
  zcompress(&at, zeros, MAX + 1);
  gn = frame(g, FRAME_FIN | FRAME_RSV1, WSF_WS_BINARY, at.out, at.len);
  CHECK(wsf_ws_feed(&client.ws, g, gn) == UV_EPROTO);
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1009 && client.n_msgs == 1);
  CHECK_STR(wsf_ws_deflate_failure(&client.ws), "inflated message over max_message_bytes");
  zpeer_free(&at);
  pair_close();

  pair_open(&server, MAX, MAX, &p);
  long before = max_rss_kb();
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
  long grew = max_rss_kb() - before;
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1009);
  CHECK(client.n_msgs == 0);
  CHECK(grew < 8 * 1024); /* KiB; inflating it all would add 64 MiB */
  CHECK(wsf_deflate_shared_bytes() <= 4 * MAX);
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1009);
  pair_close();
  zpeer_free(&zp);
  free(f);
  free(zeros);
}

/* wslay skips its UTF-8 check on compressed text: ws.c checks after inflating. */
static void test_invalid_utf8_inside_compressed_text_is_1007(void) {
  const uint8_t bad[] = {'o', 'k', 0xc3, 0x28};
  const char *also_bad[] = {"\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "ok\xe2\x82"};
  zpeer zp;
  uint8_t f[256];
  wsf_deflate_params p = params(15, 15, false, false);
  /* As binary the same bytes are fine. */
  pair_open(&server, 1 << 20, 1 << 20, &p);
  zcompress(&zp, bad, sizeof bad);
  size_t n = frame(f, FRAME_FIN | FRAME_RSV1, WSF_WS_BINARY, zp.out, zp.len);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0);
  CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_BINARY, bad, sizeof bad));
  const char *good = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
  zpeer good_z;
  zcompress(&good_z, good, strlen(good));
  n = frame(f, FRAME_FIN | FRAME_RSV1, WSF_WS_TEXT, good_z.out, good_z.len);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0);
  CHECK(client.n_msgs == 2 && stored_is(&client.msgs[1], WSF_WS_TEXT, good, strlen(good)));
  zpeer_free(&good_z);
  n = frame(f, FRAME_FIN | FRAME_RSV1, WSF_WS_TEXT, zp.out, zp.len);
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
  CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1007 && client.n_msgs == 2);
  CHECK_STR(wsf_ws_deflate_failure(&client.ws), "invalid UTF-8 in a compressed text message");
  CHECK(run_until(server_raw_has_close, 5000));
  uint16_t code = 0;
  CHECK(raw_close_code(&server, &code) && code == 1007);
  zpeer_free(&zp);
  pair_close();
  for (size_t i = 0; i < WSF_ARRAY_LEN(also_bad); i++) {
    pair_open(&server, 1 << 20, 1 << 20, &p);
    zcompress(&zp, also_bad[i], strlen(also_bad[i]));
    n = frame(f, FRAME_FIN | FRAME_RSV1, WSF_WS_TEXT, zp.out, zp.len);
    CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
    CHECK(client.protocol_error_code == 1007 && client.n_msgs == 0);
    zpeer_free(&zp);
    pair_close();
  }
}

/* Bytes that are not DEFLATE, and a message cut inside a block. */
static void test_corrupt_compressed_data_is_1007(void) {
  wsf_deflate_params p = params(15, 15, false, false);
  uint8_t f[256];
  const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x12, 0x34};
  pair_open(&server, 1 << 20, 1 << 20, &p);
  size_t n = frame(f, FRAME_FIN | FRAME_RSV1, WSF_WS_BINARY, garbage, sizeof garbage);
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
  CHECK(client.protocol_error_code == 1007 && client.n_msgs == 0);
  CHECK_STR(wsf_ws_deflate_failure(&client.ws), "bad DEFLATE data");
  CHECK(wsf_deflate_zlib_bytes(client.ws.deflate) == 0); /* a failed stream is released */
  pair_close();

  uint8_t text[600];
  fill_text(text, sizeof text, 5);
  zpeer zp;
  zcompress(&zp, text, sizeof text);
  pair_open(&server, 1 << 20, 1 << 20, &p);
  n = frame(f, FRAME_FIN | FRAME_RSV1, WSF_WS_TEXT, zp.out, zp.len / 2);
  CHECK(wsf_ws_feed(&client.ws, f, n) == UV_EPROTO);
  CHECK(client.protocol_error_code == 1007 && client.n_msgs == 0);
  pair_close();
  zpeer_free(&zp);
}

/* One compressed message in three frames (RSV1 on the first only), a ping
 * in between, fed whole and then byte by byte: the context lives while the
 * message is open and is gone after it; RSV1 stays allowed on the contexts
 * created after each rest. */
static void test_fragmented_compressed_message(void) {
  uint8_t text[3000];
  fill_text(text, sizeof text, 9);
  zpeer zp;
  zcompress(&zp, text, sizeof text);
  size_t cut1 = zp.len / 3, cut2 = 2 * zp.len / 3;
  uint8_t *stream = malloc(zp.len + 64);
  size_t len = frame(stream, FRAME_RSV1, WSF_WS_TEXT, zp.out, cut1);
  len += frame(stream + len, FRAME_FIN, WSF_WS_PING, "p", 1);
  size_t mid = len;
  len += frame(stream + len, 0, 0, zp.out + cut1, cut2 - cut1);
  len += frame(stream + len, FRAME_FIN, 0, zp.out + cut2, zp.len - cut2);

  wsf_deflate_params p = params(15, 15, true, true);
  pair_open(&server, 1 << 20, 1 << 20, &p);
  CHECK(wsf_ws_feed(&client.ws, stream, mid) == 0);
  CHECK(client.ws.ctx != NULL && client.n_msgs == 0 && client.pings == 1);
  CHECK(wsf_ws_feed(&client.ws, stream + mid, len - mid) == 0);
  CHECK(client.n_msgs == 1 && stored_is(&client.msgs[0], WSF_WS_TEXT, text, sizeof text));
  CHECK(client.ws.ctx == NULL);
  int open_mid = 1;
  for (size_t i = 0; i < len; i++) {
    CHECK(wsf_ws_feed(&client.ws, stream + i, 1) == 0);
    if (i + 1 < len && client.ws.ctx == NULL)
      open_mid = 0;
  }
  CHECK(open_mid);
  CHECK(client.n_msgs == 2 && stored_is(&client.msgs[1], WSF_WS_TEXT, text, sizeof text));
  CHECK(client.ws.ctx == NULL && client.protocol_errors == 0 && client.pings == 2);
  CHECK(wsf_deflate_zlib_bytes(client.ws.deflate) == 0);
  const wsf_deflate_counters *c = wsf_ws_deflate_counters(&client.ws);
  CHECK(c->bytes_in == 2 * sizeof text && c->bytes_in_compressed == 2 * zp.len);
  pair_close();
  zpeer_free(&zp);
  free(stream);
}

/* RSV1 where RFC 7692 forbids it, RSV2/RSV3 always, and RSV1 on a session
 * without deflate: 1002 on our side and on the wire. An uncompressed
 * message on a deflate session is fine. */
static void test_misplaced_reserved_bits_are_1002(void) {
  wsf_deflate_params p = params(15, 15, false, false);
  zpeer zp;
  zcompress(&zp, "abc", 3);
  struct {
    uint8_t bytes[32];
    size_t len;
    bool deflate;
  } cases[4];
  size_t k = 0;
  cases[k].len = frame(cases[k].bytes, 0, WSF_WS_TEXT, "a", 1);
  /* RSV1 on a continuation */
  cases[k].len += frame(cases[k].bytes + cases[k].len, FRAME_FIN | FRAME_RSV1, 0, "b", 1);
  cases[k++].deflate = true;
  /* RSV1 on a control frame */
  cases[k].len = frame(cases[k].bytes, FRAME_FIN | FRAME_RSV1, WSF_WS_PING, "", 0);
  cases[k++].deflate = true;
  cases[k].len = frame(cases[k].bytes, FRAME_FIN, WSF_WS_TEXT, "x", 1);
  cases[k].bytes[0] |= 0x20; /* RSV2 */
  cases[k++].deflate = true;
  cases[k].len = frame(cases[k].bytes, FRAME_FIN | FRAME_RSV1, WSF_WS_TEXT, zp.out, zp.len); /* not agreed */
  cases[k++].deflate = false;
  for (size_t i = 0; i < k; i++) {
    pair_open(&server, 1 << 20, 1 << 20, cases[i].deflate ? &p : NULL);
    CHECK(wsf_ws_feed(&client.ws, cases[i].bytes, cases[i].len) == UV_EPROTO);
    CHECK(client.protocol_errors == 1 && client.protocol_error_code == 1002 && client.n_msgs == 0);
    CHECK(wsf_ws_deflate_failure(&client.ws) == NULL);
    CHECK(run_until(server_raw_has_close, 5000));
    uint16_t code = 0;
    CHECK(raw_close_code(&server, &code) && code == 1002);
    pair_close();
  }
  pair_open(&server, 1 << 20, 1 << 20, &p);
  uint8_t f[64];
  size_t n = frame(f, FRAME_FIN, WSF_WS_TEXT, "plain", 5);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0);
  n = frame(f, FRAME_FIN | FRAME_RSV1, WSF_WS_TEXT, zp.out, zp.len);
  CHECK(wsf_ws_feed(&client.ws, f, n) == 0);
  CHECK(client.n_msgs == 2 && stored_is(&client.msgs[0], WSF_WS_TEXT, "plain", 5) &&
        stored_is(&client.msgs[1], WSF_WS_TEXT, "abc", 3));
  const wsf_deflate_counters *c = wsf_ws_deflate_counters(&client.ws);
  CHECK(c->bytes_in == 8 && c->bytes_in_compressed == 5 + zp.len);
  pair_close();
  zpeer_free(&zp);
}

/* An empty message: we send the one byte 0x00 (an empty stored block once
 * the tail is appended), also mid-stream where zlib has nothing to flush;
 * an empty payload, as Python's websockets sends mid-stream, reads as empty. */
static void test_empty_compressed_messages(void) {
  wsf_deflate_params p = params(15, 15, false, false);
  pair_open(&server, 1 << 20, 1 << 20, &p);
  const wsf_deflate_counters *c = wsf_ws_deflate_counters(&client.ws);
  for (int i = 0; i < 3; i++) {
    uint64_t before = c->bytes_out_compressed;
    CHECK(wsf_ws_send(&client.ws, WSF_WS_BINARY, (const uint8_t *)"", 0) == 0);
    CHECK(c->bytes_out_compressed - before == 1);
  }
  const uint8_t empty_frames[] = {0xc1, 0x00, 0xc2, 0x01, 0x00, 0xc1, 0x00};
  CHECK(wsf_ws_feed(&client.ws, empty_frames, sizeof empty_frames) == 0);
  CHECK(client.n_msgs == 3 && client.protocol_errors == 0);
  for (int i = 0; i < client.n_msgs; i++)
    CHECK(client.msgs[i].len == 0);
  pair_close();
}

/* A direction without context takeover frees its zlib stream after every
 * message; with it the stream stays, at the size zlib documents. */
static void test_idle_session_memory_by_context_takeover(void) {
  uint8_t text[4000];
  fill_text(text, sizeof text, 21);
  struct {
    int bits, mem_level;
    bool nct;
  } cases[] = {{15, 8, true}, {15, 8, false}, {10, 1, false}};
  size_t held[3];
  for (size_t i = 0; i < WSF_ARRAY_LEN(cases); i++) {
    wsf_deflate_params p = params(cases[i].bits, cases[i].bits, cases[i].nct, cases[i].nct);
    p.mem_level = (uint8_t)cases[i].mem_level;
    pair_open(NULL, 1 << 20, 1 << 20, &p);
    CHECK(wsf_deflate_zlib_bytes(client.ws.deflate) == 0); /* nothing before first use */
    CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, text, sizeof text) == 0);
    CHECK(wsf_ws_send(&server.ws, WSF_WS_TEXT, text, sizeof text) == 0);
    want = 1;
    CHECK(run_until(server_has_want, 5000) && run_until(client_has_want, 5000));
    held[i] = wsf_deflate_zlib_bytes(client.ws.deflate);
    CHECK(held[i] == wsf_deflate_zlib_bytes(server.ws.deflate));
    pair_close();
  }
  size_t w15 =
      ((size_t)1 << 17) + ((size_t)1 << 17) + ((size_t)1 << 15); /* deflate window+hash, inflate window */
  size_t w10 = ((size_t)1 << 12) + ((size_t)1 << 10) + ((size_t)1 << 10);
  CHECK(held[0] == 0);
  CHECK(held[1] >= w15 && held[1] < w15 + 64 * 1024);
  CHECK(held[2] >= w10 && held[2] < w10 + 64 * 1024);
  printf("# zlib bytes per idle session: no takeover %zu, takeover 15 bits/memLevel 8 %zu, "
         "10 bits/memLevel 1 %zu\n",
         held[0], held[1], held[2]);
}

/* The default memLevel follows the window: at 9 bits, memLevel 8 rewrote a 32,768-entry hash table
 * every 512 bytes (2.5x the CPU of memLevel 5 per 128 KiB message). Pinned by the rule and by the
 * memory a compressor holds with context takeover: 2^(bits+2) + 2^(memLevel+9) bytes. */
static void test_default_mem_level_follows_the_window(void) {
  static const int expect[16] = {
      [8] = 4, [9] = 5, [10] = 6, [11] = 7, [12] = 8, [13] = 8, [14] = 8, [15] = 8};
  for (int bits = 8; bits <= 15; bits++)
    CHECK(wsf_deflate_mem_level_for_window(bits) == expect[bits]);
  CHECK(wsf_deflate_mem_level_for_window(1) == 1);
  uint8_t text[4000];
  fill_text(text, sizeof text, 22);
  size_t held[2];
  for (int i = 0; i < 2; i++) { /* i = 0: default (derived, 5 at 9 bits); i = 1: 8 set explicitly */
    wsf_deflate_params p = params(9, 9, false, false);
    p.mem_level = (uint8_t)(i ? 8 : 0);
    pair_open(NULL, 1 << 20, 1 << 20, &p);
    CHECK(wsf_ws_send(&client.ws, WSF_WS_TEXT, text, sizeof text) == 0);
    want = 1;
    CHECK(run_until(server_has_want, 5000));
    CHECK(server.n_msgs == 1 && stored_is(&server.msgs[0], WSF_WS_TEXT, text, sizeof text));
    held[i] = wsf_deflate_zlib_bytes(client.ws.deflate);
    pair_close();
  }
  size_t inflate9 = (size_t)1 << 9, deflate9 = (size_t)1 << 11;
  CHECK(held[0] >= deflate9 + ((size_t)1 << 14) &&
        held[0] < deflate9 + ((size_t)1 << 14) + inflate9 + 24 * 1024);
  CHECK(held[1] >= deflate9 + ((size_t)1 << 17));
  printf("# zlib bytes, 9-bit windows with takeover: memLevel from the window %zu, memLevel 8 %zu\n", held[0],
         held[1]);
}

int main(void) {
  RUN(test_offer_lists_the_chosen_parameters);
  RUN(test_answer_gives_the_agreed_parameters);
  RUN(test_no_extension_in_the_answer_is_a_decline);
  RUN(test_bad_answers_fail_with_a_reason);
  RUN(test_server_answers_the_first_acceptable_offer);
  RUN(test_client_and_server_agree_on_every_combination);
  RUN(test_compressed_bomb_is_1009_with_bounded_memory);
  RUN(test_round_trip_each_parameter_combination);
  RUN(test_data_frames_carry_rsv1_and_control_frames_do_not);
  RUN(test_context_takeover_must_match_the_sender);
  RUN(test_invalid_utf8_inside_compressed_text_is_1007);
  RUN(test_corrupt_compressed_data_is_1007);
  RUN(test_fragmented_compressed_message);
  RUN(test_misplaced_reserved_bits_are_1002);
  RUN(test_empty_compressed_messages);
  RUN(test_idle_session_memory_by_context_takeover);
  RUN(test_default_mem_level_follows_the_window);
  return wsf_test_result();
}
