/* registry.c: the name → connection map (open addressing, backward-shift
 * deletion). Items are structs whose first member is their name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testlib.h"

typedef struct item {
  char *name;
  int value;
} item;

static item *item_new(const char *name, int value) {
  item *it = malloc(sizeof *it);
  it->name = strdup(name);
  it->value = value;
  return it;
}

static void item_free(item *it) {
  free(it->name);
  free(it);
}

static item *get(const wsf_registry *r, const char *name) {
  return wsf_registry_get(r, name, strlen(name));
}

static void test_empty(void) {
  wsf_registry r;
  wsf_registry_init(&r);
  CHECK(r.count == 0 && get(&r, "a") == NULL);
  wsf_registry_free(&r);
}

/* Names are compared by length and bytes: a prefix or an extension of a
 * name is another name; the length given wins over a longer buffer. */
static void test_exact_names(void) {
  wsf_registry r;
  wsf_registry_init(&r);
  item *ab = item_new("ab", 1), *abc = item_new("abc", 2);
  wsf_registry_put(&r, ab);
  wsf_registry_put(&r, abc);
  CHECK(get(&r, "ab") == ab && get(&r, "abc") == abc);
  CHECK(get(&r, "a") == NULL && get(&r, "abcd") == NULL && get(&r, "") == NULL);
  CHECK(wsf_registry_get(&r, "abcdef", 2) == ab); /* not NUL-terminated at len */
  wsf_registry_remove(&r, ab);
  CHECK(get(&r, "ab") == NULL && get(&r, "abc") == abc && r.count == 1);
  wsf_registry_remove(&r, abc);
  CHECK(r.count == 0);
  item_free(ab);
  item_free(abc);
  wsf_registry_free(&r);
}

/* Many names through growth (64 slots doubling at 3/4 load), then every
 * other one removed: each remaining name is still found (backward-shift
 * deletion keeps probe chains whole), each removed one is not, and removing
 * and adding again in turn keeps the count exact. */
static void test_growth_and_removal(void) {
  enum { N = 5000 };
  wsf_registry r;
  wsf_registry_init(&r);
  item **items = calloc(N, sizeof *items);
  char name[32];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "conn-%d", i);
    items[i] = item_new(name, i);
    wsf_registry_put(&r, items[i]);
  }
  CHECK(r.count == N);
  CHECK(r.capacity >= N * 4 / 3 && (r.capacity & (r.capacity - 1)) == 0);
  int found = 0;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "conn-%d", i);
    item *it = get(&r, name);
    found += it && it->value == i;
  }
  CHECK(found == N);
  for (int i = 0; i < N; i += 2)
    wsf_registry_remove(&r, items[i]);
  CHECK(r.count == N / 2);
  int right = 0;
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "conn-%d", i);
    item *it = get(&r, name);
    right += (i % 2 == 0) ? it == NULL : (it == items[i]);
  }
  CHECK(right == N);
  /* churn: remove and put back, as reopen does */
  for (int round = 0; round < 3; round++)
    for (int i = 1; i < N; i += 2) {
      wsf_registry_remove(&r, items[i]);
      wsf_registry_put(&r, items[i]);
    }
  CHECK(r.count == N / 2);
  found = 0;
  for (int i = 1; i < N; i += 2) {
    snprintf(name, sizeof name, "conn-%d", i);
    found += get(&r, name) == items[i];
  }
  CHECK(found == N / 2);
  /* the slots hold exactly the items left */
  size_t in_slots = 0;
  for (size_t i = 0; i < r.capacity; i++)
    in_slots += r.slots[i] != NULL;
  CHECK(in_slots == r.count);
  for (int i = 0; i < N; i++)
    item_free(items[i]);
  free(items);
  wsf_registry_free(&r);
}

int main(void) {
  RUN(test_empty);
  RUN(test_exact_names);
  RUN(test_growth_and_removal);
  return wsf_test_result();
}
