// The durable change feed over a real broker (PROTOCOL.md §4): Mosquitto's queue for an offline or
// slow subscriber dies with the process, so live delivery alone loses events at a crash; a subscriber
// that subscribes, then replays from the last sequence it processed until `complete`, misses none.
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "harness.h"

namespace mqdb::it {
namespace {

// What one subscriber has processed: every event by sequence (duplicates dropped by sequence), and
// its resume point, kept as the README's recipe says: a replay page's `next`, and a live event's
// sequence once the replay is complete (live events are drained only then here). Resuming after the
// highest sequence seen while a replay was still running could skip events (specs/changefeed.pml,
// RESUME_FROM_MAX).
struct Processed {
  std::map<uint64_t, std::pair<std::string, int>> by_seq;  // sequence -> (id, _version of data)
  uint64_t last = 0;  // the resume point: every event up to it has been processed
  size_t duplicates = 0;
  void Add(const cJSON* ev) {
    const uint64_t seq = static_cast<uint64_t>(Num(ev, "sequence"));
    const cJSON* data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    if (!by_seq.emplace(seq, std::make_pair(Str(ev, "id"), static_cast<int>(Num(data, "_version")))).second) ++duplicates;
  }
  void Drain(Client& sub, std::chrono::milliseconds wait) {  // live events, after a complete replay
    while (auto m = sub.Next(wait)) {
      if (!TopicMatches("$DB/feed/events/#", m->topic)) continue;
      Json ev = m->Parsed();
      Add(ev.get());
      last = std::max(last, static_cast<uint64_t>(Num(ev.get(), "sequence")));
    }
  }
};

// Replays from `p.last` until complete; returns how many events the replay brought that live
// delivery had not.
size_t CatchUp(Client& c, Processed& p) {
  size_t recovered = 0;
  for (int page = 0; page < 1000; ++page) {
    Json env = c.Request("$DB/_events/replay", R"({"entity":"feed","limit":500,"after":)" + std::to_string(p.last) + "}");
    EXPECT_TRUE(IsOk(env)) << MessageOf(env);
    if (!IsOk(env)) return recovered;
    for (const cJSON* ev = cJSON_GetObjectItemCaseSensitive(Data(env), "events")->child; ev; ev = ev->next) {
      const size_t before = p.by_seq.size();
      p.Add(ev);
      recovered += p.by_seq.size() - before;
    }
    p.last = std::max(p.last, static_cast<uint64_t>(Num(Data(env), "next")));
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(Data(env), "complete"))) return recovered;
  }
  ADD_FAILURE() << "replay never completed";
  return recovered;
}

