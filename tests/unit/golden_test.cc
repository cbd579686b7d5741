// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The checked-in golden files: tests/golden/sample.wl must read with exact expected
// values; every tests/golden-errors/<error>__<what>.wl must be rejected with the
// FileError named by its prefix (at open, on decode, or by Verify). Regenerating the
// files must give the same bytes: a format change cannot go unnoticed.

#include <gtest/gtest.h>

#include <filesystem>

#include "crafted_files.h"

#ifndef WEIGHTLESS_SOURCE_DIR
#error "WEIGHTLESS_SOURCE_DIR must name the repository root"
#endif

namespace weightless {
namespace {

namespace fs = std::filesystem;
const fs::path kTests = fs::path(WEIGHTLESS_SOURCE_DIR) / "tests";

TEST(GoldenTest, SampleReadsWithExactValuesAndIsByteStable) {
  const std::vector<uint8_t> bytes =
      testing_util::ReadFileBytes((kTests / "golden" / "sample.wl").string());
  testing_util::SampleModel model;
  const std::vector<uint8_t> regenerated = testing_util::SampleFileBytes(true, &model);
  EXPECT_EQ(bytes, regenerated)
      << "the writer's output changed; if intended, run wl-make-golden tests and update "
         "spec/FORMAT.md";
  auto reader = Reader::OpenBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  for (size_t k = 0; k < model.names.size(); ++k) {
    const size_t i = *(*reader)->FindTensor(model.names[k]);
    std::vector<float> out((*reader)->tensor(i).element_count());
    ASSERT_TRUE((*reader)->Decode(i, out.data(), out.size()).ok());
    EXPECT_EQ(out, model.expected[k]) << model.names[k];
  }
  EXPECT_TRUE((*reader)->Verify().empty());
}

// The first error the reader reports for a file: at open, else the first decode
// failure, else the first Verify problem.
Status FirstError(const std::vector<uint8_t>& bytes) {
  auto reader = Reader::OpenBuffer(bytes.data(), bytes.size());
  if (!reader.ok()) return reader.status();
  for (size_t i = 0; i < (*reader)->tensor_count(); ++i) {
    std::vector<float> out((*reader)->tensor(i).element_count());
    Status s = (*reader)->Decode(i, out.data(), out.size());
    if (!s.ok()) return s;
  }
  std::vector<Status> problems = (*reader)->Verify();
  return problems.empty() ? Status::OK() : problems.front();
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
    EXPECT_EQ(bytes, it->second) << stem << " differs from what crafted_files.h makes";
    const Status s = FirstError(bytes);
    ASSERT_FALSE(s.ok()) << stem << " was accepted";
    EXPECT_EQ(FileErrorName(static_cast<FileError>(s.detail())), expected)
        << stem << ": " << s.ToString();
    ++checked;
  }
  EXPECT_EQ(checked, crafted.size()) << "run wl-make-golden tests to write missing files";
}

}  // namespace
}  // namespace weightless
