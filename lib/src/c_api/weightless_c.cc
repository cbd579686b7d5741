// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The C API (weightless/weightless.h) over the public C++ reader. Every function
// catches every exception (only std::bad_alloc is expected) and records its outcome in
// the calling thread's last error before returning.

#include "weightless/weightless.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "weightless/format.h"
#include "weightless/reader.h"
#include "weightless/status.h"
#include "weightless/tensor.h"
#include "weightless/version.h"

using weightless::FileError;
using weightless::MetadataEntry;
using weightless::Reader;
using weightless::ReaderOptions;
using weightless::Result;
using weightless::Status;
using weightless::StatusCode;
using weightless::TensorInfo;

struct wl_reader {
  Reader reader;
};

struct wl_verify_report {
  struct Problem {
    wl_status status;
    wl_file_error file_error;
    std::string message;
  };
  std::vector<Problem> problems;
};

namespace {

// The C codes are the C++ codes: both are stable, and the header promises it.
static_assert(WL_OK == static_cast<int>(StatusCode::kOk));
static_assert(WL_INVALID_ARGUMENT == static_cast<int>(StatusCode::kInvalidArgument));
static_assert(WL_NOT_FOUND == static_cast<int>(StatusCode::kNotFound));
static_assert(WL_CORRUPTION == static_cast<int>(StatusCode::kCorruption));
static_assert(WL_NOT_SUPPORTED == static_cast<int>(StatusCode::kNotSupported));
static_assert(WL_IO_ERROR == static_cast<int>(StatusCode::kIOError));
static_assert(WL_OUT_OF_RANGE == static_cast<int>(StatusCode::kOutOfRange));
static_assert(WL_BUILD_FAILED == static_cast<int>(StatusCode::kBuildFailed));
static_assert(WL_INTERNAL == static_cast<int>(StatusCode::kInternal));

static_assert(WL_FILE_OK == static_cast<int>(FileError::kNone));
static_assert(WL_FILE_TOO_SMALL == static_cast<int>(FileError::kTooSmall));
static_assert(WL_FILE_BAD_MAGIC == static_cast<int>(FileError::kBadMagic));
static_assert(WL_FILE_BAD_TRAILER_MAGIC == static_cast<int>(FileError::kBadTrailerMagic));
static_assert(WL_FILE_UNSUPPORTED_MAJOR == static_cast<int>(FileError::kUnsupportedMajor));
static_assert(WL_FILE_RESERVED_NONZERO == static_cast<int>(FileError::kReservedNonZero));
static_assert(WL_FILE_TRAILER_CHECKSUM == static_cast<int>(FileError::kTrailerChecksum));
static_assert(WL_FILE_INDEX_OUT_OF_BOUNDS == static_cast<int>(FileError::kIndexOutOfBounds));
static_assert(WL_FILE_INDEX_CHECKSUM == static_cast<int>(FileError::kIndexChecksum));
static_assert(WL_FILE_INDEX_INVALID == static_cast<int>(FileError::kIndexInvalid));
static_assert(WL_FILE_UNKNOWN_FEATURE == static_cast<int>(FileError::kUnknownFeature));
static_assert(WL_FILE_FEATURE_MISMATCH == static_cast<int>(FileError::kFeatureMismatch));
static_assert(WL_FILE_LIMIT_EXCEEDED == static_cast<int>(FileError::kLimitExceeded));
static_assert(WL_FILE_SECTION_MISALIGNED == static_cast<int>(FileError::kSectionMisaligned));
static_assert(WL_FILE_SECTION_OUT_OF_BOUNDS == static_cast<int>(FileError::kSectionOutOfBounds));
static_assert(WL_FILE_SECTION_OVERLAP == static_cast<int>(FileError::kSectionOverlap));
static_assert(WL_FILE_UNEXPLAINED_BYTES == static_cast<int>(FileError::kUnexplainedBytes));
static_assert(WL_FILE_SECTION_SIZE_MISMATCH == static_cast<int>(FileError::kSectionSizeMismatch));
static_assert(WL_FILE_SECTION_CHECKSUM == static_cast<int>(FileError::kSectionChecksum));
static_assert(WL_FILE_BAD_ENUM == static_cast<int>(FileError::kBadEnum));
static_assert(WL_FILE_BAD_NAME == static_cast<int>(FileError::kBadName));
static_assert(WL_FILE_DUPLICATE_NAME == static_cast<int>(FileError::kDuplicateName));
static_assert(WL_FILE_BAD_SHAPE == static_cast<int>(FileError::kBadShape));
static_assert(WL_FILE_BAD_ENCODING == static_cast<int>(FileError::kBadEncoding));
static_assert(WL_FILE_CODEC_ERROR == static_cast<int>(FileError::kCodecError));
static_assert(WL_FILE_BAD_SECTION_REFERENCE == static_cast<int>(FileError::kBadSectionReference));
static_assert(WL_FILE_IO_ERROR == static_cast<int>(FileError::kIOError));
static_assert(WL_FILE_BAD_METADATA == static_cast<int>(FileError::kBadMetadata));

static_assert(WL_STORAGE_DENSE == static_cast<int>(weightless::Storage::kDense));
static_assert(WL_STORAGE_RETRIEVAL == static_cast<int>(weightless::Storage::kRetrieval));
static_assert(WL_STORAGE_PACKED_CODES == static_cast<int>(weightless::Storage::kPackedCodes));
static_assert(WL_DTYPE_FLOAT32 == static_cast<int>(weightless::DType::kFloat32));
static_assert(WL_DTYPE_FLOAT16 == static_cast<int>(weightless::DType::kFloat16));
static_assert(WL_DTYPE_BFLOAT16 == static_cast<int>(weightless::DType::kBFloat16));
static_assert(WL_DTYPE_INT8 == static_cast<int>(weightless::DType::kInt8));
static_assert(WL_RETRIEVAL_BLOOMIER == static_cast<int>(weightless::RetrievalKind::kBloomier));
static_assert(WL_RETRIEVAL_RIBBON == static_cast<int>(weightless::RetrievalKind::kRibbon));
static_assert(WL_HASH_XXH3 == static_cast<int>(weightless::RetrievalHash::kXxh3));
static_assert(WL_HASH_MIX32 == static_cast<int>(weightless::RetrievalHash::kMix32));
static_assert(WL_CODEC_NONE == static_cast<int>(weightless::Codec::kNone));
static_assert(WL_CODEC_ZSTD == static_cast<int>(weightless::Codec::kZstd));

// The outcome of this thread's latest call that returned a wl_status.
struct LastError {
  std::string message;
  wl_file_error file_error = WL_FILE_OK;
  const char* fallback = nullptr;  // used instead of message when storing it failed
};

LastError& Last() {
  thread_local LastError last;
  return last;
}

wl_status Succeed() noexcept {
  LastError& last = Last();
  last.message.clear();
  last.file_error = WL_FILE_OK;
  last.fallback = nullptr;
  return WL_OK;
}

wl_status Fail(wl_status status, wl_file_error file_error, std::string_view message,
               std::string_view more = {}) noexcept {
  LastError& last = Last();
  last.file_error = file_error;
  last.fallback = nullptr;
  try {
    last.message.assign(message);
    last.message.append(more);
  } catch (...) {
    last.message.clear();
    last.fallback = "(out of memory while recording the error message)";
  }
  return status;
}

// The numbers are the same (the static_asserts above pin them).
wl_status CodeOf(StatusCode code) { return static_cast<wl_status>(code); }

wl_status FromStatus(const Status& status) noexcept {
  if (status.ok()) return Succeed();
  return Fail(CodeOf(status.code()), status.detail(), status.message());
}

// Runs body(), turning any exception into an error code: no exception leaves the API.
template <typename Body>
wl_status Guard(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Fail(WL_OUT_OF_MEMORY, WL_FILE_OK, "out of memory");
  } catch (const std::exception& e) {
    return Fail(WL_INTERNAL, WL_FILE_OK, "unexpected exception: ", e.what());
  } catch (...) {
    return Fail(WL_INTERNAL, WL_FILE_OK, "unexpected exception");
  }
}

