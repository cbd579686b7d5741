// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// The parts of the weightless Python module, each adding its classes and functions
// to the module (module.cc calls them in order).

#ifndef WEIGHTLESS_BINDINGS_PYTHON_BINDINGS_H_
#define WEIGHTLESS_BINDINGS_PYTHON_BINDINGS_H_

#include <pybind11/pybind11.h>

namespace weightless {
namespace python {

// weightless.open, weightless.open_bytes, File and Tensor (file.cc).
void BindReading(pybind11::module_& m);
// weightless.encode, EncodedLayer and Writer (writer.cc).
void BindWriting(pybind11::module_& m);
// weightless.prune_by_magnitude and weightless.share_weights (simplify.cc).
void BindSimplify(pybind11::module_& m);

}  // namespace python
}  // namespace weightless

#endif  // WEIGHTLESS_BINDINGS_PYTHON_BINDINGS_H_
