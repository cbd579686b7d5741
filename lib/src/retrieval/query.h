// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Query of one index in one shard, for both encodings (spec/RETRIEVAL.md, "Query").
// Header-only so that the decode loops inline it.

#ifndef WEIGHTLESS_RETRIEVAL_QUERY_H_
#define WEIGHTLESS_RETRIEVAL_QUERY_H_

#include <cstdint>

#include "retrieval/hashing.h"
#include "retrieval/layout.h"

namespace weightless {
namespace retrieval {

// Where one shard's cells are and how it hashes.
struct ShardGeometry {
  const uint8_t* cells;  // the section's cell area
  uint64_t cell_begin;   // the shard's first cell (a column, for ribbon)
  uint64_t cells_in_shard;
  uint64_t seed;  // ShardSeed(table seed, shard index, attempt)
};

// Ribbon, portable: bit p of the result is parity(coefficient & plane_p[x .. x + 63]),
// where plane p's bits of block b are word p of that block.
template <int T>
static inline uint32_t RibbonParitiesPortable(const uint8_t* blocks, uint64_t x,
                                              uint64_t coefficient) {
  const uint8_t* lo = blocks + (x >> 6) * (8 * T);
  const uint8_t* hi = lo + 8 * T;
  const unsigned shift = x & 63;
  uint32_t v = 0;
  for (int p = 0; p < T; ++p) {
    const uint64_t window =
        (LoadLE64(lo + 8 * p) >> shift) | (LoadLE64(hi + 8 * p) << 1 << (63 - shift));
    v |= static_cast<uint32_t>(__builtin_parityll(window & coefficient)) << p;
  }
  return v;
}

// Ribbon query. `parities` is RibbonParitiesPortable<T> or an equivalent faster kernel
// (decode_kernels_x86v3.cc).
template <int T, typename Parities>
static inline uint32_t QueryRibbon(const ShardGeometry& g, uint64_t h, Parities parities) {
  const uint32_t mask = ValueMask(h, T);
  const uint64_t m = g.cells_in_shard;
  if (m == 0) return mask;
  const RibbonRow row = RibbonRowOf(h, m);
  return mask ^ parities(g.cells, g.cell_begin + row.start, row.coefficient);
}

// Bloomier: cell j of the shard is the t bits at bit (cell_begin + j) * t.
template <int T>
static inline uint32_t QueryBloomier(const ShardGeometry& g, uint64_t h) {
  uint32_t v = ValueMask(h, T);
  const uint64_t m = g.cells_in_shard;
  if (m == 0) return v;
  const BloomierPositions pos = BloomierPositionsOf(h, m / 3);
  constexpr uint32_t kCellMask = (uint32_t{1} << T) - 1;
  for (int j = 0; j < 3; ++j) {
    v ^= LoadCell(g.cells, (g.cell_begin + pos.p[j]) * T, kCellMask);
  }
  return v;
}

}  // namespace retrieval
}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_QUERY_H_
