// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "container/payload.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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

namespace container {

std::vector<uint8_t> EncodeDense(const float* values, uint64_t count, DType dtype,
                                 float int8_scale) {
  std::vector<uint8_t> out(count * DTypeSize(dtype));
  uint8_t* p = out.data();
  for (uint64_t i = 0; i < count; ++i) {
    switch (dtype) {
      case DType::kFloat32: {
        uint32_t u;
        std::memcpy(&u, &values[i], 4);
        for (int b = 0; b < 4; ++b) p[4 * i + b] = static_cast<uint8_t>(u >> (8 * b));
        break;
      }
      case DType::kFloat16:
      case DType::kBFloat16: {
        const uint16_t h =
            dtype == DType::kFloat16 ? FloatToHalf(values[i]) : FloatToBFloat16(values[i]);
        p[2 * i] = static_cast<uint8_t>(h);
        p[2 * i + 1] = static_cast<uint8_t>(h >> 8);
        break;
      }
      case DType::kInt8:
        p[i] = static_cast<uint8_t>(QuantizeInt8(values[i], int8_scale));
        break;
    }
  }
  return out;
}

void DecodeDense(const uint8_t* payload, DType dtype, float int8_scale, uint64_t begin,
                 uint64_t end, float* out) {
  for (uint64_t i = begin; i < end; ++i) {
    float v = 0;
    switch (dtype) {
      case DType::kFloat32: {
        const uint8_t* q = payload + 4 * i;
        const uint32_t u = static_cast<uint32_t>(q[0]) | static_cast<uint32_t>(q[1]) << 8 |
                           static_cast<uint32_t>(q[2]) << 16 | static_cast<uint32_t>(q[3]) << 24;
        std::memcpy(&v, &u, 4);
        break;
      }
      case DType::kFloat16:
      case DType::kBFloat16: {
        const uint16_t h = static_cast<uint16_t>(payload[2 * i] | payload[2 * i + 1] << 8);
        v = dtype == DType::kFloat16 ? HalfToFloat(h) : BFloat16ToFloat(h);
        break;
      }
      case DType::kInt8:
        v = int8_scale * static_cast<float>(static_cast<int8_t>(payload[i]));
        break;
    }
    out[i - begin] = v;
  }
}

std::vector<uint8_t> PackCodes(const uint16_t* codes, uint64_t count, int bits) {
  std::vector<uint8_t> out(PackedCodesBytes(count, bits), 0);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t bit = i * static_cast<uint64_t>(bits);
    uint32_t wide = static_cast<uint32_t>(codes[i]) << (bit % 8);  // at most 23 bits
    for (uint64_t byte = bit / 8; wide != 0; ++byte, wide >>= 8) {
      out[byte] |= static_cast<uint8_t>(wide);
    }
  }
  return out;
}

uint32_t UnpackCode(const uint8_t* payload, uint64_t index, int bits) {
  const uint64_t bit = index * static_cast<uint64_t>(bits);
  const uint64_t first = bit / 8;
  const uint64_t last = (bit + static_cast<uint64_t>(bits) - 1) / 8;  // at most first + 2
  uint32_t wide = 0;
  for (uint64_t b = first; b <= last; ++b)
    wide |= static_cast<uint32_t>(payload[b]) << (8 * (b - first));
  return (wide >> (bit % 8)) & ((1u << bits) - 1);
}

void DecodePackedCodes(const uint8_t* payload, int bits, const float* centroids, uint32_t k,
                       uint64_t begin, uint64_t end, float* out) {
  for (uint64_t i = begin; i < end; ++i) {
    const uint32_t code = UnpackCode(payload, i, bits);
    out[i - begin] = (code >= 1 && code <= k) ? centroids[code - 1] : 0.0f;
  }
}

}  // namespace container
}  // namespace weightless
