// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "pipeline.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "weightless/reader.h"
#include "weightless/simplify.h"
#include "weightless/version.h"
#include "weightless/writer.h"

namespace wltrain {

using weightless::EncodedLayer;
using weightless::Status;

void ApplyArchitectureDefaults(PipelineOptions* o) {
  // Kept fractions near Dynamic Network Surgery's (3.4% of LeNet-300-100 and 2.8% of
  // LeNet-5 overall; DNS reached under 2% and under 1%); K = 8 with t = 8 (3.1% false
  // positives), which the measurements in README showed keeps accuracy best per bit;
  // the last layer gets t = 10 (0.8% false positives) since no later layer can absorb
  // its errors, and is stored as exact packed codes where those are no larger.
  std::map<std::string, double> keep;
  std::map<std::string, uint32_t> clusters;
  std::map<std::string, int> bits;
  if (o->architecture == Network::Architecture::kLeNet300100) {
    keep = {{"fc1", 0.03}, {"fc2", 0.05}, {"fc3", 0.20}};
    clusters = {{"fc1", 8}, {"fc2", 8}, {"fc3", 8}};
    bits = {{"fc1", 8}, {"fc2", 8}, {"fc3", 10}};
  } else {
    keep = {{"conv1", 0.60}, {"conv2", 0.08}, {"fc1", 0.02}, {"fc2", 0.10}};
    clusters = {{"conv1", 8}, {"conv2", 8}, {"fc1", 8}, {"fc2", 8}};
    bits = {{"conv1", 0}, {"conv2", 8}, {"fc1", 8}, {"fc2", 10}};
  }
  for (const auto& [name, v] : keep) o->keep.emplace(name, v);  // emplace keeps user values
  for (const auto& [name, v] : clusters) o->clusters.emplace(name, v);
  for (const auto& [name, v] : bits) o->value_bits.emplace(name, v);
}

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Percent(size_t correct, size_t total) {
  return total ? 100.0 * static_cast<double>(correct) / static_cast<double>(total) : 0;
}

struct Trainer {
  const PipelineOptions& options;
  Dataset data;
  Network net;
  std::mt19937_64 rng;

  Trainer(const PipelineOptions& o, Dataset d)
      : options(o), data(std::move(d)), net(o.architecture, o.seed), rng(o.seed ^ 0x5EED) {}

  size_t Correct() const { return net.CountCorrect(data.test); }
  double Accuracy() const { return Percent(Correct(), data.test.count()); }

