// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// RetrievalTable::Build (sharding, retries, threads, serialization) and
// RetrievalView (validation, lookup, bulk decode).

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "retrieval/decode_kernels.h"
#include "retrieval/hashing.h"
#include "retrieval/layout.h"
#include "retrieval/query.h"
#include "retrieval/shard_solver.h"
#include "weightless/retrieval.h"

namespace weightless {

using retrieval::kDirectoryEntrySize;
using retrieval::kHeaderSize;

const char* RetrievalKindName(RetrievalKind kind) {
  switch (kind) {
    case RetrievalKind::kBloomier:
      return "bloomier";
    case RetrievalKind::kRibbon:
      return "ribbon";
  }
  return "unknown";
}

Result<RetrievalKind> ParseRetrievalKind(std::string_view name) {
  if (name == "bloomier") return RetrievalKind::kBloomier;
  if (name == "ribbon") return RetrievalKind::kRibbon;
  return Status::InvalidArgument("unknown retrieval encoding '" + std::string(name) + "'",
                                 "expected 'ribbon' or 'bloomier'");
}

namespace {

constexpr uint32_t kDefaultRibbonKeysPerShard = 2048;
constexpr uint32_t kDefaultBloomierKeysPerShard = 8192;
constexpr int kMaxAttemptsLimit = 65536;

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Runs work(i) for i in [0, count) on up to `threads` threads, handing out indices in
// increasing order. Returns when all are done.
template <typename Work>
void ParallelFor(uint64_t count, int threads, Work work) {
  if (threads <= 1 || count <= 1) {
    for (uint64_t i = 0; i < count; ++i) work(i);
    return;
  }
  std::atomic<uint64_t> next{0};
  auto worker = [&] {
    for (uint64_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) work(i);
  };
  const int n = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(threads), count));
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (int i = 1; i < n; ++i) pool.emplace_back(worker);
  worker();
  for (std::thread& th : pool) th.join();
}

std::string Num(uint64_t v) { return std::to_string(v); }

