// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// EncodeLayer: prune -> share weights -> the codes path of EncodeCodes: choose t ->
// build tables over seeds (several at once) -> keep the cheapest, or packed codes where
// those are no larger. DecodeLayer and DecodeLayerCodes.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/parallel.h"
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

// The options of the table and its seed search (EncodeLayer and EncodeCodes).
Status CheckTableOptions(const EncodeOptions& o) {
  // Checked even when packed codes will be chosen, so that options a table would refuse
  // never pass unnoticed.
  if (Status s = CheckRetrievalKindAndHash(o.kind, o.hash); !s.ok()) return s;
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
  if (o.threads < 0) {
    return Status::InvalidArgument("threads = " + std::to_string(o.threads),
                                   "must be >= 0 (0 = one per hardware thread)");
  }
  if (o.cost_kind != FalsePositiveCostKind::kSquaredError &&
      o.cost_kind != FalsePositiveCostKind::kActivation) {
    return Status::InvalidArgument("cost_kind = " + std::to_string(static_cast<int>(o.cost_kind)),
                                   "must be kSquaredError or kActivation");
  }
  return Status::OK();
}

// The number of weights of `shape`.
Result<uint64_t> WeightCount(const std::vector<uint64_t>& shape) {
  if (shape.empty()) return Status::InvalidArgument("a layer needs at least one dimension");
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d == 0) return Status::InvalidArgument("the shape has a zero dimension: no weights");
    if (n > RetrievalLimits::kMaxUniverse / d) {
      return Status::OutOfRange("shape product", "exceeds 2^48 weights");
    }
    n *= d;
  }
  return n;
}

// column_energy: required for kActivation, and when given, one finite non-negative
// value per input column.
Status CheckColumnEnergy(const EncodeOptions& o, const LayerInputs& layer, uint64_t columns) {
  const std::vector<float>& e = layer.column_energy;
  if (e.empty()) {
    if (o.cost_kind == FalsePositiveCostKind::kActivation) {
      return Status::InvalidArgument(
          "the activation cost (cost_kind kActivation) needs column_energy",
          "E[x^2] of each of the layer's " + Num(columns) + " input columns (n / shape[0])");
    }
    return Status::OK();
  }
  if (e.size() != columns) {
    return Status::InvalidArgument(
        "column_energy has " + Num(e.size()) + " entries",
        "the layer has " + Num(columns) + " input columns (n / shape[0])");
  }
  for (size_t c = 0; c < e.size(); ++c) {
    if (!std::isfinite(e[c])) {
      return Status::InvalidArgument("column_energy[" + Num(c) + "] is " +
                                     (std::isnan(e[c]) ? "NaN" : "infinite"));
    }
    if (e[c] < 0) {
      return Status::InvalidArgument("column_energy[" + Num(c) + "] is negative (" +
                                     std::to_string(e[c]) + ")");
    }
  }
  return Status::OK();
}

// The terms one false positive adds to the squared-error and activation costs: the one
// place both are computed, so that seed search and ActivationWeightedError agree to the
// bit. energy may be null (then only the squared error is summed).
inline void AddFalsePositive(const FalsePositive& fp, const float* energy, uint64_t columns,
                             double* squared, double* activation) {
  const double v2 = static_cast<double>(fp.value) * fp.value;
  *squared += v2;
  if (energy != nullptr) *activation += v2 * static_cast<double>(energy[fp.index % columns]);
}

// What EncodeValidCodes hands to every seed tried.
struct SeedSearchInput {
  const uint16_t* codes;  // one per weight, 0 = pruned
  uint64_t n;
  const std::vector<uint64_t>* keys;  // the kept weights' indices, ascending
  const std::vector<uint16_t>* values;
  const std::vector<float>* centroids;
  const EncodeOptions* options;
  int t;
  const float* energy;  // null without column_energy
  uint64_t columns;
  std::mutex* cost_mutex;  // one call of options->cost at a time
};

// One table and what its false positives cost.
struct SeedOutcome {
  uint64_t index = 0;  // seed - base_seed
  double cost = 0;
  uint64_t false_positives = 0;
  double squared_error = 0;
  double activation_error = 0;
  std::optional<RetrievalTable> table;
};

// The order of seed search: the least cost first (a NaN cost after every other), then
// the earliest seed.
bool Precedes(const SeedOutcome& a, const SeedOutcome& b) {
  const bool a_nan = std::isnan(a.cost), b_nan = std::isnan(b.cost);
  if (a_nan != b_nan) return b_nan;
  if (!a_nan && a.cost != b.cost) return a.cost < b.cost;
  return a.index < b.index;
}

