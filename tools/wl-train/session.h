// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// One training session of the pipeline: the data (training, validation and test
// splits), the network and the random stream of its data order. Everything the
// pipeline's steps judge is measured on the validation split; the test split is read
// only by the final evaluation.

#ifndef WEIGHTLESS_TOOLS_WL_TRAIN_SESSION_H_
#define WEIGHTLESS_TOOLS_WL_TRAIN_SESSION_H_

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "idx.h"
#include "network.h"
#include "pipeline.h"

namespace wltrain {

inline double Percent(size_t correct, size_t total) {
  return total ? 100.0 * static_cast<double>(correct) / static_cast<double>(total) : 0;
}

struct Session {
  const PipelineOptions& options;
  Dataset data;
  Network net;
  std::mt19937_64 rng;

  Session(const PipelineOptions& o, Dataset d)
      : options(o), data(std::move(d)), net(o.architecture, o.seed), rng(o.seed ^ 0x5EED) {}

  // Validation accuracy of the current network, in percent.
  double Validation() const {
    return Percent(net.CountCorrect(data.validation), data.validation.count());
  }

  // Trains `epochs` epochs with the learning rate falling geometrically from
  // lr_scale_first to lr_scale_last times the base rate (a decaying schedule settles
  // SGD with momentum far better than a constant rate). Reports validation accuracy.
  void Epochs(int epochs, const std::string& step, float lr_scale_first = 1.0f,
              float lr_scale_last = 1.0f) {
    for (int e = 1; e <= epochs; ++e) {
      TrainOptions t = options.train;
      const float f = epochs > 1 ? static_cast<float>(e - 1) / static_cast<float>(epochs - 1) : 0;
      t.learning_rate *= lr_scale_first * std::pow(lr_scale_last / lr_scale_first, f);
      t.progress = options.progress;
      t.label = step + " " + std::to_string(e) + "/" + std::to_string(epochs);
      const auto start = std::chrono::steady_clock::now();
      const float loss = net.TrainEpoch(data.train, t, rng);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("  %-26s loss %.4f  validation %6.2f%%  (%.1f s)\n", t.label.c_str(), loss,
                  Validation(), seconds);
      std::fflush(stdout);
    }
  }
};

// --t-sweep: encodes one layer of the shared model for each t and reports size,
// false-positive rate and validation accuracy (no retraining). Returns the exit code.
int TSweep(Session& session);

}  // namespace wltrain

#endif  // WEIGHTLESS_TOOLS_WL_TRAIN_SESSION_H_
