// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Weight simplification, the first two steps of Weightless (and of Deep Compression):
// magnitude pruning and weight sharing (1-D clustering of the surviving weights).
//
// Thread safety: every function here is reentrant; none keeps state.

#ifndef WEIGHTLESS_SIMPLIFY_H_
#define WEIGHTLESS_SIMPLIFY_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "weightless/export.h"
#include "weightless/status.h"

namespace weightless {

// Returns a mask with mask[i] = 1 for the round(keep_fraction * n) weights of largest
// magnitude (ties broken toward the lower index, so the result is deterministic) and
// 0 elsewhere. REQUIRES: weights holds n values. Errors: keep_fraction outside [0, 1];
// a NaN or infinite weight (named by index).
WEIGHTLESS_EXPORT Result<std::vector<uint8_t>> PruneByMagnitude(const float* weights, size_t n,
                                                                double keep_fraction);

// As above, writing the mask into the caller's mask[0..n). Time O(n); memory 512 KiB
// whatever n is (a radix select on the magnitudes: no copy of the weights, no index
// array), so a model of any size prunes in place of its own mask. REQUIRES: mask holds
// n bytes. On error the mask's contents are unspecified.
WEIGHTLESS_EXPORT Status PruneByMagnitude(const float* weights, size_t n, double keep_fraction,
                                          uint8_t* mask);

// mask[i] = 1 where |weights[i]| > threshold. Errors as PruneByMagnitude; threshold
// must be finite and non-negative.
WEIGHTLESS_EXPORT Result<std::vector<uint8_t>> PruneByThreshold(const float* weights, size_t n,
                                                                float threshold);

enum class ClusterMethod {
  // Lloyd's k-means with centroids initialised evenly between the smallest and largest
  // value (linear initialisation, which Deep Compression found best for weights).
  kLinearKMeans,
  // The exact optimum of 1-D k-means (least squared error), by dynamic programming over
  // the sorted values with divide-and-conquer optimisation: O(K n log n).
  kOptimal,
};

// "optimal" or "linear"; Parse returns InvalidArgument listing them.
WEIGHTLESS_EXPORT const char* ClusterMethodName(ClusterMethod method);
WEIGHTLESS_EXPORT Result<ClusterMethod> ParseClusterMethod(std::string_view name);

struct Clustering {
  std::vector<float> centroids;  // K values, ascending; code c stands for centroids[c - 1]
  std::vector<uint16_t> codes;   // one code in 1..K per input value
  double squared_error = 0;      // sum over values of (value - its centroid)^2
};

// Clusters n values into at most k clusters (fewer when there are fewer distinct
// values; at least 1). Deterministic. Errors: k outside 1..65535; a NaN or infinite
// value (named by index). n may be 0 (then one centroid, 0.0).
WEIGHTLESS_EXPORT Result<Clustering> ShareWeights(const float* values, size_t n, uint32_t k,
                                                  ClusterMethod method = ClusterMethod::kOptimal,
                                                  int max_iterations = 100);

// Sets each centroid to the mean of the values assigned to it (unchanged when it has
// none). REQUIRES: codes[i] in 1..centroids.size().
WEIGHTLESS_EXPORT Status RecomputeCentroids(const float* values, const uint16_t* codes, size_t n,
                                            std::vector<float>* centroids);

// Shared-weight fine-tuning: centroid c -= learning_rate * (sum of the gradients of the
// weights with code c), as Deep Compression trains shared weights.
// REQUIRES: codes[i] in 0..centroids.size() (0 = pruned, ignored).
WEIGHTLESS_EXPORT Status ApplyCentroidGradients(const float* gradients, const uint16_t* codes,
                                                size_t n, float learning_rate,
                                                std::vector<float>* centroids);

// A simplified layer, what the encoder stores (weightless/encoder.h, EncodeCodes): one
// code per weight, 0 for a pruned weight and c in 1..K for one that stands for
// centroids[c - 1].
struct Codebook {
  std::vector<uint16_t> codes;
  std::vector<float> centroids;  // K values, ascending
  double squared_error = 0;      // kept weights vs their centroids
};

struct SimplifyOptions {
  // Magnitude pruning keeps this fraction of the weights (unless a mask is given).
  double keep_fraction = 0.05;
  // Weight sharing: at most `clusters` centroids (K), 1..65535.
  uint32_t clusters = 15;
  ClusterMethod cluster_method = ClusterMethod::kOptimal;
};

// Both simplification steps: keeps the weights mask[i] != 0 (when mask is not null; it
// holds n entries) or else PruneByMagnitude's, and shares the kept ones (ShareWeights).
// Deterministic. Errors: those of PruneByMagnitude and ShareWeights (a non-finite weight
// named by index, keep_fraction outside [0, 1], clusters outside 1..65535).
WEIGHTLESS_EXPORT Result<Codebook> Simplify(const float* weights, uint64_t n,
                                            const SimplifyOptions& options,
                                            const uint8_t* mask = nullptr);

}  // namespace weightless

#endif  // WEIGHTLESS_SIMPLIFY_H_
