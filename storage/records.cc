#include "storage/records.h"

#include <algorithm>
#include <limits>

#include "storage/index.h"
#include "storage/keys.h"
#include "storage/query.h"
#include "storage/record.h"
#include "storage/schema.h"
#include "storage/uuid.h"

namespace mqdb {

const char* ChangeKindName(ChangeKind k) {
  switch (k) {
    case ChangeKind::kCreate: return "Create";
    case ChangeKind::kUpdate: return "Update";
    case ChangeKind::kDelete: return "Delete";
  }
  return "?";
}

namespace {

std::string What(const std::string& entity, const std::string& id) { return entity + "/" + id; }

Status ResponseTooLarge(size_t limit) {
  return Status::TooLarge("response too large: the page would exceed " + std::to_string(limit) +
                          " bytes (max_response_bytes): lower limit or use a projection");
}

Status TooMuch(int64_t limit) {
  return Status::BadRequest("query examines more than " + std::to_string(limit) +
                            " records (max_scan): add an index on a filtered field or narrow the filters");
}

std::string JoinFields(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) out += (out.empty() ? "" : ",") + f;
  return out;
}

bool SameJson(const cJSON* a, const cJSON* b) {
  if (!a || !b) return !a && !b;
  return cJSON_Compare(a, b, true);
}

}  // namespace

namespace {

// Stored records are our own JSON. One without an expiry can be returned as stored text: no parse,
// no re-print (the common list/get). The substring test only errs towards parsing: a data field can
// never be named "_expires_at" (fields starting with _ are stripped), but a string value may contain
// the text, and then the record is simply parsed.
bool NamesExpiry(std::string_view stored) { return stored.find("\"_expires_at\"") != std::string_view::npos; }

// A page of a list whose records go out whole and in id order: their stored bytes as one raw JSON
// array. The same bytes as an array of raw items, without an item and a copy per record (records
// of one size, more than glibc's per-thread cache keeps, each took its allocator's slow path); and
// written where the reply's raw item keeps them (RawBuilder), without a copy of the page.
// Add() skips the first `offset` records, then returns false once the page holds `limit` (the caller
// stops its search there), or once the page would exceed `max_bytes` (too_large(): the request is a
// 413, and nothing more than max_bytes was ever allocated for it).
class Page {
 public:
  Page(int64_t offset, int64_t limit, size_t max_bytes) : offset_(offset), limit_(limit), max_bytes_(max_bytes) {}
  bool full() const { return taken_ >= limit_; }
  bool too_large() const { return too_large_; }
  bool Add(std::string_view record) {
    if (skipped_ < offset_) { ++skipped_; return true; }
    if (full()) return false;
    if (text_.size() + record.size() + 2 > max_bytes_) {
      too_large_ = true;
      return false;
    }
    if (taken_ > 0) {
      text_.Append(',');
    } else {
      text_.Reserve(std::min(2 + (record.size() + 1) * static_cast<size_t>(std::min<int64_t>(limit_, 100)), max_bytes_));
      text_.Append('[');
    }
    text_.Append(record);
    return ++taken_ < limit_;
  }
  Json Release() {
    text_.Append(taken_ > 0 ? "]" : "[]");
    return Json(text_.Release());
  }

 private:
  int64_t offset_, limit_, skipped_ = 0, taken_ = 0;
  size_t max_bytes_;
  bool too_large_ = false;
  RawBuilder text_;
};

}  // namespace

std::optional<std::string> ReferenceId(const cJSON* value) {
  if (cJSON_IsString(value)) return std::string(value->valuestring);
  if (auto n = AsInt64(value)) return std::to_string(*n);
  return std::nullopt;
}

Records::Records(Store& store, const Catalog& catalog, Clock now_ms, Ownership ownership)
    : store_(store), catalog_(catalog), now_ms_(std::move(now_ms)), ownership_(std::move(ownership)) {}

Status Records::LoadExpiring() {
  expiring_known_ = false;  // until the scan completes, every record may expire
  std::unordered_set<std::string> found;
  Status s = store_.Scan(keys::kTtlPrefix, [&](std::string_view key, std::string_view) {
    if (auto target = keys::ParseTtl(key)) found.emplace(target->entity);
    return true;
  });
  if (!s.ok()) return s;
  expiring_entities_ = std::move(found);
  expiring_known_ = true;
  return Status::Ok();
}

bool Records::EntityMayExpire(const std::string& entity) const {
  return !expiring_known_ || expiring_entities_.count(entity) != 0;
}

const std::string* Records::OwnerField(const std::string& entity) const {
  auto it = ownership_.find(entity);
  return it == ownership_.end() ? nullptr : &it->second;
}

std::string Records::OwnerOf(const std::string& entity, const cJSON* record) const {
  const std::string* field = OwnerField(entity);
  if (!field || !record) return "";
  return GetString(record, field->c_str()).value_or("");
}

