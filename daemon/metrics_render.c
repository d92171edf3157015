#include "metrics_render.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "view.h"

static void text_printf(wsf_text *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(wsf_text *b, const char *fmt, ...) {
  if (b->failed)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = true;
      return;
    }
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 16384;
    while (cap - b->len <= (size_t)n)
      cap *= 2;
    b->p = wsf_xrealloc(b->p, cap);
    b->cap = cap;
  }
}

/* Microseconds as exact decimal seconds ("0.000016", "2147.483648"): the
 * bucket bounds are powers of two in µs, which %g would round. */
static const char *secs(char *out, size_t size, uint64_t us) {
  char frac[8];
  snprintf(frac, sizeof frac, "%06" PRIu64, us % 1000000);
  int n = 6;
  while (n > 0 && frac[n - 1] == '0')
    frac[--n] = '\0';
  snprintf(out, size, "%" PRIu64 "%s%s", us / 1000000, n ? "." : "", frac);
  return out;
}

static void family(wsf_text *b, const wsf_prom *p) {
  text_printf(b, "# HELP %s %s\n# TYPE %s %s\n", p->family, p->help, p->family, p->type);
}

static void sample(wsf_text *b, const char *name, const char *labels, const char *value) {
  text_printf(b, "%s%s%s%s %s\n", name, labels ? "{" : "", labels ? labels : "", labels ? "}" : "", value);
}

/* wsf_hist bucket b holds values up to 2^(b/4) µs. Every 4th bucket is a
 * power of two, so `le` is exact; from 16 µs (below that is noise on a
 * timer or a network) to 2^31 µs (~36 min); the rest is in +Inf. */
enum { HIST_FIRST = 16, HIST_LAST = 124, HIST_STEP = 4 };

static void histogram(wsf_text *b, const char *name, const char *label, const wsf_hist *h) {
  const char *sep = label ? "," : "";
  if (!label)
    label = "";
  char s[32];
  uint64_t cum = 0;
  int b0 = 0;
  for (int bucket = HIST_FIRST; bucket <= HIST_LAST; bucket += HIST_STEP) {
    for (; b0 <= bucket; b0++)
      cum += h->counts[b0];
    text_printf(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, label, sep,
                secs(s, sizeof s, (uint64_t)1 << (bucket / 4)), cum);
  }
  text_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, label, sep, h->total);
  if (*label)
    text_printf(b, "%s_sum{%s} %s\n%s_count{%s} %" PRIu64 "\n", name, label, secs(s, sizeof s, h->sum_us),
                name, label, h->total);
  else
    text_printf(b, "%s_sum %s\n%s_count %" PRIu64 "\n", name, secs(s, sizeof s, h->sum_us), name, h->total);
}

static void counts(wsf_text *b, const wsf_prom *p, const wsf_view_counts *c) {
  for (size_t i = c->prom_zeros ? c->prom_first : 0; i < c->n; i++) {
    uint64_t x = c->value(c->ctx, i);
    if (!x && !c->prom_zeros)
      continue;
    char key[16], label[96], value[24];
    snprintf(label, sizeof label, "%s=\"%s\"", c->prom_label, c->key(c->ctx, i, key));
    snprintf(value, sizeof value, "%" PRIu64, x);
    sample(b, p->family, label, value);
  }
}

/* The Prometheus writer of a view: each field that names a family, HELP and
 * TYPE before the first sample of each family (a family's fields are
 * adjacent in the view). */
static void prom_view(wsf_text *b, const wsf_view *v, const char **last_family) {
  for (uint16_t i = 0; i < v->n; i++) {
    const wsf_view_field *f = &v->f[i];
    if (!(f->to & WSF_TO_PROM))
      continue;
    if (f->kind == WSF_VK_MAP) {
      if (f->v.map)
        prom_view(b, f->v.map, last_family);
      continue;
    }
    const wsf_prom *p = f->prom;
    if (!p)
      continue;
    if (!*last_family || strcmp(*last_family, p->family) != 0) {
      family(b, p);
      *last_family = p->family;
    }
    char value[32];
    switch (f->kind) {
    case WSF_VK_UINT:
    case WSF_VK_US:
      if (p->seconds)
        secs(value, sizeof value, f->v.u);
      else
        snprintf(value, sizeof value, "%" PRIu64, f->v.u);
      sample(b, p->family, p->labels, value);
      break;
    case WSF_VK_BOOL:
      sample(b, p->family, p->labels, f->v.b ? "1" : "0");
      break;
    case WSF_VK_HIST:
      histogram(b, p->family, p->labels, f->v.hist);
      break;
    case WSF_VK_COUNTS:
      counts(b, p, f->v.counts);
      break;
    default:
      break;
    }
  }
}

void wsf_metrics_render(const wsf_daemon *d, uint64_t now_us, wsf_text *b) {
  static const wsf_prom build_info = {"wsfleet_build_info", "gauge", "The daemon's version; always 1.", NULL,
                                      false};
  family(b, &build_info);
  text_printf(b, "wsfleet_build_info{version=\"");
  for (const char *v = WSF_VERSION; *v; v++) /* label value escaping */
    text_printf(b, "%s%c", (*v == '"' || *v == '\\' || *v == '\n') ? "\\" : "", *v == '\n' ? 'n' : *v);
  text_printf(b, "\"} 1\n");
  wsf_stats_view v;
  const char *last_family = NULL;
  prom_view(b, wsf_view_stats(&v, d, now_us, NULL), &last_family);
}
