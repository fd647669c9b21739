// Schemas, constraints, foreign keys, indexes and includes against a real RocksDB (storage/ only).
#include <gtest/gtest.h>

#include <map>

#include "storage/definitions.h"
#include "storage/index.h"
#include "storage/keys.h"
#include "storage/records.h"
#include "test_util.h"

namespace mqdb {
namespace {

using test::J;

class Integrity : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_ = std::move(Store::Open({dir_.path(), Durability::kNone, 10}).value());
    catalog_ = std::make_unique<Catalog>();
    ASSERT_TRUE(catalog_->Load(*store_).ok());
    records_ = std::make_unique<Records>(*store_, *catalog_, [this] { return now_ms_; });
    defs_ = std::make_unique<Definitions>(*store_, *catalog_, *records_);
  }
  void Reopen() {
    defs_.reset();
    records_.reset();
    catalog_.reset();
    store_.reset();
    Open();
  }
  // Runs a write and commits it when it succeeds, as the service does.
  Result<Outcome> Write(Result<Outcome> r, Batch& b) {
    if (r.ok()) { EXPECT_TRUE(store_->Commit(b).ok()); }
    return r;
  }
  Result<Outcome> Create(const std::string& entity, const std::string& payload) {
    Batch b;
    return Write(records_->Create(entity, J(payload), b), b);
  }
  Result<Outcome> Update(const std::string& entity, const std::string& id, const std::string& payload) {
    Batch b;
    return Write(records_->Update(entity, id, J(payload).get(), b), b);
  }
  Result<Outcome> Delete(const std::string& entity, const std::string& id) {
    Batch b;
    return Write(records_->Delete(entity, id, J("{}").get(), b), b);
  }
  void Ok(const Result<Outcome>& r) { ASSERT_TRUE(r.ok()) << r.status().message(); }
  void Def(const Result<Json>& r) { ASSERT_TRUE(r.ok()) << r.status().message(); }
  std::string Error(const Result<Outcome>& r) { return r.ok() ? "ok" : r.status().ToString(); }
  std::map<std::string, std::string> Everything() {
    std::map<std::string, std::string> all;
    store_->Scan("", [&](std::string_view k, std::string_view v) { all.emplace(k, v); return true; });
    return all;
  }
  std::vector<std::string> Ids(const std::string& entity, const std::string& query) {
    auto r = records_->List(entity, J(query).get());
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::vector<std::string> ids;
    Json data = r.ok() ? test::Wire(r->data.get()) : NewArray();
    for (const cJSON* c = data->child; c; c = c->next) ids.push_back(GetString(c, "id").value());
    return ids;
  }
  static std::vector<std::string> Summary(const Outcome& o) {
    std::vector<std::string> s;
    for (const auto& c : o.changes) s.push_back(std::string(ChangeKindName(c.kind)) + " " + c.entity + "/" + c.id);
    return s;
  }
  void Fk(const std::string& entity, const std::string& field, const std::string& target, const std::string& on_delete) {
    Def(defs_->AddConstraint(entity, J(R"({"type":"foreign_key","field":")" + field + R"(","target_entity":")" + target +
                                       R"(","on_delete":")" + on_delete + R"("})").get()));
  }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Records> records_;
  std::unique_ptr<Definitions> defs_;
  int64_t now_ms_ = 1700000000000;
};

