// Consumer groups with real clients (PROTOCOL.md §6).
#include <map>
#include <set>

#include "harness.h"

namespace mqdb::it {
namespace {

struct Member {
  std::unique_ptr<Client> client;
  std::string id, topic;
  std::vector<int> partitions;
};

Member Join(const Broker& broker, const std::string& client_id, const std::string& group, const std::string& mode,
            bool clean = true) {
  Member m;
  m.client = std::make_unique<Client>(broker, client_id, 5, clean);
  Json r = m.client->Request("$DB/_sub/subscribe", R"({"entity":"orders","group":")" + group + R"(","mode":")" + mode + R"("})");
  EXPECT_TRUE(IsOk(r)) << Print(r.get());
  m.id = Str(Data(r), "id");
  m.topic = Str(Data(r), "topic");
  for (const cJSON* p = cJSON_GetObjectItem(Data(r), "partitions")->child; p; p = p->next) m.partitions.push_back(p->valueint);
  EXPECT_EQ(m.topic, "$DB/_sub/" + m.id + "/events");
  m.client->Subscribe(m.topic, 1);
  return m;
}

// Events (not Rebalance messages) among `msgs`: record id and sequence.
std::vector<std::pair<std::string, double>> Events(const std::vector<Message>& msgs) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& m : msgs) {
    Json p = m.Parsed();
    if (Str(p.get(), "operation") == "Rebalance") continue;
    out.emplace_back(Str(p.get(), "id"), Num(p.get(), "sequence"));
  }
  return out;
}

// Drains everything a member got until `quiet` passes without a message.
std::vector<Message> Drain(Member& m, std::chrono::milliseconds quiet = 300ms) {
  std::vector<Message> out;
  while (auto msg = m.client->Next(quiet)) if (msg->topic == m.topic) out.push_back(std::move(*msg));
  return out;
}

TEST(Groups, LoadBalancedSplitsEvenlyAndDeliversEachEventOnce) {
  Broker broker;
  ASSERT_TRUE(broker.Start()) << broker.Log();
  std::vector<Member> members;
  for (int i = 0; i < 3; ++i) members.push_back(Join(broker, "lb-" + std::to_string(i), "billing", "load_balanced"));
  Client writer(broker, "lb-writer");
  const int n = 30;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", R"({"id":"o)" + std::to_string(i) + R"("})")));
  std::multiset<std::string> all;
  size_t total = 0;
  for (auto& m : members) {
    auto got = Events(m.client->Collect(m.topic, n / 3, 10s));
    EXPECT_EQ(got.size(), static_cast<size_t>(n / 3));  // 30 over 3 members: exactly 10 each
    for (auto& [id, seq] : got) all.insert(id);
    total += got.size();
  }
  EXPECT_EQ(total, static_cast<size_t>(n));
  for (const auto& id : all) EXPECT_EQ(all.count(id), 1u) << id;
  for (auto& m : members) EXPECT_TRUE(Events(Drain(m)).empty()) << "nothing beyond the member's share";
}

TEST(Groups, BroadcastGivesEveryMemberEverything) {
  Broker broker;
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Member a = Join(broker, "bc-a", "audit", "broadcast"), b = Join(broker, "bc-b", "audit", "broadcast");
  Client writer(broker, "bc-writer");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", "{}")));
  EXPECT_EQ(Events(a.client->Collect(a.topic, 5)).size(), 5u);
  EXPECT_EQ(Events(b.client->Collect(b.topic, 5)).size(), 5u);
  Json conflict = writer.Request("$DB/_sub/subscribe", R"({"entity":"orders","group":"audit","mode":"ordered"})");
  EXPECT_EQ(Code(conflict), 409);
  EXPECT_EQ(MessageOf(conflict), "group audit uses mode broadcast");
}

