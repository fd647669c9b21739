#include "storage/definitions.h"

#include "storage/index.h"
#include "storage/keys.h"
#include "storage/record.h"

#include <set>

namespace mqdb {

namespace {

Json Flag(const char* key) {
  Json j = NewObject();
  cJSON_AddTrueToObject(j.get(), key);
  return j;
}

Result<std::string> NameOf(const cJSON* payload) {
  const cJSON* n = cJSON_GetObjectItemCaseSensitive(payload, "name");
  if (!cJSON_IsString(n) || n->valuestring[0] == '\0') return Status::BadRequest("constraint remove needs \"name\"");
  return std::string(n->valuestring);
}

std::string PrefixEnd(const std::string& prefix) { return prefix.substr(0, prefix.size() - 1) + static_cast<char>(prefix.back() + 1); }

}  // namespace

Definitions::Definitions(Store& store, Catalog& catalog, Records& records)
    : store_(store), catalog_(catalog), records_(records) {}

Result<Json> Definitions::SetSchema(const std::string& entity, const cJSON* payload) {
  auto schema = ParseSchema(payload);
  if (!schema.ok()) return schema.status();
  Batch batch;
  catalog_.StageSchema(batch, entity, &schema.value());
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  catalog_.ApplySchema(entity, &schema.value());
  return SchemaJson(entity, schema.value());
}

Result<Json> Definitions::GetSchema(const std::string& entity) const {
  const Schema* s = catalog_.FindSchema(entity);
  if (!s) return Status::NotFound("no schema: " + entity);
  return SchemaJson(entity, *s);
}

Result<Json> Definitions::DeleteSchema(const std::string& entity) {
  if (!catalog_.FindSchema(entity)) return Status::NotFound("no schema: " + entity);
  Batch batch;
  catalog_.StageSchema(batch, entity, nullptr);
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  catalog_.ApplySchema(entity, nullptr);
  return Flag("deleted");
}

Status Definitions::CheckExisting(const Constraint& c, Batch& batch) const {
  const std::string prefix = keys::DataPrefix(c.entity);
  std::map<std::string, std::string> owners;  // unique key -> id
  Status verdict, corrupt;
  Status s = store_.Scan(prefix, [&](std::string_view key, std::string_view value) {
    std::string id(key.substr(prefix.size()));
    auto rec = ParseStored(value);
    if (!rec.ok()) { corrupt = rec.status(); return false; }
    const cJSON* r = rec.value().get();
    switch (c.kind) {
      case ConstraintKind::kNotNull: {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(r, c.fields[0].c_str());
        if (!v || cJSON_IsNull(v)) {
          verdict = Status::Conflict("existing data violates not null constraint: " + c.entity + "." + c.fields[0] +
                                     " (" + c.entity + "/" + id + ")");
          return false;
        }
        return true;
      }
      case ConstraintKind::kUnique: {
        auto k = UniqueKey(c.entity, c.name, c.fields, r);
        if (!k) return true;
        auto [it, fresh] = owners.emplace(*k, id);
        if (!fresh) {
          std::string fields;
          for (const auto& f : c.fields) fields += (fields.empty() ? "" : ",") + f;
          verdict = Status::Conflict("existing data violates unique constraint: " + c.entity + "." + fields + " (" +
                                     c.entity + "/" + it->second + " and " + c.entity + "/" + id + ")");
          return false;
        }
        batch.Put(*k, id);
        return true;
      }
      case ConstraintKind::kForeignKey: {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(r, c.fields[0].c_str());
        if (!v || cJSON_IsNull(v)) return true;
        auto ref = ReferenceId(v);
        Result<Json> target = ref ? records_.LoadRaw(c.target_entity, *ref, nullptr) : Result<Json>(Json());
        if (!target.ok()) { corrupt = target.status(); return false; }
        if (!target.value()) {
          verdict = Status::Conflict("existing data violates foreign key: " + c.entity + "." + c.fields[0] + " (" +
                                     c.entity + "/" + id + " references missing " + c.target_entity + "/" +
                                     ref.value_or("?") + ")");
          return false;
        }
        return true;
      }
    }
    return true;
  });
  if (!s.ok()) return s;
  if (!corrupt.ok()) return corrupt;
  return verdict;
}

Result<Json> Definitions::AddConstraint(const std::string& entity, const cJSON* payload) {
  auto c = ParseConstraint(entity, payload);
  if (!c.ok()) return c.status();
  if (catalog_.FindConstraint(entity, c->name)) return Status::Conflict("constraint already exists: " + c->name);
  Batch batch;
  if (Status s = CheckExisting(c.value(), batch); !s.ok()) return s;
  catalog_.StageConstraint(batch, c.value(), false);
  // A foreign key is looked up from the referencing side on every delete of its target: index it.
  std::map<std::string, IndexDef> next = catalog_.IndexMap(entity);
  bool new_index = c->kind == ConstraintKind::kForeignKey && !next.count(c->fields[0]);
  if (new_index) StageNewIndexes(entity, c->fields, batch, next);
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  catalog_.ApplyConstraint(c.value(), false);
  if (new_index) catalog_.ApplyIndexes(entity, std::move(next));
  return ConstraintJson(c.value());
}

Result<Json> Definitions::ListConstraints(const std::string& entity) const {
  Json arr = NewArray();
  for (const Constraint* c : catalog_.ConstraintsOf(entity)) cJSON_AddItemToArray(arr.get(), ConstraintJson(*c).release());
  return arr;
}

Result<Json> Definitions::RemoveConstraint(const std::string& entity, const cJSON* payload) {
  auto name = NameOf(payload);
  if (!name.ok()) return name.status();
  const Constraint* c = catalog_.FindConstraint(entity, name.value());
  if (!c) return Status::NotFound("not found: constraint " + entity + "." + name.value());
  Constraint copy = *c;
  Batch batch;
  catalog_.StageConstraint(batch, copy, true);
  if (copy.kind == ConstraintKind::kUnique) {
    std::string prefix = UniquePrefix(entity, copy.name);
    batch.DeleteRange(prefix, PrefixEnd(prefix));
  }
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  catalog_.ApplyConstraint(copy, true);
  return Flag("removed");
}

void Definitions::StageNewIndexes(const std::string& entity, const std::vector<std::string>& fields, Batch& batch,
                                  std::map<std::string, IndexDef>& next) const {
  for (const auto& f : fields) {
    if (next.count(f)) continue;
    IndexDef def;
    def.field = f;
    def.path = SplitPath(f);
    def.ready = store_.EntityCount(entity) == 0;  // nothing to back-fill
    next[f] = std::move(def);
  }
  catalog_.StageIndexes(batch, entity, next);
}

Result<Json> Definitions::AddIndex(const std::string& entity, const cJSON* payload) {
  auto fields = ParseIndexFields(payload);
  if (!fields.ok()) return fields.status();
  std::map<std::string, IndexDef> next = catalog_.IndexMap(entity);
  if (next.size() + fields->size() > kMaxIndexesPerEntity) {
    return Status::BadRequest("too many indexes on " + entity + " (max " + std::to_string(kMaxIndexesPerEntity) + ")");
  }
  Batch batch;
  StageNewIndexes(entity, fields.value(), batch, next);
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  catalog_.ApplyIndexes(entity, std::move(next));
  // Small entities are back-filled at once, so the index is usable in the response's next request.
  if (store_.EntityCount(entity) <= static_cast<int64_t>(kBackfillSlice)) {
    auto step = BackfillStep(kBackfillSlice);
    if (!step.ok()) return step.status();
  }
  Json out = NewObject();
  cJSON* arr = cJSON_AddArrayToObject(out.get(), "indexes");
  for (const IndexDef* d : catalog_.IndexesOf(entity)) {
    cJSON* item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "field", d->field.c_str());
    cJSON_AddStringToObject(item, "state", d->ready ? "ready" : "building");
    cJSON_AddItemToArray(arr, item);
  }
  return out;
}

