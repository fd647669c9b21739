#include "storage/query.h"

#include <algorithm>
#include <cstring>

#include "storage/record.h"
#include "storage/split.h"

namespace mqdb {

namespace {

struct OpName { const char* name; FilterOp op; };
constexpr OpName kOps[] = {
    {"eq", FilterOp::kEq},   {"neq", FilterOp::kNeq}, {"lt", FilterOp::kLt},
    {"lte", FilterOp::kLte}, {"gt", FilterOp::kGt},   {"gte", FilterOp::kGte},
    {"in", FilterOp::kIn},   {"like", FilterOp::kLike}, {"is_null", FilterOp::kIsNull},
    {"is_not_null", FilterOp::kIsNotNull},
};

bool IsNull(const cJSON* v) { return v == nullptr || cJSON_IsNull(v); }

Result<FieldPath> ParsePath(const cJSON* v, const char* what) {
  if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
    return Status::BadRequest(std::string(what) + " field must be a non-empty string");
  }
  FieldPath path = SplitPath(v->valuestring);
  for (const auto& part : path) {
    if (part.empty()) return Status::BadRequest(std::string("invalid field path: ") + v->valuestring);
  }
  return path;
}

Result<Filter> ParseFilter(const cJSON* f, size_t index) {
  std::string where = "filter " + std::to_string(index);
  if (!cJSON_IsObject(f)) return Status::BadRequest(where + " must be an object");
  for (const cJSON* c = f->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "field" && k != "op" && k != "value") return Status::BadRequest("unknown filter key: " + std::string(k));
  }
  const cJSON* field = cJSON_GetObjectItemCaseSensitive(f, "field");
  if (!field) return Status::BadRequest(where + ": missing field");
  auto path = ParsePath(field, where.c_str());
  if (!path.ok()) return path.status();
  const cJSON* op = cJSON_GetObjectItemCaseSensitive(f, "op");
  if (!cJSON_IsString(op)) return Status::BadRequest(where + ": missing op");
  Filter out;
  out.field = field->valuestring;
  out.path = std::move(path.value());
  bool known = false;
  for (const auto& o : kOps) {
    if (std::strcmp(o.name, op->valuestring) == 0) { out.op = o.op; known = true; }
  }
  if (!known) return Status::BadRequest(std::string("unknown filter op: ") + op->valuestring);
  const cJSON* value = cJSON_GetObjectItemCaseSensitive(f, "value");
  std::string opname = op->valuestring;
  switch (out.op) {
    case FilterOp::kIsNull:
    case FilterOp::kIsNotNull:
      return out;  // a value, if given, is ignored
    case FilterOp::kIn:
      if (!cJSON_IsArray(value)) return Status::BadRequest("filter value for in must be an array: " + out.field);
      if (static_cast<size_t>(cJSON_GetArraySize(value)) > kMaxInValues) {
        return Status::BadRequest("too many values for in (max " + std::to_string(kMaxInValues) + "): " + out.field);
      }
      break;
    case FilterOp::kLike:
      if (!cJSON_IsString(value)) return Status::BadRequest("filter value for like must be a string: " + out.field);
      if (std::strlen(value->valuestring) > kMaxLikePattern) {
        return Status::BadRequest("like pattern longer than " + std::to_string(kMaxLikePattern) + " bytes: " + out.field);
      }
      break;
    case FilterOp::kLt: case FilterOp::kLte: case FilterOp::kGt: case FilterOp::kGte:
      if (!value) return Status::BadRequest("missing filter value for " + opname + ": " + out.field);
      if (!cJSON_IsNumber(value) && !cJSON_IsString(value) && !cJSON_IsBool(value)) {
        return Status::BadRequest("filter value for " + opname + " must be a number, string or boolean: " + out.field);
      }
      break;
    case FilterOp::kEq: case FilterOp::kNeq:
      if (!value) return Status::BadRequest("missing filter value for " + opname + ": " + out.field);
      if (cJSON_IsNull(value)) {
        return Status::BadRequest("filter value for " + opname + " must not be null (use is_null/is_not_null): " + out.field);
      }
      break;
  }
  out.value = Clone(value);
  if (out.op == FilterOp::kIn) {
    InSet& in = out.in;
    for (const cJSON* c = out.value->child; c; c = c->next) {
      if (cJSON_IsNumber(c)) in.numbers.push_back(c->valuedouble);
      else if (cJSON_IsString(c)) in.strings.emplace_back(c->valuestring);
      else if (cJSON_IsTrue(c)) in.has_true = true;
      else if (cJSON_IsFalse(c)) in.has_false = true;
      else if (cJSON_IsArray(c) || cJSON_IsObject(c)) in.composites.push_back(c);
      // null never matches (a null field matches is_null only)
    }
    std::sort(in.numbers.begin(), in.numbers.end());
    std::sort(in.strings.begin(), in.strings.end());
  }
  return out;
}

