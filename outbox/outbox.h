// Outbox: every write's events are stored in the write's own batch, then dispatched from here.
//
// The invariants (ARCHITECTURE.md §4) and how this file keeps them:
//  - DataImpliesOutboxOrDelivered: Stage() puts the entry into the same Batch as the data, so a
//    committed write has its entry until Dispatch() delivered it and a later batch deleted it.
//  - NoDoubleDelivery (per target, within a running broker): dispatch walks
//    events[dispatched[target]..] and advances the counter per delivered event. On a failure the counter
//    is persisted in the same write that schedules the retry, so a retry (or a restart) resumes at the
//    first undelivered event, never at 0. Only the broker thread dispatches: the live path and the retry
//    path are the same function, so one entry is never dispatched twice concurrently.
//  - Order: entries are dispatched strictly in sequence order; a failing entry holds back the later ones
//    (a subscriber sees each record's events in commit order). Entries recovered at start come first.
//  - EventualDelivery: a failing entry is retried with exponential backoff and jitter, and after
//    `max_retries` moved atomically (one batch) to dead/ for operators.
//  - Sequences are never reused: a write's entry holds its sequences, so its batch does not rewrite
//    meta/seq (Batch::last_seq_in_entry); every batch here that removes entries without adding a
//    newer one writes meta/seq; Recover and ResetAfterRestore raise the store's last sequence to the
//    highest one the outbox and dead-letter entries hold.
// The happy path adds no write: delivered entries are deleted as part of a later write's batch, or by
// FlushDelivered() when writes stop. "Delivered" means handed to the sink, and the broker sink only
// queues in memory: Mosquitto writes the event to subscriber sockets at its next loop iteration. So an
// entry becomes deletable only `keep_delivered_ms` after delivery (>= 2 loop iterations, whose idle
// timeout is 100 ms); a crash inside that window redelivers it once at restart instead of losing it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "outbox/event.h"
#include "outbox/event_sink.h"
#include "storage/records.h"
#include "storage/store.h"

namespace mqdb {

struct OutboxOptions {
  int retry_ms = 100;    // first retry delay; doubles per retry (capped at 60 s), +-25 % jitter
  int max_retries = 10;  // then the entry is dead-lettered
  int keep_delivered_ms = 200;  // delivered entries stay this long before deletion (see above)
};

class Outbox {
 public:
  Outbox(Store& store, OutboxOptions options);

  // Queues the entries a previous run left undelivered, oldest first, and raises the store's last
  // sequence to the highest one an entry holds (writes do not rewrite meta/seq: see Stage). Call once,
  // before any write.
  Status Recover();

  // Adds to `batch`: the entry of `changes` (sequences follow the store's last one), the new last
  // sequence (held by the entry, so meta/seq is not rewritten: Batch::last_seq_in_entry), and the
  // deletion of entries delivered long enough ago. Every other removal of outbox/ or dead/ entries
  // here writes meta/seq in the same batch, so the highest sequence is never lost. Pass the result
  // to Committed() once the batch is committed; if the commit fails, drop it (nothing was assigned).
  OutboxEntry Stage(const std::vector<Change>& changes, const std::string& origin, Batch& batch, int64_t now_ms);
  void Committed(OutboxEntry entry, uint64_t ticket);

  // Delivers queued entries in order to every sink, as long as their commit ticket is <= durable_ticket
  // (immediate durability: only fsynced writes publish events) and their retry time has come.
  void Dispatch(const std::vector<EventSink*>& sinks, uint64_t durable_ticket, int64_t now_ms);

  // Deletes the deletable delivered entries in a batch of their own (when no write comes to carry them).
  Status FlushDelivered(int64_t now_ms);
  bool HasDeletable(int64_t now_ms) const;

  // Operator view and control (PROTOCOL.md §5, $DB/_admin/outbox...). An empty operation_id selects all.
  Json PendingJson() const;                       // queued entries, oldest first
  Result<Json> DeadJson() const;                  // dead-lettered entries, oldest first
  // Moves dead entries back to the outbox (retry count reset, per-target progress kept, so delivery
  // resumes where it failed). Returns how many moved.
  Result<size_t> Retry(const std::string& operation_id);
  Result<size_t> Purge(const std::string& operation_id);  // deletes dead entries

  // After the database was replaced by a restore: forgets queued and delivered entries and deletes the
  // restored outbox (its events were delivered before the backup's state was replaced, or belong to
  // writes the restore undid); dead letters are kept.
  Status ResetAfterRestore();

  size_t pending() const { return queue_.size(); }
  uint64_t dead() const { return dead_; }
  uint64_t published() const { return published_; }

 private:
  struct Queued {
    OutboxEntry entry;
    uint64_t ticket;
  };
  // Returns false if the entry could not be fully delivered (it stays queued or is dead-lettered).
  bool DeliverHead(const std::vector<EventSink*>& sinks, int64_t now_ms);
  // Counts the dead letters (dead_) and raises the store's last sequence to theirs.
  Status CountDeadAndRaiseSeq();
  // Decodes every entry under `prefix` (outbox/ or dead/), in key order, and hands it to `visit`.
  Status ForEachEntry(std::string_view prefix, const std::function<void(std::string_view, OutboxEntry)>& visit) const;
  int64_t Backoff(int retries);
  // Dead entries matching operation_id (all when empty), with their keys.
  Result<std::vector<std::pair<std::string, OutboxEntry>>> FindDead(const std::string& operation_id) const;

  Store& store_;
  OutboxOptions options_;
  std::deque<Queued> queue_;
  struct Delivered {
    std::string key;
    int64_t at_ms;
  };
  size_t Deletable(int64_t now_ms) const;  // how many of delivered_ (a prefix) may be deleted
  std::deque<Delivered> delivered_;        // delivered, in delivery order; deletion not committed yet
  size_t staged_deletes_ = 0;              // how many of delivered_ the last Stage() carried
  uint64_t dead_ = 0;
  uint64_t published_ = 0;
  uint64_t rng_state_;
};

}  // namespace mqdb
