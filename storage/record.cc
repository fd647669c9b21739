#include "storage/record.h"

#include "storage/split.h"

#include "storage/names.h"

namespace mqdb {

namespace {

bool IsSystemField(const char* k) { return k[0] == '_'; }

Result<std::optional<int64_t>> ParseTtl(const cJSON* payload) {
  const cJSON* t = cJSON_GetObjectItemCaseSensitive(payload, "ttl_secs");
  if (!t) return std::optional<int64_t>();
  auto v = AsInt64(t);
  if (!v || *v <= 0 || *v > kMaxTtlSecs) {
    return Status::BadRequest("ttl_secs must be an integer between 1 and " + std::to_string(kMaxTtlSecs));
  }
  return std::optional<int64_t>(*v);
}

Result<std::optional<int64_t>> ParseVersion(const cJSON* payload) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(payload, "_version");
  if (!v) return std::optional<int64_t>();
  auto n = AsInt64(v);
  if (!n || *n < 1) return Status::BadRequest("_version must be a positive integer");
  return std::optional<int64_t>(*n);
}

Status RequestIdOk(const cJSON* payload) {
  const cJSON* r = cJSON_GetObjectItemCaseSensitive(payload, "request_id");
  if (r && !cJSON_IsString(r)) return Status::BadRequest("request_id must be a string");
  return Status::Ok();
}

// A member of a request payload that is record data: not a system field, not one of the directives.
bool IsDataField(const cJSON* c, std::initializer_list<const char*> directives) {
  if (IsSystemField(c->string)) return false;
  for (const char* d : directives) {
    if (std::string_view(c->string) == d) return false;
  }
  return true;
}

// Copies the data fields of `payload`.
Json DataFields(const cJSON* payload, std::initializer_list<const char*> directives) {
  Json out = NewObject();
  for (const cJSON* c = payload->child; c; c = c->next) {
    if (IsDataField(c, directives)) cJSON_AddItemToObject(out.get(), c->string, cJSON_Duplicate(c, true));
  }
  return out;
}

// Turns `payload` into its data fields by deleting the others: no copy of the record's values (a
// deep copy was about 23 heap blocks for a record of 5 fields, every one allocated and freed again).
Json TakeDataFields(Json payload, std::initializer_list<const char*> directives) {
  for (cJSON* c = payload->child; c;) {
    cJSON* next = c->next;
    if (!IsDataField(c, directives)) cJSON_Delete(cJSON_DetachItemViaPointer(payload.get(), c));
    c = next;
  }
  return payload;
}

void SetNumber(cJSON* obj, const char* key, double v) { SetField(obj, key, cJSON_CreateNumber(v)); }

// _expires_at is in whole seconds; rounding the current time up guarantees a record lives at least
// ttl_secs (rounding down could expire a 1-second record a millisecond after its creation).
int64_t ExpiryFor(int64_t now_ms, int64_t ttl_secs) { return (now_ms + 999) / 1000 + ttl_secs; }

}  // namespace

Result<NewRecord> ParseCreate(Json owned) {
  const cJSON* payload = owned.get();
  if (Status s = RequestIdOk(payload); !s.ok()) return s;
  NewRecord nr;
  if (const cJSON* id = cJSON_GetObjectItemCaseSensitive(payload, "id")) {
    if (!cJSON_IsString(id)) return Status::BadRequest("invalid id: must be a string");
    if (Status s = CheckId(id->valuestring); !s.ok()) return s;
    nr.id = id->valuestring;
  }
  auto ttl = ParseTtl(payload);
  if (!ttl.ok()) return ttl.status();
  nr.ttl_secs = ttl.value();
  nr.record = TakeDataFields(std::move(owned), {"id", "ttl_secs", "request_id"});
  return nr;
}

Json FinishCreate(NewRecord nr, const std::string& id, int64_t now_ms) {
  Json rec = NewObject();
  cJSON_AddStringToObject(rec.get(), "id", id.c_str());
  // Move the data fields over, keeping the client's field order after the id.
  while (cJSON* c = nr.record->child) {
    cJSON_DetachItemViaPointer(nr.record.get(), c);
    cJSON_AddItemToObject(rec.get(), c->string, c);
  }
  SetNumber(rec.get(), "_version", 1);
  SetNumber(rec.get(), "_created_at", static_cast<double>(now_ms));
  SetNumber(rec.get(), "_updated_at", static_cast<double>(now_ms));
  if (nr.ttl_secs) SetNumber(rec.get(), "_expires_at", static_cast<double>(ExpiryFor(now_ms, *nr.ttl_secs)));
  return rec;
}

Result<UpdateSpec> ParseUpdate(const cJSON* payload, const std::string& id) {
  if (Status s = RequestIdOk(payload); !s.ok()) return s;
  if (const cJSON* pid = cJSON_GetObjectItemCaseSensitive(payload, "id")) {
    if (!cJSON_IsString(pid) || id != pid->valuestring) return Status::BadRequest("id cannot be changed");
  }
  UpdateSpec spec;
  auto version = ParseVersion(payload);
  if (!version.ok()) return version.status();
  spec.expected_version = version.value();
  auto ttl = ParseTtl(payload);
  if (!ttl.ok()) return ttl.status();
  spec.ttl_secs = ttl.value();
  spec.fields = DataFields(payload, {"id", "ttl_secs", "request_id"});
  return spec;
}

