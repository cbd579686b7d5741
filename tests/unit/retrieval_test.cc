// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Properties of retrieval tables, run over both encodings: members read back exactly,
// non-members read uniform values, builds are deterministic, damaged sections are
// rejected, and the hashing matches the test vectors of spec/RETRIEVAL.md.

#include "weightless/retrieval.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "retrieval/decode_kernels.h"
#include "retrieval/hashing.h"

namespace weightless {
namespace {

struct Layer {
  uint64_t universe = 0;
  std::vector<uint64_t> keys;
  std::vector<uint16_t> values;
};

// A random sparse layer: each index kept with probability `density`, values uniform
// in 1..max_value.
Layer RandomLayer(uint64_t universe, double density, uint32_t max_value, uint64_t seed) {
  Layer layer;
  layer.universe = universe;
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution keep(density);
  for (uint64_t i = 0; i < universe; ++i) {
    if (keep(rng)) {
      layer.keys.push_back(i);
      layer.values.push_back(static_cast<uint16_t>(1 + rng() % max_value));
    }
  }
  return layer;
}

Result<RetrievalTable> BuildLayer(const Layer& layer, RetrievalOptions options) {
  return RetrievalTable::Build(layer.universe, layer.keys.data(), layer.values.data(),
                               layer.keys.size(), options);
}

std::string Hex(const std::vector<uint8_t>& bytes) {
  std::string out;
  char buf[3];
  for (uint8_t b : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

// An encoding and its key hashing; converts to its kind, which most tests use.
struct Encoding {
  RetrievalKind kind;
  RetrievalHash hash;
  operator RetrievalKind() const { return kind; }  // NOLINT: implicit on purpose
};

class RetrievalKindTest : public ::testing::TestWithParam<Encoding> {};

INSTANTIATE_TEST_SUITE_P(Encodings, RetrievalKindTest,
                         ::testing::Values(Encoding{RetrievalKind::kRibbon, RetrievalHash::kXxh3},
                                           Encoding{RetrievalKind::kRibbon, RetrievalHash::kMix32},
                                           Encoding{RetrievalKind::kBloomier,
                                                    RetrievalHash::kXxh3}),
                         [](const ::testing::TestParamInfo<Encoding>& param_info) {
                           return std::string(RetrievalKindName(param_info.param.kind)) + "_" +
                                  RetrievalHashName(param_info.param.hash);
                         });

// Decodes the whole universe (threads 1 and 3, plus Lookup on every index for small
// tables) and checks every member.
void ExpectMembersExact(const Layer& layer, const RetrievalTable& table, const char* what) {
  const RetrievalView& view = table.view();
  std::vector<uint16_t> codes(layer.universe), codes3(layer.universe);
  ASSERT_TRUE(view.DecodeCodes(0, layer.universe, codes.data(), 1).ok());
  ASSERT_TRUE(view.DecodeCodes(0, layer.universe, codes3.data(), 3).ok());
  ASSERT_EQ(codes, codes3) << what;
  for (size_t i = 0; i < layer.keys.size(); ++i) {
    ASSERT_EQ(codes[layer.keys[i]], layer.values[i]) << what << " key " << layer.keys[i];
  }
  if (layer.universe <= 20000) {
    for (uint64_t i = 0; i < layer.universe; ++i) {
      ASSERT_EQ(view.Lookup(i), codes[i]) << what << " index " << i;
    }
  }
  const uint32_t limit = 1u << view.value_bits();
  for (uint16_t c : codes) ASSERT_LT(c, limit);
}

TEST_P(RetrievalKindTest, EveryMemberReturnsItsValueOverRandomLayers) {
  std::mt19937_64 rng(12345);
  for (int trial = 0; trial < 40; ++trial) {
    const uint64_t universe = 1 + rng() % 60000;
    const double density = std::vector<double>{0.001, 0.02, 0.05, 0.1, 0.5, 0.9}[rng() % 6];
    const int t = 1 + static_cast<int>(rng() % 16);
    const uint32_t max_value = (1u << t) - 1;
    Layer layer = RandomLayer(universe, density, max_value, rng());
    RetrievalOptions options;
    options.kind = GetParam();
    options.hash = GetParam().hash;
    options.value_bits = t;
    options.seed = rng();
    options.keys_per_shard = std::vector<uint32_t>{0, 100, 1000, 5000}[rng() % 4];
    Result<RetrievalTable> table = BuildLayer(layer, options);
    const std::string what = "trial " + std::to_string(trial) + " N=" + std::to_string(universe) +
                             " keys=" + std::to_string(layer.keys.size()) +
                             " t=" + std::to_string(t);
    ASSERT_TRUE(table.ok()) << what << ": " << table.status().ToString();
    ExpectMembersExact(layer, *table, what.c_str());
  }
}

TEST_P(RetrievalKindTest, EdgeCases) {
  struct Case {
    const char* name;
    uint64_t universe;
    double density;
    int t;
  };
  const Case cases[] = {
      {"empty universe", 0, 0.0, 8},        {"no key", 5000, 0.0, 8},
      {"one index, kept", 1, 1.0, 4},       {"one key", 100000, 0.00001, 8},
      {"every index a key", 20000, 1.0, 8}, {"t = 1", 30000, 0.05, 1},
      {"t = 16", 30000, 0.05, 16},          {"every index, t = 16", 3000, 1.0, 16},
  };
  for (const Case& c : cases) {
    Layer layer = RandomLayer(c.universe, c.density, (1u << c.t) - 1, 7);
    if (std::string(c.name) == "one key") {
      layer.keys = {77777};
      layer.values = {200};
    }
    RetrievalOptions options;
    options.kind = GetParam();
    options.hash = GetParam().hash;
    options.value_bits = c.t;
    Result<RetrievalTable> table = BuildLayer(layer, options);
    ASSERT_TRUE(table.ok()) << c.name << ": " << table.status().ToString();
    ExpectMembersExact(layer, *table, c.name);
    EXPECT_EQ(table->stats().keys, layer.keys.size()) << c.name;
  }
}

// For non-members, the fraction decoding to a code in 1..K must match K / 2^t within
// 5 standard deviations, and every one of the 2^t values must be equally likely.
TEST_P(RetrievalKindTest, NonMemberValuesAreUniform) {
  struct Case {
    int t;
    uint32_t k;
  };
  for (const Case c : {Case{4, 3}, Case{6, 15}, Case{8, 15}, Case{10, 31}}) {
    Layer layer = RandomLayer(400000, 0.04, c.k, 99 + c.t);
    RetrievalOptions options;
    options.kind = GetParam();
    options.hash = GetParam().hash;
    options.value_bits = c.t;
    options.seed = 5;
    Result<RetrievalTable> table = BuildLayer(layer, options);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    std::vector<uint16_t> codes(layer.universe);
    ASSERT_TRUE(table->view().DecodeCodes(0, layer.universe, codes.data(), 2).ok());
    std::vector<uint64_t> histogram(1u << c.t, 0);
    uint64_t non_members = 0, false_positives = 0;
    size_t j = 0;
    for (uint64_t i = 0; i < layer.universe; ++i) {
      if (j < layer.keys.size() && layer.keys[j] == i) {
        ++j;
        continue;
      }
      ++non_members;
      ++histogram[codes[i]];
      if (codes[i] >= 1 && codes[i] <= c.k) ++false_positives;
    }
    const double p = static_cast<double>(c.k) / static_cast<double>(1u << c.t);
    const double expected = p * static_cast<double>(non_members);
    const double sigma = std::sqrt(non_members * p * (1 - p));
    EXPECT_LE(std::abs(static_cast<double>(false_positives) - expected), 5 * sigma)
        << "t=" << c.t << " K=" << c.k << " false positives " << false_positives << " expected "
        << expected;
    // Chi-square over all 2^t values, against a 5-sigma bound of its distribution
    // (mean d, variance 2d for d = 2^t - 1 degrees of freedom).
    const double cell_expected = static_cast<double>(non_members) / histogram.size();
    double chi2 = 0;
    for (uint64_t count : histogram) {
      const double d = static_cast<double>(count) - cell_expected;
      chi2 += d * d / cell_expected;
    }
    const double dof = static_cast<double>(histogram.size() - 1);
    EXPECT_LE(chi2, dof + 5 * std::sqrt(2 * dof)) << "t=" << c.t;
  }
}

TEST_P(RetrievalKindTest, BuildsAreDeterministicWhateverTheThreads) {
  Layer layer = RandomLayer(200000, 0.05, 15, 3);
  RetrievalOptions options;
  options.kind = GetParam();
  options.hash = GetParam().hash;
  options.value_bits = 7;
  options.seed = 0xABCDEF;
  options.threads = 1;
  Result<RetrievalTable> a = BuildLayer(layer, options);
  options.threads = 3;
  Result<RetrievalTable> b = BuildLayer(layer, options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->bytes(), b->bytes());
  options.seed = 0xABCDF0;
  Result<RetrievalTable> c = BuildLayer(layer, options);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->bytes(), c->bytes()) << "a different seed must give a different table";
}

// The kernels chosen for this CPU (vectorised on x86-64 and aarch64) must agree with the portable
// ones for every t, both outputs, several K, and ranges that start and end anywhere
// (batches have scalar heads and tails).
TEST_P(RetrievalKindTest, SelectedKernelsAgreeWithGenericOnes) {
  std::mt19937_64 rng(31);
  for (int t = 1; t <= 16; ++t) {
    const uint32_t max_value = (1u << t) - 1;
    Layer layer = RandomLayer(20000 + 997 * t, 0.05, max_value, 11 + t);
    RetrievalOptions options;
    options.kind = GetParam();
    options.hash = GetParam().hash;
    options.value_bits = t;
    options.keys_per_shard = t % 2 ? 300 : 0;
    Result<RetrievalTable> table = BuildLayer(layer, options);
    ASSERT_TRUE(table.ok());
    const RetrievalView& view = table->view();
    const uint64_t n = layer.universe;
    const retrieval::DecodeKernels& generic = retrieval::GenericDecodeKernels();
    const retrieval::DecodeKernels& selected = retrieval::SelectedDecodeKernels();
    std::vector<float> centroids(std::min<uint32_t>(max_value, 300));
    for (size_t c = 0; c < centroids.size(); ++c) centroids[c] = 0.01f * static_cast<float>(c) - 1;
    const uint8_t* dir = table->bytes().data() + 40;
    const uint8_t* cells = dir + 8 * (view.shard_count() + 1);
    auto le32 = [](const uint8_t* p) {
      return static_cast<uint32_t>(p[0] | p[1] << 8 | p[2] << 16) | static_cast<uint32_t>(p[3])
                                                                        << 24;
    };
    for (int trial = 0; trial < 20; ++trial) {
      const uint64_t s = rng() % view.shard_count();
      const uint64_t shard_lo = s * view.shard_span();
      const uint64_t shard_hi = std::min(n, shard_lo + view.shard_span());
      uint64_t lo = shard_lo + rng() % (shard_hi - shard_lo);
      uint64_t hi = lo + rng() % (shard_hi - lo + 1);
      if (trial == 0) {
        lo = shard_lo;
        hi = shard_hi;
      }
      const uint32_t begin = le32(dir + 8 * s), attempt = le32(dir + 8 * s + 4);
      const uint32_t end = le32(dir + 8 * s + 8);
      const retrieval::ShardGeometry g{cells, begin, end - begin,
                                       retrieval::ShardSeed(view.seed(), s, attempt), view.hash()};
      std::vector<uint16_t> a(hi - lo + 1, 7), b(hi - lo + 1, 7);
      generic.codes(view.kind(), t, g, lo, hi, a.data());
      selected.codes(view.kind(), t, g, lo, hi, b.data());
      ASSERT_EQ(a, b) << "t=" << t << " codes [" << lo << ", " << hi << ")";
      ASSERT_EQ(a.back(), 7) << "the generic kernel wrote past " << hi;
      // Every k the selected kernels treat apart: at most 8, 16 (in registers) or more
      // (gathered) centroids.
      for (uint32_t k : {1u, 2u, 7u, 8u, 9u, 15u, 16u, 17u, 40u}) {
        if (k > centroids.size()) continue;
        std::vector<float> fa(hi - lo + 1, 9), fb(hi - lo + 1, 9);
        generic.floats(view.kind(), t, g, lo, hi, centroids.data(), k, fa.data());
        selected.floats(view.kind(), t, g, lo, hi, centroids.data(), k, fb.data());
        ASSERT_EQ(fa, fb) << "t=" << t << " k=" << k << " floats [" << lo << ", " << hi << ")";
        ASSERT_EQ(fa.back(), 9.0f) << "the generic kernel wrote past " << hi;
      }
    }
  }
}

// The same comparison, exhaustive in where a range starts and ends: every start within
// 40 keys of a shard's two ends (every residue modulo the batch sizes, 8 and 16, so
// every split into a scalar head, whole batches and a scalar tail), every length up to
// 40 and a few longer ones, into output buffers at offsets of 0..7 elements, for
// every t, two shards each (their cells start at different columns and bits). Nothing
// outside [lo, hi) may be written.
TEST_P(RetrievalKindTest, SelectedKernelsAgreeWithGenericOnesAtEveryStartAndLength) {
  const retrieval::DecodeKernels& generic = retrieval::GenericDecodeKernels();
  const retrieval::DecodeKernels& selected = retrieval::SelectedDecodeKernels();
#if defined(__aarch64__)
  ASSERT_STREQ(selected.name, "neon") << "aarch64 must select the NEON kernels";
#endif
  ::testing::Test::RecordProperty("selected_kernels", selected.name);
  std::mt19937_64 rng(47);
  for (int t = 1; t <= 16; ++t) {
    const uint32_t max_value = (1u << t) - 1;
    Layer layer = RandomLayer(3000, 0.2, max_value, 100 + t);
    RetrievalOptions options;
    options.kind = GetParam();
    options.hash = GetParam().hash;
    options.value_bits = t;
    options.shard_span = 700;
    Result<RetrievalTable> table = BuildLayer(layer, options);
    ASSERT_TRUE(table.ok());
    const RetrievalView& view = table->view();
    ASSERT_GE(view.shard_count(), 3u);
    const uint8_t* dir = table->bytes().data() + 40;
    const uint8_t* cells = dir + 8 * (view.shard_count() + 1);
    auto le32 = [](const uint8_t* p) {
      return static_cast<uint32_t>(p[0] | p[1] << 8 | p[2] << 16) | static_cast<uint32_t>(p[3])
                                                                        << 24;
    };
    std::vector<float> centroids(std::min<uint32_t>(max_value, 40));
    for (size_t c = 0; c < centroids.size(); ++c) centroids[c] = 0.25f * static_cast<float>(c) + 1;
    const uint32_t k = static_cast<uint32_t>(centroids.size());
    for (uint64_t s : {uint64_t{0}, uint64_t{1} + rng() % (view.shard_count() - 2)}) {
      const uint64_t shard_lo = s * view.shard_span();
      const uint64_t shard_hi = std::min(layer.universe, shard_lo + view.shard_span());
      const uint32_t begin = le32(dir + 8 * s), attempt = le32(dir + 8 * s + 4);
      const uint32_t end = le32(dir + 8 * s + 8);
      const retrieval::ShardGeometry g{cells, begin, end - begin,
                                       retrieval::ShardSeed(view.seed(), s, attempt), view.hash()};
      std::vector<uint64_t> starts;
      for (uint64_t d = 0; d < 40; ++d) {
        starts.push_back(shard_lo + d);
        starts.push_back(shard_hi - 1 - d);
      }
      for (size_t i = 0; i < starts.size(); ++i) {
        const uint64_t lo = starts[i];
        std::vector<uint64_t> lengths;
        for (uint64_t len = 0; len <= 40; ++len) lengths.push_back(len);
        for (uint64_t len : {uint64_t{63}, uint64_t{100}, uint64_t{257}}) lengths.push_back(len);
        const size_t offset = i % 8;  // in elements: codes 0..14 bytes, floats 0..28
        for (uint64_t len : lengths) {
          const uint64_t hi = std::min(shard_hi, lo + len);
          const size_t n = static_cast<size_t>(hi - lo);
          std::vector<uint16_t> a(n + 16, 7), b(n + 16, 7);
          generic.codes(view.kind(), t, g, lo, hi, a.data() + offset);
          selected.codes(view.kind(), t, g, lo, hi, b.data() + offset);
          ASSERT_EQ(a, b) << "t=" << t << " shard " << s << " codes [" << lo << ", " << hi
                          << ") at offset " << offset;
          for (size_t j = 0; j < a.size(); ++j) {
            if (j < offset || j >= offset + n) {
              ASSERT_EQ(a[j], 7) << "written outside, t=" << t;
            }
          }
          for (size_t j = 0; j < n; ++j) {
            ASSERT_EQ(a[offset + j], view.Lookup(lo + j)) << "t=" << t << " index " << lo + j;
          }
          std::vector<float> fa(n + 16, 9), fb(n + 16, 9);
          generic.floats(view.kind(), t, g, lo, hi, centroids.data(), k, fa.data() + offset);
          selected.floats(view.kind(), t, g, lo, hi, centroids.data(), k, fb.data() + offset);
          ASSERT_EQ(fa, fb) << "t=" << t << " shard " << s << " floats [" << lo << ", " << hi
                            << ") at offset " << offset;
          for (size_t j = 0; j < n; ++j) {
            const uint32_t code = a[offset + j];
            ASSERT_EQ(fa[offset + j], code >= 1 && code <= k ? centroids[code - 1] : 0.0f);
          }
        }
      }
    }
  }
}

TEST_P(RetrievalKindTest, DecodeFloatsMapsCodesThroughCentroids) {
  Layer layer = RandomLayer(70000, 0.05, 5, 21);
  RetrievalOptions options;
  options.kind = GetParam();
  options.hash = GetParam().hash;
  options.value_bits = 4;
  Result<RetrievalTable> table = BuildLayer(layer, options);
  ASSERT_TRUE(table.ok());
  const RetrievalView& view = table->view();
  const float centroids[5] = {-0.5f, -0.1f, 0.05f, 0.2f, 0.7f};
  std::vector<uint16_t> codes(layer.universe);
  std::vector<float> weights(layer.universe), weights2(layer.universe);
  ASSERT_TRUE(view.DecodeCodes(0, layer.universe, codes.data()).ok());
  ASSERT_TRUE(view.DecodeFloats(0, layer.universe, centroids, 5, weights.data(), 1).ok());
  ASSERT_TRUE(view.DecodeFloats(0, layer.universe, centroids, 5, weights2.data(), 2).ok());
  EXPECT_EQ(weights, weights2);
  for (uint64_t i = 0; i < layer.universe; ++i) {
    const float expected = (codes[i] >= 1 && codes[i] <= 5) ? centroids[codes[i] - 1] : 0.0f;
    ASSERT_EQ(weights[i], expected) << i;
  }
  // Sub-ranges decode the same values as the whole.
  for (uint64_t begin : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, uint64_t{69999}}) {
    for (uint64_t len : {uint64_t{0}, uint64_t{1}, uint64_t{100}, uint64_t{30000}}) {
      const uint64_t end = std::min<uint64_t>(layer.universe, begin + len);
      std::vector<float> part(end - begin);
      ASSERT_TRUE(view.DecodeFloats(begin, end, centroids, 5, part.data(), 2).ok());
      for (uint64_t i = begin; i < end; ++i) ASSERT_EQ(part[i - begin], weights[i]);
    }
  }
  // k = 0: everything is zero.
  std::fill(weights.begin(), weights.end(), 1.0f);
  ASSERT_TRUE(view.DecodeFloats(0, layer.universe, nullptr, 0, weights.data()).ok());
  for (float w : weights) ASSERT_EQ(w, 0.0f);
  // k beyond 2^t - 1 and ranges beyond the universe are refused.
  std::vector<float> big(16, 0.0f);
  EXPECT_TRUE(view.DecodeFloats(0, 1, big.data(), 16, weights.data()).IsInvalidArgument());
  EXPECT_TRUE(
      view.DecodeFloats(0, layer.universe + 1, centroids, 5, weights.data()).IsOutOfRange());
  EXPECT_TRUE(view.DecodeCodes(10, 9, codes.data()).IsOutOfRange());
  EXPECT_EQ(view.Lookup(layer.universe), 0u);
}

TEST_P(RetrievalKindTest, BytesRoundTripThroughFromBytesAndOpen) {
  Layer layer = RandomLayer(30000, 0.05, 7, 8);
  RetrievalOptions options;
  options.kind = GetParam();
  options.hash = GetParam().hash;
  options.value_bits = 3;
  Result<RetrievalTable> table = BuildLayer(layer, options);
  ASSERT_TRUE(table.ok());
  Result<RetrievalTable> copy = RetrievalTable::FromBytes(table->bytes());
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ(copy->view().kind(), GetParam().kind);
  EXPECT_EQ(copy->view().hash(), GetParam().hash);
  EXPECT_EQ(copy->view().cell_count(), table->stats().cells);
  ExpectMembersExact(layer, *copy, "FromBytes");
  // A view works on unaligned memory.
  std::vector<uint8_t> shifted(table->bytes().size() + 1);
  std::copy(table->bytes().begin(), table->bytes().end(), shifted.begin() + 1);
  Result<RetrievalView> view = RetrievalView::Open(shifted.data() + 1, table->bytes().size());
  ASSERT_TRUE(view.ok());
  for (size_t i = 0; i < layer.keys.size(); ++i) {
    ASSERT_EQ(view->Lookup(layer.keys[i]), layer.values[i]);
  }
}

// Every truncation is rejected; every byte flip in the header, directory or padding is
// rejected; a flip in the cells is accepted by Open (cells carry no redundancy: the
// container's checksums catch it) and decoding still never reads out of bounds.
TEST_P(RetrievalKindTest, DamagedSectionsAreRejectedOrHarmless) {
  Layer layer = RandomLayer(3000, 0.05, 7, 4);
  RetrievalOptions options;
  options.kind = GetParam();
  options.hash = GetParam().hash;
  options.value_bits = 3;
  options.keys_per_shard = 40;
  Result<RetrievalTable> table = BuildLayer(layer, options);
  ASSERT_TRUE(table.ok());
  const std::vector<uint8_t>& bytes = table->bytes();
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + len);
    Result<RetrievalView> v = RetrievalView::Open(prefix.data(), prefix.size());
    ASSERT_FALSE(v.ok()) << "truncated to " << len;
    ASSERT_TRUE(v.status().IsCorruption()) << v.status().ToString();
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_TRUE(RetrievalView::Open(longer.data(), longer.size()).status().IsCorruption());

