// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

#include "container/file_layout.h"
#include "container/index_codec.h"
#include "container/payload.h"
#include "retrieval/layout.h"
#include "weightless/format.h"
#include "weightless/retrieval.h"

namespace weightless {

namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

Status IoStatus(const std::string& what, const std::string& path, int err) {
  return container::FileStatus(StatusCode::kIOError, FileError::kIOError,
                               what + " '" + path + "': " + std::strerror(err));
}

// The declared content size of `data` when it is exactly one zstd frame (not a
// skippable frame) whose header states its content size, with nothing after it
// (spec/FORMAT.md, "zstd"). ZSTD_decompress alone would also accept further frames.
// `what` names the data in the error (codec_error).
Result<uint64_t> SingleZstdFrameContentSize(const uint8_t* data, size_t size,
                                            const std::string& what) {
  if (size < 4 || LoadLE32(data) != ZSTD_MAGICNUMBER) {
    return container::Corrupt(FileError::kCodecError, what + ": not a zstd frame");
  }
  const unsigned long long declared = ZSTD_getFrameContentSize(data, size);
  if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN) {
    return container::Corrupt(FileError::kCodecError,
                              what + ": the zstd frame does not state its content size");
  }
  const size_t frame = ZSTD_findFrameCompressedSize(data, size);
  if (ZSTD_isError(frame) || frame != size) {
    return container::Corrupt(
        FileError::kCodecError,
        what + ": " +
            (ZSTD_isError(frame) ? std::string(ZSTD_getErrorName(frame))
                                 : "the zstd frame ends after " + Num(frame) + " of " + Num(size) +
                                       " bytes; nothing may follow it"));
  }
  return static_cast<uint64_t>(declared);
}

// Where the bytes come from: a mapping or a caller's buffer (`data`), or a file read
// with pread.
class Source {
 public:
  ~Source() {
    if (mapping_ != nullptr) ::munmap(mapping_, size_);
    if (fd_ >= 0) ::close(fd_);
  }

  static Result<std::unique_ptr<Source>> FromPath(const std::string& path, bool use_mmap) {
    std::unique_ptr<Source> s(new Source());
    s->path_ = path;
    s->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (s->fd_ < 0) return IoStatus("open", path, errno);
    struct stat st;
    if (::fstat(s->fd_, &st) != 0) return IoStatus("stat", path, errno);
    if (!S_ISREG(st.st_mode)) {
      return container::FileStatus(StatusCode::kIOError, FileError::kIOError,
                                   "'" + path + "' is not a regular file");
    }
    s->size_ = static_cast<uint64_t>(st.st_size);
    if (use_mmap && s->size_ > 0) {
      void* m = ::mmap(nullptr, s->size_, PROT_READ, MAP_PRIVATE, s->fd_, 0);
      if (m != MAP_FAILED) {
        s->mapping_ = m;
        s->data_ = static_cast<const uint8_t*>(m);
      }
    }
    return s;
  }

  static std::unique_ptr<Source> FromBuffer(const uint8_t* data, size_t size) {
    std::unique_ptr<Source> s(new Source());
    s->path_ = "<buffer>";
    s->data_ = data;
    s->size_ = size;
    return s;
  }

  uint64_t size() const { return size_; }
  bool mapped() const { return data_ != nullptr || size_ == 0; }
  const std::string& path() const { return path_; }

  // Bytes [offset, offset + size): a pointer into the mapping, or read into *buffer.
  // REQUIRES: the range lies within the file (checked by the caller).
  Result<const uint8_t*> Read(uint64_t offset, uint64_t size, std::vector<uint8_t>* buffer) const {
    if (data_ != nullptr) return data_ + offset;
    buffer->resize(size);
    Status s = ReadInto(offset, size, buffer->data());
    if (!s.ok()) return s;
    return buffer->data();
  }

