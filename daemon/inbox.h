/* A connection's inbox: received messages that no recv waited for.
 * FIFO, bounded by count and bytes (the newest message included); overflow
 * drops the oldest and counts it, a message larger than the byte bound is
 * dropped itself. */
#ifndef WSF_INBOX_H
#define WSF_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wsf_msg {
  struct wsf_msg *next;
  uint64_t arrived_us; /* wsf_now_us() */
  uint64_t seq;        /* per connection, increasing */
  size_t len;
  uint8_t opcode; /* 1 text, 2 binary */
  uint8_t data[]; /* len bytes, plus a NUL so text can be matched as a C string */
} wsf_msg;

typedef struct wsf_inbox {
  wsf_msg *head, *tail;
  uint32_t count;
  uint32_t max_messages;
  size_t bytes;
  size_t max_bytes;
  uint64_t dropped;
} wsf_inbox;

/* Room for a len-byte message, its NUL written, the rest of its header
 * unset: for a receiver that assembles a message in place (ws.c's long
 * frames) and hands the whole over without a copy. The caller owns it:
 * free(). Never NULL (out of memory aborts). */
wsf_msg *wsf_msg_alloc(size_t len);
/* A copy of data (the caller owns it: free()). Never NULL (out of memory aborts). */
wsf_msg *wsf_msg_new(int opcode, const uint8_t *data, size_t len, uint64_t seq, uint64_t now_us);
void wsf_inbox_init(wsf_inbox *in, uint32_t max_messages, size_t max_bytes);
/* Takes msg: appends it, dropping the oldest until both bounds hold, or
 * drops msg itself (freed) when it cannot fit (len > max_bytes, or
 * max_messages 0). Returns how many messages were dropped, msg included. */
uint32_t wsf_inbox_push(wsf_inbox *in, wsf_msg *msg);
/* Unlinks msg, whose predecessor is prev (NULL for the head). */
void wsf_inbox_remove(wsf_inbox *in, wsf_msg *prev, wsf_msg *msg);
void wsf_inbox_clear(wsf_inbox *in);

#endif