  const uint64_t shards = table->view().shard_count();
  const size_t directory_begin = 40;
  const size_t terminal_entry = directory_begin + 8 * shards;
  const size_t cells_begin = terminal_entry + 8;
  const uint64_t cell_count = table->view().cell_count();
  const bool ribbon = GetParam() == RetrievalKind::kRibbon;
  // Bytes of the cell area that hold cells; everything after is padding.
  const size_t used_bytes = ribbon ? (cell_count + 63) / 64 * 8 * 3 : (cell_count * 3 + 7) / 8;
  std::vector<uint16_t> codes(layer.universe);
  size_t rejected = 0;
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
      std::vector<uint8_t> damaged = bytes;
      damaged[pos] ^= flip;
      Result<RetrievalView> v = RetrievalView::Open(damaged.data(), damaged.size());
      // Must be rejected: magic, kind, t, reserved and shard_count, shard 0's cell_begin,
      // the terminal entry's attempt, and the padding after the cells. Universe, span and seed
      // may change consistently (the container cross-checks them against the layer).
      // (Byte 6 is the hash: 0 to 1 turns an xxh3 ribbon table into a valid mix32 one.)
      const bool other_hash = ribbon && pos == 6 && flip == 0x01;
      const bool header = (pos < 8 && !other_hash) || (pos >= 32 && pos < directory_begin);
      const bool first_begin = pos >= directory_begin && pos < directory_begin + 4;
      // (The terminal cell count may change by a few cells without changing the size.)
      const bool terminal = pos >= terminal_entry + 4 && pos < cells_begin;
      const bool padding = pos >= cells_begin + used_bytes;
      if (header || first_begin || terminal || padding) {
        EXPECT_FALSE(v.ok()) << "flip 0x" << std::hex << int(flip) << " at byte " << std::dec << pos
                             << " accepted";
      }
      // Everything else (seed, attempts, inner cell offsets, cells) may be a valid table;
      // then decoding must stay in bounds (ASan checks) and succeed.
      if (v.ok()) {
        ASSERT_LE(v->universe(), uint64_t{1} << 20);
        codes.resize(v->universe());
        ASSERT_TRUE(v->DecodeCodes(0, v->universe(), codes.data()).ok());
      } else {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0u);
  // Bits that belong to no cell must be zero.
  const size_t last_byte = ribbon ? cells_begin + cell_count / 64 * 8 * 3 + 7  // word 0, bit 63
                                  : cells_begin + used_bytes - 1;
  const bool has_unused_bits = ribbon ? cell_count % 64 != 0 && cell_count % 64 <= 56
                                      : (cell_count * 3) % 8 != 0 && (cell_count * 3) % 8 <= 7;
  if (has_unused_bits) {
    std::vector<uint8_t> damaged = bytes;
    damaged[last_byte] ^= 0x80;
    Result<RetrievalView> v = RetrievalView::Open(damaged.data(), damaged.size());
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.status().ToString().find("bits past the last cell must be zero"), std::string::npos)
        << v.status().ToString();
  }
}

