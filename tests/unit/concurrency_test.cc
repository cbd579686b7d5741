// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Concurrency: what the headers promise about threads, exercised so that
// ThreadSanitizer (the WEIGHTLESS_TSAN build of scripts/test, `ctest -L concurrency`)
// can see every shared access:
//   - one Reader used by many threads at once from its first call, so that the lazy
//     first load of every payload (read, checksum, zstd, table validation) races with
//     other threads' decodes of the same tensor, with Verify() and with metadata reads,
//     for a caller's buffer, a mapping and pread;
//   - decodes with several worker threads each, on the same reader and view;
//   - table builds and layer encodes with several threads, byte-identical to one.
// Every thread's result is compared with the single-threaded one.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "file_test_util.h"
#include "weightless/encoder.h"

namespace weightless {
namespace {

namespace fs = std::filesystem;

constexpr int kThreads = 6;

// Starts `count` threads running fn(thread index) at the same moment and joins them.
template <typename Fn>
void RunTogether(int count, Fn fn) {
  std::atomic<int> waiting{count};
  std::vector<std::thread> threads;
  for (int th = 0; th < count; ++th) {
    threads.emplace_back([&, th] {
      waiting.fetch_sub(1);
      while (waiting.load() > 0) std::this_thread::yield();
      fn(th);
    });
  }
  for (std::thread& t : threads) t.join();
}

// Everything one thread reads from a reader, in a fixed order.
struct Observed {
  std::vector<std::vector<float>> whole, rows;
  std::vector<float> weights;  // the last weight of each tensor (-2 if it has none)
  size_t problems = 0;
  size_t metadata = 0;
};

// Thread `th` decodes every tensor (starting at a different one per thread, so that
// first loads of different payloads overlap), with 1 to 3 worker threads of its own.
Observed ReadEverything(const Reader& r, int th) {
  Observed o;
  const size_t n = r.tensor_count();
  o.whole.resize(n);
  o.rows.resize(n);
  o.weights.assign(n, -2.0f);
  for (size_t step = 0; step < n; ++step) {
    const size_t i = (step + static_cast<size_t>(th)) % n;
    const TensorInfo& t = r.tensor(i);
    std::vector<float>& whole = o.whole[i];
    whole.resize(t.element_count());
    if (!r.Decode(i, whole.data(), whole.size(), 1 + th % 3).ok()) whole.clear();
    const uint64_t rows = t.rows(), row = t.row_size();
    const uint64_t r1 = rows / 2 + (rows > 0 ? 1 : 0);
    std::vector<float>& part = o.rows[i];
    part.resize((r1 - rows / 2) * row);
    if (!r.DecodeRows(i, rows / 2, r1, part.data(), part.size(), 2).ok()) part.clear();
    if (t.element_count() > 0) {
      Result<float> w = r.DecodeWeight(i, t.element_count() - 1);
      o.weights[i] = w.ok() ? *w : -1.0f;
    }
  }
  if (th % 3 == 0) o.problems = r.Verify().size();
  for (const MetadataEntry& e : r.metadata()) o.metadata += r.FindMetadata(e.key) != nullptr;
  return o;
}

void ExpectSame(const Observed& a, const Observed& b, int th) {
  EXPECT_EQ(a.whole, b.whole) << "thread " << th;
  EXPECT_EQ(a.rows, b.rows) << "thread " << th;
  EXPECT_EQ(a.weights, b.weights) << "thread " << th;
  EXPECT_EQ(a.metadata, b.metadata) << "thread " << th;
}

TEST(ConcurrencyTest, ManyThreadsShareOneReaderFromItsFirstUse) {
  testing_util::SampleModel model;
  // The large sample: zstd-compressed dense and bloomier sections, ribbon, packed codes.
  const std::vector<uint8_t> bytes = testing_util::SampleFileBytes(/*small=*/false, &model);
  const char* base = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(base ? base : fs::temp_directory_path().string()) /
                       ("weightless_concurrency_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "m.wl").string();
  testing_util::WriteFileBytes(path, bytes);

  // What one thread alone sees.
  auto alone = Reader::OpenBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(alone.ok());
  const Observed expected = ReadEverything(*alone, 0);
  ASSERT_EQ(expected.problems, 0u);
  for (size_t k = 0; k < model.names.size(); ++k) {
    EXPECT_EQ(expected.whole[*alone->FindTensor(model.names[k])], model.expected[k]);
  }

  for (int source = 0; source < 3; ++source) {
    SCOPED_TRACE(source == 0 ? "buffer" : source == 1 ? "mmap" : "pread");
    ReaderOptions options;
    options.use_mmap = source == 1;
    auto opened = source == 0 ? Reader::OpenBuffer(bytes.data(), bytes.size(), options)
                              : Reader::Open(path, options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    const Reader& r = *opened;
    std::vector<Observed> seen(kThreads);
    RunTogether(kThreads, [&](int th) { seen[th] = ReadEverything(r, th); });
    for (int th = 0; th < kThreads; ++th) {
      ExpectSame(seen[th], expected, th);
      EXPECT_EQ(seen[th].problems, 0u);
    }
  }
  fs::remove_all(dir);
}

TEST(ConcurrencyTest, ThreadsShareOneRetrievalViewWithWorkerThreadsEach) {
  for (RetrievalKind kind : {RetrievalKind::kRibbon, RetrievalKind::kBloomier}) {
    const uint64_t n = 50000;
    testing_util::SampleLayer layer = testing_util::MakeSampleLayer(n, 12, 5);
    RetrievalOptions options;
    options.kind = kind;
    options.value_bits = 6;
    options.keys_per_shard = 256;  // many shards, so that worker threads split them
    auto table =
        RetrievalTable::Build(n, layer.keys.data(), layer.codes.data(), layer.keys.size(), options);
    ASSERT_TRUE(table.ok());
    const RetrievalView& view = table->view();
    std::vector<uint16_t> codes(n);
    std::vector<float> floats(n);
    ASSERT_TRUE(view.DecodeCodes(0, n, codes.data(), 1).ok());
    ASSERT_TRUE(view.DecodeFloats(0, n, layer.centroids.data(), 12, floats.data(), 1).ok());
    std::vector<int> agree(kThreads, 0);
    RunTogether(kThreads, [&](int th) {
      std::vector<uint16_t> c(n);
      std::vector<float> f(n);
      const bool ok =
          view.DecodeCodes(0, n, c.data(), 2 + th % 3).ok() &&
          view.DecodeFloats(0, n, layer.centroids.data(), 12, f.data(), 2 + th % 2).ok();
      bool lookups = true;
      for (uint64_t i = static_cast<uint64_t>(th); i < n; i += 97)
        lookups &= view.Lookup(i) == c[i];
      agree[th] = ok && lookups && c == codes && f == floats;
    });
    for (int th = 0; th < kThreads; ++th) EXPECT_TRUE(agree[th]) << "thread " << th;
  }
}

TEST(ConcurrencyTest, BuildsAndEncodesWithThreadsAreByteIdentical) {
  std::mt19937_64 rng(17);
  std::normal_distribution<float> normal(0, 0.05f);
  std::vector<float> w(120 * 150);
  for (float& x : w) x = normal(rng);
  for (RetrievalKind kind : {RetrievalKind::kRibbon, RetrievalKind::kBloomier}) {
    EncodeOptions o;
    o.kind = kind;
    o.keep_fraction = 0.08;
    o.clusters = 7;
    o.seeds = 3;
    o.storage = LayerStorage::kRetrieval;
    o.threads = 1;
    auto one = EncodeLayer(w.data(), {120, 150}, o);
    ASSERT_TRUE(one.ok());
    // Encodes on several threads at once, each with worker threads of its own.
    std::vector<int> same(4, 0);
    RunTogether(4, [&](int th) {
      EncodeOptions mine = o;
      mine.threads = 2 + th % 3;
      auto many = EncodeLayer(w.data(), {120, 150}, mine);
      same[th] = many.ok() && many->section.bytes() == one->section.bytes() &&
                 many->centroids() == one->centroids() &&
                 many->stats.false_positives == one->stats.false_positives;
    });
    for (int th = 0; th < 4; ++th) EXPECT_TRUE(same[th]) << "thread " << th;
  }
}

}  // namespace
}  // namespace weightless
