// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Status reports the outcome of an operation: success, or an error code with a
// message that says what broke and where (the layer, field, shard or byte offset).
// Result<T> carries either a value of type T or a non-OK Status.
//
// No exception crosses the Weightless API: every fallible function returns a Status
// or a Result<T>. An OK Status holds a single null pointer, so returning one is free.
//
// Thread safety: a const Status or Result may be read from many threads at once;
// writing one object from several threads needs external synchronization.

#ifndef WEIGHTLESS_STATUS_H_
#define WEIGHTLESS_STATUS_H_

#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "weightless/export.h"

namespace weightless {

// The kind of an error. The numeric values are stable: they are part of the C API and
// may be stored or compared by callers. New codes are only ever appended.
enum class StatusCode : int {
  kOk = 0,
  // The caller passed a value outside what the function accepts.
  kInvalidArgument = 1,
  // A named thing (layer, tensor, file) does not exist.
  kNotFound = 2,
  // Stored bytes are damaged or inconsistent: a file, section or table failed validation.
  kCorruption = 3,
  // The input is valid but needs something this build does not implement (a newer
  // format version, an unknown required feature, an encoding or codec).
  kNotSupported = 4,
  // The operating system reported a failure (open, read, write, mmap, fsync, rename).
  kIOError = 5,
  // A size, count or index exceeds a limit stated in the spec or by the caller.
  kOutOfRange = 6,
  // A construction did not succeed within its retry budget (e.g. a retrieval shard).
  kBuildFailed = 7,
  // A broken invariant inside the library: always a bug, please report it.
  kInternal = 8,
};

// Returns a stable, human-readable name such as "Corruption" for `code`, or
// "Unknown" for a value outside the enum. Never returns null.
WEIGHTLESS_EXPORT const char* StatusCodeName(StatusCode code);

class WEIGHTLESS_EXPORT Status {
 public:
  // Creates an OK status.
  Status() noexcept = default;
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&& other) noexcept = default;
  Status& operator=(Status&& other) noexcept = default;
  ~Status() = default;

  static Status OK() { return Status(); }

  // One factory per error kind. The message is "msg" or, when msg2 is non-empty,
  // "msg: msg2" (leveldb's convention, handy for "path: reason").
  static Status InvalidArgument(std::string_view msg, std::string_view msg2 = {}) {
    return Status(StatusCode::kInvalidArgument, msg, msg2);
  }
  static Status NotFound(std::string_view msg, std::string_view msg2 = {}) {
    return Status(StatusCode::kNotFound, msg, msg2);
  }
  static Status Corruption(std::string_view msg, std::string_view msg2 = {}) {
    return Status(StatusCode::kCorruption, msg, msg2);
  }
  static Status NotSupported(std::string_view msg, std::string_view msg2 = {}) {
    return Status(StatusCode::kNotSupported, msg, msg2);
  }
  static Status IOError(std::string_view msg, std::string_view msg2 = {}) {
    return Status(StatusCode::kIOError, msg, msg2);
  }
  static Status OutOfRange(std::string_view msg, std::string_view msg2 = {}) {
    return Status(StatusCode::kOutOfRange, msg, msg2);
  }
  static Status BuildFailed(std::string_view msg, std::string_view msg2 = {}) {
    return Status(StatusCode::kBuildFailed, msg, msg2);
  }
  static Status Internal(std::string_view msg, std::string_view msg2 = {}) {
    return Status(StatusCode::kInternal, msg, msg2);
  }

  // Creates a status of any kind. REQUIRES: code != StatusCode::kOk.
  Status(StatusCode code, std::string_view msg, std::string_view msg2 = {});

  // As above, with a detail code that says precisely what failed (for file errors, a
  // weightless::FileError value; see weightless/format.h). 0 means no detail.
  Status(StatusCode code, int detail, std::string_view msg, std::string_view msg2 = {});

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // The detail code given at construction; 0 when none (and for OK).
  int detail() const { return rep_ ? rep_->detail : 0; }
  // The message without the code name; empty for OK. Valid while *this is unchanged.
  std::string_view message() const {
    return rep_ ? std::string_view(rep_->message) : std::string_view();
  }

