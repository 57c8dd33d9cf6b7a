#include "filters/cache/memory_cache_store.h"

#include <gtest/gtest.h>

namespace portico::filters::cache {
namespace {

AnswerPtr answer_of(std::size_t bytes, std::string path = "/a") {
  auto a = std::make_shared<CachedAnswer>();
  a->status = 200;
  a->body.assign(bytes, 'x');
  a->path = std::move(path);
  return a;
}

TEST(MemoryCacheStore, FindsWhatWasPut) {
  MemoryCacheStore store(1 << 20, 1 << 16);
  EXPECT_EQ(store.find("k"), nullptr);
  store.put("k", answer_of(10));
  ASSERT_NE(store.find("k"), nullptr);
  EXPECT_EQ(store.find("k")->body.size(), 10u);
  store.put("k", answer_of(20));
  EXPECT_EQ(store.find("k")->body.size(), 20u);
  EXPECT_EQ(store.entries(), 1u);
  store.erase("k");
  EXPECT_EQ(store.find("k"), nullptr);
  EXPECT_EQ(store.bytes(), 0u);
}

TEST(MemoryCacheStore, StaysWithinItsBoundEvictingTheLeastRecentlyUsed) {
  MemoryCacheStore store(64 * 1024, 64 * 1024);  // one shard: the order is exact
  for (int i = 0; i < 100; ++i) {
    std::string key = "k";
    key += std::to_string(i);
    store.put(key, answer_of(1000));
    if (i > 0) store.find("k0");  // k0 stays the most recent
    EXPECT_LE(store.bytes(), 64u * 1024);
  }
  EXPECT_NE(store.find("k0"), nullptr);
  EXPECT_EQ(store.find("k1"), nullptr);
  EXPECT_NE(store.find("k99"), nullptr);
  EXPECT_GT(store.entries(), 40u);
}

TEST(MemoryCacheStore, AnEntryLargerThanItsShardIsNotKept) {
  MemoryCacheStore store(4096, 4096);
  store.put("big", answer_of(8192));
  EXPECT_EQ(store.find("big"), nullptr);
}

TEST(MemoryCacheStore, ErasesByPredicateCountingAnswersNotMarkers) {
  MemoryCacheStore store(1 << 20, 1 << 12);
  store.put("a1", answer_of(1, "/users/1"));
  store.put("a2", answer_of(1, "/users/2"));
  store.put("b", answer_of(1, "/orders/1"));
  auto marker = std::make_shared<CachedAnswer>();
  marker->vary_marker = true;
  marker->path = "/users/3";
  store.put("m", marker);
  EXPECT_EQ(store.erase_if([](const CachedAnswer& a) { return a.path.starts_with("/users"); }), 2u);
  EXPECT_EQ(store.entries(), 1u);
  EXPECT_NE(store.find("b"), nullptr);
}

}  // namespace
}  // namespace portico::filters::cache
