#include "outbox/outbox.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "storage/keys.h"
#include "storage/uuid.h"

namespace mqdb {

Outbox::Outbox(Store& store, OutboxOptions options)
    : store_(store),
      options_(options),
      rng_state_(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) | 1) {}

namespace {

// The highest sequence an entry holds (its last event's).
uint64_t LastSeq(const OutboxEntry& e) { return e.events.empty() ? 0 : e.events.back().sequence; }

}  // namespace

Status Outbox::ForEachEntry(std::string_view prefix, const std::function<void(std::string_view, OutboxEntry)>& visit) const {
  Status decode_error;
  Status s = store_.Scan(prefix, [&](std::string_view key, std::string_view value) {
    auto e = DecodeEntry(value);
    if (!e.ok()) {
      decode_error = Status::Internal(e.status().message() + " (" + std::string(key) + ")");
      return false;
    }
    visit(key, std::move(e.value()));
    return true;
  });
  return s.ok() ? decode_error : s;
}

Status Outbox::Recover() {
  Status s = ForEachEntry(keys::kOutboxPrefix, [&](std::string_view, OutboxEntry e) {
    e.next_attempt_ms = 0;  // a restart is a fresh chance: retry at once
    store_.RaiseLastSeq(LastSeq(e));  // writes leave meta/seq to their entries (Stage)
    queue_.push_back({std::move(e), 0});
  });
  if (!s.ok()) return s;
  return CountDeadAndRaiseSeq();
}

Status Outbox::CountDeadAndRaiseSeq() {
  uint64_t dead = 0;
  Status s = ForEachEntry(keys::kDeadPrefix, [&](std::string_view, OutboxEntry e) {
    store_.RaiseLastSeq(LastSeq(e));
    ++dead;
  });
  if (s.ok()) dead_ = dead;
  return s;
}

size_t Outbox::Deletable(int64_t now_ms) const {
  size_t n = 0;
  while (n < delivered_.size() && delivered_[n].at_ms + options_.keep_delivered_ms <= now_ms) ++n;
  return n;
}

bool Outbox::HasDeletable(int64_t now_ms) const { return Deletable(now_ms) > 0; }

OutboxEntry Outbox::Stage(const std::vector<Change>& changes, const std::string& origin, Batch& batch,
                          int64_t now_ms) {
  uint64_t first = store_.last_seq() + 1;
  OutboxEntry entry = BuildEntry(changes, first, NewUuidV7(), origin);
  batch.Put(keys::Outbox(first), EncodeEntry(entry));
  batch.last_seq = first + changes.size() - 1;
  batch.last_seq_in_entry = true;  // this entry holds the new last sequence: meta/seq stays as it is
  staged_deletes_ = Deletable(now_ms);
  for (size_t i = 0; i < staged_deletes_; ++i) batch.Delete(delivered_[i].key);
  return entry;
}

void Outbox::Committed(OutboxEntry entry, uint64_t ticket) {
  delivered_.erase(delivered_.begin(), delivered_.begin() + static_cast<long>(staged_deletes_));
  staged_deletes_ = 0;
  queue_.push_back({std::move(entry), ticket});
}

void Outbox::Dispatch(const std::vector<EventSink*>& sinks, uint64_t durable_ticket, int64_t now_ms) {
  while (!queue_.empty()) {
    const Queued& head = queue_.front();
    if (head.ticket > durable_ticket || head.entry.next_attempt_ms > now_ms) return;
    if (!DeliverHead(sinks, now_ms)) return;
  }
}

bool Outbox::DeliverHead(const std::vector<EventSink*>& sinks, int64_t now_ms) {
  OutboxEntry& e = queue_.front().entry;
  bool failed = false;
  for (EventSink* sink : sinks) {
    size_t i = e.Progress(sink->target());
    for (; i < e.events.size(); ++i) {
      const Event& ev = e.events[i];
      if (!sink->PublishEvent(ev, e.origin).ok()) { failed = true; break; }
      ++published_;
    }
    e.dispatched[sink->target()] = i;  // a failing target does not stop the others
  }
  if (!failed) {
    delivered_.push_back({keys::Outbox(e.first_seq), now_ms});
    queue_.pop_front();
    return true;
  }
  ++e.retries;
  Batch batch;
  bool dead = e.retries > options_.max_retries;
  if (dead) {
    batch.Delete(keys::Outbox(e.first_seq));
    batch.Put(keys::Dead(e.first_seq), EncodeEntry(e));
  } else {
    e.next_attempt_ms = now_ms + Backoff(e.retries);
    batch.Put(keys::Outbox(e.first_seq), EncodeEntry(e));  // progress + retry schedule, one write
  }
  auto committed = store_.Commit(batch);
  if (!committed.ok()) {
    // The in-memory progress still prevents duplicates in this run; only a crash now could repeat events.
    std::fprintf(stderr, "mqdb: cannot persist outbox progress: %s\n", committed.status().message().c_str());
  }
  if (dead) {
    ++dead_;
    queue_.pop_front();
    return true;  // the next entry may go
  }
  return false;
}

