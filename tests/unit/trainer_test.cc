// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The reference trainer's core: the IDX reader refuses malformed data clearly, and
// training honours masks, sharing and freezing.

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "idx.h"
#include "network.h"

namespace wltrain {
namespace {

namespace fs = std::filesystem;

void Put32(std::vector<uint8_t>* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<uint8_t>(v >> s));
}

// Writes an IDX directory of `n` random 28x28 images per split; gzip when asked.
std::string MakeIdxDir(const std::string& name, uint32_t n, bool gzip) {
  const fs::path dir = fs::temp_directory_path() / ("wl_idx_" + name + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::mt19937 rng(1);
  for (const char* split : {"train", "t10k"}) {
    std::vector<uint8_t> images, labels;
    Put32(&images, 0x803);
    Put32(&images, n);
    Put32(&images, 28);
    Put32(&images, 28);
    for (uint32_t i = 0; i < n * 784; ++i) images.push_back(static_cast<uint8_t>(rng()));
    Put32(&labels, 0x801);
    Put32(&labels, n);
    for (uint32_t i = 0; i < n; ++i) labels.push_back(static_cast<uint8_t>(rng() % 10));
    for (auto& [suffix, bytes] : std::vector<std::pair<std::string, std::vector<uint8_t>*>>{
             {"-images-idx3-ubyte", &images}, {"-labels-idx1-ubyte", &labels}}) {
      const std::string path = (dir / (split + suffix)).string() + (gzip ? ".gz" : "");
      if (gzip) {
        gzFile f = gzopen(path.c_str(), "wb");
        gzwrite(f, bytes->data(), static_cast<unsigned>(bytes->size()));
        gzclose(f);
      } else {
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes->data()),
                   static_cast<std::streamsize>(bytes->size()));
      }
    }
  }
  return dir.string();
}

TEST(IdxTest, ReadsRawAndGzipAndHonoursLimits) {
  for (bool gzip : {false, true}) {
    const std::string dir = MakeIdxDir(gzip ? "gz" : "raw", 50, gzip);
    auto d = LoadIdxDataset(dir, 20, 0);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->train.count(), 20u);
    EXPECT_EQ(d->test.count(), 50u);
    EXPECT_EQ(d->train.images.size(), 20u * 784);
    for (float p : d->train.images) ASSERT_TRUE(p >= 0 && p <= 1);
    fs::remove_all(dir);
  }
}

TEST(IdxTest, RefusesMissingAndMalformedFilesClearly) {
  auto missing = LoadIdxDataset("/nonexistent/dir", 0, 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().ToString().find("train-images-idx3-ubyte"), std::string::npos);

  const std::string dir = MakeIdxDir("bad", 10, false);
  const std::string images = dir + "/train-images-idx3-ubyte";
  {  // wrong magic
    std::fstream f(images, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put(0x01);
  }
  auto bad_magic = LoadIdxDataset(dir, 0, 0);
  ASSERT_FALSE(bad_magic.ok());
  EXPECT_NE(bad_magic.status().ToString().find("magic 0x00000803"), std::string::npos);
  {  // truncated
    std::fstream f(images, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put(0x03);
  }
  fs::resize_file(images, 16 + 5 * 784);
  auto truncated = LoadIdxDataset(dir, 0, 0);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().ToString().find("header says 10 images"), std::string::npos)
      << truncated.status().ToString();
  fs::remove_all(dir);
}

Split RandomSplit(size_t n, uint64_t seed) {
  Split s;
  s.rows = s.cols = 28;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  s.images.resize(n * 784);
  for (float& p : s.images) p = u(rng);
  s.labels.resize(n);
  for (uint8_t& l : s.labels) l = static_cast<uint8_t>(rng() % 10);
  return s;
}

class TrainingConstraintsTest : public ::testing::TestWithParam<Network::Architecture> {};

INSTANTIATE_TEST_SUITE_P(Models, TrainingConstraintsTest,
                         ::testing::Values(Network::Architecture::kLeNet300100,
                                           Network::Architecture::kLeNet5));

TEST_P(TrainingConstraintsTest, FrozenStayFrozenPrunedStayPrunedSharedStayShared) {
  Network net(GetParam(), 3);
  std::vector<WeightLayer>& layers = net.layers();
  // Layer 0 frozen, layer 1 pruned to 10%, the last layer shared with 4 centroids.
  layers[0].frozen = true;
  const Matrix frozen = layers[0].w;
  WeightLayer& pruned = layers[1];
  pruned.mask.assign(pruned.size(), 0);
  for (size_t i = 0; i < pruned.size(); i += 10) pruned.mask[i] = 1;
  pruned.Constrain();
  WeightLayer& shared = layers.back();
  shared.codes.assign(shared.size(), 0);
  shared.centroids = {-0.1f, -0.05f, 0.05f, 0.1f};
  // Random codes (a pattern aligned with rows would make the last layer's per-centroid
  // gradient sums vanish: softmax gradients sum to zero over the outputs).
  std::mt19937 code_rng(4);
  for (uint16_t& c : shared.codes) c = static_cast<uint16_t>(code_rng() % 5);
  shared.Constrain();
  const Vector bias_before = layers[0].b;

  const Split train = RandomSplit(256, 5);
  TrainOptions options;
  options.progress = false;
  std::mt19937_64 rng(9);
  net.TrainEpoch(train, options, rng);

  EXPECT_EQ(layers[0].w, frozen) << "a frozen layer changed";
  EXPECT_NE(layers[0].b, bias_before) << "biases of frozen layers still train";
  for (size_t i = 0; i < pruned.size(); ++i) {
    if (!pruned.mask[i]) {
      ASSERT_EQ(pruned.w.data()[i], 0.0f) << "pruned weight " << i << " moved";
    }
  }
  std::set<float> values(shared.w.data(), shared.w.data() + shared.size());
  EXPECT_LE(values.size(), 5u) << "a shared layer left its centroids";
  EXPECT_NE(shared.centroids[0], -0.1f) << "centroids did not train";
}

}  // namespace
}  // namespace wltrain