wl_status NullArgument(const char* what) noexcept {
  return Fail(WL_INVALID_ARGUMENT, WL_FILE_OK, what, " is NULL");
}

// Checks the reader and the tensor index; on success *info is the tensor.
wl_status CheckTensor(const wl_reader* reader, size_t index, const TensorInfo** info) {
  if (reader == nullptr) return NullArgument("reader");
  const Reader& r = reader->reader;
  if (index >= r.tensor_count()) {
    return Fail(WL_OUT_OF_RANGE, WL_FILE_OK,
                "tensor index " + std::to_string(index) + " is not below the tensor count " +
                    std::to_string(r.tensor_count()));
  }
  *info = &r.tensor(index);
  return WL_OK;
}

wl_status CheckOutput(const TensorInfo& t, const float* out, size_t capacity, uint64_t needed,
                      int threads) {
  if (threads < 0) {
    return Fail(WL_INVALID_ARGUMENT, WL_FILE_OK, "threads is " + std::to_string(threads),
                ", must be >= 0");
  }
  if (capacity < needed) {
    return Fail(WL_BUFFER_TOO_SMALL, WL_FILE_OK,
                "tensor '" + t.name + "': the output holds " + std::to_string(capacity) +
                    " floats, decoding needs " + std::to_string(needed));
  }
  if (out == nullptr && needed > 0) return NullArgument("out");
  return WL_OK;
}

