// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

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
    EXPECT_EQ(layer->storage(), Storage::kRetrieval);
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
  ASSERT_TRUE(a->storage() == Storage::kRetrieval && b->storage() == Storage::kRetrieval)
      << "expected retrieval tables";
  EXPECT_EQ(a->section.bytes(), b->section.bytes());
  EXPECT_EQ(a->centroids(), b->centroids());
  // Through a file: the reader decodes what DecodeLayer decodes.
  testing_util::VectorOutputStream stream;
  auto writer = Writer::ToStream(&stream);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->AddSection("fc", a->section).ok());
  // A small, dense layer is stored as packed codes, which are smaller there.
  EncodeOptions small;
  small.keep_fraction = 0.5;
  small.clusters = 3;
  auto tiny = EncodeLayer(w.data(), {10, 10}, small);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->storage(), Storage::kPackedCodes);
  EXPECT_EQ(tiny->stats.value_bits, 2);
  EXPECT_EQ(tiny->stats.false_positives, 0u);
  ASSERT_TRUE(writer->AddSection("tiny", tiny->section).ok());
  ASSERT_TRUE(writer->Finish().ok());
  auto reader = Reader::OpenBuffer(stream.bytes.data(), stream.bytes.size());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  for (const auto& [name, layer] :
       std::vector<std::pair<std::string, const EncodedLayer*>>{{"fc", &*a}, {"tiny", &*tiny}}) {
    uint64_t n = 1;
    for (uint64_t d : layer->shape()) n *= d;
    std::vector<float> expected(n), got(n);
    ASSERT_TRUE(DecodeLayer(*layer, expected.data()).ok());
    ASSERT_TRUE(reader->Decode(*reader->FindTensor(name), got.data(), n).ok());
    EXPECT_EQ(got, expected) << name;
    EXPECT_EQ(reader->tensor(*reader->FindTensor(name)).stats.kept, layer->stats.kept);
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
  LayerInputs wrong_mask;
  wrong_mask.mask = std::vector<uint8_t>(99, 1);
  EXPECT_NE(EncodeLayer(w.data(), {10, 10}, o, wrong_mask).status().ToString().find("mask has 99"),
            std::string::npos);
  bad = o;
  bad.clusters = 0;
  EXPECT_TRUE(EncodeLayer(w.data(), {10, 10}, bad).status().IsInvalidArgument());
  bad = o;
  bad.seeds = 0;
  EXPECT_TRUE(EncodeLayer(w.data(), {10, 10}, bad).status().IsInvalidArgument());
  // Table options a table would refuse are refused whatever the storage, also where
  // packed codes (no table) are asked for or would be chosen.
  for (LayerStorage storage : {LayerStorage::kPackedCodes, LayerStorage::kAuto}) {
    bad = o;
    bad.storage = storage;
    bad.kind = RetrievalKind::kBloomier;
    bad.hash = RetrievalHash::kMix32;
    EXPECT_NE(
        EncodeLayer(w.data(), {10, 10}, bad).status().ToString().find("mix32 with kind bloomier"),
        std::string::npos);
    bad.kind = static_cast<RetrievalKind>(7);
    bad.hash.reset();
    EXPECT_NE(
        EncodeLayer(w.data(), {10, 10}, bad).status().ToString().find("unknown retrieval kind 7"),
        std::string::npos);
    bad.kind = RetrievalKind::kRibbon;
    bad.hash = static_cast<RetrievalHash>(2);
    EXPECT_NE(
        EncodeLayer(w.data(), {10, 10}, bad).status().ToString().find("unknown retrieval hash 2"),
        std::string::npos);
  }
  // A caller's mask is honoured, including keeping nothing.
  EncodeOptions masked = o;
  masked.storage = LayerStorage::kRetrieval;
  LayerInputs nothing;
  nothing.mask = std::vector<uint8_t>(100, 0);
  auto empty = EncodeLayer(w.data(), {10, 10}, masked, nothing);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->stats.kept, 0u);
}

// Deterministic and portable (std::normal_distribution is not): a 64-bit mix.
uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t Count(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

// Codes 0..k with about 1 in `one_in` kept, each kept code uniform in 1..k.
std::vector<uint16_t> RandomCodes(uint64_t n, uint32_t k, uint64_t one_in, uint64_t seed) {
  std::vector<uint16_t> codes(n, 0);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t r = SplitMix(seed * 0x100000000ull + i);
    if (r % one_in == 0) codes[i] = static_cast<uint16_t>(1 + (r >> 32) % k);
  }
  return codes;
}

