// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The decode kernels compiled with AVX2, BMI1/2, FMA and POPCNT (lib/CMakeLists.txt); selected at
// run time only on CPUs that have those features (decode_kernels_generic.cc).
//
// Bulk decode runs in batches of keys, in two stages:
//   1. the hashed quantities, four keys per vector: the key hash, the mask and the ribbon
//      row or the bloomier positions. AVX2 has no 64-bit multiply, so each 64-bit product
//      takes three 32 x 32 -> 64-bit ones;
//   2. the cell reads: bloomier reads the three cells of eight keys with scalar loads; ribbon
//      ANDs each key's window planes with its coefficient and reduces 32 planes to their
//      parities at a time.
// The vector ports are the bottleneck, so the code counts vector instructions: it keeps
// per-key values in memory between the stages (loads are cheap, shuffles are not), and
// hoists what depends on the shard only.

#include <immintrin.h>

#include <array>
#include <cstring>

#include "retrieval/decode_kernels.h"

namespace weightless {
namespace retrieval {
namespace x86v3 {

// ---- Four 64-bit lanes per vector

static WEIGHTLESS_ALWAYS_INLINE __m256i Load(const void* p) {
  return _mm256_load_si256(static_cast<const __m256i*>(p));
}
static WEIGHTLESS_ALWAYS_INLINE __m256i LoadUnaligned(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
static WEIGHTLESS_ALWAYS_INLINE void Store(void* p, __m256i v) {
  _mm256_store_si256(static_cast<__m256i*>(p), v);
}
static WEIGHTLESS_ALWAYS_INLINE __m256i Splat(uint64_t v) {
  return _mm256_set1_epi64x(static_cast<long long>(v));
}

// A 64-bit multiplier, split for MulLo64.
struct Multiplier {
  __m256i lo;  // the multiplier (only its low 32 bits are used)
  __m256i hi;  // its high 32 bits
};
static WEIGHTLESS_ALWAYS_INLINE Multiplier MultiplierOf(uint64_t m) {
  return Multiplier{Splat(m), Splat(m >> 32)};
}

// The low 64 bits of a * m: a_lo m_lo + ((a_hi m_lo + a_lo m_hi) << 32).
static WEIGHTLESS_ALWAYS_INLINE __m256i MulLo64(__m256i a, const Multiplier& m) {
  const __m256i cross =
      _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), m.lo), _mm256_mul_epu32(a, m.hi));
  return _mm256_add_epi64(_mm256_mul_epu32(a, m.lo), _mm256_slli_epi64(cross, 32));
}

// FastRange64(a, n). REQUIRES: n < 2^32. With a = a_hi 2^32 + a_lo,
// floor(a n / 2^64) = floor((a_hi n + floor(a_lo n / 2^32)) / 2^32), and the sum fits.
static WEIGHTLESS_ALWAYS_INLINE __m256i FastRange32(__m256i a, __m256i n) {
  const __m256i lo = _mm256_srli_epi64(_mm256_mul_epu32(a, n), 32);
  const __m256i hi = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), n);
  return _mm256_srli_epi64(_mm256_add_epi64(hi, lo), 32);
}

template <int R>
static WEIGHTLESS_ALWAYS_INLINE __m256i RotateLeft(__m256i x) {
  return _mm256_or_si256(_mm256_slli_epi64(x, R), _mm256_srli_epi64(x, 64 - R));
}

// x * N, for lanes below 2^32.
template <int N>
static WEIGHTLESS_ALWAYS_INLINE __m256i Times(__m256i x) {
  if constexpr ((N & (N - 1)) == 0) {
    return _mm256_slli_epi64(x, __builtin_ctz(N));
  } else {
    return _mm256_mul_epu32(x, Splat(N));
  }
}

// ---- KeyHash, eight keys at a time

