#include "plugin/request.h"

#include <charconv>
#include <vector>

#include "storage/names.h"
#include "storage/split.h"

namespace mqdb {

namespace {

RequestTarget Invalid(Status s) {
  RequestTarget t;
  t.kind = RequestKind::kInvalid;
  t.error = std::move(s);
  return t;
}

}  // namespace

RequestTarget ParseTopic(std::string_view topic) {
  RequestTarget t;
  if (topic.substr(0, 4) != "$DB/") return t;
  auto p = Split(topic, '/');
  const size_t n = p.size();
  // Output namespaces: the plugin publishes there; a client publishing there is not asking anything.
  if (n == 2 && p[1] == "_reply") return t;
  if (p[1] == "_cluster") return t;
  if (p[1] == "_sub" && n == 4 && p[3] == "events") return t;
  if (p[1] == "u" && n >= 5 && p[3] == "events") return t;
  if (n >= 4 && p[2] == "events") return t;

  if (n == 2 && p[1] == "_health") { t.kind = RequestKind::kHealth; return t; }
  if (n == 3 && p[1] == "_events" && p[2] == "replay") { t.kind = RequestKind::kReplay; return t; }
  if (n == 2 && p[1] == "_tx") { t.kind = RequestKind::kTransaction; return t; }
  if (n == 2 && p[1] == "_echo") { t.kind = RequestKind::kEcho; return t; }
  if (p[1] == "_echo") {
    // $DB/_echo/busy/{us}: what a request that costs the plugin {us} of broker-thread time can reach
    // at best (mqdb-bench echo-busy). Digits only, no sign or leading zero: one spelling per value.
    const std::string_view us = n == 4 && p[2] == "busy" ? p[3] : std::string_view();
    unsigned v = 0;
    const auto [end, err] = std::from_chars(us.data(), us.data() + us.size(), v);  // no sign accepted
    if (us.empty() || us[0] == '0' || err != std::errc() || end != us.data() + us.size() || v > kMaxBusyUs) {
      return Invalid(Status::BadRequest("unknown request topic: " + std::string(topic) + " (use $DB/_echo or $DB/_echo/busy/{1-" +
                                        std::to_string(kMaxBusyUs) + "})"));
    }
    t.kind = RequestKind::kEcho;
    t.busy_us = static_cast<int>(v);
    return t;
  }
  if (p[1] == "_sub") {
    if (n == 3 && p[2] == "subscribe") { t.kind = RequestKind::kGroupSubscribe; return t; }
    if (n == 4 && (p[3] == "heartbeat" || p[3] == "unsubscribe") && !p[2].empty()) {
      t.kind = p[3] == "heartbeat" ? RequestKind::kGroupHeartbeat : RequestKind::kGroupUnsubscribe;
      t.member_id = std::string(p[2]);
      return t;
    }
    return Invalid(Status::BadRequest("unknown request topic: " + std::string(topic)));
  }
  if (p[1] == "_admin") {
    t.kind = RequestKind::kAdmin;
    t.admin_path = n > 2 ? std::string(topic.substr(std::string_view("$DB/_admin/").size())) : "";
    return t;
  }
  if (n < 3 || n > 4) return Invalid(Status::BadRequest("unknown request topic: " + std::string(topic)));
  if (Status s = CheckEntityName(p[1]); !s.ok()) return Invalid(s);
  t.entity = std::string(p[1]);
  if (n == 3) {
    if (p[2] == "create") t.kind = RequestKind::kCreate;
    else if (p[2] == "list") t.kind = RequestKind::kList;
    else if (p[2] == "count") t.kind = RequestKind::kCount;
    else t.kind = RequestKind::kRead;
  } else if (p[3] == "update") {
    t.kind = RequestKind::kUpdate;
  } else if (p[3] == "delete") {
    t.kind = RequestKind::kDelete;
  } else {
    return Invalid(Status::BadRequest("unknown operation: " + std::string(p[3]) + " (use update or delete)"));
  }
  if (t.kind == RequestKind::kRead || t.kind == RequestKind::kUpdate || t.kind == RequestKind::kDelete) {
    if (Status s = CheckId(p[2]); !s.ok()) return Invalid(s);
    t.id = std::string(p[2]);
  }
  return t;
}

}  // namespace mqdb
