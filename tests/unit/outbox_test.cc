#include "outbox/outbox.h"

#include <gtest/gtest.h>

#include <map>

#include "fault_sink.h"
#include "storage/keys.h"
#include "test_util.h"

namespace mqdb {
namespace {

using test::J;

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_ = std::move(Store::Open({dir_.path(), Durability::kNone, 10}).value());
    records_ = std::make_unique<Records>(*store_, catalog_, [] { return int64_t{1700000000000}; });
    outbox_ = std::make_unique<Outbox>(*store_, OutboxOptions{1, 3, 200});
    ASSERT_TRUE(outbox_->Recover().ok());
  }
  void Reopen() {
    outbox_.reset();
    records_.reset();
    store_.reset();
    Open();
  }
  // One write touching `n` records as a single outbox entry (a cascade-like multi-event write).
  void WriteMany(int n, const std::string& tag) {
    std::vector<Change> changes;
    Batch b;
    for (int i = 0; i < n; ++i) {
      auto r = records_->Create("items", J(R"({"id":")" + tag + std::to_string(i) + R"("})"), b);
      ASSERT_TRUE(r.ok());
      for (auto& c : r->changes) changes.push_back(std::move(c));
    }
    OutboxEntry e = outbox_->Stage(changes, "client-1", b, now_);
    auto ticket = store_->Commit(b);
    ASSERT_TRUE(ticket.ok());
    outbox_->Committed(std::move(e), ticket.value());
  }
  size_t StoredEntries(std::string_view prefix) {
    size_t n = 0;
    store_->Scan(prefix, [&](std::string_view, std::string_view) { ++n; return true; });
    return n;
  }
  static std::map<std::string, int> Multiset(const test::FaultSink& s) {
    std::map<std::string, int> m;
    for (const auto& d : s.delivered) ++m[d.payload];
    return m;
  }
  void Dispatch(test::FaultSink& s, int64_t now = 1LL << 60) { outbox_->Dispatch({&s}, UINT64_MAX, now); }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
  Catalog catalog_;
  std::unique_ptr<Records> records_;
  std::unique_ptr<Outbox> outbox_;
  int64_t now_ = 1000000;
};

TEST_F(OutboxTest, StageAddsEntryAndSequenceToTheSameBatch) {
  Batch b;
  auto r = records_->Create("items", J(R"({"id":"a"})"), b);
  OutboxEntry e = outbox_->Stage(r->changes, "c", b, now_);
  EXPECT_EQ(e.first_seq, 1u);
  EXPECT_EQ(b.last_seq, 1u);
  EXPECT_EQ(b.ops().back().key, keys::Outbox(1));
  auto decoded = DecodeEntry(b.ops().back().value);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->events.size(), 1u);
  EXPECT_EQ(decoded->events[0].topic, "$DB/items/events/a");
  EXPECT_EQ(decoded->Progress("broker"), 0u);
  Json ev = J(decoded->events[0].payload);
  EXPECT_EQ(GetString(ev.get(), "operation"), "Create");
  EXPECT_EQ(GetNumber(ev.get(), "sequence"), 1);
  EXPECT_EQ(GetString(ev.get(), "operation_id"), e.operation_id);
}

// Events are assembled as text around the stored record; they must be exactly what printing the
// event object with cJSON gives, whatever the strings contain.
TEST_F(OutboxTest, EventTextIsWhatCJsonPrintsForTheEventObject) {
  Batch b;
  auto r = records_->Create("items", J(R"({"id":"q\"x","s":"tab\there \u00e9 \u0001","n":1.5,"big":1700000000123})"), b);
  ASSERT_TRUE(r.ok());
  std::vector<Change> changes = std::move(r->changes);
  changes.push_back({ChangeKind::kDelete, "items", "z", J(R"({"id":"z"})"), "", ""});  // not printed before
  OutboxEntry e = BuildEntry(changes, 41, "op\"1", "o");
  ASSERT_EQ(e.events.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    Json ev = NewObject();
    cJSON_AddNumberToObject(ev.get(), "sequence", 41.0 + i);
    cJSON_AddStringToObject(ev.get(), "entity", "items");
    cJSON_AddStringToObject(ev.get(), "id", changes[i].id.c_str());
    cJSON_AddStringToObject(ev.get(), "operation", i == 0 ? "Create" : "Delete");
    cJSON_AddItemToObject(ev.get(), "data", cJSON_Duplicate(changes[i].data.get(), true));
    cJSON_AddStringToObject(ev.get(), "operation_id", "op\"1");
    EXPECT_EQ(e.events[i].payload, Print(ev.get()));
  }
}

