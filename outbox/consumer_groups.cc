#include "outbox/consumer_groups.h"

#include <algorithm>
#include <set>

#include "storage/keys.h"
#include "storage/names.h"
#include "storage/split.h"
#include "storage/uuid.h"

namespace mqdb {

namespace {

const std::string kSubPrefix = "sub/";

std::string GroupKey(const std::string& entity, const std::string& name) { return entity + "/" + name; }
std::string MemberTopic(const std::string& id) { return "$DB/_sub/" + id + "/events"; }

Result<GroupMode> ParseMode(const cJSON* v) {
  if (!v) return GroupMode::kBroadcast;
  std::string m = cJSON_IsString(v) ? v->valuestring : "";
  if (m == "broadcast") return GroupMode::kBroadcast;
  if (m == "load_balanced") return GroupMode::kLoadBalanced;
  if (m == "ordered") return GroupMode::kOrdered;
  return Status::BadRequest("mode must be broadcast, load_balanced or ordered");
}

Json IntArray(const std::vector<int>& v) {
  Json a = NewArray();
  for (int p : v) cJSON_AddItemToArray(a.get(), cJSON_CreateNumber(p));
  return a;
}

// Entity and record id of an event topic: $DB/{entity}/events/{id} or $DB/u/{owner}/events/{entity}/{id}.
// Views into `topic`: this runs for every event and every group.
bool EventParts(std::string_view topic, std::string_view* entity, std::string_view* id) {
  auto p = Split(topic, '/');
  if (p.size() == 4 && p[2] == "events") { *entity = p[1]; *id = p[3]; return true; }
  if (p.size() == 6 && p[1] == "u" && p[3] == "events") { *entity = p[4]; *id = p[5]; return true; }
  return false;
}

}  // namespace

const char* GroupModeName(GroupMode m) {
  switch (m) {
    case GroupMode::kBroadcast: return "broadcast";
    case GroupMode::kLoadBalanced: return "load_balanced";
    case GroupMode::kOrdered: return "ordered";
  }
  return "?";
}

// The outbox target of one group: picks the member(s) of each event of the group's entity.
class ConsumerGroups::GroupSink : public EventSink {
 public:
  GroupSink(ConsumerGroups& owner, Group& group)
      : owner_(owner), group_(group), target_("group:" + GroupKey(group.entity, group.name)) {}
  const std::string& target() const override { return target_; }
  Status Publish(const std::string& topic, const std::string& payload, const std::string& origin) override {
    return PublishEvent(Event{0, topic, payload, {}}, origin);
  }
  Status PublishEvent(const Event& ev, const std::string&) override {
    std::string_view entity, id;
    if (group_.members.empty() || !EventParts(ev.topic, &entity, &id) || entity != group_.entity) return Status::Ok();
    if (group_.filters.empty()) return Deliver(id, ev.payload, ev.sequence);
    const char* match = Match(ev);
    if (!match) return Status::Ok();
    std::string payload = R"({"match":")";
    payload += match;
    payload += "\",";
    payload.append(ev.payload, 1, std::string::npos);  // the event's own members follow
    return Deliver(id, payload, ev.sequence);
  }

 private:
  // The live query's verdict on one event (see the header), nullptr: not for this group.
  const char* Match(const Event& ev) const {
    const ParsedEvent& parsed = owner_.Parsed(ev);
    if (!parsed.event) return nullptr;
    const cJSON* op = cJSON_GetObjectItemCaseSensitive(parsed.event.get(), "operation");
    const cJSON* data = cJSON_GetObjectItemCaseSensitive(parsed.event.get(), "data");
    if (!cJSON_IsString(op)) return nullptr;
    const bool now = Matches(group_.filters, data);
    const std::string_view kind = op->valuestring;
    if (kind == "Create") return now ? "enter" : nullptr;
    if (kind == "Delete") return now ? "leave" : nullptr;  // a Delete's data is the record as it was
    std::optional<bool> was;
    if (parsed.before) was = Matches(group_.filters, parsed.before.get());
    if (!was) return now ? "enter" : "leave";  // recovered after a restart: no before-image
    if (*was && now) return "stay";
    if (now) return "enter";
    return *was ? "leave" : nullptr;
  }

