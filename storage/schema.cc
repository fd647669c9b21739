#include "storage/schema.h"

#include <cmath>

namespace mqdb {

namespace {

const char* TypeOf(const cJSON* v) {
  if (cJSON_IsNull(v)) return "null";
  if (cJSON_IsBool(v)) return "boolean";
  if (cJSON_IsNumber(v)) return AsInt64(v) ? "integer" : "number";
  if (cJSON_IsString(v)) return "string";
  if (cJSON_IsArray(v)) return "array";
  return "object";
}

bool HasType(const cJSON* v, FieldType t) {
  switch (t) {
    case FieldType::kString: return cJSON_IsString(v);
    case FieldType::kNumber: return cJSON_IsNumber(v);
    case FieldType::kInteger: return cJSON_IsNumber(v) && std::isfinite(v->valuedouble) && std::floor(v->valuedouble) == v->valuedouble;
    case FieldType::kBoolean: return cJSON_IsBool(v);
    case FieldType::kObject: return cJSON_IsObject(v);
    case FieldType::kArray: return cJSON_IsArray(v);
    case FieldType::kNull: return cJSON_IsNull(v);
  }
  return false;
}

}  // namespace

Status CheckDefault(const FieldSpec& f) {
  const cJSON* def = f.default_value.get();
  if (!def) return Status::Ok();
  if (cJSON_IsNull(def)) {
    if (f.required && f.type != FieldType::kNull) {
      return Status::BadRequest("schema field " + f.name + ": default null but the field is required");
    }
    return Status::Ok();
  }
  if (!HasType(def, f.type)) {
    return Status::BadRequest("schema field " + f.name + ": default must be " + FieldTypeName(f.type) + " (got " +
                              TypeOf(def) + ")");
  }
  return Status::Ok();
}

void ApplyDefaults(const Schema& schema, cJSON* record) {
  for (const auto& f : schema.fields) {
    if (f.default_value && !cJSON_GetObjectItemCaseSensitive(record, f.name.c_str())) {
      cJSON_AddItemToObject(record, f.name.c_str(), cJSON_Duplicate(f.default_value.get(), true));
    }
  }
}

Status ValidateAgainstSchema(const std::string& entity, const Schema& schema, const cJSON* record) {
  for (const auto& f : schema.fields) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(record, f.name.c_str());
    std::string what = "schema violation: " + entity + "." + f.name;
    if (!v || (cJSON_IsNull(v) && f.type != FieldType::kNull)) {
      if (f.required) return Status::BadRequest(what + " is required");
      continue;  // absent or null optional field
    }
    if (!HasType(v, f.type)) {
      return Status::BadRequest(what + " must be " + FieldTypeName(f.type) + " (got " + TypeOf(v) + ")");
    }
  }
  if (schema.strict) {
    for (const cJSON* c = record->child; c; c = c->next) {
      std::string_view k = c->string;
      if (k == "id" || k[0] == '_') continue;
      bool declared = false;
      for (const auto& f : schema.fields) declared |= f.name == k;
      if (!declared) {
        return Status::BadRequest("schema violation: " + entity + "." + std::string(k) + " is not in the schema (strict)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace mqdb
