// The floors of mqdb-bench's "vs echo" ratios (tools/echo_floor.h).
#include "tools/echo_floor.h"

#include <gtest/gtest.h>

namespace mqdb::bench {
namespace {

TEST(EchoFloor, AWorkloadIsComparedWithTheFasterOfItsNeighbouringEchoRuns) {
  // echo 100, insert, echo 80, get, echo 120: the machine slowed down, then sped up.
  const std::vector<bool> is_echo = {true, false, true, false, true};
  const std::vector<double> rates = {100, 50, 80, 60, 120};
  const std::vector<double> floors = EchoFloors(is_echo, rates);
  ASSERT_EQ(floors.size(), 5u);
  EXPECT_DOUBLE_EQ(floors[1], 100);  // max(100, 80): not the 120 at the end of the run
  EXPECT_DOUBLE_EQ(floors[3], 120);  // max(80, 120)
  // An echo run is shown against the fastest echo of the run.
  EXPECT_DOUBLE_EQ(floors[0], 120);
  EXPECT_DOUBLE_EQ(floors[2], 120);
  EXPECT_DOUBLE_EQ(floors[4], 120);
}

TEST(EchoFloor, AWorkloadWithEchoOnOneSideOnlyUsesThatOne) {
  // Two workloads in a row between echo runs: each finds the nearest echo on either side.
  EXPECT_EQ(EchoFloors({true, false, false}, {90, 1, 2}), (std::vector<double>{90, 90, 90}));
  EXPECT_EQ(EchoFloors({false, true}, {1, 70}), (std::vector<double>{70, 70}));
  EXPECT_EQ(EchoFloors({true, false, false, true}, {90, 1, 2, 95}), (std::vector<double>{95, 95, 95, 95}));
  EXPECT_EQ(EchoFloors({true, false, true, false, false, true}, {90, 1, 60, 2, 3, 50}),
            (std::vector<double>{90, 90, 90, 60, 60, 90}));
}

TEST(EchoFloor, WithoutEchoRunsThereIsNoFloor) {
  EXPECT_EQ(EchoFloors({false, false}, {10, 20}), (std::vector<double>{0, 0}));
  EXPECT_TRUE(EchoFloors({}, {}).empty());
}

}  // namespace
}  // namespace mqdb::bench
