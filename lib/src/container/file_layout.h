// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The fixed structures of a .wl file (spec/FORMAT.md): the 64-byte header at offset 0
// and the 48-byte trailer at the end. All integers little-endian.
//
// Header:   0 magic[8] = 89 57 4C 46 0D 0A 1A 0A ("\x89WLF\r\n\x1a\n")
//           8 u16 major, 10 u16 minor, 12..63 reserved (zero)
// Trailer:  0 u64 index_offset, 8 u64 index_size, 16 u64 index_checksum,
//          24 u64 required_features, 32 u64 trailer_checksum (XXH3-64 of bytes 0..31),
//          40 magic[8] = "WLFEND\r\n"

#ifndef WEIGHTLESS_CONTAINER_FILE_LAYOUT_H_
#define WEIGHTLESS_CONTAINER_FILE_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/endian.h"
#include "weightless/format.h"
#include "weightless/status.h"

namespace weightless {
namespace container {

constexpr size_t kHeaderSize = 64;
constexpr size_t kTrailerSize = 48;
constexpr uint64_t kSectionAlignment = 64;
constexpr uint8_t kHeaderMagic[8] = {0x89, 'W', 'L', 'F', '\r', '\n', 0x1A, '\n'};
constexpr uint8_t kTrailerMagic[8] = {'W', 'L', 'F', 'E', 'N', 'D', '\r', '\n'};

struct Header {
  uint16_t major = kFormatMajor;
  uint16_t minor = kFormatMinor;

  void EncodeTo(uint8_t out[kHeaderSize]) const;
  // Checks magic, reserved bytes and the major version.
  static Result<Header> DecodeFrom(const uint8_t in[kHeaderSize]);
};

struct Trailer {
  uint64_t index_offset = 0;
  uint64_t index_size = 0;
  uint64_t index_checksum = 0;
  uint64_t required_features = 0;

  void EncodeTo(uint8_t out[kTrailerSize]) const;
  // Checks magic and the trailer checksum; the caller checks offsets against the file.
  static Result<Trailer> DecodeFrom(const uint8_t in[kTrailerSize]);
};

// Rounds up to the next multiple of kSectionAlignment. REQUIRES: x < 2^64 - 64.
inline uint64_t AlignUp(uint64_t x) {
  return (x + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment;
}

// XXH3-64 with seed 0: the checksum of sections, index and trailer.
uint64_t Checksum(const uint8_t* data, size_t size);

// A Status carrying a FileError detail code.
Status FileStatus(StatusCode code, FileError error, const std::string& message);
inline Status Corrupt(FileError error, const std::string& message) {
  return FileStatus(StatusCode::kCorruption, error, message);
}

// The element count of a shape within FileLimits::kMaxElements, which bounds the
// product of the non-zero dimensions (spec/FORMAT.md, limits), so that no partial
// product of an empty tensor overflows either. False when the limit is exceeded.
// Shared by the writer and the index parser so that both apply the same rule.
template <typename Dims>
bool ShapeElementCount(const Dims& dims, uint64_t* elements) {
  uint64_t nonzero_product = 1;
  bool empty = false;
  for (uint64_t d : dims) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (d > FileLimits::kMaxElements || nonzero_product > FileLimits::kMaxElements / d) {
      return false;
    }
    nonzero_product *= d;
  }
  *elements = empty ? 0 : nonzero_product;
  return true;
}

}  // namespace container
}  // namespace weightless

#endif  // WEIGHTLESS_CONTAINER_FILE_LAYOUT_H_
