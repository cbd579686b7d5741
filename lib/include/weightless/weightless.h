/* Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
 *
 * The C API of Weightless: read .wl files from C99, C++, and any language with a C
 * foreign-function interface (Android NDK, iOS, Rust, Go, Python ctypes, ...).
 *
 * It is a thin layer over the C++ reader (weightless/reader.h) and is part of both
 * libraries: weightless::weightless (everything) and weightless::reader (reading only,
 * for apps; see README.md, "C API").
 *
 * Conventions
 *
 *  1. Opaque handles. wl_reader and wl_verify_report are incomplete types; callers
 *     hold pointers to them and never see their layout.
 *  2. Every function that creates a handle has a matching free function, and every
 *     free function accepts NULL and does nothing with it:
 *       wl_reader_open / wl_reader_open_buffer  ->  wl_reader_close
 *       wl_reader_verify                        ->  wl_verify_report_free
 *  3. Bytes are passed as a pointer and a length (size_t), never as NUL-terminated
 *     strings; the one exception is a file system path. Strings the library returns
 *     are NUL-terminated and, where a length is useful, also come with it.
 *  4. Functions that can fail return a wl_status: WL_OK (0) on success, otherwise an
 *     error code. Results are written through out-parameters (named out_*), only on
 *     success; on failure out-parameters are left unchanged, except that functions
 *     creating a handle set *out_handle to NULL (and a decode that fails after it
 *     started may have written part of the caller's buffer). Accessors that cannot
 *     fail on a valid handle (counts, versions) return their value directly and
 *     return 0 for a NULL handle.
 *  5. Error codes are stable numbers: they are never renumbered or reused, and new
 *     codes are only appended. wl_status_name() names a code. Codes 1..8 are the
 *     C++ weightless::StatusCode values; WL_BUFFER_TOO_SMALL and WL_OUT_OF_MEMORY
 *     exist in the C API only and sit at 100 and above. A file error also carries a
 *     detail code (wl_file_error, the C++ weightless::FileError values, equally
 *     stable) that says precisely what is wrong with the file; wl_file_error_name()
 *     names it.
 *  6. Every function that returns a wl_status also records, for the calling thread
 *     only, the outcome of that call: wl_last_error_message() gives the detailed
 *     message (naming the tensor, field and byte offset), wl_last_error_file_error()
 *     the detail code. A successful call clears them (empty message, detail 0). This
 *     is thread-local, like errno, so it is safe with many threads.
 *  7. Thread safety. A wl_reader may be used from any number of threads at once
 *     (decoding, describing, verifying, reading metadata) once open; wl_reader_close
 *     must not run concurrently with any other use of the same reader. A
 *     wl_verify_report is immutable and may be read from many threads at once. The
 *     free functions that take no handle (names, versions) are safe anywhere.
 *  8. Lifetimes. Strings and arrays returned from a reader (tensor names, shapes,
 *     centroids, metadata keys and values) stay valid until wl_reader_close; those
 *     returned from a report until wl_verify_report_free. wl_status_name,
 *     wl_file_error_name and wl_version_string return static strings. The message of
 *     wl_last_error_message is valid until the calling thread's next call to a
 *     function that returns a wl_status. No returned pointer is ever NULL unless
 *     stated; the caller frees nothing but handles.
 *  9. No C++ exception crosses this API: memory exhaustion inside the library is
 *     reported as WL_OUT_OF_MEMORY, any other unexpected failure as WL_INTERNAL.
 * 10. Sizes of files, tensors and element counts are uint64_t (a tensor may exceed a
 *     32-bit size_t); sizes of the caller's memory are size_t.
 * 11. ABI stability. Structs the library fills (wl_tensor_info) start with a
 *     struct_size member that the caller sets to sizeof the struct it was compiled
 *     with; members are only ever appended, and the library writes no more than
 *     struct_size bytes, so programs built against an older header keep working.
 */

#ifndef WEIGHTLESS_WEIGHTLESS_H_
#define WEIGHTLESS_WEIGHTLESS_H_

#include <stddef.h>
#include <stdint.h>

/* WEIGHTLESS_VERSION_MAJOR, _MINOR, _PATCH, _NUMBER and _STRING: the version of this
 * header. Compare with wl_version_number() to detect a header/library mismatch. */