Status Records::CheckOwner(const std::string& entity, const std::string& id, const cJSON* record,
                           const Principal& who) const {
  if (who.admin || !OwnerField(entity)) return Status::Ok();
  if (who.username.empty()) return Status(Status::kUnauthenticated, "unauthenticated: " + entity + " records are owned");
  if (OwnerOf(entity, record) != who.username) return Status::Forbidden("forbidden: " + What(entity, id) + " belongs to another user");
  return Status::Ok();
}

Status Records::ScopeToOwner(const std::string& entity, Query& q, const Principal& who) const {
  const std::string* field = OwnerField(entity);
  if (who.admin || !field) return Status::Ok();
  if (who.username.empty()) return Status(Status::kUnauthenticated, "unauthenticated: " + entity + " records are owned");
  Filter mine;
  mine.field = *field;
  mine.path = {*field};
  mine.op = FilterOp::kEq;
  mine.value = Json(cJSON_CreateString(who.username.c_str()));
  q.filters.insert(q.filters.begin(), std::move(mine));  // first: an index on the owner field drives the scan
  return Status::Ok();
}

Result<Json> Records::LoadRaw(const std::string& entity, const std::string& id, const Batch* batch,
                              std::string* text) const {
  std::string key = keys::Data(entity, id);
  std::optional<std::string> raw;
  if (auto staged = batch ? batch->Staged(key) : std::nullopt) {
    raw = *staged;
  } else {
    auto stored = store_.Get(key);
    if (!stored.ok()) return stored.status();
    raw = std::move(stored.value());
  }
  if (!raw) return Json();
  auto rec = ParseStored(*raw);
  if (!rec.ok()) return Status::Internal("corrupt record: " + What(entity, id));
  if (text) *text = std::move(*raw);
  return rec;
}

Result<Json> Records::LoadLive(const std::string& entity, const std::string& id, int64_t now, const Batch* batch,
                               std::string* text) const {
  auto rec = LoadRaw(entity, id, batch, text);
  if (rec.ok() && rec.value() && IsExpired(rec.value().get(), now)) return Json();
  return rec;
}

Json Records::ComparedFields(const std::string& entity, const cJSON* record) const {
  Json view = NewObject();
  auto keep = [&](const std::string& name) {
    if (cJSON_GetObjectItemCaseSensitive(view.get(), name.c_str())) return;
    if (const cJSON* v = cJSON_GetObjectItemCaseSensitive(record, name.c_str())) {
      cJSON_AddItemToObject(view.get(), name.c_str(), cJSON_Duplicate(v, true));
    }
  };
  for (const Constraint* c : catalog_.ConstraintsOf(entity)) {
    for (const auto& f : c->fields) keep(f);
  }
  for (const IndexDef* ix : catalog_.IndexesOf(entity)) {
    if (!ix->path.empty()) keep(ix->path.front());
  }
  keep("_expires_at");
  return view;
}

Status Records::CheckForeignKeys(const std::string& entity, const cJSON* before, const cJSON* after,
                                 const Batch& batch) const {
  for (const Constraint* c : catalog_.ConstraintsOf(entity)) {
    if (c->kind != ConstraintKind::kForeignKey) continue;
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(after, c->fields[0].c_str());
    if (!v || cJSON_IsNull(v)) continue;
    if (before && SameJson(v, cJSON_GetObjectItemCaseSensitive(before, c->fields[0].c_str()))) continue;
    auto ref = ReferenceId(v);
    std::string what = "foreign key violation: " + entity + "." + c->fields[0];
    if (!ref) return Status::Conflict(what + " must hold an id (string or integer)");
    auto target = LoadLive(c->target_entity, *ref, now_ms_(), &batch);
    if (!target.ok()) return target.status();
    if (!target.value()) return Status::Conflict(what + " references missing " + What(c->target_entity, *ref));
  }
  return Status::Ok();
}

Result<std::optional<std::string>> Records::GuardOwner(const std::string& key, const Batch& batch) const {
  if (auto staged = batch.Staged(key)) return *staged;
  return store_.Get(key);
}

