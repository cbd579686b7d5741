// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Retrieval table build and decode throughput, and size, for both encodings (ribbon
// with each of its hashes), with a memcpy of the same dense float32 output as the physical
// reference (run in the same process, so ratios between rows are meaningful on a noisy machine).
//
// Counters: keys/s (build) or weights/s (decode); bits_per_key_over_t = section bits
// per kept weight divided by t (1.0 would be no overhead at all); cells_per_key.

#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "weightless/retrieval.h"

namespace {

using weightless::RetrievalHash;
using weightless::RetrievalKind;
using weightless::RetrievalOptions;
using weightless::RetrievalTable;

// The tables measured (the first benchmark argument): ribbon with its default hash
// (mix32), ribbon with xxh3 (files of format 1.0), bloomier.
struct Encoding {
  RetrievalKind kind;
  RetrievalHash hash;
  const char* name;
};
constexpr Encoding kEncodings[] = {
    {RetrievalKind::kRibbon, RetrievalHash::kMix32, "ribbon-mix32"},
    {RetrievalKind::kRibbon, RetrievalHash::kXxh3, "ribbon-xxh3"},
    {RetrievalKind::kBloomier, RetrievalHash::kXxh3, "bloomier"},
};
constexpr int64_t kRibbon = 0, kRibbonXxh3 = 1, kBloomier = 2;

const Encoding& EncodingArg(const benchmark::State& state) { return kEncodings[state.range(0)]; }

RetrievalOptions OptionsFor(const Encoding& e, int t, int threads) {
  RetrievalOptions options;
  options.kind = e.kind;
  options.hash = e.hash;
  options.value_bits = t;
  options.threads = threads;
  return options;
}

struct Layer {
  uint64_t universe;
  std::vector<uint64_t> keys;
  std::vector<uint16_t> values;
};

// A random pruned layer: each index kept with probability density_percent / 100 (drawn
// by geometric skips, so even 10^8 indices are quick), codes uniform in 1..15.
const Layer& GetLayer(uint64_t universe, int density_permille) {
  static std::map<std::pair<uint64_t, int>, std::unique_ptr<Layer>> cache;
  auto& slot = cache[{universe, density_permille}];
  if (!slot) {
    slot = std::make_unique<Layer>();
    slot->universe = universe;
    std::mt19937_64 rng(universe * 1000 + density_permille);
    std::geometric_distribution<uint64_t> gap(density_permille / 1000.0);
    for (uint64_t i = gap(rng); i < universe; i += 1 + gap(rng)) {
      slot->keys.push_back(i);
      slot->values.push_back(static_cast<uint16_t>(1 + rng() % 15));
    }
  }
  return *slot;
}

const RetrievalTable& GetTable(const Encoding& e, uint64_t universe, int density_permille, int t) {
  static std::map<std::tuple<const Encoding*, uint64_t, int, int>, std::unique_ptr<RetrievalTable>>
      cache;
  auto& slot = cache[{&e, universe, density_permille, t}];
  if (!slot) {
    const Layer& layer = GetLayer(universe, density_permille);
    auto table = RetrievalTable::Build(universe, layer.keys.data(), layer.values.data(),
                                       layer.keys.size(), OptionsFor(e, t, 0));
    if (!table.ok()) std::abort();
    slot = std::make_unique<RetrievalTable>(std::move(table).value());
  }
  return *slot;
}

// Args: encoding, universe, density (per mille), t.
void BM_Build(benchmark::State& state) {
  const Encoding& e = EncodingArg(state);
  const uint64_t universe = static_cast<uint64_t>(state.range(1));
  const int density = static_cast<int>(state.range(2));
  const int t = static_cast<int>(state.range(3));
  const Layer& layer = GetLayer(universe, density);
  const RetrievalOptions options = OptionsFor(e, t, 1);
  weightless::RetrievalStats stats;
  for (auto _ : state) {
    auto table = RetrievalTable::Build(universe, layer.keys.data(), layer.values.data(),
                                       layer.keys.size(), options);
    if (!table.ok()) {
      state.SkipWithError(table.status().ToString().c_str());
      return;
    }
    stats = table->stats();
    benchmark::DoNotOptimize(table->bytes().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(layer.keys.size()));
  state.counters["keys"] = static_cast<double>(layer.keys.size());
  state.counters["cells_per_key"] = stats.cells_per_key;
  state.counters["bits_per_key_over_t"] = stats.bits_per_key_over_t;
  state.counters["attempts_per_shard"] =
      stats.shards ? static_cast<double>(stats.attempts) / stats.shards : 0;
  state.SetLabel(e.name);
}

// Args: encoding, universe, density (per mille), t, threads.
void BM_DecodeFloats(benchmark::State& state) {
  const Encoding& e = EncodingArg(state);
  const uint64_t universe = static_cast<uint64_t>(state.range(1));
  const int density = static_cast<int>(state.range(2));
  const int t = static_cast<int>(state.range(3));
  const int threads = static_cast<int>(state.range(4));
  const RetrievalTable& table = GetTable(e, universe, density, t);
  std::vector<float> out(universe);
  const float centroids[15] = {-.7f, -.5f, -.3f, -.2f, -.1f, -.05f, -.02f, .02f,
                               .05f, .1f,  .2f,  .3f,  .5f,  .7f,   .9f};
  for (auto _ : state) {
    auto status = table.view().DecodeFloats(0, universe, centroids, 15, out.data(), threads);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(universe));
  state.counters["bits_per_key_over_t"] = table.stats().bits_per_key_over_t;
  state.SetLabel(e.name);
}

// As BM_DecodeFloats, writing the codes. Args: encoding, universe, density (per mille), t.
void BM_DecodeCodes(benchmark::State& state) {
  const Encoding& e = EncodingArg(state);
  const uint64_t universe = static_cast<uint64_t>(state.range(1));
  const int density = static_cast<int>(state.range(2));
  const int t = static_cast<int>(state.range(3));
  const RetrievalTable& table = GetTable(e, universe, density, t);
  std::vector<uint16_t> out(universe);
  for (auto _ : state) {
    auto status = table.view().DecodeCodes(0, universe, out.data(), 1);
    if (!status.ok()) state.SkipWithError(status.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(universe));
  state.SetLabel(e.name);
}

// Random single-index lookups. Args: encoding, universe, density (per mille), t.
void BM_Lookup(benchmark::State& state) {
  const Encoding& e = EncodingArg(state);
  const uint64_t universe = static_cast<uint64_t>(state.range(1));
  const int density = static_cast<int>(state.range(2));
  const int t = static_cast<int>(state.range(3));
  const RetrievalTable& table = GetTable(e, universe, density, t);
  std::vector<uint64_t> indices(1 << 16);
  std::mt19937_64 rng(7);
  for (uint64_t& i : indices) i = rng() % universe;
  for (auto _ : state) {
    uint32_t sum = 0;
    for (uint64_t i : indices) sum += table.view().Lookup(i);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(indices.size()));
  state.SetLabel(e.name);
}

// The physical reference: copying the same dense float32 output. Args: universe.
void BM_MemcpyDense(benchmark::State& state) {
  const uint64_t universe = static_cast<uint64_t>(state.range(0));
  std::vector<float> in(universe, 0.5f), out(universe);
  for (auto _ : state) {
    std::memcpy(out.data(), in.data(), universe * sizeof(float));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(universe));
}

constexpr int64_t kVggFc6 = 25088LL * 4096;  // VGG-16 fc6: 102.8 M weights

// Builds sweep ribbon (either hash builds the same way) and bloomier; decodes all three.
void SizeSweep(benchmark::internal::Benchmark* b, bool with_threads) {
  for (int64_t encoding : {kRibbon, kRibbonXxh3, kBloomier}) {
    if (!with_threads && encoding == kRibbonXxh3) continue;
    auto add = [&](int64_t n, int64_t density, int64_t t) {
      if (with_threads) {
        b->Args({encoding, n, density, t, 1});
      } else {
        b->Args({encoding, n, density, t});
      }
    };
    for (int64_t n : {100000LL, 1000000LL, 10000000LL, 100000000LL}) add(n, 50, 8);
    for (int64_t density : {20LL, 100LL}) add(10000000, density, 8);
    for (int64_t t : {4LL, 10LL}) add(10000000, 50, t);
  }
}

BENCHMARK(BM_Build)
    ->ArgNames({"encoding", "N", "permille", "t"})
    ->Apply([](benchmark::internal::Benchmark* b) { SizeSweep(b, false); })
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeFloats)
    ->ArgNames({"encoding", "N", "permille", "t", "threads"})
    ->Apply([](benchmark::internal::Benchmark* b) { SizeSweep(b, true); })
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// The paper's slowest case: VGG-16 fc6 at 4% kept, on 2 threads (paper: 22.8 s).
BENCHMARK(BM_DecodeFloats)
    ->Name("BM_DecodeFloats_VggFc6")
    ->ArgNames({"encoding", "N", "permille", "t", "threads"})
    ->Args({kRibbon, kVggFc6, 40, 8, 1})
    ->Args({kRibbon, kVggFc6, 40, 8, 2})
    ->Args({kRibbonXxh3, kVggFc6, 40, 8, 1})
    ->Args({kRibbonXxh3, kVggFc6, 40, 8, 2})
    ->Args({kBloomier, kVggFc6, 40, 8, 1})
    ->Args({kBloomier, kVggFc6, 40, 8, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_DecodeCodes)
    ->ArgNames({"encoding", "N", "permille", "t"})
    ->Args({kRibbon, 10000000, 50, 8})
    ->Args({kBloomier, 10000000, 50, 8})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Lookup)
    ->ArgNames({"encoding", "N", "permille", "t"})
    ->Args({kRibbon, 10000000, 50, 8})
    ->Args({kBloomier, 10000000, 50, 8})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MemcpyDense)
    ->ArgNames({"N"})
    ->Arg(100000)
    ->Arg(1000000)
    ->Arg(10000000)
    ->Arg(100000000)
    ->Arg(kVggFc6)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