Result<SortKey> ParseSortKey(const cJSON* s) {
  if (!cJSON_IsObject(s)) return Status::BadRequest("sort key must be an object");
  for (const cJSON* c = s->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "field" && k != "direction") return Status::BadRequest("unknown sort key field: " + std::string(k));
  }
  auto path = ParsePath(cJSON_GetObjectItemCaseSensitive(s, "field"), "sort");
  if (!path.ok()) return path.status();
  SortKey key{std::move(path.value()), false};
  if (const cJSON* d = cJSON_GetObjectItemCaseSensitive(s, "direction")) {
    if (cJSON_IsString(d) && std::strcmp(d->valuestring, "asc") == 0) key.descending = false;
    else if (cJSON_IsString(d) && std::strcmp(d->valuestring, "desc") == 0) key.descending = true;
    else return Status::BadRequest("bad sort direction (use asc or desc)");
  }
  return key;
}

Result<int64_t> ParseCount(const cJSON* v, const char* what, int64_t max) {
  auto n = AsInt64(v);
  if (!n || *n < 0 || *n > max) {
    return Status::BadRequest(std::string(what) + " must be an integer between 0 and " + std::to_string(max));
  }
  return *n;
}

// Type rank for sorting mixed types.
int Rank(const cJSON* v) {
  if (IsNull(v)) return 0;
  if (cJSON_IsBool(v)) return 1;
  if (cJSON_IsNumber(v)) return 2;
  if (cJSON_IsString(v)) return 3;
  if (cJSON_IsArray(v)) return 4;
  return 5;
}

// Ordering of two values of the same orderable type (bool, number, string); nullopt otherwise.
std::optional<int> Order(const cJSON* a, const cJSON* b) {
  if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) {
    return a->valuedouble < b->valuedouble ? -1 : (a->valuedouble > b->valuedouble ? 1 : 0);
  }
  if (cJSON_IsString(a) && cJSON_IsString(b)) {
    int c = std::strcmp(a->valuestring, b->valuestring);  // strcmp compares as unsigned char: bytewise
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (cJSON_IsBool(a) && cJSON_IsBool(b)) return (cJSON_IsTrue(a) ? 1 : 0) - (cJSON_IsTrue(b) ? 1 : 0);
  return std::nullopt;
}

bool Equal(const cJSON* a, const cJSON* b) {
  if (auto o = Order(a, b)) return *o == 0;
  if ((cJSON_IsArray(a) && cJSON_IsArray(b)) || (cJSON_IsObject(a) && cJSON_IsObject(b))) {
    return cJSON_Compare(a, b, true);
  }
  return false;
}

bool SameType(const cJSON* a, const cJSON* b) {
  return Rank(a) == Rank(b);
}

bool Eval(const Filter& f, const cJSON* record) {
  const cJSON* v = Lookup(record, f.path);
  if (f.op == FilterOp::kIsNull) return IsNull(v);
  if (f.op == FilterOp::kIsNotNull) return !IsNull(v);
  if (IsNull(v)) return false;
  switch (f.op) {
    case FilterOp::kEq: return Equal(v, f.value.get());
    case FilterOp::kNeq: return SameType(v, f.value.get()) && !Equal(v, f.value.get());
    case FilterOp::kIn: {
      const InSet& in = f.in;
      if (cJSON_IsNumber(v)) return std::binary_search(in.numbers.begin(), in.numbers.end(), v->valuedouble);
      if (cJSON_IsString(v)) {
        return std::binary_search(in.strings.begin(), in.strings.end(), std::string_view(v->valuestring),
                                  [](std::string_view a, std::string_view b) { return a < b; });
      }
      if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? in.has_true : in.has_false;
      for (const cJSON* c : in.composites) if (Equal(v, c)) return true;
      return false;
    }
    case FilterOp::kLike:
      return cJSON_IsString(v) && GlobMatch(f.value->valuestring, v->valuestring);
    default: break;
  }
  auto o = Order(v, f.value.get());
  if (!o) return false;
  switch (f.op) {
    case FilterOp::kLt: return *o < 0;
    case FilterOp::kLte: return *o <= 0;
    case FilterOp::kGt: return *o > 0;
    case FilterOp::kGte: return *o >= 0;
    default: return false;
  }
}

