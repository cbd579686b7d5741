// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The reference trainer's core: the IDX reader refuses malformed data clearly, training
// honours masks, sharing and freezing, and the hand-written backward pass agrees with
// finite differences of the loss in every layer.

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "idx.h"
#include "network.h"
#include "trainer_test_util.h"

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

// Gradient checks: Network::Loss fills grad_w and grad_b by the hand-written backward pass
// (the code TrainEpoch runs); each sampled coordinate is compared with the central
// difference (L(v + h) - L(v - h)) / 2h of Loss itself.
constexpr size_t kBatch = 3;
// The loss is a float near ln 10 (ulp 2.4e-7): rounding it alone puts up to 1.2e-4 of noise
// in a central difference at this step; a larger step meets more ReLU and max-pool switches.
constexpr float kStep = 1e-3f;
constexpr double kAbsTolerance = 5e-4;
constexpr double kRelTolerance = 0.05;
// A perturbation that switches a ReLU or moves a max-pool argmax inside [v - h, v + h]
// bends the loss and biases its difference: about 7% of conv1's weights (each moves 1728
// conv outputs in 432 pooling windows) and 3% of its biases at kStep, under 2% elsewhere
// (measured over 30 seeds). A wrong backward pass (a missing ReLU mask, misrouted pooling,
// a shifted col2im, a gradient scaled by the batch size) moves most coordinates, so up to a
// quarter of a tensor's may disagree.
constexpr double kMaxDisagreeing = 0.25;
constexpr size_t kSampledWeights = 40;
constexpr size_t kSampledBiases = 100;  // all of every layer but the first dense ones

// The central difference of `loss` in the parameter at `value`, over the step as rounded.
template <typename LossFn>
double CentralDifference(float* value, LossFn loss) {
  const float v = *value, plus = v + kStep, minus = v - kStep;
  *value = plus;
  const double up = loss();
  *value = minus;
  const double down = loss();
  *value = v;
  return (up - down) / (static_cast<double>(plus) - static_cast<double>(minus));
}

// `count` indices of a tensor of `size` in increasing order, or all when it is no larger.
std::vector<size_t> SampleIndices(size_t size, size_t count, std::mt19937_64& rng) {
  std::vector<size_t> all(size), sample;
  std::iota(all.begin(), all.end(), size_t{0});
  std::sample(all.begin(), all.end(), std::back_inserter(sample), count, rng);
  return sample;
}

// Collects analytic and numeric derivatives of one tensor and judges their agreement.
class GradientAgreement {
 public:
  explicit GradientAgreement(std::string tensor) : tensor_(std::move(tensor)) {}

  void Add(size_t index, double analytic, double numeric) {
    ++checked_;
    if (std::fabs(numeric) > 2 * kAbsTolerance) ++telling_;  // a zero analytic one would fail
    const double scale = std::max(std::fabs(analytic), std::fabs(numeric));
    if (std::fabs(analytic - numeric) > kAbsTolerance + kRelTolerance * scale) {
      ++disagreeing_;
      disagreements_ << "\n  [" << index << "] analytic " << analytic << ", numeric " << numeric;
    }
  }

  void Expect() const {
    EXPECT_LE(static_cast<double>(disagreeing_), kMaxDisagreeing * static_cast<double>(checked_))
        << tensor_ << ": " << disagreeing_ << " of " << checked_
        << " derivatives disagree with central differences:" << disagreements_.str();
    // A derivative within the tolerance of zero (a unit dead for the whole batch) checks
    // nothing; LeNet-300-100's fc2 has the fewest telling ones, about 30%.
    EXPECT_GE(5 * telling_, checked_) << tensor_ << ": only " << telling_ << " of " << checked_
                                      << " derivatives are far enough from zero to tell";
  }

 private:
  std::string tensor_;
  size_t checked_ = 0, disagreeing_ = 0, telling_ = 0;
  std::ostringstream disagreements_;
};

class GradientCheckTest : public ::testing::TestWithParam<Network::Architecture> {
 protected:
  // One OpenMP thread: a batch of three gains nothing from more, and threads spinning on a
  // loaded machine made the LeNet-5 check several times slower.
  void SetUp() override {
#ifdef _OPENMP
    threads_ = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
  }
  void TearDown() override {
#ifdef _OPENMP
    omp_set_num_threads(threads_);
#endif
  }

 private:
  int threads_ = 1;
};

INSTANTIATE_TEST_SUITE_P(Models, GradientCheckTest,
                         ::testing::Values(Network::Architecture::kLeNet300100,
                                           Network::Architecture::kLeNet5),
                         [](const ::testing::TestParamInfo<Network::Architecture>& model) {
                           return model.param == Network::Architecture::kLeNet5 ? "LeNet5"
                                                                                : "LeNet300100";
                         });

