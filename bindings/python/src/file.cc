// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Reading: weightless.open / open_bytes return a File; its Tensors decode to numpy.
//
// A File and every Tensor taken from it share one FileHandle, so a Tensor keeps the
// file open after the File object is gone. File.close() (or leaving a `with` block)
// drops the handle's reader: later calls raise ValueError, while decodes already
// running on other threads keep their own reference and finish normally.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "errors.h"
#include "values.h"
#include "weightless/reader.h"

namespace py = pybind11;

namespace weightless {
namespace python {
namespace {

// A reader and, for open_bytes, the private copy of the caller's bytes it reads.
struct OpenFile {
  std::vector<uint8_t> bytes;
  std::optional<Reader> reader;
};

// Shared by a File and its Tensors. Only touched with the GIL held, which serializes
// Get and Close; Get's result stays valid (and the reader alive) while it is held,
// with or without the GIL.
class FileHandle {
 public:
  explicit FileHandle(std::shared_ptr<const OpenFile> file) : file_(std::move(file)) {}
  std::shared_ptr<const OpenFile> Get() const {
    if (!file_) throw py::value_error("I/O operation on a closed weightless file");
    return file_;
  }
  void Close() { file_.reset(); }
  bool closed() const { return file_ == nullptr; }

 private:
  std::shared_ptr<const OpenFile> file_;
};

struct PyFile {
  std::shared_ptr<FileHandle> handle;
  py::object path;  // str, or None for open_bytes
};

// One stored tensor. Its description is copied at creation, so it stays readable
// after the file is closed; decoding needs the file open.
struct PyTensor {
  std::shared_ptr<FileHandle> handle;
  size_t index = 0;
  TensorInfo info;
};

void CheckThreads(int threads) {
  if (threads < 0) throw py::value_error("threads must be >= 0 (0: one per hardware thread)");
}

PyTensor MakeTensor(const std::shared_ptr<FileHandle>& handle, const Reader& reader, size_t index) {
  return PyTensor{handle, index, reader.tensor(index)};
}

std::vector<PyTensor> Tensors(const PyFile& f, bool layers_only) {
  std::shared_ptr<const OpenFile> file = f.handle->Get();
  std::vector<PyTensor> out;
  for (size_t i = 0; i < file->reader->tensor_count(); ++i) {
    if (layers_only && file->reader->tensor(i).storage == Storage::kDense) continue;
    out.push_back(MakeTensor(f.handle, *file->reader, i));
  }
  return out;
}

// The tensor named `name`, or null when there is none.
std::unique_ptr<PyTensor> FindByName(const PyFile& f, const std::string& name) {
  std::shared_ptr<const OpenFile> file = f.handle->Get();
  Result<size_t> i = file->reader->FindTensor(name);
  if (!i.ok()) {
    if (i.status().IsNotFound()) return nullptr;
    ThrowIfError(i.status());
  }
  return std::make_unique<PyTensor>(MakeTensor(f.handle, *file->reader, *i));
}

PyFile OpenPath(const py::object& path, bool use_mmap, bool verify_checksums, bool partial_reads) {
  const std::string native = PathArg(path);
  ReaderOptions options;
  options.use_mmap = use_mmap;
  options.verify_checksums = verify_checksums;
  options.partial_reads = partial_reads;
  auto file = std::make_shared<OpenFile>();
  Status status;
  {
    py::gil_scoped_release release;
    Result<Reader> reader = Reader::Open(native, options);
    status = reader.status();
    if (reader.ok()) file->reader = std::move(reader).value();
  }
  ThrowIfError(status);
  py::object shown = py::module_::import("os").attr("fsdecode")(path);
  return PyFile{std::make_shared<FileHandle>(std::move(file)), shown};
}

PyFile OpenBytes(const py::object& data, bool verify_checksums) {
  auto file = std::make_shared<OpenFile>();
  {
    Py_buffer view;
    if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) {
      throw py::error_already_set();
    }
    std::unique_ptr<Py_buffer, void (*)(Py_buffer*)> release(&view, PyBuffer_Release);
    const auto* begin = static_cast<const uint8_t*>(view.buf);
    file->bytes.assign(begin, begin + view.len);
  }
  ReaderOptions options;
  options.verify_checksums = verify_checksums;
  Status status;
  {
    py::gil_scoped_release release;
    Result<Reader> reader = Reader::OpenBuffer(file->bytes.data(), file->bytes.size(), options);
    status = reader.status();
    if (reader.ok()) file->reader = std::move(reader).value();
  }
  ThrowIfError(status);
  return PyFile{std::make_shared<FileHandle>(std::move(file)), py::none()};
}

py::array_t<float> Decode(const PyTensor& t, int threads) {
  CheckThreads(threads);
  std::shared_ptr<const OpenFile> file = t.handle->Get();
  py::array_t<float> out(ArrayShape(t.info.shape));
  float* data = out.mutable_data();
  Status status;
  {
    py::gil_scoped_release release;
    status = file->reader->Decode(t.index, data, t.info.element_count(), threads);
  }
  ThrowIfError(status);
  return out;
}

// The shape of rows [begin, end) of t, after checking the range (IndexError).
std::vector<py::ssize_t> RowsShape(const PyTensor& t, int64_t begin, int64_t end) {
  if (begin < 0 || end < 0) {
    throw py::index_error("rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of '" +
                          t.info.name + "': rows count from 0");
  }
  if (Status s = t.info.CheckRowRange(static_cast<uint64_t>(begin), static_cast<uint64_t>(end));
      !s.ok()) {
    throw py::index_error(std::string(s.message()));
  }
  std::vector<py::ssize_t> shape = {static_cast<py::ssize_t>(end - begin)};
  for (size_t d = 1; d < t.info.shape.size(); ++d) {
    shape.push_back(static_cast<py::ssize_t>(t.info.shape[d]));
  }
  return shape;
}

// Rows [begin, end) of t decoded by decode(reader, out, count) with the GIL released
// into a new array of `shape`.
template <typename T, typename DecodeFn>
py::array_t<T> RowsArray(const PyTensor& t, int64_t begin, int64_t end,
                         const std::vector<py::ssize_t>& shape, const DecodeFn& decode) {
  py::array_t<T> out(shape);
  std::shared_ptr<const OpenFile> file = t.handle->Get();
  T* data = out.mutable_data();
  const uint64_t count = static_cast<uint64_t>(end - begin) * t.info.row_size();
  Status status;
  {
    py::gil_scoped_release release;
    status = decode(*file->reader, data, count);
  }
  ThrowIfError(status);
  return out;
}

py::array_t<float> DecodeRows(const PyTensor& t, int64_t begin, int64_t end, int threads) {
  CheckThreads(threads);
  return RowsArray<float>(t, begin, end, RowsShape(t, begin, end),
                          [&](const Reader& r, float* out, uint64_t count) {
                            return r.DecodeRows(t.index, static_cast<uint64_t>(begin),
                                                static_cast<uint64_t>(end), out, count, threads);
                          });
}

py::array_t<uint16_t> DecodeCodeRows(const PyTensor& t, const py::object& begin_arg,
                                     const py::object& end_arg, int threads) {
  CheckThreads(threads);
  if (t.info.storage == Storage::kDense) {  // before allocating a dense tensor's worth
    ThrowIfError(
        Status::InvalidArgument("tensor '" + t.info.name + "' is dense", "it has no codes"));
  }
  const int64_t begin = begin_arg.is_none() ? 0 : begin_arg.cast<int64_t>();
  const int64_t end =
      end_arg.is_none() ? static_cast<int64_t>(t.info.rows()) : end_arg.cast<int64_t>();
  std::vector<py::ssize_t> shape = RowsShape(t, begin, end);
  if (begin_arg.is_none() && end_arg.is_none()) {
    shape.assign(t.info.shape.begin(), t.info.shape.end());  // rank 0 stays rank 0
  }
  return RowsArray<uint16_t>(
      t, begin, end, shape, [&](const Reader& r, uint16_t* out, uint64_t count) {
        return r.DecodeCodeRows(t.index, static_cast<uint64_t>(begin), static_cast<uint64_t>(end),
                                out, count, threads);
      });
}

// A flat row-major index from an int (negative counts from the end) or a tuple with
// one int per dimension (each may be negative, as in numpy).
uint64_t FlatIndex(const TensorInfo& info, const py::handle& index) {
  auto wrap = [&](int64_t i, uint64_t extent) -> uint64_t {
    const int64_t n = static_cast<int64_t>(extent);
    const int64_t w = i < 0 ? i + n : i;
    if (w < 0 || w >= n) {
      throw py::index_error("index " + std::to_string(i) + " is out of range for '" + info.name +
                            "' (extent " + std::to_string(extent) + ")");
    }
    return static_cast<uint64_t>(w);
  };
  if (PyTuple_Check(index.ptr()) || PyList_Check(index.ptr())) {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(index);
    if (seq.size() != info.shape.size()) {
      throw py::index_error("'" + info.name + "' has " + std::to_string(info.shape.size()) +
                            " dimensions, the index has " + std::to_string(seq.size()));
    }
    uint64_t flat = 0;
    for (size_t d = 0; d < info.shape.size(); ++d) {
      flat = flat * info.shape[d] + wrap(seq[d].cast<int64_t>(), info.shape[d]);
    }
    return flat;
  }
  if (PyIndex_Check(index.ptr())) return wrap(index.cast<int64_t>(), info.element_count());
  throw py::type_error("a weight index must be an int or a tuple of ints");
}

float DecodeWeight(const PyTensor& t, const py::handle& index) {
  const uint64_t flat = FlatIndex(t.info, index);
  std::shared_ptr<const OpenFile> file = t.handle->Get();
  Result<float> value = Status::Internal("not decoded");
  {
    py::gil_scoped_release release;
    value = file->reader->DecodeWeight(t.index, flat);
  }
  return ValueOrThrow(std::move(value));
}

std::string ShapeText(const std::vector<uint64_t>& shape) {
  std::string s = "(";
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d > 0) s += ", ";
    s += std::to_string(shape[d]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::string TensorRepr(const PyTensor& t) {
  const TensorInfo& i = t.info;
  std::string s = "<weightless.Tensor '" + i.name + "' shape=" + ShapeText(i.shape) + " " +
                  StorageName(i.storage);
  if (i.storage == Storage::kDense) {
    s += std::string(" ") + DTypeName(i.dtype);
  } else {
    if (i.storage == Storage::kRetrieval)
      s += std::string(" ") + RetrievalKindName(i.retrieval_kind);
    s += " K=" + std::to_string(i.centroids.size()) + " t=" + std::to_string(i.code_bits);
  }
  return s + ">";
}

py::dict Section(const TensorInfo& i) {
  py::dict d;
  d["offset"] = i.section_offset;
  d["stored_bytes"] = i.stored_bytes;
  d["raw_bytes"] = i.raw_bytes;
  d["checksum"] = i.checksum;
  d["codec"] = CodecName(i.codec);
  return d;
}

py::object Retrieval(const TensorInfo& i) {
  if (i.storage != Storage::kRetrieval) return py::none();
  py::dict d;
  d["kind"] = RetrievalKindName(i.retrieval_kind);
  d["hash"] = RetrievalHashName(i.retrieval_hash);
  d["seed"] = i.retrieval_seed;
  d["shard_span"] = i.shard_span;
  d["shard_count"] = i.shard_count;
  d["cells"] = i.cells;
  return std::move(d);
}

void BindTensor(py::module_& m) {
  py::class_<PyTensor>(m, "Tensor", R"doc(
One tensor stored in a weightless File: an encoded layer (storage 'retrieval' or
'packed-codes', written by Writer.add_layer) or a plain tensor (storage 'dense',
written by Writer.add_tensor).

Its description (name, shape, storage, statistics, ...) is read from the file's index
when the Tensor is created and stays readable after the file is closed. decode(),
decode_rows() and weight() read the payload; they release the GIL, so several Python
threads may decode at once. numpy.asarray(tensor) decodes it too.)doc")
      .def_property_readonly("name", [](const PyTensor& t) { return t.info.name; })
      .def_property_readonly(
          "shape", [](const PyTensor& t) { return ShapeTuple(t.info.shape); },
          "The shape, as numpy shows it (row-major).")
      .def_property_readonly("ndim", [](const PyTensor& t) { return t.info.shape.size(); })
      .def_property_readonly(
          "size", [](const PyTensor& t) { return t.info.element_count(); },
          "The number of elements (weights).")
      .def_property_readonly(
          "rows", [](const PyTensor& t) { return t.info.rows(); },
          "shape[0] (1 for a scalar): the unit of decode_rows.")
      .def_property_readonly(
          "row_size", [](const PyTensor& t) { return t.info.row_size(); },
          "Elements per row: the product of shape[1:].")
      .def_property_readonly(
          "storage", [](const PyTensor& t) { return StorageName(t.info.storage); },
          "'dense', 'retrieval' (a retrieval table, with false positives) or 'packed-codes' "
          "(one exact code per weight).")
      .def_property_readonly(
          "is_layer", [](const PyTensor& t) { return t.info.storage != Storage::kDense; },
          "True for an encoded layer (retrieval table or packed codes).")
      .def_property_readonly(
          "dtype", [](const PyTensor& t) { return DTypeName(t.info.dtype); },
          "The stored element type of a dense tensor ('float32', 'float16', 'bfloat16', "
          "'int8'); 'float32' for layers. Decoding always gives float32.")
      .def_property_readonly(
          "int8_scale",
          [](const PyTensor& t) -> py::object {
            if (t.info.storage != Storage::kDense || t.info.dtype != DType::kInt8) {
              return py::none();
            }
            return py::float_(t.info.int8_scale);
          },
          "value = int8_scale * q for an int8 tensor; None otherwise.")
      .def_property_readonly(
          "centroids", [](const PyTensor& t) { return FloatArray(t.info.centroids); },
          "The K shared weight values of a layer (code c decodes to centroids[c - 1]); "
          "empty for a dense tensor.")
      .def_property_readonly(
          "clusters", [](const PyTensor& t) { return t.info.centroids.size(); },
          "K, the number of centroids (0 for a dense tensor).")
      .def_property_readonly(
          "K", [](const PyTensor& t) { return t.info.centroids.size(); }, "Same as clusters.")
      .def_property_readonly(
          "code_bits", [](const PyTensor& t) { return t.info.code_bits; },
          "t, the bits per table cell (retrieval) or per code (packed codes); 0 for dense.")
      .def_property_readonly(
          "t", [](const PyTensor& t) { return t.info.code_bits; }, "Same as code_bits.")
      .def_property_readonly(
          "kind",
          [](const PyTensor& t) -> py::object {
            if (t.info.storage != Storage::kRetrieval) return py::none();
            return py::str(RetrievalKindName(t.info.retrieval_kind));
          },
          "The retrieval encoding, 'ribbon' or 'bloomier'; None unless storage is "
          "'retrieval'.")
      .def_property_readonly(
          "retrieval", [](const PyTensor& t) { return Retrieval(t.info); },
          "The table's parameters {kind, hash, seed, shard_span, shard_count, cells}, or None.")
      .def_property_readonly(
          "stats",
          [](const PyTensor& t) -> py::object {
            if (t.info.storage == Storage::kDense) return py::none();
            return LayerStatsDict(t.info);
          },
          "What encoding cost, as its producer measured: {kept, false_positives, "
          "false_positive_rate (over pruned weights), added_squared_error}; None for a "
          "dense tensor.")
      .def_property_readonly(
          "retrain", [](const PyTensor& t) { return RetrainDict(t.info.retrain); },
          "Where the layer sits in the Weightless procedure: {encode_order, epochs_after, "
          "accuracy_before_encoding, accuracy_after_encoding, accuracy_after_retraining} "
          "(None for an unknown accuracy), or None when not part of a retraining run.")
      .def_property_readonly(
          "section", [](const PyTensor& t) { return Section(t.info); },
          "The payload on disk: {offset, stored_bytes, raw_bytes, checksum, codec}.")
      .def_property_readonly(
          "codec", [](const PyTensor& t) { return CodecName(t.info.codec); },
          "How the payload is compressed: 'none' or 'zstd'.")
      .def("decode", &Decode, py::arg("threads") = 0, R"doc(
Decodes the whole tensor to a new float32 numpy array of its shape.

A retrieval layer decodes every weight as the paper's reader does: kept weights exactly
(their centroid), pruned ones to 0 or, for a false positive, to a centroid.
threads: worker threads (0 = one per hardware thread). The GIL is released.)doc")
      .def("decode_rows", &DecodeRows, py::arg("begin"), py::arg("end"), py::arg("threads") = 0,
           R"doc(
Decodes rows [begin, end) (rows are shape[0]) to a float32 array of shape
(end - begin, *shape[1:]). Only the shards covering those rows are read.
Raises IndexError unless 0 <= begin <= end <= rows.)doc")
      .def("codes", &DecodeCodeRows, py::arg("begin") = py::none(), py::arg("end") = py::none(),
           py::arg("threads") = 0, R"doc(
The codes of a retrieval or packed-codes layer, a uint16 array (of the tensor's shape,
or of rows [begin, end) as decode_rows): c in 1..K where decode() gives
centroids[c - 1] (kept weights and false positives), 0 elsewhere. What a trainer needs
to keep training a stored layer's centroids. Raises InvalidArgumentError for a dense
tensor, IndexError for rows outside the tensor. The GIL is released.)doc")
      .def("weight", &DecodeWeight, py::arg("index"), R"doc(
Decodes one weight: index is a flat row-major int or a tuple with one int per
dimension (negative values count from the end, as in numpy).)doc")
      .def(
          "__array__",
          [](const PyTensor& t, const py::object& dtype, const py::object&) -> py::object {
            py::array_t<float> a = Decode(t, 1);
            if (dtype.is_none()) return std::move(a);
            return a.attr("astype")(dtype);
          },
          py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("__repr__", &TensorRepr);
}

void BindFile(py::module_& m) {
  py::class_<PyFile>(m, "File", R"doc(
An open .wl file (weightless.open or weightless.open_bytes).

Opening reads and checks only the index, so it costs the same for any file size; a
tensor's payload is read and checksum-verified when it is first decoded. The file acts
as a read-only mapping from tensor names to Tensors (in file order):

    with weightless.open("model.wl") as f:
        fc1 = f["fc1"].decode()
        for t in f.layers: print(t.name, t.shape, t.stats)

A File may be used from several threads at once. close() (or leaving the with block)
closes it; Tensors taken from it keep it open until they are gone too, unless it
is closed.)doc")
      .def_property_readonly(
          "tensors", [](const PyFile& f) { return Tensors(f, false); },
          "Every stored tensor, in file order.")
      .def_property_readonly(
          "layers", [](const PyFile& f) { return Tensors(f, true); },
          "The encoded layers (storage 'retrieval' or 'packed-codes'), in file order.")
      .def_property_readonly(
          "names",
          [](const PyFile& f) {
            std::shared_ptr<const OpenFile> file = f.handle->Get();
            std::vector<std::string> names;
            for (size_t i = 0; i < file->reader->tensor_count(); ++i) {
              names.push_back(file->reader->tensor(i).name);
            }
            return names;
          },
          "The tensor names, in file order.")
      .def("__len__", [](const PyFile& f) { return f.handle->Get()->reader->tensor_count(); })
      .def("__iter__", [](const PyFile& f) { return py::iter(py::cast(Tensors(f, false))); })
      .def("__contains__",
           [](const PyFile& f, const py::handle& name) {
             // A lookup only: no tensor description is copied.
             return PyUnicode_Check(name.ptr()) &&
                    f.handle->Get()->reader->FindTensor(name.cast<std::string>()).ok();
           })
      .def(
          "__getitem__",
          [](const PyFile& f, const py::handle& key) -> PyTensor {
            if (PyUnicode_Check(key.ptr())) {
              std::unique_ptr<PyTensor> t = FindByName(f, key.cast<std::string>());
              if (!t) throw py::key_error(key.cast<std::string>());
              return std::move(*t);
            }
            if (!PyIndex_Check(key.ptr())) throw py::type_error("key must be a name or an index");
            std::shared_ptr<const OpenFile> file = f.handle->Get();
            const int64_t n = static_cast<int64_t>(file->reader->tensor_count());
            int64_t i = key.cast<int64_t>();
            if (i < 0) i += n;
            if (i < 0 || i >= n) throw py::index_error("tensor index out of range");
            return MakeTensor(f.handle, *file->reader, static_cast<size_t>(i));
          },
          py::arg("key"), "The tensor with this name (KeyError if none) or at this index.")
      .def(
          "get",
          [](const PyFile& f, const std::string& name, const py::object& fallback) -> py::object {
            std::unique_ptr<PyTensor> t = FindByName(f, name);
            if (!t) return fallback;
            return py::cast(std::move(*t));
          },
          py::arg("name"), py::arg("default") = py::none(),
          "The tensor named `name`, or `default`.")
      .def(
          "release",
          [](const PyFile& f, const py::object& name) {
            std::shared_ptr<const OpenFile> file = f.handle->Get();
            if (name.is_none()) {
              file->reader->ReleaseAll();
              return;
            }
            const std::string n = name.cast<std::string>();
            file->reader->Release(ValueOrThrow(file->reader->FindTensor(n)));
          },
          py::arg("name") = py::none(),
          "Drops what the file keeps of tensor `name` (of every tensor when None): bytes "
          "read with pread or decompressed; the next decode loads it again.")
      .def_property_readonly(
          "cached_bytes", [](const PyFile& f) { return f.handle->Get()->reader->cached_bytes(); },
          "The bytes kept for tensors already decoded (0 for an uncompressed mapped file).")
      .def_property_readonly(
          "bytes_read", [](const PyFile& f) { return f.handle->Get()->reader->bytes_read(); },
          "The bytes read from the file with pread since it was opened (0 when mapped).")
      .def_property_readonly(
          "metadata",
          [](const PyFile& f) {
            std::shared_ptr<const OpenFile> file = f.handle->Get();
            py::dict d;
            for (const MetadataEntry& e : file->reader->metadata()) {
              d[py::str(e.key)] = MetadataToPython(e.value);
            }
            return d;
          },
          "The model metadata as a new dict of str, int, float and bool values.")
      .def_property_readonly(
          "retrain_history",
          [](const PyFile& f) {
            std::vector<PyTensor> layers = Tensors(f, true);
            std::stable_sort(layers.begin(), layers.end(),
                             [](const PyTensor& a, const PyTensor& b) {
                               return a.info.retrain.encode_order < b.info.retrain.encode_order;
                             });
            py::list out;
            for (const PyTensor& t : layers) {
              py::object r = RetrainDict(t.info.retrain);
              if (r.is_none()) continue;
              py::dict d;
              d["name"] = t.info.name;
              for (auto item : py::reinterpret_borrow<py::dict>(r)) d[item.first] = item.second;
              out.append(d);
            }
            return out;
          },
          "The retraining record of every layer that has one, in encoding order: a list "
          "of dicts {name, encode_order, epochs_after, accuracy_before_encoding, "
          "accuracy_after_encoding, accuracy_after_retraining}.")
      .def_property_readonly(
          "format_version",
          [](const PyFile& f) {
            const Reader& r = *f.handle->Get()->reader;
            return py::make_tuple(r.format_major(), r.format_minor());
          },
          "The file format version (major, minor).")
      .def_property_readonly(
          "required_features",
          [](const PyFile& f) { return f.handle->Get()->reader->required_features(); },
          "The required-feature bits of the file (spec/FORMAT.md).")
      .def_property_readonly(
          "producer_name", [](const PyFile& f) { return f.handle->Get()->reader->producer_name(); })
      .def_property_readonly(
          "producer_version",
          [](const PyFile& f) { return f.handle->Get()->reader->producer_version(); })
      .def_property_readonly(
          "producer",
          [](const PyFile& f) {
            const Reader& r = *f.handle->Get()->reader;
            std::string s = r.producer_name();
            if (!r.producer_version().empty()) s += " " + r.producer_version();
            return s;
          },
          "What wrote the file: 'name version'.")
      .def_property_readonly("file_size",
                             [](const PyFile& f) { return f.handle->Get()->reader->file_size(); })
      .def_property_readonly(
          "is_mapped", [](const PyFile& f) { return f.handle->Get()->reader->is_mapped(); },
          "True when the file is memory-mapped (or read from bytes), False for pread.")
      .def_property_readonly(
          "path", [](const PyFile& f) { return f.path; }, "The path opened, or None for bytes.")
      .def(
          "verify",
          [](const PyFile& f) {
            std::shared_ptr<const OpenFile> file = f.handle->Get();
            std::vector<Status> problems;
            {
              py::gil_scoped_release release;
              problems = file->reader->Verify();
            }
            std::vector<std::string> out;
            for (const Status& s : problems) out.push_back(s.ToString());
            return out;
          },
          R"doc(
Checks the whole file: every section's checksum, codec and contents, and that every
byte between sections is zero padding. Returns a list of problems (str), empty when the
file is sound. The GIL is released.)doc")
      .def(
          "to_dict",
          [](const PyFile& f, int threads) {
            py::dict out;
            for (const PyTensor& t : Tensors(f, false))
              out[py::str(t.info.name)] = Decode(t, threads);
            return out;
          },
          py::arg("threads") = 0, "Decodes every tensor: {name: float32 array}.")
      .def(
          "close", [](PyFile& f) { f.handle->Close(); },
          "Closes the file; later reads raise ValueError. Safe to call more than once.")
      .def_property_readonly("closed", [](const PyFile& f) { return f.handle->closed(); })
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__",
           [](PyFile& f, const py::args&) {
             f.handle->Close();
             return false;
           })
      .def("__repr__", [](const PyFile& f) {
        std::string where = f.path.is_none() ? std::string("<bytes>") : f.path.cast<std::string>();
        if (f.handle->closed()) return "<weightless.File '" + where + "' closed>";
        const Reader& r = *f.handle->Get()->reader;
        return "<weightless.File '" + where + "' " + std::to_string(r.tensor_count()) +
               " tensors, " + std::to_string(r.file_size()) + " bytes>";
      });
}

}  // namespace

void BindReading(py::module_& m) {
  BindTensor(m);
  BindFile(m);
  m.def("open", &OpenPath, py::arg("path"), py::kw_only(), py::arg("mmap") = true,
        py::arg("verify_checksums") = true, py::arg("partial_reads") = false, R"doc(
Opens the .wl file at `path` (str, bytes or os.PathLike) and returns a File.

Only the trailer and the index are read and checked. mmap=False reads with pread
instead of mapping the file; verify_checksums=False skips a payload's checksum on first
use (File.verify() always checks). partial_reads=True makes decode_rows and weight read
(or, mapped, touch) only the bytes of the shards they need and keep nothing, without
the section checksum, which covers the whole section (decode() and verify() still
check it); by default their first use loads the section whole. Raises a weightless.Error subclass naming the
problem: FileIOError (also an OSError) when the file cannot be read, CorruptionError
or NotSupportedError when its contents are refused (see the error's file_error).)doc");
  m.def("open_bytes", &OpenBytes, py::arg("data"), py::kw_only(),
        py::arg("verify_checksums") = true, R"doc(
Opens a .wl file held in memory (bytes, bytearray, memoryview or any contiguous
buffer) and returns a File. The bytes are copied, so the caller may change or free
them afterwards.)doc");
}

}  // namespace python
}  // namespace weightless