TEST(ChangeFeed, ASubscriberThatReplaysAfterEachCrashMissesNoAcknowledgedWrite) {
  // No Mosquitto persistence: every queued message for the subscriber dies with the broker, the
  // worst case for live delivery.
  Broker broker({"durability periodic"}, "max_queued_messages 100000\n");
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Processed seen;
  std::mt19937 rng(20261204);
  size_t missed_live = 0, recovered = 0;
  std::map<std::string, int> acked_version;  // id -> the version its last acknowledged write produced
  const int rounds = 4;
  for (int round = 0; round < rounds; ++round) {
    // The recipe: subscribe first, then replay from the last sequence processed until complete.
    auto sub = std::make_unique<Client>(broker, "feed-sub", 5, /*clean=*/false);
    sub->Subscribe("$DB/feed/events/#", 1);
    recovered += CatchUp(*sub, seen);
    Client writer(broker, "feed-writer-" + std::to_string(round));
    // Half the rounds the subscriber goes offline (a slow or disconnected consumer): its events
    // queue in the broker's memory, which the crash loses.
    const bool offline = round % 2 == 1;
    if (offline) sub.reset();
    const int creates = std::uniform_int_distribution<int>(150, 300)(rng);
    for (int i = 0; i < creates; ++i) {
      const std::string id = "r" + std::to_string(round) + "-" + std::to_string(i);
      ASSERT_TRUE(IsOk(writer.Request("$DB/feed/create", R"({"id":")" + id + R"(","n":0})")));
      acked_version[id] = 1;
      if (i % 10 == 0) {
        ASSERT_TRUE(IsOk(writer.Request("$DB/feed/" + id + "/update", R"({"n":1})")));
        acked_version[id] = 2;
      }
    }
    // A burst whose responses are not awaited: the kill lands while its events are on their way.
    const int burst = std::uniform_int_distribution<int>(20, 120)(rng);
    for (int i = 0; i < burst; ++i) {
      writer.Publish("$DB/feed/create", R"({"id":"b)" + std::to_string(round) + "-" + std::to_string(i) + R"("})", 1,
                     false, "test/replies/" + writer.id(), std::to_string(i));
    }
    for (const auto& m : writer.Collect("test/replies/" + writer.id(), static_cast<size_t>(burst), 0ms)) {
      if (IsOk(m.Parsed())) acked_version["b" + std::to_string(round) + "-" + m.correlation] = 1;
    }
    if (sub) seen.Drain(*sub, 50ms);
    sub.reset();  // offline from here: what is still queued for it dies with the broker
    broker.Kill();
    ASSERT_TRUE(broker.Start()) << broker.Log();
    // What live delivery alone delivered by now, before any replay: count what it missed.
    for (const auto& [id, version] : acked_version) {
      bool have = false;
      for (const auto& [seq, ev] : seen.by_seq) have |= ev.first == id && ev.second >= version;
      missed_live += have ? 0 : 1;
    }
  }
  Client last(broker, "feed-sub", 5, false);
  last.Subscribe("$DB/feed/events/#", 1);
  recovered += CatchUp(last, seen);

  // Every write the broker acknowledged has its event, at the version it produced; and every record
  // stored now too (the burst's unanswered creates may have committed).
  std::map<std::string, int> seen_version;
  for (const auto& [seq, ev] : seen.by_seq) seen_version[ev.first] = std::max(seen_version[ev.first], ev.second);
  size_t missing = 0;
  std::string example;
  for (const auto& [id, version] : acked_version) {
    if (seen_version[id] < version) {
      ++missing;
      example = id;
    }
  }
  EXPECT_EQ(missing, 0u) << "acknowledged writes without their event, e.g. " << example;
  Client reader(broker, "feed-reader");
  Json page = reader.Request("$DB/feed/list", R"({"limit":10000,"projection":["_version"]})");
  ASSERT_TRUE(IsOk(page));
  size_t stored = 0;
  for (const cJSON* r = Data(page)->child; r; r = r->next, ++stored) {
    EXPECT_GE(seen_version[Str(r, "id")], static_cast<int>(Num(r, "_version"))) << Str(r, "id");
  }
  EXPECT_GE(stored, acked_version.size());
  // The sequences seen are exactly 1..last: nothing in between is missing either.
  ASSERT_FALSE(seen.by_seq.empty());
  EXPECT_EQ(seen.by_seq.size(), seen.by_seq.rbegin()->first) << "a gap in the sequences processed";
  // The scenario is real: live delivery alone lost events the replays recovered.
  EXPECT_GT(missed_live, 0u) << "the crashes lost nothing live: the test does not exercise the feed";
  EXPECT_GT(recovered, 0u);
  std::cout << "[ feed     ] rounds=" << rounds << " acknowledged=" << acked_version.size() << " stored=" << stored
            << " events=" << seen.by_seq.size() << " missed_live(sum over rounds)=" << missed_live
            << " recovered_by_replay=" << recovered << " duplicates=" << seen.duplicates << std::endl;
}

// The $SYS counters of the feed are published, and a replay from before what is retained is a 410
// over the wire too.
TEST(ChangeFeed, SysTopicsAnd410OverTheWire) {
  Broker broker({"sys_interval 1", "event_retention_s 1"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client c(broker, "feed-sys");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(IsOk(c.Request("$DB/t/create", "{}")));
  Json page = c.Request("$DB/_events/replay", R"({"after":0})");
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(Data(page), "events")), 5);
  // One second of retention: the trim (once a second) removes them.
  bool gone = WaitFor([&] { return Code(c.Request("$DB/_events/replay", R"({"after":0})")) == 410; }, 10s);
  EXPECT_TRUE(gone);
  Json env = c.Request("$DB/_events/replay", R"({"after":0})");
  EXPECT_EQ(MessageOf(env), "gone: events after 0 are no longer retained (oldest retained sequence 6): "
                            "resynchronise with a list, then replay from there");
  Client sys(broker, "feed-sys-watch");
  sys.Subscribe("$SYS/broker/mqdb/events/#");
  std::map<std::string, std::string> values;
  WaitFor([&] {
    while (auto m = sys.Next(100ms)) values[m->topic] = m->payload;
    return values["$SYS/broker/mqdb/events/oldest_sequence"] == "6";
  }, 10s);
  EXPECT_EQ(values["$SYS/broker/mqdb/events/oldest_sequence"], "6");
  EXPECT_EQ(values["$SYS/broker/mqdb/events/retained"], "0");
  EXPECT_GE(std::atoi(values["$SYS/broker/mqdb/events/replayed"].c_str()), 5) << "each replay above counted its events";
}

}  // namespace
}  // namespace mqdb::it
