// Change events (PROTOCOL.md §4) and the outbox entry that carries them (ARCHITECTURE.md §3-4).
//
// One write = one outbox entry = the events of every record it affected, in order. An event is
// {"sequence","entity","id","operation","data","operation_id"}; the entry adds the write's
// operation_id and origin, per-target progress `dispatched` ({"<target>":<count>}), `retries` and
// `next_attempt_ms`. EncodeEntry stores each event's exact published text (framing in event.cc).
// Invariant: for every target, events[0 .. dispatched[target]) were delivered to it and
// events[dispatched[target] ..] were not; a missing target means 0.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "storage/json.h"
#include "storage/records.h"

namespace mqdb {

struct Event {
  uint64_t sequence = 0;
  std::string topic;    // $DB/{entity}/events/{id}
  std::string payload;  // the event JSON as published
  // An Update: the record as it was before, for live queries (did it match?). In memory only: an
  // entry recovered after a restart has none (consumer_groups.h says what live queries do then).
  std::string before;
};

struct OutboxEntry {
  uint64_t first_seq = 0;  // the entry's key: outbox/{first_seq:020}
  std::string operation_id;
  std::string origin;
  std::vector<Event> events;
  std::map<std::string, size_t> dispatched;
  int retries = 0;
  int64_t next_attempt_ms = 0;

  size_t Progress(const std::string& target) const {
    auto it = dispatched.find(target);
    return it == dispatched.end() ? 0 : it->second;
  }
};

std::string EventTopic(const std::string& entity, const std::string& id);
// Events of owned entities go to their owner's topic: $DB/u/{owner}/events/{entity}/{id}.
std::string OwnerEventTopic(const std::string& owner, const std::string& entity, const std::string& id);

// Builds the events of one write; sequences first_seq, first_seq+1, ...
OutboxEntry BuildEntry(const std::vector<Change>& changes, uint64_t first_seq, const std::string& operation_id,
                       const std::string& origin);

std::string EncodeEntry(const OutboxEntry& e);
// The entry as shown to operators: events as JSON objects rather than escaped text.
Json EntryJson(const OutboxEntry& e);
Result<OutboxEntry> DecodeEntry(std::string_view text);

}  // namespace mqdb
