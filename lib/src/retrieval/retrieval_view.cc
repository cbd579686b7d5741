// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// RetrievalView: lookup and bulk decode of a serialized table (its validation and the
// names of the encodings: retrieval_view_open.cc). With that file, everything a reader
// needs from the retrieval module; the builders and solvers (retrieval_table.cc,
// *_solver.cc) are not needed to read.

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/parallel.h"
#include "retrieval/decode_kernels.h"
#include "retrieval/hashing.h"
#include "retrieval/layout.h"
#include "retrieval/query.h"
#include "weightless/retrieval.h"

namespace weightless {

using parallel::ResolveThreads;

namespace {
std::string Num(uint64_t v) { return std::to_string(v); }

retrieval::ShardGeometry GeometryOf(const uint8_t* directory, const uint8_t* cells, uint64_t seed,
                                    RetrievalHash hash, uint64_t shard) {
  const retrieval::ShardEntry e = retrieval::ReadShardEntry(directory, shard);
  return retrieval::ShardGeometry{cells, e.cell_begin,
                                  static_cast<uint64_t>(e.cell_end - e.cell_begin),
                                  retrieval::ShardSeed(seed, shard, e.attempt), hash};
}
}  // namespace

uint32_t RetrievalView::Lookup(uint64_t key) const {
  if (key >= universe_) return 0;
  const uint64_t shard = key / shard_span_;
  const retrieval::ShardGeometry g = GeometryOf(directory_, cells_, seed_, hash_, shard);
  uint16_t out = 0;
  retrieval::SelectedDecodeKernels().codes(kind_, value_bits_, g, key, key + 1, &out);
  return out;
}

namespace {
// Splits [begin, end) into per-thread chunks aligned to shard boundaries and runs
// fn(shard geometry, lo, hi) for each shard piece.
template <typename Fn>
void ForEachShardPiece(uint64_t begin, uint64_t end, uint64_t span, int threads, Fn fn) {
  const uint64_t first = begin / span;
  const uint64_t last = (end - 1) / span;  // inclusive
  const uint64_t shards = last - first + 1;
  auto run = [&](uint64_t s_begin, uint64_t s_end) {
    for (uint64_t s = s_begin; s < s_end; ++s) {
      const uint64_t lo = std::max(begin, s * span);
      const uint64_t hi = std::min(end, (s + 1) * span);
      fn(s, lo, hi);
    }
  };
  parallel::ForEachPiece(shards, threads,
                         [&](uint64_t lo, uint64_t hi) { run(first + lo, first + hi); });
}
}  // namespace

Status RetrievalView::DecodeCodes(uint64_t begin, uint64_t end, uint16_t* out, int threads) const {
  if (begin > end || end > universe_) {
    return Status::OutOfRange("decode range [" + Num(begin) + ", " + Num(end) + ")",
                              "must lie within [0, " + Num(universe_) + ")");
  }
  if (begin == end) return Status::OK();
  if (threads < 0) return Status::InvalidArgument("threads must be >= 0");
  const retrieval::DecodeKernels& kernels = retrieval::SelectedDecodeKernels();
  ForEachShardPiece(
      begin, end, shard_span_, ResolveThreads(threads), [&](uint64_t s, uint64_t lo, uint64_t hi) {
        const retrieval::ShardGeometry g = GeometryOf(directory_, cells_, seed_, hash_, s);
        kernels.codes(kind_, value_bits_, g, lo, hi, out + (lo - begin));
      });
  return Status::OK();
}

Status RetrievalView::DecodeFloats(uint64_t begin, uint64_t end, const float* centroids, uint32_t k,
                                   float* out, int threads) const {
  if (begin > end || end > universe_) {
    return Status::OutOfRange("decode range [" + Num(begin) + ", " + Num(end) + ")",
                              "must lie within [0, " + Num(universe_) + ")");
  }
  if (k > (uint32_t{1} << value_bits_) - 1) {
    return Status::InvalidArgument("k = " + Num(k) + " centroids",
                                   "a table of t = " + std::to_string(value_bits_) +
                                       " holds codes up to " +
                                       Num((uint32_t{1} << value_bits_) - 1));
  }
  if (k > 0 && centroids == nullptr) return Status::InvalidArgument("centroids is null");
  if (threads < 0) return Status::InvalidArgument("threads must be >= 0");
  if (begin == end) return Status::OK();
  if (k == 0) {  // every code decodes to zero
    std::fill(out, out + (end - begin), 0.0f);
    return Status::OK();
  }
  const retrieval::DecodeKernels& kernels = retrieval::SelectedDecodeKernels();
  ForEachShardPiece(
      begin, end, shard_span_, ResolveThreads(threads), [&](uint64_t s, uint64_t lo, uint64_t hi) {
        const retrieval::ShardGeometry g = GeometryOf(directory_, cells_, seed_, hash_, s);
        kernels.floats(kind_, value_bits_, g, lo, hi, centroids, k, out + (lo - begin));
      });
  return Status::OK();
}

}  // namespace weightless
