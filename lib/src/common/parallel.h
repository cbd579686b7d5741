// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The library's one way of running work in parallel, and the meaning of every
// `threads` argument (table building, seed search, decoding). Threads are started per
// call and joined before it returns: the library keeps no threads between calls, so it
// needs no shutdown, is safe across fork(), and a call with threads = 1 starts none.

#ifndef WEIGHTLESS_COMMON_PARALLEL_H_
#define WEIGHTLESS_COMMON_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace weightless {
namespace parallel {

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

// Runs work(i) for every i in [0, count) on up to `threads` threads (ResolveThreads'
// meaning), each taking the next index in increasing order: for items of uneven cost.
// Returns when all are done. work must not throw.
template <typename Work>
void ForEachIndex(uint64_t count, int threads, const Work& work) {
  const uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(ResolveThreads(threads)), count);
  if (n <= 1) {
    for (uint64_t i = 0; i < count; ++i) work(i);
    return;
  }
  std::atomic<uint64_t> next{0};
  RunJobs(n, [&](uint64_t) {
    for (uint64_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) work(i);
  });
}

// Splits [0, count) into up to `threads` contiguous, nearly equal pieces and runs
// work(begin, end) for each on its own thread: for items of even cost, each thread
// touching one contiguous stretch of memory.
template <typename Work>
void ForEachPiece(uint64_t count, int threads, const Work& work) {
  const uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(ResolveThreads(threads)), count);
  if (n <= 1) {
    if (count > 0) work(uint64_t{0}, count);
    return;
  }
  RunJobs(n, [&](uint64_t i) { work(count * i / n, count * (i + 1) / n); });
}

}  // namespace parallel
}  // namespace weightless

#endif  // WEIGHTLESS_COMMON_PARALLEL_H_
