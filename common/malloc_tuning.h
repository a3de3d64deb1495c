// Keeps glibc's allocator from handing memory back to the kernel after
// every training step.
//
// A distributed step allocates and frees buffers of hundreds of KiB (pull
// and push messages, their keys and rows) on several threads. With glibc's
// defaults such a buffer is mmap'ed and munmap'ed each time, or a thread
// arena's heap grows and shrinks around it (mprotect, then zeroed pages
// faulting back in), so a worker spent a large share of its time in the
// kernel. Measured on DIN with 2 servers + 2 workers on 2 cores: 22.7k-24.3k
// job samples/s before, 26.2k-28.0k after (docs/results.md); single-process
// training is unchanged.
#ifndef DIPS_COMMON_MALLOC_TUNING_H_
#define DIPS_COMMON_MALLOC_TUNING_H_

#include <cstddef>

namespace dips {

struct MallocTuning {
  // Allocations below this come from the heap and are reused after free.
  size_t mmap_threshold = size_t{32} << 20;
  // Free memory at a heap's top is kept up to this much.
  size_t trim_threshold = size_t{128} << 20;
  // Extra room requested whenever a heap grows.
  size_t top_pad = size_t{16} << 20;
};

// Applies `tuning` with mallopt. Call at the start of main, before threads
// start. Returns false if glibc rejected a setting.
bool TuneMalloc(const MallocTuning& tuning = MallocTuning());

}  // namespace dips

#endif  // DIPS_COMMON_MALLOC_TUNING_H_