int CompareForSort(const cJSON* a, const cJSON* b) {
  int ra = Rank(a), rb = Rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (auto o = Order(a, b)) return *o;
  if (ra >= 4) {  // arrays/objects: order by their serialisation, which is at least deterministic
    std::string sa = Print(a), sb = Print(b);
    return sa < sb ? -1 : (sa > sb ? 1 : 0);
  }
  return 0;
}

}  // namespace

Result<Query> ParseQuery(const cJSON* payload, QueryKind kind) {
  Query q;
  for (const cJSON* c = payload->child; c; c = c->next) {
    std::string_view k = c->string;
    bool list_only = k == "sort" || k == "limit" || k == "offset" || k == "projection" || k == "includes";
    if (list_only && kind == QueryKind::kCount) {
      return Status::BadRequest("count does not accept " + std::string(k));
    }
    if (!list_only && k != "filters" && k != "request_id") {
      return Status::BadRequest("unknown query field: " + std::string(k));
    }
  }
  if (const cJSON* r = cJSON_GetObjectItemCaseSensitive(payload, "request_id"); r && !cJSON_IsString(r)) {
    return Status::BadRequest("request_id must be a string");
  }
  if (const cJSON* filters = cJSON_GetObjectItemCaseSensitive(payload, "filters")) {
    if (!cJSON_IsArray(filters)) return Status::BadRequest("filters must be an array");
    if (static_cast<size_t>(cJSON_GetArraySize(filters)) > kMaxFilters) {
      return Status::BadRequest("too many filters (max " + std::to_string(kMaxFilters) + ")");
    }
    size_t i = 0;
    for (const cJSON* f = filters->child; f; f = f->next) {
      auto parsed = ParseFilter(f, i++);
      if (!parsed.ok()) return parsed.status();
      q.filters.push_back(std::move(parsed.value()));
    }
  }
  if (const cJSON* sort = cJSON_GetObjectItemCaseSensitive(payload, "sort")) {
    if (!cJSON_IsArray(sort)) return Status::BadRequest("sort must be an array");
    if (static_cast<size_t>(cJSON_GetArraySize(sort)) > kMaxSortKeys) {
      return Status::BadRequest("too many sort keys (max " + std::to_string(kMaxSortKeys) + ")");
    }
    for (const cJSON* s = sort->child; s; s = s->next) {
      auto key = ParseSortKey(s);
      if (!key.ok()) return key.status();
      q.sort.push_back(std::move(key.value()));
    }
  }
  if (const cJSON* limit = cJSON_GetObjectItemCaseSensitive(payload, "limit")) {
    auto n = ParseCount(limit, "limit", kMaxLimit);
    if (!n.ok()) return n.status();
    q.limit = n.value();
  }
  if (const cJSON* offset = cJSON_GetObjectItemCaseSensitive(payload, "offset")) {
    auto n = ParseCount(offset, "offset", INT64_C(1) << 53);
    if (!n.ok()) return n.status();
    q.offset = n.value();
  }
  if (const cJSON* p = cJSON_GetObjectItemCaseSensitive(payload, "projection")) {
    auto fields = ParseFieldList(p, "projection");
    if (!fields.ok()) return fields.status();
    q.projection = std::move(fields.value());
  }
  if (const cJSON* inc = cJSON_GetObjectItemCaseSensitive(payload, "includes")) {
    auto fields = ParseFieldList(inc, "includes");
    if (!fields.ok()) return fields.status();
    q.includes = std::move(fields.value());
  }
  return q;
}

