/* Inbox: FIFO order, bounds by count and by bytes, drop counting, unlinking
 * from any position, clearing. */
#include <stdlib.h>

#include "inbox.h"
#include "testlib.h"

static uint64_t next_seq;

static wsf_msg *msg(const char *text) {
  uint64_t seq = ++next_seq;
  return wsf_msg_new(1, (const uint8_t *)text, strlen(text), seq, 1000 + seq);
}

/* Walks the list and checks it against count, bytes and tail. */
static void check_consistent(const wsf_inbox *in) {
  uint32_t n = 0;
  size_t bytes = 0;
  const wsf_msg *last = NULL;
  for (const wsf_msg *m = in->head; m && n <= in->count; m = m->next) {
    n++;
    bytes += m->len;
    last = m;
  }
  CHECK(n == in->count);
  CHECK(bytes == in->bytes);
  CHECK(last == in->tail);
}

static void test_msg_new_copies_data_and_terminates_it(void) {
  const uint8_t data[] = {'a', 0, 'b'};
  wsf_msg *m = wsf_msg_new(2, data, sizeof data, 7, 42);
  CHECK(m != NULL);
  CHECK(m->opcode == 2 && m->seq == 7 && m->arrived_us == 42 && m->len == 3);
  CHECK(memcmp(m->data, data, 3) == 0);
  CHECK(m->data[3] == 0);
  CHECK(m->next == NULL);
  free(m);

  wsf_msg *empty = wsf_msg_new(1, NULL, 0, 1, 1);
  CHECK(empty != NULL && empty->len == 0 && empty->data[0] == 0);
  free(empty);
}

static void test_push_keeps_fifo_order(void) {
  wsf_inbox in;
  wsf_inbox_init(&in, 100, 1 << 20);
  for (int i = 0; i < 10; i++) {
    char buf[16];
    snprintf(buf, sizeof buf, "m%d", i);
    CHECK(wsf_inbox_push(&in, msg(buf)) == 0);
  }
  check_consistent(&in);
  CHECK(in.count == 10);
  int i = 0;
  for (wsf_msg *m = in.head; m; m = m->next, i++) {
    char buf[16];
    snprintf(buf, sizeof buf, "m%d", i);
    CHECK_STR((const char *)m->data, buf);
  }
  CHECK(in.dropped == 0);
  wsf_inbox_clear(&in);
}

static void test_overflow_by_count_drops_oldest(void) {
  wsf_inbox in;
  wsf_inbox_init(&in, 3, 1 << 20);
  uint32_t dropped = 0;
  for (int i = 0; i < 5; i++) {
    char buf[16];
    snprintf(buf, sizeof buf, "m%d", i);
    dropped += wsf_inbox_push(&in, msg(buf));
  }
  check_consistent(&in);
  CHECK(in.count == 3);
  CHECK(dropped == 2);
  CHECK(in.dropped == 2);
  CHECK_STR((const char *)in.head->data, "m2");
  CHECK_STR((const char *)in.tail->data, "m4");
  wsf_inbox_clear(&in);
}

static void test_overflow_by_bytes_drops_as_many_as_needed(void) {
  wsf_inbox in;
  wsf_inbox_init(&in, 1000, 10);
  CHECK(wsf_inbox_push(&in, msg("aaa")) == 0);  /* 3 */
  CHECK(wsf_inbox_push(&in, msg("bbb")) == 0);  /* 6 */
  CHECK(wsf_inbox_push(&in, msg("cccc")) == 0); /* 10: exactly at the limit */
  CHECK(in.bytes == 10);
  /* 7 more bytes: 17 -> drop aaa (14) -> drop bbb (11) -> drop cccc (7). */
  CHECK(wsf_inbox_push(&in, msg("ddddddd")) == 3);
  check_consistent(&in);
  CHECK(in.count == 1 && in.bytes == 7);
  CHECK(in.dropped == 3);
  CHECK(wsf_inbox_push(&in, msg("eee")) == 0); /* 10 again */
  CHECK(in.count == 2 && in.bytes == 10);
  CHECK(wsf_inbox_push(&in, msg("f")) == 1); /* 11 -> drop ddddddd -> 4 */
  CHECK(in.bytes == 4 && in.dropped == 4);
  CHECK_STR((const char *)in.head->data, "eee");
  wsf_inbox_clear(&in);
}

/* The bounds include the newest message: one larger than max_bytes is
 * dropped itself (counted) and the older ones stay. */
static void test_message_larger_than_max_bytes_is_dropped_itself(void) {
  wsf_inbox in;
  wsf_inbox_init(&in, 10, 4);
  wsf_inbox_push(&in, msg("ab"));
  wsf_inbox_push(&in, msg("cd"));
  CHECK(wsf_inbox_push(&in, msg("0123456789")) == 1);
  check_consistent(&in);
  CHECK(in.count == 2 && in.bytes == 4);
  CHECK_STR((const char *)in.head->data, "ab");
  CHECK(in.dropped == 1);
  /* One that fits exactly pushes the oldest out. */
  CHECK(wsf_inbox_push(&in, msg("wxyz")) == 2);
  CHECK(in.count == 1 && in.bytes == 4);
  CHECK(in.dropped == 3);
  wsf_inbox_clear(&in);
}

