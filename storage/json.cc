// Strict JSON parsing for client payloads; see json.h for the rules and why they live here.
#include "storage/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>

namespace mqdb {

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) { ++p; continue; }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

namespace {

// Depth of the deepest object/array, counted without parsing (so a 100k-deep payload costs one pass
// and never reaches the recursive parser). Brackets inside strings do not count.
int MaxDepth(std::string_view s) {
  int depth = 0, max = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') { if (++depth > max) max = depth; }
    else if (c == '}' || c == ']') --depth;
  }
  return max;
}

// The first member of object `j` whose key an earlier member has, or nullptr. Objects of up to
// kPairwise members (requests and records, almost always) are checked pair by pair, which allocates
// nothing; a set per object cost one heap node per member (7 of a create's allocations).
const char* FirstRepeatedKey(const cJSON* j) {
  constexpr size_t kPairwise = 32;
  size_t n = 0;
  for (const cJSON* c = j->child; c && n <= kPairwise; c = c->next) ++n;
  if (n <= kPairwise) {
    for (const cJSON* c = j->child; c; c = c->next) {
      for (const cJSON* e = j->child; e != c; e = e->next) {
        if (std::strcmp(e->string, c->string) == 0) return c->string;
      }
    }
    return nullptr;
  }
  std::set<std::string_view> seen;
  for (const cJSON* c = j->child; c; c = c->next) {
    if (!seen.insert(c->string).second) return c->string;
  }
  return nullptr;
}

// First duplicated key in any object of the tree, or nullptr.
const char* FindDuplicateKey(const cJSON* j) {
  if (cJSON_IsObject(j)) {
    if (const char* d = FirstRepeatedKey(j)) return d;
  }
  if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
    for (const cJSON* c = j->child; c; c = c->next) {
      if (const char* d = FindDuplicateKey(c)) return d;
    }
  }
  return nullptr;
}

bool IsBlank(std::string_view s) {
  for (char c : s) if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  return true;
}

Result<Json> ParseAny(std::string_view text) {
  const char* end = nullptr;
  Json j(cJSON_ParseWithLengthOpts(text.data(), text.size(), &end, false));
  if (!j) {
    size_t at = end ? static_cast<size_t>(end - text.data()) : 0;
    return Status::BadRequest("invalid JSON payload: syntax error at byte " + std::to_string(at));
  }
  size_t consumed = static_cast<size_t>(end - text.data());
  if (!IsBlank(text.substr(consumed))) {
    return Status::BadRequest("invalid JSON payload: unexpected data after JSON value at byte " +
                              std::to_string(consumed));
  }
  return j;
}

}  // namespace

Result<Json> ParsePayload(std::string_view payload) {
  if (IsBlank(payload)) return NewObject();
  if (!IsValidUtf8(payload)) return Status::BadRequest("invalid JSON payload: not valid UTF-8");
  if (MaxDepth(payload) > kMaxJsonDepth) {
    return Status::BadRequest("invalid JSON payload: nesting deeper than " +
                              std::to_string(kMaxJsonDepth) + " levels");
  }
  auto parsed = ParseAny(payload);
  if (!parsed.ok()) return parsed;
  if (!cJSON_IsObject(parsed.value().get())) return Status::BadRequest("payload must be a JSON object");
  if (const char* dup = FindDuplicateKey(parsed.value().get())) {
    return Status::BadRequest(std::string("invalid JSON payload: duplicate key: ") + dup);
  }
  return parsed;
}

Result<Json> ParseStored(std::string_view text) {
  auto parsed = ParseAny(text);
  if (!parsed.ok()) return Status::Internal("corrupt stored JSON");
  return parsed;
}

std::string Print(const cJSON* j) {
  std::string out;
  out.reserve(PrintedSizeHint(j));
  AppendJson(out, j);
  return out;
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  size_t run = 0;  // start of the pending run of bytes copied verbatim
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '\b': out.push_back('b'); break;
      case '\f': out.push_back('f'); break;
      case '\n': out.push_back('n'); break;
      case '\r': out.push_back('r'); break;
      case '\t': out.push_back('t'); break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

namespace {

// cJSON prints a number with sprintf "%1.15g" (or "%1.17g" when 15 digits do not round-trip). Every
// integral value below 1e15 in magnitude comes out of "%1.15g" as its plain decimal digits, so those
// (record timestamps, versions, counters) are written with to_chars; anything else (-0 included, which
// prints as "-0") is left to cJSON itself, so the output stays identical.
void AppendNumber(std::string& out, const cJSON* j) {
  const double d = j->valuedouble;
  char buf[32];
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e15 && !(d == 0 && std::signbit(d))) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(d));
    out.append(buf, static_cast<size_t>(end - buf));
    return;
  }
  char* s = cJSON_PrintUnformatted(j);
  out.append(s ? s : "null");
  cJSON_free(s);
}

}  // namespace

