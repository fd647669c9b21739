// Plugin configuration: the `plugin_opt_*` lines of mosquitto.conf, validated at broker start.
// An unknown option or a bad value stops the broker with a message naming the option.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "outbox/change_feed.h"
#include "outbox/outbox.h"
#include "storage/records.h"
#include "storage/status.h"
#include "storage/store.h"

namespace mqdb {

struct Config {
  StoreOptions store;                   // db_path, durability, durability_ms
  std::vector<std::string> admin_users; // admin_users: comma-separated usernames
  size_t max_payload = 4 << 20;         // max_payload: bytes
  int sys_interval_s = 10;              // sys_interval: seconds between $SYS updates, 0 = off
  std::string node_id;                  // node_id: defaults to the host name
  OutboxOptions outbox;                 // outbox_retry_ms, outbox_max_retries
  FeedOptions feed;                     // event_retention_s, event_retention_bytes
  std::string backup_dir;               // backup_dir: defaults to "<db_path>-backups"
  std::map<std::string, std::string> ownership;  // ownership: "entity=field,...": owned entities
  int dedup_window_s = 300;             // dedup_window_s: idempotent-retry window, 0 = off
  bool reuse_freed_memory = true;       // reuse_freed_memory: glibc keeps freed memtables for reuse
  bool bench_echo = false;              // bench_echo: answer $DB/_echo without storage (mqdb-bench floor)
  int group_timeout_s = 30;             // group_timeout_s: a consumer group member silent this long leaves
  int rate_limit = 0;                   // rate_limit: requests per second per client (burst = 1 s), 0 = off
  int max_inflight = 1000;              // max_inflight: responses per client waiting for fsync (immediate)
  int64_t max_scan = 1000000;           // max_scan: records an unindexed list/count may examine
  RecordLimits limits;                  // max_record_bytes, max_response_bytes
  std::string cluster_user;             // cluster_user: the only user allowed on $DB/_cluster/...
  // acl_fallback: what the plugin answers for topics its rules do not decide. "defer": let acl_file
  // or another plugin decide; "allow": allow (nothing else checks ACLs); "auto" (default): "defer" if
  // the broker's configuration file names an acl_file, another plugin or an include_dir.
  enum class AclFallback { kAuto, kAllow, kDefer } acl_fallback = AclFallback::kAuto;
};

// `options` are (key, value) pairs without the `plugin_opt_` prefix, in config order.
Result<Config> ParseOptions(const std::vector<std::pair<std::string, std::string>>& options);

// One line per option, for documentation and error messages.
std::string OptionHelp();

}  // namespace mqdb
