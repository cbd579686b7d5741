// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/simplify.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace weightless {
namespace {

TEST(PruneTest, KeepsTheLargestMagnitudesDeterministically) {
  const float w[] = {0.1f, -0.9f, 0.5f, -0.5f, 0.0f, 0.3f};
  auto mask = PruneByMagnitude(w, 6, 0.5);
  ASSERT_TRUE(mask.ok());
  // |w| sorted: 0.9 (1), 0.5 (2), 0.5 (3), ... -> keep 3: indices 1, 2, 3.
  EXPECT_EQ(*mask, (std::vector<uint8_t>{0, 1, 1, 1, 0, 0}));
  auto two = PruneByMagnitude(w, 6, 2.0 / 6);  // the tie at 0.5 goes to the lower index
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, (std::vector<uint8_t>{0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(*PruneByMagnitude(w, 6, 0.0), std::vector<uint8_t>(6, 0));
  EXPECT_EQ(*PruneByMagnitude(w, 6, 1.0), std::vector<uint8_t>(6, 1));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> big(10000);
  for (float& x : big) x = normal(rng);
  auto m = PruneByMagnitude(big.data(), big.size(), 0.03);
  ASSERT_TRUE(m.ok());
  size_t kept = 0;
  float min_kept = 1e9f, max_pruned = 0;
  for (size_t i = 0; i < big.size(); ++i) {
    if ((*m)[i]) {
      ++kept;
      min_kept = std::min(min_kept, std::fabs(big[i]));
    } else {
      max_pruned = std::max(max_pruned, std::fabs(big[i]));
    }
  }
  EXPECT_EQ(kept, 300u);
  EXPECT_GE(min_kept, max_pruned);
}

// The definition, by sorting: the `keep` first in the order (larger |w|, lower index).
std::vector<uint8_t> KeepLargestBySorting(const std::vector<float>& w, size_t keep) {
  std::vector<size_t> order(w.size());
  for (size_t i = 0; i < w.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&w](size_t a, size_t b) { return std::fabs(w[a]) > std::fabs(w[b]); });
  std::vector<uint8_t> mask(w.size(), 0);
  for (size_t i = 0; i < keep; ++i) mask[order[i]] = 1;
  return mask;
}

// The radix select against the definition where it is easiest to get wrong: ties at the
// threshold (kept in index order), -0 beside +0, subnormals, thresholds in the lowest
// and highest buckets, every keep from 0 to n.
TEST(PruneTest, RadixSelectKeepsExactlyWhatSortingKeeps) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(-20, 20);
  std::vector<std::vector<float>> cases;
  std::vector<float> ties(600);
  for (float& v : ties) v = 0.05f * static_cast<float>(level(rng));  // many ties, and +-0
  cases.push_back(ties);
  const float tiny = std::numeric_limits<float>::denorm_min();
  const float big = std::numeric_limits<float>::max();
  cases.push_back({0.0f, -0.0f, tiny, -tiny, 3 * tiny, 0.0f, -big, big, 1.0f, -1.0f, 1e-38f});
  cases.push_back(std::vector<float>(50, -2.5f));  // all one magnitude
  std::vector<float> same_high(300);  // every key in one high bucket: the low pass decides
  for (size_t i = 0; i < same_high.size(); ++i) {
    same_high[i] = 1.0f + static_cast<float>(i % 97) * std::numeric_limits<float>::epsilon();
  }
  cases.push_back(same_high);
  for (const std::vector<float>& w : cases) {
    for (size_t keep = 0; keep <= w.size(); ++keep) {
      const double fraction = static_cast<double>(keep) / static_cast<double>(w.size());
      std::vector<uint8_t> mask(w.size(), 7);
      ASSERT_TRUE(PruneByMagnitude(w.data(), w.size(), fraction, mask.data()).ok());
      ASSERT_EQ(mask, KeepLargestBySorting(w, keep)) << "keep " << keep << " of " << w.size();
    }
  }
  std::normal_distribution<float> normal;
  std::vector<float> large(200000);
  for (float& v : large) v = normal(rng);
  for (double fraction : {0.001, 0.08, 0.5, 0.999}) {
    const size_t keep = static_cast<size_t>(std::llround(fraction * large.size()));
    EXPECT_EQ(*PruneByMagnitude(large.data(), large.size(), fraction),
              KeepLargestBySorting(large, keep))
        << fraction;
  }
  const float one = 1.0f;
  EXPECT_TRUE(PruneByMagnitude(&one, 1, 1.0, nullptr).IsInvalidArgument());
}

TEST(PruneTest, RefusesBadInput) {
  const float w[] = {0.1f, std::numeric_limits<float>::quiet_NaN(), 0.5f};
  auto r = PruneByMagnitude(w, 3, 0.5);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("index 1 is NaN"), std::string::npos);
  const float ok[] = {0.1f, 0.2f};
  EXPECT_TRUE(PruneByMagnitude(ok, 2, 1.5).status().IsInvalidArgument());
  EXPECT_TRUE(PruneByMagnitude(ok, 2, -0.1).status().IsInvalidArgument());
  EXPECT_EQ(*PruneByThreshold(ok, 2, 0.15f), (std::vector<uint8_t>{0, 1}));
  EXPECT_TRUE(PruneByThreshold(ok, 2, -1.0f).status().IsInvalidArgument());
}