TEST_F(Integrity, SchemaTypesRequiredDefaultsStrict) {
  Def(defs_->SetSchema("users", J(R"({"fields":{"name":{"type":"string","required":true},
      "age":{"type":"integer","default":0},"score":{"type":"number"},"tags":{"type":"array"}},"strict":true})").get()));
  auto created = Create("users", R"({"id":"u1","name":"Ann"})");
  Ok(created);
  EXPECT_EQ(GetNumber(test::Wire(created->data.get()).get(), "age"), 0) << "default applied";
  auto before = Everything();
  EXPECT_EQ(Error(Create("users", R"({"age":3})")), "400 schema violation: users.name is required");
  EXPECT_EQ(Error(Create("users", R"({"name":null})")), "400 schema violation: users.name is required");
  EXPECT_EQ(Error(Create("users", R"({"name":5})")), "400 schema violation: users.name must be string (got integer)");
  EXPECT_EQ(Error(Create("users", R"({"name":"a","age":1.5})")), "400 schema violation: users.age must be integer (got number)");
  EXPECT_EQ(Error(Create("users", R"({"name":"a","tags":{}})")), "400 schema violation: users.tags must be array (got object)");
  EXPECT_EQ(Error(Create("users", R"({"name":"a","nick":"x"})")), "400 schema violation: users.nick is not in the schema (strict)");
  EXPECT_EQ(Error(Update("users", "u1", R"({"age":"old"})")), "400 schema violation: users.age must be integer (got string)");
  EXPECT_EQ(Error(Update("users", "u1", R"({"name":null})")), "400 schema violation: users.name is required");
  EXPECT_EQ(Everything(), before) << "rejected writes change nothing";
  Ok(Create("users", R"({"name":"b","age":2.0,"score":1.5,"_hidden":1})"));  // 2.0 is an integer
  Ok(Update("users", "u1", R"({"score":7})"));
  Def(defs_->DeleteSchema("users"));
  Ok(Create("users", R"({"anything":"goes"})"));
  EXPECT_EQ(defs_->GetSchema("users").status().ToString(), "404 no schema: users");
}

TEST_F(Integrity, SchemaAndConstraintPayloadErrors) {
  EXPECT_EQ(defs_->SetSchema("u", J(R"({"fields":{"a":{"type":"text"}}})").get()).status().message(),
            "schema field a: unknown type text");
  EXPECT_EQ(defs_->SetSchema("u", J(R"({"fields":[]})").get()).status().message(), "schema needs \"fields\" (an object)");
  EXPECT_EQ(defs_->SetSchema("u", J(R"({"fields":{"a":{"type":"string","min":1}}})").get()).status().message(),
            "schema field a: unknown key min");
  EXPECT_EQ(defs_->AddConstraint("u", J(R"({"type":"check"})").get()).status().message(),
            "unknown constraint type: check (use unique, not_null or foreign_key)");
  EXPECT_EQ(defs_->AddConstraint("u", J(R"({"type":"foreign_key","field":"x"})").get()).status().message(),
            "foreign_key constraint needs \"target_entity\"");
  EXPECT_EQ(defs_->AddConstraint("u", J(R"({"type":"foreign_key","field":"x","target_entity":"t","on_delete":"explode"})").get())
                .status().message(), "on_delete must be restrict, cascade or set_null");
  EXPECT_EQ(defs_->AddConstraint("u", J(R"({"type":"unique","fields":["a","a"]})").get()).status().message(),
            "unique constraint names field twice: a");
  EXPECT_EQ(defs_->RemoveConstraint("u", J(R"({"name":"nope"})").get()).status().ToString(), "404 not found: constraint u.nope");
}

TEST_F(Integrity, UniqueSingleAndCompositeWithRecycling) {
  Def(defs_->AddConstraint("users", J(R"({"type":"unique","fields":["email"]})").get()));
  Def(defs_->AddConstraint("users", J(R"({"type":"unique","fields":["org","handle"]})").get()));
  EXPECT_EQ(Error(Create("users", R"({"id":"a","email":"x@y","org":1,"handle":"h"})")), "ok");
  auto before = Everything();
  EXPECT_EQ(Error(Create("users", R"({"id":"b","email":"x@y"})")), "409 unique constraint violation: users.email");
  EXPECT_EQ(Error(Create("users", R"({"id":"b","org":1.0,"handle":"h"})")), "409 unique constraint violation: users.org,handle");
  EXPECT_EQ(Everything(), before);
  Ok(Create("users", R"({"id":"b","org":1,"handle":"other"})"));  // the combination differs
  Ok(Create("users", R"({"id":"c","org":2,"handle":"h"})"));
  Ok(Create("users", R"({"id":"d"})"));                            // nulls never conflict
  Ok(Create("users", R"({"id":"e","email":null})"));
  EXPECT_EQ(Error(Update("users", "b", R"({"email":"x@y"})")), "409 unique constraint violation: users.email");
  Ok(Update("users", "a", R"({"email":"new@y"})"));                // releases x@y ...
  Ok(Update("users", "b", R"({"email":"x@y"})"));                  // ... which b can now take
  Ok(Delete("users", "b"));                                        // delete releases it again
  Ok(Create("users", R"({"id":"f","email":"x@y"})"));
  Ok(Update("users", "f", R"({"email":"x@y","n":1})"));            // keeping one's own value is fine
}