  // Bytes [offset, offset + size) copied into out[0..size). REQUIRES: as Read.
  Status ReadInto(uint64_t offset, uint64_t size, uint8_t* out) const {
    if (data_ != nullptr) {
      if (size > 0) std::memcpy(out, data_ + offset, size);
      return Status::OK();
    }
    uint64_t done = 0;
    while (done < size) {
      const ssize_t n = ::pread(fd_, out + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoStatus("read", path_, errno);
      if (n == 0) {
        return container::FileStatus(StatusCode::kIOError, FileError::kIOError,
                                     "read '" + path_ + "': file shrank while open");
      }
      done += static_cast<uint64_t>(n);
      bytes_read_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    return Status::OK();
  }

  // What pread has read so far (0 for mapped sources and buffers).
  uint64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }

 private:
  Source() = default;
  std::string path_;
  int fd_ = -1;
  void* mapping_ = nullptr;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  mutable std::atomic<uint64_t> bytes_read_{0};
};

// A tensor's payload, loaded whole: its bytes (in the mapping, or owned when read with
// pread or decompressed) and, for retrieval layers, the validated table.
struct Payload {
  std::vector<uint8_t> owned;
  const uint8_t* data = nullptr;
  uint64_t size = 0;
  std::optional<RetrievalView> table;
};

// The reader's cache entry for one tensor. `error` keeps only errors that a retry
// would repeat (the file's contents); an I/O error is returned and forgotten.
struct Slot {
  std::mutex mu;
  std::shared_ptr<const Payload> payload;
  Status error;
};

// A zero-filled buffer of a section's size into which only some ranges are read;
// calloc leaves the pages never written unallocated, so it costs what was read.
struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using SparseBuffer = std::unique_ptr<uint8_t, FreeDeleter>;

}  // namespace

struct Reader::Impl {
  ReaderOptions options;
  std::unique_ptr<Source> source;
  container::Trailer trailer;
  container::IndexContents index;
  std::vector<uint8_t> index_buffer;  // for pread sources
  mutable std::vector<std::unique_ptr<Slot>> slots;

  std::string Label(size_t i) const { return "tensor '" + index.tensors[i].name + "'"; }

  // Checks header, trailer and index; the payloads are left for their first use.
  static Result<std::unique_ptr<Impl>> OpenSource(std::unique_ptr<Source> source,
                                                  const ReaderOptions& options);

  // Reads and checks a section's stored bytes; checksum verified when asked.
  Result<const uint8_t*> ReadStored(size_t i, bool verify, std::vector<uint8_t>* buffer) const {
    const TensorInfo& t = index.tensors[i];
    Result<const uint8_t*> stored = source->Read(t.section_offset, t.stored_bytes, buffer);
    if (!stored.ok()) return stored.status().WithContext(Label(i));
    if (verify && container::Checksum(*stored, t.stored_bytes) != t.checksum) {
      return container::Corrupt(FileError::kSectionChecksum,
                                Label(i) + ": section at offset " + Num(t.section_offset) + " (" +
                                    Num(t.stored_bytes) + " bytes): checksum mismatch");
    }
    return stored;
  }

  // Opens the retrieval table of tensor i held in data[0..size) and checks it against
  // the index.
  Result<RetrievalView> OpenTable(size_t i, const uint8_t* data, uint64_t size) const {
    const TensorInfo& t = index.tensors[i];
    Result<RetrievalView> view = RetrievalView::Open(data, size);
    if (!view.ok()) {
      return container::Corrupt(FileError::kBadEncoding, Label(i) + ": section at offset " +
                                                             Num(t.section_offset) + ": " +
                                                             view.status().ToString());
    }
    if (view->kind() != t.retrieval_kind || view->value_bits() != t.code_bits ||
        view->universe() != t.element_count() || view->seed() != t.retrieval_seed ||
        view->shard_span() != t.shard_span || view->shard_count() != t.shard_count ||
        view->cell_count() != t.cells) {
      return container::Corrupt(FileError::kBadEncoding,
                                Label(i) + ": the retrieval table at offset " +
                                    Num(t.section_offset) +
                                    " disagrees with the index (kind, t, universe, seed, "
                                    "shard layout or cells)");
    }
    return view;
  }

