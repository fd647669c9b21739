#include "plugin/acl.h"

#include <vector>

#include "plugin/request.h"
#include "storage/split.h"

namespace mqdb {

namespace {

bool UnderDb(std::string_view t) { return t.substr(0, 4) == "$DB/"; }

// Topics only the plugin publishes.
bool IsOutputTopic(const std::vector<std::string_view>& p) {
  const size_t n = p.size();
  if (n == 2 && p[1] == "_reply") return true;
  if (n >= 4 && p[2] == "events" && p[1] != "_admin" && p[1] != "_cluster") return true;  // $DB/{e}/events/...
  if (p[1] == "u" && n >= 4 && p[3] == "events") return true;                              // $DB/u/{owner}/events/...
  if (p[1] == "_sub" && n == 4 && p[3] == "events") return true;                           // $DB/_sub/{id}/events
  return false;
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
  if (topic.substr(0, 5) == "$SYS/") return AclVerdict::kDeny;
  if (!UnderDb(topic)) return AclVerdict::kFallback;
  auto p = Split(topic, '/');
  if (p[1] == "_cluster") return who.cluster ? AclVerdict::kFallback : AclVerdict::kDeny;
  if (IsOutputTopic(p)) return AclVerdict::kDeny;
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
