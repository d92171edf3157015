#include "testlib.h"

int wsf_test_failures;
int wsf_test_checks;

void wsf_test_run(const char *name, void (*fn)(void)) {
  int before = wsf_test_failures;
  fn();
  printf("%s - %s\n", wsf_test_failures == before ? "ok" : "not ok", name);
}

int wsf_test_result(void) {
  printf("%d checks, %d failed\n", wsf_test_checks, wsf_test_failures);
  return wsf_test_failures ? 1 : 0;
}
