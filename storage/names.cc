#include "storage/names.h"

#include <string>

#include "storage/json.h"

namespace mqdb {

Status CheckEntityName(std::string_view e) {
  if (e.empty()) return Status::BadRequest("invalid entity name: empty");
  if (e.size() > kMaxEntityName) {
    return Status::BadRequest("invalid entity name: longer than " + std::to_string(kMaxEntityName) + " bytes");
  }
  for (char c : e) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return Status::BadRequest("invalid entity name: only A-Z a-z 0-9 _ - allowed");
  }
  if (e[0] == '_') return Status::BadRequest("reserved entity name: " + std::string(e));
  return Status::Ok();
}

Status CheckId(std::string_view id) {
  if (id.empty()) return Status::BadRequest("invalid id: empty");
  if (id.size() > kMaxId) return Status::BadRequest("invalid id: longer than " + std::to_string(kMaxId) + " bytes");
  for (char c : id) {
    if (c == '/' || c == '+' || c == '#' || c == '\0') {
      return Status::BadRequest("invalid id: must not contain '/', '+', '#' or NUL");
    }
  }
  if (!IsValidUtf8(id)) return Status::BadRequest("invalid id: not valid UTF-8");
  return Status::Ok();
}

}  // namespace mqdb