// XXH3_64bits_withSeed of 8 bytes is xxHash's XXH3_len_4to8_64b with len = 8: the input,
// read as two little-endian 32-bit words and swapped (rotl64(key, 32)), is XORed with a
// constant that depends on the seed only (`bitflip`, from xxHash's own secret and
// helpers), and then mixed by XXH3_rrmxmx(x, 8), whose first step, Mix below, is linear
// over GF(2). For keys first + j with first a multiple
// of 8 and j < 8, rotl64(first + j, 32) = rotl64(first, 32) ^ (j << 32), so
//   Mix(rotl64(first + j, 32) ^ bitflip) = Mix(rotl64(first, 32) ^ bitflip) ^ Mix(j << 32):
// one scalar Mix per eight keys, XORed with a constant per lane; the rest of
// XXH3_rrmxmx runs lane-wise. The portable kernels call KeyHash itself, and the tests
// compare the two.
static WEIGHTLESS_ALWAYS_INLINE uint64_t Mix(uint64_t h) {
  return h ^ XXH_rotl64(h, 49) ^ XXH_rotl64(h, 24);
}

class EightKeyHasher {
 public:
  // Lane q of the first vector holds key first + order[q], of the second first + order[q + 4].
  EightKeyHasher(uint64_t seed, const std::array<int, 8>& order) {
    const uint64_t seed64 = seed ^ (uint64_t{XXH_swap32(static_cast<uint32_t>(seed))} << 32);
    bitflip_ = (XXH_readLE64(XXH3_kSecret + 8) ^ XXH_readLE64(XXH3_kSecret + 16)) - seed64;
    alignas(32) uint64_t mixed[8];
    for (int q = 0; q < 8; ++q) mixed[q] = Mix(static_cast<uint64_t>(order[q]) << 32);
    lanes_[0] = Load(mixed);
    lanes_[1] = Load(mixed + 4);
  }

  // REQUIRES: first % 8 == 0.
  WEIGHTLESS_ALWAYS_INLINE void operator()(uint64_t first, __m256i (&h)[2]) const {
    const __m256i base = Splat(Mix(XXH_rotl64(first, 32) ^ bitflip_));
    const Multiplier prime = MultiplierOf(0x9FB21C651E98DF25ULL);  // XXH3_rrmxmx's
    constexpr int kLength = 8;
    for (int n = 0; n < 2; ++n) {
      __m256i x = MulLo64(_mm256_xor_si256(base, lanes_[n]), prime);
      x = _mm256_xor_si256(x, _mm256_add_epi64(_mm256_srli_epi64(x, 35), Splat(kLength)));
      x = MulLo64(x, prime);
      h[n] = _mm256_xor_si256(x, _mm256_srli_epi64(x, 28));
    }
  }

 private:
  uint64_t bitflip_;
  __m256i lanes_[2];  // Mix(order[q] << 32)
};

// ValueMask(h, T), lane-wise.
template <int T>
static WEIGHTLESS_ALWAYS_INLINE __m256i ValueMaskLanes(__m256i h) {
  return _mm256_srli_epi64(MulLo64(h, MultiplierOf(kMaskMultiplier)), 64 - T);
}

// A compiler barrier (no instruction): values stored to arrays before it are read back
// from memory after it. Broadcasts and scalar loads from memory use the load ports only;
// without the barrier the compiler keeps the arrays in registers and extracts lanes with
// shuffles on the busy vector ports instead.
static WEIGHTLESS_ALWAYS_INLINE void ReloadFromMemory() { __asm__ __volatile__("" ::: "memory"); }

// ---- Parities

// Byte i of each 128-bit half: 0x80 if the 4-bit value i has odd parity, else 0.
static WEIGHTLESS_ALWAYS_INLINE __m256i NibbleParityTable() {
  const int8_t odd = -128;
  return _mm256_broadcastsi128_si256(
      _mm_setr_epi8(0, odd, odd, 0, odd, 0, 0, odd, odd, 0, 0, odd, 0, odd, odd, 0));
}

