// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Plain descriptions of what a .wl file holds, shared by the Writer (what to store)
// and the Reader (what is stored): element types, storage kinds, per-layer statistics
// and retraining metadata, model metadata values, and TensorInfo.
//
// Thread safety: these are values; copies may be used from any thread.

#ifndef WEIGHTLESS_TENSOR_H_
#define WEIGHTLESS_TENSOR_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "weightless/export.h"
#include "weightless/retrieval_kind.h"
#include "weightless/status.h"

namespace weightless {

// Element type of a dense tensor. Values are part of the persistent format.
enum class DType : uint8_t {
  kFloat32 = 1,
  kFloat16 = 2,   // IEEE 754 binary16
  kBFloat16 = 3,  // the top 16 bits of a float32
  kInt8 = 4,      // value = int8_scale * q
};
WEIGHTLESS_EXPORT const char* DTypeName(DType dtype);  // "float32", ...; "unknown"
// The DType named `name` ("float32", "float16", "bfloat16", "int8"), or InvalidArgument
// listing them. These names are the ones every tool and binding accepts.
WEIGHTLESS_EXPORT Result<DType> ParseDType(std::string_view name);
// Bytes per element (1, 2 or 4); 0 for an unknown value.
WEIGHTLESS_EXPORT size_t DTypeSize(DType dtype);

// How a tensor is stored. Values are part of the persistent format.
enum class Storage : uint8_t {
  kDense = 1,        // every element, in `dtype`
  kRetrieval = 2,    // codes in a retrieval table; code c decodes to centroids[c - 1]
  kPackedCodes = 3,  // every weight's code, bit-packed; 0 = pruned
};
WEIGHTLESS_EXPORT const char* StorageName(Storage storage);  // "dense", "retrieval", ...

// How a payload is compressed on disk.
enum class Codec : uint8_t {
  kNone = 0,
  kZstd = 1,
};
WEIGHTLESS_EXPORT const char* CodecName(Codec codec);
// The Codec named `name` ("none", "zstd"), or InvalidArgument listing them.
WEIGHTLESS_EXPORT Result<Codec> ParseCodec(std::string_view name);

// What encoding a layer cost, as measured by its producer.
struct LayerStats {
  uint64_t kept = 0;             // weights stored exactly (the table's keys)
  uint64_t false_positives = 0;  // pruned weights that decode to a non-zero value
  double added_squared_error = 0;

  // The false-positive rate of a layer of `weights` weights: false positives over
  // pruned weights (0 when none is pruned). The one definition every tool reports.
  double false_positive_rate(uint64_t weights) const {
    return weights > kept
               ? static_cast<double>(false_positives) / static_cast<double>(weights - kept)
               : 0.0;
  }
};

// Where a layer sits in the Weightless procedure: encoded in `encode_order` (0 first),
// then the later layers retrained `epochs_after` epochs. Accuracies are fractions in
// [0, 1]; NaN when unknown.
struct RetrainInfo {
  int32_t encode_order = -1;  // -1: not part of a retraining run
  int32_t epochs_after = 0;
  float accuracy_before_encoding = std::numeric_limits<float>::quiet_NaN();
  float accuracy_after_encoding = std::numeric_limits<float>::quiet_NaN();
  float accuracy_after_retraining = std::numeric_limits<float>::quiet_NaN();
};

// A typed model metadata value.
using MetadataValue = std::variant<std::string, int64_t, double, bool>;

struct MetadataEntry {
  std::string key;
  MetadataValue value;
};

// Everything the index says about one stored tensor.
struct TensorInfo {
  std::string name;
  std::vector<uint64_t> shape;
  Storage storage = Storage::kDense;
  DType dtype = DType::kFloat32;  // dense: stored type; otherwise float32 (decoded)
  float int8_scale = 1.0f;        // dense int8 only
  std::vector<float> centroids;   // retrieval and packed codes: K values
  int code_bits = 0;              // retrieval: t; packed codes: bits per code
  // Retrieval only: the table's parameters.
  RetrievalKind retrieval_kind = RetrievalKind::kRibbon;
  RetrievalHash retrieval_hash = RetrievalHash::kXxh3;
  uint64_t retrieval_seed = 0;
  uint64_t shard_span = 0;
  uint64_t shard_count = 0;
  uint64_t cells = 0;
  LayerStats stats;
  RetrainInfo retrain;
  // The payload section: where it is and how big, stored and decoded.
  uint64_t section_offset = 0;
  uint64_t stored_bytes = 0;
  uint64_t raw_bytes = 0;
  uint64_t checksum = 0;
  Codec codec = Codec::kNone;

  // The product of the shape (1 for rank 0).
  uint64_t element_count() const;
  // shape[0] (1 for rank 0) and the product of the remaining dimensions.
  uint64_t rows() const;
  uint64_t row_size() const;
  // OK when rows [row_begin, row_end) lie within the tensor's rows, else OutOfRange
  // naming the tensor and the range: the one row-range rule of C++, C and Python.
  Status CheckRowRange(uint64_t row_begin, uint64_t row_end) const;
};

// Conversions used for float16 / bfloat16 storage: round to nearest even; NaN stays NaN.
WEIGHTLESS_EXPORT uint16_t FloatToHalf(float value);
WEIGHTLESS_EXPORT float HalfToFloat(uint16_t bits);
WEIGHTLESS_EXPORT uint16_t FloatToBFloat16(float value);
WEIGHTLESS_EXPORT float BFloat16ToFloat(uint16_t bits);

// The int8 storage rule, in one place for every writer and trainer. A value v is stored
// as q = QuantizeInt8(v, scale): v / scale rounded to nearest even and clamped to
// -127..127 (NaN to -127; -128 is never written), and reads back as scale * q.
WEIGHTLESS_EXPORT int8_t QuantizeInt8(float value, float int8_scale);

// The scale writers use when none is given: the largest finite magnitude among the n
// values maps to 127; 1 when none is finite and non-zero (or all are so small that
// that scale would round to 0). Always finite and positive.
WEIGHTLESS_EXPORT float DefaultInt8Scale(const float* values, uint64_t n);

// Rounds n values in place to what a reader gets back when they are stored as `dtype`
// (float32: unchanged; float16 / bfloat16: to nearest even; int8: with int8_scale, which
// must then be finite and positive), so that a trainer evaluates exactly the model it
// writes.
WEIGHTLESS_EXPORT void RoundToStored(float* values, uint64_t n, DType dtype,
                                     float int8_scale = 1.0f);

}  // namespace weightless

#endif  // WEIGHTLESS_TENSOR_H_