  // Packed codes: the bits past the last code must be zero.
  Status CheckPackedTail(size_t i, const uint8_t* data, uint64_t size) const {
    const TensorInfo& t = index.tensors[i];
    const uint64_t bits = t.element_count() * static_cast<uint64_t>(t.code_bits);
    if (bits % 8 != 0 && (data[size - 1] >> (bits % 8)) != 0) {
      return container::Corrupt(FileError::kUnexplainedBytes,
                                Label(i) + ": bits past the last code must be zero");
    }
    return Status::OK();
  }

  // The structure checks of a whole section in data[0..size), whether loaded or read
  // in place: a retrieval table opened and cross-checked (into *table), packed codes'
  // tail. Dense sections have none.
  Status CheckStructure(size_t i, const uint8_t* data, uint64_t size,
                        std::optional<RetrievalView>* table) const {
    const TensorInfo& t = index.tensors[i];
    if (t.storage == Storage::kRetrieval) {
      Result<RetrievalView> view = OpenTable(i, data, size);
      if (!view.ok()) return view.status();
      *table = *view;
    } else if (t.storage == Storage::kPackedCodes) {
      return CheckPackedTail(i, data, size);
    }
    return Status::OK();
  }

  // Loads payload i whole: read, verify (when asked), decompress, validate. Caches
  // nothing.
  Result<std::shared_ptr<const Payload>> LoadPayload(size_t i, bool verify) const {
    const TensorInfo& t = index.tensors[i];
    auto p = std::make_shared<Payload>();
    std::vector<uint8_t> stored_buffer;
    Result<const uint8_t*> stored = ReadStored(i, verify, &stored_buffer);
    if (!stored.ok()) return stored.status();
    if (t.codec == Codec::kZstd) {
      const std::string where = Label(i) + ": zstd section at offset " + Num(t.section_offset);
      Result<uint64_t> declared = SingleZstdFrameContentSize(*stored, t.stored_bytes, where);
      if (!declared.ok()) return declared.status();
      if (*declared != t.raw_bytes) {
        return container::Corrupt(
            FileError::kCodecError,
            where + " declares " + Num(*declared) + " bytes, raw_size is " + Num(t.raw_bytes));
      }
      p->owned.resize(t.raw_bytes);
      const size_t n = ZSTD_decompress(p->owned.data(), p->owned.size(), *stored, t.stored_bytes);
      if (ZSTD_isError(n) || n != t.raw_bytes) {
        return container::Corrupt(
            FileError::kCodecError,
            where + ": " +
                (ZSTD_isError(n)
                     ? std::string(ZSTD_getErrorName(n))
                     : "decompressed to " + Num(n) + " bytes, expected " + Num(t.raw_bytes)));
      }
      p->data = p->owned.data();
    } else if (source->mapped()) {
      p->data = *stored;
    } else {
      p->owned = std::move(stored_buffer);
      p->data = p->owned.data();
    }
    p->size = t.raw_bytes;
    Status s = CheckStructure(i, p->data, p->size, &p->table);
    if (!s.ok()) return s;
    return std::shared_ptr<const Payload>(std::move(p));
  }

  // The cached payload of tensor i, loading it on first use (concurrent first uses
  // wait for one load). Errors of the file's contents are kept; I/O errors are not.
  Result<std::shared_ptr<const Payload>> Get(size_t i) const {
    Slot& slot = *slots[i];
    std::lock_guard<std::mutex> lock(slot.mu);
    if (slot.payload) return slot.payload;
    if (!slot.error.ok()) return slot.error;
    Result<std::shared_ptr<const Payload>> loaded = LoadPayload(i, options.verify_checksums);
    if (loaded.ok()) {
      slot.payload = *loaded;
    } else if (loaded.status().detail() != static_cast<int>(FileError::kIOError)) {
      slot.error = loaded.status();
    }
    return loaded;
  }

  // The cached payload of tensor i if it is loaded, else null.
  std::shared_ptr<const Payload> Cached(size_t i) const {
    Slot& slot = *slots[i];
    std::lock_guard<std::mutex> lock(slot.mu);
    return slot.payload;
  }

