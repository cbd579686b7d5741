// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The section lifecycle (weightless/section.h): every storage's bytes decode to what was
// given, over any range, as floats and (but dense) as codes; SectionView::Open refuses
// bytes that disagree with their description, with the file error a reader reports;
// FromBytes and WithCentroids keep the bytes; a copied section writes the same file.

#include "weightless/section.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "file_test_util.h"
#include "weightless/encoder.h"
#include "weightless/format.h"
#include "weightless/reader.h"
#include "weightless/writer.h"

namespace weightless {
namespace {

std::vector<float> Floats(const SectionView& view, uint64_t begin, uint64_t end) {
  std::vector<float> out(end - begin);
  EXPECT_TRUE(view.DecodeFloats(begin, end, out.data(), 2).ok());
  return out;
}

std::vector<uint16_t> Codes(const SectionView& view, uint64_t begin, uint64_t end) {
  std::vector<uint16_t> out(end - begin);
  EXPECT_TRUE(view.DecodeCodes(begin, end, out.data(), 2).ok());
  return out;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), 4 * a.size()) == 0;
}

using testing_util::RandomCodes;

FileError ErrorOf(const Status& s) { return static_cast<FileError>(s.detail()); }

TEST(SectionTest, DenseSectionsDecodeTheStoredRoundingOverAnyRange) {
  std::vector<float> values = {0.0f,     -0.0f,    1.0f, -2.5f, 1e-40f,   3.3e38f,
                               65504.0f, 70000.0f, 0.1f, -0.7f, 1.0f / 3, 42.0f};
  for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt8}) {
    const float scale = dtype == DType::kInt8 ? 0.05f : 1.0f;
    auto section = EncodedSection::Dense({3, 4}, values.data(), dtype, scale);
    ASSERT_TRUE(section.ok()) << section.status().ToString();
    EXPECT_EQ(section->bytes().size(), values.size() * DTypeSize(dtype));
    EXPECT_EQ(section->info().raw_bytes, section->bytes().size());
    std::vector<float> expected = values;
    RoundToStored(expected.data(), expected.size(), dtype, scale);
    const SectionView view = section->view();
    EXPECT_TRUE(SameBits(Floats(view, 0, 12), expected)) << DTypeName(dtype);
    EXPECT_TRUE(SameBits(Floats(view, 5, 9), std::vector<float>(&expected[5], &expected[9])));
    EXPECT_TRUE(Floats(view, 7, 7).empty());
    uint16_t code;
    EXPECT_TRUE(view.DecodeCodes(0, 1, &code).IsInvalidArgument()) << "dense has no codes";
    float x;
    EXPECT_TRUE(view.DecodeFloats(12, 13, &x).IsOutOfRange());
    EXPECT_TRUE(view.DecodeFloats(4, 3, &x).IsOutOfRange());
    EXPECT_TRUE(view.CheckValues().ok());
    EXPECT_TRUE(section->WithCentroids({1.0f}, {}).status().IsInvalidArgument());
  }
  EXPECT_TRUE(EncodedSection::Dense({2}, nullptr).status().IsInvalidArgument());
  EXPECT_TRUE(EncodedSection::Dense({1, 1, 1, 1, 1, 1, 1, 1, 1}, values.data())
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(
      EncodedSection::Dense({12}, values.data(), DType::kInt8, 0.0f).status().IsInvalidArgument());
  EXPECT_TRUE(EncodedSection::Dense({uint64_t{1} << 40, uint64_t{1} << 10}, values.data())
                  .status()
                  .IsOutOfRange());
  const EncodedSection empty;  // a valid empty tensor
  EXPECT_EQ(empty.info().element_count(), 0u);
  EXPECT_TRUE(empty.bytes().empty());
  EXPECT_TRUE(empty.view().DecodeFloats(0, 0, nullptr).ok());
}

