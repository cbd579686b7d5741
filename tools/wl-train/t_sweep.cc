// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// --t-sweep: one layer of the shared model encoded for each t, without retraining.

#include <cstdio>
#include <fstream>

#include "session.h"
#include "weightless/encoder.h"

namespace wltrain {

int TSweep(Session& session) {
  const PipelineOptions& o = session.options;
  std::vector<WeightLayer>& layers = session.net.layers();
  size_t index = layers.size();
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].name == o.sweep_layer) index = i;
  }
  if (index == layers.size()) {
    std::fprintf(stderr, "wl-train: --t-sweep: no layer '%s' in %s\n", o.sweep_layer.c_str(),
                 ArchitectureName(o.architecture));
    return 2;
  }
  const WeightLayer original = layers[index];
  const int k = static_cast<int>(original.centroids.size());
  int t_min = o.sweep_min_t;
  while ((1 << t_min) <= k) ++t_min;
  std::ofstream csv(o.sweep_csv);
  if (!csv) {
    std::fprintf(stderr, "wl-train: cannot write %s\n", o.sweep_csv.c_str());
    return 1;
  }
  csv << "t,bytes,bits_per_kept,false_positive_rate,validation_accuracy\n";
  std::printf("\n  t-sweep of %s (K = %d; no retraining): validation without encoding %.2f%%\n",
              o.sweep_layer.c_str(), k, session.Validation());
  std::printf("  %3s %10s %14s %10s %11s\n", "t", "bytes", "bits/kept", "FP rate", "validation");
  for (int t = t_min; t <= o.sweep_max_t; ++t) {
    weightless::EncodeOptions eo;
    eo.value_bits = t;
    eo.kind = o.kind;
    eo.hash = o.hash;
    eo.storage = weightless::LayerStorage::kRetrieval;
    eo.seeds = o.seeds;
    eo.base_seed = o.seed * 1000 + index;
    eo.threads = o.threads;
    auto layer =
        weightless::EncodeCodes(original.codes.data(), original.shape, original.centroids, eo);
    if (!layer.ok()) {
      std::fprintf(stderr, "wl-train: %s\n", layer.status().ToString().c_str());
      return 1;
    }
    WeightLayer& l = layers[index];
    if (!weightless::DecodeLayer(*layer, l.w.data(), o.threads).ok()) return 1;
    const double accuracy = session.Validation();
    const double bytes = static_cast<double>(layer->stats.bits) / 8;
    std::printf("  %3d %10.0f %14.3f %10.5f %10.2f%%\n", t, bytes,
                layer->stats.bits_per_kept_weight, layer->stats.false_positive_rate, accuracy);
    csv << t << "," << bytes << "," << layer->stats.bits_per_kept_weight << ","
        << layer->stats.false_positive_rate << "," << accuracy / 100 << "\n";
    l = original;
  }
  std::printf("  wrote %s\n", o.sweep_csv.c_str());
  return 0;
}

}  // namespace wltrain
