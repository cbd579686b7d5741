// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// Library errors as Python exceptions. A non-OK weightless::Status becomes an instance
// of the weightless.Error subclass for its code (CorruptionError, NotFoundError, ...)
// whose str() is the library's message and whose attributes say what failed:
// `code` ("corruption", ...), `file_error` (the FileErrorName, e.g. "section_checksum",
// or None) and `message`.

#ifndef WEIGHTLESS_BINDINGS_PYTHON_ERRORS_H_
#define WEIGHTLESS_BINDINGS_PYTHON_ERRORS_H_

#include <pybind11/pybind11.h>

#include <exception>
#include <string>
#include <utility>

#include "weightless/status.h"

namespace weightless {
namespace python {

// Carries a non-OK Status from binding code to the exception translator. May be
// thrown with or without the GIL held.
class StatusError : public std::exception {
 public:
  explicit StatusError(Status status);
  const Status& status() const { return status_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  Status status_;
  std::string what_;
};

// Throws StatusError when `status` is not OK.
inline void ThrowIfError(const Status& status) {
  if (!status.ok()) throw StatusError(status);
}

// The value of `result`, or throws StatusError with its error.
template <typename T>
T ValueOrThrow(Result<T> result) {
  ThrowIfError(result.status());
  return std::move(result).value();
}

// Creates weightless.Error and its subclasses in `m` and registers the translator
// that raises them for StatusError.
void RegisterErrors(pybind11::module_& m);

}  // namespace python
}  // namespace weightless

#endif  // WEIGHTLESS_BINDINGS_PYTHON_ERRORS_H_