  // True when `m` already has event `seq` in its snapshot.
  bool InSnapshot(const std::string& m, uint64_t seq) const {
    return seq != 0 && owner_.members_.at(m).snapshot_seq >= seq;
  }

  Status Deliver(std::string_view id, const std::string& payload, uint64_t seq) {
    switch (group_.mode) {
      case GroupMode::kBroadcast: {
        // One event, several members: a failure part-way must not make the retry (which is always the
        // same event: the outbox resumes at the first one not delivered) repeat it to those who got it.
        if (payload != retrying_) {
          retrying_ = payload;
          done_.clear();
        }
        for (const auto& m : group_.members) {
          if (done_.count(m)) continue;
          if (!InSnapshot(m, seq)) {
            if (Status s = owner_.Send(owner_.members_.at(m), payload); !s.ok()) return s;
          }
          done_.insert(m);
        }
        retrying_.clear();
        done_.clear();
        return Status::Ok();
      }
      case GroupMode::kLoadBalanced: {
        const std::string& m = group_.members[group_.next % group_.members.size()];
        Status s = InSnapshot(m, seq) ? Status::Ok() : owner_.Send(owner_.members_.at(m), payload);
        if (s.ok()) ++group_.next;  // a failed attempt is retried with the same member
        return s;
      }
      case GroupMode::kOrdered: {
        std::string m = OwnerOf(group_.assignment, GroupPartitionOf(id));
        return m.empty() || InSnapshot(m, seq) ? Status::Ok() : owner_.Send(owner_.members_.at(m), payload);
      }
    }
    return Status::Ok();
  }

  ConsumerGroups& owner_;
  Group& group_;
  std::string target_;
  std::string retrying_;        // broadcast: the event being delivered ...
  std::set<std::string> done_;  // ... and the members that already have it
};

// The one outbox target of every group with filters: finds the groups an event can concern through
// the index, and hands the event to each of those groups' own sink (which decides the match).
class ConsumerGroups::LiveSink : public EventSink {
 public:
  explicit LiveSink(ConsumerGroups& owner) : owner_(owner) {}
  const std::string& target() const override { return target_; }
  Status Publish(const std::string& topic, const std::string& payload, const std::string& origin) override {
    return PublishEvent(Event{0, topic, payload, {}}, origin);
  }
  Status PublishEvent(const Event& ev, const std::string& origin) override {
    if (owner_.live_index_dirty_) owner_.RebuildLiveIndex();
    std::string_view entity, id;
    if (!EventParts(ev.topic, &entity, &id)) return Status::Ok();
    auto it = owner_.live_index_.find(entity);
    if (it == owner_.live_index_.end()) return Status::Ok();
    const ParsedEvent& parsed = owner_.Parsed(ev);
    if (!parsed.event) return Status::Ok();
    const cJSON* data = cJSON_GetObjectItemCaseSensitive(parsed.event.get(), "data");
    candidates_.clear();
    for (const auto& [path, groups] : it->second.by_eq) {
      for (const cJSON* record : {data, static_cast<const cJSON*>(parsed.before.get())}) {
        if (!record) continue;
        const cJSON* v = Lookup(record, path);
        if (!v) continue;
        auto hit = groups.find(keys::EncodeSortable(v));
        if (hit != groups.end()) candidates_.insert(candidates_.end(), hit->second.begin(), hit->second.end());
      }
    }
    candidates_.insert(candidates_.end(), it->second.unindexed.begin(), it->second.unindexed.end());
    std::sort(candidates_.begin(), candidates_.end());
    candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
    // A retry is always the same event (the outbox resumes at the first one not delivered): the
    // groups that got it the first time do not get it again.
    if (ev.sequence != retrying_ || ev.payload != retrying_payload_) {
      retrying_ = ev.sequence;
      retrying_payload_ = ev.payload;
      done_.clear();
    }
    for (Group* g : candidates_) {
      if (done_.count(g)) continue;
      if (Status s = g->sink->PublishEvent(ev, origin); !s.ok()) return s;
      done_.insert(g);
    }
    retrying_ = 0;
    retrying_payload_.clear();
    done_.clear();
    return Status::Ok();
  }

