// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "file_test_util.h"

namespace weightless {
namespace {

std::vector<float> GaussianLayer(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 0.05f);
  std::vector<float> w(n);
  for (float& x : w) x = normal(rng);
  return w;
}

TEST(EncoderTest, KeptWeightsExactAndFalsePositivesAtTheirRate) {
  const std::vector<uint64_t> shape = {300, 784};
  const std::vector<float> w = GaussianLayer(300 * 784, 1);
  for (RetrievalKind kind : {RetrievalKind::kRibbon, RetrievalKind::kBloomier}) {
    EncodeOptions o;
    o.keep_fraction = 0.05;
    o.clusters = 15;
    o.kind = kind;
    auto layer = EncodeLayer(w.data(), shape, o);
    ASSERT_TRUE(layer.ok()) << layer.status().ToString();
    const EncodeStats& st = layer->stats;
    EXPECT_EQ(layer->storage, Storage::kRetrieval);
    EXPECT_EQ(st.value_bits, 8);  // smallest t with 15 / 2^t <= 0.06
    EXPECT_EQ(st.kept, 11760u);
    std::vector<float> out(w.size());
    ASSERT_TRUE(DecodeLayer(*layer, out.data()).ok());
    auto mask = PruneByMagnitude(w.data(), w.size(), 0.05);
    auto clustering = [&] {
      std::vector<float> kept;
      for (size_t i = 0; i < w.size(); ++i) {
        if ((*mask)[i]) kept.push_back(w[i]);
      }
      return ShareWeights(kept.data(), kept.size(), 15);
    }();
    size_t j = 0, false_positives = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      if ((*mask)[i]) {
        ASSERT_EQ(out[i], clustering->centroids[clustering->codes[j++] - 1]) << i;
      } else if (out[i] != 0.0f) {
        ++false_positives;
      }
    }
    EXPECT_EQ(false_positives, st.false_positives);
    const double pruned = static_cast<double>(w.size() - st.kept);
    const double p = 15.0 / 256;
    EXPECT_NEAR(static_cast<double>(false_positives), p * pruned,
                5 * std::sqrt(pruned * p * (1 - p)));
    EXPECT_NEAR(st.false_positive_rate, static_cast<double>(false_positives) / pruned, 1e-12);
    EXPECT_GT(st.compression_ratio, kind == RetrievalKind::kRibbon ? 70 : 60);
  }
}

TEST(EncoderTest, SeedSearchNeverWorseAndMeasurablyBetter) {
  const std::vector<float> w = GaussianLayer(100 * 300, 2);
  EncodeOptions o;
  o.keep_fraction = 0.05;
  o.clusters = 15;
  o.seeds = 1;
  auto one = EncodeLayer(w.data(), {100, 300}, o);
  o.seeds = 32;
  auto many = EncodeLayer(w.data(), {100, 300}, o);
  ASSERT_TRUE(one.ok() && many.ok());
  EXPECT_EQ(many->stats.seeds_tried, 32);
  EXPECT_EQ(many->stats.first_seed_cost, one->stats.chosen_cost);
  EXPECT_LE(many->stats.chosen_cost, one->stats.chosen_cost);
  // The best of 32 tables beats the first by a clear margin (the FP count varies by
  // ~sqrt(1700) = 40 around its mean, and which centroids they hit varies too).
  EXPECT_LT(many->stats.chosen_cost, 0.97 * one->stats.chosen_cost);
  // A caller's cost: false positives in the first 10 rows only.
  o.cost = [](const std::vector<FalsePositive>& fps) {
    double c = 0;
    for (const FalsePositive& fp : fps) c += fp.index < 3000 ? 1 : 0;
    return c;
  };
  auto custom = EncodeLayer(w.data(), {100, 300}, o);
  ASSERT_TRUE(custom.ok());
  std::vector<float> out(w.size());
  ASSERT_TRUE(DecodeLayer(*custom, out.data()).ok());
  auto mask = PruneByMagnitude(w.data(), w.size(), 0.05);
  double in_first_rows = 0;
  for (size_t i = 0; i < 3000; ++i) in_first_rows += (!(*mask)[i] && out[i] != 0.0f) ? 1 : 0;
  EXPECT_EQ(in_first_rows, custom->stats.chosen_cost);
  EXPECT_LE(custom->stats.chosen_cost, custom->stats.first_seed_cost);
}

