#include "plugin/dedup.h"

#include <gtest/gtest.h>

#include <string>

namespace mqdb {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

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