#include "weightless/version.h"

/* WL_API marks the C API's functions. Symbols are exported from a shared weightless
 * library (WEIGHTLESS_SHARED_LIBRARY) and from the shared reader-only library
 * (WEIGHTLESS_C_API_SHARED); both macros are set for users by the CMake targets. */
#if defined(WEIGHTLESS_SHARED_LIBRARY) || defined(WEIGHTLESS_C_API_SHARED)
#if defined(_WIN32)
#if defined(WEIGHTLESS_COMPILE_LIBRARY)
#define WL_API __declspec(dllexport)
#else
#define WL_API __declspec(dllimport)
#endif
#else
#define WL_API __attribute__((visibility("default")))
#endif
#else
#define WL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes ---------------------------------------------------------------- */

/* The outcome of a call. An int so that its size never depends on the compiler; the
 * values are the WL_* constants below. */
typedef int wl_status;

enum {
  WL_OK = 0,
  /* The caller passed a value outside what the function accepts (a NULL pointer, a
   * tensor index past the end, a value of the wrong metadata type). */
  WL_INVALID_ARGUMENT = 1,
  /* A named thing (tensor, metadata key, file) does not exist. */
  WL_NOT_FOUND = 2,
  /* The file's bytes are damaged or inconsistent; see wl_last_error_file_error(). */
  WL_CORRUPTION = 3,
  /* The file is valid but needs something this library does not implement (a newer
   * major version, an unknown required feature). */
  WL_NOT_SUPPORTED = 4,
  /* The operating system failed an open, stat, read or mmap. */
  WL_IO_ERROR = 5,
  /* An index or range lies outside the tensor, or a size beyond a format limit. */
  WL_OUT_OF_RANGE = 6,
  /* A construction did not succeed within its retry budget (not returned by reads). */
  WL_BUILD_FAILED = 7,
  /* A broken invariant inside the library: always a bug, please report it. */
  WL_INTERNAL = 8,
  /* The caller's output buffer holds fewer elements than the call must write. Nothing
   * was written; the message states the size needed. */
  WL_BUFFER_TOO_SMALL = 100,
  /* The library could not allocate memory. */
  WL_OUT_OF_MEMORY = 101
};

/* Returns the name of a status code, e.g. "Corruption" for WL_CORRUPTION, or
 * "Unknown" for a value that is not a code. Never NULL; a static string. */
WL_API const char* wl_status_name(wl_status status);

/* What precisely is wrong with a file: the detail of an error returned while opening,
 * decoding or verifying. The values are persistent (the C++ weightless::FileError of
 * weightless/format.h; spec/FORMAT.md defines each). */
typedef int wl_file_error;

enum {
  WL_FILE_OK = 0,                     /* no detail */
  WL_FILE_TOO_SMALL = 1,              /* shorter than a header and a trailer */
  WL_FILE_BAD_MAGIC = 2,              /* header magic */
  WL_FILE_BAD_TRAILER_MAGIC = 3,      /* trailer magic (incomplete or not a .wl file) */
  WL_FILE_UNSUPPORTED_MAJOR = 4,      /* a major version this library does not read */
  WL_FILE_RESERVED_NONZERO = 5,       /* a reserved field is not zero */
  WL_FILE_TRAILER_CHECKSUM = 6,       /* trailer checksum mismatch */
  WL_FILE_INDEX_OUT_OF_BOUNDS = 7,    /* index offset or size outside the file */
  WL_FILE_INDEX_CHECKSUM = 8,         /* index checksum mismatch */
  WL_FILE_INDEX_INVALID = 9,          /* not a valid FlatBuffer index, or wrong version */
  WL_FILE_UNKNOWN_FEATURE = 10,       /* a required feature this library lacks */
  WL_FILE_FEATURE_MISMATCH = 11,      /* feature bits disagree with the contents */
  WL_FILE_LIMIT_EXCEEDED = 12,        /* a count, size or length beyond the limits */
  WL_FILE_SECTION_MISALIGNED = 13,    /* a section offset is not a multiple of 64 */
  WL_FILE_SECTION_OUT_OF_BOUNDS = 14, /* a section extends outside the payload area */
  WL_FILE_SECTION_OVERLAP = 15,       /* sections overlap or are out of order */
  WL_FILE_UNEXPLAINED_BYTES = 16,     /* padding of 64+ bytes or not zero, or stray bits */
  WL_FILE_SECTION_SIZE_MISMATCH = 17, /* a section's size disagrees with its tensor */
  WL_FILE_SECTION_CHECKSUM = 18,      /* a section's checksum mismatch */
  WL_FILE_BAD_ENUM = 19,              /* an enum value without meaning */
  WL_FILE_BAD_NAME = 20,              /* empty, too long, non-UTF-8 or NUL in a name */
  WL_FILE_DUPLICATE_NAME = 21,        /* two tensors or metadata keys share a name */
  WL_FILE_BAD_SHAPE = 22,             /* rank or shape product out of range */
  WL_FILE_BAD_ENCODING = 23,          /* t, K, centroids or table parameters */
  WL_FILE_CODEC_ERROR = 24,           /* zstd refused the data or gave a wrong size */
  WL_FILE_BAD_SECTION_REFERENCE = 25, /* a tensor refers to a missing section */
  WL_FILE_IO_ERROR = 26,              /* the operating system failed a read */
  WL_FILE_BAD_METADATA = 27           /* a metadata entry whose type and value disagree */
};

