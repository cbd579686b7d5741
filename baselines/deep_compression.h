// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The Deep Compression layout (Han, Mao and Dally, "Deep Compression", ICLR 2016) of one
// pruned, clustered layer: the baseline that bench/compare sets beside Weightless and
// that wl-train reports every model's size in. This is the one implementation of it;
// anything that quotes a Deep Compression size calls these functions.
//
// The layout, for a layer of n weights given as codes c[0..n-1] (0 = pruned, 1..K = the
// kept weight's cluster, whose value is codebook[c - 1]):
//
//   Entries. The kept weights are visited in increasing position. Each entry stands for
//   gap + 1 consecutive positions: `gap` pruned weights, then one position holding the
//   entry's code. A kept weight at position i, when i - last <= 2^b - 1 (last = the
//   position after the previous entry, 0 at the start), is one entry with
//   gap = i - last and code = c[i]. When i - last > 2^b - 1, filler entries come first:
//   each has gap = 2^b - 1 and code 0 and covers 2^b pruned positions, until the rest
//   of the distance fits; a distance d takes floor(d / 2^b) fillers. The last entry is
//   always a kept weight: the pruned weights after it have no entries (n is known to
//   the reader, as a file's tensor shape would be). So `entries` = kept weights +
//   fillers, and entries <= n.
//
//   gaps:  one zstd frame whose content is `entries` bytes, byte e = entry e's gap
//          (0..2^b - 1). The gap is stored in a whole byte; b only bounds its values,
//          and zstd's entropy coding of the byte stream (Huffman-coded literals at high
//          levels) stands in for the paper's b-bit packing plus Huffman coding.
//   codes: one zstd frame whose content is `entries` bytes, byte e = entry e's code
//          (0 for a filler, else 1..K).
//   codebook: the K centroids as float32.
//
//   Both frames are made by ZSTD_compress at zstd_level (default 19) and carry their
//   content size but no checksum (as bench/compare has always counted them). b is
//   chosen per layer: every b in 2..8 is encoded and the one with the fewest bytes() is
//   kept; a tie goes to the smaller b.
//
// Thread safety: the functions are reentrant; a DeepCompressedLayer is a plain value.

#ifndef WEIGHTLESS_BASELINES_DEEP_COMPRESSION_H_
#define WEIGHTLESS_BASELINES_DEEP_COMPRESSION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "weightless/status.h"

namespace weightless {
namespace baselines {

// One layer in the Deep Compression layout.
struct DeepCompressedLayer {
  int gap_bits = 0;                  // b, 2..8
  uint64_t entries = 0;              // kept weights plus filler entries
  std::vector<uint8_t> gaps, codes;  // zstd frames, one byte per entry
  std::vector<float> codebook;       // the K centroids, float32

  // Everything stored, in bytes: gaps.size() + codes.size() (the two frames as
  // compressed) + 4 K (the codebook) + 16, an allowance for the fixed header a file
  // holding the layer needs (b, K, the entry count and the two frame lengths). The
  // layer's shape (n) is not counted. This library defines no serialization of the
  // header; only its size is counted.
  uint64_t bytes() const;
};

// Encodes n codes (one per weight, row-major): 0 = pruned, else 1..K, with
// K = centroids.size() and code k standing for centroids[k - 1]. gap_bits = 0 chooses
// b as described above; 2..8 forces that b (to compare the choices).
//
// Errors (InvalidArgument): n == 0; codes == nullptr; K outside 1..255; a code above K
// (the message names its index); gap_bits other than 0 or 2..8; zstd_level outside
// ZSTD_minCLevel()..ZSTD_maxCLevel(). Internal if zstd fails to compress.
Result<DeepCompressedLayer> EncodeDeepCompression(const uint16_t* codes, size_t n,
                                                  const std::vector<float>& centroids,
                                                  int zstd_level = 19, int gap_bits = 0);

// Decodes `layer` into n dense float32 values in out[0..n-1]: pruned weights are +0.0f,
// kept weights their centroid. REQUIRES: out holds n floats.
//
// Never crashes on a damaged layer; returns Corruption when gap_bits is outside 2..8,
// K outside 1..255, entries > n, a frame is not valid zstd or does not hold exactly
// `entries` bytes, a gap exceeds 2^b - 1, a code exceeds K, a filler's gap is not
// 2^b - 1, the last entry is a filler, or the entries run past n. InvalidArgument when
// n == 0 or out == nullptr. Everything is checked before out is written: on error, out
// is left as it was. The frames have no checksum: a damaged byte inside one can decode,
// without an error, to other entries that still obey every rule above.
//
// A larger n than was encoded is not detected (the layer does not record n): the extra
// weights decode as pruned.
Status DecodeDeepCompression(const DeepCompressedLayer& layer, float* out, size_t n);

}  // namespace baselines
}  // namespace weightless

#endif  // WEIGHTLESS_BASELINES_DEEP_COMPRESSION_H_