FieldPath SplitPath(std::string_view s) {
  FieldPath path;
  path.reserve(CountParts(s, '.'));
  ForEachPart(s, '.', [&](std::string_view part) { path.emplace_back(part); });
  return path;
}

const cJSON* Lookup(const cJSON* record, const FieldPath& path) {
  const cJSON* cur = record;
  for (const auto& part : path) {
    if (!cJSON_IsObject(cur)) return nullptr;
    cur = cJSON_GetObjectItemCaseSensitive(cur, part.c_str());
    if (!cur) return nullptr;
  }
  return cur;
}

bool Matches(const std::vector<Filter>& filters, const cJSON* record) {
  for (const auto& f : filters) if (!Eval(f, record)) return false;
  return true;
}

bool SortsBefore(const std::vector<SortKey>& keys, const cJSON* a, const cJSON* b) {
  for (const auto& k : keys) {
    int c = CompareForSort(Lookup(a, k.path), Lookup(b, k.path));
    if (c != 0) return k.descending ? c > 0 : c < 0;
  }
  const cJSON* ia = cJSON_GetObjectItemCaseSensitive(a, "id");
  const cJSON* ib = cJSON_GetObjectItemCaseSensitive(b, "id");
  return CompareForSort(ia, ib) < 0;
}

namespace {

// The first occurrence of `needle` in `hay` at or after `from`, in O(|hay| + |needle|) (KMP).
size_t FindLinear(std::string_view hay, std::string_view needle, size_t from, std::vector<size_t>& fail) {
  if (needle.empty()) return from;
  fail.assign(needle.size(), 0);
  for (size_t i = 1, k = 0; i < needle.size(); ++i) {
    while (k > 0 && needle[i] != needle[k]) k = fail[k - 1];
    if (needle[i] == needle[k]) ++k;
    fail[i] = k;
  }
  for (size_t i = from, k = 0; i < hay.size(); ++i) {
    while (k > 0 && hay[i] != needle[k]) k = fail[k - 1];
    if (hay[i] == needle[k]) ++k;
    if (k == needle.size()) return i + 1 - k;
  }
  return std::string_view::npos;
}

}  // namespace

std::vector<const cJSON*> SortValues(const std::vector<SortKey>& keys, const cJSON* record) {
  std::vector<const cJSON*> values;
  values.reserve(keys.size() + 1);
  for (const auto& k : keys) values.push_back(Lookup(record, k.path));
  values.push_back(cJSON_GetObjectItemCaseSensitive(record, "id"));
  return values;
}

bool SortValuesBefore(const std::vector<SortKey>& keys, const std::vector<const cJSON*>& a,
                      const std::vector<const cJSON*>& b) {
  for (size_t i = 0; i < keys.size(); ++i) {
    int c = CompareForSort(a[i], b[i]);
    if (c != 0) return keys[i].descending ? c > 0 : c < 0;
  }
  return CompareForSort(a[keys.size()], b[keys.size()]) < 0;
}

bool GlobMatch(std::string_view p, std::string_view t) {
  const size_t first_star = p.find('*');
  if (first_star == std::string_view::npos) return p == t;
  const size_t last_star = p.rfind('*');
  const std::string_view head = p.substr(0, first_star), tail = p.substr(last_star + 1);
  // The literal head and tail are anchored and must not overlap; the pieces between the stars are
  // then found in order, each at its leftmost place in what is left between head and tail.
  if (t.size() < head.size() + tail.size() || t.substr(0, head.size()) != head ||
      t.substr(t.size() - tail.size()) != tail) {
    return false;
  }
  const std::string_view middle_text = t.substr(0, t.size() - tail.size());
  std::vector<size_t> fail;
  size_t at = head.size();
  size_t piece_start = first_star + 1;
  while (piece_start <= last_star) {
    const size_t piece_end = p.find('*', piece_start);  // <= last_star
    const std::string_view piece = p.substr(piece_start, piece_end - piece_start);
    if (!piece.empty()) {
      const size_t found = FindLinear(middle_text, piece, at, fail);
      if (found == std::string_view::npos) return false;
      at = found + piece.size();
    }
    piece_start = piece_end + 1;
  }
  return true;
}

}  // namespace mqdb
