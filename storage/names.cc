#include "storage/names.h"

#include <string>

#include "storage/json.h"

namespace mqdb {

Status CheckNameChars(std::string_view e, const char* what) {
  if (e.empty()) return Status::BadRequest(std::string("invalid ") + what + ": empty");
  if (e.size() > kMaxEntityName) {
    return Status::BadRequest(std::string("invalid ") + what + ": longer than " + std::to_string(kMaxEntityName) + " bytes");
  }
  for (char c : e) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return Status::BadRequest(std::string("invalid ") + what + ": only A-Z a-z 0-9 _ - allowed");
  }
  if (e[0] == '_') return Status::BadRequest(std::string("reserved ") + what + ": " + std::string(e));
  return Status::Ok();
}

Status CheckEntityName(std::string_view e) {
  if (Status s = CheckNameChars(e, "entity name"); !s.ok()) return s;
  if (e == "u") return Status::BadRequest("reserved entity name: u ($DB/u/... holds the owner event topics)");
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
  if (id == "create" || id == "list" || id == "count" || id == "events") {
    return Status::BadRequest("reserved id: " + std::string(id) + " ($DB/{entity}/" + std::string(id) +
                              " is not a record's topic)");
  }
  return Status::Ok();
}

}  // namespace mqdb
