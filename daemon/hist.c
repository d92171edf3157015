/* The histogram arithmetic of hist.h: bucketing, quantiles. No I/O. */
#include "hist.h"

#include <math.h>

/* Bucket b holds values up to 2^(b/4) µs: 4 buckets per doubling, so a
 * quantile read from the buckets is within 19 % of the true value. The
 * bucket is the least b with 2^b >= us^4, i.e. the bit length of us^4 - 1,
 * in integers: ceil(4 * log2(us)) through libm was ~1 % of the daemon's CPU
 * at 19,000 idle connections (perf; two adds per heartbeat, issue 19). */
static int bucket_of(uint64_t us) {
  if (us <= 1)
    return 0;
  if (us >= (uint64_t)1 << 32) /* 2^32 µs is past the last bucket (2^31.75) */
    return WSF_HIST_BUCKETS - 1;
  uint64_t sq = us * us;
  unsigned __int128 x = (unsigned __int128)sq * sq - 1;
  uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
  int b = hi ? 128 - __builtin_clzll(hi) : 64 - __builtin_clzll(lo);
  return b < WSF_HIST_BUCKETS ? b : WSF_HIST_BUCKETS - 1;
}

double wsf_hist_bucket_upper_us(int bucket) {
  return pow(2.0, bucket / 4.0);
}

void wsf_hist_add(wsf_hist *h, uint64_t us) {
  h->counts[bucket_of(us)]++;
  h->total++;
  h->sum_us += us;
  if (us > h->max_us)
    h->max_us = us;
  if (us > h->interval_max_us)
    h->interval_max_us = us;
}

uint64_t wsf_hist_quantile(const wsf_hist *h, double q) {
  if (!h->total)
    return 0;
  uint64_t rank = (uint64_t)ceil(q * (double)h->total), seen = 0;
  if (rank == 0)
    rank = 1;
  for (int b = 0; b < WSF_HIST_BUCKETS; b++) {
    seen += h->counts[b];
    if (seen >= rank) {
      uint64_t upper = (uint64_t)wsf_hist_bucket_upper_us(b);
      return upper < h->max_us ? upper : h->max_us;
    }
  }
  return h->max_us;
}
