// Strict JSON parsing for client payloads; see json.h for the rules and why they live here.
#include "storage/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>
#include <vector>

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

// A strict RFC 8259 parser that builds cJSON trees. Why not cJSON_Parse: it accepts what RFC 8259
// forbids (leading zeros, "1.", raw control characters in strings, a BOM), stores strings as C
// strings so "\u0000" silently truncates keys and values, turns numbers outside the double range
// into inf (printed as null) and truncates number tokens longer than 63 bytes. Here every one of
// those is a 400 naming its byte offset, and a number's value is the correctly rounded double of
// its whole token (std::from_chars).
class StrictParser {
 public:
  explicit StrictParser(std::string_view text) : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}
  // Only these members of the top-level object are built; the others are stepped over (Skip).
  void KeepOnly(const std::vector<std::string_view>* keys) { keep_ = keys; }

  // The value at the start of the text, then only whitespace. nullptr: error() says why.
  Json ParseDocument() {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) return Fail("byte order mark not allowed");
    SkipSpace();
    Json value(ParseValue(0));
    if (!value) return nullptr;
    SkipSpace();
    if (p_ != end_) return Fail("unexpected data after JSON value");
    return value;
  }
  const std::string& error() const { return error_; }

 private:
  std::nullptr_t Fail(const char* what) {
    if (error_.empty()) error_ = std::string(what) + " at byte " + std::to_string(p_ - begin_);
    return nullptr;
  }
  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool Literal(const char* word, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  cJSON* ParseValue(int depth) {
    if (p_ == end_) return Fail("unexpected end of JSON");
    switch (*p_) {
      case '{': return ParseObject(depth + 1);
      case '[': return ParseArray(depth + 1);
      case '"': {
        if (!ParseString(scratch_)) return nullptr;
        cJSON* s = cJSON_CreateString(scratch_.c_str());
        return s ? s : Fail("out of memory");
      }
      case 't': if (Literal("true", 4)) return cJSON_CreateTrue(); break;
      case 'f': if (Literal("false", 5)) return cJSON_CreateFalse(); break;
      case 'n': if (Literal("null", 4)) return cJSON_CreateNull(); break;
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return ParseNumber();
    }
    return Fail("syntax error");
  }

  cJSON* ParseNumber() {
    const char* start = p_;
    auto digit = [&] { return p_ < end_ && *p_ >= '0' && *p_ <= '9'; };
    if (*p_ == '-') ++p_;
    if (!digit()) return Fail("digit expected in number");
    if (*p_ == '0') {
      ++p_;
      if (digit()) { p_ = start; return Fail("leading zero in number"); }
    } else {
      while (digit()) ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digit()) return Fail("digit expected after decimal point");
      while (digit()) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digit()) return Fail("digit expected in exponent");
      while (digit()) ++p_;
    }
    double d = 0;
    auto [end, ec] = std::from_chars(start, p_, d);
    if (ec != std::errc() || end != p_ || !std::isfinite(d)) {
      p_ = start;
      return Fail("number out of range (beyond IEEE double)");
    }
    cJSON* n = cJSON_CreateNumber(d);
    return n ? n : Fail("out of memory");
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // Four hex digits after "\u"; -1 if malformed.
  long Hex4() {
    if (end_ - p_ < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = Hex(p_[i]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    p_ += 4;
    return v;
  }
  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // A string literal (p_ at its opening quote), decoded into `out`. The text is valid UTF-8 already
  // (checked once for the whole payload), so bytes >= 0x80 are copied as they are.
  bool ParseString(std::string& out) {
    out.clear();
    ++p_;
    const char* run = p_;  // start of the bytes to copy verbatim
    while (true) {
      if (p_ == end_) { Fail("unterminated string"); return false; }
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') break;
      if (c < 0x20) {
        Fail(c == 0 ? "NUL byte in string" : "raw control character in string (escape it)");
        return false;
      }
      if (c != '\\') { ++p_; continue; }
      out.append(run, static_cast<size_t>(p_ - run));
      const char* escape = p_++;
      if (p_ == end_) { Fail("unterminated string"); return false; }
      switch (*p_++) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          long cp = Hex4();
          if (cp < 0) { p_ = escape; Fail("invalid \\u escape"); return false; }
          if (cp == 0) { p_ = escape; Fail("\\u0000 (NUL) not allowed in strings"); return false; }
          if (cp >= 0xDC00 && cp <= 0xDFFF) { p_ = escape; Fail("unpaired surrogate in \\u escape"); return false; }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            long low = (end_ - p_ >= 2 && p_[0] == '\\' && p_[1] == 'u') ? (p_ += 2, Hex4()) : -1;
            if (low < 0xDC00 || low > 0xDFFF) { p_ = escape; Fail("unpaired surrogate in \\u escape"); return false; }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(out, static_cast<uint32_t>(cp));
          break;
        }
        default: p_ = escape; Fail("invalid escape in string"); return false;
      }
      run = p_;
    }
    out.append(run, static_cast<size_t>(p_ - run));
    ++p_;  // the closing quote
    return true;
  }

  cJSON* ParseArray(int depth) {
    if (depth > kMaxJsonDepth) return Fail("nesting deeper than 64 levels");
    ++p_;
    Json array(cJSON_CreateArray());
    if (!array) return Fail("out of memory");
    SkipSpace();
    if (p_ < end_ && *p_ == ']') { ++p_; return array.release(); }
    while (true) {
      SkipSpace();
      cJSON* item = ParseValue(depth);
      if (!item) return nullptr;
      cJSON_AddItemToArray(array.get(), item);
      SkipSpace();
      if (p_ < end_ && *p_ == ',') { ++p_; continue; }
      if (p_ < end_ && *p_ == ']') { ++p_; return array.release(); }
      return Fail(p_ == end_ ? "unexpected end of JSON" : "',' or ']' expected");
    }
  }

  cJSON* ParseObject(int depth) {
    if (depth > kMaxJsonDepth) return Fail("nesting deeper than 64 levels");
    ++p_;
    Json object(cJSON_CreateObject());
    if (!object) return Fail("out of memory");
    SkipSpace();
    if (p_ < end_ && *p_ == '}') { ++p_; return object.release(); }
    std::string key;
    while (true) {
      SkipSpace();
      if (p_ == end_ || *p_ != '"') return Fail(p_ == end_ ? "unexpected end of JSON" : "object key (a string) expected");
      if (!ParseString(key)) return nullptr;
      SkipSpace();
      if (p_ == end_ || *p_ != ':') return Fail("':' expected");
      ++p_;
      SkipSpace();
      if (depth == 1 && keep_ && std::find(keep_->begin(), keep_->end(), std::string_view(key)) == keep_->end()) {
        if (!Skip()) return Fail("syntax error");
        SkipSpace();
        if (p_ < end_ && *p_ == ',') { ++p_; continue; }
        if (p_ < end_ && *p_ == '}') { ++p_; return object.release(); }
        return Fail(p_ == end_ ? "unexpected end of JSON" : "',' or '}' expected");
      }
      cJSON* item = ParseValue(depth);
      if (!item) return nullptr;
      cJSON_AddItemToObject(object.get(), key.c_str(), item);
      SkipSpace();
      if (p_ < end_ && *p_ == ',') { ++p_; continue; }
      if (p_ < end_ && *p_ == '}') { ++p_; return object.release(); }
      return Fail(p_ == end_ ? "unexpected end of JSON" : "',' or '}' expected");
    }
  }

  // Steps over one value without building it: used only on text this process printed itself
  // (ParseStoredFields), so it checks no more than it needs to stay within the text.
  bool Skip() {
    if (p_ == end_) return false;
    if (*p_ == '"') return SkipString();
    if (*p_ != '{' && *p_ != '[') {  // a number or a literal: up to the next delimiter
      while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != ']' && *p_ != ' ' && *p_ != '\n') ++p_;
      return true;
    }
    int depth = 0;
    while (p_ < end_) {
      const char c = *p_;
      if (c == '"') {
        if (!SkipString()) return false;
        continue;
      }
      ++p_;
      if (c == '{' || c == '[') ++depth;
      else if ((c == '}' || c == ']') && --depth == 0) return true;
    }
    return false;
  }
  bool SkipString() {
    for (++p_; p_ < end_; ++p_) {
      if (*p_ == '\\') {
        if (++p_ == end_) return false;
        continue;
      }
      if (*p_ == '"') { ++p_; return true; }
    }
    return false;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string error_;
  std::string scratch_;  // decoded string values (keys use their own buffer: they outlive a value)
  const std::vector<std::string_view>* keep_ = nullptr;
};

