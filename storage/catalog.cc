#include "storage/catalog.h"

#include <set>

#include "storage/names.h"
#include "storage/schema.h"

namespace mqdb {

namespace {

const std::string kSchemaPrefix = "meta/schema/";
const std::string kConstraintPrefix = "meta/constraint/";
const std::string kIndexPrefix = "meta/index/";

struct TypeName { const char* name; FieldType type; };
constexpr TypeName kTypes[] = {{"string", FieldType::kString},   {"number", FieldType::kNumber},
                               {"integer", FieldType::kInteger}, {"boolean", FieldType::kBoolean},
                               {"object", FieldType::kObject},   {"array", FieldType::kArray},
                               {"null", FieldType::kNull}};

Status CheckFieldName(const std::string& f, const std::string& what) {
  if (f.empty() || f[0] == '_' || f.find('.') != std::string::npos || f.size() > 256) {
    return Status::BadRequest(what + ": invalid field name: " + f);
  }
  return Status::Ok();
}

Result<std::string> OneField(const cJSON* payload, const std::string& what) {
  const cJSON* f = cJSON_GetObjectItemCaseSensitive(payload, "field");
  if (!cJSON_IsString(f)) return Status::BadRequest(what + " constraint needs \"field\" (a string)");
  if (Status s = CheckFieldName(f->valuestring, what); !s.ok()) return s;
  return std::string(f->valuestring);
}

Status OnlyKeys(const cJSON* payload, std::initializer_list<const char*> allowed, const std::string& what) {
  for (const cJSON* c = payload->child; c; c = c->next) {
    bool ok = std::string_view(c->string) == "request_id";
    for (const char* a : allowed) ok |= std::string_view(c->string) == a;
    if (!ok) return Status::BadRequest("unknown field in " + what + ": " + c->string);
  }
  return Status::Ok();
}

}  // namespace

const char* FieldTypeName(FieldType t) {
  for (const auto& tn : kTypes) if (tn.type == t) return tn.name;
  return "?";
}

Result<Schema> ParseSchema(const cJSON* payload) {
  if (Status s = OnlyKeys(payload, {"fields", "strict"}, "schema"); !s.ok()) return s;
  const cJSON* fields = cJSON_GetObjectItemCaseSensitive(payload, "fields");
  if (!cJSON_IsObject(fields)) return Status::BadRequest("schema needs \"fields\" (an object)");
  Schema schema;
  if (const cJSON* strict = cJSON_GetObjectItemCaseSensitive(payload, "strict")) {
    if (!cJSON_IsBool(strict)) return Status::BadRequest("schema strict must be a boolean");
    schema.strict = cJSON_IsTrue(strict);
  }
  for (const cJSON* f = fields->child; f; f = f->next) {
    std::string name = f->string;
    if (Status s = CheckFieldName(name, "schema"); !s.ok()) return s;
    if (name == "id") return Status::BadRequest("schema: field id is the record id and cannot be declared");
    if (!cJSON_IsObject(f)) return Status::BadRequest("schema field " + name + " must be an object");
    for (const cJSON* k = f->child; k; k = k->next) {
      std::string_view key = k->string;
      if (key != "type" && key != "required" && key != "default") {
        return Status::BadRequest("schema field " + name + ": unknown key " + std::string(key));
      }
    }
    FieldSpec spec;
    spec.name = name;
    const cJSON* type = cJSON_GetObjectItemCaseSensitive(f, "type");
    if (!cJSON_IsString(type)) return Status::BadRequest("schema field " + name + " needs a type");
    bool known = false;
    for (const auto& tn : kTypes) {
      if (std::string_view(type->valuestring) == tn.name) { spec.type = tn.type; known = true; }
    }
    if (!known) return Status::BadRequest("schema field " + name + ": unknown type " + type->valuestring);
    if (const cJSON* req = cJSON_GetObjectItemCaseSensitive(f, "required")) {
      if (!cJSON_IsBool(req)) return Status::BadRequest("schema field " + name + ": required must be a boolean");
      spec.required = cJSON_IsTrue(req);
    }
    if (const cJSON* def = cJSON_GetObjectItemCaseSensitive(f, "default")) spec.default_value = Clone(def);
    if (Status s = CheckDefault(spec); !s.ok()) return s;
    schema.fields.push_back(std::move(spec));
  }
  return schema;
}

Json SchemaJson(const std::string& entity, const Schema& s) {
  Json j = NewObject();
  if (!entity.empty()) cJSON_AddStringToObject(j.get(), "entity", entity.c_str());
  cJSON* fields = cJSON_AddObjectToObject(j.get(), "fields");
  for (const auto& f : s.fields) {
    cJSON* spec = cJSON_AddObjectToObject(fields, f.name.c_str());
    cJSON_AddStringToObject(spec, "type", FieldTypeName(f.type));
    cJSON_AddBoolToObject(spec, "required", f.required);
    if (f.default_value) cJSON_AddItemToObject(spec, "default", cJSON_Duplicate(f.default_value.get(), true));
  }
  cJSON_AddBoolToObject(j.get(), "strict", s.strict);
  return j;
}

Result<Constraint> ParseConstraint(const std::string& entity, const cJSON* payload) {
  const cJSON* type = cJSON_GetObjectItemCaseSensitive(payload, "type");
  if (!cJSON_IsString(type)) return Status::BadRequest("constraint needs \"type\": unique, not_null or foreign_key");
  std::string t = type->valuestring;
  Constraint c;
  c.entity = entity;
  if (t == "unique") {
    if (Status s = OnlyKeys(payload, {"type", "fields", "field"}, "unique constraint"); !s.ok()) return s;
    const cJSON* fields = cJSON_GetObjectItemCaseSensitive(payload, "fields");
    if (!fields) {
      auto one = OneField(payload, "unique");
      if (!one.ok()) return Status::BadRequest("unique constraint needs \"fields\" (an array of field names)");
      c.fields.push_back(one.value());
    } else {
      if (!cJSON_IsArray(fields) || !fields->child) return Status::BadRequest("unique constraint needs \"fields\" (an array of field names)");
      std::set<std::string> seen;
      for (const cJSON* f = fields->child; f; f = f->next) {
        if (!cJSON_IsString(f)) return Status::BadRequest("unique constraint fields must be strings");
        if (Status s = CheckFieldName(f->valuestring, "unique constraint"); !s.ok()) return s;
        if (!seen.insert(f->valuestring).second) return Status::BadRequest(std::string("unique constraint names field twice: ") + f->valuestring);
        c.fields.push_back(f->valuestring);
      }
      if (c.fields.size() > kMaxUniqueFields) return Status::BadRequest("unique constraint: at most 8 fields");
    }
    c.kind = ConstraintKind::kUnique;
    c.name = "unique";
    for (const auto& f : c.fields) c.name += "_" + f;
  } else if (t == "not_null") {
    if (Status s = OnlyKeys(payload, {"type", "field"}, "not_null constraint"); !s.ok()) return s;
    auto f = OneField(payload, "not_null");
    if (!f.ok()) return f.status();
    c.kind = ConstraintKind::kNotNull;
    c.fields = {f.value()};
    c.name = "not_null_" + f.value();
  } else if (t == "foreign_key") {
    if (Status s = OnlyKeys(payload, {"type", "field", "target_entity", "on_delete"}, "foreign_key constraint"); !s.ok()) return s;
    auto f = OneField(payload, "foreign_key");
    if (!f.ok()) return f.status();
    const cJSON* target = cJSON_GetObjectItemCaseSensitive(payload, "target_entity");
    if (!cJSON_IsString(target)) return Status::BadRequest("foreign_key constraint needs \"target_entity\"");
    if (Status s = CheckEntityName(target->valuestring); !s.ok()) return Status::BadRequest("foreign_key target_entity: " + s.message());
    c.kind = ConstraintKind::kForeignKey;
    c.fields = {f.value()};
    c.target_entity = target->valuestring;
    c.name = "fk_" + f.value();
    if (const cJSON* od = cJSON_GetObjectItemCaseSensitive(payload, "on_delete")) {
      std::string v = cJSON_IsString(od) ? od->valuestring : "";
      if (v == "restrict") c.on_delete = OnDelete::kRestrict;
      else if (v == "cascade") c.on_delete = OnDelete::kCascade;
      else if (v == "set_null") c.on_delete = OnDelete::kSetNull;
      else return Status::BadRequest("on_delete must be restrict, cascade or set_null");
    }
  } else {
    return Status::BadRequest("unknown constraint type: " + t + " (use unique, not_null or foreign_key)");
  }
  return c;
}

Json ConstraintJson(const Constraint& c) {
  Json j = NewObject();
  cJSON_AddStringToObject(j.get(), "name", c.name.c_str());
  switch (c.kind) {
    case ConstraintKind::kUnique: {
      cJSON_AddStringToObject(j.get(), "type", "unique");
      cJSON* fields = cJSON_AddArrayToObject(j.get(), "fields");
      for (const auto& f : c.fields) cJSON_AddItemToArray(fields, cJSON_CreateString(f.c_str()));
      break;
    }
    case ConstraintKind::kNotNull:
      cJSON_AddStringToObject(j.get(), "type", "not_null");
      cJSON_AddStringToObject(j.get(), "field", c.fields[0].c_str());
      break;
    case ConstraintKind::kForeignKey:
      cJSON_AddStringToObject(j.get(), "type", "foreign_key");
      cJSON_AddStringToObject(j.get(), "field", c.fields[0].c_str());
      cJSON_AddStringToObject(j.get(), "target_entity", c.target_entity.c_str());
      cJSON_AddStringToObject(j.get(), "on_delete", c.on_delete == OnDelete::kCascade ? "cascade"
                                                   : c.on_delete == OnDelete::kSetNull ? "set_null" : "restrict");
      break;
  }
  return j;
}

Result<std::vector<std::string>> ParseIndexFields(const cJSON* payload) {
  if (Status s = OnlyKeys(payload, {"fields", "field"}, "index request"); !s.ok()) return s;
  std::vector<std::string> out;
  if (const cJSON* one = cJSON_GetObjectItemCaseSensitive(payload, "field"); cJSON_IsString(one)) out.push_back(one->valuestring);
  if (const cJSON* fields = cJSON_GetObjectItemCaseSensitive(payload, "fields")) {
    if (!cJSON_IsArray(fields)) return Status::BadRequest("index needs \"fields\" (an array of field names)");
    for (const cJSON* f = fields->child; f; f = f->next) {
      if (!cJSON_IsString(f) || f->valuestring[0] == '\0') return Status::BadRequest("index fields must be non-empty strings");
      out.push_back(f->valuestring);
    }
  }
  if (out.empty()) return Status::BadRequest("index needs \"fields\" (an array of field names)");
  for (const auto& f : out) {
    if (f[0] == '_' || f == "id" || f.find("..") != std::string::npos || f.front() == '.' || f.back() == '.') {
      return Status::BadRequest("cannot index field: " + f);
    }
  }
  return out;
}

Status Catalog::Load(const Store& store) {
  Status bad;
  auto fail = [&](std::string_view key) { bad = Status::Internal("corrupt definition " + std::string(key)); return false; };
  Status s = store.Scan(kSchemaPrefix, [&](std::string_view key, std::string_view value) {
    auto j = ParseStored(value);
    if (!j.ok()) return fail(key);
    auto schema = ParseSchema(j.value().get());
    if (!schema.ok()) return fail(key);
    schemas_[std::string(key.substr(kSchemaPrefix.size()))] = std::move(schema.value());
    return true;
  });
  if (s.ok() && bad.ok()) s = store.Scan(kConstraintPrefix, [&](std::string_view key, std::string_view value) {
    std::string rest(key.substr(kConstraintPrefix.size()));
    std::string entity = rest.substr(0, rest.find('/'));
    auto j = ParseStored(value);
    if (!j.ok()) return fail(key);
    cJSON_DeleteItemFromObjectCaseSensitive(j.value().get(), "name");
    auto c = ParseConstraint(entity, j.value().get());
    if (!c.ok()) return fail(key);
    constraints_[entity][c->name] = std::move(c.value());
    return true;
  });
  if (s.ok() && bad.ok()) s = store.Scan(kIndexPrefix, [&](std::string_view key, std::string_view value) {
    std::string entity(key.substr(kIndexPrefix.size()));
    auto j = ParseStored(value);
    if (!j.ok()) return fail(key);
    for (const cJSON* f = j.value()->child; f; f = f->next) {
      IndexDef def;
      def.field = f->string;
      def.path = SplitPath(def.field);
      def.ready = GetString(f, "state").value_or("") == "ready";
      def.cursor = GetString(f, "cursor").value_or("");
      indexes_[entity][def.field] = std::move(def);
    }
    return true;
  });
  if (!s.ok()) return s;
  return bad;
}

const Schema* Catalog::FindSchema(const std::string& entity) const {
  auto it = schemas_.find(entity);
  return it == schemas_.end() ? nullptr : &it->second;
}

std::vector<const Constraint*> Catalog::ConstraintsOf(const std::string& entity) const {
  std::vector<const Constraint*> out;
  auto it = constraints_.find(entity);
  if (it != constraints_.end()) for (const auto& [name, c] : it->second) out.push_back(&c);
  return out;
}

const Constraint* Catalog::FindConstraint(const std::string& entity, const std::string& name) const {
  auto it = constraints_.find(entity);
  if (it == constraints_.end()) return nullptr;
  auto c = it->second.find(name);
  return c == it->second.end() ? nullptr : &c->second;
}

std::vector<const Constraint*> Catalog::ForeignKeysTo(const std::string& target) const {
  std::vector<const Constraint*> out;
  for (const auto& [entity, byname] : constraints_) {
    for (const auto& [name, c] : byname) {
      if (c.kind == ConstraintKind::kForeignKey && c.target_entity == target) out.push_back(&c);
    }
  }
  return out;
}

const Constraint* Catalog::ForeignKeyOn(const std::string& entity, const std::string& field) const {
  return FindConstraint(entity, "fk_" + field);
}

std::vector<const IndexDef*> Catalog::IndexesOf(const std::string& entity) const {
  std::vector<const IndexDef*> out;
  auto it = indexes_.find(entity);
  if (it != indexes_.end()) for (const auto& [field, def] : it->second) out.push_back(&def);
  return out;
}

const IndexDef* Catalog::FindIndex(const std::string& entity, const std::string& field) const {
  auto it = indexes_.find(entity);
  if (it == indexes_.end()) return nullptr;
  auto d = it->second.find(field);
  return d == it->second.end() ? nullptr : &d->second;
}

const std::map<std::string, IndexDef>& Catalog::IndexMap(const std::string& entity) const {
  static const std::map<std::string, IndexDef> kEmpty;
  auto it = indexes_.find(entity);
  return it == indexes_.end() ? kEmpty : it->second;
}

std::vector<std::string> Catalog::DefinedEntities() const {
  std::set<std::string> all;
  for (const auto& [e, s] : schemas_) all.insert(e);
  for (const auto& [e, c] : constraints_) if (!c.empty()) all.insert(e);
  for (const auto& [e, i] : indexes_) if (!i.empty()) all.insert(e);
  return {all.begin(), all.end()};
}

std::vector<std::pair<std::string, std::string>> Catalog::Building() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [e, byfield] : indexes_) {
    for (const auto& [f, def] : byfield) if (!def.ready) out.emplace_back(e, f);
  }
  return out;
}

