// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "host_tensor.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "weightless/tensor.h"

namespace wl_tools {

using weightless::Result;
using weightless::Status;

const char* ElementTypeName(ElementType type) {
  switch (type) {
    case ElementType::kF64:
      return "F64";
    case ElementType::kF32:
      return "F32";
    case ElementType::kF16:
      return "F16";
    case ElementType::kBF16:
      return "BF16";
    case ElementType::kOther:
      break;
  }
  return "other";
}

size_t ElementSize(ElementType type) {
  switch (type) {
    case ElementType::kF64:
      return 8;
    case ElementType::kF32:
      return 4;
    case ElementType::kF16:
    case ElementType::kBF16:
      return 2;
    case ElementType::kOther:
      break;
  }
  return 0;
}

uint64_t HostTensor::element_count() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

Result<std::vector<float>> HostTensor::ToFloat32() const {
  const size_t size = ElementSize(type);
  if (size == 0) {
    return Status::InvalidArgument("tensor '" + name + "': element type " + declared_type +
                                   " is not one Weightless stores (F32, F16, BF16, F64)");
  }
  const uint64_t n = element_count();
  if (bytes.size() != n * size) {
    return Status::Internal("tensor '" + name + "': byte count does not match its shape");
  }
  std::vector<float> out(n);
  const uint8_t* p = bytes.data();
  for (uint64_t i = 0; i < n; ++i, p += size) {
    uint64_t bits = 0;
    for (size_t b = 0; b < size; ++b) bits |= uint64_t{p[b]} << (8 * b);
    switch (type) {
      case ElementType::kF64: {
        double d;
        std::memcpy(&d, &bits, 8);
        out[i] = static_cast<float>(d);
        if (std::isfinite(d) && !std::isfinite(out[i])) {
          char value[32];
          std::snprintf(value, sizeof value, "%.17g", d);
          return Status::InvalidArgument("tensor '" + name + "': F64 value " + value +
                                         " at index " + std::to_string(i) +
                                         " is outside float32's range");
        }
        break;
      }
      case ElementType::kF32: {
        const uint32_t w = static_cast<uint32_t>(bits);
        std::memcpy(&out[i], &w, 4);
        break;
      }
      case ElementType::kF16:
        out[i] = weightless::HalfToFloat(static_cast<uint16_t>(bits));
        break;
      case ElementType::kBF16:
        out[i] = weightless::BFloat16ToFloat(static_cast<uint16_t>(bits));
        break;
      case ElementType::kOther:
        break;
    }
  }
  return out;
}

Result<uint64_t> CheckedElementCount(const std::vector<uint64_t>& shape, size_t element_size,
                                     const std::string& what) {
  constexpr uint64_t kMax = uint64_t{1} << 62;
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d != 0 && n > kMax / d) {
      return Status::InvalidArgument(what + ": the shape's element count overflows");
    }
    n *= d;
  }
  if (element_size != 0 && n > kMax / element_size) {
    return Status::InvalidArgument(what + ": the shape's byte size overflows");
  }
  return n;
}

}  // namespace wl_tools
