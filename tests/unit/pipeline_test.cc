// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The reference trainer's methodology and levers: the validation split is disjoint from
// training, an encoded layer's codes (false positives included) never change while its
// centroids train and the file decodes to exactly the model's weights, the input
// energies are what they claim, and the automatic choice of K and t respects its floor.

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "idx.h"
#include "layer_encoding.h"
#include "network.h"
#include "session.h"
#include "trainer_test_util.h"
#include "weightless/encoder.h"
#include "weightless/simplify.h"

namespace wltrain {
namespace {

TEST(ValidationSplitTest, DisjointFromTrainingAndFixedBySeed) {
  Split train = RandomSplit(600, 1);
  std::set<std::vector<float>> all;
  for (size_t i = 0; i < train.count(); ++i) {
    all.emplace(train.images.begin() + i * 784, train.images.begin() + (i + 1) * 784);
  }
  ASSERT_EQ(all.size(), 600u) << "the images must be distinct for this test";
  Split again = train;
  auto validation = CarveValidation(&train, 100, 7);
  ASSERT_TRUE(validation.ok()) << validation.status().ToString();
  EXPECT_EQ(validation->count(), 100u);
  EXPECT_EQ(train.count(), 500u);
  std::set<std::vector<float>> training, held_out;
  for (size_t i = 0; i < train.count(); ++i) {
    training.emplace(train.images.begin() + i * 784, train.images.begin() + (i + 1) * 784);
  }
  for (size_t i = 0; i < validation->count(); ++i) {
    const std::vector<float> image(validation->images.begin() + i * 784,
                                   validation->images.begin() + (i + 1) * 784);
    EXPECT_EQ(training.count(image), 0u) << "validation example " << i << " is also trained on";
    held_out.insert(image);
  }
  EXPECT_EQ(held_out.size() + training.size(), 600u) << "examples lost or duplicated";
  auto same = CarveValidation(&again, 100, 7);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->images, validation->images) << "the split must be fixed by the seed";
  EXPECT_EQ(same->labels, validation->labels);
  EXPECT_FALSE(CarveValidation(&again, 0, 7).ok());
  EXPECT_FALSE(CarveValidation(&again, 500, 7).ok()) << "nothing left to train on";
}

TEST(InputEnergyTest, MeanSquaredInputPerColumn) {
  Network net(Network::Architecture::kLeNet300100, 3);
  Split data = RandomSplit(40, 2);
  // fc1's input is the image: its energy is the mean square of each pixel.
  const std::vector<float> e = net.InputEnergy(data, 30, 0);
  ASSERT_EQ(e.size(), 784u);
  for (size_t c = 0; c < 784; c += 97) {
    double sum = 0;
    for (size_t i = 0; i < 30; ++i)
      sum += double{data.images[i * 784 + c]} * data.images[i * 784 + c];
    EXPECT_NEAR(e[c], sum / 30, 1e-5) << "column " << c;
  }
  // conv1 of LeNet-5: column (0, ky, kx) averages pixel (y + ky, x + kx)^2 over every
  // output position (y, x) of the 24x24 map.
  Network conv(Network::Architecture::kLeNet5, 3);
  const std::vector<float> ec = conv.InputEnergy(data, 10, 0);
  ASSERT_EQ(ec.size(), 25u);
  for (int ky : {0, 2, 4}) {
    for (int kx : {0, 3}) {
      double sum = 0;
      for (size_t i = 0; i < 10; ++i) {
        for (int y = 0; y < 24; ++y) {
          for (int x = 0; x < 24; ++x) {
            const float p = data.images[i * 784 + (y + ky) * 28 + x + kx];
            sum += double{p} * p;
          }
        }
      }
      EXPECT_NEAR(ec[ky * 5 + kx], sum / (10 * 576), 1e-5);
    }
  }
  EXPECT_EQ(conv.InputEnergy(data, 10, 1).size(), 500u);  // conv2: 20 channels x 5 x 5
}

// A small session on random data with every layer pruned and shared.
struct SmallSession {
  PipelineOptions options;
  std::unique_ptr<Session> session;

