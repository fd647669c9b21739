#include "outbox/event.h"

#include "storage/keys.h"

namespace mqdb {

std::string EventTopic(const std::string& entity, const std::string& id) {
  return "$DB/" + entity + "/events/" + id;
}

std::string OwnerEventTopic(const std::string& owner, const std::string& entity, const std::string& id) {
  return "$DB/u/" + owner + "/events/" + entity + "/" + id;
}

OutboxEntry BuildEntry(const std::vector<Change>& changes, uint64_t first_seq, const std::string& operation_id,
                       const std::string& origin) {
  OutboxEntry e;
  e.first_seq = first_seq;
  e.operation_id = operation_id;
  e.origin = origin;
  uint64_t seq = first_seq;
  for (const auto& c : changes) {
    Json ev = NewObject();
    cJSON_AddNumberToObject(ev.get(), "sequence", static_cast<double>(seq));
    cJSON_AddStringToObject(ev.get(), "entity", c.entity.c_str());
    cJSON_AddStringToObject(ev.get(), "id", c.id.c_str());
    cJSON_AddStringToObject(ev.get(), "operation", ChangeKindName(c.kind));
    cJSON_AddItemToObject(ev.get(), "data", cJSON_Duplicate(c.data.get(), true));
    cJSON_AddStringToObject(ev.get(), "operation_id", operation_id.c_str());
    std::string topic = c.owner.empty() ? EventTopic(c.entity, c.id) : OwnerEventTopic(c.owner, c.entity, c.id);
    e.events.push_back({seq, std::move(topic), Print(ev.get())});
    ++seq;
  }
  return e;
}

std::string EncodeEntry(const OutboxEntry& e) {
  // Events are stored as their exact published text, so a redelivery after a restart is byte-identical.
  Json j = NewObject();
  cJSON_AddStringToObject(j.get(), "operation_id", e.operation_id.c_str());
  cJSON_AddStringToObject(j.get(), "origin", e.origin.c_str());
  cJSON* events = cJSON_AddArrayToObject(j.get(), "events");
  for (const auto& ev : e.events) {
    cJSON* item = cJSON_CreateObject();
    cJSON_AddNumberToObject(item, "sequence", static_cast<double>(ev.sequence));
    cJSON_AddStringToObject(item, "topic", ev.topic.c_str());
    cJSON_AddStringToObject(item, "payload", ev.payload.c_str());
    cJSON_AddItemToArray(events, item);
  }
  cJSON* dispatched = cJSON_AddObjectToObject(j.get(), "dispatched");
  for (const auto& [target, count] : e.dispatched) {
    cJSON_AddNumberToObject(dispatched, target.c_str(), static_cast<double>(count));
  }
  cJSON_AddNumberToObject(j.get(), "retries", e.retries);
  cJSON_AddNumberToObject(j.get(), "next_attempt_ms", static_cast<double>(e.next_attempt_ms));
  return Print(j.get());
}

Json EntryJson(const OutboxEntry& e) {
  Json j = NewObject();
  cJSON_AddStringToObject(j.get(), "operation_id", e.operation_id.c_str());
  cJSON_AddNumberToObject(j.get(), "sequence", static_cast<double>(e.first_seq));
  cJSON_AddStringToObject(j.get(), "origin", e.origin.c_str());
  cJSON* events = cJSON_AddArrayToObject(j.get(), "events");
  for (const auto& ev : e.events) {
    cJSON* parsed = cJSON_Parse(ev.payload.c_str());
    cJSON_AddItemToArray(events, parsed ? parsed : cJSON_CreateString(ev.payload.c_str()));
  }
  cJSON* dispatched = cJSON_AddObjectToObject(j.get(), "dispatched");
  for (const auto& [target, count] : e.dispatched) {
    cJSON_AddNumberToObject(dispatched, target.c_str(), static_cast<double>(count));
  }
  cJSON_AddNumberToObject(j.get(), "retries", e.retries);
  cJSON_AddNumberToObject(j.get(), "next_attempt_ms", static_cast<double>(e.next_attempt_ms));
  return j;
}

Result<OutboxEntry> DecodeEntry(std::string_view text) {
  auto j = ParseStored(text);
  if (!j.ok()) return Status::Internal("corrupt outbox entry");
  const cJSON* root = j.value().get();
  OutboxEntry e;
  e.operation_id = GetString(root, "operation_id").value_or("");
  e.origin = GetString(root, "origin").value_or("");
  const cJSON* events = cJSON_GetObjectItemCaseSensitive(root, "events");
  if (!cJSON_IsArray(events) || !events->child) return Status::Internal("corrupt outbox entry: no events");
  for (const cJSON* ev = events->child; ev; ev = ev->next) {
    auto seq = AsInt64(cJSON_GetObjectItemCaseSensitive(ev, "sequence"));
    auto topic = GetString(ev, "topic");
    auto payload = GetString(ev, "payload");
    if (!seq || !topic || !payload) return Status::Internal("corrupt outbox entry: bad event");
    e.events.push_back({static_cast<uint64_t>(*seq), *topic, *payload});
  }
  e.first_seq = e.events.front().sequence;
  if (const cJSON* d = cJSON_GetObjectItemCaseSensitive(root, "dispatched")) {
    for (const cJSON* t = d->child; t; t = t->next) {
      auto n = AsInt64(t);
      if (n && *n >= 0) e.dispatched[t->string] = static_cast<size_t>(*n);
    }
  }
  e.retries = static_cast<int>(AsInt64(cJSON_GetObjectItemCaseSensitive(root, "retries")).value_or(0));
  e.next_attempt_ms = AsInt64(cJSON_GetObjectItemCaseSensitive(root, "next_attempt_ms")).value_or(0);
  return e;
}

}  // namespace mqdb
