// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Helpers for container tests: an in-memory OutputStream, a deterministic sample model
// holding every kind of tensor, and surgery on a file's index (unpack with the
// FlatBuffers object API, change, repack with correct checksums) to craft files.

#ifndef WEIGHTLESS_TESTS_FILE_TEST_UTIL_H_
#define WEIGHTLESS_TESTS_FILE_TEST_UTIL_H_

#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "container/file_layout.h"
#include "weightless/format.h"
#include "weightless/reader.h"
#include "weightless/retrieval.h"
#include "weightless/writer.h"
#include "weightless_generated.h"  // with the object API (weightless_schema_object_api)

namespace weightless {
namespace testing_util {

class VectorOutputStream : public OutputStream {
 public:
  Status Write(const uint8_t* data, size_t size) override {
    bytes.insert(bytes.end(), data, data + size);
    return Status::OK();
  }
  std::vector<uint8_t> bytes;
};

inline std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// The expected decoded values of every tensor of the sample model, by name.
struct SampleModel {
  std::vector<std::string> names;
  std::vector<std::vector<float>> expected;  // decoded float32, element by element
};

// A pruned layer: 5% kept, codes 1..k, in a table of the given kind.
struct SampleLayer {
  std::vector<uint64_t> keys;
  std::vector<uint16_t> codes;
  std::vector<float> centroids;
};

inline SampleLayer MakeSampleLayer(uint64_t n, uint32_t k, uint64_t seed) {
  SampleLayer layer;
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < n; ++i) {
    if (rng() % 20 == 0) {
      layer.keys.push_back(i);
      layer.codes.push_back(static_cast<uint16_t>(1 + rng() % k));
    }
  }
  for (uint32_t c = 0; c < k; ++c) layer.centroids.push_back(-0.5f + 0.1f * static_cast<float>(c));
  return layer;
}

// Writes a model with every kind of tensor (dense float32/float16/bfloat16/int8, with
// and without zstd; ribbon and bloomier layers, one zstd-compressed; packed codes;
// rank 0 and empty tensors) and typed metadata. `small` keeps it tiny (for byte-flip
// campaigns). Returns the expected decoded values.
inline SampleModel WriteSampleModel(Writer* w, bool small) {
  SampleModel model;
  auto expect_dense = [&](const std::string& name, std::vector<float> values) {
    model.names.push_back(name);
    model.expected.push_back(std::move(values));
  };
  const uint64_t rows = small ? 6 : 40, cols = small ? 10 : 50;
  std::vector<float> dense(rows * cols);
  for (size_t i = 0; i < dense.size(); ++i) dense[i] = std::sin(0.37f * static_cast<float>(i));
  if (!w->AddDense("dense.f32", {rows, cols}, dense.data()).ok()) std::abort();
  expect_dense("dense.f32", dense);
  if (!small) {
    if (!w->AddDense("dense.f32.zstd", {rows, cols}, dense.data(), DType::kFloat32, Codec::kZstd)
             .ok()) {
      std::abort();
    }
    expect_dense("dense.f32.zstd", dense);
  }
  std::vector<float> f16(dense.size()), bf16(dense.size()), i8(dense.size());
  for (size_t i = 0; i < dense.size(); ++i) {
    f16[i] = HalfToFloat(FloatToHalf(dense[i]));
    bf16[i] = BFloat16ToFloat(FloatToBFloat16(dense[i]));
    i8[i] = 0.01f * std::nearbyint(dense[i] / 0.01f);
  }
  if (!w->AddDense("bias.f16", {rows * cols}, dense.data(), DType::kFloat16).ok()) std::abort();
  expect_dense("bias.f16", f16);
  if (!w->AddDense("bias.bf16", {rows * cols}, dense.data(), DType::kBFloat16,
                   small ? Codec::kNone : Codec::kZstd)
           .ok()) {
    std::abort();
  }
  expect_dense("bias.bf16", bf16);
  if (!w->AddDense("w.int8", {rows, cols}, dense.data(), DType::kInt8, Codec::kNone, 0.01f).ok()) {
    std::abort();
  }
  for (size_t i = 0; i < i8.size(); ++i) {
    i8[i] = 0.01f * static_cast<float>(static_cast<int>(std::nearbyint(dense[i] / 0.01f)));
  }
  expect_dense("w.int8", i8);
  const float scalar = 3.25f;
  if (!w->AddDense("scalar", {}, &scalar).ok()) std::abort();
  expect_dense("scalar", {scalar});
  if (!w->AddDense("empty", {0, 7}, nullptr).ok()) std::abort();
  expect_dense("empty", {});

  const uint64_t n = small ? 600 : 30000;
  // fc1: ribbon with the default hash (mix32); fc2: bloomier; fc3: the layer of fc1 in a
  // ribbon table hashed with xxh3, which the sample of format 1.0 called fc1.
  struct Encoding {
    RetrievalKind kind;
    std::optional<RetrievalHash> hash;
    int layer_seed;
  };
  const Encoding encodings[] = {{RetrievalKind::kRibbon, std::nullopt, 100},
                                {RetrievalKind::kBloomier, std::nullopt, 101},
                                {RetrievalKind::kRibbon, RetrievalHash::kXxh3, 100}};
  int layer_index = 0;
  for (const Encoding& encoding : encodings) {
    const RetrievalKind kind = encoding.kind;
    SampleLayer layer = MakeSampleLayer(n, 7, encoding.layer_seed);
    RetrievalOptions options;
    options.kind = kind;
    options.hash = encoding.hash;
    options.value_bits = 4;
    options.seed = 42;
    auto table =
        RetrievalTable::Build(n, layer.keys.data(), layer.codes.data(), layer.keys.size(), options);
    if (!table.ok()) std::abort();
    std::vector<float> decoded(n);
    if (!table->view().DecodeFloats(0, n, layer.centroids.data(), 7, decoded.data()).ok()) {
      std::abort();
    }
    uint64_t fp = 0;
    for (float v : decoded) fp += v != 0.0f;
    fp -= layer.keys.size();
    LayerStats stats{layer.keys.size(), fp, 0.125};
    RetrainInfo retrain;
    retrain.encode_order = layer_index;
    retrain.epochs_after = 3;
    retrain.accuracy_before_encoding = 0.9f;
    retrain.accuracy_after_encoding = 0.8f;
    retrain.accuracy_after_retraining = 0.89f;
    const std::string name = std::string("fc") + std::to_string(layer_index + 1);
    const Codec codec = (!small && kind == RetrievalKind::kBloomier) ? Codec::kZstd : Codec::kNone;
    auto section = EncodedSection::Retrieval({n / (small ? 20 : 100), small ? 20u : 100u},
                                             std::move(table).value(), layer.centroids, stats);
    if (!section.ok() || !w->AddSection(name, *section, retrain, codec).ok()) {
      std::abort();
    }
    model.names.push_back(name);
    model.expected.push_back(decoded);
    ++layer_index;
  }
  {
    SampleLayer layer = MakeSampleLayer(small ? 50 : 1000, 3, 7);
    const uint64_t count = small ? 50 : 1000;
    std::vector<uint16_t> codes(count, 0);
    std::vector<float> decoded(count, 0.0f);
    for (size_t j = 0; j < layer.keys.size(); ++j) {
      codes[layer.keys[j]] = layer.codes[j];
      decoded[layer.keys[j]] = layer.centroids[layer.codes[j] - 1];
    }
    auto section = EncodedSection::PackedCodes({count / 10, 10}, codes.data(), 2, layer.centroids,
                                               LayerStats{layer.keys.size(), 0, 0});
    if (!section.ok() || !w->AddSection("fc_last", *section).ok()) {
      std::abort();
    }
    model.names.push_back("fc_last");
    model.expected.push_back(decoded);
  }
  if (!w->SetMetadata("architecture", std::string("LeNet-300-100")).ok() ||
      !w->SetMetadata("epochs", int64_t{12}).ok() ||
      !w->SetMetadata("baseline_accuracy", 0.8912).ok() ||
      !w->SetMetadata("retrained", true).ok()) {
    std::abort();
  }
  return model;
}

inline std::vector<uint8_t> SampleFileBytes(bool small, SampleModel* model = nullptr) {
  VectorOutputStream out;
  WriterOptions options;
  options.producer_version = "test";  // independent of the library version
  auto w = Writer::ToStream(&out, options);
  if (!w.ok()) std::abort();
  SampleModel m = WriteSampleModel(&*w, small);
  if (!w->Finish().ok()) std::abort();
  if (model) *model = m;
  return out.bytes;
}

// Unpacks the index of a valid file for surgery. A zstd-compressed index is
// decompressed and its "zstd-index" feature entry dropped, because ReplaceIndexBytes
// stores indexes uncompressed.
inline std::unique_ptr<fb::IndexT> UnpackIndex(const std::vector<uint8_t>& file) {
  const uint8_t* trailer = file.data() + file.size() - container::kTrailerSize;
  const uint64_t offset = LoadLE64(trailer);
  const uint64_t size = LoadLE64(trailer + 8);
  const uint64_t features = LoadLE64(trailer + 24);
  std::vector<uint8_t> raw(file.begin() + static_cast<long>(offset),
                           file.begin() + static_cast<long>(offset + size));
  if (features & static_cast<uint64_t>(Feature::kZstdIndex)) {
    std::vector<uint8_t> out(ZSTD_getFrameContentSize(raw.data(), raw.size()));
    if (ZSTD_decompress(out.data(), out.size(), raw.data(), raw.size()) != out.size()) std::abort();
    raw = std::move(out);
  }
  std::unique_ptr<fb::IndexT> index(fb::GetIndex(raw.data())->UnPack());
  auto& f = index->required_features;
  f.erase(std::remove_if(f.begin(), f.end(), [](const auto& x) { return x->bit == 7; }), f.end());
  return index;
}

// Replaces the index of `file` by the uncompressed `index_bytes` and rewrites the
// trailer with correct checksums and `features` (default: unchanged), without the
// "zstd-index" bit.
inline std::vector<uint8_t> ReplaceIndexBytes(const std::vector<uint8_t>& file,
                                              const std::vector<uint8_t>& index_bytes,
                                              int64_t features = -1) {
  const uint8_t* old_trailer = file.data() + file.size() - container::kTrailerSize;
  container::Trailer trailer;
  trailer.index_offset = LoadLE64(old_trailer);
  trailer.required_features =
      (features < 0 ? LoadLE64(old_trailer + 24) : static_cast<uint64_t>(features)) &
      ~static_cast<uint64_t>(Feature::kZstdIndex);
  std::vector<uint8_t> out(file.begin(), file.begin() + static_cast<long>(trailer.index_offset));
  out.insert(out.end(), index_bytes.begin(), index_bytes.end());
  trailer.index_size = index_bytes.size();
  trailer.index_checksum = container::Checksum(index_bytes.data(), index_bytes.size());
  uint8_t t[container::kTrailerSize];
  trailer.EncodeTo(t);
  out.insert(out.end(), t, t + sizeof t);
  return out;
}

inline std::vector<uint8_t> PackIndex(const fb::IndexT& index) {
  flatbuffers::FlatBufferBuilder b;
  fb::FinishIndexBuffer(b, fb::Index::Pack(b, &index));
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

// Applies `change` to the unpacked index of `file` and returns the repacked file.
inline std::vector<uint8_t> WithIndex(const std::vector<uint8_t>& file,
                                      const std::function<void(fb::IndexT&)>& change,
                                      int64_t features = -1) {
  std::unique_ptr<fb::IndexT> index = UnpackIndex(file);
  change(*index);
  return ReplaceIndexBytes(file, PackIndex(*index), features);
}

// n codes, each kept (1..k, uniform) with probability `kept`, else 0; deterministic.
inline std::vector<uint16_t> RandomCodes(uint64_t n, uint32_t k, double kept, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<uint16_t> codes(n, 0);
  for (uint16_t& c : codes) {
    if (u(rng) < kept) c = static_cast<uint16_t>(1 + rng() % k);
  }
  return codes;
}

}  // namespace testing_util
}  // namespace weightless

#endif  // WEIGHTLESS_TESTS_FILE_TEST_UTIL_H_