TEST(SectionTest, PackedCodesRoundTripAtEveryWidthAndRange) {
  for (int bits = 1; bits <= 16; ++bits) {
    const uint32_t k = std::min<uint32_t>((1u << bits) - 1, 300);
    const uint64_t n = 1000 + static_cast<uint64_t>(bits);  // not a multiple of 8
    const std::vector<uint16_t> codes = RandomCodes(n, k, 0.3, static_cast<uint64_t>(bits));
    std::vector<float> centroids(k);
    for (uint32_t c = 0; c < k; ++c) centroids[c] = 0.01f * static_cast<float>(c) - 1.0f;
    auto section = EncodedSection::PackedCodes({n}, codes.data(), bits, centroids);
    ASSERT_TRUE(section.ok()) << section.status().ToString();
    EXPECT_EQ(section->bytes().size(), (n * static_cast<uint64_t>(bits) + 7) / 8);
    const SectionView view = section->view();
    EXPECT_EQ(Codes(view, 0, n), codes) << bits << " bits";
    std::mt19937_64 rng(static_cast<uint64_t>(bits));
    for (int r = 0; r < 20; ++r) {
      const uint64_t b = rng() % n, e = b + rng() % (n - b + 1);
      const std::vector<uint16_t> got = Codes(view, b, e);
      ASSERT_TRUE(std::equal(got.begin(), got.end(), codes.begin() + static_cast<long>(b)));
      const std::vector<float> floats = Floats(view, b, e);
      for (uint64_t i = b; i < e; ++i) {
        ASSERT_EQ(floats[i - b], codes[i] ? centroids[codes[i] - 1] : 0.0f) << i;
      }
    }
    EXPECT_TRUE(view.CheckValues().ok());
  }
  const uint16_t above[] = {0, 1, 3, 1};
  const Status s = EncodedSection::PackedCodes({4}, above, 2, {0.5f, 1.0f}).status();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.ToString().find("code 3 at index 2"), std::string::npos) << s.ToString();
  EXPECT_TRUE(EncodedSection::PackedCodes({4}, above, 1, {0.5f, 1.0f}).status().IsInvalidArgument())
      << "K = 2 needs 2 bits";
  EXPECT_TRUE(EncodedSection::PackedCodes({4}, above, 17, {0.5f}).status().IsInvalidArgument());
  EXPECT_TRUE(EncodedSection::PackedCodes({4}, above, 2, {0.5f, 1.0f, 2.0f}, LayerStats{5, 0, 0})
                  .status()
                  .IsInvalidArgument())
      << "stats beyond the shape";
}

TEST(SectionTest, RetrievalSectionsDecodeTheirTablesCodes) {
  for (RetrievalKind kind : {RetrievalKind::kRibbon, RetrievalKind::kBloomier}) {
    const uint64_t n = 20000;
    const std::vector<uint16_t> codes = RandomCodes(n, 5, 0.05, 11);
    std::vector<uint64_t> keys;
    std::vector<uint16_t> values;
    for (uint64_t i = 0; i < n; ++i) {
      if (codes[i]) {
        keys.push_back(i);
        values.push_back(codes[i]);
      }
    }
    RetrievalOptions o;
    o.kind = kind;
    o.hash = RetrievalHash::kXxh3;
    o.value_bits = 6;
    auto table = RetrievalTable::Build(n, keys.data(), values.data(), keys.size(), o);
    ASSERT_TRUE(table.ok());
    const std::vector<uint8_t> table_bytes = table->bytes();
    const std::vector<float> centroids = {-0.2f, -0.1f, 0.1f, 0.2f, 0.3f};
    auto section = EncodedSection::Retrieval({100, 200}, std::move(table).value(), centroids, {});
    ASSERT_TRUE(section.ok()) << section.status().ToString();
    EXPECT_EQ(section->bytes(), table_bytes);
    EXPECT_EQ(section->info().code_bits, 6);
    EXPECT_EQ(section->info().retrieval_kind, kind);
    const SectionView view = section->view();
    ASSERT_NE(view.table(), nullptr);
    const std::vector<uint16_t> got = Codes(view, 0, n);
    const std::vector<float> floats = Floats(view, 0, n);
    uint64_t false_positives = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (codes[i]) {
        ASSERT_EQ(got[i], codes[i]) << i;
      }
      ASSERT_LE(got[i], 5u) << "codes above K read as 0";
      ASSERT_EQ(floats[i], got[i] ? centroids[got[i] - 1] : 0.0f) << i;
      false_positives += !codes[i] && got[i];
    }
    // Each pruned weight reads a code in 1..K with probability K / 2^t = 5/64: a
    // binomial count, within 6 standard deviations.
    const double pruned = static_cast<double>(n - keys.size()), p = 5.0 / 64;
    EXPECT_NEAR(static_cast<double>(false_positives), pruned * p,
                6 * std::sqrt(pruned * p * (1 - p)));
    auto wrong_universe =
        EncodedSection::Retrieval({n + 1}, *RetrievalTable::FromBytes(table_bytes), centroids, {});
    EXPECT_TRUE(wrong_universe.status().IsInvalidArgument());
    EXPECT_TRUE(EncodedSection::Retrieval({n}, *RetrievalTable::FromBytes(table_bytes),
                                          std::vector<float>(64, 0.5f), {})
                    .status()
                    .IsInvalidArgument())
        << "K = 64 needs t = 7";
    if (kind == RetrievalKind::kRibbon) {
      // A mix32 table (spec/RETRIEVAL.md 1.1, FORMAT.md 1.1): the section describes its
      // hash, and bytes adopted with a description naming the other hash are refused.
      o.hash = RetrievalHash::kMix32;
      auto mix32 = RetrievalTable::Build(n, keys.data(), values.data(), keys.size(), o);
      ASSERT_TRUE(mix32.ok());
      const std::vector<uint8_t> mix32_bytes = mix32->bytes();
      auto mix32_section = EncodedSection::Retrieval({n}, std::move(mix32).value(), centroids, {});
      ASSERT_TRUE(mix32_section.ok()) << mix32_section.status().ToString();
      EXPECT_EQ(mix32_section->info().retrieval_hash, RetrievalHash::kMix32);
      EXPECT_EQ(section->info().retrieval_hash, RetrievalHash::kXxh3);
      const std::vector<uint16_t> mix32_codes = Codes(mix32_section->view(), 0, n);
      for (uint64_t i = 0; i < n; ++i) {
        if (codes[i]) {
          ASSERT_EQ(mix32_codes[i], codes[i]) << i;
        }
      }
      TensorInfo info = mix32_section->info();
      ASSERT_TRUE(EncodedSection::FromBytes(info, mix32_bytes).ok());
      info.retrieval_hash = RetrievalHash::kXxh3;
      auto adopted = EncodedSection::FromBytes(info, mix32_bytes);
      ASSERT_FALSE(adopted.ok());
      EXPECT_EQ(ErrorOf(adopted.status()), FileError::kBadEncoding);
      EXPECT_NE(adopted.status().ToString().find("is hashed with mix32, the index says xxh3"),
                std::string::npos)
          << adopted.status().ToString();
      info.retrieval_hash = static_cast<RetrievalHash>(2);
      EXPECT_EQ(ErrorOf(EncodedSection::FromBytes(info, mix32_bytes).status()),
                FileError::kBadEnum);
      TensorInfo bloomier_mix32 = section->info();
      bloomier_mix32.retrieval_kind = RetrievalKind::kBloomier;
      bloomier_mix32.retrieval_hash = RetrievalHash::kMix32;
      EXPECT_EQ(ErrorOf(EncodedSection::FromBytes(bloomier_mix32, table_bytes).status()),
                FileError::kBadEncoding);
    }
  }
}