// The false positives of an encoded layer whose input codes were `codes`.
std::vector<FalsePositive> FalsePositivesOf(const EncodedLayer& layer,
                                            const std::vector<uint16_t>& codes) {
  auto decoded = DecodeLayerCodes(layer, 1);
  EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
  std::vector<FalsePositive> fps;
  for (uint64_t i = 0; i < codes.size(); ++i) {
    if (codes[i] == 0 && (*decoded)[i] != 0) {
      fps.push_back(FalsePositive{i, layer.centroids()[(*decoded)[i] - 1]});
    }
  }
  return fps;
}

void ExpectSameLayer(const EncodedLayer& a, const EncodedLayer& b, const std::string& what) {
  EXPECT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(a.storage(), b.storage()) << what;
  EXPECT_EQ(a.section.bytes(), b.section.bytes()) << what;
  EXPECT_EQ(a.centroids(), b.centroids()) << what;
  const EncodeStats &x = a.stats, &y = b.stats;
  EXPECT_EQ(x.weights, y.weights) << what;
  EXPECT_EQ(x.kept, y.kept) << what;
  EXPECT_EQ(x.clusters, y.clusters) << what;
  EXPECT_EQ(x.value_bits, y.value_bits) << what;
  EXPECT_EQ(x.false_positives, y.false_positives) << what;
  EXPECT_EQ(x.false_positive_rate, y.false_positive_rate) << what;
  EXPECT_EQ(x.added_squared_error, y.added_squared_error) << what;
  EXPECT_EQ(x.added_activation_error, y.added_activation_error) << what;
  EXPECT_EQ(x.bits, y.bits) << what;
  EXPECT_EQ(x.seeds_tried, y.seeds_tried) << what;
  EXPECT_EQ(x.chosen_seed, y.chosen_seed) << what;
  EXPECT_EQ(x.first_seed_cost, y.first_seed_cost) << what;
  EXPECT_EQ(x.chosen_cost, y.chosen_cost) << what;
}

TEST(EncodeCodesTest, ReproducesTheCodesAndKeepsTheCentroidsAsGiven) {
  const std::vector<uint64_t> shape = {120, 250};
  const uint64_t n = Count(shape);
  // Unsorted, as a trainer's centroids drift; code c stands for centroids[c - 1].
  const std::vector<float> centroids = {0.3f, -0.1f, 0.05f, -0.4f, 0.2f, -0.25f, 0.1f, -0.05f};
  const std::vector<uint16_t> codes = RandomCodes(n, 8, 20, 1);
  struct Case {
    RetrievalKind kind;
    LayerStorage storage;
  };
  for (const Case& c : {Case{RetrievalKind::kRibbon, LayerStorage::kRetrieval},
                        Case{RetrievalKind::kBloomier, LayerStorage::kRetrieval},
                        Case{RetrievalKind::kRibbon, LayerStorage::kPackedCodes}}) {
    EncodeOptions o;
    o.kind = c.kind;
    o.storage = c.storage;
    o.seeds = 3;
    o.clusters = 2;  // ignored, as is keep_fraction
    o.keep_fraction = -1;
    LayerInputs with_mask;  // refused: the codes say which weights are kept
    with_mask.mask = {1, 0, 1};
    EXPECT_TRUE(
        EncodeCodes(codes.data(), shape, centroids, o, with_mask).status().IsInvalidArgument());
    auto layer = EncodeCodes(codes.data(), shape, centroids, o);
    ASSERT_TRUE(layer.ok()) << layer.status().ToString();
    const std::string what = RetrievalKindName(c.kind) + std::string(" ") +
                             (c.storage == LayerStorage::kPackedCodes ? "packed" : "table");
    EXPECT_EQ(layer->centroids(), centroids) << what;
    EXPECT_EQ(layer->shape(), shape);
    EXPECT_EQ(layer->stats.clusters, 8u);
    EXPECT_EQ(layer->stats.clustering_squared_error, 0.0);
    uint64_t kept = 0;
    for (uint16_t code : codes) kept += code != 0;
    EXPECT_EQ(layer->stats.kept, kept);
    auto decoded = DecodeLayerCodes(*layer);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    ASSERT_EQ(decoded->size(), n);
    std::vector<float> weights(n);
    ASSERT_TRUE(DecodeLayer(*layer, weights.data()).ok());
    uint64_t false_positives = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (codes[i] != 0) {
        ASSERT_EQ((*decoded)[i], codes[i]) << what << " index " << i;
        ASSERT_EQ(weights[i], centroids[codes[i] - 1]) << what << " index " << i;
      } else {
        false_positives += (*decoded)[i] != 0;
      }
    }
    EXPECT_EQ(false_positives, layer->stats.false_positives) << what;
    if (c.storage == LayerStorage::kPackedCodes) {
      EXPECT_EQ(layer->storage(), Storage::kPackedCodes);
      EXPECT_EQ(*decoded, codes);  // exact everywhere
      EXPECT_EQ(layer->stats.value_bits, 4);
    } else {
      EXPECT_EQ(layer->storage(), Storage::kRetrieval);
      EXPECT_EQ(layer->stats.value_bits, 8);  // smallest t with 8 / 2^t <= 0.06
      EXPECT_GT(false_positives, 0u);
    }
  }
}

