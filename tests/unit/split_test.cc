#include "storage/split.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mqdb {
namespace {

std::vector<std::string> Parts(std::string_view s, char sep) {
  std::vector<std::string> out;
  for (std::string_view p : Split(s, sep)) out.emplace_back(p);
  return out;
}

TEST(Split, KeepsEmptyPartsAndCountsThem) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Parts("$DB/users/42/update", '/'), (V{"$DB", "users", "42", "update"}));
  EXPECT_EQ(Parts("a//b", '/'), (V{"a", "", "b"}));
  EXPECT_EQ(Parts("/a/", '/'), (V{"", "a", ""}));
  EXPECT_EQ(Parts("", '/'), (V{""}));
  EXPECT_EQ(Parts("address.city", '.'), (V{"address", "city"}));
  for (std::string_view s : {"", "a", "a/b", "//", "/x//y/"}) {
    EXPECT_EQ(CountParts(s, '/'), Split(s, '/').size()) << s;
    size_t visited = 0;
    ForEachPart(s, '/', [&](std::string_view p) { EXPECT_EQ(p, Split(s, '/')[visited++]); });
    EXPECT_EQ(visited, CountParts(s, '/')) << s;
  }
}

TEST(Split, PartsPointIntoTheArgument) {
  std::string topic = "$DB/users/list";
  auto p = Split(topic, '/');
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2].data(), topic.data() + 10);
  EXPECT_EQ(p.capacity(), 3u);  // sized once, before it was filled
}

}  // namespace
}  // namespace mqdb