  static Status DecodeFrom(const TensorInfo& t, const uint8_t* data,
                           const std::optional<RetrievalView>& table, uint64_t begin, uint64_t end,
                           float* out, int threads) {
    switch (t.storage) {
      case Storage::kDense:
        container::DecodeDense(data, t.dtype, t.int8_scale, begin, end, out);
        return Status::OK();
      case Storage::kPackedCodes:
        container::DecodePackedCodes(data, t.code_bits, t.centroids.data(),
                                     static_cast<uint32_t>(t.centroids.size()), begin, end, out);
        return Status::OK();
      case Storage::kRetrieval:
        return table->DecodeFloats(begin, end, t.centroids.data(),
                                   static_cast<uint32_t>(t.centroids.size()), out, threads);
    }
    return Status::Internal("unknown storage");
  }

  // Decodes [begin, end) of tensor i. `whole` is true for Decode(); otherwise, with
  // options.partial_reads, an uncompressed section that is not loaded is read only
  // where [begin, end) needs it (DecodePart).
  Status DecodeRange(size_t i, uint64_t begin, uint64_t end, float* out, int threads,
                     bool whole) const {
    const TensorInfo& t = index.tensors[i];
    if (!whole && options.partial_reads && t.codec == Codec::kNone && begin < end) {
      if (std::shared_ptr<const Payload> p = Cached(i)) {
        return DecodeFrom(t, p->data, p->table, begin, end, out, threads);
      }
      return DecodePart(i, begin, end, out, threads);
    }
    Result<std::shared_ptr<const Payload>> loaded = Get(i);
    if (!loaded.ok()) return loaded.status();
    const Payload& p = **loaded;
    return DecodeFrom(t, p.data, p.table, begin, end, out, threads);
  }

  // Decodes [begin, end) of uncompressed tensor i reading only the bytes that range
  // needs (a mapping: touching only them), unverified by the section checksum, which
  // covers the whole section; the structure is checked as on a whole load. Keeps
  // nothing.
  Status DecodePart(size_t i, uint64_t begin, uint64_t end, float* out, int threads) const {
    const TensorInfo& t = index.tensors[i];
    const uint64_t section = t.section_offset, size = t.stored_bytes;
    if (source->mapped()) {  // in place: only the pages decoding touches are read
      std::vector<uint8_t> unused;
      Result<const uint8_t*> data = source->Read(section, size, &unused);  // no copy
      if (!data.ok()) return data.status();
      std::optional<RetrievalView> table;
      Status s = CheckStructure(i, *data, size, &table);
      if (!s.ok()) return s;
      return DecodeFrom(t, *data, table, begin, end, out, threads);
    }
    switch (t.storage) {
      case Storage::kDense: {
        const uint64_t width = DTypeSize(t.dtype);
        std::vector<uint8_t> bytes((end - begin) * width);
        Status s = source->ReadInto(section + begin * width, bytes.size(), bytes.data());
        if (!s.ok()) return s.WithContext(Label(i));
        container::DecodeDense(bytes.data(), t.dtype, t.int8_scale, 0, end - begin, out);
        return Status::OK();
      }
      case Storage::kPackedCodes: {
        // From a code whose first bit starts a byte (every 8th code does) to the byte
        // holding the last code's last bit; the final byte also carries the tail check.
        const uint64_t bits = static_cast<uint64_t>(t.code_bits);
        const uint64_t first_code = begin / 8 * 8;
        const uint64_t first_byte = first_code * bits / 8;
        const uint64_t last_byte = (end * bits + 7) / 8;  // exclusive
        std::vector<uint8_t> bytes(last_byte - first_byte);
        Status s = source->ReadInto(section + first_byte, bytes.size(), bytes.data());
        if (!s.ok()) return s.WithContext(Label(i));
        if (last_byte == size) {
          s = CheckPackedTail(i, bytes.data(), bytes.size());
          if (!s.ok()) return s;
        }
        container::DecodePackedCodes(bytes.data(), t.code_bits, t.centroids.data(),
                                     static_cast<uint32_t>(t.centroids.size()), begin - first_code,
                                     end - first_code, out);
        return Status::OK();
      }
      case Storage::kRetrieval:
        return DecodeTablePart(i, begin, end, out, threads);
    }
    return Status::Internal("unknown storage");
  }