  explicit SmallSession(int retrain_epochs) {
    options.retrain_epochs = retrain_epochs;
    options.seeds = 2;
    options.threads = 1;
    options.progress = false;
    options.calibration = 64;
    options.train.learning_rate = 0.05f;
    Dataset d;
    d.train = RandomSplit(300, 11);
    d.validation = RandomSplit(100, 12);
    d.test = RandomSplit(10, 13);
    session = std::make_unique<Session>(options, std::move(d));
    for (WeightLayer& l : session->net.layers()) {
      auto mask = weightless::PruneByMagnitude(l.w.data(), l.size(), 0.1);
      std::vector<float> kept;
      std::vector<size_t> where;
      for (size_t i = 0; i < l.size(); ++i) {
        if ((*mask)[i]) {
          kept.push_back(l.w.data()[i]);
          where.push_back(i);
        }
      }
      auto c = weightless::ShareWeights(kept.data(), kept.size(), 8);
      l.codes.assign(l.size(), 0);
      for (size_t j = 0; j < where.size(); ++j) l.codes[where[j]] = c->codes[j];
      l.centroids = c->centroids;
      l.Constrain();
    }
  }
};

TEST(CentroidTrainingTest, CodesAndFalsePositivesStayWhileCentroidsTrain) {
  SmallSession s(1);
  Session& session = *s.session;
  auto step = EncodeAndRetrain(session, 0, LayerChoice{8, 5}, false);
  ASSERT_TRUE(step.ok()) << step.status().ToString();
  const WeightLayer& fc1 = session.net.layers()[0];
  ASSERT_GT(step->layer.stats.false_positives, 100u);
  auto table_codes = weightless::DecodeLayerCodes(step->layer, 1);
  ASSERT_TRUE(table_codes.ok());
  EXPECT_EQ(fc1.codes, *table_codes) << "the layer must compute with the table's codes";
  EXPECT_NE(fc1.centroids, step->layer.centroids()) << "centroids did not train";
  // More training (as after the later layers are encoded): codes never move.
  session.Epochs(1, "more");
  EXPECT_EQ(fc1.codes, *table_codes) << "a code or a false-positive position changed";
  // The file stores the trained centroids with the same table: it decodes to exactly
  // the model's weights.
  auto trained = step->layer.section.WithCentroids(fc1.centroids, step->layer.section.info().stats);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  step->layer.section = *trained;
  std::vector<float> decoded(fc1.size());
  ASSERT_TRUE(weightless::DecodeLayer(step->layer, decoded.data(), 1).ok());
  for (size_t i = 0; i < fc1.size(); ++i) {
    ASSERT_EQ(decoded[i], fc1.w.data()[i]) << "weight " << i;
  }
}

TEST(CentroidTrainingTest, APrunedLayerIsSharedFromItsKeptWeightsWhenItsTurnComes) {
  SmallSession s(1);
  WeightLayer& fc2 = s.session->net.layers()[1];
  UnshareKeepingMask(&fc2);  // as after step 3: kept weights train freely
  ASSERT_FALSE(fc2.shared());
  const std::vector<uint8_t> mask = fc2.mask;
  size_t kept = 0;
  for (uint8_t m : mask) kept += m;
  s.session->Epochs(1, "free");
  for (size_t i = 0; i < fc2.size(); ++i) {
    if (!mask[i]) {
      ASSERT_EQ(fc2.w.data()[i], 0.0f) << "a pruned weight of a free layer moved";
    }
  }
  auto step = EncodeAndRetrain(*s.session, 1, LayerChoice{4, 6}, false);
  ASSERT_TRUE(step.ok()) << step.status().ToString();
  EXPECT_EQ(step->layer.stats.kept, kept);
  EXPECT_EQ(step->layer.stats.clusters, 4u);
  EXPECT_EQ(step->kept, mask) << "the table's keys must be the pruning mask";
  auto codes = weightless::DecodeLayerCodes(step->layer, 1);
  ASSERT_TRUE(codes.ok());
  EXPECT_EQ(fc2.codes, *codes);
  EXPECT_TRUE(fc2.mask.empty());
  // The automatic choice restores an unshared start between candidates: every candidate
  // sees the same pruned layer.
  SmallSession t(1);
  UnshareKeepingMask(&t.session->net.layers()[1]);
  auto chosen = EncodeWithinBudget(*t.session, 1, false, 101.0, 2);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->layer.stats.kept, kept);
}

TEST(CentroidTrainingTest, FreezeEncodedKeepsTheWholeLayer) {
  SmallSession s(1);
  s.options.freeze_encoded = true;
  auto step = EncodeAndRetrain(*s.session, 0, LayerChoice{8, 5}, false);
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(s.session->net.layers()[0].centroids, step->layer.centroids());
}

TEST(AutomaticChoiceTest, CandidatesGrowInSize) {
  const auto c = CandidateChoices(235200, 7000, weightless::RetrievalKind::kRibbon, false, false);
  ASSERT_GE(c.size(), 10u);
  for (size_t i = 1; i < c.size(); ++i) {
    EXPECT_LE(
        EstimatedLayerBits(235200, 7000, c[i - 1], weightless::RetrievalKind::kRibbon, false,
                           false),
        EstimatedLayerBits(235200, 7000, c[i], weightless::RetrievalKind::kRibbon, false, false));
    EXPECT_GT(1u << c[i].t, c[i].clusters + 1) << "t leaves no code for a true zero";
  }
  // Packed codes forced: one candidate per K.
  EXPECT_EQ(CandidateChoices(1000, 200, weightless::RetrievalKind::kRibbon, true, true).size(), 3u);
}

TEST(AutomaticChoiceTest, KeepsTheSmallestCandidateMeetingTheFloor) {
  const auto candidates =
      CandidateChoices(235200, 23520, weightless::RetrievalKind::kRibbon, false, false);
  // The validation accuracy each of the first candidates reaches from the same state.
  std::vector<double> reached;
  for (size_t i = 0; i < 3; ++i) {
    SmallSession s(1);
    auto step = EncodeAndRetrain(*s.session, 0, candidates[i], false);
    ASSERT_TRUE(step.ok());
    reached.push_back(step->validation_after);
  }
  // A floor nothing reaches: the most accurate of those tried.
  {
    SmallSession s(1);
    auto step = EncodeWithinBudget(*s.session, 0, false, 101.0, 3);
    ASSERT_TRUE(step.ok());
    EXPECT_EQ(step->validation_after, *std::max_element(reached.begin(), reached.end()));
  }
  // Any floor: the first candidate (in size order) that reaches it, else the best.
  for (double floor : {0.0, reached[1], reached[2]}) {
    SmallSession s(1);
    auto step = EncodeWithinBudget(*s.session, 0, false, floor, 3);
    ASSERT_TRUE(step.ok());
    size_t expected = 0;
    while (expected < 3 && reached[expected] < floor) ++expected;
    ASSERT_LT(expected, 3u);
    EXPECT_EQ(step->layer.stats.clusters, candidates[expected].clusters) << "floor " << floor;
    EXPECT_EQ(step->layer.stats.value_bits, candidates[expected].t) << "floor " << floor;
    EXPECT_GE(step->validation_after, floor);
  }
}

}  // namespace
}  // namespace wltrain
