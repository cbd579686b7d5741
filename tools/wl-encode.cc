// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// wl-encode IN... OUT.wl: compresses the weights of a model trained elsewhere. Reads a
// safetensors file or .npy files, encodes the chosen tensors (prune, share weights,
// retrieval table) and stores the others as they are (optionally zstd-compressed), then
// prints a per-tensor table of what was stored and the error it adds. There is no
// retraining here: the table says so. A thin shell over the public API.

#include <CLI/CLI.hpp>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "interchange/host_tensor.h"
#include "interchange/npy.h"
#include "interchange/patterns.h"
#include "interchange/safetensors.h"
#include "last_resort.h"
#include "named_option.h"
#include "tool_text.h"
#include "weightless/encoder.h"
#include "weightless/reader.h"
#include "weightless/version.h"
#include "weightless/writer.h"

namespace {

using weightless::Result;
using weightless::Status;
using wl_tools::ElementType;
using wl_tools::HostTensor;

// Tensors compressed when no --layer pattern is given: matrices and convolution kernels
// big enough for a table to pay for its parameters.
constexpr uint64_t kDefaultMinElements = 1024;

// One tensor of the input, read when its turn comes.
struct InputTensor {
  std::string name;
  std::vector<uint64_t> shape;
  ElementType type;
  std::string declared_type;
  std::function<Result<HostTensor>()> load;
};

bool IsNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[6] = {};
  return in.read(magic, 6) && std::memcmp(magic, "\x93NUMPY", 6) == 0;
}

// The tensor name of a .npy file: its file name without directory and ".npy".
std::string NpyTensorName(const std::string& path) {
  std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0)
    name.resize(name.size() - 4);
  return name;
}

Status GatherInputs(const std::vector<std::string>& paths,
                    std::vector<std::unique_ptr<wl_tools::SafetensorsFile>>* files,
                    std::vector<InputTensor>* inputs,
                    std::map<std::string, std::string>* metadata) {
  std::set<std::string> names;
  auto add = [&](InputTensor t, const std::string& path) {
    if (!names.insert(t.name).second) {
      return Status::InvalidArgument("tensor '" + t.name + "' appears twice (again in '" + path +
                                     "')");
    }
    inputs->push_back(std::move(t));
    return Status::OK();
  };
  for (const std::string& path : paths) {
    if (IsNpy(path)) {
      auto t = wl_tools::ReadNpy(path, NpyTensorName(path));
      if (!t.ok()) return t.status();
      // Only the description is kept; the data is read again when its turn comes, so
      // that one tensor at a time is in memory.
      const std::string name = t->name;
      Status s = add({name, t->shape, t->type, t->declared_type,
                      [path, name] { return wl_tools::ReadNpy(path, name); }},
                     path);
      if (!s.ok()) return s;
      continue;
    }
    auto file = wl_tools::SafetensorsFile::Open(path);
    if (!file.ok()) return file.status();
    const wl_tools::SafetensorsFile* f = file->get();
    for (size_t i = 0; i < f->entries().size(); ++i) {
      const auto& e = f->entries()[i];
      Status s =
          add({e.name, e.shape, e.type, e.declared_type, [f, i] { return f->Read(i); }}, path);
      if (!s.ok()) return s;
    }
    for (const auto& [k, v] : f->metadata()) (*metadata)[k] = v;
    files->push_back(std::move(*file));
  }
  if (inputs->empty()) return Status::InvalidArgument("the inputs hold no tensors");
  return Status::OK();
}

// Parses rule values, failing with the option's name and the accepted range.
// `lo` is exclusive for floating-point T (a fraction of 0 keeps nothing), inclusive for
// integers.
template <typename T>
Result<T> ParseValue(const std::string& text, const char* option, double lo, double hi) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    const bool above_lo = std::is_floating_point_v<T> ? v > lo : v >= lo;
    if (used == text.size() && above_lo && v <= hi &&
        (std::is_floating_point_v<T> || v == std::floor(v))) {
      return static_cast<T>(v);
    }
  } catch (const std::exception&) {
  }
  char range[96];
  std::snprintf(range, sizeof range, "%c%g, %g]", std::is_floating_point_v<T> ? '(' : '[', lo, hi);
  return Status::InvalidArgument(std::string(option) + ": '" + text + "' is not " +
                                 (std::is_floating_point_v<T> ? "a number" : "an integer") +
                                 " in " + range);
}

