#include "plugin/dedup.h"

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
  auto it = entries_.find(key);
  if (it != entries_.end()) bytes_ -= it->first.size() + it->second.response->size();
  bytes_ += key.size() + response->size();
  entries_[key] = {std::move(response), expires};
  order_.emplace_back(expires, key);
  Evict(now);
}

}  // namespace mqdb
