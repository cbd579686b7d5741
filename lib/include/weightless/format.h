// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Constants of the .wl file format that users may need: the format version this
// library reads and writes, the required-feature bits, the limits every reader
// enforces, and the detail codes of file errors. spec/FORMAT.md is normative; every
// value here is defined there.

#ifndef WEIGHTLESS_FORMAT_H_
#define WEIGHTLESS_FORMAT_H_

#include <cstdint>

#include "weightless/export.h"

namespace weightless {

// The format version written by this library. A reader reads every file of its major
// version whose required features it knows, whatever the minor version.
constexpr uint16_t kFormatMajor = 1;
constexpr uint16_t kFormatMinor = 1;

// Required-feature bits (the trailer's required_features). A file sets the bit of
// every feature it uses; a reader refuses a file with a bit it does not know, naming
// the feature (the index lists each set bit's name). Bit values are persistent.
enum class Feature : uint64_t {
  kZstd = uint64_t{1} << 0,         // a section is zstd-compressed
  kBloomier = uint64_t{1} << 1,     // a retrieval table of kind bloomier
  kRibbon = uint64_t{1} << 2,       // a retrieval table of kind ribbon
  kPackedCodes = uint64_t{1} << 3,  // a layer stored as bit-packed codes
  kFloat16 = uint64_t{1} << 4,      // a dense float16 tensor
  kBFloat16 = uint64_t{1} << 5,     // a dense bfloat16 tensor
  kInt8 = uint64_t{1} << 6,         // a dense int8 tensor
  kZstdIndex = uint64_t{1} << 7,    // the index itself is stored as a zstd frame
  kRibbonMix32 = uint64_t{1} << 8,  // a ribbon table hashed with mix32 (format 1.1)
};
// Every feature this library implements.
constexpr uint64_t kKnownFeatures = 0x1FF;

// The name of one feature bit ("zstd", "ribbon", ...); "unknown" for others.
WEIGHTLESS_EXPORT const char* FeatureName(uint64_t bit);

// Limits enforced by every reader and respected by every writer (spec/FORMAT.md,
// "Limits"). A file beyond any of them is refused.
struct FileLimits {
  static constexpr uint64_t kMaxIndexBytes = uint64_t{64} << 20;  // 64 MiB
  static constexpr uint32_t kMaxTensors = 1u << 20;
  static constexpr uint32_t kMaxMetadataEntries = 1u << 16;
  static constexpr uint32_t kMaxRank = 8;
  static constexpr uint32_t kMaxNameBytes = 1024;                // tensor names, metadata keys
  static constexpr uint32_t kMaxMetadataStringBytes = 1u << 20;  // metadata string values
  static constexpr uint64_t kMaxElements = uint64_t{1} << 48;    // shape product
  static constexpr uint32_t kMaxCentroids = 65535;
  // A zstd section may expand at most this many times (plus 1 MiB); zstd cannot
  // legitimately exceed it, so larger claims are refused before allocating.
  static constexpr uint64_t kMaxZstdExpansion = 32768;
};

// Precisely what is wrong with a file: the detail() of a Status returned by the reader
// or the writer. Values are stable (they are part of the C API and of the golden-error
// suite). Each has a name (FileErrorName). spec/FORMAT.md, "Error codes", lists them
// and names the code of every rule; tests/spec/check_error_codes.py keeps the two equal.
enum class FileError : int {
  kNone = 0,
  kTooSmall = 1,              // shorter than a header and a trailer
  kBadMagic = 2,              // header magic
  kBadTrailerMagic = 3,       // trailer magic (incomplete or not a .wl file)
  kUnsupportedMajor = 4,      // a major version this reader does not read
  kReservedNonZero = 5,       // a reserved field is not zero
  kTrailerChecksum = 6,       // trailer checksum mismatch
  kIndexOutOfBounds = 7,      // index offset/size outside the file or misplaced
  kIndexChecksum = 8,         // index checksum mismatch
  kIndexInvalid = 9,          // not a valid "WLIX" FlatBuffer, or its version disagrees
  kUnknownFeature = 10,       // a required feature this reader does not implement
  kFeatureMismatch = 11,      // feature bits or names disagree with what the file uses
  kLimitExceeded = 12,        // a count, size or length beyond FileLimits
  kSectionMisaligned = 13,    // a section offset is not a multiple of 64
  kSectionOutOfBounds = 14,   // a section extends outside the payload area
  kSectionOverlap = 15,       // sections overlap or are out of order
  kUnexplainedBytes = 16,     // padding of 64+ bytes or not zero; bits after the last code
  kSectionSizeMismatch = 17,  // a section's size disagrees with its tensor
  kSectionChecksum = 18,      // a section's checksum mismatch
  kBadEnum = 19,              // an enum value without meaning
  kBadName = 20,              // an empty, too long, non-UTF-8 or NUL-containing name
  kDuplicateName = 21,        // two tensors or metadata keys with the same name
  kBadShape = 22,             // rank or shape product out of range (or overflowing)
  kBadEncoding = 23,          // t, K, centroids or retrieval parameters without meaning
  kCodecError = 24,           // zstd refused the data or produced the wrong size
  kBadSectionReference = 25,  // a tensor refers to a missing or foreign section
  kIOError = 26,              // the operating system failed a read or write
  kBadMetadata = 27,          // a metadata entry whose type and value disagree
};

// "section_overlap", ...; "unknown" for values outside the enum. Never null.
WEIGHTLESS_EXPORT const char* FileErrorName(FileError error);

}  // namespace weightless

#endif  // WEIGHTLESS_FORMAT_H_
