// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Fuzz target: any bytes, opened as a .wl file, never make the reader crash, hang,
// read outside the input or allocate beyond the limits of spec/FORMAT.md; and the
// reader's answers agree with each other.
//
// Each input is read up to three times:
//   1. as it is, from memory (Reader::OpenBuffer), checksums verified on first use;
//   2. "resealed": the index checksum and the trailer checksum recomputed (XXH3-64, as
//      the spec defines them) and payload checksums not verified on decode, so that
//      mutations of the index and of the payloads reach the parsers behind the
//      checksums instead of stopping at them;
//   3. when a variant opens, again through a file with pread (Reader::Open,
//      use_mmap = false, on a memfd), which must give exactly the same results;
//   4. with ReaderOptions::partial_reads, from memory and with pread: row ranges and
//      single weights first (so that they take the partial path, over sections not
//      loaded), which must agree bit for bit with a whole decode wherever both succeed.
// For every tensor: Decode (1 and 2 threads), DecodeRows of a range, DecodeWeight at
// a few indices (and out of range), then Verify(). Checked: a successful Decode agrees
// with DecodeRows and DecodeWeight bit for bit, wrong arguments are refused, and a file
// that Verify() finds sound decodes without error.
//
// Bounds the harness sets, and why (they are what a careful caller sets, not limits
// on what the reader may be given):
//   - ReaderOptions::max_decompressed_bytes = 4 MiB. The spec lets a zstd section of s
//     bytes expand to 32768 s + 1 MiB (up to a configured maximum, 16 GiB by default),
//     and the reader keeps a decoded payload for later calls, so a 16 KiB input may
//     legitimately need gigabytes; the option exists to cap that.
//   - Whole-tensor decodes only for tensors of at most 2^20 elements, and at most 2^22
//     elements decoded per reader: a retrieval layer of 2^48 weights is a valid
//     200-byte file, and decoding it (into the caller's buffer) would take days, not
//     memory the reader allocates.
//   - Verify() only while the zstd payloads loaded stay within 16 MiB in total.
// What remains allocated by the reader itself is bounded by the spec: the index (at
// most 64 MiB decompressed, the largest single allocation) and the payloads above,
// which is what -malloc_limit_mb=128 in tests/fuzz/README.md enforces.

#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "weightless/reader.h"

namespace weightless {
namespace fuzz {
namespace {

constexpr uint64_t kMaxDecompressedBytes = uint64_t{4} << 20;
constexpr uint64_t kMaxDecodeElements = uint64_t{1} << 20;
constexpr uint64_t kDecodeBudget = uint64_t{1} << 22;
constexpr uint64_t kZstdVerifyBudget = uint64_t{16} << 20;
constexpr uint64_t kRowsElements = 4096;
constexpr size_t kHeaderSize = 64;
constexpr size_t kTrailerSize = 48;

// What one reader said about a file, compared between the memory and pread readers.
struct Transcript {
  std::vector<int> results;  // FileError details (0 for success) in call order
  std::vector<uint64_t> hashes;

