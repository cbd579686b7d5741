// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Writing: weightless.encode (prune, share weights, build a retrieval table) and
// weightless.encode_codes (a table of given codes and centroids) return an EncodedLayer;
// weightless.Writer stores encoded layers, plain tensors and metadata in a .wl file,
// atomically: nothing appears at the path before finish().
//
// Inputs are copied to contiguous float32 buffers with the GIL held; encoding and
// writing then run with the GIL released. A Writer serializes its own calls with a
// mutex, so Python threads may encode layers in parallel and add them in any order.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bindings.h"
#include "errors.h"
#include "values.h"
#include "weightless/encoder.h"
#include "weightless/version.h"
#include "weightless/writer.h"

namespace py = pybind11;

namespace weightless {
namespace python {
namespace {

// The options of EncodeLayer as keyword arguments, in the order of EncodeArray's
// parameters after `weights`: encode() and Writer.add_layer take the same names and
// defaults.
#define WEIGHTLESS_ENCODE_ARGS                                                           \
  py::arg("keep") = 0.05, py::arg("mask") = py::none(), py::arg("clusters") = 15,        \
  py::arg("t") = py::none(), py::arg("max_false_positive_rate") = 0.06,                  \
  py::arg("kind") = "ribbon", py::arg("hash") = "auto", py::arg("storage") = "auto",     \
  py::arg("seeds") = 1, py::arg("base_seed") = 0, py::arg("cluster_method") = "optimal", \
  py::arg("cost") = py::none(), py::arg("column_energy") = py::none(), py::arg("threads") = 0

constexpr const char* kEncodeArgsDoc = R"doc(
weights: an array-like of any shape (rank >= 1), copied as float32.
keep: the fraction of weights kept, those of largest magnitude (ignored with mask).
mask: an array-like with one entry per weight; non-zero entries are kept.
clusters: K, the most centroids of weight sharing (1..65535).
t: bits per table cell; None chooses the smallest t with K / 2^t <=
   max_false_positive_rate (the false-positive rate over pruned weights).
kind: 'ribbon' (about 1.01 cells per kept weight, the default) or 'bloomier' (the
   paper's Bloomier filter, about 1.23).
hash: the tables' key hashing: 'auto' (mix32 for ribbon, xxh3 for bloomier), 'mix32'
   (ribbon only; its files need a reader of format 1.1) or 'xxh3' (files that readers
   of format 1.0 read).
storage: 'auto' (packed codes when no larger than a table), 'retrieval' or
   'packed-codes' (one exact code per weight, no false positives).
seeds: tables tried with seeds base_seed, base_seed + 1, ...; the one whose false
   positives cost least is kept.
cluster_method: 'optimal' (exact 1-D k-means) or 'linear' (Lloyd, linear init).
cost: how seed search prices a table's false positives (flat index i, value v):
   None or 'squared_error': sum of v^2, the squared error they add;
   'activation': sum of v^2 * column_energy[i % columns], the expected squared output
   error they add (columns = n / shape[0], the fan-in; needs column_energy);
   or a function cost(indices, values) -> float (flat uint64 indices and the float32
   values they decode to), called once per seed, one call at a time, from worker
   threads with the GIL.
column_energy: an array-like of n / shape[0] finite values >= 0 (flattened), E[x^2] of
   each input column over a calibration batch; also reported, whatever the cost, as
   stats['added_activation_error'].
threads: 0 = one per hardware thread; seeds are tried up to `threads` at once (the
   result does not depend on it).)doc";

constexpr const char* kEncodeCodesDoc = R"doc(
Encodes a layer that is already pruned and shared, with no pruning or clustering:
codes[i] in 0..K per weight (0 = pruned), code c standing for centroids[c - 1]. Kept
weights decode to exactly their centroid; the centroids are kept as given (they need not
be sorted) and t is chosen from K = len(centroids). Returns an EncodedLayer (its
stats['clustering_squared_error'] is 0). The GIL is released while encoding.

codes: an integer array-like of any shape (rank >= 1), the layer's shape unless `shape`
   is given (then codes may have any shape holding that many values).
centroids: an array-like of the K (1..65535) finite centroids, copied as float32.
t, max_false_positive_rate, kind, hash, storage, seeds, base_seed, cost, column_energy,
threads: as in weightless.encode.
shape: None, or the layer's shape.)doc";

// Calls a Python cost function from the encoder's worker threads. The first exception
// it raises is kept and re-raised once EncodeLayer returns; later calls are skipped.
class CostFunction {
 public:
  explicit CostFunction(py::object function) : function_(std::move(function)) {}

