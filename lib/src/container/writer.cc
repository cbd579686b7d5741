// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/writer.h"

#include <zstd.h>

#include <xxhash.h>

#include <algorithm>
#include <functional>
#include <unordered_set>
#include <utility>

#include "container/file_layout.h"
#include "container/index_codec.h"
#include "section/storage.h"
#include "weightless/format.h"
#include "weightless/version.h"

namespace weightless {

struct Writer::Impl {
  WriterOptions options;
  OutputStream* stream = nullptr;          // where bytes go
  std::unique_ptr<AtomicFileOutput> file;  // owned, for path writers
  uint64_t offset = 0;                     // bytes written so far
  container::IndexContents index;
  std::unordered_set<std::string> names;
  Status error;  // the first failure; sticky
  bool finished = false;

  Status Write(const uint8_t* data, size_t size) {
    if (size == 0) return Status::OK();
    Status s = stream->Write(data, size);
    if (s.ok()) offset += size;
    return s;
  }

  // Zero bytes up to the next multiple of 64.
  Status Pad() {
    static const uint8_t kZeros[container::kSectionAlignment] = {};
    return Write(kZeros, container::AlignUp(offset) - offset);
  }

  Status Usable() const {
    if (!error.ok()) return error;
    if (finished) return Status::InvalidArgument("the writer has finished");
    return Status::OK();
  }

  Status Fail(Status s) {
    if (error.ok()) error = s;
    return s;
  }

  Status CheckNewTensor(std::string_view name, const std::vector<uint64_t>& shape,
                        uint64_t* elements) const {
    const std::string n(name);
    if (n.empty() || n.size() > FileLimits::kMaxNameBytes || !container::IsValidName(n)) {
      return Status::InvalidArgument("tensor name '" + n + "'",
                                     "must be 1..1024 bytes of UTF-8 without NUL");
    }
    if (names.count(n)) return Status::InvalidArgument("tensor name '" + n + "' is already used");
    if (index.tensors.size() >= FileLimits::kMaxTensors) {
      return Status::OutOfRange("tensor '" + n + "'", "a file holds at most 2^20 tensors");
    }
    if (shape.size() > FileLimits::kMaxRank) {
      return Status::InvalidArgument("tensor '" + n + "': rank " + std::to_string(shape.size()),
                                     "at most 8");
    }
    if (!container::ShapeElementCount(shape, elements)) {  // the reader's rule
      return Status::OutOfRange("tensor '" + n + "': shape product", "exceeds 2^48 elements");
    }
    return Status::OK();
  }

  // Produces the raw bytes of a section piece by piece: returns a pointer to bytes
  // [offset, offset + size) of the raw payload, converting into *scratch if needed.
  using RawSource =
      std::function<const uint8_t*(uint64_t offset, size_t size, std::vector<uint8_t>* scratch)>;

  // Writes one section and records the tensor. The payload streams through in pieces
  // of at most kPiece bytes (compressed on the fly for zstd, checksummed as written),
  // so the writer never holds a whole layer.
  Status WriteSection(TensorInfo info, uint64_t raw_size, uint64_t piece_multiple,
                      const RawSource& source) {
    Status s = Pad();
    if (!s.ok()) return Fail(s);
    info.section_offset = offset;
    info.raw_bytes = raw_size;
    const uint64_t start = offset;
    XXH3_state_t* hash = XXH3_createState();
    if (hash == nullptr) return Fail(Status::Internal("out of memory"));
    XXH3_64bits_reset(hash);
    ZSTD_CCtx* zstd = nullptr;
    std::vector<uint8_t> compressed;
    auto emit = [&](const uint8_t* data, size_t size) {
      XXH3_64bits_update(hash, data, size);
      return Write(data, size);
    };
    if (info.codec == Codec::kZstd) {
      zstd = ZSTD_createCCtx();
      if (zstd == nullptr) s = Status::Internal("out of memory");
      if (s.ok()) {
        ZSTD_CCtx_setParameter(zstd, ZSTD_c_compressionLevel, options.zstd_level);
        ZSTD_CCtx_setParameter(zstd, ZSTD_c_contentSizeFlag, 1);  // the frame states raw_size
        ZSTD_CCtx_setPledgedSrcSize(zstd, raw_size);
        compressed.resize(ZSTD_CStreamOutSize());
      }
    }
    // Pieces are a multiple of piece_multiple bytes so that sources can convert whole
    // elements (or, for packed codes, whole groups of 8 codes).
    const uint64_t piece = kPiece / piece_multiple * piece_multiple;
    std::vector<uint8_t> scratch;
    for (uint64_t done = 0; s.ok() && (done < raw_size || (zstd && done == raw_size));) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(piece, raw_size - done));
      const uint8_t* raw = n ? source(done, n, &scratch) : nullptr;
      done += n;
      if (zstd == nullptr) {
        s = emit(raw, n);
        continue;
      }
      ZSTD_inBuffer in{raw, n, 0};
      const bool last = done == raw_size;
      for (;;) {
        ZSTD_outBuffer out{compressed.data(), compressed.size(), 0};
        const size_t left =
            ZSTD_compressStream2(zstd, &out, &in, last ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left)) {
          s = Status::Internal("zstd compression of '" + info.name + "' failed",
                               ZSTD_getErrorName(left));
          break;
        }
        s = emit(compressed.data(), out.pos);
        if (!s.ok()) break;
        if (last ? left == 0 : in.pos == in.size) break;
      }
      if (last) break;
    }
    info.checksum = XXH3_64bits_digest(hash);
    XXH3_freeState(hash);
    ZSTD_freeCCtx(zstd);
    if (!s.ok()) return Fail(s);
    info.stored_bytes = offset - start;
    names.insert(info.name);
    index.tensors.push_back(std::move(info));
    return Status::OK();
  }

  // Raw bytes that are already in memory in their stored form.
  static RawSource Bytes(const uint8_t* data) {
    return [data](uint64_t at, size_t, std::vector<uint8_t>*) { return data + at; };
  }

  static constexpr uint64_t kPiece = uint64_t{1} << 20;
};

