// Topic protection with real clients (PROTOCOL.md §7), without and with acl_file/password_file.
#include <cstdlib>
#include <fstream>

#include "harness.h"

namespace mqdb::it {
namespace {

// Everything `spy` received so far, after a sentinel event proves earlier deliveries have arrived.
std::vector<Message> SeenBefore(Client& spy, Client& writer, const std::string& sentinel_entity) {
  EXPECT_TRUE(IsOk(writer.Request("$DB/" + sentinel_entity + "/create", "{}")));
  std::vector<Message> seen;
  while (auto m = spy.Next(5s)) {
    bool sentinel = m->topic.rfind("$DB/" + sentinel_entity + "/events/", 0) == 0;
    seen.push_back(std::move(*m));
    if (sentinel) return seen;
  }
  ADD_FAILURE() << "sentinel event never arrived";
  return seen;
}

TEST(Security, WithoutAclFileRequestsAndOutputsAreProtected) {
  Broker broker({"admin_users admin"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client spy(broker, "spy");
  for (const char* f : {"$DB/#", "$DB/users/+", "$DB/+/create", "$DB/+/+/#", "$share/g/$DB/#", "$DB/_admin/#",
                        "$DB/_sub/+/events", "$DB/u/+/events/#"}) {
    EXPECT_FALSE(spy.TrySubscribe(f)) << "subscribe must be refused: " << f;
  }
  ASSERT_TRUE(spy.TrySubscribe("$DB/+/events/#"));  // allowed, and it also matches $DB/{e}/events (a request)
  Client victim(broker, "victim");
  // `events` is a reserved id: its topic $DB/users/events is a request that $DB/+/events/# matches.
  EXPECT_EQ(MessageOf(victim.Request("$DB/users/create", R"({"id":"events"})")),
            "reserved id: events ($DB/{entity}/events is not a record's topic)");
  ASSERT_TRUE(IsOk(victim.Request("$DB/users/create", R"({"id":"v1","secret":"s3cret"})")));
  EXPECT_EQ(Code(victim.Request("$DB/users/events", "")), 400);  // still a request: never delivered to the spy

  // No client publish that an event filter matches is delivered, whatever the second level.
  Client forger(broker, "forger");
  for (const char* t : {"$DB/users/events/fake", "$DB/_admin/events/x", "$DB/_admin/events/users/v1", "$DB/_cluster/events/x",
                        "$DB/_anything/events/x", "$DB/u/admin/events/users/1", "$DB/_reply", "$SYS/broker/mqdb/records"}) {
    EXPECT_FALSE(forger.TryPublish(t, R"({"sequence":1,"operation":"Delete"})")) << t;
  }
  auto seen = SeenBefore(spy, victim, "sentinel");
  for (const auto& m : seen) {
    EXPECT_TRUE(m.topic == "$DB/users/events/v1" || m.topic.rfind("$DB/sentinel/events/", 0) == 0)
        << "spy received " << m.topic;
    EXPECT_EQ(m.topic.find("/create"), std::string::npos);
  }
  EXPECT_EQ(seen.size(), 2u) << "exactly the two real events: the victim's Create and the sentinel";

  // Plain MQTT keeps working for everything else (no acl_file: allowed).
  Client a(broker, "plain-a"), b(broker, "plain-b");
  b.Subscribe("app/#");
  a.Publish("app/x", "hello");
  auto got = b.Collect("app/#", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "hello");
}

class WithAclFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = broker_.dir();
    ASSERT_EQ(std::system(("mosquitto_passwd -c -b " + dir + "/passwd alice apw >/dev/null 2>&1 && "
                           "mosquitto_passwd -b " + dir + "/passwd bob bpw >/dev/null 2>&1 && "
                           "mosquitto_passwd -b " + dir + "/passwd admin xpw >/dev/null 2>&1 && "
                           "mosquitto_passwd -b " + dir + "/passwd carol cpw >/dev/null 2>&1").c_str()), 0);
    // Each client may read and write its own response topic (the harness uses test/replies/{client
    // id}): the plugin answers only where the requester could publish itself.
    std::ofstream(dir + "/acl") << "pattern readwrite test/replies/%c\n\n"
                                   "user alice\ntopic readwrite $DB/#\ntopic readwrite app/#\n\n"
                                   "user bob\ntopic read app/public\ntopic read $DB/+/events/#\ntopic readwrite replies/bob/#\n\n"
                                   "user admin\ntopic readwrite $DB/#\n\n"
                                   "user carol\ntopic write $DB/_events/replay\ntopic read $DB/public/events/#\n";
    ASSERT_TRUE(broker_.Start()) << broker_.Log();
    ASSERT_NE(broker_.Log().find("ACL fallback defer"), std::string::npos) << broker_.Log();
  }
  Broker broker_{{"admin_users admin"}, "allow_anonymous false\npassword_file @DIR@/passwd\nacl_file @DIR@/acl\n"};
};

TEST_F(WithAclFile, PluginRulesHoldWhateverTheAclGrants) {
  Client alice(broker_, "alice-1", 5, true, "alice", "apw");
  // alice's ACL grants readwrite $DB/#; the plugin still refuses the subscription and the forgery.
  EXPECT_FALSE(alice.TrySubscribe("$DB/#"));
  EXPECT_FALSE(alice.TryPublish("$DB/notes/events/x", "{}"));
  EXPECT_FALSE(alice.TryPublish("$DB/_cluster/replicate", "{}"));
  Json denied = alice.Request("$DB/_admin/catalog", "");
  EXPECT_EQ(Code(denied), 403);
  ASSERT_TRUE(alice.TrySubscribe("$DB/+/events/#"));
  Client admin(broker_, "admin-1", 5, true, "admin", "xpw");
  ASSERT_TRUE(IsOk(admin.Request("$DB/notes/create", R"({"id":"n1"})")));
  ASSERT_TRUE(IsOk(admin.Request("$DB/_admin/catalog", "")));
  auto seen = SeenBefore(alice, admin, "sentinel");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].topic, "$DB/notes/events/n1");
}

