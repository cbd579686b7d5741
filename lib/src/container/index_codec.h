// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The file's index: building the FlatBuffer from the writer's records, and turning a
// stored FlatBuffer back into validated records. ParseIndex trusts nothing: it runs
// the FlatBuffers Verifier with explicit limits and then checks every value for
// meaning (spec/FORMAT.md, "Index structure" and "Reading").

#ifndef WEIGHTLESS_CONTAINER_INDEX_CODEC_H_
#define WEIGHTLESS_CONTAINER_INDEX_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "weightless/status.h"
#include "weightless/tensor.h"

namespace weightless {
namespace container {

struct IndexContents {
  uint16_t format_major = 0;
  uint16_t format_minor = 0;
  std::string producer_name;
  std::string producer_version;
  std::vector<TensorInfo> tensors;  // tensor i's payload is section i
  std::vector<MetadataEntry> metadata;
  uint64_t required_features = 0;
};

// The features a set of tensors uses (what required_features must be).
uint64_t FeaturesUsed(const std::vector<TensorInfo>& tensors);

// The writer's side, in index_builder.cc (not part of the reader-only library).
std::vector<uint8_t> BuildIndex(const IndexContents& contents);

// What the index must agree with outside itself: payload sections must lie in
// [payload_begin, payload_end), and the index repeats the header's minor version.
struct FileGeometry {
  uint64_t payload_begin;  // end of the header
  uint64_t payload_end;    // start of the index
  uint64_t max_decompressed_bytes;
  uint16_t header_minor;  // the header's minor version
};

// Verifies and validates `size` bytes of index against the file geometry and the
// trailer's required_features (which must have no unknown bits).
Result<IndexContents> ParseIndex(const uint8_t* data, size_t size, const FileGeometry& geometry,
                                 uint64_t required_features);

// The names the index gives to feature bits, for naming a feature this reader does not
// know. Best effort: empty when the index cannot be verified.
std::string NameUnknownFeatures(const uint8_t* data, size_t size, uint64_t unknown_bits);

// True if `s` is valid UTF-8 without NUL bytes.
bool IsValidName(const std::string& s);

}  // namespace container
}  // namespace weightless

#endif  // WEIGHTLESS_CONTAINER_INDEX_CODEC_H_