TEST(RetrievalTest, InvalidArgumentsAreRefusedWithClearErrors) {
  const uint64_t keys[] = {1, 5, 9};
  const uint16_t values[] = {1, 2, 3};
  RetrievalOptions o;
  o.value_bits = 2;
  EXPECT_TRUE(RetrievalTable::Build(10, keys, values, 3, o).ok());

  auto error = [&](uint64_t universe, const uint64_t* k, const uint16_t* v, size_t n,
                   RetrievalOptions opt) {
    Result<RetrievalTable> r = RetrievalTable::Build(universe, k, v, n, opt);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string("OK") : r.status().ToString();
  };
  RetrievalOptions bad = o;
  bad.value_bits = 0;
  EXPECT_NE(error(10, keys, values, 3, bad).find("value_bits (t) is 0"), std::string::npos);
  bad.value_bits = 17;
  EXPECT_NE(error(10, keys, values, 3, bad).find("must be 1..16"), std::string::npos);

  const uint16_t zero[] = {1, 0, 3};
  EXPECT_NE(error(10, keys, zero, 3, o).find("value 0 at position 1 (key 5)"), std::string::npos);
  const uint16_t too_big[] = {1, 4, 3};
  EXPECT_NE(error(10, keys, too_big, 3, o).find("values must be 1..3 for t = 2"),
            std::string::npos);
  const uint64_t dup[] = {1, 5, 5};
  EXPECT_NE(error(10, dup, values, 3, o).find("duplicate key 5 at positions 1 and 2"),
            std::string::npos);
  const uint64_t unsorted[] = {1, 9, 5};
  EXPECT_NE(error(10, unsorted, values, 3, o).find("strictly ascending"), std::string::npos);
  EXPECT_NE(error(9, keys, values, 3, o).find("key 9 at position 2"), std::string::npos);
  EXPECT_NE(error(RetrievalLimits::kMaxUniverse + 1, keys, values, 3, o).find("2^48"),
            std::string::npos);
  bad = o;
  bad.max_attempts = 0;
  EXPECT_NE(error(10, keys, values, 3, bad).find("max_attempts"), std::string::npos);
  bad = o;
  bad.kind = static_cast<RetrievalKind>(9);
  EXPECT_NE(error(10, keys, values, 3, bad).find("unknown retrieval kind"), std::string::npos);
  bad = o;
  bad.shard_span = 1;  // 2^48 shards of one index each
  EXPECT_NE(error(RetrievalLimits::kMaxUniverse, keys, values, 3, bad).find("2^26 shards"),
            std::string::npos);
  EXPECT_NE(error(10, nullptr, values, 3, o).find("null"), std::string::npos);
  bad = o;
  bad.hash = static_cast<RetrievalHash>(7);
  EXPECT_NE(error(10, keys, values, 3, bad).find("unknown retrieval hash 7"), std::string::npos);
  bad = o;
  bad.hash = RetrievalHash::kMix32;
  bad.kind = RetrievalKind::kBloomier;
  EXPECT_NE(error(10, keys, values, 3, bad).find("ribbon tables only"), std::string::npos);
  bad.kind = RetrievalKind::kRibbon;
  bad.shard_span = (uint64_t{1} << 32) + 1;  // mix32 hashes a key's low 32 bits
  EXPECT_NE(error(uint64_t{1} << 34, keys, values, 3, bad).find("at most 2^32 per shard"),
            std::string::npos);
  bad.shard_span = uint64_t{1} << 32;
  EXPECT_TRUE(RetrievalTable::Build(uint64_t{1} << 34, keys, values, 3, bad).ok());

  EXPECT_TRUE(ParseRetrievalKind("ribbon").ok());
  EXPECT_EQ(*ParseRetrievalKind("bloomier"), RetrievalKind::kBloomier);
  EXPECT_NE(
      ParseRetrievalKind("xor").status().ToString().find("expected one of 'ribbon', 'bloomier'"),
      std::string::npos);
}

