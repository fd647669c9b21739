#include "plugin/dedup.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <new>

namespace mqdb {

namespace {
constexpr auto kFingerprintWindow = std::chrono::seconds(10);
}

DedupCache::DedupCache(std::chrono::seconds window, size_t max_entries, size_t max_bytes)
    : window_(window),
      max_entries_(std::max<size_t>(max_entries, 1)),
      capacity_(std::min<size_t>(max_bytes, UINT32_MAX) / 8 * 8) {}  // record sizes are 32-bit

namespace {

// `tag` followed by each part as "{length}:{bytes}". Built in one buffer sized up front: this runs for
// every request that carries correlation data, and each temporary string was a heap block.
std::string Identity(char tag, std::initializer_list<std::string_view> parts) {
  size_t size = 1;
  for (std::string_view p : parts) size += 21 + p.size();  // up to 20 digits and the ':'
  std::string out;
  out.reserve(size);
  out += tag;
  for (std::string_view p : parts) {
    out += std::to_string(p.size());  // short enough to need no heap block of its own
    out += ':';
    out += p;
  }
  return out;
}

}  // namespace

std::string DedupCache::PayloadDigest(std::string_view payload) {
  // 128 bits from two independent 64-bit hashes (FNV-1a and libstdc++'s murmur-based std::hash):
  // the identity must differ whenever the payload does, without carrying up to max_payload bytes in
  // every key. Not a cryptographic hash, and it need not be: the identity also holds the client id
  // and the username, so a crafted collision could only replay a response to its own author.
  uint64_t fnv = 0xcbf29ce484222325ULL;
  for (unsigned char c : payload) fnv = (fnv ^ c) * 0x100000001b3ULL;
  const uint64_t murmur = std::hash<std::string_view>{}(payload);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = kHex[(fnv >> (4 * i)) & 0xF];
    out[31 - i] = kHex[(murmur >> (4 * i)) & 0xF];
  }
  return out;
}

std::optional<std::string> DedupCache::KeyFor(const std::string& client_id, const std::string& username,
                                              const std::string& correlation,
                                              const std::optional<std::string>& request_id, int qos,
                                              std::string_view topic, std::string_view payload) {
  // A retry is the same client id, the same username, the same correlation (or request_id), the same
  // topic and the same payload bytes (PROTOCOL.md §1). Anything else is a new request, so a client
  // that counts correlation data from 1 on every connection never gets a stale answer, and another
  // user connecting with the victim's client id never gets the victim's stored response.
  // Length-prefixed parts: no value can make two identities collide.
  if (correlation.empty() && !request_id && qos != 2) return std::nullopt;
  const std::string digest = PayloadDigest(payload);
  if (!correlation.empty()) return Identity('c', {client_id, username, correlation, topic, digest});
  if (request_id) return Identity('r', {client_id, username, *request_id, topic, digest});
  return Identity('f', {client_id, username, topic, digest});
}

size_t DedupCache::RecordSize(size_t key_size, size_t response_size) {
  return (sizeof(Header) + key_size + response_size + 7) / 8 * 8;
}

uint64_t DedupCache::Hash(std::string_view key) {
  const uint64_t h = std::hash<std::string_view>{}(key);
  return h ? h : 1;  // 0 marks an empty slot
}

size_t DedupCache::FindSlot(uint64_t hash, std::string_view key) {
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].hash != 0 && !(slots_[i].hash == hash && KeyAt(slots_[i].offset) == key)) i = (i + 1) & mask;
  return i;
}

void DedupCache::Unlink(size_t i) {
  // Backward-shift deletion keeps every remaining key reachable from its home slot without tombstones.
  const size_t mask = slots_.size() - 1;
  slots_[i].hash = 0;
  for (size_t j = (i + 1) & mask; slots_[j].hash != 0; j = (j + 1) & mask) {
    const size_t home = slots_[j].hash & mask;
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    slots_[j].hash = 0;
    i = j;
  }
}

