// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "layer_encoding.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <utility>

#include "weightless/simplify.h"

namespace wltrain {

using weightless::EncodedLayer;
using weightless::Result;
using weightless::Status;

namespace {

// Bits for codes 0..k: ceil(log2(k + 1)).
int BitsFor(uint32_t k) {
  int b = 1;
  while ((uint64_t{1} << b) <= k) ++b;
  return b;
}

}  // namespace

Status ShareKeptWeights(WeightLayer* l, uint32_t k) {
  std::vector<float> kept;
  std::vector<size_t> where;
  for (size_t i = 0; i < l->size(); ++i) {
    if (l->mask.empty() || l->mask[i]) {
      kept.push_back(l->w.data()[i]);
      where.push_back(i);
    }
  }
  auto clustering = weightless::ShareWeights(kept.data(), kept.size(), k);
  if (!clustering.ok()) return clustering.status().WithContext(l->name);
  l->codes.assign(l->size(), 0);
  for (size_t j = 0; j < where.size(); ++j) l->codes[where[j]] = clustering->codes[j];
  l->centroids = clustering->centroids;
  l->Constrain();
  return Status::OK();
}

void UnshareKeepingMask(WeightLayer* l) {
  if (!l->shared()) return;
  l->mask.resize(l->size());
  for (size_t i = 0; i < l->size(); ++i) l->mask[i] = l->codes[i] != 0;
  l->codes.clear();
  l->centroids.clear();
  l->velocity_w.setZero();
  l->Constrain();
}

namespace {

weightless::EncodeOptions TableOptions(const PipelineOptions& o, size_t index, int t, bool last) {
  weightless::EncodeOptions eo;
  eo.value_bits = t;
  eo.max_false_positive_rate = o.max_false_positive_rate;
  eo.kind = o.kind;
  eo.hash = o.hash;
  eo.seeds = o.seeds;
  eo.base_seed = o.seed * 1000 + index;
  eo.threads = o.threads;
  eo.cost_kind = o.cost;
  if (last) {
    eo.storage = o.last_layer_packed ? weightless::LayerStorage::kPackedCodes
                                     : weightless::LayerStorage::kAuto;
  }
  return eo;
}

}  // namespace

Result<EncodedStep> EncodeAndRetrain(Session& session, size_t index, const LayerChoice& choice,
                                     bool last) {
  const PipelineOptions& o = session.options;
  WeightLayer& l = session.net.layers()[index];
  EncodedStep step;
  step.retrain.encode_order = static_cast<int32_t>(index);
  step.retrain.epochs_after = o.retrain_epochs;
  if (!l.shared()) {
    Status s = ShareKeptWeights(&l, choice.clusters);
    if (!s.ok()) return s;
  } else if (choice.clusters != l.centroids.size()) {
    UnshareKeepingMask(&l);  // re-cluster the current values of the kept weights
    Status s = ShareKeptWeights(&l, choice.clusters);
    if (!s.ok()) return s;
  }
  step.retrain.accuracy_before_encoding = static_cast<float>(session.Validation() / 100);
  weightless::EncodeOptions eo = TableOptions(o, index, choice.t, last);
  // The energies are measured even for the squared-error cost when a calibration batch
  // is given, so that both costs of the chosen table are reported.
  weightless::LayerInputs inputs;
  if (o.calibration > 0) {
    inputs.column_energy = session.net.InputEnergy(session.data.train, o.calibration, index);
  } else {
    eo.cost_kind = weightless::FalsePositiveCostKind::kSquaredError;
  }
  auto encoded = weightless::EncodeCodes(l.codes.data(), l.shape, l.centroids, eo, inputs);
  if (!encoded.ok()) return encoded.status().WithContext("encoding " + l.name);
  auto codes = weightless::DecodeLayerCodes(*encoded, o.threads);
  if (!codes.ok()) return codes.status().WithContext("decoding " + l.name);
  step.kept.resize(l.size());
  for (size_t i = 0; i < l.size(); ++i) step.kept[i] = l.codes[i] != 0;
  // From here on the layer computes with what the file decodes: the table's codes,
  // false positives included, fixed for good; the centroids stay trainable.
  l.codes = std::move(codes).value();
  l.centroids = encoded->centroids();
  l.mask.clear();
  l.frozen = o.freeze_encoded;
  l.Constrain();
  step.layer = std::move(encoded).value();
  step.added_squared_error_at_encoding = step.layer.stats.added_squared_error;
  step.retrain.accuracy_after_encoding = static_cast<float>(session.Validation() / 100);
  const weightless::EncodeStats& st = step.layer.stats;
  const bool packed = step.layer.storage() == weightless::Storage::kPackedCodes;
  const char* cost_name = packed ? "(none: exact codes)"
                          : eo.cost_kind == weightless::FalsePositiveCostKind::kActivation
                              ? "(activation)"
                              : "(squared error)";
  std::printf(
      "  %-6s K = %u, %s, t = %d: %llu false positives (%.3f%%), cost %s %.4g of first seed's %.4g"
      ": validation %.2f%% -> %.2f%%\n",
      l.name.c_str(), st.clusters, weightless::StorageName(step.layer.storage()), st.value_bits,
      static_cast<unsigned long long>(st.false_positives), 100 * st.false_positive_rate, cost_name,
      st.chosen_cost, st.first_seed_cost, 100 * step.retrain.accuracy_before_encoding,
      100 * step.retrain.accuracy_after_encoding);
  session.Epochs(o.retrain_epochs, "retrain after " + l.name, 0.2f, 0.02f);
  step.validation_after = session.Validation();
  step.retrain.accuracy_after_retraining = static_cast<float>(step.validation_after / 100);
  return step;
}

double EstimatedLayerBits(uint64_t weights, uint64_t kept, const LayerChoice& choice,
                          weightless::RetrievalKind kind, bool packed_allowed, bool packed_forced) {
  const double cells_per_key = kind == weightless::RetrievalKind::kBloomier ? 1.23 : 1.02;
  const double centroids = 32.0 * choice.clusters;
  const double packed = static_cast<double>(weights) * BitsFor(choice.clusters) + centroids;
  if (packed_forced) return packed;
  const double table = cells_per_key * static_cast<double>(kept) * choice.t + centroids;
  return packed_allowed ? std::min(table, packed) : table;
}

std::vector<LayerChoice> CandidateChoices(uint64_t weights, uint64_t kept,
                                          weightless::RetrievalKind kind, bool packed_allowed,
                                          bool packed_forced) {
  struct Candidate {
    LayerChoice choice;
    double bits, false_positive_rate;
  };
  std::vector<Candidate> all;
  for (uint32_t k : {4u, 8u, 16u}) {
    const int first = BitsFor(k) + 2, last = std::min(16, BitsFor(k) + 7);
    for (int t = packed_forced ? last : first; t <= last; ++t) {
      const LayerChoice c{k, t};
      const double bits = EstimatedLayerBits(weights, kept, c, kind, packed_allowed, packed_forced);
      const bool packed =
          packed_forced ||
          (packed_allowed && bits < EstimatedLayerBits(weights, kept, c, kind, false, false));
      all.push_back({c, bits, packed ? 0.0 : k / std::ldexp(1.0, t)});
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    if (a.bits != b.bits) return a.bits < b.bits;
    return a.false_positive_rate < b.false_positive_rate;
  });
  // Once packed codes are the smaller form, larger t changes nothing: keep one entry per
  // packed K.
  std::vector<LayerChoice> out;
  std::vector<uint32_t> packed_seen;
  for (const Candidate& c : all) {
    if (c.false_positive_rate == 0) {
      if (std::find(packed_seen.begin(), packed_seen.end(), c.choice.clusters) !=
          packed_seen.end()) {
        continue;
      }
      packed_seen.push_back(c.choice.clusters);
    }
    out.push_back(c.choice);
  }
  return out;
}

Result<EncodedStep> EncodeWithinBudget(Session& session, size_t index, bool last,
                                       double floor_percent, int max_tries) {
  const PipelineOptions& o = session.options;
  const WeightLayer& l = session.net.layers()[index];
  const std::string name = l.name;  // session.net is reassigned below
  uint64_t kept = 0;
  if (l.shared()) {
    for (uint16_t c : l.codes) kept += c != 0;
  } else {
    for (size_t i = 0; i < l.size(); ++i) kept += l.mask.empty() || l.mask[i];
  }
  const bool packed_forced = last && o.last_layer_packed;
  const std::vector<LayerChoice> candidates =
      CandidateChoices(l.size(), kept, o.kind, /*packed_allowed=*/true, packed_forced);
  const Network start = session.net;
  const std::mt19937_64 start_rng = session.rng;
  std::optional<EncodedStep> best;
  Network best_net = start;
  std::mt19937_64 best_rng = start_rng;
  int tries = 0;
  for (const LayerChoice& c : candidates) {
    if (tries++ == max_tries) break;
    std::printf("  %s: trying K = %u, t = %d (floor %.2f%%)\n", name.c_str(), c.clusters, c.t,
                floor_percent);
    session.net = start;
    session.rng = start_rng;
    auto step = EncodeAndRetrain(session, index, c, last);
    if (!step.ok()) return step.status();
    const bool passes = step->validation_after >= floor_percent;
    if (!best || step->validation_after > best->validation_after || passes) {
      best = std::move(step).value();
      best_net = session.net;
      best_rng = session.rng;
    }
    if (passes) {
      std::printf("  %s: chose K = %u, t = %d: validation %.2f%% >= %.2f%%\n",
                  session.net.layers()[index].name.c_str(), c.clusters, c.t, best->validation_after,
                  floor_percent);
      return std::move(*best);
    }
  }
  if (!best) return Status::InvalidArgument(name, "no (K, t) candidate to try");
  std::printf("  %s: no candidate reached %.2f%%; keeping the most accurate tried (%.2f%%)\n",
              name.c_str(), floor_percent, best->validation_after);
  session.net = std::move(best_net);
  session.rng = best_rng;
  return std::move(*best);
}

}  // namespace wltrain
