// Topic protection (PROTOCOL.md §7), as pure decisions the MOSQ_EVT_ACL_CHECK callback applies on top
// of whatever acl_file / password_file / dynamic security decide:
//  - WRITE: nobody but the plugin publishes to a topic $DB/+/events/# matches (whatever the second
//    level: $DB/_admin/events/... too), replies ($DB/_reply), owner topics ($DB/u/...) or group
//    deliveries ($DB/_sub/{id}/events); cluster traffic ($DB/_cluster/...) only from the cluster
//    user; under $SYS only a bridge's $SYS/broker/connection/{id}/state, which is left to the broker.
//  - SUBSCRIBE: under $DB/ only these filters are accepted: $DB/_reply, $DB/{entity|+}/events/...,
//    $DB/_sub/{id}/events, $DB/u/{own username}/events/... (admins: any owner), and $DB/_cluster/...
//    for the cluster user. Every other $DB filter could match a request topic and is refused
//    ($DB/#, $DB/users/+, $DB/+/create, ...). A $share/{group}/ prefix is looked through.
//  - READ (each delivery): a request topic is never delivered to anyone, whatever the filter that
//    matched it (the broker routes requests to matching subscribers after the plugin handled them;
//    this is the check that makes that harmless). Owner events only to their owner and admins.
// Anything these rules do not decide falls back to the broker's other checks (kFallback).
#pragma once

#include <string>
#include <string_view>

namespace mqdb {

enum class AclVerdict { kAllow, kDeny, kFallback };

struct AclSubject {
  std::string username;  // empty: anonymous
  bool admin = false;
  bool cluster = false;  // the configured cluster user
};

AclVerdict CheckSubscribe(std::string_view filter, const AclSubject& who);
AclVerdict CheckWrite(std::string_view topic, const AclSubject& who);
AclVerdict CheckRead(std::string_view topic, const AclSubject& who);

}  // namespace mqdb
