// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "pipeline.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "baselines/deep_compression.h"
#include "layer_encoding.h"
#include "session.h"
#include "weightless/reader.h"
#include "weightless/simplify.h"
#include "weightless/version.h"
#include "weightless/writer.h"

namespace wltrain {

using weightless::DType;
using weightless::Status;

void ApplyArchitectureDefaults(PipelineOptions* o) {
  // Kept fractions near Dynamic Network Surgery's (3.4% of LeNet-300-100 and 2.8% of
  // LeNet-5 overall; DNS reached under 2% and under 1%); K = 8 and t = 8 (3.1% false
  // positives), which the measurements in README found best on validation accuracy per
  // byte among the settings tried (K = 4 with t = 6 is smaller but costs 1.5-2 points;
  // --max-drop's search found nothing better within its budget). The last layer gets
  // t = 10 since no later layer absorbs its errors, and is stored as exact packed codes
  // where those are no larger than its table.
  std::map<std::string, double> keep;
  std::map<std::string, uint32_t> clusters;
  std::map<std::string, int> t;
  if (o->architecture == Network::Architecture::kLeNet300100) {
    keep = {{"fc1", 0.03}, {"fc2", 0.05}, {"fc3", 0.20}};
    clusters = {{"fc1", 8}, {"fc2", 8}, {"fc3", 8}};
    t = {{"fc1", 8}, {"fc2", 8}, {"fc3", 10}};
  } else {
    keep = {{"conv1", 0.60}, {"conv2", 0.08}, {"fc1", 0.02}, {"fc2", 0.10}};
    clusters = {{"conv1", 8}, {"conv2", 8}, {"fc1", 8}, {"fc2", 8}};
    t = {{"conv1", 0}, {"conv2", 8}, {"fc1", 8}, {"fc2", 10}};
  }
  for (const auto& [name, v] : keep) o->keep.emplace(name, v);  // emplace keeps user values
  for (const auto& [name, v] : clusters) o->clusters.emplace(name, v);
  for (const auto& [name, v] : t) o->t.emplace(name, v);
}

namespace {

// The tables' hashing: the one asked for, else the kind's default (shards are far below
// the 2^32 indices where the default changes).
const char* HashName(const PipelineOptions& o) {
  return weightless::RetrievalHashName(
      o.hash.value_or(weightless::DefaultRetrievalHash(o.kind, uint64_t{1} << 20)));
}

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

uint32_t ClustersOf(const PipelineOptions& o, const std::string& layer) {
  if (o.max_drop >= 0) return 16;  // the automatic choice re-clusters to 4, 8 or 16
  auto it = o.clusters.find(layer);
  return it == o.clusters.end() ? 8 : it->second;
}

// The kept fraction of round r of R toward `target`.
double KeepAtRound(PruneSchedule schedule, double target, int r, int rounds) {
  const double f = static_cast<double>(r) / rounds;
  if (schedule == PruneSchedule::kCubic) {
    return 1.0 - (1.0 - target) * (1.0 - std::pow(1.0 - f, 3.0));
  }
  return std::pow(target, f);
}

// Rounds biases to what the file stores in `dtype`, with the writer's arithmetic, so
// that the model evaluated here is exactly the model in the file. Returns each layer's
// int8 scale, computed once, which the writer must be given.
std::vector<float> RoundBiases(Network* net, DType dtype) {
  std::vector<float> scales;
  for (WeightLayer& l : net->layers()) {
    const uint64_t n = static_cast<uint64_t>(l.b.size());
    const float scale = weightless::DefaultInt8Scale(l.b.data(), n);
    scales.push_back(scale);
    weightless::RoundToStored(l.b.data(), n, dtype, scale);
  }
  return scales;
}

uint64_t BiasBytes(const Network& net, DType dtype) {
  uint64_t n = 0;
  for (const WeightLayer& l : net.layers()) n += static_cast<uint64_t>(l.b.size());
  return n * weightless::DTypeSize(dtype);
}

// Writes every layer and bias dense in float32 (the --save-dense file, read by --init).
// What fixes the validation split: a dense model read with --init must have been trained
// on the same training examples, else validation examples could have been trained on.
std::string SplitIdentity(const PipelineOptions& o, size_t validation_count) {
  return "data=" + std::filesystem::path(o.data_dir).filename().string() +
         " limit_train=" + std::to_string(o.limit_train) +
         " validation=" + std::to_string(validation_count) + " seed=" + std::to_string(o.seed);
}

Status SaveDense(const Network& net, const std::string& path, double validation,
                 const std::string& split) {
  auto writer = weightless::Writer::Create(path);
  if (!writer.ok()) return writer.status();
  Status s;
  for (const WeightLayer& l : net.layers()) {
    s = writer->AddDense(l.name, l.shape, l.w.data());
    if (s.ok()) {
      s = writer->AddDense(l.name + ".bias", {static_cast<uint64_t>(l.b.size())}, l.b.data());
    }
    if (!s.ok()) return s;
  }
  s = writer->SetMetadata("architecture", std::string(ArchitectureName(net.architecture())));
  if (s.ok()) s = writer->SetMetadata("validation_accuracy", validation / 100);
  if (s.ok()) s = writer->SetMetadata("split", split);
  if (s.ok()) s = writer->Finish();
  return s;
}

// Reads the weights and biases of every layer of `net` from `path` by name, checking the
// architecture, every shape and, unless `split` is empty, that the file's metadata
// 'split' equals it.
Status LoadWeights(Network* net, const std::string& path, const std::string& split = "") {
  auto reader = weightless::Reader::Open(path);
  if (!reader.ok()) return reader.status();
  if (!split.empty()) {
    const weightless::MetadataValue* stored = reader->FindMetadata("split");
    if (!stored || !std::holds_alternative<std::string>(*stored) ||
        std::get<std::string>(*stored) != split) {
      return Status::InvalidArgument(
          path, "was trained on another training split (metadata 'split' is '" +
                    (stored && std::holds_alternative<std::string>(*stored)
                         ? std::get<std::string>(*stored)
                         : std::string("missing")) +
                    "', this run's is '" + split +
                    "'): its training examples may be this run's validation examples");
    }
  }
  const weightless::MetadataValue* arch = reader->FindMetadata("architecture");
  const std::string want = ArchitectureName(net->architecture());
  if (!arch || !std::holds_alternative<std::string>(*arch) ||
      std::get<std::string>(*arch) != want) {
    return Status::InvalidArgument(path, "does not hold a " + want + " (metadata 'architecture')");
  }
  for (WeightLayer& l : net->layers()) {
    auto w = reader->FindTensor(l.name);
    auto b = reader->FindTensor(l.name + ".bias");
    if (!w.ok()) return w.status().WithContext(path);
    if (!b.ok()) return b.status().WithContext(path);
    if (reader->tensor(*w).shape != l.shape ||
        reader->tensor(*b).element_count() != static_cast<uint64_t>(l.b.size())) {
      return Status::InvalidArgument(path, "tensor " + l.name + " has the wrong shape");
    }
    Status s = reader->Decode(*w, l.w.data(), l.size());
    if (s.ok()) s = reader->Decode(*b, l.b.data(), static_cast<uint64_t>(l.b.size()));
    if (!s.ok()) return s.WithContext(path);
    l.mask.clear();
    l.codes.clear();
    l.centroids.clear();
    l.frozen = false;
  }
  return Status::OK();
}

// The shared model in the Deep Compression layout (relative sparse indices + codes,
// entropy-coded; weightless/baselines), plus its biases stored as ours are.
struct DeepCompressionSize {
  uint64_t bytes = 0;
  std::vector<uint64_t> layer_bytes;
};

weightless::Result<DeepCompressionSize> DeepCompressionOf(const Network& net, DType bias_dtype) {
  DeepCompressionSize out;
  for (const WeightLayer& l : net.layers()) {
    auto dc = weightless::baselines::EncodeDeepCompression(l.codes.data(), l.size(), l.centroids);
    if (!dc.ok()) return dc.status().WithContext("Deep Compression layout of " + l.name);
    out.layer_bytes.push_back(dc->bytes());
    out.bytes += dc->bytes();
  }
  out.bytes += BiasBytes(net, bias_dtype);
  return out;
}

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "wl-train: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

// Options that name layers, and t against K, checked before any work is done. Returns
// false (after saying why) when one is wrong.
bool CheckLayerOptions(const PipelineOptions& o) {
  const Network probe(o.architecture, 0);
  auto known = [&](const std::string& name) {
    for (const WeightLayer& l : probe.layers()) {
      if (l.name == name) return true;
    }
    return false;
  };
  std::vector<std::pair<std::string, std::string>> named;
  for (const auto& [name, v] : o.keep) named.emplace_back("--keep", name);
  for (const auto& [name, v] : o.clusters) named.emplace_back("--clusters", name);
  for (const auto& [name, v] : o.t) named.emplace_back("--t", name);
  if (!o.sweep_layer.empty()) named.emplace_back("--t-sweep", o.sweep_layer);
  for (const auto& [option, name] : named) {
    if (!known(name)) {
      std::fprintf(stderr, "wl-train: %s: no layer '%s' in %s\n", option.c_str(), name.c_str(),
                   ArchitectureName(o.architecture));
      return false;
    }
  }
  for (const auto& [name, t] : o.t) {
    const uint32_t k = ClustersOf(o, name);
    if (o.max_drop < 0 && t > 0 && (uint64_t{1} << t) <= k) {
      std::fprintf(stderr, "wl-train: --t: %s: t = %d holds codes up to %llu, K = %u\n",
                   name.c_str(), t, static_cast<unsigned long long>((uint64_t{1} << t) - 1), k);
      return false;
    }
  }
  return true;
}

// The data with its validation split carved from the training file; prints the sizes,
// or what is wrong (then returns the error).
weightless::Result<Dataset> LoadData(const PipelineOptions& o) {
  auto data = LoadIdxDataset(o.data_dir, o.limit_train, o.limit_test);
  if (!data.ok()) {
    std::fprintf(stderr, "wl-train: %s\n", data.status().ToString().c_str());
    return data.status();
  }
  const size_t validation_count =
      o.validation ? o.validation : std::min<size_t>(5000, data->train.count() / 6);
  auto validation = CarveValidation(&data->train, validation_count, o.seed ^ 0xC0FFEE);
  if (!validation.ok()) {
    std::fprintf(stderr, "wl-train: --validation: %s\n", validation.status().ToString().c_str());
    return validation.status();
  }
  data->validation = std::move(validation).value();
  std::printf(
      "wl-train (weightless %s): %s on %s: %zu training, %zu validation (carved from the "
      "training file) and %zu test images\n",
      weightless::VersionString(), ArchitectureName(o.architecture), o.data_dir.c_str(),
      data->train.count(), data->validation.count(), data->test.count());
  return std::move(data).value();
}

// What the phases measure, for the file and the report. Accuracies in percent.
struct Measured {
  double dense_validation = 0, pruned_validation = 0, shared_validation = 0, final_validation = 0;
  std::optional<Network> dense;   // the dense model; its test accuracy is read at the end
  std::optional<Network> shared;  // the shared model: what the Deep Compression layout stores
  DeepCompressionSize deep_compression;
  std::vector<EncodedStep> steps;  // one per layer, in order
  std::vector<float> bias_scales;  // int8 scale of each layer's bias
};

// The test set, read once at the end.
struct TestAccuracy {
  size_t dense_correct = 0, shared_correct = 0, final_correct = 0;
  double dense = 0, shared = 0, final = 0;  // percent
};

// Each phase returns kContinue, or the exit code to stop with after saying why.
constexpr int kContinue = -1;

// 1. The dense model: trained here or read from --init (then also --save-dense).
int DensePhase(Session& session, Measured* m) {
  const PipelineOptions& o = session.options;
  const std::string split = SplitIdentity(o, session.data.validation.count());
  if (!o.init_path.empty()) {
    Status s = LoadWeights(&session.net, o.init_path, split);
    if (!s.ok()) {
      std::fprintf(stderr, "wl-train: --init: %s\n", s.ToString().c_str());
      return 2;
    }
    std::printf("\n1. dense model read from %s\n", o.init_path.c_str());
  } else {
    std::printf("\n1. dense training (%d epochs)\n", o.dense_epochs);
    session.Epochs(o.dense_epochs, "dense", 1.0f, 0.02f);
  }
  m->dense_validation = session.Validation();
  std::printf("  dense baseline: validation %.2f%%\n", m->dense_validation);
  m->dense = session.net;
  if (!o.save_dense_path.empty()) {
    Status s = SaveDense(session.net, o.save_dense_path, m->dense_validation, split);
    if (!s.ok()) return Fail("writing " + o.save_dense_path, s);
    std::printf("  wrote the dense model to %s\n", o.save_dense_path.c_str());
  }
  return kContinue;
}

// 2. Gradual magnitude pruning: the kept fraction falls to its target over the rounds,
// with retraining after each cut.
int PrunePhase(Session& session, Measured* m) {
  const PipelineOptions& o = session.options;
  std::printf("\n2. gradual pruning (%s schedule, %d rounds x %d epochs)\n",
              o.prune_schedule == PruneSchedule::kCubic ? "cubic" : "geometric", o.prune_rounds,
              o.epochs_per_round);
  for (int r = 1; r <= o.prune_rounds; ++r) {
    for (WeightLayer& l : session.net.layers()) {
      const double keep = KeepAtRound(o.prune_schedule, o.keep.at(l.name), r, o.prune_rounds);
      auto mask = weightless::PruneByMagnitude(l.w.data(), l.size(), keep);
      if (!mask.ok()) return Fail(l.name, mask.status());
      l.mask = std::move(mask).value();
      l.Constrain();
    }
    session.Epochs(o.epochs_per_round, "prune round " + std::to_string(r), 0.2f, 0.05f);
  }
  m->pruned_validation = session.Validation();
  std::printf("  pruned: validation %.2f%% (%+.2f points vs dense)\n", m->pruned_validation,
              m->pruned_validation - m->dense_validation);
  return kContinue;
}

// 3. Weight sharing with shared-weight fine-tuning; the shared model is kept (and sized
// in the Deep Compression layout).
int SharePhase(Session& session, Measured* m) {
  const PipelineOptions& o = session.options;
  std::printf("\n3. weight sharing (exact 1-D k-means) and %d epochs of fine-tuning\n",
              o.share_epochs);
  for (WeightLayer& l : session.net.layers()) {
    Status s = ShareKeptWeights(&l, ClustersOf(o, l.name));
    if (!s.ok()) return Fail("sharing", s);
  }
  std::printf("  after clustering: validation %.2f%%\n", session.Validation());
  session.Epochs(o.share_epochs, "shared fine-tune", 0.1f, 0.05f);
  m->shared = session.net;  // exact: what the Deep Compression layout stores
  RoundBiases(&*m->shared, o.bias_dtype);
  m->shared_validation =
      Percent(m->shared->CountCorrect(session.data.validation), session.data.validation.count());
  auto deep_compression = DeepCompressionOf(*m->shared, o.bias_dtype);
  if (!deep_compression.ok()) return Fail("sizing", deep_compression.status());
  m->deep_compression = std::move(deep_compression).value();
  return kContinue;
}

// 4. Encode layers first to last. Each keeps its codes (false positives included) from
// then on; its centroids, the later layers and all biases retrain.
int EncodePhase(Session& session, Measured* m) {
  const PipelineOptions& o = session.options;
  std::vector<WeightLayer>& layers = session.net.layers();
  // The later layers absorb each encoded layer's false positives best with all their
  // kept weights free to train: they are shared again (from their current values) just
  // before they are encoded. --later-layers-shared keeps them shared, so that only their
  // centroids retrain.
  if (!o.later_layers_shared) {
    for (WeightLayer& l : layers) UnshareKeepingMask(&l);
  }
  std::printf("\n4. encoding (%s %s, %d seeds each, %s cost), retraining %d epochs after each%s\n",
              weightless::RetrievalKindName(o.kind), HashName(o), o.seeds,
              o.cost == weightless::FalsePositiveCostKind::kActivation && o.calibration > 0
                  ? "activation-weighted"
                  : "squared-error",
              o.retrain_epochs,
              o.freeze_encoded ? " (encoded layers frozen)"
                               : " (centroids of encoded layers keep training)");
  const double start_validation = session.Validation();
  const double floor = m->dense_validation - o.max_drop;
  for (size_t i = 0; i < layers.size(); ++i) {
    const bool last = i + 1 == layers.size();
    weightless::Result<EncodedStep> step = Status::OK();
    if (o.max_drop >= 0) {
      // The budget is shared evenly: after layer i, at most (i + 1) / L of the points
      // between the accuracy before encoding and the final floor may be spent.
      const double share = static_cast<double>(i + 1) / static_cast<double>(layers.size());
      const double layer_floor =
          start_validation > floor ? start_validation - (start_validation - floor) * share : floor;
      step = EncodeWithinBudget(session, i, last, layer_floor);
    } else {
      const std::string& name = layers[i].name;
      LayerChoice choice;
      choice.clusters = ClustersOf(o, name);
      choice.t = o.t.count(name) ? o.t.at(name) : 0;
      step = EncodeAndRetrain(session, i, choice, last);
    }
    if (!step.ok()) return Fail(layers[i].name, step.status());
    m->steps.push_back(std::move(step).value());
  }
  // The file stores the centroids as they trained; the tables are not rebuilt. The
  // added squared error is measured again with those centroids.
  for (size_t i = 0; i < layers.size(); ++i) {
    weightless::EncodedLayer& e = m->steps[i].layer;
    double added = 0;
    for (size_t j = 0; j < layers[i].size(); ++j) {
      if (!m->steps[i].kept[j] && layers[i].codes[j]) {
        const double v = layers[i].centroids[layers[i].codes[j] - 1];
        added += v * v;
      }
    }
    e.stats.added_squared_error = added;
    weightless::LayerStats stats = e.section.info().stats;
    stats.added_squared_error = added;
    auto trained = e.section.WithCentroids(layers[i].centroids, stats);
    if (!trained.ok()) return Fail(layers[i].name, trained.status());
    e.section = std::move(trained).value();
  }
  m->bias_scales = RoundBiases(&session.net, o.bias_dtype);
  m->final_validation = session.Validation();
  return kContinue;
}

// 5. The test set, once: the dense baseline, the shared model and the final model.
TestAccuracy TestPhase(const Session& session, const Measured& m) {
  const Split& test = session.data.test;
  TestAccuracy a;
  a.dense_correct = m.dense->CountCorrect(test);
  a.shared_correct = m.shared->CountCorrect(test);
  a.final_correct = session.net.CountCorrect(test);
  a.dense = Percent(a.dense_correct, test.count());
  a.shared = Percent(a.shared_correct, test.count());
  a.final = Percent(a.final_correct, test.count());
  return a;
}

// 6. The file: every layer's table (or packed codes) and bias, and the metadata.
int WriteModel(const Session& session, const Measured& m, const TestAccuracy& test) {
  const PipelineOptions& o = session.options;
  const std::vector<WeightLayer>& layers = session.net.layers();
  auto writer = weightless::Writer::Create(o.output);
  Status s = writer.status();
  for (size_t i = 0; s.ok() && i < layers.size(); ++i) {
    s = writer->AddSection(layers[i].name, m.steps[i].layer.section, m.steps[i].retrain);
    if (s.ok()) {
      s = writer->AddDense(layers[i].name + ".bias", {static_cast<uint64_t>(layers[i].b.size())},
                           layers[i].b.data(), o.bias_dtype, weightless::Codec::kNone,
                           m.bias_scales[i]);
    }
  }
  auto meta = [&](const std::string& key, weightless::MetadataValue v) {
    if (s.ok()) s = writer->SetMetadata(key, std::move(v));
  };
  meta("architecture", std::string(ArchitectureName(o.architecture)));
  meta("dataset", std::filesystem::path(o.data_dir).filename().string());
  meta("dense_test_accuracy", test.dense / 100);
  meta("final_test_accuracy", test.final / 100);
  meta("dense_validation_accuracy", m.dense_validation / 100);
  meta("final_validation_accuracy", m.final_validation / 100);
  if (o.full_metadata) {
    meta("dataset_path", o.data_dir);
    meta("train_examples", static_cast<int64_t>(session.data.train.count()));
    meta("validation_examples", static_cast<int64_t>(session.data.validation.count()));
    meta("test_examples", static_cast<int64_t>(session.data.test.count()));
    meta("final_test_correct", static_cast<int64_t>(test.final_correct));
    meta("seed", static_cast<int64_t>(o.seed));
    meta("pruned_validation_accuracy", m.pruned_validation / 100);
    meta("shared_validation_accuracy", m.shared_validation / 100);
    std::ostringstream params;
    params << "dense_epochs=" << o.dense_epochs << " prune_rounds=" << o.prune_rounds
           << " epochs_per_round=" << o.epochs_per_round << " share_epochs=" << o.share_epochs
           << " retrain_epochs=" << o.retrain_epochs << " lr=" << o.train.learning_rate
           << " momentum=" << o.train.momentum << " batch=" << o.train.batch
           << " weight_decay=" << o.train.weight_decay
           << " encoding=" << weightless::RetrievalKindName(o.kind) << " hash=" << HashName(o)
           << " seeds=" << o.seeds << " max_drop=" << o.max_drop
           << " freeze_encoded=" << o.freeze_encoded
           << " later_layers_shared=" << o.later_layers_shared;
    for (const WeightLayer& l : layers) params << " " << l.name << ":keep=" << o.keep.at(l.name);
    meta("pipeline", params.str());
  }
  if (s.ok()) s = writer->Finish();
  return s.ok() ? kContinue : Fail("writing " + o.output, s);
}

// 7. Reloads the file through the public reader: every structural and checksum problem
// and every tensor that differs, bit for bit, from the trained model is printed and
// counted in *failures; *reloaded_correct: the reloaded model's correct test predictions;
// *file: the file, open, for the report.
int VerifyModel(const Session& session, size_t* reloaded_correct, int* failures,
                std::optional<weightless::Reader>* file) {
  const PipelineOptions& o = session.options;
  auto reader = weightless::Reader::Open(o.output);
  if (!reader.ok()) return Fail("reopening " + o.output, reader.status());
  for (const Status& problem : reader->Verify()) {
    std::fprintf(stderr, "wl-train: verify: %s\n", problem.ToString().c_str());
    ++*failures;
  }
  Network reloaded(o.architecture, o.seed + 1);  // different init: all from the file
  Status ls = LoadWeights(&reloaded, o.output);
  if (!ls.ok()) return Fail("decoding " + o.output, ls);
  // The model in the file must be the model evaluated here, bit for bit.
  const std::vector<WeightLayer>& layers = session.net.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    const WeightLayer& mine = layers[i];
    const WeightLayer& theirs = reloaded.layers()[i];
    if (std::memcmp(mine.w.data(), theirs.w.data(), sizeof(float) * mine.size()) != 0 ||
        std::memcmp(mine.b.data(), theirs.b.data(), sizeof(float) * mine.b.size()) != 0) {
      std::fprintf(stderr, "wl-train: verify: %s in the file differs from the trained model\n",
                   mine.name.c_str());
      ++*failures;
    }
  }
  *reloaded_correct = reloaded.CountCorrect(session.data.test);
  *file = std::move(reader).value();
  return kContinue;
}

// 8. The report, in the paper's style, on stdout and (with --report) as JSON. Returns
// false when the JSON file could not be written.
bool Report(const Session& session, const weightless::Reader& file, const Measured& m,
            const TestAccuracy& test, size_t reloaded_correct, bool identical, double seconds) {
  const PipelineOptions& o = session.options;
  const std::vector<WeightLayer>& layers = session.net.layers();
  std::printf("\n%-8s %9s %8s %4s %3s %9s %9s %9s %10s\n", "layer", "weights", "kept", "K", "t",
              "FP rate", "bytes", "ratio", "DC bytes");
  uint64_t total_params = 0;
  nlohmann::json json_layers = nlohmann::json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    const weightless::TensorInfo& info = file.tensor(*file.FindTensor(layers[i].name));
    const EncodedStep& step = m.steps[i];
    const weightless::EncodeStats& st = step.layer.stats;
    const double bytes = static_cast<double>(info.stored_bytes + 4 * info.centroids.size());
    std::printf("%-8s %9llu %7.2f%% %4u %3d %8.3f%% %9.0f %8.1fx %10llu\n", layers[i].name.c_str(),
                static_cast<unsigned long long>(st.weights),
                100.0 * static_cast<double>(st.kept) / static_cast<double>(st.weights), st.clusters,
                st.value_bits, 100 * st.false_positive_rate, bytes,
                4.0 * static_cast<double>(st.weights) / bytes,
                static_cast<unsigned long long>(m.deep_compression.layer_bytes[i]));
    total_params += st.weights + static_cast<uint64_t>(layers[i].b.size());
    json_layers.push_back(
        {{"name", layers[i].name},
         {"weights", st.weights},
         {"kept", st.kept},
         {"K", st.clusters},
         {"t", st.value_bits},
         {"storage", weightless::StorageName(step.layer.storage())},
         {"false_positives", st.false_positives},
         {"false_positive_rate", st.false_positive_rate},
         {"bytes", bytes},
         {"first_seed_cost", st.first_seed_cost},
         {"chosen_cost", st.chosen_cost},
         {"added_squared_error_at_encoding", step.added_squared_error_at_encoding},
         {"added_activation_error_at_encoding", st.added_activation_error},
         {"added_squared_error", st.added_squared_error},
         {"validation_before", 100.0 * step.retrain.accuracy_before_encoding},
         {"validation_after_encoding", 100.0 * step.retrain.accuracy_after_encoding},
         {"validation_after_retraining", step.validation_after},
         {"deep_compression_bytes", m.deep_compression.layer_bytes[i]}});
  }
  uint64_t payload = 0;
  for (size_t i = 0; i < file.tensor_count(); ++i) payload += file.tensor(i).stored_bytes;
  const uint64_t file_bytes = file.file_size();
  const double float_bytes = 4.0 * static_cast<double>(total_params);
  const double ratio = float_bytes / static_cast<double>(file_bytes);
  // The Deep Compression layout counts only its streams, codebooks and biases; a file of
  // it would need a container too. Its ratio in ours adds this file's header, index,
  // alignment and trailer.
  uint64_t centroid_bytes = 0;  // in the index, but the Deep Compression size has its own
  for (const EncodedStep& step : m.steps) centroid_bytes += 4 * step.layer.centroids().size();
  const uint64_t container_bytes = file_bytes - payload - centroid_bytes;
  const uint64_t dc_bytes = m.deep_compression.bytes;
  const double dc_ratio = float_bytes / static_cast<double>(dc_bytes);
  const double dc_contained_ratio = float_bytes / static_cast<double>(dc_bytes + container_bytes);
  std::printf(
      "\nfile %s: %llu bytes (payload %llu, index and framing %llu); float32 weights and "
      "biases: %.0f bytes\n",
      o.output.c_str(), static_cast<unsigned long long>(file_bytes),
      static_cast<unsigned long long>(payload),
      static_cast<unsigned long long>(file_bytes - payload), float_bytes);
  std::printf("validation: dense %.2f%%, pruned %.2f%%, shared %.2f%%, final %.2f%%\n",
              m.dense_validation, m.pruned_validation, m.shared_validation, m.final_validation);
  std::printf("%-34s %9s %9s %12s %8s\n", "test set (evaluated once)", "bytes", "ratio", "accuracy",
              "change");
  std::printf("%-34s %9.0f %8.1fx %11.2f%% %8s\n", "dense float32 baseline", float_bytes, 1.0,
              test.dense, "");
  std::printf("%-34s %9llu %8.1fx %11.2f%% %+8.2f\n", "Deep Compression layout (shared)",
              static_cast<unsigned long long>(dc_bytes), dc_ratio, test.shared,
              test.shared - test.dense);
  std::printf("%-34s %9llu %8.1fx %11.2f%% %+8.2f\n", "  the same in this file's container",
              static_cast<unsigned long long>(dc_bytes + container_bytes), dc_contained_ratio,
              test.shared, test.shared - test.dense);
  std::printf("%-34s %9llu %8.1fx %11.2f%% %+8.2f\n", "Weightless (this file)",
              static_cast<unsigned long long>(file_bytes), ratio, test.final,
              test.final - test.dense);
  std::printf(
      "compression: %.1fx (whole file vs float32 weights and biases), %.1fx (payload); "
      "%.2fx the Deep Compression layout's ratio (%.2fx in the same container)\n",
      ratio, float_bytes / static_cast<double>(payload), ratio / dc_ratio,
      ratio / dc_contained_ratio);
  const size_t test_count = session.data.test.count();
  std::printf("reloaded from the file: %.2f%% (%zu of %zu correct): %s\n",
              Percent(reloaded_correct, test_count), reloaded_correct, test_count,
              reloaded_correct == test.final_correct ? "identical to the trainer's" : "MISMATCH");
  std::printf("total time %.1f s\n", seconds);
  if (o.report_json.empty()) return true;

