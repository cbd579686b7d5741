// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// EncodedSection: making a section's bytes, for every storage, before a file holds them.

#include <cmath>
#include <utility>

#include "container/file_layout.h"
#include "section/storage.h"

namespace weightless {

// The immutable bytes copies of a section share; for a retrieval section also its
// opened table (and, when built here, the RetrievalTable owning the bytes).
struct EncodedSection::Bytes {
  std::vector<uint8_t> owned;
  std::optional<RetrievalTable> table;  // owns the bytes instead of `owned`
  std::optional<RetrievalView> view;    // a retrieval section's table

  const std::vector<uint8_t>& get() const { return table ? table->bytes() : owned; }
};

namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

// The description every factory starts from: shape checked, element count out.
Result<TensorInfo> Describe(const std::vector<uint64_t>& shape, Storage storage,
                            uint64_t* elements) {
  if (shape.size() > FileLimits::kMaxRank) {
    return Status::InvalidArgument("rank " + Num(shape.size()), "at most 8");
  }
  if (!container::ShapeElementCount(shape, elements)) {
    return Status::OutOfRange("shape product", "exceeds 2^48 elements");
  }
  TensorInfo info;
  info.shape = shape;
  info.storage = storage;
  return info;
}

Status CheckStats(const LayerStats& stats, uint64_t elements) {
  if (stats.kept > elements || stats.false_positives > elements - stats.kept) {
    return Status::InvalidArgument("stats count more weights than the shape holds");
  }
  return Status::OK();
}

}  // namespace

EncodedSection::EncodedSection() : bytes_(std::make_shared<Bytes>()) {
  info_.shape = {0};
  info_.storage = Storage::kDense;
}

EncodedSection::EncodedSection(TensorInfo info, std::shared_ptr<const Bytes> bytes)
    : info_(std::move(info)), bytes_(std::move(bytes)) {
  info_.raw_bytes = bytes_->get().size();
}

Result<EncodedSection> EncodedSection::Dense(const std::vector<uint64_t>& shape,
                                             const float* values, DType stored, float int8_scale) {
  uint64_t n = 0;
  Result<TensorInfo> info = Describe(shape, Storage::kDense, &n);
  if (!info.ok()) return info.status();
  info->dtype = stored;
  info->int8_scale = stored == DType::kInt8 ? int8_scale : 1.0f;
  Result<uint64_t> size = section::kDenseOps.expected_size(*info);
  if (!size.ok()) return section::AsArgumentError(size.status());
  if (n > 0 && values == nullptr) return Status::InvalidArgument("values is null");
  auto bytes = std::make_shared<Bytes>();
  bytes->owned.resize(*size);
  section::EncodeDense(values, n, stored, info->int8_scale, bytes->owned.data());
  return EncodedSection(std::move(info).value(), std::move(bytes));
}

Result<EncodedSection> EncodedSection::PackedCodes(const std::vector<uint64_t>& shape,
                                                   const uint16_t* codes, int code_bits,
                                                   std::vector<float> centroids,
                                                   const LayerStats& stats) {
  uint64_t n = 0;
  Result<TensorInfo> info = Describe(shape, Storage::kPackedCodes, &n);
  if (!info.ok()) return info.status();
  info->code_bits = code_bits;
  info->centroids = std::move(centroids);
  info->stats = stats;
  Result<uint64_t> size = section::kPackedCodesOps.expected_size(*info);
  if (!size.ok()) return section::AsArgumentError(size.status());
  Status s = CheckStats(stats, n);
  if (!s.ok()) return s;
  if (n > 0 && codes == nullptr) return Status::InvalidArgument("codes is null");
  const uint64_t k = info->centroids.size();
  for (uint64_t i = 0; i < n; ++i) {
    if (codes[i] > k) {
      return Status::InvalidArgument("code " + Num(codes[i]) + " at index " + Num(i),
                                     "codes must be 0..K = " + Num(k));
    }
  }
  auto bytes = std::make_shared<Bytes>();
  bytes->owned.resize(*size);
  section::PackCodes(codes, n, code_bits, bytes->owned.data());
  return EncodedSection(std::move(info).value(), std::move(bytes));
}

