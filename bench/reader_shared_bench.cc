// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The shared reader-only library (libweightless_reader.so, what an app links) against
// the static library, decoding the same file through the same C API in one process:
// the static library is linked in, the shared one is loaded with dlopen (RTLD_LOCAL, so
// its wl_* functions do not clash with the static ones). A memcpy of the same dense
// float32 output is the physical reference. Run from a Release build:
//
//   build/release/bench/reader_shared_bench --benchmark_counters_tabular=true
//       --benchmark_repetitions=7 --benchmark_enable_random_interleaving=true
//
// (interleaving the rows at random keeps a noisy machine from favouring either side).
// BM_Decode decodes a whole 4096 x 4096 layer (4% kept, K = 15, t = 8) on one thread,
// BM_DecodeRowsOnDemand one row of it per call; the counter is weights (floats) per
// second. README.md records the ratios.

#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "weightless/encoder.h"
#include "weightless/weightless.h"
#include "weightless/writer.h"

#ifndef WEIGHTLESS_READER_SHARED_PATH
#error "WEIGHTLESS_READER_SHARED_PATH must name libweightless_reader.so"
#endif

namespace {

constexpr uint64_t kRows = 4096, kColumns = 4096, kWeights = kRows * kColumns;

// The C API functions a decode needs, from one library.
struct CApi {
  wl_status (*open)(const char*, wl_reader**);
  wl_status (*open_with_options)(const char*, const wl_reader_options*, wl_reader**);
  wl_status (*decode)(const wl_reader*, size_t, float*, size_t, int);
  wl_status (*decode_rows)(const wl_reader*, size_t, uint64_t, uint64_t, float*, size_t, int);
  void (*close)(wl_reader*);
};

const CApi& StaticApi() {
  static const CApi api{wl_reader_open, wl_reader_open_with_options, wl_reader_decode,
                        wl_reader_decode_rows, wl_reader_close};
  return api;
}

const CApi& SharedApi() {
  static const CApi api = [] {
    void* lib = dlopen(WEIGHTLESS_READER_SHARED_PATH, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      std::fprintf(stderr, "dlopen: %s\n", dlerror());
      std::abort();
    }
    CApi a;
    a.open = reinterpret_cast<decltype(a.open)>(dlsym(lib, "wl_reader_open"));
    a.open_with_options =
        reinterpret_cast<decltype(a.open_with_options)>(dlsym(lib, "wl_reader_open_with_options"));
    a.decode = reinterpret_cast<decltype(a.decode)>(dlsym(lib, "wl_reader_decode"));
    a.decode_rows = reinterpret_cast<decltype(a.decode_rows)>(dlsym(lib, "wl_reader_decode_rows"));
    a.close = reinterpret_cast<decltype(a.close)>(dlsym(lib, "wl_reader_close"));
    if (!a.open || !a.open_with_options || !a.decode || !a.decode_rows || !a.close) std::abort();
    return a;
  }();
  return api;
}

// The layers measured: ribbon with the default hash (mix32), ribbon with xxh3 (files of
// format 1.0), bloomier.
struct Encoding {
  weightless::RetrievalKind kind;
  weightless::RetrievalHash hash;
  const char* name;
};
constexpr Encoding kEncodings[] = {
    {weightless::RetrievalKind::kRibbon, weightless::RetrievalHash::kMix32, "ribbon-mix32"},
    {weightless::RetrievalKind::kRibbon, weightless::RetrievalHash::kXxh3, "ribbon-xxh3"},
    {weightless::RetrievalKind::kBloomier, weightless::RetrievalHash::kXxh3, "bloomier"}};

// A file holding one 4096 x 4096 layer of encoding e, written once per encoding.
const std::string& ModelPath(int e) {
  static std::map<int, std::string> paths;
  std::string& path = paths[e];
  if (path.empty()) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<uint16_t> codes(kWeights, 0);
    for (uint16_t& c : codes) {
      if (u(rng) < 0.04) c = static_cast<uint16_t>(1 + rng() % 15);
    }
    std::vector<float> centroids;
    for (int c = 0; c < 15; ++c) centroids.push_back(0.01f * static_cast<float>(c - 7));
    weightless::EncodeOptions options;
    options.kind = kEncodings[e].kind;
    options.hash = kEncodings[e].hash;
    options.value_bits = 8;
    options.storage = weightless::LayerStorage::kRetrieval;
    auto layer = weightless::EncodeCodes(codes.data(), {kRows, kColumns}, centroids, options);
    if (!layer.ok()) std::abort();
    path = "/tmp/weightless_reader_shared_bench_" + std::to_string(::getpid()) + "_" +
           kEncodings[e].name + ".wl";
    auto writer = weightless::Writer::Create(path);
    if (!writer.ok() || !writer->AddSection("fc", layer->section).ok() || !writer->Finish().ok()) {
      std::abort();
    }
    std::atexit([] {
      for (const auto& [k, p] : paths) ::unlink(p.c_str());
    });
  }
  return path;
}