struct Options {
  std::vector<std::string> layers, exclude, keep, clusters, bits;
  double max_fp_rate = 0.06;
  weightless::RetrievalKind kind = weightless::RetrievalKind::kRibbon;
  std::optional<weightless::RetrievalHash> hash;  // unset: the kind's default
  weightless::LayerStorage storage = weightless::LayerStorage::kAuto;
  weightless::Codec plain_codec = weightless::Codec::kNone;
  int seeds = 8, threads = 0;
  uint64_t seed = 0;
};

// What the table prints for one tensor.
struct Row {
  std::string name, shape, stored_as;
  bool encoded = false;
  weightless::EncodeStats stats;
  double relative_error = 0;  // ||W - W'|| / ||W|| over the whole tensor
  bool exact = false;         // stored bit for bit (plain tensors from F32, F16, BF16)
};

// ||a - b|| / ||a|| for the source's F64 values `a` and what is stored, `b`.
double F64RelativeError(const HostTensor& source, const std::vector<float>& stored) {
  double error = 0, norm = 0;
  for (size_t i = 0; i < stored.size(); ++i) {
    uint64_t bits = 0;
    for (int b = 0; b < 8; ++b) bits |= uint64_t{source.bytes[8 * i + b]} << (8 * b);
    double a;
    std::memcpy(&a, &bits, 8);
    error += (a - stored[i]) * (a - stored[i]);
    norm += a * a;
  }
  return norm > 0 ? std::sqrt(error / norm) : 0;
}

Result<Row> EncodeOne(const InputTensor& in, const std::vector<float>& values, const Options& o,
                      weightless::Writer* writer) {
  Row row{in.name, wl_tools::ShapeText(in.shape), "", true, {}, 0, false};
  weightless::EncodeOptions eo;
  wl_tools::PerTensorRules keep(o.keep), clusters(o.clusters), bits(o.bits);
  if (auto v = keep.Lookup(in.name)) eo.keep_fraction = *ParseValue<double>(*v, "--keep", 0, 1);
  if (auto v = clusters.Lookup(in.name))
    eo.clusters = *ParseValue<uint32_t>(*v, "--clusters", 1, 65535);
  if (auto v = bits.Lookup(in.name)) eo.value_bits = *ParseValue<int>(*v, "--t", 0, 16);
  eo.max_false_positive_rate = o.max_fp_rate;
  eo.kind = o.kind;
  eo.hash = o.hash;
  eo.storage = o.storage;
  eo.seeds = o.seeds;
  eo.base_seed = o.seed;
  eo.threads = o.threads;
  auto layer = weightless::EncodeLayer(values.data(), in.shape, eo);
  if (!layer.ok())
    return Status::InvalidArgument("tensor '" + in.name + "': " + layer.status().ToString());
  std::vector<float> decoded(values.size());
  Status s = weightless::DecodeLayer(*layer, decoded.data(), o.threads);
  if (s.ok()) s = writer->AddSection(in.name, layer->section);
  if (!s.ok()) return s;
  double error = 0, norm = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const double d = double{values[i]} - decoded[i];
    error += d * d;
    norm += double{values[i]} * values[i];
  }
  row.relative_error = norm > 0 ? std::sqrt(error / norm) : 0;
  row.stats = layer->stats;
  row.stored_as = layer->storage() == weightless::Storage::kRetrieval
                      ? std::string(weightless::RetrievalKindName(eo.kind))
                      : "packed";
  return row;
}

Result<Row> StorePlain(const InputTensor& in, const HostTensor& source,
                       const std::vector<float>& values, const Options& o,
                       weightless::Writer* writer) {
  const weightless::DType dtype = in.type == ElementType::kF16    ? weightless::DType::kFloat16
                                  : in.type == ElementType::kBF16 ? weightless::DType::kBFloat16
                                                                  : weightless::DType::kFloat32;
  const weightless::Codec codec = o.plain_codec;
  Status s = writer->AddDense(in.name, in.shape, values.data(), dtype, codec);
  if (!s.ok()) return s;
  Row row{in.name, wl_tools::ShapeText(in.shape), weightless::DTypeName(dtype), false, {}, 0, true};
  if (codec == weightless::Codec::kZstd) row.stored_as += "+zstd";
  if (in.type == ElementType::kF64) {
    row.stored_as += " (from F64)";
    row.exact = false;
    row.relative_error = F64RelativeError(source, values);
  }
  return row;
}