// A ribbon shard's first attempts are deliberately tight; with one attempt allowed,
// some shard of a large layer fails and the error names it. With the default budget the
// same layer builds, using more attempts than shards (the retry path ran).
TEST(RetrievalTest, RetryPathAndBuildFailureNameTheShard) {
  Layer layer = RandomLayer(400000, 0.05, 15, 17);
  RetrievalOptions options;
  options.kind = RetrievalKind::kRibbon;
  options.max_attempts = 1;
  Result<RetrievalTable> failed = BuildLayer(layer, options);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsBuildFailed());
  EXPECT_NE(failed.status().ToString().find("shard "), std::string::npos)
      << failed.status().ToString();
  EXPECT_NE(failed.status().ToString().find("in 1 attempts"), std::string::npos);

  options.max_attempts = 64;
  Result<RetrievalTable> built = BuildLayer(layer, options);
  ASSERT_TRUE(built.ok());
  EXPECT_GT(built->stats().attempts, built->stats().shards);
  ExpectMembersExact(layer, *built, "after retries");
}

// The space targets: ribbon at most 1.03 cells per key for shards of 1,000+ keys and at
// most 1.05 t bits per kept weight for a whole layer with all metadata; bloomier about
// 1.23 cells per key.
TEST(RetrievalTest, SpaceOverheadMeetsTargets) {
  // LeNet-300-100 fc1 (784 x 300) at 8% kept, and a larger layer at 4%.
  for (auto [universe, density] :
       {std::pair<uint64_t, double>{235200, 0.08}, std::pair<uint64_t, double>{4000000, 0.04}}) {
    Layer layer = RandomLayer(universe, density, 15, universe);
    for (int t : {4, 8, 10}) {
      RetrievalOptions options;
      options.value_bits = t;
      options.kind = RetrievalKind::kRibbon;
      for (RetrievalHash hash : {RetrievalHash::kXxh3, RetrievalHash::kMix32}) {
        options.hash = hash;
        Result<RetrievalTable> ribbon = BuildLayer(layer, options);
        ASSERT_TRUE(ribbon.ok());
        const std::string what = "N=" + std::to_string(universe) + " t=" + std::to_string(t) +
                                 " hash " + RetrievalHashName(hash);
        EXPECT_LE(ribbon->stats().cells_per_key, 1.03) << what;
        EXPECT_LE(ribbon->stats().bits_per_key_over_t, 1.05) << what;
      }
      options.hash = RetrievalHash::kXxh3;
      options.kind = RetrievalKind::kBloomier;
      Result<RetrievalTable> bloomier = BuildLayer(layer, options);
      ASSERT_TRUE(bloomier.ok());
      EXPECT_GE(bloomier->stats().cells_per_key, 1.22);
      EXPECT_LE(bloomier->stats().cells_per_key, 1.26);
    }
  }
}

