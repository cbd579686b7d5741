// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The Weightless pipeline (Reagen et al., 2018) on a Network: dense training, gradual
// magnitude pruning with retraining, weight sharing with shared-weight fine-tuning,
// encoding layers first to last (each then keeps its codes, false positives included,
// while its centroids and the later layers retrain), writing the .wl file, and verifying
// it by reloading it through the public reader and evaluating it.
//
// Methodology: a validation split is carved from the training file; every per-epoch
// report and every automatic choice is judged on it. The test set is evaluated once, at
// the end, for the dense baseline, the shared model (what the Deep Compression layout
// stores exactly) and the final model.

#ifndef WEIGHTLESS_TOOLS_WL_TRAIN_PIPELINE_H_
#define WEIGHTLESS_TOOLS_WL_TRAIN_PIPELINE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "network.h"
#include "weightless/encoder.h"
#include "weightless/tensor.h"

namespace wltrain {

enum class PruneSchedule {
  kGeometric,  // kept fraction target^(r/R): the same relative cut every round
  kCubic,      // Zhu & Gupta (2017): sparsity s (1 - (1 - r/R)^3): large cuts first,
               // small ones last, when the network has least slack
};

struct PipelineOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  Network::Architecture architecture = Network::Architecture::kLeNet300100;
  std::string output = "model.wl";
  uint64_t seed = 1;
  size_t limit_train = 0, limit_test = 0;  // 0 = all
  size_t validation = 0;      // carved from the training file; 0: 5000 or a sixth, the smaller
  size_t calibration = 2048;  // training examples that measure input energies (0 = none)
  int threads = 0;            // 0 = all cores
  // Dense model: train it (dense_epochs), or start from init_path (a .wl file holding
  // every layer and bias dense, as save_dense_path writes).
  std::string init_path, save_dense_path;
  // Steps.
  int dense_epochs = 10;
  int prune_rounds = 5;
  int epochs_per_round = 2;
  PruneSchedule prune_schedule = PruneSchedule::kGeometric;
  int share_epochs = 2;
  int retrain_epochs = 4;  // after each layer is encoded
  // "" runs everything; "prune" or "share" stop after that step (for experiments).
  std::string stop_after;
  // Per layer (by name; missing layers use the defaults of the architecture).
  std::map<std::string, double> keep;        // kept fraction
  std::map<std::string, uint32_t> clusters;  // K
  std::map<std::string, int> t;              // bits per cell (0: from the false-positive budget)
  double max_false_positive_rate = 0.06;
  // Automatic t and K: when >= 0, each layer takes the smallest (K, t) whose validation
  // accuracy after retraining stays within this many points of the dense baseline's
  // (the budget shared evenly among the encoded layers); --clusters / --t are ignored.
  double max_drop = -1;
  weightless::RetrievalKind kind = weightless::RetrievalKind::kRibbon;
  std::optional<weightless::RetrievalHash> hash;  // unset: the kind's default (mix32 for ribbon)
  int seeds = 8;
  weightless::FalsePositiveCostKind cost = weightless::FalsePositiveCostKind::kActivation;
  // After a layer is encoded its codes are fixed; its centroids keep training through
  // every later phase (false positives included) unless freeze_encoded (the paper froze
  // the whole layer).
  bool freeze_encoded = false;
  // Layers not yet encoded keep training all their kept weights (false), and are
  // clustered just before they are encoded; or stay shared after step 3, so that only
  // their centroids retrain (true).
  bool later_layers_shared = false;
  // Store the last layer as exact bit-packed codes always (true), or only where they
  // are no larger than its table (false, the default).
  bool last_layer_packed = false;
  weightless::DType bias_dtype = weightless::DType::kInt8;
  bool full_metadata = false;  // also store every pipeline parameter in the file
  std::string report_json;     // also write the results as JSON here
  TrainOptions train;
  bool progress = true;
  // --t-sweep: encode only this layer for t in [sweep_min_t, sweep_max_t] and report
  // size, false-positive rate and validation accuracy (no retraining); writes a CSV.
  std::string sweep_layer;
  int sweep_min_t = 0, sweep_max_t = 12;
  std::string sweep_csv = "t-sweep.csv";
};

// The defaults of each architecture: kept fractions, K and t per layer.
void ApplyArchitectureDefaults(PipelineOptions* options);

// Runs everything; prints progress and the results table to stdout. Returns the
// process exit code: 0 on success, 1 on a failure (including a reloaded file whose
// accuracy differs from the trainer's), 2 on bad options or data.
int RunPipeline(const PipelineOptions& options);

}  // namespace wltrain

#endif  // WEIGHTLESS_TOOLS_WL_TRAIN_PIPELINE_H_
