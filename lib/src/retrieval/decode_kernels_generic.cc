// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "retrieval/decode_kernels.h"

namespace weightless {
namespace retrieval {
namespace generic {
template <int T>
static inline uint32_t RibbonParities(const uint8_t* blocks, uint64_t x, uint64_t coefficient) {
  return RibbonParitiesPortable<T>(blocks, x, coefficient);
}
#include "retrieval/decode_kernels.inc"
}  // namespace generic

const DecodeKernels& GenericDecodeKernels() {
  static const DecodeKernels kernels{&generic::DecodeCodesKernel, &generic::DecodeFloatsKernel};
  return kernels;
}

#if defined(WEIGHTLESS_HAVE_X86V3_KERNELS)
const DecodeKernels& X86V3DecodeKernels();  // decode_kernels_x86v3.cc
#endif

const DecodeKernels& SelectedDecodeKernels() {
#if defined(WEIGHTLESS_HAVE_X86V3_KERNELS)
  static const DecodeKernels& selected = []() -> const DecodeKernels& {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
        __builtin_cpu_supports("popcnt")) {
      return X86V3DecodeKernels();
    }
    return GenericDecodeKernels();
  }();
  return selected;
#else
  return GenericDecodeKernels();
#endif
}

}  // namespace retrieval
}  // namespace weightless
