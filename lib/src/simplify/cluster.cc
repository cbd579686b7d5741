// Copyright (c) the Weightless authors. Licensed under the Apache License 2.0.
//
// 1-D clustering for weight sharing: Lloyd's k-means with linear initialisation, and
// the exact optimum by dynamic programming (the Ckmeans.1d.dp recurrence of Wang & Song,
// 2011, with divide-and-conquer optimisation of the monotone argmin).

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "common/name_table.h"
#include "weightless/simplify.h"

namespace weightless {

namespace {

// Distinct sorted values with multiplicities; values are centred on their mean so that
// the prefix sums of squares lose as little precision as possible.
struct Histogram {
  std::vector<double> value;  // ascending, centred
  std::vector<float> raw;     // the same values as given
  std::vector<double> count;
  double mean = 0;
};

Histogram MakeHistogram(const float* values, size_t n) {
  std::vector<float> sorted(values, values + n);
  std::sort(sorted.begin(), sorted.end());
  Histogram h;
  double sum = 0;
  for (float v : sorted) sum += v;
  h.mean = n ? sum / static_cast<double>(n) : 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && sorted[j] == sorted[i]) ++j;
    h.value.push_back(static_cast<double>(sorted[i]) - h.mean);
    h.raw.push_back(sorted[i]);
    h.count.push_back(static_cast<double>(j - i));
    i = j;
  }
  return h;
}

// Squared error of one cluster holding distinct values [i, j] (inclusive).
struct SegmentCost {
  std::vector<double> s0, s1, s2;  // prefix sums of count, count*v, count*v^2
  explicit SegmentCost(const Histogram& h) : s0(h.value.size() + 1), s1(s0.size()), s2(s0.size()) {
    for (size_t i = 0; i < h.value.size(); ++i) {
      s0[i + 1] = s0[i] + h.count[i];
      s1[i + 1] = s1[i] + h.count[i] * h.value[i];
      s2[i + 1] = s2[i] + h.count[i] * h.value[i] * h.value[i];
    }
  }
  double operator()(size_t i, size_t j) const {
    const double c = s0[j + 1] - s0[i], a = s1[j + 1] - s1[i], b = s2[j + 1] - s2[i];
    return std::max(0.0, b - a * a / c);
  }
};

// cluster_of[d] for each distinct value d (0-based cluster), and centres (not centred).
void OptimalClusters(const Histogram& h, size_t k, std::vector<uint32_t>* cluster_of,
                     std::vector<double>* centres) {
  const size_t d = h.value.size();
  const SegmentCost cost(h);
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> prev(d), cur(d);
  // first[c][j]: index of the first distinct value of cluster c when clusters 0..c hold
  // values 0..j optimally.
  std::vector<std::vector<uint32_t>> first(k, std::vector<uint32_t>(d, 0));
  for (size_t j = 0; j < d; ++j) prev[j] = cost(0, j);
  for (size_t c = 1; c < k; ++c) {
    std::fill(cur.begin(), cur.end(), inf);
    // cur[j] = min over i in [c, j] of prev[i - 1] + cost(i, j); the best i is monotone
    // in j, so divide and conquer over j.
    struct Range {
      size_t lo, hi, opt_lo, opt_hi;
    };
    std::vector<Range> stack{{c, d - 1, c, d - 1}};
    while (!stack.empty()) {
      const Range r = stack.back();
      stack.pop_back();
      if (r.lo > r.hi) continue;
      const size_t mid = r.lo + (r.hi - r.lo) / 2;
      double best = inf;
      size_t best_i = r.opt_lo;
      for (size_t i = r.opt_lo; i <= std::min(mid, r.opt_hi); ++i) {
        const double v = prev[i - 1] + cost(i, mid);
        if (v < best) {
          best = v;
          best_i = i;
        }
      }
      cur[mid] = best;
      first[c][mid] = static_cast<uint32_t>(best_i);
      if (mid > r.lo) stack.push_back({r.lo, mid - 1, r.opt_lo, best_i});
      stack.push_back({mid + 1, r.hi, best_i, r.opt_hi});
    }
    std::swap(prev, cur);
  }
  // Backtrack from the last value.
  cluster_of->assign(d, 0);
  centres->assign(k, 0);
  size_t end = d - 1;
  for (size_t c = k; c-- > 0;) {
    const size_t begin = c == 0 ? 0 : first[c][end];
    for (size_t i = begin; i <= end; ++i) (*cluster_of)[i] = static_cast<uint32_t>(c);
    // The centre is the mean of the cluster's values as given, summed directly: the
    // centred prefix sums lose the low digits of values much smaller than the spread of
    // the whole set (a cluster of zeros got a centroid of 2e-16, and with values from
    // 1e-40 to 1e29 centroids were off by 1e12 and out of order).
    double sum = 0, members = 0;
    for (size_t i = begin; i <= end; ++i) {
      sum += h.count[i] * static_cast<double>(h.raw[i]);
      members += h.count[i];
    }
    (*centres)[c] = sum / members;
    if (c > 0) end = begin - 1;
  }
}

