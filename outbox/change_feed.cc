#include "outbox/change_feed.h"

#include <algorithm>

#include "storage/keys.h"
#include "storage/names.h"

namespace mqdb {

namespace {

// The end of the feed/ key family, for range deletes and size estimates.
std::string FeedEnd() {
  std::string end(keys::kFeedPrefix);
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

// A stored feed value: "{committed_ms}\n{entity}\n{topic}\n{event}".
struct FeedValue {
  int64_t committed_ms = 0;
  std::string_view entity, topic, event;
};

std::optional<FeedValue> ParseValue(std::string_view v) {
  size_t a = v.find('\n');
  size_t b = a == std::string_view::npos ? a : v.find('\n', a + 1);
  size_t c = b == std::string_view::npos ? b : v.find('\n', b + 1);
  if (c == std::string_view::npos) return std::nullopt;
  FeedValue out;
  for (char d : v.substr(0, a)) {
    if (d < '0' || d > '9') return std::nullopt;
    out.committed_ms = out.committed_ms * 10 + (d - '0');
  }
  out.entity = v.substr(a + 1, b - a - 1);
  out.topic = v.substr(b + 1, c - b - 1);
  out.event = v.substr(c + 1);
  return out;
}

// The owner of an owned entity's event topic ($DB/u/{owner}/events/...), empty for any other topic.
std::string_view OwnerOf(std::string_view topic) {
  constexpr std::string_view kOwned = "$DB/u/";
  if (topic.substr(0, kOwned.size()) != kOwned) return {};
  std::string_view rest = topic.substr(kOwned.size());
  return rest.substr(0, rest.find('/'));
}

uint64_t FirstSeq(const OutboxEntry& e) { return e.events.empty() ? 0 : e.events.front().sequence; }

// Visits the retained events from sequence `from` on, decoded, with the bytes each takes, until
// `visit` returns false. A key or value this process did not write is corruption (500).
template <typename Visit>
Status ScanFeed(const Store& store, uint64_t from, Visit&& visit) {
  Status bad;
  Status s = store.Scan(keys::kFeedPrefix, [&](std::string_view key, std::string_view value) {
    auto seq = keys::ParseFeed(key);
    auto v = ParseValue(value);
    if (!seq || !v) {
      bad = Status::Internal("corrupt change feed entry: " + std::string(key));
      return false;
    }
    return visit(*seq, *v, key.size() + value.size());
  }, keys::Feed(from));
  return s.ok() ? bad : s;
}

}  // namespace

ChangeFeed::ChangeFeed(Store& store, FeedOptions options) : store_(store), options_(options) {}

Status ChangeFeed::Open() {
  all_durable_ = store_.durability() != Durability::kImmediate;
  pending_.clear();
  oldest_ = store_.last_seq() + 1;
  Status bad;
  Status s = store_.Scan(keys::kFeedPrefix, [&](std::string_view key, std::string_view) {
    auto seq = keys::ParseFeed(key);
    if (!seq) bad = Status::Internal("corrupt change feed key: " + std::string(key));
    else oldest_ = *seq;
    return false;  // the first key is the oldest retained event
  });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  // From the oldest retained key: trimmed ranges wait for compaction and would otherwise count.
  bytes_ = store_.ApproximateRangeBytes(keys::Feed(oldest_), FeedEnd());
  return Status::Ok();
}

void ChangeFeed::Stage(const OutboxEntry& entry, const std::vector<Change>& changes, Batch& batch, int64_t now_ms) {
  if (!enabled()) return;
  const std::string ms = std::to_string(now_ms);
  for (size_t i = 0; i < entry.events.size() && i < changes.size(); ++i) {
    const Event& ev = entry.events[i];
    std::string value;
    value.reserve(ms.size() + changes[i].entity.size() + ev.topic.size() + ev.payload.size() + 3);
    value += ms;
    value += '\n';
    value += changes[i].entity;
    value += '\n';
    value += ev.topic;
    value += '\n';
    value += ev.payload;
    batch.Put(keys::Feed(ev.sequence), std::move(value));
  }
}

void ChangeFeed::Committed(const OutboxEntry& entry, uint64_t ticket) {
  if (!enabled() || entry.events.empty()) return;
  for (const Event& ev : entry.events) bytes_ += ev.payload.size() + ev.topic.size() + 40;
  if (!all_durable_) pending_.push_back({FirstSeq(entry), ticket});
}

void ChangeFeed::MarkDurable(uint64_t durable_ticket) {
  while (!pending_.empty() && pending_.front().second <= durable_ticket) pending_.pop_front();
}

uint64_t ChangeFeed::Visible() const {
  // Entries commit in sequence order, so the oldest one not yet durable bounds what may be shown.
  return pending_.empty() ? store_.last_seq() : pending_.front().first - 1;
}

uint64_t ChangeFeed::retained() const {
  const uint64_t last = store_.last_seq();
  return last >= oldest_ ? last - oldest_ + 1 : 0;
}

Result<Json> ChangeFeed::Replay(const cJSON* body, const Reader& who, size_t max_response_bytes) {
  for (const cJSON* c = body->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "after" && k != "entity" && k != "limit" && k != "request_id") {
      return Status::BadRequest("unknown field in replay request: " + std::string(k));
    }
  }
  if (!enabled()) return Status::BadRequest("the change feed is off (plugin_opt_event_retention_s 0)");
  auto after = AsInt64(cJSON_GetObjectItemCaseSensitive(body, "after"));
  if (!after || *after < 0) {
    return Status::BadRequest("replay needs \"after\": the last sequence processed, an integer >= 0 (0: from the start)");
  }
  std::string entity;
  if (const cJSON* e = cJSON_GetObjectItemCaseSensitive(body, "entity")) {
    if (!cJSON_IsString(e)) return Status::BadRequest("entity must be a string");
    if (Status s = CheckEntityName(e->valuestring); !s.ok()) return s;
    entity = e->valuestring;
  }
  int64_t limit = kDefaultReplayLimit;
  if (const cJSON* l = cJSON_GetObjectItemCaseSensitive(body, "limit")) {
    auto n = AsInt64(l);
    if (!n || *n < 1 || *n > kMaxReplayLimit) {
      return Status::BadRequest("limit must be an integer between 1 and " + std::to_string(kMaxReplayLimit));
    }
    limit = *n;
  }
  const uint64_t from = static_cast<uint64_t>(*after) + 1;
  const uint64_t visible = Visible();
  if (from < oldest_ && static_cast<uint64_t>(*after) < visible) {
    return Status::Gone("gone: events after " + std::to_string(*after) +
                        " are no longer retained (oldest retained sequence " + std::to_string(oldest_) +
                        "): resynchronise with a list, then replay from there");
  }
  RawBuilder events;
  events.Append('[');
  int64_t taken = 0;
  size_t examined = 0;
  uint64_t next = static_cast<uint64_t>(*after);
  bool complete = from > visible, stop = false;
  Status bad;
  constexpr size_t kEnvelope = 96;  // the page's own keys, next, complete and the reply's envelope
  if (!complete) {
    Status s = ScanFeed(store_, from, [&](uint64_t seq, const FeedValue& v, size_t) {
      if (seq > visible) return false;  // not durable yet: the next replay gets it
      if (++examined > kMaxExamined) { stop = true; return false; }
      const std::string_view owner = OwnerOf(v.topic);
      const bool shown = (entity.empty() || v.entity == entity) && (owner.empty() || who.admin || owner == who.username) &&
                         (!who.may_read || who.may_read(std::string(v.topic)));
      if (shown) {
        if (events.size() + v.event.size() + 1 + kEnvelope > max_response_bytes) {
          if (taken == 0) bad = Status::TooLarge("response too large: one event exceeds max_response_bytes");
          stop = true;
          return false;
        }
        if (taken > 0) events.Append(',');
        events.Append(v.event);
        ++taken;
      }
      next = seq;
      if (shown && taken >= limit) { stop = seq < visible; return false; }
      return true;
    });
    if (!s.ok()) return s;
    if (!bad.ok()) return bad;
    complete = !stop;
    if (complete) next = std::max(next, visible);  // everything up to the newest event was examined
  }
  events.Append(']');
  replayed_ += static_cast<uint64_t>(taken);
  Json out = NewObject();
  cJSON* list = events.Release();
  if (!out || !list) return Status::Internal("out of memory");
  cJSON_AddItemToObject(out.get(), "events", list);
  cJSON_AddNumberToObject(out.get(), "next", static_cast<double>(next));
  cJSON_AddBoolToObject(out.get(), "complete", complete);
  return out;
}

Status ChangeFeed::Trim(int64_t now_ms, size_t budget) {
  behind_ = false;
  if (!enabled() || oldest_ > store_.last_seq()) return Status::Ok();
  const int64_t cutoff_ms = now_ms - options_.retention_s * 1000;
  uint64_t cut = 0;  // the last sequence to remove
  uint64_t removed_bytes = 0;
  size_t n = 0;
  Status s = ScanFeed(store_, oldest_, [&](uint64_t seq, const FeedValue& v, size_t bytes) {
    const bool too_old = v.committed_ms <= cutoff_ms;
    const bool too_big = bytes_ > removed_bytes && bytes_ - removed_bytes > options_.retention_bytes;
    if (!too_old && !too_big) return false;
    cut = seq;
    removed_bytes += bytes;
    return ++n < budget;
  });
  if (!s.ok()) return s;
  if (n == 0) return Status::Ok();
  behind_ = n >= budget;
  Batch batch;
  batch.DeleteRange(std::string(keys::kFeedPrefix), keys::Feed(cut + 1));  // the oldest end only: no gap
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  oldest_ = cut + 1;
  bytes_ = bytes_ > removed_bytes ? bytes_ - removed_bytes : 0;
  return Status::Ok();
}

Status ChangeFeed::ResetAfterRestore() {
  pending_.clear();
  Batch batch;
  batch.DeleteRange(std::string(keys::kFeedPrefix), FeedEnd());
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  oldest_ = store_.last_seq() + 1;
  bytes_ = 0;
  return Status::Ok();
}

}  // namespace mqdb
