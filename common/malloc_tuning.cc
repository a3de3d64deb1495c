#include "common/malloc_tuning.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>

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

bool PrefaultThreadHeap(size_t bytes) {
#ifdef MADV_POPULATE_WRITE
  bytes = std::min(bytes, size_t{16} << 20);
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  if (bytes < 2 * page) return false;
  void* block = std::malloc(bytes);
  if (block == nullptr) return false;
  // The whole pages inside the block; freed, they stay at the heap's top
  // (TuneMalloc's trim threshold) for the allocations that follow.
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(block) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(block) + bytes) & ~(page - 1);
  const bool mapped =
      madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE) == 0;
  std::free(block);
  return mapped;
#else
  (void)bytes;
  return false;
#endif
}

}  // namespace dips
