// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// weightless.prune_by_magnitude and weightless.share_weights: the library's magnitude
// pruning and weight sharing (exact 1-D k-means), the two simplification steps, for
// trainers that hold their weights outside the library (weightless.torch).

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>
#include <vector>

#include "bindings.h"
#include "errors.h"
#include "values.h"
#include "weightless/simplify.h"

namespace py = pybind11;

namespace weightless {
namespace python {
namespace {

py::array_t<uint8_t> PruneArray(const py::handle& weights, double keep) {
  // Read in place (no copy of a float32 array) into the output array: the mask's n
  // bytes are all the memory pruning takes, whatever the layer's size.
  const py::array_t<float, py::array::c_style> input = AsFloat32(weights);
  py::array_t<uint8_t> out(std::vector<py::ssize_t>(input.shape(), input.shape() + input.ndim()));
  const size_t n = static_cast<size_t>(input.size());
  Status s;
  {
    py::gil_scoped_release release;
    s = PruneByMagnitude(input.data(), n, keep, out.mutable_data());
  }
  ThrowIfError(s);
  return out;
}

py::tuple ShareArray(const py::handle& values, uint32_t clusters, const std::string& method) {
  const ClusterMethod cluster_method = ParseClusterMethod(method);
  const FloatInput input = CopyFloat32(values);
  Result<Clustering> clustering = Status::Internal("not clustered");
  {
    py::gil_scoped_release release;
    clustering = ShareWeights(input.values.data(), input.values.size(), clusters, cluster_method);
  }
  const Clustering c = ValueOrThrow(std::move(clustering));
  py::array_t<uint16_t> codes(ArrayShape(input.shape));
  if (!c.codes.empty()) {
    std::memcpy(codes.mutable_data(), c.codes.data(), c.codes.size() * sizeof(uint16_t));
  }
  return py::make_tuple(codes, FloatArray(c.centroids), c.squared_error);
}

}  // namespace

void BindSimplify(py::module_& m) {
  m.def("prune_by_magnitude", &PruneArray, py::arg("weights"), py::arg("keep"), R"doc(
Magnitude pruning: a uint8 mask of the weights' shape, 1 for the round(keep * n)
weights of largest magnitude and 0 elsewhere; ties go to the lower flat index, so the
mask is deterministic. Errors: keep outside [0, 1]; a NaN or infinite weight (named by
index). Reads a float32 C-contiguous array in place (other inputs are converted first)
and needs no memory besides the mask; the GIL is released.)doc");
  m.def("share_weights", &ShareArray, py::arg("values"), py::arg("clusters"),
        py::arg("method") = "optimal", R"doc(
Weight sharing: clusters the values (any shape, copied as float32) into at most
`clusters` centroids. Returns (codes, centroids, squared_error): codes a uint16 array
of the values' shape with code c in 1..K standing for centroids[c - 1], centroids the K
float32 values ascending, squared_error the sum of (value - its centroid)^2.
method: 'optimal' (exact 1-D k-means by dynamic programming) or 'linear' (Lloyd's
k-means, linear initialisation). Deterministic. Errors: clusters outside 1..65535; a
NaN or infinite value (named by index). The GIL is released.)doc");
}

}  // namespace python
}  // namespace weightless