// Reduces 32 64-bit lanes to their parities: bit 16L + 8i + 4e + 2j + l of the result
// is the parity of lane 2L + e of v[4i + 2j + l] (L, i, e, j, l in {0, 1}). Each step
// folds every lane to half its width and merges two vectors into one:
//   64 -> 32 bits: v[n] and v[n + 4], by shuffling the lanes' halves apart and XORing;
//   32 -> 16 bits: x[n] and x[n + 2], by blending and XORing with the halves swapped;
//   16 ->  8 bits: y[0] and y[1], by shifting, XORing and masking;
// then each byte's two nibbles are folded and a table gives the nibble's parity.
static WEIGHTLESS_ALWAYS_INLINE uint32_t ThirtyTwoParities(const __m256i (&v)[8]) {
  // x[n], per 128-bit half (L): dwords [v[n] lane 2L, 2L + 1, v[n + 4] lane 2L, 2L + 1]
  __m256i x[4];
  for (int n = 0; n < 4; ++n) {
    const __m256 a = _mm256_castsi256_ps(v[n]), b = _mm256_castsi256_ps(v[n + 4]);
    x[n] = _mm256_xor_si256(_mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                            _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))));
  }
  // y[n]: word 2d is x[n] dword d, word 2d + 1 is x[n + 2] dword d
  const __m256i swap_words = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
                                              2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  __m256i y[2];
  for (int n = 0; n < 2; ++n) {
    y[n] =
        _mm256_xor_si256(_mm256_blend_epi16(x[n], x[n + 2], 0xAA),
                         _mm256_shuffle_epi8(_mm256_blend_epi16(x[n + 2], x[n], 0xAA), swap_words));
  }
  // z: byte 2w is y[0] word w, byte 2w + 1 is y[1] word w
  const __m256i low_bytes = _mm256_set1_epi16(0x00FF);
  __m256i z = _mm256_or_si256(
      _mm256_and_si256(_mm256_xor_si256(y[0], _mm256_srli_epi16(y[0], 8)), low_bytes),
      _mm256_andnot_si256(low_bytes, _mm256_xor_si256(y[1], _mm256_slli_epi16(y[1], 8))));
  z = _mm256_xor_si256(z, _mm256_srli_epi16(z, 4));  // each byte's nibbles, in its low nibble
  z = _mm256_shuffle_epi8(NibbleParityTable(), _mm256_and_si256(z, _mm256_set1_epi8(0x0F)));
  return static_cast<uint32_t>(_mm256_movemask_epi8(z));
}

// Bit j of the result is the parity of 64-bit lane j of a (j < 4) or of b (lane j - 4).
// For one key at a time.
static WEIGHTLESS_ALWAYS_INLINE uint32_t EightParities(__m256i a, __m256i b) {
  a = _mm256_xor_si256(a, _mm256_srli_epi64(a, 32));
  b = _mm256_xor_si256(b, _mm256_srli_epi64(b, 32));
  // Low dwords of a's and b's lanes: per 128-bit half [a0 a1 b0 b1 | a2 a3 b2 b3], i.e.
  // lanes [0 1 4 5 | 2 3 6 7]; the permute restores lane order.
  __m256i y = _mm256_castps_si256(
      _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0)));
  y = _mm256_permute4x64_epi64(y, _MM_SHUFFLE(3, 1, 2, 0));
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 16));
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 8));
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 4));
  y = _mm256_shuffle_epi8(NibbleParityTable(), _mm256_and_si256(y, _mm256_set1_epi32(0xF)));
  return _pext_u32(static_cast<uint32_t>(_mm256_movemask_epi8(y)), 0x11111111u);
}

// ---- Ribbon

// A ribbon window's planes, four per vector: lane q of group g is
// (lo_p & c_lo) ^ (hi_p & c_hi) for plane p = 4g + q (see SplitCoefficient), lo_p and
// hi_p being plane p's words in the window's two blocks, the first at `lo`.
// REQUIRES: 64 readable bytes past the second block (the ribbon padding). Lanes past T
// read the blocks that follow; their parities are dropped.
template <int T>
static WEIGHTLESS_ALWAYS_INLINE __m256i WindowPlanes(const uint8_t* lo, __m256i c_lo, __m256i c_hi,
                                                     int group) {
  const uint8_t* hi = lo + 8 * T;
  return _mm256_xor_si256(_mm256_and_si256(LoadUnaligned(lo + 32 * group), c_lo),
                          _mm256_and_si256(LoadUnaligned(hi + 32 * group), c_hi));
}

