// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// compare: one side-by-side table of storage layouts on the same layers. Each layer
// (LeNet-300-100 fc1-sized, 300x784, and VGG-16 fc6-sized, 4096x25088, Gaussian weights)
// is pruned by magnitude to 2, 4 and 8% kept and clustered to K = 15 centroids once; every
// layout then stores that same pruned, clustered layer:
//
//   ribbon / bloomier   Weightless retrieval tables (t = 8: 15/256 = 5.9% false positives)
//   packed codes        Weightless exact codes, ceil(log2(K+1)) bits for every weight
//   deep compression    the Deep Compression layout (Han et al., 2016): per kept weight the
//                       gap to the previous one in b bits (a filler entry when a gap does
//                       not fit; b in 2..8 chosen smallest) and its cluster code; both
//                       streams entropy-coded (zstd -19 over byte streams, which Huffman-
//                       codes them), plus the codebook (baselines/deep_compression.h)
//   dense f32 + zstd    the dense float32 layer, zstd -3 (-19 for the fc1-sized layer)
//   memcpy              dense float32, the physical reference: bytes = 4 n, decode = memcpy
//
// Decode is into a dense float32 buffer on one thread, the best of several runs. Every
// layout's output is checked against the pruned, clustered layer before it is timed:
// exactly for the exact layouts, and at the kept weights (plus the false-positive count)
// for the retrieval tables. No timing is asserted anywhere; `--quick` (used by ctest)
// runs small layers to check that everything still works.

#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "baselines/deep_compression.h"
#include "weightless/encoder.h"
#include "weightless/reader.h"
#include "weightless/writer.h"

