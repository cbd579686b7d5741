// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The decode kernels with NEON (Advanced SIMD), compiled on aarch64 only
// (lib/CMakeLists.txt). NEON is part of the aarch64 baseline, so no flag is needed and
// decode_kernels_generic.cc selects these at compile time.
//
// Ribbon bulk decode runs in batches of 16 keys, in two stages:
//   1. the hashed quantities, one key at a time in scalar code (aarch64 multiplies 64-bit
//      numbers in one instruction, high half included, which NEON cannot): the mask, the
//      byte offset of the window's first block and the split coefficient;
//   2. the window reads: two planes per 128-bit vector, ANDed with the key's split
//      coefficient and XORed (WindowPlanes), then eight such vectors reduced to the
//      parities of their 16 planes at once: CNT counts each byte's bits, three levels of
//      pairwise adds (ADDP) sum each plane's eight counts into one byte, and the low bit
//      of each sum is the plane's parity. A reduction serves 1 key (t > 8) to 8 keys
//      (t <= 2).
// Bloomier bulk decode is the portable batch: its work per key is the hash, three
// FastRange64 and three unaligned cell loads, all 64-bit multiplies and scalar loads,
// for which NEON has no instruction (no 64-bit lane multiply, no gather). Its code
// stores are narrowed with NEON.

#include <arm_neon.h>

#include "retrieval/decode_kernels.h"

namespace weightless {
namespace retrieval {
namespace neon {

// The single-key ribbon parities, bloomier's batches and the centroid lookup.
#include "retrieval/decode_kernels_portable.inc"

// ---- Ribbon

// How a reduction's 16 parities are shared out: a key's T planes take kGroups vectors of
// two planes (T <= 2: 1, T <= 4: 2, T <= 8: 4, else 8), the vectors past its planes
// being zero, so one reduction of eight vectors serves kKeys = 8 / kGroups keys.
// Key k's input vectors are kGroups * k .. kGroups * (k + 1) - 1, and its plane p is
// bit 2 * kGroups * k + p of the reduction's result.
template <int T>
struct RibbonGroups {
  static constexpr int kVectors = (T + 1) / 2;  // vectors that hold planes
  static constexpr int kGroups = T <= 2 ? 1 : T <= 4 ? 2 : T <= 8 ? 4 : 8;
  static constexpr int kKeys = 8 / kGroups;
  static constexpr int kBitsPerKey = 2 * kGroups;
};

static WEIGHTLESS_ALWAYS_INLINE uint64x2_t LoadUnaligned(const uint8_t* p) {
  return vreinterpretq_u64_u8(vld1q_u8(p));
}

// Vector `group` of a window's planes: lane l is (lo_p & c_lo) ^ (hi_p & c_hi) for plane
// p = 2 group + l (see SplitCoefficient in query.h), lo_p and hi_p being plane p's words
// in the window's two blocks, the first at `lo`. For odd T the last vector's second lane
// reads the 8 bytes after the block (the next block, or the ribbon padding); its parity
// is dropped.
template <int T>
static WEIGHTLESS_ALWAYS_INLINE uint64x2_t WindowPlanes(const uint8_t* lo, uint64x2_t c_lo,
                                                        uint64x2_t c_hi, int group) {
  const uint8_t* hi = lo + 8 * T;
  return veorq_u64(vandq_u64(LoadUnaligned(lo + 16 * group), c_lo),
                   vandq_u64(LoadUnaligned(hi + 16 * group), c_hi));
}

// Bit i of the result is the parity of 64-bit lane i % 2 of v[i / 2], for i < 16.
static WEIGHTLESS_ALWAYS_INLINE uint32_t SixteenParities(const uint64x2_t (&v)[8]) {
  uint8x16_t counts[8];
  for (int n = 0; n < 8; ++n) counts[n] = vcntq_u8(vreinterpretq_u8_u64(v[n]));
  // Each level halves the bytes per lane: 8 -> 4 -> 2 -> 1, keeping the lanes in order.
  uint8x16_t a[4], b[2];
  for (int n = 0; n < 4; ++n) a[n] = vpaddq_u8(counts[2 * n], counts[2 * n + 1]);
  for (int n = 0; n < 2; ++n) b[n] = vpaddq_u8(a[2 * n], a[2 * n + 1]);
  const uint8x16_t sums = vpaddq_u8(b[0], b[1]);  // byte i: lane i % 2 of v[i / 2]
  // Byte i's parity moved to bit i % 8, then each half's bytes summed (ADDV).
  const int8x16_t shifts = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7};
  const uint8x16_t bits = vshlq_u8(vandq_u8(sums, vdupq_n_u8(1)), shifts);
  return uint32_t{vaddv_u8(vget_low_u8(bits))} | (uint32_t{vaddv_u8(vget_high_u8(bits))} << 8);
}

// Ribbon batches of tables hashed with xxh3 (kMix32 false) or mix32: the rows are
// computed one key at a time, the parities 16 keys at a time.
template <int T, bool kMix32>
class RibbonBatchesOf {
 public:
  static constexpr int kKeys = 16;

