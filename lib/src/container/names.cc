// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Names of the format's enums, half-precision conversions and TensorInfo helpers.

#include <cstring>

#include "common/name_table.h"
#include "weightless/format.h"
#include "weightless/tensor.h"

namespace weightless {

const char* FeatureName(uint64_t bit) {
  switch (bit) {
    case static_cast<uint64_t>(Feature::kZstd):
      return "zstd";
    case static_cast<uint64_t>(Feature::kBloomier):
      return "bloomier";
    case static_cast<uint64_t>(Feature::kRibbon):
      return "ribbon";
    case static_cast<uint64_t>(Feature::kPackedCodes):
      return "packed-codes";
    case static_cast<uint64_t>(Feature::kFloat16):
      return "float16";
    case static_cast<uint64_t>(Feature::kBFloat16):
      return "bfloat16";
    case static_cast<uint64_t>(Feature::kInt8):
      return "int8";
    case static_cast<uint64_t>(Feature::kZstdIndex):
      return "zstd-index";
    case static_cast<uint64_t>(Feature::kRibbonMix32):
      return "ribbon-mix32";
  }
  return "unknown";
}

const char* FileErrorName(FileError error) {
  switch (error) {
    case FileError::kNone:
      return "none";
    case FileError::kTooSmall:
      return "too_small";
    case FileError::kBadMagic:
      return "bad_magic";
    case FileError::kBadTrailerMagic:
      return "bad_trailer_magic";
    case FileError::kUnsupportedMajor:
      return "unsupported_major";
    case FileError::kReservedNonZero:
      return "reserved_nonzero";
    case FileError::kTrailerChecksum:
      return "trailer_checksum";
    case FileError::kIndexOutOfBounds:
      return "index_out_of_bounds";
    case FileError::kIndexChecksum:
      return "index_checksum";
    case FileError::kIndexInvalid:
      return "index_invalid";
    case FileError::kUnknownFeature:
      return "unknown_feature";
    case FileError::kFeatureMismatch:
      return "feature_mismatch";
    case FileError::kLimitExceeded:
      return "limit_exceeded";
    case FileError::kSectionMisaligned:
      return "section_misaligned";
    case FileError::kSectionOutOfBounds:
      return "section_out_of_bounds";
    case FileError::kSectionOverlap:
      return "section_overlap";
    case FileError::kUnexplainedBytes:
      return "unexplained_bytes";
    case FileError::kSectionSizeMismatch:
      return "section_size_mismatch";
    case FileError::kSectionChecksum:
      return "section_checksum";
    case FileError::kBadEnum:
      return "bad_enum";
    case FileError::kBadName:
      return "bad_name";
    case FileError::kDuplicateName:
      return "duplicate_name";
    case FileError::kBadShape:
      return "bad_shape";
    case FileError::kBadEncoding:
      return "bad_encoding";
    case FileError::kCodecError:
      return "codec_error";
    case FileError::kBadSectionReference:
      return "bad_section_reference";
    case FileError::kIOError:
      return "io_error";
    case FileError::kBadMetadata:
      return "bad_metadata";
  }
  return "unknown";
}

namespace {
constexpr names::Entry<DType> kDTypeNames[] = {
    {DType::kFloat32, "float32"},
    {DType::kFloat16, "float16"},
    {DType::kBFloat16, "bfloat16"},
    {DType::kInt8, "int8"},
};
constexpr names::Entry<Storage> kStorageNames[] = {
    {Storage::kDense, "dense"},
    {Storage::kRetrieval, "retrieval"},
    {Storage::kPackedCodes, "packed-codes"},
};
constexpr names::Entry<Codec> kCodecNames[] = {
    {Codec::kNone, "none"},
    {Codec::kZstd, "zstd"},
};
}  // namespace

const char* DTypeName(DType dtype) { return names::NameOf(kDTypeNames, dtype); }
Result<DType> ParseDType(std::string_view name) { return names::Parse(kDTypeNames, name, "dtype"); }

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat16:
      return 2;
    case DType::kBFloat16:
      return 2;
    case DType::kInt8:
      return 1;
  }
  return 0;
}

const char* StorageName(Storage storage) { return names::NameOf(kStorageNames, storage); }
const char* CodecName(Codec codec) { return names::NameOf(kCodecNames, codec); }
Result<Codec> ParseCodec(std::string_view name) { return names::Parse(kCodecNames, name, "codec"); }

uint64_t TensorInfo::element_count() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // the reader has checked the product for overflow
  return n;
}
uint64_t TensorInfo::rows() const { return shape.empty() ? 1 : shape[0]; }
uint64_t TensorInfo::row_size() const {
  uint64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

Status TensorInfo::CheckRowRange(uint64_t row_begin, uint64_t row_end) const {
  if (row_begin <= row_end && row_end <= rows()) return Status::OK();
  return Status::OutOfRange("tensor '" + name + "': rows [" + std::to_string(row_begin) + ", " +
                            std::to_string(row_end) + ") outside [0, " + std::to_string(rows()) +
                            ")");
}

namespace {
uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

uint16_t FloatToBFloat16(float value) {
  const uint32_t u = FloatBits(value);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  const uint32_t rounding = 0x7FFFu + ((u >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>((u + rounding) >> 16);
}

float BFloat16ToFloat(uint16_t bits) { return BitsFloat(static_cast<uint32_t>(bits) << 16); }

uint16_t FloatToHalf(float value) {
  const uint32_t u = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);   // NaN
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow: inf
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // Add 0.5 (as a float) so that the FPU rounds the mantissa to nearest even.
    const float shifted = BitsFloat(abs) + 0.5f;
    return static_cast<uint16_t>(sign | (FloatBits(shifted) - 0x3F000000u));
  }
  const uint32_t mantissa_odd = (abs >> 13) & 1;
  const uint32_t rounded = abs + 0xC8000FFFu + mantissa_odd;  // rebias exponent, round
  return static_cast<uint16_t>(sign | (rounded >> 13));
}

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0) {
    // Subnormal or zero: mantissa * 2^-24.
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-08f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) return BitsFloat(sign | 0x7F800000u | (mantissa << 13));
  return BitsFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

}  // namespace weightless
