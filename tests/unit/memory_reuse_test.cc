#include "storage/memory_reuse.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <vector>

namespace mqdb {
namespace {

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Allocates `blocks` blocks of `size` bytes, writes to every page of each, frees them all: what a
// memtable's arena does over its life. Returns the page faults taken.
long AllocateTouchFree(size_t size, int blocks) {
  const long before = MinorFaults();
  std::vector<volatile char*> held;
  for (int i = 0; i < blocks; ++i) {
    auto* p = static_cast<volatile char*>(std::malloc(size));
    if (p == nullptr) return -1;
    for (size_t at = 0; at < size; at += 4096) p[at] = 1;
    held.push_back(p);
  }
  for (volatile char* p : held) std::free(const_cast<char*>(p));
  return MinorFaults() - before;
}

// ctest runs each test in a process of its own, so glibc starts from its defaults here. With them, a
// 1 MB block is mapped on allocation and unmapped when freed, and every later round faults on every
// page again (glibc raises its mmap threshold after the first free, but then trims the freed heap):
// 8193 faults in the second round here, without ReuseFreedMemory.
TEST(MemoryReuse, FreedMemtableSizedBlocksAreReusedWithoutPageFaults) {
  constexpr size_t kBlock = 1 << 20;  // RocksDB 7.8's arena block (arena_block_size)
  constexpr int kBlocks = 32;         // the default memtable: 32 MB
  constexpr long kPages = kBlock * kBlocks / 4096;
  ASSERT_TRUE(ReuseFreedMemory(size_t{64} << 20).ok());
  EXPECT_GE(AllocateTouchFree(kBlock, kBlocks), 0);  // the first memtable: faults, the memory is new
  const long second = AllocateTouchFree(kBlock, kBlocks);
  EXPECT_GE(second, 0);
  EXPECT_LT(second, kPages / 20) << "of " << kPages << " pages";
}

}  // namespace
}  // namespace mqdb
