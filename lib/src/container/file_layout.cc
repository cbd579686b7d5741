// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "container/file_layout.h"

#include <xxhash.h>

#include <cstring>

namespace weightless {
namespace container {

uint64_t Checksum(const uint8_t* data, size_t size) { return XXH3_64bits(data, size); }

Status FileStatus(StatusCode code, FileError error, const std::string& message) {
  return Status(code, static_cast<int>(error), message);
}

void Header::EncodeTo(uint8_t out[kHeaderSize]) const {
  std::memset(out, 0, kHeaderSize);
  std::memcpy(out, kHeaderMagic, 8);
  StoreLE16(out + 8, major);
  StoreLE16(out + 10, minor);
}

Result<Header> Header::DecodeFrom(const uint8_t in[kHeaderSize]) {
  if (std::memcmp(in, kHeaderMagic, 8) != 0) {
    return Corrupt(FileError::kBadMagic, "header at offset 0: not a Weightless file (bad magic)");
  }
  Header h;
  h.major = LoadLE16(in + 8);
  h.minor = LoadLE16(in + 10);
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
  StoreLE64(out, index_offset);
  StoreLE64(out + 8, index_size);
  StoreLE64(out + 16, index_checksum);
  StoreLE64(out + 24, required_features);
  StoreLE64(out + 32, Checksum(out, 32));
  std::memcpy(out + 40, kTrailerMagic, 8);
}

Result<Trailer> Trailer::DecodeFrom(const uint8_t in[kTrailerSize]) {
  if (std::memcmp(in + 40, kTrailerMagic, 8) != 0) {
    return Corrupt(FileError::kBadTrailerMagic,
                   "trailer: bad magic in the last 8 bytes (incomplete or truncated file)");
  }
  if (LoadLE64(in + 32) != Checksum(in, 32)) {
    return Corrupt(FileError::kTrailerChecksum, "trailer: checksum mismatch");
  }
  Trailer t;
  t.index_offset = LoadLE64(in);
  t.index_size = LoadLE64(in + 8);
  t.index_checksum = LoadLE64(in + 16);
  t.required_features = LoadLE64(in + 24);
  return t;
}

}  // namespace container
}  // namespace weightless