  // The retrieval case of DecodePart with pread: reads the table's header and shard
  // directory, the cells of the shards covering [begin, end) and the cell area's last
  // block and padding (which opening checks) into a sparse buffer of the section's
  // size, then opens and decodes it as a whole table. A header or directory that does
  // not describe the section falls back to a whole load, which reports it.
  Status DecodeTablePart(size_t i, uint64_t begin, uint64_t end, float* out, int threads) const {
    const TensorInfo& t = index.tensors[i];
    const uint64_t section = t.section_offset, size = t.stored_bytes;
    auto whole = [&] { return DecodeRange(i, begin, end, out, threads, /*whole=*/true); };
    const uint64_t shards = t.shard_count;
    const uint64_t directory_bytes = (shards + 1) * retrieval::kDirectoryEntrySize;
    const uint64_t cells_offset = retrieval::kHeaderSize + directory_bytes;
    if (shards == 0 || t.shard_span == 0 || cells_offset > size) return whole();
    SparseBuffer buffer(static_cast<uint8_t*>(std::calloc(size, 1)));
    if (!buffer) {
      return Status::OutOfRange(Label(i) + ": cannot allocate " + Num(size) + " bytes");
    }
    uint8_t* data = buffer.get();
    Status s = source->ReadInto(section, cells_offset, data);
    if (!s.ok()) return s.WithContext(Label(i));
    const uint8_t* directory = data + retrieval::kHeaderSize;
    const uint64_t first_shard = begin / t.shard_span, last_shard = (end - 1) / t.shard_span;
    if (last_shard >= shards) return whole();
    const uint64_t cell_begin = retrieval::ReadShardEntry(directory, first_shard).cell_begin;
    const uint64_t cell_end = retrieval::ReadShardEntry(directory, last_shard).cell_end;
    const uint64_t total_cells = retrieval::ReadShardEntry(directory, shards - 1).cell_end;
    const uint64_t area = size - cells_offset;
    const bool ribbon = t.retrieval_kind == RetrievalKind::kRibbon;
    if (cell_begin > cell_end || cell_end > total_cells ||
        area != retrieval::CellAreaBytes(ribbon, total_cells, t.code_bits)) {
      return whole();
    }
    const retrieval::ByteRange cells =
        retrieval::CellBytesOfShards(ribbon, cell_begin, cell_end, t.code_bits, area);
    const retrieval::ByteRange tail = retrieval::CellAreaTail(ribbon, total_cells, t.code_bits);
    for (const retrieval::ByteRange& r : {cells, tail}) {
      if (r.end <= r.begin) continue;
      s = source->ReadInto(section + cells_offset + r.begin, r.end - r.begin,
                           data + cells_offset + r.begin);
      if (!s.ok()) return s.WithContext(Label(i));
    }
    std::optional<RetrievalView> table;
    s = CheckStructure(i, data, size, &table);
    if (!s.ok()) return s;
    return DecodeFrom(t, data, table, begin, end, out, threads);
  }
};

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;

