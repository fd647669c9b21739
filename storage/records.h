// Records: executes the CRUD and query requests of PROTOCOL.md §2-3 against the Store.
//
// A write never commits by itself: it stages every key it changes (record, ttl index) into the
// caller's Batch and returns the list of Changes (one per affected record). The caller adds the
// outbox entry for those changes to the same Batch and commits once (outbox/outbox.h), which is what
// makes "data committed => its events are in the outbox" true by construction.
//
// A rejected request stages nothing: every check runs before the first Put.
// Expired records (_expires_at <= now) are invisible: reads 404, lists skip them, a create may reuse
// the id (emitting the Delete of the expired record first).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "storage/json.h"
#include "storage/status.h"
#include "storage/store.h"

namespace mqdb {

enum class ChangeKind { kCreate, kUpdate, kDelete };
const char* ChangeKindName(ChangeKind k);  // "Create", "Update", "Delete"

struct Change {
  ChangeKind kind;
  std::string entity;
  std::string id;
  Json data;  // the record after the write; for a Delete, the record as it was
};

struct Outcome {
  Json data;                    // `data` of the success response
  std::vector<Change> changes;  // empty for reads
};

class Records {
 public:
  using Clock = std::function<int64_t()>;  // Unix milliseconds
  Records(Store& store, Clock now_ms);

  Result<Outcome> Create(const std::string& entity, const cJSON* payload, Batch& batch);
  Result<Outcome> Read(const std::string& entity, const std::string& id, const cJSON* payload);
  Result<Outcome> Update(const std::string& entity, const std::string& id, const cJSON* payload, Batch& batch);
  Result<Outcome> Delete(const std::string& entity, const std::string& id, const cJSON* payload, Batch& batch);
  Result<Outcome> List(const std::string& entity, const cJSON* payload);
  Result<Outcome> Count(const std::string& entity, const cJSON* payload);

 private:
  // The live (stored and not expired) record, nullptr when there is none.
  Result<Json> Load(const std::string& entity, const std::string& id, int64_t now);
  void StageTtl(Batch& batch, const std::string& entity, const std::string& id, const cJSON* before,
                const cJSON* after);

  Store& store_;
  Clock now_ms_;
};

}  // namespace mqdb