TEST(SectionTest, OpenRefusesBytesThatDisagreeWithTheirDescription) {
  const std::vector<uint16_t> codes = {1, 0, 2, 1, 3};  // 5 codes of 2 bits: 10 bits
  auto packed = EncodedSection::PackedCodes({5}, codes.data(), 2, {0.1f, 0.2f, 0.3f});
  ASSERT_TRUE(packed.ok());
  const TensorInfo& info = packed->info();
  std::vector<uint8_t> bytes = packed->bytes();
  ASSERT_EQ(bytes.size(), 2u);
  ASSERT_TRUE(SectionView::Open(info, bytes.data(), bytes.size()).ok());

  auto short_by_one = SectionView::Open(info, bytes.data(), 1);
  EXPECT_EQ(ErrorOf(short_by_one.status()), FileError::kSectionSizeMismatch);
  std::vector<uint8_t> tail = bytes;
  tail[1] |= 0x80;  // a bit past the last code
  EXPECT_EQ(ErrorOf(SectionView::Open(info, tail.data(), tail.size()).status()),
            FileError::kUnexplainedBytes);
  TensorInfo too_many = info;
  too_many.centroids = {1, 2, 3, 4};  // K = 4 > 2^2 - 1
  EXPECT_EQ(ErrorOf(SectionView::Open(too_many, bytes.data(), bytes.size()).status()),
            FileError::kBadEncoding);
  TensorInfo nan = info;
  nan.centroids[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(ErrorOf(SectionView::Open(nan, bytes.data(), bytes.size()).status()),
            FileError::kBadEncoding);
  TensorInfo unknown = info;
  unknown.storage = static_cast<Storage>(9);
  EXPECT_EQ(ErrorOf(SectionView::Open(unknown, bytes.data(), bytes.size()).status()),
            FileError::kBadEnum);
  // K = 3 fits 2 bits, so a code above K cannot be written; damaged bytes hold one,
  // which decodes to 0 and CheckValues (Reader::Verify) reports.
  TensorInfo k2 = info;
  k2.centroids = {0.1f, 0.2f};
  auto damaged = EncodedSection::FromBytes(k2, bytes);
  ASSERT_TRUE(damaged.ok());
  EXPECT_EQ(ErrorOf(damaged->view().CheckValues()), FileError::kBadEncoding);
  EXPECT_EQ(Codes(damaged->view(), 0, 5), (std::vector<uint16_t>{1, 0, 2, 1, 0}));

  const std::vector<uint16_t> many = RandomCodes(5000, 3, 0.1, 3);
  EncodeOptions o;
  o.storage = LayerStorage::kRetrieval;
  auto layer = EncodeCodes(many.data(), {50, 100}, {0.1f, 0.2f, 0.3f}, o);
  ASSERT_TRUE(layer.ok());
  const EncodedSection& table = layer->section;
  for (auto change : std::vector<void (*)(TensorInfo*)>{
           [](TensorInfo* t) { ++t->retrieval_seed; }, [](TensorInfo* t) { ++t->cells; },
           [](TensorInfo* t) { t->retrieval_kind = RetrievalKind::kBloomier; },
           [](TensorInfo* t) {
             t->shape = {50, 101};
           }}) {
    TensorInfo wrong = table.info();
    change(&wrong);
    const Status s = SectionView::Open(wrong, table.bytes().data(), table.bytes().size()).status();
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  }
  std::vector<uint8_t> flipped = table.bytes();
  flipped[0] ^= 1;  // the table's magic
  EXPECT_EQ(ErrorOf(SectionView::Open(table.info(), flipped.data(), flipped.size()).status()),
            FileError::kBadEncoding);

  TensorInfo dense;
  dense.shape = {4};
  dense.dtype = DType::kInt8;
  dense.int8_scale = 0;
  const uint8_t four[4] = {};
  EXPECT_EQ(ErrorOf(SectionView::Open(dense, four, 4).status()), FileError::kBadEncoding);
  dense.dtype = static_cast<DType>(7);
  EXPECT_EQ(ErrorOf(SectionView::Open(dense, four, 4).status()), FileError::kBadEnum);
}

TEST(SectionTest, CopiedSectionsWriteTheSameFileAndWithCentroidsKeepsTheCodes) {
  const std::vector<uint16_t> codes = RandomCodes(30000, 6, 0.04, 9);
  const std::vector<float> centroids = {-0.3f, -0.2f, -0.1f, 0.1f, 0.2f, 0.3f};
  std::vector<EncodedSection> sections;
  for (LayerStorage storage : {LayerStorage::kRetrieval, LayerStorage::kPackedCodes}) {
    EncodeOptions o;
    o.storage = storage;
    auto layer = EncodeCodes(codes.data(), {300, 100}, centroids, o);
    ASSERT_TRUE(layer.ok());
    sections.push_back(layer->section);
  }
  std::vector<float> dense(1000);
  for (size_t i = 0; i < dense.size(); ++i) dense[i] = std::sin(static_cast<float>(i));
  sections.push_back(*EncodedSection::Dense({10, 100}, dense.data(), DType::kBFloat16));

  auto write = [](const std::vector<EncodedSection>& parts) {
    testing_util::VectorOutputStream out;
    auto w = Writer::ToStream(&out);
    EXPECT_TRUE(w.ok());
    for (size_t i = 0; i < parts.size(); ++i) {
      EXPECT_TRUE(w->AddSection("t" + std::to_string(i), parts[i]).ok());
    }
    EXPECT_TRUE(w->Finish().ok());
    return out.bytes;
  };
  std::vector<EncodedSection> copies;
  for (const EncodedSection& s : sections) {
    auto copy = EncodedSection::FromBytes(s.info(), s.bytes());
    ASSERT_TRUE(copy.ok()) << copy.status().ToString();
    copies.push_back(*copy);
  }
  EXPECT_EQ(write(copies), write(sections));

  for (size_t i = 0; i < 2; ++i) {
    const std::vector<float> trained = {-0.35f, -0.25f, -0.05f, 0.05f, 0.25f, 0.35f};
    auto moved = sections[i].WithCentroids(trained, LayerStats{1200, 3, 0.5});
    ASSERT_TRUE(moved.ok()) << moved.status().ToString();
    EXPECT_EQ(moved->info().centroids, trained);
    EXPECT_EQ(moved->info().stats.added_squared_error, 0.5);
    EXPECT_EQ(&moved->bytes(), &sections[i].bytes()) << "the bytes are shared, not copied";
    EXPECT_EQ(Codes(moved->view(), 0, 30000), Codes(sections[i].view(), 0, 30000));
    EXPECT_TRUE(sections[i].WithCentroids({0.1f}, {}).status().IsInvalidArgument());
    std::vector<float> bad = trained;
    bad[3] = std::numeric_limits<float>::infinity();
    EXPECT_TRUE(sections[i].WithCentroids(bad, {}).status().IsInvalidArgument());
  }
}

TEST(SectionTest, NoDescriptionMakesOpenCrashOrReadOutside) {
  const std::vector<uint8_t> bytes(4096, 0xA5);
  std::vector<TensorInfo> hostile;
  for (Storage storage : {Storage::kDense, Storage::kPackedCodes, Storage::kRetrieval,
                          static_cast<Storage>(0), static_cast<Storage>(200)}) {
    for (const std::vector<uint64_t>& shape :
         std::vector<std::vector<uint64_t>>{{},
                                            {0},
                                            {0, uint64_t{1} << 63},
                                            {uint64_t{1} << 40, uint64_t{1} << 40},
                                            {4096},
                                            {3, 7},
                                            {1, 1, 1, 1, 1, 1, 1, 1, 1}}) {
      for (int bits : {0, 1, 8, 16, 17, -1}) {
        for (size_t k : {size_t{0}, size_t{1}, size_t{300}}) {
          TensorInfo t;
          t.storage = storage;
          t.shape = shape;
          t.code_bits = bits;
          t.centroids.assign(k, 0.5f);
          t.dtype = static_cast<DType>(bits & 7);
          t.int8_scale = bits > 8 ? 0.0f : 1.0f;
          t.retrieval_kind = static_cast<RetrievalKind>(bits & 3);
          t.shard_span = static_cast<uint64_t>(bits & 3) * 1000;
          t.shard_count = 1 + k % 2;
          t.cells = static_cast<uint64_t>(bits) * 100;
          hostile.push_back(t);
        }
      }
    }
  }
  size_t opened = 0;
  for (const TensorInfo& t : hostile) {
    for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{7}, uint64_t{4096}}) {
      Result<SectionView> view = SectionView::Open(t, bytes.data(), size);
      if (!view.ok()) {
        EXPECT_TRUE(view.status().IsCorruption() || view.status().IsInvalidArgument())
            << view.status().ToString();
        continue;
      }
      ++opened;  // whatever opens decodes without reading outside the bytes (ASan checks)
      const uint64_t n = std::min<uint64_t>(view->element_count(), 4096);
      std::vector<float> floats(n);
      EXPECT_TRUE(view->DecodeFloats(0, n, floats.data(), 1).ok());
      std::vector<uint16_t> codes(n);
      (void)view->DecodeCodes(0, n, codes.data(), 1);
      (void)view->CheckValues();
    }
  }
  EXPECT_GT(opened, 0u);
}

