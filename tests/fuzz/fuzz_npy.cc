// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Property: any bytes read as a .npy file are refused with a Status, or give a tensor
// whose bytes are exactly shape x element size (none for non-float types), equal to
// the file's data section (little-endian row-major input, as NumPy writes by default)
// and convert to float32 with one value per element, or refuse with a Status. No
// exception escapes, and nothing is allocated beyond the input's size (the header is
// at most the input, the data must be exactly what the file holds).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_input_file.h"
#include "fuzz_util.h"
#include "interchange/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using wl_tools::ElementType;
  weightless::fuzz::InputFile input(data, size);
  auto t = wl_tools::ReadNpy(input.path(), "x");
  if (!t.ok()) {
    FUZZ_CHECK(!t.status().ToString().empty());
    return 0;
  }
  FUZZ_CHECK(t->name == "x");
  FUZZ_CHECK(size >= 10);
  if (t->type == ElementType::kOther) {
    FUZZ_CHECK(t->bytes.empty());
    FUZZ_CHECK(!t->ToFloat32().ok());
    return 0;
  }
  auto count = wl_tools::CheckedElementCount(t->shape, wl_tools::ElementSize(t->type), "fuzz");
  FUZZ_CHECK(count.ok());
  FUZZ_CHECK(t->element_count() == *count);
  FUZZ_CHECK(t->bytes.size() == *count * wl_tools::ElementSize(t->type));
  FUZZ_CHECK(t->bytes.size() <= size);
  // The data section is the file's last bytes, as they are unless big-endian (memory
  // order matters only from rank 2 on).
  const std::string& d = t->declared_type;
  if (!d.empty() && d[0] != '>' && t->shape.size() <= 1 && !t->bytes.empty()) {
    FUZZ_CHECK(std::memcmp(t->bytes.data(), data + size - t->bytes.size(), t->bytes.size()) == 0);
  }
  auto values = t->ToFloat32();
  if (values.ok()) {
    FUZZ_CHECK(values->size() == *count);
  } else {
    FUZZ_CHECK(t->type == ElementType::kF64);
  }
  return 0;
}
