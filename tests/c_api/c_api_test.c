/* Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
 *
 * Tests of the C API (weightless/weightless.h), written in C99 as its users would.
 * Usage: c_api_test <tests/golden/sample.wl> <tests/golden-errors directory>
 *
 * The same program is linked against the full library and against the reader-only
 * libraries, proving that each is enough for a C program. */

#define _POSIX_C_SOURCE 200809L

#include "weightless/weightless.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- A tiny harness -------------------------------------------------------------- */

static int g_checks = 0;
static int g_failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    ++g_checks;                                                                \
    if (!(cond)) {                                                             \
      ++g_failures;                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

/* Checks that `expr` returns `expected`, printing the message of a surprise. */
#define CHECK_STATUS(expr, expected)                                                              \
  do {                                                                                            \
    const wl_status got_ = (expr);                                                                \
    ++g_checks;                                                                                   \
    if (got_ != (expected)) {                                                                     \
      ++g_failures;                                                                               \
      fprintf(stderr, "%s:%d: %s returned %s (%d), expected %s: %s\n", __FILE__, __LINE__, #expr, \
              wl_status_name(got_), got_, wl_status_name(expected), wl_last_error_message());     \
    }                                                                                             \
  } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, WL_OK)

static int Contains(const char* haystack, const char* needle) {
  return haystack != NULL && strstr(haystack, needle) != NULL;
}

static const char* g_sample_path;
static const char* g_errors_dir;

/* Reads a whole file into malloc'd memory; NULL on failure. */
static unsigned char* ReadFile(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* data = NULL;
  long n;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = (unsigned char*)malloc((size_t)n + 1);
    if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
    *size = (size_t)n;
  }
  fclose(f);
  return data;
}

static wl_reader* OpenSample(void) {
  wl_reader* reader = NULL;
  CHECK_OK(wl_reader_open(g_sample_path, &reader));
  if (reader == NULL) {
    fprintf(stderr, "cannot open %s; stopping\n", g_sample_path);
    exit(1);
  }
  return reader;
}

static wl_tensor_info Describe(const wl_reader* reader, size_t index) {
  wl_tensor_info info;
  memset(&info, 0, sizeof(info));
  info.struct_size = sizeof(info);
  CHECK_OK(wl_reader_describe_tensor(reader, index, &info));
  return info;
}

/* Decodes a whole tensor into new memory (at least one float, so never NULL). */
static float* DecodeAll(const wl_reader* reader, size_t index, uint64_t count, int threads) {
  float* out = (float*)calloc((size_t)count + 1, sizeof(float));
  CHECK(out != NULL);
  CHECK_OK(wl_reader_decode(reader, index, out, (size_t)count, threads));
  return out;
}

/* ---- Tests ----------------------------------------------------------------------- */

static void TestVersion(void) {
  CHECK(wl_version_number() == WEIGHTLESS_VERSION_NUMBER);
  CHECK(strcmp(wl_version_string(), WEIGHTLESS_VERSION_STRING) == 0);
  CHECK(WEIGHTLESS_VERSION_NUMBER == WEIGHTLESS_VERSION_MAJOR * 10000 +
                                         WEIGHTLESS_VERSION_MINOR * 100 + WEIGHTLESS_VERSION_PATCH);
}

static void TestStatusCodesAreStableAndNamed(void) {
  /* The numbers are part of the ABI: a change here breaks every compiled user. */
  CHECK(WL_OK == 0);
  CHECK(WL_INVALID_ARGUMENT == 1);
  CHECK(WL_NOT_FOUND == 2);
  CHECK(WL_CORRUPTION == 3);
  CHECK(WL_NOT_SUPPORTED == 4);
  CHECK(WL_IO_ERROR == 5);
  CHECK(WL_OUT_OF_RANGE == 6);
  CHECK(WL_BUILD_FAILED == 7);
  CHECK(WL_INTERNAL == 8);
  CHECK(WL_BUFFER_TOO_SMALL == 100);
  CHECK(WL_OUT_OF_MEMORY == 101);
  CHECK(WL_FILE_BAD_MAGIC == 2);
  CHECK(WL_FILE_SECTION_CHECKSUM == 18);
  CHECK(WL_FILE_BAD_METADATA == 27);

  CHECK(strcmp(wl_status_name(WL_OK), "OK") == 0);
  CHECK(strcmp(wl_status_name(WL_CORRUPTION), "Corruption") == 0);
  CHECK(strcmp(wl_status_name(WL_NOT_FOUND), "Not found") == 0);
  CHECK(strcmp(wl_status_name(WL_INTERNAL), "Internal error") == 0);
  CHECK(strcmp(wl_status_name(WL_BUFFER_TOO_SMALL), "Buffer too small") == 0);
  CHECK(strcmp(wl_status_name(WL_OUT_OF_MEMORY), "Out of memory") == 0);
  CHECK(strcmp(wl_status_name(9), "Unknown") == 0);
  CHECK(strcmp(wl_status_name(-1), "Unknown") == 0);

  CHECK(strcmp(wl_file_error_name(WL_FILE_OK), "none") == 0);
  CHECK(strcmp(wl_file_error_name(WL_FILE_SECTION_OVERLAP), "section_overlap") == 0);
  CHECK(strcmp(wl_file_error_name(WL_FILE_BAD_METADATA), "bad_metadata") == 0);
  CHECK(strcmp(wl_file_error_name(28), "unknown") == 0);
  CHECK(strcmp(wl_file_error_name(-5), "unknown") == 0);
}