/* Returns the name of a file error, e.g. "section_overlap", "none" for 0, or
 * "unknown" for a value that is not a code. Never NULL; a static string. */
WL_API const char* wl_file_error_name(wl_file_error error);

/* The detailed message of the calling thread's most recent call that returned a
 * wl_status: empty ("") after a success, otherwise what broke and where, e.g.
 * "tensor 'fc1': section at offset 64 (1088 bytes): checksum mismatch".
 * Never NULL. Valid until this thread's next call that returns a wl_status. */
WL_API const char* wl_last_error_message(void);

/* The wl_file_error detail of that same call; WL_FILE_OK when it succeeded or when the
 * error was not about the file's contents (e.g. a bad argument). */
WL_API wl_file_error wl_last_error_file_error(void);

/* ---- Version --------------------------------------------------------------------- */

/* The library's version as WEIGHTLESS_VERSION_NUMBER (MAJOR * 10000 + MINOR * 100 +
 * PATCH) and as "MAJOR.MINOR.PATCH" (a static string), of the library actually linked,
 * which may differ from this header's macros. */
WL_API int wl_version_number(void);
WL_API const char* wl_version_string(void);

/* ---- Opening and closing --------------------------------------------------------- */

typedef struct wl_reader wl_reader;

/* Opens the .wl file at the NUL-terminated `path`, memory-mapping it (falling back to
 * reads when mapping fails). Only the header, trailer and index are read and checked,
 * so opening costs the same for any file size; a tensor's payload is read and checked
 * on its first decode.
 * On success stores a new reader in *out_reader; close it with wl_reader_close.
 * Errors: WL_INVALID_ARGUMENT (NULL argument), WL_IO_ERROR (cannot open or read),
 * WL_CORRUPTION / WL_NOT_SUPPORTED / WL_OUT_OF_RANGE with a wl_file_error detail (the
 * file is not a valid .wl file this library reads), WL_OUT_OF_MEMORY. On failure
 * *out_reader is set to NULL (when out_reader is not NULL). */
WL_API wl_status wl_reader_open(const char* path, wl_reader** out_reader);

/* As wl_reader_open, for a file held in the caller's memory: `size` bytes at `data`
 * (e.g. an Android asset or a file embedded in the program). No alignment is needed.
 * REQUIRES: the buffer stays valid and unchanged until wl_reader_close(*out_reader);
 * the reader does not copy or own it. */
WL_API wl_status wl_reader_open_buffer(const void* data, size_t size, wl_reader** out_reader);

/* How a reader reads (weightless/reader.h, ReaderOptions). Members are only ever
 * appended (convention 11): set struct_size to sizeof(wl_reader_options); members past
 * an older caller's struct_size take their defaults. wl_reader_options_init sets the
 * defaults. */
