// The durable change feed (PROTOCOL.md §4) through the Service, on a real RocksDB: retention,
// trimming, replay paging, 410, access filtering, restart and restore.
#include "outbox/change_feed.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fault_sink.h"
#include "plugin/service.h"
#include "storage/keys.h"
#include "service_fixture.h"
#include "test_util.h"

namespace mqdb {
namespace {

class ChangeFeedTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(FeedOptions feed = {}) {
    Config c = test::ServiceConfig(dir_.path());
    c.ownership = {{"notes", "owner"}};
    c.feed = feed;
    c.max_payload = 1 << 20;
    svc_.reset();
    svc_ = std::move(Service::Open(c).value());
  }
  Service::Reply Call(const std::string& topic, const std::string& payload, const std::string& user = "admin") {
    return svc_->Handle({topic, payload, "client-" + user, user});
  }
  // The replay's data, parsed; fails the test on an error.
  Json Replay(const std::string& body, const std::string& user = "admin",
              std::function<bool(const std::string&)> may_read = nullptr) {
    Service::Request req{"$DB/_events/replay", body, "replayer-" + user, user};
    req.may_read = std::move(may_read);
    auto r = svc_->Handle(req);
    EXPECT_TRUE(r.status.ok()) << body << ": " << r.status.message();
    const std::string text = r.envelope ? *r.envelope : Service::Envelope(r);
    auto env = ParseStored(text);
    EXPECT_TRUE(env.ok()) << text;
    Json data(cJSON_DetachItemFromObject(env.value().get(), "data"));
    return data ? std::move(data) : NewObject();
  }
  Status ReplayError(const std::string& body, const std::string& user = "admin") {
    auto r = svc_->Handle({"$DB/_events/replay", body, "replayer-" + user, user});
    return r.status;
  }
  static std::vector<uint64_t> Sequences(const Json& page) {
    std::vector<uint64_t> out;
    for (const cJSON* e = cJSON_GetObjectItem(page.get(), "events")->child; e; e = e->next) {
      out.push_back(static_cast<uint64_t>(cJSON_GetObjectItem(e, "sequence")->valuedouble));
    }
    return out;
  }
  static double Next(const Json& page) { return cJSON_GetObjectItem(page.get(), "next")->valuedouble; }
  static bool Complete(const Json& page) { return cJSON_IsTrue(cJSON_GetObjectItem(page.get(), "complete")); }
  void Create(const std::string& entity, int n, const std::string& body = "{}") {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(Call("$DB/" + entity + "/create", body).status.ok());
  }