TEST_F(WithAclFile, TheAclFileStillDecidesEverythingElse) {
  Client alice(broker_, "alice-2", 5, true, "alice", "apw");
  Client bob(broker_, "bob-2", 5, true, "bob", "bpw");
  ASSERT_TRUE(bob.TrySubscribe("app/#"));  // acl_file never restricts subscribes in 2.0.11 ...
  alice.Publish("app/secret", "nope");
  alice.Publish("app/public", "yes");
  auto got = bob.Collect("app/#", 1);   // ... it filters at delivery
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "app/public");
  // bob has no write access to $DB at all: his request never reaches the plugin.
  EXPECT_FALSE(bob.TryPublish("$DB/notes/create", R"({"id":"from-bob"})"));
  EXPECT_EQ(Code(alice.Request("$DB/notes/from-bob", "")), 404);
  // Anonymous clients and wrong passwords are refused by the password file.
  EXPECT_THROW(Client(broker_, "anon-2"), mqtt::exception);
  EXPECT_THROW(Client(broker_, "bad-2", 5, true, "alice", "wrong"), mqtt::exception);
}

// A replay shows only the events the requester could subscribe to under the broker's ACL: carol may
// read public's events and nothing else, so her replay of everything holds public's alone.
TEST_F(WithAclFile, AReplayShowsOnlyTheEventsTheAclLetsTheClientRead) {
  Client admin(broker_, "admin-4", 5, true, "admin", "xpw");
  ASSERT_TRUE(IsOk(admin.Request("$DB/private/create", R"({"id":"p1","secret":"s"})")));
  ASSERT_TRUE(IsOk(admin.Request("$DB/public/create", R"({"id":"o1"})")));
  ASSERT_TRUE(IsOk(admin.Request("$DB/private/create", R"({"id":"p2"})")));
  Client carol(broker_, "carol-4", 5, true, "carol", "cpw");
  Json page = carol.Request("$DB/_events/replay", R"({"after":0})");
  ASSERT_TRUE(IsOk(page)) << MessageOf(page);
  const cJSON* events = cJSON_GetObjectItemCaseSensitive(Data(page), "events");
  ASSERT_EQ(cJSON_GetArraySize(events), 1);
  EXPECT_EQ(Str(events->child, "entity"), "public");
  EXPECT_TRUE(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(Data(page), "complete")));
  EXPECT_EQ(Num(Data(page), "next"), 3);
  Json all = admin.Request("$DB/_events/replay", R"({"after":0})");
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(Data(all), "events")), 3);
}

// Confused deputy: alice may write $DB/# but not replies/bob/...; a request whose Response Topic is
// bob's must not execute, and bob must not receive anything. The 403 goes to alice on $DB/_reply.
TEST_F(WithAclFile, AResponseTopicTheRequesterMayNotWriteIsRefusedAndNothingRuns) {
  Client alice(broker_, "alice-3", 5, true, "alice", "apw");
  Client bob(broker_, "bob-3", 5, true, "bob", "bpw");
  ASSERT_TRUE(bob.TrySubscribe("replies/bob/#"));
  ASSERT_TRUE(alice.TrySubscribe("$DB/_reply"));
  ASSERT_TRUE(IsOk(alice.Request("$DB/notes/create", R"({"id":"private","text":"alice only"})")));
  for (const auto& [topic, payload] : std::vector<std::pair<std::string, std::string>>{
           {"$DB/notes/private", ""}, {"$DB/notes/create", R"({"id":"via-bob"})"}, {"$DB/notes/list", "{}"},
           {"$DB/notes/private/delete", ""}}) {
    alice.Publish(topic, payload, 1, false, "replies/bob/inbox", "corr-" + topic);
    auto got = alice.Collect("$DB/_reply", 1);
    ASSERT_EQ(got.size(), 1u) << topic;
    Json env = got[0].Parsed();
    EXPECT_EQ(Code(env), 403) << topic;
    EXPECT_EQ(MessageOf(env), "forbidden: this client may not publish to its response topic replies/bob/inbox");
    EXPECT_EQ(got[0].correlation, "corr-" + topic);
  }
  EXPECT_EQ(Code(alice.Request("$DB/notes/via-bob", "")), 404) << "the refused create must not have run";
  EXPECT_TRUE(IsOk(alice.Request("$DB/notes/private", ""))) << "the refused delete must not have run";
  // The one topic alice may write is still answered; bob got nothing at all.
  ASSERT_TRUE(IsOk(alice.Request("$DB/notes/private", "")));
  // bob's own sentinel, published after alice's refused requests were answered, is the first and
  // only thing he receives.
  bob.Publish("replies/bob/sentinel", "end");
  auto first = bob.Next(5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->topic, "replies/bob/sentinel") << "bob received " << first->payload;
}

}  // namespace
}  // namespace mqdb::it

