// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The interchange readers (tools/interchange/) take a path: InputFile puts the fuzzer's
// bytes in an anonymous in-memory file (memfd) and names it /proc/self/fd/N, so that
// each input is read exactly as a file on disk would be, without touching the disk.

#ifndef WEIGHTLESS_TESTS_FUZZ_FUZZ_INPUT_FILE_H_
#define WEIGHTLESS_TESTS_FUZZ_FUZZ_INPUT_FILE_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"

namespace weightless {
namespace fuzz {

class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size) {
    fd_ = memfd_create("fuzz-input", MFD_CLOEXEC);
    FUZZ_CHECK(fd_ >= 0);
    size_t done = 0;
    while (done < size) {
      const ssize_t w = write(fd_, data + done, size - done);
      FUZZ_CHECK(w > 0);
      done += static_cast<size_t>(w);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~InputFile() { close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace fuzz
}  // namespace weightless

#endif  // WEIGHTLESS_TESTS_FUZZ_FUZZ_INPUT_FILE_H_
