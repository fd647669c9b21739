// Catalog: the definitions that shape an entity — schema, constraints, indexes (PROTOCOL.md §5) —
// parsed from admin payloads, persisted under meta/, and cached in memory for the write path.
//
//   meta/schema/{entity}             {"fields":{…},"strict":bool}
//   meta/constraint/{entity}/{name}  {"type":"unique","fields":[…]} | {"type":"not_null","field":…} |
//                                    {"type":"foreign_key","field":…,"target_entity":…,"on_delete":…}
//   meta/index/{entity}              {"<field>":{"state":"building"|"ready","cursor":"<last id done>"}}
//
// The cache changes only through Apply*() after the batch carrying the change has committed, so it
// never shows a definition the database does not have.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/json.h"
#include "storage/query.h"
#include "storage/status.h"
#include "storage/store.h"

namespace mqdb {

enum class FieldType { kString, kNumber, kInteger, kBoolean, kObject, kArray, kNull };
const char* FieldTypeName(FieldType t);

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kString;
  bool required = false;
  Json default_value;  // null pointer: no default
};

struct Schema {
  std::vector<FieldSpec> fields;
  bool strict = false;
};

enum class ConstraintKind { kUnique, kNotNull, kForeignKey };
enum class OnDelete { kRestrict, kCascade, kSetNull };

struct Constraint {
  std::string entity;
  std::string name;  // unique_<fields joined by _>, not_null_<field>, fk_<field>
  ConstraintKind kind = ConstraintKind::kUnique;
  std::vector<std::string> fields;  // unique: 1-8 top-level fields; not_null, foreign_key: exactly one
  std::string target_entity;        // foreign_key
  OnDelete on_delete = OnDelete::kRestrict;
};

struct IndexDef {
  std::string field;  // as given (dotted paths allowed)
  FieldPath path;
  bool ready = false;  // false while the back-fill runs: maintained by writes, not used by queries
  std::string cursor;  // back-fill progress: last id indexed
};

constexpr size_t kMaxUniqueFields = 8;
constexpr size_t kMaxIndexesPerEntity = 32;

// Admin payload parsing (400 naming the problem).
Result<Schema> ParseSchema(const cJSON* payload);
Result<Constraint> ParseConstraint(const std::string& entity, const cJSON* payload);
Result<std::vector<std::string>> ParseIndexFields(const cJSON* payload);

Json SchemaJson(const std::string& entity, const Schema& s);  // {"entity","fields","strict"}
Json ConstraintJson(const Constraint& c);

class Catalog {
 public:
  Status Load(const Store& store);

  const Schema* FindSchema(const std::string& entity) const;
  std::vector<const Constraint*> ConstraintsOf(const std::string& entity) const;
  const Constraint* FindConstraint(const std::string& entity, const std::string& name) const;
  std::vector<const Constraint*> ForeignKeysTo(const std::string& target_entity) const;
  const Constraint* ForeignKeyOn(const std::string& entity, const std::string& field) const;
  std::vector<const IndexDef*> IndexesOf(const std::string& entity) const;
  const IndexDef* FindIndex(const std::string& entity, const std::string& field) const;
  // Every entity that has a definition of any kind.
  std::vector<std::string> DefinedEntities() const;
  // (entity, field) of every index still being back-filled.
  std::vector<std::pair<std::string, std::string>> Building() const;

  // Stage the persisted form of a change into `batch`; call Apply* once the batch committed.
  void StageSchema(Batch& b, const std::string& entity, const Schema* schema) const;  // null: delete
  void StageConstraint(Batch& b, const Constraint& c, bool remove) const;
  void StageIndexes(Batch& b, const std::string& entity, const std::map<std::string, IndexDef>& indexes) const;

  void ApplySchema(const std::string& entity, const Schema* schema);
  void ApplyConstraint(const Constraint& c, bool remove);
  void ApplyIndexes(const std::string& entity, std::map<std::string, IndexDef> indexes);
  const std::map<std::string, IndexDef>& IndexMap(const std::string& entity) const;

 private:
  std::map<std::string, Schema> schemas_;
  std::map<std::string, std::map<std::string, Constraint>> constraints_;  // entity -> name -> def
  std::map<std::string, std::map<std::string, IndexDef>> indexes_;        // entity -> field -> def
};

}  // namespace mqdb
