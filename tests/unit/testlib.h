/* Minimal unit-test helpers: CHECK records a failure and goes on; the test's
 * main returns wsf_test_result() so meson sees the exit code. */
#ifndef WSF_TESTLIB_H
#define WSF_TESTLIB_H

#include <stdio.h>
#include <string.h>

extern int wsf_test_failures;
extern int wsf_test_checks;

#define CHECK(cond)                                                                                          \
  do {                                                                                                       \
    wsf_test_checks++;                                                                                       \
    if (!(cond)) {                                                                                           \
      wsf_test_failures++;                                                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                               \
    }                                                                                                        \
  } while (0)

#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

/* Runs one named test function and prints "ok"/"not ok" with its name. */
#define RUN(fn) wsf_test_run(#fn, fn)
void wsf_test_run(const char *name, void (*fn)(void));
int wsf_test_result(void);

#endif
