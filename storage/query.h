// The list/count query language of PROTOCOL.md §3: parsing (strict: every malformed part is a 400 that
// names it, never silently dropped) and evaluation against one record.
//
// Semantics, stated once:
//  - A missing field and an explicit null are both "null": they match is_null and no other op.
//  - Numbers compare numerically, strings bytewise, false < true; a comparison across types never matches.
//    eq/neq/in on objects and arrays use deep equality.
//  - Sort order for mixed types: null < boolean < number < string < array < object; nulls come first
//    ascending and last descending (the whole key is reversed). Remaining ties: id ascending.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/json.h"
#include "storage/status.h"

namespace mqdb {

constexpr size_t kMaxFilters = 16;
constexpr size_t kMaxSortKeys = 4;
constexpr int64_t kDefaultLimit = 100;
constexpr int64_t kMaxLimit = 10000;
constexpr size_t kMaxInValues = 1000;      // values of one `in` filter
constexpr size_t kMaxLikePattern = 256;    // bytes of one `like` pattern

enum class FilterOp { kEq, kNeq, kLt, kLte, kGt, kGte, kIn, kLike, kIsNull, kIsNotNull };

using FieldPath = std::vector<std::string>;  // "address.city" -> {"address", "city"}

// The values of an `in` filter, sorted by type at parse time so that one record's test is a binary
// search, not a pass over up to kMaxInValues values (count with in over 10,000 records otherwise
// costs 10 million comparisons). Arrays and objects (deep equality) stay a list.
struct InSet {
  std::vector<double> numbers;       // sorted
  std::vector<std::string> strings;  // sorted bytewise
  bool has_true = false, has_false = false;
  std::vector<const cJSON*> composites;  // into Filter::value
};

struct Filter {
  std::string field;  // as written, for messages
  FieldPath path;
  FilterOp op;
  Json value;  // null for is_null / is_not_null
  InSet in;    // kIn only
};

struct SortKey {
  FieldPath path;
  bool descending = false;
};

struct Query {
  std::vector<Filter> filters;
  std::vector<SortKey> sort;
  int64_t limit = kDefaultLimit;
  int64_t offset = 0;
  std::optional<std::vector<std::string>> projection;
  std::vector<std::string> includes;
};

enum class QueryKind { kList, kCount };

// Parses a list or count payload. A count accepts only `filters` (and `request_id`).
Result<Query> ParseQuery(const cJSON* payload, QueryKind kind);

// "a.b.c" -> {"a","b","c"} (no validation: empty parts stay empty).
FieldPath SplitPath(std::string_view dotted);

// The value at a dotted path, or nullptr when any step is missing or not an object.
const cJSON* Lookup(const cJSON* record, const FieldPath& path);

bool Matches(const std::vector<Filter>& filters, const cJSON* record);

// Strict weak ordering for sorting records by `keys`, ties broken by id ascending.
bool SortsBefore(const std::vector<SortKey>& keys, const cJSON* a, const cJSON* b);

// The same order on values looked up once per record: SortValues gives the value of each key (null
// when missing) and then the id; SortValuesBefore compares two such lists as SortsBefore compares
// the records. The pointers stay valid as long as the record.
std::vector<const cJSON*> SortValues(const std::vector<SortKey>& keys, const cJSON* record);
bool SortValuesBefore(const std::vector<SortKey>& keys, const std::vector<const cJSON*>& a,
                      const std::vector<const cJSON*>& b);

// Anchored glob where '*' matches any run of bytes and every other byte matches itself. Time is
// linear in pattern + text: the literal pieces between stars are found left to right with
// Knuth-Morris-Pratt, and the leftmost occurrence of each is always the right choice for '*'-only
// globs. (Backtracking took 21 s for 100,000 x "a" + "b" against a 200,000-byte value.)
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace mqdb