Status CheckRules(const Options& o) {
  for (const auto& v : wl_tools::PerTensorRules(o.keep).Values()) {
    auto r = ParseValue<double>(v, "--keep", 0, 1);
    if (!r.ok()) return r.status();
  }
  for (const auto& v : wl_tools::PerTensorRules(o.clusters).Values()) {
    auto r = ParseValue<uint32_t>(v, "--clusters", 1, 65535);
    if (!r.ok()) return r.status();
  }
  for (const auto& v : wl_tools::PerTensorRules(o.bits).Values()) {
    auto r = ParseValue<int>(v, "--t", 0, 16);
    if (!r.ok()) return r.status();
  }
  return Status::OK();
}

void PrintTable(const std::vector<Row>& rows, const weightless::Reader& file,
                uint64_t float32_bytes, const std::string& out_path) {
  std::printf("%-24s %-12s %-16s %9s %5s %3s %7s %9s %10s %8s %9s\n", "tensor", "shape",
              "stored as", "kept", "K", "t", "FP %", "bits/kept", "bytes", "ratio", "rel.err");
  size_t encoded = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const weightless::TensorInfo& t = file.tensor(i);
    const uint64_t bytes = wl_tools::FileBytes(t);
    const double ratio = bytes ? 4.0 * static_cast<double>(t.element_count()) / bytes : 0;
    if (r.encoded) {
      ++encoded;
      std::printf("%-24s %-12s %-16s %9" PRIu64 " %5u %3d %7.3f %9.3f %10" PRIu64 " %7.1fx %9.4f\n",
                  r.name.c_str(), r.shape.c_str(), r.stored_as.c_str(), r.stats.kept,
                  r.stats.clusters, r.stats.value_bits, 100 * r.stats.false_positive_rate,
                  r.stats.bits_per_kept_weight, bytes, ratio, r.relative_error);
    } else {
      char error[32] = "exact";
      if (!r.exact) std::snprintf(error, sizeof error, "%.3g", r.relative_error);
      std::printf("%-24s %-12s %-16s %9s %5s %3s %7s %9s %10" PRIu64 " %7.1fx %9s\n",
                  r.name.c_str(), r.shape.c_str(), r.stored_as.c_str(), "-", "-", "-", "-", "-",
                  bytes, ratio, error);
    }
  }
  std::printf("\n%s: %zu tensors (%zu encoded), %" PRIu64 " bytes as float32 -> %" PRIu64
              " bytes, %.1fx smaller (whole file)\n",
              out_path.c_str(), rows.size(), encoded, float32_bytes, file.file_size(),
              file.file_size() ? static_cast<double>(float32_bytes) / file.file_size() : 0.0);
  std::printf(
      "rel.err = ||W - decoded W|| / ||W|| from pruning, weight sharing and false positives.\n"
      "No retraining was done: these errors reach the model as they are. Retraining the later\n"
      "layers around them (as wl-train does) recovers most of the accuracy they cost.\n");
}