wl_status CheckMetadata(const wl_reader* reader, size_t entry, const MetadataEntry** out) {
  if (reader == nullptr) return NullArgument("reader");
  const std::vector<MetadataEntry>& metadata = reader->reader.metadata();
  if (entry >= metadata.size()) {
    return Fail(WL_OUT_OF_RANGE, WL_FILE_OK,
                "metadata entry " + std::to_string(entry) + " is not below the entry count " +
                    std::to_string(metadata.size()));
  }
  *out = &metadata[entry];
  return WL_OK;
}

wl_status WrongMetadataType(const MetadataEntry& e, const char* wanted) {
  return Fail(WL_INVALID_ARGUMENT, WL_FILE_OK, "metadata '" + e.key + "' is not " + wanted);
}

wl_status Opened(Result<Reader> opened, wl_reader** out_reader) {
  if (!opened.ok()) return FromStatus(opened.status());
  *out_reader = new wl_reader{std::move(opened).value()};
  return Succeed();
}

}  // namespace

extern "C" {

const char* wl_status_name(wl_status status) {
  switch (status) {
    case WL_BUFFER_TOO_SMALL:
      return "Buffer too small";
    case WL_OUT_OF_MEMORY:
      return "Out of memory";
    default:  // "Unknown" for numbers that are no code
      return weightless::StatusCodeName(static_cast<StatusCode>(status));
  }
}

const char* wl_file_error_name(wl_file_error error) {
  return weightless::FileErrorName(static_cast<FileError>(error));
}

const char* wl_last_error_message(void) {
  const LastError& last = Last();
  return last.fallback != nullptr ? last.fallback : last.message.c_str();
}

wl_file_error wl_last_error_file_error(void) { return Last().file_error; }

int wl_version_number(void) { return weightless::VersionNumber(); }
const char* wl_version_string(void) { return weightless::VersionString(); }

void wl_reader_options_init(wl_reader_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
  const ReaderOptions defaults;
  options->use_mmap = defaults.use_mmap ? 1 : 0;
  options->verify_checksums = defaults.verify_checksums ? 1 : 0;
  options->partial_reads = defaults.partial_reads ? 1 : 0;
  options->max_decompressed_bytes = defaults.max_decompressed_bytes;
}

namespace {

// The C++ options for a caller's wl_reader_options (NULL: the defaults); members past
// the caller's struct_size keep their defaults.
wl_status ToReaderOptions(const wl_reader_options* given, ReaderOptions* out) {
  *out = ReaderOptions();
  if (given == nullptr) return WL_OK;
  if (given->struct_size < sizeof given->struct_size) {
    return Fail(WL_INVALID_ARGUMENT, WL_FILE_OK,
                "options->struct_size is " + std::to_string(given->struct_size) +
                    ", smaller than the struct_size member itself");
  }
  wl_reader_options o;
  wl_reader_options_init(&o);
  std::memcpy(&o, given, std::min(given->struct_size, sizeof o));
  out->use_mmap = o.use_mmap != 0;
  out->verify_checksums = o.verify_checksums != 0;
  out->partial_reads = o.partial_reads != 0;
  if (o.max_decompressed_bytes != 0) out->max_decompressed_bytes = o.max_decompressed_bytes;
  return WL_OK;
}

}  // namespace

wl_status wl_reader_open_with_options(const char* path, const wl_reader_options* options,
                                      wl_reader** out_reader) {
  if (out_reader != nullptr) *out_reader = nullptr;
  return Guard([&] {
    if (path == nullptr) return NullArgument("path");
    if (out_reader == nullptr) return NullArgument("out_reader");
    ReaderOptions o;
    if (wl_status s = ToReaderOptions(options, &o); s != WL_OK) return s;
    return Opened(Reader::Open(path, o), out_reader);
  });
}

wl_status wl_reader_open_buffer_with_options(const void* data, size_t size,
                                             const wl_reader_options* options,
                                             wl_reader** out_reader) {
  if (out_reader != nullptr) *out_reader = nullptr;
  return Guard([&] {
    if (data == nullptr && size > 0) return NullArgument("data");
    if (out_reader == nullptr) return NullArgument("out_reader");
    ReaderOptions o;
    if (wl_status s = ToReaderOptions(options, &o); s != WL_OK) return s;
    return Opened(Reader::OpenBuffer(static_cast<const uint8_t*>(data), size, o), out_reader);
  });
}

void wl_reader_release(const wl_reader* reader, size_t index) {
  if (reader != nullptr) reader->reader.Release(index);
}

uint64_t wl_reader_cached_bytes(const wl_reader* reader) {
  return reader == nullptr ? 0 : reader->reader.cached_bytes();
}

uint64_t wl_reader_bytes_read(const wl_reader* reader) {
  return reader == nullptr ? 0 : reader->reader.bytes_read();
}

wl_status wl_reader_open(const char* path, wl_reader** out_reader) {
  return wl_reader_open_with_options(path, nullptr, out_reader);
}

wl_status wl_reader_open_buffer(const void* data, size_t size, wl_reader** out_reader) {
  return wl_reader_open_buffer_with_options(data, size, nullptr, out_reader);
}

void wl_reader_close(wl_reader* reader) { delete reader; }

uint32_t wl_reader_format_major(const wl_reader* reader) {
  return reader == nullptr ? 0 : reader->reader.format_major();
}

uint32_t wl_reader_format_minor(const wl_reader* reader) {
  return reader == nullptr ? 0 : reader->reader.format_minor();
}

size_t wl_reader_tensor_count(const wl_reader* reader) {
  return reader == nullptr ? 0 : reader->reader.tensor_count();
}

wl_status wl_reader_find_tensor(const wl_reader* reader, const char* name, size_t name_length,
                                size_t* out_index) {
  return Guard([&] {
    if (reader == nullptr) return NullArgument("reader");
    if (name == nullptr && name_length > 0) return NullArgument("name");
    if (out_index == nullptr) return NullArgument("out_index");
    Result<size_t> found =
        reader->reader.FindTensor(std::string_view(name == nullptr ? "" : name, name_length));
    if (!found.ok()) return FromStatus(found.status());
    *out_index = *found;
    return Succeed();
  });
}

wl_status wl_reader_describe_tensor(const wl_reader* reader, size_t index,
                                    wl_tensor_info* out_info) {
  return Guard([&] {
    const TensorInfo* t = nullptr;
    if (wl_status s = CheckTensor(reader, index, &t); s != WL_OK) return s;
    if (out_info == nullptr) return NullArgument("out_info");
    if (out_info->struct_size < sizeof(out_info->struct_size)) {
      return Fail(WL_INVALID_ARGUMENT, WL_FILE_OK,
                  "out_info->struct_size is " + std::to_string(out_info->struct_size),
                  "; set it to sizeof(wl_tensor_info)");
    }
    const bool coded = t->storage != weightless::Storage::kDense;
    const bool retrieval = t->storage == weightless::Storage::kRetrieval;
    wl_tensor_info info;
    std::memset(&info, 0, sizeof(info));
    info.struct_size = out_info->struct_size;
    info.name = t->name.c_str();
    info.name_length = t->name.size();
    info.rank = static_cast<uint32_t>(t->shape.size());
    info.shape = t->shape.empty() ? nullptr : t->shape.data();
    info.element_count = t->element_count();
    info.rows = t->rows();
    info.row_size = t->row_size();
    info.storage = static_cast<int>(t->storage);
    info.dtype = static_cast<int>(t->dtype);
    info.int8_scale = t->int8_scale;
    info.centroid_count = coded ? static_cast<uint32_t>(t->centroids.size()) : 0;
    info.centroids = coded && !t->centroids.empty() ? t->centroids.data() : nullptr;
    info.code_bits = coded ? t->code_bits : 0;
    info.retrieval_kind = retrieval ? static_cast<int>(t->retrieval_kind) : WL_RETRIEVAL_NONE;
    if (retrieval) {
      info.retrieval_seed = t->retrieval_seed;
      info.shard_span = t->shard_span;
      info.shard_count = t->shard_count;
      info.cells = t->cells;
      info.retrieval_hash = static_cast<int>(t->retrieval_hash);
    }
    info.kept = t->stats.kept;
    info.false_positives = t->stats.false_positives;
    info.added_squared_error = t->stats.added_squared_error;
    info.encode_order = t->retrain.encode_order;
    info.epochs_after = t->retrain.epochs_after;
    info.accuracy_before_encoding = t->retrain.accuracy_before_encoding;
    info.accuracy_after_encoding = t->retrain.accuracy_after_encoding;
    info.accuracy_after_retraining = t->retrain.accuracy_after_retraining;
    info.section_offset = t->section_offset;
    info.stored_bytes = t->stored_bytes;
    info.raw_bytes = t->raw_bytes;
    info.codec = static_cast<int>(t->codec);
    // A caller built against an older header gets the members it knows.
    std::memcpy(out_info, &info, std::min(out_info->struct_size, sizeof(info)));
    return Succeed();
  });
}

wl_status wl_reader_decode(const wl_reader* reader, size_t index, float* out, size_t out_capacity,
                           int threads) {
  return Guard([&] {
    const TensorInfo* t = nullptr;
    if (wl_status s = CheckTensor(reader, index, &t); s != WL_OK) return s;
    const uint64_t n = t->element_count();
    if (wl_status s = CheckOutput(*t, out, out_capacity, n, threads); s != WL_OK) return s;
    return FromStatus(reader->reader.Decode(index, out, n, threads));
  });
}

wl_status wl_reader_decode_rows(const wl_reader* reader, size_t index, uint64_t row_begin,
                                uint64_t row_end, float* out, size_t out_capacity, int threads) {
  return Guard([&] {
    const TensorInfo* t = nullptr;
    if (wl_status s = CheckTensor(reader, index, &t); s != WL_OK) return s;
    if (Status s = t->CheckRowRange(row_begin, row_end); !s.ok()) return FromStatus(s);
    const uint64_t n = (row_end - row_begin) * t->row_size();
    if (wl_status s = CheckOutput(*t, out, out_capacity, n, threads); s != WL_OK) return s;
    return FromStatus(reader->reader.DecodeRows(index, row_begin, row_end, out, n, threads));
  });
}

wl_status wl_reader_decode_weight(const wl_reader* reader, size_t index, uint64_t flat_index,
                                  float* out_value) {
  return Guard([&] {
    if (reader == nullptr) return NullArgument("reader");
    if (out_value == nullptr) return NullArgument("out_value");
    Result<float> value = reader->reader.DecodeWeight(index, flat_index);  // checks index
    if (!value.ok()) return FromStatus(value.status());
    *out_value = *value;
    return Succeed();
  });
}

wl_status wl_reader_verify(const wl_reader* reader, wl_verify_report** out_report) {
  if (out_report != nullptr) *out_report = nullptr;
  return Guard([&] {
    if (reader == nullptr) return NullArgument("reader");
    if (out_report == nullptr) return NullArgument("out_report");
    const std::vector<Status> problems = reader->reader.Verify();
    auto report = std::make_unique<wl_verify_report>();
    report->problems.reserve(problems.size());
    for (const Status& p : problems) {
      report->problems.push_back({CodeOf(p.code()), p.detail(), std::string(p.message())});
    }
    *out_report = report.release();
    return Succeed();
  });
}

size_t wl_verify_report_count(const wl_verify_report* report) {
  return report == nullptr ? 0 : report->problems.size();
}

wl_status wl_verify_report_problem(const wl_verify_report* report, size_t i, wl_status* out_status,
                                   wl_file_error* out_file_error, const char** out_message) {
  return Guard([&] {
    if (report == nullptr) return NullArgument("report");
    if (i >= report->problems.size()) {
      return Fail(WL_OUT_OF_RANGE, WL_FILE_OK,
                  "problem " + std::to_string(i) + " is not below the problem count " +
                      std::to_string(report->problems.size()));
    }
    const wl_verify_report::Problem& p = report->problems[i];
    if (out_status != nullptr) *out_status = p.status;
    if (out_file_error != nullptr) *out_file_error = p.file_error;
    if (out_message != nullptr) *out_message = p.message.c_str();
    return Succeed();
  });
}

void wl_verify_report_free(wl_verify_report* report) { delete report; }

size_t wl_reader_metadata_count(const wl_reader* reader) {
  return reader == nullptr ? 0 : reader->reader.metadata().size();
}

wl_status wl_reader_find_metadata(const wl_reader* reader, const char* key, size_t key_length,
                                  size_t* out_entry) {
  return Guard([&] {
    if (reader == nullptr) return NullArgument("reader");
    if (key == nullptr && key_length > 0) return NullArgument("key");
    if (out_entry == nullptr) return NullArgument("out_entry");
    const std::string_view wanted(key == nullptr ? "" : key, key_length);
    const std::vector<MetadataEntry>& metadata = reader->reader.metadata();
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (metadata[i].key == wanted) {
        *out_entry = i;
        return Succeed();
      }
    }
    return Fail(WL_NOT_FOUND, WL_FILE_OK, "no metadata key '" + std::string(wanted) + "'");
  });
}

