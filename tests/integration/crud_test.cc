// CRUD and queries over a real broker (PROTOCOL.md §1-3), MQTT 5 and MQTT 3.1.1.
#include "harness.h"

namespace mqdb::it {
namespace {

class Crud : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()) << broker_.Log(); }
  Broker broker_;
};

std::vector<std::string> Ids(const Json& env) {
  std::vector<std::string> ids;
  for (const cJSON* c = Data(env) ? Data(env)->child : nullptr; c; c = c->next) ids.push_back(Str(c, "id"));
  return ids;
}

TEST_F(Crud, FullRoundTrip) {
  Client c(broker_, "crud-v5");
  Json created = c.Request("$DB/users/create", R"({"name":"Alice","age":30,"_version":99,"_evil":1})");
  ASSERT_TRUE(IsOk(created)) << Print(created.get());
  std::string id = Str(Data(created), "id");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '7') << "UUIDv7";
  EXPECT_EQ(Num(Data(created), "_version"), 1);
  EXPECT_GT(Num(Data(created), "_created_at"), 1.6e12);
  EXPECT_EQ(Num(Data(created), "_created_at"), Num(Data(created), "_updated_at"));
  EXPECT_FALSE(cJSON_GetObjectItem(Data(created), "_evil"));

  Json read = c.Request("$DB/users/" + id, "");
  EXPECT_EQ(Print(Data(read)), Print(Data(created)));

  Json updated = c.Request("$DB/users/" + id + "/update", R"({"age":31,"city":null,"_version":1})");
  ASSERT_TRUE(IsOk(updated)) << Print(updated.get());
  EXPECT_EQ(Num(Data(updated), "_version"), 2);
  EXPECT_EQ(Num(Data(updated), "age"), 31);
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(Data(updated), "city")));
  EXPECT_EQ(Str(Data(updated), "name"), "Alice");

  Json stale = c.Request("$DB/users/" + id + "/update", R"({"age":32,"_version":1})");
  EXPECT_EQ(Code(stale), 409);
  EXPECT_EQ(MessageOf(stale), "version conflict: users/" + id + " (expected 1, current 2)");

  Json dup = c.Request("$DB/users/create", R"({"id":")" + id + R"("})");
  EXPECT_EQ(Code(dup), 409);
  EXPECT_EQ(MessageOf(dup), "already exists: users/" + id);

  Json deleted = c.Request("$DB/users/" + id + "/delete", R"({"_version":2})");
  EXPECT_EQ(Print(Data(deleted)), R"({"id":")" + id + R"(","deleted":true})");
  Json gone = c.Request("$DB/users/" + id, "");
  EXPECT_EQ(Code(gone), 404);
  EXPECT_EQ(MessageOf(gone), "not found: users/" + id);
  EXPECT_EQ(Code(c.Request("$DB/users/" + id + "/delete", "")), 404);
}

TEST_F(Crud, ListAndCountQueries) {
  Client c(broker_, "crud-list");
  const char* people[] = {
      R"({"id":"p1","name":"ann","age":17,"address":{"city":"Oslo"}})",
      R"({"id":"p2","name":"bob","age":30.5,"address":{"city":"Rome"}})",
      R"({"id":"p3","name":"bea","age":30,"address":{"city":"Oslo"}})",
      R"({"id":"p4","name":"carl","age":null})",
      R"({"id":"p5","name":"ben","age":"old"})",
  };
  for (const char* p : people) ASSERT_TRUE(IsOk(c.Request("$DB/people/create", p)));

  auto list = [&](const std::string& q) { return Ids(c.Request("$DB/people/list", q)); };
  using V = std::vector<std::string>;
  EXPECT_EQ(list("{}"), (V{"p1", "p2", "p3", "p4", "p5"}));
  EXPECT_EQ(list(R"({"filters":[{"field":"age","op":"gte","value":18}]})"), (V{"p2", "p3"}));
  EXPECT_EQ(list(R"({"filters":[{"field":"age","op":"neq","value":30}]})"), (V{"p1", "p2"}));
  EXPECT_EQ(list(R"({"filters":[{"field":"age","op":"in","value":[17,30]}]})"), (V{"p1", "p3"}));
  EXPECT_EQ(list(R"({"filters":[{"field":"name","op":"like","value":"b*"}]})"), (V{"p2", "p3", "p5"}));
  EXPECT_EQ(list(R"({"filters":[{"field":"age","op":"is_null"}]})"), (V{"p4"}));
  EXPECT_EQ(list(R"({"filters":[{"field":"address.city","op":"eq","value":"Oslo"}]})"), (V{"p1", "p3"}));
  EXPECT_EQ(list(R"({"filters":[{"field":"address.city","op":"eq","value":"Oslo"},{"field":"age","op":"lt","value":20}]})"),
            (V{"p1"}));
  EXPECT_EQ(list(R"({"sort":[{"field":"age","direction":"desc"}]})"), (V{"p5", "p2", "p3", "p1", "p4"}));
  EXPECT_EQ(list(R"({"sort":[{"field":"address.city"},{"field":"name","direction":"desc"}]})"),
            (V{"p4", "p5", "p3", "p1", "p2"}));
  EXPECT_EQ(list(R"({"sort":[{"field":"name"}],"limit":2,"offset":1})"), (V{"p3", "p5"}));

  Json projected = c.Request("$DB/people/list", R"({"filters":[{"field":"name","op":"eq","value":"ann"}],"projection":["age"]})");
  EXPECT_EQ(Print(Data(projected)), R"([{"id":"p1","age":17}])");
  Json count = c.Request("$DB/people/count", R"({"filters":[{"field":"address.city","op":"eq","value":"Oslo"}]})");
  EXPECT_EQ(Print(Data(count)), R"({"count":2})");
  Json bad = c.Request("$DB/people/list", R"({"filters":[{"field":"age","op":"between","value":1}]})");
  EXPECT_EQ(Code(bad), 400);
  EXPECT_EQ(MessageOf(bad), "unknown filter op: between");
}

