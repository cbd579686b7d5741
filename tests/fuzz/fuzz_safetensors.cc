// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Property: any bytes opened as a safetensors file are refused with a Status, or give
// entries whose byte ranges lie in the data section, do not overlap, and hold exactly
// dtype x shape bytes (known dtypes); reading each one returns exactly those bytes and
// converts to float32 with one value per element, or refuses with a Status. No
// exception escapes, and nothing is allocated beyond the input's size (the header is
// at most the input, the tensors are slices of it).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_input_file.h"
#include "fuzz_util.h"
#include "interchange/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using wl_tools::ElementSize;
  using wl_tools::ElementType;
  weightless::fuzz::InputFile input(data, size);
  auto file = wl_tools::SafetensorsFile::Open(input.path());
  if (!file.ok()) {
    FUZZ_CHECK(!file.status().ToString().empty());
    return 0;
  }
  FUZZ_CHECK(size >= 8);
  const uint64_t header = weightless::fuzz::LoadLE64(data);
  FUZZ_CHECK(header <= size - 8);
  const uint64_t data_size = size - 8 - header;
  const auto& entries = (*file)->entries();
  uint64_t previous_end = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    FUZZ_CHECK(e.name != "__metadata__");
    FUZZ_CHECK(e.begin <= e.end && e.end <= data_size);
    if (e.end > e.begin) {  // entries are in file order; non-empty ones never overlap
      FUZZ_CHECK(e.begin >= previous_end);
      previous_end = e.end;
    }
    auto count = wl_tools::CheckedElementCount(e.shape, 1, "fuzz");
    FUZZ_CHECK(count.ok());
    if (e.type != ElementType::kOther) {
      FUZZ_CHECK(e.end - e.begin == *count * ElementSize(e.type));
    }
    auto t = (*file)->Read(i);
    FUZZ_CHECK(t.ok());
    FUZZ_CHECK(t->name == e.name && t->shape == e.shape && t->type == e.type);
    if (e.type == ElementType::kOther) {
      FUZZ_CHECK(t->bytes.empty());
      FUZZ_CHECK(!t->ToFloat32().ok());
      continue;
    }
    FUZZ_CHECK(t->bytes.size() == e.end - e.begin);
    FUZZ_CHECK(std::equal(t->bytes.begin(), t->bytes.end(), data + 8 + header + e.begin));
    auto values = t->ToFloat32();
    if (values.ok()) {
      FUZZ_CHECK(values->size() == *count);
    } else {
      FUZZ_CHECK(e.type == ElementType::kF64);  // only F64 can exceed float32's range
    }
  }
  return 0;
}
