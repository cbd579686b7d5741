// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// A small feed-forward network trainer on Eigen: dense and convolution layers (im2col),
// ReLU, 2x2 max-pooling, softmax cross-entropy, SGD with momentum. Each weight layer
// can be masked (pruned weights stay zero), shared (weights are centroids[code] and
// training moves the centroids) or frozen (weights fixed, as after encoding); biases
// always train. Deterministic for a given seed and thread count.

#ifndef WEIGHTLESS_TOOLS_WL_TRAIN_NETWORK_H_
#define WEIGHTLESS_TOOLS_WL_TRAIN_NETWORK_H_

#include <Eigen/Dense>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "idx.h"

namespace wltrain {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;

// The weights of one dense or convolution layer. `w` has one row per output (unit or
// channel) and one column per input (fan-in), which is the row-major layout the file
// stores: dense [out, in], convolution [out, in, k, k].
struct WeightLayer {
  std::string name;
  std::vector<uint64_t> shape;
  Matrix w, grad_w, velocity_w;
  Vector b, grad_b, velocity_b;
  std::vector<uint8_t> mask;     // empty: dense; else 1 = kept, 0 = pruned
  std::vector<uint16_t> codes;   // shared: code per weight (0 = pruned), else empty
  std::vector<float> centroids;  // shared: K centroids
  bool frozen = false;           // weights fixed (biases still train)

  size_t size() const { return static_cast<size_t>(w.size()); }
  bool shared() const { return !codes.empty(); }
  // Re-applies the mask / sharing to w (after an update or after loading).
  void Constrain();
};

struct TrainOptions {
  float learning_rate = 0.05f;
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  float centroid_learning_rate = 0.001f;  // shared layers: step per summed gradient
  int batch = 64;
  bool progress = true;  // draw a progress bar on a terminal
  std::string label;     // shown before the bar
};

class Network {
 public:
  enum class Architecture { kLeNet300100, kLeNet5 };
  Network(Architecture architecture, uint64_t seed);

  Architecture architecture() const { return architecture_; }
  std::vector<WeightLayer>& layers() { return weights_; }
  const std::vector<WeightLayer>& layers() const { return weights_; }
  size_t parameter_count() const;

  // One epoch of SGD over `train` in an order drawn from `rng`. Returns the mean loss.
  float TrainEpoch(const Split& train, const TrainOptions& options, std::mt19937_64& rng);
  // Mean softmax cross-entropy of the `count` examples starting at images (count x features,
  // row-major) with their labels; when `gradients` is true, also fills every layer's grad_w
  // and grad_b with the gradient of that mean loss (no update is made).
  float Loss(const float* images, const uint8_t* labels, size_t count, bool gradients);
  // Examples of `test` classified correctly.
  size_t CountCorrect(const Split& test) const;
  // The mean squared input of each column of weight layer `layer` (E[x_c^2], one value
  // per fan-in column of its weight matrix) over the first `count` examples of `data`
  // (all when fewer): for a dense layer its input vector, for a convolution the rows of
  // its im2col matrix (input channel x kernel position) over every output position.
  // A false positive at (r, c) adds centroid^2 * E[x_c^2] to the expected squared error
  // of output r.
  std::vector<float> InputEnergy(const Split& data, size_t count, size_t layer) const;

 private:
  struct Op {
    enum Kind { kDense, kConv, kReLU, kMaxPool } kind;
    int layer = -1;                       // index into weights_ (dense, conv)
    int in_c = 0, in_h = 0, in_w = 0;     // input geometry (conv, pool)
    int out_c = 0, out_h = 0, out_w = 0;  // output geometry
    int k = 0;                            // conv kernel size
  };
  struct Cache;  // activations of one batch, for backward

  Matrix Forward(const Matrix& x, Cache* cache) const;
  void Backward(const Matrix& grad_logits, Cache* cache);
  void Step(const TrainOptions& options);
  // What Loss and TrainEpoch share: adds each row's loss to *loss_sum in turn (TrainEpoch
  // keeps one running sum over the epoch), then, when `gradients`, runs Backward.
  void AddLoss(const Matrix& x, const uint8_t* labels, bool gradients, Cache* cache,
               double* loss_sum);

  Architecture architecture_;
  std::vector<WeightLayer> weights_;
  std::vector<Op> ops_;
};

const char* ArchitectureName(Network::Architecture a);

}  // namespace wltrain

#endif  // WEIGHTLESS_TOOLS_WL_TRAIN_NETWORK_H_