  double operator()(const std::vector<FalsePositive>& false_positives) {
    py::gil_scoped_acquire gil;
    if (error_) return std::numeric_limits<double>::infinity();
    try {
      const auto n = static_cast<py::ssize_t>(false_positives.size());
      py::array_t<uint64_t> indices(n);
      py::array_t<float> values(n);
      uint64_t* index_data = indices.mutable_data();
      float* value_data = values.mutable_data();
      for (size_t i = 0; i < false_positives.size(); ++i) {
        index_data[i] = false_positives[i].index;
        value_data[i] = false_positives[i].value;
      }
      return function_(indices, values).cast<double>();
    } catch (...) {
      error_ = std::current_exception();
      return std::numeric_limits<double>::infinity();
    }
  }

  // Re-raises the function's first exception. REQUIRES: the GIL.
  void RethrowError() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  py::object function_;
  std::exception_ptr error_;  // written with the GIL held
};

// Sets the table options shared by encode and encode_codes; returns the caller's cost
// function, if any (re-raise its error after encoding).
std::shared_ptr<CostFunction> SetTableOptions(const py::object& t, double max_false_positive_rate,
                                              const std::string& kind, const std::string& hash,
                                              const std::string& storage, int seeds,
                                              uint64_t base_seed, const py::object& cost,
                                              const py::object& column_energy, int threads,
                                              EncodeOptions* options, LayerInputs* layer) {
  if (threads < 0) throw py::value_error("threads must be >= 0 (0: one per hardware thread)");
  options->value_bits = t.is_none() ? 0 : t.cast<int>();
  options->max_false_positive_rate = max_false_positive_rate;
  options->kind = ParseKind(kind);
  if (hash != "auto") options->hash = ValueOrThrow(ParseRetrievalHash(hash));
  options->storage = ParseLayerStorage(storage);
  options->seeds = seeds;
  options->base_seed = base_seed;
  options->threads = threads;
  if (!column_energy.is_none()) layer->column_energy = CopyFloat32(column_energy).values;
  if (cost.is_none()) return nullptr;
  if (PyUnicode_Check(cost.ptr())) {
    options->cost_kind = ParseCostKind(cost.cast<std::string>());
    return nullptr;
  }
  if (!PyCallable_Check(cost.ptr())) {
    throw py::type_error("cost must be 'squared_error', 'activation', a function or None");
  }
  auto cost_function = std::make_shared<CostFunction>(cost);
  options->cost = [cost_function](const std::vector<FalsePositive>& fps) {
    return (*cost_function)(fps);
  };
  return cost_function;
}

std::shared_ptr<EncodedLayer> EncodeArray(const py::handle& weights, double keep,
                                          const py::object& mask, uint32_t clusters,
                                          const py::object& t, double max_false_positive_rate,
                                          const std::string& kind, const std::string& hash,
                                          const std::string& storage, int seeds, uint64_t base_seed,
                                          const std::string& cluster_method, const py::object& cost,
                                          const py::object& column_energy, int threads) {
  const FloatInput input = CopyFloat32(weights);
  EncodeOptions options;
  LayerInputs inputs;
  options.keep_fraction = keep;
  if (!mask.is_none()) {
    py::object numpy = py::module_::import("numpy");
    py::object kept = numpy.attr("not_equal")(numpy.attr("asarray")(mask), 0);
    auto m = numpy.attr("ascontiguousarray")(kept, numpy.attr("uint8"))
                 .cast<py::array_t<uint8_t, py::array::c_style>>();
    inputs.mask.assign(m.data(), m.data() + m.size());
  }
  options.clusters = clusters;
  options.cluster_method = ParseClusterMethod(cluster_method);
  const std::shared_ptr<CostFunction> cost_function =
      SetTableOptions(t, max_false_positive_rate, kind, hash, storage, seeds, base_seed, cost,
                      column_energy, threads, &options, &inputs);
  Result<EncodedLayer> layer = Status::Internal("not encoded");
  {
    py::gil_scoped_release release;
    layer = EncodeLayer(input.values.data(), input.shape, options, inputs);
  }
  if (cost_function) cost_function->RethrowError();
  return std::make_shared<EncodedLayer>(ValueOrThrow(std::move(layer)));
}

std::shared_ptr<EncodedLayer> EncodeCodesArray(const py::handle& codes, const py::handle& centroids,
                                               const py::object& t, double max_false_positive_rate,
                                               const std::string& kind, const std::string& hash,
                                               const std::string& storage, int seeds,
                                               uint64_t base_seed, const py::object& cost,
                                               const py::object& column_energy, int threads,
                                               const py::object& shape) {
  const CodesInput input = CopyCodes(codes, shape);
  const std::vector<float> k = CopyFloat32(centroids).values;
  EncodeOptions options;
  LayerInputs inputs;
  const std::shared_ptr<CostFunction> cost_function =
      SetTableOptions(t, max_false_positive_rate, kind, hash, storage, seeds, base_seed, cost,
                      column_energy, threads, &options, &inputs);
  Result<EncodedLayer> layer = Status::Internal("not encoded");
  {
    py::gil_scoped_release release;
    layer = EncodeCodes(input.codes.data(), input.shape, k, options, inputs);
  }
  if (cost_function) cost_function->RethrowError();
  return std::make_shared<EncodedLayer>(ValueOrThrow(std::move(layer)));
}

py::array_t<uint16_t> DecodeEncodedCodes(const EncodedLayer& layer, int threads) {
  if (threads < 0) throw py::value_error("threads must be >= 0 (0: one per hardware thread)");
  Result<std::vector<uint16_t>> codes = Status::Internal("not decoded");
  {
    py::gil_scoped_release release;
    codes = DecodeLayerCodes(layer, threads);
  }
  // The array adopts the vector's buffer.
  auto* owned = new std::vector<uint16_t>(ValueOrThrow(std::move(codes)));
  py::capsule base(owned, [](void* p) { delete static_cast<std::vector<uint16_t>*>(p); });
  return py::array_t<uint16_t>(ArrayShape(layer.shape()), owned->data(), base);
}

namespace {

// Decodes the layer's codes slice by slice into out (a C-contiguous integer array of
// any width that holds 0..K), converting each slice: no buffer of the whole layer.
template <typename Int>
Status DecodeCodesInto(const EncodedLayer& layer, uint64_t n, Int* out, int threads) {
  constexpr uint64_t kSlice = uint64_t{1} << 20;
  std::vector<uint16_t> slice(static_cast<size_t>(std::min(n, kSlice)));
  for (uint64_t begin = 0; begin < n; begin += kSlice) {
    const uint64_t count = std::min(kSlice, n - begin);
    Status s = DecodeLayerCodes(layer, begin, count, slice.data(), threads);
    if (!s.ok()) return s;
    std::copy_n(slice.data(), count, out + begin);
  }
  return Status::OK();
}

}  // namespace

py::array DecodeEncodedCodesInto(const EncodedLayer& layer, const py::handle& out_arg,
                                 int threads) {
  if (threads < 0) throw py::value_error("threads must be >= 0 (0: one per hardware thread)");
  if (!py::isinstance<py::array>(out_arg)) throw py::type_error("out must be a numpy array");
  py::array out = py::reinterpret_borrow<py::array>(out_arg);
  const uint64_t n = layer.section.info().element_count();
  if (static_cast<uint64_t>(out.size()) != n) {
    ThrowIfError(Status::InvalidArgument("out holds " + std::to_string(out.size()) +
                                         " values; the layer has " + std::to_string(n)));
  }
  if (!out.writeable() || !(out.flags() & py::array::c_style)) {
    throw py::value_error("out must be writable and C-contiguous");
  }
  const uint64_t k = layer.centroids().size();
  void* data = out.mutable_data();
  Status s;
  const bool integers = WithIntegerType(out.dtype(), [&](auto zero) {
    using Int = decltype(zero);
    if (static_cast<uint64_t>(std::numeric_limits<Int>::max()) < k) {
      throw py::type_error("out of dtype " + std::string(py::str(out.dtype())) +
                           " cannot hold codes 0.." + std::to_string(k));
    }
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<Int, uint16_t>) {  // the codes' own type: no slices
      s = DecodeLayerCodes(layer, 0, n, static_cast<uint16_t*>(data), threads);
    } else {
      s = DecodeCodesInto(layer, n, static_cast<Int*>(data), threads);
    }
  });
  if (!integers) {
    throw py::type_error("out of dtype " + std::string(py::str(out.dtype())) +
                         " cannot hold codes 0.." + std::to_string(k));
  }
  ThrowIfError(s);
  return out;
}

py::array_t<float> DecodeEncoded(const EncodedLayer& layer, int threads) {
  if (threads < 0) throw py::value_error("threads must be >= 0 (0: one per hardware thread)");
  py::array_t<float> out(ArrayShape(layer.shape()));
  float* data = out.mutable_data();
  Status status;
  {
    py::gil_scoped_release release;
    status = DecodeLayer(layer, data, threads);
  }
  ThrowIfError(status);
  return out;
}

class PyWriter {
 public:
  PyWriter(const py::object& path, const std::string& producer_name,
           const std::string& producer_version, bool sync, int zstd_level, bool compress_index)
      : path_(py::module_::import("os").attr("fsdecode")(path)) {
    WriterOptions options;
    options.producer_name = producer_name;
    options.producer_version = producer_version;
    options.sync = sync;
    options.zstd_level = zstd_level;
    options.compress_index = compress_index;
    writer_ = ValueOrThrow(Writer::Create(PathArg(path), options));
  }

