// Finite-difference gradient checking in double precision.
//
// CheckGradient perturbs every element of `param` by +-h, re-evaluates the
// scalar `loss()` and compares the central difference with the analytic
// gradient `analytic` (same length). The relative error of one element is
//   |a - n| / max(|a| + |n|, floor)
// where the floor keeps elements whose true gradient is ~0 from dividing by
// ~0; it is reported, not hidden, through max_abs_error.
#ifndef DIPS_TESTS_LAYERS_GRADIENT_CHECK_H_
#define DIPS_TESTS_LAYERS_GRADIENT_CHECK_H_

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace dips {
namespace testing {

struct GradientCheckResult {
  double max_relative_error = 0.0;
  double max_abs_error = 0.0;
  size_t worst_index = 0;
  size_t checked = 0;
};

inline GradientCheckResult CheckGradient(const std::string& name,
                                         std::vector<double>* param,
                                         const std::vector<double>& analytic,
                                         const std::function<double()>& loss,
                                         double h = 1e-6, double floor = 1e-7) {
  GradientCheckResult r;
  for (size_t i = 0; i < param->size(); ++i) {
    const double saved = (*param)[i];
    (*param)[i] = saved + h;
    const double up = loss();
    (*param)[i] = saved - h;
    const double down = loss();
    (*param)[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double abs_err = std::fabs(numeric - analytic[i]);
    const double rel = abs_err / std::max(std::fabs(numeric) + std::fabs(analytic[i]), floor);
    if (rel > r.max_relative_error) {
      r.max_relative_error = rel;
      r.worst_index = i;
    }
    r.max_abs_error = std::max(r.max_abs_error, abs_err);
    ++r.checked;
  }
  std::printf("[gradcheck] %-40s n=%-6zu max_rel_err=%.3e max_abs_err=%.3e\n",
              name.c_str(), r.checked, r.max_relative_error, r.max_abs_error);
  return r;
}

inline std::vector<double> RandomVector(size_t n, std::mt19937_64* rng,
                                        double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(*rng);
  return v;
}

// A fixed random projection turns a layer's output tensor into a scalar
// loss sum_i c_i * y_i, so every output element is checked with a distinct
// weight (a plain sum would hide sign errors that cancel).
inline double Project(const std::vector<double>& coeffs, const double* y, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += coeffs[i] * y[i];
  return s;
}

}  // namespace testing
}  // namespace dips

#endif  // DIPS_TESTS_LAYERS_GRADIENT_CHECK_H_