typedef struct wl_reader_options {
  size_t struct_size;
  /* Non-zero (default): map the file read-only; 0: read it with pread. */
  int use_mmap;
  /* Non-zero (default): verify a section's checksum when it is first loaded whole. */
  int verify_checksums;
  /* 0 (default): the first decode of a tensor, of any range, loads its section whole
   * (and keeps it: wl_reader_release). Non-zero: wl_reader_decode_rows and
   * wl_reader_decode_weight on an uncompressed section read (or, mapped, touch) only the
   * bytes of the shards covering the rows and keep nothing; such partial reads are
   * structure-checked but not checksum-verified (the checksum covers the whole
   * section), while wl_reader_decode and wl_reader_verify still verify. For apps that
   * decode rows on demand. */
  int partial_reads;
  /* The most bytes one zstd section may decompress to; 0: the default (16 GiB). */
  uint64_t max_decompressed_bytes;
} wl_reader_options;

/* Sets *options to the defaults, struct_size included. NULL does nothing. */
WL_API void wl_reader_options_init(wl_reader_options* options);

/* As wl_reader_open and wl_reader_open_buffer, with options (NULL: the defaults).
 * Errors: as those, and WL_INVALID_ARGUMENT when options->struct_size is smaller than
 * the struct_size member itself. */
WL_API wl_status wl_reader_open_with_options(const char* path, const wl_reader_options* options,
                                             wl_reader** out_reader);
WL_API wl_status wl_reader_open_buffer_with_options(const void* data, size_t size,
                                                    const wl_reader_options* options,
                                                    wl_reader** out_reader);

/* Closes a reader and releases everything it owns; every pointer obtained from it
 * becomes invalid. NULL is allowed and does nothing. */
WL_API void wl_reader_close(wl_reader* reader);

/* Drops what the reader keeps of tensor `index` (its bytes read with pread or
 * decompressed); its next decode loads it again. An index out of range or a NULL
 * reader does nothing. Safe while other threads decode (they keep their copy). */
WL_API void wl_reader_release(const wl_reader* reader, size_t index);
/* The bytes the reader keeps for decoded tensors (0 for an uncompressed mapped file),
 * and the bytes it has read with pread since opening (0 when mapped). 0 for NULL. */
WL_API uint64_t wl_reader_cached_bytes(const wl_reader* reader);
WL_API uint64_t wl_reader_bytes_read(const wl_reader* reader);

/* ---- The file -------------------------------------------------------------------- */

/* The file's format version (spec/FORMAT.md; not the library's version). */
WL_API uint32_t wl_reader_format_major(const wl_reader* reader);
WL_API uint32_t wl_reader_format_minor(const wl_reader* reader);

/* The number of tensors stored; tensor indices run from 0 to this - 1. */
WL_API size_t wl_reader_tensor_count(const wl_reader* reader);

/* Finds the tensor whose name is the `name_length` bytes at `name`, and stores its
 * index in *out_index. Errors: WL_NOT_FOUND (no such tensor), WL_INVALID_ARGUMENT. */
WL_API wl_status wl_reader_find_tensor(const wl_reader* reader, const char* name,
                                       size_t name_length, size_t* out_index);

/* ---- Describing a tensor --------------------------------------------------------- */

/* How a tensor is stored. Values are part of the persistent format. */
enum {
  WL_STORAGE_DENSE = 1,       /* every element, in `dtype` */
  WL_STORAGE_RETRIEVAL = 2,   /* cluster codes in a retrieval table (lossy: pruned
                               * weights may decode to a false positive) */
  WL_STORAGE_PACKED_CODES = 3 /* every weight's cluster code, bit-packed (exact) */
};

/* The element type of a dense tensor (others decode to float32). Persistent values. */
enum { WL_DTYPE_FLOAT32 = 1, WL_DTYPE_FLOAT16 = 2, WL_DTYPE_BFLOAT16 = 3, WL_DTYPE_INT8 = 4 };

/* The encoding of a retrieval table; WL_RETRIEVAL_NONE for other storage. */
enum { WL_RETRIEVAL_NONE = 0, WL_RETRIEVAL_BLOOMIER = 1, WL_RETRIEVAL_RIBBON = 2 };

/* How a retrieval table hashes its keys (spec/RETRIEVAL.md, "Hashing"). Persistent values. */
enum { WL_HASH_XXH3 = 0, WL_HASH_MIX32 = 1 };

/* How the payload is compressed on disk. */
enum { WL_CODEC_NONE = 0, WL_CODEC_ZSTD = 1 };

/* Everything the file says about one tensor. Pointers point into the reader and stay
 * valid until wl_reader_close. Members are only ever appended (convention 11). */
