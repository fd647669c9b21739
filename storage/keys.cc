#include "storage/keys.h"

#include <cstdio>
#include <cstring>

namespace mqdb::keys {

std::string Padded(uint64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(n));
  return buf;
}

std::string DataPrefix(std::string_view entity) {
  std::string k = "data/";
  k.append(entity).push_back('/');
  return k;
}

std::string Data(std::string_view entity, std::string_view id) {
  std::string k = DataPrefix(entity);
  k.append(id);
  return k;
}

namespace {
// Families whose keys are grouped by entity: their regions are "{family}{entity}/".
bool EntityScoped(std::string_view family) { return family == "data/" || family == "idx/" || family == "uniq/"; }
}  // namespace

std::string_view Region(std::string_view key) {
  size_t end = key.find('/');
  if (end == std::string_view::npos) return {};
  ++end;
  if (EntityScoped(key.substr(0, end))) {
    size_t second = key.find('/', end);
    if (second != std::string_view::npos) end = second + 1;
  }
  return key.substr(0, end);
}

bool IsRegion(std::string_view prefix) {
  // An entity-scoped family alone ("data/") is its own Region but holds every entity's region.
  return !prefix.empty() && prefix.back() == '/' && Region(prefix) == prefix && !EntityScoped(prefix);
}

std::string MetaCount(std::string_view entity) { return std::string(kMetaCountPrefix) + std::string(entity); }

std::string Outbox(uint64_t seq) { return std::string(kOutboxPrefix) + Padded(seq); }
std::string Dead(uint64_t seq) { return std::string(kDeadPrefix) + Padded(seq); }
std::string Feed(uint64_t seq) { return std::string(kFeedPrefix) + Padded(seq); }

std::optional<uint64_t> ParseFeed(std::string_view key) {
  if (key.size() != kFeedPrefix.size() + 20 || key.substr(0, kFeedPrefix.size()) != kFeedPrefix) return std::nullopt;
  uint64_t n = 0;
  for (char c : key.substr(kFeedPrefix.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

std::string Ttl(int64_t expires_at_s, std::string_view entity, std::string_view id) {
  std::string k(kTtlPrefix);
  k += Padded(expires_at_s < 0 ? 0 : static_cast<uint64_t>(expires_at_s));
  k.push_back('/');
  k.append(entity).push_back('/');
  k.append(id);
  return k;
}

std::optional<TtlTarget> ParseTtl(std::string_view key) {
  constexpr size_t kEntityAt = kTtlPrefix.size() + 21;  // after "ttl/{20 digits}/"
  if (key.size() <= kEntityAt || key.substr(0, kTtlPrefix.size()) != kTtlPrefix) return std::nullopt;
  std::string_view rest = key.substr(kEntityAt);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) return std::nullopt;
  return TtlTarget{rest.substr(0, slash), rest.substr(slash + 1)};
}

namespace {
std::string Hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}
}  // namespace

std::string Dedup(std::string_view identity) { return std::string(kDedupPrefix) + Hex(identity); }


std::string EncodeSortable(const cJSON* v) {
  std::string out;
  if (cJSON_IsNull(v) || v == nullptr) { out.push_back('\x01'); return out; }
  if (cJSON_IsFalse(v)) { out.push_back('\x02'); return out; }
  if (cJSON_IsTrue(v)) { out.push_back('\x03'); return out; }
  if (cJSON_IsNumber(v)) {
    out.push_back('\x04');
    double d = v->valuedouble;
    if (d == 0) d = 0;  // -0.0 and 0.0 are the same number
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    // IEEE754 -> unsigned order: flip all bits of negatives, only the sign bit of positives.
    bits = (bits & (1ULL << 63)) ? ~bits : (bits | (1ULL << 63));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((bits >> (i * 8)) & 0xFF));
    return out;
  }
  if (cJSON_IsString(v)) {
    out.push_back('\x05');
    for (const char* p = v->valuestring; *p; ++p) out.push_back(*p);  // cJSON strings hold no NUL
    out.push_back('\0');
    out.push_back('\0');
    return out;
  }
  return out;
}

}  // namespace mqdb::keys
