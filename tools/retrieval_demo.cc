// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// wl-retrieval-demo: the end-to-end path that exists today, on a LeNet-300-100 fc1-sized
// layer (784 x 300) of synthetic Gaussian weights: magnitude-prune, quantize the kept
// weights to K levels, store their codes in a retrieval table of each encoding, write
// both to a .wl file with a float16 bias and metadata, reopen the file, decode, verify
// every checksum, and check that every kept weight is exact, that the file decodes to
// exactly what the tables in memory decode to, and that the false-positive rate matches
// K / 2^t. Exits non-zero on any mismatch.
//
// Usage: wl-retrieval-demo [OUT.wl [rows cols keep_percent K t]]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "weightless/reader.h"
#include "weightless/retrieval.h"
#include "weightless/version.h"
#include "weightless/writer.h"

namespace {

using weightless::RetrievalKind;
using weightless::RetrievalTable;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

bool ParseArg(const char* text, double lo, double hi, double* out) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= lo && v <= hi)) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  double rows = 784, cols = 300, keep_percent = 5, k = 15, t = 8;
  if (argc != 1 && argc != 2 && argc != 7) {
    std::fprintf(stderr, "usage: %s [OUT.wl [rows cols keep_percent K t]]\n", argv[0]);
    return 2;
  }
  const std::string out_path = argc >= 2 ? argv[1] : "weightless-demo.wl";
  if (argc == 7) {
    if (!ParseArg(argv[2], 1, 1e5, &rows) || !ParseArg(argv[3], 1, 1e5, &cols) ||
        !ParseArg(argv[4], 0.01, 100, &keep_percent) || !ParseArg(argv[6], 1, 16, &t) ||
        !ParseArg(argv[5], 1, std::pow(2.0, t) - 1, &k)) {
      std::fprintf(stderr,
                   "%s: bad arguments: need rows, cols in 1..100000, keep_percent in "
                   "0.01..100, t in 1..16 and K in 1..2^t-1\n",
                   argv[0]);
      return 2;
    }
  }
  const uint64_t n = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
  const uint32_t levels = static_cast<uint32_t>(k);
  const int bits = static_cast<int>(t);
  std::printf("weightless %s: retrieval demo on a %gx%g layer, keep %g%%, K = %u, t = %d\n",
              weightless::VersionString(), rows, cols, keep_percent, levels, bits);

  // Synthetic dense weights, then magnitude pruning: keep the largest |w|.
  std::mt19937_64 rng(2018);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> dense(n);
  for (float& w : dense) w = normal(rng);
  std::vector<float> magnitudes(n);
  for (uint64_t i = 0; i < n; ++i) magnitudes[i] = std::fabs(dense[i]);
  const uint64_t keep = std::max<uint64_t>(1, static_cast<uint64_t>(n * keep_percent / 100));
  std::nth_element(magnitudes.begin(), magnitudes.begin() + (n - keep), magnitudes.end());
  const float threshold = magnitudes[n - keep];

  // Quantize kept weights to K levels spread evenly over their range (a stand-in for
  // the k-means weight sharing of the encoder).
  std::vector<uint64_t> keys;
  std::vector<float> kept;
  for (uint64_t i = 0; i < n; ++i) {
    if (std::fabs(dense[i]) >= threshold && keys.size() < keep) {
      keys.push_back(i);
      kept.push_back(dense[i]);
    }
  }
  const auto [min_it, max_it] = std::minmax_element(kept.begin(), kept.end());
  std::vector<float> centroids(levels);
  for (uint32_t c = 0; c < levels; ++c) {
    centroids[c] = levels == 1 ? *min_it : *min_it + (*max_it - *min_it) * c / (levels - 1);
  }
  std::vector<uint16_t> codes(keys.size());
  for (size_t j = 0; j < keys.size(); ++j) {
    uint32_t best = 0;
    for (uint32_t c = 1; c < levels; ++c) {
      if (std::fabs(kept[j] - centroids[c]) < std::fabs(kept[j] - centroids[best])) best = c;
    }
    codes[j] = static_cast<uint16_t>(best + 1);
  }
  std::printf("pruned to %zu of %llu weights (|w| >= %.4f)\n\n", keys.size(),
              static_cast<unsigned long long>(n), threshold);
  std::printf("%-9s %9s %10s %12s %12s %10s %12s %10s\n", "encoding", "bytes", "cells/key",
              "bits/kept", "FP rate", "expected", "ratio f32", "decode ms");

  int failures = 0;
  auto writer = weightless::Writer::Create(out_path);
  if (!writer.ok()) {
    std::fprintf(stderr, "%s\n", writer.status().ToString().c_str());
    return 1;
  }
  std::vector<std::vector<float>> in_memory;  // what each table decodes to
  for (RetrievalKind kind : {RetrievalKind::kBloomier, RetrievalKind::kRibbon}) {
    weightless::RetrievalOptions options;
    options.kind = kind;
    options.value_bits = bits;
    options.seed = 1;
    auto built = RetrievalTable::Build(n, keys.data(), codes.data(), keys.size(), options);
    if (!built.ok()) {
      std::fprintf(stderr, "build failed: %s\n", built.status().ToString().c_str());
      return 1;
    }
    // Reload from the serialized bytes, as a reader of a file would.
    auto table = RetrievalTable::FromBytes(built->bytes());
    if (!table.ok()) {
      std::fprintf(stderr, "reload failed: %s\n", table.status().ToString().c_str());
      return 1;
    }
    std::vector<float> decoded(n);
    const auto start = std::chrono::steady_clock::now();
    auto status = table->view().DecodeFloats(0, n, centroids.data(), levels, decoded.data(), 0);
    const double seconds = Seconds(start);
    if (!status.ok()) {
      std::fprintf(stderr, "decode failed: %s\n", status.ToString().c_str());
      return 1;
    }
    uint64_t wrong = 0, false_positives = 0;
    size_t j = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (j < keys.size() && keys[j] == i) {
        if (decoded[i] != centroids[codes[j] - 1]) ++wrong;
        ++j;
      } else if (decoded[i] != 0.0f) {
        ++false_positives;
      }
    }
    const double fp_rate = static_cast<double>(false_positives) / (n - keys.size());
    const double expected = levels / std::pow(2.0, bits);
    const double bytes = static_cast<double>(table->bytes().size() + 4 * levels);
    std::printf("%-9s %9.0f %10.4f %12.3f %12.5f %10.5f %11.1fx %10.2f\n",
                weightless::RetrievalKindName(kind), bytes, built->stats().cells_per_key,
                bytes * 8 / keys.size(), fp_rate, expected, 4.0 * n / bytes, seconds * 1e3);
    const std::string layer_name = std::string("fc1.") + weightless::RetrievalKindName(kind);
    weightless::Status added = (*writer)->AddRetrievalLayer(
        layer_name, {static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)}, *table, centroids,
        weightless::LayerStats{keys.size(), false_positives, 0});
    if (!added.ok()) {
      std::fprintf(stderr, "%s\n", added.ToString().c_str());
      return 1;
    }
    in_memory.push_back(decoded);
    if (wrong != 0) {
      std::fprintf(stderr, "%s: %llu kept weights decoded wrong\n",
                   weightless::RetrievalKindName(kind), static_cast<unsigned long long>(wrong));
      ++failures;
    }
    const double sigma = std::sqrt(expected * (1 - expected) / (n - keys.size()));
    if (std::fabs(fp_rate - expected) > 5 * sigma) {
      std::fprintf(stderr, "%s: false-positive rate %.5f is outside 5 sigma of %.5f\n",
                   weightless::RetrievalKindName(kind), fp_rate, expected);
      ++failures;
    }
  }
  // The rest of a model file: a bias and metadata.
  std::vector<float> bias(static_cast<size_t>(rows), 0.01f);
  weightless::Status s = (*writer)->AddDense("fc1.bias", {static_cast<uint64_t>(rows)}, bias.data(),
                                             weightless::DType::kFloat16);
  if (s.ok()) s = (*writer)->SetMetadata("demo", std::string("wl-retrieval-demo"));
  if (s.ok()) s = (*writer)->Finish();
  if (!s.ok()) {
    std::fprintf(stderr, "writing %s: %s\n", out_path.c_str(), s.ToString().c_str());
    return 1;
  }
  // Reopen the file and check it decodes to exactly what the tables decoded to.
  auto reader = weightless::Reader::Open(out_path);
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
    return 1;
  }
  const std::vector<weightless::Status> problems = (*reader)->Verify();
  for (const weightless::Status& p : problems) std::fprintf(stderr, "%s\n", p.ToString().c_str());
  failures += static_cast<int>(problems.size());
  bool file_matches = true;
  for (size_t layer = 0; layer < in_memory.size(); ++layer) {
    std::vector<float> from_file(n);
    if (!(*reader)->Decode(layer, from_file.data(), n, 0).ok() || from_file != in_memory[layer]) {
      file_matches = false;
      ++failures;
    }
  }
  std::printf(
      "\nbytes include the %u float32 centroids; ratio is against the dense float32 "
      "layer.\nwrote %s (%llu bytes, %zu tensors); reopened: checksums %s, decoded layers %s\n"
      "Every kept weight decoded exactly: %s\n",
      levels, out_path.c_str(), static_cast<unsigned long long>((*reader)->file_size()),
      (*reader)->tensor_count(), problems.empty() ? "verified" : "FAILED",
      file_matches ? "identical to the tables in memory" : "DIFFERENT",
      failures == 0 ? "yes" : "NO");
  return failures == 0 ? 0 : 1;
}
