#include "plugin/service.h"

#include <algorithm>
#include <limits>

#include "plugin/request.h"
#include "storage/keys.h"
#include "storage/names.h"
#include "storage/record.h"
#include "storage/transaction.h"

namespace mqdb {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<Service>> Service::Open(const Config& config) {
  StoreOptions store_options = config.store;
  store_options.expiring_prefixes.push_back(std::string(keys::kDedupPrefix));  // "{expires_ms}\n{envelope}"
  auto store = Store::Open(store_options);
  if (!store.ok()) return store.status();
  std::unique_ptr<Service> svc(new Service(config, std::move(store.value())));
  svc->records_.set_max_scan(config.max_scan);
  svc->records_.set_limits(config.limits);
  if (Status s = svc->catalog_.Load(*svc->store_); !s.ok()) return s;
  if (Status s = svc->records_.LoadExpiring(); !s.ok()) return s;
  if (Status s = svc->outbox_->Recover(); !s.ok()) return s;
  if (Status s = svc->feed_.Open(); !s.ok()) return s;
  if (Status s = svc->groups_.Load(NowMs()); !s.ok()) return s;
  svc->DistrustStoredResponsesIfAny();
  return svc;
}

Service::Service(Config config, std::unique_ptr<Store> store)
    : config_(std::move(config)),
      store_(std::move(store)),
      records_(*store_, catalog_, NowMs, config_.ownership),
      definitions_(*store_, catalog_, records_),
      outbox_(std::make_unique<Outbox>(*store_, config_.outbox)),
      feed_(*store_, config_.feed),
      groups_(*store_, config_.group_timeout_s),
      dedup_(std::chrono::seconds(config_.dedup_window_s)),
      stored_responses_(std::chrono::seconds(config_.dedup_window_s)),
      started_(std::chrono::steady_clock::now()),
      last_write_(started_) {}

namespace {

// `{"operation_id":"…"}` or `{"all":true}` of outbox/retry and outbox/purge; "" selects all.
Result<std::string> ParseSelector(const cJSON* body, const std::string& what) {
  for (const cJSON* c = body->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "operation_id" && k != "all" && k != "request_id") {
      return Status::BadRequest("unknown field in " + what + " request: " + std::string(k));
    }
  }
  const cJSON* op = cJSON_GetObjectItemCaseSensitive(body, "operation_id");
  const cJSON* all = cJSON_GetObjectItemCaseSensitive(body, "all");
  if (op && all) return Status::BadRequest(what + " takes operation_id or all, not both");
  if (op) {
    if (!cJSON_IsString(op) || op->valuestring[0] == '\0') return Status::BadRequest("operation_id must be a non-empty string");
    return std::string(op->valuestring);
  }
  if (cJSON_IsTrue(all)) return std::string();
  return Status::BadRequest(what + " needs \"operation_id\" or \"all\":true");
}

Outcome Counted(const char* key, size_t n) {
  Outcome out;
  out.data = NewObject();
  cJSON_AddNumberToObject(out.data.get(), key, static_cast<double>(n));
  return out;
}

}  // namespace