TEST(Groups, OrderedKeepsPerRecordOrderAcrossARebalanceAndAGoneMembersPartitionsMove) {
  Broker broker({"admin_users admin", "sys_interval 1"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Member a = Join(broker, "ord-a", "ship", "ordered"), b = Join(broker, "ord-b", "ship", "ordered");
  EXPECT_EQ(a.partitions.size(), 16u) << "the first member owns every partition";
  EXPECT_EQ(b.partitions.size(), 8u) << "the second takes half (a is told by a Rebalance message)";
  Client writer(broker, "ord-writer");
  auto round = [&](const std::string& op) {
    for (int i = 0; i < 12; ++i) {
      std::string id = "r" + std::to_string(i);
      ASSERT_TRUE(IsOk(op == "create" ? writer.Request("$DB/orders/create", R"({"id":")" + id + R"("})")
                                      : writer.Request("$DB/orders/" + id + "/update", R"({"step":")" + op + R"("})")));
    }
  };
  round("create");
  round("u1");
  Member c = Join(broker, "ord-c", "ship", "ordered");  // rebalance: a and b give partitions to c
  round("u2");
  // An event handed to a member is never given to another (consumer_groups.h), and a clean-session
  // client gives up what is still on its way to it when it disconnects. So a takes what it was sent
  // (each write's event leaves the broker just after the write's response) before it leaves, and the
  // next writes wait until the broker has read its DISCONNECT.
  std::vector<Message> a_msgs = Drain(a, 500ms);
  a.client->Disconnect();  // a clean-session member leaves at once: its partitions move to b and c
  Client admin(broker, "ord-admin", 5, true, "admin");
  auto members = [&] {
    Json view = admin.Request("$DB/_admin/consumer-groups/ship", "");
    return IsOk(view) ? cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(Data(view), 0), "members")) : -1;
  };
  ASSERT_TRUE(WaitFor([&] { return members() == 2; })) << "a never left the group";
  round("u3");
  std::map<std::string, std::vector<double>> seqs;  // record -> sequences seen, in arrival order per member
  std::map<std::string, std::set<std::string>> owners;
  size_t rebalances = 0, events = 0;
  for (Member* m : {&a, &b, &c}) {
    auto msgs = m == &a ? a_msgs : Drain(*m, 500ms);
    if (m == &a) {
      while (auto msg = a.client->Next(0ms)) if (msg->topic == a.topic) msgs.push_back(std::move(*msg));
    }
    for (const auto& msg : msgs) rebalances += Str(msg.Parsed().get(), "operation") == "Rebalance";
    std::map<std::string, double> last;
    for (auto& [id, seq] : Events(msgs)) {
      EXPECT_GT(seq, last[id]) << "events of " << id << " arrive in commit order";
      last[id] = seq;
      seqs[id].push_back(seq);
      owners[id].insert(m->id);
      ++events;
    }
  }
  EXPECT_EQ(events, 48u) << "12 records x 4 writes, each delivered exactly once";
  EXPECT_GE(rebalances, 2u);
  for (auto& [id, s] : seqs) EXPECT_EQ(s.size(), 4u) << id;
  Json view = admin.Request("$DB/_admin/consumer-groups/ship", "");
  ASSERT_TRUE(IsOk(view)) << Print(view.get());
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(Data(view), 0), "members")), 2);
  EXPECT_EQ(Print(Data(admin.Request("$DB/_admin/consumer-groups", ""))),
            R"([{"name":"ship","entity":"orders","mode":"ordered","members":2}])");
}