TEST(EncodeCodesTest, RefusesBadCodesAndCentroidsWithClearMessages) {
  const std::vector<uint64_t> shape = {10, 10};
  std::vector<uint16_t> codes = RandomCodes(100, 3, 4, 2);
  const std::vector<float> centroids = {-0.5f, 0.25f, 1.0f};
  EncodeOptions o;
  ASSERT_TRUE(EncodeCodes(codes.data(), shape, centroids, o).ok());
  auto message = [&](const std::vector<uint16_t>& c, const std::vector<float>& k,
                     const std::vector<uint64_t>& s, const EncodeOptions& options) {
    auto r = EncodeCodes(c.data(), s, k, options);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalidArgument() || r.status().IsOutOfRange())
        << r.status().ToString();
    return r.status().ToString();
  };
  std::vector<uint16_t> bad = codes;
  bad[37] = 4;
  EXPECT_NE(message(bad, centroids, shape, o).find("code at index 37 is 4: above K = 3"),
            std::string::npos);
  EXPECT_NE(message(codes, {}, shape, o).find("K = 0 centroids: must be 1..65535"),
            std::string::npos);
  EXPECT_NE(message(codes, std::vector<float>(65536, 0.0f), shape, o).find("K = 65536"),
            std::string::npos);
  EXPECT_NE(message(codes, {-0.5f, std::numeric_limits<float>::quiet_NaN(), 1.0f}, shape, o)
                .find("centroid 1 (code 2) is NaN"),
            std::string::npos);
  EXPECT_NE(message(codes, {-0.5f, 0.25f, std::numeric_limits<float>::infinity()}, shape, o)
                .find("centroid 2 (code 3) is infinite"),
            std::string::npos);
  EXPECT_NE(message(codes, centroids, {}, o).find("at least one dimension"), std::string::npos);
  EXPECT_NE(message(codes, centroids, {10, 0}, o).find("zero dimension"), std::string::npos);
  EncodeOptions small_t = o;
  small_t.value_bits = 2;  // holds codes up to 3: fine for K = 3, not for K = 4
  EXPECT_TRUE(EncodeCodes(codes.data(), shape, centroids, small_t).ok());
  EXPECT_NE(message(codes, {1, 2, 3, 4}, shape, small_t).find("t = 2 holds codes up to 3, K = 4"),
            std::string::npos);
  EncodeOptions bad_seeds = o;
  bad_seeds.seeds = 0;
  EXPECT_NE(message(codes, centroids, shape, bad_seeds).find("seeds = 0"), std::string::npos);
  EncodeOptions bad_threads = o;
  bad_threads.threads = -1;
  EXPECT_NE(message(codes, centroids, shape, bad_threads).find("threads = -1"), std::string::npos);
  EXPECT_TRUE(EncodeCodes(nullptr, shape, centroids, o).status().IsInvalidArgument());
  // All pruned is a layer too (every weight 0 but the false positives).
  const std::vector<uint16_t> none(100, 0);
  EncodeOptions table = o;
  table.storage = LayerStorage::kRetrieval;
  auto empty = EncodeCodes(none.data(), shape, centroids, table);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->stats.kept, 0u);
}

