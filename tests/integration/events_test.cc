// Change events over a real broker (PROTOCOL.md §4).
#include "harness.h"

namespace mqdb::it {
namespace {

class Events : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()) << broker_.Log(); }
  Broker broker_;
};

TEST_F(Events, OneEventPerWriteWithIncreasingSequences) {
  Client sub(broker_, "event-sub");
  sub.Subscribe("$DB/orders/events/#");
  Client c(broker_, "event-writer");
  ASSERT_TRUE(IsOk(c.Request("$DB/orders/create", R"({"id":"o1","total":5})")));
  ASSERT_TRUE(IsOk(c.Request("$DB/orders/o1/update", R"({"total":7})")));
  ASSERT_TRUE(IsOk(c.Request("$DB/orders/create", R"({"id":"o2"})")));
  ASSERT_TRUE(IsOk(c.Request("$DB/orders/o1/delete", "")));
  ASSERT_EQ(Code(c.Request("$DB/orders/o1/delete", "")), 404);  // failed writes emit nothing
  ASSERT_TRUE(IsOk(c.Request("$DB/orders/list", "{}")));         // reads emit nothing

  auto events = sub.Collect("$DB/orders/events/#", 4);
  ASSERT_EQ(events.size(), 4u);
  const char* ops[] = {"Create", "Update", "Create", "Delete"};
  const char* ids[] = {"o1", "o1", "o2", "o1"};
  double last_seq = 0;
  for (size_t i = 0; i < 4; ++i) {
    Json ev = events[i].Parsed();
    EXPECT_EQ(events[i].topic, std::string("$DB/orders/events/") + ids[i]);
    EXPECT_EQ(Str(ev.get(), "operation"), ops[i]);
    EXPECT_EQ(Str(ev.get(), "entity"), "orders");
    EXPECT_EQ(Str(ev.get(), "id"), ids[i]);
    EXPECT_EQ(Str(ev.get(), "operation_id").size(), 36u);
    EXPECT_GT(Num(ev.get(), "sequence"), last_seq);
    last_seq = Num(ev.get(), "sequence");
    ASSERT_EQ(events[i].user_properties.size(), 1u);
    EXPECT_EQ(events[i].user_properties[0].first, "x-origin-client-id");
    EXPECT_EQ(events[i].user_properties[0].second, "event-writer");
  }
  Json update = events[1].Parsed();
  EXPECT_EQ(Num(cJSON_GetObjectItem(update.get(), "data"), "total"), 7);
  Json del = events[3].Parsed();
  EXPECT_EQ(Num(cJSON_GetObjectItem(del.get(), "data"), "total"), 7) << "a Delete carries the record as it was";
  // No fifth event is pending: a later write's event is the next one to arrive.
  ASSERT_TRUE(IsOk(c.Request("$DB/orders/create", R"({"id":"o3"})")));
  auto next = sub.Collect("$DB/orders/events/#", 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].topic, "$DB/orders/events/o3");
}

TEST_F(Events, SequencesAndDataSurviveRestart) {
  double before = 0;
  {
    Client sub(broker_, "seq-sub");
    sub.Subscribe("$DB/seq/events/#");
    Client c(broker_, "seq-writer");
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(IsOk(c.Request("$DB/seq/create", R"({"n":)" + std::to_string(i) + "}")));
    auto events = sub.Collect("$DB/seq/events/#", 3);
    ASSERT_EQ(events.size(), 3u);
    before = Num(events[2].Parsed().get(), "sequence");
  }
  ASSERT_TRUE(broker_.Restart()) << broker_.Log();
  Client sub(broker_, "seq-sub2");
  sub.Subscribe("$DB/seq/events/#");
  Client c(broker_, "seq-writer2");
  EXPECT_EQ(Print(Data(c.Request("$DB/seq/count", "{}"))), R"({"count":3})");
  ASSERT_TRUE(IsOk(c.Request("$DB/seq/create", "{}")));
  auto events = sub.Collect("$DB/seq/events/#", 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Num(events[0].Parsed().get(), "sequence"), before + 1) << "sequence continues where it stopped";
}

TEST_F(Events, EventsOfAnEntityDoNotLeakToAnother) {
  Client sub(broker_, "scoped-sub");
  sub.Subscribe("$DB/cats/events/#");
  Client c(broker_, "scoped-writer");
  ASSERT_TRUE(IsOk(c.Request("$DB/dogs/create", R"({"id":"d"})")));
  ASSERT_TRUE(IsOk(c.Request("$DB/cats/create", R"({"id":"c"})")));
  auto events = sub.Collect("#", 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].topic, "$DB/cats/events/c");
}

}  // namespace
}  // namespace mqdb::it
