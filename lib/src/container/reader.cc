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
#include "section/storage.h"
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
// pread or decompressed) and the validated view decoding goes through.
struct Payload {
  std::vector<uint8_t> owned;
  std::optional<SectionView> view;
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

  // Opens the section of tensor i held in data[0..size) (SectionView::Open: the
  // structure checks of its storage, whether loaded or read in place).
  Result<SectionView> OpenView(size_t i, const uint8_t* data, uint64_t size) const {
    return SectionView::Open(index.tensors[i], data, size);
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
    } else if (!source->mapped()) {
      p->owned = std::move(stored_buffer);
    }
    const uint8_t* data = source->mapped() && t.codec == Codec::kNone ? *stored : p->owned.data();
    Result<SectionView> view = OpenView(i, data, t.raw_bytes);
    if (!view.ok()) return view.status();
    p->view = *view;
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

  // Floats or codes of [begin, end) from an opened view.
  static Status DecodeFrom(const SectionView& view, uint64_t begin, uint64_t end, float* out,
                           int threads) {
    return view.DecodeFloats(begin, end, out, threads);
  }
  static Status DecodeFrom(const SectionView& view, uint64_t begin, uint64_t end, uint16_t* out,
                           int threads) {
    return view.DecodeCodes(begin, end, out, threads);
  }

  // Decodes [begin, end) of tensor i into out (floats or codes). `whole` is true for
  // Decode(); otherwise, with options.partial_reads, an uncompressed section that is
  // not loaded is read only where [begin, end) needs it (DecodePart).
  template <typename T>
  Status DecodeRange(size_t i, uint64_t begin, uint64_t end, T* out, int threads,
                     bool whole) const {
    const TensorInfo& t = index.tensors[i];
    if (!whole && options.partial_reads && t.codec == Codec::kNone && begin < end) {
      if (std::shared_ptr<const Payload> p = Cached(i)) {
        return DecodeFrom(*p->view, begin, end, out, threads);
      }
      return DecodePart(i, begin, end, out, threads);
    }
    Result<std::shared_ptr<const Payload>> loaded = Get(i);
    if (!loaded.ok()) return loaded.status();
    return DecodeFrom(*(*loaded)->view, begin, end, out, threads);
  }

  // Decodes [begin, end) of uncompressed tensor i reading only the bytes that range
  // needs, unverified by the section checksum, which covers the whole section; the
  // structure is checked as on a whole load. Keeps nothing. A mapping is used in place
  // (only the pages decoding touches are read). With pread the storage says what to
  // read: dense and packed codes the bytes of the range alone (StorageOps::read_window);
  // a retrieval table its header, directory, last block and the cells of the covering
  // shards (read_part), into a zero-filled buffer of the section's size, whose pages
  // never written calloc leaves unallocated. When the table's storage cannot plan from
  // what it read (a damaged directory), the section is loaded whole (and kept, as by
  // Decode), which reports the damage.
  template <typename T>
  Status DecodePart(size_t i, uint64_t begin, uint64_t end, T* out, int threads) const {
    const TensorInfo& t = index.tensors[i];
    const uint64_t section = t.section_offset, size = t.stored_bytes;
    if (source->mapped()) {
      std::vector<uint8_t> unused;
      Result<const uint8_t*> data = source->Read(section, size, &unused);  // no copy
      if (!data.ok()) return data.status();
      Result<SectionView> view = OpenView(i, *data, size);
      if (!view.ok()) return view.status();
      return DecodeFrom(*view, begin, end, out, threads);
    }
    const section::StorageOps* ops = section::OpsFor(t.storage);
    if (ops == nullptr) return Status::Internal("unknown storage");  // the index refuses it
    const section::ReadFn read = [&](uint64_t at, uint64_t n, uint8_t* dst) {
      return source->ReadInto(section + at, n, dst).WithContext(Label(i));
    };
    if (ops->read_window != nullptr) {
      std::vector<uint8_t> window;
      uint64_t first = 0;
      Status s = ops->read_window(t, begin, end, read, &window, &first);
      if (!s.ok()) return s;
      const SectionView view =
          section::ViewAccess::Window(t, window.data(), window.size(), end - first);
      return DecodeFrom(view, begin - first, end - first, out, threads);
    }
    SparseBuffer buffer(static_cast<uint8_t*>(std::calloc(size ? size : 1, 1)));
    if (!buffer) {
      return Status::OutOfRange(Label(i) + ": cannot allocate " + Num(size) + " bytes");
    }
    bool whole = false;
    Status s = ops->read_part(t, begin, end, read, buffer.get(), &whole);
    if (!s.ok()) return s;
    if (whole) return DecodeRange(i, begin, end, out, threads, /*whole=*/true);
    Result<SectionView> view = OpenView(i, buffer.get(), size);
    if (!view.ok()) return view.status();
    return DecodeFrom(*view, begin, end, out, threads);
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

Status Reader::DecodeCodeRows(size_t i, uint64_t row_begin, uint64_t row_end, uint16_t* out,
                              uint64_t out_capacity, int threads) const {
  if (i >= tensor_count()) return Status::OutOfRange("tensor index " + Num(i));
  const TensorInfo& t = impl_->index.tensors[i];
  if (t.storage == Storage::kDense) {
    return Status::InvalidArgument(impl_->Label(i) + " is dense", "it has no codes");
  }
  if (Status s = t.CheckRowRange(row_begin, row_end); !s.ok()) return s;
  const uint64_t row = t.row_size();
  if (out_capacity < (row_end - row_begin) * row) {
    return Status::InvalidArgument(impl_->Label(i) + ": output holds " + Num(out_capacity) +
                                   " codes, the rows have " + Num((row_end - row_begin) * row));
  }
  const bool whole = row_begin == 0 && row_end == t.rows();
  return impl_->DecodeRange(i, row_begin * row, row_end * row, out, threads, whole);
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
    Status values = (*payload)->view->CheckValues();
    if (!values.ok()) problems.push_back(values);
  }
  check_gap(im.trailer.index_offset, "the index");
  return problems;
}

}  // namespace weightless
