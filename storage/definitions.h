// Definitions: the admin operations on schemas, constraints and indexes (PROTOCOL.md §5), and the
// incremental index back-fill. Each operation is one batch: a rejected one (existing data violates a
// new constraint) changes nothing.
//
// Index back-fill never stalls the broker: an index is created in state "building" (every write
// maintains it from that moment), then BackfillStep() indexes at most `budget` existing records per
// call — the plugin calls it from its tick — and persists a cursor with each slice, so a restart
// resumes where it stopped. Queries use an index only once it is "ready".
#pragma once

#include <string>

#include "storage/catalog.h"
#include "storage/records.h"
#include "storage/store.h"

namespace mqdb {

constexpr size_t kBackfillSlice = 2000;  // records per back-fill step

class Definitions {
 public:
  Definitions(Store& store, Catalog& catalog, Records& records);

  Result<Json> SetSchema(const std::string& entity, const cJSON* payload);
  Result<Json> GetSchema(const std::string& entity) const;
  Result<Json> DeleteSchema(const std::string& entity);

  Result<Json> AddConstraint(const std::string& entity, const cJSON* payload);
  Result<Json> ListConstraints(const std::string& entity) const;
  Result<Json> RemoveConstraint(const std::string& entity, const cJSON* payload);

  Result<Json> AddIndex(const std::string& entity, const cJSON* payload);
  Result<Json> ListIndexes(const std::string& entity) const;
  Result<Json> RemoveIndex(const std::string& entity, const cJSON* payload);

  // Indexes up to `budget` records of indexes being built. Returns true while work remains.
  Result<bool> BackfillStep(size_t budget);

  // {"entities":[{"name","count","schema","constraints","indexes"}]}
  Result<Json> CatalogJson() const;

 private:
  // Adds "building" index definitions for `fields` (existing ones untouched) into `batch` and `next`.
  void StageNewIndexes(const std::string& entity, const std::vector<std::string>& fields, Batch& batch,
                       std::map<std::string, IndexDef>& next) const;
  Status CheckExisting(const Constraint& c, Batch& batch) const;

  Store& store_;
  Catalog& catalog_;
  Records& records_;
};

}  // namespace mqdb
