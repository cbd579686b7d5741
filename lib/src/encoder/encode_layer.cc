// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// EncodeLayer: prune -> cluster -> choose t -> build tables over seeds -> keep the
// cheapest; DecodeLayer.

#include <algorithm>
#include <cmath>
#include <string>

#include "weightless/encoder.h"

namespace weightless {

namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

// Bits for codes 0..k: ceil(log2(k + 1)).
int BitsFor(uint32_t k) {
  int b = 1;
  while ((uint64_t{1} << b) <= k) ++b;
  return b;
}

Status CheckOptions(const EncodeOptions& o) {
  if (o.clusters < 1 || o.clusters > 65535) {
    return Status::InvalidArgument("clusters (K) = " + Num(o.clusters), "must be 1..65535");
  }
  if (o.value_bits < 0 || o.value_bits > 16) {
    return Status::InvalidArgument("value_bits (t) = " + std::to_string(o.value_bits),
                                   "must be 1..16, or 0 to choose from the false-positive budget");
  }
  if (o.value_bits == 0 && !(o.max_false_positive_rate > 0 && o.max_false_positive_rate < 1)) {
    return Status::InvalidArgument("max_false_positive_rate must be in (0, 1)");
  }
  if (o.seeds < 1 || o.seeds > 65536) {
    return Status::InvalidArgument("seeds = " + std::to_string(o.seeds), "must be 1..65536");
  }
  if (o.mask.empty() && !(o.keep_fraction >= 0 && o.keep_fraction <= 1)) {
    return Status::InvalidArgument("keep_fraction must be in [0, 1]");
  }
  return Status::OK();
}

double SquaredErrorCost(const std::vector<FalsePositive>& fps) {
  double sum = 0;
  for (const FalsePositive& fp : fps) sum += static_cast<double>(fp.value) * fp.value;
  return sum;
}

}  // namespace

LayerStats EncodedLayer::layer_stats() const {
  return LayerStats{stats.kept, stats.false_positives, stats.added_squared_error};
}

