#include "storage/records.h"

#include <gtest/gtest.h>

#include "storage/keys.h"

#include <map>
#include "test_util.h"

namespace mqdb {
namespace {

using test::J;

// The batch as key -> "put:<value>" / "delete" (the order of ops inside one batch carries no meaning).
std::map<std::string, std::string> Contents(const Batch& b) {
  std::map<std::string, std::string> m;
  for (const auto& op : b.ops()) m[op.key] = op.kind == Batch::Kind::kPut ? "put:" + op.value : "delete";
  return m;
}

class RecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(Store::Open({dir_.path(), Durability::kNone, 10}).value());
    records_ = std::make_unique<Records>(*store_, catalog_, [this] { return now_ms_; });
  }
  // Executes a write and commits its batch, as the service does (without the outbox).
  Result<Outcome> Commit(Result<Outcome> r, Batch& b) {
    if (r.ok()) { EXPECT_TRUE(store_->Commit(b).ok()); }
    return r;
  }
  Outcome Create(const std::string& payload) {
    Batch b;
    auto r = Commit(records_->Create("users", J(payload), b), b);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return std::move(r.value());
  }
  std::vector<std::string> ListIds(const std::string& query) {
    auto r = records_->List("users", J(query).get());
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::vector<std::string> ids;
    Json data = test::Wire(r->data.get());
    for (const cJSON* c = data->child; c; c = c->next) ids.push_back(GetString(c, "id").value());
    return ids;
  }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
  Catalog catalog_;
  std::unique_ptr<Records> records_;
  int64_t now_ms_ = 1700000000000;
};

TEST_F(RecordsTest, CreateStagesRecordAndTtlAndCountsOneRecord) {
  Batch b;
  auto r = records_->Create("users", J(R"({"id":"u1","name":"a","ttl_secs":10})"), b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Contents(b), (std::map<std::string, std::string>{
                            {"data/users/u1", "put:" + Print(r->data.get())},
                            {keys::Ttl(1700000010, "users", "u1"), "put:"}}));
  EXPECT_EQ(b.count_deltas().at("users"), 1);
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].kind, ChangeKind::kCreate);
  EXPECT_EQ(r->changes[0].id, "u1");
}

TEST_F(RecordsTest, GeneratedIdsAreUuidV7AndIncrease) {
  std::string a = GetString(test::Wire(Create("{}").data.get()).get(), "id").value();
  std::string b = GetString(test::Wire(Create("{}").data.get()).get(), "id").value();
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '7');
  EXPECT_LT(a, b);
}

TEST_F(RecordsTest, DuplicateCreateIs409AndStagesNothing) {
  Create(R"({"id":"u1"})");
  Batch b;
  auto r = records_->Create("users", J(R"({"id":"u1"})"), b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), 409);
  EXPECT_EQ(r.status().message(), "already exists: users/u1");
  EXPECT_TRUE(b.empty());
}

TEST_F(RecordsTest, UpdateStagesMergedRecordAndChecksVersion) {
  Create(R"({"id":"u1","a":1})");
  Batch b;
  auto r = records_->Update("users", "u1", J(R"({"a":2,"_version":1})").get(), b);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(b.ops().size(), 1u);
  EXPECT_EQ(b.ops()[0].key, "data/users/u1");
  EXPECT_EQ(GetNumber(test::Wire(r->data.get()).get(), "_version"), 2);
  EXPECT_EQ(Print(r->data.get()), b.ops()[0].value) << "the reply is the stored text";
  EXPECT_EQ(b.count_deltas().count("users") ? b.count_deltas().at("users") : 0, 0);
  ASSERT_TRUE(store_->Commit(b).ok());

  Batch stale;
  auto conflict = records_->Update("users", "u1", J(R"({"a":3,"_version":1})").get(), stale);
  EXPECT_EQ(conflict.status().code(), 409);
  EXPECT_TRUE(stale.empty());
  Batch missing;
  auto nf = records_->Update("users", "nope", J(R"({"a":3})").get(), missing);
  EXPECT_EQ(nf.status().message(), "not found: users/nope");
  EXPECT_TRUE(missing.empty());
}