void LloydClusters(const Histogram& h, size_t k, int max_iterations,
                   std::vector<uint32_t>* cluster_of, std::vector<double>* centres) {
  const size_t d = h.value.size();
  centres->resize(k);
  const double lo = h.value.front(), hi = h.value.back();
  for (size_t c = 0; c < k; ++c) {
    (*centres)[c] = k == 1 ? (lo + hi) / 2 : lo + (hi - lo) * static_cast<double>(c) / (k - 1);
  }
  cluster_of->assign(d, 0);
  // Values and centres are both sorted, so assignment to the nearest centre is one
  // merge-like sweep. Returns whether any assignment changed.
  auto assign = [&]() {
    bool changed = false;
    size_t c = 0;
    for (size_t i = 0; i < d; ++i) {
      while (c + 1 < k &&
             std::fabs(h.value[i] - (*centres)[c + 1]) <= std::fabs(h.value[i] - (*centres)[c])) {
        ++c;
      }
      if ((*cluster_of)[i] != c) changed = true;
      (*cluster_of)[i] = static_cast<uint32_t>(c);
    }
    return changed;
  };
  assign();
  for (int iteration = 0; iteration < max_iterations; ++iteration) {
    std::vector<double> sum(k, 0), count(k, 0);
    for (size_t i = 0; i < d; ++i) {
      sum[(*cluster_of)[i]] += h.count[i] * h.value[i];
      count[(*cluster_of)[i]] += h.count[i];
    }
    for (size_t cc = 0; cc < k; ++cc) {
      if (count[cc] > 0) (*centres)[cc] = sum[cc] / count[cc];
    }
    if (!assign()) break;  // converged: centres are the means of their members
  }
  // Every value now sits with its nearest centre. When the iteration limit ended the
  // loop, the centres may not yet be exactly the means of their members.
  for (double& centre : *centres) centre += h.mean;  // not centred, as OptimalClusters'
}

}  // namespace

Result<Clustering> ShareWeights(const float* values, size_t n, uint32_t k, ClusterMethod method,
                                int max_iterations) {
  if (k < 1 || k > 65535) {
    return Status::InvalidArgument("k = " + std::to_string(k) + " clusters", "must be 1..65535");
  }
  if (n > 0 && values == nullptr) return Status::InvalidArgument("values is null");
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      return Status::InvalidArgument("value at index " + std::to_string(i) + " is not finite");
    }
  }
  if (max_iterations < 1) return Status::InvalidArgument("max_iterations must be >= 1");
  Clustering out;
  if (n == 0) {
    out.centroids = {0.0f};
    return out;
  }
  const Histogram h = MakeHistogram(values, n);
  const size_t clusters = std::min<size_t>(k, h.value.size());
  std::vector<uint32_t> cluster_of;
  std::vector<double> centres;
  if (method == ClusterMethod::kOptimal) {
    OptimalClusters(h, clusters, &cluster_of, &centres);
  } else {
    LloydClusters(h, clusters, max_iterations, &cluster_of, &centres);
  }
  // Drop empty clusters (possible with Lloyd) and number the rest 1..K in order.
  std::vector<double> members(clusters, 0);
  for (size_t i = 0; i < h.value.size(); ++i) members[cluster_of[i]] += h.count[i];
  std::vector<uint16_t> code_of_cluster(clusters, 0);
  for (size_t c = 0; c < clusters; ++c) {
    if (members[c] > 0) {
      out.centroids.push_back(static_cast<float>(centres[c]));
      code_of_cluster[c] = static_cast<uint16_t>(out.centroids.size());
    }
  }
  out.codes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(values[i]) - h.mean;
    const size_t d =
        static_cast<size_t>(std::lower_bound(h.value.begin(), h.value.end(), v) - h.value.begin());
    out.codes[i] = code_of_cluster[cluster_of[std::min(d, h.value.size() - 1)]];
    const double e = static_cast<double>(values[i]) - out.centroids[out.codes[i] - 1];
    out.squared_error += e * e;
  }
  return out;
}

Status RecomputeCentroids(const float* values, const uint16_t* codes, size_t n,
                          std::vector<float>* centroids) {
  const size_t k = centroids->size();
  std::vector<double> sum(k, 0), count(k, 0);
  for (size_t i = 0; i < n; ++i) {
    if (codes[i] < 1 || codes[i] > k) {
      return Status::InvalidArgument("code " + std::to_string(codes[i]) + " at index " +
                                     std::to_string(i) + " outside 1.." + std::to_string(k));
    }
    sum[codes[i] - 1] += values[i];
    count[codes[i] - 1] += 1;
  }
  for (size_t c = 0; c < k; ++c) {
    if (count[c] > 0) (*centroids)[c] = static_cast<float>(sum[c] / count[c]);
  }
  return Status::OK();
}

Status ApplyCentroidGradients(const float* gradients, const uint16_t* codes, size_t n,
                              float learning_rate, std::vector<float>* centroids) {
  const size_t k = centroids->size();
  std::vector<double> sum(k, 0);
  for (size_t i = 0; i < n; ++i) {
    if (codes[i] > k) {
      return Status::InvalidArgument("code " + std::to_string(codes[i]) + " at index " +
                                     std::to_string(i) + " outside 0.." + std::to_string(k));
    }
    if (codes[i] > 0) sum[codes[i] - 1] += gradients[i];
  }
  for (size_t c = 0; c < k; ++c) (*centroids)[c] -= static_cast<float>(learning_rate * sum[c]);
  return Status::OK();
}

namespace {
constexpr names::Entry<ClusterMethod> kClusterMethodNames[] = {
    {ClusterMethod::kOptimal, "optimal"},
    {ClusterMethod::kLinearKMeans, "linear"},
};
}  // namespace

const char* ClusterMethodName(ClusterMethod method) {
  return names::NameOf(kClusterMethodNames, method);
}

Result<ClusterMethod> ParseClusterMethod(std::string_view name) {
  return names::Parse(kClusterMethodNames, name, "cluster method");
}

}  // namespace weightless
