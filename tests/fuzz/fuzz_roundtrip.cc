// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Fuzz target: fuzzer-chosen weights and parameters (shape up to 32 x 64, keep fraction
// or an explicit mask, K, t or a false-positive budget, ribbon (mix32 or xxh3 hash) or
// bloomier, storage, clustering method, seeds, codec) go through EncodeLayer -> Writer -> Reader
// and come back exactly, deterministically:
//   - EncodeLayer either succeeds or refuses with InvalidArgument (a non-finite weight,
//     t too small for K, no t meeting the budget); it never fails otherwise;
//   - encoding twice, and with 2 threads, gives identical layers, and writing them
//     gives byte-identical files;
//   - the file verifies clean and stores the layer's shape, storage, t, centroids and
//     statistics;
//   - the reader decodes exactly what DecodeLayer does; every kept weight decodes to
//     the centroid of its own cluster (the clustering of the kept weights, recomputed),
//     with a code in 1..K; a pruned weight decodes to 0 or, from a retrieval table, to
//     the centroid of its false-positive code, and the number of such weights is the
//     stored false_positives count;
//   - the kept set is what the pruning rule of simplify.h says (recomputed here
//     independently by sorting), or the mask;
//   - with exact k-means, each kept weight's centroid is its nearest one.
//
// Input layout (missing bytes read as zero): rows, cols, flags, keep, K, t, budget,
// seeds (its high bit: a ribbon table hashes with xxh3, not mix32), base seed (8 bytes), then the
// weights (1, 2 or 4 bytes each, by mode), then the mask bits (mask mode).

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "fuzz_util.h"
#include "weightless/encoder.h"
#include "weightless/reader.h"
#include "weightless/simplify.h"
#include "weightless/writer.h"