 private:
  ConsumerGroups& owner_;
  std::string target_ = "live-queries";
  std::vector<Group*> candidates_;
  uint64_t retrying_ = 0;
  std::string retrying_payload_;
  std::set<Group*> done_;
};

void ConsumerGroups::RebuildLiveIndex() {
  live_index_.clear();
  live_groups_ = 0;
  for (auto& [key, g] : groups_) {
    if (g.members.empty() || g.filters_text.empty()) continue;
    ++live_groups_;
    EntityLive& e = live_index_[g.entity];
    const Filter* eq = nullptr;
    for (const auto& f : g.filters) {
      if (f.op == FilterOp::kEq && !keys::EncodeSortable(f.value.get()).empty()) {
        eq = &f;
        break;
      }
    }
    if (!eq) {
      e.unindexed.push_back(&g);
      continue;
    }
    auto slot = std::find_if(e.by_eq.begin(), e.by_eq.end(), [&](const auto& p) { return p.first == eq->path; });
    if (slot == e.by_eq.end()) {
      e.by_eq.emplace_back(eq->path, std::map<std::string, std::vector<Group*>>{});
      slot = std::prev(e.by_eq.end());
    }
    slot->second[keys::EncodeSortable(eq->value.get())].push_back(&g);
  }
  live_index_dirty_ = false;
}

ConsumerGroups::ConsumerGroups(Store& store, int timeout_s) : store_(store), timeout_ms_(int64_t{timeout_s} * 1000) {
  live_sink_ = std::make_unique<LiveSink>(*this);
}

const ConsumerGroups::ParsedEvent& ConsumerGroups::Parsed(const Event& ev) {
  // The outbox hands each event to every group in turn (sink by sink, an entry's events each time):
  // parse an event once for all the live queries, not once per query.
  if (ev.sequence != 0) {
    if (auto it = parsed_.find(ev.sequence); it != parsed_.end()) return it->second;
  }
  if (parsed_.size() >= kParsedCache) parsed_.clear();
  ParsedEvent p;
  if (auto e = ParseStored(ev.payload); e.ok()) p.event = std::move(e.value());
  if (!ev.before.empty()) {
    if (auto b = ParseStored(ev.before); b.ok()) p.before = std::move(b.value());
  }
  if (ev.sequence == 0) {
    uncached_ = std::move(p);
    return uncached_;
  }
  return parsed_.emplace(ev.sequence, std::move(p)).first->second;
}
ConsumerGroups::~ConsumerGroups() = default;

Status ConsumerGroups::Send(const Member& m, const std::string& payload) const {
  if (!deliver_) return Status::Unavailable("no delivery path for consumer groups");
  return deliver_({m.client_id, MemberTopic(m.id), payload});
}

ConsumerGroups::Group& ConsumerGroups::GroupFor(const std::string& entity, const std::string& name, GroupMode mode) {
  auto [it, fresh] = groups_.try_emplace(GroupKey(entity, name));
  Group& g = it->second;
  if (fresh) {
    g.entity = entity;
    g.name = name;
    g.mode = mode;
    g.sink = std::make_unique<GroupSink>(*this, g);
  }
  return g;
}

std::vector<int> ConsumerGroups::PartitionsOf(const Group& g, const std::string& member_id) const {
  if (g.mode != GroupMode::kOrdered) return {};
  auto it = g.assignment.find(member_id);
  return it == g.assignment.end() ? std::vector<int>{} : it->second;
}

Status ConsumerGroups::Persist(const Group& g, const std::string& gone) {
  Batch batch;
  if (!gone.empty()) batch.Delete(kSubPrefix + gone);
  for (const auto& id : g.members) {
    const Member& m = members_.at(id);
    Json j = NewObject();
    cJSON_AddStringToObject(j.get(), "entity", m.entity.c_str());
    cJSON_AddStringToObject(j.get(), "group", m.group.c_str());
    cJSON_AddStringToObject(j.get(), "mode", GroupModeName(g.mode));
    cJSON_AddStringToObject(j.get(), "client_id", m.client_id.c_str());
    cJSON_AddBoolToObject(j.get(), "clean", m.clean);
    cJSON_AddItemToObject(j.get(), "partitions", IntArray(PartitionsOf(g, id)).release());
    if (!g.filters_text.empty()) cJSON_AddItemToObject(j.get(), "filters", cJSON_CreateRaw(g.filters_text.c_str()));
    batch.Put(kSubPrefix + id, Print(j.get()));
  }
  auto t = store_.Commit(batch);
  return t.ok() ? Status::Ok() : t.status();
}

