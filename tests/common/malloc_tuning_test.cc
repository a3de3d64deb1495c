// TuneMalloc: after it, a step-sized buffer (1 MiB) comes from the heap and
// goes back to it, instead of being mmap'ed and munmap'ed each time; and
// PrefaultThreadHeap then spares a thread's next allocations their faults.
#include "common/malloc_tuning.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace dips {
namespace {

size_t MappedBlocks() { return mallinfo2().hblks; }

// Allocates, touches and frees `bytes`; returns the mmap'ed block count
// while the buffer was live.
size_t MappedBlocksWhileHolding(size_t bytes) {
  void* p = std::malloc(bytes);
  EXPECT_NE(p, nullptr);
  std::memset(p, 1, bytes);
  const size_t mapped = MappedBlocks();
  std::free(p);
  return mapped;
}

long ThreadPageFaults() {
  rusage usage;
  EXPECT_EQ(getrusage(RUSAGE_THREAD, &usage), 0);
  return usage.ru_minflt;
}

// Allocates and touches 4 MiB in 1 KiB blocks (as a parser fills samples),
// kept in `blocks`; returns the page faults this thread took meanwhile.
long FaultsFilling(std::vector<void*>* blocks) {
  const long before = ThreadPageFaults();
  for (int i = 0; i < 4096; ++i) {
    blocks->push_back(std::malloc(1024));
    std::memset(blocks->back(), 1, 1024);
  }
  return ThreadPageFaults() - before;
}

// The only test in this binary: it needs the allocator as a fresh process
// has it (glibc maps a buffer only when the heap's free top cannot hold it).
TEST(MallocTuningTest, StepSizedBuffersStayOnTheHeap) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces glibc's allocator";
#endif
  const size_t before = MappedBlocks();
  // glibc's default threshold (128 KiB at start) maps a 1 MiB buffer.
  ASSERT_EQ(MappedBlocksWhileHolding(size_t{1} << 20), before + 1);
  ASSERT_TRUE(TuneMalloc());
  EXPECT_EQ(MappedBlocksWhileHolding(size_t{1} << 20), before);
  EXPECT_EQ(MappedBlocksWhileHolding(size_t{16} << 20), before);
  // Larger than the threshold: still mapped, so huge one-off buffers (a
  // table's arrays) return to the kernel when freed.
  EXPECT_EQ(MappedBlocksWhileHolding(size_t{64} << 20), before + 1);

  // On a thread of its own (a fresh arena), every fill below takes memory
  // the heap never had: the blocks stay allocated. 4 MiB is 1,024 pages.
  long plain = 0, again = 0, ahead = 0;
  bool prefaulted = false;
  std::thread filler([&] {
    std::vector<void*> blocks;
    plain = FaultsFilling(&blocks);
    again = FaultsFilling(&blocks);
    prefaulted = PrefaultThreadHeap(size_t{8} << 20);
    ahead = FaultsFilling(&blocks);
    for (void* b : blocks) std::free(b);
  });
  filler.join();
  EXPECT_GT(plain, 900);
  EXPECT_GT(again, 900);
  if (!prefaulted) GTEST_SKIP() << "kernel without MADV_POPULATE_WRITE";
  EXPECT_LT(ahead, again / 10) << again << " faults without, " << ahead << " with";
}

}  // namespace
}  // namespace dips
