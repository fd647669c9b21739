#include "storage/json.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "test_util.h"

namespace mqdb {
namespace {

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(Json, EmptyPayloadIsEmptyObject) {
  for (const char* p : {"", "  ", "\n"}) {
    auto r = ParsePayload(p);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(Print(r.value().get()), "{}");
  }
}

TEST(Json, RejectsMalformedJsonWithPosition) {
  auto r = ParsePayload("{\"a\":}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), 400);
  EXPECT_EQ(r.status().message().rfind("invalid JSON payload: syntax error at byte", 0), 0u) << r.status().message();
}

TEST(Json, RejectsNonObjects) {
  for (const char* p : {"[1,2]", "42", "\"s\"", "null", "true"}) {
    auto r = ParsePayload(p);
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_EQ(r.status().message(), "payload must be a JSON object");
  }
}

TEST(Json, RejectsTrailingData) {
  auto r = ParsePayload("{} {}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unexpected data after JSON value"), std::string::npos);
}

TEST(Json, NestingLimitIs64Levels) {
  // The object itself is level 1.
  EXPECT_TRUE(ParsePayload("{\"a\":" + Nested(63) + "}").ok());
  auto r = ParsePayload("{\"a\":" + Nested(64) + "}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid JSON payload: nesting deeper than 64 levels");
  // Brackets inside strings are text, not nesting.
  EXPECT_TRUE(ParsePayload("{\"a\":\"" + std::string(500, '[') + "\"}").ok());
  // Very deep input is refused without recursion.
  EXPECT_FALSE(ParsePayload("{\"a\":" + Nested(200000) + "}").ok());
}

TEST(Json, RejectsInvalidUtf8) {
  auto r = ParsePayload("{\"a\":\"\xff\"}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid JSON payload: not valid UTF-8");
}

TEST(Json, RejectsDuplicateKeysAtAnyDepth) {
  auto r = ParsePayload("{\"a\":1,\"b\":{\"c\":1,\"c\":2}}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid JSON payload: duplicate key: c");
}

// Objects of up to 32 members are checked pair by pair, larger ones with a set: both name the first
// member whose key repeats an earlier one, wherever it is.
TEST(Json, NamesTheFirstRepeatedKeyInSmallAndLargeObjects) {
  for (int members : {1, 2, 31, 32, 33, 40}) {
    std::string unique = "{";
    for (int i = 0; i < members; ++i) unique += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
    ASSERT_TRUE(ParsePayload(unique + "}").ok()) << members;
    for (int at = 0; at < members; ++at) {
      // k{at} again at the end, after a first repeat of the last key when there is room for it.
      std::string repeated = unique + ",\"k" + std::to_string(at) + "\":0}";
      auto r = ParsePayload(repeated);
      ASSERT_FALSE(r.ok()) << members << " " << at;
      EXPECT_EQ(r.status().message(), "invalid JSON payload: duplicate key: k" + std::to_string(at));
    }
    std::string two = unique + ",\"k0\":0,\"k" + std::to_string(members - 1) + "\":0}";
    auto r = ParsePayload(two);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "invalid JSON payload: duplicate key: k0") << members;
  }
  // Keys that share a prefix are different keys.
  EXPECT_TRUE(ParsePayload(R"({"a":1,"ab":2,"abc":3,"b":{"a":1}})").ok());
}

TEST(Json, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // UTF-16 surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
}

TEST(Json, AsInt64AcceptsOnlyIntegralNumbers) {
  Json one(cJSON_CreateNumber(1.0)), half(cJSON_CreateNumber(1.5)), s(cJSON_CreateString("1"));
  EXPECT_EQ(AsInt64(one.get()), 1);
  EXPECT_FALSE(AsInt64(half.get()));
  EXPECT_FALSE(AsInt64(s.get()));
}

}  // namespace
}  // namespace mqdb

