#include "storage/index.h"

#include "storage/keys.h"

namespace mqdb {

namespace {

bool Indexable(const cJSON* v) {
  return v && (cJSON_IsBool(v) || cJSON_IsNumber(v) || cJSON_IsString(v));
}

// Bytes of an encoded sortable value at the start of `s` (see keys::EncodeSortable).
size_t EncodedLength(std::string_view s) {
  if (s.empty()) return 0;
  switch (s[0]) {
    case '\x04': return 9;
    case '\x05': {
      size_t end = s.find(std::string_view("\0\0", 2), 1);
      return end == std::string_view::npos ? s.size() : end + 2;
    }
    default: return 1;
  }
}

}  // namespace

std::string IndexPrefix(const std::string& entity, const std::string& field) {
  return "idx/" + entity + "/" + field + "/";
}

std::optional<std::string> IndexKey(const std::string& entity, const std::string& field, const cJSON* value,
                                    const std::string& id) {
  if (!Indexable(value)) return std::nullopt;
  std::string key = IndexPrefix(entity, field) + keys::EncodeSortable(value);
  key.push_back('\0');
  key += id;
  return key;
}

std::string IdFromIndexKey(std::string_view key, size_t prefix_len) {
  std::string_view rest = key.substr(prefix_len);
  size_t n = EncodedLength(rest);
  return n + 1 <= rest.size() ? std::string(rest.substr(n + 1)) : std::string();
}

std::optional<std::vector<KeyRange>> IndexRanges(const std::string& entity, const Filter& f) {
  const std::string prefix = IndexPrefix(entity, f.field);
  // Built in place and moved, not copied: at 1M records allocations tend to take glibc's slow path
  // (README, Benchmarks), and the copies cost an indexed list seven more allocations.
  auto exact = [&](const cJSON* v) -> std::optional<KeyRange> {
    if (!Indexable(v)) return std::nullopt;
    const std::string enc = keys::EncodeSortable(v);
    KeyRange r;
    r.begin.reserve(prefix.size() + enc.size() + 1);
    r.begin += prefix;
    r.begin += enc;
    r.begin.push_back('\0');
    r.end.reserve(r.begin.size() + 1);
    r.end += r.begin;
    r.end.push_back('\xff');  // past every entry of this value: ids follow the \0
    return r;
  };
  switch (f.op) {
    case FilterOp::kEq: {
      auto r = exact(f.value.get());
      if (!r) return std::nullopt;
      std::vector<KeyRange> out;
      out.push_back(std::move(*r));
      return out;
    }
    case FilterOp::kIn: {
      std::vector<KeyRange> out;
      for (const cJSON* c = f.value->child; c; c = c->next) {
        if (cJSON_IsNull(c)) continue;  // null never matches
        auto r = exact(c);
        if (!r) return std::nullopt;
        out.push_back(std::move(*r));
      }
      return out;
    }
    case FilterOp::kLt: case FilterOp::kLte: case FilterOp::kGt: case FilterOp::kGte: {
      const cJSON* v = f.value.get();
      if (!Indexable(v)) return std::nullopt;
      std::string enc = keys::EncodeSortable(v);
      // Values of the same type only: booleans share no tag, so compare them as one "type" 0x02-0x03.
      char lo_tag = cJSON_IsBool(v) ? '\x02' : enc[0];
      char hi_tag = cJSON_IsBool(v) ? '\x04' : static_cast<char>(enc[0] + 1);
      std::string type_begin = prefix + std::string(1, lo_tag);
      std::string type_end = prefix + std::string(1, hi_tag);
      std::string at = prefix + enc;  // every entry equal to v starts with `at` followed by \0
      KeyRange r{type_begin, type_end};
      if (f.op == FilterOp::kLt) r.end = at + std::string(1, '\0');
      if (f.op == FilterOp::kLte) r.end = at + std::string(1, '\x01');
      if (f.op == FilterOp::kGt) r.begin = at + std::string(1, '\x01');
      if (f.op == FilterOp::kGte) r.begin = at;
      return std::vector<KeyRange>{r};
    }
    default:
      return std::nullopt;
  }
}

std::string UniquePrefix(const std::string& entity, const std::string& constraint) {
  return "uniq/" + entity + "/" + constraint + "/";
}

std::optional<std::string> UniqueKey(const std::string& entity, const std::string& constraint,
                                     const std::vector<std::string>& fields, const cJSON* record) {
  std::string key = UniquePrefix(entity, constraint);
  for (const auto& f : fields) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(record, f.c_str());
    if (!v || cJSON_IsNull(v)) return std::nullopt;
    std::string enc = keys::EncodeSortable(v);
    if (enc.empty()) {  // object or array: its canonical text, terminated like a string
      enc = "\x06" + Print(v);
      enc.append("\0\0", 2);
    }
    key += enc;
  }
  return key;
}

}  // namespace mqdb
