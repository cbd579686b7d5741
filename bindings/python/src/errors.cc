// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.

#include "errors.h"

#include <string_view>

#include "weightless/format.h"

namespace py = pybind11;

namespace weightless {
namespace python {
namespace {

// One Python class per StatusCode, indexed by its numeric value; created once by
// RegisterErrors and alive as long as the interpreter (the module holds them too).
constexpr int kCodeCount = static_cast<int>(StatusCode::kInternal) + 1;
PyObject* error_classes[kCodeCount] = {};

struct ErrorClass {
  StatusCode code;
  const char* name;      // the class name in the module
  PyObject* extra_base;  // a built-in exception it also derives from, or null
  const char* doc;
};

// Stable identifiers of the status codes, as Python sees them in `Error.code`.
const char* CodeId(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kNotSupported:
      return "not_supported";
    case StatusCode::kIOError:
      return "io_error";
    case StatusCode::kOutOfRange:
      return "out_of_range";
    case StatusCode::kBuildFailed:
      return "build_failed";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

void RaiseStatus(const Status& status) {
  int index = static_cast<int>(status.code());
  if (index <= 0 || index >= kCodeCount || error_classes[index] == nullptr) index = 0;
  PyObject* cls = error_classes[index];
  const std::string message(status.message());
  py::object exc = py::reinterpret_borrow<py::object>(cls)(message);
  exc.attr("code") = CodeId(status.code());
  exc.attr("message") = message;
  py::object file_error = py::none();
  if (status.detail() != 0) {
    const std::string_view name = FileErrorName(static_cast<FileError>(status.detail()));
    if (name != "unknown") file_error = py::str(name.data(), name.size());
  }
  exc.attr("file_error") = file_error;
  PyErr_SetObject(cls, exc.ptr());
}

PyObject* NewClass(py::module_& m, const char* name, const char* doc, PyObject* bases) {
  const std::string qualified = std::string("weightless.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(cls));
  return cls;
}

}  // namespace

StatusError::StatusError(Status status) : status_(std::move(status)), what_(status_.ToString()) {}

void RegisterErrors(py::module_& m) {
  // The base class takes slot 0 (kOk never raises): it also stands for unknown codes.
  PyObject* base =
      NewClass(m, "Error",
               "Base class of every error the Weightless library reports.\n\n"
               "str(e) is the library's message, which names the tensor, field or byte "
               "offset at fault.\n"
               "Attributes: code (e.g. 'corruption'), file_error (what exactly is wrong "
               "with a file, e.g. 'section_checksum', else None), message.",
               PyExc_RuntimeError);
  error_classes[0] = base;

  const ErrorClass classes[] = {
      {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
       "An argument outside what the function accepts (also a ValueError)."},
      {StatusCode::kNotFound, "NotFoundError", PyExc_LookupError,
       "A named tensor, layer or key does not exist (also a LookupError)."},
      {StatusCode::kCorruption, "CorruptionError", nullptr,
       "Stored bytes are damaged or inconsistent; file_error says how."},
      {StatusCode::kNotSupported, "NotSupportedError", nullptr,
       "The input needs a format version, feature or codec this build does not implement."},
      {StatusCode::kIOError, "FileIOError", PyExc_OSError,
       "The operating system failed an open, read, write, sync or rename (also an OSError)."},
      {StatusCode::kOutOfRange, "OutOfRangeError", PyExc_ValueError,
       "A size, count or index beyond a limit of the format (also a ValueError)."},
      {StatusCode::kBuildFailed, "BuildFailedError", nullptr,
       "A retrieval table could not be built within its retry budget."},
      {StatusCode::kInternal, "InternalError", nullptr,
       "A broken invariant inside the library: always a bug, please report it."},
  };
  for (const ErrorClass& c : classes) {
    py::tuple bases = c.extra_base ? py::make_tuple(py::handle(base), py::handle(c.extra_base))
                                   : py::make_tuple(py::handle(base));
    error_classes[static_cast<int>(c.code)] = NewClass(m, c.name, c.doc, bases.ptr());
  }

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      RaiseStatus(e.status());
    }
  });
}

}  // namespace python
}  // namespace weightless
