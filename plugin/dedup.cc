#include "plugin/dedup.h"

#include <algorithm>
#include <functional>

namespace mqdb {

namespace {
constexpr auto kFingerprintWindow = std::chrono::seconds(10);
}

DedupCache::DedupCache(std::chrono::seconds window, size_t max_entries, size_t max_bytes)
    : window_(window), max_entries_(max_entries), max_bytes_(max_bytes) {}

std::optional<std::string> DedupCache::KeyFor(const std::string& client_id, const std::string& correlation,
                                              const std::optional<std::string>& request_id, int qos,
                                              std::string_view topic, std::string_view payload) {
  // Length-prefixed parts: no client id or correlation value can make two identities collide.
  auto part = [](std::string_view s) { return std::to_string(s.size()) + ":" + std::string(s); };
  if (!correlation.empty()) return "c" + part(client_id) + part(correlation);
  if (request_id) return "r" + part(client_id) + part(*request_id);
  if (qos == 2) return "f" + part(client_id) + part(topic) + part(payload);
  return std::nullopt;
}

void DedupCache::Evict(std::chrono::steady_clock::time_point now) {
  while (!order_.empty() && (order_.front().first <= now || entries_.size() > max_entries_ || bytes_ > max_bytes_)) {
    auto it = entries_.find(order_.front().second);
    if (it != entries_.end() && it->second.expires == order_.front().first) {
      bytes_ -= it->first.size() + it->second.response->size();
      entries_.erase(it);
    }
    order_.pop_front();
  }
}

DedupCache::Response DedupCache::Find(const std::string& key, std::chrono::steady_clock::time_point now) {
  Evict(now);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.expires <= now) return nullptr;
  return it->second.response;
}

void DedupCache::Remember(const std::string& key, Response response, std::chrono::steady_clock::time_point now) {
  if (window_.count() == 0 || !response) return;
  auto expires = now + (IsFingerprint(key) ? std::min(window_, std::chrono::seconds(kFingerprintWindow)) : window_);
  auto [it, inserted] = entries_.try_emplace(key);  // one hash lookup for both cases
  if (!inserted) bytes_ -= it->first.size() + it->second.response->size();
  bytes_ += key.size() + response->size();
  it->second = {std::move(response), expires};
  order_.emplace_back(expires, key);
  Evict(now);
}

StoredResponseFilter::StoredResponseFilter(std::chrono::seconds window, size_t bits)
    : window_(window), bits_(std::max<size_t>(bits / 512, 1) * 512) {}

namespace {

constexpr int kProbes = 4;

// A blocked Bloom filter: all probes of an identity fall in one 512-bit block (one cache line), so a
// lookup costs one cache miss per filter instead of four. The hash picks the block; the bits within it
// come from the remaining hash bits (double hashing).
uint64_t Probe(uint64_t h, int i, size_t bits) {
  const uint64_t block = (h % (bits / 512)) * 512;
  const uint64_t h1 = h >> 23, h2 = (h >> 41) | 1;
  return block + (h1 + static_cast<uint64_t>(i) * h2) % 512;
}

}  // namespace

void StoredResponseFilter::Rotate(std::chrono::steady_clock::time_point now) {
  if (current_.empty()) {
    current_.assign(bits_ / 64, 0);
    current_since_ = now;
    return;
  }
  if (now - current_since_ < window_) return;
  if (now - current_since_ >= 2 * window_) {
    std::fill(previous_.begin(), previous_.end(), 0);  // both windows are over
  } else {
    previous_.swap(current_);
  }
  current_.assign(bits_ / 64, 0);
  current_since_ = now;
}

void StoredResponseFilter::Add(std::string_view identity, std::chrono::steady_clock::time_point now) {
  Rotate(now);
  const uint64_t h = std::hash<std::string_view>{}(identity);
  for (int i = 0; i < kProbes; ++i) {
    uint64_t b = Probe(h, i, current_.size() * 64);
    current_[b / 64] |= uint64_t{1} << (b % 64);
  }
}

bool StoredResponseFilter::MayBeStored(std::string_view identity, std::chrono::steady_clock::time_point now) {
  if (now < trusted_from_) return true;
  Rotate(now);
  const uint64_t h = std::hash<std::string_view>{}(identity);
  for (const std::vector<uint64_t>* f : {&current_, &previous_}) {
    if (f->empty()) continue;
    bool all = true;
    for (int i = 0; i < kProbes && all; ++i) {
      uint64_t b = Probe(h, i, f->size() * 64);
      all = ((*f)[b / 64] >> (b % 64)) & 1;
    }
    if (all) return true;
  }
  return false;
}

}  // namespace mqdb