void DedupCache::DropOldest() {
  const Header* h = At(tail_);
  const size_t size = RecordSize(h->key_size, h->response_size);
  const size_t slot = FindSlot(h->hash, KeyAt(tail_));
  if (slots_[slot].hash != 0 && slots_[slot].offset == tail_) {  // else a newer record replaced it
    Unlink(slot);
    --live_;
  }
  tail_ += size;
  --records_;
  if (records_ == 0) {
    head_ = tail_ = 0;
    wrapped_ = false;
  } else if (wrapped_ && tail_ == wrap_) {
    tail_ = 0;
    wrapped_ = false;
  }
}

bool DedupCache::MakeRoom(size_t bytes) {
  if (bytes > capacity_) return false;
  while (true) {
    if (records_ == 0) return true;  // DropOldest left head_ = tail_ = 0, not wrapped
    if (!wrapped_) {  // records in [tail_, head_)
      if (capacity_ - head_ >= bytes) return true;
      if (tail_ >= bytes) {  // continue at the start; the records end at wrap_
        wrap_ = head_;
        wrapped_ = true;
        head_ = 0;
        return true;
      }
    } else if (tail_ - head_ >= bytes) {  // records in [tail_, wrap_) and [0, head_)
      return true;
    }
    DropOldest();
  }
}

void DedupCache::Evict(std::chrono::steady_clock::time_point now) {
  const int64_t t = now.time_since_epoch().count();
  while (records_ > 0 && At(tail_)->expires <= t) DropOldest();
}

DedupCache::Response DedupCache::Find(const std::string& key, std::chrono::steady_clock::time_point now) {
  if (live_ == 0) return nullptr;
  Evict(now);
  const size_t slot = FindSlot(Hash(key), key);
  if (slots_[slot].hash == 0) return nullptr;
  const size_t offset = slots_[slot].offset;
  const Header* h = At(offset);
  if (h->expires <= now.time_since_epoch().count()) return nullptr;
  return std::make_shared<const std::string>(ring_.get() + offset + sizeof(Header) + h->key_size, h->response_size);
}

void DedupCache::Remember(const std::string& key, const Response& response, std::chrono::steady_clock::time_point now) {
  if (window_.count() == 0 || !response) return;
  if (!ring_) {
    ring_.reset(new char[capacity_]);  // untouched pages cost no memory until written
    size_t n = 16;
    while (n < 2 * (max_entries_ + 1)) n *= 2;
    slots_.assign(n, Slot{});
  }
  Evict(now);
  const size_t bytes = RecordSize(key.size(), response->size());
  if (!MakeRoom(bytes)) {
    // Larger than the whole cache: not remembered, and an older response of this identity must not
    // answer for it either.
    const size_t slot = FindSlot(Hash(key), key);
    if (slots_[slot].hash != 0) {
      Unlink(slot);
      --live_;
    }
    return;
  }
  const auto expires = now + (IsFingerprint(key) ? std::min(window_, std::chrono::seconds(kFingerprintWindow)) : window_);
  const size_t offset = head_;
  const uint64_t hash = Hash(key);
  new (ring_.get() + offset) Header{hash, expires.time_since_epoch().count(), static_cast<uint32_t>(key.size()),
                                    static_cast<uint32_t>(response->size())};
  std::memcpy(ring_.get() + offset + sizeof(Header), key.data(), key.size());
  std::memcpy(ring_.get() + offset + sizeof(Header) + key.size(), response->data(), response->size());
  head_ += bytes;
  ++records_;
  const size_t slot = FindSlot(hash, key);  // after MakeRoom: eviction moves slots
  if (slots_[slot].hash != 0) {
    slots_[slot].offset = offset;  // replaces the identity's older response
  } else {
    slots_[slot] = Slot{hash, offset};
    ++live_;
  }
  while (live_ > max_entries_) DropOldest();
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