// Labels a row "static|shared <encoding>" and counts `weights` decoded per iteration.
void Report(benchmark::State& state, uint64_t weights) {
  state.SetLabel(std::string(state.range(0) == 0 ? "static" : "shared") + " " +
                 kEncodings[state.range(1)].name);
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(weights),
                                                   benchmark::Counter::kIsIterationInvariantRate);
}

// Args: library (0 static, 1 shared), encoding (kEncodings).
void BM_Decode(benchmark::State& state) {
  const CApi& api = state.range(0) == 0 ? StaticApi() : SharedApi();
  const int e = static_cast<int>(state.range(1));
  wl_reader* reader = nullptr;
  if (api.open(ModelPath(e).c_str(), &reader) != WL_OK) std::abort();
  std::vector<float> out(kWeights);
  if (api.decode(reader, 0, out.data(), out.size(), 1) != WL_OK) std::abort();  // loaded
  for (auto _ : state) {
    api.decode(reader, 0, out.data(), out.size(), 1);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  api.close(reader);
  Report(state, kWeights);
}
BENCHMARK(BM_Decode)->ArgsProduct({{0, 1}, {0, 1, 2}})->Unit(benchmark::kMillisecond);

// Rows on demand, as an app that decodes a layer's rows as it needs them: a mapped file
// opened with partial_reads, one row (4096 weights) per call, rows in a fixed scattered
// order. Each call opens (validates) the table's header and shard directory and decodes
// the row's shards in part. Args: library, encoding.
void BM_DecodeRowsOnDemand(benchmark::State& state) {
  const CApi& api = state.range(0) == 0 ? StaticApi() : SharedApi();
  const int e = static_cast<int>(state.range(1));
  wl_reader_options options;
  wl_reader_options_init(&options);
  options.partial_reads = 1;
  wl_reader* reader = nullptr;
  if (api.open_with_options(ModelPath(e).c_str(), &options, &reader) != WL_OK) std::abort();
  std::vector<float> out(kColumns);
  uint64_t row = 0;
  for (auto _ : state) {
    row = (row + 2749) % kRows;  // 2749 is prime to 4096: every row in turn
    if (api.decode_rows(reader, 0, row, row + 1, out.data(), out.size(), 1) != WL_OK) {
      std::abort();
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  api.close(reader);
  Report(state, kColumns);
}
BENCHMARK(BM_DecodeRowsOnDemand)->ArgsProduct({{0, 1}, {0, 1, 2}})->Unit(benchmark::kMicrosecond);

void BM_MemcpyOfTheOutput(benchmark::State& state) {
  std::vector<float> from(kWeights, 1.0f), to(kWeights);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), kWeights * sizeof(float));
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(kWeights),
                                                   benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MemcpyOfTheOutput)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
