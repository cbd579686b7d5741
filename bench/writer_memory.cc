// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// writer_memory [LAYERS [MIB_PER_LAYER]]: writes LAYERS dense float32 layers of
// MIB_PER_LAYER each (default 100 x 16 MiB), one at a time as a trainer would, and
// prints the peak resident memory above the baseline as a multiple of one layer.
// The writer holds no payload after Add* returns, so the peak should stay near one
// layer (the caller's own buffer) plus, with zstd, one compressed copy.

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "weightless/writer.h"

namespace {
double PeakRssMiB() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}
}  // namespace

int main(int argc, char** argv) {
  const int layers = argc > 1 ? std::atoi(argv[1]) : 100;
  const int mib = argc > 2 ? std::atoi(argv[2]) : 16;
  if (layers < 1 || mib < 1) {
    std::fprintf(stderr, "usage: %s [LAYERS [MIB_PER_LAYER]]\n", argv[0]);
    return 2;
  }
  const char* dir = std::getenv("WEIGHTLESS_BENCH_DIR");
  for (weightless::Codec codec : {weightless::Codec::kNone, weightless::Codec::kZstd}) {
    const std::string path = std::string(dir ? dir : "/tmp") + "/weightless_writer_memory.wl";
    const uint64_t elements = static_cast<uint64_t>(mib) << 18;  // MiB / 4 bytes
    const double baseline = PeakRssMiB();
    weightless::WriterOptions options;
    options.sync = false;
    auto w = weightless::Writer::Create(path, options);
    if (!w.ok()) return 1;
    for (int i = 0; i < layers; ++i) {
      std::vector<float> layer(elements);  // produced, written, then freed
      for (uint64_t k = 0; k < elements; ++k)
        layer[k] = static_cast<float>((k * 2654435761u) % 1000) / 997.0f;
      if (!w->AddDense("layer" + std::to_string(i), {elements}, layer.data(),
                       weightless::DType::kFloat32, codec)
               .ok()) {
        return 1;
      }
    }
    if (!w->Finish().ok()) return 1;
    const double peak = PeakRssMiB() - baseline;
    std::printf(
        "%s: %d layers of %d MiB written (%.0f MiB file); peak memory above baseline "
        "%.1f MiB = %.2fx one layer\n",
        weightless::CodecName(codec), layers, mib,
        static_cast<double>(w->bytes_written()) / (1 << 20), peak, peak / mib);
    std::remove(path.c_str());
  }
  return 0;
}
