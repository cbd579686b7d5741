// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The reader's loading, caching and checksum policy (weightless/reader.h): partial
// reads touch only the shards of the rows asked for and decode exactly what a whole
// load decodes; what is kept can be released; Verify keeps nothing; an I/O error is
// not remembered; a damaged section is still caught by Decode and Verify.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "file_test_util.h"
#include "weightless/encoder.h"
#include "weightless/reader.h"
#include "weightless/writer.h"

namespace weightless {
namespace {

namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(base ? base : fs::temp_directory_path().string()) /
                 ("weightless_reader_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

using testing_util::RandomCodes;

EncodedLayer Encode(const std::vector<uint64_t>& shape, RetrievalKind kind, LayerStorage storage,
                    uint32_t k, uint64_t seed) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  std::vector<float> centroids;
  for (uint32_t c = 0; c < k; ++c) centroids.push_back(0.1f * static_cast<float>(c) - 0.3f);
  EncodeOptions options;
  options.kind = kind;
  options.storage = storage;
  const std::vector<uint16_t> codes = RandomCodes(n, k, 0.04, seed);
  Result<EncodedLayer> layer = EncodeCodes(codes.data(), shape, centroids, options);
  if (!layer.ok()) std::abort();
  return std::move(layer).value();
}

// A file with every kind of section a partial read handles, and one it does not (zstd).
const std::vector<std::string> kNames = {"ribbon", "bloomier", "packed", "dense", "zstd"};

std::string WriteModel() {
  const std::string path = TempPath("model.wl");
  auto w = Writer::Create(path);
  if (!w.ok()) std::abort();
  std::vector<float> dense(500 * 3);
  for (size_t i = 0; i < dense.size(); ++i) dense[i] = 0.01f * static_cast<float>(i);
  bool ok =
      w->AddSection(
           "ribbon",
           Encode({2048, 512}, RetrievalKind::kRibbon, LayerStorage::kRetrieval, 7, 1).section)
          .ok() &&
      w->AddSection(
           "bloomier",
           Encode({1024, 300}, RetrievalKind::kBloomier, LayerStorage::kRetrieval, 7, 2).section)
          .ok() &&
      w->AddSection(
           "packed",
           Encode({301, 7}, RetrievalKind::kRibbon, LayerStorage::kPackedCodes, 3, 3).section)
          .ok() &&
      w->AddDense("dense", {500, 3}, dense.data(), DType::kFloat16).ok() &&
      w->AddDense("zstd", {500, 3}, dense.data(), DType::kFloat32, Codec::kZstd).ok() &&
      w->Finish().ok();
  if (!ok) std::abort();
  return path;
}

std::unique_ptr<Reader> OpenOrDie(const std::string& path, const ReaderOptions& options) {
  auto r = Reader::Open(path, options);
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    std::abort();
  }
  return std::make_unique<Reader>(std::move(r).value());
}

std::vector<float> DecodeAll(const Reader& r, size_t i) {
  std::vector<float> out(r.tensor(i).element_count());
  EXPECT_TRUE(r.Decode(i, out.data(), out.size()).ok());
  return out;
}

std::vector<float> Rows(const Reader& r, size_t i, uint64_t begin, uint64_t end) {
  const uint64_t row = r.tensor(i).row_size();
  std::vector<float> out((end - begin) * row);
  const Status s = r.DecodeRows(i, begin, end, out.data(), out.size());
  EXPECT_TRUE(s.ok()) << r.tensor(i).name << " rows " << begin << ".." << end << ": "
                      << s.ToString();
  return out;
}

ReaderOptions Options(bool mmap, bool partial) {
  ReaderOptions o;
  o.use_mmap = mmap;
  o.partial_reads = partial;
  return o;
}

TEST(ReaderPolicyTest, PartialReadsDecodeExactlyWhatAWholeLoadDecodes) {
  const std::string path = WriteModel();
  const auto whole = OpenOrDie(path, Options(true, false));
  for (bool mmap : {false, true}) {
    const auto partial = OpenOrDie(path, Options(mmap, true));
    ASSERT_EQ(partial->is_mapped(), mmap);
    std::mt19937_64 rng(5);
    for (size_t i = 0; i < kNames.size(); ++i) {
      ASSERT_EQ(partial->tensor(i).name, kNames[i]);
      const std::vector<float> all = DecodeAll(*whole, i);
      const uint64_t rows = partial->tensor(i).rows(), row = partial->tensor(i).row_size();
      std::vector<std::pair<uint64_t, uint64_t>> ranges = {
          {0, 1}, {rows - 1, rows}, {0, rows}, {1, 2}, {rows / 2, rows / 2 + 3}};
      for (int k = 0; k < 40; ++k) {
        const uint64_t b = rng() % rows, e = b + 1 + rng() % std::min<uint64_t>(rows - b, 9);
        ranges.emplace_back(b, e);
      }
      for (const auto& [b, e] : ranges) {
        const std::vector<float> got = Rows(*partial, i, b, e);
        ASSERT_EQ(got, std::vector<float>(all.begin() + static_cast<long>(b * row),
                                          all.begin() + static_cast<long>(e * row)))
            << kNames[i] << " rows " << b << ".." << e << (mmap ? " mmap" : " pread");
      }
      for (int k = 0; k < 40; ++k) {
        const uint64_t flat = rng() % all.size();
        Result<float> v = partial->DecodeWeight(i, flat);
        ASSERT_TRUE(v.ok()) << v.status().ToString();
        ASSERT_EQ(*v, all[flat]) << kNames[i] << " weight " << flat;
      }
    }
    // Only the zstd section, which cannot be read in part, was loaded and kept.
    EXPECT_EQ(partial->cached_bytes(), partial->tensor(4).raw_bytes);
  }
}

// What a partial read of one or two shards of a table may cost: the header and the
// directory (opening validates all of it), two shards' share of the cells with the
// decoders' margins, and the cell area's last block and padding.
uint64_t PartialReadBound(const TensorInfo& t) {
  return 40 + (t.shard_count + 1) * 8 + 2 * t.stored_bytes / t.shard_count + 3 * 8 * 16 + 256;
}

TEST(ReaderCodesTest, CodeRowsAreTheEncodedLayersCodesWholeOrPartial) {
  const std::string path = WriteModel();
  // WriteModel's layers, encoded again (encoding is deterministic).
  const std::vector<EncodedLayer> layers = {
      Encode({2048, 512}, RetrievalKind::kRibbon, LayerStorage::kRetrieval, 7, 1),
      Encode({1024, 300}, RetrievalKind::kBloomier, LayerStorage::kRetrieval, 7, 2),
      Encode({301, 7}, RetrievalKind::kRibbon, LayerStorage::kPackedCodes, 3, 3)};
  for (bool mmap : {false, true}) {
    for (bool partial : {false, true}) {
      const auto r = OpenOrDie(path, Options(mmap, partial));
      for (size_t i = 0; i < layers.size(); ++i) {
        const Result<std::vector<uint16_t>> expected = DecodeLayerCodes(layers[i], 1);
        ASSERT_TRUE(expected.ok());
        const uint64_t rows = r->tensor(i).rows(), row = r->tensor(i).row_size();
        std::vector<uint16_t> all(expected->size());
        ASSERT_TRUE(r->DecodeCodeRows(i, 0, rows, all.data(), all.size()).ok());
        EXPECT_EQ(all, *expected) << kNames[i];
        for (const auto& [b, e] : std::vector<std::pair<uint64_t, uint64_t>>{
                 {0, 1}, {rows - 1, rows}, {rows / 3, rows / 3 + 5}}) {
          std::vector<uint16_t> got((e - b) * row);
          ASSERT_TRUE(r->DecodeCodeRows(i, b, e, got.data(), got.size(), 2).ok());
          EXPECT_TRUE(std::equal(got.begin(), got.end(), expected->begin() + b * row))
              << kNames[i] << " rows " << b << ".." << e << " mmap " << mmap << " partial "
              << partial;
        }
        std::vector<uint16_t> small(row - 1);
        EXPECT_TRUE(r->DecodeCodeRows(i, 0, 1, small.data(), small.size()).IsInvalidArgument());
        EXPECT_TRUE(r->DecodeCodeRows(i, 0, rows + 1, all.data(), all.size()).IsOutOfRange());
      }
      uint16_t one = 0;
      EXPECT_TRUE(r->DecodeCodeRows(3, 0, 1, &one, 3).IsInvalidArgument()) << "dense has no codes";
    }
  }
}

TEST(ReaderPolicyTest, PartialReadsPreadOnlyTheShardsOfTheRows) {
  const std::string path = WriteModel();
  const auto r = OpenOrDie(path, Options(false, true));
  const TensorInfo& table = r->tensor(0);
  ASSERT_EQ(table.name, "ribbon");
  ASSERT_GT(table.shard_count, 16u);
  const uint64_t opened = r->bytes_read();
  EXPECT_GT(opened, 0u);    // the header, trailer and index
  Rows(*r, 0, 1000, 1002);  // 1024 weights of 1M
  const uint64_t rows_read = r->bytes_read() - opened;
  // Header, directory, last block and a shard or two of cells; far from the section.
  EXPECT_GT(rows_read, (table.shard_count + 1) * 8);
  EXPECT_LT(rows_read, PartialReadBound(table))
      << rows_read << " of a " << table.stored_bytes << "-byte section";
  EXPECT_LT(PartialReadBound(table), table.stored_bytes / 8);
  EXPECT_EQ(r->cached_bytes(), 0u);

  const uint64_t before_weight = r->bytes_read();
  ASSERT_TRUE(r->DecodeWeight(1, 12345).ok());
  EXPECT_LT(r->bytes_read() - before_weight, PartialReadBound(r->tensor(1)));
  const uint64_t before_dense = r->bytes_read();
  Rows(*r, 3, 10, 20);  // 10 rows of 3 float16
  EXPECT_EQ(r->bytes_read() - before_dense, 10u * 3 * 2);
  const uint64_t before_packed = r->bytes_read();
  Rows(*r, 2, 100, 101);  // 7 codes of 2 bits, from a byte boundary
  EXPECT_LE(r->bytes_read() - before_packed, 4u);
  const uint64_t before_tail = r->bytes_read();
  Rows(*r, 2, 300, 301);  // the last row: its bytes hold the tail, checked from them
  EXPECT_LE(r->bytes_read() - before_tail, 4u);
}

TEST(ReaderPolicyTest, WholeLoadsAreKeptUntilReleasedAndVerifyKeepsNothing) {
  const std::string path = WriteModel();
  const auto r = OpenOrDie(path, Options(false, false));
  const uint64_t section = r->tensor(0).stored_bytes;
  uint64_t mark = r->bytes_read();
  Rows(*r, 0, 5, 6);  // without partial_reads: the section is loaded whole
  EXPECT_EQ(r->bytes_read() - mark, section);
  EXPECT_EQ(r->cached_bytes(), section);
  mark = r->bytes_read();
  Rows(*r, 0, 700, 900);
  EXPECT_EQ(r->bytes_read(), mark);  // from the cache
  r->Release(0);
  EXPECT_EQ(r->cached_bytes(), 0u);
  Rows(*r, 0, 5, 6);
  EXPECT_EQ(r->bytes_read() - mark, section);  // loaded again
  r->Release(99);                              // ignored
  r->ReleaseAll();
  EXPECT_EQ(r->cached_bytes(), 0u);
  mark = r->bytes_read();
  EXPECT_TRUE(r->Verify().empty());
  EXPECT_GE(r->bytes_read() - mark, section);
  EXPECT_EQ(r->cached_bytes(), 0u);  // verifying does not leave the file in memory

  const auto mapped = OpenOrDie(path, Options(true, false));
  for (size_t i = 0; i < 4; ++i) DecodeAll(*mapped, i);
  EXPECT_EQ(mapped->cached_bytes(), 0u);  // uncompressed mapped sections: used in place
  EXPECT_EQ(mapped->bytes_read(), 0u);
}

TEST(ReaderPolicyTest, PartialReadsAreNotChecksumVerifiedButDecodeAndVerifyAre) {
  const std::string path = WriteModel();
  std::vector<uint8_t> bytes = testing_util::ReadFileBytes(path);
  uint64_t cell_offset = 0;
  {
    const auto r = OpenOrDie(path, Options(true, false));
    const TensorInfo& t = r->tensor(0);
    // A byte in the cells of the last shards, far from rows 0..2.
    cell_offset = t.section_offset + t.stored_bytes - 400;
  }
  bytes[cell_offset] ^= 0x10;
  const std::string damaged = TempPath("damaged.wl");
  testing_util::WriteFileBytes(damaged, bytes);
  for (bool mmap : {false, true}) {
    const auto r = OpenOrDie(damaged, Options(mmap, true));
    const auto clean = OpenOrDie(path, Options(mmap, false));
    EXPECT_EQ(Rows(*r, 0, 0, 2), Rows(*clean, 0, 0, 2));  // rows away from the damage
    std::vector<float> out(r->tensor(0).element_count());
    const Status s = r->Decode(0, out.data(), out.size());
    EXPECT_EQ(static_cast<FileError>(s.detail()), FileError::kSectionChecksum) << s.ToString();
    const std::vector<Status> problems = r->Verify();
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(static_cast<FileError>(problems[0].detail()), FileError::kSectionChecksum);
  }
}

TEST(ReaderPolicyTest, AnIOErrorIsNotRemembered) {
  const std::string path = WriteModel();
  const std::vector<uint8_t> bytes = testing_util::ReadFileBytes(path);
  const auto r = OpenOrDie(path, Options(false, false));
  const TensorInfo& t = r->tensor(0);
  // The file shrinks under the open reader: its section can no longer be read.
  fs::resize_file(path, t.section_offset + 10);
  std::vector<float> out(t.element_count());
  const Status failed = r->Decode(0, out.data(), out.size());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(static_cast<FileError>(failed.detail()), FileError::kIOError) << failed.ToString();
  // Restored (same inode: the reader's descriptor sees it), the next call succeeds.
  testing_util::WriteFileBytes(path, bytes);
  EXPECT_TRUE(r->Decode(0, out.data(), out.size()).ok());
}

// Reader and Writer are movable values; Decode(name) returns the tensor's values.
TEST(ReaderPolicyTest, ReadersAndWritersAreMovableValues) {
  const std::string path = TempPath("moved.wl");
  const std::vector<float> values = {1.0f, -2.0f, 0.5f};
  Result<Writer> created = Writer::Create(path);
  ASSERT_TRUE(created.ok());
  Writer writer = std::move(created).value();
  ASSERT_TRUE(writer.AddDense("v", {3}, values.data()).ok());
  Writer moved = std::move(writer);  // the unfinished file moves with it
  ASSERT_TRUE(moved.Finish().ok());

  Result<Writer> other = Writer::Create(TempPath("abandoned.wl"));
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->AddDense("v", {3}, values.data()).ok());
  *other = std::move(moved);  // abandons other's unfinished file
  EXPECT_FALSE(fs::exists(TempPath("abandoned.wl")));

  Result<Reader> opened = Reader::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Reader reader = std::move(opened).value();
  Reader again = std::move(reader);
  Result<std::vector<float>> v = again.Decode("v");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, values);
  EXPECT_TRUE(again.Decode("missing").status().IsNotFound());
}

}  // namespace
}  // namespace weightless