void AppendJson(std::string& out, const cJSON* j) {
  // The same output as cJSON_PrintUnformatted, without its per-item buffer management and its
  // sprintf/sscanf round trip for every number (a quarter of printing a record).
  if (!j) { out.append("null"); return; }
  switch (j->type & 0xFF) {
    case cJSON_NULL: out.append("null"); return;
    case cJSON_False: out.append("false"); return;
    case cJSON_True: out.append("true"); return;
    case cJSON_Number: AppendNumber(out, j); return;
    case cJSON_Raw: if (j->valuestring) out.append(j->valuestring); return;
    case cJSON_String: AppendJsonString(out, j->valuestring ? j->valuestring : ""); return;
    case cJSON_Array:
    case cJSON_Object: {
      const bool object = (j->type & 0xFF) == cJSON_Object;
      out.push_back(object ? '{' : '[');
      for (const cJSON* c = j->child; c; c = c->next) {
        if (c != j->child) out.push_back(',');
        if (object) {
          AppendJsonString(out, c->string ? c->string : "");
          out.push_back(':');
        }
        AppendJson(out, c);
      }
      out.push_back(object ? '}' : ']');
      return;
    }
    default: out.append("null"); return;  // cJSON_Invalid: never built by this code
  }
}

size_t PrintedSizeHint(const cJSON* j) {
  if (!j) return 4;
  switch (j->type & 0xFF) {
    case cJSON_Number: return 24;
    case cJSON_Raw: return j->valuestring ? std::strlen(j->valuestring) : 0;
    case cJSON_String: return 2 + (j->valuestring ? std::strlen(j->valuestring) : 0);
    case cJSON_Array:
    case cJSON_Object: {
      size_t n = 2;
      for (const cJSON* c = j->child; c; c = c->next) {
        n += 1 + PrintedSizeHint(c);  // the comma (one too many: the hint may be over by a byte)
        if ((j->type & 0xFF) == cJSON_Object) n += 3 + (c->string ? std::strlen(c->string) : 0);
      }
      return n;
    }
    default: return 5;  // null, true, false
  }
}

void RawBuilder::Reserve(size_t n) {
  if (failed_ || (buf_ && n <= cap_)) return;
  char* bigger = static_cast<char*>(cJSON_malloc(n + 1));
  if (!bigger) {
    failed_ = true;
    return;
  }
  if (buf_) {
    std::memcpy(bigger, buf_, size_);
    cJSON_free(buf_);
  }
  buf_ = bigger;
  cap_ = n;
}

void RawBuilder::Append(std::string_view s) {
  if (!buf_ || size_ + s.size() > cap_) Reserve(std::max(size_ + s.size(), 2 * cap_ + 64));
  if (failed_) return;
  std::memcpy(buf_ + size_, s.data(), s.size());
  size_ += s.size();
}

cJSON* RawBuilder::Release() {
  Reserve(size_);  // an empty builder has no buffer yet: the text is at least its NUL
  cJSON* item = failed_ ? nullptr : cJSON_CreateRaw("");
  if (item) {
    buf_[size_] = '\0';
    cJSON_free(item->valuestring);
    item->valuestring = buf_;
    buf_ = nullptr;
  }
  if (buf_) cJSON_free(buf_);
  buf_ = nullptr;
  size_ = cap_ = 0;
  failed_ = false;
  return item;
}

Json NewObject() { return Json(cJSON_CreateObject()); }
Json NewArray() { return Json(cJSON_CreateArray()); }
Json Clone(const cJSON* j) { return Json(cJSON_Duplicate(j, true)); }

std::optional<std::string> GetString(const cJSON* obj, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsString(v)) return std::nullopt;
  return std::string(v->valuestring);
}

std::optional<double> GetNumber(const cJSON* obj, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsNumber(v)) return std::nullopt;
  return v->valuedouble;
}

std::optional<int64_t> AsInt64(const cJSON* j) {
  if (!cJSON_IsNumber(j)) return std::nullopt;
  double d = j->valuedouble;
  if (!std::isfinite(d) || std::floor(d) != d || d < -9.2e18 || d > 9.2e18) return std::nullopt;
  return static_cast<int64_t>(d);
}

void SetField(cJSON* obj, const char* key, cJSON* value) {
  if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, value);
  } else {
    cJSON_AddItemToObject(obj, key, value);
  }
}

}  // namespace mqdb