TEST(SectionTest, FromBytesKeepsOnlyWhatItsStorageUsesAndMovesLeaveValidSections) {
  const uint16_t codes[] = {1, 0, 2, 1, 3, 0, 0, 2};
  auto packed = EncodedSection::PackedCodes({2, 4}, codes, 2, {0.1f, 0.2f, 0.3f});
  ASSERT_TRUE(packed.ok());
  TensorInfo info = packed->info();
  info.dtype = static_cast<DType>(9);  // meaningless for packed codes: reset, not stored
  info.name = "ignored";
  info.retrieval_seed = 77;
  auto adopted = EncodedSection::FromBytes(info, packed->bytes());
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_EQ(adopted->info().dtype, DType::kFloat32);
  EXPECT_TRUE(adopted->info().name.empty());
  EXPECT_EQ(adopted->info().retrieval_seed, 0u);
  testing_util::VectorOutputStream out;
  auto w = Writer::ToStream(&out);
  ASSERT_TRUE(w.ok() && w->AddSection("p", *adopted).ok() && w->Finish().ok());
  auto r = Reader::OpenBuffer(out.bytes.data(), out.bytes.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r->Decode("p"), Floats(packed->view(), 0, 8));

  EncodedSection from = *packed;
  EncodedSection to = std::move(from);
  EXPECT_EQ(Codes(from.view(), 0, 8), Codes(to.view(), 0, 8)) << "a moved-from section is valid";
  EncodedSection assigned;
  assigned = std::move(to);
  EXPECT_EQ(to.bytes(), assigned.bytes());
}

}  // namespace
}  // namespace weightless
