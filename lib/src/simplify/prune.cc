// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Magnitude pruning.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "simplify/keep_largest.h"
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
}  // namespace

Status PruneByMagnitude(const float* weights, size_t n, double keep_fraction, uint8_t* mask) {
  if (!(keep_fraction >= 0.0 && keep_fraction <= 1.0)) {
    return Status::InvalidArgument("keep fraction " + std::to_string(keep_fraction),
                                   "must be in [0, 1]");
  }
  if (n > 0 && mask == nullptr) return Status::InvalidArgument("mask is null");
  Status s = CheckFinite(weights, n);
  if (!s.ok()) return s;
  const size_t keep = static_cast<size_t>(std::llround(keep_fraction * static_cast<double>(n)));
  if (keep == 0) {
    if (n > 0) std::memset(mask, 0, n);
    return Status::OK();
  }
  internal::KeepLargest(weights, n, keep, mask);
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

}  // namespace weightless

namespace weightless {

Result<Codebook> Simplify(const float* weights, uint64_t n, const SimplifyOptions& options,
                          const uint8_t* mask) {
  if (options.clusters < 1 || options.clusters > 65535) {
    return Status::InvalidArgument("clusters (K) = " + std::to_string(options.clusters),
                                   "must be 1..65535");
  }
  Status s = CheckFinite(weights, n);
  if (!s.ok()) return s;
  std::vector<uint8_t> pruned;
  if (mask == nullptr) {
    pruned.resize(n);
    s = PruneByMagnitude(weights, n, options.keep_fraction, pruned.data());
    if (!s.ok()) return s;
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
