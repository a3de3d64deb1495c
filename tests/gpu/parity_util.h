// Shared pieces of the CUDA-vs-CPU parity tests: a fixture that opens a
// device (or skips with "skipped: no GPU"), device copies of host vectors,
// random data, and the error measure.
//
// Error measure: for a CUDA result g and the CPU result c of the same fp32
// computation, max_i |g_i - c_i| / max_i |c_i| (the infinity-norm relative
// error). A per-element ratio would be dominated by entries that cancel to
// near zero (Dice's centred gradient, a GRU gate at saturation), where both
// sides are correct but the ratio is noise. The bound, 1e-4, is ~1000 float
// ulps: far above the reordering of sums and the exp/tanh differences
// (cuda_layers.h), far below any indexing or algebra mistake, which shows
// up at O(1).
#ifndef DIPS_TESTS_GPU_PARITY_UTIL_H_
#define DIPS_TESTS_GPU_PARITY_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "worker/model/cuda/cuda_layers.h"

namespace dips {
namespace gpu_test {

using Vec = std::vector<float>;
constexpr double kMaxRelativeError = 1e-4;

inline double RelativeError(const Vec& gpu, const Vec& cpu) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(gpu[i]) - cpu[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(cpu[i])));
  }
  if (scale == 0.0) return diff;  // both should be exactly zero
  return diff / scale;
}

class CudaParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<cuda::CudaContext>> ctx = cuda::CudaContext::Create(0);
    if (!ctx.ok()) {
      std::printf("skipped: no GPU (%s)\n", ctx.status().ToString().c_str());
      GTEST_SKIP() << "skipped: no GPU";
    }
    ctx_ = std::move(ctx).value();
  }

  void TearDown() override {
    if (ctx_ != nullptr) {
      EXPECT_TRUE(ctx_->Synchronize().ok()) << ctx_->status().ToString();
    }
  }

  // A device copy of v (kept until the test ends). Empty vectors get a
  // one-element buffer so the pointer is still valid.
  template <typename T>
  T* Upload(const std::vector<T>& v) {
    cuda::DeviceBuffer<T> buf;
    EXPECT_TRUE(buf.Grow(std::max<size_t>(1, v.size()), ctx_.get()));
    EXPECT_TRUE(cuda::CopyToDevice(buf.data(), v.data(), v.size(), ctx_.get()).ok());
    T* p = buf.data();
    Keep(std::move(buf));
    return p;
  }

  Vec Download(const float* d, size_t n) {
    Vec v(n);
    const Status s = cuda::CopyToHost(v.data(), d, n, ctx_.get());
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }

  Vec Random(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    Vec v(n);
    for (float& x : v) x = dist(rng_);
    return v;
  }

  int RandomInt(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // Sequence lengths in [0, length] with at least one full-length row, and
  // the matching [batch x length] mask.
  std::vector<int32_t> RandomLengths(int batch, int length) {
    std::vector<int32_t> lengths(batch);
    for (int32_t& l : lengths) l = RandomInt(0, length);
    lengths[RandomInt(0, batch - 1)] = length;
    return lengths;
  }
  static Vec MaskOf(const std::vector<int32_t>& lengths, int length) {
    Vec mask(lengths.size() * length, 0.0f);
    for (size_t b = 0; b < lengths.size(); ++b) {
      std::fill(mask.begin() + b * length, mask.begin() + b * length + lengths[b], 1.0f);
    }
    return mask;
  }

  void ExpectParity(const std::string& what, const float* device, const Vec& cpu) {
    const double err = RelativeError(Download(device, cpu.size()), cpu);
    EXPECT_LT(err, kMaxRelativeError) << what;
  }

  std::unique_ptr<cuda::CudaContext> ctx_;
  std::mt19937 rng_{20240611};

 private:
  void Keep(cuda::DeviceBuffer<float>&& b) { floats_.push_back(std::move(b)); }
  void Keep(cuda::DeviceBuffer<int32_t>&& b) { ints_.push_back(std::move(b)); }

  std::vector<cuda::DeviceBuffer<float>> floats_;
  std::vector<cuda::DeviceBuffer<int32_t>> ints_;
};

}  // namespace gpu_test
}  // namespace dips

#endif  // DIPS_TESTS_GPU_PARITY_UTIL_H_
