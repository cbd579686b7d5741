// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Checks that the index header generated at build time from format/weightless.fbs
// builds, verifies (with explicit Verifier limits) and reads back.

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include "weightless_generated.h"

namespace weightless {
namespace {

TEST(SchemaTest, IndexRoundTripsThroughVerifier) {
  flatbuffers::FlatBufferBuilder builder;
  auto producer = fb::CreateProducerDirect(builder, "schema_test", "0.1.0");
  std::vector<fb::SectionRef> sections = {
      fb::SectionRef(64, 128, 128, 0x1234, fb::SectionKind::TensorData, fb::Codec::None, 0, 0)};
  auto index = fb::CreateIndexDirect(builder, 1, 0, producer, &sections);
  fb::FinishIndexBuffer(builder, index);

  flatbuffers::Verifier::Options limits;
  limits.max_depth = 16;
  limits.max_tables = 1000;
  flatbuffers::Verifier verifier(builder.GetBufferPointer(), builder.GetSize(), limits);
  ASSERT_TRUE(fb::VerifyIndexBuffer(verifier));
  ASSERT_TRUE(fb::IndexBufferHasIdentifier(builder.GetBufferPointer()));

  const fb::Index* read = fb::GetIndex(builder.GetBufferPointer());
  EXPECT_EQ(read->format_major(), 1);
  EXPECT_EQ(read->producer()->name()->str(), "schema_test");
  ASSERT_EQ(read->sections()->size(), 1u);
  EXPECT_EQ(read->sections()->Get(0)->offset(), 64u);
  EXPECT_EQ(read->sections()->Get(0)->checksum(), 0x1234u);
}

TEST(SchemaTest, TruncatedIndexIsRejectedOrReadsTheSame) {
  // A FlatBuffer may end in alignment padding, so a prefix that drops only padding can
  // still verify; what must never happen is a prefix that verifies but reads differently.
  flatbuffers::FlatBufferBuilder builder;
  auto index = fb::CreateIndexDirect(builder, 1, 0, fb::CreateProducerDirect(builder, "x", "y"));
  fb::FinishIndexBuffer(builder, index);
  size_t rejected = 0;
  for (size_t len = 0; len < builder.GetSize(); ++len) {
    std::vector<uint8_t> prefix(builder.GetBufferPointer(), builder.GetBufferPointer() + len);
    flatbuffers::Verifier verifier(prefix.data(), prefix.size());
    if (!fb::VerifyIndexBuffer(verifier)) {
      ++rejected;
      continue;
    }
    const fb::Index* read = fb::GetIndex(prefix.data());
    EXPECT_EQ(read->format_major(), 1) << "length " << len;
    EXPECT_EQ(read->producer()->name()->str(), "x") << "length " << len;
    EXPECT_EQ(read->producer()->version()->str(), "y") << "length " << len;
  }
  EXPECT_GE(rejected, builder.GetSize() - 4);
}

}  // namespace
}  // namespace weightless