TEST_F(Integrity, UniqueValueOfAnExpiredRecordIsFree) {
  Def(defs_->AddConstraint("s", J(R"({"type":"unique","fields":["token"]})").get()));
  Ok(Create("s", R"({"id":"old","token":"t","ttl_secs":5})"));
  EXPECT_EQ(Error(Create("s", R"({"token":"t"})")), "409 unique constraint violation: s.token");
  now_ms_ += 5000;
  Ok(Create("s", R"({"id":"new","token":"t"})"));
  Batch b;
  auto expired = records_->Expire("s", "old", b);
  Ok(expired);
  ASSERT_TRUE(store_->Commit(b).ok());
  EXPECT_EQ(Summary(expired.value()), (std::vector<std::string>{"Delete s/old"}));
  EXPECT_EQ(Error(Create("s", R"({"token":"t"})")), "409 unique constraint violation: s.token") << "expiry of the old record must not release the new owner's guard";
}

TEST_F(Integrity, AddingAConstraintThatExistingDataViolatesChangesNothing) {
  Ok(Create("users", R"({"id":"a","email":"same"})"));
  Ok(Create("users", R"({"id":"b","email":"same"})"));
  Ok(Create("users", R"({"id":"c"})"));
  auto before = Everything();
  EXPECT_EQ(defs_->AddConstraint("users", J(R"({"type":"unique","fields":["email"]})").get()).status().ToString(),
            "409 existing data violates unique constraint: users.email (users/a and users/b)");
  EXPECT_EQ(defs_->AddConstraint("users", J(R"({"type":"not_null","field":"email"})").get()).status().ToString(),
            "409 existing data violates not null constraint: users.email (users/c)");
  EXPECT_EQ(defs_->AddConstraint("users", J(R"({"type":"foreign_key","field":"email","target_entity":"mail"})").get())
                .status().ToString(), "409 existing data violates foreign key: users.email (users/a references missing mail/same)");
  EXPECT_EQ(Everything(), before);
  EXPECT_EQ(Print(defs_->ListConstraints("users").value().get()), "[]");
}

TEST_F(Integrity, NotNull) {
  Def(defs_->AddConstraint("users", J(R"({"type":"not_null","field":"email"})").get()));
  EXPECT_EQ(Error(Create("users", R"({"name":"x"})")), "409 not null constraint violation: users.email");
  Ok(Create("users", R"({"id":"a","email":"e"})"));
  EXPECT_EQ(Error(Update("users", "a", R"({"email":null})")), "409 not null constraint violation: users.email");
  EXPECT_EQ(Error(Create("users", R"({"email":"e2"})")), "ok");
  EXPECT_EQ(defs_->AddConstraint("users", J(R"({"type":"not_null","field":"email"})").get()).status().ToString(),
            "409 constraint already exists: not_null_email");
}

TEST_F(Integrity, ForeignKeyRestrict) {
  Fk("posts", "author_id", "users", "restrict");
  EXPECT_EQ(Error(Create("posts", R"({"author_id":"nobody"})")),
            "409 foreign key violation: posts.author_id references missing users/nobody");
  Ok(Create("users", R"({"id":"u1"})"));
  Ok(Create("posts", R"({"id":"p1","author_id":"u1"})"));
  Ok(Create("posts", R"({"id":"p2"})"));  // a null reference is allowed
  auto before = Everything();
  EXPECT_EQ(Error(Delete("users", "u1")), "409 foreign key restrict: users/u1 is referenced by posts/p1 (posts.author_id)");
  EXPECT_EQ(Error(Update("posts", "p1", R"({"author_id":"ghost"})")),
            "409 foreign key violation: posts.author_id references missing users/ghost");
  EXPECT_EQ(Everything(), before);
  Ok(Update("posts", "p1", R"({"author_id":null})"));
  Ok(Delete("users", "u1"));
}

