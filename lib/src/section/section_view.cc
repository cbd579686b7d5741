// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// SectionView: the one place that dispatches a section to its storage.

#include <cmath>

#include "container/file_layout.h"
#include "section/storage.h"

namespace weightless {
namespace section {

const StorageOps* OpsFor(Storage storage) {
  switch (storage) {
    case Storage::kDense:
      return &kDenseOps;
    case Storage::kPackedCodes:
      return &kPackedCodesOps;
    case Storage::kRetrieval:
      return &kRetrievalOps;
  }
  return nullptr;
}

std::string Label(const TensorInfo& info) {
  return info.name.empty() ? std::string("the section") : "tensor '" + info.name + "'";
}

std::string Where(const TensorInfo& info) {
  if (info.name.empty()) return Label(info);  // not in a file
  return Label(info) + ": section at offset " + std::to_string(info.section_offset);
}

SectionView ViewAccess::Window(const TensorInfo& info, const uint8_t* data, uint64_t size,
                               uint64_t elements) {
  SectionView view;
  view.info_ = &info;
  view.data_ = data;
  view.size_ = size;
  view.elements_ = elements;
  return view;
}

Status AsArgumentError(const Status& s) {
  if (s.ok() || s.code() == StatusCode::kOutOfRange) return s;
  return Status::InvalidArgument(s.message());
}

Status CheckCentroids(const TensorInfo& info, int bits) {
  if (bits < RetrievalLimits::kMinValueBits || bits > RetrievalLimits::kMaxValueBits) {
    return container::Corrupt(FileError::kBadEncoding, Label(info) + ": code_bits " +
                                                           std::to_string(bits) + " outside 1..16");
  }
  const uint64_t max_k = (uint64_t{1} << bits) - 1;
  if (info.centroids.empty() || info.centroids.size() > max_k) {
    return container::Corrupt(FileError::kBadEncoding,
                              Label(info) + ": " + std::to_string(info.centroids.size()) +
                                  " centroids; need 1.." + std::to_string(max_k) + " for " +
                                  std::to_string(bits) + "-bit codes");
  }
  for (size_t c = 0; c < info.centroids.size(); ++c) {
    if (!std::isfinite(info.centroids[c])) {
      return container::Corrupt(
          FileError::kBadEncoding,
          Label(info) + ": centroid " + std::to_string(c + 1) + " is not finite");
    }
  }
  return Status::OK();
}

}  // namespace section

Result<SectionView> SectionView::Open(const TensorInfo& info, const uint8_t* data, uint64_t size) {
  const section::StorageOps* ops = section::OpsFor(info.storage);
  if (ops == nullptr) {
    return container::Corrupt(FileError::kBadEnum,
                              section::Label(info) + ": storage " +
                                  std::to_string(static_cast<int>(info.storage)) +
                                  " has no meaning");
  }
  uint64_t elements = 0;
  if (info.shape.size() > FileLimits::kMaxRank ||
      !container::ShapeElementCount(info.shape, &elements)) {
    return container::Corrupt(FileError::kBadShape,
                              section::Label(info) + ": rank above 8 or more than 2^48 elements");
  }
  Result<uint64_t> expected = ops->expected_size(info);
  if (!expected.ok()) return expected.status();
  if (size != *expected) {
    return container::Corrupt(FileError::kSectionSizeMismatch,
                              section::Where(info) + ": " + std::to_string(size) +
                                  " bytes, but the tensor needs " + std::to_string(*expected));
  }
  if (size > 0 && data == nullptr) return Status::InvalidArgument("section data is null");
  SectionView view;
  view.info_ = &info;
  view.data_ = data;
  view.size_ = size;
  view.elements_ = elements;
  Status s = ops->open(info, data, size, &view.table_);
  if (!s.ok()) return s;
  return view;
}

namespace {
Status CheckRange(const SectionView& view, uint64_t begin, uint64_t end, const void* out) {
  if (begin > end || end > view.element_count()) {
    return Status::OutOfRange(section::Label(view.info()) + ": elements [" + std::to_string(begin) +
                              ", " + std::to_string(end) + ") of " +
                              std::to_string(view.element_count()));
  }
  if (end > begin && out == nullptr) return Status::InvalidArgument("out is null");
  return Status::OK();
}
}  // namespace

Status SectionView::DecodeFloats(uint64_t begin, uint64_t end, float* out, int threads) const {
  Status s = CheckRange(*this, begin, end, out);
  if (!s.ok() || begin == end) return s;
  return section::OpsFor(storage())->decode_floats(*this, begin, end, out, threads);
}

Status SectionView::DecodeCodes(uint64_t begin, uint64_t end, uint16_t* out, int threads) const {
  const section::StorageOps* ops = section::OpsFor(storage());
  if (ops->decode_codes == nullptr) {
    return Status::InvalidArgument(section::Label(info()) + " is " + StorageName(storage()),
                                   "it has no codes");
  }
  Status s = CheckRange(*this, begin, end, out);
  if (!s.ok() || begin == end) return s;
  return ops->decode_codes(*this, begin, end, out, threads);
}

Status SectionView::CheckValues() const { return section::OpsFor(storage())->check_values(*this); }

}  // namespace weightless
