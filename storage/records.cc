#include "storage/records.h"

#include <algorithm>

#include "storage/keys.h"
#include "storage/query.h"
#include "storage/record.h"
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
}  // namespace

Records::Records(Store& store, Clock now_ms) : store_(store), now_ms_(std::move(now_ms)) {}

Result<Json> Records::Load(const std::string& entity, const std::string& id, int64_t now) {
  auto raw = store_.Get(keys::Data(entity, id));
  if (!raw.ok()) return raw.status();
  if (!raw.value()) return Json();
  auto rec = ParseStored(*raw.value());
  if (!rec.ok()) return Status::Internal("corrupt record: " + What(entity, id));
  return rec;
}

void Records::StageTtl(Batch& batch, const std::string& entity, const std::string& id, const cJSON* before,
                       const cJSON* after) {
  auto old_at = before ? ExpiresAt(before) : std::nullopt;
  auto new_at = after ? ExpiresAt(after) : std::nullopt;
  if (old_at == new_at) return;
  if (old_at) batch.Delete(keys::Ttl(*old_at, entity, id));
  if (new_at) batch.Put(keys::Ttl(*new_at, entity, id), "");
}

Result<Outcome> Records::Create(const std::string& entity, const cJSON* payload, Batch& batch) {
  auto parsed = ParseCreate(payload);
  if (!parsed.ok()) return parsed.status();
  int64_t now = now_ms_();
  std::string id = parsed->id.empty() ? NewUuidV7() : parsed->id;
  auto existing = Load(entity, id, now);
  if (!existing.ok()) return existing.status();
  Outcome out;
  if (existing.value()) {
    if (!IsExpired(existing.value().get(), now)) return Status::Conflict("already exists: " + What(entity, id));
    // The id is free again, but its expired record was never swept: retire it in this same batch so
    // subscribers see its Delete before the new Create, and the ttl index forgets it.
    StageTtl(batch, entity, id, existing.value().get(), nullptr);
    batch.CountRecord(entity, -1);
    out.changes.push_back({ChangeKind::kDelete, entity, id, std::move(existing.value())});
  }
  Json rec = FinishCreate(std::move(parsed.value()), id, now);
  batch.Put(keys::Data(entity, id), Print(rec.get()));
  StageTtl(batch, entity, id, nullptr, rec.get());
  batch.CountRecord(entity, 1);
  out.data = Clone(rec.get());
  out.changes.push_back({ChangeKind::kCreate, entity, id, std::move(rec)});
  return out;
}

Result<Outcome> Records::Read(const std::string& entity, const std::string& id, const cJSON* payload) {
  auto projection = ParseReadProjection(payload);
  if (!projection.ok()) return projection.status();
  int64_t now = now_ms_();
  auto rec = Load(entity, id, now);
  if (!rec.ok()) return rec.status();
  if (!rec.value() || IsExpired(rec.value().get(), now)) return Status::NotFound("not found: " + What(entity, id));
  Outcome out;
  out.data = projection->empty() ? std::move(rec.value()) : Project(rec.value().get(), projection.value());
  return out;
}

Result<Outcome> Records::Update(const std::string& entity, const std::string& id, const cJSON* payload,
                                Batch& batch) {
  auto spec = ParseUpdate(payload, id);
  if (!spec.ok()) return spec.status();
  int64_t now = now_ms_();
  auto cur = Load(entity, id, now);
  if (!cur.ok()) return cur.status();
  if (!cur.value() || IsExpired(cur.value().get(), now)) return Status::NotFound("not found: " + What(entity, id));
  if (Status s = CheckVersion(cur.value().get(), spec->expected_version, What(entity, id)); !s.ok()) return s;
  Json rec = ApplyUpdate(cur.value().get(), spec.value(), now);
  batch.Put(keys::Data(entity, id), Print(rec.get()));
  StageTtl(batch, entity, id, cur.value().get(), rec.get());
  Outcome out;
  out.data = Clone(rec.get());
  out.changes.push_back({ChangeKind::kUpdate, entity, id, std::move(rec)});
  return out;
}