Result<Outcome> Service::Admin(const std::string& path, const cJSON* body) {
  auto wrap = [](Result<Json> r) -> Result<Outcome> {
    if (!r.ok()) return r.status();
    Outcome out;
    out.data = std::move(r.value());
    return out;
  };
  // {schema|constraint|index}/{entity}/{operation}
  size_t a = path.find('/'), b = a == std::string::npos ? a : path.find('/', a + 1);
  if (b != std::string::npos && path.find('/', b + 1) == std::string::npos) {
    std::string kind = path.substr(0, a), entity = path.substr(a + 1, b - a - 1), op = path.substr(b + 1);
    if (kind == "schema" || kind == "constraint" || kind == "index") {
      if (Status s = CheckEntityName(entity); !s.ok()) return s;
      if (kind == "schema" && op == "set") return wrap(definitions_.SetSchema(entity, body));
      if (kind == "schema" && op == "get") return wrap(definitions_.GetSchema(entity));
      if (kind == "schema" && op == "delete") return wrap(definitions_.DeleteSchema(entity));
      if (kind == "constraint" && op == "add") return wrap(definitions_.AddConstraint(entity, body));
      if (kind == "constraint" && op == "list") return wrap(definitions_.ListConstraints(entity));
      if (kind == "constraint" && op == "remove") return wrap(definitions_.RemoveConstraint(entity, body));
      if (kind == "index" && op == "add") return wrap(definitions_.AddIndex(entity, body));
      if (kind == "index" && op == "list") return wrap(definitions_.ListIndexes(entity));
      if (kind == "index" && op == "remove") return wrap(definitions_.RemoveIndex(entity, body));
    }
  }
  if (path == "catalog") return wrap(definitions_.CatalogJson());
  if (path == "consumer-groups") return Outcome{groups_.GroupsJson(), {}};
  if (path.rfind("consumer-groups/", 0) == 0) return wrap(groups_.GroupJson(path.substr(16), NowMs()));
  if (path == "backup" || path == "restore") return path == "backup" ? BackupNow(body) : RestoreNow(body);
  if (path == "backup/list") {
    auto list = store_->ListBackups(config_.backup_dir);
    if (!list.ok()) return list.status();
    Outcome out;
    out.data = NewArray();
    for (const auto& b : list.value()) cJSON_AddItemToArray(out.data.get(), BackupJson(b).release());
    return out;
  }
  if (path == "outbox") {
    Outcome out;
    out.data = outbox_->PendingJson();
    return out;
  }
  if (path == "outbox/dead") return wrap(outbox_->DeadJson());
  if (path == "outbox/retry" || path == "outbox/purge") {
    bool retry = path == "outbox/retry";
    auto selector = ParseSelector(body, path);
    if (!selector.ok()) return selector.status();
    auto n = retry ? outbox_->Retry(selector.value()) : outbox_->Purge(selector.value());
    if (!n.ok()) return n.status();
    if (n.value() == 0 && !selector->empty()) return Status::NotFound("not found: dead letter " + selector.value());
    return Counted(retry ? "retried" : "purged", n.value());
  }
  return Status::BadRequest("unknown admin request: " + path);
}

bool Service::IsAdmin(const std::string& username) const {
  return !username.empty() &&
         std::find(config_.admin_users.begin(), config_.admin_users.end(), username) != config_.admin_users.end();
}

Result<uint64_t> Service::Commit(std::vector<Change>& changes, Batch& batch, const std::string& origin) {
  const int64_t now = NowMs();
  OutboxEntry entry = outbox_->Stage(changes, origin, batch, now);
  feed_.Stage(entry, changes, batch, now);  // the same batch: a committed event is a retained event
  auto ticket = store_->Commit(batch);
  if (!ticket.ok()) return ticket.status();
  feed_.Committed(entry, ticket.value());
  outbox_->Committed(std::move(entry), ticket.value());
  last_write_ = std::chrono::steady_clock::now();
  return ticket;
}

Status Service::Write(Reply& reply, Result<Outcome> outcome, Batch& batch, const std::string& origin,
                      const std::optional<std::string>& dedup_key) {
  if (!outcome.ok()) return outcome.status();
  reply.data = std::move(outcome->data);
  if (dedup_key && !DedupCache::IsFingerprint(*dedup_key) && config_.dedup_window_s > 0) {
    // The response goes into the write's own batch: a retry after a crash finds it instead of
    // executing the write again. Stored as "{expires_ms}\n{envelope}" (no JSON escaping of the
    // envelope); compactions drop it once expired (StoreOptions::expiring_prefixes).
    const int64_t expires = NowMs() + int64_t{config_.dedup_window_s} * 1000;
    reply.envelope = std::make_shared<const std::string>(Envelope(reply));
    std::string stored = std::to_string(expires);
    stored.reserve(stored.size() + 1 + reply.envelope->size());
    stored += '\n';
    stored += *reply.envelope;
    batch.Put(keys::Dedup(*dedup_key), std::move(stored));
    stored_responses_.Add(*dedup_key, std::chrono::steady_clock::now());  // if the commit fails: a false positive
    reply.response_persisted = true;
  }
  auto ticket = Commit(outcome->changes, batch, origin);
  if (!ticket.ok()) {
    reply.data.reset();
    reply.envelope.reset();  // the stored success response did not happen
    reply.response_persisted = false;
    return ticket.status();
  }
  reply.ticket = ticket.value();
  return Status::Ok();
}

