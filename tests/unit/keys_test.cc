#include "storage/keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "test_util.h"

namespace mqdb {
namespace {

TEST(Keys, Layout) {
  EXPECT_EQ(keys::Data("users", "42"), "data/users/42");
  EXPECT_EQ(keys::DataPrefix("users"), "data/users/");
  EXPECT_EQ(keys::Outbox(7), "outbox/00000000000000000007");
  EXPECT_EQ(keys::Dead(7), "dead/00000000000000000007");
  EXPECT_EQ(keys::Ttl(1700000000, "users", "42"), "ttl/00000000001700000000/users/42");
  auto target = keys::ParseTtl(keys::Ttl(1700000000, "users", "42"));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->entity, "users");
  EXPECT_EQ(target->id, "42");
  for (const char* other : {"ttl/", "ttl/00000000001700000000/users", "ttl/00000000001700000000/users/",
                            "ttl/00000000001700000000//42", "data/users/42"}) {
    EXPECT_FALSE(keys::ParseTtl(other).has_value()) << other;
  }
}

TEST(Keys, PaddedSequencesSortNumerically) {
  EXPECT_LT(keys::Outbox(9), keys::Outbox(10));
  EXPECT_LT(keys::Outbox(99999), keys::Outbox(100000));
}

TEST(Keys, EntityPrefixDoesNotCoverLongerEntityNames) {
  // "data/user/" must not be a prefix of records of entity "users".
  EXPECT_NE(keys::Data("users", "1").rfind(keys::DataPrefix("user"), 0), 0u);
}

TEST(Keys, SortableNumbersShareOneOrder) {
  std::vector<double> values = {-1e300, -3, -1.5, -0.0, 0, 1, 1.5, 2, 10, 1e300};
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    Json a(cJSON_CreateNumber(values[i])), b(cJSON_CreateNumber(values[i + 1]));
    if (values[i] == values[i + 1]) {
      EXPECT_EQ(keys::EncodeSortable(a.get()), keys::EncodeSortable(b.get()));
    } else {
      EXPECT_LT(keys::EncodeSortable(a.get()), keys::EncodeSortable(b.get())) << values[i] << " vs " << values[i + 1];
    }
  }
}

TEST(Keys, SortableTypeOrderAndStrings) {
  auto enc = [](const char* text) { return keys::EncodeSortable(test::JAny(text).get()); };
  EXPECT_LT(enc("null"), enc("false"));
  EXPECT_LT(enc("false"), enc("true"));
  EXPECT_LT(enc("true"), enc("-5"));
  EXPECT_LT(enc("99"), enc("\"\""));
  EXPECT_LT(enc("\"a\""), enc("\"ab\""));
  EXPECT_LT(enc("\"ab\""), enc("\"b\""));
  EXPECT_EQ(enc("[1]"), "");  // not indexable
}

// Regions must stay few (Store keeps a scan floor per region): keys that differ only in sequence,
// expiry, id or identity share one, entities get their own.
TEST(Keys, RegionsAreTheFamilyAndForEntityKeysTheEntity) {
  EXPECT_EQ(keys::Region(keys::Data("users", "u1")), "data/users/");
  EXPECT_EQ(keys::Region(keys::Data("users", "u1")), keys::Region(keys::Data("users", "u2")));
  EXPECT_NE(keys::Region(keys::Data("users", "u1")), keys::Region(keys::Data("orders", "u1")));
  EXPECT_EQ(keys::Region(keys::Outbox(1)), "outbox/");
  EXPECT_EQ(keys::Region(keys::Outbox(1)), keys::Region(keys::Outbox(99999)));
  EXPECT_EQ(keys::Region(keys::Ttl(100, "users", "u1")), "ttl/");
  EXPECT_EQ(keys::Region(keys::Ttl(100, "users", "u1")), keys::Region(keys::Ttl(200, "orders", "x")));
  EXPECT_EQ(keys::Region(keys::Dedup("c1:corr")), keys::Region(keys::Dedup("c2:other")));
  EXPECT_EQ(keys::Region(keys::MetaCount("users")), "meta/");
  EXPECT_EQ(keys::Region("idx/users/age/\x05\x00u1"), "idx/users/");
  EXPECT_EQ(keys::Region("uniq/users/email/x"), "uniq/users/");
  EXPECT_EQ(keys::Region("data/"), "data/");  // an entity-scoped family without entity: the family
  EXPECT_EQ(keys::Region("noslash"), "");      // outside every region
  EXPECT_TRUE(keys::IsRegion("data/users/"));
  EXPECT_TRUE(keys::IsRegion("outbox/"));
  EXPECT_TRUE(keys::IsRegion("meta/"));
  EXPECT_FALSE(keys::IsRegion("data/")) << "its keys belong to their entities' regions";
  EXPECT_FALSE(keys::IsRegion("idx/users/age/")) << "a part of the region idx/users/";
  EXPECT_FALSE(keys::IsRegion("data/users"));
  EXPECT_FALSE(keys::IsRegion(""));
}

}  // namespace
}  // namespace mqdb