TEST_F(OutboxTest, EncodedEntriesRoundTripAndCorruptOnesAreRefused) {
  OutboxEntry e;
  e.first_seq = 7;
  e.operation_id = "op";
  e.origin = "client \"one\"";
  e.events = {{7, "$DB/a/events/1", R"({"x":"line\nbreak"})"}, {8, "$DB/a/events/2", "{}"}};
  e.dispatched = {{"broker", 1}, {"group\"g", 2}};
  e.retries = 3;
  e.next_attempt_ms = 1700000000123;
  std::string text = EncodeEntry(e);
  auto d = DecodeEntry(text);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->first_seq, 7u);
  EXPECT_EQ(d->origin, e.origin);
  ASSERT_EQ(d->events.size(), 2u);
  EXPECT_EQ(d->events[0].payload, e.events[0].payload);
  EXPECT_EQ(d->events[1].topic, e.events[1].topic);
  EXPECT_EQ(d->events[1].sequence, 8u);
  EXPECT_EQ(d->dispatched, e.dispatched);
  EXPECT_EQ(d->retries, 3);
  EXPECT_EQ(d->next_attempt_ms, 1700000000123);
  for (size_t cut = 0; cut < text.size(); ++cut) {
    auto bad = DecodeEntry(text.substr(0, cut));
    // A cut exactly between two events is a well-formed shorter entry; anything else is corrupt.
    if (bad.ok()) { EXPECT_LT(bad->events.size(), 2u); }
  }
  EXPECT_FALSE(DecodeEntry("E2\n{}\n").ok()) << "no events";
  EXPECT_FALSE(DecodeEntry("E2\n{}\n1 5 99999999999999999999\nabc").ok());
}

// Entries written by the first version (one JSON object, payloads as strings) are still read.
TEST_F(OutboxTest, VersionOneEntriesAreStillDecoded) {
  auto d = DecodeEntry(R"({"operation_id":"op","origin":"c","events":[{"sequence":5,"topic":"$DB/a/events/1",)"
                       R"("payload":"{\"sequence\":5}"}],"dispatched":{"broker":1},"retries":2,"next_attempt_ms":9})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->first_seq, 5u);
  EXPECT_EQ(d->events[0].payload, R"({"sequence":5})");
  EXPECT_EQ(d->Progress("broker"), 1u);
  EXPECT_EQ(d->retries, 2);
}

TEST_F(OutboxTest, HappyPathDeliversOnceAndDeletesWithALaterWrite) {
  test::FaultSink sink;
  WriteMany(3, "a");
  Dispatch(sink, now_);
  EXPECT_EQ(sink.delivered.size(), 3u);
  EXPECT_EQ(sink.delivered[0].origin, "client-1");
  EXPECT_EQ(StoredEntries(keys::kOutboxPrefix), 1u);  // no extra write on the happy path
  WriteMany(1, "b");
  EXPECT_EQ(StoredEntries(keys::kOutboxPrefix), 2u) << "kept while the broker may still hold it in memory";
  now_ += 200;
  WriteMany(1, "c");
  EXPECT_EQ(StoredEntries(keys::kOutboxPrefix), 2u) << "a later batch deleted the delivered entry";
  Dispatch(sink, now_);
  ASSERT_TRUE(outbox_->FlushDelivered(now_).ok());
  EXPECT_EQ(StoredEntries(keys::kOutboxPrefix), 2u);
  EXPECT_FALSE(outbox_->HasDeletable(now_ + 199));
  EXPECT_TRUE(outbox_->HasDeletable(now_ + 200));
  ASSERT_TRUE(outbox_->FlushDelivered(now_ + 200).ok());
  EXPECT_EQ(StoredEntries(keys::kOutboxPrefix), 0u);
  EXPECT_EQ(sink.delivered.size(), 5u);
  EXPECT_EQ(outbox_->published(), 5u);
}

TEST_F(OutboxTest, ACrashInsideTheKeepWindowRedeliversInsteadOfLosing) {
  test::FaultSink sink;
  WriteMany(2, "k");
  Dispatch(sink, now_);
  WriteMany(1, "l");  // same instant: the delivered entry must survive this batch
  Reopen();
  test::FaultSink after;
  Dispatch(after);
  EXPECT_EQ(after.delivered.size(), 3u) << "both entries are replayed: duplicates, never a loss";
}