wl_status wl_reader_metadata_key(const wl_reader* reader, size_t entry, const char** out_key,
                                 size_t* out_key_length, int* out_type) {
  return Guard([&] {
    const MetadataEntry* e = nullptr;
    if (wl_status s = CheckMetadata(reader, entry, &e); s != WL_OK) return s;
    if (out_key == nullptr) return NullArgument("out_key");
    *out_key = e->key.c_str();
    if (out_key_length != nullptr) *out_key_length = e->key.size();
    if (out_type != nullptr) {
      *out_type = std::holds_alternative<std::string>(e->value) ? WL_METADATA_STRING
                  : std::holds_alternative<int64_t>(e->value)   ? WL_METADATA_INT
                  : std::holds_alternative<double>(e->value)    ? WL_METADATA_DOUBLE
                                                                : WL_METADATA_BOOL;
    }
    return Succeed();
  });
}

wl_status wl_reader_metadata_string(const wl_reader* reader, size_t entry, const char** out_value,
                                    size_t* out_length) {
  return Guard([&] {
    const MetadataEntry* e = nullptr;
    if (wl_status s = CheckMetadata(reader, entry, &e); s != WL_OK) return s;
    if (out_value == nullptr) return NullArgument("out_value");
    const std::string* value = std::get_if<std::string>(&e->value);
    if (value == nullptr) return WrongMetadataType(*e, "a string");
    *out_value = value->c_str();
    if (out_length != nullptr) *out_length = value->size();
    return Succeed();
  });
}

