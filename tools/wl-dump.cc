// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// wl-dump FILE: what a .wl file holds: format version, required features, producer,
// model metadata, a table of tensors and the retraining history; --sections lists every
// byte range of the file; --layer NAME decodes one tensor and shows statistics and a
// histogram of its values; --json prints the same as one JSON document (schema in
// tools/README.md). A thin shell over the public reader.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "last_resort.h"
#include "tool_text.h"
#include "weightless/format.h"
#include "weightless/reader.h"
#include "weightless/version.h"

namespace {

using weightless::Reader;
using weightless::TensorInfo;
using wl_tools::FileBytes;
using wl_tools::ShapeText;

// Invalid UTF-8 in a string is replaced (U+FFFD) when printing JSON, never thrown.
constexpr auto kReplace = nlohmann::json::error_handler_t::replace;

std::string FeatureList(uint64_t bits) {
  std::string out;
  for (int b = 0; b < 64; ++b) {
    if (!(bits >> b & 1)) continue;
    if (!out.empty()) out += ", ";
    out += weightless::FeatureName(uint64_t{1} << b);
  }
  return out.empty() ? "none" : out;
}

std::string Encoding(const TensorInfo& t) {
  switch (t.storage) {
    case weightless::Storage::kDense:
      return weightless::DTypeName(t.dtype);
    case weightless::Storage::kRetrieval:
      // Ribbon tables come with either hash; bloomier ones are always xxh3.
      return std::string(weightless::RetrievalKindName(t.retrieval_kind)) +
             (t.retrieval_kind == weightless::RetrievalKind::kRibbon
                  ? std::string(" ") + weightless::RetrievalHashName(t.retrieval_hash)
                  : std::string()) +
             " t=" + std::to_string(t.code_bits) + " K=" + std::to_string(t.centroids.size());
    case weightless::Storage::kPackedCodes:
      return "packed b=" + std::to_string(t.code_bits) + " K=" + std::to_string(t.centroids.size());
  }
  return "unknown";
}

double FalsePositiveRate(const TensorInfo& t) {
  return t.stats.false_positive_rate(t.element_count());
}

nlohmann::json MetadataJson(const weightless::MetadataValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::get<bool>(v);
}

nlohmann::json Accuracy(float a) { return std::isnan(a) ? nlohmann::json() : nlohmann::json(a); }

nlohmann::json ToJson(const Reader& r) {
  nlohmann::json j;
  j["format"] = {{"major", r.format_major()}, {"minor", r.format_minor()}};
  j["file_bytes"] = r.file_size();
  j["required_features"] = nlohmann::json::array();
  for (int b = 0; b < 64; ++b) {
    if (r.required_features() >> b & 1) {
      j["required_features"].push_back(weightless::FeatureName(uint64_t{1} << b));
    }
  }
  j["producer"] = {{"name", r.producer_name()}, {"version", r.producer_version()}};
  j["metadata"] = nlohmann::json::object();
  for (const auto& m : r.metadata()) j["metadata"][m.key] = MetadataJson(m.value);
  j["index"] = {{"offset", r.index_offset()}, {"stored_bytes", r.index_size()}};
  j["tensors"] = nlohmann::json::array();
  for (size_t i = 0; i < r.tensor_count(); ++i) {
    const TensorInfo& t = r.tensor(i);
    nlohmann::json x = {{"name", t.name},
                        {"shape", t.shape},
                        {"storage", weightless::StorageName(t.storage)},
                        {"dtype", weightless::DTypeName(t.dtype)},
                        {"bytes", FileBytes(t)},
                        {"section",
                         {{"offset", t.section_offset},
                          {"stored_bytes", t.stored_bytes},
                          {"raw_bytes", t.raw_bytes},
                          {"codec", weightless::CodecName(t.codec)},
                          {"checksum", t.checksum}}}};
    if (t.storage != weightless::Storage::kDense) {
      x["centroids"] = t.centroids;
      x["code_bits"] = t.code_bits;
      x["kept"] = t.stats.kept;
      x["false_positives"] = t.stats.false_positives;
      x["false_positive_rate"] = FalsePositiveRate(t);
      x["retrain"] = {{"encode_order", t.retrain.encode_order},
                      {"epochs_after", t.retrain.epochs_after},
                      {"accuracy_before_encoding", Accuracy(t.retrain.accuracy_before_encoding)},
                      {"accuracy_after_encoding", Accuracy(t.retrain.accuracy_after_encoding)},
                      {"accuracy_after_retraining", Accuracy(t.retrain.accuracy_after_retraining)}};
    }
    if (t.storage == weightless::Storage::kRetrieval) {
      x["retrieval"] = {{"kind", weightless::RetrievalKindName(t.retrieval_kind)},
                        {"hash", weightless::RetrievalHashName(t.retrieval_hash)},
                        {"seed", t.retrieval_seed},
                        {"shard_span", t.shard_span},
                        {"shards", t.shard_count},
                        {"cells", t.cells}};
    }
    j["tensors"].push_back(x);
  }
  return j;
}

// Statistics of a tensor's decoded values, for --layer.
struct ValueStats {
  uint64_t count = 0, zeros = 0, non_finite = 0;
  double min = 0, max = 0, mean = 0, std = 0, l2 = 0;
  // Non-zero finite values: each distinct value with its count when there are at most
  // kMaxDistinct of them (encoded layers: the centroids), else kBins equal-width bins.
  std::map<float, uint64_t> distinct;
  bool binned = false;
  std::vector<uint64_t> bins;
  double bin_lo = 0, bin_width = 0;
};
constexpr size_t kMaxDistinct = 32;
constexpr int kBins = 20;

ValueStats ComputeStats(const std::vector<float>& v) {
  ValueStats s;
  s.count = v.size();
  double sum = 0, sum2 = 0;
  uint64_t finite = 0;
  bool first = true;
  for (float x : v) {
    if (!std::isfinite(x)) {
      ++s.non_finite;
      continue;
    }
    ++finite;
    sum += x;
    sum2 += double{x} * x;
    if (first || x < s.min) s.min = x;
    if (first || x > s.max) s.max = x;
    first = false;
    if (x == 0) {
      ++s.zeros;
    } else if (!s.binned) {
      ++s.distinct[x];
      s.binned = s.distinct.size() > kMaxDistinct;
    }
  }
  if (finite > 0) {
    s.mean = sum / finite;
    s.std = std::sqrt(std::max(0.0, sum2 / finite - s.mean * s.mean));
    s.l2 = std::sqrt(sum2);
  }
  if (s.binned) {
    s.distinct.clear();
    s.bins.assign(kBins, 0);
    s.bin_lo = s.min;
    s.bin_width = (s.max - s.min) / kBins;
    for (float x : v) {
      if (!std::isfinite(x) || x == 0) continue;
      int b = s.bin_width > 0 ? static_cast<int>((x - s.bin_lo) / s.bin_width) : 0;
      ++s.bins[std::clamp(b, 0, kBins - 1)];
    }
  }
  return s;
}

// " ###..." scaled so that `largest` gets 40 marks; empty for a zero count.
std::string Bar(uint64_t count, uint64_t largest) {
  constexpr int kWidth = 40;
  const int n = largest ? static_cast<int>((count * kWidth + largest - 1) / largest) : 0;
  return n ? " " + std::string(n, '#') : "";
}

void PrintLayerText(const TensorInfo& t, const ValueStats& s) {
  const bool encoded = t.storage != weightless::Storage::kDense;
  std::printf("tensor %s: %s, %s %s, %" PRIu64 " values\n", t.name.c_str(),
              ShapeText(t.shape).c_str(), weightless::StorageName(t.storage), Encoding(t).c_str(),
              s.count);
  auto pct = [&](uint64_t n) { return s.count ? 100.0 * n / s.count : 0.0; };
  std::printf("  zeros      %10" PRIu64 " (%.2f%%)\n", s.zeros, pct(s.zeros));
  const uint64_t nonzero = s.count - s.zeros - s.non_finite;
  std::printf("  non-zero   %10" PRIu64 " (%.2f%%)", nonzero, pct(nonzero));
  if (encoded) {
    std::printf(": %" PRIu64 " kept, %" PRIu64 " false positives", t.stats.kept,
                t.stats.false_positives);
  }
  std::printf("\n");
  if (s.non_finite) std::printf("  NaN or inf %10" PRIu64 "\n", s.non_finite);
  std::printf("  min %.6g  max %.6g  mean %.6g  std %.6g  L2 norm %.6g\n", s.min, s.max, s.mean,
              s.std, s.l2);
  if (!s.binned) {
    uint64_t largest = 0;
    for (const auto& [value, n] : s.distinct) largest = std::max(largest, n);
    std::printf("non-zero values (%zu distinct)\n", s.distinct.size());
    for (const auto& [value, n] : s.distinct) {
      std::printf("  %12.6g %10" PRIu64 "%s\n", value, n, Bar(n, largest).c_str());
    }
  } else {
    uint64_t largest = 0;
    for (uint64_t n : s.bins) largest = std::max(largest, n);
    std::printf("non-zero values (%d bins)\n", kBins);
    for (int b = 0; b < kBins; ++b) {
      std::printf("  [%10.4g, %10.4g%c %10" PRIu64 "%s\n", s.bin_lo + b * s.bin_width,
                  b + 1 == kBins ? s.max : s.bin_lo + (b + 1) * s.bin_width,
                  b + 1 == kBins ? ']' : ')', s.bins[b], Bar(s.bins[b], largest).c_str());
    }
  }
}

nlohmann::json LayerJson(const TensorInfo& t, const ValueStats& s) {
  nlohmann::json j = {
      {"name", t.name}, {"count", s.count}, {"zeros", s.zeros}, {"non_finite", s.non_finite},
      {"min", s.min},   {"max", s.max},     {"mean", s.mean},   {"std", s.std},
      {"l2_norm", s.l2}};
  if (t.storage != weightless::Storage::kDense) {
    j["kept"] = t.stats.kept;
    j["false_positives"] = t.stats.false_positives;
  }
  nlohmann::json h;
  if (!s.binned) {
    h["kind"] = "values";
    h["entries"] = nlohmann::json::array();
    for (const auto& [value, n] : s.distinct)
      h["entries"].push_back({{"value", value}, {"count", n}});
  } else {
    h["kind"] = "bins";
    h["entries"] = nlohmann::json::array();
    for (int b = 0; b < kBins; ++b) {
      h["entries"].push_back({{"lo", s.bin_lo + b * s.bin_width},
                              {"hi", b + 1 == kBins ? s.max : s.bin_lo + (b + 1) * s.bin_width},
                              {"count", s.bins[b]}});
    }
  }
  j["histogram"] = h;
  return j;
}

void PrintText(const Reader& r, const std::string& path, bool sections) {
  std::printf("%s: Weightless file, format %u.%u, %" PRIu64 " bytes\n", path.c_str(),
              r.format_major(), r.format_minor(), r.file_size());
  std::printf("required features: %s\n", FeatureList(r.required_features()).c_str());
  std::printf("producer: %s %s\n", r.producer_name().c_str(), r.producer_version().c_str());
  for (const auto& m : r.metadata()) {
    std::printf("metadata %s = %s\n", m.key.c_str(),
                MetadataJson(m.value).dump(-1, ' ', false, kReplace).c_str());
  }
  std::printf("\n%-16s %-12s %-12s %-22s %9s %9s %7s %9s\n", "tensor", "shape", "storage",
              "encoding", "kept", "bytes", "FP %", "ratio");
  for (size_t i = 0; i < r.tensor_count(); ++i) {
    const TensorInfo& t = r.tensor(i);
    const bool encoded = t.storage != weightless::Storage::kDense;
    const uint64_t bytes = FileBytes(t);
    const double ratio = bytes ? 4.0 * static_cast<double>(t.element_count()) / bytes : 0;
    char fp[32] = "-";
    if (encoded) std::snprintf(fp, sizeof fp, "%.2f", 100 * FalsePositiveRate(t));
    std::printf("%-16s %-12s %-12s %-22s %9s %9" PRIu64 " %7s %8.1fx\n", t.name.c_str(),
                ShapeText(t.shape).c_str(), weightless::StorageName(t.storage), Encoding(t).c_str(),
                encoded ? std::to_string(t.stats.kept).c_str() : "-", bytes, fp, ratio);
  }
  bool history = false;
  for (size_t i = 0; i < r.tensor_count(); ++i) history |= r.tensor(i).retrain.encode_order >= 0;
  if (history) {
    std::printf("\nretraining history (test accuracy)\n%-16s %5s %6s %9s %9s %9s\n", "layer",
                "order", "epochs", "before", "encoded", "retrained");
    for (size_t i = 0; i < r.tensor_count(); ++i) {
      const TensorInfo& t = r.tensor(i);
      if (t.retrain.encode_order < 0) continue;
      std::printf("%-16s %5d %6d %8.2f%% %8.2f%% %8.2f%%\n", t.name.c_str(), t.retrain.encode_order,
                  t.retrain.epochs_after, 100 * t.retrain.accuracy_before_encoding,
                  100 * t.retrain.accuracy_after_encoding,
                  100 * t.retrain.accuracy_after_retraining);
    }
  }
  if (sections) {
    std::printf("\n%-10s %10s %10s %10s %-6s %-18s %s\n", "offset", "stored", "raw", "align",
                "codec", "checksum", "what");
    std::printf("%-10d %10d %10d %10s %-6s %-18s %s\n", 0, 64, 64, "-", "-", "-", "header");
    for (size_t i = 0; i < r.tensor_count(); ++i) {
      const TensorInfo& t = r.tensor(i);
      std::printf("%-10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10s %-6s 0x%016" PRIx64 " %s\n",
                  t.section_offset, t.stored_bytes, t.raw_bytes,
                  t.section_offset % 64 == 0 ? "64" : "NO", weightless::CodecName(t.codec),
                  t.checksum, t.name.c_str());
    }
    const bool zstd_index =
        r.required_features() & static_cast<uint64_t>(weightless::Feature::kZstdIndex);
    std::printf("%-10" PRIu64 " %10" PRIu64 " %10s %10s %-6s %-18s %s\n", r.index_offset(),
                r.index_size(), "-", "64", zstd_index ? "zstd" : "none", "(in trailer)", "index");
    std::printf("%-10" PRIu64 " %10d %10d %10s %-6s %-18s %s\n", r.file_size() - 48, 48, 48, "-",
                "-", "-", "trailer");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wl-dump: show what a Weightless (.wl) file holds"};
  app.set_version_flag("--version",
                       std::string("wl-dump (weightless ") + weightless::VersionString() + ")");
  std::string path, layer;
  bool json = false, sections = false;
  app.add_option("FILE", path, "the .wl file")->required();
  app.add_flag("--json", json, "print one JSON document (schema: tools/README.md)");
  app.add_flag("--sections", sections,
               "list every section's offset, size, alignment, codec "
               "and checksum");
  app.add_option("--layer", layer,
                 "decode this tensor and show statistics and a histogram of its values");
  CLI11_PARSE(app, argc, argv);
  return wl_tools::WithLastResort("wl-dump", 1, [&]() -> int {
    auto reader = Reader::Open(path);
    if (!reader.ok()) {
      std::fprintf(stderr, "wl-dump: %s\n", reader.status().ToString().c_str());
      return 2;
    }
    const Reader& r = *reader;
    if (!layer.empty()) {
      auto index = r.FindTensor(layer);
      if (!index.ok()) {
        std::fprintf(stderr, "wl-dump: %s\n", index.status().ToString().c_str());
        return 1;
      }
      const TensorInfo& t = r.tensor(*index);
      std::vector<float> values;
      try {
        values.resize(t.element_count());
      } catch (const std::exception&) {  // bad_alloc, length_error: a legal 2^48-weight layer
        std::fprintf(stderr, "wl-dump: tensor '%s': %" PRIu64 " values do not fit in memory\n",
                     t.name.c_str(), t.element_count());
        return 1;
      }
      weightless::Status s = r.Decode(*index, values.data(), values.size(), 0);
      if (!s.ok()) {
        std::fprintf(stderr, "wl-dump: %s\n", s.ToString().c_str());
        return 1;
      }
      const ValueStats stats = ComputeStats(values);
      if (json) {
        std::printf("%s\n", LayerJson(t, stats).dump(2, ' ', false, kReplace).c_str());
      } else {
        PrintLayerText(t, stats);
      }
      return 0;
    }
    if (json) {
      std::printf("%s\n", ToJson(r).dump(2, ' ', false, kReplace).c_str());
    } else {
      PrintText(r, path, sections);
    }
    return 0;
  });
}
