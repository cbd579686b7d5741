// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "container/file_layout.h"

#include <xxhash.h>

#include <cstring>

namespace weightless {
namespace container {

void PutLE16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void PutLE64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t GetLE16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint64_t GetLE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t Checksum(const uint8_t* data, size_t size) { return XXH3_64bits(data, size); }

Status FileStatus(StatusCode code, FileError error, const std::string& message) {
  return Status(code, static_cast<int>(error), message);
}

void Header::EncodeTo(uint8_t out[kHeaderSize]) const {
  std::memset(out, 0, kHeaderSize);
  std::memcpy(out, kHeaderMagic, 8);
  PutLE16(out + 8, major);
  PutLE16(out + 10, minor);
}

Result<Header> Header::DecodeFrom(const uint8_t in[kHeaderSize]) {
  if (std::memcmp(in, kHeaderMagic, 8) != 0) {
    return Corrupt(FileError::kBadMagic, "header at offset 0: not a Weightless file (bad magic)");
  }
  Header h;
  h.major = GetLE16(in + 8);
  h.minor = GetLE16(in + 10);
  if (h.major != kFormatMajor) {
    return FileStatus(StatusCode::kNotSupported, FileError::kUnsupportedMajor,
                      "header at offset 8: format major version " + std::to_string(h.major) +
                          " (this reader reads major version " + std::to_string(kFormatMajor) +
                          ")");
  }
  for (size_t i = 12; i < kHeaderSize; ++i) {
    if (in[i] != 0) {
      return Corrupt(FileError::kReservedNonZero,
                     "header at offset " + std::to_string(i) + ": reserved byte is not zero");
    }
  }
  return h;
}

void Trailer::EncodeTo(uint8_t out[kTrailerSize]) const {
  PutLE64(out, index_offset);
  PutLE64(out + 8, index_size);
  PutLE64(out + 16, index_checksum);
  PutLE64(out + 24, required_features);
  PutLE64(out + 32, Checksum(out, 32));
  std::memcpy(out + 40, kTrailerMagic, 8);
}

Result<Trailer> Trailer::DecodeFrom(const uint8_t in[kTrailerSize]) {
  if (std::memcmp(in + 40, kTrailerMagic, 8) != 0) {
    return Corrupt(FileError::kBadTrailerMagic,
                   "trailer: bad magic in the last 8 bytes (incomplete or truncated file)");
  }
  if (GetLE64(in + 32) != Checksum(in, 32)) {
    return Corrupt(FileError::kTrailerChecksum, "trailer: checksum mismatch");
  }
  Trailer t;
  t.index_offset = GetLE64(in);
  t.index_size = GetLE64(in + 8);
  t.index_checksum = GetLE64(in + 16);
  t.required_features = GetLE64(in + 24);
  return t;
}

}  // namespace container
}  // namespace weightless
