// sgemm_peak THREADS: prints "<OpenBLAS core> <GFLOP/s>", the best of five
// cblas_sgemm calls at n = 2048 with THREADS OpenBLAS threads, under whatever
// kernels OpenBLAS picked for this process (see bench/sgemm_peak.h).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

extern "C" char* openblas_get_corename(void);

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  if (threads < 1) {
    std::fprintf(stderr, "usage: sgemm_peak THREADS\n");
    return 2;
  }
  openblas_set_num_threads(threads);
  const int n = 2048;
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                n, 0.0f, c.data(), n);
    const std::chrono::duration<double> s = std::chrono::steady_clock::now() - start;
    best = std::max(best, 2.0 * n * n * static_cast<double>(n) / s.count() / 1e9);
  }
  std::printf("%s %.3f\n", openblas_get_corename(), best);
  return 0;
}
