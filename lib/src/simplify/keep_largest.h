// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The selection step of magnitude pruning, internal to the library (and its tests).

#ifndef WEIGHTLESS_SIMPLIFY_KEEP_LARGEST_H_
#define WEIGHTLESS_SIMPLIFY_KEEP_LARGEST_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace weightless {
namespace internal {

// The magnitude of a finite float as an integer of the same order: for non-negative
// floats, IEEE-754's bit patterns ascend as the values do, so clearing the sign bit
// maps |x| to a key that compares as |x| (with -0 and +0 equal).
inline uint32_t MagnitudeKey(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits & 0x7FFFFFFFu;
}

// Sets mask[i] = 1 for the `keep` weights first in the order "larger magnitude, then
// lower index", and 0 for the rest. REQUIRES: 1 <= keep <= n; every weight finite; mask
// holds n bytes.
//
// A radix select on MagnitudeKey, 16 bits at a time: one pass counts the keys' high
// halves and finds the half of the keep-th largest key, a second counts the low halves
// of the keys in that bucket, a third writes the mask, keeping ties at the threshold in
// index order until `keep` are kept. O(n) time and 512 KiB of counts whatever n is: no
// index array (which at 4 or 8 bytes per weight dominated the memory of pruning a large
// model) and no copy of the weights.
inline void KeepLargest(const float* weights, size_t n, size_t keep, uint8_t* mask) {
  constexpr size_t kBuckets = size_t{1} << 16;
  std::vector<uint64_t> count(kBuckets, 0);
  for (size_t i = 0; i < n; ++i) ++count[MagnitudeKey(weights[i]) >> 16];
  // The bucket holding the keep-th largest key, and how many keys lie above it.
  uint64_t above = 0;
  uint32_t high = static_cast<uint32_t>(kBuckets - 1);
  while (high > 0 && above + count[high] < keep) above += count[high--];

  std::fill(count.begin(), count.end(), 0);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = MagnitudeKey(weights[i]);
    if ((key >> 16) == high) ++count[key & 0xFFFFu];
  }
  uint32_t low = static_cast<uint32_t>(kBuckets - 1);
  while (low > 0 && above + count[low] < keep) above += count[low--];

  const uint32_t threshold = (high << 16) | low;
  // >= 1: keys equal to the threshold, lowest index first. (The `> 0` bounds above and
  // this saturation hold only if another thread changes the weights meanwhile: the
  // mask is then wrong, but every index stays in bounds.)
  uint64_t ties_to_keep = keep > above ? keep - above : 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = MagnitudeKey(weights[i]);
    uint8_t kept = key > threshold;
    if (key == threshold && ties_to_keep > 0) {
      kept = 1;
      --ties_to_keep;
    }
    mask[i] = kept;
  }
}

}  // namespace internal
}  // namespace weightless

#endif  // WEIGHTLESS_SIMPLIFY_KEEP_LARGEST_H_