static void TestNullHandlesAndArguments(void) {
  wl_reader* reader = (wl_reader*)&g_checks; /* any non-NULL value: must be overwritten */
  wl_verify_report* report = (wl_verify_report*)&g_checks; /* likewise */
  float value = 0;
  size_t index = 0;

  wl_reader_close(NULL);
  wl_verify_report_free(NULL);
  CHECK(wl_reader_tensor_count(NULL) == 0);
  CHECK(wl_reader_metadata_count(NULL) == 0);
  CHECK(wl_reader_format_major(NULL) == 0);
  CHECK(wl_verify_report_count(NULL) == 0);

  CHECK_STATUS(wl_reader_open(NULL, &reader), WL_INVALID_ARGUMENT);
  CHECK(reader == NULL);
  CHECK(Contains(wl_last_error_message(), "path"));
  CHECK(wl_last_error_file_error() == WL_FILE_OK);
  CHECK_STATUS(wl_reader_open(g_sample_path, NULL), WL_INVALID_ARGUMENT);
  reader = (wl_reader*)&g_checks;
  CHECK_STATUS(wl_reader_open_buffer(NULL, 10, &reader), WL_INVALID_ARGUMENT);
  CHECK(reader == NULL);
  CHECK_STATUS(wl_reader_decode(NULL, 0, &value, 1, 1), WL_INVALID_ARGUMENT);
  CHECK(Contains(wl_last_error_message(), "reader"));
  CHECK_STATUS(wl_reader_decode_weight(NULL, 0, 0, &value), WL_INVALID_ARGUMENT);
  CHECK_STATUS(wl_reader_find_tensor(NULL, "fc1", 3, &index), WL_INVALID_ARGUMENT);
  CHECK_STATUS(wl_reader_verify(NULL, &report), WL_INVALID_ARGUMENT);
  CHECK(report == NULL);
  CHECK_STATUS(wl_verify_report_problem(NULL, 0, NULL, NULL, NULL), WL_INVALID_ARGUMENT);

  /* A success clears the thread's last error. */
  reader = OpenSample();
  CHECK(strcmp(wl_last_error_message(), "") == 0);
  CHECK_STATUS(wl_reader_find_tensor(reader, "fc1", 3, NULL), WL_INVALID_ARGUMENT);
  CHECK_STATUS(wl_reader_decode_weight(reader, 0, 0, NULL), WL_INVALID_ARGUMENT);
  CHECK_STATUS(wl_reader_describe_tensor(reader, 0, NULL), WL_INVALID_ARGUMENT);
  CHECK_STATUS(wl_reader_verify(reader, NULL), WL_INVALID_ARGUMENT);
  wl_reader_close(reader);
}

