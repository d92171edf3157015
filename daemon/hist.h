/* Latency histograms: log-scale buckets in microseconds, 1 µs .. ~1 h in
 * 2^(1/4) steps, so a quantile read from the buckets is within 19 % of the
 * true value. A leaf: conn adds to them, looplag samples into one, rpc,
 * metrics and the event log read them. */
#ifndef WSF_HIST_H
#define WSF_HIST_H

#include <stdint.h>

#define WSF_HIST_BUCKETS 128
typedef struct wsf_hist {
  uint64_t counts[WSF_HIST_BUCKETS];
  uint64_t total, sum_us, max_us;
  uint64_t interval_max_us; /* since the last event-log snapshot took it (observe.c) */
} wsf_hist;

void wsf_hist_add(wsf_hist *h, uint64_t us);
/* The value at quantile q (0..1): a bucket's upper bound, at most the maximum; 0 when empty. */
uint64_t wsf_hist_quantile(const wsf_hist *h, double q);
double wsf_hist_bucket_upper_us(int bucket);

#endif