TEST(EncoderTest, DeterministicAndWritesTheSameLayerItDecodes) {
  const std::vector<float> w = GaussianLayer(50 * 80, 3);
  EncodeOptions o;
  o.keep_fraction = 0.1;
  o.clusters = 7;
  o.seeds = 4;
  auto a = EncodeLayer(w.data(), {50, 80}, o);
  o.threads = 1;
  auto b = EncodeLayer(w.data(), {50, 80}, o);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->table && b->table) << "expected retrieval tables";
  EXPECT_EQ(a->table->bytes(), b->table->bytes());
  EXPECT_EQ(a->centroids, b->centroids);
  // Through a file: the reader decodes what DecodeLayer decodes.
  testing_util::VectorOutputStream stream;
  auto writer = Writer::ToStream(&stream);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->AddEncodedLayer("fc", *a).ok());
  // A small, dense layer is stored as packed codes, which are smaller there.
  EncodeOptions small;
  small.keep_fraction = 0.5;
  small.clusters = 3;
  auto tiny = EncodeLayer(w.data(), {10, 10}, small);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->storage, Storage::kPackedCodes);
  EXPECT_EQ(tiny->stats.value_bits, 2);
  EXPECT_EQ(tiny->stats.false_positives, 0u);
  ASSERT_TRUE((*writer)->AddEncodedLayer("tiny", *tiny).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  auto reader = Reader::OpenBuffer(stream.bytes.data(), stream.bytes.size());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  for (const auto& [name, layer] :
       std::vector<std::pair<std::string, const EncodedLayer*>>{{"fc", &*a}, {"tiny", &*tiny}}) {
    uint64_t n = 1;
    for (uint64_t d : layer->shape) n *= d;
    std::vector<float> expected(n), got(n);
    ASSERT_TRUE(DecodeLayer(*layer, expected.data()).ok());
    ASSERT_TRUE((*reader)->Decode(*(*reader)->FindTensor(name), got.data(), n).ok());
    EXPECT_EQ(got, expected) << name;
    EXPECT_EQ((*reader)->tensor(*(*reader)->FindTensor(name)).stats.kept, layer->stats.kept);
  }
}

TEST(EncoderTest, RefusesBadInputWithClearErrors) {
  std::vector<float> w = GaussianLayer(100, 4);
  EncodeOptions o;
  EXPECT_TRUE(EncodeLayer(w.data(), {}, o).status().IsInvalidArgument());
  EXPECT_TRUE(EncodeLayer(w.data(), {10, 0}, o).status().IsInvalidArgument());
  w[37] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(EncodeLayer(w.data(), {10, 10}, o).status().ToString().find("index 37 is NaN"),
            std::string::npos);
  w[37] = 0;
  EncodeOptions bad = o;
  bad.value_bits = 3;
  bad.clusters = 15;
  bad.keep_fraction = 0.5;
  EXPECT_NE(EncodeLayer(w.data(), {10, 10}, bad).status().ToString().find("K = 15"),
            std::string::npos);
  bad = o;
  bad.max_false_positive_rate = 1e-9;
  EXPECT_NE(EncodeLayer(w.data(), {10, 10}, bad).status().ToString().find("no t <= 16"),
            std::string::npos);
  bad = o;
  bad.mask = std::vector<uint8_t>(99, 1);
  EXPECT_NE(EncodeLayer(w.data(), {10, 10}, bad).status().ToString().find("mask has 99"),
            std::string::npos);
  bad = o;
  bad.clusters = 0;
  EXPECT_TRUE(EncodeLayer(w.data(), {10, 10}, bad).status().IsInvalidArgument());
  bad = o;
  bad.seeds = 0;
  EXPECT_TRUE(EncodeLayer(w.data(), {10, 10}, bad).status().IsInvalidArgument());
  // A caller's mask is honoured, including keeping nothing.
  EncodeOptions masked = o;
  masked.mask = std::vector<uint8_t>(100, 0);
  masked.storage = LayerStorage::kRetrieval;
  auto empty = EncodeLayer(w.data(), {10, 10}, masked);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->stats.kept, 0u);
}

}  // namespace
}  // namespace weightless