static void TestOpenCountFindDescribe(void) {
  wl_reader* reader = OpenSample();
  size_t fc1 = 99, scalar = 99, empty = 99, dense = 99;
  wl_tensor_info info;

  CHECK(wl_reader_format_major(reader) == 1);
  CHECK(wl_reader_format_minor(reader) == 1);
  CHECK(wl_reader_tensor_count(reader) == 10);

  CHECK_OK(wl_reader_find_tensor(reader, "fc1", 3, &fc1));
  CHECK(strcmp(wl_last_error_message(), "") == 0);
  /* Names are pointer + length: the bytes after the length are not part of it. */
  {
    size_t prefix = 99;
    CHECK_OK(wl_reader_find_tensor(reader, "fc1 and more", 3, &prefix));
    CHECK(prefix == fc1);
  }
  CHECK_OK(wl_reader_find_tensor(reader, "scalar", 6, &scalar));
  CHECK_OK(wl_reader_find_tensor(reader, "empty", 5, &empty));
  CHECK_OK(wl_reader_find_tensor(reader, "dense.f32", 9, &dense));
  {
    size_t missing = 12345;
    CHECK_STATUS(wl_reader_find_tensor(reader, "no-such-layer", 13, &missing), WL_NOT_FOUND);
    CHECK(missing == 12345); /* out-parameters are untouched on failure */
    CHECK(Contains(wl_last_error_message(), "no-such-layer"));
  }

  info = Describe(reader, fc1);
  CHECK(info.struct_size == sizeof(info));
  CHECK(strcmp(info.name, "fc1") == 0 && info.name_length == 3);
  CHECK(info.rank == 2 && info.shape != NULL && info.shape[0] == 30 && info.shape[1] == 20);
  CHECK(info.element_count == 600 && info.rows == 30 && info.row_size == 20);
  CHECK(info.storage == WL_STORAGE_RETRIEVAL);
  CHECK(info.dtype == WL_DTYPE_FLOAT32);
  CHECK(info.retrieval_kind == WL_RETRIEVAL_RIBBON && info.retrieval_hash == WL_HASH_MIX32);
  CHECK(info.code_bits == 4);
  CHECK(info.centroid_count == 7 && info.centroids != NULL);
  CHECK(info.kept > 0 && info.kept < 600);
  CHECK(info.added_squared_error == 0.125);
  CHECK(info.shard_count >= 1 && info.shard_span >= 1 && info.cells >= info.kept);
  CHECK(info.retrieval_seed == 42);
  CHECK(info.encode_order == 0 && info.epochs_after == 3);
  CHECK(info.accuracy_before_encoding == 0.9f && info.accuracy_after_retraining == 0.89f);
  CHECK(info.codec == WL_CODEC_NONE);
  CHECK(info.section_offset % 64 == 0 && info.stored_bytes > 0);

  info = Describe(reader, 1 + fc1); /* fc2: the same layer as a Bloomier filter */
  CHECK(strcmp(info.name, "fc2") == 0);
  CHECK(info.retrieval_kind == WL_RETRIEVAL_BLOOMIER && info.encode_order == 1);
  CHECK(info.retrieval_hash == WL_HASH_XXH3);
  info = Describe(reader, 2 + fc1); /* fc3: fc1's layer in a ribbon table hashed with xxh3 */
  CHECK(strcmp(info.name, "fc3") == 0);
  CHECK(info.retrieval_kind == WL_RETRIEVAL_RIBBON && info.retrieval_hash == WL_HASH_XXH3);

  info = Describe(reader, dense);
  CHECK(info.storage == WL_STORAGE_DENSE && info.dtype == WL_DTYPE_FLOAT32);
  CHECK(info.centroid_count == 0 && info.centroids == NULL && info.code_bits == 0);
  CHECK(info.retrieval_kind == WL_RETRIEVAL_NONE && info.encode_order == -1);
  CHECK(isnan(info.accuracy_after_encoding));

  info = Describe(reader, scalar);
  CHECK(info.rank == 0 && info.shape == NULL && info.element_count == 1 && info.rows == 1);
  info = Describe(reader, empty);
  CHECK(info.rank == 2 && info.element_count == 0 && info.rows == 0 && info.row_size == 7);

  /* A caller compiled against an older, shorter struct gets only what it knows. */
  {
    unsigned char raw[sizeof(wl_tensor_info)];
    wl_tensor_info* old = (wl_tensor_info*)(void*)raw;
    const size_t old_size = offsetof(wl_tensor_info, rank);
    size_t k;
    memset(raw, 0xAB, sizeof(raw));
    old->struct_size = old_size;
    CHECK_OK(wl_reader_describe_tensor(reader, fc1, old));
    CHECK(old->struct_size == old_size);
    CHECK(old->name_length == 3);
    for (k = old_size; k < sizeof(raw); ++k) CHECK(raw[k] == 0xAB);
    old->struct_size = 0;
    CHECK_STATUS(wl_reader_describe_tensor(reader, fc1, old), WL_INVALID_ARGUMENT);
    CHECK(Contains(wl_last_error_message(), "struct_size"));
  }
  CHECK_STATUS(wl_reader_describe_tensor(reader, 10, &info), WL_OUT_OF_RANGE);
  CHECK(Contains(wl_last_error_message(), "tensor index 10"));
  wl_reader_close(reader);
}

/* Whole layer, every row, row ranges and each single weight decode to the same floats,
 * with one thread and with several. */
/* The sample as format 1.0 wrote it (sample-1.0.wl beside sample.wl) reads: its fc1 is the
 * ribbon xxh3 table that the current sample calls fc3, and decodes to the same values. */
