// The float GEMM's libxsmm path (worker/model/layers/gemm.h) against a
// double-precision reference, for every case the layers use: NN, A B^T and
// A^T B, beta 0 and 1, strided rows (the GRU's per-step products), sizes
// that are not multiples of the row block, and the cases that must fall
// back to CBLAS.
#include "worker/model/layers/gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace dips {
namespace {

struct Case {
  bool trans_a, trans_b;
  int m, n, k;
  int pad;  // extra elements per row of every operand (strided rows)
  float beta;
};

// Element (i, j) of op(X) for a row-major X with leading dimension ld.
float At(const std::vector<float>& x, int ld, bool trans, int i, int j) {
  return trans ? x[static_cast<size_t>(j) * ld + i] : x[static_cast<size_t>(i) * ld + j];
}

// Max |C - reference| over C's valid elements, relative to max |reference|;
// padding elements must be left untouched.
double RunCase(const Case& c, bool use_small, bool* ran_small) {
  std::mt19937 rng(c.m * 131 + c.n * 17 + c.k);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int a_rows = c.trans_a ? c.k : c.m, a_cols = c.trans_a ? c.m : c.k;
  const int b_rows = c.trans_b ? c.n : c.k, b_cols = c.trans_b ? c.k : c.n;
  const int lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  std::vector<float> a(static_cast<size_t>(a_rows) * lda), b(static_cast<size_t>(b_rows) * ldb);
  std::vector<float> out(static_cast<size_t>(c.m) * ldc);
  for (float& x : a) x = u(rng);
  for (float& x : b) x = u(rng);
  for (float& x : out) x = u(rng);
  const std::vector<float> before = out;
  if (use_small) {
    *ran_small = SmallGemm(c.trans_a, c.trans_b, c.m, c.n, c.k, 1.0f, a.data(), lda, b.data(),
                           ldb, c.beta, out.data(), ldc);
    if (!*ran_small) return 0.0;
  } else {
    Gemm(c.trans_a, c.trans_b, c.m, c.n, c.k, 1.0f, a.data(), lda, b.data(), ldb, c.beta,
         out.data(), ldc);
  }
  double worst = 0.0, scale = 0.0;
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < ldc; ++j) {
      const size_t at = static_cast<size_t>(i) * ldc + j;
      if (j >= c.n) {
        EXPECT_EQ(out[at], before[at]) << "padding written at row " << i << ", column " << j;
        continue;
      }
      double ref = c.beta * static_cast<double>(before[at]);
      for (int p = 0; p < c.k; ++p) {
        ref += static_cast<double>(At(a, lda, c.trans_a, i, p)) * At(b, ldb, c.trans_b, p, j);
      }
      worst = std::max(worst, std::fabs(out[at] - ref));
      scale = std::max(scale, std::fabs(ref));
    }
  }
  return worst / std::max(scale, 1e-30);
}

const Case kLayerCases[] = {
    {false, false, 6400, 108, 36, 0, 0.0f},  // GRU input projection
    {false, false, 128, 108, 36, 4000, 1.0f},  // GRU step: strided rows, accumulate
    {false, true, 128, 36, 108, 4000, 1.0f},   // GRU step backward (U^T)
    {true, false, 36, 108, 6400, 0, 1.0f},     // weight gradient, long sum
    {false, false, 1000, 80, 72, 3, 1.0f},     // attention layer 1, not a multiple of 64
    {false, true, 1000, 72, 80, 0, 0.0f},      // its input gradient
    {true, false, 72, 80, 1000, 5, 0.0f},      // its weight gradient
    {false, false, 7, 1, 40, 0, 0.0f},         // a score column
    {false, true, 65, 40, 1, 2, 0.0f},         // k = 1
    {false, false, 128, 200, 270, 0, 0.0f},    // head layer 1 with profile fields
    {false, true, 128, 270, 200, 0, 1.0f},     // its input gradient
    {true, false, 270, 200, 128, 0, 1.0f},     // its weight gradient
    {true, false, 72, 80, 1, 0, 1.0f},         // a sum of one term
    {true, false, 40, 1, 511, 1, 0.0f},        // a block and every smaller piece
};

