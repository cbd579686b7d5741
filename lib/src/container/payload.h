// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Encoding and decoding of the payloads that are not retrieval tables
// (spec/FORMAT.md, "Payloads"): dense tensor elements and bit-packed codes.

#ifndef WEIGHTLESS_CONTAINER_PAYLOAD_H_
#define WEIGHTLESS_CONTAINER_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "weightless/tensor.h"

namespace weightless {
namespace container {

// Little-endian elements of `dtype` for `count` float32 values (see Writer::AddDense).
std::vector<uint8_t> EncodeDense(const float* values, uint64_t count, DType dtype,
                                 float int8_scale);
// Decodes elements [begin, end) of a dense payload to float32.
// REQUIRES: payload holds at least end elements of dtype.
void DecodeDense(const uint8_t* payload, DType dtype, float int8_scale, uint64_t begin,
                 uint64_t end, float* out);

// Bytes of `count` codes of `bits` bits.
inline uint64_t PackedCodesBytes(uint64_t count, int bits) {
  return (count * static_cast<uint64_t>(bits) + 7) / 8;
}
// Code i occupies bits [i*bits, (i+1)*bits), least significant bit first.
std::vector<uint8_t> PackCodes(const uint16_t* codes, uint64_t count, int bits);
uint32_t UnpackCode(const uint8_t* payload, uint64_t index, int bits);
// out[i - begin] = centroids[code_i - 1] for code_i in 1..k, else 0.
void DecodePackedCodes(const uint8_t* payload, int bits, const float* centroids, uint32_t k,
                       uint64_t begin, uint64_t end, float* out);

}  // namespace container
}  // namespace weightless

#endif  // WEIGHTLESS_CONTAINER_PAYLOAD_H_
