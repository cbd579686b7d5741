// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Standard ribbon retrieval (Dillinger & Walzer, "Ribbon filter: practically smaller
// than Bloom and Xor", 2021), band width 64. Each key is an equation
//   XOR_j (coefficient bit j) * Z[start + j] = value ^ mask
// over t-bit cells Z. Rows are inserted one by one by on-the-fly Gaussian
// elimination: a row lands at its leading column if free, otherwise it is XORed with
// the row already there and slides to its new leading one. Back substitution from the
// last column then yields Z, with free columns set to 0.

#include <algorithm>
#include <cmath>

#include "retrieval/hashing.h"
#include "retrieval/shard_solver.h"

namespace weightless {
namespace retrieval {

uint64_t RibbonCellsFor(uint64_t n, uint32_t attempt) {
  if (n == 0) return 0;
  // Success rates per attempt measured for w = 64 and about 2000 keys: ~20% at 1.01 n,
  // ~50% at 1.02 n, ~75% at 1.03 n, ~94% at 1.05 n. Starting at 1.012 n and growing by
  // 0.4% per attempt averages ~2.6 attempts and ~1.019 cells per key (bench/README).
  const double slack = 0.012 + 0.004 * attempt;
  const uint64_t extra = std::max<uint64_t>(static_cast<uint64_t>(std::ceil(n * slack)),
                                            2 + static_cast<uint64_t>(attempt));
  return n + extra;
}

bool SolveRibbonShard(const uint64_t* keys, const uint16_t* values, size_t n, uint64_t shard_seed,
                      RetrievalHash hash, uint64_t m, int t, SolverScratch& scratch,
                      uint16_t* solution) {
  if (m == 0) return n == 0;
  std::vector<uint64_t>& coef = scratch.u64;
  std::vector<uint16_t>& rhs = scratch.u16;
  coef.assign(m, 0);
  rhs.assign(m, 0);
  const RibbonShape shape = RibbonShapeOf(m);
  const Mix32Seeds seeds = Mix32SeedsOf(shard_seed);
  for (size_t i = 0; i < n; ++i) {
    const RibbonKeyRow key_row = RibbonKeyRowOf(hash, keys[i], shard_seed, seeds, shape, t);
    uint64_t s = key_row.row.start;
    uint64_t c = key_row.row.coefficient;  // bit 0 set: the row leads at column s
    uint16_t r = static_cast<uint16_t>(values[i] ^ key_row.mask);
    for (;;) {
      if (coef[s] == 0) {
        coef[s] = c;
        rhs[s] = r;
        break;
      }
      c ^= coef[s];
      r ^= rhs[s];
      if (c == 0) {
        if (r != 0) return false;  // inconsistent: the system has no solution
        break;                     // redundant equation, already satisfied
      }
      const int shift = __builtin_ctzll(c);
      c >>= shift;
      s += static_cast<uint64_t>(shift);
    }
  }
  // Back substitution, all t bit planes at once. state[p] holds Z_p[i+1 .. i+64] in
  // bits 0..63 (bit k = column i+1+k) when column i is processed.
  uint64_t state[16] = {0};
  for (uint64_t i = m; i-- > 0;) {
    uint32_t z = 0;
    if (coef[i] != 0) {
      z = rhs[i];
      const uint64_t tail = coef[i] >> 1;
      for (int p = 0; p < t; ++p) {
        z ^= static_cast<uint32_t>(__builtin_parityll(tail & state[p])) << p;
      }
    }
    solution[i] = static_cast<uint16_t>(z);
    for (int p = 0; p < t; ++p) state[p] = (state[p] << 1) | ((z >> p) & 1);
  }
  return true;
}

}  // namespace retrieval
}  // namespace weightless
