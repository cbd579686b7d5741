// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Layer encoding throughput (prune + cluster + build, one seed) for a LeNet-300-100
// fc1-sized and a VGG-16 fc6-sized layer, on 1 and 2 threads; and what seed search buys:
// the cost of the chosen table relative to the first seed's, against seeds tried.

#include <benchmark/benchmark.h>

#include <map>
#include <random>
#include <vector>

#include "weightless/encoder.h"

namespace {

using weightless::EncodeLayer;
using weightless::EncodeOptions;

const std::vector<float>& Weights(uint64_t n) {
  static std::map<uint64_t, std::vector<float>> cache;
  auto& w = cache[n];
  if (w.empty()) {
    std::mt19937_64 rng(n);
    std::normal_distribution<float> normal(0, 0.05f);
    w.resize(n);
    for (float& x : w) x = normal(rng);
  }
  return w;
}

// Args: rows, cols, keep (per mille), threads, cluster method (0 optimal, 1 Lloyd).
void BM_EncodeLayer(benchmark::State& state) {
  const uint64_t rows = static_cast<uint64_t>(state.range(0));
  const uint64_t cols = static_cast<uint64_t>(state.range(1));
  const std::vector<float>& w = Weights(rows * cols);
  EncodeOptions o;
  o.keep_fraction = static_cast<double>(state.range(2)) / 1000;
  o.clusters = 15;
  o.threads = static_cast<int>(state.range(3));
  o.cluster_method = state.range(4) == 0 ? weightless::ClusterMethod::kOptimal
                                         : weightless::ClusterMethod::kLinearKMeans;
  weightless::EncodeStats stats;
  for (auto _ : state) {
    auto layer = EncodeLayer(w.data(), {rows, cols}, o);
    if (!layer.ok()) {
      state.SkipWithError(layer.status().ToString().c_str());
      return;
    }
    stats = layer->stats;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(rows * cols));
  state.counters["ratio"] = stats.compression_ratio;
  state.counters["bits_per_kept"] = stats.bits_per_kept_weight;
}
BENCHMARK(BM_EncodeLayer)
    ->ArgNames({"rows", "cols", "permille", "threads", "lloyd"})
    ->Args({300, 784, 40, 1, 0})
    ->Args({300, 784, 40, 2, 0})
    ->Args({4096, 25088, 40, 1, 1})
    ->Args({4096, 25088, 40, 2, 1})
    ->Args({4096, 25088, 40, 2, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// Args: seeds. Reports chosen cost / first seed's cost on an fc1-sized layer.
void BM_SeedSearch(benchmark::State& state) {
  const std::vector<float>& w = Weights(300 * 784);
  EncodeOptions o;
  o.keep_fraction = 0.04;
  o.clusters = 15;
  o.seeds = static_cast<int>(state.range(0));
  o.threads = 2;
  double relative = 0;
  for (auto _ : state) {
    auto layer = EncodeLayer(w.data(), {300, 784}, o);
    if (!layer.ok()) {
      state.SkipWithError(layer.status().ToString().c_str());
      return;
    }
    relative = layer->stats.chosen_cost / layer->stats.first_seed_cost;
  }
  state.counters["cost_vs_first_seed"] = relative;
}
BENCHMARK(BM_SeedSearch)
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