void Catalog::StageSchema(Batch& b, const std::string& entity, const Schema* schema) const {
  if (!schema) { b.Delete(kSchemaPrefix + entity); return; }
  Json j = SchemaJson("", *schema);
  b.Put(kSchemaPrefix + entity, Print(j.get()));
}

void Catalog::StageConstraint(Batch& b, const Constraint& c, bool remove) const {
  std::string key = kConstraintPrefix + c.entity + "/" + c.name;
  if (remove) b.Delete(key);
  else b.Put(key, Print(ConstraintJson(c).get()));
}

void Catalog::StageIndexes(Batch& b, const std::string& entity, const std::map<std::string, IndexDef>& indexes) const {
  if (indexes.empty()) { b.Delete(kIndexPrefix + entity); return; }
  Json j = NewObject();
  for (const auto& [field, def] : indexes) {
    cJSON* d = cJSON_AddObjectToObject(j.get(), field.c_str());
    cJSON_AddStringToObject(d, "state", def.ready ? "ready" : "building");
    cJSON_AddStringToObject(d, "cursor", def.cursor.c_str());
  }
  b.Put(kIndexPrefix + entity, Print(j.get()));
}

void Catalog::ApplySchema(const std::string& entity, const Schema* schema) {
  if (!schema) schemas_.erase(entity);
  else {
    Schema copy;
    copy.strict = schema->strict;
    for (const auto& f : schema->fields) {
      FieldSpec fs;
      fs.name = f.name;
      fs.type = f.type;
      fs.required = f.required;
      if (f.default_value) fs.default_value = Clone(f.default_value.get());
      copy.fields.push_back(std::move(fs));
    }
    schemas_[entity] = std::move(copy);
  }
}

void Catalog::ApplyConstraint(const Constraint& c, bool remove) {
  if (remove) constraints_[c.entity].erase(c.name);
  else constraints_[c.entity][c.name] = c;
}

void Catalog::ApplyIndexes(const std::string& entity, std::map<std::string, IndexDef> indexes) {
  if (indexes.empty()) indexes_.erase(entity);
  else indexes_[entity] = std::move(indexes);
}

}  // namespace mqdb