Json Outbox::PendingJson() const {
  Json arr = NewArray();
  for (const auto& q : queue_) cJSON_AddItemToArray(arr.get(), EntryJson(q.entry).release());
  return arr;
}

Result<std::vector<std::pair<std::string, OutboxEntry>>> Outbox::FindDead(const std::string& operation_id) const {
  std::vector<std::pair<std::string, OutboxEntry>> found;
  Status s = ForEachEntry(keys::kDeadPrefix, [&](std::string_view key, OutboxEntry e) {
    if (operation_id.empty() || e.operation_id == operation_id) found.emplace_back(std::string(key), std::move(e));
  });
  if (!s.ok()) return s;
  return found;
}

Result<Json> Outbox::DeadJson() const {
  auto dead = FindDead("");
  if (!dead.ok()) return dead.status();
  Json arr = NewArray();
  for (const auto& [key, e] : dead.value()) cJSON_AddItemToArray(arr.get(), EntryJson(e).release());
  return arr;
}

Result<size_t> Outbox::Retry(const std::string& operation_id) {
  auto dead = FindDead(operation_id);
  if (!dead.ok()) return dead.status();
  if (dead->empty()) return size_t{0};
  Batch batch;  // all selected entries move back in one atomic write
  for (auto& [key, e] : dead.value()) {
    e.retries = 0;
    e.next_attempt_ms = 0;
    batch.Delete(key);
    batch.Put(keys::Outbox(e.first_seq), EncodeEntry(e));
  }
  auto committed = store_.Commit(batch);
  if (!committed.ok()) return committed.status();
  for (auto& found : dead.value()) {
    OutboxEntry& e = found.second;
    const uint64_t seq = e.first_seq;
    // Keep the queue in sequence order: an old entry goes before the newer ones still waiting.
    auto pos = std::find_if(queue_.begin(), queue_.end(), [seq](const Queued& q) { return q.entry.first_seq > seq; });
    queue_.insert(pos, Queued{std::move(e), 0});
  }
  dead_ -= dead->size();
  return dead->size();
}

Result<size_t> Outbox::Purge(const std::string& operation_id) {
  auto dead = FindDead(operation_id);
  if (!dead.ok()) return dead.status();
  if (dead->empty()) return size_t{0};
  Batch batch;
  for (const auto& [key, e] : dead.value()) batch.Delete(key);
  batch.last_seq = store_.last_seq();  // the deleted entries may hold the last sequence: meta/seq takes it
  auto committed = store_.Commit(batch);
  if (!committed.ok()) return committed.status();
  dead_ -= dead->size();
  return dead->size();
}

int64_t Outbox::Backoff(int retries) {
  int64_t delay = options_.retry_ms;
  for (int i = 1; i < retries && delay < 60000; ++i) delay *= 2;
  delay = std::min<int64_t>(delay, 60000);
  rng_state_ ^= rng_state_ << 13; rng_state_ ^= rng_state_ >> 7; rng_state_ ^= rng_state_ << 17;
  int64_t jitter = delay / 4;
  return delay - jitter + static_cast<int64_t>(rng_state_ % static_cast<uint64_t>(2 * jitter + 1));
}

Status Outbox::ResetAfterRestore() {
  queue_.clear();
  delivered_.clear();
  staged_deletes_ = 0;
  // The restored entries may hold sequences above the restored meta/seq: raise to them first, and
  // persist the result with their deletion.
  Status s = ForEachEntry(keys::kOutboxPrefix, [&](std::string_view, OutboxEntry e) { store_.RaiseLastSeq(LastSeq(e)); });
  if (!s.ok()) return s;
  if (Status d = CountDeadAndRaiseSeq(); !d.ok()) return d;
  Batch batch;
  std::string end(keys::kOutboxPrefix);
  end.back() = static_cast<char>(end.back() + 1);
  batch.DeleteRange(std::string(keys::kOutboxPrefix), end);
  batch.last_seq = store_.last_seq();
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  return Status::Ok();
}

Status Outbox::FlushDelivered(int64_t now_ms) {
  size_t n = Deletable(now_ms);
  if (n == 0) return Status::Ok();
  Batch batch;
  for (size_t i = 0; i < n; ++i) batch.Delete(delivered_[i].key);
  batch.last_seq = store_.last_seq();  // the deleted entries may hold the last sequence: meta/seq takes it
  auto committed = store_.Commit(batch);
  if (!committed.ok()) return committed.status();
  delivered_.erase(delivered_.begin(), delivered_.begin() + static_cast<long>(n));
  return Status::Ok();
}

}  // namespace mqdb
