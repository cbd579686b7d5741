// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "retrieval/decode_kernels.h"

namespace weightless {
namespace retrieval {
namespace generic {

#include "retrieval/decode_kernels_portable.inc"

// The portable batches are loops of single-key queries: their iterations are
// independent, so the processor overlaps them.

template <int T>
class RibbonBatches {
 public:
  static constexpr int kKeys = 8;

  explicit RibbonBatches(const RibbonShard& shard) : shard_(shard) {}
  WEIGHTLESS_ALWAYS_INLINE void operator()(uint64_t first, uint32_t* codes) const {
    auto parities = [](const uint8_t* blocks, uint64_t x, uint64_t c) {
      return RibbonParitiesPortable<T>(blocks, x, c);
    };
    for (int j = 0; j < kKeys; ++j) {
      codes[j] = QueryRibbon<T>(shard_, KeyHash(first + j, shard_.seed), parities);
    }
  }

 private:
  const RibbonShard shard_;
};

template <int T>
class RibbonMix32Batches {
 public:
  static constexpr int kKeys = 8;

  explicit RibbonMix32Batches(const RibbonShard& shard)
      : shard_(shard), seeds_(Mix32SeedsOf(shard.seed)) {}
  WEIGHTLESS_ALWAYS_INLINE void operator()(uint64_t first, uint32_t* codes) const {
    auto parities = [](const uint8_t* blocks, uint64_t x, uint64_t c) {
      return RibbonParitiesPortable<T>(blocks, x, c);
    };
    for (int j = 0; j < kKeys; ++j) {
      codes[j] = QueryRibbonMix32<T>(shard_, seeds_, first + j, parities);
    }
  }

 private:
  const RibbonShard shard_;
  const Mix32Seeds seeds_;
};

template <int N>
static WEIGHTLESS_ALWAYS_INLINE void StoreCodes(const uint32_t* codes, uint16_t* out) {
  for (int j = 0; j < N; ++j) out[j] = static_cast<uint16_t>(codes[j]);
}

// The portable kernels decode every key themselves.
constexpr bool kPortableEdges = false;

#include "retrieval/decode_kernels.inc"
}  // namespace generic

const DecodeKernels& GenericDecodeKernels() {
  static const DecodeKernels kernels{&generic::DecodeCodesKernel, &generic::DecodeFloatsKernel,
                                     "generic"};
  return kernels;
}

#if defined(WEIGHTLESS_HAVE_X86V3_KERNELS)
const DecodeKernels& X86V3DecodeKernels();  // decode_kernels_x86v3.cc
#endif
#if defined(WEIGHTLESS_HAVE_NEON_KERNELS)
const DecodeKernels& NeonDecodeKernels();  // decode_kernels_neon.cc
#endif

const DecodeKernels& SelectedDecodeKernels() {
#if defined(WEIGHTLESS_HAVE_X86V3_KERNELS)
  static const DecodeKernels& selected = []() -> const DecodeKernels& {
    __builtin_cpu_init();
    // Exactly the features decode_kernels_x86v3.cc is compiled with (lib/CMakeLists.txt).
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
        __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("popcnt")) {
      return X86V3DecodeKernels();
    }
    return GenericDecodeKernels();
  }();
  return selected;
#elif defined(WEIGHTLESS_HAVE_NEON_KERNELS)
  return NeonDecodeKernels();  // NEON is part of the aarch64 baseline
#else
  return GenericDecodeKernels();
#endif
}

}  // namespace retrieval
}  // namespace weightless
