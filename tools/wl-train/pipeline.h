// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The Weightless pipeline (Reagen et al., 2018) on a Network: dense training, gradual
// magnitude pruning with retraining, weight sharing with shared-weight fine-tuning,
// encoding layers first to last (each then frozen with its false positives while the
// later layers retrain), writing the .wl file, and verifying it by reloading it through
// the public reader and evaluating it.

#ifndef WEIGHTLESS_TOOLS_WL_TRAIN_PIPELINE_H_
#define WEIGHTLESS_TOOLS_WL_TRAIN_PIPELINE_H_

#include <cstdint>
#include <map>
#include <string>

#include "network.h"
#include "weightless/encoder.h"

namespace wltrain {

struct PipelineOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  Network::Architecture architecture = Network::Architecture::kLeNet300100;
  std::string output = "model.wl";
  uint64_t seed = 1;
  size_t limit_train = 0, limit_test = 0;  // 0 = all
  int threads = 0;                         // 0 = all cores
  // Steps.
  int dense_epochs = 10;
  int prune_rounds = 5;
  int epochs_per_round = 2;
  int share_epochs = 2;
  int retrain_epochs = 4;  // later layers, after each layer is encoded
  // Per layer (by name; missing layers use the defaults of the architecture).
  std::map<std::string, double> keep;        // kept fraction
  std::map<std::string, uint32_t> clusters;  // K
  std::map<std::string, int> value_bits;     // t (0: from the false-positive budget)
  double max_false_positive_rate = 0.06;
  weightless::RetrievalKind kind = weightless::RetrievalKind::kRibbon;
  int seeds = 8;
  // Store the last layer as exact bit-packed codes always (true), or only where they
  // are no larger than its table (false, the default).
  bool last_layer_packed = false;
  TrainOptions train;
  bool progress = true;
  // --t-sweep: encode only this layer for t in [sweep_min_t, sweep_max_t] and report
  // size, false-positive rate and accuracy (no retraining); writes CSV and SVG.
  std::string sweep_layer;
  int sweep_min_t = 0, sweep_max_t = 12;
  std::string sweep_csv = "t-sweep.csv", sweep_svg = "t-sweep.svg";
};

// The defaults of each architecture: kept fractions, K and t per layer.
void ApplyArchitectureDefaults(PipelineOptions* options);

// Runs everything; prints progress and the results table to stdout. Returns the
// process exit code: 0 on success, 1 on a failure (including a reloaded file whose
// accuracy differs from the trainer's), 2 on bad options or data.
int RunPipeline(const PipelineOptions& options);

}  // namespace wltrain

#endif  // WEIGHTLESS_TOOLS_WL_TRAIN_PIPELINE_H_
