// Outbox under crashes (issue: outbox delivery): a real broker under write load is killed with SIGKILL at
// random moments, several rounds, and restarted. A persistent-session QoS 1 subscriber must end up with
// a Create event for every record that was committed; duplicates are allowed only for entries in flight
// at a crash, and their number is reported.
#include <map>
#include <random>
#include <set>

#include "harness.h"

namespace mqdb::it {
namespace {

struct Seen {
  std::map<std::string, int> by_event;  // "operation_id/id" -> times received
  std::set<std::string> created_ids;
  void Add(const Message& m) {
    Json ev = m.Parsed();
    ++by_event[Str(ev.get(), "operation_id") + "/" + Str(ev.get(), "id")];
    if (Str(ev.get(), "operation") == "Create") created_ids.insert(Str(ev.get(), "id"));
  }
  void Drain(Client& sub, std::chrono::milliseconds wait) {
    while (auto m = sub.Next(wait)) {
      if (TopicMatches("$DB/crash/events/#", m->topic)) Add(*m);
    }
  }
};

TEST(OutboxCrash, SigkillUnderWriteLoadLosesNoEvent) {
  // Mosquitto's own persistence keeps the subscriber's session (and the QoS 1 events queued for it
  // while it is offline) across restarts; autosave every second bounds what a SIGKILL takes from it.
  Broker real({"durability periodic"}, "persistence true\nautosave_interval 1\nmax_queued_messages 100000\n"
                                       "persistence_location @DIR@/\n");
  ASSERT_TRUE(real.Start()) << real.Log();
  Seen seen;
  auto sub = std::make_unique<Client>(real, "crash-sub", 5, /*clean=*/false);
  sub->Subscribe("$DB/crash/events/#", 1);
  ASSERT_TRUE(real.Restart()) << real.Log();  // a clean stop persists the session with its subscription

  std::mt19937 rng(20261125);
  const int rounds = 6;
  size_t acked = 0, written = 0;
  for (int round = 0; round < rounds; ++round) {
    sub = std::make_unique<Client>(real, "crash-sub", 5, false);  // resumes the persisted session
    {
      Client writer(real, "crash-writer-" + std::to_string(round));
      // Steady request/response traffic for longer than the outbox keep window, then a burst of
      // writes whose responses are not awaited. Each publish returns once the broker acknowledged it,
      // i.e. after the plugin committed it; the kill lands while the burst's responses and events are
      // still on their way.
      auto steady_for = std::chrono::milliseconds(std::uniform_int_distribution<int>(400, 1200)(rng));
      int burst = std::uniform_int_distribution<int>(1, 200)(rng);
      std::string prefix = R"({"id":"r)" + std::to_string(round) + "-";
      int steady = 0;
      for (auto until = std::chrono::steady_clock::now() + steady_for; std::chrono::steady_clock::now() < until; ++steady) {
        ASSERT_TRUE(IsOk(writer.Request("$DB/crash/create", prefix + std::to_string(steady) + R"("})")));
      }
      for (int i = steady; i < steady + burst; ++i) {
        writer.Publish("$DB/crash/create", prefix + std::to_string(i) + R"("})", 1, false, "test/replies/" + writer.id(),
                       std::to_string(i));
      }
      written += static_cast<size_t>(steady + burst);
      acked += static_cast<size_t>(steady) + writer.Collect("test/replies/" + writer.id(), static_cast<size_t>(burst), 0ms).size();
      real.Kill();
    }
    seen.Drain(*sub, 100ms);  // whatever reached the subscriber before the crash
    ASSERT_TRUE(real.Start()) << real.Log();
  }
  sub = std::make_unique<Client>(real, "crash-sub", 5, false);

  // Every record that exists now was committed; each must have its Create event.
  Client reader(real, "crash-reader");
  std::set<std::string> committed;
  for (int offset = 0;; offset += 10000) {
    Json page = reader.Request("$DB/crash/list", R"({"limit":10000,"projection":["id"],"offset":)" + std::to_string(offset) + "}");
    ASSERT_TRUE(IsOk(page));
    if (!Data(page)->child) break;
    for (const cJSON* r = Data(page)->child; r; r = r->next) committed.insert(Str(r, "id"));
  }
  EXPECT_EQ(committed.size(), written) << "every create the broker acknowledged (PUBACK) is stored";
  bool complete = WaitFor([&] {
    seen.Drain(*sub, 50ms);
    for (const auto& id : committed) {
      if (!seen.created_ids.count(id)) return false;
    }
    return true;
  }, 30s);
  std::vector<std::string> missing;
  for (const auto& id : committed) {
    if (!seen.created_ids.count(id)) missing.push_back(id);
  }
  EXPECT_TRUE(complete) << missing.size() << " committed records have no event, e.g. "
                        << (missing.empty() ? "" : missing.front());
  size_t phantom = 0;
  for (const auto& id : seen.created_ids) phantom += committed.count(id) ? 0 : 1;
  EXPECT_EQ(phantom, 0u) << "events for records that were never committed";
  size_t duplicates = 0;
  for (const auto& [key, n] : seen.by_event) duplicates += static_cast<size_t>(n - 1);
  std::cout << "[ crash    ] rounds=" << rounds << " committed=" << committed.size() << " responses_before_kill=" << acked
            << " events=" << seen.by_event.size() << " duplicates=" << duplicates << std::endl;
  ::testing::Test::RecordProperty("duplicates", static_cast<int>(duplicates));
}

}  // namespace
}  // namespace mqdb::it
