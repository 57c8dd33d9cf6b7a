#include "filters/jwt_auth/token_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace portico::jwt {
namespace {

constexpr std::int64_t now = 1'700'000'000;

std::shared_ptr<const VerifiedToken> verified(std::string subject,
                                              std::optional<std::int64_t> exp = std::nullopt) {
  auto token = std::make_shared<VerifiedToken>();
  token->subject = std::move(subject);
  token->expires_at = exp;
  return token;
}

TEST(TokenCache, FindsWhatWasInserted) {
  TokenCache cache;
  const auto token = verified("user-1", now + 600);
  EXPECT_EQ(cache.find("aaa.bbb.ccc", now), nullptr);
  cache.insert("aaa.bbb.ccc", token, now);
  EXPECT_EQ(cache.find("aaa.bbb.ccc", now), token);
  EXPECT_EQ(cache.find("aaa.bbb.ccd", now), nullptr);
  EXPECT_EQ(cache.find("aaa.bbb.cc", now), nullptr);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(TokenCache, NeverReturnsATokenAtOrPastItsExp) {
  TokenCache cache;
  cache.insert("t", verified("user-1", now + 10), now);
  EXPECT_NE(cache.find("t", now + 9), nullptr);
  EXPECT_EQ(cache.find("t", now + 10), nullptr);
  EXPECT_EQ(cache.find("t", now + 9), nullptr);  // gone, not just hidden
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCache, EndsAnEntryAtTheMaxTtl) {
  TokenCache cache;
  cache.insert("no-exp", verified("user-1"), now, std::chrono::seconds(300));
  cache.insert("long-exp", verified("user-2", now + 86400), now, std::chrono::seconds(300));
  EXPECT_NE(cache.find("no-exp", now + 299), nullptr);
  EXPECT_NE(cache.find("long-exp", now + 299), nullptr);
  EXPECT_EQ(cache.find("no-exp", now + 300), nullptr);
  EXPECT_EQ(cache.find("long-exp", now + 300), nullptr);
}

TEST(TokenCache, DoesNotKeepAnAlreadyExpiredToken) {
  TokenCache cache;
  cache.insert("t", verified("user-1", now), now);
  cache.insert("u", verified("user-2"), now, std::chrono::seconds(0));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCache, StaysWithinItsCapacity) {
  TokenCache cache(100);
  EXPECT_LE(cache.capacity(), 100u);
  for (int i = 0; i < 1000; ++i) cache.insert("token-" + std::to_string(i), verified("u"), now);
  EXPECT_LE(cache.size(), 100u);
  EXPECT_GE(cache.size(), 90u);
  EXPECT_NE(cache.find("token-999", now), nullptr);
}

TEST(TokenCache, EvictsAnEntryNotUsedSinceItsLastLookWhenFull) {
  TokenCache cache(3, 1);
  for (const char* token : {"a", "b", "c"}) cache.insert(token, verified(token), now);
  cache.find("a", now);
  cache.find("c", now);
  cache.insert("d", verified("d"), now);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.find("b", now), nullptr);
  for (const char* token : {"a", "c", "d"}) EXPECT_NE(cache.find(token, now), nullptr) << token;
}

TEST(TokenCache, EvictsEvenWhenEveryEntryWasUsed) {
  TokenCache cache(3, 1);
  for (const char* token : {"a", "b", "c"}) cache.insert(token, verified(token), now);
  for (const char* token : {"a", "b", "c"}) cache.find(token, now);
  cache.insert("d", verified("d"), now);  // one lap clears the flags, then "a" goes
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.find("a", now), nullptr);
  EXPECT_NE(cache.find("d", now), nullptr);
}

TEST(TokenCache, EvictsAnExpiredEntryEvenIfItWasUsed) {
  TokenCache cache(2, 1);
  cache.insert("fresh", verified("u", now + 500), now);
  cache.insert("short", verified("u", now + 5), now);
  cache.find("fresh", now);
  cache.find("short", now);
  cache.insert("new", verified("u", now + 500), now + 6);
  EXPECT_NE(cache.find("fresh", now + 6), nullptr);
  EXPECT_NE(cache.find("new", now + 6), nullptr);
}

TEST(TokenCache, ReplacesAnEntryInsertedAgain) {
  TokenCache cache;
  cache.insert("t", verified("old", now + 10), now);
  const auto fresh = verified("new", now + 100);
  cache.insert("t", fresh, now);
  EXPECT_EQ(cache.find("t", now + 50), fresh);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(TokenCache, CachesNothingWithZeroCapacity) {
  TokenCache cache(0);
  cache.insert("t", verified("u"), now);
  EXPECT_EQ(cache.find("t", now), nullptr);
}

TEST(TokenCache, ClearForgetsEverything) {
  TokenCache cache;
  cache.insert("t", verified("u"), now);
  cache.clear();
  EXPECT_EQ(cache.find("t", now), nullptr);
  cache.insert("t", verified("u"), now);
  EXPECT_NE(cache.find("t", now), nullptr);
}

TEST(TokenCache, ServesFourThreadsAtOnce) {
  TokenCache cache(256);
  constexpr int tokens_per_thread = 500;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 4; ++round) {
        for (int i = 0; i < tokens_per_thread; ++i) {
          // Shared tokens (every thread) and private ones; each subject names its token.
          std::string token = i % 2 ? "shared-" : std::to_string(t) + "-own-";
          token += std::to_string(i);
          if (const auto hit = cache.find(token, now + round)) {
            if (hit->subject != token) ++wrong;
          } else {
            cache.insert(token, verified(token, now + 3), now + round);
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.size(), 256u);
}

}  // namespace
}  // namespace portico::jwt
