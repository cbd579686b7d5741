// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// wl-decode IN.wl OUT: writes the tensors of a Weightless file as dense arrays that
// standard readers load: OUT ending in ".safetensors" is one safetensors file (model
// metadata in "__metadata__"); any other OUT is a directory of NAME.npy files. Tensors
// stored as float16 or bfloat16 keep their type in safetensors (bit-exact); everything
// else, and bfloat16 in .npy (NumPy has no bfloat16), is written as float32. A thin
// shell over the public reader.

#include <sys/stat.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "interchange/host_tensor.h"
#include "interchange/npy.h"
#include "interchange/patterns.h"
#include "interchange/safetensors.h"
#include "last_resort.h"
#include "tool_text.h"
#include "weightless/reader.h"
#include "weightless/tensor.h"
#include "weightless/version.h"

namespace {

using weightless::Reader;
using weightless::Result;
using weightless::Status;
using wl_tools::ElementType;

// The element type a tensor is written as.
ElementType OutputType(const weightless::TensorInfo& t, bool npy, bool force_float32) {
  if (force_float32 || t.storage != weightless::Storage::kDense) return ElementType::kF32;
  if (t.dtype == weightless::DType::kFloat16) return ElementType::kF16;
  if (t.dtype == weightless::DType::kBFloat16 && !npy) return ElementType::kBF16;
  return ElementType::kF32;
}

// Decodes tensor i and returns its bytes as `type`, little-endian.
Result<std::vector<uint8_t>> DecodeAs(const Reader& r, size_t i, ElementType type, int threads) {
  const uint64_t n = r.tensor(i).element_count();
  std::vector<float> values;
  std::vector<uint8_t> bytes;
  try {
    values.resize(n);
    bytes.resize(n * wl_tools::ElementSize(type));
  } catch (const std::exception&) {  // bad_alloc, length_error: a legal 2^48-weight layer
    return Status::OutOfRange("tensor '" + r.tensor(i).name + "': " + std::to_string(n) +
                              " values do not fit in memory");
  }
  Status s = r.Decode(i, values.data(), n, threads);
  if (!s.ok()) return s;
  for (uint64_t k = 0; k < n; ++k) {
    uint32_t bits;
    if (type == ElementType::kF32) {
      std::memcpy(&bits, &values[k], 4);
      for (int b = 0; b < 4; ++b) bytes[4 * k + b] = static_cast<uint8_t>(bits >> (8 * b));
    } else {
      // Exact: the values came from float16 / bfloat16 storage.
      bits = type == ElementType::kF16 ? weightless::FloatToHalf(values[k])
                                       : weightless::FloatToBFloat16(values[k]);
      bytes[2 * k] = static_cast<uint8_t>(bits);
      bytes[2 * k + 1] = static_cast<uint8_t>(bits >> 8);
    }
  }
  return bytes;
}

// A file name for a tensor: its name with every character outside [A-Za-z0-9._-]
// replaced by '_' (so a name cannot leave the directory), plus ".npy".
std::string NpyFileName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (out.empty() || out[0] == '.') out = "_" + out;
  return out + ".npy";
}

std::string MetadataText(const weightless::MetadataValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return buf;
  }
  return std::get<bool>(v) ? "true" : "false";
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int Run(const std::string& in_path, const std::string& out_path,
        const std::vector<std::string>& patterns, bool force_float32, int threads) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "wl-decode: %s\n", s.ToString().c_str());
    return 1;
  };
  auto reader = Reader::Open(in_path);
  if (!reader.ok()) return fail(reader.status());
  const Reader& r = *reader;
  std::vector<size_t> chosen;
  for (size_t i = 0; i < r.tensor_count(); ++i) {
    if (patterns.empty() || wl_tools::MatchesAny(patterns, r.tensor(i).name)) chosen.push_back(i);
  }
  if (chosen.empty()) return fail(Status::NotFound("no tensor matches the --tensor patterns"));
  const bool npy = !EndsWith(out_path, ".safetensors");
  std::vector<ElementType> types;
  for (size_t i : chosen) types.push_back(OutputType(r.tensor(i), npy, force_float32));

  if (!npy) {
    std::vector<wl_tools::SafetensorsTensor> tensors;
    for (size_t k = 0; k < chosen.size(); ++k) {
      tensors.push_back({r.tensor(chosen[k]).name, r.tensor(chosen[k]).shape, types[k]});
    }
    std::map<std::string, std::string> metadata;
    for (const auto& m : r.metadata()) metadata[m.key] = MetadataText(m.value);
    Status s = wl_tools::WriteSafetensors(out_path, tensors, metadata, [&](size_t k) {
      return DecodeAs(r, chosen[k], types[k], threads);
    });
    if (!s.ok()) return fail(s);
  } else {
    if (mkdir(out_path.c_str(), 0777) != 0 && errno != EEXIST) {
      return fail(
          Status::IOError("cannot create directory '" + out_path + "': " + std::strerror(errno)));
    }
    std::set<std::string> file_names;
    for (size_t i : chosen) {
      if (!file_names.insert(NpyFileName(r.tensor(i).name)).second) {
        return fail(Status::InvalidArgument("tensors '" + r.tensor(i).name +
                                            "' and another map to the same file name " +
                                            NpyFileName(r.tensor(i).name)));
      }
    }
    for (size_t k = 0; k < chosen.size(); ++k) {
      wl_tools::HostTensor t;
      t.name = r.tensor(chosen[k]).name;
      t.shape = r.tensor(chosen[k]).shape;
      t.type = types[k];
      auto bytes = DecodeAs(r, chosen[k], types[k], threads);
      if (!bytes.ok()) return fail(bytes.status());
      t.bytes = std::move(*bytes);
      Status s = wl_tools::WriteNpy(out_path + "/" + NpyFileName(t.name), t);
      if (!s.ok()) return fail(s);
    }
  }
  for (size_t k = 0; k < chosen.size(); ++k) {
    const weightless::TensorInfo& t = r.tensor(chosen[k]);
    const std::string shape = wl_tools::ShapeText(t.shape);
    if (npy) {
      std::printf("%-24s %-12s %-4s -> %s\n", t.name.c_str(), shape.c_str(),
                  wl_tools::ElementTypeName(types[k]), NpyFileName(t.name).c_str());
    } else {
      std::printf("%-24s %-12s %s\n", t.name.c_str(), shape.c_str(),
                  wl_tools::ElementTypeName(types[k]));
    }
  }
  std::printf("wrote %zu tensors to %s\n", chosen.size(), out_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "wl-decode: write the tensors of a Weightless (.wl) file as dense arrays: one\n"
      "safetensors file (OUT ends in .safetensors) or a directory of NAME.npy files."};
  app.set_version_flag("--version",
                       std::string("wl-decode (weightless ") + weightless::VersionString() + ")");
  std::string in_path, out_path;
  std::vector<std::string> patterns;
  bool force_float32 = false;
  int threads = 0;
  app.add_option("IN.wl", in_path, "the .wl file")->required();
  app.add_option("OUT", out_path, "OUT.safetensors, or a directory for .npy files")->required();
  app.add_option("--tensor", patterns, "decode only the tensors matching this pattern (repeatable)")
      ->allow_extra_args(false);
  app.add_flag("--float32", force_float32,
               "write every tensor as float32 (default: float16/bfloat16 tensors keep their type)");
  app.add_option("--threads", threads, "decode threads (0: one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return wl_tools::WithLastResort("wl-decode", 1, [&]() -> int {
    return Run(in_path, out_path, patterns, force_float32, threads);
  });
}
