// Memory reuse: freed memtable memory stays in the process for the next memtables.
//
// Why: every write copies its keys and values into its memtable's arena. RocksDB 7.8 takes the arena's
// blocks (write_buffer_size / 8: 4 MB with the default block_cache_mb) from malloc, and glibc serves a
// block that large with a fresh mmap and unmaps it when the flushed memtable is freed. Every page of
// every memtable is then a page fault on the broker thread: about one per two 600-byte writes, which
// cost 11 us each on the 2-core VM of the benchmarks (README, Benchmarks). Served from the heap and
// kept when freed, the blocks of a flushed memtable are the next memtable's, already mapped.
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