void Service::DistrustStoredResponsesIfAny() {
  // Responses stored before this process (or restored from a backup) may be live for one more window.
  // A failed scan counts as "some": the lookups then stay correct, only slower.
  bool any = false;
  Status s = store_->Scan(keys::kDedupPrefix, [&](std::string_view, std::string_view) { any = true; return false; });
  if (any || !s.ok()) stored_responses_.TrustFrom(std::chrono::steady_clock::now() + std::chrono::seconds(config_.dedup_window_s));
}

std::shared_ptr<const std::string> Service::FindStoredResponse(const std::string& key) {
  auto raw = store_->Get(keys::Dedup(key));
  if (!raw.ok() || !raw.value()) return nullptr;
  const std::string& v = *raw.value();
  size_t nl = v.find('\n');
  if (nl == std::string::npos || std::stoll(v.substr(0, nl)) <= NowMs()) return nullptr;
  return std::make_shared<const std::string>(v.substr(nl + 1));
}

Service::Reply Service::Handle(const Request& req) {
  Reply reply;
  RequestTarget target = ParseTopic(req.topic);
  if (target.kind == RequestKind::kNotARequest) return reply;
  reply.respond = true;
  switch (target.kind) {
    case RequestKind::kCreate: reply.cls = RequestClass::kCreate; break;
    case RequestKind::kRead: reply.cls = RequestClass::kRead; break;
    case RequestKind::kUpdate: reply.cls = RequestClass::kUpdate; break;
    case RequestKind::kDelete: reply.cls = RequestClass::kDelete; break;
    case RequestKind::kList: reply.cls = RequestClass::kList; break;
    case RequestKind::kCount: reply.cls = RequestClass::kCount; break;
    case RequestKind::kAdmin: reply.cls = RequestClass::kAdmin; break;
    case RequestKind::kGroupSubscribe: case RequestKind::kGroupHeartbeat: case RequestKind::kGroupUnsubscribe:
    case RequestKind::kReplay: case RequestKind::kTransaction:
      reply.cls = RequestClass::kOther;
      break;
    default: break;
  }
  if (req.payload.size() > config_.max_payload) {
    reply.status = Status::TooLarge("payload too large: " + std::to_string(req.payload.size()) + " bytes (max " +
                                    std::to_string(config_.max_payload) + ")");
    return reply;
  }
  if (target.kind == RequestKind::kInvalid) { reply.status = target.error; return reply; }
  if (target.kind == RequestKind::kEcho) {
    // The benchmark floor: the same request/response path with no parsing and no storage. A payload
    // comes back as a string (data.echo), so the floor can also be measured with records' sizes.
    if (!config_.bench_echo) {
      reply.status = Status::BadRequest("unknown request topic: " + std::string(req.topic) + " (enable plugin_opt_bench_echo)");
      return reply;
    }
    if (target.busy_us > 0) {
      // Busy, not asleep: the point is broker-thread time, as a request's work would take it (a
      // sleeping thread would let the CPU idle, which costs differently on a VM).
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(target.busy_us);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    if (req.payload.empty()) {
      reply.envelope = std::make_shared<const std::string>(R"({"status":"ok","data":{}})");
    } else if (!IsValidUtf8(req.payload)) {
      reply.status = Status::BadRequest("invalid payload: not UTF-8");
    } else {
      std::string env = R"({"status":"ok","data":{"echo":)";
      AppendJsonString(env, req.payload);
      env += "}}";
      reply.envelope = std::make_shared<const std::string>(std::move(env));
    }
    return reply;
  }
  auto payload = ParsePayload(req.payload);
  if (!payload.ok()) { reply.status = payload.status(); return reply; }
  const cJSON* body = payload.value().get();
  if (const cJSON* rid = cJSON_GetObjectItemCaseSensitive(body, "request_id")) {
    if (!cJSON_IsString(rid)) { reply.status = Status::BadRequest("request_id must be a string"); return reply; }
    reply.request_id = rid->valuestring;
  }

  const auto now = std::chrono::steady_clock::now();
  if (!Admit(req.client_id, now)) {
    reply.status = Status(Status::kOverloaded, "overloaded: more than " + std::to_string(config_.rate_limit) +
                                                   " requests/s from this client");
    return reply;
  }
  auto dedup_key = config_.dedup_window_s > 0
                       ? DedupCache::KeyFor(req.client_id, req.username, req.correlation, reply.request_id, req.qos, req.topic, req.payload)
                       : std::nullopt;
  if (dedup_key) {
    auto cached = dedup_.Find(*dedup_key, now);
    if (!cached && !DedupCache::IsFingerprint(*dedup_key) && stored_responses_.MayBeStored(*dedup_key, now)) {
      cached = FindStoredResponse(*dedup_key);
    }
    if (cached) {
      ++dedup_hits_;
      if (req.qos == 2) {
        auto it = qos2_answered_.find(*dedup_key);
        if (it != qos2_answered_.end() && it->second.expires > now &&
            (!req.clean_session || it->second.connection == qos2_connection_[req.client_id])) {
          reply.already_answered = true;
          return reply;
        }
      }
      reply.envelope = std::move(cached);
      // Immediate durability: the original write may still wait for its fsync; so does its repeat.
      reply.ticket = store_->syncer().CommittedTicket();
      return reply;
    }
  }
  reply = Execute(req, target, std::move(payload.value()), std::move(reply), dedup_key);
  if (!reply.envelope) reply.envelope = std::make_shared<const std::string>(Envelope(reply));
  if (dedup_key && !reply.response_persisted) dedup_.Remember(*dedup_key, reply.envelope, now);
  if (dedup_key && req.qos == 2 && qos2_answered_.size() < kMaxQos2Answers) {
    // Beyond the bound a repeat is answered again, as at QoS 1: never a lost answer, at worst two.
    qos2_answered_[*dedup_key] = {qos2_connection_[req.client_id], now + std::chrono::seconds(config_.dedup_window_s)};
  }
  return reply;
}

bool Service::Admit(const std::string& client_id, std::chrono::steady_clock::time_point now) {
  if (config_.rate_limit <= 0) return true;
  auto [it, fresh] = buckets_.try_emplace(client_id, Bucket{static_cast<double>(config_.rate_limit), now});
  Bucket& b = it->second;
  if (!fresh) {
    double refill = std::chrono::duration<double>(now - b.last).count() * config_.rate_limit;
    b.tokens = std::min<double>(config_.rate_limit, b.tokens + refill);
    b.last = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

Service::Reply Service::Execute(const Request& req, const RequestTarget& target, Json payload, Reply reply,
                                const std::optional<std::string>& dedup_key) {
  const cJSON* body = payload.get();  // not used after a create took `payload` over
  Batch batch;
  Result<Outcome> read = Status::Internal("unreachable");
  const Principal who{req.username, IsAdmin(req.username)};
  switch (target.kind) {
    case RequestKind::kHealth: {
      reply.data = NewObject();
      cJSON_AddStringToObject(reply.data.get(), "status", "healthy");
      cJSON_AddStringToObject(reply.data.get(), "mode", "standalone");
      cJSON_AddStringToObject(reply.data.get(), "node_id", config_.node_id.c_str());
      auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
      cJSON_AddNumberToObject(reply.data.get(), "uptime_s", static_cast<double>(up.count()));
      return reply;
    }
    case RequestKind::kAdmin:
      if (!IsAdmin(req.username)) {
        reply.status = Status::Forbidden("forbidden: admin only");
        return reply;
      }
      read = Admin(target.admin_path, body);
      break;
    case RequestKind::kCreate:
      reply.status =
          Write(reply, records_.Create(target.entity, std::move(payload), batch, who), batch, req.client_id, dedup_key);
      return reply;
    case RequestKind::kUpdate:
      reply.status = Write(reply, records_.Update(target.entity, target.id, body, batch, who), batch, req.client_id, dedup_key);
      return reply;
    case RequestKind::kDelete:
      reply.status = Write(reply, records_.Delete(target.entity, target.id, body, batch, who), batch, req.client_id, dedup_key);
      return reply;
    case RequestKind::kGroupSubscribe: {
      auto r = Subscribe(req, body, who);
      if (!r.ok()) reply.status = r.status();
      else reply.data = std::move(r.value());
      return reply;
    }
    case RequestKind::kGroupHeartbeat:
    case RequestKind::kGroupUnsubscribe: {
      auto r = target.kind == RequestKind::kGroupHeartbeat ? groups_.Heartbeat(target.member_id, req.client_id, NowMs())
                                                            : groups_.Unsubscribe(target.member_id, req.client_id);
      if (!r.ok()) reply.status = r.status();
      else reply.data = std::move(r.value());
      return reply;
    }
    case RequestKind::kTransaction: {
      auto outcome = RunTransaction(records_, body, batch, who);
      if (outcome.ok() && outcome->changes.empty()) {  // only gets: nothing to commit
        reply.data = std::move(outcome->data);
        return reply;
      }
      reply.status = Write(reply, std::move(outcome), batch, req.client_id, dedup_key);
      return reply;
    }
    case RequestKind::kReplay: {
      ChangeFeed::Reader reader{req.username, who.admin, req.may_read};
      // Owned entities are readable only by their owners and admins: their events too.
      auto r = feed_.Replay(body, reader, config_.limits.max_response_bytes);
      if (!r.ok()) reply.status = r.status();
      else reply.data = std::move(r.value());
      return reply;
    }
    case RequestKind::kRead: read = records_.Read(target.entity, target.id, body, who); break;
    case RequestKind::kList: read = records_.List(target.entity, body, who); break;
    case RequestKind::kCount: read = records_.Count(target.entity, body, who); break;
    default: break;
  }
  if (!read.ok()) reply.status = read.status();
  else reply.data = std::move(read->data);
  return reply;
}

Result<Json> Service::Subscribe(const Request& req, const cJSON* body, const Principal& who) {
  const cJSON* e = cJSON_GetObjectItemCaseSensitive(body, "entity");
  if (!cJSON_IsString(e)) return Status::BadRequest("subscribe needs \"entity\"");
  if (Status s = CheckEntityName(e->valuestring); !s.ok()) return s;
  const std::string entity = e->valuestring;
  const cJSON* sub = body;
  Json scoped;
  if (auto owned = config_.ownership.find(entity); owned != config_.ownership.end() && !who.admin) {
    // Events of owned entities belong to their owners: a non-admin may follow them only through a
    // live query, which is then scoped to the requester's own records (an owner filter is added).
    const cJSON* filters = cJSON_GetObjectItemCaseSensitive(body, "filters");
    if (!filters) return Status::Forbidden("forbidden: " + entity + " records are owned");
    if (req.username.empty()) return Status(Status::kUnauthenticated, "unauthenticated: " + entity + " records are owned");
    scoped = Clone(body);
    cJSON* own = cJSON_GetObjectItemCaseSensitive(scoped.get(), "filters");
    if (cJSON_IsArray(own)) {
      cJSON* f = cJSON_CreateObject();
      cJSON_AddStringToObject(f, "field", owned->second.c_str());
      cJSON_AddStringToObject(f, "op", "eq");
      cJSON_AddStringToObject(f, "value", req.username.c_str());
      cJSON_AddItemToArray(own, f);
    }
    sub = scoped.get();
  }
  const cJSON* snapshot = cJSON_GetObjectItemCaseSensitive(sub, "snapshot");
  const cJSON* limit = cJSON_GetObjectItemCaseSensitive(sub, "limit");
  if (snapshot && !cJSON_IsBool(snapshot)) return Status::BadRequest("snapshot must be true or false");
  if (limit && !cJSON_IsTrue(snapshot)) return Status::BadRequest("limit goes with \"snapshot\":true");
  // The snapshot is read and the member joins in one step of the broker thread, so no write falls
  // between them: the member is given exactly the events after the snapshot's sequence.
  uint64_t seq = 0;
  Json records;
  if (cJSON_IsTrue(snapshot)) {
    if (auto f = ConsumerGroups::ParseFilters(sub); !f.ok()) return f.status();
    Json q = NewObject();
    if (const cJSON* filters = cJSON_GetObjectItemCaseSensitive(sub, "filters")) {
      cJSON_AddItemToObject(q.get(), "filters", cJSON_Duplicate(filters, true));
    }
    if (limit) cJSON_AddItemToObject(q.get(), "limit", cJSON_Duplicate(limit, true));
    auto list = records_.List(entity, q.get(), who);
    if (!list.ok()) return list.status();
    records = std::move(list->data);
    seq = store_->last_seq();
  }
  auto joined = groups_.Subscribe(sub, req.client_id, req.clean_session, NowMs(), seq);
  if (!joined.ok() || !records) return joined;
  Json snap = NewObject();
  cJSON_AddItemToObject(snap.get(), "records", records.release());
  cJSON_AddNumberToObject(snap.get(), "sequence", static_cast<double>(seq));
  cJSON_AddItemToObject(joined.value().get(), "snapshot", snap.release());
  return joined;
}

std::string Service::ErrorEnvelope(const Status& status) {
  Reply r;
  r.status = status;
  return Envelope(r);
}

std::string Service::Envelope(const Reply& reply) {
  // Assembled as text: `data` is often a record printed once already (a raw item), and the envelope
  // is built for every request. Byte-identical to printing the same object with cJSON.
  std::string out;
  if (reply.status.ok()) {
    // Reserved once: a page of records grew the reply by doubling, some ten reallocations and copies.
    out.reserve(48 + PrintedSizeHint(reply.data.get()) + (reply.request_id ? reply.request_id->size() : 0));
    out += R"({"status":"ok","data":)";
    if (reply.data) AppendJson(out, reply.data.get());
    else out += "null";
  } else {
    out = R"({"status":"error","code":)";
    out += std::to_string(reply.status.code());
    out += R"(,"message":)";
    AppendJsonString(out, reply.status.message());
  }
  if (reply.request_id) {
    out += R"(,"request_id":)";
    AppendJsonString(out, *reply.request_id);
  }
  out += '}';
  return out;
}

bool Service::IsDurable(uint64_t ticket) const {
  if (store_->durability() != Durability::kImmediate) return true;
  return ticket <= store_->syncer().SyncedTicket();
}

void Service::Pump(const std::vector<EventSink*>& sinks) {
  uint64_t durable = store_->durability() == Durability::kImmediate ? store_->syncer().SyncedTicket()
                                                                     : std::numeric_limits<uint64_t>::max();
  const int64_t now = NowMs();
  // Runs after every request: the target list reuses one buffer instead of allocating.
  all_sinks_.assign(sinks.begin(), sinks.end());
  groups_.AppendSinks(all_sinks_);
  outbox_->Dispatch(all_sinks_, durable, now);
  feed_.MarkDurable(durable);
  // When writes stop, nothing carries the deletions: do them in a batch of their own once idle.
  if (std::chrono::steady_clock::now() - last_write_ > std::chrono::seconds(1) && outbox_->HasDeletable(now)) {
    outbox_->FlushDelivered(now);
    last_write_ = std::chrono::steady_clock::now();
  }
}

namespace {

Result<std::string> BackupName(const cJSON* body, const char* what) {
  for (const cJSON* c = body->child; c; c = c->next) {
    std::string_view k = c->string;
    if (k != "name" && k != "request_id") return Status::BadRequest(std::string("unknown field in ") + what + " request: " + c->string);
  }
  const cJSON* n = cJSON_GetObjectItemCaseSensitive(body, "name");
  if (!cJSON_IsString(n)) return Status::BadRequest(std::string(what) + " needs \"name\"");
  std::string name = n->valuestring;
  bool ok = !name.empty() && name.size() <= 128;
  for (char c : name) ok &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  if (!ok) return Status::BadRequest("invalid backup name: 1-128 of A-Z a-z 0-9 _ -");
  return name;
}

}  // namespace

Json Service::BackupJson(const Store::BackupInfo& b) {
  Json j = NewObject();
  cJSON_AddStringToObject(j.get(), "name", b.name.c_str());
  cJSON_AddNumberToObject(j.get(), "created_at", static_cast<double>(b.created_at));
  cJSON_AddNumberToObject(j.get(), "size_bytes", static_cast<double>(b.size_bytes));
  return j;
}

Result<Outcome> Service::BackupNow(const cJSON* body) {
  auto name = BackupName(body, "backup");
  if (!name.ok()) return name.status();
  if (Status s = store_->Backup(config_.backup_dir, name.value()); !s.ok()) return s;
  auto list = store_->ListBackups(config_.backup_dir);
  if (!list.ok()) return list.status();
  for (const auto& b : list.value()) {
    if (b.name == name.value()) return Outcome{BackupJson(b), {}};
  }
  return Status::Internal("backup " + name.value() + " not found after creating it");
}

Result<Outcome> Service::RestoreNow(const cJSON* body) {
  auto name = BackupName(body, "restore");
  if (!name.ok()) return name.status();
  // Runs on the broker thread: no request is served between the swap and the reload below, so none
  // can see a half-restored state.
  if (Status s = store_->Restore(config_.backup_dir, name.value()); !s.ok()) return s;
  catalog_ = Catalog();
  if (Status s = catalog_.Load(*store_); !s.ok()) return s;
  if (Status s = records_.LoadExpiring(); !s.ok()) return s;
  if (Status s = outbox_->ResetAfterRestore(); !s.ok()) return s;
  if (Status s = feed_.ResetAfterRestore(); !s.ok()) return s;
  DistrustStoredResponsesIfAny();
  Outcome out;
  out.data = NewObject();
  cJSON_AddStringToObject(out.data.get(), "restored", name.value().c_str());
  return out;
}

size_t Service::SweepExpired(size_t budget) {
  const int64_t now_s = NowMs() / 1000;
  const std::string due = std::string(keys::kTtlPrefix) + keys::Padded(static_cast<uint64_t>(now_s));
  std::vector<std::string> expired;  // ttl keys, oldest first
  store_->Scan(keys::kTtlPrefix, [&](std::string_view key, std::string_view) {
    if (key.substr(0, due.size()) > due || expired.size() >= budget) return false;
    expired.emplace_back(key);
    return true;
  });
  size_t removed = 0;
  for (const auto& key : expired) {
    auto target = keys::ParseTtl(key);
    if (!target) continue;
    std::string entity(target->entity), id(target->id);
    Batch batch;
    auto outcome = records_.Expire(entity, id, batch);
    if (!outcome.ok()) continue;  // e.g. restricted by a foreign key: stays invisible, retried next sweep
    if (outcome->changes.empty()) {
      // Not expired (renewed) or gone: this ttl key is stale unless it is the record's current one.
      auto rec = records_.LoadRaw(entity, id, nullptr);
      auto at = rec.ok() && rec.value() ? ExpiresAt(rec.value().get()) : std::nullopt;
      if (rec.ok() && (!at || keys::Ttl(*at, entity, id) != key)) {
        Batch drop;
        drop.Delete(key);
        store_->Commit(drop);
      }
      continue;
    }
    if (Commit(outcome->changes, batch, "mqdb-ttl").ok()) ++removed;
  }
  return removed;
}

void Service::Housekeeping() {
  // Forget rate buckets of clients idle long enough to be full again (bounded memory).
  if (config_.rate_limit > 0 && buckets_.size() > 1024) {
    auto now = std::chrono::steady_clock::now();
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      it = now - it->second.last > std::chrono::seconds(2) ? buckets_.erase(it) : std::next(it);
    }
  }
  if (!catalog_.Building().empty()) definitions_.BackfillStep(kBackfillSlice);
  auto now = std::chrono::steady_clock::now();
  if (now >= next_sweep_) {
    next_sweep_ = now + std::chrono::seconds(1);
    for (auto it = qos2_answered_.begin(); it != qos2_answered_.end();) {
      it = it->second.expires <= now ? qos2_answered_.erase(it) : std::next(it);
    }
    if (qos2_answered_.empty()) qos2_connection_.clear();
    SweepExpired(kSweepBatch);
    groups_.ExpireSilent(NowMs());
    feed_.Trim(NowMs());  // a failure leaves the events for the next second
  } else if (feed_.behind()) {
    feed_.Trim(NowMs());  // a backlog (writes faster than one budget a second) is trimmed tick by tick
  }
}

std::vector<std::pair<std::string, std::string>> Service::SysValues() const {
  std::vector<std::pair<std::string, std::string>> v;
  v.emplace_back("requests/total", std::to_string(stats_.requests_total()));
  for (size_t i = 0; i < kNamedRequestClasses; ++i) {
    v.emplace_back(std::string("requests/") + kRequestClassNames[i],
                   std::to_string(stats_.requests(static_cast<RequestClass>(i))));
  }
  v.emplace_back("errors/4xx", std::to_string(stats_.errors_4xx()));
  v.emplace_back("errors/5xx", std::to_string(stats_.errors_5xx()));
  for (int code : kCountedErrorCodes) {
    v.emplace_back("errors/" + std::to_string(code), std::to_string(stats_.errors_with_code(code)));
  }
  v.emplace_back("latency/p50_us", std::to_string(stats_.LatencyPercentile(50)));
  v.emplace_back("latency/p99_us", std::to_string(stats_.LatencyPercentile(99)));
  for (size_t i = 0; i < kNamedRequestClasses; ++i) {
    const auto cls = static_cast<RequestClass>(i);
    const std::string op = kRequestClassNames[i];
    v.emplace_back("latency/" + op + "/p50_us", std::to_string(stats_.LatencyPercentile(cls, 50)));
    v.emplace_back("latency/" + op + "/p99_us", std::to_string(stats_.LatencyPercentile(cls, 99)));
  }
  v.emplace_back("records", std::to_string(store_->record_count()));
  v.emplace_back("events/published", std::to_string(outbox_->published()));
  v.emplace_back("events/retained", std::to_string(feed_.retained()));
  v.emplace_back("events/oldest_sequence", std::to_string(feed_.oldest()));
  v.emplace_back("events/replayed", std::to_string(feed_.replayed()));
  v.emplace_back("outbox/pending", std::to_string(outbox_->pending()));
  v.emplace_back("outbox/dead", std::to_string(outbox_->dead()));
  v.emplace_back("storage/bytes", std::to_string(store_->ApproximateBytes()));
  const Store::Memory mem = store_->MemoryUsage();
  v.emplace_back("storage/memory/memtables", std::to_string(mem.memtables));
  v.emplace_back("storage/memory/table_readers", std::to_string(mem.table_readers));
  v.emplace_back("storage/memory/block_cache", std::to_string(mem.block_cache));
  v.emplace_back("storage/tombstones_skipped", std::to_string(store_->tombstones_skipped()));
  v.emplace_back("storage/range_compactions", std::to_string(store_->range_compactions()));
  v.emplace_back("dedup/hits", std::to_string(dedup_hits_));
  v.emplace_back("consumer_groups/members", std::to_string(groups_.member_count()));
  return v;
}

}  // namespace mqdb
