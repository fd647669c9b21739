// Store: the one RocksDB database of a node, and the only code that talks to RocksDB.
//
// Writes are Batches committed atomically (one RocksDB WriteBatch). A Batch also carries the counters
// persisted with it (last event sequence, record count delta), so those counters can never disagree
// with the data after a crash: meta/seq and meta/records are rewritten inside the same WriteBatch.
//
// Threading: Open, Get, Scan and Commit are called from one thread (the broker thread). The WalSyncer
// thread only calls RocksDB's SyncWAL, which RocksDB allows concurrently with writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"
#include "storage/wal_syncer.h"

namespace rocksdb { class DB; }

namespace mqdb {

struct StoreOptions {
  std::string path;
  Durability durability = Durability::kPeriodic;
  int durability_ms = 10;
};

// A set of writes applied all-or-nothing. A plain value: building one touches no database.
class Batch {
 public:
  struct Op {
    bool put;  // false: delete
    std::string key;
    std::string value;
  };
  void Put(std::string key, std::string value) { ops_.push_back({true, std::move(key), std::move(value)}); }
  void Delete(std::string key) { ops_.push_back({false, std::move(key), {}}); }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty() && !last_seq && record_delta == 0; }

  std::optional<uint64_t> last_seq;  // new meta/seq, written with the batch
  int64_t record_delta = 0;          // change of meta/records

 private:
  std::vector<Op> ops_;
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

  // Visits the keys starting with `prefix` in byte order, from `start` (inclusive; empty: from the
  // prefix) until `visit` returns false.
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  Status Scan(std::string_view prefix, const Visitor& visit, std::string_view start = {}) const;

  // Applies the batch atomically. Returns the commit's durability ticket (see WalSyncer).
  Result<uint64_t> Commit(const Batch& batch);

  uint64_t last_seq() const { return last_seq_; }
  int64_t record_count() const { return record_count_; }
  WalSyncer& syncer() { return *syncer_; }
  Durability durability() const { return options_.durability; }
  uint64_t ApproximateBytes() const;

 private:
  Store(StoreOptions options, rocksdb::DB* db);
  Status LoadCounters();

  StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<WalSyncer> syncer_;
  uint64_t last_seq_ = 0;
  int64_t record_count_ = 0;
};

}  // namespace mqdb
