// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The compiled part of the Python package `weightless` (weightless/_weightless*.so),
// which binds the public C++ API; weightless/__init__.py re-exports it.

#include <pybind11/pybind11.h>

#include "bindings.h"
#include "errors.h"
#include "weightless/version.h"

namespace py = pybind11;

PYBIND11_MODULE(_weightless, m) {
  m.doc() = "Weightless: neural-network weights stored with lossy retrieval-table encoding.";
  m.attr("__version__") = WEIGHTLESS_VERSION_STRING;
  m.def(
      "library_version", [] { return weightless::VersionString(); },
      "The version of the C++ library linked into this module.");
  weightless::python::RegisterErrors(m);
  weightless::python::BindReading(m);
  weightless::python::BindWriting(m);
  weightless::python::BindSimplify(m);
}
