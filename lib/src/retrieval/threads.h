// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The meaning of a `threads` argument, shared by the table builder and the decoder.

#ifndef WEIGHTLESS_RETRIEVAL_THREADS_H_
#define WEIGHTLESS_RETRIEVAL_THREADS_H_

#include <thread>

namespace weightless {
namespace retrieval {

// threads > 0 is used as given; 0 means one per hardware thread (1 when unknown).
inline int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace retrieval
}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_THREADS_H_