  // Runs fn(Writer&) with the GIL released and this writer's mutex held; raises its
  // error. REQUIRES: the GIL.
  template <typename Fn>
  void Run(Fn&& fn) {
    Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      status = writer_ ? fn(*writer_) : ClosedError();
    }
    ThrowIfError(status);
  }

  void AddEncoded(const std::string& name, const EncodedLayer& layer, const RetrainInfo& retrain,
                  Codec codec) {
    Run([&](Writer& w) { return w.AddSection(name, layer.section, retrain, codec); });
  }

  void AddTensor(const std::string& name, const py::handle& array, const py::object& dtype,
                 const py::object& codec, const py::object& int8_scale) {
    py::object numpy = py::module_::import("numpy");
    py::object a = numpy.attr("asarray")(array);
    DType stored = DType::kFloat32;
    if (!dtype.is_none()) {
      stored = ParseDType(dtype);
    } else if (a.attr("dtype").attr("name").cast<std::string>() == "float16") {
      stored = DType::kFloat16;  // a float16 array is stored exactly as it is
    }
    const Codec c = ParseCodec(codec);
    const FloatInput input = CopyFloat32(a);
    float scale = 1.0f;
    if (!int8_scale.is_none()) {
      scale = int8_scale.cast<float>();
    } else if (stored == DType::kInt8) {
      scale = DefaultInt8Scale(input.values.data(), input.values.size());
    }
    Run([&](Writer& w) {
      return w.AddDense(name, input.shape, input.values.data(), stored, c, scale);
    });
  }