namespace {

using weightless::EncodedLayer;
using weightless::baselines::DecodeDeepCompression;
using weightless::baselines::DeepCompressedLayer;
using weightless::baselines::EncodeDeepCompression;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "compare: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(weightless::Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(*r);
}
void Check(const weightless::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

// Best of `runs` wall-clock times of fn, in milliseconds.
double BestMs(int runs, const std::function<void()>& fn) {
  double best = 1e300;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return best;
}

// A .wl file in memory.
class MemoryStream : public weightless::OutputStream {
 public:
  weightless::Status Write(const uint8_t* data, size_t size) override {
    bytes.insert(bytes.end(), data, data + size);
    return weightless::Status::OK();
  }
  std::vector<uint8_t> bytes;
};

struct Row {
  std::string layout;
  uint64_t bytes;
  double decode_ms;
  std::string exact;
};

// --- zstd, for the dense float32 layout ------------------------------------------------

std::vector<uint8_t> Zstd(const std::vector<uint8_t>& in, int level) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) Die(ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

void Unzstd(const std::vector<uint8_t>& in, void* out, size_t size) {
  const size_t n = ZSTD_decompress(out, size, in.data(), in.size());
  if (ZSTD_isError(n) || n != size) Die("zstd decode failed");
}

// --- One layer --------------------------------------------------------------------------

void CompareLayer(const char* name, uint64_t rows, uint64_t cols, double keep,
                  std::vector<std::string>* lines) {
  const uint64_t n = rows * cols;
  std::vector<float> weights(n);
  std::mt19937_64 rng(rows * 1000003 + cols);
  std::normal_distribution<float> normal(0, 0.05f);
  for (float& w : weights) w = normal(rng);
  const int runs = n > 10000000 ? 3 : 15;

  // The pruned, clustered layer, exactly: packed codes keep every code.
  weightless::EncodeOptions o;
  o.keep_fraction = keep;
  o.clusters = 15;
  o.value_bits = 8;
  o.threads = 0;
  o.cluster_method =
      n > 10000000 ? weightless::ClusterMethod::kLinearKMeans : weightless::ClusterMethod::kOptimal;
  o.storage = weightless::LayerStorage::kPackedCodes;
  EncodedLayer packed = Check(weightless::EncodeLayer(weights.data(), {rows, cols}, o), "encode");
  std::vector<float> reference(n), out(n);
  Check(weightless::DecodeLayer(packed, reference.data(), 1), "decode packed");
  const uint64_t kept = packed.stats.kept;
  weights.clear();
  weights.shrink_to_fit();

  std::vector<Row> rows_out;
  // memcpy: the physical reference.
  const double memcpy_ms = BestMs(runs, [&] {
    std::memcpy(out.data(), reference.data(), n * sizeof(float));
    asm volatile("" : : "r"(out.data()) : "memory");
  });
  rows_out.push_back({"dense f32, memcpy", 4 * n, memcpy_ms, "yes"});

  // Weightless layouts, through a real file in memory.
  auto weightless_row = [&](const char* label, EncodedLayer layer) {
    MemoryStream stream;
    auto writer = Check(weightless::Writer::ToStream(&stream), "writer");
    Check(writer.AddSection("w", layer.section), "add layer");
    Check(writer.Finish(), "finish");
    auto reader =
        Check(weightless::Reader::OpenBuffer(stream.bytes.data(), stream.bytes.size()), "open");
    Check(reader.Decode(0, out.data(), n, 1), "decode");  // first use checks the checksum
    uint64_t false_positives = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (reference[i] != 0 && out[i] != reference[i])
        Die(std::string(label) + ": kept weight wrong");
      false_positives += reference[i] == 0 && out[i] != 0;
    }
    if (false_positives != layer.stats.false_positives) Die(std::string(label) + ": FP count");
    const double ms = BestMs(runs, [&] { Check(reader.Decode(0, out.data(), n, 1), "decode"); });
    const weightless::TensorInfo& t = reader.tensor(0);
    char exact[48];
    if (false_positives == 0) {
      std::snprintf(exact, sizeof exact, "yes");
    } else {
      std::snprintf(exact, sizeof exact, "FP %.1f%%", 100.0 * false_positives / (n - kept));
    }
    rows_out.push_back({label, t.stored_bytes + 4 * t.centroids.size(), ms, exact});
  };
  // The tables store the same layer: its non-zeros as the kept set, and their (at most
  // K) distinct values, which exact 1-D k-means reproduces exactly, as the centroids.
  weightless::EncodeOptions same = o;
  weightless::LayerInputs nonzeros;
  nonzeros.mask.resize(n);
  for (uint64_t i = 0; i < n; ++i) nonzeros.mask[i] = reference[i] != 0;
  same.cluster_method = weightless::ClusterMethod::kOptimal;
  same.storage = weightless::LayerStorage::kRetrieval;
  same.kind = weightless::RetrievalKind::kRibbon;
  weightless_row(
      "weightless ribbon t=8",
      Check(weightless::EncodeLayer(reference.data(), {rows, cols}, same, nonzeros), "ribbon"));
  same.kind = weightless::RetrievalKind::kBloomier;
  weightless_row(
      "weightless bloomier t=8",
      Check(weightless::EncodeLayer(reference.data(), {rows, cols}, same, nonzeros), "bloomier"));
  weightless_row("weightless packed codes", std::move(packed));

  // Deep Compression: sparse relative indices + codes, entropy-coded.
  {
    std::vector<uint16_t> codes(n, 0);
    std::vector<float> centroids;
    for (uint64_t i = 0; i < n; ++i) {
      if (reference[i] == 0) continue;
      auto it = std::find(centroids.begin(), centroids.end(), reference[i]);
      if (it == centroids.end()) it = centroids.insert(centroids.end(), reference[i]);
      codes[i] = static_cast<uint16_t>(it - centroids.begin() + 1);
    }
    const DeepCompressedLayer d =
        Check(EncodeDeepCompression(codes.data(), n, centroids), "deep compression");
    Check(DecodeDeepCompression(d, out.data(), n), "deep compression decode");
    if (out != reference) Die("deep compression: decode differs");
    const double ms = BestMs(
        runs, [&] { Check(DecodeDeepCompression(d, out.data(), n), "deep compression decode"); });
    rows_out.push_back(
        {"deep compression (b=" + std::to_string(d.gap_bits) + ", zstd)", d.bytes(), ms, "yes"});
  }
  // Dense float32 + zstd.
  {
    const int level = n > 10000000 ? 3 : 19;
    std::vector<uint8_t> raw(n * sizeof(float));
    std::memcpy(raw.data(), reference.data(), raw.size());
    std::vector<uint8_t> z = Zstd(raw, level);
    raw.clear();
    raw.shrink_to_fit();
    Unzstd(z, out.data(), n * sizeof(float));
    if (out != reference) Die("dense zstd: decode differs");
    const double ms = BestMs(runs, [&] { Unzstd(z, out.data(), n * sizeof(float)); });
    rows_out.push_back({"dense f32 + zstd -" + std::to_string(level), z.size(), ms, "yes"});
  }

  for (const Row& r : rows_out) {
    char line[320];
    std::snprintf(line, sizeof line,
                  "| %s %" PRIu64 "x%" PRIu64 " | %.0f%% | %s | %" PRIu64
                  " | %.2f | %.1fx | %.3f | %.1fx | %s |",
                  name, rows, cols, 100 * keep, r.layout.c_str(), r.bytes, 8.0 * r.bytes / kept,
                  4.0 * n / r.bytes, r.decode_ms, r.decode_ms / memcpy_ms, r.exact.c_str());
    lines->push_back(line);
  }
  std::fprintf(stderr, "compare: %s %" PRIu64 "x%" PRIu64 " at %.0f%% done\n", name, rows, cols,
               100 * keep);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (argc > 1 && !quick) {
    std::fprintf(stderr,
                 "usage: compare [--quick]\n"
                 "Prints a side-by-side table of storage layouts (see bench/compare.cc).\n");
    return 2;
  }
  std::vector<std::string> lines;
  for (double keep : {0.02, 0.04, 0.08}) {
    if (quick) {
      CompareLayer("small", 64, 100, keep, &lines);
      continue;
    }
    CompareLayer("fc1", 300, 784, keep, &lines);
  }
  if (!quick) {
    for (double keep : {0.02, 0.04, 0.08}) CompareLayer("fc6", 4096, 25088, keep, &lines);
  }
  std::printf(
      "| layer | kept | layout | bytes | bits/kept | vs f32 | decode ms | vs memcpy | exact |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const std::string& l : lines) std::printf("%s\n", l.c_str());
  return 0;
}
