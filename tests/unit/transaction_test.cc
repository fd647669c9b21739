// Multi-record transactions ($DB/_tx, PROTOCOL.md §6b) through the Service on a real RocksDB.
#include "storage/transaction.h"

#include <gtest/gtest.h>

#include <map>

#include "fault_sink.h"
#include "plugin/service.h"
#include "service_fixture.h"
#include "test_util.h"

namespace mqdb {
namespace {

class TransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Config c = test::ServiceConfig(dir_.path());
    c.ownership = {{"notes", "owner"}};
    svc_ = std::move(Service::Open(c).value());
  }
  Service::Reply Call(const std::string& topic, const std::string& payload, const std::string& user = "admin",
                      const std::string& correlation = "") {
    return svc_->Handle({topic, payload, "client-" + user, user, correlation, 1});
  }
  std::string Text(const Service::Reply& r) { return r.envelope ? *r.envelope : Service::Envelope(r); }
  std::map<std::string, std::string> Everything() { return test::Everything(svc_->store()); }
  std::vector<Json> Events() {
    test::FaultSink sink;
    svc_->Pump({&sink});
    std::vector<Json> out;
    for (const auto& d : sink.delivered) out.push_back(std::move(ParseStored(d.payload).value()));
    return out;
  }

  test::TempDir dir_;
  std::unique_ptr<Service> svc_;
};

TEST_F(TransactionTest, AllOpsCommitTogetherWithOneOperationIdAndEventsInOpOrder) {
  ASSERT_TRUE(Call("$DB/stock/create", R"({"id":"s1","qty":5})").status.ok());
  ASSERT_TRUE(Call("$DB/carts/create", R"({"id":"c9"})").status.ok());
  ASSERT_TRUE(Call("$DB/users/create", R"({"id":"u1","name":"Ann"})").status.ok());
  Events();  // the setup's
  auto r = Call("$DB/_tx", R"({"ops":[{"op":"create","entity":"orders","data":{"id":"o1","total":3}},)"
                           R"({"op":"update","entity":"stock","id":"s1","data":{"qty":4},"_version":1},)"
                           R"({"op":"delete","entity":"carts","id":"c9"},)"
                           R"({"op":"get","entity":"users","id":"u1"}]})");
  ASSERT_TRUE(r.status.ok()) << Text(r);
  auto env = ParseStored(Text(r));
  const cJSON* data = cJSON_GetObjectItem(env.value().get(), "data");
  ASSERT_EQ(cJSON_GetArraySize(data), 4);
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "id")->valuestring, "o1");
  EXPECT_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 1), "qty")->valuedouble, 4);
  EXPECT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 2), "deleted")));
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 3), "name")->valuestring, "Ann");
  auto events = Events();
  ASSERT_EQ(events.size(), 3u) << "one per affected record; the get has none";
  const char* ops[] = {"Create", "Update", "Delete"};
  const char* entities[] = {"orders", "stock", "carts"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_STREQ(cJSON_GetObjectItem(events[i].get(), "operation")->valuestring, ops[i]);
    EXPECT_STREQ(cJSON_GetObjectItem(events[i].get(), "entity")->valuestring, entities[i]);
    EXPECT_STREQ(cJSON_GetObjectItem(events[i].get(), "operation_id")->valuestring,
                 cJSON_GetObjectItem(events[0].get(), "operation_id")->valuestring);
  }
  EXPECT_EQ(svc_->store().EntityCount("carts"), 0);
  EXPECT_EQ(svc_->store().EntityCount("orders"), 1);
}

