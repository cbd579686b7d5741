// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Packed-codes storage (spec/FORMAT.md, "Payloads"): one code per weight at code_bits
// bits, least significant bit first; the bits past the last code are zero.

#include <algorithm>

#include "container/file_layout.h"
#include "section/storage.h"

namespace weightless {
namespace section {

void PackCodes(const uint16_t* codes, uint64_t count, int bits, uint8_t* out) {
  std::fill_n(out, PackedCodesBytes(count, bits), uint8_t{0});
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t bit = i * static_cast<uint64_t>(bits);
    uint32_t wide = static_cast<uint32_t>(codes[i]) << (bit % 8);  // at most 23 bits
    for (uint64_t byte = bit / 8; wide != 0; ++byte, wide >>= 8) {
      out[byte] |= static_cast<uint8_t>(wide);
    }
  }
}

Status CheckPackedTail(const TensorInfo& info, uint8_t last_byte) {
  const uint64_t bits = info.element_count() * static_cast<uint64_t>(info.code_bits);
  if (bits % 8 != 0 && (last_byte >> (bits % 8)) != 0) {
    return container::Corrupt(FileError::kUnexplainedBytes,
                              Label(info) + ": bits past the last code must be zero");
  }
  return Status::OK();
}

namespace {

uint32_t UnpackCode(const uint8_t* payload, uint64_t index, int bits) {
  const uint64_t bit = index * static_cast<uint64_t>(bits);
  const uint64_t first = bit / 8;
  const uint64_t last = (bit + static_cast<uint64_t>(bits) - 1) / 8;  // at most first + 2
  uint32_t wide = 0;
  for (uint64_t b = first; b <= last; ++b)
    wide |= static_cast<uint32_t>(payload[b]) << (8 * (b - first));
  return (wide >> (bit % 8)) & ((1u << bits) - 1);
}

Result<uint64_t> PackedSize(const TensorInfo& info) {
  Status s = CheckCentroids(info, info.code_bits);
  if (!s.ok()) return s;
  return PackedCodesBytes(info.element_count(), info.code_bits);
}

Status OpenPacked(const TensorInfo& info, const uint8_t* data, uint64_t size,
                  std::optional<RetrievalView>*) {
  return size == 0 ? Status::OK() : CheckPackedTail(info, data[size - 1]);
}

Status DecodePackedFloats(const SectionView& view, uint64_t begin, uint64_t end, float* out, int) {
  const TensorInfo& t = view.info();
  const uint32_t k = static_cast<uint32_t>(t.centroids.size());
  for (uint64_t i = begin; i < end; ++i) {
    const uint32_t code = UnpackCode(view.data(), i, t.code_bits);
    out[i - begin] = (code >= 1 && code <= k) ? t.centroids[code - 1] : 0.0f;
  }
  return Status::OK();
}

Status DecodePackedCodes(const SectionView& view, uint64_t begin, uint64_t end, uint16_t* out,
                         int) {
  const TensorInfo& t = view.info();
  const uint32_t k = static_cast<uint32_t>(t.centroids.size());
  for (uint64_t i = begin; i < end; ++i) {
    const uint32_t code = UnpackCode(view.data(), i, t.code_bits);
    out[i - begin] = static_cast<uint16_t>(code <= k ? code : 0);
  }
  return Status::OK();
}

Status CheckPackedValues(const SectionView& view) {
  const TensorInfo& t = view.info();
  const uint64_t n = view.element_count();
  for (uint64_t i = 0; i < n; ++i) {
    const uint32_t code = UnpackCode(view.data(), i, t.code_bits);
    if (code > t.centroids.size()) {
      return container::Corrupt(FileError::kBadEncoding,
                                Label(t) + ": code " + std::to_string(code) + " at weight " +
                                    std::to_string(i) +
                                    " exceeds K = " + std::to_string(t.centroids.size()));
    }
  }
  return Status::OK();
}

// From a code whose first bit starts a byte (every 8th code does) to the byte holding
// the last code's last bit; when that is the section's last byte, its tail is checked
// as open checks it.
Status ReadPackedWindow(const TensorInfo& info, uint64_t begin, uint64_t end, const ReadFn& read,
                        std::vector<uint8_t>* window, uint64_t* first) {
  const uint64_t bits = static_cast<uint64_t>(info.code_bits);
  const uint64_t size = PackedCodesBytes(info.element_count(), info.code_bits);
  *first = begin / 8 * 8;
  const uint64_t first_byte = *first * bits / 8;
  const uint64_t last_byte = (end * bits + 7) / 8;  // exclusive
  window->resize(last_byte - first_byte);
  Status s = read(first_byte, window->size(), window->data());
  if (s.ok() && last_byte == size) s = CheckPackedTail(info, window->back());
  return s;
}

}  // namespace

const StorageOps kPackedCodesOps = {
    PackedSize,       OpenPacked, DecodePackedFloats, DecodePackedCodes, CheckPackedValues,
    ReadPackedWindow, nullptr};

}  // namespace section
}  // namespace weightless
