// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Retrieval storage (spec/RETRIEVAL.md): a ribbon or bloomier table holding the codes
// of the kept weights. The table's own layout and decoding are in retrieval/; this is
// where a section's table meets its description.

#include "container/file_layout.h"
#include "retrieval/layout.h"
#include "section/storage.h"

namespace weightless {
namespace section {
namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

Result<uint64_t> RetrievalSize(const TensorInfo& info) {
  Status s = CheckCentroids(info, info.code_bits);
  if (!s.ok()) return s;
  if (info.retrieval_kind != RetrievalKind::kRibbon &&
      info.retrieval_kind != RetrievalKind::kBloomier) {
    return container::Corrupt(FileError::kBadEnum,
                              Where(info) + ": retrieval kind " +
                                  Num(static_cast<uint64_t>(info.retrieval_kind)) +
                                  " has no meaning");
  }
  if (info.retrieval_hash != RetrievalHash::kXxh3 && info.retrieval_hash != RetrievalHash::kMix32) {
    return container::Corrupt(FileError::kBadEnum,
                              Where(info) + ": retrieval hash " +
                                  Num(static_cast<uint64_t>(info.retrieval_hash)) +
                                  " has no meaning");
  }
  const uint64_t elements = info.element_count();
  const uint64_t expected_shards =
      elements == 0 || info.shard_span == 0 ? 0 : (elements - 1) / info.shard_span + 1;
  if (info.shard_span == 0 || info.shard_count != expected_shards ||
      info.shard_count > RetrievalLimits::kMaxShards || info.cells > RetrievalLimits::kMaxCells) {
    return container::Corrupt(FileError::kBadEncoding,
                              Where(info) + ": shard layout (span " + Num(info.shard_span) + ", " +
                                  Num(info.shard_count) + " shards, " + Num(info.cells) +
                                  " cells) does not fit " + Num(elements) + " weights");
  }
  if (info.retrieval_hash == RetrievalHash::kMix32 &&
      (info.retrieval_kind != RetrievalKind::kRibbon ||
       info.shard_span > RetrievalLimits::kMix32MaxShardSpan)) {
    return container::Corrupt(FileError::kBadEncoding,
                              Where(info) +
                                  ": hash mix32 needs a ribbon table with shard_span "
                                  "at most 2^32");
  }
  return RetrievalView::SectionSize(info.retrieval_kind, info.code_bits, info.shard_count,
                                    info.cells);
}

Status OpenRetrieval(const TensorInfo& info, const uint8_t* data, uint64_t size,
                     std::optional<RetrievalView>* table) {
  Result<RetrievalView> view = RetrievalView::Open(data, size);
  if (!view.ok()) {
    return container::Corrupt(FileError::kBadEncoding,
                              Where(info) + ": " + view.status().ToString());
  }
  if (view->kind() != info.retrieval_kind || view->value_bits() != info.code_bits ||
      view->universe() != info.element_count() || view->seed() != info.retrieval_seed ||
      view->shard_span() != info.shard_span || view->shard_count() != info.shard_count ||
      view->cell_count() != info.cells) {
    return container::Corrupt(FileError::kBadEncoding,
                              Label(info) + ": the retrieval table at offset " +
                                  Num(info.section_offset) +
                                  " disagrees with the index (kind, t, universe, seed, "
                                  "shard layout or cells)");
  }
  if (view->hash() != info.retrieval_hash) {
    return container::Corrupt(FileError::kBadEncoding,
                              Label(info) + ": the retrieval table at offset " +
                                  Num(info.section_offset) + " is hashed with " +
                                  RetrievalHashName(view->hash()) + ", the index says " +
                                  RetrievalHashName(info.retrieval_hash));
  }
  *table = *view;
  return Status::OK();
}

Status DecodeRetrievalFloats(const SectionView& view, uint64_t begin, uint64_t end, float* out,
                             int threads) {
  const TensorInfo& t = view.info();
  return view.table()->DecodeFloats(begin, end, t.centroids.data(),
                                    static_cast<uint32_t>(t.centroids.size()), out, threads);
}

Status DecodeRetrievalCodes(const SectionView& view, uint64_t begin, uint64_t end, uint16_t* out,
                            int threads) {
  Status s = view.table()->DecodeCodes(begin, end, out, threads);
  if (!s.ok()) return s;
  const uint64_t k = view.info().centroids.size();
  for (uint64_t i = 0; i < end - begin; ++i) {
    if (out[i] > k) out[i] = 0;  // a false positive above K decodes to 0
  }
  return Status::OK();
}

Status CheckRetrievalValues(const SectionView&) { return Status::OK(); }

// The table's header and shard directory, the cells of the shards covering
// [begin, end) and the cell area's last block and padding (which opening checks).
Status ReadRetrievalPart(const TensorInfo& t, uint64_t begin, uint64_t end, const ReadFn& read,
                         uint8_t* data, bool* whole) {
  const uint64_t size =
      RetrievalView::SectionSize(t.retrieval_kind, t.code_bits, t.shard_count, t.cells);
  const uint64_t shards = t.shard_count;
  const uint64_t directory_bytes = (shards + 1) * retrieval::kDirectoryEntrySize;
  const uint64_t cells_offset = retrieval::kHeaderSize + directory_bytes;
  if (shards == 0 || t.shard_span == 0 || cells_offset > size) {
    *whole = true;
    return Status::OK();
  }
  Status s = read(0, cells_offset, data);
  if (!s.ok()) return s;
  const uint8_t* directory = data + retrieval::kHeaderSize;
  const uint64_t first_shard = begin / t.shard_span, last_shard = (end - 1) / t.shard_span;
  if (last_shard >= shards) {
    *whole = true;
    return Status::OK();
  }
  const uint64_t cell_begin = retrieval::ReadShardEntry(directory, first_shard).cell_begin;
  const uint64_t cell_end = retrieval::ReadShardEntry(directory, last_shard).cell_end;
  const uint64_t total_cells = retrieval::ReadShardEntry(directory, shards - 1).cell_end;
  const uint64_t area = size - cells_offset;
  const bool ribbon = t.retrieval_kind == RetrievalKind::kRibbon;
  if (cell_begin > cell_end || cell_end > total_cells ||
      area != retrieval::CellAreaBytes(ribbon, total_cells, t.code_bits)) {
    *whole = true;
    return Status::OK();
  }
  const retrieval::ByteRange cells =
      retrieval::CellBytesOfShards(ribbon, cell_begin, cell_end, t.code_bits, area);
  const retrieval::ByteRange tail = retrieval::CellAreaTail(ribbon, total_cells, t.code_bits);
  for (const retrieval::ByteRange& r : {cells, tail}) {
    if (r.end <= r.begin) continue;
    s = read(cells_offset + r.begin, r.end - r.begin, data + cells_offset + r.begin);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

}  // namespace

const StorageOps kRetrievalOps = {RetrievalSize,        OpenRetrieval,        DecodeRetrievalFloats,
                                  DecodeRetrievalCodes, CheckRetrievalValues, nullptr,
                                  ReadRetrievalPart};

}  // namespace section
}  // namespace weightless