TEST_F(Integrity, CascadeDeletesRecursivelyInOneBatchWithAllEvents) {
  Fk("posts", "author_id", "users", "cascade");
  Fk("comments", "post_id", "posts", "cascade");
  Def(defs_->AddConstraint("posts", J(R"({"type":"unique","fields":["slug"]})").get()));
  Ok(Create("users", R"({"id":"u1"})"));
  Ok(Create("users", R"({"id":"u2"})"));
  Ok(Create("posts", R"({"id":"p1","author_id":"u1","slug":"hello"})"));
  Ok(Create("posts", R"({"id":"p2","author_id":"u1"})"));
  Ok(Create("posts", R"({"id":"p3","author_id":"u2"})"));
  Ok(Create("comments", R"({"id":"c1","post_id":"p1"})"));
  Ok(Create("comments", R"({"id":"c2","post_id":"p2"})"));
  Ok(Create("comments", R"({"id":"c3","post_id":"p3"})"));
  auto deleted = Delete("users", "u1");
  Ok(deleted);
  EXPECT_EQ(Summary(deleted.value()), (std::vector<std::string>{"Delete users/u1", "Delete posts/p1", "Delete comments/c1",
                                                                 "Delete posts/p2", "Delete comments/c2"}));
  EXPECT_EQ(Ids("posts", "{}"), (std::vector<std::string>{"p3"}));
  EXPECT_EQ(Ids("comments", "{}"), (std::vector<std::string>{"c3"}));
  EXPECT_EQ(store_->EntityCount("posts"), 1);
  Ok(Create("posts", R"({"id":"p4","author_id":"u2","slug":"hello"})")) ;  // the cascade released the slug
}

TEST_F(Integrity, SetNullUpdatesChildrenAndEmitsUpdates) {
  Fk("posts", "author_id", "users", "set_null");
  Ok(Create("users", R"({"id":"u1"})"));
  Ok(Create("posts", R"({"id":"p1","author_id":"u1","title":"t"})"));
  auto deleted = Delete("users", "u1");
  Ok(deleted);
  EXPECT_EQ(Summary(deleted.value()), (std::vector<std::string>{"Delete users/u1", "Update posts/p1"}));
  Json p1 = test::Wire(records_->Read("posts", "p1", J("{}").get())->data.get());
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(p1.get(), "author_id")));
  EXPECT_EQ(GetNumber(p1.get(), "_version"), 2);
  EXPECT_EQ(GetString(p1.get(), "title"), "t");
}

TEST_F(Integrity, SetNullOnANotNullFieldIsRefused) {
  Fk("posts", "author_id", "users", "set_null");
  Def(defs_->AddConstraint("posts", J(R"({"type":"not_null","field":"author_id"})").get()));
  Ok(Create("users", R"({"id":"u1"})"));
  Ok(Create("posts", R"({"id":"p1","author_id":"u1"})"));
  auto before = Everything();
  EXPECT_EQ(Error(Delete("users", "u1")), "409 not null constraint violation: posts.author_id");
  EXPECT_EQ(Everything(), before);
}

TEST_F(Integrity, CascadeCyclesTerminate) {
  Fk("a", "b_id", "b", "cascade");
  Fk("b", "a_id", "a", "cascade");
  Ok(Create("a", R"({"id":"a1"})"));
  Ok(Create("b", R"({"id":"b1","a_id":"a1"})"));
  Ok(Update("a", "a1", R"({"b_id":"b1"})"));
  auto deleted = Delete("a", "a1");
  Ok(deleted);
  EXPECT_EQ(Summary(deleted.value()), (std::vector<std::string>{"Delete a/a1", "Delete b/b1"}));
  Fk("n", "parent_id", "n", "cascade");  // self reference
  Ok(Create("n", R"({"id":"root"})"));
  Ok(Create("n", R"({"id":"child","parent_id":"root"})"));
  Ok(Update("n", "root", R"({"parent_id":"child"})"));
  EXPECT_EQ(Summary(Delete("n", "child").value()), (std::vector<std::string>{"Delete n/child", "Delete n/root"}));
}

