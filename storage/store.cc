#include "storage/store.h"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>
#include <rocksdb/utilities/backup_engine.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "storage/keys.h"

namespace mqdb {

namespace {

// Commit's reused WriteBatch: reserved for at least a few ordinary writes, and not kept after one
// that needed more than kKeptWriteBatchBytes (a cascade, a consumer-group rebalance).
constexpr size_t kWriteBatchMinBytes = 8 << 10;
constexpr size_t kKeptWriteBatchBytes = 64 << 10;

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last != 0xFF) { end.back() = static_cast<char>(last + 1); return end; }
    end.pop_back();
  }
  return end;  // empty: no upper bound
}

// Drops expired values under the expiring prefixes (StoreOptions), and what is left of the retired
// dedup/ expiry index (keys::kRetiredDedupExpiryPrefix; this filter replaced it).
class ExpiryFilter : public rocksdb::CompactionFilter {
 public:
  explicit ExpiryFilter(std::vector<std::string> prefixes) : prefixes_(std::move(prefixes)) {}
  const char* Name() const override { return "mqdb.ExpiryFilter"; }
  bool Filter(int, const rocksdb::Slice& key, const rocksdb::Slice& value, std::string*, bool*) const override {
    if (key.starts_with(rocksdb::Slice(keys::kRetiredDedupExpiryPrefix.data(), keys::kRetiredDedupExpiryPrefix.size()))) {
      return true;
    }
    for (const auto& p : prefixes_) {
      if (!key.starts_with(p)) continue;
      int64_t expires = 0;
      size_t i = 0;
      for (; i < value.size() && value[i] >= '0' && value[i] <= '9' && i < 18; ++i) expires = expires * 10 + (value[i] - '0');
      if (i == 0 || i >= value.size() || value[i] != '\n') return false;  // not ours: keep
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
      return expires <= now;
    }
    return false;
  }

 private:
  std::vector<std::string> prefixes_;
};

// The families whose keys every write puts in order: outbox/{seq} (each write's entry follows the last
// one) and meta/ (a count rewritten in place). The memtable keeps one insert position per family
// (memtable_insert_with_hint_prefix_extractor) and starts an insert's skip-list search there, so these
// take a few steps instead of a full descent each. Other families are outside the domain: their keys
// land anywhere (client-chosen ids, updates, the retry identities of many clients), and a search from
// the last, far and probably cold position cost more than a descent from the top (mixed at 32
// clients: 112.8 -> 120.8 us per request with every family hinted).
//
// Keys ending in '/' are outside the domain too, and every range delete starts at such a key (Commit
// refuses others): RocksDB 7.8 keeps one insert position per family for the point keys and the range
// tombstones of a memtable alike, and a range tombstone inserted from a point key's position (or the
// reverse) breaks the memtable's skip list (an assertion in Debian's build). Later RocksDB versions use
// hints for point keys only.
class OrderedFamily : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "mqdb.OrderedFamily"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const void* slash = std::memchr(key.data(), '/', key.size());
    return slash ? rocksdb::Slice(key.data(), static_cast<const char*>(slash) - key.data() + 1) : key;
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    if (key.empty() || key[key.size() - 1] == '/') return false;
    return key.starts_with(keys::kOutboxPrefix) || key.starts_with(keys::kFeedPrefix) || key.starts_with(kMetaFamily);
  }

 private:
  static constexpr std::string_view kMetaFamily = "meta/";
};

rocksdb::Options DbOptions(const StoreOptions& options, const rocksdb::CompactionFilter* filter) {
  rocksdb::Options ro;
  ro.create_if_missing = true;
  ro.compaction_filter = filter;
  // Expired values (above) disappear only when a compaction reads them: in a quiet database, make
  // every file pass through one at least daily (RocksDB's default with a filter is 30 days).
  ro.periodic_compaction_seconds = 24 * 3600;
  // Bloom filters: most point reads that miss (retry lookups, client-chosen ids) stop at the filter
  // instead of searching every level's index blocks.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // One memory budget: memtables are charged to the block cache (a write buffer manager flushes them
  // once they hold half of it), so RocksDB's memory stays within block_cache_mb plus the table readers.
  const size_t budget = static_cast<size_t>(options.block_cache_mb) << 20;
  table.block_cache = rocksdb::NewLRUCache(budget);
  ro.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(budget / 2, table.block_cache);
  ro.write_buffer_size = std::min<size_t>(64 << 20, std::max<size_t>(budget / 4, 1 << 20));
  ro.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  ro.memtable_prefix_bloom_size_ratio = 0.02;
  ro.memtable_whole_key_filtering = true;
  ro.memtable_insert_with_hint_prefix_extractor = std::make_shared<OrderedFamily>();
  // LZ4 when this RocksDB has it: reads that miss the block cache (large databases) spend most of their
  // time decompressing, and LZ4 does that faster than the default Snappy (in-process, 1M records: an
  // indexed list 28 -> 26 us) with files no larger. Each file records its own codec, so a database
  // written with Snappy stays readable.
  const auto codecs = rocksdb::GetSupportedCompressions();
  if (std::find(codecs.begin(), codecs.end(), rocksdb::kLZ4Compression) != codecs.end()) {
    ro.compression = rocksdb::kLZ4Compression;
  }
  ro.keep_log_file_num = 3;
  ro.max_log_file_size = 4 << 20;
  return ro;
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
  range_deletes_ = true;
  ops_.push_back({Kind::kDeleteRange, std::move(begin), std::move(end)});
}