  test::TempDir dir_;
  std::unique_ptr<Service> svc_;
};

// Pages in sequence order, each event byte for byte what was published, `next` to go on from.
TEST_F(ChangeFeedTest, ReplayPagesThroughTheEventsAsPublished) {
  Create("items", 25);
  test::FaultSink sink;
  svc_->Pump({&sink});
  ASSERT_EQ(sink.delivered.size(), 25u);
  Json p1 = Replay(R"({"after":0,"limit":10})");
  EXPECT_EQ(Sequences(p1), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(Next(p1), 10);
  EXPECT_FALSE(Complete(p1));
  Json p2 = Replay(R"({"after":10,"limit":10})");
  EXPECT_EQ(Sequences(p2).front(), 11u);
  Json p3 = Replay(R"({"after":20,"limit":10})");
  EXPECT_EQ(Sequences(p3), (std::vector<uint64_t>{21, 22, 23, 24, 25}));
  EXPECT_EQ(Next(p3), 25);
  EXPECT_TRUE(Complete(p3));
  // Byte-identical to the live publication.
  size_t i = 0;
  for (const Json* page : {&p1, &p2, &p3}) {
    for (const cJSON* e = cJSON_GetObjectItem(page->get(), "events")->child; e; e = e->next, ++i) {
      EXPECT_EQ(Print(e), sink.delivered[i].payload);
    }
  }
  EXPECT_EQ(i, 25u);
  // Up to date: nothing, complete, next stays.
  Json none = Replay(R"({"after":25})");
  EXPECT_TRUE(Sequences(none).empty());
  EXPECT_TRUE(Complete(none));
  EXPECT_EQ(Next(none), 25);
  std::string retained, oldest, replayed;
  for (auto& [k, v] : svc_->SysValues()) {
    if (k == "events/retained") retained = v;
    if (k == "events/oldest_sequence") oldest = v;
    if (k == "events/replayed") replayed = v;
  }
  EXPECT_EQ(retained, "25");
  EXPECT_EQ(oldest, "1");
  EXPECT_EQ(replayed, "25");
}

// `entity` selects one entity's events; `next` still moves past the others, so a filtered reader
// does not examine them again.
TEST_F(ChangeFeedTest, ReplayOfOneEntitySkipsTheOthers) {
  for (int i = 0; i < 5; ++i) {
    Create("a", 1);
    Create("b", 2);
  }
  Json page = Replay(R"({"after":0,"entity":"a"})");
  EXPECT_EQ(Sequences(page), (std::vector<uint64_t>{1, 4, 7, 10, 13}));
  EXPECT_TRUE(Complete(page));
  EXPECT_EQ(Next(page), 15);
  Json two = Replay(R"({"after":0,"entity":"b","limit":2})");
  EXPECT_EQ(Sequences(two), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(Next(two), 3);
  EXPECT_FALSE(Complete(two));
}

// The same rules as subscribing: an owned entity's events only to their owner (and admins), and
// nothing the broker's ACL would not let the client read.
TEST_F(ChangeFeedTest, ReplayShowsOnlyWhatTheClientCouldSubscribeTo) {
  ASSERT_TRUE(Call("$DB/notes/create", R"({"text":"a1"})", "alice").status.ok());
  ASSERT_TRUE(Call("$DB/notes/create", R"({"text":"b1"})", "bob").status.ok());
  ASSERT_TRUE(Call("$DB/notes/create", R"({"text":"a2"})", "alice").status.ok());
  ASSERT_TRUE(Call("$DB/public/create", R"({"x":1})", "bob").status.ok());
  EXPECT_EQ(Sequences(Replay(R"({"after":0})", "alice")), (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(Sequences(Replay(R"({"after":0})", "bob")), (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(Sequences(Replay(R"({"after":0})", "")), (std::vector<uint64_t>{4})) << "anonymous: no owned events";
  EXPECT_EQ(Sequences(Replay(R"({"after":0})", "admin")), (std::vector<uint64_t>{1, 2, 3, 4}));
  std::vector<std::string> asked;
  Json acl = Replay(R"({"after":0})", "admin", [&](const std::string& topic) {
    asked.push_back(topic);
    return topic.rfind("$DB/public/", 0) == 0;
  });
  EXPECT_EQ(Sequences(acl), (std::vector<uint64_t>{4}));
  ASSERT_EQ(asked.size(), 4u);
  EXPECT_EQ(asked[0].rfind("$DB/u/alice/events/notes/", 0), 0u) << "owned events are checked on the owner's topic";
}

TEST_F(ChangeFeedTest, MalformedReplaysAreSpecific400s) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{}", "replay needs \"after\": the last sequence processed, an integer >= 0 (0: from the start)"},
      {R"({"after":-1})", "replay needs \"after\": the last sequence processed, an integer >= 0 (0: from the start)"},
      {R"({"after":"5"})", "replay needs \"after\": the last sequence processed, an integer >= 0 (0: from the start)"},
      {R"({"after":1.5})", "replay needs \"after\": the last sequence processed, an integer >= 0 (0: from the start)"},
      {R"({"after":0,"limit":0})", "limit must be an integer between 1 and 10000"},
      {R"({"after":0,"limit":10001})", "limit must be an integer between 1 and 10000"},
      {R"({"after":0,"entity":"bad.name"})", "invalid entity name: only A-Z a-z 0-9 _ - allowed"},
      {R"({"after":0,"entity":7})", "entity must be a string"},
      {R"({"after":0,"from":3})", "unknown field in replay request: from"},
  };
  for (const auto& [body, message] : cases) {
    Status s = ReplayError(body);
    EXPECT_EQ(s.code(), 400) << body;
    EXPECT_EQ(s.message(), message) << body;
  }
}

// Retention by age: what is older goes in one range delete from the oldest end; a replay from
// before it is a 410 naming the oldest retained sequence.
TEST_F(ChangeFeedTest, TrimmedEventsAreGoneWith410) {
  Create("items", 10);
  ASSERT_TRUE(svc_->feed().Trim(NowMs() + 86400 * 1000LL + 1000).ok());
  EXPECT_EQ(svc_->feed().retained(), 0u);
  EXPECT_EQ(svc_->feed().oldest(), 11u);
  Status gone = ReplayError(R"({"after":3})");
  EXPECT_EQ(gone.code(), 410);
  EXPECT_EQ(gone.message(), "gone: events after 3 are no longer retained (oldest retained sequence 11): "
                            "resynchronise with a list, then replay from there");
  Json up_to_date = Replay(R"({"after":10})");
  EXPECT_TRUE(Sequences(up_to_date).empty());
  EXPECT_TRUE(Complete(up_to_date));
  Create("items", 2);
  EXPECT_EQ(Sequences(Replay(R"({"after":10})")), (std::vector<uint64_t>{11, 12}));
  // Recent events stay.
  ASSERT_TRUE(svc_->feed().Trim(NowMs()).ok());
  EXPECT_EQ(svc_->feed().retained(), 2u);
  size_t keys = 0;
  svc_->store().Scan(keys::kFeedPrefix, [&](std::string_view, std::string_view) { ++keys; return true; });
  EXPECT_EQ(keys, 2u) << "trimmed events are deleted from the store";
}

// Retention by size: the oldest events go until the feed fits; what stays is contiguous.
TEST_F(ChangeFeedTest, RetentionBytesKeepsTheNewestEventsWithoutAGap) {
  FeedOptions small;
  small.retention_bytes = 1 << 20;
  Open(small);
  const std::string body = R"({"blob":")" + std::string(50000, 'x') + R"("})";
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(Call("$DB/big/create", body).status.ok());  // about 2 MB of events
  ASSERT_TRUE(svc_->feed().Trim(NowMs()).ok());
  const uint64_t oldest = svc_->feed().oldest();
  EXPECT_GT(oldest, 1u);
  EXPECT_LE(svc_->feed().bytes(), small.retention_bytes);
  EXPECT_GE(svc_->feed().retained(), 15u) << "about 1 MB of 50 KB events";
  Json rest = Replay(R"({"after":)" + std::to_string(oldest - 1) + R"(,"limit":10000})");
  std::vector<uint64_t> seqs = Sequences(rest);
  ASSERT_FALSE(seqs.empty());
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], oldest + i);
  EXPECT_EQ(seqs.back(), svc_->store().last_seq());
}

// A backlog larger than one call's budget is trimmed in steps, each from the oldest end.
TEST_F(ChangeFeedTest, ABacklogIsTrimmedInBoundedSteps) {
  Create("items", 25);
  const int64_t later = NowMs() + 86400 * 1000LL + 1000;
  ASSERT_TRUE(svc_->feed().Trim(later, 10).ok());
  EXPECT_TRUE(svc_->feed().behind());
  EXPECT_EQ(svc_->feed().oldest(), 11u);
  ASSERT_TRUE(svc_->feed().Trim(later, 10).ok());
  EXPECT_EQ(svc_->feed().oldest(), 21u);
  ASSERT_TRUE(svc_->feed().Trim(later, 10).ok());
  EXPECT_FALSE(svc_->feed().behind());
  EXPECT_EQ(svc_->feed().oldest(), 26u);
  EXPECT_EQ(svc_->feed().retained(), 0u);
}

// Restart: retained events and the oldest sequence survive; sequences continue.
TEST_F(ChangeFeedTest, TheFeedSurvivesARestart) {
  Create("items", 5);
  ASSERT_TRUE(svc_->feed().Trim(NowMs() + 86400 * 1000LL + 1000).ok());
  Create("items", 3);
  Open();
  EXPECT_EQ(svc_->feed().oldest(), 6u);
  EXPECT_EQ(svc_->feed().retained(), 3u);
  EXPECT_EQ(Sequences(Replay(R"({"after":5})")), (std::vector<uint64_t>{6, 7, 8}));
  Create("items", 1);
  EXPECT_EQ(Sequences(Replay(R"({"after":8})")), (std::vector<uint64_t>{9}));
  EXPECT_EQ(ReplayError(R"({"after":2})").code(), 410);
}

// Restore: the restored feed belongs to a history the restored data no longer follows, so nothing
// of it comes back; sequences never go backwards; a replay from before the restore is a 410.
TEST_F(ChangeFeedTest, ARestoreResurrectsNoEventAndSequencesGoOn) {
  Create("items", 4);
  ASSERT_TRUE(Call("$DB/_admin/backup", R"({"name":"b1"})").status.ok());
  Create("items", 6);  // sequences 5..10, not in the backup
  ASSERT_TRUE(Call("$DB/_admin/restore", R"({"name":"b1"})").status.ok());
  EXPECT_EQ(svc_->feed().retained(), 0u);
  EXPECT_EQ(ReplayError(R"({"after":0})").code(), 410);
  Create("items", 1);
  Json page = Replay(R"({"after":10})");
  EXPECT_EQ(Sequences(page), (std::vector<uint64_t>{11})) << "after the restore, sequences continue above 10";
}

// A TTL delete's event is retained like any other.
TEST_F(ChangeFeedTest, ATtlDeleteIsRetained) {
  ASSERT_TRUE(Call("$DB/sessions/create", R"({"id":"s1","ttl_secs":1})").status.ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (svc_->store().last_seq() < 2 && std::chrono::steady_clock::now() < deadline) {
    svc_->Housekeeping();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Json page = Replay(R"({"after":1})");
  ASSERT_EQ(Sequences(page).size(), 1u);
  const cJSON* ev = cJSON_GetObjectItem(page.get(), "events")->child;
  EXPECT_STREQ(cJSON_GetObjectItem(ev, "operation")->valuestring, "Delete");
  EXPECT_STREQ(cJSON_GetObjectItem(ev, "id")->valuestring, "s1");
}

// event_retention_s 0: no feed at all (nothing stored beside the outbox), replay says so.
TEST_F(ChangeFeedTest, RetentionOffStoresNoFeed) {
  FeedOptions off;
  off.retention_s = 0;
  Open(off);
  Create("items", 3);
  size_t keys = 0;
  svc_->store().Scan(keys::kFeedPrefix, [&](std::string_view, std::string_view) { ++keys; return true; });
  EXPECT_EQ(keys, 0u);
  Status s = ReplayError(R"({"after":0})");
  EXPECT_EQ(s.code(), 400);
  EXPECT_EQ(s.message(), "the change feed is off (plugin_opt_event_retention_s 0)");
}

}  // namespace
}  // namespace mqdb
