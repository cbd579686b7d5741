// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "network.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "weightless/simplify.h"

namespace wltrain {

namespace {

int ThreadCount() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int ThreadIndex() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// im2col for one image: cols (in_c*k*k) x (out_h*out_w), stride 1, no padding.
void Im2Col(const float* image, int in_c, int in_h, int in_w, int k, Matrix* cols) {
  const int out_h = in_h - k + 1, out_w = in_w - k + 1;
  cols->resize(static_cast<Eigen::Index>(in_c) * k * k, static_cast<Eigen::Index>(out_h) * out_w);
  for (int c = 0; c < in_c; ++c) {
    for (int ky = 0; ky < k; ++ky) {
      for (int kx = 0; kx < k; ++kx) {
        float* row = cols->row((c * k + ky) * k + kx).data();
        for (int y = 0; y < out_h; ++y) {
          const float* src = image + (c * in_h + y + ky) * in_w + kx;
          std::copy(src, src + out_w, row + y * out_w);
        }
      }
    }
  }
}

// The adjoint of Im2Col: adds cols back into the image gradient.
void Col2ImAdd(const Matrix& cols, int in_c, int in_h, int in_w, int k, float* image) {
  const int out_h = in_h - k + 1, out_w = in_w - k + 1;
  for (int c = 0; c < in_c; ++c) {
    for (int ky = 0; ky < k; ++ky) {
      for (int kx = 0; kx < k; ++kx) {
        const float* row = cols.row((c * k + ky) * k + kx).data();
        for (int y = 0; y < out_h; ++y) {
          float* dst = image + (c * in_h + y + ky) * in_w + kx;
          for (int x = 0; x < out_w; ++x) dst[x] += row[y * out_w + x];
        }
      }
    }
  }
}

WeightLayer MakeLayer(const std::string& name, std::vector<uint64_t> shape, int out, int fan_in,
                      std::mt19937_64& rng) {
  WeightLayer l;
  l.name = name;
  l.shape = std::move(shape);
  // Xavier (Glorot) uniform, as Caffe's LeNet examples use.
  const int fan_out = static_cast<int>(l.shape[0]);
  const float a = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
  std::uniform_real_distribution<float> u(-a, a);
  l.w.resize(out, fan_in);
  for (Eigen::Index i = 0; i < l.w.size(); ++i) l.w.data()[i] = u(rng);
  l.b = Vector::Zero(out);
  l.grad_w = Matrix::Zero(out, fan_in);
  l.velocity_w = Matrix::Zero(out, fan_in);
  l.grad_b = Vector::Zero(out);
  l.velocity_b = Vector::Zero(out);
  return l;
}

}  // namespace

void WeightLayer::Constrain() {
  float* data = w.data();
  if (shared()) {
    for (size_t i = 0; i < size(); ++i) data[i] = codes[i] ? centroids[codes[i] - 1] : 0.0f;
  } else if (!mask.empty()) {
    for (size_t i = 0; i < size(); ++i) {
      if (!mask[i]) data[i] = 0.0f;
    }
  }
}

const char* ArchitectureName(Network::Architecture a) {
  return a == Network::Architecture::kLeNet300100 ? "LeNet-300-100" : "LeNet-5";
}

struct Network::Cache {
  std::vector<Matrix> inputs;                // input of each op
  std::vector<std::vector<Matrix>> cols;     // conv ops: im2col per image
  std::vector<std::vector<int32_t>> argmax;  // pool ops: source index per output
  Matrix output;
};

Network::Network(Architecture architecture, uint64_t seed) : architecture_(architecture) {
  std::mt19937_64 rng(seed);
  if (architecture == Architecture::kLeNet300100) {
    weights_.push_back(MakeLayer("fc1", {300, 784}, 300, 784, rng));
    weights_.push_back(MakeLayer("fc2", {100, 300}, 100, 300, rng));
    weights_.push_back(MakeLayer("fc3", {10, 100}, 10, 100, rng));
    ops_ = {{Op::kDense, 0}, {Op::kReLU}, {Op::kDense, 1}, {Op::kReLU}, {Op::kDense, 2}};
  } else {
    // Caffe's LeNet: conv 20@5x5, max-pool, conv 50@5x5, max-pool, fc 500, ReLU, fc 10.
    weights_.push_back(MakeLayer("conv1", {20, 1, 5, 5}, 20, 25, rng));
    weights_.push_back(MakeLayer("conv2", {50, 20, 5, 5}, 50, 500, rng));
    weights_.push_back(MakeLayer("fc1", {500, 800}, 500, 800, rng));
    weights_.push_back(MakeLayer("fc2", {10, 500}, 10, 500, rng));
    ops_ = {{Op::kConv, 0, 1, 28, 28, 20, 24, 24, 5},
            {Op::kMaxPool, -1, 20, 24, 24, 20, 12, 12},
            {Op::kConv, 1, 20, 12, 12, 50, 8, 8, 5},
            {Op::kMaxPool, -1, 50, 8, 8, 50, 4, 4},
            {Op::kDense, 2},
            {Op::kReLU},
            {Op::kDense, 3}};
  }
}

size_t Network::parameter_count() const {
  size_t n = 0;
  for (const WeightLayer& l : weights_) n += l.size() + static_cast<size_t>(l.b.size());
  return n;
}

Matrix Network::Forward(const Matrix& x, Cache* cache) const {
  Matrix a = x;
  const Eigen::Index batch = x.rows();
  if (cache) {
    cache->inputs.assign(ops_.size(), Matrix());
    cache->cols.assign(ops_.size(), {});
    cache->argmax.assign(ops_.size(), {});
  }
  for (size_t o = 0; o < ops_.size(); ++o) {
    const Op& op = ops_[o];
    if (cache) cache->inputs[o] = a;
    switch (op.kind) {
      case Op::kDense: {
        const WeightLayer& l = weights_[op.layer];
        Matrix y = a * l.w.transpose();
        y.rowwise() += l.b.transpose();
        a = std::move(y);
        break;
      }
      case Op::kReLU:
        a = a.cwiseMax(0.0f);
        break;
      case Op::kConv: {
        const WeightLayer& l = weights_[op.layer];
        const int spatial = op.out_h * op.out_w;
        Matrix y(batch, static_cast<Eigen::Index>(op.out_c) * spatial);
        if (cache) cache->cols[o].resize(batch);
#pragma omp parallel for schedule(static)
        for (Eigen::Index b = 0; b < batch; ++b) {
          Matrix local;
          Matrix& cols = cache ? cache->cols[o][b] : local;
          Im2Col(a.row(b).data(), op.in_c, op.in_h, op.in_w, op.k, &cols);
          Eigen::Map<Matrix> out(y.row(b).data(), op.out_c, spatial);
          out.noalias() = l.w * cols;
          out.colwise() += l.b;
        }
        a = std::move(y);
        break;
      }
      case Op::kMaxPool: {
        Matrix y(batch, static_cast<Eigen::Index>(op.out_c) * op.out_h * op.out_w);
        std::vector<int32_t>* arg = cache ? &cache->argmax[o] : nullptr;
        if (arg) arg->resize(static_cast<size_t>(y.size()));
        for (Eigen::Index b = 0; b < batch; ++b) {
          const float* in = a.row(b).data();
          for (int c = 0; c < op.out_c; ++c) {
            for (int yy = 0; yy < op.out_h; ++yy) {
              for (int xx = 0; xx < op.out_w; ++xx) {
                int best = (c * op.in_h + 2 * yy) * op.in_w + 2 * xx;
                for (int dy = 0; dy < 2; ++dy) {
                  for (int dx = 0; dx < 2; ++dx) {
                    const int idx = (c * op.in_h + 2 * yy + dy) * op.in_w + 2 * xx + dx;
                    if (in[idx] > in[best]) best = idx;
                  }
                }
                const Eigen::Index out_idx = (c * op.out_h + yy) * op.out_w + xx;
                y(b, out_idx) = in[best];
                if (arg) (*arg)[static_cast<size_t>(b * y.cols() + out_idx)] = best;
              }
            }
          }
        }
        a = std::move(y);
        break;
      }
    }
  }
  return a;
}

void Network::Backward(const Matrix& grad_logits, Cache* cache) {
  Matrix g = grad_logits;
  const Eigen::Index batch = g.rows();
  for (WeightLayer& l : weights_) {
    l.grad_w.setZero();
    l.grad_b.setZero();
  }
  for (size_t o = ops_.size(); o-- > 0;) {
    const Op& op = ops_[o];
    const Matrix& x = cache->inputs[o];
    switch (op.kind) {
      case Op::kDense: {
        WeightLayer& l = weights_[op.layer];
        l.grad_w.noalias() += g.transpose() * x;
        l.grad_b += g.colwise().sum().transpose();
        if (o > 0) g = g * l.w;
        break;
      }
      case Op::kReLU:
        g = g.cwiseProduct((x.array() > 0.0f).cast<float>().matrix());
        break;
      case Op::kConv: {
        WeightLayer& l = weights_[op.layer];
        const int spatial = op.out_h * op.out_w;
        const int threads = ThreadCount();
        std::vector<Matrix> grad_w(threads, Matrix::Zero(l.w.rows(), l.w.cols()));
        std::vector<Vector> grad_b(threads, Vector::Zero(l.b.size()));
        Matrix gx = Matrix::Zero(batch, x.cols());
        const bool need_input_grad = o > 0;
#pragma omp parallel for schedule(static)
        for (Eigen::Index b = 0; b < batch; ++b) {
          const int t = ThreadIndex();
          Eigen::Map<const Matrix> gy(g.row(b).data(), op.out_c, spatial);
          grad_w[t].noalias() += gy * cache->cols[o][b].transpose();
          grad_b[t] += gy.rowwise().sum();
          if (need_input_grad) {
            Matrix dcols = l.w.transpose() * gy;
            Col2ImAdd(dcols, op.in_c, op.in_h, op.in_w, op.k, gx.row(b).data());
          }
        }
        for (int t = 0; t < threads; ++t) {  // fixed order: deterministic
          l.grad_w += grad_w[t];
          l.grad_b += grad_b[t];
        }
        g = std::move(gx);
        break;
      }
      case Op::kMaxPool: {
        Matrix gx = Matrix::Zero(batch, x.cols());
        const std::vector<int32_t>& arg = cache->argmax[o];
        for (Eigen::Index b = 0; b < batch; ++b) {
          for (Eigen::Index j = 0; j < g.cols(); ++j) {
            gx(b, arg[static_cast<size_t>(b * g.cols() + j)]) += g(b, j);
          }
        }
        g = std::move(gx);
        break;
      }
    }
  }
}

void Network::Step(const TrainOptions& options) {
  for (WeightLayer& l : weights_) {
    l.velocity_b = options.momentum * l.velocity_b - options.learning_rate * l.grad_b;
    l.b += l.velocity_b;
    if (l.frozen) continue;
    if (l.shared()) {
      // Shared weights: each centroid moves by the summed gradient of its weights (the
      // library's update). The codes are in 0..K by construction (ShareWeights or the
      // table's DecodeLayerCodes), so the update cannot fail.
      const weightless::Status s = weightless::ApplyCentroidGradients(
          l.grad_w.data(), l.codes.data(), l.size(), options.centroid_learning_rate, &l.centroids);
      if (!s.ok()) {
        std::fprintf(stderr, "wl-train: internal error: %s: %s\n", l.name.c_str(),
                     s.ToString().c_str());
        std::abort();
      }
    } else {
      l.velocity_w = options.momentum * l.velocity_w -
                     options.learning_rate * (l.grad_w + options.weight_decay * l.w);
      l.w += l.velocity_w;
    }
    l.Constrain();
  }
}

void Network::AddLoss(const Matrix& x, const uint8_t* labels, bool gradients, Cache* cache,
                      double* loss_sum) {
  const Matrix logits = Forward(x, gradients ? cache : nullptr);
  // Softmax cross-entropy, averaged over the batch.
  Matrix grad(logits.rows(), logits.cols());
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    const float max = logits.row(i).maxCoeff();
    Eigen::RowVectorXf e = (logits.row(i).array() - max).exp().matrix();
    const float z = e.sum();
    const int label = labels[i];
    *loss_sum -= std::log(std::max(e(label) / z, 1e-30f));
    grad.row(i) = e / z;
    grad(i, label) -= 1.0f;
  }
  if (!gradients) return;
  grad /= static_cast<float>(logits.rows());
  Backward(grad, cache);
}