bool Batch::IsLast(size_t i) const {
  auto it = latest_.find(ops_[i].key);
  return it != latest_.end() && it->second == i;
}

std::optional<std::optional<std::string>> Batch::Staged(const std::string& key) const {
  auto it = latest_.find(key);
  if (it == latest_.end()) return std::nullopt;
  const Op& op = ops_[it->second];
  if (op.kind == Kind::kPut) return std::optional<std::string>(op.value);
  return std::optional<std::string>();
}

namespace {

// "/abs/path (as user NAME)": a relative db_path is resolved against the process's working directory,
// and the process may have switched users since it was started, so both are named.
std::string WhereAndWho(const std::string& path) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) abs = path;
  const struct passwd* pw = getpwuid(geteuid());
  return abs + " (as user " + (pw && pw->pw_name ? std::string(pw->pw_name) : "uid " + std::to_string(geteuid())) + ")";
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) return Status::Internal("cannot create db_path " + WhereAndWho(options.path) + ": " + ec.message());
  if (access(options.path.c_str(), R_OK | W_OK | X_OK) != 0) {
    return Status::Internal("cannot open db_path " + WhereAndWho(options.path) + ": " + std::strerror(errno));
  }

  auto filter = std::make_unique<ExpiryFilter>(options.expiring_prefixes);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(DbOptions(options, filter.get()), options.path, &raw);
  if (!s.ok()) {
    std::string text = s.ToString();
    if (s.IsIOError() && (text.find("lock") != std::string::npos || text.find("LOCK") != std::string::npos)) {
      return Status::Unavailable("database at " + options.path +
                                 " is already in use by another process (its LOCK file is held)");
    }
    return Status::Internal("cannot open database at " + WhereAndWho(options.path) + ": " + text);
  }
  std::unique_ptr<Store> store(new Store(options, raw));
  store->expiry_filter_ = std::move(filter);
  if (Status st = store->LoadCounters(); !st.ok()) return st;
  return store;
}

Store::Store(StoreOptions options, rocksdb::DB* db) : options_(std::move(options)), db_(db) {
  syncer_ = std::make_unique<WalSyncer>(options_.durability, options_.durability_ms, [this] {
    std::shared_lock<std::shared_mutex> lock(db_mu_);
    if (!db_) return Status::Unavailable("database unavailable");
    return FromRocks(db_->SyncWAL(), "SyncWAL");
  });
  compactor_ = std::make_unique<RangeCompactor>([this](const std::string& begin, const std::string& end) {
    std::shared_lock<std::shared_mutex> lock(db_mu_);
    if (!db_) return Status::Unavailable("database unavailable");
    rocksdb::CompactRangeOptions o;
    o.exclusive_manual_compaction = false;  // automatic compactions go on meanwhile
    // The default for bottommost files with a compaction filter (ours) is to compact them too: that is
    // where tombstones are finally dropped.
    rocksdb::Slice b(begin), e(end);
    rocksdb::Status s = db_->CompactRange(o, &b, &e);
    if (s.IsIncomplete()) return Status::Ok();  // aborted by DisableManualCompaction (close, restore)
    return FromRocks(s, "compact range");
  });
}

Store::~Store() {
  syncer_.reset();  // stop the threads before the database goes away
  if (db_) db_->DisableManualCompaction();  // a running range compaction returns at once
  compactor_.reset();
  if (!db_) return;
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
  if (!db_) return Status::Unavailable("database unavailable");
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "get");
  return std::optional<std::string>(std::move(value));
}