// Test vectors of spec/RETRIEVAL.md, section "Test vectors".
TEST(RetrievalHashingTest, MatchesSpecTestVectors) {
  using namespace retrieval;
  // XXH3-64 itself: the published value for empty input, seed 0.
  EXPECT_EQ(XXH3_64bits_withSeed("", 0, 0), 0x2D06800538D394C2ULL);
  EXPECT_EQ(ShardSeed(0, 0, 0), 0xc4998f9169c2a4f0ULL);
  EXPECT_EQ(ShardSeed(0x0123456789abcdefULL, 7, 3), 0xec1c63cfdf1f57f1ULL);
  EXPECT_EQ(ShardSeed(42, 1000, 0), 0x458e0ac7c5d31534ULL);

  struct Vector {
    uint64_t key, seed, h;
    int t;
    uint32_t mask;
    uint64_t m, start, coefficient, bloomier_m, p0, p1, p2;
  };
  const Vector vectors[] = {
      {0, 0, 0xc77b3abb6f87acd9ULL, 8, 0x4a, 2051, 1549, 0xce6ea12eb5fae8e3ULL, 2049, 532, 916,
       1447},
      {1, 0, 0x2fbc593564db792eULL, 8, 0xf6, 2051, 370, 0x77e487081a1bbfcfULL, 2049, 127, 786,
       1659},
      {235199, 0x9e3779b97f4a7c15ULL, 0xf49f7ed1b63d30e5ULL, 4, 0x6, 40, 0, 0x000000e829f47821ULL,
       39, 12, 24, 38},
      {123456789012ULL, 0xffffffffffffffffULL, 0x1725db3553527274ULL, 16, 0xeddb, 100000, 9036,
       0x6ba2562c0d19c5a9ULL, 99999, 3014, 46700, 76273},
  };
  for (const Vector& v : vectors) {
    const uint64_t h = KeyHash(v.key, v.seed);
    EXPECT_EQ(h, v.h) << v.key;
    EXPECT_EQ(ValueMask(h, v.t), v.mask) << v.key;
    const RibbonRow row = RibbonRowOf(h, v.m);
    EXPECT_EQ(row.start, v.start) << v.key;
    EXPECT_EQ(row.coefficient, v.coefficient) << v.key;
    const BloomierPositions pos = BloomierPositionsOf(h, v.bloomier_m / 3);
    EXPECT_EQ(pos.p[0], v.p0) << v.key;
    EXPECT_EQ(pos.p[1], v.p1) << v.key;
    EXPECT_EQ(pos.p[2], v.p2) << v.key;
  }
  // Hash 1 (mix32): the seed words, the three mixers' outputs and the row.
  struct Mix32Vector {
    uint64_t key, seed;
    uint32_t s1, s2, s3, a, b, c;
    int t;
    uint32_t mask;
    uint64_t m, start, coefficient;
  };
  const Mix32Vector mix32_vectors[] = {
      {0, 0, 0, 0, 0, 0, 0, 0, 8, 0x0, 2051, 0, 0x1},
      {1, 0, 0, 0, 0, 0x514e28b7, 0x688990c0, 0x86d2fa73, 8, 0x73, 2051, 1046,
       0x688990c0514e28b7ULL},
      {235199, 0x9e3779b97f4a7c15ULL, 0x7f4a7c15, 0x9e3779b9, 0xdf442d22, 0xefb87f93, 0xf1c7d537,
       0xb601e8ba, 4, 0xa, 40, 0, 0x00000037efb87f93ULL},
      {123456789012ULL, 0xffffffffffffffffULL, 0xffffffff, 0xffffffff, 0x61c88646, 0xe185eb76,
       0x6e542741, 0xd0c73658, 16, 0x3658, 100000, 81502, 0x6e542741e185eb77ULL},
      {5, 3, 0x00000003, 0, 0xdaa66d2c, 0x5ceb4d08, 0x5c45d53e, 0x2d053191, 1, 0x1, 1, 0, 0x1},
      {0xFFFFFFFFULL, 0x0123456789abcdefULL, 0x89abcdef, 0x01234567, 0x0c93a7b7, 0xafb65457,
       0xb79bc3b3, 0xdb9d4e50, 10, 0x250, 64, 0, 0xb79bc3b3afb65457ULL},
  };
  for (const Mix32Vector& v : mix32_vectors) {
    const Mix32Seeds seeds = Mix32SeedsOf(v.seed);
    EXPECT_EQ(seeds.s1, v.s1) << v.key;
    EXPECT_EQ(seeds.s2, v.s2) << v.key;
    EXPECT_EQ(seeds.s3, v.s3) << v.key;
    const uint32_t u = static_cast<uint32_t>(v.key);
    EXPECT_EQ(MixA(u ^ seeds.s1), v.a) << v.key;
    EXPECT_EQ(MixB(u ^ seeds.s2), v.b) << v.key;
    EXPECT_EQ(MixC(u ^ seeds.s3), v.c) << v.key;
    const RibbonKeyRow row = Mix32RowOf(v.key, seeds, RibbonShapeOf(v.m), v.t);
    EXPECT_EQ(row.mask, v.mask) << v.key;
    EXPECT_EQ(row.row.start, v.start) << v.key;
    EXPECT_EQ(row.row.coefficient, v.coefficient) << v.key;
  }
  // A one-cell ribbon shard: width 1, start 0, coefficient 1.
  const RibbonRow tiny = RibbonRowOf(KeyHash(5, 3), 1);
  EXPECT_EQ(tiny.start, 0u);
  EXPECT_EQ(tiny.coefficient, 1u);
  EXPECT_EQ(ValueMask(KeyHash(5, 3), 1), 1u);
}