namespace weightless {
namespace fuzz {
namespace {

class MemoryStream : public OutputStream {
 public:
  Status Write(const uint8_t* data, size_t size) override {
    bytes.insert(bytes.end(), data, data + size);
    return Status::OK();
  }
  std::vector<uint8_t> bytes;
};

bool SameLayer(const EncodedLayer& a, const EncodedLayer& b) {
  const EncodeStats &x = a.stats, &y = b.stats;
  const bool same_stats =
      x.weights == y.weights && x.kept == y.kept && x.clusters == y.clusters &&
      x.value_bits == y.value_bits && x.false_positives == y.false_positives && x.bits == y.bits &&
      x.seeds_tried == y.seeds_tried && x.chosen_seed == y.chosen_seed &&
      x.added_squared_error == y.added_squared_error && x.chosen_cost == y.chosen_cost &&
      x.first_seed_cost == y.first_seed_cost &&
      x.clustering_squared_error == y.clustering_squared_error;
  return same_stats && a.shape() == b.shape() && a.storage() == b.storage() &&
         a.centroids().size() == b.centroids().size() &&
         SameBits(a.centroids().data(), b.centroids().data(), a.centroids().size()) &&
         a.section.bytes() == b.section.bytes();
}

std::vector<uint8_t> WriteFile(const EncodedLayer& layer, Codec codec) {
  MemoryStream out;
  WriterOptions options;
  options.producer_version = "fuzz";  // independent of the library version
  Result<Writer> w = Writer::ToStream(&out, options);
  FUZZ_CHECK(w.ok());
  RetrainInfo retrain;
  retrain.encode_order = 0;
  FUZZ_CHECK(w->AddSection("layer", layer.section, retrain, codec).ok());
  FUZZ_CHECK(w->SetMetadata("kept", static_cast<int64_t>(layer.stats.kept)).ok());
  FUZZ_CHECK(w->Finish().ok());
  return out.bytes;
}

// The kept set by the rule of simplify.h: the round(f * n) largest magnitudes, ties
// toward the lower index.
std::vector<uint8_t> ExpectedMask(const std::vector<float>& w, double keep_fraction) {
  const size_t n = w.size();
  const size_t keep = static_cast<size_t>(std::llround(keep_fraction * static_cast<double>(n)));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return std::fabs(w[a]) > std::fabs(w[b]); });
  std::vector<uint8_t> mask(n, 0);
  for (size_t j = 0; j < keep; ++j) mask[order[j]] = 1;
  return mask;
}

void RoundTrip(const uint8_t* data, size_t size) {
  ByteSource in(data, size);
  const uint64_t rows = 1 + in.Byte() % 32, cols = 1 + in.Byte() % 64;
  const uint8_t flags = in.Byte();
  EncodeOptions o;
  LayerInputs inputs;  // the mask, when the input gives one
  o.kind = (flags & 1) ? RetrievalKind::kBloomier : RetrievalKind::kRibbon;
  const LayerStorage storages[4] = {LayerStorage::kAuto, LayerStorage::kRetrieval,
                                    LayerStorage::kPackedCodes, LayerStorage::kRetrieval};
  o.storage = storages[(flags >> 1) & 3];
  o.cluster_method = (flags & 8) ? ClusterMethod::kLinearKMeans : ClusterMethod::kOptimal;
  const bool use_mask = flags & 16;
  const Codec codec = (flags & 32) ? Codec::kZstd : Codec::kNone;
  const int weight_mode = flags >> 6;
  o.keep_fraction = in.Byte() / 255.0;
  o.clusters = 1 + in.Byte() % 40;
  o.value_bits = in.Byte() % 17;  // 0: from the budget
  o.max_false_positive_rate = (1 + in.Byte()) / 257.0;
  const uint8_t seeds_and_hash = in.Byte();
  o.seeds = 1 + (seeds_and_hash & 0x7f) % 3;
  // Ribbon tables hash with mix32 unless the high bit asks for xxh3 (format 1.0's hash).
  if (o.kind == RetrievalKind::kRibbon && (seeds_and_hash & 0x80)) o.hash = RetrievalHash::kXxh3;
  o.base_seed = in.U64();
  o.threads = 1;

  const uint64_t n = rows * cols;
  std::vector<float> w(n);
  for (float& x : w) {
    switch (weight_mode) {
      case 0:  // small integers / 16: many ties and exact zeros
        x = static_cast<float>(static_cast<int8_t>(in.Byte())) / 16.0f;
        break;
      case 1:  // float16 bit patterns: wide range, infinities and NaNs
        x = HalfToFloat(in.U16());
        break;
      case 2:  // four values only
        x = static_cast<float>(in.Byte() % 4) - 1.5f;
        break;
      default: {  // any float32
        const uint32_t u = in.U32();
        std::memcpy(&x, &u, 4);
      }
    }
  }
  if (use_mask) {
    inputs.mask.resize(n);
    for (uint64_t i = 0; i < n; i += 8) {
      const uint8_t bits = in.Byte();
      for (uint64_t b = 0; b < 8 && i + b < n; ++b) inputs.mask[i + b] = (bits >> b) & 1;
    }
  }
  const std::vector<uint64_t> shape = {rows, cols};

  if (!std::all_of(w.begin(), w.end(), [](float x) { return std::isfinite(x); })) {
    FUZZ_CHECK(EncodeLayer(w.data(), shape, o, inputs).status().IsInvalidArgument());
    return;
  }
  // What the encoder must do, worked out first: the kept set and its clustering.
  const std::vector<uint8_t> mask = use_mask ? inputs.mask : ExpectedMask(w, o.keep_fraction);
  std::vector<uint64_t> keys;
  std::vector<float> kept;
  for (uint64_t i = 0; i < n; ++i) {
    if (mask[i]) {
      keys.push_back(i);
      kept.push_back(w[i]);
    }
  }
  Result<Clustering> clustering =
      ShareWeights(kept.data(), kept.size(), o.clusters, o.cluster_method);
  FUZZ_CHECK(clustering.ok());

  Result<EncodedLayer> a = EncodeLayer(w.data(), shape, o, inputs);
  if (!a.ok()) {
    // Refused only for a t too small for K (with K <= 40, every budget >= 1/257 is met
    // by some t <= 16).
    FUZZ_CHECK(a.status().IsInvalidArgument());
    FUZZ_CHECK(o.value_bits != 0 && (uint64_t{1} << o.value_bits) <= clustering->centroids.size());
    return;
  }
  const EncodedLayer& layer = *a;
  Result<EncodedLayer> b = EncodeLayer(w.data(), shape, o, inputs);
  FUZZ_CHECK(b.ok() && SameLayer(layer, *b));
  o.threads = 2;
  Result<EncodedLayer> c = EncodeLayer(w.data(), shape, o, inputs);
  FUZZ_CHECK(c.ok() && SameLayer(layer, *c));

  const EncodeStats& st = layer.stats;
  const uint32_t k = static_cast<uint32_t>(layer.centroids().size());
  FUZZ_CHECK(st.weights == n && st.kept == keys.size() && st.clusters == k);
  FUZZ_CHECK(k >= 1 && k <= o.clusters && (uint64_t{1} << st.value_bits) > k);
  FUZZ_CHECK(std::is_sorted(layer.centroids().begin(), layer.centroids().end()));
  for (float x : layer.centroids()) FUZZ_CHECK(std::isfinite(x));
  const bool retrieval = layer.storage() == Storage::kRetrieval;
  FUZZ_CHECK(retrieval == (layer.section.view().table() != nullptr));
  if (o.storage == LayerStorage::kPackedCodes) FUZZ_CHECK(!retrieval);
  if (o.storage == LayerStorage::kRetrieval) FUZZ_CHECK(retrieval);
  if (retrieval && o.value_bits != 0) {
    FUZZ_CHECK(st.value_bits == o.value_bits);
  }

  // Write twice: identical bytes.
  const std::vector<uint8_t> file = WriteFile(layer, codec);
  FUZZ_CHECK(WriteFile(*b, codec) == file);

  // Read back.
  Result<Reader> opened = Reader::OpenBuffer(file.data(), file.size());
  FUZZ_CHECK(opened.ok());
  const Reader& r = *opened;
  FUZZ_CHECK(r.Verify().empty());
  FUZZ_CHECK(r.tensor_count() == 1);
  const TensorInfo& t = r.tensor(0);
  FUZZ_CHECK(t.name == "layer" && t.shape == shape && t.storage == layer.storage());
  FUZZ_CHECK(t.code_bits == st.value_bits && t.codec == codec);
  FUZZ_CHECK(t.centroids.size() == k && SameBits(t.centroids.data(), layer.centroids().data(), k));
  FUZZ_CHECK(t.stats.kept == st.kept && t.stats.false_positives == st.false_positives &&
             t.stats.added_squared_error == st.added_squared_error);
  if (retrieval) {
    FUZZ_CHECK(t.retrieval_kind == o.kind && t.retrieval_seed == st.chosen_seed);
    FUZZ_CHECK(t.retrieval_hash == o.hash.value_or(DefaultRetrievalHash(o.kind, t.shard_span)));
    FUZZ_CHECK(t.cells == layer.section.view().table()->cell_count());
  }
  std::vector<float> decoded(n), expected(n);
  FUZZ_CHECK(r.Decode(0, decoded.data(), n).ok());
  FUZZ_CHECK(DecodeLayer(layer, expected.data(), 1).ok());
  FUZZ_CHECK(SameBits(decoded.data(), expected.data(), n));

  // Every kept weight decodes to its own cluster's centroid.
  FUZZ_CHECK(clustering->centroids.size() == k &&
             SameBits(clustering->centroids.data(), layer.centroids().data(), k));
  float max_abs = 0;
  for (float x : kept) max_abs = std::max(max_abs, std::fabs(x));
  uint64_t false_positives = 0;
  size_t j = 0;
  Result<std::vector<uint16_t>> codes = DecodeLayerCodes(layer, 1);  // above K read as 0
  FUZZ_CHECK(codes.ok() && codes->size() == n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint32_t code = (*codes)[i];
    if (mask[i]) {
      const uint16_t own = clustering->codes[j++];
      FUZZ_CHECK(code == own && code >= 1 && code <= k);
      FUZZ_CHECK(decoded[i] == layer.centroids()[code - 1]);
      if (o.cluster_method == ClusterMethod::kOptimal) {
        // Nearest centroid, up to rounding of the centroids to float.
        const double d = std::fabs(static_cast<double>(w[i]) - decoded[i]);
        for (float centroid : layer.centroids()) {
          FUZZ_CHECK(d <= std::fabs(static_cast<double>(w[i]) - centroid) + 1e-5 * max_abs);
        }
      }
    } else if (code >= 1 && code <= k) {
      FUZZ_CHECK(retrieval);
      FUZZ_CHECK(decoded[i] == layer.centroids()[code - 1]);
      ++false_positives;
    } else {
      FUZZ_CHECK(decoded[i] == 0.0f);
    }
  }
  FUZZ_CHECK(false_positives == st.false_positives);
}

}  // namespace
}  // namespace fuzz
}  // namespace weightless

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  weightless::fuzz::RoundTrip(data, size);
  return 0;
}