TEST_F(Integrity, CascadeDepthLimit) {
  Fk("chain", "up_id", "chain", "cascade");
  Ok(Create("chain", R"({"id":"c0"})"));
  for (int i = 1; i <= kMaxCascadeDepth + 1; ++i) {
    Ok(Create("chain", R"({"id":"c)" + std::to_string(i) + R"(","up_id":"c)" + std::to_string(i - 1) + R"("})"));
  }
  auto before = Everything();
  EXPECT_EQ(Error(Delete("chain", "c0")), "409 cascade depth limit (16) exceeded at chain/c17");
  EXPECT_EQ(Everything(), before);
  Ok(Delete("chain", "c1"));  // 16 levels below c1: within the limit
  EXPECT_EQ(Ids("chain", "{}"), (std::vector<std::string>{"c0"}));
}

TEST_F(Integrity, IncludesNestReferencedRecords) {
  Fk("posts", "author_id", "users", "restrict");
  Ok(Create("users", R"({"id":"u1","name":"Ann"})"));
  Ok(Create("posts", R"({"id":"p1","author_id":"u1"})"));
  Ok(Create("posts", R"({"id":"p2"})"));
  auto r = records_->List("posts", J(R"({"includes":["author"],"projection":["author_id"]})").get());
  Ok(r);
  EXPECT_EQ(GetString(cJSON_GetObjectItem(cJSON_GetArrayItem(r->data.get(), 0), "author"), "name"), "Ann");
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(r->data.get(), 1), "author")));
  EXPECT_EQ(records_->List("posts", J(R"({"includes":["editor"]})").get()).status().message(),
            "unknown include: editor (posts has no foreign key editor_id)");
}

TEST_F(Integrity, IndexBackfillsInSlicesAndQueriesAgree) {
  const int n = 5000;
  for (int i = 0; i < n; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "r%05d", i);
    Ok(Create("items", std::string(R"({"id":")") + id + R"(","price":)" + std::to_string(i % 7 == 0 ? i / 7 : i) +
                           (i % 2 ? ".5" : "") + "}"));
  }
  const std::string q = R"({"filters":[{"field":"price","op":"gte","value":4000}],"limit":10000})";
  const std::string eq = R"({"filters":[{"field":"price","op":"eq","value":14}],"limit":10000})";
  auto scan_range = Ids("items", q), scan_eq = Ids("items", eq);
  auto added = defs_->AddIndex("items", J(R"({"fields":["price"]})").get());
  Def(added);
  EXPECT_NE(Print(added.value().get()).find("building"), std::string::npos) << "5000 records: back-filled in slices";
  Ok(Update("items", "r00003", R"({"price":99999})"));  // a write during the back-fill is indexed too
  int steps = 0;
  while (defs_->BackfillStep(1000).value()) ++steps;
  EXPECT_GE(steps, 3);
  EXPECT_TRUE(catalog_->FindIndex("items", "price")->ready);
  scan_range.insert(std::lower_bound(scan_range.begin(), scan_range.end(), "r00003"), "r00003");
  EXPECT_EQ(Ids("items", q), scan_range);
  EXPECT_EQ(Ids("items", eq), scan_eq);
  size_t entries = 0;
  store_->Scan(IndexPrefix("items", "price"), [&](std::string_view, std::string_view) { ++entries; return true; });
  EXPECT_EQ(entries, static_cast<size_t>(n)) << "exactly one entry per record";
  Def(defs_->RemoveIndex("items", J(R"({"fields":["price"]})").get()));
  entries = 0;
  store_->Scan(IndexPrefix("items", "price"), [&](std::string_view, std::string_view) { ++entries; return true; });
  EXPECT_EQ(entries, 0u);
  EXPECT_EQ(Ids("items", q), scan_range);
}

