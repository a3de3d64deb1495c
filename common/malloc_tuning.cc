#include "common/malloc_tuning.h"

#include <malloc.h>

#include <climits>

namespace dips {

bool TuneMalloc(const MallocTuning& tuning) {
  auto as_int = [](size_t v) { return static_cast<int>(v > INT_MAX ? INT_MAX : v); };
  // mallopt returns 1 on success. Setting the mmap threshold also turns off
  // glibc's dynamic adjustment of it, which is what we want: a fixed line.
  bool ok = mallopt(M_MMAP_THRESHOLD, as_int(tuning.mmap_threshold)) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, as_int(tuning.trim_threshold)) == 1 && ok;
  ok = mallopt(M_TOP_PAD, as_int(tuning.top_pad)) == 1 && ok;
  return ok;
}

}  // namespace dips