  bool IsInvalidArgument() const { return code() == StatusCode::kInvalidArgument; }
  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsCorruption() const { return code() == StatusCode::kCorruption; }
  bool IsNotSupported() const { return code() == StatusCode::kNotSupported; }
  bool IsIOError() const { return code() == StatusCode::kIOError; }
  bool IsOutOfRange() const { return code() == StatusCode::kOutOfRange; }
  bool IsBuildFailed() const { return code() == StatusCode::kBuildFailed; }

  // "OK", or "<code name>: <message>", e.g. "Corruption: layer 'fc1': shard 3: ...".
  std::string ToString() const;

  // Returns a copy of this status whose message is "context: <message>"; OK stays OK.
  // Used to add where an error happened as it travels up, e.g. the layer name.
  Status WithContext(std::string_view context) const;

 private:
  struct Rep {
    StatusCode code;
    int detail;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;  // null means OK
};

// Either a value of type T or a non-OK Status. Construct from a T (success) or from
// a Status (failure); constructing from an OK Status is a bug and yields an
// Internal error instead.
//
// Accessing value() on a failed Result aborts the process with the status message:
// check ok() first.
template <typename T>
class Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> is not meaningful");

 public:
  Result(const T& value) : has_value_(true) { new (&storage_) T(value); }        // NOLINT
  Result(T&& value) : has_value_(true) { new (&storage_) T(std::move(value)); }  // NOLINT
  Result(Status status)                                                          // NOLINT
      : status_(status.ok() ? Status::Internal("Result constructed from an OK Status")
                            : std::move(status)) {}

  Result(const Result& other) : status_(other.status_), has_value_(other.has_value_) {
    if (has_value_) new (&storage_) T(*other.ptr());
  }
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : status_(std::move(other.status_)), has_value_(other.has_value_) {
    if (has_value_) new (&storage_) T(std::move(*other.ptr()));
  }
  Result& operator=(const Result& other) {
    if (this != &other) {
      Reset();
      status_ = other.status_;
      if (other.has_value_) {
        new (&storage_) T(*other.ptr());
        has_value_ = true;
      }
    }
    return *this;
  }
  Result& operator=(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) {
      Reset();
      status_ = std::move(other.status_);
      if (other.has_value_) {
        new (&storage_) T(std::move(*other.ptr()));
        has_value_ = true;
      }
    }
    return *this;
  }
  ~Result() { Reset(); }

  bool ok() const { return has_value_; }
  // OK when a value is held, otherwise the error.
  const Status& status() const { return status_; }

  // REQUIRES: ok().
  T& value() & {
    CheckHasValue();
    return *ptr();
  }
  const T& value() const& {
    CheckHasValue();
    return *ptr();
  }
  T&& value() && {
    CheckHasValue();
    return std::move(*ptr());
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The value when ok(), else `fallback`.
  T value_or(T fallback) const& { return has_value_ ? *ptr() : std::move(fallback); }

 private:
  T* ptr() { return std::launder(reinterpret_cast<T*>(&storage_)); }
  const T* ptr() const { return std::launder(reinterpret_cast<const T*>(&storage_)); }
  void Reset() {
    if (has_value_) {
      ptr()->~T();
      has_value_ = false;
    }
  }
  void CheckHasValue() const {
    if (!has_value_) AbortOnBadAccess(status_);
  }
  [[noreturn]] static void AbortOnBadAccess(const Status& status);

  Status status_;
  bool has_value_ = false;
  alignas(T) unsigned char storage_[sizeof(T)];
};

namespace internal {
[[noreturn]] WEIGHTLESS_EXPORT void AbortWithStatus(const char* what, const Status& status);
}  // namespace internal

template <typename T>
void Result<T>::AbortOnBadAccess(const Status& status) {
  internal::AbortWithStatus("Result::value() called on an error", status);
}

}  // namespace weightless

#endif  // WEIGHTLESS_STATUS_H_
