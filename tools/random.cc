#include "tools/random.h"

#include <cmath>

#include <glog/logging.h>

namespace dips {

ZipfSampler::ZipfSampler(size_t n, double exponent) {
  CHECK_GT(n, 0u) << "ZipfSampler over an empty range";
  cdf_.resize(n);
  double sum = 0.0;
  for (size_t r = 0; r < n; ++r) {
    sum += std::pow(static_cast<double>(r + 1), -exponent);
    cdf_[r] = sum;
  }
}

double ZipfSampler::Probability(size_t rank) const {
  double prev = rank == 0 ? 0.0 : cdf_[rank - 1];
  return (cdf_[rank] - prev) / cdf_.back();
}

}  // namespace dips
