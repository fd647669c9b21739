// Naming rules of PROTOCOL.md §1 ("Limits"). Each check returns a 400 that says what is wrong.
#pragma once

#include <string_view>

#include "storage/status.h"

namespace mqdb {

constexpr size_t kMaxEntityName = 128;
constexpr size_t kMaxId = 512;

// 1-128 bytes of [A-Za-z0-9_-], not starting with '_' (reserved for system entities).
Status CheckNameChars(std::string_view name, const char* what);

// A name that CheckNameChars accepts, and not `u`: `$DB/u/...` holds the owner event topics
// (PROTOCOL.md §7), so an entity `u` would share its topics with them.
Status CheckEntityName(std::string_view entity);

// 1-512 bytes of UTF-8 without '/', '+', '#' or NUL, and none of `create`, `list`, `count` and
// `events`: `$DB/{entity}/{id}` with those words is a create, a list, a count or an event topic, so
// such a record could be written but never read, updated or deleted (PROTOCOL.md §7).
Status CheckId(std::string_view id);

}  // namespace mqdb
