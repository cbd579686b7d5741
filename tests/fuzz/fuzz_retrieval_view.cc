// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Fuzz target: any bytes, opened as a retrieval table section (spec/RETRIEVAL.md) by
// RetrievalView::Open, are either refused or give a view whose every query stays inside
// the section and whose answers agree with each other:
//   - RetrievalTable::FromBytes accepts exactly what RetrievalView::Open accepts, with
//     the same parameters;
//   - the section is exactly SectionSize(kind, t, shards, cells) bytes;
//   - DecodeCodes over a range equals Lookup of every index in it, every code is below
//     2^t, and 2 threads give what 1 gives;
//   - DecodeFloats maps each code c to centroids[c - 1] for c in 1..k and to 0 otherwise;
//   - out-of-range queries are refused (or answer 0 for Lookup).
// Ranges are at most 4096 indices, from the start, the middle and the end of the
// universe (which may be 2^48 for a table of a few hundred bytes).

#include <algorithm>
#include <vector>

#include "fuzz_util.h"
#include "weightless/retrieval.h"

namespace weightless {
namespace fuzz {
namespace {

constexpr uint64_t kRange = 4096;

void CheckRange(const RetrievalView& v, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  std::vector<uint16_t> codes(n + 1, 0xFFFF);  // one guard element past the end
  FUZZ_CHECK(v.DecodeCodes(begin, end, codes.data(), 1).ok());
  FUZZ_CHECK(codes[n] == 0xFFFF);
  const uint32_t limit = uint32_t{1} << v.value_bits();
  for (uint64_t i = 0; i < n; ++i) {
    FUZZ_CHECK(codes[i] < limit);
    FUZZ_CHECK(v.Lookup(begin + i) == codes[i]);
  }
  if (n > 0 && (end - 1) / v.shard_span() != begin / v.shard_span()) {
    std::vector<uint16_t> two(n);
    FUZZ_CHECK(v.DecodeCodes(begin, end, two.data(), 2).ok());
    FUZZ_CHECK(std::equal(two.begin(), two.end(), codes.begin()));
  }
  // Centroids 1, 2, ..., k with k = min(2^t - 1, 5): code c decodes to c or to 0.
  const uint32_t k = std::min<uint32_t>(limit - 1, 5);
  const float centroids[5] = {1, 2, 3, 4, 5};
  std::vector<float> floats(n + 1, -1.0f);
  FUZZ_CHECK(v.DecodeFloats(begin, end, centroids, k, floats.data(), 1).ok());
  FUZZ_CHECK(floats[n] == -1.0f);
  for (uint64_t i = 0; i < n; ++i) {
    const float expected = codes[i] >= 1 && codes[i] <= k ? static_cast<float>(codes[i]) : 0.0f;
    FUZZ_CHECK(floats[i] == expected);
  }
  FUZZ_CHECK(v.DecodeFloats(begin, end, centroids, limit, floats.data()).IsInvalidArgument());
}

}  // namespace
}  // namespace fuzz
}  // namespace weightless

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightless;
  using weightless::fuzz::CheckRange;
  using weightless::fuzz::kRange;
  // A copy of exactly `size` bytes, so that ASan catches any read past the section.
  const std::vector<uint8_t> bytes(data, data + size);
  const Result<RetrievalView> opened = RetrievalView::Open(bytes.data(), bytes.size());
  Result<RetrievalTable> owned = RetrievalTable::FromBytes(bytes);
  FUZZ_CHECK(opened.ok() == owned.ok());
  if (!opened.ok()) {
    FUZZ_CHECK(opened.status().IsCorruption() || opened.status().IsNotSupported());
    return 0;
  }
  const RetrievalView& v = *opened;
  const RetrievalView& w = owned->view();
  FUZZ_CHECK(v.kind() == w.kind() && v.value_bits() == w.value_bits() &&
             v.universe() == w.universe() && v.seed() == w.seed() &&
             v.shard_span() == w.shard_span() && v.shard_count() == w.shard_count() &&
             v.cell_count() == w.cell_count() && v.size_bytes() == size);
  FUZZ_CHECK(v.value_bits() >= RetrievalLimits::kMinValueBits &&
             v.value_bits() <= RetrievalLimits::kMaxValueBits);
  FUZZ_CHECK(v.universe() <= RetrievalLimits::kMaxUniverse);
  FUZZ_CHECK(v.shard_span() >= 1 && v.shard_count() <= RetrievalLimits::kMaxShards);
  FUZZ_CHECK(v.cell_count() <= RetrievalLimits::kMaxCells);
  FUZZ_CHECK(RetrievalView::SectionSize(v.kind(), v.value_bits(), v.shard_count(),
                                        v.cell_count()) == size);

  const uint64_t n = v.universe();
  CheckRange(v, 0, std::min(n, kRange));
  CheckRange(v, n / 2, std::min(n, n / 2 + kRange));
  CheckRange(v, n - std::min(n, kRange), n);
  CheckRange(v, n, n);
  // The same answers from the owning table's copy of the bytes.
  if (n > 0) FUZZ_CHECK(w.Lookup(n - 1) == v.Lookup(n - 1));

  uint16_t code = 0;
  float value = 0;
  FUZZ_CHECK(v.Lookup(n) == 0);
  FUZZ_CHECK(v.DecodeCodes(0, n + 1, &code).IsOutOfRange());
  FUZZ_CHECK(v.DecodeFloats(n, n + 1, nullptr, 0, &value).IsOutOfRange());
  if (n > 0) FUZZ_CHECK(v.DecodeCodes(1, 0, &code).IsOutOfRange());
  return 0;
}
