// Live queries (PROTOCOL.md §6): consumer groups with "filters" and "snapshot", through the Service
// on a real RocksDB, deliveries captured where the broker's targeted publish would send them.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <map>

#include "plugin/service.h"
#include "service_fixture.h"
#include "test_util.h"

namespace mqdb {
namespace {

class LiveQueryTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    Config c = test::ServiceConfig(dir_.path());
    c.ownership = {{"notes", "owner"}};
    svc_.reset();
    svc_ = std::move(Service::Open(c).value());
    svc_->SetGroupDelivery([this](const Delivery& d) {
      delivered.push_back(d);
      return Status::Ok();
    });
  }
  Service::Reply Call(const std::string& topic, const std::string& payload, const std::string& user = "admin") {
    auto r = svc_->Handle({topic, payload, "client-" + user, user});
    svc_->Pump({});
    return r;
  }
  std::string Text(const Service::Reply& r) { return r.envelope ? *r.envelope : Service::Envelope(r); }
  // "match" and record id of each delivery so far, then forgets them.
  std::vector<std::string> Seen() {
    std::vector<std::string> out;
    for (const auto& d : delivered) {
      auto j = ParseStored(d.payload);
      EXPECT_TRUE(j.ok()) << d.payload;
      if (!j.ok()) continue;
      out.push_back(GetString(j.value().get(), "match").value_or("-") + " " + GetString(j.value().get(), "id").value_or("?"));
    }
    delivered.clear();
    return out;
  }
  std::string Subscribe(const std::string& body, const std::string& user = "admin") {
    auto r = Call("$DB/_sub/subscribe", body, user);
    EXPECT_TRUE(r.status.ok()) << body << ": " << r.status.message();
    return Text(r);
  }

  test::TempDir dir_;
  std::unique_ptr<Service> svc_;
  std::vector<Delivery> delivered;
};

const char* kAdults = R"({"entity":"users","group":"adults","mode":"broadcast","filters":[{"field":"age","op":"gte","value":18}]})";

// Enter, stay, leave: the member sees a record come into, change within and go out of its result set,
// and nothing of records that never match.
TEST_F(LiveQueryTest, OnlyMatchingRecordsReachTheMemberWithTheirMatch) {
  Subscribe(kAdults);
  Call("$DB/users/create", R"({"id":"a","age":30})");
  Call("$DB/users/create", R"({"id":"k","age":10})");
  EXPECT_EQ(Seen(), (std::vector<std::string>{"enter a"}));
  Call("$DB/users/k/update", R"({"age":11})");   // no -> no
  Call("$DB/users/k/update", R"({"age":18})");   // no -> yes
  Call("$DB/users/a/update", R"({"name":"A"})");  // yes -> yes
  Call("$DB/users/a/update", R"({"age":17})");   // yes -> no
  EXPECT_EQ(Seen(), (std::vector<std::string>{"enter k", "stay a", "leave a"}));
  Call("$DB/users/a/delete", "");  // did not match: nothing
  Call("$DB/users/k/delete", "");  // matched
  EXPECT_EQ(Seen(), (std::vector<std::string>{"leave k"}));
  // The delivery is the event with "match" in front, nothing else changed.
  Call("$DB/users/create", R"({"id":"z","age":40})");
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].payload.rfind(R"({"match":"enter","sequence":)", 0), 0u) << delivered[0].payload;
}

TEST_F(LiveQueryTest, FiltersAreValidatedAndTheSameForEveryMember) {
  auto bad = Call("$DB/_sub/subscribe", R"({"entity":"users","group":"g","filters":[{"field":"age","op":"bigger","value":1}]})");
  EXPECT_EQ(bad.status.code(), 400);
  EXPECT_EQ(bad.status.message(), "unknown filter op: bigger");
  Subscribe(kAdults);
  auto other = Call("$DB/_sub/subscribe", R"({"entity":"users","group":"adults","mode":"broadcast","filters":[]})");
  EXPECT_EQ(other.status.code(), 409);
  EXPECT_EQ(other.status.message(), "group adults uses other filters");
  auto none = Call("$DB/_sub/subscribe", R"({"entity":"users","group":"adults","mode":"broadcast"})");
  EXPECT_EQ(none.status.code(), 409);
  EXPECT_EQ(Call("$DB/_sub/subscribe", R"({"entity":"users","group":"g2","limit":5})").status.message(),
            "limit goes with \"snapshot\":true");
  EXPECT_EQ(Call("$DB/_sub/subscribe", R"({"entity":"users","group":"g2","snapshot":1})").status.message(),
            "snapshot must be true or false");
}

