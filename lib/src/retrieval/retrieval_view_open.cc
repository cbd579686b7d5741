// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// RetrievalView::Open, the validation of a serialized table against spec/RETRIEVAL.md,
// and the names of the encodings and hashes. Apart from the queries (retrieval_view.cc)
// because it runs once per opened table, not per weight: the shared reader compiles it
// for size, the queries for speed (lib/CMakeLists.txt).

#include <cstring>
#include <string>

#include "common/name_table.h"
#include "retrieval/layout.h"
#include "weightless/retrieval.h"

namespace weightless {

using retrieval::kDirectoryEntrySize;
using retrieval::kHeaderSize;

namespace {
constexpr names::Entry<RetrievalKind> kRetrievalKindNames[] = {
    {RetrievalKind::kRibbon, "ribbon"},
    {RetrievalKind::kBloomier, "bloomier"},
};
constexpr names::Entry<RetrievalHash> kRetrievalHashNames[] = {
    {RetrievalHash::kXxh3, "xxh3"},
    {RetrievalHash::kMix32, "mix32"},
};
}  // namespace

const char* RetrievalKindName(RetrievalKind kind) {
  return names::NameOf(kRetrievalKindNames, kind);
}

const char* RetrievalHashName(RetrievalHash hash) {
  return names::NameOf(kRetrievalHashNames, hash);
}

Result<RetrievalKind> ParseRetrievalKind(std::string_view name) {
  return names::Parse(kRetrievalKindNames, name, "retrieval encoding");
}

Result<RetrievalHash> ParseRetrievalHash(std::string_view name) {
  return names::Parse(kRetrievalHashNames, name, "retrieval hash");
}

RetrievalHash DefaultRetrievalHash(RetrievalKind kind, uint64_t shard_span) {
  return kind == RetrievalKind::kRibbon && shard_span <= RetrievalLimits::kMix32MaxShardSpan
             ? RetrievalHash::kMix32
             : RetrievalHash::kXxh3;
}

Status CheckRetrievalKindAndHash(RetrievalKind kind, std::optional<RetrievalHash> hash) {
  if (kind != RetrievalKind::kBloomier && kind != RetrievalKind::kRibbon) {
    return Status::InvalidArgument(
        "unknown retrieval kind " + std::to_string(static_cast<unsigned>(kind)),
        "must be bloomier or ribbon");
  }
  if (hash && *hash != RetrievalHash::kXxh3 && *hash != RetrievalHash::kMix32) {
    return Status::InvalidArgument(
        "unknown retrieval hash " + std::to_string(static_cast<unsigned>(*hash)),
        "must be xxh3 or mix32");
  }
  if (hash == RetrievalHash::kMix32 && kind != RetrievalKind::kRibbon) {
    return Status::InvalidArgument("hash mix32 with kind " + std::string(RetrievalKindName(kind)),
                                   "mix32 is defined for ribbon tables only");
  }
  return Status::OK();
}

namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

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
  const uint8_t hash = data[6];
  if (hash != static_cast<uint8_t>(RetrievalHash::kXxh3) &&
      hash != static_cast<uint8_t>(RetrievalHash::kMix32)) {
    return Status::NotSupported("retrieval table: hash at byte offset 6 is " + Num(hash),
                                "this reader knows 0 (xxh3) and 1 (mix32)");
  }
  v.hash_ = static_cast<RetrievalHash>(hash);
  if (data[7] != 0) return Corrupt("reserved", 7, "must be zero");
  v.universe_ = LoadLE64(data + 8);
  v.shard_span_ = LoadLE64(data + 16);
  if (v.hash_ == RetrievalHash::kMix32) {
    if (v.kind_ != RetrievalKind::kRibbon) {
      return Corrupt("hash", 6, "mix32 is defined for ribbon tables only");
    }
    if (v.shard_span_ > RetrievalLimits::kMix32MaxShardSpan) {
      return Corrupt("shard_span", 16,
                     Num(v.shard_span_) + " exceeds 2^32, the limit of hash mix32");
    }
  }
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

}  // namespace weightless
