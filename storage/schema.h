// Schema rules (PROTOCOL.md §5): defaults on create, then type / required / strict checks on the whole
// record (for an update: the merged record). Violations are 400s that name the field and the reason.
// System fields (id, _version, …) are never checked against a schema.
#pragma once

#include <string>

#include "storage/catalog.h"

namespace mqdb {

// Adds each schema default the record lacks (an explicit null is kept: the client asked for null).
void ApplyDefaults(const Schema& schema, cJSON* record);

Status ValidateAgainstSchema(const std::string& entity, const Schema& schema, const cJSON* record);

}  // namespace mqdb
