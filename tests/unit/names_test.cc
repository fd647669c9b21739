#include "storage/names.h"

#include <gtest/gtest.h>

namespace mqdb {
namespace {

TEST(Names, EntityNames) {
  EXPECT_TRUE(CheckEntityName("users").ok());
  EXPECT_TRUE(CheckEntityName("Order_items-2").ok());
  EXPECT_TRUE(CheckEntityName(std::string(128, 'a')).ok());
  EXPECT_EQ(CheckEntityName(std::string(129, 'a')).message(), "invalid entity name: longer than 128 bytes");
  EXPECT_EQ(CheckEntityName("").message(), "invalid entity name: empty");
  EXPECT_EQ(CheckEntityName("us.ers").message(), "invalid entity name: only A-Z a-z 0-9 _ - allowed");
  EXPECT_EQ(CheckEntityName("_system").message(), "reserved entity name: _system");
  EXPECT_EQ(CheckEntityName("_system").code(), 400);
}

TEST(Names, Ids) {
  EXPECT_TRUE(CheckId("42").ok());
  EXPECT_TRUE(CheckId("caf\xc3\xa9").ok());
  EXPECT_TRUE(CheckId(std::string(512, 'x')).ok());
  EXPECT_FALSE(CheckId(std::string(513, 'x')).ok());
  EXPECT_FALSE(CheckId("").ok());
  for (const char* bad : {"a/b", "a+b", "a#b"}) EXPECT_FALSE(CheckId(bad).ok()) << bad;
  EXPECT_FALSE(CheckId(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(CheckId("\xff").ok());
}

}  // namespace
}  // namespace mqdb