// The refactor's promise: EncodeLayer is prune -> ShareWeights -> EncodeCodes, with the
// same bytes and statistics.
TEST(EncodeCodesTest, EncodeLayerIsShareWeightsThenEncodeCodesByteForByte) {
  const std::vector<float> w = GaussianLayer(80 * 150, 5);
  const std::vector<uint64_t> shape = {80, 150};
  struct Case {
    RetrievalKind kind;
    LayerStorage storage;
    int seeds;
    int threads;
    double keep;
    int value_bits;
  };
  for (const Case& c :
       {Case{RetrievalKind::kRibbon, LayerStorage::kAuto, 1, 1, 0.05, 0},
        Case{RetrievalKind::kRibbon, LayerStorage::kRetrieval, 6, 2, 0.05, 6},
        Case{RetrievalKind::kBloomier, LayerStorage::kAuto, 5, 3, 0.1, 0},
        Case{RetrievalKind::kRibbon, LayerStorage::kAuto, 2, 0, 0.6, 0},
        Case{RetrievalKind::kBloomier, LayerStorage::kPackedCodes, 3, 1, 0.05, 0}}) {
    EncodeOptions o;
    o.kind = c.kind;
    o.storage = c.storage;
    o.seeds = c.seeds;
    o.threads = c.threads;
    o.keep_fraction = c.keep;
    o.value_bits = c.value_bits;
    o.clusters = 7;
    o.base_seed = 11;
    auto layer = EncodeLayer(w.data(), shape, o);
    ASSERT_TRUE(layer.ok()) << layer.status().ToString();
    auto mask = PruneByMagnitude(w.data(), w.size(), c.keep);
    std::vector<float> kept;
    for (size_t i = 0; i < w.size(); ++i) {
      if ((*mask)[i]) kept.push_back(w[i]);
    }
    auto clustering = ShareWeights(kept.data(), kept.size(), 7);
    ASSERT_TRUE(clustering.ok());
    std::vector<uint16_t> codes(w.size(), 0);
    for (size_t i = 0, j = 0; i < w.size(); ++i) {
      if ((*mask)[i]) codes[i] = clustering->codes[j++];
    }
    auto from_codes = EncodeCodes(codes.data(), shape, clustering->centroids, o);
    ASSERT_TRUE(from_codes.ok()) << from_codes.status().ToString();
    const std::string what = std::string(RetrievalKindName(c.kind)) + " seeds " +
                             std::to_string(c.seeds) + " keep " + std::to_string(c.keep);
    ExpectSameLayer(*layer, *from_codes, what);
    EXPECT_EQ(layer->stats.clustering_squared_error, clustering->squared_error) << what;
    EXPECT_EQ(from_codes->stats.clustering_squared_error, 0.0) << what;
    if (c.keep > 0.5) {
      EXPECT_EQ(layer->storage(), Storage::kPackedCodes) << what;
    }
  }
}

// Known answers from the encoder before EncodeCodes existed (the same inputs must keep
// giving the same tables; update only with an intended change of the table bytes). The
// layer has 8 exact levels, so weight sharing is exact on every platform.
TEST(EncodeCodesTest, EncodeLayerKeepsItsKnownTables) {
  const float levels[8] = {-0.5f, -0.25f, -0.125f, -0.0625f, 0.0625f, 0.125f, 0.25f, 0.5f};
  const uint64_t n = 64 * 500;
  std::vector<float> w(n);
  EncodeOptions o;
  LayerInputs inputs;
  inputs.mask.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    w[i] = levels[SplitMix(i) % 8];
    inputs.mask[i] = SplitMix(i + (uint64_t{1} << 40)) % 20 == 0;
  }
  o.clusters = 8;
  o.seeds = 4;
  o.storage = LayerStorage::kRetrieval;
  struct Expected {
    RetrievalKind kind;
    std::optional<RetrievalHash> hash;  // unset: the default (mix32 for ribbon)
    uint64_t fnv;                       // of the section bytes
    size_t bytes;
    uint64_t seed;
    uint64_t false_positives;
    double cost;
  };
  for (const Expected& e : {Expected{RetrievalKind::kRibbon, std::nullopt, 0xa3d317c22ade5ed4ull,
                                     1848, 3, 893, 75.16015625},
                            Expected{RetrievalKind::kRibbon, RetrievalHash::kXxh3,
                                     0xa7e5983210c07655ull, 1848, 1, 917, 75.1953125},
                            Expected{RetrievalKind::kBloomier, std::nullopt, 0xecbba959404415ecull,
                                     2095, 3, 914, 70.94140625}}) {
    for (int threads : {1, 2, 5}) {
      o.kind = e.kind;
      o.hash = e.hash;
      o.threads = threads;
      auto layer = EncodeLayer(w.data(), {64, 500}, o, inputs);
      ASSERT_TRUE(layer.ok()) << layer.status().ToString();
      ASSERT_EQ(layer->storage(), Storage::kRetrieval);
      EXPECT_EQ(layer->stats.kept, 1624u);
      EXPECT_EQ(layer->stats.value_bits, 8);
      EXPECT_EQ(layer->section.bytes().size(), e.bytes) << RetrievalKindName(e.kind);
      EXPECT_EQ(Fnv1a(layer->section.bytes()), e.fnv) << RetrievalKindName(e.kind);
      EXPECT_EQ(layer->stats.chosen_seed, e.seed);
      EXPECT_EQ(layer->stats.false_positives, e.false_positives);
      EXPECT_EQ(layer->stats.chosen_cost, e.cost);
    }
  }
}