Status Store::MultiGet(const std::vector<std::string_view>& keys, ValueVisitor visit) const {
  if (!db_) return Status::Unavailable("database unavailable");
  // Up to kOnStack keys (an indexed list reads in groups of 16) need no heap block: at 1M records
  // every allocation tends to take glibc's slow path (README, Benchmarks).
  constexpr size_t kOnStack = 16;
  const size_t n = keys.size();
  std::array<rocksdb::Slice, kOnStack> stack_slices;
  // Pinned, not copied: a page of records was a heap block per record, and more blocks of one size
  // than glibc's per-thread cache keeps (7) send the rest through its slow path.
  std::array<rocksdb::PinnableSlice, kOnStack> stack_values;
  std::array<rocksdb::Status, kOnStack> stack_statuses;
  std::vector<rocksdb::Slice> heap_slices;
  std::vector<rocksdb::PinnableSlice> heap_values;
  std::vector<rocksdb::Status> heap_statuses;
  rocksdb::Slice* slices = stack_slices.data();
  rocksdb::PinnableSlice* values = stack_values.data();
  rocksdb::Status* statuses = stack_statuses.data();
  if (n > kOnStack) {
    heap_slices.resize(n);
    heap_values = std::vector<rocksdb::PinnableSlice>(n);
    heap_statuses.resize(n);
    slices = heap_slices.data();
    values = heap_values.data();
    statuses = heap_statuses.data();
  }
  for (size_t i = 0; i < n; ++i) slices[i] = rocksdb::Slice(keys[i].data(), keys[i].size());
  db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), n, slices, values, statuses);
  for (size_t i = 0; i < n; ++i) {
    if (!statuses[i].ok() && !statuses[i].IsNotFound()) return FromRocks(statuses[i], "multiget");
  }
  for (size_t i = 0; i < n; ++i) {
    std::optional<std::string_view> value;
    if (statuses[i].ok()) value = std::string_view(values[i].data(), values[i].size());
    if (!visit(i, value)) break;
  }
  return Status::Ok();
}

Status Store::Scan(std::string_view prefix, Visitor visit, std::string_view start) const {
  if (!db_) return Status::Unavailable("database unavailable");
  std::string upper = PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  // A scan of a whole region (keys::IsRegion) that would begin at or below the region's floor begins
  // at the floor: every key below it is deleted, so the scan would only step over tombstones there.
  const bool whole_region = keys::IsRegion(prefix);
  // `from` views the caller's bytes, or a copy of the floor (which the seek below may replace): no
  // heap copy of the start key on every scan.
  std::string floor;
  std::string_view from = start.empty() ? prefix : start;
  bool from_region_start = start.empty();  // nothing of the region lies below `from`
  if (whole_region) {
    auto f = floors_.find(prefix);
    if (f != floors_.end() && from <= f->second) {
      floor = f->second;
      from = floor;
      from_region_start = true;
    }
  }
  // Count the tombstones this scan steps over (RocksDB's per-thread perf counters, on only here).
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::PerfContext* perf = rocksdb::get_perf_context();
  const uint64_t skipped_before = perf->internal_delete_skipped_count;
  it->Seek(rocksdb::Slice(from));
  if (whole_region && from_region_start && it->status().ok() && perf->internal_delete_skipped_count > skipped_before) {
    // The seek stepped over deleted keys to reach the region's first key (or its end): next time,
    // start there. An empty region's floor is its end, which no key of the region reaches.
    if (it->Valid()) floors_[std::string(prefix)] = it->key().ToString();
    else if (!upper.empty()) floors_[std::string(prefix)] = upper;
  }
  bool stopped = false;  // by `visit`: the iterator still stands on the last key visited
  uint64_t visited = 0;
  for (; it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key(), v = it->value();
    ++visited;
    if (!visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) {
      stopped = true;
      break;
    }
  }
  const uint64_t skipped = perf->internal_delete_skipped_count - skipped_before;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  if (skipped > 0) {
    tombstones_skipped_.fetch_add(skipped);
    // Worth a compaction only where tombstones dominate the scan: a long scan of live records that
    // meets a few hundred deleted keys would rewrite much data to save little.
    if (options_.compact_after_tombstones > 0 && skipped >= options_.compact_after_tombstones && skipped >= visited) {
      // The tombstones lie between `from` and where the scan stopped, or the prefix's end if it ran
      // out (upper is empty only for a prefix of all 0xff bytes, or none).
      std::string end = stopped ? it->key().ToString() : !upper.empty() ? upper : std::string(from) + '\xff';
      compactions_requested_.fetch_add(1);
      compactor_->Request(std::string(from), std::move(end));
    }
  }
  return FromRocks(it->status(), "scan");
}

void Store::LowerFloors(const Batch::Op& op) {
  if (op.kind != Batch::Kind::kPut) return;  // deleting keys keeps every floor true
  auto f = floors_.find(keys::Region(op.key));
  if (f != floors_.end() && op.key < f->second) f->second = op.key;
}

