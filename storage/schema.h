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

// Whether a field's schema default would pass its own type check, so that a schema whose default
// would turn every create that omits the field into a 400 is refused when it is set. 400 naming the
// field, the type and what the default is.
Status CheckDefault(const FieldSpec& field);

}  // namespace mqdb
