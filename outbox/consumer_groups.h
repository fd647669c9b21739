// Consumer groups (PROTOCOL.md §6): several clients share one entity's events.
//
//   broadcast      every member receives every event
//   load_balanced  each event goes to exactly one live member, round robin
//   ordered        16 partitions by crc32(record id); each partition owned by one live member, so all
//                  events of a record reach the same member, in commit order
//
// Each group is a delivery target of the outbox (its GroupSink), with its own progress in every outbox
// entry: a failed delivery resumes at the failed event and nothing is delivered twice. Deliveries are
// publishes addressed to the member's client alone, on $DB/_sub/{member id}/events, QoS 1 — so a member
// with a persistent session that is briefly offline gets them queued by the broker.
// Events are never requeued: an event handed to a member that later times out is not given to another
// (at most one member ever receives an event). Members are persisted under sub/{id} (with their
// partitions); heartbeats are kept in memory (a restart counts as a heartbeat).
//
// Live queries (PROTOCOL.md §6): a group may carry `filters` (the list query language), the same for
// all its members. It then receives only the events whose record matches, each delivery carrying
// "match": a Create of a matching record "enter", a Delete of a matching record "leave", an Update
// "enter" / "stay" / "leave" as the record matched after / before and after / before only (an update
// that matched neither is not delivered). The before-image travels with the event in memory only: an
// update recovered from the outbox after a restart is delivered as "enter" if its record matches now
// and "leave" if not, which an upsert / remove-if-present client handles correctly. A member that
// joined with a snapshot read at sequence S is given no event <= S (the snapshot holds it).
// All groups with filters share one delivery target (LiveSink), which indexes them by the first
// equality filter each has (field path and value), so a write tests only the groups its record's
// values (before and after) can match, plus those without an equality filter; a failed delivery is
// retried without repeating it to the groups that already have it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "outbox/assignment.h"
#include "outbox/event_sink.h"
#include "storage/query.h"
#include "storage/json.h"
#include "storage/store.h"

namespace mqdb {

enum class GroupMode { kBroadcast, kLoadBalanced, kOrdered };
const char* GroupModeName(GroupMode m);

constexpr size_t kMaxMembersPerGroup = 64;
constexpr size_t kMaxGroups = 1000;

// One message to one client (targeted publish, QoS 1).
struct Delivery {
  std::string client_id;
  std::string topic;
  std::string payload;
};
using Deliver = std::function<Status(const Delivery&)>;

class ConsumerGroups {
 public:
  ConsumerGroups(Store& store, int timeout_s);
  ~ConsumerGroups();
  void SetDeliver(Deliver deliver) { deliver_ = std::move(deliver); }

  Status Load(int64_t now_ms);

  // {"entity","group","mode","filters"} -> {"id","topic","partitions"}; `clean`: the client's session
  // is clean (it is removed as soon as it disconnects). `snapshot_seq`: the member read a snapshot at
  // that sequence (0: none). "snapshot" and "limit" are the caller's (Service) and ignored here.
  Result<Json> Subscribe(const cJSON* payload, const std::string& client_id, bool clean, int64_t now_ms,
                         uint64_t snapshot_seq = 0);
  // The `filters` of a subscribe payload, validated as a count query's (nullopt: none given).
  static Result<std::optional<Query>> ParseFilters(const cJSON* payload);
  Result<Json> Heartbeat(const std::string& member_id, const std::string& client_id, int64_t now_ms);
  Result<Json> Unsubscribe(const std::string& member_id, const std::string& client_id);
  // A clean-session client disconnected: its members leave at once.
  void ClientGone(const std::string& client_id);
  // Members silent for longer than the timeout leave.
  void ExpireSilent(int64_t now_ms);

  // Appends one delivery target per group to `sinks`.
  void AppendSinks(std::vector<EventSink*>& sinks) const;
  Json GroupsJson() const;
  Result<Json> GroupJson(const std::string& name, int64_t now_ms) const;
  size_t member_count() const { return members_.size(); }

 private:
  struct Member {
    std::string id, entity, group, client_id;
    bool clean = true;
    int64_t last_heartbeat_ms = 0;
    uint64_t snapshot_seq = 0;  // events up to here are in the member's snapshot (in memory only)
  };
  class GroupSink;
  class LiveSink;
  struct Group {
    std::string entity, name;
    GroupMode mode = GroupMode::kBroadcast;
    std::vector<std::string> members;  // member ids in join order
    Assignment assignment;             // ordered mode
    size_t next = 0;                   // load_balanced round robin position
    std::string filters_text;          // live query: the filters as given (printed), empty: none
    std::vector<Filter> filters;
    std::unique_ptr<GroupSink> sink;
  };

  Group& GroupFor(const std::string& entity, const std::string& name, GroupMode mode);
  void Remove(const std::string& member_id);
  // Persists the members of `g` (and deletes `gone`, if any) in one batch.
  Status Persist(const Group& g, const std::string& gone);
  void NotifyRebalance(const Group& g, const Assignment& before);
  Status Send(const Member& m, const std::string& payload) const;
  std::vector<int> PartitionsOf(const Group& g, const std::string& member_id) const;

  // Events parsed for live queries, by sequence (see Parsed).
  struct ParsedEvent {
    Json event, before;
  };
  const ParsedEvent& Parsed(const Event& ev);

  // The live-query index (LiveSink): per entity, groups by (path, encoded value) of their first
  // equality filter, and the others. Rebuilt when a group gains its first or loses its last member.
  struct EntityLive {
    std::vector<std::pair<FieldPath, std::map<std::string, std::vector<Group*>>>> by_eq;
    std::vector<Group*> unindexed;
  };
  void RebuildLiveIndex();
  std::map<std::string, EntityLive, std::less<>> live_index_;
  bool live_index_dirty_ = true;
  size_t live_groups_ = 0;  // groups with filters and members
  std::unique_ptr<LiveSink> live_sink_;
  static constexpr size_t kParsedCache = 256;
  std::unordered_map<uint64_t, ParsedEvent> parsed_;
  ParsedEvent uncached_;  // an event without a sequence (a direct Publish)

  Store& store_;
  int64_t timeout_ms_;
  Deliver deliver_;
  std::map<std::string, Group> groups_;    // "{entity}/{group}" -> group
  std::map<std::string, Member> members_;  // member id -> member
};

}  // namespace mqdb