TEST_F(Crud, LimitReturnsExactlyTheRequestedPage) {
  Client c(broker_, "crud-page");
  for (int i = 0; i < 250; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "r%03d", i);
    ASSERT_TRUE(IsOk(c.Request("$DB/rows/create", std::string(R"({"id":")") + id + R"("})")));
  }
  EXPECT_EQ(Ids(c.Request("$DB/rows/list", "{}")).size(), 100u);  // default limit
  auto page = Ids(c.Request("$DB/rows/list", R"({"limit":200,"offset":100})"));
  ASSERT_EQ(page.size(), 150u);
  EXPECT_EQ(page.front(), "r100");
  EXPECT_EQ(page.back(), "r249");
  EXPECT_EQ(Code(c.Request("$DB/rows/list", R"({"limit":10001})")), 400);
}

TEST_F(Crud, CorrelationDataIsCopiedByteForByte) {
  Client c(broker_, "crud-corr");
  std::string corr("\x00\x01\xff binary \x00", 12);
  auto m = c.RequestRaw("$DB/_health", "", corr);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->correlation, corr);
}

TEST_F(Crud, Mqtt311ClientsGetRepliesOnDbReplyAloneWithRequestId) {
  Client asker(broker_, "v311-asker", 4);
  Client other(broker_, "v311-other", 4);
  asker.Subscribe("$DB/_reply");
  other.Subscribe("$DB/_reply");
  asker.Publish("$DB/things/create", R"({"id":"t1","request_id":"req-1"})");
  auto replies = asker.Collect("$DB/_reply", 1);
  ASSERT_EQ(replies.size(), 1u);
  Json env = replies[0].Parsed();
  EXPECT_TRUE(IsOk(env));
  EXPECT_EQ(Str(env.get(), "request_id"), "req-1");
  EXPECT_EQ(Str(Data(env), "id"), "t1");
  // The other client's own request is answered to it; it never saw the asker's reply before it.
  other.Publish("$DB/things/t1", R"({"request_id":"req-2"})");
  auto theirs = other.Collect("$DB/_reply", 1);
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(Str(theirs[0].Parsed().get(), "request_id"), "req-2");
}

TEST_F(Crud, ExactlyOneResponsePerRequest) {
  Client c(broker_, "crud-once");
  for (int i = 0; i < 20; ++i) c.Publish("$DB/once/create", "{}", 1, false, "test/replies/crud-once", "c" + std::to_string(i));
  c.Publish("$DB/once/create", "{bad", 1, false, "test/replies/crud-once", "c-bad");
  auto got = c.Collect("test/replies/crud-once", 21);
  ASSERT_EQ(got.size(), 21u);
  // A sentinel answered after everything else: any duplicate would have arrived before it.
  auto sentinel = c.RequestRaw("$DB/_health", "", "sentinel");
  ASSERT_TRUE(sentinel);
  EXPECT_TRUE(c.Collect("test/replies/crud-once", 1, 0ms).empty());
  EXPECT_EQ(Print(Data(c.Request("$DB/once/count", "{}"))), R"({"count":20})");
}

TEST_F(Crud, DollarResponseTopicIsRefusedAndNothingExecutes) {
  Client c(broker_, "crud-dollar");
  c.Subscribe("$DB/_reply");
  c.Publish("$DB/victims/create", R"({"id":"v1"})", 1, false, "$SYS/steal", "x");
  auto replies = c.Collect("$DB/_reply", 1);
  ASSERT_EQ(replies.size(), 1u);
  Json env = replies[0].Parsed();
  EXPECT_EQ(Code(env), 400);
  EXPECT_EQ(MessageOf(env), "response topic must not start with $");
  EXPECT_EQ(replies[0].correlation, "x");
  EXPECT_EQ(Code(c.Request("$DB/victims/v1", "")), 404);
}

TEST_F(Crud, TtlRecordsExpireAtOnce) {
  Client c(broker_, "crud-ttl");
  Json created = c.Request("$DB/sessions/create", R"({"id":"s1","ttl_secs":1})");
  ASSERT_TRUE(IsOk(created));
  EXPECT_GT(Num(Data(created), "_expires_at"), 1.6e9);
  EXPECT_TRUE(IsOk(c.Request("$DB/sessions/s1", "")));
  ASSERT_TRUE(WaitFor([&] { return Code(c.Request("$DB/sessions/s1", "")) == 404; }, 5s));
  EXPECT_EQ(Print(Data(c.Request("$DB/sessions/list", "{}"))), "[]");
  EXPECT_EQ(Code(c.Request("$DB/sessions/s1/update", R"({"a":1})")), 404);
  EXPECT_TRUE(IsOk(c.Request("$DB/sessions/create", R"({"id":"s1"})"))) << "an expired id can be reused";
}

}  // namespace
}  // namespace mqdb::it
