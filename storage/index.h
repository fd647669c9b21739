// Secondary index entries and unique guard keys (ARCHITECTURE.md §3), and the key ranges a filter
// needs on an index.
//
//   idx/{entity}/{field}/{sortable value}\0{id}   empty value; one entry per record with a non-null
//                                                 scalar at the field (objects/arrays are not indexed)
//   uniq/{entity}/{constraint}/{sortable tuple}   the owning record id
//
// Sortable values come from keys::EncodeSortable: the type tag first, so a range never crosses types
// (a comparison across types never matches, PROTOCOL.md §3), and one encoding for all numbers.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/json.h"
#include "storage/query.h"

namespace mqdb {

std::string IndexPrefix(const std::string& entity, const std::string& field);
// The entry of `id` whose field holds `value`; nullopt when the value is not indexed.
std::optional<std::string> IndexKey(const std::string& entity, const std::string& field, const cJSON* value,
                                    const std::string& id);
// The id at the end of an index key that starts with `prefix`.
std::string IdFromIndexKey(std::string_view key, size_t prefix_len);

struct KeyRange {
  std::string begin;  // inclusive
  std::string end;    // exclusive
};
// Key ranges of the index on `f.field` holding exactly the records `f` matches; nullopt when the
// filter cannot be answered from the index (is_null, like, neq, non-scalar values).
std::optional<std::vector<KeyRange>> IndexRanges(const std::string& entity, const Filter& f);

// The guard key of a unique constraint for `record`; nullopt when a field is missing or null (SQL
// semantics: nulls never conflict).
std::optional<std::string> UniqueKey(const std::string& entity, const std::string& constraint,
                                     const std::vector<std::string>& fields, const cJSON* record);
std::string UniquePrefix(const std::string& entity, const std::string& constraint);

}  // namespace mqdb