// Golden sections of spec/RETRIEVAL.md, "Example": byte-exact.
TEST(RetrievalGoldenTest, SmallTablesAreByteExact) {
  const uint64_t keys[] = {1, 4, 9, 15};
  const uint16_t values[] = {1, 2, 3, 1};
  RetrievalOptions options;
  options.value_bits = 3;
  options.seed = 1;
  options.shard_span = 8;
  options.kind = RetrievalKind::kRibbon;
  options.hash = RetrievalHash::kXxh3;
  Result<RetrievalTable> ribbon = RetrievalTable::Build(16, keys, values, 4, options);
  ASSERT_TRUE(ribbon.ok());
  EXPECT_EQ(Hex(ribbon->bytes()),
            "574c5254020300001000000000000000080000000000000001000000000000000200000000000000"
            "00000000000000000400000000000000080000000000000043000000000000000100000000000000"
            "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
            "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
            "00000000000000000000000000000000");
  options.kind = RetrievalKind::kBloomier;
  Result<RetrievalTable> bloomier = RetrievalTable::Build(16, keys, values, 4, options);
  ASSERT_TRUE(bloomier.ok());
  EXPECT_EQ(Hex(bloomier->bytes()),
            "574c5254010300001000000000000000080000000000000001000000000000000200000000000000"
            "00000000000000002400000000000000480000000000000000000000000000000000000010060000"
            "00000000000000000000040000000000000000");
  options.kind = RetrievalKind::kRibbon;
  options.hash = RetrievalHash::kMix32;
  Result<RetrievalTable> mix32 = RetrievalTable::Build(16, keys, values, 4, options);
  ASSERT_TRUE(mix32.ok());
  EXPECT_EQ(Hex(mix32->bytes()),
            "574c5254020301001000000000000000080000000000000001000000000000000200000000000000"
            "00000000000000000400000000000000080000000000000015000000000000001100000000000000"
            "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
            "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
            "00000000000000000000000000000000");
}