TEST(Groups, ASilentMemberTimesOutAndItsEventsAreNotRedelivered) {
  Broker broker({"group_timeout_s 6"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client writer(broker, "to-writer");  // connect first: each further Paho connect takes ~2 s
  // a has a persistent session: going offline does not end its membership, the timeout does.
  Member a = Join(broker, "to-a", "work", "load_balanced", /*clean=*/false);
  Member b = Join(broker, "to-b", "work", "load_balanced");
  a.client->Disconnect();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", R"({"id":"in-flight-)" + std::to_string(i) + R"("})")));
  // a's share is queued for its offline session; b heartbeats until a is gone.
  ASSERT_TRUE(WaitFor([&] {
    EXPECT_TRUE(IsOk(b.client->Request("$DB/_sub/" + b.id + "/heartbeat", "")));
    // Asked by another client: 403 while a is a member, 404 once it is gone.
    return Code(writer.Request("$DB/_sub/" + a.id + "/heartbeat", "")) == 404;
  }, 20s));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", R"({"id":"after-)" + std::to_string(i) + R"("})")));
  std::set<std::string> to_b;
  for (auto& [id, seq] : Events(Drain(b, 700ms))) to_b.insert(id);
  // a reconnects to its session: it gets what was queued for it, and b never got those.
  Client a_again(broker, "to-a", 5, /*clean=*/false);
  std::set<std::string> to_a;
  while (auto msg = a_again.Next(700ms)) {
    if (msg->topic == a.topic) for (auto& [id, seq] : Events({*msg})) to_a.insert(id);
  }
  EXPECT_EQ(to_a.size(), 2u) << "a's round-robin share of the first four; b got " << to_b.size() << "\n";
  for (const auto& id : to_a) EXPECT_FALSE(to_b.count(id)) << id << " delivered twice";
  EXPECT_EQ(to_a.size() + to_b.size(), 8u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(to_b.count("after-" + std::to_string(i))) << "b alone after a left";
}

TEST(Groups, APersistentMemberThatReconnectsInTimeKeepsItsPartitionsAndGetsWhatWasQueued) {
  Broker broker({"group_timeout_s 20"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client writer(broker, "pk-writer");
  Member a = Join(broker, "pk-a", "ship", "ordered", /*clean=*/false);
  Member b = Join(broker, "pk-b", "ship", "ordered");
  Drain(a, 200ms);  // a's Rebalance (b took half)
  a.client->Disconnect();
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", R"({"id":"q)" + std::to_string(i) + R"("})")));
  Client a_again(broker, "pk-a", 5, /*clean=*/false);
  Json hb = a_again.Request("$DB/_sub/" + a.id + "/heartbeat", "");
  ASSERT_TRUE(IsOk(hb)) << Print(hb.get());
  std::vector<int> now;
  for (const cJSON* p = cJSON_GetObjectItem(Data(hb), "partitions")->child; p; p = p->next) now.push_back(p->valueint);
  EXPECT_EQ(now.size(), 8u) << "still a member with its half of the partitions";
  std::set<std::string> to_a, to_b;
  while (auto msg = a_again.Next(500ms)) {
    if (msg->topic == a.topic) for (auto& [id, seq] : Events({*msg})) to_a.insert(id);
  }
  for (auto& [id, seq] : Events(Drain(b, 500ms))) to_b.insert(id);
  EXPECT_FALSE(to_a.empty()) << "events queued while a was offline arrive on reconnect";
  EXPECT_EQ(to_a.size() + to_b.size(), 16u);
  for (const auto& id : to_a) EXPECT_FALSE(to_b.count(id)) << id;
}

// A live query over the wire: a snapshot of the matching records with its sequence, then only the
// changes that concern the result set, each with its match.
TEST(LiveQuery, ASnapshotThenEnterStayAndLeave) {
  Broker broker;
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client writer(broker, "lq-writer");
  ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", R"({"id":"big","total":500})")));
  ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", R"({"id":"small","total":5})")));
  Client member(broker, "lq-member");
  Json r = member.Request("$DB/_sub/subscribe", R"({"entity":"orders","group":"large","filters":[{"field":"total","op":"gte","value":100}],"snapshot":true})");
  ASSERT_TRUE(IsOk(r)) << MessageOf(r);
  const cJSON* snap = cJSON_GetObjectItem(Data(r), "snapshot");
  ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(snap, "records")), 1);
  EXPECT_EQ(Str(cJSON_GetObjectItem(snap, "records")->child, "id"), "big");
  EXPECT_EQ(Num(snap, "sequence"), 2);
  const std::string topic = Str(Data(r), "topic");
  member.Subscribe(topic, 1);
  ASSERT_TRUE(IsOk(writer.Request("$DB/orders/small/update", R"({"total":150})")));  // enter
  ASSERT_TRUE(IsOk(writer.Request("$DB/orders/big/update", R"({"note":"x"})")));     // stay
  ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", R"({"id":"tiny","total":1})")));  // nothing
  ASSERT_TRUE(IsOk(writer.Request("$DB/orders/big/update", R"({"total":50})")));     // leave
  ASSERT_TRUE(IsOk(writer.Request("$DB/orders/create", R"({"id":"last","total":999})")));  // enter
  auto got = member.Collect(topic, 4);
  ASSERT_EQ(got.size(), 4u);
  std::vector<std::string> seen;
  for (const auto& m : got) seen.push_back(Str(m.Parsed().get(), "match") + " " + Str(m.Parsed().get(), "id"));
  EXPECT_EQ(seen, (std::vector<std::string>{"enter small", "stay big", "leave big", "enter last"}));
}

}  // namespace
}  // namespace mqdb::it
