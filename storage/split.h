// Splitting a string at a separator, keeping empty parts ("a//b" -> {"a","","b"}): MQTT topic levels,
// dotted field paths. The views point into the argument.
#pragma once

#include <string_view>
#include <vector>

namespace mqdb {

inline std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

}  // namespace mqdb