TEST_F(OutboxTest, FailureAtEveryPositionResumesWithoutDuplicates) {
  for (int fail_at = 1; fail_at <= 4; ++fail_at) {
    SCOPED_TRACE(fail_at);
    test::FaultSink sink;
    WriteMany(4, "p" + std::to_string(fail_at) + "-");
    sink.fail_when = [&](int attempt) { return attempt == fail_at; };
    Dispatch(sink, 0);
    EXPECT_EQ(sink.delivered.size(), static_cast<size_t>(fail_at - 1));
    EXPECT_EQ(outbox_->pending(), 1u);
    Dispatch(sink);  // retry time has come
    EXPECT_EQ(outbox_->pending(), 0u);
    auto m = Multiset(sink);
    EXPECT_EQ(m.size(), 4u);
    for (const auto& [payload, n] : m) EXPECT_EQ(n, 1) << payload;
  }
}

TEST_F(OutboxTest, ProgressIsPersistedOnFailureSoARestartResumesThere) {
  test::FaultSink sink;
  WriteMany(3, "x");
  sink.fail_when = [](int attempt) { return attempt == 3; };
  Dispatch(sink, 0);
  ASSERT_EQ(sink.delivered.size(), 2u);
  Reopen();  // crash after the failure: only what is on disk remains
  ASSERT_EQ(outbox_->pending(), 1u);
  test::FaultSink after;
  Dispatch(after);
  ASSERT_EQ(after.delivered.size(), 1u);
  EXPECT_EQ(GetNumber(J(after.delivered[0].payload).get(), "sequence"), 3);
}

TEST_F(OutboxTest, RecoveredEntriesGoOutFirstInSequenceOrder) {
  WriteMany(1, "old1-");
  WriteMany(2, "old2-");
  Reopen();
  WriteMany(1, "new-");
  test::FaultSink sink;
  Dispatch(sink);
  ASSERT_EQ(sink.delivered.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(GetNumber(J(sink.delivered[i].payload).get(), "sequence"), i + 1);
}

TEST_F(OutboxTest, SequencesSurviveRestart) {
  WriteMany(2, "a");
  Reopen();
  Batch b;
  auto r = records_->Create("items", J(R"({"id":"z"})"), b);
  EXPECT_EQ(outbox_->Stage(r->changes, "c", b, now_).first_seq, 3u);
}

// Writes leave meta/seq to the outbox entry that holds their last sequence (one key fewer per
// write); opening raises the sequence to what the entries hold.
TEST_F(OutboxTest, WritesLeaveTheSequenceToTheirEntries) {
  WriteMany(2, "a");
  WriteMany(3, "b");
  EXPECT_EQ(store_->last_seq(), 5u);
  auto stored = store_->Get(keys::kMetaSeq);
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored.value()) << "no write rewrote meta/seq";
  Reopen();
  EXPECT_EQ(store_->last_seq(), 5u);
}

// Whatever removes entries without adding a newer one writes meta/seq, and dead letters hold their
// sequences like queued entries: no restart hands out a sequence twice.
TEST_F(OutboxTest, SequencesSurviveEveryWayEntriesAreRemoved) {
  test::FaultSink sink;
  WriteMany(2, "a");  // 1-2
  Dispatch(sink, now_);
  now_ += 200;
  WriteMany(1, "b");  // 3; its batch deletes the delivered entry 1-2
  Dispatch(sink, now_);
  ASSERT_TRUE(outbox_->FlushDelivered(now_ + 200).ok());
  ASSERT_EQ(StoredEntries(keys::kOutboxPrefix), 0u);
  Reopen();
  EXPECT_EQ(store_->last_seq(), 3u) << "FlushDelivered removed the entry holding 3";

  sink.fail_when = [](int) { return true; };
  WriteMany(2, "c");  // 4-5, dead-lettered
  for (int64_t i = 1; i <= 20 && outbox_->pending(); ++i) Dispatch(sink, i * 3600 * 1000);
  ASSERT_EQ(outbox_->dead(), 1u);
  Reopen();
  EXPECT_EQ(store_->last_seq(), 5u) << "held by the dead letter";
  ASSERT_EQ(outbox_->Purge("").value(), 1u);
  Reopen();
  EXPECT_EQ(store_->last_seq(), 5u) << "Purge removed the entry holding 5";

  Batch b;
  auto r = records_->Create("items", J(R"({"id":"z"})"), b);
  EXPECT_EQ(outbox_->Stage(r->changes, "c", b, now_).first_seq, 6u);
}

