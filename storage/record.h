// Record rules of PROTOCOL.md §2: what a create stores, how an update merges, projection, expiry.
//
// Stored records are JSON objects carrying the system fields
//   id, _version (1 on create, +1 per update), _created_at, _updated_at (Unix ms), _expires_at (Unix s).
// Clients never set a field that starts with '_': such fields in a payload are ignored. The request
// directives `id`, `ttl_secs` and `request_id` are consumed and never stored as data fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/json.h"
#include "storage/status.h"

namespace mqdb {

constexpr int64_t kMaxTtlSecs = 100LL * 365 * 24 * 3600;

struct NewRecord {
  std::string id;               // empty: the caller generates one
  Json record;                  // the record without id (added by FinishCreate)
  std::optional<int64_t> ttl_secs;
};

// Validates a create payload (a JSON object) and strips directives and '_' fields. Takes the payload
// over: its data fields become the new record's, uncopied.
Result<NewRecord> ParseCreate(Json payload);

// Adds id, _version=1, timestamps and _expires_at to `nr.record` and returns it.
Json FinishCreate(NewRecord nr, const std::string& id, int64_t now_ms);

struct UpdateSpec {
  Json fields;                             // top-level fields to merge (null values kept)
  std::optional<int64_t> expected_version; // `_version` precondition
  std::optional<int64_t> ttl_secs;         // refreshes _expires_at when present
};

// Validates an update payload for record `id` ("id" may repeat the record's id but not change it).
Result<UpdateSpec> ParseUpdate(const cJSON* payload, const std::string& id);

// Shallow merge of spec.fields into `current`; bumps _version, sets _updated_at (and _expires_at).
Json ApplyUpdate(const cJSON* current, const UpdateSpec& spec, int64_t now_ms);
// The same merge into `record` itself (no copy of the record).
void ApplyUpdateInPlace(cJSON* record, const UpdateSpec& spec, int64_t now_ms);

// `{"_version": N}` precondition of a delete (absent: unconditional).
Result<std::optional<int64_t>> ParseDelete(const cJSON* payload);

// `{"projection": [...]}` of a read.
Result<std::vector<std::string>> ParseReadProjection(const cJSON* payload);

// 409 unless `expected` is absent or equals the record's _version.
Status CheckVersion(const cJSON* record, std::optional<int64_t> expected, const std::string& what);

// Records whose _expires_at (Unix seconds) is <= now are expired: invisible to every read.
std::optional<int64_t> ExpiresAt(const cJSON* record);
bool IsExpired(const cJSON* record, int64_t now_ms);

// `id` plus the listed fields that exist; a dotted path ("address.city") keeps only that nested field,
// inside its objects (PROTOCOL.md §3: dotted paths reach into nested objects).
Json Project(const cJSON* record, const std::vector<std::string>& fields);

// Parses a projection list: an array of up to 256 field names or dotted paths (no empty part).
Result<std::vector<std::string>> ParseFieldList(const cJSON* value, const char* what);

}  // namespace mqdb