void ConsumerGroups::NotifyRebalance(const Group& g, const Assignment& before) {
  if (g.mode != GroupMode::kOrdered) return;
  for (const auto& id : g.members) {
    auto was = before.find(id);
    std::vector<int> now = PartitionsOf(g, id);
    if (was != before.end() && was->second == now) continue;
    if (was == before.end()) continue;  // a joining member learns its partitions from its response
    Json msg = NewObject();
    cJSON_AddStringToObject(msg.get(), "operation", "Rebalance");
    cJSON_AddItemToObject(msg.get(), "partitions", IntArray(now).release());
    Send(members_.at(id), Print(msg.get()));
  }
}

Status ConsumerGroups::Load(int64_t now_ms) {
  Status bad;
  std::vector<std::pair<std::string, Json>> stored;
  Status s = store_.Scan(kSubPrefix, [&](std::string_view key, std::string_view value) {
    auto j = ParseStored(value);
    if (!j.ok()) { bad = Status::Internal("corrupt consumer group member " + std::string(key)); return false; }
    stored.emplace_back(std::string(key.substr(kSubPrefix.size())), std::move(j.value()));
    return true;
  });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  for (auto& [id, j] : stored) {  // ids are UUIDv7: key order is join order
    Member m;
    m.id = id;
    m.entity = GetString(j.get(), "entity").value_or("");
    m.group = GetString(j.get(), "group").value_or("");
    m.client_id = GetString(j.get(), "client_id").value_or("");
    m.clean = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j.get(), "clean"));
    m.last_heartbeat_ms = now_ms;  // a restart counts as a heartbeat
    auto mode = ParseMode(cJSON_GetObjectItemCaseSensitive(j.get(), "mode"));
    if (!mode.ok()) return Status::Internal("corrupt consumer group member " + id);
    Group& g = GroupFor(m.entity, m.group, mode.value());
    if (g.members.empty()) {
      auto filters = ParseFilters(j.get());
      if (!filters.ok()) return Status::Internal("corrupt consumer group member " + id + ": " + filters.status().message());
      if (filters.value()) {
        g.filters_text = Print(cJSON_GetObjectItemCaseSensitive(j.get(), "filters"));
        g.filters = std::move(filters.value()->filters);
      }
    }
    g.members.push_back(id);
    live_index_dirty_ = true;
    if (g.mode == GroupMode::kOrdered) {
      std::vector<int>& parts = g.assignment[id];
      const cJSON* stored_parts = cJSON_GetObjectItemCaseSensitive(j.get(), "partitions");
      for (const cJSON* p = stored_parts ? stored_parts->child : nullptr; p; p = p->next) {
        parts.push_back(static_cast<int>(p->valuedouble));
      }
    }
    members_[id] = std::move(m);
  }
  return Status::Ok();
}

Result<std::optional<Query>> ConsumerGroups::ParseFilters(const cJSON* payload) {
  const cJSON* filters = cJSON_GetObjectItemCaseSensitive(payload, "filters");
  if (!filters) return std::optional<Query>();
  Json q = NewObject();
  cJSON_AddItemToObject(q.get(), "filters", cJSON_Duplicate(filters, true));
  auto parsed = ParseQuery(q.get(), QueryKind::kCount);
  if (!parsed.ok()) return parsed.status();
  return std::optional<Query>(std::move(parsed.value()));
}

