// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The decode kernels compiled for x86-64-v3 (AVX2, BMI2, POPCNT, ...); selected at run
// time only on CPUs that have those features (decode_kernels_generic.cc).
//
// The ribbon query's t parities are computed eight planes at a time with AVX2: the
// 64-bit windows of eight planes are shifted into place, masked with the coefficient,
// folded to 32 bits, packed into one register of eight 32-bit lanes, folded to one bit
// per lane and collected with movemask.

#include <immintrin.h>

#include "retrieval/decode_kernels.h"

namespace weightless {
namespace retrieval {
namespace x86v3 {

// Parities of eight consecutive planes starting at `words_lo` / `words_hi` (the
// window's two blocks), bit j for plane j.
static inline uint32_t EightParities(const uint8_t* words_lo, const uint8_t* words_hi,
                                     __m256i shift, __m256i shift_back, __m256i coefficient) {
  const __m256i* lo = reinterpret_cast<const __m256i*>(words_lo);
  const __m256i* hi = reinterpret_cast<const __m256i*>(words_hi);
  __m256i a = _mm256_or_si256(_mm256_srlv_epi64(_mm256_loadu_si256(lo), shift),
                              _mm256_sllv_epi64(_mm256_loadu_si256(hi), shift_back));
  __m256i b = _mm256_or_si256(_mm256_srlv_epi64(_mm256_loadu_si256(lo + 1), shift),
                              _mm256_sllv_epi64(_mm256_loadu_si256(hi + 1), shift_back));
  a = _mm256_and_si256(a, coefficient);
  b = _mm256_and_si256(b, coefficient);
  a = _mm256_xor_si256(a, _mm256_srli_epi64(a, 32));
  b = _mm256_xor_si256(b, _mm256_srli_epi64(b, 32));
  // Low dwords of a's and b's qwords: per 128-bit half [a0 a1 b0 b1 | a2 a3 b2 b3],
  // i.e. planes [0 1 4 5 | 2 3 6 7]; the permute restores plane order.
  __m256i y = _mm256_castps_si256(
      _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0)));
  y = _mm256_permute4x64_epi64(y, _MM_SHUFFLE(3, 1, 2, 0));
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 16));
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 8));
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 4));
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 2));
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 1));
  return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32(y, 31))));
}

// REQUIRES: 64 readable bytes past the window's second block (the ribbon padding).
template <int T>
static inline uint32_t RibbonParities(const uint8_t* blocks, uint64_t x, uint64_t coefficient) {
  const uint8_t* lo = blocks + (x >> 6) * (8 * T);
  const uint8_t* hi = lo + 8 * T;
  const int s = static_cast<int>(x & 63);
  // Per-lane variable shifts (one uop each); a shift by 64 yields zero, as needed at s = 0.
  const __m256i shift = _mm256_set1_epi64x(s);
  const __m256i shift_back = _mm256_set1_epi64x(64 - s);
  const __m256i c = _mm256_set1_epi64x(static_cast<long long>(coefficient));
  uint32_t v = EightParities(lo, hi, shift, shift_back, c);
  if (T > 8) v |= EightParities(lo + 64, hi + 64, shift, shift_back, c) << 8;
  return v & ((uint32_t{1} << T) - 1);  // lanes past T read the next block: dropped
}

#include "retrieval/decode_kernels.inc"
}  // namespace x86v3

const DecodeKernels& X86V3DecodeKernels() {
  static const DecodeKernels kernels{&x86v3::DecodeCodesKernel, &x86v3::DecodeFloatsKernel};
  return kernels;
}

}  // namespace retrieval
}  // namespace weightless
