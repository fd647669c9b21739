// The fuzz input format, shared by the libFuzzer target and the corpus replay unit test:
//   byte 0        flags: bit 0 = requester is an admin, bits 1-2 = QoS, bit 3 = has correlation data
//   bytes 1..     "$DB/" + topic suffix, up to the first '\n'; the rest is the payload
#pragma once

#include <string>
#include <string_view>

#include "plugin/service.h"

namespace mqdb::fuzz {

struct Input {
  Service::Request request;
  std::string topic;  // owns the bytes request.topic points into
};

inline Input Decode(const uint8_t* data, size_t size) {
  Input in;
  uint8_t flags = size > 0 ? data[0] : 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + (size > 0 ? 1 : 0), size > 0 ? size - 1 : 0);
  size_t nl = rest.find('\n');
  in.topic = "$DB/" + std::string(rest.substr(0, nl));
  in.request.topic = in.topic;
  in.request.payload = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  in.request.client_id = "fuzz-client";
  in.request.username = (flags & 1) ? "admin" : "alice";
  in.request.qos = (flags >> 1) & 3;
  if (flags & 8) in.request.correlation = "corr-" + std::to_string(size % 7);
  return in;
}

inline Config FuzzConfig(const std::string& dir) {
  Config c;
  c.store = {dir, Durability::kNone, 10};
  c.backup_dir = dir + "-backups";
  c.admin_users = {"admin"};
  c.node_id = "fuzz";
  c.max_payload = 1 << 16;
  c.max_scan = 5000;
  c.ownership = {{"notes", "owner"}};
  return c;
}

// One request through the service; aborts if an invariant of the protocol breaks.
inline void RunOne(Service& svc, EventSink& sink, const uint8_t* data, size_t size) {
  Input in = Decode(data, size);
  Service::Reply reply = svc.Handle(in.request);
  if (reply.respond && !reply.already_answered) {
    std::string env = reply.envelope ? *reply.envelope : Service::Envelope(reply);
    // Every response is one RFC 8259 envelope, printed canonically: parsing it and printing it again
    // gives the same bytes (numbers exact, strings escaped one way). The strict parser refuses NUL,
    // which only an error message quoting a fuzzed topic can hold (MQTT topics cannot).
    auto parsed = ParseStored(env);
    if (!parsed.ok()) {
      Json loose(cJSON_ParseWithLength(env.data(), env.size()));
      if (env.find("\\u0000") == std::string::npos || !loose) __builtin_trap();
      return svc.Pump({&sink});
    }
    if (!cJSON_IsObject(parsed.value().get()) || Print(parsed.value().get()) != env) __builtin_trap();
    const cJSON* status = cJSON_GetObjectItemCaseSensitive(parsed.value().get(), "status");
    if (!cJSON_IsString(status)) __builtin_trap();
  }
  svc.Pump({&sink});
}

class NullSink : public EventSink {
 public:
  const std::string& target() const override { return target_; }
  Status Publish(const std::string& topic, const std::string& payload, const std::string&) override {
    auto ev = ParseStored(payload);
    if (!ev.ok() || topic.rfind("$DB/", 0) != 0) __builtin_trap();  // events are JSON on $DB topics
    if (Print(ev.value().get()) != payload) __builtin_trap();   // printed canonically
    return Status::Ok();
  }

 private:
  std::string target_ = "fuzz";
};

}  // namespace mqdb::fuzz