// Brute force: the best split of the sorted distinct values into k contiguous groups.
double BruteForceSse(std::vector<float> v, size_t k) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  double best = std::numeric_limits<double>::infinity();
  // Enumerate k-1 cut positions among n-1 gaps by bitmask.
  for (uint32_t cuts = 0; cuts < (1u << (n - 1)); ++cuts) {
    if (static_cast<size_t>(__builtin_popcount(cuts)) != k - 1) continue;
    double sse = 0;
    size_t begin = 0;
    for (size_t i = 0; i < n; ++i) {
      if (i == n - 1 || (cuts >> i & 1)) {
        double mean = 0;
        for (size_t j = begin; j <= i; ++j) mean += v[j];
        mean /= static_cast<double>(i - begin + 1);
        for (size_t j = begin; j <= i; ++j) sse += (v[j] - mean) * (v[j] - mean);
        begin = i + 1;
      }
    }
    best = std::min(best, sse);
  }
  return best;
}

TEST(ShareWeightsTest, OptimalMatchesBruteForceOnTinyInputs) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 2 + rng() % 9;
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    const uint32_t k = 1 + rng() % std::min<size_t>(n, 4);
    auto c = ShareWeights(v.data(), n, k, ClusterMethod::kOptimal);
    ASSERT_TRUE(c.ok());
    EXPECT_NEAR(c->squared_error, BruteForceSse(v, k), 1e-9) << "trial " << trial;
  }
}

TEST(ShareWeightsTest, OptimalIsNeverWorseThanLloyd) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 30; ++trial) {
    const size_t n = 100 + rng() % 3000;
    std::vector<float> v(n);
    std::student_t_distribution<float> heavy(3.0f);  // weight-like heavy tails
    for (float& x : v) x = 0.05f * heavy(rng);
    for (uint32_t k : {2u, 4u, 8u, 16u}) {
      auto optimal = ShareWeights(v.data(), n, k, ClusterMethod::kOptimal);
      auto lloyd = ShareWeights(v.data(), n, k, ClusterMethod::kLinearKMeans);
      ASSERT_TRUE(optimal.ok() && lloyd.ok());
      EXPECT_LE(optimal->squared_error, lloyd->squared_error * (1 + 1e-9) + 1e-12)
          << "trial " << trial << " k " << k;
    }
  }
}

TEST(ShareWeightsTest, CodesCentroidsAndEdgeCases) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 0.1f);
  std::vector<float> v(5000);
  for (float& x : v) x = normal(rng);
  for (ClusterMethod method : {ClusterMethod::kOptimal, ClusterMethod::kLinearKMeans}) {
    auto c = ShareWeights(v.data(), v.size(), 15, method);
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->centroids.size(), 15u);
    EXPECT_TRUE(std::is_sorted(c->centroids.begin(), c->centroids.end()));
    double sse = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t code = c->codes[i];
      ASSERT_GE(code, 1);
      ASSERT_LE(code, 15);
      const float mine = std::fabs(v[i] - c->centroids[code - 1]);
      for (float other : c->centroids) ASSERT_LE(mine, std::fabs(v[i] - other) + 1e-6f);
      sse += static_cast<double>(v[i] - c->centroids[code - 1]) * (v[i] - c->centroids[code - 1]);
    }
    EXPECT_NEAR(sse, c->squared_error, 1e-6 * sse + 1e-9);
    // Optimal centroids are the means of their members (Lloyd's are too once it has
    // converged, which 100 iterations need not reach).
    if (method != ClusterMethod::kOptimal) continue;
    std::vector<float> recomputed = c->centroids;
    ASSERT_TRUE(RecomputeCentroids(v.data(), c->codes.data(), v.size(), &recomputed).ok());
    for (size_t j = 0; j < recomputed.size(); ++j) {
      EXPECT_NEAR(recomputed[j], c->centroids[j], 1e-5f);
    }
  }
  // Fewer distinct values than clusters.
  const float few[] = {1, 1, 2, 2, 2, 5};
  auto c = ShareWeights(few, 6, 8);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->centroids, (std::vector<float>{1, 2, 5}));
  EXPECT_EQ(c->squared_error, 0);
  // No values.
  auto none = ShareWeights(nullptr, 0, 4);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->centroids, (std::vector<float>{0.0f}));
  // Errors.
  EXPECT_TRUE(ShareWeights(few, 6, 0).status().IsInvalidArgument());
  const float inf[] = {1, std::numeric_limits<float>::infinity()};
  EXPECT_NE(ShareWeights(inf, 2, 2).status().ToString().find("index 1"), std::string::npos);
}