static void TestFormat10SampleReads(void) {
  char path[4096];
  const char* slash = strrchr(g_sample_path, '/');
  const size_t dir_length = slash == NULL ? 0 : (size_t)(slash - g_sample_path) + 1;
  wl_reader* old_reader = NULL;
  wl_reader* reader = OpenSample();
  size_t old_fc1 = 99, fc3 = 99;
  wl_tensor_info info;
  float* old_values;
  float* values;
  CHECK(dir_length + 16 < sizeof(path));
  memcpy(path, g_sample_path, dir_length);
  strcpy(path + dir_length, "sample-1.0.wl");
  CHECK_OK(wl_reader_open(path, &old_reader));
  if (old_reader == NULL) return;
  CHECK(wl_reader_format_minor(old_reader) == 0);
  CHECK(wl_reader_tensor_count(old_reader) == 9);
  CHECK_OK(wl_reader_find_tensor(old_reader, "fc1", 3, &old_fc1));
  CHECK_OK(wl_reader_find_tensor(reader, "fc3", 3, &fc3));
  info = Describe(old_reader, old_fc1);
  CHECK(info.retrieval_kind == WL_RETRIEVAL_RIBBON && info.retrieval_hash == WL_HASH_XXH3);
  old_values = DecodeAll(old_reader, old_fc1, 600, 1);
  values = DecodeAll(reader, fc3, 600, 1);
  CHECK(memcmp(old_values, values, 600 * sizeof(float)) == 0);
  free(old_values);
  free(values);
  wl_reader_close(old_reader);
  wl_reader_close(reader);
}

static void TestDecodeLayerRowsAndWeightsAgree(void) {
  wl_reader* reader = OpenSample();
  const size_t count = wl_reader_tensor_count(reader);
  size_t i;
  for (i = 0; i < count; ++i) {
    const wl_tensor_info info = Describe(reader, i);
    float* whole = DecodeAll(reader, i, info.element_count, 1);
    float* threaded = DecodeAll(reader, i, info.element_count, 0);
    float* rows = (float*)calloc((size_t)info.element_count + 1, sizeof(float));
    uint64_t r, k;
    CHECK(memcmp(whole, threaded, (size_t)info.element_count * sizeof(float)) == 0);
    for (r = 0; r < info.rows; ++r) {
      CHECK_OK(wl_reader_decode_rows(reader, i, r, r + 1, rows + r * info.row_size,
                                     (size_t)info.row_size, 1));
    }
    CHECK(memcmp(whole, rows, (size_t)info.element_count * sizeof(float)) == 0);
    if (info.rows >= 3) {
      const uint64_t begin = 1, end = info.rows - 1;
      const size_t n = (size_t)((end - begin) * info.row_size);
      memset(rows, 0, (size_t)info.element_count * sizeof(float));
      CHECK_OK(wl_reader_decode_rows(reader, i, begin, end, rows, n, 2));
      CHECK(memcmp(whole + begin * info.row_size, rows, n * sizeof(float)) == 0);
    }
    CHECK_OK(wl_reader_decode_rows(reader, i, 0, 0, NULL, 0, 1)); /* an empty range */
    for (k = 0; k < info.element_count; ++k) {
      float w = -1234.5f;
      CHECK_OK(wl_reader_decode_weight(reader, i, k, &w));
      CHECK(memcmp(&w, &whole[k], sizeof(float)) == 0);
    }
    if (info.storage == WL_STORAGE_RETRIEVAL) {
      /* Every kept weight decodes exactly; false positives come on top. */
      uint64_t nonzero = 0;
      for (k = 0; k < info.element_count; ++k) nonzero += whole[k] != 0.0f;
      CHECK(nonzero == info.kept + info.false_positives);
    }
    free(whole);
    free(threaded);
    free(rows);
  }
  wl_reader_close(reader);
}

static void TestBufferTooSmallAndRanges(void) {
  wl_reader* reader = OpenSample();
  size_t fc1 = 0;
  float buffer[600];
  float w = 7.0f;
  size_t k;
  CHECK_OK(wl_reader_find_tensor(reader, "fc1", 3, &fc1));
  for (k = 0; k < 600; ++k) buffer[k] = 42.0f;

  CHECK_STATUS(wl_reader_decode(reader, fc1, buffer, 599, 1), WL_BUFFER_TOO_SMALL);
  CHECK(Contains(wl_last_error_message(), "needs 600"));
  CHECK(Contains(wl_last_error_message(), "fc1"));
  for (k = 0; k < 600; ++k) CHECK(buffer[k] == 42.0f); /* nothing was written */
  CHECK_STATUS(wl_reader_decode(reader, fc1, buffer, 0, 1), WL_BUFFER_TOO_SMALL);
  CHECK_STATUS(wl_reader_decode_rows(reader, fc1, 2, 5, buffer, 59, 1), WL_BUFFER_TOO_SMALL);
  CHECK(Contains(wl_last_error_message(), "needs 60"));
  /* A larger buffer is fine: only element_count values are written. */
  CHECK_OK(wl_reader_decode_rows(reader, fc1, 2, 5, buffer, 600, 1));
  CHECK(buffer[60] == 42.0f);

  CHECK_STATUS(wl_reader_decode_rows(reader, fc1, 5, 2, buffer, 600, 1), WL_OUT_OF_RANGE);
  CHECK_STATUS(wl_reader_decode_rows(reader, fc1, 0, 31, buffer, 600, 1), WL_OUT_OF_RANGE);
  CHECK(Contains(wl_last_error_message(), "rows [0, 31)"));
  CHECK_STATUS(wl_reader_decode_weight(reader, fc1, 600, &w), WL_OUT_OF_RANGE);
  CHECK(w == 7.0f);
  CHECK_STATUS(wl_reader_decode(reader, 10, buffer, 600, 1), WL_OUT_OF_RANGE);
  CHECK_STATUS(wl_reader_decode(reader, fc1, buffer, 600, -1), WL_INVALID_ARGUMENT);
  CHECK_STATUS(wl_reader_decode(reader, fc1, NULL, 600, 1), WL_INVALID_ARGUMENT);
  wl_reader_close(reader);
}