// A backup's newest sequences may be held only by its outbox entries, which a restore drops: the
// sequence must be raised to them first, and that must be persisted.
TEST_F(OutboxTest, ARestoredOutboxRaisesTheSequenceBeforeItIsDropped) {
  WriteMany(3, "a");  // 1-3, held only by the entry
  test::TempDir backups, other_dir;
  ASSERT_TRUE(store_->Backup(backups.path(), "b1").ok());

  auto other = std::move(Store::Open({other_dir.path(), Durability::kNone, 10}).value());
  {
    Outbox other_outbox(*other, OutboxOptions{1, 3, 200});
    ASSERT_TRUE(other_outbox.Recover().ok());
    ASSERT_EQ(other->last_seq(), 0u);
    ASSERT_TRUE(other->Restore(backups.path(), "b1").ok());
    ASSERT_TRUE(other_outbox.ResetAfterRestore().ok());
    EXPECT_EQ(other->last_seq(), 3u);
  }
  size_t entries = 0;
  other->Scan(keys::kOutboxPrefix, [&](std::string_view, std::string_view) { ++entries; return true; });
  EXPECT_EQ(entries, 0u);
  other.reset();
  other = std::move(Store::Open({other_dir.path(), Durability::kNone, 10}).value());
  Outbox reopened(*other, OutboxOptions{1, 3, 200});
  ASSERT_TRUE(reopened.Recover().ok());
  EXPECT_EQ(other->last_seq(), 3u) << "persisted with the entries' deletion";
}

TEST_F(OutboxTest, DeadLetteredAfterMaxRetriesAtomically) {
  test::FaultSink sink;
  WriteMany(2, "d");
  sink.fail_when = [](int attempt) { return attempt != 1; };  // first event goes, then always fails
  for (int64_t i = 1; i <= 10 && outbox_->pending(); ++i) Dispatch(sink, i * 3600 * 1000);  // every retry is due
  EXPECT_EQ(outbox_->pending(), 0u);
  EXPECT_EQ(outbox_->dead(), 1u);
  EXPECT_EQ(StoredEntries(keys::kOutboxPrefix), 0u);
  EXPECT_EQ(StoredEntries(keys::kDeadPrefix), 1u);
  EXPECT_EQ(sink.delivered.size(), 1u);
  Reopen();
  EXPECT_EQ(outbox_->dead(), 1u);
}

TEST_F(OutboxTest, AFailingEntryHoldsBackLaterOnes) {
  test::FaultSink sink;
  WriteMany(1, "first");
  WriteMany(1, "second");
  sink.fail_when = [](int attempt) { return attempt == 1; };
  Dispatch(sink, 0);
  EXPECT_TRUE(sink.delivered.empty());
  EXPECT_EQ(outbox_->pending(), 2u);
  Dispatch(sink);
  ASSERT_EQ(sink.delivered.size(), 2u);
  EXPECT_NE(sink.delivered[0].payload.find("first"), std::string::npos);
}

TEST_F(OutboxTest, TargetsProgressIndependently) {
  test::FaultSink a("a"), b("b");
  WriteMany(3, "t");
  b.fail_when = [](int attempt) { return attempt == 2; };
  outbox_->Dispatch({&a, &b}, UINT64_MAX, 0);
  EXPECT_EQ(a.delivered.size(), 3u);
  EXPECT_EQ(b.delivered.size(), 1u);
  outbox_->Dispatch({&a, &b}, UINT64_MAX, 1LL << 60);
  EXPECT_EQ(a.delivered.size(), 3u) << "the healthy target gets nothing twice";
  EXPECT_EQ(b.delivered.size(), 3u);
}

TEST_F(OutboxTest, OnlyDurableWritesDispatch) {
  test::FaultSink sink;
  WriteMany(1, "a");  // ticket 1
  outbox_->Dispatch({&sink}, 0, 1LL << 60);
  EXPECT_TRUE(sink.delivered.empty());
  outbox_->Dispatch({&sink}, 1, 1LL << 60);
  EXPECT_EQ(sink.delivered.size(), 1u);
}

}  // namespace
}  // namespace mqdb