namespace mqdb {
namespace {

// Text assembled with AppendJsonString must be exactly what cJSON prints for the same string: replies
// and events are built that way and compared byte for byte by retries (dedup) and subscribers.
TEST(Json, AppendJsonStringEscapesExactlyAsCJson) {
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (const std::string& s : {std::string(), std::string("plain"), std::string("q\"b\\s/t\tn\nr\r"), all,
                               std::string("h\xC3\xA9llo \xF0\x9F\x98\x80 \x7F")}) {
    Json item(cJSON_CreateString(s.c_str()));
    std::string out = "x";
    AppendJsonString(out, s);
    char* expected = cJSON_PrintUnformatted(item.get());
    EXPECT_EQ(out, std::string("x") + expected) << s;
    cJSON_free(expected);
  }
}

TEST(Json, AppendJsonCopiesRawItemsAndPrintsOthers) {
  std::string out;
  Json raw(cJSON_CreateRaw(R"({"a":1})"));
  AppendJson(out, raw.get());
  Json obj = test::J(R"({"b":[1,2.5,"x"]})");
  AppendJson(out, obj.get());
  EXPECT_EQ(out, R"({"a":1}{"b":[1,2.5,"x"]})");
}

TEST(Json, RawBuilderHandsItsTextToTheItemThroughEveryRegrowth) {
  RawBuilder b;
  std::string expected = "[";
  b.Append('[');
  b.Reserve(10);  // smaller than what follows: Append regrows past it, keeping what was written
  for (int i = 0; i < 200; ++i) {
    const std::string part = (i ? "," : "") + std::string(R"({"id":"r)") + std::to_string(i) + R"("})";
    b.Append(part);
    expected += part;
  }
  const std::string buffer = "]{}";
  b.Append(std::string_view(buffer).substr(0, 1));  // a view with no terminator of its own
  expected += ']';
  EXPECT_EQ(b.size(), expected.size());
  Json raw(b.Release());
  ASSERT_NE(raw, nullptr);
  EXPECT_TRUE(cJSON_IsRaw(raw.get()));
  EXPECT_EQ(std::string(raw->valuestring), expected) << "terminated where the text ends";
  EXPECT_EQ(Print(raw.get()), expected);
  EXPECT_EQ(b.size(), 0u) << "released: the builder starts over";
  Json empty(b.Release());
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(Print(empty.get()), "");
  b.Append("[1]");
  Json again(b.Release());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(Print(again.get()), "[1]");
}

// The hint sizes replies before they are printed: too small and the reply grows by doubling again,
// far too large and every reply holds memory it never uses.
TEST(Json, PrintedSizeHintIsTheSizeOfAPageOfRecordsAndCoversOtherDocuments) {
  Json page(cJSON_CreateArray());
  for (int i = 0; i < 10; ++i) {
    const std::string record = R"({"id":"r)" + std::to_string(i) + R"(","name":"some text"})";
    cJSON_AddItemToArray(page.get(), cJSON_CreateRaw(record.c_str()));
  }
  const size_t printed = Print(page.get()).size();
  EXPECT_GE(PrintedSizeHint(page.get()), printed);
  EXPECT_LE(PrintedSizeHint(page.get()), printed + 1);  // one comma too many
  for (const char* text : {R"({"id":"x","n":1700000000000,"f":-2.5e-7,"t":true,"u":false,"z":null})",
                           R"({"nested":{"list":[1,[2,{"x":"y"}],"s",{}],"e":[]},"k":"value"})", "[]", "{}",
                           R"("just a string")", "12"}) {
    Json doc = test::JAny(text);
    ASSERT_NE(doc, nullptr) << text;
    const size_t size = Print(doc.get()).size();
    EXPECT_GE(PrintedSizeHint(doc.get()), size) << text;
    EXPECT_LE(PrintedSizeHint(doc.get()), 2 * size + 24) << text;
  }
}

// Print is our own printer (cJSON's spends most of its time in sprintf/sscanf for numbers); stored
// records, replies and retried responses depend on it printing exactly what cJSON prints.
TEST(Json, PrintIsByteIdenticalToCJson) {
  std::vector<double> numbers = {0.0, -0.0, 1, -1, 7, 2147483647.0, 2147483648.0, -2147483648.0, -2147483649.0,
                                 1700000000000.0, -1700000000123.0, 999999999999999.0, 1e15, -1e15, 1e15 + 2,
                                 9007199254740992.0, 1e300, -1e-300, 0.1, 2.5, -3.75, 1.0 / 3, 123456789.123456789,
                                 5e-324, 1.7976931348623157e308};
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    numbers.push_back(d);  // any bit pattern: NaN and infinities print as null
    numbers.push_back(static_cast<double>(static_cast<int64_t>(rng()) >> (rng() % 64)));
  }
  for (double d : numbers) {
    Json n(cJSON_CreateNumber(d));
    char* expected = cJSON_PrintUnformatted(n.get());
    EXPECT_EQ(Print(n.get()), expected) << d;
    cJSON_free(expected);
  }
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  Json doc = test::J(R"({"id":"a\"b","n":1700000000000,"f":-2.5e-7,"t":true,"u":false,"z":null,"e":{},"a":[],)"
                     R"("nested":{"list":[1,[2,{"x":"y"}],"s",{}],"big":12345678901234567890}})");
  cJSON_AddItemToObject(doc.get(), "all bytes", cJSON_CreateString(all.c_str()));
  cJSON_AddItemToObject(doc.get(), all.c_str(), cJSON_CreateNumber(1));
  cJSON_AddItemToArray(cJSON_GetObjectItem(doc.get(), "a"), cJSON_CreateNumber(0.5));
  char* expected = cJSON_PrintUnformatted(doc.get());
  EXPECT_EQ(Print(doc.get()), expected);
  cJSON_free(expected);
  Json empty_array(cJSON_CreateArray());
  EXPECT_EQ(Print(empty_array.get()), "[]");
}

}  // namespace
}  // namespace mqdb
