// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Atomic file output: bytes go to a temporary file in the target's directory that only
// Commit() moves onto the target path. On Linux the temporary file is unnamed
// (O_TMPFILE), so a killed process leaves nothing behind; elsewhere, or where the file
// system refuses O_TMPFILE, it is a hidden ".<name>.XXXXXX.tmp" removed by Abandon().

#ifndef WEIGHTLESS_CONTAINER_OUTPUT_FILE_H_
#define WEIGHTLESS_CONTAINER_OUTPUT_FILE_H_

#include <memory>
#include <string>

#include "weightless/status.h"
#include "weightless/writer.h"

namespace weightless {
namespace container {

class AtomicFileOutput : public OutputStream {
 public:
  static Result<std::unique_ptr<AtomicFileOutput>> Create(const std::string& path, bool sync);
  ~AtomicFileOutput() override;  // abandons unless committed

  Status Write(const uint8_t* data, size_t size) override;
  // fsyncs (if sync), links or renames the file onto the target path, fsyncs the
  // directory (if sync).
  Status Commit();
  void Abandon();

 private:
  AtomicFileOutput() = default;
  std::string path_;
  std::string directory_;
  std::string temp_path_;  // empty for an unnamed O_TMPFILE file
  int fd_ = -1;
  bool sync_ = true;
};

}  // namespace container
}  // namespace weightless

#endif  // WEIGHTLESS_CONTAINER_OUTPUT_FILE_H_
