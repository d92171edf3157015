/* Dispatch without sockets: a fake control client (its output buffer, no
 * stream) is handed decoded requests, and its packed replies are read back.
 * Pins: every method of RPC_METHODS reaches its group and hello lists them
 * all in that order; unknown methods, missing connections and a shutting
 * daemon get their errors; stats counts its own map; pipelined requests are
 * answered in order. */
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"
#include "testlib.h"

static wsf_daemon d;
static wsf_rpc rpc;
static wsf_ctl *ctl;

static void setup(void) {
  memset(&d, 0, sizeof d);
  memset(&rpc, 0, sizeof rpc);
  d.rpc = &rpc;
  d.cfg.max_control_output_bytes = 64u << 20;
  d.cfg.max_request_bytes = 1u << 20;
  d.cfg.max_name_bytes = 256;
  ctl = calloc(1, sizeof *ctl);
  ctl->d = &d;
  ctl->refs = 1;
  ctl->in_read = true; /* as on_ctl_read: replies stay packed, nothing is flushed */
  msgpack_sbuffer_init(&ctl->out);
  /* as rpc.c: replies are written into the sbuffer directly (rpc_out.h) */
  msgpack_packer_init(&ctl->pk, &ctl->out, rpc_sbuffer_write);
}

static void teardown(void) {
  msgpack_sbuffer_destroy(&ctl->out);
  free(ctl);
}

/* Packs [0, msgid, method, [params]] where params_pack fills the params map. */
static void pack_request(msgpack_sbuffer *buf, uint32_t msgid, const char *method,
                         void (*params_pack)(msgpack_packer *pk)) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 4);
  msgpack_pack_uint8(&pk, 0);
  msgpack_pack_uint32(&pk, msgid);
  wsf_pack_str(&pk, method);
  msgpack_pack_array(&pk, 1);
  if (params_pack)
    params_pack(&pk);
  else
    msgpack_pack_map(&pk, 0);
}

/* Feeds bytes through the codec and dispatches each request, as rpc_io.c does. */
static void feed(const msgpack_sbuffer *buf) {
  wsf_rpc_decoder *dec = wsf_rpc_decoder_new(d.cfg.max_request_bytes);
  CHECK(wsf_rpc_decoder_feed(dec, buf->data, buf->size) == 0);
  for (;;) {
    wsf_rpc_request req;
    int st = wsf_rpc_decoder_next(dec, &req);
    if (st != WSF_RPC_REQUEST)
      break;
    rpc_dispatch(ctl, &req);
    wsf_rpc_request_release(&req);
  }
  wsf_rpc_decoder_free(dec);
}

static void call(const char *method, void (*params_pack)(msgpack_packer *pk)) {
  msgpack_sbuffer buf;
  msgpack_sbuffer_init(&buf);
  pack_request(&buf, 7, method, params_pack);
  feed(&buf);
  msgpack_sbuffer_destroy(&buf);
}

/* The replies packed so far, one by one. */
typedef struct replies {
  msgpack_unpacked obj;
  size_t off;
} replies;

static const msgpack_object *next_reply(replies *r) {
  if (msgpack_unpack_next(&r->obj, ctl->out.data, ctl->out.size, &r->off) != MSGPACK_UNPACK_SUCCESS)
    return NULL;
  const msgpack_object *o = &r->obj.data;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
    return NULL;
  return o;
}

static const msgpack_object *map_get(const msgpack_object *map, const char *key) {
  if (!map || map->type != MSGPACK_OBJECT_MAP)
    return NULL;
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
        memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
      return &map->via.map.ptr[i].val;
  }
  return NULL;
}

