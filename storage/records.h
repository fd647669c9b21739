// Records: executes the CRUD and query requests of PROTOCOL.md §2-3 against the Store, enforcing the
// Catalog's schemas and constraints and maintaining its indexes (§5).
//
// A write never commits by itself: it stages every key it changes (records, ttl index, secondary index
// entries, unique guards, cascaded children) into the caller's Batch and returns the list of Changes
// (one per affected record). The caller adds the outbox entry for those changes to the same Batch and
// commits once (outbox/outbox.h): a rejected request changes nothing, an accepted one changes
// everything it must, atomically. Reads made while staging see the batch's own earlier changes.
//
// Expired records (_expires_at <= now) are invisible: reads 404, lists skip them, a create may reuse
// the id (emitting the Delete of the expired record first).
#pragma once

#include <functional>
#include <cstdint>
#include <map>
#include <set>
#include <unordered_set>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "storage/function_ref.h"
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
  Json data;          // the record after the write; for a Delete, the record as it was
  std::string owner;  // owned entities: the record's owner (its events go to the owner's topics)
  std::string text;   // `data` as printed and stored, when the write printed it; empty: not printed yet
  std::string before_text;  // an Update: the record as stored before it (live queries: did it match?)
};

// Who asks. Ownership rules (PROTOCOL.md §7) apply to non-admins; the default is the system itself.
struct Principal {
  std::string username;  // empty: anonymous
  bool admin = true;
};

// entity -> owner field, from the `ownership` option.
using Ownership = std::map<std::string, std::string>;

struct Outcome {
  Json data;                    // `data` of the success response
  std::vector<Change> changes;  // empty for reads
};

// Bounded work per request (PROTOCOL.md §1): what one record and one response may weigh.
struct RecordLimits {
  size_t max_record_bytes = size_t{1} << 20;     // a record as stored, after an update's merge (413)
  size_t max_response_bytes = size_t{16} << 20;  // a list page (413 naming the limit)
};

constexpr int kMaxCascadeDepth = 16;
constexpr size_t kMaxCascadeRecords = 10000;

class Records {
 public:
  using Clock = std::function<int64_t()>;  // Unix milliseconds
  Records(Store& store, const Catalog& catalog, Clock now_ms, Ownership ownership = {});

  // At most this many records are examined by one list/count (index entries or a full scan): the
  // broker thread never spends unbounded time on one query. Beyond it: 400 naming the limit.
  void set_max_scan(int64_t n) { max_scan_ = n; }
  void set_limits(RecordLimits limits) { limits_ = limits; }

  // Owned entities: a create sets the owner field to the requester (anonymous: 401; naming another
  // owner: 403, unless admin); read/update/delete of another user's record is 403 (admins may);
  // the owner field cannot be changed by a non-admin; list and count see only the requester's records.
  // Takes the parsed payload over: its fields become the record's without a copy.
  Result<Outcome> Create(const std::string& entity, Json payload, Batch& batch, const Principal& who = {});
  Result<Outcome> Read(const std::string& entity, const std::string& id, const cJSON* payload, const Principal& who = {});
  // A read that sees `batch` (a transaction's get: the state its earlier ops left), whole record.
  Result<Outcome> ReadStaged(const std::string& entity, const std::string& id, const Batch& batch,
                             const Principal& who = {}) const;
  Result<Outcome> Update(const std::string& entity, const std::string& id, const cJSON* payload, Batch& batch,
                         const Principal& who = {});
  Result<Outcome> Delete(const std::string& entity, const std::string& id, const cJSON* payload, Batch& batch,
                         const Principal& who = {});
  Result<Outcome> List(const std::string& entity, const cJSON* payload, const Principal& who = {});
  Result<Outcome> Count(const std::string& entity, const cJSON* payload, const Principal& who = {});

  // Removes an expired record as a delete would (events, guards, indexes, on_delete rules). Not
  // found or not expired (renewed meanwhile): an empty Outcome.
  Result<Outcome> Expire(const std::string& entity, const std::string& id, Batch& batch);

  // The stored record (expired or not), nullptr when there is none; sees `batch` when given.
  // `text`, when given, receives the stored bytes.
  Result<Json> LoadRaw(const std::string& entity, const std::string& id, const Batch* batch,
                       std::string* text = nullptr) const;

  // Learns which entities may hold records with an expiry: those with an entry in the expiry index
  // (ttl/). Call once the store is open, and again after a restore replaced its contents; every write
  // that gives a record an expiry adds its entity too (StageChange). Reads of the other entities'
  // records skip the search for "_expires_at" in their stored text, which a list at offset 40 ran
  // over 50 records of 600 bytes. One scan of ttl/: it grows with the records that have an expiry.
  Status LoadExpiring();

