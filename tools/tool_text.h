// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// What the command-line tools print about a tensor the same way: its shape ("300x784",
// "scalar") and the bytes it costs in a file.

#ifndef WEIGHTLESS_TOOLS_TOOL_TEXT_H_
#define WEIGHTLESS_TOOLS_TOOL_TEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "weightless/tensor.h"

namespace wl_tools {

inline std::string ShapeText(const std::vector<uint64_t>& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

// Bytes the tensor costs in the file: its section plus its centroids (in the index).
inline uint64_t FileBytes(const weightless::TensorInfo& t) {
  return t.stored_bytes + 4 * t.centroids.size();
}

}  // namespace wl_tools

#endif  // WEIGHTLESS_TOOLS_TOOL_TEXT_H_
