// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The golden files: one valid sample model (tests/golden/sample.wl) and one crafted,
// must-reject file per way a file can be wrong (tests/golden-errors/<error>__<what>.wl,
// where <error> is the FileErrorName the reader must report). Both are generated from
// here by `wl-make-golden DIR` and checked in; golden_test regenerates them and requires
// the bytes to be identical, so any change of the format shows up as a failing test.

#ifndef WEIGHTLESS_TESTS_GOLDEN_CRAFTED_FILES_H_
#define WEIGHTLESS_TESTS_GOLDEN_CRAFTED_FILES_H_

#include <zstd.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "file_test_util.h"

namespace weightless {
namespace golden {

using testing_util::WithIndex;

inline std::vector<uint8_t> SampleFile() { return testing_util::SampleFileBytes(/*small=*/true); }

// Rewrites the trailer's checksum after the caller changed trailer fields.
inline void ResealTrailer(std::vector<uint8_t>* file) {
  uint8_t* t = file->data() + file->size() - container::kTrailerSize;
  StoreLE64(t + 32, container::Checksum(t, 32));
}

inline uint64_t TrailerField(const std::vector<uint8_t>& file, int field) {
  return LoadLE64(file.data() + file.size() - container::kTrailerSize + 8 * field);
}

// Sets section i's stored bytes to `payload` in place (same size) and fixes its checksum.
inline std::vector<uint8_t> WithSectionBytes(const std::vector<uint8_t>& file, size_t i,
                                             const std::vector<uint8_t>& payload) {
  std::unique_ptr<fb::IndexT> index = testing_util::UnpackIndex(file);
  fb::SectionRef& s = index->sections[i];
  std::vector<uint8_t> out = file;
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<long>(s.offset()));
  s.mutate_checksum(container::Checksum(payload.data(), payload.size()));
  return testing_util::ReplaceIndexBytes(out, testing_util::PackIndex(*index));
}

inline size_t TensorNamed(const fb::IndexT& index, const std::string& name) {
  for (size_t i = 0; i < index.tensors.size(); ++i) {
    if (index.tensors[i]->name == name) return i;
  }
  std::abort();
}

// Inserts `count` zero bytes at file offset `at` (at or before the index): sections
// from `at` on move by `count`, and so does the index (stored uncompressed).
inline std::vector<uint8_t> WithZerosInserted(const std::vector<uint8_t>& file, uint64_t at,
                                              uint64_t count) {
  std::unique_ptr<fb::IndexT> index = testing_util::UnpackIndex(file);
  for (fb::SectionRef& s : index->sections) {
    if (s.offset() >= at) s.mutate_offset(s.offset() + count);
  }
  const uint64_t index_offset = TrailerField(file, 0);
  std::vector<uint8_t> moved(file.begin(), file.begin() + static_cast<long>(at));
  moved.insert(moved.end(), count, 0);
  moved.insert(moved.end(), file.begin() + static_cast<long>(at),
               file.begin() + static_cast<long>(index_offset));
  // A placeholder trailer, from which ReplaceIndexBytes takes the index offset and features.
  container::Trailer trailer;
  trailer.index_offset = index_offset + count;
  trailer.required_features = TrailerField(file, 3);
  uint8_t t[container::kTrailerSize];
  trailer.EncodeTo(t);
  moved.insert(moved.end(), t, t + sizeof t);
  return testing_util::ReplaceIndexBytes(moved, testing_util::PackIndex(*index));
}

// An empty skippable zstd frame (magic 0x184D2A50, length 0): ZSTD_decompress skips it,
// so data followed by it decompresses as before; the format allows nothing after a frame.
constexpr uint8_t kSkippableFrame[8] = {0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0};

// A file of one dense float32 tensor "z" of 256 values, stored with zstd.
inline std::vector<uint8_t> ZstdDenseFile() {
  testing_util::VectorOutputStream stream;
  auto w = Writer::ToStream(&stream);
  std::vector<float> v(256);
  for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(k % 7);
  if (!w.ok() || !w->AddDense("z", {256}, v.data(), DType::kFloat32, Codec::kZstd).ok() ||
      !w->Finish().ok()) {
    std::abort();
  }
  return stream.bytes;
}

// A file of one ribbon layer "fc" (30x10, every 5th weight kept) in 3 shards of 100.
inline std::vector<uint8_t> ThreeShardFile() {
  std::vector<uint64_t> keys;
  std::vector<uint16_t> codes;
  for (uint64_t i = 0; i < 300; i += 5) {
    keys.push_back(i);
    codes.push_back(static_cast<uint16_t>(1 + i % 3));
  }
  RetrievalOptions options;
  options.kind = RetrievalKind::kRibbon;
  options.value_bits = 4;
  options.seed = 7;
  options.shard_span = 100;
  auto table = RetrievalTable::Build(300, keys.data(), codes.data(), keys.size(), options);
  testing_util::VectorOutputStream stream;
  auto w = Writer::ToStream(&stream);
  if (!table.ok() || table->view().shard_count() != 3 || !w.ok()) std::abort();
  auto section =
      EncodedSection::Retrieval({30, 10}, std::move(table).value(), {0.5f, -0.5f, 0.25f});
  if (!section.ok() || !w->AddSection("fc", *section).ok() || !w->Finish().ok()) {
    std::abort();
  }
  return stream.bytes;
}

// Section i's stored bytes.
inline std::vector<uint8_t> SectionBytes(const std::vector<uint8_t>& file, size_t i) {
  const fb::SectionRef s = testing_util::UnpackIndex(file)->sections[i];
  return std::vector<uint8_t>(file.begin() + static_cast<long>(s.offset()),
                              file.begin() + static_cast<long>(s.offset() + s.size()));
}

// An index for ZstdDenseFile() whose one tensor's shape, a [ulong] vector {256}, has its
// elements at 4 mod 8 from the start of the index: the FlatBuffers 2.0.8 Verifier
// accepts it (it checks only the 4-byte length's alignment); the format does not. The
// vector is carved out of a [uint] vector {1, lo, hi, pad...}, and the trailing pad
// word is chosen so that the elements land misaligned.
inline std::vector<uint8_t> IndexWithMisalignedShape(const fb::SectionRef& section) {
  for (size_t pad = 0; pad < 2; ++pad) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<uint32_t> words = {1, 256, 0};  // length 1; the element 256 (lo, hi)
    words.resize(3 + pad, 0);
    const auto carrier = b.CreateVector(words);
    // Builder offsets count from the buffer's end: the fake vector starts one word after
    // the carrier's length field.
    const flatbuffers::Offset<flatbuffers::Vector<uint64_t>> shape(carrier.o - 4);
    const auto name = b.CreateString("w");
    const auto sections = b.CreateVectorOfStructs(&section, 1);
    fb::TensorBuilder tb(b);
    tb.add_name(name);
    tb.add_shape(shape);
    tb.add_storage(fb::Storage::Dense);
    tb.add_dtype(fb::DType::Float32);
    const auto tensor = tb.Finish();
    const auto tensors = b.CreateVector(&tensor, 1);
    const auto zstd = fb::CreateRequiredFeatureDirect(b, 0, "zstd");
    fb::FinishIndexBuffer(b, fb::CreateIndex(b, kFormatMajor, kFormatMinor, 0, sections, tensors, 0,
                                             b.CreateVector(&zstd, 1)));
    const uint8_t* buffer = b.GetBufferPointer();
    // Read the element with LoadLE64: a misaligned Get(0) would be undefined behaviour.
    const auto* dims = fb::GetIndex(buffer)->tensors()->Get(0)->shape();
    if (dims->size() == 1 && LoadLE64(dims->Data()) == 256 && (dims->Data() - buffer) % 8 == 4) {
      return std::vector<uint8_t>(buffer, buffer + b.GetSize());
    }
  }
  std::abort();
}

