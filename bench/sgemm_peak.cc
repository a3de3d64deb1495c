#include "bench/sgemm_peak.h"

#include <stdio.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace dips {
namespace {

// The CPU's feature flags, from /proc/cpuinfo's first "flags" line.
std::string CpuFlags() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) return " " + line.substr(line.find(':') + 1) + " ";
  }
  return "";
}

bool HasAll(const std::string& flags, std::initializer_list<const char*> wanted) {
  for (const char* w : wanted) {
    if (flags.find(std::string(" ") + w + " ") == std::string::npos) return false;
  }
  return true;
}

// The OPENBLAS_CORETYPE values worth measuring on this CPU: the x86-64
// kernel sets with AVX2 or AVX-512 whose instructions it has.
std::vector<std::string> CoreTypes() {
  const std::string flags = CpuFlags();
  std::vector<std::string> types;
  if (HasAll(flags, {"avx2", "fma"})) types.push_back("Haswell");
  const bool avx512 = HasAll(flags, {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"});
  if (avx512) types.push_back("SkylakeX");
  if (avx512 && HasAll(flags, {"avx512_bf16"})) types.push_back("Cooperlake");
  return types;
}

// Runs `command` and reads "<core> <GFLOP/s>" from its output.
SgemmReading Run(const std::string& kernels, const std::string& command) {
  SgemmReading reading{kernels, "", 0};
  FILE* out = popen(command.c_str(), "r");
  if (out == nullptr) return reading;
  char core[64] = {0};
  double gflops = 0;
  if (std::fscanf(out, "%63s %lf", core, &gflops) == 2) {
    reading.core = core;
    reading.gflops = gflops;
  }
  if (pclose(out) != 0) reading.gflops = 0;
  return reading;
}

}  // namespace

SgemmPeak MeasureSgemmPeak(const std::string& self_path, int threads) {
  const size_t slash = self_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : self_path.substr(0, slash);
  const std::string program = "'" + dir + "/sgemm_peak' " + std::to_string(threads);
  SgemmPeak peak;
  peak.readings.push_back(Run("environment", program));
  peak.readings.push_back(Run("own detection", "env -u OPENBLAS_CORETYPE " + program));
  for (const std::string& type : CoreTypes()) {
    peak.readings.push_back(Run(type, "env OPENBLAS_CORETYPE=" + type + " " + program));
  }
  for (const SgemmReading& r : peak.readings) {
    if (r.gflops > peak.gflops) {
      peak.gflops = r.gflops;
      peak.best = r.kernels;
    }
  }
  return peak;
}

void PrintSgemmPeak(const SgemmPeak& peak, int threads) {
  std::printf("sgemm n=2048, %d thread(s), best of 5, by OpenBLAS kernel set:", threads);
  for (const SgemmReading& r : peak.readings) {
    if (r.gflops > 0) {
      std::printf(" %s (%s) %.1f;", r.kernels.c_str(), r.core.c_str(), r.gflops);
    } else {
      std::printf(" %s failed;", r.kernels.c_str());
    }
  }
  std::printf(" peak %.1f GFLOP/s (%s)\n", peak.gflops, peak.best.c_str());
}

}  // namespace dips