  void SetMetadata(const std::string& key, const py::handle& value) {
    MetadataValue v = MetadataFromPython(value);
    Run([&](Writer& w) { return w.SetMetadata(key, std::move(v)); });
  }

  void Finish() {
    Run([&](Writer& w) {
      Status status = w.Finish();
      writer_.reset();
      return status;
    });
  }

  void Abandon() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu_);
    if (writer_) writer_->Abandon();
    writer_.reset();
  }

  uint64_t bytes_written() {
    uint64_t n = 0;
    Run([&](Writer& w) {
      n = w.bytes_written();
      return Status::OK();
    });
    return n;
  }

  bool closed() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu_);
    return !writer_.has_value();
  }

  const py::object& path() const { return path_; }

 private:
  static Status ClosedError() {
    return Status::InvalidArgument("the writer is closed (finished or abandoned)");
  }

  py::object path_;
  std::mutex mu_;
  std::optional<Writer> writer_;  // empty once finished or abandoned
};

std::string LayerRepr(const EncodedLayer& layer) {
  std::string shape;
  for (size_t d = 0; d < layer.shape().size(); ++d) {
    shape += (d ? "x" : "") + std::to_string(layer.shape()[d]);
  }
  std::string s = "<weightless.EncodedLayer " + shape + " " + StorageName(layer.storage());
  if (layer.storage() == Storage::kRetrieval) {
    s += std::string(" ") + RetrievalKindName(layer.section.info().retrieval_kind);
  }
  return s + " K=" + std::to_string(layer.stats.clusters) +
         " t=" + std::to_string(layer.stats.value_bits) +
         " kept=" + std::to_string(layer.stats.kept) +
         " fp=" + std::to_string(layer.stats.false_positives) + ">";
}

// A copy of `layer` (sharing its table or codes) with other centroids
// (EncodedSection::WithCentroids): what a trainer stores once the centroids of an
// encoded layer have trained on. added_squared_error replaces the statistic when given
// (the layer cannot tell its false positives from its kept weights).
std::shared_ptr<EncodedLayer> WithCentroids(const EncodedLayer& layer, const py::handle& centroids,
                                            const py::object& added_squared_error) {
  LayerStats stats = layer.section.info().stats;
  EncodeStats encode_stats = layer.stats;
  if (!added_squared_error.is_none()) {
    stats.added_squared_error = added_squared_error.cast<double>();
    encode_stats.added_squared_error = stats.added_squared_error;
  }
  Result<EncodedSection> section =
      layer.section.WithCentroids(CopyFloat32(centroids).values, stats);
  if (!section.ok()) ThrowIfError(section.status().WithContext("with_centroids"));
  return std::make_shared<EncodedLayer>(EncodedLayer{std::move(section).value(), encode_stats});
}

