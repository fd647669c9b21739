// What the plugin needs to know of the broker's own configuration, which Mosquitto 2.0.11 does not
// expose to plugins: whether anything else checks ACLs. If our ACL callback defers and nothing else
// is registered, Mosquitto denies; if it allows while an acl_file exists, it bypasses that file.
// So we read the configuration file the broker was started with (`-c` in /proc/self/cmdline).
#pragma once

#include <string>

namespace mqdb {

struct BrokerConfigHints {
  bool found = false;          // the configuration file could be read
  bool other_acl = false;      // acl_file, another plugin, or an include_dir (which may hold either)
  bool per_listener_settings = false;  // per_listener_settings true: no TICK events in 2.0.11
  std::string config_path;
};

// `own_plugin_path`: our own `plugin` line is not "another plugin".
BrokerConfigHints DetectBrokerConfig(const std::string& own_plugin_path);
// The same analysis on given configuration text (for tests).
bool ConfigHasOtherAcl(const std::string& text, const std::string& own_plugin_path);
bool ConfigHasPerListenerSettings(const std::string& text);

}  // namespace mqdb