float Network::Loss(const float* images, const uint8_t* labels, size_t count, bool gradients) {
  const Op& first = ops_.front();
  const Eigen::Index features =
      first.kind == Op::kConv ? static_cast<Eigen::Index>(first.in_c) * first.in_h * first.in_w
                              : weights_[first.layer].w.cols();
  const Matrix x = Eigen::Map<const Matrix>(images, static_cast<Eigen::Index>(count), features);
  Cache cache;
  double loss_sum = 0;
  AddLoss(x, labels, gradients, &cache, &loss_sum);
  return static_cast<float>(loss_sum / static_cast<double>(std::max<size_t>(count, 1)));
}

float Network::TrainEpoch(const Split& train, const TrainOptions& options, std::mt19937_64& rng) {
  const size_t n = train.count();
  const size_t features = static_cast<size_t>(train.rows) * train.cols;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  const bool bar = options.progress && ::isatty(2);
  double loss_sum = 0;
  size_t seen = 0;
  Cache cache;
  std::vector<uint8_t> labels(static_cast<size_t>(options.batch));
  for (size_t start = 0; start < n; start += static_cast<size_t>(options.batch)) {
    const size_t count = std::min(n - start, static_cast<size_t>(options.batch));
    Matrix x(static_cast<Eigen::Index>(count), static_cast<Eigen::Index>(features));
    for (size_t i = 0; i < count; ++i) {
      std::copy_n(train.images.data() + order[start + i] * features, features, x.row(i).data());
    }
    for (size_t i = 0; i < count; ++i) labels[i] = train.labels[order[start + i]];
    AddLoss(x, labels.data(), true, &cache, &loss_sum);
    Step(options);
    seen += count;
    if (bar && (start / options.batch) % 20 == 0) {
      std::fprintf(stderr, "\r  %-28s [%-30s] %3zu%%  loss %.4f", options.label.c_str(),
                   std::string(30 * seen / n, '#').c_str(), 100 * seen / n, loss_sum / seen);
    }
  }
  if (bar) std::fprintf(stderr, "\r%100s\r", "");
  return static_cast<float>(loss_sum / std::max<size_t>(seen, 1));
}

