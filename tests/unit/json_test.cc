#include "storage/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
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
  EXPECT_EQ(r.status().message(), "invalid JSON payload: nesting deeper than 64 levels at byte 68");
  // Brackets inside strings are text, not nesting.
  EXPECT_TRUE(ParsePayload("{\"a\":\"" + std::string(500, '[') + "\"}").ok());
  // Very deep input is refused at the 65th level: the recursion never goes deeper.
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

// Print escapes strings exactly as cJSON does (AppendJsonString relies on it), for every byte.
TEST(Json, PrintEscapesStringsAsCJsonDoes) {
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  Json doc = test::J(R"({"id":"a\"b","t":true,"u":false,"z":null,"e":{},"a":[],"nested":{"list":[[{"x":"y"}],"s",{}]}})");
  cJSON_AddItemToObject(doc.get(), "all bytes", cJSON_CreateString(all.c_str()));
  cJSON_AddItemToObject(doc.get(), all.c_str(), cJSON_CreateTrue());
  char* expected = cJSON_PrintUnformatted(doc.get());
  EXPECT_EQ(Print(doc.get()), expected);
  cJSON_free(expected);
  Json empty_array(cJSON_CreateArray());
  EXPECT_EQ(Print(empty_array.get()), "[]");
}

double ReadBack(const std::string& printed) {
  auto parsed = ParsePayload("{\"n\":" + printed + "}");
  EXPECT_TRUE(parsed.ok()) << printed << ": " << parsed.status().message();
  return parsed.ok() ? cJSON_GetObjectItem(parsed.value().get(), "n")->valuedouble : 0;
}

// Numbers keep their value (PROTOCOL.md §1): what is printed reads back as the same double, bit for
// bit, and integers up to 2^53 are printed as plain digits.
TEST(Json, EveryFiniteDoubleRoundTripsThroughPrintAndParse) {
  std::vector<double> numbers = {0.0, -0.0, 1, -1, 0.1, 0.30000000000000004, 1.0 / 3, 2.5e-7, 5e-324, 2.2250738585072014e-308,
                                 1.7976931348623157e308, -1.7976931348623157e308, 9007199254740991.0, 9007199254740992.0,
                                 9007199254740994.0, 1e15 + 2, 1e21, 123456789.123456789, 1700000000000.0};
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (std::isfinite(d)) numbers.push_back(d);
    numbers.push_back(static_cast<double>(static_cast<int64_t>(rng()) >> (rng() % 64)));
  }
  for (double d : numbers) {
    Json n(cJSON_CreateNumber(d));
    const std::string printed = Print(n.get());
    const double back = ReadBack(printed);
    EXPECT_EQ(std::memcmp(&back, &d, sizeof d), 0) << printed;
  }
}

