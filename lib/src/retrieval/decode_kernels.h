// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Bulk decode of an index range within one shard. The kernels are compiled twice
// (decode_kernels_generic.cc and, on x86-64, decode_kernels_x86v3.cc with AVX2, BMI2
// and POPCNT, chosen once at run time on CPUs that have them; on aarch64,
// decode_kernels_neon.cc, always chosen since NEON is part of the baseline).

#ifndef WEIGHTLESS_RETRIEVAL_DECODE_KERNELS_H_
#define WEIGHTLESS_RETRIEVAL_DECODE_KERNELS_H_

#include <cstdint>
#include <utility>  // std::integer_sequence, in decode_kernels.inc

#include "retrieval/query.h"
#include "weightless/retrieval.h"

namespace weightless {
namespace retrieval {

struct DecodeKernels {
  // out[i - lo] = Query(i) for i in [lo, hi), all within the shard `g`.
  void (*codes)(RetrievalKind kind, int t, const ShardGeometry& g, uint64_t lo, uint64_t hi,
                uint16_t* out);
  // out[i - lo] = centroids[code - 1] for code in 1..k, else 0. REQUIRES: k >= 1.
  void (*floats)(RetrievalKind kind, int t, const ShardGeometry& g, uint64_t lo, uint64_t hi,
                 const float* centroids, uint32_t k, float* out);
  const char* name;  // "generic", "x86-64-v3" or "neon"
};

// The weight code `code` stands for: centroids[code - 1] for code in 1..k, else 0.
static inline float WeightOf(uint32_t code, const float* centroids, uint32_t k) {
  const uint32_t index = code - 1;  // code 0 wraps to 0xFFFFFFFF
  const float w = centroids[index < k ? index : 0];
  return index < k ? w : 0.0f;
}

// The kernels for this CPU. Thread-safe; the choice is made once.
const DecodeKernels& SelectedDecodeKernels();

// The portable kernels (also used by tests to cross-check the selected ones).
const DecodeKernels& GenericDecodeKernels();

}  // namespace retrieval
}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_DECODE_KERNELS_H_
