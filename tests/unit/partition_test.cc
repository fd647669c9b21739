#include "cluster/partition.h"

#include <gtest/gtest.h>

namespace mqdb::cluster {
namespace {

TEST(Partition, Crc32MatchesTheStandardCheckValue) { EXPECT_EQ(Crc32("123456789"), 0xCBF43926u); }

TEST(Partition, PartitionOfIsCrcOfEntitySlashIdModulo256) {
  EXPECT_EQ(PartitionOf("users", "42"), Crc32("users/42") % 256);
  EXPECT_LT(PartitionOf("orders", "x"), kPartitions);
}

}  // namespace
}  // namespace mqdb::cluster
