// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Query of one index in one shard, for both encodings (spec/RETRIEVAL.md, "Query").
// Header-only so that the decode loops inline it.

#ifndef WEIGHTLESS_RETRIEVAL_QUERY_H_
#define WEIGHTLESS_RETRIEVAL_QUERY_H_

#include <cstdint>

#include "retrieval/hashing.h"
#include "retrieval/layout.h"
#include "weightless/retrieval_kind.h"

namespace weightless {
namespace retrieval {

// Where one shard's cells are and how it hashes.
struct ShardGeometry {
  const uint8_t* cells;  // the section's cell area
  uint64_t cell_begin;   // the shard's first cell (a column, for ribbon)
  uint64_t cells_in_shard;
  uint64_t seed;  // ShardSeed(table seed, shard index, attempt)
  // The table's key hashing. (Appended last: bench/kernel_ab.cc passes geometries to
  // kernels compiled from older revisions, which read the fields before it.)
  RetrievalHash hash = RetrievalHash::kXxh3;
};

// A ribbon window's coefficient, split over the two blocks that hold the window.
// The window at column x (s = x % 64) is bits s..63 of plane p's word in block x / 64
// (`lo`) followed by bits 0..s-1 of its word in the next block (`hi`), so
//   parity(window_p & c) = parity(lo_p & (c << s)) ^ parity(hi_p & (c >> (64 - s))),
// where the second term is absent for s = 0. Shifting the coefficient once per query
// replaces shifting every plane's words.
struct SplitCoefficient {
  uint64_t lo;  // c << s
  uint64_t hi;  // c >> (64 - s), 0 for s = 0
};

static WEIGHTLESS_ALWAYS_INLINE SplitCoefficient SplitAt(uint64_t coefficient, unsigned s) {
  return SplitCoefficient{coefficient << s, (coefficient >> 1) >> (63 - s)};
}

// Ribbon, portable: bit p of the result is parity(coefficient & window_p) for the
// window at column x (see SplitCoefficient).
template <int T>
static WEIGHTLESS_ALWAYS_INLINE uint32_t RibbonParitiesPortable(const uint8_t* blocks, uint64_t x,
                                                                uint64_t coefficient) {
  const uint8_t* lo = blocks + (x >> 6) * (8 * T);
  const uint8_t* hi = lo + 8 * T;
  const SplitCoefficient c = SplitAt(coefficient, x & 63);
  uint32_t v = 0;
  for (int p = 0; p < T; ++p) {
    const uint64_t selected = (LoadLE64(lo + 8 * p) & c.lo) ^ (LoadLE64(hi + 8 * p) & c.hi);
    v |= static_cast<uint32_t>(__builtin_parityll(selected)) << p;
  }
  return v;
}

// The per-shard constants of the queries below, hoisted out of the decode loops.
// REQUIRES: the shard has cells (m >= 1); a shard without cells answers ValueMask(h, t).
struct RibbonShard {
  const uint8_t* cells;  // the section's cell area
  uint64_t first_column;
  RibbonShape shape;
  uint64_t seed;
};

static inline RibbonShard RibbonShardOf(const ShardGeometry& g) {
  return RibbonShard{g.cells, g.cell_begin, RibbonShapeOf(g.cells_in_shard), g.seed};
}

struct BloomierShard {
  // The shard's first byte and the bit of that byte where its cell 0 starts: cell j is
  // the t bits at bit first_bit + j * t of `cells`.
  const uint8_t* cells;
  uint64_t first_bit;
  uint64_t segment;  // L = m / 3
  uint64_t seed;
};

template <int T>
static inline BloomierShard BloomierShardOf(const ShardGeometry& g) {
  const uint64_t bit = g.cell_begin * T;
  return BloomierShard{g.cells + bit / 8, bit % 8, g.cells_in_shard / 3, g.seed};
}

// Ribbon query. `parities` is RibbonParitiesPortable<T> or an equivalent faster kernel
// (decode_kernels_x86v3.cc).
template <int T, typename Parities>
static WEIGHTLESS_ALWAYS_INLINE uint32_t QueryRibbon(const RibbonShard& r, uint64_t h,
                                                     Parities parities) {
  const RibbonRow row = RibbonRowOf(h, r.shape);
  return ValueMask(h, T) ^ parities(r.cells, r.first_column + row.start, row.coefficient);
}

// Ribbon query of a table with hash mix32.
template <int T, typename Parities>
static WEIGHTLESS_ALWAYS_INLINE uint32_t QueryRibbonMix32(const RibbonShard& r,
                                                          const Mix32Seeds& seeds, uint64_t key,
                                                          Parities parities) {
  const RibbonKeyRow m = Mix32RowOf(key, seeds, r.shape, T);
  return m.mask ^ parities(r.cells, r.first_column + m.row.start, m.row.coefficient);
}

// Bloomier query: the mask XOR the shard's cells p0, p1 and p2.
template <int T>
static WEIGHTLESS_ALWAYS_INLINE uint32_t QueryBloomier(const BloomierShard& b, uint64_t h) {
  const BloomierPositions pos = BloomierPositionsOf(h, b.segment);
  constexpr uint32_t kCellMask = (uint32_t{1} << T) - 1;
  uint32_t v = ValueMask(h, T);
  for (int j = 0; j < 3; ++j) v ^= LoadCell(b.cells, b.first_bit + pos.p[j] * T, kCellMask);
  return v;
}

}  // namespace retrieval
}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_QUERY_H_
