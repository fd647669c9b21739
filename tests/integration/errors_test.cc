// Bad input over a real broker: each gets its specific 400/413, nothing is stored, the broker keeps serving.
#include "harness.h"

namespace mqdb::it {
namespace {

class Errors : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()) << broker_.Log(); }
  Broker broker_{{"max_payload 4096"}};
};

TEST_F(Errors, EachBadInputGetsItsErrorAndStoresNothing) {
  Client c(broker_, "errors");
  ASSERT_TRUE(IsOk(c.Request("$DB/items/create", R"({"id":"keep","v":1})")));
  struct Case {
    std::string topic, payload;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"$DB/items/create", "{\"a\":", 400, "invalid JSON payload: unexpected end of JSON at byte 5"},
      {"$DB/items/create", "[1,2]", 400, "payload must be a JSON object"},
      {"$DB/items/create", "\"text\"", 400, "payload must be a JSON object"},
      {"$DB/items/create", "{\"a\":\"\xff\xfe\"}", 400, "invalid JSON payload: not valid UTF-8"},
      {"$DB/items/create", "{\"a\":" + std::string(65, '[') + std::string(65, ']') + "}", 400,
       "invalid JSON payload: nesting deeper than 64 levels at byte 68"},
      {"$DB/items/create", "{\"a\":\"" + std::string(5000, 'x') + "\"}", 413, "payload too large: 5008 bytes (max 4096)"},
      {"$DB/items/create", R"({"a":1,"a":2})", 400, "invalid JSON payload: duplicate key: a"},
      {"$DB/items/create", R"({"id":""})", 400, "invalid id: empty"},
      {"$DB/items/create", R"({"id":42})", 400, "invalid id: must be a string"},
      {"$DB/items/create", R"({"id":")" + std::string(600, 'i') + R"("})", 400, "invalid id: longer than 512 bytes"},
      {"$DB/items/create", R"({"ttl_secs":0})", 400, "ttl_secs must be an integer between 1 and 3153600000"},
      {"$DB/bad.name/create", "{}", 400, "invalid entity name: only A-Z a-z 0-9 _ - allowed"},
      {"$DB/" + std::string(129, 'e') + "/create", "{}", 400, "invalid entity name: longer than 128 bytes"},
      {"$DB/_system/create", "{}", 400, "reserved entity name: _system"},
      {"$DB/items", "{}", 400, "unknown request topic: $DB/items"},
      {"$DB/items/keep/upsert", "{}", 400, "unknown operation: upsert (use update or delete)"},
      {"$DB/items/keep/update", R"({"id":"other"})", 400, "id cannot be changed"},
      {"$DB/items/list", R"({"filters":[{"field":"v","op":"regex","value":"."}]})", 400, "unknown filter op: regex"},
      {"$DB/items/list", R"({"filters":[{"field":"v","op":"in","value":3}]})", 400, "filter value for in must be an array: v"},
      {"$DB/items/list", R"({"filters":[{"field":"v","op":"gt"}]})", 400, "missing filter value for gt: v"},
      {"$DB/items/list", R"({"sort":[{"field":"v","direction":"sideways"}]})", 400, "bad sort direction (use asc or desc)"},
      {"$DB/items/list", R"({"filter":[{"field":"v","op":"eq","value":1}]})", 400, "unknown query field: filter"},
      {"$DB/items/count", R"({"limit":5})", 400, "count does not accept limit"},
      {"$DB/items/keep", R"({"projection":"v"})", 400, "projection must be an array of field names"},
  };
  for (const auto& k : cases) {
    Json env = c.Request(k.topic, k.payload);
    EXPECT_EQ(Str(env.get(), "status"), "error") << k.topic;
    EXPECT_EQ(Code(env), k.code) << k.topic << " " << k.payload.substr(0, 80);
    EXPECT_EQ(MessageOf(env), k.message) << k.topic << " " << k.payload.substr(0, 80);
  }
  // Nothing changed: one record, untouched, and no event sequence consumed by a rejected write.
  EXPECT_EQ(Print(Data(c.Request("$DB/items/count", "{}"))), R"({"count":1})");
  Json kept = c.Request("$DB/items/keep", "");
  EXPECT_EQ(Num(Data(kept), "_version"), 1);
  EXPECT_EQ(Num(Data(kept), "v"), 1);
  Json health = c.Request("$DB/_health", "");
  EXPECT_EQ(Str(Data(health), "status"), "healthy");
}