size_t Network::CountCorrect(const Split& test) const {
  const size_t n = test.count();
  const size_t features = static_cast<size_t>(test.rows) * test.cols;
  size_t correct = 0;
  for (size_t start = 0; start < n; start += 500) {
    const size_t count = std::min<size_t>(500, n - start);
    Eigen::Map<const Matrix> x(test.images.data() + start * features,
                               static_cast<Eigen::Index>(count),
                               static_cast<Eigen::Index>(features));
    const Matrix logits = Forward(x, nullptr);
    for (size_t i = 0; i < count; ++i) {
      Eigen::Index best;
      logits.row(static_cast<Eigen::Index>(i)).maxCoeff(&best);
      if (best == test.labels[start + i]) ++correct;
    }
  }
  return correct;
}

std::vector<float> Network::InputEnergy(const Split& data, size_t count, size_t layer) const {
  size_t op_index = ops_.size();
  for (size_t o = 0; o < ops_.size(); ++o) {
    if ((ops_[o].kind == Op::kDense || ops_[o].kind == Op::kConv) &&
        ops_[o].layer == static_cast<int>(layer)) {
      op_index = o;
    }
  }
  const WeightLayer& l = weights_.at(layer);
  std::vector<double> sum(static_cast<size_t>(l.w.cols()), 0.0);
  count = std::min(count, data.count());
  const size_t features = static_cast<size_t>(data.rows) * data.cols;
  double samples = 0;  // rows of the layer's input matrix seen
  Cache cache;
  for (size_t start = 0; start < count; start += 256) {  // bounded cache memory
    const size_t n = std::min<size_t>(256, count - start);
    Eigen::Map<const Matrix> x(data.images.data() + start * features, static_cast<Eigen::Index>(n),
                               static_cast<Eigen::Index>(features));
    Forward(x, &cache);
    if (ops_[op_index].kind == Op::kDense) {
      const Matrix& in = cache.inputs[op_index];
      for (Eigen::Index c = 0; c < in.cols(); ++c) {
        sum[static_cast<size_t>(c)] += in.col(c).cast<double>().squaredNorm();
      }
      samples += static_cast<double>(in.rows());
    } else {
      for (const Matrix& cols : cache.cols[op_index]) {  // (in_c k k) x positions
        for (Eigen::Index c = 0; c < cols.rows(); ++c) {
          sum[static_cast<size_t>(c)] += cols.row(c).cast<double>().squaredNorm();
        }
        samples += static_cast<double>(cols.cols());
      }
    }
  }
  std::vector<float> energy(sum.size(), 0.0f);
  for (size_t c = 0; c < sum.size(); ++c) {
    energy[c] = samples > 0 ? static_cast<float>(sum[c] / samples) : 0.0f;
  }
  return energy;
}

}  // namespace wltrain