TEST(GemmTest, SmallGemmMatchesADoubleReferenceOnTheLayersShapes) {
  if (!SmallGemmAvailable()) GTEST_SKIP() << "skipped: built without libxsmm";
  for (const Case& c : kLayerCases) {
    bool ran = false;
    const double err = RunCase(c, /*use_small=*/true, &ran);
    EXPECT_TRUE(ran) << "SmallGemm declined " << c.m << "x" << c.n << "x" << c.k;
    if (!ran) continue;
    std::printf("small %c%c %5d x %3d x %4d beta %.0f: max rel error %.2e\n",
                c.trans_a ? 'T' : 'N', c.trans_b ? 'T' : 'N', c.m, c.n, c.k, c.beta, err);
    EXPECT_LT(err, 1e-5);
  }
}

TEST(GemmTest, WeightGradientsOfEveryDepthShareAFewKernels) {
  if (!SmallGemmAvailable()) GTEST_SKIP() << "skipped: built without libxsmm";
  // A^T B sums over the batch's positions, a count that differs from batch
  // to batch: 400 different counts must not make 400 kernels.
  const int m = 72, n = 80, max_k = 1400;
  std::vector<float> a(static_cast<size_t>(max_k) * m, 0.5f), b(static_cast<size_t>(max_k) * n,
                                                                 0.25f);
  std::vector<float> c(static_cast<size_t>(m) * n);
  const long before = SmallGemmKernelCount();
  for (int k = 1000; k < max_k; ++k) {
    ASSERT_TRUE(SmallGemm(true, false, m, n, k, 1.0f, a.data(), m, b.data(), n, 0.0f, c.data(), n));
    ASSERT_FLOAT_EQ(c[0], 0.125f * k);
    ASSERT_FLOAT_EQ(c[static_cast<size_t>(m) * n - 1], 0.125f * k);
  }
  const long added = SmallGemmKernelCount() - before;
  std::printf("400 sums of different depth added %ld kernels\n", added);
  // Nine piece depths (256 down to 1), each with beta 0 (first piece) and 1.
  EXPECT_LE(added, 18);
  EXPECT_GT(added, 0);
}

TEST(GemmTest, GemmMatchesADoubleReferenceWhicheverPathItTakes) {
  for (const Case& c : kLayerCases) {
    bool unused = false;
    EXPECT_LT(RunCase(c, /*use_small=*/false, &unused), 1e-5) << c.m << "x" << c.n << "x" << c.k;
  }
}

TEST(GemmTest, SmallGemmDeclinesWhatItCannotDo) {
  std::vector<float> a(600 * 600, 1.0f), b(600 * 600, 1.0f), c(600 * 600, 0.0f);
  // alpha != 1, beta outside {0, 1}, both transposed, sides past 512, empty.
  EXPECT_FALSE(SmallGemm(false, false, 8, 8, 8, -1.0f, a.data(), 8, b.data(), 8, 0.0f, c.data(), 8));
  EXPECT_FALSE(SmallGemm(false, false, 8, 8, 8, 1.0f, a.data(), 8, b.data(), 8, 0.5f, c.data(), 8));
  EXPECT_FALSE(SmallGemm(true, true, 8, 8, 8, 1.0f, a.data(), 8, b.data(), 8, 0.0f, c.data(), 8));
  EXPECT_FALSE(
      SmallGemm(false, false, 8, 600, 8, 1.0f, a.data(), 8, b.data(), 600, 0.0f, c.data(), 600));
  EXPECT_FALSE(
      SmallGemm(false, false, 8, 8, 600, 1.0f, a.data(), 600, b.data(), 8, 0.0f, c.data(), 8));
  EXPECT_FALSE(SmallGemm(false, false, 0, 8, 8, 1.0f, a.data(), 8, b.data(), 8, 0.0f, c.data(), 8));
}

}  // namespace
}  // namespace dips
