#include "rate_limit.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

using shim::RateLimiter;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A synthetic clock reading; the limiter never looks at the real clock.
RateLimiter::Clock::time_point at(milliseconds since_start) {
  return RateLimiter::Clock::time_point(seconds(1000)) + since_start;
}

// Takes until refused and returns how many were allowed (at most limit).
int allowed_in_a_row(RateLimiter& limiter, const std::string& key, RateLimiter::Clock::time_point now,
                     int limit = 1000) {
  int allowed = 0;
  while (allowed < limit && limiter.take(key, now).allowed) ++allowed;
  return allowed;
}

TEST(RateLimiter, AllowsTheBurstThenRefuses) {
  RateLimiter limiter({1, 5}, 100);
  for (int i = 0; i < 5; ++i) {
    const auto decision = limiter.take("1.2.3.4", at(milliseconds(0)));
    EXPECT_TRUE(decision.allowed) << "take " << i;
  }
  const auto refused = limiter.take("1.2.3.4", at(milliseconds(0)));
  EXPECT_FALSE(refused.allowed);
  EXPECT_GE(refused.retry_after_seconds, 1);
}

TEST(RateLimiter, RefillsWithSyntheticTimeUpToTheBurst) {
  RateLimiter limiter({2, 4}, 100);
  EXPECT_EQ(allowed_in_a_row(limiter, "k", at(milliseconds(0))), 4);
  // Half a second at 2 tokens per second gives back exactly one token.
  EXPECT_EQ(allowed_in_a_row(limiter, "k", at(milliseconds(500))), 1);
  EXPECT_EQ(allowed_in_a_row(limiter, "k", at(milliseconds(1499))), 1) << "1.998 tokens is one whole token";
  // An hour later the bucket holds the burst, not 7200 tokens.
  EXPECT_EQ(allowed_in_a_row(limiter, "k", at(milliseconds(3'600'000))), 4);
}

TEST(RateLimiter, FractionalTokensAccumulateAcrossTakes) {
  RateLimiter limiter({1, 1}, 100);
  ASSERT_TRUE(limiter.take("k", at(milliseconds(0))).allowed);
  EXPECT_FALSE(limiter.take("k", at(milliseconds(250))).allowed);
  EXPECT_FALSE(limiter.take("k", at(milliseconds(500))).allowed);
  // The refusals took nothing, and their refills add up to one token.
  EXPECT_TRUE(limiter.take("k", at(milliseconds(1000))).allowed);
}

TEST(RateLimiter, RetryAfterIsTheWholeSecondsUntilATokenIsBack) {
  RateLimiter slow({0.1, 1}, 100);  // one token per ten seconds
  ASSERT_TRUE(slow.take("k", at(milliseconds(0))).allowed);
  EXPECT_EQ(slow.take("k", at(milliseconds(0))).retry_after_seconds, 10);
  EXPECT_EQ(slow.take("k", at(milliseconds(2500))).retry_after_seconds, 8) << "7.5 s rounds up";
  EXPECT_EQ(slow.take("k", at(milliseconds(9900))).retry_after_seconds, 1);

  RateLimiter fast({50, 1}, 100);
  ASSERT_TRUE(fast.take("k", at(milliseconds(0))).allowed);
  const auto decision = fast.take("k", at(milliseconds(0)));
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.retry_after_seconds, 1) << "20 ms still reads as one second";
}

TEST(RateLimiter, KeysHaveIndependentBuckets) {
  RateLimiter limiter({1, 3}, 100);
  EXPECT_EQ(allowed_in_a_row(limiter, "a", at(milliseconds(0))), 3);
  EXPECT_EQ(allowed_in_a_row(limiter, "b", at(milliseconds(0))), 3);
  EXPECT_FALSE(limiter.take("a", at(milliseconds(0))).allowed);
  EXPECT_EQ(limiter.size(), 2u);
}

TEST(RateLimiter, EvictsTheLeastRecentlyUsedKey) {
  RateLimiter limiter({1, 2}, 3);
  for (const char* key : {"a", "b", "c"}) ASSERT_EQ(allowed_in_a_row(limiter, key, at(milliseconds(0))), 2);
  // Touching a makes b the least recently used; a refusal counts as use.
  EXPECT_FALSE(limiter.take("a", at(milliseconds(0))).allowed);
  EXPECT_TRUE(limiter.take("d", at(milliseconds(0))).allowed);
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_FALSE(limiter.take("a", at(milliseconds(0))).allowed) << "a was kept, still empty";
  EXPECT_FALSE(limiter.take("c", at(milliseconds(0))).allowed) << "c was kept, still empty";
  // b was forgotten and comes back with a full bucket, evicting d (least recent now).
  EXPECT_EQ(allowed_in_a_row(limiter, "b", at(milliseconds(0))), 2);
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_EQ(allowed_in_a_row(limiter, "d", at(milliseconds(0))), 2) << "d was evicted by b";
}

TEST(RateLimiter, SizeStaysWithinMaxKeys) {
  RateLimiter limiter({1, 1}, 50);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(limiter.take("key" + std::to_string(i), at(milliseconds(i))).allowed);
    ASSERT_LE(limiter.size(), 50u);
  }
  EXPECT_EQ(limiter.size(), 50u);
  EXPECT_FALSE(limiter.take("key999", at(milliseconds(999))).allowed) << "the newest keys are kept";
}

TEST(RateLimiter, ZeroRateDisablesTheLimit) {
  RateLimiter limiter({0, 1}, 10);
  EXPECT_EQ(allowed_in_a_row(limiter, "k", at(milliseconds(0)), 10000), 10000);
  EXPECT_EQ(limiter.size(), 0u) << "nothing is stored";
}

TEST(RateLimiter, EarlierTimeNeitherDrainsNorRewindsTheBucket) {
  // Threads read the clock before the lock, so a slightly older reading can arrive after a newer one.
  RateLimiter limiter({1, 2}, 10);
  ASSERT_TRUE(limiter.take("k", at(milliseconds(10'000))).allowed);
  EXPECT_TRUE(limiter.take("k", at(milliseconds(9'000))).allowed) << "the remaining token is still there";
  // Had 9 s become the bucket's time, 1.5 tokens would be back by 10.5 s.
  EXPECT_FALSE(limiter.take("k", at(milliseconds(10'500))).allowed);
  EXPECT_TRUE(limiter.take("k", at(milliseconds(11'000))).allowed);
}

TEST(RateLimiter, ConcurrentTakesAllowExactlyTheBurst) {
  constexpr int kThreads = 8;
  constexpr int kKeys = 1000;
  constexpr int kTakesPerKey = 10;  // per thread: 80 takes in all for each key's burst of 37
  constexpr int kBurst = 37;
  RateLimiter limiter({5, kBurst}, kKeys);
  const auto now = at(milliseconds(0));
  std::atomic<bool> go{false};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();  // start together, so that takes collide
      for (int k = 0; k < kKeys; ++k) {
        const std::string key = "10.0.0." + std::to_string(k);
        for (int i = 0; i < kTakesPerKey; ++i) {
          if (limiter.take(key, now).allowed) allowed.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  go.store(true);
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), kKeys * kBurst);
  EXPECT_EQ(limiter.size(), static_cast<size_t>(kKeys));
}

}  // namespace