// Found by fuzz_roundtrip: the centroids were computed from prefix sums of values
// centred on the overall mean, so values far smaller than the spread lost their low
// digits (a cluster of zeros got a centroid of 2e-16; here they were off by ~1e4 and out
// of order). With a cluster per distinct value every centroid must be that value.
TEST(ShareWeightsTest, CentroidsAreExactAndOrderedOverWideRanges) {
  const float v[] = {3, 1e20f, 0, 1e-30f, -1e20f, 1, 0, 2};
  const std::vector<float> distinct = {-1e20f, 0, 1e-30f, 1, 2, 3, 1e20f};
  for (ClusterMethod method : {ClusterMethod::kOptimal, ClusterMethod::kLinearKMeans}) {
    auto c = ShareWeights(v, 8, 7, method);
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(std::is_sorted(c->centroids.begin(), c->centroids.end()));
    if (method != ClusterMethod::kOptimal) continue;  // Lloyd may merge the small values
    EXPECT_EQ(c->centroids, distinct);
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(c->centroids[c->codes[i] - 1], v[i]) << i;
    EXPECT_EQ(c->squared_error, 0);
  }
}

TEST(ShareWeightsTest, CentroidGradientsMoveSharedWeights) {
  std::vector<float> centroids = {-1.0f, 1.0f};
  const float grads[] = {0.5f, 0.25f, -1.0f, 7.0f};
  const uint16_t codes[] = {1, 1, 2, 0};  // the last weight is pruned: ignored
  ASSERT_TRUE(ApplyCentroidGradients(grads, codes, 4, 0.1f, &centroids).ok());
  EXPECT_FLOAT_EQ(centroids[0], -1.0f - 0.1f * 0.75f);
  EXPECT_FLOAT_EQ(centroids[1], 1.0f + 0.1f);
  const uint16_t bad[] = {3};
  EXPECT_TRUE(ApplyCentroidGradients(grads, bad, 1, 0.1f, &centroids).IsInvalidArgument());
}

TEST(SimplifyTest, PrunesAndSharesIntoACodebook) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> w(4000);
  for (float& v : w) v = normal(rng);
  SimplifyOptions options;
  options.keep_fraction = 0.05;
  options.clusters = 6;
  Result<Codebook> book = Simplify(w.data(), w.size(), options);
  ASSERT_TRUE(book.ok()) << book.status().ToString();
  ASSERT_EQ(book->codes.size(), w.size());
  ASSERT_EQ(book->centroids.size(), 6u);
  // Exactly PruneByMagnitude's weights are kept, each with ShareWeights' code.
  const std::vector<uint8_t> mask = *PruneByMagnitude(w.data(), w.size(), 0.05);
  std::vector<float> kept;
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(book->codes[i] != 0, mask[i] != 0) << i;
    if (mask[i]) kept.push_back(w[i]);
  }
  const Clustering c = *ShareWeights(kept.data(), kept.size(), 6);
  EXPECT_EQ(book->centroids, c.centroids);
  EXPECT_EQ(book->squared_error, c.squared_error);
  for (size_t i = 0, j = 0; i < w.size(); ++i) {
    if (mask[i]) {
      EXPECT_EQ(book->codes[i], c.codes[j++]);
    }
  }
  // A given mask wins over keep_fraction.
  std::vector<uint8_t> first(w.size(), 0);
  for (size_t i = 0; i < 10; ++i) first[i] = 1;
  Result<Codebook> masked = Simplify(w.data(), w.size(), options, first.data());
  ASSERT_TRUE(masked.ok());
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(masked->codes[i] != 0, i < 10);
  // Errors name what is wrong.
  w[17] = std::numeric_limits<float>::infinity();
  EXPECT_NE(Simplify(w.data(), w.size(), options).status().ToString().find("index 17 is infinite"),
            std::string::npos);
  options.clusters = 0;
  EXPECT_TRUE(Simplify(w.data(), 10, options).status().IsInvalidArgument());
}

}  // namespace
}  // namespace weightless
