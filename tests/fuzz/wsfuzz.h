/* What the wsf_ws fuzz targets (fuzz_ws, fuzz_inflate) share, including
 * their LLVMFuzzerInitialize: include it from the target's one .c file only.
 * Header-only, so each target stays one source in tests/fuzz/meson.build. */
#ifndef WSF_WSFUZZ_H
#define WSF_WSFUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <uv.h>

#include "transport.h"

/* Any broken property aborts, so libFuzzer keeps the input as a crash. */
#define REQUIRE(c)                                                                                           \
  do {                                                                                                       \
    if (!(c))                                                                                                \
      abort();                                                                                               \
  } while (0)

/* xorshift32: piece sizes and split points derived from the input, so a
 * crash replays exactly. */
static inline uint32_t next_rand(uint32_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 17;
  *state ^= *state << 5;
  return *state;
}

/* Writes go to sink, a transport on /dev/null opened when libFuzzer starts:
 * a writable stream whose writes always succeed, so a session keeps going
 * past its first reply (pong, close) instead of failing on a dead socket.
 * No callbacks: nothing is ever read. */
static wsf_transport sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  static const wsf_transport_callbacks none;
  REQUIRE(wsf_transport_init(uv_default_loop(), &sink, &none) == 0);
  int fd = open("/dev/null", O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(uv_tcp_open(&sink.tcp, fd) == 0);
  REQUIRE(uv_is_writable((uv_stream_t *)&sink.tcp));
  return 0;
}

#endif
