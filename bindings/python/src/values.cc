// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "values.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

#include "errors.h"

namespace py = pybind11;

namespace weightless {
namespace python {
namespace {

[[noreturn]] void ThrowInvalid(const std::string& what) {
  throw StatusError(Status::InvalidArgument(what));
}

// A stored float32 accuracy as the Python float of its shortest decimal form, so that
// 0.9f reads back as 0.9 rather than 0.8999999761581421; None when unknown (NaN).
py::object OptionalAccuracy(float value) {
  if (std::isnan(value)) return py::none();
  char text[32];
  const std::to_chars_result written = std::to_chars(text, text + sizeof text, value);
  double shortest = value;
  std::from_chars(text, written.ptr, shortest);
  return py::float_(shortest);
}

float AccuracyFromPython(const py::handle& value) {
  if (value.is_none()) return std::numeric_limits<float>::quiet_NaN();
  return value.cast<float>();
}

}  // namespace

std::string PathArg(const py::handle& path) {
  py::bytes encoded = py::module_::import("os").attr("fsencode")(path);
  return std::string(encoded);
}

py::tuple ShapeTuple(const std::vector<uint64_t>& shape) {
  py::tuple out(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) out[d] = py::int_(shape[d]);
  return out;
}

std::vector<py::ssize_t> ArrayShape(const std::vector<uint64_t>& shape) {
  return std::vector<py::ssize_t>(shape.begin(), shape.end());
}

py::array_t<float> FloatArray(const std::vector<float>& values) {
  py::array_t<float> out(static_cast<py::ssize_t>(values.size()));
  if (!values.empty()) {
    std::memcpy(out.mutable_data(), values.data(), values.size() * sizeof(float));
  }
  return out;
}

py::array_t<float, py::array::c_style> AsFloat32(const py::handle& array_like) {
  py::object numpy = py::module_::import("numpy");
  // asarray converts lists and other dtypes with numpy's own error messages, and
  // returns a float32 C-contiguous array unchanged.
  return numpy.attr("asarray")(array_like, numpy.attr("float32"), "C")
      .cast<py::array_t<float, py::array::c_style>>();
}

FloatInput CopyFloat32(const py::handle& array_like) {
  const py::array_t<float, py::array::c_style> array = AsFloat32(array_like);
  FloatInput input;
  input.shape.assign(array.shape(), array.shape() + array.ndim());
  input.values.assign(array.data(), array.data() + array.size());
  return input;
}

namespace {

// Appends the values of a C-contiguous integer array as uint16 codes; returns the flat
// index of the first value outside 0..65535, or -1.
template <typename Int>
py::ssize_t AppendCodes(const py::array& array, std::vector<uint16_t>* codes) {
  const Int* values = static_cast<const Int*>(array.data());
  const py::ssize_t n = array.size();
  codes->resize(static_cast<size_t>(n));
  for (py::ssize_t i = 0; i < n; ++i) {
    const Int v = values[i];
    if constexpr (std::is_signed_v<Int>) {
      if (v < 0) return i;
    }
    if (static_cast<uint64_t>(v) > 65535) return i;
    (*codes)[static_cast<size_t>(i)] = static_cast<uint16_t>(v);
  }
  return -1;
}

}  // namespace

CodesInput CopyCodes(const py::handle& codes, const py::handle& shape) {
  py::object numpy = py::module_::import("numpy");
  const py::array original = numpy.attr("asarray")(codes);
  // The same array when it already is C-contiguous (no copy).
  const py::array array = numpy.attr("ascontiguousarray")(original);
  CodesInput input;
  py::ssize_t bad = -1;
  const bool integers = WithIntegerType(
      array.dtype(), [&](auto zero) { bad = AppendCodes<decltype(zero)>(array, &input.codes); });
  if (!integers) {
    throw py::type_error("codes must be an array of integers, not of " +
                         std::string(py::str(array.dtype())));
  }
  if (bad >= 0) {
    ThrowInvalid("code at index " + std::to_string(bad) + " is " +
                 std::string(py::str(array.attr("reshape")(-1)[py::int_(bad)])) +
                 ": codes are 0..K, K <= 65535");
  }
  if (shape.is_none()) {
    input.shape.assign(original.shape(), original.shape() + original.ndim());
  } else {
    for (const py::handle d : shape) input.shape.push_back(d.cast<uint64_t>());
    // The product, computed in Python's integers (no overflow).
    py::object n = py::int_(1);
    for (uint64_t d : input.shape) n = n * py::int_(d);
    if (!n.equal(py::int_(input.codes.size()))) {
      ThrowInvalid("shape holds " + std::string(py::str(n)) + " weights, codes has " +
                   std::to_string(input.codes.size()));
    }
  }
  return input;
}

py::object MetadataToPython(const MetadataValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return py::str(*s);
  if (const auto* i = std::get_if<int64_t>(&value)) return py::int_(*i);
  if (const auto* d = std::get_if<double>(&value)) return py::float_(*d);
  return py::bool_(std::get<bool>(value));
}

MetadataValue MetadataFromPython(const py::handle& value) {
  py::object numpy = py::module_::import("numpy");
  if (PyBool_Check(value.ptr()) || py::isinstance(value, numpy.attr("bool_"))) {
    return static_cast<bool>(PyObject_IsTrue(value.ptr()));
  }
  if (PyUnicode_Check(value.ptr())) return value.cast<std::string>();
  if (PyLong_Check(value.ptr()) || py::isinstance(value, numpy.attr("integer"))) {
    py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(value.ptr()));
    if (!index) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow != 0) {
      throw py::value_error("metadata integer does not fit in a signed 64-bit integer");
    }
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    return static_cast<int64_t>(v);
  }
  if (PyFloat_Check(value.ptr()) || py::isinstance(value, numpy.attr("floating"))) {
    return PyFloat_AsDouble(value.ptr());
  }
  throw py::type_error("a metadata value must be a str, int, float or bool, not " +
                       std::string(py::str(py::type::handle_of(value).attr("__name__"))));
}

