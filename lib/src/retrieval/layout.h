// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The byte layout of a retrieval table section (spec/RETRIEVAL.md, "Section layout").
// All integers are little-endian.
//
//   offset  size  field
//   0       4     magic "WLRT"
//   4       1     kind (1 = bloomier, 2 = ribbon)
//   5       1     value_bits t, 1..16
//   6       2     reserved, zero
//   8       8     universe N
//   16      8     shard_span S
//   24      8     seed
//   32      4     shard_count = ceil(N / S)
//   36      4     reserved, zero
//   40      8(C+1) shard directory: per shard {u32 cell_begin, u32 attempt}, then the
//                 terminal entry {u32 total_cells, u32 0}
//   ...     the cell area, whose form depends on the kind:
//     bloomier: cells of t bits packed LSB first: ceil(total_cells * t / 8) bytes,
//               then 8 zero bytes;
//     ribbon:   ceil(total_cells / 64) + 1 blocks of t little-endian 64-bit words (word
//               p of block b holds bit p of cells 64b .. 64b + 63; the last block is
//               zero), then 64 zero bytes.
//   The padding lets decoders use wide loads anywhere in the table.

#ifndef WEIGHTLESS_RETRIEVAL_LAYOUT_H_
#define WEIGHTLESS_RETRIEVAL_LAYOUT_H_

#include <cstdint>

#include "common/endian.h"

namespace weightless {
namespace retrieval {

constexpr uint8_t kSectionMagic[4] = {'W', 'L', 'R', 'T'};
constexpr size_t kHeaderSize = 40;
constexpr size_t kDirectoryEntrySize = 8;

constexpr size_t kBloomierPaddingBytes = 8;
constexpr size_t kRibbonPaddingBytes = 64;

// Ribbon cell blocks (of t words each), including the trailing zero block.
static inline uint64_t RibbonBlocks(uint64_t cells) { return (cells + 63) / 64 + 1; }

// Bytes of the cell area for `cells` cells of t bits, padding included.
static inline uint64_t CellAreaBytes(bool ribbon, uint64_t cells, int t) {
  const uint64_t tt = static_cast<uint64_t>(t);
  if (ribbon) return RibbonBlocks(cells) * 8 * tt + kRibbonPaddingBytes;
  return (cells * tt + 7) / 8 + kBloomierPaddingBytes;
}

// A byte range [begin, end) of the cell area.
struct ByteRange {
  uint64_t begin;
  uint64_t end;
};

// The bytes of the cell area that decoding keys of shards whose cells are
// [cell_begin, cell_end) may read, the decoders' wide loads included (a ribbon row
// reaches 64 cells past its start, kernels load whole blocks and up to 64 bytes ahead),
// clipped to an area of area_bytes. A reader that has only these bytes (and zeros
// elsewhere) decodes those keys exactly as from the whole table.
static inline ByteRange CellBytesOfShards(bool ribbon, uint64_t cell_begin, uint64_t cell_end,
                                          int t, uint64_t area_bytes) {
  const uint64_t tt = static_cast<uint64_t>(t);
  uint64_t begin, end;
  if (ribbon) {
    begin = cell_begin / 64 * 8 * tt;
    end = ((cell_end + 63) / 64 + 2) * 8 * tt + kRibbonPaddingBytes;
  } else {
    begin = cell_begin * tt / 8;
    end = (cell_end * tt + 7) / 8 + kBloomierPaddingBytes;
  }
  if (end > area_bytes) end = area_bytes;
  if (begin > end) begin = end;
  return ByteRange{begin, end};
}

// The end of a cell area of `cells` cells that opening a table checks (its last block
// or byte and the padding, which must be zero beyond the cells).
static inline ByteRange CellAreaTail(bool ribbon, uint64_t cells, int t) {
  const uint64_t tt = static_cast<uint64_t>(t);
  const uint64_t area = CellAreaBytes(ribbon, cells, t);
  const uint64_t begin =
      ribbon ? cells / 64 * 8 * tt : ((cells * tt + 7) / 8 > 0 ? (cells * tt + 7) / 8 - 1 : 0);
  return ByteRange{begin, area};
}

// Cells of one shard for the directory entry at `entry` (the shard's own entry).
struct ShardEntry {
  uint32_t cell_begin;
  uint32_t attempt;
  uint32_t cell_end;  // the next entry's cell_begin
};

static inline ShardEntry ReadShardEntry(const uint8_t* directory, uint64_t shard) {
  const uint8_t* e = directory + shard * kDirectoryEntrySize;
  return ShardEntry{LoadLE32(e), LoadLE32(e + 4), LoadLE32(e + kDirectoryEntrySize)};
}

// Reads a t-bit cell starting at bit `bit`. REQUIRES: t <= 16; bytes up to bit / 8 + 7.
static inline uint32_t LoadCell(const uint8_t* cells, uint64_t bit, uint32_t cell_mask) {
  return static_cast<uint32_t>(LoadLE64(cells + (bit >> 3)) >> (bit & 7)) & cell_mask;
}

// ORs the low `nbits` (<= 16) of `value` into `cells` at bit `bit`. The area must be
// zeroed beforehand.
static inline void OrBits(uint8_t* cells, uint64_t bit, uint32_t value, int nbits) {
  uint32_t v = value & ((1u << nbits) - 1);
  uint64_t byte = bit >> 3;
  unsigned shift = bit & 7;
  uint32_t wide = v << shift;  // at most 23 bits
  for (int i = 0; wide != 0; ++i, wide >>= 8) cells[byte + i] |= static_cast<uint8_t>(wide);
}

}  // namespace retrieval
}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_LAYOUT_H_
