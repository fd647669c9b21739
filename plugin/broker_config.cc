#include "plugin/broker_config.h"

#include <fstream>
#include <sstream>
#include <vector>

namespace mqdb {

namespace {

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool ConfigHasOtherAcl(const std::string& text, const std::string& own_plugin_path) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    words >> key;
    if (key.empty() || key[0] == '#') continue;
    std::getline(words >> std::ws, value);
    if (key == "acl_file" || key == "include_dir") return true;
    if ((key == "plugin" || key == "auth_plugin") && BaseName(value) != BaseName(own_plugin_path)) return true;
  }
  return false;
}

bool ConfigHasPerListenerSettings(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  bool on = false;  // the last occurrence wins, as in Mosquitto's parser
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    words >> key >> value;
    if (key == "per_listener_settings") on = value == "true";
  }
  return on;
}

BrokerConfigHints DetectBrokerConfig(const std::string& own_plugin_path) {
  BrokerConfigHints hints;
  std::ifstream cmd("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t start = 0; start < all.size();) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    args.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-c" || args[i] == "--config-file") hints.config_path = args[i + 1];
  }
  if (hints.config_path.empty()) return hints;
  std::ifstream conf(hints.config_path);
  if (!conf) return hints;
  std::stringstream text;
  text << conf.rdbuf();
  hints.found = true;
  hints.other_acl = ConfigHasOtherAcl(text.str(), own_plugin_path);
  hints.per_listener_settings = ConfigHasPerListenerSettings(text.str());
  return hints;
}

}  // namespace mqdb