Result<EncodedLayer> EncodeLayer(const float* weights, const std::vector<uint64_t>& shape,
                                 const EncodeOptions& options) {
  Status s = CheckOptions(options);
  if (!s.ok()) return s;
  if (shape.empty()) return Status::InvalidArgument("a layer needs at least one dimension");
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d == 0) return Status::InvalidArgument("the shape has a zero dimension: no weights");
    if (n > RetrievalLimits::kMaxUniverse / d) {
      return Status::OutOfRange("shape product", "exceeds 2^48 weights");
    }
    n *= d;
  }
  if (weights == nullptr) return Status::InvalidArgument("weights is null");
  for (uint64_t i = 0; i < n; ++i) {
    if (!std::isfinite(weights[i])) {
      return Status::InvalidArgument("weight at index " + Num(i) + " is " +
                                     (std::isnan(weights[i]) ? "NaN" : "infinite"));
    }
  }
  // 1. Prune.
  std::vector<uint8_t> mask;
  if (!options.mask.empty()) {
    if (options.mask.size() != n) {
      return Status::InvalidArgument("mask has " + Num(options.mask.size()) + " entries for " +
                                     Num(n) + " weights");
    }
    mask = options.mask;
  } else {
    Result<std::vector<uint8_t>> pruned = PruneByMagnitude(weights, n, options.keep_fraction);
    if (!pruned.ok()) return pruned.status();
    mask = std::move(pruned).value();
  }
  std::vector<uint64_t> keys;
  std::vector<float> kept;
  for (uint64_t i = 0; i < n; ++i) {
    if (mask[i]) {
      keys.push_back(i);
      kept.push_back(weights[i]);
    }
  }
  // 2. Share weights.
  Result<Clustering> clustering =
      ShareWeights(kept.data(), kept.size(), options.clusters, options.cluster_method);
  if (!clustering.ok()) return clustering.status();
  EncodedLayer out;
  out.shape = shape;
  out.centroids = clustering->centroids;
  const uint32_t k = static_cast<uint32_t>(out.centroids.size());
  EncodeStats& st = out.stats;
  st.weights = n;
  st.kept = keys.size();
  st.clusters = k;
  st.clustering_squared_error = clustering->squared_error;
  // 3. Choose t.
  int t = options.value_bits;
  if (t == 0) {
    t = BitsFor(k);
    while (t < 16 &&
           static_cast<double>(k) / std::ldexp(1.0, t) > options.max_false_positive_rate) {
      ++t;
    }
    if (static_cast<double>(k) / std::ldexp(1.0, t) > options.max_false_positive_rate) {
      return Status::InvalidArgument("no t <= 16 meets the false-positive budget " +
                                     std::to_string(options.max_false_positive_rate) +
                                     " with K = " + Num(k));
    }
  } else if ((uint64_t{1} << t) <= k) {
    return Status::InvalidArgument("t = " + std::to_string(t) + " holds codes up to " +
                                   Num((uint64_t{1} << t) - 1) + ", K = " + Num(k));
  }
  const int packed_bits = BitsFor(k);
  const uint64_t centroid_bits = 32 * static_cast<uint64_t>(k);
  const uint64_t packed_payload_bits = n * static_cast<uint64_t>(packed_bits);

  // 4. Tables over seeds; keep the cheapest.
  bool use_packed = options.storage == LayerStorage::kPackedCodes;
  uint64_t table_bits = 0;  // of the chosen table
  if (!use_packed) {
    const FalsePositiveCost& cost =
        options.cost ? options.cost : FalsePositiveCost(SquaredErrorCost);
    std::vector<uint16_t> codes(n);
    std::vector<FalsePositive> fps;
    double best_cost = 0;
    for (int seed = 0; seed < options.seeds; ++seed) {
      RetrievalOptions ro;
      ro.kind = options.kind;
      ro.value_bits = t;
      ro.seed = options.base_seed + static_cast<uint64_t>(seed);
      ro.threads = options.threads;
      Result<RetrievalTable> table =
          RetrievalTable::Build(n, keys.data(), clustering->codes.data(), keys.size(), ro);
      if (!table.ok()) return table.status();
      s = table->view().DecodeCodes(0, n, codes.data(), options.threads);
      if (!s.ok()) return s;
      fps.clear();
      for (uint64_t i = 0; i < n; ++i) {
        if (!mask[i] && codes[i] >= 1 && codes[i] <= k) {
          fps.push_back(FalsePositive{i, out.centroids[codes[i] - 1]});
        }
      }
      const double c = cost(fps);
      if (seed == 0) st.first_seed_cost = c;
      st.seeds_tried = seed + 1;
      if (seed == 0 || c < best_cost) {
        best_cost = c;
        st.chosen_seed = ro.seed;
        st.chosen_cost = c;
        st.false_positives = fps.size();
        st.added_squared_error = SquaredErrorCost(fps);
        table_bits = 8 * static_cast<uint64_t>(table->bytes().size());
        out.table.emplace(std::move(table).value());
      }
    }
    if (options.storage == LayerStorage::kAuto && packed_payload_bits <= table_bits) {
      use_packed = true;
    }
  }
  if (use_packed) {
    out.storage = Storage::kPackedCodes;
    out.table.reset();
    out.packed_codes.assign(n, 0);
    for (size_t j = 0; j < keys.size(); ++j) out.packed_codes[keys[j]] = clustering->codes[j];
    st.value_bits = packed_bits;
    st.false_positives = 0;
    st.added_squared_error = 0;
    st.chosen_cost = 0;
    st.bits = packed_payload_bits + centroid_bits;
  } else {
    out.storage = Storage::kRetrieval;
    st.value_bits = t;
    st.bits = table_bits + centroid_bits;
  }
  st.false_positive_rate =
      n > st.kept ? static_cast<double>(st.false_positives) / static_cast<double>(n - st.kept) : 0;
  st.bits_per_kept_weight =
      st.kept ? static_cast<double>(st.bits) / static_cast<double>(st.kept) : 0;
  st.compression_ratio = static_cast<double>(32 * n) / static_cast<double>(st.bits);
  return out;
}

Status DecodeLayer(const EncodedLayer& layer, float* out, int threads) {
  uint64_t n = 1;
  for (uint64_t d : layer.shape) n *= d;
  const uint32_t k = static_cast<uint32_t>(layer.centroids.size());
  if (layer.storage == Storage::kRetrieval) {
    if (!layer.table) return Status::InvalidArgument("encoded layer has no table");
    return layer.table->view().DecodeFloats(0, n, layer.centroids.data(), k, out, threads);
  }
  if (layer.packed_codes.size() != n) {
    return Status::InvalidArgument("encoded layer has " + Num(layer.packed_codes.size()) +
                                   " packed codes for " + Num(n) + " weights");
  }
  for (uint64_t i = 0; i < n; ++i) {
    const uint16_t c = layer.packed_codes[i];
    out[i] = (c >= 1 && c <= k) ? layer.centroids[c - 1] : 0.0f;
  }
  return Status::OK();
}

}  // namespace weightless
