// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Test data for the reference trainer's suites: a split of random 28x28 images.

#ifndef WEIGHTLESS_TESTS_UNIT_TRAINER_TEST_UTIL_H_
#define WEIGHTLESS_TESTS_UNIT_TRAINER_TEST_UTIL_H_

#include <cstdint>
#include <random>

#include "idx.h"

namespace wltrain {

// `n` images with pixels uniform in [0, 1) and labels uniform in 0..9, fixed by `seed`.
inline Split RandomSplit(size_t n, uint64_t seed) {
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

}  // namespace wltrain

#endif  // WEIGHTLESS_TESTS_UNIT_TRAINER_TEST_UTIL_H_
