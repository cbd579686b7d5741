// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// kernel_ab: the x86-64-v3 decode kernels of two source revisions, compared in one process
// on the same tables. Built and run by bench/kernel_ab.sh, which compiles each revision's
// decode_kernels_x86v3.cc with its entry point renamed to BaseKernels / CandidateKernels.
//
// Why in one process: this project's machines are shared, and their speed changes from one
// second to the next (by up to 35%), so two benchmark runs in turn, even interleaved, can
// differ by more than the change measured. Here the two kernel sets decode the same table
// in alternation (each round runs both, in an order that alternates), and the per-round
// speed ratios are summarised by their median and quartiles: a speed phase slows both
// halves of a round alike.
//
// Usage:
//   kernel_ab [--universe N] [--permille P] [--rounds R] [--t 4,8,10]
//             [--kinds ribbon,bloomier] [--candidate-hash xxh3|mix32]
// prints one line per (kind, t), and exits 2 if the two kernel sets decode differently.
// --candidate-hash mix32 gives the candidate a ribbon table of the same keys hashed with
// mix32 (spec/RETRIEVAL.md 1.1; the base keeps xxh3): the two hashings' decode speeds,
// when BASE and CANDIDATE are the same revision. Then only the stored keys' values are
// compared (the tables differ elsewhere).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "retrieval/decode_kernels.h"
#include "retrieval/hashing.h"
#include "retrieval/layout.h"
#include "weightless/retrieval.h"

namespace weightless {
namespace retrieval {
const DecodeKernels& BaseKernels();       // the baseline revision's X86V3DecodeKernels
const DecodeKernels& CandidateKernels();  // the candidate revision's
}  // namespace retrieval
}  // namespace weightless

namespace {

using weightless::RetrievalKind;
using weightless::retrieval::DecodeKernels;
using weightless::retrieval::ShardGeometry;

struct Options {
  uint64_t universe = 10000000;
  int permille = 50;
  int rounds = 30;
  std::vector<int> t = {8};
  std::vector<RetrievalKind> kinds = {RetrievalKind::kRibbon, RetrievalKind::kBloomier};
  weightless::RetrievalHash candidate_hash = weightless::RetrievalHash::kXxh3;
};

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--universe") {
      o->universe = std::strtoull(value.c_str(), nullptr, 10);
    } else if (flag == "--permille") {
      o->permille = std::atoi(value.c_str());
    } else if (flag == "--rounds") {
      o->rounds = std::atoi(value.c_str());
    } else if (flag == "--t") {
      o->t.clear();
      for (const std::string& t : SplitCommas(value)) o->t.push_back(std::atoi(t.c_str()));
    } else if (flag == "--kinds") {
      o->kinds.clear();
      for (const std::string& k : SplitCommas(value)) {
        if (k != "ribbon" && k != "bloomier") return false;
        o->kinds.push_back(k == "ribbon" ? RetrievalKind::kRibbon : RetrievalKind::kBloomier);
      }
    } else if (flag == "--candidate-hash") {
      if (value != "xxh3" && value != "mix32") return false;
      o->candidate_hash =
          value == "mix32" ? weightless::RetrievalHash::kMix32 : weightless::RetrievalHash::kXxh3;
    } else {
      return false;
    }
  }
  if (o->candidate_hash == weightless::RetrievalHash::kMix32 &&
      (o->kinds.size() != 1 || o->kinds[0] != RetrievalKind::kRibbon)) {
    return false;  // mix32 is for ribbon tables only
  }
  return argc % 2 == 1 && o->universe > 0 && o->permille > 0 && o->permille <= 1000 &&
         o->rounds > 0 && !o->t.empty() && !o->kinds.empty() &&
         std::all_of(o->t.begin(), o->t.end(), [](int t) { return t >= 4 && t <= 16; });
}

