// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The meaning of a `threads` argument, shared by the table builder and the decoder.

#ifndef WEIGHTLESS_RETRIEVAL_THREADS_H_
#define WEIGHTLESS_RETRIEVAL_THREADS_H_

#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace weightless {
namespace retrieval {

// threads > 0 is used as given; 0 means one per hardware thread (1 when unknown).
inline int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Starts job(i) on a new thread for i in 1..count-1, runs job(0) on the calling thread,
// and joins them all. When the system refuses a thread (std::thread throws, e.g. under
// a process or memory limit), the jobs that got none run on the calling thread instead,
// so a large `threads` argument degrades to less parallelism, never to std::terminate.
template <typename Job>
void RunJobs(uint64_t count, const Job& job) {
  std::vector<std::thread> pool;
  uint64_t started = 1;
  try {
    pool.reserve(count > 0 ? count - 1 : 0);
    for (; started < count; ++started) pool.emplace_back(job, started);
  } catch (const std::exception&) {
    // Fall through: jobs [started, count) run below.
  }
  if (count > 0) job(uint64_t{0});
  for (uint64_t i = started; i < count; ++i) job(i);
  for (std::thread& th : pool) th.join();
}

}  // namespace retrieval
}  // namespace weightless

#endif  // WEIGHTLESS_RETRIEVAL_THREADS_H_