// The snapshot and the live events meet without a gap or a double: events already committed when the
// snapshot was read (still queued for delivery) are not given to the member again.
TEST_F(LiveQueryTest, ASnapshotIsFollowedByExactlyTheLaterChanges) {
  svc_->Handle({"$DB/users/create", R"({"id":"a","age":30})", "c", "admin"});
  svc_->Handle({"$DB/users/create", R"({"id":"b","age":5})", "c", "admin"});
  svc_->Handle({"$DB/users/create", R"({"id":"c","age":50})", "c", "admin"});
  // Not pumped: the three creates' events are still in the outbox when the member joins.
  auto r = svc_->Handle({"$DB/_sub/subscribe", std::string(kAdults).insert(std::string(kAdults).size() - 1, R"(,"snapshot":true)"),
                         "client-admin", "admin"});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  auto env = ParseStored(Text(r));
  const cJSON* snap = cJSON_GetObjectItem(cJSON_GetObjectItem(env.value().get(), "data"), "snapshot");
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(cJSON_GetObjectItem(snap, "sequence")->valuedouble, 3);
  const cJSON* recs = cJSON_GetObjectItem(snap, "records");
  ASSERT_EQ(cJSON_GetArraySize(recs), 2);
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "id")->valuestring, "a");
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 1), "id")->valuestring, "c");
  svc_->Pump({});
  EXPECT_TRUE(Seen().empty()) << "the queued creates are in the snapshot";
  Call("$DB/users/b/update", R"({"age":20})");
  EXPECT_EQ(Seen(), (std::vector<std::string>{"enter b"}));
}

