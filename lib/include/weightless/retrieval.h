// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Retrieval tables: the structure at the heart of Weightless.
//
// A retrieval table maps keys (the linear, row-major indices of a layer's kept weights,
// all below a `universe` N) to t-bit values (cluster codes 1..2^t-1) without storing
// the keys. Query(i) = mask(i) XOR (a combination of the table cells that i hashes to):
//   - for a key that was stored, Query returns its value exactly;
//   - for any other index it returns a uniformly distributed t-bit value, so a
//     non-member reads a non-zero code with probability (2^t - 1) / 2^t and a code in
//     1..K with probability K / 2^t (Weightless's false positives).
//
// The table is split into shards of consecutive indices, each an independent small
// table with its own retry counter, so that bulk decode runs from cache, builds and
// decodes run in parallel over shards, a failed build retries one shard, and an index
// range decodes only the shards it covers.
//
// Two encodings share the section layout (spec/RETRIEVAL.md):
//   kBloomier  the paper's Bloomier filter: 3 hashes into a 3-partitioned table built
//              by hypergraph peeling, about 1.23 cells per key. The faithful reference.
//   kRibbon    standard ribbon retrieval (Dillinger & Walzer): each key owns a random
//              64-bit coefficient row starting at a random column; the banded linear
//              system is solved by on-the-fly Gaussian elimination. Per-shard cell
//              counts are chosen by the builder, about 1.01-1.02 cells per key. Default.
//
// A table is immutable once built. RetrievalTable owns its bytes; RetrievalView reads
// the same bytes in place (e.g. from an mmap'd file) after validating them.
//
// Thread safety: all const member functions of RetrievalTable and RetrievalView may be
// called concurrently from any number of threads.

#ifndef WEIGHTLESS_RETRIEVAL_H_
#define WEIGHTLESS_RETRIEVAL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "weightless/export.h"
#include "weightless/retrieval_kind.h"
#include "weightless/status.h"

namespace weightless {

// Limits that every writer respects and every reader enforces (spec/RETRIEVAL.md).
struct RetrievalLimits {
  static constexpr int kMinValueBits = 1;
  static constexpr int kMaxValueBits = 16;
  // Keys are below the universe; the universe is at most 2^48 indices.
  static constexpr uint64_t kMaxUniverse = uint64_t{1} << 48;
  // At most 2^26 shards per table.
  static constexpr uint64_t kMaxShards = uint64_t{1} << 26;
  // At most 2^24 cells in one shard.
  static constexpr uint64_t kMaxCellsPerShard = uint64_t{1} << 24;
  // At most 2^32 - 1 cells in one table (cell offsets are 32-bit).
  static constexpr uint64_t kMaxCells = (uint64_t{1} << 32) - 1;
  // A table hashed with mix32 has at most 2^32 indices per shard (mix32 hashes a key's
  // low 32 bits).
  static constexpr uint64_t kMix32MaxShardSpan = uint64_t{1} << 32;
};

struct RetrievalOptions {
  RetrievalKind kind = RetrievalKind::kRibbon;
  // The key hashing. Unset: DefaultRetrievalHash(kind, shard_span), i.e. mix32 for
  // ribbon, xxh3 for bloomier. kMix32 requires kind kRibbon (and shard_span <= 2^32); a
  // file holding a mix32 table needs a reader of format 1.1 (feature "ribbon-mix32"), so
  // set kXxh3 for files that readers of format 1.0 must read.
  std::optional<RetrievalHash> hash;
  // t: bits per value, 1..16. Stored values must lie in 1..2^t-1.
  int value_bits = 8;
  // The table seed; all hashing derives from it. Different seeds give different
  // (equally valid) tables with different false positives.
  uint64_t seed = 0;
  // Indices per shard. 0 chooses it so that shards hold about keys_per_shard keys.
  uint64_t shard_span = 0;
  // Target keys per shard when shard_span is 0. 0 chooses the encoding's default
  // (ribbon: 2048, bloomier: 8192), which keeps a shard's cells in L1/L2 cache.
  uint32_t keys_per_shard = 0;
  // Builds of one shard attempted (each with a new hash seed and, for ribbon, a
  // slightly larger table) before the build fails with BuildFailed. 1..65536.
  int max_attempts = 64;
  // Threads used to build shards: 0 (the default, as everywhere in the library) means
  // one per hardware thread; the table is the same whatever the number.
  int threads = 0;
};

// What a table costs. Cells are t bits each.
struct RetrievalStats {
  uint64_t keys = 0;
  uint64_t universe = 0;
  uint64_t shards = 0;
  uint64_t cells = 0;
  // Attempts summed over shards (shards built at the first attempt count 1).
  uint64_t attempts = 0;
  // Size of the serialized table (header, shard directory, cells, padding).
  uint64_t section_bytes = 0;
  // cells / keys, and section_bytes * 8 / keys / t (both 0 when there are no keys).
  double cells_per_key = 0;
  double bits_per_key_over_t = 0;
};

// A validated, non-owning view of a serialized retrieval table.
class WEIGHTLESS_EXPORT RetrievalView {
 public:
  // Validates `size` bytes at `data` and returns a view of them. Every field is
  // checked against spec/RETRIEVAL.md before use (kind, t, universe, shard count and
  // span, monotone cell offsets, per-shard and total limits, the exact section size,
  // zero reserved fields and padding); a failure returns Corruption, or NotSupported
  // for an unknown encoding, naming the field and its byte offset.
  // The bytes must stay alive and unchanged while the view is used. No alignment is
  // required. O(number of shards).
  static Result<RetrievalView> Open(const uint8_t* data, size_t size);

