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

}  // namespace
}  // namespace mqdb