// Pickling (copy.deepcopy, torch.save of a model holding encoded layers): the state is
// (shape, storage, section bytes, centroids, code_bits, retrieval fields or None,
// stats), the retrieval fields being (kind, seed, shard_span, shard_count, cells, hash)
// (states pickled before hashes had names have no hash: xxh3); the section is validated
// again on unpickling (EncodedSection::FromBytes).
py::tuple LayerState(const EncodedLayer& l) {
  const TensorInfo& info = l.section.info();
  const std::vector<uint8_t>& b = l.section.bytes();
  py::object retrieval = py::none();
  if (info.storage == Storage::kRetrieval) {
    retrieval =
        py::make_tuple(RetrievalKindName(info.retrieval_kind), info.retrieval_seed, info.shard_span,
                       info.shard_count, info.cells, RetrievalHashName(info.retrieval_hash));
  }
  return py::make_tuple(ShapeTuple(info.shape), StorageName(info.storage),
                        py::bytes(reinterpret_cast<const char*>(b.data()), b.size()),
                        FloatArray(info.centroids), info.code_bits, retrieval,
                        EncodeStatsDict(l.stats));
}

EncodeStats StatsFromDict(const py::dict& s) {
  EncodeStats st;
  st.weights = s["weights"].cast<uint64_t>();
  st.kept = s["kept"].cast<uint64_t>();
  st.clusters = s["clusters"].cast<uint32_t>();
  st.value_bits = s["value_bits"].cast<int>();
  st.false_positives = s["false_positives"].cast<uint64_t>();
  st.false_positive_rate = s["false_positive_rate"].cast<double>();
  st.clustering_squared_error = s["clustering_squared_error"].cast<double>();
  st.added_squared_error = s["added_squared_error"].cast<double>();
  st.added_activation_error = s["added_activation_error"].cast<double>();
  st.bits = s["bits"].cast<uint64_t>();
  st.bits_per_kept_weight = s["bits_per_kept_weight"].cast<double>();
  st.compression_ratio = s["compression_ratio"].cast<double>();
  st.seeds_tried = s["seeds_tried"].cast<int>();
  st.chosen_seed = s["chosen_seed"].cast<uint64_t>();
  st.first_seed_cost = s["first_seed_cost"].cast<double>();
  st.chosen_cost = s["chosen_cost"].cast<double>();
  return st;
}

// The state pickled before sections (weightless 0.1 until this change): (shape,
// storage, table bytes or None, one uint16 code per weight, centroids, stats).
std::shared_ptr<EncodedLayer> LayerFromOldState(const py::tuple& state) {
  std::vector<uint64_t> shape;
  for (const py::handle d : state[0]) shape.push_back(d.cast<uint64_t>());
  const std::string storage = state[1].cast<std::string>();
  std::vector<float> centroids = CopyFloat32(state[4]).values;
  const EncodeStats st = StatsFromDict(state[5].cast<py::dict>());
  const LayerStats stats{st.kept, st.false_positives, st.added_squared_error};
  Result<EncodedSection> section = Status::InvalidArgument("EncodedLayer: an inconsistent state");
  if (storage == StorageName(Storage::kRetrieval) && !state[2].is_none()) {
    const std::string bytes = state[2].cast<std::string>();
    Result<RetrievalTable> table =
        RetrievalTable::FromBytes(std::vector<uint8_t>(bytes.begin(), bytes.end()));
    if (!table.ok()) ThrowIfError(table.status().WithContext("EncodedLayer: unpickling"));
    section = EncodedSection::Retrieval(shape, std::move(table).value(), centroids, stats);
  } else if (storage == StorageName(Storage::kPackedCodes)) {
    const std::string packed = state[3].cast<std::string>();
    std::vector<uint16_t> codes(packed.size() / sizeof(uint16_t));
    if (!packed.empty()) std::memcpy(codes.data(), packed.data(), codes.size() * sizeof(uint16_t));
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    if (codes.size() == n) {
      section = EncodedSection::PackedCodes(shape, codes.data(), st.value_bits, centroids, stats);
    }
  }
  if (!section.ok()) ThrowIfError(section.status().WithContext("EncodedLayer: unpickling"));
  return std::make_shared<EncodedLayer>(EncodedLayer{std::move(section).value(), st});
}