// The first failing op names itself, and nothing of the transaction is written.
TEST_F(TransactionTest, AFailingOpLeavesEverythingAsItWas) {
  ASSERT_TRUE(Call("$DB/stock/create", R"({"id":"s1","qty":5})").status.ok());
  ASSERT_TRUE(Call("$DB/_admin/constraint/users/add", R"({"type":"unique","fields":["email"]})").status.ok());
  Events();
  const auto before = Everything();
  struct Case {
    std::string ops;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"([{"op":"create","entity":"orders","data":{"id":"o1"}},{"op":"create","entity":"orders","data":{"id":"o2"}},)"
       R"({"op":"update","entity":"stock","id":"s1","data":{"qty":4},"_version":7}])",
       409, "op 2: version conflict: stock/s1 (expected 7, current 1)"},
      {R"([{"op":"create","entity":"users","data":{"email":"a@x"}},{"op":"create","entity":"users","data":{"email":"a@x"}}])",
       409, "op 1: unique constraint violation: users.email"},
      {R"([{"op":"create","entity":"orders","data":{"id":"o1"}},{"op":"create","entity":"orders","data":{"id":"o1"}}])",
       409, "op 1: already exists: orders/o1"},
      {R"([{"op":"delete","entity":"stock","id":"s1"},{"op":"get","entity":"stock","id":"s1"}])", 404,
       "op 1: not found: stock/s1"},
      {R"([{"op":"update","entity":"stock","id":"nope","data":{}}])", 404, "op 0: not found: stock/nope"},
      {R"([{"op":"upsert","entity":"stock","id":"s1"}])", 400, "op 0: unknown op: upsert (use create, update, delete or get)"},
      {R"([{"op":"get","entity":"_sys","id":"x"}])", 400, "op 0: reserved entity name: _sys"},
      {R"([{"op":"get","entity":"stock"}])", 400, "op 0: needs \"id\" (a string)"},
      {R"([{"op":"get","entity":"stock","id":"list"}])", 400, "op 0: reserved id: list ($DB/{entity}/list is not a record's topic)"},
      {R"([{"op":"create","entity":"stock","data":[1]}])", 400, "op 0: needs \"data\": an object"},
      {R"([{"op":"create","entity":"stock","data":{},"extra":1}])", 400, "op 0: unknown key: extra"},
      {R"([{"op":"update","entity":"stock","id":"s1","data":{"_version":1},"_version":1}])", 400,
       "op 0: \"_version\" given twice (in the op and in its data)"},
      {R"([{"op":"delete","entity":"stock","id":"s1","data":{}}])", 400, "op 0: takes no \"data\""},
      {R"([{"op":"create","entity":"stock","data":{"blob":")" + std::string(1100000, 'x') + R"("}}])", 413,
       "op 0: record too large: stock/"},
      {R"([])", 400, "transaction needs \"ops\": a non-empty array"},
      {R"("ops")", 400, "transaction needs \"ops\": a non-empty array"},
  };
  for (const auto& c : cases) {
    auto r = Call("$DB/_tx", R"({"ops":)" + c.ops + "}");
    EXPECT_EQ(r.status.code(), c.code) << c.ops.substr(0, 100);
    EXPECT_EQ(r.status.message().substr(0, c.message.size()), c.message) << c.ops.substr(0, 100);
    EXPECT_EQ(r.ticket, 0u);
  }
  std::string many = "[";
  for (size_t i = 0; i <= kMaxTxOps; ++i) many += std::string(i ? "," : "") + R"({"op":"get","entity":"stock","id":"s1"})";
  many += "]";
  EXPECT_EQ(Call("$DB/_tx", R"({"ops":)" + many + "}").status.message(), "too many ops in transaction (max 100)");
  EXPECT_EQ(Call("$DB/_tx", R"({"ops":[{"op":"get","entity":"stock","id":"s1"}],"atomic":true})").status.message(),
            "unknown field in transaction: atomic");
  EXPECT_EQ(Everything(), before) << "a refused transaction writes nothing";
  EXPECT_TRUE(Events().empty()) << "and publishes nothing";
}

