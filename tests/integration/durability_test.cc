// Durability modes with a real broker killed by SIGKILL (a process crash; power loss is not simulated).
#include "harness.h"

#include <set>

namespace mqdb::it {
namespace {

class Durability : public ::testing::TestWithParam<std::string> {};

TEST_P(Durability, AcknowledgedWritesSurviveAProcessCrash) {
  Broker broker({"durability " + GetParam(), "durability_ms 5"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  {
    Client c(broker, "dur-writer");
    for (int i = 0; i < 50; ++i) {
      Json env = c.Request("$DB/dur/create", R"({"id":"k)" + std::to_string(i) + R"("})");
      ASSERT_TRUE(IsOk(env)) << Print(env.get());
    }
    ASSERT_TRUE(IsOk(c.Request("$DB/dur/k0/update", R"({"x":1})")));
  }
  broker.Kill();
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client c(broker, "dur-reader");
  EXPECT_EQ(Print(Data(c.Request("$DB/dur/count", "{}"))), R"({"count":50})");
  EXPECT_EQ(Num(Data(c.Request("$DB/dur/k0", "")), "_version"), 2);
}

TEST_P(Durability, PipelinedRequestsAreAllAnsweredWithEvents) {
  Broker broker({"durability " + GetParam()});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client sub(broker, "pipe-sub");
  sub.Subscribe("$DB/pipe/events/#");
  Client c(broker, "pipe-writer");
  const int n = 200;
  for (int i = 0; i < n; ++i) c.Publish("$DB/pipe/create", "{}", 1, false, "test/replies/pipe-writer", std::to_string(i));
  auto replies = c.Collect("test/replies/pipe-writer", n, 20s);
  ASSERT_EQ(replies.size(), static_cast<size_t>(n));
  std::set<std::string> corr;
  for (auto& r : replies) {
    EXPECT_TRUE(IsOk(r.Parsed()));
    corr.insert(r.correlation);
  }
  EXPECT_EQ(corr.size(), static_cast<size_t>(n));
  EXPECT_EQ(sub.Collect("$DB/pipe/events/#", n, 20s).size(), static_cast<size_t>(n));
}

INSTANTIATE_TEST_SUITE_P(Modes, Durability, ::testing::Values("periodic", "immediate", "none"));

TEST(DurabilityImmediate, SequentialRequestsAreNotHeldForTheBrokerTimeout) {
  // With immediate durability a response waits for its fsync; the doorbell wakes the broker as soon as
  // the fsync is done. Without it each response would wait for mosquitto's 100 ms loop timeout.
  Broker broker({"durability immediate"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client c(broker, "imm-seq");
  auto start = std::chrono::steady_clock::now();
  const int n = 40;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(IsOk(c.Request("$DB/imm/create", "{}")));
  auto per_request = (std::chrono::steady_clock::now() - start) / n;
  // Generous bound (fsync on a loaded CI disk can be slow); it only fails if wake-ups are lost.
  EXPECT_LT(per_request, 90ms) << "responses appear to wait for the broker's 100 ms idle timeout";
}

}  // namespace
}  // namespace mqdb::it
