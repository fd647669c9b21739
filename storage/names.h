// Naming rules of PROTOCOL.md §1 ("Limits"). Each check returns a 400 that says what is wrong.
#pragma once

#include <string_view>

#include "storage/status.h"

namespace mqdb {

constexpr size_t kMaxEntityName = 128;
constexpr size_t kMaxId = 512;

// 1-128 bytes of [A-Za-z0-9_-], not starting with '_' (reserved for system entities).
Status CheckEntityName(std::string_view entity);

// 1-512 bytes of UTF-8 without '/', '+', '#' or NUL.
Status CheckId(std::string_view id);

}  // namespace mqdb