/* A reader over the caller's memory (aligned or not) reads what the mapped file reads. */
static void TestOpenBufferMatchesPath(void) {
  size_t size = 0;
  unsigned char* bytes = ReadFile(g_sample_path, &size);
  unsigned char* shifted = (unsigned char*)malloc(size + 1);
  wl_reader* from_path = OpenSample();
  wl_reader* from_buffer = NULL;
  wl_reader* from_shifted = NULL;
  size_t i;
  CHECK(bytes != NULL && shifted != NULL);
  if (bytes == NULL || shifted == NULL) return;
  memcpy(shifted + 1, bytes, size);
  CHECK_OK(wl_reader_open_buffer(bytes, size, &from_buffer));
  CHECK_OK(wl_reader_open_buffer(shifted + 1, size, &from_shifted));
  CHECK(from_buffer != NULL && from_shifted != NULL);
  if (from_buffer != NULL && from_shifted != NULL) {
    CHECK(wl_reader_tensor_count(from_buffer) == wl_reader_tensor_count(from_path));
    for (i = 0; i < wl_reader_tensor_count(from_path); ++i) {
      const wl_tensor_info info = Describe(from_path, i);
      const wl_tensor_info binfo = Describe(from_buffer, i);
      float* a = DecodeAll(from_path, i, info.element_count, 1);
      float* b = DecodeAll(from_buffer, i, info.element_count, 1);
      float* c = DecodeAll(from_shifted, i, info.element_count, 1);
      const size_t n = (size_t)info.element_count * sizeof(float);
      CHECK(strcmp(info.name, binfo.name) == 0);
      CHECK(memcmp(a, b, n) == 0 && memcmp(a, c, n) == 0);
      free(a);
      free(b);
      free(c);
    }
  }
  wl_reader_close(from_shifted);
  wl_reader_close(from_buffer);
  wl_reader_close(from_path);
  /* Too short to be a file. */
  from_buffer = (wl_reader*)&g_checks;
  CHECK_STATUS(wl_reader_open_buffer(bytes, 100, &from_buffer), WL_CORRUPTION);
  CHECK(from_buffer == NULL);
  CHECK(wl_last_error_file_error() == WL_FILE_TOO_SMALL);
  free(shifted);
  free(bytes);
}

static void TestVerify(void) {
  wl_reader* reader = OpenSample();
  wl_verify_report* report = NULL;
  CHECK_OK(wl_reader_verify(reader, &report));
  CHECK(report != NULL);
  CHECK(wl_verify_report_count(report) == 0);
  CHECK_STATUS(wl_verify_report_problem(report, 0, NULL, NULL, NULL), WL_OUT_OF_RANGE);
  wl_verify_report_free(report);
  wl_reader_close(reader);
}