TEST_F(RecordsTest, DeleteStagesDeletesAndReportsTheOldRecord) {
  Create(R"({"id":"u1","a":1,"ttl_secs":5})");
  Batch b;
  auto r = records_->Delete("users", "u1", J("{}").get(), b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Print(r->data.get()), R"({"id":"u1","deleted":true})");
  EXPECT_EQ(Contents(b), (std::map<std::string, std::string>{
                            {"data/users/u1", "delete"}, {keys::Ttl(1700000005, "users", "u1"), "delete"}}));
  EXPECT_EQ(b.count_deltas().at("users"), -1);
  EXPECT_EQ(r->changes[0].kind, ChangeKind::kDelete);
  EXPECT_EQ(GetNumber(r->changes[0].data.get(), "a"), 1);
  ASSERT_TRUE(store_->Commit(b).ok());
  Batch again;
  EXPECT_EQ(records_->Delete("users", "u1", J("{}").get(), again).status().code(), 404);
}

TEST_F(RecordsTest, ExpiredRecordsAreInvisibleAndTheirIdReusable) {
  Create(R"({"id":"u1","ttl_secs":1})");
  EXPECT_TRUE(records_->Read("users", "u1", J("{}").get()).ok());
  now_ms_ += 1000;
  EXPECT_EQ(records_->Read("users", "u1", J("{}").get()).status().code(), 404);
  EXPECT_TRUE(ListIds("{}").empty());
  EXPECT_EQ(records_->Count("users", J("{}").get())->data->child->valuedouble, 0);
  Batch b;
  auto r = records_->Create("users", J(R"({"id":"u1"})"), b);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->changes.size(), 2u);  // the expired record's Delete, then the Create
  EXPECT_EQ(r->changes[0].kind, ChangeKind::kDelete);
  EXPECT_EQ(r->changes[1].kind, ChangeKind::kCreate);
  EXPECT_EQ(b.count_deltas().count("users") ? b.count_deltas().at("users") : 0, 0);
}

// Reads skip the search for an expiry in records of entities that never had one, so a process that
// opens a database must first learn which entities do (LoadExpiring), as the service does at open.
TEST_F(RecordsTest, ExpiringEntitiesAreKnownToAFreshProcess) {
  Create(R"({"id":"u1","ttl_secs":1})");
  Create(R"({"id":"u2"})");
  Batch b;
  ASSERT_TRUE(Commit(records_->Create("other", J(R"({"id":"o1"})"), b), b).ok());
  records_ = std::make_unique<Records>(*store_, catalog_, [this] { return now_ms_; });
  ASSERT_TRUE(records_->LoadExpiring().ok());
  now_ms_ += 1000;
  EXPECT_EQ(records_->Read("users", "u1", J("{}").get()).status().code(), 404);
  EXPECT_EQ(ListIds("{}"), (std::vector<std::string>{"u2"}));
  EXPECT_TRUE(records_->Read("other", "o1", J("{}").get()).ok());
}

TEST_F(RecordsTest, ListFiltersSortsAndPaginates) {
  for (int i = 0; i < 10; ++i) {
    Create(R"({"id":"u)" + std::to_string(i) + R"(","n":)" + std::to_string(i % 4) + "}");
  }
  EXPECT_EQ(ListIds(R"({"limit":3,"offset":2})"), (std::vector<std::string>{"u2", "u3", "u4"}));
  EXPECT_EQ(ListIds(R"({"filters":[{"field":"n","op":"eq","value":1}]})"), (std::vector<std::string>{"u1", "u5", "u9"}));
  EXPECT_EQ(ListIds(R"({"sort":[{"field":"n","direction":"desc"}],"limit":4})"),
            (std::vector<std::string>{"u3", "u7", "u2", "u6"}));
  EXPECT_EQ(ListIds(R"({"sort":[{"field":"n","direction":"desc"}],"limit":4,"offset":4})"),
            (std::vector<std::string>{"u1", "u5", "u9", "u0"}));
  EXPECT_TRUE(ListIds(R"({"limit":0})").empty());
  EXPECT_TRUE(ListIds(R"({"offset":50})").empty());
  // A filtered page without sort (stored bytes, in id order): offset and limit apply to the matches.
  const std::string gte2 = R"({"field":"n","op":"gte","value":2})";
  EXPECT_EQ(ListIds(R"({"filters":[)" + gte2 + R"(],"offset":1,"limit":2})"), (std::vector<std::string>{"u3", "u6"}));
  EXPECT_EQ(ListIds(R"({"filters":[)" + gte2 + R"(],"offset":3})"), (std::vector<std::string>{"u7"}));
  EXPECT_TRUE(ListIds(R"({"filters":[)" + gte2 + R"(],"limit":0})").empty());
  EXPECT_TRUE(ListIds(R"({"filters":[)" + gte2 + R"(],"offset":4})").empty());
  auto projected = records_->List("users", J(R"({"limit":1,"projection":["n"]})").get());
  EXPECT_EQ(Print(projected->data.get()), R"([{"id":"u0","n":0}])");
  auto count = records_->Count("users", J(R"({"filters":[{"field":"n","op":"gte","value":2}]})").get());
  EXPECT_EQ(Print(count->data.get()), R"({"count":4})");
}

