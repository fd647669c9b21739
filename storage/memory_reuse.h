// Memory reuse: freed memtable memory stays in the process for the next memtables.
//
// Why: every write copies its keys and values into its memtable's arena. RocksDB 7.8 takes the arena's
// blocks (arena_block_size: 1 MB) from malloc. glibc maps blocks that large afresh, or, once its
// adaptive threshold has risen, takes them from the top of the heap and trims the heap when the flushed
// memtable frees them. Either way every page of every memtable is a page fault on the broker thread:
// about one per three 600-byte writes, which cost 11 us each on the 2-core VM of the benchmarks
// (README, Benchmarks). Served from the heap and kept when freed, a flushed memtable's blocks are the
// next memtable's, already mapped.
//
// What it changes: glibc's malloc parameters, which belong to the whole broker process. Blocks below
// 32 MB come from the heap (M_MMAP_THRESHOLD, glibc's ceiling for it), and up to `keep_bytes` of freed
// memory at the top of the heap stays mapped (M_TRIM_THRESHOLD) instead of going back to the kernel.
// The RSS after a burst therefore stays near its peak, by at most keep_bytes (the plugin passes
// block_cache_mb, which also bounds the memtables). Without glibc this does nothing.
#pragma once

#include <cstddef>

#include "storage/status.h"

namespace mqdb {

Status ReuseFreedMemory(size_t keep_bytes);

}  // namespace mqdb