static void TestMetadata(void) {
  wl_reader* reader = OpenSample();
  size_t entry = 0;
  const char* key = NULL;
  const char* text = NULL;
  size_t length = 0;
  int type = 0;
  int64_t i = 0;
  double d = 0;

  CHECK(wl_reader_metadata_count(reader) == 4);
  CHECK_OK(wl_reader_find_metadata(reader, "epochs", 6, &entry));
  CHECK_OK(wl_reader_metadata_key(reader, entry, &key, &length, &type));
  CHECK(strcmp(key, "epochs") == 0 && length == 6 && type == WL_METADATA_INT);
  CHECK_OK(wl_reader_metadata_int(reader, entry, &i));
  CHECK(i == 12);
  CHECK_OK(wl_reader_metadata_double(reader, entry, &d));
  CHECK(d == 12.0);
  CHECK_STATUS(wl_reader_metadata_string(reader, entry, &text, &length), WL_INVALID_ARGUMENT);
  CHECK(Contains(wl_last_error_message(), "epochs"));

  CHECK_OK(wl_reader_find_metadata(reader, "architecture", 12, &entry));
  CHECK_OK(wl_reader_metadata_string(reader, entry, &text, &length));
  CHECK(strcmp(text, "LeNet-300-100") == 0 && length == 13);
  CHECK_STATUS(wl_reader_metadata_double(reader, entry, &d), WL_INVALID_ARGUMENT);

  CHECK_OK(wl_reader_find_metadata(reader, "baseline_accuracy", 17, &entry));
  CHECK_OK(wl_reader_metadata_key(reader, entry, &key, NULL, &type));
  CHECK(type == WL_METADATA_DOUBLE);
  CHECK_OK(wl_reader_metadata_double(reader, entry, &d));
  CHECK(d == 0.8912);
  CHECK_STATUS(wl_reader_metadata_int(reader, entry, &i), WL_INVALID_ARGUMENT);

  CHECK_OK(wl_reader_find_metadata(reader, "retrained", 9, &entry));
  CHECK_OK(wl_reader_metadata_key(reader, entry, &key, NULL, &type));
  CHECK(type == WL_METADATA_BOOL);
  CHECK_OK(wl_reader_metadata_int(reader, entry, &i));
  CHECK(i == 1);

  CHECK_STATUS(wl_reader_find_metadata(reader, "nope", 4, &entry), WL_NOT_FOUND);
  CHECK_STATUS(wl_reader_metadata_key(reader, 4, &key, NULL, NULL), WL_OUT_OF_RANGE);
  wl_reader_close(reader);
}

/* The first error reported for a file: at open, else the first decode, else the first
 * verify problem. Returns WL_OK when the file is accepted throughout. */
static wl_status FirstError(const char* path, wl_file_error* file_error, char* message,
                            size_t message_size) {
  wl_reader* reader = NULL;
  wl_verify_report* report = NULL;
  wl_status s = wl_reader_open(path, &reader);
  size_t i;
  *file_error = wl_last_error_file_error();
  snprintf(message, message_size, "%s", wl_last_error_message());
  if (s != WL_OK) return s;
  for (i = 0; i < wl_reader_tensor_count(reader) && s == WL_OK; ++i) {
    const wl_tensor_info info = Describe(reader, i);
    float* out = (float*)calloc((size_t)info.element_count + 1, sizeof(float));
    s = wl_reader_decode(reader, i, out, (size_t)info.element_count, 1);
    *file_error = wl_last_error_file_error();
    snprintf(message, message_size, "%s", wl_last_error_message());
    free(out);
  }
  if (s == WL_OK) {
    CHECK_OK(wl_reader_verify(reader, &report));
    if (wl_verify_report_count(report) > 0) {
      const char* text = NULL;
      CHECK_OK(wl_verify_report_problem(report, 0, &s, file_error, &text));
      snprintf(message, message_size, "%s", text);
    }
    wl_verify_report_free(report);
  }
  wl_reader_close(reader);
  return s;
}

/* Every tests/golden-errors/<error>__<what>.wl is rejected with the file error its name
 * starts with, and a message. */
static void TestGoldenErrorFiles(void) {
  DIR* dir = opendir(g_errors_dir);
  struct dirent* entry;
  int files = 0;
  CHECK(dir != NULL);
  if (dir == NULL) return;
  while ((entry = readdir(dir)) != NULL) {
    const char* name = entry->d_name;
    const char* sep = strstr(name, "__");
    const size_t len = strlen(name);
    char path[4096];
    char message[2048];
    char expected[128];
    wl_file_error file_error = WL_FILE_OK;
    wl_status s;
    if (len < 4 || strcmp(name + len - 3, ".wl") != 0 || sep == NULL) continue;
    if ((size_t)(sep - name) >= sizeof(expected)) continue;
    memcpy(expected, name, (size_t)(sep - name));
    expected[sep - name] = '\0';
    snprintf(path, sizeof(path), "%s/%s", g_errors_dir, name);
    s = FirstError(path, &file_error, message, sizeof(message));
    ++files;
    ++g_checks;
    if (s == WL_OK || strcmp(wl_file_error_name(file_error), expected) != 0 || message[0] == 0) {
      ++g_failures;
      fprintf(stderr, "%s: got %s / %s (%s), expected file error %s\n", name, wl_status_name(s),
              wl_file_error_name(file_error), message, expected);
    }
  }
  closedir(dir);
  CHECK(files >= 30);
}

