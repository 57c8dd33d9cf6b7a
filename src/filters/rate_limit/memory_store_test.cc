#include "filters/rate_limit/memory_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace portico::filters::rate_limit {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

GcraLimit per_second(std::uint64_t count, std::uint64_t burst) {
  return GcraLimit::of(core::Rate{count, std::chrono::seconds(1)}, burst);
}

int decide_one(MemoryStore& store, std::uint64_t key, GcraLimit limit, std::int64_t now) {
  BucketCheck check{key, limit};
  GcraDecision d;
  return store.decide({&check, 1}, now, {&d, 1});
}

TEST(MemoryStore, AdmitsTheBurstThenRefusesAndRefills) {
  MemoryStore store(1000);
  GcraLimit limit = per_second(10, 3);
  std::int64_t now = 50 * kSecond;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(decide_one(store, 42, limit, now), -1);
  EXPECT_EQ(decide_one(store, 42, limit, now), 0);
  EXPECT_EQ(decide_one(store, 7, limit, now), -1) << "another key has its own bucket";
  EXPECT_EQ(decide_one(store, 42, limit, now + kSecond / 10), -1);
  EXPECT_EQ(decide_one(store, 42, limit, now + kSecond / 10), 0);
}

TEST(MemoryStore, ARefusalChargesNoOtherBucket) {
  MemoryStore store(1000);
  std::int64_t now = 50 * kSecond;
  BucketCheck checks[] = {{1, per_second(1, 5)}, {2, per_second(1, 1)}};
  GcraDecision out[2];
  EXPECT_EQ(store.decide(checks, now, out), -1);
  EXPECT_EQ(out[0].remaining, 4);
  EXPECT_EQ(store.decide(checks, now, out), 1);
  EXPECT_EQ(store.decide(checks, now, out), 1);
  // Bucket 1 was charged once, by the admitted request only.
  EXPECT_EQ(decide_one(store, 1, per_second(1, 5), now), -1);
  GcraDecision d;
  store.decide({&checks[0], 1}, now, {&d, 1});
  EXPECT_EQ(d.remaining, 2) << "three admitted of five";
}

TEST(MemoryStore, AFloodOfKeysStaysInItsTable) {
  MemoryStore store(1024);
  EXPECT_EQ(store.capacity(), 1024u);
  EXPECT_EQ(store.bytes(), 1024u * 16);
  GcraLimit limit = per_second(1, 1);
  std::int64_t now = 10 * kSecond;
  for (std::uint64_t key = 1; key <= 100'000; ++key)
    decide_one(store, key * 0x9E3779B97F4A7C15, limit, now);
  EXPECT_LE(store.live_keys(now), 1024u);
  EXPECT_GT(store.live_keys(now), 900u);
}

TEST(MemoryStore, IdleKeysAreEvictedBeforeActiveOnes) {
  MemoryStore store(8);  // one probe window: every key competes for the same eight slots
  GcraLimit slow = per_second(1, 1);
  std::int64_t now = 100 * kSecond;
  // Seven keys used long ago (buckets full again), one active key.
  for (std::uint64_t key = 1; key <= 7; ++key)
    decide_one(store, key << 8, slow, now - 50 * kSecond);
  ASSERT_EQ(decide_one(store, 99 << 8, slow, now), -1);
  for (std::uint64_t key = 1000; key < 1007; ++key) decide_one(store, key << 8, slow, now);
  EXPECT_EQ(decide_one(store, 99 << 8, slow, now), 0) << "the active key kept its bucket";
}

TEST(MemoryStore, ThreadsTogetherAdmitExactlyTheBurst) {
  MemoryStore store(1000);
  GcraLimit limit = per_second(1, 1000);
  std::int64_t now = 10 * kSecond;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        BucketCheck checks[] = {{5, limit}, {6, per_second(1, 100000)}};
        GcraDecision out[2];
        if (store.decide(checks, now, out) < 0) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1000);
  GcraDecision d;
  BucketCheck other{6, per_second(1, 100000)};
  store.decide({&other, 1}, now, {&d, 1});
  EXPECT_EQ(d.remaining, 100000 - 1000 - 1)
      << "the second bucket was charged by admitted ones only";
}

}  // namespace
}  // namespace portico::filters::rate_limit