  nlohmann::json report = {
      {"architecture", ArchitectureName(o.architecture)},
      {"dataset", o.data_dir},
      {"train_examples", session.data.train.count()},
      {"validation_examples", session.data.validation.count()},
      {"test_examples", test_count},
      {"float32_bytes", float_bytes},
      {"file_bytes", file_bytes},
      {"payload_bytes", payload},
      {"ratio", ratio},
      {"deep_compression_bytes", dc_bytes},
      {"deep_compression_ratio", dc_ratio},
      {"deep_compression_contained_ratio", dc_contained_ratio},
      {"container_bytes", container_bytes},
      {"validation",
       {{"dense", m.dense_validation},
        {"pruned", m.pruned_validation},
        {"shared", m.shared_validation},
        {"final", m.final_validation}}},
      {"test", {{"dense", test.dense}, {"shared", test.shared}, {"final", test.final}}},
      {"keep", o.keep},
      {"options",
       {{"seed", o.seed},
        {"seeds", o.seeds},
        {"encoding", weightless::RetrievalKindName(o.kind)},
        {"cost", weightless::FalsePositiveCostKindName(
                     o.cost == weightless::FalsePositiveCostKind::kActivation && o.calibration > 0
                         ? weightless::FalsePositiveCostKind::kActivation
                         : weightless::FalsePositiveCostKind::kSquaredError)},
        {"max_drop", o.max_drop},
        {"freeze_encoded", o.freeze_encoded},
        {"later_layers_shared", o.later_layers_shared},
        {"bias_dtype", weightless::DTypeName(o.bias_dtype)},
        {"prune_schedule", o.prune_schedule == PruneSchedule::kCubic ? "cubic" : "geometric"},
        {"retrain_epochs", o.retrain_epochs}}},
      {"reloaded_identical", identical},
      {"seconds", seconds},
      {"layers", json_layers}};
  std::ofstream out(o.report_json);
  out << report.dump(2) << "\n";
  if (!out) {
    std::fprintf(stderr, "wl-train: cannot write %s\n", o.report_json.c_str());
    return false;
  }
  return true;
}

}  // namespace

