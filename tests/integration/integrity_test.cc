// Data integrity and query power over a real broker (PROTOCOL.md §3, §5).
#include <atomic>
#include <set>
#include <thread>

#include "harness.h"

namespace mqdb::it {
namespace {

class IntegrityIT : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Start()) << broker_.Log();
    admin_ = std::make_unique<Client>(broker_, "admin-client", 5, true, "admin");
    user_ = std::make_unique<Client>(broker_, "user-client");
  }
  Json Admin(const std::string& path, const std::string& payload) {
    Json env = admin_->Request("$DB/_admin/" + path, payload);
    EXPECT_TRUE(IsOk(env)) << path << ": " << Print(env.get());
    return env;
  }
  Json Req(const std::string& topic, const std::string& payload) { return user_->Request(topic, payload); }
  std::string Err(const std::string& topic, const std::string& payload) {
    Json env = Req(topic, payload);
    return IsOk(env) ? "ok" : std::to_string(Code(env)) + " " + MessageOf(env);
  }
  std::vector<std::string> Ids(const std::string& entity, const std::string& query) {
    Json env = Req("$DB/" + entity + "/list", query);
    EXPECT_TRUE(IsOk(env)) << Print(env.get());
    std::vector<std::string> ids;
    for (const cJSON* c = Data(env) ? Data(env)->child : nullptr; c; c = c->next) ids.push_back(Str(c, "id"));
    return ids;
  }

  Broker broker_{{"admin_users admin"}};
  std::unique_ptr<Client> admin_, user_;
};

TEST_F(IntegrityIT, SchemasValidateCreatesAndUpdates) {
  Admin("schema/users/set", R"({"fields":{"name":{"type":"string","required":true},"age":{"type":"integer","default":0}}})");
  Json got = Admin("schema/users/get", "");
  EXPECT_EQ(Print(Data(got)), R"({"entity":"users","fields":{"name":{"type":"string","required":true},)"
                              R"("age":{"type":"integer","required":false,"default":0}},"strict":false})");
  EXPECT_EQ(Err("$DB/users/create", R"({"age":5})"), "400 schema violation: users.name is required");
  EXPECT_EQ(Err("$DB/users/create", R"({"name":"a","age":"five"})"), "400 schema violation: users.age must be integer (got string)");
  Json ok = Req("$DB/users/create", R"({"id":"u1","name":"Ann"})");
  EXPECT_EQ(Num(Data(ok), "age"), 0);
  EXPECT_EQ(Err("$DB/users/u1/update", R"({"age":1.5})"), "400 schema violation: users.age must be integer (got number)");
  EXPECT_EQ(Num(Data(Req("$DB/users/u1", "")), "_version"), 1) << "the rejected update changed nothing";
  EXPECT_EQ(Code(user_->Request("$DB/_admin/schema/users/delete", "")), 403);
  Admin("schema/users/delete", "");
  EXPECT_EQ(Err("$DB/users/create", R"({"age":"any"})"), "ok");
}

TEST_F(IntegrityIT, UniqueNotNullAndRecycling) {
  Json c = Admin("constraint/users/add", R"({"type":"unique","fields":["email"]})");
  EXPECT_EQ(Str(Data(c), "name"), "unique_email");
  Admin("constraint/users/add", R"({"type":"not_null","field":"email"})");
  EXPECT_EQ(Err("$DB/users/create", R"({"name":"x"})"), "409 not null constraint violation: users.email");
  EXPECT_EQ(Err("$DB/users/create", R"({"id":"a","email":"a@x"})"), "ok");
  EXPECT_EQ(Err("$DB/users/create", R"({"id":"b","email":"a@x"})"), "409 unique constraint violation: users.email");
  EXPECT_EQ(Err("$DB/users/a/delete", ""), "ok");
  EXPECT_EQ(Err("$DB/users/create", R"({"id":"b","email":"a@x"})"), "ok") << "a deleted record's value is free again";
  Json list = Admin("constraint/users/list", "");
  EXPECT_EQ(cJSON_GetArraySize(Data(list)), 2);
  Admin("constraint/users/remove", R"({"name":"unique_email"})");
  EXPECT_EQ(Err("$DB/users/create", R"({"email":"a@x"})"), "ok");
  Json dup = admin_->Request("$DB/_admin/constraint/users/add", R"({"type":"unique","fields":["email"]})");
  EXPECT_EQ(Code(dup), 409);
  EXPECT_EQ(MessageOf(dup).rfind("existing data violates unique constraint: users.email", 0), 0u) << MessageOf(dup);
}

