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
  {
    // A retrieval section whose shard directory points past its cells (checksum fixed).
    std::unique_ptr<fb::IndexT> idx = testing_util::UnpackIndex(good);
    const size_t i = TensorNamed(*idx, "fc2");
    const fb::SectionRef& s = idx->sections[i];
    std::vector<uint8_t> payload(good.begin() + static_cast<long>(s.offset()),
                                 good.begin() + static_cast<long>(s.offset() + s.size()));
    payload[40 + 8] = 0xFF;  // shard 1's cell_begin
    payload[40 + 9] = 0xFF;
    out["bad_encoding__shard_directory_out_of_order"] = WithSectionBytes(good, i, payload);
  }
  out["bad_section_reference__section_5"] =
      WithIndex(good, [](fb::IndexT& idx) { idx.tensors[0]->section = 5; });
  out["bad_metadata__string_without_value"] = WithIndex(good, [](fb::IndexT& idx) {
    for (auto& m : idx.metadata) {
      if (m->type == fb::MetadataType::String) m->string_value.clear();
    }
  });
  {
    // A dense tensor stored with zstd whose frame is damaged (checksum fixed).
    testing_util::VectorOutputStream stream;
    auto w = Writer::ToStream(&stream);
    std::vector<float> v(256);
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(k % 7);
    if (!w.ok() || !(*w)->AddDense("z", {256}, v.data(), DType::kFloat32, Codec::kZstd).ok() ||
        !(*w)->Finish().ok()) {
      std::abort();
    }
    const std::vector<uint8_t> file = stream.bytes;
    std::unique_ptr<fb::IndexT> idx = testing_util::UnpackIndex(file);
    const fb::SectionRef& s = idx->sections[0];
    std::vector<uint8_t> payload(file.begin() + static_cast<long>(s.offset()),
                                 file.begin() + static_cast<long>(s.offset() + s.size()));
    // Byte 5 is the frame's content size (single-segment frame without dictionary):
    // the frame now declares a size other than raw_size.
    payload[5] ^= 0x01;
    out["codec_error__damaged_zstd_frame"] = WithSectionBytes(file, 0, payload);
  }
  return out;
}

}  // namespace golden
}  // namespace weightless

#endif  // WEIGHTLESS_TESTS_GOLDEN_CRAFTED_FILES_H_