  // Trains `epochs` epochs with the learning rate falling geometrically from
  // lr_scale_first to lr_scale_last times the base rate (a decaying schedule settles
  // SGD with momentum far better than a constant rate).
  void Epochs(int epochs, const std::string& step, float lr_scale_first = 1.0f,
              float lr_scale_last = 1.0f) {
    for (int e = 1; e <= epochs; ++e) {
      TrainOptions t = options.train;
      const float f = epochs > 1 ? static_cast<float>(e - 1) / static_cast<float>(epochs - 1) : 0;
      t.learning_rate *= lr_scale_first * std::pow(lr_scale_last / lr_scale_first, f);
      t.progress = options.progress;
      t.label = step + " " + std::to_string(e) + "/" + std::to_string(epochs);
      const auto start = Clock::now();
      const float loss = net.TrainEpoch(data.train, t, rng);
      std::printf("  %-26s loss %.4f  test accuracy %6.2f%%  (%.1f s)\n", t.label.c_str(), loss,
                  Accuracy(), Seconds(start));
      std::fflush(stdout);
    }
  }
};

uint32_t ClustersOf(const PipelineOptions& o, const std::string& layer) {
  auto it = o.clusters.find(layer);
  return it == o.clusters.end() ? 8 : it->second;
}

// Shares the kept weights of a layer: codes and centroids from exact 1-D k-means.
Status ShareLayer(WeightLayer* l, uint32_t k) {
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

weightless::EncodeOptions EncodeOptionsFor(const PipelineOptions& o, const WeightLayer& l,
                                           size_t index, int t) {
  weightless::EncodeOptions eo;
  eo.mask.resize(l.size());
  for (size_t i = 0; i < l.size(); ++i) eo.mask[i] = l.codes.empty() ? 1 : (l.codes[i] != 0);
  eo.clusters = std::max<uint32_t>(1, static_cast<uint32_t>(l.centroids.size()));
  eo.value_bits = t;
  eo.max_false_positive_rate = o.max_false_positive_rate;
  eo.kind = o.kind;
  eo.seeds = o.seeds;
  eo.base_seed = o.seed * 1000 + index;
  eo.threads = o.threads;
  return eo;
}

int TSweep(Trainer& tr) {
  const PipelineOptions& o = tr.options;
  size_t index = tr.net.layers().size();
  for (size_t i = 0; i < tr.net.layers().size(); ++i) {
    if (tr.net.layers()[i].name == o.sweep_layer) index = i;
  }
  if (index == tr.net.layers().size()) {
    std::fprintf(stderr, "wl-train: --t-sweep: no layer '%s' in %s\n", o.sweep_layer.c_str(),
                 ArchitectureName(o.architecture));
    return 2;
  }
  const WeightLayer original = tr.net.layers()[index];
  const int k = static_cast<int>(original.centroids.size());
  int t_min = o.sweep_min_t;
  while ((1 << t_min) <= k) ++t_min;
  std::ofstream csv(o.sweep_csv);
  if (!csv) {
    std::fprintf(stderr, "wl-train: cannot write %s\n", o.sweep_csv.c_str());
    return 1;
  }
  csv << "t,bytes,bits_per_kept,false_positive_rate,accuracy\n";
  std::printf("\n  t-sweep of %s (K = %d; no retraining): accuracy without encoding %.2f%%\n",
              o.sweep_layer.c_str(), k, tr.Accuracy());
  std::printf("  %3s %10s %14s %10s %10s\n", "t", "bytes", "bits/kept", "FP rate", "accuracy");
  struct Point {
    int t;
    double bytes, fp, acc;
  };
  std::vector<Point> points;
  for (int t = t_min; t <= o.sweep_max_t; ++t) {
    auto layer = weightless::EncodeLayer(original.w.data(), original.shape,
                                         EncodeOptionsFor(o, original, index, t));
    if (!layer.ok()) {
      std::fprintf(stderr, "wl-train: %s\n", layer.status().ToString().c_str());
      return 1;
    }
    WeightLayer& l = tr.net.layers()[index];
    if (!weightless::DecodeLayer(*layer, l.w.data(), o.threads).ok()) return 1;
    const double acc = tr.Accuracy();
    const double bytes = static_cast<double>(layer->stats.bits) / 8;
    std::printf("  %3d %10.0f %14.3f %10.5f %9.2f%%\n", t, bytes, layer->stats.bits_per_kept_weight,
                layer->stats.false_positive_rate, acc);
    csv << t << "," << bytes << "," << layer->stats.bits_per_kept_weight << ","
        << layer->stats.false_positive_rate << "," << acc / 100 << "\n";
    points.push_back({t, bytes, layer->stats.false_positive_rate, acc});
    l = original;
  }
  // An SVG with three panels sharing the t axis: size, false-positive rate, accuracy.
  std::ofstream svg(o.sweep_svg);
  const int w = 720, panel = 180, left = 70;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << 3 * panel + 60
      << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
         "fill='white'/>\n<text x='"
      << left << "' y='20' font-size='14'>t-sweep of " << o.sweep_layer << " ("
      << ArchitectureName(o.architecture) << ", K = " << k << ")</text>\n";
  const char* titles[] = {"size (bytes)", "false-positive rate", "test accuracy (%)"};
  for (int p = 0; p < 3; ++p) {
    double lo = 1e300, hi = -1e300;
    for (const Point& pt : points) {
      const double v = p == 0 ? pt.bytes : p == 1 ? pt.fp : pt.acc;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (hi <= lo) hi = lo + 1;
    const int top = 40 + p * panel, height = panel - 40;
    svg << "<text x='" << left << "' y='" << top - 4 << "'>" << titles[p] << ": " << lo << " .. "
        << hi << "</text>\n<rect x='" << left << "' y='" << top << "' width='" << w - left - 20
        << "' height='" << height << "' fill='none' stroke='#888'/>\n<polyline fill='none' "
        << "stroke='#1f77b4' stroke-width='2' points='";
    for (size_t i = 0; i < points.size(); ++i) {
      const double v = p == 0 ? points[i].bytes : p == 1 ? points[i].fp : points[i].acc;
      const double x =
          left +
          (points.size() > 1 ? (w - left - 20) * static_cast<double>(i) / (points.size() - 1) : 0);
      const double y = top + height - height * (v - lo) / (hi - lo);
      svg << x << "," << y << " ";
    }
    svg << "'/>\n";
    for (size_t i = 0; i < points.size(); ++i) {
      const double x =
          left +
          (points.size() > 1 ? (w - left - 20) * static_cast<double>(i) / (points.size() - 1) : 0);
      svg << "<text x='" << x - 4 << "' y='" << top + height + 14 << "'>" << points[i].t
          << "</text>\n";
    }
  }
  svg << "</svg>\n";
  std::printf("  wrote %s and %s\n", o.sweep_csv.c_str(), o.sweep_svg.c_str());
  return 0;
}

}  // namespace

int RunPipeline(const PipelineOptions& o) {
#ifdef _OPENMP
  if (o.threads > 0) omp_set_num_threads(o.threads);
#endif
  const auto start = Clock::now();
  auto data = LoadIdxDataset(o.data_dir, o.limit_train, o.limit_test);
  if (!data.ok()) {
    std::fprintf(stderr, "wl-train: %s\n", data.status().ToString().c_str());
    return 2;
  }
  std::printf("wl-train (weightless %s): %s on %s: %zu training and %zu test images\n",
              weightless::VersionString(), ArchitectureName(o.architecture), o.data_dir.c_str(),
              data->train.count(), data->test.count());
  Trainer tr(o, std::move(data).value());
  std::vector<WeightLayer>& layers = tr.net.layers();
  for (const auto& [name, v] : o.keep) {
    bool found = false;
    for (const WeightLayer& l : layers) found |= l.name == name;
    if (!found) {
      std::fprintf(stderr, "wl-train: no layer '%s' in %s\n", name.c_str(),
                   ArchitectureName(o.architecture));
      return 2;
    }
  }

  // 1. Dense training.
  std::printf("\n1. dense training (%d epochs)\n", o.dense_epochs);
  tr.Epochs(o.dense_epochs, "dense", 1.0f, 0.02f);
  const double baseline = tr.Accuracy();

  // 2. Gradual magnitude pruning: the kept fraction falls geometrically to its target
  // over the rounds, with retraining after each cut.
  std::printf("\n2. gradual pruning (%d rounds x %d epochs)\n", o.prune_rounds, o.epochs_per_round);
  for (int r = 1; r <= o.prune_rounds; ++r) {
    for (WeightLayer& l : layers) {
      const double target = o.keep.at(l.name);
      const double keep = std::pow(target, static_cast<double>(r) / o.prune_rounds);
      auto mask = weightless::PruneByMagnitude(l.w.data(), l.size(), keep);
      if (!mask.ok()) {
        std::fprintf(stderr, "wl-train: %s: %s\n", l.name.c_str(),
                     mask.status().ToString().c_str());
        return 1;
      }
      l.mask = std::move(mask).value();
      l.Constrain();
    }
    tr.Epochs(o.epochs_per_round, "prune round " + std::to_string(r), 0.2f, 0.05f);
  }
  const double pruned = tr.Accuracy();

  // 3. Weight sharing with shared-weight fine-tuning.
  std::printf("\n3. weight sharing (exact 1-D k-means) and %d epochs of fine-tuning\n",
              o.share_epochs);
  for (WeightLayer& l : layers) {
    Status s = ShareLayer(&l, ClustersOf(o, l.name));
    if (!s.ok()) {
      std::fprintf(stderr, "wl-train: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("  after clustering: test accuracy %.2f%%\n", tr.Accuracy());
  tr.Epochs(o.share_epochs, "shared fine-tune", 0.1f, 0.05f);
  const double shared = tr.Accuracy();

  if (!o.sweep_layer.empty()) return TSweep(tr);

  // 4. Encode layers first to last; freeze each with its false positives and retrain
  // the later layers (and all biases).
  std::printf("\n4. encoding (%s, %d seeds each), retraining later layers %d epochs after each\n",
              weightless::RetrievalKindName(o.kind), o.seeds, o.retrain_epochs);
  std::vector<EncodedLayer> encoded;
  std::vector<weightless::RetrainInfo> retrain;
  for (size_t i = 0; i < layers.size(); ++i) {
    WeightLayer& l = layers[i];
    weightless::RetrainInfo info;
    info.encode_order = static_cast<int32_t>(i);
    info.epochs_after = o.retrain_epochs;
    info.accuracy_before_encoding = static_cast<float>(tr.Accuracy() / 100);
    const int t = o.value_bits.count(l.name) ? o.value_bits.at(l.name) : 0;
    weightless::EncodeOptions eo = EncodeOptionsFor(o, l, i, t);
    if (i + 1 == layers.size()) {
      eo.storage = o.last_layer_packed ? weightless::LayerStorage::kPackedCodes
                                       : weightless::LayerStorage::kAuto;
    }
    auto layer = weightless::EncodeLayer(l.w.data(), l.shape, eo);
    if (!layer.ok()) {
      std::fprintf(stderr, "wl-train: encoding %s: %s\n", l.name.c_str(),
                   layer.status().ToString().c_str());
      return 1;
    }
    if (!weightless::DecodeLayer(*layer, l.w.data(), o.threads).ok()) return 1;
    l.frozen = true;
    l.codes.clear();
    l.mask.clear();
    info.accuracy_after_encoding = static_cast<float>(tr.Accuracy() / 100);
    std::printf("  %-6s %s, t = %d: %llu false positives (%.3f%%): accuracy %.2f%% -> %.2f%%\n",
                l.name.c_str(), weightless::StorageName(layer->storage), layer->stats.value_bits,
                static_cast<unsigned long long>(layer->stats.false_positives),
                100 * layer->stats.false_positive_rate, 100 * info.accuracy_before_encoding,
                100 * info.accuracy_after_encoding);
    tr.Epochs(o.retrain_epochs, "retrain after " + l.name, 0.2f, 0.02f);
    info.accuracy_after_retraining = static_cast<float>(tr.Accuracy() / 100);
    encoded.push_back(std::move(layer).value());
    retrain.push_back(info);
  }
  // Biases are stored as float16: round them now so that the model evaluated here is
  // exactly the model in the file.
  for (WeightLayer& l : layers) {
    for (Eigen::Index i = 0; i < l.b.size(); ++i) {
      l.b(i) = weightless::HalfToFloat(weightless::FloatToHalf(l.b(i)));
    }
  }
  const size_t final_correct = tr.Correct();
  const double final_accuracy = Percent(final_correct, tr.data.test.count());

  // 5. Write the file.
  auto writer = weightless::Writer::Create(o.output);
  Status s = writer.status();
  for (size_t i = 0; s.ok() && i < layers.size(); ++i) {
    s = (*writer)->AddEncodedLayer(layers[i].name, encoded[i], retrain[i]);
    if (s.ok()) {
      s = (*writer)->AddDense(layers[i].name + ".bias", {static_cast<uint64_t>(layers[i].b.size())},
                              layers[i].b.data(), weightless::DType::kFloat16);
    }
  }
  auto meta = [&](const std::string& key, weightless::MetadataValue v) {
    if (s.ok()) s = (*writer)->SetMetadata(key, std::move(v));
  };
  meta("architecture", std::string(ArchitectureName(o.architecture)));
  meta("dataset", o.data_dir);
  meta("train_examples", static_cast<int64_t>(tr.data.train.count()));
  meta("test_examples", static_cast<int64_t>(tr.data.test.count()));
  meta("seed", static_cast<int64_t>(o.seed));
  meta("baseline_accuracy", baseline / 100);
  meta("pruned_accuracy", pruned / 100);
  meta("shared_accuracy", shared / 100);
  meta("final_accuracy", final_accuracy / 100);
  meta("final_correct", static_cast<int64_t>(final_correct));
  std::ostringstream params;
  params << "dense_epochs=" << o.dense_epochs << " prune_rounds=" << o.prune_rounds
         << " epochs_per_round=" << o.epochs_per_round << " share_epochs=" << o.share_epochs
         << " retrain_epochs=" << o.retrain_epochs << " lr=" << o.train.learning_rate
         << " momentum=" << o.train.momentum << " batch=" << o.train.batch
         << " weight_decay=" << o.train.weight_decay
         << " encoding=" << weightless::RetrievalKindName(o.kind) << " seeds=" << o.seeds
         << " max_false_positive_rate=" << o.max_false_positive_rate;
  for (const WeightLayer& l : layers) {
    params << " " << l.name << ":keep=" << o.keep.at(l.name) << ",K=" << ClustersOf(o, l.name)
           << ",t=" << (o.value_bits.count(l.name) ? o.value_bits.at(l.name) : 0);
  }
  meta("pipeline", params.str());
  if (s.ok()) s = (*writer)->Finish();
  if (!s.ok()) {
    std::fprintf(stderr, "wl-train: writing %s: %s\n", o.output.c_str(), s.ToString().c_str());
    return 1;
  }

  // 6. Verify: reload through the public reader and evaluate the model in the file.
  auto reader = weightless::Reader::Open(o.output);
  if (!reader.ok()) {
    std::fprintf(stderr, "wl-train: reopening %s: %s\n", o.output.c_str(),
                 reader.status().ToString().c_str());
    return 1;
  }
  int failures = 0;
  for (const Status& problem : (*reader)->Verify()) {
    std::fprintf(stderr, "wl-train: verify: %s\n", problem.ToString().c_str());
    ++failures;
  }
  Network reloaded(o.architecture,
                   o.seed + 1);  // different init: everything must come from the file
  for (WeightLayer& l : reloaded.layers()) {
    auto w = (*reader)->FindTensor(l.name);
    auto b = (*reader)->FindTensor(l.name + ".bias");
    Status ds = w.ok() ? (*reader)->Decode(*w, l.w.data(), l.size(), o.threads) : w.status();
    if (ds.ok()) ds = b.ok() ? (*reader)->Decode(*b, l.b.data(), l.b.size()) : b.status();
    if (!ds.ok()) {
      std::fprintf(stderr, "wl-train: decoding %s: %s\n", l.name.c_str(), ds.ToString().c_str());
      return 1;
    }
  }
  const size_t reloaded_correct = reloaded.CountCorrect(tr.data.test);

  // The report, in the paper's style.
  std::printf("\n%-8s %9s %8s %4s %3s %9s %9s %9s\n", "layer", "weights", "kept", "K", "t",
              "FP rate", "bytes", "ratio");
  uint64_t total_params = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const weightless::TensorInfo& info = (*reader)->tensor(*(*reader)->FindTensor(layers[i].name));
    const weightless::EncodeStats& st = encoded[i].stats;
    const double bytes = static_cast<double>(info.stored_bytes + 4 * info.centroids.size());
    std::printf("%-8s %9llu %7.2f%% %4u %3d %8.3f%% %9.0f %8.1fx\n", layers[i].name.c_str(),
                static_cast<unsigned long long>(st.weights),
                100.0 * static_cast<double>(st.kept) / static_cast<double>(st.weights), st.clusters,
                st.value_bits, 100 * st.false_positive_rate, bytes,
                4.0 * static_cast<double>(st.weights) / bytes);
    total_params += st.weights + static_cast<uint64_t>(layers[i].b.size());
  }
  uint64_t payload = 0;
  for (size_t i = 0; i < (*reader)->tensor_count(); ++i)
    payload += (*reader)->tensor(i).stored_bytes;
  const uint64_t file_bytes = (*reader)->file_size();
  std::printf(
      "\nfile %s: %llu bytes (payload %llu, index and framing %llu); float32 weights and "
      "biases: %llu bytes\n",
      o.output.c_str(), static_cast<unsigned long long>(file_bytes),
      static_cast<unsigned long long>(payload),
      static_cast<unsigned long long>(file_bytes - payload),
      static_cast<unsigned long long>(4 * total_params));
  std::printf("compression: %.1fx (whole file vs float32 weights and biases), %.1fx (payload)\n",
              4.0 * static_cast<double>(total_params) / static_cast<double>(file_bytes),
              4.0 * static_cast<double>(total_params) / static_cast<double>(payload));
  std::printf(
      "accuracy: dense baseline %.2f%%, pruned %.2f%%, shared %.2f%%, final %.2f%% "
      "(%+.2f points vs baseline)\n",
      baseline, pruned, shared, final_accuracy, final_accuracy - baseline);
  std::printf("reloaded from the file: %.2f%% (%zu of %zu correct): %s\n",
              Percent(reloaded_correct, tr.data.test.count()), reloaded_correct,
              tr.data.test.count(),
              reloaded_correct == final_correct ? "identical to the trainer's" : "MISMATCH");
  std::printf("total time %.1f s\n", Seconds(start));
  if (reloaded_correct != final_correct) ++failures;
  return failures == 0 ? 0 : 1;
}

}  // namespace wltrain