TEST_P(GradientCheckTest, BackwardMatchesCentralDifferencesInEveryLayer) {
  Network net(GetParam(), 11);
  const Split batch = RandomSplit(kBatch, 12);
  const auto loss = [&] {
    return net.Loss(batch.images.data(), batch.labels.data(), kBatch, false);
  };
  const float with_gradients = net.Loss(batch.images.data(), batch.labels.data(), kBatch, true);
  EXPECT_EQ(with_gradients, loss()) << "asking for gradients changed the loss";
  std::mt19937_64 rng(13);
  for (WeightLayer& layer : net.layers()) {
    const Matrix grad_w = layer.grad_w;
    const Vector grad_b = layer.grad_b;
    const std::string name = std::string(ArchitectureName(GetParam())) + " " + layer.name;
    GradientAgreement weights(name + " weights");
    for (size_t i : SampleIndices(layer.size(), kSampledWeights, rng)) {
      weights.Add(i, grad_w.data()[i], CentralDifference(layer.w.data() + i, loss));
    }
    weights.Expect();
    GradientAgreement biases(name + " biases");
    for (size_t i : SampleIndices(static_cast<size_t>(layer.b.size()), kSampledBiases, rng)) {
      biases.Add(i, grad_b.data()[i], CentralDifference(layer.b.data() + i, loss));
    }
    biases.Expect();
  }
}

// A pruned layer's kept weights follow the gradient of the loss with the pruned ones held at
// zero, and a shared layer's centroid the sum of its weights' gradients (what Step applies).
TEST_P(GradientCheckTest, PrunedWeightsAndSharedCentroidsMatchCentralDifferences) {
  Network net(GetParam(), 21);
  std::vector<WeightLayer>& layers = net.layers();
  WeightLayer& pruned = layers[1];  // fc2, or conv2
  pruned.mask.assign(pruned.size(), 0);
  for (size_t i = 0; i < pruned.size(); i += 10) pruned.mask[i] = 1;
  pruned.Constrain();
  WeightLayer& shared = layers.back();
  shared.centroids = {-0.1f, -0.05f, 0.05f, 0.1f};
  shared.codes.resize(shared.size());
  std::mt19937 code_rng(22);
  for (uint16_t& c : shared.codes) c = static_cast<uint16_t>(code_rng() % 5);
  shared.Constrain();

  const Split batch = RandomSplit(kBatch, 23);
  const auto loss = [&] {
    return net.Loss(batch.images.data(), batch.labels.data(), kBatch, false);
  };
  net.Loss(batch.images.data(), batch.labels.data(), kBatch, true);
  const std::string name = ArchitectureName(GetParam());

  std::vector<size_t> kept;
  for (size_t i = 0; i < pruned.size(); ++i) {
    if (pruned.mask[i]) kept.push_back(i);
  }
  std::mt19937_64 rng(24);
  const Matrix pruned_grad = pruned.grad_w;
  GradientAgreement kept_weights(name + " pruned " + pruned.name + " kept weights");
  for (size_t k : SampleIndices(kept.size(), kSampledWeights, rng)) {
    const size_t i = kept[k];
    kept_weights.Add(i, pruned_grad.data()[i], CentralDifference(pruned.w.data() + i, loss));
  }
  kept_weights.Expect();

  std::vector<double> centroid_grad(shared.centroids.size(), 0.0);
  for (size_t i = 0; i < shared.size(); ++i) {
    if (shared.codes[i]) centroid_grad[shared.codes[i] - 1] += shared.grad_w.data()[i];
  }
  GradientAgreement centroids(name + " shared " + shared.name + " centroids");
  for (size_t c = 0; c < shared.centroids.size(); ++c) {
    centroids.Add(c, centroid_grad[c], CentralDifference(&shared.centroids[c], [&] {
                    shared.Constrain();
                    return loss();
                  }));
    shared.Constrain();
  }
  centroids.Expect();
}

// Central differences cannot see a loss and a gradient that are wrong together (say both
// summed, not averaged, over the batch): with all parameters zero the logits are zero, so
// the loss is ln 10 and the last bias's gradient is 0.1 minus the share of each label.
TEST(LossTest, IsTheMeanCrossEntropyAndMakesNoUpdate) {
  for (Network::Architecture architecture :
       {Network::Architecture::kLeNet300100, Network::Architecture::kLeNet5}) {
    Network net(architecture, 31);
    for (WeightLayer& layer : net.layers()) {
      layer.w.setZero();
      layer.b.setZero();
    }
    const Split batch = RandomSplit(kBatch, 32);
    EXPECT_FLOAT_EQ(net.Loss(batch.images.data(), batch.labels.data(), kBatch, true),
                    std::log(10.0f));
    const WeightLayer& last = net.layers().back();
    for (int j = 0; j < 10; ++j) {
      const double share =
          static_cast<double>(std::count(batch.labels.begin(), batch.labels.end(), j)) / kBatch;
      EXPECT_NEAR(last.grad_b(j), 0.1 - share, 1e-6) << ArchitectureName(architecture);
    }
    for (const WeightLayer& layer : net.layers()) {
      EXPECT_TRUE(layer.w.isZero(0) && layer.b.isZero(0) && layer.velocity_w.isZero(0) &&
                  layer.velocity_b.isZero(0))
          << layer.name << " was updated";
    }
  }
}

}  // namespace
}  // namespace wltrain