// The hash byte: tables with hash 1 are ribbon ones with S <= 2^32; other values are not
// supported (spec/RETRIEVAL.md, "Decoder requirements").
TEST(RetrievalTest, HashFieldIsChecked) {
  const uint64_t keys[] = {1, 4, 9, 15};
  const uint16_t values[] = {1, 2, 3, 1};
  RetrievalOptions options;
  options.value_bits = 3;
  options.shard_span = 8;
  for (RetrievalKind kind : {RetrievalKind::kRibbon, RetrievalKind::kBloomier}) {
    options.kind = kind;
    Result<RetrievalTable> table = RetrievalTable::Build(16, keys, values, 4, options);
    ASSERT_TRUE(table.ok());
    // Unset, the hash is the default: mix32 for ribbon, xxh3 for bloomier.
    EXPECT_EQ(table->view().hash(), DefaultRetrievalHash(kind, 8));
    EXPECT_EQ(table->view().hash(),
              kind == RetrievalKind::kRibbon ? RetrievalHash::kMix32 : RetrievalHash::kXxh3);
    std::vector<uint8_t> bytes = table->bytes();
    bytes[6] = 2;
    Result<RetrievalView> v = RetrievalView::Open(bytes.data(), bytes.size());
    ASSERT_FALSE(v.ok());
    EXPECT_TRUE(v.status().IsNotSupported()) << v.status().ToString();
    EXPECT_NE(v.status().ToString().find("hash at byte offset 6 is 2"), std::string::npos);
    bytes[6] = 1;
    v = RetrievalView::Open(bytes.data(), bytes.size());
    EXPECT_EQ(v.ok(), kind == RetrievalKind::kRibbon) << v.status().ToString();
    if (!v.ok()) {
      EXPECT_NE(v.status().ToString().find("ribbon tables only"), std::string::npos);
    }
    bytes[6] = 0;
    bytes[7] = 1;
    EXPECT_TRUE(RetrievalView::Open(bytes.data(), bytes.size()).status().IsCorruption());
  }
  // A ribbon table without keys whose one shard spans 2^33 indices: hashed with xxh3 by
  // default (mix32 cannot hash it), and refused with hash 1.
  options.kind = RetrievalKind::kRibbon;
  options.shard_span = uint64_t{1} << 33;
  Result<RetrievalTable> wide =
      RetrievalTable::Build(uint64_t{1} << 33, nullptr, nullptr, 0, options);
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  EXPECT_EQ(wide->view().hash(), RetrievalHash::kXxh3);
  EXPECT_EQ(DefaultRetrievalHash(RetrievalKind::kRibbon, uint64_t{1} << 32), RetrievalHash::kMix32);
  std::vector<uint8_t> bytes = wide->bytes();
  bytes[6] = 1;
  Result<RetrievalView> v = RetrievalView::Open(bytes.data(), bytes.size());
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().ToString().find("exceeds 2^32, the limit of hash mix32"), std::string::npos);
  EXPECT_STREQ(RetrievalHashName(RetrievalHash::kMix32), "mix32");
  EXPECT_STREQ(RetrievalHashName(static_cast<RetrievalHash>(9)), "unknown");
  EXPECT_EQ(*ParseRetrievalHash("mix32"), RetrievalHash::kMix32);
  EXPECT_EQ(*ParseRetrievalHash("xxh3"), RetrievalHash::kXxh3);
  EXPECT_TRUE(ParseRetrievalHash("xxh64").status().IsInvalidArgument());
}

}  // namespace
}  // namespace weightless
