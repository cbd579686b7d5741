// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Reading MNIST-format IDX datasets (MNIST, Fashion-MNIST, KMNIST, ...): a directory
// with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each raw or gzip-compressed (".gz").

#ifndef WEIGHTLESS_TOOLS_WL_TRAIN_IDX_H_
#define WEIGHTLESS_TOOLS_WL_TRAIN_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "weightless/status.h"

namespace wltrain {

struct Split {
  uint32_t rows = 0, cols = 0;
  std::vector<float> images;    // count x rows*cols, pixels scaled to [0, 1]
  std::vector<uint8_t> labels;  // 0..9
  size_t count() const { return labels.size(); }
};

struct Dataset {
  std::string directory;
  Split train, validation, test;  // validation: carved from the training file
};

// Reads both splits; `limit_train` / `limit_test` (0 = all) keep only the first
// examples. Errors name the file and what is wrong with it.
weightless::Result<Dataset> LoadIdxDataset(const std::string& directory, size_t limit_train,
                                           size_t limit_test);

// Moves `count` examples, drawn without replacement by a generator seeded with `seed`,
// out of `train` into the returned validation split; the rest stay in `train` in their
// original order. The two splits are disjoint by position: no training example is also a
// validation example. Errors: count == 0 or count >= train->count() (nothing left to
// train on).
weightless::Result<Split> CarveValidation(Split* train, size_t count, uint64_t seed);

}  // namespace wltrain

#endif  // WEIGHTLESS_TOOLS_WL_TRAIN_IDX_H_
