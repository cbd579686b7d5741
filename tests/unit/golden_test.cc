// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The checked-in golden files: tests/golden/sample.wl must read with exact expected
// values; every tests/golden-errors/<error>__<what>.wl must be rejected with the
// FileError named by its prefix (at open, on decode, or by Verify). Regenerating the
// files must give the same bytes, except those libzstd produces: a format change cannot
// go unnoticed, while a libzstd upgrade that compresses differently (an equally valid
// frame) fails nothing. Determinism, zstd frames included, is checked within one build.

#include <gtest/gtest.h>

#include <zstd.h>

#include <algorithm>
#include <filesystem>

#include "crafted_files.h"

#ifndef WEIGHTLESS_SOURCE_DIR
#error "WEIGHTLESS_SOURCE_DIR must name the repository root"
#endif

namespace weightless {
namespace {

namespace fs = std::filesystem;
const fs::path kTests = fs::path(WEIGHTLESS_SOURCE_DIR) / "tests";

// What of a file does not depend on libzstd's choices: every byte before the index
// (header and sections, which must then be stored without zstd), the index as
// decompressed, and the trailer without the index's stored size and checksum and the
// trailer's own checksum, which follow from the index frame.
struct ZstdIndependentForm {
  std::vector<uint8_t> before_index, index, trailer;
  bool operator==(const ZstdIndependentForm& o) const {
    return before_index == o.before_index && index == o.index && trailer == o.trailer;
  }
};

ZstdIndependentForm ZstdIndependent(const std::vector<uint8_t>& file) {
  ZstdIndependentForm form;
  const uint8_t* trailer = file.data() + file.size() - container::kTrailerSize;
  const uint64_t offset = LoadLE64(trailer), size = LoadLE64(trailer + 8);
  const uint64_t features = LoadLE64(trailer + 24);
  EXPECT_EQ(features & static_cast<uint64_t>(Feature::kZstd), 0u)
      << "a section is stored with zstd: compare its decompressed bytes here";
  form.before_index.assign(file.begin(), file.begin() + static_cast<long>(offset));
  form.index.assign(file.begin() + static_cast<long>(offset),
                    file.begin() + static_cast<long>(offset + size));
  if (features & static_cast<uint64_t>(Feature::kZstdIndex)) {
    std::vector<uint8_t> raw(ZSTD_getFrameContentSize(form.index.data(), form.index.size()));
    EXPECT_EQ(ZSTD_decompress(raw.data(), raw.size(), form.index.data(), form.index.size()),
              raw.size());
    form.index = std::move(raw);
  }
  form.trailer.assign(trailer, trailer + 8);                            // index offset
  form.trailer.insert(form.trailer.end(), trailer + 24, trailer + 32);  // features
  form.trailer.insert(form.trailer.end(), trailer + 40, trailer + container::kTrailerSize);
  return form;
}

// Regenerating the sample gives the checked-in bytes, on every target (the aarch64 build
// of scripts/test runs this too).
TEST(GoldenTest, SampleIsStable) {
  const std::vector<uint8_t> bytes =
      testing_util::ReadFileBytes((kTests / "golden" / "sample.wl").string());
  const std::vector<uint8_t> regenerated = testing_util::SampleFileBytes(true);
  EXPECT_EQ(regenerated, testing_util::SampleFileBytes(true)) << "the writer is not deterministic";
  EXPECT_TRUE(ZstdIndependent(bytes) == ZstdIndependent(regenerated))
      << "the writer's output changed; if intended, run wl-make-golden tests and update "
         "spec/FORMAT.md";
}

TEST(GoldenTest, SampleReadsWithExactValues) {
  const std::vector<uint8_t> bytes =
      testing_util::ReadFileBytes((kTests / "golden" / "sample.wl").string());
  testing_util::SampleModel model;
  testing_util::SampleFileBytes(true, &model);
  auto reader = Reader::OpenBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  for (size_t k = 0; k < model.names.size(); ++k) {
    const size_t i = *reader->FindTensor(model.names[k]);
    std::vector<float> out(reader->tensor(i).element_count());
    ASSERT_TRUE(reader->Decode(i, out.data(), out.size()).ok());
    EXPECT_EQ(out, model.expected[k]) << model.names[k];
  }
  EXPECT_TRUE(reader->Verify().empty());
}

// The sample as format 1.0 wrote it (before hash mix32 and fc3) is frozen: it must read
// with exact values, its fc1 being the ribbon xxh3 table the current sample calls fc3.
TEST(GoldenTest, Format10SampleReadsWithExactValues) {
  const std::vector<uint8_t> bytes =
      testing_util::ReadFileBytes((kTests / "golden" / "sample-1.0.wl").string());
  testing_util::SampleModel model;
  testing_util::SampleFileBytes(true, &model);
  auto reader = Reader::OpenBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(reader->format_minor(), 0);
  EXPECT_EQ(reader->required_features(), 0xFEu);
  ASSERT_EQ(reader->tensor_count(), model.names.size() - 1);
  for (size_t i = 0; i < reader->tensor_count(); ++i) {
    const TensorInfo& t = reader->tensor(i);
    const std::string now = t.name == "fc1" ? "fc3" : t.name;
    const size_t k = static_cast<size_t>(std::find(model.names.begin(), model.names.end(), now) -
                                         model.names.begin());
    ASSERT_LT(k, model.names.size()) << t.name;
    if (t.storage == Storage::kRetrieval) {
      EXPECT_EQ(t.retrieval_hash, RetrievalHash::kXxh3);
    }
    std::vector<float> out(t.element_count());
    ASSERT_TRUE(reader->Decode(i, out.data(), out.size()).ok());
    EXPECT_EQ(out, model.expected[k]) << t.name;
  }
  EXPECT_TRUE(reader->Verify().empty());
}

// The first error the reader reports for a file: at open, else the first decode
// failure, else the first Verify problem.
Status FirstError(const std::vector<uint8_t>& bytes) {
  auto reader = Reader::OpenBuffer(bytes.data(), bytes.size());
  if (!reader.ok()) return reader.status();
  for (size_t i = 0; i < reader->tensor_count(); ++i) {
    std::vector<float> out(reader->tensor(i).element_count());
    Status s = reader->Decode(i, out.data(), out.size());
    if (!s.ok()) return s;
  }
  std::vector<Status> problems = reader->Verify();
  return problems.empty() ? Status::OK() : problems.front();
}

// Whether the file's trailer announces zstd frames (sections or index); a crafted file
// too damaged to have a trailer holds none.
bool HoldsZstdOutput(const std::vector<uint8_t>& file) {
  if (file.size() < container::kTrailerSize) return false;
  const uint64_t features = LoadLE64(file.data() + file.size() - container::kTrailerSize + 24);
  return (features & (static_cast<uint64_t>(Feature::kZstd) |
                      static_cast<uint64_t>(Feature::kZstdIndex))) != 0;
}

TEST(GoldenTest, EveryCraftedFileIsRejectedWithItsError) {
  const auto crafted = golden::CraftedErrorFiles();
  size_t checked = 0;
  for (const auto& entry : fs::directory_iterator(kTests / "golden-errors")) {
    const std::string stem = entry.path().stem().string();
    const std::string expected = stem.substr(0, stem.find("__"));
    const std::vector<uint8_t> bytes = testing_util::ReadFileBytes(entry.path().string());
    auto it = crafted.find(stem);
    ASSERT_NE(it, crafted.end()) << stem << " is not produced by crafted_files.h";
    // A file holding zstd frames may come out otherwise from another libzstd: then the
    // regenerated file must fail as the checked-in one does.
    if (!HoldsZstdOutput(bytes)) {
      EXPECT_EQ(bytes, it->second) << stem << " differs from what crafted_files.h makes";
    }
    for (const std::vector<uint8_t>* file : {&bytes, &it->second}) {
      const Status s = FirstError(*file);
      ASSERT_FALSE(s.ok()) << stem << " was accepted";
      EXPECT_EQ(FileErrorName(static_cast<FileError>(s.detail())), expected)
          << stem << ": " << s.ToString();
    }
    ++checked;
  }
  EXPECT_EQ(checked, crafted.size()) << "run wl-make-golden tests to write missing files";
}

}  // namespace
}  // namespace weightless
