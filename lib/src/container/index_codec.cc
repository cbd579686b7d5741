// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "container/index_codec.h"

#include <flatbuffers/flatbuffers.h>

#include <cmath>
#include <set>
#include <string_view>
#include <unordered_set>

#include "container/file_layout.h"
#include "section/storage.h"
#include "weightless/format.h"
#include "weightless/retrieval.h"
#include "weightless_generated.h"

namespace weightless {
namespace container {

namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

uint64_t FeatureOfTensor(const TensorInfo& t) {
  uint64_t f = 0;
  if (t.codec == Codec::kZstd) f |= static_cast<uint64_t>(Feature::kZstd);
  switch (t.storage) {
    case Storage::kRetrieval:
      f |= static_cast<uint64_t>(t.retrieval_kind == RetrievalKind::kBloomier ? Feature::kBloomier
                                                                              : Feature::kRibbon);
      if (t.retrieval_hash == RetrievalHash::kMix32) {
        f |= static_cast<uint64_t>(Feature::kRibbonMix32);
      }
      break;
    case Storage::kPackedCodes:
      f |= static_cast<uint64_t>(Feature::kPackedCodes);
      break;
    case Storage::kDense:
      if (t.dtype == DType::kFloat16) f |= static_cast<uint64_t>(Feature::kFloat16);
      if (t.dtype == DType::kBFloat16) f |= static_cast<uint64_t>(Feature::kBFloat16);
      if (t.dtype == DType::kInt8) f |= static_cast<uint64_t>(Feature::kInt8);
      break;
  }
  return f;
}

}  // namespace

uint64_t FeaturesUsed(const std::vector<TensorInfo>& tensors) {
  uint64_t f = 0;
  for (const TensorInfo& t : tensors) f |= FeatureOfTensor(t);
  return f;
}

bool IsValidName(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values above U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

namespace {

flatbuffers::Verifier::Options VerifierLimits() {
  flatbuffers::Verifier::Options o;
  o.max_depth = 8;
  // Tables: the index, its producer, and per tensor at most 4, per metadata entry 1,
  // per feature 1.
  o.max_tables = 4 * FileLimits::kMaxTensors + FileLimits::kMaxMetadataEntries + 64 + 2;
  o.check_alignment = true;
  return o;
}

Result<const fb::Index*> VerifiedIndex(const uint8_t* data, size_t size) {
  if (size < 8 || !fb::IndexBufferHasIdentifier(data)) {
    return Corrupt(FileError::kIndexInvalid, "index: missing the \"WLIX\" FlatBuffers identifier");
  }
  flatbuffers::Verifier verifier(data, size, VerifierLimits());
  if (!fb::VerifyIndexBuffer(verifier)) {
    return Corrupt(FileError::kIndexInvalid, "index: the FlatBuffers Verifier refused it");
  }
  return fb::GetIndex(data);
}

// Builds "tensor 'name'" (or "tensor #i" while the name is not yet trusted).
std::string TensorLabel(size_t i, const std::string& name, bool name_ok) {
  return name_ok ? "tensor '" + name + "'" : "tensor #" + Num(i);
}

// FlatBuffers builders align a vector's elements to their size, but the 2.0.8 Verifier
// checks only the 4-byte length before them, so a crafted index can put the 8-byte
// elements of `sections` or of a `shape` at an offset that is 4 mod 8, and reading them
// would be a misaligned load (undefined behaviour). An empty vector has nothing to load
// (builders do not align those). `buffer` is the index's first byte.
template <typename Vector>
bool ElementsAligned8(const uint8_t* buffer, const Vector* v) {
  return v == nullptr || v->size() == 0 || (v->Data() - buffer) % 8 == 0;
}

bool FiniteAll(const flatbuffers::Vector<float>* v) {
  for (float f : *v) {
    if (!std::isfinite(f)) return false;
  }
  return true;
}

// Feature names in the index are at most this long (spec/FORMAT.md, "Required
// features"); a longer name of an unknown bit is not shown.
constexpr size_t kMaxFeatureNameBytes = 64;

// True if a zstd section of `stored` bytes claims more than zstd can expand to:
// raw > 32768 * stored + 2^20 (spec/FORMAT.md, "zstd"), computed without overflow.
bool ZstdClaimTooLarge(uint64_t stored, uint64_t raw) {
  constexpr uint64_t kSlack = uint64_t{1} << 20;
  return raw > kSlack && (raw - kSlack - 1) / FileLimits::kMaxZstdExpansion >= stored;
}

// The index's own version fields and its producer (spec/FORMAT.md, "Index"): the
// index repeats the header's version exactly; producer strings are valid names of at
// most 1024 bytes and may be empty.
Status CheckVersionAndProducer(const fb::Index& index, uint16_t header_minor, IndexContents* out) {
  if (index.format_major() != kFormatMajor || index.format_minor() != header_minor) {
    return Corrupt(FileError::kIndexInvalid, "index: format version " + Num(index.format_major()) +
                                                 "." + Num(index.format_minor()) +
                                                 " disagrees with the header's " +
                                                 Num(kFormatMajor) + "." + Num(header_minor));
  }
  out->format_major = index.format_major();
  out->format_minor = index.format_minor();
  if (const fb::Producer* p = index.producer()) {
    if (p->name()) out->producer_name = p->name()->str();
    if (p->version()) out->producer_version = p->version()->str();
    if (out->producer_name.size() > FileLimits::kMaxNameBytes ||
        out->producer_version.size() > FileLimits::kMaxNameBytes ||
        !IsValidName(out->producer_name) || !IsValidName(out->producer_version)) {
      return Corrupt(FileError::kBadName, "index: producer name or version is not a valid name");
    }
  }
  return Status::OK();
}

// Where section `s` lies (spec/FORMAT.md, "Payload sections"): 64-aligned, after the
// previous region (which ends at *previous_end), inside the payload area, and at the
// first multiple of 64 at or after that end, so that padding is under 64 bytes. An
// empty section follows the same rule; it ends where it starts. Advances *previous_end.
Status CheckSectionPlacement(const fb::SectionRef& s, const FileGeometry& geometry,
                             const std::string& where, uint64_t* previous_end) {
  if (s.offset() % kSectionAlignment != 0) {
    return Corrupt(FileError::kSectionMisaligned, where + ": not a multiple of 64");
  }
  if (s.offset() < *previous_end) {
    return Corrupt(FileError::kSectionOverlap,
                   where + ": overlaps or precedes the previous section (which ends at " +
                       Num(*previous_end) + ")");
  }
  if (s.offset() > geometry.payload_end || s.size() > geometry.payload_end - s.offset()) {
    return Corrupt(FileError::kSectionOutOfBounds,
                   where + ": " + Num(s.size()) +
                       " bytes run past the payload area, which ends at " +
                       Num(geometry.payload_end));
  }
  if (s.offset() - *previous_end >= kSectionAlignment) {
    return Corrupt(FileError::kUnexplainedBytes,
                   where + ": " + Num(s.offset() - *previous_end) + " bytes of padding after " +
                       Num(*previous_end) + ", at most 63 are allowed");
  }
  *previous_end = s.offset() + s.size();
  return Status::OK();
}

// The index's list of required features (spec/FORMAT.md, "Required features"): one
// entry per bit the trailer sets, none for other bits, each named exactly as the
// feature table names it. REQUIRES: required_features has no unknown bits.
Status CheckFeatureList(const fb::Index& index, uint64_t required_features) {
  uint64_t named = 0;
  if (const auto* features = index.required_features()) {
    for (const fb::RequiredFeature* f : *features) {
      if (f->bit() >= 64 || (named >> f->bit() & 1)) {
        return Corrupt(FileError::kFeatureMismatch, "index: feature bit listed twice or >= 64");
      }
      const uint64_t bit = uint64_t{1} << f->bit();
      named |= bit;
      if ((required_features & bit) &&
          (f->name() == nullptr || f->name()->str() != FeatureName(bit))) {
        return Corrupt(
            FileError::kFeatureMismatch,
            "index: feature bit " + Num(f->bit()) + " must be named '" + FeatureName(bit) + "'");
      }
    }
  }
  if (named != required_features) {
    return Corrupt(FileError::kFeatureMismatch, "index: required_features names bits " +
                                                    Num(named) + ", trailer sets " +
                                                    Num(required_features));
  }
  return Status::OK();
}

}  // namespace

std::string NameUnknownFeatures(const uint8_t* data, size_t size, uint64_t unknown_bits) {
  std::string names;
  Result<const fb::Index*> index = VerifiedIndex(data, size);
  for (int bit = 0; bit < 64; ++bit) {
    if (!(unknown_bits & (uint64_t{1} << bit))) continue;
    std::string name;
    if (index.ok() && (*index)->required_features() != nullptr) {
      // The first entry for the bit names it, if its name is a valid feature name.
      for (const fb::RequiredFeature* f : *(*index)->required_features()) {
        if (f->bit() != bit) continue;
        if (f->name() != nullptr && f->name()->size() <= kMaxFeatureNameBytes &&
            IsValidName(f->name()->str())) {
          name = f->name()->str();
        }
        break;
      }
    }
    if (!names.empty()) names += ", ";
    names += (name.empty() ? std::string("an unnamed feature") : "'" + name + "'") + " (bit " +
             Num(static_cast<uint64_t>(bit)) + ")";
  }
  return names;
}

namespace {

// A limit as the spec writes it: "2^k" for powers of two above 1024, else the number.
std::string Limit(uint64_t v) {
  if (v > 1024 && (v & (v - 1)) == 0) {
    int k = 0;
    while ((uint64_t{1} << k) != v) ++k;
    return "2^" + Num(static_cast<uint64_t>(k));
  }
  return Num(v);
}

// "Index structure": the vectors' sizes and their pairing (one section per tensor).
Status CheckIndexStructure(const uint8_t* data, const fb::Index& index) {
  if (!ElementsAligned8(data, index.sections())) {
    return Corrupt(FileError::kIndexInvalid, "index: the sections vector is not 8-byte aligned");
  }
  const size_t tensor_count = index.tensors() ? index.tensors()->size() : 0;
  const size_t section_count = index.sections() ? index.sections()->size() : 0;
  if (tensor_count > FileLimits::kMaxTensors) {
    return FileStatus(StatusCode::kOutOfRange, FileError::kLimitExceeded,
                      "index: " + Num(tensor_count) + " tensors exceed the limit of " +
                          Limit(FileLimits::kMaxTensors));
  }
  if (section_count != tensor_count) {
    return Corrupt(FileError::kBadSectionReference,
                   "index: " + Num(section_count) + " sections for " + Num(tensor_count) +
                       " tensors (each tensor owns exactly one section)");
  }
  return Status::OK();
}

// "Tensors" (first part) and "Names and limits": name, shape and enums of tensor i.
// Sets t's name, shape, storage and dtype, *elements and *label.
Status ParseTensorHead(const uint8_t* data, const fb::Tensor& ft, size_t i,
                       std::unordered_set<std::string>* names, TensorInfo* t, uint64_t* elements,
                       std::string* label) {
  t->name = ft.name()->str();
  const bool name_ok =
      !t->name.empty() && t->name.size() <= FileLimits::kMaxNameBytes && IsValidName(t->name);
  *label = TensorLabel(i, t->name, name_ok);
  if (!name_ok) {
    return Corrupt(FileError::kBadName, *label + ": name must be 1.." +
                                            Limit(FileLimits::kMaxNameBytes) +
                                            " bytes of UTF-8 without NUL");
  }
  if (!names->insert(t->name).second) {
    return Corrupt(FileError::kDuplicateName, *label + ": name used by an earlier tensor");
  }
  if (!ElementsAligned8(data, ft.shape())) {
    return Corrupt(FileError::kIndexInvalid, *label + ": the shape vector is not 8-byte aligned");
  }
  if (ft.shape()->size() > FileLimits::kMaxRank) {
    return Corrupt(FileError::kBadShape, *label + ": rank " + Num(ft.shape()->size()) +
                                             " exceeds the limit of " +
                                             Limit(FileLimits::kMaxRank));
  }
  t->shape.assign(ft.shape()->begin(), ft.shape()->end());
  if (!container::ShapeElementCount(t->shape, elements)) {
    return Corrupt(FileError::kBadShape, *label + ": shape product exceeds the limit of " +
                                             Limit(FileLimits::kMaxElements) + " elements");
  }
  const uint8_t storage = static_cast<uint8_t>(ft.storage());
  if (storage < 1 || storage > 3) {
    return Corrupt(FileError::kBadEnum, *label + ": storage " + Num(storage) + " has no meaning");
  }
  t->storage = static_cast<Storage>(storage);
  const uint8_t dtype = static_cast<uint8_t>(ft.dtype());
  if (dtype < 1 || dtype > 4 || (t->storage != Storage::kDense && dtype != 1)) {
    return Corrupt(FileError::kBadEnum, *label + ": dtype " + Num(dtype) + " has no meaning for " +
                                            StorageName(t->storage) + " storage");
  }
  t->dtype = static_cast<DType>(dtype);
  return Status::OK();
}

// "Payload sections": tensor i's section reference, its kind, codec and placement.
Status ParseSectionRef(const fb::Tensor& ft, const fb::SectionRef& s, size_t i,
                       const std::string& label, const std::string& where,
                       const FileGeometry& geometry, uint64_t* previous_end, TensorInfo* t) {
  if (ft.section() != i) {
    return Corrupt(FileError::kBadSectionReference,
                   label + ": refers to section " + Num(ft.section()) + ", must be " + Num(i));
  }
  const uint8_t codec = static_cast<uint8_t>(s.codec());
  if (codec > 1)
    return Corrupt(FileError::kBadEnum, where + ": codec " + Num(codec) + " has no meaning");
  t->codec = static_cast<Codec>(codec);
  const fb::SectionKind expected_kind = t->storage == Storage::kDense ? fb::SectionKind::TensorData
                                        : t->storage == Storage::kRetrieval
                                            ? fb::SectionKind::RetrievalTable
                                            : fb::SectionKind::PackedCodes;
  if (s.kind() != expected_kind) {
    return Corrupt(FileError::kBadEnum, where + ": section kind " +
                                            Num(static_cast<uint8_t>(s.kind())) +
                                            " does not hold " + StorageName(t->storage) + " data");
  }
  if (s.reserved0() != 0 || s.reserved1() != 0) {
    return Corrupt(FileError::kReservedNonZero, where + ": reserved fields must be zero");
  }
  if (Status st = CheckSectionPlacement(s, geometry, where, previous_end); !st.ok()) return st;
  t->section_offset = s.offset();
  t->stored_bytes = s.size();
  t->raw_bytes = s.raw_size();
  t->checksum = s.checksum();
  return Status::OK();
}

// "Tensors" (encodings): a dense tensor's dtype fields.
Result<uint64_t> ParseDenseEncoding(const fb::Tensor& ft, const std::string& label,
                                    uint64_t elements, TensorInfo* t) {
  if (ft.centroids() || ft.retrieval() || ft.code_bits() != 0) {
    return Corrupt(FileError::kBadEncoding, label + ": dense tensor with encoding fields");
  }
  t->int8_scale = ft.int8_scale();
  if (t->dtype == DType::kInt8 && !(std::isfinite(t->int8_scale) && t->int8_scale > 0)) {
    return Corrupt(FileError::kBadEncoding, label + ": int8_scale must be finite and positive");
  }
  return elements * DTypeSize(t->dtype);
}

// "Tensors" (encodings): an encoded layer's code width, centroids, statistics and
// retrain record, and its packed-codes or retrieval parameters. Returns the raw size
// its section must have.
Result<uint64_t> ParseLayerEncoding(const fb::Tensor& ft, const std::string& label,
                                    uint64_t elements, TensorInfo* t) {
  t->code_bits = ft.code_bits();
  if (t->code_bits < RetrievalLimits::kMinValueBits ||
      t->code_bits > RetrievalLimits::kMaxValueBits) {
    return Corrupt(FileError::kBadEncoding, label + ": code_bits " +
                                                Num(static_cast<uint64_t>(t->code_bits)) +
                                                " outside " + Num(RetrievalLimits::kMinValueBits) +
                                                ".." + Num(RetrievalLimits::kMaxValueBits));
  }
  const uint64_t max_k = (uint64_t{1} << t->code_bits) - 1;
  if (!ft.centroids() || ft.centroids()->size() < 1 || ft.centroids()->size() > max_k) {
    return Corrupt(FileError::kBadEncoding, label + ": needs 1.." + Num(max_k) + " centroids for " +
                                                Num(static_cast<uint64_t>(t->code_bits)) +
                                                "-bit codes, has " +
                                                Num(ft.centroids() ? ft.centroids()->size() : 0));
  }
  if (!FiniteAll(ft.centroids())) {
    return Corrupt(FileError::kBadEncoding, label + ": a centroid is not finite");
  }
  t->centroids.assign(ft.centroids()->begin(), ft.centroids()->end());
  if (const fb::LayerStats* st = ft.stats()) {
    t->stats.kept = st->kept();
    t->stats.false_positives = st->false_positives();
    t->stats.added_squared_error = st->added_squared_error();
    if (t->stats.kept > elements || t->stats.false_positives > elements - t->stats.kept) {
      return Corrupt(FileError::kBadEncoding,
                     label + ": stats count more weights than the shape holds");
    }
  }
  if (const fb::RetrainInfo* r = ft.retrain()) {
    t->retrain.encode_order = r->encode_order();
    t->retrain.epochs_after = r->epochs_after();
    t->retrain.accuracy_before_encoding = r->accuracy_before_encoding();
    t->retrain.accuracy_after_encoding = r->accuracy_after_encoding();
    t->retrain.accuracy_after_retraining = r->accuracy_after_retraining();
  }
  if (t->storage == Storage::kPackedCodes) {
    if (ft.retrieval()) {
      return Corrupt(FileError::kBadEncoding, label + ": packed codes with retrieval fields");
    }
    return section::PackedCodesBytes(elements, t->code_bits);
  }
  const fb::RetrievalInfo* r = ft.retrieval();
  if (!r) return Corrupt(FileError::kBadEncoding, label + ": retrieval parameters missing");
  if (r->kind() != 1 && r->kind() != 2) {
    return Corrupt(FileError::kBadEnum,
                   label + ": retrieval kind " + Num(r->kind()) + " has no meaning");
  }
  t->retrieval_kind = static_cast<RetrievalKind>(r->kind());
  if (r->hash() > 1) {
    return Corrupt(FileError::kBadEnum,
                   label + ": retrieval hash " + Num(r->hash()) + " has no meaning");
  }
  t->retrieval_hash = static_cast<RetrievalHash>(r->hash());
  t->retrieval_seed = r->seed();
  t->shard_span = r->shard_span();
  t->shard_count = r->shard_count();
  t->cells = r->cells();
  if (r->value_bits() != t->code_bits) {
    return Corrupt(FileError::kBadEncoding,
                   label + ": retrieval t " + Num(r->value_bits()) + " differs from code_bits");
  }
  const uint64_t expected_shards =
      elements == 0 ? 0 : (t->shard_span == 0 ? 0 : (elements - 1) / t->shard_span + 1);
  if (t->shard_span == 0 || t->shard_count != expected_shards ||
      t->shard_count > RetrievalLimits::kMaxShards || t->cells > RetrievalLimits::kMaxCells) {
    return Corrupt(FileError::kBadEncoding, label + ": shard layout (span " + Num(t->shard_span) +
                                                ", " + Num(t->shard_count) + " shards, " +
                                                Num(t->cells) + " cells) does not fit " +
                                                Num(elements) + " weights");
  }
  if (t->retrieval_hash == RetrievalHash::kMix32 &&
      (t->retrieval_kind != RetrievalKind::kRibbon ||
       t->shard_span > RetrievalLimits::kMix32MaxShardSpan)) {
    return Corrupt(FileError::kBadEncoding,
                   label + ": hash mix32 needs a ribbon table with shard_span at most 2^32 (" +
                       RetrievalKindName(t->retrieval_kind) + ", span " + Num(t->shard_span) + ")");
  }
  return RetrievalView::SectionSize(t->retrieval_kind, t->code_bits, t->shard_count, t->cells);
}

// "Payload sections" (sizes): raw size as the tensor needs, stored size as the codec
// allows, and a zstd section's claimed expansion within the limits.
Status CheckSectionSizes(const TensorInfo& t, uint64_t expected_raw, const std::string& where,
                         const FileGeometry& geometry) {
  if (t.raw_bytes != expected_raw) {
    return Corrupt(
        FileError::kSectionSizeMismatch,
        where + ": raw_size " + Num(t.raw_bytes) + " but the tensor needs " + Num(expected_raw));
  }
  if (t.codec == Codec::kNone && t.stored_bytes != t.raw_bytes) {
    return Corrupt(FileError::kSectionSizeMismatch, where + ": uncompressed section of " +
                                                        Num(t.stored_bytes) + " bytes, raw_size " +
                                                        Num(t.raw_bytes));
  }
  if (t.codec == Codec::kZstd && (ZstdClaimTooLarge(t.stored_bytes, t.raw_bytes) ||
                                  t.raw_bytes > geometry.max_decompressed_bytes)) {
    return FileStatus(StatusCode::kOutOfRange, FileError::kLimitExceeded,
                      where + ": zstd section of " + Num(t.stored_bytes) + " bytes claims " +
                          Num(t.raw_bytes) + " decompressed bytes, beyond the limit");
  }
  return Status::OK();
}

// Tensor i, whole: head, section, encoding and sizes.
Status ParseTensor(const uint8_t* data, const fb::Index& index, size_t i,
                   const FileGeometry& geometry, std::unordered_set<std::string>* names,
                   uint64_t* previous_end, TensorInfo* t) {
  const fb::Tensor& ft = *index.tensors()->Get(static_cast<flatbuffers::uoffset_t>(i));
  uint64_t elements = 0;
  std::string label;
  if (Status s = ParseTensorHead(data, ft, i, names, t, &elements, &label); !s.ok()) return s;
  const fb::SectionRef& ref = *index.sections()->Get(static_cast<flatbuffers::uoffset_t>(i));
  const std::string where = label + ": section at offset " + Num(ref.offset());
  if (Status s = ParseSectionRef(ft, ref, i, label, where, geometry, previous_end, t); !s.ok()) {
    return s;
  }
  Result<uint64_t> expected_raw = t->storage == Storage::kDense
                                      ? ParseDenseEncoding(ft, label, elements, t)
                                      : ParseLayerEncoding(ft, label, elements, t);
  if (!expected_raw.ok()) return expected_raw.status();
  return CheckSectionSizes(*t, *expected_raw, where, geometry);
}

// "Index": the index starts at the first multiple of 64 after the last section.
Status CheckPaddingBeforeIndex(const FileGeometry& geometry, uint64_t previous_end) {
  if (geometry.payload_end - previous_end >= kSectionAlignment) {
    return Corrupt(FileError::kUnexplainedBytes,
                   "index at offset " + Num(geometry.payload_end) + ": " +
                       Num(geometry.payload_end - previous_end) + " bytes of padding after " +
                       Num(previous_end) + ", at most " + Num(kSectionAlignment - 1) +
                       " are allowed");
  }
  return Status::OK();
}

// "Metadata": keys unique and valid, values of a known type within the limits.
Status ParseMetadata(const fb::Index& index, std::vector<MetadataEntry>* out) {
  const auto* md = index.metadata();
  if (md == nullptr) return Status::OK();
  if (md->size() > FileLimits::kMaxMetadataEntries) {
    return FileStatus(StatusCode::kOutOfRange, FileError::kLimitExceeded,
                      "index: " + Num(md->size()) + " metadata entries exceed the limit of " +
                          Limit(FileLimits::kMaxMetadataEntries));
  }
  std::unordered_set<std::string> keys;
  for (flatbuffers::uoffset_t i = 0; i < md->size(); ++i) {
    const fb::MetadataEntry* e = md->Get(i);
    MetadataEntry m;
    m.key = e->key()->str();
    if (m.key.empty() || m.key.size() > FileLimits::kMaxNameBytes || !IsValidName(m.key)) {
      return Corrupt(FileError::kBadName, "metadata entry #" + Num(i) + ": invalid key");
    }
    if (!keys.insert(m.key).second) {
      return Corrupt(FileError::kDuplicateName, "metadata key '" + m.key + "' appears twice");
    }
    switch (e->type()) {
      case fb::MetadataType::String: {
        if (!e->string_value() || e->string_value()->size() > FileLimits::kMaxMetadataStringBytes ||
            !IsValidName(e->string_value()->str())) {
          return Corrupt(FileError::kBadMetadata,
                         "metadata '" + m.key + "': string value missing, longer than " +
                             Limit(FileLimits::kMaxMetadataStringBytes) + " bytes or not UTF-8");
        }
        m.value = e->string_value()->str();
        break;
      }
      case fb::MetadataType::Int:
        m.value = static_cast<int64_t>(e->int_value());
        break;
      case fb::MetadataType::Double:
        m.value = e->double_value();
        break;
      case fb::MetadataType::Bool:
        m.value = e->bool_value();
        break;
      default:
        return Corrupt(FileError::kBadEnum, "metadata '" + m.key + "': type " +
                                                Num(static_cast<uint8_t>(e->type())) +
                                                " has no meaning");
    }
    out->push_back(std::move(m));
  }
  return Status::OK();
}

// "Required features": the trailer's bits are exactly what the tensors use (plus
// zstd-index), and the index names each of them.
Status CheckRequiredFeatures(const fb::Index& index, const std::vector<TensorInfo>& tensors,
                             uint64_t required_features) {
  const uint64_t used =
      FeaturesUsed(tensors) | (required_features & static_cast<uint64_t>(Feature::kZstdIndex));
  if (used != required_features) {
    return Corrupt(FileError::kFeatureMismatch,
                   "trailer: required_features " + Num(required_features) +
                       " differ from the features the tensors use (" + Num(used) + ")");
  }
  return CheckFeatureList(index, required_features);
}

}  // namespace

// The index, in the order of spec/FORMAT.md's subsections; the first failure is
// returned (spec/FORMAT.md, "Reading": check order).
Result<IndexContents> ParseIndex(const uint8_t* data, size_t size, const FileGeometry& geometry,
                                 uint64_t required_features) {
  Result<const fb::Index*> verified = VerifiedIndex(data, size);
  if (!verified.ok()) return verified.status();
  const fb::Index& index = **verified;
  IndexContents out;
  if (Status s = CheckVersionAndProducer(index, geometry.header_minor, &out); !s.ok()) return s;
  if (Status s = CheckIndexStructure(data, index); !s.ok()) return s;
  const size_t tensor_count = index.tensors() ? index.tensors()->size() : 0;
  std::unordered_set<std::string> names;
  uint64_t previous_end = geometry.payload_begin;
  // No reserve(tensor_count): memory grows with tensors that passed their checks, so a
  // small crafted index claiming 2^20 tensors cannot make the reader allocate for all of
  // them before the first one is found wrong.
  for (size_t i = 0; i < tensor_count; ++i) {
    TensorInfo t;
    if (Status s = ParseTensor(data, index, i, geometry, &names, &previous_end, &t); !s.ok()) {
      return s;
    }
    out.tensors.push_back(std::move(t));
  }
  if (Status s = CheckPaddingBeforeIndex(geometry, previous_end); !s.ok()) return s;
  if (Status s = ParseMetadata(index, &out.metadata); !s.ok()) return s;
  out.required_features = required_features;
  if (Status s = CheckRequiredFeatures(index, out.tensors, required_features); !s.ok()) return s;
  return out;
}

}  // namespace container
}  // namespace weightless
