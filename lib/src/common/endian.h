// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Little-endian loads and stores: every integer in a .wl file is little-endian,
// whatever the host's byte order (spec/FORMAT.md, spec/RETRIEVAL.md). No alignment is
// required.
//
// The functions are `static inline` so that the decode kernels compiled for other CPU
// targets get their own copies (see retrieval/hashing.h).

#ifndef WEIGHTLESS_COMMON_ENDIAN_H_
#define WEIGHTLESS_COMMON_ENDIAN_H_

#include <cstdint>
#include <cstring>

namespace weightless {

static inline uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static inline uint32_t LoadLE32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}

static inline uint16_t LoadLE16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

static inline void StoreLE64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

static inline void StoreLE32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

static inline void StoreLE16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

}  // namespace weightless

#endif  // WEIGHTLESS_COMMON_ENDIAN_H_