namespace mqdb {
namespace {

TEST_F(OutboxTest, RetryFromDeadLettersResumesWhereDeliveryFailed) {
  test::FaultSink sink;
  WriteMany(3, "r");
  bool broken = true;
  sink.fail_when = [&](int attempt) { return broken && attempt >= 2; };  // event 1 goes, then the target breaks
  for (int64_t i = 1; i <= 10 && outbox_->pending(); ++i) Dispatch(sink, i * 3600 * 1000);
  ASSERT_EQ(outbox_->dead(), 1u);
  ASSERT_EQ(sink.delivered.size(), 1u);
  auto dead = outbox_->DeadJson();
  ASSERT_TRUE(dead.ok());
  const cJSON* entry = cJSON_GetArrayItem(dead.value().get(), 0);
  std::string op = GetString(entry, "operation_id").value();
  EXPECT_EQ(GetNumber(cJSON_GetObjectItem(entry, "dispatched"), "broker"), 1);
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(entry, "events")), 3);

  EXPECT_EQ(outbox_->Retry("no-such-op").value(), 0u);
  broken = false;
  EXPECT_EQ(outbox_->Retry(op).value(), 1u);
  EXPECT_EQ(outbox_->dead(), 0u);
  EXPECT_EQ(StoredEntries(keys::kDeadPrefix), 0u);
  EXPECT_EQ(StoredEntries(keys::kOutboxPrefix), 1u);
  Dispatch(sink);
  auto m = Multiset(sink);
  EXPECT_EQ(sink.delivered.size(), 3u);
  EXPECT_EQ(m.size(), 3u) << "every event exactly once across dead-letter and retry";
}

TEST_F(OutboxTest, RetriedOldEntryGoesBeforeNewerOnes) {
  test::FaultSink sink;
  WriteMany(1, "old");
  sink.fail_when = [](int) { return true; };
  for (int64_t i = 1; i <= 10 && outbox_->pending(); ++i) Dispatch(sink, i * 3600 * 1000);
  ASSERT_EQ(outbox_->dead(), 1u);
  WriteMany(1, "new");
  ASSERT_EQ(outbox_->Retry("").value(), 1u);
  test::FaultSink healthy;
  Dispatch(healthy);
  ASSERT_EQ(healthy.delivered.size(), 2u);
  EXPECT_NE(healthy.delivered[0].payload.find("old"), std::string::npos);
}

TEST_F(OutboxTest, PurgeDeletesDeadLetters) {
  test::FaultSink sink;
  sink.fail_when = [](int) { return true; };
  WriteMany(1, "p1");
  WriteMany(1, "p2");
  for (int64_t i = 1; i <= 20 && outbox_->pending(); ++i) Dispatch(sink, i * 3600 * 1000);
  ASSERT_EQ(outbox_->dead(), 2u);
  std::string first = GetString(cJSON_GetArrayItem(outbox_->DeadJson().value().get(), 0), "operation_id").value();
  EXPECT_EQ(outbox_->Purge(first).value(), 1u);
  EXPECT_EQ(outbox_->dead(), 1u);
  EXPECT_EQ(outbox_->Purge("").value(), 1u);
  EXPECT_EQ(StoredEntries(keys::kDeadPrefix), 0u);
  Reopen();
  EXPECT_EQ(outbox_->dead(), 0u);
  EXPECT_EQ(outbox_->pending(), 0u);
  EXPECT_TRUE(sink.delivered.empty());
}

TEST_F(OutboxTest, EventsOfOwnedRecordsGoToTheOwnersTopic) {
  std::vector<Change> changes;
  changes.push_back({ChangeKind::kCreate, "notes", "n1", J(R"({"id":"n1"})"), "alice"});
  changes.push_back({ChangeKind::kCreate, "items", "i1", J(R"({"id":"i1"})"), ""});
  OutboxEntry e = BuildEntry(changes, 7, "op", "c");
  EXPECT_EQ(e.events[0].topic, "$DB/u/alice/events/notes/n1");
  EXPECT_EQ(e.events[1].topic, "$DB/items/events/i1");
}

TEST_F(OutboxTest, PendingJsonShowsQueuedEntries) {
  WriteMany(2, "v");
  Json pending = outbox_->PendingJson();
  ASSERT_EQ(cJSON_GetArraySize(pending.get()), 1);
  const cJSON* e = cJSON_GetArrayItem(pending.get(), 0);
  EXPECT_EQ(GetNumber(e, "sequence"), 1);
  EXPECT_EQ(GetString(e, "origin"), "client-1");
  EXPECT_EQ(GetString(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "events"), 1), "id"), "v1");
}

}  // namespace
}  // namespace mqdb
