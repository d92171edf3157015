/* The memory rule (ARCHITECTURE.md): out of memory aborts with a message
 * naming what was asked for. Each case runs in a child so the abort is seen
 * from outside: SIGABRT, and the message on its stderr. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

/* Runs fn in a child with stderr to a pipe; true when it died of SIGABRT
 * having written want. */
static bool aborts_saying(void (*fn)(void), const char *want) {
  int fds[2];
  if (pipe(fds) != 0)
    return false;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    fn();
    _exit(0); /* did not abort */
  }
  close(fds[1]);
  char buf[256];
  size_t got = 0;
  ssize_t n;
  while (got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
    got += (size_t)n;
  buf[got] = '\0';
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  if (!strstr(buf, want))
    fprintf(stderr, "child said: %s\n", buf);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(buf, want);
}

static void oom_from_a_library(void) {
  wsf_out_of_memory("wslay");
}

#if defined(__SANITIZE_ADDRESS__)
#define WSF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSF_ASAN 1
#endif
#endif

#ifndef WSF_ASAN
static void huge_malloc(void) {
  /* Larger than any address space: malloc returns NULL at once. */
  volatile size_t n = SIZE_MAX / 2;
  free(wsf_xmalloc(n));
}

static void huge_realloc(void) {
  volatile size_t n = SIZE_MAX / 2;
  free(wsf_xrealloc(NULL, n));
}

#endif

static void test_library_out_of_memory_aborts_with_its_name(void) {
  CHECK(aborts_saying(oom_from_a_library, "out of memory (wslay)"));
}

static void test_allocators_abort_naming_the_size(void) {
#ifdef WSF_ASAN
  /* ASan reports an impossible size itself (allocation-size-too-big) before
   * malloc could return NULL: nothing of ours to see. */
  printf("# skipped under ASan\n");
#else
  char want[64];
  snprintf(want, sizeof want, "out of memory (%zu bytes)", (size_t)(SIZE_MAX / 2));
  CHECK(aborts_saying(huge_malloc, want));
  CHECK(aborts_saying(huge_realloc, want));
#endif
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Ping payloads come from wsf_random_u64: 100,000 draws, no two alike (a
 * late pong must not match the ping after it), and bounded draws stay below
 * their bound. */
static void test_fast_random_values_differ(void) {
  enum { N = 100000 };
  uint64_t *v = malloc(N * sizeof *v);
  for (size_t i = 0; i < N; i++)
    v[i] = wsf_random_u64();
  qsort(v, N, sizeof *v, cmp_u64);
  size_t repeats = 0;
  for (size_t i = 1; i < N; i++)
    repeats += v[i] == v[i - 1];
  CHECK(repeats == 0);
  free(v);
  for (int i = 0; i < 1000; i++)
    CHECK(wsf_random_below(7) < 7);
  CHECK(wsf_random_below(0) == 0);
}

int main(void) {
  RUN(test_library_out_of_memory_aborts_with_its_name);
  RUN(test_allocators_abort_naming_the_size);
  RUN(test_fast_random_values_differ);
  return wsf_test_result();
}