Result<Json> Definitions::ListIndexes(const std::string& entity) const {
  Json arr = NewArray();
  for (const IndexDef* d : catalog_.IndexesOf(entity)) cJSON_AddItemToArray(arr.get(), cJSON_CreateString(d->field.c_str()));
  return arr;
}

Result<Json> Definitions::RemoveIndex(const std::string& entity, const cJSON* payload) {
  auto fields = ParseIndexFields(payload);
  if (!fields.ok()) return fields.status();
  std::map<std::string, IndexDef> next = catalog_.IndexMap(entity);
  Batch batch;
  for (const auto& f : fields.value()) {
    if (!next.erase(f)) return Status::NotFound("not found: index " + entity + "." + f);
    std::string prefix = IndexPrefix(entity, f);
    batch.DeleteRange(prefix, PrefixEnd(prefix));
  }
  catalog_.StageIndexes(batch, entity, next);
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  catalog_.ApplyIndexes(entity, std::move(next));
  return Flag("removed");
}

Result<bool> Definitions::BackfillStep(size_t budget) {
  auto building = catalog_.Building();
  if (building.empty()) return false;
  const std::string entity = building.front().first, field = building.front().second;
  std::map<std::string, IndexDef> next = catalog_.IndexMap(entity);
  IndexDef& def = next[field];
  const std::string prefix = keys::DataPrefix(entity);
  std::string start = def.cursor.empty() ? prefix : prefix + def.cursor + std::string(1, '\0');
  Batch batch;
  size_t n = 0;
  bool more = false;
  Status corrupt;
  Status s = store_.Scan(prefix, [&](std::string_view key, std::string_view value) {
    if (n == budget) { more = true; return false; }
    auto rec = ParseStored(value);
    if (!rec.ok()) { corrupt = rec.status(); return false; }
    std::string id(key.substr(prefix.size()));
    if (auto k = IndexKey(entity, field, Lookup(rec.value().get(), def.path), id)) batch.Put(*k, "");
    def.cursor = id;
    ++n;
    return true;
  }, start);
  if (!s.ok()) return s;
  if (!corrupt.ok()) return corrupt;
  if (!more) def.ready = true;
  catalog_.StageIndexes(batch, entity, next);
  if (auto t = store_.Commit(batch); !t.ok()) return t.status();
  catalog_.ApplyIndexes(entity, std::move(next));
  return !catalog_.Building().empty();
}

Result<Json> Definitions::CatalogJson() const {
  std::set<std::string> names;
  for (const auto& [e, n] : store_.entity_counts()) names.insert(e);
  for (const auto& e : catalog_.DefinedEntities()) names.insert(e);
  Json out = NewObject();
  cJSON* entities = cJSON_AddArrayToObject(out.get(), "entities");
  for (const auto& e : names) {
    cJSON* item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "name", e.c_str());
    cJSON_AddNumberToObject(item, "count", static_cast<double>(store_.EntityCount(e)));
    const Schema* s = catalog_.FindSchema(e);
    cJSON_AddItemToObject(item, "schema", s ? SchemaJson(e, *s).release() : cJSON_CreateNull());
    cJSON_AddItemToObject(item, "constraints", ListConstraints(e).value().release());
    cJSON_AddItemToObject(item, "indexes", ListIndexes(e).value().release());
    cJSON_AddItemToArray(entities, item);
  }
  return out;
}

}  // namespace mqdb