Result<Json> ConsumerGroups::Subscribe(const cJSON* payload, const std::string& client_id, bool clean, int64_t now_ms,
                                       uint64_t snapshot_seq) {
  for (const cJSON* c = payload->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "entity" && k != "group" && k != "mode" && k != "request_id" && k != "filters" && k != "snapshot" &&
        k != "limit") {
      return Status::BadRequest("unknown field in subscribe request: " + std::string(k));
    }
  }
  auto filters = ParseFilters(payload);
  if (!filters.ok()) return filters.status();
  const cJSON* given_filters = cJSON_GetObjectItemCaseSensitive(payload, "filters");
  const std::string filters_text = given_filters ? Print(given_filters) : "";
  const cJSON* entity = cJSON_GetObjectItemCaseSensitive(payload, "entity");
  const cJSON* group = cJSON_GetObjectItemCaseSensitive(payload, "group");
  if (!cJSON_IsString(entity)) return Status::BadRequest("subscribe needs \"entity\"");
  if (Status s = CheckEntityName(entity->valuestring); !s.ok()) return s;
  if (!cJSON_IsString(group) || !CheckNameChars(group->valuestring, "group").ok()) {
    return Status::BadRequest("subscribe needs \"group\": 1-128 of A-Z a-z 0-9 _ - (not starting with _)");
  }
  auto mode = ParseMode(cJSON_GetObjectItemCaseSensitive(payload, "mode"));
  if (!mode.ok()) return mode.status();
  const std::string key = GroupKey(entity->valuestring, group->valuestring);
  auto existing = groups_.find(key);
  if (existing != groups_.end() && !existing->second.members.empty()) {
    if (existing->second.mode != mode.value()) {
      return Status::Conflict(std::string("group ") + group->valuestring + " uses mode " + GroupModeName(existing->second.mode));
    }
    if (existing->second.filters_text != filters_text) {
      // Not the filters themselves: a non-admin's carry the owner's name (Service scopes them).
      return Status::Conflict(std::string("group ") + group->valuestring + " uses other filters");
    }
    if (existing->second.members.size() >= kMaxMembersPerGroup) {
      return Status::Conflict(std::string("group ") + group->valuestring + " is full (" +
                              std::to_string(kMaxMembersPerGroup) + " members)");
    }
  } else if (existing == groups_.end() && groups_.size() >= kMaxGroups) {
    return Status::Conflict("too many consumer groups (" + std::to_string(kMaxGroups) + ")");
  }
  if (existing != groups_.end() && existing->second.members.empty()) existing->second.mode = mode.value();
  Group& g = GroupFor(entity->valuestring, group->valuestring, mode.value());
  if (g.members.empty()) {
    g.filters_text = filters_text;
    g.filters = filters.value() ? std::move(filters.value()->filters) : std::vector<Filter>{};
  }
  Member m;
  m.id = NewUuidV7();
  m.entity = g.entity;
  m.group = g.name;
  m.client_id = client_id;
  m.clean = clean;
  m.last_heartbeat_ms = now_ms;
  m.snapshot_seq = snapshot_seq;
  const std::string id = m.id;
  members_[id] = std::move(m);
  Assignment before = g.assignment;
  g.members.push_back(id);
  live_index_dirty_ = true;
  if (g.mode == GroupMode::kOrdered) AssignJoin(g.assignment, id);
  if (Status s = Persist(g, ""); !s.ok()) {
    g.members.pop_back();
    g.assignment = before;
    members_.erase(id);
    return s;
  }
  NotifyRebalance(g, before);
  Json out = NewObject();
  cJSON_AddStringToObject(out.get(), "id", id.c_str());
  cJSON_AddStringToObject(out.get(), "topic", MemberTopic(id).c_str());
  cJSON_AddItemToObject(out.get(), "partitions", IntArray(PartitionsOf(g, id)).release());
  return out;
}

Result<Json> ConsumerGroups::Heartbeat(const std::string& member_id, const std::string& client_id, int64_t now_ms) {
  auto it = members_.find(member_id);
  if (it == members_.end()) return Status::NotFound("not found: consumer group member " + member_id);
  if (it->second.client_id != client_id) return Status::Forbidden("forbidden: member " + member_id + " belongs to another client");
  it->second.last_heartbeat_ms = now_ms;
  const Group& g = groups_.at(GroupKey(it->second.entity, it->second.group));
  Json out = NewObject();
  cJSON_AddStringToObject(out.get(), "id", member_id.c_str());
  cJSON_AddItemToObject(out.get(), "partitions", IntArray(PartitionsOf(g, member_id)).release());
  return out;
}

