// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The bit-exact derivation of every hashed quantity of a retrieval table, as
// specified in spec/RETRIEVAL.md section "Hashing". Changing anything here changes
// the persistent format.

#ifndef WEIGHTLESS_RETRIEVAL_HASHING_H_
#define WEIGHTLESS_RETRIEVAL_HASHING_H_

#include <cstdint>

#define XXH_INLINE_ALL  // the per-key hash must inline into the decode loops
// Only 8- and 12-byte inputs are hashed here, which never reach xxHash's vectorized
// long-input code, so its scalar variant gives the same results. Selecting it matters
// for GCC: with the AVX2 variant (the default under -march=x86-64-v3) xxhash.h compiles
// XXH3 at -O2, and GCC does not inline -O2 functions (here XXH3_rrmxmx) into the -O3
// decode loops ("optimization level attribute mismatch"), costing a call per key.
#ifndef XXH_VECTOR
#define XXH_VECTOR 0  // XXH_SCALAR
#endif
#include <xxhash.h>

#include "common/endian.h"
#include "weightless/retrieval.h"
#include "weightless/retrieval_kind.h"

namespace weightless {
namespace retrieval {

// Every function here is `static inline`: each translation unit, including the decode
// kernels compiled for other CPU targets, gets its own copy, so the linker can never
// substitute a copy compiled for a CPU feature the running machine lacks.

// For the per-key helpers of the decode loops: those are instantiated for 16 values of
// t and two encodings, which exhausts GCC's budget for inlining ordinary inline
// functions, and a call per key costs more than the work it does.
#if defined(__GNUC__)
#define WEIGHTLESS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define WEIGHTLESS_ALWAYS_INLINE inline
#endif

// The seed of one build attempt of one shard:
//   XXH3_64bits_withSeed(LE64(shard_index) || LE32(attempt), 12, table_seed).
static inline uint64_t ShardSeed(uint64_t table_seed, uint64_t shard_index, uint32_t attempt) {
  uint8_t buf[12];
  StoreLE64(buf, shard_index);
  StoreLE32(buf + 8, attempt);
  return XXH3_64bits_withSeed(buf, sizeof buf, table_seed);
}

// The hash of one key: XXH3_64bits_withSeed(LE64(key), 8, shard_seed).
static WEIGHTLESS_ALWAYS_INLINE uint64_t KeyHash(uint64_t key, uint64_t shard_seed) {
  uint8_t buf[8];
  StoreLE64(buf, key);
  // This is the body of XXH3_64bits_withSeed, called through xxHash's always-inline
  // internal entry point: GCC does not inline the public function into the large decode
  // kernels (--param inline-unit-growth), and a call per key costs more than the hash.
  // Inlined with the length known, it folds to the 8-byte path, and the seed's part of
  // it moves out of the decode loops. The spec's test vectors check the result.
  return XXH3_64bits_internal(buf, sizeof buf, shard_seed, XXH3_kSecret, sizeof(XXH3_kSecret),
                              XXH3_hashLong_64b_withSeed);
}

// floor(a * n / 2^64): maps a uniform 64-bit value to [0, n) (Lemire's fast range).
static WEIGHTLESS_ALWAYS_INLINE uint64_t FastRange64(uint64_t a, uint64_t n) {
#if defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 Uint128;
  return static_cast<uint64_t>((static_cast<Uint128>(a) * n) >> 64);
#else  // the high half of the 64x64 product from 32-bit pieces
  const uint64_t a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32;
  const uint64_t n_lo = n & 0xFFFFFFFFu, n_hi = n >> 32;
  const uint64_t lo_lo = a_lo * n_lo, hi_lo = a_hi * n_lo, lo_hi = a_lo * n_hi;
  const uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFu) + lo_hi;
  return a_hi * n_hi + (hi_lo >> 32) + (cross >> 32);
#endif
}

static WEIGHTLESS_ALWAYS_INLINE uint64_t RotateLeft64(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

constexpr uint64_t kMaskMultiplier = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kCoefficientMultiplier = 0x9E3779B97F4A7C15ULL;

// The t-bit mask XORed into every query: the top t bits of h * 0xC2B2AE3D27D4EB4F.
// REQUIRES: 1 <= t <= 16.
static WEIGHTLESS_ALWAYS_INLINE uint32_t ValueMask(uint64_t h, int t) {
  return static_cast<uint32_t>((h * kMaskMultiplier) >> (64 - t));
}

// Ribbon: band width 64. For a shard of m >= 1 cells, w = min(64, m);
//   start       = FastRange64(h, m - w + 1)
//   g           = h * 0x9E3779B97F4A7C15
//   coefficient = ((g ^ (g >> 32)) | 1) & (w == 64 ? ~0 : 2^w - 1)
// Bit j of the coefficient selects column start + j.
constexpr int kRibbonWidth = 64;

struct RibbonRow {
  uint64_t start;
  uint64_t coefficient;
};

// The part of RibbonRowOf that depends on the shard only, for loops that hoist it.
struct RibbonShape {
  uint64_t starts;            // m - w + 1, the number of possible starts
  uint64_t coefficient_mask;  // 2^w - 1
};

static WEIGHTLESS_ALWAYS_INLINE RibbonShape RibbonShapeOf(uint64_t m) {
  const uint64_t w = m < kRibbonWidth ? m : kRibbonWidth;
  return RibbonShape{m - w + 1, w < 64 ? (uint64_t{1} << w) - 1 : ~uint64_t{0}};
}

static WEIGHTLESS_ALWAYS_INLINE RibbonRow RibbonRowOf(uint64_t h, const RibbonShape& shape) {
  const uint64_t g = h * kCoefficientMultiplier;
  const uint64_t c = ((g ^ (g >> 32)) | 1) & shape.coefficient_mask;
  return RibbonRow{FastRange64(h, shape.starts), c};
}

static WEIGHTLESS_ALWAYS_INLINE RibbonRow RibbonRowOf(uint64_t h, uint64_t m) {
  return RibbonRowOf(h, RibbonShapeOf(m));
}

// Hash mix32 (ribbon only; spec/RETRIEVAL.md, "Hash 1: mix32"). Three 32-bit mixers of
// the key's low 32 bits u, each with its own seed word from the shard seed:
//   a = MixA(u ^ s1), b = MixB(u ^ s2), c = MixC(u ^ s3)
//   s1 = lo32(shard_seed), s2 = hi32(shard_seed),
//   s3 = lo32((shard_seed * 0x9E3779B97F4A7C15) >> 32)
//   start = (c * (m - w + 1)) >> 32, coefficient = ((b << 32) | a | 1) & (2^w - 1),
//   mask = c & (2^t - 1)
// Keys of one shard (at most 2^32 consecutive integers) have distinct u, and each mixer is
// a bijection of u. MixA is MurmurHash3's fmix32, MixB and MixC two of Wellons'
// "hash-prospector" finalizers (lowbias32 and its 0x21F0AAAD variant).

// x ^= x >> 16; x *= M1; x ^= x >> R2; x *= M2; x ^= x >> R3 (on u32).
template <uint32_t kM1, int kR2, uint32_t kM2, int kR3>
static WEIGHTLESS_ALWAYS_INLINE uint32_t Mix32Finalizer(uint32_t x) {
  x ^= x >> 16;
  x *= kM1;
  x ^= x >> kR2;
  x *= kM2;
  return x ^ (x >> kR3);
}
static WEIGHTLESS_ALWAYS_INLINE uint32_t MixA(uint32_t x) {
  return Mix32Finalizer<0x85EBCA6Bu, 13, 0xC2B2AE35u, 16>(x);
}
static WEIGHTLESS_ALWAYS_INLINE uint32_t MixB(uint32_t x) {
  return Mix32Finalizer<0x7FEB352Du, 15, 0x846CA68Bu, 16>(x);
}
static WEIGHTLESS_ALWAYS_INLINE uint32_t MixC(uint32_t x) {
  return Mix32Finalizer<0x21F0AAADu, 15, 0x735A2D97u, 15>(x);
}

// The seed words of one shard.
struct Mix32Seeds {
  uint32_t s1, s2, s3;
};

static WEIGHTLESS_ALWAYS_INLINE Mix32Seeds Mix32SeedsOf(uint64_t shard_seed) {
  return Mix32Seeds{static_cast<uint32_t>(shard_seed), static_cast<uint32_t>(shard_seed >> 32),
                    static_cast<uint32_t>((shard_seed * kCoefficientMultiplier) >> 32)};
}

// A key's ribbon row and its mask. REQUIRES: 1 <= t <= 16.
struct RibbonKeyRow {
  RibbonRow row;
  uint32_t mask;
};

static WEIGHTLESS_ALWAYS_INLINE RibbonKeyRow Mix32RowOf(uint64_t key, const Mix32Seeds& seeds,
                                                        const RibbonShape& shape, int t) {
  const uint32_t u = static_cast<uint32_t>(key);
  const uint32_t a = MixA(u ^ seeds.s1), b = MixB(u ^ seeds.s2), c = MixC(u ^ seeds.s3);
  const uint64_t start = (uint64_t{c} * shape.starts) >> 32;
  const uint64_t coefficient = ((uint64_t{b} << 32) | a | 1) & shape.coefficient_mask;
  return RibbonKeyRow{RibbonRow{start, coefficient}, c & ((uint32_t{1} << t) - 1)};
}

// A key's ribbon row and mask under the table's hash (xxh3 or mix32), for the code that
// handles one key at a time (the solver, NEON's stage 1). seeds = Mix32SeedsOf(shard_seed).
static WEIGHTLESS_ALWAYS_INLINE RibbonKeyRow RibbonKeyRowOf(RetrievalHash hash, uint64_t key,
                                                            uint64_t shard_seed,
                                                            const Mix32Seeds& seeds,
                                                            const RibbonShape& shape, int t) {
  if (hash == RetrievalHash::kMix32) return Mix32RowOf(key, seeds, shape, t);
  const uint64_t h = KeyHash(key, shard_seed);
  return RibbonKeyRow{RibbonRowOf(h, shape), ValueMask(h, t)};
}

// Bloomier: three positions, one in each third of a shard of m = 3L cells (L >= 1):
//   p0 = FastRange64(h, L), p1 = L + FastRange64(rotl(h, 21), L),
//   p2 = 2L + FastRange64(rotl(h, 42), L).
struct BloomierPositions {
  uint64_t p[3];
};

static WEIGHTLESS_ALWAYS_INLINE BloomierPositions BloomierPositionsOf(uint64_t h,
                                                                      uint64_t segment) {
  return BloomierPositions{{FastRange64(h, segment),
                            segment + FastRange64(RotateLeft64(h, 21), segment),
                            2 * segment + FastRange64(RotateLeft64(h, 42), segment)}};
}

}  // namespace retrieval
}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_HASHING_H_
