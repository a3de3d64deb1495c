// The model's GEMM shapes (DIEN at batch 128, history 50; forward and
// backward) through DIPS's float Gemm (worker/model/layers/gemm.h: libxsmm's
// JIT kernels where it takes the shape) next to OpenBLAS's cblas_sgemm, on one
// thread, as the training replicas call them. Prints GFLOP/s of both, their
// ratio, and the large-sgemm single-thread peak measured in the same run
// under each OpenBLAS kernel set this CPU runs (bench/sgemm_peak.h). The
// OpenBLAS column is whatever kernels this process got: run it as is (the
// machines' environment sets OPENBLAS_CORETYPE=Haswell: AVX2) and with
// `env -u OPENBLAS_CORETYPE` or another OPENBLAS_CORETYPE to compare.
#include <cblas.h>
#include <gflags/gflags.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/call_rate.h"
#include "bench/sgemm_peak.h"
#include "worker/model/layers/gemm.h"

DEFINE_double(min_seconds, 0.1, "minimum duration of one timed trial");
DEFINE_int32(trials, 5, "trials per path, alternating; the best is reported");

namespace dips {
namespace {

struct Shape {
  const char* what;
  bool trans_a, trans_b;
  int m, n, k;
};

void Run(const std::string& self_path) {
  openblas_set_num_threads(1);  // as in training: one BLAS thread per replica
  const Shape shapes[] = {
      {"GRU input projection", false, false, 6400, 108, 36},
      {"GRU step", false, false, 128, 108, 36},
      {"GRU step backward (U^T)", false, true, 128, 36, 108},
      {"GRU input gradient", false, true, 6400, 36, 108},
      {"GRU weight gradient", true, false, 36, 108, 6400},
      {"attention layer 1", false, false, 6400, 80, 72},
      {"attention layer 2", false, false, 6400, 40, 80},
      {"attention layer 1 backward", false, true, 6400, 72, 80},
      {"attention weight gradient", true, false, 72, 80, 6400},
      {"aux MLP layer 1", false, false, 12800, 100, 72},
      {"head layer 1", false, false, 128, 200, 90},
      // With a shop field and three profile/context fields (the synthetic
      // data): x = [v_A, s, v_A*s, u, extras] has 270 columns.
      {"head layer 1, wide input", false, false, 128, 200, 270},
      {"head layer 1 input gradient", false, true, 128, 270, 200},
      {"head layer 1 weight gradient", true, false, 270, 200, 128},
  };
  std::printf("float Gemm path: %s\n",
              SmallGemmAvailable() ? "libxsmm JIT where it applies, else OpenBLAS" : "OpenBLAS");
  std::printf("%-28s %-2s %6s %4s %5s | %9s %9s %6s\n", "shape", "op", "M", "N", "K",
              "OpenBLAS", "DIPS Gemm", "ratio");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const Shape& s : shapes) {
    std::vector<float> a(static_cast<size_t>(s.m) * s.k), b(static_cast<size_t>(s.k) * s.n);
    std::vector<float> c(static_cast<size_t>(s.m) * s.n);
    for (float& x : a) x = u(rng);
    for (float& x : b) x = u(rng);
    const int lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n;
    auto blas = [&] {
      cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                  s.trans_b ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f, a.data(), lda,
                  b.data(), ldb, 1.0f, c.data(), s.n);
    };
    auto ours = [&] {
      Gemm(s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 1.0f,
           c.data(), s.n);
    };
    double best_blas = 0, best_ours = 0;
    for (int t = 0; t < FLAGS_trials; ++t) {
      best_blas = std::max(best_blas, CallRate(blas, FLAGS_min_seconds));
      best_ours = std::max(best_ours, CallRate(ours, FLAGS_min_seconds));
    }
    const double gflop = 2.0 * s.m * s.n * s.k / 1e9;
    std::printf("%-28s %c%c %6d %4d %5d | %9.1f %9.1f %6.2f\n", s.what, s.trans_a ? 'T' : 'N',
                s.trans_b ? 'T' : 'N', s.m, s.n, s.k, best_blas * gflop, best_ours * gflop,
                best_ours / best_blas);
  }
  PrintSgemmPeak(MeasureSgemmPeak(self_path, 1), 1);
}

}  // namespace
}  // namespace dips

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  dips::Run(argv[0]);
  return 0;
}
