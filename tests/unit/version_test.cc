// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/version.h"

#include <gtest/gtest.h>

#include <string>

namespace weightless {
namespace {

TEST(VersionTest, RuntimeMatchesHeader) {
  EXPECT_EQ(VersionNumber(), WEIGHTLESS_VERSION_NUMBER);
  EXPECT_STREQ(VersionString(), WEIGHTLESS_VERSION_STRING);
}

TEST(VersionTest, StringAndNumberAgree) {
  std::string expected = std::to_string(WEIGHTLESS_VERSION_MAJOR) + "." +
                         std::to_string(WEIGHTLESS_VERSION_MINOR) + "." +
                         std::to_string(WEIGHTLESS_VERSION_PATCH);
  EXPECT_EQ(expected, VersionString());
  EXPECT_EQ(VersionNumber(), WEIGHTLESS_VERSION_MAJOR * 10000 + WEIGHTLESS_VERSION_MINOR * 100 +
                                 WEIGHTLESS_VERSION_PATCH);
}

}  // namespace
}  // namespace weightless