// The single-key query's parities (the ends of shard pieces, Lookup).
template <int T>
static WEIGHTLESS_ALWAYS_INLINE uint32_t RibbonParities(const uint8_t* blocks, uint64_t x,
                                                        uint64_t coefficient) {
  const uint8_t* lo = blocks + (x >> 6) * (8 * T);
  const SplitCoefficient c = SplitAt(coefficient, x & 63);
  const __m256i c_lo = Splat(c.lo), c_hi = Splat(c.hi);
  uint32_t v;
  if constexpr (T <= 4) {
    const __m256i zero = _mm256_setzero_si256();
    v = EightParities(WindowPlanes<T>(lo, c_lo, c_hi, 0), zero);
  } else {
    v = EightParities(WindowPlanes<T>(lo, c_lo, c_hi, 0), WindowPlanes<T>(lo, c_lo, c_hi, 1));
    if constexpr (T > 8) {
      v |= EightParities(WindowPlanes<T>(lo, c_lo, c_hi, 2), WindowPlanes<T>(lo, c_lo, c_hi, 3))
           << 8;
    }
  }
  return v & ((uint32_t{1} << T) - 1);
}

// How ThirtyTwoParities' 32 parities are shared out: a key has kGroups vectors of four
// planes (T <= 4: 1, T <= 8: 2, else 4), so one reduction serves kKeys = 8 / kGroups
// keys. Key k's group g is input n = kGroups * k + g, so its plane 4g + q is bit
// 16 (q / 2) + 4 (q % 2) + 8 (n / 4) + n % 4. _pext_u32 with KeyBits(k) collects the
// key's bits in (q, g) order, and Unshuffle moves each to bit 4g + q.
template <int T>
struct RibbonGroups {
  static constexpr int kGroups = T <= 4 ? 1 : T <= 8 ? 2 : 4;
  static constexpr int kKeys = 8 / kGroups;
  static constexpr uint32_t KeyBits(int k) {
    const int n = kGroups * k;
    const uint32_t groups = (1u << kGroups) - 1;  // bits g = 0 .. kGroups - 1
    return (groups * 0x00110011u) << (8 * (n / 4) + n % 4);
  }
};

// Unshuffle tables: entry b has bit i of b at bit 4g + q, where (q, g) = (i / G, i % G).
template <int G>
static constexpr std::array<uint16_t, 256> UnshuffleTable() {
  std::array<uint16_t, 256> table{};
  for (int b = 0; b < 256; ++b) {
    for (int i = 0; i < 8; ++i) {
      if ((b >> i) & 1) table[b] = static_cast<uint16_t>(table[b] | (1u << (4 * (i % G) + i / G)));
    }
  }
  return table;
}
static constexpr std::array<uint16_t, 256> kUnshuffle2 = UnshuffleTable<2>();
static constexpr std::array<uint16_t, 256> kUnshuffle4 = UnshuffleTable<4>();

template <int G>
static WEIGHTLESS_ALWAYS_INLINE uint32_t Unshuffle(uint32_t bits) {
  if constexpr (G == 1) {
    return bits;
  } else if constexpr (G == 2) {
    return kUnshuffle2[bits];
  } else {  // 16 bits: the high byte holds q = 2, 3, i.e. the planes of the low byte + 2
    return kUnshuffle4[bits & 0xFF] | (uint32_t{kUnshuffle4[bits >> 8]} << 2);
  }
}

// The low 32-bit halves of a's and b's lanes, in the order [a0 a1 b0 b1 a2 a3 b2 b3].
static WEIGHTLESS_ALWAYS_INLINE __m256i PackLow32(__m256i a, __m256i b) {
  return _mm256_castps_si256(
      _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0)));
}

// Stage 1's output for a batch of kRibbonBatchKeys keys: per key, the index of its window's
// first block, its split coefficient (SplitAt) and 32 hash bits that hold its mask. Nothing
// here depends on t, so stage 1 is compiled once per hash instead of once per t: the
// shared reader-only library must hold the kernels of every hash within its size budget.
constexpr int kRibbonBatchKeys = 16;  // faster than 8 for every t measured
struct RibbonRows {
  alignas(32) uint64_t block[kRibbonBatchKeys];
  alignas(32) uint64_t c_lo[kRibbonBatchKeys];
  alignas(32) uint64_t c_hi[kRibbonBatchKeys];
  alignas(32) uint32_t mask_bits[kRibbonBatchKeys];
};

