// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The Deep Compression layout: entries (gap, code) with fillers, two zstd frames and a
// codebook. The layout is described in deep_compression.h.

#include "baselines/deep_compression.h"

#include <zstd.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace weightless {
namespace baselines {

namespace {

constexpr int kMinGapBits = 2;
constexpr int kMaxGapBits = 8;
constexpr size_t kMaxClusters = 255;  // codes are stored in one byte, 0 = filler
constexpr uint64_t kHeaderBytes = 16;

std::string Num(uint64_t v) { return std::to_string(v); }

// The entry streams for gaps of `bits` bits (see the header): a kept weight whose gap to
// the previous entry exceeds 2^bits - 1 is preceded by filler entries (gap 2^bits - 1,
// code 0), each of which covers 2^bits positions.
void EntryStreams(const uint16_t* codes, size_t n, int bits, std::vector<uint8_t>* gaps,
                  std::vector<uint8_t>* values) {
  const uint64_t max_gap = (uint64_t{1} << bits) - 1;
  uint64_t last = 0;  // position after the previous entry
  gaps->clear();
  values->clear();
  for (uint64_t i = 0; i < n; ++i) {
    if (codes[i] == 0) continue;
    uint64_t gap = i - last;
    while (gap > max_gap) {
      gaps->push_back(static_cast<uint8_t>(max_gap));
      values->push_back(0);
      gap -= max_gap + 1;  // a filler occupies one position too
    }
    gaps->push_back(static_cast<uint8_t>(gap));
    values->push_back(static_cast<uint8_t>(codes[i]));
    last = i + 1;
  }
}

Result<std::vector<uint8_t>> Zstd(const std::vector<uint8_t>& in, int level) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) return Status::Internal("zstd compression failed", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

// Decompresses `frame`, which must hold exactly `size` bytes, into out[0..size-1].
Status Unzstd(const std::vector<uint8_t>& frame, uint8_t* out, size_t size, const char* what) {
  const size_t got = ZSTD_decompress(out, size, frame.data(), frame.size());
  if (ZSTD_isError(got)) {
    return Status::Corruption(std::string("deep compression: ") + what + " frame",
                              ZSTD_getErrorName(got));
  }
  if (got != size) {
    return Status::Corruption(std::string("deep compression: ") + what + " frame holds " +
                              Num(got) + " bytes, expected " + Num(size) + " (the entries)");
  }
  return Status::OK();
}

}  // namespace

uint64_t DeepCompressedLayer::bytes() const {
  return gaps.size() + codes.size() + 4 * static_cast<uint64_t>(codebook.size()) + kHeaderBytes;
}

Result<DeepCompressedLayer> EncodeDeepCompression(const uint16_t* codes, size_t n,
                                                  const std::vector<float>& centroids,
                                                  int zstd_level, int gap_bits) {
  if (n == 0) return Status::InvalidArgument("deep compression: n = 0", "need at least 1 weight");
  if (codes == nullptr) return Status::InvalidArgument("deep compression: codes is null");
  const size_t k = centroids.size();
  if (k < 1 || k > kMaxClusters) {
    return Status::InvalidArgument("deep compression: K = " + Num(k), "must be 1..255");
  }
  if (gap_bits != 0 && (gap_bits < kMinGapBits || gap_bits > kMaxGapBits)) {
    return Status::InvalidArgument("deep compression: gap_bits = " + std::to_string(gap_bits),
                                   "must be 0 (choose) or 2..8");
  }
  if (zstd_level < ZSTD_minCLevel() || zstd_level > ZSTD_maxCLevel()) {
    return Status::InvalidArgument(
        "deep compression: zstd_level = " + std::to_string(zstd_level),
        "must be " + std::to_string(ZSTD_minCLevel()) + ".." + std::to_string(ZSTD_maxCLevel()));
  }
  for (size_t i = 0; i < n; ++i) {
    if (codes[i] > k) {
      return Status::InvalidArgument("deep compression: code " + Num(codes[i]) + " at index " +
                                     Num(i) + " exceeds K = " + Num(k));
    }
  }

  const int first = gap_bits == 0 ? kMinGapBits : gap_bits;
  const int end = gap_bits == 0 ? kMaxGapBits : gap_bits;
  DeepCompressedLayer best;
  std::vector<uint8_t> gaps, values;
  for (int bits = first; bits <= end; ++bits) {
    EntryStreams(codes, n, bits, &gaps, &values);
    DeepCompressedLayer d;
    d.gap_bits = bits;
    d.entries = gaps.size();
    Result<std::vector<uint8_t>> zg = Zstd(gaps, zstd_level);
    if (!zg.ok()) return zg.status();
    Result<std::vector<uint8_t>> zc = Zstd(values, zstd_level);
    if (!zc.ok()) return zc.status();
    d.gaps = std::move(*zg);
    d.codes = std::move(*zc);
    d.codebook = centroids;
    if (best.gap_bits == 0 || d.bytes() < best.bytes()) best = std::move(d);
  }
  return best;
}

Status DecodeDeepCompression(const DeepCompressedLayer& layer, float* out, size_t n) {
  if (n == 0) return Status::InvalidArgument("deep compression: n = 0", "need at least 1 weight");
  if (out == nullptr) return Status::InvalidArgument("deep compression: out is null");
  const int bits = layer.gap_bits;
  if (bits < kMinGapBits || bits > kMaxGapBits) {
    return Status::Corruption("deep compression: gap_bits = " + std::to_string(bits),
                              "must be 2..8");
  }
  const size_t k = layer.codebook.size();
  if (k < 1 || k > kMaxClusters) {
    return Status::Corruption("deep compression: K = " + Num(k), "must be 1..255");
  }
  // Every entry occupies a position, so a layer of n weights has at most n entries;
  // checking this first also bounds the buffers below.
  if (layer.entries > n) {
    return Status::Corruption("deep compression: " + Num(layer.entries) + " entries",
                              "more than the " + Num(n) + " weights");
  }
  const size_t entries = static_cast<size_t>(layer.entries);
  std::unique_ptr<uint8_t[]> streams(new uint8_t[2 * entries + 1]);  // uninitialized
  uint8_t* const gaps = streams.get();
  uint8_t* const codes = gaps + entries;
  Status s = Unzstd(layer.gaps, gaps, entries, "gaps");
  if (!s.ok()) return s;
  s = Unzstd(layer.codes, codes, entries, "codes");
  if (!s.ok()) return s;

  // Check every entry before writing: the rules of the header, and that the entries
  // cover at most n positions (each covers gap + 1). One branch-free pass, so that the
  // writing loop below needs no checks.
  const unsigned max_gap = (1u << bits) - 1;
  const unsigned max_code = static_cast<unsigned>(k);
  uint64_t covered = entries;  // each entry's own position; the gaps are added below
  unsigned bad = 0;
  for (size_t e = 0; e < entries; ++e) {
    const unsigned gap = gaps[e];
    const unsigned code = codes[e];
    bad |= (gap > max_gap) | (code > max_code) | ((code == 0) & (gap != max_gap));
    covered += gap;
  }
  if (bad != 0) {
    for (size_t e = 0; e < entries; ++e) {
      const unsigned gap = gaps[e];
      const unsigned code = codes[e];
      if (gap > max_gap || code > max_code || (code == 0 && gap != max_gap)) {
        return Status::Corruption("deep compression: entry " + Num(e),
                                  "gap " + Num(gap) + ", code " + Num(code) +
                                      " with b = " + std::to_string(bits) + ", K = " + Num(k));
      }
    }
  }
  if (covered > n) {
    return Status::Corruption("deep compression: the entries cover " + Num(covered) + " positions",
                              "more than the " + Num(n) + " weights");
  }
  if (entries > 0 && codes[entries - 1] == 0) {
    return Status::Corruption("deep compression: the last entry is a filler");
  }

  std::memset(out, 0, n * sizeof(float));
  float table[kMaxClusters + 1] = {0};
  for (size_t c = 0; c < k; ++c) table[c + 1] = layer.codebook[c];
  uint64_t pos = 0;  // position after the previous entry
  for (size_t e = 0; e < entries; ++e) {
    pos += gaps[e];
    out[pos] = table[codes[e]];  // a filler writes 0 where a 0 already is
    ++pos;
  }
  return Status::OK();
}

}  // namespace baselines
}  // namespace weightless
