// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// RetrievalTable: Build (sharding, retries, threads, serialization) and FromBytes.
// Building needs the shard solvers; reading a table needs only retrieval_view.cc and
// retrieval_view_open.cc.

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/parallel.h"
#include "retrieval/hashing.h"
#include "retrieval/layout.h"
#include "retrieval/shard_solver.h"
#include "weightless/retrieval.h"

namespace weightless {

using retrieval::kDirectoryEntrySize;
using retrieval::kHeaderSize;

namespace {

constexpr uint32_t kDefaultRibbonKeysPerShard = 2048;
constexpr uint32_t kDefaultBloomierKeysPerShard = 8192;
constexpr int kMaxAttemptsLimit = 65536;

std::string Num(uint64_t v) { return std::to_string(v); }

Status ValidateBuildInput(uint64_t universe, const uint64_t* keys, const uint16_t* values,
                          size_t count, const RetrievalOptions& options) {
  if (Status s = CheckRetrievalKindAndHash(options.kind, options.hash); !s.ok()) return s;
  const int t = options.value_bits;
  if (t < RetrievalLimits::kMinValueBits || t > RetrievalLimits::kMaxValueBits) {
    return Status::InvalidArgument("value_bits (t) is " + std::to_string(t), "must be 1..16");
  }
  if (options.max_attempts < 1 || options.max_attempts > kMaxAttemptsLimit) {
    return Status::InvalidArgument("max_attempts is " + std::to_string(options.max_attempts),
                                   "must be 1..65536");
  }
  if (options.threads < 0) {
    return Status::InvalidArgument("threads is " + std::to_string(options.threads), "must be >= 0");
  }
  if (universe > RetrievalLimits::kMaxUniverse) {
    return Status::OutOfRange("universe " + Num(universe), "exceeds the limit of 2^48 indices");
  }
  if (count > 0 && (keys == nullptr || values == nullptr)) {
    return Status::InvalidArgument("keys or values is null with count " + Num(count));
  }
  const uint32_t max_value = (uint32_t{1} << t) - 1;
  for (size_t i = 0; i < count; ++i) {
    if (values[i] == 0 || values[i] > max_value) {
      return Status::InvalidArgument(
          "value " + Num(values[i]) + " at position " + Num(i) + " (key " + Num(keys[i]) + ")",
          "values must be 1.." + Num(max_value) + " for t = " + std::to_string(t));
    }
    if (keys[i] >= universe) {
      return Status::InvalidArgument("key " + Num(keys[i]) + " at position " + Num(i),
                                     "must be below the universe " + Num(universe));
    }
    if (i > 0 && keys[i] <= keys[i - 1]) {
      if (keys[i] == keys[i - 1]) {
        return Status::InvalidArgument("duplicate key " + Num(keys[i]) + " at positions " +
                                       Num(i - 1) + " and " + Num(i));
      }
      return Status::InvalidArgument(
          "keys must be strictly ascending",
          "key " + Num(keys[i]) + " at position " + Num(i) + " follows " + Num(keys[i - 1]));
    }
  }
  return Status::OK();
}

uint64_t ChooseShardSpan(uint64_t universe, size_t count, const RetrievalOptions& options) {
  if (options.shard_span > 0) return options.shard_span;
  if (universe == 0) return 1;
  uint64_t per_shard = options.keys_per_shard;
  if (per_shard == 0) {
    per_shard = options.kind == RetrievalKind::kRibbon ? kDefaultRibbonKeysPerShard
                                                       : kDefaultBloomierKeysPerShard;
  }
  const uint64_t shards = std::max<uint64_t>(1, (count + per_shard - 1) / per_shard);
  // ceil(universe / shards), and at least enough to respect the shard limit.
  uint64_t span = (universe + shards - 1) / shards;
  const uint64_t min_span =
      (universe + RetrievalLimits::kMaxShards - 1) / RetrievalLimits::kMaxShards;
  return std::max(span, min_span);
}

// The outcome of building one shard.
struct ShardResult {
  std::vector<uint16_t> cells;
  uint32_t attempt = 0;
  uint32_t attempts_used = 0;
  bool ok = false;
};

void WriteHeader(uint8_t* p, RetrievalKind kind, RetrievalHash hash, int t, uint64_t universe,
                 uint64_t span, uint64_t seed, uint32_t shard_count) {
  std::memcpy(p, retrieval::kSectionMagic, 4);
  p[4] = static_cast<uint8_t>(kind);
  p[5] = static_cast<uint8_t>(t);
  p[6] = static_cast<uint8_t>(hash);
  p[7] = 0;
  StoreLE64(p + 8, universe);
  StoreLE64(p + 16, span);
  StoreLE64(p + 24, seed);
  StoreLE32(p + 32, shard_count);
  StoreLE32(p + 36, 0);
}

}  // namespace

Result<RetrievalTable> RetrievalTable::Build(uint64_t universe, const uint64_t* keys,
                                             const uint16_t* values, size_t count,
                                             const RetrievalOptions& options) {
  Status valid = ValidateBuildInput(universe, keys, values, count, options);
  if (!valid.ok()) return valid;
  const int t = options.value_bits;
  const uint64_t span = ChooseShardSpan(universe, count, options);
  if (options.hash == RetrievalHash::kMix32 && span > RetrievalLimits::kMix32MaxShardSpan) {
    return Status::InvalidArgument("shard_span " + Num(span) + " with hash mix32",
                                   "mix32 hashes a key's low 32 bits: at most 2^32 per shard; "
                                   "set a smaller shard_span or use hash xxh3");
  }
  const RetrievalHash hash =
      options.hash ? *options.hash : DefaultRetrievalHash(options.kind, span);
  const uint64_t shard_count = universe == 0 ? 0 : (universe - 1) / span + 1;
  if (shard_count > RetrievalLimits::kMaxShards) {
    return Status::OutOfRange("shard count " + Num(shard_count) + " (universe " + Num(universe) +
                                  ", shard_span " + Num(span) + ")",
                              "exceeds the limit of 2^26 shards");
  }

  // Keys are ascending, so each shard's keys are one contiguous run.
  std::vector<size_t> first_key(shard_count + 1, count);
  {
    size_t i = 0;
    for (uint64_t s = 0; s < shard_count; ++s) {
      first_key[s] = i;
      const uint64_t shard_end = std::min(universe, (s + 1) * span);
      while (i < count && keys[i] < shard_end) ++i;
    }
  }

  std::vector<ShardResult> results(shard_count);
  const bool ribbon = options.kind == RetrievalKind::kRibbon;
  const int threads = parallel::ResolveThreads(options.threads);
  std::vector<retrieval::SolverScratch> scratch(static_cast<size_t>(threads));
  // Each running shard build borrows one scratch; there are as many as threads.
  std::mutex scratch_mu;
  std::vector<retrieval::SolverScratch*> free_scratch;
  for (auto& s : scratch) free_scratch.push_back(&s);

  parallel::ForEachIndex(shard_count, threads, [&](uint64_t s) {
    retrieval::SolverScratch* sc;
    {
      std::lock_guard<std::mutex> lock(scratch_mu);
      sc = free_scratch.back();
      free_scratch.pop_back();
    }
    const size_t begin = first_key[s];
    const size_t n = first_key[s + 1] - begin;
    ShardResult& r = results[s];
    for (int a = 0; a < options.max_attempts; ++a) {
      const uint32_t attempt = static_cast<uint32_t>(a);
      const uint64_t m =
          ribbon ? retrieval::RibbonCellsFor(n, attempt) : retrieval::BloomierCellsFor(n, attempt);
      if (m > RetrievalLimits::kMaxCellsPerShard) break;
      r.cells.resize(m);
      const uint64_t seed = retrieval::ShardSeed(options.seed, s, attempt);
      const bool solved = ribbon
                              ? retrieval::SolveRibbonShard(keys + begin, values + begin, n, seed,
                                                            hash, m, t, *sc, r.cells.data())
                              : retrieval::SolveBloomierShard(keys + begin, values + begin, n, seed,
                                                              m, t, *sc, r.cells.data());
      r.attempts_used = attempt + 1;
      if (solved) {
        r.attempt = attempt;
        r.ok = true;
        break;
      }
    }
    if (!r.ok) r.cells.clear();
    std::lock_guard<std::mutex> lock(scratch_mu);
    free_scratch.push_back(sc);
  });

  uint64_t total_cells = 0;
  uint64_t total_attempts = 0;
  for (uint64_t s = 0; s < shard_count; ++s) {
    const ShardResult& r = results[s];
    if (!r.ok) {
      const size_t n = first_key[s + 1] - first_key[s];
      return Status::BuildFailed(
          "shard " + Num(s) + " (indices " + Num(s * span) + ".." +
              Num(std::min(universe, (s + 1) * span) - 1) + ", " + Num(n) + " keys)",
          "no solvable " + std::string(RetrievalKindName(options.kind)) + " table in " +
              std::to_string(r.attempts_used) +
              " attempts; duplicate hashes are rare, so raise max_attempts or shrink the shard");
    }
    total_cells += r.cells.size();
    total_attempts += r.attempts_used;
  }
  if (total_cells > RetrievalLimits::kMaxCells) {
    return Status::OutOfRange("table needs " + Num(total_cells) + " cells",
                              "exceeds the limit of 2^32 - 1 cells; split the layer");
  }

  // Serialize: header, directory, cells.
  const uint64_t directory_bytes = (shard_count + 1) * kDirectoryEntrySize;
  const uint64_t cell_bytes = retrieval::CellAreaBytes(ribbon, total_cells, t);
  RetrievalTable table;
  table.bytes_.assign(kHeaderSize + directory_bytes + cell_bytes, 0);
  uint8_t* out = table.bytes_.data();
  WriteHeader(out, options.kind, hash, t, universe, span, options.seed,
              static_cast<uint32_t>(shard_count));
  uint8_t* directory = out + kHeaderSize;
  uint8_t* cells = directory + directory_bytes;
  uint64_t cell_begin = 0;
  for (uint64_t s = 0; s < shard_count; ++s) {
    const ShardResult& r = results[s];
    StoreLE32(directory + s * kDirectoryEntrySize, static_cast<uint32_t>(cell_begin));
    StoreLE32(directory + s * kDirectoryEntrySize + 4, r.attempt);
    const uint64_t m = r.cells.size();
    for (uint64_t j = 0; j < m; ++j) {
      const uint64_t cell = cell_begin + j;
      if (ribbon) {  // bit p of the cell goes to word p of its block, bit cell % 64
        uint8_t* block = cells + (cell / 64) * 8 * static_cast<uint64_t>(t);
        for (int p = 0; p < t; ++p) {
          if ((r.cells[j] >> p) & 1) block[8 * p + (cell % 64) / 8] |= 1u << (cell % 8);
        }
      } else {
        retrieval::OrBits(cells, cell * static_cast<uint64_t>(t), r.cells[j], t);
      }
    }
    cell_begin += m;
  }
  StoreLE32(directory + shard_count * kDirectoryEntrySize, static_cast<uint32_t>(total_cells));
  StoreLE32(directory + shard_count * kDirectoryEntrySize + 4, 0);

  Result<RetrievalView> view = RetrievalView::Open(table.bytes_.data(), table.bytes_.size());
  if (!view.ok()) return Status::Internal("built table fails validation", view.status().ToString());
  table.view_ = *view;
  RetrievalStats& st = table.stats_;
  st.keys = count;
  st.universe = universe;
  st.shards = shard_count;
  st.cells = total_cells;
  st.attempts = total_attempts;
  st.section_bytes = table.bytes_.size();
  if (count > 0) {
    st.cells_per_key = static_cast<double>(total_cells) / static_cast<double>(count);
    st.bits_per_key_over_t = static_cast<double>(st.section_bytes) * 8.0 /
                             static_cast<double>(count) / static_cast<double>(t);
  }
  return table;
}

Result<RetrievalTable> RetrievalTable::FromBytes(std::vector<uint8_t> bytes) {
  RetrievalTable table;
  table.bytes_ = std::move(bytes);
  Result<RetrievalView> view = RetrievalView::Open(table.bytes_.data(), table.bytes_.size());
  if (!view.ok()) return view.status();
  table.view_ = *view;
  table.stats_.universe = view->universe();
  table.stats_.shards = view->shard_count();
  table.stats_.cells = view->cell_count();
  table.stats_.section_bytes = table.bytes_.size();
  return table;
}

}  // namespace weightless
