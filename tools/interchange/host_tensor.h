// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// A tensor as the interchange formats (safetensors, .npy) hold it: a name, a shape and
// row-major little-endian element bytes of one of a few element types. The tools
// convert between these and Weightless tensors; nothing here knows the .wl format.

#ifndef WEIGHTLESS_TOOLS_INTERCHANGE_HOST_TENSOR_H_
#define WEIGHTLESS_TOOLS_INTERCHANGE_HOST_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "weightless/status.h"

namespace wl_tools {

// Element types the interchange formats may declare. Only the floating-point ones can
// become Weightless tensors; the others are named in errors.
enum class ElementType { kF64, kF32, kF16, kBF16, kOther };

// "F32", ... (safetensors spelling); for kOther the declared name is kept in the tensor.
const char* ElementTypeName(ElementType type);
// Bytes per element: 8, 4, 2, 2; 0 for kOther.
size_t ElementSize(ElementType type);

struct HostTensor {
  std::string name;
  std::vector<uint64_t> shape;
  ElementType type = ElementType::kF32;
  std::string declared_type;   // as the file spelled it (e.g. "I64", "<i8")
  std::vector<uint8_t> bytes;  // row-major, little-endian; empty for kOther

  uint64_t element_count() const;
  // The values as float32: exact for F32, F16 and BF16; F64 is rounded to nearest, and a
  // finite F64 value beyond float32's range is an error (naming tensor and index).
  // Fails for kOther, naming the tensor and its declared type.
  weightless::Result<std::vector<float>> ToFloat32() const;
};

// Multiplies the dimensions, failing (naming `what`) if the product overflows 2^63 or
// the byte size of `element_size`-byte elements would.
weightless::Result<uint64_t> CheckedElementCount(const std::vector<uint64_t>& shape,
                                                 size_t element_size, const std::string& what);

}  // namespace wl_tools

#endif  // WEIGHTLESS_TOOLS_INTERCHANGE_HOST_TENSOR_H_
