// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>

#include "weightless/writer.h"

namespace wl_tools {

using weightless::Result;
using weightless::Status;

namespace {

ElementType TypeFromName(const std::string& name) {
  if (name == "F64") return ElementType::kF64;
  if (name == "F32") return ElementType::kF32;
  if (name == "F16") return ElementType::kF16;
  if (name == "BF16") return ElementType::kBF16;
  return ElementType::kOther;
}

// Bytes per element of the non-float types safetensors defines (0: unknown name).
size_t OtherTypeSize(const std::string& name) {
  static const std::map<std::string, size_t> kSizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
      {"U16", 2},  {"I32", 4}, {"U32", 4}, {"I64", 8},     {"U64", 8}};
  auto it = kSizes.find(name);
  return it == kSizes.end() ? 0 : it->second;
}

Status PreadAll(int fd, uint8_t* out, uint64_t size, uint64_t offset, const std::string& path) {
  while (size > 0) {
    const ssize_t r = pread(fd, out, size, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::IOError("cannot read '" + path + "': " + std::strerror(errno));
    if (r == 0) return Status::Corruption("'" + path + "': file ends early");
    out += r;
    size -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return Status::OK();
}

// "[json.exception.parse_error.101] parse error at ..." -> "parse error at ...".
std::string WithoutPrefix(const std::string& what) {
  const size_t at = what.find("] ");
  return at == std::string::npos ? what : what.substr(at + 2);
}

// A safetensors header nests three levels deep ({name: {"shape": [...]}}); deeper
// nesting is refused while parsing, so that a crafted header cannot make the DOM cost
// many times its size.
constexpr size_t kMaxDepth = 8;

// The first pass over a safetensors header (see SafetensorsFile::Open): a SAX handler
// that keeps only the open objects' keys. `error` says what is wrong, naming the tensor
// or metadata key and, for what the JSON parser refuses, the byte of the header.
class HeaderCheck final : public nlohmann::json::json_sax_t {
 public:
  using json = nlohmann::json;
  std::string error;  // empty while the header is sound

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(json::number_integer_t) override { return true; }
  bool number_unsigned(json::number_unsigned_t) override { return true; }
  bool number_float(json::number_float_t, const json::string_t&) override { return true; }
  bool string(json::string_t&) override { return true; }
  bool binary(json::binary_t&) override { return true; }
  bool start_object(std::size_t) override { return Open(); }
  bool start_array(std::size_t) override { return Open(); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }

  bool key(json::string_t& k) override {
    Level& level = stack_.back();
    if (!level.keys.insert(k).second) {
      if (stack_.size() == 1) {
        error = k == "__metadata__" ? "__metadata__ appears twice"
                                    : "tensor '" + k + "' is named twice";
      } else if (stack_.size() == 2 && stack_[0].key == "__metadata__") {
        error = "__metadata__ names the key '" + k + "' twice";
      } else {
        error = "tensor '" + stack_[0].key + "' names '" + k + "' twice";
      }
      return false;
    }
    level.key = k;
    return true;
  }

  bool parse_error(std::size_t position, const std::string& last_token,
                   const json::exception& e) override {
    // `position` is the byte after the token the parser stopped at.
    const size_t start = last_token.size() <= position ? position - last_token.size() : 0;
    error = "the header is not valid JSON: " + WithoutPrefix(e.what());
    if (e.id == 406) error += " at header byte " + std::to_string(start);
    if (!stack_.empty() && !stack_[0].key.empty()) {
      if (stack_[0].key != "__metadata__") {
        error += " (in tensor '" + stack_[0].key + "')";
      } else if (stack_.size() >= 2 && !stack_[1].key.empty()) {
        error += " (in __metadata__['" + stack_[1].key + "'])";
      } else {
        error += " (in __metadata__)";
      }
    }
    return false;
  }

 private:
  struct Level {
    std::set<std::string> keys;
    std::string key;  // the last key read at this level
  };
  bool Open() {
    if (stack_.size() > kMaxDepth) {
      error = "the header nests JSON deeper than " + std::to_string(kMaxDepth) + " levels";
      return false;
    }
    stack_.emplace_back();
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }
  std::vector<Level> stack_;
};

}  // namespace

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile);
  file->path_ = path;
  file->fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd_ < 0) {
    return Status::IOError("cannot open '" + path + "': " + std::strerror(errno));
  }
  struct stat st;
  if (fstat(file->fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::IOError("'" + path + "' is not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  auto bad = [&](const std::string& what) {
    return Status::Corruption("safetensors '" + path + "': " + what);
  };
  if (file_size < 8) return bad("shorter than the 8-byte header length");
  uint8_t length_bytes[8];
  Status s = PreadAll(file->fd_, length_bytes, 8, 0, path);
  if (!s.ok()) return s;
  uint64_t header_size = 0;
  for (int b = 0; b < 8; ++b) header_size |= uint64_t{length_bytes[b]} << (8 * b);
  if (header_size > kMaxSafetensorsHeader) {
    return bad("header length " + std::to_string(header_size) + " exceeds the limit of " +
               std::to_string(kMaxSafetensorsHeader) + " bytes");
  }
  if (header_size > file_size - 8) {
    return bad("header length " + std::to_string(header_size) + " runs past the end of the " +
               std::to_string(file_size) + "-byte file");
  }
  std::string header(header_size, '\0');
  s = PreadAll(file->fd_, reinterpret_cast<uint8_t*>(header.data()), header_size, 8, path);
  if (!s.ok()) return s;
  file->data_start_ = 8 + header_size;
  const uint64_t data_size = file_size - file->data_start_;

  // Two passes over the header. The first (HeaderCheck) builds nothing and refuses what
  // the DOM would hide or cost: nesting deeper than a safetensors header needs, a key
  // named twice in one object (the DOM keeps the last; another reader may keep the
  // first), and anything the JSON parser refuses, with the byte where it stopped. The
  // second builds the DOM of a header known to parse. No exception leaves this function.
  HeaderCheck check;
  bool parsed = false;
  try {
    parsed = nlohmann::json::sax_parse(header, &check);
  } catch (const std::exception& e) {  // the parser reports through the handler; defence only
    return bad("the header cannot be parsed: " + WithoutPrefix(e.what()));
  }
  if (!parsed || !check.error.empty()) {
    return bad(check.error.empty() ? std::string("the header is not valid JSON") : check.error);
  }
  try {
    const nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return bad("the header is not valid JSON");
    if (!j.is_object()) return bad("the header is not a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& name = it.key();
      const nlohmann::json& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object()) return bad("__metadata__ is not an object");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string()) {
            return bad("__metadata__['" + m.key() + "'] is not a string");
          }
          file->metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      auto field = [&](const char* f) { return "tensor '" + name + "': " + f; };
      if (!v.is_object()) return bad(field("entry is not an object"));
      if (!v.contains("dtype") || !v["dtype"].is_string()) return bad(field("dtype missing"));
      if (!v.contains("shape") || !v["shape"].is_array()) return bad(field("shape missing"));
      if (!v.contains("data_offsets") || !v["data_offsets"].is_array() ||
          v["data_offsets"].size() != 2) {
        return bad(field("data_offsets must be [begin, end]"));
      }
      Entry e;
      e.name = name;
      e.declared_type = v["dtype"].get<std::string>();
      e.type = TypeFromName(e.declared_type);
      size_t element_size = ElementSize(e.type);
      if (element_size == 0) element_size = OtherTypeSize(e.declared_type);
      // A dtype this reader does not know (newer safetensors types such as F8_E8M0 or
      // sub-byte ones) keeps its byte range, unchecked against the shape: such a tensor
      // cannot be converted, but a tool can leave it out (--exclude) and read the rest.
      if (v["shape"].size() > 64) return bad(field("rank above 64"));
      for (const auto& d : v["shape"]) {
        if (!d.is_number_unsigned()) return bad(field("shape holds a value that is not a size"));
        e.shape.push_back(d.get<uint64_t>());
      }
      for (const auto& o : v["data_offsets"]) {
        if (!o.is_number_unsigned()) {
          return bad(field("data_offsets hold a negative or non-integer"));
        }
      }
      e.begin = v["data_offsets"][0].get<uint64_t>();
      e.end = v["data_offsets"][1].get<uint64_t>();
      auto count = CheckedElementCount(e.shape, element_size,
                                       "safetensors '" + path + "': tensor '" + name + "'");
      if (!count.ok()) return count.status();
      if (e.begin > e.end || e.end > data_size) {
        return bad(field("data_offsets [") + std::to_string(e.begin) + ", " +
                   std::to_string(e.end) + "] lie outside the " + std::to_string(data_size) +
                   "-byte data section");
      }
      if (element_size != 0 && e.end - e.begin != *count * element_size) {
        return bad(field("data_offsets cover ") + std::to_string(e.end - e.begin) +
                   " bytes but dtype x shape needs " + std::to_string(*count * element_size));
      }
      file->entries_.push_back(std::move(e));
    }
  } catch (const nlohmann::json::exception& e) {  // a type or range error reading a value
    return bad("the header holds an unexpected value: " + WithoutPrefix(e.what()));
  }
  // Byte ranges may not overlap (the reference implementation also requires them to tile
  // the data section; holes are harmless here, so they are allowed).
  // Empty tensors occupy no bytes and may sit anywhere, also between two others.
  std::vector<const Entry*> by_offset;
  for (const Entry& e : file->entries_) {
    if (e.end > e.begin) by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return bad("tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                 "' overlap");
    }
  }
  // File order: the order of the data, which is how the writer laid the model out.
  std::stable_sort(file->entries_.begin(), file->entries_.end(),
                   [](const Entry& a, const Entry& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  return file;
}

Result<HostTensor> SafetensorsFile::Read(size_t i) const {
  const Entry& e = entries_.at(i);
  HostTensor t;
  t.name = e.name;
  t.shape = e.shape;
  t.type = e.type;
  t.declared_type = e.declared_type;
  if (e.type == ElementType::kOther) return t;
  t.bytes.resize(e.end - e.begin);
  Status s = PreadAll(fd_, t.bytes.data(), t.bytes.size(), data_start_ + e.begin, path_);
  if (!s.ok()) return s;
  return t;
}

Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                        const std::map<std::string, std::string>& metadata,
                        const TensorProducer& produce) {
  // nlohmann's ordered_json keeps the tensors in the order given.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (const SafetensorsTensor& t : tensors) {
    if (t.name == "__metadata__") {
      return Status::InvalidArgument("a tensor may not be named __metadata__");
    }
    auto count = CheckedElementCount(t.shape, ElementSize(t.type), "tensor '" + t.name + "'");
    if (!count.ok()) return count.status();
    const uint64_t size = *count * ElementSize(t.type);
    header[t.name] = {{"dtype", ElementTypeName(t.type)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + size}}};
    sizes.push_back(size);
    offset += size;
  }
  // Names and metadata come from a .wl file, whose reader checks them for UTF-8; a
  // string the JSON writer refuses anyway is an error, not an exception.
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument("safetensors '" + path + "': " + WithoutPrefix(e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  uint8_t length[8];
  for (int b = 0; b < 8; ++b) length[b] = static_cast<uint8_t>(uint64_t{text.size()} >> (8 * b));
  auto file = weightless::AtomicFileOutput::Create(path);
  if (!file.ok()) return file.status();
  Status s = (*file)->Write(length, 8);
  if (s.ok()) s = (*file)->Write(text.data(), text.size());
  for (size_t i = 0; s.ok() && i < tensors.size(); ++i) {
    auto bytes = produce(i);
    if (!bytes.ok()) return bytes.status();
    if (bytes->size() != sizes[i]) {
      return Status::Internal("tensor '" + tensors[i].name + "': produced " +
                              std::to_string(bytes->size()) + " bytes, declared " +
                              std::to_string(sizes[i]));
    }
    s = (*file)->Write(bytes->data(), bytes->size());
  }
  if (s.ok()) s = (*file)->Commit();
  return s;
}

}  // namespace wl_tools
