#include "plugin/stats.h"

#include <gtest/gtest.h>

namespace mqdb {
namespace {

TEST(Stats, LatencyIsKeptPerRequestClassAndOverall) {
  Stats s;
  for (uint64_t us = 1; us <= 100; ++us) s.Record(RequestClass::kCreate, 0, us);
  s.Record(RequestClass::kRead, 0, 5000);
  EXPECT_EQ(s.LatencyPercentile(RequestClass::kCreate, 50), 50u);
  EXPECT_EQ(s.LatencyPercentile(RequestClass::kCreate, 99), 99u);
  EXPECT_EQ(s.LatencyPercentile(RequestClass::kRead, 50), 5000u);
  EXPECT_EQ(s.LatencyPercentile(RequestClass::kUpdate, 99), 0u);  // none recorded
  EXPECT_EQ(s.LatencyPercentile(100), 5000u);
  EXPECT_EQ(s.requests_total(), 101u);
  EXPECT_EQ(s.requests(RequestClass::kCreate), 100u);
}

TEST(Stats, TheWindowForgetsOldSamples) {
  Stats s;
  for (int i = 0; i < 4096; ++i) s.Record(RequestClass::kList, 0, 1000000);
  for (int i = 0; i < 4096; ++i) s.Record(RequestClass::kList, 0, 10);
  EXPECT_EQ(s.LatencyPercentile(RequestClass::kList, 100), 10u);
}

TEST(Stats, ErrorsAreCountedByCodeAndByFamily) {
  Stats s;
  for (int code : {400, 400, 404, 409, 413, 429, 503, 500, 418}) s.Record(RequestClass::kOther, code, 1);
  s.Record(RequestClass::kCreate, 0, 1);
  EXPECT_EQ(s.errors_with_code(400), 2u);
  EXPECT_EQ(s.errors_with_code(404), 1u);
  EXPECT_EQ(s.errors_with_code(403), 0u);
  EXPECT_EQ(s.errors_with_code(418), 0u);  // not one of the named codes, but still a 4xx
  EXPECT_EQ(s.errors_4xx(), 7u);
  EXPECT_EQ(s.errors_5xx(), 2u);
  EXPECT_EQ(s.requests_total(), 10u);
}

}  // namespace
}  // namespace mqdb
