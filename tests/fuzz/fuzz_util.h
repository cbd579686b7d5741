// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Small helpers shared by the fuzz targets: a check that aborts in every build type
// (assert() is compiled out of release builds, where the corpus is replayed too), a
// reader of fuzzer-chosen parameters, and little-endian helpers. Only the public API
// and the C library are used, so the targets build with any compiler.

#ifndef WEIGHTLESS_TESTS_FUZZ_FUZZ_UTIL_H_
#define WEIGHTLESS_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// Aborts (so that libFuzzer and the replay driver report the input) when `cond` is
// false. A failed check is a bug in the library or in the property, never an
// acceptable outcome.
#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

namespace weightless {
namespace fuzz {

// Hands out the input's bytes front to back; reads past the end give zeros, so every
// input, even an empty one, is a complete set of parameters.
class ByteSource {
 public:
  ByteSource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | Byte() << 8); }
  uint32_t U32() { return static_cast<uint32_t>(U16()) | static_cast<uint32_t>(U16()) << 16; }
  uint64_t U64() { return static_cast<uint64_t>(U32()) | static_cast<uint64_t>(U32()) << 32; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

inline uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

inline void StoreLE64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Bitwise equality of float arrays (NaN payloads and signed zeros included).
inline bool SameBits(const float* a, const float* b, size_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0;
}

}  // namespace fuzz
}  // namespace weightless

#endif  // WEIGHTLESS_TESTS_FUZZ_FUZZ_UTIL_H_
