// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Magnitude pruning, and Simplify: pruning then weight sharing.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "weightless/simplify.h"

namespace weightless {

namespace {

Status CheckFinite(const float* values, size_t n) {
  if (n > 0 && values == nullptr) return Status::InvalidArgument("weights is null");
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      return Status::InvalidArgument("weight at index " + std::to_string(i) + " is " +
                                     (std::isnan(values[i]) ? "NaN" : "infinite"));
    }
  }
  return Status::OK();
}

Status CheckKeepFraction(double keep_fraction) {
  if (keep_fraction >= 0.0 && keep_fraction <= 1.0) return Status::OK();
  return Status::InvalidArgument("keep fraction " + std::to_string(keep_fraction),
                                 "must be in [0, 1]");
}

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

// PruneByMagnitude once its arguments are checked (finite weights, keep_fraction in
// [0, 1], mask of n bytes).
void PruneChecked(const float* weights, size_t n, double keep_fraction, uint8_t* mask) {
  const size_t keep = static_cast<size_t>(std::llround(keep_fraction * static_cast<double>(n)));
  if (keep == 0) {
    if (n > 0) std::memset(mask, 0, n);
    return;
  }
  KeepLargest(weights, n, keep, mask);
}

}  // namespace

Status PruneByMagnitude(const float* weights, size_t n, double keep_fraction, uint8_t* mask) {
  Status s = CheckKeepFraction(keep_fraction);
  if (!s.ok()) return s;
  if (n > 0 && mask == nullptr) return Status::InvalidArgument("mask is null");
  s = CheckFinite(weights, n);
  if (!s.ok()) return s;
  PruneChecked(weights, n, keep_fraction, mask);
  return Status::OK();
}

Result<std::vector<uint8_t>> PruneByMagnitude(const float* weights, size_t n,
                                              double keep_fraction) {
  std::vector<uint8_t> mask(n);
  Status s = PruneByMagnitude(weights, n, keep_fraction, mask.data());
  if (!s.ok()) return s;
  return mask;
}

Result<std::vector<uint8_t>> PruneByThreshold(const float* weights, size_t n, float threshold) {
  if (!(std::isfinite(threshold) && threshold >= 0)) {
    return Status::InvalidArgument("threshold must be finite and non-negative");
  }
  Status s = CheckFinite(weights, n);
  if (!s.ok()) return s;
  std::vector<uint8_t> mask(n);
  for (size_t i = 0; i < n; ++i) mask[i] = std::fabs(weights[i]) > threshold ? 1 : 0;
  return mask;
}

Result<Codebook> Simplify(const float* weights, uint64_t n, const SimplifyOptions& options,
                          const uint8_t* mask) {
  // Every argument is checked before the first pass over the weights.
  if (options.clusters < 1 || options.clusters > 65535) {
    return Status::InvalidArgument("clusters (K) = " + std::to_string(options.clusters),
                                   "must be 1..65535");
  }
  Status s = CheckKeepFraction(options.keep_fraction);
  if (!s.ok()) return s;
  s = CheckFinite(weights, n);
  if (!s.ok()) return s;
  std::vector<uint8_t> pruned;
  if (mask == nullptr) {
    pruned.resize(n);
    PruneChecked(weights, n, options.keep_fraction, pruned.data());
    mask = pruned.data();
  }
  std::vector<float> kept;
  for (uint64_t i = 0; i < n; ++i) {
    if (mask[i]) kept.push_back(weights[i]);
  }
  Result<Clustering> clustering =
      ShareWeights(kept.data(), kept.size(), options.clusters, options.cluster_method);
  if (!clustering.ok()) return clustering.status();
  kept = {};
  Codebook out;
  out.codes.assign(n, 0);
  for (uint64_t i = 0, j = 0; i < n; ++i) {
    if (mask[i]) out.codes[i] = clustering->codes[j++];
  }
  out.centroids = std::move(clustering->centroids);
  out.squared_error = clustering->squared_error;
  return out;
}

}  // namespace weightless