Result<std::unique_ptr<Reader::Impl>> Reader::Impl::OpenSource(std::unique_ptr<Source> source,
                                                               const ReaderOptions& options) {
  auto impl = std::make_unique<Reader::Impl>();
  impl->options = options;
  const uint64_t size = source->size();
  if (size < container::kHeaderSize + container::kTrailerSize) {
    return container::Corrupt(FileError::kTooSmall, "file of " + Num(size) +
                                                        " bytes is shorter than a header and a "
                                                        "trailer (112 bytes)");
  }
  std::vector<uint8_t> buffer;
  Result<const uint8_t*> header_bytes = source->Read(0, container::kHeaderSize, &buffer);
  if (!header_bytes.ok()) return header_bytes.status();
  Result<container::Header> header = container::Header::DecodeFrom(*header_bytes);
  if (!header.ok()) return header.status();
  Result<const uint8_t*> trailer_bytes =
      source->Read(size - container::kTrailerSize, container::kTrailerSize, &buffer);
  if (!trailer_bytes.ok()) return trailer_bytes.status();
  Result<container::Trailer> trailer = container::Trailer::DecodeFrom(*trailer_bytes);
  if (!trailer.ok()) return trailer.status();
  const container::Trailer& tr = *trailer;
  const uint64_t index_end = size - container::kTrailerSize;
  if (tr.index_offset < container::kHeaderSize || tr.index_offset % container::kSectionAlignment ||
      tr.index_offset > index_end || tr.index_size != index_end - tr.index_offset) {
    return container::Corrupt(
        FileError::kIndexOutOfBounds,
        "trailer: index at offset " + Num(tr.index_offset) + " of " + Num(tr.index_size) +
            " bytes must be 64-aligned, after the header, and end where the trailer begins (" +
            Num(index_end) + ")");
  }
  if (tr.index_size > FileLimits::kMaxIndexBytes) {
    return container::FileStatus(
        StatusCode::kOutOfRange, FileError::kLimitExceeded,
        "trailer: index of " + Num(tr.index_size) + " bytes exceeds the limit of 64 MiB");
  }
  Result<const uint8_t*> index_bytes =
      source->Read(tr.index_offset, tr.index_size, &impl->index_buffer);
  if (!index_bytes.ok()) return index_bytes.status();
  const uint8_t* index_data = *index_bytes;
  // FlatBuffers needs its buffer aligned (the Verifier checks alignment); a caller's
  // buffer may not be, so copy the (small) index when it is not 8-aligned.
  if (reinterpret_cast<uintptr_t>(index_data) % 8 != 0) {
    impl->index_buffer.assign(index_data, index_data + tr.index_size);
    index_data = impl->index_buffer.data();
  }
  if (container::Checksum(index_data, tr.index_size) != tr.index_checksum) {
    return container::Corrupt(FileError::kIndexChecksum,
                              "index at offset " + Num(tr.index_offset) + ": checksum mismatch");
  }
  uint64_t index_size = tr.index_size;
  if (tr.required_features & static_cast<uint64_t>(Feature::kZstdIndex)) {
    // The index is one zstd frame that states its size; bound it before allocating.
    Result<uint64_t> content = SingleZstdFrameContentSize(
        index_data, tr.index_size, "index at offset " + Num(tr.index_offset));
    if (!content.ok()) return content.status();
    const uint64_t raw = *content;
    if (raw > FileLimits::kMaxIndexBytes) {
      return container::FileStatus(StatusCode::kOutOfRange, FileError::kLimitExceeded,
                                   "index at offset " + Num(tr.index_offset) +
                                       ": decompresses to " + Num(raw) +
                                       " bytes, beyond the limit of 64 MiB");
    }
    std::vector<uint8_t> decompressed(raw);
    const size_t n =
        ZSTD_decompress(decompressed.data(), decompressed.size(), index_data, tr.index_size);
    if (ZSTD_isError(n) || n != raw) {
      return container::Corrupt(FileError::kCodecError,
                                "index at offset " + Num(tr.index_offset) + ": " +
                                    (ZSTD_isError(n) ? std::string(ZSTD_getErrorName(n))
                                                     : "decompressed to the wrong size"));
    }
    impl->index_buffer = std::move(decompressed);
    index_data = impl->index_buffer.data();
    index_size = raw;
  }
  const uint64_t unknown = tr.required_features & ~kKnownFeatures;
  if (unknown != 0) {
    return container::FileStatus(
        StatusCode::kNotSupported, FileError::kUnknownFeature,
        "the file requires " + container::NameUnknownFeatures(index_data, index_size, unknown) +
            ", which this reader does not implement; a newer Weightless can read it");
  }
  container::FileGeometry geometry{container::kHeaderSize, tr.index_offset,
                                   options.max_decompressed_bytes, header->minor};
  Result<container::IndexContents> index =
      container::ParseIndex(index_data, index_size, geometry, tr.required_features);
  if (!index.ok()) return index.status();
  impl->index = std::move(index).value();
  impl->index.format_major = header->major;  // the header's version is authoritative
  impl->index.format_minor = header->minor;
  impl->trailer = tr;
  impl->source = std::move(source);
  impl->slots.resize(impl->index.tensors.size());
  for (auto& slot : impl->slots) slot = std::make_unique<Slot>();
  return impl;
}