  // Stages the change of one record from `before` to `after` (either may be null: create / delete)
  // with everything that follows: data key, ttl index, index entries, unique guards, record count.
  // Checks what `after` must satisfy: not-null, unique (409), foreign keys that changed (409).
  // `after_text`, when given, receives `after` as stored (printed once, reused for events and replies).
  Status StageChange(const std::string& entity, const std::string& id, const cJSON* before, const cJSON* after,
                     Batch& batch, std::string* after_text = nullptr) const;

 private:
  struct Cascade {
    std::set<std::string> visited;  // "entity/id" already deleted or updated in this batch
    std::vector<Change> changes;
  };
  // The fields of `record` that StageChange compares with a new version: those of constraints, the
  // first component of each index path, and _expires_at. An update keeps a copy of only these as its
  // "before" and merges the patch into the parsed record itself, instead of copying all of it.
  Json ComparedFields(const std::string& entity, const cJSON* record) const;
  // `text`, when given, receives the stored bytes of the record.
  Result<Json> LoadLive(const std::string& entity, const std::string& id, int64_t now, const Batch* batch,
                        std::string* text = nullptr) const;
  // `text`: the record's stored bytes when the caller has them (else the event prints `record`).
  Status StageDelete(const std::string& entity, const std::string& id, Json record, Batch& batch, Cascade& cascade,
                     int depth, int64_t now, std::string text = {}) const;
  // Ids of live records of `entity` whose `field` references `target_id` (through the index when ready).
  Result<std::vector<std::pair<std::string, Json>>> Referencing(const std::string& entity, const std::string& field,
                                                                const std::string& target_id, const Batch& batch,
                                                                int64_t now) const;
  // What Matching's visitor needs of each record besides its stored bytes.
  enum class Parsed {
    kNone,         // nothing: the Json may be null (or partial) where parsing was not needed to decide
    kQueryFields,  // the members the query filters, sorts, projects and includes on, id and
                   // _expires_at (the rest may be missing)
    kFull,         // the whole record
  };
  // Live records matching the query's filters, in id order (through an index when one applies), as
  // their stored bytes and parsed as `parsed` asks. `visit` is called only during Matching.
  Status Matching(const std::string& entity, const struct Query& q, int64_t now, Parsed parsed,
                  FunctionRef<bool(Json, std::string_view)> visit) const;
  // The id holding a unique guard (as this batch would leave it), nullopt when free.
  Result<std::optional<std::string>> GuardOwner(const std::string& key, const Batch& batch) const;
  Status CheckForeignKeys(const std::string& entity, const cJSON* before, const cJSON* after, const Batch& batch) const;
  // The owner field of an owned entity, nullptr otherwise.
  const std::string* OwnerField(const std::string& entity) const;
  std::string OwnerOf(const std::string& entity, const cJSON* record) const;
  // 403 unless `who` may touch `record` of `entity`.
  Status CheckOwner(const std::string& entity, const std::string& id, const cJSON* record, const Principal& who) const;
  // Adds the implicit "owner == requester" filter to a list/count for non-admins.
  Status ScopeToOwner(const std::string& entity, struct Query& q, const Principal& who) const;
  Status AddIncludes(const std::string& entity, const std::vector<std::string>& includes, cJSON* records) const;

  // False when no record of `entity` can carry an expiry (see LoadExpiring): its records' stored
  // text need not be searched for _expires_at.
  bool EntityMayExpire(const std::string& entity) const;

  Store& store_;
  const Catalog& catalog_;
  // Invariant: every entity with a record that has _expires_at is in here (a record with an expiry
  // always has its ttl/ entry, written in the same batch; StageChange adds the entity before
  // staging it). Entities are never removed while the process runs: a stale member only costs the
  // search. Mutable: StageChange is const for everything else.
  mutable std::unordered_set<std::string> expiring_entities_;
  // Whether the set is complete: only once LoadExpiring has scanned ttl/ (not before, not after a
  // failed scan). Until then every record whose text names _expires_at is checked, as it always was.
  bool expiring_known_ = false;
  Clock now_ms_;
  Ownership ownership_;
  int64_t max_scan_ = INT64_MAX;
  RecordLimits limits_;
};

// The referenced id held in a foreign-key field: strings as they are, integral numbers in decimal.
std::optional<std::string> ReferenceId(const cJSON* value);

}  // namespace mqdb
