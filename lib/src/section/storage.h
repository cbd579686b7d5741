// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The storages behind weightless/section.h, one file each (dense.cc, packed_codes.cc,
// retrieval_section.cc): how a storage's bytes are made, validated against their
// description, decoded to floats or codes, checked in full, and read in part. The
// reader, the writer and EncodedSection reach a storage only through StorageOps (or, for
// making bytes, the functions below), so each storage's rules live in one place.

#ifndef WEIGHTLESS_SECTION_STORAGE_H_
#define WEIGHTLESS_SECTION_STORAGE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "weightless/retrieval.h"
#include "weightless/section.h"
#include "weightless/status.h"
#include "weightless/tensor.h"

namespace weightless {
namespace section {

// Reads bytes [offset, offset + size) of a section into dst (the reader's pread).
using ReadFn = std::function<Status(uint64_t offset, uint64_t size, uint8_t* dst)>;

// One storage's half of the lifecycle that works on bytes already made. REQUIRES for
// the decode and check members: a view that open accepted; begin <= end <= the view's
// element count (SectionView checks both).
struct StorageOps {
  // The exact section size the description needs, or an error naming the field that
  // has no meaning (Corruption: kBadEncoding, kBadEnum). SectionView::Open checks it
  // first. (The index parser checks the same rules against the FlatBuffer's fields.)
  Result<uint64_t> (*expected_size)(const TensorInfo& info);
  // Validates data[0..size) (size already equal to expected_size) against the
  // description; a retrieval storage leaves its opened table in *table.
  Status (*open)(const TensorInfo& info, const uint8_t* data, uint64_t size,
                 std::optional<RetrievalView>* table);
  Status (*decode_floats)(const SectionView& view, uint64_t begin, uint64_t end, float* out,
                          int threads);
  // Null for a storage without codes (dense).
  Status (*decode_codes)(const SectionView& view, uint64_t begin, uint64_t end, uint16_t* out,
                         int threads);
  Status (*check_values)(const SectionView& view);
  // Partial reads (REQUIRES begin < end <= elements), one of two kinds per storage:
  // read_window, for storages whose elements [begin, end) lie in consecutive bytes
  // (dense, packed codes): reads those bytes alone (rounded out to whole bytes, from
  // element *first on) into *window, checking what open would check of them; the
  // caller decodes them through ViewAccess::Window. Null for retrieval.
  Status (*read_window)(const TensorInfo& info, uint64_t begin, uint64_t end, const ReadFn& read,
                        std::vector<uint8_t>* window, uint64_t* first);
  // read_part, for retrieval: reads into `buffer` (zero-filled, of the section's size)
  // the bytes that open and decoding [begin, end) need, and only those. Sets *whole
  // instead when what it read does not describe the section (a damaged shard
  // directory): the caller then loads the section whole, which reports the damage.
  // Null for the others.
  Status (*read_part)(const TensorInfo& info, uint64_t begin, uint64_t end, const ReadFn& read,
                      uint8_t* buffer, bool* whole);
};

// The library's access to SectionView's representation.
struct ViewAccess {
  // A view of `elements` elements held in data[0..size), the window read_window read
  // (starting at an element that starts a byte), trusted: read_window checked what
  // open would. `info` describes the whole section.
  static SectionView Window(const TensorInfo& info, const uint8_t* data, uint64_t size,
                            uint64_t elements);
};

// The operations of `storage`; null for a value without meaning.
const StorageOps* OpsFor(Storage storage);

extern const StorageOps kDenseOps;
extern const StorageOps kPackedCodesOps;
extern const StorageOps kRetrievalOps;

// How every storage's errors begin: Label is "tensor '<name>'" ("the section" for one
// not yet in a file, which has no name), Where adds ": section at offset <n>".
std::string Label(const TensorInfo& info);
std::string Where(const TensorInfo& info);

// A storage's rule applied to a caller's argument rather than to a file: the same
// message as InvalidArgument (OutOfRange stays OutOfRange), without a file error.
Status AsArgumentError(const Status& s);

// K within 1..2^bits - 1 and every centroid finite (bits 1..16); kBadEncoding naming
// the tensor otherwise.
Status CheckCentroids(const TensorInfo& info, int bits);

// Making bytes.
// The packed-codes rule that the bits past the last code are zero, for the section's
// last byte: kUnexplainedBytes otherwise.
Status CheckPackedTail(const TensorInfo& info, uint8_t last_byte);

// Little-endian elements of `dtype` for values[0..count) (Writer::AddDense's rounding).
void EncodeDense(const float* values, uint64_t count, DType dtype, float int8_scale, uint8_t* out);
// Bytes of `count` codes of `bits` bits.
inline uint64_t PackedCodesBytes(uint64_t count, int bits) {
  return (count * static_cast<uint64_t>(bits) + 7) / 8;
}
// Packs codes[0..count) at `bits` bits each into out (PackedCodesBytes(count, bits)
// bytes, overwritten): code i occupies bits [i*bits, (i+1)*bits), least significant bit
// first.
void PackCodes(const uint16_t* codes, uint64_t count, int bits, uint8_t* out);

}  // namespace section
}  // namespace weightless

#endif  // WEIGHTLESS_SECTION_STORAGE_H_
