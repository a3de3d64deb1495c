// TuneMalloc: after it, a step-sized buffer (1 MiB) comes from the heap and
// goes back to it, instead of being mmap'ed and munmap'ed each time.
#include "common/malloc_tuning.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

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
}

}  // namespace
}  // namespace dips
