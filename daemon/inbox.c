/* A connection's inbox: a singly linked FIFO with a tail pointer, so push
 * and pop-oldest are O(1). bytes counts message payloads exactly (len of
 * each message, not allocation overhead), so the limit a user sets is the
 * limit on the data they can get back. */
#include "inbox.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* One allocation: header, payload and a trailing NUL, so text can also be
 * handed to C-string APIs. Never NULL: out of memory aborts (the memory
 * rule, util.h); len is already bounded by max_message_bytes. */
wsf_msg *wsf_msg_alloc(size_t len) {
  /* A size that would overflow asks for SIZE_MAX, which fails and aborts. */
  bool overflows = len > SIZE_MAX - sizeof(wsf_msg) - 1;
  wsf_msg *m = wsf_xmalloc(overflows ? SIZE_MAX : sizeof(wsf_msg) + len + 1);
  m->len = len;
  m->data[len] = '\0';
  return m;
}

wsf_msg *wsf_msg_new(int opcode, const uint8_t *data, size_t len, uint64_t seq, uint64_t now_us) {
  wsf_msg *m = wsf_msg_alloc(len);
  m->next = NULL;
  m->arrived_us = now_us;
  m->seq = seq;
  m->opcode = (uint8_t)opcode;
  if (len)
    memcpy(m->data, data, len);
  return m;
}

void wsf_inbox_init(wsf_inbox *in, uint32_t max_messages, size_t max_bytes) {
  memset(in, 0, sizeof *in);
  in->max_messages = max_messages;
  in->max_bytes = max_bytes;
}

static void unlink_head(wsf_inbox *in) {
  wsf_msg *m = in->head;
  in->head = m->next;
  if (!in->head)
    in->tail = NULL;
  in->count--;
  in->bytes -= m->len;
  free(m);
}

/* Both limits are real bounds: older messages go first until the new one
 * fits, and a message that cannot fit at all (larger than max_bytes, or
 * max_messages 0) is dropped itself, older ones kept. Keeping the newest
 * whatever its size let 40 connections with permessage-deflate hold 659 MB
 * (one inflated 16 MiB message each) under a 1 MiB inbox bound. */
uint32_t wsf_inbox_push(wsf_inbox *in, wsf_msg *msg) {
  if (msg->len > in->max_bytes || in->max_messages == 0) {
    free(msg);
    in->dropped++;
    return 1;
  }
  msg->next = NULL;
  if (in->tail)
    in->tail->next = msg;
  else
    in->head = msg;
  in->tail = msg;
  in->count++;
  in->bytes += msg->len;

  uint32_t dropped = 0;
  while (in->count > in->max_messages || in->bytes > in->max_bytes) {
    unlink_head(in);
    dropped++;
  }
  in->dropped += dropped;
  return dropped;
}

/* Hands msg back to the caller (not freed): recv delivers it, then frees it. */
void wsf_inbox_remove(wsf_inbox *in, wsf_msg *prev, wsf_msg *msg) {
  if (prev)
    prev->next = msg->next;
  else
    in->head = msg->next;
  if (in->tail == msg)
    in->tail = prev;
  msg->next = NULL;
  in->count--;
  in->bytes -= msg->len;
}

/* Frees every message. Not counted as dropped: clearing is deliberate
 * (reset, reopen), and dropped reports overflow only. */
void wsf_inbox_clear(wsf_inbox *in) {
  wsf_msg *m = in->head;
  while (m) {
    wsf_msg *next = m->next;
    free(m);
    m = next;
  }
  in->head = in->tail = NULL;
  in->count = 0;
  in->bytes = 0;
}