wl_status wl_reader_metadata_int(const wl_reader* reader, size_t entry, int64_t* out_value) {
  return Guard([&] {
    const MetadataEntry* e = nullptr;
    if (wl_status s = CheckMetadata(reader, entry, &e); s != WL_OK) return s;
    if (out_value == nullptr) return NullArgument("out_value");
    if (const int64_t* i = std::get_if<int64_t>(&e->value)) {
      *out_value = *i;
    } else if (const bool* b = std::get_if<bool>(&e->value)) {
      *out_value = *b ? 1 : 0;
    } else {
      return WrongMetadataType(*e, "an int or a bool");
    }
    return Succeed();
  });
}

wl_status wl_reader_metadata_double(const wl_reader* reader, size_t entry, double* out_value) {
  return Guard([&] {
    const MetadataEntry* e = nullptr;
    if (wl_status s = CheckMetadata(reader, entry, &e); s != WL_OK) return s;
    if (out_value == nullptr) return NullArgument("out_value");
    if (const double* d = std::get_if<double>(&e->value)) {
      *out_value = *d;
    } else if (const int64_t* i = std::get_if<int64_t>(&e->value)) {
      *out_value = static_cast<double>(*i);
    } else {
      return WrongMetadataType(*e, "a double or an int");
    }
    return Succeed();
  });
}

}  // extern "C"
