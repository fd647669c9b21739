// JSON helpers over cJSON: ownership (RAII), strict payload parsing and a few typed accessors.
//
// Every byte a client sends passes through ParsePayload before anything else looks at it, so the
// limits of PROTOCOL.md §1 are enforced in one place: strict RFC 8259 grammar (no BOM, no leading
// zeros, no "1.", no raw control characters in strings), UTF-8 validity, no NUL in any string
// (cJSON keeps C strings: "\u0000" would truncate), nesting depth, numbers within the double range,
// trailing garbage and duplicate object keys (which cJSON would silently keep twice and store).
// Errors name the byte offset.
//
// Numbers are IEEE doubles (cJSON's model) and keep their value: parsed correctly rounded from the
// whole token, printed as integers up to 2^53 and otherwise in shortest round-trip form. An integer
// beyond 2^53 is the nearest double, as in every JSON implementation built on doubles.
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace mqdb {

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDeleter>;

constexpr int kMaxJsonDepth = 64;

// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Parses a request payload. Empty (or all-whitespace) means `{}`. The result is always an object.
// Errors are 400 with a specific message ("invalid JSON payload: ...", "payload must be a JSON object").
Result<Json> ParsePayload(std::string_view payload);

// Parses JSON this process wrote itself (stored records, outbox entries). A failure means corruption.
Result<Json> ParseStored(std::string_view text);
// The same for a stored object, building only its top-level members named in `keys` and stepping
// over the others: a scan that filters or sorts on two fields of 600-byte records then allocates a
// few nodes per record instead of the whole tree (allocation was most of a sorted page's time).
Result<Json> ParseStoredFields(std::string_view text, const std::vector<std::string_view>& keys);

// Compact serialisation; numbers as described above (exact), strings escaped as cJSON does.
std::string Print(const cJSON* j);
// Appends `s` as a JSON string literal, escaped exactly as cJSON escapes it (", \\, \b \f \n \r \t,
// other bytes below 0x20 as \u00xx, everything else verbatim). Text assembled from already-printed
// pieces with this is byte-identical to Print of the same document, without building it.
void AppendJsonString(std::string& out, std::string_view s);
// Appends `j` printed compactly; a raw item (cJSON_CreateRaw: text printed earlier) is copied as is.
void AppendJson(std::string& out, const cJSON* j);
// About the length of `j` printed compactly: exact but for escapes in strings and the digits of
// numbers (counted as 24). For reserving the output once instead of growing it by doubling, which
// for a page of records reallocated and copied the reply some ten times.
size_t PrintedSizeHint(const cJSON* j);

// A raw item (JSON printed earlier) whose text is written straight into the buffer the item will own:
// Release() hands the buffer over, where cJSON_CreateRaw of an assembled std::string copies it once
// more (a list page: some 6.5 KB).
// The buffer comes from cJSON_malloc, so cJSON_Delete frees it whatever allocator cJSON was given.
class RawBuilder {
 public:
  RawBuilder() = default;
  ~RawBuilder() {
    if (buf_) cJSON_free(buf_);
  }
  RawBuilder(const RawBuilder&) = delete;
  RawBuilder& operator=(const RawBuilder&) = delete;

  // Makes room for `n` bytes of text in all (the terminating NUL comes on top).
  void Reserve(size_t n);
  void Append(std::string_view s);
  void Append(char c) { Append(std::string_view(&c, 1)); }
  size_t size() const { return size_; }
  // The text as a raw item; nullptr if an allocation failed along the way. Empty afterwards.
  cJSON* Release();

 private:
  char* buf_ = nullptr;  // size_ bytes of text, capacity cap_ + 1 (the NUL)
  size_t size_ = 0, cap_ = 0;
  bool failed_ = false;  // an allocation failed: Append ignores text, Release returns nullptr
};

Json NewObject();
Json NewArray();
Json Clone(const cJSON* j);

// Typed accessors; nullopt when absent or of another type.
std::optional<std::string> GetString(const cJSON* obj, const char* key);
std::optional<double> GetNumber(const cJSON* obj, const char* key);

// An integral JSON number that fits int64 exactly (1.0 counts, 1.5 does not).
std::optional<int64_t> AsInt64(const cJSON* j);

// Replaces (or adds) obj[key] with `value`, taking ownership.
void SetField(cJSON* obj, const char* key, cJSON* value);

}  // namespace mqdb
