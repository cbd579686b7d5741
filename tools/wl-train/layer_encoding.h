// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Step 4 of the pipeline for one layer: encode a shared layer of the session's network
// with a retrieval table (or packed codes) through the library's EncodeCodes, make the
// network compute with exactly what the file will decode, and retrain. Also the
// automatic choice of K and t against a validation-accuracy floor.

#ifndef WEIGHTLESS_TOOLS_WL_TRAIN_LAYER_ENCODING_H_
#define WEIGHTLESS_TOOLS_WL_TRAIN_LAYER_ENCODING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "session.h"
#include "weightless/encoder.h"
#include "weightless/tensor.h"

namespace wltrain {

// K and t for one layer; t = 0 takes the smallest t meeting the false-positive budget.
struct LayerChoice {
  uint32_t clusters = 8;
  int t = 0;
};

// Shares the kept weights of a layer (those of its mask; all without one): codes and
// K centroids from exact 1-D k-means of their current values.
weightless::Status ShareKeptWeights(WeightLayer* layer, uint32_t k);

// Turns a shared layer back into a pruned one whose kept weights (codes != 0) train
// freely from their centroid values; no-op for a layer that is not shared.
void UnshareKeepingMask(WeightLayer* layer);

// One encoded layer and what its step measured.
struct EncodedStep {
  weightless::EncodedLayer layer;
  weightless::RetrainInfo retrain;             // accuracies are validation accuracies
  std::vector<uint8_t> kept;                   // 1 where the weight was kept (a key of the table)
  double validation_after = 0;                 // percent, after retraining
  double added_squared_error_at_encoding = 0;  // with the centroids of that moment
};

// Encodes layer `index` of session.net: shares its kept weights with choice.clusters
// centroids when it is only pruned, or re-clusters them when its centroid count differs
// (exact 1-D k-means of the current values), measures the input energy of each
// column on `options.calibration` training examples when the activation cost is chosen,
// and builds the table through weightless::EncodeCodes with seed search. Afterwards the
// layer's codes are those the table decodes (kept weights and false positives alike) and
// never change again; its centroids keep training unless options.freeze_encoded. Then
// retrains options.retrain_epochs epochs. `last`: the network's last layer (stored as
// packed codes when options say so, or when no larger than a table).
weightless::Result<EncodedStep> EncodeAndRetrain(Session& session, size_t index,
                                                 const LayerChoice& choice, bool last);

// The automatic choice: tries (K, t) for K in {4, 8, 16} and t from 2 to 7 bits above
// what K needs, in order of estimated size (ties: fewer false positives first), each
// encoded and retrained from the same starting state; keeps the first whose validation
// accuracy after retraining is at least `floor_percent`. When none reaches it within
// `max_tries`, keeps the most accurate tried and says so.
weightless::Result<EncodedStep> EncodeWithinBudget(Session& session, size_t index, bool last,
                                                   double floor_percent, int max_tries = 10);

// The sizes of all candidates (exposed for tests): estimated bits of the layer's
// payload with the given K and t, for `kept` kept weights out of `weights`.
double EstimatedLayerBits(uint64_t weights, uint64_t kept, const LayerChoice& choice,
                          weightless::RetrievalKind kind, bool packed_allowed, bool packed_forced);

// The candidates of EncodeWithinBudget in the order they are tried.
std::vector<LayerChoice> CandidateChoices(uint64_t weights, uint64_t kept,
                                          weightless::RetrievalKind kind, bool packed_allowed,
                                          bool packed_forced);

}  // namespace wltrain

#endif  // WEIGHTLESS_TOOLS_WL_TRAIN_LAYER_ENCODING_H_
