#include "plugin/options.h"

#include "storage/names.h"
#include "storage/split.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>
#include <set>

namespace mqdb {

namespace {

Status Bad(const std::string& key, const std::string& value, const std::string& expected) {
  return Status::BadRequest("invalid value for plugin_opt_" + key + ": '" + value + "' (expected " + expected + ")");
}

bool ParseInt(const std::string& v, long long lo, long long hi, long long* out) {
  if (v.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || n < lo || n > hi) return false;
  *out = n;
  return true;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "a, b,c" -> {"a","b","c"}; nullopt when an item is empty.
std::optional<std::vector<std::string>> CommaList(const std::string& value) {
  std::vector<std::string> out;
  for (std::string_view item : Split(value, ',')) {
    std::string v = Trim(std::string(item));
    if (v.empty()) return std::nullopt;
    out.push_back(v);
  }
  return out;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "node1";
  return buf;
}

}  // namespace

std::string OptionHelp() {
  return "db_path (directory, default ./mqdb-data), durability (periodic|immediate|none), "
         "durability_ms (1-60000), admin_users (comma-separated), max_payload (bytes, 1-268435455), "
         "sys_interval (seconds, 0-86400, 0 = off), node_id, outbox_retry_ms (1-3600000), "
         "outbox_max_retries (0-1000), backup_dir (directory, default <db_path>-backups), cluster_user, acl_fallback (auto|allow|defer), dedup_window_s (0-86400), ownership (entity=field,...), rate_limit (requests/s per client, 0 = off), max_inflight (1-1000000), max_scan (records), event_retention_s (0-31536000, default 86400, 0 = no change feed), event_retention_bytes (1048576-1099511627776, default 1073741824), max_record_bytes (1024-268435456, default 1048576), max_response_bytes (1024-268435456, default 16777216), group_timeout_s (1-86400), block_cache_mb (1-1048576), compact_after_tombstones (0-1000000000), reuse_freed_memory (true|false), bench_echo (true|false)";
}

Result<Config> ParseOptions(const std::vector<std::pair<std::string, std::string>>& options) {
  Config c;
  c.store.path = "mqdb-data";
  c.node_id = HostName();
  std::set<std::string> seen;
  for (const auto& [key, raw] : options) {
    const std::string value = Trim(raw);
    if (!seen.insert(key).second) return Status::BadRequest("option plugin_opt_" + key + " is given twice");
    long long n = 0;
    if (key == "db_path") {
      if (value.empty()) return Bad(key, raw, "a directory");
      c.store.path = value;
    } else if (key == "durability") {
      if (value == "periodic") c.store.durability = Durability::kPeriodic;
      else if (value == "immediate") c.store.durability = Durability::kImmediate;
      else if (value == "none") c.store.durability = Durability::kNone;
      else return Bad(key, raw, "periodic, immediate or none");
    } else if (key == "durability_ms") {
      if (!ParseInt(value, 1, 60000, &n)) return Bad(key, raw, "milliseconds between 1 and 60000");
      c.store.durability_ms = static_cast<int>(n);
    } else if (key == "admin_users") {
      auto users = CommaList(value);
      if (!users) return Bad(key, raw, "a comma-separated list of user names");
      c.admin_users = std::move(*users);
    } else if (key == "max_payload") {
      if (!ParseInt(value, 1, 268435455, &n)) return Bad(key, raw, "bytes between 1 and 268435455");
      c.max_payload = static_cast<size_t>(n);
    } else if (key == "sys_interval") {
      if (!ParseInt(value, 0, 86400, &n)) return Bad(key, raw, "seconds between 0 and 86400");
      c.sys_interval_s = static_cast<int>(n);
    } else if (key == "node_id") {
      if (value.empty() || value.size() > 128 || value.find_first_of("/+#") != std::string::npos) {
        return Bad(key, raw, "1-128 characters without / + #");
      }
      c.node_id = value;
    } else if (key == "backup_dir") {
      if (value.empty()) return Bad(key, raw, "a directory");
      c.backup_dir = value;
    } else if (key == "ownership") {
      auto pairs = CommaList(value);
      if (!pairs) return Bad(key, raw, "entity=field pairs separated by commas");
      for (const std::string& pair : *pairs) {
        size_t eq = pair.find('=');
        std::string entity = eq == std::string::npos ? "" : Trim(pair.substr(0, eq));
        std::string field = eq == std::string::npos ? "" : Trim(pair.substr(eq + 1));
        if (!CheckEntityName(entity).ok() || field.empty() || field[0] == '_' || field == "id" ||
            field.find_first_of("./+#") != std::string::npos) {
          return Bad(key, raw, "entity=field pairs separated by commas");
        }
        c.ownership[entity] = field;
      }
    } else if (key == "bench_echo") {
      if (value != "true" && value != "false") return Bad(key, raw, "true or false");
      c.bench_echo = value == "true";
    } else if (key == "reuse_freed_memory") {
      if (value != "true" && value != "false") return Bad(key, raw, "true or false");
      c.reuse_freed_memory = value == "true";
    } else if (key == "group_timeout_s") {
      if (!ParseInt(value, 1, 86400, &n)) return Bad(key, raw, "seconds between 1 and 86400");
      c.group_timeout_s = static_cast<int>(n);
    } else if (key == "rate_limit") {
      if (!ParseInt(value, 0, 1000000, &n)) return Bad(key, raw, "requests per second between 0 and 1000000");
      c.rate_limit = static_cast<int>(n);
    } else if (key == "max_inflight") {
      if (!ParseInt(value, 1, 1000000, &n)) return Bad(key, raw, "an integer between 1 and 1000000");
      c.max_inflight = static_cast<int>(n);
    } else if (key == "max_scan") {
      if (!ParseInt(value, 1, 1000000000, &n)) return Bad(key, raw, "an integer between 1 and 1000000000");
      c.max_scan = n;
    } else if (key == "event_retention_s") {
      if (!ParseInt(value, 0, 31536000, &n)) return Bad(key, raw, "seconds between 0 and 31536000");
      c.feed.retention_s = n;
    } else if (key == "event_retention_bytes") {
      if (!ParseInt(value, 1048576, 1099511627776LL, &n)) return Bad(key, raw, "bytes between 1048576 and 1099511627776");
      c.feed.retention_bytes = static_cast<uint64_t>(n);
    } else if (key == "max_record_bytes" || key == "max_response_bytes") {
      if (!ParseInt(value, 1024, 268435456, &n)) return Bad(key, raw, "bytes between 1024 and 268435456");
      (key == "max_record_bytes" ? c.limits.max_record_bytes : c.limits.max_response_bytes) = static_cast<size_t>(n);
    } else if (key == "block_cache_mb") {
      if (!ParseInt(value, 1, 1048576, &n)) return Bad(key, raw, "megabytes between 1 and 1048576");
      c.store.block_cache_mb = static_cast<int>(n);
    } else if (key == "compact_after_tombstones") {
      if (!ParseInt(value, 0, 1000000000, &n)) return Bad(key, raw, "an integer between 0 and 1000000000");
      c.store.compact_after_tombstones = static_cast<uint64_t>(n);
    } else if (key == "dedup_window_s") {
      if (!ParseInt(value, 0, 86400, &n)) return Bad(key, raw, "seconds between 0 and 86400");
      c.dedup_window_s = static_cast<int>(n);
    } else if (key == "cluster_user") {
      if (value.empty()) return Bad(key, raw, "a user name");
      c.cluster_user = value;
    } else if (key == "acl_fallback") {
      if (value == "auto") c.acl_fallback = Config::AclFallback::kAuto;
      else if (value == "allow") c.acl_fallback = Config::AclFallback::kAllow;
      else if (value == "defer") c.acl_fallback = Config::AclFallback::kDefer;
      else return Bad(key, raw, "auto, allow or defer");
    } else if (key == "outbox_retry_ms") {
      if (!ParseInt(value, 1, 3600000, &n)) return Bad(key, raw, "milliseconds between 1 and 3600000");
      c.outbox.retry_ms = static_cast<int>(n);
    } else if (key == "outbox_max_retries") {
      if (!ParseInt(value, 0, 1000, &n)) return Bad(key, raw, "an integer between 0 and 1000");
      c.outbox.max_retries = static_cast<int>(n);
    } else {
      return Status::BadRequest("unknown option plugin_opt_" + key + " (known: " + OptionHelp() + ")");
    }
  }
  if (c.backup_dir.empty()) c.backup_dir = c.store.path + "-backups";
  return c;
}

}  // namespace mqdb