TEST(Json, IntegersUpToTwoToThe53ArePrintedAsDigits) {
  for (const char* text : {"9007199254740991", "-9007199254740991", "9007199254740992", "1700000000000", "0", "-1"}) {
    auto parsed = ParsePayload(std::string("{\"n\":") + text + "}");
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_EQ(Print(cJSON_GetObjectItem(parsed.value().get(), "n")), text);
  }
  auto parsed = ParsePayload(R"({"a":0.30000000000000004,"b":1.7976931348623157e308,"c":5e-324,"d":-0,"e":1.5E3})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(Print(parsed.value().get()), R"({"a":0.30000000000000004,"b":1.7976931348623157e+308,"c":5e-324,"d":-0,"e":1500})");
}

// cJSON truncated number tokens at 63 bytes; the whole token counts, correctly rounded.
TEST(Json, LongNumberTokensKeepTheirWholeValue) {
  const std::string digits70 = "1234567890123456789012345678901234567890123456789012345678901234567890";
  const std::string long_fraction = "0." + std::string(80, '0') + "1";
  for (const std::string& token : {digits70, "-" + digits70, long_fraction, digits70 + ".5e-60"}) {
    EXPECT_EQ(ReadBack(token), std::strtod(token.c_str(), nullptr)) << token;
  }
}

// RFC 8259 and nothing more: each of these is a 400 naming the byte offset, nothing is parsed.
TEST(Json, RejectsEverythingRfc8259Forbids) {
  struct Case { std::string payload, reason; };
  const std::vector<Case> cases = {
      {"\xEF\xBB\xBF{}", "byte order mark not allowed at byte 0"},
      {R"({"a":0123})", "leading zero in number at byte 5"},
      {R"({"a":-01})", "leading zero in number at byte 5"},
      {R"({"a":00})", "leading zero in number at byte 5"},
      {R"({"a":1.})", "digit expected after decimal point at byte 7"},
      {R"({"a":1.e5})", "digit expected after decimal point"},
      {R"({"a":.5})", "syntax error at byte 5"},
      {R"({"a":1e})", "digit expected in exponent"},
      {R"({"a":1e+})", "digit expected in exponent"},
      {R"({"a":-})", "digit expected in number"},
      {R"({"a":+1})", "syntax error at byte 5"},
      {R"({"a":0x10})", "',' or '}' expected at byte 6"},
      {R"({"a":NaN})", "syntax error"},
      {R"({"a":Infinity})", "syntax error"},
      {R"({"a":-Infinity})", "digit expected in number"},
      {R"({"a":1e400})", "number out of range (beyond IEEE double) at byte 5"},
      {R"({"a":-1e400})", "number out of range"},
      {R"({"a":1e-400})", "number out of range"},
      {R"({"a":[1,1e309]})", "number out of range (beyond IEEE double) at byte 8"},
      {"{\"a\":\"x\ty\"}", "raw control character in string (escape it) at byte 7"},
      {"{\"a\":\"x\ny\"}", "raw control character in string"},
      {std::string("{\"a\":\"x\0y\"}", 11), "NUL byte in string at byte 7"},
      {R"({"a":"ab\u0000cd"})", "\\u0000 (NUL) not allowed in strings at byte 8"},
      {R"({"a\u0000x":"evil"})", "\\u0000 (NUL) not allowed in strings at byte 3"},
      {R"({"id":"\u0000"})", "\\u0000 (NUL) not allowed"},
      {R"({"request_id":"r\u0000"})", "\\u0000 (NUL) not allowed"},
      {R"({"a":{"b":["\u0000"]}})", "\\u0000 (NUL) not allowed"},
      {R"({"a":"\x"})", "invalid escape in string at byte 6"},
      {R"({"a":"\u12"})", "invalid \\u escape"},
      {R"({"a":"\ud800"})", "unpaired surrogate"},
      {R"({"a":"\udc00"})", "unpaired surrogate"},
      {R"({"a":"\ud800\u0041"})", "unpaired surrogate"},
      {R"({"a":'x'})", "syntax error"},
      {R"({a:1})", "object key (a string) expected at byte 1"},
      {R"({"a" 1})", "':' expected"},
      {R"({"a":1,})", "object key (a string) expected"},
      {R"({"a":[1,]})", "syntax error"},
      {R"({"a":1 /* c */})", "',' or '}' expected"},
      {R"({"a":tru})", "syntax error"},
      {R"({"a":"x)", "unterminated string"},
      {R"({"a":)", "unexpected end of JSON"},
      {R"({"a":1} x)", "unexpected data after JSON value at byte 8"},
  };
  for (const auto& c : cases) {
    auto r = ParsePayload(c.payload);
    ASSERT_FALSE(r.ok()) << c.payload;
    EXPECT_EQ(r.status().code(), 400) << c.payload;
    EXPECT_NE(r.status().message().find("invalid JSON payload: " + c.reason), std::string::npos)
        << c.payload << " -> " << r.status().message();
  }
}

TEST(Json, AcceptsEveryRfc8259Form) {
  auto r = ParsePayload(" \t\r\n{ \"a\" : [ 0 , -0 , 0.5 , 1E5 , 1e+5 , 1e-5 , -12.25e2 , true , false , null ] ,"
                        R"( "s" : "\u00e9\ud83d\ude00\/\"\\\b\f\n\r\t", "o" : { } , "e" : [ ] } )");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Print(r.value().get()),
            "{\"a\":[0,-0,0.5,100000,100000,1e-05,-1225,true,false,null],"
            "\"s\":\"\xC3\xA9\xF0\x9F\x98\x80/\\\"\\\\\\b\\f\\n\\r\\t\",\"o\":{},\"e\":[]}");
}

// A selective parse builds the named top-level members only and steps over the rest, whatever they
// hold (nested brackets, escaped quotes, brackets inside strings).
TEST(Json, ParseStoredFieldsKeepsOnlyTheNamedMembers) {
  const std::string text =
      R"({"id":"x","a":{"b":[1,"}]",{"c":"\"]}"}]},"s":"q\"uo}te\\","n":-1.5e3,"t":true,"z":null,"keep":{"x":[1,{}]},"e":[]})";
  auto r = ParseStoredFields(text, {"id", "keep", "n", "missing"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Print(r.value().get()), R"({"id":"x","n":-1500,"keep":{"x":[1,{}]}})");
  auto none = ParseStoredFields(text, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(Print(none.value().get()), "{}");
  auto all = ParseStoredFields(text, {"id", "a", "s", "n", "t", "z", "keep", "e"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Print(all.value().get()), Print(ParseStored(text).value().get()));
  for (const char* bad : {R"({"id":"x","a":{"b":[1,)", R"({"id":"x","s":"unterminated)", R"({"a":"\)"}) {
    EXPECT_FALSE(ParseStoredFields(bad, {"id"}).ok()) << bad;
  }
}

}  // namespace
}  // namespace mqdb
