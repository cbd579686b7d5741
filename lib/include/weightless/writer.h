// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Writer: produces a .wl file (spec/FORMAT.md) tensor by tensor: dense tensors from
// float32 values (AddDense), and any section made beforehand (AddSection: an
// EncodedSection of weightless/section.h, e.g. the encoder's EncodedLayer::section). The
// writer never encodes; it stores.
//
// The writer streams: each Add* call writes its payload section at once, so memory
// stays bounded by one layer (plus a small index record per tensor); the index and
// trailer are written by Finish(). Writing to a path is atomic: the bytes go to an
// unnamed temporary file in the target's directory (or a hidden temporary name where
// the file system lacks O_TMPFILE), which Finish() syncs and renames onto the path. A
// writer destroyed without Finish(), a failed write, or a killed process never leaves a
// file at the target path, and a file already there stays untouched until Finish()
// succeeds.
//
// Errors: every call returns a Status; after a failure the writer is unusable and later
// calls return the first error. Names must be unique, 1..1024 bytes of UTF-8 without NUL.
//
// Thread safety: a Writer is not thread-safe; use it from one thread at a time.

#ifndef WEIGHTLESS_WRITER_H_
#define WEIGHTLESS_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "weightless/export.h"
#include "weightless/section.h"
#include "weightless/status.h"
#include "weightless/tensor.h"

namespace weightless {

// A destination for Writer::ToStream. Bytes arrive strictly in file order, never
// rewound, so a pipe or socket works.
class WEIGHTLESS_EXPORT OutputStream {
 public:
  virtual ~OutputStream();
  // Appends `size` bytes. Returns an IOError on failure.
  virtual Status Write(const uint8_t* data, size_t size) = 0;
  // Called once by Writer::Finish after the last byte.
  virtual Status Flush();
};

// An OutputStream writing to an open file descriptor (a pipe, a socket, stdout). The
// descriptor is not closed. Retries short writes and EINTR.
WEIGHTLESS_EXPORT std::unique_ptr<OutputStream> NewFdOutputStream(int fd);

// A file written atomically (Writer::Create writes through one; so does any output that
// must never be seen half written): bytes go to a temporary file in the target's
// directory (unnamed, O_TMPFILE, on Linux; else a hidden ".<name>.<pid>.<n>.tmp"), and
// only Commit() moves it onto `path`, replacing what was there (a symbolic link there is
// replaced, not followed). The file gets the permissions of the regular file it
// replaces, else those a plain create gives (0666 less the umask). Destroying or
// abandoning an uncommitted file leaves the target untouched and no temporary file
// behind (with O_TMPFILE, even when the process is killed). Not thread-safe.
class WEIGHTLESS_EXPORT AtomicFileOutput : public OutputStream {
 public:
  // sync: fsync the file before the rename and its directory after it. Errors:
  // InvalidArgument for an empty path or one naming a directory, IOError when the
  // temporary file cannot be created.
  static Result<std::unique_ptr<AtomicFileOutput>> Create(const std::string& path,
                                                          bool sync = true);
  ~AtomicFileOutput() override;  // abandons unless committed
  AtomicFileOutput(const AtomicFileOutput&) = delete;
  AtomicFileOutput& operator=(const AtomicFileOutput&) = delete;

  Status Write(const uint8_t* data, size_t size) override;
  Status Write(const void* data, size_t size) {
    return Write(static_cast<const uint8_t*>(data), size);
  }
  // Moves the file onto the target path. After it (or a failed Write), the file is
  // closed: further calls fail.
  Status Commit();
  // Discards what was written; the target is untouched. Idempotent.
  void Abandon();

 private:
  AtomicFileOutput() = default;
  std::string path_;
  std::string directory_;
  std::string temp_path_;  // empty for an unnamed O_TMPFILE file
  int fd_ = -1;
  bool sync_ = true;
};

struct WriterOptions {
  std::string producer_name = "weightless";
  std::string producer_version;  // empty: this library's version
  // fsync the file and its directory before and after the rename (path writers).
  // Turning it off trades durability on power loss for speed; atomicity is kept.
  bool sync = true;
  // zstd compression level for sections written with Codec::kZstd (1..19).
  int zstd_level = 3;
  // Store the index as a zstd frame when that is smaller (feature "zstd-index"). The
  // index of a small model is a large part of its file: this saves ~45% of it.
  bool compress_index = true;
};

// A Writer is a movable value (it holds only a pointer to its state):
//
//   Result<Writer> writer = Writer::Create("model.wl");
//   if (!writer.ok()) return writer.status();
//   Status s = writer->AddDense("fc1.bias", {300}, bias);
//   if (s.ok()) s = writer->Finish();
//
// A moved-from Writer may only be destroyed or assigned to; assigning to a Writer
// abandons its unfinished file first.
class WEIGHTLESS_EXPORT Writer {
 public:
  // Starts writing the file at `path`. Nothing appears at `path` before Finish().
  static Result<Writer> Create(const std::string& path, const WriterOptions& options = {});
  // Starts writing to `stream`, which must outlive the writer. The bytes are the same
  // as a path writer's.
  static Result<Writer> ToStream(OutputStream* stream, const WriterOptions& options = {});

  // Abandons an unfinished file (see Abandon).
  ~Writer();
  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // A dense tensor given as float32 values (element_count of `shape` of them), stored
  // as `stored`: float32 exactly; float16 and bfloat16 rounded to nearest even; int8 as
  // round(value / int8_scale) clamped to -127..127 (REQUIRES int8_scale > 0, finite).
  // Rank 0..8; a rank-0 tensor holds one value.
  Status AddDense(std::string_view name, const std::vector<uint64_t>& shape, const float* values,
                  DType stored = DType::kFloat32, Codec codec = Codec::kNone,
                  float int8_scale = 1.0f);

  // A section made by EncodedSection::Dense / PackedCodes / Retrieval or by the encoder
  // (EncodedLayer::section, weightless/encoder.h), stored as it describes itself, with
  // `retrain` (for retrieval and packed-codes layers) and compressed by `codec`.
  Status AddSection(std::string_view name, const EncodedSection& section,
                    const RetrainInfo& retrain = {}, Codec codec = Codec::kNone);

  // Sets a model metadata entry, replacing an earlier value of the same key.
  Status SetMetadata(std::string_view key, MetadataValue value);

  // Writes the index and trailer and, for a path, syncs and renames the file into
  // place. The writer is unusable afterwards.
  Status Finish();

  // Stops writing: no file appears at the path. Safe to call more than once.
  void Abandon();

  // Bytes written so far.
  uint64_t bytes_written() const;

 private:
  struct Impl;
  explicit Writer(std::unique_ptr<Impl> impl);
  // Writes the file header; shared by Create and ToStream.
  static Result<Writer> Start(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weightless

#endif  // WEIGHTLESS_WRITER_H_