Result<Json> ConsumerGroups::Unsubscribe(const std::string& member_id, const std::string& client_id) {
  auto it = members_.find(member_id);
  if (it == members_.end()) return Status::NotFound("not found: consumer group member " + member_id);
  if (it->second.client_id != client_id) return Status::Forbidden("forbidden: member " + member_id + " belongs to another client");
  Remove(member_id);
  Json out = NewObject();
  cJSON_AddTrueToObject(out.get(), "unsubscribed");
  return out;
}

void ConsumerGroups::Remove(const std::string& member_id) {
  auto it = members_.find(member_id);
  if (it == members_.end()) return;
  Group& g = groups_.at(GroupKey(it->second.entity, it->second.group));
  Assignment before = g.assignment;
  g.members.erase(std::remove(g.members.begin(), g.members.end(), member_id), g.members.end());
  live_index_dirty_ = true;
  if (g.mode == GroupMode::kOrdered) AssignLeave(g.assignment, member_id);
  members_.erase(it);
  Persist(g, member_id);  // a failure leaves a stale sub/ record that the next change rewrites
  NotifyRebalance(g, before);
}

void ConsumerGroups::ClientGone(const std::string& client_id) {
  std::vector<std::string> gone;
  for (const auto& [id, m] : members_) if (m.client_id == client_id && m.clean) gone.push_back(id);
  for (const auto& id : gone) Remove(id);
}

void ConsumerGroups::ExpireSilent(int64_t now_ms) {
  std::vector<std::string> gone;
  for (const auto& [id, m] : members_) if (now_ms - m.last_heartbeat_ms > timeout_ms_) gone.push_back(id);
  for (const auto& id : gone) Remove(id);
}

void ConsumerGroups::AppendSinks(std::vector<EventSink*>& sinks) const {
  bool live = false;
  for (const auto& [key, g] : groups_) {
    if (g.filters_text.empty()) sinks.push_back(g.sink.get());
    else live |= !g.members.empty();
  }
  // Groups with filters (and members) are served by the one live-query target, through its index.
  if (live) sinks.push_back(live_sink_.get());
}

Json ConsumerGroups::GroupsJson() const {
  Json arr = NewArray();
  for (const auto& [key, g] : groups_) {
    if (g.members.empty()) continue;
    cJSON* item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "name", g.name.c_str());
    cJSON_AddStringToObject(item, "entity", g.entity.c_str());
    cJSON_AddStringToObject(item, "mode", GroupModeName(g.mode));
    cJSON_AddNumberToObject(item, "members", static_cast<double>(g.members.size()));
    cJSON_AddItemToArray(arr.get(), item);
  }
  return arr;
}

Result<Json> ConsumerGroups::GroupJson(const std::string& name, int64_t now_ms) const {
  Json arr = NewArray();
  for (const auto& [key, g] : groups_) {
    if (g.name != name || g.members.empty()) continue;
    cJSON* item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "name", g.name.c_str());
    cJSON_AddStringToObject(item, "entity", g.entity.c_str());
    cJSON_AddStringToObject(item, "mode", GroupModeName(g.mode));
    cJSON* members = cJSON_AddArrayToObject(item, "members");
    for (const auto& id : g.members) {
      const Member& m = members_.at(id);
      cJSON* mj = cJSON_CreateObject();
      cJSON_AddStringToObject(mj, "id", id.c_str());
      cJSON_AddStringToObject(mj, "client_id", m.client_id.c_str());
      cJSON_AddItemToObject(mj, "partitions", IntArray(PartitionsOf(g, id)).release());
      cJSON_AddNumberToObject(mj, "last_heartbeat_ms", static_cast<double>(m.last_heartbeat_ms));
      cJSON_AddNumberToObject(mj, "silent_ms", static_cast<double>(now_ms - m.last_heartbeat_ms));
      cJSON_AddItemToArray(members, mj);
    }
    cJSON_AddItemToArray(arr.get(), item);
  }
  if (!arr->child) return Status::NotFound("not found: consumer group " + name);
  return arr;
}

}  // namespace mqdb
