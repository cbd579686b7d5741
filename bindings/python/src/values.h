// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Conversions between the library's values and Python's: paths, shapes, numpy arrays,
// metadata values, statistics and retraining records, and the names of enums.
// Every function here needs the GIL. Bad arguments raise InvalidArgumentError (a
// ValueError) or TypeError.

#ifndef WEIGHTLESS_BINDINGS_PYTHON_VALUES_H_
#define WEIGHTLESS_BINDINGS_PYTHON_VALUES_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "weightless/encoder.h"
#include "weightless/tensor.h"

namespace weightless {
namespace python {

// The file-system bytes of a str, bytes or os.PathLike path (os.fsencode).
std::string PathArg(const pybind11::handle& path);

// Array shapes: the tuple Python shows and the dimensions numpy allocates.
pybind11::tuple ShapeTuple(const std::vector<uint64_t>& shape);
std::vector<pybind11::ssize_t> ArrayShape(const std::vector<uint64_t>& shape);

// A new float32 numpy array holding `values`.
pybind11::array_t<float> FloatArray(const std::vector<float>& values);

// A C-contiguous float32 copy of an array-like's values, and its shape: a copy the
// library can read with the GIL released while Python threads change the original.
struct FloatInput {
  std::vector<float> values;
  std::vector<uint64_t> shape;
};
FloatInput CopyFloat32(const pybind11::handle& array_like);

// A float32 C-contiguous array of an array-like's values for the library to read in
// place: the array itself when it already is one (no copy), else numpy's conversion.
// For large inputs read once with the GIL released; a Python thread that changes the
// original meanwhile gets a meaningless result (never a crash), as with numpy's own
// functions.
pybind11::array_t<float, pybind11::array::c_style> AsFloat32(const pybind11::handle& array_like);

// Calls fn(T{}) with T the C++ integer type of `dtype` (signed or unsigned, of 1, 2, 4
// or 8 bytes) and returns true; returns false for any other dtype.
template <typename Fn>
bool WithIntegerType(const pybind11::dtype& dtype, Fn&& fn) {
  const char kind = dtype.kind();
  if (kind != 'u' && kind != 'i') return false;
  const bool is_signed = kind == 'i';
  switch (dtype.itemsize()) {
    case 1:
      is_signed ? fn(int8_t{}) : fn(uint8_t{});
      return true;
    case 2:
      is_signed ? fn(int16_t{}) : fn(uint16_t{});
      return true;
    case 4:
      is_signed ? fn(int32_t{}) : fn(uint32_t{});
      return true;
    case 8:
      is_signed ? fn(int64_t{}) : fn(uint64_t{});
      return true;
    default:
      return false;
  }
}

// Layer codes (0 = pruned, c = centroid c - 1) copied from an integer array-like (any
// integer dtype, converted in one pass with no temporaries besides the copy), and
// their shape: the array's, or `shape` when that is not None (then it must hold as many
// values as the array, which may have any shape). A value outside 0..65535 is refused
// naming its flat index; the library checks the codes against K.
struct CodesInput {
  std::vector<uint16_t> codes;
  std::vector<uint64_t> shape;
};
CodesInput CopyCodes(const pybind11::handle& codes, const pybind11::handle& shape);

// Metadata values: str, int (int64), float, bool, and numpy scalars of those kinds.
pybind11::object MetadataToPython(const MetadataValue& value);
MetadataValue MetadataFromPython(const pybind11::handle& value);

// {"kept", "false_positives", "false_positive_rate", "added_squared_error"}.
pybind11::dict LayerStatsDict(const TensorInfo& info);
// Every field of EncodeStats, by its C++ name.
pybind11::dict EncodeStatsDict(const EncodeStats& stats);
// {"encode_order", "epochs_after", "accuracy_*"} with None for unknown accuracies, or
// None when the layer was not part of a retraining run (encode_order < 0).
pybind11::object RetrainDict(const RetrainInfo& retrain);
// The reverse; None gives the default RetrainInfo. Unknown keys are refused.
RetrainInfo RetrainFromPython(const pybind11::handle& value);

// Enums by name: "none" / "zstd" (or None); "float32", "float16", "bfloat16", "int8"
// (or a numpy dtype); "ribbon" / "bloomier"; "auto", "retrieval", "packed-codes";
// "optimal", "linear"; "squared_error", "activation".
Codec ParseCodec(const pybind11::handle& value);
DType ParseDType(const pybind11::handle& value);
RetrievalKind ParseKind(const std::string& name);
LayerStorage ParseLayerStorage(const std::string& name);
ClusterMethod ParseClusterMethod(const std::string& name);
FalsePositiveCostKind ParseCostKind(const std::string& name);

}  // namespace python
}  // namespace weightless

#endif  // WEIGHTLESS_BINDINGS_PYTHON_VALUES_H_
