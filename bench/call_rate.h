// Calls per second of an operation, for the benchmarks: `op` runs back to
// back until at least `min_seconds` have passed (at least once), so a slow
// call still yields a rate and a fast one is averaged over many calls.
#ifndef DIPS_BENCH_CALL_RATE_H_
#define DIPS_BENCH_CALL_RATE_H_

#include <chrono>
#include <cstdint>

namespace dips {

template <typename Op>
double CallRate(Op&& op, double min_seconds) {
  using Clock = std::chrono::steady_clock;
  int64_t calls = 0;
  const auto start = Clock::now();
  double seconds = 0;
  do {
    op();
    ++calls;
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
  } while (seconds < min_seconds);
  return calls / seconds;
}

}  // namespace dips

#endif  // DIPS_BENCH_CALL_RATE_H_