int Run(const std::vector<std::string>& paths, const std::string& out_path, const Options& o) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "wl-encode: %s\n", s.ToString().c_str());
    return 1;
  };
  Status s = CheckRules(o);
  if (!s.ok()) return fail(s);
  std::vector<std::unique_ptr<wl_tools::SafetensorsFile>> files;
  std::vector<InputTensor> inputs;
  std::map<std::string, std::string> metadata;
  s = GatherInputs(paths, &files, &inputs, &metadata);
  if (!s.ok()) return fail(s);

  // Decide every tensor's fate before writing anything. (Rule values were checked by
  // CheckRules, so EncodeOne's lookups cannot fail.)
  std::vector<const InputTensor*> stored;
  std::vector<bool> encode;
  for (const InputTensor& in : inputs) {
    if (wl_tools::MatchesAny(o.exclude, in.name)) continue;
    if (in.type == ElementType::kOther) {
      return fail(Status::InvalidArgument(
          "tensor '" + in.name + "': element type " + in.declared_type +
          " is not one Weightless stores (F32, F16, BF16, F64); leave it out with "
          "--exclude '" +
          in.name + "'"));
    }
    uint64_t count = 1;
    for (uint64_t d : in.shape) count *= d;
    const bool chosen = o.layers.empty() ? in.shape.size() >= 2 && count >= kDefaultMinElements
                                         : wl_tools::MatchesAny(o.layers, in.name);
    stored.push_back(&in);
    encode.push_back(chosen && count > 0);
  }
  if (stored.empty()) return fail(Status::InvalidArgument("--exclude leaves no tensor to store"));

  weightless::WriterOptions wo;
  wo.producer_name = "wl-encode";
  auto writer = weightless::Writer::Create(out_path, wo);
  if (!writer.ok()) return fail(writer.status());
  for (const auto& [k, v] : metadata) {
    s = writer->SetMetadata(k, v);
    if (!s.ok()) return fail(s);
  }
  std::vector<Row> rows;
  uint64_t float32_bytes = 0;
  for (size_t i = 0; i < stored.size(); ++i) {
    auto host = stored[i]->load();
    if (!host.ok()) return fail(host.status());
    if (host->shape != stored[i]->shape || host->type != stored[i]->type) {
      return fail(Status::IOError("tensor '" + stored[i]->name + "' changed while being read"));
    }
    auto values = host->ToFloat32();
    if (!values.ok()) return fail(values.status());
    float32_bytes += 4 * values->size();
    auto row = encode[i] ? EncodeOne(*stored[i], *values, o, &*writer)
                         : StorePlain(*stored[i], *host, *values, o, &*writer);
    if (!row.ok()) return fail(row.status());
    rows.push_back(std::move(*row));
  }
  s = writer->Finish();
  if (!s.ok()) return fail(s);
  auto reader = weightless::Reader::Open(out_path);
  if (!reader.ok()) return fail(reader.status());
  PrintTable(rows, *reader, float32_bytes, out_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "wl-encode: compress the weights of a model stored as safetensors or .npy files into a\n"
      "Weightless (.wl) file. Chosen tensors are pruned, clustered and stored in retrieval\n"
      "tables; the others are stored as they are. No retraining is done."};
  app.set_version_flag("--version",
                       std::string("wl-encode (weightless ") + weightless::VersionString() + ")");
  std::vector<std::string> positionals;
  Options o;
  app.add_option("IN... OUT.wl", positionals,
                 "a .safetensors file or .npy files (a .npy file's tensor is named after the "
                 "file), then the output file")
      ->required()
      ->expected(2, -1);
  app.add_option("--layer", o.layers,
                 "compress the tensors matching this pattern (repeatable; default: every float "
                 "tensor of rank >= 2 with at least 1024 elements)")
      ->allow_extra_args(false);
  app.add_option("--exclude", o.exclude,
                 "leave the tensors matching this pattern out of the file (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--keep", o.keep,
                 "fraction of weights kept, as VALUE or PATTERN=VALUE (repeatable, the last "
                 "matching rule wins; default 0.05)")
      ->allow_extra_args(false);
  app.add_option("--clusters", o.clusters, "centroids K, as VALUE or PATTERN=VALUE (default 15)")
      ->allow_extra_args(false);
  app.add_option("--t", o.bits,
                 "value bits t, as VALUE or PATTERN=VALUE (default: the smallest t meeting "
                 "--max-fp-rate)")
      ->allow_extra_args(false);
  app.add_option("--max-fp-rate", o.max_fp_rate,
                 "false-positive budget K/2^t per pruned weight when t is not given")
      ->check(CLI::Range(1e-6, 0.5))
      ->capture_default_str();
  std::string encoding = "ribbon", storage = "auto", plain_codec = "none";
  app.add_option("--encoding", encoding, "retrieval table kind")
      ->check(wl_tools::NameIn(weightless::ParseRetrievalKind, "ribbon|bloomier"))
      ->capture_default_str();
  std::string hash;
  wl_tools::AddHashOption(app, &hash);
  app.add_option("--storage", storage,
                 "auto (a table unless packed codes are no larger), retrieval, packed-codes")
      ->check(wl_tools::NameIn(weightless::ParseLayerStorage, "auto|retrieval|packed-codes"))
      ->capture_default_str();
  app.add_option("--seeds", o.seeds,
                 "tables tried per tensor; the one whose errors cost least is kept")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "first table seed")->capture_default_str();
  app.add_option("--plain-codec", plain_codec, "codec of the tensors stored as they are")
      ->check(wl_tools::NameIn(weightless::ParseCodec, "none|zstd"))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "threads (0: one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // The checks above accepted these names.
  o.kind = *weightless::ParseRetrievalKind(encoding);
  std::string hash_error;
  o.hash = wl_tools::ChosenHash(hash, o.kind, &hash_error);
  if (!hash_error.empty()) {
    std::fprintf(stderr, "wl-encode: %s\n", hash_error.c_str());
    return 2;
  }
  o.storage = wl_tools::ParseNamed("wl-encode", "--storage", storage, weightless::ParseLayerStorage,
                                   weightless::LayerStorageName);
  o.plain_codec = *weightless::ParseCodec(plain_codec);
  const std::string out_path = positionals.back();
  positionals.pop_back();
  return wl_tools::WithLastResort("wl-encode", 1,
                                  [&]() -> int { return Run(positionals, out_path, o); });
}
