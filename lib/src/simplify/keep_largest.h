// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The selection step of magnitude pruning, internal to the library (and its tests).

#ifndef WEIGHTLESS_SIMPLIFY_KEEP_LARGEST_H_
#define WEIGHTLESS_SIMPLIFY_KEEP_LARGEST_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

namespace weightless {
namespace internal {

// Sets mask[i] = 1 for the `keep` (>= 1) weights first in the order "larger magnitude,
// then lower index". Index is uint32_t when n fits (half the memory of the order array)
// and uint64_t otherwise: a layer may hold up to 2^48 weights.
template <typename Index>
inline void KeepLargest(const float* weights, size_t n, size_t keep, std::vector<uint8_t>* mask) {
  std::vector<Index> order(n);
  std::iota(order.begin(), order.end(), Index{0});
  auto larger = [weights](Index a, Index b) {
    const float ma = std::fabs(weights[a]), mb = std::fabs(weights[b]);
    return ma != mb ? ma > mb : a < b;
  };
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep - 1),
                   order.end(), larger);
  const Index last = order[keep - 1];  // the smallest kept, in the total order
  for (size_t i = 0; i < n; ++i) {
    if (!larger(last, static_cast<Index>(i))) (*mask)[i] = 1;  // i is `last` or before it
  }
}

}  // namespace internal
}  // namespace weightless

#endif  // WEIGHTLESS_SIMPLIFY_KEEP_LARGEST_H_
