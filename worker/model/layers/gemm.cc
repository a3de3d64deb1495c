#include "worker/model/layers/gemm.h"

#ifdef DIPS_HAVE_LIBXSMM
#include <libxsmm.h>

#include <algorithm>
#include <cstdlib>
#include <vector>
#endif

namespace dips {

#ifdef DIPS_HAVE_LIBXSMM
namespace {

// libxsmm is column-major; a row-major C = op(A) op(B) is the column-major
// C^T = op(B)^T op(A)^T, so B comes first and the roles of m and n swap.
// Its JIT kernels (1.17) take alpha = 1, beta 0 or 1, and transpose only the
// second operand, which here is A: so NN and TN run directly, NT after
// transposing B (a weight matrix, small), and TT never occurs.
constexpr int kMaxSide = 512;  // larger N or K: left to OpenBLAS (not measured)
constexpr int kRowBlock = 64;  // rows of C per kernel call (NN)
constexpr int kDepthBlock = 256;  // terms of the sum per kernel call (TN)

libxsmm_smmfunction Dispatch(int m, int n, int k, int lda, int ldb, int ldc, float beta,
                             bool trans_b) {
  const float alpha = 1.0f;
  const int flags = trans_b ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
  return libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, nullptr);
}

// Row-major NN: C[m x n] (+)= A[m x k] B[k x n], in blocks of rows.
bool RowMajorNN(int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                float beta, float* c, int ldc) {
  const int rows = std::min(m, kRowBlock);
  libxsmm_smmfunction kernel = Dispatch(n, rows, k, ldb, lda, ldc, beta, false);
  const int tail_rows = m % rows;
  libxsmm_smmfunction tail =
      tail_rows == 0 ? nullptr : Dispatch(n, tail_rows, k, ldb, lda, ldc, beta, false);
  if (kernel == nullptr || (tail_rows != 0 && tail == nullptr)) return false;
  int i = 0;
  for (; i + rows <= m; i += rows) {
    kernel(b, a + static_cast<size_t>(i) * lda, c + static_cast<size_t>(i) * ldc);
  }
  if (i < m) tail(b, a + static_cast<size_t>(i) * lda, c + static_cast<size_t>(i) * ldc);
  return true;
}

// Row-major TN: C[m x n] (+)= A^T B with A [k x m] and B [k x n]. k is the
// batch's position count and differs from batch to batch; one kernel per k
// JIT-compiled about one new kernel per batch (1,465 in an 800-step DIN run,
// each with its own mprotect calls). So the sum over k runs in blocks of
// kDepthBlock and the remainder in power-of-two pieces, largest first: a
// handful of kernel shapes per (m, n), whatever the batch. Every kernel is
// dispatched before C is touched, so a false return leaves C as it was.
bool RowMajorTN(int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                float beta, float* c, int ldc) {
  std::vector<int> depths;  // the pieces of the sum, in order
  for (int left = k; left > 0;) {
    int depth = kDepthBlock;
    while (depth > left) depth /= 2;
    depths.push_back(depth);
    left -= depth;
  }
  thread_local std::vector<libxsmm_smmfunction> kernels;
  kernels.clear();
  for (size_t i = 0; i < depths.size(); ++i) {
    kernels.push_back(Dispatch(n, m, depths[i], ldb, lda, ldc, i == 0 ? beta : 1.0f,
                               /*trans_b=*/true));
    if (kernels.back() == nullptr) return false;
  }
  size_t p = 0;
  for (size_t i = 0; i < depths.size(); ++i) {
    kernels[i](b + p * ldb, a + p * lda, c);
    p += depths[i];
  }
  return true;
}

}  // namespace

bool SmallGemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
               int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (alpha != 1.0f || (beta != 0.0f && beta != 1.0f)) return false;
  if (m < 1 || n < 1 || k < 1 || n > kMaxSide || (trans_a && trans_b)) return false;
  if (trans_a) {
    // C[m x n] (+)= A^T B with A [k x m] and B [k x n]: the weight gradients,
    // a long sum over k (every position of the batch).
    if (m > kMaxSide) return false;
    return RowMajorTN(m, n, k, a, lda, b, ldb, beta, c, ldc);
  }
  if (k > kMaxSide) return false;
  if (!trans_b) return RowMajorNN(m, n, k, a, lda, b, ldb, beta, c, ldc);
  // C (+)= A B^T with B [n x k]: transpose B once into [k x n].
  thread_local std::vector<float> transposed;
  transposed.resize(static_cast<size_t>(k) * n);
  for (int j = 0; j < n; ++j) {
    const float* row = b + static_cast<size_t>(j) * ldb;
    for (int p = 0; p < k; ++p) transposed[static_cast<size_t>(p) * n + j] = row[p];
  }
  return RowMajorNN(m, n, k, a, lda, transposed.data(), n, beta, c, ldc);
}

bool SmallGemmAvailable() { return true; }

long SmallGemmKernelCount() {
  libxsmm_registry_info info;
  if (libxsmm_get_registry_info(&info) != EXIT_SUCCESS) return 0;
  return static_cast<long>(info.size);
}

#else  // no libxsmm: every product goes to CBLAS

bool SmallGemm(bool, bool, int, int, int, float, const float*, int, const float*, int, float,
               float*, int) {
  return false;
}

bool SmallGemmAvailable() { return false; }

long SmallGemmKernelCount() { return 0; }

#endif

}  // namespace dips
