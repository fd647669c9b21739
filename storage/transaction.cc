#include "storage/transaction.h"

#include <string>

#include "storage/names.h"

namespace mqdb {

namespace {

enum class TxOp { kCreate, kUpdate, kDelete, kGet };

// "op {i}: {message}", keeping the code: the client learns which op failed and why.
Status AtOp(size_t i, const Status& s) { return Status(s.code(), "op " + std::to_string(i) + ": " + s.message()); }

Result<TxOp> ParseOpName(const cJSON* op) {
  if (!cJSON_IsString(op)) return Status::BadRequest("needs \"op\": create, update, delete or get");
  const std::string_view name = op->valuestring;
  if (name == "create") return TxOp::kCreate;
  if (name == "update") return TxOp::kUpdate;
  if (name == "delete") return TxOp::kDelete;
  if (name == "get") return TxOp::kGet;
  return Status::BadRequest("unknown op: " + std::string(name) + " (use create, update, delete or get)");
}

// The payload the single request would carry: data, plus `_version` (update, delete) and `id`
// (create) given at the op's level.
Result<Json> SingleRequestBody(TxOp kind, const cJSON* op) {
  const cJSON* data = cJSON_GetObjectItemCaseSensitive(op, "data");
  const cJSON* version = cJSON_GetObjectItemCaseSensitive(op, "_version");
  const cJSON* id = cJSON_GetObjectItemCaseSensitive(op, "id");
  if ((kind == TxOp::kCreate || kind == TxOp::kUpdate) && !cJSON_IsObject(data)) {
    return Status::BadRequest("needs \"data\": an object");
  }
  if ((kind == TxOp::kDelete || kind == TxOp::kGet) && data) return Status::BadRequest("takes no \"data\"");
  if (kind == TxOp::kGet && version) return Status::BadRequest("takes no \"_version\"");
  if (kind == TxOp::kCreate && version) return Status::BadRequest("a create takes no \"_version\"");
  Json body = data ? Clone(data) : NewObject();
  if (!body) return Status::Internal("out of memory");
  if (version) {
    if (cJSON_GetObjectItemCaseSensitive(body.get(), "_version")) {
      return Status::BadRequest("\"_version\" given twice (in the op and in its data)");
    }
    cJSON_AddItemToObject(body.get(), "_version", cJSON_Duplicate(version, true));
  }
  if (kind == TxOp::kCreate && id) {
    if (cJSON_GetObjectItemCaseSensitive(body.get(), "id")) return Status::BadRequest("\"id\" given twice (in the op and in its data)");
    cJSON_AddItemToObject(body.get(), "id", cJSON_Duplicate(id, true));
  }
  return body;
}

}  // namespace

Result<Outcome> RunTransaction(Records& records, const cJSON* body, Batch& batch, const Principal& who) {
  for (const cJSON* c = body->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "ops" && k != "request_id") return Status::BadRequest("unknown field in transaction: " + std::string(k));
  }
  const cJSON* ops = cJSON_GetObjectItemCaseSensitive(body, "ops");
  if (!cJSON_IsArray(ops) || !ops->child) return Status::BadRequest("transaction needs \"ops\": a non-empty array");
  if (static_cast<size_t>(cJSON_GetArraySize(ops)) > kMaxTxOps) {
    return Status::BadRequest("too many ops in transaction (max " + std::to_string(kMaxTxOps) + ")");
  }
  Outcome out;
  out.data = NewArray();
  size_t i = 0;
  for (const cJSON* op = ops->child; op; op = op->next, ++i) {
    if (!cJSON_IsObject(op)) return AtOp(i, Status::BadRequest("must be an object"));
    for (const cJSON* c = op->child; c; c = c->next) {
      std::string_view k = c->string;
      if (k != "op" && k != "entity" && k != "id" && k != "data" && k != "_version") {
        return AtOp(i, Status::BadRequest("unknown key: " + std::string(k)));
      }
    }
    auto kind = ParseOpName(cJSON_GetObjectItemCaseSensitive(op, "op"));
    if (!kind.ok()) return AtOp(i, kind.status());
    const cJSON* entity = cJSON_GetObjectItemCaseSensitive(op, "entity");
    if (!cJSON_IsString(entity)) return AtOp(i, Status::BadRequest("needs \"entity\""));
    if (Status s = CheckEntityName(entity->valuestring); !s.ok()) return AtOp(i, s);
    const cJSON* id = cJSON_GetObjectItemCaseSensitive(op, "id");
    if (kind.value() != TxOp::kCreate) {
      if (!cJSON_IsString(id)) return AtOp(i, Status::BadRequest("needs \"id\" (a string)"));
      if (Status s = CheckId(id->valuestring); !s.ok()) return AtOp(i, s);
    }
    auto single = SingleRequestBody(kind.value(), op);
    if (!single.ok()) return AtOp(i, single.status());
    const std::string e = entity->valuestring;
    Result<Outcome> r = Status::Internal("unreachable");
    switch (kind.value()) {
      case TxOp::kCreate: r = records.Create(e, std::move(single.value()), batch, who); break;
      case TxOp::kUpdate: r = records.Update(e, id->valuestring, single.value().get(), batch, who); break;
      case TxOp::kDelete: r = records.Delete(e, id->valuestring, single.value().get(), batch, who); break;
      case TxOp::kGet: r = records.ReadStaged(e, id->valuestring, batch, who); break;
    }
    if (!r.ok()) return AtOp(i, r.status());
    cJSON_AddItemToArray(out.data.get(), r->data.release());
    for (auto& change : r->changes) out.changes.push_back(std::move(change));
  }
  return out;
}

}  // namespace mqdb