// An equality filter answered by its index sends records as their stored bytes without parsing them,
// except records that may expire, which are parsed and skipped once expired.
TEST_F(Integrity, IndexedEqualityListsSendStoredBytesAndSkipExpiredRecords) {
  Def(defs_->AddIndex("items", J(R"({"fields":["k"]})").get()));
  Ok(Create("items", R"({"id":"a","k":1,"s":"x\"y"})"));
  Ok(Create("items", R"({"id":"b","k":1,"ttl_secs":10})"));
  Ok(Create("items", R"({"id":"c","k":1.0})"));
  Ok(Create("items", R"({"id":"d","k":2})"));
  const std::string eq = R"({"filters":[{"field":"k","op":"eq","value":1}]})";
  const std::string in = R"({"filters":[{"field":"k","op":"in","value":[1,3]}]})";
  EXPECT_EQ(Ids("items", eq), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Ids("items", in), (std::vector<std::string>{"a", "b", "c"}));
  auto list = records_->List("items", J(eq).get());
  ASSERT_TRUE(list.ok());
  const std::string stored_a = *store_->Get(keys::Data("items", "a")).value();
  EXPECT_EQ(Print(list->data.get()).substr(0, stored_a.size() + 2), "[" + stored_a + ",") << "sent as stored";
  now_ms_ += 11000;
  EXPECT_EQ(Ids("items", eq), (std::vector<std::string>{"a", "c"})) << "b expired";
  EXPECT_EQ(Print(records_->Count("items", J(eq).get())->data.get()), R"({"count":2})");
}

// An update keeps only the compared fields of the old version (Records::ComparedFields): what it
// changes in indexes, ttl entries and unique guards must still leave exactly the new entries.
TEST_F(Integrity, AnUpdateMovesItsIndexEntryTtlEntryAndGuard) {
  Def(defs_->AddIndex("items", J(R"({"fields":["k"]})").get()));
  Def(defs_->AddConstraint("items", J(R"({"type":"unique","fields":["code"]})").get()));
  Ok(Create("items", R"({"id":"a","k":1,"code":"x","name":"n","ttl_secs":100})"));
  Ok(Update("items", "a", R"({"k":2,"code":"y","ttl_secs":200})"));
  std::vector<std::string> derived;
  for (const auto& [k, v] : Everything()) {
    if (k.rfind("idx/", 0) == 0 || k.rfind("ttl/", 0) == 0 || k.rfind("uniq/", 0) == 0) derived.push_back(k);
  }
  ASSERT_EQ(derived.size(), 3u) << "one index entry, one ttl entry, one guard";
  EXPECT_EQ(derived[1], keys::Ttl(now_ms_ / 1000 + 200, "items", "a"));  // idx/ < ttl/ < uniq/
  EXPECT_EQ(Ids("items", R"({"filters":[{"field":"k","op":"eq","value":2}]})"), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(Ids("items", R"({"filters":[{"field":"k","op":"eq","value":1}]})").empty());
  Ok(Create("items", R"({"id":"b","code":"x"})"));  // the old value is free again
  EXPECT_EQ(Error(Create("items", R"({"id":"c","code":"y"})")), "409 unique constraint violation: items.code");
}

TEST_F(Integrity, DefinitionsSurviveRestart) {
  Def(defs_->SetSchema("users", J(R"({"fields":{"name":{"type":"string","required":true}}})").get()));
  Def(defs_->AddConstraint("users", J(R"({"type":"unique","fields":["name"]})").get()));
  Def(defs_->AddIndex("users", J(R"({"fields":["age"]})").get()));
  Ok(Create("users", R"({"id":"a","name":"x","age":3})"));
  Reopen();
  EXPECT_EQ(Error(Create("users", R"({"name":"x"})")), "409 unique constraint violation: users.name");
  EXPECT_EQ(Error(Create("users", R"({})")), "400 schema violation: users.name is required");
  EXPECT_EQ(Print(defs_->ListIndexes("users").value().get()), R"(["age"])");
  EXPECT_TRUE(catalog_->FindIndex("users", "age")->ready);
  auto cat = defs_->CatalogJson();
  Def(cat);
  EXPECT_EQ(Print(cat.value().get()),
            R"({"entities":[{"name":"users","count":1,"schema":{"entity":"users","fields":{"name":{"type":"string","required":true}},"strict":false},)"
            R"("constraints":[{"name":"unique_name","type":"unique","fields":["name"]}],"indexes":["age"]}]})");
}

TEST_F(Integrity, RemovingAUniqueConstraintReleasesItsGuards) {
  Def(defs_->AddConstraint("u", J(R"({"type":"unique","fields":["k"]})").get()));
  Ok(Create("u", R"({"id":"a","k":1})"));
  Def(defs_->RemoveConstraint("u", J(R"({"name":"unique_k"})").get()));
  Ok(Create("u", R"({"id":"b","k":1})"));
  size_t guards = 0;
  store_->Scan("uniq/", [&](std::string_view, std::string_view) { ++guards; return true; });
  EXPECT_EQ(guards, 0u);
}

}  // namespace
}  // namespace mqdb