TEST(EncodeCodesTest, SeedSearchIsTheSameWhateverTheThreads) {
  const std::vector<uint64_t> shape = {60, 300};
  const std::vector<uint16_t> codes = RandomCodes(Count(shape), 5, 15, 3);
  const std::vector<float> centroids = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f};
  EncodeOptions o;
  o.seeds = 9;
  o.threads = 1;
  auto one = EncodeCodes(codes.data(), shape, centroids, o);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  for (int threads : {2, 3, 4, 8, 16}) {
    o.threads = threads;
    auto many = EncodeCodes(codes.data(), shape, centroids, o);
    ASSERT_TRUE(many.ok()) << many.status().ToString();
    ExpectSameLayer(*one, *many, "threads " + std::to_string(threads));
  }
  // A caller's cost is called once per seed, never twice at once, and ties go to the
  // earliest seed.
  std::atomic<int> calls{0}, inside{0};
  std::atomic<bool> overlapped{false};
  o.threads = 4;
  o.cost = [&](const std::vector<FalsePositive>&) {
    if (inside.fetch_add(1) != 0) overlapped = true;
    calls.fetch_add(1);
    inside.fetch_sub(1);
    return 1.0;
  };
  auto tied = EncodeCodes(codes.data(), shape, centroids, o);
  ASSERT_TRUE(tied.ok());
  EXPECT_EQ(calls.load(), 9);
  EXPECT_FALSE(overlapped.load());
  EXPECT_EQ(tied->stats.chosen_seed, 0u);
  // A NaN cost ranks after every other: here, tables with an odd number of false
  // positives cost NaN.
  std::vector<size_t> sizes;  // the calls are serialized
  o.cost = [&](const std::vector<FalsePositive>& fps) {
    sizes.push_back(fps.size());
    return fps.size() % 2 ? std::numeric_limits<double>::quiet_NaN()
                          : static_cast<double>(fps.size());
  };
  auto with_nan = EncodeCodes(codes.data(), shape, centroids, o);
  ASSERT_TRUE(with_nan.ok());
  ASSERT_EQ(sizes.size(), 9u);
  size_t least_even = 0;
  for (size_t size : sizes) {
    if (size % 2 == 0 && (least_even == 0 || size < least_even)) least_even = size;
  }
  ASSERT_NE(least_even, 0u) << "every table had an odd count; pick other codes";
  ASSERT_TRUE(std::any_of(sizes.begin(), sizes.end(), [](size_t x) { return x % 2 == 1; }))
      << "no NaN cost was tried; pick other codes";
  EXPECT_EQ(with_nan->stats.chosen_cost, static_cast<double>(least_even));
  EXPECT_EQ(with_nan->stats.false_positives, least_even);
  // An exception from the caller's cost reaches the caller, from any worker thread.
  o.cost = [](const std::vector<FalsePositive>&) -> double {
    throw std::runtime_error("cost failed");
  };
  EXPECT_THROW((void)EncodeCodes(codes.data(), shape, centroids, o), std::runtime_error);
}

