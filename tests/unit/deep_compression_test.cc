// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "baselines/deep_compression.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace weightless {
namespace baselines {
namespace {

std::vector<float> Centroids(size_t k) {
  std::vector<float> c(k);
  for (size_t i = 0; i < k; ++i) c[i] = 0.01f * static_cast<float>(i + 1) * (i % 2 ? -1 : 1);
  return c;
}

// n codes, each kept with probability `density`, with a uniform code in 1..k.
std::vector<uint16_t> RandomCodes(size_t n, double density, size_t k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution kept(density);
  std::uniform_int_distribution<int> code(1, static_cast<int>(k));
  std::vector<uint16_t> codes(n, 0);
  for (uint16_t& c : codes) {
    if (kept(rng)) c = static_cast<uint16_t>(code(rng));
  }
  return codes;
}

std::vector<float> Dense(const std::vector<uint16_t>& codes, const std::vector<float>& centroids) {
  std::vector<float> out(codes.size(), 0.0f);
  for (size_t i = 0; i < codes.size(); ++i) {
    if (codes[i] != 0) out[i] = centroids[codes[i] - 1];
  }
  return out;
}

size_t Kept(const std::vector<uint16_t>& codes) {
  size_t kept = 0;
  for (uint16_t c : codes) kept += c != 0;
  return kept;
}

// The entries a layer of these codes has with gaps of `bits` bits, from the header's
// rule: a distance d from the previous entry takes floor(d / 2^bits) fillers.
uint64_t ExpectedEntries(const std::vector<uint16_t>& codes, int bits) {
  uint64_t entries = 0, last = 0;
  for (uint64_t i = 0; i < codes.size(); ++i) {
    if (codes[i] == 0) continue;
    entries += ((i - last) >> bits) + 1;
    last = i + 1;
  }
  return entries;
}

std::vector<uint8_t> Frame(const std::vector<uint8_t>& content) {
  std::vector<uint8_t> out(ZSTD_compressBound(content.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), content.data(), content.size(), 19);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::vector<uint8_t> Unframe(const std::vector<uint8_t>& frame, size_t size) {
  std::vector<uint8_t> out(size + 1);
  const size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

// Encodes, checks the invariants every layer has, and decodes exactly.
DeepCompressedLayer RoundTrip(const std::vector<uint16_t>& codes,
                              const std::vector<float>& centroids, int gap_bits = 0) {
  Result<DeepCompressedLayer> r =
      EncodeDeepCompression(codes.data(), codes.size(), centroids, 19, gap_bits);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  const DeepCompressedLayer& d = *r;
  EXPECT_GE(d.gap_bits, 2);
  EXPECT_LE(d.gap_bits, 8);
  if (gap_bits != 0) {
    EXPECT_EQ(d.gap_bits, gap_bits);
  }
  EXPECT_EQ(d.entries, ExpectedEntries(codes, d.gap_bits));
  EXPECT_EQ(d.codebook, centroids);
  EXPECT_EQ(d.bytes(), d.gaps.size() + d.codes.size() + 4 * centroids.size() + 16);
  std::vector<float> out(codes.size(), 123.0f);  // decoding must overwrite every value
  const Status s = DecodeDeepCompression(d, out.data(), out.size());
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out, Dense(codes, centroids));
  return *r;
}

TEST(DeepCompressionTest, KnownLayoutOfASmallLayer) {
  // Kept: position 1 (code 2) and position 9 (code 1), 7 positions after the first. With
  // b = 2 (gaps up to 3) that is one filler covering positions 2..5, then gap 3.
  std::vector<uint16_t> codes(12, 0);
  codes[1] = 2;
  codes[9] = 1;
  const DeepCompressedLayer d = RoundTrip(codes, Centroids(2), 2);
  ASSERT_EQ(d.entries, 3u);
  EXPECT_EQ(Unframe(d.gaps, 3), (std::vector<uint8_t>{1, 3, 3}));
  EXPECT_EQ(Unframe(d.codes, 3), (std::vector<uint8_t>{2, 0, 1}));
  // With b = 3 the distance 7 fits: no filler.
  const DeepCompressedLayer d3 = RoundTrip(codes, Centroids(2), 3);
  ASSERT_EQ(d3.entries, 2u);
  EXPECT_EQ(Unframe(d3.gaps, 2), (std::vector<uint8_t>{1, 7}));
  EXPECT_EQ(Unframe(d3.codes, 2), (std::vector<uint8_t>{2, 1}));
}

TEST(DeepCompressionTest, RoundTripsRandomLayersAtEveryDensityAndGapWidth) {
  const size_t n = 30000;
  const std::vector<float> centroids = Centroids(15);
  uint64_t seed = 1;
  for (double density : {0.0005, 0.003, 0.02, 0.1, 0.5, 0.95}) {
    SCOPED_TRACE("density " + std::to_string(density));
    const std::vector<uint16_t> codes = RandomCodes(n, density, centroids.size(), seed++);
    const DeepCompressedLayer chosen = RoundTrip(codes, centroids);
    for (int bits = 2; bits <= 8; ++bits) {
      SCOPED_TRACE("b = " + std::to_string(bits));
      RoundTrip(codes, centroids, bits);
    }
    // At 0.05% kept the mean gap is 2000 positions: even b = 8 needs fillers.
    if (density < 0.001) {
      EXPECT_GT(chosen.entries, Kept(codes));
    }
  }
}

TEST(DeepCompressionTest, GapsLongerThanTwoToTheEightUseFillers) {
  std::vector<uint16_t> codes(70000, 0);
  codes[0] = 3;
  codes[255] = 1;    // distance 254: fits in 8 bits
  codes[512] = 2;    // distance 256 = 2^8: one filler, then gap 0
  codes[69999] = 3;  // distance 69486: 271 fillers
  const DeepCompressedLayer d = RoundTrip(codes, Centroids(3), 8);
  EXPECT_EQ(d.entries, 4u + 1u + 271u);
  const std::vector<uint8_t> gaps = Unframe(d.gaps, d.entries);
  const std::vector<uint8_t> values = Unframe(d.codes, d.entries);
  ASSERT_EQ(gaps.size(), d.entries);
  EXPECT_EQ(gaps[2], 255);
  EXPECT_EQ(values[2], 0);
  EXPECT_EQ(gaps[3], 0);
  EXPECT_EQ(values[3], 2);
  RoundTrip(codes, Centroids(3));  // whatever b is chosen
}

TEST(DeepCompressionTest, ALayerWithNothingKeptHasNoEntries) {
  const std::vector<uint16_t> codes(5000, 0);
  const DeepCompressedLayer d = RoundTrip(codes, Centroids(4));
  EXPECT_EQ(d.entries, 0u);
  EXPECT_EQ(d.gap_bits, 2);  // every b costs the same; the tie goes to the smallest
  const std::vector<uint16_t> one(1, 0);
  EXPECT_EQ(RoundTrip(one, Centroids(1)).entries, 0u);
}

TEST(DeepCompressionTest, ALayerWithEverythingKeptHasOneEntryPerWeight) {
  const std::vector<uint16_t> codes = RandomCodes(4000, 1.0, 15, 7);
  ASSERT_EQ(Kept(codes), codes.size());
  const DeepCompressedLayer d = RoundTrip(codes, Centroids(15));
  EXPECT_EQ(d.entries, codes.size());
  EXPECT_EQ(Unframe(d.gaps, d.entries), std::vector<uint8_t>(codes.size(), 0));
  const std::vector<uint16_t> one(1, 1);
  EXPECT_EQ(RoundTrip(one, Centroids(1)).entries, 1u);
}

TEST(DeepCompressionTest, OneClusterAndTwoHundredFiftyFiveClusters) {
  RoundTrip(RandomCodes(10000, 0.05, 1, 11), Centroids(1));
  RoundTrip(RandomCodes(10000, 0.9, 1, 12), Centroids(1));
  std::vector<uint16_t> all(2000, 0);
  for (size_t i = 0; i < 255; ++i) all[i * 7] = static_cast<uint16_t>(i + 1);  // every code
  RoundTrip(all, Centroids(255));
  RoundTrip(RandomCodes(20000, 0.3, 255, 13), Centroids(255));
}

TEST(DeepCompressionTest, ChoosesTheGapWidthWithFewestBytes) {
  const std::vector<float> centroids = Centroids(15);
  uint64_t seed = 100;
  for (double density : {0.001, 0.01, 0.05, 0.2, 0.6}) {
    SCOPED_TRACE("density " + std::to_string(density));
    const std::vector<uint16_t> codes = RandomCodes(20000, density, centroids.size(), seed++);
    const DeepCompressedLayer chosen = RoundTrip(codes, centroids);
    int best_bits = 0;
    uint64_t best_bytes = 0;
    for (int bits = 2; bits <= 8; ++bits) {
      const DeepCompressedLayer forced = RoundTrip(codes, centroids, bits);
      if (best_bits == 0 || forced.bytes() < best_bytes) {
        best_bits = bits;
        best_bytes = forced.bytes();
      }
      if (bits == chosen.gap_bits) {  // the chosen layer is that b's encoding, byte for byte
        EXPECT_EQ(forced.gaps, chosen.gaps);
        EXPECT_EQ(forced.codes, chosen.codes);
        EXPECT_EQ(forced.entries, chosen.entries);
      }
    }
    EXPECT_EQ(chosen.gap_bits, best_bits);
    EXPECT_EQ(chosen.bytes(), best_bytes);
  }
}

TEST(DeepCompressionTest, EncodingIsDeterministic) {
  const std::vector<uint16_t> codes = RandomCodes(20000, 0.04, 15, 5);
  const DeepCompressedLayer a = RoundTrip(codes, Centroids(15));
  const DeepCompressedLayer b = RoundTrip(codes, Centroids(15));
  EXPECT_EQ(a.gap_bits, b.gap_bits);
  EXPECT_EQ(a.gaps, b.gaps);
  EXPECT_EQ(a.codes, b.codes);
}

TEST(DeepCompressionTest, RefusesBadArguments) {
  std::vector<uint16_t> codes(100, 0);
  codes[3] = 2;
  codes[57] = 16;
  auto r = EncodeDeepCompression(codes.data(), codes.size(), Centroids(15));
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().ToString().find("code 16 at index 57 exceeds K = 15"), std::string::npos)
      << r.status().ToString();
  codes[57] = 15;
  EXPECT_TRUE(EncodeDeepCompression(codes.data(), codes.size(), Centroids(15)).ok());

  EXPECT_TRUE(EncodeDeepCompression(codes.data(), codes.size(), {}).status().IsInvalidArgument());
  const std::vector<uint16_t> zeros(100, 0);
  auto k0 = EncodeDeepCompression(zeros.data(), zeros.size(), {});
  ASSERT_TRUE(k0.status().IsInvalidArgument());
  EXPECT_NE(k0.status().ToString().find("K = 0"), std::string::npos);
  auto k256 = EncodeDeepCompression(zeros.data(), zeros.size(), Centroids(256));
  ASSERT_TRUE(k256.status().IsInvalidArgument());
  EXPECT_NE(k256.status().ToString().find("K = 256"), std::string::npos);

  EXPECT_TRUE(EncodeDeepCompression(codes.data(), 0, Centroids(15)).status().IsInvalidArgument());
  EXPECT_TRUE(EncodeDeepCompression(nullptr, 10, Centroids(15)).status().IsInvalidArgument());
  for (int bits : {-1, 1, 9, 16}) {
    EXPECT_TRUE(EncodeDeepCompression(codes.data(), codes.size(), Centroids(15), 19, bits)
                    .status()
                    .IsInvalidArgument())
        << bits;
  }
  EXPECT_TRUE(EncodeDeepCompression(codes.data(), codes.size(), Centroids(15), 1000)
                  .status()
                  .IsInvalidArgument());

  auto d = EncodeDeepCompression(codes.data(), codes.size(), Centroids(15));
  ASSERT_TRUE(d.ok());
  std::vector<float> out(codes.size());
  EXPECT_TRUE(DecodeDeepCompression(*d, out.data(), 0).IsInvalidArgument());
  EXPECT_TRUE(DecodeDeepCompression(*d, nullptr, out.size()).IsInvalidArgument());
}

// A layer built by hand from entry streams, to break one rule at a time.
DeepCompressedLayer Handmade(int bits, const std::vector<uint8_t>& gaps,
                             const std::vector<uint8_t>& codes, size_t k) {
  DeepCompressedLayer d;
  d.gap_bits = bits;
  d.entries = gaps.size();
  d.gaps = Frame(gaps);
  d.codes = Frame(codes);
  d.codebook = Centroids(k);
  return d;
}

TEST(DeepCompressionTest, RejectsLayersThatBreakTheLayout) {
  std::vector<float> out(20);
  auto decode = [&](const DeepCompressedLayer& d) {
    std::fill(out.begin(), out.end(), 7.0f);
    const Status s = DecodeDeepCompression(d, out.data(), out.size());
    if (!s.ok()) {  // nothing was written
      EXPECT_EQ(out, std::vector<float>(20, 7.0f)) << s.ToString();
    }
    return s;
  };
  // The reference: entries (1, 2), (3, 0) filler, (3, 1) decode fine.
  const DeepCompressedLayer good = Handmade(2, {1, 3, 3}, {2, 0, 1}, 2);
  ASSERT_TRUE(decode(good).ok());

  EXPECT_TRUE(decode(Handmade(2, {1, 4}, {2, 1}, 2)).IsCorruption());        // gap > 2^b - 1
  EXPECT_TRUE(decode(Handmade(2, {1, 3}, {2, 3}, 2)).IsCorruption());        // code > K
  EXPECT_TRUE(decode(Handmade(2, {1, 2, 3}, {2, 0, 1}, 2)).IsCorruption());  // short filler
  EXPECT_TRUE(decode(Handmade(2, {1, 3}, {2, 0}, 2)).IsCorruption());        // ends in a filler
  EXPECT_TRUE(decode(Handmade(8, {19}, {1}, 2)).ok());                       // the last position
  EXPECT_TRUE(decode(Handmade(8, {20}, {1}, 2)).IsCorruption());             // past n
  EXPECT_TRUE(decode(Handmade(8, {10, 9}, {1, 1}, 2)).IsCorruption());       // past n

  DeepCompressedLayer d = good;
  d.gap_bits = 1;
  EXPECT_TRUE(decode(d).IsCorruption());
  d.gap_bits = 9;
  EXPECT_TRUE(decode(d).IsCorruption());
  d = good;
  d.codebook.clear();
  EXPECT_TRUE(decode(d).IsCorruption());
  d.codebook = Centroids(256);
  EXPECT_TRUE(decode(d).IsCorruption());
  d = good;
  d.entries = 2;  // the frames hold 3 bytes
  EXPECT_TRUE(decode(d).IsCorruption());
  d.entries = 4;
  EXPECT_TRUE(decode(d).IsCorruption());
  d.entries = 21;  // more entries than weights: refused before any allocation
  EXPECT_TRUE(decode(d).IsCorruption());
  d.entries = uint64_t{1} << 62;
  EXPECT_TRUE(decode(d).IsCorruption());
  d = good;
  std::swap(d.gaps, d.codes);  // frames of the right size, wrong content
  EXPECT_TRUE(decode(d).IsCorruption());
}

TEST(DeepCompressionTest, TruncatedOrDamagedFramesAreRejectedOrHarmless) {
  const std::vector<uint16_t> codes = RandomCodes(20000, 0.03, 15, 21);
  const std::vector<float> expected = Dense(codes, Centroids(15));
  const DeepCompressedLayer good = RoundTrip(codes, Centroids(15));
  std::vector<float> out(codes.size());
  for (bool gaps_frame : {true, false}) {
    SCOPED_TRACE(gaps_frame ? "gaps frame" : "codes frame");
    const size_t size = (gaps_frame ? good.gaps : good.codes).size();
    // Every truncation, to nothing included, is an error.
    for (size_t keep = 0; keep < size; ++keep) {
      DeepCompressedLayer d = good;
      (gaps_frame ? d.gaps : d.codes).resize(keep);
      EXPECT_TRUE(DecodeDeepCompression(d, out.data(), out.size()).IsCorruption()) << keep;
    }
    // So is a damaged magic number, and trailing bytes after the frame.
    {
      DeepCompressedLayer d = good;
      (gaps_frame ? d.gaps : d.codes)[0] ^= 0xFF;
      EXPECT_TRUE(DecodeDeepCompression(d, out.data(), out.size()).IsCorruption());
      d = good;
      (gaps_frame ? d.gaps : d.codes).push_back(0);
      EXPECT_TRUE(DecodeDeepCompression(d, out.data(), out.size()).IsCorruption());
    }
    // A flipped bit anywhere never crashes (ASan builds check the memory accesses); the
    // frames carry no checksum, so some flips decode to other valid entries.
    size_t rejected = 0;
    for (size_t byte = 0; byte < size; ++byte) {
      for (int bit : {0, 3, 7}) {
        DeepCompressedLayer d = good;
        (gaps_frame ? d.gaps : d.codes)[byte] ^= static_cast<uint8_t>(1u << bit);
        const Status s = DecodeDeepCompression(d, out.data(), out.size());
        if (!s.ok()) {
          EXPECT_TRUE(s.IsCorruption()) << s.ToString();
          ++rejected;
        }
      }
    }
    EXPECT_GT(rejected, 0u);
  }
  ASSERT_TRUE(DecodeDeepCompression(good, out.data(), out.size()).ok());
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace baselines
}  // namespace weightless
