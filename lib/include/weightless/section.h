// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Sections: the stored form of one tensor, and the one lifecycle every storage follows.
//
//   make   EncodedSection::Dense / PackedCodes / Retrieval (or the encoder, which
//          returns one inside its EncodedLayer): the payload bytes exactly as a file
//          stores them before compression, and the TensorInfo fields that describe them;
//   store  Writer::AddSection(name, section) (weightless/writer.h);
//   open   SectionView::Open(info, bytes): validates the bytes against the description;
//          the Reader opens every section it loads this way;
//   decode SectionView::DecodeFloats / DecodeCodes over any index range.
//
// The storages (spec/FORMAT.md, "Payloads"; spec/RETRIEVAL.md): dense elements of a
// DType; packed codes (one code per weight, bit-packed; 0 = pruned, c in 1..K decodes to
// centroids[c - 1]); a retrieval table (ribbon or bloomier) holding the codes of the kept
// weights, whose pruned weights read a uniform t-bit value (false positives).
//
// Thread safety: both classes are immutable values; const members may be called from
// any number of threads.

#ifndef WEIGHTLESS_SECTION_H_
#define WEIGHTLESS_SECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "weightless/export.h"
#include "weightless/retrieval.h"
#include "weightless/status.h"
#include "weightless/tensor.h"

namespace weightless {

namespace section {
struct ViewAccess;  // the library's own access (lib/src/section/storage.h)
}  // namespace section

// A validated, non-owning view of one section's (uncompressed) bytes, described by a
// TensorInfo: what the reader decodes through, for every storage.
class WEIGHTLESS_EXPORT SectionView {
 public:
  // Validates size bytes at `data` as the section `info` describes, using info's
  // storage, shape, dtype, code_bits, centroids and retrieval fields (name and
  // section_offset only to word errors): the exact size for the storage; packed codes'
  // bits past the last code zero; a retrieval table opened (RetrievalView::Open) and
  // equal to the description (kind, t, universe, seed, shard layout, cells); K within
  // 1..2^bits - 1 and finite centroids; a known dtype and, for int8, a finite positive
  // scale. Errors are Corruption whose detail() is a weightless::FileError (kBadEnum for
  // an unknown storage, dtype or retrieval kind; kBadShape, kSectionSizeMismatch,
  // kBadEncoding, kUnexplainedBytes), naming the tensor, the section's offset and the
  // field; InvalidArgument for null data of a non-empty section. No TensorInfo makes it
  // crash or read outside the bytes. O(1) but for a retrieval table's shard directory.
  // `info` and the bytes must stay alive and unchanged while the view is used.
  static Result<SectionView> Open(const TensorInfo& info, const uint8_t* data, uint64_t size);

  const TensorInfo& info() const { return *info_; }
  Storage storage() const { return info_->storage; }
  uint64_t element_count() const { return elements_; }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // The retrieval table, for a retrieval section; else null.
  const RetrievalView* table() const { return table_ ? &*table_ : nullptr; }

  // Writes elements [begin, end) as float32 into out[0..end - begin): dense elements
  // converted from their dtype; codes as centroids[code - 1] for code in 1..K, 0 for
  // code 0 and for a code above K (which a retrieval table's false positives read,
  // being uniform t-bit values, and a damaged packed section can hold).
  // OutOfRange unless begin <= end <= element_count(). threads as everywhere (0 = one
  // per hardware thread; only retrieval tables use more than one).
  Status DecodeFloats(uint64_t begin, uint64_t end, float* out, int threads = 0) const;

  // Writes the codes of weights [begin, end) into out[0..end - begin), each in 0..K:
  // what the table or the packed codes hold, anything above K read as 0, so code != 0
  // exactly where DecodeFloats gives centroids[code - 1], false positives included.
  // InvalidArgument for a dense section (it has no codes); OutOfRange as above.
  Status DecodeCodes(uint64_t begin, uint64_t end, uint16_t* out, int threads = 0) const;

  // What decoding does not check: every packed code within 0..K (Corruption naming the
  // first weight that is not). OK for the other storages. O(n) for packed codes.
  Status CheckValues() const;

 private:
  friend class EncodedSection;
  friend struct section::ViewAccess;
  SectionView() = default;

  const TensorInfo* info_ = nullptr;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t elements_ = 0;
  std::optional<RetrievalView> table_;
};

// An owning section, not yet in a file: its bytes and its description. Cheap to copy
// (copies share the immutable bytes); moving copies too, so that a moved-from section
// stays the valid section it was.
class WEIGHTLESS_EXPORT EncodedSection {
 public:
  // An empty float32 tensor of shape [0].
  EncodedSection();
  EncodedSection(const EncodedSection&) = default;
  EncodedSection& operator=(const EncodedSection&) = default;

  // Dense elements: `values` (the shape's element count of them) stored as `stored`,
  // with the rounding Writer::AddDense describes. InvalidArgument for rank > 8, an
  // unknown dtype, an int8 scale that is not finite and positive, null values;
  // OutOfRange for more than 2^48 elements.
  static Result<EncodedSection> Dense(const std::vector<uint64_t>& shape, const float* values,
                                      DType stored = DType::kFloat32, float int8_scale = 1.0f);

  // One code per weight (0 = pruned, c in 1..K decodes to centroids[c - 1]), packed at
  // code_bits bits (1..16, K <= 2^code_bits - 1). InvalidArgument for a code above K
  // (naming its index), a non-finite centroid, stats counting more weights than the
  // shape holds, and as Dense.
  static Result<EncodedSection> PackedCodes(const std::vector<uint64_t>& shape,
                                            const uint16_t* codes, int code_bits,
                                            std::vector<float> centroids,
                                            const LayerStats& stats = {});

  // A retrieval table holding the codes of the kept weights (keys = row-major weight
  // indices; its universe must equal the shape's element count; K <= 2^t - 1), hashed
  // either way (a mix32 table makes the file need feature "ribbon-mix32", format 1.1).
  static Result<EncodedSection> Retrieval(const std::vector<uint64_t>& shape, RetrievalTable table,
                                          std::vector<float> centroids,
                                          const LayerStats& stats = {});

  // Adopts bytes described by `info` (its storage and that storage's fields, shape,
  // centroids and stats; the name, retraining record and file-position fields are
  // ignored, and the fields another storage uses reset), validated as
  // SectionView::Open does: a section copied from a reader, or deserialized.
  static Result<EncodedSection> FromBytes(TensorInfo info, std::vector<uint8_t> bytes);

  // The same codes (table or packed codes) with other centroids: as many as before,
  // finite; and `stats` (the encoding's, with added_squared_error re-priced by a
  // caller whose centroids trained on). InvalidArgument for a dense section.
  Result<EncodedSection> WithCentroids(std::vector<float> centroids, const LayerStats& stats) const;

  // The description: storage, shape, dtype / int8_scale or centroids / code_bits and
  // retrieval fields, stats; raw_bytes = bytes().size(). The name and the fields of a
  // file position (offset, stored_bytes, checksum, codec) are empty.
  const TensorInfo& info() const { return info_; }
  // The payload bytes as a file stores them uncompressed (spec/FORMAT.md).
  const std::vector<uint8_t>& bytes() const;
  // A view of this section (validated when it was made); valid while this section is
  // alive and unmodified.
  SectionView view() const;

 private:
  struct Bytes;
  EncodedSection(TensorInfo info, std::shared_ptr<const Bytes> bytes);
  TensorInfo info_;
  std::shared_ptr<const Bytes> bytes_;
};

}  // namespace weightless

#endif  // WEIGHTLESS_SECTION_H_