Result<Reader> Reader::Open(const std::string& path, const ReaderOptions& options) {
  Result<std::unique_ptr<Source>> source = Source::FromPath(path, options.use_mmap);
  if (!source.ok()) return source.status();
  Result<std::unique_ptr<Impl>> impl = Impl::OpenSource(std::move(source).value(), options);
  if (!impl.ok()) return impl.status().WithContext(path);
  return Reader(std::move(impl).value());
}

Result<Reader> Reader::OpenBuffer(const uint8_t* data, size_t size, const ReaderOptions& options) {
  if (data == nullptr && size > 0) return Status::InvalidArgument("buffer is null");
  Result<std::unique_ptr<Impl>> impl = Impl::OpenSource(Source::FromBuffer(data, size), options);
  if (!impl.ok()) return impl.status();
  return Reader(std::move(impl).value());
}

uint16_t Reader::format_major() const { return impl_->index.format_major; }
uint16_t Reader::format_minor() const { return impl_->index.format_minor; }
uint64_t Reader::required_features() const { return impl_->index.required_features; }
const std::string& Reader::producer_name() const { return impl_->index.producer_name; }
const std::string& Reader::producer_version() const { return impl_->index.producer_version; }
uint64_t Reader::file_size() const { return impl_->source->size(); }
bool Reader::is_mapped() const { return impl_->source->mapped(); }
uint64_t Reader::index_offset() const { return impl_->trailer.index_offset; }
uint64_t Reader::index_size() const { return impl_->trailer.index_size; }
size_t Reader::tensor_count() const { return impl_->index.tensors.size(); }
const TensorInfo& Reader::tensor(size_t i) const { return impl_->index.tensors[i]; }
const std::vector<MetadataEntry>& Reader::metadata() const { return impl_->index.metadata; }

Result<size_t> Reader::FindTensor(std::string_view name) const {
  for (size_t i = 0; i < impl_->index.tensors.size(); ++i) {
    if (impl_->index.tensors[i].name == name) return i;
  }
  return Status::NotFound("no tensor named '" + std::string(name) + "'");
}

