#include "storage/json.h"

#include <gtest/gtest.h>

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
    EXPECT_EQ(out, "x" + Print(item.get())) << s;
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

}  // namespace
}  // namespace mqdb