// A full scan builds only the members the query reads; each shape of page must still carry exactly
// what a whole parse gives: sorted whole records byte for byte, projections with nested and system
// fields, filters on nested paths.
TEST_F(RecordsTest, PagesFromPartlyParsedRecordsMatchWholeRecords) {
  for (int i = 0; i < 6; ++i) {
    Create("{\"id\":\"r" + std::to_string(i) + "\",\"n\":" + std::to_string(i % 3) + ",\"o\":{\"c\":" + std::to_string(i) +
           ",\"d\":\"x\"},\"s\":\"v" + std::to_string(5 - i) + "\",\"big\":\"" + std::string(100, 'b') + "\"}");
  }
  auto whole = records_->List("users", J(R"({"limit":100})").get());
  auto sorted = records_->List("users", J(R"({"sort":[{"field":"s"}],"limit":100})").get());
  ASSERT_TRUE(whole.ok() && sorted.ok());
  Json w = std::move(ParseStored(Print(whole->data.get())).value());
  Json srt = std::move(ParseStored(Print(sorted->data.get())).value());
  ASSERT_EQ(cJSON_GetArraySize(w.get()), 6);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(Print(cJSON_GetArrayItem(srt.get(), i)), Print(cJSON_GetArrayItem(w.get(), 5 - i))) << "sorted by s: reversed";
  }
  auto projected = records_->List("users", J(R"({"filters":[{"field":"o.c","op":"gte","value":4}],)"
                                             R"("sort":[{"field":"n","direction":"desc"}],"projection":["o.c","_version","s"]})").get());
  ASSERT_TRUE(projected.ok());
  EXPECT_EQ(Print(projected->data.get()),
            R"([{"id":"r5","o":{"c":5},"_version":1,"s":"v0"},{"id":"r4","o":{"c":4},"_version":1,"s":"v1"}])");
  auto unsorted = records_->List("users", J(R"({"filters":[{"field":"n","op":"eq","value":0}],"projection":["big"]})").get());
  ASSERT_TRUE(unsorted.ok());
  EXPECT_EQ(Print(unsorted->data.get()), "[{\"id\":\"r0\",\"big\":\"" + std::string(100, 'b') + "\"},{\"id\":\"r3\",\"big\":\"" +
                                              std::string(100, 'b') + "\"}]");
}

TEST_F(RecordsTest, ListOnlySeesItsEntity) {
  Create(R"({"id":"u1"})");
  Batch b;
  ASSERT_TRUE(Commit(records_->Create("users2", J(R"({"id":"x"})"), b), b).ok());
  EXPECT_EQ(ListIds("{}"), (std::vector<std::string>{"u1"}));
}

TEST_F(RecordsTest, IncludesWithoutForeignKeyIsA400) {
  auto r = records_->List("posts", J(R"({"includes":["author"]})").get());
  EXPECT_EQ(r.status().message(), "unknown include: author (posts has no foreign key author_id)");
}

}  // namespace
}  // namespace mqdb
