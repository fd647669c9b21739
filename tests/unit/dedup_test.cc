#include "plugin/dedup.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>
#include <string>

namespace mqdb {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

DedupCache::Response Text(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

// The identity's bytes are stored (dedup/{identity}): a pinned format, so a change is deliberate.
// It holds client id, username, correlation (or request_id), topic and a digest of the payload.
TEST(DedupCache, IdentitiesKeepTheirFormatAndNeverCollide) {
  const std::string d = DedupCache::PayloadDigest("{}");
  ASSERT_EQ(d.size(), 32u);
  EXPECT_EQ(DedupCache::KeyFor("client-1", "bob", "corr", std::nullopt, 1, "$DB/e/create", "{}"),
            "c8:client-13:bob4:corr12:$DB/e/create32:" + d);
  EXPECT_EQ(DedupCache::KeyFor("client-1", "", "", std::string("r-7"), 0, "$DB/e/create", "{}"),
            "r8:client-10:3:r-712:$DB/e/create32:" + d);
  EXPECT_EQ(DedupCache::KeyFor("c", "", "", std::nullopt, 2, "$DB/e/create", "{}"), "f1:c0:12:$DB/e/create32:" + d);
  EXPECT_EQ(DedupCache::KeyFor("c", "", "", std::nullopt, 1, "$DB/e/create", "{}"), std::nullopt);
  // Correlation data wins over request_id; binary bytes and long values are kept as they are.
  const std::string binary("\0\xff:", 3), long_id(300, 'x');
  EXPECT_EQ(DedupCache::KeyFor(long_id, "", binary, std::string("r"), 2, "t", "p"),
            "c300:" + long_id + "0:3:" + binary + "1:t32:" + DedupCache::PayloadDigest("p"));
  // Where the boundary between client id and correlation lies is part of the identity.
  EXPECT_NE(DedupCache::KeyFor("a:1", "", "b", std::nullopt, 1, "t", "p"), DedupCache::KeyFor("a", "", "1:b", std::nullopt, 1, "t", "p"));
}

// A retry is the same client, user, correlation, topic and payload bytes; change any one of them
// and it is a new request (PROTOCOL.md §1): reused correlation data never returns a stale answer.
TEST(DedupCache, EveryPartOfARequestIsPartOfItsIdentity) {
  const auto base = DedupCache::KeyFor("cl", "alice", "1", std::nullopt, 1, "$DB/e/create", R"({"id":"d1"})");
  EXPECT_EQ(base, DedupCache::KeyFor("cl", "alice", "1", std::nullopt, 1, "$DB/e/create", R"({"id":"d1"})"));
  EXPECT_EQ(base, DedupCache::KeyFor("cl", "alice", "1", std::nullopt, 0, "$DB/e/create", R"({"id":"d1"})")) << "QoS is transport";
  for (const auto& other : {DedupCache::KeyFor("cl2", "alice", "1", std::nullopt, 1, "$DB/e/create", R"({"id":"d1"})"),
                            DedupCache::KeyFor("cl", "mallory", "1", std::nullopt, 1, "$DB/e/create", R"({"id":"d1"})"),
                            DedupCache::KeyFor("cl", "", "1", std::nullopt, 1, "$DB/e/create", R"({"id":"d1"})"),
                            DedupCache::KeyFor("cl", "alice", "2", std::nullopt, 1, "$DB/e/create", R"({"id":"d1"})"),
                            DedupCache::KeyFor("cl", "alice", "1", std::nullopt, 1, "$DB/f/create", R"({"id":"d1"})"),
                            DedupCache::KeyFor("cl", "alice", "1", std::nullopt, 1, "$DB/e/d1", R"({"id":"d1"})"),
                            DedupCache::KeyFor("cl", "alice", "1", std::nullopt, 1, "$DB/e/create", R"({"id":"d2"})"),
                            DedupCache::KeyFor("cl", "alice", "1", std::nullopt, 1, "$DB/e/create", R"({"id":"d1"} )"),
                            DedupCache::KeyFor("cl", "alice", "", std::string("1"), 1, "$DB/e/create", R"({"id":"d1"})")}) {
    EXPECT_NE(base, other);
  }
  // Payloads that differ in one byte anywhere have different digests.
  std::string big(100000, 'x');
  const std::string d0 = DedupCache::PayloadDigest(big);
  for (size_t at : {size_t{0}, size_t{1}, size_t{50000}, big.size() - 1}) {
    std::string changed = big;
    changed[at] = 'y';
    EXPECT_NE(DedupCache::PayloadDigest(changed), d0) << at;
  }
}

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

// The ring against a model, over random identities (fingerprints with their shorter window among
// them), response sizes and clock steps: a lookup never answers with anything but the identity's
// latest response within its window, and the newest responses that together take at most half the
// ring are always there. A third of the steps wrap the ring.
TEST(DedupCache, AnswersOnlyWithTheLatestResponseAndKeepsTheNewest) {
  constexpr size_t kBytes = 4096, kEntries = 40;
  DedupCache cache(seconds(20), kEntries, kBytes);  // fingerprints: 10 s
  struct Latest {
    std::string response;
    Clock::time_point expires;
  };
  std::map<std::string, Latest> model;
  std::vector<std::pair<std::string, size_t>> order;  // (identity, record bytes), oldest first
  std::mt19937_64 rng(7);
  Clock::time_point now = Clock::now();
  auto record_bytes = [](const std::string& k, const std::string& r) { return (24 + k.size() + r.size() + 7) / 8 * 8; };
  for (int step = 0; step < 20000; ++step) {
    now += std::chrono::milliseconds(rng() % 40);
    const bool fingerprint = rng() % 5 == 0;
    const std::string key = (fingerprint ? "f" : "c") + std::to_string(rng() % 60) + ":id";
    if (rng() % 3 != 0) {
      std::string response(1 + rng() % (kBytes / 8), static_cast<char>('a' + rng() % 26));
      response += std::to_string(step);  // every response is different
      cache.Remember(key, Text(response), now);
      model[key] = {response, now + (fingerprint ? seconds(10) : seconds(20))};
      order.emplace_back(key, record_bytes(key, response));
    }
    // Whatever is answered is the latest response, within its window.
    const std::string probe = (rng() % 2 ? "f" : "c") + std::to_string(rng() % 60) + ":id";
    auto got = cache.Find(probe, now);
    if (got) {
      auto it = model.find(probe);
      ASSERT_NE(it, model.end()) << probe;
      EXPECT_EQ(*got, it->second.response) << probe << " at step " << step;
      EXPECT_GT(it->second.expires, now);
    }
    ASSERT_LE(cache.size(), kEntries);
    // The newest identities whose records fill at most half the ring are all found (unless expired).
    size_t bytes = 0, seen = 0;
    std::set<std::string> checked;
    for (auto it = order.rbegin(); it != order.rend() && seen < kEntries; ++it) {
      bytes += it->second;
      if (bytes > kBytes / 2) break;
      if (!checked.insert(it->first).second) continue;
      ++seen;
      const Latest& latest = model[it->first];
      if (latest.expires <= now) continue;
      auto r = cache.Find(it->first, now);
      ASSERT_NE(r, nullptr) << it->first << " at step " << step;
      EXPECT_EQ(*r, latest.response);
    }
  }
}

TEST(DedupCache, AResponseLargerThanTheCacheIsNotRememberedAndHidesTheOlderOne) {
  DedupCache cache(seconds(10), 10, 256);
  const Clock::time_point t0 = Clock::now();
  cache.Remember("k", Text("small"), t0);
  ASSERT_NE(cache.Find("k", t0), nullptr);
  cache.Remember("k", Text(std::string(300, 'x')), t0);
  EXPECT_EQ(cache.Find("k", t0), nullptr) << "the older response would answer for the newer request";
  EXPECT_EQ(cache.size(), 0u);
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
