// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Magnitude pruning.

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

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

Result<std::vector<uint8_t>> PruneByMagnitude(const float* weights, size_t n,
                                              double keep_fraction) {
  if (!(keep_fraction >= 0.0 && keep_fraction <= 1.0)) {
    return Status::InvalidArgument("keep fraction " + std::to_string(keep_fraction),
                                   "must be in [0, 1]");
  }
  Status s = CheckFinite(weights, n);
  if (!s.ok()) return s;
  const size_t keep = static_cast<size_t>(std::llround(keep_fraction * static_cast<double>(n)));
  std::vector<uint8_t> mask(n, 0);
  if (keep == 0) return mask;
  // Order indices by decreasing magnitude, ties by increasing index; keep the first.
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  auto larger = [weights](uint32_t a, uint32_t b) {
    const float ma = std::fabs(weights[a]), mb = std::fabs(weights[b]);
    return ma != mb ? ma > mb : a < b;
  };
  std::nth_element(order.begin(), order.begin() + static_cast<long>(keep - 1), order.end(), larger);
  const uint32_t last = order[keep - 1];  // the smallest kept, in the total order
  for (size_t i = 0; i < n; ++i) {
    if (!larger(last, static_cast<uint32_t>(i))) mask[i] = 1;  // i is `last` or before it
  }
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