TEST_F(Errors, RetainedRequestsAreNeverStoredOrReplayed) {
  Broker persistent({}, "persistence true\npersistence_location @DIR@/\n");
  broker_.Stop();
  ASSERT_TRUE(persistent.Start()) << persistent.Log();
  {
    Client c(persistent, "retainer");
    c.Publish("$DB/retained/create", R"({"id":"r1"})", 1, true, "test/replies/retainer", "c1");
    auto reply = c.Collect("test/replies/retainer", 1);
    ASSERT_EQ(reply.size(), 1u);
    EXPECT_TRUE(IsOk(reply[0].Parsed()));
    // Nobody can subscribe to a request topic (so no retained copy could be replayed to anyone).
    Client late(persistent, "late-subscriber");
    EXPECT_FALSE(late.TrySubscribe("$DB/retained/+"));
  }
  ASSERT_TRUE(persistent.Restart()) << persistent.Log();
  Client c(persistent, "after-restart");
  EXPECT_EQ(Print(Data(c.Request("$DB/retained/count", "{}"))), R"({"count":1})");
  Json r1 = c.Request("$DB/retained/r1", "");
  EXPECT_EQ(Num(Data(r1), "_version"), 1);
}

TEST_F(Errors, BrokerKeepsServingAfterGarbage) {
  Client c(broker_, "garbage");
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  for (const auto& p : {binary, std::string("\0\0\0", 3), std::string("{\"a\":\"\\ud800\"}"), std::string("nul\0l", 5)}) {
    Json env = c.Request("$DB/junk/create", p);
    EXPECT_EQ(Code(env), 400) << Print(env.get());
  }
  EXPECT_EQ(Print(Data(c.Request("$DB/junk/count", "{}"))), R"({"count":0})");
}

}  // namespace
}  // namespace mqdb::it

namespace mqdb::it {
namespace {

TEST(Retry, SameCreateThreeTimesGivesOneRecordOneEventThreeIdenticalResponses) {
  Broker broker;
  ASSERT_TRUE(broker.Start()) << broker.Log();
  std::string first;
  {
    Client sub(broker, "retry-sub");
    sub.Subscribe("$DB/payments/events/#");
    Client c(broker, "retry-client");
    for (int i = 0; i < 3; ++i) {
      auto r = c.RequestRaw("$DB/payments/create", R"({"amount":10})", "pay-1");
      ASSERT_TRUE(r);
      if (i == 0) first = r->payload;
      EXPECT_EQ(r->payload, first) << "attempt " << i;
    }
    EXPECT_TRUE(IsOk(Message{"", first}.Parsed()));
    ASSERT_TRUE(IsOk(c.Request("$DB/payments/create", R"({"id":"sentinel-1"})")));
    auto events = sub.Collect("$DB/payments/events/#", 2);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].topic, "$DB/payments/events/sentinel-1") << "exactly one event for the three attempts";
  }
  ASSERT_TRUE(broker.Restart()) << broker.Log();  // the stored response survives within the window
  Client sub(broker, "retry-sub-2");
  sub.Subscribe("$DB/payments/events/#");
  Client c(broker, "retry-client");
  auto r = c.RequestRaw("$DB/payments/create", R"({"amount":10})", "pay-1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload, first);
  EXPECT_EQ(Print(Data(c.Request("$DB/payments/count", ""))), R"({"count":2})");  // the record + sentinel-1
  ASSERT_TRUE(IsOk(c.Request("$DB/payments/create", R"({"id":"sentinel-2"})")));
  auto events = sub.Collect("$DB/payments/events/#", 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].topic, "$DB/payments/events/sentinel-2") << "the retry after the restart emitted nothing";
}

}  // namespace
}  // namespace mqdb::it