namespace mqdb::it {
namespace {

TEST(OwnershipIT, OwnersAloneSeeTheirRecordsAndEvents) {
  Broker broker({"admin_users admin", "ownership notes=owner"}, "allow_anonymous false\npassword_file @DIR@/passwd\n");
  std::string dir = broker.dir();
  ASSERT_EQ(std::system(("mosquitto_passwd -c -b " + dir + "/passwd alice apw >/dev/null 2>&1 && "
                         "mosquitto_passwd -b " + dir + "/passwd bob bpw >/dev/null 2>&1 && "
                         "mosquitto_passwd -b " + dir + "/passwd admin xpw >/dev/null 2>&1").c_str()), 0);
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client alice(broker, "alice", 5, true, "alice", "apw");
  Client bob(broker, "bob", 5, true, "bob", "bpw");
  Client admin(broker, "admin", 5, true, "admin", "xpw");
  EXPECT_FALSE(bob.TrySubscribe("$DB/u/alice/events/#")) << "someone else's owner topic";
  EXPECT_FALSE(bob.TrySubscribe("$DB/u/+/events/#"));
  ASSERT_TRUE(bob.TrySubscribe("$DB/notes/events/#"));  // allowed, but owned events never go there
  ASSERT_TRUE(bob.TrySubscribe("$DB/u/bob/events/#"));
  ASSERT_TRUE(alice.TrySubscribe("$DB/u/alice/events/#"));
  ASSERT_TRUE(admin.TrySubscribe("$DB/u/+/events/#"));

  Json note = alice.Request("$DB/notes/create", R"({"id":"n1","text":"secret","owner":"alice"})");
  ASSERT_TRUE(IsOk(note)) << Print(note.get());
  EXPECT_EQ(Code(alice.Request("$DB/notes/create", R"({"owner":"bob"})")), 403);
  EXPECT_EQ(Code(bob.Request("$DB/notes/n1", "")), 403);
  EXPECT_EQ(Code(bob.Request("$DB/notes/n1/update", R"({"text":"pwned"})")), 403);
  EXPECT_EQ(Code(bob.Request("$DB/notes/n1/delete", "")), 403);
  EXPECT_EQ(Print(Data(bob.Request("$DB/notes/list", ""))), "[]");
  EXPECT_EQ(Str(Data(admin.Request("$DB/notes/n1", "")), "text"), "secret");
  EXPECT_EQ(Str(Data(alice.Request("$DB/notes/n1", "")), "text"), "secret");

  auto mine = alice.Collect("$DB/u/alice/events/#", 1);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].topic, "$DB/u/alice/events/notes/n1");
  EXPECT_EQ(admin.Collect("$DB/u/+/events/#", 1).size(), 1u);
  ASSERT_TRUE(IsOk(bob.Request("$DB/notes/create", R"({"id":"b1"})")));
  auto bobs = bob.Collect("#", 1);  // bob's first event is his own note, never alice's
  ASSERT_EQ(bobs.size(), 1u);
  EXPECT_EQ(bobs[0].topic, "$DB/u/bob/events/notes/b1");
}

}  // namespace
}  // namespace mqdb::it

namespace mqdb::it {
namespace {

TEST(Overload, AGreedyClientGets429sAndOthersAreServed) {
  Broker broker({"rate_limit 20"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client greedy(broker, "greedy"), polite(broker, "polite");
  for (int i = 0; i < 200; ++i) greedy.Publish("$DB/spam/create", "{}", 1, false, "test/replies/greedy", "g" + std::to_string(i));
  auto replies = greedy.Collect("test/replies/greedy", 200, 20s);
  ASSERT_EQ(replies.size(), 200u) << "every request gets exactly one response, 429 included";
  int ok = 0, limited = 0;
  for (auto& r : replies) {
    Json env = r.Parsed();
    if (IsOk(env)) ++ok;
    else if (Code(env) == 429) ++limited;
  }
  EXPECT_GE(limited, 150);
  EXPECT_EQ(ok + limited, 200);
  EXPECT_TRUE(IsOk(polite.Request("$DB/_health", "")));
  EXPECT_EQ(Print(Data(polite.Request("$DB/spam/count", ""))), "{\"count\":" + std::to_string(ok) + "}")
      << "refused requests stored nothing";
}

}  // namespace
}  // namespace mqdb::it