  // The exact size in bytes of a valid section with these parameters.
  // REQUIRES: 1 <= t <= 16, shard_count <= RetrievalLimits::kMaxShards,
  // cells <= RetrievalLimits::kMaxCells (so the result cannot overflow).
  static uint64_t SectionSize(RetrievalKind kind, int t, uint64_t shard_count, uint64_t cells);

  RetrievalKind kind() const { return kind_; }
  RetrievalHash hash() const { return hash_; }
  int value_bits() const { return value_bits_; }
  uint64_t universe() const { return universe_; }
  uint64_t seed() const { return seed_; }
  uint64_t shard_span() const { return shard_span_; }
  uint64_t shard_count() const { return shard_count_; }
  uint64_t cell_count() const { return cell_count_; }
  size_t size_bytes() const { return size_; }

  // Query(key): the stored value for a key, a uniform t-bit value otherwise.
  // Returns 0 for key >= universe(). No allocation.
  uint32_t Lookup(uint64_t key) const;

  // Writes Query(i) for every i in [begin, end) to out[i - begin].
  // REQUIRES: out holds end - begin elements. Returns OutOfRange if begin > end or
  // end > universe(). threads: 0 (the default) = one per hardware thread, at most one
  // per shard of the range. No allocation when threads == 1 or the range lies in one
  // shard; otherwise only the worker threads themselves.
  Status DecodeCodes(uint64_t begin, uint64_t end, uint16_t* out, int threads = 0) const;

  // As DecodeCodes, but writes the weight each code stands for: centroids[code - 1] for
  // a code in 1..k, 0.0f for code 0 and codes above k.
  // REQUIRES: centroids holds k floats; k <= 2^t - 1 (else InvalidArgument).
  Status DecodeFloats(uint64_t begin, uint64_t end, const float* centroids, uint32_t k, float* out,
                      int threads = 0) const;

 private:
  friend class RetrievalTable;
  RetrievalView() = default;

  const uint8_t* data_ = nullptr;  // the whole section
  size_t size_ = 0;
  const uint8_t* directory_ = nullptr;
  const uint8_t* cells_ = nullptr;
  RetrievalKind kind_ = RetrievalKind::kRibbon;
  RetrievalHash hash_ = RetrievalHash::kXxh3;
  int value_bits_ = 0;
  uint64_t universe_ = 0;
  uint64_t seed_ = 0;
  uint64_t shard_span_ = 0;
  uint64_t shard_count_ = 0;
  uint64_t cell_count_ = 0;
};

// An immutable, owning retrieval table.
class WEIGHTLESS_EXPORT RetrievalTable {
 public:
  // Builds a table storing values[i] for keys[i], i < count.
  // REQUIRES: keys and values point to `count` elements (may be null when count == 0).
  // Errors (InvalidArgument unless noted), each naming the offending position:
  //   value_bits outside 1..16; a value 0 or >= 2^value_bits; keys not strictly
  //   ascending (a repeated key is a duplicate); a key >= universe; universe, shard
  //   count or cell count beyond RetrievalLimits (OutOfRange); a shard that could not be
  //   built in max_attempts attempts (BuildFailed, naming the shard and its key range).
  // Deterministic: the same inputs and options give byte-identical tables, whatever
  // the number of threads.
  static Result<RetrievalTable> Build(uint64_t universe, const uint64_t* keys,
                                      const uint16_t* values, size_t count,
                                      const RetrievalOptions& options);

  // Adopts serialized bytes (e.g. read from a file) after validating them exactly as
  // RetrievalView::Open does.
  static Result<RetrievalTable> FromBytes(std::vector<uint8_t> bytes);

  // Movable (moving keeps the bytes where they are, so views stay valid), not copyable.
  RetrievalTable(RetrievalTable&&) noexcept = default;
  RetrievalTable& operator=(RetrievalTable&&) noexcept = default;
  RetrievalTable(const RetrievalTable&) = delete;
  RetrievalTable& operator=(const RetrievalTable&) = delete;

  // The serialized table: exactly the bytes a file stores (spec/RETRIEVAL.md).
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  // A view of this table; valid while the table (or what it was moved to) is alive.
  const RetrievalView& view() const { return view_; }
  // Build statistics. `attempts` is 0 for a table made by FromBytes.
  const RetrievalStats& stats() const { return stats_; }

 private:
  RetrievalTable() = default;
  std::vector<uint8_t> bytes_;
  RetrievalView view_;  // points into bytes_
  RetrievalStats stats_;
};

}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_H_
