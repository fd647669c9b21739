// Store: the one RocksDB database of a node, and the only code that talks to RocksDB.
//
// Writes are Batches committed atomically (one RocksDB WriteBatch). A Batch also carries the counters
// persisted with it (last event sequence, per-entity record counts), so those counters can never
// disagree with the data after a crash: meta/seq and meta/count/{entity} are rewritten inside the same
// WriteBatch. One exception saves a key per write: a batch that puts the outbox entry holding its new
// last sequence leaves meta/seq alone (Batch::last_seq_in_entry). Invariant: meta/seq is at least every
// sequence that no outbox/ or dead/ entry holds; the Outbox writes meta/seq whenever it removes entries
// without adding a newer one, and raises last_seq() at open to the highest sequence its entries hold.
//
// Threading: Open, Get, Scan and Commit are called from one thread (the broker thread). The WalSyncer
// thread only calls RocksDB's SyncWAL and the RangeCompactor thread only CompactRange, both of which
// RocksDB allows concurrently with reads and writes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/function_ref.h"
#include "storage/range_compactor.h"
#include "storage/status.h"
#include "storage/wal_syncer.h"

namespace rocksdb { class DB; class CompactionFilter; class WriteBatch; }

namespace mqdb {

struct StoreOptions {
  std::string path;
  Durability durability = Durability::kPeriodic;
  int durability_ms = 10;
  // RocksDB's memory budget: the block cache (uncompressed data blocks) with the memtables charged to
  // it (flushed once they hold half). Index and filter blocks are held outside it, by the open table
  // files: about 7.5 MB per million 600-byte records.
  int block_cache_mb = 128;
  // Keys under these prefixes hold values that start with "{expires_ms}\n". Compactions drop them once
  // expired (Unix ms <= now), so they need no expiry index and no sweep. Readers must still check the
  // expiry themselves: an expired value stays readable until a compaction reaches it.
  std::vector<std::string> expiring_prefixes;
  // A scan that steps over at least this many deleted keys (tombstones), and over more of them than
  // live keys, has the key range it covered compacted in the background, so later scans do not step
  // over them again. 0: never.
  uint64_t compact_after_tombstones = 256;
};

// A set of writes applied all-or-nothing. A plain value: building one touches no database.
// Reads made while building a write consult Staged() first, so a multi-record write (a cascade) sees
// its own earlier changes.
class Batch {
 public:
  enum class Kind { kPut, kDelete, kDeleteRange };
  struct Op {
    Kind kind;
    std::string key;
    std::string value;  // kPut: the value; kDeleteRange: the exclusive end key
  };
  void Put(std::string key, std::string value);
  void Delete(std::string key);
  // Not visible to Staged(). `begin` must end in '/' (a key family or entity prefix): Commit refuses
  // other range deletes (see OrderedFamily in store.cc).
  void DeleteRange(std::string begin, std::string end);
  // nullopt: the batch does not touch `key`; otherwise the staged value (nullopt inside: deleted).
  std::optional<std::optional<std::string>> Staged(const std::string& key) const;

  // Records added (+1) or removed (-1) per entity; persisted as meta/count/{entity} with the batch.
  void CountRecord(const std::string& entity, int64_t delta) { count_deltas_[entity] += delta; }
  const std::map<std::string, int64_t>& count_deltas() const { return count_deltas_; }

  const std::vector<Op>& ops() const { return ops_; }
  bool has_range_deletes() const { return range_deletes_; }
  bool IsLast(size_t i) const;  // ops()[i] is the last Put/Delete of its key (false for range deletes)
  bool empty() const { return ops_.empty() && !last_seq && count_deltas_.empty(); }

  std::optional<uint64_t> last_seq;  // the new last event sequence, written to meta/seq with the batch
  // ... unless the batch puts the outbox entry that holds last_seq: then meta/seq is not written (the
  // entry holds the sequence; see the invariant at the top of this file).
  bool last_seq_in_entry = false;

 private:
  std::vector<Op> ops_;
  std::unordered_map<std::string, size_t> latest_;  // key -> index of its last Put/Delete in ops_
  std::map<std::string, int64_t> count_deltas_;
  bool range_deletes_ = false;
};

class Store {
 public:
  // Opens (creating if needed) the database at options.path. A database already opened by another
  // process (or another Store in this one) is refused with a message that says so.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();  // final WAL sync, then close

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<std::optional<std::string>> Get(std::string_view key) const;
  // Several point reads at once (RocksDB MultiGet: one pass per level for all keys). Hands `visit` each
  // key's index in `keys` and its value (nullopt where absent), in order, until it returns false. The
  // values are not copied: they point into the block cache, pinned until MultiGet returns, so copy
  // what must outlive the call. A read error returns before any visit.
  // (A FunctionRef: `visit` is called only during MultiGet and never kept.)
  using ValueVisitor = FunctionRef<bool(size_t, std::optional<std::string_view>)>;
  Status MultiGet(const std::vector<std::string_view>& keys, ValueVisitor visit) const;

