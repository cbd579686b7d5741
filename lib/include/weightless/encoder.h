// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The layer encoder: prune, share weights, choose t, and store the codes of the kept
// weights in a retrieval table (or, where that is smaller, as bit-packed codes), trying
// several table seeds and keeping the one whose false positives cost least.
//
// The false positives of a retrieval table are fixed once the table is built: every
// seed places them elsewhere. Seed search picks, among `seeds` tables, the one that
// minimises a cost: by default the squared error the false positives add (the sum of
// their centroid values squared), or a caller's function (e.g. weighted by input
// activations or by the loss).
//
// Thread safety: the functions are reentrant; an EncodedLayer is immutable after
// EncodeLayer returns and may be read from many threads.

#ifndef WEIGHTLESS_ENCODER_H_
#define WEIGHTLESS_ENCODER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "weightless/export.h"
#include "weightless/retrieval.h"
#include "weightless/simplify.h"
#include "weightless/status.h"
#include "weightless/tensor.h"

namespace weightless {

// A pruned weight that decodes to a non-zero value.
struct FalsePositive {
  uint64_t index;  // row-major weight index
  float value;     // what it decodes to
};

// The cost of a table's false positives; smaller is better.
using FalsePositiveCost = std::function<double(const std::vector<FalsePositive>&)>;

enum class LayerStorage {
  kAuto,         // a retrieval table unless bit-packed codes are no larger
  kRetrieval,    // always a retrieval table
  kPackedCodes,  // always bit-packed codes (exact, no false positives)
};

struct EncodeOptions {
  // Which weights to keep: `mask` when non-empty (mask[i] != 0 keeps weight i; must hold
  // one entry per weight), else the keep_fraction of largest magnitude.
  double keep_fraction = 0.05;
  std::vector<uint8_t> mask;
  // Weight sharing: at most `clusters` centroids (K).
  uint32_t clusters = 15;
  ClusterMethod cluster_method = ClusterMethod::kOptimal;
  // Value bits t. 0 chooses the smallest t with K / 2^t <= max_false_positive_rate
  // (and 2^t > K).
  int value_bits = 0;
  double max_false_positive_rate = 0.06;
  RetrievalKind kind = RetrievalKind::kRibbon;
  LayerStorage storage = LayerStorage::kAuto;
  // Seed search: tables are built with seeds base_seed, base_seed + 1, ... and the one
  // of least cost is kept (the earliest on ties). 1 = no search.
  int seeds = 1;
  uint64_t base_seed = 0;
  FalsePositiveCost cost;  // empty: the squared error the false positives add
  int threads = 0;         // 0 = one per hardware thread
};

struct EncodeStats {
  uint64_t weights = 0;
  uint64_t kept = 0;
  uint32_t clusters = 0;  // K actually used
  int value_bits = 0;     // t (retrieval) or bits per code (packed)
  uint64_t false_positives = 0;
  double false_positive_rate = 0;       // over pruned weights
  double clustering_squared_error = 0;  // kept weights vs their centroids
  double added_squared_error = 0;       // false positives (their values squared)
  uint64_t bits = 0;                    // payload bits (table or packed codes) + centroids
  double bits_per_kept_weight = 0;
  double compression_ratio = 0;  // 32 * weights / bits
  int seeds_tried = 0;
  uint64_t chosen_seed = 0;
  double first_seed_cost = 0;  // the cost of base_seed's table
  double chosen_cost = 0;
};

struct EncodedLayer {
  std::vector<uint64_t> shape;
  Storage storage = Storage::kRetrieval;
  std::optional<RetrievalTable> table;  // storage == kRetrieval
  std::vector<uint16_t> packed_codes;   // storage == kPackedCodes: one code per weight
  std::vector<float> centroids;
  EncodeStats stats;

  // The per-layer statistics a file stores (weightless/tensor.h).
  LayerStats layer_stats() const;
};

// Encodes a dense row-major float32 layer of `shape`. Errors: an empty shape or zero
// weights, a NaN or infinite weight (named by index), a mask of the wrong size,
// clusters outside 1..65535, t outside 1..16 or too small for K (2^t must exceed K),
// a false-positive budget outside (0, 1), seeds outside 1..65536.
WEIGHTLESS_EXPORT Result<EncodedLayer> EncodeLayer(const float* weights,
                                                   const std::vector<uint64_t>& shape,
                                                   const EncodeOptions& options);

// Decodes to dense float32, exactly as a reader of the file produces it.
// REQUIRES: out holds the shape's element count.
WEIGHTLESS_EXPORT Status DecodeLayer(const EncodedLayer& layer, float* out, int threads = 0);

}  // namespace weightless

#endif  // WEIGHTLESS_ENCODER_H_
