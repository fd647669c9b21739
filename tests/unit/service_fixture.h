// What the Service-level unit tests share: a configuration on a temporary database, and the whole
// store as a map (a refused request must leave it byte for byte as it was).
#pragma once

#include <map>
#include <string>

#include "plugin/options.h"
#include "storage/store.h"

namespace mqdb::test {

// durability none, admin user "admin", node "n1", backups beside the database.
inline Config ServiceConfig(const std::string& dir) {
  Config c;
  c.store = {dir, Durability::kNone, 10};
  c.admin_users = {"admin"};
  c.node_id = "n1";
  c.backup_dir = dir + "-backups";
  return c;
}

inline std::map<std::string, std::string> Everything(Store& store) {
  std::map<std::string, std::string> all;
  store.Scan("", [&](std::string_view k, std::string_view v) {
    all.emplace(k, v);
    return true;
  });
  return all;
}

}  // namespace mqdb::test
