// Row-major matrix product through CBLAS, for float (training) and double
// (finite-difference tests): C = alpha * op(A) * op(B) + beta * C, where
// op(A) is M x K and op(B) is K x N.
#ifndef DIPS_WORKER_MODEL_LAYERS_GEMM_H_
#define DIPS_WORKER_MODEL_LAYERS_GEMM_H_

#include <cblas.h>

namespace dips {

inline void Gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc) {
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

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_GEMM_H_