Status ValidateBuildInput(uint64_t universe, const uint64_t* keys, const uint16_t* values,
                          size_t count, const RetrievalOptions& options) {
  if (options.kind != RetrievalKind::kBloomier && options.kind != RetrievalKind::kRibbon) {
    return Status::InvalidArgument("unknown retrieval kind " +
                                   Num(static_cast<uint64_t>(options.kind)));
  }
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

void WriteHeader(uint8_t* p, RetrievalKind kind, int t, uint64_t universe, uint64_t span,
                 uint64_t seed, uint32_t shard_count) {
  std::memcpy(p, retrieval::kSectionMagic, 4);
  p[4] = static_cast<uint8_t>(kind);
  p[5] = static_cast<uint8_t>(t);
  p[6] = p[7] = 0;
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
  const int threads = ResolveThreads(options.threads);
  std::vector<retrieval::SolverScratch> scratch(static_cast<size_t>(threads));
  // Each running shard build borrows one scratch; there are as many as threads.
  std::mutex scratch_mu;
  std::vector<retrieval::SolverScratch*> free_scratch;
  for (auto& s : scratch) free_scratch.push_back(&s);

  ParallelFor(shard_count, threads, [&](uint64_t s) {
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
      const bool solved = ribbon ? retrieval::SolveRibbonShard(keys + begin, values + begin, n,
                                                               seed, m, t, *sc, r.cells.data())
                                 : retrieval::SolveBloomierShard(keys + begin, values + begin, n,
                                                                 seed, m, t, *sc, r.cells.data());
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
  WriteHeader(out, options.kind, t, universe, span, options.seed,
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

// ---- RetrievalView -------------------------------------------------------------

namespace {
Status Corrupt(const std::string& field, uint64_t offset, const std::string& problem) {
  return Status::Corruption("retrieval table: " + field + " at byte offset " + Num(offset),
                            problem);
}
}  // namespace

Result<RetrievalView> RetrievalView::Open(const uint8_t* data, size_t size) {
  if (data == nullptr && size > 0) return Status::InvalidArgument("retrieval table: null data");
  if (size < kHeaderSize) {
    return Corrupt("header", 0,
                   "section is " + Num(size) + " bytes, shorter than the 40-byte header");
  }
  if (std::memcmp(data, retrieval::kSectionMagic, 4) != 0) {
    return Corrupt("magic", 0, "expected \"WLRT\"");
  }
  RetrievalView v;
  v.data_ = data;
  v.size_ = size;
  const uint8_t kind = data[4];
  if (kind != static_cast<uint8_t>(RetrievalKind::kBloomier) &&
      kind != static_cast<uint8_t>(RetrievalKind::kRibbon)) {
    return Status::NotSupported("retrieval table: kind at byte offset 4 is " + Num(kind),
                                "this reader knows 1 (bloomier) and 2 (ribbon)");
  }
  v.kind_ = static_cast<RetrievalKind>(kind);
  v.value_bits_ = data[5];
  if (v.value_bits_ < RetrievalLimits::kMinValueBits ||
      v.value_bits_ > RetrievalLimits::kMaxValueBits) {
    return Corrupt("value_bits", 5, "is " + Num(data[5]) + ", must be 1..16");
  }
  if (data[6] != 0 || data[7] != 0) return Corrupt("reserved", 6, "must be zero");
  v.universe_ = LoadLE64(data + 8);
  v.shard_span_ = LoadLE64(data + 16);
  v.seed_ = LoadLE64(data + 24);
  v.shard_count_ = LoadLE32(data + 32);
  if (LoadLE32(data + 36) != 0) return Corrupt("reserved", 36, "must be zero");
  if (v.universe_ > RetrievalLimits::kMaxUniverse) {
    return Corrupt("universe", 8, Num(v.universe_) + " exceeds the limit of 2^48");
  }
  if (v.shard_span_ == 0) return Corrupt("shard_span", 16, "must be at least 1");
  const uint64_t expected_shards = v.universe_ == 0 ? 0 : (v.universe_ - 1) / v.shard_span_ + 1;
  if (v.shard_count_ != expected_shards) {
    return Corrupt("shard_count", 32,
                   "is " + Num(v.shard_count_) + ", but universe " + Num(v.universe_) +
                       " and shard_span " + Num(v.shard_span_) + " need " + Num(expected_shards));
  }
  if (v.shard_count_ > RetrievalLimits::kMaxShards) {
    return Corrupt("shard_count", 32, Num(v.shard_count_) + " exceeds the limit of 2^26");
  }
  const uint64_t directory_bytes = (v.shard_count_ + 1) * kDirectoryEntrySize;
  if (size - kHeaderSize < directory_bytes) {
    return Corrupt(
        "shard directory", kHeaderSize,
        "needs " + Num(directory_bytes) + " bytes, section has " + Num(size - kHeaderSize));
  }
  v.directory_ = data + kHeaderSize;
  uint64_t previous = 0;
  for (uint64_t s = 0; s <= v.shard_count_; ++s) {
    const uint64_t offset = kHeaderSize + s * kDirectoryEntrySize;
    const uint64_t begin = LoadLE32(data + offset);
    if (s == 0 && begin != 0) return Corrupt("shard 0 cell_begin", offset, "must be 0");
    if (begin < previous) {
      return Corrupt("shard " + Num(s) + " cell_begin", offset,
                     Num(begin) + " is below the previous shard's " + Num(previous));
    }
    if (s > 0) {
      const uint64_t cells = begin - previous;
      if (cells > RetrievalLimits::kMaxCellsPerShard) {
        return Corrupt("shard " + Num(s - 1) + " cells", offset,
                       Num(cells) + " exceeds the limit of 2^24");
      }
      if (v.kind_ == RetrievalKind::kBloomier && cells % 3 != 0) {
        return Corrupt("shard " + Num(s - 1) + " cells", offset,
                       Num(cells) + " is not a multiple of 3, as bloomier requires");
      }
    }
    if (s == v.shard_count_ && LoadLE32(data + offset + 4) != 0) {
      return Corrupt("terminal directory entry", offset + 4, "attempt must be zero");
    }
    previous = begin;
  }
  v.cell_count_ = previous;
  const uint64_t cells_offset = kHeaderSize + directory_bytes;
  const bool ribbon = v.kind_ == RetrievalKind::kRibbon;
  const uint64_t cell_bytes = retrieval::CellAreaBytes(ribbon, v.cell_count_, v.value_bits_);
  if (size - cells_offset != cell_bytes) {
    return Corrupt("cells", cells_offset,
                   Num(v.cell_count_) + " " + RetrievalKindName(v.kind_) + " cells of " +
                       Num(v.value_bits_) + " bits need " + Num(cell_bytes) +
                       " bytes with padding, section has " + Num(size - cells_offset));
  }
  v.cells_ = data + cells_offset;
  // Bits that belong to no cell must be zero, so that every table has exactly one
  // encoding and nothing can hide in it.
  if (ribbon) {
    const uint64_t tail_cells = v.cell_count_ % 64;
    const uint64_t full_blocks = v.cell_count_ / 64;
    if (tail_cells != 0) {
      const uint8_t* block = v.cells_ + full_blocks * 8 * v.value_bits_;
      for (int p = 0; p < v.value_bits_; ++p) {
        if (LoadLE64(block + 8 * p) >> tail_cells != 0) {
          return Corrupt("cells", cells_offset + (block - v.cells_) + 8 * p,
                         "bits past the last cell must be zero");
        }
      }
    }
    const uint64_t used_bytes = retrieval::RibbonBlocks(v.cell_count_) * 8 * v.value_bits_ -
                                8 * static_cast<uint64_t>(v.value_bits_);
    for (uint64_t i = used_bytes; i < cell_bytes; ++i) {
      if (v.cells_[i] != 0) return Corrupt("padding", cells_offset + i, "must be zero");
    }
  } else {
    const uint64_t used_bits = v.cell_count_ * static_cast<uint64_t>(v.value_bits_);
    const uint64_t used_bytes = (used_bits + 7) / 8;
    if (used_bits % 8 != 0 && (v.cells_[used_bytes - 1] >> (used_bits % 8)) != 0) {
      return Corrupt("cells", cells_offset + used_bytes - 1,
                     "bits past the last cell must be zero");
    }
    for (uint64_t i = used_bytes; i < cell_bytes; ++i) {
      if (v.cells_[i] != 0) return Corrupt("padding", cells_offset + i, "must be zero");
    }
  }
  return v;
}

uint64_t RetrievalView::SectionSize(RetrievalKind kind, int t, uint64_t shard_count,
                                    uint64_t cells) {
  return kHeaderSize + (shard_count + 1) * kDirectoryEntrySize +
         retrieval::CellAreaBytes(kind == RetrievalKind::kRibbon, cells, t);
}

namespace {
retrieval::ShardGeometry GeometryOf(const uint8_t* directory, const uint8_t* cells, uint64_t seed,
                                    uint64_t shard) {
  const retrieval::ShardEntry e = retrieval::ReadShardEntry(directory, shard);
  return retrieval::ShardGeometry{cells, e.cell_begin,
                                  static_cast<uint64_t>(e.cell_end - e.cell_begin),
                                  retrieval::ShardSeed(seed, shard, e.attempt)};
}
}  // namespace

uint32_t RetrievalView::Lookup(uint64_t key) const {
  if (key >= universe_) return 0;
  const uint64_t shard = key / shard_span_;
  const retrieval::ShardGeometry g = GeometryOf(directory_, cells_, seed_, shard);
  uint16_t out = 0;
  retrieval::SelectedDecodeKernels().codes(kind_, value_bits_, g, key, key + 1, &out);
  return out;
}

namespace {
// Splits [begin, end) into per-thread chunks aligned to shard boundaries and runs
// fn(shard geometry, lo, hi) for each shard piece.
template <typename Fn>
void ForEachShardPiece(uint64_t begin, uint64_t end, uint64_t span, int threads, Fn fn) {
  const uint64_t first = begin / span;
  const uint64_t last = (end - 1) / span;  // inclusive
  const uint64_t shards = last - first + 1;
  auto run = [&](uint64_t s_begin, uint64_t s_end) {
    for (uint64_t s = s_begin; s < s_end; ++s) {
      const uint64_t lo = std::max(begin, s * span);
      const uint64_t hi = std::min(end, (s + 1) * span);
      fn(s, lo, hi);
    }
  };
  const uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(threads), shards);
  if (n <= 1) {
    run(first, last + 1);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (uint64_t i = 1; i < n; ++i) {
    pool.emplace_back(run, first + shards * i / n, first + shards * (i + 1) / n);
  }
  run(first, first + shards / n);
  for (std::thread& th : pool) th.join();
}
}  // namespace

Status RetrievalView::DecodeCodes(uint64_t begin, uint64_t end, uint16_t* out, int threads) const {
  if (begin > end || end > universe_) {
    return Status::OutOfRange("decode range [" + Num(begin) + ", " + Num(end) + ")",
                              "must lie within [0, " + Num(universe_) + ")");
  }
  if (begin == end) return Status::OK();
  if (threads < 0) return Status::InvalidArgument("threads must be >= 0");
  const retrieval::DecodeKernels& kernels = retrieval::SelectedDecodeKernels();
  ForEachShardPiece(begin, end, shard_span_, ResolveThreads(threads),
                    [&](uint64_t s, uint64_t lo, uint64_t hi) {
                      const retrieval::ShardGeometry g = GeometryOf(directory_, cells_, seed_, s);
                      kernels.codes(kind_, value_bits_, g, lo, hi, out + (lo - begin));
                    });
  return Status::OK();
}

Status RetrievalView::DecodeFloats(uint64_t begin, uint64_t end, const float* centroids, uint32_t k,
                                   float* out, int threads) const {
  if (begin > end || end > universe_) {
    return Status::OutOfRange("decode range [" + Num(begin) + ", " + Num(end) + ")",
                              "must lie within [0, " + Num(universe_) + ")");
  }
  if (k > (uint32_t{1} << value_bits_) - 1) {
    return Status::InvalidArgument("k = " + Num(k) + " centroids",
                                   "a table of t = " + std::to_string(value_bits_) +
                                       " holds codes up to " +
                                       Num((uint32_t{1} << value_bits_) - 1));
  }
  if (k > 0 && centroids == nullptr) return Status::InvalidArgument("centroids is null");
  if (threads < 0) return Status::InvalidArgument("threads must be >= 0");
  if (begin == end) return Status::OK();
  if (k == 0) {  // every code decodes to zero
    std::fill(out, out + (end - begin), 0.0f);
    return Status::OK();
  }
  const retrieval::DecodeKernels& kernels = retrieval::SelectedDecodeKernels();
  ForEachShardPiece(
      begin, end, shard_span_, ResolveThreads(threads), [&](uint64_t s, uint64_t lo, uint64_t hi) {
        const retrieval::ShardGeometry g = GeometryOf(directory_, cells_, seed_, s);
        kernels.floats(kind_, value_bits_, g, lo, hi, centroids, k, out + (lo - begin));
      });
  return Status::OK();
}

}  // namespace weightless
