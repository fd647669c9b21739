// Splitting a string at a separator, keeping empty parts ("a//b" -> {"a","","b"}): MQTT topic levels,
// dotted field paths. The views point into the argument.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

namespace mqdb {

// How many parts Split returns: one more than the separators.
inline size_t CountParts(std::string_view s, char sep) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), sep)) + 1;
}

// Calls `part` with each part in order.
template <typename F>
void ForEachPart(std::string_view s, char sep, F&& part) {
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    part(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return;
    start = at + 1;
  }
}

// One allocation: the vector is sized before it is filled (every request's topic goes through here).
inline std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  parts.reserve(CountParts(s, sep));
  ForEachPart(s, sep, [&](std::string_view p) { parts.push_back(p); });
  return parts;
}

}  // namespace mqdb
