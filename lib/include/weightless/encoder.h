// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The layer encoder: prune, share weights, choose t, and store the codes of the kept
// weights in a retrieval table (or, where that is smaller, as bit-packed codes), trying
// several table seeds and keeping the one whose false positives cost least.
// EncodeLayer does all of it from dense weights; EncodeCodes starts from codes and
// centroids a caller already has (e.g. a trainer that prunes and shares itself). Both
// return an EncodedLayer whose `section` (weightless/section.h) is what a file stores
// (Writer::AddSection).
//
// The false positives of a retrieval table are fixed once the table is built: every
// seed places them elsewhere. Seed search picks, among `seeds` tables, the one that
// minimises a cost: by default the squared error the false positives add (the sum of
// their centroid values squared), the activation-weighted squared error (the output
// error they add, given each input column's mean squared activation), or a caller's
// function (e.g. weighted by the loss).
//
// Thread safety: the functions are reentrant; an EncodedLayer is immutable after
// EncodeLayer or EncodeCodes returns and may be read from many threads.

#ifndef WEIGHTLESS_ENCODER_H_
#define WEIGHTLESS_ENCODER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "weightless/export.h"
#include "weightless/retrieval.h"
#include "weightless/section.h"
#include "weightless/simplify.h"
#include "weightless/status.h"
#include "weightless/tensor.h"

namespace weightless {

// A pruned weight that decodes to a non-zero value.
struct FalsePositive {
  uint64_t index;  // row-major weight index
  float value;     // what it decodes to
};

// The cost of a table's false positives (given in ascending index order); smaller is
// better.
using FalsePositiveCost = std::function<double(const std::vector<FalsePositive>&)>;

// How seed search prices a table's false positives.
enum class FalsePositiveCostKind {
  kSquaredError,  // sum of value^2: the squared error the false positives add (default)
  kActivation,    // sum of value^2 * column_energy[index % columns]: the expected squared
                  // output error they add, columns = n / shape[0] (fan-in; for a convolution
                  // [out, in, kh, kw] the im2col rows in*kh*kw)
};

// The kActivation cost of `fps` on its own: the sum over them of
// value^2 * column_energy[index % columns], added in the order given. This is exactly
// the value seed search computes. Returns NaN when columns is 0 or column_energy does
// not hold exactly `columns` entries.
WEIGHTLESS_EXPORT double ActivationWeightedError(const std::vector<FalsePositive>& fps,
                                                 const std::vector<float>& column_energy,
                                                 uint64_t columns);

enum class LayerStorage {
  kAuto,         // a retrieval table unless bit-packed codes are no larger
  kRetrieval,    // always a retrieval table
  kPackedCodes,  // always bit-packed codes (exact, no false positives)
};

// Names every tool and binding uses: "auto", "retrieval", "packed-codes" (also parsed:
// the older "packed"); "squared_error", "activation" (also "squared-error"). Parse
// returns InvalidArgument listing the names.
WEIGHTLESS_EXPORT const char* LayerStorageName(LayerStorage storage);
WEIGHTLESS_EXPORT Result<LayerStorage> ParseLayerStorage(std::string_view name);
WEIGHTLESS_EXPORT const char* FalsePositiveCostKindName(FalsePositiveCostKind kind);
WEIGHTLESS_EXPORT Result<FalsePositiveCostKind> ParseFalsePositiveCostKind(std::string_view name);

// How to encode: a policy, with nothing that belongs to one layer (that is in
// LayerInputs), so that one value serves every layer of a model.
struct EncodeOptions {
  // EncodeLayer's pruning keeps the keep_fraction of largest magnitude (unless the
  // layer's LayerInputs::mask says which).
  double keep_fraction = 0.05;
  // Weight sharing: at most `clusters` centroids (K).
  uint32_t clusters = 15;
  ClusterMethod cluster_method = ClusterMethod::kOptimal;
  // Value bits t. 0 chooses the smallest t with K / 2^t <= max_false_positive_rate
  // (and 2^t > K).
  int value_bits = 0;
  double max_false_positive_rate = 0.06;
  RetrievalKind kind = RetrievalKind::kRibbon;
  // The tables' key hashing (RetrievalOptions::hash): unset, mix32 for ribbon and xxh3
  // for bloomier. kXxh3 writes files that readers of format 1.0 read.
  std::optional<RetrievalHash> hash;
  LayerStorage storage = LayerStorage::kAuto;
  // Seed search: tables are built with seeds base_seed, base_seed + 1, ... and the one
  // of least cost is kept (the earliest on ties; a NaN cost ranks after every other).
  // 1 = no search. Up to `threads` seeds are tried at once; the result is the same
  // whatever the number of threads.
  int seeds = 1;
  uint64_t base_seed = 0;
  // The cost: `cost` when set (it wins over cost_kind), else the one cost_kind names.
  // `cost` is called once per seed, one call at a time but from any thread and in no
  // fixed order; it must depend only on its argument. An exception it throws
  // propagates out of the encoder.
  FalsePositiveCost cost;
  FalsePositiveCostKind cost_kind = FalsePositiveCostKind::kSquaredError;
  int threads = 0;  // 0 = one per hardware thread
};

// What belongs to one layer, given beside the options.
struct LayerInputs {
  // EncodeLayer only: mask[i] != 0 keeps weight i (one entry per weight); empty: prune
  // by options.keep_fraction. (EncodeCodes' codes say which weights are kept.)
  std::vector<uint8_t> mask;
  // E[x_c^2] of each input column c over a calibration batch: exactly n / shape[0]
  // finite, non-negative entries. Required when cost_kind == kActivation (even when
  // `cost` is set); optional otherwise, and then used only for
  // stats.added_activation_error.
  std::vector<float> column_energy;
};

struct EncodeStats {
  uint64_t weights = 0;
  uint64_t kept = 0;
  uint32_t clusters = 0;  // K actually used
  int value_bits = 0;     // t (retrieval) or bits per code (packed)
  uint64_t false_positives = 0;
  double false_positive_rate = 0;       // over pruned weights
  double clustering_squared_error = 0;  // kept weights vs their centroids (0 for EncodeCodes)
  double added_squared_error = 0;       // false positives (their values squared)
  // The false positives' ActivationWeightedError with LayerInputs::column_energy, whatever
  // cost chose the table (0 without column_energy, and for packed codes).
  double added_activation_error = 0;
  uint64_t bits = 0;  // payload bits (table or packed codes) + centroids
  double bits_per_kept_weight = 0;
  double compression_ratio = 0;  // 32 * weights / bits
  int seeds_tried = 0;
  uint64_t chosen_seed = 0;
  double first_seed_cost = 0;  // the cost of base_seed's table
  double chosen_cost = 0;      // the chosen table's (0 for packed codes)
};

// An encoded layer: what a file stores (a section, stored with Writer::AddSection) and
// what encoding it cost.
struct EncodedLayer {
  // A retrieval table or packed codes, with the layer's centroids (K values; code c
  // decodes to centroids[c - 1]) and its LayerStats in section.info().stats.
  EncodedSection section;
  EncodeStats stats;

