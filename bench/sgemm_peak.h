// The machine's single-precision GEMM peak, as the benchmarks compare
// against it: OpenBLAS's cblas_sgemm at n = 2048, best of five, under every
// kernel set of OpenBLAS's that this CPU can run, each in its own process
// (OpenBLAS picks its kernels once, when it is loaded). The peak is the best
// of them: OpenBLAS's own detection may not know a CPU (it falls back to
// SSE3 "Prescott" kernels on some Xeons under virtualisation), and the
// machines' environment pins the AVX2 ones (OPENBLAS_CORETYPE=Haswell); a
// limit taken from either would flatter the model. The environment of the
// benchmark itself is left as it is.
#ifndef DIPS_BENCH_SGEMM_PEAK_H_
#define DIPS_BENCH_SGEMM_PEAK_H_

#include <string>
#include <vector>

namespace dips {

struct SgemmReading {
  std::string kernels;  // "environment", "own detection", or an OPENBLAS_CORETYPE value
  std::string core;     // the core OpenBLAS reports it used ("Haswell", "Prescott", ...)
  double gflops = 0;    // 0: the process failed
};

struct SgemmPeak {
  std::vector<SgemmReading> readings;
  double gflops = 0;  // the best reading
  std::string best;   // its kernels
};

// Runs the `sgemm_peak` program that sits beside `self_path` (a benchmark's
// argv[0]) once per kernel set with `threads` OpenBLAS threads.
SgemmPeak MeasureSgemmPeak(const std::string& self_path, int threads);

// One line per reading, then the peak, for a benchmark's output.
void PrintSgemmPeak(const SgemmPeak& peak, int threads);

}  // namespace dips

#endif  // DIPS_BENCH_SGEMM_PEAK_H_
