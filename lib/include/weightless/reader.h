// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Reader: opens a .wl file (spec/FORMAT.md) and decodes its tensors, each through the
// SectionView of its storage (weightless/section.h).
//
// Opening reads and checks only the trailer and the index (their checksums, the
// FlatBuffers Verifier with explicit limits, and every number and name in the index
// for meaning), so it costs the same for a 1 MB and a 1 GB file. Verify() checks
// everything in the file.
//
// Payloads, and what the reader keeps of them:
// - Decode() loads a tensor's section whole the first time: reads it (pread) or uses
//   the mapping in place, verifies its checksum (ReaderOptions::verify_checksums),
//   decompresses it (zstd), validates its structure, and keeps the result for later
//   calls: nothing for an uncompressed mapped section (the mapping is used in place),
//   the section's bytes for pread and for zstd. Release() / ReleaseAll() drop what is
//   kept; cached_bytes() says how much that is.
// - DecodeRows() and DecodeWeight() do the same by default. With
//   ReaderOptions::partial_reads, on an uncompressed section not already loaded, they
//   read (pread) or touch (mmap) only the bytes of the rows asked for: for retrieval
//   layers the table's header, shard directory, last block and the cells of the
//   shards covering the rows, for dense and packed codes the rows' bytes alone; and keep
//   nothing (but for a table whose shard directory is damaged: that one loads whole,
//   as Decode() does, and reports the damage). Checksum policy: the section checksum
//   covers the whole section, so such partial reads are not checksum-verified; their
//   structure is validated as on a whole load (no input makes them crash or read
//   outside the section), but a damaged cell inside the rows read decodes to wrong
//   values until Decode() or Verify() checks the section.
// - Errors from the file's contents are kept (a retry would repeat them); I/O errors
//   are not: the next call tries again.
//
// Errors: every failure is a Status whose detail() is a weightless::FileError and whose
// message names the tensor, field and byte offset. No input makes the reader crash,
// hang, read outside the file or allocate beyond the limits of weightless/format.h.
//
// Thread safety: a Reader is safe for concurrent use from any number of threads
// (decoding, verifying, reading metadata) once open.

#ifndef WEIGHTLESS_READER_H_
#define WEIGHTLESS_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "weightless/export.h"
#include "weightless/status.h"
#include "weightless/tensor.h"

namespace weightless {

struct ReaderOptions {
  // Map the file read-only. When false, or when mmap fails, the reader uses pread and
  // keeps each tensor's payload in memory after its first use.
  bool use_mmap = true;
  // Verify a payload's checksum the first time it is used. Verify() always checks.
  bool verify_checksums = true;
  // The most bytes one zstd section may decompress to.
  uint64_t max_decompressed_bytes = uint64_t{16} << 30;
  // DecodeRows and DecodeWeight read only the bytes the rows need, unverified by the
  // section checksum (see the policy above), instead of loading the section whole. For
  // apps that decode rows on demand from files larger than they want in memory.
  bool partial_reads = false;
};

// A Reader is a movable value (it holds only a pointer to its state):
//
//   Result<Reader> reader = Reader::Open("model.wl");
//   if (!reader.ok()) return reader.status();
//   Result<std::vector<float>> fc1 = reader->Decode("fc1");
//
// A moved-from Reader may only be destroyed or assigned to.
class WEIGHTLESS_EXPORT Reader {
 public:
  // Opens the file at `path`.
  static Result<Reader> Open(const std::string& path, const ReaderOptions& options = {});
  // Opens a file held in the caller's memory (e.g. an Android asset). The memory must
  // stay valid and unchanged while the reader is alive. No alignment is required.
  static Result<Reader> OpenBuffer(const uint8_t* data, size_t size,
                                   const ReaderOptions& options = {});
  ~Reader();
  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  uint16_t format_major() const;
  uint16_t format_minor() const;
  uint64_t required_features() const;
  const std::string& producer_name() const;
  const std::string& producer_version() const;
  uint64_t file_size() const;
  // Where the index is stored and its stored size (compressed when the required
  // features include zstd-index).
  uint64_t index_offset() const;
  uint64_t index_size() const;
  // True when the file is memory-mapped (or a caller's buffer), false for pread.
  bool is_mapped() const;

  size_t tensor_count() const;
  // REQUIRES: i < tensor_count().
  const TensorInfo& tensor(size_t i) const;
  // The index of the tensor named `name`, or NotFound.
  Result<size_t> FindTensor(std::string_view name) const;

  const std::vector<MetadataEntry>& metadata() const;
  // The value of `key`, or null.
  const MetadataValue* FindMetadata(std::string_view key) const;

  // Decodes tensor i to float32, all element_count() values, into out[0..n).
  // Retrieval layers decode every index (kept weights exactly, pruned ones to 0 or a
  // false positive), as the paper's reader does.
  //
  // The library's rules for output buffers and threads, as in the C API: out_capacity
  // is what `out` holds; it must be at least the values decoded (else InvalidArgument,
  // nothing written), and exactly those are written. threads: 0 (the default
  // everywhere) = one per hardware thread, used only where there is work for them
  // (retrieval tables, split over shards); 1 = the calling thread only.
  Status Decode(size_t i, float* out, uint64_t out_capacity, int threads = 0) const;
  // The tensor named `name`, decoded whole as Decode does into a new vector; NotFound
  // when there is none.
  Result<std::vector<float>> Decode(std::string_view name, int threads = 0) const;
  // Decodes rows [row_begin, row_end) of tensor i (rows are shape[0]; a row is the
  // product of the other dimensions) into out[0..n), n = (row_end - row_begin) *
  // row_size() <= out_capacity. With ReaderOptions::partial_reads only the
  // bytes of the shards covering the rows are read, else the section is loaded whole
  // (the reader's loading and checksum policy above).
  Status DecodeRows(size_t i, uint64_t row_begin, uint64_t row_end, float* out,
                    uint64_t out_capacity, int threads = 0) const;
  // The codes of rows [row_begin, row_end) of a retrieval or packed-codes tensor i,
  // into out[0..n) as DecodeRows' floats: each in 0..K, what the table or packed codes
  // hold (anything above K read as 0), so code != 0 exactly where DecodeRows gives
  // centroids[code - 1], false positives included. What a trainer that keeps training
  // a stored layer's centroids needs. All rows load the section as Decode does; fewer
  // read as DecodeRows does. InvalidArgument for a dense tensor.
  Status DecodeCodeRows(size_t i, uint64_t row_begin, uint64_t row_end, uint16_t* out,
                        uint64_t out_capacity, int threads = 0) const;
  // Decodes the single weight at row-major index `flat_index` of tensor i, loading or
  // reading as DecodeRows does.
  Result<float> DecodeWeight(size_t i, uint64_t flat_index) const;

  // Drops what the reader keeps of tensor i (read or decompressed bytes, the validated
  // table); its next use loads it again. Decodes running on other threads keep their
  // copy until they finish. An index out of range is ignored.
  void Release(size_t i) const;
  void ReleaseAll() const;
  // The bytes the reader keeps for loaded tensors (0 for uncompressed mapped files).
  uint64_t cached_bytes() const;
  // The bytes read from the file with pread since opening (0 when mapped or a buffer):
  // what an application pays in I/O.
  uint64_t bytes_read() const;

  // Checks the whole file: every section's checksum, codec and contents (retrieval
  // tables opened and cross-checked, packed codes in range), and that every byte
  // between sections is zero padding. Returns one Status per problem found; empty when
  // the file is sound.
  std::vector<Status> Verify() const;

 private:
  struct Impl;
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weightless

#endif  // WEIGHTLESS_READER_H_
