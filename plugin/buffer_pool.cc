#include "plugin/buffer_pool.h"

#include <utility>

namespace mqdb {

std::shared_ptr<BufferPool> BufferPool::Create(size_t keep, size_t max_bytes) {
  return std::shared_ptr<BufferPool>(new BufferPool(keep, max_bytes));
}

std::string BufferPool::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.empty()) return {};
  std::string buffer = std::move(free_.back());
  free_.pop_back();
  return buffer;
}

std::shared_ptr<const std::string> BufferPool::Share(std::string text) {
  // The deleter holds the pool weakly: a reply that outlives the pool just frees its buffer.
  std::weak_ptr<BufferPool> pool = weak_from_this();
  return std::shared_ptr<const std::string>(new std::string(std::move(text)), [pool](const std::string* s) {
    std::string* owned = const_cast<std::string*>(s);  // allocated non-const just above
    if (auto p = pool.lock()) p->Give(std::move(*owned));
    delete owned;
  });
}

size_t BufferPool::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return free_.size();
}

void BufferPool::Give(std::string&& buffer) {
  if (buffer.capacity() > max_bytes_) return;  // freed by the caller: one huge reply is not kept
  buffer.clear();
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.size() < keep_) free_.push_back(std::move(buffer));
}

}  // namespace mqdb
