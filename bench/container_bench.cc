// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Container benchmarks: open time of a ~1 MB and a ~1 GB file side by side (open reads
// only the trailer and index, so both should take the same time), and write throughput.
// Files go to $WEIGHTLESS_BENCH_DIR (default /tmp) and are removed at exit.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "weightless/reader.h"
#include "weightless/writer.h"

namespace {

using weightless::DType;
using weightless::Reader;
using weightless::Writer;

std::string BenchDir() {
  const char* dir = std::getenv("WEIGHTLESS_BENCH_DIR");
  return dir ? dir : "/tmp";
}

// Writes `tensors` dense float32 tensors of `elements` each, plus metadata; returns the path.
std::string MakeFile(const std::string& name, int tensors, uint64_t elements) {
  const std::string path = BenchDir() + "/weightless_bench_" + name + ".wl";
  weightless::WriterOptions options;
  options.sync = false;
  auto w = Writer::Create(path, options);
  if (!w.ok()) std::abort();
  std::vector<float> values(elements, 0.25f);
  for (int i = 0; i < tensors; ++i) {
    if (!w->AddDense("layer" + std::to_string(i), {elements}, values.data()).ok()) std::abort();
  }
  if (!w->SetMetadata("architecture", std::string("bench")).ok()) std::abort();
  if (!w->Finish().ok()) std::abort();
  return path;
}

struct Files {
  std::string small = MakeFile("1MB", 16, 1 << 14);  // 16 x 64 KiB = 1 MiB
  std::string large = MakeFile("1GB", 16, 1 << 24);  // 16 x 64 MiB = 1 GiB
  ~Files() {
    std::remove(small.c_str());
    std::remove(large.c_str());
  }
};

const Files& GetFiles() {
  static Files files;
  return files;
}

// Args: 0 = 1 MB file, 1 = 1 GB file. Same number of tensors in both.
void BM_Open(benchmark::State& state) {
  const std::string& path = state.range(0) == 0 ? GetFiles().small : GetFiles().large;
  for (auto _ : state) {
    auto reader = Reader::Open(path);
    if (!reader.ok()) state.SkipWithError(reader.status().ToString().c_str());
    benchmark::DoNotOptimize(reader);
  }
  state.SetLabel(state.range(0) == 0 ? "1 MiB file" : "1 GiB file");
}
BENCHMARK(BM_Open)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Write throughput of dense float32 tensors (64 MiB each), with and without fsync.
void BM_WriteDense(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const uint64_t elements = uint64_t{1} << 24;
  std::vector<float> values(elements, 0.5f);
  const std::string path = BenchDir() + "/weightless_bench_write.wl";
  for (auto _ : state) {
    weightless::WriterOptions options;
    options.sync = sync;
    auto w = Writer::Create(path, options);
    if (!w.ok() || !w->AddDense("w", {elements}, values.data()).ok() || !w->Finish().ok()) {
      state.SkipWithError("write failed");
      break;
    }
  }
  std::remove(path.c_str());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(elements * 4));
  state.SetLabel(sync ? "fsync" : "no fsync");
}
BENCHMARK(BM_WriteDense)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
