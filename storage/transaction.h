// Multi-record transactions (PROTOCOL.md §6b, `$DB/_tx`): up to kMaxTxOps create, update, delete and
// get operations, all or nothing.
//
// Every op is validated and executed against the state the ops before it left, by staging into one
// Batch (Records' writes already read their own batch: existence, versions, unique guards, foreign
// keys and cascades all see the earlier ops). The caller commits the batch once, with the outbox
// entry of all the changes in op order and one operation_id, or, on the first failing op, drops it:
// then nothing was written and the error names the op ("op 2: version conflict: …").
// Access rules per op are those of the single request (ownership through `who`).
#pragma once

#include "storage/records.h"

namespace mqdb {

constexpr size_t kMaxTxOps = 100;

// `body` is the request payload: {"ops":[{"op":"create"|"update"|"delete"|"get","entity":…,"id":…,
// "data":{…},"_version":N},…]}. On success: data = the ops' results in order (a create's or update's
// record, a delete's {"id","deleted"}, a get's record), changes = every affected record in op order.
Result<Outcome> RunTransaction(Records& records, const cJSON* body, Batch& batch, const Principal& who);

}  // namespace mqdb