// A user's live query on an owned entity sees only that user's records; without filters a non-admin
// still may not follow an owned entity.
TEST_F(LiveQueryTest, OwnershipScopesALiveQueryToTheRequestersRecords) {
  EXPECT_EQ(Call("$DB/_sub/subscribe", R"({"entity":"notes","group":"mine"})", "alice").status.code(), 403);
  Subscribe(R"({"entity":"notes","group":"mine","filters":[]})", "alice");
  Call("$DB/notes/create", R"({"id":"n1","text":"alice's"})", "alice");
  Call("$DB/notes/create", R"({"id":"n2","text":"bob's"})", "bob");
  Call("$DB/notes/n2/update", R"({"text":"still bob's"})", "bob");
  EXPECT_EQ(Seen(), (std::vector<std::string>{"enter n1"}));
  auto snap = Call("$DB/_sub/subscribe", R"({"entity":"notes","group":"mine2","filters":[],"snapshot":true})", "alice");
  ASSERT_TRUE(snap.status.ok());
  EXPECT_NE(Text(snap).find("\"n1\""), std::string::npos);
  EXPECT_EQ(Text(snap).find("\"n2\""), std::string::npos) << "bob's record is not in alice's snapshot";
}

// The filters survive a restart; an update recovered from the outbox after one has no before-image
// and is delivered as "enter" when its record matches (an upsert on the member's side).
TEST_F(LiveQueryTest, FiltersSurviveARestartAndRecoveredUpdatesDegradeSafely) {
  Subscribe(R"({"entity":"users","group":"adults","mode":"broadcast","filters":[{"field":"age","op":"gte","value":18}]})");
  Call("$DB/users/create", R"({"id":"a","age":30})");
  Seen();
  svc_->Handle({"$DB/users/a/update", R"({"name":"A"})", "c", "admin"});  // queued, not delivered
  Open();  // the update's entry is recovered, without its before-image
  svc_->Pump({});
  // (The create is published once more too: entries delivered in the last 200 ms before a stop are.)
  std::vector<std::string> updates;
  for (const auto& d : delivered) {
    auto j = ParseStored(d.payload);
    if (j.ok() && GetString(j.value().get(), "operation") == std::optional<std::string>("Update")) {
      updates.push_back(GetString(j.value().get(), "match").value_or("-"));
    }
  }
  delivered.clear();
  EXPECT_EQ(updates, (std::vector<std::string>{"enter"}));
  Call("$DB/users/create", R"({"id":"k","age":3})");
  Call("$DB/users/a/update", R"({"name":"B"})");
  EXPECT_EQ(Seen(), (std::vector<std::string>{"stay a"})) << "the filters were reloaded";
}

// Many live queries on one entity: the index by equality filter gives each write to exactly the
// groups its values before and after can match (and to those without an equality filter).
TEST_F(LiveQueryTest, TheIndexGivesAWriteToTheGroupsItConcernsOnly) {
  for (int i = 0; i < 50; ++i) {
    Subscribe(R"({"entity":"items","group":"k)" + std::to_string(i) + R"(","filters":[{"field":"k","op":"eq","value":)" +
              std::to_string(i) + "}]}");
  }
  Subscribe(R"({"entity":"items","group":"big","filters":[{"field":"k","op":"gte","value":40}]})");
  Subscribe(R"({"entity":"items","group":"named","filters":[{"field":"name","op":"eq","value":"x"},{"field":"k","op":"lt","value":10}]})");
  auto groups_of = [&](const std::vector<Delivery>& ds) {
    std::vector<std::string> topics;
    for (const auto& d : ds) {
      auto j = ParseStored(d.payload);
      topics.push_back(GetString(j.value().get(), "match").value_or("-") + "@" + d.topic);
    }
    std::sort(topics.begin(), topics.end());
    return topics;
  };
  // Member topics, by group: the subscribe replies gave them; find them by delivering once.
  Call("$DB/items/create", R"({"id":"a","k":3})");
  ASSERT_EQ(delivered.size(), 1u);
  const std::string k3 = delivered[0].topic;
  delivered.clear();
  Call("$DB/items/a/update", R"({"k":45})");  // leaves k3, enters k45 and big
  auto moved = groups_of(delivered);
  ASSERT_EQ(moved.size(), 3u);
  EXPECT_EQ(std::count_if(moved.begin(), moved.end(), [](const std::string& t) { return t.rfind("enter@", 0) == 0; }), 2);
  EXPECT_NE(std::find(moved.begin(), moved.end(), "leave@" + k3), moved.end());
  delivered.clear();
  Call("$DB/items/create", R"({"id":"b","k":99,"name":"x"})");  // no group for 99; big; named does not match (k < 10)
  EXPECT_EQ(Seen(), (std::vector<std::string>{"enter b"}));
  Call("$DB/items/create", R"({"id":"c","k":5,"name":"x"})");  // k5 and named
  EXPECT_EQ(Seen(), (std::vector<std::string>{"enter c", "enter c"}));
}

// Model-based: after a snapshot, applying the deliveries (enter/stay: upsert, leave: remove) keeps a
// view equal to a fresh list with the same filters, at every point of a random write sequence.
TEST_F(LiveQueryTest, SnapshotPlusDeliveriesEqualsAFreshListThroughoutRandomWrites) {
  std::mt19937 rng(20261204);
  auto rand = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::string filters = R"([{"field":"k","op":"gte","value":5}])";
  std::map<std::string, std::string> view;  // id -> record as delivered
  bool joined = false;
  double snapshot_seq = 0, last_seq = 0;
  for (int step = 0; step < 400; ++step) {
    const std::string id = "r" + std::to_string(rand(30));
    switch (rand(4)) {
      case 0: case 1:
        svc_->Handle({"$DB/w/create", R"({"id":")" + id + R"(","k":)" + std::to_string(rand(10)) + "}", "c", "admin"});
        break;
      case 2:
        svc_->Handle({"$DB/w/" + id + "/update", R"({"k":)" + std::to_string(rand(10)) + "}", "c", "admin"});
        break;
      default:
        svc_->Handle({"$DB/w/" + id + "/delete", "", "c", "admin"});
    }
    // Deliveries lag the writes at times, and always just before the member joins: the snapshot is
    // then read while events it already reflects still wait in the outbox.
    if (rand(3) == 0 && !(step >= 80 && step <= 100)) svc_->Pump({});
    if (!joined && step == 100) {
      auto r = svc_->Handle({"$DB/_sub/subscribe", R"({"entity":"w","group":"view","filters":)" + filters +
                                                       R"(,"snapshot":true,"limit":10000})", "client-admin", "admin"});
      ASSERT_TRUE(r.status.ok()) << r.status.message();
      auto env = ParseStored(Text(r));
      const cJSON* snap = cJSON_GetObjectItem(cJSON_GetObjectItem(env.value().get(), "data"), "snapshot");
      snapshot_seq = cJSON_GetObjectItem(snap, "sequence")->valuedouble;
      for (const cJSON* rec = cJSON_GetObjectItem(snap, "records")->child; rec; rec = rec->next) {
        view[cJSON_GetObjectItem(rec, "id")->valuestring] = Print(rec);
      }
      delivered.clear();  // nothing was delivered to the new member yet
      joined = true;
    }
    if (!joined || rand(5) != 0) continue;
    svc_->Pump({});
    for (const auto& d : delivered) {
      auto ev = ParseStored(d.payload);
      ASSERT_TRUE(ev.ok());
      const std::string match = GetString(ev.value().get(), "match").value_or("");
      const std::string rid = GetString(ev.value().get(), "id").value_or("");
      const double seq = GetNumber(ev.value().get(), "sequence").value_or(0);
      ASSERT_GT(seq, snapshot_seq) << "an event the snapshot already holds was delivered (a double)";
      ASSERT_GT(seq, last_seq) << "out of order";
      last_seq = seq;
      if (match == "leave") view.erase(rid);
      else view[rid] = Print(cJSON_GetObjectItem(ev.value().get(), "data"));
    }
    delivered.clear();
    auto list = svc_->Handle({"$DB/w/list", R"({"limit":10000,"filters":)" + filters + "}", "c", "admin"});
    auto page = ParseStored(Text(list));
    std::map<std::string, std::string> fresh;
    for (const cJSON* rec = cJSON_GetObjectItem(page.value().get(), "data")->child; rec; rec = rec->next) {
      fresh[cJSON_GetObjectItem(rec, "id")->valuestring] = Print(rec);
    }
    ASSERT_EQ(view, fresh) << "at step " << step;
  }
  EXPECT_TRUE(joined);
}

// Every group mode works with filters: load_balanced gives each matching event to one member,
// ordered to the member owning the record's partition, always with its match.
TEST_F(LiveQueryTest, FiltersWorkInEveryMode) {
  for (const char* mode : {"load_balanced", "ordered"}) {
    const std::string group = std::string("m-") + mode;
    const std::string entity = std::string("jobs-") + mode;  // one entity per mode: the other group stays quiet
    const std::string body = R"({"entity":")" + entity + R"(","group":")" + group + R"(","mode":")" + mode +
                             R"(","filters":[{"field":"urgent","op":"eq","value":true}]})";
    auto a = svc_->Handle({"$DB/_sub/subscribe", body, "member-a", "admin"});
    auto b = svc_->Handle({"$DB/_sub/subscribe", body, "member-b", "admin"});
    ASSERT_TRUE(a.status.ok() && b.status.ok()) << a.status.message() << b.status.message();
    svc_->Pump({});
    delivered.clear();
    for (int i = 0; i < 20; ++i) {
      Call("$DB/" + entity + "/create", R"({"id":")" + group + std::to_string(i) + R"(","urgent":)" + (i % 2 ? "true" : "false") + "}");
    }
    std::map<std::string, int> per_member;
    size_t events = 0;
    for (const auto& d : delivered) {
      auto j = ParseStored(d.payload);
      if (GetString(j.value().get(), "operation") == std::optional<std::string>("Rebalance")) continue;
      EXPECT_EQ(GetString(j.value().get(), "match"), std::optional<std::string>("enter")) << d.payload;
      ++per_member[d.client_id];
      ++events;
    }
    delivered.clear();
    EXPECT_EQ(events, 10u) << mode << ": each of the 10 urgent jobs once, the others never";
    if (std::string(mode) == "load_balanced") {
      EXPECT_EQ(per_member["member-a"], 5);
      EXPECT_EQ(per_member["member-b"], 5);
    }
  }
}

// A cascade's set_null is an Update like any other: its before-image decides the match, so a child
// that never matched is not announced as leaving.
TEST_F(LiveQueryTest, CascadeUpdatesCarryTheirBeforeImage) {
  ASSERT_TRUE(Call("$DB/_admin/constraint/parts/add",
                   R"({"type":"foreign_key","field":"box_id","target_entity":"boxes","on_delete":"set_null"})").status.ok());
  Call("$DB/boxes/create", R"({"id":"b1"})");
  Call("$DB/parts/create", R"({"id":"blue","color":"blue","box_id":"b1"})");
  Call("$DB/parts/create", R"({"id":"red","color":"red","box_id":"b1"})");
  Subscribe(R"({"entity":"parts","group":"reds","filters":[{"field":"color","op":"eq","value":"red"}]})");
  Call("$DB/boxes/b1/delete", "");
  EXPECT_EQ(Seen(), (std::vector<std::string>{"stay red"})) << "the blue part never matched";
}

}  // namespace
}  // namespace mqdb