Json ApplyUpdate(const cJSON* current, const UpdateSpec& spec, int64_t now_ms) {
  Json rec = Clone(current);
  ApplyUpdateInPlace(rec.get(), spec, now_ms);
  return rec;
}

void ApplyUpdateInPlace(cJSON* record, const UpdateSpec& spec, int64_t now_ms) {
  const double version = GetNumber(record, "_version").value_or(0);
  for (const cJSON* c = spec.fields->child; c; c = c->next) {
    SetField(record, c->string, cJSON_Duplicate(c, true));
  }
  SetNumber(record, "_version", version + 1);
  SetNumber(record, "_updated_at", static_cast<double>(now_ms));
  if (spec.ttl_secs) SetNumber(record, "_expires_at", static_cast<double>(ExpiryFor(now_ms, *spec.ttl_secs)));
}

Result<std::optional<int64_t>> ParseDelete(const cJSON* payload) {
  if (Status s = RequestIdOk(payload); !s.ok()) return s;
  for (const cJSON* c = payload->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "_version" && k != "request_id") return Status::BadRequest("unknown field in delete request: " + std::string(k));
  }
  return ParseVersion(payload);
}

Result<std::vector<std::string>> ParseReadProjection(const cJSON* payload) {
  if (Status s = RequestIdOk(payload); !s.ok()) return s;
  for (const cJSON* c = payload->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "projection" && k != "request_id") return Status::BadRequest("unknown field in read request: " + std::string(k));
  }
  const cJSON* p = cJSON_GetObjectItemCaseSensitive(payload, "projection");
  if (!p) return std::vector<std::string>();
  return ParseFieldList(p, "projection");
}

Result<std::vector<std::string>> ParseFieldList(const cJSON* value, const char* what) {
  if (!cJSON_IsArray(value)) return Status::BadRequest(std::string(what) + " must be an array of field names");
  std::vector<std::string> out;
  for (const cJSON* c = value->child; c; c = c->next) {
    if (!cJSON_IsString(c) || c->valuestring[0] == '\0') {
      return Status::BadRequest(std::string(what) + " must be an array of field names");
    }
    std::string_view name = c->valuestring;
    if (name.front() == '.' || name.back() == '.' || name.find("..") != std::string_view::npos) {
      return Status::BadRequest(std::string("invalid field path in ") + what + ": " + c->valuestring);
    }
    out.emplace_back(c->valuestring);
  }
  if (out.size() > 256) return Status::BadRequest(std::string(what) + ": at most 256 fields");
  return out;
}

Status CheckVersion(const cJSON* record, std::optional<int64_t> expected, const std::string& what) {
  if (!expected) return Status::Ok();
  int64_t current = AsInt64(cJSON_GetObjectItemCaseSensitive(record, "_version")).value_or(0);
  if (current != *expected) {
    return Status::Conflict("version conflict: " + what + " (expected " + std::to_string(*expected) +
                            ", current " + std::to_string(current) + ")");
  }
  return Status::Ok();
}

std::optional<int64_t> ExpiresAt(const cJSON* record) {
  return AsInt64(cJSON_GetObjectItemCaseSensitive(record, "_expires_at"));
}

bool IsExpired(const cJSON* record, int64_t now_ms) {
  auto at = ExpiresAt(record);
  return at && *at * 1000 <= now_ms;
}

Json Project(const cJSON* record, const std::vector<std::string>& fields) {
  Json out = NewObject();
  if (const cJSON* id = cJSON_GetObjectItemCaseSensitive(record, "id")) {
    cJSON_AddItemToObject(out.get(), "id", cJSON_Duplicate(id, true));
  }
  for (const auto& f : fields) {
    if (f == "id") continue;
    // A dotted path keeps the nesting: ["o.c"] of {"o":{"c":1,"d":2}} is {"o":{"c":1}}. A field that
    // is already in the result (listed twice, or inside an object listed whole) is not added again.
    if (f.find('.') != std::string::npos) {
      bool found = true;
      const cJSON* at = record;
      ForEachPart(f, '.', [&](std::string_view part) {
        at = found && cJSON_IsObject(at) ? cJSON_GetObjectItemCaseSensitive(at, std::string(part).c_str()) : nullptr;
        found = at != nullptr;
      });
      if (!found) continue;  // nothing to keep: no empty parent objects either
    }
    const cJSON* from = record;
    cJSON* into = out.get();
    size_t start = 0;
    while (from && into) {
      const size_t dot = f.find('.', start);
      const std::string part = f.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      const cJSON* v = cJSON_IsObject(from) ? cJSON_GetObjectItemCaseSensitive(from, part.c_str()) : nullptr;
      if (!v) break;
      cJSON* have = cJSON_GetObjectItemCaseSensitive(into, part.c_str());
      if (dot == std::string::npos) {
        if (!have) cJSON_AddItemToObject(into, part.c_str(), cJSON_Duplicate(v, true));
        break;
      }
      if (!cJSON_IsObject(v)) break;
      if (!have) {
        have = cJSON_CreateObject();
        cJSON_AddItemToObject(into, part.c_str(), have);
      } else if (!cJSON_IsObject(have)) {
        break;
      }
      from = v;
      into = have;
      start = dot + 1;
    }
  }
  return out;
}

}  // namespace mqdb