// Builds the table of seed base_seed + index and prices its false positives, decoding
// `buffer->size()` indices at a time. fps is scratch space (filled only for a caller's
// cost function).
Result<SeedOutcome> TrySeed(const SeedSearchInput& in, uint64_t index, int threads,
                            std::vector<uint16_t>* buffer, std::vector<FalsePositive>* fps) {
  const EncodeOptions& o = *in.options;
  RetrievalOptions ro;
  ro.kind = o.kind;
  ro.hash = o.hash;
  ro.value_bits = in.t;
  ro.seed = o.base_seed + index;
  ro.threads = threads;
  Result<RetrievalTable> table =
      RetrievalTable::Build(in.n, in.keys->data(), in.values->data(), in.keys->size(), ro);
  if (!table.ok()) return table.status();
  SeedOutcome r;
  r.index = index;
  const uint32_t k = static_cast<uint32_t>(in.centroids->size());
  const bool collect = static_cast<bool>(o.cost);
  fps->clear();
  for (uint64_t begin = 0; begin < in.n; begin += buffer->size()) {
    const uint64_t end = std::min<uint64_t>(in.n, begin + buffer->size());
    Status s = table->view().DecodeCodes(begin, end, buffer->data(), threads);
    if (!s.ok()) return s;
    const uint16_t* decoded = buffer->data() - begin;
    for (uint64_t i = begin; i < end; ++i) {
      const uint16_t c = decoded[i];
      if (c - 1u < k && in.codes[i] == 0) {  // c in 1..k (the rarer test first), pruned
        const FalsePositive fp{i, (*in.centroids)[c - 1]};
        ++r.false_positives;
        AddFalsePositive(fp, in.energy, in.columns, &r.squared_error, &r.activation_error);
        if (collect) fps->push_back(fp);
      }
    }
  }
  if (collect) {
    std::lock_guard<std::mutex> lock(*in.cost_mutex);
    r.cost = o.cost(*fps);
  } else {
    r.cost =
        o.cost_kind == FalsePositiveCostKind::kActivation ? r.activation_error : r.squared_error;
  }
  r.table.emplace(std::move(table).value());
  return r;
}

struct SeedSearchResult {
  SeedOutcome chosen;
  double first_seed_cost = 0;
};

// Tries seeds base_seed .. base_seed + seeds - 1, up to `threads` at once, each worker
// taking the next untried seed and keeping its own best table; the best of those is
// the answer, whatever the number of workers. On failure, the error of the earliest
// failing seed (every earlier seed has been tried by then), as a serial search gives.
Result<SeedSearchResult> SearchSeeds(const SeedSearchInput& in) {
  const uint64_t seeds = static_cast<uint64_t>(in.options->seeds);
  const int threads = parallel::ResolveThreads(in.options->threads);
  const uint64_t workers = std::min<uint64_t>(static_cast<uint64_t>(threads), seeds);
  // Threads left over (fewer seeds than threads) build and decode each table.
  const int per_seed = std::max(1, threads / static_cast<int>(workers));
  const uint64_t chunk = std::min<uint64_t>(in.n, (uint64_t{1} << 16) * per_seed);

  std::atomic<uint64_t> next{0};
  std::atomic<bool> stop{false};
  std::vector<std::optional<SeedOutcome>> best(workers);
  double first_seed_cost = 0;  // written by the worker that tries index 0
  std::mutex failure_mutex;
  uint64_t failed_index = std::numeric_limits<uint64_t>::max();
  Status failure;
  std::exception_ptr exception;
  auto fail = [&](uint64_t index, Status status, std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(failure_mutex);
    stop.store(true, std::memory_order_relaxed);
    if (index < failed_index) {
      failed_index = index;
      failure = std::move(status);
      exception = e;
    }
  };
  parallel::RunJobs(workers, [&](uint64_t w) {
    uint64_t index = 0;
    try {
      std::vector<uint16_t> buffer(chunk);
      std::vector<FalsePositive> fps;
      while (!stop.load(std::memory_order_relaxed)) {
        index = next.fetch_add(1, std::memory_order_relaxed);
        if (index >= seeds) return;
        Result<SeedOutcome> r = TrySeed(in, index, per_seed, &buffer, &fps);
        if (!r.ok()) return fail(index, r.status(), nullptr);
        if (index == 0) first_seed_cost = r->cost;
        if (!best[w] || Precedes(*r, *best[w])) best[w] = std::move(r).value();
      }
    } catch (...) {
      fail(index, Status::Internal("exception"), std::current_exception());
    }
  });
  if (exception) std::rethrow_exception(exception);
  if (!failure.ok()) return failure;
  SeedSearchResult result;
  result.first_seed_cost = first_seed_cost;
  std::optional<SeedOutcome>* chosen = nullptr;
  for (std::optional<SeedOutcome>& b : best) {
    if (b && (chosen == nullptr || Precedes(*b, **chosen))) chosen = &b;
  }
  if (chosen == nullptr) return Status::Internal("seed search tried no seed");
  result.chosen = std::move(**chosen);
  return result;
}

