// Row-major matrix product, for float (training) and double (finite-
// difference tests): C = alpha * op(A) * op(B) + beta * C, where op(A) is
// M x K and op(B) is K x N.
//
// Double always goes to CBLAS (OpenBLAS). Float goes to libxsmm's JIT
// kernels when the build has libxsmm (DIPS_HAVE_LIBXSMM) and the product is
// one of this model's small shapes, and to CBLAS otherwise: at these shapes
// OpenBLAS spends much of its time packing, and under the AVX2 kernels that
// OPENBLAS_CORETYPE=Haswell selects it reaches about half of what libxsmm's
// AVX-512 kernels do (docs/results.md, "Small-GEMM kernels"). Both give the
// same product up to float rounding (the summation order differs).
#ifndef DIPS_WORKER_MODEL_LAYERS_GEMM_H_
#define DIPS_WORKER_MODEL_LAYERS_GEMM_H_

#include <cblas.h>

#include <cstddef>

namespace dips {

// The libxsmm path: true when it computed C, false when the shape, alpha or
// beta is not one it handles (or the build has no libxsmm), and the caller
// must use CBLAS. Thread-safe.
bool SmallGemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
               int lda, const float* b, int ldb, float beta, float* c, int ldc);

// Whether SmallGemm can ever run in this build (for benchmarks' reports).
bool SmallGemmAvailable();

// JIT kernels libxsmm holds in this process (0 without libxsmm): each costs
// a compile and some 12 KB of code, so the count must stay bounded however
// the batches' shapes vary.
long SmallGemmKernelCount();

inline void Gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc) {
  if (SmallGemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}

inline void Gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha,
                 const double* a, int lda, const double* b, int ldb,
                 double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}

// dst [cols x rows] = src [rows x cols] transposed: a weight matrix read as
// B^T by every block or step of a layer's backward is transposed once, and
// the products run as A B.
template <typename T>
void Transpose(T* dst, const T* src, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      dst[static_cast<size_t>(c) * rows + r] = src[static_cast<size_t>(r) * cols + c];
    }
  }
}

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_GEMM_H_