// Stage 2 of the ribbon batches: codes[k] = (mask[k] ^ the parities of key k's window
// planes) & (2^T - 1), where mask[k] is mask_bits[k] >> (32 - T) when the hash keeps the
// mask in the high bits, else mask_bits[k]; Groups::kKeys keys per reduction to parities.
template <int T, bool kMaskInHighBits>
static WEIGHTLESS_ALWAYS_INLINE void RibbonCodesOfRows(const uint8_t* cells, const RibbonRows& rows,
                                                       uint32_t* codes) {
  using Groups = RibbonGroups<T>;
  alignas(32) uint32_t parities[kRibbonBatchKeys];
  for (int k0 = 0; k0 < kRibbonBatchKeys; k0 += Groups::kKeys) {
    __m256i planes[8];
    for (int k = 0; k < Groups::kKeys; ++k) {
      const uint8_t* lo = cells + rows.block[k0 + k] * (8 * T);
      const __m256i cl = Splat(rows.c_lo[k0 + k]), ch = Splat(rows.c_hi[k0 + k]);
      for (int g = 0; g < Groups::kGroups; ++g) {
        planes[Groups::kGroups * k + g] = WindowPlanes<T>(lo, cl, ch, g);
      }
    }
    const uint32_t bits = ThirtyTwoParities(planes);
    for (int k = 0; k < Groups::kKeys; ++k) {
      parities[k0 + k] = Unshuffle<Groups::kGroups>(_pext_u32(bits, Groups::KeyBits(k)));
    }
  }
  ReloadFromMemory();
  for (int e = 0; e < kRibbonBatchKeys; e += 8) {
    __m256i mask = Load(rows.mask_bits + e);
    if constexpr (kMaskInHighBits) mask = _mm256_srli_epi32(mask, 32 - T);
    Store(codes + e, _mm256_and_si256(_mm256_xor_si256(mask, Load(parities + e)),
                                      _mm256_set1_epi32((1 << T) - 1)));
  }
}

// The window's first block and split coefficient of four keys (SplitAt; a variable shift
// by 64 gives 0, as needed for s = 0), from their window columns x (below 2^32) and their
// coefficients.
static WEIGHTLESS_ALWAYS_INLINE void StoreWindows(__m256i x, __m256i coefficient, RibbonRows* rows,
                                                  int q) {
  Store(rows->block + q, _mm256_srli_epi64(x, 6));
  const __m256i s = _mm256_and_si256(x, Splat(63));
  Store(rows->c_lo + q, _mm256_sllv_epi64(coefficient, s));
  Store(rows->c_hi + q, _mm256_srlv_epi64(coefficient, _mm256_sub_epi64(Splat(64), s)));
}

// Stage 1 of a table hashed with xxh3: the key hashes, four keys per vector. The mask
// is ValueMask's product's high 32 bits.
class RibbonXxh3Rows {
 public:
  static constexpr bool kMaskInHighBits = true;

  explicit RibbonXxh3Rows(const RibbonShard& shard)
      : hasher_(shard.seed, {0, 1, 2, 3, 4, 5, 6, 7}),
        starts_(Splat(shard.shape.starts)),
        first_column_(Splat(shard.first_column)),
        coefficient_mask_(Splat(shard.shape.coefficient_mask)) {}

  __attribute__((noinline)) void operator()(uint64_t first, RibbonRows* rows) const {
    for (int e = 0; e < kRibbonBatchKeys; e += 8) {
      __m256i h[2];
      hasher_(first + static_cast<uint64_t>(e), h);
      for (int n = 0; n < 2; ++n) {
        // RibbonRowOf
        const __m256i g = MulLo64(h[n], MultiplierOf(kCoefficientMultiplier));
        const __m256i c = _mm256_and_si256(
            _mm256_or_si256(_mm256_xor_si256(g, _mm256_srli_epi64(g, 32)), Splat(1)),
            coefficient_mask_);
        StoreWindows(_mm256_add_epi64(FastRange32(h[n], starts_), first_column_), c, rows,
                     e + 4 * n);
      }
      // PackLow32 lists keys [0 1 4 5 2 3 6 7]; the permute restores their order.
      const __m256i mask_bits[2] = {
          _mm256_srli_epi64(MulLo64(h[0], MultiplierOf(kMaskMultiplier)), 32),
          _mm256_srli_epi64(MulLo64(h[1], MultiplierOf(kMaskMultiplier)), 32)};
      Store(rows->mask_bits + e, _mm256_permute4x64_epi64(PackLow32(mask_bits[0], mask_bits[1]),
                                                          _MM_SHUFFLE(3, 1, 2, 0)));
    }
  }

