#include "storage/index.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "storage/query.h"
#include "storage/store.h"
#include "test_util.h"

namespace mqdb {
namespace {

using test::J;

// Index ranges must select exactly what a full scan with Matches() selects, for every op and pivot,
// over mixed types (ints, floats, negative numbers, strings with shared prefixes, booleans, nulls).
TEST(Index, RangesSelectExactlyTheMatchingRecords) {
  test::TempDir dir;
  auto store = std::move(Store::Open({dir.path(), Durability::kNone, 10}).value());
  std::vector<std::string> values = {"1", "1.0", "1.5", "-3", "0", "-0.5", "2", "10", "100.25", "-1e9",
                                     "\"a\"", "\"ab\"", "\"abc\"", "\"b\"", "\"\"", "\"B\"", "true", "false",
                                     "null", "[1]", "{\"x\":1}"};
  std::vector<Json> records;
  Batch b;
  for (size_t i = 0; i < values.size() * 3; ++i) {
    std::string id = "r" + std::to_string(100 + i);
    Json rec = J(R"({"id":")" + id + R"(","v":)" + values[i % values.size()] + "}");
    if (auto k = IndexKey("e", "v", cJSON_GetObjectItem(rec.get(), "v"), id)) b.Put(*k, "");
    records.push_back(std::move(rec));
  }
  ASSERT_TRUE(store->Commit(b).ok());
  const size_t prefix_len = IndexPrefix("e", "v").size();
  int checked = 0;
  for (const char* op : {"eq", "lt", "lte", "gt", "gte", "in"}) {
    for (const auto& pivot : values) {
      if (pivot == "null" || pivot[0] == '[' || pivot[0] == '{') continue;
      std::string value = std::string(op) == "in" ? "[" + pivot + ",\"zz\",7]" : pivot;
      auto q = ParseQuery(J(R"({"filters":[{"field":"v","op":")" + std::string(op) + R"(","value":)" + value + "}]}").get(),
                          QueryKind::kList);
      ASSERT_TRUE(q.ok()) << q.status().message();
      auto ranges = IndexRanges("e", q->filters[0]);
      ASSERT_TRUE(ranges) << op << " " << pivot;
      std::set<std::string> via_index, via_scan;
      for (const auto& r : *ranges) {
        store->Scan(IndexPrefix("e", "v"), [&](std::string_view key, std::string_view) {
          if (key >= r.end) return false;
          via_index.insert(IdFromIndexKey(key, prefix_len));
          return true;
        }, r.begin);
      }
      for (const auto& rec : records) {
        if (Matches(q->filters, rec.get())) via_scan.insert(GetString(rec.get(), "id").value());
      }
      EXPECT_EQ(via_index, via_scan) << op << " " << pivot;
      ++checked;
    }
  }
  EXPECT_GT(checked, 80);
}

TEST(Index, FiltersAnIndexCannotAnswer) {
  for (const char* f : {R"({"field":"v","op":"like","value":"a*"})", R"({"field":"v","op":"is_null"})",
                        R"({"field":"v","op":"neq","value":1})", R"({"field":"v","op":"eq","value":[1]})"}) {
    auto q = ParseQuery(J(std::string(R"({"filters":[)") + f + "]}").get(), QueryKind::kList);
    ASSERT_TRUE(q.ok());
    EXPECT_FALSE(IndexRanges("e", q->filters[0])) << f;
  }
}

TEST(Index, KeysRoundTripTheId) {
  Json s(cJSON_CreateString("x")), n(cJSON_CreateNumber(3)), t(cJSON_CreateTrue());
  for (const cJSON* v : {s.get(), n.get(), t.get()}) {
    auto k = IndexKey("e", "f", v, "id/with-\xc3\xa9");
    ASSERT_TRUE(k);
    EXPECT_EQ(IdFromIndexKey(*k, IndexPrefix("e", "f").size()), "id/with-\xc3\xa9");
  }
  Json nul(cJSON_CreateNull()), arr(cJSON_CreateArray());
  EXPECT_FALSE(IndexKey("e", "f", nul.get(), "x"));
  EXPECT_FALSE(IndexKey("e", "f", arr.get(), "x"));
  EXPECT_FALSE(IndexKey("e", "f", nullptr, "x"));
}

TEST(Index, UniqueKeysIgnoreNullsAndSeparateComposites) {
  auto k = [](const char* rec) { return UniqueKey("e", "unique_a_b", {"a", "b"}, J(rec).get()); };
  EXPECT_FALSE(k(R"({"a":1})"));
  EXPECT_FALSE(k(R"({"a":1,"b":null})"));
  EXPECT_EQ(k(R"({"a":1,"b":"x"})"), k(R"({"b":"x","a":1.0,"c":9})"));
  EXPECT_NE(k(R"({"a":"1","b":"x"})"), k(R"({"a":1,"b":"x"})"));
  EXPECT_NE(k(R"({"a":"ab","b":"c"})"), k(R"({"a":"a","b":"bc"})"));  // no ambiguity when concatenated
}

}  // namespace
}  // namespace mqdb
