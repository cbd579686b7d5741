// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "idx.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <zlib.h>

#include <sys/stat.h>

namespace wltrain {

using weightless::Result;
using weightless::Status;

namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Reads a whole file, decompressing gzip (zlib reads raw files unchanged).
Result<std::vector<uint8_t>> ReadMaybeGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return Status::IOError("cannot open", path);
  std::vector<uint8_t> out;
  uint8_t buffer[1 << 16];
  for (;;) {
    const int n = gzread(f, buffer, sizeof buffer);
    if (n < 0) {
      int err = 0;
      const std::string message = gzerror(f, &err);
      gzclose(f);
      return Status::Corruption(path, "not a valid gzip or IDX file: " + message);
    }
    if (n == 0) break;
    out.insert(out.end(), buffer, buffer + n);
    if (out.size() > (size_t{1} << 31)) {
      gzclose(f);
      return Status::OutOfRange(path, "larger than 2 GiB: not an MNIST-format file");
    }
  }
  gzclose(f);
  return out;
}

uint32_t BigEndian32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

Result<std::string> FindFile(const std::string& directory, const std::string& stem) {
  for (const std::string& candidate : {directory + "/" + stem + ".gz", directory + "/" + stem}) {
    if (Exists(candidate)) return candidate;
  }
  return Status::NotFound(
      "missing dataset file '" + stem + "' (or '" + stem + ".gz') in " + directory,
      "an MNIST-format IDX directory has train-images-idx3-ubyte, "
      "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
      "t10k-labels-idx1-ubyte");
}

Status LoadSplit(const std::string& directory, const std::string& prefix, size_t limit,
                 Split* split) {
  Result<std::string> images_path = FindFile(directory, prefix + "-images-idx3-ubyte");
  if (!images_path.ok()) return images_path.status();
  Result<std::string> labels_path = FindFile(directory, prefix + "-labels-idx1-ubyte");
  if (!labels_path.ok()) return labels_path.status();
  Result<std::vector<uint8_t>> images = ReadMaybeGzip(*images_path);
  if (!images.ok()) return images.status();
  Result<std::vector<uint8_t>> labels = ReadMaybeGzip(*labels_path);
  if (!labels.ok()) return labels.status();
  if (images->size() < 16 || BigEndian32(images->data()) != 0x00000803) {
    return Status::Corruption(*images_path, "not an IDX image file (magic 0x00000803 expected)");
  }
  if (labels->size() < 8 || BigEndian32(labels->data()) != 0x00000801) {
    return Status::Corruption(*labels_path, "not an IDX label file (magic 0x00000801 expected)");
  }
  const uint64_t count = BigEndian32(images->data() + 4);
  split->rows = BigEndian32(images->data() + 8);
  split->cols = BigEndian32(images->data() + 12);
  if (split->rows != 28 || split->cols != 28) {
    return Status::InvalidArgument(*images_path, "images are " + std::to_string(split->rows) + "x" +
                                                     std::to_string(split->cols) +
                                                     "; the LeNet models need 28x28");
  }
  const uint64_t pixels = uint64_t{28} * 28;
  if (images->size() != 16 + count * pixels) {
    return Status::Corruption(*images_path, "header says " + std::to_string(count) +
                                                " images, the file holds " +
                                                std::to_string(images->size()) + " bytes");
  }
  if (BigEndian32(labels->data() + 4) != count || labels->size() != 8 + count) {
    return Status::Corruption(
        *labels_path,
        "label count does not match the " + std::to_string(count) + " images of " + *images_path);
  }
  const uint64_t keep = limit == 0 ? count : std::min<uint64_t>(limit, count);
  split->images.resize(keep * pixels);
  split->labels.resize(keep);
  for (uint64_t i = 0; i < keep; ++i) {
    const uint8_t label = (*labels)[8 + i];
    if (label > 9) {
      return Status::Corruption(*labels_path, "label " + std::to_string(label) + " of example " +
                                                  std::to_string(i) + " is not 0..9");
    }
    split->labels[i] = label;
    for (uint64_t p = 0; p < pixels; ++p) {
      split->images[i * pixels + p] = (*images)[16 + i * pixels + p] / 255.0f;
    }
  }
  return Status::OK();
}

}  // namespace

Result<Dataset> LoadIdxDataset(const std::string& directory, size_t limit_train,
                               size_t limit_test) {
  Dataset d;
  d.directory = directory;
  Status s = LoadSplit(directory, "train", limit_train, &d.train);
  if (s.ok()) s = LoadSplit(directory, "t10k", limit_test, &d.test);
  if (!s.ok()) return s;
  return d;
}

Result<Split> CarveValidation(Split* train, size_t count, uint64_t seed) {
  const size_t n = train->count();
  if (count == 0 || count >= n) {
    return Status::InvalidArgument("validation split of " + std::to_string(count) + " examples",
                                   "must be 1.." + std::to_string(n ? n - 1 : 0) +
                                       " (the training file holds " + std::to_string(n) + ")");
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<uint8_t> is_validation(n, 0);
  for (size_t i = 0; i < count; ++i) is_validation[order[i]] = 1;
  const size_t pixels = static_cast<size_t>(train->rows) * train->cols;
  Split validation, rest;
  validation.rows = rest.rows = train->rows;
  validation.cols = rest.cols = train->cols;
  validation.images.reserve(count * pixels);
  rest.images.reserve((n - count) * pixels);
  for (size_t i = 0; i < n; ++i) {
    Split& to = is_validation[i] ? validation : rest;
    to.images.insert(to.images.end(),
                     train->images.begin() + static_cast<std::ptrdiff_t>(i * pixels),
                     train->images.begin() + static_cast<std::ptrdiff_t>((i + 1) * pixels));
    to.labels.push_back(train->labels[i]);
  }
  *train = std::move(rest);
  return validation;
}

}  // namespace wltrain
