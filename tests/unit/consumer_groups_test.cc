#include "outbox/consumer_groups.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "outbox/outbox.h"
#include "storage/records.h"
#include "test_util.h"

namespace mqdb {
namespace {

using test::J;

class GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_ = std::move(Store::Open({dir_.path(), Durability::kNone, 10}).value());
    records_ = std::make_unique<Records>(*store_, catalog_, [this] { return now_; });
    outbox_ = std::make_unique<Outbox>(*store_, OutboxOptions{1, 100, 200});
    ASSERT_TRUE(outbox_->Recover().ok());
    groups_ = std::make_unique<ConsumerGroups>(*store_, 30);
    groups_->SetDeliver([this](const Delivery& d) {
      if (fail_calls.count(++calls)) return Status::Unavailable("injected");
      delivered.push_back(d);
      return Status::Ok();
    });
    ASSERT_TRUE(groups_->Load(now_).ok());
  }
  void Reopen() {
    groups_.reset();
    outbox_.reset();
    records_.reset();
    store_.reset();
    Open();
  }
  std::string Join(const std::string& group, const std::string& mode, const std::string& client, bool clean = true) {
    auto r = groups_->Subscribe(J(R"({"entity":"orders","group":")" + group + R"(","mode":")" + mode + R"("})").get(),
                                client, clean, now_);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? GetString(r.value().get(), "id").value() : "";
  }
  // One write per record id (Create), dispatched to the groups.
  void Write(const std::string& id, const std::string& entity = "orders") {
    Batch b;
    auto r = records_->Create(entity, J(R"({"id":")" + id + R"("})"), b);
    ASSERT_TRUE(r.ok()) << r.status().message();
    OutboxEntry e = outbox_->Stage(r->changes, "writer", b, now_);
    ASSERT_TRUE(store_->Commit(b).ok());
    outbox_->Committed(std::move(e), 1);
  }
  void Update(const std::string& id) {
    Batch b;
    auto r = records_->Update("orders", id, J(R"({"n":1})").get(), b);
    ASSERT_TRUE(r.ok());
    OutboxEntry e = outbox_->Stage(r->changes, "writer", b, now_);
    ASSERT_TRUE(store_->Commit(b).ok());
    outbox_->Committed(std::move(e), 1);
  }
  // Each call is an hour later than the last: any scheduled retry is due.
  void Dispatch() { outbox_->Dispatch(Sinks(), UINT64_MAX, now_ + (dispatch_hours_ += 3600000)); }
  std::vector<EventSink*> Sinks() {
    std::vector<EventSink*> s;
    groups_->AppendSinks(s);
    return s;
  }
  int64_t dispatch_hours_ = 0;
  // member topic -> record ids of events received (Rebalance messages excluded)
  std::map<std::string, std::vector<std::string>> ByMember() {
    std::map<std::string, std::vector<std::string>> m;
    for (const auto& d : delivered) {
      Json p = J(d.payload);
      if (GetString(p.get(), "operation") == "Rebalance") continue;
      m[d.topic].push_back(GetString(p.get(), "id").value());
    }
    return m;
  }
  static std::string Topic(const std::string& id) { return "$DB/_sub/" + id + "/events"; }

  test::TempDir dir_;
  Catalog catalog_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Records> records_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<ConsumerGroups> groups_;
  std::vector<Delivery> delivered;
  std::set<int> fail_calls;  // delivery attempts (1-based) that fail
  int calls = 0;
  int64_t now_ = 1700000000000;
};

TEST_F(GroupsTest, LoadBalancedGivesEachEventToExactlyOneMemberEvenly) {
  std::string a = Join("billing", "load_balanced", "ca"), b = Join("billing", "load_balanced", "cb"),
              c = Join("billing", "load_balanced", "cc");
  for (int i = 0; i < 31; ++i) Write("o" + std::to_string(i));
  Write("x1", "users");  // another entity: not the group's business
  Dispatch();
  auto by = ByMember();
  std::multiset<std::string> all;
  for (const auto& [topic, ids] : by) {
    all.insert(ids.begin(), ids.end());
    EXPECT_GE(ids.size(), 10u);
    EXPECT_LE(ids.size(), 11u);
  }
  EXPECT_EQ(all.size(), 31u);
  for (const auto& id : all) EXPECT_EQ(all.count(id), 1u) << id;
  for (const auto& d : delivered) {
    if (d.topic == Topic(a)) { EXPECT_EQ(d.client_id, "ca"); }
    if (d.topic == Topic(c)) { EXPECT_EQ(d.client_id, "cc"); }
  }
  (void)b;
}

TEST_F(GroupsTest, BroadcastGivesEveryMemberEveryEvent) {
  std::string a = Join("audit", "broadcast", "ca"), b = Join("audit", "broadcast", "cb");
  for (int i = 0; i < 5; ++i) Write("o" + std::to_string(i));
  Dispatch();
  auto by = ByMember();
  EXPECT_EQ(by[Topic(a)].size(), 5u);
  EXPECT_EQ(by[Topic(b)].size(), 5u);
}

