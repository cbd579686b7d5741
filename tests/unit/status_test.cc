// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace weightless {
namespace {

TEST(StatusTest, DefaultIsOkAndCostsOnePointer) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(s.message().empty());
  EXPECT_EQ(sizeof(Status), sizeof(void*));
}

TEST(StatusTest, EachFactorySetsItsCodeAndMessage) {
  struct Case {
    Status status;
    StatusCode code;
    const char* text;
  };
  std::vector<Case> cases;
  cases.push_back({Status::InvalidArgument("t", "must be 1..16"), StatusCode::kInvalidArgument,
                   "Invalid argument: t: must be 1..16"});
  cases.push_back({Status::NotFound("fc9"), StatusCode::kNotFound, "Not found: fc9"});
  cases.push_back(
      {Status::Corruption("index", "bad"), StatusCode::kCorruption, "Corruption: index: bad"});
  cases.push_back({Status::NotSupported("zstd"), StatusCode::kNotSupported, "Not supported: zstd"});
  cases.push_back({Status::IOError("a.wl", "No such file"), StatusCode::kIOError,
                   "IO error: a.wl: No such file"});
  cases.push_back({Status::OutOfRange("rank 9"), StatusCode::kOutOfRange, "Out of range: rank 9"});
  cases.push_back(
      {Status::BuildFailed("shard 3"), StatusCode::kBuildFailed, "Build failed: shard 3"});
  cases.push_back({Status::Internal("bug"), StatusCode::kInternal, "Internal error: bug"});
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.ToString(), c.text);
  }
  EXPECT_TRUE(Status::Corruption("x").IsCorruption());
  EXPECT_TRUE(Status::NotFound("x").IsNotFound());
  EXPECT_TRUE(Status::BuildFailed("x").IsBuildFailed());
  EXPECT_FALSE(Status::NotFound("x").IsCorruption());
}

TEST(StatusTest, CodeNamesAreStable) {
  EXPECT_STREQ(StatusCodeName(StatusCode::kOk), "OK");
  EXPECT_STREQ(StatusCodeName(StatusCode::kCorruption), "Corruption");
  EXPECT_STREQ(StatusCodeName(static_cast<StatusCode>(999)), "Unknown");
  // Numeric values are part of the C API.
  EXPECT_EQ(static_cast<int>(StatusCode::kInvalidArgument), 1);
  EXPECT_EQ(static_cast<int>(StatusCode::kCorruption), 3);
  EXPECT_EQ(static_cast<int>(StatusCode::kInternal), 8);
}

TEST(StatusTest, CopyAndMoveKeepTheError) {
  Status a = Status::Corruption("layer 'fc1'", "checksum mismatch");
  Status b = a;
  EXPECT_EQ(a.ToString(), b.ToString());
  Status c = std::move(b);
  EXPECT_EQ(c.ToString(), a.ToString());
  Status d;
  d = c;
  EXPECT_EQ(d.ToString(), a.ToString());
  d = Status::OK();
  EXPECT_TRUE(d.ok());
  d = d;  // self-assignment keeps the value
  EXPECT_TRUE(d.ok());
}

TEST(StatusTest, WithContextPrefixesAndKeepsCode) {
  Status s = Status::Corruption("shard 3", "offset 17").WithContext("layer 'fc1'");
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "layer 'fc1': shard 3: offset 17");
  EXPECT_TRUE(Status::OK().WithContext("anything").ok());
}

TEST(StatusTest, OkCodePassedToConstructorBecomesInternal) {
  Status s(StatusCode::kOk, "not an error");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
}

Result<int> ParsePositive(int x) {
  if (x <= 0) return Status::InvalidArgument("x", "must be positive");
  return x;
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> good = ParsePositive(7);
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(good.status().ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad = ParsePositive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().ToString(), "Invalid argument: x: must be positive");
  EXPECT_EQ(bad.value_or(3), 3);
}

TEST(ResultTest, ConstructingFromOkStatusIsAnInternalError) {
  Result<int> r = Status::OK();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(ResultTest, MoveOnlyValuesAndNonTrivialTypes) {
  Result<std::unique_ptr<int>> p = std::make_unique<int>(5);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> owned = std::move(p).value();
  EXPECT_EQ(*owned, 5);

  Result<std::string> s = std::string(1000, 'x');
  Result<std::string> copy = s;
  EXPECT_EQ(copy->size(), 1000u);
  Result<std::string> moved = std::move(copy);
  EXPECT_EQ(*moved, *s);
  moved = Result<std::string>(Status::NotFound("gone"));
  EXPECT_FALSE(moved.ok());
  moved = s;
  EXPECT_EQ(*moved, *s);
}

TEST(ResultDeathTest, ValueOfErrorAbortsWithMessage) {
  Result<int> bad = Status::NotFound("layer", "fc7");
  EXPECT_DEATH((void)bad.value(), "Not found: layer: fc7");
}

}  // namespace
}  // namespace weightless