namespace mqdb {
namespace {

class OwnershipTest : public Integrity {
 protected:
  void SetUp() override {
    store_ = std::move(Store::Open({dir_.path(), Durability::kNone, 10}).value());
    catalog_ = std::make_unique<Catalog>();
    records_ = std::make_unique<Records>(*store_, *catalog_, [this] { return now_ms_; }, Ownership{{"notes", "owner"}});
    defs_ = std::make_unique<Definitions>(*store_, *catalog_, *records_);
  }
  Result<Outcome> As(const Principal& who, const std::string& op, const std::string& id, const std::string& payload) {
    Batch b;
    Result<Outcome> r = Status::Internal("?");
    if (op == "create") r = records_->Create("notes", J(payload), b, who);
    if (op == "read") r = records_->Read("notes", id, J(payload).get(), who);
    if (op == "update") r = records_->Update("notes", id, J(payload).get(), b, who);
    if (op == "delete") r = records_->Delete("notes", id, J(payload).get(), b, who);
    if (op == "list") r = records_->List("notes", J(payload).get(), who);
    if (op == "count") r = records_->Count("notes", J(payload).get(), who);
    return Write(std::move(r), b);
  }
  const Principal alice_{"alice", false}, bob_{"bob", false}, anon_{"", false}, admin_{"root", true};
};

TEST_F(OwnershipTest, OwnerIsSetFromTheRequesterAndOthersAreRefused) {
  auto created = As(alice_, "create", "", R"({"id":"n1","text":"hi"})");
  Ok(created);
  EXPECT_EQ(GetString(test::Wire(created->data.get()).get(), "owner"), "alice");
  EXPECT_EQ(created->changes[0].owner, "alice");
  EXPECT_EQ(Error(As(alice_, "create", "", R"({"owner":"bob"})")), "403 forbidden: cannot create notes records owned by another user");
  EXPECT_EQ(Error(As(anon_, "create", "", "{}")), "401 unauthenticated: notes records are owned");
  auto before = Everything();
  EXPECT_EQ(Error(As(bob_, "read", "n1", "{}")), "403 forbidden: notes/n1 belongs to another user");
  EXPECT_EQ(Error(As(bob_, "update", "n1", R"({"text":"x"})")), "403 forbidden: notes/n1 belongs to another user");
  EXPECT_EQ(Error(As(bob_, "delete", "n1", "{}")), "403 forbidden: notes/n1 belongs to another user");
  EXPECT_EQ(Error(As(alice_, "update", "n1", R"({"owner":"bob"})")), "403 forbidden: the owner of notes/n1 cannot be changed");
  EXPECT_EQ(Everything(), before);
  Ok(As(admin_, "read", "n1", "{}"));
  Ok(As(alice_, "update", "n1", R"({"text":"edited"})"));
  Ok(As(bob_, "create", "", R"({"id":"n2"})"));
  Ok(As(admin_, "create", "", R"({"id":"n3","owner":"carol"})"));  // admins may create for others
  auto mine = As(bob_, "list", "", "{}");
  Json mine_sent = test::Wire(mine->data.get());
  ASSERT_EQ(cJSON_GetArraySize(mine_sent.get()), 1);
  EXPECT_EQ(GetString(cJSON_GetArrayItem(mine_sent.get(), 0), "id"), "n2");
  EXPECT_EQ(Print(As(alice_, "count", "", "{}")->data.get()), R"({"count":1})");
  EXPECT_EQ(Print(As(admin_, "count", "", "{}")->data.get()), R"({"count":3})");
  EXPECT_EQ(Error(As(anon_, "list", "", "{}")), "401 unauthenticated: notes records are owned");
  Ok(As(alice_, "delete", "n1", "{}"));
}

}  // namespace
}  // namespace mqdb