py::dict LayerStatsDict(const TensorInfo& info) {
  py::dict d;
  d["kept"] = info.stats.kept;
  d["false_positives"] = info.stats.false_positives;
  d["false_positive_rate"] = info.stats.false_positive_rate(info.element_count());
  d["added_squared_error"] = info.stats.added_squared_error;
  return d;
}

py::dict EncodeStatsDict(const EncodeStats& s) {
  py::dict d;
  d["weights"] = s.weights;
  d["kept"] = s.kept;
  d["clusters"] = s.clusters;
  d["value_bits"] = s.value_bits;
  d["false_positives"] = s.false_positives;
  d["false_positive_rate"] = s.false_positive_rate;
  d["clustering_squared_error"] = s.clustering_squared_error;
  d["added_squared_error"] = s.added_squared_error;
  d["added_activation_error"] = s.added_activation_error;
  d["bits"] = s.bits;
  d["bits_per_kept_weight"] = s.bits_per_kept_weight;
  d["compression_ratio"] = s.compression_ratio;
  d["seeds_tried"] = s.seeds_tried;
  d["chosen_seed"] = s.chosen_seed;
  d["first_seed_cost"] = s.first_seed_cost;
  d["chosen_cost"] = s.chosen_cost;
  return d;
}

py::object RetrainDict(const RetrainInfo& r) {
  if (r.encode_order < 0) return py::none();
  py::dict d;
  d["encode_order"] = r.encode_order;
  d["epochs_after"] = r.epochs_after;
  d["accuracy_before_encoding"] = OptionalAccuracy(r.accuracy_before_encoding);
  d["accuracy_after_encoding"] = OptionalAccuracy(r.accuracy_after_encoding);
  d["accuracy_after_retraining"] = OptionalAccuracy(r.accuracy_after_retraining);
  return std::move(d);
}

RetrainInfo RetrainFromPython(const py::handle& value) {
  RetrainInfo r;
  if (value.is_none()) return r;
  if (!PyDict_Check(value.ptr())) throw py::type_error("retrain must be a dict or None");
  for (const auto& item : py::reinterpret_borrow<py::dict>(value)) {
    const std::string key = py::str(item.first);
    if (key == "encode_order") {
      r.encode_order = item.second.cast<int32_t>();
    } else if (key == "epochs_after") {
      r.epochs_after = item.second.cast<int32_t>();
    } else if (key == "accuracy_before_encoding") {
      r.accuracy_before_encoding = AccuracyFromPython(item.second);
    } else if (key == "accuracy_after_encoding") {
      r.accuracy_after_encoding = AccuracyFromPython(item.second);
    } else if (key == "accuracy_after_retraining") {
      r.accuracy_after_retraining = AccuracyFromPython(item.second);
    } else {
      ThrowInvalid("retrain: unknown key '" + key +
                   "' (expected encode_order, epochs_after, accuracy_before_encoding, "
                   "accuracy_after_encoding, accuracy_after_retraining)");
    }
  }
  return r;
}

namespace {

// The library's parse of `name` (its one name table); an older spelling is accepted
// with a DeprecationWarning naming the current one.
template <typename Enum, typename Parse, typename Name>
Enum ParseNamed(const std::string& name, Parse parse, Name name_of) {
  const Enum value = ValueOrThrow(parse(name));
  const std::string current = name_of(value);
  if (name != current) {
    const std::string warning = "'" + name + "' is an older spelling of '" + current + "'";
    if (PyErr_WarnEx(PyExc_DeprecationWarning, warning.c_str(), 1) != 0) {
      throw py::error_already_set();
    }
  }
  return value;
}

}  // namespace

Codec ParseCodec(const py::handle& value) {
  if (value.is_none()) return Codec::kNone;
  return ParseNamed<Codec>(py::str(value), weightless::ParseCodec, CodecName);
}

DType ParseDType(const py::handle& value) {
  std::string name;
  if (PyUnicode_Check(value.ptr())) {
    name = value.cast<std::string>();
  } else {
    name = py::str(py::module_::import("numpy").attr("dtype")(value).attr("name"));
  }
  return ParseNamed<DType>(name, weightless::ParseDType, DTypeName);
}

RetrievalKind ParseKind(const std::string& name) {
  return ParseNamed<RetrievalKind>(name, ParseRetrievalKind, RetrievalKindName);
}

LayerStorage ParseLayerStorage(const std::string& name) {
  return ParseNamed<LayerStorage>(name, weightless::ParseLayerStorage, LayerStorageName);
}

ClusterMethod ParseClusterMethod(const std::string& name) {
  return ParseNamed<ClusterMethod>(name, weightless::ParseClusterMethod, ClusterMethodName);
}

FalsePositiveCostKind ParseCostKind(const std::string& name) {
  if (!weightless::ParseFalsePositiveCostKind(name).ok()) {
    ThrowInvalid("cost must be 'squared_error', 'activation', a function or None, not '" + name +
                 "'");
  }
  return ParseNamed<FalsePositiveCostKind>(name, weightless::ParseFalsePositiveCostKind,
                                           FalsePositiveCostKindName);
}

}  // namespace python
}  // namespace weightless
