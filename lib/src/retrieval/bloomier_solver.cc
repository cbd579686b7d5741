// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The Bloomier filter of Chazelle et al. as used by the Weightless paper: each key
// hashes to one cell in each third of the shard; the 3-hypergraph is peeled (a cell
// touched by exactly one remaining key is that key's free cell), and cells are then
// assigned in reverse peeling order so that the XOR of a key's three cells and its
// mask equals its value. Peeling succeeds with high probability at m >= 1.23 n.

#include <algorithm>
#include <cmath>
#include <utility>

#include "retrieval/hashing.h"
#include "retrieval/shard_solver.h"

namespace weightless {
namespace retrieval {

uint64_t BloomierCellsFor(uint64_t n, uint32_t attempt) {
  if (n == 0) return 0;
  const uint64_t base = static_cast<uint64_t>(std::ceil(1.23 * static_cast<double>(n))) + 32;
  const uint64_t growth = (attempt / 4) * static_cast<uint64_t>(std::ceil(0.01 * n));
  return 3 * ((base + growth + 2) / 3);
}

bool SolveBloomierShard(const uint64_t* keys, const uint16_t* values, size_t n, uint64_t shard_seed,
                        uint64_t m, int t, SolverScratch& scratch, uint16_t* solution) {
  std::fill(solution, solution + m, uint16_t{0});
  if (n == 0) return true;
  if (m == 0 || m % 3 != 0) return false;
  const uint64_t segment = m / 3;
  // positions[3i..3i+2]: key i's cells. count/xor_of_keys per cell drive the peeling.
  std::vector<uint64_t>& positions = scratch.u64;
  std::vector<uint32_t>& count = scratch.u32a;
  std::vector<uint32_t>& xor_of_keys = scratch.u32b;
  positions.resize(3 * n);
  count.assign(m, 0);
  xor_of_keys.assign(m, 0);
  std::vector<uint16_t>& masks = scratch.u16;
  masks.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = KeyHash(keys[i], shard_seed);
    const BloomierPositions pos = BloomierPositionsOf(h, segment);
    masks[i] = static_cast<uint16_t>(ValueMask(h, t));
    for (int j = 0; j < 3; ++j) {
      positions[3 * i + j] = pos.p[j];
      ++count[pos.p[j]];
      xor_of_keys[pos.p[j]] ^= static_cast<uint32_t>(i);
    }
  }
  // Peel. `order` records (key, free cell) pairs; cells with count 1 wait in `queue`.
  std::vector<uint64_t> queue;
  queue.reserve(m);
  for (uint64_t c = 0; c < m; ++c) {
    if (count[c] == 1) queue.push_back(c);
  }
  std::vector<std::pair<uint32_t, uint64_t>> order;
  order.reserve(n);
  while (!queue.empty()) {
    const uint64_t cell = queue.back();
    queue.pop_back();
    if (count[cell] != 1) continue;
    const uint32_t key = xor_of_keys[cell];
    order.emplace_back(key, cell);
    for (int j = 0; j < 3; ++j) {
      const uint64_t q = positions[3 * key + j];
      --count[q];
      xor_of_keys[q] ^= key;
      if (count[q] == 1) queue.push_back(q);
    }
  }
  if (order.size() != n) return false;
  for (size_t k = order.size(); k-- > 0;) {
    const uint32_t key = order[k].first;
    const uint64_t free_cell = order[k].second;
    uint32_t v = values[key] ^ masks[key];
    for (int j = 0; j < 3; ++j) {
      const uint64_t q = positions[3 * key + j];
      if (q != free_cell) v ^= solution[q];
    }
    solution[free_cell] = static_cast<uint16_t>(v);
  }
  return true;
}

}  // namespace retrieval
}  // namespace weightless