// Seconds to decode the whole table with `kernels`, shard by shard as RetrievalView does
// on one thread.
double TimeDecode(const DecodeKernels& kernels, RetrievalKind kind, int t,
                  const std::vector<ShardGeometry>& shards, uint64_t span, uint64_t universe,
                  const float* centroids, float* out) {
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t s = 0; s < shards.size(); ++s) {
    const uint64_t lo = s * span, hi = std::min(universe, lo + span);
    kernels.floats(kind, t, shards[s], lo, hi, centroids, 15, out + lo);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Returns false if the kernel sets disagree.
bool Compare(const Options& o, RetrievalKind kind, int t) {
  std::mt19937_64 rng(o.universe * 1000 + static_cast<uint64_t>(o.permille));
  std::geometric_distribution<uint64_t> gap(o.permille / 1000.0);
  std::vector<uint64_t> keys;
  std::vector<uint16_t> values;
  for (uint64_t i = gap(rng); i < o.universe; i += 1 + gap(rng)) {
    keys.push_back(i);
    values.push_back(static_cast<uint16_t>(1 + rng() % 15));
  }
  // The tables (one, or the base's and the candidate's) and their shards' geometry.
  struct Built {
    std::vector<uint8_t> bytes;
    uint64_t span = 0;
    std::vector<ShardGeometry> shards;
  };
  auto build = [&](weightless::RetrievalHash hash) {
    weightless::RetrievalOptions options;
    options.kind = kind;
    options.hash = hash;
    options.value_bits = t;
    options.threads = 0;
    auto table = weightless::RetrievalTable::Build(o.universe, keys.data(), values.data(),
                                                   keys.size(), options);
    if (!table.ok()) {
      std::fprintf(stderr, "build: %s\n", table.status().ToString().c_str());
      std::exit(1);
    }
    Built b;
    b.bytes = table->bytes();
    const weightless::RetrievalView& view = table->view();
    b.span = view.shard_span();
    const uint8_t* directory = b.bytes.data() + weightless::retrieval::kHeaderSize;
    const uint8_t* cells =
        directory + weightless::retrieval::kDirectoryEntrySize * (view.shard_count() + 1);
    for (uint64_t s = 0; s < view.shard_count(); ++s) {
      const auto e = weightless::retrieval::ReadShardEntry(directory, s);
      b.shards.push_back(ShardGeometry{cells, e.cell_begin, uint64_t{e.cell_end} - e.cell_begin,
                                       weightless::retrieval::ShardSeed(view.seed(), s, e.attempt),
                                       hash});
    }
    return b;
  };
  const Built tables[2] = {build(weightless::RetrievalHash::kXxh3), build(o.candidate_hash)};
  const float centroids[15] = {-.7f, -.5f, -.3f, -.2f, -.1f, -.05f, -.02f, .02f,
                               .05f, .1f,  .2f,  .3f,  .5f,  .7f,   .9f};
  const DecodeKernels* sets[2] = {&weightless::retrieval::BaseKernels(),
                                  &weightless::retrieval::CandidateKernels()};
  std::vector<float> out[2] = {std::vector<float>(o.universe), std::vector<float>(o.universe)};
  auto run = [&](int which) {
    return TimeDecode(*sets[which], kind, t, tables[which].shards, tables[which].span, o.universe,
                      centroids, out[which].data());
  };
  run(0);  // warm up, and check that both decode the same
  run(1);
  bool same = true;
  if (o.candidate_hash == weightless::RetrievalHash::kXxh3) {
    same = out[0] == out[1];
  } else {
    for (size_t i = 0; i < keys.size() && same; ++i) {
      same = out[0][keys[i]] == out[1][keys[i]] && out[0][keys[i]] == centroids[values[i] - 1];
    }
  }
  if (!same) {
    std::printf("%s t=%d: the two kernel sets decode differently\n",
                weightless::RetrievalKindName(kind), t);
    return false;
  }
  double total[2] = {0, 0};
  std::vector<double> ratios;  // candidate speed / base speed, per round
  for (int r = 0; r < o.rounds; ++r) {
    double seconds[2];
    const int first = r % 2;
    seconds[first] = run(first);
    seconds[1 - first] = run(1 - first);
    total[0] += seconds[0];
    total[1] += seconds[1];
    ratios.push_back(seconds[0] / seconds[1]);
  }
  std::sort(ratios.begin(), ratios.end());
  const double n = static_cast<double>(o.universe) * o.rounds;
  std::printf(
      "%-8s t=%-2d  base %5.0f M/s  candidate %5.0f M/s  candidate/base %.3f "
      "(quartiles %.3f %.3f, %d rounds)\n",
      weightless::RetrievalKindName(kind), t, n / total[0] / 1e6, n / total[1] / 1e6,
      ratios[ratios.size() / 2], ratios[ratios.size() / 4], ratios[3 * ratios.size() / 4],
      o.rounds);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr,
                 "usage: kernel_ab [--universe N] [--permille P] [--rounds R] [--t 4,8,10] "
                 "[--kinds ribbon,bloomier]   (t in 4..16)\n");
    return 1;
  }
  std::printf(
      "kernels: base %s, candidate %s (tables hashed with %s); %llu weights, %d per mille kept, "
      "one thread\n",
      weightless::retrieval::BaseKernels().name, weightless::retrieval::CandidateKernels().name,
      weightless::RetrievalHashName(options.candidate_hash),
      static_cast<unsigned long long>(options.universe), options.permille);
  bool same = true;
  for (RetrievalKind kind : options.kinds) {
    for (int t : options.t) same = Compare(options, kind, t) && same;
  }
  return same ? 0 : 2;
}