Result<Json> ParseAny(std::string_view text) {
  StrictParser parser(text);
  Json j = parser.ParseDocument();
  if (!j) return Status::BadRequest("invalid JSON payload: " + parser.error());
  return j;
}

}  // namespace

Result<Json> ParsePayload(std::string_view payload) {
  if (IsBlank(payload)) return NewObject();
  if (!IsValidUtf8(payload)) return Status::BadRequest("invalid JSON payload: not valid UTF-8");
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

Result<Json> ParseStoredFields(std::string_view text, const std::vector<std::string_view>& keys) {
  StrictParser parser(text);
  parser.KeepOnly(&keys);
  Json j = parser.ParseDocument();
  if (!j) return Status::Internal("corrupt stored JSON");
  return j;
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

// Numbers keep their value (PROTOCOL.md §1): an integral value up to 2^53 in magnitude is written
// as its decimal digits, any other double in the shortest form that reads back as the same double
// (std::to_chars). cJSON's own printer ("%1.15g", then "%1.17g" only when a sloppy comparison says
// 15 digits do not round-trip) turned 9007199254740991 into 9.00719925474099e+15 and
// 0.30000000000000004 into 0.3, and infinities into null. Parsing never produces a non-finite
// number (StrictParser); should one be built anyway it is written as null, the only JSON for it.
void AppendNumber(std::string& out, const cJSON* j) {
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  const double d = j->valuedouble;
  char buf[32];
  if (!std::isfinite(d)) {
    out.append("null");
    return;
  }
  std::to_chars_result r;
  if (std::floor(d) == d && std::fabs(d) <= kExactIntegers && !(d == 0 && std::signbit(d))) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(d));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip form ("-0", "0.1", "1e+300")
  }
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace

void AppendJson(std::string& out, const cJSON* j) {
  // Compact, strings escaped as cJSON escapes them, numbers exact (AppendNumber); without cJSON's
  // per-item buffer management and its sprintf/sscanf round trip for every number.
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