 private:
  EightKeyHasher hasher_;
  __m256i starts_;
  __m256i first_column_;
  __m256i coefficient_mask_;
};

// Stage 1 of a table hashed with mix32: eight keys per vector of 32-bit lanes (AVX2
// multiplies them natively: about a third of the vector instructions of the xxh3 rows).
// The mask is c's low bits.
class RibbonMix32Rows {
 public:
  static constexpr bool kMaskInHighBits = false;

  explicit RibbonMix32Rows(const RibbonShard& shard)
      : RibbonMix32Rows(shard, Mix32SeedsOf(shard.seed)) {}
  RibbonMix32Rows(const RibbonShard& shard, const Mix32Seeds& seeds)
      : s1_(Splat32(seeds.s1)),
        s2_(Splat32(seeds.s2)),
        s3_(Splat32(seeds.s3)),
        starts_(Splat(shard.shape.starts)),
        first_column_(Splat32(static_cast<uint32_t>(shard.first_column))),
        coefficient_mask_(Splat(shard.shape.coefficient_mask)) {}

  __attribute__((noinline)) void operator()(uint64_t first, RibbonRows* rows) const {
    // The 32-bit lanes hold keys [0 1 4 5 2 3 6 7] of each eight, so that unpacking two
    // of them into 64-bit lanes gives keys 0..3 and 4..7 in order.
    const __m256i lanes = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    const __m256i zero = _mm256_setzero_si256();
    for (int e = 0; e < kRibbonBatchKeys; e += 8) {
      const __m256i u =
          _mm256_add_epi32(Splat32(static_cast<uint32_t>(first + static_cast<uint64_t>(e))), lanes);
      const __m256i a = Mix<0x85EBCA6Bu, 13, 0xC2B2AE35u, 16>(_mm256_xor_si256(u, s1_));
      const __m256i b = Mix<0x7FEB352Du, 15, 0x846CA68Bu, 16>(_mm256_xor_si256(u, s2_));
      const __m256i c = Mix<0x21F0AAADu, 15, 0x735A2D97u, 15>(_mm256_xor_si256(u, s3_));
      // start = (c * starts) >> 32, per 32-bit lane, then x = first_column + start
      const __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(c, starts_), 32);
      const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), starts_);
      const __m256i x = _mm256_add_epi32(_mm256_blend_epi32(even, odd, 0xAA), first_column_);
      // The masks' bits, in key order.
      Store(rows->mask_bits + e, _mm256_permute4x64_epi64(c, _MM_SHUFFLE(3, 1, 2, 0)));
      const __m256i coefficients[2] = {_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b)};
      const __m256i columns[2] = {_mm256_unpacklo_epi32(x, zero), _mm256_unpackhi_epi32(x, zero)};
      for (int n = 0; n < 2; ++n) {
        const __m256i coefficient =
            _mm256_and_si256(_mm256_or_si256(coefficients[n], Splat(1)), coefficient_mask_);
        StoreWindows(columns[n], coefficient, rows, e + 4 * n);
      }
    }
  }

 private:
  static WEIGHTLESS_ALWAYS_INLINE __m256i Splat32(uint32_t v) {
    return _mm256_set1_epi32(static_cast<int>(v));
  }
  // MixA, MixB or MixC (hashing.h), lane-wise.
  template <uint32_t kM1, int kR2, uint32_t kM2, int kR3>
  static WEIGHTLESS_ALWAYS_INLINE __m256i Mix(__m256i x) {
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, Splat32(kM1));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, kR2));
    x = _mm256_mullo_epi32(x, Splat32(kM2));
    return _mm256_xor_si256(x, _mm256_srli_epi32(x, kR3));
  }

  __m256i s1_, s2_, s3_;
  __m256i starts_;        // 64-bit lanes (below 2^24)
  __m256i first_column_;  // 32-bit lanes (columns are below 2^32)
  __m256i coefficient_mask_;
};