Result<EncodedSection> EncodedSection::Retrieval(const std::vector<uint64_t>& shape,
                                                 RetrievalTable table, std::vector<float> centroids,
                                                 const LayerStats& stats) {
  uint64_t n = 0;
  Result<TensorInfo> info = Describe(shape, Storage::kRetrieval, &n);
  if (!info.ok()) return info.status();
  const RetrievalView& view = table.view();
  if (view.universe() != n) {
    return Status::InvalidArgument("the table covers " + Num(view.universe()) +
                                   " weights, the shape " + Num(n));
  }
  info->code_bits = view.value_bits();
  info->centroids = std::move(centroids);
  info->stats = stats;
  info->retrieval_kind = view.kind();
  info->retrieval_hash = view.hash();
  info->retrieval_seed = view.seed();
  info->shard_span = view.shard_span();
  info->shard_count = view.shard_count();
  info->cells = view.cell_count();
  Status s = section::AsArgumentError(section::CheckCentroids(*info, info->code_bits));
  if (s.ok()) s = CheckStats(stats, n);
  if (!s.ok()) return s;
  auto bytes = std::make_shared<Bytes>();
  bytes->table.emplace(std::move(table));
  bytes->view = bytes->table->view();
  return EncodedSection(std::move(info).value(), std::move(bytes));
}

Result<EncodedSection> EncodedSection::FromBytes(TensorInfo info, std::vector<uint8_t> bytes) {
  // Only what the storage uses is kept, so that a writer stores exactly this section
  // (a packed-codes description carrying, say, a dense dtype would make a file its
  // reader refuses).
  info.name.clear();
  info.retrain = RetrainInfo();
  info.section_offset = 0;
  info.stored_bytes = 0;
  info.checksum = 0;
  info.codec = Codec::kNone;
  if (info.storage == Storage::kDense) {
    info.centroids.clear();
    info.code_bits = 0;
    info.stats = LayerStats();
    if (info.dtype != DType::kInt8) info.int8_scale = 1.0f;
  } else {
    info.dtype = DType::kFloat32;
    info.int8_scale = 1.0f;
  }
  if (info.storage != Storage::kRetrieval) {
    info.retrieval_kind = RetrievalKind::kRibbon;
    info.retrieval_hash = RetrievalHash::kXxh3;
    info.retrieval_seed = info.shard_span = info.shard_count = info.cells = 0;
  }
  auto held = std::make_shared<Bytes>();
  held->owned = std::move(bytes);
  Result<SectionView> view = SectionView::Open(info, held->owned.data(), held->owned.size());
  if (!view.ok()) return view.status();
  if (info.storage != Storage::kDense) {
    Status s = CheckStats(info.stats, view->element_count());
    if (!s.ok()) return s;
  }
  if (view->table()) held->view = *view->table();
  return EncodedSection(std::move(info), std::move(held));
}

Result<EncodedSection> EncodedSection::WithCentroids(std::vector<float> centroids,
                                                     const LayerStats& stats) const {
  if (info_.storage == Storage::kDense) {
    return Status::InvalidArgument("a dense section has no centroids");
  }
  if (centroids.size() != info_.centroids.size()) {
    return Status::InvalidArgument(Num(centroids.size()) + " centroids given",
                                   "the section has K = " + Num(info_.centroids.size()));
  }
  for (size_t c = 0; c < centroids.size(); ++c) {
    if (!std::isfinite(centroids[c])) {
      return Status::InvalidArgument("centroid " + Num(c) + " (code " + Num(c + 1) + ") is " +
                                     (std::isnan(centroids[c]) ? "NaN" : "infinite"));
    }
  }
  Status s = CheckStats(stats, info_.element_count());
  if (!s.ok()) return s;
  TensorInfo info = info_;
  info.centroids = std::move(centroids);
  info.stats = stats;
  return EncodedSection(std::move(info), bytes_);
}

const std::vector<uint8_t>& EncodedSection::bytes() const { return bytes_->get(); }

SectionView EncodedSection::view() const {
  SectionView v;
  v.info_ = &info_;
  v.data_ = bytes_->get().data();
  v.size_ = bytes_->get().size();
  v.elements_ = info_.element_count();
  v.table_ = bytes_->view;
  return v;
}

}  // namespace weightless