static void test_zero_max_messages_keeps_nothing(void) {
  wsf_inbox in;
  wsf_inbox_init(&in, 0, 100);
  CHECK(wsf_inbox_push(&in, msg("a")) == 1);
  CHECK(wsf_inbox_push(&in, msg("b")) == 1);
  CHECK(in.count == 0 && in.bytes == 0 && in.head == NULL && in.dropped == 2);
  wsf_inbox_clear(&in);
}

static void test_remove_head_middle_and_tail(void) {
  wsf_inbox in;
  wsf_inbox_init(&in, 100, 1000);
  wsf_msg *m[5];
  const char *names[5] = {"zero", "one", "two", "three", "four"};
  for (int i = 0; i < 5; i++) {
    m[i] = msg(names[i]);
    wsf_inbox_push(&in, m[i]);
  }
  size_t total = in.bytes;

  wsf_inbox_remove(&in, m[1], m[2]); /* middle */
  CHECK(m[2]->next == NULL);
  CHECK(in.count == 4 && in.bytes == total - 3);
  CHECK(m[1]->next == m[3]);
  check_consistent(&in);
  free(m[2]);

  wsf_inbox_remove(&in, NULL, m[0]); /* head */
  CHECK(in.head == m[1]);
  check_consistent(&in);
  free(m[0]);

  wsf_inbox_remove(&in, m[3], m[4]); /* tail */
  CHECK(in.tail == m[3]);
  CHECK(m[3]->next == NULL);
  check_consistent(&in);
  free(m[4]);

  /* Appending after removing the tail links to the new tail. */
  wsf_msg *five = msg("five");
  wsf_inbox_push(&in, five);
  CHECK(m[3]->next == five && in.tail == five);
  check_consistent(&in);

  wsf_inbox_remove(&in, NULL, m[1]);
  wsf_inbox_remove(&in, NULL, m[3]);
  wsf_inbox_remove(&in, NULL, five);
  CHECK(in.head == NULL && in.tail == NULL && in.count == 0 && in.bytes == 0);
  free(m[1]);
  free(m[3]);
  free(five);

  /* Usable again after being emptied. */
  wsf_inbox_push(&in, msg("again"));
  CHECK(in.head == in.tail && in.count == 1);
  CHECK(in.dropped == 0);
  wsf_inbox_clear(&in);
}

static void test_clear_frees_all_and_keeps_drop_count(void) {
  wsf_inbox in;
  wsf_inbox_init(&in, 2, 1000);
  for (int i = 0; i < 5; i++)
    wsf_inbox_push(&in, msg("xyz"));
  CHECK(in.dropped == 3);
  wsf_inbox_clear(&in);
  CHECK(in.head == NULL && in.tail == NULL && in.count == 0 && in.bytes == 0);
  CHECK(in.dropped == 3);
  wsf_inbox_push(&in, msg("after"));
  check_consistent(&in);
  CHECK(in.count == 1 && in.bytes == 5);
  wsf_inbox_clear(&in);
  wsf_inbox_clear(&in); /* idempotent */
  CHECK(in.count == 0);
}

/* Many random pushes and removals against a reference count of bytes. */
static void test_random_operations_keep_accounting_exact(void) {
  wsf_inbox in;
  wsf_inbox_init(&in, 50, 4000);
  srand(12345);
  uint64_t pushed = 0, removed = 0;
  for (int round = 0; round < 20000; round++) {
    if (rand() % 3 != 0 || !in.head) {
      size_t len = (size_t)(rand() % 200);
      uint8_t buf[200];
      memset(buf, 'a' + round % 26, len);
      wsf_msg *m = wsf_msg_new(2, buf, len, ++next_seq, 0);
      wsf_inbox_push(&in, m);
      pushed++;
    } else {
      /* remove a random element */
      uint32_t k = (uint32_t)rand() % in.count;
      wsf_msg *prev = NULL, *m = in.head;
      for (uint32_t i = 0; i < k; i++) {
        prev = m;
        m = m->next;
      }
      wsf_inbox_remove(&in, prev, m);
      free(m);
      removed++;
    }
    CHECK(in.count <= 50);
    CHECK(in.bytes <= 4000);
  }
  check_consistent(&in);
  CHECK(pushed == removed + in.dropped + in.count);
  wsf_inbox_clear(&in);
}

int main(void) {
  RUN(test_msg_new_copies_data_and_terminates_it);
  RUN(test_push_keeps_fifo_order);
  RUN(test_overflow_by_count_drops_oldest);
  RUN(test_overflow_by_bytes_drops_as_many_as_needed);
  RUN(test_message_larger_than_max_bytes_is_dropped_itself);
  RUN(test_zero_max_messages_keeps_nothing);
  RUN(test_remove_head_middle_and_tail);
  RUN(test_clear_frees_all_and_keeps_drop_count);
  RUN(test_random_operations_keep_accounting_exact);
  return wsf_test_result();
}