/* Specific codes and messages, at open and on decode, and verify's report. */
static void TestDamagedFilesInDetail(void) {
  char path[4096];
  wl_reader* reader = NULL;
  wl_verify_report* report = NULL;
  size_t dense = 0;
  float out[600];
  wl_status status = WL_OK;
  wl_file_error file_error = WL_FILE_OK;
  const char* text = NULL;

  snprintf(path, sizeof(path), "%s/bad_magic__header.wl", g_errors_dir);
  CHECK_STATUS(wl_reader_open(path, &reader), WL_CORRUPTION);
  CHECK(reader == NULL);
  CHECK(wl_last_error_file_error() == WL_FILE_BAD_MAGIC);
  CHECK(Contains(wl_last_error_message(), "bad_magic__header.wl"));

  snprintf(path, sizeof(path), "%s/unsupported_major__version_2.wl", g_errors_dir);
  CHECK_STATUS(wl_reader_open(path, &reader), WL_NOT_SUPPORTED);
  CHECK(wl_last_error_file_error() == WL_FILE_UNSUPPORTED_MAJOR);

  snprintf(path, sizeof(path), "%s/no-such-file.wl", g_errors_dir);
  CHECK_STATUS(wl_reader_open(path, &reader), WL_IO_ERROR);
  CHECK(wl_last_error_file_error() == WL_FILE_IO_ERROR);
  CHECK(Contains(wl_last_error_message(), "no-such-file.wl"));

  /* Opening checks only the index; the damaged payload shows on decode and verify. */
  snprintf(path, sizeof(path), "%s/section_checksum__payload_byte_flipped.wl", g_errors_dir);
  CHECK_OK(wl_reader_open(path, &reader));
  if (reader == NULL) return;
  CHECK_OK(wl_reader_find_tensor(reader, "dense.f32", 9, &dense));
  CHECK_STATUS(wl_reader_decode(reader, dense, out, 600, 1), WL_CORRUPTION);
  CHECK(wl_last_error_file_error() == WL_FILE_SECTION_CHECKSUM);
  CHECK(Contains(wl_last_error_message(), "tensor 'dense.f32'"));
  CHECK(Contains(wl_last_error_message(), "offset 64"));
  CHECK_OK(wl_reader_verify(reader, &report));
  CHECK(wl_verify_report_count(report) >= 1);
  CHECK_OK(wl_verify_report_problem(report, 0, &status, &file_error, &text));
  CHECK(status == WL_CORRUPTION && file_error == WL_FILE_SECTION_CHECKSUM);
  CHECK(Contains(text, "checksum mismatch"));
  wl_verify_report_free(report);
  wl_reader_close(reader);
}

/* One reader, several threads decoding at once; each thread has its own last error. */
struct ThreadJob {
  const wl_reader* reader;
  size_t index;
  uint64_t count;
  const float* expected;
  int ok;
};

static void* DecodeInThread(void* arg) {
  struct ThreadJob* job = (struct ThreadJob*)arg;
  float* out = (float*)calloc((size_t)job->count + 1, sizeof(float));
  int round;
  job->ok = out != NULL && strcmp(wl_last_error_message(), "") == 0;
  for (round = 0; round < 20 && job->ok; ++round) {
    job->ok = wl_reader_decode(job->reader, job->index, out, (size_t)job->count, 1) == WL_OK &&
              memcmp(out, job->expected, (size_t)job->count * sizeof(float)) == 0;
  }
  free(out);
  return NULL;
}

static void TestConcurrentDecode(void) {
  wl_reader* reader = OpenSample();
  size_t fc1 = 0;
  wl_tensor_info info;
  float* expected;
  struct ThreadJob jobs[4];
  pthread_t threads[4];
  int t;
  CHECK_OK(wl_reader_find_tensor(reader, "fc1", 3, &fc1));
  info = Describe(reader, fc1);
  expected = DecodeAll(reader, fc1, info.element_count, 1);
  /* An error on this thread is not seen by the others. */
  CHECK_STATUS(wl_reader_decode(reader, 99, NULL, 0, 1), WL_OUT_OF_RANGE);
  for (t = 0; t < 4; ++t) {
    jobs[t].reader = reader;
    jobs[t].index = fc1;
    jobs[t].count = info.element_count;
    jobs[t].expected = expected;
    jobs[t].ok = 0;
    CHECK(pthread_create(&threads[t], NULL, DecodeInThread, &jobs[t]) == 0);
  }
  for (t = 0; t < 4; ++t) {
    CHECK(pthread_join(threads[t], NULL) == 0);
    CHECK(jobs[t].ok);
  }
  CHECK(Contains(wl_last_error_message(), "tensor index 99"));
  free(expected);
  wl_reader_close(reader);
}

/* Reader options: defaults, partial reads (with pread: few bytes read, nothing kept,
 * the same values), release, and an options struct from an older, smaller header. */