TEST_F(GroupsTest, OrderedKeepsEachRecordOnOneMemberAcrossARebalance) {
  std::string a = Join("ship", "ordered", "ca"), b = Join("ship", "ordered", "cb");
  for (int i = 0; i < 20; ++i) Write("o" + std::to_string(i));
  Dispatch();
  std::map<std::string, std::string> owner;  // record -> member topic
  for (const auto& [topic, ids] : ByMember()) for (const auto& id : ids) owner[id] = topic;
  EXPECT_EQ(owner.size(), 20u);
  for (int i = 0; i < 20; ++i) Update("o" + std::to_string(i));
  Dispatch();
  std::map<std::string, std::set<std::string>> topics_per_record;
  for (const auto& [topic, ids] : ByMember()) for (const auto& id : ids) topics_per_record[id].insert(topic);
  for (const auto& [id, topics] : topics_per_record) EXPECT_EQ(topics.size(), 1u) << id;
  // c joins: some partitions move; the members that lost some are told.
  delivered.clear();
  std::string c = Join("ship", "ordered", "cc");
  size_t rebalances = 0;
  for (const auto& d : delivered) {
    Json p = J(d.payload);
    if (GetString(p.get(), "operation") == "Rebalance") ++rebalances;
  }
  EXPECT_EQ(rebalances, 2u) << "a and b both gave partitions to c";
  (void)a; (void)b; (void)c;
}

TEST_F(GroupsTest, ModeMixingAndLimitsAreConflicts) {
  Join("g", "ordered", "c1");
  auto mixed = groups_->Subscribe(J(R"({"entity":"orders","group":"g","mode":"broadcast"})").get(), "c2", true, now_);
  EXPECT_EQ(mixed.status().ToString(), "409 group g uses mode ordered");
  for (size_t i = 1; i < kMaxMembersPerGroup; ++i) Join("g", "ordered", "c" + std::to_string(i + 1));
  auto full = groups_->Subscribe(J(R"({"entity":"orders","group":"g","mode":"ordered"})").get(), "cx", true, now_);
  EXPECT_EQ(full.status().ToString(), "409 group g is full (64 members)");
  EXPECT_EQ(groups_->Subscribe(J(R"({"entity":"orders","group":"_x"})").get(), "c", true, now_).status().code(), 400);
  EXPECT_EQ(groups_->Subscribe(J(R"({"entity":"orders","group":"g2","mode":"fifo"})").get(), "c", true, now_)
                .status().message(), "mode must be broadcast, load_balanced or ordered");
}

TEST_F(GroupsTest, SilentMembersLeaveAndEventsInFlightAreNotRequeued) {
  std::string a = Join("lb", "load_balanced", "ca");
  Write("early");
  Dispatch();  // "early" went to a, the only member
  std::string b = Join("lb", "load_balanced", "cb");
  now_ += 20000;
  ASSERT_TRUE(groups_->Heartbeat(b, "cb", now_).ok());
  now_ += 15000;  // a silent for 35 s, b for 15 s
  groups_->ExpireSilent(now_);
  EXPECT_EQ(groups_->member_count(), 1u);
  Write("late");
  Dispatch();
  auto by = ByMember();
  EXPECT_EQ(by[Topic(a)], (std::vector<std::string>{"early"}));
  EXPECT_EQ(by[Topic(b)], (std::vector<std::string>{"late"})) << "b never receives what a was given";
}

TEST_F(GroupsTest, MembershipAndPartitionsSurviveRestart) {
  std::string a = Join("ship", "ordered", "ca"), b = Join("ship", "ordered", "cb", false);
  Json before = std::move(groups_->GroupJson("ship", now_).value());
  Reopen();
  EXPECT_EQ(groups_->member_count(), 2u);
  Json after = std::move(groups_->GroupJson("ship", now_).value());
  // Same members with the same partitions (heartbeats are reset by the restart).
  for (const cJSON* g : {before.get(), after.get()}) {
    for (cJSON* m = cJSON_GetObjectItem(cJSON_GetArrayItem(g, 0), "members")->child; m; m = m->next) {
      cJSON_DeleteItemFromObject(m, "last_heartbeat_ms");
      cJSON_DeleteItemFromObject(m, "silent_ms");
    }
  }
  EXPECT_EQ(Print(after.get()), Print(before.get()));
  groups_->ClientGone("ca");
  EXPECT_EQ(groups_->member_count(), 1u);
  EXPECT_EQ(groups_->Heartbeat(b, "someone-else", now_).status().code(), 403);
  EXPECT_EQ(groups_->Unsubscribe("nope", "cb").status().code(), 404);
  ASSERT_TRUE(groups_->Unsubscribe(b, "cb").ok());
  EXPECT_EQ(groups_->member_count(), 0u);
  (void)a;
}

TEST_F(GroupsTest, AFailedGroupDeliveryResumesWithoutDuplicates) {
  std::string a = Join("bc", "broadcast", "ca"), b = Join("bc", "broadcast", "cb");
  Write("o1");
  Write("o2");
  fail_calls = {2, 3};  // o1 reaches a, then fails for b; the first retry fails for b again
  outbox_->Dispatch(Sinks(), UINT64_MAX, now_);
  Dispatch();
  Dispatch();
  auto by = ByMember();
  EXPECT_EQ(by[Topic(a)], (std::vector<std::string>{"o1", "o2"})) << "a is not given o1 again by the retries";
  EXPECT_EQ(by[Topic(b)], (std::vector<std::string>{"o1", "o2"}));
}

}  // namespace
}  // namespace mqdb