static bool str_is(const msgpack_object *o, const char *s) {
  return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
         memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* The error code of a reply, or NULL for a result. */
static const msgpack_object *error_code(const msgpack_object *reply) {
  const msgpack_object *err = &reply->via.array.ptr[2];
  return err->type == MSGPACK_OBJECT_NIL ? NULL : map_get(err, "code");
}

static void params_reset_bad_code(msgpack_packer *pk) {
  msgpack_pack_map(pk, 1);
  wsf_pack_key(pk, "code");
  msgpack_pack_uint32(pk, 999);
}

/* Each method of the table reaches a handler (no unknown_method); none of
 * these requests changes anything (no connection exists, or a field is
 * missing), so the groups answer from their own checks. */
static void test_every_method_reaches_its_group(void) {
  for (size_t i = 0; i < rpc_method_count; i++) {
    setup();
    const char *name = rpc_methods[i].name;
    call(name, strcmp(name, "reset") == 0 ? params_reset_bad_code : NULL);
    replies r = {0};
    msgpack_unpacked_init(&r.obj);
    const msgpack_object *reply = next_reply(&r);
    CHECK(reply != NULL);
    if (reply) {
      CHECK(reply->via.array.ptr[1].via.u64 == 7);
      CHECK(!str_is(error_code(reply), "unknown_method"));
      bool answers = strcmp(name, "hello") == 0 || strcmp(name, "stats") == 0 || strcmp(name, "list") == 0;
      if (answers)
        CHECK(error_code(reply) == NULL);
      else
        CHECK(str_is(error_code(reply), "bad_request"));
    }
    CHECK(next_reply(&r) == NULL); /* exactly one reply */
    msgpack_unpacked_destroy(&r.obj);
    teardown();
  }
}

static void test_hello_lists_the_method_table_in_order(void) {
  setup();
  call("hello", NULL);
  replies r = {0};
  msgpack_unpacked_init(&r.obj);
  const msgpack_object *reply = next_reply(&r);
  CHECK(reply && !error_code(reply));
  const msgpack_object *methods = reply ? map_get(&reply->via.array.ptr[3], "methods") : NULL;
  CHECK(methods && methods->type == MSGPACK_OBJECT_ARRAY);
  if (methods && methods->type == MSGPACK_OBJECT_ARRAY) {
    CHECK(methods->via.array.size == rpc_method_count);
    CHECK(rpc_method_count == 12);
    for (size_t i = 0; i < methods->via.array.size && i < rpc_method_count; i++)
      CHECK(str_is(&methods->via.array.ptr[i], rpc_methods[i].name));
  }
  msgpack_unpacked_destroy(&r.obj);
  teardown();
}

static void test_unknown_method_is_named_in_the_error(void) {
  setup();
  call("frobnicate", NULL);
  replies r = {0};
  msgpack_unpacked_init(&r.obj);
  const msgpack_object *reply = next_reply(&r);
  CHECK(reply && str_is(error_code(reply), "unknown_method"));
  if (reply)
    CHECK(str_is(map_get(&reply->via.array.ptr[2], "method"), "frobnicate"));
  msgpack_unpacked_destroy(&r.obj);
  teardown();
}

static void params_conn_x(msgpack_packer *pk) {
  msgpack_pack_map(pk, 1);
  wsf_pack_key(pk, "conn");
  wsf_pack_str(pk, "x");
}

static void test_a_missing_connection_is_no_such_conn(void) {
  setup();
  call("status", params_conn_x);
  replies r = {0};
  msgpack_unpacked_init(&r.obj);
  const msgpack_object *reply = next_reply(&r);
  CHECK(reply && str_is(error_code(reply), "no_such_conn"));
  if (reply)
    CHECK(str_is(map_get(&reply->via.array.ptr[2], "conn"), "x"));
  msgpack_unpacked_destroy(&r.obj);
  teardown();
}

/* Only what starts something new is refused while shutting down. */
static void test_shutting_down_refuses_open_only(void) {
  setup();
  d.shutting_down = true;
  call("open", params_conn_x);
  call("hello", NULL);
  replies r = {0};
  msgpack_unpacked_init(&r.obj);
  const msgpack_object *reply = next_reply(&r);
  CHECK(reply && str_is(error_code(reply), "shutting_down"));
  reply = next_reply(&r);
  CHECK(reply && error_code(reply) == NULL);
  msgpack_unpacked_destroy(&r.obj);
  teardown();
}

/* The stats map's size comes from its field list: unpacking it whole and
 * finding every key proves the header matches the pairs. */
static void test_stats_map_is_counted_from_its_fields(void) {
  setup();
  d.stats.opened_total = 42;
  rpc.limit_hits[CTL_MAX_WAITS_PER_CONN] = 3;
  call("stats", NULL);
  replies r = {0};
  msgpack_unpacked_init(&r.obj);
  const msgpack_object *reply = next_reply(&r);
  CHECK(reply && error_code(reply) == NULL);
  CHECK(next_reply(&r) == NULL); /* nothing left over after the map */
  msgpack_unpacked_destroy(&r.obj);
  msgpack_unpacked_init(&r.obj);
  r.off = 0;
  reply = next_reply(&r);
  const msgpack_object *stats = reply ? &reply->via.array.ptr[3] : NULL;
  CHECK(stats && stats->type == MSGPACK_OBJECT_MAP && stats->via.map.size == 34); /* with tls_resumed_total */
  const msgpack_object *opened = map_get(stats, "opened_total");
  CHECK(opened && opened->via.u64 == 42);
  const msgpack_object *limits = map_get(stats, "control_limits");
  CHECK(limits && limits->via.map.size == CTL_LIMIT_COUNT);
  const msgpack_object *hits = map_get(limits, "max_waits_per_conn");
  CHECK(hits && hits->via.u64 == 3);
  const msgpack_object *rtt = map_get(stats, "ping_rtt_us");
  CHECK(rtt && rtt->via.map.size == 4 && map_get(rtt, "p99"));
  CHECK(map_get(stats, "handshakes_in_flight") == NULL); /* Prometheus only */
  msgpack_unpacked_destroy(&r.obj);
  teardown();
}

static void test_pipelined_requests_are_answered_in_order(void) {
  setup();
  msgpack_sbuffer buf;
  msgpack_sbuffer_init(&buf);
  const char *methods[] = {"hello", "stats", "nope", "list", "status"};
  for (uint32_t i = 0; i < 5; i++)
    pack_request(&buf, 100 + i, methods[i], NULL);
  feed(&buf);
  msgpack_sbuffer_destroy(&buf);
  replies r = {0};
  msgpack_unpacked_init(&r.obj);
  for (uint32_t i = 0; i < 5; i++) {
    const msgpack_object *reply = next_reply(&r);
    CHECK(reply && reply->via.array.ptr[1].via.u64 == 100 + i);
  }
  CHECK(next_reply(&r) == NULL);
  msgpack_unpacked_destroy(&r.obj);
  teardown();
}

int main(void) {
  RUN(test_every_method_reaches_its_group);
  RUN(test_hello_lists_the_method_table_in_order);
  RUN(test_unknown_method_is_named_in_the_error);
  RUN(test_a_missing_connection_is_no_such_conn);
  RUN(test_shutting_down_refuses_open_only);
  RUN(test_stats_map_is_counted_from_its_fields);
  RUN(test_pipelined_requests_are_answered_in_order);
  return wsf_test_result();
}
