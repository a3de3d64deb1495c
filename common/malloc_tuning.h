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

// Has the kernel map about `bytes` (at most 16 MiB) of fresh memory at the
// top of the calling thread's malloc heap in one call, so that the
// allocations this thread makes next find their pages already there. A
// shuffle buffer's fill at a pass's start allocates hundreds of MB of new
// samples, and on the VMs this was measured on each 4 KiB page's first touch
// is a trap costing microseconds (docs/results.md, "Parsing threads map
// their heap ahead"). Meant for after TuneMalloc: with glibc's defaults the
// block would be mmap'ed apart and unmapped at free, and the call wasted.
// Returns false where the kernel did not do it (MADV_POPULATE_WRITE needs
// Linux 5.14); nothing else changes then.
bool PrefaultThreadHeap(size_t bytes);

}  // namespace dips

#endif  // DIPS_COMMON_MALLOC_TUNING_H_