Result<Outcome> Records::Delete(const std::string& entity, const std::string& id, const cJSON* payload,
                                Batch& batch) {
  auto expected = ParseDelete(payload);
  if (!expected.ok()) return expected.status();
  int64_t now = now_ms_();
  auto cur = Load(entity, id, now);
  if (!cur.ok()) return cur.status();
  if (!cur.value() || IsExpired(cur.value().get(), now)) return Status::NotFound("not found: " + What(entity, id));
  if (Status s = CheckVersion(cur.value().get(), expected.value(), What(entity, id)); !s.ok()) return s;
  batch.Delete(keys::Data(entity, id));
  StageTtl(batch, entity, id, cur.value().get(), nullptr);
  batch.CountRecord(entity, -1);
  Outcome out;
  out.data = NewObject();
  cJSON_AddStringToObject(out.data.get(), "id", id.c_str());
  cJSON_AddTrueToObject(out.data.get(), "deleted");
  out.changes.push_back({ChangeKind::kDelete, entity, id, std::move(cur.value())});
  return out;
}

Result<Outcome> Records::List(const std::string& entity, const cJSON* payload) {
  auto q = ParseQuery(payload, QueryKind::kList);
  if (!q.ok()) return q.status();
  if (!q->includes.empty()) {
    // Foreign keys arrive with constraints; until one is declared no field can be included.
    return Status::BadRequest("unknown include: " + q->includes[0] + " (" + entity + " has no foreign key " +
                              q->includes[0] + "_id)");
  }
  int64_t now = now_ms_();
  const bool sorted = !q->sort.empty();
  const size_t want = static_cast<size_t>(q->offset + q->limit);
  size_t skipped = 0;
  std::vector<Json> hits;
  Status corrupt;
  Status s = store_.Scan(keys::DataPrefix(entity), [&](std::string_view, std::string_view value) {
    auto rec = ParseStored(value);
    if (!rec.ok()) { corrupt = rec.status(); return false; }
    if (IsExpired(rec.value().get(), now) || !Matches(q->filters, rec.value().get())) return true;
    if (!sorted) {  // key order is id order, which is already the required order: stop early
      if (skipped < static_cast<size_t>(q->offset)) { ++skipped; return true; }
      hits.push_back(std::move(rec.value()));
      return hits.size() < static_cast<size_t>(q->limit);
    }
    hits.push_back(std::move(rec.value()));
    return true;
  });
  if (!s.ok()) return s;
  if (!corrupt.ok()) return corrupt;
  size_t begin = 0, end = hits.size();
  if (sorted) {
    auto less = [&](const Json& a, const Json& b) { return SortsBefore(q->sort, a.get(), b.get()); };
    size_t upto = std::min(want, hits.size());
    std::partial_sort(hits.begin(), hits.begin() + upto, hits.end(), less);
    begin = std::min(static_cast<size_t>(q->offset), upto);
    end = upto;
  }
  Outcome out;
  out.data = NewArray();
  if (q->limit == 0) return out;
  for (size_t i = begin; i < end; ++i) {
    Json item = q->projection ? Project(hits[i].get(), *q->projection) : std::move(hits[i]);
    cJSON_AddItemToArray(out.data.get(), item.release());
  }
  return out;
}

Result<Outcome> Records::Count(const std::string& entity, const cJSON* payload) {
  auto q = ParseQuery(payload, QueryKind::kCount);
  if (!q.ok()) return q.status();
  int64_t now = now_ms_();
  double count = 0;
  Status corrupt;
  Status s = store_.Scan(keys::DataPrefix(entity), [&](std::string_view, std::string_view value) {
    auto rec = ParseStored(value);
    if (!rec.ok()) { corrupt = rec.status(); return false; }
    if (!IsExpired(rec.value().get(), now) && Matches(q->filters, rec.value().get())) ++count;
    return true;
  });
  if (!s.ok()) return s;
  if (!corrupt.ok()) return corrupt;
  Outcome out;
  out.data = NewObject();
  cJSON_AddNumberToObject(out.data.get(), "count", count);
  return out;
}

}  // namespace mqdb
