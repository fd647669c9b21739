// The durable change feed (PROTOCOL.md §4, "The change feed is durable and resumable").
//
// MQTT delivery alone cannot promise every event to every subscriber: Mosquitto queues messages for
// slow or offline subscribers in memory, and a broker crash loses that queue. So every committed
// event is also kept in the store, keyed by its sequence (feed/{seq:020}), for `retention_s` and up to
// `retention_bytes`, whichever is smaller; a subscriber that must see every event keeps the last
// sequence it processed and asks Replay for what it missed.
//
// Invariants:
//  - Committed implies retained: Stage() puts each event into the write's own batch, beside the data
//    and the outbox entry, byte for byte as it is published. Only Trim() (retention) and a restore
//    remove events, and only from the oldest end, so the retained events are exactly the sequences
//    oldest() .. the store's last sequence, without a gap (sequences are contiguous: one per event).
//  - Replay never shows an event before it is durable: under `immediate` durability, only events whose
//    write has been fsynced (the same rule as their live publication) — see Committed/MarkDurable.
//  - Access: an event of an owned entity is replayed only to its owner and to admins, and every event
//    only to a client the broker would let read its topic (the caller's `may_read`).
// Broker thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "outbox/event.h"
#include "storage/json.h"
#include "storage/records.h"
#include "storage/status.h"
#include "storage/store.h"

namespace mqdb {

struct FeedOptions {
  int64_t retention_s = 86400;                  // event_retention_s; 0 = no feed at all
  uint64_t retention_bytes = uint64_t{1} << 30;  // event_retention_bytes
};

class ChangeFeed {
 public:
  ChangeFeed(Store& store, FeedOptions options);

  bool enabled() const { return options_.retention_s > 0; }

  // Finds the oldest retained event and the feed's size. Call once the store's last sequence is
  // known (after Outbox::Recover), before any write.
  Status Open();

  // Adds every event of `entry` (built from `changes`, in the same order) to `batch`.
  void Stage(const OutboxEntry& entry, const std::vector<Change>& changes, Batch& batch, int64_t now_ms);
  // The staged entry was committed with `ticket`; its events become replayable once it is durable.
  void Committed(const OutboxEntry& entry, uint64_t ticket);
  // Every commit with a ticket <= `durable_ticket` is durable (max: every commit is).
  void MarkDurable(uint64_t durable_ticket);

  // $DB/_events/replay {"after":N,"entity":…,"limit":…}: the retained events after N, in sequence
  // order, as {"events":[…],"next":M,"complete":bool}. 410 when events after N are no longer retained.
  struct Reader {
    std::string username;
    bool admin = false;
    std::function<bool(const std::string& topic)> may_read;  // null: the broker's ACL allows everything
  };
  Result<Json> Replay(const cJSON* body, const Reader& who, size_t max_response_bytes);

  // Removes, in one range delete, what retention no longer keeps (older than retention_s, or beyond
  // retention_bytes), at most `budget` events per call: a few milliseconds of broker thread. Called
  // once a second (Service::Housekeeping), and at every tick while behind() (the budget ran out).
  Status Trim(int64_t now_ms, size_t budget = kTrimBudget);
  static constexpr size_t kTrimBudget = 5000;
  bool behind() const { return behind_; }

  // After a restore replaced the database: the restored feed describes a history the restored data
  // no longer follows, so it is dropped whole; sequences go on from the store's last one, and a replay
  // from before the restore is a 410 (the client resynchronises with a list).
  Status ResetAfterRestore();

  uint64_t oldest() const { return oldest_; }  // last sequence + 1 when nothing is retained
  uint64_t retained() const;                   // events retained
  uint64_t bytes() const { return bytes_; }    // about what they take
  uint64_t replayed() const { return replayed_; }

  static constexpr int64_t kMaxReplayLimit = 10000;
  static constexpr int64_t kDefaultReplayLimit = 1000;
  // At most this many retained events are examined by one replay (entity and access filters may skip
  // most of them): the page then ends early with complete = false and `next` where it stopped.
  static constexpr size_t kMaxExamined = 100000;

 private:
  uint64_t Visible() const;  // the newest replayable sequence

  Store& store_;
  FeedOptions options_;
  uint64_t oldest_ = 1;
  uint64_t bytes_ = 0;
  uint64_t replayed_ = 0;
  bool all_durable_ = true;
  bool behind_ = false;  // the last Trim stopped at its budget: more may be due   // not immediate durability: every committed event is
  std::deque<std::pair<uint64_t, uint64_t>> pending_;  // (first sequence, ticket) of commits awaiting fsync
};

}  // namespace mqdb