// The codes path shared by EncodeLayer and EncodeCodes. REQUIRES: the table options,
// shape (n weights), column_energy and centroids have been checked; codes holds n values.
Result<EncodedLayer> EncodeValidCodes(const uint16_t* codes, uint64_t n,
                                      const std::vector<uint64_t>& shape,
                                      const std::vector<float>& centroids,
                                      const EncodeOptions& options, const LayerInputs& layer) {
  const uint32_t k = static_cast<uint32_t>(centroids.size());
  std::vector<uint64_t> keys;
  std::vector<uint16_t> values;
  for (uint64_t i = 0; i < n; ++i) {
    if (codes[i] > k) {
      return Status::InvalidArgument("code at index " + Num(i) + " is " + Num(codes[i]),
                                     "above K = " + Num(k) + " (codes are 0..K, 0 = pruned)");
    }
    if (codes[i] != 0) {
      keys.push_back(i);
      values.push_back(codes[i]);
    }
  }
  EncodeStats st;
  st.weights = n;
  st.kept = keys.size();
  st.clusters = k;
  // Choose t.
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

  // Tables over seeds; keep the cheapest.
  bool use_packed = options.storage == LayerStorage::kPackedCodes;
  uint64_t table_bits = 0;  // of the chosen table
  std::optional<RetrievalTable> chosen_table;
  if (!use_packed) {
    std::mutex cost_mutex;
    SeedSearchInput in;
    in.codes = codes;
    in.n = n;
    in.keys = &keys;
    in.values = &values;
    in.centroids = &centroids;
    in.options = &options;
    in.t = t;
    in.energy = layer.column_energy.empty() ? nullptr : layer.column_energy.data();
    in.columns = n / shape[0];
    in.cost_mutex = &cost_mutex;
    Result<SeedSearchResult> search = SearchSeeds(in);
    if (!search.ok()) return search.status();
    SeedOutcome& chosen = search->chosen;
    st.seeds_tried = options.seeds;
    st.first_seed_cost = search->first_seed_cost;
    st.chosen_seed = options.base_seed + chosen.index;
    st.chosen_cost = chosen.cost;
    st.false_positives = chosen.false_positives;
    st.added_squared_error = chosen.squared_error;
    st.added_activation_error = chosen.activation_error;
    table_bits = 8 * static_cast<uint64_t>(chosen.table->bytes().size());
    chosen_table = std::move(chosen.table);
    if (options.storage == LayerStorage::kAuto && packed_payload_bits <= table_bits) {
      use_packed = true;
    }
  }
  if (use_packed) {
    st.value_bits = packed_bits;
    st.false_positives = 0;
    st.added_squared_error = 0;
    st.added_activation_error = 0;
    st.chosen_cost = 0;
    st.bits = packed_payload_bits + centroid_bits;
  } else {
    st.value_bits = t;
    st.bits = table_bits + centroid_bits;
  }
  st.false_positive_rate = LayerStats{st.kept, st.false_positives, 0}.false_positive_rate(n);
  st.bits_per_kept_weight =
      st.kept ? static_cast<double>(st.bits) / static_cast<double>(st.kept) : 0;
  st.compression_ratio = static_cast<double>(32 * n) / static_cast<double>(st.bits);
  const LayerStats layer_stats{st.kept, st.false_positives, st.added_squared_error};
  Result<EncodedSection> section =
      use_packed
          ? EncodedSection::PackedCodes(shape, codes, packed_bits, centroids, layer_stats)
          : EncodedSection::Retrieval(shape, std::move(*chosen_table), centroids, layer_stats);
  if (!section.ok()) return section.status();
  return EncodedLayer{std::move(section).value(), st};
}

}  // namespace

