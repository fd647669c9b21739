// Idempotent retry (PROTOCOL.md §1): a request that repeats one the same client sent within the dedup
// window is not executed again; its stored response is sent again.
//
// Identity of a request: (client id, username, MQTT 5 correlation data or else the payload's
// "request_id", topic, payload bytes). A QoS 2 request with neither correlation nor request_id is
// identified by (client id, username, topic, payload) for 10 seconds: Mosquitto 2.0.11 calls the
// plugin once more for a QoS 2 retransmission (DUP) and does not tell the plugin the packet id, so
// content is the only handle. Consequence: two identical QoS 2 requests without correlation data
// from one client within 10 s are executed once (documented).
//
// Where responses live: successful writes store theirs in the write's own batch (storage key
// dedup/..., see Service), so a crash can never execute a retried write twice. Every response (reads,
// errors too: they changed nothing) is also kept here, in memory, bounded in entries and bytes.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mqdb {

class DedupCache {
 public:
  DedupCache(std::chrono::seconds window, size_t max_entries = 20000, size_t max_bytes = 32 << 20);

  // The identity of a request, or nullopt when it has none (no correlation, no request_id, QoS < 2).
  static std::optional<std::string> KeyFor(const std::string& client_id, const std::string& username,
                                           const std::string& correlation,
                                           const std::optional<std::string>& request_id, int qos,
                                           std::string_view topic, std::string_view payload);
  // 32 hex digits standing for the payload's bytes in an identity.
  static std::string PayloadDigest(std::string_view payload);
  static bool IsFingerprint(const std::string& key) { return key.size() > 2 && key[0] == 'f'; }

  using Response = std::shared_ptr<const std::string>;
  // A copy of the remembered response, or nullptr.
  Response Find(const std::string& key, std::chrono::steady_clock::time_point now);
  // Copies `response` in (a response larger than the whole cache is not remembered).
  void Remember(const std::string& key, const Response& response, std::chrono::steady_clock::time_point now);

  std::chrono::seconds window() const { return window_; }
  size_t size() const { return live_; }  // identities remembered (expired ones not yet dropped included)

 private:
  // Responses live in one ring of max_bytes, as records appended in the order they were remembered
  // and dropped oldest first; an open-addressing table maps identities to their newest record. Why
  // not a map of shared strings (as before): keeping every reply of the window alive as its own heap
  // block meant no reply could reuse a recently freed (cache-hot) chunk, and every request allocated
  // a map node and two key strings. In-process (200,000 gets of 700-byte records): 4.50 us per get
  // with the map, 3.70 with the ring, 2.72 remembering nothing; lists 8.65 -> 7.95 us.
  // Record: Header, key bytes, response bytes, padded to 8.
  struct Header {
    uint64_t hash;
    int64_t expires;  // steady_clock ticks
    uint32_t key_size, response_size;
  };
  struct Slot {  // open addressing (linear probing); hash 0 = empty
    uint64_t hash = 0;
    size_t offset = 0;  // of the identity's newest record
  };
  static size_t RecordSize(size_t key_size, size_t response_size);
  Header* At(size_t offset) { return reinterpret_cast<Header*>(ring_.get() + offset); }
  std::string_view KeyAt(size_t offset) { return {ring_.get() + offset + sizeof(Header), At(offset)->key_size}; }
  static uint64_t Hash(std::string_view key);
  size_t FindSlot(uint64_t hash, std::string_view key);  // index of the key's slot, or of the empty slot ending its probe
  void Unlink(size_t slot);                              // removes a slot (backward-shift deletion)
  void DropOldest();
  void Evict(std::chrono::steady_clock::time_point now);
  bool MakeRoom(size_t bytes);  // evicts until `bytes` fit contiguously at head_; false if they never will

  std::chrono::seconds window_;
  size_t max_entries_, capacity_;
  std::unique_ptr<char[]> ring_;  // allocated by the first Remember
  size_t head_ = 0, tail_ = 0;    // next write; oldest record
  size_t wrap_ = 0;               // while wrapped_: where the older records (from tail_) end
  bool wrapped_ = false;          // records run tail_..wrap_, then 0..head_
  size_t records_ = 0;            // records in the ring (replaced ones included)
  size_t live_ = 0;               // slots in use
  std::vector<Slot> slots_;
};

// The identities of responses this process stored with their writes, kept as two Bloom filters that
// take turns (each covers one window: an identity added at t is in the current or the previous filter
// until at least t + window). A request whose identity is in neither was not stored by this process
// within the window, so its storage lookup, a RocksDB read that misses on almost every request, can be
// skipped. Responses a previous process stored are unknown to it: until the time given to TrustFrom,
// every lookup goes to storage. No false negatives; a false positive only costs the lookup.
class StoredResponseFilter {
 public:
  explicit StoredResponseFilter(std::chrono::seconds window, size_t bits = size_t{1} << 25);  // 2 x 4 MB
  void Add(std::string_view identity, std::chrono::steady_clock::time_point now);
  // False only if `identity` was not added within the last window (and the filter is trusted).
  bool MayBeStored(std::string_view identity, std::chrono::steady_clock::time_point now);
  // Storage may hold responses this filter never saw (written before a restart, or restored from a
  // backup) until `t`: lookups go to storage until then.
  void TrustFrom(std::chrono::steady_clock::time_point t) { trusted_from_ = std::max(trusted_from_, t); }

 private:
  void Rotate(std::chrono::steady_clock::time_point now);
  std::chrono::seconds window_;
  size_t bits_;
  std::vector<uint64_t> current_, previous_;
  std::chrono::steady_clock::time_point current_since_{};
  std::chrono::steady_clock::time_point trusted_from_{};
};

}  // namespace mqdb