Result<uint64_t> Store::Commit(const Batch& batch) {
  if (!db_) return Status::Unavailable("database unavailable");
  if (batch.has_range_deletes()) {
    for (const auto& op : batch.ops()) {
      if (op.kind == Batch::Kind::kDeleteRange && (op.key.empty() || op.key.back() != '/')) {
        // See OrderedFamily: a range tombstone must not share the memtable's insert positions.
        return Status::Internal("range delete must start at a prefix ending in '/': " + op.key);
      }
    }
  }
  // The batch's own ops, then meta/seq and meta/count/{entity}.
  std::vector<Batch::Op> meta;
  uint64_t new_seq = batch.last_seq.value_or(last_seq_);
  if (batch.last_seq && !batch.last_seq_in_entry) {
    meta.push_back({Batch::Kind::kPut, std::string(keys::kMetaSeq), std::to_string(new_seq)});
  }
  std::map<std::string, int64_t> new_counts;
  for (const auto& [entity, delta] : batch.count_deltas()) {
    if (delta == 0) continue;
    int64_t n = EntityCount(entity) + delta;
    new_counts[entity] = n;
    if (n == 0) meta.push_back({Batch::Kind::kDelete, keys::MetaCount(entity), {}});
    else meta.push_back({Batch::Kind::kPut, keys::MetaCount(entity), std::to_string(n)});
  }
  // Sized up front: growing the batch's buffer by doubling copied a write's 2-3 KB several times.
  size_t bytes = 12;  // WriteBatch header (sequence, count)
  auto size_of = [](const Batch::Op& op) { return 1 + 5 + op.key.size() + 5 + op.value.size(); };  // tag, varint lengths
  for (const auto& op : batch.ops()) bytes += size_of(op);
  for (const auto& op : meta) bytes += size_of(op);
  if (!write_batch_ || bytes > write_batch_reserved_) {
    write_batch_reserved_ = std::max(bytes, kWriteBatchMinBytes);
    write_batch_ = std::make_unique<rocksdb::WriteBatch>(write_batch_reserved_);
  }
  rocksdb::WriteBatch& wb = *write_batch_;
  wb.Clear();  // keeps the buffer's capacity
  auto add = [this, &wb](const Batch::Op& op) {
    if (!floors_.empty()) LowerFloors(op);  // before the write: a lower floor is never wrong
    switch (op.kind) {
      case Batch::Kind::kPut: wb.Put(op.key, op.value); break;
      case Batch::Kind::kDelete: wb.Delete(op.key); break;
      case Batch::Kind::kDeleteRange: wb.DeleteRange(op.key, op.value); break;
    }
  };
  if (batch.has_range_deletes()) {
    // A range delete and a later Put inside its range must keep their order: apply as staged.
    for (const auto& op : batch.ops()) add(op);
    for (const auto& op : meta) add(op);
  } else {
    // Without range deletes only each key's last op matters, and applying them in key order lets the
    // memtable's skip list reuse the previous insert's search path (keys of one write are neighbours:
    // outbox/{old} deleted next to outbox/{new}, meta/count next to meta/seq).
    std::vector<const Batch::Op*> final_ops;
    final_ops.reserve(batch.ops().size() + meta.size());
    for (size_t i = 0; i < batch.ops().size(); ++i) {
      if (batch.IsLast(i)) final_ops.push_back(&batch.ops()[i]);
    }
    for (const auto& op : meta) final_ops.push_back(&op);
    // Stable: were a batch to stage a meta key itself, the counter written here (appended last) wins,
    // as it did before sorting.
    std::stable_sort(final_ops.begin(), final_ops.end(), [](const Batch::Op* a, const Batch::Op* b) { return a->key < b->key; });
    for (const Batch::Op* op : final_ops) add(*op);
  }
  rocksdb::WriteOptions wo;
  wo.sync = false;  // durability comes from the WalSyncer, never from blocking the broker thread
  Status written = FromRocks(db_->Write(wo, &wb), "write");
  if (write_batch_reserved_ > kKeptWriteBatchBytes) write_batch_.reset();  // do not keep a large one
  if (!written.ok()) return written;
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

Store::Memory Store::MemoryUsage() const {
  Memory m;
  if (!db_) return m;
  db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &m.memtables);
  db_->GetIntProperty("rocksdb.estimate-table-readers-mem", &m.table_readers);
  db_->GetIntProperty("rocksdb.block-cache-usage", &m.block_cache);
  return m;
}

