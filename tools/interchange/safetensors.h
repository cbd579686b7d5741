// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// safetensors files (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON naming each tensor's dtype, shape and byte range,
// then the tensors' bytes. The reader trusts nothing in the header: sizes, offsets and
// shapes are checked against each other and the file before any tensor is read.

#ifndef WEIGHTLESS_TOOLS_INTERCHANGE_SAFETENSORS_H_
#define WEIGHTLESS_TOOLS_INTERCHANGE_SAFETENSORS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host_tensor.h"
#include "weightless/status.h"

namespace wl_tools {

// Headers larger than this are refused (the reference implementation's limit).
constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;

// An open safetensors file: the parsed header; tensor bytes are read on demand.
// Not thread-safe.
class SafetensorsFile {
 public:
  struct Entry {
    std::string name;
    std::vector<uint64_t> shape;
    ElementType type;
    std::string declared_type;
    uint64_t begin, end;  // byte range within the data section
  };

  // Errors name the file and what is wrong: header length, JSON, a tensor's field,
  // a byte range that disagrees with dtype x shape, overlaps or lies past the end.
  static weightless::Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();

  const std::vector<Entry>& entries() const { return entries_; }  // in file order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Reads entry i's bytes (empty for non-float element types: only the header is kept).
  weightless::Result<HostTensor> Read(size_t i) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  int fd_ = -1;
  uint64_t data_start_ = 0;
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// What a written tensor is: its bytes come from `produce` when its turn comes, so that
// only one tensor is in memory at a time.
struct SafetensorsTensor {
  std::string name;
  std::vector<uint64_t> shape;
  ElementType type;  // kF32, kF16 or kBF16
};
using TensorProducer = std::function<weightless::Result<std::vector<uint8_t>>(size_t i)>;

// Writes a safetensors file atomically: the header (tensors in the order given, the
// data section 8-byte aligned, `metadata` as "__metadata__"), then each tensor's bytes
// from `produce`, which must return exactly the declared number of bytes.
weightless::Status WriteSafetensors(const std::string& path,
                                    const std::vector<SafetensorsTensor>& tensors,
                                    const std::map<std::string, std::string>& metadata,
                                    const TensorProducer& produce);

}  // namespace wl_tools

#endif  // WEIGHTLESS_TOOLS_INTERCHANGE_SAFETENSORS_H_