const MetadataValue* Reader::FindMetadata(std::string_view key) const {
  for (const MetadataEntry& e : impl_->index.metadata) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

Status Reader::Decode(size_t i, float* out, uint64_t out_capacity, int threads) const {
  if (i >= tensor_count()) return Status::OutOfRange("tensor index " + Num(i));
  const uint64_t n = impl_->index.tensors[i].element_count();
  if (out_capacity < n) {
    return Status::InvalidArgument(impl_->Label(i) + ": output holds " + Num(out_capacity) +
                                   " values, the tensor has " + Num(n));
  }
  return impl_->DecodeRange(i, 0, n, out, threads, /*whole=*/true);
}

Result<std::vector<float>> Reader::Decode(std::string_view name, int threads) const {
  Result<size_t> i = FindTensor(name);
  if (!i.ok()) return i.status();
  std::vector<float> out(impl_->index.tensors[*i].element_count());
  Status s = Decode(*i, out.data(), out.size(), threads);
  if (!s.ok()) return s;
  return out;
}

Status Reader::DecodeRows(size_t i, uint64_t row_begin, uint64_t row_end, float* out,
                          uint64_t out_capacity, int threads) const {
  if (i >= tensor_count()) return Status::OutOfRange("tensor index " + Num(i));
  const TensorInfo& t = impl_->index.tensors[i];
  if (Status s = t.CheckRowRange(row_begin, row_end); !s.ok()) return s;
  const uint64_t row = t.row_size();
  if (out_capacity < (row_end - row_begin) * row) {
    return Status::InvalidArgument(impl_->Label(i) + ": output holds " + Num(out_capacity) +
                                   " values, the rows have " + Num((row_end - row_begin) * row));
  }
  return impl_->DecodeRange(i, row_begin * row, row_end * row, out, threads, /*whole=*/false);
}

Result<float> Reader::DecodeWeight(size_t i, uint64_t flat_index) const {
  if (i >= tensor_count()) return Status::OutOfRange("tensor index " + Num(i));
  const uint64_t n = impl_->index.tensors[i].element_count();
  if (flat_index >= n) {
    return Status::OutOfRange(impl_->Label(i) + ": index " + Num(flat_index) + " outside [0, " +
                              Num(n) + ")");
  }
  float v = 0;
  Status s = impl_->DecodeRange(i, flat_index, flat_index + 1, &v, 1, /*whole=*/false);
  if (!s.ok()) return s;
  return v;
}

void Reader::Release(size_t i) const {
  if (i >= tensor_count()) return;
  Slot& slot = *impl_->slots[i];
  std::lock_guard<std::mutex> lock(slot.mu);
  slot.payload.reset();
}

void Reader::ReleaseAll() const {
  for (size_t i = 0; i < tensor_count(); ++i) Release(i);
}

uint64_t Reader::cached_bytes() const {
  uint64_t total = 0;
  for (const auto& slot : impl_->slots) {
    std::lock_guard<std::mutex> lock(slot->mu);
    if (slot->payload) total += slot->payload->owned.size();
  }
  return total;
}

uint64_t Reader::bytes_read() const { return impl_->source->bytes_read(); }

std::vector<Status> Reader::Verify() const {
  std::vector<Status> problems;
  const Impl& im = *impl_;
  uint64_t gap_begin = container::kHeaderSize;
  std::vector<uint8_t> buffer;
  auto check_gap = [&](uint64_t end, const std::string& before) {
    if (end <= gap_begin) return;
    Result<const uint8_t*> gap = im.source->Read(gap_begin, end - gap_begin, &buffer);
    if (!gap.ok()) {
      problems.push_back(gap.status());
      return;
    }
    for (uint64_t k = 0; k < end - gap_begin; ++k) {
      if ((*gap)[k] != 0) {
        problems.push_back(container::Corrupt(FileError::kUnexplainedBytes,
                                              "padding before " + before + ": byte at offset " +
                                                  Num(gap_begin + k) + " is not zero"));
        return;
      }
    }
  };
  for (size_t i = 0; i < im.index.tensors.size(); ++i) {
    const TensorInfo& t = im.index.tensors[i];
    check_gap(t.section_offset, "the section of " + im.Label(i));
    gap_begin = t.section_offset + t.stored_bytes;
    // Loaded afresh and verified whatever the options, and not kept: verifying a file
    // read with pread does not leave it all in memory.
    Result<std::shared_ptr<const Payload>> payload = im.LoadPayload(i, /*verify=*/true);
    if (!payload.ok()) {
      problems.push_back(payload.status());
      continue;  // the payload cannot be trusted further
    }
    if (t.storage == Storage::kPackedCodes) {
      const uint64_t n = t.element_count();
      for (uint64_t k = 0; k < n; ++k) {
        const uint32_t code = container::UnpackCode((*payload)->data, k, t.code_bits);
        if (code > t.centroids.size()) {
          problems.push_back(container::Corrupt(
              FileError::kBadEncoding, im.Label(i) + ": code " + Num(code) + " at weight " +
                                           Num(k) + " exceeds K = " + Num(t.centroids.size())));
          break;
        }
      }
    }
  }
  check_gap(im.trailer.index_offset, "the index");
  return problems;
}

}  // namespace weightless