TEST_F(IntegrityIT, ForeignKeysRestrictCascadeSetNullWithTheirEvents) {
  Client sub(broker_, "fk-events");
  sub.Subscribe("$DB/+/events/#");
  Admin("constraint/posts/add", R"({"type":"foreign_key","field":"author_id","target_entity":"users","on_delete":"cascade"})");
  Admin("constraint/comments/add", R"({"type":"foreign_key","field":"post_id","target_entity":"posts","on_delete":"set_null"})");
  Admin("constraint/likes/add", R"({"type":"foreign_key","field":"user_id","target_entity":"users","on_delete":"restrict"})");
  EXPECT_EQ(Err("$DB/posts/create", R"({"author_id":"ghost"})"), "409 foreign key violation: posts.author_id references missing users/ghost");
  for (const char* c : {R"({"id":"u1"})", R"({"id":"u2"})"}) ASSERT_EQ(Err("$DB/users/create", c), "ok");
  ASSERT_EQ(Err("$DB/posts/create", R"({"id":"p1","author_id":"u1"})"), "ok");
  ASSERT_EQ(Err("$DB/posts/create", R"({"id":"p2","author_id":"u1"})"), "ok");
  ASSERT_EQ(Err("$DB/comments/create", R"({"id":"c1","post_id":"p1","text":"hi"})"), "ok");
  ASSERT_EQ(Err("$DB/likes/create", R"({"id":"l1","user_id":"u2"})"), "ok");
  ASSERT_EQ(sub.Collect("$DB/+/events/#", 6).size(), 6u);

  EXPECT_EQ(Err("$DB/users/u2/delete", ""), "409 foreign key restrict: users/u2 is referenced by likes/l1 (likes.user_id)");
  EXPECT_EQ(Err("$DB/users/u1/delete", ""), "ok");
  auto events = sub.Collect("$DB/+/events/#", 4);
  ASSERT_EQ(events.size(), 4u);
  std::vector<std::string> seen;
  std::set<std::string> ops;
  for (auto& e : events) {
    Json ev = e.Parsed();
    seen.push_back(Str(ev.get(), "operation") + " " + Str(ev.get(), "entity") + "/" + Str(ev.get(), "id"));
    ops.insert(Str(ev.get(), "operation_id"));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"Delete users/u1", "Delete posts/p1", "Update comments/c1", "Delete posts/p2"}));
  EXPECT_EQ(ops.size(), 1u) << "one write, one operation_id";
  Json c1 = Req("$DB/comments/c1", "");
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(Data(c1), "post_id")));
  EXPECT_EQ(Str(Data(c1), "text"), "hi");
  EXPECT_TRUE(Ids("posts", "{}").empty());
}