// Ribbon batches of kRibbonBatchKeys keys: stage 1 (Rows, one copy per hash) stores the
// rows, stage 2 (one copy per t) reads the cells.
template <int T, typename Rows>
class RibbonBatchesOf {
 public:
  static constexpr int kKeys = kRibbonBatchKeys;

  explicit RibbonBatchesOf(const RibbonShard& shard) : cells_(shard.cells), rows_(shard) {}

  WEIGHTLESS_ALWAYS_INLINE void operator()(uint64_t first, uint32_t* codes) const {
    RibbonRows rows;
    rows_(first, &rows);
    ReloadFromMemory();
    RibbonCodesOfRows<T, Rows::kMaskInHighBits>(cells_, rows, codes);
  }

 private:
  const uint8_t* cells_;
  Rows rows_;
};

template <int T>
using RibbonBatches = RibbonBatchesOf<T, RibbonXxh3Rows>;
template <int T>
using RibbonMix32Batches = RibbonBatchesOf<T, RibbonMix32Rows>;

// ---- Bloomier

// Bloomier batches of 8 keys, one per 32-bit lane: the hashes and cell positions are
// computed lane-wise, the three cells read with scalar loads and XORed, and the mask
// XORed lane-wise. (Batches of 16 measured no faster.)
template <int T>
class BloomierBatches {
 public:
  static constexpr int kKeys = 8;

  explicit BloomierBatches(const BloomierShard& shard)
      : cells_(shard.cells),
        hasher_(shard.seed, {0, 1, 4, 5, 2, 3, 6, 7}),
        segment_(Splat(shard.segment)),
        first_bit_(Splat(shard.first_bit)) {}

  WEIGHTLESS_ALWAYS_INLINE void operator()(uint64_t first, uint32_t* codes) const {
    // Keys 0 1 4 5 in h[0] and 2 3 6 7 in h[1], so that PackLow32 lists keys 0..7.
    __m256i h[2];
    hasher_(first, h);
    __m256i v = PackLow32(ValueMaskLanes<T>(h[0]), ValueMaskLanes<T>(h[1]));
    // BloomierPositionsOf, as bit offsets from cells_ (below 2^28 + 8, as m <= 2^24).
    auto bits = [&](__m256i hash, __m256i third) {
      return _mm256_add_epi64(Times<T>(_mm256_add_epi64(FastRange32(hash, segment_), third)),
                              first_bit_);
    };
    const __m256i zero = _mm256_setzero_si256();
    const __m256i two_segments = _mm256_add_epi64(segment_, segment_);
    const __m256i cell_bits[3] = {
        PackLow32(bits(h[0], zero), bits(h[1], zero)),
        PackLow32(bits(RotateLeft<21>(h[0]), segment_), bits(RotateLeft<21>(h[1]), segment_)),
        PackLow32(bits(RotateLeft<42>(h[0]), two_segments),
                  bits(RotateLeft<42>(h[1]), two_segments))};
    // LoadCell for the 24 cells, with scalar loads of 32 bits from each cell's first
    // byte (the bloomier padding covers them): the load ports take 24 loads faster than
    // the vector unit takes three 8-lane gathers (+7-15% measured, t = 4..10).
    alignas(32) uint32_t bit[3][kKeys];
    for (int j = 0; j < 3; ++j) Store(bit[j], cell_bits[j]);
    ReloadFromMemory();
    alignas(32) uint32_t cells[kKeys];
    for (int q = 0; q < kKeys; ++q) {
      uint32_t x = 0;
      for (int j = 0; j < 3; ++j) {
        uint32_t word;
        std::memcpy(&word, cells_ + (bit[j][q] >> 3), 4);
        x ^= T % 8 == 0 ? word : word >> (bit[j][q] & 7);
      }
      cells[q] = x;
    }
    v = _mm256_xor_si256(v, Load(cells));
    Store(codes, _mm256_and_si256(v, _mm256_set1_epi32((1 << T) - 1)));
  }

