// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Dense storage (spec/FORMAT.md, "Payloads"): every element, little-endian, in the
// tensor's dtype; and the int8 rule of weightless/tensor.h.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/endian.h"
#include "container/file_layout.h"
#include "section/storage.h"

namespace weightless {

int8_t QuantizeInt8(float value, float int8_scale) {
  float q = std::nearbyint(value / int8_scale);
  if (!(q >= -127.0f)) q = -127.0f;  // also maps NaN to -127
  if (q > 127.0f) q = 127.0f;
  return static_cast<int8_t>(q);
}

float DefaultInt8Scale(const float* values, uint64_t n) {
  float largest = 0.0f;
  for (uint64_t i = 0; i < n; ++i) {
    if (std::isfinite(values[i])) largest = std::max(largest, std::fabs(values[i]));
  }
  // A largest magnitude below 127 * the smallest subnormal would give a scale of 0;
  // 1 then stores those values as 0 (they are within 1e-43 of it).
  const float scale = largest / 127.0f;
  return scale > 0.0f ? scale : 1.0f;
}

void RoundToStored(float* values, uint64_t n, DType dtype, float int8_scale) {
  for (uint64_t i = 0; i < n; ++i) {
    float& v = values[i];
    switch (dtype) {
      case DType::kFloat32:
        return;
      case DType::kFloat16:
        v = HalfToFloat(FloatToHalf(v));
        break;
      case DType::kBFloat16:
        v = BFloat16ToFloat(FloatToBFloat16(v));
        break;
      case DType::kInt8:
        v = int8_scale * static_cast<float>(QuantizeInt8(v, int8_scale));
        break;
    }
  }
}

namespace section {

void EncodeDense(const float* values, uint64_t count, DType dtype, float int8_scale, uint8_t* out) {
  for (uint64_t i = 0; i < count; ++i) {
    switch (dtype) {
      case DType::kFloat32: {
        uint32_t u;
        std::memcpy(&u, &values[i], 4);
        StoreLE32(out + 4 * i, u);
        break;
      }
      case DType::kFloat16:
      case DType::kBFloat16: {
        const uint16_t h =
            dtype == DType::kFloat16 ? FloatToHalf(values[i]) : FloatToBFloat16(values[i]);
        out[2 * i] = static_cast<uint8_t>(h);
        out[2 * i + 1] = static_cast<uint8_t>(h >> 8);
        break;
      }
      case DType::kInt8:
        out[i] = static_cast<uint8_t>(QuantizeInt8(values[i], int8_scale));
        break;
    }
  }
}

namespace {

Result<uint64_t> DenseSize(const TensorInfo& info) {
  const uint64_t width = DTypeSize(info.dtype);
  if (width == 0) {
    return container::Corrupt(FileError::kBadEnum,
                              Where(info) + ": dtype " +
                                  std::to_string(static_cast<int>(info.dtype)) + " has no meaning");
  }
  if (info.dtype == DType::kInt8 && !(std::isfinite(info.int8_scale) && info.int8_scale > 0)) {
    return container::Corrupt(FileError::kBadEncoding,
                              Where(info) + ": int8_scale must be finite and positive");
  }
  return info.element_count() * width;
}

Status OpenDense(const TensorInfo&, const uint8_t*, uint64_t, std::optional<RetrievalView>*) {
  return Status::OK();  // every bit pattern is an element
}

Status DecodeDenseFloats(const SectionView& view, uint64_t begin, uint64_t end, float* out, int) {
  const TensorInfo& t = view.info();
  const uint8_t* payload = view.data();
  for (uint64_t i = begin; i < end; ++i) {
    float v = 0;
    switch (t.dtype) {
      case DType::kFloat32: {
        const uint32_t u = LoadLE32(payload + 4 * i);
        std::memcpy(&v, &u, 4);
        break;
      }
      case DType::kFloat16:
      case DType::kBFloat16: {
        const uint16_t h = static_cast<uint16_t>(payload[2 * i] | payload[2 * i + 1] << 8);
        v = t.dtype == DType::kFloat16 ? HalfToFloat(h) : BFloat16ToFloat(h);
        break;
      }
      case DType::kInt8:
        v = t.int8_scale * static_cast<float>(static_cast<int8_t>(payload[i]));
        break;
    }
    out[i - begin] = v;
  }
  return Status::OK();
}

Status CheckDenseValues(const SectionView&) { return Status::OK(); }

Status ReadDenseWindow(const TensorInfo& info, uint64_t begin, uint64_t end, const ReadFn& read,
                       std::vector<uint8_t>* window, uint64_t* first) {
  const uint64_t width = DTypeSize(info.dtype);
  window->resize((end - begin) * width);
  *first = begin;
  return read(begin * width, window->size(), window->data());
}

}  // namespace

const StorageOps kDenseOps = {
    DenseSize, OpenDense, DecodeDenseFloats, nullptr, CheckDenseValues, ReadDenseWindow, nullptr};

}  // namespace section
}  // namespace weightless