Writer::Writer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Writer::~Writer() { Abandon(); }
Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&& other) noexcept {
  if (this != &other) {
    Abandon();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

namespace {
Status CheckOptions(const WriterOptions& options) {
  if (options.zstd_level < 1 || options.zstd_level > 19) {
    return Status::InvalidArgument("zstd_level " + std::to_string(options.zstd_level),
                                   "must be 1..19");
  }
  return Status::OK();
}
}  // namespace

Result<Writer> Writer::Create(const std::string& path, const WriterOptions& options) {
  Status s = CheckOptions(options);
  if (!s.ok()) return s;
  auto file = AtomicFileOutput::Create(path, options.sync);
  if (!file.ok()) return file.status();
  auto impl = std::make_unique<Impl>();
  impl->file = std::move(file).value();
  impl->stream = impl->file.get();
  impl->options = options;
  return Start(std::move(impl));
}

Result<Writer> Writer::ToStream(OutputStream* stream, const WriterOptions& options) {
  if (stream == nullptr) return Status::InvalidArgument("output stream is null");
  Status s = CheckOptions(options);
  if (!s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->stream = stream;
  impl->options = options;
  return Start(std::move(impl));
}

Result<Writer> Writer::Start(std::unique_ptr<Impl> impl) {
  Writer writer(std::move(impl));
  uint8_t header[container::kHeaderSize];
  container::Header().EncodeTo(header);
  Status s = writer.impl_->Write(header, sizeof header);
  if (!s.ok()) return s;
  return writer;
}

namespace {
Status CheckCodec(std::string_view name, Codec codec) {
  if (codec != Codec::kNone && codec != Codec::kZstd) {
    return Status::InvalidArgument("tensor '" + std::string(name) + "': unknown codec");
  }
  return Status::OK();
}
}  // namespace

Status Writer::AddDense(std::string_view name, const std::vector<uint64_t>& shape,
                        const float* values, DType stored, Codec codec, float int8_scale) {
  Status s = impl_->Usable();
  if (!s.ok()) return s;
  uint64_t elements = 0;
  s = impl_->CheckNewTensor(name, shape, &elements);
  if (!s.ok()) return s;
  s = CheckCodec(name, codec);
  if (!s.ok()) return s;
  TensorInfo info;
  info.name = std::string(name);
  info.shape = shape;
  info.storage = Storage::kDense;
  info.dtype = stored;
  info.int8_scale = stored == DType::kInt8 ? int8_scale : 1.0f;
  info.codec = codec;
  // The dense storage's rule (a known dtype; int8's scale finite and positive), as
  // EncodedSection::Dense applies it; the bytes are made piece by piece below.
  Result<uint64_t> raw_size = section::kDenseOps.expected_size(info);
  if (!raw_size.ok()) return section::AsArgumentError(raw_size.status());
  if (elements > 0 && values == nullptr) return Status::InvalidArgument("values is null");
  const size_t element_size = DTypeSize(stored);
  return impl_->WriteSection(std::move(info), *raw_size, element_size,
                             [=](uint64_t at, size_t size, std::vector<uint8_t>* scratch) {
                               scratch->resize(size);
                               section::EncodeDense(values + at / element_size, size / element_size,
                                                    stored, int8_scale, scratch->data());
                               return scratch->data();
                             });
}

Status Writer::AddSection(std::string_view name, const EncodedSection& section,
                          const RetrainInfo& retrain, Codec codec) {
  Status s = impl_->Usable();
  if (!s.ok()) return s;
  uint64_t elements = 0;
  s = impl_->CheckNewTensor(name, section.info().shape, &elements);
  if (!s.ok()) return s;
  s = CheckCodec(name, codec);
  if (!s.ok()) return s;
  TensorInfo info = section.info();
  info.name = std::string(name);
  if (info.storage != Storage::kDense) info.retrain = retrain;
  info.codec = codec;
  const std::vector<uint8_t>& bytes = section.bytes();
  return impl_->WriteSection(std::move(info), bytes.size(), 1, Impl::Bytes(bytes.data()));
}

Status Writer::SetMetadata(std::string_view key, MetadataValue value) {
  Status s = impl_->Usable();
  if (!s.ok()) return s;
  const std::string k(key);
  if (k.empty() || k.size() > FileLimits::kMaxNameBytes || !container::IsValidName(k)) {
    return Status::InvalidArgument("metadata key '" + k + "'",
                                   "must be 1..1024 bytes of UTF-8 without NUL");
  }
  if (const auto* str = std::get_if<std::string>(&value)) {
    if (str->size() > FileLimits::kMaxMetadataStringBytes || !container::IsValidName(*str)) {
      return Status::InvalidArgument("metadata '" + k + "': string value",
                                     "must be at most 1 MiB of UTF-8 without NUL");
    }
  }
  for (MetadataEntry& e : impl_->index.metadata) {
    if (e.key == k) {
      e.value = std::move(value);
      return Status::OK();
    }
  }
  if (impl_->index.metadata.size() >= FileLimits::kMaxMetadataEntries) {
    return Status::OutOfRange("metadata", "at most 65536 entries");
  }
  impl_->index.metadata.push_back(MetadataEntry{k, std::move(value)});
  return Status::OK();
}

Status Writer::Finish() {
  Status s = impl_->Usable();
  if (!s.ok()) return s;
  container::IndexContents& index = impl_->index;
  index.format_major = kFormatMajor;
  index.format_minor = kFormatMinor;
  index.producer_name = impl_->options.producer_name;
  index.producer_version = impl_->options.producer_version.empty()
                               ? std::string(VersionString())
                               : impl_->options.producer_version;
  index.required_features = container::FeaturesUsed(index.tensors);
  std::vector<uint8_t> bytes = container::BuildIndex(index);
  if (bytes.size() > FileLimits::kMaxIndexBytes) {  // readers refuse larger, compressed or not
    return impl_->Fail(Status::OutOfRange("index of " + std::to_string(bytes.size()) + " bytes",
                                          "exceeds the limit of 64 MiB"));
  }
  if (impl_->options.compress_index) {
    // The compressed index names its own feature, so build it again with that bit.
    container::IndexContents flagged = index;
    flagged.required_features |= static_cast<uint64_t>(Feature::kZstdIndex);
    const std::vector<uint8_t> raw = container::BuildIndex(flagged);
    std::vector<uint8_t> compressed(ZSTD_compressBound(raw.size()));
    const size_t n = ZSTD_compress(compressed.data(), compressed.size(), raw.data(), raw.size(),
                                   ZSTD_maxCLevel());
    if (!ZSTD_isError(n) && n < bytes.size()) {
      compressed.resize(n);
      bytes = std::move(compressed);
      index.required_features = flagged.required_features;
    }
  }
  s = impl_->Pad();
  if (!s.ok()) return impl_->Fail(s);
  container::Trailer trailer;
  trailer.index_offset = impl_->offset;
  trailer.index_size = bytes.size();
  trailer.index_checksum = container::Checksum(bytes.data(), bytes.size());
  trailer.required_features = index.required_features;
  uint8_t trailer_bytes[container::kTrailerSize];
  trailer.EncodeTo(trailer_bytes);
  s = impl_->Write(bytes.data(), bytes.size());
  if (s.ok()) s = impl_->Write(trailer_bytes, sizeof trailer_bytes);
  if (s.ok()) s = impl_->stream->Flush();
  if (s.ok() && impl_->file) s = impl_->file->Commit();
  if (!s.ok()) return impl_->Fail(s);
  impl_->finished = true;
  return Status::OK();
}

void Writer::Abandon() {
  if (!impl_) return;
  if (impl_->file && !impl_->finished) impl_->file->Abandon();
  if (!impl_->finished && impl_->error.ok()) {
    impl_->error = Status::InvalidArgument("the write was abandoned");
  }
}

uint64_t Writer::bytes_written() const { return impl_->offset; }

}  // namespace weightless