// name -> file bytes; the name's prefix before "__" is the expected FileErrorName.
inline std::map<std::string, std::vector<uint8_t>> CraftedErrorFiles() {
  const std::vector<uint8_t> good = SampleFile();
  std::map<std::string, std::vector<uint8_t>> out;
  const uint64_t features = TrailerField(good, 3);

  out["too_small__100_bytes"] = std::vector<uint8_t>(good.begin(), good.begin() + 100);
  {
    auto f = good;
    f[1] = 'X';
    out["bad_magic__header"] = f;
  }
  {
    auto f = good;
    f[8] = 2;
    out["unsupported_major__version_2"] = f;
  }
  {
    auto f = good;
    f[40] = 1;
    out["reserved_nonzero__header_byte_40"] = f;
  }
  out["bad_trailer_magic__truncated_by_one_byte"] =
      std::vector<uint8_t>(good.begin(), good.end() - 1);
  {
    auto f = good;
    f[f.size() - container::kTrailerSize] ^= 0x40;  // index offset, checksum not fixed
    out["trailer_checksum__index_offset_changed"] = f;
  }
  {
    auto f = good;
    StoreLE64(f.data() + f.size() - container::kTrailerSize, f.size());
    ResealTrailer(&f);
    out["index_out_of_bounds__offset_past_end"] = f;
  }
  {
    auto f = good;
    f[TrailerField(good, 0) + 20] ^= 1;
    out["index_checksum__index_byte_flipped"] = f;
  }
  {
    // The compressed index's zstd frame states the wrong content size (checksums fixed).
    auto f = good;
    const uint64_t offset = TrailerField(good, 0), size = TrailerField(good, 1);
    f[offset + 5] ^= 0x01;
    StoreLE64(f.data() + f.size() - container::kTrailerSize + 16,
              container::Checksum(f.data() + offset, size));
    ResealTrailer(&f);
    out["codec_error__index_frame_size"] = f;
  }
  out["index_invalid__garbage_index"] =
      testing_util::ReplaceIndexBytes(good, std::vector<uint8_t>(64, 0xA5));
  out["unknown_feature__bit_20_named"] = WithIndex(
      good,
      [](fb::IndexT& idx) {
        auto feature = std::make_unique<fb::RequiredFeatureT>();
        feature->bit = 20;
        feature->name = "ribbon-v2";
        idx.required_features.push_back(std::move(feature));
      },
      static_cast<int64_t>(features | (uint64_t{1} << 20)));
  out["feature_mismatch__ribbon_bit_missing"] = WithIndex(
      good,
      [](fb::IndexT& idx) {
        auto& f = idx.required_features;
        f.erase(std::remove_if(f.begin(), f.end(), [](auto& x) { return x->bit == 2; }), f.end());
      },
      static_cast<int64_t>(features & ~static_cast<uint64_t>(Feature::kRibbon)));
  out["feature_mismatch__ribbon_mix32_bit_missing"] = WithIndex(
      good,
      [](fb::IndexT& idx) {
        auto& f = idx.required_features;
        f.erase(std::remove_if(f.begin(), f.end(), [](auto& x) { return x->bit == 8; }), f.end());
      },
      static_cast<int64_t>(features & ~static_cast<uint64_t>(Feature::kRibbonMix32)));
  out["section_misaligned__offset_plus_8"] = WithIndex(
      good, [](fb::IndexT& idx) { idx.sections[1].mutate_offset(idx.sections[1].offset() + 8); });
  out["section_out_of_bounds__size_past_index"] = WithIndex(good, [](fb::IndexT& idx) {
    fb::SectionRef& s = idx.sections.back();
    s.mutate_size(s.size() + 4096);
    s.mutate_raw_size(s.raw_size() + 4096);
  });
  out["section_overlap__same_offset_as_previous"] = WithIndex(
      good, [](fb::IndexT& idx) { idx.sections[2].mutate_offset(idx.sections[1].offset()); });
  out["section_size_mismatch__raw_size_plus_one"] = WithIndex(good, [](fb::IndexT& idx) {
    idx.sections[0].mutate_raw_size(idx.sections[0].raw_size() + 1);
  });
  out["limit_exceeded__zstd_claims_2_pow_44_bytes"] = WithIndex(
      good,
      [](fb::IndexT& idx) {
        // A dense float32 tensor of 2^42 elements whose 240-byte zstd section claims the
        // matching 2^44 bytes: refused before any allocation.
        idx.tensors[0]->shape = {uint64_t{1} << 42};
        fb::SectionRef& s = idx.sections[0];
        s.mutate_codec(fb::Codec::Zstd);
        s.mutate_raw_size(uint64_t{1} << 44);
      },
      static_cast<int64_t>(features | static_cast<uint64_t>(Feature::kZstd)));
  {
    // Patch a zstd feature name in as well, so that only the size is wrong.
    auto& f = out["limit_exceeded__zstd_claims_2_pow_44_bytes"];
    f = WithIndex(f, [](fb::IndexT& idx) {
      auto feature = std::make_unique<fb::RequiredFeatureT>();
      feature->bit = 0;
      feature->name = "zstd";
      idx.required_features.insert(idx.required_features.begin(), std::move(feature));
    });
  }
  {
    auto f = good;
    const fb::SectionRef first = testing_util::UnpackIndex(good)->sections[0];
    f[first.offset() + first.size() + 1] = 0x77;  // in the zero padding after section 0
    out["unexplained_bytes__padding_not_zero"] = f;
  }
  {
    auto f = good;
    f[testing_util::UnpackIndex(good)->sections[0].offset() + 3] ^= 0x10;
    out["section_checksum__payload_byte_flipped"] = f;
  }
  out["bad_enum__storage_9"] = WithIndex(
      good, [](fb::IndexT& idx) { idx.tensors[0]->storage = static_cast<fb::Storage>(9); });
  out["bad_name__invalid_utf8"] =
      WithIndex(good, [](fb::IndexT& idx) { idx.tensors[1]->name = "w\xff"; });
  out["bad_name__empty"] = WithIndex(good, [](fb::IndexT& idx) { idx.tensors[1]->name = ""; });
  out["bad_name__1025_bytes"] =
      WithIndex(good, [](fb::IndexT& idx) { idx.tensors[1]->name = std::string(1025, 'n'); });
  out["duplicate_name__two_tensors"] =
      WithIndex(good, [](fb::IndexT& idx) { idx.tensors[2]->name = idx.tensors[1]->name; });
  out["bad_shape__rank_9"] = WithIndex(
      good, [](fb::IndexT& idx) { idx.tensors[0]->shape = {1, 1, 1, 1, 1, 1, 1, 6, 10}; });
  out["bad_shape__product_overflows"] = WithIndex(good, [](fb::IndexT& idx) {
    idx.tensors[0]->shape = {uint64_t{1} << 40, uint64_t{1} << 40};
  });
  out["bad_shape__empty_with_2_pow_80_per_row"] = WithIndex(good, [](fb::IndexT& idx) {
    idx.tensors[TensorNamed(idx, "empty")]->shape = {0, uint64_t{1} << 40, uint64_t{1} << 40};
  });
  out["bad_encoding__code_bits_17"] = WithIndex(good, [](fb::IndexT& idx) {
    auto& t = *idx.tensors[TensorNamed(idx, "fc1")];
    t.code_bits = 17;
    t.retrieval->value_bits = 17;
  });
  out["bad_encoding__k_above_2_pow_t_minus_1"] = WithIndex(good, [](fb::IndexT& idx) {
    idx.tensors[TensorNamed(idx, "fc_last")]->centroids.assign(4, 0.5f);  // 2-bit codes
  });
  out["bad_encoding__nan_centroid"] = WithIndex(good, [](fb::IndexT& idx) {
    idx.tensors[TensorNamed(idx, "fc2")]->centroids[0] = std::numeric_limits<float>::quiet_NaN();
  });
  out["bad_encoding__shard_table_disagrees"] = WithIndex(good, [](fb::IndexT& idx) {
    // Index and section header disagree on the seed: found when the table is loaded.
    idx.tensors[TensorNamed(idx, "fc1")]->retrieval->seed ^= 1;
  });
  out["bad_encoding__hash_disagrees_with_table"] = WithIndex(
      good,
      [](fb::IndexT& idx) {
        // fc1's table is hashed with mix32, the index says xxh3 (and the features follow
        // the index): found when the table is loaded.
        idx.tensors[TensorNamed(idx, "fc1")]->retrieval->hash = 0;
        auto& f = idx.required_features;
        f.erase(std::remove_if(f.begin(), f.end(), [](auto& x) { return x->bit == 8; }), f.end());
      },
      static_cast<int64_t>(features & ~static_cast<uint64_t>(Feature::kRibbonMix32)));
  out["bad_encoding__mix32_on_bloomier"] = WithIndex(
      good, [](fb::IndexT& idx) { idx.tensors[TensorNamed(idx, "fc2")]->retrieval->hash = 1; });
  // fc1 (600 weights, one shard, mix32) with a span beyond mix32's 2^32: still one shard.
  out["bad_encoding__mix32_span_above_2_pow_32"] = WithIndex(good, [](fb::IndexT& idx) {
    idx.tensors[TensorNamed(idx, "fc1")]->retrieval->shard_span = (uint64_t{1} << 32) + 1;
  });
  out["bad_enum__retrieval_hash_2"] = WithIndex(
      good, [](fb::IndexT& idx) { idx.tensors[TensorNamed(idx, "fc3")]->retrieval->hash = 2; });
  {
    // A one-shard bloomier section whose terminal directory entry claims 65535 cells
    // (a valid count: non-decreasing, a multiple of 3), while the section holds the
    // cells of the original 66: the section size is not exact (checksum fixed).
    const size_t i = TensorNamed(*testing_util::UnpackIndex(good), "fc2");
    std::vector<uint8_t> payload = SectionBytes(good, i);
    payload[40 + 8] = 0xFF;  // the terminal entry's total_cells
    payload[40 + 9] = 0xFF;
    out["bad_encoding__table_size_not_exact"] = WithSectionBytes(good, i, payload);
  }
  {
    // A three-shard ribbon section whose shard 1 starts after shard 2: the directory's
    // cell_begin values decrease, while total cells and size stay exact (checksum fixed).
    const std::vector<uint8_t> file = ThreeShardFile();
    std::vector<uint8_t> payload = SectionBytes(file, 0);
    StoreLE32(payload.data() + 40 + 8, LoadLE32(payload.data() + 40 + 16) + 1);
    out["bad_encoding__shard_directory_out_of_order"] = WithSectionBytes(file, 0, payload);
  }
  out["bad_section_reference__section_5"] =
      WithIndex(good, [](fb::IndexT& idx) { idx.tensors[0]->section = 5; });
  out["bad_metadata__string_without_value"] = WithIndex(good, [](fb::IndexT& idx) {
    for (auto& m : idx.metadata) {
      if (m->type == fb::MetadataType::String) m->string_value.clear();
    }
  });
  const std::vector<uint8_t> zstd_file = ZstdDenseFile();
  {
    // A dense tensor stored with zstd whose frame is damaged (checksum fixed).
    std::vector<uint8_t> payload = SectionBytes(zstd_file, 0);
    // Byte 5 is the frame's content size (single-segment frame without dictionary):
    // the frame now declares a size other than raw_size.
    payload[5] ^= 0x01;
    out["codec_error__damaged_zstd_frame"] = WithSectionBytes(zstd_file, 0, payload);
  }
  {
    // The same section followed by an empty skippable frame, in what was its padding
    // (size and checksum fixed): one frame and nothing after it is the rule.
    std::unique_ptr<fb::IndexT> idx = testing_util::UnpackIndex(zstd_file);
    fb::SectionRef& s = idx->sections[0];
    if (s.offset() + s.size() + sizeof kSkippableFrame > TrailerField(zstd_file, 0)) std::abort();
    std::vector<uint8_t> f = zstd_file;
    std::copy(std::begin(kSkippableFrame), std::end(kSkippableFrame),
              f.begin() + static_cast<long>(s.offset() + s.size()));
    s.mutate_size(s.size() + sizeof kSkippableFrame);
    s.mutate_checksum(container::Checksum(f.data() + s.offset(), s.size()));
    out["codec_error__section_frame_followed_by_skippable_frame"] =
        testing_util::ReplaceIndexBytes(f, testing_util::PackIndex(*idx));
  }
  {
    // The compressed index followed by an empty skippable frame (size and checksums fixed).
    const uint64_t offset = TrailerField(good, 0), size = TrailerField(good, 1);
    std::vector<uint8_t> f(good.begin(), good.begin() + static_cast<long>(offset + size));
    f.insert(f.end(), std::begin(kSkippableFrame), std::end(kSkippableFrame));
    f.insert(f.end(), good.end() - container::kTrailerSize, good.end());
    uint8_t* t = f.data() + f.size() - container::kTrailerSize;
    StoreLE64(t + 8, size + sizeof kSkippableFrame);
    StoreLE64(t + 16, container::Checksum(f.data() + offset, size + sizeof kSkippableFrame));
    ResealTrailer(&f);
    out["codec_error__index_frame_followed_by_skippable_frame"] = f;
  }
  {
    // index_offset 8 past a multiple of 64, the index still ending at the trailer.
    auto f = good;
    uint8_t* t = f.data() + f.size() - container::kTrailerSize;
    StoreLE64(t, TrailerField(good, 0) + 8);
    StoreLE64(t + 8, TrailerField(good, 1) - 8);
    ResealTrailer(&f);
    out["index_out_of_bounds__offset_not_multiple_of_64"] = f;
  }
  out["index_invalid__shape_elements_misaligned"] = testing_util::ReplaceIndexBytes(
      zstd_file, IndexWithMisalignedShape(testing_util::UnpackIndex(zstd_file)->sections[0]));
  out["index_invalid__format_major_2"] =
      WithIndex(good, [](fb::IndexT& idx) { idx.format_major = 2; });
  out["index_invalid__format_minor_differs_from_header"] =
      WithIndex(good, [](fb::IndexT& idx) { idx.format_minor = kFormatMinor + 1; });
  out["feature_mismatch__ribbon_named_RIBBON"] = WithIndex(good, [](fb::IndexT& idx) {
    for (auto& f : idx.required_features) {
      if (f->bit == 2) f->name = "RIBBON";
    }
  });
  {
    const std::unique_ptr<fb::IndexT> idx = testing_util::UnpackIndex(good);
    out["unexplained_bytes__64_zero_bytes_before_section"] =
        WithZerosInserted(good, idx->sections[1].offset(), 64);
    out["unexplained_bytes__64_zero_bytes_before_index"] =
        WithZerosInserted(good, TrailerField(good, 0), 64);
    const size_t empty = TensorNamed(*idx, "empty");
    out["unexplained_bytes__empty_section_64_bytes_late"] = WithIndex(good, [empty](fb::IndexT& i) {
      i.sections[empty].mutate_offset(i.sections[empty].offset() + 64);
    });
  }
  return out;
}

}  // namespace golden
}  // namespace weightless

#endif  // WEIGHTLESS_TESTS_GOLDEN_CRAFTED_FILES_H_
