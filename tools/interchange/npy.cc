// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "npy.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "weightless/writer.h"

namespace wl_tools {

using weightless::Result;
using weightless::Status;

namespace {

constexpr char kMagic[] = "\x93NUMPY";

// A parser for the Python literal subset .npy headers use: a dict of string keys whose
// values are strings, True/False, or tuples of non-negative integers.
class HeaderParser {
 public:
  explicit HeaderParser(const std::string& text) : text_(text) {}

  struct Fields {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<uint64_t>> shape;
  };

  // Returns an empty string on success, else what is wrong.
  std::string Parse(Fields* out) {
    SkipSpace();
    if (!Eat('{')) return "expected '{'";
    while (true) {
      SkipSpace();
      if (Eat('}')) break;
      std::string key;
      if (!String(&key)) return "expected a quoted key at byte " + std::to_string(pos_);
      SkipSpace();
      if (!Eat(':')) return "expected ':' after '" + key + "'";
      SkipSpace();
      // A key given twice is refused: Python keeps the last, other readers the first.
      if ((key == "descr" && out->descr) || (key == "fortran_order" && out->fortran_order) ||
          (key == "shape" && out->shape)) {
        return "'" + key + "' is given twice";
      }
      if (key == "descr") {
        std::string v;
        if (!String(&v)) return "'descr' is not a string";
        out->descr = v;
      } else if (key == "fortran_order") {
        if (Word("True")) {
          out->fortran_order = true;
        } else if (Word("False")) {
          out->fortran_order = false;
        } else {
          return "'fortran_order' is not True or False";
        }
      } else if (key == "shape") {
        std::vector<uint64_t> shape;
        if (!Tuple(&shape)) return "'shape' is not a tuple of sizes";
        out->shape = shape;
      } else {
        return "unknown key '" + key + "'";
      }
      SkipSpace();
      if (Eat(',')) continue;
      SkipSpace();
      if (Eat('}')) break;
      return "expected ',' or '}' at byte " + std::to_string(pos_);
    }
    SkipSpace();
    if (pos_ != text_.size()) return "trailing characters after the dict";
    return "";
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n')) ++pos_;
  }
  bool Eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Word(const char* w) {
    const size_t n = std::strlen(w);
    if (text_.compare(pos_, n, w) != 0) return false;
    pos_ += n;
    return true;
  }
  bool String(std::string* out) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return false;
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string::npos) return false;
    *out = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out->find('\\') == std::string::npos;  // no escapes in the keys and descrs we read
  }
  bool Tuple(std::vector<uint64_t>* out) {
    if (!Eat('(')) return false;
    while (true) {
      SkipSpace();
      if (Eat(')')) return true;
      if (out->size() >= 64) return false;
      uint64_t v = 0;
      size_t digits = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        if (++digits > 18) return false;  // below 10^18: no overflow
        v = v * 10 + static_cast<uint64_t>(text_[pos_++] - '0');
      }
      if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 writers
      if (digits == 0) return false;
      out->push_back(v);
      SkipSpace();
      if (Eat(',')) continue;
      SkipSpace();
      return Eat(')');
    }
  }

  const std::string& text_;
  size_t pos_ = 0;
};

// Reverses each `size`-byte element in place.
void SwapBytes(std::vector<uint8_t>* bytes, size_t size) {
  for (size_t i = 0; i + size <= bytes->size(); i += size) {
    std::reverse(bytes->begin() + i, bytes->begin() + i + size);
  }
}

