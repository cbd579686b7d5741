// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/writer.h"

#include <zstd.h>

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <unordered_set>
#include <utility>

#include "container/file_layout.h"
#include "container/index_codec.h"
#include "container/payload.h"
#include "weightless/encoder.h"  // AddEncodedLayer reads the encoder's result
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
  Status AddSection(TensorInfo info, uint64_t raw_size, uint64_t piece_multiple,
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

Status Writer::AddDense(std::string_view name, const std::vector<uint64_t>& shape,
                        const float* values, DType stored, Codec codec, float int8_scale) {
  Status s = impl_->Usable();
  if (!s.ok()) return s;
  uint64_t elements = 0;
  s = impl_->CheckNewTensor(name, shape, &elements);
  if (!s.ok()) return s;
  if (DTypeSize(stored) == 0) return Status::InvalidArgument("unknown dtype");
  if (codec != Codec::kNone && codec != Codec::kZstd)
    return Status::InvalidArgument("unknown codec");
  if (stored == DType::kInt8 && !(std::isfinite(int8_scale) && int8_scale > 0)) {
    return Status::InvalidArgument("int8_scale must be finite and positive");
  }
  if (elements > 0 && values == nullptr) return Status::InvalidArgument("values is null");
  TensorInfo info;
  info.name = std::string(name);
  info.shape = shape;
  info.storage = Storage::kDense;
  info.dtype = stored;
  info.int8_scale = stored == DType::kInt8 ? int8_scale : 1.0f;
  info.codec = codec;
  const size_t element_size = DTypeSize(stored);
  return impl_->AddSection(std::move(info), elements * element_size, element_size,
                           [=](uint64_t at, size_t size, std::vector<uint8_t>* scratch) {
                             *scratch =
                                 container::EncodeDense(values + at / element_size,
                                                        size / element_size, stored, int8_scale);
                             return scratch->data();
                           });
}

namespace {
Status CheckCentroids(const std::string& name, const std::vector<float>& centroids, int bits) {
  const uint64_t max_k = (uint64_t{1} << bits) - 1;
  if (centroids.empty() || centroids.size() > max_k) {
    return Status::InvalidArgument(
        "layer '" + name + "': " + std::to_string(centroids.size()) + " centroids",
        "need 1.." + std::to_string(max_k) + " for " + std::to_string(bits) + "-bit codes");
  }
  for (size_t i = 0; i < centroids.size(); ++i) {
    if (!std::isfinite(centroids[i])) {
      return Status::InvalidArgument("layer '" + name + "': centroid " + std::to_string(i + 1) +
                                     " is not finite");
    }
  }
  return Status::OK();
}
// The checks and index record shared by the two kinds of encoded layer.
Status CheckEncodedLayer(const std::string& name, uint64_t elements, const LayerStats& stats,
                         Codec codec) {
  if (stats.kept > elements || stats.false_positives > elements - stats.kept) {
    return Status::InvalidArgument("layer '" + name + "': stats count more weights than the shape");
  }
  if (codec != Codec::kNone && codec != Codec::kZstd) {
    return Status::InvalidArgument("layer '" + name + "': unknown codec");
  }
  return Status::OK();
}

TensorInfo EncodedLayerInfo(const std::string& name, const std::vector<uint64_t>& shape,
                            Storage storage, int code_bits, const std::vector<float>& centroids,
                            const LayerStats& stats, const RetrainInfo& retrain, Codec codec) {
  TensorInfo info;
  info.name = name;
  info.shape = shape;
  info.storage = storage;
  info.dtype = DType::kFloat32;  // the decoded type
  info.centroids = centroids;
  info.code_bits = code_bits;
  info.stats = stats;
  info.retrain = retrain;
  info.codec = codec;
  return info;
}

}  // namespace

Status Writer::AddRetrievalLayer(std::string_view name, const std::vector<uint64_t>& shape,
                                 const RetrievalTable& table, const std::vector<float>& centroids,
                                 const LayerStats& stats, const RetrainInfo& retrain, Codec codec) {
  Status s = impl_->Usable();
  if (!s.ok()) return s;
  uint64_t elements = 0;
  s = impl_->CheckNewTensor(name, shape, &elements);
  if (!s.ok()) return s;
  const RetrievalView& view = table.view();
  const std::string n(name);
  if (view.universe() != elements) {
    return Status::InvalidArgument("layer '" + n + "': the table covers " +
                                   std::to_string(view.universe()) + " weights, the shape " +
                                   std::to_string(elements));
  }
  s = CheckCentroids(n, centroids, view.value_bits());
  if (s.ok()) s = CheckEncodedLayer(n, elements, stats, codec);
  if (!s.ok()) return s;
  TensorInfo info = EncodedLayerInfo(n, shape, Storage::kRetrieval, view.value_bits(), centroids,
                                     stats, retrain, codec);
  info.retrieval_kind = view.kind();
  info.retrieval_seed = view.seed();
  info.shard_span = view.shard_span();
  info.shard_count = view.shard_count();
  info.cells = view.cell_count();
  return impl_->AddSection(std::move(info), table.bytes().size(), 1,
                           Impl::Bytes(table.bytes().data()));
}

Status Writer::AddPackedCodesLayer(std::string_view name, const std::vector<uint64_t>& shape,
                                   const uint16_t* codes, int code_bits,
                                   const std::vector<float>& centroids, const LayerStats& stats,
                                   const RetrainInfo& retrain, Codec codec) {
  Status s = impl_->Usable();
  if (!s.ok()) return s;
  uint64_t elements = 0;
  s = impl_->CheckNewTensor(name, shape, &elements);
  if (!s.ok()) return s;
  const std::string n(name);
  if (code_bits < 1 || code_bits > 16) {
    return Status::InvalidArgument("layer '" + n + "': code_bits " + std::to_string(code_bits),
                                   "must be 1..16");
  }
  s = CheckCentroids(n, centroids, code_bits);
  if (!s.ok()) return s;
  if (elements > 0 && codes == nullptr) return Status::InvalidArgument("codes is null");
  for (uint64_t i = 0; i < elements; ++i) {
    if (codes[i] > centroids.size()) {
      return Status::InvalidArgument(
          "layer '" + n + "': code " + std::to_string(codes[i]) + " at index " + std::to_string(i),
          "codes must be 0..K = " + std::to_string(centroids.size()));
    }
  }
  s = CheckEncodedLayer(n, elements, stats, codec);
  if (!s.ok()) return s;
  TensorInfo info = EncodedLayerInfo(n, shape, Storage::kPackedCodes, code_bits, centroids, stats,
                                     retrain, codec);
  // Eight codes take code_bits whole bytes, so pieces of 8-code groups pack alone.
  const uint64_t group_bytes = static_cast<uint64_t>(code_bits);
  return impl_->AddSection(
      std::move(info), container::PackedCodesBytes(elements, code_bits), group_bytes,
      [=](uint64_t at, size_t size, std::vector<uint8_t>* scratch) {
        const uint64_t first = at / group_bytes * 8;
        const uint64_t count = std::min<uint64_t>(elements - first, size / group_bytes * 8 + 8);
        *scratch = container::PackCodes(codes + first, count, code_bits);
        scratch->resize(size);
        return scratch->data();
      });
}

Status Writer::AddEncodedLayer(std::string_view name, const EncodedLayer& layer,
                               const RetrainInfo& retrain, Codec codec) {
  if (layer.storage == Storage::kRetrieval) {
    if (!layer.table) return Status::InvalidArgument("encoded layer has no table");
    return AddRetrievalLayer(name, layer.shape, *layer.table, layer.centroids, layer.layer_stats(),
                             retrain, codec);
  }
  uint64_t n = 1;
  for (uint64_t d : layer.shape) n *= d;
  if (layer.packed_codes.size() != n) {
    return Status::InvalidArgument("encoded layer '" + std::string(name) + "' has " +
                                   std::to_string(layer.packed_codes.size()) +
                                   " packed codes for " + std::to_string(n) + " weights");
  }
  return AddPackedCodesLayer(name, layer.shape, layer.packed_codes.data(), layer.stats.value_bits,
                             layer.centroids, layer.layer_stats(), retrain, codec);
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
