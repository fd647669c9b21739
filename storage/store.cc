#include "storage/store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <filesystem>

#include "storage/keys.h"

namespace mqdb {

namespace {

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last != 0xFF) { end.back() = static_cast<char>(last + 1); return end; }
    end.pop_back();
  }
  return end;  // empty: no upper bound
}

Status FromRocks(const rocksdb::Status& s, const char* what) {
  if (s.ok()) return Status::Ok();
  return Status::Internal(std::string("storage error (") + what + "): " + s.ToString());
}

}  // namespace

void Batch::Put(std::string key, std::string value) {
  latest_[key] = ops_.size();
  ops_.push_back({Kind::kPut, std::move(key), std::move(value)});
}

void Batch::Delete(std::string key) {
  latest_[key] = ops_.size();
  ops_.push_back({Kind::kDelete, std::move(key), {}});
}

void Batch::DeleteRange(std::string begin, std::string end) {
  ops_.push_back({Kind::kDeleteRange, std::move(begin), std::move(end)});
}

std::optional<std::optional<std::string>> Batch::Staged(const std::string& key) const {
  auto it = latest_.find(key);
  if (it == latest_.end()) return std::nullopt;
  const Op& op = ops_[it->second];
  if (op.kind == Kind::kPut) return std::optional<std::string>(op.value);
  return std::optional<std::string>();
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) return Status::Internal("cannot create db_path " + options.path + ": " + ec.message());

  rocksdb::Options ro;
  ro.create_if_missing = true;
  ro.keep_log_file_num = 3;
  ro.max_log_file_size = 4 << 20;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(ro, options.path, &raw);
  if (!s.ok()) {
    std::string text = s.ToString();
    if (s.IsIOError() && (text.find("lock") != std::string::npos || text.find("LOCK") != std::string::npos)) {
      return Status::Unavailable("database at " + options.path +
                                 " is already in use by another process (its LOCK file is held)");
    }
    return Status::Internal("cannot open database at " + options.path + ": " + text);
  }
  std::unique_ptr<Store> store(new Store(options, raw));
  if (Status st = store->LoadCounters(); !st.ok()) return st;
  return store;
}

Store::Store(StoreOptions options, rocksdb::DB* db) : options_(std::move(options)), db_(db) {
  syncer_ = std::make_unique<WalSyncer>(options_.durability, options_.durability_ms,
                                        [this] { return FromRocks(db_->SyncWAL(), "SyncWAL"); });
}

Store::~Store() {
  syncer_.reset();  // stop the thread before the database goes away
  db_->SyncWAL();   // a clean shutdown loses nothing, whatever the durability mode
  db_->Close();
}

Status Store::LoadCounters() {
  auto seq = Get(keys::kMetaSeq);
  if (!seq.ok()) return seq.status();
  if (seq.value()) last_seq_ = std::stoull(*seq.value());
  const std::string prefix(keys::kMetaCountPrefix);
  return Scan(prefix, [&](std::string_view key, std::string_view value) {
    counts_[std::string(key.substr(prefix.size()))] = std::stoll(std::string(value));
    return true;
  });
}

Result<std::optional<std::string>> Store::Get(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "get");
  return std::optional<std::string>(std::move(value));
}

Status Store::Scan(std::string_view prefix, const Visitor& visit, std::string_view start) const {
  std::string upper = PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::string_view from = start.empty() ? prefix : start;
  for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key(), v = it->value();
    if (!visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) break;
  }
  return FromRocks(it->status(), "scan");
}

Result<uint64_t> Store::Commit(const Batch& batch) {
  rocksdb::WriteBatch wb;
  for (const auto& op : batch.ops()) {
    switch (op.kind) {
      case Batch::Kind::kPut: wb.Put(op.key, op.value); break;
      case Batch::Kind::kDelete: wb.Delete(op.key); break;
      case Batch::Kind::kDeleteRange: wb.DeleteRange(op.key, op.value); break;
    }
  }
  uint64_t new_seq = batch.last_seq.value_or(last_seq_);
  if (batch.last_seq) wb.Put(std::string(keys::kMetaSeq), std::to_string(new_seq));
  std::map<std::string, int64_t> new_counts;
  for (const auto& [entity, delta] : batch.count_deltas()) {
    if (delta == 0) continue;
    int64_t n = EntityCount(entity) + delta;
    new_counts[entity] = n;
    if (n == 0) wb.Delete(keys::MetaCount(entity));
    else wb.Put(keys::MetaCount(entity), std::to_string(n));
  }
  rocksdb::WriteOptions wo;
  wo.sync = false;  // durability comes from the WalSyncer, never from blocking the broker thread
  if (Status s = FromRocks(db_->Write(wo, &wb), "write"); !s.ok()) return s;
  last_seq_ = new_seq;
  for (const auto& [entity, n] : new_counts) {
    if (n == 0) counts_.erase(entity);
    else counts_[entity] = n;
  }
  return syncer_->Committed();
}

int64_t Store::record_count() const {
  int64_t total = 0;
  for (const auto& [entity, n] : counts_) total += n;
  return total;
}

int64_t Store::EntityCount(const std::string& entity) const {
  auto it = counts_.find(entity);
  return it == counts_.end() ? 0 : it->second;
}

uint64_t Store::ApproximateBytes() const {
  uint64_t sst = 0, mem = 0;
  db_->GetIntProperty("rocksdb.total-sst-files-size", &sst);
  db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &mem);
  return sst + mem;
}

}  // namespace mqdb
