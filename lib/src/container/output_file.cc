// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "weightless/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "container/file_layout.h"

namespace weightless {

OutputStream::~OutputStream() = default;
Status OutputStream::Flush() { return Status::OK(); }

namespace {

Status IoError(const std::string& what, const std::string& path, int err) {
  return container::FileStatus(StatusCode::kIOError, FileError::kIOError,
                               what + " '" + path + "': " + std::strerror(err));
}

Status WriteAll(int fd, const uint8_t* data, size_t size, const std::string& name) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("write", name, errno);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::OK();
}

class FdOutputStream : public OutputStream {
 public:
  explicit FdOutputStream(int fd) : fd_(fd) {}
  Status Write(const uint8_t* data, size_t size) override {
    return WriteAll(fd_, data, size, "fd " + std::to_string(fd_));
  }

 private:
  int fd_;
};

void SplitPath(const std::string& path, std::string* directory, std::string* base) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *directory = ".";
    *base = path;
  } else {
    *directory = slash == 0 ? "/" : path.substr(0, slash);
    *base = path.substr(slash + 1);
  }
}

Status SyncDirectory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("open directory", directory, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) return IoError("fsync directory", directory, err);
  return Status::OK();
}

}  // namespace

std::unique_ptr<OutputStream> NewFdOutputStream(int fd) {
  return std::make_unique<FdOutputStream>(fd);
}

namespace {

// A hidden, unused name beside the target: ".<base>.<pid>.<n>.tmp".
std::string TemporaryName(const std::string& directory, const std::string& base, int attempt) {
  return directory + "/." + base + "." + std::to_string(::getpid()) + "." +
         std::to_string(attempt) + ".tmp";
}

}  // namespace

Result<std::unique_ptr<AtomicFileOutput>> AtomicFileOutput::Create(const std::string& path,
                                                                   bool sync) {
  if (path.empty()) return Status::InvalidArgument("output path is empty");
  std::unique_ptr<AtomicFileOutput> out(new AtomicFileOutput());
  out->path_ = path;
  out->sync_ = sync;
  std::string base;
  SplitPath(path, &out->directory_, &base);
  if (base.empty()) return Status::InvalidArgument("output path '" + path + "' names a directory");
    // Mode 0666 lets the kernel apply the umask, as a plain create would.
#ifdef O_TMPFILE
  out->fd_ = ::open(out->directory_.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
#endif
  for (int attempt = 0; out->fd_ < 0 && attempt < 100; ++attempt) {
    const std::string temp = TemporaryName(out->directory_, base, attempt);
    out->fd_ = ::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (out->fd_ >= 0) {
      out->temp_path_ = temp;
    } else if (errno != EEXIST) {
      return IoError("create a temporary file for", path, errno);
    }
  }
  if (out->fd_ < 0) return IoError("create a temporary file for", path, EEXIST);
  // Replacing a regular file keeps its permissions.
  struct stat existing;
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode) &&
      ::fchmod(out->fd_, existing.st_mode & 07777) != 0) {
    const int err = errno;
    out->Abandon();
    return IoError("set the permissions of the temporary file for", path, err);
  }
  return out;
}

AtomicFileOutput::~AtomicFileOutput() { Abandon(); }

Status AtomicFileOutput::Write(const uint8_t* data, size_t size) {
  if (fd_ < 0) return Status::IOError("write to a closed file", path_);
  return WriteAll(fd_, data, size, path_);
}

Status AtomicFileOutput::Commit() {
  if (fd_ < 0) return Status::IOError("commit of a closed file", path_);
  if (sync_ && ::fsync(fd_) != 0) return IoError("fsync", path_, errno);
  if (temp_path_.empty()) {
    // Give the unnamed file a hidden name, then rename it over the target: linkat
    // cannot replace an existing file, rename can, atomically.
    char proc_path[64];
    std::snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd_);
    std::string base, dir;
    SplitPath(path_, &dir, &base);
    for (int attempt = 0; attempt < 100 && temp_path_.empty(); ++attempt) {
      const std::string candidate = TemporaryName(directory_, base, attempt);
      if (::linkat(AT_FDCWD, proc_path, AT_FDCWD, candidate.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        temp_path_ = candidate;
      } else if (errno != EEXIST) {
        return IoError("link the temporary file for", path_, errno);
      }
    }
    if (temp_path_.empty()) return IoError("link the temporary file for", path_, EEXIST);
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
    return IoError("rename into place", path_, err);
  }
  temp_path_.clear();
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return IoError("close", path_, errno);
  if (sync_) return SyncDirectory(directory_);
  return Status::OK();
}

void AtomicFileOutput::Abandon() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

}  // namespace weightless
