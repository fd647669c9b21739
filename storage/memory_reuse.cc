#include "storage/memory_reuse.h"

#include <climits>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mqdb {

Status ReuseFreedMemory(size_t keep_bytes) {
#if defined(__GLIBC__)
  // 32 MB is the largest M_MMAP_THRESHOLD glibc accepts on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).
  constexpr int kMmapThreshold = 32 << 20;
  const int keep = keep_bytes > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(keep_bytes);
  if (mallopt(M_MMAP_THRESHOLD, kMmapThreshold) != 1) return Status::Internal("mallopt(M_MMAP_THRESHOLD) refused");
  if (mallopt(M_TRIM_THRESHOLD, keep) != 1) return Status::Internal("mallopt(M_TRIM_THRESHOLD) refused");
#else
  (void)keep_bytes;
#endif
  return Status::Ok();
}

}  // namespace mqdb