int RunPipeline(const PipelineOptions& o) {
#ifdef _OPENMP
  if (o.threads > 0) omp_set_num_threads(o.threads);
#endif
  const auto start = Clock::now();
  if (!CheckLayerOptions(o)) return 2;
  auto data = LoadData(o);
  if (!data.ok()) return 2;
  Session session(o, std::move(data).value());
  Measured m;
  int code = DensePhase(session, &m);
  if (code == kContinue) code = PrunePhase(session, &m);
  if (code != kContinue) return code;
  if (o.stop_after == "prune") return 0;
  code = SharePhase(session, &m);
  if (code != kContinue) return code;
  if (o.stop_after == "share") return 0;
  if (!o.sweep_layer.empty()) return TSweep(session);
  code = EncodePhase(session, &m);
  if (code != kContinue) return code;
  const TestAccuracy test = TestPhase(session, m);
  code = WriteModel(session, m, test);
  int failures = 0;
  size_t reloaded_correct = 0;
  std::optional<weightless::Reader> file;
  if (code == kContinue) code = VerifyModel(session, &reloaded_correct, &failures, &file);
  if (code != kContinue) return code;
  if (reloaded_correct != test.final_correct) ++failures;
  if (!Report(session, *file, m, test, reloaded_correct, failures == 0, Seconds(start))) {
    ++failures;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace wltrain