// Column-major to row-major.
std::vector<uint8_t> FortranToC(const std::vector<uint8_t>& in, const std::vector<uint64_t>& shape,
                                size_t size) {
  std::vector<uint8_t> out(in.size());
  const size_t rank = shape.size();
  const uint64_t n = in.size() / size;
  std::vector<uint64_t> index(rank, 0);
  for (uint64_t c = 0; c < n; ++c) {  // c: row-major position; index: its coordinates
    uint64_t f = 0, stride = 1;
    for (size_t d = 0; d < rank; ++d) {
      f += index[d] * stride;
      stride *= shape[d];
    }
    std::memcpy(&out[c * size], &in[f * size], size);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace

Result<HostTensor> ReadNpy(const std::string& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot open '" + path + "': " + std::strerror(errno));
  auto bad = [&](const std::string& what) {
    return Status::Corruption(".npy '" + path + "': " + what);
  };
  char prefix[8];
  if (!in.read(prefix, 8)) return bad("shorter than the magic and version");
  if (std::memcmp(prefix, kMagic, 6) != 0) return bad("bad magic (not a .npy file)");
  const int major = static_cast<uint8_t>(prefix[6]);
  if (major < 1 || major > 3) return bad("unsupported version " + std::to_string(major));
  uint64_t header_size = 0;
  const int length_bytes = major == 1 ? 2 : 4;
  uint8_t length[4];
  if (!in.read(reinterpret_cast<char*>(length), length_bytes)) return bad("truncated header");
  for (int b = 0; b < length_bytes; ++b) header_size |= uint64_t{length[b]} << (8 * b);
  if (header_size > kMaxNpyHeader) {
    return bad("header length " + std::to_string(header_size) + " exceeds the limit");
  }
  std::string header(header_size, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_size))) {
    return bad("truncated header");
  }
  HeaderParser::Fields fields;
  const std::string error = HeaderParser(header).Parse(&fields);
  if (!error.empty()) return bad("header: " + error);
  if (!fields.descr || !fields.fortran_order || !fields.shape) {
    return bad("header lacks 'descr', 'fortran_order' or 'shape'");
  }
  HostTensor t;
  t.name = name;
  t.shape = *fields.shape;
  t.declared_type = *fields.descr;
  const std::string& d = *fields.descr;
  const char order = d.empty() ? '?' : d[0];
  const std::string kind = d.size() > 1 ? d.substr(1) : "";
  t.type = kind == "f8"   ? ElementType::kF64
           : kind == "f4" ? ElementType::kF32
           : kind == "f2" ? ElementType::kF16
                          : ElementType::kOther;
  if (order != '<' && order != '>' && order != '=' && order != '|') {
    return bad("descr '" + d + "' has no byte order");
  }
  if (t.type == ElementType::kOther) return t;
  const size_t size = ElementSize(t.type);
  auto count = CheckedElementCount(t.shape, size, ".npy '" + path + "'");
  if (!count.ok()) return count.status();
  const std::streamoff data_start = in.tellg();
  in.seekg(0, std::ios::end);
  const uint64_t available = static_cast<uint64_t>(in.tellg() - data_start);
  if (available != *count * size) {
    return bad("the shape needs " + std::to_string(*count * size) +
               " bytes of data, the file has " + std::to_string(available));
  }
  in.seekg(data_start);
  t.bytes.resize(*count * size);
  if (!in.read(reinterpret_cast<char*>(t.bytes.data()),
               static_cast<std::streamsize>(t.bytes.size()))) {
    return Status::IOError("cannot read '" + path + "'");
  }
  if (order == '>') SwapBytes(&t.bytes, size);
  if (*fields.fortran_order && t.shape.size() > 1) t.bytes = FortranToC(t.bytes, t.shape, size);
  return t;
}

Status WriteNpy(const std::string& path, const HostTensor& tensor) {
  if (tensor.type != ElementType::kF32 && tensor.type != ElementType::kF16) {
    return Status::InvalidArgument("tensor '" + tensor.name + "': .npy output holds F32 or F16");
  }
  std::string header = std::string("{'descr': '") +
                       (tensor.type == ElementType::kF32 ? "<f4" : "<f2") +
                       "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape.size(); ++i) {
    header += std::to_string(tensor.shape[i]) + (tensor.shape.size() == 1 ? "," : "");
    if (i + 1 < tensor.shape.size()) header += ", ";
  }
  header += "), }";
  // Pad with spaces and end with '\n' so that the data starts 64-byte aligned.
  const bool v2 = header.size() + 11 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  for (size_t b = 0; b < prefix - 8; ++b) out += static_cast<char>(header.size() >> (8 * b));
  out += header;
  auto file = weightless::AtomicFileOutput::Create(path);
  if (!file.ok()) return file.status();
  Status s = (*file)->Write(out.data(), out.size());
  if (s.ok()) s = (*file)->Write(tensor.bytes.data(), tensor.bytes.size());
  if (s.ok()) s = (*file)->Commit();
  return s;
}

}  // namespace wl_tools
