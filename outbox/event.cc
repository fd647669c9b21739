#include "outbox/event.h"

#include <optional>

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
    // Assembled as text around the record printed when it was staged (printing it again, or
    // duplicating its tree, was a quarter of a write's CPU). Same bytes as cJSON would print.
    std::string payload;
    payload.reserve(96 + c.entity.size() + c.id.size() + operation_id.size() +
                    (!c.text.empty() ? c.text.size() : PrintedSizeHint(c.data.get())));
    payload += R"({"sequence":)";
    payload += std::to_string(seq);
    payload += R"(,"entity":)";
    AppendJsonString(payload, c.entity);
    payload += R"(,"id":)";
    AppendJsonString(payload, c.id);
    payload += R"(,"operation":")";
    payload += ChangeKindName(c.kind);
    payload += R"(","data":)";
    if (!c.text.empty()) payload += c.text;
    else if (c.data) AppendJson(payload, c.data.get());
    else payload += "null";
    payload += R"(,"operation_id":)";
    AppendJsonString(payload, operation_id);
    payload += '}';
    std::string topic = c.owner.empty() ? EventTopic(c.entity, c.id) : OwnerEventTopic(c.owner, c.entity, c.id);
    e.events.push_back({seq, std::move(topic), std::move(payload), c.before_text});
    ++seq;
  }
  return e;
}

// Stored form (version 2): a JSON header line, then each event framed by its lengths, so the event text
// is stored as is: no escaping on the way in, no unescaping on the way out, byte-identical redelivery.
//   E2\n{"operation_id":…,"origin":…,"dispatched":{…},"retries":N,"next_attempt_ms":N}\n
//   {sequence} {topic bytes} {payload bytes}\n{topic}{payload}      (once per event)
// Version 1 (a single JSON object whose events carry their payload as a string) is still read.
constexpr std::string_view kEntryV2 = "E2\n";

std::string EncodeEntry(const OutboxEntry& e) {
  std::string out(kEntryV2);
  size_t bytes = 0;
  for (const auto& ev : e.events) bytes += ev.topic.size() + ev.payload.size() + 32;
  out.reserve(128 + bytes);
  out += R"({"operation_id":)";
  AppendJsonString(out, e.operation_id);
  out += R"(,"origin":)";
  AppendJsonString(out, e.origin);
  out += R"(,"dispatched":{)";
  bool first = true;
  for (const auto& [target, count] : e.dispatched) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, target);
    out += ':' + std::to_string(count);
  }
  out += R"(},"retries":)" + std::to_string(e.retries) + R"(,"next_attempt_ms":)" + std::to_string(e.next_attempt_ms);
  out += "}\n";
  for (const auto& ev : e.events) {
    out += std::to_string(ev.sequence) + ' ' + std::to_string(ev.topic.size()) + ' ' + std::to_string(ev.payload.size());
    out += '\n';
    out += ev.topic;
    out += ev.payload;
  }
  return out;
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

namespace {

// Reads "{n}{sep}" at `pos` (decimal digits only), advancing past the separator.
std::optional<uint64_t> ReadNumber(std::string_view text, size_t& pos, char sep) {
  size_t start = pos;
  uint64_t n = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 19) n = n * 10 + (text[pos++] - '0');
  if (pos == start || pos >= text.size() || text[pos] != sep) return std::nullopt;
  ++pos;
  return n;
}

// The header fields shared by both versions.
void DecodeHeader(const cJSON* root, OutboxEntry& e) {
  e.operation_id = GetString(root, "operation_id").value_or("");
  e.origin = GetString(root, "origin").value_or("");
  if (const cJSON* d = cJSON_GetObjectItemCaseSensitive(root, "dispatched")) {
    for (const cJSON* t = d->child; t; t = t->next) {
      auto n = AsInt64(t);
      if (n && *n >= 0) e.dispatched[t->string] = static_cast<size_t>(*n);
    }
  }
  e.retries = static_cast<int>(AsInt64(cJSON_GetObjectItemCaseSensitive(root, "retries")).value_or(0));
  e.next_attempt_ms = AsInt64(cJSON_GetObjectItemCaseSensitive(root, "next_attempt_ms")).value_or(0);
}

Result<OutboxEntry> DecodeV2(std::string_view text) {
  const Status corrupt = Status::Internal("corrupt outbox entry");
  size_t nl = text.find('\n', kEntryV2.size());
  if (nl == std::string_view::npos) return corrupt;
  auto header = ParseStored(text.substr(kEntryV2.size(), nl - kEntryV2.size()));
  if (!header.ok() || !cJSON_IsObject(header.value().get())) return corrupt;
  OutboxEntry e;
  DecodeHeader(header.value().get(), e);
  size_t pos = nl + 1;
  while (pos < text.size()) {
    auto seq = ReadNumber(text, pos, ' ');
    auto topic_len = seq ? ReadNumber(text, pos, ' ') : std::nullopt;
    auto payload_len = topic_len ? ReadNumber(text, pos, '\n') : std::nullopt;
    if (!payload_len || *topic_len > text.size() - pos || *payload_len > text.size() - pos - *topic_len) {
      return Status::Internal("corrupt outbox entry: bad event");
    }
    std::string topic(text.substr(pos, *topic_len));
    pos += *topic_len;
    std::string payload(text.substr(pos, *payload_len));
    pos += *payload_len;
    e.events.push_back({*seq, std::move(topic), std::move(payload)});
  }
  if (e.events.empty()) return Status::Internal("corrupt outbox entry: no events");
  e.first_seq = e.events.front().sequence;
  return e;
}

}  // namespace

Result<OutboxEntry> DecodeEntry(std::string_view text) {
  if (text.substr(0, kEntryV2.size()) == kEntryV2) return DecodeV2(text);
  auto j = ParseStored(text);
  if (!j.ok()) return Status::Internal("corrupt outbox entry");
  const cJSON* root = j.value().get();
  OutboxEntry e;
  DecodeHeader(root, e);
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
  return e;
}

}  // namespace mqdb
