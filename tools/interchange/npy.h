// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// NumPy .npy files (format versions 1.0, 2.0 and 3.0): magic, version, a header that is
// a Python dict literal ({'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }),
// then the array's bytes. Floating-point arrays of either byte order and either memory
// order are read; they are returned little-endian and row-major.

#ifndef WEIGHTLESS_TOOLS_INTERCHANGE_NPY_H_
#define WEIGHTLESS_TOOLS_INTERCHANGE_NPY_H_

#include <string>

#include "host_tensor.h"
#include "weightless/status.h"

namespace wl_tools {

// Headers longer than this are refused (NumPy writes a few hundred bytes at most).
constexpr size_t kMaxNpyHeader = 1 << 20;

// Reads `path` into a tensor called `name`. Errors name the file and the field: magic,
// version, header syntax, descr, shape, or a data size that disagrees with the shape.
// A non-float array (e.g. '<i8') is returned with type kOther and no bytes.
weightless::Result<HostTensor> ReadNpy(const std::string& path, const std::string& name);

// Writes `tensor` (kF32 or kF16) as a version 1.0 .npy file (2.0 if the header needs
// it), atomically.
weightless::Status WriteNpy(const std::string& path, const HostTensor& tensor);

}  // namespace wl_tools

#endif  // WEIGHTLESS_TOOLS_INTERCHANGE_NPY_H_
