// $DB/_tx over a real broker (PROTOCOL.md §6b): all or nothing, events in op order after the commit.
#include "harness.h"

namespace mqdb::it {
namespace {

TEST(Transaction, CommitsAllOrNothingAndPublishesInOpOrder) {
  Broker broker;
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client c(broker, "tx");
  Client sub(broker, "tx-sub");
  sub.Subscribe("$DB/+/events/#");
  ASSERT_TRUE(IsOk(c.Request("$DB/stock/create", R"({"id":"s1","qty":5})")));
  Json ok = c.Request("$DB/_tx", R"({"ops":[{"op":"create","entity":"orders","data":{"id":"o1"}},)"
                                 R"({"op":"update","entity":"stock","id":"s1","data":{"qty":4},"_version":1},)"
                                 R"({"op":"get","entity":"stock","id":"s1"}]})");
  ASSERT_TRUE(IsOk(ok)) << MessageOf(ok);
  EXPECT_EQ(Num(cJSON_GetArrayItem(Data(ok), 2), "qty"), 4);
  // A failing transaction: nothing written, nothing published (the sentinel comes next).
  Json bad = c.Request("$DB/_tx", R"({"ops":[{"op":"create","entity":"orders","data":{"id":"o2"}},)"
                                  R"({"op":"update","entity":"stock","id":"s1","data":{"qty":0},"_version":1}]})");
  EXPECT_EQ(Code(bad), 409);
  EXPECT_EQ(MessageOf(bad), "op 1: version conflict: stock/s1 (expected 1, current 2)");
  EXPECT_EQ(Code(c.Request("$DB/orders/o2", "")), 404);
  ASSERT_TRUE(IsOk(c.Request("$DB/sentinel/create", "{}")));
  auto events = sub.Collect("$DB/+/events/#", 4);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].topic, "$DB/stock/events/s1");
  EXPECT_EQ(events[1].topic, "$DB/orders/events/o1");
  EXPECT_EQ(events[2].topic, "$DB/stock/events/s1");
  EXPECT_EQ(events[3].topic.rfind("$DB/sentinel/events/", 0), 0u) << "nothing of the failed transaction";
  EXPECT_EQ(Str(events[1].Parsed().get(), "operation_id"), Str(events[2].Parsed().get(), "operation_id"));
  EXPECT_NE(Str(events[0].Parsed().get(), "operation_id"), Str(events[1].Parsed().get(), "operation_id"));
}

}  // namespace
}  // namespace mqdb::it