TEST_F(IntegrityIT, IndexedRangeQueriesMixIntsAndFloatsWithProjectionAndIncludes) {
  Admin("constraint/products/add", R"({"type":"foreign_key","field":"maker_id","target_entity":"makers"})");
  ASSERT_EQ(Err("$DB/makers/create", R"({"id":"m1","name":"Acme"})"), "ok");
  const char* prices[] = {"-3", "0", "1", "1.5", "2", "2.25", "10", "99.99", "100", "\"cheap\""};
  int i = 0;
  for (const char* p : prices) {
    ASSERT_EQ(Err("$DB/products/create", std::string(R"({"id":"p)") + std::to_string(i++) + R"(","maker_id":"m1","price":)" + p + "}"), "ok");
  }
  Json added = Admin("index/products/add", R"({"fields":["price"]})");
  EXPECT_NE(Print(Data(added)).find(R"("state":"ready")"), std::string::npos);
  EXPECT_EQ(Print(Data(Admin("index/products/list", ""))), R"(["maker_id","price"])");
  using V = std::vector<std::string>;
  EXPECT_EQ(Ids("products", R"({"filters":[{"field":"price","op":"gte","value":1.5},{"field":"price","op":"lt","value":100}]})"),
            (V{"p3", "p4", "p5", "p6", "p7"}));
  EXPECT_EQ(Ids("products", R"({"filters":[{"field":"price","op":"lte","value":1}]})"), (V{"p0", "p1", "p2"}));
  EXPECT_EQ(Ids("products", R"({"filters":[{"field":"price","op":"eq","value":2.0}]})"), (V{"p4"}));
  EXPECT_EQ(Ids("products", R"({"filters":[{"field":"price","op":"in","value":[100,"cheap",7]}]})"), (V{"p8", "p9"}));
  EXPECT_EQ(Ids("products", R"({"filters":[{"field":"price","op":"gt","value":50}],"sort":[{"field":"price","direction":"desc"}]})"),
            (V{"p8", "p7"}));
  Json page = Req("$DB/products/list", R"({"filters":[{"field":"price","op":"eq","value":10}],"projection":["price"],"includes":["maker"]})");
  EXPECT_EQ(Print(Data(page)), R"([{"id":"p6","price":10,"maker":{"id":"m1","name":"Acme","_version":1,)"
                               R"("_created_at":)" + std::to_string(static_cast<long long>(Num(Data(Req("$DB/makers/m1", "")), "_created_at"))) +
                               R"(,"_updated_at":)" + std::to_string(static_cast<long long>(Num(Data(Req("$DB/makers/m1", "")), "_updated_at"))) + "}}]");
  EXPECT_EQ(Print(Data(Req("$DB/products/count", R"({"filters":[{"field":"price","op":"gte","value":0}]})"))), R"({"count":8})");
}

TEST_F(IntegrityIT, LargeIndexBackfillKeepsServingOtherClients) {
  const int n = 12000;  // several back-fill slices
  for (int i = 0; i < n; i += 200) {
    for (int k = i; k < i + 200; ++k) {
      user_->Publish("$DB/big/create", R"({"id":"b)" + std::to_string(100000 + k) + R"(","v":)" + std::to_string(k % 100) + "}", 1,
                     false, "test/replies/user-client", "c" + std::to_string(k));
    }
    ASSERT_EQ(user_->Collect("test/replies/user-client", 200, 20s).size(), 200u);
  }
  Json added = Admin("index/big/add", R"({"field":"v"})");
  EXPECT_NE(Print(Data(added)).find(R"("state":"building")"), std::string::npos) << Print(Data(added));
  // While the back-fill runs in slices, other requests are answered.
  Client other(broker_, "other");
  int answered = 0;
  bool ready = WaitFor([&] {
    if (IsOk(other.Request("$DB/_health", ""))) ++answered;
    Json state = Admin("index/big/add", R"({"field":"v"})");  // idempotent; reports the state
    return Print(Data(state)).find(R"("state":"ready")") != std::string::npos;
  }, 60s);
  ASSERT_TRUE(ready);
  EXPECT_GE(answered, 1);
  EXPECT_EQ(Print(Data(Req("$DB/big/count", R"({"filters":[{"field":"v","op":"eq","value":42}]})"))), R"({"count":120})");
  EXPECT_EQ(Ids("big", R"({"filters":[{"field":"v","op":"gt","value":98}],"limit":3})"),
            (std::vector<std::string>{"b100099", "b100199", "b100299"}));
}

TEST_F(IntegrityIT, DefinitionsAndDataSurviveRestart) {
  Admin("schema/users/set", R"({"fields":{"name":{"type":"string","required":true}}})");
  Admin("constraint/users/add", R"({"type":"unique","fields":["name"]})");
  Admin("index/users/add", R"({"fields":["age"]})");
  ASSERT_EQ(Err("$DB/users/create", R"({"id":"a","name":"x","age":30})"), "ok");
  admin_.reset();
  user_.reset();
  ASSERT_TRUE(broker_.Restart()) << broker_.Log();
  admin_ = std::make_unique<Client>(broker_, "admin-client", 5, true, "admin");
  user_ = std::make_unique<Client>(broker_, "user-client");
  EXPECT_EQ(Err("$DB/users/create", R"({"name":"x"})"), "409 unique constraint violation: users.name");
  EXPECT_EQ(Err("$DB/users/create", R"({"age":1})"), "400 schema violation: users.name is required");
  EXPECT_EQ(Ids("users", R"({"filters":[{"field":"age","op":"gte","value":18}]})"), (std::vector<std::string>{"a"}));
  Json catalog = Admin("catalog", "");
  EXPECT_EQ(Print(Data(catalog)),
            R"({"entities":[{"name":"users","count":1,"schema":{"entity":"users","fields":{"name":{"type":"string","required":true}},)"
            R"("strict":false},"constraints":[{"name":"unique_name","type":"unique","fields":["name"]}],"indexes":["age"]}]})");
}

TEST_F(IntegrityIT, BackupChangeRestore) {
  ASSERT_EQ(Err("$DB/notes/create", R"({"id":"n1","text":"v1"})"), "ok");
  Json b = Admin("backup", R"({"name":"before"})");
  EXPECT_EQ(Str(Data(b), "name"), "before");
  ASSERT_EQ(Err("$DB/notes/n1/update", R"({"text":"v2"})"), "ok");
  ASSERT_EQ(Err("$DB/notes/create", R"({"id":"n2"})"), "ok");
  Admin("restore", R"({"name":"before"})");
  EXPECT_EQ(Str(Data(Req("$DB/notes/n1", "")), "text"), "v1");
  EXPECT_EQ(Code(Req("$DB/notes/n2", "")), 404);
  Json list = Admin("backup/list", "");
  ASSERT_EQ(cJSON_GetArraySize(Data(list)), 1);
  EXPECT_EQ(Str(Data(list)->child, "name"), "before");
  EXPECT_GT(Num(Data(list)->child, "size_bytes"), 0);
  EXPECT_EQ(Err("$DB/notes/create", R"({"id":"n3"})"), "ok") << "writes continue after a restore";
}

TEST_F(IntegrityIT, SixtyFourClientsRaceForOneUniqueValue) {
  Admin("constraint/accounts/add", R"({"type":"unique","fields":["handle"]})");
  const int k = 64;
  // Connect in parallel: Paho C serves all connections of a process from one receive thread that
  // notices a new socket only at its select timeout (~2 s per sequential connect, measured).
  std::vector<std::unique_ptr<Client>> clients(k);
  {
    std::vector<std::thread> connecting;
    for (int i = 0; i < k; ++i) {
      connecting.emplace_back([&, i] { clients[i] = std::make_unique<Client>(broker_, "racer-" + std::to_string(i)); });
    }
    for (auto& t : connecting) t.join();
  }
  std::atomic<int> go{0}, ok{0}, conflict{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < k; ++i) {
    threads.emplace_back([&, i] {
      ++go;
      while (go.load() < k) std::this_thread::yield();  // all start together
      Json env = clients[i]->Request("$DB/accounts/create", R"({"handle":"the-one"})", 20s);
      if (IsOk(env)) ++ok;
      else if (Code(env) == 409 && MessageOf(env) == "unique constraint violation: accounts.handle") ++conflict;
      else ++other;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(conflict.load(), k - 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Print(Data(Req("$DB/accounts/count", ""))), R"({"count":1})");
}

TEST_F(IntegrityIT, TtlSweepEmitsDeletesAndReleasesUniqueValues) {
  Admin("constraint/sessions/add", R"({"type":"unique","fields":["token"]})");
  Client sub(broker_, "ttl-sub");
  sub.Subscribe("$DB/sessions/events/#");
  ASSERT_EQ(Err("$DB/sessions/create", R"({"id":"s1","token":"t1","ttl_secs":1})"), "ok");
  auto events = sub.Collect("$DB/sessions/events/#", 2, 10s);  // Create, then the sweep's Delete
  ASSERT_EQ(events.size(), 2u);
  Json del = events[1].Parsed();
  EXPECT_EQ(Str(del.get(), "operation"), "Delete");
  EXPECT_EQ(Str(del.get(), "id"), "s1");
  ASSERT_EQ(events[1].user_properties.size(), 1u);
  EXPECT_EQ(events[1].user_properties[0].second, "mqdb-ttl");
  EXPECT_EQ(Err("$DB/sessions/create", R"({"id":"s2","token":"t1"})"), "ok");
  EXPECT_EQ(Print(Data(Req("$DB/sessions/count", ""))), R"({"count":1})");
}

}  // namespace
}  // namespace mqdb::it