Status Records::StageChange(const std::string& entity, const std::string& id, const cJSON* before, const cJSON* after,
                            Batch& batch, std::string* after_text) const {
  // Printed first: the size limit is checked on the record as it would be stored (after an update's
  // merge), before any guard or index is looked at.
  std::string text;
  if (after) {
    text = Print(after);
    if (text.size() > limits_.max_record_bytes) {
      return Status::TooLarge("record too large: " + What(entity, id) + " would be " + std::to_string(text.size()) +
                              " bytes (max_record_bytes " + std::to_string(limits_.max_record_bytes) + ")");
    }
  }
  for (const Constraint* c : catalog_.ConstraintsOf(entity)) {
    if (c->kind == ConstraintKind::kNotNull && after) {
      const cJSON* v = cJSON_GetObjectItemCaseSensitive(after, c->fields[0].c_str());
      if (!v || cJSON_IsNull(v)) return Status::Conflict("not null constraint violation: " + entity + "." + c->fields[0]);
    }
    if (c->kind != ConstraintKind::kUnique) continue;
    auto old_key = before ? UniqueKey(entity, c->name, c->fields, before) : std::nullopt;
    auto new_key = after ? UniqueKey(entity, c->name, c->fields, after) : std::nullopt;
    if (old_key == new_key) continue;
    if (old_key) {
      // Release the guard only if this record still owns it: a record that expired unswept may have
      // lost its value to a newer one already.
      auto owner = GuardOwner(*old_key, batch);
      if (!owner.ok()) return owner.status();
      if (owner.value() == id) batch.Delete(*old_key);
    }
    if (new_key) {
      auto guard = GuardOwner(*new_key, batch);
      if (!guard.ok()) return guard.status();
      const std::optional<std::string>& owner = guard.value();
      if (owner && *owner != id) {
        // The guard may belong to a record that expired but was not swept yet: then the value is free.
        auto holder = LoadLive(entity, *owner, now_ms_(), &batch);
        if (!holder.ok()) return holder.status();
        if (holder.value()) return Status::Conflict("unique constraint violation: " + entity + "." + JoinFields(c->fields));
      }
      batch.Put(*new_key, id);
    }
  }
  if (after) {
    if (Status s = CheckForeignKeys(entity, before, after, batch); !s.ok()) return s;
  }
  for (const IndexDef* ix : catalog_.IndexesOf(entity)) {
    auto old_key = before ? IndexKey(entity, ix->field, Lookup(before, ix->path), id) : std::nullopt;
    auto new_key = after ? IndexKey(entity, ix->field, Lookup(after, ix->path), id) : std::nullopt;
    if (old_key == new_key) continue;
    if (old_key) batch.Delete(*old_key);
    if (new_key) batch.Put(*new_key, "");
  }
  // Plain values with a sentinel for "no expiry": GCC 12 reports comparing the std::optionals as
  // maybe-uninitialized.
  constexpr int64_t kNever = std::numeric_limits<int64_t>::min();
  const int64_t old_at = before ? ExpiresAt(before).value_or(kNever) : kNever;
  const int64_t new_at = after ? ExpiresAt(after).value_or(kNever) : kNever;
  if (old_at != new_at) {
    if (old_at != kNever) batch.Delete(keys::Ttl(old_at, entity, id));
    if (new_at != kNever) {
      expiring_entities_.insert(entity);  // before the record can be read: see the invariant
      batch.Put(keys::Ttl(new_at, entity, id), "");
    }
  }
  if (after) {
    if (after_text) *after_text = text;
    batch.Put(keys::Data(entity, id), std::move(text));
  } else {
    batch.Delete(keys::Data(entity, id));
  }
  if (!before && after) batch.CountRecord(entity, 1);
  if (before && !after) batch.CountRecord(entity, -1);
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, Json>>> Records::Referencing(const std::string& entity,
                                                                       const std::string& field,
                                                                       const std::string& target_id,
                                                                       const Batch& batch, int64_t now) const {
  std::vector<std::string> candidates;
  const IndexDef* ix = catalog_.FindIndex(entity, field);
  Status s;
  if (ix && ix->ready) {
    Json as_string(cJSON_CreateString(target_id.c_str()));
    std::vector<const cJSON*> values = {as_string.get()};
    Json as_number;
    if (auto n = AsInt64(Json(cJSON_Parse(target_id.c_str())).get()); n && std::to_string(*n) == target_id) {
      as_number = Json(cJSON_CreateNumber(static_cast<double>(*n)));
      values.push_back(as_number.get());
    }
    const std::string prefix = IndexPrefix(entity, field);
    for (const cJSON* v : values) {
      std::string at = *IndexKey(entity, field, v, "");
      s = store_.Scan(at, [&](std::string_view key, std::string_view) {
        candidates.push_back(IdFromIndexKey(key, prefix.size()));
        return true;
      });
      if (!s.ok()) return s;
    }
  } else {
    const std::string prefix = keys::DataPrefix(entity);
    s = store_.Scan(prefix, [&](std::string_view key, std::string_view) {
      candidates.emplace_back(key.substr(prefix.size()));
      return true;
    });
    if (!s.ok()) return s;
  }
  // The store does not see this batch: re-read each candidate through it and re-check the reference.
  std::vector<std::pair<std::string, Json>> out;
  for (const auto& id : candidates) {
    auto rec = LoadLive(entity, id, now, &batch);
    if (!rec.ok()) return rec.status();
    if (!rec.value()) continue;
    auto ref = ReferenceId(cJSON_GetObjectItemCaseSensitive(rec.value().get(), field.c_str()));
    if (ref && *ref == target_id) out.emplace_back(id, std::move(rec.value()));
  }
  return out;
}

Status Records::StageDelete(const std::string& entity, const std::string& id, Json record, Batch& batch,
                            Cascade& cascade, int depth, int64_t now, std::string text) const {
  cascade.visited.insert(What(entity, id));
  if (cascade.visited.size() > kMaxCascadeRecords) {
    return Status::Conflict("cascade too large: more than " + std::to_string(kMaxCascadeRecords) + " records");
  }
  // Remove the record first, so a reference cycle back to it finds nothing left to do.
  if (Status s = StageChange(entity, id, record.get(), nullptr, batch); !s.ok()) return s;
  std::string owner = OwnerOf(entity, record.get());
  cascade.changes.push_back({ChangeKind::kDelete, entity, id, std::move(record), std::move(owner), std::move(text)});
  for (const Constraint* fk : catalog_.ForeignKeysTo(entity)) {
    auto children = Referencing(fk->entity, fk->fields[0], id, batch, now);
    if (!children.ok()) return children.status();
    for (auto& [child_id, child] : children.value()) {
      if (cascade.visited.count(What(fk->entity, child_id))) continue;
      switch (fk->on_delete) {
        case OnDelete::kRestrict:
          return Status::Conflict("foreign key restrict: " + What(entity, id) + " is referenced by " +
                                  What(fk->entity, child_id) + " (" + fk->entity + "." + fk->fields[0] + ")");
        case OnDelete::kCascade:
          if (depth + 1 > kMaxCascadeDepth) {
            return Status::Conflict("cascade depth limit (" + std::to_string(kMaxCascadeDepth) + ") exceeded at " +
                                    What(fk->entity, child_id));
          }
          if (Status s = StageDelete(fk->entity, child_id, std::move(child), batch, cascade, depth + 1, now); !s.ok()) {
            return s;
          }
          break;
        case OnDelete::kSetNull: {
          cascade.visited.insert(What(fk->entity, child_id));
          UpdateSpec spec;
          spec.fields = NewObject();
          cJSON_AddNullToObject(spec.fields.get(), fk->fields[0].c_str());
          Json updated = ApplyUpdate(child.get(), spec, now);
          if (const Schema* schema = catalog_.FindSchema(fk->entity)) {
            if (Status s = ValidateAgainstSchema(fk->entity, *schema, updated.get()); !s.ok()) {
              return Status::Conflict("set_null on " + What(fk->entity, child_id) + ": " + s.message());
            }
          }
          std::string text;
          if (Status s = StageChange(fk->entity, child_id, child.get(), updated.get(), batch, &text); !s.ok()) return s;
          std::string owner = OwnerOf(fk->entity, updated.get());
          // The child as it was goes with the change (live queries decide enter/stay/leave from it).
          cascade.changes.push_back({ChangeKind::kUpdate, fk->entity, child_id, std::move(updated), std::move(owner),
                                     std::move(text), Print(child.get())});
          break;
        }
      }
    }
  }
  return Status::Ok();
}

Result<Outcome> Records::Create(const std::string& entity, Json payload, Batch& batch, const Principal& who) {
  auto parsed = ParseCreate(std::move(payload));
  if (!parsed.ok()) return parsed.status();
  if (const std::string* field = OwnerField(entity)) {
    const cJSON* given = cJSON_GetObjectItemCaseSensitive(parsed->record.get(), field->c_str());
    if (!who.admin || !given) {
      if (who.username.empty()) return Status(Status::kUnauthenticated, "unauthenticated: " + entity + " records are owned");
      if (given && !(cJSON_IsString(given) && who.username == given->valuestring)) {
        return Status::Forbidden("forbidden: cannot create " + entity + " records owned by another user");
      }
      if (who.username.find_first_of("/+#") != std::string::npos) {
        return Status::BadRequest("user name cannot own records (contains / + or #)");
      }
      SetField(parsed->record.get(), field->c_str(), cJSON_CreateString(who.username.c_str()));
    } else if (!cJSON_IsString(given) || given->valuestring[0] == '\0' ||
               std::string_view(given->valuestring).find_first_of("/+#") != std::string_view::npos) {
      return Status::BadRequest(entity + "." + *field + " must be a user name");
    }
  }
  int64_t now = now_ms_();
  const bool generated = parsed->id.empty();
  std::string id = generated ? NewUuidV7() : parsed->id;
  // A generated id is new by construction (time-ordered, 62 random bits): only a client's id can exist.
  Result<Json> existing = generated ? Result<Json>(Json()) : LoadRaw(entity, id, &batch);
  if (!existing.ok()) return existing.status();
  Outcome out;
  Json before;
  if (existing.value()) {
    if (!IsExpired(existing.value().get(), now)) return Status::Conflict("already exists: " + What(entity, id));
    // The id is free again, but its expired record was never swept: retire it in this same batch
    // (with its on_delete rules) so subscribers see its Delete before the new Create.
    Cascade cascade;
    if (Status s = StageDelete(entity, id, std::move(existing.value()), batch, cascade, 0, now); !s.ok()) return s;
    out.changes = std::move(cascade.changes);
  }
  const Schema* schema = catalog_.FindSchema(entity);
  if (schema) ApplyDefaults(*schema, parsed->record.get());
  Json rec = FinishCreate(std::move(parsed.value()), id, now);
  if (schema) {
    if (Status s = ValidateAgainstSchema(entity, *schema, rec.get()); !s.ok()) return s;
  }
  std::string text;
  if (Status s = StageChange(entity, id, nullptr, rec.get(), batch, &text); !s.ok()) return s;
  out.data = Json(cJSON_CreateRaw(text.c_str()));  // the reply is the stored text: printed once
  std::string owner = OwnerOf(entity, rec.get());
  out.changes.push_back({ChangeKind::kCreate, entity, id, std::move(rec), std::move(owner), std::move(text)});
  return out;
}

Result<Outcome> Records::Read(const std::string& entity, const std::string& id, const cJSON* payload,
                              const Principal& who) {
  auto projection = ParseReadProjection(payload);
  if (!projection.ok()) return projection.status();
  if (projection->empty() && !OwnerField(entity)) {
    auto raw = store_.Get(keys::Data(entity, id));
    if (!raw.ok()) return raw.status();
    if (raw.value() && !(EntityMayExpire(entity) && NamesExpiry(*raw.value()))) {
      Outcome out;
      out.data = Json(cJSON_CreateRaw(raw.value()->c_str()));
      return out;
    }
  }
  auto rec = LoadLive(entity, id, now_ms_(), nullptr);
  if (!rec.ok()) return rec.status();
  if (!rec.value()) return Status::NotFound("not found: " + What(entity, id));
  if (Status s = CheckOwner(entity, id, rec.value().get(), who); !s.ok()) return s;
  Outcome out;
  out.data = projection->empty() ? std::move(rec.value()) : Project(rec.value().get(), projection.value());
  return out;
}

Result<Outcome> Records::ReadStaged(const std::string& entity, const std::string& id, const Batch& batch,
                                    const Principal& who) const {
  auto rec = LoadLive(entity, id, now_ms_(), &batch);
  if (!rec.ok()) return rec.status();
  if (!rec.value()) return Status::NotFound("not found: " + What(entity, id));
  if (Status s = CheckOwner(entity, id, rec.value().get(), who); !s.ok()) return s;
  Outcome out;
  out.data = std::move(rec.value());
  return out;
}

Result<Outcome> Records::Update(const std::string& entity, const std::string& id, const cJSON* payload,
                                Batch& batch, const Principal& who) {
  auto spec = ParseUpdate(payload, id);
  if (!spec.ok()) return spec.status();
  int64_t now = now_ms_();
  std::string before_text;
  auto cur = LoadLive(entity, id, now, &batch, &before_text);
  if (!cur.ok()) return cur.status();
  if (!cur.value()) return Status::NotFound("not found: " + What(entity, id));
  if (Status s = CheckOwner(entity, id, cur.value().get(), who); !s.ok()) return s;
  if (const std::string* field = OwnerField(entity); field && !who.admin) {
    const cJSON* to = cJSON_GetObjectItemCaseSensitive(spec->fields.get(), field->c_str());
    if (to && !(cJSON_IsString(to) && who.username == to->valuestring)) {
      return Status::Forbidden("forbidden: the owner of " + What(entity, id) + " cannot be changed");
    }
  }
  if (Status s = CheckVersion(cur.value().get(), spec->expected_version, What(entity, id)); !s.ok()) return s;
  const Json before = ComparedFields(entity, cur.value().get());
  Json rec = std::move(cur.value());
  ApplyUpdateInPlace(rec.get(), spec.value(), now);
  if (const Schema* schema = catalog_.FindSchema(entity)) {
    if (Status s = ValidateAgainstSchema(entity, *schema, rec.get()); !s.ok()) return s;
  }
  std::string text;
  if (Status s = StageChange(entity, id, before.get(), rec.get(), batch, &text); !s.ok()) return s;
  Outcome out;
  out.data = Json(cJSON_CreateRaw(text.c_str()));  // the reply is the stored text: printed once
  std::string owner = OwnerOf(entity, rec.get());
  out.changes.push_back({ChangeKind::kUpdate, entity, id, std::move(rec), std::move(owner), std::move(text),
                         std::move(before_text)});
  return out;
}

Result<Outcome> Records::Delete(const std::string& entity, const std::string& id, const cJSON* payload,
                                Batch& batch, const Principal& who) {
  auto expected = ParseDelete(payload);
  if (!expected.ok()) return expected.status();
  int64_t now = now_ms_();
  std::string text;  // the stored bytes: the Delete event carries them without printing the record again
  auto cur = LoadLive(entity, id, now, &batch, &text);
  if (!cur.ok()) return cur.status();
  if (!cur.value()) return Status::NotFound("not found: " + What(entity, id));
  if (Status s = CheckOwner(entity, id, cur.value().get(), who); !s.ok()) return s;
  if (Status s = CheckVersion(cur.value().get(), expected.value(), What(entity, id)); !s.ok()) return s;
  Cascade cascade;
  if (Status s = StageDelete(entity, id, std::move(cur.value()), batch, cascade, 0, now, std::move(text)); !s.ok()) {
    return s;
  }
  Outcome out;
  out.data = NewObject();
  cJSON_AddStringToObject(out.data.get(), "id", id.c_str());
  cJSON_AddTrueToObject(out.data.get(), "deleted");
  out.changes = std::move(cascade.changes);
  return out;
}

Result<Outcome> Records::Expire(const std::string& entity, const std::string& id, Batch& batch) {
  int64_t now = now_ms_();
  auto rec = LoadRaw(entity, id, &batch);
  if (!rec.ok()) return rec.status();
  Outcome out;
  if (!rec.value() || !IsExpired(rec.value().get(), now)) return out;
  Cascade cascade;
  if (Status s = StageDelete(entity, id, std::move(rec.value()), batch, cascade, 0, now); !s.ok()) return s;
  out.changes = std::move(cascade.changes);
  return out;
}

Status Records::Matching(const std::string& entity, const Query& q, int64_t now, Parsed parsed,
                         FunctionRef<bool(Json, std::string_view)> visit) const {
  const bool need_parsed = parsed != Parsed::kNone;
  // Planner: the first filter an index can answer drives the scan; every filter is still applied.
  for (const auto& f : q.filters) {
    const IndexDef* ix = catalog_.FindIndex(entity, f.field);
    if (!ix || !ix->ready) continue;
    auto ranges = IndexRanges(entity, f);
    if (!ranges) continue;
    const std::string prefix = IndexPrefix(entity, f.field);
    std::vector<std::string> ids;
    ids.reserve(16);  // a typical page's worth without regrowing (each growth is a slow allocation at 1M)
    for (const auto& r : *ranges) {
      Status s = store_.Scan(prefix, [&](std::string_view key, std::string_view) {
        if (key >= r.end) return false;
        ids.push_back(IdFromIndexKey(key, prefix.size()));
        return true;
      }, r.begin);
      if (!s.ok()) return s;
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (static_cast<int64_t>(ids.size()) > max_scan_) return TooMuch(max_scan_);
    // One equality filter answered by its index is exact (same encoding, same semantics: query.h):
    // records that cannot have expired then need no parsing when the caller wants only their bytes.
    const bool exact = q.filters.size() == 1 && (f.op == FilterOp::kEq || f.op == FilterOp::kIn);
    std::string text;
    if (exact && !need_parsed) {
      const bool may_expire = EntityMayExpire(entity);
      // Read in groups with one MultiGet each: a page of a list is usually decided by the first group.
      // The group's keys share one buffer, and the records are visited where the block cache holds
      // them: no heap block per key or per record (Store::MultiGet).
      constexpr size_t kGroup = 16;
      const std::string data_prefix = keys::DataPrefix(entity);
      std::string key_bytes;
      std::vector<std::string_view> group_keys;
      group_keys.reserve(kGroup);
      for (size_t at = 0; at < ids.size(); at += kGroup) {
        const size_t n = std::min(ids.size() - at, kGroup);
        size_t bytes = 0;
        for (size_t i = at; i < at + n; ++i) bytes += data_prefix.size() + ids[i].size();
        key_bytes.clear();
        key_bytes.reserve(bytes);  // no reallocation below, so the views stay valid
        group_keys.clear();
        for (size_t i = at; i < at + n; ++i) {
          const size_t begin = key_bytes.size();
          key_bytes += data_prefix;
          key_bytes += ids[i];
          group_keys.emplace_back(key_bytes.data() + begin, key_bytes.size() - begin);
        }
        Status bad;
        bool stop = false;
        Status s = store_.MultiGet(group_keys, [&](size_t i, std::optional<std::string_view> raw) {
          if (!raw) return true;
          if (may_expire && NamesExpiry(*raw)) {
            auto rec = ParseStored(*raw);
            if (!rec.ok()) { bad = Status::Internal("corrupt record: " + What(entity, ids[at + i])); return false; }
            if (IsExpired(rec.value().get(), now)) return true;
          }
          stop = !visit(Json(), *raw);
          return !stop;
        });
        if (!s.ok()) return s;
        if (!bad.ok()) return bad;
        if (stop) return Status::Ok();
      }
      return Status::Ok();
    }
    for (const auto& id : ids) {
      auto rec = LoadLive(entity, id, now, nullptr, &text);
      if (!rec.ok()) return rec.status();
      if (!rec.value() || !Matches(q.filters, rec.value().get())) continue;
      if (!visit(std::move(rec.value()), text)) break;
    }
    return Status::Ok();
  }
  Status corrupt;
  int64_t examined = 0;
  // A full scan parses every record to test it: unless the visitor wants whole records, only the
  // members the query reads (and _expires_at, id) are built.
  std::vector<std::string_view> fields;
  std::vector<std::string> include_fields;  // "{name}_id" of each include
  if (parsed != Parsed::kFull) {
    fields = {"id", "_expires_at"};
    for (const auto& f : q.filters) fields.push_back(f.path[0]);
    for (const auto& k : q.sort) fields.push_back(k.path[0]);
    if (q.projection) {
      for (const auto& p : *q.projection) fields.push_back(std::string_view(p).substr(0, p.find('.')));
    }
    for (const auto& name : q.includes) include_fields.push_back(name + "_id");
    for (const auto& f : include_fields) fields.push_back(f);
  }
  Status s = store_.Scan(keys::DataPrefix(entity), [&](std::string_view, std::string_view value) {
    if (++examined > max_scan_) { corrupt = TooMuch(max_scan_); return false; }
    auto rec = parsed == Parsed::kFull ? ParseStored(value) : ParseStoredFields(value, fields);
    if (!rec.ok()) { corrupt = rec.status(); return false; }
    if (IsExpired(rec.value().get(), now) || !Matches(q.filters, rec.value().get())) return true;
    return visit(std::move(rec.value()), value);
  });
  if (!s.ok()) return s;
  return corrupt;
}

Status Records::AddIncludes(const std::string& entity, const std::vector<std::string>& includes, cJSON* records) const {
  int64_t now = now_ms_();
  for (const auto& name : includes) {
    const Constraint* fk = catalog_.ForeignKeyOn(entity, name + "_id");
    for (cJSON* r = records->child; r; r = r->next) {
      auto ref = ReferenceId(cJSON_GetObjectItemCaseSensitive(r, (name + "_id").c_str()));
      Json target;
      if (ref) {
        auto t = LoadLive(fk->target_entity, *ref, now, nullptr);
        if (!t.ok()) return t.status();
        target = std::move(t.value());
      }
      SetField(r, name.c_str(), target ? target.release() : cJSON_CreateNull());
    }
  }
  return Status::Ok();
}

Result<Outcome> Records::List(const std::string& entity, const cJSON* payload, const Principal& who) {
  auto q = ParseQuery(payload, QueryKind::kList);
  if (!q.ok()) return q.status();
  if (Status s = ScopeToOwner(entity, q.value(), who); !s.ok()) return s;
  for (const auto& name : q->includes) {
    if (!catalog_.ForeignKeyOn(entity, name + "_id")) {
      return Status::BadRequest("unknown include: " + name + " (" + entity + " has no foreign key " + name + "_id)");
    }
  }
  if (q->filters.empty() && q->sort.empty() && !q->projection && q->includes.empty() && !OwnerField(entity)) {
    // The plain page in id order: stored text goes straight into the response (Page).
    const int64_t now = now_ms_();
    const bool may_expire = EntityMayExpire(entity);
    Page page(q->offset, q->limit, limits_.max_response_bytes);
    Status bad;
    Status s = store_.Scan(keys::DataPrefix(entity), [&](std::string_view, std::string_view value) {
      if (page.full()) return false;  // limit 0
      if (may_expire && NamesExpiry(value)) {
        auto rec = ParseStored(value);
        if (!rec.ok()) { bad = rec.status(); return false; }
        if (IsExpired(rec.value().get(), now)) return true;
      }
      return page.Add(value);  // stops once the page is full, without reading the next record
    });
    if (!s.ok()) return s;
    if (!bad.ok()) return bad;
    if (page.too_large()) return ResponseTooLarge(limits_.max_response_bytes);
    Outcome out;
    out.data = page.Release();
    return out;
  }
  const bool sorted = !q->sort.empty();
  // Records that go out whole are sent as their stored bytes (raw items): not printed again.
  const bool whole = !q->projection && q->includes.empty();
  if (whole && !sorted) {
    // Matches arrive in id order, which is already the required order: the page is their stored
    // bytes (Page), and the search stops once it is full.
    Page page(q->offset, q->limit, limits_.max_response_bytes);
    Status s = Matching(entity, q.value(), now_ms_(), Parsed::kNone,
                        [&](Json, std::string_view text) { return page.Add(text); });
    if (!s.ok()) return s;
    if (page.too_large()) return ResponseTooLarge(limits_.max_response_bytes);
    Outcome out;
    out.data = page.Release();
    return out;
  }
  const size_t want = static_cast<size_t>(q->offset + q->limit);
  const bool needs_whole = !q->projection && !q->includes.empty();  // whole parsed records, includes nested
  size_t skipped = 0, page_bytes = 0;
  bool too_large = false;
  std::vector<Json> hits;
  size_t begin = 0, end = 0;
  if (sorted) {
    // Each match's sort values are looked up once (not at every comparison), the positions are
    // sorted instead of the records, and whole records go out as their stored bytes rather than
    // printed again: a sorted page of 10,000 records took 102 ms of broker thread before, most of it
    // in comparisons' lookups and in printing 6 MB from parsed trees.
    struct Hit {
      Json rec;
      size_t text_at, text_size;  // the stored bytes in `texts`, for whole records only
      std::vector<const cJSON*> keys;
    };
    std::vector<Hit> matched;
    std::string texts;  // every match's stored bytes, back to back: one buffer, not one per record
    // Whole records go out as stored bytes, projected ones keep only their fields: only what the
    // query reads need be parsed. Includes without a projection return whole records.
    Status s = Matching(entity, q.value(), now_ms_(), needs_whole ? Parsed::kFull : Parsed::kQueryFields,
                        [&](Json rec, std::string_view text) {
      Hit h{std::move(rec), texts.size(), whole ? text.size() : 0, {}};
      if (whole) texts.append(text);
      h.keys = SortValues(q->sort, h.rec.get());
      matched.push_back(std::move(h));
      return true;
    });
    if (!s.ok()) return s;
    std::vector<size_t> order(matched.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    const size_t upto = std::min(want, matched.size());
    auto before = [&](size_t x, size_t y) { return SortValuesBefore(q->sort, matched[x].keys, matched[y].keys); };
    if (upto * 2 >= order.size()) {
      std::sort(order.begin(), order.end(), before);  // most of them wanted: a full sort beats heap selection
    } else {
      std::partial_sort(order.begin(), order.begin() + static_cast<long>(upto), order.end(), before);
    }
    begin = std::min(static_cast<size_t>(q->offset), upto);
    end = upto;
    if (whole) {
      Page page(0, static_cast<int64_t>(end - begin), limits_.max_response_bytes);
      for (size_t i = begin; i < end; ++i) {
        const Hit& h = matched[order[i]];
        if (!page.Add(std::string_view(texts).substr(h.text_at, h.text_size))) break;  // full, or too large
      }
      if (page.too_large()) return ResponseTooLarge(limits_.max_response_bytes);
      Outcome out;
      out.data = page.Release();
      return out;
    }
    for (size_t i = begin; i < end; ++i) hits.push_back(std::move(matched[order[i]].rec));
    begin = 0;
    end = hits.size();
  } else {
    Status s = Matching(entity, q.value(), now_ms_(), needs_whole ? Parsed::kFull : Parsed::kQueryFields,
                        [&](Json rec, std::string_view text) {
      // Matches arrive in id order, which is already the required order: stop early.
      if (skipped < static_cast<size_t>(q->offset)) { ++skipped; return true; }
      if (q->limit == 0) return false;
      // Whole records go out at their stored size: stop as soon as the page is over the limit.
      if (whole && (page_bytes += text.size() + 1) > limits_.max_response_bytes) { too_large = true; return false; }
      hits.push_back(std::move(rec));
      return hits.size() < static_cast<size_t>(q->limit);
    });
    if (!s.ok()) return s;
    if (too_large) return ResponseTooLarge(limits_.max_response_bytes);
    end = hits.size();
  }
  Outcome out;
  out.data = NewArray();
  if (q->limit == 0) return out;
  for (size_t i = begin; i < end; ++i) cJSON_AddItemToArray(out.data.get(), hits[i].release());
  // Includes read the full records' reference fields, so they come before the projection, which
  // then keeps the included names.
  if (Status st = AddIncludes(entity, q->includes, out.data.get()); !st.ok()) return st;
  if (q->projection) {
    std::vector<std::string> keep = *q->projection;
    keep.insert(keep.end(), q->includes.begin(), q->includes.end());
    Json projected = NewArray();
    for (const cJSON* r = out.data->child; r; r = r->next) cJSON_AddItemToArray(projected.get(), Project(r, keep).release());
    out.data = std::move(projected);
  }
  // Sorted pages, includes and projections are built from parsed records (which the query holds
  // anyway): measured once built, and dropped whole when over the limit.
  if (PrintedSizeHint(out.data.get()) > limits_.max_response_bytes) return ResponseTooLarge(limits_.max_response_bytes);
  return out;
}

Result<Outcome> Records::Count(const std::string& entity, const cJSON* payload, const Principal& who) {
  auto q = ParseQuery(payload, QueryKind::kCount);
  if (!q.ok()) return q.status();
  if (Status s = ScopeToOwner(entity, q.value(), who); !s.ok()) return s;
  double count = 0;
  Status s = Matching(entity, q.value(), now_ms_(), Parsed::kNone, [&](Json, std::string_view) { ++count; return true; });
  if (!s.ok()) return s;
  Outcome out;
  out.data = NewObject();
  cJSON_AddNumberToObject(out.data.get(), "count", count);
  return out;
}

}  // namespace mqdb
