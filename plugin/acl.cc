#include "plugin/acl.h"

#include <vector>

#include "plugin/request.h"
#include "storage/split.h"

namespace mqdb {

namespace {

bool UnderDb(std::string_view t) { return t.substr(0, 4) == "$DB/"; }

// Topics only the plugin publishes (PROTOCOL.md §7). Every topic that the event filter
// $DB/+/events/# matches counts, whatever its second level: `+` also matches _admin, _cluster and
// any other `_` name, so a client publish to $DB/_admin/events/x would reach every event subscriber.
bool IsOutputTopic(const std::vector<std::string_view>& p) {
  const size_t n = p.size();
  if (n == 2 && p[1] == "_reply") return true;
  if (n >= 4 && p[2] == "events") return true;           // $DB/+/events/#
  if (p[1] == "u") return true;                          // $DB/u/# (owner events)
  if (p[1] == "_sub" && n == 4 && p[3] == "events") return true;  // $DB/_sub/{id}/events
  return false;
}

// $SYS/broker/connection/{id}/state: the one $SYS topic the broker lets clients write, so that a
// bridge can report its state (retained 1/0 and its will). The broker's own pre-check denies every
// other $SYS write before any plugin is asked.
bool IsBridgeStateTopic(const std::vector<std::string_view>& p) {
  return p.size() == 5 && p[1] == "broker" && p[2] == "connection" && !p[3].empty() && p[4] == "state";
}

bool OwnsOrAdmin(std::string_view owner, const AclSubject& who) {
  return who.admin || (!who.username.empty() && owner == who.username);
}

}  // namespace

AclVerdict CheckSubscribe(std::string_view filter, const AclSubject& who) {
  if (filter.substr(0, 7) == "$share/") {  // $share/{group}/{filter}
    size_t slash = filter.find('/', 7);
    if (slash == std::string_view::npos) return AclVerdict::kFallback;
    filter = filter.substr(slash + 1);
  }
  if (!UnderDb(filter)) return AclVerdict::kFallback;
  auto p = Split(filter, '/');
  const size_t n = p.size();
  if (p[1] == "_cluster") return who.cluster ? AclVerdict::kFallback : AclVerdict::kDeny;
  if (n == 2 && p[1] == "_reply") return AclVerdict::kFallback;
  if (p[1] == "_sub") {
    return (n == 4 && p[2] != "+" && p[2] != "#" && p[3] == "events") ? AclVerdict::kFallback : AclVerdict::kDeny;
  }
  if (p[1] == "u") {  // $DB/u/{owner}/events/...
    if (n >= 4 && p[3] == "events" && p[2] != "#" && (p[2] == "+" ? who.admin : OwnsOrAdmin(p[2], who))) {
      return AclVerdict::kFallback;
    }
    return AclVerdict::kDeny;
  }
  // $DB/{entity|+}/events/... : event topics. (Such a filter also matches $DB/{e}/events itself, a read
  // request for id "events"; the READ check below keeps that request from being delivered.)
  if (n >= 4 && p[1] != "#" && p[1] != "_admin" && p[2] == "events") return AclVerdict::kFallback;
  return AclVerdict::kDeny;
}

AclVerdict CheckWrite(std::string_view topic, const AclSubject& who) {
  if (topic.substr(0, 5) == "$SYS/") {
    // Defer to the broker's own $SYS rule (and to acl_file) for the bridge state topic, deny the rest.
    return IsBridgeStateTopic(Split(topic, '/')) ? AclVerdict::kFallback : AclVerdict::kDeny;
  }
  if (!UnderDb(topic)) return AclVerdict::kFallback;
  auto p = Split(topic, '/');
  if (IsOutputTopic(p)) return AclVerdict::kDeny;  // before _cluster: not even the cluster user forges events
  if (p[1] == "_cluster") return who.cluster ? AclVerdict::kFallback : AclVerdict::kDeny;
  return AclVerdict::kFallback;  // a request: the plugin answers it (403 for admin topics of non-admins)
}

AclVerdict CheckRead(std::string_view topic, const AclSubject& who) {
  if (!UnderDb(topic)) return AclVerdict::kFallback;
  auto p = Split(topic, '/');
  if (p[1] == "_cluster") return who.cluster ? AclVerdict::kFallback : AclVerdict::kDeny;
  if (ParseTopic(topic).kind != RequestKind::kNotARequest) return AclVerdict::kDeny;  // never deliver requests
  if (p[1] == "u" && p.size() >= 4 && p[3] == "events") {
    return OwnsOrAdmin(p[2], who) ? AclVerdict::kFallback : AclVerdict::kDeny;
  }
  return AclVerdict::kFallback;
}

}  // namespace mqdb