std::shared_ptr<EncodedLayer> LayerFromState(const py::tuple& state) {
  if (state.size() == 6) return LayerFromOldState(state);
  if (state.size() != 7)
    throw py::value_error(
        "EncodedLayer: a state of 7 fields (or 6, pickled before sections) is expected");
  TensorInfo info;
  for (const py::handle d : state[0]) info.shape.push_back(d.cast<uint64_t>());
  const std::string storage = state[1].cast<std::string>();
  if (storage == StorageName(Storage::kRetrieval)) {
    info.storage = Storage::kRetrieval;
  } else if (storage == StorageName(Storage::kPackedCodes)) {
    info.storage = Storage::kPackedCodes;
  } else {
    throw py::value_error("EncodedLayer: unknown storage '" + storage + "'");
  }
  const std::string bytes = state[2].cast<std::string>();
  info.centroids = CopyFloat32(state[3]).values;
  info.code_bits = state[4].cast<int>();
  if (info.storage == Storage::kRetrieval) {
    const py::tuple r = state[5].cast<py::tuple>();
    if (r.size() != 5 && r.size() != 6) {
      throw py::value_error("EncodedLayer: an inconsistent state");
    }
    info.retrieval_kind = ValueOrThrow(ParseRetrievalKind(r[0].cast<std::string>()));
    info.retrieval_seed = r[1].cast<uint64_t>();
    info.shard_span = r[2].cast<uint64_t>();
    info.shard_count = r[3].cast<uint64_t>();
    info.cells = r[4].cast<uint64_t>();
    if (r.size() == 6) {
      info.retrieval_hash = ValueOrThrow(ParseRetrievalHash(r[5].cast<std::string>()));
    }
  }
  const EncodeStats st = StatsFromDict(state[6].cast<py::dict>());
  info.stats = LayerStats{st.kept, st.false_positives, st.added_squared_error};
  Result<EncodedSection> section =
      EncodedSection::FromBytes(std::move(info), std::vector<uint8_t>(bytes.begin(), bytes.end()));
  if (!section.ok()) ThrowIfError(section.status().WithContext("EncodedLayer: unpickling"));
  return std::make_shared<EncodedLayer>(EncodedLayer{std::move(section).value(), st});
}