  explicit RibbonBatchesOf(const RibbonShard& shard)
      : shard_(shard), seeds_(Mix32SeedsOf(shard.seed)) {}

  WEIGHTLESS_ALWAYS_INLINE void operator()(uint64_t first, uint32_t* codes) const {
    // Stage 1: per key, the mask, the byte offset of the window's first block and the
    // split coefficient.
    uint64_t offset[kKeys], c_lo[kKeys], c_hi[kKeys];
    uint32_t mask[kKeys];
    for (int j = 0; j < kKeys; ++j) {
      const uint64_t key = first + static_cast<uint64_t>(j);
      constexpr RetrievalHash kHash = kMix32 ? RetrievalHash::kMix32 : RetrievalHash::kXxh3;
      const RibbonKeyRow key_row = RibbonKeyRowOf(kHash, key, shard_.seed, seeds_, shard_.shape, T);
      const RibbonRow row = key_row.row;
      mask[j] = key_row.mask;
      const uint64_t x = shard_.first_column + row.start;
      const SplitCoefficient c = SplitAt(row.coefficient, x & 63);
      offset[j] = (x >> 6) * (8 * T);
      c_lo[j] = c.lo;
      c_hi[j] = c.hi;
    }
    // Stage 2: Groups::kKeys keys per reduction to parities.
    using Groups = RibbonGroups<T>;
    constexpr uint32_t kValueMask = (uint32_t{1} << T) - 1;
    for (int k0 = 0; k0 < kKeys; k0 += Groups::kKeys) {
      uint64x2_t planes[8];
      for (int k = 0; k < Groups::kKeys; ++k) {
        const uint8_t* lo = shard_.cells + offset[k0 + k];
        const uint64x2_t cl = vdupq_n_u64(c_lo[k0 + k]), ch = vdupq_n_u64(c_hi[k0 + k]);
        for (int g = 0; g < Groups::kGroups; ++g) {
          planes[Groups::kGroups * k + g] =
              g < Groups::kVectors ? WindowPlanes<T>(lo, cl, ch, g) : vdupq_n_u64(0);
        }
      }
      const uint32_t bits = SixteenParities(planes);
      for (int k = 0; k < Groups::kKeys; ++k) {
        const uint32_t parities = bits >> (Groups::kBitsPerKey * k);
        codes[k0 + k] = (mask[k0 + k] ^ parities) & kValueMask;
      }
    }
  }

 private:
  const RibbonShard shard_;
  const Mix32Seeds seeds_;
};

template <int T>
using RibbonBatches = RibbonBatchesOf<T, false>;
template <int T>
using RibbonMix32Batches = RibbonBatchesOf<T, true>;

// ---- Sinks

template <int N>
static WEIGHTLESS_ALWAYS_INLINE void StoreCodes(const uint32_t* codes, uint16_t* out) {
  static_assert(N % 8 == 0, "batches are multiples of 8 keys");
  for (int q = 0; q < N; q += 8) {  // codes < 2^16: narrowing keeps them
    vst1q_u16(out + q,
              vcombine_u16(vmovn_u32(vld1q_u32(codes + q)), vmovn_u32(vld1q_u32(codes + q + 4))));
  }
}

// The keys outside whole batches go through the portable kernels (decode_kernels.inc).
constexpr bool kPortableEdges = true;

#include "retrieval/decode_kernels.inc"
}  // namespace neon

const DecodeKernels& NeonDecodeKernels() {
  static const DecodeKernels kernels{&neon::DecodeCodesKernel, &neon::DecodeFloatsKernel, "neon"};
  return kernels;
}

}  // namespace retrieval
}  // namespace weightless
