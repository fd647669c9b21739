#include "storage/record.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace mqdb {
namespace {

using test::J;

TEST(Record, CreateStripsSystemFieldsAndDirectives) {
  Json p = J(R"({"name":"a","_version":9,"_secret":1,"id":"u1","ttl_secs":60,"request_id":"r"})");
  auto nr = ParseCreate(std::move(p));
  ASSERT_TRUE(nr.ok());
  EXPECT_EQ(nr->id, "u1");
  EXPECT_EQ(nr->ttl_secs, 60);
  Json rec = FinishCreate(std::move(nr.value()), "u1", 1700000000123);
  EXPECT_EQ(Print(rec.get()),
            R"({"id":"u1","name":"a","_version":1,"_created_at":1700000000123,"_updated_at":1700000000123,)"
            R"("_expires_at":1700000061})") << "rounded up: at least 60 s";
  // The payload becomes the record: members dropped at its start, middle and end, data kept in order.
  auto first = ParseCreate(J(R"({"_a":1,"id":"u2","x":[1,{"y":2}],"request_id":"r","z":"s","_b":2})"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Print(first->record.get()), R"({"x":[1,{"y":2}],"z":"s"})");
  auto none = ParseCreate(J(R"({"_a":1,"id":"u3"})"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(Print(none->record.get()), "{}");
}

TEST(Record, CreateValidation) {
  EXPECT_EQ(ParseCreate(J(R"({"id":5})")).status().message(), "invalid id: must be a string");
  EXPECT_EQ(ParseCreate(J(R"({"id":"a/b"})")).status().code(), 400);
  for (const char* ttl : {"0", "-1", "1.5", "\"10\"", "1e12"}) {
    auto r = ParseCreate(J(std::string(R"({"ttl_secs":)") + ttl + "}"));
    ASSERT_FALSE(r.ok()) << ttl;
    EXPECT_EQ(r.status().message().rfind("ttl_secs must be an integer between 1 and", 0), 0u);
  }
  EXPECT_EQ(ParseCreate(J(R"({"request_id":1})")).status().message(), "request_id must be a string");
}

TEST(Record, UpdateIsShallowMergeKeepingNulls) {
  Json cur = J(R"({"id":"u1","a":1,"b":{"x":1},"c":3,"_version":4,"_created_at":5,"_updated_at":5})");
  auto spec = ParseUpdate(J(R"({"b":{"y":2},"c":null,"d":"new","_version":4,"_created_at":0})").get(), "u1");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->expected_version, 4);
  Json rec = ApplyUpdate(cur.get(), spec.value(), 99);
  EXPECT_EQ(Print(rec.get()),
            R"({"id":"u1","a":1,"b":{"y":2},"c":null,"_version":5,"_created_at":5,"_updated_at":99,"d":"new"})");
}

TEST(Record, UpdateCannotChangeId) {
  EXPECT_TRUE(ParseUpdate(J(R"({"id":"u1"})").get(), "u1").ok());
  EXPECT_EQ(ParseUpdate(J(R"({"id":"u2"})").get(), "u1").status().message(), "id cannot be changed");
  EXPECT_EQ(ParseUpdate(J(R"({"_version":0})").get(), "u1").status().message(), "_version must be a positive integer");
}

TEST(Record, VersionCheck) {
  Json rec = J(R"({"id":"u1","_version":3})");
  EXPECT_TRUE(CheckVersion(rec.get(), std::nullopt, "users/u1").ok());
  EXPECT_TRUE(CheckVersion(rec.get(), 3, "users/u1").ok());
  Status s = CheckVersion(rec.get(), 2, "users/u1");
  EXPECT_EQ(s.code(), 409);
  EXPECT_EQ(s.message(), "version conflict: users/u1 (expected 2, current 3)");
}

TEST(Record, DeleteAndReadPayloads) {
  EXPECT_EQ(ParseDelete(J(R"({"_version":2})").get()).value(), 2);
  EXPECT_EQ(ParseDelete(J(R"({"force":true})").get()).status().message(), "unknown field in delete request: force");
  EXPECT_EQ(ParseReadProjection(J(R"({"projection":["a","b"]})").get()).value().size(), 2u);
  EXPECT_EQ(ParseReadProjection(J(R"({"projection":"a"})").get()).status().message(),
            "projection must be an array of field names");
  EXPECT_EQ(ParseReadProjection(J(R"({"fields":["a"]})").get()).status().message(), "unknown field in read request: fields");
}

TEST(Record, Expiry) {
  Json rec = J(R"({"id":"x","_expires_at":100})");
  EXPECT_FALSE(IsExpired(rec.get(), 99999));
  EXPECT_TRUE(IsExpired(rec.get(), 100000));
  EXPECT_FALSE(IsExpired(J(R"({"id":"x"})").get(), 1LL << 50));
}

TEST(Record, ProjectionKeepsIdAndExistingFields) {
  Json rec = J(R"({"id":"x","a":1,"b":2,"_version":1})");
  EXPECT_EQ(Print(Project(rec.get(), {"b", "missing", "_version"}).get()), R"({"id":"x","b":2,"_version":1})");
}

// Dotted paths in a projection keep the nesting of the record, as filters and sort read them.
TEST(Record, ProjectionFollowsDottedPaths) {
  Json rec = J(R"({"id":"r","o":{"c":1,"d":2,"n":{"x":true,"y":false}},"s":"t","arr":[1]})");
  EXPECT_EQ(Print(Project(rec.get(), {"o.c"}).get()), R"({"id":"r","o":{"c":1}})");
  EXPECT_EQ(Print(Project(rec.get(), {"o.c", "o.n.y", "s"}).get()), R"({"id":"r","o":{"c":1,"n":{"y":false}},"s":"t"})");
  EXPECT_EQ(Print(Project(rec.get(), {"o", "o.c"}).get()), R"({"id":"r","o":{"c":1,"d":2,"n":{"x":true,"y":false}}})")
      << "a field inside an object listed whole is not added twice";
  EXPECT_EQ(Print(Project(rec.get(), {"o.c", "o"}).get()), R"({"id":"r","o":{"c":1}})")
      << "the first listing of a name decides";
  EXPECT_EQ(Print(Project(rec.get(), {"o.missing", "s.x", "arr.0", "nope.x"}).get()), R"({"id":"r"})");
  for (const char* bad : {R"({"projection":["a..b"]})", R"({"projection":[".a"]})", R"({"projection":["a."]})"}) {
    auto r = ParseReadProjection(J(bad).get());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().rfind("invalid field path in projection: ", 0), 0u) << r.status().message();
  }
}

}  // namespace
}  // namespace mqdb
