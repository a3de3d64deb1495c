// SparseTable::Create, option checks and the deterministic row initialiser.
#include "ps/sparse_table.h"

#include <cmath>
#include <string>

#include "common/feature_key.h"
#include "ps/memory_table.h"

namespace dips {

Status ValidateSparseTableOptions(const SparseTableOptions& options) {
  if (options.dim < 1 || options.dim > kMaxSparseDim) {
    return InvalidArgumentError("sparse table dim out of range: " +
                                std::to_string(options.dim));
  }
  const int s = options.num_stripes;
  if (s < 1 || s > 65536 || (s & (s - 1)) != 0) {
    return InvalidArgumentError("sparse table num_stripes must be a power of two in "
                                "[1, 65536]: " + std::to_string(s));
  }
  if (!std::isfinite(options.init_scale) || options.init_scale < 0) {
    return InvalidArgumentError("sparse table init_scale out of range: " +
                                std::to_string(options.init_scale));
  }
  if (options.admit_after < 1 || options.admit_after > 255) {
    return InvalidArgumentError("sparse table admit_after must be in [1, 255]: " +
                                std::to_string(options.admit_after));
  }
  if (options.admit_after > 1 &&
      options.admission_counters < 64 * static_cast<size_t>(options.num_stripes)) {
    return InvalidArgumentError("sparse table admission_counters must be at least 64 per "
                                "stripe: " + std::to_string(options.admission_counters));
  }
  return ValidateSparseOptimizerOptions(options.optimizer);
}

StatusOr<std::unique_ptr<SparseTable>> SparseTable::Create(const SparseTableOptions& options) {
  RETURN_IF_ERROR(ValidateSparseTableOptions(options));
  return std::unique_ptr<SparseTable>(new MemorySparseTable(options));
}

void InitialRowValues(const SparseTableOptions& options, uint64_t key, float* weights) {
  // A SplitMix64 stream per key: the weight i draws
  // Mix64(base + (i + 1) * golden), base = Mix64(key ^ Mix64(init_seed)).
  // Its top 24 bits r give u = r / 2^23 - 1 in [-1, 1) exactly in float.
  constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
  const uint64_t base = Mix64(key ^ Mix64(options.init_seed));
  for (int i = 0; i < options.dim; ++i) {
    const uint64_t r = Mix64(base + static_cast<uint64_t>(i + 1) * kGolden) >> 40;
    const float u = static_cast<float>(r) * (1.0f / 8388608.0f) - 1.0f;
    weights[i] = u * options.init_scale;
  }
}

}  // namespace dips
