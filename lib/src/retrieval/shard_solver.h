// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Solvers for one shard: given the shard's keys and values, a hash seed and a cell
// count m, find t-bit cell contents such that every key's query returns its value.
// A solver reports failure (the hash produced an unsolvable system); the caller then
// retries with another attempt (new seed, and for ribbon a larger m).

#ifndef WEIGHTLESS_RETRIEVAL_SHARD_SOLVER_H_
#define WEIGHTLESS_RETRIEVAL_SHARD_SOLVER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "weightless/retrieval_kind.h"

namespace weightless {
namespace retrieval {

// Reusable working memory of one thread; grows to the largest shard seen.
struct SolverScratch {
  std::vector<uint64_t> u64;
  std::vector<uint32_t> u32a;
  std::vector<uint32_t> u32b;
  std::vector<uint16_t> u16;
};

// Cells for a ribbon shard of n keys at build attempt `attempt` (0-based): a little
// above n, growing every second attempt. 0 for n == 0.
uint64_t RibbonCellsFor(uint64_t n, uint32_t attempt);
// Cells for a Bloomier shard of n keys: 3 * ceil((ceil(1.23 n) + 32 + growth) / 3),
// where growth adds 1% of n every fourth attempt. 0 for n == 0.
uint64_t BloomierCellsFor(uint64_t n, uint32_t attempt);

// Each writes solution[0..m) (t-bit cell values) and returns true on success.
// REQUIRES: values are in 1..2^t-1; solution holds m elements.
// The ribbon rows come from `hash` (xxh3 or mix32, spec/RETRIEVAL.md "Hashing").
bool SolveRibbonShard(const uint64_t* keys, const uint16_t* values, size_t n, uint64_t shard_seed,
                      RetrievalHash hash, uint64_t m, int t, SolverScratch& scratch,
                      uint16_t* solution);
bool SolveBloomierShard(const uint64_t* keys, const uint16_t* values, size_t n, uint64_t shard_seed,
                        uint64_t m, int t, SolverScratch& scratch, uint16_t* solution);

}  // namespace retrieval
}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_SHARD_SOLVER_H_