TEST(EncodeCodesTest, DecodeLayerCodesMatchesDecodeLayerEverywhere) {
  const std::vector<float> w = GaussianLayer(90 * 140, 6);
  const std::vector<uint64_t> shape = {90, 140};
  std::vector<EncodedLayer> layers;
  for (RetrievalKind kind : {RetrievalKind::kRibbon, RetrievalKind::kBloomier}) {
    for (LayerStorage storage : {LayerStorage::kRetrieval, LayerStorage::kPackedCodes}) {
      EncodeOptions o;
      o.kind = kind;
      o.storage = storage;
      o.clusters = 5;
      o.value_bits = 6;  // the table returns codes 6..63 too: those decode to 0
      auto layer = EncodeLayer(w.data(), shape, o);
      ASSERT_TRUE(layer.ok()) << layer.status().ToString();
      layers.push_back(std::move(layer).value());
    }
  }
  for (const EncodedLayer& layer : layers) {
    const uint64_t n = Count(layer.shape());
    std::vector<float> weights(n);
    ASSERT_TRUE(DecodeLayer(layer, weights.data()).ok());
    for (int threads : {1, 3}) {
      auto codes = DecodeLayerCodes(layer, threads);
      ASSERT_TRUE(codes.ok()) << codes.status().ToString();
      ASSERT_EQ(codes->size(), n);
      for (uint64_t i = 0; i < n; ++i) {
        const uint16_t c = (*codes)[i];
        ASSERT_LE(c, layer.centroids().size());
        ASSERT_EQ(weights[i], c ? layer.centroids()[c - 1] : 0.0f) << i;
      }
    }
  }
  // Packed codes above K (only damaged bytes hold them: EncodedSection::PackedCodes
  // refuses them) read as 0. 2-bit codes 1, 0, 2, 1 with K = 1.
  TensorInfo info;
  info.shape = {2, 2};
  info.storage = Storage::kPackedCodes;
  info.code_bits = 2;
  info.centroids = {1.0f};
  auto damaged = EncodedSection::FromBytes(info, {0x1 | 0x0 << 2 | 0x2 << 4 | 0x1 << 6});
  ASSERT_TRUE(damaged.ok()) << damaged.status().ToString();
  EXPECT_TRUE(damaged->view().CheckValues().IsCorruption());
  EncodedLayer broken{*damaged, EncodeStats{}};
  auto read = DecodeLayerCodes(broken);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, (std::vector<uint16_t>{1, 0, 0, 1}));  // 2 > K reads 0
}

TEST(ActivationCostTest, TheNamedCostIsWhatSeedSearchMinimises) {
  const std::vector<uint64_t> shape = {100, 200};
  const std::vector<float> w = GaussianLayer(100 * 200, 7);
  // Strongly non-uniform: every tenth input column carries nearly all the energy.
  std::vector<float> energy(200);
  for (size_t c = 0; c < energy.size(); ++c) {
    energy[c] = c % 10 == 0 ? 100.0f : 0.01f * static_cast<float>(1 + c % 7);
  }
  EncodeOptions o;
  o.keep_fraction = 0.05;
  o.clusters = 8;
  o.value_bits = 6;
  o.storage = LayerStorage::kRetrieval;
  o.cost_kind = FalsePositiveCostKind::kActivation;
  LayerInputs calibrated;
  calibrated.column_energy = energy;
  auto mask = PruneByMagnitude(w.data(), w.size(), 0.05);
  auto input_codes = [&](const EncodedLayer& layer) {
    // The kept weights' codes are the table's; 0 elsewhere.
    auto decoded = DecodeLayerCodes(layer, 1);
    std::vector<uint16_t> codes(w.size(), 0);
    for (size_t i = 0; i < w.size(); ++i) codes[i] = (*mask)[i] ? (*decoded)[i] : 0;
    return codes;
  };
  auto activation_error = [&](const EncodedLayer& layer) {
    return ActivationWeightedError(FalsePositivesOf(layer, input_codes(layer)), energy, 200);
  };

  o.seeds = 1;
  auto first = EncodeLayer(w.data(), shape, o, calibrated);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(activation_error(*first), first->stats.first_seed_cost);
  EXPECT_EQ(first->stats.chosen_cost, first->stats.first_seed_cost);
  EXPECT_EQ(first->stats.added_activation_error, first->stats.chosen_cost);
  o.seeds = 16;
  auto sixteen = EncodeLayer(w.data(), shape, o, calibrated);
  ASSERT_TRUE(sixteen.ok());
  EXPECT_EQ(sixteen->stats.first_seed_cost, first->stats.first_seed_cost);
  EXPECT_EQ(activation_error(*sixteen), sixteen->stats.chosen_cost);
  EXPECT_LE(sixteen->stats.chosen_cost, first->stats.first_seed_cost);
  o.seeds = 64;
  auto many = EncodeLayer(w.data(), shape, o, calibrated);
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(activation_error(*many), many->stats.chosen_cost);
  EXPECT_LT(many->stats.chosen_cost, first->stats.first_seed_cost);
  EXPECT_LE(many->stats.chosen_cost, sixteen->stats.chosen_cost);

  // The squared-error choice among the same 64 tables does no better by this measure;
  // its stats report both costs.
  EncodeOptions squared = o;
  squared.cost_kind = FalsePositiveCostKind::kSquaredError;
  auto by_squared = EncodeLayer(w.data(), shape, squared, calibrated);
  ASSERT_TRUE(by_squared.ok());
  EXPECT_EQ(by_squared->stats.chosen_cost, by_squared->stats.added_squared_error);
  EXPECT_EQ(by_squared->stats.added_activation_error, activation_error(*by_squared));
  EXPECT_LE(many->stats.chosen_cost, by_squared->stats.added_activation_error);
  EXPECT_GE(many->stats.added_squared_error, by_squared->stats.added_squared_error);
  // Without column_energy there is no activation error to report.
  auto no_energy = EncodeLayer(w.data(), shape, squared);
  ASSERT_TRUE(no_energy.ok());
  EXPECT_EQ(no_energy->stats.added_activation_error, 0.0);
  EXPECT_EQ(no_energy->stats.chosen_seed, by_squared->stats.chosen_seed);
  EXPECT_EQ(no_energy->section.bytes(), by_squared->section.bytes());

  // A caller's cost wins over cost_kind.
  EncodeOptions custom = o;
  custom.seeds = 4;
  custom.cost = [](const std::vector<FalsePositive>& fps) {
    return static_cast<double>(fps.size());
  };
  auto counted = EncodeLayer(w.data(), shape, custom, calibrated);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(counted->stats.chosen_cost, static_cast<double>(counted->stats.false_positives));
  EXPECT_EQ(counted->stats.added_activation_error, activation_error(*counted));
}

