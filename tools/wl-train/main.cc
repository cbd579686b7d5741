// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// wl-train: the reference trainer. Trains LeNet-300-100 or LeNet-5 on an MNIST-format
// dataset, compresses it with the full Weightless pipeline, writes a .wl file and
// verifies that the model in the file scores exactly what the trainer measured.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <sstream>

#include "named_option.h"
#include "pipeline.h"
#include "weightless/encoder.h"
#include "weightless/tensor.h"
#include "weightless/version.h"

namespace {

// Parses "fc1=0.02,fc2=0.04" into a map; throws CLI::ValidationError on bad input.
template <typename T>
std::map<std::string, T> ParseLayerMap(const std::string& text, const std::string& option) {
  std::map<std::string, T> out;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      throw CLI::ValidationError(option,
                                 "expected LAYER=VALUE[,LAYER=VALUE...], got '" + item + "'");
    }
    std::stringstream value(item.substr(eq + 1));
    T v;
    if (!(value >> v) || !value.eof()) {
      throw CLI::ValidationError(option, "bad value in '" + item + "'");
    }
    out[item.substr(0, eq)] = v;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  wltrain::PipelineOptions o;
  CLI::App app{
      "wl-train: train a LeNet on an MNIST-format dataset, compress it with the "
      "Weightless pipeline (prune, share, encode with retrieval tables, retrain), write "
      "a .wl file and verify it."};
  app.set_version_flag("--version",
                       std::string("wl-train (weightless ") + weightless::VersionString() + ")");
  std::string model = "lenet-300-100", encoding = "ribbon", keep, clusters, bits;
  std::string schedule = "geometric", cost = "activation", bias_dtype = "int8";
  app.add_option("--data", o.data_dir, "MNIST-format IDX directory (raw or .gz files)")
      ->capture_default_str();
  app.add_option("--model", model, "lenet-300-100 or lenet-5")
      ->check(CLI::IsMember({"lenet-300-100", "lenet-5"}))
      ->capture_default_str();
  app.add_option("-o,--output", o.output, ".wl file to write")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of initialisation, data order and tables")
      ->capture_default_str();
  app.add_option("--limit-train", o.limit_train, "use only the first N training images (0 = all)");
  app.add_option("--limit-test", o.limit_test, "use only the first N test images (0 = all)");
  app.add_option("--validation", o.validation,
                 "training images carved out (by --seed) as the validation split that every "
                 "report and automatic choice is judged on; 0 = 5000 or a sixth of the "
                 "training file, whichever is smaller")
      ->capture_default_str();
  app.add_option("--calibration", o.calibration,
                 "training images that measure each layer's input energies for the "
                 "activation-weighted cost (0 = none: squared-error cost)")
      ->capture_default_str();
  app.add_option("--init", o.init_path,
                 "start from the dense model in this .wl file (as --save-dense writes) "
                 "instead of dense training");
  app.add_option("--save-dense", o.save_dense_path, "also write the dense model to this .wl file");
  app.add_option("--stop-after", o.stop_after, "stop after this step (for experiments)")
      ->check(CLI::IsMember({"prune", "share"}));
  app.add_option("--report", o.report_json, "also write the results as JSON to this file");
  app.add_option("--threads", o.threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--dense-epochs", o.dense_epochs, "epochs of dense training")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--prune-rounds", o.prune_rounds, "gradual pruning rounds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  auto* schedule_option =
      app.add_option("--prune-schedule", schedule,
                     "kept fraction per round: geometric (the same relative cut each round) or "
                     "cubic (Zhu & Gupta: large cuts first, small ones last); default geometric "
                     "for lenet-300-100, cubic for lenet-5")
          ->check(CLI::IsMember({"geometric", "cubic"}));
  auto* epochs_per_round_option =
      app.add_option("--epochs-per-round", o.epochs_per_round,
                     "retraining epochs per pruning round; default 2 for lenet-300-100, 3 for "
                     "lenet-5")
          ->check(CLI::NonNegativeNumber);
  app.add_option("--share-epochs", o.share_epochs, "shared-weight fine-tuning epochs")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--retrain-epochs", o.retrain_epochs,
                 "epochs retraining the later layers after each layer is encoded")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--keep", keep,
                 "kept fraction per layer, e.g. fc1=0.02,fc2=0.04 "
                 "(defaults per model)");
  app.add_option("--clusters", clusters, "K per layer, e.g. fc1=8,fc2=16 (default 8)");
  app.add_option("--t", bits,
                 "t (bits per table cell) per layer, e.g. fc1=7 (0 = smallest t meeting "
                 "--max-fp-rate)");
  CLI::Option* old_bits = app.add_option("--bits", bits, "older spelling of --t")->group("");
  app.add_option("--max-drop", o.max_drop,
                 "choose K in {4, 8, 16} and t per layer automatically: the smallest file whose "
                 "validation accuracy stays within POINTS of the dense baseline's (overrides "
                 "--clusters and --t)")
      ->check(CLI::Range(0.0, 100.0));
  app.add_option("--cost", cost,
                 "seed search's price of a table's false positives: activation (centroid^2 x "
                 "the input energy of its column) or squared_error (centroid^2)")
      ->check(wl_tools::NameIn(weightless::ParseFalsePositiveCostKind, "activation|squared_error"))
      ->capture_default_str();
  app.add_flag("--freeze-encoded", o.freeze_encoded,
               "freeze encoded layers whole, as the paper did (default: their centroids keep "
               "training through the false positives; the codes stay fixed)");
  app.add_flag("--later-layers-shared", o.later_layers_shared,
               "keep the layers not yet encoded shared after weight sharing, so that only "
               "their centroids retrain (default: their kept weights train freely and each "
               "layer is clustered again just before it is encoded)");
  app.add_option("--bias-dtype", bias_dtype, "how biases are stored")
      ->check(wl_tools::NameIn(weightless::ParseDType, "float32|float16|bfloat16|int8"))
      ->capture_default_str();
  app.add_flag("--full-metadata", o.full_metadata,
               "store every pipeline parameter and intermediate accuracy in the file");
  app.add_option("--max-fp-rate", o.max_false_positive_rate,
                 "false-positive budget K/2^t for layers whose t is 0")
      ->check(CLI::Range(1e-6, 0.5))
      ->capture_default_str();
  CLI::Option* old_fp_rate =
      app.add_option("--fp-rate", o.max_false_positive_rate, "older spelling of --max-fp-rate")
          ->check(CLI::Range(1e-6, 0.5))
          ->group("");
  app.add_option("--encoding", encoding, "retrieval encoding: ribbon or bloomier")
      ->check(wl_tools::NameIn(weightless::ParseRetrievalKind, "ribbon|bloomier"))
      ->capture_default_str();
  std::string hash;
  wl_tools::AddHashOption(app, &hash);
  app.add_option("--seeds", o.seeds, "tables tried per layer (seed search)")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  auto* lr_option =
      app.add_option(
             "--lr", o.train.learning_rate,
             "SGD base learning rate (dense training decays it 50x; later steps start 5x lower); "
             "default 0.05 for lenet-300-100, 0.02 for lenet-5")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  app.add_option("--momentum", o.train.momentum, "SGD momentum")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  app.add_option("--weight-decay", o.train.weight_decay, "L2 weight decay")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--centroid-lr", o.train.centroid_learning_rate,
                 "shared-weight step per summed gradient")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--batch", o.train.batch, "minibatch size")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--t-sweep", o.sweep_layer,
                 "instead of encoding the model, encode LAYER for each t and report size, "
                 "false-positive rate and validation accuracy (writes --csv)");
  app.add_option("--t-min", o.sweep_min_t, "smallest t of the sweep")->check(CLI::Range(0, 16));
  app.add_option("--t-max", o.sweep_max_t, "largest t of the sweep")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app.add_option("--csv", o.sweep_csv, "CSV output of --t-sweep")->capture_default_str();
  std::string last_layer = "auto";
  app.add_option("--last-layer", last_layer,
                 "storage of the last layer: packed (always exact codes) or auto (packed codes "
                 "where no larger than a table)")
      ->check(CLI::IsMember({"packed", "auto"}))
      ->capture_default_str();
  bool no_progress = false;
  app.add_flag("--no-progress", no_progress, "no progress bars");
  try {
    app.parse(argc, argv);
    o.architecture = model == "lenet-5" ? wltrain::Network::Architecture::kLeNet5
                                        : wltrain::Network::Architecture::kLeNet300100;
    o.kind = *weightless::ParseRetrievalKind(encoding);  // checked by the option
    std::string hash_error;
    o.hash = wl_tools::ChosenHash(hash, o.kind, &hash_error);
    if (!hash_error.empty()) throw CLI::ValidationError(hash_error);
    wl_tools::NoteOldOption("wl-train", old_bits, "--bits", "--t");
    wl_tools::NoteOldOption("wl-train", old_fp_rate, "--fp-rate", "--max-fp-rate");
    if (!keep.empty()) o.keep = ParseLayerMap<double>(keep, "--keep");
    if (!clusters.empty()) o.clusters = ParseLayerMap<uint32_t>(clusters, "--clusters");
    if (!bits.empty()) o.t = ParseLayerMap<int>(bits, "--t");
    for (const auto& [layer, v] : o.keep) {
      if (!(v > 0 && v <= 1)) throw CLI::ValidationError("--keep", layer + ": must be in (0, 1]");
    }
    for (const auto& [layer, v] : o.clusters) {
      if (v < 1 || v > 255) throw CLI::ValidationError("--clusters", layer + ": must be 1..255");
    }
    for (const auto& [layer, v] : o.t) {
      if (v < 0 || v > 16) throw CLI::ValidationError("--t", layer + ": must be 0..16");
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // LeNet-5's defaults, measured on validation accuracy (README): pruning it to 2% of
  // fc1 needs the gentler cubic schedule and a third epoch per round.
  if (o.architecture == wltrain::Network::Architecture::kLeNet5) {
    if (lr_option->count() == 0) o.train.learning_rate = 0.02f;
    if (schedule_option->count() == 0) schedule = "cubic";
    if (epochs_per_round_option->count() == 0) o.epochs_per_round = 3;
  }
  o.progress = !no_progress;
  o.prune_schedule =
      schedule == "cubic" ? wltrain::PruneSchedule::kCubic : wltrain::PruneSchedule::kGeometric;
  o.cost = wl_tools::ParseNamed("wl-train", "--cost", cost, weightless::ParseFalsePositiveCostKind,
                                weightless::FalsePositiveCostKindName);
  o.bias_dtype = *weightless::ParseDType(bias_dtype);  // checked by the option
  o.last_layer_packed = last_layer == "packed";
  wltrain::ApplyArchitectureDefaults(&o);
  return wltrain::RunPipeline(o);
}