  const std::vector<uint64_t>& shape() const { return section.info().shape; }
  Storage storage() const { return section.info().storage; }
  const std::vector<float>& centroids() const { return section.info().centroids; }
};

// Encodes a dense row-major float32 layer of `shape`: prunes it, shares the kept
// weights (ShareWeights; the centroids come out ascending) and encodes their codes
// exactly as EncodeCodes does. Errors (InvalidArgument unless noted): an empty shape or
// zero weights, more than 2^48 weights (OutOfRange), a NaN or infinite weight (named by
// index), a mask of the wrong size, clusters outside 1..65535, t outside 1..16 or too
// small for K (2^t must exceed K), a false-positive budget outside (0, 1), seeds
// outside 1..65536, threads < 0, an unknown cost_kind, column_energy missing for
// kActivation or not n / shape[0] finite non-negative values; a table that could not
// be built (BuildFailed).
WEIGHTLESS_EXPORT Result<EncodedLayer> EncodeLayer(const float* weights,
                                                   const std::vector<uint64_t>& shape,
                                                   const EncodeOptions& options,
                                                   const LayerInputs& layer = {});

// Encodes a layer that is already pruned and shared: codes[i] in 0..K for each of the
// shape's n weights (0 = pruned), centroids the K values (code c decodes to
// centroids[c - 1]). Kept weights decode to exactly their centroid. Uses the table options
// of `options` (value_bits / max_false_positive_rate, kind, storage, seeds, base_seed, cost,
// cost_kind, threads) and the layer's column_energy, and ignores keep_fraction, clusters
// and cluster_method. Errors: as EncodeLayer, plus a code above K (named by index), K
// outside 1..65535, a non-finite centroid, a LayerInputs::mask (the codes are the mask).
//
// The centroids are kept exactly as given: they need not be sorted (nor distinct), and
// the layer's centroids and codes are the caller's. t is chosen from K =
// centroids.size(), whether or not every code is used. stats.clustering_squared_error
// is 0 (there are no weights to compare with). REQUIRES: codes holds n values.
WEIGHTLESS_EXPORT Result<EncodedLayer> EncodeCodes(const uint16_t* codes,
                                                   const std::vector<uint64_t>& shape,
                                                   const std::vector<float>& centroids,
                                                   const EncodeOptions& options,
                                                   const LayerInputs& layer = {});

// Decodes to dense float32, exactly as a reader of the file produces it
// (layer.section.view().DecodeFloats). REQUIRES: out holds the shape's element count.
WEIGHTLESS_EXPORT Status DecodeLayer(const EncodedLayer& layer, float* out, int threads = 0);

// Per weight, the code it decodes to, in 0..K (K = layer.centroids.size()): what the
// table (or the packed codes) holds, with anything outside 1..K read as 0. So code != 0
// exactly where DecodeLayer gives centroids[code - 1], false positives included; a
// trainer uses this to keep training the centroids through the false positives
// (layer.section.view().DecodeCodes).
WEIGHTLESS_EXPORT Result<std::vector<uint16_t>> DecodeLayerCodes(const EncodedLayer& layer,
                                                                 int threads = 0);

// As above for the weights [begin, begin + count) in flat order, into out[0..count):
// decoding a large layer in slices needs no buffer of the whole layer. OutOfRange when
// the range is not inside the layer; InvalidArgument for a null out with count > 0.
WEIGHTLESS_EXPORT Status DecodeLayerCodes(const EncodedLayer& layer, uint64_t begin, uint64_t count,
                                          uint16_t* out, int threads = 0);

}  // namespace weightless

#endif  // WEIGHTLESS_ENCODER_H_