TEST(ActivationCostTest, ActivationWeightedErrorOnItsOwn) {
  const std::vector<float> energy = {1.0f, 0.0f, 4.0f};
  const std::vector<FalsePositive> fps = {{0, 2.0f}, {4, -3.0f}, {5, 0.5f}, {7, 1.0f}};
  // columns 0, 1, 2, 1: 4 * 1 + 9 * 0 + 0.25 * 4 + 1 * 0.
  EXPECT_EQ(ActivationWeightedError(fps, energy, 3), 5.0);
  EXPECT_EQ(ActivationWeightedError({}, energy, 3), 0.0);
  EXPECT_TRUE(std::isnan(ActivationWeightedError(fps, energy, 4)));
  EXPECT_TRUE(std::isnan(ActivationWeightedError(fps, {}, 0)));
}

TEST(ActivationCostTest, RefusesBadColumnEnergy) {
  const std::vector<float> w = GaussianLayer(4 * 3 * 3 * 3, 8);
  const std::vector<uint64_t> conv = {4, 3, 3, 3};  // 27 im2col rows per output channel
  EncodeOptions o;
  o.keep_fraction = 0.25;
  o.clusters = 3;
  o.cost_kind = FalsePositiveCostKind::kActivation;
  LayerInputs in;
  auto message = [&](const EncodeOptions& options) {
    auto r = EncodeLayer(w.data(), conv, options, in);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    const std::vector<uint16_t> codes(w.size(), 1);
    auto c = EncodeCodes(codes.data(), conv, {0.5f}, options, in);
    EXPECT_EQ(c.status().ToString(), r.status().ToString());
    return r.status().ToString();
  };
  EXPECT_NE(message(o).find("needs column_energy"), std::string::npos);
  in.column_energy = std::vector<float>(4, 1.0f);
  EXPECT_NE(message(o).find("column_energy has 4 entries: the layer has 27 input columns"),
            std::string::npos);
  in.column_energy = std::vector<float>(27, 1.0f);
  EXPECT_TRUE(EncodeLayer(w.data(), conv, o, in).ok());
  in.column_energy[5] = -0.5f;
  EXPECT_NE(message(o).find("column_energy[5] is negative"), std::string::npos);
  in.column_energy[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(message(o).find("column_energy[5] is NaN"), std::string::npos);
  in.column_energy[5] = std::numeric_limits<float>::infinity();
  EXPECT_NE(message(o).find("column_energy[5] is infinite"), std::string::npos);
  // Given with the squared-error cost, it is still checked.
  o.cost_kind = FalsePositiveCostKind::kSquaredError;
  EXPECT_NE(message(o).find("column_energy[5] is infinite"), std::string::npos);
  in.column_energy.clear();
  EXPECT_TRUE(EncodeLayer(w.data(), conv, o, in).ok());
  o.cost_kind = static_cast<FalsePositiveCostKind>(7);
  EXPECT_NE(message(o).find("cost_kind = 7"), std::string::npos);
}

// One name table per enum: every value's name parses back to it, older spellings still
// parse, and anything else is refused with the names listed.
TEST(NameTablesTest, NamesRoundTripAndOlderSpellingsParse) {
  for (DType d : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt8}) {
    EXPECT_EQ(*ParseDType(DTypeName(d)), d);
  }
  for (Codec c : {Codec::kNone, Codec::kZstd}) EXPECT_EQ(*ParseCodec(CodecName(c)), c);
  for (RetrievalKind k : {RetrievalKind::kRibbon, RetrievalKind::kBloomier}) {
    EXPECT_EQ(*ParseRetrievalKind(RetrievalKindName(k)), k);
  }
  for (LayerStorage s :
       {LayerStorage::kAuto, LayerStorage::kRetrieval, LayerStorage::kPackedCodes}) {
    EXPECT_EQ(*ParseLayerStorage(LayerStorageName(s)), s);
  }
  for (FalsePositiveCostKind k :
       {FalsePositiveCostKind::kSquaredError, FalsePositiveCostKind::kActivation}) {
    EXPECT_EQ(*ParseFalsePositiveCostKind(FalsePositiveCostKindName(k)), k);
  }
  for (ClusterMethod m : {ClusterMethod::kOptimal, ClusterMethod::kLinearKMeans}) {
    EXPECT_EQ(*ParseClusterMethod(ClusterMethodName(m)), m);
  }
  // The file's and the encoder's name for packed codes agree.
  EXPECT_STREQ(LayerStorageName(LayerStorage::kPackedCodes), StorageName(Storage::kPackedCodes));
  EXPECT_EQ(*ParseLayerStorage("packed"), LayerStorage::kPackedCodes);
  EXPECT_EQ(*ParseFalsePositiveCostKind("squared-error"), FalsePositiveCostKind::kSquaredError);
  const Status refused = ParseLayerStorage("packd").status();
  EXPECT_TRUE(refused.IsInvalidArgument());
  EXPECT_NE(refused.ToString().find("'auto', 'retrieval', 'packed-codes'"), std::string::npos)
      << refused.ToString();  // older spellings are not offered
  EXPECT_EQ(refused.ToString().find("'packed'"), std::string::npos);
  EXPECT_TRUE(ParseDType("float64").status().IsInvalidArgument());
}