static void TestReaderOptions(void) {
  wl_reader_options options;
  wl_reader* whole = OpenSample();
  wl_reader* partial = NULL;
  size_t fc1 = 0;
  wl_tensor_info info;
  float* all;
  float* rows;
  uint64_t before;
  wl_reader_options_init(&options);
  CHECK(options.struct_size == sizeof(options));
  CHECK(options.use_mmap != 0 && options.verify_checksums != 0 && options.partial_reads == 0);
  CHECK(options.max_decompressed_bytes == ((uint64_t)16 << 30));
  wl_reader_options_init(NULL); /* does nothing */
  options.use_mmap = 0;
  options.partial_reads = 1;
  CHECK_OK(wl_reader_open_with_options(g_sample_path, &options, &partial));
  CHECK(partial != NULL);
  if (partial == NULL) {
    wl_reader_close(whole);
    return;
  }
  CHECK_OK(wl_reader_find_tensor(partial, "fc1", 3, &fc1));
  info = Describe(partial, fc1);
  all = DecodeAll(whole, fc1, info.element_count, 1);
  rows = (float*)calloc((size_t)info.row_size * 2, sizeof(float));
  CHECK(rows != NULL);
  before = wl_reader_bytes_read(partial);
  CHECK(before > 0); /* pread: the trailer and index */
  CHECK_OK(wl_reader_decode_rows(partial, fc1, 3, 5, rows, (size_t)info.row_size * 2, 1));
  CHECK(memcmp(rows, all + 3 * info.row_size, (size_t)info.row_size * 2 * sizeof(float)) == 0);
  CHECK(wl_reader_bytes_read(partial) > before);
  CHECK(wl_reader_cached_bytes(partial) == 0); /* partial reads keep nothing */
  free(DecodeAll(partial, fc1, info.element_count, 1));
  CHECK(wl_reader_cached_bytes(partial) > 0); /* a whole decode is kept ... */
  wl_reader_release(partial, fc1);
  CHECK(wl_reader_cached_bytes(partial) == 0); /* ... until released */
  wl_reader_release(partial, 999);             /* out of range: nothing */
  wl_reader_release(NULL, 0);
  CHECK(wl_reader_cached_bytes(NULL) == 0 && wl_reader_bytes_read(NULL) == 0);
  CHECK(wl_reader_bytes_read(whole) == 0); /* mapped */
  wl_reader_close(partial);

  /* A caller built against a header that had only struct_size and use_mmap. */
  options.struct_size = offsetof(wl_reader_options, verify_checksums);
  options.use_mmap = 1;
  options.partial_reads = 1; /* beyond struct_size: not read, the default applies */
  CHECK_OK(wl_reader_open_with_options(g_sample_path, &options, &partial));
  CHECK(partial != NULL && wl_reader_bytes_read(partial) == 0);
  wl_reader_close(partial);
  options.struct_size = 1;
  CHECK_STATUS(wl_reader_open_with_options(g_sample_path, &options, &partial), WL_INVALID_ARGUMENT);
  CHECK(partial == NULL);
  CHECK_OK(wl_reader_open_with_options(g_sample_path, NULL, &partial)); /* the defaults */
  wl_reader_close(partial);
  {
    size_t size = 0;
    unsigned char* bytes = ReadFile(g_sample_path, &size);
    wl_reader_options_init(&options);
    options.partial_reads = 1;
    CHECK_OK(wl_reader_open_buffer_with_options(bytes, size, &options, &partial));
    CHECK_OK(wl_reader_decode_rows(partial, fc1, 3, 5, rows, (size_t)info.row_size * 2, 1));
    CHECK(memcmp(rows, all + 3 * info.row_size, (size_t)info.row_size * 2 * sizeof(float)) == 0);
    wl_reader_close(partial);
    free(bytes);
  }
  free(rows);
  free(all);
  wl_reader_close(whole);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <sample.wl> <golden-errors directory>\n", argv[0]);
    return 2;
  }
  g_sample_path = argv[1];
  g_errors_dir = argv[2];
  TestVersion();
  TestStatusCodesAreStableAndNamed();
  TestNullHandlesAndArguments();
  TestOpenCountFindDescribe();
  TestFormat10SampleReads();
  TestDecodeLayerRowsAndWeightsAgree();
  TestBufferTooSmallAndRanges();
  TestOpenBufferMatchesPath();
  TestVerify();
  TestMetadata();
  TestGoldenErrorFiles();
  TestDamagedFilesInDetail();
  TestConcurrentDecode();
  TestReaderOptions();
  printf("%d checks, %d failures (library %s)\n", g_checks, g_failures, wl_version_string());
  return g_failures == 0 ? 0 : 1;
}