  void Add(const Status& s) {
    results.push_back(s.ok() ? 0 : s.detail() + 1000 * static_cast<int>(s.code()));
  }
  void Hash(const float* v, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(v);
    for (uint64_t i = 0; i < n * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ull;
    hashes.push_back(h);
  }
  bool operator==(const Transcript& o) const { return results == o.results && hashes == o.hashes; }
};

void ExerciseTensor(const Reader& r, size_t i, uint64_t* budget, bool* decode_failed,
                    Transcript* tr) {
  const TensorInfo& t = r.tensor(i);
  const uint64_t n = t.element_count();
  float dummy = 0;

  // The whole tensor, and with two threads (retrieval layers split over shards).
  std::vector<float> whole;
  bool have_whole = false;
  if (n <= kMaxDecodeElements && n <= *budget) {
    *budget -= n;
    whole.resize(n);
    const Status s = r.Decode(i, n ? whole.data() : &dummy, n, 1);
    tr->Add(s);
    if (s.ok()) {
      have_whole = true;
      tr->Hash(whole.data(), n);
      if (t.storage == Storage::kRetrieval && t.shard_count > 1 && n <= *budget) {
        *budget -= n;
        std::vector<float> two(n);
        FUZZ_CHECK(r.Decode(i, two.data(), n, 2).ok());
        FUZZ_CHECK(SameBits(two.data(), whole.data(), n));
      }
    } else {
      *decode_failed = true;
    }
  }
  if (n > 0) FUZZ_CHECK(r.Decode(i, &dummy, n - 1).IsInvalidArgument());  // too small

  // A range of rows from the middle.
  const uint64_t rows = t.rows(), row = t.row_size();
  const uint64_t r0 = rows / 2;
  uint64_t r1 = r0;
  if (row == 0) {
    r1 = rows;
  } else if (row <= kRowsElements) {
    r1 = std::min(rows, r0 + std::max<uint64_t>(1, kRowsElements / row));
  }
  const uint64_t count = (r1 - r0) * row;
  std::vector<float> part(count);
  const Status rs = r.DecodeRows(i, r0, r1, count ? part.data() : &dummy, count);
  tr->Add(rs);
  if (rs.ok()) {
    tr->Hash(part.data(), count);
    if (have_whole) FUZZ_CHECK(SameBits(part.data(), whole.data() + r0 * row, count));
  } else {
    *decode_failed = true;
  }
  FUZZ_CHECK(r.DecodeRows(i, 0, rows + 1, &dummy, 0).IsOutOfRange());
  FUZZ_CHECK(r.DecodeRows(i, 1, 0, &dummy, 0).IsOutOfRange());

  // Single weights: first, middle, last, and one past the end.
  if (n > 0) {
    for (uint64_t k : {uint64_t{0}, n / 2, n - 1}) {
      const Result<float> w = r.DecodeWeight(i, k);
      tr->Add(w.status());
      if (w.ok()) {
        tr->Hash(&*w, 1);
        if (have_whole) FUZZ_CHECK(SameBits(&*w, &whole[k], 1));
      } else {
        *decode_failed = true;
      }
    }
  }
  FUZZ_CHECK(r.DecodeWeight(i, n).status().IsOutOfRange());
}

Transcript Exercise(const Reader& r) {
  Transcript tr;
  FUZZ_CHECK(r.file_size() >= kHeaderSize + kTrailerSize);
  FUZZ_CHECK(r.index_offset() + r.index_size() + kTrailerSize == r.file_size());
  uint64_t budget = kDecodeBudget;
  uint64_t zstd_bytes = 0;
  bool decode_failed = false;
  for (size_t i = 0; i < r.tensor_count(); ++i) {
    const TensorInfo& t = r.tensor(i);
    FUZZ_CHECK(r.FindTensor(t.name).ok());
    FUZZ_CHECK(t.section_offset + t.stored_bytes <= r.index_offset());
    if (t.codec == Codec::kZstd) {
      FUZZ_CHECK(t.raw_bytes <= kMaxDecompressedBytes);
      zstd_bytes += t.raw_bytes;
    }
    ExerciseTensor(r, i, &budget, &decode_failed, &tr);
  }
  FUZZ_CHECK(r.Decode(r.tensor_count(), nullptr, 0).IsOutOfRange());
  for (const MetadataEntry& e : r.metadata()) FUZZ_CHECK(r.FindMetadata(e.key) != nullptr);
  if (zstd_bytes <= kZstdVerifyBudget) {
    const std::vector<Status> problems = r.Verify();
    for (const Status& p : problems) {
      FUZZ_CHECK(!p.ok());
      tr.Add(p);
    }
    // A file Verify() finds sound decodes without error.
    if (problems.empty()) FUZZ_CHECK(!decode_failed);
  }
  return tr;
}

// What a reader opened on a file with pread says (a memfd, so nothing touches the
// disk). `opened` is false when the reader refused the file (then `refusal` says why).
struct FileOutcome {
  bool available = false;  // false if the memfd could not be made
  bool opened = false;
  Status refusal;
  Transcript transcript;
};

FileOutcome ExerciseThroughFile(const std::vector<uint8_t>& bytes, const ReaderOptions& base) {
  FileOutcome out;
  const int fd = ::memfd_create("fuzz_read", MFD_CLOEXEC);
  if (fd < 0) return out;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      return out;
    }
    done += static_cast<size_t>(n);
  }
  out.available = true;
  ReaderOptions options = base;
  options.use_mmap = false;
  Result<Reader> r = Reader::Open("/proc/self/fd/" + std::to_string(fd), options);
  if (r.ok()) {
    out.opened = true;
    FUZZ_CHECK(!r->is_mapped());
    out.transcript = Exercise(*r);
  } else {
    out.refusal = r.status();
  }
  ::close(fd);
  return out;
}

// Partial reads (item 4 above) of every tensor of `r`, checked against `whole`, a
// reader of the same bytes without partial reads. No whole decode goes through `r`, so
// every DecodeRows and DecodeWeight of an uncompressed section reads in part.
void ExercisePartial(const Reader& r, const Reader& whole) {
  uint64_t budget = kDecodeBudget;
  for (size_t i = 0; i < r.tensor_count(); ++i) {
    const TensorInfo& t = r.tensor(i);
    const uint64_t n = t.element_count(), rows = t.rows(), row = t.row_size();
    std::vector<float> all;
    bool have_all = false;
    if (n <= kMaxDecodeElements && n <= budget) {
      budget -= n;
      all.resize(n);
      float dummy = 0;
      have_all = whole.Decode(i, n ? all.data() : &dummy, n).ok();
    }
    if (row > 0 && row <= kRowsElements) {
      for (uint64_t r0 : {uint64_t{0}, rows / 3, rows - 1}) {
        const uint64_t r1 = std::min(rows, r0 + std::max<uint64_t>(1, kRowsElements / row / 2));
        std::vector<float> part((r1 - r0) * row);
        if (r.DecodeRows(i, r0, r1, part.data(), part.size()).ok() && have_all) {
          FUZZ_CHECK(SameBits(part.data(), all.data() + r0 * row, part.size()));
        }
      }
    }
    if (n > 0) {
      for (uint64_t k : {uint64_t{0}, n / 3, n - 1}) {
        const Result<float> w = r.DecodeWeight(i, k);
        if (w.ok() && have_all) FUZZ_CHECK(SameBits(&*w, &all[k], 1));
      }
    }
  }
  // Partial reads keep nothing: only zstd sections, read whole, are kept.
  uint64_t zstd_bytes = 0;
  for (size_t i = 0; i < r.tensor_count(); ++i) {
    if (r.tensor(i).codec == Codec::kZstd) zstd_bytes += r.tensor(i).raw_bytes;
  }
  FUZZ_CHECK(r.cached_bytes() <= zstd_bytes);
}

void ReadPartially(const std::vector<uint8_t>& bytes, ReaderOptions options) {
  Result<Reader> whole = Reader::OpenBuffer(bytes.data(), bytes.size(), options);
  if (!whole.ok()) return;
  options.partial_reads = true;
  Result<Reader> mapped = Reader::OpenBuffer(bytes.data(), bytes.size(), options);
  FUZZ_CHECK(mapped.ok());
  ExercisePartial(*mapped, *whole);
  const int fd = ::memfd_create("fuzz_read_partial", MFD_CLOEXEC);
  if (fd < 0) return;
  if (::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())) {
    options.use_mmap = false;
    Result<Reader> pread = Reader::Open("/proc/self/fd/" + std::to_string(fd), options);
    FUZZ_CHECK(pread.ok());
    ExercisePartial(*pread, *whole);
  }
  ::close(fd);
}

void ReadOnce(const std::vector<uint8_t>& bytes, bool verify_checksums) {
  ReaderOptions options;
  options.max_decompressed_bytes = kMaxDecompressedBytes;
  options.verify_checksums = verify_checksums;
  Transcript in_memory;
  Status refusal;
  {
    // OpenBuffer on the vector's own storage: ASan sees any read outside the input.
    Result<Reader> r = Reader::OpenBuffer(bytes.data(), bytes.size(), options);
    if (r.ok()) {
      in_memory = Exercise(*r);
    } else {
      refusal = r.status();
      FUZZ_CHECK(refusal.detail() != 0);  // every refusal names its FileError
    }
  }
  // The pread reader accepts and refuses exactly what the memory reader does, and
  // then says exactly the same about every tensor.
  ReadPartially(bytes, options);
  const FileOutcome file = ExerciseThroughFile(bytes, options);
  if (!file.available) return;
  FUZZ_CHECK(file.opened == refusal.ok());
  if (file.opened) {
    FUZZ_CHECK(file.transcript == in_memory);
  } else {
    FUZZ_CHECK(file.refusal.detail() == refusal.detail());
  }
}

// Recomputes the index and trailer checksums so that the rest of the file is parsed.
// Returns false when the trailer does not locate an index inside the file.
bool Reseal(std::vector<uint8_t>* file) {
  if (file->size() < kHeaderSize + kTrailerSize) return false;
  uint8_t* trailer = file->data() + file->size() - kTrailerSize;
  const uint64_t offset = LoadLE64(trailer), size = LoadLE64(trailer + 8);
  const uint64_t index_end = file->size() - kTrailerSize;
  if (offset > index_end || size != index_end - offset) return false;
  StoreLE64(trailer + 16, XXH3_64bits(file->data() + offset, size));
  StoreLE64(trailer + 32, XXH3_64bits(trailer, 32));
  return true;
}

}  // namespace
}  // namespace fuzz
}  // namespace weightless

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weightless::fuzz;
  // A copy of exactly `size` bytes, so that a read past the end is caught even when
  // the caller's buffer is larger.
  const std::vector<uint8_t> bytes(data, data + size);
  ReadOnce(bytes, /*verify_checksums=*/true);
  std::vector<uint8_t> resealed = bytes;
  if (Reseal(&resealed) && resealed != bytes) ReadOnce(resealed, /*verify_checksums=*/false);
  return 0;
}