double ActivationWeightedError(const std::vector<FalsePositive>& fps,
                               const std::vector<float>& column_energy, uint64_t columns) {
  if (columns == 0 || column_energy.size() != columns) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double squared = 0, activation = 0;
  for (const FalsePositive& fp : fps) {
    AddFalsePositive(fp, column_energy.data(), columns, &squared, &activation);
  }
  return activation;
}

namespace {

// The checks EncodeLayer and EncodeCodes share: the table options, the shape and the
// column energies. Returns the layer's weight count.
Result<uint64_t> CheckLayer(const EncodeOptions& options, const LayerInputs& layer,
                            const std::vector<uint64_t>& shape) {
  Status s = CheckTableOptions(options);
  if (!s.ok()) return s;
  Result<uint64_t> count = WeightCount(shape);
  if (!count.ok()) return count.status();
  s = CheckColumnEnergy(options, layer, *count / shape[0]);
  if (!s.ok()) return s;
  return *count;
}

}  // namespace

Result<EncodedLayer> EncodeLayer(const float* weights, const std::vector<uint64_t>& shape,
                                 const EncodeOptions& options, const LayerInputs& layer) {
  // Simplify checks keep_fraction, clusters and the weights.
  Result<uint64_t> count = CheckLayer(options, layer, shape);
  if (!count.ok()) return count.status();
  const uint64_t n = *count;
  if (!layer.mask.empty() && layer.mask.size() != n) {
    return Status::InvalidArgument("mask has " + Num(layer.mask.size()) + " entries for " + Num(n) +
                                   " weights");
  }
  // 1 and 2: prune and share (weightless/simplify.h), then 3: encode the codebook.
  SimplifyOptions simplify;
  simplify.keep_fraction = options.keep_fraction;
  simplify.clusters = options.clusters;
  simplify.cluster_method = options.cluster_method;
  Result<Codebook> codebook =
      Simplify(weights, n, simplify, layer.mask.empty() ? nullptr : layer.mask.data());
  if (!codebook.ok()) return codebook.status();
  Result<EncodedLayer> out =
      EncodeValidCodes(codebook->codes.data(), n, shape, codebook->centroids, options, layer);
  if (out.ok()) out->stats.clustering_squared_error = codebook->squared_error;
  return out;
}

Result<EncodedLayer> EncodeCodes(const uint16_t* codes, const std::vector<uint64_t>& shape,
                                 const std::vector<float>& centroids, const EncodeOptions& options,
                                 const LayerInputs& layer) {
  if (!layer.mask.empty()) {
    return Status::InvalidArgument("EncodeCodes takes no mask",
                                   "its codes say which weights are kept");
  }
  Result<uint64_t> count = CheckLayer(options, layer, shape);
  if (!count.ok()) return count.status();
  const uint64_t n = *count;
  if (codes == nullptr) return Status::InvalidArgument("codes is null");
  if (centroids.empty() || centroids.size() > 65535) {
    return Status::InvalidArgument("K = " + Num(centroids.size()) + " centroids",
                                   "must be 1..65535");
  }
  for (size_t c = 0; c < centroids.size(); ++c) {
    if (!std::isfinite(centroids[c])) {
      return Status::InvalidArgument("centroid " + Num(c) + " (code " + Num(c + 1) + ") is " +
                                     (std::isnan(centroids[c]) ? "NaN" : "infinite"));
    }
  }
  return EncodeValidCodes(codes, n, shape, centroids, options, layer);
}

Status DecodeLayer(const EncodedLayer& layer, float* out, int threads) {
  const SectionView view = layer.section.view();
  return view.DecodeFloats(0, view.element_count(), out, threads);
}

Status DecodeLayerCodes(const EncodedLayer& layer, uint64_t begin, uint64_t count, uint16_t* out,
                        int threads) {
  const SectionView view = layer.section.view();
  if (begin > view.element_count() || count > view.element_count() - begin) {
    return Status::OutOfRange("codes [" + Num(begin) + ", " + Num(begin) + " + " + Num(count) +
                              ") of a layer of " + Num(view.element_count()) + " weights");
  }
  return view.DecodeCodes(begin, begin + count, out, threads);
}

Result<std::vector<uint16_t>> DecodeLayerCodes(const EncodedLayer& layer, int threads) {
  std::vector<uint16_t> codes(layer.section.view().element_count());
  Status s = DecodeLayerCodes(layer, 0, codes.size(), codes.data(), threads);
  if (!s.ok()) return s;
  return codes;
}

}  // namespace weightless