// The data flow simplify -> encode: EncodeLayer is Simplify followed by EncodeCodes, to
// the byte.
TEST(EncoderTest, EncodeLayerIsSimplifyThenEncodeCodes) {
  const std::vector<uint64_t> shape = {64, 300};
  const std::vector<float> w = GaussianLayer(64 * 300, 21);
  for (RetrievalKind kind : {RetrievalKind::kRibbon, RetrievalKind::kBloomier}) {
    EncodeOptions options;
    options.keep_fraction = 0.06;
    options.clusters = 7;
    options.kind = kind;
    options.seeds = 3;
    Result<EncodedLayer> fused = EncodeLayer(w.data(), shape, options);
    ASSERT_TRUE(fused.ok()) << fused.status().ToString();
    SimplifyOptions simplify;
    simplify.keep_fraction = 0.06;
    simplify.clusters = 7;
    Result<Codebook> book = Simplify(w.data(), w.size(), simplify);
    ASSERT_TRUE(book.ok());
    Result<EncodedLayer> staged = EncodeCodes(book->codes.data(), shape, book->centroids, options);
    ASSERT_TRUE(staged.ok()) << staged.status().ToString();
    ASSERT_TRUE(fused->storage() == Storage::kRetrieval);
    EXPECT_EQ(fused->section.bytes(), staged->section.bytes());
    EXPECT_EQ(fused->centroids(), staged->centroids());
    EXPECT_EQ(fused->stats.false_positives, staged->stats.false_positives);
    EXPECT_EQ(fused->stats.clustering_squared_error, book->squared_error);
  }
}

}  // namespace
}  // namespace weightless