// Each op sees what the ops before it left: versions, values, existence.
TEST_F(TransactionTest, OpsSeeTheStateTheEarlierOpsLeft) {
  auto r = Call("$DB/_tx", R"({"ops":[{"op":"create","entity":"acc","id":"a","data":{"n":1}},)"
                           R"({"op":"update","entity":"acc","id":"a","data":{"n":2},"_version":1},)"
                           R"({"op":"get","entity":"acc","id":"a"},)"
                           R"({"op":"update","entity":"acc","id":"a","data":{"n":3},"_version":2},)"
                           R"({"op":"delete","entity":"acc","id":"a","_version":3},)"
                           R"({"op":"create","entity":"acc","id":"a","data":{"n":9}}]})");
  ASSERT_TRUE(r.status.ok()) << Text(r);
  auto env = ParseStored(Text(r));
  const cJSON* got = cJSON_GetArrayItem(cJSON_GetObjectItem(env.value().get(), "data"), 2);
  EXPECT_EQ(cJSON_GetObjectItem(got, "n")->valuedouble, 2);
  EXPECT_EQ(cJSON_GetObjectItem(got, "_version")->valuedouble, 2);
  auto now = Call("$DB/acc/a", "");
  EXPECT_NE(Text(now).find("\"n\":9"), std::string::npos) << Text(now);
  EXPECT_NE(Text(now).find("\"_version\":1"), std::string::npos) << Text(now);
  EXPECT_EQ(Events().size(), 5u);
}

// Access control per op, as for the single request.
TEST_F(TransactionTest, OwnershipHoldsForEveryOp) {
  ASSERT_TRUE(Call("$DB/notes/create", R"({"id":"b1","text":"bob's"})", "bob").status.ok());
  const auto before = Everything();
  auto r = Call("$DB/_tx", R"({"ops":[{"op":"create","entity":"notes","data":{"id":"a1"}},)"
                           R"({"op":"update","entity":"notes","id":"b1","data":{"text":"mine"}}]})", "alice");
  EXPECT_EQ(r.status.code(), 403);
  EXPECT_EQ(r.status.message().rfind("op 1: forbidden", 0), 0u) << r.status.message();
  EXPECT_EQ(Everything(), before);
  auto get = Call("$DB/_tx", R"({"ops":[{"op":"get","entity":"notes","id":"b1"}]})", "alice");
  EXPECT_EQ(get.status.code(), 403);
  EXPECT_TRUE(Call("$DB/_tx", R"({"ops":[{"op":"update","entity":"notes","id":"b1","data":{"text":"ok"}}]})", "bob").status.ok());
}

// A retried transaction (same client, user, correlation, payload) is executed once.
TEST_F(TransactionTest, ARetryIsExecutedOnceAndOnlyGetsCommitNothing) {
  const std::string tx = R"({"ops":[{"op":"create","entity":"orders","data":{"total":1}},{"op":"create","entity":"orders","data":{"total":2}}]})";
  auto first = Call("$DB/_tx", tx, "admin", "corr-1");
  auto again = Call("$DB/_tx", tx, "admin", "corr-1");
  ASSERT_TRUE(first.status.ok());
  EXPECT_EQ(Text(again), Text(first));
  EXPECT_EQ(svc_->store().EntityCount("orders"), 2);
  EXPECT_EQ(Events().size(), 2u);
  const uint64_t seq = svc_->store().last_seq();
  auto reads = Call("$DB/_tx", R"({"ops":[{"op":"get","entity":"orders","id":"nope"}]})");
  EXPECT_EQ(reads.status.code(), 404);
  ASSERT_TRUE(Call("$DB/orders/create", R"({"id":"x"})").status.ok());
  auto only_gets = Call("$DB/_tx", R"({"ops":[{"op":"get","entity":"orders","id":"x"}]})");
  EXPECT_TRUE(only_gets.status.ok());
  EXPECT_EQ(only_gets.ticket, 0u) << "nothing to commit";
  EXPECT_EQ(svc_->store().last_seq(), seq + 1) << "no sequence taken by a read-only transaction";
}

}  // namespace
}  // namespace mqdb