void BindEncodedLayer(py::module_& m) {
  using Layer = EncodedLayer;
  py::class_<EncodedLayer, std::shared_ptr<EncodedLayer>>(m, "EncodedLayer", R"doc(
A layer encoded by weightless.encode or weightless.encode_codes, not yet stored: what a
Writer stores with add_encoded, and what a trainer freezes (with its false positives)
before retraining the later layers. Immutable.)doc")
      .def_property_readonly("shape", [](const Layer& l) { return ShapeTuple(l.shape()); })
      .def_property_readonly(
          "storage", [](const Layer& l) { return StorageName(l.storage()); },
          "'retrieval' or 'packed-codes', as the encoder chose.")
      .def_property_readonly(
          "kind",
          [](const Layer& l) -> py::object {
            if (l.storage() != Storage::kRetrieval) return py::none();
            return py::str(RetrievalKindName(l.section.info().retrieval_kind));
          },
          "'ribbon' or 'bloomier' for a retrieval table, else None.")
      .def_property_readonly(
          "hash",
          [](const Layer& l) -> py::object {
            if (l.storage() != Storage::kRetrieval) return py::none();
            return py::str(RetrievalHashName(l.section.info().retrieval_hash));
          },
          "The retrieval table's key hashing, 'mix32' (the ribbon default) or 'xxh3', else "
          "None.")
      .def_property_readonly("centroids", [](const Layer& l) { return FloatArray(l.centroids()); })
      .def_property_readonly("clusters", [](const Layer& l) { return l.stats.clusters; })
      .def_property_readonly("K", [](const Layer& l) { return l.stats.clusters; })
      .def_property_readonly("code_bits", [](const Layer& l) { return l.stats.value_bits; })
      .def_property_readonly("t", [](const Layer& l) { return l.stats.value_bits; })
      .def_property_readonly(
          "stats", [](const Layer& l) { return EncodeStatsDict(l.stats); },
          "What encoding cost: weights, kept, clusters, value_bits, false_positives, "
          "false_positive_rate, clustering_squared_error, added_squared_error, "
          "added_activation_error, bits, "
          "bits_per_kept_weight, compression_ratio, seeds_tried, chosen_seed, "
          "first_seed_cost, chosen_cost.")
      .def(
          "decode", [](const Layer& l, int threads) { return DecodeEncoded(l, threads); },
          py::arg("threads") = 0,
          "Decodes to a float32 array exactly as a reader of the file will (kept weights "
          "are their centroids; false positives included). The GIL is released.")
      .def(
          "codes",
          [](const Layer& l, int threads, const py::object& out) -> py::array {
            if (out.is_none()) return DecodeEncodedCodes(l, threads);
            return DecodeEncodedCodesInto(l, out, threads);
          },
          py::arg("threads") = 0, py::arg("out") = py::none(),
          "The code each weight decodes to, a uint16 array of the layer's shape: c in 1..K "
          "where decode() gives centroids[c - 1] (kept weights and false positives), 0 "
          "elsewhere. With out= (a writable C-contiguous integer array of as many values, "
          "of a dtype that holds 0..K, e.g. uint8 for K <= 255), decodes into it slice by "
          "slice, with no buffer of the whole layer, and returns it. The GIL is released.")
      .def("with_centroids", &WithCentroids, py::arg("centroids"), py::kw_only(),
           py::arg("added_squared_error") = py::none(), R"doc(
A copy of this layer with other centroids (K finite values; code c decodes to
centroids[c - 1]) and the same table or codes: what a trainer stores after the centroids
of an encoded layer trained on. stats are the encoding's, but for added_squared_error
when given (the false positives' squared values with the new centroids).)doc")
      .def("__copy__", [](const std::shared_ptr<Layer>& l) { return l; })
      .def("__deepcopy__", [](const std::shared_ptr<Layer>& l, const py::dict&) { return l; })
      .def(py::pickle([](const Layer& l) { return LayerState(l); },
                      [](const py::tuple& state) { return LayerFromState(state); }))
      .def("__repr__", [](const Layer& l) { return LayerRepr(l); });
}

void BindWriter(py::module_& m) {
  py::class_<PyWriter>(m, "Writer", R"doc(
Writes a .wl file, atomically: the bytes go to a temporary file that finish() syncs and
renames onto `path`; a writer abandoned, garbage-collected before finish(), or left by
an exception never leaves a file there (and a file already at `path` stays untouched).

    with weightless.Writer("model.wl") as w:
        stats = w.add_layer("fc1", fc1_weights, keep=0.04, clusters=8, t=8, seeds=8)
        w.add_tensor("fc1.bias", fc1_bias, dtype="float16")
        w.set_metadata("architecture", "LeNet-300-100")
    # finished on normal exit; abandoned if the block raised

The writer streams: each add_* call writes its payload at once. Its methods may be
called from several threads; they run one at a time (encoding runs in parallel).)doc")
      .def(py::init<const py::object&, const std::string&, const std::string&, bool, int, bool>(),
           py::arg("path"), py::kw_only(), py::arg("producer_name") = "weightless",
           py::arg("producer_version") = "", py::arg("sync") = true, py::arg("zstd_level") = 3,
           py::arg("compress_index") = true, R"doc(
path: str, bytes or os.PathLike. producer_name / producer_version: what the file says
wrote it (default: this library and its version). sync=False skips the fsyncs (atomicity
is kept, durability on power loss is not). zstd_level: for codec='zstd' sections.
compress_index: store the index zstd-compressed when smaller.)doc")
      .def(
          "add_layer",
          [](PyWriter& w, const std::string& name, const py::handle& weights, double keep,
             const py::object& mask, uint32_t clusters, const py::object& t, double max_fp,
             const std::string& kind, const std::string& hash, const std::string& storage,
             int seeds, uint64_t base_seed, const std::string& cluster_method,
             const py::object& cost, const py::object& column_energy, int threads,
             const py::object& retrain, const py::object& codec) {
            const RetrainInfo r = RetrainFromPython(retrain);
            const Codec c = ParseCodec(codec);
            std::shared_ptr<EncodedLayer> layer =
                EncodeArray(weights, keep, mask, clusters, t, max_fp, kind, hash, storage, seeds,
                            base_seed, cluster_method, cost, column_energy, threads);
            w.AddEncoded(name, *layer, r, c);
            return EncodeStatsDict(layer->stats);
          },
          py::arg("name"), py::arg("weights"), py::kw_only(), WEIGHTLESS_ENCODE_ARGS,
          py::arg("retrain") = py::none(), py::arg("codec") = py::none(),
          (std::string(R"doc(
Encodes `weights` (see weightless.encode) and stores the layer. Returns the encoding
statistics (a dict, as EncodedLayer.stats).

retrain: None or a dict {encode_order, epochs_after, accuracy_before_encoding,
   accuracy_after_encoding, accuracy_after_retraining} recording where the layer sits
   in the Weightless procedure.
codec: None / 'none', or 'zstd' to compress the payload.)doc") +
           kEncodeArgsDoc)
              .c_str())
      .def(
          "add_encoded",
          [](PyWriter& w, const std::string& name, const EncodedLayer& layer,
             const py::object& retrain, const py::object& codec) {
            w.AddEncoded(name, layer, RetrainFromPython(retrain), ParseCodec(codec));
          },
          py::arg("name"), py::arg("layer"), py::kw_only(), py::arg("retrain") = py::none(),
          py::arg("codec") = py::none(),
          "Stores a layer made by weightless.encode or encode_codes (retrain and codec as in "
          "add_layer).")
      .def("add_tensor", &PyWriter::AddTensor, py::arg("name"), py::arg("array"), py::kw_only(),
           py::arg("dtype") = py::none(), py::arg("codec") = py::none(),
           py::arg("int8_scale") = py::none(), R"doc(
Stores a plain (dense) tensor of any shape of rank 0..8, e.g. a bias.

dtype: 'float32' (exact), 'float16' or 'bfloat16' (rounded to nearest even), 'int8'
   (value / int8_scale rounded and clamped to -127..127), or a numpy dtype. None stores
   float16 arrays as float16 and everything else as float32.
int8_scale: for int8; None uses max(|array|) / 127.
codec: None / 'none', or 'zstd'.)doc")
      .def("set_metadata", &PyWriter::SetMetadata, py::arg("key"), py::arg("value"),
           "Sets a model metadata entry (str, int, float or bool), replacing an earlier value "
           "of the same key.")
      .def("finish", &PyWriter::Finish,
           "Writes the index and trailer, syncs and renames the file into place. The writer "
           "is closed afterwards.")
      .def("abandon", &PyWriter::Abandon,
           "Stops writing: no file appears at the path. Safe to call more than once.")
      .def_property_readonly("bytes_written", &PyWriter::bytes_written)
      .def_property_readonly("closed", &PyWriter::closed, "True once finished or abandoned.")
      .def_property_readonly("path", &PyWriter::path)
      .def("__enter__", [](py::object self) { return self; })
      .def(
          "__exit__",
          [](PyWriter& w, const py::object& exc_type, const py::object&, const py::object&) {
            if (!exc_type.is_none()) {
              w.Abandon();
            } else if (!w.closed()) {
              w.Finish();
            }
            return false;
          },
          "Finishes the file, or abandons it when the block raised.")
      .def("__repr__", [](PyWriter& w) {
        return "<weightless.Writer '" + py::str(w.path()).cast<std::string>() + "'" +
               (w.closed() ? " closed>" : ">");
      });
}

}  // namespace

void BindWriting(py::module_& m) {
  BindEncodedLayer(m);
  BindWriter(m);
  m.def(
      "encode",
      [](const py::handle& weights, double keep, const py::object& mask, uint32_t clusters,
         const py::object& t, double max_fp, const std::string& kind, const std::string& hash,
         const std::string& storage, int seeds, uint64_t base_seed,
         const std::string& cluster_method, const py::object& cost, const py::object& column_energy,
         int threads) {
        return EncodeArray(weights, keep, mask, clusters, t, max_fp, kind, hash, storage, seeds,
                           base_seed, cluster_method, cost, column_energy, threads);
      },
      py::arg("weights"), py::kw_only(), WEIGHTLESS_ENCODE_ARGS,
      (std::string(R"doc(
Encodes a layer as Weightless does: magnitude pruning, weight sharing (k-means), then a
retrieval table of the kept weights' cluster codes (or bit-packed codes where smaller),
trying `seeds` tables. Returns an EncodedLayer. The GIL is released while encoding.
)doc") +
       kEncodeArgsDoc)
          .c_str());
  m.def("encode_codes", &EncodeCodesArray, py::arg("codes"), py::arg("centroids"),
        py::arg("t") = py::none(), py::arg("max_false_positive_rate") = 0.06,
        py::arg("kind") = "ribbon", py::arg("hash") = "auto", py::arg("storage") = "auto",
        py::arg("seeds") = 1, py::arg("base_seed") = 0, py::arg("cost") = py::none(),
        py::arg("column_energy") = py::none(), py::arg("threads") = 0,
        py::arg("shape") = py::none(), kEncodeCodesDoc);
  m.def(
      "default_int8_scale",
      [](const py::handle& values) {
        const py::array_t<float, py::array::c_style> a = AsFloat32(values);
        return DefaultInt8Scale(a.data(), static_cast<uint64_t>(a.size()));
      },
      py::arg("values"), R"doc(
The int8 scale Writer.add_tensor uses when none is given: the largest finite magnitude
maps to 127; 1.0 when no value is finite and non-zero.)doc");
  m.def(
      "round_to_stored",
      [](const py::handle& values, const py::handle& dtype, const py::object& int8_scale) {
        const DType stored = ParseDType(dtype);
        const py::array_t<float, py::array::c_style> in = AsFloat32(values);
        py::array_t<float> out(std::vector<py::ssize_t>(in.shape(), in.shape() + in.ndim()));
        const uint64_t n = static_cast<uint64_t>(in.size());
        if (n > 0) std::memcpy(out.mutable_data(), in.data(), n * sizeof(float));
        float scale = 1.0f;
        if (stored == DType::kInt8) {
          scale = int8_scale.is_none() ? DefaultInt8Scale(out.data(), n) : int8_scale.cast<float>();
          if (!(std::isfinite(scale) && scale > 0)) {
            ThrowIfError(Status::InvalidArgument("int8_scale must be finite and positive"));
          }
        }
        RoundToStored(out.mutable_data(), n, stored, scale);
        return out;
      },
      py::arg("values"), py::arg("dtype"), py::arg("int8_scale") = py::none(), R"doc(
A float32 copy of `values` (same shape) rounded to what a reader gets back once they are
stored as `dtype` ('float32', 'float16', 'bfloat16' or 'int8', with int8_scale, default
default_int8_scale(values)): the writer's own arithmetic, so that a trainer can evaluate
exactly the model it will store.)doc");
}

#undef WEIGHTLESS_ENCODE_ARGS

}  // namespace python
}  // namespace weightless
