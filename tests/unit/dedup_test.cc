#include "plugin/dedup.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace mqdb {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

DedupCache::Response Text(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

TEST(DedupCache, AnswersWithinTheWindowOnly) {
  DedupCache cache(seconds(10));
  const Clock::time_point t0 = Clock::now();
  cache.Remember("c2:c13:x", Text("reply"), t0);
  ASSERT_NE(cache.Find("c2:c13:x", t0 + seconds(9)), nullptr);
  EXPECT_EQ(*cache.Find("c2:c13:x", t0 + seconds(9)), "reply");
  EXPECT_EQ(cache.Find("c2:c13:y", t0), nullptr);
  EXPECT_EQ(cache.Find("c2:c13:x", t0 + seconds(10)), nullptr);
  EXPECT_EQ(cache.size(), 0u) << "expired entries are evicted";
}

// Remembering an identity again replaces its response and counts its bytes once: with room for one
// 60-byte response, remembering the same identity twice must not evict it.
TEST(DedupCache, ARememberedIdentityIsReplacedAndCountedOnce) {
  DedupCache cache(seconds(10), /*max_entries=*/10, /*max_bytes=*/100);
  const Clock::time_point t0 = Clock::now();
  cache.Remember("k1", Text(std::string(60, 'a')), t0);
  cache.Remember("k1", Text(std::string(60, 'b')), t0 + seconds(1));
  EXPECT_EQ(cache.size(), 1u);
  auto r = cache.Find("k1", t0 + seconds(1));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(*r, std::string(60, 'b'));
  EXPECT_NE(cache.Find("k1", t0 + seconds(10)), nullptr) << "the second Remember restarted the window";

  // A second identity does not fit next to the first: the older one goes.
  cache.Remember("k2", Text(std::string(60, 'c')), t0 + seconds(10));
  EXPECT_EQ(cache.Find("k1", t0 + seconds(10)), nullptr);
  EXPECT_NE(cache.Find("k2", t0 + seconds(10)), nullptr);
}

TEST(DedupCache, KeepsAtMostMaxEntriesDroppingTheOldest) {
  DedupCache cache(seconds(10), /*max_entries=*/2);
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 3; ++i) cache.Remember("k" + std::to_string(i), Text("r"), t0 + seconds(i));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find("k0", t0 + seconds(3)), nullptr);
  EXPECT_NE(cache.Find("k1", t0 + seconds(3)), nullptr);
  EXPECT_NE(cache.Find("k2", t0 + seconds(3)), nullptr);
}

// A lookup may skip storage only for identities the filter has not seen within the window: no
// identity added in the last window may ever be reported absent.
TEST(StoredResponseFilter, NeverForgetsAnIdentityWithinTheWindow) {
  StoredResponseFilter f(seconds(10), 1 << 16);
  const Clock::time_point t0 = Clock::now();
  for (int step = 0; step < 40; ++step) {  // 40 s in steps of 1 s: four rotations
    const Clock::time_point now = t0 + seconds(step);
    f.Add("id-" + std::to_string(step), now);
    for (int back = 0; back <= 10 && back <= step; ++back) {
      EXPECT_TRUE(f.MayBeStored("id-" + std::to_string(step - back), now)) << step << " " << back;
    }
  }
}

TEST(StoredResponseFilter, UnseenAndExpiredIdentitiesAreMostlyAbsent) {
  StoredResponseFilter f(seconds(10), 1 << 20);
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 10000; ++i) f.Add("c7:client" + std::to_string(i) + ":corr", t0);
  int false_positives = 0;
  for (int i = 10000; i < 20000; ++i) false_positives += f.MayBeStored("c7:client" + std::to_string(i) + ":corr", t0);
  EXPECT_LT(false_positives, 100) << "about 0.1 % expected at 100 bits per identity";
  int after = 0;
  for (int i = 0; i < 10000; ++i) after += f.MayBeStored("c7:client" + std::to_string(i) + ":corr", t0 + seconds(21));
  EXPECT_EQ(after, 0) << "two windows later both filters have been cleared";
}

TEST(StoredResponseFilter, UntilTrustedEveryLookupGoesToStorage) {
  StoredResponseFilter f(seconds(10), 1 << 16);
  const Clock::time_point t0 = Clock::now();
  f.TrustFrom(t0 + seconds(10));
  EXPECT_TRUE(f.MayBeStored("never-added", t0));
  EXPECT_TRUE(f.MayBeStored("never-added", t0 + seconds(9)));
  EXPECT_FALSE(f.MayBeStored("never-added", t0 + seconds(10)));
}

}  // namespace
}  // namespace mqdb