 private:
  const uint8_t* cells_;
  EightKeyHasher hasher_;
  __m256i segment_;
  __m256i first_bit_;
};

// ---- Sinks

template <int N>
static WEIGHTLESS_ALWAYS_INLINE void StoreCodes(const uint32_t* codes, uint16_t* out) {
  for (int q = 0; q < N; q += 8) {
    const __m256i v = Load(codes + q);  // codes < 2^16: the pack does not saturate
    const __m128i packed =
        _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + q), packed);
  }
}

// WeightOf for N codes: centroids[code - 1], 0.0f for codes outside 1..k. For k <= 16
// (the usual K, as in the paper's 4-bit clusters) the centroids sit in two registers and
// each lane picks its value with two permutes and a blend: gathers cost several times
// more, and bloomier already spends its gather throughput on its cells. Larger k
// gathers, masked to codes in 1..k (masked lanes read nothing and stay 0.0f).
template <int N>
static WEIGHTLESS_ALWAYS_INLINE void StoreWeights(const uint32_t* codes, const float* centroids,
                                                  uint32_t k, float* out) {
  const __m256i sign = _mm256_set1_epi32(INT32_MIN);
  // index < k as unsigned numbers, compared as signed ones with the sign bits flipped
  const __m256i k_flipped = _mm256_xor_si256(_mm256_set1_epi32(static_cast<int>(k)), sign);
  if (k <= 16) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i count = _mm256_set1_epi32(static_cast<int>(k));
    // Only centroids[0 .. k) are read (masked loads touch nothing beyond).
    const __m256 low = _mm256_maskload_ps(centroids, _mm256_cmpgt_epi32(count, lanes));
    const __m256 high =
        k > 8 ? _mm256_maskload_ps(
                    centroids + 8,
                    _mm256_cmpgt_epi32(count, _mm256_add_epi32(lanes, _mm256_set1_epi32(8))))
              : _mm256_setzero_ps();
    for (int q = 0; q < N; q += 8) {
      const __m256i index = _mm256_sub_epi32(Load(codes + q), _mm256_set1_epi32(1));
      const __m256i valid = _mm256_cmpgt_epi32(k_flipped, _mm256_xor_si256(index, sign));
      // Bit 3 of the index, moved to the sign bit, chooses the high register.
      const __m256 w = _mm256_blendv_ps(_mm256_permutevar8x32_ps(low, index),
                                        _mm256_permutevar8x32_ps(high, index),
                                        _mm256_castsi256_ps(_mm256_slli_epi32(index, 28)));
      _mm256_storeu_ps(out + q, _mm256_and_ps(w, _mm256_castsi256_ps(valid)));
    }
    return;
  }
  for (int q = 0; q < N; q += 8) {
    const __m256i index = _mm256_sub_epi32(Load(codes + q), _mm256_set1_epi32(1));
    const __m256i valid = _mm256_cmpgt_epi32(k_flipped, _mm256_xor_si256(index, sign));
    const __m256 w = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), centroids, index,
                                              _mm256_castsi256_ps(valid), 4);
    _mm256_storeu_ps(out + q, w);
  }
}

// The keys outside whole batches go through the portable kernels (decode_kernels.inc).
constexpr bool kPortableEdges = true;

#include "retrieval/decode_kernels.inc"
}  // namespace x86v3

const DecodeKernels& X86V3DecodeKernels() {
#if defined(WEIGHTLESS_X86V3_FLOATS_ONLY)
  // The shared reader-only library decodes floats only (its C API has no codes): codes
  // go through the portable kernels there, which keeps ~70 KB of code out of it.
  static const DecodeKernels kernels{GenericDecodeKernels().codes, &x86v3::DecodeFloatsKernel,
                                     "x86-64-v3 (floats; portable codes)"};
  static_cast<void>(&x86v3::DecodeCodesKernel);  // unused here: the compiler drops it
#else
  static const DecodeKernels kernels{&x86v3::DecodeCodesKernel, &x86v3::DecodeFloatsKernel,
                                     "x86-64-v3"};
#endif
  return kernels;
}

}  // namespace retrieval
}  // namespace weightless