  // Visits the keys starting with `prefix` in byte order, from `start` (inclusive; empty: from the
  // prefix) until `visit` returns false. A scan dominated by deleted keys (compact_after_tombstones)
  // hands the range it covered to the RangeCompactor. A scan of a whole key region
  // (keys::IsRegion(prefix), e.g. data/{entity}/) that had to step over deleted keys to reach the
  // region's first key remembers that key as the region's floor, and later scans from below the
  // floor start there: a range whose oldest keys are deleted first (a queue, time-ordered ids) is
  // not walked tombstone by tombstone on every scan until compactions catch up, and tombstones in
  // the memtable are not compacted at all.
  using Visitor = FunctionRef<bool(std::string_view key, std::string_view value)>;  // called only during Scan
  Status Scan(std::string_view prefix, Visitor visit, std::string_view start = {}) const;

  // Applies the batch atomically. Returns the commit's durability ticket (see WalSyncer).
  Result<uint64_t> Commit(const Batch& batch);

  // The last event sequence. Open reads meta/seq; a higher one can only be held by an outbox/ or
  // dead/ entry (see the top of this file), which Outbox::Recover finds and passes to RaiseLastSeq.
  uint64_t last_seq() const { return last_seq_; }
  void RaiseLastSeq(uint64_t seq) { last_seq_ = std::max(last_seq_, seq); }
  int64_t record_count() const;  // all entities
  int64_t EntityCount(const std::string& entity) const;
  const std::map<std::string, int64_t>& entity_counts() const { return counts_; }
  WalSyncer& syncer() { return *syncer_; }
  Durability durability() const { return options_.durability; }
  uint64_t ApproximateBytes() const;
  // About how many bytes the keys in [begin, end) take, files and memtables (RocksDB's estimate).
  uint64_t ApproximateRangeBytes(std::string_view begin, std::string_view end) const;
  // Where RocksDB's memory is, in bytes: memtables (at most 2 x 64 MB), table readers (index and
  // filter blocks of the open files: they grow with the data) and the block cache (at most
  // StoreOptions::block_cache_mb).
  struct Memory {
    uint64_t memtables = 0, table_readers = 0, block_cache = 0;
  };
  Memory MemoryUsage() const;
  // Compacts the whole key range now (tests use it to see what compactions drop).
  Status CompactAll();
  // Tombstones stepped over by scans, and the range compactions that removed them (see
  // StoreOptions::compact_after_tombstones); both since Open.
  uint64_t tombstones_skipped() const { return tombstones_skipped_.load(); }
  uint64_t range_compactions() const { return compactor_->done(); }
  uint64_t range_compactions_requested() const { return compactions_requested_.load(); }

  // Online backups (RocksDB BackupEngine in `dir`), identified by a name (1-128 of [A-Za-z0-9_-]).
  struct BackupInfo {
    std::string name;
    int64_t created_at = 0;  // Unix seconds
    uint64_t size_bytes = 0;
  };
  Status Backup(const std::string& dir, const std::string& name);
  Result<std::vector<BackupInfo>> ListBackups(const std::string& dir) const;
  // Replaces the database with the named backup, in place: this Store (and its WAL syncer, tickets
  // and counters) stays valid. The event sequence never goes back: a restored meta/seq lower than
  // the current one is raised to it (higher sequences held by restored outbox entries are raised to
  // by Outbox::ResetAfterRestore).
  Status Restore(const std::string& dir, const std::string& name);

 private:
  Store(StoreOptions options, rocksdb::DB* db);
  Status LoadCounters();
  Status Reopen();

  StoreOptions options_;
  std::unique_ptr<rocksdb::CompactionFilter> expiry_filter_;  // outlives db_ (declared first)
  std::unique_ptr<rocksdb::DB> db_;  // null only if a restore failed to reopen: every call then fails
  // Shared by the syncer's SyncWAL and the compactor's CompactRange, exclusive for Restore's swap.
  std::shared_mutex db_mu_;
  std::unique_ptr<WalSyncer> syncer_;
  std::unique_ptr<RangeCompactor> compactor_;
  // Region floors (see Scan). Invariant: no key of a region below its floor exists in the database.
  // Scan raises a floor only to the first key its seek found from at or below the floor; Commit
  // lowers a floor to any key it puts below it; Reopen (restore) drops them all. Bounded by the
  // number of regions (keys::Region), touched only by the broker thread.
  mutable std::map<std::string, std::string, std::less<>> floors_;
  void LowerFloors(const Batch::Op& op);
  mutable std::atomic<uint64_t> tombstones_skipped_{0};
  mutable std::atomic<uint64_t> compactions_requested_{0};
  uint64_t last_seq_ = 0;
  std::map<std::string, int64_t> counts_;  // mirrors meta/count/{entity}; entities with 0 are dropped
  // Commit's WriteBatch, cleared and reused: a fresh one allocated its 2-3 KB buffer on every write
  // (a block too large for malloc's per-thread cache). Broker thread only, like Commit.
  std::unique_ptr<rocksdb::WriteBatch> write_batch_;
  size_t write_batch_reserved_ = 0;
};

}  // namespace mqdb