Status Store::CompactAll() {
  if (!db_) return Status::Unavailable("database unavailable");
  rocksdb::CompactRangeOptions o;
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(db_->CompactRange(o, nullptr, nullptr), "compact");
}

uint64_t Store::ApproximateRangeBytes(std::string_view begin, std::string_view end) const {
  if (!db_) return 0;
  rocksdb::Range range(rocksdb::Slice(begin.data(), begin.size()), rocksdb::Slice(end.data(), end.size()));
  uint64_t size = 0;
  rocksdb::SizeApproximationOptions o;
  o.include_memtables = true;
  o.include_files = true;
  db_->GetApproximateSizes(o, db_->DefaultColumnFamily(), &range, 1, &size);
  return size;
}

uint64_t Store::ApproximateBytes() const {
  if (!db_) return 0;
  uint64_t sst = 0, mem = 0;
  db_->GetIntProperty("rocksdb.total-sst-files-size", &sst);
  db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &mem);
  return sst + mem;
}

}  // namespace mqdb

namespace mqdb {

namespace {

Result<std::unique_ptr<rocksdb::BackupEngine>> OpenBackups(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create backup_dir " + dir + ": " + ec.message());
  rocksdb::BackupEngine* engine = nullptr;
  rocksdb::IOStatus s = rocksdb::BackupEngine::Open(rocksdb::BackupEngineOptions(dir), rocksdb::Env::Default(), &engine);
  if (!s.ok()) return Status::Internal("cannot open backups in " + dir + ": " + s.ToString());
  return std::unique_ptr<rocksdb::BackupEngine>(engine);
}

std::optional<rocksdb::BackupID> FindBackup(const rocksdb::BackupEngine& engine, const std::string& name) {
  std::vector<rocksdb::BackupInfo> infos;
  engine.GetBackupInfo(&infos);
  for (const auto& i : infos) if (i.app_metadata == name) return i.backup_id;
  return std::nullopt;
}

}  // namespace

Status Store::Backup(const std::string& dir, const std::string& name) {
  if (!db_) return Status::Unavailable("database unavailable");
  auto engine = OpenBackups(dir);
  if (!engine.ok()) return engine.status();
  if (FindBackup(*engine.value(), name)) return Status::Conflict("backup already exists: " + name);
  rocksdb::CreateBackupOptions opts;
  opts.flush_before_backup = true;
  rocksdb::IOStatus s = engine.value()->CreateNewBackupWithMetadata(opts, db_.get(), name);
  if (!s.ok()) return Status::Internal("backup failed: " + s.ToString());
  return Status::Ok();
}

Result<std::vector<Store::BackupInfo>> Store::ListBackups(const std::string& dir) const {
  auto engine = OpenBackups(dir);
  if (!engine.ok()) return engine.status();
  std::vector<rocksdb::BackupInfo> infos;
  engine.value()->GetBackupInfo(&infos);
  std::vector<BackupInfo> out;
  for (const auto& i : infos) out.push_back({i.app_metadata, i.timestamp, i.size});
  return out;
}

Status Store::Reopen() {
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(DbOptions(options_, expiry_filter_.get()), options_.path, &raw);
  if (!s.ok()) return Status::Internal("cannot reopen database after restore: " + s.ToString());
  db_.reset(raw);
  counts_.clear();
  floors_.clear();  // another database: what was deleted in the old one says nothing
  return LoadCounters();
}

Status Store::Restore(const std::string& dir, const std::string& name) {
  if (!db_) return Status::Unavailable("database unavailable");
  auto engine = OpenBackups(dir);
  if (!engine.ok()) return engine.status();
  auto id = FindBackup(*engine.value(), name);
  if (!id) return Status::NotFound("not found: backup " + name);
  const uint64_t seq_before = last_seq_;
  Status result;
  {
    db_->DisableManualCompaction();  // a running range compaction gives up the database at once
    std::unique_lock<std::shared_mutex> lock(db_mu_);  // the syncer and compactor must not touch it meanwhile
    db_->SyncWAL();
    db_->Close();
    db_.reset();
    rocksdb::IOStatus rs = engine.value()->RestoreDBFromBackup(*id, options_.path, options_.path);
    if (!rs.ok()) result = Status::Internal("restore failed: " + rs.ToString());
    Status reopened = Reopen();  // reopen in any case: a failed restore leaves the old files in place
    if (result.ok()) result = reopened;
  }
  if (!result.ok()) return result;
  if (last_seq_ < seq_before) {
    Batch keep_increasing;
    keep_increasing.last_seq = seq_before;
    if (auto t = Commit(keep_increasing); !t.ok()) return t.status();
  }
  return Status::Ok();
}

}  // namespace mqdb