typedef struct wl_tensor_info {
  /* Set by the caller to sizeof(wl_tensor_info) before the call. */
  size_t struct_size;

  const char* name; /* NUL-terminated UTF-8 */
  size_t name_length;
  uint32_t rank;          /* 0..8 */
  const uint64_t* shape;  /* rank dimensions, row-major (NULL when rank is 0) */
  uint64_t element_count; /* product of the shape (1 for rank 0) */
  uint64_t rows;          /* shape[0] (1 for rank 0) */
  uint64_t row_size;      /* product of the other dimensions */

  int storage;      /* WL_STORAGE_* */
  int dtype;        /* WL_DTYPE_*: the stored type of a dense tensor, else float32 */
  float int8_scale; /* dense int8: value = int8_scale * q; else 1 */

  /* Weight sharing (retrieval and packed codes): code c in 1..K decodes to
   * centroids[c - 1], code 0 to 0. K = 0 and centroids NULL for dense tensors. */
  uint32_t centroid_count; /* K */
  const float* centroids;
  int code_bits; /* t, the bits per code; 0 for dense tensors */

  /* Retrieval tables only (0 otherwise). */
  int retrieval_kind; /* WL_RETRIEVAL_* */
  uint64_t retrieval_seed;
  uint64_t shard_span;
  uint64_t shard_count;
  uint64_t cells;

  /* What encoding cost, as measured by the file's producer (0 when not recorded). */
  uint64_t kept;            /* weights stored exactly */
  uint64_t false_positives; /* pruned weights that decode to non-zero */
  double added_squared_error;

  /* The retraining schedule: encoded in encode_order (0 first; -1 when not part of a
   * retraining run), then the later layers retrained epochs_after epochs. Accuracies
   * are fractions in [0, 1], NaN when unknown. */
  int32_t encode_order;
  int32_t epochs_after;
  float accuracy_before_encoding;
  float accuracy_after_encoding;
  float accuracy_after_retraining;

  /* The payload section. */
  uint64_t section_offset;
  uint64_t stored_bytes;
  uint64_t raw_bytes;
  int codec; /* WL_CODEC_* */

  /* Retrieval tables only (WL_HASH_XXH3 otherwise): the key hashing, WL_HASH_*. */
  int retrieval_hash;
} wl_tensor_info;

/* Describes tensor `index` into *out_info.
 * REQUIRES: out_info->struct_size is set (to sizeof(wl_tensor_info) of the caller's
 * header); the library fills min(struct_size, its own sizeof) bytes and leaves
 * struct_size as it was.
 * Errors: WL_OUT_OF_RANGE (index >= tensor count), WL_INVALID_ARGUMENT (NULL, or
 * struct_size smaller than the struct_size member itself). */
WL_API wl_status wl_reader_describe_tensor(const wl_reader* reader, size_t index,
                                           wl_tensor_info* out_info);

/* ---- Decoding -------------------------------------------------------------------- */

/* The `threads` argument of the decode functions: 1 decodes on the calling thread;
 * n > 1 uses up to n threads (retrieval tables only); 0 one per hardware thread.
 *
 * Decoding a retrieval layer returns every weight: kept weights exactly, pruned ones
 * as 0 or, with probability K / 2^t, a false positive, as the paper's reader does.
 * The first decode of a tensor reads its payload, verifies its checksum and validates
 * it; later decodes reuse it. */

/* Decodes all element_count values of tensor `index` to float32 in row-major order,
 * into out[0 .. element_count).
 * Errors: WL_BUFFER_TOO_SMALL (capacity < element_count; nothing written),
 * WL_OUT_OF_RANGE (no such tensor), WL_INVALID_ARGUMENT (NULL out with a non-zero
 * count, threads < 0), WL_CORRUPTION etc. with a file error detail when the tensor's
 * payload is damaged, WL_IO_ERROR, WL_OUT_OF_MEMORY. */
WL_API wl_status wl_reader_decode(const wl_reader* reader, size_t index, float* out,
                                  size_t out_capacity, int threads);

