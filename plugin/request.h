// Request topics (PROTOCOL.md §2, §5): `$DB/...` topic -> what to do. Pure: no Mosquitto, no storage.
//
//   $DB/_health                      health
//   $DB/_echo                        answered without storage, only with the bench_echo option
//   $DB/_echo/busy/{us}              the same after holding the broker thread {us} microseconds
//   $DB/_admin/...                   administration (admin users only)
//   $DB/{entity}/create|list|count   create / list / count
//   $DB/{entity}/{id}                read
//   $DB/{entity}/{id}/update|delete  update / delete
//   $DB/_events/replay               the retained events after a sequence (the change feed)
//   $DB/_tx                          a multi-record transaction
//   $DB/_sub/subscribe               join a consumer group
//   $DB/_sub/{id}/heartbeat|unsubscribe
// Topics the plugin itself publishes (replies, events, group deliveries, owner events) and cluster
// traffic are not requests: they get no response. Every other `$DB/` topic gets a 400.
// At two levels `create`, `list` and `count` are operations and `events` starts an event topic, so
// those words are reserved ids (CheckId): no record can have one.
#pragma once

#include <string>
#include <string_view>

#include "storage/status.h"

namespace mqdb {

enum class RequestKind {
  kNotARequest, kInvalid, kHealth, kAdmin, kCreate, kRead, kUpdate, kDelete, kList, kCount,
  kGroupSubscribe, kGroupHeartbeat, kGroupUnsubscribe, kEcho, kReplay, kTransaction
};

struct RequestTarget {
  RequestKind kind = RequestKind::kNotARequest;
  std::string entity;
  std::string id;
  std::string admin_path;  // after $DB/_admin/
  std::string member_id;   // $DB/_sub/{id}/...
  int busy_us = 0;         // $DB/_echo/busy/{us}: 1..kMaxBusyUs
  Status error;            // kInvalid: why
};

// The longest a busy echo may hold the broker thread (every other client waits meanwhile).
constexpr int kMaxBusyUs = 10000;

RequestTarget ParseTopic(std::string_view topic);

}  // namespace mqdb