/* Decodes rows [row_begin, row_end) of tensor `index` (rows are shape[0]; a row holds
 * row_size values) into out[0 .. (row_end - row_begin) * row_size). Only the part of
 * the payload covering those rows is decoded.
 * Errors: WL_OUT_OF_RANGE (row_begin > row_end, row_end > rows, or no such tensor),
 * WL_BUFFER_TOO_SMALL, and the errors of wl_reader_decode. */
WL_API wl_status wl_reader_decode_rows(const wl_reader* reader, size_t index, uint64_t row_begin,
                                       uint64_t row_end, float* out, size_t out_capacity,
                                       int threads);

/* Decodes the single weight at row-major index `flat_index` of tensor `index` into
 * *out_value. Errors: WL_OUT_OF_RANGE (flat_index >= element_count, or no such
 * tensor), and the errors of wl_reader_decode. */
WL_API wl_status wl_reader_decode_weight(const wl_reader* reader, size_t index, uint64_t flat_index,
                                         float* out_value);

/* ---- Verifying ------------------------------------------------------------------- */

typedef struct wl_verify_report wl_verify_report;

/* Checks the whole file: every section's checksum, codec and contents, and that every
 * byte between sections is zero padding. Returns WL_OK when the check ran, whatever it
 * found, and stores a report in *out_report (free it with wl_verify_report_free);
 * the file is sound when the report holds no problems.
 * Errors: WL_INVALID_ARGUMENT, WL_OUT_OF_MEMORY (then *out_report is NULL). */
WL_API wl_status wl_reader_verify(const wl_reader* reader, wl_verify_report** out_report);

/* The number of problems found; 0 when the file is sound (and for NULL). */
WL_API size_t wl_verify_report_count(const wl_verify_report* report);

/* Problem `i` (0-based): its status code (WL_CORRUPTION, ...), its wl_file_error
 * detail and its message (NUL-terminated; valid until wl_verify_report_free). Any of
 * out_status, out_file_error, out_message may be NULL when not wanted.
 * Errors: WL_OUT_OF_RANGE (i >= count), WL_INVALID_ARGUMENT (NULL report). */
WL_API wl_status wl_verify_report_problem(const wl_verify_report* report, size_t i,
                                          wl_status* out_status, wl_file_error* out_file_error,
                                          const char** out_message);

/* Frees a report. NULL is allowed and does nothing. */
WL_API void wl_verify_report_free(wl_verify_report* report);

/* ---- Model metadata -------------------------------------------------------------- */

/* The type of a metadata value. */
enum { WL_METADATA_STRING = 1, WL_METADATA_INT = 2, WL_METADATA_DOUBLE = 3, WL_METADATA_BOOL = 4 };

/* The number of metadata entries; entries are numbered 0 to this - 1, in file order. */
WL_API size_t wl_reader_metadata_count(const wl_reader* reader);

/* Finds the entry whose key is the `key_length` bytes at `key` and stores its number
 * in *out_entry. Errors: WL_NOT_FOUND, WL_INVALID_ARGUMENT. */
WL_API wl_status wl_reader_find_metadata(const wl_reader* reader, const char* key,
                                         size_t key_length, size_t* out_entry);

/* Entry `entry`'s key (NUL-terminated UTF-8; *out_key_length may be NULL when not
 * wanted) and value type (WL_METADATA_*; out_type may be NULL).
 * Errors: WL_OUT_OF_RANGE (no such entry), WL_INVALID_ARGUMENT. */
WL_API wl_status wl_reader_metadata_key(const wl_reader* reader, size_t entry, const char** out_key,
                                        size_t* out_key_length, int* out_type);

/* Entry `entry`'s value, when its type allows:
 *  - _string: a string value (NUL-terminated UTF-8; out_length may be NULL);
 *  - _int: an int value, or a bool as 0 or 1;
 *  - _double: a double or int value (an int converted to the nearest double).
 * Errors: WL_INVALID_ARGUMENT (the value has another type, or NULL arguments),
 * WL_OUT_OF_RANGE (no such entry). */
WL_API wl_status wl_reader_metadata_string(const wl_reader* reader, size_t entry,
                                           const char** out_value, size_t* out_length);
WL_API wl_status wl_reader_metadata_int(const wl_reader* reader, size_t entry, int64_t* out_value);
WL_API wl_status wl_reader_metadata_double(const wl_reader* reader, size_t entry,
                                           double* out_value);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* WEIGHTLESS_WEIGHTLESS_H_ */
